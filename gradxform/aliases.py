"""Every optimizer, each one a visible recipe of primitives chained together.

Each alias lists one primitive per term of the paper's update rule, with a trailing comment,
so that optimizers differing by one idea differ by one line.
"""
from __future__ import annotations

from typing import Any

from ._core import GradientTransformation, chain, ratio
from ._elementwise import sqrt_plus_eps
from ._moments import amsgrad_max, bias_correction, mean_of_squares, scale_by_momentum
from ._scaling import ScalarOrSchedule, scale_by_learning_rate

# ---------------------------------------------------------------------------------------------
# The Adam family
# ---------------------------------------------------------------------------------------------


def adam(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""Adam: a momentum of the gradient over the root of a running mean of its square.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \\
        \hat m_t = m_t / (1-\beta_1^t), \qquad \hat v_t = v_t / (1-\beta_2^t), \\
        u_t = -\alpha_t\, \hat m_t / (\sqrt{\hat v_t + \epsilon_{root}} + \epsilon)

    Chains :func:`ratio` of (:func:`scale_by_momentum` with ``ema=True``, :func:`bias_correction`)
    over (:func:`mean_of_squares`, :func:`bias_correction`, :func:`sqrt_plus_eps`), then
    :func:`scale_by_learning_rate`. ``nesterov=True`` is :func:`nadam`.

    Args:
        learning_rate: :math:`\alpha_t`, a number or a schedule.
        b1: :math:`\beta_1`, decay of the first moment; in ``[0, 1)``.
        b2: :math:`\beta_2`, decay of the second moment; in ``[0, 1)``.
        eps: :math:`\epsilon`, added outside the square root; ``>= 0``.
        eps_root: :math:`\epsilon_{root}`, added inside the square root; ``>= 0``.
        mu_dtype: dtype of the first moment's storage; ``None`` keeps the params' dtype.
        nesterov: use Nadam's look-ahead numerator.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.
        https://arxiv.org/abs/1412.6980

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.adam(0.1)
        >>> params = {"w": jnp.array([1.0, -2.0])}
        >>> state = opt.init(params)
        >>> updates, state = opt.update({"w": jnp.array([0.5, -0.5])}, state)
        >>> gx.apply_updates(params, updates)["w"]
        Array([ 0.9, -1.9], dtype=float32)
    """
    if nesterov:
        return nadam(learning_rate, b1, b2, eps, eps_root, mu_dtype)
    return chain(
        ratio(
            [scale_by_momentum(b1, ema=True, dtype=mu_dtype),  # m_t = b1 m + (1 - b1) g
             bias_correction(b1)],                              # m_t / (1 - b1^t)
            [mean_of_squares(b2),                               # v_t = b2 v + (1 - b2) g^2
             bias_correction(b2),                               # v_t / (1 - b2^t)
             sqrt_plus_eps(eps, eps_root)],                     # sqrt(v_hat + eps_root) + eps
        ),
        scale_by_learning_rate(learning_rate),                  # * -alpha_t
    )
