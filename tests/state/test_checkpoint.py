"""Optimizer state saved with Orbax or flax.serialization resumes bit for bit; mismatches name their paths."""
from __future__ import annotations

import functools
import json
import threading
from typing import Callable, NamedTuple

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest

import gradxform as gx

pytestmark = pytest.mark.slow  # make test-fast leaves this module out

STEPS, SPLIT = 6, 3  # an uninterrupted run of STEPS jitted updates, saved and restored after SPLIT
_rng = np.random.default_rng(0)
X = jnp.asarray(_rng.normal(size=(16, 4)), jnp.float32)
Y = jnp.asarray(_rng.normal(size=(16, 3)), jnp.float32)
PARAMS = {"w": jnp.asarray(_rng.normal(size=(4, 3)), jnp.float32), "b": jnp.zeros(3, jnp.float32)}


def _loss(params):
    return jnp.mean((X @ params["w"] + params["b"][None, :] - Y) ** 2)


class Case(NamedTuple):
    name: str
    make: Callable[[], gx.GradientTransformation]
    lookahead: bool = False  # params are gx.LookaheadParams; gradients at params.fast
    extra: Callable = lambda loss, grads: {}  # extra arguments of update


CASES = [
    Case("adam", lambda: gx.adam(1e-2)),
    Case("noisy_sgd", lambda: gx.noisy_sgd(0.05, eta=0.1, key=7)),  # a PRNG key in the state
    Case(
        "lookahead_clipped_scheduled_adam",
        lambda: gx.lookahead(
            gx.chain(
                gx.clip_by_global_norm(0.5),
                gx.adam(gx.warmup_cosine_decay_schedule(0.0, 0.05, 2, STEPS)),
            ),
            sync_period=2,
            slow_step_size=0.5,
        ),
        lookahead=True,
    ),
    Case(
        "adam_then_reduce_on_plateau",
        lambda: gx.chain(gx.adam(1e-2), gx.reduce_on_plateau(patience=1, rtol=0.5)),
        extra=lambda loss, grads: {"value": loss},
    ),
    Case(
        "lbfgs_backtracking",  # the backtracking line search compiles faster than the default zoom
        lambda: gx.lbfgs(memory_size=3, linesearch=gx.scale_by_backtracking_linesearch(8)),
        extra=lambda loss, grads: {"value": loss, "grad": grads, "value_fn": _loss},
    ),
]
CASE_PARAMS = [pytest.param(c, id=c.name) for c in CASES]
BY_NAME = {c.name: c for c in CASES}


def _initial_params(case):
    return gx.LookaheadParams.init_synced(PARAMS) if case.lookahead else PARAMS


def _step_fn(case, opt):
    def step(params, state):
        at = params.fast if case.lookahead else params
        loss, grads = jax.value_and_grad(_loss)(at)
        updates, state = opt.update(grads, state, params, **case.extra(loss, grads))
        return gx.apply_updates(params, updates), state

    return jax.jit(step)


def _run(step, params, state, n):
    for _ in range(n):
        params, state = step(params, state)
    return params, state


def _assert_bitwise_equal(actual, expected):
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected)):
        assert type(a) is type(e)
        if jnp.issubdtype(e.dtype, jax.dtypes.prng_key):
            a, e = jax.random.key_data(a), jax.random.key_data(e)
        assert a.dtype == e.dtype and a.shape == e.shape
        np.testing.assert_array_equal(np.asarray(a), np.asarray(e))


@functools.cache
def _runs(name):
    """For one case: the uninterrupted run, the run stopped after SPLIT steps, and a fresh optimizer
    (built as a new process would build it) with its own jitted step."""
    case = BY_NAME[name]
    opt = case.make()
    step = _step_fn(case, opt)
    expected = _run(step, _initial_params(case), opt.init(_initial_params(case)), STEPS)
    stopped = _run(step, _initial_params(case), opt.init(_initial_params(case)), SPLIT)
    fresh = case.make()
    return expected, stopped, fresh, _step_fn(case, fresh)


