"""Moments one step behind the update (gradxform/transforms/lagged_moments.py)."""
import jax.numpy as jnp
import numpy as np
import pytest

import gradxform as gx


def _run(transform, updates):
    state, outputs = transform.init(jnp.zeros_like(updates[0])), []
    for g in updates:
        out, state = transform.update(g, state)
        outputs.append(np.asarray(out))
    return outputs, state


def test_lagged_momentum_outputs_the_mean_of_the_earlier_updates():
    outputs, state = _run(gx.lagged_momentum(0.5), [jnp.array([2.0]), jnp.array([4.0]), jnp.array([0.0])])
    assert [o[0] for o in outputs] == [0.0, 1.0, 2.5]  # m_0 = 0, m_1 = 1, m_2 = 0.5 + 2 = 2.5
    np.testing.assert_array_equal(state.mu, [1.25])


def test_lagged_belief_moment_outputs_the_spread_before_the_update_and_keeps_eps():
    outputs, state = _run(gx.lagged_belief_moment(0.5, eps=0.25), [jnp.array([2.0]), jnp.array([-4.0])])
    assert [o[0] for o in outputs] == [0.0, 0.5 * 4.0 + 0.25]
    np.testing.assert_array_equal(state.nu, [0.5 * 2.25 + 0.5 * 16.0 + 0.25])


def test_lagged_bias_correction_is_one_first_then_divides_by_one_minus_decay_to_the_step():
    correction = gx.chain(gx.lagged_bias_correction(0.5))
    state = correction.init(jnp.zeros(2))
    outputs = []
    for _ in range(3):
        out, state = correction.update(jnp.array([3.0, 0.0]), state)
        outputs.append(np.asarray(out))
    np.testing.assert_array_equal(outputs[0], [1.0, 1.0])
    np.testing.assert_array_equal(outputs[1], [3.0 / 0.5, 0.0])  # t = 1
    np.testing.assert_array_equal(outputs[2], [3.0 / 0.75, 0.0])  # t = 2


@pytest.mark.parametrize("call, message", [
    (lambda: gx.lagged_momentum(1.0), r"lagged_momentum: decay must be in \[0, 1\), got decay=1.0"),
    (lambda: gx.lagged_belief_moment(0.9, eps=-1.0), r"lagged_belief_moment: eps must be .*>= 0, got eps=-1.0"),
    (lambda: gx.lagged_bias_correction(-0.5), r"lagged_bias_correction: decay must be in \[0, 1\)"),
])
def test_bad_values_are_rejected_naming_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_mismatched_trees_are_rejected():
    transform = gx.lagged_momentum(0.9)
    state = transform.init({"a": jnp.ones(1)})
    with pytest.raises(ValueError, match="lagged_momentum"):
        transform.update({"b": jnp.ones(1)}, state)
