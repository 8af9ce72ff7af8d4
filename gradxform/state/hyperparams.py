"""Reading and setting the hyperparameters of a whole optimizer state, by name.

Every chain (and every wrapper with hyperparameters of its own) stores them in a
:class:`~gradxform.core.hyperparams.Hyperparams` node; these functions find each such node by
its place in the state and name its rows by that place: the full name of a row is the path to
its node (partition labels, named-chain names, link indices, field names) and its own name,
joined by ``/``. A name is shown by its shortest suffix that no other row shares
(``learning_rate`` for one optimizer, ``fast/learning_rate`` inside a partition) and accepted
by :func:`set_hyperparams` as any suffix that names exactly one row.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core import check as _check
from ..core import hyperparams as _hyper
from ..core import tables as _tables
from ..core.hyperparams import Hyperparams, dtype
from ..core.types import PyTree

_IS_SET, _SET = 2, 1


class _Row(NamedTuple):
    node: int  # which Hyperparams node, in tree order
    row: int  # which row of it
    path: tuple[str, ...]  # the full name, split at "/": where its node is, where it was declared
    short: tuple[str, ...]  # its node's place without field names (``inner_state``), and its name


def _components(keys: tuple) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A key path as name components: all of them, and those that are not field names.

    Dict keys (partition labels, named-chain names) and sequence indices (a chain's links) tell
    groups apart; a field name (``inner_state``, ``fast_state``) only says how a wrapper nests.
    """
    every, kept = [], []
    for key in keys:
        if isinstance(key, jax.tree_util.GetAttrKey):
            if key.name != "hyperparams":
                every.append(key.name)
            continue
        text = str(getattr(key, "key", getattr(key, "idx", key)))
        every.append(text)
        kept.append(text)
    return tuple(every), tuple(kept)


def _rows(state: PyTree) -> tuple[list[Hyperparams], list[_Row]]:
    nodes: list[Hyperparams] = []
    rows: list[_Row] = []
    for keys, node in _tables.tables(state):
        every, kept = _components(keys)
        for i, (name, place) in enumerate(zip(node.names, node.places)):
            rows.append(_Row(len(nodes), i, every + place, kept + tuple(name.split("/"))))
        nodes.append(node)
    return nodes, rows


def _short_names(rows: list[_Row]) -> list[str]:
    """Each row's shortest name that no other row ends with: a suffix of its path without field
    names where that tells it apart, else of its full path."""
    names = []
    for row in rows:
        for attr in ("short", "path"):
            path = getattr(row, attr)
            others = [getattr(r, attr) for r in rows if r is not row]
            n = next((n for n in range(1, len(path) + 1)
                      if all(p[len(p) - n:] != path[len(path) - n:] for p in others)), None)
            if n is not None:
                names.append("/".join(path[len(path) - n:]))
                break
        else:
            names.append("/".join(row.path))
    return names


def _matches(row: _Row, parts: tuple[str, ...]) -> bool:
    return any(path[len(path) - len(parts):] == parts for path in (row.short, row.path))


def hyperparams(state: PyTree) -> dict[str, jax.Array]:
    """The current value of every hyperparameter in an optimizer's state, by readable name.

    A name is the hyperparameter's own (``"learning_rate"``, ``"b1"``) where it is unique, else
    prefixed by as much of its place in the state as tells it apart (``"fast/learning_rate"``
    inside a partition, ``"mean_of_squares/decay"`` beside another ``decay``). Works on any
    state (aliases, chains, wrappers) and under jit; the values are float32 scalars (float64
    under x64), ready for a logger.

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> state = gx.adam(1e-3).init({"w": jnp.zeros(3)})
        >>> sorted(gx.hyperparams(state))
        ['b1', 'b2', 'eps', 'eps_root', 'learning_rate']
    """
    nodes, rows = _rows(state)
    names = _short_names(rows)
    return {name: nodes[r.node].in_force(r.row) for name, r in zip(names, rows)}


