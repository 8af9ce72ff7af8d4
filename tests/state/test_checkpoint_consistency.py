"""A restored state reports the hyperparameters its updates use: the state's values win.

A state saved from ``adam(learning_rate=1e-3)`` and restored into ``adam(learning_rate=0.1)``
(through gradxform.state_from_dict, flax.serialization or pickle) keeps training with 1e-3, and
``gx.hyperparams`` says so; ``state_from_dict(..., hyperparams="optimizer")`` takes the new
optimizer's values instead, and ``set_hyperparams`` changes either.
"""
from __future__ import annotations

import pickle

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradxform as gx

PARAMS = {"w": jnp.asarray([0.5, -1.0, 2.0], jnp.float32), "b": jnp.asarray(0.25, jnp.float32)}
GRADS = [jax.tree.map(lambda p, i=i: jnp.cos(p * (i + 1)) + 0.1 * i, PARAMS) for i in range(4)]


def _steps(opt, state, grads, params=PARAMS):
    updates = []
    for g in grads:
        u, state = opt.update(g, state, params)
        updates.append(u)
    return updates, state


def _through_state_dict(state, template):
    data = flax.serialization.msgpack_serialize(gx.state_to_dict(state))
    return gx.state_from_dict(template, flax.serialization.msgpack_restore(data))


def _through_flax_bytes(state, template):
    return flax.serialization.from_bytes(template, flax.serialization.to_bytes(state))


def _through_flax_state_dict(state, template):
    return flax.serialization.from_state_dict(template, flax.serialization.to_state_dict(state))


def _through_pickle(state, template):
    return pickle.loads(pickle.dumps(state))


SAVE_LOAD = pytest.mark.parametrize(
    "save_load",
    [_through_state_dict, _through_flax_bytes, _through_flax_state_dict, _through_pickle],
    ids=["state_dict", "flax_bytes", "flax_state_dict", "pickle"],
)
CHANGES = pytest.mark.parametrize(
    "saved_kwargs, other_kwargs",
    [({"learning_rate": 1e-3}, {"learning_rate": 0.1}),
     ({"learning_rate": 1e-3, "b1": 0.9}, {"learning_rate": 1e-3, "b1": 0.5}),
     ({"learning_rate": 1e-3, "b2": 0.999, "eps": 1e-8}, {"learning_rate": 1e-3, "b2": 0.9, "eps": 1e-3})],
    ids=["learning_rate", "b1", "b2_and_eps"],
)


@SAVE_LOAD
@CHANGES
def test_a_state_restored_into_a_differently_built_adam_trains_with_the_values_it_reports(
        save_load, saved_kwargs, other_kwargs):
    saved_opt, other_opt = gx.adam(**saved_kwargs), gx.adam(**other_kwargs)
    _, state = _steps(saved_opt, saved_opt.init(PARAMS), GRADS[:2])
    restored = save_load(state, other_opt.init(PARAMS))
    reported = {k: float(v) for k, v in gx.hyperparams(restored).items()}
    for name, value in saved_kwargs.items():
        assert reported[name] == pytest.approx(value, rel=1e-6)
    # what the state reports is what the update uses: the run saved_opt would have continued
    expected, _ = _steps(saved_opt, state, GRADS[2:])
    resumed, after = _steps(other_opt, restored, GRADS[2:])
    for e, r in zip(expected, resumed):
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-6, atol=0), e, r)
    assert {k: float(v) for k, v in gx.hyperparams(after).items()} == reported


