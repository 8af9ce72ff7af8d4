r"""Limited-memory BFGS: the two-loop recursion as a transformation, and the ``lbfgs`` recipe.

:func:`scale_by_lbfgs` turns a gradient into the quasi-Newton direction :math:`H_k g_k`, where
:math:`H_k` is the inverse-Hessian approximation that the last :math:`m` curvature pairs
:math:`(s_i, y_i)` define; :func:`lbfgs` chains it with a sign flip and a line search from
:mod:`gradxform._linesearch`, the full-batch optimizer of Liu & Nocedal (1989).
"""
from __future__ import annotations

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from . import _check, _step, _tree
from ._core import GradientTransformation, chain, identity
from ._linesearch import plus_scaled, real_dtype, scale_by_zoom_linesearch
from ._scaling import ScalarOrSchedule, scale, scale_by_learning_rate

PyTree = Any


class ScaleByLbfgsState(NamedTuple):
    count: jax.Array  # int32 scalar: updates seen so far; saturates at 2**31 - 1
    index: jax.Array  # int32 scalar in [0, memory_size): the slot the next stored pair (s, y) goes to
    params: PyTree  # the params at the previous update; params' tree and dtypes
    grad: PyTree  # the updates (gradient) at the previous update; params' tree and dtypes
    s: PyTree  # ring buffer of s_i = x_{i+1} - x_i: params' tree, each leaf with a leading axis of memory_size
    y: PyTree  # ring buffer of y_i = g_{i+1} - g_i: as s
    rho: jax.Array  # (memory_size,) real (params' real dtype, >= float32): 1 / Re<y_i, s_i> > 0; 0 for an empty slot


