"""A chain's state is one node of the JAX tree with its arrays as children, and a NamedTuple to Python."""
import copy
import pickle

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradxform as gx
from gradxform.core.chain_state import ExpandedChainState, expanded

PARAMS = {"dense": {"kernel": jnp.ones((3, 2)), "bias": jnp.zeros(2)}, "scale": jnp.ones(())}


def _stepped(opt, steps=2):
    state = opt.init(PARAMS)
    for i in range(steps):
        _, state = opt.update(jax.tree.map(lambda p: p + 0.5 * (i + 1), PARAMS), state, PARAMS)
    return state


def test_adams_state_is_one_node_over_its_arrays_with_readable_paths():
    state = gx.adam(1e-3).init(PARAMS)
    treedef = jax.tree.structure(state)
    leaves = jax.tree.leaves(state)
    # step, three mu leaves, three nu leaves, the hyperparameter bank
    assert len(leaves) == 8
    assert treedef.num_nodes == 1 + len(leaves)
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(state)[0]]
    assert paths[0] == ".step"
    assert ".parts[0].numerator[0].mu['dense']['kernel']" in paths
    assert ".parts[0].denominator[0].nu['scale']" in paths
    assert paths[-1] == ".hyperparams.entries"


def test_it_reads_like_a_named_tuple():
    state = _stepped(gx.sgd(0.1, momentum=0.9))
    assert state._fields == ("step", "parts", "hyperparams")
    assert isinstance(state, tuple) and len(state) == 3
    step, parts, bank = state
    assert int(step) == 2 and state[0] is step and state[-1].entries is bank.entries
    assert isinstance(parts[0], gx.ScaleByMomentumState)
    assert set(state._asdict()) == {"step", "parts", "hyperparams"}
    assert repr(state).startswith("ChainState(step=Array(2, dtype=int32), parts=(ScaleByMomentumState(")
    restarted = state._replace(step=jnp.zeros([], jnp.int32))
    assert int(restarted.step) == 0
    np.testing.assert_array_equal(restarted.parts[0].mu["dense"]["kernel"], parts[0].mu["dense"]["kernel"])
    with pytest.raises(ValueError, match="unexpected field names: \\['count'\\]"):
        state._replace(count=1)


def test_it_survives_pickle_deepcopy_and_flax_serialization_with_its_structure():
    opt = gx.adam(1e-2)
    state = _stepped(opt)
    for copied in (pickle.loads(pickle.dumps(state)), copy.deepcopy(state),
                   flax.serialization.from_bytes(opt.init(PARAMS), flax.serialization.to_bytes(state))):
        assert type(copied) is gx.ChainState
        assert jax.tree.structure(copied) == jax.tree.structure(state)
        for a, b in zip(jax.tree.leaves(copied), jax.tree.leaves(state)):
            np.testing.assert_array_equal(a, b)
    as_dict = flax.serialization.to_state_dict(state)
    assert set(as_dict) == {"step", "parts", "hyperparams"}
    assert set(as_dict["parts"]["0"]["numerator"]["0"]["mu"]) == {"dense", "scale"}


def test_a_jitted_step_rebuilds_the_same_state_as_an_eager_one():
    opt = gx.adam(1e-2)
    state = opt.init(PARAMS)
    grads = jax.tree.map(lambda p: 0.3 * p + 0.1, PARAMS)
    _, eager = opt.update(grads, state, PARAMS)
    _, jitted = jax.jit(opt.update)(grads, state, PARAMS)
    assert jax.tree.structure(jitted) == jax.tree.structure(eager)
    np.testing.assert_allclose(jitted.parts[0].denominator[0].nu["dense"]["kernel"],
                               eager.parts[0].denominator[0].nu["dense"]["kernel"], rtol=1e-6)


class _Boxed:
    """A container of another library (like Flax's nnx.Variable): not a tuple, list or dict."""

    def __init__(self, value):
        self.value = value


jax.tree_util.register_pytree_node(_Boxed, lambda b: ((b.value,), None), lambda _, c: _Boxed(c[0]))


def test_another_librarys_nodes_stay_nodes_that_is_leaf_can_find():
    params = {"w": _Boxed(jnp.ones(2)), "b": jnp.zeros(2)}
    state = gx.sgd(0.1, momentum=0.9).init(params)
    boxes = [x for x in jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, _Boxed)) if isinstance(x, _Boxed)]
    assert len(boxes) == 1 and boxes[0].value.shape == (2,)
    # and the path into it continues below the chain's key
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(state)[0]]
    assert ".parts[0].mu['w'][<flat index 0>]" in paths


def test_expanded_opens_every_chain_for_is_leaf_and_keeps_the_leaf_order():
    inner = gx.chain(gx.scale_by_momentum(0.9), gx.scale_by_learning_rate(0.1))
    state = _stepped(gx.chain(gx.clip_by_global_norm(1.0), gx.apply_if_finite(inner, 3)))
    opened = expanded(state)
    assert isinstance(opened, ExpandedChainState)
    found = [x for x in jax.tree.leaves(opened, is_leaf=lambda x: isinstance(x, gx.ScaleByMomentumState))
             if isinstance(x, gx.ScaleByMomentumState)]
    assert len(found) == 1
    # closed, is_leaf cannot see inside the chain
    assert not [x for x in jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, gx.ScaleByMomentumState))
                if isinstance(x, gx.ScaleByMomentumState)]
    for a, b in zip(jax.tree.leaves(opened), jax.tree.leaves(state), strict=True):
        assert a is b


def test_orbax_saves_and_restores_the_raw_state_inside_a_larger_tree(tmp_path):
    import orbax.checkpoint as ocp

    opt = gx.adam(1e-2)
    state = _stepped(opt)
    tree = {"params": PARAMS, "opt_state": state}
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(tmp_path / "checkpoint", tree)
    template = jax.eval_shape(lambda: {"params": PARAMS, "opt_state": opt.init(PARAMS)})
    with ocp.StandardCheckpointer() as checkpointer:
        restored = checkpointer.restore(tmp_path / "checkpoint", template)
    assert type(restored["opt_state"]) is gx.ChainState and int(restored["opt_state"].step) == 2
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(tree), strict=True):
        np.testing.assert_array_equal(a, b)
