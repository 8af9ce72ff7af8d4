"""The package is folded by layer: no import circles, the command line apart from the library,
and an ``__init__`` that lists every public name once, grouped by layer and sorted."""
import ast
import inspect
import re
from pathlib import Path

import gradxform as gx

PACKAGE = Path(gx.__file__).parent
LAYERS = ["core", "transforms", "aliases", "schedules", "wrappers", "grouped", "state"]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Modules of gradxform that ``path`` imports at module level (not inside functions)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
            if node.module:
                found.add(target)
            else:
                found.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gradxform"):
            found.add(node.module)
    return {name for name in found if (PACKAGE.parent / (name.replace(".", "/") + ".py")).exists()}


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"}


def test_no_module_imports_itself_back_through_a_circle():
    graph = _graph()
    state: dict[str, str] = {}

    def visit(name, trail):
        if state.get(name) == "done":
            return
        assert state.get(name) != "open", "import circle: " + " -> ".join(trail + [name])
        state[name] = "open"
        for target in sorted(graph.get(name, ())):
            visit(target, trail + [name])
        state[name] = "done"

    for name in sorted(graph):
        visit(name, [])


def test_the_library_never_imports_the_command_line():
    for name, targets in _graph().items():
        if not name.startswith(("gradxform.compare", "gradxform.__main__")):  # __main__ is the command
            assert not [t for t in targets if t.startswith("gradxform.compare")], name


def test_core_imports_nothing_from_the_layers_above_it():
    for name, targets in _graph().items():
        if name.startswith("gradxform.core."):
            assert all(t.startswith("gradxform.core.") for t in targets), (name, targets)


def test_init_lists_every_public_name_once_grouped_by_layer_and_sorted():
    lines = re.findall(r"^from \.([\w.]+) import (\w+) as (\w+)$", (PACKAGE / "__init__.py").read_text(), re.M)
    assert all(name == alias for _, name, alias in lines)
    names = [name for _, name, _ in lines]
    assert len(names) == len(set(names))
    layers = [module.split(".")[0] for module, _, _ in lines]
    order = [layer for i, layer in enumerate(layers) if i == 0 or layers[i - 1] != layer]
    assert order == LAYERS  # each layer once, in this order
    for layer in LAYERS:
        block = [(module, name) for module, name, _ in lines if module.split(".")[0] == layer]
        assert block == sorted(block)
    public = {n for n in dir(gx) if not n.startswith("_") and not inspect.ismodule(getattr(gx, n))}
    assert public == set(names)


def test_one_definition_of_each_type_alias():
    for alias in ("PyTree", "Schedule", "ScalarOrSchedule", "Mask"):
        defined = [p for p in PACKAGE.rglob("*.py") if re.search(rf"^{alias} = ", p.read_text(), re.M)]
        assert [p.relative_to(PACKAGE).as_posix() for p in defined] == ["core/types.py"], alias
