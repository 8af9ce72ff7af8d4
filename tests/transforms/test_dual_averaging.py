"""MADGRAD's dual-averaging terms (gradxform/transforms/dual_averaging.py)."""
import jax.numpy as jnp
import numpy as np
import pytest

import gradxform as gx


def test_the_weight_grows_as_the_root_of_the_one_based_step():
    weight = gx.chain(gx.scale_by_dual_averaging_weight(0.5, eps=0.25))
    state = weight.init(jnp.zeros(1))
    outputs = []
    for _ in range(4):
        out, state = weight.update(jnp.array([2.0]), state)
        outputs.append(float(out[0]))
    np.testing.assert_allclose(outputs, [2.0 * 0.75 * np.sqrt(t) for t in (1, 2, 3, 4)], rtol=1e-7)


def test_the_weight_follows_a_learning_rate_schedule():
    weight = gx.chain(gx.scale_by_dual_averaging_weight(lambda step: 1.0 / (1.0 + jnp.asarray(step, jnp.float64))))
    state = weight.init(jnp.zeros(1))
    _, state = weight.update(jnp.ones(1), state)
    out, _ = weight.update(jnp.ones(1), state)
    np.testing.assert_allclose(out, [0.5 * np.sqrt(2)], rtol=1e-7)


def test_cbrt_plus_eps_takes_the_real_cube_root():
    out, _ = gx.cbrt_plus_eps(0.5).update(jnp.array([8.0, -27.0]), gx.cbrt_plus_eps(0.5).init(None))
    np.testing.assert_allclose(out, [2.5, -2.5], rtol=1e-12)


def test_dual_averaging_step_moves_from_the_params_toward_x0_minus_the_update():
    step = gx.dual_averaging_step(momentum=0.25)
    x0 = jnp.array([1.0, 2.0])
    state = step.init(x0)
    x = jnp.array([3.0, 0.0])  # the params have moved since init; x0 stays the anchor
    out, state = step.update(jnp.array([0.5, -1.0]), state, x)
    z = x0 - jnp.array([0.5, -1.0])
    np.testing.assert_allclose(out, 0.75 * z + 0.25 * x - x, rtol=1e-12)
    np.testing.assert_array_equal(state.x0, x0)


def test_dual_averaging_step_needs_params():
    step = gx.dual_averaging_step()
    with pytest.raises(ValueError, match=r"dual_averaging_step: update\(\) needs params"):
        step.update(jnp.ones(1), step.init(jnp.ones(1)))


@pytest.mark.parametrize("call, error, message", [
    (lambda: gx.scale_by_dual_averaging_weight(-0.1), ValueError, r"scale_by_dual_averaging_weight: learning_rate"),
    (lambda: gx.scale_by_dual_averaging_weight(0.1, eps=lambda t: 0.0), TypeError,
     r"scale_by_dual_averaging_weight: eps must be a number"),
    (lambda: gx.cbrt_plus_eps(-1.0), ValueError, r"cbrt_plus_eps: eps must be .*>= 0, got eps=-1.0"),
    (lambda: gx.dual_averaging_step(1.5), ValueError, r"dual_averaging_step: momentum must be in \[0, 1\]"),
])
def test_bad_arguments_are_rejected_naming_them(call, error, message):
    with pytest.raises(error, match=message):
        call()
