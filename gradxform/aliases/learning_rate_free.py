"""Optimizers without a learning rate to tune (``optax.contrib``'s): DoG, DoWG, COCOB, Prodigy,
D-Adapted AdamW (and :func:`gradxform.mechanize`, which tunes any optimizer's).

Each estimates its own step size while it runs, from how far the params have travelled (DoG,
DoWG, Prodigy, D-Adaptation) or from the wealth won by betting on the gradients (COCOB); the
``learning_rate`` they take is a multiplier (a schedule's shape, 1 at its peak), not a step size.

Each alias is one ``def`` whose body is the recipe, one primitive per term of the paper's rule
with a trailing comment; its hyperparameters are declared once, in its decorator.
"""
from __future__ import annotations

from typing import Optional

from ..core import check as _check
from ..core.chain import chain
from ..core.combinators import ratio
from ..core.protocol import GradientTransformation, identity
from ..core.recipe import alias
from ..core.types import ScalarOrSchedule
from ..core.wires import add_tapped, scale_by_tapped
from ..transforms import additive as _additive
from ..transforms.additive import Mask
from ..transforms.coin_betting import scale_by_cocob
from ..transforms.distance_estimates import (
    prodigy_estimate,
    scale_by_dadapt_adamw,
    scale_by_dog,
    scale_by_dowg,
)
from ..transforms.elementwise import sqrt_plus_eps
from ..transforms.moments import mean_of_squares, scale_by_momentum
from ..transforms.scaling import scale_by_learning_rate


@alias("learning_rate", "eps", "weight_decay")
def dog(
    learning_rate: ScalarOrSchedule = 1.0,
    init_step: tuple[str, float] = ("heuristic", 1e-6),
    eps: ScalarOrSchedule = 1e-8,
    weight_decay: Optional[ScalarOrSchedule] = None,
    mask: Optional[Mask] = None,
) -> GradientTransformation:
    r"""Distance over Gradients (DoG): SGD stepping the distance travelled over the root of past squared gradient norms.

    Over the whole tree, with :math:`\theta_0` the params at ``init``:

    .. math::
        \bar r_t = \max\big(\bar r_{t-1}, \|\theta_t - \theta_0\|\big), \qquad
        G_t = G_{t-1} + \|g_t + \lambda\theta_t\|^2, \\
        u_t = -\alpha_t\,\frac{\bar r_t}{\sqrt{G_t + \epsilon}}\,(g_t + \lambda\,\theta_t)

    with :math:`G_0 = 0` and :math:`\bar r_0` set by ``init_step``. Chains
    :func:`weight_decay` (:func:`identity` when ``weight_decay`` is ``None``),
    :func:`scale_by_dog`, then :func:`scale_by_learning_rate`. Same arguments and numbers as
    ``optax.contrib.dog``; the layer-wise form is :func:`scale_by_distance_over_gradients`. The
    authors recommend averaging the iterates (:func:`gradxform.ema_params`).

    Args:
        learning_rate: :math:`\alpha_t`, a multiplier of DoG's step (1, or a schedule); ``>= 0``.
        init_step: ``(kind, value)``: ``("heuristic", a)`` starts :math:`\bar r_0 = a\,(1 +
            \|\theta_0\|)` (``1e-6``; ``1e-4`` with batch normalization), ``("distance", r)``
            starts :math:`\bar r_0 = r`, ``("learning_rate", \eta)`` takes the first step with
            :math:`\eta`. See :func:`scale_by_dog`.
        eps: :math:`\epsilon`, added under the square root; ``>= 0``.
        weight_decay: :math:`\lambda`, added to the gradient before DoG sees it; ``None``: none.
        mask: which leaves to decay, as in :func:`weight_decay`; ``None`` decays every leaf.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`; its ``update``
        needs params, and ``init`` the actual params for the ``"heuristic"`` ``init_step``.

    References:
        Ivgi, Hinder & Carmon, "DoG is SGD's Best Friend: A Parameter-Free Dynamic Step Size
        Schedule", ICML 2023, Algorithm 1. https://arxiv.org/abs/2302.12022

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.dog(init_step=("distance", 0.5))
        >>> params = jnp.array([1.0, 2.0])
        >>> state = opt.init(params)
        >>> updates, state = opt.update(jnp.array([3.0, 4.0]), state, params)
        >>> print(updates)  # -0.5 g / ||g||: a first step of length r_0
        [-0.3 -0.4]
    """
    return chain(
        _additive.weight_decay(weight_decay, mask)             # g + lambda theta
        if weight_decay is not None else identity(),
        scale_by_dog(init_step, eps),                          # * r_bar_t / sqrt(G_t + eps)
        scale_by_learning_rate(learning_rate),                 # * -alpha_t
    )


