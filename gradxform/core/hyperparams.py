r"""Hyperparameters: declared once by the optimizer that names them, stored once by the chain.

A primitive *declares* the hyperparameters it takes (:func:`declare`): each is a number or a
schedule (a function of the step). A value given a name with :func:`hyperparameter` (as every
alias does with its own arguments) is one hyperparameter wherever it is passed: Adam's ``b1``
reaches its momentum and both bias corrections, and is stored once. The chain that owns the
primitives (:func:`gradxform.chain`, or the one-link chain a primitive used on its own makes
for itself) keeps one row per hyperparameter in its state's :class:`Hyperparams`:
``[given, set value, set?]``. Primitives read them from the extra argument ``hyperparams``,
as they read ``step``. At each update the value in force is

.. math::  h_t = \begin{cases} h^{set} & \text{if set with } \texttt{set\_hyperparams} \\
                               s(t) \text{ or the number given} & \text{otherwise,} \end{cases}

chosen with ``jnp.where``: setting a value changes data, never the compiled program. With no
schedule among them, an update hands the rows back as they came (no kernel writes them, no copy
is made). A form a primitive derives from a hyperparameter (``1 - decay``) is computed from the
Python number in double precision and rounded once, as Optax computes it, so keeping
hyperparameters in the state does not change results (unlike Optax's ``inject_hyperparams``:
Optax issue #583). Values are stored in float32 (float64 under x64) whatever the params' dtype,
so bfloat16 params never round ``b2 = 0.999`` to 1.

The state is what counts: a row whose stored ``given`` is not the Python number the optimizer
was built with (a state saved from ``adam(1e-3)``, restored or unpickled into ``adam(0.1)``) is
read from the state, so that what :func:`gradxform.hyperparams` reports is what the update uses.
A schedule, or a JAX array given (a traced value, or the arrays Optax's ``inject_hyperparams``
rebuilds an optimizer with at each update), is the optimizer's: its value is used at each
update and written into the state as it is used.

Each declared argument keeps the range checks its primitive ran on it when built
(:class:`RowRule`, found from a state by :func:`rules_of`), which
:func:`gradxform.set_hyperparams` and :func:`gradxform.checked` run on values given later.
"""
from __future__ import annotations

import functools
import threading
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import check as _check
from . import step as _step
from .named import Named
from .types import ScalarOrSchedule

_GIVEN, _SET, _IS_SET = 0, 1, 2  # the columns of a row


def hyperparameter(name: str, value: ScalarOrSchedule | Named) -> Named:
    """Name a hyperparameter so that every primitive given it shares it.

    Adam passes ``b1 = hyperparameter("b1", b1)`` to its momentum and to its bias correction:
    ``hyperparams(state)["b1"]`` reads it, and ``set_hyperparams(state, b1=0.95)`` changes both.

    Args:
        name: the name shown by :func:`gradxform.hyperparams` and accepted by
            :func:`gradxform.set_hyperparams`.
        value: a number or a schedule ``step -> value``.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise TypeError(_check.NOT_A_NAME.format(who="hyperparameter", got=_check.describe(name)))
    return Named(name, value.value if isinstance(value, Named) else value)


def shared(**values: ScalarOrSchedule | Named | None) -> tuple:
    """Each value named after its argument with :func:`hyperparameter`, in order.

    ``None`` stays ``None`` and a value already named keeps its name. A recipe that passes
    ``decay`` to a running mean and to its bias correction shares one hyperparameter this way.
    """
    return tuple(
        v if v is None or isinstance(v, Named) else hyperparameter(name, v)
        for name, v in values.items()
    )


def dtype():
    """float32, or float64 under x64: the dtype in which hyperparameters are stored."""
    return jnp.result_type(float)


# --- What a primitive declares ---------------------------------------------------------------


class Entry(NamedTuple):
    name: str  # the name given with hyperparameter(), or the argument's own
    given: Any  # a number or a schedule
    derive: Callable | None  # the form this argument uses, where it is not the value itself
    shared: bool  # named with hyperparameter(): one row wherever it is passed
    rules: tuple[_check.Rule, ...] = ()  # the checks its primitive ran on it when built


class Declared:
    """The hyperparameters one primitive takes, by argument (construction-time data, not state)."""

    def __init__(self, who: str, entries: dict[str, Entry]) -> None:
        self.who, self.entries = who, entries

    def read(self, extra_args: dict) -> "Values":
        """This primitive's values at this step, from the ``hyperparams`` its owner passes."""
        reader = extra_args.get("hyperparams")
        if not isinstance(reader, Reader):
            if not self.entries:  # nothing to read (a weight decay of a constant 0): no owner
                return Values(None, self)
            raise ValueError(_check.NO_OWNER.format(who=self.who))
        return Values(reader, self)


