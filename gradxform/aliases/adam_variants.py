"""Adam's variants that keep another moment: AdaBelief, Yogi, Adan, NovoGrad, and their directions.

Each optimizer is Adam's recipe with the term its paper changes: AdaBelief's denominator is the
spread of the gradient around its momentum (:func:`belief_moment`), Yogi's second moment moves
additively (:func:`yogi_moment`), Adan adds a momentum of gradient differences
(:func:`gradient_difference`), NovoGrad normalizes each leaf by its own running squared norm
(:func:`layerwise_mean_of_squares`). Each ``scale_by_*`` direction is the optimizer's recipe
without the learning rate, counted by its own :func:`gradxform.chain` so that it also works
inside ``optax.chain``; the optimizer and its direction share that recipe, named once here.
"""
from __future__ import annotations

from typing import Any, Optional

from ..core import check as _check
from ..core import recipe as _recipe
from ..core.chain import chain, sequence
from ..core.combinators import parallel_sum, ratio
from ..core.named import one_minus
from ..core.protocol import GradientTransformation, identity
from ..core.recipe import alias
from ..core.types import Hyper, ScalarOrSchedule
from ..core.wires import from_tap, tap
from ..transforms import additive as _additive
from ..transforms.additive import Mask
from ..transforms.elementwise import sqrt_plus_eps
from ..transforms.moment_variants import (
    belief_moment,
    gradient_difference,
    layerwise_mean_of_squares,
    yogi_moment,
)
from ..transforms.moments import bias_correction, mean_of_squares, scale_by_momentum
from ..transforms.scaling import scale_by_learning_rate
from .parts import debiased_momentum, nesterov_debiased_momentum

# --- AdaBelief ----------------------------------------------------------------------------------


@_recipe.part
def belief_ratio(
    b1: Hyper, b2: Hyper, eps: Hyper, eps_root: Hyper, nesterov: bool = False
) -> GradientTransformation:
    r"""AdaBelief's direction: :math:`\hat m_t / (\sqrt{s_t / (1-\beta_2^t)} + \epsilon)`.

    The numerator taps its momentum :math:`m_t` (:func:`tap`) for the denominator's spread
    :math:`g_t - m_t` (:func:`from_tap`), so :math:`m` is kept once."""
    if nesterov:
        numerator = nesterov_debiased_momentum(b1, tap_as="m")   # b1 m_hat_(t+1) + (1 - b1) g_hat_t
    else:
        numerator = debiased_momentum(b1, tap_as="m")            # m_hat_t = m_t / (1 - b1^t)
    return ratio(
        numerator,
        [parallel_sum((1.0, identity()),                  # g_t
                      (-1.0, from_tap("m"))),             # - m_t, the numerator's
         belief_moment(b2, eps_root),                     # s_t = b2 s + (1 - b2) (g - m_t)^2 + eps_root
         bias_correction(b2),                             # s_t / (1 - b2^t)
         sqrt_plus_eps(eps, None)],                       # sqrt(.) + eps
    )


