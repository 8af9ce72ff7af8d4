"""Primitives that treat each leaf as a whole: Adafactor's factored RMS and relative step, SM3.

Adafactor and SM3 save memory over Adam's element-wise second moment by keeping statistics of a
leaf's rows and columns (Adafactor) or of each slice along each axis (SM3) rather than one per
entry. Adafactor's relative step multiplies each update by the size (RMS, or norm) of its
parameter *block*: one leaf, a weight matrix or a bias vector. A value computed from a leaf as a
whole is used on that leaf, so none of these primitives is leaf-wise: :func:`gradxform.flatten`
rejects them.
"""
from __future__ import annotations

import functools
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from ..core import check as _check
from ..core import hyperparams as _hyper
from ..core import recipe as _recipe
from ..core import step as _step
from ..core import tree as _tree
from ..core.chain import primitive
from ..core.protocol import EmptyState, GradientTransformation
from ..core.state_class import state_class
from ..core.types import Hyper, PyTree

COMPLEX_NOT_SUPPORTED = (
    "{who}: SM3's accumulators are maxima and minima of squared gradients, defined for real "
    "parameters only, got {dtype} at {path}. Split complex parameters into real and imaginary "
    "parts, or use an optimizer that supports them (e.g. adafactor or adam)."
)


# --- Adafactor: the factored second moment ---------------------------------------------------


def _decay_rate_pow(step: jax.Array, exponent: jax.Array) -> jax.Array:
    r"""Adafactor's second-moment decay :math:`\hat\beta_{2,t} = 1 - t^{-c}` with :math:`t` = ``step + 1``.

    Computed in float32 (also under x64), as Optax does; the count saturates at ``2**31 - 1``
    instead of wrapping to a negative :math:`t`.
    """
    t = jnp.asarray(_step.advance(step, 1), jnp.float32)
    return 1.0 - t ** (-jnp.asarray(exponent, jnp.float32))


FACTORED_AXES = ("largest", "last")
EPS_PLACEMENTS = ("squared_gradient", "estimate")


def _factored_axes(
    shape: tuple, factored: bool, min_dim_size_to_factor: int, rule: str = "largest"
) -> Optional[tuple[int, int]]:
    """(row axis i, column axis j) of a leaf whose second moment is factored, or None.

    Rows are averaged over :math:`j`, columns over :math:`i`. ``rule="largest"`` (Optax,
    the paper) takes the second-largest and the largest axis, ties keeping the earlier axis first
    (a stable sort, so a square matrix keeps its mean over axis 1 as its row statistics, as
    Optax's does); ``"last"`` (PyTorch) the last two. A leaf is factored when ``factored`` is set
    and both axes have at least ``min_dim_size_to_factor`` entries.
    """
    if not factored or len(shape) < 2:
        return None
    if rule == "last":
        rows, cols = len(shape) - 2, len(shape) - 1
    else:
        order = np.argsort(shape, kind="stable")
        rows, cols = int(order[-2]), int(order[-1])
    if min(shape[rows], shape[cols]) < min_dim_size_to_factor:
        return None
    return rows, cols


def _zeros_summed_over(param: jax.Array, axis: int | tuple[int, ...]) -> jax.Array:
    """Zeros shaped like ``param`` summed over ``axis``, in its dtype (under jit, with the
    sharding the sum would have)."""
    return jnp.zeros_like(jax.eval_shape(functools.partial(jnp.sum, axis=axis), param))


def _unzip(like: PyTree, tuples: PyTree, n: int) -> tuple:
    """The ``n`` trees shaped like ``like`` held by a tree of ``n``-tuples at its leaves."""
    return tuple(jax.tree.map(lambda _, t, i=i: t[i], like, tuples) for i in range(n))


def _placeholder(param: jax.Array) -> jax.Array:
    """The one zero standing in for a statistic a leaf does not keep (Optax's layout)."""
    return jnp.zeros((1,), param.dtype)


def _running_mean(decay_t, old, new):
    """:math:`\\hat\\beta_t\\,v_{t-1} + (1-\\hat\\beta_t)\\,x_t` in the dtype the three promote to.

    :math:`1-\\hat\\beta_t` is taken in :math:`\\hat\\beta_t`'s own dtype (float32 for the
    default decay) and widened afterwards, as Optax computes it.
    """
    with jax.numpy_dtype_promotion("standard"):
        return decay_t * old + (1.0 - decay_t) * new


