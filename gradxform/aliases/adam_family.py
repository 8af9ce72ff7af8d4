"""Adam and the optimizers that change one of its terms: AdamW, AdaMax, Nadam, NadamW,
AMSGrad, RAdam, QHAdam, and Adam's and AMSGrad's directions for code written against Optax.

Each alias is one ``def`` whose body is the recipe, one primitive per term of the paper's rule
with a trailing comment; its hyperparameters are declared once, in its decorator.
"""
from __future__ import annotations

from typing import Any, Optional

from ..core import check as _check
from ..core.chain import chain
from ..core.combinators import conditional, parallel_sum, ratio
from ..core.link import Branch
from ..core.named import one_minus
from ..core.protocol import GradientTransformation, identity
from ..core.recipe import alias
from ..core.types import ScalarOrSchedule
from ..transforms import additive as _additive
from ..transforms.additive import Mask
from ..transforms.elementwise import sqrt_plus_eps, square
from ..transforms.moments import (
    bias_correction,
    infinity_moment,
    mean_of_squares,
    scale_by_momentum,
)
from ..transforms.rectification import (
    dozat_bias_correction,
    ones,
    scale_by_dozat_momentum,
    scale_by_rectification,
    variance_is_tractable,
)
from ..transforms.scaling import scale_by_learning_rate
from .parts import amsgrad_ratio, debiased_momentum, debiased_root_mean_square, nesterov_debiased_momentum


