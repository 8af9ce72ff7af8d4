"""Running moments of the updates: momentum, mean of squares, bias correction, AMSGrad's max."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ..core import check as _check
from ..core import hyperparams as _hyper
from ..core import recipe as _recipe
from ..core import step as _step
from ..core import tree as _tree
from ..core.chain import primitive
from ..core.field_names import answers_to
from ..core.protocol import EmptyState, GradientTransformation
from ..core.state_class import fast_node, state_class
from ..core.types import Hyper, PyTree, Schedule


@state_class
class ScaleByMomentumState(NamedTuple):
    mu: PyTree  # running (weighted) sum of updates; params' tree, in `dtype` or the params' dtype


@fast_node
@answers_to(trace="mu")
class _HeavyBallState(ScaleByMomentumState):
    """The heavy-ball form's state: the same class to a reader, answering also to ``trace``.

    Optax keeps the heavy-ball buffer in ``TraceState.trace`` and Adam's EMA in ``mu``; this
    subclass (printed, saved and checked as :class:`ScaleByMomentumState`) lets Optax's
    ``tree.get(state, "trace")`` find the heavy-ball buffer and only it
    (:mod:`gradxform.core.field_names`).
    """

    __slots__ = ()


_HeavyBallState.__name__ = "ScaleByMomentumState"


@fast_node
@answers_to(ema="mu")
class _MovingAverageState(ScaleByMomentumState):
    """The EMA form's state: the same class to a reader, answering also to ``ema``, the field in
    which Optax's ``ema`` keeps the same (not yet debiased) average."""

    __slots__ = ()


_MovingAverageState.__name__ = "ScaleByMomentumState"


@_recipe.factory
def scale_by_momentum(
    decay: Hyper = 0.9, nesterov: bool = False, ema: bool = False, dtype: Any = None,
    initial_value: float = 0.0,
) -> GradientTransformation:
    r"""Replace each update by a momentum of past updates.

    Heavy-ball form (``ema=False``, Polyak 1964; Optax's ``trace``):

    .. math::  \mu_t = g_t + \beta\,\mu_{t-1}, \qquad u_t = \mu_t

    Exponential-moving-average form (``ema=True``, Adam's first moment):

    .. math::  \mu_t = (1-\beta)\,g_t + \beta\,\mu_{t-1}, \qquad u_t = \mu_t

    Nesterov form (``nesterov=True``, Sutskever et al. 2013) looks one step ahead with the same
    recurrence: :math:`u_t = g_t + \beta\,\mu_t` (heavy-ball) or
    :math:`u_t = (1-\beta)\,g_t + \beta\,\mu_t` (EMA).

    Args:
        decay: :math:`\beta`, the weight kept from the previous momentum; in ``[0, 1)``, or
            ``[0, 1]`` in the heavy-ball form (1: the plain sum of every update so far).
        nesterov: output the look-ahead :math:`u_t` above instead of :math:`\mu_t`.
        ema: weight the new update by :math:`1-\beta` (a running mean) instead of 1 (a running sum).
        dtype: dtype in which :math:`\mu` is stored; ``None`` keeps the params' dtype.
        initial_value: :math:`\mu_0`, the momentum before the first update (Yogi starts both
            its moments at ``1e-6``); a finite number.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ScaleByMomentumState` (in a chain; on its own,
        the one link of a :class:`ChainState`).

    References:
        Polyak, "Some methods of speeding up the convergence of iteration methods", USSR
        Computational Mathematics and Mathematical Physics, 1964.
        Sutskever, Martens, Dahl & Hinton, "On the importance of initialization and momentum in
        deep learning", ICML 2013.
    """
    if ema:  # a running mean: with 1 it never moves
        _check.decay("scale_by_momentum", decay=decay)
    else:  # a running sum: with 1 the plain sum of every update (Optax's trace takes it)
        _check.in_interval("scale_by_momentum", 0.0, 1.0, "both", decay=decay)
    _check.finite("scale_by_momentum", initial_value=initial_value)
    hyper = _hyper.declare("scale_by_momentum", decay=decay)
    state_type = _MovingAverageState if ema else _HeavyBallState  # Optax's `ema` and `trace`

    def init(params):
        _check.inexact_leaves("scale_by_momentum", params)
        return state_type(mu=_tree.full_like(params, initial_value, dtype))

    def update(updates, state, params=None, **extra_args):
        _check.same_structure("scale_by_momentum", updates=updates, state=state.mu)
        h = hyper.read(extra_args)
        beta, weight = h("decay"), (h("decay", lambda b: 1 - b) if ema else 1.0)

        def accumulate(g, m):
            return _tree.blend(g, m, weight, beta)

        mu = jax.tree.map(accumulate, updates, state.mu)
        out = jax.tree.map(accumulate, updates, mu) if nesterov else mu
        # Stored in the state's own dtype (``dtype`` or the params'), so the state's type is stable.
        return out, state_type(_tree.cast_like(mu, state.mu))

    return primitive(init, update, hyper)


