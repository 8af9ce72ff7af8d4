"""Schedule-free optimizers: SGD and AdamW without momentum, wrapped in :func:`schedule_free`.

Each alias is one ``def`` whose body is the recipe: the base optimizer's primitives, one per term
of the paper's rule with a trailing comment, inside the :func:`gradxform.schedule_free` wrapper
that interpolates and averages its iterates. Names, signatures and defaults are
``optax.contrib``'s.
"""
from __future__ import annotations

from typing import Any, Optional

from ..core import check as _check
from ..core.chain import chain
from ..core.combinators import ratio
from ..core.hyperparams import hyperparameter
from ..core.protocol import GradientTransformation, identity
from ..core.recipe import factory
from ..core.types import ScalarOrSchedule
from ..schedules import warmup_constant_schedule
from ..transforms import additive as _additive
from ..transforms.scaling import scale_by_learning_rate
from ..wrappers.schedule_free import schedule_free
from .parts import debiased_root_mean_square


def _with_warmup(who: str, learning_rate: Any, warmup_steps: Optional[int]) -> Any:
    """``learning_rate`` named as the alias's hyperparameter; with ``warmup_steps``, the
    schedule rising linearly from 0 to it over that many steps, then constant."""
    if warmup_steps is not None:
        _check.int_at_least(who, 1, " Pass warmup_steps=None for no warmup.",
                            warmup_steps=warmup_steps)
        _check.learning_rate(who, learning_rate=learning_rate)
        learning_rate = warmup_constant_schedule(0, learning_rate, warmup_steps)
    return hyperparameter("learning_rate", learning_rate)


@factory
def schedule_free_sgd(
    learning_rate: ScalarOrSchedule = 1.0,
    warmup_steps: Optional[int] = None,
    b1: Any = 0.9,
    weight_decay: Optional[Any] = None,
    weight_lr_power: Any = 2.0,
    state_dtype: Optional[Any] = None,
) -> GradientTransformation:
    r"""Schedule-Free SGD: plain SGD steps on :math:`z`, evaluated along their interpolation.

    .. math::
        z_t = z_{t-1} - \gamma_t \big(g_t + \lambda\,y_{t-1}\big), \qquad
        c_t = \frac{(\gamma^{max}_t)^{p}}{\sum_{i \le t} (\gamma^{max}_i)^{p}}, \\
        x_t = (1 - c_t)\,x_{t-1} + c_t\,z_t, \qquad
        y_t = \beta_1 x_t + (1 - \beta_1)\,z_t

    with :math:`g_t` the gradient at the params :math:`y_{t-1}` and :math:`\gamma_t` the
    learning rate (with ``warmup_steps``, rising linearly from 0 over that many steps, then
    constant). The weight decay is multiplied by the learning rate, as in PyTorch. Chains
    :func:`weight_decay` (if ``weight_decay`` is given) and :func:`scale_by_learning_rate`
    inside :func:`schedule_free`. Evaluate with :func:`schedule_free_eval_params`.

    Args:
        learning_rate: :math:`\gamma`, a number or a schedule; ``>= 0``.
        warmup_steps: length of the linear warmup, an int ``>= 1``; ``None`` for none.
        b1: :math:`\beta_1`, the interpolation weight of the average :math:`x`; in ``(0, 1]``.
        weight_decay: :math:`\lambda`; ``None`` for none.
        weight_lr_power: :math:`p`, the power of the learning rate in the averaging weights.
        state_dtype: dtype of :math:`z`; ``None`` keeps the params'.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ScheduleFreeState`.

    References:
        Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky, "The Road Less Scheduled",
        NeurIPS 2024, Algorithm 1. https://arxiv.org/abs/2405.15682

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.schedule_free_sgd(0.25)
        >>> params = jnp.array([1.0, 2.0])
        >>> state = opt.init(params)
        >>> updates, state = opt.update(2 * params, state, params)
        >>> params = gx.apply_updates(params, updates)
        >>> params.tolist(), gx.schedule_free_eval_params(state, params).tolist()
        ([0.5, 1.0], [0.5, 1.0])
    """
    learning_rate = _with_warmup("schedule_free_sgd", learning_rate, warmup_steps)
    decay = [] if weight_decay is None else [
        _additive.weight_decay(hyperparameter("weight_decay", weight_decay))  # + lambda y
    ]
    return schedule_free(
        chain(
            *decay,
            scale_by_learning_rate(learning_rate),       # z_t = z_{t-1} - gamma_t (.)
        ),
        learning_rate,                                   # c_t from gamma_max_t^p
        b1=b1,                                           # y_t = b1 x_t + (1 - b1) z_t
        weight_lr_power=weight_lr_power,
        state_dtype=state_dtype,
    )


