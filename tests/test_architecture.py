"""The rules of the codebase's shape, checked: protocol/ is pure and typed."""

from __future__ import annotations

import ast
from pathlib import Path

import protocol

ROOT = Path(__file__).resolve().parents[1]
#: protocol/ is sans-I/O (DESIGN.md "Architecture"): none of these, ever.
FORBIDDEN = {"asyncio", "aiohttp", "sqlite3", "sqlite_utils", "time", "random", "os", "socket",
             "apscheduler", "node", "cli", "subprocess", "threading", "secrets", "datetime",
             "urllib", "http", "pathlib", "io", "shutil", "signal", "select", "selectors"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
            names.add("__import__")
    return names


def test_protocol_imports_no_io() -> None:
    files = sorted((ROOT / "protocol").rglob("*.py"))
    assert files
    for path in files:
        bad = imported_modules(path) & (FORBIDDEN | {"__import__", "importlib"})
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_protocol_public_api_is_declared() -> None:
    for name in protocol.__all__:
        assert hasattr(protocol, name), name
    assert len(set(protocol.__all__)) == len(protocol.__all__)
