"""Optimizers that treat each weight matrix as a matrix: Muon.

Muon orthogonalizes each matrix's momentum (:func:`orthogonalize_by_newton_schulz`) and
hands every other leaf, by its rank (:func:`labels_by_ndim`), to AdamW: a :func:`partition`
of two recipes, each a chain of primitives.
"""
from __future__ import annotations

from typing import Any, Optional

import jax

from ..core import check as _check
from ..core.chain import chain
from ..core.protocol import GradientTransformation
from ..core.recipe import alias
from ..core.types import ScalarOrSchedule
from ..transforms import additive as _additive
from ..transforms import matrix_views as _views
from ..transforms.additive import Mask
from ..transforms.matrix_views import DimensionNumbers
from ..transforms.moments import scale_by_momentum
from ..transforms.orthogonalization import (
    EPS_MODES,
    STANDARD_COEFFICIENTS,
    Coefficients,
    coefficient_table,
    orthogonalize_by_newton_schulz,
    scale_by_shape,
)
from ..transforms.scaling import scale_by_learning_rate
from ..wrappers.masking import partition
from ..wrappers.shape_labels import labels_by_ndim
from .adam_family import adamw
from .parts import debiased_momentum, nesterov_debiased_momentum


def _muon_labels(params):
    """Muon's shape rule: matrices to the orthogonalized path, every other leaf to AdamW."""
    return labels_by_ndim(params, {2: "muon"}, default="adam")


def _labels_by_dimension_numbers(spec: DimensionNumbers):
    """Muon's rule given dimension numbers: a leaf that has some is orthogonalized, the others
    (``None``) go to AdamW."""
    def labels(params):
        leaves, structure = jax.tree.flatten(params)
        dims = _views.per_leaf("muon", spec, params)
        return structure.unflatten(["adam" if d is None else "muon" for d in dims])

    return labels


def _momentum(beta, mu_dtype, nesterov: bool, debias: bool = True) -> GradientTransformation:
    """Muon's momentum: Nadam's debiased look-ahead numerator or Adam's (Optax), or the plain
    running mean and its look-ahead (PyTorch, Jordan)."""
    if not debias:
        return scale_by_momentum(beta, nesterov=nesterov, ema=True, dtype=mu_dtype)  # (1 - beta) g_t + beta m_t, or m_t
    if nesterov:
        return nesterov_debiased_momentum(beta, mu_dtype)  # beta m_t / (1 - beta^(t+1)) + (1 - beta) g_t / (1 - beta^t)
    return debiased_momentum(beta, mu_dtype)               # m_t / (1 - beta^t)


@alias("beta", "eps")
def scale_by_muon(
    ns_coeffs: Coefficients = STANDARD_COEFFICIENTS,
    ns_steps: int = 5,
    beta: ScalarOrSchedule = 0.95,
    eps: ScalarOrSchedule = 1e-8,
    mu_dtype: Any = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: str = "frobenius",
    debias: bool = True,
    eps_mode: str = "add",
    ns_dtype: Any = None,
    weight_dimension_numbers: DimensionNumbers = None,
) -> GradientTransformation:
    r"""Muon's direction: the debiased momentum of each matrix, orthogonalized.

    .. math::
        m_t = \beta m_{t-1} + (1-\beta) g_t, \qquad
        \hat m_t = \beta\,\frac{m_t}{1-\beta^{t+1}} + (1-\beta)\,\frac{g_t}{1-\beta^t}
        \ \text{(Nesterov)} \quad \text{or} \quad \frac{m_t}{1-\beta^t}, \qquad
        u_t = \mathrm{NS}_K(\hat m_t)

    A chain of Nadam's (or Adam's) debiased numerator and
    :func:`orthogonalize_by_newton_schulz`, counted by its own :func:`gradxform.chain`. Every
    leaf must be a matrix (``init`` raises otherwise) unless ``weight_dimension_numbers`` makes
    it a stack of matrices; :func:`muon` routes the others to AdamW.

    Args:
        ns_coeffs, ns_steps, eps, preconditioning, adaptive, weight_dimension_numbers: as in
            :func:`orthogonalize_by_newton_schulz`.
        beta: :math:`\beta`, the momentum's decay; in ``[0, 1)``.
        mu_dtype: dtype of the momentum's storage; ``None`` keeps the params' dtype.
        nesterov: the look-ahead :math:`\hat m_t` (default) instead of the debiased momentum.
        debias, eps_mode, ns_dtype: as in :func:`muon` (PyTorch's conventions).

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Jordan, "Muon: An optimizer for hidden layers in neural networks", 2024.
        https://kellerjordan.github.io/posts/muon/
    """
    _check.flag("scale_by_muon", debias=debias)
    return chain(
        _momentum(beta, mu_dtype, nesterov, debias),             # m_hat_t
        orthogonalize_by_newton_schulz(ns_coeffs, ns_steps, eps, preconditioning=preconditioning,
                                       adaptive=adaptive, eps_mode=eps_mode, ns_dtype=ns_dtype,
                                       weight_dimension_numbers=weight_dimension_numbers),
    )                                                            # NS_K(m_hat_t) ~ U V^T


