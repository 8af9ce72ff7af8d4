"""Every optimizer, each one a visible recipe of primitives chained together.

Each alias lists one primitive per term of the paper's update rule, with a trailing comment,
so that optimizers differing by one idea differ by one line: AdamW adds weight decay, AdaMax
swaps the denominator for an infinity norm, Nadam the numerator for a look-ahead, AMSGrad
inserts a running maximum, RAdam switches on a rectified denominator, QHAdam mixes the raw
gradient into both moments. :func:`scale_by_adam` and :func:`scale_by_amsgrad` are the same
recipes without the learning rate, for code written against Optax.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import jax

from ..transforms import additive as _additive
from ..core import check as _check
from ..core import step as _step
from ..transforms.adaptive import scale_by_adadelta_units, scale_by_rms, sum_of_squares
from ..transforms.additive import Mask, add_noise
from ..core import recipe as _recipe
from ..core.chain import chain
from ..core.combinators import conditional, parallel_sum, ratio
from ..core.link import Branch
from ..core.protocol import GradientTransformation, identity
from ..core.hyperparams import one_minus, shared
from ..transforms.elementwise import sign, sqrt_plus_eps, square
from ..transforms.moments import (
    amsgrad_max,
    bias_correction,
    infinity_moment,
    interpolated_momentum,
    mean_of_squares,
    scale_by_momentum,
    scheduled_bias_correction,
)
from ..transforms.lbfgs import scale_by_lbfgs
from ..transforms.linesearch import scale_by_zoom_linesearch
from ..transforms.rectification import ones, scale_by_rectification, scale_by_schedule, variance_is_tractable
from ..transforms.scaling import ScalarOrSchedule, scale, scale_by_learning_rate
from ..transforms.switching import switch_to_sgd
from ..transforms.trust_ratio import scale_by_trust_ratio

PyTree = Any


# ---------------------------------------------------------------------------------------------
# The Adam family
# ---------------------------------------------------------------------------------------------


@_recipe.factory
def adam(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
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
        eps: :math:`\epsilon`, added outside the square root; ``>= 0``.
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
    learning_rate, b1, b2, eps, eps_root = shared(
        learning_rate=learning_rate, b1=b1, b2=b2, eps=eps, eps_root=eps_root
    )
    return chain(
        ratio(
            [scale_by_momentum(b1, ema=True, dtype=mu_dtype),  # m_t = b1 m + (1 - b1) g
             bias_correction(b1)],                              # m_t / (1 - b1^t)
            [mean_of_squares(b2, dtype=nu_dtype),               # v_t = b2 v + (1 - b2) g^2
             bias_correction(b2),                               # v_t / (1 - b2^t)
             sqrt_plus_eps(eps, eps_root)],                     # sqrt(v_hat + eps_root) + eps
        ),
        scale_by_learning_rate(learning_rate),                  # * -alpha_t
    )


@_recipe.factory
def scale_by_adam(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
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
        eps: :math:`\epsilon`, added outside the square root; ``>= 0``.
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
    b1, b2, eps, eps_root = shared(b1=b1, b2=b2, eps=eps, eps_root=eps_root)
    numerator: Branch
    if nesterov:
        numerator = parallel_sum(
            (b1, [scale_by_momentum(b1, ema=True, dtype=mu_dtype),  # m_t = b1 m + (1 - b1) g
                  bias_correction(b1, step_offset=1)]),             # b1 m_t / (1 - b1^(t+1))
            (one_minus(b1), bias_correction(b1)),                   # + (1 - b1) g_t / (1 - b1^t)
        )
    else:
        numerator = [scale_by_momentum(b1, ema=True, dtype=mu_dtype),  # m_t = b1 m + (1 - b1) g
                     bias_correction(b1)]                               # m_t / (1 - b1^t)
    return chain(
        ratio(
            numerator,
            [mean_of_squares(b2, dtype=nu_dtype),                   # v_t = b2 v + (1 - b2) g^2
             bias_correction(b2),                                   # v_t / (1 - b2^t)
             sqrt_plus_eps(eps, eps_root)],                         # sqrt(v_hat + eps_root) + eps
        ),
    )


@_recipe.factory
def scale_by_amsgrad(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
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
        b1, b2, eps, eps_root, mu_dtype, bias_correction_mu, bias_correction_nu,
        max_before_bias_correction, nu_dtype: as in :func:`amsgrad`.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Reddi, Kale & Kumar, "On the Convergence of Adam and Beyond", ICLR 2018, Algorithm 2.
        https://openreview.net/forum?id=ryQu7f-RZ
    """
    b1, b2, eps, eps_root = shared(b1=b1, b2=b2, eps=eps, eps_root=eps_root)
    first = [scale_by_momentum(b1, ema=True, dtype=mu_dtype)]            # m_t = b1 m + (1 - b1) g
    if bias_correction_mu:
        first += [bias_correction(b1)]                                    # m_t / (1 - b1^t)
    if not bias_correction_nu:                          # Reddi et al.: max(v_max, v_t)
        second = [mean_of_squares(b2, dtype=nu_dtype), amsgrad_max(nu_dtype)]
    elif max_before_bias_correction:                    # PyTorch: max(v_max, v_t) / (1 - b2^t)
        second = [mean_of_squares(b2, dtype=nu_dtype), amsgrad_max(nu_dtype), bias_correction(b2)]
    else:                                               # Optax: max(v_max, v_t / (1 - b2^t))
        second = [mean_of_squares(b2, dtype=nu_dtype), bias_correction(b2), amsgrad_max(nu_dtype)]
    return chain(ratio(first, second + [sqrt_plus_eps(eps, eps_root)]))  # sqrt(. + eps_root) + eps


