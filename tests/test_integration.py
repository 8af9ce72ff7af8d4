"""gradxform optimizers train real models in Flax (linen and NNX), Haiku and mixed with Optax.

Each test trains a small MLP on a synthetic regression for STEPS jitted steps and asserts that
the loss falls by FACTOR. The same compiled step with the learning rate set to 0 (through
``gx.set_hyperparams``, no recompilation) must not: the fall comes from the updates.
"""
from __future__ import annotations

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import linen, nnx
from flax.training import train_state

import gradxform as gx

pytestmark = pytest.mark.slow  # make test-fast leaves this module out

STEPS = 150
FACTOR = 20  # every run here falls by more than 100x; a wrong sign, scale or state does not
HIDDEN = 32

_rng = np.random.default_rng(0)
_x = _rng.normal(size=(128, 4))
X = jnp.asarray(_x, jnp.float32)
Y = jnp.asarray((np.sin(_x @ _rng.normal(size=4)) + 0.5 * _x @ _rng.normal(size=4))[:, None], jnp.float32)


def _mse(prediction):
    return jnp.mean((prediction - Y) ** 2)


# ---------------------------------------------------------------------------------------------
# Flax linen: TrainState
# ---------------------------------------------------------------------------------------------


class _LinenMLP(linen.Module):
    @linen.compact
    def __call__(self, x):
        return linen.Dense(1)(jnp.tanh(linen.Dense(HIDDEN)(x)))


@jax.jit
def _linen_step(state):
    grads = jax.grad(lambda p: _mse(state.apply_fn({"params": p}, X)))(state.params)
    return state.apply_gradients(grads=grads)


def _train_linen(state):
    for _ in range(STEPS):
        state = _linen_step(state)
    return float(_mse(state.apply_fn({"params": state.params}, X)))


def test_flax_linen_train_state_trains_an_mlp_with_gradxform_adam():
    model = _LinenMLP()
    params = model.init(jax.random.key(0), X)["params"]
    state = train_state.TrainState.create(apply_fn=model.apply, params=params, tx=gx.adam(1e-2))
    initial = float(_mse(model.apply({"params": params}, X)))

    assert _train_linen(state) < initial / FACTOR
    frozen = state.replace(opt_state=gx.set_hyperparams(state.opt_state, learning_rate=0.0))
    assert _train_linen(frozen) == pytest.approx(initial, rel=1e-6)


# ---------------------------------------------------------------------------------------------
# Flax NNX: nnx.Optimizer
# ---------------------------------------------------------------------------------------------


class _NnxMLP(nnx.Module):
    def __init__(self, rngs):
        self.hidden = nnx.Linear(4, HIDDEN, rngs=rngs)
        self.out = nnx.Linear(HIDDEN, 1, rngs=rngs)

    def __call__(self, x):
        return self.out(jnp.tanh(self.hidden(x)))


def test_flax_nnx_optimizer_trains_an_mlp_with_gradxform_adam():
    model = _NnxMLP(nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, gx.adam(1e-2), wrt=nnx.Param)
    initial = float(_mse(model(X)))

    @nnx.jit
    def step(model, optimizer):
        grads = nnx.grad(lambda m: _mse(m(X)))(model)
        optimizer.update(model, grads)

    for _ in range(STEPS):
        step(model, optimizer)
    assert float(_mse(model(X))) < initial / FACTOR
    opt_state = nnx.as_pure(optimizer.opt_state)  # the gradxform state, as arrays
    assert isinstance(opt_state, gx.ChainState) and int(opt_state.step) == STEPS
    assert float(gx.hyperparams(opt_state)["learning_rate"]) == pytest.approx(1e-2)