def _resume_through(case, save_and_load):
    """Uninterrupted run vs. a run saved after SPLIT steps, restored into a fresh optimizer, continued."""
    expected, (params, state), fresh, fresh_step = _runs(case.name)
    restored = gx.state_from_dict(fresh.init(_initial_params(case)), save_and_load(gx.state_to_dict(state)))
    _assert_bitwise_equal(restored, state)
    resumed = _run(fresh_step, params, restored, STEPS - SPLIT)
    _assert_bitwise_equal(resumed, expected)
    assert not all(  # the run moved: equality above is not equality of untouched initial values
        np.array_equal(a, b) for a, b in zip(jax.tree.leaves(expected[0]), jax.tree.leaves(_initial_params(case)))
    )


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_training_resumed_from_an_orbax_checkpoint_continues_bit_for_bit(case, tmp_path):
    threads_before = set(threading.enumerate())

    def save_and_load(saved):
        with ocp.StandardCheckpointer() as checkpointer:
            checkpointer.save(tmp_path / "opt_state", saved)
            checkpointer.wait_until_finished()
        with ocp.StandardCheckpointer() as checkpointer:
            return checkpointer.restore(tmp_path / "opt_state")

    _resume_through(case, save_and_load)
    assert not [t for t in set(threading.enumerate()) - threads_before if t.is_alive() and not t.daemon]


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_training_resumed_from_flax_msgpack_bytes_continues_bit_for_bit(case):
    def save_and_load(saved):
        data = flax.serialization.msgpack_serialize(saved)
        assert isinstance(data, bytes)
        return flax.serialization.msgpack_restore(data)

    _resume_through(case, save_and_load)


def test_flax_to_bytes_and_state_dict_of_the_saved_dict_round_trip():
    _, (_, state), fresh, _ = _runs("noisy_sgd")
    saved = gx.state_to_dict(state)
    data = flax.serialization.to_bytes(saved)
    restored = gx.state_from_dict(fresh.init(PARAMS), flax.serialization.msgpack_restore(data))
    _assert_bitwise_equal(restored, state)
    as_state_dict = flax.serialization.to_state_dict(saved)
    _assert_bitwise_equal(gx.state_from_dict(fresh.init(PARAMS), as_state_dict), state)


def test_noisy_sgd_key_is_saved_as_key_data_that_has_moved_on_from_the_initial_key():
    _, (_, state), fresh, _ = _runs("noisy_sgd")
    saved = gx.state_to_dict(state)
    key_data = saved["state"]["links"]["0"]["rng_key"]
    assert key_data.dtype == jnp.uint32 and key_data.shape == (2,)
    initial = fresh.init(PARAMS)[0].rng_key
    assert not np.array_equal(np.asarray(key_data), np.asarray(initial))  # split at every update
    data = flax.serialization.msgpack_serialize(saved)
    restored = gx.state_from_dict(fresh.init(PARAMS), flax.serialization.msgpack_restore(data))
    np.testing.assert_array_equal(np.asarray(restored[0].rng_key), np.asarray(key_data))


def test_a_typed_prng_key_in_a_state_is_written_as_key_data_and_rebuilt_as_a_typed_key():
    state = {"key": jax.random.key(5), "count": jnp.asarray(2, jnp.int32)}
    saved = gx.state_to_dict(state)
    assert saved["state"]["key"].dtype == jnp.uint32
    data = flax.serialization.msgpack_serialize(saved)  # flax cannot write typed keys themselves
    restored = gx.state_from_dict({"key": jax.random.key(0), "count": jnp.asarray(0, jnp.int32)},
                                  flax.serialization.msgpack_restore(data))
    assert jnp.issubdtype(restored["key"].dtype, jax.dtypes.prng_key)
    _assert_bitwise_equal(restored, state)


def test_a_state_with_optax_parts_and_none_leaves_round_trips():
    params = {"w": PARAMS["w"], "frozen": None}
    opt = optax.chain(optax.clip(1.0), gx.adam(1e-2), optax.scale_by_adam())
    grads = {"w": jnp.ones_like(PARAMS["w"]), "frozen": None}
    with jax.numpy_dtype_promotion("standard"):  # Optax mixes int and float
        _, state = opt.update(grads, opt.init(params), params)
    saved = gx.state_to_dict(state)
    assert "frozen" not in saved["state"]["1"]["links"]["0"]["numerator"]["0"]["mu"]
    restored = gx.state_from_dict(opt.init(params), flax.serialization.msgpack_restore(
        flax.serialization.msgpack_serialize(saved)))
    assert type(restored[2]) is optax.ScaleByAdamState
    assert restored[1][0].numerator[0].mu["frozen"] is None
    _assert_bitwise_equal(restored, state)