@state_class
class ScaleByFactoredRmsState(NamedTuple):
    v_row: PyTree  # per leaf: its mean square over the column axis j if factored, else a (1,) zero; params' dtype
    v_col: PyTree  # per leaf: its mean square over the row axis i if factored, else a (1,) zero
    v: PyTree  # per leaf: the full mean square if not factored, else a (1,) zero; params' dtype


@_recipe.factory
def scale_by_factored_rms(
    factored: bool = True,
    decay_rate: Hyper = 0.8,
    step_offset: int = 0,
    min_dim_size_to_factor: int = 128,
    epsilon: Optional[Hyper] = 1e-30,
    decay_rate_fn: Callable[[jax.Array, jax.Array], jax.Array] = _decay_rate_pow,
    *,
    factored_axes: str = "largest",
    eps_placement: str = "squared_gradient",
) -> GradientTransformation:
    r"""Divide each update by a factored estimate of its root mean square (Adafactor's scaling).

    With :math:`s` the step count (0 on the first update), :math:`k` the ``step_offset`` and
    :math:`\hat\beta_t = \text{decay\_rate\_fn}(s - k, c)`, by default :math:`1 - (s-k+1)^{-c}`,
    the squared gradient :math:`G_t = |g_t|^2 + \epsilon_1` of a leaf whose two largest axes
    have at least ``min_dim_size_to_factor`` entries keeps only its means over each of them:

    .. math::
        R_t = \hat\beta_t R_{t-1} + (1-\hat\beta_t)\,\operatorname{mean}_{j} G_t, \qquad
        C_t = \hat\beta_t C_{t-1} + (1-\hat\beta_t)\,\operatorname{mean}_{i} G_t, \\
        u_t = g_t \odot \left(\frac{R_t}{\operatorname{mean}_i R_t}\right)^{-1/2}_{\!i}
                  \odot \left(C_t\right)^{-1/2}_{\!j}

    where :math:`j` is the largest axis and :math:`i` the second largest, so that
    :math:`R_t C_t^\top / \operatorname{mean}(R_t)` estimates the full second moment (Shazeer &
    Stern, Algorithm 4). Any other leaf keeps it whole:
    :math:`V_t = \hat\beta_t V_{t-1} + (1-\hat\beta_t)\,G_t`, :math:`u_t = g_t V_t^{-1/2}`.
    Statistics are stored in the params' dtype, and the update uses the stored values.

    PyTorch's ``Adafactor`` places :math:`\epsilon_1` elsewhere (``eps_placement="estimate"``):
    the statistics average :math:`|g_t|^2` itself, and :math:`\epsilon_1` bounds the estimate
    from below instead,

    .. math::
        \hat V_t = \frac{R_t C_t^\top}{\max(\operatorname{mean}_i R_t,\ \epsilon_1)}, \qquad
        u_t = g_t / \sqrt{\max(\hat V_t,\ \epsilon_1^2)}

    (:math:`u_t = g_t / \sqrt{\max(V_t, \epsilon_1^2)}` unfactored), and it factors the
    last two axes of every leaf of rank 2 or more (``factored_axes="last"``,
    ``min_dim_size_to_factor=0``).

    Args:
        factored: factor the second moment of leaves that are large enough; ``False`` keeps
            every leaf's whole.
        decay_rate: :math:`c`, the argument of ``decay_rate_fn`` (the exponent of the default
            decay); a finite number or a schedule.
        step_offset: :math:`k`, an int ``>= 0``: the step a fine-tuning run starts from, so
            that its decay restarts at :math:`\hat\beta = 0`.
        min_dim_size_to_factor: factor a leaf only if its two largest axes have at least this
            many entries; an int ``>= 0``.
        epsilon: :math:`\epsilon_1`, added to every squared gradient; ``> 0`` (0 would make an
            entry whose gradients were all 0 compute 0/0). With
            ``eps_placement="estimate"``, ``None`` is the machine epsilon of each leaf's dtype
            (PyTorch's default).
        decay_rate_fn: ``(step - step_offset, decay_rate) -> decay``; the default is
            Adafactor's :math:`1 - t^{-c}` with :math:`t` the one-based count, in float32. A
            bounded one (Zhai et al. 2021) keeps the moment from freezing.
        factored_axes: which two axes a factored leaf keeps statistics of: ``"largest"`` (the
            two largest, Optax and the paper) or ``"last"`` (PyTorch); keyword only.
        eps_placement: ``"squared_gradient"`` (Optax, the paper) or ``"estimate"`` (PyTorch),
            as above; keyword only.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ScaleByFactoredRmsState` (in a
        chain; on its own, the one link of a :class:`ChainState`).

    References:
        Shazeer & Stern, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost",
        ICML 2018. https://arxiv.org/abs/1804.04235
        Zhai, Kolesnikov, Houlsby & Beyer, "Scaling Vision Transformers", CVPR 2022.
        https://arxiv.org/abs/2106.04560
    """
    who = "scale_by_factored_rms"
    _check.flag(who, factored=factored)
    _check.finite(who, decay_rate=decay_rate)
    _check.int_at_least(who, 0, step_offset=step_offset)
    _check.int_at_least(who, 0, min_dim_size_to_factor=min_dim_size_to_factor)
    _check.choice(who, "factored_axes", factored_axes, FACTORED_AXES)
    _check.choice(who, "eps_placement", eps_placement, EPS_PLACEMENTS)
    if epsilon is not None or eps_placement == "squared_gradient":
        _check.positive(who, epsilon=epsilon)  # 0: a leaf whose gradients were all 0 gives 0/0
    _check.is_callable(who, decay_rate_fn=decay_rate_fn)
    declared = {} if epsilon is None else {"epsilon": epsilon}
    hyper = _hyper.declare(who, decay_rate=decay_rate, **declared)
    estimate_floor = eps_placement == "estimate"

    def axes_of(leaf):
        return _factored_axes(np.shape(leaf), factored, min_dim_size_to_factor, factored_axes)

    def init(params):
        _check.inexact_leaves(who, params)

        def statistics(p):
            axes = axes_of(p)
            if axes is None:
                return _placeholder(p), _placeholder(p), _tree.zeros_like(p)
            rows, cols = axes
            return _zeros_summed_over(p, cols), _zeros_summed_over(p, rows), _placeholder(p)

        return ScaleByFactoredRmsState(*_unzip(params, jax.tree.map(statistics, params), 3))

    def scaled(g, row, col, v, decay_t, eps):
        """One leaf's update and its statistics."""
        squared = _tree.abs_sq(g)
        if eps is None:  # PyTorch's default: the machine epsilon of the leaf's dtype
            eps = jnp.asarray(jnp.finfo(squared.dtype).eps)
        if not estimate_floor:
            squared = squared + eps.astype(squared.dtype)  # G = |g|^2 + eps_1
        axes = axes_of(g)
        with jax.numpy_dtype_promotion("standard"):
            if axes is None:
                v = _running_mean(decay_t, v, squared).astype(v.dtype)
                if estimate_floor:
                    return g * jax.lax.rsqrt(jnp.maximum(v, (eps * eps).astype(v.dtype))), row, col, v
                return g * v ** -0.5, row, col, v
            rows, cols = axes
            row = _running_mean(decay_t, row, jnp.mean(squared, axis=cols)).astype(row.dtype)
            col = _running_mean(decay_t, col, jnp.mean(squared, axis=rows)).astype(col.dtype)
            row_axis = rows - 1 if rows > cols else rows  # axis i of R, once j is gone
            row_mean = jnp.mean(row, axis=row_axis, keepdims=True)
            if estimate_floor:  # PyTorch: max(R C^T / max(mean_i R, eps), eps^2)^(-1/2)
                estimate = jnp.expand_dims(row, cols) * jnp.expand_dims(col, rows)
                estimate = estimate / jnp.expand_dims(jnp.maximum(row_mean, eps.astype(row.dtype)), cols)
                return g * jax.lax.rsqrt(jnp.maximum(estimate, (eps * eps).astype(estimate.dtype))), row, col, v
            row_factor = (row / row_mean) ** -0.5
            out = g * jnp.expand_dims(row_factor, cols) * jnp.expand_dims(col ** -0.5, rows)
            return out, row, col, v

    def update(updates, state, params=None, **extra_args):
        _check.same_structure(who, updates=updates, state=state.v)
        h = hyper.read(extra_args)
        step = _step.read(extra_args, who)
        decay_t = decay_rate_fn(step - jnp.asarray(step_offset, step.dtype), h("decay_rate"))
        eps = None if epsilon is None else h("epsilon")
        out = jax.tree.map(lambda g, r, c, v: scaled(g, r, c, v, decay_t, eps),
                           updates, state.v_row, state.v_col, state.v)
        new_updates, *statistics = _unzip(updates, out, 4)
        return new_updates, ScaleByFactoredRmsState(*statistics)

    return primitive(init, update, hyper, reads_step=True)


