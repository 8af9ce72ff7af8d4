"""microbatch and AccumulationType against optax.microbatch."""
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.microbatching
import pytest
from wrapper_trees import assert_trees_equal

import gradxform as gx

Ours, Theirs = gx.AccumulationType, optax.microbatching.AccumulationType


def test_signature_and_accumulation_types_are_optaxs():
    ours = inspect.signature(gx.microbatch).parameters.values()
    theirs = inspect.signature(optax.microbatch).parameters.values()
    assert [(p.name, p.kind) for p in ours] == [(p.name, p.kind) for p in theirs]
    assert [(p.name, p.default) for p in ours if p.name != "accumulator"] == [
        (p.name, p.default) for p in theirs if p.name != "accumulator"]
    assert inspect.signature(gx.microbatch).parameters["accumulator"].default is Ours.SUM
    assert [t.name for t in Ours] == [t.name for t in Theirs]


def loss(params, x, y):
    return jnp.sum((x @ params["w"] + params["b"][None, :] - y) ** 2)


def data(dtype=jnp.float32, batch=12):
    rng = np.random.default_rng(0)
    params = {"w": jnp.asarray(rng.normal(size=(3, 2)), dtype), "b": jnp.asarray(rng.normal(size=2), dtype)}
    return params, jnp.asarray(rng.normal(size=(batch, 3)), dtype), jnp.asarray(rng.normal(size=(batch, 2)), dtype)


@pytest.mark.parametrize("kind", ["SUM", "MEAN", "RUNNING_MEAN"])
@pytest.mark.parametrize("size", [1, 3, 4, 12])
def test_microbatched_gradients_match_optax_bit_for_bit(kind, size):
    params, x, y = data()
    grad = jax.value_and_grad(loss)
    ours = gx.microbatch(grad, argnums=(1, 2), microbatch_size=size, accumulator=getattr(Ours, kind))
    theirs = optax.microbatch(grad, argnums=(1, 2), microbatch_size=size, accumulator=getattr(Theirs, kind))
    with jax.numpy_dtype_promotion("standard"):  # Optax's running mean mixes int and float
        expected = jax.jit(theirs)(params, x, y)
    assert_trees_equal(jax.jit(ours)(params, x, y), expected)


def test_sum_equals_the_full_batch_gradient():
    params, x, y = data(jnp.float64)
    full = jax.grad(loss)(params, x, y)
    micro = gx.microbatch(jax.grad(loss), argnums=(1, 2), microbatch_size=4)(params, x, y)
    for a, b in zip(jax.tree.leaves(micro), jax.tree.leaves(full)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12)


def test_concat_returns_per_example_results_in_batch_order_as_optax():
    def fun(x):
        return x + 1, jnp.sum(3 * x)

    x = jnp.arange(12.0).reshape(6, 2)
    strategy = (Ours.CONCAT, Ours.SUM)
    ours = gx.microbatch(fun, argnums=0, microbatch_size=2, accumulator=strategy)(x)
    theirs = optax.microbatch(fun, argnums=0, microbatch_size=2, accumulator=(Theirs.CONCAT, Theirs.SUM))(x)
    assert_trees_equal(ours, theirs)
    assert_trees_equal(ours, fun(x))


def test_argnames_in_axes_and_num_real_microbatches_as_optax():
    def fun(a, *, b):
        return {"s": jnp.sum(a, axis=1) * jnp.sum(b), "m": jnp.mean(b)}

    a, b = jnp.arange(24.0).reshape(2, 12), jnp.linspace(0.0, 1.0, 12)
    kwargs = dict(argnums=0, microbatch_size=3, argnames="b", in_axes=(1, 0))
    for real in [None, 2]:
        acc = {"s": Ours.SUM, "m": Ours.RUNNING_MEAN}
        ours = jax.jit(gx.microbatch(fun, **kwargs, accumulator=acc, num_real_microbatches=real))(a, b=b)
        acc = {"s": Theirs.SUM, "m": Theirs.RUNNING_MEAN}
        with jax.numpy_dtype_promotion("standard"):
            theirs = jax.jit(optax.microbatch(fun, **kwargs, accumulator=acc, num_real_microbatches=real))(a, b=b)
        assert_trees_equal(ours, theirs)


def test_a_custom_accumulator_and_optaxs_are_accepted():
    maximum = gx.wrappers.microbatching.Accumulator(
        init=lambda s: jnp.full(s.shape, -jnp.inf, s.dtype), update=lambda c, v, i: jnp.maximum(c, v),
        finalize=lambda c: c, aggregate=lambda v: jnp.max(v, axis=0))
    x = jnp.array([3.0, -1.0, 7.0, 2.0])
    assert float(gx.microbatch(jnp.max, 0, 1, maximum)(x)) == 7.0
    assert float(gx.microbatch(jnp.sum, 0, 2, Theirs.MEAN)(x)) == 5.5


def test_microbatch_size_none_returns_the_function():
    assert gx.microbatch(jnp.sum, 0, None) is jnp.sum


def test_gradients_feed_a_gx_optimizer():
    params, x, y = data()
    grads = gx.microbatch(jax.grad(loss), argnums=(1, 2), microbatch_size=4, accumulator=Ours.MEAN)(params, x, y)
    opt = gx.adam(0.1)
    updates, _ = opt.update(grads, opt.init(params), params)
    assert jax.tree.structure(updates) == jax.tree.structure(params)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="microbatch: the batch size 12 is not divisible by microbatch_size=5"):
        gx.microbatch(jnp.sum, 0, 5)(jnp.ones(12))
    with pytest.raises(ValueError, match="microbatch: every batch argument must have the same size"):
        gx.microbatch(lambda a, b: a.sum() + b.sum(), (0, 1), 2)(jnp.ones(4), jnp.ones(6))
    with pytest.raises(ValueError, match="microbatch: the MEAN and RUNNING_MEAN accumulations need floating-point"):
        gx.microbatch(jnp.sum, 0, 2, Ours.MEAN)(jnp.ones(4, jnp.int32))
    with pytest.raises(TypeError, match="microbatch: accumulator must be an AccumulationType"):
        gx.microbatch(jnp.sum, 0, 2, "sum")(jnp.ones(4))
    with pytest.raises(ValueError, match="microbatch: microbatch_size must be an int >= 1"):
        gx.microbatch(jnp.sum, 0, 0)
    with pytest.raises(ValueError, match="microbatch: in_axes must be one int or one int per batch argument"):
        gx.microbatch(jnp.sum, (0, 1), 2, in_axes=(0,))
    with pytest.raises(TypeError, match="microbatch: fun must be a function"):
        gx.microbatch(3, 0, 2)
