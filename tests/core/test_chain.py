"""A chain's state indexes its links as optax.chain's does, keeps the step and the hyperparameters beside
them, and is walked by jax.tree, Flax, Orbax and Optax's tree utilities like a NamedTuple."""
import copy
import pickle

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradxform as gx

PARAMS = {"dense": {"kernel": jnp.ones((3, 2)), "bias": jnp.zeros(2)}, "scale": jnp.ones(())}


def _stepped(opt, steps=2):
    state = opt.init(PARAMS)
    for i in range(steps):
        _, state = opt.update(jax.tree.map(lambda p: p + 0.5 * (i + 1), PARAMS), state, PARAMS)
    return state


def test_adams_state_has_its_arrays_as_leaves_with_readable_paths():
    state = gx.adam(1e-3).init(PARAMS)
    leaves = jax.tree.leaves(state)
    # step, three mu leaves, three nu leaves, the hyperparameters' one table
    assert len(leaves) == 8
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(state)[0]]
    assert paths[0] == ".step"
    assert paths[1] == ".hyperparams"  # the rows' one array
    assert ".links[0].numerator[0].mu['dense']['kernel']" in paths
    assert ".links[0].denominator[0].nu['scale']" in paths


def test_it_indexes_its_links_as_optax_chain_does_and_reads_like_a_named_tuple():
    state = _stepped(gx.sgd(0.1, momentum=0.9))
    assert isinstance(state, tuple) and len(state) == 2
    momentum, last = state
    assert isinstance(momentum, gx.ScaleByMomentumState) and state[0] is momentum
    assert state[-1] == gx.EmptyState() and last == gx.EmptyState()
    assert state.links == (momentum, last)
    assert state.step is None  # no link of SGD's reads the step: none is kept, as in Optax
    assert state.hyperparams.names == ("momentum", "learning_rate")
    assert state._fields == ("hyperparams", "links")
    assert set(state._asdict()) == {"hyperparams", "links"}
    assert repr(state).startswith(
        "ChainState(\n  hyperparams=Hyperparams(momentum=0.9, learning_rate=0.1),\n"
        "  links=(\n    ScaleByMomentumState(\n      mu={")
    small = gx.sgd(0.1, momentum=0.9).init({"w": jnp.zeros(2)})
    assert repr(small) == (
        "ChainState(\n  hyperparams=Hyperparams(momentum=0.9, learning_rate=0.1),\n"
        "  links=(ScaleByMomentumState(mu={'w': Array([0., 0.], dtype=float64)}), EmptyState()))")
    zeroed = state._replace(links=(gx.ScaleByMomentumState(jax.tree.map(jnp.zeros_like, PARAMS)), last))
    assert float(jnp.sum(zeroed[0].mu["scale"])) == 0.0 and zeroed.hyperparams == state.hyperparams
    with pytest.raises(TypeError, match="it keeps no step: no link reads one"):
        state._replace(step=jnp.zeros([], jnp.int32))
    adam = _stepped(gx.adam(0.1))
    assert int(adam.step) == 2 and adam._fields == ("step", "hyperparams", "links")
    restarted = adam._replace(step=jnp.zeros([], jnp.int32))
    assert int(restarted.step) == 0
    np.testing.assert_array_equal(restarted[0].numerator[0].mu["scale"], adam[0].numerator[0].mu["scale"])


def test_a_chain_keeps_a_step_only_where_a_link_reads_one():
    keeps = {
        "sgd": gx.sgd(0.1), "rmsprop": gx.rmsprop(0.1), "adagrad": gx.adagrad(0.1),
        "adam (bias correction)": gx.adam(0.1),
        "sgd with a schedule": gx.sgd(gx.linear_schedule(0.1, 0.0, 10)),
        "noisy_sgd (annealed noise)": gx.noisy_sgd(0.1),
        "an Optax link that takes extra arguments": gx.chain(optax.sgd(0.1)),
        "an Optax link that takes none": gx.chain(optax.scale(0.1)),
        "a gradxform chain as a link (counts its own)": gx.chain(gx.adam(0.1), gx.sgd(1.0)),
        "gradxform wrappers as links (count their own)": gx.chain(
            gx.MultiSteps(gx.adam(0.1), 2).gradient_transformation(), gx.MultiSteps(gx.sgd(0.1), 2),
            gx.checked(gx.adam(0.1)),
            gx.lookahead(gx.adam(0.1), 2, 0.5)),
        "a hand-made link that takes extra arguments": gx.chain(
            gx.GradientTransformation(lambda p: (), lambda u, s, p=None, **extra: (u, s))),
    }
    kept = {name: opt.init(PARAMS).step is not None for name, opt in keeps.items()}
    assert kept == {
        "sgd": False, "rmsprop": False, "adagrad": False, "adam (bias correction)": True,
        "sgd with a schedule": True, "noisy_sgd (annealed noise)": True,
        "an Optax link that takes extra arguments": True, "an Optax link that takes none": False,
        "a gradxform chain as a link (counts its own)": False,
        "gradxform wrappers as links (count their own)": False,
        "a hand-made link that takes extra arguments": True,
    }
    nested = gx.chain(gx.adam(0.1), gx.sgd(1.0))
    state = nested.init(PARAMS)
    for _ in range(3):
        _, state = jax.jit(nested.update)(PARAMS, state, PARAMS)
    assert int(state[0].step) == 3 and state[1].step is None and state.step is None


def test_optax_tree_map_params_maps_over_it():
    opt = gx.chain(gx.clip_by_global_norm(1.0), gx.adam(1e-3))
    state = opt.init(PARAMS)
    mapped = optax.tree_map_params(opt, lambda p: "P", state, transform_non_params=lambda _: "other")
    adam = mapped[1]
    assert adam[0].numerator[0].mu == {"dense": {"kernel": "P", "bias": "P"}, "scale": "P"}
    assert adam.step == "other" and adam.hyperparams.table == "other"
    assert mapped.step is None  # the outer chain's links read no step: it keeps none


