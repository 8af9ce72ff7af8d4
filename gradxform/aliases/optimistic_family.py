"""Optimistic methods for min-max games: optimistic gradient descent and Optimistic Adam.

Each alias is one ``def`` whose body is the recipe, one primitive per term of the paper's rule
with a trailing comment; its hyperparameters are declared once, in its decorator.
"""
from __future__ import annotations

from typing import Any, Optional

from ..core import check as _check
from ..core.chain import chain
from ..core.combinators import ratio
from ..core.protocol import GradientTransformation
from ..core.recipe import alias
from ..core.types import ScalarOrSchedule
from ..transforms.optimistic import scale_by_optimistic_gradient
from ..transforms.scaling import scale, scale_by_learning_rate
from .parts import debiased_momentum, debiased_root_mean_square, nesterov_debiased_momentum


@alias("learning_rate", "alpha", "beta")
def optimistic_gradient_descent(
    learning_rate: ScalarOrSchedule, alpha: ScalarOrSchedule = 1.0, beta: ScalarOrSchedule = 1.0
) -> GradientTransformation:
    r"""Optimistic gradient descent: a gradient step corrected by the change since the previous gradient.

    .. math::  u_t = -\eta_t\,\big((\alpha + \beta)\,g_t - \beta\,g_{t-1}\big), \qquad g_0 = g_1

    An approximation of the extra-gradient method with one gradient per step; its last iterate
    converges in bilinear min-max games, where gradient descent cycles or diverges. Chains
    :func:`scale_by_optimistic_gradient` and :func:`scale_by_learning_rate`.

    Args:
        learning_rate: :math:`\eta_t`, a number ``>= 0`` or a schedule.
        alpha: :math:`\alpha`, the weight of the gradient; a finite number.
        beta: :math:`\beta`, the weight of its change (a negative momentum); a finite number.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Mokhtari, Ozdaglar & Pattathil, "A Unified Analysis of Extra-gradient and Optimistic
        Gradient Methods for Saddle Point Problems: Proximal Point Approach", AISTATS 2020.
        https://arxiv.org/abs/1901.08511

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.optimistic_gradient_descent(0.1)
        >>> params = {"w": jnp.array([1.0, -2.0])}
        >>> state = opt.init(params)
        >>> for g in ([1.0, -1.0], [2.0, -1.0]):  # second: 2 g_2 - g_1
        ...     updates, state = opt.update({"w": jnp.array(g)}, state)
        >>> updates["w"]
        Array([-0.3,  0.1], dtype=float32)
    """
    _check.learning_rate("optimistic_gradient_descent", learning_rate=learning_rate)
    _check.finite("optimistic_gradient_descent", alpha=alpha, beta=beta)
    return chain(
        scale_by_optimistic_gradient(alpha, beta),   # (alpha + beta) g_t - beta g_(t-1)
        scale_by_learning_rate(learning_rate),       # * -eta_t
    )


@alias("learning_rate", "optimism", "b1", "b2", "eps", "eps_root")
def optimistic_adam(
    learning_rate: ScalarOrSchedule,
    optimism: Optional[ScalarOrSchedule] = None,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-08,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = True,
) -> GradientTransformation:
    r"""Optimistic Adam: Adam's direction with an optimistic correction by its change since the last step.

    .. math::
        r_t = \frac{\hat m_t}{\sqrt{\hat v_t + \epsilon_{root}} + \epsilon}, \qquad
        u_t = -\alpha\,r_t - o\,(r_t - r_{t-1}), \qquad r_0 = r_1

    with :math:`\hat m_t, \hat v_t` Adam's bias-corrected moments (Nadam's look-ahead
    :math:`\hat m_t` if ``nesterov``, the default, as in Optax) and :math:`o` the optimism
    (the learning rate unless given, as in the paper). Optax 0.2.8 deprecates this signature in
    favour of :func:`optimistic_adam_v2` and rejects a schedule; here both are accepted.
    Chains :func:`adam`'s :func:`ratio`, :func:`scale_by_optimistic_gradient` with
    :math:`(\alpha, o)`, and ``scale(-1.0)``.

    Args:
        learning_rate: :math:`\alpha`, a number ``>= 0`` or a schedule.
        optimism: :math:`o`, the weight of the change of direction; ``None``: the learning rate.
        b1: :math:`\beta_1`, decay of the first moment; in ``[0, 1)``.
        b2: :math:`\beta_2`, decay of the second moment; in ``[0, 1)``.
        eps: :math:`\epsilon`, added outside the square root; ``>= 0``.
        eps_root: :math:`\epsilon_{root}`, added inside the square root; ``>= 0``.
        mu_dtype: dtype of the first moment's storage; ``None`` keeps the params' dtype.
        nesterov: use Nadam's look-ahead first moment.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Daskalakis, Ilyas, Syrgkanis & Zeng, "Training GANs with Optimism", ICLR 2018.
        https://arxiv.org/abs/1711.00141

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.optimistic_adam(0.1, optimism=0.5, nesterov=False)
        >>> params = {"w": jnp.array([1.0, -2.0])}
        >>> updates, _ = opt.update({"w": jnp.array([0.5, -0.5])}, opt.init(params))
        >>> [round(float(u), 4) for u in updates["w"]]  # -0.1 r_1 - 0.5 (r_1 - r_1), r_1 ~ sign(g)
        [-0.1, 0.1]
    """
    _check.learning_rate("optimistic_adam", learning_rate=learning_rate)
    if optimism is not None:
        _check.finite("optimistic_adam", optimism=optimism)
    if optimism is None:
        optimism = learning_rate                              # o = alpha, as in the paper
    first = (nesterov_debiased_momentum(b1, mu_dtype) if nesterov
             else debiased_momentum(b1, mu_dtype))
    return chain(
        ratio(first,                                          # m_hat_t (Nesterov: look-ahead)
              debiased_root_mean_square(b2, eps, eps_root)),  # / (sqrt(v_hat_t + eps_root) + eps)
        scale_by_optimistic_gradient(learning_rate, optimism),  # (alpha + o) r_t - o r_(t-1)
        scale(-1.0),                                          # descend: * -1
    )


