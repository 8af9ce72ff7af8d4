"""Adaptive optimizers of ``optax.contrib``: AdEMAMix and its simplified form, ACProp, MADGRAD, MoMo.

AdEMAMix adds a slow momentum to Adam's numerator; simplified AdEMAMix mixes the gradient into a
heavy-ball momentum; ACProp divides the gradient by a belief moment that has not yet seen it;
MADGRAD steps by dual averaging with a cube-root denominator; MoMo sizes a momentum step by a model
of the loss. Each alias is one ``def`` whose body is the recipe, one primitive per term of the
paper's rule with a trailing comment; its hyperparameters are declared once, in its decorator.
Names, signatures, defaults and results are ``optax.contrib``'s.
"""
from __future__ import annotations

from typing import Any, Optional

from ..core import check as _check
from ..core.chain import chain
from ..core.combinators import parallel_sum, ratio
from ..core.protocol import GradientTransformation, identity
from ..core.recipe import alias
from ..core.types import ScalarOrSchedule
from ..transforms import additive as _additive
from ..transforms.additive import Mask
from ..transforms.dual_averaging import cbrt_plus_eps, dual_averaging_step, scale_by_dual_averaging_weight
from ..transforms.elementwise import sqrt_plus_eps, square
from ..transforms.lagged_moments import lagged_belief_moment, lagged_bias_correction, lagged_momentum
from ..transforms.model_step import momo_step, warm_started_momentum
from ..transforms.moments import bias_correction, mean_of_squares, scale_by_momentum
from ..transforms.scaling import scale_by_learning_rate
from .parts import debiased_momentum, debiased_root_mean_square

# --- AdEMAMix -------------------------------------------------------------------------------------


def _ademamix_ratio(b1, b2, b3, alpha, eps, eps_root, mu_dtype) -> GradientTransformation:
    """AdEMAMix's direction: (fast debiased momentum + alpha slow momentum) / Adam's denominator."""
    return ratio(
        parallel_sum(
            (1.0, debiased_momentum(b1, mu_dtype)),                    # m1_hat_t = m1_t / (1 - b1^t)
            (alpha, scale_by_momentum(b3, ema=True, dtype=mu_dtype)),  # + alpha_t m2_t, no correction
        ),
        debiased_root_mean_square(b2, eps, eps_root, mu_dtype),        # sqrt(v_hat_t + eps_root) + eps
    )


@alias("b1", "b2", "b3", "alpha", "eps", "eps_root")
def scale_by_ademamix(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    b3: ScalarOrSchedule = 0.9999,
    alpha: ScalarOrSchedule = 6.0,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: Optional[Any] = None,
) -> GradientTransformation:
    r"""AdEMAMix's direction, without the learning rate.

    .. math::  u_t = (\hat m^{(1)}_t + \alpha_t\, m^{(2)}_t) / (\sqrt{\hat\nu_t + \bar\epsilon} + \epsilon)

    The recipe of :func:`ademamix` less its weight decay and learning rate, counted by its own
    :func:`gradxform.chain`. Same arguments and defaults as ``optax.contrib.scale_by_ademamix``
    (whose ``alpha`` defaults to 6, :func:`ademamix`'s to 5).

    Args:
        b1, b2, b3, alpha, eps, eps_root, mu_dtype: as in :func:`ademamix`.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Pagliardini, Ablin & Grangier, "The AdEMAMix Optimizer: Better, Faster, Older",
        ICLR 2025. https://arxiv.org/abs/2409.03137
    """
    return chain(_ademamix_ratio(b1, b2, b3, alpha, eps, eps_root, mu_dtype))


