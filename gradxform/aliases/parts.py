"""Sub-recipes that several optimizers share, named once: Adam's moments, AMSGrad's ratio.

Each is a :func:`gradxform.sequence` (or sum) of primitives; composed into an optimizer it is
taken apart like any primitive, and its recipe prints the primitives it is made of.
"""
from __future__ import annotations

from typing import Any

from ..core import check as _check
from ..core import recipe as _recipe
from ..core.chain import sequence
from ..core.combinators import parallel_sum, ratio
from ..core.named import one_minus
from ..core.protocol import GradientTransformation
from ..core.types import Hyper
from ..core.wires import tap
from ..transforms.elementwise import sqrt_plus_eps
from ..transforms.moments import amsgrad_max, bias_correction, mean_of_squares, scale_by_momentum


def _momentum(b1: Hyper, dtype: Any, tap_as: str | None) -> list[GradientTransformation]:
    """:math:`m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t`, tapped as ``tap_as`` if given."""
    momentum = scale_by_momentum(b1, ema=True, dtype=dtype)
    return [momentum] if tap_as is None else [momentum, tap(tap_as)]


@_recipe.part
def debiased_momentum(b1: Hyper, dtype: Any = None, tap_as: str | None = None) -> GradientTransformation:
    r"""Adam's numerator: :math:`\hat m_t = m_t / (1-\beta_1^t)`, :math:`m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t`.

    ``tap_as`` names a wire (:func:`gradxform.tap`) carrying :math:`m_t` to a later branch."""
    return sequence(
        *_momentum(b1, dtype, tap_as),                   # m_t = b1 m + (1 - b1) g
        bias_correction(b1),                             # m_t / (1 - b1^t)
    )


@_recipe.part
def nesterov_debiased_momentum(b1: Hyper, dtype: Any = None, tap_as: str | None = None) -> GradientTransformation:
    r"""Nadam's numerator: :math:`\beta_1 m_t / (1-\beta_1^{t+1}) + (1-\beta_1) g_t / (1-\beta_1^t)`.

    ``tap_as`` names a wire (:func:`gradxform.tap`) carrying :math:`m_t` to a later branch."""
    return parallel_sum(
        (b1, _momentum(b1, dtype, tap_as)                    # m_t = b1 m + (1 - b1) g
         + [bias_correction(b1, step_offset=1)]),            # b1 m_t / (1 - b1^(t+1))
        (one_minus(b1), bias_correction(b1)),                # + (1 - b1) g_t / (1 - b1^t)
    )


@_recipe.part
def debiased_root_mean_square(
    b2: Hyper, eps: Hyper, eps_root: Hyper, dtype: Any = None
) -> GradientTransformation:
    r"""Adam's denominator: :math:`\sqrt{\hat v_t + \epsilon_{root}} + \epsilon` with
    :math:`\hat v_t = v_t / (1-\beta_2^t)`, :math:`v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2`.

    ``eps`` and ``eps_root`` may not both be 0: an entry whose gradients have all been 0 would
    divide 0 by 0."""
    _check.not_both_zero("debiased_root_mean_square", "1e-16", eps=eps, eps_root=eps_root)
    return sequence(
        mean_of_squares(b2, dtype=dtype),                # v_t = b2 v + (1 - b2) g^2
        bias_correction(b2),                             # v_t / (1 - b2^t)
        sqrt_plus_eps(eps, eps_root),                    # sqrt(v_hat + eps_root) + eps
    )


@_recipe.part
def amsgrad_ratio(
    b1: Hyper, b2: Hyper, eps: Hyper, eps_root: Hyper, mu_dtype: Any = None, nu_dtype: Any = None,
    bias_correction_mu: bool = True, bias_correction_nu: bool = True,
    max_before_bias_correction: bool = False,
) -> GradientTransformation:
    r"""AMSGrad's direction: :math:`\hat m_t / (\sqrt{\hat v^{max}_t + \epsilon_{root}} + \epsilon)`,
    the running maximum taken after the bias correction (Optax), before it (PyTorch), or of
    uncorrected moments (Reddi et al.). ``eps`` and ``eps_root`` may not both be 0."""
    _check.not_both_zero("amsgrad_ratio", "1e-16", eps=eps, eps_root=eps_root)
    first = [scale_by_momentum(b1, ema=True, dtype=mu_dtype)]            # m_t = b1 m + (1 - b1) g
    if bias_correction_mu:
        first += [bias_correction(b1)]                                    # m_t / (1 - b1^t)
    if not bias_correction_nu:                          # Reddi et al.: max(v_max, v_t)
        second = [mean_of_squares(b2, dtype=nu_dtype), amsgrad_max(nu_dtype)]
    elif max_before_bias_correction:                    # PyTorch: max(v_max, v_t) / (1 - b2^t)
        second = [mean_of_squares(b2, dtype=nu_dtype), amsgrad_max(nu_dtype), bias_correction(b2)]
    else:                                               # Optax: max(v_max, v_t / (1 - b2^t))
        second = [mean_of_squares(b2, dtype=nu_dtype), bias_correction(b2), amsgrad_max(nu_dtype)]
    return ratio(first, second + [sqrt_plus_eps(eps, eps_root)])       # sqrt(. + eps_root) + eps


def check_momentum_args(who: str, momentum: Any, nesterov: bool) -> None:
    """``nesterov`` needs a ``momentum``; a (heavy-ball) momentum is in ``[0, 1]``."""
    if momentum is None:
        if nesterov:
            raise ValueError(_check.NEEDS_OTHER.format(
                who=who, name="nesterov", value=nesterov, other="momentum"
            ))
        return
    _check.in_interval(who, 0.0, 1.0, "both", momentum=momentum)