@alias("learning_rate", "alpha", "beta", "b1", "b2", "eps", "eps_root")
def optimistic_adam_v2(
    learning_rate: ScalarOrSchedule,
    *,
    alpha: ScalarOrSchedule = 1.0,
    beta: ScalarOrSchedule = 1.0,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-08,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: Optional[Any] = None,
    nesterov: bool = True,
) -> GradientTransformation:
    r"""Optimistic Adam: optimistic gradient descent on Adam's direction, scaled by a learning rate.

    .. math::
        r_t = \frac{\hat m_t}{\sqrt{\hat v_t + \epsilon_{root}} + \epsilon}, \qquad
        u_t = -\eta_t\,\big((\alpha + \beta)\,r_t - \beta\,r_{t-1}\big), \qquad r_0 = r_1

    with :math:`\hat m_t, \hat v_t` Adam's bias-corrected moments (Nadam's look-ahead
    :math:`\hat m_t` if ``nesterov``, the default, as in Optax). Optax's reworked interface of
    :func:`optimistic_adam`: ``optimistic_adam(a, o)`` is ``optimistic_adam_v2(1.0, alpha=a,
    beta=o)``. Chains :func:`adam`'s :func:`ratio`, :func:`scale_by_optimistic_gradient` and
    :func:`scale_by_learning_rate`.

    Args:
        learning_rate: :math:`\eta_t`, a number ``>= 0`` or a schedule.
        alpha: :math:`\alpha`, the weight of the direction; a finite number.
        beta: :math:`\beta`, the weight of its change since the last step; a finite number.
        b1: :math:`\beta_1`, decay of the first moment; in ``[0, 1)``.
        b2: :math:`\beta_2`, decay of the second moment; in ``[0, 1)``.
        eps: :math:`\epsilon`, added outside the square root; ``>= 0``.
        eps_root: :math:`\epsilon_{root}`, added inside the square root; ``>= 0``.
        mu_dtype: dtype of the first moment's storage; ``None`` keeps the params' dtype.
        nesterov: use Nadam's look-ahead first moment.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Daskalakis, Ilyas, Syrgkanis & Zeng, "Training GANs with Optimism", ICLR 2018.
        https://arxiv.org/abs/1711.00141

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.optimistic_adam_v2(0.1, alpha=0.5, nesterov=False)
        >>> params = {"w": jnp.array([1.0, -2.0])}
        >>> updates, _ = opt.update({"w": jnp.array([0.5, -0.5])}, opt.init(params))
        >>> [round(float(u), 4) for u in updates["w"]]  # -0.1 (1.5 r_1 - r_1), r_1 ~ sign(g)
        [-0.05, 0.05]
    """
    _check.learning_rate("optimistic_adam_v2", learning_rate=learning_rate)
    _check.finite("optimistic_adam_v2", alpha=alpha, beta=beta)
    first = (nesterov_debiased_momentum(b1, mu_dtype) if nesterov
             else debiased_momentum(b1, mu_dtype))
    return chain(
        ratio(first,                                          # m_hat_t (Nesterov: look-ahead)
              debiased_root_mean_square(b2, eps, eps_root)),  # / (sqrt(v_hat_t + eps_root) + eps)
        scale_by_optimistic_gradient(alpha, beta),            # (alpha + beta) r_t - beta r_(t-1)
        scale_by_learning_rate(learning_rate),                # * -eta_t
    )
