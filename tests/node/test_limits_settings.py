"""Rate limits, peer scores, the settings registry and the peer book's address rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.errors import InvalidInput
from node.settings import SETTINGS, Config, load_config, markdown_table
from node.sync.limits import IGNORE_AT, PeerScores, RateLimiter
from node.sync.peerbook import normalise_address


def test_token_bucket_allows_bursts_then_refills() -> None:
    limiter = RateLimiter(rate=2, burst=4)
    assert [limiter.allow("p", 0.0) for _ in range(4)] == [0.0] * 4
    wait = limiter.allow("p", 0.0)
    assert wait == pytest.approx(0.5)
    assert limiter.allow("p", 0.5) == 0.0  # one token back after half a second
    assert limiter.allow("other", 0.5) == 0.0  # keys are independent


def test_rate_limiter_memory_is_bounded() -> None:
    limiter = RateLimiter(rate=1, burst=1, max_keys=10)
    for i in range(100):
        limiter.allow(f"ip{i}", 0.0)
    assert len(limiter._buckets) == 10


def test_misbehaving_peer_is_ignored_for_a_while() -> None:
    scores = PeerScores()
    for _ in range(IGNORE_AT // 10):
        scores.penalise("rogue", "bad_signature", 0.0)
    assert scores.ignored_for("rogue", 0.0) > 0
    assert scores.ignored_for("rogue", 10_000.0) == 0.0  # points decay
    assert scores.ignored_for("someone-else", 0.0) == 0.0


def test_settings_load_in_order(tmp_path: Path) -> None:
    (tmp_path / "hedgerow.toml").write_text('port = 9000\npeers = ["http://a:1"]\nmdns = false\n')
    config = load_config(tmp_path, environ={"HEDGEROW_PORT": "9100"},
                         overrides={"sync_fanout": 5, "host": None})
    assert config.port == 9100 and config.peers == ["http://a:1"] and config.mdns is False
    assert config.sync_fanout == 5 and config.host == Config().host


@pytest.mark.parametrize(("text", "env", "message"), [
    ("port = 'many'\n", {}, "port (hedgerow.toml): must be a whole number"),
    ("colour = 'red'\n", {}, "unknown setting 'colour'"),
    ("port = [\n", {}, "not valid TOML"),
    ("", {"HEDGEROW_PORT": "70000"}, "port (HEDGEROW_PORT): must be at most 65535"),
    ("", {"HEDGEROW_MDNS": "perhaps"}, "mdns (HEDGEROW_MDNS): must be true or false"),
    ("", {"HEDGEROW_LOG_LEVEL": "loud"}, "log_level (HEDGEROW_LOG_LEVEL): must be one of"),
])
def test_bad_settings_name_the_setting(tmp_path: Path, text: str, env: dict[str, str],
                                       message: str) -> None:
    (tmp_path / "hedgerow.toml").write_text(text)
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(tmp_path, environ=env)


def test_every_setting_is_in_the_table_with_its_help() -> None:
    table = markdown_table()
    for setting in SETTINGS:
        assert f"`{setting.name}`" in table and setting.help in table
        assert setting.env == f"HEDGEROW_{setting.name.upper()}"


@pytest.mark.parametrize(("given", "expected"), [
    ("127.0.0.1:8470", "http://127.0.0.1:8470"),
    ("https://fridge.example.org/", "https://fridge.example.org"),
    ("http://[::1]:9000", "http://[::1]:9000"),
    ("HTTP://Node.Example:80", "http://node.example:80"),
])
def test_peer_addresses_are_normalised(given: str, expected: str) -> None:
    assert normalise_address(given) == expected


@pytest.mark.parametrize("bad", ["ftp://x", "http://x/path", "http://u:p@x", "http://x:99999",
                                 "", "http://x?q=1", "http:// spaced"])
def test_bad_peer_addresses(bad: str) -> None:
    with pytest.raises(InvalidInput):
        normalise_address(bad)