@_recipe.factory
def adamw(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any = None,
    weight_decay: float = 1e-4,
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
        eps: :math:`\epsilon`, added outside the square root; ``>= 0``.
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
    learning_rate, b1, b2, eps, eps_root, weight_decay = shared(
        learning_rate=learning_rate, b1=b1, b2=b2, eps=eps, eps_root=eps_root,
        weight_decay=weight_decay,
    )
    return chain(
        ratio(
            [scale_by_momentum(b1, ema=True, dtype=mu_dtype),  # m_t = b1 m + (1 - b1) g
             bias_correction(b1)],                              # m_t / (1 - b1^t)
            [mean_of_squares(b2, dtype=nu_dtype),               # v_t = b2 v + (1 - b2) g^2
             bias_correction(b2),                               # v_t / (1 - b2^t)
             sqrt_plus_eps(eps, eps_root)],                     # sqrt(v_hat + eps_root) + eps
        ),
        _additive.weight_decay(weight_decay, mask),             # + lambda theta
        scale_by_learning_rate(learning_rate),                  # * -alpha_t
    )


@_recipe.factory
def nadamw(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any = None,
    weight_decay: float = 1e-4,
    mask: Optional[Mask] = None,
    *,
    nu_dtype: Any = None,
) -> GradientTransformation:
    r"""NadamW: Nadam's step plus decoupled weight decay, both scaled by the learning rate.

    .. math::
        \bar m_t = \frac{\beta_1 m_t}{1-\beta_1^{t+1}} + \frac{(1-\beta_1) g_t}{1-\beta_1^t}, \qquad
        u_t = -\alpha_t \big( \bar m_t / (\sqrt{\hat v_t + \epsilon_{root}} + \epsilon)
              + \lambda\,\theta_{t-1} \big)

    with :math:`m_t, \hat v_t` as in :func:`adamw`. :func:`nadam`'s recipe (a
    :func:`parallel_sum` numerator), then :func:`weight_decay`, then
    :func:`scale_by_learning_rate`; Optax's ``nadamw``.

    Args:
        learning_rate, b1, b2, eps, eps_root, mu_dtype, weight_decay, mask, nu_dtype: as in
            :func:`adamw`.

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
    learning_rate, b1, b2, eps, eps_root, weight_decay = shared(
        learning_rate=learning_rate, b1=b1, b2=b2, eps=eps, eps_root=eps_root,
        weight_decay=weight_decay,
    )
    return chain(
        ratio(
            parallel_sum(
                (b1, [scale_by_momentum(b1, ema=True, dtype=mu_dtype),  # m_t = b1 m + (1 - b1) g
                      bias_correction(b1, step_offset=1)]),             # b1 m_t / (1 - b1^(t+1))
                (one_minus(b1), bias_correction(b1)),                   # + (1 - b1) g_t / (1 - b1^t)
            ),
            [mean_of_squares(b2, dtype=nu_dtype),                       # v_t = b2 v + (1 - b2) g^2
             bias_correction(b2),                                       # v_t / (1 - b2^t)
             sqrt_plus_eps(eps, eps_root)],                             # sqrt(v_hat + eps_root) + eps
        ),
        _additive.weight_decay(weight_decay, mask),                     # + lambda theta
        scale_by_learning_rate(learning_rate),                          # * -alpha_t
    )


@_recipe.factory
def adamax(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    *,
    mu_dtype: Any = None,
    nu_dtype: Any = None,
) -> GradientTransformation:
    r"""AdaMax: Adam with the root mean square replaced by an exponentially weighted infinity norm.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        \nu_t = \max(|g_t| + \epsilon,\; \beta_2 \nu_{t-1}), \\
        u_t = -\alpha_t\, \frac{m_t / (1-\beta_1^t)}{\nu_t}

    :math:`\epsilon` sits inside the maximum, as in Optax (Kingma & Ba have none; PyTorch adds it
    outside). Chains :func:`ratio` of (:func:`scale_by_momentum` with ``ema=True``,
    :func:`bias_correction`) over :func:`infinity_moment`, then :func:`scale_by_learning_rate`.

    Args:
        learning_rate: :math:`\alpha_t`, a number or a schedule.
        b1: :math:`\beta_1`, decay of the first moment; in ``[0, 1)``.
        b2: :math:`\beta_2`, decay of the infinity norm; in ``[0, 1)``.
        eps: :math:`\epsilon`, added to each magnitude; ``>= 0``.
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
    learning_rate, b1, b2, eps = shared(learning_rate=learning_rate, b1=b1, b2=b2, eps=eps)
    return chain(
        ratio(
            [scale_by_momentum(b1, ema=True, dtype=mu_dtype),  # m_t = b1 m + (1 - b1) g
             bias_correction(b1)],                              # m_t / (1 - b1^t)
            infinity_moment(b2, eps, nu_dtype),                 # nu_t = max(|g| + eps, b2 nu)
        ),
        scale_by_learning_rate(learning_rate),                  # * -alpha_t
    )


def _dozat_momentum(b1: float, momentum_decay: float):
    r"""Dozat's momentum schedule as a function of the zero-based step: ``step -> mu_{step+1}``,
    :math:`\mu_t = \beta_1 (1 - \tfrac12\, 0.96^{t \psi})`."""

    def mu(step):
        t = _step.as_float(_step.one_based(step))
        return b1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))

    return mu


