"""Body schemas of the entry kinds, and their validation.

Rules (protocol version 2):

* ``genesis`` — key ``"genesis"``: the founding node's first entry.
  ``nonce`` (16 bytes, chosen at random by the founder). The network id is
  derived from it and its author (:func:`network_id_of`), so any node can
  check offline which node founded the network (DESIGN.md "Membership").
* ``admit`` — key = the admitted node's id in lower-case hex: a member's
  signed statement that it admitted that node. ``node`` (the admitted node,
  32 bytes, never the author itself); optional ``note``.

* ``profile`` — key ``"profile"``. The organisation: ``name`` (required),
  ``level`` (required), ``area``, ``description``, ``principles``,
  ``addresses`` (http/https URLs where the node is reached), ``org_id``
  (an org-id.guide identifier such as ``GB-CHC-1234567``) and ``contact``
  (how other groups can get in touch, if the group chooses to publish one:
  an email address or an http/https address).
* ``practice`` — key = the practice key (a slug). ``title`` and ``status``
  required; ``description``, ``themes``, ``level``, ``area``, ``since``,
  ``measures``, ``lessons``, ``adapted_from``.
  A measure's ``value`` is a count of at least 5 or the text ``"<5"``: a
  count under 5 is never published exactly (DESIGN.md, privacy rule 3), and
  receivers refuse entries that break this, so the rule holds network-wide.
* ``credit`` — a thank-you: ``to`` (the credited node, 32 bytes),
  ``practice`` (its practice key), ``note``. Its key is derived:
  ``credit_key(to, practice)``, so one node credits one practice once
  (a newer version replaces the older thank-you).
* ``retract`` — withdraws an earlier entry of the author's: key =
  ``<kind>:<key>`` of the entry it withdraws (``practice:repair-cafe``,
  ``credit:<hex>/<practice>``, ``profile:profile``, ``admit:<hex>``); it
  takes that entry's slot (:func:`protocol.versions.slot_of`), so it replaces
  it everywhere, and a later entry in the slot replaces the retraction.
  Optional ``reason``.

Unknown fields are refused: a version-2 node cannot know what they mean, and
silently dropping them would break the signature. Every error names the field
(``body.measures[2].value``) and never quotes the offending value.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from .errors import EntryError

__all__ = [
    "KINDS",
    "LEVELS",
    "MAX_PROFILE_ADDRESSES",
    "MEASURE_DEFINERS",
    "PRACTICE_STATUSES",
    "RETRACTABLE",
    "SMALL_COUNT_TEXT",
    "SUPPRESSION_THRESHOLD",
    "admit_key",
    "check_decoded_body",
    "credit_key",
    "network_id_of",
    "retract_key",
    "retract_target",
    "suppress_count",
    "validate_body",
    "validate_key",
]

KINDS: Final = ("admit", "credit", "genesis", "practice", "profile", "retract")
#: The kinds a ``retract`` may withdraw (a genesis is never withdrawn).
RETRACTABLE: Final = ("admit", "credit", "practice", "profile")
#: The length of a genesis entry's nonce.
GENESIS_NONCE_BYTES: Final = 16
#: Addresses a profile may announce (those typed and those the node adds).
MAX_PROFILE_ADDRESSES: Final = 8
_NETWORK_DOMAIN: Final = b"hedgerow/network/v2\x00"
LEVELS: Final = ("neighbourhood", "local", "regional", "national")
PRACTICE_STATUSES: Final = ("active", "paused", "ended")
MEASURE_DEFINERS: Final = ("community", "funder", "own")
#: Counts below this are published as :data:`SMALL_COUNT_TEXT`, never exactly.
SUPPRESSION_THRESHOLD: Final = 5
SMALL_COUNT_TEXT: Final = "<5"

_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?\Z")
_THEME = re.compile(r"[a-z0-9](?:[a-z0-9 -]{0,38}[a-z0-9])?\Z")
_SINCE = re.compile(r"\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?\Z")
# org-id.guide: <2-letter country or XI/XM list prefix>-<register code>-<id in register>
_ORG_ID = re.compile(r"[A-Z]{2}-[A-Z0-9]{2,10}-[A-Za-z0-9][A-Za-z0-9._/-]{0,39}\Z")
_URL = re.compile(r"https?://[^\s/?#]+(?::\d{1,5})?(?:/[^\s]*)?\Z")
# A profile's contact, shown to people as a link: an email address (dot-atom
# of the common characters @ a domain of LDH labels ending in a letter label;
# RFC 5322's quoted forms, address literals and the characters that mean
# something in a mailto: link are refused) or a web address whose host is a
# name or an address (no user part, which could disguise the real host).
_CONTACT = re.compile(
    r"(?:[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
    r"|https?://(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?(?:[/?#][^\s\"<>]*)?)\Z")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_OR_NEWLINE = re.compile(r"[\x00-\x1f\x7f]")
_HEX_ID = re.compile(r"[0-9a-f]{64}\Z")
_CREDIT_KEY = re.compile(r"[0-9a-f]{64}/[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?\Z")



def suppress_count(count: int) -> int | str:
    """The publishable form of a count: exact from 5 up, ``"<5"`` below."""
    return count if count >= SUPPRESSION_THRESHOLD else SMALL_COUNT_TEXT


def network_id_of(founder: bytes, nonce: bytes) -> bytes:
    """The network id a genesis entry by ``founder`` with ``nonce`` founds.

    SHA-256 over a domain prefix, the founder's node id and the nonce: the id
    names its founder (no one else can sign a genesis that derives it), and
    a fresh nonce makes a new network each time.
    """
    return hashlib.sha256(_NETWORK_DOMAIN + founder + nonce).digest()


def admit_key(node: bytes) -> str:
    """The key of an admit entry: the admitted node's id in hex (one slot per node)."""
    return node.hex()


