"""SWATS's switch from Adam to SGD: when it happens, the rate it picks, and what follows."""
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference
from problems import PROBLEMS, ill_conditioned_quadratic, rosenbrock

import gradxform as gx

# The registry's "swats" entry: switches on both problems within 100 steps.
ARGS = dict(learning_rate=1e-3, b1=0.5, b2=0.99, eps=1e-7)


def _run(optimizer, problem, steps, jit=True):
    """Parameters, updates and states after each step, from the problem's start."""
    params = {k: jnp.asarray(v) for k, v in problem.init.items()}
    state = optimizer.init(params)
    update = jax.jit(optimizer.update) if jit else optimizer.update
    history = []
    for _ in range(steps):
        grads = problem.grad({k: np.asarray(v) for k, v in params.items()})
        grads = {k: jnp.asarray(v) for k, v in grads.items()}
        updates, state = update(grads, state, params)
        history.append((params, grads, updates, state))
        params = gx.apply_updates(params, updates)
    return history


def _reference_switch(problem, steps):
    ref = reference.make_swats(**ARGS)
    params = {k: np.array(v) for k, v in problem.init.items()}
    state = ref.init(params)
    for _ in range(steps):
        updates, state = ref.update(problem.grad(params), state, params)
        params = {k: params[k] + updates[k] for k in params}
    return state


def _switch_state(state) -> gx.SwitchToSgdState:
    return state[0]


@pytest.mark.parametrize(
    "problem, expected_step", [(ill_conditioned_quadratic(), 7), (rosenbrock(), 2)], ids=lambda x: getattr(x, "name", x)
)
def test_switches_at_the_step_and_to_the_rate_of_the_papers_algorithm(problem, expected_step):
    history = _run(gx.swats(**ARGS), problem, 30)
    switched = [bool(_switch_state(state).switched) for *_, state in history]
    assert switched.index(True) + 1 == expected_step  # the step after which SGD takes over
    assert all(switched[expected_step - 1:])
    expected = _reference_switch(problem, 30)
    assert expected["switched_at"] == expected_step
    # Only the placement of eps in Adam's denominator differs from the paper (see swats's docstring).
    np.testing.assert_allclose(_switch_state(history[-1][3]).learning_rate, expected["Lambda"], rtol=1e-5)


def test_after_the_switch_it_is_sgd_with_momentum_at_the_estimated_rate():
    b1 = ARGS["b1"]
    history = _run(gx.swats(**ARGS), ill_conditioned_quadratic(), 30)
    first_sgd_step = next(i for i, (*_, s) in enumerate(history) if _switch_state(s).switched) + 1
    rate = float(_switch_state(history[first_sgd_step][3]).learning_rate)
    assert rate > 0
    velocity = {k: np.zeros_like(np.asarray(v)) for k, v in history[0][1].items()}
    for _, grads, updates, state in history[first_sgd_step:]:
        assert float(_switch_state(state).learning_rate) == rate  # fixed once switched
        for k, g in grads.items():
            velocity[k] = b1 * velocity[k] + np.asarray(g)
            np.testing.assert_allclose(updates[k], -(1 - b1) * rate * velocity[k], rtol=1e-13)


def test_before_the_switch_it_is_exactly_adam():
    problem = ill_conditioned_quadratic()
    # Eager, op by op: under jit XLA may fuse the two graphs differently, moving the last bit.
    swats = _run(gx.swats(**ARGS), problem, 7, jit=False)  # switches after step 7
    adam = gx.adam(ARGS["learning_rate"], b1=ARGS["b1"], b2=ARGS["b2"], eps=ARGS["eps"])
    adam = _run(adam, problem, 7, jit=False)
    for (_, _, ours, _), (_, _, theirs, _) in zip(swats, adam):
        for k in theirs:
            np.testing.assert_array_equal(ours[k], theirs[k])


def test_the_papers_defaults_stay_with_adam_on_these_problems():
    for problem in PROBLEMS:
        *_, state = _run(gx.swats(1e-3), problem, 100)[-1]
        assert not bool(_switch_state(state).switched)
        assert float(_switch_state(state).learning_rate) == 0.0


def test_never_switches_on_the_first_step():
    # At k = 1 the bias-corrected average equals gamma_1 exactly, so only k > 1 prevents a switch.
    opt = gx.swats(0.1, eps=1.0)
    state = opt.init(jnp.zeros(2))
    _, state = opt.update(jnp.array([0.5, -2.0]), state)
    assert not bool(_switch_state(state).switched)
    _, state = opt.update(jnp.array([0.5, -2.0]), state)
    assert bool(_switch_state(state).switched)