@state_class
class MeanOfSquaresState(NamedTuple):
    nu: PyTree  # running mean of squared updates; params' tree, in `dtype` or the params' dtype


@_recipe.factory
def mean_of_squares(
    decay: Hyper = 0.999, initial_value: float = 0.0, dtype: Any = None
) -> GradientTransformation:
    r"""Replace each update by a running mean of its square (Adam's second moment).

    .. math::  \nu_t = (1-\beta)\,|g_t|^2 + \beta\,\nu_{t-1}, \qquad \nu_0 = \nu_{init}, \qquad u_t = \nu_t

    With a storage ``dtype`` narrower than the updates' (bfloat16 beside float32 gradients),
    :math:`\nu_t` is computed in the wider dtype, output unrounded, and stored rounded to
    ``dtype``: this step's update uses the exact mean, the next step starts from the rounded
    one (Optax's convention for ``mu_dtype``).

    Args:
        decay: :math:`\beta`, the weight kept from the previous mean; in ``[0, 1)``.
        initial_value: :math:`\nu_{init}`, the mean before the first update; ``>= 0``
            (RMSprop's ``initial_scale``: Optax and PyTorch use 0, TensorFlow 1).
        dtype: dtype in which :math:`\nu` is stored; ``None`` keeps the params' dtype.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`MeanOfSquaresState` (in a chain; on its own,
        the one link of a :class:`ChainState`).

    References:
        Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, Algorithm 1.
    """
    _check.decay("mean_of_squares", decay=decay)
    _check.non_negative("mean_of_squares", initial_value=initial_value)
    hyper = _hyper.declare("mean_of_squares", decay=decay)

    def init(params):
        _check.inexact_leaves("mean_of_squares", params)
        return MeanOfSquaresState(_tree.full_like(params, initial_value, dtype))

    def update(updates, state, params=None, **extra_args):
        _check.same_structure("mean_of_squares", updates=updates, state=state.nu)
        h = hyper.read(extra_args)
        beta, weight = h("decay"), h("decay", lambda b: 1 - b)
        # |g|^2 is real; for complex params nu keeps their complex dtype (as Optax's does).
        nu = jax.tree.map(lambda g, v: _tree.blend(_tree.abs_sq(g), v, weight, beta), updates, state.nu)
        return nu, MeanOfSquaresState(_tree.cast_like(nu, state.nu))

    return primitive(init, update, hyper)


@_recipe.factory
def bias_correction(decay: Hyper, step_offset: int = 0) -> GradientTransformation:
    r"""Undo the bias toward zero of a running mean started at zero.

    .. math::  u_t = m_t / (1 - \beta^{\,t + k}), \qquad t = 1, 2, \dots

    where :math:`t` is the one-based step count read from :func:`gradxform.chain`. The
    correction is computed in float32 (or float64 under x64) and the division in the update's
    dtype, so bfloat16 state stays bfloat16 without rounding :math:`\beta^t` to 1.

    Args:
        decay: :math:`\beta`, the decay of the running mean being corrected; in ``[0, 1)``.
        step_offset: :math:`k`; Nadam's look-ahead momentum uses ``1`` (Dozat 2016).

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState` (in a chain; on its own,
        the one link of a :class:`ChainState`).

    References:
        Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, Section 3.
    """
    _check.decay("bias_correction", decay=decay)
    _check.non_negative_int("bias_correction", step_offset=step_offset)
    hyper = _hyper.declare("bias_correction", decay=decay)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        h = hyper.read(extra_args)
        t = _step.advance(_step.read(extra_args, "bias_correction"), 1 + step_offset)
        correction = 1 - h("decay") ** _step.as_float(t)
        out = jax.tree.map(lambda m: m / correction.astype(m.dtype), updates)
        return out, EmptyState()

    return primitive(init, update, hyper, reads_step=True)


