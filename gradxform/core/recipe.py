r"""The recipe a transformation was built from, kept as data: printed, returned, rendered.

Every public factory of gradxform is decorated with :func:`factory`, which records its name and
the arguments it was called with on the transformation it returns (on its ``update`` function,
so that :class:`GradientTransformation` keeps Optax's two fields). Transformations given as
arguments (a chain's links, a ratio's branches, a wrapper's inner optimizer) are recorded as
their own recipes, so the record is a tree: combinators, primitives, hyperparameter names and
values. An alias keeps the composition it returns as its ``body``:

    adam(learning_rate=0.001, b1=0.9, ...) = chain(ratio([scale_by_momentum(decay=b1, ...), ...

``repr`` prints it (:func:`text`), :func:`recipe` returns it as nested dicts and lists, and
:func:`markdown` renders the update rule in LaTeX for a notebook, term by term from the same
tree (each primitive contributes its own term; see :func:`formula`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import re
import threading
from typing import Any, Callable, Iterator

from .hyperparams import hyperparameter
from .named import Named, value_of

_ATTRIBUTE = "__gradxform_recipe__"
_WIDTH = 100  # characters per line before a recipe is printed over several lines


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One node of a recipe: a factory's name, the arguments shown, and an alias's body."""

    name: str
    args: tuple[tuple[str | None, Any], ...] = ()  # (name, value); name None: positional
    body: "Recipe | None" = None  # the composition an alias returns
    part: bool = False  # a named sub-recipe, printed as its body wherever it stands


@dataclasses.dataclass(frozen=True)
class Opaque:
    """A transformation that carries no recipe (an Optax one, or one built by hand)."""

    description: str


@dataclasses.dataclass(frozen=True)
class Term:
    """A hyperparameter shown by its name (``b1``), or a form of it (``1 - b1``)."""

    text: str


def attach(transform, node: Recipe):
    """``transform`` with ``node`` recorded on its ``update`` function; returns ``transform``."""
    setattr(transform.update, _ATTRIBUTE, node)
    return transform


def of(transform) -> Recipe | Opaque:
    """The recipe recorded on ``transform`` (on its ``update`` function, or on the object itself
    for a class such as :class:`gradxform.MultiSteps`), or an :class:`Opaque` description of it."""
    node = getattr(getattr(transform, "update", None), _ATTRIBUTE, None)
    if node is None and not isinstance(transform, tuple):  # a GradientTransformation is a tuple
        node = vars(transform).get(_ATTRIBUTE) if hasattr(transform, "__dict__") else None
    if node is not None:
        return node
    module = getattr(type(transform), "__module__", "") or ""
    owner = module.split(".")[0] or "a"
    return Opaque(f"<{owner} transformation>")


def call_arguments(build: Callable, node: Recipe) -> tuple[tuple, dict]:
    """The arguments that, passed to the factory ``build``, make again what ``node`` records:
    ``(positional, keywords)``.

    Shown arguments come back by name (a hyperparameter's value, not its :class:`Term`); an
    argument shown without a name (an inner optimizer) is given the name of the first parameter
    of ``build`` not named otherwise, or joins the positional ones at a ``*args`` parameter.
    Arguments left at their default are not shown, so ``build`` supplies them again.
    """
    named = {name: value_of(value) for name, value in node.args if name is not None}
    unnamed = [value for name, value in node.args if name is None]
    open_slots = [p for p in inspect.signature(build).parameters.values() if p.name not in named]
    positional: list = []
    for parameter, value in zip(open_slots, unnamed):
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            positional = unnamed[len(positional):]
            break
        named[parameter.name] = value
    return tuple(positional), named


def record(obj: Any, name: str, **args: Any) -> Recipe:
    """Record ``name(**args)`` on ``obj`` itself, an object with ``init`` and ``update`` methods
    (whose bound ``update`` cannot carry a recipe of its own); returns the node."""
    node = Recipe(name, tuple(args.items()))
    setattr(obj, _ATTRIBUTE, node)
    return node


def named(transform, name: str, **args: Any):
    """``transform`` recorded as ``name(**args)`` (for factories built without :func:`factory`)."""
    return attach(transform, Recipe(name, tuple(args.items())))