def scale_by_lbfgs(memory_size: int = 10, scale_init_precond: bool = True) -> GradientTransformation:
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
    y_{k-1}^\top y_{k-1}` (N&W eq. 7.20). Empty slots have :math:`\rho_i = 0` and change nothing.
    On the first update, where no pair exists, :math:`\gamma_0 = \min(1, 1/\|g_0\|)`, so that the
    first step has length at most 1 (Optax's choice; the references leave :math:`\gamma_0` open).

    The output is the direction itself, a descent direction only after a sign flip: chain
    ``scale(-1.0)`` or ``scale_by_learning_rate(...)``, then (for full-batch problems) a line
    search such as :func:`scale_by_zoom_linesearch`, as :func:`gradxform.lbfgs` does. Inner
    products are :math:`\mathrm{Re}\langle a, b\rangle = \mathrm{Re}\sum \bar a\, b`, so complex
    params work.

    A pair is stored only if it has positive curvature, :math:`\mathrm{Re}\langle s, y\rangle >
    \varepsilon \|y\|^2` (:math:`\varepsilon` the dtype's machine epsilon): BFGS keeps
    :math:`H_k` positive definite, and :math:`-H_k g_k` a descent direction, only under this
    curvature condition (N&W Section 6.1). A step meeting the Wolfe conditions always satisfies
    it, so with :func:`scale_by_zoom_linesearch` nothing is skipped and the updates are
    Optax's; Optax also stores the pairs that fail it, whose indefinite :math:`H_k` can point
    uphill after a fixed step or an Armijo-only line search (we deliberately differ there).
    :math:`\gamma_k` comes from the newest stored pair.

    The transformation keeps its own update count (first update or not), so it also works inside
    ``optax.chain``; the ring index wraps around and never overflows.

    Args:
        memory_size: :math:`m`, the number of pairs kept; an int ``>= 1``. The state holds
            :math:`2m + 2` copies of the params.
        scale_init_precond: use :math:`\gamma_k` above for :math:`H_k^0`; ``False`` uses
            :math:`H_k^0 = I` (:math:`\gamma_k = 1`, on the first update too).

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

    def init(params):
        _check.inexact_leaves(who, params)
        stacked = jax.tree.map(lambda p: jnp.zeros((memory_size,) + jnp.shape(p), jnp.result_type(p)), params)
        return ScaleByLbfgsState(
            count=_step.zero(),
            index=jnp.zeros([], jnp.int32),
            params=_tree.zeros_like(params),
            grad=_tree.zeros_like(params),
            s=stacked,
            y=stacked,
            rho=jnp.zeros([memory_size], real_dtype(params)),
        )

    def update(updates, state, params=None, **extra_args):
        _check.same_structure(who, updates=updates, state=state.grad)
        if params is None:
            raise ValueError(_check.PARAMS_NEEDED.format(who=who, why="to form s = x_k - x_(k-1)"))
        started = state.count > 0
        # 1. The newest pair, stored only where it has positive curvature (see the docstring).
        s = _tree.cast_like(_difference(params, state.params), state.params)
        y = _tree.cast_like(_difference(updates, state.grad), state.grad)
        sy, yy = _tree.vdot(y, s), _tree.vdot(y, y)
        curved = started & (sy > jnp.finfo(sy.dtype).eps * yy)
        slot = state.index
        s_memory, y_memory, rho_memory = jax.tree.map(
            lambda buffer, new: jnp.asarray(buffer).at[slot].set(jnp.where(curved, new.astype(buffer.dtype), buffer[slot])),
            (state.s, state.y, state.rho),
            (s, y, jnp.where(curved, 1 / sy, 0)),
        )
        index = jnp.where(curved, (slot + 1) % memory_size, slot).astype(jnp.int32)
        newest = (index + memory_size - 1) % memory_size
        # 2. H_k^0 = gamma_k I from the newest pair (N&W eq. 7.20); before any pair, a step of
        # length at most 1.
        if scale_init_precond:
            s_newest, y_newest = _slot(s_memory, newest), _slot(y_memory, newest)
            gamma = _tree.vdot(y_newest, s_newest) / _tree.vdot(y_newest, y_newest)
            first = jnp.minimum(1, 1 / _tree.norm(jax.lax.stop_gradient(updates))).astype(gamma.dtype)
            gamma = jnp.where(rho_memory[newest] > 0, gamma, first)
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

    return GradientTransformation(init, update)


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


def lbfgs(
    learning_rate: Optional[ScalarOrSchedule] = None,
    memory_size: int = 10,
    scale_init_precond: bool = True,
    linesearch: Optional[GradientTransformation] = scale_by_zoom_linesearch(
        max_linesearch_steps=20, initial_guess_strategy="one"
    ),
) -> GradientTransformation:
    r"""L-BFGS: a quasi-Newton direction from the last :math:`m` gradient differences, and a line search.

    .. math::
        d_k = -H_k g_k, \qquad x_{k+1} = x_k + \eta_k\, d_k

    where :math:`H_k g_k` is the two-loop recursion (Nocedal & Wright, Algorithm 7.4) over the
    pairs :math:`s_i = x_{i+1} - x_i`, :math:`y_i = g_{i+1} - g_i` of the last :math:`m`
    updates, with :math:`H_k^0 = \gamma_k I`, :math:`\gamma_k = s_{k-1}^\top y_{k-1} /
    y_{k-1}^\top y_{k-1}` (see :func:`scale_by_lbfgs`), and the step :math:`\eta_k` satisfies the
    strong Wolfe conditions, with :math:`c_1 = 10^{-4}`, :math:`c_2 = 0.9`,

    .. math::
        f(x_k + \eta d_k) \le f(x_k) + c_1 \eta\, g_k^\top d_k, \qquad
        |\nabla f(x_k + \eta d_k)^\top d_k| \le c_2\, |g_k^\top d_k|,

    found by :func:`scale_by_zoom_linesearch` (N&W Algorithms 3.5 and 3.6), trying
    :math:`\eta = 1` first. Chains :func:`scale_by_lbfgs`, then :func:`scale` by -1 (or
    :func:`scale_by_learning_rate` when ``learning_rate`` is given), then the line search
    (:func:`identity` when ``linesearch=None``): Optax's ``lbfgs``, same arguments.

    A line search needs the loss: every ``update`` takes ``value`` (the loss at ``params``),
    ``grad`` (its gradient) and ``value_fn`` (the loss function, ``value_fn(params, **kw)``;
    extra arguments of ``update`` that ``value_fn`` names, such as data, are passed on). The
    loss and gradient at the accepted point are in the line search's state (``value``,
    ``grad``). For full-batch problems; with mini-batches, drop the line search and give a
    learning rate.

    Args:
        learning_rate: :math:`\eta`, a fixed step or schedule; ``None`` (the default) leaves
            the step to the line search.
        memory_size: :math:`m`, the number of curvature pairs kept; an int ``>= 1``.
        scale_init_precond: use :math:`\gamma_k` above for :math:`H_k^0` (else the identity).
        linesearch: a transformation that chooses the step, such as
            :func:`scale_by_zoom_linesearch` (the default, with ``max_linesearch_steps=20`` and
            ``initial_guess_strategy="one"``) or :func:`scale_by_backtracking_linesearch`;
            ``None`` for none.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState` of
        (:class:`ScaleByLbfgsState`, :class:`ScaleState` or :class:`ScaleByLearningRateState`,
        the line search's state or :class:`EmptyState`).

    References:
        Liu & Nocedal, "On the limited memory BFGS method for large scale optimization",
        Mathematical Programming 45, 1989. https://doi.org/10.1007/BF01589116
        Nocedal & Wright, "Numerical Optimization", 2nd ed., Springer, 2006, Algorithms 3.5,
        3.6, 7.4 and 7.5. https://doi.org/10.1007/978-0-387-40065-5

    Example:
        >>> import jax, jax.numpy as jnp, gradxform as gx
        >>> f = lambda w: (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2  # Rosenbrock
        >>> opt, w = gx.lbfgs(), jnp.array([-1.2, 1.0]); state = opt.init(w)
        >>> for _ in range(40):
        ...     value, grad = jax.value_and_grad(f)(w)
        ...     updates, state = opt.update(grad, state, w, value=value, grad=grad, value_fn=f)
        ...     w = gx.apply_updates(w, updates)
        >>> print(w.round(6))
        [1. 1.]
    """
    sign_and_rate = scale(-1.0) if learning_rate is None else scale_by_learning_rate(learning_rate)
    return chain(
        scale_by_lbfgs(memory_size, scale_init_precond),  # H_k g_k, the two-loop recursion
        sign_and_rate,                                    # d_k = -H_k g_k (times eta_k if given)
        identity() if linesearch is None else linesearch,  # * eta_k meeting the Wolfe conditions
    )


def _difference(a: PyTree, b: PyTree) -> PyTree:
    return jax.tree.map(lambda x, y: jnp.subtract(*_tree.promoted(x, y)), a, b)


def _slot(tree: PyTree, i: jax.Array) -> PyTree:
    """Entry ``i`` of a ring buffer: each leaf's row ``i`` along the leading memory axis."""
    return jax.tree.map(lambda leaf: leaf[i], tree)
