"""``hedgerow doctor``: one line per finding, exit 1 when something needs action, --json,
--bundle."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from node.web.admin import AdminFile, hash_password

from .conftest import fails, invoke, ok


def test_doctor_says_what_to_do(node_dir: Path, tmp_path: Path) -> None:
    done = invoke("doctor", "--no-network", "--data-dir", str(node_dir))
    assert done.code == 1  # listening everywhere, unclaimed
    lines = done.out.strip().splitlines()
    assert all(line.split()[0] in ("ok", "warn", "action") for line in lines)
    [claim] = [line for line in lines if line.split()[1] == "claim"]
    assert claim.startswith("action") and "setup-code" in claim

    AdminFile(node_dir).set_password(hash_password("a long enough password"))
    (node_dir / "hedgerow.toml").write_text('host = "127.0.0.1"\n')
    data = json.loads(ok("doctor", "--json", "--no-network", "--data-dir", str(node_dir)))
    assert data["needs_action"] is False
    assert {f["check"] for f in data["findings"]} >= {
        "disk", "clock", "storage wear", "database", "peers", "backups", "second place",
        "claim"}

    bundle = tmp_path / "bundle.zip"
    out = ok("doctor", "--bundle", str(bundle), "--no-network", "--data-dir", str(node_dir))
    assert "nothing private" in out
    with zipfile.ZipFile(bundle) as z:
        assert json.loads(z.read("facts.json"))["settings"]["host"] == "127.0.0.1"
    assert "already exists" in fails("doctor", "--bundle", str(bundle),
                                     "--data-dir", str(node_dir))