def factory(build: Callable) -> Callable:
    """Decorate a public factory so that what it returns records ``name(arguments)``.

    Arguments equal to their default are left out unless they are numbers or schedules (the
    values a reader wants to see); transformations among the arguments become sub-recipes. If
    the factory returns a composition that already records a recipe (an alias returning a
    :func:`gradxform.chain`), that composition becomes the new node's ``body``.
    """
    signature = inspect.signature(build)

    @functools.wraps(build)
    def make(*args, **kwargs):
        with _called(build.__name__):
            transform = build(*args, **kwargs)
        bound = signature.bind(*args, **kwargs)
        # A composition returned as it is (an alias's chain) keeps its recipe as the body.
        inner = getattr(transform.update, _ATTRIBUTE, None)
        shown = _shown_arguments(signature, bound.arguments, _declared(transform), inner is not None)
        return attach(transform, Recipe(build.__name__, shown, body=inner))

    return make


_building = threading.local()  # .names: the factories being built, outermost first


@contextlib.contextmanager
def _called(name: str) -> Iterator[None]:
    """Name the factory the user called in the errors raised while it is built.

    An alias hands its arguments to primitives, which check them: ``radam(b2=1.5)`` is refused by
    ``variance_is_tractable``. A ``ValueError`` or ``TypeError`` raised while the outermost
    factory runs, whose message starts with another function's name (``"variance_is_tractable:
    "``, as every message of :mod:`gradxform.core.check` does), is raised again led by the
    outermost name, the part of its recipe that refused the value kept after it: ``"radam:
    variance_is_tractable: b2 must be in [0, 1), ..."``. The argument is named as the user wrote
    it, because an alias passes its own arguments under their names (:func:`alias`).
    """
    names = getattr(_building, "names", None)
    if names is None:
        names = _building.names = []
    names.append(name)
    try:
        yield
    except (ValueError, TypeError) as error:
        if len(names) > 1:
            raise
        renamed = led_by(error, name)
        if renamed is None:
            raise
        raise renamed from None
    finally:
        names.pop()


def led_by(error: Exception, outer: str) -> Exception | None:
    """``error`` again with ``outer`` (``"lars"``, ``"lars.update"``) before the name that leads
    its message (``"scale_by_trust_ratio: ..."``), or in place of an unnamed inner chain's
    ``"chain.init"`` / ``"chain.update"``; ``None`` to keep it as it is: an error of another
    type, one whose message names no function, or one that already starts with ``outer``'s
    function."""
    if type(error) not in (ValueError, TypeError) or len(error.args) != 1:
        return None
    message = error.args[0]
    if not isinstance(message, str):
        return None
    who, colon, rest = message.partition(": ")
    if not colon or who.split(".")[0] == outer.split(".")[0] or not who.replace(".", "_").isidentifier():
        return None
    if who in ("chain.init", "chain.update") and outer != "chain":
        return type(error)(f"{outer}: {rest}")
    return type(error)(f"{outer}: {message}")


def part(build: Callable) -> Callable:
    """Decorate a sub-recipe that several optimizers share (Adam's debiased moments).

    Its recipe is recorded as by :func:`factory`, and printed as the composition it stands for
    wherever it appears, so a printed optimizer shows every primitive.
    """
    recorded = factory(build)

    @functools.wraps(build)
    def make(*args, **kwargs):
        transform = recorded(*args, **kwargs)
        return attach(transform, dataclasses.replace(of(transform), part=True))

    return make


