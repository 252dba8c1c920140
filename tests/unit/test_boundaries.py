"""Boundaries between the domain packages that `lint-imports` cannot state: no package
uses another's private names (`_touch`, `_check_email`), whether imported by name or
reached as an attribute of an imported module. The import order itself (no cycles,
function-level imports included) is `lint-imports`' contract in pyproject.toml."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def _module_of(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_uses(path: Path) -> list[str]:
    """`file:line name` for every private name of another package the file uses."""
    own = _package(_module_of(path))
    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases: dict[str, str] = {}  # local name -> module of another package
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not node.module.startswith("app.") or _package(node.module) == own:
                continue
            for a in node.names:
                if _private(a.name):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.module}.{a.name}")
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("app.") and _package(a.name) != own and a.asname:
                    aliases[a.asname] = a.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and _private(node.attr)
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value.id}.{node.attr}")
    return found


def test_no_package_uses_another_packages_private_names() -> None:
    found = [use for path in sorted(APP.rglob("*.py")) for use in private_uses(path)]
    assert found == []


def test_the_check_finds_a_private_name(tmp_path: Path) -> None:
    # The check itself, on a file written as the code once was (tickets._touch).
    probe = APP / "assignment" / "_probe_boundaries.py"
    probe.write_text(
        "from app.tickets import service as tickets\n"
        "from app.customers.schemas import _check_email\n"
        "tickets._touch(None)\n",
        encoding="utf-8",
    )
    try:
        found = private_uses(probe)
    finally:
        probe.unlink()
    assert [f.split(" ")[1] for f in found] == [
        "app.customers.schemas._check_email",
        "tickets._touch",
    ]
