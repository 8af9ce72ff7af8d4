"""The Hessian's diagonal: Hutchinson's estimate, and Sophia's running mean of it on a cadence.

Sophia (Liu et al. 2024) divides the momentum by a running mean of an estimate of the Hessian's
diagonal, refreshed every few steps because each estimate costs a Hessian-vector product.
:func:`hutchinson_estimator_diag_hessian` is the estimate (it needs the objective, passed to
``update`` as ``obj_fn``), :func:`lagged_hessian_moment` the running mean of any such estimator,
computed inside the jitted step with ``lax.cond``; :func:`at_least` is the floor of Sophia's
denominator and :func:`report_clip_rate` its optional diagnostic.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from ..core import check as _check
from ..core import eager as _eager
from ..core import hyperparams as _hyper
from ..core import recipe as _recipe
from ..core import step as _step
from ..core import tree as _tree
from ..core.board import CHAIN_ARGS
from ..core.chain import primitive, whole
from ..core.link import Branch
from ..core.protocol import EmptyState, GradientTransformation
from ..core.state_class import state_class
from ..core.types import Hyper, PyTree

NEEDS_OBJECTIVE = (
    "{who}: update() needs the objective as obj_fn, a function of the params alone returning the "
    "scalar loss, but received none. Pass it at every update: update(grads, state, params, "
    "obj_fn=lambda p: loss_fn(p, batch)); under jax.jit, wrap it as jax.tree_util.Partial(fn)."
)
PARAMS_NEEDED_WHY = "(the Hessian is taken at them)"
# Arguments that a chain passes to its links; an estimator run as a whole gets the caller's only.


@state_class
class HutchinsonState(NamedTuple):
    key: jax.Array  # uint32 key data (jax.random.key_data), split once per estimate


@_recipe.factory
def hutchinson_estimator_diag_hessian(random_seed: Optional[jax.Array] = None) -> GradientTransformation:
    r"""Replace the update by Hutchinson's estimate of the diagonal of the objective's Hessian.

    .. math::  u_t = z \odot (\nabla^2 f(\theta_t)\, z), \qquad z_i \in \{-1, +1\} \text{ uniformly}

    an unbiased estimate (:math:`\mathbb E[z z^\top] = I`) at the cost of one Hessian-vector
    product, taken by forward-over-reverse differentiation of ``obj_fn``. The incoming update is
    not used. ``update`` needs ``params`` and ``obj_fn``, a function of the params alone
    returning the scalar loss (under ``jax.jit``, a ``jax.tree_util.Partial``). The signs are
    drawn with one key per leaf split from the state's key, as Optax draws them, and exact in
    every leaf's dtype.

    Args:
        random_seed: a JAX PRNG key (raw ``uint32`` data or a typed key); ``None`` uses
            ``jax.random.PRNGKey(0)``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`HutchinsonState`.

    References:
        Hutchinson, "A stochastic estimator of the trace of the influence matrix for Laplacian
        smoothing splines", Communications in Statistics, 1990.
        Liu, Li, Hall, Liang & Ma, "Sophia: A Scalable Stochastic Second-order Optimizer for
        Language Model Pre-training", ICLR 2024. https://arxiv.org/abs/2305.14342
    """
    who = "hutchinson_estimator_diag_hessian"
    key = None if random_seed is None else _key_data(who, random_seed)

    def init(params):
        # The default key is made here, not when built: Sophia's default estimator is built at
        # import, which must not start JAX's backend.
        # A given key is copied: a donated step deletes the state's buffer, and the next init
        # of the same estimator must not hand it out again.
        return HutchinsonState(key=jax.random.PRNGKey(0) if key is None else jax.random.clone(key))

    def update(updates, state, params=None, **extra_args):
        if params is None:
            raise ValueError(_check.PARAMS_NEEDED.format(who=who, why=PARAMS_NEEDED_WHY))
        objective = extra_args.get("obj_fn")
        if objective is None:
            raise TypeError(NEEDS_OBJECTIVE.format(who=who))
        _check.is_callable(who, obj_fn=objective)
        next_key, draw = jax.random.split(state.key)
        structure = jax.tree.structure(params)
        keys = jax.tree.unflatten(structure, list(jax.random.split(draw, structure.num_leaves)))
        signs = jax.tree.map(
            lambda p, k: jax.random.rademacher(k, jnp.shape(p), jnp.float32).astype(jnp.asarray(p).dtype),
            params, keys)
        product = jax.jvp(jax.grad(objective), (params,), (signs,))[1]
        return jax.tree.map(lambda h, z: h * z, product, signs), HutchinsonState(key=next_key)

    return primitive(init, update)


def _key_data(who: str, key: Any) -> jax.Array:
    """Raw ``uint32`` data of a PRNG key, typed or raw, with a clear error for anything else."""
    key = jnp.asarray(key) if not isinstance(key, jax.Array) else key
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(key)
    if key.dtype != jnp.uint32:
        raise TypeError(_check.WRONG_KIND.format(
            who=who, name="random_seed", expected="a JAX PRNG key such as jax.random.PRNGKey(0)",
            got=_check.describe(key)))
    return key


@state_class
class LaggedHessianMomentState(NamedTuple):
    nu: PyTree  # running mean of the estimates of the Hessian's diagonal; params' tree and dtype
    estimator: PyTree  # the estimator's own state


@_recipe.factory
def lagged_hessian_moment(
    estimator: Branch, decay: Hyper = 0.99, update_interval: int = 10
) -> GradientTransformation:
    r"""Replace each update by a running mean of Hessian-diagonal estimates, refreshed on a cadence.

    .. math::
        u_t = h_{t-1}, \qquad
        h_t = \begin{cases} \beta\,h_{t-1} + (1-\beta)\,\hat H_t & t \equiv 0 \pmod k \\
                            h_{t-1} & \text{otherwise} \end{cases}, \qquad h_{-1} = 0

    with :math:`t` the zero-based step count from :func:`gradxform.chain` and :math:`\hat H_t`
    the ``estimator``'s output. The output is the mean *before* this step's estimate (Sophia's
    order). The estimator runs only on refresh steps, inside ``lax.cond`` (no retracing); it is
    run as a whole, with the caller's extra arguments (``obj_fn``), its own step count and its
    own hyperparameters. The mean is not bias-corrected, so the first steps divide by
    Sophia's floor :math:`\epsilon`.

    Args:
        estimator: the transformation estimating the Hessian's diagonal, such as
            :func:`hutchinson_estimator_diag_hessian`; a list is run as a chain.
        decay: :math:`\beta`, the weight kept from the previous mean; in ``[0, 1)``.
        update_interval: :math:`k`, the steps between estimates; an int ``>= 1``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`LaggedHessianMomentState` (in a
        chain; on its own, the one link of a :class:`ChainState`).

    References:
        Liu, Li, Hall, Liang & Ma, "Sophia: A Scalable Stochastic Second-order Optimizer for
        Language Model Pre-training", ICLR 2024, Algorithm 3. https://arxiv.org/abs/2305.14342
    """
    who = "lagged_hessian_moment"
    _check.decay(who, decay=decay)
    _check.int_at_least(who, 1, update_interval=update_interval)
    hyper = _hyper.declare(who, decay=decay)
    inner = whole(estimator, who)

    def init(params):
        _check.inexact_leaves(who, params)
        return LaggedHessianMomentState(nu=_tree.zeros_like(params), estimator=inner.init(params))

    def update(updates, state, params=None, **extra_args):
        _check.same_structure(who, updates=updates, state=state.nu)
        h = hyper.read(extra_args)
        weight, beta = h("decay", lambda b: 1 - b), h("decay")
        refresh = _step.read(extra_args, who) % update_interval == 0
        caller_args = {k: v for k, v in extra_args.items() if k not in CHAIN_ARGS}

        def estimate(estimator_state, nu):
            diagonal, estimator_state = inner.update(updates, estimator_state, params, **caller_args)
            nu = jax.tree.map(lambda d, v: _tree.blend(d, v, weight, beta), diagonal, nu)
            return estimator_state, _tree.cast_like(nu, state.nu)

        def keep(estimator_state, nu):
            return estimator_state, nu

        estimator_state, nu = _eager.cond(refresh, estimate, keep, state.estimator, state.nu)
        return state.nu, LaggedHessianMomentState(nu=nu, estimator=estimator_state)

    return primitive(init, update, hyper, reads_step=True)


@_recipe.factory
def at_least(floor: Hyper = 1e-8) -> GradientTransformation:
    r"""Bound each update below: :math:`u_t = \max(g_t, \epsilon)`. Stateless.

    Sophia's denominator :math:`\max(\gamma h_t, \epsilon)`: a curvature estimate that is tiny
    or negative (Hutchinson's can be) is replaced by :math:`\epsilon`.

    Args:
        floor: :math:`\epsilon`, the smallest value an update may take; ``> 0``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState` (in a chain; on its
        own, the one link of a :class:`ChainState`).
    """
    _check.positive("at_least", floor=floor)
    hyper = _hyper.declare("at_least", floor=floor)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        bound = hyper.read(extra_args)("floor")
        return jax.tree.map(lambda v: jnp.maximum(v, bound.astype(v.dtype)), updates), EmptyState()

    return primitive(init, update, hyper)


@_recipe.factory
def report_clip_rate(threshold: float, every: int) -> GradientTransformation:
    r"""Print, every ``every`` updates, the fraction of elements below a clipping threshold.

    .. math::  r_t = \#\{i : |u_{t,i}| < c\} / n, \qquad u_t = g_t \text{ (unchanged)}

    Sophia's "win rate" (Liu et al. suggest keeping it between 0.1 and 0.5 by tuning
    :math:`\gamma`), printed with ``jax.debug.print`` on the one-based steps that are multiples
    of ``every``. The updates pass through unchanged.

    Args:
        threshold: :math:`c`, the clipping threshold; a number ``> 0``.
        every: the number of updates between prints; an int ``>= 1``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState` (in a chain; on its
        own, the one link of a :class:`ChainState`).
    """
    _check.fixed("report_clip_rate", threshold=threshold)
    _check.positive("report_clip_rate", threshold=threshold)
    _check.int_at_least("report_clip_rate", 1, every=every)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        leaves = jax.tree.leaves(updates)
        below = sum(jnp.sum(jnp.abs(u) < threshold) for u in leaves)
        size = sum(u.size for u in leaves)
        t = _step.one_based(_step.read(extra_args, "report_clip_rate"))
        _eager.cond(t % every == 0,
                     lambda: jax.debug.print("Sophia optimizer win rate: {}", below / max(size, 1)),
                     lambda: None)
        return updates, EmptyState()

    return primitive(init, update, reads_step=True)


# --- Update rules in LaTeX, for a recipe's rendering in a notebook ------------------------------


@_recipe.formula("lagged_hessian_moment")
def _lagged_hessian_moment_rule(a, x, fresh):
    h, b = fresh("h"), a.get("decay", "0.99")
    k = a.get("update_interval", "10")
    return rf"{h}_{{t-1}}", [rf"{h}_t &= {b}\,{h}_{{t-1}} + (1 - {b})\,\hat H_t \quad (t \bmod {k} = 0)"]


@_recipe.formula("at_least")
def _at_least_rule(a, x, fresh):
    return rf"\max({x}, {a.get('floor', '1e-08')})", []


@_recipe.formula("report_clip_rate")
def _report_clip_rate_rule(a, x, fresh):
    return x, []