# --- SM3: one accumulator per slice along each axis ---------------------------------------------


def _cover_shape(shape: tuple, axis: int) -> list[int]:
    """``shape`` with every axis but ``axis`` set to 1 (the accumulator of axis ``axis``, broadcast)."""
    return [n if i == axis else 1 for i, n in enumerate(shape)]


def _other_axes(axis: int, rank: int) -> tuple[int, ...]:
    return tuple(i for i in range(rank) if i != axis)


def _reject_complex(who: str, params: PyTree) -> None:
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        if jnp.iscomplexobj(leaf):
            raise TypeError(COMPLEX_NOT_SUPPORTED.format(
                who=who, dtype=jnp.result_type(leaf), path=jax.tree_util.keystr(path) or "<root>"))


@state_class
class ScaleByCoverRssState(NamedTuple):
    # One tree shaped like the params per axis a, up to the params' largest rank (at least one):
    # nu[a] holds, for a leaf of rank >= 2, the accumulators of its slices along axis a (shape
    # (n_a,)); for a leaf of rank 0 or 1, nu[0] is shaped like the leaf. A (1,) zero stands in
    # where a leaf has no axis a. Params' dtype.
    nu: tuple


@_recipe.factory
def scale_by_cover_rss(b2: Hyper = 1.0, eps: Hyper = 1e-8) -> GradientTransformation:
    r"""Divide each update by the root of SM3's cover accumulators (Adagrad with sublinear memory).

    The entries of a leaf of rank :math:`d \ge 2` are covered by :math:`d` families of slices:
    slice :math:`r` of axis :math:`a` holds every entry whose index along :math:`a` is
    :math:`r`. One accumulator :math:`\mu_{a}(r)` per slice (Anil et al., SM3-II):

    .. math::
        \nu_t(i) = w\,g_t(i)^2 + \beta_2 \min_{a} \mu_{a,t-1}(i_a), \qquad
        \mu_{a,t}(r) = \max_{i:\, i_a = r} \nu_t(i), \\
        u_t(i) = g_t(i) \,/\, \sqrt{\nu_t(i) + \epsilon} \quad\text{where } \nu_t(i) > 0,
        \quad 0 \text{ elsewhere}

    with :math:`w = 1` if :math:`\beta_2 = 1` (the paper's running sum) and :math:`1-\beta_2`
    otherwise. A leaf of rank 0 or 1 is its own cover: :math:`\nu_t = w\,g_t^2 + \beta_2\nu_{t-1}`,
    Adagrad's sum of squares when :math:`\beta_2 = 1` (Optax 0.2.8 fails on rank-0 leaves). The
    state holds :math:`\sum_a n_a` numbers for a leaf of shape :math:`n_1 \times \dots \times n_d`,
    in one tree per axis (:class:`ScaleByCoverRssState`). Real parameters only.

    Args:
        b2: :math:`\beta_2`, the weight kept from the previous accumulator; in ``[0, 1]``.
        eps: :math:`\epsilon`, added under the root; ``>= 0``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ScaleByCoverRssState` (in a
        chain; on its own, the one link of a :class:`ChainState`).

    References:
        Anil, Gupta, Koren & Singer, "Memory-Efficient Adaptive Optimization", NeurIPS 2019,
        Algorithm SM3-II. https://arxiv.org/abs/1901.11150
    """
    who = "scale_by_cover_rss"
    _check.unit_interval(who, b2=b2)
    _check.non_negative(who, eps=eps)
    hyper = _hyper.declare(who, b2=b2, eps=eps)

    def init(params):
        _check.inexact_leaves(who, params)
        _reject_complex(who, params)
        slots = max([np.ndim(p) for p in jax.tree.leaves(params)] + [1])

        def accumulators(p):
            if p.ndim < 2:  # the leaf is its own cover: a moment like any other
                own = [_tree.zeros_like(p)]
            else:
                own = [_zeros_summed_over(p, _other_axes(a, p.ndim)) for a in range(p.ndim)]
            return tuple(own) + (_placeholder(p),) * (slots - len(own))

        return ScaleByCoverRssState(nu=_unzip(params, jax.tree.map(accumulators, params), slots))

    def scaled(g, mu, weight, beta, eps_t):
        """One leaf's update and its new accumulators (``mu``: one per axis, then placeholders)."""
        rank = g.ndim
        if rank < 2:
            previous = mu[0]
        else:
            previous = functools.reduce(jnp.minimum, [mu[a].reshape(_cover_shape(g.shape, a)) for a in range(rank)])
        nu = _tree.blend(_tree.abs_sq(g), previous, weight, beta)  # w g^2 + b2 min_a mu_a
        root = jnp.where(nu > 0, jax.lax.rsqrt(nu + eps_t.astype(nu.dtype)), 0.0)  # 0/0 = 0
        out = jnp.multiply(*_tree.promoted(g, root))
        if rank < 2:
            return (out, nu.astype(mu[0].dtype), *mu[1:])
        # nu >= 0, so a maximum over no entries (a leaf with an empty axis) is 0, not an error.
        initial = 0 if g.size == 0 else None
        new = [jnp.max(nu, axis=_other_axes(a, rank), initial=initial).astype(mu[a].dtype) for a in range(rank)]
        return (out, *new, *mu[rank:])

    def update(updates, state, params=None, **extra_args):
        _check.same_structure(who, updates=updates, state=state.nu[0])
        h = hyper.read(extra_args)
        beta = h("b2")
        weight = h("b2", lambda b: jnp.where(b == 1, 1.0, 1 - b))  # the paper's sum when b2 = 1
        eps_t = h("eps")
        out = jax.tree.map(lambda g, *mu: scaled(g, mu, weight, beta, eps_t), updates, *state.nu)
        new_updates, *nu = _unzip(updates, out, 1 + len(state.nu))
        return new_updates, ScaleByCoverRssState(nu=tuple(nu))

    return primitive(init, update, hyper)


