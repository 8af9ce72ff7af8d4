"""Running moments of the updates: momentum, mean of squares, bias correction, AMSGrad's max."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from . import _check, _step, _tree
from ._core import EmptyState, GradientTransformation

PyTree = Any


class ScaleByMomentumState(NamedTuple):
    mu: PyTree  # running (weighted) sum of updates; params' tree, in `dtype` or the params' dtype


def scale_by_momentum(
    decay: float = 0.9, nesterov: bool = False, ema: bool = False, dtype=None
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
        decay: :math:`\beta`, the weight kept from the previous momentum; in ``[0, 1)``.
        nesterov: output the look-ahead :math:`u_t` above instead of :math:`\mu_t`.
        ema: weight the new update by :math:`1-\beta` (a running mean) instead of 1 (a running sum).
        dtype: dtype in which :math:`\mu` is stored; ``None`` keeps the params' dtype.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ScaleByMomentumState`.

    References:
        Polyak, "Some methods of speeding up the convergence of iteration methods", USSR
        Computational Mathematics and Mathematical Physics, 1964.
        Sutskever, Martens, Dahl & Hinton, "On the importance of initialization and momentum in
        deep learning", ICML 2013.
    """
    _check.decay("scale_by_momentum", decay=decay)

    def accumulate(g, m):
        return (1 - decay) * g + decay * m if ema else g + decay * m

    def init(params):
        _check.inexact_leaves("scale_by_momentum", params)
        return ScaleByMomentumState(mu=_tree.zeros_like(params, dtype))

    def update(updates, state, params=None, **extra_args):
        _check.same_structure("scale_by_momentum", updates=updates, state=state.mu)
        mu = jax.tree.map(accumulate, updates, state.mu)
        out = jax.tree.map(accumulate, updates, mu) if nesterov else mu
        return out, ScaleByMomentumState(mu=_tree.cast(mu, dtype))

    return GradientTransformation(init, update)


class MeanOfSquaresState(NamedTuple):
    nu: PyTree  # running mean of squared updates; params' tree and dtype


def mean_of_squares(decay: float = 0.999, initial_value: float = 0.0) -> GradientTransformation:
    r"""Replace each update by a running mean of its square (Adam's second moment).

    .. math::  \nu_t = (1-\beta)\,|g_t|^2 + \beta\,\nu_{t-1}, \qquad \nu_0 = \nu_{init}, \qquad u_t = \nu_t

    Args:
        decay: :math:`\beta`, the weight kept from the previous mean; in ``[0, 1)``.
        initial_value: :math:`\nu_{init}`, the mean before the first update; ``>= 0``
            (RMSprop's ``initial_scale``: Optax and PyTorch use 0, TensorFlow 1).

    Returns:
        A :class:`GradientTransformation` whose state is :class:`MeanOfSquaresState`.

    References:
        Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, Algorithm 1.
    """
    _check.decay("mean_of_squares", decay=decay)
    _check.non_negative("mean_of_squares", initial_value=initial_value)

    def init(params):
        _check.inexact_leaves("mean_of_squares", params)
        return MeanOfSquaresState(nu=_tree.full_like(params, initial_value))

    def update(updates, state, params=None, **extra_args):
        _check.same_structure("mean_of_squares", updates=updates, state=state.nu)
        nu = _tree.ema(_tree.square(updates), state.nu, decay)
        return nu, MeanOfSquaresState(nu=nu)

    return GradientTransformation(init, update)


def bias_correction(decay: float, step_offset: int = 0) -> GradientTransformation:
    r"""Undo the bias toward zero of a running mean started at zero.

    .. math::  u_t = m_t / (1 - \beta^{\,t + k}), \qquad t = 1, 2, \dots

    where :math:`t` is the one-based step count read from :func:`gradxform.chain`. The
    correction is computed in float32 (or float64 under x64) and the division in the update's
    dtype, so bfloat16 state stays bfloat16 without rounding :math:`\beta^t` to 1. Stateless.

    Args:
        decay: :math:`\beta`, the decay of the running mean being corrected; in ``[0, 1)``.
        step_offset: :math:`k`; Nadam's look-ahead momentum uses ``1`` (Dozat 2016).

    Returns:
        A :class:`GradientTransformation` whose state is :class:`~gradxform.EmptyState`.

    References:
        Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, Section 3.
    """
    _check.decay("bias_correction", decay=decay)
    if not isinstance(step_offset, int) or step_offset < 0:
        raise ValueError(
            _check.RANGE.format(
                who="bias_correction", name="step_offset", expected="an int >= 0",
                value=step_offset, hint="",
            )
        )
    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        t = _step.advance(_step.read(extra_args, "bias_correction"), 1 + step_offset)
        correction = 1 - decay ** _step.as_float(t)
        return jax.tree.map(lambda m: m / correction.astype(m.dtype), updates), state

    return GradientTransformation(init, update)


class AmsgradMaxState(NamedTuple):
    nu_max: PyTree  # elementwise maximum of every update so far; params' tree and dtype


def amsgrad_max() -> GradientTransformation:
    r"""Replace each update by the running elementwise maximum of all updates so far.

    .. math::  \hat\nu_t = \max(\hat\nu_{t-1}, \nu_t), \qquad \hat\nu_0 = 0, \qquad u_t = \hat\nu_t

    Placed after :func:`bias_correction` in the denominator it is Optax's AMSGrad; placed before,
    PyTorch's (``amsgrad=True``), which matches Reddi et al.'s max over raw second moments.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`AmsgradMaxState`.

    References:
        Reddi, Kale & Kumar, "On the Convergence of Adam and Beyond", ICLR 2018, Algorithm 2.
    """

    def init(params):
        _check.inexact_leaves("amsgrad_max", params)
        return AmsgradMaxState(nu_max=_tree.zeros_like(params))

    def update(updates, state, params=None, **extra_args):
        _check.same_structure("amsgrad_max", updates=updates, state=state.nu_max)
        nu_max = jax.tree.map(jnp.maximum, state.nu_max, updates)
        return nu_max, AmsgradMaxState(nu_max=nu_max)

    return GradientTransformation(init, update)
