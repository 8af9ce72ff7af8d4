"""PyTorch's forms of two classic optimizers Optax lacks or writes differently: Rprop and ASGD.

Each is a recipe of gradxform's primitives with PyTorch's argument names, defaults and results
(``torch.optim.Rprop`` and ``torch.optim.ASGD``; ``lr`` is ``learning_rate`` here). The update of
:func:`torch_rprop` is the step of the current gradient, where :func:`gradxform.rprop` (Optax's)
applies the step decided at the previous update; :func:`asgd` keeps PyTorch's averaged
parameters ``ax`` beside the iterate, read with :func:`gradxform.averaged_params`.
"""
from __future__ import annotations

import math
import numbers
from typing import Any

import jax.numpy as jnp

from ..core import check as _check
from ..core.chain import chain
from ..core.hyperparams import hyperparameter
from ..core.named import value_of
from ..core.protocol import GradientTransformation
from ..core.recipe import alias, schedule_factory
from ..core.types import Schedule
from ..transforms import additive as _additive
from ..transforms.scaling import scale, scale_by_learning_rate
from ..transforms.sign_steps import check_rprop_args, scale_by_rprop
from ..wrappers.averaging import swa

PAIR = "{who}: {name} must be a pair of numbers ({what}), got {got}."
TORCH_ETAS = (
    "torch_rprop: etas must satisfy 0 < etas[0] < 1 < etas[1] (shrink on a flip of sign, grow "
    "while it holds), got etas={etas!r}. PyTorch uses (0.5, 1.2)."
)
WHOLE_T0 = (
    "asgd: t0 must be a whole number >= 0 of updates (averaging starts at update t0 + 2), got "
    "t0={t0!r}. PyTorch's default is 1e6."
)


def _pair(who: str, name: str, value: Any, what: str) -> tuple[float, float]:
    if not (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)):
        raise TypeError(PAIR.format(who=who, name=name, what=what, got=_check.describe(value)))
    return float(value[0]), float(value[1])


@alias()
def torch_rprop(
    learning_rate: float = 1e-2,
    etas: tuple[float, float] = (0.5, 1.2),
    step_sizes: tuple[float, float] = (1e-6, 50.0),
) -> GradientTransformation:
    r"""Rprop as ``torch.optim.Rprop`` computes it: each element steps by its own size, now.

    With :math:`g_{prev}` the previous gradient (0 where its sign flipped, and at first) and
    :math:`s_t = g_t\,g_{prev}`:

    .. math::
        \eta_t = \operatorname{clip}\big(\eta^{\pm}\,\eta_{t-1}, \Gamma_{min}, \Gamma_{max}\big)
        \text{ with } \eta^+ \text{ if } s_t > 0,\ \eta^- \text{ if } s_t < 0,\ 1 \text{ if } s_t = 0,
        \qquad \eta_0 = \alpha, \\
        u_t = -[s_t \ge 0]\,\eta_t \operatorname{sign}(g_t), \qquad
        g_{prev} \leftarrow [s_t \ge 0]\,g_t

    A flip of sign shrinks the step size and skips the step (PyTorch zeroes the gradient there,
    iRprop\ :sup:`-`). Unlike :func:`gradxform.rprop` (Optax's, which applies the step decided
    one update earlier), the step is this update's. Chains :func:`scale_by_rprop` with
    ``lagged=False`` (its state keeps :math:`[s_t \ge 0]\,\eta_t \operatorname{sign}(g_t)`,
    whose sign is :math:`g_{prev}`'s) and ``scale(-1.0)``. PyTorch clips :math:`\eta` even
    where :math:`s_t = 0`: that clips only the initial size, so :math:`\eta_0` starts clipped.

    Args:
        learning_rate: :math:`\alpha` (PyTorch's ``lr``), every element's initial step size; ``> 0``.
        etas: :math:`(\eta^-, \eta^+)`, with :math:`0 < \eta^- < 1 < \eta^+`.
        step_sizes: :math:`(\Gamma_{min}, \Gamma_{max})`, the bounds of each step size.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Riedmiller & Braun, "A direct adaptive method for faster backpropagation learning: the
        RPROP algorithm", IEEE International Conference on Neural Networks, 1993.
        https://doi.org/10.1109/ICNN.1993.298623
        PyTorch, ``torch.optim.Rprop``. https://pytorch.org/docs/stable/generated/torch.optim.Rprop.html

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.torch_rprop(0.1)
        >>> state = opt.init(jnp.zeros(2))
        >>> for g in ([1.0, -1.0], [2.0, 1.0]):  # the second gradient flips the sign of w[1]
        ...     updates, state = opt.update(jnp.array(g), state)
        >>> print(updates)  # w[0] grows its step to 0.12; w[1]'s is skipped
        [-0.12 -0.  ]
    """
    who = "torch_rprop"
    eta_minus, eta_plus = _pair(who, "etas", etas, "etaminus, etaplus")
    low, high = _pair(who, "step_sizes", step_sizes, "the least and the largest step size")
    if not 0 < eta_minus < 1 < eta_plus:
        raise ValueError(TORCH_ETAS.format(etas=etas))
    check_rprop_args(who, learning_rate, eta_minus, eta_plus, low, high)
    named = {name: hyperparameter(name, value) for name, value in (
        ("eta_minus", eta_minus), ("eta_plus", eta_plus), ("min_step_size", low), ("max_step_size", high))}
    initial_step_size = min(max(float(learning_rate), low), high)  # PyTorch clips it at the first update
    return chain(
        scale_by_rprop(initial_step_size, **named,
                       lagged=False),      # [s_t >= 0] eta_t sign(g_t), eta_t by the sign of s_t
        scale(-1.0),                       # descend: * -1
    )


