"""ADOPT: Adam with the gradient normalized by the previous step's second moment *before* the
momentum, and optionally clipped by a bound that grows with the step (``optax.contrib.adopt``).

Each alias is one ``def`` whose body is the recipe, one primitive per term of the paper's rule
with a trailing comment; its hyperparameters are declared once, in its decorator.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from ..core import check as _check
from ..core.chain import chain
from ..core.combinators import conditional, ratio
from ..core.protocol import GradientTransformation, identity
from ..core.recipe import alias
from ..core.stateless import set_to_zero
from ..core.types import ScalarOrSchedule
from ..transforms.clipping import clip
from ..transforms.lagged import lagged_mean_of_squares, sqrt_at_least
from ..transforms.moments import scale_by_momentum
from ..transforms.scaling import scale_by_learning_rate


def _quarter_power(step: jax.Array) -> jax.Array:
    r"""ADOPT's default clipping bound :math:`c(t) = t^{1/4}`: Optax's ``lambda x: x**0.25``, with the
    int32 step cast to the default float dtype first, as standard promotion does (and as strict
    promotion requires)."""
    return jnp.asarray(step, jnp.result_type(float)) ** 0.25


def _after_the_first_step(step: jax.Array) -> jax.Array:
    """True from the second update on: ADOPT's first update only starts the second moment."""
    return step > 0


@alias("b1", "b2", "eps")
def scale_by_adopt(
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.9999,
    eps: ScalarOrSchedule = 1e-6,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Callable[[jax.Array], jax.Array] = _quarter_power,
) -> GradientTransformation:
    r"""ADOPT's direction, without the learning rate.

    .. math::
        \tilde g_t = \operatorname{clip}\!\big(g_t / \max(\sqrt{v_{t-1}}, \epsilon),\; c(t)\big), \qquad
        m_t = \beta_1 m_{t-1} + (1-\beta_1)\,\tilde g_t, \qquad u_t = m_t \quad (t > 0)

    with :math:`v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2`, :math:`v_0 = g_0^2`, and
    :math:`u_0 = 0` (the first update only starts :math:`v`). The recipe of :func:`adopt` less its
    last link, counted by its own :func:`gradxform.chain`, so that it also works inside
    ``optax.chain``. Same arguments as ``optax.contrib.scale_by_adopt``.

    Args:
        b1, b2, eps, mu_dtype, nesterov, use_clipping, clip_value_fn: as in :func:`adopt`.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Taniguchi et al., "ADOPT: Modified Adam Can Converge with Any :math:`\beta_2` with the
        Optimal Rate", NeurIPS 2024. https://arxiv.org/abs/2411.02853
    """
    _check.flag("scale_by_adopt", nesterov=nesterov, use_clipping=use_clipping)
    _check.is_callable("scale_by_adopt", clip_value_fn=clip_value_fn)
    return chain(*_adopt_direction(b1, b2, eps, mu_dtype, nesterov, use_clipping, clip_value_fn))


@alias("learning_rate", "b1", "b2", "eps")
def adopt(
    learning_rate: ScalarOrSchedule,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.9999,
    eps: ScalarOrSchedule = 1e-6,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Callable[[jax.Array], jax.Array] = _quarter_power,
) -> GradientTransformation:
    r"""ADOPT: normalize the gradient by the previous second moment, clip it, then take momentum.

    .. math::
        \tilde g_t = \operatorname{clip}\!\big(g_t / \max(\sqrt{v_{t-1}}, \epsilon),\; c(t)\big), \\
        m_t = \beta_1 m_{t-1} + (1-\beta_1)\,\tilde g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2)\,g_t^2, \\
        u_t = -\alpha_t\, m_t \quad (t > 0), \qquad v_0 = g_0^2, \quad u_0 = 0

    where :math:`t` counts updates from 0 and :math:`\operatorname{clip}(x, c)` bounds each
    element to :math:`[-c, c]`. Unlike Adam, :math:`g_t` is divided by a second moment that does
    not contain it, and before the momentum, so that ADOPT converges for any :math:`\beta_2`. With
    ``nesterov=True`` the output is the look-ahead :math:`\beta_1 m_t + (1-\beta_1)\tilde g_t`.

    Chains :func:`ratio` of the update over (:func:`lagged_mean_of_squares`,
    :func:`sqrt_at_least`), :func:`clip` by ``clip_value_fn`` (a schedule of the step),
    a :func:`conditional` that zeroes the first update, :func:`scale_by_momentum` (``ema=True``),
    then :func:`scale_by_learning_rate`. Numbers as ``optax.contrib.adopt``'s.

    Args:
        learning_rate: :math:`\alpha_t`, a number or a schedule.
        b1: :math:`\beta_1`, decay of the momentum; in ``[0, 1)``.
        b2: :math:`\beta_2`, decay of the second moment; in ``[0, 1)``.
        eps: :math:`\epsilon`, the floor of :math:`\sqrt{v_{t-1}}`; ``> 0``.
        mu_dtype: dtype of the momentum's storage; ``None`` keeps the params' dtype.
        nesterov: output Nesterov's look-ahead momentum.
        use_clipping: clip the normalized gradient to :math:`[-c(t), c(t)]` (the paper's
            Algorithm 2, recommended when training from scratch); ``False`` skips the clip.
        clip_value_fn: :math:`c(t)`, a function of the step count (an int32, 0 on the first
            update) returning the bound; default :math:`t^{1/4}`.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Taniguchi, Harada, Minegishi, Oshima, Jeong, Nagahara, Iiyama, Suzuki, Iwasawa & Matsuo,
        "ADOPT: Modified Adam Can Converge with Any :math:`\beta_2` with the Optimal Rate",
        NeurIPS 2024. https://arxiv.org/abs/2411.02853

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.adopt(0.1)
        >>> params = jnp.array([1.0, -2.0])
        >>> state = opt.init(params)
        >>> for _ in range(3):
        ...     updates, state = opt.update(jnp.array([0.5, -0.5]), state)
        >>> print(updates)  # the first update is 0; then 0.1 * (1 - 0.9^k) * sign(g)
        [-0.019  0.019]
    """
    _check.flag("adopt", nesterov=nesterov, use_clipping=use_clipping)
    _check.is_callable("adopt", clip_value_fn=clip_value_fn)
    return chain(
        *_adopt_direction(b1, b2, eps, mu_dtype, nesterov, use_clipping, clip_value_fn),
        scale_by_learning_rate(learning_rate),                  # * -alpha_t
    )


def _adopt_direction(b1, b2, eps, mu_dtype, nesterov, use_clipping, clip_value_fn) -> list:
    """ADOPT's terms in order: normalize by the previous second moment, clip, skip the first
    update, momentum."""
    return [
        ratio(
            identity(),                                         # g_t
            [lagged_mean_of_squares(b2),                        # / v_(t-1), then v_t = b2 v + (1 - b2) g^2
             sqrt_at_least(eps)],                               # max(sqrt(v_(t-1)), eps)
        ),
        *([clip(clip_value_fn)] if use_clipping else []),       # to [-c(t), c(t)]
        conditional(_after_the_first_step, identity(), set_to_zero()),  # u_0 = 0: only v starts
        scale_by_momentum(b1, nesterov=nesterov, ema=True, dtype=mu_dtype),  # m_t = b1 m + (1 - b1) g
    ]
