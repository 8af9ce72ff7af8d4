"""Safety against non-finite updates: skip a step with a NaN or Inf, or zero the NaNs."""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..core import check as _check
from ..core import eager as _eager
from ..core import recipe as _recipe
from ..core import step as _step
from ..core.chain import whole
from ..core.link import Branch
from ..core.protocol import GradientTransformation
from ..core.state_class import state_class
from ..core.types import PyTree
from .conditionality import zeros_like_output


@state_class
class ApplyIfFiniteState(NamedTuple):
    notfinite_count: jax.Array  # int32: non-finite updates skipped in a row; 0 after an applied one
    last_finite: jax.Array  # bool: whether the latest step was all finite (given update, result, state)
    total_notfinite: jax.Array  # int32: non-finite updates seen since init (saturating)
    inner_state: PyTree  # the inner transformation's state; untouched by skipped updates

    def diagnostics(self) -> dict:
        """Non-finite updates skipped in a row and in all."""
        return {"notfinite_count": self.notfinite_count, "total_notfinite": self.total_notfinite}


@_recipe.factory
def apply_if_finite(inner: Branch, max_consecutive_errors: int) -> GradientTransformation:
    r"""Skip any step that holds a NaN or an Inf: return zeros and leave ``inner``'s state as it was.

    A step is skipped if the update it is given is not finite, or if the update ``inner``
    returns or the state it would keep is not finite (a finite gradient of 1e30, squared into
    Adam's second moment, overflows it to inf; kept, that inf would zero this entry's updates
    for good). A non-finite update never reaches ``inner``: it is not computed (a
    :func:`jax.lax.cond`), so a NaN gradient cannot enter its moments. (Optax looks at the
    given update alone, so it keeps a state poisoned by a finite gradient.) After
    ``max_consecutive_errors`` skips in a row, the next non-finite update is applied anyway,
    as Optax does, on the view that a run stuck on non-finite gradients should fail visibly
    rather than stall silently; then the count of consecutive skips starts again from 0, so a
    further non-finite update is skipped again.
    (Optax keeps counting instead, so it applies every non-finite update after the first
    ``max_consecutive_errors`` until a finite one arrives.) ``total_notfinite`` counts every
    non-finite step, skipped or applied, and ``last_finite`` says whether the latest was finite.

    Args:
        inner: a transformation, or a list of them applied in sequence.
        max_consecutive_errors: how many non-finite updates in a row are skipped before one is
            applied; an int ``>= 0`` (0 never skips).

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ApplyIfFiniteState`.

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.apply_if_finite(gx.adam(0.1), max_consecutive_errors=3)
        >>> state = opt.init(jnp.zeros(2))
        >>> updates, state = opt.update(jnp.array([1.0, jnp.nan]), state)
        >>> updates.tolist(), state.notfinite_count.item(), state.total_notfinite.item()
        ([0.0, 0.0], 1, 1)
    """
    _check.int_at_least(
        "apply_if_finite", 0,
        " 0 never skips; 3 skips up to 3 non-finite updates in a row.",
        max_consecutive_errors=max_consecutive_errors,
    )
    transform = whole(inner, "apply_if_finite")

    def init(params):
        return ApplyIfFiniteState(
            notfinite_count=_step.zero(),
            last_finite=jnp.array(True),
            total_notfinite=_step.zero(),
            inner_state=transform.init(params),
        )

    def update(updates, state, params=None, **extra_args):
        skipped_in_a_row = _step.increment(state.notfinite_count)
        apply_anyway = skipped_in_a_row > max_consecutive_errors

        def step(_):
            out, inner_state = transform.update(updates, state.inner_state, params, **extra_args)
            return out, inner_state, jnp.logical_and(all_finite(out), all_finite(_inexact(inner_state)))

        def skip(_):
            return zeros_like_output(lambda _: step(_)[:2]), state.inner_state, jnp.array(False)

        # A non-finite gradient is not computed on; a finite one whose update or new state is not
        # finite (a 1e30 gradient squared to inf in a second moment) is computed, then dropped.
        given_finite = all_finite(updates)
        out, inner_state, result_finite = _eager.cond(
            jnp.logical_or(given_finite, apply_anyway), step, skip, None)
        finite = jnp.logical_and(given_finite, result_finite)
        accept = jnp.logical_or(finite, apply_anyway)
        out, inner_state = _eager.cond(
            accept, lambda _: (out, inner_state),
            lambda _: (jax.tree.map(jnp.zeros_like, out), state.inner_state), None)
        return out, ApplyIfFiniteState(
            notfinite_count=jnp.where(accept, _step.zero(), skipped_in_a_row),
            last_finite=finite,
            total_notfinite=jnp.where(
                finite, state.total_notfinite, _step.increment(state.total_notfinite)
            ),
            inner_state=inner_state,
        )

    return GradientTransformation(init, update)


def _inexact(tree: PyTree) -> list:
    """The floating-point and complex leaves of ``tree`` (a state's counters are integers)."""
    return [x for x in jax.tree.leaves(tree) if jnp.issubdtype(jnp.result_type(x), jnp.inexact)]


def all_finite(tree: PyTree) -> jax.Array:
    """A bool scalar: whether every entry of every leaf is finite (neither NaN nor ±Inf)."""
    checks = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]
    return functools.reduce(jnp.logical_and, checks, jnp.array(True))


@state_class
class ZeroNansState(NamedTuple):
    found_nan: PyTree  # params' tree of bool scalars: whether that leaf held a NaN last update


@_recipe.factory
def zero_nans() -> GradientTransformation:
    r"""Replace every NaN in the updates by 0 and record, per leaf, whether there was one.

    .. math::  u_i = \begin{cases} 0 & g_i \text{ is NaN} \\ g_i & \text{otherwise} \end{cases}

    Infinities are left as they are (as in Optax's ``zero_nans``); :func:`apply_if_finite`
    handles both.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ZeroNansState`.
    """

    def init(params):
        return ZeroNansState(found_nan=jax.tree.map(lambda p: jnp.array(False), params))

    def update(updates, state, params=None, **extra_args):
        _check.same_structure("zero_nans", updates=updates, state=state.found_nan)
        found_nan = jax.tree.map(lambda g: jnp.any(jnp.isnan(g)), updates)
        out = jax.tree.map(lambda g: jnp.where(jnp.isnan(g), jnp.zeros_like(g), g), updates)
        return out, ZeroNansState(found_nan=found_nan)

    return GradientTransformation(init, update)
