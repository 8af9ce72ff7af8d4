"""Optimizers with Kronecker-factored preconditioners: Shampoo and SOAP.

Shampoo preconditions each matrix by the inverse fourth roots of its two Kronecker factors
(:func:`scale_by_kronecker_roots`), grafted onto a simpler method's per-layer step size
(:func:`graft`); vectors and scalars take the grafted method's step, by their rank
(:func:`labels_by_ndim`). SOAP runs Adam's own primitives in the eigenbasis of the same factors
(:func:`in_kronecker_eigenbasis`, :func:`rotate_to_eigenbasis`, :func:`rotate_back`). Neither is
in Optax; each is checked against a NumPy transcription of its paper.
"""
from __future__ import annotations

from ..core import check as _check
from ..core.chain import chain
from ..core.combinators import ratio
from ..core.protocol import GradientTransformation, identity
from ..core.recipe import alias
from ..core.types import ScalarOrSchedule
from ..transforms import additive as _additive
from ..transforms.adaptive import sum_of_squares
from ..transforms.elementwise import sqrt_plus_eps
from ..transforms.grafting import graft
from ..transforms.kronecker import (
    in_kronecker_eigenbasis,
    rotate_back,
    rotate_to_eigenbasis,
    scale_by_kronecker_roots,
)
from ..transforms.moments import mean_of_squares
from ..transforms.scaling import scale_by_learning_rate
from ..wrappers.masking import partition
from ..wrappers.shape_labels import labels_by_ndim
from .parts import debiased_momentum, debiased_root_mean_square

GRAFTINGS = ("adagrad", "rmsprop", "sgd", "none")


def _shampoo_labels(params):
    """Shampoo's shape rule: leaves with two axes or more are preconditioned, the rest grafted."""
    return labels_by_ndim(params, {0: "graft", 1: "graft"}, default="shampoo")


def _graft_step(grafting: str, graft_decay, graft_eps) -> GradientTransformation:
    """The method whose per-layer step size Shampoo takes (``"none"``: the gradient itself)."""
    if grafting == "adagrad":
        return ratio(identity(), [sum_of_squares(),             # G_t = G + g^2
                                  sqrt_plus_eps(graft_eps)])     # g / (sqrt(G_t) + eps_g)
    if grafting == "rmsprop":
        return ratio(identity(), [mean_of_squares(graft_decay),  # v_t = rho v + (1 - rho) g^2
                                  sqrt_plus_eps(graft_eps)])     # g / (sqrt(v_t) + eps_g)
    return identity()                                            # g ("sgd", and "none" off matrices)


def _shampoo_direction(who, beta, eps, precondition_frequency, max_precond_dim, grafting, graft_decay,
                       graft_eps) -> GradientTransformation:
    _check.choice(who, "grafting", grafting, GRAFTINGS)
    _check.decay(who, graft_decay=graft_decay)   # checked whichever graft is chosen: a typo is a typo
    _check.non_negative(who, graft_eps=graft_eps)
    preconditioned = scale_by_kronecker_roots(beta, eps, precondition_frequency,
                                              max_precond_dim)      # P_L G P_R, roots every f steps
    if grafting != "none":
        preconditioned = graft(preconditioned,                       # its direction,
                               _graft_step(grafting, graft_decay, graft_eps))  # the graft's norm
    return partition({"shampoo": preconditioned,                    # matrices (and reshaped tensors)
                      "graft": _graft_step(grafting, graft_decay, graft_eps)},  # vectors, scalars
                     _shampoo_labels)


