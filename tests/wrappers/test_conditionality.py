"""conditionally_transform and conditionally_mask."""
import jax
import jax.numpy as jnp
import pytest
from wrapper_trees import assert_trees_equal, gradient_sequence, nested_params, run

import gradxform as gx

EVERY_THIRD = lambda step: step % 3 == 2


def test_conditionally_mask_equals_the_inner_optimizer_run_on_the_chosen_steps_with_zeros_elsewhere():
    params = nested_params()
    grads = gradient_sequence(params, 6)
    outputs, state = run(gx.conditionally_mask(gx.adam(0.1), EVERY_THIRD), params, grads, jit=True)
    expected, inner_state = run(gx.adam(0.1), params, [grads[2], grads[5]], jit=True)
    zeros = jax.tree.map(jnp.zeros_like, grads[0])
    assert_trees_equal(outputs, [zeros, zeros, expected[0], zeros, zeros, expected[1]])
    assert_trees_equal(state.inner_state, inner_state)
    assert int(state.step) == 6


def test_conditionally_transform_passes_updates_through_unchanged_at_the_other_steps():
    params = nested_params()
    grads = gradient_sequence(params, 3)
    outputs, state = run(gx.conditionally_transform(gx.scale_by_momentum(0.5), EVERY_THIRD), params, grads)
    expected, inner_state = run(gx.scale_by_momentum(0.5), params, [grads[2]])
    assert_trees_equal(outputs, [grads[0], grads[1], expected[0]])
    assert_trees_equal(state.inner_state, inner_state)


def test_conditionally_transform_can_read_the_extra_args():
    opt = gx.conditionally_transform(gx.scale(2.0), lambda step, *, go: go, forward_extra_args=True)
    state = opt.init(jnp.ones(1))
    yes, state = opt.update(jnp.ones(1), state, go=jnp.array(True))
    no, state = opt.update(jnp.ones(1), state, go=jnp.array(False))
    assert (yes.tolist(), no.tolist()) == ([2.0], [1.0])


def test_the_inner_state_does_not_advance_at_steps_not_chosen():
    opt = gx.chain(gx.conditionally_mask(gx.chain(gx.bias_correction(0.5)), lambda step: step >= 2))
    _, state = run(opt, jnp.ones(1), [jnp.ones(1)] * 5)
    assert state.step is None  # the outer chain's one link counts its own steps
    assert int(state[0].step) == 5 and int(state[0].inner_state.step) == 3


@pytest.mark.parametrize("factory", [gx.conditionally_transform, gx.conditionally_mask])
def test_the_predicate_must_be_a_function(factory):
    with pytest.raises(TypeError, match="should_transform_fn must be a function"):
        factory(gx.identity(), True)