def test_an_abstract_template_from_eval_shape_is_enough_to_restore():
    opt = gx.adam(1e-2)
    _, state = _run(_step_fn(CASES[0], opt), PARAMS, opt.init(PARAMS), 2)
    template = jax.eval_shape(opt.init, PARAMS)
    restored = gx.state_from_dict(template, gx.state_to_dict(state))
    _assert_bitwise_equal(restored, state)


def test_layout_names_every_state_type_by_path():
    saved = gx.state_to_dict(gx.adam(1e-2).init(PARAMS))
    layout = json.loads(np.asarray(saved["layout"]).tobytes())
    assert layout["format"] == 1
    assert layout["types"][""] == "ChainState"
    assert layout["types"]["links/0"] == "RatioState"
    assert layout["types"]["links/0/numerator/0"] == "ScaleByMomentumState"
    assert layout["types"]["hyperparams"] == "Hyperparams(b1, b2, eps, eps_root, learning_rate)"
    leaves = jax.tree.leaves(saved)
    assert leaves and all(isinstance(x, (jax.Array, np.ndarray)) for x in leaves)


# ---------------------------------------------------------------------------------------------
# A state that does not fit: the error names every path that differs
# ---------------------------------------------------------------------------------------------


def _mismatch(template, saved):
    with pytest.raises(gx.StateMismatchError) as raised:
        gx.state_from_dict(template, saved)
    message = str(raised.value)
    assert message.startswith("state_from_dict: the saved state does not fit this optimizer's state")
    assert isinstance(raised.value, ValueError)
    return message


def test_adam_state_into_sgd_names_the_differing_state_types():
    message = _mismatch(gx.sgd(1e-2).init(PARAMS), gx.state_to_dict(gx.adam(1e-2).init(PARAMS)))
    assert "saved RatioState at links/0, this optimizer has EmptyState" in message
    assert "unexpected in the saved state" in message
    assert "links/0/numerator (tuple, 2 arrays)" in message
    assert ("saved Hyperparams(b1, b2, eps, eps_root, learning_rate) at hyperparams, "
            "this optimizer has Hyperparams(learning_rate)") in message


def test_adam_state_into_adamw_names_the_shifted_parts():
    message = _mismatch(gx.adamw(1e-2).init(PARAMS), gx.state_to_dict(gx.adam(1e-2).init(PARAMS)))
    # the weight decay is one more link without arrays, and one more row of the hyperparameters
    assert ("saved Hyperparams(b1, b2, eps, eps_root, learning_rate) at hyperparams, this optimizer has "
            "Hyperparams(b1, b2, eps, eps_root, weight_decay, learning_rate)") in message
    assert "hyperparams/table: saved (5, 3), this optimizer (6, 3)" in message


def test_a_state_saved_with_another_mask_names_the_masked_paths():
    saved = gx.state_to_dict(gx.masked(gx.adam(1e-2), {"w": True, "b": False}).init(PARAMS))
    message = _mismatch(gx.masked(gx.adam(1e-2), {"w": True, "b": True}).init(PARAMS), saved)
    assert "saved MaskedNode at inner_state/links/0/numerator/0/mu/b, this optimizer has an array float32[3]" in message
    assert "saved MaskedNode at inner_state/links/0/denominator/0/nu/b" in message


def test_params_of_another_shape_name_each_differing_shape():
    other = {"w": jnp.zeros((3, 4), jnp.float32), "b": jnp.zeros(3, jnp.float32)}
    message = _mismatch(gx.adam(1e-2).init(other), gx.state_to_dict(gx.adam(1e-2).init(PARAMS)))
    assert "shapes that differ (saved, this optimizer):" in message
    assert "links/0/numerator/0/mu/w: saved (4, 3), this optimizer (3, 4)" in message
    assert "links/0/denominator/0/nu/w: saved (4, 3), this optimizer (3, 4)" in message
    assert "/b:" not in message


