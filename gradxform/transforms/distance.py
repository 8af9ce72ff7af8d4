"""Distance over gradients (DoG): a step size set by how far the params have moved from their start.

Per leaf (per layer), the step is the largest distance travelled so far over the root of the
sum of squared gradients: no learning rate to tune.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ..core import check as _check
from ..core import hyperparams as _hyper
from ..core import recipe as _recipe
from ..core import tree as _tree
from ..core.chain import primitive
from ..core.protocol import GradientTransformation
from ..core.state_class import state_class
from ..core.types import Hyper, PyTree

COMPLEX_INTO_REAL = (
    "{who}: param_dtype={param_dtype} is real but the parameter at {path} is {dtype}; storing it "
    "would drop its imaginary part. Pass param_dtype=None to keep each parameter's own dtype."
)


@state_class
class ScaleByDistanceOverGradientsState(NamedTuple):
    max_dist: PyTree  # per leaf, a scalar: the largest distance from the initial params so far (its real dtype)
    grad_sum_of_squares: PyTree  # per leaf, a scalar: sum of |g|^2 over past updates (float32, float64 under x64)
    init_params: PyTree  # the params at init, in `param_dtype`


@_recipe.factory
def scale_by_distance_over_gradients(
    reps_rel: float = 1e-6, eps: Hyper = 1e-8, param_dtype: Any = jnp.float32, global_scale: Hyper = 1.0
) -> GradientTransformation:
    r"""Scale each leaf's update by the largest distance travelled over the root of its gradients' sum of squares.

    For each leaf (a layer's weight matrix, a bias vector) with initial value :math:`\theta_0`:

    .. math::
        \bar r_t = \max\big(\bar r_{t-1}, \|\theta_{t-1} - \theta_0\|\big), \qquad
        \bar r_0 = r_\epsilon\,(1 + \|\theta_0\|), \\
        G_t = G_{t-1} + \|g_t\|^2, \qquad
        u_t = s\,\frac{\bar r_t}{\sqrt{G_t + \epsilon}}\,g_t

    This is the paper's layer-wise DoG (LDoG), as Optax implements it; the authors recommend
    averaging the iterates (:func:`gradxform.ema_params` around the optimizer). The output
    points up the gradient for :math:`s = 1`: pass ``global_scale=-1.0`` (or chain
    ``scale(-1.0)``) to descend. Unlike Optax, each update keeps its parameter's shape (Optax's
    is of shape ``(1,)`` for a scalar parameter) and the sum of squares is a scalar per leaf.

    Args:
        reps_rel: :math:`r_\epsilon`, the initial distance relative to :math:`1 + \|\theta_0\|`
            (the first step's size); a number ``> 0``. The paper recommends ``1e-4`` for models
            with batch normalization, ``1e-6`` otherwise.
        eps: :math:`\epsilon`, added under the square root; ``>= 0``.
        param_dtype: dtype in which :math:`\theta_0` is stored; ``None`` keeps each parameter's.
        global_scale: :math:`s`, a factor of every update, typically ``1.0`` or ``-1.0``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ScaleByDistanceOverGradientsState`
        (in a chain; on its own, the one link of a :class:`ChainState`); its ``update`` needs params.

    References:
        Ivgi, Hinder & Carmon, "DoG is SGD's Best Friend: A Parameter-Free Dynamic Step Size
        Schedule", ICML 2023. https://arxiv.org/abs/2302.12022
    """
    who = "scale_by_distance_over_gradients"
    _check.fixed(who, reps_rel=reps_rel)
    _check.positive(who, reps_rel=reps_rel)
    _check.non_negative(who, eps=eps)
    _check.finite(who, global_scale=global_scale)
    hyper = _hyper.declare(who, eps=eps, global_scale=global_scale)

    def init(params):
        _check.inexact_leaves(who, params)
        _check_param_dtype(who, params, param_dtype)
        return ScaleByDistanceOverGradientsState(
            max_dist=jax.tree.map(lambda x: _initial_distance(x, reps_rel), params),
            grad_sum_of_squares=_tree.scalars_like(params, 0, _sum_dtype),
            # its own buffers, never the params' (a donated step would delete them)
            init_params=jax.tree.map(lambda x: jnp.array(x, dtype=param_dtype, copy=True), params),
        )

    def update(updates, state, params=None, **extra_args):
        if params is None:
            raise ValueError(_check.PARAMS_NEEDED.format(who=who, why="(its distance from the initial params)"))
        _check.same_structure(who, updates=updates, state=state.max_dist)
        h = hyper.read(extra_args)
        eps_t, scale_t = h("eps"), h("global_scale")

        def farthest(d, x, x0):
            return jnp.maximum(*_tree.promoted(d, _norm(jnp.subtract(*_tree.promoted(x, x0))))).astype(d.dtype)

        def accumulate(total, g):
            return total + jnp.sum(_tree.abs_sq(g)).astype(total.dtype)

        def scale_leaf(g, d, total):
            dtype = _tree.result_dtype(d, total, _tree.compute_dtype(g.dtype))
            eta = scale_t.astype(dtype) * (d.astype(dtype) / jnp.sqrt(total.astype(dtype) + eps_t.astype(dtype)))
            return (eta * g.astype(dtype)).astype(g.dtype)

        max_dist = jax.tree.map(farthest, state.max_dist, params, state.init_params)
        totals = jax.tree.map(accumulate, state.grad_sum_of_squares, updates)
        out = jax.tree.map(scale_leaf, updates, max_dist, totals)
        return out, ScaleByDistanceOverGradientsState(max_dist, totals, state.init_params)

    return primitive(init, update, hyper)


def _norm(x: jax.Array) -> jax.Array:
    """:math:`\\|x\\|_2` over the whole leaf, in its real dtype (float32 or wider)."""
    x = x.astype(_tree.compute_dtype(x.dtype))
    return jnp.sqrt(jnp.sum(_tree.abs_sq(x)))


def _initial_distance(x: jax.Array, reps_rel: float) -> jax.Array:
    norm = _norm(x)
    return jnp.asarray(reps_rel, norm.dtype) * (1 + norm)


def _sum_dtype(x: jax.Array) -> Any:
    """The default float dtype (float32, float64 under x64), widened to the leaf's real dtype."""
    real = jnp.finfo(_tree.compute_dtype(x.dtype)).dtype
    return _tree.result_dtype(real, _hyper.dtype())


def _check_param_dtype(who: str, params, param_dtype) -> None:
    if param_dtype is None or jnp.issubdtype(param_dtype, jnp.complexfloating):
        return
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        if jnp.iscomplexobj(leaf):
            where = jax.tree_util.keystr(path) or "<root>"
            raise TypeError(COMPLEX_INTO_REAL.format(
                who=who, param_dtype=jnp.dtype(param_dtype).name, path=where, dtype=jnp.result_type(leaf)))


# --- Update rules in LaTeX, for a recipe's rendering in a notebook ------------------------------


@_recipe.formula("scale_by_distance_over_gradients")
def _distance_rule(a, x, fresh):
    r, total = fresh(r"\bar r"), fresh("G")
    return rf"{a.get('global_scale', '1.0')}\,\frac{{{r}_t}}{{\sqrt{{{total}_t + {a.get('eps', '1e-08')}}}}}\,{x}", [
        rf"{r}_t &= \max({r}_{{t-1}}, \|\theta_{{t-1}} - \theta_0\|)",
        rf"{total}_t &= {total}_{{t-1}} + \|{_recipe.group(x)}\|^2",
    ]