def test_a_mask_built_on_nnx_state_fits_what_nnx_optimizer_passes():
    """The README's mask on nnx.state(model, nnx.Param) (paths ending in /value) decays the
    kernels and not the biases, although nnx.Optimizer hands the optimizer plain arrays."""
    model = _NnxMLP(nnx.Rngs(0))
    mask = gx.path_mask(nnx.state(model, nnx.Param), exclude=["*bias"])
    optimizer = nnx.Optimizer(model, gx.adamw(1e-2, weight_decay=0.1, mask=mask), wrt=nnx.Param)
    kernel, bias = np.asarray(model.hidden.kernel[...]), np.asarray(model.hidden.bias[...])
    optimizer.update(model, jax.tree.map(jnp.zeros_like, nnx.state(model, nnx.Param)))
    np.testing.assert_allclose(model.hidden.kernel[...], kernel * (1 - 1e-2 * 0.1), rtol=1e-6)
    np.testing.assert_array_equal(model.hidden.bias[...], bias)


# ---------------------------------------------------------------------------------------------
# Haiku, and Optax mixed in both directions: a plain training loop over a params dict
# ---------------------------------------------------------------------------------------------


def _train(loss, params, opt):
    """``(initial loss, loss after STEPS jitted steps, loss after as many steps with lr 0)``."""

    @jax.jit
    def step(params, state):
        grads = jax.grad(loss)(params)
        updates, state = opt.update(grads, state, params)
        return gx.apply_updates(params, updates), state

    def final(state):
        p = params
        for _ in range(STEPS):
            p, state = step(p, state)
        return float(loss(p))

    state = opt.init(params)
    frozen = gx.set_hyperparams(state, learning_rate=0.0)  # same compiled step, no movement
    return float(loss(params)), final(state), final(frozen)


def _assert_trains(initial, final, frozen):
    assert final < initial / FACTOR, f"loss {initial:.3g} -> {final:.3g}: only {initial / final:.1f}x"
    assert frozen == pytest.approx(initial, rel=1e-6)


def test_haiku_transformed_mlp_trains_with_gradxform_adam():
    def forward(x):
        return hk.Sequential([hk.Linear(HIDDEN), jnp.tanh, hk.Linear(1)])(x)

    model = hk.without_apply_rng(hk.transform(forward))
    params = model.init(jax.random.key(0), X)
    _assert_trains(*_train(lambda p: _mse(model.apply(p, X)), params, gx.adam(1e-2)))


def _mlp_params():
    k1, k2 = jax.random.split(jax.random.key(0))
    return {
        "w1": 0.5 * jax.random.normal(k1, (4, HIDDEN), jnp.float32),
        "b1": jnp.zeros(HIDDEN, jnp.float32),
        "w2": 0.2 * jax.random.normal(k2, (HIDDEN, 1), jnp.float32),
        "b2": jnp.zeros(1, jnp.float32),
    }


def _mlp_loss(p):
    hidden = jnp.tanh(X @ p["w1"] + p["b1"][None, :])
    return _mse(hidden @ p["w2"] + p["b2"][None, :])


OPTAX_MIXES = {
    "gradxform_adam_inside_optax_chain": lambda: optax.chain(
        optax.clip_by_global_norm(1.0), gx.adam(1e-2)
    ),
    "optax_ema_as_gradxform_ratio_numerator": lambda: gx.chain(
        optax.clip_by_global_norm(1.0),
        gx.ratio(
            optax.ema(0.9, debias=True),
            [gx.mean_of_squares(0.999), gx.bias_correction(0.999), gx.sqrt_plus_eps(1e-8)],
        ),
        gx.scale_by_learning_rate(1e-2),
    ),
    "optax_trace_as_gradxform_parallel_sum_branch": lambda: gx.chain(
        gx.parallel_sum((0.7, optax.trace(0.9)), (0.3, [gx.identity()])),
        gx.scale_by_learning_rate(0.05),
    ),
}


@pytest.mark.parametrize("make", list(OPTAX_MIXES.values()), ids=list(OPTAX_MIXES))
def test_gradxform_and_optax_mixed_train_an_mlp(make):
    with jax.numpy_dtype_promotion("standard"):  # Optax itself mixes int and float
        _assert_trains(*_train(_mlp_loss, _mlp_params(), make()))
