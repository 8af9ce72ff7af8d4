"""An opt-in checked mode: every hyperparameter in force, checked at every step, under jit.

Values known when the optimizer is built are checked then, and values given to
:func:`gradxform.set_hyperparams` when they are set. What is left is known only while training:
a schedule's value at a later step, a traced value set inside a jitted step (``jax.vmap`` over
learning rates). :func:`checked` checks those with :mod:`jax.experimental.checkify`, against the
same rules the optimizer's primitives declared. Off (``enabled=False``, or simply not used), it
returns the transformation itself: the compiled step is exactly the unchecked one.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

from ..core import hyperparams as _hyper
from ..core import recipe as _recipe
from ..core import tables as _tables
from ..core.chain import whole
from ..core.protocol import GradientTransformation
from ..core.types import PyTree
from . import hyperparams as _state_hyper

OUT_OF_RANGE = "checked: hyperparameter {name} is {{value}} at step {{step}}; it must be {expected}."
NAN = "checked: hyperparameter {name} is {{value}} at step {{step}}; it must be a number, not nan."


def checked(transform: GradientTransformation, enabled: bool = True) -> GradientTransformation:
    """Check every hyperparameter the update uses, at every step, with ``checkify``.

    At each update, the value in force of every hyperparameter of ``transform``'s state (a
    schedule at this step, a value set with :func:`gradxform.set_hyperparams`, traced or not)
    is checked against the rules its primitive declared (``b1`` in ``[0, 1)``, a learning rate
    ``>= 0`` and finite, ...), and is never ``nan``. A failure names the hyperparameter, the
    step and the value: ``checked: hyperparameter learning_rate is nan at step 3; it must be a
    finite number >= 0.`` The checks are :func:`jax.experimental.checkify.check` calls, so the
    step that calls ``update`` must be functionalized with :func:`checkify.checkify`
    (eagerly they raise at once). Each check reads its values on the host (a callback per
    table and step): a debugging mode, not for speed.

    Args:
        transform: the optimizer to check.
        enabled: ``False`` returns ``transform`` itself, unchanged (no cost at all), so that
            a configuration flag can switch the mode.

    Returns:
        ``transform``'s ``init``, and an ``update`` that checks after updating.

    Example:
        >>> import jax, jax.numpy as jnp, gradxform as gx
        >>> from jax.experimental import checkify
        >>> opt = gx.checked(gx.sgd(lambda step: jnp.where(step < 1, 0.1, jnp.nan)))
        >>> params = {"w": jnp.ones(2)}
        >>> step = jax.jit(checkify.checkify(lambda g, s: opt.update(g, s, params)))
        >>> error, (_, state) = step(params, opt.init(params))
        >>> error, _ = step(params, state)
        >>> print(error.get())
        checked: hyperparameter learning_rate is nan at step 1; it must be a number, not nan. (`check` failed)
    """
    if not enabled:
        return transform
    inner = whole(transform, "checked")

    def update(updates, state, params=None, **extra_args):
        updates, new_state = inner.update(updates, state, params, **extra_args)
        check_in_force(state, new_state)
        return updates, new_state

    return _recipe.attach(GradientTransformation(inner.init, update), _recipe.Recipe("checked", ((None, inner),)))


def check_in_force(before: PyTree, after: PyTree) -> None:
    """Check the hyperparameters that the update from ``before`` to ``after`` used.

    ``after`` holds them (a schedule's value at this step, a set value); ``before`` the step of
    each table's owner, at which they were used.
    """
    nodes, rows = _state_hyper._rows(after)
    names = _state_hyper._short_names(rows)
    steps = [_owner_step(before, keys) for keys, _ in _tables.tables(before)]
    by_node: dict[int, list[tuple[int, str]]] = {}
    for name, row in zip(names, rows):
        by_node.setdefault(row.node, []).append((row.row, name))
    for n, node_rows in by_node.items():
        _check_node(nodes[n], node_rows, steps[n] if n < len(steps) else None)


def _check_node(node: _hyper.Hyperparams, node_rows: list[tuple[int, str]], step: Any) -> None:
    rules = _hyper.rules_of(node)
    checks = [(row, name, rule) for row, name in node_rows for rule in (None,) + rules[row]]
    values = jnp.stack([node.in_force(row) for row, _ in node_rows])
    where = {row: i for i, (row, _) in enumerate(node_rows)}
    index = np.asarray([where[row] for row, _, _ in checks])

    def evaluate(stacked: np.ndarray) -> np.ndarray:
        return np.asarray([_passes(stacked[i], rule) for i, (_, _, rule) in zip(index, checks)])

    passed = jax.pure_callback(evaluate, jax.ShapeDtypeStruct((len(checks),), jnp.bool_), values,
                               vmap_method="sequential")
    step = jnp.asarray(-1 if step is None else step)
    for i, (row, name, rule) in enumerate(checks):
        message = (NAN.format(name=name) if rule is None else
                   OUT_OF_RANGE.format(name=name, expected=rule.rule.expected))
        checkify.check(passed[i], message, value=values[where[row]], step=step)


def _passes(values: np.ndarray, rule: _hyper.RowRule | None) -> bool:
    """Whether every entry of ``values`` passes ``rule`` (``None``: is not nan)."""
    for x in np.asarray(values, np.float64).ravel():
        if rule is None:
            if np.isnan(x):
                return False
            continue
        used = float(rule.derive(x)) if rule.derive else float(x)
        if not rule.rule.ok(used):
            return False
    return True


def _owner_step(state: PyTree, keys: tuple) -> Any:
    """The step of the state that owns the table at ``keys`` (``None`` where it keeps none)."""
    node = state
    for key in keys[:-1] if keys and keys[-1] == _tables._HYPERPARAMS else keys:
        children = _tables._children(node)
        found = [] if children is None else [child for k, child in children[0] if k == key]
        if not found:
            return None
        node = found[0]
    step = getattr(node, "step", None)
    return step if isinstance(step, (jax.Array, np.ndarray)) and np.ndim(step) == 0 else None
