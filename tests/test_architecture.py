"""The layering STYLE.md asks for, checked on the source: which package may import what."""

from __future__ import annotations

import ast
from collections.abc import Iterator
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


# The library's packages and shared modules, top first: each may import only from the layers below
# it (never a sibling of its own layer, never upwards). STYLE.md's table, as the code has it.
LAYERS: list[set[str]] = [
    {"cli"},
    {"pipeline"},  # the only package that sees the whole config
    {"report"},  # renders; computes nothing
    {"experiment_result"},  # everything a run produced
    {"findings"},
    {"tuning", "replication", "audit"},
    {"analysis"},
    {"config"},  # kind sections come from the registered kinds below
    {"models"},
    {"engine"},  # where the steps that touch rows run: local (polars) or Spark
    {"features"},
    {"evaluation"},
    {"data", "tracking", "simulate"},
    {"results", "files", "progress", "interrupts", "allocator", "threads", "figures"},
    {"errors"},
]
LAYER_OF = {unit: depth for depth, layer in enumerate(LAYERS) for unit in layer}


def _module_name(path: Path) -> str:
    """challengers.x.y for challengers/x/y.py (cli/ is installed as challengers.cli)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] == "cli":
        parts = ["challengers", *parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in _modules(LIBRARY) + _modules(CLI)}


def _dependencies(module: str) -> Iterator[str]:
    """The library modules ``module`` imports (type-only and lazy imports included). ``from pkg
    import sub`` depends on the submodule, not on the package that holds it."""
    tree = ast.parse(MODULES[module].read_text())
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = [f"{node.module}.{a.name}" for a in node.names]
            names = [s for s in subs if s in MODULES] or [node.module]
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name and name != module:
                yield name


def _unit(module: str) -> str:
    """The package (or shared top-level module) a module belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "challengers"


def test_every_package_and_shared_module_has_a_layer() -> None:
    units = {_unit(m) for m in MODULES} - {"challengers"}
    assert sorted(units - set(LAYER_OF)) == []
    assert sorted(set(LAYER_OF) - units) == []


def test_imports_point_down_the_layers() -> None:
    upward = sorted(
        f"{module} imports {dep}"
        for module in MODULES
        for dep in _dependencies(module)
        if _unit(dep) != _unit(module)
        and _unit(dep) != "challengers"  # the version string
        and LAYER_OF[_unit(dep)] <= LAYER_OF[_unit(module)]
    )
    assert upward == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_run_in_a_circle() -> None:
    graph = {m: set(_dependencies(m)) for m in MODULES}
    assert _cycles(graph) == []


def test_the_cycle_check_can_fail() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_only_the_tracking_package_imports_mlflow() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in _modules(LIBRARY) + _modules(CLI)
        if "mlflow" in _imports(p) and p.parent.name != "tracking"
    ]
    assert offenders == []


def test_only_the_spark_engine_modules_import_pyspark() -> None:
    """pyspark (and its JVM) is loaded only by engine/spark*.py, only when a run asks for Spark."""
    offenders = [
        str(p.relative_to(ROOT))
        for p in _modules(LIBRARY) + _modules(CLI)
        if "pyspark" in _imports(p)
        and not (p.parent.name == "engine" and p.name.startswith("spark"))
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
