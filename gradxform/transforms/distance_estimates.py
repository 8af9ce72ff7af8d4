r"""Step sizes from an estimate of the distance to the solution: DoG and DoWG (over the whole tree).

Both take a step :math:`\eta_t\,g_t` whose size grows with the largest distance the params have
travelled from their start, :math:`\bar r_t = \max_{k \le t} \|\theta_k - \theta_0\|`, and
shrinks with the gradients seen so far: no learning rate to tune. Distances and gradient norms
are taken over every leaf together (``optax.contrib``'s forms); the layer-wise DoG is
:func:`gradxform.scale_by_distance_over_gradients`.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from ..core import board as _board
from ..core import check as _check
from ..core import hyperparams as _hyper
from ..core import link as _link
from ..core import recipe as _recipe
from ..core import step as _step
from ..core import tree as _tree
from ..core.chain import primitive
from ..core.named import Named, value_of
from ..core.protocol import GradientTransformation
from ..core.state_class import state_class
from ..core.types import Hyper, PyTree
from .moments import mean_of_squares, scale_by_momentum

INIT_STEP_KINDS = ("distance", "learning_rate", "heuristic")
REAL_ONLY = (
    "{who}: the estimate takes the maximum of real numbers, got a {dtype} parameter at {path}. "
    "Optimize the real and imaginary parts as separate real parameters."
)
NOT_AN_INIT_STEP = (
    "{who}: init_step must be a pair (kind, value) with kind one of {kinds}, got {got}. "
    "For example init_step=('heuristic', 1e-6)."
)


@state_class
class ScaleByDogState(NamedTuple):
    max_dist: jax.Array  # scalar: the largest distance from the initial params so far (widest real dtype)
    sum_sq_norm_grads: jax.Array  # scalar: sum of ||g||^2 over past updates (widest real dtype)
    init_params: PyTree  # the params at init


@_recipe.factory
def scale_by_dog(init_step: tuple[str, float], eps: Hyper = 1e-8) -> GradientTransformation:
    r"""Scale the update by the largest distance travelled over the root of the gradients' squared norms (DoG).

    Over the whole tree, with :math:`\theta_0` the params at ``init``:

    .. math::
        \bar r_t = \max\big(\bar r_{t-1}, \|\theta_t - \theta_0\|\big), \qquad
        G_t = G_{t-1} + \|g_t\|^2, \qquad
        u_t = \frac{\bar r_t}{\sqrt{G_t + \epsilon}}\,g_t

    with :math:`G_0 = 0` and :math:`\bar r_0 = r_\epsilon` set by ``init_step``. The output
    points up the gradient: chain :func:`scale_by_learning_rate` to descend (as :func:`dog` does).

    Args:
        init_step: ``(kind, value)``, how the first step is set: ``("distance", r)`` starts
            :math:`\bar r_0 = r`; ``("heuristic", a)`` starts :math:`\bar r_0 = a\,(1 +
            \|\theta_0\|)` (the paper suggests ``a = 1e-6``, ``1e-4`` with batch normalization);
            ``("learning_rate", \eta)`` starts :math:`\bar r_0 = 0` and takes the first step
            with :math:`\eta_0 = \eta`. The value is a number ``> 0``.
        eps: :math:`\epsilon`, added under the square root; ``>= 0``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ScaleByDogState` (in a chain;
        on its own, the one link of a :class:`ChainState`); its ``update`` needs params, and
        ``init`` the actual params (not placeholders) for the ``"heuristic"`` kind.

    References:
        Ivgi, Hinder & Carmon, "DoG is SGD's Best Friend: A Parameter-Free Dynamic Step Size
        Schedule", ICML 2023, Algorithm 1. https://arxiv.org/abs/2302.12022
    """
    who = "scale_by_dog"
    kind, value = _init_step(who, init_step)
    _check.non_negative(who, eps=eps)
    hyper = _hyper.declare(who, eps=eps)

    def init(params):
        _check.inexact_leaves(who, params)
        dtype = scalar_dtype(params)
        if kind == "distance":
            start = jnp.asarray(value, dtype)
        elif kind == "heuristic":
            start = (value * (1 + jnp.sqrt(squared_norm(params, dtype)))).astype(dtype)
        else:  # "learning_rate": no distance yet, the first step's size is given
            start = jnp.zeros([], dtype)
        return ScaleByDogState(start, jnp.zeros([], dtype), copy_of_params(params))

    def update(updates, state, params=None, **extra_args):
        needs_params(who, params)
        _check.same_structure(who, updates=updates, state=state.init_params)
        dtype = state.max_dist.dtype
        eps_t = hyper.read(extra_args)("eps").astype(dtype)
        max_dist = jnp.maximum(state.max_dist, distance_from_start(params, state.init_params, dtype))
        sum_sq = state.sum_sq_norm_grads + squared_norm(updates, dtype)
        eta = max_dist / jnp.sqrt(sum_sq + eps_t)
        if kind == "learning_rate":  # the given size for the first step, where r_bar is still 0
            first = _step.read(extra_args, who) == 0
            eta = jnp.where(first, jnp.asarray(value, dtype), eta)
        return scaled(eta, updates), ScaleByDogState(max_dist, sum_sq, state.init_params)

    return primitive(init, update, hyper, reads_step=kind == "learning_rate")


@state_class
class ScaleByDowgState(NamedTuple):
    estim_sq_dist: jax.Array  # scalar: the largest squared distance from the initial params so far
    weighted_sq_norm_grads: jax.Array  # scalar: sum of r_bar_k^2 ||g_k||^2 over past updates
    init_params: PyTree  # the params at init


@_recipe.factory
def scale_by_dowg(
    init_estim_sq_dist: Optional[float] = None, eps: Hyper = 1e-4
) -> GradientTransformation:
    r"""Scale the update by the squared distance travelled over the root of distance-weighted gradient norms (DoWG).

    Over the whole tree, with :math:`\theta_0` the params at ``init``:

    .. math::
        \bar r_t^2 = \max\big(\bar r_{t-1}^2, \|\theta_t - \theta_0\|^2\big), \qquad
        v_t = v_{t-1} + \bar r_t^2\,\|g_t\|^2, \qquad
        u_t = \frac{\bar r_t^2}{\sqrt{v_t} + \epsilon}\,g_t

    with :math:`v_0 = 0`. Unlike DoG, each past gradient norm is weighted by the distance
    estimate in force when it was seen. The output points up the gradient: chain
    :func:`scale_by_learning_rate` to descend (as :func:`dowg` does).

    Args:
        init_estim_sq_dist: :math:`\bar r_0^2`, the initial guess of the squared distance to
            the solution; a number ``> 0``, or ``None`` to start from ``eps``.
        eps: :math:`\epsilon`, added to the root; a number ``> 0`` (a fixed number when it is
            also the initial guess).

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ScaleByDowgState` (in a
        chain; on its own, the one link of a :class:`ChainState`); its ``update`` needs params.

    References:
        Khaled, Mishchenko & Jin, "DoWG Unleashed: An Efficient Universal Parameter-Free
        Gradient Descent Method", NeurIPS 2023, Algorithm 1. https://arxiv.org/abs/2305.16284
    """
    who = "scale_by_dowg"
    if init_estim_sq_dist is None:
        _check.fixed(who, eps=value_of(eps))  # it is also the initial guess, stored at init
    else:
        _check.fixed(who, init_estim_sq_dist=init_estim_sq_dist)
        _check.positive(who, init_estim_sq_dist=init_estim_sq_dist)
    _check.positive(who, eps=eps)
    start_value = value_of(eps) if init_estim_sq_dist is None else init_estim_sq_dist
    hyper = _hyper.declare(who, eps=eps)

    def init(params):
        _check.inexact_leaves(who, params)
        dtype = scalar_dtype(params)
        return ScaleByDowgState(jnp.asarray(start_value, dtype), jnp.zeros([], dtype), copy_of_params(params))

    def update(updates, state, params=None, **extra_args):
        needs_params(who, params)
        _check.same_structure(who, updates=updates, state=state.init_params)
        dtype = state.estim_sq_dist.dtype
        eps_t = hyper.read(extra_args)("eps").astype(dtype)
        sq_dist = jnp.maximum(state.estim_sq_dist, squared_distance_from_start(params, state.init_params, dtype))
        weighted = sq_dist * squared_norm(updates, dtype) + state.weighted_sq_norm_grads
        eta = sq_dist / (jnp.sqrt(weighted) + eps_t)
        return scaled(eta, updates), ScaleByDowgState(sq_dist, weighted, state.init_params)

    return primitive(init, update, hyper)


@state_class
class ProdigyEstimateState(NamedTuple):
    grad_sum: PyTree  # s, the weighted sum of scaled gradients; params' tree and dtype
    params0: PyTree  # theta_0, the params at init
    estim_lr: jax.Array  # scalar: d, the estimate of the distance to the solution (widest real dtype)
    numerator_weighted: jax.Array  # scalar: r, the weighted sum of <g_k, theta_0 - theta_k>


# the names prodigy_estimate records d_t, d_(t+1) and d_t sqrt(1 - b2^t) / (1 - b1^t) under
PRODIGY_WIRES = ("estim_lr", "estim_lr_next", "estim_lr_debiased")


@_recipe.factory
def prodigy_estimate(
    learning_rate: Hyper = 1.0,
    b1: Hyper = 0.9,
    b2: Hyper = 0.999,
    beta3: Hyper | None = None,
    estim_lr0: float = 1e-6,
    estim_lr_coef: Hyper = 1.0,
    safeguard_warmup: bool = False,
) -> GradientTransformation:
    r"""Prodigy's estimate :math:`d_t` of the distance to the solution, and its step size, for the later links.

    With :math:`t` the one-based step, :math:`\eta_t` the learning rate (a multiplier, 1 at a
    schedule's peak) and :math:`\hat\eta_t = d_t\,\eta_t \sqrt{1-\beta_2^t}/(1-\beta_1^t)`:

    .. math::
        s_t = \beta_3 s_{t-1} + \frac{\hat\eta_t}{d_0}\,d_t g_t, \qquad
        r_t = \beta_3 r_{t-1} + \frac{d_t}{d_0}\,\hat\eta_t\,\langle g_t, \theta_0 - \theta_{t-1}\rangle, \\
        d_{t+1} = \max\Big(d_t,\ c\,\frac{r_t}{\|s_t\|_1}\Big), \qquad d_1 = d_0

    with :math:`\theta_{t-1}` the params the update is given.

    The updates pass through unchanged; :math:`d_t`, :math:`d_{t+1}` and the step size before
    the learning rate, :math:`\hat\eta_t / \eta_t = d_t \sqrt{1-\beta_2^t}/(1-\beta_1^t)`, are
    recorded, as scalars, under the names ``"estim_lr"``, ``"estim_lr_next"`` and
    ``"estim_lr_debiased"`` for the later links of the update (:func:`gradxform.scale_by_tapped`,
    :func:`gradxform.add_tapped`): :func:`gradxform.scale_by_prodigy` is Adam on :math:`d_t g_t`
    with them. While
    :math:`\|s_t\|_1 = 0` (every gradient so far was 0) the estimate stays :math:`d_t`, where
    Optax's 0/0 makes it and every later update NaN. ``safeguard_warmup`` replaces
    :math:`\hat\eta_t` by :math:`d_t` in :math:`s_t`. Numbers as ``optax.contrib.prodigy``'s.

    Args:
        learning_rate: :math:`\eta_t`, a multiplier (1, or a schedule such as a warmup and decay
            from 1); ``>= 0``.
        b1: :math:`\beta_1`, the momentum's decay, for the bias correction; in ``[0, 1)``.
        b2: :math:`\beta_2`, the second moment's decay, for the bias correction; in ``[0, 1)``.
        beta3: :math:`\beta_3`, decay of :math:`s` and :math:`r`; in ``[0, 1]``; ``None``:
            :math:`\sqrt{\beta_2}`.
        estim_lr0: :math:`d_0`, the initial (under)estimate; a number ``> 0``.
        estim_lr_coef: :math:`c`, a factor of each new estimate; ``> 0``.
        safeguard_warmup: leave :math:`\eta_t` out of :math:`s_t` (for long warmups).

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ProdigyEstimateState` (in a
        chain; on its own, the one link of a :class:`ChainState`); its ``update`` needs params.

    References:
        Mishchenko & Defazio, "Prodigy: An Expeditiously Adaptive Parameter-Free Learner",
        ICML 2024, Algorithm 4. https://arxiv.org/abs/2306.06101
    """
    who = "prodigy_estimate"
    _check.learning_rate(who, learning_rate=learning_rate)
    _check.decay(who, b1=b1, b2=b2)
    beta3 = _default_beta3(b2) if beta3 is None else beta3
    _check.unit_interval(who, beta3=beta3)
    _check.fixed(who, estim_lr0=estim_lr0)
    _check.positive(who, estim_lr0=estim_lr0, estim_lr_coef=estim_lr_coef)
    _check.flag(who, safeguard_warmup=safeguard_warmup)
    hyper = _hyper.declare(who, learning_rate=learning_rate, b1=_named("b1", b1), b2=_named("b2", b2),
                           beta3=beta3, estim_lr_coef=estim_lr_coef)

    def init(params):
        _real_leaves(who, params)
        return ProdigyEstimateState(_tree.zeros_like(params), copy_of_params(params),
                                    jnp.asarray(estim_lr0, scalar_dtype(params)), jnp.zeros([], scalar_dtype(params)))

    def update(updates, state, params=None, **extra_args):
        needs_params(who, params, "(the estimate reads their distance from the initial params)")
        _check.same_structure(who, updates=updates, state=state.grad_sum)
        h = hyper.read(extra_args)
        d = state.estim_lr
        dtype = d.dtype
        debiased = d * _bias_correction_factor(h, extra_args, who).astype(dtype)
        dlr = debiased * h("learning_rate").astype(dtype)  # eta_hat_t
        beta3_t = h("beta3").astype(dtype)
        weight = d if safeguard_warmup else dlr
        grad_sum = leafwise(lambda k, s, g: k(beta3_t) * s + k(weight) * _tree.times(g, d) / estim_lr0,
                            state.grad_sum, updates)
        progress = real_vdot(updates, jax.tree.map(jnp.subtract, state.params0, params)).astype(dtype)
        numerator = beta3_t * state.numerator_weighted + (d / estim_lr0) * dlr * progress
        estimate = _estimate(h("estim_lr_coef").astype(dtype) * numerator, l1_norm(grad_sum).astype(dtype))
        d_next = jnp.maximum(d, estimate)
        for name, value in zip(PRODIGY_WIRES, (d, d_next, debiased)):
            _board.record(extra_args, name, value)
        return updates, ProdigyEstimateState(grad_sum, state.params0, d_next, numerator)

    return primitive(init, update, hyper, reads_step=True)


@state_class
class ScaleByDadaptAdamwState(NamedTuple):
    mu: Any  # the momentum's state (ScaleByMomentumState): EMA of eta_hat_k g_k
    nu: Any  # the mean of squares' state (MeanOfSquaresState): EMA of g_k^2
    grad_sum: PyTree  # s, the EMA of eta_hat_k g_k with decay sqrt(b2); params' tree and dtype
    estim_lr: jax.Array  # scalar: d, the estimate of the distance to the solution (widest real dtype)
    numerator_weighted: jax.Array  # scalar: r, the EMA of eta_hat_k <g_k, s_(k-1) / (sqrt(v_(k-1)) + eps)>


@_recipe.factory
def scale_by_dadapt_adamw(
    learning_rate: Hyper = 1.0,
    b1: Hyper = 0.9,
    b2: Hyper = 0.999,
    eps: Hyper = 1e-8,
    estim_lr0: float = 1e-6,
    weight_decay: Hyper = 0.0,
) -> GradientTransformation:
    r"""D-Adapted AdamW's step: Adam's ratio, its momentum scaled by an estimate :math:`d_t` of a distance to solution.

    With :math:`t` the one-based step, :math:`\eta_t` the learning rate (a multiplier),
    :math:`\hat\eta_t = d_t\,\eta_t \sqrt{1-\beta_2^t}/(1-\beta_1^t)` and
    :math:`\gamma = \sqrt{\beta_2}`:

    .. math::
        r_t = \gamma\,r_{t-1} + (1-\gamma)\,\hat\eta_t\,
              \Big\langle g_t, \frac{s_{t-1}}{\sqrt{v_{t-1}} + \epsilon}\Big\rangle, \qquad
        s_t = \gamma\,s_{t-1} + (1-\gamma)\,\hat\eta_t\,g_t, \\
        m_t = \beta_1 m_{t-1} + (1-\beta_1)\,\hat\eta_t g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2)\,g_t^2, \\
        d_{t+1} = \max\Big(d_t,\ \frac{r_t}{(1-\gamma)\,\|s_t\|_1}\Big), \qquad
        u_t = -\lambda\,\hat\eta_t\,\theta_t - \frac{m_t}{\sqrt{v_t} + \epsilon}

    with :math:`d_1 = d_0`; while :math:`\|s_t\|_1 = 0` (every gradient so far was 0) the
    estimate stays :math:`d_t`, where Optax's 0/0 makes it NaN. The moments are
    :func:`scale_by_momentum` (``ema=True``) of
    :math:`\hat\eta_t g_t` and :func:`mean_of_squares` of :math:`g_t`, run as this
    transformation's parts. Unlike Prodigy's (:func:`prodigy_estimate`, whose later links read
    :math:`d_t` from the chain's board), the estimate cannot be a link of its own: the momentum
    needs :math:`\hat\eta_t` before it runs, and the estimate needs :math:`v_{t-1}`, the state
    the second moment replaces when it runs; a value on the board lives one update, so only a
    copy of :math:`v` (the params' size again) would carry it. The output is the whole
    update, sign included. Numbers as ``optax.contrib.dadapt_adamw``'s; in float32 they can
    differ in the last bit, as the momentum rounds :math:`(1-\beta_1)\,(\hat\eta_t g_t)` (Optax:
    :math:`((1-\beta_1)\,\hat\eta_t)\,g_t`).

    Args:
        learning_rate: :math:`\eta_t`, a multiplier (1, or a schedule); ``>= 0``.
        b1: :math:`\beta_1`, decay of the momentum; in ``[0, 1)``.
        b2: :math:`\beta_2`, decay of the second moment (and :math:`\gamma = \sqrt{\beta_2}`);
            in ``[0, 1)``.
        eps: :math:`\epsilon`; ``> 0``.
        estim_lr0: :math:`d_0`, the initial (under)estimate; a number ``> 0``.
        weight_decay: :math:`\lambda`, decoupled (AdamW) weight decay; ``>= 0``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ScaleByDadaptAdamwState` (in a
        chain; on its own, the one link of a :class:`ChainState`); its ``update`` needs params.

    References:
        Defazio & Mishchenko, "Learning-Rate-Free Learning by D-Adaptation", ICML 2023,
        Algorithm 4 (Adam). https://arxiv.org/abs/2301.07733
    """
    who = "scale_by_dadapt_adamw"
    _check.learning_rate(who, learning_rate=learning_rate)
    _check.decay(who, b1=b1, b2=b2)
    _check.positive(who, eps=eps)  # 0: an entry whose gradients were all 0 gives 0/0
    _check.non_negative(who, weight_decay=weight_decay)
    _check.fixed(who, estim_lr0=estim_lr0)
    _check.positive(who, estim_lr0=estim_lr0)
    b1, b2 = _named("b1", b1), _named("b2", b2)  # one row each, shared with the moments
    hyper = _hyper.declare(who, learning_rate=learning_rate, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)
    momentum, second = _link.branch(scale_by_momentum(b1, ema=True), who), _link.branch(mean_of_squares(b2), who)

    def init(params):
        _real_leaves(who, params)
        dtype = scalar_dtype(params)
        return ScaleByDadaptAdamwState(momentum.raw.init(params), second.raw.init(params), _tree.zeros_like(params),
                                       jnp.asarray(estim_lr0, dtype), jnp.zeros([], dtype))

    def update(updates, state, params=None, **extra_args):
        needs_params(who, params, "(to decay them)")
        _check.same_structure(who, updates=updates, state=state.grad_sum)
        h = hyper.read(extra_args)
        dtype = state.estim_lr.dtype
        dlr = (state.estim_lr * h("learning_rate").astype(dtype)
               * _bias_correction_factor(h, extra_args, who).astype(dtype))
        gamma = h("b2", lambda b: b**0.5).astype(dtype)
        one_minus_gamma = h("b2", lambda b: 1 - b**0.5).astype(dtype)
        eps_t, wd = h("eps").astype(dtype), h("weight_decay").astype(dtype)
        previous_v = state.nu.nu  # v_(t-1), before the mean of squares takes g_t in
        weighted = leafwise(lambda k, s, v: s / (jnp.sqrt(v) + k(eps_t)), state.grad_sum, previous_v)
        progress = real_vdot(updates, weighted).astype(dtype)
        mu, mu_state = momentum.raw.update(jax.tree.map(lambda g: _tree.times(g, dlr), updates), state.mu, params,
                                           **extra_args)
        nu, nu_state = second.raw.update(updates, state.nu, params, **extra_args)
        grad_sum = leafwise(lambda k, s, g: k(gamma) * s + k(one_minus_gamma) * k(dlr) * g, state.grad_sum, updates)
        numerator = gamma * state.numerator_weighted + one_minus_gamma * dlr * progress
        estimate = _estimate(numerator, one_minus_gamma * l1_norm(grad_sum).astype(dtype))
        out = leafwise(lambda k, m, v, p: -k(wd) * k(dlr) * p - m / (jnp.sqrt(v) + k(eps_t)), mu, nu, params)
        return out, ScaleByDadaptAdamwState(mu_state, nu_state, grad_sum,
                                            jnp.maximum(state.estim_lr, estimate), numerator)

    return primitive(init, update, hyper, reads_step=True, parts={"mu": momentum, "nu": second})


def _estimate(numerator: jax.Array, denominator: jax.Array) -> jax.Array:
    """The distance estimate ``numerator / denominator``, or 0 (so that the estimate in force
    stays) while the denominator is 0: every gradient so far was 0, and Optax's 0/0 would make
    the estimate and every later update NaN."""
    return jnp.where(denominator > 0, numerator / jnp.where(denominator > 0, denominator, 1), 0)


def _named(name: str, value: Any) -> Any:
    """``value`` named ``name`` (kept as it is if an alias named it already)."""
    return value if isinstance(value, Named) else _hyper.hyperparameter(name, value)


def _default_beta3(b2: Any) -> Any:
    r"""Prodigy's default :math:`\beta_3 = \sqrt{\beta_2}`, also for a named or scheduled :math:`\beta_2`."""
    b2 = value_of(b2)
    return (lambda step: b2(step) ** 0.5) if callable(b2) else b2**0.5


def _bias_correction_factor(h: Any, extra_args: dict, who: str) -> jax.Array:
    r""":math:`\sqrt{1-\beta_2^t}/(1-\beta_1^t)`, Adam's bias corrections as one factor (one-based :math:`t`)."""
    t = _step.one_based(_step.read(extra_args, who))  # an int32 exponent: rounded as Optax's power
    return ((1 - jax.lax.pow(h("b2"), t)) ** 0.5) / (1 - jax.lax.pow(h("b1"), t))


# --- Shared by the distance-based step sizes ---------------------------------------------------


def squared_norm(tree: PyTree, dtype: Any) -> jax.Array:
    r""":math:`\|x\|^2` over every leaf, leaf sums added in order (Optax's), in ``dtype``."""
    total = jnp.zeros([], dtype)
    for leaf in jax.tree.leaves(tree):
        total = total + jnp.sum(_tree.abs_sq(leaf)).astype(dtype)
    return total


def squared_distance_from_start(params: PyTree, init_params: PyTree, dtype: Any) -> jax.Array:
    r""":math:`\|\theta_t - \theta_0\|^2` over every leaf, in ``dtype``."""
    return squared_norm(jax.tree.map(lambda x0, x: jnp.subtract(*_tree.promoted(x0, x)), init_params, params), dtype)


def distance_from_start(params: PyTree, init_params: PyTree, dtype: Any) -> jax.Array:
    r""":math:`\|\theta_t - \theta_0\|` over every leaf, in ``dtype``."""
    return jnp.sqrt(squared_distance_from_start(params, init_params, dtype))


def scaled(eta: jax.Array, updates: PyTree) -> PyTree:
    r""":math:`\eta\,g` for a scalar step size :math:`\eta`, each leaf keeping its dtype."""
    return jax.tree.map(lambda g: _tree.times(g, eta), updates)


def l1_norm(tree: PyTree) -> jax.Array:
    r""":math:`\|x\|_1` over every leaf, leaf sums added in order (Optax's), in their promoted dtype."""
    return added([jnp.sum(jnp.abs(leaf)) for leaf in jax.tree.leaves(tree)])


def real_vdot(a: PyTree, b: PyTree) -> jax.Array:
    r""":math:`\mathrm{Re}\sum \langle a, b\rangle` over all leaves, leaf by leaf in order (Optax's)."""
    pairs = [_tree.promoted(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))]
    return added([jnp.real(jnp.tensordot(jnp.conj(x), y, x.ndim)) for x, y in pairs])