@alias("beta", "eps", "graft_decay", "graft_eps")
def scale_by_shampoo(
    beta: ScalarOrSchedule | None = None,
    eps: ScalarOrSchedule = 1e-6,
    precondition_frequency: int = 10,
    max_precond_dim: int = 10000,
    grafting: str = "adagrad",
    graft_decay: ScalarOrSchedule = 0.999,
    graft_eps: ScalarOrSchedule = 1e-8,
) -> GradientTransformation:
    r"""Shampoo's direction, without the learning rate (see :func:`shampoo`).

    Args:
        beta: decay of the Kronecker factors; ``None`` sums them (the paper).
        eps: :math:`\epsilon`, ``> 0``, added to the factors' eigenvalues.
        precondition_frequency: :math:`f`: the inverse roots are recomputed every :math:`f` steps.
        max_precond_dim: sides longer than this are not preconditioned.
        grafting: ``"adagrad"``, ``"rmsprop"``, ``"sgd"`` or ``"none"``.
        graft_decay: :math:`\rho`, the RMSprop graft's decay; in ``[0, 1)``.
        graft_eps: :math:`\epsilon_g`, the Adagrad and RMSprop grafts' epsilon; ``>= 0``.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Gupta, Koren & Singer, "Shampoo: Preconditioned Stochastic Tensor Optimization", ICML
        2018. https://arxiv.org/abs/1802.09568
    """
    return chain(
        _shampoo_direction("scale_by_shampoo", beta, eps, precondition_frequency, max_precond_dim,
                           grafting, graft_decay, graft_eps),       # graft(P_L G P_R, graft step)
    )


@alias("learning_rate", "beta", "eps", "graft_decay", "graft_eps")
def shampoo(
    learning_rate: ScalarOrSchedule,
    beta: ScalarOrSchedule | None = None,
    eps: ScalarOrSchedule = 1e-6,
    precondition_frequency: int = 10,
    max_precond_dim: int = 10000,
    grafting: str = "adagrad",
    graft_decay: ScalarOrSchedule = 0.999,
    graft_eps: ScalarOrSchedule = 1e-8,
) -> GradientTransformation:
    r"""Shampoo: each matrix preconditioned by the inverse fourth roots of its Kronecker factors.

    For each leaf seen as a matrix :math:`G_t` (:math:`t` zero-based):

    .. math::
        L_t = L_{t-1} + G_t G_t^\top, \qquad R_t = R_{t-1} + G_t^\top G_t, \\
        P^L = (L_t + \epsilon I)^{-1/4}, \quad P^R = (R_t + \epsilon I)^{-1/4}
        \quad \text{recomputed when } t \bmod f = 0, \\
        D_t = P^L G_t P^R, \qquad
        u_t = -\alpha_t\, D_t\, \|A_t\|_F / \|D_t\|_F

    with ``beta`` :math:`\beta` the factors are running means instead
    (:math:`L_t = \beta L_{t-1} + (1-\beta) G_t G_t^\top`). :math:`A_t` is the grafted
    method's step on the same leaf: Adagrad :math:`g_t / (\sqrt{\sum_{s \le t} g_s^2} +
    \epsilon_g)`, RMSprop :math:`g_t / (\sqrt{v_t} + \epsilon_g)`, SGD :math:`g_t`; with
    ``grafting="none"`` the step is :math:`-\alpha_t D_t`. Leaves with more than two axes are
    the matrix of their last axis against the others; sides longer than ``max_precond_dim`` keep
    the identity. Vectors and scalars take the grafted method's step :math:`-\alpha_t A_t`
    (the gradient with ``"none"``), by a :func:`partition` on :func:`labels_by_ndim`.

    Chains :func:`partition` of (:func:`graft` of :func:`scale_by_kronecker_roots` onto the
    graft's step) and the graft's step, then :func:`scale_by_learning_rate`. The inverse roots
    are eigendecompositions run every ``precondition_frequency`` steps under
    :func:`jax.lax.cond`, inside the jitted step.

    Args:
        learning_rate: :math:`\alpha_t`, a number or a schedule.
        beta: :math:`\beta`, decay of the Kronecker factors, in ``[0, 1)``; ``None`` sums them
            (the paper's Algorithm 1, whose :math:`L_0 = \epsilon I` is :math:`\epsilon` here).
        eps: :math:`\epsilon`, ``> 0``, added to the factors' eigenvalues before the root.
        precondition_frequency: :math:`f`, an int ``>= 1``.
        max_precond_dim: an int ``>= 1``: sides longer than this are not preconditioned.
        grafting: ``"adagrad"``, ``"rmsprop"``, ``"sgd"`` or ``"none"``.
        graft_decay: :math:`\rho`, the RMSprop graft's decay; in ``[0, 1)``.
        graft_eps: :math:`\epsilon_g`, the Adagrad and RMSprop grafts' epsilon; ``>= 0``.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Gupta, Koren & Singer, "Shampoo: Preconditioned Stochastic Tensor Optimization", ICML
        2018, Algorithm 1. https://arxiv.org/abs/1802.09568
        Agarwal, Anil, Hazan, Koren & Zhang, "Disentangling Adaptive Gradient Methods from
        Learning Rates", 2020 (grafting). https://arxiv.org/abs/2002.11803

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.shampoo(0.1, grafting="sgd")  # direction of Shampoo, norm of the gradient
        >>> params = {"w": jnp.zeros((2, 2))}
        >>> grads = {"w": jnp.array([[3.0, 0.0], [0.0, 4.0]])}
        >>> updates, _ = opt.update(grads, opt.init(params), params)
        >>> print(jnp.linalg.norm(updates["w"]).round(4))
        0.5
    """
    return chain(
        _shampoo_direction("shampoo", beta, eps, precondition_frequency, max_precond_dim,
                           grafting, graft_decay, graft_eps),       # graft(P_L G P_R, graft step)
        scale_by_learning_rate(learning_rate),                      # * -alpha_t
    )