def retract_key(kind: str, key: str) -> str:
    """The key of a retraction of the author's entry (``kind``, ``key``)."""
    return f"{kind}:{key}"


def retract_target(key: str) -> tuple[str, str]:
    """The (kind, key) a retraction's key names; ``("", "")`` if it names none.

    Only the shape is checked here; :func:`validate_key` checks the target
    key against its kind's rules.
    """
    kind, sep, target = key.partition(":")
    if not sep or kind not in RETRACTABLE:
        return "", ""
    return kind, target


def _valid_target_key(kind: str, key: str) -> bool:
    if kind == "practice":
        return len(key) <= 64 and _SLUG.match(key) is not None
    if kind == "profile":
        return key == "profile"
    if kind == "credit":
        return _CREDIT_KEY.match(key) is not None
    return _HEX_ID.match(key) is not None  # admit


def _valid_retract_key(key: str) -> bool:
    kind, target = retract_target(key)
    return bool(kind) and _valid_target_key(kind, target)


def credit_key(to: bytes, practice: str) -> str:
    """The key of a credit entry: one per (credited node, practice)."""
    return f"{to.hex()}/{practice}"


class _Invalid(Exception):
    """Raised inside validation; carries the path, built only on failure."""

    def __init__(self, message: str, code: str) -> None:
        self.message, self.code, self.path = message, code, ""

    def under(self, step: str) -> _Invalid:
        self.path = step + self.path
        return self


# Each rule below exists twice over one declaration: ``check`` explains what
# is wrong (raising _Invalid with a message), and ``source`` emits Python code
# for a fast yes/no test. Valid input (nearly all of it) takes only the fast
# test, compiled into one function per kind and shape of body (its key
# sequence) the first time such a body is seen; the explaining walk runs
# only to word an error. Ingest is then bound by signature
# verification rather than by per-field function calls (DESIGN.md "What good
# means"). A test checks the two always agree.


class _Rule:
    def check(self, value: Any) -> None:
        raise NotImplementedError

    def source(self, x: str, out: list[str], indent: str, names: _Names) -> None:
        raise NotImplementedError