def added(partials: list) -> jax.Array:
    """``0 + p_1 + p_2 + ...`` in the dtype the partial sums promote to (a weak 0 if none)."""
    total: Any = 0
    for partial in _tree.promoted(*partials) if partials else ():
        total = total + partial
    return jnp.asarray(total)


def leafwise(fn: Any, *trees: PyTree) -> PyTree:
    """``fn(k, *leaves)`` leaf by leaf, in the leaves' promoted dtype widened to float32 (``k`` casts
    a scalar to it), returned in the promoted dtype: Optax's arithmetic, also for bfloat16 leaves."""

    def one(*leaves):
        out = _tree.result_dtype(*leaves)
        dtype = _tree.compute_dtype(out)
        return fn(lambda x: x.astype(dtype), *(x.astype(dtype) for x in leaves)).astype(out)

    return jax.tree.map(one, *trees)


def _real_leaves(who: str, params: PyTree) -> None:
    _check.inexact_leaves(who, params)
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        if jnp.iscomplexobj(leaf):
            raise TypeError(REAL_ONLY.format(who=who, dtype=jnp.result_type(leaf),
                                             path=jax.tree_util.keystr(path) or "<root>"))


def scalar_dtype(params: PyTree) -> Any:
    """The dtype of a whole tree's statistics (a distance, an estimate): the widest real dtype
    among the leaves, at least float32. Optax keeps them in the narrowest; for a tree of one
    dtype the two agree, and a float64 leaf beside a float32 one keeps its precision here."""
    dtypes = [jnp.finfo(_tree.compute_dtype(jnp.result_type(x))).dtype for x in jax.tree.leaves(params)]
    return max(dtypes, key=lambda d: d.itemsize) if dtypes else jnp.dtype(jnp.float32)