# --- Adafactor's relative step: scaling by the size of each parameter block --------------------


def _block_norm(p: jax.Array) -> jax.Array:
    """:math:`\\|p\\|_2` over every entry of the leaf (real, also for complex ``p``)."""
    return jnp.linalg.norm(p)


def _block_rms(p: jax.Array) -> jax.Array:
    """:math:`\\sqrt{\\operatorname{mean}|p|^2}` over every entry of the leaf."""
    return jnp.sqrt(jnp.mean(_tree.abs_sq(p)))


def _scale_by_param_block(who: str, size: Callable, min_scale: Hyper) -> GradientTransformation:
    """Multiply each update leaf by ``max(size(param leaf), min_scale)``."""
    _check.non_negative(who, min_scale=min_scale)
    hyper = _hyper.declare(who, min_scale=min_scale)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        if params is None:
            raise ValueError(_check.PARAMS_NEEDED.format(
                who=who, why="(the current parameters) to scale each update by their size"))
        _check.same_structure(who, updates=updates, params=params)
        floor = hyper.read(extra_args)("min_scale")

        def scaled(g, p):
            s = size(p)
            s = jnp.where(s <= floor.astype(s.dtype), floor.astype(s.dtype), s)  # max(size, floor)
            return jnp.multiply(*_tree.promoted(g, s))

        return jax.tree.map(scaled, updates, params), EmptyState()

    return primitive(init, update, hyper)


