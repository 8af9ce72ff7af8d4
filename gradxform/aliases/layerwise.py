"""Layer-wise trust ratios on top of a direction: LARS (momentum SGD) and LAMB (Adam).

Each alias is one ``def`` whose body is the recipe, one primitive per term of the paper's rule
with a trailing comment; its hyperparameters are declared once, in its decorator.
"""
from __future__ import annotations

from typing import Any, Optional

import jax

from ..core.chain import chain
from ..core.combinators import ratio
from ..core.protocol import GradientTransformation
from ..core.recipe import alias
from ..core.types import ScalarOrSchedule
from ..transforms import additive as _additive
from ..transforms.additive import Mask
from ..transforms.moments import (
    scale_by_momentum,
)
from ..transforms.scaling import scale_by_learning_rate
from ..transforms.trust_ratio import scale_by_trust_ratio
from .parts import debiased_momentum, debiased_root_mean_square


@alias("learning_rate", "b1", "b2", "eps", "eps_root", "weight_decay")
def lamb(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-6,
    eps_root: ScalarOrSchedule = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Optional[Mask] = None,
    *,
    mu_dtype: Any = None,
    nu_dtype: Any = None,
) -> GradientTransformation:
    r"""LAMB: Adam's direction plus weight decay, rescaled per layer by the trust ratio.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \\
        r_t = \frac{m_t / (1-\beta_1^t)}{\sqrt{v_t / (1-\beta_2^t) + \epsilon_{root}} + \epsilon}
              + \lambda\,\theta_{t-1}, \qquad
        u_t = -\alpha_t\,\frac{\|\theta_{t-1}\|}{\|r_t\|}\,r_t

    with the norms taken per leaf (per layer) and the ratio 1 where either norm is zero. The
    paper's scaling function :math:`\phi` is the identity, as in Optax.

    Chains :func:`adam`'s :func:`ratio` (:func:`scale_by_momentum`, :func:`bias_correction` over
    :func:`mean_of_squares`, :func:`bias_correction`, :func:`sqrt_plus_eps`),
    :func:`weight_decay`, :func:`scale_by_trust_ratio` and :func:`scale_by_learning_rate`.

    Args:
        learning_rate: :math:`\alpha_t`, a number or a schedule.
        b1: :math:`\beta_1`, decay of the first moment; in ``[0, 1)``.
        b2: :math:`\beta_2`, decay of the second moment; in ``[0, 1)``.
        eps: :math:`\epsilon`, added outside the square root; ``>= 0``.
        eps_root: :math:`\epsilon_{root}`, added inside the square root; ``>= 0``.
        weight_decay: :math:`\lambda`, ``>= 0``.
        mask: which leaves to decay: a tree of bools shaped like the params, or a function of the
            params returning one; ``None`` decays every leaf.
        mu_dtype: dtype of the first moment's storage; ``None`` keeps the params' dtype.
        nu_dtype: dtype of the second moment's storage; ``None`` keeps the params' dtype.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        You et al., "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes",
        ICLR 2020, Algorithm 2. https://arxiv.org/abs/1904.00962

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.lamb(0.1)
        >>> params = {"w": jnp.array([3.0, -4.0])}
        >>> state = opt.init(params)
        >>> updates, state = opt.update({"w": jnp.array([0.5, -0.5])}, state, params)
        >>> gx.apply_updates(params, updates)["w"]
        Array([ 2.6464467, -3.6464467], dtype=float32)
    """
    return chain(
        ratio(debiased_momentum(b1, mu_dtype),                   # m_hat_t = m_t / (1 - b1^t)
              debiased_root_mean_square(b2, eps, eps_root, nu_dtype)),  # sqrt(v_hat_t + eps_root) + eps
        _additive.weight_decay(weight_decay, mask),              # r_t = . + lambda theta
        scale_by_trust_ratio(),                                  # * ||theta|| / ||r_t||, per leaf
        scale_by_learning_rate(learning_rate),                   # * -alpha_t
    )


@alias("learning_rate", "weight_decay", "trust_coefficient", "eps", "momentum")
def lars(
    learning_rate: ScalarOrSchedule,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: Mask = True,
    trust_coefficient: ScalarOrSchedule = 0.001,
    eps: ScalarOrSchedule = 0.0,
    trust_ratio_mask: Mask = True,
    momentum: ScalarOrSchedule = 0.9,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""LARS: SGD with momentum whose step per layer is rescaled by the trust ratio.

    .. math::
        d_t = g_t + \lambda\,\theta_{t-1}, \qquad
        v_t = \mu\,v_{t-1} - \alpha_t\,\eta\,\frac{\|\theta_{t-1}\|}{\|d_t\| + \epsilon}\,d_t,
        \qquad u_t = v_t

    with the norms taken per leaf (per layer), the ratio 1 where either norm is zero, and the
    Nesterov form :math:`u_t = \mu\,v_t - \alpha_t \eta \ldots d_t` if ``nesterov``. The momentum
    accumulates steps already scaled by the learning rate, as in the paper and Optax.

    Chains :func:`weight_decay`, :func:`scale_by_trust_ratio`, :func:`scale_by_learning_rate` and
    a heavy-ball :func:`scale_by_momentum`.

    Args:
        learning_rate: :math:`\alpha_t`, a number or a schedule.
        weight_decay: :math:`\lambda`, ``>= 0``.
        weight_decay_mask: which leaves to decay: ``True`` (all), a tree of bools shaped like the
            params, or a function of the params returning one.
        trust_coefficient: :math:`\eta`, ``> 0``.
        eps: :math:`\epsilon`, added to the norm of :math:`d_t`; ``>= 0``.
        trust_ratio_mask: which leaves to rescale, in the same forms as ``weight_decay_mask``;
            the others take the plain step :math:`\alpha_t d_t`.
        momentum: :math:`\mu`, the decay of the momentum; in ``[0, 1)``.
        nesterov: use Nesterov's look-ahead momentum.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        You, Gitman & Ginsburg, "Large Batch Training of Convolutional Networks", 2017,
        Algorithm 1. https://arxiv.org/abs/1708.03888

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.lars(0.1, trust_coefficient=1.0)
        >>> params = {"w": jnp.array([3.0, -4.0])}
        >>> state = opt.init(params)
        >>> updates, state = opt.update({"w": jnp.array([0.5, -0.5])}, state, params)
        >>> gx.apply_updates(params, updates)["w"]
        Array([ 2.6464467, -3.6464467], dtype=float32)
    """
    return chain(
        _additive.weight_decay(weight_decay,
                               _every_leaf(weight_decay_mask)),   # d_t = g + lambda theta
        scale_by_trust_ratio(trust_coefficient=trust_coefficient,
                             eps=eps,
                             mask=_every_leaf(trust_ratio_mask)),  # * eta |theta| / (|d_t| + eps)
        scale_by_learning_rate(learning_rate),                     # * -alpha_t
        scale_by_momentum(momentum, nesterov=nesterov),            # v_t = mu v + .
    )


def _every_leaf(mask: Mask) -> Optional[Mask]:
    """Optax's ``True`` (every leaf) as the primitives' ``None``, ``False`` as a mask of ``False``
    leaves; any other mask as it is."""
    if mask is True:
        return None
    if mask is False:
        return lambda params: jax.tree.map(lambda _: False, params)
    return mask