@alias("b1", "b2", "shampoo_beta", "eps")
def scale_by_soap(
    b1: ScalarOrSchedule = 0.95,
    b2: ScalarOrSchedule = 0.95,
    shampoo_beta: ScalarOrSchedule | None = None,
    eps: ScalarOrSchedule = 1e-8,
    precondition_frequency: int = 10,
    max_precond_dim: int = 10000,
) -> GradientTransformation:
    r"""SOAP's direction, without the learning rate and the weight decay (see :func:`soap`).

    Args:
        b1: :math:`\beta_1`, decay of the first moment; in ``[0, 1)``.
        b2: :math:`\beta_2`, decay of the second moment; in ``[0, 1)``.
        shampoo_beta: decay of the Kronecker factors; ``None`` uses ``b2``.
        eps: :math:`\epsilon`, added outside the square root; ``>= 0``.
        precondition_frequency: :math:`f`: the eigenbases are refreshed every :math:`f` steps.
        max_precond_dim: sides longer than this keep the identity basis.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Vyas et al., "SOAP: Improving and Stabilizing Shampoo using Adam", ICLR 2025.
        https://arxiv.org/abs/2409.11321
    """
    return chain(
        in_kronecker_eigenbasis(
            [ratio([debiased_momentum(b1),                   # M_hat_t = M_t / (1 - b1^t), params' basis
                    rotate_to_eigenbasis()],                 # Q_L^T M_hat_t Q_R
                   [rotate_to_eigenbasis(),                  # G' = Q_L^T G Q_R
                    debiased_root_mean_square(b2, eps, 0.0)]),  # sqrt(V_t / (1 - b2^t)) + eps
             rotate_back()],                                 # Q_L N' Q_R^T
            b2 if shampoo_beta is None else shampoo_beta,    # L, R: EMAs of G G^T, G^T G
            precondition_frequency, max_precond_dim),        # Q_L, Q_R refreshed every f steps
    )


