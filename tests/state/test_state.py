"""Optimizer state is plain data: arrays in NamedTuples that pickle, serialize and resume exactly."""
from __future__ import annotations

import functools
import pickle

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from problems import PROBLEMS
from registry import REGISTRY

import gradxform as gx

pytestmark = pytest.mark.slow  # make test-fast leaves this module out

ENTRIES = [pytest.param(e, id=e.name) for e in REGISTRY]
BY_NAME = {e.name: e for e in REGISTRY}
PROBLEM = PROBLEMS[0]
INT32_MAX = 2**31 - 1
STEPS, SPLIT = 4, 2  # a run of STEPS updates, interrupted after SPLIT of them


def _params():
    return {k: jnp.asarray(v, jnp.float32) for k, v in PROBLEM.init.items()}


def _steps(entry, opt, params, state, n):
    """``n`` eager updates on the problem, gradients taken at the current params."""
    for _ in range(n):
        grads = PROBLEM.grad({k: np.asarray(v, np.float64) for k, v in params.items()})
        grads = {k: jnp.asarray(v, jnp.float32) for k, v in grads.items()}
        extra_args = entry.needs_extra_args(params, grads) if entry.needs_extra_args else {}
        updates, state = opt.update(grads, state, params, **extra_args)
        params = gx.apply_updates(params, updates)
    return params, state


@functools.cache
def _uninterrupted(name):
    entry = BY_NAME[name]
    opt = entry.make()
    return _steps(entry, opt, _params(), opt.init(_params()), STEPS)


def _assert_bitwise_equal(actual, expected):
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected)):
        if jnp.issubdtype(e.dtype, jax.dtypes.prng_key):
            a, e = jax.random.key_data(a), jax.random.key_data(e)
        assert np.asarray(a).dtype == np.asarray(e).dtype
        np.testing.assert_array_equal(np.asarray(a), np.asarray(e))


def _assert_plain_data(node, path="state"):
    """Arrays (or None) in NamedTuples, tuples, and the params' own dicts and lists; nothing callable."""
    if isinstance(node, (jax.Array, np.ndarray)) or node is None:
        return
    assert not callable(node), f"{path} is a function: {node!r}"
    if isinstance(node, (tuple, list)):
        names = getattr(node, "_fields", range(len(node)))
        for name, child in zip(names, node):
            _assert_plain_data(child, f"{path}.{name}" if isinstance(name, str) else f"{path}[{name}]")
    elif isinstance(node, dict):
        for key, child in node.items():
            _assert_plain_data(child, f"{path}[{key!r}]")
    else:
        pytest.fail(f"{path} is a {type(node).__name__}, not an array, NamedTuple, tuple, list or dict")


@pytest.mark.parametrize("entry", ENTRIES)
def test_state_is_arrays_in_named_tuples_with_no_functions(entry):
    opt = entry.make()
    state = opt.init(_params())
    _assert_plain_data(state)
    _, state = _steps(entry, opt, _params(), state, 1)
    _assert_plain_data(state)


def _save_load_pickle(state, template):
    return pickle.loads(pickle.dumps(state))


def _save_load_flax_state_dict(state, template):
    restored = flax.serialization.from_state_dict(template, flax.serialization.to_state_dict(state))
    assert isinstance(restored, type(state))
    return restored


def _save_load_flax_bytes(state, template):
    return flax.serialization.from_bytes(template, flax.serialization.to_bytes(state))


@pytest.mark.parametrize(
    "save_load",
    [_save_load_pickle, _save_load_flax_state_dict, _save_load_flax_bytes],
    ids=["pickle", "flax_state_dict", "flax_bytes"],
)
@pytest.mark.parametrize("entry", ENTRIES)
def test_training_resumes_bit_for_bit_from_a_saved_state(entry, save_load):
    opt = entry.make()
    params, state = _steps(entry, opt, _params(), opt.init(_params()), SPLIT)
    restored = save_load(state, opt.init(_params()))  # restored into a fresh optimizer's template
    _assert_bitwise_equal(restored, state)
    resumed = _steps(entry, entry.make(), params, restored, STEPS - SPLIT)
    _assert_bitwise_equal(resumed, _uninterrupted(entry.name))


def _chain_states(state):
    """Every ChainState in a state, outermost first."""
    if isinstance(state, gx.ChainState):
        return [state] + _chain_states(state.links)
    if isinstance(state, (tuple, list)):
        return [c for child in state for c in _chain_states(child)]
    if isinstance(state, dict):
        return [c for child in state.values() for c in _chain_states(child)]
    return []


def _set_steps(state, step):
    """The state with the counter of every ChainState that keeps one set to ``step``."""
    if isinstance(state, gx.ChainState):
        links = _set_steps(state.links, step)
        if state.step is None:
            return state._replace(links=links)
        return state._replace(step=jnp.asarray(step, jnp.int32), links=links)
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        return type(state)(*(_set_steps(child, step) for child in state))
    if isinstance(state, (tuple, list)):
        return type(state)(_set_steps(child, step) for child in state)
    if isinstance(state, dict):
        return {k: _set_steps(v, step) for k, v in state.items()}
    return state


@pytest.mark.parametrize("entry", ENTRIES)
def test_step_counter_is_int32_and_saturates_at_the_largest_int32(entry):
    opt = entry.make()
    state = opt.init(_params())
    assert _chain_states(state), "an alias is a chain, which owns the step counter"
    state = _set_steps(state, INT32_MAX - 2)
    params = _params()
    for expected in [INT32_MAX - 1, INT32_MAX, INT32_MAX, INT32_MAX]:
        params, state = _steps(entry, opt, params, state, 1)
        for chained in _chain_states(state):  # a chain none of whose links reads it keeps none
            assert chained.step is None or chained.step.dtype == jnp.int32
            assert chained.step is None or int(chained.step) == expected
        for leaf in jax.tree.leaves(params):
            assert np.all(np.isfinite(np.asarray(leaf))), "bias corrections and schedules stay finite"


def test_adam_bias_correction_is_finite_at_the_saturated_step():
    opt = gx.chain(gx.scale_by_momentum(0.9, ema=True), gx.bias_correction(0.9))
    g = jnp.asarray([1.0, -2.0], jnp.float32)
    state = opt.init(g)._replace(step=jnp.asarray(INT32_MAX, jnp.int32))
    out, state = opt.update(g, state)
    # At t = 2**31 - 1, 1 - 0.9^t is 1: the output is the raw first-step momentum (1 - 0.9) g.
    np.testing.assert_allclose(np.asarray(out), 0.1 * np.asarray(g), rtol=1e-6)
    assert int(state.step) == INT32_MAX
