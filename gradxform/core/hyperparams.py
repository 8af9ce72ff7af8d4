r"""Hyperparameters as values in the state: readable, settable without recompiling, schedulable.

Every numeric hyperparameter of a primitive is given as a number or a schedule (a function of
the step). The primitive's state keeps, for each, a :class:`Hyperparameter`: one array holding
the number given (or the schedule's value at the latest step), the value :func:`set_hyperparams`
set, and whether that value overrides the given one. At each update

.. math::  h_t = \begin{cases} h^{set} & \text{if overridden} \\
                               s(t) \text{ or the number given} & \text{otherwise,} \end{cases}

chosen with ``jnp.where``: setting a value changes data, never the compiled program. A
hyperparameter given as a number is never rewritten by an update, so a step hands its record
back as it came (for a chain, the whole bank: no kernel writes it, and no copy is made to keep
the old bank readable while the new one is written); only a schedule's value is written each
step. A form a primitive derives from a hyperparameter (``1 - decay``) is computed from the
Python number in double precision and rounded once, as Optax computes it, so keeping
hyperparameters in the state does not change results (unlike Optax's ``inject_hyperparams``:
Optax issue #583). Values are stored in float32 (float64 under x64) whatever the params' dtype,
so bfloat16 params never round ``b2 = 0.999`` to 1.
"""
from __future__ import annotations

import re
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from . import check as _check
from . import step as _step
from .types import ScalarOrSchedule

PyTree = Any


def record_row(given, override, overridden) -> jax.Array:
    """A record's one array: ``[given, override, overridden as 0 or 1]`` in :func:`dtype`."""
    return jnp.stack([jnp.asarray(given, dtype()), jnp.asarray(override, dtype()),
                      jnp.asarray(overridden, dtype())], -1)


class Hyperparameter(NamedTuple):
    """One hyperparameter's record, kept as one array (one buffer, not three)."""

    row: jax.Array  # (3,) float32 (float64 under x64): [given, override, overridden as 0 or 1]

    @property
    def given(self) -> jax.Array:
        """The number given, or the schedule's value at the latest step."""
        return self.row[..., 0]

    @property
    def override(self) -> jax.Array:
        """The value set with :func:`set_hyperparams`."""
        return self.row[..., 1]

    @property
    def overridden(self) -> jax.Array:
        """Whether ``override`` replaces the number or schedule (bool)."""
        return self.row[..., 2] != 0

    def in_force(self) -> jax.Array:
        """The value at the latest step."""
        return jnp.where(self.overridden, self.override, self.given)

    def with_fields(self, **fields):
        """The record with some of ``given``, ``override``, ``overridden`` replaced."""
        current = {"given": self.given, "override": self.override, "overridden": self.overridden}
        return type(self)(record_row(**{**current, **fields}))


class SharedHyperparameter(NamedTuple):
    """A :class:`Hyperparameter` named with :func:`hyperparameter`: one name, set everywhere at once."""

    row: jax.Array  # as Hyperparameter.row

    given = Hyperparameter.given
    override = Hyperparameter.override
    overridden = Hyperparameter.overridden
    in_force = Hyperparameter.in_force
    with_fields = Hyperparameter.with_fields


_STORED = (Hyperparameter, SharedHyperparameter)


class Named(NamedTuple):
    """A number or schedule with the name it is read and set under (see :func:`hyperparameter`)."""

    name: str
    value: Any
    derive: Callable | None = None  # the form a primitive uses, e.g. 1 - b1 (see one_minus)