def copy_of_params(params: PyTree) -> PyTree:
    """The params in buffers of their own (a donated step would delete the params' own)."""
    return jax.tree.map(lambda x: jnp.array(x, copy=True), params)


def needs_params(who: str, params: Any, why: str = "(their distance from the initial params)") -> None:
    """Raise the clear error of an ``update`` called without the params it needs."""
    if params is None:
        raise ValueError(_check.PARAMS_NEEDED.format(who=who, why=why))


def _init_step(who: str, init_step: Any) -> tuple[str, float]:
    if not isinstance(init_step, (tuple, list)) or len(init_step) != 2 or init_step[0] not in INIT_STEP_KINDS:
        raise ValueError(NOT_AN_INIT_STEP.format(who=who, kinds=list(INIT_STEP_KINDS), got=repr(init_step)))
    kind, value = init_step
    _check.fixed(who, init_step_value=value)
    _check.positive(who, init_step_value=value)
    return kind, value


# --- Update rules in LaTeX, for a recipe's rendering in a notebook ------------------------------


@_recipe.formula("scale_by_dog")
def _dog_rule(a, x, fresh):
    r, total = fresh(r"\bar r"), fresh("G")
    return rf"\frac{{{r}_t}}{{\sqrt{{{total}_t + {a.get('eps', '1e-08')}}}}}\,{x}", [
        rf"{r}_t &= \max({r}_{{t-1}}, \|\theta_t - \theta_0\|)",
        rf"{total}_t &= {total}_{{t-1}} + \|{_recipe.group(x)}\|^2",
    ]


