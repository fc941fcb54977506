"""The package's shape, checked: no import cycle (module-level or inside functions), no file over 400
lines, no function body over 60 lines (docstring aside) without a stated reason, and every registered
task in its own folder."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "bertkit"
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60
LONG_FUNCTIONS: dict[str, str] = {}  # "path:function" -> why it may be longer


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ["bertkit", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The bertkit modules `path` imports anywhere in it (a package's `from p import m` counts as p.m)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {m for m in found if m in known and m != name}


def test_no_import_cycles():
    mods = modules()
    graph = {name: imports(path, name, set(mods)) for name, path in mods.items()}
    # Importing a module runs its parent packages' __init__ first: that edge is Python's, not a cycle.
    state, stack, cycles = {}, [], []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == []
    assert len(graph) > 60 and sum(map(len, graph.values())) > 150  # the walk saw the package


def test_small_files_and_functions():
    long_files, long_functions = [], []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MAX_FILE_LINES:
            long_files.append(f"{path.relative_to(PACKAGE)}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body[1:] if ast.get_docstring(node) and len(node.body) > 1 else node.body
                n = node.end_lineno - body[0].lineno + 1  # the code, without signature and docstring
                key = f"{path.relative_to(PACKAGE)}:{node.name}"
                if n > MAX_FUNCTION_LINES and key not in LONG_FUNCTIONS:
                    long_functions.append(f"{key}: {n} lines")
    assert long_files == [] and long_functions == []


def test_each_task_lives_in_its_own_folder():
    from bertkit.tasks import TASKS

    for name, task in TASKS.items():
        assert task.__module__.startswith(f"bertkit.tasks.{name}."), (name, task.__module__)
        assert (PACKAGE / "tasks" / name / "__init__.py").exists()
