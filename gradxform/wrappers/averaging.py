"""Averages of the parameters along the trajectory: look-ahead, an exponential moving average, SWA.

Each wrapper runs an optimizer unchanged and keeps, beside it, a second set of parameters that
usually evaluates better. :func:`averaged_params` returns that set, whichever wrapper made it.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..core import check as _check
from ..core import hyperparams as _hyper
from ..core import recipe as _recipe
from ..core import shapes as _shapes
from ..core import step as _step
from ..core import tables as _tables
from ..core import tree as _tree
from ..core.chain import whole, with_errors_named
from ..core.link import Branch
from ..core.protocol import GradientTransformation, apply_updates
from ..core.state_class import state_class
from ..core.types import PyTree, ScalarOrSchedule


class LookaheadParams(NamedTuple):
    """The two weight sets of :func:`lookahead`: take gradients at ``fast``, evaluate ``slow``."""

    fast: PyTree  # the inner optimizer's iterate; compute gradients here
    slow: PyTree  # the slow weights; evaluate and deploy these

    @classmethod
    def init_synced(cls, params: PyTree) -> "LookaheadParams":
        """Both sets equal to ``params``: the start of training.

        The slow set is a copy in buffers of its own (each JAX array leaf copied), so that the
        pair can be donated to a jitted step (``jax.jit(step, donate_argnums=...)``).
        """
        slow = jax.tree.map(lambda p: jnp.array(p, copy=True) if isinstance(p, jax.Array) else p, params)
        return cls(fast=params, slow=slow)


@state_class
class LookaheadState(NamedTuple):
    fast_state: PyTree  # the fast optimizer's state
    steps_since_sync: jax.Array  # int32: fast steps since the last synchronization, in [0, k)
    step: jax.Array  # int32: updates so far (what a schedule of slow_step_size reads); saturates
    hyperparams: _hyper.Hyperparams  # slow_step_size


@_recipe.factory
def lookahead(
    fast_optimizer: Branch,
    sync_period: int,
    slow_step_size: ScalarOrSchedule,
    reset_state: bool = False,
) -> GradientTransformation:
    r"""Lookahead: ``k`` steps of a fast optimizer, then one step of the slow weights toward them.

    With fast weights :math:`\theta` and slow weights :math:`\phi`, every update is a step of
    the fast optimizer, :math:`\theta \leftarrow \theta + \mathrm{fast}(g)`; after every
    :math:`k`-th one the slow weights move and the fast ones restart from them:

    .. math::  \phi \leftarrow \phi + \alpha\,(\theta - \phi), \qquad \theta \leftarrow \phi

    The params are a :class:`LookaheadParams` pair; ``update`` returns updates for both, to be
    applied unchanged with :func:`gradxform.apply_updates` (so this wrapper goes outermost,
    after any clipping). The arithmetic is Optax's ``lookahead``, term for term; extra arguments
    reach the fast optimizer.

    Args:
        fast_optimizer: a transformation, or a list of them applied in sequence.
        sync_period: :math:`k`, fast steps between synchronizations; an int ``>= 1``.
        slow_step_size: :math:`\alpha`, in ``[0, 1]`` (the paper uses 0.5), or a schedule of
            the number of earlier updates (this wrapper counts them: it usually goes outermost,
            outside any :func:`gradxform.chain`).
        reset_state: re-initialize the fast optimizer's state at every synchronization, all but
            its hyperparameters: a value set with :func:`gradxform.set_hyperparams` stays set.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`LookaheadState`.

    References:
        Zhang, Lucas, Hinton & Ba, "Lookahead Optimizer: k steps forward, 1 step back",
        NeurIPS 2019, Algorithm 1. https://arxiv.org/abs/1907.08610

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.lookahead(gx.scale(-1.0), sync_period=2, slow_step_size=0.5)
        >>> params = gx.LookaheadParams.init_synced(jnp.zeros(1))
        >>> state = opt.init(params)
        >>> for _ in range(2):
        ...     updates, state = opt.update(jnp.ones(1), state, params)
        ...     params = gx.apply_updates(params, updates)
        >>> params.fast.tolist(), gx.averaged_params(params).tolist()
        ([-1.0], [-1.0])
    """
    _check.int_at_least(
        "lookahead", 1, " k=1 moves the slow weights after every step.", sync_period=sync_period
    )
    _check.unit_interval("lookahead", slow_step_size=slow_step_size)
    hyper = _hyper.declare("lookahead", slow_step_size=slow_step_size)
    table = _hyper.Table([((), hyper)], "lookahead")
    fast = whole(fast_optimizer, "lookahead")

    def init(params):
        fast_params = params.fast if isinstance(params, LookaheadParams) else params
        return LookaheadState(
            fast_state=fast.init(fast_params),
            steps_since_sync=_step.zero(),
            step=_step.zero(),
            hyperparams=table.init(),
        )

    def update(updates, state, params=None, **extra_args):
        if not isinstance(params, LookaheadParams):
            raise ValueError(_check.LOOKAHEAD_PARAMS.format(got=_check.describe(params)))
        reader = table.reader(state.hyperparams, state.step)
        h = hyper.read({"hyperparams": reader})
        updates, fast_state = fast.update(updates, state.fast_state, params.fast, **extra_args)
        sync_next = state.steps_since_sync == sync_period - 1
        alpha, one_minus_alpha = h("slow_step_size"), h("slow_step_size", lambda a: 1 - a)
        updates = _lookahead_updates(updates, sync_next, params, alpha, one_minus_alpha)
        if reset_state:
            fast_state = _tables.reset_but_hyperparams(sync_next, fast_state, fast.init(params.fast))
        steps_since_sync = _step.increment(state.steps_since_sync) % sync_period
        return updates, LookaheadState(
            fast_state, steps_since_sync, _step.increment(state.step), reader.stored()
        )

    return with_errors_named(GradientTransformation(init, update), "lookahead")


def _lookahead_updates(updates, sync_next, params: LookaheadParams, alpha, one_minus_alpha):
    """One update of both weight sets: the fast step, and on a sync step the slow step and the reset.

    On a sync step the new slow weights are :math:`\\phi + \\alpha d` with
    :math:`d = \\theta + u - \\phi`, and the fast weights jump there: their update is
    :math:`u - (1 - \\alpha) d`. Off sync steps both terms are multiplied by 0. The scalars
    take each leaf's dtype, as Optax's Python numbers do.
    """
    last_difference = jax.tree.map(lambda f, u, s: f + u - s, params.fast, updates, params.slow)

    def slow(d):
        sync = sync_next.astype(d.dtype)
        return alpha.astype(d.dtype) * sync * d

    def fast(u, d):
        sync = sync_next.astype(d.dtype)
        return u - sync * one_minus_alpha.astype(d.dtype) * d

    return LookaheadParams(
        fast=jax.tree.map(fast, updates, last_difference),
        slow=jax.tree.map(slow, last_difference),
    )


@state_class
class EmaParamsState(NamedTuple):
    inner_state: PyTree  # the inner transformation's state
    step: jax.Array  # int32: updates so far; saturates at 2**31 - 1
    ema: PyTree  # the moving average of the params; params' tree and dtype
    hyperparams: _hyper.Hyperparams  # decay


@_recipe.factory
def ema_params(inner: Branch, decay: ScalarOrSchedule = 0.999) -> GradientTransformation:
    r"""Run ``inner`` unchanged and keep an exponential moving average of the resulting parameters.

    .. math::  \theta_t = \theta_{t-1} + u_t, \qquad
               \bar\theta_t = (1-\beta_s)\,\theta_t + \beta_s\,\bar\theta_{t-1}, \qquad
               \bar\theta_0 = \theta_0

    where :math:`u_t` is ``inner``'s update and :math:`s = t - 1` the number of earlier updates.
    The average starts at the initial parameters, so it needs no bias correction; a schedule
    such as ``lambda s: jnp.minimum(0.999, (1 + s) / (10 + s))`` warms the decay up instead.
    Evaluate with :func:`averaged_params`. Wrap the whole optimizer: the average is taken of
    ``apply_updates(params, u)`` with ``u`` this wrapper's output. The average is computed in
    float32 for bfloat16 params and rounded once, so a decay of 0.999 is not rounded to 1.

    Args:
        inner: a transformation, or a list of them applied in sequence.
        decay: :math:`\beta`, the weight kept from the previous average; in ``[0, 1)``, or a
            schedule of :math:`s` (this wrapper counts the updates, whether or not it sits in a
            :func:`gradxform.chain`).

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmaParamsState`.

    References:
        Polyak & Juditsky, "Acceleration of Stochastic Approximation by Averaging", SIAM Journal
        on Control and Optimization 30(4), 1992. https://doi.org/10.1137/0330046
    """
    _check.decay("ema_params", decay=decay)
    hyper = _hyper.declare("ema_params", decay=decay)
    table = _hyper.Table([((), hyper)], "ema_params")
    transform = whole(inner, "ema_params")

    def init(params):
        _check.inexact_leaves("ema_params", params)
        return EmaParamsState(transform.init(params), _step.zero(), _copy(params), table.init())

    def update(updates, state, params=None, **extra_args):
        if params is None:
            raise ValueError(_check.PARAMS_NEEDED.format(who="ema_params", why="to average them"))
        _check.same_structure("ema_params", params=params, state=state.ema)
        _shapes.updates_fit_params("ema_params", updates, params)
        updates, inner_state = transform.update(updates, state.inner_state, params, **extra_args)
        new_params = apply_updates(params, updates)
        reader = table.reader(state.hyperparams, state.step)
        h = hyper.read({"hyperparams": reader})
        beta, one_minus_beta = h("decay"), h("decay", lambda b: 1 - b)
        ema = jax.tree.map(
            lambda p, m: _tree.blend(p, m, one_minus_beta, beta).astype(m.dtype), new_params, state.ema
        )
        return updates, EmaParamsState(inner_state, _step.increment(state.step), ema, reader.stored())

    return GradientTransformation(init, update)


@state_class
class SwaState(NamedTuple):
    inner_state: PyTree  # the inner transformation's state
    step: jax.Array  # int32: updates so far; saturates at 2**31 - 1
    n_averaged: jax.Array  # int32: parameter sets in the average so far
    mean: PyTree  # their mean (the initial params until the first); params' tree and dtype


@_recipe.factory
def swa(inner: Branch, start_step: int = 0, period: int = 1) -> GradientTransformation:
    r"""Run ``inner`` unchanged and keep the mean of the parameters at every ``period``-th step.

    Stochastic weight averaging: with :math:`\theta_t` the parameters after update :math:`t`,

    .. math::  \theta_{SWA} = \frac{1}{n} \sum_{j=1}^{n} \theta_{t_0 + j c}

    over the :math:`n` such steps so far, :math:`t_0` = ``start_step``, :math:`c` = ``period``
    (the cycle length of a cyclical learning rate, or e.g. one epoch with a constant one).
    The mean is updated as :math:`\bar\theta \leftarrow \bar\theta + (\theta - \bar\theta)/(n + 1)`,
    as PyTorch's ``AveragedModel`` does. Evaluate with :func:`averaged_params` (recompute batch
    norm statistics for the averaged weights, as the paper does).

    Args:
        inner: a transformation, or a list of them applied in sequence.
        start_step: :math:`t_0`, updates before averaging starts; an int ``>= 0``.
        period: :math:`c`, updates between two averaged parameter sets; an int ``>= 1``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`SwaState`.

    References:
        Izmailov, Podoprikhin, Garipov, Vetrov & Wilson, "Averaging Weights Leads to Wider
        Optima and Better Generalization", UAI 2018, Algorithm 1. https://arxiv.org/abs/1803.05407
    """
    _check.int_at_least("swa", 0, start_step=start_step)
    _check.int_at_least("swa", 1, " period=1 averages the params after every update.", period=period)
    transform = whole(inner, "swa")

    def init(params):
        _check.inexact_leaves("swa", params)
        return SwaState(transform.init(params), _step.zero(), _step.zero(), _copy(params))

    def update(updates, state, params=None, **extra_args):
        if params is None:
            raise ValueError(_check.PARAMS_NEEDED.format(who="swa", why="to average them"))
        _check.same_structure("swa", params=params, state=state.mean)
        _shapes.updates_fit_params("swa", updates, params)
        updates, inner_state = transform.update(updates, state.inner_state, params, **extra_args)
        new_params = apply_updates(params, updates)
        t = _step.increment(state.step)
        due = jnp.logical_and(t > start_step, (t - start_step) % period == 0)
        n = state.n_averaged

        def average(p, m):
            running = m + (p - m) / (n + 1).astype(m.dtype)
            return jnp.where(due, jnp.where(n == 0, p, running), m)

        mean = jax.tree.map(average, new_params, state.mean)
        n_averaged = jnp.where(due, _step.increment(n), n)
        return updates, SwaState(inner_state, t, n_averaged, mean)

    return with_errors_named(GradientTransformation(init, update), "swa")


def averaged_params(tree: PyTree) -> PyTree:
    """The averaged parameters to evaluate: from :func:`ema_params`, :func:`swa` or :func:`lookahead`.

    Args:
        tree: the optimizer state (any nesting) of an optimizer containing one
            :func:`ema_params` or :func:`swa`, or the :class:`LookaheadParams` of a
            :func:`lookahead` (whose slow weights are returned).

    Returns:
        A tree shaped like the params.
    """
    if isinstance(tree, LookaheadParams):
        return tree.slow
    kinds = (EmaParamsState, SwaState)

    def is_average(x):
        return isinstance(x, kinds)

    found = [node for node in jax.tree.leaves(tree, is_leaf=is_average) if is_average(node)]
    if not found:
        raise ValueError(_check.NO_AVERAGE.format(got=_check.describe(tree)))
    if len(found) > 1:
        raise ValueError(
            _check.SEVERAL_AVERAGES.format(count=len(found), kinds=[type(s).__name__ for s in found])
        )
    (average,) = found
    return average.ema if isinstance(average, EmaParamsState) else average.mean


def _copy(params: PyTree) -> PyTree:
    """A copy of ``params`` in fresh buffers, so that donating params and state together is safe."""
    return jax.tree.map(lambda p: jnp.array(p, copy=True), params)