class _Names:
    """Constants and fresh variable names for generated code."""

    def __init__(self) -> None:
        self.env: dict[str, Any] = {}
        self.count = 0

    def const(self, value: Any) -> str:
        self.count += 1
        name = f"_c{self.count}"
        self.env[name] = value
        return name

    def var(self) -> str:
        self.count += 1
        return f"_v{self.count}"


class _Text(_Rule):
    def __init__(self, max_len: int, *, min_len: int = 0,
                 pattern: re.Pattern[str] | None = None, shape: str = "",
                 multiline: bool = True) -> None:
        self.max_len, self.min_len, self.pattern, self.shape = max_len, min_len, pattern, shape
        self.control = _CONTROL if multiline else _CONTROL_OR_NEWLINE

    def check(self, value: Any) -> None:
        if type(value) is not str:
            raise _Invalid("must be text", "wrong_type")
        n = len(value)
        if n > self.max_len:
            raise _Invalid(f"longer than {self.max_len} characters", "too_long")
        if n < self.min_len:
            raise _Invalid("must not be empty" if self.min_len == 1 else
                           f"shorter than {self.min_len} characters", "too_short")
        # Control characters (ESC above all) in text a peer sends would reach
        # terminals and pages; refuse them at the door.
        if self.control.search(value):
            raise _Invalid("contains control characters", "control_characters")
        if self.pattern is not None and not self.pattern.match(value):
            raise _Invalid(f"must be {self.shape}", "bad_format")

    def source(self, x: str, out: list[str], indent: str, names: _Names) -> None:
        control = names.const(self.control)
        length = (f"len({x}) > {self.max_len}" if self.min_len == 0 else
                  f"not {self.min_len} <= len({x}) <= {self.max_len}")
        # isprintable() is the quick test; only text with tabs, newlines or
        # non-ASCII spaces goes on to the exact control-character search.
        test = f"{length} or (not {x}.isprintable() and {control}.search({x}))"
        if self.pattern is not None:
            test += f" or not {names.const(self.pattern)}.match({x})"
        if self.max_len > _REMEMBERED_MAX_LEN:
            out.append(f"{indent}if type({x}) is not str or {test}: return False")
            return
        # Short texts (themes, areas, dates, measure names, practice keys)
        # recur across thousands of entries: remember the ones that passed
        # so a repeat costs one set lookup instead of a regex.
        seen = names.const(set())
        out.append(f"{indent}if type({x}) is not str: return False")
        out.append(f"{indent}if {x} not in {seen}:")
        out.append(f"{indent}    if {test}: return False")
        out.append(f"{indent}    if len({seen}) >= {_REMEMBERED_TEXTS}: {seen}.clear()")
        out.append(f"{indent}    {seen}.add({x})")


class _Choice(_Rule):
    def __init__(self, options: tuple[str, ...]) -> None:
        self.options, self.allowed = options, frozenset(options)

    def check(self, value: Any) -> None:
        if type(value) is not str:
            raise _Invalid("must be text", "wrong_type")
        if value not in self.allowed:
            raise _Invalid("must be one of " + ", ".join(self.options), "bad_choice")

    def source(self, x: str, out: list[str], indent: str, names: _Names) -> None:
        out.append(f"{indent}if type({x}) is not str or {x} not in "
                   f"{names.const(self.allowed)}: return False")


class _Bytes(_Rule):
    def __init__(self, length: int, what: str) -> None:
        self.length, self.what = length, what

    def check(self, value: Any) -> None:
        if type(value) is not bytes or len(value) != self.length:
            raise _Invalid(f"must be {self.what}", "wrong_type")

    def source(self, x: str, out: list[str], indent: str, names: _Names) -> None:
        out.append(f"{indent}if type({x}) is not bytes or len({x}) != {self.length}: "
                   "return False")


_NODE_ID = _Bytes(32, "a 32-byte node id")


