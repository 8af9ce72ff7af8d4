"""Factors that depend only on the step count: RAdam's variance rectification and scheduled weights.

RAdam multiplies Adam's step by a rectification term :math:`r_t` once the variance of the
adaptive learning rate is tractable, and takes a plain momentum step before that. In a recipe
that is :func:`scale_by_rectification` in the numerator and a :func:`gradxform.conditional` on
:func:`variance_is_tractable` choosing the denominator, :func:`ones` standing in for it early on.
Nadam with Dozat's momentum schedule, mu_t = b1 (1 - 0.96^(t psi) / 2), weights its two terms by
it (:func:`scale_by_dozat_momentum`) and corrects them by the running product of its values
(:func:`dozat_bias_correction`); both read ``b1`` as a hyperparameter, so a scheduled or set
``b1`` moves the schedule. :func:`scale_by_schedule` scales by any schedule of the step.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from ..core import check as _check
from ..core import hyperparams as _hyper
from ..core import recipe as _recipe
from ..core import step as _step
from ..core.chain import primitive
from ..core.named import value_of
from ..core.numerics import safe_sqrt
from ..core.protocol import EmptyState, GradientTransformation
from ..core.state_class import state_class
from ..core.types import Hyper, Schedule

LENGTH_BELOW_FOUR_HINT = (
    " The rectification term sqrt((rho_t - 4)(rho_t - 2) ...) is not real for 2 < rho_t < 4;"
    " Liu et al. use 4, Optax and the authors' code 5."
)


def _no_state(params):
    return EmptyState()


@_recipe.factory
def scale_by_schedule(step_size_fn: Schedule, step_offset: int = 0) -> GradientTransformation:
    r"""Multiply every update by a schedule's value at the current step: :math:`u_t = s(k_t)\,g_t`.

    :math:`k_t` is the step count from :func:`gradxform.chain` (0 on the first update) plus
    ``step_offset``, so ``step_offset=1`` reads the schedule one step ahead. The value is cast
    to each update's dtype. Optax's ``scale_by_schedule(step_size_fn)`` is the ``step_offset=0``
    case, with the same argument name. Stateless.

    Args:
        step_size_fn: :math:`s`, a pure function of the step count returning a scalar.
        step_offset: an int ``>= 0`` added to the step before calling the schedule.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`~gradxform.EmptyState` (in a chain; on its own,
        the one link of a :class:`ChainState`).
    """
    _check.is_callable("scale_by_schedule", step_size_fn=step_size_fn)
    _check.non_negative_int("scale_by_schedule", step_offset=step_offset)

    def update(updates, state, params=None, **extra_args):
        step = _step.advance(_step.read(extra_args, "scale_by_schedule"), step_offset)
        value = step_size_fn(step)
        return jax.tree.map(lambda g: jnp.asarray(value, g.dtype) * g, updates), state

    return primitive(_no_state, update, reads_step=True)


def _dozat_mu(b1, momentum_decay: float, step, step_offset: int = 0) -> jax.Array:
    r"""Dozat's :math:`\mu_{t+k} = \beta_1 (1 - \tfrac12\, 0.96^{(t+k)\psi})`, with :math:`t` the
    one-based step and :math:`\beta_1` the value in force now (PyTorch's ``NAdam`` reads its
    look-ahead :math:`\mu_{t+1}` with the current ``beta1`` too)."""
    t = _step.as_float(_step.advance(_step.one_based(step), step_offset))
    return b1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))


def _check_dozat(who: str, b1, momentum_decay, step_offset) -> None:
    _check.decay(who, b1=b1)
    _check.fixed(who, momentum_decay=momentum_decay)
    _check.non_negative(who, momentum_decay=momentum_decay)
    _check.non_negative_int(who, step_offset=step_offset)


@_recipe.factory
def scale_by_dozat_momentum(
    b1: Hyper = 0.9, momentum_decay: float = 4e-3, step_offset: int = 0, complement: bool = False
) -> GradientTransformation:
    r"""Multiply every update by Dozat's scheduled momentum :math:`\mu_{t+k}`, or by
    :math:`1 - \mu_{t+k}`.

    .. math::
        \mu_t = \beta_1 \big(1 - \tfrac12\, 0.96^{t\psi}\big), \qquad
        u_t = \mu_{t+k}\, g_t \quad\text{or}\quad u_t = (1 - \mu_{t+k})\, g_t

    with :math:`t = 1, 2, \dots` the update's number and :math:`k` = ``step_offset``.
    :math:`\beta_1` is a hyperparameter read at this update (a schedule's value now, or the value
    set with :func:`gradxform.set_hyperparams`), also for the look-ahead :math:`\mu_{t+1}`, as
    PyTorch's ``NAdam`` does. Computed in float32 (float64 under x64), cast to each update's
    dtype. Stateless.

    Args:
        b1: :math:`\beta_1`, in ``[0, 1)``; a number or a schedule.
        momentum_decay: :math:`\psi`, ``>= 0`` (PyTorch's default ``4e-3``).
        step_offset: :math:`k`, an int ``>= 0``; Nadam's look-ahead term uses ``1``.
        complement: scale by :math:`1 - \mu_{t+k}` instead (Nadam's gradient term).

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState` (in a chain; on its
        own, the one link of a :class:`ChainState`).

    References:
        Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016 Workshop, Algorithm 2.
        https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ
    """
    who = "scale_by_dozat_momentum"
    _check_dozat(who, b1, momentum_decay, step_offset)
    _check.flag(who, complement=complement)
    hyper = _hyper.declare(who, decay=b1)

    def update(updates, state, params=None, **extra_args):
        mu = _dozat_mu(hyper.read(extra_args)("decay"), momentum_decay, _step.read(extra_args, who),
                       step_offset)
        factor = 1 - mu if complement else mu
        return jax.tree.map(lambda g: factor.astype(g.dtype) * g, updates), EmptyState()

    return primitive(_no_state, update, hyper, reads_step=True)


@state_class
class DozatBiasCorrectionState(NamedTuple):
    product: jax.Array  # float scalar (float32, float64 under x64): prod of mu_i over past updates


@_recipe.factory
def dozat_bias_correction(
    b1: Hyper = 0.9, momentum_decay: float = 4e-3, step_offset: int = 0
) -> GradientTransformation:
    r"""Undo the bias of a running mean whose momentum follows Dozat's schedule.

    .. math::  u_t = m_t \Big/ \Big(1 - \prod_{i=1}^{t+k} \mu_i\Big), \qquad
               \mu_i = \beta_1 \big(1 - \tfrac12\, 0.96^{i\psi}\big)

    The state keeps :math:`\prod_{i \le t} \mu_i` over the updates seen so far, each
    :math:`\mu_i` made with the :math:`\beta_1` in force at update :math:`i` (a schedule's value
    then, or the value set with :func:`gradxform.set_hyperparams`), as PyTorch's ``NAdam`` keeps
    ``mu_product``; the :math:`k` look-ahead factors use the :math:`\beta_1` in force now. The
    product is kept in float32 (float64 under x64); the division is in the update's dtype.

    Args:
        b1: :math:`\beta_1`, in ``[0, 1)``; a number or a schedule.
        momentum_decay: :math:`\psi`, ``>= 0``.
        step_offset: :math:`k`, an int ``>= 0``; Nadam's look-ahead term uses ``1``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`DozatBiasCorrectionState` (in a
        chain; on its own, the one link of a :class:`ChainState`).

    References:
        Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016 Workshop, Algorithm 2.
        https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ
    """
    who = "dozat_bias_correction"
    _check_dozat(who, b1, momentum_decay, step_offset)
    hyper = _hyper.declare(who, decay=b1)

    def init(params):
        _check.inexact_leaves(who, params)
        return DozatBiasCorrectionState(product=jnp.ones([], jnp.result_type(float)))

    def update(updates, state, params=None, **extra_args):
        b1_now, step = hyper.read(extra_args)("decay"), _step.read(extra_args, who)
        dtype = state.product.dtype
        product = state.product * _dozat_mu(b1_now, momentum_decay, step).astype(dtype)
        ahead = product  # prod_{i <= t}, then the look-ahead factors up to t + k
        for k in range(1, step_offset + 1):
            ahead = ahead * _dozat_mu(b1_now, momentum_decay, step, k).astype(dtype)
        correction = 1 - ahead
        out = jax.tree.map(lambda m: m / correction.astype(m.dtype), updates)
        return out, DozatBiasCorrectionState(product=product)

    return primitive(init, update, hyper, reads_step=True)


def _sma_limit(decay):
    """Liu et al.'s rho_inf, the length of the simple moving average an EMA of ``decay`` approaches."""
    return 2.0 / (1.0 - decay) - 1.0


def _sma_length(decay, rho_inf, step):
    """Liu et al.'s rho_t, the length of the simple moving average that the EMA approximates."""
    t = _step.as_float(_step.one_based(step))
    decay_t = decay**t
    return rho_inf - 2 * t * decay_t / (1 - decay_t)  # Optax's expression, term for term


def variance_is_tractable(
    decay: Hyper = 0.999, threshold: float = 5.0
) -> Callable[[jax.Array], jax.Array]:
    r"""The predicate of RAdam's switch: whether :math:`\rho_t \ge` ``threshold`` at this step.

    .. math::
        \rho_\infty = \frac{2}{1-\beta} - 1, \qquad
        \rho_t = \rho_\infty - \frac{2\,t\,\beta^t}{1-\beta^t}, \qquad t = 1, 2, \dots

    :math:`\rho_t` is the length of the simple moving average that an EMA of decay
    :math:`\beta` approximates after :math:`t` steps; the variance of the adaptive learning rate
    is finite only for :math:`\rho_t > 4`. The comparison is ``>=``, as in Optax; Liu et al.'s
    Algorithm 2 writes :math:`\rho_t > 4`. Pass the result to :func:`gradxform.conditional`.

    The predicate is a plain function of the step, not a transformation: it has no state, so
    ``decay`` and ``threshold`` are fixed when it is built. :func:`gradxform.set_hyperparams`
    does not reach them (setting RAdam's ``b2`` changes its moments and
    :func:`scale_by_rectification`, not where the switch falls); a schedule is followed.

    Args:
        decay: :math:`\beta`, the decay of the second moment (Adam's ``b2``); in ``[0, 1)``; a
            number, a schedule, or a :func:`gradxform.hyperparameter`-named one (its value is
            read).
        threshold: the least :math:`\rho_t` at which the adaptive step is used; ``>= 4``
            (Liu et al. use 4, Optax and the authors' code 5); a number or a schedule.

    Returns:
        A pure, jit-safe function ``step -> bool`` of the step count (0 on the first update).

    References:
        Liu, Jiang, He, Chen, Liu, Gao & Han, "On the Variance of the Adaptive Learning Rate and
        Beyond", ICLR 2020, Algorithm 2. https://arxiv.org/abs/1908.03265
    """
    _check.decay("variance_is_tractable", decay=decay)
    _check.at_least("variance_is_tractable", 4, LENGTH_BELOW_FOUR_HINT, threshold=threshold)
    decay, threshold = value_of(decay), value_of(threshold)

    def predicate(step):
        beta = decay(step) if callable(decay) else decay
        limit = threshold(step) if callable(threshold) else threshold
        return _sma_length(beta, _sma_limit(beta), step) >= limit

    return predicate


@_recipe.factory
def scale_by_rectification(decay: Hyper = 0.999) -> GradientTransformation:
    r"""Multiply every update by RAdam's rectification term :math:`r_t`.

    .. math::
        r_t = \sqrt{\frac{(\rho_t - 4)(\rho_t - 2)\,\rho_\infty}
                         {(\rho_\infty - 4)(\rho_\infty - 2)\,\rho_t}}, \qquad u_t = r_t\,g_t

    with :math:`\rho_t, \rho_\infty` as in :func:`variance_is_tractable`. :math:`r_t` is real
    only where :math:`\rho_t \ge 4` (taken as 0 in between 2 and 4), so RAdam applies it inside
    ``conditional(variance_is_tractable(decay, threshold), scale_by_rectification(decay),
    identity())``. Computed in float32 (float64 under x64), cast to each update's dtype.

    Args:
        decay: :math:`\beta`, the decay of the second moment (Adam's ``b2``); in ``[0, 1)``; a
            number or a schedule.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState` (in a chain; on its own,
        the one link of a :class:`ChainState`).

    References:
        Liu, Jiang, He, Chen, Liu, Gao & Han, "On the Variance of the Adaptive Learning Rate and
        Beyond", ICLR 2020, Algorithm 2. https://arxiv.org/abs/1908.03265
    """
    _check.decay("scale_by_rectification", decay=decay)
    hyper = _hyper.declare("scale_by_rectification", decay=decay)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        h = hyper.read(extra_args)
        # rho_inf and (rho_inf - 4)(rho_inf - 2) from the Python number in double precision,
        # rounded once, as Optax's Python arithmetic gives them.
        rho_inf = h("decay", _sma_limit)
        rho_inf_factors = h("decay", lambda b: (_sma_limit(b) - 4.0) * (_sma_limit(b) - 2.0))
        rho = _sma_length(h("decay"), rho_inf, _step.read(extra_args, "scale_by_rectification"))
        # Not real for 2 < rho_t < 4, where RAdam takes the other branch: 0 there instead of nan,
        # so that the branch not taken adds 0 (not nan) to RAdam's gradients.
        r = safe_sqrt(jnp.maximum((rho - 4.0) * (rho - 2.0) * rho_inf / (rho_inf_factors * rho), 0.0))
        out = jax.tree.map(lambda g: r.astype(g.dtype) * g, updates)
        return out, EmptyState()

    return primitive(init, update, hyper, reads_step=True)


@_recipe.factory
def ones() -> GradientTransformation:
    r"""Replace every update by ones, :math:`u_t = 1`, in the update's shape and dtype. Stateless.

    The denominator of RAdam's plain momentum step, before the variance is tractable.
    """

    def update(updates, state, params=None, **extra_args):
        return jax.tree.map(jnp.ones_like, updates), state

    return primitive(_no_state, update)


# --- Update rules in LaTeX, for a recipe's rendering in a notebook ------------------------------


def _dozat_schedule(a: dict) -> str:
    r"""The equation of Dozat's momentum schedule :math:`\mu_t` (the same in each primitive that reads it)."""
    return rf"\mu_t &= {a.get('b1', '0.9')}\,\big(1 - \tfrac12\, 0.96^{{t\,{a.get('momentum_decay', '0.004')}}}\big)"


@_recipe.formula("scale_by_rectification")
def _rectification_rule(a, x, fresh):
    r, b = fresh("r"), a.get("decay", "0.999")
    ratio = r"\frac{(\rho_t - 4)(\rho_t - 2)\,\rho_\infty}{(\rho_\infty - 4)(\rho_\infty - 2)\,\rho_t}"
    return rf"{r}_t\,{_recipe.group(x)}", [
        rf"\rho_\infty &= \frac{{2}}{{1 - {b}}} - 1, \quad \rho_t = \rho_\infty - \frac{{2\,t\,{b}^t}}{{1 - {b}^t}}",
        rf"{r}_t &= \sqrt{{{ratio}}}",
    ]


@_recipe.formula("ones")
def _ones_rule(a, x, fresh):
    return "1", []


@_recipe.formula("scale_by_dozat_momentum")
def _dozat_momentum_rule(a, x, fresh):
    k = a.get("step_offset", "0")
    mu = r"\mu_t" if k == "0" else rf"\mu_{{t+{k}}}"
    weight = rf"(1 - {mu})" if a.get("complement") == "True" else mu
    return rf"{weight}\,{_recipe.group(x)}", [_dozat_schedule(a)]


@_recipe.formula("dozat_bias_correction")
def _dozat_bias_correction_rule(a, x, fresh):
    k = a.get("step_offset", "0")
    last = "t" if k == "0" else f"t+{k}"
    return rf"\frac{{{x}}}{{1 - \prod_{{i=1}}^{{{last}}} \mu_i}}", [_dozat_schedule(a)]
