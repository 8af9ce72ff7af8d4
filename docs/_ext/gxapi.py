"""The API reference, generated from the package at build time: ``.. gx-api:: <layer>``.

Each page of ``docs/api/`` holds one such directive. It reads ``gradxform/__init__.py``'s
re-export lines (``from .<layer>.<module> import name as name``), takes every public name of
``gradxform`` (and of ``gradxform.tree``), and writes a section per source module: a summary table,
then ``autofunction`` / ``autoclass`` / ``autoexception`` for each name, or a ``py:data`` entry
for a type alias, whose description is the comment beside its definition. A name added to
``__init__.py`` is on its layer's page at the next build; there is no list to keep up.

A NamedTuple without a docstring of its own (a state) is documented by the comments beside its
fields (the style guide asks for one per field) and, where its CamelCase name less ``State`` is
a public factory, by a link to it. ``tests/test_docs.py`` uses :func:`documentation` to check
that every public name has a description, and :func:`names_by_layer` that every name has a page.
"""
from __future__ import annotations

import enum
import importlib
import inspect
import re
from pathlib import Path
from typing import Any, NamedTuple

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

PACKAGE = "gradxform"
TREE_LAYER = "tree"
LAYERS = ("core", "transforms", "aliases", "schedules", "wrappers", "grouped", "state", TREE_LAYER)
REEXPORT = re.compile(r"^from \.([\w.]*) import (\w+) as (\w+)", re.M)


class Entry(NamedTuple):
    """One public name: where users reach it, what it is, and the module that defines it."""

    name: str  # as users write it after the package: "adam", "tree.get"
    obj: Any
    module: str  # the defining module, for grouping: "gradxform.aliases.adam_family"


def _package():
    return importlib.import_module(PACKAGE)


def _defining_module(obj: Any, fallback: str) -> str:
    module = getattr(obj, "__module__", None)
    return module if isinstance(module, str) and module.startswith(PACKAGE + ".") else fallback


def _source_module(package_module: Any, imported_from: str) -> str:
    """``aliases`` in ``from .aliases import adam`` names a package; resolve the module it came from."""
    return f"{package_module.__name__}.{imported_from}" if imported_from else package_module.__name__


def _public(module: Any) -> list[str]:
    return [n for n in dir(module) if not n.startswith("_") and not inspect.ismodule(getattr(module, n))]


def names_by_layer() -> dict[str, list[Entry]]:
    """Every public name of the package, by layer, in ``__init__.py``'s order.

    The layer of a top-level name is the subpackage its re-export line imports it from; the
    names of the ``gradxform.tree`` module form the layer ``tree``. A public name that no
    re-export line accounts for raises, so it cannot fall off the reference unseen.
    """
    package = _package()
    layers: dict[str, list[Entry]] = {layer: [] for layer in LAYERS}
    seen = set()
    for imported_from, name, _ in REEXPORT.findall(Path(package.__file__).read_text()):
        if name.startswith("_") or name in seen or not hasattr(package, name):
            continue
        obj = getattr(package, name)
        if inspect.ismodule(obj):
            continue
        seen.add(name)
        layer = imported_from.split(".")[0]
        if layer not in layers:
            raise ValueError(f"gx-api: {name} is imported from {imported_from!r}, not one of the layers {LAYERS}")
        source = _source_module(package, imported_from)
        layers[layer].append(Entry(name, obj, _defining_module(obj, source)))
    missing = sorted(set(_public(package)) - seen)
    if missing:
        raise ValueError(f"gx-api: public names without a re-export line in __init__.py: {missing}")
    tree = importlib.import_module(f"{PACKAGE}.tree")
    for name in _public(tree):
        obj = getattr(tree, name)
        layers[TREE_LAYER].append(Entry(f"tree.{name}", obj, tree.__name__))
    return layers


# --- What documents each kind of name -------------------------------------------------------

def is_type_alias(obj: Any) -> bool:
    """A name bound to a typing construct (``Params = PyTree``), not a gradxform function or class."""
    return not str(getattr(obj, "__module__", "")).startswith(PACKAGE)


