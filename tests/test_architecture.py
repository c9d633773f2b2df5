"""The layering STYLE.md asks for, checked on the source: which package may import what."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "challengers"
CLI = ROOT / "cli"


def _imports(path: Path) -> set[str]:
    """Top-level package names a module imports, at any depth of the file (lazy imports too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _modules(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def test_only_the_tracking_package_imports_mlflow() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in _modules(LIBRARY) + _modules(CLI)
        if "mlflow" in _imports(p) and p.parent.name != "tracking"
    ]
    assert offenders == []


@pytest.mark.parametrize("package", ["typer", "rich", "click"])
def test_the_library_never_imports_the_terminal(package: str) -> None:
    offenders = [str(p.relative_to(ROOT)) for p in _modules(LIBRARY) if package in _imports(p)]
    assert offenders == []


def test_no_pandas_in_the_library() -> None:
    """Data stays in polars and numpy (float32 matrices) from scan to score: no pandas copy."""
    offenders = [str(p.relative_to(ROOT)) for p in _modules(LIBRARY) if "pandas" in _imports(p)]
    assert offenders == []


def test_the_cli_reaches_models_only_through_the_library() -> None:
    """The CLI is a shell: no training library is imported by it directly."""
    native = {"lightgbm", "xgboost", "pyod", "networkx", "optuna", "sklearn"}
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imports(p) & native)
        for p in _modules(CLI)
        if _imports(p) & native
    }
    assert offenders == {}


def test_the_scan_sees_lazy_imports() -> None:
    """The checks above would pass vacuously if the scan missed imports inside functions."""
    assert "mlflow" in _imports(LIBRARY / "tracking" / "store.py")
    assert "typer" in _imports(CLI / "main.py")