@alias("learning_rate", "b1", "b2", "b3", "alpha", "eps", "eps_root", "weight_decay")
def ademamix(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    b3: ScalarOrSchedule = 0.9999,
    alpha: ScalarOrSchedule = 5.0,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: Optional[Any] = None,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Optional[Mask] = None,
) -> GradientTransformation:
    r"""AdEMAMix: Adam whose numerator adds a slow, uncorrected momentum to the fast one.

    .. math::
        m^{(1)}_t = \beta_1 m^{(1)}_{t-1} + (1-\beta_1) g_t, \qquad
        m^{(2)}_t = \beta_{3,t} m^{(2)}_{t-1} + (1-\beta_{3,t}) g_t, \qquad
        \nu_t = \beta_2 \nu_{t-1} + (1-\beta_2) g_t^2, \\
        u_t = -\eta_t \Big( \frac{m^{(1)}_t / (1-\beta_1^t) + \alpha_t\, m^{(2)}_t}
                                 {\sqrt{\nu_t / (1-\beta_2^t) + \bar\epsilon} + \epsilon}
                           + \lambda\,\theta_{t-1} \Big)

    The slow momentum is not bias-corrected, so that it fills slowly (the paper's point: it
    remembers gradients tens of thousands of steps old). The paper warms :math:`\alpha` and
    :math:`\beta_3` up with schedules; both accept one (a function of the zero-based step).
    Chains :func:`ratio` of a :func:`parallel_sum` of (:func:`scale_by_momentum`,
    :func:`bias_correction`) and :func:`scale_by_momentum` (``b3``) over (:func:`mean_of_squares`,
    :func:`bias_correction`, :func:`sqrt_plus_eps`), then :func:`weight_decay` and
    :func:`scale_by_learning_rate`. Numbers as ``optax.contrib.ademamix``'s.

    Args:
        learning_rate: :math:`\eta_t`, a number or a schedule.
        b1: :math:`\beta_1`, decay of the fast momentum; in ``[0, 1)``.
        b2: :math:`\beta_2`, decay of the second moment; in ``[0, 1)``.
        b3: :math:`\beta_3`, decay of the slow momentum; in ``[0, 1)``; a number or a schedule.
        alpha: :math:`\alpha_t`, the weight of the slow momentum; a number or a schedule.
        eps: :math:`\epsilon`, added outside the square root; ``>= 0``.
        eps_root: :math:`\bar\epsilon`, added inside the square root; ``>= 0``.
        mu_dtype: dtype in which the three moments are stored; ``None`` keeps the params'.
        weight_decay: :math:`\lambda`, ``>= 0``, scaled by the learning rate (as in PyTorch).
        mask: which leaves to decay (see :func:`gradxform.weight_decay`); ``None``: all.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Pagliardini, Ablin & Grangier, "The AdEMAMix Optimizer: Better, Faster, Older",
        ICLR 2025, Algorithm 1. https://arxiv.org/abs/2409.03137

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.ademamix(0.1)
        >>> params = jnp.array([1.0, -2.0])
        >>> state = opt.init(params)
        >>> updates, state = opt.update(jnp.array([0.5, -0.5]), state)
        >>> [round(float(x), 5) for x in updates]  # -0.1 (0.5 + 5 * 1e-4 * 0.5) / 0.5
        [-0.10005, 0.10005]
    """
    return chain(
        _ademamix_ratio(b1, b2, b3, alpha, eps, eps_root, mu_dtype),  # (m1_hat + alpha m2) / (sqrt(v_hat) + eps)
        _additive.weight_decay(weight_decay, mask),                  # + lambda theta
        scale_by_learning_rate(learning_rate),                       # * -eta_t
    )


def _simplified_ademamix_ratio(b1, b2, alpha, eps, eps_root) -> GradientTransformation:
    """Simplified AdEMAMix's direction: (heavy-ball momentum + alpha g) / Adam's denominator."""
    _check.not_both_zero("simplified_ademamix", "1e-16", eps=eps, eps_root=eps_root)
    return ratio(
        parallel_sum(
            (1.0, scale_by_momentum(b1)),                  # m_t = b1 m_(t-1) + g_t
            (alpha, identity()),                           # + alpha_t g_t
        ),
        [mean_of_squares(b2),                              # v_t = b2 v + (1 - b2) g^2
         bias_correction(b2),                              # v_t / (1 - b2^t)
         sqrt_plus_eps(eps, eps_root)],                    # sqrt(. + eps_root) + eps
    )