@_recipe.formula("scale_by_dowg")
def _dowg_rule(a, x, fresh):
    r, total = fresh(r"\bar r"), fresh("v")
    return rf"\frac{{{r}_t^2}}{{\sqrt{{{total}_t}} + {a.get('eps', '0.0001')}}}\,{x}", [
        rf"{r}_t^2 &= \max({r}_{{t-1}}^2, \|\theta_t - \theta_0\|^2)",
        rf"{total}_t &= {total}_{{t-1}} + {r}_t^2\,\|{_recipe.group(x)}\|^2",
    ]


def _prodigy_step_size(a: dict, d: str, eta: str) -> str:
    r"""The equation of :math:`\hat\eta_t = d_t\,\alpha_t \sqrt{1-\beta_2^t}/(1-\beta_1^t)`, Prodigy's and
    D-Adapted AdamW's step size."""
    b1, b2, lr = a.get("b1", "0.9"), a.get("b2", "0.999"), a.get("learning_rate", "1.0")
    lr = _recipe.coefficient(lr)  # a multiplier, 1 unless scheduled
    return rf"{eta}_t &= {d}_t\,{lr}\frac{{\sqrt{{1 - {b2}^{{t}}}}}}{{1 - {b1}^{{t}}}}"


def _decayed_params(a: dict, eta: str) -> str:
    r"""The decoupled weight decay :math:`-\lambda\,\hat\eta_t\,\theta_t` (with its sign), or nothing."""
    wd = a.get("weight_decay", "0.0")
    return "" if _recipe.is_zero(wd) else rf"-{wd}\,{eta}_t\,\theta_t "