@_recipe.factory
def nadam(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any = None,
    *,
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
    schedule weights its terms with :func:`scale_by_schedule` and corrects them with
    :func:`scheduled_bias_correction`.

    Args:
        learning_rate: :math:`\alpha_t`, a number or a schedule.
        b1: :math:`\beta_1`, decay of the first moment; in ``[0, 1)``.
        b2: :math:`\beta_2`, decay of the second moment; in ``[0, 1)``.
        eps: :math:`\epsilon`, added outside the square root; ``>= 0``.
        eps_root: :math:`\epsilon_{root}`, added inside the square root; ``>= 0``.
        mu_dtype: dtype of the first moment's storage; ``None`` keeps the params' dtype.
        momentum_decay: :math:`\psi`, ``>= 0``, to use Dozat's momentum schedule (PyTorch's
            ``momentum_decay``, e.g. ``0.004``); ``None`` keeps :math:`\beta_1` constant (Optax).
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
    if momentum_decay is not None:
        _check.non_negative("nadam", momentum_decay=momentum_decay)
    # Dozat's schedule is a function of b1 fixed at construction (step -> mu_t).
    mu = None if momentum_decay is None else _dozat_momentum(b1, momentum_decay)
    learning_rate, b1, b2, eps, eps_root = shared(
        learning_rate=learning_rate, b1=b1, b2=b2, eps=eps, eps_root=eps_root
    )
    numerator: Branch
    if mu is not None:
        numerator = parallel_sum(
            (1.0, [scale_by_momentum(b1, ema=True, dtype=mu_dtype),   # m_t = b1 m + (1 - b1) g
                   scheduled_bias_correction(mu, step_offset=1),      # m_t / (1 - prod_{i<=t+1} mu_i)
                   scale_by_schedule(mu, step_offset=1)]),            # * mu_{t+1}
            (1.0, [scheduled_bias_correction(mu),                     # + g_t / (1 - prod_{i<=t} mu_i)
                   scale_by_schedule(lambda step: 1 - mu(step))]),    #   * (1 - mu_t)
        )
    else:
        numerator = parallel_sum(
            (b1, [scale_by_momentum(b1, ema=True, dtype=mu_dtype),    # m_t = b1 m + (1 - b1) g
                  bias_correction(b1, step_offset=1)]),               # b1 m_t / (1 - b1^(t+1))
            (one_minus(b1), bias_correction(b1)),                     # + (1 - b1) g_t / (1 - b1^t)
        )
    return chain(
        ratio(
            numerator,
            [mean_of_squares(b2, dtype=nu_dtype),                     # v_t = b2 v + (1 - b2) g^2
             bias_correction(b2),                                     # v_t / (1 - b2^t)
             sqrt_plus_eps(eps, eps_root)],                           # sqrt(v_hat + eps_root) + eps
        ),
        scale_by_learning_rate(learning_rate),                        # * -alpha_t
    )


