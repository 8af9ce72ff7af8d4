"""gx.tree.get / set / get_all_with_path / map_params, and Optax's on gradxform's states.

Each check runs Optax's own function and gradxform's on the states of sgd with momentum, adam,
a chain holding adam, and a partition of the two, with Optax's field names (``count``, ``trace``,
``mu``, ``nu``) and gradxform's (``step``, ``mu``).
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradxform as gx

PARAMS = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}
LABELS = {"w": "momentum", "b": "adam"}


def _optimizers(lib):
    return {
        "sgd_momentum": lib.sgd(0.1, momentum=0.9),
        "adam": lib.adam(0.1),
        "chain": lib.chain(lib.clip_by_global_norm(1.0), lib.adam(0.1)),
        "partition": lib.partition({"momentum": lib.sgd(0.1, momentum=0.9), "adam": lib.adam(0.1)}, LABELS),
    }


def _stepped(opt):
    state = opt.init(PARAMS)
    with jax.numpy_dtype_promotion("standard"):  # Optax itself mixes int and float
        _, state = opt.update(jax.tree.map(jnp.ones_like, PARAMS), state, PARAMS)
    return state


def _found(get, state, key):
    try:
        value = get(state, key)
    except KeyError:
        return "several"
    return None if value is None else jax.tree.map(lambda x: np.asarray(x).tolist(), value)


@pytest.mark.parametrize("name", sorted(_optimizers(optax)))
@pytest.mark.parametrize("key", ["count", "trace", "mu", "nu"])
def test_optax_field_names_find_on_gradxform_states_what_they_find_on_optax_s(name, key):
    ours = _stepped(_optimizers(gx)[name])
    theirs = _stepped(_optimizers(optax)[name])
    expected = _found(optax.tree.get, theirs, key)
    if key == "mu" and name == "partition":  # gradxform's SGD keeps its momentum in mu as well
        expected = "several"
    if key == "mu" and name == "sgd_momentum":
        expected = _found(optax.tree.get, theirs, "trace")
    assert _found(optax.tree.get, ours, key) == expected
    assert _found(gx.tree.get, ours, key) == expected
    ours_paths = optax.tree_utils.tree_get_all_with_path(ours, key)
    assert len(ours_paths) == len(gx.tree.get_all_with_path(ours, key))


def test_count_is_the_chain_step_for_optax_and_gradxform_alike():
    state = _stepped(gx.adam(0.1))
    assert int(optax.tree.get(state, "count")) == int(gx.tree.get(state, "count")) == int(state.step) == 1
    assert int(optax.tree_utils.tree_get(state, "step")) == 1  # gradxform's own name still works


def test_gx_tree_set_writes_through_optax_names_and_gradxform_s():
    state = _stepped(gx.adam(0.1))
    assert int(gx.tree.set(state, count=jnp.asarray(9, jnp.int32)).step) == 9
    assert int(gx.tree.set(state, step=jnp.asarray(8, jnp.int32)).step) == 8
    sgd = _stepped(gx.sgd(0.1, momentum=0.9))
    zeros = jax.tree.map(jnp.zeros_like, PARAMS)
    for key in ("trace", "mu"):
        replaced = gx.tree.set(sgd, **{key: zeros})
        assert type(replaced) is type(sgd) and type(replaced[0]) is type(sgd[0])
        np.testing.assert_array_equal(replaced[0].mu["w"], 0.0)
    np.testing.assert_array_equal(sgd[0].mu["w"], 1.0)  # the original is untouched


def test_optax_tree_set_writes_stored_names_on_gradxform_states():
    state = _stepped(gx.adam(0.1))
    assert int(optax.tree.set(state, step=jnp.asarray(4, jnp.int32)).step) == 4
    zeros = jax.tree.map(jnp.zeros_like, PARAMS)
    replaced = optax.tree.set(state, mu=zeros, nu=zeros)
    np.testing.assert_array_equal(gx.tree.get(replaced, "nu")["w"], 0.0)
    # The documented limit: Optax rebuilds a node from the fields it iterates, the stored ones.
    assert int(optax.tree.set(state, count=jnp.asarray(4, jnp.int32)).step) == 1


def test_set_with_filtering_replaces_only_the_accepted_values():
    state = _stepped(gx.partition({"momentum": gx.sgd(0.1, momentum=0.9), "adam": gx.adam(0.1)}, LABELS))
    zeros = jax.tree.map(jnp.zeros_like, PARAMS)

    def in_adam(path, value):
        return "adam" in jax.tree_util.keystr(tuple(k for k in path if not isinstance(k, gx.tree.NamedTupleKey)))

    replaced = gx.tree.set(state, in_adam, mu=zeros)
    adam_mu = gx.tree.get(replaced, "mu", filtering=in_adam)
    np.testing.assert_array_equal(adam_mu["b"], 0.0)
    np.testing.assert_array_equal(gx.tree.get(replaced, "trace")["w"], 1.0)


def test_get_returns_the_default_and_set_raises_for_an_unknown_name():
    state = _stepped(gx.adam(0.1))
    assert gx.tree.get(state, "nothing", default=3) == 3
    with pytest.raises(KeyError, match="set: found no value named 'nothing'"):
        gx.tree.set(state, nothing=1)


def test_get_raises_naming_the_paths_when_a_name_is_found_twice():
    state = _stepped(_optimizers(gx)["partition"])
    with pytest.raises(KeyError, match=r"found 2 values named 'mu', at .inner_states\['adam'\]"):
        gx.tree.get(state, "mu")


def test_a_namedtuple_class_name_finds_the_namedtuple():
    state = _stepped(gx.adam(0.1))
    assert isinstance(gx.tree.get(state, "MeanOfSquaresState"), gx.MeanOfSquaresState)
    path, _ = gx.tree.get_all_with_path(state, "nu")[0]
    assert gx.tree.NamedTupleKey("MeanOfSquaresState", "nu") in path


@pytest.mark.parametrize("name", ["sgd_momentum", "adam", "chain"])
def test_map_params_matches_optax_s_on_gradxform_states(name):
    opt = _optimizers(gx)[name]
    state = opt.init(PARAMS)
    kwargs = {"transform_non_params": lambda _: "not a param"}
    ours = gx.tree_map_params(opt, lambda x, spec: spec, state, {"w": "W", "b": "B"}, **kwargs)
    theirs = optax.tree_map_params(opt, lambda x, spec: spec, state, {"w": "W", "b": "B"}, **kwargs)
    assert jax.tree.structure(ours) == jax.tree.structure(theirs)
    assert jax.tree.leaves(ours) == jax.tree.leaves(theirs)
    assert "W" in jax.tree.leaves(ours) and "not a param" in jax.tree.leaves(ours)
    assert gx.tree.map_params is gx.tree_map_params


def test_map_params_takes_an_init_function():
    opt = gx.adam(0.1)
    shapes = gx.tree_map_params(opt.init, lambda x: x.shape, opt.init(PARAMS))
    assert gx.tree.get(shapes, "nu") == {"w": (2, 3), "b": (3,)}
