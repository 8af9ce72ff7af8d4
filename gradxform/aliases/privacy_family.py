"""Differentially private training: DP-SGD, SGD on privately aggregated per-example gradients."""
from __future__ import annotations

from typing import Optional

from jax.typing import ArrayLike

from ..core.chain import chain
from ..core.protocol import GradientTransformation, identity
from ..core.recipe import alias
from ..core.types import ScalarOrSchedule
from ..transforms.moments import scale_by_momentum
from ..transforms.privacy import differentially_private_aggregate
from ..transforms.scaling import scale_by_learning_rate
from .parts import check_momentum_args


@alias("learning_rate", "l2_norm_clip", "noise_multiplier", "momentum")
def dpsgd(
    learning_rate: ScalarOrSchedule,
    l2_norm_clip: ArrayLike,
    noise_multiplier: ArrayLike,
    seed: int,
    momentum: Optional[ArrayLike] = None,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""DP-SGD: SGD on per-example gradients clipped, summed, noised and averaged.

    For the per-example gradients :math:`g_1, \dots, g_B` of a batch (every leaf with the batch
    on axis 0, from ``jax.vmap(jax.grad(loss))``):

    .. math::
        \bar g_t = \frac{1}{B}\Big(\sum_{i=1}^B g_i \min\!\Big(1, \frac{C}{\|g_i\|}\Big)
                   + \sigma C\,\xi_t\Big), \qquad
        m_t = \bar g_t + \mu\,m_{t-1}, \qquad u_t = -\alpha_t\,m_t

    (or :math:`u_t = -\alpha_t(\bar g_t + \mu m_t)` with Nesterov, :math:`u_t = -\alpha_t \bar
    g_t` without momentum). Chains :func:`differentially_private_aggregate` (keyed by
    ``seed``), :func:`scale_by_momentum` (heavy-ball; :func:`identity` when ``momentum`` is
    ``None``) and :func:`scale_by_learning_rate`. Unlike Optax, ``nesterov=True`` without
    ``momentum`` is an error rather than silently ignored.

    Args:
        learning_rate: :math:`\alpha_t`, a number ``>= 0`` or a schedule.
        l2_norm_clip: :math:`C`, the largest norm an example's gradient keeps; ``>= 0``.
        noise_multiplier: :math:`\sigma`, the noise's standard deviation over :math:`C`; ``>= 0``.
        seed: the int seed of the noise's key (or a JAX PRNG key).
        momentum: :math:`\mu`, in ``[0, 1]``; ``None`` for plain SGD.
        nesterov: Nesterov's look-ahead momentum.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Abadi, Chu, Goodfellow, McMahan, Mironov, Talwar & Zhang, "Deep Learning with
        Differential Privacy", CCS 2016, Algorithm 1. https://arxiv.org/abs/1607.00133

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.dpsgd(0.1, l2_norm_clip=1.0, noise_multiplier=0.0, seed=0)
        >>> per_example = {"w": jnp.array([[3.0, 4.0], [0.3, 0.4]])}  # norms 5 and 0.5
        >>> updates, _ = opt.update(per_example, opt.init({"w": jnp.zeros(2)}))
        >>> print(updates["w"])  # -0.1 * mean of [0.6, 0.8] and [0.3, 0.4]
        [-0.045 -0.06 ]
    """
    check_momentum_args("dpsgd", momentum, nesterov)
    return chain(
        differentially_private_aggregate(l2_norm_clip, noise_multiplier,
                                         key=seed),                # (sum_i clip_C(g_i) + sigma C xi) / B
        (scale_by_momentum(momentum, nesterov)                     # m_t = g + mu m
         if momentum is not None else identity()),
        scale_by_learning_rate(learning_rate),                     # * -alpha_t
    )