class _Count(_Rule):
    MAXIMUM = 10**12

    def check(self, value: Any) -> None:
        if type(value) is str:
            if value != SMALL_COUNT_TEXT:
                raise _Invalid(f'must be a count or "{SMALL_COUNT_TEXT}"', "bad_format")
            return
        if type(value) is not int:
            raise _Invalid(f'must be a count or "{SMALL_COUNT_TEXT}"', "wrong_type")
        if value < SUPPRESSION_THRESHOLD:
            # DESIGN.md privacy rule 3: counts under 5 are never published exactly.
            raise _Invalid(f"a count under {SUPPRESSION_THRESHOLD} must be published as "
                           f'"{SMALL_COUNT_TEXT}"', "unsuppressed_count")
        if value > self.MAXIMUM:
            raise _Invalid("is implausibly large", "too_large")

    def source(self, x: str, out: list[str], indent: str, names: _Names) -> None:
        out.append(f"{indent}if type({x}) is int:")
        out.append(f"{indent}    if not {SUPPRESSION_THRESHOLD} <= {x} <= {self.MAXIMUM}: "
                   "return False")
        out.append(f"{indent}elif {x} != {SMALL_COUNT_TEXT!r}: return False")


#: Texts up to this long that passed a rule are remembered, up to this many per rule.
_REMEMBERED_MAX_LEN: Final = 80
_REMEMBERED_TEXTS: Final = 1024
#: Marks an absent optional field in generated code (None is a value a peer can send).
_MISSING: Final = object()


def _identity(value: Any) -> Any:
    return tuple(value.items()) if type(value) is dict else value


class _List(_Rule):
    def __init__(self, item: _Rule, max_items: int, *, unique: bool = False) -> None:
        self.item, self.max_items, self.unique = item, max_items, unique

    def check(self, value: Any) -> None:
        if type(value) is not list:
            raise _Invalid("must be a list", "wrong_type")
        if len(value) > self.max_items:
            raise _Invalid(f"has more than {self.max_items} items", "too_many")
        for i, v in enumerate(value):
            try:
                self.item.check(v)
            except _Invalid as bad:
                raise bad.under(f"[{i}]") from None
        if self.unique and len({_identity(v) for v in value}) != len(value):
            raise _Invalid("lists the same item twice", "duplicate_item")

    def source(self, x: str, out: list[str], indent: str, names: _Names) -> None:
        out.append(f"{indent}if type({x}) is not list or len({x}) > {self.max_items}: "
                   "return False")
        item, seen = names.var(), names.var()
        if self.unique:
            out.append(f"{indent}{seen} = set()")
        out.append(f"{indent}for {item} in {x}:")
        identity = item
        if isinstance(self.item, _Record):
            fields = self.item.fields_source(item, out, indent + "    ", names)
            # A record's identity is its values in key order; taken from
            # the unpacked fields when the record has only one shape.
            identity = (f"({', '.join(fields.values())},)" if fields
                        else f"tuple({item}.items())")
        else:
            self.item.source(item, out, indent + "    ", names)
        if self.unique:
            # Collected in the same loop: a comprehension would be one more
            # function call per list (Python 3.11).
            out.append(f"{indent}    {seen}.add({identity})")
            out.append(f"{indent}if len({seen}) != len({x}): return False")


