"""RMSprop, Adagrad and Adadelta scalings, and the classic aliases built from them."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import reference
from harness import assert_same_trajectory, numpy_trajectory, trajectory
from problems import PROBLEMS

import gradxform as gx

PARAMS = {"w": jnp.array([[1.0, -2.0], [3.0, 0.5]]), "b": jnp.array([0.25, -1.0])}


def _with_own_hyperparams(opt, state):
    """``state`` holding ``opt``'s own hyperparameters: a state keeps the numbers it holds, whatever
    optimizer updates it, so comparing with an optimizer built otherwise needs its table."""
    return state._replace(hyperparams=opt.init(PARAMS).hyperparams)


def _grad_sequence(steps, seed=0):
    rng = np.random.default_rng(seed)
    return [
        {"w": jnp.asarray(rng.normal(size=(2, 2))), "b": jnp.asarray(rng.normal(size=2))}
        for _ in range(steps)
    ]


def _outputs(transform, grads_sequence, standard_promotion=False):
    """Outputs of ``transform`` (put in a chain if it is ours) fed ``grads_sequence``."""
    state = transform.init(PARAMS)
    outputs = []
    for grads in grads_sequence:
        if standard_promotion:
            with jax.numpy_dtype_promotion("standard"):
                out, state = transform.update(grads, state, PARAMS)
        else:
            out, state = transform.update(grads, state, PARAMS)
        outputs.append(out)
    return outputs


def _assert_same_outputs(ours, theirs, rtol=1e-13):
    for step, (a, b) in enumerate(zip(ours, theirs)):
        for k in b:
            np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=1e-300, err_msg=f"step {step}")


# --------------------------------------------------------------------------------------------
# The primitives against Optax's fused transformations
# --------------------------------------------------------------------------------------------

RMS_VARIANTS = [
    {},
    {"eps_in_sqrt": False},
    {"decay": 0.5, "eps": 1e-3, "initial_scale": 1.0},
    {"bias_correction": True, "eps": 1e-4},
]


@pytest.mark.parametrize("kwargs", RMS_VARIANTS, ids=str)
def test_scale_by_rms_matches_optax(kwargs):
    grads = _grad_sequence(10)
    ours = _outputs(gx.chain(gx.scale_by_rms(**kwargs)), grads)
    theirs = _outputs(optax.scale_by_rms(**kwargs), grads, standard_promotion=True)
    _assert_same_outputs(ours, theirs)


@pytest.mark.parametrize("kwargs", RMS_VARIANTS, ids=str)
def test_scale_by_stddev_matches_optax(kwargs):
    grads = _grad_sequence(10)
    ours = _outputs(gx.chain(gx.scale_by_stddev(**kwargs)), grads)
    theirs = _outputs(optax.scale_by_stddev(**kwargs), grads, standard_promotion=True)
    _assert_same_outputs(ours, theirs, rtol=1e-11)


def test_scale_by_rms_centered_is_scale_by_stddev():
    grads = _grad_sequence(6)
    centered = _outputs(gx.chain(gx.scale_by_rms(0.8, 1e-3, centered=True)), grads)
    stddev = _outputs(gx.chain(gx.scale_by_stddev(0.8, 1e-3)), grads)
    _assert_same_outputs(centered, stddev, rtol=0)


def test_scale_by_rms_divides_by_root_of_mean_of_squares_plus_eps():
    g1, g2 = _grad_sequence(2)
    _, out = _outputs(gx.chain(gx.scale_by_rms(0.5, eps=0.01)), [g1, g2])
    nu = 0.5 * (0.5 * g1["w"] ** 2) + 0.5 * g2["w"] ** 2
    np.testing.assert_allclose(out["w"], g2["w"] / np.sqrt(nu + 0.01), rtol=1e-14)


def test_scale_by_stddev_divides_by_root_of_variance():
    g1, g2 = _grad_sequence(2)
    _, out = _outputs(gx.chain(gx.scale_by_stddev(0.5, eps=0.01, eps_in_sqrt=False)), [g1, g2])
    mean = 0.5 * (0.5 * g1["b"]) + 0.5 * g2["b"]
    mean_sq = 0.5 * (0.5 * g1["b"] ** 2) + 0.5 * g2["b"] ** 2
    np.testing.assert_allclose(out["b"], g2["b"] / (np.sqrt(mean_sq - mean**2) + 0.01), rtol=1e-13)


@pytest.mark.parametrize("kwargs", [{}, {"initial_accumulator_value": 0.0, "eps": 1e-3}])
def test_scale_by_rss_matches_optax(kwargs):
    grads = _grad_sequence(10)
    ours = _outputs(gx.chain(gx.scale_by_rss(**kwargs)), grads)
    theirs = _outputs(optax.scale_by_rss(**kwargs), grads, standard_promotion=True)
    _assert_same_outputs(ours, theirs)


def test_scale_by_rss_with_eps_outside_root_divides_by_root_plus_eps():
    g1, g2 = _grad_sequence(2)
    _, out = _outputs(gx.chain(gx.scale_by_rss(0.0, 0.5, eps_in_sqrt=False)), [g1, g2])
    np.testing.assert_allclose(
        out["w"], g2["w"] / (np.sqrt(g1["w"] ** 2 + g2["w"] ** 2) + 0.5), rtol=1e-14
    )


@pytest.mark.parametrize("kwargs", [{}, {"rho": 0.5, "eps": 1e-3}])
def test_scale_by_adadelta_matches_optax(kwargs):
    grads = _grad_sequence(10)
    ours = _outputs(gx.chain(gx.scale_by_adadelta(**kwargs)), grads)
    theirs = _outputs(optax.scale_by_adadelta(**kwargs), grads, standard_promotion=True)
    _assert_same_outputs(ours, theirs)


def test_sum_of_squares_accumulates_squared_magnitudes_from_the_initial_value():
    g1, g2 = _grad_sequence(2)
    out1, out2 = _outputs(gx.sum_of_squares(0.25), [g1, g2])
    np.testing.assert_allclose(out1["w"], 0.25 + g1["w"] ** 2, rtol=1e-15)
    np.testing.assert_allclose(out2["w"], 0.25 + g1["w"] ** 2 + g2["w"] ** 2, rtol=1e-15)


def test_sum_of_squares_of_complex_updates_is_real_valued_and_keeps_params_dtype():
    params = {"z": jnp.zeros(2, jnp.complex128)}
    sos = gx.sum_of_squares()
    out, state = sos.update({"z": jnp.array([3 + 4j, 1j])}, sos.init(params))
    np.testing.assert_array_equal(out["z"], np.array([25.0, 1.0]))
    assert state.sum_of_squares["z"].dtype == jnp.complex128


def test_scale_by_adadelta_units_multiplies_by_rms_of_previous_outputs():
    units = gx.scale_by_adadelta_units(rho=0.5, eps=0.01)
    g1, g2 = _grad_sequence(2)
    state = units.init(PARAMS)
    out1, state = units.update(g1, state)
    np.testing.assert_allclose(out1["b"], np.sqrt(0.01) * g1["b"], rtol=1e-15)
    np.testing.assert_allclose(state.e_x["b"], 0.5 * out1["b"] ** 2, rtol=1e-15)
    out2, _ = units.update(g2, state)
    expected = np.sqrt(0.5 * out1["b"] ** 2 + 0.01) * g2["b"]
    np.testing.assert_allclose(out2["b"], expected, rtol=1e-15)


def test_stateful_primitives_reject_updates_of_another_structure():
    sos = gx.sum_of_squares()
    with pytest.raises(ValueError, match="sum_of_squares: updates and state have different tree"):
        sos.update({"w": PARAMS["w"]}, sos.init(PARAMS))
    units = gx.scale_by_adadelta_units()
    with pytest.raises(ValueError, match="scale_by_adadelta_units: updates and state have"):
        units.update({"w": PARAMS["w"]}, units.init(PARAMS))


# --------------------------------------------------------------------------------------------
# The aliases: behaviour beyond the registry's trajectory comparisons
# --------------------------------------------------------------------------------------------


def _loss_history(optimizer, steps=60):
    """Loss of the ill-conditioned quadratic after each step."""
    problem = PROBLEMS[0]
    history = trajectory(optimizer, problem, steps, jit=False)

    def loss(p):
        g = problem.grad(p)  # the quadratic's loss is half the inner product with its gradient
        return 0.5 * np.sum(g["w"] * p["w"]) + 0.5 * np.sum(g["b"] * (p["b"] - 1.0))

    return [loss(problem.init)] + [loss(p) for p in history]


def test_adadelta_with_default_arguments_descends():
    losses = _loss_history(gx.adadelta())
    assert losses[-1] < 0.9 * losses[0]
    assert all(later <= earlier for earlier, later in zip(losses, losses[1:]))


def test_optax_adadelta_default_ascends_which_our_default_does_not():
    with jax.numpy_dtype_promotion("standard"):
        optax_losses = _loss_history(optax.adadelta(), steps=10)
    assert optax_losses[-1] > optax_losses[0]  # the documented difference from Optax 0.2.8


def test_adadelta_without_weight_decay_needs_no_params():
    opt = gx.adadelta()
    grads = _grad_sequence(1)[0]
    out, _ = opt.update(grads, opt.init(PARAMS))
    assert jax.tree.structure(out) == jax.tree.structure(grads)


def test_adadelta_with_weight_decay_needs_params():
    opt = gx.adadelta(weight_decay=0.1)
    with pytest.raises(ValueError, match="weight_decay: update\\(\\) needs params"):
        opt.update(_grad_sequence(1)[0], opt.init(PARAMS))


def test_adagrad_on_complex_params_divides_by_root_of_summed_magnitudes():
    params = {"z": jnp.array([1 + 1j, -2j])}
    grads = {"z": jnp.array([3 + 4j, 1j])}
    opt = gx.adagrad(0.5, initial_accumulator_value=0.0, eps=1e-12)
    out, _ = opt.update(grads, opt.init(params))
    g = np.asarray(grads["z"])
    np.testing.assert_allclose(out["z"], -0.5 * g / np.abs(g), rtol=1e-6)


def test_sgd_stores_momentum_in_accumulator_dtype():
    opt = gx.sgd(0.1, momentum=0.9, accumulator_dtype=jnp.bfloat16)
    state = opt.init(PARAMS)
    _, state = opt.update(_grad_sequence(1)[0], state)
    assert all(leaf.dtype == jnp.bfloat16 for leaf in jax.tree.leaves(state[0].mu))


def _decaying(step):
    """A learning-rate schedule: 1e-2 * 0.9^step."""
    return 1e-2 * 0.9 ** jnp.asarray(step, jnp.float64)


def test_rmsprop_pytorch_order_momentum_before_learning_rate_matches_pytorch_reference():
    problem = PROBLEMS[0]
    pytorch_order = gx.chain(
        gx.scale_by_rms(0.99, 1e-3, eps_in_sqrt=False),
        gx.scale_by_momentum(0.9),
        gx.scale_by_learning_rate(_decaying),
    )
    expected = numpy_trajectory(
        reference.make_rmsprop(lambda t: 1e-2 * 0.9**t, 0.99, 1e-3, momentum=0.9), problem, 40
    )
    assert_same_trajectory(trajectory(pytorch_order, problem, 40), expected, rtol=1e-10)


def test_rmsprop_momentum_order_matters_only_when_the_learning_rate_changes():
    problem = PROBLEMS[0]
    constant = numpy_trajectory(reference.make_rmsprop(1e-2, 0.99, 1e-3, momentum=0.9), problem, 40)
    optax_order = gx.rmsprop(1e-2, 0.99, 1e-3, eps_in_sqrt=False, momentum=0.9)
    assert_same_trajectory(trajectory(optax_order, problem, 40), constant, rtol=1e-10)
    scheduled = gx.rmsprop(_decaying, 0.99, 1e-3, eps_in_sqrt=False, momentum=0.9)
    pytorch = numpy_trajectory(
        reference.make_rmsprop(lambda t: 1e-2 * 0.9**t, 0.99, 1e-3, momentum=0.9), problem, 40
    )
    with pytest.raises(AssertionError):
        assert_same_trajectory(trajectory(scheduled, problem, 40), pytorch, rtol=1e-6)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alias", [gx.sgd, gx.rmsprop])
def test_nesterov_without_momentum_raises(alias):
    message = f"{alias.__name__}: nesterov=True has no effect without momentum"
    with pytest.raises(ValueError, match=message):
        alias(0.1, nesterov=True)


@pytest.mark.parametrize("alias", [gx.sgd, gx.rmsprop])
def test_momentum_beyond_one_raises_naming_the_argument(alias):
    with pytest.raises(ValueError, match=f"{alias.__name__}: momentum must be in \\[0.0, 1.0\\]"):
        alias(0.1, momentum=1.5)


@pytest.mark.parametrize("name", ["sgd", "rmsprop", "trace"])
def test_a_momentum_of_one_is_a_plain_sum_as_in_optax(name):
    args = (1.0,) if name == "trace" else (0.1,)
    kwargs = {} if name == "trace" else {"momentum": 1.0}
    ours, theirs = getattr(gx, name)(*args, **kwargs), getattr(optax, name)(*args, **kwargs)
    state, optax_state = ours.init(PARAMS), theirs.init(PARAMS)
    for g in _grad_sequence(4):
        out, state = ours.update(g, state, PARAMS)
        expected, optax_state = theirs.update(g, optax_state, PARAMS)
        jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-12), out, expected)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: gx.adagrad(0.1, initial_accumulator_value=0.0, eps=0.0),
         "adagrad: initial_accumulator_value and eps must not both be 0"),
        (lambda: gx.scale_by_rss(0.0, 0.0),
         "scale_by_rss: initial_accumulator_value and eps must not both be 0"),
        (lambda: gx.adagrad(0.1, initial_accumulator_value=-1.0),
         "adagrad: initial_accumulator_value must be a finite number >= 0"),
        (lambda: gx.adadelta(eps=0.0), "adadelta: eps must be a finite number > 0"),
        (lambda: gx.adadelta(rho=1.0), "adadelta: rho must be in \\[0, 1\\)"),
        (lambda: gx.adadelta(learning_rate=-1.0),
         "scale_by_learning_rate: learning_rate must be a finite number >= 0"),
        (lambda: gx.scale_by_adadelta(rho=1.0), "scale_by_adadelta: rho must be in \\[0, 1\\)"),
        (lambda: gx.scale_by_adadelta_units(eps=0.0),
         "scale_by_adadelta_units: eps must be a finite number > 0"),
        (lambda: gx.scale_by_rms(decay=1.0),
         "scale_by_rms: decay must be in \\[0, 1\\), got decay=1.0"),
        (lambda: gx.scale_by_stddev(eps=-1.0), "scale_by_stddev: eps must be a finite number >= 0"),
        (lambda: gx.rmsprop(0.1, initial_scale=-1.0),
         "scale_by_rms: initial_scale must be a finite number >= 0"),
        (lambda: gx.sum_of_squares(-0.1),
         "sum_of_squares: initial_value must be a finite number >= 0"),
        (lambda: gx.noisy_sgd(0.1, eta=-1.0), "add_noise: eta must be a finite number >= 0"),
    ],
)
def test_bad_arguments_raise_naming_who_and_what(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_integer_params_are_refused_at_init():
    with pytest.raises(TypeError, match="sum_of_squares: every parameter must have a floating"):
        gx.adagrad(0.1).init({"n": jnp.arange(3)})


# --------------------------------------------------------------------------------------------
# Hyperparameters kept in the state: read, set without rebuilding, scheduled
# --------------------------------------------------------------------------------------------

# (factory, keyword arguments, {readable name: its argument}); every numeric argument but an
# init-only value (initial_scale, initial_accumulator_value) is a hyperparameter of the state.
HYPER_CASES = {
    "scale_by_adadelta_units": (gx.scale_by_adadelta_units, {"rho": 0.8, "eps": 1e-3},
                                {"rho": "rho", "eps": "eps"}),
    "scale_by_rms": (gx.scale_by_rms, {"decay": 0.8, "eps": 1e-3, "initial_scale": 0.5},
                     {"decay": "decay", "eps": "eps"}),
    "scale_by_rms_eps_outside_root": (
        gx.scale_by_rms, {"decay": 0.8, "eps": 1e-3, "eps_in_sqrt": False},
        {"decay": "decay", "eps": "eps"}),
    "scale_by_rms_centered_bias_corrected": (
        gx.scale_by_rms, {"decay": 0.8, "eps": 1e-3, "bias_correction": True, "centered": True},
        {"decay": "decay", "eps": "eps"}),
    "scale_by_stddev": (gx.scale_by_stddev, {"decay": 0.8, "eps": 1e-3, "eps_in_sqrt": False},
                        {"decay": "decay", "eps": "eps"}),
    "scale_by_rss": (gx.scale_by_rss, {"initial_accumulator_value": 0.5, "eps": 1e-3},
                     {"eps": "eps"}),
    "scale_by_rss_eps_outside_root": (
        gx.scale_by_rss, {"initial_accumulator_value": 0.0, "eps": 1e-3, "eps_in_sqrt": False},
        {"eps": "eps"}),
    "scale_by_adadelta": (gx.scale_by_adadelta, {"rho": 0.8, "eps": 1e-3},
                          {"rho": "rho", "eps": "eps"}),
}
NEW_VALUES = {"rho": 0.6, "decay": 0.6, "eps": 0.25}
SCHEDULED = {"rho": [0.5, 0.9, 0.7, 0.3], "decay": [0.5, 0.9, 0.7, 0.3], "eps": [0.1, 1e-3, 0.5, 0.2]}
# Beyond the arguments, a centered variance's parallel_sum may show its weights 1 and -1.
VARIANCE_WEIGHTS = {"weight_0": 1.0, "weight_1": -1.0}
HYPER_PARAMETERS = [
    pytest.param(case, name, id=f"{case}-{name}") for case, (_, _, names) in HYPER_CASES.items()
    for name in names
]


def _assert_same_tree(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("case", list(HYPER_CASES))
def test_hyperparams_reads_every_numeric_argument_of_the_scaling(case):
    make, kwargs, names = HYPER_CASES[case]
    state = gx.chain(make(**kwargs)).init(PARAMS)
    got = {k: float(v) for k, v in gx.hyperparams(state).items()}
    others = {k: v for k, v in got.items() if k not in names}
    assert {name: got.get(name) for name in names} == {n: kwargs[a] for n, a in names.items()}
    assert others.items() <= (VARIANCE_WEIGHTS.items() if "centered" in case or "stddev" in case else set())


@pytest.mark.parametrize("case, name", HYPER_PARAMETERS)
def test_set_hyperparams_acts_on_the_next_update_as_rebuilding_with_the_new_value(case, name):
    make, kwargs, names = HYPER_CASES[case]
    new = NEW_VALUES[name]
    old = gx.chain(make(**kwargs))
    rebuilt = gx.chain(make(**{**kwargs, names[name]: new}))
    *grads, g1, g2 = _grad_sequence(5)
    state = old.init(PARAMS)
    for g in grads:
        _, state = old.update(g, state, PARAMS)
    # Two updates: scale_by_adadelta_units' rho reaches the output one update later.
    out, set_state = old.update(g1, gx.set_hyperparams(state, {name: new}), PARAMS)
    out2, set_state = old.update(g2, set_state, PARAMS)
    expected, rebuilt_state = rebuilt.update(g1, _with_own_hyperparams(rebuilt, state), PARAMS)
    expected2, _ = rebuilt.update(g2, rebuilt_state, PARAMS)
    _assert_same_tree((out, out2), (expected, expected2))
    _, state = old.update(g1, state, PARAMS)
    unchanged2, _ = old.update(g2, state, PARAMS)
    assert not np.allclose(unchanged2["w"], out2["w"])
    assert float(gx.hyperparams(set_state)[name]) == new


@pytest.mark.parametrize("case, name", HYPER_PARAMETERS)
def test_each_hyperparameter_of_the_scaling_follows_a_schedule(case, name):
    make, kwargs, names = HYPER_CASES[case]
    values = SCHEDULED[name]
    scheduled = gx.chain(make(**{**kwargs, names[name]: lambda step: jnp.asarray(values)[step]}))
    state = scheduled.init(PARAMS)
    for step, g in enumerate(_grad_sequence(len(values))):
        constant = gx.chain(make(**{**kwargs, names[name]: values[step]}))
        expected, _ = constant.update(g, _with_own_hyperparams(constant, state), PARAMS)
        out, state = scheduled.update(g, state, PARAMS)
        _assert_same_tree(out, expected)
        assert float(gx.hyperparams(state)[name]) == values[step]


def test_sum_of_squares_has_no_hyperparameter_its_initial_value_is_used_only_by_init():
    sos = gx.sum_of_squares(0.25)
    state = sos.init(PARAMS)
    assert gx.hyperparams(state) == {}
    _, state = sos.update(_grad_sequence(1)[0], state)
    assert gx.hyperparams(state) == {}


def test_scale_by_rms_shares_decay_with_every_primitive_that_uses_it():
    make = lambda decay: gx.chain(gx.scale_by_rms(decay, 0.25, bias_correction=True, centered=True))
    state = make(0.8).init(PARAMS)
    # decay reaches mean_of_squares, the momentum and their two bias corrections: one row
    assert state.hyperparams.names == ("decay", "eps")
    assert {k: float(v) for k, v in gx.hyperparams(state).items()} == {"decay": 0.8, "eps": 0.25}
    set_state = gx.set_hyperparams(state, decay=0.5)
    assert {k: float(v) for k, v in gx.hyperparams(set_state).items()} == {"decay": 0.5, "eps": 0.25}
    # ... and setting it acts on all four at once, as building with it would
    grads = _grad_sequence(3)
    set_out, rebuilt_out = set_state, make(0.5).init(PARAMS)
    for g in grads:
        a, set_out = make(0.8).update(g, set_out)
        b, rebuilt_out = make(0.5).update(g, rebuilt_out)
        _assert_same_tree(a, b)


def test_a_hyperparameter_the_caller_named_keeps_its_name_in_a_composition():
    opt = gx.chain(gx.scale_by_adadelta(rho=gx.hyperparameter("adadelta_rho", 0.8)))
    assert sorted(gx.hyperparams(opt.init(PARAMS))) == ["adadelta_rho", "eps"]


def test_scale_by_adadelta_hyperparameters_change_under_jit_without_recompiling():
    opt = gx.chain(gx.scale_by_adadelta(0.8, 1e-3))
    traces = []

    def step(grads, state):
        traces.append(None)
        return opt.update(grads, state, PARAMS)

    step = jax.jit(step)
    g1, g2 = _grad_sequence(2)
    state = opt.init(PARAMS)
    _, state = step(g1, state)
    out, _ = step(g2, gx.set_hyperparams(state, rho=0.6, eps=0.25))
    rebuilt = gx.chain(gx.scale_by_adadelta(0.6, 0.25))
    expected, _ = rebuilt.update(g2, _with_own_hyperparams(rebuilt, state), PARAMS)
    assert len(traces) == 1
    for k in expected:
        np.testing.assert_allclose(out[k], expected[k], rtol=1e-15)
