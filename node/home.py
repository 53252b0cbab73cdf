"""A node's home: creating it, its configuration file, who runs in it, and how it is doing.

* :func:`create_home` is ``hedgerow init``: the key and the database
  (:func:`node.init_node`), a ``hedgerow.toml`` listing every setting with
  its default (commented out; written only if there is none), what the
  organisation says about itself, and — when joining with an invitation —
  the inviter as the first peer. If any step fails, what it created is
  removed again, so a failed ``init`` can simply be run again.
* :func:`run_lock` marks a data directory as in use by a running node
  (``hedgerow up``, the demo), so that a second node, or an offline
  restore, on the same directory is refused with a clear message
  (:class:`NodeRunning`); :func:`running_pid` asks without taking it.
* :func:`node_status` gathers what ``hedgerow status`` shows;
  :func:`ideas_travelled` is where the group's ideas travelled (who adapted
  or credited its practices), with the links new since the place showing
  them last did so marked ``new`` (``hedgerow status`` and the home page
  each remember their own).
"""

from __future__ import annotations

import contextlib
import json
import os
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from protocol import Invitation, format_invitation, id_to_text

from .backups import BackupHealth, backup_health
from .errors import InvalidInput, LocalProblem, NotFound
from .settings import CONFIG_FILE_NAME, SETTINGS, Config, Setting, load_config
from .store import blocklist, ideas_seen, membership, organisation
from .store.catch_up import CatchUpState, read_catch_up
from .store.datadir import DATABASE_FILE, KEY_FILE, init_node, open_node
from .store.node_state import CATCH_UP_PEERS, read_node_state
from .store.store import Store
from .sync import peerbook

if TYPE_CHECKING:
    import sqlite_utils

try:  # POSIX; elsewhere a data directory is simply not locked.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "LOCK_FILE",
    "ForkStatus",
    "Home",
    "NodeRunning",
    "NodeStatus",
    "PeerStatus",
    "config_template",
    "create_home",
    "create_if_empty",
    "ideas_travelled",
    "node_status",
    "run_lock",
    "running_pid",
    "toml_value",
    "write_config_template",
]

LOCK_FILE: Final = "node.lock"


class NodeRunning(LocalProblem):
    """A node is already running on this data directory."""

    code = "node_running"


# --- the configuration file ------------------------------------------------------------