class _Record(_Rule):
    #: The fast test lists every acceptable key sequence (2**n of them for n
    #: optional fields), so a record declares at most this many.
    MAX_OPTIONAL = 10

    def __init__(self, required: Mapping[str, _Rule], optional: Mapping[str, _Rule]) -> None:
        if len(optional) > self.MAX_OPTIONAL:
            raise ValueError(f"a record declares at most {self.MAX_OPTIONAL} optional fields")
        self.fields = {**required, **optional}
        self.needed = frozenset(required)
        self.optional = tuple(optional)

    def check(self, value: Any) -> None:
        if type(value) is not dict:
            raise _Invalid("must be a map", "wrong_type")
        prev = ""
        for name, v in value.items():
            rule = self.fields.get(name)
            if rule is None:
                if type(name) is not str:
                    raise _Invalid("map keys must be text", "non_string_key")
                raise _Invalid("is not a known field", "unknown_field").under(f".{name}")
            # Canonical form (protocol.wire): keys in sorted order. Checked here
            # because entry payloads skip the generic type walk for speed.
            if name <= prev:
                raise _Invalid("keys out of order", "unsorted_keys").under(f".{name}")
            prev = name
            try:
                rule.check(v)
            except _Invalid as bad:
                raise bad.under(f".{name}") from None
        if not self.needed <= value.keys():
            missing = min(self.needed - value.keys())
            raise _Invalid("is required", "missing_field").under(f".{missing}")

    def key_sequences(self) -> frozenset[tuple[str, ...]]:
        """Every acceptable key sequence: the required fields plus any subset
        of the optional ones, in canonical (sorted) order."""
        return frozenset(
            tuple(sorted(self.needed.union(chosen)))
            for n in range(len(self.optional) + 1)
            for chosen in itertools.combinations(self.optional, n)
        )

    def source(self, x: str, out: list[str], indent: str, names: _Names) -> None:
        self.fields_source(x, out, indent, names)

    def fields_source(self, x: str, out: list[str], indent: str,
                      names: _Names) -> dict[str, str]:
        """As :meth:`source`; for a record with only one shape (no optional
        fields), also return each field's variable."""
        # Every acceptable key sequence is known in advance, so one set lookup
        # checks key types, order, unknown and missing fields at once.
        sequences = self.key_sequences()
        if len(sequences) == 1:
            # Only one shape: take the values in order.
            (keys,) = sequences
            out.append(f"{indent}if type({x}) is not dict or tuple({x}) != {keys!r}: "
                       "return False")
            return self.unpacked_source(x, keys, out, indent, names)
        out.append(f"{indent}if type({x}) is not dict or tuple({x}) not in "
                   f"{names.const(sequences)}: return False")
        # Each value is fetched by name instead of being matched against a
        # chain of field names.
        missing = names.const(_MISSING)
        for name, rule in self.fields.items():
            val = names.var()
            if name in self.needed:
                out.append(f"{indent}{val} = {x}[{name!r}]")
                rule.source(val, out, indent, names)
            else:
                out.append(f"{indent}{val} = {x}.get({name!r}, {missing})")
                out.append(f"{indent}if {val} is not {missing}:")
                rule.source(val, out, indent + "    ", names)
        return {}

    def unpacked_source(self, x: str, keys: tuple[str, ...], out: list[str], indent: str,
                        names: _Names) -> dict[str, str]:
        """Check the fields of ``x``, a map known to have exactly ``keys`` in
        this order; return each field's variable."""
        fields = {name: names.var() for name in keys}
        # Unpacking the values in their known order costs one step, where
        # fetching and testing each field by name costs several.
        if fields:
            out.append(f"{indent}{', '.join(fields.values())}, = {x}.values()")
        for name, val in fields.items():
            self.fields[name].source(val, out, indent, names)
        return fields


def _compile(kind: str, keys: tuple[str, ...]) -> Callable[[Any, str, bytes], bool]:
    """The fast yes/no test of body, key and author together, for a body of
    ``kind`` whose keys are ``keys`` (one of its record's key sequences)."""
    names = _Names()
    lines: list[str] = []
    field = _SCHEMAS[kind].unpacked_source("body", keys, lines, "    ", names)
    # The rules that tie the key (and author) to the body, as in _explain.
    if kind == "profile":
        lines.append("    if key != 'profile': return False")
    elif kind == "genesis":
        lines.append("    if key != 'genesis': return False")
    elif kind == "practice":
        _SLUG_TEXT.source("key", lines, "    ", names)
    elif kind == "retract":
        lines.append(f"    if not {names.const(_valid_retract_key)}(key): return False")
    elif kind == "credit":
        lines.append(f"    if key != {names.const(credit_key)}({field['to']}, "
                     f"{field['practice']}): return False")
    elif kind == "admit":
        node = field["node"]
        lines.append(f"    if {node} == author or key != {node}.hex(): return False")
    if kind == "practice" and "adapted_from" in field:
        lines.append(f"    for _ref in {field['adapted_from']}:")
        lines.append("        if _ref['author'] == author and _ref['key'] == key: return False")
    # Constants are bound as default arguments: local lookups, not globals.
    bound = "".join(f", {c}={c}" for c in names.env)
    name = f"valid_{kind}"
    source = "\n".join([f"def {name}(body, key, author{bound}):", *lines, "    return True"])
    # The source is built above from our own rule declarations, never from input.
    exec(source, names.env)
    fast: Callable[[Any, str, bytes], bool] = names.env[name]
    return fast


