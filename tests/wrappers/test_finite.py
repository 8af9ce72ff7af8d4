"""apply_if_finite and zero_nans."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from wrapper_trees import assert_trees_close, assert_trees_equal, gradient_sequence, nested_params, run

import gradxform as gx


def poison(tree, value=jnp.nan):
    """``tree`` with one entry of its scalar leaf set to ``value``."""
    return {**tree, "temperature": jnp.asarray(value, tree["temperature"].dtype)}


@pytest.mark.slow
def test_a_nan_gradient_never_reaches_the_inner_optimizers_moments():
    params = nested_params()
    g = gradient_sequence(params, 4)
    opt = gx.apply_if_finite(gx.adam(0.1), max_consecutive_errors=5)
    state = opt.init(params)
    _, state = opt.update(g[0], state, params)
    before = state.inner_state
    skipped, state = opt.update(poison(g[1]), state, params)
    assert_trees_equal(state.inner_state, before)
    assert_trees_equal(skipped, jax.tree.map(jnp.zeros_like, g[1]))
    for leaf in jax.tree.leaves(state.inner_state):
        assert np.all(np.isfinite(leaf))


def test_skipping_non_finite_updates_equals_running_the_inner_optimizer_on_the_finite_ones():
    params = nested_params()
    g = gradient_sequence(params, 4)
    stream = [g[0], poison(g[1]), poison(g[2], jnp.inf), g[3]]
    outputs, state = run(gx.apply_if_finite(gx.adam(0.1), 2), params, stream, jit=True)
    expected, inner_state = run(gx.adam(0.1), params, [g[0], g[3]], jit=True)
    assert_trees_equal(outputs[0], expected[0])
    assert_trees_equal(outputs[3], expected[1])
    assert_trees_equal(state.inner_state, inner_state)
    assert (int(state.notfinite_count), bool(state.last_finite), int(state.total_notfinite)) == (0, True, 2)


def test_counts_consecutive_and_total_non_finite_updates():
    params = {"temperature": jnp.ones([])}
    opt = gx.apply_if_finite(gx.sgd(1.0), 10)
    state = opt.init(params)
    counts = []
    for value in [1.0, jnp.nan, -jnp.inf, 2.0, jnp.nan]:
        _, state = opt.update({"temperature": jnp.array(value)}, state, params)
        counts.append((int(state.notfinite_count), bool(state.last_finite), int(state.total_notfinite)))
    assert counts == [(0, True, 0), (1, False, 1), (2, False, 2), (0, True, 2), (1, False, 3)]


def test_after_max_consecutive_errors_the_next_one_is_applied_and_the_count_restarts():
    params = {"temperature": jnp.ones([])}
    opt = gx.apply_if_finite(gx.sgd(1.0, momentum=0.5), max_consecutive_errors=2)
    state = opt.init(params)
    applied = []
    for _ in range(5):
        updates, state = opt.update({"temperature": jnp.array(jnp.nan)}, state, params)
        applied.append((bool(jnp.isnan(updates["temperature"])), int(state.notfinite_count)))
    # skip, skip, apply (count restarts), skip, skip
    assert applied == [(False, 1), (False, 2), (True, 0), (False, 1), (False, 2)]
    assert int(state.total_notfinite) == 5


@pytest.mark.slow
def test_matches_optax_apply_if_finite_while_under_the_limit():
    params = {"w": jnp.ones(3), "temperature": jnp.ones([])}
    g = gradient_sequence(params, 5)
    stream = [g[0], poison(g[1]), g[2], poison(g[3]), g[4]]
    ours, our_state = run(gx.apply_if_finite(gx.adam(0.1), 3), params, stream)
    with jax.numpy_dtype_promotion("standard"):
        theirs, their_state = run(optax.apply_if_finite(optax.adam(0.1), 3), params, stream)
    for a, b in zip(ours, theirs):  # eagerly Optax's lax.cond compiles Adam, ours runs it op by op:
        assert_trees_close(a, b, rtol=1e-14)  # the last bit of a float64 may differ
    assert int(our_state.total_notfinite) == int(their_state.total_notfinite) == 2


def test_apply_if_finite_inside_a_chain_skips_the_inner_links_only():
    params = nested_params()
    g = gradient_sequence(params, 2)
    inner = [gx.scale_by_momentum(0.9, ema=True), gx.bias_correction(0.9)]
    opt = gx.chain(gx.apply_if_finite(inner, 3), gx.scale(-1.0))
    outputs, state = run(opt, params, [g[0], poison(g[1])], jit=True)
    expected, _ = run(gx.chain(*inner, gx.scale(-1.0)), params, [g[0]], jit=True)
    assert_trees_equal(outputs[0], expected[0])
    assert_trees_equal(outputs[1], jax.tree.map(jnp.zeros_like, g[1]))
    assert state.step is None and int(state[0].inner_state.step) == 1  # the poisoned step skipped


def test_total_count_saturates_instead_of_wrapping():
    opt = gx.apply_if_finite(gx.sgd(1.0), 10)
    state = opt.init(jnp.ones(1))._replace(total_notfinite=jnp.int32(2**31 - 1))
    _, state = opt.update(jnp.array([jnp.nan]), state)
    assert int(state.total_notfinite) == 2**31 - 1


@pytest.mark.parametrize("value, error", [(-1, ValueError), (1.5, TypeError), (None, TypeError)])
def test_apply_if_finite_rejects_a_negative_or_non_int_limit(value, error):
    with pytest.raises(error, match="apply_if_finite: max_consecutive_errors must be an int"):
        gx.apply_if_finite(gx.sgd(1.0), value)


# ---------------------------------------------------------------------------------------------
# zero_nans
# ---------------------------------------------------------------------------------------------


def test_zero_nans_zeroes_nans_keeps_infinities_and_flags_the_leaves():
    params = {"a": jnp.ones(3), "b": jnp.ones(2), "c": None}
    grads = {"a": jnp.array([1.0, jnp.nan, jnp.inf]), "b": jnp.array([2.0, 3.0]), "c": None}
    (out,), state = run(gx.zero_nans(), params, [grads])
    assert_trees_equal(out, {"a": jnp.array([1.0, 0.0, jnp.inf]), "b": grads["b"], "c": None})
    assert state.found_nan == {"a": True, "b": False, "c": None}


def test_zero_nans_matches_optax():
    params = {"a": jnp.ones(3), "b": jnp.ones(2)}
    grads = [{"a": jnp.array([1.0, jnp.nan, -jnp.inf]), "b": jnp.array([jnp.nan, 3.0])}]
    ours, our_state = run(gx.zero_nans(), params, grads)
    theirs, their_state = run(optax.zero_nans(), params, grads)
    assert_trees_equal(ours, theirs)
    assert_trees_equal(our_state.found_nan, their_state.found_nan)


@pytest.mark.slow
def test_the_inner_optimizers_hyperparameters_are_read_and_set_through_apply_if_finite():
    # apply_if_finite itself has only an int count; a skipped update keeps a set value.
    params = nested_params()
    g = gradient_sequence(params, 3)
    opt = gx.apply_if_finite(gx.adam(0.1), max_consecutive_errors=2)
    state = gx.set_hyperparams(opt.init(params), learning_rate=0.05)
    stream, outputs = [g[0], poison(g[1]), g[2]], []
    for grads in stream:
        updates, state = opt.update(grads, state, params)
        outputs.append(updates)
    expected, _ = run(gx.apply_if_finite(gx.adam(0.05), max_consecutive_errors=2), params, stream)
    assert_trees_equal(outputs, expected)
    assert float(gx.hyperparams(state)["learning_rate"]) == 0.05
    unset, _ = run(opt, params, stream)
    assert not np.array_equal(unset[0]["temperature"], outputs[0]["temperature"])
