"""The Adam family (in gradxform/aliases.py) and the primitives it added.

Trajectory comparisons with Optax and the papers are in the registry (test_aliases.py); here
are the properties that tie the recipes together and the errors they raise.
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from harness import trajectory
from problems import PROBLEMS

import gradxform as gx

QUADRATIC = PROBLEMS[0]


def _states_of(state, state_type):
    """Every sub-state of ``state_type`` inside a (nested) optimizer state, in order."""
    nodes = jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, state_type))
    return [node for node in nodes if isinstance(node, state_type)]


def _run(opt, grads, params=None):
    """The updates and the states after each gradient in ``grads`` (dicts of arrays)."""
    params = params if params is not None else jax.tree.map(jnp.zeros_like, grads[0])
    state = opt.init(params)
    updates_seen, states = [], []
    for g in grads:
        updates, state = opt.update(g, state, params)
        updates_seen.append(updates)
        states.append(state)
    return updates_seen, states


def _random_grads(n, seed=0, scale_by_step=None):
    rng = np.random.default_rng(seed)
    grads = []
    for i in range(n):
        s = 1.0 if scale_by_step is None else scale_by_step(i)
        grads.append({"w": jnp.asarray(s * rng.normal(size=(3, 2))), "b": jnp.asarray(s * rng.normal())})
    return grads


def _assert_trajectories_equal(a, b):
    for step_a, step_b in zip(a, b):
        for key in step_a:
            np.testing.assert_array_equal(step_a[key], step_b[key])


def _largest_difference(a, b):
    return max(np.max(np.abs(x[k] - y[k])) for x, y in zip(a, b) for k in x)


# --- AMSGrad --------------------------------------------------------------------------------


@pytest.mark.parametrize("max_before_bias_correction", [False, True])
def test_amsgrad_running_max_never_decreases_even_as_gradients_shrink(max_before_bias_correction):
    grads = _random_grads(40, scale_by_step=lambda i: 10.0 * 0.8**i)
    opt = gx.amsgrad(1e-2, b2=0.9, max_before_bias_correction=max_before_bias_correction)
    _, states = _run(opt, grads)
    maxima = [_states_of(s, gx.AmsgradMaxState)[0].nu_max for s in states]
    for before, after in zip(maxima, maxima[1:]):
        for key in before:
            assert np.all(np.asarray(after[key]) >= np.asarray(before[key]))
    # and it binds: by the end, what it maximizes (v_t, bias-corrected or not) is below the maximum
    v = np.asarray(_states_of(states[-1], gx.MeanOfSquaresState)[0].nu["w"])
    maximized = v if max_before_bias_correction else v / (1 - 0.9 ** len(grads))
    assert np.all(maximized < 0.5 * np.asarray(maxima[-1]["w"]))


def test_amsgrad_max_before_and_after_bias_correction_are_different_optimizers():
    optax_order = trajectory(gx.amsgrad(1e-2, b2=0.99), QUADRATIC, 50)
    pytorch_order = trajectory(gx.amsgrad(1e-2, b2=0.99, max_before_bias_correction=True), QUADRATIC, 50)
    assert _largest_difference(optax_order, pytorch_order) > 1e-3


def test_amsgrad_order_does_not_matter_without_second_moment_bias_correction():
    kwargs = dict(bias_correction_mu=False, bias_correction_nu=False)
    a = trajectory(gx.amsgrad(1e-2, **kwargs), QUADRATIC, 30)
    b = trajectory(gx.amsgrad(1e-2, **kwargs, max_before_bias_correction=True), QUADRATIC, 30)
    _assert_trajectories_equal(a, b)


# --- QHAdam ---------------------------------------------------------------------------------


def test_qhadam_with_both_nus_one_is_adam_exactly():
    qh = trajectory(gx.qhadam(1e-2, b1=0.9, b2=0.99, nu1=1.0, nu2=1.0, eps=1e-6), QUADRATIC, 50)
    adam = trajectory(gx.adam(1e-2, b1=0.9, b2=0.99, eps=1e-6), QUADRATIC, 50)
    _assert_trajectories_equal(qh, adam)


def test_qhadam_with_both_nus_zero_steps_by_the_normalized_gradient():
    grads = _random_grads(5)
    updates, _ = _run(gx.qhadam(0.1, nu1=0.0, nu2=0.0, eps=1e-8), grads)
    for g, u in zip(grads, updates):
        for key in g:
            expected = -0.1 * np.asarray(g[key]) / (np.abs(np.asarray(g[key])) + 1e-8)
            np.testing.assert_allclose(np.asarray(u[key]), expected, rtol=1e-15)


def test_qhadam_defaults_are_the_papers_recommendation():
    default = trajectory(gx.qhadam(1e-2), QUADRATIC, 20)
    explicit = trajectory(gx.qhadam(1e-2, b1=0.995, b2=0.999, nu1=0.7, nu2=1.0, eps=1e-8), QUADRATIC, 20)
    _assert_trajectories_equal(default, explicit)


# --- Nadam ----------------------------------------------------------------------------------


def test_nadam_with_a_momentum_schedule_differs_from_constant_momentum():
    constant = trajectory(gx.nadam(1e-2), QUADRATIC, 50)
    scheduled = trajectory(gx.nadam(1e-2, momentum_decay=4e-3), QUADRATIC, 50)
    assert _largest_difference(constant, scheduled) > 1e-3


def test_nadam_schedule_state_holds_the_product_of_dozats_momenta():
    b1, psi = 0.9, 0.3
    _, states = _run(gx.nadam(1e-2, b1=b1, momentum_decay=psi), _random_grads(4))
    mu = [b1 * (1 - 0.5 * 0.96 ** (t * psi)) for t in range(1, 5)]
    products = [s.product for s in _states_of(states[-1], gx.DozatBiasCorrectionState)]
    assert len(products) == 2  # the look-ahead term and the gradient term each keep one
    for product in products:
        np.testing.assert_allclose(float(product), np.prod(mu), rtol=1e-15)


@pytest.mark.slow
def test_adam_family_nesterov_flags_build_the_nadam_recipes():
    _assert_trajectories_equal(
        trajectory(gx.adamw(1e-2, weight_decay=0.1, nesterov=True), QUADRATIC, 30),
        trajectory(gx.nadamw(1e-2, weight_decay=0.1), QUADRATIC, 30),
    )
    with_lr = gx.chain(gx.scale_by_adam(nesterov=True), gx.scale_by_learning_rate(1e-2))
    _assert_trajectories_equal(
        trajectory(with_lr, QUADRATIC, 30), trajectory(gx.nadam(1e-2), QUADRATIC, 30)
    )


# --- scale_by_adam and scale_by_amsgrad inside Optax ----------------------------------------


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (
            lambda: gx.scale_by_adam(b1=0.8, eps_root=1e-8),
            lambda: optax.scale_by_adam(b1=0.8, eps_root=1e-8),
        ),
        (lambda: gx.scale_by_adam(nesterov=True), lambda: optax.scale_by_adam(nesterov=True)),
        (lambda: gx.scale_by_amsgrad(b2=0.99), lambda: optax.scale_by_amsgrad(b2=0.99)),
    ],
    ids=["scale_by_adam", "scale_by_adam_nesterov", "scale_by_amsgrad"],
)
def test_named_compositions_count_their_own_steps_inside_optax_chain(ours, theirs):
    with jax.numpy_dtype_promotion("standard"):  # Optax mixes int and float
        expected = trajectory(optax.chain(theirs(), optax.scale(-1e-2)), QUADRATIC, 30)
        actual = trajectory(optax.chain(ours(), optax.scale(-1e-2)), QUADRATIC, 30)
    _assert_trajectories_equal(actual, expected)


# --- RAdam ----------------------------------------------------------------------------------


def test_variance_is_tractable_from_the_sixth_step_for_b2_0999_and_threshold_5():
    tractable = gx.variance_is_tractable(0.999, 5.0)
    assert [bool(tractable(jnp.int32(step))) for step in range(8)] == [False] * 5 + [True] * 3


def test_radam_takes_plain_momentum_steps_until_the_variance_is_tractable():
    lr, b1 = 1e-2, 0.9
    grads = _random_grads(7)
    updates, _ = _run(gx.radam(lr, b1=b1), grads)
    m = {k: np.zeros_like(np.asarray(v)) for k, v in grads[0].items()}
    for t, (g, u) in enumerate(zip(grads, updates), start=1):
        m = {k: b1 * m[k] + (1 - b1) * np.asarray(g[k]) for k in m}
        momentum_step = {k: -lr * m[k] / (1 - b1**t) for k in m}
        if t <= 5:  # rho_t < 5
            for k in m:
                np.testing.assert_allclose(np.asarray(u[k]), momentum_step[k], rtol=1e-14)
        else:
            assert not np.allclose(np.asarray(u["w"]), momentum_step["w"])


def test_scale_by_rectification_matches_liu_et_al():
    b2, step = 0.99, 9  # t = 10
    t = step + 1
    rho_inf = 2 / (1 - b2) - 1
    rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
    r = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
    rectify = gx.scale_by_rectification(b2)
    state = rectify.init({})._replace(step=jnp.int32(step))  # on its own, it counts its own steps
    out, _ = rectify.update({"w": jnp.ones(2)}, state)
    np.testing.assert_allclose(np.asarray(out["w"]), [r, r], rtol=1e-14)


def test_ones_replaces_updates_keeping_dtype_and_none_leaves():
    updates = {"a": jnp.zeros(3, jnp.bfloat16), "b": None}
    out, _ = gx.ones().update(updates, gx.EmptyState())
    assert out["b"] is None and out["a"].dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(out["a"], np.float32), np.ones(3))


# --- AdaMax's infinity moment ---------------------------------------------------------------


def test_infinity_moment_decays_geometrically_once_gradients_vanish():
    opt = gx.chain(gx.infinity_moment(decay=0.5, eps=0.0))
    params = {"w": jnp.zeros(2)}
    state = opt.init(params)
    nu, state = opt.update({"w": jnp.array([4.0, -2.0])}, state)
    np.testing.assert_array_equal(np.asarray(nu["w"]), [4.0, 2.0])
    for expected in ([2.0, 1.0], [1.0, 0.5]):
        nu, state = opt.update({"w": jnp.zeros(2)}, state)
        np.testing.assert_array_equal(np.asarray(nu["w"]), expected)
    nu, state = opt.update({"w": jnp.array([0.1, 3.0])}, state)
    np.testing.assert_array_equal(np.asarray(nu["w"]), [0.5, 3.0])


def test_infinity_moment_of_complex_updates_is_their_modulus():
    opt = gx.chain(gx.infinity_moment(eps=0.0))
    params = {"w": jnp.zeros(1, jnp.complex128)}
    nu, _ = opt.update({"w": jnp.array([3.0 + 4.0j])}, opt.init(params))
    assert nu["w"].dtype == jnp.complex128
    np.testing.assert_array_equal(np.asarray(nu["w"]), [5.0 + 0.0j])


# --- scale_by_schedule and scheduled_bias_correction ----------------------------------------


@pytest.mark.parametrize("step_offset", [0, 1, 3])
def test_scale_by_schedule_reads_the_schedule_at_step_plus_offset(step_offset):
    schedule = lambda step: 1.0 + jnp.asarray(step, float)  # noqa: E731
    opt = gx.chain(gx.scale_by_schedule(schedule, step_offset=step_offset))
    state = opt.init({"w": jnp.zeros(())})
    for step in range(4):
        out, state = opt.update({"w": jnp.array(2.0)}, state)
        assert float(out["w"]) == 2.0 * (1 + step + step_offset)


@pytest.mark.parametrize("step_offset", [0, 1])
def test_scheduled_bias_correction_with_a_constant_schedule_is_bias_correction(step_offset):
    scheduled = gx.chain(gx.scheduled_bias_correction(lambda step: 0.9, step_offset=step_offset))
    constant = gx.chain(gx.bias_correction(0.9, step_offset=step_offset))
    grads = _random_grads(30)
    for a, b in zip(_run(scheduled, grads)[0], _run(constant, grads)[0]):
        for key in a:
            np.testing.assert_allclose(np.asarray(a[key]), np.asarray(b[key]), rtol=1e-13)


# --- Errors ---------------------------------------------------------------------------------


BAD_ARGUMENTS = [
    (lambda: gx.qhadam(1e-2, nu1=1.5), ValueError, r"qhadam: nu1 must be in \[0, 1\], got nu1=1.5"),
    (lambda: gx.qhadam(1e-2, nu2=-0.1), ValueError, r"qhadam: nu2 must be in \[0, 1\]"),
    (
        lambda: gx.nadam(1e-2, momentum_decay=-1.0),
        ValueError, r"nadam: momentum_decay must be a finite number >= 0",
    ),
    (
        lambda: gx.nadam(1e-2, momentum_decay="fast"),
        TypeError, r"nadam: momentum_decay must be a number",
    ),
    (
        lambda: gx.radam(1e-2, threshold=3.0),
        ValueError,
        r"variance_is_tractable: threshold must be a finite number >= 4, got threshold=3.0\. The rectif",
    ),
    (
        lambda: gx.radam(1e-2, b2=1.0),
        ValueError, r"variance_is_tractable: b2 must be in \[0, 1\), got b2=1.0\. With 1",
    ),
    (lambda: gx.adamax(1e-2, b2=1.0), ValueError, r"infinity_moment: b2 must be in \[0, 1\)"),
    (
        lambda: gx.infinity_moment(eps=-1e-8),
        ValueError, r"infinity_moment: eps must be a finite number >= 0",
    ),
    (
        lambda: gx.infinity_moment(decay=1.0),
        ValueError, r"infinity_moment: decay must be in \[0, 1\), got decay=1.0",
    ),
    (
        lambda: gx.adamax(1e-2, eps=-1e-8),
        ValueError, r"infinity_moment: eps must be a finite number >= 0",
    ),
    (
        lambda: gx.adamw(1e-2, weight_decay=-1.0),
        ValueError, r"weight_decay: weight_decay must be a finite number >= 0",
    ),
    (
        lambda: gx.scale_by_schedule(0.5),
        TypeError, r"scale_by_schedule: step_size_fn must be a function, got float 0.5",
    ),
    (
        lambda: gx.scale_by_schedule(abs, step_offset=-1),
        ValueError, r"scale_by_schedule: step_offset must be an int >= 0, got step_offset=-1",
    ),
    (
        lambda: gx.scale_by_schedule(abs, step_offset=1.0),
        TypeError, r"scale_by_schedule: step_offset must be an int, got float 1.0",
    ),
    (
        lambda: gx.scheduled_bias_correction(abs, step_offset=True),
        TypeError, r"scheduled_bias_correction: step_offset must be an int, got bool True",
    ),
    (
        lambda: gx.scheduled_bias_correction(None),
        TypeError, r"scheduled_bias_correction: schedule must be a function",
    ),
]


@pytest.mark.parametrize("build, error, match", BAD_ARGUMENTS)
def test_bad_arguments_raise_when_the_optimizer_is_built(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_infinity_moment_rejects_integer_params_and_changed_trees():
    opt = gx.infinity_moment()
    with pytest.raises(TypeError, match=r"infinity_moment: every parameter must have a floating-point"):
        opt.init({"w": jnp.zeros(2, jnp.int32)})
    state = opt.init({"w": jnp.zeros(2)})
    mismatch = r"infinity_moment: updates and state have different tree structures"
    with pytest.raises(ValueError, match=mismatch):
        opt.update({"w": jnp.zeros(2), "b": jnp.zeros(())}, state)


# --- Hyperparameters kept in the state: scale_by_rectification, variance_is_tractable --------


def _rectified(opt, state, steps):
    """``steps`` updates of ``opt`` on ones; the outputs and the last state."""
    outputs = []
    for _ in range(steps):
        out, state = opt.update({"w": jnp.ones(2)}, state)
        outputs.append(np.asarray(out["w"]))
    return outputs, state


def _with_own_hyperparams(opt, state):
    """``state`` holding ``opt``'s own hyperparameters: a state keeps the numbers it holds, whatever
    optimizer updates it, so comparing with an optimizer built otherwise needs its table."""
    return state._replace(hyperparams=opt.init({"w": jnp.zeros(2)}).hyperparams)


def test_scale_by_rectification_keeps_its_decay_in_the_state():
    state = gx.chain(gx.scale_by_rectification(0.99)).init({"w": jnp.zeros(2)})
    assert {k: float(v) for k, v in gx.hyperparams(state).items()} == {"decay": 0.99}


def test_set_hyperparams_changes_the_rectification_as_rebuilding_with_the_new_decay():
    old, rebuilt = gx.chain(gx.scale_by_rectification(0.99)), gx.chain(gx.scale_by_rectification(0.9))
    _, state = _rectified(old, old.init({"w": jnp.zeros(2)}), 9)
    (out,), set_state = _rectified(old, gx.set_hyperparams(state, decay=0.9), 1)
    (expected,), _ = _rectified(rebuilt, _with_own_hyperparams(rebuilt, state), 1)
    (unchanged,), _ = _rectified(old, state, 1)
    np.testing.assert_array_equal(out, expected)
    assert not np.allclose(out, unchanged)
    assert float(gx.hyperparams(set_state)["decay"]) == 0.9


def test_scale_by_rectification_decay_follows_a_schedule():
    values = [0.9, 0.99, 0.95, 0.999, 0.9, 0.99]
    scheduled = gx.chain(gx.scale_by_rectification(lambda step: jnp.asarray(values)[step]))
    state = scheduled.init({"w": jnp.zeros(2)})
    for value in values:
        constant = gx.chain(gx.scale_by_rectification(value))
        (expected,), _ = _rectified(constant, _with_own_hyperparams(constant, state), 1)
        (out,), state = _rectified(scheduled, state, 1)
        np.testing.assert_array_equal(out, expected)
        assert float(gx.hyperparams(state)["decay"]) == value


def test_scale_by_rectification_decay_changes_under_jit_without_recompiling():
    opt = gx.chain(gx.scale_by_rectification(0.99))
    traces = []

    def step(updates, state):
        traces.append(None)
        return opt.update(updates, state)

    step = jax.jit(step)
    _, state = _rectified(opt, opt.init({"w": jnp.zeros(2)}), 9)
    first, _ = step({"w": jnp.ones(2)}, state)
    second, _ = step({"w": jnp.ones(2)}, gx.set_hyperparams(state, decay=0.9))
    rebuilt = gx.chain(gx.scale_by_rectification(0.9))
    (expected,), _ = _rectified(rebuilt, _with_own_hyperparams(rebuilt, state), 1)
    assert len(traces) == 1
    np.testing.assert_allclose(np.asarray(second["w"]), expected, rtol=1e-15)
    assert not np.allclose(np.asarray(first["w"]), expected)


def test_variance_is_tractable_reads_the_value_of_a_named_decay():
    named = gx.variance_is_tractable(gx.hyperparameter("b2", 0.999), 5.0)
    plain = gx.variance_is_tractable(0.999, 5.0)
    steps = [jnp.int32(step) for step in range(8)]
    assert [bool(named(s)) for s in steps] == [bool(plain(s)) for s in steps]


def test_variance_is_tractable_follows_a_scheduled_decay_at_each_step():
    # With 0.999 throughout, rho_t >= 5 from the sixth step on; 0.5 has rho_inf = 3 < 5.
    values = [0.999] * 5 + [0.5, 0.999, 0.5]
    tractable = gx.variance_is_tractable(lambda step: jnp.asarray(values)[step], 5.0)
    got = [bool(tractable(jnp.int32(step))) for step in range(len(values))]
    assert got == [False] * 5 + [False, True, False]


def test_ones_and_scale_by_schedule_have_no_hyperparameters_of_their_own():
    params = {"w": jnp.zeros(2)}
    for primitive in (gx.ones(), gx.scale_by_schedule(lambda step: 0.5)):
        assert gx.hyperparams(gx.chain(primitive).init(params)) == {}


# --- Nadam / NadamW: nesterov=, Dozat's schedule reading b1 as a hyperparameter ----------------


def _torch_nadam(grads, params, lr, b1_at, b2=0.999, eps=1e-8, psi=4e-3, weight_decay=0.0):
    """PyTorch's NAdam step (torch.optim.NAdam, decoupled_weight_decay=True), transcribed in
    float64 NumPy; ``b1_at(step)`` is beta1 at the zero-based step (the param group's value then,
    read by the momentum, the momentum schedule and its look-ahead alike)."""
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(x) for k, x in p.items()}
    mu_product, history = 1.0, []
    for step, g in enumerate(grads, start=1):
        b1 = b1_at(step - 1)
        mu = b1 * (1.0 - 0.5 * 0.96 ** (step * psi))
        mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * psi))
        mu_product *= mu
        for k in p:
            gk = np.asarray(g[k], np.float64)
            p[k] = p[k] * (1 - lr * weight_decay)
            m[k] = m[k] + (gk - m[k]) * (1 - b1)  # exp_avg.lerp_(grad, 1 - beta1)
            v[k] = b2 * v[k] + (1 - b2) * gk * gk
            denom = np.sqrt(v[k] / (1 - b2**step)) + eps
            p[k] = p[k] - lr * (1 - mu) / (1 - mu_product) * gk / denom
            p[k] = p[k] - lr * mu_next / (1 - mu_product * mu_next) * m[k] / denom
        history.append({k: x.copy() for k, x in p.items()})
    return history


def _gx_run(opt, grads, params, at_step=None):
    """Params after each update; ``at_step(i, state)`` may replace the state before update i."""
    params = dict(params)
    state, history = opt.init(params), []
    for i, g in enumerate(grads):
        state = at_step(i, state) if at_step else state
        updates, state = opt.update(g, state, params)
        params = gx.apply_updates(params, updates)
        history.append({k: np.asarray(x) for k, x in params.items()})
    return history


def _assert_close_every_step(ours, theirs, rtol=1e-6):
    for a, b in zip(ours, theirs, strict=True):
        for k in b:
            np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=1e-12)


NADAM_PARAMS = {"w": jnp.asarray(np.linspace(-1.0, 1.0, 6).reshape(3, 2)), "b": jnp.asarray(0.5)}


@pytest.mark.parametrize("alias, weight_decay", [(gx.nadam, 0.0), (gx.nadamw, 0.1)])
def test_nadam_with_a_scheduled_b1_and_momentum_decay_is_torch_nadam(alias, weight_decay):
    grads = _random_grads(20, seed=3)
    b1_schedule = gx.linear_schedule(0.8, 0.95, 15)
    kwargs = {"weight_decay": weight_decay} if alias is gx.nadamw else {}
    ours = _gx_run(alias(1e-2, b1=b1_schedule, momentum_decay=0.05, **kwargs), grads, NADAM_PARAMS)
    theirs = _torch_nadam(grads, NADAM_PARAMS, 1e-2, lambda s: 0.8 + 0.15 * min(s, 15) / 15,
                          psi=0.05, weight_decay=weight_decay)
    _assert_close_every_step(ours, theirs)


def test_set_hyperparams_b1_mid_run_moves_dozats_schedule_as_torch_nadam():
    grads = _random_grads(20, seed=4)
    set_b1 = lambda i, state: gx.set_hyperparams(state, b1=0.7) if i == 8 else state  # noqa: E731
    ours = _gx_run(gx.nadam(1e-2, b1=0.9, momentum_decay=0.05), grads, NADAM_PARAMS, set_b1)
    theirs = _torch_nadam(grads, NADAM_PARAMS, 1e-2, lambda s: 0.9 if s < 8 else 0.7, psi=0.05)
    _assert_close_every_step(ours, theirs)


@pytest.mark.parametrize("nadam, adam, optax_nadam", [
    (lambda: gx.nadam(1e-2, nesterov=False), lambda: gx.adam(1e-2),
     lambda: optax.nadam(1e-2, nesterov=False)),
    (lambda: gx.nadamw(1e-2, weight_decay=0.1, nesterov=False),
     lambda: gx.adamw(1e-2, weight_decay=0.1), lambda: optax.nadamw(1e-2, weight_decay=0.1, nesterov=False)),
], ids=["nadam", "nadamw"])
def test_nadam_nesterov_false_is_adam_as_in_optax(nadam, adam, optax_nadam):
    ours = trajectory(nadam(), QUADRATIC, 20)
    _assert_trajectories_equal(ours, trajectory(adam(), QUADRATIC, 20))
    with jax.numpy_dtype_promotion("standard"):
        theirs = trajectory(optax_nadam(), QUADRATIC, 20)
    _assert_close_every_step(ours, theirs, rtol=1e-12)


def test_nadam_momentum_decay_without_nesterov_raises():
    with pytest.raises(ValueError, match=r"nadamw: momentum_decay=0.004 needs nesterov=True"):
        gx.nadamw(1e-2, nesterov=False, momentum_decay=4e-3)