@alias("learning_rate", "eps", "weight_decay")
def dowg(
    learning_rate: ScalarOrSchedule = 1.0,
    init_estim_sq_dist: Optional[float] = None,
    eps: ScalarOrSchedule = 1e-4,
    weight_decay: Optional[ScalarOrSchedule] = None,
    mask: Optional[Mask] = None,
) -> GradientTransformation:
    r"""Distance over Weighted Gradients (DoWG): SGD whose step weighs each gradient norm by the distance of its time.

    Over the whole tree, with :math:`\theta_0` the params at ``init`` and
    :math:`\tilde g_t = g_t + \lambda\,\theta_t`:

    .. math::
        \bar r_t^2 = \max\big(\bar r_{t-1}^2, \|\theta_t - \theta_0\|^2\big), \qquad
        v_t = v_{t-1} + \bar r_t^2\,\|\tilde g_t\|^2, \qquad
        u_t = -\alpha_t\,\frac{\bar r_t^2}{\sqrt{v_t} + \epsilon}\,\tilde g_t

    with :math:`v_0 = 0`. Chains :func:`weight_decay` (:func:`identity` when ``weight_decay``
    is ``None``), :func:`scale_by_dowg`, then :func:`scale_by_learning_rate`. Same arguments and
    numbers as ``optax.contrib.dowg``.

    Args:
        learning_rate: :math:`\alpha_t`, a multiplier of DoWG's step (1, or a schedule); ``>= 0``.
        init_estim_sq_dist: :math:`\bar r_0^2`, a guess of the squared distance to the
            solution; ``None`` starts from ``eps``.
        eps: :math:`\epsilon`, added to the root; ``> 0``.
        weight_decay: :math:`\lambda`, added to the gradient before DoWG sees it; ``None``: none.
        mask: which leaves to decay, as in :func:`weight_decay`; ``None`` decays every leaf.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`; its ``update``
        needs params.

    References:
        Khaled, Mishchenko & Jin, "DoWG Unleashed: An Efficient Universal Parameter-Free
        Gradient Descent Method", NeurIPS 2023, Algorithm 1. https://arxiv.org/abs/2305.16284

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.dowg(init_estim_sq_dist=1.0, eps=1e-4)
        >>> params = jnp.array([1.0, 2.0])
        >>> state = opt.init(params)
        >>> updates, state = opt.update(jnp.array([3.0, 4.0]), state, params)
        >>> print([f"{u:.4f}" for u in updates])  # -r_0^2 g / (r_0 ||g|| + eps): a step of ~r_0
        ['-0.6000', '-0.8000']
    """
    return chain(
        _additive.weight_decay(weight_decay, mask)             # g + lambda theta
        if weight_decay is not None else identity(),
        scale_by_dowg(init_estim_sq_dist, eps),                # * r_bar_t^2 / (sqrt(v_t) + eps)
        scale_by_learning_rate(learning_rate),                 # * -alpha_t
    )


