"""MultiSteps (gradient accumulation) and apply_every."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from wrapper_trees import assert_trees_close, assert_trees_equal, gradient_sequence, nested_params, run

import gradxform as gx

RNG = np.random.default_rng(0)
X = RNG.normal(size=(24, 3))  # 24 examples of a linear model y = x . w + b
Y = X @ np.array([1.0, -2.0, 0.5]) + 0.3 + 0.1 * RNG.normal(size=24)


def linear_grad(params, rows, reduce):
    """Gradient of reduce_i 1/2 (x_i . w + b - y_i)^2 over ``rows``; ``reduce`` is mean or sum."""
    x, y = jnp.asarray(X[rows]), jnp.asarray(Y[rows])
    loss = lambda p: reduce(0.5 * (x @ p["w"] + p["b"] - y) ** 2)
    return jax.grad(loss)(params)


def train(optimizer, batches, steps_per_batch, reduce):
    """Params after each optimizer call; each call sees the gradient on one group of rows."""
    params = {"w": jnp.zeros(3), "b": jnp.zeros([])}
    state = optimizer.init(params)
    update = jax.jit(optimizer.update)
    history = []
    for rows in batches:
        updates, state = update(linear_grad(params, rows, reduce), state, params)
        params = gx.apply_updates(params, updates)
        history.append(params)
    return history[steps_per_batch - 1 :: steps_per_batch], state


@pytest.mark.slow
@pytest.mark.parametrize("use_grad_mean, reduce", [(True, jnp.mean), (False, jnp.sum)])
def test_k_micro_batches_take_the_same_step_as_one_batch_of_all_of_them(use_grad_mean, reduce):
    k, steps = 4, 3
    full_batches = [np.arange(24).reshape(3, 8)[s] for s in range(steps)]
    micro_batches = [rows for full in full_batches for rows in np.split(full, k)]
    accumulated, state = train(gx.MultiSteps(gx.adam(0.1), k, use_grad_mean), micro_batches, k, reduce)
    direct, _ = train(gx.adam(0.1), full_batches, 1, reduce)
    for a, d in zip(accumulated, direct):
        assert_trees_close(a, d, rtol=1e-13, atol=1e-15)
    assert state.gradient_step == steps and state.inner_opt_state.step == steps


def test_updates_are_zero_until_the_kth_micro_batch():
    opt = gx.MultiSteps(gx.sgd(1.0), every_k_schedule=3)
    params = jnp.zeros(2)
    state, update = opt.init(params), jax.jit(opt.update)
    seen = []
    for g in [1.0, 2.0, 6.0, 4.0]:
        updates, state = update(jnp.full(2, g), state, params)
        seen.append((updates[0].item(), bool(opt.has_updated(state))))
    assert seen == [(0.0, False), (0.0, False), (-3.0, True), (0.0, False)]


def test_a_schedule_sets_k_from_the_number_of_optimizer_steps_taken():
    opt = gx.MultiSteps(gx.sgd(1.0), every_k_schedule=lambda step: jnp.where(step < 1, 2, 3))
    params = jnp.zeros(1)
    state, update = opt.init(params), jax.jit(opt.update)
    emitted = []
    for call in range(8):
        updates, state = update(jnp.ones(1), state, params)
        if opt.has_updated(state):
            emitted.append(call + 1)
    assert emitted == [2, 5, 8]


def test_state_holds_one_param_sized_accumulator_besides_the_inner_state():
    params = nested_params()
    state = gx.MultiSteps(gx.adam(0.1), 4).init(params)
    outer = state._replace(inner_opt_state=())
    sizes = [x.size for x in jax.tree.leaves(outer)]
    param_size = sum(p.size for p in jax.tree.leaves(params))
    assert sum(sizes) == param_size + 2  # the accumulator and the two counters
    assert state.mini_step.dtype == state.gradient_step.dtype == jnp.int32
    assert jax.tree.structure(state.acc_grads) == jax.tree.structure(params)


def test_accumulator_dtype_is_float32_for_low_precision_params_unless_given():
    params = {"w": jnp.zeros(2, jnp.bfloat16), "h": jnp.zeros(2, jnp.float16), "f": jnp.zeros(2, jnp.float32)}
    default = gx.MultiSteps(gx.sgd(1.0), 2).init(params).acc_grads
    assert {k: v.dtype for k, v in default.items()} == {"w": jnp.float32, "h": jnp.float32, "f": jnp.float32}
    kept = gx.MultiSteps(gx.sgd(1.0), 2, accumulator_dtype=jnp.bfloat16).init(params).acc_grads
    assert {k: v.dtype for k, v in kept.items()} == {"w": jnp.bfloat16, "h": jnp.bfloat16, "f": jnp.bfloat16}
    params = {"w": jnp.zeros(2, jnp.bfloat16)}
    state = gx.MultiSteps(gx.sgd(1.0), 2, accumulator_dtype=jnp.float32).init(params)
    assert state.acc_grads["w"].dtype == jnp.float32
    updates, _ = gx.MultiSteps(gx.sgd(1.0), 1, accumulator_dtype=jnp.float32).update(
        {"w": jnp.ones(2, jnp.bfloat16)}, state, params
    )
    assert updates["w"].dtype == jnp.bfloat16


@pytest.mark.slow
def test_a_skipped_micro_batch_is_as_if_it_never_happened():
    params = {"w": jnp.ones(3), "b": jnp.ones([]), "frozen": None}
    grads = gradient_sequence(params, 4)
    poisoned = {**grads[1], "b": jnp.array(jnp.nan)}
    opt = gx.MultiSteps(gx.adam(0.1), 3, should_skip_update_fn=gx.skip_not_finite)
    with_skip, state = run(opt, params, [grads[0], poisoned, grads[2], grads[3]])
    without, _ = run(gx.MultiSteps(gx.adam(0.1), 3), params, [grads[0], grads[2], grads[3]])
    assert_trees_equal(with_skip[-1], without[-1])
    assert_trees_equal(with_skip[1], jax.tree.map(jnp.zeros_like, grads[0]))
    assert state.skip_state["num_not_finite"] == 0 and not state.skip_state["should_skip"]


@pytest.mark.slow
def test_multisteps_inside_a_chain_counts_micro_batches_outside_and_steps_inside():
    params = nested_params()
    opt = gx.chain(gx.clip_by_global_norm(1.0), gx.MultiSteps(gx.adam(0.1), 2))
    _, state = run(opt, params, gradient_sequence(params, 5))
    assert state.step is None  # the outer chain's links read no step: MultiSteps counts its own
    assert state[1].mini_step == 1 and state[1].gradient_step == 2 and state[1].inner_opt_state.step == 2


def test_gradient_step_saturates_instead_of_wrapping():
    opt = gx.MultiSteps(gx.sgd(1.0), 1)
    state = opt.init(jnp.zeros(1))._replace(gradient_step=jnp.int32(2**31 - 1))
    _, state = opt.update(jnp.ones(1), state)
    assert state.gradient_step == 2**31 - 1


def test_multisteps_rejects_k_below_one_a_non_int_k_and_a_bad_skip_result():
    expected = r"MultiSteps: every_k_schedule must be an int >= 1, got every_k_schedule=0"
    with pytest.raises(ValueError, match=expected):
        gx.MultiSteps(gx.sgd(1.0), 0)
    with pytest.raises(TypeError, match="MultiSteps: every_k_schedule must be an int"):
        gx.MultiSteps(gx.sgd(1.0), 2.5)
    opt = gx.MultiSteps(gx.sgd(1.0), 2, should_skip_update_fn=lambda u, s, p: (jnp.zeros(2, bool), ()))
    with pytest.raises(ValueError, match=r"should_skip_update_fn must return \(a bool scalar"):
        opt.update(jnp.ones(1), opt.init(jnp.zeros(1)))


# ---------------------------------------------------------------------------------------------
# apply_every
# ---------------------------------------------------------------------------------------------


def test_apply_every_emits_the_sum_of_k_updates_and_zeros_in_between():
    params = nested_params()
    grads = gradient_sequence(params, 6)
    outputs, _ = run(gx.apply_every(3), params, grads)
    for t, out in enumerate(outputs):
        window = grads[t - 2 : t + 1]
        expected = jax.tree.map(lambda *g: g[0] + g[1] + g[2], *window) if t % 3 == 2 else None
        assert_trees_equal(out, expected if expected is not None else jax.tree.map(jnp.zeros_like, grads[t]))


def test_apply_every_matches_optax():
    params = {"w": jnp.ones(3), "b": jnp.ones([])}
    grads = gradient_sequence(params, 7)
    ours, _ = run(gx.apply_every(2), params, grads)
    with jax.numpy_dtype_promotion("standard"):
        theirs, _ = run(optax.apply_every(2), params, grads)
    for a, b in zip(ours, theirs):
        assert_trees_equal(a, b)


@pytest.mark.parametrize("k, error", [(0, ValueError), (-2, ValueError), (1.5, TypeError), (True, TypeError)])
def test_apply_every_rejects_k_that_is_not_a_positive_int(k, error):
    with pytest.raises(error, match="apply_every: k must be an int"):
        gx.apply_every(k)


# ---------------------------------------------------------------------------------------------
# Hyperparameters of the wrapped optimizer (MultiSteps and apply_every have only int counts)
# ---------------------------------------------------------------------------------------------


def test_the_wrapped_optimizers_hyperparameters_are_read_and_set_through_multisteps():
    params = nested_params()
    grads = gradient_sequence(params, 6)
    opt = gx.MultiSteps(gx.adam(0.1), every_k_schedule=3)
    state = opt.init(params)
    assert float(gx.hyperparams(state)["learning_rate"]) == 0.1
    state = gx.set_hyperparams(state, learning_rate=0.05)
    outputs = []
    for g in grads:  # the set value survives the micro-batches that take no step
        updates, state = opt.update(g, state, params)
        outputs.append(updates)
    expected, _ = run(gx.MultiSteps(gx.adam(0.05), every_k_schedule=3), params, grads)
    assert_trees_equal(outputs, expected)
    assert float(gx.hyperparams(state)["learning_rate"]) == 0.05


def test_a_skipped_micro_batch_keeps_a_set_hyperparameter():
    params = {"w": jnp.zeros(2)}
    opt = gx.MultiSteps(gx.sgd(1.0), every_k_schedule=1, should_skip_update_fn=gx.skip_not_finite)
    state = gx.set_hyperparams(opt.init(params), learning_rate=0.5)
    _, state = opt.update({"w": jnp.array([jnp.nan, 1.0])}, state, params)
    updates, state = opt.update({"w": jnp.array([2.0, 4.0])}, state, params)
    np.testing.assert_array_equal(updates["w"], [-1.0, -2.0])
    assert float(gx.hyperparams(state)["learning_rate"]) == 0.5


def _bf16_training(make_optimizer, steps=12, k=4):
    """bf16 params trained on micro-batches whose gradients differ in their low bits."""
    rng = np.random.default_rng(1)
    params = {"w": jnp.asarray(rng.normal(size=(3, 2)), jnp.bfloat16), "b": jnp.ones(2, jnp.bfloat16)}
    grads = [
        jax.tree.map(lambda p: jnp.asarray(1.0 + 0.01 * rng.normal(size=p.shape), jnp.bfloat16), params)
        for _ in range(steps * k)
    ]
    opt = make_optimizer(k)
    state = opt.init(params)
    update = jax.jit(opt.update)
    for g in grads:
        updates, state = update(g, state, params)
        params = optax.apply_updates(params, updates)
    return params, state


def test_bf16_params_accumulate_in_float32_and_train_bit_identically_to_optax():
    # Plain SGD, so that only the accumulation is compared (the inner step is one multiply).
    ours, state = _bf16_training(lambda k: gx.MultiSteps(gx.sgd(1e-2), k))
    with jax.numpy_dtype_promotion("standard"):  # Optax divides a float by an int32 count
        theirs, their_state = _bf16_training(lambda k: optax.MultiSteps(optax.sgd(1e-2), k))
    assert state.acc_grads["w"].dtype == their_state.acc_grads["w"].dtype == jnp.float32
    assert ours["w"].dtype == jnp.bfloat16
    assert_trees_equal(ours, theirs)


def test_bf16_accumulation_in_bfloat16_rounds_the_mean_and_is_available_on_request():
    params = {"w": jnp.zeros(1, jnp.bfloat16)}
    grads = [jnp.asarray([x], jnp.bfloat16) for x in (1.0, 1.0078125, 1.0078125, 1.0078125)]

    def mean_of(accumulator_dtype):
        opt = gx.MultiSteps(gx.scale(1.0), 4, accumulator_dtype=accumulator_dtype)
        state = opt.init(params)
        for g in grads:
            out, state = opt.update({"w": g}, state, params)
        return float(out["w"][0])

    exact = float(np.mean([float(g[0]) for g in grads]))  # 1.005859375
    assert mean_of(None) == float(jnp.asarray(exact, jnp.bfloat16))  # one rounding, at the end
    assert mean_of(jnp.bfloat16) != mean_of(None)  # rounded at every micro-batch


def test_float64_and_complex_params_accumulate_in_their_own_dtype():
    params = {"x": jnp.zeros(2, jnp.float64), "z": jnp.zeros(2, jnp.complex128)}
    acc = gx.MultiSteps(gx.sgd(1.0), 2).init(params).acc_grads
    assert acc["x"].dtype == jnp.float64 and acc["z"].dtype == jnp.complex128
    opt = gx.MultiSteps(gx.scale(1.0), 2)
    state = opt.init(params)
    g = {"x": jnp.full(2, 1.0 + 1e-12), "z": jnp.full(2, 1.0 + 2.0j)}
    _, state = opt.update(g, state, params)
    out, _ = opt.update(g, state, params)
    np.testing.assert_array_equal(out["x"], g["x"])  # float32 would round 1 + 1e-12 to 1
    np.testing.assert_array_equal(out["z"], g["z"])  # float32 would drop the imaginary part
