"""The layout holds: imports flow main -> apps -> infers/trainers -> lib and never back up, lib stays free of
MONAI Label, and every hop that docs/architecture.md names is a function that exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import monailabel
import pytest

ROOT = Path(__file__).resolve().parents[1]
# Which top-level packages each part may import from this project.
ALLOWED = {
    "lib": {"lib"},
    "infers": {"lib", "infers"},
    "trainers": {"lib", "trainers"},
    "apps": {"lib", "infers", "trainers", "apps"},
}
PROJECT = {"main", "apps", "infers", "trainers", "lib", "tests"}


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in a file, including those inside functions."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
    return out


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_imports_flow_one_way(part):
    wrong = []
    for path in sorted((ROOT / part).rglob("*.py")):
        for line, module in _imports(path):
            top = module.split(".")[0]
            if top in PROJECT and top not in ALLOWED[part]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_lib_has_no_monai_label_imports():
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted((ROOT / "lib").rglob("*.py"))
        for line, module in _imports(path)
        if module.split(".")[0] == "monailabel"
    ]
    assert not wrong, "\n".join(wrong)


def _defined(path: Path, name: str) -> bool:
    """Whether ``name`` (``function`` or ``Class.method``) is defined at the top of ``path``."""
    scope: list = ast.parse(path.read_text(encoding="utf-8")).body
    for part in name.split("."):
        found = [
            node
            for node in scope
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == part
        ]
        if not found:
            return False
        scope = getattr(found[0], "body", [])
    return True


def test_every_hop_in_the_architecture_page_exists():
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    hops = re.findall(r"`([\w/]+\.py):([\w.]+)`", page)
    assert len(hops) >= 30, "the radiograph's flow should name its hops as `file:function`"
    library = Path(monailabel.__file__).resolve().parents[1]
    missing = []
    for file, name in hops:
        path = (library if file.startswith("monailabel/") else ROOT) / file
        if not path.is_file() or not _defined(path, name):
            missing.append(f"{file}:{name}")
    assert not missing, f"docs/architecture.md names hops that do not exist: {missing}"
