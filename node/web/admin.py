"""The admin state of a node's pages: password hash, one-time setup code, public pages.

It lives in ``admin.json`` in the data directory (mode 0600), not in the
database: the CLI changes it while the node runs (``hedgerow
reset-password``) and the first-run pages need it before any database
exists. Every change is a read-modify-write under an exclusive ``flock`` on
``admin.json.lock``, written to a temporary file, synced and renamed over
the old one, so a reader never sees half a file and two writers never lose
each other's change. A running node re-reads the file when its identity
(inode, size, mtime) changes, so a reset from the CLI takes effect at once.

Rules:

* **No password yet** — the node is *unclaimed*. A setup code exists
  (:func:`ensure_setup_code` makes one), shown by ``hedgerow setup-code``
  and printed by ``hedgerow up``; whoever types it on the setup page sets the
  password. The code is valid until a password is set, and is then erased.
* **Password set** — the node is *claimed*. The hash is scrypt
  (``n=2**14, r=8, p=1``, a random 16-byte salt, 32-byte key), compared in
  constant time.
* **Reset** (:func:`reset_password`, for ``hedgerow reset-password`` on the
  machine itself) erases the hash, makes a new setup code and increments
  ``epoch``: every session created under an older epoch is void, so
  everybody is logged out.
* **Public pages** — the read-only page groups the group chose to show
  without login (:data:`PUBLIC_PAGE_GROUPS`); none by default.
* **API tokens** — made by the admin on the Settings page for other
  programs (``Authorization: Bearer hrt_…``), each scoped ``read`` (GET
  only) or ``write`` (everything the API does), each revocable. Only a
  SHA-256 hash of a token's secret is kept; the token itself is shown once.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ..errors import InvalidInput, LocalProblem, NotFound
from ..store.datadir import ADMIN_FILE

try:  # POSIX; elsewhere writes are only atomic, not serialised.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "ADMIN_FILE",
    "API_TOKEN_SCOPES",
    "MAX_PASSWORD",
    "MIN_PASSWORD",
    "PUBLIC_PAGE_GROUPS",
    "AdminFile",
    "AdminState",
    "ApiToken",
    "PasswordHash",
    "check_new_password",
    "ensure_setup_code",
    "hash_password",
    "reset_password",
    "setup_code_to_show",
    "verify_password",
]

_FORMAT: Final = 1
MIN_PASSWORD: Final = 10
MAX_PASSWORD: Final = 1024
#: scrypt parameters (cryptography's Scrypt): about 16 MiB and 50 ms per check.
SCRYPT_N: Final = 2**14
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
_SALT_BYTES: Final = 16
_KEY_BYTES: Final = 32
_CODE_ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
_CODE_GROUPS: Final = 3
_MAX_FILE_BYTES: Final = 64 * 1024

#: Read-only page groups a node may show without login, and what each shows.
PUBLIC_PAGE_GROUPS: Final[dict[str, str]] = {
    "network": "Network views: the directory, themes, levels, areas, spread and lineage, "
               "health",
    "api": "The same network views as JSON (/api/v1/…), for other programs",
    "peers": "The status of this node's peers (addresses and last syncs)",
}


@dataclass(frozen=True, slots=True)
class PasswordHash:
    salt: bytes
    key: bytes
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P


#: What an API token may do: ``read`` (GET), ``write`` (everything the API does).
API_TOKEN_SCOPES: Final = ("read", "write")
_TOKEN_PREFIX: Final = "hrt_"
MAX_API_TOKENS: Final = 50


@dataclass(frozen=True, slots=True)
class ApiToken:
    """An API token as kept: its public id, name, scope and the hash of its secret."""

    id: str
    name: str
    scope: str
    secret_hash: bytes
    created_ms: int

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "scope": self.scope,
                "created_ms": self.created_ms}


def _token_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


@dataclass(frozen=True, slots=True)
class AdminState:
    """What ``admin.json`` holds."""

    password: PasswordHash | None = None
    setup_code: str | None = None
    public_pages: frozenset[str] = field(default_factory=frozenset)
    epoch: int = 0
    api_tokens: tuple[ApiToken, ...] = ()

    @property
    def claimed(self) -> bool:
        return self.password is not None

    def token_for(self, presented: str) -> ApiToken | None:
        """The token ``presented`` (``hrt_<id>_<secret>``) is, or None (constant-time)."""
        if not presented.startswith(_TOKEN_PREFIX) or len(presented) > 200:
            return None
        token_id, _, secret = presented[len(_TOKEN_PREFIX):].partition("_")
        for token in self.api_tokens:
            if hmac.compare_digest(token.id.encode(), token_id.encode()):
                if hmac.compare_digest(token.secret_hash, _token_hash(secret)):
                    return token
                return None
        return None


# --- passwords and setup codes ---------------------------------------------------------

def check_new_password(password: str, repeated: str | None = None) -> str:
    """A new password's rules: 10 to 1024 characters, typed the same twice."""
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password: at least {MIN_PASSWORD} characters, please (a few "
                           "words make a good one)", field="password", code="too_short")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"password: at most {MAX_PASSWORD} characters", field="password",
                           code="too_long")
    if repeated is not None and not hmac.compare_digest(password.encode(), repeated.encode()):
        raise InvalidInput("password: the two passwords are not the same",
                           field="password_again", code="mismatch")
    return password


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=_KEY_BYTES, n=n, r=r, p=p).derive(password.encode())


