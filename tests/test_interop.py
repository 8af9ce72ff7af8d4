"""gradxform and Optax transformations mix both ways; Flax trains with gradxform optimizers."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen, nnx
from flax.training import train_state

import gradxform as gx

PARAMS = {"w": jnp.asarray([[0.5, -1.0], [2.0, 0.25]]), "b": jnp.asarray(-0.75)}


def _grads(step):
    rng = np.random.default_rng(100 + step)
    return {"w": jnp.asarray(rng.normal(size=(2, 2))), "b": jnp.asarray(rng.normal())}


def _updates(transform, steps=4):
    """Each step's updates in float64; Optax code inside runs under standard promotion."""
    with jax.numpy_dtype_promotion("standard"):  # Optax itself mixes int and float
        state = transform.init(PARAMS)
        out = []
        for t in range(steps):
            updates, state = transform.update(_grads(t), state, PARAMS)
            out.append({k: np.asarray(v) for k, v in updates.items()})
    return out


def _assert_same_updates(actual, expected, rtol=1e-13):
    for step, (a, e) in enumerate(zip(actual, expected)):
        for k in e:
            np.testing.assert_allclose(a[k], e[k], rtol=rtol, atol=1e-15, err_msg=f"step {step + 1}, {k}")


# ---------------------------------------------------------------------------------------------
# gradxform inside Optax
# ---------------------------------------------------------------------------------------------


def test_gradxform_alias_inside_optax_chain_equals_optax():
    ours = optax.chain(optax.clip_by_global_norm(1.0), gx.adam(0.1), optax.scale(0.5))
    theirs = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(0.1), optax.scale(0.5))
    _assert_same_updates(_updates(ours), _updates(theirs))


def test_gradxform_primitive_inside_optax_chain_equals_optax():
    ours = optax.chain(gx.scale_by_momentum(0.9, ema=True), optax.scale(-0.1))
    theirs = optax.chain(optax.ema(0.9, debias=False), optax.scale(-0.1))
    _assert_same_updates(_updates(ours), _updates(theirs), rtol=0)


def test_gradxform_state_inside_optax_chain_is_a_chain_state():
    state = optax.chain(gx.adam(0.1), optax.scale(0.5)).init(PARAMS)
    assert isinstance(state[0], gx.ChainState)


# ---------------------------------------------------------------------------------------------
# Optax inside gradxform
# ---------------------------------------------------------------------------------------------


def test_optax_transform_inside_gradxform_chain_equals_optax():
    ours = gx.chain(optax.scale_by_adam(), gx.scale_by_learning_rate(0.1))
    _assert_same_updates(_updates(ours), _updates(optax.adam(0.1)), rtol=0)


def test_optax_transforms_as_ratio_branches_equal_optax_adam():
    ours = gx.chain(
        gx.ratio(
            optax.ema(0.9, debias=True),  # a plain Optax transform: gets no extra args
            [gx.mean_of_squares(0.999), gx.bias_correction(0.999), gx.sqrt_plus_eps(1e-8)],
        ),
        gx.scale_by_learning_rate(0.1),
    )
    _assert_same_updates(_updates(ours), _updates(optax.adam(0.1)))


def test_optax_chain_inside_gradxform_chain_receives_and_passes_on_extra_args():
    ours = gx.chain(optax.chain(optax.scale_by_rms(), optax.scale(-0.01)), gx.identity())
    _assert_same_updates(_updates(ours), _updates(optax.rmsprop(0.01)), rtol=0)


# ---------------------------------------------------------------------------------------------
# Flax
# ---------------------------------------------------------------------------------------------


class _Tiny(linen.Module):
    @linen.compact
    def __call__(self, x):
        return linen.Dense(2, param_dtype=jnp.float32)(x)


def _linen_setup():
    model = _Tiny()
    x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 3)), jnp.float32)
    params = model.init(jax.random.key(0), x)["params"]

    def loss(params):
        return jnp.mean(model.apply({"params": params}, x) ** 2)

    return model, params, loss


def test_flax_linen_train_state_steps_with_a_gradxform_optimizer():
    model, params, loss = _linen_setup()
    state = train_state.TrainState.create(apply_fn=model.apply, params=params, tx=gx.adam(1e-2))
    assert isinstance(state.opt_state, gx.ChainState)
    grads = jax.grad(loss)(params)
    stepped = jax.jit(lambda s, g: s.apply_gradients(grads=g))(state, grads)

    opt = gx.adam(1e-2)
    updates, _ = opt.update(grads, opt.init(params), params)
    expected = gx.apply_updates(params, updates)
    assert int(stepped.step) == 1 and int(stepped.opt_state.step) == 1
    for a, e in zip(jax.tree.leaves(stepped.params), jax.tree.leaves(expected)):
        assert a.dtype == jnp.float32
        np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol=1e-6)
    assert float(loss(stepped.params)) < float(loss(params))


def test_flax_nnx_optimizer_steps_with_a_gradxform_optimizer():
    model = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
    x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 3)), jnp.float32)
    before = nnx.to_pure_dict(nnx.state(model, nnx.Param))  # plain arrays, not live variables
    optimizer = nnx.Optimizer(model, gx.adam(1e-2), wrt=nnx.Param)

    def loss(m):
        return jnp.mean(m(x) ** 2)

    grads = nnx.grad(loss)(model)
    optimizer.update(model, grads)

    opt = gx.adam(1e-2)
    pure_grads = nnx.to_pure_dict(grads)
    updates, _ = opt.update(pure_grads, opt.init(before), before)
    expected = gx.apply_updates(before, updates)
    got = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    for a, e in zip(jax.tree.leaves(got), jax.tree.leaves(expected)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol=1e-6)
