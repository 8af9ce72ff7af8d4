"""SWATS: Adam that switches to SGD once its projected step size settles.

Each alias is one ``def`` whose body is the recipe, one primitive per term of the paper's rule
with a trailing comment; its hyperparameters are declared once, in its decorator.
"""
from __future__ import annotations

from ..core import check as _check
from ..core.chain import chain
from ..core.combinators import ratio
from ..core.named import one_minus
from ..core.protocol import GradientTransformation
from ..core.recipe import alias
from ..core.types import ScalarOrSchedule
from ..transforms.elementwise import sqrt_plus_eps
from ..transforms.moments import (
    bias_correction,
    mean_of_squares,
    scale_by_momentum,
)
from ..transforms.scaling import scale_by_learning_rate
from ..transforms.switching import switch_to_sgd
from .parts import debiased_momentum


@alias("learning_rate", "b1", "b2", "eps")
def swats(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-9,
) -> GradientTransformation:
    r"""SWATS: Adam that switches for good to SGD with momentum, at the learning rate Adam implied.

    Adam phase, with :math:`p_k` the step taken and :math:`k` the one-based step count:

    .. math::
        m_k = \beta_1 m_{k-1} + (1-\beta_1) g_k, \qquad
        a_k = \beta_2 a_{k-1} + (1-\beta_2) g_k^2, \qquad
        p_k = -\alpha_k\,\frac{m_k / (1-\beta_1^k)}{\sqrt{a_k / (1-\beta_2^k)} + \epsilon}, \\
        \gamma_k = \frac{p_k^\top p_k}{-p_k^\top g_k}, \qquad
        \lambda_k = \beta_2 \lambda_{k-1} + (1-\beta_2)\,\gamma_k
        \quad (\text{where } p_k^\top g_k \ne 0)

    After the first step :math:`k > 1` with
    :math:`|\lambda_k / (1-\beta_2^k) - \gamma_k| < \epsilon`, set
    :math:`\Lambda = \lambda_k / (1-\beta_2^k)` and continue with SGD, from :math:`v = 0`:

    .. math::  v_k = \beta_1 v_{k-1} + g_k, \qquad u_k = -(1-\beta_1)\,\Lambda\,v_k

    Chains :func:`switch_to_sgd` from (:func:`adam`'s :func:`ratio` of :func:`scale_by_momentum`
    and :func:`bias_correction` over :func:`mean_of_squares`, :func:`bias_correction` and
    :func:`sqrt_plus_eps`, then :func:`scale_by_learning_rate`) to (a heavy-ball
    :func:`scale_by_momentum`, then ``scale_by_learning_rate(1 - b1)``). The state's
    :class:`SwitchToSgdState` holds the phase, :math:`\lambda_k` and :math:`\Lambda`.

    The Adam phase is exactly :func:`adam`, with :math:`\epsilon` added to :math:`\sqrt{\hat a_k}`;
    Algorithm 1 writes Adam's equivalent "efficient" form, which adds it to
    :math:`\sqrt{a_k}`, i.e. :math:`\epsilon / \sqrt{1-\beta_2^k}` in this notation. The paper
    uses the same :math:`\epsilon` for Adam and for the switch; build your own
    :func:`switch_to_sgd` to tune the two apart.

    Args:
        learning_rate: :math:`\alpha_k`, Adam's learning rate; a number or a schedule. The SGD
            phase uses :math:`\Lambda` instead.
        b1: :math:`\beta_1`, decay of Adam's first moment and of the SGD momentum; in ``[0, 1)``.
        b2: :math:`\beta_2`, decay of Adam's second moment and of :math:`\lambda`; in ``[0, 1)``.
        eps: :math:`\epsilon`, Adam's and the switch criterion's; ``> 0`` (0 would divide 0 by
            0 for an entry whose gradients were all 0).

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Keskar & Socher, "Improving Generalization Performance by Switching from Adam to SGD",
        arXiv:1712.07628, 2017, Algorithm 1. https://arxiv.org/abs/1712.07628

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.swats(0.1, eps=1e-3)
        >>> state = opt.init(jnp.zeros(2))
        >>> for _ in range(3):
        ...     updates, state = opt.update(jnp.array([0.5, -0.5]), state)
        >>> switch = state[0]  # SwitchToSgdState: switched after step 2
        >>> bool(switch.switched), round(float(switch.learning_rate), 3)
        (True, 0.2)
    """
    _check.positive("swats", eps=eps)  # 0: an entry whose gradients were all 0 gives 0/0
    return chain(
        switch_to_sgd(
            [ratio(debiased_momentum(b1),              # m_hat_k = m_k / (1 - b1^k)
                   [mean_of_squares(b2),               # a_k = b2 a + (1 - b2) g^2
                    bias_correction(b2),               # a_k / (1 - b2^k)
                    sqrt_plus_eps(eps)]),              # sqrt(.) + eps
             scale_by_learning_rate(learning_rate)],   # p_k = * -alpha_k
            [scale_by_momentum(b1),                    # v_k = b1 v + g, once switched
             scale_by_learning_rate(one_minus(b1))],   # * -(1 - b1), then * Lambda
            decay=b2, eps=eps,                         # once |lambda_k/(1-b2^k) - gamma_k| < eps
        ),
    )