@state_class
class AmsgradMaxState(NamedTuple):
    nu_max: PyTree  # running elementwise maximum of the updates; params' tree, `dtype` or params'


@_recipe.factory
def amsgrad_max(dtype: Any = None) -> GradientTransformation:
    r"""Replace each update by the running elementwise maximum of all updates so far.

    .. math::  \hat\nu_t = \max(\hat\nu_{t-1}, \nu_t), \qquad \hat\nu_0 = 0, \qquad u_t = \hat\nu_t

    Placed after :func:`bias_correction` in the denominator it is Optax's AMSGrad; placed before,
    PyTorch's (``amsgrad=True``), which matches Reddi et al.'s max over raw second moments.

    The maximum is taken in the dtype the stored maximum and the update promote to and output
    as it is; it is stored rounded to ``dtype``.

    Args:
        dtype: dtype in which :math:`\hat\nu` is stored; ``None`` keeps the params' dtype.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`AmsgradMaxState`.

    References:
        Reddi, Kale & Kumar, "On the Convergence of Adam and Beyond", ICLR 2018, Algorithm 2.
    """

    def init(params):
        _check.inexact_leaves("amsgrad_max", params)
        return AmsgradMaxState(nu_max=_tree.zeros_like(params, dtype))

    def update(updates, state, params=None, **extra_args):
        _check.same_structure("amsgrad_max", updates=updates, state=state.nu_max)
        nu_max = jax.tree.map(lambda m, v: jnp.maximum(*_tree.promoted(m, v)), state.nu_max, updates)
        return nu_max, AmsgradMaxState(nu_max=_tree.cast_like(nu_max, state.nu_max))

    return primitive(init, update)


@state_class
class InterpolatedMomentumState(NamedTuple):
    mu: PyTree  # running mean of updates; params' tree, in `dtype` or the params' dtype


@_recipe.factory
def interpolated_momentum(
    b1: Hyper = 0.9, b2: Hyper = 0.99, dtype: Any = None
) -> GradientTransformation:
    r"""Replace each update by its interpolation with the previous momentum (Lion's direction).

    The output mixes the new update into the momentum with one weight, the momentum is then
    updated with another:

    .. math::
        u_t = (1-\beta_1)\,g_t + \beta_1\,\mu_{t-1}, \qquad
        \mu_t = (1-\beta_2)\,g_t + \beta_2\,\mu_{t-1}

    Followed by :func:`sign` it is Lion's update direction (Optax's ``scale_by_lion``).

    Args:
        b1: :math:`\beta_1`, the weight of the previous momentum in the output; in ``[0, 1]``.
        b2: :math:`\beta_2`, the weight kept from the previous momentum; in ``[0, 1)``.
        dtype: dtype in which :math:`\mu` is stored; ``None`` keeps the params' dtype.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`InterpolatedMomentumState` (in a chain; on its own,
        the one link of a :class:`ChainState`).

    References:
        Chen et al., "Symbolic Discovery of Optimization Algorithms", NeurIPS 2023, Program 1.
        https://arxiv.org/abs/2302.06675
    """
    _check.unit_interval("interpolated_momentum", b1=b1)
    _check.decay("interpolated_momentum", b2=b2)
    hyper = _hyper.declare("interpolated_momentum", b1=b1, b2=b2)

    def mix(g, m, weight_g, weight_m):
        # (1 - b) g + b m term by term, each product in its own leaf's dtype (a bfloat16 one
        # computed in float32 and rounded once), then added in the promoted dtype.
        return jnp.add(*_tree.promoted(_tree.times(g, weight_g), _tree.times(m, weight_m)))

    def init(params):
        _check.inexact_leaves("interpolated_momentum", params)
        return InterpolatedMomentumState(mu=_tree.zeros_like(params, dtype))

    def update(updates, state, params=None, **extra_args):
        _check.same_structure("interpolated_momentum", updates=updates, state=state.mu)
        h = hyper.read(extra_args)
        b1_t, b2_t = h("b1"), h("b2")
        one_minus_b1, one_minus_b2 = h("b1", lambda b: 1 - b), h("b2", lambda b: 1 - b)
        out = jax.tree.map(lambda g, m: mix(g, m, one_minus_b1, b1_t), updates, state.mu)
        mu = jax.tree.map(lambda g, m: mix(g, m, one_minus_b2, b2_t), updates, state.mu)
        return out, InterpolatedMomentumState(_tree.cast_like(mu, state.mu))

    return primitive(init, update, hyper)