@_recipe.factory
def amsgrad(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
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
        eps: :math:`\epsilon`, added outside the square root; ``>= 0``.
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
    b1, b2, eps, eps_root = shared(b1=b1, b2=b2, eps=eps, eps_root=eps_root)
    first = [scale_by_momentum(b1, ema=True, dtype=mu_dtype)]            # m_t = b1 m + (1 - b1) g
    if bias_correction_mu:
        first += [bias_correction(b1)]                                    # m_t / (1 - b1^t)
    if not bias_correction_nu:                          # Reddi et al.: max(v_max, v_t)
        second = [mean_of_squares(b2, dtype=nu_dtype), amsgrad_max(nu_dtype)]
    elif max_before_bias_correction:                    # PyTorch: max(v_max, v_t) / (1 - b2^t)
        second = [mean_of_squares(b2, dtype=nu_dtype), amsgrad_max(nu_dtype), bias_correction(b2)]
    else:                                               # Optax: max(v_max, v_t / (1 - b2^t))
        second = [mean_of_squares(b2, dtype=nu_dtype), bias_correction(b2), amsgrad_max(nu_dtype)]
    return chain(
        ratio(first, second + [sqrt_plus_eps(eps, eps_root)]),            # sqrt(. + eps_root) + eps
        scale_by_learning_rate(learning_rate),                            # * -alpha_t
    )


@_recipe.factory
def radam(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
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
        eps: :math:`\epsilon`, added outside the square root; ``>= 0``.
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
    learning_rate, b1, b2, eps, eps_root = shared(
        learning_rate=learning_rate, b1=b1, b2=b2, eps=eps, eps_root=eps_root
    )
    if nesterov:
        first = [parallel_sum(
            (b1, [scale_by_momentum(b1, ema=True, dtype=mu_dtype),     # m_t = b1 m + (1 - b1) g
                  bias_correction(b1, step_offset=1)]),                # b1 m_t / (1 - b1^(t+1))
            (one_minus(b1), bias_correction(b1)),                      # + (1 - b1) g_t / (1 - b1^t)
        )]
    else:
        first = [scale_by_momentum(b1, ema=True, dtype=mu_dtype),      # m_t = b1 m + (1 - b1) g
                 bias_correction(b1)]                                  # m_t / (1 - b1^t)
    return chain(
        ratio(
            first + [conditional(tractable,
                                 scale_by_rectification(b2),           # * r_t
                                 identity())],                         # (or not, early on)
            conditional(tractable,
                        [mean_of_squares(b2, dtype=nu_dtype),          # v_t = b2 v + (1 - b2) g^2
                         bias_correction(b2),                          # v_t / (1 - b2^t)
                         sqrt_plus_eps(eps, eps_root)],                # sqrt(v_hat + eps_root) + eps
                        ones()),                                       # (or 1: momentum SGD)
        ),
        scale_by_learning_rate(learning_rate),                         # * -alpha_t
    )


@_recipe.factory
def qhadam(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.995,
    b2: float = 0.999,
    nu1: float = 0.7,
    nu2: float = 1.0,
    eps: float = 1e-8,
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
        eps: :math:`\epsilon`, added outside the square root; ``>= 0``.

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
    learning_rate, b1, b2, nu1, nu2, eps = shared(
        learning_rate=learning_rate, b1=b1, b2=b2, nu1=nu1, nu2=nu2, eps=eps
    )
    return chain(
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


# ---------------------------------------------------------------------------------------------
# SGD and the classic adaptive methods
# ---------------------------------------------------------------------------------------------


@_recipe.factory
def sgd(
    learning_rate: ScalarOrSchedule,
    momentum: Optional[float] = None,
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
        momentum: :math:`\mu`, in ``[0, 1)``; ``None`` for plain SGD.
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
    _momentum_args("sgd", momentum, nesterov)
    learning_rate, momentum = shared(learning_rate=learning_rate, momentum=momentum)
    return chain(
        (scale_by_momentum(momentum, nesterov, dtype=accumulator_dtype)  # m_t = g + mu m
         if momentum is not None else identity()),
        scale_by_learning_rate(learning_rate),                          # * -alpha_t
    )


@_recipe.factory
def noisy_sgd(
    learning_rate: ScalarOrSchedule, eta: float = 0.01, gamma: float = 0.55, key: Any = 0
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
        key: an int seed or a JAX PRNG key.

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
    learning_rate, eta, gamma = shared(learning_rate=learning_rate, eta=eta, gamma=gamma)
    return chain(
        add_noise(eta, gamma, key),             # g + N(0, eta / (1 + s)^gamma)
        scale_by_learning_rate(learning_rate),  # * -alpha_t
    )


@_recipe.factory
def adagrad(
    learning_rate: ScalarOrSchedule,
    initial_accumulator_value: float = 0.1,
    eps: float = 1e-7,
    *,
    eps_in_sqrt: bool = True,
    nu_dtype: Any = None,
) -> GradientTransformation:
    r"""Adagrad: divide the gradient by the root of the sum of all its squares so far.

    .. math::
        G_t = G_{t-1} + |g_t|^2, \qquad G_0 = G_{init}, \qquad
        u_t = -\alpha_t\,g_t / \sqrt{G_t + \epsilon}

    Chains :func:`ratio` of :func:`identity` over (:func:`sum_of_squares`,
    :func:`sqrt_plus_eps`), then :func:`scale_by_learning_rate`. The defaults are Optax's
    (:math:`G_{init} = 0.1`, :math:`\epsilon` under the root). PyTorch's ``torch.optim.Adagrad``
    is ``adagrad(lr, initial_accumulator_value=0.0, eps=1e-10, eps_in_sqrt=False)``:
    :math:`u_t = -\alpha_t g_t / (\sqrt{G_t} + \epsilon)`.

    Args:
        learning_rate: :math:`\alpha_t`, a number ``>= 0`` or a schedule.
        initial_accumulator_value: :math:`G_{init}`; ``>= 0``.
        eps: :math:`\epsilon`; ``>= 0``, and ``> 0`` when ``initial_accumulator_value`` is 0.
        eps_in_sqrt: add :math:`\epsilon` under the root (Optax) or after it (PyTorch).
        nu_dtype: dtype of :math:`G`'s storage; ``None`` keeps the params' dtype. The sum only
            grows, so in bfloat16 (8 significant bits) small squares stop counting once it is
            large: prefer float32 for long runs.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Duchi, Hazan & Singer, "Adaptive Subgradient Methods for Online Learning and Stochastic
        Optimization", JMLR 12, 2011. https://jmlr.org/papers/v12/duchi11a.html

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.adagrad(0.5, initial_accumulator_value=0.0, eps=1e-10, eps_in_sqrt=False)
        >>> params = {"w": jnp.array([1.0, -2.0])}
        >>> state = opt.init(params)
        >>> updates, state = opt.update({"w": jnp.array([0.25, -4.0])}, state)
        >>> gx.apply_updates(params, updates)["w"]
        Array([ 0.5, -1.5], dtype=float32)
    """
    _check.non_negative("adagrad", initial_accumulator_value=initial_accumulator_value, eps=eps)
    _check.not_both_zero(
        "adagrad", "1e-10", initial_accumulator_value=initial_accumulator_value, eps=eps
    )
    learning_rate, eps = shared(learning_rate=learning_rate, eps=eps)
    return chain(
        ratio(
            identity(),                                            # g / ...
            [sum_of_squares(initial_accumulator_value, nu_dtype),  # G_t = G_{t-1} + g^2
             (sqrt_plus_eps(None, eps_root=eps) if eps_in_sqrt
              else sqrt_plus_eps(eps))],                           # sqrt(G_t + eps), or sqrt(G_t) + eps
        ),
        scale_by_learning_rate(learning_rate),                     # * -alpha_t
    )


@_recipe.factory
def adadelta(
    learning_rate: ScalarOrSchedule = 1.0,
    rho: float = 0.9,
    eps: float = 1e-6,
    weight_decay: float = 0.0,
    weight_decay_mask: Optional[Mask] = None,
) -> GradientTransformation:
    r"""Adadelta: the gradient scaled by the ratio of the RMS of past steps to the RMS of gradients.

    .. math::
        g'_t = g_t + \lambda\,\theta_{t-1}, \qquad
        E[g^2]_t = \rho\,E[g^2]_{t-1} + (1-\rho)\,|g'_t|^2, \\
        \Delta x_t = \frac{\sqrt{E[\Delta x^2]_{t-1} + \epsilon}}{\sqrt{E[g^2]_t + \epsilon}}\,g'_t,
        \qquad E[\Delta x^2]_t = \rho\,E[\Delta x^2]_{t-1} + (1-\rho)\,|\Delta x_t|^2, \\
        u_t = -\alpha_t\,\Delta x_t

    Zeiler's Algorithm 1 is ``learning_rate=1`` and ``weight_decay=0``. Chains
    :func:`weight_decay` (only when ``weight_decay`` is not 0, so that ``params`` are otherwise
    not needed), :func:`ratio` of :func:`identity` over (:func:`mean_of_squares`,
    :func:`sqrt_plus_eps`), :func:`scale_by_adadelta_units`, then :func:`scale_by_learning_rate`.
    As in Optax, :math:`E[\Delta x^2]` tracks the step before the learning rate.

    The default ``learning_rate=1.0`` descends, as in the paper and PyTorch. Optax 0.2.8's default
    ``learning_rate=None`` ascends: its ``scale_by_learning_rate(None)`` is the identity, so
    :math:`+\Delta x_t` is added to the parameters. Pass a learning rate explicitly to get the
    same steps in both libraries.

    Args:
        learning_rate: :math:`\alpha_t`, a number ``>= 0`` or a schedule.
        rho: :math:`\rho`, the weight kept from both previous means; in ``[0, 1)``.
        eps: :math:`\epsilon`; ``> 0``.
        weight_decay: :math:`\lambda`, a number ``>= 0``, added to the gradient before the scaling.
        weight_decay_mask: which params to decay, as in :func:`weight_decay`'s ``mask``.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Zeiler, "ADADELTA: An Adaptive Learning Rate Method", arXiv 2012, Algorithm 1.
        https://arxiv.org/abs/1212.5701

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.adadelta()
        >>> params = {"w": jnp.array([1.0, -2.0])}
        >>> updates, state = opt.update({"w": jnp.array([0.5, -0.5])}, opt.init(params))
        >>> w = gx.apply_updates(params, updates)["w"]
        >>> bool(w[0] < 1.0), bool(w[1] > -2.0)
        (True, True)
    """
    _check.decay("adadelta", rho=rho)
    _check.positive("adadelta", eps=eps)
    decays = bool(weight_decay)
    learning_rate, rho, eps, weight_decay = shared(
        learning_rate=learning_rate, rho=rho, eps=eps, weight_decay=weight_decay
    )
    return chain(
        (_additive.weight_decay(weight_decay, weight_decay_mask)  # g + lambda theta
         if decays else identity()),
        ratio(
            identity(),                                           # g / ...
            [mean_of_squares(rho),                                # E[g^2]_t
             sqrt_plus_eps(None, eps_root=eps)],                  # sqrt(E[g^2]_t + eps)
        ),
        scale_by_adadelta_units(rho, eps),                        # * sqrt(E[dx^2]_{t-1} + eps)
        scale_by_learning_rate(learning_rate),                    # * -alpha_t
    )


@_recipe.factory
def rmsprop(
    learning_rate: ScalarOrSchedule,
    decay: float = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: Optional[float] = None,
    nesterov: bool = False,
    bias_correction: bool = False,
    *,
    nu_dtype: Any = None,
) -> GradientTransformation:
    r"""RMSprop: divide the gradient by the root of a running mean of its square.

    .. math::
        \nu_t = \rho\,\nu_{t-1} + (1-\rho)\,|g_t|^2, \qquad
        s_t = -\alpha_t\,g_t / \sqrt{\nu_t + \epsilon}, \\
        m_t = s_t + \mu\,m_{t-1}, \qquad
        u_t = m_t \quad (\text{or } s_t + \mu\,m_t \text{ with Nesterov})

    With ``eps_in_sqrt=False`` the denominator is :math:`\sqrt{\nu_t} + \epsilon` (PyTorch). With
    ``centered=True`` :math:`\nu_t` is replaced by :math:`\nu_t - \mu^{(1)}_t{}^2`, with
    :math:`\mu^{(1)}_t` a running mean of :math:`g_t` (Graves 2013). With ``bias_correction=True``
    the running means are divided by :math:`1-\rho^t`. Without ``momentum``, :math:`u_t = s_t`.

    Chains :func:`scale_by_rms`, :func:`scale_by_learning_rate`, then :func:`scale_by_momentum`
    (heavy-ball form; :func:`identity` when ``momentum`` is ``None``). Momentum after the learning
    rate is Optax's (and Graves's) order. PyTorch's ``torch.optim.RMSprop`` puts momentum before
    the learning rate, which differs only when the learning rate changes; it is the same
    primitives with the last two swapped::

        gx.chain(gx.scale_by_rms(decay, eps, eps_in_sqrt=False),  # g / (sqrt(nu) + eps)
                 gx.scale_by_momentum(momentum),                  # m_t = s_t + mu m
                 gx.scale_by_learning_rate(learning_rate))        # * -alpha_t

    Args:
        learning_rate: :math:`\alpha_t`, a number ``>= 0`` or a schedule.
        decay: :math:`\rho`, the weight kept from the previous mean; in ``[0, 1)``.
        eps: :math:`\epsilon`; ``>= 0``.
        initial_scale: :math:`\nu_0`; ``>= 0``. Optax and PyTorch use 0, TensorFlow 1 uses 1.
        eps_in_sqrt: add :math:`\epsilon` under the root (Optax's default) or after it (PyTorch).
        centered: divide by the root of a running variance instead of a mean of squares.
        momentum: :math:`\mu`, in ``[0, 1)``; ``None`` for no momentum.
        nesterov: use Nesterov's look-ahead momentum; needs ``momentum``.
        bias_correction: divide the running means by :math:`1-\rho^t`.
        nu_dtype: dtype in which the running mean of squares (and, if centered, the running
            mean) is stored; ``None`` keeps the params' dtype.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Tieleman & Hinton, "Lecture 6.5 -- RMSProp: Divide the gradient by a running average of
        its recent magnitude", Neural Networks for Machine Learning (Coursera), 2012.
        https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf
        Graves, "Generating Sequences With Recurrent Neural Networks", arXiv 2013, Eqs. 38-41.
        https://arxiv.org/abs/1308.0850

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.rmsprop(0.1, decay=0.75, eps=0.0)
        >>> params = {"w": jnp.array([1.0, -2.0])}
        >>> state = opt.init(params)
        >>> updates, state = opt.update({"w": jnp.array([0.5, -4.0])}, state)
        >>> gx.apply_updates(params, updates)["w"]
        Array([ 0.8, -1.8], dtype=float32)
    """
    _momentum_args("rmsprop", momentum, nesterov)
    learning_rate, momentum = shared(learning_rate=learning_rate, momentum=momentum)
    return chain(
        scale_by_rms(decay, eps, initial_scale, eps_in_sqrt, bias_correction,
                     centered=centered, nu_dtype=nu_dtype),     # g / sqrt(nu_t + eps)
        scale_by_learning_rate(learning_rate),                  # s_t = -alpha_t * ...
        (scale_by_momentum(momentum, nesterov)                  # m_t = s_t + mu m
         if momentum is not None else identity()),
    )


def _momentum_args(who: str, momentum, nesterov: bool) -> None:
    if momentum is None:
        if nesterov:
            raise ValueError(_check.NEEDS_OTHER.format(
                who=who, name="nesterov", value=nesterov, other="momentum"
            ))
        return
    _check.decay(who, momentum=momentum)


# ---------------------------------------------------------------------------------------------
# Aggregated momentum, switching, sign and trust-ratio methods
# ---------------------------------------------------------------------------------------------


@_recipe.factory
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
    learning_rate, *betas = shared(learning_rate=learning_rate,
                                    **{f"beta_{i}": beta for i, beta in enumerate(betas)})
    return chain(
        parallel_sum(*[(1 / len(betas),               # (1/K) sum_i of
                        scale_by_momentum(beta))        # v_i = beta_i v_i + g
                       for beta in betas]),
        scale_by_learning_rate(learning_rate),          # * -alpha_t
    )


@_recipe.factory
def swats(
    learning_rate: ScalarOrSchedule, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-9
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
        eps: :math:`\epsilon`, Adam's and the switch criterion's; ``>= 0``.

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
        >>> switch = state.parts[0]  # SwitchToSgdState: switched after step 2
        >>> bool(switch.switched), round(float(switch.learning_rate), 3)
        (True, 0.2)
    """
    learning_rate, b1, b2, eps = shared(learning_rate=learning_rate, b1=b1, b2=b2, eps=eps)
    return chain(
        switch_to_sgd(
            [ratio([scale_by_momentum(b1, ema=True),   # m_k = b1 m + (1 - b1) g
                    bias_correction(b1)],              # m_k / (1 - b1^k)
                   [mean_of_squares(b2),               # a_k = b2 a + (1 - b2) g^2
                    bias_correction(b2),               # a_k / (1 - b2^k)
                    sqrt_plus_eps(eps)]),              # sqrt(.) + eps
             scale_by_learning_rate(learning_rate)],   # p_k = * -alpha_k
            [scale_by_momentum(b1),                    # v_k = b1 v + g, once switched
             scale_by_learning_rate(one_minus(b1))],   # * -(1 - b1), then * Lambda
            decay=b2, eps=eps,                         # once |lambda_k/(1-b2^k) - gamma_k| < eps
        ),
    )


@_recipe.factory
def lion(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.99,
    mu_dtype: Any = None,
    weight_decay: float = 1e-3,
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
    learning_rate, b1, b2, weight_decay = shared(
        learning_rate=learning_rate, b1=b1, b2=b2, weight_decay=weight_decay
    )
    return chain(
        interpolated_momentum(b1, b2, dtype=mu_dtype),   # c_t = (1 - b1) g + b1 m (m: EMA with b2)
        sign(),                                          # sign(c_t)
        _additive.weight_decay(weight_decay, mask),      # + lambda theta
        scale_by_learning_rate(learning_rate),           # * -alpha_t
    )


@_recipe.factory
def lamb(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-6,
    eps_root: float = 0.0,
    weight_decay: float = 0.0,
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
    learning_rate, b1, b2, eps, eps_root, weight_decay = shared(
        learning_rate=learning_rate, b1=b1, b2=b2, eps=eps, eps_root=eps_root,
        weight_decay=weight_decay,
    )
    return chain(
        ratio([scale_by_momentum(b1, ema=True, dtype=mu_dtype),  # m_t = b1 m + (1 - b1) g
               bias_correction(b1)],                             # m_t / (1 - b1^t)
              [mean_of_squares(b2, dtype=nu_dtype),              # v_t = b2 v + (1 - b2) g^2
               bias_correction(b2),                              # v_t / (1 - b2^t)
               sqrt_plus_eps(eps, eps_root)]),                   # sqrt(v_hat + eps_root) + eps
        _additive.weight_decay(weight_decay, mask),              # r_t = . + lambda theta
        scale_by_trust_ratio(),                                  # * ||theta|| / ||r_t||, per leaf
        scale_by_learning_rate(learning_rate),                   # * -alpha_t
    )


@_recipe.factory
def lars(
    learning_rate: ScalarOrSchedule,
    weight_decay: float = 0.0,
    weight_decay_mask: Mask = True,
    trust_coefficient: float = 0.001,
    eps: float = 0.0,
    trust_ratio_mask: Mask = True,
    momentum: float = 0.9,
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
    learning_rate, weight_decay, trust_coefficient, eps, momentum = shared(
        learning_rate=learning_rate, weight_decay=weight_decay,
        trust_coefficient=trust_coefficient, eps=eps, momentum=momentum,
    )
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


# ---------------------------------------------------------------------------------------------
# Full-batch second order
# ---------------------------------------------------------------------------------------------


# Optax's default for lbfgs: Newton-like directions make eta = 1 the natural first trial.
_ZOOM_LINESEARCH = scale_by_zoom_linesearch(max_linesearch_steps=20, initial_guess_strategy="one")


@_recipe.factory
def lbfgs(
    learning_rate: ScalarOrSchedule | None = None,
    memory_size: int = 10,
    scale_init_precond: bool = True,
    linesearch: GradientTransformation | None = _ZOOM_LINESEARCH,
) -> GradientTransformation:
    r"""L-BFGS: a quasi-Newton direction from the last :math:`m` gradient differences, and a line search.

    .. math::
        d_k = -H_k g_k, \qquad x_{k+1} = x_k + \eta_k\, d_k

    where :math:`H_k g_k` is the two-loop recursion (Nocedal & Wright, Algorithm 7.4) over the
    pairs :math:`s_i = x_{i+1} - x_i`, :math:`y_i = g_{i+1} - g_i` of the last :math:`m`
    updates, with :math:`H_k^0 = \gamma_k I`, :math:`\gamma_k = s_{k-1}^\top y_{k-1} /
    y_{k-1}^\top y_{k-1}` (see :func:`scale_by_lbfgs`), and the step :math:`\eta_k` satisfies the
    strong Wolfe conditions, with :math:`c_1 = 10^{-4}`, :math:`c_2 = 0.9`,

    .. math::
        f(x_k + \eta d_k) \le f(x_k) + c_1 \eta\, g_k^\top d_k, \qquad
        |\nabla f(x_k + \eta d_k)^\top d_k| \le c_2\, |g_k^\top d_k|,

    found by :func:`scale_by_zoom_linesearch` (N&W Algorithms 3.5 and 3.6), trying
    :math:`\eta = 1` first. Chains :func:`scale_by_lbfgs`, then :func:`scale` by -1 (or
    :func:`scale_by_learning_rate` when ``learning_rate`` is given), then the line search
    (:func:`identity` when ``linesearch=None``): Optax's ``lbfgs``, same arguments.

    A line search needs the loss: every ``update`` takes ``value`` (the loss at ``params``),
    ``grad`` (its gradient) and ``value_fn`` (the loss function, ``value_fn(params, **kw)``;
    extra arguments of ``update`` that ``value_fn`` names, such as data, are passed on). The
    loss and gradient at the accepted point are in the line search's state (``value``,
    ``grad``). Jit the update, as in the example: run eagerly, each call compiles the line
    search's loop anew. For full-batch problems; with mini-batches, drop the line search and
    give a learning rate.

    Args:
        learning_rate: :math:`\eta`, a fixed step or schedule; ``None`` (the default) leaves
            the step to the line search.
        memory_size: :math:`m`, the number of curvature pairs kept; an int ``>= 1``.
        scale_init_precond: use :math:`\gamma_k` above for :math:`H_k^0` (else the identity).
        linesearch: a transformation that chooses the step, such as
            :func:`scale_by_zoom_linesearch` (the default, with ``max_linesearch_steps=20`` and
            ``initial_guess_strategy="one"``) or :func:`scale_by_backtracking_linesearch`;
            ``None`` for none.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState` of
        (:class:`ScaleByLbfgsState`, :class:`ScaleState` or :class:`ScaleByLearningRateState`,
        the line search's state or :class:`EmptyState`).

    References:
        Liu & Nocedal, "On the limited memory BFGS method for large scale optimization",
        Mathematical Programming 45, 1989. https://doi.org/10.1007/BF01589116
        Nocedal & Wright, "Numerical Optimization", 2nd ed., Springer, 2006, Algorithms 3.5,
        3.6, 7.4 and 7.5. https://doi.org/10.1007/978-0-387-40065-5

    Example:
        >>> import jax, jax.numpy as jnp, gradxform as gx
        >>> f = lambda w: (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2  # Rosenbrock
        >>> opt, w = gx.lbfgs(), jnp.array([-1.2, 1.0]); state = opt.init(w)
        >>> update = jax.jit(lambda g, s, w, v: opt.update(g, s, w, value=v, grad=g, value_fn=f))
        >>> for _ in range(40):
        ...     updates, state = update(jax.grad(f)(w), state, w, f(w))
        ...     w = gx.apply_updates(w, updates)
        >>> print(w.round(6))
        [1. 1.]
    """
    sign_and_rate = scale(-1.0) if learning_rate is None else scale_by_learning_rate(learning_rate)
    return chain(
        scale_by_lbfgs(memory_size, scale_init_precond),  # H_k g_k, the two-loop recursion
        sign_and_rate,                                    # d_k = -H_k g_k (times eta_k if given)
        identity() if linesearch is None else linesearch,  # * eta_k meeting the Wolfe conditions
    )