def declare(who: str, **values: Any) -> Declared:
    """The hyperparameters of primitive ``who``, by argument name.

    A value named with :func:`hyperparameter` is shared under its name; any other number or
    schedule is this primitive's own, shown under the argument's name. The range checks the
    primitive ran on an argument (``_check.decay(who, decay=...)`` before this call) are kept
    with it, for :func:`gradxform.set_hyperparams` and :func:`gradxform.checked` to run on
    values given later. A schedule is called once, at step 0, and must return a finite real
    scalar; a concrete array must be a scalar.
    """
    names = {v.name for v in values.values() if isinstance(v, Named)}
    entries = {}
    for arg, value in values.items():
        if arg in names and not (isinstance(value, Named) and value.name == arg):
            raise ValueError(_check.NAME_TAKEN.format(name=arg))
        rules = _check.pending_rules(who, arg)
        if isinstance(value, Named):
            entries[arg] = Entry(value.name, value.value, value.derive, True, rules)
        else:
            entries[arg] = Entry(arg, value, None, False, rules)
        _check_given(who, entries[arg].name, entries[arg].given)
    return Declared(who, entries)


def _check_given(who: str, name: str, given: Any) -> None:
    if callable(given):
        _check.schedule_at_step_zero(who, name, given)
    else:
        _check.scalar_hyperparameter(who, name, given)


class Values:
    """One primitive's hyperparameters at one step: ``values(arg, fn)`` is ``fn`` of the value."""

    def __init__(self, reader: "Reader | None", declared: Declared) -> None:
        self._reader, self._declared = reader, declared

    def __call__(self, arg: str, fn: Callable = lambda x: x) -> jax.Array:
        """``fn`` of the value in force of the hyperparameter passed as argument ``arg``."""
        entry = self._declared.entries[arg]
        if self._reader is None:
            raise KeyError(f"{self._declared.who} declared no hyperparameter {arg!r}")
        row = self._reader.table.row_of(self._declared, arg)
        return self._reader.value(row, lambda x: fn(entry.derive(x)) if entry.derive else fn(x))


# --- What a chain stores ------------------------------------------------------------------------


class Hyperparams(tuple):
    """The hyperparameters a chain owns: one row ``[given, set value, set?]`` per name.

    ``table`` is a ``(k, 3)`` array in float32 (float64 under x64), or ``None`` when there is
    nothing to store; ``names`` labels its rows. It prints the values in force, ``(set)`` marking
    a value set with :func:`gradxform.set_hyperparams`. Build one with :meth:`of`.

    The names are part of its type (one subclass per tuple of names, made once), so that a state
    holds only arrays: to JAX and Flax's serializers it is a NamedTuple with the one field
    ``table``. A chain keeps just the table in its state and shows it through this class
    (``state.hyperparams``); a wrapper with hyperparameters of its own keeps the whole object.
    """

    names: tuple[str, ...] = ()
    places: tuple[tuple[str, ...], ...] = ()  # where each row was declared: link, branch, primitive
    _fields = ("table",)

    def __new__(cls, table: Any) -> "Hyperparams":
        return super().__new__(cls, (table,))

    @staticmethod
    def of(names: Sequence[str], table: Any, places: Sequence[tuple[str, ...]] = ()) -> "Hyperparams":
        """The rows ``table`` labelled ``names``, declared at ``places`` (default: by name alone)."""
        names = tuple(names)
        return _with_names(names, tuple(places) or tuple((name,) for name in names))(table)

    def like(self, table: Any) -> "Hyperparams":
        """The same rows holding ``table``."""
        return type(self)(table)

    @property
    def table(self) -> Any:
        return self[0]

    def in_force(self, i: int) -> jax.Array:
        """Row ``i``'s value in force at the latest step."""
        row = jnp.asarray(self.table)[..., i, :]
        return jnp.where(row[..., _IS_SET] != 0, row[..., _SET], row[..., _GIVEN])

    def _asdict(self) -> dict:
        return {"table": self.table}

    def __repr__(self) -> str:
        return f"Hyperparams({', '.join(self._shown())})"

    def _shown(self) -> list[str]:
        try:
            table = np.asarray(self.table)
        except Exception:  # traced: the names alone
            return list(self.names)
        if table.ndim != 2:
            return [f"{name}=<batch {table.shape[:-2]}>" for name in self.names]
        return [f"{name}={_short(row[_SET] if row[_IS_SET] else row[_GIVEN])}"
                + (" (set)" if row[_IS_SET] else "") for name, row in zip(self.names, table)]

    def __reduce__(self):
        return Hyperparams.of, (self.names, self.table, self.places)

    def __eq__(self, other: object) -> bool:  # as a NamedTuple of (names, table) compares
        return isinstance(other, Hyperparams) and (self.names, self.table) == (other.names, other.table)

    __hash__ = None  # type: ignore[assignment]


