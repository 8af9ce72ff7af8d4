r"""Coin betting: step sizes learned by betting a growing wealth on the sign of the next gradient.

COCOB bets per coordinate on the params themselves (Orabona & Tommasi 2017); Mechanic bets on one
global scale of any optimizer's updates (Cutkosky, Defazio & Mehta 2023). Neither has a learning
rate to tune.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..core import check as _check
from ..core import hyperparams as _hyper
from ..core import link as _link
from ..core import recipe as _recipe
from ..core import step as _step
from ..core import tree as _tree
from ..core.chain import primitive
from ..core.link import Branch
from ..core.protocol import GradientTransformation
from ..core.state_class import state_class
from ..core.types import Hyper, PyTree
from .distance_estimates import added, copy_of_params, needs_params, real_vdot, scalar_dtype

REAL_ONLY = (
    "{who}: the coin-betting rule compares and clips real numbers only, got a {dtype} parameter "
    "at {path}. Optimize the real and imaginary parts as separate real parameters."
)


@state_class
class ScaleByCocobState(NamedTuple):
    init_particles: PyTree  # theta_1, the params at init
    cumulative_gradients: PyTree  # -sum of the gradients so far; params' tree and dtype
    scale: PyTree  # L, the largest |g| so far (eps at init); params' tree and dtype
    subgradients: PyTree  # G, the sum of |g| so far; params' tree and dtype
    reward: PyTree  # R, the wealth won so far, >= 0; params' tree and dtype


@_recipe.factory
def scale_by_cocob(alpha: Hyper = 100.0, eps: float = 1e-8) -> GradientTransformation:
    r"""Replace each update by the COCOB-Backprop step: bet a fraction of the wealth won so far.

    Per coordinate, with :math:`\theta_1` the params at ``init`` and :math:`L_0 = \epsilon`,
    :math:`G_0 = R_0 = 0`:

    .. math::
        L_t = \max(L_{t-1}, |g_t|), \quad G_t = G_{t-1} + |g_t|, \quad
        R_t = \max\big(R_{t-1} - g_t\,(\theta_t - \theta_1),\ 0\big), \quad
        C_t = C_{t-1} - g_t, \\
        u_t = \theta_1 + \frac{C_t}{L_t \max(G_t + L_t,\ \alpha L_t)}\,(L_t + R_t) - \theta_t

    so that :func:`gradxform.apply_updates` moves the params to the bet :math:`\theta_{t+1}`.
    The input is the gradient itself (no sign flip, no learning rate).

    Args:
        alpha: :math:`\alpha`, caps the fraction bet early on at :math:`1/\alpha`; ``> 0``.
        eps: :math:`\epsilon`, the initial :math:`L` (avoids dividing by zero); a number ``> 0``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ScaleByCocobState` (in a
        chain; on its own, the one link of a :class:`ChainState`); its ``update`` needs params.

    References:
        Orabona & Tommasi, "Training Deep Networks without Learning Rates Through Coin
        Betting", NeurIPS 2017, Algorithm 2. https://arxiv.org/abs/1705.07795
    """
    who = "scale_by_cocob"
    _check.positive(who, alpha=alpha)
    _check.fixed(who, eps=eps)
    _check.positive(who, eps=eps)
    hyper = _hyper.declare(who, alpha=alpha)

    def init(params):
        _real_leaves(who, params)
        def zeros():  # a buffer of its own for each field: a donated step may not see one twice
            return _tree.zeros_like(params)

        return ScaleByCocobState(copy_of_params(params), zeros(), _tree.full_like(params, eps), zeros(), zeros())

    def update(updates, state, params=None, **extra_args):
        needs_params(who, params, "(the bet is a point, reached from the current params)")
        _check.same_structure(who, updates=updates, state=state.scale)
        alpha_t = hyper.read(extra_args)("alpha")
        scale = jax.tree.map(lambda L, g: jnp.maximum(L, jnp.abs(g)), state.scale, updates)
        subgradients = jax.tree.map(lambda G, g: G + jnp.abs(g), state.subgradients, updates)
        reward = jax.tree.map(lambda R, g, p, p0: jnp.maximum(R - g * (p - p0), 0),
                              state.reward, updates, params, state.init_particles)
        cumulative = jax.tree.map(lambda C, g: C - g, state.cumulative_gradients, updates)

        def bet(p, p0, C, L, G, R):
            a = alpha_t.astype(L.dtype)
            return -p + (p0 + C / (L * jnp.maximum(G + L, a * L)) * (L + R))

        out = jax.tree.map(bet, params, state.init_particles, cumulative, scale, subgradients, reward)
        return out, ScaleByCocobState(state.init_particles, cumulative, scale, subgradients, reward)

    return primitive(init, update, hyper)


@state_class
class MechanizeState(NamedTuple):
    base_optimizer_state: PyTree  # the wrapped optimizer's state
    r: jax.Array  # (num_betas,) the reward of each bettor; the params' widest real dtype
    m: jax.Array  # (num_betas,) running maximum of |h|, the clipping bound of h
    v: jax.Array  # (num_betas,) discounted sum of h^2
    s: jax.Array  # (num_betas,) each bettor's scale; their sum scales the updates
    x0: PyTree  # the params at the first update (the reference point)


@_recipe.factory
def mechanize(
    base_optimizer: Branch,
    weight_decay: Hyper = 1e-2,
    eps: Hyper = 1e-8,
    s_init: float = 1e-6,
    num_betas: int = 6,
) -> GradientTransformation:
    r"""Learn the scale of any optimizer's updates (Mechanic): a learning-rate tuner for ``base_optimizer``.

    With :math:`\Delta_t` the sum of the base optimizer's updates so far, the params are
    :math:`\theta_t = \theta_0 + S_{t-1}\,\Delta_{t-1}`, where :math:`S = \sum_i s_i` is learned
    by :math:`n` coin bettors with discounts :math:`\beta_i = 1 - 10^{-i}`. Each step (the memory
    light form, which recomputes :math:`\Delta_{t-1} = (\theta_t - \theta_0)/(S_{t-1} + \epsilon)`):

    .. math::
        \tilde g_t = g_t + \lambda\,S_{t-1}\,\frac{\|g_t\|}{\|\theta_t\| + \epsilon}\,\theta_t, \qquad
        h_t = \langle \tilde g_t, \Delta_{t-1} \rangle, \\
        m_{t,i} = \max(\beta_i m_{t-1,i},\ |h_t| + \epsilon), \quad
        v_{t,i} = \beta_i^2 v_{t-1,i} + h_t^2, \quad
        r_{t,i} = \beta_i r_{t-1,i} + \operatorname{clip}(h_t, \pm m_{t-1,i})\, s_{t-1,i}, \\
        s_{t,i} = \frac{(s_{init}/n)\, m_{t,i} + \max(r_{t,i}, 0)}{\sqrt{v_{t,i}} + \epsilon}, \qquad
        \theta_{t+1} = \theta_0 + S_t\,(\Delta_{t-1} + b_t)

    where :math:`b_t` is ``base_optimizer``'s update of the raw gradient :math:`g_t`; the output
    is :math:`u_t = \theta_{t+1} - \theta_t`. :math:`\theta_0` is taken at the first update (so
    params replaced after ``init``, e.g. by pretrained weights, are the reference). Give the base
    optimizer a learning rate (or schedule peak) of 1: Mechanic finds the scale. The clipping of
    :math:`h` was added by the authors after the paper, as in Optax.

    Args:
        base_optimizer: the optimizer whose updates are scaled: a transformation, or a list of
            them applied in sequence.
        weight_decay: :math:`\lambda`, Mechanic's own decay (added to the gradient it bets on,
            not to the base optimizer's); ``>= 0``.
        eps: :math:`\epsilon`; ``> 0``.
        s_init: :math:`s_{init}`, the initial total scale (each bettor starts at it); a number
            ``> 0``.
        num_betas: :math:`n`, the number of bettors (discounts :math:`0.9, 0.99, \dots`); an
            int ``>= 1``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`MechanizeState` (in a chain; on
        its own, the one link of a :class:`ChainState`); its ``update`` needs params.

    References:
        Cutkosky, Defazio & Mehta, "Mechanic: A Learning Rate Tuner", NeurIPS 2023,
        Algorithm 1. https://arxiv.org/abs/2306.00144
    """
    who = "mechanize"
    _check.non_negative(who, weight_decay=weight_decay)
    _check.positive(who, eps=eps)
    _check.fixed(who, s_init=s_init)
    _check.positive(who, s_init=s_init)
    _check.int_at_least(who, 1, num_betas=num_betas)
    hyper = _hyper.declare(who, weight_decay=weight_decay, eps=eps)
    wrapped = _link.branch(base_optimizer, who)
    discounts = [1.0 - 0.1**i for i in range(1, num_betas + 1)]

    def init(params):
        _check.inexact_leaves(who, params)
        dtype = scalar_dtype(params)
        def zeros():  # a buffer of its own for each field: a donated step may not see one twice
            return jnp.zeros([num_betas], dtype)

        return MechanizeState(wrapped.raw.init(params), zeros(), zeros(), zeros(),
                              jnp.full([num_betas], s_init, dtype), copy_of_params(params))

    def update(updates, state, params=None, **extra_args):
        needs_params(who, params, "(the scale is learned from their distance to the start)")
        _check.same_structure(who, updates=updates, state=state.x0)  # before the base's own checks
        base_updates, base_state = wrapped.raw.update(updates, state.base_optimizer_state, params, **extra_args)
        values = hyper.read(extra_args)
        dtype = state.s.dtype
        wd, eps_t = values("weight_decay").astype(dtype), values("eps").astype(dtype)
        first = _step.read(extra_args, who) == 0
        x0 = jax.tree.map(lambda p, x: jnp.where(first, p, x), params, state.x0)
        total = jnp.sum(state.s)
        decay = wd * total * _norm(updates).astype(dtype) / (_norm(params).astype(dtype) + eps_t)
        decayed = jax.tree.map(lambda g, p: g + _times(decay, p), updates, params)
        delta_prev = jax.tree.map(lambda x, start: _divided(start - x, total + eps_t), params, x0)
        h = real_vdot(decayed, delta_prev).astype(dtype)
        r, m, v, s = _bet(state, h, eps_t, jnp.array(discounts, dtype), s_init / num_betas)
        out = jax.tree.map(lambda start, d, b, x: (start - _times(jnp.sum(s), d - b)) - x,
                           x0, delta_prev, base_updates, params)
        return out, MechanizeState(base_state, r, m, v, s, x0)

    return primitive(init, update, hyper, reads_step=True, parts={"base_optimizer": wrapped})


def _bet(state: MechanizeState, h: jax.Array, eps: jax.Array, betas: jax.Array, wealth_init: float):
    """Mechanic's bettors, one per discount: their rewards, bounds, variances and new scales."""
    clipped_h = jax.lax.clamp(-state.m, jnp.ones_like(state.m) * h, state.m)
    m = jnp.maximum(betas * state.m, jnp.abs(h) + eps)
    v = (betas**2) * state.v + h**2
    r = betas * state.r + clipped_h * state.s
    wealth = wealth_init * m + jnp.maximum(0.0, r)
    return r, m, v, wealth / (jnp.sqrt(v) + eps)


# --- Helpers -------------------------------------------------------------------------------------


def _times(factor: jax.Array, x: jax.Array) -> jax.Array:
    """``factor * x`` for a scalar ``factor``, in ``x``'s dtype (widened to float32 to compute)."""
    dtype = _tree.compute_dtype(x.dtype)
    return (factor.astype(dtype) * x.astype(dtype)).astype(x.dtype)


def _divided(x: jax.Array, divisor: jax.Array) -> jax.Array:
    dtype = _tree.compute_dtype(x.dtype)
    return (x.astype(dtype) / divisor.astype(dtype)).astype(x.dtype)


def _norm(tree: PyTree) -> jax.Array:
    r""":math:`\|x\|` over every leaf, leaf sums added in order (Optax's), in their promoted dtype."""
    return jnp.sqrt(added([jnp.sum(_tree.abs_sq(leaf)) for leaf in jax.tree.leaves(tree)]))


def _real_leaves(who: str, params: PyTree) -> None:
    _check.inexact_leaves(who, params)
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        if jnp.iscomplexobj(leaf):
            raise TypeError(REAL_ONLY.format(who=who, dtype=jnp.result_type(leaf),
                                             path=jax.tree_util.keystr(path) or "<root>"))


# --- Update rules in LaTeX, for a recipe's rendering in a notebook ------------------------------


@_recipe.formula("scale_by_cocob")
def _cocob_rule(a, x, fresh):
    L, G, R, C = (fresh(n) for n in ("L", "G", "R", "C"))
    g, alpha = _recipe.group(x), a.get("alpha", "100.0")
    return (rf"\theta_1 + \frac{{{C}_t}}{{{L}_t \max({G}_t + {L}_t,\ {alpha}\,{L}_t)}}\,({L}_t + {R}_t)"
            r" - \theta_t"), [
        rf"{L}_t &= \max({L}_{{t-1}}, |{x}|), \quad {L}_0 = {a.get('eps', '1e-08')}",
        rf"{G}_t &= {G}_{{t-1}} + |{x}|",
        rf"{R}_t &= \max\big({R}_{{t-1}} - {g}\,(\theta_t - \theta_1),\ 0\big)",
        rf"{C}_t &= {C}_{{t-1}} - {g}",
    ]


@_recipe.formula("mechanize")
def _mechanize_rule(a, x, fresh):
    base = a[_recipe.INNER][0](x)  # first, so that the base optimizer's state keeps its own names
    b, gt, delta, h, m, v, r, s, total = (fresh(n) for n in (
        "b", r"\tilde g", r"\Delta", "h", "m", "v", "r", "s", "S"))
    wd, eps, n = a.get("weight_decay", "0.01"), a.get("eps", "1e-08"), a.get("num_betas", "6")
    s_init = a.get("s_init", "1e-06")
    g = _recipe.group(x)
    return rf"\theta_0 + {total}_t\,({delta}_{{t-1}} + {b}_t) - \theta_t", [
        rf"{b}_t &= {base}",
        rf"{gt}_t &= {x} + {wd}\,{total}_{{t-1}}\,\frac{{\|{g}\|}}{{\|\theta_t\| + {eps}}}\,\theta_t",
        rf"{delta}_{{t-1}} &= \frac{{\theta_t - \theta_0}}{{{total}_{{t-1}} + {eps}}}, \quad "
        rf"{h}_t = \langle {gt}_t, {delta}_{{t-1}} \rangle",
        rf"{m}_{{t,i}} &= \max(\beta_i {m}_{{t-1,i}},\ |{h}_t| + {eps}), \quad \beta_i = 1 - 10^{{-i}}, \quad "
        rf"i = 1, \dots, {n}",
        rf"{v}_{{t,i}} &= \beta_i^2 {v}_{{t-1,i}} + {h}_t^2",
        rf"{r}_{{t,i}} &= \beta_i {r}_{{t-1,i}} + \operatorname{{clip}}({h}_t, \pm {m}_{{t-1,i}})\, {s}_{{t-1,i}}",
        rf"{s}_{{t,i}} &= \frac{{({s_init}/{n})\, {m}_{{t,i}} + \max({r}_{{t,i}}, 0)}}"
        rf"{{\sqrt{{{v}_{{t,i}}}} + {eps}}}, "
        rf"\quad {total}_t = \textstyle\sum_i {s}_{{t,i}}",
    ]