def alias(*hyperparameters: str) -> Callable[[Callable], Callable]:
    """Decorate an optimizer's factory: declare its hyperparameters once, and record its recipe.

    Each argument named here is given its own name with :func:`gradxform.hyperparameter` before
    the body runs, so that every primitive it is passed to shares it (Adam's ``b1`` reaches the
    momentum and both bias corrections and is stored once, as ``b1``); ``None`` stays ``None``.
    The recipe is recorded as by :func:`factory`, with the values the caller gave.
    """

    def decorate(build: Callable) -> Callable:
        signature = inspect.signature(build)
        unknown = [name for name in hyperparameters if name not in signature.parameters]
        if unknown:
            raise TypeError(f"alias: {build.__name__} has no arguments {unknown}")

        @functools.wraps(build)
        def with_names(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            for name in hyperparameters:
                value = bound.arguments[name]
                if value is not None and not isinstance(value, Named):
                    bound.arguments[name] = hyperparameter(name, value)
            return build(*bound.args, **bound.kwargs)

        return factory(with_names)

    return decorate


def _declared(transform: Any) -> set[str]:
    """The arguments a primitive declared as its own hyperparameters."""
    link = getattr(transform.update, "__gradxform_link__", None)
    if link is None:
        return set()
    return {arg for path, declared in link.declarations if not path for arg in declared.entries}


def _shown_arguments(signature: inspect.Signature, arguments: dict, declared: set[str],
                     composition: bool) -> tuple:
    """The arguments worth printing: those not at their default, and every hyperparameter
    (a primitive's declared ones; a composition's numbers and schedules)."""
    shown: list[tuple[str | None, Any]] = []
    for name, parameter in signature.parameters.items():
        value = arguments.get(name, parameter.default)
        if value is inspect.Parameter.empty:
            continue
        is_default = name not in arguments or _equal(value, parameter.default)
        if is_default and not (name in declared or composition and _is_number_or_schedule(value)):
            continue
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            shown.extend((None, item) for item in value)
        elif parameter.kind is inspect.Parameter.VAR_KEYWORD:
            shown.extend(value.items())
        elif _is_transform_like(value):
            shown.append((None, value))
        else:
            shown.append((name, value))
    return tuple(shown)


def _equal(value: Any, default: Any) -> bool:
    if value is default:
        return True
    if isinstance(value, (bool, int, float, str)) and isinstance(default, (bool, int, float, str)):
        return type(value) is type(default) and value == default
    return False


def _is_number_or_schedule(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) or callable(value)


def _is_transform(value: Any) -> bool:
    return callable(getattr(value, "init", None)) and callable(getattr(value, "update", None))


def _is_transform_like(value: Any) -> bool:
    if _is_transform(value):
        return True
    if isinstance(value, (list, tuple)) and value:
        return all(_is_transform_like(v) or not callable(v) and _is_plain(v) for v in value) and any(
            _is_transform_like(v) for v in value)
    if isinstance(value, dict) and value:
        return all(_is_transform_like(v) for v in value.values())
    return False


def _is_plain(value: Any) -> bool:
    return isinstance(value, (int, float, str, type(None))) or _is_term(value)


def _is_term(value: Any) -> bool:
    return isinstance(value, Named)


# --- Values as they are shown -----------------------------------------------------------------


def _value(value: Any) -> Any:
    """An argument as a recipe holds it: sub-recipes, terms, schedule names, short reprs."""
    if _is_transform(value):
        return of(value)
    if _is_term(value):
        return Term(_term_text(value))
    if isinstance(value, list):
        return [_value(v) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_value(v) for v in value)
    if isinstance(value, dict) and value and all(_is_transform(v) for v in value.values()):
        return {k: _value(v) for k, v in value.items()}
    return value


def _term_text(named: Any) -> str:
    if named.derive is None:
        return named.name
    probe = named.derive(_Symbol(named.name))
    return probe.text if isinstance(probe, _Symbol) else named.name


class _Symbol:
    """Stands for a hyperparameter while a derived form (``1 - b1``) is written out."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __rsub__(self, other: Any) -> "_Symbol":  # one_minus: 1 - h
        return _Symbol(f"{_number(other)} - {self.text}")


def _number(value: Any) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return repr(value)
    if isinstance(value, (int, float)):
        return repr(value)
    label = schedule_label(value)
    if label is not None:
        return label
    shape = getattr(value, "shape", None)
    if shape == () and hasattr(value, "item"):
        try:
            return repr(value.item())
        except Exception:  # a tracer: shown by its kind below
            pass
    if hasattr(value, "dtype") and hasattr(value, "shape") and not callable(value):
        return f"<{value.dtype} array of shape {tuple(value.shape)}>"
    if isinstance(value, type) or type(value).__name__ in ("dtype", "DType"):
        return getattr(value, "__name__", str(value))
    if callable(value):
        return f"<function {getattr(value, '__name__', type(value).__name__)}>"
    text = repr(value)
    return text if len(text) <= 40 else f"<{type(value).__name__}>"


def schedule_label(value: Any) -> str | None:
    """How a schedule built by :mod:`gradxform.schedules` prints (``linear_schedule(...)``)."""
    return getattr(value, "__gradxform_label__", None)


def schedule_factory(build: Callable) -> Callable:
    """Decorate a schedule's factory so that the schedule it returns prints as
    ``name(arguments)`` inside a recipe (``adam(learning_rate=linear_schedule(...))``)."""
    signature = inspect.signature(build)

    @functools.wraps(build)
    def make(*args, **kwargs):
        schedule = build(*args, **kwargs)
        if schedule_label(schedule) is not None:  # another schedule returned as it is: keep its label
            inner = schedule

            def schedule(step):
                return inner(step)

        bound = signature.bind(*args, **kwargs)
        shown = ", ".join(f"{k}={_number(v)}" for k, v in bound.arguments.items())
        schedule.__gradxform_label__ = f"{build.__name__}({shown})"
        return schedule

    return make


# --- Text --------------------------------------------------------------------------------------


def text(transform) -> str:
    """The recipe of ``transform`` as Python-like text (what ``repr`` prints).

    An alias at the top shows its composition (``adam(...) = chain(...)``); an alias inside
    another recipe shows its name and arguments only.
    """
    node = of(transform)
    if isinstance(node, Opaque):
        return f"GradientTransformation(init={transform.init!r}, update={transform.update!r})"
    if node.body is None:
        return _text(node, 0)
    head = _line(Recipe(node.name, node.args))
    return f"{head} = {_text(node.body, 0)}"


def _text(item: Any, indent: int) -> str:
    item = _value(item)
    one_line = _line(item)
    if indent + len(one_line) <= _WIDTH or not _splittable(item):
        return one_line
    pad = " " * (indent + 4)
    if isinstance(item, Recipe) and item.part and item.body is not None:
        return _text(item.body, indent)
    if isinstance(item, Recipe) and item.name == "sequence":
        return _text([value for _, value in item.args], indent)
    if isinstance(item, Recipe):
        parts = [_arg_text(name, value, indent + 4) for name, value in item.args]
        return f"{item.name}(\n" + ",\n".join(pad + p for p in parts) + ")"
    if isinstance(item, list):
        return "[\n" + ",\n".join(pad + _text(v, indent + 4) for v in item) + "]"
    if isinstance(item, tuple):
        return "(\n" + ",\n".join(pad + _text(v, indent + 4) for v in item) + ")"
    if isinstance(item, dict):
        return "{\n" + ",\n".join(f"{pad}{k!r}: {_text(v, indent + 4)}" for k, v in item.items()) + "}"
    return one_line


def _splittable(item: Any) -> bool:
    return isinstance(item, (Recipe, list, tuple, dict))


def _arg_text(name: str | None, value: Any, indent: int) -> str:
    shown = _text(_value(value), indent)
    return shown if name is None else f"{name}={shown}"


def _line(item: Any) -> str:
    item = _value(item)
    if isinstance(item, Recipe) and item.part and item.body is not None:
        return _line(item.body)
    if isinstance(item, Recipe) and item.name == "sequence":
        return _line([_value(value) for _, value in item.args])
    if isinstance(item, Recipe):
        args = ", ".join(_arg_line(name, value) for name, value in item.args)
        return f"{item.name}({args})"
    if isinstance(item, Opaque):
        return item.description
    if isinstance(item, Term):
        return item.text
    if isinstance(item, list):
        return "[" + ", ".join(_line(v) for v in item) + "]"
    if isinstance(item, tuple):
        return "(" + ", ".join(_line(v) for v in item) + ("," if len(item) == 1 else "") + ")"
    if isinstance(item, dict):
        return "{" + ", ".join(f"{k!r}: {_line(v)}" for k, v in item.items()) + "}"
    return _number(item)


def _arg_line(name: str | None, value: Any) -> str:
    shown = _line(_value(value))
    return shown if name is None else f"{name}={shown}"


# --- Plain data ----------------------------------------------------------------------------------


def recipe(transform: Any) -> dict:
    """The recipe of ``transform`` as plain data: nested dicts, lists, strings and numbers.

    A node is ``{"name": ..., "args": {...}, "parts": [...]}`` (``parts`` for positional
    sub-recipes, ``body`` for an alias's composition); a hyperparameter passed by name is
    ``{"hyperparameter": "b1"}``; a schedule is ``{"schedule": "linear_schedule(...)"}``.

    Example:
        >>> import gradxform as gx
        >>> data = gx.recipe(gx.chain(gx.clip_by_global_norm(1.0), gx.scale_by_learning_rate(0.1)))
        >>> data["name"], data["parts"][0]
        ('chain', {'name': 'clip_by_global_norm', 'args': {'max_norm': 1.0}})
    """
    return _data(of(transform))


def _data(item: Any) -> Any:
    item = _value(item)
    if isinstance(item, Recipe):
        node: dict[str, Any] = {"name": item.name}
        args = {name: _data(value) for name, value in item.args if name is not None}
        parts = [_data(value) for name, value in item.args if name is None]
        if args:
            node["args"] = args
        if parts:
            node["parts"] = parts
        if item.body is not None:
            node["body"] = _data(item.body)
        return node
    if isinstance(item, Opaque):
        return {"opaque": item.description}
    if isinstance(item, Term):
        return {"hyperparameter": item.text}
    if isinstance(item, (list, tuple)):
        return [_data(v) for v in item]
    if isinstance(item, dict):
        return {str(k): _data(v) for k, v in item.items()}
    if isinstance(item, (bool, int, float, str)) or item is None:
        return item
    label = schedule_label(item)
    if label is not None:
        return {"schedule": label}
    return _number(item)


# --- The update rule in LaTeX --------------------------------------------------------------------

# A primitive's rule: fn(args, x, fresh) -> (its output, the equations of the state it keeps), where
# ``args`` maps its shown arguments to LaTeX, ``x`` is the LaTeX of its input and ``fresh(symbol)``
# names a new state variable (m, then m', ...). Registered by the modules defining the primitives.
# A primitive that takes transformations (a wrapper's inner optimizer, a momentum branch) finds them
# under ``args[INNER]``, in order, each as a function writing its term of a given input (its state
# equations come before the primitive's own).
Rule = Callable[[dict, str, Callable[[str], str]], tuple[str, list[str]]]
_RULES: dict[str, Rule] = {}
INNER = "(inner)"  # not an argument's name: transformations given as arguments are shown unnamed

# How hyperparameters passed by name are written (anything else is written as \mathrm{name}).
_SYMBOLS = {
    "learning_rate": r"\alpha_t", "b1": r"\beta_1", "b2": r"\beta_2", "eps": r"\epsilon",
    "eps_root": r"\epsilon_{root}", "momentum": r"\mu", "weight_decay": r"\lambda",
    "decay": r"\rho", "rho": r"\rho", "nu1": r"\nu_1", "nu2": r"\nu_2", "eta": r"\eta",
    "gamma": r"\gamma", "trust_coefficient": r"\eta", "max_norm": r"c", "rate": r"\lambda",
    "estim_lr_coef": r"c",
}


def formula(name: str) -> Callable[[Rule], Rule]:
    """Register the LaTeX rule of primitive ``name`` (see :data:`Rule`)."""

    def register(rule: Rule) -> Rule:
        _RULES[name] = rule
        return rule

    return register


def markdown(transform: Any) -> str:
    """The recipe as Markdown: its text, then its update rule :math:`u_t` in LaTeX.

    Generated from the recipe: each primitive writes its own term and the equations of the state
    it keeps; ``chain`` feeds one term into the next, ``ratio`` divides, ``parallel_sum`` adds.
    A primitive without a registered rule is written as an operator of its input.
    """
    equations: list[str] = []
    used: dict[str, int] = {}

    def fresh(symbol: str) -> str:
        count = used.get(symbol, 0)
        used[symbol] = count + 1
        return symbol + "'" * count

    out = _latex(of(transform), "g_t", equations, fresh)
    lines = ["```", text(transform), "```", "", "$$", r"\begin{aligned}"]
    lines += [f"{eq} \\\\" for eq in equations]
    lines += [f"u_t &= {out}", r"\end{aligned}", "$$"]
    return "\n".join(lines)


def _latex(item: Any, x: str, equations: list[str], fresh: Callable[[str], str]) -> str:
    item = _value(item)
    if isinstance(item, list):
        for part in item:
            x = _latex(part, x, equations, fresh)
        return x
    if isinstance(item, Opaque):
        return rf"\operatorname{{T}}({x})"
    if not isinstance(item, Recipe):
        return x
    parts = [value for name, value in item.args if name is None]
    if item.body is not None:
        return _latex(item.body, x, equations, fresh)
    if item.name in ("chain", "sequence"):
        return _latex(parts, x, equations, fresh)
    if item.name == "ratio":
        top = _latex(parts[0], x, equations, fresh)
        bottom = _latex(parts[1], x, equations, fresh)
        return rf"\frac{{{top}}}{{{bottom}}}"
    if item.name == "parallel_sum":
        return _weighted_sum([(latex_value(w), group(_latex(b, x, equations, fresh))) for w, b in parts])
    rule = _RULES.get(item.name)
    if rule is None:
        inner = ", ".join([x] + [_latex(p, x, equations, fresh) for p in parts])
        return rf"\operatorname{{{_escape(item.name)}}}({inner})"
    args: dict[str, Any] = {name: latex_value(value) for name, value in item.args if name is not None}
    if parts:
        args[INNER] = [functools.partial(_latex, part, equations=equations, fresh=fresh) for part in parts]
    out, state = rule(args, x, fresh)
    equations.extend(eq for eq in state if eq not in equations)  # a schedule read twice is defined once
    return out


def _weighted_sum(terms: list[tuple[str, str]]) -> str:
    """``w_1 b_1 + w_2 b_2 ...`` with a weight of 1 left out and a negative one written as ``- b``."""
    written = ""
    for weight, body in terms:
        negative = weight.startswith("-")
        shown = coefficient(weight[1:] if negative else weight) + body
        written = (f"-{shown}" if negative else shown) if not written else \
            f"{written} {'-' if negative else '+'} {shown}"
    return written


def term(transform: Any, x: str, fresh: Callable[[str], str]) -> tuple[str, list[str]]:
    """The term of ``transform`` on input ``x``, and its state equations: for a rule whose
    primitive runs a transformation that its recipe does not show (a default inner optimizer)."""
    equations: list[str] = []
    return _latex(of(transform), x, equations, fresh), equations


def latex_value(value: Any) -> str:
    """An argument in LaTeX: a hyperparameter passed by name as its symbol, a number as it is."""
    value = _value(value)
    if isinstance(value, Term):
        return _term_latex(value.text)
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if schedule_label(value) is not None or callable(value):
        return "s(t)"
    return _escape(_number(value))


_ONE_NAME = re.compile(r"\\mathrm\{[^{}]*\}(_\{?[^{}\s]*\}?)?")  # an upright name: a wire's, a hyperparameter's
_NAME = re.compile(r"(?<![0-9.])[A-Za-z_][A-Za-z_0-9]*")  # a hyperparameter's name, not 1e-08's e
_SQRT = re.compile(r"\\?sqrt\(([^()]*)\)")


def _term_latex(text: str) -> str:
    """A derived form's text (``1 - b1``, ``learning_rate / sqrt(1 + learning_rate^2)``) in LaTeX:
    each name as its symbol, ``sqrt(...)`` as a root."""
    named = _NAME.sub(lambda m: m.group() if m.group() == "sqrt" else
                      _SYMBOLS.get(m.group(), rf"\mathrm{{{_escape(m.group())}}}"), text)
    return _SQRT.sub(lambda m: rf"\sqrt{{{m.group(1)}}}", named)


def factor(value: str) -> str:
    """``value`` in parentheses if it is a sum or difference (``1 - \\beta_1``), so that it reads
    right as a factor of a product."""
    return f"({value})" if " - " in value or " + " in value else value


def coefficient(value: str) -> str:
    """``value`` written as the factor before a term (bracketed if a sum), or nothing where it is 1."""
    return "" if value in ("1", "1.0") else rf"{factor(value)}\,"


def is_zero(value: str) -> bool:
    """Whether an argument written in LaTeX is 0 (a term it multiplies is left out)."""
    return value in ("0", "0.0")


def plus(term: str) -> str:
    """``+ term``, or ``- rest`` where ``term`` is ``-rest`` (no ``+ -``)."""
    return f"- {term[1:]}" if term.startswith("-") else f"+ {term}"


def group(x: str) -> str:
    """``x`` in parentheses unless it is one symbol (``g_t``, ``m'_t``)."""
    if " " not in x and not any(op in x for op in "+-/\\") or _ONE_NAME.fullmatch(x):
        return x
    return rf"\left({x}\right)"


def _escape(text: str) -> str:
    return text.replace("_", r"\_")