def _is_namedtuple(obj: Any) -> bool:
    return inspect.isclass(obj) and issubclass(obj, tuple) and hasattr(obj, "_fields")


def own_docstring(obj: Any) -> str | None:
    """The docstring written for ``obj``: not one inherited, nor the ``Name(field, ...)`` Python makes."""
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    if not doc or not doc.strip():
        return None
    if _is_namedtuple(obj) and re.fullmatch(rf"{re.escape(obj.__name__)}\(.*\)", doc.strip(), re.S):
        return None
    return inspect.cleandoc(doc)


def _comments_after(lines: list[str], start: int) -> list[str]:
    """The comment beside line ``start``, with the comment lines below it that continue it (their
    ``#`` in the same column); a comment line in another column belongs to what follows it."""
    code, hash_, comment = lines[start].partition("  # ")
    if not hash_:
        return []
    column, text = len(code) + 2, [comment.strip()]
    for line in lines[start + 1:]:
        if not (line.startswith(" " * column + "#") and not line[:column].strip()):
            break
        text.append(line[column + 1:].strip())
    return text


def field_comments(cls: type) -> dict[str, str]:
    """``{field: description}`` (reST) from the comments beside (or just above) a NamedTuple's
    fields; a field of a public class with no comment is described by a link to that class."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    lines = source.splitlines()
    package = _package()
    found: dict[str, str] = {}
    for number, line in enumerate(lines):
        match = re.match(r"^\s+(\w+)\s*:\s*([\w.]+)?", line)
        if not match or match.group(1) not in cls._fields or match.group(1) in found:
            continue
        text = _escape(" ".join(_comments_after(lines, number) or _comments_above(lines, number)))
        annotation = match.group(2) or ""
        if not text and inspect.isclass(getattr(package, annotation, None)):
            text = f"a :class:`{PACKAGE}.{annotation}`"  # a public class documents itself
        if text:
            found[match.group(1)] = text
    return found


def _comments_above(lines: list[str], start: int) -> list[str]:
    """The comment-only lines just above line ``start``."""
    above: list[str] = []
    for previous in reversed(lines[:start]):
        if not previous.strip().startswith("#"):
            break
        above.insert(0, previous.strip()[1:].strip())
    return above


def _definition(entry: Entry) -> tuple[list[str], int] | None:
    """The source lines of the module that defines a type alias, and the line that assigns it."""
    for candidate in (_defining_module(entry.obj, ""), *_candidates(entry.name)):
        if not candidate:
            continue
        lines = Path(importlib.import_module(candidate).__file__ or "").read_text().splitlines()
        for number, line in enumerate(lines):
            if re.match(rf"^{re.escape(entry.name)}\s*(:[^=]*)?=", line):
                return lines, number
    return None


def alias_comment(entry: Entry) -> str | None:
    """The comment beside (or the comment lines just above) a type alias's definition."""
    found = _definition(entry)
    if found is None:
        return None
    lines, number = found
    text = " ".join(_comments_after(lines, number) or _comments_above(lines, number)).strip()
    return _sentence(text) if text else None


def _sentence(text: str) -> str:
    """A comment as a sentence: capitalized, ending with a full stop."""
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _alias_definition(entry: Entry) -> str | None:
    """The right-hand side of a type alias's assignment, as written."""
    found = _definition(entry)
    if found is None:
        return None
    lines, number = found
    return lines[number].split("=", 1)[1].split("  #", 1)[0].strip()


def _candidates(name: str) -> list[str]:
    """The modules that ``__init__.py``'s re-export lines import ``name`` from."""
    package = _package()
    return [_source_module(package, f) for f, n, _ in REEXPORT.findall(Path(package.__file__).read_text()) if n == name]


def factory_of_state(cls: type) -> str | None:
    """``scale_by_momentum`` for ``ScaleByMomentumState``, where the package has that name."""
    if not cls.__name__.endswith("State"):
        return None
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__[: -len("State")]).lower()
    package = _package()
    return snake if callable(getattr(package, snake, None)) else None