def _recorded(wires: dict) -> str:
    r"""The equation of what a link records for the later ones: :math:`\mathrm{d} = d_t,\ \ldots`."""
    shown = [rf"\mathrm{{{name}}}".replace("_", r"\_") + f" = {value}" for name, value in wires.items()]
    return shown[0].replace(" = ", " &= ", 1) + "".join(rf",\ {one}" for one in shown[1:])


@_recipe.formula("prodigy_estimate")
def _prodigy_estimate_rule(a, x, fresh):
    s, r, d, eta = (fresh(n) for n in ("s", "r", "d", r"\hat\eta"))
    b1, b2 = a.get("b1", "0.9"), a.get("b2", "0.999")
    debiased = rf"{d}_t\,\frac{{\sqrt{{1 - {b2}^{{t}}}}}}{{1 - {b1}^{{t}}}}"
    beta3 = a.get("beta3", "None")
    beta3 = rf"\sqrt{{{b2}}}" if beta3 == "None" else beta3
    coef = _recipe.coefficient(a.get("estim_lr_coef", "1.0"))
    weight = f"{d}_t" if a.get("safeguard_warmup") == "True" else f"{eta}_t"
    return x, [
        _prodigy_step_size(a, d, eta),
        rf"{s}_t &= {beta3}\,{s}_{{t-1}} + \frac{{{weight}}}{{{d}_0}}\,{d}_t {_recipe.group(x)}",
        rf"{r}_t &= {beta3}\,{r}_{{t-1}} + \frac{{{d}_t}}{{{d}_0}}\,{eta}_t\,"
        rf"\langle {x}, \theta_0 - \theta_{{t-1}}\rangle",
        rf"{d}_{{t+1}} &= \max\Big({d}_t,\ {coef}\frac{{{r}_t}}{{\|{s}_t\|_1}}\Big), \quad "
        rf"{d}_1 = {d}_0 = {a.get('estim_lr0', '1e-06')}",
        _recorded(dict(zip(PRODIGY_WIRES, (f"{d}_t", f"{d}_{{t+1}}", debiased)))),
    ]


