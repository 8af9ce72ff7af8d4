"""schedule_free and schedule_free_eval_params: against optax.contrib and the paper, the state,
the hyperparameters, and the errors."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest
from schedule_free_runs import START, loss_grad, side_by_side

import gradxform as gx


def run(optimizer, eval_params, dtype, steps=20, promotion="strict", jit=False):
    """The params y and the averages x after each update, as NumPy arrays of ``dtype``."""
    params = {k: jnp.asarray(v, dtype) for k, v in START.items()}
    state = optimizer.init(params)
    update = jax.jit(optimizer.update) if jit else optimizer.update
    ys, xs = [], []
    with jax.numpy_dtype_promotion(promotion):
        for _ in range(steps):
            grads = loss_grad({k: np.asarray(v, np.float64) for k, v in params.items()})
            grads = {k: jnp.asarray(v, dtype) for k, v in grads.items()}
            updates, state = update(grads, state, params)
            params = jax.tree.map(lambda p, u: (p.astype(u.dtype) + u).astype(p.dtype), params, updates)
            ys.append({k: np.asarray(v) for k, v in params.items()})
            xs.append({k: np.asarray(v) for k, v in eval_params(state, params).items()})
    return ys, xs


def run_optax(optimizer, dtype, steps=20):
    return run(optimizer, optax.contrib.schedule_free_eval_params, dtype, steps, promotion="standard")


def run_gx(optimizer, dtype, steps=20, jit=False):
    return run(optimizer, gx.schedule_free_eval_params, dtype, steps, jit=jit)


def rising(step):
    """A warmup computed alike by both libraries, in the default float dtype."""
    return 0.05 * jnp.minimum(1.0, (jnp.asarray(step, jnp.result_type(float)) + 1.0) / 6.0)


def assert_histories(actual, expected, rtol=None):
    for step, (a, e) in enumerate(zip(actual, expected, strict=True)):
        for key in e:
            message = f"step {step + 1}, leaf {key!r}"
            if rtol is None:
                np.testing.assert_array_equal(a[key], e[key], err_msg=message)
            else:
                np.testing.assert_allclose(a[key], e[key], rtol=rtol, atol=1e-12, err_msg=message)


# --- Against optax.contrib.schedule_free ---------------------------------------------------------


def test_params_and_eval_params_match_optax_every_step_in_float64():
    ys, xs = run_gx(gx.schedule_free(gx.sgd(rising), rising, b1=0.8, weight_lr_power=1.5), np.float64)
    ys_ref, xs_ref = run_optax(
        optax.contrib.schedule_free(optax.sgd(rising), rising, b1=0.8, weight_lr_power=1.5), np.float64
    )
    assert_histories(ys, ys_ref, rtol=1e-12)
    assert_histories(xs, xs_ref, rtol=1e-12)


def assert_like_optax_to_rounding(rows, ulps):
    """The states and eval params bit for bit; each update within ``ulps`` of the params' size.

    The update y_t - y_{t-1} is formed as a sum of steps here, as a difference of points in
    Optax (see schedule_free's docstring), so the two agree to the rounding of y, not of the
    update. With bfloat16 params, Optax rounds 1 - c_t and c_t separately to bfloat16, so its
    x_t is off by up to an ulp of y in bfloat16; this update is not.
    """
    for step, (params, ours_u, theirs_u, ours, theirs, ours_x, theirs_x) in enumerate(rows, 1):
        for key in params:
            message = f"step {step}, leaf {key!r}"
            np.testing.assert_array_equal(ours.z[key], theirs.z[key], err_msg=message)
            np.testing.assert_array_equal(ours_x[key], theirs_x[key], err_msg=message)
            y = np.abs(np.asarray(params[key], np.float32)) + np.abs(np.asarray(theirs_u[key], np.float32))
            spacing = np.spacing(y.astype(params[key].dtype)).astype(np.float32)  # ulps of y
            error = np.abs(np.asarray(ours_u[key], np.float32) - np.asarray(theirs_u[key], np.float32))
            assert np.all(error <= ulps * spacing), (message, error, spacing)
        np.testing.assert_array_equal(ours.weight_sum, theirs.weight_sum, err_msg=f"step {step}")
        np.testing.assert_array_equal(ours.max_lr, theirs.max_lr, err_msg=f"step {step}")


def test_states_and_eval_params_are_bit_identical_to_optax_in_float32_updates_to_rounding():
    rows = side_by_side(gx.schedule_free(gx.sgd(0.05), 0.05, b1=0.8),
                        optax.contrib.schedule_free(optax.sgd(0.05), 0.05, b1=0.8), np.float32)
    assert_like_optax_to_rounding(rows, ulps=2)


def test_a_wider_state_dtype_with_bfloat16_params_matches_optax_to_rounding():
    # Optax's SGD as the base in both: gx.sgd rounds -lr * g once from float32 in bfloat16
    # (Optax multiplies in bfloat16), which is the base's business, not the wrapper's.
    rows = side_by_side(gx.schedule_free(optax.sgd(0.05), 0.05, state_dtype=jnp.float32),
                        optax.contrib.schedule_free(optax.sgd(0.05), 0.05, state_dtype=jnp.float32),
                        jnp.bfloat16)
    assert rows[-1][1]["w"].dtype == jnp.float32  # updates in the state's wider dtype, as Optax's
    assert_like_optax_to_rounding(rows, ulps=2)


def test_updates_run_bit_for_bit_alike_in_a_flat_layout():
    opt = gx.schedule_free(gx.sgd(0.05), 0.05)
    ys, xs = run_gx(opt, np.float64, steps=5)
    flat_ys, _ = run(gx.flatten(opt), lambda state, p: p, np.float64, steps=5)
    assert_histories(flat_ys, ys)


def test_jit_matches_eager_to_float32_rounding():
    # XLA may contract a * b + c into one fused multiply-add when compiling, so jitted and eager
    # runs (Optax's own among them) differ by an ulp per step; the trajectories stay close.
    opt = gx.schedule_free(gx.sgd(0.05), 0.05)
    eager, _ = run_gx(opt, np.float32, steps=10)
    jitted, _ = run_gx(opt, np.float32, steps=10, jit=True)
    assert_histories(jitted, eager, rtol=1e-5)


# --- Against the paper --------------------------------------------------------------------------


def numpy_schedule_free_sgd(learning_rates, b1, power, steps):
    """Defazio et al. 2024, Algorithm 1 with SGD: y, z, x and the weights c_t = lr_max^p / sum."""
    x = {k: v.copy() for k, v in START.items()}
    z = {k: v.copy() for k, v in START.items()}
    y = {k: v.copy() for k, v in START.items()}
    lr_max, weight_sum, ys, xs = 0.0, 0.0, [], []
    for t in range(1, steps + 1):
        lr = learning_rates(t)
        grads = loss_grad(y)
        z = {k: z[k] - lr * grads[k] for k in z}
        lr_max = max(lr_max, lr)
        weight_sum += lr_max**power
        c = lr_max**power / weight_sum if weight_sum > 0 else 0.0
        x = {k: (1 - c) * x[k] + c * z[k] for k in x}
        y = {k: (1 - b1) * z[k] + b1 * x[k] for k in x}
        ys.append(y)
        xs.append(x)
    return ys, xs


def test_matches_the_papers_algorithm_with_sgd_and_a_warmup():
    # The base optimizer reads its schedule at t - 1 (updates before this one), the averaging
    # weight at t: both see the same rate here, a warmup that starts after the first step.
    def warmup(t):
        return 0.05 * min(1.0, t / 5.0)

    def base_rate(step):
        return 0.05 * jnp.minimum(1.0, (jnp.asarray(step, jnp.float64) + 1.0) / 5.0)

    def weight_rate(step):
        return 0.05 * jnp.minimum(1.0, jnp.asarray(step, jnp.float64) / 5.0)

    ys, xs = run_gx(gx.schedule_free(gx.sgd(base_rate), weight_rate, b1=0.9, weight_lr_power=2.0),
                    np.float64, steps=15)
    ys_ref, xs_ref = numpy_schedule_free_sgd(warmup, 0.9, 2.0, 15)
    assert_histories(ys, ys_ref, rtol=1e-10)
    assert_histories(xs, xs_ref, rtol=1e-10)


def test_a_learning_rate_of_zero_gives_zero_weight_not_nan():
    opt = gx.schedule_free(gx.sgd(0.0), 0.0)
    params = {"w": jnp.ones(3)}
    state = opt.init(params)
    updates, state = opt.update({"w": jnp.ones(3)}, state, params)
    np.testing.assert_array_equal(updates["w"], np.zeros(3))
    np.testing.assert_array_equal(gx.schedule_free_eval_params(state, params)["w"], np.ones(3))


def test_the_learning_rate_schedule_is_read_at_one_past_the_step():
    opt = gx.schedule_free(gx.sgd(0.1), lambda step: jnp.asarray(step, jnp.float32))
    params = jnp.zeros(2, jnp.float32)
    state = opt.init(params)
    _, state = opt.update(jnp.ones(2, jnp.float32), state, params)
    assert float(state.max_lr) == 1.0
    _, state = opt.update(jnp.ones(2, jnp.float32), state, params)
    assert float(state.max_lr) == 2.0 and float(state.weight_sum) == 5.0


# --- State and hyperparameters -------------------------------------------------------------------


def test_state_is_textbook_with_optax_names_for_the_base_state():
    params = {"w": jnp.ones((2, 2), jnp.float32), "b": jnp.zeros((), jnp.float32)}
    state = gx.schedule_free(gx.sgd(0.1), 0.1).init(params)
    assert state._fields == ("weight_sum", "max_lr", "step", "z", "inner_state", "hyperparams")
    assert "base_optimizer_state" in state._fields
    assert state.base_optimizer_state is state.inner_state
    assert state.step.dtype == jnp.int32 and int(state.step) == 0
    assert state.max_lr.dtype == jnp.float32 and state.weight_sum.dtype == jnp.float32
    assert state.z["w"] is not params["w"]
    assert state.z["w"].unsafe_buffer_pointer() != params["w"].unsafe_buffer_pointer()
    assert repr(state).startswith("ScheduleFreeState(")


def test_state_dtype_sets_z_and_the_scalars_take_the_lowest_params_dtype():
    params = {"w": jnp.ones(2, jnp.bfloat16), "b": jnp.zeros((), jnp.float32)}
    state = gx.schedule_free(gx.sgd(0.1), 0.1, state_dtype=jnp.float32).init(params)
    assert state.z["w"].dtype == jnp.float32 and state.z["b"].dtype == jnp.float32
    assert state.max_lr.dtype == jnp.bfloat16


def test_hyperparameters_are_in_the_state_by_name_and_b1_set_reaches_eval_params():
    opt = gx.schedule_free(gx.sgd(0.1), 0.1, b1=0.9, weight_lr_power=1.0)
    params = jnp.array([1.0, 2.0], jnp.float32)
    state = opt.init(params)
    shown = gx.hyperparams(state)
    assert float(shown["b1"]) == pytest.approx(0.9) and float(shown["weight_lr_power"]) == 1.0
    assert float(shown["schedule_free/learning_rate"]) == pytest.approx(0.1)
    assert float(shown["inner_state/learning_rate"]) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="'learning_rate' matches 2 hyperparameters"):
        gx.set_hyperparams(state, learning_rate=0.2)
    updates, state = opt.update(jnp.array([1.0, -1.0], jnp.float32), state, params)
    params = gx.apply_updates(params, updates)
    state = gx.set_hyperparams(state, b1=0.5)
    x = gx.schedule_free_eval_params(state, params)
    np.testing.assert_allclose(x, (params - 0.5 * state.z) / 0.5, rtol=1e-6)


def test_eval_params_finds_the_state_inside_a_chain():
    opt = gx.chain(gx.clip_by_global_norm(1.0), gx.schedule_free(gx.sgd(0.1), 0.1))
    params = jnp.array([1.0, 2.0], jnp.float32)
    state = opt.init(params)
    updates, state = opt.update(jnp.array([1.0, -1.0], jnp.float32), state, params)
    params = gx.apply_updates(params, updates)
    np.testing.assert_allclose(gx.schedule_free_eval_params(state, params),
                               gx.schedule_free_eval_params(state[1], params))


# --- Errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"b1": 0.0}, ValueError, r"schedule_free: b1 must be in \(0, 1\], got b1=0.0"),
        ({"b1": 1.5}, ValueError, r"schedule_free: b1 must be in \(0, 1\], got b1=1.5"),
        ({"learning_rate": -0.1}, ValueError,
         r"schedule_free: learning_rate must be a finite number >= 0, got learning_rate=-0.1"),
        ({"weight_lr_power": float("inf")}, ValueError,
         r"schedule_free: weight_lr_power must be a finite number, got weight_lr_power=inf"),
        ({"b1": "0.9"}, TypeError, r"schedule_free: b1 must be a number or a schedule"),
        ({"state_dtype": jnp.int32}, TypeError,
         r"schedule_free: state_dtype must be None or a floating-point dtype"),
        ({"state_dtype": "not a dtype"}, TypeError,
         r"schedule_free: state_dtype must be None or a floating-point dtype, got str 'not a dtype'"),
    ],
)
def test_bad_arguments_are_refused_when_built(kwargs, error, message):
    arguments = {"learning_rate": 0.1, **kwargs}
    with pytest.raises(error, match=message):
        gx.schedule_free(gx.sgd(0.1), **arguments)


def test_a_base_optimizer_that_is_not_a_transformation_is_refused():
    with pytest.raises(TypeError, match="schedule_free"):
        gx.schedule_free("sgd", 0.1)


def test_update_without_params_is_refused():
    opt = gx.schedule_free(gx.sgd(0.1), 0.1)
    state = opt.init(jnp.zeros(2))
    with pytest.raises(ValueError, match=r"schedule_free: update\(\) needs params"):
        opt.update(jnp.ones(2), state)


@pytest.mark.parametrize(
    "params, error, message",
    [
        ({"w": jnp.zeros(2, jnp.complex64)}, TypeError,
         r"schedule_free: every parameter must have a real floating-point dtype, got complex64 at \['w'\]"),
        ({"w": jnp.zeros(2, jnp.int32)}, TypeError, r"got int32 at \['w'\]"),
        ({"a": jnp.zeros(2, jnp.float16), "b": jnp.zeros(2, jnp.bfloat16)}, ValueError,
         r"schedule_free: the parameters' dtypes \['bfloat16', 'float16'\] have no lowest one"),
    ],
)
def test_params_without_a_real_lowest_dtype_are_refused_at_init(params, error, message):
    with pytest.raises(error, match=message):
        gx.schedule_free(gx.sgd(0.1), 0.1).init(params)


def test_eval_params_needs_exactly_one_schedule_free_state():
    params = jnp.zeros(2)
    with pytest.raises(ValueError, match="schedule_free_eval_params: found no schedule-free state"):
        gx.schedule_free_eval_params(gx.adam(0.1).init(params), params)
    one = gx.schedule_free(gx.sgd(0.1), 0.1).init(params)
    with pytest.raises(ValueError, match="found 2 schedule-free states"):
        gx.schedule_free_eval_params((one, one), params)


def test_eval_params_refuses_params_of_another_structure():
    state = gx.schedule_free(gx.sgd(0.1), 0.1).init({"w": jnp.zeros(2)})
    with pytest.raises(ValueError, match="schedule_free_eval_params"):
        gx.schedule_free_eval_params(state, {"v": jnp.zeros(2)})
