"""Hyperparameters are declared once and stored once per chain, and named by structure."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradxform as gx

PARAMS = {"encoder": jnp.asarray([1.0, -2.0]), "head": jnp.asarray([0.5, 3.0])}
LABELS = {"encoder": "slow", "head": "fast"}


def _floats(tree):
    return {k: float(v) for k, v in tree.items()}


def _partition():
    return gx.partition({"slow": gx.adam(1e-4), "fast": gx.adam(1e-2)}, LABELS)


def test_adam_stores_each_hyperparameter_once():
    state = gx.adam(1e-3).init(PARAMS)
    assert state.hyperparams.names == ("b1", "b2", "eps", "eps_root", "learning_rate")
    assert state.hyperparams.table.shape == (5, 3)
    assert repr(state.hyperparams) == "Hyperparams(b1=0.9, b2=0.999, eps=1e-08, eps_root=0, learning_rate=0.001)"


def test_each_group_of_a_partition_is_read_by_its_path_and_a_single_optimizer_keeps_short_names():
    state = _partition().init(PARAMS)
    got = _floats(gx.hyperparams(state))
    assert got["slow/learning_rate"] == pytest.approx(1e-4) and got["fast/learning_rate"] == pytest.approx(1e-2)
    assert "learning_rate" not in got
    assert set(_floats(gx.hyperparams(gx.adam(1e-3).init(PARAMS)))) == {"b1", "b2", "eps", "eps_root", "learning_rate"}


def test_setting_one_groups_learning_rate_leaves_the_other_and_acts_on_that_group_alone():
    opt = _partition()
    state = gx.set_hyperparams(opt.init(PARAMS), {"fast/learning_rate": 0.5})
    got = _floats(gx.hyperparams(state))
    assert got["fast/learning_rate"] == 0.5 and got["slow/learning_rate"] == pytest.approx(1e-4)
    grads = {"encoder": jnp.asarray([1.0, 1.0]), "head": jnp.asarray([1.0, 1.0])}
    updates, _ = opt.update(grads, state, PARAMS)
    rebuilt = gx.partition({"slow": gx.adam(1e-4), "fast": gx.adam(0.5)}, LABELS)
    expected, _ = rebuilt.update(grads, rebuilt.init(PARAMS), PARAMS)
    jax.tree.map(np.testing.assert_array_equal, updates, expected)


def test_an_ambiguous_bare_name_raises_and_lists_the_full_names():
    state = _partition().init(PARAMS)
    message = (r"set_hyperparams: the name 'learning_rate' matches 2 hyperparameters: "
               r"\['fast/learning_rate', 'slow/learning_rate'\]")
    with pytest.raises(ValueError, match=message):
        gx.set_hyperparams(state, learning_rate=0.1)


def test_named_chain_scopes_by_link_name_where_names_repeat():
    opt = gx.named_chain(("first", gx.sgd(0.1)), ("second", gx.sgd(0.2)))
    state = opt.init(PARAMS)
    assert _floats(gx.hyperparams(state)) == pytest.approx({"first/learning_rate": 0.1, "second/learning_rate": 0.2})
    state = gx.set_hyperparams(state, {"second/learning_rate": 0.3})
    assert float(gx.hyperparams(state)["second/learning_rate"]) == pytest.approx(0.3)


def test_a_name_given_two_different_values_in_one_chain_is_an_error():
    with pytest.raises(ValueError, match=r"chain: the hyperparameter 'b' is given two different values"):
        gx.chain(gx.scale_by_momentum(gx.hyperparameter("b", 0.9)), gx.bias_correction(gx.hyperparameter("b", 0.8)))
    shared = gx.hyperparameter("b", 0.9)  # the same value twice is one hyperparameter
    state = gx.chain(gx.scale_by_momentum(shared), gx.bias_correction(shared)).init(PARAMS)
    assert state.hyperparams.names == ("b",)


def test_a_flax_nnx_optimizer_takes_set_hyperparams_and_keeps_training():
    from flax import nnx

    model = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, gx.adam(1e-3), wrt=nnx.Param)

    def loss(m):
        return jnp.sum(m(jnp.ones((1, 3), jnp.float32)) ** 2)

    @nnx.jit
    def step(model, optimizer):
        optimizer.update(model, nnx.grad(loss)(model))

    step(model, optimizer)
    optimizer.opt_state = gx.set_hyperparams(optimizer.opt_state, learning_rate=1e-4)
    step(model, optimizer)
    step(model, optimizer)
    assert float(gx.hyperparams(optimizer.opt_state)["learning_rate"]) == pytest.approx(1e-4)
    assert int(jnp.asarray(optimizer.opt_state.step)) == 3


def test_a_shown_name_sets_its_own_row_even_when_a_longer_name_ends_with_it():
    state = gx.lamb(1e-3, eps=1e-6).init(PARAMS)  # rows "eps" and "scale_by_trust_ratio/eps"
    names = set(gx.hyperparams(state))
    assert {"eps", "scale_by_trust_ratio/eps"} <= names
    state = gx.set_hyperparams(state, eps=1e-3)
    got = _floats(gx.hyperparams(state))
    assert got["eps"] == pytest.approx(1e-3) and got["scale_by_trust_ratio/eps"] != pytest.approx(1e-3)