@state_class
class InfinityMomentState(NamedTuple):
    nu: PyTree  # weighted infinity norm of past updates; params' tree, in `dtype` or the params'


@_recipe.factory
def infinity_moment(
    decay: Hyper = 0.999, eps: Hyper = 1e-8, dtype: Any = None
) -> GradientTransformation:
    r"""Replace each update by an exponentially weighted maximum of its magnitude (AdaMax's moment).

    .. math::  \nu_t = \max(|g_t| + \epsilon,\; \beta\,\nu_{t-1}), \qquad \nu_0 = 0, \qquad u_t = \nu_t

    The limit :math:`p \to \infty` of a running mean of :math:`|g|^p`, raised to :math:`1/p`; it
    needs no bias correction. :math:`\epsilon` sits inside the maximum, as in Optax (Kingma & Ba
    add it nowhere), so the moment is never zero and AdaMax can divide by it. Complex updates
    use their modulus.

    Args:
        decay: :math:`\beta`, the weight kept from the previous maximum; in ``[0, 1)``.
        eps: :math:`\epsilon`, added to each magnitude; ``>= 0``.
        dtype: dtype in which :math:`\nu` is stored; ``None`` keeps the params' dtype. A
            narrower one is widened to the updates' dtype for the maximum and rounded only
            when stored.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`InfinityMomentState` (in a chain; on its own,
        the one link of a :class:`ChainState`).

    References:
        Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, Section 7.1
        (AdaMax), Algorithm 2. https://arxiv.org/abs/1412.6980
    """
    _check.decay("infinity_moment", decay=decay)
    _check.non_negative("infinity_moment", eps=eps)
    _check.not_subnormal("infinity_moment", eps=eps)
    hyper = _hyper.declare("infinity_moment", decay=decay, eps=eps)

    def weighted_max(g, u, beta, eps_t):
        # max(|g| + eps, decay * u) term by term, each in its own leaf's dtype (as Optax's
        # scale_by_adamax); |g| is real, u keeps complex params' dtype.
        magnitude = jnp.abs(g)
        dtype = _tree.compute_dtype(magnitude.dtype)
        magnitude = (magnitude.astype(dtype) + eps_t.astype(dtype)).astype(magnitude.dtype)
        # A moment stored narrower than the updates (bfloat16 beside float32) is decayed in the
        # wider dtype, so that only the stored value is rounded.
        u = u.astype(_tree.result_dtype(magnitude, u))
        return jnp.maximum(*_tree.promoted(magnitude, _tree.times(u, beta)))

    def init(params):
        _check.inexact_leaves("infinity_moment", params)
        return InfinityMomentState(nu=_tree.zeros_like(params, dtype))

    def update(updates, state, params=None, **extra_args):
        _check.same_structure("infinity_moment", updates=updates, state=state.nu)
        h = hyper.read(extra_args)
        beta, eps_t = h("decay"), h("eps")
        nu = jax.tree.map(lambda g, u: weighted_max(g, u, beta, eps_t), updates, state.nu)
        return nu, InfinityMomentState(_tree.cast_like(nu, state.nu))

    return primitive(init, update, hyper)


@state_class
class ScheduledBiasCorrectionState(NamedTuple):
    product: jax.Array  # float scalar (float32, float64 under x64): prod of the schedule over past updates