@alias("learning_rate", "alpha", "weight_decay")
def cocob(
    learning_rate: ScalarOrSchedule = 1.0,
    alpha: ScalarOrSchedule = 100.0,
    eps: float = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Optional[Mask] = None,
) -> GradientTransformation:
    r"""COCOB-Backprop: per coordinate, bet a fraction of the wealth won so far on the next gradient's sign.

    With :math:`\tilde g_t = \alpha_t\,(g_t + \lambda\,\theta_t)` and, per coordinate,
    :math:`L_0 = \epsilon`, :math:`G_0 = R_0 = C_0 = 0`:

    .. math::
        L_t = \max(L_{t-1}, |\tilde g_t|), \quad G_t = G_{t-1} + |\tilde g_t|, \quad
        R_t = \max\big(R_{t-1} - \tilde g_t\,(\theta_t - \theta_1),\ 0\big), \quad
        C_t = C_{t-1} - \tilde g_t, \\
        \theta_{t+1} = \theta_1 + \frac{C_t}{L_t \max(G_t + L_t,\ \alpha L_t)}\,(L_t + R_t)

    Chains :func:`weight_decay`, :func:`scale_by_learning_rate` without the sign flip, then
    :func:`scale_by_cocob`. Same arguments and numbers as ``optax.contrib.cocob``.

    Args:
        learning_rate: :math:`\alpha_t`, a multiplier of the gradient (1, or a schedule); ``>= 0``.
        alpha: :math:`\alpha`, caps the fraction bet early on at :math:`1/\alpha`; ``> 0``.
        eps: :math:`\epsilon`, the initial :math:`L`; a number ``> 0``.
        weight_decay: :math:`\lambda`, an L2 penalty added to the gradient; ``>= 0``.
        mask: which leaves to decay, as in :func:`weight_decay`; ``None`` decays every leaf.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`; its ``update``
        needs params.

    References:
        Orabona & Tommasi, "Training Deep Networks without Learning Rates Through Coin
        Betting", NeurIPS 2017, Algorithm 2. https://arxiv.org/abs/1705.07795

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.cocob()
        >>> params = jnp.array([1.0, 2.0])
        >>> state = opt.init(params)
        >>> updates, state = opt.update(jnp.array([0.5, -0.5]), state, params)
        >>> print(updates.round(6))  # -g / (alpha L) with L = |g|: a first bet of 1/alpha
        [-0.01  0.01]
    """
    return chain(
        _additive.weight_decay(weight_decay, mask),            # g + lambda theta
        scale_by_learning_rate(learning_rate, flip_sign=False),  # * alpha_t
        scale_by_cocob(alpha, eps),                            # theta_(t+1) - theta_t, by betting
    )


@alias("learning_rate", "b1", "b2", "beta3", "eps", "estim_lr_coef", "weight_decay")
def scale_by_prodigy(
    learning_rate: ScalarOrSchedule = 1.0,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    beta3: Optional[ScalarOrSchedule] = None,
    eps: ScalarOrSchedule = 1e-8,
    estim_lr0: float = 1e-6,
    estim_lr_coef: ScalarOrSchedule = 1.0,
    weight_decay: ScalarOrSchedule = 0.0,
    safeguard_warmup: bool = False,
) -> GradientTransformation:
    r"""Prodigy's whole update, sign included: Adam on :math:`d_t g_t`, scaled by :math:`\hat\eta_t`.

    With :func:`prodigy_estimate`'s :math:`d_t`, :math:`d_{t+1}` and
    :math:`\hat\eta_t = d_t\,\eta_t \sqrt{1-\beta_2^t}/(1-\beta_1^t)`:

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1)\,d_t g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2)\,(d_t g_t)^2, \\
        u_t = -\hat\eta_t \Big(\frac{m_t}{\sqrt{v_t} + d_{t+1}\,\epsilon} + \lambda\,\theta_t\Big)

    Chains :func:`prodigy_estimate` (which records :math:`d_t`, :math:`d_{t+1}` and
    :math:`\hat\eta_t / \eta_t` for the later links), :func:`scale_by_tapped` of :math:`d_t`,
    the :func:`ratio` of :func:`scale_by_momentum` (``ema=True``) to :func:`mean_of_squares`,
    :func:`sqrt_plus_eps` and :func:`add_tapped` of :math:`d_{t+1}\,\epsilon`, then
    :func:`weight_decay`, :func:`scale_by_tapped` of :math:`\hat\eta_t / \eta_t` and
    :func:`scale_by_learning_rate`.
    The moments share ``b1`` and ``b2`` with the estimate's bias correction (one row each).
    The arguments are :func:`prodigy`'s, with ``betas`` as ``b1`` and ``b2``.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`; its ``update``
        needs params.
    """
    _check.positive("scale_by_prodigy", eps=eps)  # 0: an entry whose gradients were all 0 gives 0/0
    _check.non_negative("scale_by_prodigy", weight_decay=weight_decay)
    return chain(
        prodigy_estimate(learning_rate, b1, b2, beta3,           # records d_t, d_(t+1) and
                         estim_lr0, estim_lr_coef, safeguard_warmup),  # d_t sqrt(1 - b2^t) / (1 - b1^t)
        scale_by_tapped("estim_lr"),                             # d_t g_t
        ratio(scale_by_momentum(b1, ema=True),                   # m_t /
              [mean_of_squares(b2), sqrt_plus_eps(None, None),   #   (sqrt(v_t)
               add_tapped("estim_lr_next", eps)]),               #    + d_(t+1) eps)
        _additive.weight_decay(weight_decay),                    # + lambda theta_t
        scale_by_tapped("estim_lr_debiased"),                    # * d_t sqrt(1 - b2^t) / (1 - b1^t)
        scale_by_learning_rate(learning_rate),                   # * -eta_t
    )