@_recipe.factory
def scale_by_param_block_norm(min_scale: Hyper = 1e-3) -> GradientTransformation:
    r"""Multiply each update leaf by the L2 norm of its parameter leaf, at least ``min_scale``.

    .. math::  u_t = g_t \cdot \max\!\left(\|\theta_{t-1}\|_2,\ s_{min}\right)

    where the norm runs over every entry of the leaf (Frobenius for a matrix).

    Args:
        min_scale: :math:`s_{min}`, the smallest factor, so that a zero block still moves;
            ``>= 0``, a number or a schedule.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState` (in a chain; on its
        own, the one link of a :class:`ChainState`). ``update`` needs ``params``.

    References:
        Shazeer & Stern, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost",
        ICML 2018, Section 8 (relative step size). https://arxiv.org/abs/1804.04235
    """
    return _scale_by_param_block("scale_by_param_block_norm", _block_norm, min_scale)


@_recipe.factory
def scale_by_param_block_rms(min_scale: Hyper = 1e-3) -> GradientTransformation:
    r"""Multiply each update leaf by the root mean square of its parameter leaf, at least ``min_scale``.

    .. math::  u_t = g_t \cdot \max\!\left(\operatorname{RMS}(\theta_{t-1}),\ s_{min}\right),
               \qquad \operatorname{RMS}(\theta) = \sqrt{\operatorname{mean}|\theta|^2}

    Adafactor's ``multiply_by_parameter_scale``: Shazeer & Stern's relative step
    :math:`\max(\epsilon_2, \operatorname{RMS}(X_{t-1}))` (Algorithm 4), with :math:`\epsilon_2`
    = ``min_scale``.

    Args:
        min_scale: :math:`s_{min}`, the smallest factor, so that a zero block still moves;
            ``>= 0``, a number or a schedule.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState` (in a chain; on its
        own, the one link of a :class:`ChainState`). ``update`` needs ``params``.

    References:
        Shazeer & Stern, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost",
        ICML 2018, Section 8 (relative step size). https://arxiv.org/abs/1804.04235
    """
    return _scale_by_param_block("scale_by_param_block_rms", _block_rms, min_scale)