def hyperparameter(name: str, value: ScalarOrSchedule | Named) -> Named:
    """Name a hyperparameter so that every primitive given it shares it.

    Adam passes ``b1 = hyperparameter("b1", b1)`` to its momentum and to its bias correction:
    ``hyperparams(state)["b1"]`` reads it, and ``set_hyperparams(state, b1=0.95)`` changes both.

    Args:
        name: the name shown by :func:`hyperparams` and accepted by :func:`set_hyperparams`.
        value: a number or a schedule ``step -> value``.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise TypeError(_check.NOT_A_NAME.format(who="hyperparameter", got=_check.describe(name)))
    return Named(name, value.value if isinstance(value, Named) else value)


def shared(**values: ScalarOrSchedule | Named | None) -> tuple:
    """Each value named after its argument with :func:`hyperparameter`, in order.

    ``None`` stays ``None`` and a value already named keeps its name. A recipe that passes ``b1``
    to its momentum and to its bias correction shares one hyperparameter this way:
    ``hyperparams(state)["b1"]`` reads it and ``set_hyperparams(state, b1=x)`` changes both.
    """
    return tuple(
        v if v is None or isinstance(v, Named) else hyperparameter(name, v)
        for name, v in values.items()
    )


def one_minus(value: ScalarOrSchedule | Named) -> ScalarOrSchedule | Named:
    r""":math:`1 - h` of a hyperparameter :math:`h`, still read and set as :math:`h` itself.

    Nadam weights its gradient term by ``one_minus(b1)``: setting ``b1`` changes the momentum,
    its bias correction and this weight together. For a plain number this is just ``1 - value``.
    """
    if not isinstance(value, Named):
        return (lambda step: 1 - value(step)) if callable(value) else 1 - value
    inner = value.derive or (lambda x: x)
    return value._replace(derive=lambda x: 1 - inner(x))


def value_of(value):
    """The number or schedule inside a possibly :func:`hyperparameter`-named value (for checks)."""
    if not isinstance(value, Named):
        return value
    if value.derive is None:
        return value.value
    derive, given = value.derive, value.value
    return (lambda step: derive(given(step))) if callable(given) else derive(given)


def dtype():
    """float32, or float64 under x64: the dtype in which hyperparameters are stored."""
    return jnp.result_type(float)


class Values:
    """One primitive's hyperparameters at one step: ``values(arg, fn)`` is ``fn`` of the value."""

    def __init__(self, declared: "Declared", stored: dict, step):
        self._declared, self._stored, self._step = declared, stored, step
        self._at_step: dict[str, Any] = {}  # key -> the number, or the schedule's value at this step

    def _given(self, key: str):
        """The number given at construction, or its schedule evaluated once at this step."""
        if key not in self._at_step:
            given = self._declared.given[key]
            self._at_step[key] = given(self._step) if callable(given) else given
        return self._at_step[key]

    def __call__(self, arg: str, fn: Callable = lambda x: x) -> jax.Array:
        """``fn`` of the value in force of the hyperparameter passed as argument ``arg``."""
        key, derive = self._declared.keys[arg], self._declared.derive.get(arg, lambda x: x)
        stored = self._stored[key]
        default = fn(derive(self._given(key)))
        return jnp.where(stored.overridden, fn(derive(stored.override)),
                         jnp.asarray(default, dtype()))

    def record(self) -> dict:
        """The hyperparameters to keep in the state: a number's record as it came (the very
        object, so that :func:`pack` can hand back the bank it came from), a schedule's with the
        value at this step."""
        return {key: stored.with_fields(given=self._given(key))
                if callable(self._declared.given[key]) else stored
                for key, stored in self._stored.items()}


class Declared(NamedTuple):
    """The hyperparameters a primitive was built with (construction-time data, not state)."""

    given: dict  # state key -> number or schedule
    shared: frozenset  # keys named with hyperparameter()
    keys: dict  # argument name -> state key
    derive: dict  # argument name -> the form used (one_minus), where it is not the value itself

    def init(self) -> dict:
        records = {}
        for key, given in self.given.items():
            value = given(_step.zero()) if callable(given) else given
            record_type = SharedHyperparameter if key in self.shared else Hyperparameter
            records[key] = record_type(record_row(value, value, False))
        return records

    def at(self, stored: dict, extra_args: dict, who: str) -> Values:
        scheduled = any(callable(g) for g in self.given.values())
        return Values(self, stored, _step.read(extra_args, who) if scheduled else None)


def declare(**values) -> Declared:
    """A primitive's hyperparameters by argument name; a :func:`hyperparameter` name replaces it."""
    given, shared, keys, derive = {}, set(), {}, {}
    names = {v.name for v in values.values() if isinstance(v, Named)}
    for arg, value in values.items():
        if arg in names and not (isinstance(value, Named) and value.name == arg):
            raise ValueError(_check.NAME_TAKEN.format(name=arg))
        if isinstance(value, Named):
            keys[arg] = value.name
            shared.add(value.name)
            given[value.name] = value.value
            if value.derive is not None:
                derive[arg] = value.derive
        else:
            keys[arg] = arg
            given[arg] = value
    return Declared(given, frozenset(shared), keys, derive)