@alias("b1", "b2", "alpha", "eps", "eps_root")
def scale_by_simplified_ademamix(
    b1: ScalarOrSchedule = 0.99,
    b2: ScalarOrSchedule = 0.95,
    alpha: ScalarOrSchedule = 0.0,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    r"""Simplified AdEMAMix's direction, without the learning rate.

    .. math::  u_t = (m_t + \alpha_t\, g_t) / (\sqrt{\hat\nu_t + \bar\epsilon} + \epsilon)

    The recipe of :func:`simplified_ademamix` less its weight decay and learning rate, counted
    by its own :func:`gradxform.chain`. Same arguments as
    ``optax.contrib.scale_by_simplified_ademamix``.

    Args:
        b1, b2, alpha, eps, eps_root: as in :func:`simplified_ademamix`.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Morwani, Vyas, Kwun, Ma, Kakade & Janson, "Connections between Schedule-Free
        Optimizers, AdEMAMix, and Accelerated SGD Variants", 2025.
        https://arxiv.org/abs/2502.02431
    """
    return chain(_simplified_ademamix_ratio(b1, b2, alpha, eps, eps_root))


@alias("learning_rate", "b1", "b2", "alpha", "eps", "eps_root", "weight_decay")
def simplified_ademamix(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.99,
    b2: ScalarOrSchedule = 0.95,
    alpha: ScalarOrSchedule = 0.0,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Optional[Mask] = None,
) -> GradientTransformation:
    r"""Simplified AdEMAMix: one heavy-ball momentum, with the gradient mixed back in.

    .. math::
        m_t = \beta_1 m_{t-1} + g_t, \qquad \nu_t = \beta_2 \nu_{t-1} + (1-\beta_2) g_t^2, \\
        u_t = -\eta_t \Big( \frac{m_t + \alpha_t\, g_t}{\sqrt{\nu_t / (1-\beta_2^t) + \bar\epsilon}
                                 + \epsilon} + \lambda\,\theta_{t-1} \Big)

    The momentum is a running sum (no :math:`1-\beta_1` weight, no bias correction), so the
    learning rate is about :math:`1-\beta_1` times Adam's; with :math:`\alpha = 0` it is Adam
    with that rescaling. Chains :func:`ratio` of a :func:`parallel_sum` of
    :func:`scale_by_momentum` and :func:`identity` over (:func:`mean_of_squares`,
    :func:`bias_correction`, :func:`sqrt_plus_eps`), then :func:`weight_decay` and
    :func:`scale_by_learning_rate`. Optax writes :math:`\nu_t` as
    :math:`g_t^2 + \beta_2(\nu_{t-1} - g_t^2)`: the same number, rounded differently in the last
    bit.

    Args:
        learning_rate: :math:`\eta_t`, a number or a schedule.
        b1: :math:`\beta_1`, the weight kept from the previous momentum; in ``[0, 1]``.
        b2: :math:`\beta_2`, decay of the second moment; in ``[0, 1)``.
        alpha: :math:`\alpha_t`, the weight of the gradient; a number or a schedule.
        eps: :math:`\epsilon`, added outside the square root; ``>= 0``.
        eps_root: :math:`\bar\epsilon`, added inside the square root; ``>= 0``.
        weight_decay: :math:`\lambda`, ``>= 0``, scaled by the learning rate.
        mask: which leaves to decay (see :func:`gradxform.weight_decay`); ``None``: all.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Morwani, Vyas, Kwun, Ma, Kakade & Janson, "Connections between Schedule-Free
        Optimizers, AdEMAMix, and Accelerated SGD Variants", 2025, Algorithm 1.
        https://arxiv.org/abs/2502.02431

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.simplified_ademamix(0.1)
        >>> params = jnp.array([1.0, -2.0])
        >>> state = opt.init(params)
        >>> updates, state = opt.update(jnp.array([0.5, -0.5]), state)
        >>> [round(float(x), 5) for x in updates]  # -0.1 g / |g|
        [-0.1, 0.1]
    """
    return chain(
        _simplified_ademamix_ratio(b1, b2, alpha, eps, eps_root),  # (m + alpha g) / (sqrt(v_hat) + eps)
        _additive.weight_decay(weight_decay, mask),               # + lambda theta
        scale_by_learning_rate(learning_rate),                    # * -eta_t
    )


# --- ACProp ---------------------------------------------------------------------------------------


def _acprop_ratio(b1, b2, eps, eps_root) -> GradientTransformation:
    """ACProp's direction: the gradient over the root of the belief moment of the steps before it."""
    return ratio(
        identity(),                                            # g_t
        [parallel_sum((1.0, identity()),                       # g_t
                      (-1.0, lagged_momentum(b1))),            # - m_(t-1); then m_t = b1 m + (1 - b1) g
         lagged_belief_moment(b2, eps_root),                   # s_(t-1); then s_t = b2 s + (1 - b2) x^2 + eps_root
         lagged_bias_correction(b2),                           # s_(t-1) / (1 - b2^(t-1)); 1 at the first step
         sqrt_plus_eps(eps, None)],                            # sqrt(.) + eps
    )


@alias("b1", "b2", "eps", "eps_root")
def scale_by_acprop(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-16,
    eps_root: ScalarOrSchedule = 1e-16,
) -> GradientTransformation:
    r"""ACProp's direction, without the learning rate.

    .. math::  u_t = g_t / (\sqrt{\hat s_{t-1}} + \epsilon)

    The recipe of :func:`acprop` less its weight decay and learning rate, counted by its own
    :func:`gradxform.chain`. Same arguments as ``optax.contrib.scale_by_acprop``.

    Args:
        b1, b2, eps, eps_root: as in :func:`acprop`.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Zhuang, Ding, Tang, Dvornek, Tatikonda & Duncan, "Momentum Centering and Asynchronous
        Update for Adaptive Gradient Methods", NeurIPS 2021. https://arxiv.org/abs/2110.05454
    """
    return chain(_acprop_ratio(b1, b2, eps, eps_root))


@alias("learning_rate", "b1", "b2", "eps", "eps_root", "weight_decay")
def acprop(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-16,
    eps_root: ScalarOrSchedule = 1e-16,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Optional[Mask] = None,
) -> GradientTransformation:
    r"""ACProp: the gradient over the spread of the *earlier* gradients around their momentum.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        s_t = \beta_2 s_{t-1} + (1-\beta_2) (g_t - m_{t-1})^2 + \bar\epsilon, \\
        \hat s_{t-1} = s_{t-1} / (1-\beta_2^{t-1}) \;(t > 1), \qquad \hat s_0 = 1, \\
        u_t = -\alpha_t \big( g_t / (\sqrt{\hat s_{t-1}} + \epsilon) + \lambda\,\theta_{t-1} \big)

    with :math:`t` counted from 1. The numerator is the raw gradient (momentum centering) and
    the denominator has not seen it (asynchronous update), which the paper shows removes Adam's
    need for a small :math:`\beta_2`-dependent step. As in Optax, the prediction error uses the
    momentum *before* :math:`g_t` and the first step divides by :math:`1 + \epsilon`. Chains
    :func:`ratio` of :func:`identity` over (a :func:`parallel_sum` of :func:`identity` and minus
    :func:`lagged_momentum`, :func:`lagged_belief_moment`, :func:`lagged_bias_correction`,
    :func:`sqrt_plus_eps`), then :func:`weight_decay` and :func:`scale_by_learning_rate`.

    Args:
        learning_rate: :math:`\alpha_t`, a number or a schedule.
        b1: :math:`\beta_1`, decay of the momentum; in ``[0, 1)``.
        b2: :math:`\beta_2`, decay of :math:`s`; in ``[0, 1)``.
        eps: :math:`\epsilon`, added outside the square root; ``>= 0``.
        eps_root: :math:`\bar\epsilon`, added to :math:`s_t` at every step; ``>= 0``.
        weight_decay: :math:`\lambda`, ``>= 0``, scaled by the learning rate.
        mask: which leaves to decay (see :func:`gradxform.weight_decay`); ``None``: all.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Zhuang, Ding, Tang, Dvornek, Tatikonda & Duncan, "Momentum Centering and Asynchronous
        Update for Adaptive Gradient Methods", NeurIPS 2021. https://arxiv.org/abs/2110.05454

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.acprop(0.1)
        >>> params = jnp.array([1.0, -2.0])
        >>> state = opt.init(params)
        >>> updates, state = opt.update(jnp.array([0.5, -0.5]), state)
        >>> [round(float(x), 5) for x in updates]  # the first step: -0.1 g / (1 + eps)
        [-0.05, 0.05]
    """
    return chain(
        _acprop_ratio(b1, b2, eps, eps_root),                  # g / (sqrt(s_hat_(t-1)) + eps)
        _additive.weight_decay(weight_decay, mask),            # + lambda theta
        scale_by_learning_rate(learning_rate),                 # * -alpha_t
    )


# --- MADGRAD --------------------------------------------------------------------------------------


def _madgrad_steps(learning_rate, momentum, eps) -> list:
    """MADGRAD's terms: the dual average s / (cbrt(G) + eps), then the step toward x0 - that."""
    return [
        ratio(
            [scale_by_dual_averaging_weight(learning_rate, eps),   # lambda_t g_t, lambda_t = (lr + eps) sqrt(t)
             scale_by_momentum(1.0)],                             # s_t = s_(t-1) + lambda_t g_t
            [square(),                                            # g_t^2
             scale_by_dual_averaging_weight(learning_rate, eps),  # lambda_t g_t^2
             scale_by_momentum(1.0),                              # G_t = G_(t-1) + lambda_t g_t^2
             cbrt_plus_eps(eps)],                                 # cbrt(G_t) + eps
        ),
        dual_averaging_step(momentum),                 # z = x0 - s / (cbrt(G) + eps); (1 - m) z + m x - x
    ]


def _check_madgrad_args(who: str, eps: Any) -> None:
    _check.fixed(who, eps=eps)
    _check.positive(who, eps=eps)  # 0: an entry whose gradients were all 0 gives 0/0


@alias("learning_rate", "momentum")
def scale_by_madgrad(
    learning_rate: ScalarOrSchedule,
    momentum: float = 0.9,
    eps: float = 1e-6,
) -> GradientTransformation:
    r"""MADGRAD's update, the difference between its next iterate and the params.

    .. math::  u_t = (1-\beta)\big(x_0 - s_t / (\sqrt[3]{G_t} + \epsilon)\big) + \beta\,x_t - x_t

    The recipe of :func:`madgrad` without its weight decay, counted by its own
    :func:`gradxform.chain`. Same arguments as ``optax.contrib.scale_by_madgrad``; like it, the
    learning rate is inside the update (it weights the sums), so nothing follows.

    Args:
        learning_rate, momentum, eps: as in :func:`madgrad`.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`; its ``update``
        needs params.

    References:
        Defazio & Jelassi, "Adaptivity without Compromise: A Momentumized, Adaptive, Dual
        Averaged Gradient Method for Stochastic Optimization", JMLR 2022.
        https://arxiv.org/abs/2101.11075
    """
    _check_madgrad_args("scale_by_madgrad", eps)
    return chain(*_madgrad_steps(learning_rate, momentum, eps))


@alias("learning_rate", "momentum", "weight_decay")
def madgrad(
    learning_rate: ScalarOrSchedule,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    eps: float = 1e-6,
) -> GradientTransformation:
    r"""MADGRAD: dual averaging with weights growing as :math:`\sqrt{t}`, a cube-root
    denominator, and momentum as an average of iterates.

    .. math::
        \lambda_t = (\eta_t + \epsilon)\sqrt{t}, \qquad \tilde g_t = g_t + \mu\,x_t, \\
        s_t = s_{t-1} + \lambda_t \tilde g_t, \qquad G_t = G_{t-1} + \lambda_t \tilde g_t^2, \\
        z_t = x_0 - s_t / (\sqrt[3]{G_t} + \epsilon), \qquad
        x_{t+1} = (1-\beta)\,z_t + \beta\,x_t, \qquad u_t = x_{t+1} - x_t

    with :math:`t` counted from 1, :math:`x_0` the params at ``init`` and :math:`\mu` the
    weight decay (added to the gradient, L2 style, as in Optax). Chains :func:`weight_decay`,
    :func:`ratio` of (:func:`scale_by_dual_averaging_weight`, :func:`scale_by_momentum` with
    ``decay=1``: a running sum) over (:func:`square`, the same weight and sum,
    :func:`cbrt_plus_eps`), then :func:`dual_averaging_step`. Numbers as
    ``optax.contrib.madgrad``'s.

    Args:
        learning_rate: :math:`\eta_t`, a number or a schedule.
        momentum: :math:`\beta`, the weight kept on the current iterate; in ``[0, 1]``.
        weight_decay: :math:`\mu`, ``>= 0``, added to the gradient times the params.
        eps: :math:`\epsilon`, a constant added to the learning rate and to the denominator;
            a number ``>= 0``.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`; its ``update``
        needs params.

    References:
        Defazio & Jelassi, "Adaptivity without Compromise: A Momentumized, Adaptive, Dual
        Averaged Gradient Method for Stochastic Optimization", JMLR 2022, Algorithm 1.
        https://arxiv.org/abs/2101.11075

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.madgrad(0.1)
        >>> params = jnp.array([1.0, -2.0])
        >>> state = opt.init(params)
        >>> updates, state = opt.update(jnp.array([0.5, -0.5]), state, params)
        >>> [round(float(x), 4) for x in updates]  # 0.1 (x0 - 0.05 / cbrt(0.025) - x)
        [-0.0171, 0.0171]
    """
    _check_madgrad_args("madgrad", eps)
    return chain(
        _additive.weight_decay(weight_decay),                  # g + mu x
        *_madgrad_steps(learning_rate, momentum, eps),         # x_(t+1) - x_t
    )


# --- MoMo -----------------------------------------------------------------------------------------


@alias("learning_rate", "beta", "weight_decay")
def momo(
    learning_rate: ScalarOrSchedule = 1.0,
    beta: ScalarOrSchedule = 0.9,
    lower_bound: float = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    adapt_lower_bound: bool = False,
) -> GradientTransformation:
    r"""MoMo: SGD with momentum whose step is sized by a model of the loss, capped by the learning rate.

    .. math::
        m_t = \beta m_{t-1} + (1-\beta) g_t, \quad
        \bar f_t = \beta \bar f_{t-1} + (1-\beta) f_t, \quad
        \gamma_t = \beta \gamma_{t-1} + (1-\beta) \langle g_t, \theta_t \rangle, \\
        \tau_t = \min\Big(\alpha_t,\; \frac{[(1+\alpha_t\lambda)(\bar f_t - f^\star - \gamma_t)
                 + \langle m_t, \theta_t \rangle]_+}{\|m_t\|^2}\Big), \qquad
        u_t = -\frac{\alpha_t\lambda}{1+\alpha_t\lambda}\theta_t - \tau_t\, m_t

    with every running mean started at its first value (:math:`m_0 = g_0`, ...). The step is
    the one that brings the model :math:`\bar f_t + \langle m_t, \theta - \theta_t \rangle` of
    the loss to its lower bound :math:`f^\star`, so a large learning rate is safe. ``update``
    needs the params and the loss at them, as ``value=``. Chains :func:`momo_step` over
    :func:`warm_started_momentum`. Numbers as ``optax.contrib.momo``'s.

    Args:
        learning_rate: :math:`\alpha_t`, the largest step; a number or a schedule.
        beta: :math:`\beta`, the decay of the momentum and of the other running means; in
            ``[0, 1)``.
        lower_bound: :math:`f^\star`, a lower bound on the loss (0 for most losses).
        weight_decay: :math:`\lambda`, ``>= 0``.
        adapt_lower_bound: estimate the lower bound on the fly (the paper's Section 5), never
            below ``lower_bound``.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Schaipp, Ohana, Eickenberg, Defazio & Gower, "MoMo: Momentum Models for Adaptive
        Learning Rates", ICML 2024, Algorithm 1. https://arxiv.org/abs/2305.07583

    Example:
        >>> import jax, jax.numpy as jnp, gradxform as gx
        >>> f = lambda x: jnp.sum(x ** 2)
        >>> opt, params = gx.momo(), jnp.array([1.0, 2.0, 3.0])
        >>> state = opt.init(params)
        >>> value, grad = jax.value_and_grad(f)(params)
        >>> updates, state = opt.update(grad, state, params, value=value)
        >>> print(f(gx.apply_updates(params, updates)))  # the step to the bound: 14 -> 3.5
        3.5
    """
    _check.flag("momo", adapt_lower_bound=adapt_lower_bound)
    return chain(
        momo_step(
            warm_started_momentum(beta),               # m_t = beta m + (1 - beta) g, m_0 = g_0
            learning_rate=learning_rate,               # tau_t = min(alpha_t, model's step)
            decay=beta,                                # means of f and <g, theta>, started alike
            lower_bound=lower_bound,
            weight_decay=weight_decay,                 # - alpha lambda / (1 + alpha lambda) theta
            adapt_lower_bound=adapt_lower_bound,
            warm_start=True,
        ),
    )


@alias("learning_rate", "b1", "b2", "eps", "weight_decay")
def momo_adam(
    learning_rate: ScalarOrSchedule = 1e-2,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    lower_bound: float = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    adapt_lower_bound: bool = False,
) -> GradientTransformation:
    r"""MoMo-Adam: Adam(W) whose step is sized by a model of the loss, capped by the learning rate.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \quad
        D_t = \sqrt{v_t / (1-\beta_2^t)} + \epsilon, \quad \rho_t = 1 - \beta_1^t, \\
        \tau_t = \min\Big(\frac{\alpha_t}{\rho_t},\; \frac{[(1+\alpha_t\lambda)(\bar f_t
                 - \rho_t f^\star - \gamma_t) + \langle m_t, \theta_t \rangle]_+}
                 {\langle m_t, m_t / D_t \rangle}\Big), \qquad
        u_t = -\frac{\alpha_t\lambda}{1+\alpha_t\lambda}\theta_t - \tau_t\, m_t / D_t

    with :math:`v_t` Adam's second moment and :math:`\bar f_t`, :math:`\gamma_t` running means
    (decay :math:`\beta_1`, from zero) of the loss and of :math:`\langle g_t, \theta_t \rangle`.
    ``update`` needs the params and the loss at them, as ``value=``. Chains :func:`momo_step`
    over :func:`scale_by_momentum` (``ema=True``) and (:func:`mean_of_squares`,
    :func:`bias_correction`, :func:`sqrt_plus_eps`). Numbers as ``optax.contrib.momo_adam``'s.

    Args:
        learning_rate: :math:`\alpha_t`, the largest step; a number or a schedule.
        b1: :math:`\beta_1`, decay of the momentum and of the running means; in ``[0, 1)``.
        b2: :math:`\beta_2`, decay of the second moment; in ``[0, 1)``.
        eps: :math:`\epsilon`, added outside the square root; ``>= 0``.
        lower_bound: :math:`f^\star`, a lower bound on the loss (0 for most losses).
        weight_decay: :math:`\lambda`, ``>= 0``.
        adapt_lower_bound: estimate the lower bound on the fly, never below ``lower_bound``.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Schaipp, Ohana, Eickenberg, Defazio & Gower, "MoMo: Momentum Models for Adaptive
        Learning Rates", ICML 2024, Algorithm 2. https://arxiv.org/abs/2305.07583

    Example:
        >>> import jax, jax.numpy as jnp, gradxform as gx
        >>> f = lambda x: jnp.sum(x ** 2)
        >>> opt, params = gx.momo_adam(), jnp.array([1.0, 2.0, 3.0])
        >>> state = opt.init(params)
        >>> value, grad = jax.value_and_grad(f)(params)
        >>> updates, state = opt.update(grad, state, params, value=value)
        >>> print(f(gx.apply_updates(params, updates)).round(4))  # 14 -> 13.88
        13.8803
    """
    _check.flag("momo_adam", adapt_lower_bound=adapt_lower_bound)
    return chain(
        momo_step(
            scale_by_momentum(b1, ema=True),           # m_t = b1 m + (1 - b1) g
            [mean_of_squares(b2),                      # v_t = b2 v + (1 - b2) g^2
             bias_correction(b2),                      # v_t / (1 - b2^t)
             sqrt_plus_eps(eps, None)],                # D_t = sqrt(v_hat_t) + eps
            learning_rate=learning_rate,               # tau_t = min(alpha_t / (1 - b1^t), model's step)
            decay=b1,                                  # means of f and <g, theta>, debiased by 1 - b1^t
            lower_bound=lower_bound,
            weight_decay=weight_decay,                 # - alpha lambda / (1 + alpha lambda) theta
            adapt_lower_bound=adapt_lower_bound,
            warm_start=False,
        ),
    )
