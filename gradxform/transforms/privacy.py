"""Differentially private aggregation: per-example clipping, a sum, Gaussian noise, the mean (DP-SGD)."""
from __future__ import annotations

import warnings
from typing import Any, NamedTuple, Optional

import jax
from jax.typing import ArrayLike

from ..core import check as _check
from ..core import hyperparams as _hyper
from ..core import recipe as _recipe
from ..core.chain import primitive
from ..core.protocol import GradientTransformation
from ..core.state_class import state_class
from .additive import key_maker, seed_or_key
from .clipping import global_norm
from .per_example import _check_batch_axis, _clip_and_sum

NO_KEY = (
    "{who}: no key given; using key 0, as Optax does (Optax will require one). Pass key= (an int "
    "seed or a JAX PRNG key) so that the noise is the one you mean."
)


@state_class
class DifferentiallyPrivateAggregateState(NamedTuple):
    # uint32 key data (jax.random.key_data), not a typed key, so that the state serializes with
    # any checkpointer; split once per update.
    rng_key: jax.Array


@_recipe.factory
def differentially_private_aggregate(
    l2_norm_clip: ArrayLike,
    noise_multiplier: ArrayLike,
    key: Any = None,
    *,
    seed: Optional[int] = None,
) -> GradientTransformation:
    r"""Aggregate per-example gradients privately: clip each one, sum, add Gaussian noise, average.

    For the gradients :math:`g_1, \dots, g_B` of a batch (every leaf with the batch on axis 0,
    as ``jax.vmap(jax.grad(loss))`` gives them):

    .. math::
        \bar g = \frac{1}{B}\Big(\sum_{i=1}^B g_i \min\!\Big(1, \frac{C}{\|g_i\|}\Big)
                 + \sigma C\,\xi\Big), \qquad \xi \sim \mathcal{N}(0, I)

    with :math:`\|g_i\|` the norm of example :math:`i`'s whole gradient
    (:func:`per_example_global_norm_clip`). The key is split at each update into a new key and
    one key per leaf, as Optax 0.2.8 does: the same key draws the same noise in both libraries.
    It must come first in a chain (it removes the batch axis), and gradient accumulation
    (:class:`MultiSteps`) would add noise per micro-batch, which the privacy analysis does not
    cover.

    Args:
        l2_norm_clip: :math:`C`, the largest norm an example's gradient keeps; ``>= 0``; a
            number or a schedule.
        noise_multiplier: :math:`\sigma`, the noise's standard deviation over :math:`C`;
            ``>= 0``; a number or a schedule.
        key: an int seed or a JAX PRNG key; ``None`` uses 0 and warns, as Optax does.
        seed: Optax's deprecated name for an int ``key``; warns (``DeprecationWarning``).

    Returns:
        A :class:`GradientTransformation` whose state is
        :class:`DifferentiallyPrivateAggregateState` (in a chain; on its own, the one link of a
        :class:`ChainState`).

    References:
        Abadi, Chu, Goodfellow, McMahan, Mironov, Talwar & Zhang, "Deep Learning with
        Differential Privacy", CCS 2016, Algorithm 1. https://arxiv.org/abs/1607.00133
    """
    who = "differentially_private_aggregate"
    _check.non_negative(who, l2_norm_clip=l2_norm_clip, noise_multiplier=noise_multiplier)
    key = seed_or_key(who, key, seed)
    if key is None:
        warnings.warn(NO_KEY.format(who=who), stacklevel=3)
        key = 0
    make_key = key_maker(key, who)
    hyper = _hyper.declare(who, l2_norm_clip=l2_norm_clip, noise_multiplier=noise_multiplier)

    def init(params):
        _check.inexact_leaves(who, params)
        return DifferentiallyPrivateAggregateState(rng_key=jax.random.key_data(make_key()))

    def update(updates, state, params=None, **extra_args):
        leaves, treedef = jax.tree.flatten(updates)
        if not leaves:  # nothing to aggregate (Optax's fails here)
            return updates, state
        _check_batch_axis(who, updates)
        h = hyper.read(extra_args)
        example = jax.tree.map(lambda g: g[0], leaves)
        clip = h("l2_norm_clip").astype(jax.eval_shape(global_norm, example).dtype)
        summed, _ = _clip_and_sum(leaves, clip)
        batch_size = leaves[0].shape[0]
        new_key, *leaf_keys = jax.random.split(jax.random.wrap_key_data(state.rng_key), len(leaves) + 1)
        std = h("l2_norm_clip") * h("noise_multiplier")
        noised = [(g + std.astype(g.dtype) * jax.random.normal(k, g.shape, g.dtype)) / batch_size
                  for g, k in zip(summed, leaf_keys)]
        new_state = DifferentiallyPrivateAggregateState(rng_key=jax.random.key_data(new_key))
        return jax.tree.unflatten(treedef, noised), new_state

    return primitive(init, update, hyper)


# --- Update rules in LaTeX, for a recipe's rendering in a notebook ------------------------------


@_recipe.formula("differentially_private_aggregate")
def _private_aggregate_rule(a, x, fresh):
    clip, sigma = a.get("l2_norm_clip", "C"), a.get("noise_multiplier", r"\sigma")
    clipped = rf"\sum_i {x}_i \min(1, {clip} / \|{x}_i\|)"
    return rf"\frac{{1}}{{B}}\big({clipped} + \mathcal{{N}}(0, ({sigma}\,{clip})^2)\big)", []
