"""Sub-recipes that several optimizers share, named once: Adam's moments and their checks.

Each is a :func:`gradxform.sequence` (or sum) of primitives; composed into an optimizer it is
taken apart like any primitive, and its recipe prints the primitives it is made of.
"""
from __future__ import annotations

from typing import Any

from ..core import check as _check
from ..core import recipe as _recipe
from ..core.chain import sequence
from ..core.combinators import parallel_sum
from ..core.named import one_minus
from ..core.protocol import GradientTransformation
from ..core.types import Hyper
from ..transforms.elementwise import sqrt_plus_eps
from ..transforms.moments import bias_correction, mean_of_squares, scale_by_momentum


@_recipe.part
def debiased_momentum(b1: Hyper, dtype: Any = None) -> GradientTransformation:
    r"""Adam's numerator: :math:`\hat m_t = m_t / (1-\beta_1^t)`, :math:`m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t`."""
    return sequence(
        scale_by_momentum(b1, ema=True, dtype=dtype),    # m_t = b1 m + (1 - b1) g
        bias_correction(b1),                             # m_t / (1 - b1^t)
    )


@_recipe.part
def nesterov_debiased_momentum(b1: Hyper, dtype: Any = None) -> GradientTransformation:
    r"""Nadam's numerator: :math:`\beta_1 m_t / (1-\beta_1^{t+1}) + (1-\beta_1) g_t / (1-\beta_1^t)`."""
    return parallel_sum(
        (b1, [scale_by_momentum(b1, ema=True, dtype=dtype),  # m_t = b1 m + (1 - b1) g
              bias_correction(b1, step_offset=1)]),          # b1 m_t / (1 - b1^(t+1))
        (one_minus(b1), bias_correction(b1)),                # + (1 - b1) g_t / (1 - b1^t)
    )


@_recipe.part
def debiased_root_mean_square(
    b2: Hyper, eps: Hyper, eps_root: Hyper, dtype: Any = None
) -> GradientTransformation:
    r"""Adam's denominator: :math:`\sqrt{\hat v_t + \epsilon_{root}} + \epsilon` with
    :math:`\hat v_t = v_t / (1-\beta_2^t)`, :math:`v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2`."""
    return sequence(
        mean_of_squares(b2, dtype=dtype),                # v_t = b2 v + (1 - b2) g^2
        bias_correction(b2),                             # v_t / (1 - b2^t)
        sqrt_plus_eps(eps, eps_root),                    # sqrt(v_hat + eps_root) + eps
    )


def check_momentum_args(who: str, momentum: Any, nesterov: bool) -> None:
    """``nesterov`` needs a ``momentum``; a momentum is a decay in ``[0, 1)``."""
    if momentum is None:
        if nesterov:
            raise ValueError(_check.NEEDS_OTHER.format(
                who=who, name="nesterov", value=nesterov, other="momentum"
            ))
        return
    _check.decay(who, momentum=momentum)
