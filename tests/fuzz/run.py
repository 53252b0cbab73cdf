"""Run every fuzzer for a bounded time: the atheris targets, then schemathesis on the API.

* Each atheris target (:mod:`tests.fuzz.targets`) runs in its own process
  for ``--seconds`` (default 15), from a seed corpus of valid inputs, with a
  memory cap and a per-input time limit. A crash, a hang or an unexpected
  exception fails the run and leaves the input in ``--artifacts``.
* schemathesis runs against ``/api/v1/openapi.json`` of a real ``hedgerow
  up`` on 127.0.0.1 (the API made public on it, so no login is needed, and
  a few thousand entries in its set), ``--examples`` per operation,
  checking that no answer is a server error and that every answer matches
  the document.

``.ci/run`` runs it where the ``[fuzz]`` extra installs (atheris has no
wheels for some platforms, a Pi among them).

    python -m tests.fuzz.run [--seconds 15] [--examples 50] [--only negentropy,…]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from node.web.admin import AdminFile  # noqa: E402
from protocol import Entry, NegentropyStorage, NodeKey, sign_entry  # noqa: E402
from protocol.messages import (  # noqa: E402
    encode_fetch_request,
    encode_push_request,
)
from protocol.negentropy import Negentropy  # noqa: E402
from tests.fuzz.targets import NETWORK, TARGETS  # noqa: E402
from tests.hostile.flood import prepare_node  # noqa: E402


def seeds() -> dict[str, list[bytes]]:
    key = NodeKey.from_seed(hashlib.sha256(b"seed").digest())
    signed = sign_entry(key, Entry(NETWORK, key.public, "practice", "repair-cafe",
                                   1_700_000_000_000, {"title": "Repair café",
                                                       "status": "active",
                                                       "themes": ["repair"]}))
    import msgpack

    envelope = msgpack.packb([signed.payload, signed.sig], use_bin_type=True)
    storage = NegentropyStorage.from_sorted([(1_700_000_000_000, signed.id)])
    first = Negentropy(storage).initiate()
    return {
        "entry": [envelope, signed.payload],
        "negentropy": [first, b"\x61\x00\x00\x02\x01" + bytes(32)],
        "structured_fields": [
            b'sig1=("@method" "@authority" "@path" "content-digest");created=1700000000;'
            b'keyid="abc";nonce="n";tag="t"', b"sha-256=:AAAA:", b'a=1, b="x";p=?1'],
        "sync_request": [encode_push_request([signed]), encode_fetch_request([signed.id])],
    }


def run_atheris(names: list[str], seconds: int, artifacts: Path) -> list[str]:
    failed = []
    corpus_root = Path(tempfile.mkdtemp(prefix="hedgerow-fuzz-"))
    for name in names:
        corpus = corpus_root / name
        corpus.mkdir()
        for i, seed in enumerate(seeds()[name]):
            (corpus / f"seed{i}").write_bytes(seed)
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "tests.fuzz.targets", name, f"-max_total_time={seconds}",
             "-timeout=5", "-rss_limit_mb=1024", "-print_final_stats=1",
             f"-artifact_prefix={artifacts}/{name}-", str(corpus)],
            cwd=ROOT, capture_output=True, text=True, timeout=seconds + 120)
        runs = [line for line in result.stderr.splitlines() if line.startswith("Done ")]
        print(f"fuzz {name}: {runs[-1] if runs else 'no summary'} "
              f"({time.monotonic() - started:.0f} s, exit {result.returncode})", flush=True)
        if result.returncode != 0:
            print(result.stderr[-4000:], file=sys.stderr)
            failed.append(name)
    return failed


def run_schemathesis(examples: int) -> bool:
    with tempfile.TemporaryDirectory(prefix="hedgerow-schemathesis-") as tmp:
        data_dir = prepare_node(Path(tmp), entries=2000)
        AdminFile(data_dir).set_public_pages(frozenset({"api"}))
        node = subprocess.Popen(
            [sys.executable, "-m", "cli", "up", "--data-dir", str(data_dir), "--host",
             "127.0.0.1", "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            assert node.stdout is not None
            url = ""
            for line in node.stdout:
                if "listening on " in line:
                    url = line.split("listening on ", 1)[1].strip()
                    break
            if not url:
                print("schemathesis: the node did not start", file=sys.stderr)
                return False
            result = subprocess.run(
                [sys.executable, "-m", "schemathesis.cli", "run",
                 f"{url}/api/v1/openapi.json", "--max-examples", str(examples), "--seed", "1",
                 "--checks", "not_a_server_error,status_code_conformance,"
                 "content_type_conformance,response_schema_conformance", "--no-color"],
                # In the temporary directory: schemathesis keeps its example database
                # (.schemathesis/) in the working directory.
                cwd=tmp, capture_output=True, text=True, timeout=600)
            summary = [line for line in result.stdout.splitlines() if "generated" in line]
            print(f"schemathesis: {summary[-1].strip() if summary else 'no summary'} "
                  f"(exit {result.returncode})", flush=True)
            if result.returncode != 0:
                print(result.stdout[-6000:], result.stderr[-2000:], file=sys.stderr)
            return result.returncode == 0
        finally:
            node.send_signal(signal.SIGTERM)
            try:
                node.wait(timeout=10)
            except subprocess.TimeoutExpired:
                node.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15, help="seconds per atheris target")
    parser.add_argument("--examples", type=int, default=50,
                        help="schemathesis examples per operation")
    parser.add_argument("--only", default="", help="comma-separated targets (and/or 'api')")
    parser.add_argument("--artifacts", type=Path, default=Path(tempfile.gettempdir()),
                        help="where crashing inputs are written")
    args = parser.parse_args()
    chosen = [n for n in args.only.split(",") if n] or [*TARGETS, "api"]
    unknown = [n for n in chosen if n not in TARGETS and n != "api"]
    if unknown:
        raise SystemExit(f"unknown targets: {', '.join(unknown)}")
    failed = run_atheris([n for n in chosen if n in TARGETS], args.seconds, args.artifacts)
    if "api" in chosen and not run_schemathesis(args.examples):
        failed.append("api")
    if failed:
        raise SystemExit(f"fuzzing found problems in: {', '.join(failed)}")
    print(f"fuzz: {len(chosen)} targets, nothing found")


if __name__ == "__main__":
    main()