def toml_value(value: Any) -> str:
    """``value`` (text, whole number, true/false, list of text) written as TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if "\n" in value and "'''" not in value and all(
                c in "\n\t" or c >= " " for c in value) and "\x7f" not in value:
            # A literal multi-line string: what a person wrote, unescaped.
            return "'''\n" + value + ("'''" if value.endswith("\n") else "\n'''")
        # A JSON string is a TOML basic string, except that TOML wants DEL escaped.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _setting_lines(setting: Setting) -> list[str]:
    text = setting.help + (f" One of: {', '.join(setting.choices)}." if setting.choices else "")
    return [*(f"# {line}" for line in textwrap.wrap(text, 76)),
            f"# Environment: {setting.env}",
            f"# {setting.name} = {toml_value(setting.default)}"]


def config_template() -> str:
    """The text of a new ``hedgerow.toml``: every setting, commented out, at its default."""
    lines = ["# Hedgerow node configuration.",
             "# Every setting is optional: the values shown are the defaults. Remove the '#'",
             "# in front of a setting to change it. Environment variables (HEDGEROW_<NAME>)",
             "# override this file, and command-line options override both.", ""]
    for setting in SETTINGS:
        lines += [*_setting_lines(setting), ""]
    return "\n".join(lines)


def write_config_template(data_dir: Path) -> bool:
    """Write ``hedgerow.toml`` in ``data_dir`` unless one exists; True if written."""
    path = Path(data_dir) / CONFIG_FILE_NAME
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(config_template())
    return True


# --- creating a node -------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Home:
    """What :func:`create_home` made."""

    data_dir: Path
    node_id: bytes
    network: bytes
    config_written: bool
    first_peer: str | None


def _organisation_changes(name: str, area: str, level: str | None) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if name:
        changes["name"] = name
    if area:
        changes["area"] = area
    if level:
        changes["level"] = level
    return changes


def create_home(data_dir: Path, *, invitation: Invitation | None, code: str = "",
                nonce: bytes | None = None, seed: bytes, now_ms: int, name: str = "",
                area: str = "", level: str | None = None) -> Home:
    """Create a node in ``data_dir``: found a new network, or join one by invitation.

    ``nonce`` (16 random bytes) founds a new network: the node signs its
    genesis entry and is its first member. ``invitation`` (with its ``code``
    as typed) makes a node of the invitation's network, which joins in its
    first session with the inviter (node/sync/gossip.py). ``seed`` is the new
    key's seed (``os.urandom(32)``). Nothing else is published: the
    organisation's details are stored for its profile, which the group
    publishes when it is ready (``hedgerow profile publish``).
    """
    if (invitation is None) == (nonce is None):
        raise InvalidInput("either start a new network or join one with an invitation code",
                           field="network")
    if invitation is not None and invitation.expired(now_ms // 1000):
        raise InvalidInput("that invitation has expired; ask the group that gave it to you for "
                           "a new one", field="invitation")
    data_dir = Path(data_dir)
    created_dir = not data_dir.exists()
    # Refusals by init_node (a node is there already) leave everything as it
    # was; only what init_node made is removed on a failure.
    key = init_node(data_dir, seed=seed, now_ms=now_ms, nonce=nonce,
                    network=invitation.network if invitation is not None else None)
    config_written = False
    try:
        config_written = write_config_template(data_dir)
        _, db = open_node(data_dir)
        try:
            changes = _organisation_changes(name, area, level)
            if changes:
                organisation.update_organisation(db, changes, now_ms=now_ms)
            first_peer = None
            if invitation is not None:
                if invitation.inviter == key.public:
                    raise InvalidInput("that invitation was made by this very node",
                                       field="invitation")
                row, _ = peerbook.add_peer(db, invitation.address, source="invitation",
                                           now_ms=now_ms, node_id=invitation.inviter)
                first_peer = row.address
                membership.record_joining(db, code=code or format_invitation(invitation),
                                          inviter=invitation.inviter, address=row.address,
                                          now_ms=now_ms)
            network = read_node_state(db).network
        finally:
            db.close()
    except BaseException:
        _remove_partial_home(data_dir, created_dir=created_dir, config_written=config_written)
        raise
    return Home(data_dir, key.public, network, config_written, first_peer)


def create_if_empty(data_dir: Path, *, now_ms: int) -> bool:
    """``hedgerow up --create``: a node in ``data_dir`` if it holds none; True if created.

    The node founds a new network (it signs its genesis); on the first-run page the group
    may instead join another network with an invitation, or restore a backup.
    A directory that holds only part of a node (a key without its database)
    is left alone: ``up`` then says what is missing.
    """
    data_dir = Path(data_dir)
    if (data_dir / KEY_FILE).exists() or (data_dir / DATABASE_FILE).exists():
        return False
    if data_dir.exists() and not data_dir.is_dir():
        raise LocalProblem(f"{data_dir} is a file, not a data directory")
    create_home(data_dir, invitation=None, nonce=os.urandom(16), seed=os.urandom(32),
                now_ms=now_ms)
    return True


def _remove_partial_home(data_dir: Path, *, created_dir: bool, config_written: bool) -> None:
    names = [KEY_FILE, DATABASE_FILE, f"{DATABASE_FILE}-wal", f"{DATABASE_FILE}-shm"]
    if config_written:
        names.append(CONFIG_FILE_NAME)
    for name in names:
        (data_dir / name).unlink(missing_ok=True)
    if created_dir:
        with contextlib.suppress(OSError):
            data_dir.rmdir()


# --- one running node per data directory -----------------------------------------------

@contextlib.contextmanager
def run_lock(data_dir: Path) -> Iterator[None]:
    """Hold ``data_dir`` as the home of a running node; :class:`NodeRunning` if taken."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    path = Path(data_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except FileNotFoundError:
        raise LocalProblem(f"there is no data directory {data_dir}; create a node there "
                           "first with `hedgerow init`") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        pid = running_pid(data_dir)
        raise NodeRunning(f"a node is already running on {data_dir}"
                          f"{f' (process {pid})' if pid else ''}; stop it first") from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        yield
    finally:
        os.close(fd)  # releases the lock


