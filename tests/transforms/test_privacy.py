"""Differentially private aggregation (gradxform/transforms/privacy.py) and DP-SGD against
optax.contrib's: the same key draws the same noise, bit for bit; and the checks."""
import inspect
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import registry  # noqa: F401  (loaded first: it imports registry_contrib_misc itself)
from harness import assert_same_bits, eager_beside_optax
from problems import PROBLEMS
from registry_contrib_misc import _per_example
from wrapper_trees import assert_trees_equal

import gradxform as gx


def _batch(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return {"w": jnp.asarray(rng.normal(size=(4, 3, 2)), dtype), "b": jnp.asarray(rng.normal(size=(4,)), dtype)}


def _optax(build):
    with warnings.catch_warnings():  # Optax 0.2.8's dpsgd passes its deprecated seed= itself
        warnings.simplefilter("ignore", DeprecationWarning)
        return build()


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("clip", [0.5, 1.0, 100.0])
def test_aggregate_matches_optax_bit_for_bit_noise_included(dtype, clip):
    ours = gx.differentially_private_aggregate(clip, 0.75, key=5)
    theirs = optax.contrib.differentially_private_aggregate(clip, 0.75, key=5)
    state, their_state = ours.init(None), theirs.init(None)
    for seed in range(3):
        batch = _batch(dtype, seed)
        updates, state = ours.update(batch, state)
        with jax.numpy_dtype_promotion("standard"):
            expected, their_state = theirs.update(batch, their_state)
        assert_trees_equal(updates, expected)


@pytest.mark.parametrize("kwargs", [dict(), dict(momentum=0.9), dict(momentum=0.5, nesterov=True)])
def test_dpsgd_matches_optax_bit_for_bit_in_float32(kwargs):
    def build(lib):
        if lib is optax:
            return _optax(lambda: optax.chain(_per_example(), optax.contrib.dpsgd(1e-2, 1.0, 0.3, 11, **kwargs)))
        return gx.chain(_per_example(), gx.dpsgd(1e-2, 1.0, 0.3, 11, **kwargs))

    ours, theirs = eager_beside_optax(build, PROBLEMS[0], steps=20)
    assert_same_bits(ours, theirs)


@pytest.mark.parametrize("name", ["dpsgd", "differentially_private_aggregate"])
def test_signature_is_optax_contribs(name):
    ours, theirs = inspect.signature(getattr(gx, name)), inspect.signature(getattr(optax.contrib, name))
    assert [(p.name, p.kind, p.default) for p in ours.parameters.values()] == [
        (p.name, p.kind, p.default) for p in theirs.parameters.values()]


def test_clipping_bounds_each_examples_contribution():
    opt = gx.differentially_private_aggregate(1.0, 0.0, key=0)
    batch = {"w": jnp.array([[3.0, 4.0], [0.3, 0.4]])}  # norms 5 and 0.5
    updates, _ = opt.update(batch, opt.init(None))
    np.testing.assert_allclose(updates["w"], [(0.6 + 0.3) / 2, (0.8 + 0.4) / 2])


def test_updates_without_a_batch_axis_are_an_error():
    opt = gx.differentially_private_aggregate(1.0, 0.5, key=0)
    message = "differentially_private_aggregate: every leaf of grads must have the batch on axis 0"
    with pytest.raises(ValueError, match=message):
        opt.update({"w": jnp.ones(3), "s": jnp.ones(())}, opt.init(None))


def test_no_key_warns_and_uses_key_zero():
    with pytest.warns(UserWarning, match="differentially_private_aggregate: no key given; using key 0"):
        opt = gx.differentially_private_aggregate(1.0, 0.5)
    reference = gx.differentially_private_aggregate(1.0, 0.5, key=0)
    assert_trees_equal(opt.init(None), reference.init(None))


def test_seed_and_key_together_are_an_error():
    with pytest.raises(ValueError, match="differentially_private_aggregate: give key or seed, not both"):
        gx.differentially_private_aggregate(1.0, 0.5, key=1, seed=2)


def test_negative_noise_is_an_error():
    message = "differentially_private_aggregate: noise_multiplier must be a finite number >= 0"
    with pytest.raises(ValueError, match=message):
        gx.differentially_private_aggregate(1.0, -0.5, key=0)


def test_nesterov_without_momentum_is_an_error():
    with pytest.raises(ValueError, match="dpsgd: nesterov=True has no effect without momentum"):
        gx.dpsgd(0.1, 1.0, 0.5, seed=0, nesterov=True)
