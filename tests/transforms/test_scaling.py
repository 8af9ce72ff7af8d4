"""Multiplying updates: scale and scale_by_learning_rate (constant or scheduled)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradxform as gx

G = {"w": jnp.asarray([1.0, -2.0, 0.5]), "b": jnp.asarray(3.0)}


def _chained(transform, steps, grads=G):
    chained = gx.chain(transform)
    state = chained.init(grads)
    outputs = []
    for _ in range(steps):
        out, state = chained.update(grads, state)
        outputs.append(out)
    return outputs


@pytest.mark.parametrize("step_size", [0.0, 2.5, -1e-3])
def test_scale_multiplies_every_update_by_its_step_size(step_size):
    transform = gx.scale(step_size)
    init_state = transform.init(G)
    out, state = transform.update(G, init_state)
    # The factor is a hyperparameter kept in the state; a constant one stays as built.
    assert isinstance(state, gx.ChainState) and state.links == (gx.EmptyState(),)  # on its own
    assert jax.tree.structure(state) == jax.tree.structure(init_state)
    assert {k: float(v) for k, v in gx.hyperparams(state).items()} == {"step_size": step_size}
    for k in G:
        np.testing.assert_array_equal(np.asarray(out[k]), step_size * np.asarray(G[k]))


@pytest.mark.parametrize("flip_sign, sign", [(True, -1.0), (False, 1.0)])
def test_constant_learning_rate_multiplies_by_minus_the_rate(flip_sign, sign):
    (out,) = _chained(gx.scale_by_learning_rate(0.1, flip_sign=flip_sign), steps=1)
    for k in G:
        np.testing.assert_array_equal(np.asarray(out[k]), sign * 0.1 * np.asarray(G[k]))


def test_constant_learning_rate_needs_no_step():
    transform = gx.scale_by_learning_rate(0.1)
    out, _ = transform.update(G, transform.init(G))
    np.testing.assert_array_equal(np.asarray(out["b"]), -0.1 * 3.0)


def test_schedule_is_called_with_the_chain_step_from_zero():
    seen = []

    def schedule(step):
        seen.append(int(step))
        return 0.5 ** step.astype(jnp.float64)

    chained = gx.chain(gx.scale_by_learning_rate(schedule))
    assert seen == [0]  # checked once at step 0 when built: a finite real scalar
    seen.clear()
    # init records the schedule's value at step 0 in the state (gx.hyperparams reads it); each
    # update then evaluates it only at the chain's step. How many evaluations a step takes is an
    # implementation detail, so each phase checks the steps seen, not the number of calls.
    state = chained.init(G)
    assert seen and set(seen) == {0}
    for t in range(3):
        seen.clear()
        out, state = chained.update(G, state)
        assert seen and set(seen) == {t}
        np.testing.assert_array_equal(np.asarray(out["w"]), -(0.5**t) * np.asarray(G["w"]))
        assert float(gx.hyperparams(state)["learning_rate"]) == 0.5**t


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float32, jnp.complex64])
def test_schedule_value_is_cast_to_the_update_dtype(dtype):
    grads = {"w": jnp.asarray([1.0, -2.0], dtype)}
    def schedule(step):
        return jnp.asarray(0.25, jnp.float64)  # wider than the updates

    (out,) = _chained(gx.scale_by_learning_rate(schedule), steps=1, grads=grads)
    assert out["w"].dtype == dtype
    np.testing.assert_array_equal(np.asarray(out["w"]), np.asarray([-0.25, 0.5], dtype))


def test_scheduled_learning_rate_jits_without_recompiling():
    traces = []
    chained = gx.chain(gx.scale_by_learning_rate(lambda step: 1.0 / (1.0 + step.astype(jnp.float64))))

    def update(g, s):
        traces.append(None)
        return chained.update(g, s)

    update = jax.jit(update)
    state = chained.init(G)
    for t in range(3):
        out, state = update(G, state)
        np.testing.assert_allclose(np.asarray(out["b"]), -3.0 / (1 + t), rtol=1e-15)
    assert len(traces) == 1


def test_scale_step_size_is_read_set_and_scheduled_through_the_state():
    transform = gx.chain(gx.scale(2.5))
    state = transform.init(G)
    assert {k: float(v) for k, v in gx.hyperparams(state).items()} == {"step_size": 2.5}
    # Setting it acts from the next update on exactly as building scale with the new value.
    out, _ = transform.update(G, gx.set_hyperparams(state, step_size=-0.75))
    rebuilt = gx.chain(gx.scale(-0.75))
    expected, _ = rebuilt.update(G, rebuilt.init(G))
    for k in G:
        np.testing.assert_array_equal(np.asarray(out[k]), np.asarray(expected[k]))
    # A schedule is followed step by step.
    outputs = _chained(gx.scale(lambda step: 1.0 + step.astype(jnp.float64)), steps=3)
    for t, out in enumerate(outputs):
        np.testing.assert_array_equal(np.asarray(out["w"]), (1.0 + t) * np.asarray(G["w"]))