def _short(value: Any) -> str:
    return f"{float(value):.6g}"


@functools.lru_cache(maxsize=None)
def _with_names(names: tuple[str, ...], places: tuple[tuple[str, ...], ...]) -> type[Hyperparams]:
    """The :class:`Hyperparams` subclass for ``names``, made once."""
    # A tuple subclass with ``_fields`` and no registration: JAX flattens it as a NamedTuple.
    cls = type("Hyperparams", (Hyperparams,), {"names": names, "places": places, "__module__": __name__})
    return cls


class _Row(NamedTuple):
    path: tuple[str, ...]  # where it was declared first: link indices, branch names, primitive
    entry: Entry


class Table:
    """A chain's hyperparameters at construction: which row each primitive's argument reads.

    Built from ``(path, declared)`` pairs in chain order. A shared name is one row wherever it
    is passed (given two different values, it is an error); any other value is its primitive's
    own row. Rows are labelled by name, qualified by as much of their path as tells apart two
    that would otherwise read alike (``mean_of_squares/decay``).
    """

    def __init__(self, declarations: Sequence[tuple[tuple[str, ...], Declared]], who: str) -> None:
        self._rows: list[_Row] = []
        self._index: dict[tuple[int, str], int] = {}
        shared: dict[str, int] = {}
        for path, declared in declarations:
            for arg, entry in declared.entries.items():
                if entry.shared and entry.name in shared:
                    first = self._rows[shared[entry.name]].entry.given
                    if not _same_value(first, entry.given):
                        raise ValueError(_check.NAME_GIVEN_TWICE.format(
                            who=who, name=entry.name, first=_check.describe(first),
                            second=_check.describe(entry.given)))
                    self._index[(id(declared), arg)] = shared[entry.name]
                    continue
                if (id(declared), arg) in self._index:  # the same primitive object twice
                    continue
                self._index[(id(declared), arg)] = len(self._rows)
                if entry.shared:
                    shared[entry.name] = len(self._rows)
                self._rows.append(_Row(path + (declared.who,), entry))
        self._keep = declarations  # the Declared objects whose ids index the rows
        self.names = _row_names(self._rows)
        # a shared row is known by its name; any other by where it was declared, and its argument
        self.places = tuple((row.entry.name,) if row.entry.shared else row.path + (row.entry.name,)
                            for row in self._rows)
        self.scheduled = tuple(i for i, row in enumerate(self._rows) if callable(row.entry.given))
        # rows whose value is the optimizer's at each update, written into the state as it is
        # used: schedules, and JAX arrays (traced, or passed anew at each build, as Optax's
        # inject_hyperparams rebuilds an optimizer with the values of its own state)
        self.per_update = tuple(i for i, row in enumerate(self._rows)
                                if callable(row.entry.given) or isinstance(row.entry.given, jax.Array))
        rules: list[dict] = [{} for _ in self._rows]
        for path, declared in declarations:
            for arg, entry in declared.entries.items():
                for rule in entry.rules:
                    row_rule = RowRule(rule, entry.derive)
                    rules[self._index[(id(declared), arg)]][row_rule.key()] = row_rule
        self.rules = tuple(tuple(r.values()) for r in rules)
        _register_rules(self.names, self.places, self.rules)

    def row_of(self, declared: Declared, arg: str) -> int:
        return self._index[(id(declared), arg)]

    def given(self, i: int) -> Any:
        return self._rows[i].entry.given

    def init(self) -> Hyperparams:
        """The stored rows before the first update: each value given (a schedule's at step 0)."""
        if not self._rows:
            return Hyperparams.of((), None, ())
        rows = []
        for row in self._rows:
            given = row.entry.given
            value = given(_step.zero()) if callable(given) else given
            value = jnp.asarray(value, dtype())
            rows.append(jnp.stack([value, value, jnp.zeros_like(value)], -1))
        return Hyperparams.of(self.names, jnp.stack(rows, -2), self.places)

    def reader(self, stored: Hyperparams, step: jax.Array) -> "Reader":
        return Reader(self, stored, step)


