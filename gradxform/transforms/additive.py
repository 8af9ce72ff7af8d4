"""Terms added to the update: decoupled weight decay and annealed gradient noise."""
from __future__ import annotations

import numbers
import warnings
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from ..core import check as _check
from ..core import hyperparams as _hyper
from ..core import masks as _masks
from ..core import recipe as _recipe
from ..core import step as _step
from ..core import tree as _tree
from ..core.chain import primitive
from ..core.named import value_of
from ..core.protocol import EmptyState, GradientTransformation
from ..core.state_class import state_class
from ..core.types import Hyper, Mask

PARAMS_REQUIRED = (
    "{who}: update() needs params (the current parameters) to decay them, got params=None. "
    "Call update(grads, state, params)."
)


@_recipe.factory
def weight_decay(rate: Hyper, mask: Optional[Mask] = None) -> GradientTransformation:
    r"""Add the parameters, scaled, to the update (decoupled weight decay).

    .. math::  u_t = g_t + \lambda_t\,\theta_{t-1}

    Chained before :func:`scale_by_learning_rate` this is AdamW's decay
    :math:`-\alpha_t \lambda_t \theta`. Optax calls it ``add_decayed_weights``. The state keeps
    :math:`\lambda_t` as the hyperparameter ``"rate"``. A rate given as the Python number 0
    (named with :func:`gradxform.hyperparameter` or not) leaves updates as they are without
    reading the params, as Optax does, and so has no hyperparameter to set; to start at 0 and
    set it later, pass a schedule, e.g. ``lambda step: 0.0``.

    Args:
        rate: :math:`\lambda_t`, ``>= 0``; a number or a schedule.
        mask: which leaves to decay (``True``); ``None`` decays every leaf. Bools in a tree
            shaped like the params or a prefix of it (``{"encoder": False, "head": True}``), a
            function of the params returning one (a callable pytree of bools is a tree, as in
            Optax), or glob patterns over key paths; read as every gradxform mask is (see
            :func:`gradxform.masked`; a mismatch names the paths on each side). For example
            ``mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p)`` spares biases and norm
            scales, as does ``mask=lambda p: gx.path_mask(p, exclude=["*bias", "*norm*"])`` on
            Flax models.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState` (in a chain; on its own,
        the one link of a :class:`ChainState`).

    References:
        Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.
        https://arxiv.org/abs/1711.05101
    """
    _check.non_negative("weight_decay", rate=rate)
    constant = value_of(rate)  # the number inside a gradxform.hyperparameter(...) name
    skip = isinstance(constant, (int, float)) and constant == 0  # no params read (as Optax)
    hyper = _hyper.declare("weight_decay") if skip else _hyper.declare("weight_decay", rate=rate)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        if skip:
            return updates, state
        if params is None:
            raise ValueError(PARAMS_REQUIRED.format(who="weight_decay"))
        h = hyper.read(extra_args)
        rate_t = h("rate")
        decayed = jax.tree.map(lambda g, p: g + _tree.times(p, rate_t), updates, params)
        new_state = EmptyState()
        if mask is None:
            return decayed, new_state
        return _masks.select(_masks.resolve("weight_decay", mask, params), decayed, updates), new_state

    return primitive(init, update, hyper)


@state_class
class AddNoiseState(NamedTuple):
    # uint32 key data (jax.random.key_data), not a typed key, so that the state serializes with
    # any checkpointer (Flax's to_bytes cannot write typed keys); split once per update.
    rng_key: jax.Array