@factory
def schedule_free_adamw(
    learning_rate: ScalarOrSchedule = 0.0025,
    warmup_steps: Optional[int] = None,
    b1: Any = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_lr_power: Any = 2.0,
    state_dtype: Optional[Any] = None,
) -> GradientTransformation:
    r"""Schedule-Free AdamW: AdamW without momentum on :math:`z`, evaluated along the
    interpolation of :math:`z` and its average.

    .. math::
        v_t = \beta_2 v_{t-1} + (1-\beta_2)\,g_t^2, \qquad \hat v_t = v_t / (1-\beta_2^t), \\
        z_t = z_{t-1} - \gamma_t \big(g_t / (\sqrt{\hat v_t} + \epsilon) + \lambda\,y_{t-1}\big),
        \qquad c_t = \frac{(\gamma^{max}_t)^{p}}{\sum_{i \le t} (\gamma^{max}_i)^{p}}, \\
        x_t = (1 - c_t)\,x_{t-1} + c_t\,z_t, \qquad
        y_t = \beta_1 x_t + (1 - \beta_1)\,z_t

    with :math:`g_t` the gradient at the params :math:`y_{t-1}` and :math:`\gamma_t` the
    learning rate (with ``warmup_steps``, rising linearly from 0 over that many steps, then
    constant). Chains :func:`ratio` of the gradient over (:func:`mean_of_squares`,
    :func:`bias_correction`, :func:`sqrt_plus_eps`), :func:`weight_decay` and
    :func:`scale_by_learning_rate` inside :func:`schedule_free`. Evaluate with
    :func:`schedule_free_eval_params`. Optax multiplies the gradient by
    :math:`1/(\sqrt{\hat v_t}+\epsilon)` where this divides by :math:`\sqrt{\hat v_t}+\epsilon`:
    in float32 the two differ by about an ulp.

    Args:
        learning_rate: :math:`\gamma`, a number or a schedule; ``>= 0``.
        warmup_steps: length of the linear warmup, an int ``>= 1``; ``None`` for none.
        b1: :math:`\beta_1`, the interpolation weight of the average :math:`x`; in ``(0, 1]``.
        b2: :math:`\beta_2`, decay of the second moment; in ``[0, 1)``.
        eps: :math:`\epsilon`, added outside the square root; ``> 0`` (0 would divide 0 by 0
            for an entry whose gradients were all 0).
        weight_decay: :math:`\lambda`, ``>= 0``.
        weight_lr_power: :math:`p`, the power of the learning rate in the averaging weights.
        state_dtype: dtype of :math:`z`; ``None`` keeps the params'.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ScheduleFreeState`.

    References:
        Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky, "The Road Less Scheduled",
        NeurIPS 2024, Algorithm 1. https://arxiv.org/abs/2405.15682
    """
    _check.positive("schedule_free_adamw", eps=eps)  # 0: an entry whose gradients were all 0 gives 0/0
    learning_rate = _with_warmup("schedule_free_adamw", learning_rate, warmup_steps)
    named_b2, named_eps = hyperparameter("b2", b2), hyperparameter("eps", eps)
    return schedule_free(
        chain(
            ratio(
                identity(),                                          # g_t / ...
                debiased_root_mean_square(named_b2, named_eps, None),  # sqrt(v_hat_t) + eps
            ),
            _additive.weight_decay(hyperparameter("weight_decay", weight_decay)),  # + lambda y
            scale_by_learning_rate(learning_rate),                   # z_t = z_{t-1} - gamma_t (.)
        ),
        learning_rate,                                               # c_t from gamma_max_t^p
        b1=b1,                                                       # y_t = b1 x_t + (1 - b1) z_t
        weight_lr_power=weight_lr_power,
        state_dtype=state_dtype,
    )
