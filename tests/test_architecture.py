"""The house's shape (#27, augment/ARCHITECTURE.md), read from the source with ``ast``:
imports run one way (no cycles among the package's modules, counting the imports made
inside functions), nothing that runs a job imports the command line, and no module grows
past what one reads in a sitting."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "augment"

MAX_LINES = 600


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:`` (never run)."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skipped


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports, at the top or inside a function.

    ``from augment.x import y`` is an edge to ``augment.x.y`` where that is a module,
    else to ``augment.x``; relative imports are resolved. A package's ``__init__`` that
    runs on the way to a submodule is not counted: that is how packages work, and
    ``augment/__init__.py`` imports nothing until a name is asked for.
    """
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        skipped = _type_checking_only(tree)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                edges |= {a.name for a in node.names if a.name in modules}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                if source.split(".")[0] != "augment":
                    continue
                for alias in node.names:
                    target = f"{source}.{alias.name}"
                    edges.add(target if target in modules else source)
        graph[name] = {e for e in edges if e in modules and e != name}
    return graph


def cycles(graph: dict[str, set[str]], allowed: set[tuple[str, str]] = frozenset()) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if (v, w) in allowed:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def _edges_within(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    members = set(component)
    return [f"{a} -> {b}" for a in component for b in sorted(graph[a] & members)]


def test_the_graph_sees_imports_inside_functions_and_relative_ones():
    graph = import_graph()
    assert "augment.keys" in graph["augment.jobs.local"], "jobs.local imports keys inside a function"
    assert "augment.storage" in graph["augment.keys"]
    assert "augment.jobs.local" in graph["augment.jobs"], "the package's __init__ counts as augment.jobs"
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"a"}}, allowed={("b", "a")}) == []


def test_no_import_cycles():
    """Imports run one way: a cycle means two modules each need the other, so neither can be
    read (or changed) alone. None is excepted: the preview's widget is imported lazily (the
    static preview never imports ipywidgets, tests/test_preview.py), but it imports the
    preview's modules, not the package that imports it, so it closes no cycle either."""
    graph = import_graph()
    found = cycles(graph, set())
    assert not found, "import cycles:\n" + "\n".join(", ".join(_edges_within(graph, c)) for c in found)


@pytest.mark.parametrize("low", [
    "augment.keys", "augment.locations", "augment.images", "augment.preview", "augment.replay",
    "augment.plan._measure", "augment.plan._disk", "augment.container", "augment.storage", "augment.files",
    "augment.spec",
])
def test_nothing_low_level_reaches_up_into_the_local_runtime(low):
    """The S3 client lives in augment.storage: the modules below the launchers take it from there."""
    assert "augment.jobs.local" not in import_graph()[low]


def test_keys_and_the_local_runtime_do_not_import_each_other():
    graph = import_graph()
    assert "augment.jobs.local" not in graph["augment.keys"]


def test_storage_and_file_helpers_import_nothing_above_them():
    graph = import_graph()
    assert graph["augment.storage"] <= {"augment.files"}
    assert graph["augment.files"] <= {"augment.errors", "augment.text"}
    assert "augment.images" not in graph["augment.spec"], "spec writes atomically through augment.files"


def test_nothing_that_runs_a_job_imports_the_command_line():
    """The CLI parses and presents; the library names parameters, not flags."""
    below = ("augment.jobs", "augment.plan", "augment.engine")
    offenders = sorted(f"{name} -> {edge}" for name, edges in import_graph().items() if name.startswith(below)
                       for edge in edges if edge == "augment.cli" or edge.startswith("augment.cli."))
    assert not offenders, offenders


def test_the_image_tooling_does_not_import_the_launchers():
    """The launchers import the image tooling (source files, image URIs); CodeBuild's default
    bucket and role come from augment.sagemaker_sdk, below both, not from the SageMaker backend."""
    graph = import_graph()
    offenders = sorted(f"{name} -> {edge}" for name, edges in graph.items()
                       if name == "augment.container" or name.startswith("augment.container.")
                       for edge in edges if edge.startswith("augment.jobs"))
    assert not offenders, offenders
    assert graph["augment.sagemaker_sdk"] <= {"augment.aws", "augment.errors", "augment.text"}


def test_no_module_grows_past_what_one_reads_in_a_sitting():
    """None over ~600 lines: a module holds one idea, read in a sitting."""
    sizes = {path.relative_to(PACKAGE.parent).as_posix(): len(path.read_text().splitlines())
             for path in _modules().values()}
    over = {m: n for m, n in sizes.items() if n > MAX_LINES}
    assert not over, f"over {MAX_LINES} lines: {over}; split by idea"
