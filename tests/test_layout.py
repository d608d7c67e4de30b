"""The product does not depend on the developer tools or on test fixtures: tools/ and
tests/ are not installed with the package, so an import of either from orchestration/
would work in a checkout and fail in a deployment."""

import ast
import importlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOT_PRODUCT = ("tools", "tests")


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_the_product_imports_neither_tools_nor_test_fixtures():
    offenders = {
        str(path.relative_to(REPO)): sorted(m for m in imported_modules(path) if m.split(".")[0] in NOT_PRODUCT)
        for path in (REPO / "orchestration").rglob("*.py")
    }
    assert {path: mods for path, mods in offenders.items() if mods} == {}


def test_every_dev_tool_imports():
    """The tools import the product's modules by path; a module moved or renamed in
    orchestration/lib breaks them here rather than on the next benchmark."""
    tools = sorted(p.stem for p in (REPO / "tools").glob("*.py") if p.stem != "__init__")
    assert {"feeds_doc", "bench_disclosure", "measure_ingest", "measure_identity"} <= set(tools)
    for name in tools:
        importlib.import_module(f"tools.{name}")