def hash_password(password: str) -> PasswordHash:
    salt = secrets.token_bytes(_SALT_BYTES)
    return PasswordHash(salt, _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P))


def verify_password(stored: PasswordHash | None, password: str) -> bool:
    """True if ``password`` matches (constant-time compare); False when there is none."""
    if stored is None or len(password) > MAX_PASSWORD:
        return False
    candidate = _scrypt(password, stored.salt, stored.n, stored.r, stored.p)
    return hmac.compare_digest(candidate, stored.key)


def new_setup_code() -> str:
    """Twelve Crockford base32 characters in groups of four (60 bits): ``7K2M-QX9D-R4TB``."""
    chars = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(4 * _CODE_GROUPS))
    return "-".join(chars[i:i + 4] for i in range(0, len(chars), 4))


def normalise_setup_code(text: str) -> str:
    """What a person typed, as a code: upper-case, no spaces, I/L read as 1, O as 0."""
    cleaned = "".join(c for c in text.upper() if c.isalnum())[:4 * _CODE_GROUPS + 4]
    cleaned = cleaned.translate(str.maketrans("ILO", "110"))
    return "-".join(cleaned[i:i + 4] for i in range(0, len(cleaned), 4))


def setup_code_matches(state: AdminState, typed: str) -> bool:
    if state.setup_code is None:
        return False
    return hmac.compare_digest(normalise_setup_code(typed).encode(),
                               state.setup_code.encode())


# --- the file --------------------------------------------------------------------------

def _encode(state: AdminState) -> bytes:
    password = None if state.password is None else {
        "scheme": "scrypt", "salt": state.password.salt.hex(), "key": state.password.key.hex(),
        "n": state.password.n, "r": state.password.r, "p": state.password.p}
    data = {"format": _FORMAT, "password": password, "setup_code": state.setup_code,
            "public_pages": sorted(state.public_pages), "epoch": state.epoch,
            "api_tokens": [{"id": t.id, "name": t.name, "scope": t.scope,
                            "sha256": t.secret_hash.hex(), "created_ms": t.created_ms}
                           for t in state.api_tokens]}
    return (json.dumps(data, indent=2) + "\n").encode("utf-8")