def test_eps_zero_is_refused_and_a_tiny_eps_switches_later_than_the_default():
    # eps is Adam's too: 0 would divide 0 by 0 for an entry whose gradients were all 0.
    with pytest.raises(ValueError, match=r"^swats: eps must be a finite number > 0, got eps=0\.0"):
        gx.swats(1e-3, eps=0.0)
    *_, state = _run(gx.swats(1e-3, b2=0.5, eps=1e-30), rosenbrock(), 20)[-1]
    assert not bool(_switch_state(state).switched)  # |lambda_k - gamma_k| < 1e-30: not in 20 steps


def test_a_zero_gradient_leaves_the_estimate_unchanged_and_finite():
    opt = gx.swats(0.1, eps=1e-3)
    state = opt.init(jnp.zeros(2))
    _, state = opt.update(jnp.array([0.5, -0.5]), state)
    before = _switch_state(state).rate_average
    updates, state = opt.update(jnp.zeros(2), state)  # Adam still moves, but p . g = 0
    assert float(_switch_state(state).rate_average) == float(before)
    assert np.all(np.isfinite(updates)) and not bool(_switch_state(state).switched)


def test_state_is_a_pytree_of_arrays_with_readable_phase_and_rates():
    opt = gx.swats(1e-3)
    state = opt.init({"w": jnp.zeros((2, 3), jnp.float32)})
    switch = _switch_state(state)
    assert isinstance(switch, gx.SwitchToSgdState)
    assert switch.switched.dtype == jnp.bool_ and switch.switched.shape == ()
    assert switch.rate_average.shape == () and switch.learning_rate.shape == ()
    assert all(isinstance(leaf, jax.Array) for leaf in jax.tree.leaves(state))


def test_each_branch_state_advances_only_in_its_own_phase():
    history = _run(gx.swats(**ARGS), rosenbrock(), 5)  # switches after step 2
    sgd_momentum = [_switch_state(s).sgd[0].mu["xy"] for *_, s in history]
    adam_momentum = [_switch_state(s).adaptive[0].numerator[0].mu["xy"] for *_, s in history]
    np.testing.assert_array_equal(sgd_momentum[1], [0.0, 0.0])  # held at zero until switched
    assert np.all(sgd_momentum[2] != 0)  # v_3 = g_3: the first SGD step
    np.testing.assert_array_equal(adam_momentum[2], adam_momentum[1])  # frozen from step 3 on
    np.testing.assert_array_equal(adam_momentum[4], adam_momentum[1])


def test_jitted_updates_match_eager_ones_through_the_switch_with_one_trace():
    problem = rosenbrock()  # switches after step 2
    opt = gx.swats(**ARGS)
    eager = _run(opt, problem, 5, jit=False)
    traces = []

    def update(*args):
        traces.append(None)
        return opt.update(*args)

    jitted = _run(gx.GradientTransformation(opt.init, update), problem, 5)
    assert len(traces) == 1
    for (_, _, ours, _), (_, _, expected, _) in zip(jitted, eager):
        # The rate estimate is float32 by design; XLA may contract its arithmetic (FMA) differently
        # in the compiled program: one float32 rounding, amplified by nothing after the switch.
        np.testing.assert_allclose(ours["xy"], expected["xy"], rtol=1e-6)