def test_another_dtype_is_an_error_not_a_cast():
    other = {"w": PARAMS["w"].astype(jnp.float64), "b": PARAMS["b"]}
    message = _mismatch(gx.adam(1e-2).init(other), gx.state_to_dict(gx.adam(1e-2).init(PARAMS)))
    assert "must match exactly; nothing is cast" in message
    assert "links/0/numerator/0/mu/w: saved float32, this optimizer float64" in message


def test_an_older_layout_missing_a_field_names_it():
    saved = gx.state_to_dict(gx.adam(1e-2).init(PARAMS))
    del saved["state"]["hyperparams"]
    message = _mismatch(gx.adam(1e-2).init(PARAMS), saved)
    missing = ("missing from the saved state:\n"
               "    hyperparams (Hyperparams(b1, b2, eps, eps_root, learning_rate), 1 array)")
    assert missing in message


def test_an_older_layout_with_a_renamed_field_and_type_names_both():
    saved = gx.state_to_dict(gx.adam(1e-2).init(PARAMS))
    momentum = saved["state"]["links"]["0"]["numerator"]["0"]
    momentum["m"] = momentum.pop("mu")
    layout = json.loads(np.asarray(saved["layout"]).tobytes())
    layout["types"]["links/0/numerator/0"] = "EmaState"
    saved["layout"] = np.frombuffer(json.dumps(layout).encode(), np.uint8)
    message = _mismatch(gx.adam(1e-2).init(PARAMS), saved)
    assert "saved EmaState at links/0/numerator/0, this optimizer has ScaleByMomentumState" in message
    assert "missing from the saved state:\n    links/0/numerator/0/mu (dict, 2 arrays)" in message
    unexpected = "unexpected in the saved state (not in this optimizer's state):\n    links/0/numerator/0/m (2 arrays)"
    assert unexpected in message


def test_a_mismatch_is_found_after_an_orbax_round_trip_too(tmp_path):
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(tmp_path / "adam", gx.state_to_dict(gx.adam(1e-2).init(PARAMS)))
        checkpointer.wait_until_finished()
        saved = checkpointer.restore(tmp_path / "adam")
    message = _mismatch(gx.sgd(1e-2, momentum=0.9).init(PARAMS), saved)
    assert "saved RatioState at links/0, this optimizer has ScaleByMomentumState" in message
    assert "missing from the saved state:\n    links/0/mu (dict, 2 arrays)" in message


def test_many_differences_are_counted_beyond_the_first_twelve():
    params = {f"p{i:02d}": jnp.zeros(2, jnp.float32) for i in range(20)}
    other = {k: jnp.zeros(3, jnp.float32) for k in params}
    message = _mismatch(gx.sgd(0.1, momentum=0.9).init(other), gx.state_to_dict(gx.sgd(0.1, momentum=0.9).init(params)))
    assert "links/0/mu/p11: saved (2,), this optimizer (3,)" in message
    assert "links/0/mu/p12" not in message
    assert "... and 8 more" in message


def test_a_dict_not_made_by_state_to_dict_is_refused_with_a_hint():
    state = gx.adam(1e-2).init(PARAMS)
    with pytest.raises(TypeError, match=r"state_from_dict: saved_dict must be what gradxform\.state_to_dict returned"):
        gx.state_from_dict(state, flax.serialization.to_state_dict(state))


def test_a_layout_of_another_format_is_refused():
    saved = gx.state_to_dict(gx.adam(1e-2).init(PARAMS))
    saved["layout"] = np.frombuffer(json.dumps({"format": 99, "types": {}}).encode(), np.uint8)
    with pytest.raises(ValueError, match=r"the saved layout has format 99.*reads format 1"):
        gx.state_from_dict(gx.adam(1e-2).init(PARAMS), saved)


def test_a_missing_layout_skips_only_the_type_check():
    saved = gx.state_to_dict(gx.adam(1e-2).init(PARAMS))
    del saved["layout"]
    gx.state_from_dict(gx.adam(1e-2).init(PARAMS), saved)
    message = _mismatch(gx.sgd(1e-2).init(PARAMS), saved)
    assert "state types that differ" not in message and "unexpected in the saved state" in message


def test_a_state_with_a_non_array_leaf_cannot_be_written():
    with pytest.raises(TypeError, match=r"state_to_dict: every leaf of a state must be an array .* at parts/1"):
        gx.state_to_dict({"parts": (jnp.zeros(1), "lr")})