# --- Packing: a chain keeps all its links' hyperparameters in one array ------------------------


class HyperparameterBank(NamedTuple):
    """Every hyperparameter of a chain's links, packed: one array instead of one per value.

    Each array is one more buffer for a jitted step to pass in and out, a fixed cost of about a
    microsecond that shows on small models (``benchmarks/fixed_cost.py``); Adam's seven stored
    values would otherwise add seven.
    The links' states hold a :class:`Slot` where each value was.
    """

    # (k, 3) float32 (float64 under x64): row i is slot i's record row (given, override, overridden)
    entries: jax.Array


class Slot(NamedTuple):
    """Where a packed :class:`Hyperparameter` sat in a link's state: its value is in the bank."""


class SharedSlot(NamedTuple):
    """Where a packed :class:`SharedHyperparameter` sat in a link's state."""


_SLOT_OF = {Hyperparameter: Slot, SharedHyperparameter: SharedSlot}
_STORED_IN = {Slot: Hyperparameter, SharedSlot: SharedHyperparameter}


def _packs(node) -> bool:
    """Whether ``node`` is a state that packs its own hyperparameters (a chain's)."""
    return getattr(node, "packs_hyperparameters", False) is True


def pack(parts: PyTree, previous: tuple[HyperparameterBank | None, list] | None = None
         ) -> tuple[PyTree, HyperparameterBank | None]:
    """``parts`` with each stored hyperparameter replaced by a slot, and the bank.

    The slots hold no arrays (the state stays plain data); the i-th slot in the tree's order
    is the bank's i-th entry. Nested chains keep their own banks. ``None`` stands for the bank
    of a tree with no hyperparameters (no arrays to carry). ``previous`` is a bank and the
    records :func:`unpack` made from it: where the records found hold those very arrays (no
    update rewrote one: no schedule), that bank is returned as it is, so that a jitted step
    passes it through instead of computing a new one.
    """
    found: list = []

    def take(node):
        if not isinstance(node, _STORED):
            return node
        found.append(node)
        return _SLOT_OF[type(node)]()

    slotted = jax.tree.map(take, parts, is_leaf=lambda n: isinstance(n, _STORED) or _packs(n))
    if not found:
        return parts, None
    if previous is not None and _same_arrays(found, previous[1]):
        return slotted, previous[0]
    return slotted, HyperparameterBank(entries=_stacked_rows([h.row for h in found]))


def _same_arrays(records: list, unpacked: list) -> bool:
    """Whether ``records`` hold the very arrays of ``unpacked``, record by record, in order."""
    return len(records) == len(unpacked) and all(
        record.row is before.row for record, before in zip(records, unpacked)
    )


def _stacked_rows(rows: list) -> jax.Array:
    """``jnp.stack(rows, axis=-2)`` as one element-wise selection over the rows' index.

    XLA's CPU backend fuses a concatenate of at most eight operands into one kernel and computes
    a longer one as a kernel per operand; a chain of selects on an iota is one kernel for any
    number of rows.
    """
    shape = rows[0].shape[:-1] + (len(rows), rows[0].shape[-1])
    index = jax.lax.broadcasted_iota(jnp.int32, shape, len(shape) - 2)
    out = jnp.broadcast_to(jnp.expand_dims(rows[0], -2), shape)
    for i, row in enumerate(rows[1:], start=1):
        out = jnp.where(index == i, jnp.expand_dims(row, -2), out)
    return out


def unpack(parts: PyTree, bank: HyperparameterBank | None, records: list | None = None) -> PyTree:
    """The inverse of :func:`pack`: each :class:`Slot` replaced by its stored hyperparameter.

    ``records``, where a list is given, receives the records made, in slot order (for
    :func:`pack`'s ``previous``).
    """
    if bank is None:
        return parts
    order = iter(range(bank.entries.shape[-2]))
    made = [] if records is None else records

    def fill(node):
        if type(node) not in _STORED_IN:
            return node
        made.append(_STORED_IN[type(node)](_entry(bank.entries, next(order))))
        return made[-1]

    return jax.tree.map(fill, parts, is_leaf=lambda n: type(n) in _STORED_IN or _packs(n))


