"""State classes: JAX takes them apart and rebuilds them as NamedTuples, without Python."""
from __future__ import annotations

import gc
from typing import NamedTuple

import jax
import jax.numpy as jnp
import pytest

import gradxform as gx
from gradxform.core.chain import ChainState
from gradxform.core.printing import text
from gradxform.core.state_class import fast_node, state_class


def _textbook_state_classes() -> list[type]:
    """Every class of gradxform that prints as a textbook state (what @state_class gives)."""
    return [obj for obj in gc.get_objects()
            if isinstance(obj, type) and issubclass(obj, tuple) and obj.__module__.startswith("gradxform")
            and obj.__dict__.get("__repr__") is text]


def test_every_state_class_is_a_fast_node():
    classes = _textbook_state_classes()
    assert len(classes) > 50
    # EmptyState has a cheaper registration of its own; ChainState's subclasses, one per recipe,
    # are the nodes (the base class is never a state)
    unregistered = sorted(f"{c.__module__}.{c.__qualname__}" for c in classes
                          if "_items" not in c.__dict__ and c not in (gx.EmptyState, ChainState))
    assert unregistered == []


@pytest.mark.parametrize("alias", ["adam", "sgd", "rmsprop", "lion", "adafactor"])
def test_a_state_flattens_with_a_namedtuples_paths_and_rebuilds_its_own_classes(alias):
    params = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}
    state = getattr(gx, alias)(0.1).init(params)
    leaves, treedef = jax.tree_util.tree_flatten(state)
    rebuilt = jax.tree_util.tree_unflatten(treedef, leaves)
    assert type(rebuilt) is type(state) and repr(rebuilt) == repr(state)
    paths = [jax.tree_util.keystr(path) for path, _ in jax.tree_util.tree_flatten_with_path(state)[0]]
    assert paths[0] in (".step", ".hyperparams")
    assert all(p.startswith((".step", ".hyperparams", ".links[")) for p in paths)


def test_a_fast_node_keys_its_fields_by_name_and_keeps_its_class_through_jit():
    @fast_node
    class Pair(NamedTuple):
        first: jax.Array
        second: dict

    pair = Pair(jnp.ones(2), {"x": jnp.zeros(1)})
    keys = [jax.tree_util.keystr(k) for k, _ in jax.tree_util.tree_flatten_with_path(pair)[0]]
    assert keys == [".first", ".second['x']"]
    out = jax.jit(lambda p: jax.tree.map(lambda a: a + 1, p))(pair)
    assert type(out) is Pair and out.first.tolist() == [2.0, 2.0] and out.second["x"].tolist() == [1.0]
    assert Pair(1, 2)._items == (1, 2) and type(Pair(1, 2)._items) is tuple


def test_a_state_class_prints_as_a_textbook_state():
    @state_class
    class Moments(NamedTuple):
        mu: jax.Array

    assert repr(Moments(jnp.zeros(2, jnp.float32))) == "Moments(mu=Array([0., 0.], dtype=float32))"


def test_every_recipes_chain_state_type_is_a_fast_node_read_through_its_links():
    state = gx.chain(gx.scale_by_momentum(0.9), gx.scale_by_learning_rate(0.1)).init({"w": jnp.ones(2)})
    assert isinstance(state, ChainState) and "_items" in type(state).__dict__
    # ChainState iterates over its links; its node still takes every stored field
    assert len(jax.tree_util.tree_leaves(state)) == 2  # the hyperparameter table, the momentum
    assert len(state._items) == len(state._fields)


def test_records_kept_inside_states_are_fast_nodes_too():
    from gradxform.core.masks import MaskedNode
    from gradxform.transforms.kronecker import Eigenbasis
    from gradxform.transforms.linesearch import BacktrackingLinesearchInfo, ZoomLinesearchInfo

    for record in (BacktrackingLinesearchInfo, ZoomLinesearchInfo, Eigenbasis):
        assert "_items" in record.__dict__, record.__qualname__
        value = record(*(jnp.full(2, i) for i in range(len(record._fields))))
        leaves, treedef = jax.tree_util.tree_flatten(value)
        assert len(leaves) == len(record._fields) and type(jax.tree_util.tree_unflatten(treedef, leaves)) is record
    # a masked-out parameter's placeholder: a node without children, the same value each time
    leaves, treedef = jax.tree_util.tree_flatten({"w": MaskedNode()})
    assert leaves == [] and jax.tree_util.tree_unflatten(treedef, []) == {"w": MaskedNode()}


def test_empty_node_refuses_a_class_with_fields():
    from gradxform.core.state_class import empty_node

    class Holds(NamedTuple):
        value: int

    with pytest.raises(TypeError, match="empty_node: .*Holds has fields"):
        empty_node(Holds)