@alias("learning_rate", "eps", "weight_decay")
def prodigy(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple[ScalarOrSchedule, ScalarOrSchedule] = (0.9, 0.999),
    beta3: Optional[ScalarOrSchedule] = None,
    eps: ScalarOrSchedule = 1e-8,
    estim_lr0: float = 1e-6,
    estim_lr_coef: ScalarOrSchedule = 1.0,
    weight_decay: ScalarOrSchedule = 0.0,
    safeguard_warmup: bool = False,
) -> GradientTransformation:
    r"""Prodigy: AdamW whose step size is a running estimate of the distance to the solution, raised quickly.

    With :math:`t` the one-based step, :math:`(\beta_1, \beta_2)` = ``betas`` and
    :math:`\hat\eta_t = d_t\,\eta_t \sqrt{1-\beta_2^t}/(1-\beta_1^t)`:

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1)\,d_t g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2)\,(d_t g_t)^2, \\
        s_t = \beta_3 s_{t-1} + \frac{\hat\eta_t}{d_0}\,d_t g_t, \qquad
        r_t = \beta_3 r_{t-1} + \frac{d_t}{d_0}\,\hat\eta_t\,\langle g_t, \theta_0 - \theta_t\rangle, \\
        d_{t+1} = \max\Big(d_t,\ c\,\frac{r_t}{\|s_t\|_1}\Big), \qquad
        u_t = -\lambda\,\hat\eta_t\,\theta_t - \hat\eta_t\,\frac{m_t}{\sqrt{v_t} + d_{t+1}\,\epsilon}

    with :math:`d_1 = d_0` (the denominator takes the new estimate, as Optax's does). A version
    of D-Adaptation (:func:`dadapt_adamw`) that weights recent gradients more, so
    :math:`d` grows faster. :func:`scale_by_prodigy`'s recipe: :func:`prodigy_estimate` records
    :math:`d_t`, :math:`d_{t+1}` and :math:`\hat\eta_t` for the later links, which are Adam's
    moments of :math:`d_t g_t` (:func:`scale_by_momentum`, :func:`mean_of_squares`), the
    decay and the step size. Same arguments and numbers as ``optax.contrib.prodigy``.

    Args:
        learning_rate: :math:`\eta_t`, a multiplier: 1, or a schedule from 1 (the authors
            recommend a linear decay to 0 after a 0-20% warmup); ``>= 0``.
        betas: :math:`(\beta_1, \beta_2)`, the decays of the moments; each in ``[0, 1)``.
        beta3: :math:`\beta_3`, the decay of :math:`s` and :math:`r`; ``None``: :math:`\sqrt{\beta_2}`.
        eps: :math:`\epsilon`, scaled by :math:`d_{t+1}` in the denominator; ``>= 0``.
        estim_lr0: :math:`d_0`, the initial (under)estimate; a number ``> 0``.
        estim_lr_coef: :math:`c`, a factor of each new estimate; ``> 0``.
        weight_decay: :math:`\lambda`, decoupled (AdamW) weight decay; ``>= 0``.
        safeguard_warmup: leave :math:`\eta_t` out of :math:`s_t` (helps during long warmups).

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`; its ``update``
        needs params.

    References:
        Mishchenko & Defazio, "Prodigy: An Expeditiously Adaptive Parameter-Free Learner",
        ICML 2024, Algorithm 4. https://arxiv.org/abs/2306.06101

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.prodigy()
        >>> params = jnp.array([1.0, 2.0])
        >>> state = opt.init(params)
        >>> updates, state = opt.update(jnp.array([0.5, -0.5]), state, params)
        >>> print((updates / 1e-6).round(3))  # the first step: about -d_0 sign(g)
        [-1.  1.]
    """
    b1, b2 = betas
    return scale_by_prodigy(  # -eta_hat_t (m_t / (sqrt(v_t) + d_(t+1) eps) + lambda theta)
        learning_rate, b1, b2, beta3, eps, estim_lr0, estim_lr_coef, weight_decay, safeguard_warmup)


