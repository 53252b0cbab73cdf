"""Coverage-guided fuzz targets (atheris) for what a node reads from strangers.

Each target feeds arbitrary bytes to one reader of peer input and accepts
only one kind of failure: :class:`protocol.PeerError` (the input is bad,
and the reader said so). Anything else — another exception, a hang, a
crash — is a finding. The targets:

* ``entry`` — the entry decoder: ``[payload, signature]`` envelopes and
  payloads, through decoding, schema checks and verification;
* ``negentropy`` — the Negentropy reader: reconcile frames answered by a
  server over a small fixed set;
* ``structured_fields`` — the RFC 8941 parser behind ``Signature-Input``,
  ``Signature`` and ``Content-Digest``;
* ``sync_request`` — what the sync handlers do with a request before any
  I/O: the body decoders of all three endpoints, and signature verification
  of a request whose signature fields and body come from the input.

Run one (``python -m tests.fuzz.targets negentropy -max_total_time=20``) or
all, bounded, with ``python -m tests.fuzz.run``. Seeds come from the test
vectors in tests/vectors/.
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
from collections.abc import Callable

import atheris

with atheris.instrument_imports():
    import protocol
    from protocol import (
        HttpMessage,
        NegentropyStorage,
        NodeKey,
        PeerError,
        SignedEntry,
        answer_reconcile,
        decode_signed,
        verify_entries,
        verify_hedgerow,
    )
    from protocol.httpsig import NonceCache
    from protocol.messages import (
        decode_fetch_request,
        decode_push_request,
        decode_reconcile,
    )
    from protocol.structured_fields import FieldFailure, Parser

NETWORK = hashlib.sha256(b"fuzz network").digest()
_KEY = NodeKey.from_seed(hashlib.sha256(b"fuzz key").digest())
_PUBLIC = protocol.public_key(_KEY.public)
_STORAGE = NegentropyStorage.from_sorted(sorted(
    (1_700_000_000_000 + i * 7919, hashlib.sha256(b"%d" % i).digest()) for i in range(300)))


def entry(data: bytes) -> None:
    try:
        signed = decode_signed(data)
    except PeerError:
        signed = SignedEntry(data[64:], data[:64])
    try:
        verify_entries([signed], NETWORK)
        protocol.decode(data)
    except PeerError:
        pass


def negentropy(data: bytes) -> None:
    with contextlib.suppress(PeerError):
        answer_reconcile({"all": _STORAGE}, {"all": b"\x61" + data[1:] if data else b"\x61"},
                         frame_size_limit=4096 + (data[0] if data else 0) * 64)


def structured_fields(data: bytes) -> None:
    text = data.decode("latin-1")
    # FieldFailure is the parser's own refusal (verification turns it into a 401).
    for parse in (lambda p: p.dictionary(8), lambda p: p.item()):
        with contextlib.suppress(FieldFailure):
            parse(Parser(text, "Signature-Input"))


def sync_request(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    body = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 2048))
    for decode in (decode_fetch_request, decode_push_request, decode_reconcile):
        with contextlib.suppress(PeerError):
            decode(body)
    headers = {
        "content-type": "application/vnd.hedgerow.sync+msgpack",
        "content-digest": fdp.ConsumeUnicodeNoSurrogates(120),
        "signature-input": fdp.ConsumeUnicodeNoSurrogates(400),
        "signature": fdp.ConsumeUnicodeNoSurrogates(200),
    }
    msg = HttpMessage(headers, method="POST", authority="127.0.0.1:8470",
                      path="/sync/v2/push", query=None, scheme="http", body=body)
    with contextlib.suppress(PeerError):
        verify_hedgerow(msg, now=1_700_000_000, network_id=NETWORK,
                        resolve_key=lambda keyid: _PUBLIC, nonces=NonceCache())


TARGETS: dict[str, Callable[[bytes], None]] = {
    "entry": entry, "negentropy": negentropy, "structured_fields": structured_fields,
    "sync_request": sync_request,
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        raise SystemExit(f"usage: python -m tests.fuzz.targets {{{','.join(TARGETS)}}} "
                         "[libFuzzer options] [corpus directories]")
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
