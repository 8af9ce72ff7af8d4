"""named_chain: a counted chain whose parts are read and replaced by name."""
import jax
import jax.numpy as jnp
import pytest
from wrapper_trees import assert_trees_equal, gradient_sequence, nested_params, run

import gradxform as gx

PARTS = lambda: (
    ("clip", gx.clip_by_global_norm(1.0)),
    ("momentum", [gx.scale_by_momentum(0.9, ema=True), gx.bias_correction(0.9)]),
    ("lr", gx.scale_by_learning_rate(lambda step: 0.1 / (1.0 + step.astype(jnp.float64)))),
)


def test_named_chain_equals_chain_of_the_same_parts_and_counts_steps_like_it():
    params = nested_params()
    grads = gradient_sequence(params, 4)
    named, named_state = run(gx.named_chain(*PARTS()), params, grads, jit=True)
    (clip, momentum, lr) = (t for _, t in PARTS())
    plain, plain_state = run(gx.chain(clip, *momentum, lr), params, grads, jit=True)
    assert_trees_equal(named, plain)
    assert int(named_state.step) == int(plain_state.step) == 4
    # a list under a name is a chain of its own: its link states are the plain chain's
    assert_trees_equal(named_state.part("momentum").links, plain_state.links[1:3])


def test_parts_are_read_by_name_in_chain_order():
    state = gx.named_chain(*PARTS()).init({"w": jnp.ones(2)})
    assert list(state.parts) == ["clip", "momentum", "lr"]
    assert state.part("momentum") is state.parts["momentum"]
    assert isinstance(state.part("momentum")[0], gx.ScaleByMomentumState)


def test_replacing_a_part_resets_only_that_part():
    params = {"w": jnp.ones(2)}
    opt = gx.named_chain(("clip", gx.clip_by_global_norm(1.0)), ("adam", gx.adam(0.1)))
    grads = gradient_sequence(params, 3)
    _, state = run(opt, params, grads[:2])
    state = state.replace_part("adam", gx.adam(0.1).init(params))
    after_reset, _ = opt.update(grads[2], state, params)
    fresh, _ = gx.chain(gx.clip_by_global_norm(1.0), gx.adam(0.1)).update(
        grads[2], gx.chain(gx.clip_by_global_norm(1.0), gx.adam(0.1)).init(params), params
    )
    assert_trees_equal(after_reset, fresh)
    assert int(state.step) == 2


def test_named_chain_state_is_a_pytree_that_jit_round_trips():
    opt = gx.named_chain(*PARTS())
    state = opt.init(nested_params())
    leaves, treedef = jax.tree.flatten(state)
    rebuilt = jax.tree.unflatten(treedef, leaves)
    assert list(rebuilt.parts) == ["clip", "momentum", "lr"] and isinstance(rebuilt, gx.NamedChainState)


def test_named_chain_rejects_bad_pairs_duplicate_names_and_unknown_parts():
    expected = r"named_chain: each argument must be a \(name, transformation\) pair"
    with pytest.raises(TypeError, match=expected):
        gx.named_chain(gx.adam(0.1))
    with pytest.raises(ValueError, match=r"names must be distinct, got \['a', 'b', 'a'\]; \['a'\] appear"):
        gx.named_chain(("a", gx.identity()), ("b", gx.identity()), ("a", gx.identity()))
    state = gx.named_chain(("a", gx.identity())).init({"w": jnp.ones(1)})
    with pytest.raises(ValueError, match=r"no part named 'b'; the parts are \['a'\]"):
        state.part("b")
    with pytest.raises(ValueError, match=r"no part named 'b'"):
        state.replace_part("b", gx.EmptyState())