def test_switch_to_sgd_composes_any_two_branches():
    # Plain SGD switching to itself: gamma_k is the learning rate, so the estimate is exact.
    opt = gx.chain(gx.switch_to_sgd(gx.scale_by_learning_rate(0.25), gx.scale(-1.0), decay=0.9, eps=1e-12))
    state = opt.init(jnp.zeros(3))
    for g in ([1.0, 2.0, 3.0], [-1.0, 0.5, 0.0], [2.0, 2.0, 2.0]):
        updates, state = opt.update(jnp.array(g), state)
        np.testing.assert_allclose(updates, -0.25 * np.array(g), rtol=1e-15)
    assert bool(state[0].switched)
    np.testing.assert_allclose(state[0].learning_rate, 0.25, rtol=1e-15)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"decay": 1.0}, "switch_to_sgd: decay must be in [0, 1), got decay=1.0."),
        ({"eps": -1e-9}, "switch_to_sgd: eps must be a finite number >= 0, got eps=-1e-09."),
    ],
)
def test_switch_to_sgd_rejects_out_of_range_arguments(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        gx.switch_to_sgd(gx.identity(), gx.identity(), **kwargs)


def test_switch_to_sgd_rejects_a_branch_that_is_not_a_transformation():
    with pytest.raises(TypeError, match="switch_to_sgd: expected a GradientTransformation"):
        gx.switch_to_sgd(gx.identity(), 0.1)


# --------------------------------------------------------------------------------------------
# Hyperparameters in the state: read, set, scheduled
# --------------------------------------------------------------------------------------------


def _switch(decay=0.99, eps=1e-7):
    """Adam switching to heavy-ball SGD, built by hand with plain numbers (SWATS's recipe)."""
    return gx.chain(
        gx.switch_to_sgd(
            gx.adam(ARGS["learning_rate"], b1=ARGS["b1"], b2=ARGS["b2"], eps=ARGS["eps"]),
            [gx.scale_by_momentum(ARGS["b1"]), gx.scale_by_learning_rate(1 - ARGS["b1"])],
            decay=decay, eps=eps,
        )
    )


def _trajectory(opt, problem, steps, state=None):
    """Updates and switch states from ``state`` (default: init) at the problem's start, eagerly."""
    params = {k: jnp.asarray(v) for k, v in problem.init.items()}
    state = opt.init(params) if state is None else state
    out = []
    for _ in range(steps):
        grads = {k: jnp.asarray(v) for k, v in problem.grad({k: np.asarray(v) for k, v in params.items()}).items()}
        updates, state = opt.update(grads, state, params)
        out.append((updates, _switch_state(state)))
        params = gx.apply_updates(params, updates)
    return out, state, params


def _assert_same_runs(actual, expected):
    for (u, s), (u_expected, s_expected) in zip(actual, expected):
        np.testing.assert_array_equal(u["xy"], u_expected["xy"])
        for field in ("switched", "rate_average", "learning_rate"):
            np.testing.assert_array_equal(getattr(s, field), getattr(s_expected, field))


def test_decay_and_eps_are_read_from_the_state_by_name():
    opt = gx.chain(gx.switch_to_sgd(gx.scale_by_learning_rate(0.25), gx.identity(), decay=0.9, eps=1e-3))
    state = opt.init(jnp.zeros(2))
    _, state = opt.update(jnp.ones(2), state)
    values = {k: float(v) for k, v in gx.hyperparams(state).items()}
    assert values == {"learning_rate": 0.25, "decay": 0.9, "eps": 1e-3}
    assert set(state.hyperparams.names) == {"learning_rate", "decay", "eps"}  # stored by the chain


@pytest.mark.parametrize("name, other", [("decay", 0.5), ("eps", 0.0)])
def test_setting_decay_or_eps_switches_as_building_with_it_would(name, other):
    problem = rosenbrock()  # switches after step 2 with the defaults of _switch; never with eps=0
    rebuilt, *_ = _trajectory(_switch(**{name: other}), problem, 8)
    original, *_ = _trajectory(_switch(), problem, 8)
    assert not all(np.array_equal(a["xy"], b["xy"]) for (a, _), (b, _) in zip(rebuilt, original))
    opt = _switch()
    start = opt.init({k: jnp.asarray(v) for k, v in problem.init.items()})
    start = gx.set_hyperparams(start, {f"switch_to_sgd/{name}": other})
    ours, state, _ = _trajectory(opt, problem, 8, start)
    _assert_same_runs(ours, rebuilt)
    assert float(gx.hyperparams(state)[f"switch_to_sgd/{name}"]) == other
    if name == "eps":
        assert not any(bool(s.switched) for _, s in ours)


@pytest.mark.parametrize("name, value, other, at", [("decay", 0.99, 0.5, 1), ("eps", 0.0, 1e-7, 3)])
def test_decay_or_eps_may_follow_a_schedule_of_the_step(name, value, other, at):
    # A schedule changing at step `at` equals building with the first value and setting the
    # second after `at` updates. Rosenbrock switches after step 2 with eps=1e-7: a decay changed
    # before then moves the rate it switches to; eps = 0 until step 3 delays the switch to step 4.
    problem = rosenbrock()
    schedule = lambda step: jnp.where(step < at, value, other)
    scheduled, state, _ = _trajectory(_switch(**{name: schedule}), problem, 8)
    constant, *_ = _trajectory(_switch(**{name: value}), problem, 8)
    assert not all(np.array_equal(a["xy"], b["xy"]) for (a, _), (b, _) in zip(scheduled, constant))
    head, mid_state, mid_params = _trajectory(_switch(**{name: value}), problem, at)
    changed = gx.set_hyperparams(mid_state, {f"switch_to_sgd/{name}": other})
    tail = []
    for _ in range(8 - at):
        grads = {k: jnp.asarray(v) for k, v in problem.grad({k: np.asarray(v) for k, v in mid_params.items()}).items()}
        updates, changed = _switch(**{name: value}).update(grads, changed, mid_params)
        tail.append((updates, _switch_state(changed)))
        mid_params = gx.apply_updates(mid_params, updates)
    _assert_same_runs(scheduled, head + tail)
    assert float(gx.hyperparams(state)[f"switch_to_sgd/{name}"]) == other
    if name == "eps":
        assert [bool(s.switched) for _, s in scheduled].index(True) + 1 == 4