class _FastChecks:
    """The compiled fast tests of one kind, one per key sequence of its body.

    Compiled the first time a body with that key sequence is checked: there
    are at most 2**_Record.MAX_OPTIONAL of them, and a network uses few.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.allowed = _SCHEMAS[kind].key_sequences()
        self.compiled: dict[tuple[str, ...], Callable[[Any, str, bytes], bool]] = {}

    def for_keys(self, keys: tuple[str, ...]) -> Callable[[Any, str, bytes], bool] | None:
        """The test for bodies with ``keys``, or None if no body may have them."""
        fast = self.compiled.get(keys)
        if fast is None and keys in self.allowed:
            fast = self.compiled[keys] = _compile(self.kind, keys)
        return fast

    def __call__(self, body: Any, key: str, author: bytes) -> bool:
        if type(body) is not dict:
            return False
        fast = self.for_keys(tuple(body))
        return fast is not None and fast(body, key, author)


_SLUG_TEXT = _Text(64, min_len=1, pattern=_SLUG, multiline=False,
                   shape="a practice key: lower-case letters, digits and dashes")

_MEASURE = _Record(
    {"name": _Text(80, min_len=1, multiline=False), "value": _Count()},
    {
        "unit": _Text(40, multiline=False),
        "period": _Text(40, multiline=False),
        "defined_by": _Choice(MEASURE_DEFINERS),
    },
)
_PRACTICE_REF = _Record({"author": _NODE_ID, "key": _SLUG_TEXT}, {})

_SCHEMAS: dict[str, _Record] = {
    "profile": _Record(
        {"name": _Text(120, min_len=1, multiline=False), "level": _Choice(LEVELS)},
        {
            "area": _Text(80, multiline=False),
            "description": _Text(2000),
            "principles": _List(_Text(80, min_len=1, multiline=False), 20, unique=True),
            "addresses": _List(
                _Text(200, pattern=_URL, multiline=False,
                      shape="an http:// or https:// address"),
                MAX_PROFILE_ADDRESSES, unique=True),
            "org_id": _Text(56, pattern=_ORG_ID, multiline=False,
                            shape="an org-id.guide identifier such as GB-CHC-1234567"),
            "contact": _Text(254, min_len=1, pattern=_CONTACT, multiline=False,
                             shape="an email address or an http:// or https:// address"),
        },
    ),
    "practice": _Record(
        {"title": _Text(200, min_len=1, multiline=False), "status": _Choice(PRACTICE_STATUSES)},
        {
            "description": _Text(4000),
            "themes": _List(_Text(40, min_len=1, pattern=_THEME, multiline=False,
                                  shape="a theme: lower-case words"), 12, unique=True),
            "level": _Choice(LEVELS),
            "area": _Text(80, multiline=False),
            "since": _Text(10, pattern=_SINCE, multiline=False,
                           shape="a date: YYYY, YYYY-MM or YYYY-MM-DD"),
            "measures": _List(_MEASURE, 20),
            "lessons": _List(_Text(1000, min_len=1), 20),
            "adapted_from": _List(_PRACTICE_REF, 16, unique=True),
        },
    ),
    "credit": _Record(
        {"to": _NODE_ID, "practice": _SLUG_TEXT},
        {"note": _Text(500)},
    ),
    "retract": _Record({}, {"reason": _Text(500)}),
    "admit": _Record({"node": _NODE_ID}, {"note": _Text(200)}),
    "genesis": _Record({"nonce": _Bytes(GENESIS_NONCE_BYTES, "16 random bytes")}, {}),
}
#: Per kind, the fast yes/no test of body, key and author together.
_FAST: dict[str, _FastChecks] = {kind: _FastChecks(kind) for kind in _SCHEMAS}


def validate_key(kind: str, key: str, body: Mapping[str, Any], author: bytes) -> None:
    """Check that ``key`` is right for ``kind`` (and, for credits, the body)."""
    if kind == "profile":
        if key != "profile":
            raise EntryError('key: a profile\'s key is "profile"', code="bad_key")
    elif kind == "genesis":
        if key != "genesis":
            raise EntryError('key: a genesis entry\'s key is "genesis"', code="bad_key")
    elif kind == "practice":
        if type(key) is str and len(key) <= 64 and _SLUG.match(key):
            return
        try:
            _SLUG_TEXT.check(key)
        except _Invalid as bad:
            raise EntryError(f"key: {bad.message}", code=bad.code) from None
    elif kind == "retract":
        if not _valid_retract_key(key):
            raise EntryError("key: a retraction's key is <kind>:<key> of the entry it "
                             f"withdraws, one of {', '.join(RETRACTABLE)}", code="bad_key")
    elif kind == "admit":
        node = body.get("node")
        if not isinstance(node, bytes) or key != admit_key(node):
            raise EntryError("key: an admission's key is the admitted node's id in hex",
                             code="bad_key")
        if node == author:
            raise EntryError("body.node: a node cannot admit itself", code="self_admission")
    elif kind == "credit":
        to, practice = body.get("to"), body.get("practice")
        if not isinstance(to, bytes) or not isinstance(practice, str) or \
                key != credit_key(to, practice):
            raise EntryError("key: a credit's key is <credited node hex>/<practice key>",
                             code="bad_key")


def validate_body(kind: str, key: str, body: Any, author: bytes) -> None:
    """Validate an entry body of ``kind``; raise :class:`EntryError` naming the field.

    For bodies built in Python: map keys may come in any order (signing
    sorts them). Decoded payloads go through :func:`check_decoded_body`.
    """
    check_decoded_body(kind, key, _in_canonical_order(body), author)


def _in_canonical_order(value: Any) -> Any:
    if type(value) is dict:
        return {k: _in_canonical_order(value[k]) for k in sorted(value, key=str)}
    if type(value) is list:
        return [_in_canonical_order(v) for v in value]
    return value


def check_decoded_body(kind: str, key: str, body: Any, author: bytes) -> None:
    """Validate a body as decoded from a payload, whose map keys must be in canonical order."""
    checks = _FAST.get(kind)
    if checks is None:
        raise EntryError(f"kind: unknown kind; expected one of {', '.join(KINDS)}",
                         code="unknown_kind")
    if type(body) is dict:
        # As _FastChecks.__call__, without one more call per entry.
        keys = tuple(body)
        fast = checks.compiled.get(keys) or checks.for_keys(keys)
        if fast is not None and fast(body, key, author):
            return
    _explain(kind, key, body, author)
    # The fast test and the explaining walk come from one declaration and
    # must agree; if they ever do not, refuse rather than accept.
    raise EntryError("body: invalid", code="invalid_body")


def _explain(kind: str, key: str, body: Any, author: bytes) -> None:
    """Raise :class:`EntryError` for the first thing wrong with an entry's body or key."""
    try:
        _SCHEMAS[kind].check(body)
    except _Invalid as bad:
        raise EntryError(f"body{bad.path}: {bad.message}", code=bad.code) from None
    validate_key(kind, key, body, author)
    if kind == "practice":
        for i, ref in enumerate(body.get("adapted_from", ())):
            if ref["author"] == author and ref["key"] == key:
                raise EntryError(f"body.adapted_from[{i}]: a practice cannot be adapted "
                                 "from itself", code="self_reference")
