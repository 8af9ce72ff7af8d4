"""Sparse updates (gradxform/wrappers/sparse.py) against NumPy transcriptions of PyTorch's
SparseAdam and of masked RMSprop (tests/reference_contrib_misc.py), on an embedding table whose
batches look up a few rows, and the wrapper's contract."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference_contrib_misc import make_masked_rmsprop, make_sparse_adam
from wrapper_trees import assert_trees_equal

import gradxform as gx


def _lookups(steps, seed=0):
    """Gradients of a 6 x 3 embedding table (two rows looked up per step, one element of a looked-up
    row sometimes exactly 0) and of a bias whose gradient is sometimes 0 in places."""
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        table = np.zeros((6, 3))
        rows = rng.choice(6, size=2, replace=False)
        table[rows] = rng.normal(size=(2, 3))
        table[rows[0], 0] = 0.0
        bias = rng.normal(size=3) * (rng.uniform(size=3) > 0.4)
        yield {"table": table, "bias": bias}


def _compare(opt, reference, steps=30):
    params = {"table": np.linspace(-1, 1, 18).reshape(6, 3), "bias": np.array([0.1, -0.2, 0.3])}
    ours, state = {k: jnp.asarray(v) for k, v in params.items()}, opt.init(params)
    theirs, ref_state = dict(params), reference.init(params)
    update = jax.jit(opt.update)
    for step, grads in enumerate(_lookups(steps)):
        updates, state = update({k: jnp.asarray(g) for k, g in grads.items()}, state, ours)
        ours = gx.apply_updates(ours, updates)
        ref_updates, ref_state = reference.update(grads, ref_state, theirs)
        theirs = {k: theirs[k] + ref_updates[k] for k in theirs}
        for k in theirs:
            np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-10, atol=1e-14, err_msg=f"step {step + 1}, {k}")


def _sparse_adam_eps(eps, b2):
    return lambda step: eps / jnp.sqrt(1 - b2 ** (jnp.asarray(step, jnp.float64) + 1))


def test_lazy_rows_of_adam_are_pytorchs_sparse_adam():
    opt = gx.sparse(gx.adam(1e-2, eps=_sparse_adam_eps(1e-3, 0.999)), rows=True, lazy_moments=True)
    _compare(opt, make_sparse_adam(1e-2, eps=1e-3))


@pytest.mark.parametrize("rows", [False, True])
def test_lazy_rmsprop_is_masked_rmsprop(rows):
    opt = gx.sparse(gx.rmsprop(1e-2, eps=1e-3, eps_in_sqrt=False), rows=rows, lazy_moments=True)
    _compare(opt, make_masked_rmsprop(1e-2, eps=1e-3, rows=rows))


def test_without_lazy_moments_the_state_moves_as_unwrapped_and_only_the_update_is_limited():
    params = {"table": jnp.zeros((6, 3)), "bias": jnp.zeros(3)}
    wrapped, plain = gx.sparse(gx.rmsprop(1e-2)), gx.rmsprop(1e-2)
    state, plain_state = wrapped.init(params), plain.init(params)
    for grads in _lookups(5):
        grads = {k: jnp.asarray(g) for k, g in grads.items()}
        updates, state = wrapped.update(grads, state, params)
        expected, plain_state = plain.update(grads, plain_state, params)
        assert_trees_equal(state.inner, plain_state)
        assert_trees_equal(updates, jax.tree.map(lambda u, g: jnp.where(g != 0, u, 0.0), expected, grads))


def test_untouched_rows_keep_their_moments_and_do_not_move_even_with_weight_decay():
    opt = gx.sparse(gx.adamw(0.1, weight_decay=0.5), rows=True, lazy_moments=True)
    params = {"table": jnp.ones((3, 2))}
    state = opt.init(params)
    _, state = opt.update({"table": jnp.ones((3, 2))}, state, params)
    before = gx.tree.get(state, "mu")["table"]
    updates, state = opt.update({"table": jnp.array([[0.0, 0.0], [1.0, 2.0], [0.0, 0.0]])}, state, params)
    after = gx.tree.get(state, "mu")["table"]
    np.testing.assert_array_equal(updates["table"][0], [0.0, 0.0])
    np.testing.assert_array_equal(after[0], before[0])
    assert not np.array_equal(after[1], before[1])


def test_an_indicator_passed_to_update_replaces_the_nonzero_rule():
    opt = gx.sparse(gx.sgd(1.0), rows=True)
    grads = jnp.ones((3, 2))
    updates, _ = opt.update(grads, opt.init(grads), indicator=jnp.array([True, False, True]))
    np.testing.assert_array_equal(updates, [[-1.0, -1.0], [0.0, 0.0], [-1.0, -1.0]])


@pytest.mark.parametrize("rows, indicator, expected", [
    (True, jnp.array([True, False]), r"shape \(3,\) \(one per row of the leaf\), got bool of shape \(2,\)"),
    (False, jnp.ones((3, 2)), r"shape \(3, 2\) \(one per element of the leaf\), got float"),
])
def test_an_indicator_of_the_wrong_shape_or_dtype_is_an_error(rows, indicator, expected):
    opt = gx.sparse(gx.sgd(1.0), rows=rows)
    grads = jnp.ones((3, 2))
    with pytest.raises(ValueError, match=r"sparse: the indicator at the root must be a boolean array of " + expected):
        opt.update(grads, opt.init(grads), indicator=indicator)


def test_lazy_moments_need_params_shaped_state_and_say_so_at_init():
    message = r"sparse: lazy_moments=True .* for the parameter at \['w'\], of shape \(4, 3\)"
    with pytest.raises(ValueError, match=message):
        gx.sparse(gx.adafactor(1e-2), lazy_moments=True).init({"w": jnp.zeros((4, 3))})
    gx.sparse(gx.adafactor(1e-2)).init({"w": jnp.zeros((4, 3))})  # fine when only the update is limited


def test_flags_must_be_bools():
    with pytest.raises(TypeError, match="sparse: rows must be True or False, got int 1"):
        gx.sparse(gx.sgd(1.0), rows=1)
