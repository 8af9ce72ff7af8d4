"""Hyperparameters as values in the state: read them, set them without recompiling, schedule
them, vmap over them, and get the same numbers as Optax's constants (unlike inject_hyperparams)."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradxform as gx

pytestmark = pytest.mark.slow  # make test-fast leaves this module out

# A small problem whose gradient is element-wise (so that vmap cannot reorder a reduction):
# g = c * (p - target) + noise_t, with a fresh noise per step so iterates never settle at 0.
CURVATURE = {"w": np.array([[0.5, 1.0], [2.0, 4.0], [8.0, 0.25]]), "b": np.array(3.0)}
TARGET = {"w": np.array([[1.0, -2.0], [0.5, 3.0], [-1.5, 2.5]]), "b": np.array(-0.75)}
START = {"w": np.array([[0.3, 0.1], [-0.2, 0.4], [0.0, -0.6]]), "b": np.array(1.5)}
STEPS = 1000
_rng = np.random.default_rng(583)
NOISE = {k: 0.1 * _rng.normal(size=(STEPS,) + v.shape) for k, v in START.items()}


def _params(dtype):
    return {k: jnp.asarray(v, dtype) for k, v in START.items()}


def _grads(params, noise):
    return {k: jnp.asarray(CURVATURE[k], p.dtype) * (p - jnp.asarray(TARGET[k], p.dtype)) + noise[k]
            for k, p in params.items()}


def _run(optimizer, steps, dtype, params=None, state=None, start=0):
    """``steps`` jitted updates from ``params``/``state`` (default: START, a fresh state).

    Returns the params after every step (a dict of ``(steps, ...)`` arrays), the last params and
    the last state.
    """
    params = _params(dtype) if params is None else params
    state = optimizer.init(params) if state is None else state
    noise = {k: jnp.asarray(v[start:start + steps], dtype) for k, v in NOISE.items()}

    @jax.jit
    def run(params, state, noise):
        def body(carry, noise_t):
            params, state = carry
            updates, state = optimizer.update(_grads(params, noise_t), state, params)
            params = gx.apply_updates(params, updates)
            return (params, state), params

        (params, state), history = jax.lax.scan(body, (params, state), noise)
        return history, params, state

    return run(params, state, noise)


def _max_relative_error(actual, expected):
    """max over steps and leaves of |actual - expected|_inf / |expected|_inf (iterates cross 0)."""
    worst = 0.0
    for k in expected:
        a, e = np.asarray(actual[k], np.float64), np.asarray(expected[k], np.float64)
        a, e = a.reshape(len(e), -1), e.reshape(len(e), -1)
        worst = max(worst, float(np.max(np.max(np.abs(a - e), axis=1) / np.max(np.abs(e), axis=1))))
    return worst


def _floats(tree):
    return {k: float(v) for k, v in tree.items()}


# --- Reading: gx.hyperparams ------------------------------------------------------------------

ADAM_NAMES = {"learning_rate", "b1", "b2", "eps", "eps_root"}


def test_hyperparams_of_plain_aliases_by_their_argument_names():
    params = _params(jnp.float64)
    adam = gx.hyperparams(gx.adam(1e-3, b1=0.8, b2=0.99, eps=1e-7).init(params))
    assert _floats(adam) == {"learning_rate": 1e-3, "b1": 0.8, "b2": 0.99, "eps": 1e-7, "eps_root": 0.0}
    assert _floats(gx.hyperparams(gx.sgd(0.1, momentum=0.9).init(params))) == {"learning_rate": 0.1, "momentum": 0.9}
    assert _floats(gx.hyperparams(gx.sgd(0.1).init(params))) == {"learning_rate": 0.1}
    assert set(gx.hyperparams(gx.nadam(0.1).init(params))) == ADAM_NAMES
    assert set(gx.hyperparams(gx.amsgrad(0.1).init(params))) == ADAM_NAMES
    adamw = _floats(gx.hyperparams(gx.adamw(0.1, weight_decay=0.01).init(params)))
    assert set(adamw) == ADAM_NAMES | {"weight_decay"} and adamw["weight_decay"] == 0.01
    rmsprop = gx.hyperparams(gx.rmsprop(0.01, decay=0.95, eps=1e-6, momentum=0.5).init(params))
    assert _floats(rmsprop) == {"learning_rate": 0.01, "decay": 0.95, "eps": 1e-6, "momentum": 0.5}


def test_a_name_that_repeats_in_a_chain_is_qualified_by_its_primitive():
    optimizer = gx.chain(
        gx.scale_by_momentum(0.9),
        gx.mean_of_squares(0.99),
        gx.scale_by_learning_rate(0.1),
    )
    state = optimizer.init(_params(jnp.float64))
    assert _floats(gx.hyperparams(state)) == {
        "scale_by_momentum/decay": 0.9, "mean_of_squares/decay": 0.99, "learning_rate": 0.1,
    }
    state = gx.set_hyperparams(state, {"mean_of_squares/decay": 0.5})
    assert _floats(gx.hyperparams(state))["mean_of_squares/decay"] == 0.5
    assert _floats(gx.hyperparams(state))["scale_by_momentum/decay"] == 0.9
    # The same primitive twice: its place in the chain tells the two apart.
    twice = gx.chain(gx.mean_of_squares(0.9), gx.mean_of_squares(0.5)).init(_params(jnp.float64))
    names = gx.hyperparams(twice)
    assert len(names) == 2 and all(name.endswith("mean_of_squares/decay") for name in names)
    assert sorted(_floats(names).values()) == [0.5, 0.9]


WRAPPERS = [
    pytest.param(lambda opt: gx.masked(opt, {"w": True, "b": False}), id="masked"),
    pytest.param(lambda opt: gx.MultiSteps(opt, every_k_schedule=2), id="MultiSteps"),
    pytest.param(lambda opt: gx.apply_if_finite(opt, max_consecutive_errors=3), id="apply_if_finite"),
]


@pytest.mark.parametrize("wrap", WRAPPERS)
def test_hyperparams_reach_through_wrappers(wrap):
    optimizer = wrap(gx.adam(0.1, b1=0.8))
    state = optimizer.init(_params(jnp.float64))
    expected = {"learning_rate": 0.1, "b1": 0.8, "b2": 0.999, "eps": 1e-8, "eps_root": 0.0}
    assert _floats(gx.hyperparams(state)) == expected
    # Setting through the wrapper: a learning rate of 0 freezes what Adam updates ("w").
    frozen = gx.set_hyperparams(state, learning_rate=0.0)
    _, params, frozen = _run(optimizer, 4, jnp.float64, state=frozen)
    assert float(gx.hyperparams(frozen)["learning_rate"]) == 0.0
    np.testing.assert_array_equal(params["w"], _params(jnp.float64)["w"])
    _, moved, _ = _run(optimizer, 4, jnp.float64, state=state)
    assert not np.array_equal(moved["w"], _params(jnp.float64)["w"])


def test_hyperparams_and_set_hyperparams_work_under_jit():
    optimizer = gx.adam(0.1)
    state = optimizer.init(_params(jnp.float64))
    read = jax.jit(gx.hyperparams)(state)
    assert _floats(read) == _floats(gx.hyperparams(state))
    changed = jax.jit(lambda s, lr: gx.set_hyperparams(s, learning_rate=lr))(state, 0.5)
    assert jax.tree.structure(changed) == jax.tree.structure(state)
    assert float(gx.hyperparams(changed)["learning_rate"]) == 0.5


def test_set_hyperparams_with_an_unknown_name_lists_the_known_ones():
    state = gx.adam(0.1).init(_params(jnp.float64))
    message = r"no hyperparameter named \['lr'\].*'b1', 'b2', 'eps', 'eps_root', 'learning_rate'"
    with pytest.raises(ValueError, match=message):
        gx.set_hyperparams(state, lr=0.01)


# --- Setting: no recompilation, the same trajectory as the new constant ------------------------


def _stepper(optimizer, traces):
    """One jitted training step that records each time it is traced (compiled)."""

    @jax.jit
    def step(params, state, t):
        traces.append(1)  # runs only while tracing
        noise = {k: jnp.asarray(v, params[k].dtype)[t] for k, v in NOISE.items()}
        updates, state = optimizer.update(_grads(params, noise), state, params)
        return gx.apply_updates(params, updates), state

    return step


def test_set_learning_rate_changes_the_next_steps_without_recompiling():
    optimizer, traces = gx.adam(0.1), []
    step = _stepper(optimizer, traces)
    params, state = _params(jnp.float64), optimizer.init(_params(jnp.float64))
    for t in range(3):
        params, state = step(params, state, t)
    at_switch = params, state
    state = gx.set_hyperparams(state, learning_rate=0.01)
    after = []
    for t in range(3, 8):
        params, state = step(params, state, t)
        after.append(params)
    assert len(traces) == 1 and step._cache_size() == 1  # compiled once, for all 8 steps
    assert float(gx.hyperparams(state)["learning_rate"]) == 0.01

    rebuilt = _stepper(gx.adam(0.01), [])  # the new constant, continuing from the same state
    params, state = at_switch  # with the new optimizer's hyperparameters (the state's would win)
    state = state._replace(hyperparams=gx.adam(0.01).init(params).hyperparams)
    for t, expected in zip(range(3, 8), after):
        params, state = rebuilt(params, state, t)
        jax.tree.map(np.testing.assert_array_equal, params, expected)
    unchanged, _ = step(*at_switch, 3)  # the old learning rate
    assert not np.array_equal(unchanged["w"], after[0]["w"])


def test_none_hands_a_number_back_at_once_and_a_second_set_overrides_again():
    optimizer = gx.adam(0.1)
    params = _params(jnp.float64)
    state = gx.set_hyperparams(optimizer.init(params), learning_rate=0.01)
    _, params, state = _run(optimizer, 2, jnp.float64, params, state)
    released = gx.set_hyperparams(state, learning_rate=None)
    assert float(gx.hyperparams(released)["learning_rate"]) == 0.1  # before any further step
    again = gx.set_hyperparams(released, learning_rate=0.02)
    assert float(gx.hyperparams(again)["learning_rate"]) == 0.02
    history, _, _ = _run(optimizer, 3, jnp.float64, params, released, start=2)
    expected, _, _ = _run(optimizer, 3, jnp.float64, params,
                          gx.set_hyperparams(state, learning_rate=0.1), start=2)
    jax.tree.map(np.testing.assert_array_equal, history, expected)


def test_an_update_hands_back_a_bank_without_schedules_as_it_came():
    params = _params(jnp.float64)
    grads = _grads(params, {k: v[0] for k, v in NOISE.items()})
    state = gx.set_hyperparams(gx.adam(0.1).init(params), b1=0.8)
    _, new = gx.adam(0.1).update(grads, state, params)
    assert new.hyperparams.table is state.hyperparams.table  # nothing to rewrite
    _, scheduled = gx.adam(SCHEDULE).update(grads, gx.adam(SCHEDULE).init(params), params)
    assert float(gx.hyperparams(scheduled)["learning_rate"]) == pytest.approx(float(SCHEDULE(0)))


def test_a_primitive_on_its_own_owns_its_rows_and_an_update_hands_them_back():
    params = _params(jnp.float64)
    grads = _grads(params, {k: v[0] for k, v in NOISE.items()})
    primitive = gx.scale_by_learning_rate(0.1)  # not in a chain: the one link of its own
    state = primitive.init(params)
    assert isinstance(state, gx.ChainState) and state.links == (gx.EmptyState(),)
    # [given, set value, set?] in one buffer; no step, as the learning rate is not scheduled
    assert len(jax.tree.leaves(state)) == 1 and state.step is None
    _, new = primitive.update(grads, state, params)
    assert new.hyperparams.table is state.hyperparams.table
    pinned = gx.set_hyperparams(state, learning_rate=0.5)
    assert float(gx.hyperparams(pinned)["learning_rate"]) == 0.5
    np.testing.assert_array_equal(pinned.hyperparams.table, [[0.1, 0.5, 1.0]])


def test_set_b1_and_b2_act_as_building_adam_with_them():
    # b1 is shared by the momentum and its bias correction: setting it changes both, and the
    # derived 1 - b1 is computed in float64 exactly as a Python constant would be.
    _, params, state = _run(gx.adam(0.05), 5, jnp.float64)
    changed = gx.set_hyperparams(state, b1=0.95, b2=0.99)
    history, _, _ = _run(gx.adam(0.05), 20, jnp.float64, params, changed, start=5)
    rebuilt = gx.adam(0.05, b1=0.95, b2=0.99)  # with its own hyperparameters: the state's would win
    rebuilt_state = state._replace(hyperparams=rebuilt.init(params).hyperparams)
    expected, _, _ = _run(rebuilt, 20, jnp.float64, params, rebuilt_state, start=5)
    jax.tree.map(np.testing.assert_array_equal, history, expected)
    unchanged, _, _ = _run(gx.adam(0.05), 20, jnp.float64, params, state, start=5)
    assert not np.array_equal(unchanged["w"], history["w"])


# --- Schedules: pinned by a set value, released by None, swapped by rebuilding --------------------

SCHEDULE = gx.linear_schedule(0.1, 0.01, 10)


def test_setting_a_scheduled_value_pins_it_and_none_returns_it_to_the_schedule():
    optimizer = gx.adam(SCHEDULE)
    _, params, state = _run(optimizer, 3, jnp.float64)
    pinned = gx.set_hyperparams(state, learning_rate=0.05)
    history_pinned, params, state = _run(optimizer, 4, jnp.float64, params, pinned, start=3)
    assert float(gx.hyperparams(state)["learning_rate"]) == 0.05  # not SCHEDULE(6)
    released = gx.set_hyperparams(state, learning_rate=None)
    history_released, _, state = _run(optimizer, 3, jnp.float64, params, released, start=7)
    # the schedule as the jitted update evaluates it (XLA may fuse its multiply-add: one rounding)
    assert float(gx.hyperparams(state)["learning_rate"]) == float(jax.jit(SCHEDULE)(9))

    # The same run with the pin written into the schedule: steps 3..6 at 0.05, the schedule elsewhere.
    def piecewise(step):
        return jnp.where((step >= 3) & (step < 7), 0.05, SCHEDULE(step))

    expected, _, _ = _run(gx.adam(piecewise), 10, jnp.float64)
    got = {k: np.concatenate([history_pinned[k], history_released[k]]) for k in expected}
    jax.tree.map(lambda g, e: np.testing.assert_array_equal(g, e[3:]), got, expected)


def test_switching_schedules_by_rebuilding_keeps_the_state():
    other = gx.exponential_decay(0.2, 1, 0.5)
    first, second = gx.adam(SCHEDULE), gx.adam(other)
    params = _params(jnp.float64)
    assert jax.tree.structure(first.init(params)) == jax.tree.structure(second.init(params))
    history_first, params, state = _run(first, 5, jnp.float64)
    history_second, _, state = _run(second, 5, jnp.float64, params, state, start=5)
    assert float(gx.hyperparams(state)["learning_rate"]) == pytest.approx(float(other(9)), rel=1e-15)

    def switched(step):  # the step counter and the moments carry on; only the schedule changes
        return jnp.where(step < 5, SCHEDULE(step), other(step))

    expected, _, _ = _run(gx.adam(switched), 10, jnp.float64)
    got = {k: np.concatenate([history_first[k], history_second[k]]) for k in expected}
    jax.tree.map(np.testing.assert_array_equal, got, expected)


# --- vmap over hyperparameters ------------------------------------------------------------------


def _vmapped_and_separate(build, learning_rates, steps):
    """Final params of one vmapped run over ``learning_rates`` and of one run per rate (float32)."""
    optimizer = build(0.1)

    def train(learning_rate):
        state = gx.set_hyperparams(optimizer.init(_params(jnp.float32)), learning_rate=learning_rate)
        return _run(optimizer, steps, jnp.float32, state=state)[1]

    batched = jax.jit(jax.vmap(train))(learning_rates)
    separate = [_run(build(float(lr)), steps, jnp.float32)[1] for lr in learning_rates]
    return batched, separate


LEARNING_RATES = [0.3, 0.1, 0.03, 0.01]


def test_vmap_over_learning_rates_trains_each_model_as_a_separate_run_would():
    with jax.enable_x64(False):
        rates = jnp.asarray(LEARNING_RATES, jnp.float32)
        batched, separate = _vmapped_and_separate(lambda lr: gx.sgd(lr, momentum=0.9), rates, 100)
        for i, alone in enumerate(separate):
            assert alone["w"].dtype == batched["w"].dtype == jnp.float32
            jax.tree.map(np.testing.assert_array_equal, {k: v[i] for k, v in batched.items()}, alone)
        assert len({float(batched["b"][i]) for i in range(4)}) == 4  # four different models


def test_vmap_over_adam_learning_rates_matches_separate_runs_to_float32_rounding():
    # Exact but for XLA's CPU backend, which fuses the batched program differently and so
    # contracts different a * b + c into FMAs (with --xla_cpu_max_isa=SSE4_2 it is bit-exact).
    with jax.enable_x64(False):
        rates = jnp.asarray(LEARNING_RATES, jnp.float32)
        batched, separate = _vmapped_and_separate(gx.adam, rates, 100)
        for i, alone in enumerate(separate):
            row = {k: v[i][None] for k, v in batched.items()}
            assert _max_relative_error(row, {k: v[None] for k, v in alone.items()}) <= 1e-6
        assert len({float(batched["b"][i]) for i in range(4)}) == 4


# --- Storage dtype ------------------------------------------------------------------------------


def test_hyperparameters_are_float32_without_x64_and_float64_with_it():
    with jax.enable_x64(False):
        for dtype in (jnp.float32, jnp.bfloat16):
            state = gx.adam(1e-3).init(_params(dtype))
            assert {v.dtype for v in gx.hyperparams(state).values()} == {jnp.dtype(jnp.float32)}
    # Under x64 (as the test suite runs) the default float is float64, and so is the storage.
    state = gx.adam(1e-3).init(_params(jnp.float32))
    assert {v.dtype for v in gx.hyperparams(state).values()} == {jnp.dtype(jnp.float64)}


def test_bfloat16_params_keep_b2_at_0_999_not_1():
    with jax.enable_x64(False):
        assert float(jnp.asarray(0.999, jnp.bfloat16)) == 1.0  # what bfloat16 storage would do
        optimizer = gx.adam(1e-3, b2=0.999)
        params = _params(jnp.bfloat16)
        state = optimizer.init(params)
        assert float(gx.hyperparams(state)["b2"]) == float(np.float32(0.999))
        grads = {"w": jnp.full((3, 2), 2.0, jnp.bfloat16), "b": jnp.asarray(2.0, jnp.bfloat16)}
        _, state = optimizer.update(grads, state, params)
        nu = state[0].denominator[0].nu  # mean_of_squares: (1 - b2) g^2, not 0
        np.testing.assert_allclose(np.asarray(nu["w"], np.float32), 0.004, rtol=1e-2)


# --- Same numbers as Optax with constant hyperparameters ------------------------------------------

# A learning rate of 1e-3 keeps this problem's dynamics from amplifying rounding: XLA's CPU backend
# contracts a * b + c into one FMA where its fusion allows, and two programs with the same
# arithmetic can be fused differently (gradxform's recipes and Optax's fused kernels are).
SAME_AS_OPTAX = [
    pytest.param(lambda: gx.adam(1e-3), lambda: optax.adam(1e-3), id="adam"),
    pytest.param(lambda: gx.sgd(1e-2, momentum=0.9), lambda: optax.sgd(1e-2, momentum=0.9), id="sgd_momentum"),
    pytest.param(lambda: gx.rmsprop(1e-3), lambda: optax.rmsprop(1e-3), id="rmsprop"),
    pytest.param(lambda: gx.adamw(1e-3, weight_decay=0.05), lambda: optax.adamw(1e-3, weight_decay=0.05), id="adamw"),
    pytest.param(lambda: gx.nadam(1e-3), lambda: optax.nadam(1e-3), id="nadam"),
    pytest.param(lambda: gx.amsgrad(1e-3), lambda: optax.amsgrad(1e-3), id="amsgrad"),
]


def _optax_run(optimizer, steps, dtype):
    with jax.numpy_dtype_promotion("standard"):  # Optax mixes int and float
        return _run(optimizer, steps, dtype)[0]


@pytest.mark.parametrize("ours, theirs", SAME_AS_OPTAX)
def test_constant_hyperparameters_give_optax_results_over_1000_steps(ours, theirs):
    with jax.enable_x64(False):
        got, expected = _run(ours(), STEPS, jnp.float32)[0], _optax_run(theirs(), STEPS, jnp.float32)
        assert got["w"].dtype == expected["w"].dtype == jnp.float32
        assert _max_relative_error(got, expected) <= 1e-6
    got, expected = _run(ours(), STEPS, jnp.float64)[0], _optax_run(theirs(), STEPS, jnp.float64)
    assert got["w"].dtype == expected["w"].dtype == jnp.float64
    assert _max_relative_error(got, expected) <= 1e-12


def test_optax_inject_hyperparams_does_not_keep_adams_float32_results():
    # Optax issue #583: inject_hyperparams stores b1, b2 as float32 arrays and computes 1 - b1
    # from them, so its trajectory drifts from optax.adam's; gradxform's state does not.
    with jax.enable_x64(False):
        plain = _optax_run(optax.adam(1e-3), STEPS, jnp.float32)
        injected = _optax_run(optax.inject_hyperparams(optax.adam)(learning_rate=1e-3), STEPS, jnp.float32)
        ours = _run(gx.adam(1e-3), STEPS, jnp.float32)[0]
    assert _max_relative_error(injected, plain) > 0
    assert _max_relative_error(ours, plain) < _max_relative_error(injected, plain)