@alias("learning_rate", "eps", "weight_decay")
def dadapt_adamw(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple[ScalarOrSchedule, ScalarOrSchedule] = (0.9, 0.999),
    eps: ScalarOrSchedule = 1e-8,
    estim_lr0: float = 1e-6,
    weight_decay: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    r"""D-Adapted AdamW: AdamW whose step size is a running lower bound on the distance to the solution.

    With :math:`t` the one-based step, :math:`(\beta_1, \beta_2)` = ``betas``,
    :math:`\gamma = \sqrt{\beta_2}` and :math:`\hat\eta_t = d_t\,\eta_t \sqrt{1-\beta_2^t}/(1-\beta_1^t)`:

    .. math::
        r_t = \gamma\,r_{t-1} + (1-\gamma)\,\hat\eta_t\,
              \Big\langle g_t, \frac{s_{t-1}}{\sqrt{v_{t-1}} + \epsilon}\Big\rangle, \qquad
        s_t = \gamma\,s_{t-1} + (1-\gamma)\,\hat\eta_t\,g_t, \\
        m_t = \beta_1 m_{t-1} + (1-\beta_1)\,\hat\eta_t g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2)\,g_t^2, \\
        d_{t+1} = \max\Big(d_t,\ \frac{r_t}{(1-\gamma)\,\|s_t\|_1}\Big), \qquad
        u_t = -\lambda\,\hat\eta_t\,\theta_t - \frac{m_t}{\sqrt{v_t} + \epsilon}

    One link, :func:`scale_by_dadapt_adamw`, whose parts are the Adam moments
    (:func:`scale_by_momentum`, :func:`mean_of_squares`): its estimate reads the second
    moment's previous value, which no other link could pass it (see there). Same arguments and
    numbers as ``optax.contrib.dadapt_adamw``.

    Args:
        learning_rate: :math:`\eta_t`, a multiplier: 1, or a schedule from 1; ``>= 0``.
        betas: :math:`(\beta_1, \beta_2)`, the decays of the moments; each in ``[0, 1)``.
        eps: :math:`\epsilon`; ``>= 0``.
        estim_lr0: :math:`d_0`, the initial (under)estimate; a number ``> 0``.
        weight_decay: :math:`\lambda`, decoupled (AdamW) weight decay; ``>= 0``.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`; its ``update``
        needs params.

    References:
        Defazio & Mishchenko, "Learning-Rate-Free Learning by D-Adaptation", ICML 2023,
        Algorithm 4 (Adam). https://arxiv.org/abs/2301.07733

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.dadapt_adamw()
        >>> params = jnp.array([1.0, 2.0])
        >>> state = opt.init(params)
        >>> updates, state = opt.update(jnp.array([0.5, -0.5]), state, params)
        >>> print((updates / 1e-6).round(3))  # the first step: about -d_0 sign(g)
        [-1.  1.]
    """
    b1, b2 = betas
    return chain(
        scale_by_dadapt_adamw(                                 # -lambda eta_hat_t theta - m_t / (sqrt(v_t) + eps),
            learning_rate, b1, b2, eps, estim_lr0, weight_decay,  # d_(t+1) = max(d_t, r_t / ((1 - gamma) ||s_t||_1))
        ),
    )