@_recipe.formula("scale_by_dadapt_adamw")
def _dadapt_adamw_rule(a, x, fresh):
    r, s, m, v, d, eta, gamma = (fresh(n) for n in ("r", "s", "m", "v", "d", r"\hat\eta", r"\gamma"))
    b1, b2, eps, g = a.get("b1", "0.9"), a.get("b2", "0.999"), a.get("eps", "1e-08"), _recipe.group(x)
    return rf"{_decayed_params(a, eta)}- \frac{{{m}_t}}{{\sqrt{{{v}_t}} + {eps}}}", [
        _prodigy_step_size(a, d, eta),
        rf"{gamma} &= \sqrt{{{b2}}}",
        rf"{r}_t &= {gamma}\,{r}_{{t-1}} + (1 - {gamma})\,{eta}_t\,"
        rf"\Big\langle {x}, \frac{{{s}_{{t-1}}}}{{\sqrt{{{v}_{{t-1}}}} + {eps}}}\Big\rangle",
        rf"{s}_t &= {gamma}\,{s}_{{t-1}} + (1 - {gamma})\,{eta}_t\,{g}",
        rf"{m}_t &= {b1}\,{m}_{{t-1}} + (1 - {b1})\,{eta}_t\,{g}",
        rf"{v}_t &= {b2}\,{v}_{{t-1}} + (1 - {b2})\,{g}^2",
        rf"{d}_{{t+1}} &= \max\Big({d}_t,\ \frac{{{r}_t}}{{(1 - {gamma})\,\|{s}_t\|_1}}\Big), \quad "
        rf"{d}_1 = {d}_0 = {a.get('estim_lr0', '1e-06')}",
    ]
