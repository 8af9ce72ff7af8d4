"""The census: every public top-level name of Optax 0.2.8 is in gradxform or a documented difference.

Optax's names are found from ``dir(optax)``, leaving out its per-optimizer ``*State`` classes (a
gradxform state is its chain's own), the submodules ``optax.losses`` and ``optax.projections``,
and the loss functions re-exported at the top level (found in ``optax.losses``). The deliberate
differences are the table of the section "Optax names gradxform does not provide" of
``docs/migration.md``, parsed here so that the page and the test cannot drift: a row ``name``
is a name gradxform does not provide; a row ``name(arg, ...)`` is a name it provides without
Optax's keyword arguments ``arg, ...``.
"""
from __future__ import annotations

import inspect
import pathlib
import re
import types
import typing

import optax
import optax.losses
import pytest

import gradxform as gx

MIGRATION = pathlib.Path(__file__).resolve().parents[1] / "docs" / "migration.md"
SECTION = "## Optax names gradxform does not provide"
ROW = re.compile(r"^\|\s*`(?P<name>\w+)(?:\((?P<args>[\w, ]*)\))?`\s*\|\s*(?P<reason>.*?)\s*\|\s*$")


def optax_names() -> list[str]:
    losses = {n for n in dir(optax.losses) if not n.startswith("_")}
    names = []
    for name in dir(optax):
        obj = getattr(optax, name)
        if name.startswith("_") or name in ("losses", "projections"):
            continue
        if name.endswith("State") and inspect.isclass(obj):
            continue
        if name in losses and getattr(optax.losses, name) is obj:
            continue
        names.append(name)
    return sorted(names)


def documented() -> dict[str, tuple[set[str], str]]:
    """The table's rows: ``name -> (arguments left out, reason)``; no arguments: the whole name."""
    text = MIGRATION.read_text()
    assert SECTION in text, f"{MIGRATION} has no section {SECTION!r}"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    assert lines[:2] and re.match(r"^\|\s*name\s*\|\s*reason\s*\|$", lines[0]), lines[:1]
    rows: dict[str, tuple[set[str], str]] = {}
    for line in lines[2:]:
        match = ROW.match(line)
        assert match, f"a row of the table is not | `name` | reason | or | `name(arg, ...)` | reason |: {line}"
        name, reason = match["name"], match["reason"]
        assert name not in rows, f"{name} is listed twice"
        assert reason, f"{name} is listed without a reason"
        args = {a.strip() for a in (match["args"] or "").split(",") if a.strip()}
        assert match["args"] is None or args, f"{name}() lists no arguments"
        rows[name] = (args, reason)
    return rows


NAMES = optax_names()
DOCUMENTED = documented()


def kind(obj) -> str:
    """module, type alias, class or function: the kind of thing a public name is."""
    if isinstance(obj, types.ModuleType):
        return "module"
    if obj is typing.Any or isinstance(obj, (types.GenericAlias, types.UnionType)) or (
            type(obj).__module__ == "typing" and not isinstance(obj, type)):
        return "type alias"
    if inspect.isclass(obj):
        return "class"
    return "function" if callable(obj) else "value"


def keywords(obj) -> set[str] | None:
    """The names ``obj`` can be called with by keyword; ``None`` when it has no signature."""
    try:
        parameters = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name for p in parameters if p.kind in kinds}


def test_the_census_covers_optax_names_and_leaves_out_states_and_losses():
    assert len(NAMES) > 150
    assert {"adam", "chain", "inject_hyperparams", "tree_map_params", "OptState"} <= set(NAMES)
    assert "ScaleByAdamState" not in NAMES and "softmax_cross_entropy" not in NAMES
    assert "losses" not in NAMES and "projections" not in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_every_optax_name_is_provided_or_documented_as_a_difference(name):
    provided = hasattr(gx, name)
    args, _ = DOCUMENTED.get(name, (None, None))
    if args is None:
        assert provided, (
            f"gradxform has no {name!r}, Optax's {kind(getattr(optax, name))}: provide it, or list it "
            f"with the reason in the table of '{SECTION}' in docs/migration.md")
    elif not args:
        assert not provided, f"docs/migration.md lists {name!r} as not provided, but gradxform has it"
    else:
        assert provided, f"docs/migration.md lists arguments of {name!r}, which gradxform does not have"


@pytest.mark.parametrize("name", [n for n in NAMES if hasattr(gx, n)])
def test_a_provided_name_is_the_same_kind_of_thing_as_optax_s(name):
    ours, theirs = kind(getattr(gx, name)), kind(getattr(optax, name))
    assert ours == theirs, f"gradxform's {name} is a {ours}, Optax's a {theirs}"


@pytest.mark.parametrize("name", [n for n in NAMES if hasattr(gx, n) and kind(getattr(optax, n)) in
                                  ("function", "class")])
def test_a_provided_name_takes_every_keyword_argument_optax_s_takes(name):
    theirs, ours = keywords(getattr(optax, name)), keywords(getattr(gx, name))
    if theirs is None:
        return  # a builtin or a Protocol without a Python signature: nothing to compare
    assert ours is not None, f"gradxform's {name} has no signature to compare"
    missing = theirs - ours
    left_out = DOCUMENTED.get(name, (set(), ""))[0]
    assert missing == left_out, (
        f"gradxform's {name} lacks Optax's keyword arguments {sorted(missing)}; docs/migration.md "
        f"lists {sorted(left_out)}. Add them, or list them as name(arg, ...) with the reason")


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_every_listed_name_is_an_optax_name(name):
    assert name in NAMES, f"docs/migration.md lists {name!r}, which is not one of Optax's public names"


def test_the_table_parser_reads_names_arguments_and_reasons():
    assert ROW.match("| `nnls` | a solver |")["name"] == "nnls"
    match = ROW.match("| `bias_correction(moment, count)` | a clash |")
    assert match["name"] == "bias_correction" and match["args"] == "moment, count"
    assert ROW.match("| nnls | no backticks |") is None
