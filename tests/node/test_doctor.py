"""``hedgerow doctor``'s checks, and a diagnostic bundle with nothing private in it."""

from __future__ import annotations

import hashlib
import random
import zipfile
from collections import namedtuple
from pathlib import Path

import pytest
import sqlite_utils

from node import Store
from node.doctor import (
    ACTION,
    OK,
    WARN,
    check_claim,
    check_clock,
    check_disk,
    check_wear,
    needs_action,
    run_checks,
    write_bundle,
)
from node.service import NodeService
from node.settings import Config
from node.store.connection import write_transaction
from node.sync import peerbook
from node.web.admin import AdminFile, hash_password

from .conftest import NODE_SEED, FakeClock
from .store.test_privacy import plant

Usage = namedtuple("Usage", "total used free")


def test_disk(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    gb = 1024 ** 3
    for free, status in ((50 * gb, OK), (int(0.8 * gb), WARN), (100 * 1024 ** 2, ACTION)):
        monkeypatch.setattr("shutil.disk_usage", lambda _p, f=free: Usage(64 * gb, 0, f))
        finding = check_disk(tmp_path)
        assert finding.status == status, finding
    assert "free some space" in finding.message


def test_clock() -> None:
    assert check_clock([], []).status == OK
    assert check_clock([0, 1, -1], []).status == OK
    behind = check_clock([95, 90, 100, 3], [])
    assert behind.status == ACTION and "about 95 s behind" in behind.message
    assert "timedatectl set-ntp true" in behind.message
    assert check_clock([-20, -25, -22], []).status == WARN
    assert "ahead of" in check_clock([-20, -25, -22], []).message
    refused = check_clock([], ["http://x answered 401: signature created 400 s in the future"])
    assert refused.status == ACTION


def test_claim(tmp_path: Path) -> None:
    (tmp_path / "n").mkdir()
    data = tmp_path / "n"
    assert check_claim(Config(), data).status == ACTION
    assert check_claim(Config(host="127.0.0.1"), data).status == WARN
    AdminFile(data).set_password(hash_password("a long enough password"))
    assert check_claim(Config(), data).status == OK


async def test_the_checks_of_a_running_node(store: Store, clock: FakeClock,
                                            tmp_path: Path) -> None:
    AdminFile(store.data_dir).set_password(hash_password("a long enough password"))
    service = NodeService(store, Config(mdns=False))
    await service.start(host="127.0.0.1", port=0, gossip=False, mdns=False)
    try:
        config = Config(host="127.0.0.1", public_url=service.url)
        findings = {f.check: f for f in await run_checks(store, config)}
        assert findings["reachable"].status == OK, findings["reachable"]
        assert findings["database"].status == OK
        assert findings["peers"].status == WARN  # none yet
        assert findings["backups"].status == OK
        assert findings["second place"].status == WARN
        assert not needs_action(list(findings.values()))
    finally:
        await service.stop()
    # Stopped, the announced address no longer answers: that needs doing something about.
    findings = {f.check: f for f in await run_checks(store, config)}
    assert findings["reachable"].status == ACTION
    assert "port forwarding" in findings["reachable"].message
    # A peer that has not answered for long, and backups older than two days.
    await store.db.write(peerbook.add_peer, "http://127.0.0.1:9", source="manual",
                         now_ms=clock.now_ms)
    clock.advance(3 * 86_400_000)
    findings = {f.check: f for f in await run_checks(store, config, network=False)}
    assert "reachable" not in findings
    assert findings["peers"].status == ACTION and findings["backups"].status == ACTION


async def test_a_damaged_database_is_found(store: Store) -> None:
    await store.create_practice({"title": "Repair café"})
    measure = await store.add_measure("repair-cafe", {"name": "items"})
    await store.record_observation(measure.id, {"observed_on": "2024-01-01", "value": 7})

    def damage(db: sqlite_utils.Database) -> None:
        # An index that no longer matches its table, as a bad sector could leave it.
        db.conn.execute("PRAGMA writable_schema = ON")
        with write_transaction(db) as conn:
            conn.execute("UPDATE sqlite_master SET sql = replace(sql, '(measure_id, "
                         "observed_on)', '(observed_on, measure_id)') "
                         "WHERE name = 'observations_by_measure'")

    await store.db.write(damage)
    [finding] = [f for f in await run_checks(store, Config(), network=False)
                 if f.check == "database"]
    assert finding.status == ACTION and "restore" in finding.message


async def test_the_bundle_holds_nothing_private(store: Store, tmp_path: Path) -> None:
    """The privacy canary (DESIGN.md rule 1) over every byte of a diagnostic bundle."""
    canary: dict[str, str] = {}
    rng = random.Random(7)

    def planted(db: sqlite_utils.Database) -> None:
        for n in range(2):
            plant(db, n, canary, rng)

    await store.db.write(planted)
    org = {"name": "CANARYorgname", "description": "CANARYorgdescription",
           "area": "CANARYorgarea", "addresses": ["http://127.0.0.1:9/CANARYaddress"]}
    await store.update_organisation(org)
    canary.update({v if isinstance(v, str) else v[0]: k for k, v in org.items()})
    admin = AdminFile(store.data_dir)
    setup = admin.ensure_setup_code().setup_code
    assert setup is not None
    _, token = admin.create_api_token("CANARYtokenname", "write", now_ms=1)
    secrets = [setup, token, token.split("_", 2)[2], NODE_SEED.hex(),
               hashlib.sha256(NODE_SEED).hexdigest()]
    (store.data_dir / "hedgerow.toml").write_text('host = "127.0.0.1"\n')
    config = Config(host="127.0.0.1")
    findings = await run_checks(store, config, network=False)
    target = tmp_path / "bundle.zip"
    assert await write_bundle(store, config, findings, target) > 0
    with zipfile.ZipFile(target) as bundle:
        names = bundle.namelist()
        assert names == ["README.txt", "findings.json", "facts.json"]
        everything = b"".join(bundle.read(name) for name in names)
    text = everything.decode("utf-8")
    found = [where for planted_text, where in canary.items() if planted_text in text]
    assert not found, f"private fields in the bundle: {found}"
    assert not [s for s in secrets if s in text]
    assert '"practice_records": 2' in text and store.key.node_id in text


async def test_sync_records_the_peers_clock(tmp_path: Path) -> None:
    from .conftest import make_member_node
    from .peer_entries import admitted

    services: list[NodeService] = []
    stores: list[Store] = []
    for name, offset in (("a", 0), ("b", 120_000)):
        path = tmp_path / name
        make_member_node(path, seed=hashlib.sha256(name.encode()).digest())
        store = await Store.open(path, clock=FakeClock(1_700_000_000_000 + offset))
        for other in stores:  # each knows the other is a member, as if admissions spread
            await other.ingest(admitted(store.key))
            await store.ingest(admitted(other.key))
        stores.append(store)
        service = NodeService(store, Config(mdns=False), rng=random.Random(name))
        await service.start(host="127.0.0.1", port=0, gossip=False, mdns=False)
        services.append(service)
    a, b = services
    try:
        assert a.gossip is not None
        await a.gossip.sync_peer(b.url)
        offsets = await a.store.db.read(peerbook.clock_offsets, since_ms=0)
        assert offsets == [120]
        [finding] = [f for f in await run_checks(a.store, Config(), network=False)
                     if f.check == "clock"]
        assert finding.status == ACTION and "120 s behind" in finding.message
    finally:
        for service in services:
            await service.stop()
        for store in stores:
            await store.close()


@pytest.mark.parametrize(("device", "written_per_day_mb", "status"), [
    ("mmcblk0", 3 * 1024, WARN),  # an SD card written 3 GB a day wears out
    ("mmcblk0", 1024, OK),
    ("sda", 30 * 1024, OK),  # a disk or SSD takes it
])
def test_storage_wear_warns_only_for_an_sd_card_written_hard(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, device: str,
        written_per_day_mb: int, status: str) -> None:
    import node.doctor as doctor

    sys_block = tmp_path / device
    sys_block.mkdir()
    uptime_s = 2 * 86_400.0
    sectors = written_per_day_mb * 1024 * 1024 * 2 // 512
    # /sys/block/<dev>/stat: the 7th field is sectors written.
    sys_block.joinpath("stat").write_text(f"1 0 2 3 4 0 {sectors} 5 0 6 7\n")
    monkeypatch.setattr(doctor, "_block_device", lambda path: (device, sys_block))
    monkeypatch.setattr(doctor, "_uptime_s", lambda: uptime_s)
    finding = check_wear(tmp_path)
    assert finding.status == status
    assert f"{device} is written about" in finding.message
    if status == WARN:
        assert "USB" in finding.message
