r"""Limited-memory BFGS: the two-loop recursion as a transformation, and the ``lbfgs`` recipe.

:func:`scale_by_lbfgs` turns a gradient into the quasi-Newton direction :math:`H_k g_k`, where
:math:`H_k` is the inverse-Hessian approximation that the last :math:`m` curvature pairs
:math:`(s_i, y_i)` define; :func:`lbfgs` chains it with a sign flip and a line search from
:mod:`gradxform.transforms.linesearch`, the full-batch optimizer of Liu & Nocedal (1989).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..core import check as _check
from ..core import recipe as _recipe
from ..core import step as _step
from ..core import tree as _tree
from ..core.chain import primitive
from ..core.eager import compiled_when_eager
from ..core.protocol import GradientTransformation
from ..core.state_class import state_class
from ..core.types import PyTree
from .linesearch import plus_scaled, real_dtype


@state_class
class ScaleByLbfgsState(NamedTuple):
    count: jax.Array  # type: ignore[assignment]  # int32 scalar: updates seen so far; saturates at 2**31 - 1
    index: jax.Array  # type: ignore[assignment]  # int32 scalar in [0, memory_size): the slot the next stored pair (s, y) goes to
    params: PyTree  # the params at the previous update; params' tree and dtypes
    grad: PyTree  # the updates (gradient) at the previous update; params' tree and dtypes
    s: PyTree  # ring buffer of s_i = x_{i+1} - x_i: params' tree, each leaf with a leading axis of memory_size
    y: PyTree  # ring buffer of y_i = g_{i+1} - g_i: as s
    rho: jax.Array  # (memory_size,) real (params' real dtype, >= float32): 1 / Re<y_i, s_i>; 0 for an empty slot


PAIR_RULES = ("all", "positive")


@_recipe.factory
def scale_by_lbfgs(
    memory_size: int = 10, scale_init_precond: bool = True, *, store_pairs: str = "all"
) -> GradientTransformation:
    r"""Replace the gradient by the L-BFGS direction :math:`H_k g_k` (two-loop recursion).

    At update :math:`k` the transformation first stores the newest curvature pair, from the
    params :math:`x` and updates :math:`g` of this update and the previous one (below),

    .. math::  s_{k-1} = x_k - x_{k-1}, \qquad y_{k-1} = g_k - g_{k-1}, \qquad
               \rho_{k-1} = 1 / \mathrm{Re}\langle y_{k-1}, s_{k-1} \rangle

    in a ring buffer of the last :math:`m` pairs, then returns :math:`r = H_k g_k` from
    Algorithm 7.4 of Nocedal & Wright:

    .. math::
        q \leftarrow g_k; \quad \text{for } i = k-1, \dots, k-m:\;
            \alpha_i = \rho_i\,\mathrm{Re}\langle s_i, q\rangle,\; q \leftarrow q - \alpha_i y_i \\
        r \leftarrow \gamma_k\, q; \quad \text{for } i = k-m, \dots, k-1:\;
            \beta = \rho_i\,\mathrm{Re}\langle y_i, r\rangle,\; r \leftarrow r + (\alpha_i - \beta)\, s_i

    with the initial matrix :math:`H_k^0 = \gamma_k I`, :math:`\gamma_k = s_{k-1}^\top y_{k-1} /
    y_{k-1}^\top y_{k-1}` (N&W eq. 7.20) from the newest stored pair (1 where :math:`y = 0`).
    Empty slots have :math:`\rho_i = 0` and change nothing. On the first update, where no pair
    exists, :math:`\gamma_0 = \min(1, 1/\|g_0\|)`, so that the first step has length at most 1
    (Optax's choice; the references leave :math:`\gamma_0` open; ``scale_init_precond=False``
    gives the textbook's :math:`H_0 = I`).

    The output is the direction itself, a descent direction only after a sign flip: chain
    ``scale(-1.0)`` or ``scale_by_learning_rate(...)``, then (for full-batch problems) a line
    search such as :func:`scale_by_zoom_linesearch`, as :func:`gradxform.lbfgs` does. Inner
    products are :math:`\mathrm{Re}\langle a, b\rangle = \mathrm{Re}\sum \bar a\, b`, so complex
    params work.

    Which pairs are stored is ``store_pairs``'s choice. ``"all"`` (the default, Optax's
    convention and numbers) stores every pair, with :math:`\rho = 0` where
    :math:`\langle s, y\rangle = 0`. ``"positive"`` stores a pair only under BFGS's curvature
    condition (N&W Section 6.1), tested independently of the loss's scale and curvature:

    .. math::  \mathrm{Re}\langle s, y\rangle > \varepsilon\, \|s\|\, \|y\|

    (the cosine of the angle between :math:`s` and :math:`y` exceeds :math:`\varepsilon`, the
    dtype's machine epsilon), so that :math:`H_k` stays positive definite and :math:`-H_k g_k`
    a descent direction. A step meeting the Wolfe conditions always satisfies it, so with
    :func:`scale_by_zoom_linesearch` both choices store the same pairs; after a fixed step or
    an Armijo-only line search, ``"all"`` may store a pair of negative curvature, whose
    indefinite :math:`H_k` can point uphill: with :func:`scale_by_backtracking_linesearch`,
    Optax's L-BFGS (and ours with ``"all"``) stalls on Rosenbrock from :math:`(-1.2, 1)`, where
    ``"positive"`` converges in 44 updates.

    The transformation keeps its own update count (first update or not), so it also works inside
    ``optax.chain``; the ring index wraps around and never overflows.

    Args:
        memory_size: :math:`m`, the number of pairs kept; an int ``>= 1``. The state holds
            :math:`2m + 2` copies of the params.
        scale_init_precond: use :math:`\gamma_k` above for :math:`H_k^0`; ``False`` uses
            :math:`H_k^0 = I` (:math:`\gamma_k = 1`, on the first update too).
        store_pairs: ``"all"`` (Optax's) or ``"positive"``: which curvature pairs are stored
            (above). Keyword only; Optax has no such argument.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ScaleByLbfgsState`.

    References:
        Nocedal & Wright, "Numerical Optimization", 2nd ed., Springer, 2006, Algorithm 7.4 and
        eq. 7.20. https://doi.org/10.1007/978-0-387-40065-5
        Liu & Nocedal, "On the limited memory BFGS method for large scale optimization",
        Mathematical Programming 45, 1989. https://doi.org/10.1007/BF01589116
    """
    who = "scale_by_lbfgs"
    _check.int_at_least(who, 1, " It is the number of curvature pairs kept; try 10.", memory_size=memory_size)
    _check.flag(who, scale_init_precond=scale_init_precond)
    _check.choice(who, "store_pairs", store_pairs, PAIR_RULES)

    def init(params):  # params may be jax.ShapeDtypeStruct leaves (a jax.eval_shape-style init)
        _check.inexact_leaves(who, params)
        stacked = jax.tree.map(lambda p: jnp.zeros((memory_size,) + jnp.shape(p), jnp.result_type(p)), params)
        return ScaleByLbfgsState(
            count=_step.zero(),
            index=jnp.zeros([], jnp.int32),
            params=_tree.zeros_like(params),
            grad=_tree.zeros_like(params),
            s=stacked,
            y=jax.tree.map(jnp.zeros_like, stacked),  # buffers of its own, so the state can be donated
            rho=jnp.zeros([memory_size], real_dtype(params)),
        )

    def update(updates, state, params=None, **extra_args):
        _check.same_structure(who, updates=updates, state=state.grad)
        if params is None:
            raise ValueError(_check.PARAMS_NEEDED.format(who=who, why="to form s = x_k - x_(k-1)"))
        return run(updates, state, params)

    def step(updates, state, params):
        started = state.count > 0
        # 1. The newest pair, stored as store_pairs says (see the docstring).
        s = _tree.cast_like(_difference(params, state.params), state.params)
        y = _tree.cast_like(_difference(updates, state.grad), state.grad)
        sy = _tree.vdot(y, s)
        if store_pairs == "all":
            kept = started
        else:  # cos(s, y) > eps: invariant to the loss's scale and curvature
            kept = started & (sy > jnp.finfo(sy.dtype).eps * _tree.norm(s) * _tree.norm(y))
        slot = state.index

        def store(buffer, new):  # buffer[slot] <- new where the pair is kept
            buffer = jnp.asarray(buffer)  # a restored checkpoint may hold NumPy arrays
            return buffer.at[slot].set(jnp.where(kept, new.astype(buffer.dtype), buffer[slot]))

        rho = jnp.where(sy == 0, 0, 1 / jnp.where(sy == 0, 1, sy))
        s_memory, y_memory, rho_memory = jax.tree.map(store, (state.s, state.y, state.rho), (s, y, rho))
        index = jnp.where(kept, (slot + 1) % memory_size, slot).astype(jnp.int32)
        newest = (index + memory_size - 1) % memory_size
        # 2. H_k^0 = gamma_k I from the newest pair (N&W eq. 7.20); before any pair, a step of
        # length at most 1.
        if scale_init_precond:
            s_newest, y_newest = _slot(s_memory, newest), _slot(y_memory, newest)
            sy_newest, yy_newest = _tree.vdot(y_newest, s_newest), _tree.vdot(y_newest, y_newest)
            first = jnp.minimum(1, 1 / _tree.norm(jax.lax.stop_gradient(updates))).astype(sy_newest.dtype)
            # With "all" an empty newest slot means the first update; otherwise y = 0 (Optax: 1).
            fallback = jnp.where(started, 1, first) if store_pairs == "all" else first
            gamma = jnp.where(yy_newest > 0, sy_newest / jnp.where(yy_newest > 0, yy_newest, 1), fallback)
        else:
            gamma = jnp.ones([], rho_memory.dtype)
        # 3. The two-loop recursion, over the slots from the oldest pair to the newest.
        order = (index + jnp.arange(memory_size, dtype=jnp.int32)) % memory_size
        direction = two_loop_recursion(updates, s_memory, y_memory, rho_memory, gamma, order)
        return direction, ScaleByLbfgsState(
            count=_step.increment(state.count),
            index=index,
            params=_tree.cast_like(params, state.params),
            grad=_tree.cast_like(updates, state.grad),
            s=s_memory,
            y=y_memory,
            rho=rho_memory,
        )

    run = compiled_when_eager(step)
    return primitive(init, update)


def two_loop_recursion(g, s, y, rho, gamma, order) -> PyTree:
    r""":math:`H g` for the inverse-Hessian approximation of the pairs in ``order`` (Algorithm 7.4).

    ``s`` and ``y`` are trees whose leaves have a leading memory axis, ``rho`` the matching
    vector, ``gamma`` the scale of :math:`H^0 = \gamma I`, and ``order`` the slots from the
    oldest pair to the newest. Each leaf keeps ``g``'s dtype; scalars are in ``rho``'s dtype.
    """

    def newest_first(q, i):  # alpha_i = rho_i Re<s_i, q>;  q <- q - alpha_i y_i
        alpha = rho[i] * _tree.vdot(_slot(s, i), q).astype(rho.dtype)
        return plus_scaled(q, -alpha, _slot(y, i)), alpha

    q, alphas = jax.lax.scan(newest_first, g, order, reverse=True)
    r = jax.tree.map(lambda leaf: _tree.times(leaf, gamma), q)

    def oldest_first(r, i_alpha):  # beta = rho_i Re<y_i, r>;  r <- r + (alpha_i - beta) s_i
        i, alpha = i_alpha
        beta = rho[i] * _tree.vdot(_slot(y, i), r).astype(rho.dtype)
        return plus_scaled(r, alpha - beta, _slot(s, i)), None

    r, _ = jax.lax.scan(oldest_first, r, (order, alphas))
    return r


def _difference(a: PyTree, b: PyTree) -> PyTree:
    return jax.tree.map(lambda x, y: jnp.subtract(*_tree.promoted(x, y)), a, b)


def _slot(tree: PyTree, i: jax.Array) -> PyTree:
    """Entry ``i`` of a ring buffer: each leaf's row ``i`` along the leading memory axis."""
    return jax.tree.map(lambda leaf: leaf[i], tree)


# --- Update rules in LaTeX, for a recipe's rendering in a notebook ------------------------------


@_recipe.formula("scale_by_lbfgs")
def _lbfgs_rule(a, x, fresh):
    s, y, rho, h, gamma = fresh("s"), fresh("y"), fresh(r"\rho"), fresh("H"), fresh(r"\gamma")
    previous = "g_{t-1}" if x == "g_t" else rf"\left.{_recipe.group(x)}\right|_{{t-1}}"
    if a.get("scale_init_precond", "True") == "True":
        ratio = rf"\frac{{{s}_{{t-1}}^\top {y}_{{t-1}}}}{{{y}_{{t-1}}^\top {y}_{{t-1}}}}"
        first = rf"{gamma} = \min(1, 1/\|{x}\|) \text{{ at the first update}}"
        start = rf"{h}_t^0 &= {gamma}_t I, \quad {gamma}_t = {ratio} \quad ({first})"
    else:
        start = rf"{h}_t^0 &= I"
    return rf"{h}_t\,{_recipe.group(x)}", [
        rf"{s}_{{t-1}} &= \theta_t - \theta_{{t-1}}, \quad {y}_{{t-1}} = {x} - {previous}, \quad "
        rf"{rho}_{{t-1}} = 1 / \mathrm{{Re}}\langle {y}_{{t-1}}, {s}_{{t-1}} \rangle",
        start,
        rf"{h}_t {_recipe.group(x)} &= \text{{two-loop recursion from }} {h}_t^0 \text{{ over the last }} "
        rf"{a.get('memory_size', '10')} \text{{ pairs }} ({s}_i, {y}_i, {rho}_i)",
    ]
