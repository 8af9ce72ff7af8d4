"""Per-coordinate step sizes from running statistics: Adagrad, Adadelta, RMSprop.

Each alias is one ``def`` whose body is the recipe, one primitive per term of the paper's rule
with a trailing comment; its hyperparameters are declared once, in its decorator.
"""
from __future__ import annotations

from typing import Any, Optional

from ..core import check as _check
from ..core.chain import chain
from ..core.combinators import ratio
from ..core.named import value_of
from ..core.protocol import GradientTransformation, identity
from ..core.recipe import alias
from ..core.types import ScalarOrSchedule
from ..transforms import additive as _additive
from ..transforms.adaptive import scale_by_adadelta_units, scale_by_rms, sum_of_squares
from ..transforms.additive import Mask
from ..transforms.elementwise import sqrt_plus_eps
from ..transforms.moments import (
    mean_of_squares,
    scale_by_momentum,
)
from ..transforms.scaling import scale_by_learning_rate
from .parts import check_momentum_args


@alias("learning_rate", "eps")
def adagrad(
    learning_rate: ScalarOrSchedule,
    initial_accumulator_value: float = 0.1,
    eps: ScalarOrSchedule = 1e-7,
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
    _check.not_subnormal("adagrad", initial_accumulator_value=initial_accumulator_value, eps=eps)
    _check.not_both_zero(
        "adagrad", "1e-10", initial_accumulator_value=initial_accumulator_value, eps=eps
    )
    return chain(
        ratio(
            identity(),                                            # g / ...
            [sum_of_squares(initial_accumulator_value, nu_dtype),  # G_t = G_{t-1} + g^2
             (sqrt_plus_eps(None, eps_root=eps) if eps_in_sqrt
              else sqrt_plus_eps(eps))],                           # sqrt(G_t + eps), or sqrt(G_t) + eps
        ),
        scale_by_learning_rate(learning_rate),                     # * -alpha_t
    )


@alias("learning_rate", "rho", "eps", "weight_decay")
def adadelta(
    learning_rate: ScalarOrSchedule = 1.0,
    rho: ScalarOrSchedule = 0.9,
    eps: ScalarOrSchedule = 1e-6,
    weight_decay: ScalarOrSchedule = 0.0,
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
    _check.not_subnormal("adadelta", eps=eps)
    constant = value_of(weight_decay)  # a Python 0 adds no term; an array (traced too) or a
    decays = not (isinstance(constant, (int, float)) and constant == 0)  # schedule does
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


@alias("learning_rate", "momentum")
def rmsprop(
    learning_rate: ScalarOrSchedule,
    decay: float = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: ScalarOrSchedule | None = None,
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
        momentum: :math:`\mu`, in ``[0, 1]``; ``None`` for no momentum.
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
        >>> opt = gx.rmsprop(0.1, decay=0.75, eps=1e-30)  # eps=0 is refused: 0/0 on zero gradients
        >>> params = {"w": jnp.array([1.0, -2.0])}
        >>> state = opt.init(params)
        >>> updates, state = opt.update({"w": jnp.array([0.5, -4.0])}, state)
        >>> gx.apply_updates(params, updates)["w"]
        Array([ 0.8, -1.8], dtype=float32)
    """
    check_momentum_args("rmsprop", momentum, nesterov)
    return chain(
        scale_by_rms(decay, eps, initial_scale, eps_in_sqrt, bias_correction,
                     centered=centered, nu_dtype=nu_dtype),     # g / sqrt(nu_t + eps)
        scale_by_learning_rate(learning_rate),                  # s_t = -alpha_t * ...
        (scale_by_momentum(momentum, nesterov)                  # m_t = s_t + mu m
         if momentum is not None else identity()),
    )
