"""Optimizers whose state lives in a low-rank subspace of each matrix's gradients: GaLore."""
from __future__ import annotations

from typing import Optional

from jax.typing import ArrayLike

from ..core.chain import chain
from ..core.link import Branch
from ..core.protocol import GradientTransformation
from ..core.recipe import alias
from ..core.types import ScalarOrSchedule
from ..transforms import additive as _additive
from ..transforms.additive import Mask
from ..transforms.low_rank import DimensionNumbers, scale_by_galore
from ..transforms.scaling import scale_by_learning_rate


@alias("learning_rate", "scale", "weight_decay")
def galore(
    learning_rate: ScalarOrSchedule,
    rank: int = 128,
    update_proj_gap: int = 200,
    scale: float = 1.0,
    base_optimizer: Optional[Branch] = None,
    weight_decay: ArrayLike = 0.0,
    mask: Optional[Mask] = None,
    weight_dimension_numbers: Optional[DimensionNumbers] = None,
) -> GradientTransformation:
    r"""GaLore: Adam (or any gradient-only optimizer) on low-rank projections of each matrix's gradient.

    For a matrix gradient :math:`G_t` (:math:`m \ge n`; transposed roles otherwise), with
    :math:`P_t` its top-:math:`r` left singular vectors, recomputed every :math:`T` updates:

    .. math::
        R_t = P_t^\top G_t, \qquad
        u_t = -\alpha_t \big( s\,P_t\,\rho(R_t) + \lambda\,\theta_{t-1} \big)

    with :math:`\rho` the base optimizer (Adam's :math:`\hat m / (\sqrt{\hat v} + \epsilon)`
    by default) keeping :math:`r \times n` moments instead of :math:`m \times n`; other leaves
    take :math:`\rho` in full. Chains :func:`scale_by_galore` (see it for which leaves are
    matrices, and the checks at ``init``), :func:`weight_decay` and
    :func:`scale_by_learning_rate`. Same as Optax's ``contrib.galore``.

    Args:
        learning_rate: :math:`\alpha_t`, a number ``>= 0`` or a schedule.
        rank: :math:`r`'s upper bound; an int ``>= 1``.
        update_proj_gap: :math:`T`, the updates between two SVDs; an int ``>= 1``.
        scale: :math:`s`, applied to the updates projected back.
        base_optimizer: :math:`\rho`, a transformation that does not read the params;
            ``None`` is :func:`gradxform.scale_by_adam`.
        weight_decay: :math:`\lambda`, decoupled decay in the full space; ``>= 0``.
        mask: which leaves to decay (a tree of bools, a function of the params, or patterns);
            ``None`` decays every leaf.
        weight_dimension_numbers: which leaves to project and how (see :func:`scale_by_galore`).

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Zhao, Zhang, Chen, Wang, Anandkumar & Tian, "GaLore: Memory-Efficient LLM Training by
        Gradient Low-Rank Projection", ICML 2024, Algorithm 2. https://arxiv.org/abs/2403.03507

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.galore(0.1, rank=1)
        >>> params = {"w": jnp.ones((3, 2))}
        >>> grads = {"w": jnp.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])}
        >>> updates, _ = opt.update(grads, opt.init(params), params)  # Adam on a 1 x 2 projection
        >>> [[round(abs(float(x)), 4) for x in row] for row in updates["w"]]
        [[0.1, 0.0], [0.0, 0.0], [0.0, 0.0]]
    """
    return chain(
        scale_by_galore(rank, update_proj_gap, scale, base_optimizer,
                        weight_dimension_numbers),                      # s P rho(P^T G)
        _additive.weight_decay(weight_decay, mask),                     # + lambda theta
        scale_by_learning_rate(learning_rate),                          # * -alpha_t
    )
