"""How the node runs: one registry of settings drives the loader, ``--help`` and the docs.

Every setting has a default, a one-line help and an environment override
(``HEDGEROW_<NAME>``). They are read, in increasing precedence, from the
defaults here, ``hedgerow.toml`` in the data directory, and the environment;
command-line options (``hedgerow up --port``) override all three.

:data:`SETTINGS` is the registry; :class:`Config` holds loaded values;
:func:`markdown_table` renders the table the README carries (a test checks
that the README's table is current). What the organisation says about itself
(name, area, principles) is not configuration: it lives in the database and
is published in the profile entry.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final

from .errors import InvalidInput

__all__ = [
    "CONFIG_FILE_NAME",
    "DATA_DIR_ENV",
    "SETTINGS",
    "Config",
    "Setting",
    "default_data_dir",
    "load_config",
    "markdown_table",
    "update_settings_file",
]

CONFIG_FILE_NAME: Final = "hedgerow.toml"
DATA_DIR_ENV: Final = "HEDGEROW_DATA_DIR"


def _setting(default: Any, help: str, *, minimum: float | None = None,
             maximum: float | None = None, choices: tuple[str, ...] = (),
             networks: bool = False) -> Any:
    metadata = {"help": help, "minimum": minimum, "maximum": maximum, "choices": choices,
                "networks": networks}
    if isinstance(default, list):
        # Each Config gets its own list (never one shared default).
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Config:
    """Loaded configuration. Field metadata is the registry (see :data:`SETTINGS`)."""

    host: str = _setting("0.0.0.0", "Address the node listens on (0.0.0.0: every interface).")
    port: int = _setting(8470, "TCP port for sync and the web pages.", minimum=0, maximum=65535)
    public_url: str = _setting(
        "", "Address peers should use to reach this node, e.g. https://fridge.example.org "
        "(empty: the addresses it listens on).")
    reachable: bool = _setting(
        True, "Announce this node's addresses (public_url, else where it listens) in its "
        "profile so that members can reach it; off: it announces none and syncs by calling "
        "its peers.")
    peers: list[str] = _setting([], "Peer addresses to sync with, besides those learned.")
    sync_interval: int = _setting(
        300, "Longest time in seconds between anti-entropy rounds (each comes ¾ to all "
        "of it after the last).", minimum=1, maximum=86_400)
    sync_fanout: int = _setting(3, "Peers synced with in each anti-entropy round.",
                                minimum=1, maximum=20)
    push_fanout: int = _setting(3, "Peers told at once when this node publishes.",
                                minimum=0, maximum=20)
    mdns: bool = _setting(True, "Find and announce nodes on the local network by mDNS.")
    request_timeout: int = _setting(
        30, "Seconds a peer may take to send a whole request or reply.", minimum=1, maximum=600)
    rate_limit_per_peer: int = _setting(
        10, "Sync requests a second allowed from one peer (bursts up to 5x).",
        minimum=1, maximum=10_000)
    rate_limit_per_ip: int = _setting(
        20, "Requests a second allowed from one IP address (bursts up to 5x).",
        minimum=1, maximum=10_000)
    trusted_proxies: list[str] = _setting(
        [], "Addresses or networks of the reverse proxies in front of this node (e.g. "
        "127.0.0.1): only from these are X-Forwarded-For and X-Forwarded-Proto believed. "
        "Empty: none.", networks=True)
    forget_peers_after_days: int = _setting(
        30, "Forget learned peers that have not answered for this many days.",
        minimum=1, maximum=3650)
    log_level: str = _setting("info", "How much `hedgerow up` logs.",
                              choices=("debug", "info", "warning", "error"))
    backups: bool = _setting(True, "Take a checked backup every night while the node runs.")
    backup_dir: str = _setting(
        "", "Folder for the nightly backups (empty: `backups` in the data directory).")
    backup_copy_dir: str = _setting(
        "", "A second place each nightly backup is copied to, e.g. a USB stick or network "
        "share (empty: none).")
    backup_hour: int = _setting(3, "Hour of the night (0-23, local time) for the backup.",
                                minimum=0, maximum=23)
    backup_keep_daily: int = _setting(7, "Daily backups kept.", minimum=1, maximum=365)
    backup_keep_weekly: int = _setting(4, "Weekly backups kept, besides the daily ones.",
                                       minimum=0, maximum=520)
    metrics: bool = _setting(
        False, "Serve Prometheus metrics at /metrics (to an API token or the admin login).")


@dataclass(frozen=True)
class Setting:
    name: str
    type: type
    default: Any
    help: str
    env: str
    minimum: float | None
    maximum: float | None
    choices: tuple[str, ...]
    #: A list of IP addresses or networks (checked when loaded).
    networks: bool = False


def _registry() -> tuple[Setting, ...]:
    defaults = Config()
    out = []
    for f in fields(Config):
        value = getattr(defaults, f.name)
        out.append(Setting(
            f.name, type(value), value, f.metadata["help"], f"HEDGEROW_{f.name.upper()}",
            f.metadata["minimum"], f.metadata["maximum"], f.metadata["choices"],
            f.metadata["networks"]))
    return tuple(out)


#: The registry of every setting, in the order the docs list them.
SETTINGS: Final = _registry()


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$HEDGEROW_DATA_DIR``, else the platform's user data directory."""
    env = os.environ if environ is None else environ
    if env.get(DATA_DIR_ENV):
        return Path(env[DATA_DIR_ENV]).expanduser()
    import platformdirs  # here: a node given its data directory never needs it

    return Path(platformdirs.user_data_dir("hedgerow", appauthor=False))