@schedule_factory
def asgd_step_size(learning_rate: float, lambd: float, alpha: float) -> Schedule:
    r"""ASGD's step size, :math:`\eta_s = \alpha_0 / (1 + \lambda \alpha_0 s)^{a}` at step count ``s``.

    PyTorch's ``eta``: ``lr`` for the first update, then decaying as a power of the updates done.

    Args:
        learning_rate: :math:`\alpha_0`, the first step size; ``>= 0``.
        lambd: :math:`\lambda`, ``>= 0``.
        alpha: :math:`a`, the power; ``>= 0``.

    Returns:
        A schedule ``step -> value``.
    """

    def schedule(step):
        s = jnp.asarray(step, jnp.result_type(float))
        return learning_rate / (1 + lambd * learning_rate * s) ** alpha

    return schedule


@alias("lambd", "weight_decay")
def asgd(
    learning_rate: float = 1e-2,
    lambd: float = 1e-4,
    alpha: float = 0.75,
    t0: float = 1e6,
    weight_decay: float = 0.0,
) -> GradientTransformation:
    r"""Averaged SGD as ``torch.optim.ASGD`` computes it: decaying steps, and an average of iterates.

    At update :math:`t = 1, 2, \dots`:

    .. math::
        \eta_t = \frac{\alpha_0}{(1 + \lambda \alpha_0 (t-1))^{a}}, \qquad
        \theta_t = \theta_{t-1} - \eta_t \big(g_t + \omega\,\theta_{t-1} + \lambda\,\theta_{t-1}\big), \\
        \mu_t = 1 / \max(1, t - 1 - t_0), \qquad
        \bar\theta_t = \bar\theta_{t-1} + \mu_t (\theta_t - \bar\theta_{t-1})

    (PyTorch writes the step as ``param.mul_(1 - lambd * eta)`` then ``param.add_(grad, alpha=-eta)``
    with ``grad`` holding :math:`\omega\theta` already.) From update :math:`t_0 + 2` on,
    :math:`\bar\theta_t` (PyTorch's ``ax``) is the mean of the iterates since then: Polyak and
    Juditsky's average, kept by :func:`gradxform.swa` with ``start_step = t0 + 1`` and read with
    :func:`gradxform.averaged_params`. Before that PyTorch's ``ax`` is a copy of the current
    parameters, which this recipe does not keep (:func:`averaged_params` gives the initial ones
    until then). The step is a chain of :func:`weight_decay` (twice: :math:`\omega` and
    :math:`\lambda`) and :func:`scale_by_learning_rate` by the schedule :func:`asgd_step_size`.

    Args:
        learning_rate: :math:`\alpha_0` (PyTorch's ``lr``); ``>= 0``.
        lambd: :math:`\lambda`, the decay term, which also slows the step size's decay; ``>= 0``.
        alpha: :math:`a`, the power of the step size's decay; ``>= 0``.
        t0: :math:`t_0`, the update after which averaging starts; a whole number ``>= 0``.
        weight_decay: :math:`\omega`, PyTorch's L2 penalty added to the gradient; ``>= 0``.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`SwaState`.

    References:
        Polyak & Juditsky, "Acceleration of Stochastic Approximation by Averaging", SIAM Journal
        on Control and Optimization 30(4), 1992. https://doi.org/10.1137/0330046
        PyTorch, ``torch.optim.ASGD``. https://pytorch.org/docs/stable/generated/torch.optim.ASGD.html

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.asgd(0.5, lambd=0.0, t0=0)
        >>> params = jnp.array([1.0])
        >>> state = opt.init(params)
        >>> for _ in range(3):
        ...     updates, state = opt.update(jnp.array([1.0]), state, params)
        ...     params = gx.apply_updates(params, updates)
        >>> print(params, gx.averaged_params(state))  # ax: mean of the iterates from update 2
        [-0.5] [-0.25]
    """
    who = "asgd"
    plain = {"learning_rate": learning_rate, "alpha": alpha, "t0": t0}
    _check.fixed(who, **plain)
    _check.learning_rate(who, learning_rate=learning_rate)
    _check.non_negative(who, lambd=lambd, alpha=alpha, weight_decay=weight_decay)
    _check.fixed(who, lambd=value_of(lambd))
    if not (isinstance(t0, numbers.Real) and math.isfinite(t0) and t0 >= 0 and float(t0).is_integer()):
        raise ValueError(WHOLE_T0.format(t0=t0))
    step_size = asgd_step_size(float(learning_rate), float(value_of(lambd)), float(alpha))
    return swa(
        chain(
            _additive.weight_decay(weight_decay),                      # g_t + omega theta
            _additive.weight_decay(lambd),                             # + lambda theta
            scale_by_learning_rate(hyperparameter("learning_rate", step_size)),  # * -eta_t
        ),
        start_step=int(t0) + 1,                                        # theta_bar from update t0 + 2
    )
