r"""Reduce the step when a monitored value (the loss, a validation metric) stops improving."""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..core import check as _check
from ..core import hyperparams as _hyper
from ..core import recipe as _recipe
from ..core import step as _step
from ..core import tree as _tree
from ..core.chain import primitive
from ..core.protocol import GradientTransformation
from ..core.state_class import state_class
from .scaling import ScalarOrSchedule


@state_class
class ReduceOnPlateauState(NamedTuple):
    scale: jax.Array  # float32 scalar (float64 under x64): the factor applied to updates; 1 at first
    best_value: jax.Array  # same dtype: the best window average so far; +inf at first (-inf for "max")
    plateau_count: jax.Array  # int32: evaluations without improvement since the last one or reduction
    cooldown_count: jax.Array  # int32: evaluations still to ignore after the latest reduction
    count: jax.Array  # type: ignore[assignment]  # int32: values in the current window so far, in [0, accumulation_size)
    avg_value: jax.Array  # same dtype as scale: the mean of the current window's values so far

    def diagnostics(self) -> dict:
        """The factor now applied to updates and the best monitored value so far."""
        return {"plateau_scale": self.scale, "best_value": self.best_value}


@_recipe.factory
def reduce_on_plateau(
    factor: ScalarOrSchedule = 0.1,
    patience: int = 10,
    rtol: ScalarOrSchedule = 1e-4,
    atol: ScalarOrSchedule = 0.0,
    cooldown: int = 0,
    accumulation_size: int = 1,
    min_scale: ScalarOrSchedule = 0.0,
    mode: str = "min",
) -> GradientTransformation:
    r"""Multiply updates by a scale that drops by ``factor`` whenever the monitored value plateaus.

    Every ``update`` takes the monitored value as the extra argument ``value`` (inside
    :func:`gradxform.chain` too: ``opt.update(grads, state, params, value=loss)``). Values are
    averaged over windows of ``accumulation_size`` updates; at the end of each window, with
    :math:`\bar v` the window's mean and :math:`b` the best mean so far (``mode="min"``),

    .. math::
        \text{improved} \iff \bar v < b - r\,|b| - a, \qquad
        s \leftarrow \max(\phi\, s,\ s_{min})
        \text{ after } p \text{ evaluations in a row without improvement,}

    then :math:`c` evaluations are ignored (cooldown) before counting again. Chain it after an
    optimizer, ``gx.chain(gx.adam(1e-3), gx.reduce_on_plateau(patience=5))``, to multiply that
    optimizer's learning rate by :math:`s`. With
    ``mode="max"`` improving means :math:`\bar v > b + r\,|b| + a`. Updates are multiplied by
    the current :math:`s` (1 at first), read from the state as ``state.scale``: the algorithm
    moves it, so it is state rather than a hyperparameter, and
    :func:`gradxform.set_hyperparams` does not reach it.

    Optax's ``optax.contrib.reduce_on_plateau`` arguments (plus ``mode``) and state fields (plus
    ``hyperparams``), and the same scale on any sequence of values that stays ``>= 0``, with
    three differences:

    * the relative margin is :math:`r\,|b|`: for a negative best (a log-likelihood, an ELBO)
      Optax's and PyTorch's :math:`(1 - r)\,b` lies above :math:`b`, so a slightly *worse*
      value counted as an improvement; for :math:`b \ge 0` the test is Optax's, term for term;
    * ``patience=0`` reduces at every evaluation without improvement (Optax's never does, and
      reduces on improvements instead); ``factor=1`` and ``rtol = atol = 0`` (any strict
      improvement counts) are allowed;
    * the scale, the best value and the average are kept in float32 (float64 under x64),
      whatever the params' dtype, so that bfloat16 params do not round ``factor`` or the loss.

    Args:
        factor: :math:`\phi`, multiplies the scale at each plateau; in ``(0, 1]``, or a schedule.
        patience: :math:`p`, evaluations in a row without improvement before reducing; an int
            ``>= 0``. It reduces at the :math:`p`-th such evaluation, as Optax does; PyTorch's
            ``ReduceLROnPlateau`` reduces at the :math:`(p+1)`-th, so its ``patience=10`` is
            ``patience=11`` here.
        rtol: :math:`r`, the improvement needed relative to :math:`|b|`; in ``[0, 1]``.
        atol: :math:`a`, the absolute improvement needed; ``>= 0``.
        cooldown: :math:`c`, evaluations ignored after each reduction; an int ``>= 0``.
        accumulation_size: updates per evaluation, whose values are averaged (use more than 1
            when ``value`` is a noisy mini-batch loss); an int ``>= 1``.
        min_scale: :math:`s_{min}`, the scale never goes below it; in ``[0, 1]``.
        mode: ``"min"`` for a loss, ``"max"`` for a metric that should grow (accuracy).

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ReduceOnPlateauState` (in a chain; on its own,
        the one link of a :class:`ChainState`).

    References:
        Optax, ``optax.contrib.reduce_on_plateau`` (v0.2.8).
        https://optax.readthedocs.io/en/latest/api/contrib.html
        PyTorch, ``torch.optim.lr_scheduler.ReduceLROnPlateau``.
        https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.ReduceLROnPlateau.html
    """
    who = "reduce_on_plateau"
    _check.reduction_factor(who, factor=factor)
    _check.unit_interval(who, rtol=rtol, min_scale=min_scale)
    _check.non_negative(who, atol=atol)
    _check.non_negative_int(who, patience=patience, cooldown=cooldown)
    _check.int_at_least(who, 1, " 1 evaluates every value passed.", accumulation_size=accumulation_size)
    _check.choice(who, "mode", mode, ("min", "max"))
    hyper = _hyper.declare("reduce_on_plateau", factor=factor, rtol=rtol, atol=atol, min_scale=min_scale)
    sign = 1 if mode == "min" else -1  # "max" is "min" on -value; negation is exact

    def init(params):
        dtype = _hyper.dtype()
        return ReduceOnPlateauState(
            scale=jnp.ones([], dtype),
            best_value=jnp.asarray(sign * jnp.inf, dtype),
            plateau_count=jnp.zeros([], jnp.int32),
            cooldown_count=jnp.zeros([], jnp.int32),
            count=jnp.zeros([], jnp.int32),
            avg_value=jnp.zeros([], dtype),
        )

    def evaluate(state, h):
        best, avg = sign * state.best_value, sign * state.avg_value
        # Optax's (1 - rtol) * best - atol where best >= 0, the same margin mirrored below 0.
        margin = jnp.where(best >= 0, h("rtol", lambda r: 1 - r) * best, h("rtol", lambda r: 1 + r) * best)
        threshold = jnp.where(jnp.isinf(best), best, margin - h("atol"))  # rtol = 1: 0 * inf
        improved = avg < threshold
        plateau = jnp.where(improved, 0, _step.increment(state.plateau_count))
        reduce = ~improved & (plateau >= patience)
        cooling = state.cooldown_count > 0
        scale = jnp.maximum(jnp.where(reduce, state.scale * h("factor"), state.scale), h("min_scale"))
        return state._replace(
            scale=jnp.where(cooling, state.scale, scale),
            best_value=jnp.where(improved, state.avg_value, state.best_value),
            plateau_count=jnp.where(cooling | reduce, 0, plateau),
            cooldown_count=jnp.where(
                cooling, state.cooldown_count - 1, jnp.where(reduce, jnp.int32(cooldown), jnp.int32(0))
            ),
            count=jnp.zeros_like(state.count),
            avg_value=jnp.zeros_like(state.avg_value),
        )

    def update(updates, state, params=None, **extra_args):
        h = hyper.read(extra_args)
        value = _monitored(extra_args, state.avg_value.dtype)
        count = _step.increment(state.count)
        # Optax's running mean, (n avg + v) / (n + 1), with the counts converted to float.
        avg = (state.count.astype(value.dtype) * state.avg_value + value) / count.astype(value.dtype)
        state = state._replace(count=count, avg_value=avg)
        evaluated = evaluate(state, h)
        state = jax.tree.map(lambda new, old: jnp.where(count == accumulation_size, new, old), evaluated, state)
        out = jax.tree.map(lambda g: _tree.times(g, state.scale), updates)
        return out, state

    return primitive(init, update, hyper)


def _monitored(extra_args: dict, dtype) -> jax.Array:
    """The ``value`` extra argument as a scalar of ``dtype``, or a clear error."""
    if extra_args.get("value") is None:
        raise ValueError(_check.NO_MONITORED_VALUE.format(who="reduce_on_plateau"))
    value = extra_args["value"]
    if jnp.shape(value) != ():
        raise ValueError(_check.NOT_A_SCALAR_VALUE.format(who="reduce_on_plateau", shape=jnp.shape(value)))
    return jnp.asarray(value).astype(dtype)