@_recipe.factory
def add_noise(
    eta: Hyper = 0.01, gamma: Hyper = 0.55, key: Any = 0, *, seed: Optional[int] = None
) -> GradientTransformation:
    r"""Add Gaussian noise whose variance decays with the step count (annealed gradient noise).

    .. math::  u_t = g_t + \sigma_t\,\xi_t, \qquad \xi_t \sim \mathcal{N}(0, I), \qquad
               \sigma_t^2 = \frac{\eta}{(1 + s)^{\gamma}}

    where :math:`s` is the step count read from :func:`gradxform.chain` (0 on the first update),
    so the first update has variance :math:`\eta`. The key is split once per update, and its
    second half split again into one key per leaf, exactly as Optax 0.2.8's ``add_noise`` does:
    the same key draws the same noise in both libraries. Complex leaves get complex normal noise
    (variance split evenly between the real and imaginary parts).

    Args:
        eta: :math:`\eta`, the variance on the first update; ``>= 0``; a number or a schedule.
        gamma: :math:`\gamma`, the annealing exponent; ``>= 0`` (the paper uses 0.55); a number
            or a schedule.
        key: an int seed (a Python int or an integer scalar array, which may be traced), or a
            JAX PRNG key (typed ``jax.random.key`` or raw ``jax.random.PRNGKey``). The same key
            gives the same noise. The key is made by ``init``, so the state's key is placed
            like the rest of the state (under ``jax.set_mesh``, on the mesh).
        seed: Optax's deprecated name for an int ``key``; warns (``DeprecationWarning``, as
            Optax does) and will be removed in gradxform 1.0. Give ``key`` or ``seed``, not both.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`AddNoiseState` (in a chain; on its own,
        the one link of a :class:`ChainState`).

    References:
        Neelakantan, Vilnis, Le, Sutskever, Kaiser, Kurach & Martens, "Adding Gradient Noise
        Improves Learning for Very Deep Networks", arXiv 2015, Section 2.
        https://arxiv.org/abs/1511.06807
    """
    _check.non_negative("add_noise", eta=eta, gamma=gamma)
    key = seed_or_key("add_noise", key, seed)
    make_key = key_maker(key, "add_noise")
    hyper = _hyper.declare("add_noise", eta=eta, gamma=gamma)

    def init(params):
        _check.inexact_leaves("add_noise", params)
        return AddNoiseState(rng_key=jax.random.key_data(make_key()))

    def update(updates, state, params=None, **extra_args):
        h = hyper.read(extra_args)
        t = _step.as_float(_step.one_based(_step.read(extra_args, "add_noise")))
        std = jnp.sqrt(h("eta").astype(t.dtype) / t ** h("gamma").astype(t.dtype))
        rng_key, sample_key = jax.random.split(jax.random.wrap_key_data(state.rng_key))
        leaves, treedef = jax.tree.flatten(updates)
        leaf_keys = jax.random.split(sample_key, len(leaves))
        noisy = [
            g + std.astype(g.dtype) * jax.random.normal(k, g.shape, g.dtype)
            for g, k in zip(leaves, leaf_keys)
        ]
        new_state = AddNoiseState(jax.random.key_data(rng_key))
        return jax.tree.unflatten(treedef, noisy), new_state

    return primitive(init, update, hyper, reads_step=True)


SEED_DEPRECATED = (
    "{who}: seed= is deprecated (as in Optax, which also warns); pass key= instead. seed= will be "
    "removed in gradxform 1.0."
)
SEED_AND_KEY = "{who}: give key or seed, not both; got key={key!r}, seed={seed!r}."


def seed_or_key(who: str, key: Any, seed: Optional[int]) -> Any:
    """``key``, or Optax's deprecated ``seed`` in its place (with Optax's warning)."""
    if seed is None:
        return key
    if key is not None and not (isinstance(key, int) and key == 0):  # 0: the default
        raise ValueError(SEED_AND_KEY.format(who=who, key=key, seed=seed))
    warnings.warn(SEED_DEPRECATED.format(who=who), DeprecationWarning, stacklevel=3)
    return seed


def key_maker(key, who: str):
    """A function making the typed PRNG key at ``init``, from an int seed (a Python int or an
    integer scalar array, possibly traced), a typed key or a raw ``uint32[2]`` key; checked now."""
    if isinstance(key, numbers.Integral) and not isinstance(key, bool):
        seed = int(key)
        return lambda: jax.random.key(seed)
    if isinstance(key, (jax.Array, np.ndarray)):
        # A copy at each init: the state never holds the caller's own array, which donating the
        # state to a jitted step would delete (and with it every later init's key).
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) and key.shape == ():
            return lambda: jnp.array(key, copy=True)
        if key.dtype == jnp.uint32 and key.shape == (2,):
            return lambda: jax.random.wrap_key_data(jnp.array(key, copy=True))
        if jnp.issubdtype(key.dtype, jnp.integer) and key.shape == ():
            return lambda: jax.random.key(key)
    raise TypeError(_check.NOT_A_KEY.format(who=who, got=_check.describe(key)))


# --- Update rules in LaTeX, for a recipe's rendering in a notebook ------------------------------


@_recipe.formula("weight_decay")
def _weight_decay_rule(a, x, fresh):
    return rf"{x} + {_recipe.factor(a.get('rate', '0'))}\,\theta_{{t-1}}", []


@_recipe.formula("add_noise")
def _add_noise_rule(a, x, fresh):
    variance = rf"{a.get('eta', '0.01')} / (1 + t)^{{{a.get('gamma', '0.55')}}}"
    return rf"{x} + \mathcal{{N}}(0, {variance})", []