@alias("learning_rate", "b1", "b2", "eps", "eps_root")
def adabelief(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-16,
    eps_root: ScalarOrSchedule = 1e-16,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""AdaBelief: Adam whose denominator is the spread of the gradient around its momentum.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        s_t = \beta_2 s_{t-1} + (1-\beta_2) (g_t - m_t)^2 + \epsilon_{root}, \\
        u_t = -\alpha_t\, \frac{m_t / (1-\beta_1^t)}{\sqrt{s_t / (1-\beta_2^t)} + \epsilon}

    A gradient close to the momentum's prediction (the "belief") gets a large step, one far
    from it a small step. :math:`\epsilon_{root}` is added to :math:`s_t` at every step and kept
    (Algorithm 2 of the paper; Optax). ``nesterov=True`` takes Nadam's numerator
    :math:`\beta_1 m_t / (1-\beta_1^{t+1}) + (1-\beta_1) g_t / (1-\beta_1^t)`. The defaults are
    Optax's (the paper's are ``eps=1e-8``, ``eps_root=0``).

    Chains :func:`ratio` of (:func:`scale_by_momentum` with ``ema=True``,
    :func:`bias_correction`) over (a :func:`parallel_sum` of :func:`identity` and minus
    :func:`scale_by_momentum`, :func:`belief_moment`, :func:`bias_correction`,
    :func:`sqrt_plus_eps`), then :func:`scale_by_learning_rate`. The momentum is kept twice, once
    per branch (a :func:`ratio`'s branches do not share state), so the state holds three
    params-sized trees where Optax's holds two.

    Args:
        learning_rate: :math:`\alpha_t`, a number or a schedule.
        b1: :math:`\beta_1`, decay of the momentum; in ``[0, 1)``.
        b2: :math:`\beta_2`, decay of :math:`s`; in ``[0, 1)``.
        eps: :math:`\epsilon`, added outside the square root; ``>= 0``.
        eps_root: :math:`\epsilon_{root}`, added to :math:`s_t` at every step; ``>= 0``.
        nesterov: use Nadam's look-ahead numerator.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Zhuang, Tang, Ding, Tatikonda, Dvornek, Papademetris & Duncan, "AdaBelief Optimizer:
        Adapting Stepsizes by the Belief in Observed Gradients", NeurIPS 2020, Algorithm 2.
        https://arxiv.org/abs/2010.07468

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.adabelief(0.1)
        >>> params = {"w": jnp.array([1.0, -2.0])}
        >>> state = opt.init(params)
        >>> updates, state = opt.update({"w": jnp.array([0.5, -0.5])}, state)
        >>> [round(float(x), 4) for x in gx.apply_updates(params, updates)["w"]]
        [0.8889, -1.8889]
    """
    return chain(
        belief_ratio(b1, b2, eps, eps_root, nesterov),   # m_hat / (sqrt(s_hat) + eps)
        scale_by_learning_rate(learning_rate),           # * -alpha_t
    )


@alias("b1", "b2", "eps", "eps_root")
def scale_by_belief(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-16,
    eps_root: ScalarOrSchedule = 1e-16,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""AdaBelief's direction, without the learning rate.

    .. math::  u_t = \hat m_t / (\sqrt{s_t / (1-\beta_2^t)} + \epsilon)

    The recipe of :func:`adabelief` less its last link, counted by its own
    :func:`gradxform.chain`. Same arguments as Optax's ``scale_by_belief``.

    Args:
        b1, b2, eps, eps_root, nesterov: as in :func:`adabelief`.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Zhuang et al., "AdaBelief Optimizer: Adapting Stepsizes by the Belief in Observed
        Gradients", NeurIPS 2020. https://arxiv.org/abs/2010.07468
    """
    return chain(belief_ratio(b1, b2, eps, eps_root, nesterov))   # m_hat / (sqrt(s_hat) + eps)


# --- Yogi ---------------------------------------------------------------------------------------


@_recipe.part
def yogi_ratio(
    b1: Hyper, b2: Hyper, eps: Hyper, eps_root: Hyper, initial_accumulator_value: float
) -> GradientTransformation:
    r"""Yogi's direction: :math:`\hat m_t / (\sqrt{\nu_t / (1-\beta_2^t) + \epsilon_{root}} + \epsilon)`."""
    return ratio(
        [scale_by_momentum(b1, ema=True,
                           initial_value=initial_accumulator_value),  # m_t = b1 m + (1 - b1) g
         bias_correction(b1)],                                        # m_t / (1 - b1^t)
        [yogi_moment(b2, initial_accumulator_value),     # v_t = v - (1 - b2) sign(v - g^2) g^2
         bias_correction(b2),                            # v_t / (1 - b2^t)
         sqrt_plus_eps(eps, eps_root)],                  # sqrt(. + eps_root) + eps
    )


@alias("learning_rate", "b1", "b2", "eps")
def yogi(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-3,
) -> GradientTransformation:
    r"""Yogi: Adam whose second moment changes additively, so the step size cannot jump.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        v_t = v_{t-1} - (1-\beta_2)\,\operatorname{sign}(v_{t-1} - g_t^2)\, g_t^2, \\
        u_t = -\alpha_t\, \frac{m_t / (1-\beta_1^t)}{\sqrt{v_t / (1-\beta_2^t)} + \epsilon}, \qquad
        m_0 = v_0 = 10^{-6}

    Both moments start at :math:`10^{-6}` and both are bias-corrected, as in Optax's
    implementation. Chains :func:`ratio` of
    (:func:`scale_by_momentum` with ``ema=True``, :func:`bias_correction`) over
    (:func:`yogi_moment`, :func:`bias_correction`, :func:`sqrt_plus_eps`), then
    :func:`scale_by_learning_rate`. :func:`scale_by_yogi` takes ``eps_root`` and the initial
    value as well.

    Args:
        learning_rate: :math:`\alpha_t`, a number or a schedule.
        b1: :math:`\beta_1`, decay of the first moment; in ``[0, 1)``.
        b2: :math:`\beta_2`, the rate of the second moment's additive change; in ``[0, 1)``.
        eps: :math:`\epsilon`, added outside the square root; ``>= 0``.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Zaheer, Reddi, Sachan, Kale & Kumar, "Adaptive Methods for Nonconvex Optimization",
        NeurIPS 2018, Algorithm 2.
        https://papers.nips.cc/paper/8186-adaptive-methods-for-nonconvex-optimization

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.yogi(0.1)
        >>> params = {"w": jnp.array([1.0, -2.0])}
        >>> state = opt.init(params)
        >>> updates, state = opt.update({"w": jnp.array([0.5, -0.5])}, state)
        >>> [round(float(x), 4) for x in gx.apply_updates(params, updates)["w"]]
        [0.9004, -1.9004]
    """
    return chain(
        yogi_ratio(b1, b2, eps, eps_root=0.0,
                   initial_accumulator_value=1e-6),  # m_hat / (sqrt(v_hat) + eps), m_0 = v_0 = 1e-6
        scale_by_learning_rate(learning_rate),       # * -alpha_t
    )


@alias("b1", "b2", "eps", "eps_root")
def scale_by_yogi(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-3,
    eps_root: ScalarOrSchedule = 0.0,
    initial_accumulator_value: float = 1e-6,
) -> GradientTransformation:
    r"""Yogi's direction, without the learning rate.

    .. math::  u_t = \hat m_t / (\sqrt{v_t / (1-\beta_2^t) + \epsilon_{root}} + \epsilon)

    The recipe of :func:`yogi` less its last link, counted by its own :func:`gradxform.chain`.
    Same arguments as Optax's ``scale_by_yogi``.

    Args:
        b1, b2, eps: as in :func:`yogi`.
        eps_root: :math:`\epsilon_{root}`, added inside the square root; ``>= 0``.
        initial_accumulator_value: :math:`m_0 = v_0`, both moments before the first update;
            ``>= 0``.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Zaheer et al., "Adaptive Methods for Nonconvex Optimization", NeurIPS 2018.
    """
    return chain(yogi_ratio(b1, b2, eps, eps_root, initial_accumulator_value))  # m_hat / (sqrt(v_hat) + eps)


# --- Adan ---------------------------------------------------------------------------------------


@_recipe.part
def adan_ratio(b1: Hyper, b2: Hyper, b3: Hyper, eps: Hyper, eps_root: Hyper) -> GradientTransformation:
    r"""Adan's direction: :math:`(\hat m_t + (1-\beta_2) \hat v_t) / (\sqrt{\hat n_t + \epsilon_{root}} + \epsilon)`.

    The numerator taps the gradient difference :math:`d_t` (:func:`tap`) for the denominator
    (:func:`from_tap`), so the previous gradient is kept once."""
    return ratio(
        parallel_sum(
            (1.0, debiased_momentum(b1)),                    # m_hat_t (m_t = b1 m + (1 - b1) g)
            (one_minus(b2), [gradient_difference(),          # + (1 - b2) (d_t = g_t - g_(t-1),
                             tap("d"),
                             scale_by_momentum(b2, ema=True),  #   v_t = b2 v + (1 - b2) d_t,
                             bias_correction(b2)]),          #   v_t / (1 - b2^t))
        ),
        [parallel_sum((1.0, identity()),                     # g_t
                      (one_minus(b2), from_tap("d"))),       # + (1 - b2) d_t, the numerator's
         mean_of_squares(b3),                                # n_t = b3 n + (1 - b3) (.)^2
         bias_correction(b3),                                # n_t / (1 - b3^t)
         sqrt_plus_eps(eps, eps_root)],                      # sqrt(. + eps_root) + eps
    )


@alias("learning_rate", "b1", "b2", "b3", "eps", "eps_root", "weight_decay")
def adan(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.98,
    b2: ScalarOrSchedule = 0.92,
    b3: ScalarOrSchedule = 0.99,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Optional[Mask] = None,
) -> GradientTransformation:
    r"""Adan: Adam with a Nesterov momentum estimate, a momentum of gradient differences added.

    .. math::
        d_t = g_t - g_{t-1} \ (d_1 = 0), \qquad
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) d_t, \\
        n_t = \beta_3 n_{t-1} + (1-\beta_3) \big(g_t + (1-\beta_2) d_t\big)^2, \\
        u_t = -\alpha_t \Big( \frac{m_t / (1-\beta_1^t) + (1-\beta_2)\, v_t / (1-\beta_2^t)}
                                   {\sqrt{n_t / (1-\beta_3^t) + \epsilon_{root}} + \epsilon}
              + \lambda\,\theta_{t-1} \Big)

    Optax's convention: :math:`\beta_k` is the weight kept from the previous moment (the paper
    writes :math:`1-\beta_k`), the moments are bias-corrected, and the weight decay is added
    before the learning rate, as in AdamW (the paper's proximal step divides by
    :math:`1 + \lambda\eta` instead). Chains :func:`ratio` of a :func:`parallel_sum`
    (:func:`scale_by_momentum` with ``ema=True`` and :func:`bias_correction`; plus
    :func:`gradient_difference`, :func:`scale_by_momentum`, :func:`bias_correction`) over (a
    :func:`parallel_sum` of :func:`identity` and :func:`gradient_difference`,
    :func:`mean_of_squares`, :func:`bias_correction`, :func:`sqrt_plus_eps`), then
    :func:`weight_decay` and :func:`scale_by_learning_rate`. Each branch keeps its own previous
    gradient, so the state holds five params-sized trees where Optax's holds four.

    Args:
        learning_rate: :math:`\alpha_t`, a number or a schedule.
        b1: :math:`\beta_1`, decay of the gradients' mean; in ``[0, 1)``.
        b2: :math:`\beta_2`, decay of the differences' mean; in ``[0, 1)``.
        b3: :math:`\beta_3`, decay of the squared term's mean; in ``[0, 1)``.
        eps: :math:`\epsilon`, added outside the square root; ``>= 0``.
        eps_root: :math:`\epsilon_{root}`, added inside the square root; ``>= 0``.
        weight_decay: :math:`\lambda`, ``>= 0``.
        mask: which leaves to decay: a tree of bools shaped like the params, or a function of the
            params returning one; ``None`` decays every leaf.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Xie, Zhou, Li, Lin & Yan, "Adan: Adaptive Nesterov Momentum Algorithm for Faster
        Optimizing Deep Models", IEEE TPAMI 2024, Algorithm 1. https://arxiv.org/abs/2208.06677

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.adan(0.1)
        >>> params = {"w": jnp.array([1.0, -2.0])}
        >>> state = opt.init(params)
        >>> updates, state = opt.update({"w": jnp.array([0.5, -0.5])}, state, params)
        >>> [round(float(x), 4) for x in gx.apply_updates(params, updates)["w"]]
        [0.9, -1.9]
    """
    return chain(
        adan_ratio(b1, b2, b3, eps, eps_root),          # (m_hat + (1 - b2) v_hat) / (sqrt(n_hat) + eps)
        _additive.weight_decay(weight_decay, mask),     # + lambda theta
        scale_by_learning_rate(learning_rate),          # * -alpha_t
    )


@alias("b1", "b2", "b3", "eps", "eps_root")
def scale_by_adan(
    b1: ScalarOrSchedule = 0.98,
    b2: ScalarOrSchedule = 0.92,
    b3: ScalarOrSchedule = 0.99,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    r"""Adan's direction, without the weight decay and the learning rate.

    .. math::  u_t = (\hat m_t + (1-\beta_2)\,\hat v_t) / (\sqrt{\hat n_t + \epsilon_{root}} + \epsilon)

    The recipe of :func:`adan` less its last two links, counted by its own
    :func:`gradxform.chain`. Same arguments as Optax's ``scale_by_adan`` (whose ``eps_root``
    defaults to 0, where :func:`adan`'s is ``1e-8``).

    Args:
        b1, b2, b3, eps, eps_root: as in :func:`adan`.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Xie et al., "Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing Deep
        Models", IEEE TPAMI 2024. https://arxiv.org/abs/2208.06677
    """
    return chain(adan_ratio(b1, b2, b3, eps, eps_root))   # (m_hat + (1 - b2) v_hat) / (sqrt(n_hat) + eps)


# --- NovoGrad -----------------------------------------------------------------------------------


@_recipe.part
def novograd_direction(
    b1: Hyper, b2: Hyper, eps: Hyper, eps_root: Hyper, weight_decay: Hyper, mu_dtype: Any = None
) -> GradientTransformation:
    r"""NovoGrad's direction, per leaf: :math:`m_t = \beta_1 m_{t-1}
    + g_t / (\sqrt{\nu_t + \epsilon_{root}} + \epsilon) + \lambda \theta`."""
    _check.not_both_zero("novograd", "1e-16", eps=eps, eps_root=eps_root)
    return sequence(
        ratio(identity(),                                   # g_t / ...
              [layerwise_mean_of_squares(b2),               # nu_t = b2 nu + (1 - b2) |g_t|^2 per leaf
               sqrt_plus_eps(eps, eps_root)]),              # sqrt(nu_t + eps_root) + eps
        _additive.weight_decay(weight_decay),               # + lambda theta
        scale_by_momentum(b1, dtype=mu_dtype),              # m_t = b1 m + (.)
    )


@alias("learning_rate", "b1", "b2", "eps", "eps_root", "weight_decay")
def novograd(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.25,
    eps: ScalarOrSchedule = 1e-6,
    eps_root: ScalarOrSchedule = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    r"""NovoGrad: momentum SGD on gradients normalized by a running mean of each layer's norm.

    .. math::
        \nu^{(l)}_t = \beta_2 \nu^{(l)}_{t-1} + (1-\beta_2) \lVert g^{(l)}_t \rVert^2
            \ (\nu^{(l)}_1 = \lVert g^{(l)}_1 \rVert^2), \\
        m^{(l)}_t = \beta_1 m^{(l)}_{t-1}
            + \frac{g^{(l)}_t}{\sqrt{\nu^{(l)}_t + \epsilon_{root}} + \epsilon}
            + \lambda\,\theta^{(l)}_{t-1}, \qquad
        u^{(l)}_t = -\alpha_t\, m^{(l)}_t

    for every leaf :math:`l` (a layer): the second moment is one number per leaf, so the state
    is about half of Adam's. Chains :func:`ratio` of :func:`identity` over
    (:func:`layerwise_mean_of_squares`, :func:`sqrt_plus_eps`), :func:`weight_decay`,
    :func:`scale_by_momentum` (heavy-ball), then :func:`scale_by_learning_rate`. Per-leaf norms:
    :func:`gradxform.flatten` rejects it.

    Args:
        learning_rate: :math:`\alpha_t`, a number or a schedule.
        b1: :math:`\beta_1`, decay of the momentum; in ``[0, 1)``.
        b2: :math:`\beta_2`, decay of the squared norms' mean; in ``[0, 1)``.
        eps: :math:`\epsilon`, added outside the square root; ``>= 0``.
        eps_root: :math:`\epsilon_{root}`, added inside the square root; ``>= 0``.
        weight_decay: :math:`\lambda`, ``>= 0``; added inside the momentum, as in the paper.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Ginsburg, Castonguay, Hrinchuk, Kuchaiev, Lavrukhin, Leary, Li, Nguyen, Zhang & Cohen,
        "Stochastic Gradient Methods with Layer-wise Adaptive Moments for Training of Deep
        Networks", arXiv 2019, Algorithm 1. https://arxiv.org/abs/1905.11286

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.novograd(0.1)
        >>> params = {"w": jnp.array([3.0, -4.0])}
        >>> state = opt.init(params)
        >>> updates, state = opt.update({"w": jnp.array([3.0, -4.0])}, state, params)
        >>> [round(float(x), 4) for x in gx.apply_updates(params, updates)["w"]]
        [2.94, -3.92]
    """
    return chain(
        novograd_direction(b1, b2, eps, eps_root, weight_decay),   # m_t (normalized momentum)
        scale_by_learning_rate(learning_rate),                     # * -alpha_t
    )


@alias("b1", "b2", "eps", "eps_root", "weight_decay")
def scale_by_novograd(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.25,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    mu_dtype: Any = None,
) -> GradientTransformation:
    r"""NovoGrad's direction, without the learning rate: :math:`u_t = m_t` of :func:`novograd`.

    The recipe of :func:`novograd` less its last link, counted by its own
    :func:`gradxform.chain`. Same arguments as Optax's ``scale_by_novograd`` (whose ``eps``
    defaults to ``1e-8``, where :func:`novograd`'s is ``1e-6``). With a narrower ``mu_dtype``
    the update is the momentum before it is rounded for storage (Optax outputs the rounded one).

    Args:
        b1, b2, eps, eps_root, weight_decay: as in :func:`novograd`.
        mu_dtype: dtype of the momentum's storage; ``None`` keeps the params' dtype.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Ginsburg et al., "Stochastic Gradient Methods with Layer-wise Adaptive Moments for
        Training of Deep Networks", arXiv 2019. https://arxiv.org/abs/1905.11286
    """
    return chain(novograd_direction(b1, b2, eps, eps_root, weight_decay, mu_dtype))  # m_t
