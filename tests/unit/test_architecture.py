"""One outside SDK, one home — checked at module granularity (import-linter checks packages)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "breakglass"
HOMES: dict[str, str | tuple[str, ...]] = {
    "kubernetes_asyncio": "kube.py",
    "github": "forge/github.py",
    "gitlab": "forge/gitlab.py",
    "aiohttp": ("web/", "notify/http.py"),
    "ruamel": "gitops/roundtrip.py",
    "psycopg": "journal/postgresql.py",
}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_each_sdk_is_imported_only_in_its_home():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        for sdk in imports(path) & set(HOMES):
            known = HOMES[sdk]
            homes = (known,) if isinstance(known, str) else known
            if not any(rel == h or (h.endswith("/") and rel.startswith(h)) for h in homes):
                offenders.append(f"{rel} imports {sdk} (home: {', '.join(homes)})")
    assert offenders == []


def test_every_module_says_why_it_exists():
    missing = [
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if path.stat().st_size and not ast.get_docstring(ast.parse(path.read_text()))
    ]
    assert missing == []
