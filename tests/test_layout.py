"""The layout stays a pipeline: no import cycles, between modules or between packages.

Imports are read with `ast`, at any depth (an import inside a function is still a
dependency, only a later one), so a cycle hidden behind a local import fails too.
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("planner", "executor", "parser", "trajectory", "models", "datasets")


def project_modules() -> dict[str, Path]:
    found = {"loop": ROOT / "loop.py", "run_config": ROOT / "run_config.py"}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `path` imports (`from a import b` counts a.b when that is a module)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        else:
            continue
        out.update(n for n in names if n in modules)
    return out


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph, as a path that ends where it starts; None if acyclic."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def module_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports(path, modules) - {name} for name, path in modules.items()}


def package_graph() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for name, targets in module_graph().items():
        top = name.split(".")[0]
        out.setdefault(top, set()).update(t.split(".")[0] for t in targets if t.split(".")[0] != top)
    return out


def test_the_cycle_finder_finds_a_cycle_and_passes_a_chain():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_project_module_imports_itself_back_through_others():
    assert cycle(module_graph()) is None


def test_the_packages_depend_on_each_other_in_one_direction():
    assert cycle(package_graph()) is None


def test_no_module_re_exports_what_it_imports():
    flagged = [str(p.relative_to(ROOT)) for p in project_modules().values() if "noqa: F401" in p.read_text()]
    assert flagged == []


def test_the_parser_reads_the_run_config_not_the_executor():
    """parser/ turns outside text into objects; what a run is lives in run_config.py."""
    graph = module_graph()
    reached = sorted(f"{m} -> {t}" for m, ts in graph.items() if m.startswith("parser")
                     for t in ts if t.startswith("executor"))
    assert reached == []


def test_the_run_config_imports_no_stage():
    """Every stage reads run_config.py; it reads none of them (stdlib only)."""
    assert module_graph()["run_config"] == set()



def test_no_module_is_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in project_modules().values()
            if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}
