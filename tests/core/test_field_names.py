"""Optax's field names as aliases: read everywhere, stored once, written through _replace."""
import pickle
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import serialization

import gradxform as gx
from gradxform.core.field_names import FieldNames, answers_to

PARAMS = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}


@answers_to(total="value")
class _Example(NamedTuple):
    value: jax.Array
    other: jax.Array


def test_field_names_iterate_the_stored_names_and_contain_the_aliases():
    fields = FieldNames(("mu",), {"trace": "mu"})
    assert tuple(fields) == ("mu",) and fields == ("mu",) and len(fields) == 1
    assert "trace" in fields and "mu" in fields and "nu" not in fields
    assert fields.stored({"trace": 1, "other": 2}) == {"mu": 1, "other": 2}
    assert pickle.loads(pickle.dumps(fields)).aliases == {"trace": "mu"}


def test_an_alias_of_a_field_that_is_not_stored_is_an_error():
    with pytest.raises(ValueError, match=r"aliases of fields that are not stored: \['nu'\]"):
        FieldNames(("mu",), {"trace": "nu"})


def test_a_decorated_state_reads_and_replaces_through_its_alias():
    state = _Example(jnp.array(1.0), jnp.array(2.0))
    assert state.total is state.value
    replaced = state._replace(total=jnp.array(5.0))
    assert type(replaced) is _Example and float(replaced.value) == 5.0 and float(replaced.other) == 2.0
    assert state._asdict().keys() == {"value", "other"}
    with pytest.raises(AttributeError):
        state.total = 3.0


def test_aliases_change_neither_key_paths_nor_checkpoints_nor_printing():
    state = gx.sgd(0.1, momentum=0.9).init(PARAMS)
    momentum = state[0]
    assert momentum.trace is momentum.mu and momentum._fields == ("mu",)
    paths = [jax.tree_util.keystr(path) for path, _ in jax.tree_util.tree_leaves_with_path(state)]
    assert ".links[0].mu['w']" in paths and not any("trace" in p for p in paths)
    assert list(serialization.to_state_dict(momentum)) == ["mu"]
    assert "trace" not in repr(state) and "count" not in repr(gx.adam(0.1).init(PARAMS))
    restored = serialization.from_state_dict(state, serialization.to_state_dict(state))
    assert jax.tree.structure(restored) == jax.tree.structure(state)
    assert type(pickle.loads(pickle.dumps(state))[0]) is type(momentum)


def test_only_the_heavy_ball_form_answers_to_trace():
    assert "trace" in gx.scale_by_momentum(0.9).init(PARAMS)[0]._fields
    ema_form = gx.scale_by_momentum(0.9, ema=True).init(PARAMS)[0]
    assert "trace" not in ema_form._fields and not hasattr(ema_form, "trace")
    assert type(ema_form).__name__ == type(gx.trace(0.9).init(PARAMS)[0]).__name__ == "ScaleByMomentumState"


def test_a_chain_state_s_count_is_its_step_and_answers_where_a_link_reads_the_step():
    adam = gx.adam(0.1).init(PARAMS)
    assert adam.count is adam.step and "count" in adam._fields and adam._fields == ("step", "hyperparams", "links")
    assert int(adam._replace(count=jnp.asarray(7, jnp.int32)).step) == 7
    sgd = gx.sgd(0.1).init(PARAMS)  # reads no step: Optax's sgd keeps no count either
    assert "count" not in sgd._fields and sgd.count is sgd.step
    scheduled = gx.sgd(gx.linear_schedule(0.1, 0.0, 10)).init(PARAMS)
    assert "count" in scheduled._fields


def test_ema_state_answers_to_optax_field_name_ema():
    params = {"w": jnp.array([1.0, 2.0])}
    ours, theirs = gx.ema(0.9), optax.ema(0.9)
    state, optax_state = ours.init(params), theirs.init(params)
    for _ in range(3):
        _, state = ours.update(params, state)
        with jax.numpy_dtype_promotion("standard"):  # Optax's debiasing mixes float and int32
            _, optax_state = theirs.update(params, optax_state)
    for get in (gx.tree.get, optax.tree.get):
        jax.tree.map(np.testing.assert_array_equal, get(state, "ema"), optax.tree.get(optax_state, "ema"))