@alias("learning_rate", "beta", "eps", "weight_decay", "adam_b1", "adam_b2", "adam_eps_root",
       "adam_weight_decay", "adam_learning_rate", "consistent_rms")
def muon(
    learning_rate: ScalarOrSchedule,
    ns_coeffs: Coefficients = STANDARD_COEFFICIENTS,
    ns_steps: int = 5,
    beta: ScalarOrSchedule = 0.95,
    eps: ScalarOrSchedule = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: Optional[Mask] = None,
    mu_dtype: Any = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: str = "frobenius",
    adam_b1: ScalarOrSchedule = 0.9,
    adam_b2: ScalarOrSchedule = 0.999,
    adam_eps_root: ScalarOrSchedule = 0.0,
    adam_weight_decay: ScalarOrSchedule = 0.0,
    adam_learning_rate: Optional[ScalarOrSchedule] = None,
    consistent_rms: Optional[ScalarOrSchedule] = None,
    fan_in_axis: int = 0,
    debias: bool = True,
    eps_mode: str = "add",
    ns_dtype: Any = None,
    muon_weight_dimension_numbers: DimensionNumbers = None,
) -> GradientTransformation:
    r"""Muon: MomentUm Orthogonalized by Newton-Schulz, with AdamW for the leaves that are not matrices.

    For each matrix :math:`W` of shape :math:`(n_{in}, n_{out})`:

    .. math::
        m_t = \beta m_{t-1} + (1-\beta) g_t, \qquad
        \hat m_t = \beta\,\frac{m_t}{1-\beta^{t+1}} + (1-\beta)\,\frac{g_t}{1-\beta^t}, \\
        O_t = \mathrm{NS}_K(\hat m_t) \approx U V^\top \ (\hat m_t = U \Sigma V^\top), \qquad
        u_t = -\alpha_t \big( s\,O_t + \lambda W_{t-1} \big)

    with :math:`s = \sqrt{\max(1, n_{out}/n_{in})}`, or :math:`\rho\sqrt{\max(n_{in},
    n_{out})}` given ``consistent_rms`` :math:`\rho`; every other leaf (vectors, scalars,
    higher ranks) takes AdamW's step with ``adam_*`` arguments, the same ``eps``, ``mu_dtype``
    and ``nesterov``. A :func:`partition` by :func:`labels_by_ndim` (rank 2: ``"muon"``, else
    ``"adam"``) of chain(:func:`scale_by_muon`'s two terms, :func:`scale_by_shape`,
    :func:`weight_decay`, :func:`scale_by_learning_rate`) and :func:`adamw`. Given
    ``muon_weight_dimension_numbers`` (Optax's argument), the rule is those instead: a leaf with
    :class:`MuonDimensionNumbers` is a stack of matrices, orthogonalized one by one (a conv
    kernel ``(h, w, c_in, c_out)`` with ``MuonDimensionNumbers((0, 1, 2), 3)``; attention heads
    ``(d, heads, d_head)`` with ``MuonDimensionNumbers(0, (1, 2))`` as one matrix, or ``(0, 2)``
    as one per head), :math:`n_{in}` and :math:`n_{out}` the products of its reduction and output
    axes; a leaf given ``None`` takes AdamW's step.

    PyTorch's ``torch.optim.Muon`` side by side, each of its conventions one argument here:

    * its learning rate by the shape :math:`(A, B)` of a weight, :math:`\sqrt{\max(1, A/B)}`
      (``adjust_lr_fn="original"``) or :math:`0.2\sqrt{\max(A, B)}` (``"match_rms_adamw"``):
      ``fan_in_axis=1`` (PyTorch keeps weights as :math:`(n_{out}, n_{in})`) with
      ``consistent_rms=None`` or ``0.2``;
    * its momentum :math:`m_t = \mu m_{t-1} + (1-\mu) g_t` is not bias-corrected (Nesterov's
      form :math:`(1-\mu) g_t + \mu m_t`): ``debias=False``;
    * it divides by :math:`\max(\lVert G \rVert, \epsilon)`, :math:`\epsilon = 10^{-7}`:
      ``eps_mode="max"``, ``eps=1e-7``;
    * it iterates in bfloat16: ``ns_dtype=jnp.bfloat16``;
    * its ``weight_decay=0.1`` is multiplied by the unadjusted learning rate, as here;
    * it takes matrices only, where other leaves take AdamW's step here.

    So ``torch.optim.Muon(w, lr, weight_decay=0.1)`` is ``gx.muon(lr, eps=1e-7,
    weight_decay=0.1, fan_in_axis=1, debias=False, eps_mode="max", ns_dtype=jnp.bfloat16)`` on
    PyTorch-shaped matrices (tested step by step against a transcription of PyTorch's rule).

    Args:
        learning_rate: :math:`\alpha_t`, a number or a schedule.
        ns_coeffs: Newton-Schulz coefficients :math:`(a, b, c)`, one triple per step, or a
            preset, ``"standard"`` or ``"dion"`` (see :func:`orthogonalize_by_newton_schulz`).
        ns_steps: :math:`K`, the Newton-Schulz iterations.
        beta: :math:`\beta`, the momentum's decay; in ``[0, 1)``.
        eps: added to the norm before Newton-Schulz, and AdamW's :math:`\epsilon`; ``>= 0``.
        weight_decay: :math:`\lambda` for the matrices, multiplied by :math:`\alpha_t`.
        weight_decay_mask: which matrices to decay (a tree of bools or a function of the
            params); ``None`` decays every matrix.
        mu_dtype: dtype of both paths' momentum storage; ``None`` keeps the params' dtype.
        nesterov: Nesterov's look-ahead momentum, on both paths.
        adaptive: scale each orthogonalized update by the dual norm
            :math:`\langle \hat m_t, O_t \rangle`.
        preconditioning: ``"frobenius"``, ``"spectral"``, ``"aol"`` or ``"schatten"``.
        adam_b1, adam_b2, adam_eps_root, adam_weight_decay: AdamW's, for the other leaves.
        adam_learning_rate: AdamW's learning rate; ``None`` uses ``learning_rate``.
        consistent_rms: :math:`\rho` (Liu et al. recommend 0.2); ``None`` for width scaling.
        fan_in_axis: which axis of a matrix is :math:`n_{in}`: ``0`` in Optax's layout
            (:math:`y = x W`), ``1`` for PyTorch's ``(out, in)`` weights (see above).
        debias: bias-correct the matrices' momentum (Optax); ``False`` uses the plain running
            mean (PyTorch). AdamW's path is always bias-corrected.
        eps_mode: ``"add"`` divides by :math:`\lVert G \rVert + \epsilon` before iterating
            (Optax), ``"max"`` by :math:`\max(\lVert G \rVert, \epsilon)` (PyTorch).
        ns_dtype: the dtype Newton-Schulz iterates in (PyTorch: ``jnp.bfloat16``); ``None``
            keeps the momentum's.
        muon_weight_dimension_numbers: a :class:`MuonDimensionNumbers` for every leaf, a tree of
            them (``None``: AdamW's leaf), or a function of the params returning such a tree;
            ``None`` (default): the rank rule above.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`PartitionState`.

    References:
        Jordan, "Muon: An optimizer for hidden layers in neural networks", 2024.
        https://kellerjordan.github.io/posts/muon/
        Liu et al., "Muon is Scalable for LLM Training", 2025. https://arxiv.org/abs/2502.16982
        Bernstein & Newhouse, "Old Optimizer, New Norm: An Anthology", 2024.
        https://arxiv.org/abs/2409.20325

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.muon(0.1, nesterov=False)  # the vector's first step is Adam's: -lr sign(g)
        >>> params = {"w": jnp.eye(2), "b": jnp.zeros(2)}
        >>> grads = {"w": jnp.array([[2.0, 0.0], [0.0, 1.0]]), "b": jnp.ones(2)}
        >>> updates, _ = opt.update(grads, opt.init(params), params)
        >>> [round(float(x), 4) for x in updates["b"]]
        [-0.1, -0.1]
    """
    coefficient_table("muon", ns_coeffs, ns_steps)  # checked here, so the errors name muon
    _check.flag("muon", debias=debias)
    _check.choice("muon", "eps_mode", eps_mode, EPS_MODES)
    if ns_dtype is not None:
        _check.float_dtype("muon", ns_dtype=ns_dtype)
    dims = muon_weight_dimension_numbers
    return partition(
        {
            "muon": chain(
                _momentum(beta, mu_dtype, nesterov, debias),                    # m_hat_t
                orthogonalize_by_newton_schulz(ns_coeffs, ns_steps, eps, preconditioning=preconditioning,
                                               adaptive=adaptive, eps_mode=eps_mode, ns_dtype=ns_dtype,
                                               weight_dimension_numbers=dims),  # NS_K(m_hat_t)
                scale_by_shape(consistent_rms, fan_in_axis=fan_in_axis,
                               weight_dimension_numbers=dims),                  # * s(n_in, n_out)
                _additive.weight_decay(weight_decay, weight_decay_mask),        # + lambda W
                scale_by_learning_rate(learning_rate),                          # * -alpha_t
            ),
            "adam": adamw(
                learning_rate if adam_learning_rate is None else adam_learning_rate,
                adam_b1, adam_b2, eps, adam_eps_root, mu_dtype, adam_weight_decay,
                nesterov=nesterov,
            ),                                                                  # AdamW elsewhere
        },
        _muon_labels if dims is None else _labels_by_dimension_numbers(dims),
    )