def _entry(entries, i: int):
    """Slot i's row, also from a ``jax.eval_shape`` template."""
    if isinstance(entries, jax.ShapeDtypeStruct):
        return jax.ShapeDtypeStruct(entries.shape[:-2] + entries.shape[-1:], entries.dtype)
    return entries[..., i, :]


def _map_packing_states(state: PyTree, fn: Callable) -> PyTree:
    """``state`` with ``fn`` applied to every state that packs (a chain's), innermost first."""

    def walk(node):
        if isinstance(node, tuple) and hasattr(node, "_fields"):
            node = type(node)(*(walk(getattr(node, f)) for f in node._fields))
            return fn(node) if _packs(node) else node
        if isinstance(node, (list, tuple)):
            return type(node)(walk(child) for child in node)
        if isinstance(node, dict):
            return type(node)({key: walk(child) for key, child in node.items()})
        return node

    return walk(state)


def _fields_except_bank(node) -> list:
    return [f for f in node._fields if f != "hyperparams"]


def unpacked_state(state: PyTree) -> PyTree:
    """``state`` with every chain's hyperparameters back in its links' states (bank ``None``)."""

    def expand(node):
        return node._replace(hyperparams=None, **{
            f: unpack(getattr(node, f), node.hyperparams) for f in _fields_except_bank(node)})

    return _map_packing_states(state, expand)


def packed_state(state: PyTree) -> PyTree:
    """The inverse of :func:`unpacked_state`: every chain's hyperparameters in its bank again."""

    def collect(node):
        slotted, bank = pack({f: getattr(node, f) for f in _fields_except_bank(node)})
        return node._replace(hyperparams=bank, **slotted)

    return _map_packing_states(state, collect)


# --- Reading and setting the hyperparameters of a whole state ----------------------------------


class _Found(NamedTuple):
    path: tuple  # readable components from the root: owner names, dict keys, indices
    key: str
    stored: Any  # Hyperparameter or SharedHyperparameter
    setter: Callable  # new Hyperparameter -> new whole state


def _snake(class_name: str) -> str:
    name = class_name[: -len("State")] if class_name.endswith("State") else class_name
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _find(state) -> list[_Found]:
    found = []

    def walk(node, path, rebuild):
        if isinstance(node, _STORED):
            found.append(_Found(path[:-1], path[-1], node, rebuild))
        elif isinstance(node, tuple) and hasattr(node, "_fields"):
            owner = _snake(type(node).__name__)
            for field in node._fields:
                walk(getattr(node, field), path + ((owner,) if field == "hyperparams" else (field,)),
                     _rebuild_field(node, field, rebuild))
        elif isinstance(node, (list, tuple)):
            for i, child in enumerate(node):
                walk(child, path + (str(i),), _rebuild_item(node, i, rebuild))
        elif isinstance(node, dict):
            for key, child in node.items():
                walk(child, path + (str(key),), _rebuild_item(node, key, rebuild))

    walk(state, (), lambda new: new)
    return found


def _rebuild_field(node, field, rebuild):
    return lambda new: rebuild(node._replace(**{field: new}))


def _rebuild_item(node, index, rebuild):
    def replace(new):
        if isinstance(node, dict):
            return rebuild(type(node)({**node, index: new}))
        items = list(node)
        items[index] = new
        return rebuild(type(node)(items))

    return replace


def _names(found: list[_Found]) -> list[str]:
    """Each hyperparameter's readable name: a shared one's key; else the shortest unique path."""
    names = []
    for entry in found:
        if isinstance(entry.stored, SharedHyperparameter):
            names.append(entry.key)
            continue
        others = [f.path for f in found if f is not entry and f.key == entry.key]
        n = next(
            (n for n in range(len(entry.path) + 1)
             if all(_suffix(p, n) != _suffix(entry.path, n) for p in others)),
            len(entry.path),
        )
        names.append("/".join(_suffix(entry.path, n) + (entry.key,)))
    return names


def _suffix(path: tuple, n: int) -> tuple:
    return path[len(path) - n:] if n else ()


