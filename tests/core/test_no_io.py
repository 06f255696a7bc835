"""core does no network or process I/O: no module under gpufleet/core imports sockets, subprocesses, HTTP or
urllib.request, at the top or inside a function. import-linter's "core does no I/O" contract holds the
top-level packages; it cannot name urllib.request (core.redact rightly uses urllib.parse), so this walks the
source itself."""

from __future__ import annotations

import ast
from pathlib import Path

import gpufleet.core

FORBIDDEN = ("socket", "ssl", "subprocess", "http", "urllib.request", "urllib.error", "requests", "httpx", "urllib3")


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) for every import in the tree, nested ones included."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            # `from urllib import request` names the submodule in the alias
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


def _forbidden(module: str) -> bool:
    return any(module == f or module.startswith(f + ".") for f in FORBIDDEN)


def test_no_core_module_imports_network_or_process_io() -> None:
    root = Path(gpufleet.core.__file__).parent
    files = sorted(root.rglob("*.py"))
    assert len(files) > 5  # the walk found core, not an empty folder
    bad = [
        f"{f.relative_to(root.parent)}:{line} imports {mod}"
        for f in files
        for line, mod in _imports(ast.parse(f.read_text(), str(f)))
        if _forbidden(mod)
    ]
    assert bad == []


def test_the_walk_catches_every_form_of_import() -> None:
    src = (
        "import socket\n"
        "def f():\n    from urllib import request\n    import http.client as h\n"
        "from urllib.parse import urlsplit\n"
    )
    caught = sorted({m for _, m in _imports(ast.parse(src)) if _forbidden(m)})
    assert caught == ["http.client", "socket", "urllib.request"]