def documentation(entry: Entry) -> str | None:
    """What the reference says about a name, or ``None`` where nothing documents it."""
    if is_type_alias(entry.obj):
        return alias_comment(entry)
    doc = own_docstring(entry.obj)
    if doc is not None:
        return doc
    if _is_namedtuple(entry.obj):
        comments = field_comments(entry.obj)
        if comments and set(comments) == set(entry.obj._fields):
            return "\n".join(state_lines(entry.obj, comments))
    return None


def state_lines(cls: type, comments: dict[str, str]) -> list[str]:
    """A NamedTuple's description from its field comments (and its factory, if any)."""
    factory = factory_of_state(cls)
    lead = f"The state of :func:`gradxform.{factory}`." if factory else f"A NamedTuple ``{cls.__name__}``."
    lines = [lead, "", ".. rubric:: Fields", ""]
    for field in cls._fields:
        lines.append(f"* ``{field}``: {comments.get(field, '')}")
    return lines


def _escape(text: str) -> str:
    """A comment as reST: `code` in backquotes as literal text, ``*``, ``|``, ``_`` as themselves."""
    pieces = re.split(r"`([^`]+)`", text)  # odd pieces were between backquotes
    return "".join(f"``{p}``" if i % 2 else re.sub(r"([*`|_\\])", r"\\\1", p) for i, p in enumerate(pieces))


# --- The directive --------------------------------------------------------------------------

def _title(module: str) -> str:
    """A section title for a defining module: its last name, in words (``adam_family`` -> "Adam family")."""
    short = module.rsplit(".", 1)[-1].strip("_").replace("_", " ")
    return short[:1].upper() + short[1:]


def _directive_for(entry: Entry) -> list[str]:
    full = f"{PACKAGE}.{entry.name}"
    obj = entry.obj
    if is_type_alias(obj):
        definition = _alias_definition(entry)
        lines = [f".. py:data:: {entry.name}", ""]
        if definition:
            lines += [f"   ``{entry.name} = {definition}``", ""]
        lines += [f"   {_escape(alias_comment(entry) or '')}", ""]
        return lines
    if inspect.isclass(obj) and issubclass(obj, BaseException):
        return [f".. autoexception:: {full}", ""]
    if inspect.isclass(obj):
        if _is_namedtuple(obj) or issubclass(obj, enum.Enum):
            return [f".. autoclass:: {full}", ""]
        return [f".. autoclass:: {full}", "   :members:", ""]
    return [f".. autofunction:: {full}", ""]


def layer_rst(layer: str) -> list[str]:
    """The reST of a layer's page body: per defining module, a summary table and each name's entry."""
    entries = names_by_layer()[layer]
    by_module: dict[str, list[Entry]] = {}
    for entry in entries:
        by_module.setdefault(entry.module, []).append(entry)
    current = f"{PACKAGE}.{TREE_LAYER}" if layer == TREE_LAYER else PACKAGE
    lines = [f".. currentmodule:: {current}", ""]
    for module, group in by_module.items():
        title = _title(module)
        lines += [title, "-" * len(title), ""]
        lines += [".. autosummary::", "   :nosignatures:", ""]
        lines += [f"   {e.name.split('.')[-1]}" for e in group]
        lines += [""]
        for entry in group:
            lines += _directive_for(entry)
    return lines


class GxApi(SphinxDirective):
    """``.. gx-api:: layer``: every public name of that layer, documented from its docstring."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        layer = self.arguments[0]
        if layer not in LAYERS:
            raise self.error(f"gx-api: unknown layer {layer!r}; the layers are {LAYERS}")
        source = self.get_source_info()[0]
        content = StringList()
        for number, line in enumerate(layer_rst(layer)):
            content.append(line, source, number)
        holder = nodes.section()
        holder.document = self.state.document
        nested_parse_with_titles(self.state, content, holder)
        return holder.children


def _process_namedtuple_docstring(app, what, name, obj, options, lines) -> None:
    """Give a field-commented NamedTuple without a docstring its description from the comments."""
    if what != "class" or not _is_namedtuple(obj) or own_docstring(obj) is not None:
        return
    comments = field_comments(obj)
    if comments:
        lines[:] = state_lines(obj, comments)


def setup(app):
    app.add_directive("gx-api", GxApi)
    app.connect("autodoc-process-docstring", _process_namedtuple_docstring)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
