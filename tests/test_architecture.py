"""The rules of the codebase's shape, checked: who may import whom.

* protocol/ is sans-I/O (DESIGN.md "Architecture"): it imports only what is
  on an allow-list of pure modules, never node/ or cli/;
* node/ is layered: the store imports nothing from sync, views, exports or
  web; sync nothing from views, exports or web; views and exports nothing
  from sync or web; nothing in node imports cli.

Every import counts: at the top of a module, inside a function, or only for
type checking.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import protocol

ROOT = Path(__file__).resolve().parents[1]

#: What protocol/ may import: pure standard-library modules and the
#: encoding and crypto libraries. Anything else (the clock, randomness, the
#: file system, the network, threads) is I/O and belongs in node/.
PROTOCOL_MAY_IMPORT = frozenset({
    "__future__", "array", "base64", "binascii", "bisect", "collections", "dataclasses", "enum",
    "functools", "hashlib", "heapq", "hmac", "ipaddress", "itertools", "math", "operator",
    "re", "struct",
    "types", "typing", "cryptography", "msgpack", "msgspec", "protocol",
})

#: node/'s layers: a module in the first may not import any of the second.
LAYER_RULES = {
    "node.store": ("node.sync", "node.views", "node.exports", "node.web", "cli"),
    "node.sync": ("node.views", "node.exports", "node.web", "cli"),
    "node.views": ("node.sync", "node.web", "cli"),
    "node.exports": ("node.sync", "node.web", "cli"),
    "node": ("cli",),
}


def module_name(path: Path) -> tuple[str, bool]:
    """The dotted name of a source file, and whether it is a package's ``__init__``."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, as absolute dotted names (relative ones resolved)."""
    name, is_package = module_name(path)
    return imports_of(path.read_text(encoding="utf-8"), name, is_package=is_package)


def imports_of(source: str, name: str, *, is_package: bool = False) -> set[str]:
    package = name if is_package else name.rpartition(".")[0]
    tree = ast.parse(source)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            # `from package import module` imports the module too.
            found.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
            found.add("__import__")
    return found


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def python_files(folder: str) -> list[Path]:
    files = sorted((ROOT / folder).rglob("*.py"))
    assert files, folder
    return files


def test_protocol_imports_only_pure_modules() -> None:
    for path in python_files("protocol"):
        tops = {m.split(".")[0] for m in imported_modules(path)}
        bad = tops - PROTOCOL_MAY_IMPORT
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)} (protocol/ is sans-I/O)"


@pytest.mark.parametrize("layer", sorted(LAYER_RULES))
def test_node_layers(layer: str) -> None:
    forbidden = LAYER_RULES[layer]
    checked = 0
    for path in python_files("node"):
        name, _ = module_name(path)
        # The most specific rule applies: node.store's rule, not node's, to its modules.
        owner = max((p for p in LAYER_RULES if within(name, p)), key=len)
        if owner != layer:
            continue
        checked += 1
        for imported in imported_modules(path):
            bad = [f for f in forbidden if within(imported, f)]
            assert not bad, f"{path.relative_to(ROOT)} ({layer}) imports {imported}"
    assert checked, f"no modules found in {layer}"


def test_the_checker_resolves_relative_and_late_imports() -> None:
    source = "def f():\n    from ..sync import peerbook\nfrom . import ingest\n"
    found = imports_of(source, "node.store.feed")
    assert {"node.sync.peerbook", "node.store.ingest"} <= found
    assert "node.sync.peerbook" in imports_of("from .sync import peerbook", "node",
                                             is_package=True)


def test_protocol_public_api_is_declared() -> None:
    for name in protocol.__all__:
        assert hasattr(protocol, name), name
    assert len(set(protocol.__all__)) == len(protocol.__all__)


def test_every_package_declares_its_public_api() -> None:
    for folder in ("protocol", "node", "cli"):
        for init in sorted((ROOT / folder).rglob("__init__.py")):
            tree = ast.parse(init.read_text(encoding="utf-8"))
            assert ast.get_docstring(tree), f"{init.relative_to(ROOT)} has no docstring"
            names = {t.id for n in tree.body if isinstance(n, ast.Assign | ast.AnnAssign)
                     for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
                     if isinstance(t, ast.Name)}
            assert "__all__" in names, f"{init.relative_to(ROOT)} does not declare __all__"