def set_hyperparams(state: PyTree, values: dict[str, Any] | None = None, **kwargs: Any) -> PyTree:
    """A new state in which the named hyperparameters take new values from the next update on.

    The compiled step is not recompiled: only data changes. A hyperparameter that follows a
    schedule stops following it and keeps the value set; setting ``None`` hands it back to the
    number or schedule it was given. To switch to another schedule, build the new optimizer and
    keep the old state: states of the same recipe have the same layout. A number, unlike a
    schedule, is data the state keeps: an optimizer built with other numbers goes on with the
    state's (see :func:`gradxform.state_from_dict`); change them here.

    A concrete value (a number, a NumPy or JAX array that is not traced) gets the checks its
    primitive ran on the value it was built with (``b1`` in ``[0, 1)``, a learning rate finite
    and ``>= 0``, ...), and is never ``nan``; a traced value is checked only by
    :func:`gradxform.checked`.

    Args:
        state: an optimizer state.
        values: ``{name: value}``, for names that are not Python identifiers
            (``"fast/learning_rate"``).
        **kwargs: ``name=value``. A name is one that :func:`hyperparams` gives (``"eps"`` beside
            ``"scale_by_trust_ratio/eps"`` names the first), or any ``/``-separated suffix of a
            hyperparameter's full name that no other one shares. A value is a number or a
            scalar array (traced values welcome: ``jax.vmap`` over learning rates).

    Raises:
        ValueError: a name that matches no hyperparameter, or more than one (the message lists
            the names that tell them apart); a value its primitive's checks refuse (the
            message names the hyperparameter, the value and what was expected).
        TypeError: a value that is not a number, an array of numbers or ``None``.

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> state = gx.adam(1e-3).init({"w": jnp.zeros(3)})
        >>> state = gx.set_hyperparams(state, learning_rate=1e-4)
        >>> print(f'{float(gx.hyperparams(state)["learning_rate"]):.0e}')
        1e-04
    """
    wanted = {**(values or {}), **kwargs}
    nodes, rows = _rows(state)
    names = _short_names(rows)
    changes: dict[tuple[int, int], Any] = {}
    unknown = []
    for name, value in wanted.items():
        parts = tuple(name.split("/"))
        matches = [i for i, r in enumerate(rows) if _matches(r, parts)]
        if len(matches) > 1 and name in names:  # a shown name is exact: "eps" beside "trust/eps"
            matches = [names.index(name)]
        if not matches:
            unknown.append(name)
        elif len(matches) > 1:
            raise ValueError(_check.AMBIGUOUS_HYPERPARAM.format(
                name=name, count=len(matches), matches=[names[i] for i in matches]))
        else:
            row = rows[matches[0]]
            _check_value(name, value, _hyper.rules_of(nodes[row.node])[row.row])
            changes[(row.node, row.row)] = value
    if unknown:
        raise ValueError(_check.UNKNOWN_HYPERPARAMS.format(unknown=sorted(unknown), known=sorted(names)))
    new_nodes = [_with_rows(node, {row: v for (n, row), v in changes.items() if n == i})
                 for i, node in enumerate(nodes)]
    return _tables.with_tables(state, new_nodes)


def _check_value(name: str, value: Any, rules: tuple[_hyper.RowRule, ...]) -> None:
    """Run the checks declared for a hyperparameter on a concrete value (each entry of an array).

    Traced values pass (their values are unknown here; see :func:`gradxform.checked`); ``nan``
    is refused for every hyperparameter, declared checks or not.
    """
    if value is None:
        return
    if callable(value) or not _check._is_number_like(value):
        raise TypeError(_check.NOT_A_SET_VALUE.format(name=name, got=_check.describe(value)))
    if isinstance(value, jax.core.Tracer):
        return
    dtype = jnp.result_type(value)
    if not (jnp.issubdtype(dtype, jnp.integer) or jnp.issubdtype(dtype, jnp.floating)):
        raise TypeError(_check.NOT_A_SET_VALUE.format(name=name, got=_check.describe(value)))
    for x in np.asarray(value, np.float64).ravel():
        for row_rule in rules:
            used = float(row_rule.derive(x)) if row_rule.derive else float(x)
            if not row_rule.rule.ok(used):
                raise ValueError(_check.RANGE.format(
                    who="set_hyperparams", name=name, expected=row_rule.rule.expected,
                    value=value, hint=row_rule.rule.hint_for(used)))
        if np.isnan(x):
            raise ValueError(_check.RANGE.format(
                who="set_hyperparams", name=name, expected="a number, not nan", value=value, hint=""))


def _with_rows(node: Hyperparams, values: dict[int, Any]) -> Hyperparams:
    """``node`` with row ``i`` set to ``values[i]`` (``None``: back to what was given)."""
    if not values:
        return node
    table = jnp.asarray(node.table)
    row_index = jax.lax.broadcasted_iota(jnp.int32, table.shape, table.ndim - 2)
    column = jax.lax.broadcasted_iota(jnp.int32, table.shape, table.ndim - 1)
    for i, value in values.items():
        here = row_index == i
        if value is None:
            table = jnp.where(here & (column == _IS_SET), jnp.zeros((), table.dtype), table)
        else:
            value = jnp.asarray(value, dtype())[..., None, None]
            table = jnp.where(here & (column == _SET), value, table)
            table = jnp.where(here & (column == _IS_SET), jnp.ones((), table.dtype), table)
    return node.like(_like(node.table, table))


def _like(old: Any, new: jax.Array) -> Any:
    """``new`` in the wrapper ``old`` came in (a Flax ``nnx.Variable``), or as it is."""
    if isinstance(old, (jax.Array, np.ndarray)) or not callable(getattr(type(old), "replace", None)):
        return new
    return old.replace(new)


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

    rows, values = [], []

    def visit(node: Any, keys: tuple) -> None:
        if callable(getattr(node, "diagnostics", None)) and hasattr(node, "_fields"):
            every, kept = _components(keys)
            for key, value in node.diagnostics().items():
                rows.append(_Row(0, 0, every + (key,), kept + (key,)))
                values.append(value)
        children = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)[0]
        for path, child in children:
            if path:  # a leaf flattens to itself at the empty path
                visit(child, keys + tuple(path))

    visit(state, ())
    return dict(zip(_short_names(rows), values))
