"""Per-coordinate step sizes from running statistics of the updates: RMSprop, Adagrad, Adadelta.

The named compositions here (:func:`scale_by_rms`, :func:`scale_by_stddev`, :func:`scale_by_rss`,
:func:`scale_by_adadelta`) exist for Optax parity; each is a :func:`ratio` of the raw update over
a denominator built from primitives, so it rounds like Optax's fused version up to the order of
one multiplication.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ..core import check as _check
from ..core import hyperparams as _hyper
from ..core import recipe as _recipe
from ..core import tree as _tree
from ..core.chain import primitive, sequence
from ..core.combinators import parallel_sum, ratio
from ..core.named import Named
from ..core.protocol import GradientTransformation, identity
from ..core.state_class import state_class
from ..core.types import Hyper, PyTree
from . import moments as _moments
from .elementwise import sqrt_plus_eps, square
from .moments import mean_of_squares, scale_by_momentum


def _root(eps: Named | float, eps_in_sqrt: bool) -> GradientTransformation:
    """:func:`sqrt_plus_eps` with ``eps`` under the root or after it, and no term in the other place."""
    return sqrt_plus_eps(None, eps_root=eps) if eps_in_sqrt else sqrt_plus_eps(eps, eps_root=None)


@_recipe.factory
def scale_by_rms(
    decay: float = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
    *,
    centered: bool = False,
    nu_dtype: Any = None,
) -> GradientTransformation:
    r"""Divide each update by the root of a running mean of its square (RMSprop's scaling).

    .. math::
        \nu_t = \rho\,\nu_{t-1} + (1-\rho)\,|g_t|^2, \qquad \nu_0 = \nu_{init}, \\
        u_t = g_t / \sqrt{\nu_t + \epsilon} \quad (\texttt{eps\_in\_sqrt=True}), \qquad
        u_t = g_t / (\sqrt{\nu_t} + \epsilon) \quad (\texttt{eps\_in\_sqrt=False})

    With ``centered=True`` the mean of squares is replaced by a variance (Graves 2013), see
    :func:`scale_by_stddev`. With ``bias_correction=True`` each running mean is divided by
    :math:`1-\rho^t` before use. A composition::

        ratio(identity(),                              # g / ...
              [mean_of_squares(decay, initial_scale),  # nu_t
               bias_correction(decay),                 # only if bias_correction
               sqrt_plus_eps(eps_root=eps)])           # sqrt(nu_t + eps), or sqrt(nu_t) + eps

    ``decay`` and ``eps`` are each one hyperparameter of the state, shared by every primitive
    that uses them: :func:`gradxform.hyperparams` reads them as ``"decay"`` and ``"eps"`` and
    :func:`gradxform.set_hyperparams` changes each everywhere at once. Optax multiplies by
    ``rsqrt`` where this divides by ``sqrt``: results agree to an ulp.

    Args:
        decay: :math:`\rho`, the weight kept from the previous mean; in ``[0, 1)``; a number or
            a schedule.
        eps: :math:`\epsilon`; ``>= 0``; a number or a schedule.
        initial_scale: :math:`\nu_{init}`; ``>= 0``. Optax and PyTorch use 0, TensorFlow 1 uses 1.
            Used only by ``init``: not a hyperparameter of the state.
        eps_in_sqrt: add :math:`\epsilon` under the root (Optax's default) or after it (PyTorch).
        bias_correction: divide the running means by :math:`1-\rho^t`.
        centered: divide by the root of the variance :math:`\nu_t - \mu_t^2` instead.
        nu_dtype: dtype in which the running mean (and, if centered, the running mean of the
            updates) is stored; ``None`` keeps the params' dtype. Computed in the wider dtype and
            rounded only when stored, see :func:`mean_of_squares`.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`RatioState` holding a
        :class:`MeanOfSquaresState` (and, if centered, a :class:`ScaleByMomentumState`).

    References:
        Tieleman & Hinton, "Lecture 6.5 -- RMSProp: Divide the gradient by a running average of
        its recent magnitude", Neural Networks for Machine Learning (Coursera), 2012.
        https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf
    """
    who = "scale_by_stddev" if centered else "scale_by_rms"
    _check.decay(who, decay=decay)
    _check.non_negative(who, eps=eps, initial_scale=initial_scale)
    _check.not_both_zero(who, "1e-8", initial_scale=initial_scale, eps=eps)
    decay, eps = _hyper.shared(decay=decay, eps=eps)

    def debiased():
        return [_moments.bias_correction(decay)] if bias_correction else []

    second_moment = [mean_of_squares(decay, initial_scale, nu_dtype), *debiased()]  # E[g^2]_t
    if centered:
        mean = scale_by_momentum(decay, ema=True, dtype=nu_dtype)
        second_moment = [
            parallel_sum(
                (1, second_moment),                                # E[g^2]_t
                (-1, [mean, *debiased(), square()]),               # - E[g]_t^2
            )
        ]
    return ratio(identity(), [*second_moment, _root(eps, eps_in_sqrt)])


@_recipe.factory
def scale_by_stddev(
    decay: float = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
    *,
    nu_dtype: Any = None,
) -> GradientTransformation:
    r"""Divide each update by the root of a running variance of it (centered RMSprop's scaling).

    .. math::
        \mu_t = \rho\,\mu_{t-1} + (1-\rho)\,g_t, \qquad
        \nu_t = \rho\,\nu_{t-1} + (1-\rho)\,|g_t|^2, \\
        u_t = g_t / \sqrt{\nu_t - |\mu_t|^2 + \epsilon}
        \quad\text{or}\quad g_t / (\sqrt{\nu_t - |\mu_t|^2} + \epsilon)

    The same as :func:`scale_by_rms` with ``centered=True``: the variance is
    ``parallel_sum((1, mean_of_squares), (-1, [scale_by_momentum(ema=True), square()]))``.

    ``decay`` and ``eps`` are the state's hyperparameters ``"decay"`` and ``"eps"``.

    Args:
        decay: :math:`\rho`, the weight kept from both previous means; in ``[0, 1)``; a number
            or a schedule.
        eps: :math:`\epsilon`; ``>= 0``; a number or a schedule.
        initial_scale: :math:`\nu_0`; ``>= 0`` (:math:`\mu_0 = 0`); used only by ``init``.
        eps_in_sqrt: add :math:`\epsilon` under the root (Optax's default) or after it.
        bias_correction: divide both running means by :math:`1-\rho^t`.
        nu_dtype: dtype in which both running means are stored; ``None`` keeps the params'.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`RatioState` holding a
        :class:`MeanOfSquaresState` and a :class:`ScaleByMomentumState`.

    References:
        Graves, "Generating Sequences With Recurrent Neural Networks", arXiv 2013, Eqs. 38-41.
        https://arxiv.org/abs/1308.0850
    """
    return scale_by_rms(
        decay, eps, initial_scale, eps_in_sqrt, bias_correction, centered=True, nu_dtype=nu_dtype
    )


@state_class
class SumOfSquaresState(NamedTuple):
    sum_of_squares: PyTree  # initial value plus every squared update; params' tree, in `dtype`


@_recipe.factory
def sum_of_squares(initial_value: float = 0.0, dtype: Any = None) -> GradientTransformation:
    r"""Replace each update by the running sum of its squares (Adagrad's accumulator).

    .. math::  G_t = G_{t-1} + |g_t|^2, \qquad G_0 = G_{init}, \qquad u_t = G_t

    Args:
        initial_value: :math:`G_{init}`; ``>= 0``. Optax's Adagrad uses 0.1, PyTorch's 0.
        dtype: dtype in which :math:`G` is stored; ``None`` keeps the params' dtype. The sum is
            taken in the wider of it and the updates' dtype, output unrounded and rounded when
            stored. A narrow dtype stops counting small squares once :math:`G` is large
            (bfloat16 keeps 8 significant bits).

    Returns:
        A :class:`GradientTransformation` whose state is :class:`SumOfSquaresState`.

    References:
        Duchi, Hazan & Singer, "Adaptive Subgradient Methods for Online Learning and Stochastic
        Optimization", JMLR 12, 2011. https://jmlr.org/papers/v12/duchi11a.html
    """
    _check.non_negative("sum_of_squares", initial_value=initial_value)

    def init(params):
        _check.inexact_leaves("sum_of_squares", params)
        return SumOfSquaresState(sum_of_squares=_tree.full_like(params, initial_value, dtype))

    def update(updates, state, params=None, **extra_args):
        _check.same_structure("sum_of_squares", updates=updates, state=state.sum_of_squares)
        # |g|^2 is real; for complex params the sum keeps their complex dtype (as Optax's does).
        total = jax.tree.map(
            lambda g, s: jnp.add(*_tree.promoted(_tree.abs_sq(g), s)), updates, state.sum_of_squares
        )
        return total, SumOfSquaresState(sum_of_squares=_tree.cast_like(total, state.sum_of_squares))

    return primitive(init, update)


@_recipe.factory
def scale_by_rss(
    initial_accumulator_value: float = 0.1,
    eps: float = 1e-7,
    *,
    eps_in_sqrt: bool = True,
    nu_dtype: Any = None,
) -> GradientTransformation:
    r"""Divide each update by the root of the sum of its squares so far (Adagrad's scaling).

    .. math::
        G_t = G_{t-1} + |g_t|^2, \qquad G_0 = G_{init}, \\
        u_t = g_t / \sqrt{G_t + \epsilon} \quad (\texttt{eps\_in\_sqrt=True}, \text{Optax}), \qquad
        u_t = g_t / (\sqrt{G_t} + \epsilon) \quad (\texttt{eps\_in\_sqrt=False}, \text{PyTorch})

    A composition: ``ratio(identity(), [sum_of_squares(initial_accumulator_value),
    sqrt_plus_eps(...)])``. Optax guards :math:`G_t = 0` with a ``where``; here that case can
    only arise when both ``initial_accumulator_value`` and ``eps`` are 0, which is refused.
    ``eps`` is the state's hyperparameter ``"eps"``.

    Args:
        initial_accumulator_value: :math:`G_{init}`; ``>= 0``; used only by ``init``.
        eps: :math:`\epsilon`; ``>= 0``, and ``> 0`` if ``initial_accumulator_value`` is 0; a
            number or a schedule.
        eps_in_sqrt: add :math:`\epsilon` under the root (Optax) or after it (PyTorch).
        nu_dtype: dtype in which :math:`G` is stored; ``None`` keeps the params' dtype.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`RatioState` holding a
        :class:`SumOfSquaresState`.

    References:
        Duchi, Hazan & Singer, "Adaptive Subgradient Methods for Online Learning and Stochastic
        Optimization", JMLR 12, 2011. https://jmlr.org/papers/v12/duchi11a.html
    """
    _check.non_negative(
        "scale_by_rss", initial_accumulator_value=initial_accumulator_value, eps=eps
    )
    _check.not_both_zero(
        "scale_by_rss", "1e-10", initial_accumulator_value=initial_accumulator_value, eps=eps
    )
    (eps,) = _hyper.shared(eps=eps)
    root = _root(eps, eps_in_sqrt)
    return ratio(identity(), [sum_of_squares(initial_accumulator_value, nu_dtype), root])


@state_class
class ScaleByAdadeltaUnitsState(NamedTuple):
    e_x: PyTree  # running mean of squared outputs, Zeiler's E[dx^2]; params' tree and dtype


@_recipe.factory
def scale_by_adadelta_units(rho: Hyper = 0.9, eps: Hyper = 1e-6) -> GradientTransformation:
    r"""Multiply each update by the RMS of past outputs, restoring the units of the parameters.

    Adadelta's correction (Zeiler 2012, Section 3.2): the output is multiplied by the root of a
    running mean of the squares of the previous outputs, and that mean is then updated with the
    new output.

    .. math::
        u_t = \sqrt{E[\Delta x^2]_{t-1} + \epsilon}\;g_t, \qquad
        E[\Delta x^2]_t = \rho\,E[\Delta x^2]_{t-1} + (1-\rho)\,|u_t|^2, \qquad E[\Delta x^2]_0 = 0

    Args:
        rho: :math:`\rho`, the weight kept from the previous mean; in ``[0, 1)``; a number or a
            schedule.
        eps: :math:`\epsilon`; ``> 0`` (with 0 the first output, and so every output, is 0); a
            number or a schedule.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ScaleByAdadeltaUnitsState` (in a chain; on its own,
        the one link of a :class:`ChainState`).

    References:
        Zeiler, "ADADELTA: An Adaptive Learning Rate Method", arXiv 2012, Algorithm 1, lines 5-6.
        https://arxiv.org/abs/1212.5701
    """
    _check.decay("scale_by_adadelta_units", rho=rho)
    _check.positive("scale_by_adadelta_units", eps=eps)
    _check.not_subnormal("scale_by_adadelta_units", eps=eps)
    hyper = _hyper.declare("scale_by_adadelta_units", rho=rho, eps=eps)

    def init(params):
        _check.inexact_leaves("scale_by_adadelta_units", params)
        return ScaleByAdadeltaUnitsState(e_x=_tree.zeros_like(params))

    def update(updates, state, params=None, **extra_args):
        _check.same_structure("scale_by_adadelta_units", updates=updates, state=state.e_x)
        h = hyper.read(extra_args)
        beta, weight, eps_t = h("rho"), h("rho", lambda r: 1 - r), h("eps")

        def scaled(g, e):  # sqrt(E[dx^2] + eps) * g, in the dtype g and e promote to
            out = _tree.result_dtype(g, e)
            dtype = _tree.compute_dtype(out)
            root = jnp.sqrt(e.astype(dtype) + eps_t.astype(dtype))
            return (root * g.astype(dtype)).astype(out)

        out = jax.tree.map(scaled, updates, state.e_x)
        e_x = jax.tree.map(lambda u, e: _tree.blend(_tree.abs_sq(u), e, weight, beta), out, state.e_x)
        return out, ScaleByAdadeltaUnitsState(_tree.cast_like(e_x, state.e_x))

    return primitive(init, update, hyper)


@_recipe.factory
def scale_by_adadelta(rho: float = 0.9, eps: float = 1e-6) -> GradientTransformation:
    r"""Scale each update by Adadelta's ratio of past-update RMS to gradient RMS.

    .. math::
        E[g^2]_t = \rho\,E[g^2]_{t-1} + (1-\rho)\,|g_t|^2, \\
        u_t = \frac{\sqrt{E[\Delta x^2]_{t-1} + \epsilon}}{\sqrt{E[g^2]_t + \epsilon}}\,g_t, \qquad
        E[\Delta x^2]_t = \rho\,E[\Delta x^2]_{t-1} + (1-\rho)\,|u_t|^2

    A sequence of two links: ``ratio(identity(), [mean_of_squares(rho),
    sqrt_plus_eps(eps_root=eps)])`` then :func:`scale_by_adadelta_units`. The output is a descent
    direction's negative (it points along the gradient); chain a negative learning rate after it.
    ``rho`` and ``eps`` are each one hyperparameter of the state (``"rho"``, ``"eps"``), shared
    by both links: :func:`gradxform.set_hyperparams` changes each in both at once.

    Args:
        rho: :math:`\rho`, the weight kept from both previous means; in ``[0, 1)``; a number or
            a schedule.
        eps: :math:`\epsilon`; ``> 0``; a number or a schedule.

    Returns:
        A :class:`GradientTransformation` whose state is a tuple of a :class:`RatioState` (holding
        a :class:`MeanOfSquaresState`) and a :class:`ScaleByAdadeltaUnitsState`.

    References:
        Zeiler, "ADADELTA: An Adaptive Learning Rate Method", arXiv 2012, Algorithm 1.
        https://arxiv.org/abs/1212.5701
    """
    _check.decay("scale_by_adadelta", rho=rho)
    _check.positive("scale_by_adadelta", eps=eps)
    _check.not_subnormal("scale_by_adadelta", eps=eps)
    rho, eps = _hyper.shared(rho=rho, eps=eps)
    return sequence(
        ratio(identity(), [mean_of_squares(rho), _root(eps, eps_in_sqrt=True)]),
        scale_by_adadelta_units(rho, eps),
    )


# --- Update rules in LaTeX, for a recipe's rendering in a notebook ------------------------------


@_recipe.formula("sum_of_squares")
def _sum_of_squares_rule(a, x, fresh):
    s = fresh("G")
    return rf"{s}_t", [rf"{s}_t &= {s}_{{t-1}} + {_recipe.group(x)}^2"]


@_recipe.formula("scale_by_adadelta_units")
def _adadelta_units_rule(a, x, fresh):
    step, rho = fresh(r"\Delta x"), a.get("rho", "0.9")
    return rf"{step}_t", [
        rf"{step}_t &= \sqrt{{E[{step}^2]_{{t-1}} + {a.get('eps', '1e-06')}}}\;{_recipe.group(x)}",
        rf"E[{step}^2]_t &= {rho}\,E[{step}^2]_{{t-1}} + (1 - {rho})\,|{step}_t|^2",
    ]
