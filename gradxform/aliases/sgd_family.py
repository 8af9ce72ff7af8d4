"""Gradient descent and its momenta: SGD (heavy-ball, Nesterov), noisy SGD, AggMo, Lion.

Each alias is one ``def`` whose body is the recipe, one primitive per term of the paper's rule
with a trailing comment; its hyperparameters are declared once, in its decorator.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

from ..core import check as _check
from ..core.chain import chain
from ..core.combinators import parallel_sum
from ..core.hyperparams import shared
from ..core.protocol import GradientTransformation, identity
from ..core.recipe import alias
from ..core.types import ScalarOrSchedule
from ..transforms import additive as _additive
from ..transforms.additive import Mask, add_noise, seed_or_key
from ..transforms.elementwise import sign
from ..transforms.moment_variants import saturating_sign, smooth_sign
from ..transforms.moments import (
    interpolated_momentum,
    scale_by_momentum,
)
from ..transforms.scaling import scale_by_learning_rate
from .parts import check_momentum_args


@alias("learning_rate", "momentum")
def sgd(
    learning_rate: ScalarOrSchedule,
    momentum: ScalarOrSchedule | None = None,
    nesterov: bool = False,
    accumulator_dtype: Any = None,
) -> GradientTransformation:
    r"""Stochastic gradient descent, optionally with heavy-ball or Nesterov momentum.

    .. math::
        m_t = g_t + \mu\,m_{t-1}, \qquad
        u_t = -\alpha_t\,m_t \quad\text{or, with Nesterov,}\quad u_t = -\alpha_t\,(g_t + \mu\,m_t)

    and :math:`u_t = -\alpha_t g_t` without momentum. Chains :func:`scale_by_momentum` (heavy-ball
    form, Optax's ``trace``; :func:`identity` when ``momentum`` is ``None``), then
    :func:`scale_by_learning_rate`. Unlike Optax, ``nesterov=True`` without ``momentum`` is an
    error rather than silently ignored.

    Args:
        learning_rate: :math:`\alpha_t`, a number ``>= 0`` or a schedule.
        momentum: :math:`\mu`, in ``[0, 1]`` (1: a plain sum of the gradients, as in Optax);
            ``None`` for plain SGD.
        nesterov: use Nesterov's look-ahead (Sutskever et al. 2013); needs ``momentum``.
        accumulator_dtype: dtype in which :math:`m` is stored; ``None`` keeps the params' dtype.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Robbins & Monro, "A Stochastic Approximation Method", Annals of Mathematical Statistics,
        1951. https://doi.org/10.1214/aoms/1177729586
        Sutskever, Martens, Dahl & Hinton, "On the importance of initialization and momentum in
        deep learning", ICML 2013. http://proceedings.mlr.press/v28/sutskever13.html

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.sgd(0.1, momentum=0.9)
        >>> params = {"w": jnp.array([1.0, -2.0])}
        >>> state = opt.init(params)
        >>> updates, state = opt.update({"w": jnp.array([0.5, -0.5])}, state)
        >>> gx.apply_updates(params, updates)["w"]
        Array([ 0.95, -1.95], dtype=float32)
    """
    check_momentum_args("sgd", momentum, nesterov)
    return chain(
        (scale_by_momentum(momentum, nesterov, dtype=accumulator_dtype)  # m_t = g + mu m
         if momentum is not None else identity()),
        scale_by_learning_rate(learning_rate),                          # * -alpha_t
    )


@alias("learning_rate", "eta", "gamma")
def noisy_sgd(
    learning_rate: ScalarOrSchedule,
    eta: ScalarOrSchedule = 0.01,
    gamma: ScalarOrSchedule = 0.55,
    key: Any = 0,
    *,
    seed: Optional[int] = None,
) -> GradientTransformation:
    r"""SGD on the gradient plus Gaussian noise whose variance anneals with the step count.

    .. math::
        u_t = -\alpha_t\,(g_t + \sigma_t \xi_t), \qquad \xi_t \sim \mathcal{N}(0, I), \qquad
        \sigma_t^2 = \eta / (1 + s)^{\gamma}

    where :math:`s` is the step count (0 on the first update). Chains :func:`add_noise` then
    :func:`scale_by_learning_rate`. For the same ``key`` the noise is exactly Optax 0.2.8's.
    Optax's default ``key=None`` warns and uses 0; here the default is simply ``key=0``.

    Args:
        learning_rate: :math:`\alpha_t`, a number ``>= 0`` or a schedule.
        eta: :math:`\eta`, the noise variance on the first update; ``>= 0``.
        gamma: :math:`\gamma`, the annealing exponent; ``>= 0``.
        key: an int seed (a Python int or an integer scalar array, which may be traced) or a
            JAX PRNG key; the state's key is made by ``init`` (see :func:`add_noise`).
        seed: Optax's deprecated name for an int ``key``; warns, as Optax does, and will be
            removed in gradxform 1.0. Give ``key`` or ``seed``, not both.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Neelakantan, Vilnis, Le, Sutskever, Kaiser, Kurach & Martens, "Adding Gradient Noise
        Improves Learning for Very Deep Networks", arXiv 2015. https://arxiv.org/abs/1511.06807

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.noisy_sgd(0.1, eta=0.01, key=0)
        >>> params, grads = {"w": jnp.zeros(3)}, {"w": jnp.ones(3)}
        >>> first, _ = opt.update(grads, opt.init(params))
        >>> again, _ = opt.update(grads, opt.init(params))
        >>> bool((first["w"] == again["w"]).all()), bool((first["w"] != -0.1).all())
        (True, True)
    """
    key = seed_or_key("noisy_sgd", key, seed)
    return chain(
        add_noise(eta, gamma, key),             # g + N(0, eta / (1 + s)^gamma)
        scale_by_learning_rate(learning_rate),  # * -alpha_t
    )


@alias("learning_rate")
def aggmo(
    learning_rate: ScalarOrSchedule, betas: Sequence[float] = (0.0, 0.9, 0.99)
) -> GradientTransformation:
    r"""Aggregated momentum: the average of several heavy-ball momenta with different decays.

    .. math::
        v^{(i)}_t = \beta_i\,v^{(i)}_{t-1} + g_t \quad (i = 1, \dots, K), \qquad
        u_t = -\alpha_t\,\frac{1}{K} \sum_{i=1}^{K} v^{(i)}_t

    The paper writes :math:`v^{(i)}_t = \beta_i v^{(i)}_{t-1} - \nabla f` and
    :math:`\theta_t = \theta_{t-1} + \frac{\gamma}{K}\sum_i v^{(i)}_t`: the same steps with the
    sign carried by the learning rate. The small decays damp the oscillations the large ones
    cause ("passive damping").

    Chains :func:`parallel_sum` of one heavy-ball :func:`scale_by_momentum` per decay, each
    weighted :math:`1/K`, then :func:`scale_by_learning_rate`.

    Args:
        learning_rate: :math:`\alpha_t` (the paper's :math:`\gamma`), a number or a schedule.
        betas: :math:`\beta_1, \dots, \beta_K`, one decay per velocity, each in ``[0, 1)``;
            at least one.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Lucas, Sun, Zemel & Grosse, "Aggregated Momentum: Stability Through Passive Damping",
        ICLR 2019. https://arxiv.org/abs/1804.00325

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.aggmo(0.1, betas=(0.0, 0.5))
        >>> params = {"w": jnp.array([1.0, -2.0])}
        >>> state = opt.init(params)
        >>> for _ in range(2):
        ...     updates, state = opt.update({"w": jnp.array([1.0, -1.0])}, state)
        >>> updates["w"]
        Array([-0.125,  0.125], dtype=float32)
    """
    betas = tuple(betas)
    if not betas:
        what = "betas (one decay per velocity, e.g. (0.0, 0.9, 0.99))"
        raise ValueError(_check.EMPTY.format(who="aggmo", what=what))
    for i, beta in enumerate(betas):
        _check.decay("aggmo", **{f"betas[{i}]": beta})
    betas = shared(**{f"beta_{i}": beta for i, beta in enumerate(betas)})
    return chain(
        parallel_sum(*[(1 / len(betas),               # (1/K) sum_i of
                        scale_by_momentum(beta))        # v_i = beta_i v_i + g
                       for beta in betas]),
        scale_by_learning_rate(learning_rate),          # * -alpha_t
    )


@alias("learning_rate", "b1", "b2", "weight_decay")
def lion(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.99,
    mu_dtype: Any = None,
    weight_decay: ScalarOrSchedule = 1e-3,
    mask: Optional[Mask] = None,
) -> GradientTransformation:
    r"""Lion: the sign of an interpolation between the gradient and its momentum, plus weight decay.

    .. math::
        c_t = (1-\beta_1)\,g_t + \beta_1\,m_{t-1}, \qquad
        u_t = -\alpha_t\,\big(\operatorname{sign}(c_t) + \lambda\,\theta_{t-1}\big), \qquad
        m_t = (1-\beta_2)\,g_t + \beta_2\,m_{t-1}

    Every element moves by :math:`\alpha_t` (plus decay), so Lion wants a learning rate 3-10x
    smaller than AdamW's and a weight decay 3-10x larger.

    Chains :func:`interpolated_momentum`, :func:`sign`, :func:`weight_decay` and
    :func:`scale_by_learning_rate`.

    Args:
        learning_rate: :math:`\alpha_t`, a number or a schedule.
        b1: :math:`\beta_1`, the momentum's weight in the interpolation; in ``[0, 1]``.
        b2: :math:`\beta_2`, decay of the momentum; in ``[0, 1)``.
        mu_dtype: dtype of the momentum's storage; ``None`` keeps the params' dtype.
        weight_decay: :math:`\lambda`, ``>= 0``.
        mask: which leaves to decay: a tree of bools shaped like the params, or a function of the
            params returning one; ``None`` decays every leaf.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Chen et al., "Symbolic Discovery of Optimization Algorithms", NeurIPS 2023, Program 1.
        https://arxiv.org/abs/2302.06675

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.lion(0.1, weight_decay=0.0)
        >>> params = {"w": jnp.array([1.0, -2.0])}
        >>> state = opt.init(params)
        >>> updates, state = opt.update({"w": jnp.array([0.5, -0.5])}, state, params)
        >>> print(gx.apply_updates(params, updates)["w"].round(4))  # first step: -lr * sign(g)
        [ 0.9 -1.9]
    """
    return chain(
        interpolated_momentum(b1, b2, dtype=mu_dtype),   # c_t = (1 - b1) g + b1 m (m: EMA with b2)
        sign(),                                          # sign(c_t)
        _additive.weight_decay(weight_decay, mask),      # + lambda theta
        scale_by_learning_rate(learning_rate),           # * -alpha_t
    )


LION_MODES = ("hard", "smooth", "refined")


@alias("b1", "b2", "smooth_beta")
def scale_by_lion(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.99,
    mu_dtype: Any = None,
    *,
    mode: str = "hard",
    smooth_beta: ScalarOrSchedule = 1.0,
) -> GradientTransformation:
    r"""Lion's direction, without the weight decay and the learning rate.

    .. math::
        c_t = (1-\beta_1)\,g_t + \beta_1\,m_{t-1}, \qquad
        u_t = \operatorname{sign}(c_t), \qquad
        m_t = (1-\beta_2)\,g_t + \beta_2\,m_{t-1}

    ``mode="smooth"`` takes :math:`\tanh(\beta_s c_t)` instead of the sign
    (:func:`smooth_sign`), ``mode="refined"`` keeps :math:`c_t` where :math:`|c_t| < 1`
    (:func:`saturating_sign`). The recipe of :func:`lion` less its last two links, counted by
    its own :func:`gradxform.chain`, so that it also works inside ``optax.chain``. Same
    arguments as Optax's ``scale_by_lion``.

    Args:
        b1, b2, mu_dtype: as in :func:`lion`.
        mode: ``"hard"`` (the sign, Lion), ``"smooth"`` or ``"refined"``.
        smooth_beta: :math:`\beta_s`, the slope of the smooth sign at 0 (``mode="smooth"``);
            ``> 0``.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Chen et al., "Symbolic Discovery of Optimization Algorithms", NeurIPS 2023, Program 1.
        https://arxiv.org/abs/2302.06675
    """
    _check.choice("scale_by_lion", "mode", mode, LION_MODES)
    if mode == "smooth":
        direction = smooth_sign(smooth_beta)             # tanh(beta_s c_t)
    elif mode == "refined":
        direction = saturating_sign()                    # c_t where |c_t| < 1, else sign(c_t)
    else:
        direction = sign()                               # sign(c_t)
    return chain(
        interpolated_momentum(b1, b2, dtype=mu_dtype),   # c_t = (1 - b1) g + b1 m (m: EMA with b2)
        direction,
    )
