"""Sophia: a momentum over a running mean of the Hessian's diagonal, clipped (``optax.contrib.sophia``).

The alias is one ``def`` whose body is the recipe, one primitive per term of the paper's rule with
a trailing comment; its hyperparameters are declared once, in its decorator.
"""
from __future__ import annotations

from typing import Any, Optional

from ..core import check as _check
from ..core.chain import chain
from ..core.combinators import ratio
from ..core.named import value_of
from ..core.protocol import GradientTransformation
from ..core.recipe import alias
from ..core.types import ScalarOrSchedule
from ..transforms import additive as _additive
from ..transforms.additive import Mask
from ..transforms.clipping import clip
from ..transforms.hessian import at_least, hutchinson_estimator_diag_hessian, lagged_hessian_moment, report_clip_rate
from ..transforms.scaling import scale, scale_by_learning_rate
from .parts import debiased_momentum


@alias("learning_rate", "b1", "b2", "eps", "weight_decay", "gamma", "clip_threshold")
def sophia(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.965,
    b2: ScalarOrSchedule = 0.99,
    eps: ScalarOrSchedule = 1e-8,
    weight_decay: ScalarOrSchedule = 1e-4,
    weight_decay_mask: Optional[Mask] = None,
    gamma: ScalarOrSchedule = 0.01,
    clip_threshold: Optional[ScalarOrSchedule] = 1.0,
    update_interval: int = 10,
    hessian_diagonal_fn: GradientTransformation = hutchinson_estimator_diag_hessian(),
    mu_dtype: Optional[Any] = None,
    verbose: bool = False,
    print_win_rate_every_n_steps: int = 0,
) -> GradientTransformation:
    r"""Sophia: the momentum divided by a running mean of the Hessian's diagonal, then clipped.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        h_t = \beta_2 h_{t-k} + (1-\beta_2) \hat H_t \ \text{ every } k \text{ steps}, \\
        u_t = -\alpha_t \Big( \operatorname{clip}\Big(\frac{m_t / (1-\beta_1^t)}
              {\max(\gamma\, h_{t-1}, \epsilon)},\; c\Big) + \lambda\,\theta_{t-1} \Big)

    where :math:`\hat H_t` is ``hessian_diagonal_fn``'s estimate (Hutchinson's by default,
    Sophia-H), taken on the steps :math:`t \equiv 0 \pmod k` (counted from 0) before this step's
    update of :math:`h`, and :math:`\operatorname{clip}(x, c)` bounds each element to
    :math:`[-c, c]` (no clipping if ``clip_threshold`` is ``None``). Where the curvature is
    small or negative the step is the clipped sign of the momentum. ``update`` needs the params
    and whatever the estimator needs: Hutchinson's takes the objective as ``obj_fn``, a function
    of the params alone returning the loss (under ``jax.jit``, a ``jax.tree_util.Partial``).

    Chains :func:`ratio` of (:func:`scale_by_momentum`, :func:`bias_correction`) over
    (:func:`lagged_hessian_moment`, :func:`scale` by :math:`\gamma`, :func:`at_least`), then
    :func:`clip`, :func:`weight_decay` and :func:`scale_by_learning_rate`. Numbers as
    ``optax.contrib.sophia``'s, which uses Rademacher rather than Gaussian probes.

    Args:
        learning_rate: :math:`\alpha_t`, a number or a schedule.
        b1: :math:`\beta_1`, decay of the momentum; in ``[0, 1)``.
        b2: :math:`\beta_2`, decay of the Hessian mean per estimate (effectively
            :math:`1 - (1-\beta_2)/k` per step); in ``[0, 1)``.
        eps: :math:`\epsilon`, the floor of the denominator; ``> 0``.
        weight_decay: :math:`\lambda`, ``>= 0``, scaled by the learning rate.
        weight_decay_mask: which leaves to decay (see :func:`gradxform.weight_decay`).
        gamma: :math:`\gamma`, the scale of the Hessian estimate; ``> 0``.
        clip_threshold: :math:`c`, ``>= 0``, or ``None`` for no clipping.
        update_interval: :math:`k`, the steps between Hessian estimates; an int ``>= 1``.
        hessian_diagonal_fn: the estimator of the Hessian's diagonal, a transformation taking
            ``params`` and its extra arguments; with several devices it must average its
            estimate across them.
        mu_dtype: dtype of the momentum's storage; ``None`` keeps the params' dtype.
        verbose: print the fraction of unclipped elements (the "win rate", best kept in
            0.1 to 0.5 by tuning :math:`\gamma`) every ``print_win_rate_every_n_steps`` steps.
        print_win_rate_every_n_steps: the steps between prints; an int, ``>= 1`` if ``verbose``.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Liu, Li, Hall, Liang & Ma, "Sophia: A Scalable Stochastic Second-order Optimizer for
        Language Model Pre-training", ICLR 2024, Algorithm 3. https://arxiv.org/abs/2305.14342

    Example:
        >>> import jax, jax.numpy as jnp, gradxform as gx
        >>> f = lambda x: jnp.sum(x ** 2)
        >>> opt, params = gx.sophia(0.1, weight_decay=0.0), jnp.array([1.0, -2.0])
        >>> state = opt.init(params)
        >>> updates, state = opt.update(jax.grad(f)(params), state, params, obj_fn=f)
        >>> print(updates)  # h is still 0: the clipped sign of the momentum
        [-0.1  0.1]
    """
    _check.flag("sophia", verbose=verbose)
    _check.int_at_least("sophia", 1 if verbose else 0, print_win_rate_every_n_steps=print_win_rate_every_n_steps)
    report = []
    if verbose and clip_threshold is not None:
        report = [report_clip_rate(value_of(clip_threshold), print_win_rate_every_n_steps)]  # win rate
    clipping = [] if clip_threshold is None else [clip(clip_threshold)]        # to [-c, c]
    return chain(
        ratio(
            debiased_momentum(b1, mu_dtype),                                   # m_hat_t = m_t / (1 - b1^t)
            [lagged_hessian_moment(hessian_diagonal_fn, b2, update_interval),  # h_(t-1); every k: b2 h + (1 - b2) H
             scale(gamma),                                                     # gamma h
             at_least(eps)],                                                   # max(gamma h, eps)
        ),
        *report,
        *clipping,
        _additive.weight_decay(weight_decay, weight_decay_mask),               # + lambda theta
        scale_by_learning_rate(learning_rate),                                 # * -alpha_t
    )