def hyperparams(state: PyTree) -> dict[str, jax.Array]:
    """The current value of every hyperparameter in an optimizer's state, by readable name.

    A name is the hyperparameter's own (``"learning_rate"``, ``"b1"``) where it is unique, else
    prefixed by as much of its place in the state as tells it apart
    (``"mean_of_squares/decay"``). Works on any state (aliases, chains, wrappers) and under jit;
    the values are float32 scalars (float64 under x64), ready for a logger.

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> state = gx.adam(1e-3).init({"w": jnp.zeros(3)})
        >>> sorted(gx.hyperparams(state))
        ['b1', 'b2', 'eps', 'eps_root', 'learning_rate']
    """
    found = _find(unpacked_state(state))
    return {name: entry.stored.in_force() for name, entry in zip(_names(found), found)}


def set_hyperparams(
    state: PyTree, values: dict[str, Any] | None = None, **kwargs: Any
) -> PyTree:
    """A new state in which the named hyperparameters take new values from the next update on.

    The compiled step is not recompiled: only data changes. A hyperparameter that follows a
    schedule stops following it and keeps the value set; setting ``None`` hands it back to the
    number or schedule the optimizer was built with. To switch to another schedule, build the
    new optimizer and keep the old state: states of the same recipe have the same layout.

    Args:
        state: an optimizer state.
        values: ``{name: value}``, for names that are not Python identifiers
            (``"mean_of_squares/decay"``).
        **kwargs: ``name=value``; names as :func:`hyperparams` gives them. A value is a number
            or a scalar array (traced values welcome: ``jax.vmap`` over learning rates).

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> state = gx.adam(1e-3).init({"w": jnp.zeros(3)})
        >>> state = gx.set_hyperparams(state, learning_rate=1e-4)
        >>> print(f'{float(gx.hyperparams(state)["learning_rate"]):.0e}')
        1e-04
    """
    wanted = {**(values or {}), **kwargs}
    state = unpacked_state(state)
    found = _find(state)
    names = _names(found)
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        raise ValueError(
            _check.UNKNOWN_HYPERPARAMS.format(unknown=unknown, known=sorted(set(names)))
        )
    for name, value in wanted.items():
        for i, entry in enumerate(found):
            if names[i] != name:
                continue
            if value is None:
                new = entry.stored.with_fields(overridden=False)
            else:
                new = entry.stored.with_fields(override=value, overridden=True)
            state = _find(state)[i].setter(new)
    return packed_state(state)


def diagnostics(state: PyTree) -> dict[str, jax.Array]:
    """Every diagnostic an optimizer's state keeps, by readable name, ready for a logger.

    A state type that keeps diagnostics says which with a ``diagnostics()`` method:
    :class:`ClipByGlobalNormState` gives ``grad_norm`` (before clipping) and
    ``clipped_fraction``, :class:`ReduceOnPlateauState` ``plateau_scale`` and ``best_value``,
    :class:`ApplyIfFiniteState` its skip counts. Names repeat only where a state holds two
    such parts, and are then prefixed by their place, as in :func:`hyperparams`. Works under jit.

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.chain(gx.clip_by_global_norm(1.0), gx.sgd(0.1))
        >>> params = {"w": jnp.zeros(2)}
        >>> _, state = opt.update({"w": jnp.array([3.0, 4.0])}, opt.init(params), params)
        >>> {k: round(float(v), 2) for k, v in gx.diagnostics(state).items()}
        {'grad_norm': 5.0, 'clipped_fraction': 1.0}
    """
    found = []

    def walk(node, path):
        if isinstance(node, _STORED):
            return
        if isinstance(node, tuple) and hasattr(node, "_fields"):
            owner = _snake(type(node).__name__)
            if callable(getattr(node, "diagnostics", None)):
                for key, value in node.diagnostics().items():
                    found.append(_Found(path + (owner,), key, value, None))
            for field in node._fields:
                walk(getattr(node, field), path + (field,))
        elif isinstance(node, (list, tuple)):
            for i, child in enumerate(node):
                walk(child, path + (str(i),))
        elif isinstance(node, dict):
            for key, child in node.items():
                walk(child, path + (str(key),))

    walk(state, ())
    return {name: entry.stored for name, entry in zip(_names(found), found)}