def running_pid(data_dir: Path) -> int | None:
    """The process id of the node running on ``data_dir`` (0 if unknown), or None."""
    if fcntl is None:  # pragma: no cover
        return None
    path = Path(data_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode("ascii", "replace").strip()
            return int(text) if text.isdigit() else 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


# --- status ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PeerStatus:
    address: str
    node_id: str | None
    source: str
    last_sync_ms: int | None
    last_outcome: str
    last_error: str
    failures: int
    next_attempt_ms: int
    entries_in: int
    entries_out: int


@dataclass(frozen=True, slots=True)
class ForkStatus:
    author: str
    version: int
    detected_ms: int
    resolved_ms: int | None
    own: bool
    #: For this node's own unresolved forks: what to publish again, as
    #: (kind, key) — a newer version of each slot resolves the fork.
    slots: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class MembershipStatus:
    member: bool
    members: int
    admitted_by: str | None
    joining: str  # "" once a member; else what happened on the way in
    pending_entries: int


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """What ``hedgerow status`` shows; :meth:`to_json` for ``--json``."""

    data_dir: str
    node_id: str
    network: str
    name: str
    level: str | None
    area: str
    running_pid: int | None
    practices: int
    entries: Mapping[str, int]
    own_entries: Mapping[str, int]
    authors: int
    peers: tuple[PeerStatus, ...]
    blocked: int
    forks: tuple[ForkStatus, ...]
    needs_catch_up: bool
    #: How catch-up after a restore stands, or how it ended ("" if never restored).
    catch_up: str
    membership: MembershipStatus
    #: The nightly backups (:class:`node.backups.BackupHealth` as JSON).
    backups: Mapping[str, Any]
    #: The last or current catch-up with the network (a node far behind its peers:
    #: :class:`node.store.catch_up.CatchUpState` as JSON, with ``active``: whether a
    #: running node is catching up now), or None.
    network_catch_up: Mapping[str, Any] | None = None
    #: Where the group's ideas travelled (:func:`ideas_travelled`), when asked for.
    ideas_travelled: tuple[dict[str, Any], ...] = ()

    @property
    def short_id(self) -> str:
        return self.node_id[:7]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["short_id"] = self.short_id
        data["entries"], data["own_entries"] = dict(self.entries), dict(self.own_entries)
        data["ideas_travelled"] = list(self.ideas_travelled)
        return data


def _entry_counts(db: sqlite_utils.Database) -> tuple[dict[str, int], dict[str, int], int]:
    everyone: dict[str, int] = {}
    own: dict[str, int] = {}
    rows = db.conn.execute(
        "SELECT kind, author = (SELECT node_id FROM node_state), count(*) FROM entries "
        "GROUP BY kind, author = (SELECT node_id FROM node_state)")
    for kind, mine, count in rows:
        everyone[kind] = everyone.get(kind, 0) + count
        if mine:
            own[kind] = count
    authors = db.conn.execute("SELECT count(DISTINCT author) FROM entries").fetchone()[0]
    return everyone, own, int(authors)


async def ideas_travelled(store: Store, viewer: str, *,
                          remember: bool = True) -> list[dict[str, Any]]:
    """Where this node's ideas travelled, each group marked ``new`` unless ``viewer`` showed it.

    The ``practices`` of the travelled view (node/views/travelled.py); then,
    with ``remember``, ``viewer`` (one of :data:`node.store.ideas_seen.VIEWERS`)
    remembers that it has shown exactly these (a person looked; a script
    reading ``--json`` does not take the highlights away).
    """
    # Here, not at the top: `hedgerow up` imports this module, and a running
    # node loads the views' code only when a view is asked for.
    from .views import run_view
    from .views.travelled import link_name

    try:
        result = await run_view(store, "travelled", {})
    except NotFound:  # this node has no entries yet
        return []
    seen = await store.db.read(ideas_seen.seen_links, viewer)
    names = []
    for practice in result["practices"]:
        for group in practice["groups"]:
            name = link_name(practice["key"], group)
            group["new"] = name not in seen
            names.append(name)
    if remember:
        await store.db.write(ideas_seen.mark_seen, viewer, names, now_ms=store.now_ms())
    practices: list[dict[str, Any]] = result["practices"]
    return practices


async def node_status(store: Store, *, ideas_viewer: str | None = None,
                      remember_ideas: bool = True) -> NodeStatus:
    """Gather the node's identity, counts, peers, forks and catch-up state.

    With ``ideas_viewer``, also where the group's ideas travelled, as that
    place shows them (:func:`ideas_travelled`; ``remember_ideas``: that it did).
    """
    state = await store.state()
    org = await store.get_organisation()
    entries, own, authors = await store.db.read(_entry_counts)
    peers = await store.db.read(peerbook.list_peers)
    blocked = await store.db.read(blocklist.blocked_nodes)
    forks = await store.forks()
    practices = await store.list_practices()
    members = await store.members()
    me = next((m for m in members if m.node == state.node_id), None)
    joining = await store.joining()
    if me is not None:
        joining_text = ""
    elif joining is not None and joining.joined_ms is None:
        joining_text = (f"joining through {joining.address}: "
                        + (joining.last_error or "it joins on its first sync with that node"))
    else:
        joining_text = ("not a member of its network: a member can admit it with "
                        f"`hedgerow admit {id_to_text(state.node_id)}`")
    pending = await store.db.read(lambda db: int(db.conn.execute(
        "SELECT count(*) FROM pending_entries").fetchone()[0]))
    if state.needs_catch_up:
        progress = await store.catch_up_progress()
        known = await store.db.read(peerbook.peers_known)
        needed = max(1, min(CATCH_UP_PEERS, known))
        catch_up = (f"completed sessions with {progress.peers} of the {needed} distinct "
                    "peers needed (or one that holds this node's own entries)")
    else:
        catch_up = f"caught up after the restore: {state.caught_up_why}" \
            if state.caught_up_why else ""
    return NodeStatus(
        data_dir=str(store.data_dir),
        node_id=id_to_text(state.node_id),
        network=id_to_text(state.network, "network"),
        name=org.name, level=org.level, area=org.area,
        running_pid=running_pid(store.data_dir),
        practices=len(practices), entries=entries, own_entries=own, authors=authors,
        peers=tuple(PeerStatus(
            p.address, id_to_text(p.node_id) if p.node_id else None, p.source,
            p.last_sync_ms, p.last_outcome, p.last_error, p.health.failures,
            p.health.next_attempt_ms, p.entries_in, p.entries_out) for p in peers),
        blocked=len(blocked),
        forks=tuple(ForkStatus(id_to_text(f.author), f.version, f.detected_ms, f.resolved_ms,
                               f.author == state.node_id, f.slots) for f in forks),
        needs_catch_up=state.needs_catch_up, catch_up=catch_up,
        membership=MembershipStatus(
            member=me is not None, members=len(members),
            admitted_by=id_to_text(me.admitted_by) if me and me.admitted_by else None,
            joining=joining_text, pending_entries=pending),
        backups=_backup_health(store, state.created_ms).to_json(),
        network_catch_up=_catch_up_json(await store.db.read(read_catch_up),
                                        running_pid(store.data_dir)),
        ideas_travelled=tuple(await ideas_travelled(store, ideas_viewer,
                                                    remember=remember_ideas))
        if ideas_viewer is not None else (),
    )


def _catch_up_json(state: CatchUpState | None, pid: int | None) -> dict[str, Any] | None:
    if state is None:
        return None
    # A catch-up the node stopped in the middle of goes on when it runs again.
    return {**state.to_json(), "active": state.catching_up and pid is not None}


def _backup_health(store: Store, created_ms: int) -> BackupHealth:
    try:
        config = load_config(store.data_dir)
    except InvalidInput:
        config = Config()  # a broken settings file is `up`'s to report, not status's
    return backup_health(store.data_dir, config, now_ms=store.now_ms(), created_ms=created_ms)

