"""No traceback reaches a person: every command against a data directory gone wrong.

Each command (all that take a data directory, found from the command tree)
runs through click's runner with ``$HEDGEROW_DATA_DIR`` pointing at:

* a file instead of a directory (and, for that case, with ``--data-dir`` too);
* a directory the user cannot read (tests run as root in CI, where
  permissions stop nothing: that case runs in a forked process that has
  become the user ``nobody``);
* a node on a full disk (a small tmpfs, mounted when the test may mount);
* a node whose database is damaged.

A command that needs what is broken must end with exit code 1 and one line
``error: …`` on stderr that says what is wrong. A command that does not
need it (the web password lives beside the database, not in it; a restore
mends a damaged database) may succeed; none may show a traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import traceback
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest

from node import backup_to, open_node

from .conftest import ok
from .hostile_driver import Result, run_every_command

#: Commands that may succeed although the database is damaged, and why.
WITHOUT_THE_DATABASE = {
    "setup-code": "the pages' admin state is a file of its own",
    "reset-password": "the pages' admin state is a file of its own",
    "keys export": "the key is a file of its own",
    "restore": "restoring a backup is how a damaged database is mended",
}
#: Commands that only read may still work on a full disk; these must write.
MUST_WRITE = ("record add", "record measure", "profile set", "profile publish", "peer add",
              "share publish", "init")


def assert_clean(results: list[Result], *, succeeding: set[str] | frozenset[str] = frozenset(),
                 words: tuple[str, ...] = ()) -> dict[str, Result]:
    """No tracebacks; exit 1 with one clear line, except for ``succeeding`` commands."""
    by_command = {r.command: r for r in results}
    assert len(by_command) > 40, sorted(by_command)  # every command ran
    problems = []
    for r in results:
        if r.traceback or "Traceback" in r.out + r.err:
            problems.append(f"{r.command}: traceback\n{r.traceback or r.err}")
            continue
        if r.code == 0 and r.command in succeeding:
            continue
        lines = r.err.strip().splitlines()
        if r.code != 1 or len(lines) != 1 or not lines[0].startswith("error: "):
            problems.append(f"{r.command}: exit {r.code}, stderr {r.err!r}, stdout "
                            f"{r.out[-300:]!r}")
        elif words and not any(w in lines[0].lower() for w in words):
            problems.append(f"{r.command}: {lines[0]!r} does not say {' or '.join(words)!r}")
    assert not problems, "\n".join(problems)
    return by_command


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """Where the commands' own files go, with a sound backup of a node to restore."""
    path = tmp_path / "work"
    path.mkdir()
    return path


def make_node(data_dir: Path) -> None:
    ok("init", "--data-dir", str(data_dir), "--name", "Splott Community Growers", "--area",
       "CF24", "--level", "neighbourhood", "--new-network")
    ok("record", "add", "--title", "Repair café", "--data-dir", str(data_dir))


def keep_backup(data_dir: Path, work: Path) -> None:
    _, db = open_node(data_dir)
    try:
        backup_to(db, work / "backup.db")
    finally:
        db.close()


def test_a_file_as_the_data_directory(tmp_path: Path, work: Path) -> None:
    path = tmp_path / "hedgerow-data"
    path.write_text("not a directory\n")
    for option in (False, True):
        results = run_every_command(path, work, option=option)
        found = assert_clean(results, words=("not a directory",))
        assert "there is no node" not in found["status"].err
    assert path.read_text() == "not a directory\n"


def test_a_damaged_database(tmp_path: Path, work: Path) -> None:
    data_dir = tmp_path / "node"
    make_node(data_dir)
    keep_backup(data_dir, work)
    with open(data_dir / "hedgerow.db", "r+b") as db:
        db.seek(100)
        db.write(b"\xde\xad" * 4000)  # the schema pages and beyond
    (data_dir / "hedgerow.db-wal").unlink(missing_ok=True)
    results = run_every_command(data_dir, work)
    found = assert_clean(results, succeeding=set(WITHOUT_THE_DATABASE))
    assert "damaged" in found["status"].err and "hedgerow restore" in found["status"].err
    # The restore ran last, and mended it.
    assert found["restore"].code == 0
    assert "Repair café" in ok("record", "list", "--data-dir", str(data_dir))


@contextlib.contextmanager
def small_tmpfs(where: Path, size_kib: int) -> Iterator[Path]:
    where.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0700",
                               "tmpfs", str(where)], capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a small tmpfs to fill ({exc}): needs root")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill ({done.stderr.strip()}): needs root "
                    "and permission to mount")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=10,
                       check=False)


def fill(path: Path) -> None:
    """Write to ``path`` until the file system has no room left."""
    with open(path, "wb", buffering=0) as out:
        block = b"\0" * 65536
        with contextlib.suppress(OSError):
            while True:
                out.write(block)
        with contextlib.suppress(OSError):
            while True:
                out.write(b"\0" * 512)


def test_a_full_disk(tmp_path: Path, work: Path) -> None:
    with small_tmpfs(tmp_path / "disk", 4096) as disk:
        data_dir = disk / "node"
        make_node(data_dir)
        keep_backup(data_dir, work)
        fill(disk / "filler")
        results = run_every_command(data_dir, work)
        found = assert_clean(results, succeeding={r.command for r in results
                                                  if r.command not in MUST_WRITE})
        for command in MUST_WRITE:
            assert found[command].code == 1, found[command]
        assert "full" in found["record add"].err, found["record add"].err
        # Nothing was half-done: with room again, the node is as it was.
        (disk / "filler").unlink()
        assert json.loads(ok("record", "list", "--json", "--data-dir", str(data_dir)))[0][
            "key"] == "repair-cafe"


def _as_user(uid: int, gid: int, data_dir: Path, work: Path) -> list[Result]:
    """:func:`run_every_command` in a forked child that has become ``uid``.

    A fork, not a new interpreter: the interpreter and the standard library
    may sit where that user cannot read (a Python under /root), and what
    the commands need is loaded already.
    """
    # Load every command and its error paths first (here, where the library is readable).
    blocker = work / "a-file"
    blocker.write_text("")
    run_every_command(blocker, work)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            payload = json.dumps([asdict(r) for r in run_every_command(data_dir, work)])
        except BaseException:
            code, payload = 1, traceback.format_exc()
        with contextlib.suppress(BaseException), os.fdopen(write_end, "w") as out:
            out.write(payload)
        os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as answer:
        payload = answer.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, payload
    return [Result(**r) for r in json.loads(payload)]


def test_a_data_directory_it_cannot_read(tmp_path: Path, work: Path) -> None:
    if os.geteuid() != 0:
        data_dir = tmp_path / "node"
        make_node(data_dir)
        data_dir.chmod(0)
        try:
            assert_clean(run_every_command(data_dir, work), words=("permission",))
        finally:
            data_dir.chmod(0o700)
        return
    # As root, permissions stop nothing: run the commands as `nobody`, in a process of
    # their own, against a node that root owns (its data directory is mode 0700).
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("there is no user 'nobody' to run the commands as, so permissions "
                    "cannot be tried as root")
    top = Path(tempfile.mkdtemp(prefix="hedgerow-unreadable-"))
    try:
        top.chmod(0o755)
        data_dir, their_work = top / "node", top / "work"
        make_node(data_dir)
        their_work.mkdir()
        their_work.chmod(0o777)
        results = _as_user(nobody.pw_uid, nobody.pw_gid, data_dir, their_work)
        assert_clean(results, words=("permission",))
    finally:
        shutil.rmtree(top, ignore_errors=True)