def _coerce(setting: Setting, raw: Any, source: str) -> Any:
    where = f"{setting.name} ({source})"
    value = raw
    if isinstance(raw, str) and setting.type is not str:
        text = raw.strip()
        if setting.type is bool:
            if text.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise InvalidInput(f"{where}: must be true or false")
            value = text.lower() in ("1", "true", "yes", "on")
        elif setting.type is int:
            try:
                value = int(text)
            except ValueError:
                raise InvalidInput(f"{where}: must be a whole number") from None
        elif setting.type is list:
            value = [part.strip() for part in text.split(",") if part.strip()]
    if setting.type is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise InvalidInput(f"{where}: must be a whole number")
    if setting.type is bool and not isinstance(value, bool):
        raise InvalidInput(f"{where}: must be true or false")
    if setting.type is str and not isinstance(value, str):
        raise InvalidInput(f"{where}: must be text")
    if setting.type is list and (not isinstance(value, list)
                                 or not all(isinstance(v, str) for v in value)):
        raise InvalidInput(f"{where}: must be a list of text")
    if setting.minimum is not None and value < setting.minimum:
        raise InvalidInput(f"{where}: must be at least {setting.minimum:g}")
    if setting.maximum is not None and value > setting.maximum:
        raise InvalidInput(f"{where}: must be at most {setting.maximum:g}")
    if setting.choices and value not in setting.choices:
        raise InvalidInput(f"{where}: must be one of {', '.join(setting.choices)}")
    if setting.networks:
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise InvalidInput(f"{where}: {entry[:60]!r} is not an IP address or network "
                                   "(for example 127.0.0.1 or 10.0.0.0/8)") from None
    return value


def load_config(data_dir: Path, environ: Mapping[str, str] | None = None,
                overrides: Mapping[str, Any] | None = None) -> Config:
    """Defaults, then ``hedgerow.toml``, then ``HEDGEROW_*``, then ``overrides``.

    Raises :class:`InvalidInput` naming the setting and where it came from.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    by_name = {s.name: s for s in SETTINGS}
    path = data_dir / CONFIG_FILE_NAME
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"{path}: not valid TOML ({exc})") from exc
        except OSError as exc:
            raise InvalidInput(f"{path}: cannot be read ({exc.strerror})") from exc
        for name, raw in data.items():
            if name not in by_name:
                raise InvalidInput(f"{path}: unknown setting {name!r}; "
                                   "see the configuration table in the README")
            values[name] = _coerce(by_name[name], raw, CONFIG_FILE_NAME)
    for setting in SETTINGS:
        if setting.env in env:
            values[setting.name] = _coerce(setting, env[setting.env], setting.env)
    for name, raw in (overrides or {}).items():
        if raw is not None:
            values[name] = _coerce(by_name[name], raw, "command line")
    return Config(**values)


def markdown_table() -> str:
    """The configuration table for the docs."""
    lines = ["| setting | environment | default | what it does |", "| --- | --- | --- | --- |"]
    for s in SETTINGS:
        default = ("true" if s.default else "false") if s.type is bool else (
            "[]" if s.type is list else (f"{s.default}" if s.default != "" else '""'))
        lines.append(f"| `{s.name}` | `{s.env}` | `{default}` | {s.help} |")
    return "\n".join(lines)


def update_settings_file(data_dir: Path, changes: Mapping[str, Any]) -> Config:
    """Change settings in ``hedgerow.toml`` (for the API and the pages); the new values.

    Each value is checked as the loader checks it; nothing is written if one
    is wrong. Other lines, comments included, stay as they are; a changed
    setting's old line goes and ``name = value`` is added at the end. The
    node uses the new values when it next starts.
    """
    import re
    import secrets

    from .home import toml_value  # node.home imports this module

    by_name = {s.name: s for s in SETTINGS}
    checked: dict[str, Any] = {}
    for name, raw in changes.items():
        if name not in by_name:
            raise InvalidInput(f"{str(name)[:40]}: not a setting; see the configuration table "
                               "in the README", field=str(name)[:40])
        checked[name] = _coerce(by_name[name], raw, "the change asked for")
    path = Path(data_dir) / CONFIG_FILE_NAME
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    current = tomllib.loads(text) if text else {}
    lines = [line for line in text.splitlines()
             if not any(re.match(rf"\s*{re.escape(name)}\s*=", line) for name in checked)]
    lines += [f"{name} = {toml_value(value)}" for name, value in checked.items()]
    new_text = "\n".join(lines) + "\n"
    try:
        parsed = tomllib.loads(new_text)
    except tomllib.TOMLDecodeError:
        parsed = None
    if parsed != {**current, **checked}:
        raise InvalidInput(f"{path} is laid out in a way this cannot change safely (a value "
                           "over several lines?); edit it by hand", field="settings")
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(new_text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return load_config(Path(data_dir), environ={})
