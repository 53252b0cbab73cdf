"""The key file: created 0600, refused if others can read it, checked for damage."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from node import (
    AlreadyInitialised,
    KeyFileInsecure,
    KeyFileInvalid,
    NotInitialised,
    Store,
    create_key_file,
    init_node,
    load_key_file,
)

from ..peer_entries import NETWORK


def test_key_file_is_created_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    key = create_key_file(path, bytes(range(32)))
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert load_key_file(path).public == key.public


def test_key_file_is_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    create_key_file(path, bytes(32))
    with pytest.raises(AlreadyInitialised):
        create_key_file(path, bytes(range(32)))


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606])
def test_key_readable_by_others_is_refused_with_the_fix(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "node.key"
    create_key_file(path, bytes(32))
    os.chmod(path, mode)
    with pytest.raises(KeyFileInsecure) as caught:
        load_key_file(path)
    assert f"chmod 600 {path}" in caught.value.message


async def test_node_refuses_to_start_with_an_insecure_key(data_dir: Path) -> None:
    os.chmod(data_dir / "node.key", 0o644)
    with pytest.raises(KeyFileInsecure, match="chmod 600"):
        await Store.open(data_dir)


def test_damaged_key_file(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"hedgerow-node-key-v1\nnot hex at all\n")
    os.close(fd)
    with pytest.raises(KeyFileInvalid):
        load_key_file(path)
    path.write_bytes(b"-----BEGIN OPENSSH PRIVATE KEY-----\n")
    with pytest.raises(KeyFileInvalid, match="not a Hedgerow node key"):
        load_key_file(path)


def test_missing_key_says_how_to_start(tmp_path: Path) -> None:
    with pytest.raises(NotInitialised, match="hedgerow init"):
        load_key_file(tmp_path / "node.key")


def test_init_refuses_an_existing_node(data_dir: Path) -> None:
    with pytest.raises(AlreadyInitialised):
        init_node(data_dir, network=NETWORK, seed=bytes(32), now_ms=1)
    assert os.stat(data_dir).st_mode & 0o777 == 0o700
    assert os.stat(data_dir / "hedgerow.db").st_mode & 0o777 == 0o600