@alias("learning_rate", "b1", "b2", "eps", "eps_root")
def adam(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
    nu_dtype: Any = None,
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

    Low-precision state: ``mu_dtype`` and ``nu_dtype`` set the dtypes in which :math:`m` and
    :math:`v` are stored (e.g. ``jnp.bfloat16`` beside float32 params halves the state). Each
    moment is still computed in the wider dtype (float32 here); this step's update uses it
    unrounded, and only the stored copy is rounded, as Optax does for ``mu_dtype``.
    :func:`gradxform.state_memory` reports the bytes the state holds.

    Args:
        learning_rate: :math:`\alpha_t`, a number or a schedule.
        b1: :math:`\beta_1`, decay of the first moment; in ``[0, 1)``.
        b2: :math:`\beta_2`, decay of the second moment; in ``[0, 1)``.
        eps: :math:`\epsilon`, added outside the square root; ``>= 0``, and ``> 0`` if
            ``eps_root`` is 0 (else an entry whose gradients are all 0 computes 0/0).
        eps_root: :math:`\epsilon_{root}`, added inside the square root; ``>= 0``.
        mu_dtype: dtype of the first moment's storage; ``None`` keeps the params' dtype.
        nesterov: use Nadam's look-ahead numerator.
        nu_dtype: dtype of the second moment's storage; ``None`` keeps the params' dtype.

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
        >>> print(gx.apply_updates(params, updates)["w"].round(4))  # first step: -lr * sign(g)
        [ 0.9 -1.9]
    """
    if nesterov:
        return nadam(learning_rate, b1, b2, eps, eps_root, mu_dtype, nu_dtype=nu_dtype)
    return chain(
        ratio(
            debiased_momentum(b1, mu_dtype),                    # m_hat_t = m_t / (1 - b1^t)
            debiased_root_mean_square(b2, eps, eps_root, nu_dtype),  # sqrt(v_hat_t + eps_root) + eps
        ),
        scale_by_learning_rate(learning_rate),                  # * -alpha_t
    )


@alias("b1", "b2", "eps", "eps_root")
def scale_by_adam(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
    nu_dtype: Any = None,
) -> GradientTransformation:
    r"""Adam's direction, without the learning rate.

    .. math::  u_t = \hat m_t / (\sqrt{\hat v_t + \epsilon_{root}} + \epsilon)

    The recipe of :func:`gradxform.adam` (or, with ``nesterov=True``, of :func:`nadam`) less
    its last link, counted by its own :func:`gradxform.chain`, so that it also works inside
    ``optax.chain``, which passes no step count. Same arguments as Optax's ``scale_by_adam``.

    Args:
        b1: :math:`\beta_1`, decay of the first moment; in ``[0, 1)``.
        b2: :math:`\beta_2`, decay of the second moment; in ``[0, 1)``.
        eps: :math:`\epsilon`, added outside the square root; ``>= 0``, and ``> 0`` if
            ``eps_root`` is 0 (else an entry whose gradients are all 0 computes 0/0).
        eps_root: :math:`\epsilon_{root}`, added inside the square root; ``>= 0``.
        mu_dtype: dtype of the first moment's storage; ``None`` keeps the params' dtype.
        nesterov: use Nadam's look-ahead numerator.
        nu_dtype: dtype of the second moment's storage; ``None`` keeps the params' dtype.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.
        https://arxiv.org/abs/1412.6980
    """
    numerator: Branch
    if nesterov:
        numerator = nesterov_debiased_momentum(b1, mu_dtype)   # b1 m_hat_(t+1) + (1 - b1) g_hat_t
    else:
        numerator = debiased_momentum(b1, mu_dtype)            # m_hat_t = m_t / (1 - b1^t)
    return chain(
        ratio(
            numerator,
            debiased_root_mean_square(b2, eps, eps_root, nu_dtype),  # sqrt(v_hat_t + eps_root) + eps
        ),
    )


@alias("b1", "b2", "eps", "eps_root")
def scale_by_amsgrad(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: Any = None,
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
    *,
    max_before_bias_correction: bool = False,
    nu_dtype: Any = None,
) -> GradientTransformation:
    r"""AMSGrad's direction, without the learning rate.

    .. math::  u_t = \hat m_t / (\sqrt{\hat v^{max}_t + \epsilon_{root}} + \epsilon)

    The recipe of :func:`amsgrad` less its last link, counted by its own
    :func:`gradxform.chain`, so that it also works inside ``optax.chain``. Same arguments as
    Optax's ``scale_by_amsgrad``, plus ``max_before_bias_correction`` (PyTorch's order).

    Args:
        b1, b2, eps, eps_root, mu_dtype, nu_dtype: as in :func:`amsgrad`.
        bias_correction_mu, bias_correction_nu, max_before_bias_correction: as in :func:`amsgrad`.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Reddi, Kale & Kumar, "On the Convergence of Adam and Beyond", ICLR 2018, Algorithm 2.
        https://openreview.net/forum?id=ryQu7f-RZ
    """
    return chain(amsgrad_ratio(b1, b2, eps, eps_root, mu_dtype, nu_dtype, bias_correction_mu,
                               bias_correction_nu, max_before_bias_correction))


@alias("learning_rate", "b1", "b2", "eps", "eps_root", "weight_decay")
def adamw(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: Any = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Optional[Mask] = None,
    *,
    nesterov: bool = False,
    nu_dtype: Any = None,
) -> GradientTransformation:
    r"""AdamW: Adam's step plus decoupled weight decay, both scaled by the learning rate.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \\
        \hat m_t = m_t / (1-\beta_1^t), \qquad \hat v_t = v_t / (1-\beta_2^t), \\
        u_t = -\alpha_t \big( \hat m_t / (\sqrt{\hat v_t + \epsilon_{root}} + \epsilon)
              + \lambda\,\theta_{t-1} \big)

    The decay is added after Adam's normalisation, so it is not rescaled by :math:`\hat v_t`
    (the point of the paper), and it is multiplied by the scheduled :math:`\alpha_t`, as in
    Optax and PyTorch (Loshchilov & Hutter's :math:`\eta_t \lambda` with :math:`\eta_t \propto
    \alpha_t`). Chains :func:`ratio` of (:func:`scale_by_momentum` with ``ema=True``,
    :func:`bias_correction`) over (:func:`mean_of_squares`, :func:`bias_correction`,
    :func:`sqrt_plus_eps`), then :func:`weight_decay`, then :func:`scale_by_learning_rate`.
    ``nesterov=True`` is :func:`nadamw`.

    Args:
        learning_rate: :math:`\alpha_t`, a number or a schedule.
        b1: :math:`\beta_1`, decay of the first moment; in ``[0, 1)``.
        b2: :math:`\beta_2`, decay of the second moment; in ``[0, 1)``.
        eps: :math:`\epsilon`, added outside the square root; ``>= 0``, and ``> 0`` if
            ``eps_root`` is 0 (else an entry whose gradients are all 0 computes 0/0).
        eps_root: :math:`\epsilon_{root}`, added inside the square root; ``>= 0``.
        mu_dtype: dtype of the first moment's storage; ``None`` keeps the params' dtype.
        weight_decay: :math:`\lambda`, ``>= 0``.
        mask: a tree of bools shaped like the params, or a function of the params returning
            one; leaves marked ``False`` are not decayed. ``None`` decays every leaf.
        nesterov: use Nadam's look-ahead numerator.
        nu_dtype: dtype of the second moment's storage; ``None`` keeps the params' dtype.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.
        https://arxiv.org/abs/1711.05101

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.adamw(0.1, weight_decay=0.5)
        >>> params = {"w": jnp.array([1.0, -2.0])}
        >>> state = opt.init(params)
        >>> updates, state = opt.update({"w": jnp.array([0.5, -0.5])}, state, params)
        >>> [round(float(x), 4) for x in gx.apply_updates(params, updates)["w"]]
        [0.85, -1.8]
    """
    if nesterov:
        return nadamw(
            learning_rate, b1, b2, eps, eps_root, mu_dtype, weight_decay, mask, nu_dtype=nu_dtype
        )
    return chain(
        ratio(
            debiased_momentum(b1, mu_dtype),                    # m_hat_t = m_t / (1 - b1^t)
            debiased_root_mean_square(b2, eps, eps_root, nu_dtype),  # sqrt(v_hat_t + eps_root) + eps
        ),
        _additive.weight_decay(weight_decay, mask),             # + lambda theta
        scale_by_learning_rate(learning_rate),                  # * -alpha_t
    )


@alias("learning_rate", "b1", "b2", "eps", "eps_root", "weight_decay")
def nadamw(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: Any = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Optional[Mask] = None,
    *,
    nesterov: bool = True,
    momentum_decay: Optional[float] = None,
    nu_dtype: Any = None,
) -> GradientTransformation:
    r"""NadamW: Nadam's step plus decoupled weight decay, both scaled by the learning rate.

    .. math::
        \bar m_t = \frac{\beta_1 m_t}{1-\beta_1^{t+1}} + \frac{(1-\beta_1) g_t}{1-\beta_1^t}, \qquad
        u_t = -\alpha_t \big( \bar m_t / (\sqrt{\hat v_t + \epsilon_{root}} + \epsilon)
              + \lambda\,\theta_{t-1} \big)

    with :math:`m_t, \hat v_t` as in :func:`adamw`. :func:`nadam`'s recipe (a
    :func:`parallel_sum` numerator), then :func:`weight_decay`, then
    :func:`scale_by_learning_rate`; Optax's ``nadamw``. ``momentum_decay`` gives Dozat's
    momentum schedule, as in :func:`nadam` (PyTorch's ``NAdam`` with
    ``decoupled_weight_decay=True``).

    Args:
        learning_rate, b1, b2, eps, eps_root, mu_dtype, weight_decay, mask, nu_dtype: as in
            :func:`adamw`.
        nesterov: ``True`` (the default) for Nadam's look-ahead numerator; ``False`` is
            :func:`adamw`, as Optax's ``nadamw(nesterov=False)`` is.
        momentum_decay: :math:`\psi`, as in :func:`nadam`; needs ``nesterov=True``.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.
        https://arxiv.org/abs/1711.05101
        Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016 Workshop.
        https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.nadamw(0.1, weight_decay=0.5)
        >>> params = {"w": jnp.array([1.0, -2.0])}
        >>> state = opt.init(params)
        >>> updates, state = opt.update({"w": jnp.array([0.5, -0.5])}, state, params)
        >>> [round(float(x), 4) for x in gx.apply_updates(params, updates)["w"]]
        [0.8026, -1.7526]
    """
    return chain(
        ratio(
            _nadam_numerator("nadamw", b1, mu_dtype, nesterov, momentum_decay),  # see nadam
            debiased_root_mean_square(b2, eps, eps_root, nu_dtype),  # sqrt(v_hat_t + eps_root) + eps
        ),
        _additive.weight_decay(weight_decay, mask),                     # + lambda theta
        scale_by_learning_rate(learning_rate),                          # * -alpha_t
    )


@alias("learning_rate", "b1", "b2", "eps")
def adamax(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    *,
    mu_dtype: Any = None,
    nu_dtype: Any = None,
) -> GradientTransformation:
    r"""AdaMax: Adam with the root mean square replaced by an exponentially weighted infinity norm.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        \nu_t = \max(|g_t| + \epsilon,\; \beta_2 \nu_{t-1}), \\
        u_t = -\alpha_t\, \frac{m_t / (1-\beta_1^t)}{\nu_t}

    :math:`\epsilon` sits inside the maximum, as in Optax and PyTorch (Kingma & Ba have none).
    Chains :func:`ratio` of (:func:`scale_by_momentum` with ``ema=True``, :func:`bias_correction`)
    over :func:`infinity_moment`, then :func:`scale_by_learning_rate`.

    Args:
        learning_rate: :math:`\alpha_t`, a number or a schedule.
        b1: :math:`\beta_1`, decay of the first moment; in ``[0, 1)``.
        b2: :math:`\beta_2`, decay of the infinity norm; in ``[0, 1)``.
        eps: :math:`\epsilon`, added to each magnitude; ``> 0`` (0 would make an entry whose
            gradients are all 0 compute 0/0).
        mu_dtype: dtype of the first moment's storage; ``None`` keeps the params' dtype.
        nu_dtype: dtype of the infinity norm's storage; ``None`` keeps the params' dtype.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, Section 7.1,
        Algorithm 2. https://arxiv.org/abs/1412.6980

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.adamax(0.1)
        >>> params = {"w": jnp.array([1.0, -2.0])}
        >>> state = opt.init(params)
        >>> updates, state = opt.update({"w": jnp.array([0.5, -0.25])}, state)
        >>> [round(float(x), 4) for x in gx.apply_updates(params, updates)["w"]]
        [0.9, -1.9]
    """
    transform = chain(
        ratio(
            debiased_momentum(b1, mu_dtype),                    # m_hat_t = m_t / (1 - b1^t)
            infinity_moment(b2, eps, nu_dtype),                 # nu_t = max(|g| + eps, b2 nu)
        ),
        scale_by_learning_rate(learning_rate),                  # * -alpha_t
    )
    _check.positive("adamax", eps=eps)  # after the primitives' own checks: refuses eps = 0 (0/0)
    return transform


@alias("b1", "b2", "eps")
def scale_by_adamax(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
) -> GradientTransformation:
    r"""AdaMax's direction, without the learning rate.

    .. math::  u_t = \frac{m_t / (1-\beta_1^t)}{\max(|g_t| + \epsilon,\; \beta_2 \nu_{t-1})}

    The recipe of :func:`adamax` less its last link, counted by its own
    :func:`gradxform.chain`, so that it also works inside ``optax.chain``. Same arguments as
    Optax's ``scale_by_adamax``.

    Args:
        b1, b2, eps: as in :func:`adamax`.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, Section 7.1,
        Algorithm 2. https://arxiv.org/abs/1412.6980
    """
    transform = chain(
        ratio(
            debiased_momentum(b1),                              # m_hat_t = m_t / (1 - b1^t)
            infinity_moment(b2, eps),                           # nu_t = max(|g| + eps, b2 nu)
        ),
    )
    _check.positive("scale_by_adamax", eps=eps)  # after the primitives' own checks: refuses eps = 0 (0/0)
    return transform


@alias("learning_rate", "b1", "b2", "eps", "weight_decay")
def adamaxw(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Optional[Mask] = None,
) -> GradientTransformation:
    r"""AdaMaxW: AdaMax's step plus decoupled weight decay, both scaled by the learning rate.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        \nu_t = \max(|g_t| + \epsilon,\; \beta_2 \nu_{t-1}), \\
        u_t = -\alpha_t \Big( \frac{m_t / (1-\beta_1^t)}{\nu_t} + \lambda\,\theta_{t-1} \Big)

    :func:`adamax`'s recipe, then :func:`weight_decay` (as :func:`adamw` adds it to Adam), then
    :func:`scale_by_learning_rate`; Optax's ``adamaxw``.

    Args:
        learning_rate, b1, b2, eps: as in :func:`adamax`.
        weight_decay: :math:`\lambda`, ``>= 0``.
        mask: which leaves to decay: a tree of bools shaped like the params, or a function of the
            params returning one; ``None`` decays every leaf.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, Algorithm 2.
        https://arxiv.org/abs/1412.6980
        Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.
        https://arxiv.org/abs/1711.05101

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.adamaxw(0.1, weight_decay=0.5)
        >>> params = {"w": jnp.array([1.0, -2.0])}
        >>> state = opt.init(params)
        >>> updates, state = opt.update({"w": jnp.array([0.5, -0.25])}, state, params)
        >>> [round(float(x), 4) for x in gx.apply_updates(params, updates)["w"]]
        [0.85, -1.8]
    """
    transform = chain(
        ratio(
            debiased_momentum(b1),                              # m_hat_t = m_t / (1 - b1^t)
            infinity_moment(b2, eps),                           # nu_t = max(|g| + eps, b2 nu)
        ),
        _additive.weight_decay(weight_decay, mask),             # + lambda theta
        scale_by_learning_rate(learning_rate),                  # * -alpha_t
    )
    _check.positive("adamaxw", eps=eps)  # after the primitives' own checks: refuses eps = 0 (0/0)
    return transform


MOMENTUM_DECAY_NEEDS_NESTEROV = (
    "{who}: momentum_decay={momentum_decay} needs nesterov=True: Dozat's schedule weights "
    "Nadam's look-ahead numerator. Drop momentum_decay, or keep nesterov=True."
)


def _nadam_numerator(who, b1, mu_dtype, nesterov, momentum_decay) -> Branch:
    """Nadam's numerator: constant b1 (Optax), Dozat's schedule (PyTorch), or Adam's (nesterov=False)."""
    _check.flag(who, nesterov=nesterov)
    if momentum_decay is not None:
        _check.non_negative(who, momentum_decay=momentum_decay)
        if not nesterov:
            raise ValueError(MOMENTUM_DECAY_NEEDS_NESTEROV.format(who=who, momentum_decay=momentum_decay))
    if not nesterov:
        return debiased_momentum(b1, mu_dtype)                               # m_hat_t = m_t / (1 - b1^t)
    if momentum_decay is None:
        return nesterov_debiased_momentum(b1, mu_dtype)                      # b1 m_hat_(t+1) + (1 - b1) g_hat_t
    psi = momentum_decay  # mu_t = b1 (1 - 0.96^(t psi) / 2), b1 read as a hyperparameter
    return parallel_sum(
        (1.0, [scale_by_momentum(b1, ema=True, dtype=mu_dtype),             # m_t = b1 m + (1 - b1) g
               dozat_bias_correction(b1, psi, step_offset=1),               # m_t / (1 - prod_{i<=t+1} mu_i)
               scale_by_dozat_momentum(b1, psi, step_offset=1)]),           # * mu_{t+1}
        (1.0, [dozat_bias_correction(b1, psi),                              # + g_t / (1 - prod_{i<=t} mu_i)
               scale_by_dozat_momentum(b1, psi, complement=True)]),         #   * (1 - mu_t)
    )


@alias("learning_rate", "b1", "b2", "eps", "eps_root")
def nadam(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = True,
    momentum_decay: Optional[float] = None,
    nu_dtype: Any = None,
) -> GradientTransformation:
    r"""Nadam: Adam whose first moment looks one step ahead, as Nesterov's momentum does.

    Default (``momentum_decay=None``), Optax's ``nadam``, a constant momentum :math:`\beta_1`:

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \\
        \bar m_t = \frac{\beta_1 m_t}{1-\beta_1^{t+1}} + \frac{(1-\beta_1) g_t}{1-\beta_1^t}, \qquad
        u_t = -\alpha_t\, \bar m_t / (\sqrt{v_t / (1-\beta_2^t) + \epsilon_{root}} + \epsilon)

    With ``momentum_decay`` :math:`=\psi`, Dozat's momentum schedule, as PyTorch's ``NAdam``
    (whose default is :math:`\psi = 0.004`) and Keras's ``Nadam`` implement it; :math:`m_t` and
    :math:`v_t` are unchanged:

    .. math::
        \mu_t = \beta_1 \big(1 - \tfrac12\, 0.96^{t\psi}\big), \qquad
        \bar m_t = \frac{\mu_{t+1} m_t}{1-\prod_{i=1}^{t+1}\mu_i}
                 + \frac{(1-\mu_t) g_t}{1-\prod_{i=1}^{t}\mu_i}

    Neither version has Dozat's Algorithm 2 extra factor :math:`\beta_2` on :math:`\hat v_t`
    (Optax, PyTorch and Keras all omit it). Chains :func:`ratio` of a :func:`parallel_sum`
    (the look-ahead momentum term, the gradient term) over (:func:`mean_of_squares`,
    :func:`bias_correction`, :func:`sqrt_plus_eps`), then :func:`scale_by_learning_rate`; the
    schedule weights its terms with :func:`scale_by_dozat_momentum` and corrects them with
    :func:`dozat_bias_correction`, both reading :math:`\beta_1` as a hyperparameter: a
    scheduled ``b1`` and a ``b1`` changed with :func:`gradxform.set_hyperparams` move
    :math:`\mu_t` too (at update :math:`t`, :math:`\mu_t` and :math:`\mu_{t+1}` use the
    :math:`\beta_1` in force then, and the running product keeps past values, as in PyTorch).

    Args:
        learning_rate: :math:`\alpha_t`, a number or a schedule.
        b1: :math:`\beta_1`, decay of the first moment; in ``[0, 1)``.
        b2: :math:`\beta_2`, decay of the second moment; in ``[0, 1)``.
        eps: :math:`\epsilon`, added outside the square root; ``>= 0``, and ``> 0`` if
            ``eps_root`` is 0 (else an entry whose gradients are all 0 computes 0/0).
        eps_root: :math:`\epsilon_{root}`, added inside the square root; ``>= 0``.
        mu_dtype: dtype of the first moment's storage; ``None`` keeps the params' dtype.
        nesterov: ``True`` (the default) for the look-ahead numerator; ``False`` is
            :func:`adam`, as Optax's ``nadam(nesterov=False)`` is.
        momentum_decay: :math:`\psi`, ``>= 0``, to use Dozat's momentum schedule (PyTorch's
            ``momentum_decay``, e.g. ``0.004``); ``None`` keeps :math:`\beta_1` constant (Optax).
            Needs ``nesterov=True``.
        nu_dtype: dtype of the second moment's storage; ``None`` keeps the params' dtype.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016 Workshop, Algorithm 2.
        https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.nadam(0.1)
        >>> params = {"w": jnp.array([1.0, -2.0])}
        >>> state = opt.init(params)
        >>> updates, state = opt.update({"w": jnp.array([0.5, -0.5])}, state)
        >>> [round(float(x), 4) for x in gx.apply_updates(params, updates)["w"]]
        [0.8526, -1.8526]
    """
    return chain(
        ratio(
            _nadam_numerator("nadam", b1, mu_dtype, nesterov, momentum_decay),
            debiased_root_mean_square(b2, eps, eps_root, nu_dtype),   # sqrt(v_hat_t + eps_root) + eps
        ),
        scale_by_learning_rate(learning_rate),                        # * -alpha_t
    )


@alias("learning_rate", "b1", "b2", "eps", "eps_root")
def amsgrad(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: Any = None,
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
    *,
    max_before_bias_correction: bool = False,
    nu_dtype: Any = None,
) -> GradientTransformation:
    r"""AMSGrad: Adam whose denominator never decreases.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \\
        \hat v^{max}_t = \max\big(\hat v^{max}_{t-1},\; v_t / (1-\beta_2^t)\big), \qquad
        u_t = -\alpha_t\, \frac{m_t / (1-\beta_1^t)}{\sqrt{\hat v^{max}_t + \epsilon_{root}} + \epsilon}

    The conventions differ only in where :func:`amsgrad_max` sits in the denominator:

    * default, Optax's: ``mean_of_squares -> bias_correction -> amsgrad_max``, the maximum of
      bias-corrected moments;
    * ``max_before_bias_correction=True``, PyTorch's ``amsgrad=True``:
      ``mean_of_squares -> amsgrad_max -> bias_correction``, the maximum of raw moments (as in
      Reddi et al.), divided by :math:`1-\beta_2^t`;
    * ``bias_correction_nu=False`` (with ``bias_correction_mu=False``, Reddi et al.'s
      Algorithm 2 with constant :math:`\beta_1`): ``mean_of_squares -> amsgrad_max``, no
      correction.

    Chains :func:`ratio` of (:func:`scale_by_momentum` with ``ema=True``,
    :func:`bias_correction`) over the denominator above then :func:`sqrt_plus_eps`, then
    :func:`scale_by_learning_rate`.

    Args:
        learning_rate: :math:`\alpha_t`, a number or a schedule.
        b1: :math:`\beta_1`, decay of the first moment; in ``[0, 1)``.
        b2: :math:`\beta_2`, decay of the second moment; in ``[0, 1)``.
        eps: :math:`\epsilon`, added outside the square root; ``>= 0``, and ``> 0`` if
            ``eps_root`` is 0 (else an entry whose gradients are all 0 computes 0/0).
        eps_root: :math:`\epsilon_{root}`, added inside the square root; ``>= 0``.
        mu_dtype: dtype of the first moment's storage; ``None`` keeps the params' dtype.
        bias_correction_mu: divide :math:`m_t` by :math:`1-\beta_1^t`.
        bias_correction_nu: divide :math:`v_t` by :math:`1-\beta_2^t`.
        max_before_bias_correction: take the maximum of the raw :math:`v_t` and correct it
            afterwards (PyTorch) instead of the maximum of corrected moments (Optax).
        nu_dtype: dtype in which :math:`v` and :math:`\hat v^{max}` are stored; ``None`` keeps
            the params' dtype.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Reddi, Kale & Kumar, "On the Convergence of Adam and Beyond", ICLR 2018, Algorithm 2.
        https://openreview.net/forum?id=ryQu7f-RZ

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.amsgrad(0.1)
        >>> params = {"w": jnp.array([1.0, -2.0])}
        >>> state = opt.init(params)
        >>> updates, state = opt.update({"w": jnp.array([0.5, -0.5])}, state)
        >>> [round(float(x), 4) for x in gx.apply_updates(params, updates)["w"]]
        [0.9, -1.9]
    """
    return chain(
        amsgrad_ratio(b1, b2, eps, eps_root, mu_dtype, nu_dtype, bias_correction_mu,
                      bias_correction_nu, max_before_bias_correction),  # m_hat / (sqrt(v_max) + eps)
        scale_by_learning_rate(learning_rate),                          # * -alpha_t
    )


@alias("learning_rate", "b1", "b2", "eps", "eps_root")
def radam(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    threshold: float = 5.0,
    *,
    nesterov: bool = False,
    mu_dtype: Any = None,
    nu_dtype: Any = None,
) -> GradientTransformation:
    r"""RAdam: momentum SGD until the adaptive step's variance is tractable, then rectified Adam.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \qquad \hat m_t = m_t / (1-\beta_1^t), \\
        \rho_\infty = \frac{2}{1-\beta_2} - 1, \qquad
        \rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1-\beta_2^t}, \qquad
        r_t = \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}}, \\
        u_t = -\alpha_t \begin{cases}
            r_t\, \hat m_t / (\sqrt{v_t / (1-\beta_2^t) + \epsilon_{root}} + \epsilon)
                & \rho_t \ge \text{threshold} \\
            \hat m_t & \text{otherwise}
        \end{cases}

    Optax's convention (``>=`` and ``threshold=5``, the authors' code); Liu et al.'s Algorithm 2
    writes :math:`\rho_t > 4` and has no :math:`\epsilon`. Chains :func:`ratio` of
    (:func:`scale_by_momentum` with ``ema=True``, :func:`bias_correction`, a
    :func:`conditional` :func:`scale_by_rectification`) over a :func:`conditional` choosing
    (:func:`mean_of_squares`, :func:`bias_correction`, :func:`sqrt_plus_eps`) or :func:`ones`,
    both on :func:`variance_is_tractable`, then :func:`scale_by_learning_rate`.

    Args:
        learning_rate: :math:`\alpha_t`, a number or a schedule.
        b1: :math:`\beta_1`, decay of the first moment; in ``[0, 1)``.
        b2: :math:`\beta_2`, decay of the second moment; in ``[0, 1)``.
        eps: :math:`\epsilon`, added outside the square root; ``>= 0``, and ``> 0`` if
            ``eps_root`` is 0 (else an entry whose gradients are all 0 computes 0/0).
        eps_root: :math:`\epsilon_{root}`, added inside the square root; ``>= 0``.
        threshold: the least :math:`\rho_t` at which the rectified adaptive step is taken;
            ``>= 4``, since :math:`r_t` is not real for :math:`2 < \rho_t < 4`.
        nesterov: use Nadam's look-ahead numerator (:func:`nadam`) for :math:`\hat m_t`.
        mu_dtype: dtype of the first moment's storage; ``None`` keeps the params' dtype.
        nu_dtype: dtype of the second moment's storage; ``None`` keeps the params' dtype.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Liu, Jiang, He, Chen, Liu, Gao & Han, "On the Variance of the Adaptive Learning Rate and
        Beyond", ICLR 2020, Algorithm 2. https://arxiv.org/abs/1908.03265

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.radam(0.1)
        >>> params = {"w": jnp.array([1.0, -2.0])}
        >>> state = opt.init(params)
        >>> updates, state = opt.update({"w": jnp.array([0.5, -0.5])}, state)
        >>> [round(float(x), 4) for x in gx.apply_updates(params, updates)["w"]]
        [0.95, -1.95]
    """
    tractable = variance_is_tractable(b2, threshold)                  # rho_t >= threshold
    if nesterov:
        first = [nesterov_debiased_momentum(b1, mu_dtype)]       # b1 m_hat_(t+1) + (1 - b1) g_hat_t
    else:
        first = [debiased_momentum(b1, mu_dtype)]                # m_hat_t = m_t / (1 - b1^t)
    return chain(
        ratio(
            first + [conditional(tractable,
                                 scale_by_rectification(b2),           # * r_t
                                 identity())],                         # (or not, early on)
            conditional(tractable,
                        debiased_root_mean_square(b2, eps, eps_root, nu_dtype),  # sqrt(v_hat + eps_root) + eps
                        ones()),                                       # (or 1: momentum SGD)
        ),
        scale_by_learning_rate(learning_rate),                         # * -alpha_t
    )


@alias("b1", "b2", "eps", "eps_root")
def scale_by_radam(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    threshold: float = 5.0,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""RAdam's direction, without the learning rate.

    .. math::  u_t = r_t\, \hat m_t / (\sqrt{\hat v_t + \epsilon_{root}} + \epsilon)
               \ \text{ if } \rho_t \ge \text{threshold}, \qquad \hat m_t \text{ otherwise}

    The recipe of :func:`radam` less its last link, counted by its own
    :func:`gradxform.chain`, so that it also works inside ``optax.chain``. Same arguments as
    Optax's ``scale_by_radam``.

    Args:
        b1, b2, eps, eps_root, threshold, nesterov: as in :func:`radam`.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Liu, Jiang, He, Chen, Liu, Gao & Han, "On the Variance of the Adaptive Learning Rate and
        Beyond", ICLR 2020, Algorithm 2. https://arxiv.org/abs/1908.03265
    """
    tractable = variance_is_tractable(b2, threshold)                  # rho_t >= threshold
    if nesterov:
        first = [nesterov_debiased_momentum(b1)]                 # b1 m_hat_(t+1) + (1 - b1) g_hat_t
    else:
        first = [debiased_momentum(b1)]                          # m_hat_t = m_t / (1 - b1^t)
    return chain(
        ratio(
            first + [conditional(tractable,
                                 scale_by_rectification(b2),           # * r_t
                                 identity())],                         # (or not, early on)
            conditional(tractable,
                        debiased_root_mean_square(b2, eps, eps_root),  # sqrt(v_hat + eps_root) + eps
                        ones()),                                       # (or 1: momentum SGD)
        ),
    )


@alias("learning_rate", "b1", "b2", "nu1", "nu2", "eps")
def qhadam(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.995,
    b2: ScalarOrSchedule = 0.999,
    nu1: ScalarOrSchedule = 0.7,
    nu2: ScalarOrSchedule = 1.0,
    eps: ScalarOrSchedule = 1e-8,
) -> GradientTransformation:
    r"""QHAdam: Adam with both moments mixed with the current gradient (quasi-hyperbolic terms).

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \\
        u_t = -\alpha_t\, \frac{(1-\nu_1)\, g_t + \nu_1\, m_t / (1-\beta_1^t)}
                              {\sqrt{(1-\nu_2)\, g_t^2 + \nu_2\, v_t / (1-\beta_2^t)} + \epsilon}

    :math:`\nu_1 = \nu_2 = 1` is Adam. The defaults are the authors' recommendation for replacing
    Adam (the qhoptim library's own defaults are ``nus=(1, 1)``, ``betas=(0.9, 0.999)``). Chains
    :func:`ratio` of a :func:`parallel_sum` of (:func:`identity`; :func:`scale_by_momentum` with
    ``ema=True``, :func:`bias_correction`) over a :func:`parallel_sum` of (:func:`square`;
    :func:`mean_of_squares`, :func:`bias_correction`) then :func:`sqrt_plus_eps`, then
    :func:`scale_by_learning_rate`.

    Args:
        learning_rate: :math:`\alpha_t`, a number or a schedule.
        b1: :math:`\beta_1`, decay of the first moment; in ``[0, 1)``.
        b2: :math:`\beta_2`, decay of the second moment; in ``[0, 1)``.
        nu1: :math:`\nu_1`, the weight of the momentum against the gradient; in ``[0, 1]``.
        nu2: :math:`\nu_2`, the weight of the mean of squares against the square; in ``[0, 1]``.
        eps: :math:`\epsilon`, added outside the square root; ``> 0`` (0 would make an entry
            whose gradients are all 0 compute 0/0).

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Ma & Yarats, "Quasi-hyperbolic momentum and Adam for deep learning", ICLR 2019.
        https://arxiv.org/abs/1810.06801

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.qhadam(0.1)
        >>> params = {"w": jnp.array([1.0, -2.0])}
        >>> state = opt.init(params)
        >>> updates, state = opt.update({"w": jnp.array([0.5, -0.5])}, state)
        >>> [round(float(x), 4) for x in gx.apply_updates(params, updates)["w"]]
        [0.9, -1.9]
    """
    _check.unit_interval("qhadam", nu1=nu1, nu2=nu2)
    transform = chain(
        ratio(
            parallel_sum(
                (one_minus(nu1), identity()),                   # (1 - nu1) g
                (nu1, [scale_by_momentum(b1, ema=True),         # + nu1 (m_t = b1 m + (1 - b1) g
                       bias_correction(b1)]),                   #        / (1 - b1^t))
            ),
            [parallel_sum(
                (one_minus(nu2), square()),                     # (1 - nu2) g^2
                (nu2, [mean_of_squares(b2),                     # + nu2 (v_t = b2 v + (1 - b2) g^2
                       bias_correction(b2)]),                   #        / (1 - b2^t))
             ),
             sqrt_plus_eps(eps)],                               # sqrt(.) + eps
        ),
        scale_by_learning_rate(learning_rate),                  # * -alpha_t
    )
    _check.positive("qhadam", eps=eps)  # after the primitives' own checks: refuses eps = 0 (0/0)
    return transform