def _decode(raw: bytes, path: Path) -> AdminState:
    damaged = LocalProblem(f"{path} is damaged; run `hedgerow reset-password` to start it "
                           "again (the node's records are not affected)")
    try:
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise damaged
        stored = data.get("password")
        password = None
        if stored is not None:
            password = PasswordHash(bytes.fromhex(stored["salt"]), bytes.fromhex(stored["key"]),
                                    int(stored["n"]), int(stored["r"]), int(stored["p"]))
        code = data.get("setup_code")
        pages = data.get("public_pages", [])
        if (code is not None and not isinstance(code, str)) or not isinstance(pages, list):
            raise damaged
        tokens = tuple(
            ApiToken(str(t["id"]), str(t["name"]), str(t["scope"]), bytes.fromhex(t["sha256"]),
                     int(t["created_ms"]))
            for t in data.get("api_tokens", []) if t.get("scope") in API_TOKEN_SCOPES)
        return AdminState(password, code,
                          frozenset(p for p in pages if p in PUBLIC_PAGE_GROUPS),
                          int(data.get("epoch", 0)), tokens)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise damaged from None


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class AdminFile:
    """``admin.json`` of one data directory: cached reads, locked atomic updates."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / ADMIN_FILE
        self._cached: tuple[tuple[int, int, int] | None, AdminState] | None = None

    def _identity(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def read(self) -> AdminState:
        """The current state (re-read only when the file changed)."""
        identity = self._identity()
        if self._cached is not None and self._cached[0] == identity:
            return self._cached[1]
        if identity is None:
            state = AdminState()
        else:
            with open(self.path, "rb") as handle:
                raw = handle.read(_MAX_FILE_BYTES + 1)
            if len(raw) > _MAX_FILE_BYTES:
                raise LocalProblem(f"{self.path} is far too large to be the admin state")
            state = _decode(raw, self.path)
        self._cached = (identity, state)
        return state

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if not self.data_dir.is_dir():
            raise LocalProblem(f"there is no data directory {self.data_dir}")
        if fcntl is None:  # pragma: no cover
            yield
            return
        fd = os.open(self.data_dir / (ADMIN_FILE + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def update(self, change: Callable[[AdminState], AdminState]) -> AdminState:
        """Apply ``change`` to the current state and write the result atomically."""
        with self._locked():
            self._cached = None
            current = self.read()
            new = change(current)
            if new == current and self.path.exists():
                return current
            temporary = self.path.with_name(f".{ADMIN_FILE}.{secrets.token_hex(4)}.tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(_encode(new))
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temporary, self.path)
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise
            _fsync_dir(self.data_dir)
            self._cached = None
            return self.read()

    # --- the changes the pages and the CLI make ------------------------------------

    def ensure_setup_code(self) -> AdminState:
        """An unclaimed node gets a setup code if it has none; a claimed one is unchanged."""
        def change(state: AdminState) -> AdminState:
            if state.claimed or state.setup_code is not None:
                return state
            return replace(state, setup_code=new_setup_code())
        return self.update(change)

    def set_password(self, password_hash: PasswordHash) -> AdminState:
        """Set (or change) the password; the setup code is spent."""
        return self.update(lambda state: replace(state, password=password_hash,
                                                 setup_code=None))

    def change_password(self, password_hash: PasswordHash) -> AdminState:
        """A new password for a claimed node: every other session is voided."""
        return self.update(lambda state: replace(state, password=password_hash,
                                                 setup_code=None, epoch=state.epoch + 1))

    def reset_password(self) -> AdminState:
        """Erase the password, make a new setup code, and void every session."""
        return self.update(lambda state: replace(state, password=None,
                                                 setup_code=new_setup_code(),
                                                 epoch=state.epoch + 1))

    def create_api_token(self, name: str, scope: str, *, now_ms: int) -> tuple[ApiToken, str]:
        """A new API token: what is kept, and the token text (shown once, never again)."""
        name = " ".join(name.split())
        if not name or len(name) > 80:
            raise InvalidInput("name: give the token a name of up to 80 characters (what "
                               "uses it)", field="name")
        if scope not in API_TOKEN_SCOPES:
            raise InvalidInput(f"scope: one of {', '.join(API_TOKEN_SCOPES)}", field="scope")
        token_id, secret = secrets.token_hex(4), secrets.token_urlsafe(32)
        token = ApiToken(token_id, name, scope, _token_hash(secret), now_ms)

        def change(state: AdminState) -> AdminState:
            if len(state.api_tokens) >= MAX_API_TOKENS:
                raise InvalidInput(f"there are {MAX_API_TOKENS} API tokens already: revoke "
                                   "one first", field="name")
            return replace(state, api_tokens=(*state.api_tokens, token))
        self.update(change)
        return token, f"{_TOKEN_PREFIX}{token_id}_{secret}"

    def revoke_api_token(self, token_id: str) -> ApiToken:
        """Revoke the token ``token_id``; it stops working at once."""
        found: list[ApiToken] = []

        def change(state: AdminState) -> AdminState:
            kept = tuple(t for t in state.api_tokens if t.id != token_id)
            found.extend(t for t in state.api_tokens if t.id == token_id)
            return replace(state, api_tokens=kept)
        self.update(change)
        if not found:
            raise NotFound(f"there is no API token {token_id[:20]!r}")
        return found[0]

    def set_public_pages(self, groups: frozenset[str]) -> AdminState:
        unknown = groups - PUBLIC_PAGE_GROUPS.keys()
        if unknown:
            raise InvalidInput("public pages: choose from " + ", ".join(PUBLIC_PAGE_GROUPS),
                               field="public_pages", code="bad_choice")
        return self.update(lambda state: replace(state, public_pages=frozenset(groups)))


def ensure_setup_code(data_dir: Path) -> AdminState:
    return AdminFile(data_dir).ensure_setup_code()


def setup_code_to_show(data_dir: Path) -> str | None:
    """The setup code ``hedgerow up`` prints: None once the admin password is set."""
    state = AdminFile(data_dir).ensure_setup_code()
    return None if state.claimed else state.setup_code


def reset_password(data_dir: Path) -> str:
    """``hedgerow reset-password``: erase the password; returns the new setup code."""
    state = AdminFile(data_dir).reset_password()
    assert state.setup_code is not None
    return state.setup_code

