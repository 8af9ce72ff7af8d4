"""Optimizers that move by signs: signSGD, Signum (signed momentum) and Rprop.

Each alias is one ``def`` whose body is the recipe, one primitive per term of the paper's rule
with a trailing comment; its hyperparameters are declared once, in its decorator.
"""
from __future__ import annotations

from typing import Any

from ..core import check as _check
from ..core.chain import chain
from ..core.protocol import GradientTransformation
from ..core.recipe import alias
from ..core.types import ScalarOrSchedule
from ..transforms.elementwise import sign
from ..transforms.moments import scale_by_momentum
from ..transforms.scaling import scale, scale_by_learning_rate
from ..transforms.sign_steps import check_rprop_args, scale_by_rprop


@alias("learning_rate")
def sign_sgd(learning_rate: ScalarOrSchedule) -> GradientTransformation:
    r"""signSGD: step against the sign of each gradient element, whatever its size.

    .. math::  u_t = -\alpha_t \operatorname{sign}(g_t)

    Chains :func:`sign` and :func:`scale_by_learning_rate`.

    Args:
        learning_rate: :math:`\alpha_t`, a number ``>= 0`` or a schedule.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Bernstein, Wang, Azizzadenesheli & Anandkumar, "signSGD: Compressed Optimisation for
        Non-Convex Problems", ICML 2018. https://arxiv.org/abs/1802.04434
        Balles, Pedregosa & Le Roux, "The Geometry of Sign Gradient Descent", 2020.
        https://arxiv.org/abs/2002.08056

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.sign_sgd(0.1)
        >>> params = {"w": jnp.array([1.0, -2.0, 0.5])}
        >>> updates, _ = opt.update({"w": jnp.array([3.0, -0.01, 0.0])}, opt.init(params))
        >>> updates["w"]
        Array([-0.1,  0.1, -0. ], dtype=float32)
    """
    _check.learning_rate("sign_sgd", learning_rate=learning_rate)
    return chain(
        sign(),                                   # sign(g_t)
        scale_by_learning_rate(learning_rate),    # * -alpha_t
    )


@alias("learning_rate", "beta")
def signum(
    learning_rate: ScalarOrSchedule, beta: ScalarOrSchedule = 0.9, accumulator_dtype: Any | None = None
) -> GradientTransformation:
    r"""Signum: step against the sign of an exponential moving average of the gradients.

    .. math::  m_t = \beta\,m_{t-1} + (1-\beta)\,g_t, \qquad u_t = -\alpha_t \operatorname{sign}(m_t)

    with :math:`m_0 = 0` and no bias correction (a positive factor leaves the sign as it is).
    Chains an EMA :func:`scale_by_momentum`, :func:`sign` and :func:`scale_by_learning_rate`.

    Args:
        learning_rate: :math:`\alpha_t`, a number ``>= 0`` or a schedule.
        beta: :math:`\beta`, decay of the moving average; in ``[0, 1)``.
        accumulator_dtype: dtype of :math:`m`'s storage; ``None`` keeps the params' dtype.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Bernstein, Wang, Azizzadenesheli & Anandkumar, "signSGD: Compressed Optimisation for
        Non-Convex Problems", ICML 2018. https://arxiv.org/abs/1802.04434
        Zhao, Morwani, Brandfonbrener, Vyas & Kakade, "Deconstructing What Makes a Good
        Optimizer for Language Models", 2024. https://arxiv.org/abs/2407.07972

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.signum(0.1, beta=0.5)
        >>> params = {"w": jnp.array([1.0, -2.0])}
        >>> state = opt.init(params)
        >>> for g in ([1.0, -1.0], [-0.25, -1.0]):  # m = [0.125, -0.75] after both
        ...     updates, state = opt.update({"w": jnp.array(g)}, state)
        >>> updates["w"]
        Array([-0.1,  0.1], dtype=float32)
    """
    _check.learning_rate("signum", learning_rate=learning_rate)
    _check.decay("signum", beta=beta)
    return chain(
        scale_by_momentum(beta, ema=True, dtype=accumulator_dtype),   # m_t = beta m + (1 - beta) g
        sign(),                                                        # sign(m_t)
        scale_by_learning_rate(learning_rate),                         # * -alpha_t
    )


@alias("eta_minus", "eta_plus", "min_step_size", "max_step_size")
def rprop(
    learning_rate: float,
    eta_minus: ScalarOrSchedule = 0.5,
    eta_plus: ScalarOrSchedule = 1.2,
    min_step_size: ScalarOrSchedule = 1e-6,
    max_step_size: ScalarOrSchedule = 50.0,
) -> GradientTransformation:
    r"""Rprop: a step size per element, grown while its gradient keeps its sign, shrunk when it flips.

    With :math:`\Delta_{t-1}` the previous step and :math:`s_t = g_t\,\Delta_{t-1}`:

    .. math::
        \eta_t = \operatorname{clip}\big(\eta^{\pm}\,\eta_{t-1}, \eta_{min}, \eta_{max}\big)
        \text{ with } \eta^+ \text{ if } s_t > 0,\ \eta^- \text{ if } s_t < 0
        \ (\eta_t = \eta_{t-1} \text{ if } s_t = 0), \qquad \eta_0 = \alpha, \\
        \Delta_t = [s_t \ge 0]\,\eta_t \operatorname{sign}(g_t), \qquad
        u_t = -[s_t \ge 0]\,\Delta_{t-1}

    A flip of sign shrinks the step size and cancels the step (iRprop\ :sup:`-`). As in Optax,
    the update applies the step decided at the previous update (none on the first), one step
    behind the paper. Chains :func:`scale_by_rprop` and ``scale(-1.0)``.

    Args:
        learning_rate: :math:`\alpha`, every element's initial step size; a number ``> 0``.
        eta_minus: :math:`\eta^-`, the factor on a flip of sign; in ``(0, 1]``.
        eta_plus: :math:`\eta^+`, the factor while the sign holds; ``>= 1``.
        min_step_size: :math:`\eta_{min}`, the least step size; ``>= 0``.
        max_step_size: :math:`\eta_{max}`, the largest step size; ``>= min_step_size``.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Riedmiller & Braun, "A direct adaptive method for faster backpropagation learning: the
        RPROP algorithm", IEEE International Conference on Neural Networks, 1993.
        https://doi.org/10.1109/ICNN.1993.298623
        Igel & Hüsken, "Empirical evaluation of the improved Rprop learning algorithms",
        Neurocomputing 50, 2003. https://doi.org/10.1016/S0925-2312(01)00700-7

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.rprop(0.1)
        >>> params = {"w": jnp.array([1.0, -2.0])}
        >>> state = opt.init(params)
        >>> for g in ([1.0, -1.0], [2.0, 1.0]):  # the second gradient flips the sign of w[1]
        ...     updates, state = opt.update({"w": jnp.array(g)}, state)
        >>> print(updates["w"])  # w[0] takes its first step; w[1]'s is cancelled
        [-0.1 -0. ]
    """
    check_rprop_args("rprop", learning_rate, eta_minus, eta_plus, min_step_size, max_step_size)
    return chain(
        scale_by_rprop(learning_rate, eta_minus, eta_plus,
                       min_step_size, max_step_size),   # [s_t >= 0] Delta_(t-1), eta_t by sign of s_t
        scale(-1.0),                                     # descend: * -1
    )
