r"""Optax's names for three of gradxform's primitives, where switching from Optax needs them.

Each is a second public name with Optax's signature, defaults and results, and each is a recipe
of the primitive that does the work: :func:`add_decayed_weights` is :func:`weight_decay`,
:func:`trace` is :func:`scale_by_momentum`'s heavy-ball form, :func:`ema` is its
exponential-moving-average form followed by :func:`bias_correction`. New code can call the
primitives directly; the states are the primitives' own.
"""
from __future__ import annotations

from typing import Any, Optional

import jax

from ..core.chain import sequence
from ..core.protocol import GradientTransformation
from ..core.recipe import alias
from ..core.types import MaskOrFn, ScalarOrSchedule
from . import additive as _additive
from .moments import bias_correction, scale_by_momentum


@alias("weight_decay")
def add_decayed_weights(
    weight_decay: ScalarOrSchedule = 0.0, mask: MaskOrFn = None
) -> GradientTransformation:
    r"""Optax's name for :func:`weight_decay`: add the parameters, scaled, to the update.

    .. math::  u_t = g_t + \lambda_t\,\theta_{t-1}

    The hyperparameter is stored as ``"weight_decay"`` (read it with
    :func:`gradxform.hyperparams`). A mask is handled as Optax handles it: the decay runs inside
    :func:`gradxform.masked`, so the mask may be a prefix of the params' tree or a function of
    the params, and the state is a :class:`MaskedState`.

    Args:
        weight_decay: :math:`\lambda_t`, ``>= 0``; a number or a schedule. The Python number 0
            leaves updates as they are.
        mask: ``None`` to decay every leaf, or bools (``True``: decay) in a tree shaped like the
            params or a prefix of it, or a function of the params returning one.

    Returns:
        A :class:`GradientTransformation`: :func:`weight_decay`'s, or a :func:`gradxform.masked`
        one around it.

    References:
        Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.
        https://arxiv.org/abs/1711.05101
    """
    decay = _additive.weight_decay(weight_decay)  # u = g + lambda theta
    if mask is None:
        return decay
    from ..wrappers.masking import masked  # a wrapper: imported here, the layer above primitives

    return masked(decay, mask)


@alias("decay")
def trace(
    decay: ScalarOrSchedule, nesterov: bool = False, accumulator_dtype: Optional[Any] = None
) -> GradientTransformation:
    r"""Optax's name for :func:`scale_by_momentum`'s heavy-ball form (``ema=False``).

    .. math::  \mu_t = g_t + \beta\,\mu_{t-1}, \qquad
               u_t = \mu_t \quad\text{or, with Nesterov,}\quad u_t = g_t + \beta\,\mu_t

    Optax calls the buffer ``trace``; the state is :class:`ScaleByMomentumState`, whose ``mu``
    is also readable as ``trace`` (``state.trace``, ``optax.tree.get(state, "trace")``).

    Args:
        decay: :math:`\beta`, in ``[0, 1)``; a number or a schedule.
        nesterov: output the look-ahead :math:`g_t + \beta\,\mu_t`.
        accumulator_dtype: dtype in which :math:`\mu` is stored; ``None`` keeps the params'.

    Returns:
        :func:`scale_by_momentum`'s :class:`GradientTransformation`.

    References:
        Polyak, "Some methods of speeding up the convergence of iteration methods", USSR
        Computational Mathematics and Mathematical Physics, 1964.
    """
    return scale_by_momentum(decay, nesterov, ema=False,           # mu = g + beta mu
                             dtype=_canonical(accumulator_dtype))


@alias("decay")
def ema(
    decay: ScalarOrSchedule, debias: bool = True, accumulator_dtype: Optional[Any] = None
) -> GradientTransformation:
    r"""Optax's ``ema``: :func:`scale_by_momentum`'s EMA form, then :func:`bias_correction`.

    .. math::  \mu_t = (1-\beta)\,g_t + \beta\,\mu_{t-1}, \qquad
               u_t = \mu_t / (1 - \beta^t) \quad\text{(or } \mu_t \text{ without debias)}

    Args:
        decay: :math:`\beta`, in ``[0, 1)``; a number or a schedule.
        debias: divide by :math:`1 - \beta^t` (:math:`t` the one-based step count).
        accumulator_dtype: dtype in which :math:`\mu` is stored; ``None`` keeps the params'.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ScaleByMomentumState`, with
        :func:`bias_correction`'s :class:`EmptyState` after it when ``debias``.
    """
    moment = scale_by_momentum(decay, ema=True, dtype=_canonical(accumulator_dtype))
    if not debias:
        return moment                                              # mu = (1-beta) g + beta mu
    return sequence(moment,                                        # mu = (1-beta) g + beta mu
                    bias_correction(decay))                        # mu / (1 - beta^t)


def _canonical(dtype: Any) -> Any:
    """``dtype`` as JAX stores it (float64 is float32 without x64), as Optax canonicalizes it."""
    return None if dtype is None else jax.dtypes.canonicalize_dtype(dtype)