def test_it_survives_pickle_deepcopy_and_flax_serialization_with_its_structure():
    opt = gx.adam(1e-2)
    state = _stepped(opt)
    for copied in (pickle.loads(pickle.dumps(state)), copy.deepcopy(state),
                   flax.serialization.from_bytes(opt.init(PARAMS), flax.serialization.to_bytes(state))):
        assert isinstance(copied, gx.ChainState) and type(copied) is type(state)
        assert jax.tree.structure(copied) == jax.tree.structure(state)
        for a, b in zip(jax.tree.leaves(copied), jax.tree.leaves(state)):
            np.testing.assert_array_equal(a, b)
    as_dict = flax.serialization.to_state_dict(state)
    assert set(as_dict) == {"step", "hyperparams", "links"}
    assert set(as_dict["hyperparams"]) == {"table"}
    assert set(as_dict["links"]["0"]["numerator"]["0"]["mu"]) == {"dense", "scale"}


def test_a_jitted_step_rebuilds_the_same_state_as_an_eager_one():
    opt = gx.adam(1e-2)
    state = opt.init(PARAMS)
    grads = jax.tree.map(lambda p: 0.3 * p + 0.1, PARAMS)
    _, eager = opt.update(grads, state, PARAMS)
    _, jitted = jax.jit(opt.update)(grads, state, PARAMS)
    assert jax.tree.structure(jitted) == jax.tree.structure(eager)
    np.testing.assert_allclose(jitted[0].denominator[0].nu["dense"]["kernel"],
                               eager[0].denominator[0].nu["dense"]["kernel"], rtol=1e-6)


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
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(state)[0]]
    assert ".links[0].mu['w'][<flat index 0>]" in paths


def test_is_leaf_sees_every_link_state_inside_nested_chains_in_leaf_order():
    inner = gx.chain(gx.scale_by_momentum(0.9), gx.scale_by_learning_rate(0.1))
    state = _stepped(gx.chain(gx.clip_by_global_norm(1.0), gx.apply_if_finite(inner, 3)))

    def is_momentum(x):
        return isinstance(x, gx.ScaleByMomentumState)

    found = [x for x in jax.tree.leaves(state, is_leaf=is_momentum) if is_momentum(x)]
    assert len(found) == 1 and found[0] is state[1].inner_state[0]


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
    assert type(restored["opt_state"]) is type(state) and int(restored["opt_state"].step) == 2
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(tree), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_set_value_prints_as_set_and_none_hands_it_back():
    state = gx.adam(1e-3).init({"w": jnp.zeros(2)})
    pinned = gx.set_hyperparams(state, learning_rate=1e-4)
    assert "learning_rate=0.0001 (set)" in repr(pinned.hyperparams)
    released = gx.set_hyperparams(pinned, learning_rate=None)
    assert repr(released.hyperparams) == repr(state.hyperparams)


def test_a_primitive_on_its_own_is_a_one_link_chain_whose_fields_read_through():
    momentum = gx.scale_by_momentum(0.9)
    state = momentum.init({"w": jnp.zeros(2)})
    assert isinstance(state, gx.ChainState) and len(state) == 1
    assert state.mu is state[0].mu
    assert gx.hyperparams(state) == {"decay": state.hyperparams.in_force(0)}
    with pytest.raises(AttributeError, match="no attribute 'nu'"):
        state.nu  # noqa: B018


def test_a_sequence_is_taken_apart_into_the_chain_around_it():
    b = gx.hyperparameter("b", 0.9)
    seq = gx.sequence(gx.scale_by_momentum(b, ema=True), gx.bias_correction(b))
    params = {"w": jnp.zeros(2)}
    alone, inside = seq.init(params), gx.chain(seq, gx.scale(2.0)).init(params)
    assert alone.hyperparams.names == ("b",) and type(alone[0]) is tuple
    assert inside.hyperparams.names == ("b", "step_size")  # one table, one counter, for both links
    grads = {"w": jnp.asarray([1.0, -1.0])}
    out, _ = gx.chain(seq, gx.scale(2.0)).update(grads, inside, params)
    np.testing.assert_allclose(out["w"], [2.0, -2.0], rtol=1e-14)  # m_1 / (1 - b) = g, doubled


def test_states_of_one_recipe_share_a_type_and_pickle_to_it():
    params = {"w": jnp.zeros(2)}
    first, second = gx.adam(1e-3).init(params), gx.adam(1e-2).init(params)
    assert type(first) is type(second) and type(first) is not type(gx.sgd(0.1).init(params))
    assert type(pickle.loads(pickle.dumps(first))) is type(first)


@pytest.mark.parametrize("state", [None, gx.EmptyState(), (), {}])
def test_a_primitive_keeping_no_arrays_takes_another_state_as_optax_code_passes_it(state):
    grads = {"w": jnp.array([3.0, 4.0])}
    for tx in (gx.clip(0.5), gx.scale(2.0), gx.clip_by_block_rms(1.0)):
        expected, _ = tx.update(grads, tx.init(grads))
        out, new_state = tx.update(grads, state)
        jax.tree.map(np.testing.assert_array_equal, out, expected)
        assert isinstance(new_state, gx.ChainState)


def test_a_primitive_with_arrays_of_its_own_refuses_another_state_naming_itself():
    grads = {"w": jnp.array([3.0, 4.0])}
    with pytest.raises(TypeError, match=r"scale_by_momentum.update: state must be the state this "
                                        r"transformation's init\(\) returned, got NoneType None"):
        gx.scale_by_momentum(0.9).update(grads, None)
