"""MoMo's step size and momentum (gradxform/transforms/model_step.py)."""
import jax.numpy as jnp
import numpy as np
import pytest

import gradxform as gx


def test_warm_started_momentum_starts_at_the_first_update():
    momentum = gx.chain(gx.warm_started_momentum(0.5))
    state = momentum.init(jnp.zeros(1))
    first, state = momentum.update(jnp.array([4.0]), state)
    second, _ = momentum.update(jnp.array([0.0]), state)
    np.testing.assert_array_equal(first, [4.0])
    np.testing.assert_array_equal(second, [2.0])


def test_momo_step_is_capped_by_the_learning_rate():
    # f = 100 far above its bound: the model's step f / |g|^2 = 25 exceeds the cap 0.1
    step = gx.chain(gx.momo_step(gx.warm_started_momentum(0.9), learning_rate=0.1))
    x = jnp.array([1.0, 1.0])
    out, _ = step.update(jnp.array([2.0, 0.0]), step.init(x), x, value=100.0)
    np.testing.assert_allclose(out, [-0.2, 0.0], rtol=1e-12)


def test_momo_step_takes_no_step_without_a_direction():
    step = gx.chain(gx.momo_step(gx.warm_started_momentum(0.9)))
    x = jnp.array([1.0, 1.0])
    out, _ = step.update(jnp.zeros(2), step.init(x), x, value=1.0)
    np.testing.assert_array_equal(out, [0.0, 0.0])


def test_momo_step_keeps_its_scalars_in_the_narrowest_params_dtype():
    step = gx.chain(gx.momo_step(gx.warm_started_momentum(0.9), lower_bound=-1.0))
    state = step.init({"a": jnp.ones(2, jnp.float64), "b": jnp.ones(1, jnp.float32)})
    link = state.links[0]
    assert link.mean_loss.dtype == link.mean_inner.dtype == link.lower_bound.dtype == jnp.float32
    assert float(link.lower_bound) == -1.0


def test_momo_step_rejects_a_complex_loss():
    step = gx.chain(gx.momo_step(gx.warm_started_momentum(0.9)))
    x = jnp.ones(2)
    with pytest.raises(TypeError, match="momo_step: value must be a real loss"):
        step.update(x, step.init(x), x, value=1.0 + 1j)


@pytest.mark.parametrize("call, error, message", [
    (lambda: gx.warm_started_momentum(1.0), ValueError, r"warm_started_momentum: decay must be in \[0, 1\)"),
    (lambda: gx.momo_step(gx.identity(), decay=1.0), ValueError, r"momo_step: decay must be in \[0, 1\)"),
    (lambda: gx.momo_step(gx.identity(), weight_decay=-1.0), ValueError, r"momo_step: weight_decay must be"),
    (lambda: gx.momo_step(gx.identity(), warm_start=None), TypeError, r"momo_step: warm_start must be True or False"),
    (lambda: gx.momo_step("adam"), TypeError, r"momo_step"),
])
def test_bad_arguments_are_rejected_naming_them(call, error, message):
    with pytest.raises(error, match=message):
        call()