@SAVE_LOAD
def test_restored_into_the_same_optimizer_the_run_continues_bit_for_bit(save_load):
    opt = gx.adam(1e-3, b1=0.8)
    _, state = _steps(opt, opt.init(PARAMS), GRADS[:2])
    expected, expected_state = _steps(opt, state, GRADS[2:])
    resumed, resumed_state = _steps(gx.adam(1e-3, b1=0.8), save_load(state, opt.init(PARAMS)), GRADS[2:])
    for a, b in zip(jax.tree.leaves((expected, expected_state)), jax.tree.leaves((resumed, resumed_state))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_jitted_restored_state_uses_its_own_learning_rate():
    params = {"w": jnp.ones(3, jnp.float32)}
    grads = {"w": jnp.asarray([1.0, -1.0, 0.5], jnp.float32)}
    state = gx.sgd(1e-3).init(params)
    other = gx.sgd(0.1)
    restored = gx.state_from_dict(other.init(params), gx.state_to_dict(state))
    updates, _ = jax.jit(other.update)(grads, restored, params)
    np.testing.assert_allclose(updates["w"], -1e-3 * grads["w"], rtol=1e-6)
    assert float(gx.hyperparams(restored)["learning_rate"]) == pytest.approx(1e-3)


def test_state_from_dict_can_take_the_new_optimizers_hyperparameters_instead():
    saved_opt, other_opt = gx.adam(1e-3, b1=0.9), gx.adam(0.1, b1=0.5)
    _, state = _steps(saved_opt, saved_opt.init(PARAMS), GRADS[:2])
    restored = gx.state_from_dict(other_opt.init(PARAMS), gx.state_to_dict(state), hyperparams="optimizer")
    reported = gx.hyperparams(restored)
    assert float(reported["learning_rate"]) == pytest.approx(0.1)
    assert float(reported["b1"]) == pytest.approx(0.5)
    np.testing.assert_array_equal(restored.links[0].numerator[0].mu["w"], state.links[0].numerator[0].mu["w"])
    assert int(restored.step) == 2
    # the new optimizer's own numbers: bit for bit what it computes from that moment state
    expected, _ = _steps(other_opt, state._replace(hyperparams=other_opt.init(PARAMS).hyperparams), GRADS[2:])
    resumed, _ = _steps(other_opt, restored, GRADS[2:])
    for a, b in zip(jax.tree.leaves(expected), jax.tree.leaves(resumed)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_set_hyperparams_after_restoring_moves_to_the_new_value():
    saved_opt, other_opt = gx.sgd(1e-3), gx.sgd(0.1)
    restored = gx.state_from_dict(other_opt.init(PARAMS), gx.state_to_dict(saved_opt.init(PARAMS)))
    restored = gx.set_hyperparams(restored, learning_rate=0.1)
    updates, _ = other_opt.update(GRADS[0], restored, PARAMS)
    np.testing.assert_allclose(updates["w"], -0.1 * GRADS[0]["w"], rtol=1e-6)
    assert float(gx.hyperparams(restored)["learning_rate"]) == pytest.approx(0.1)


def test_a_value_set_before_saving_stays_set_after_restoring():
    saved_opt, other_opt = gx.sgd(1e-3), gx.sgd(0.1)
    state = gx.set_hyperparams(saved_opt.init(PARAMS), learning_rate=0.02)
    restored = gx.state_from_dict(other_opt.init(PARAMS), gx.state_to_dict(state))
    updates, _ = other_opt.update(GRADS[0], restored, PARAMS)
    np.testing.assert_allclose(updates["w"], -0.02 * GRADS[0]["w"], rtol=1e-6)
    assert float(gx.hyperparams(restored)["learning_rate"]) == pytest.approx(0.02)


def test_a_schedule_belongs_to_the_optimizer_it_is_restored_into():
    schedule = gx.linear_schedule(1.0, 0.0, 10)
    saved_opt = gx.sgd(gx.linear_schedule(0.5, 0.5, 10))
    other_opt = gx.sgd(schedule)
    _, state = _steps(saved_opt, saved_opt.init(PARAMS), GRADS[:2])
    restored = gx.state_from_dict(other_opt.init(PARAMS), gx.state_to_dict(state))
    updates, after = other_opt.update(GRADS[2], restored, PARAMS)  # step 2 of the restored schedule
    np.testing.assert_allclose(updates["w"], -float(schedule(2)) * GRADS[2]["w"], rtol=1e-6)
    assert float(gx.hyperparams(after)["learning_rate"]) == pytest.approx(float(schedule(2)))


def test_the_optimizer_choice_needs_a_concrete_template():
    opt = gx.adam(1e-3)
    with pytest.raises(ValueError, match=r"state_from_dict: hyperparams='optimizer' takes the values "):
        gx.state_from_dict(jax.eval_shape(opt.init, PARAMS), gx.state_to_dict(opt.init(PARAMS)),
                           hyperparams="optimizer")


def test_an_unknown_hyperparams_choice_is_refused():
    opt = gx.adam(1e-3)
    with pytest.raises(ValueError, match=r"state_from_dict: hyperparams must be one of \['saved', 'optimizer'\], "
                                         r"got hyperparams='new'"):
        gx.state_from_dict(opt.init(PARAMS), gx.state_to_dict(opt.init(PARAMS)), hyperparams="new")


def test_a_jax_array_given_is_the_optimizers_and_is_recorded_as_it_is_used():
    # Optax's inject_hyperparams rebuilds an optimizer at each update with the arrays of its own
    # state (traced under jit): those values are used, and the state records them.
    state = gx.sgd(1e-3).init(PARAMS)
    other = gx.sgd(jnp.asarray(0.1))
    updates, after = jax.jit(other.update)(GRADS[0], state, PARAMS)
    np.testing.assert_allclose(updates["w"], -0.1 * GRADS[0]["w"], rtol=1e-6)
    assert float(gx.hyperparams(after)["learning_rate"]) == pytest.approx(0.1)


def test_optax_inject_hyperparams_around_a_gradxform_alias_follows_the_values_written():
    opt = optax.inject_hyperparams(gx.sgd)(learning_rate=0.1)
    state = opt.init(PARAMS)
    update = jax.jit(opt.update)
    state.hyperparams["learning_rate"] = jnp.asarray(0.02, state.hyperparams["learning_rate"].dtype)
    with jax.numpy_dtype_promotion("standard"):  # Optax's wrapper mixes int and float
        updates, state = update(GRADS[0], state, PARAMS)
    np.testing.assert_allclose(updates["w"], -0.02 * GRADS[0]["w"], rtol=1e-6)
    assert float(gx.hyperparams(state.inner_state)["learning_rate"]) == pytest.approx(0.02)