@_recipe.factory
def scale_by_relative_step(max_step: Hyper = 1e-2) -> GradientTransformation:
    r"""Multiply each update by Adafactor's relative step size, which decays as :math:`1/\sqrt{t}`.

    .. math::  u_t = \rho_t\, g_t, \qquad \rho_t = \min\!\left(\rho_{max},\ 1/\sqrt{t}\right)

    with :math:`t` the one-based step. Shazeer & Stern take :math:`\rho_{max} = 10^{-2}`;
    PyTorch's ``Adafactor`` takes its learning rate. Multiplied by
    :func:`scale_by_param_block_rms`, this is the paper's relative step
    :math:`\alpha_t = \max(\epsilon_2, \operatorname{RMS}(\theta_{t-1}))\,\rho_t`. It keeps
    the sign of the update, as ``scale_by_learning_rate(..., flip_sign=False)`` does.

    Args:
        max_step: :math:`\rho_{max}`, ``>= 0``, a number or a schedule.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState` (in a chain; on its
        own, the one link of a :class:`ChainState`).

    References:
        Shazeer & Stern, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost",
        ICML 2018, Section 8 (relative step size). https://arxiv.org/abs/1804.04235
    """
    who = "scale_by_relative_step"
    _check.non_negative(who, max_step=max_step)
    hyper = _hyper.declare(who, max_step=max_step)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        cap = hyper.read(extra_args)("max_step")
        t = _step.advance(_step.read(extra_args, who), 1).astype(cap.dtype)  # one-based
        rho = jnp.minimum(cap, jax.lax.rsqrt(t))
        return jax.tree.map(lambda g: _tree.times(g, rho), updates), EmptyState()

    return primitive(init, update, hyper, reads_step=True)


# --- Update rules in LaTeX, for a recipe's rendering in a notebook ------------------------------


@_recipe.formula("scale_by_factored_rms")
def _factored_rms_rule(a, x, fresh):
    v = fresh("v")
    return rf"{_recipe.group(x)} / \sqrt{{{v}_t}}", [
        rf"{v}_t &= \hat\beta_{{2,t}}\,{v}_{{t-1}} + (1 - \hat\beta_{{2,t}})\,|{x}|^2"
        r" \quad\text{(factored: row and column means)}"
    ]


@_recipe.formula("scale_by_cover_rss")
def _cover_rss_rule(a, x, fresh):
    v = fresh(r"\nu")
    return rf"{_recipe.group(x)} / \sqrt{{{v}_t + {a.get('eps', '1e-08')}}}", [
        rf"{v}_t &= |{x}|^2 + {a.get('b2', '1.0')} \min_{{\text{{covers}}}} \mu_{{t-1}}"
    ]


@_recipe.formula("scale_by_param_block_norm")
def _block_norm_rule(a, x, fresh):
    return rf"\max(\|\theta_{{t-1}}\|_2, {a.get('min_scale', '0.001')})\,{_recipe.group(x)}", []


@_recipe.formula("scale_by_relative_step")
def _relative_step_rule(a, x, fresh):
    return rf"\min({a.get('max_step', '0.01')}, 1/\sqrt{{t}})\,{_recipe.group(x)}", []


@_recipe.formula("scale_by_param_block_rms")
def _block_rms_rule(a, x, fresh):
    return rf"\max(\operatorname{{RMS}}(\theta_{{t-1}}), {a.get('min_scale', '0.001')})\,{_recipe.group(x)}", []
