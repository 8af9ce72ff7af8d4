"""lookahead, ema_params, swa and averaged_params."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from wrapper_trees import assert_trees_close, assert_trees_equal, nested_params

import gradxform as gx

A = np.diag([1.0, 3.0, 0.5])  # a quadratic 1/2 w^T A w + 1/2 (b - 1)^2


def quadratic_grad(params):
    return {"w": A @ params["w"], "b": params["b"] - 1.0}


START = {"w": np.array([1.0, -2.0, 3.0]), "b": np.array(0.0)}


def trajectory(optimizer, steps, params=None, jit=False):
    """Params after each step on the quadratic, gradients taken at ``fast`` for lookahead."""
    params = params if params is not None else jax.tree.map(jnp.asarray, START)
    state = optimizer.init(params)
    update = jax.jit(optimizer.update) if jit else optimizer.update
    history = []
    for _ in range(steps):
        at = getattr(params, "fast", params)  # lookahead takes gradients at the fast weights
        updates, state = update(quadratic_grad(at), state, params)
        params = gx.apply_updates(params, updates)
        history.append(params)
    return history, state


def numpy_lookahead(steps, k, alpha, lr, momentum):
    """Zhang et al. 2019, Algorithm 1, with heavy-ball SGD inside, its momentum kept across syncs."""
    slow = {n: v.copy() for n, v in START.items()}
    fast = {n: v.copy() for n, v in START.items()}
    trace = {n: np.zeros_like(v) for n, v in START.items()}
    history = []
    for t in range(1, steps + 1):
        g = quadratic_grad(fast)
        trace = {n: g[n] + momentum * trace[n] for n in g}
        fast = {n: fast[n] - lr * trace[n] for n in g}
        if t % k == 0:
            slow = {n: slow[n] + alpha * (fast[n] - slow[n]) for n in g}
            fast = {n: slow[n].copy() for n in g}
        history.append((fast, slow))
    return history


def test_lookahead_matches_the_papers_two_loops():
    opt = gx.lookahead(gx.sgd(0.1, momentum=0.9), sync_period=3, slow_step_size=0.5)
    ours, _ = trajectory(opt, 10, gx.LookaheadParams.init_synced(jax.tree.map(jnp.asarray, START)))
    for got, (fast, slow) in zip(ours, numpy_lookahead(10, 3, 0.5, 0.1, 0.9)):
        assert_trees_close(got.fast, fast, rtol=1e-12, atol=1e-14)
        assert_trees_close(got.slow, slow, rtol=1e-12, atol=1e-14)


def test_lookahead_matches_optax():
    start = gx.LookaheadParams.init_synced(jax.tree.map(jnp.asarray, START))
    ours, _ = trajectory(gx.lookahead(gx.sgd(0.1, momentum=0.9), 4, 0.6), 9, start, jit=True)
    with jax.numpy_dtype_promotion("standard"):
        optax_start = optax.LookaheadParams.init_synced(start.fast)
        optax_opt = optax.lookahead(optax.sgd(0.1, momentum=0.9), 4, 0.6)
        theirs, _ = trajectory(optax_opt, 9, optax_start, jit=True)
    for a, b in zip(ours, theirs):
        assert_trees_close(a.fast, b.fast, rtol=1e-15)
        assert_trees_close(a.slow, b.slow, rtol=1e-15)


def test_lookahead_with_reset_state_restarts_the_fast_optimizer_at_each_sync():
    opt = gx.lookahead(gx.sgd(0.1, momentum=0.9), 2, 0.5, reset_state=True)
    _, state = trajectory(opt, 4, gx.LookaheadParams.init_synced(jax.tree.map(jnp.asarray, START)))
    assert_trees_equal(state.fast_state, gx.sgd(0.1, momentum=0.9).init(START))


def test_averaged_params_of_lookahead_params_are_the_slow_weights():
    params = gx.LookaheadParams(fast={"w": jnp.ones(2)}, slow={"w": jnp.zeros(2)})
    assert gx.averaged_params(params) is params.slow


def test_lookahead_rejects_bad_arguments_and_plain_params():
    with pytest.raises(ValueError, match="lookahead: sync_period must be an int >= 1, got sync_period=0"):
        gx.lookahead(gx.sgd(0.1), 0, 0.5)
    with pytest.raises(ValueError, match=r"lookahead: slow_step_size must be in \[0, 1\]"):
        gx.lookahead(gx.sgd(0.1), 5, 1.5)
    opt = gx.lookahead(gx.sgd(0.1), 5, 0.5)
    with pytest.raises(ValueError, match=r"lookahead: update\(\) needs params=LookaheadParams"):
        opt.update({"w": jnp.ones(2)}, opt.init({"w": jnp.ones(2)}), {"w": jnp.ones(2)})


# ---------------------------------------------------------------------------------------------
# ema_params
# ---------------------------------------------------------------------------------------------


def test_ema_params_averages_the_trajectory_and_leaves_the_updates_unchanged():
    decay = 0.8
    ours, state = trajectory(gx.ema_params(gx.adam(0.1), decay), 6)
    plain, _ = trajectory(gx.adam(0.1), 6)
    ema = {n: np.asarray(v) for n, v in START.items()}
    for got, p in zip(ours, plain):
        assert_trees_equal(got, p)
        ema = {n: (1 - decay) * np.asarray(p[n]) + decay * ema[n] for n in ema}
    assert_trees_close(gx.averaged_params(state), ema, rtol=1e-14)


def test_ema_params_decay_may_be_a_schedule_of_the_step():
    schedule = lambda s: jnp.minimum(0.9, (1 + s.astype(jnp.float64)) / (10 + s.astype(jnp.float64)))
    ours, state = trajectory(gx.ema_params(gx.sgd(0.1), schedule), 5)
    ema = {n: np.asarray(v) for n, v in START.items()}
    for s, p in enumerate(ours):
        beta = min(0.9, (1.0 + s) / (10.0 + s))
        ema = {n: (1 - beta) * np.asarray(p[n]) + beta * ema[n] for n in ema}
    assert_trees_close(state.ema, ema, rtol=1e-14)


def test_averaged_params_finds_the_average_anywhere_in_the_state():
    params = nested_params()
    opt = gx.chain(gx.clip_by_global_norm(1.0), gx.ema_params(gx.sgd(0.1), 0.5))
    state = opt.init(params)
    assert_trees_equal(gx.averaged_params(state), params)
    assert gx.averaged_params(state)["decoder"][1] is None


def test_ema_params_needs_params_and_a_decay_below_one():
    opt = gx.ema_params(gx.sgd(0.1), 0.9)
    with pytest.raises(ValueError, match=r"ema_params: update\(\) needs params to average them"):
        opt.update({"w": jnp.ones(2)}, opt.init({"w": jnp.ones(2)}))
    with pytest.raises(ValueError, match=r"ema_params: decay must be in \[0, 1\)"):
        gx.ema_params(gx.sgd(0.1), 1.0)


# ---------------------------------------------------------------------------------------------
# swa
# ---------------------------------------------------------------------------------------------


def test_swa_is_the_mean_of_the_params_at_every_period_after_the_start():
    ours, state = trajectory(gx.swa(gx.sgd(0.2, momentum=0.5), start_step=3, period=2), 10)
    plain, _ = trajectory(gx.sgd(0.2, momentum=0.5), 10)
    for got, p in zip(ours, plain):
        assert_trees_equal(got, p)
    averaged = [plain[t - 1] for t in (5, 7, 9)]
    expected = {n: np.mean([np.asarray(p[n]) for p in averaged], axis=0) for n in START}
    assert int(state.n_averaged) == 3
    assert_trees_close(gx.averaged_params(state), expected, rtol=1e-14)


def test_swa_before_its_first_average_holds_the_initial_params():
    _, state = trajectory(gx.swa(gx.sgd(0.2), start_step=5), 3)
    assert int(state.n_averaged) == 0
    assert_trees_equal(gx.averaged_params(state), jax.tree.map(jnp.asarray, START))


def test_swa_rejects_a_negative_start_and_a_period_below_one():
    with pytest.raises(ValueError, match="swa: start_step must be an int >= 0"):
        gx.swa(gx.sgd(0.1), start_step=-1)
    with pytest.raises(ValueError, match="swa: period must be an int >= 1"):
        gx.swa(gx.sgd(0.1), period=0)


def test_averaged_params_needs_exactly_one_average():
    params = {"w": jnp.ones(2)}
    with pytest.raises(ValueError, match="averaged_params: found no averaged parameters"):
        gx.averaged_params(gx.adam(0.1).init(params))
    both = gx.parallel_sum((0.5, gx.ema_params(gx.sgd(0.1))), (0.5, gx.swa(gx.sgd(0.1))))
    with pytest.raises(ValueError, match=r"found 2 averages \(\['EmaParamsState', 'SwaState'\]\)"):
        gx.averaged_params(both.init(params))


# ---------------------------------------------------------------------------------------------
# Hyperparameters in the state: read, set, scheduled
# ---------------------------------------------------------------------------------------------


def synced_start():
    return gx.LookaheadParams.init_synced(jax.tree.map(jnp.asarray, START))


def run_from(optimizer, state, params, steps):
    """Params after each of ``steps`` more steps on the quadratic, from ``state`` and ``params``."""
    history = []
    for _ in range(steps):
        at = getattr(params, "fast", params)
        updates, state = optimizer.update(quadratic_grad(at), state, params)
        params = gx.apply_updates(params, updates)
        history.append(params)
    return history, state


def test_lookahead_slow_step_size_is_read_from_the_state_by_name():
    opt = gx.lookahead(gx.sgd(0.1), sync_period=3, slow_step_size=0.5)
    state = opt.init(synced_start())
    assert float(gx.hyperparams(state)["slow_step_size"]) == 0.5
    assert float(gx.hyperparams(state)["learning_rate"]) == 0.1  # the fast optimizer's, beside it
    _, state = trajectory(opt, 2, synced_start())
    assert float(gx.hyperparams(state)["slow_step_size"]) == 0.5


def test_setting_lookahead_slow_step_size_moves_as_building_with_it_would():
    rebuilt, _ = trajectory(gx.lookahead(gx.sgd(0.1, momentum=0.9), 3, 0.8), 7, synced_start())
    opt = gx.lookahead(gx.sgd(0.1, momentum=0.9), 3, 0.5)
    state = gx.set_hyperparams(opt.init(synced_start()), slow_step_size=0.8)
    ours, state = run_from(opt, state, synced_start(), 7)
    for a, b in zip(ours, rebuilt):
        assert_trees_equal(a.fast, b.fast)
        assert_trees_equal(a.slow, b.slow)
    original, _ = trajectory(opt, 7, synced_start())
    assert not np.array_equal(original[-1].slow["w"], ours[-1].slow["w"])
    assert float(gx.hyperparams(state)["slow_step_size"]) == 0.8


def test_lookahead_slow_step_size_may_follow_a_schedule_of_its_own_step_count():
    # Not inside a chain: lookahead counts its updates itself. Changing at step 4 equals
    # building with 0.5 and setting 0.8 after 4 updates (the second sync, after step 6, uses 0.8).
    inner = gx.sgd(0.1, momentum=0.9)
    scheduled, state = trajectory(
        gx.lookahead(inner, 3, lambda step: jnp.where(step < 4, 0.5, 0.8)), 7, synced_start()
    )
    opt = gx.lookahead(inner, 3, 0.5)
    head, mid_state = trajectory(opt, 4, synced_start())
    tail, _ = run_from(opt, gx.set_hyperparams(mid_state, slow_step_size=0.8), head[-1], 3)
    for a, b in zip(scheduled, head + tail):
        assert_trees_equal(a.fast, b.fast)
        assert_trees_equal(a.slow, b.slow)
    constant, _ = trajectory(opt, 7, synced_start())
    assert not np.array_equal(constant[-1].slow["w"], scheduled[-1].slow["w"])
    assert int(state.step) == 7 and float(gx.hyperparams(state)["slow_step_size"]) == 0.8


def test_lookahead_reset_state_keeps_the_fast_optimizers_hyperparameters_as_set():
    opt = gx.lookahead(gx.sgd(0.1, momentum=0.9), 2, 0.5, reset_state=True)
    state = gx.set_hyperparams(opt.init(synced_start()), learning_rate=0.05)
    ours, state = run_from(opt, state, synced_start(), 5)  # resets after steps 2 and 4
    rebuilt, _ = trajectory(gx.lookahead(gx.sgd(0.05, momentum=0.9), 2, 0.5, reset_state=True), 5, synced_start())
    for a, b in zip(ours, rebuilt):
        assert_trees_equal(a.fast, b.fast)
        assert_trees_equal(a.slow, b.slow)
    assert float(gx.hyperparams(state)["learning_rate"]) == 0.05


def test_ema_params_decay_is_read_and_set_by_name():
    opt = gx.ema_params(gx.sgd(0.1), 0.8)
    state = gx.set_hyperparams(opt.init(jax.tree.map(jnp.asarray, START)), decay=0.5)
    _, state = run_from(opt, state, jax.tree.map(jnp.asarray, START), 4)
    _, rebuilt = trajectory(gx.ema_params(gx.sgd(0.1), 0.5), 4)
    _, original = trajectory(opt, 4)
    assert_trees_equal(state.ema, rebuilt.ema)
    assert not np.array_equal(state.ema["w"], original.ema["w"])
    assert float(gx.hyperparams(state)["decay"]) == 0.5


def test_ema_params_decay_schedule_is_recorded_at_each_step():
    schedule = lambda s: jnp.minimum(0.9, (1 + s.astype(jnp.float64)) / (10 + s.astype(jnp.float64)))
    opt = gx.ema_params(gx.sgd(0.1), schedule)
    _, state = trajectory(opt, 3)
    np.testing.assert_allclose(gx.hyperparams(state)["decay"], 3.0 / 12.0, rtol=1e-15)  # s = 2
    # Set, it replaces the schedule; set to None, the schedule is back.
    state = gx.set_hyperparams(state, decay=0.0)
    history, state = run_from(opt, state, jax.tree.map(jnp.asarray, START), 1)
    assert_trees_equal(state.ema, history[-1])  # decay 0: the average is the latest params
    _, state = run_from(opt, gx.set_hyperparams(state, decay=None), history[-1], 1)
    np.testing.assert_allclose(gx.hyperparams(state)["decay"], 5.0 / 14.0, rtol=1e-15)  # s = 4


def test_ema_params_of_bfloat16_params_averages_in_float32_and_keeps_their_dtype():
    params = {"w": jnp.ones(2, jnp.bfloat16)}
    opt = gx.ema_params(gx.scale(1.0), 0.999)
    _, state = opt.update({"w": jnp.full(2, -1001.0, jnp.bfloat16)}, opt.init(params), params)
    assert state.ema["w"].dtype == jnp.bfloat16
    # 0.001 * (-1000) + 0.999 * 1 = -0.001 in float32, rounded once; in bfloat16 0.999 would be
    # 1 and the average exactly 0.
    expected = (np.float32(0.001) * np.float32(-1000.0) + np.float32(0.999)) * np.ones(2, np.float32)
    np.testing.assert_array_equal(state.ema["w"], jnp.asarray(expected).astype(jnp.bfloat16))
    assert np.all(np.asarray(state.ema["w"], np.float32) < 0)