@alias("learning_rate", "b1", "b2", "shampoo_beta", "eps", "weight_decay")
def soap(
    learning_rate: ScalarOrSchedule = 3e-3,
    b1: ScalarOrSchedule = 0.95,
    b2: ScalarOrSchedule = 0.95,
    shampoo_beta: ScalarOrSchedule | None = None,
    eps: ScalarOrSchedule = 1e-8,
    weight_decay: ScalarOrSchedule = 0.01,
    precondition_frequency: int = 10,
    max_precond_dim: int = 10000,
) -> GradientTransformation:
    r"""SOAP: Adam run in the eigenbasis of Shampoo's Kronecker factors.

    For each leaf seen as a matrix :math:`G_t` (:math:`t` zero-based; :math:`Q_L = Q_R = I`
    until the first refresh), Algorithm 3 of the paper:

    .. math::
        G'_t = Q_L^\top G_t Q_R, \qquad M_t = \beta_1 M_{t-1} + (1-\beta_1) G_t, \qquad
        V_t = \beta_2 V_{t-1} + (1-\beta_2)\, G'_t \odot G'_t, \\
        N'_t = \frac{Q_L^\top M_t Q_R / (1-\beta_1^{t+1})}{\sqrt{V_t / (1-\beta_2^{t+1})} + \epsilon},
        \qquad u_t = -\alpha_t\,(Q_L N'_t Q_R^\top + \lambda\,\theta_{t-1}), \\
        L_t = \beta_s L_{t-1} + (1-\beta_s) G_t G_t^\top, \quad
        R_t = \beta_s R_{t-1} + (1-\beta_s) G_t^\top G_t, \\
        Q_L \leftarrow \mathrm{eigh}(L_t) \ (t = 0), \quad \mathrm{QR}(L_t Q_L)\ (t \bmod f = 0),
        \quad \text{likewise } Q_R

    The momentum :math:`M` lives in the params' basis and is rotated at each step (the paper's
    line 5), the second moment :math:`V` in the rotated one. Vectors and scalars keep the
    identity basis (plain Adam there, the reference code's ``precondition_1d=False``); leaves
    with more axes are the matrix of their last axis against the others; sides longer than
    ``max_precond_dim`` keep the identity. Deviations from the reference code, each documented
    where it is made: the first step is an Adam step (the code skips it), :math:`\epsilon`
    is added to :math:`\sqrt{\hat V}` as in Adam (the code adds it to :math:`\sqrt{V}`), the
    eigenbasis is not reordered by estimated eigenvalue, and the weight decay is AdamW's
    (:math:`-\alpha\lambda\theta_{t-1}`, the code decays the already updated weights).

    Chains :func:`in_kronecker_eigenbasis` of (:func:`ratio` of (Adam's debiased momentum,
    :func:`rotate_to_eigenbasis`) over (:func:`rotate_to_eigenbasis`, Adam's debiased root mean
    square), :func:`rotate_back`), then :func:`weight_decay` and :func:`scale_by_learning_rate`.

    Args:
        learning_rate: :math:`\alpha_t`, a number or a schedule.
        b1: :math:`\beta_1`, decay of the first moment; in ``[0, 1)``.
        b2: :math:`\beta_2`, decay of the second moment; in ``[0, 1)``.
        shampoo_beta: :math:`\beta_s`, decay of the Kronecker factors; ``None`` uses ``b2``.
        eps: :math:`\epsilon`, added outside the square root; ``>= 0``.
        weight_decay: :math:`\lambda`, decoupled weight decay; ``>= 0``.
        precondition_frequency: :math:`f`, an int ``>= 1``.
        max_precond_dim: an int ``>= 1``: sides longer than this keep the identity basis.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Vyas, Morwani, Zhao, Kwun, Shapira, Brandfonbrener, Janson & Kakade, "SOAP: Improving
        and Stabilizing Shampoo using Adam", ICLR 2025, Algorithms 3 and 4.
        https://arxiv.org/abs/2409.11321

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.soap(0.1, weight_decay=0.0)  # first step: Adam's, -lr sign(g)
        >>> params = {"w": jnp.zeros((2, 2))}
        >>> grads = {"w": jnp.array([[1.0, -2.0], [0.5, 1.0]])}
        >>> updates, _ = opt.update(grads, opt.init(params), params)
        >>> [[round(float(x), 4) for x in row] for row in updates["w"]]
        [[-0.1, 0.1], [-0.1, -0.1]]
    """
    return chain(
        in_kronecker_eigenbasis(
            [ratio([debiased_momentum(b1),                   # M_hat_t = M_t / (1 - b1^t), params' basis
                    rotate_to_eigenbasis()],                 # Q_L^T M_hat_t Q_R
                   [rotate_to_eigenbasis(),                  # G' = Q_L^T G Q_R
                    debiased_root_mean_square(b2, eps, 0.0)]),  # sqrt(V_t / (1 - b2^t)) + eps
             rotate_back()],                                 # Q_L N' Q_R^T
            b2 if shampoo_beta is None else shampoo_beta,    # L, R: EMAs of G G^T, G^T G
            precondition_frequency, max_precond_dim),        # Q_L, Q_R refreshed every f steps
        _additive.weight_decay(weight_decay),                # + lambda theta
        scale_by_learning_rate(learning_rate),               # * -alpha_t
    )