class RowRule(NamedTuple):
    """A check on a row's value: ``rule`` applied to ``derive(value)`` (the value itself if None)."""

    rule: _check.Rule
    derive: Callable | None

    def key(self) -> tuple:
        """What tells two rules apart, the same for every optimizer built from one recipe."""
        return self.rule.expected, getattr(self.derive, "__code__", self.derive)


# The checks of every row, by the (names, places) that label a table: what a state's table
# carries in its type, so that set_hyperparams and checked find them from a state alone.
_RULES: dict[tuple, tuple[tuple[RowRule, ...], ...]] = {}
_RULES_LOCK = threading.Lock()


def _register_rules(names: tuple, places: tuple, rules: tuple[tuple[RowRule, ...], ...]) -> None:
    """Record ``rules`` for tables labelled ``(names, places)``; two recipes alike keep both."""
    with _RULES_LOCK:
        known = _RULES.get((names, places))
        if known is not None:
            rules = tuple(tuple({r.key(): r for r in a + b}.values()) for a, b in zip(known, rules))
        _RULES[(names, places)] = rules


def rules_of(node: Hyperparams) -> tuple[tuple[RowRule, ...], ...]:
    """The checks declared for each row of ``node`` (none for a table no Table labelled)."""
    return _RULES.get((node.names, node.places), tuple(() for _ in node.names))


def _same_value(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if callable(a) or callable(b):
        return False
    try:
        return bool(np.asarray(a == b).all())
    except Exception:  # traced values: only the same object is known to be the same
        return False


def _row_names(rows: list[_Row]) -> tuple[str, ...]:
    """A shared row's name; any other row's name, qualified by the shortest unique suffix of its
    path where another row reads alike."""
    names = []
    for row in rows:
        if row.entry.shared:
            names.append(row.entry.name)
            continue
        others = [r.path for r in rows if r is not row and r.entry.name == row.entry.name]
        n = next((n for n in range(len(row.path) + 1)
                  if all(_suffix(p, n) != _suffix(row.path, n) for p in others)), len(row.path))
        names.append("/".join(_suffix(row.path, n) + (row.entry.name,)))
    return tuple(names)


def _suffix(path: tuple, n: int) -> tuple:
    return path[len(path) - n:] if n else ()


class Reader:
    """A chain's hyperparameters during one update: the values in force, and the rows to keep."""

    def __init__(self, table: Table, stored: Hyperparams, step: jax.Array) -> None:
        self.table, self._stored, self._step = table, stored, step
        self._at_step: dict[int, Any] = {}  # row -> the number, or the schedule's value now

    def _given(self, i: int) -> Any:
        """Row ``i``'s number, or its schedule evaluated once at this step."""
        if i not in self._at_step:
            given = self.table.given(i)
            self._at_step[i] = given(self._step) if callable(given) else given
        return self._at_step[i]

    def value(self, i: int, fn: Callable) -> jax.Array:
        """``fn`` of row ``i``'s value in force: the set value if set, else the given one.

        ``fn`` of a number given is computed in Python (double precision), then rounded once.
        The state wins over a Python (or NumPy) number: where the stored ``given`` column holds
        another value (a state saved from ``adam(1e-3)``, restored or unpickled into
        ``adam(0.1)``), the stored value is used, as :func:`gradxform.hyperparams` reports it.
        A schedule or a JAX array given is the optimizer's: its value at this step is used and
        written into the state (:meth:`stored`), whatever the state held.
        """
        table = jnp.asarray(self._stored.table)
        is_set, set_value = table[..., i, _IS_SET] != 0, table[..., i, _SET]
        given = self._given(i)
        exact = jnp.asarray(fn(given), dtype())
        if i in self.table.per_update:
            return jnp.where(is_set, fn(set_value), exact)
        stored = table[..., i, _GIVEN]
        ours = stored == jnp.asarray(given, dtype())
        in_state = jnp.where(is_set, set_value, stored)  # a set value, else the state's own number
        return jnp.where(is_set | ~ours, fn(in_state), exact)

    def stored(self) -> Hyperparams:
        """The rows to keep after this update: as they came, unless a schedule moved (or a
        JAX array was given: the value this update used)."""
        if not self.table.per_update:
            return self._stored
        table = jnp.asarray(self._stored.table)
        given = table[..., _GIVEN]
        index = jax.lax.broadcasted_iota(jnp.int32, given.shape, given.ndim - 1)
        for i in self.table.per_update:
            given = jnp.where(index == i, jnp.asarray(self._given(i), dtype())[..., None], given)
        column = jax.lax.broadcasted_iota(jnp.int32, table.shape, table.ndim - 1)
        return self._stored.like(jnp.where(column == _GIVEN, given[..., None], table))