@_recipe.factory
def scheduled_bias_correction(
    schedule: Schedule, step_offset: int = 0
) -> GradientTransformation:
    r"""Undo the bias toward zero of a running mean whose decay follows a schedule.

    .. math::  u_t = m_t \Big/ \Big(1 - \prod_{i=1}^{t+k} \beta_i\Big), \qquad t = 1, 2, \dots

    where :math:`\beta_i` is ``schedule(i - 1)`` (schedules take the zero-based step count read
    from :func:`gradxform.chain`). The state keeps the running product
    :math:`\prod_{i \le t} \beta_i` over the updates seen so far, as PyTorch's NAdam does;
    the :math:`k` look-ahead factors are read from the schedule. With a constant schedule
    :math:`\beta` this is :func:`bias_correction` (up to rounding of :math:`\beta^t`). The product
    is kept in float32 (float64 under x64); the division is in the update's dtype.

    Args:
        schedule: :math:`\beta_i`, a pure function of the step count; values in ``[0, 1)``.
        step_offset: :math:`k`, an int ``>= 0``; Nadam's look-ahead momentum uses ``1``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ScheduledBiasCorrectionState` (in a chain; on its own,
        the one link of a :class:`ChainState`).

    References:
        Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016 Workshop, Algorithm 2.
        https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ
    """
    _check.is_callable("scheduled_bias_correction", schedule=schedule)
    _check.non_negative_int("scheduled_bias_correction", step_offset=step_offset)

    def init(params):
        _check.inexact_leaves("scheduled_bias_correction", params)
        return ScheduledBiasCorrectionState(product=jnp.ones([], jnp.result_type(float)))

    def update(updates, state, params=None, **extra_args):
        step = _step.read(extra_args, "scheduled_bias_correction")
        dtype = state.product.dtype
        product = state.product * jnp.asarray(schedule(step), dtype)  # prod_{i <= t}
        ahead = product
        for k in range(1, step_offset + 1):
            ahead = ahead * jnp.asarray(schedule(_step.advance(step, k)), dtype)  # prod_{i <= t + k}
        correction = 1 - ahead
        out = jax.tree.map(lambda m: m / correction.astype(m.dtype), updates)
        return out, ScheduledBiasCorrectionState(product=product)

    return primitive(init, update, reads_step=True)


# --- Update rules in LaTeX, for a recipe's rendering in a notebook ------------------------------


@_recipe.formula("scale_by_momentum")
def _momentum_rule(a, x, fresh):
    m, b = fresh("m"), a.get("decay", "0.9")
    weight = rf"(1 - {b})\," if a.get("ema") == "True" else ""
    equation = rf"{m}_t &= {b}\,{m}_{{t-1}} {_recipe.plus(weight + x)}"
    out = rf"{weight}{x} + {b}\,{m}_t" if a.get("nesterov") == "True" else rf"{m}_t"
    return out, [equation]


@_recipe.formula("mean_of_squares")
def _mean_of_squares_rule(a, x, fresh):
    v, b = fresh("v"), a.get("decay", "0.999")
    return rf"{v}_t", [rf"{v}_t &= {b}\,{v}_{{t-1}} + (1 - {b})\,{_recipe.group(x)}^2"]


@_recipe.formula("bias_correction")
def _bias_correction_rule(a, x, fresh):
    power = "t" if a.get("step_offset", "0") == "0" else f"t+{a['step_offset']}"
    return rf"\frac{{{x}}}{{1 - {a['decay']}^{{{power}}}}}", []


@_recipe.formula("amsgrad_max")
def _amsgrad_max_rule(a, x, fresh):
    v = fresh(r"\hat v")
    return rf"{v}_t", [rf"{v}_t &= \max({v}_{{t-1}}, {x})"]


@_recipe.formula("infinity_moment")
def _infinity_moment_rule(a, x, fresh):
    u, b, eps = fresh("u"), a.get("decay", "0.999"), a.get("eps", "0")
    return rf"{u}_t", [rf"{u}_t &= \max({b}\,{u}_{{t-1}}, |{x}| + {eps})"]


@_recipe.formula("interpolated_momentum")
def _interpolated_momentum_rule(a, x, fresh):
    mu, b1, b2, g = fresh(r"\mu"), a.get("b1", "0.9"), a.get("b2", "0.99"), _recipe.group(x)
    return rf"(1 - {b1})\,{g} + {b1}\,{mu}_{{t-1}}", [rf"{mu}_t &= (1 - {b2})\,{g} + {b2}\,{mu}_{{t-1}}"]
