"""Every argument error names who raised it, what was expected, what was received and a fix."""
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradxform as gx
from gradxform.core import check as _check

PARAMS = {"w": jnp.ones((2, 2)), "b": jnp.zeros(())}
NAN, INF = float("nan"), float("inf")


# ---------------------------------------------------------------------------------------------
# learning rates
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [-1e-3, NAN, INF, np.float32(-0.5)], ids=["negative", "nan", "inf", "numpy"])
def test_bad_learning_rate_is_a_value_error_with_the_sign_hint(bad):
    expected = (
        r"scale_by_learning_rate: learning_rate must be a finite number >= 0, got learning_rate="
        + re.escape(repr(bad))
        + r"\. The sign is applied for you: pass the step size, e\.g\. 1e-3\."
    )
    with pytest.raises(ValueError, match=expected):
        gx.scale_by_learning_rate(bad)
    with pytest.raises(ValueError, match=expected):
        gx.adam(bad)


def test_zero_learning_rate_is_allowed():
    gx.scale_by_learning_rate(0.0)


# ---------------------------------------------------------------------------------------------
# decays
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [-0.1, 1.5, NAN, INF], ids=["negative", "above_one", "nan", "inf"])
def test_decay_outside_unit_interval_is_a_value_error(bad):
    expected = r"scale_by_momentum: decay must be in \[0, 1\), got decay=" + re.escape(repr(bad)) + r"\.$"
    with pytest.raises(ValueError, match=expected):
        gx.scale_by_momentum(bad, ema=True)  # a running mean (the heavy-ball sum allows 1)


@pytest.mark.parametrize(
    "build, who, name",
    [
        (lambda: gx.scale_by_momentum(1.0, ema=True), "scale_by_momentum", "decay"),
        (lambda: gx.mean_of_squares(1.0), "mean_of_squares", "decay"),
        (lambda: gx.bias_correction(1.0), "bias_correction", "decay"),
        # adam names its decays with gx.hyperparameter("b1"/"b2", ...), so the primitive that
        # checks them reports the name the user passed, not its own argument name.
        (lambda: gx.adam(1e-3, b1=1.0), "scale_by_momentum", "b1"),
        (lambda: gx.adam(1e-3, b2=1), "mean_of_squares", "b2"),
    ],
    ids=["momentum", "mean_of_squares", "bias_correction", "adam_b1", "adam_b2"],
)
def test_decay_of_one_explains_that_the_mean_never_updates(build, who, name):
    expected = (
        rf"{who}: {name} must be in \[0, 1\), got {name}=1(\.0)?\. "
        r"With 1 the running mean never updates; try 0\.99\."
    )
    with pytest.raises(ValueError, match=expected):
        build()


def test_decay_zero_is_allowed():
    gx.scale_by_momentum(0.0)
    gx.bias_correction(0.0)


# ---------------------------------------------------------------------------------------------
# eps and other positive constants
# ---------------------------------------------------------------------------------------------


def test_negative_eps_is_a_value_error():
    with pytest.raises(ValueError, match=r"sqrt_plus_eps: eps must be a finite number >= 0, got eps=-1e-08\."):
        gx.adam(1e-3, eps=-1e-8)
    with pytest.raises(ValueError, match=r"sqrt_plus_eps: eps_root must be a finite number >= 0, got eps_root=-1\.0\."):
        gx.adam(1e-3, eps_root=-1.0)


def test_negative_initial_value_is_a_value_error():
    message = r"mean_of_squares: initial_value must be a finite number >= 0, got initial_value=-1"
    with pytest.raises(ValueError, match=message):
        gx.mean_of_squares(0.9, initial_value=-1)


def test_non_finite_scale_and_weights_are_value_errors():
    with pytest.raises(ValueError, match=r"scale: step_size must be a finite number, got step_size=inf\."):
        gx.scale(INF)
    # parallel_sum names each weight by its position: weight_0, weight_1, ...
    with pytest.raises(ValueError, match=r"^parallel_sum: weight_0 must be a finite number, got weight_0=nan\.$"):
        gx.parallel_sum((NAN, gx.identity()))
    with pytest.raises(ValueError, match=r"^parallel_sum: weight_1 must be a finite number, got weight_1=inf\.$"):
        gx.parallel_sum((1.0, gx.identity()), (INF, gx.identity()))


def test_negative_step_offset_is_a_value_error():
    with pytest.raises(ValueError, match=r"^bias_correction: step_offset must be an int >= 0, got step_offset=-1\.$"):
        gx.bias_correction(0.9, step_offset=-1)


@pytest.mark.parametrize("bad, shown", [(1.0, "float 1.0"), (True, "bool True")], ids=["float", "bool"])
def test_non_int_step_offset_is_a_type_error(bad, shown):
    with pytest.raises(TypeError, match=rf"^bias_correction: step_offset must be an int, got {shown}\.$"):
        gx.bias_correction(0.9, step_offset=bad)


# ---------------------------------------------------------------------------------------------
# wrong kinds
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad, shown",
    [("0.9", "str '0.9'"), (None, "NoneType None"), (True, "bool True"), ([0.9], "list [0.9]")],
    ids=["str", "None", "bool", "list"],
)
def test_non_number_hyperparameter_is_a_type_error(bad, shown):
    expected = (
        r"scale_by_momentum: decay must be a number or a schedule \(a function of the step\), got "
        + re.escape(shown)
    )
    with pytest.raises(TypeError, match=expected):
        gx.scale_by_momentum(bad)
    with pytest.raises(TypeError, match=r"scale_by_learning_rate: learning_rate must be a number or a schedule"):
        gx.adam("1e-3")


def test_non_callable_predicate_is_a_type_error():
    with pytest.raises(TypeError, match=r"conditional: predicate must be a function, got int 3\."):
        gx.conditional(3, gx.identity(), gx.identity())


def test_empty_parallel_sum_is_a_value_error():
    message = r"^parallel_sum: expected at least one of \(weight, branch\) pairs, got none\.$"
    with pytest.raises(ValueError, match=message):
        gx.parallel_sum()


# ---------------------------------------------------------------------------------------------
# params and updates
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("int_dtype", [jnp.int32, jnp.int8, jnp.bool_])
def test_integer_params_are_a_type_error_naming_the_path(int_dtype):
    params = {"layer": {"w": jnp.ones(2), "count": jnp.zeros(3, int_dtype)}}
    expected = (
        r"scale_by_momentum: every parameter must have a floating-point or complex dtype, got "
        + jnp.dtype(int_dtype).name
        + re.escape(" at ['layer']['count']. ")
        + r"Optimizers update parameters by small real steps; cast it with \.astype\(jnp\.float32\)"
    )
    with pytest.raises(TypeError, match=expected):
        gx.adam(1e-3).init(params)


def test_integer_root_param_is_named_root():
    with pytest.raises(TypeError, match=r"got int32 at <root>\."):
        gx.scale_by_momentum(0.9).init(jnp.zeros(3, jnp.int32))


def test_updates_with_another_structure_than_the_state_list_the_paths_on_each_side():
    opt = gx.adam(1e-3)
    state = opt.init(PARAMS)
    updates = {"w": jnp.ones((2, 2)), "extra": jnp.ones(()), "b": jnp.ones(())}
    with pytest.raises(ValueError) as info:
        opt.update(updates, state)
    message = str(info.value)
    assert message.startswith(  # the alias the user called, then the part that refused
        "adam.update: scale_by_momentum: updates and state have different tree structures. "
        "Did the params change shape since init()?"
    )
    assert "only in updates: 'extra'" in message
    assert "only in state: (none)" in message


def test_stateful_primitives_check_the_structure_of_their_state():
    updates = {"w": jnp.ones(2)}
    for who, transform in [
        ("mean_of_squares", gx.mean_of_squares(0.9)),
        ("amsgrad_max", gx.amsgrad_max()),
        ("scale_by_momentum", gx.scale_by_momentum(0.9)),
    ]:
        state = transform.init({"w": jnp.ones(2), "b": jnp.ones(())})
        with pytest.raises(ValueError, match=rf"^{who}: updates and state have different tree structures"):
            transform.update(updates, state)


# ---------------------------------------------------------------------------------------------
# what is not checked: traced values and schedules
# ---------------------------------------------------------------------------------------------


def test_optimizer_built_inside_jit_with_a_traced_learning_rate_matches_eager():
    grads = {"w": jnp.asarray([[0.5, -1.0], [2.0, 0.0]]), "b": jnp.asarray(-3.0)}

    @jax.jit
    def one_step(learning_rate, decay, params, grads):
        opt = gx.chain(gx.scale_by_momentum(decay), gx.scale_by_learning_rate(learning_rate))
        updates, _ = opt.update(grads, opt.init(params), params)
        return updates

    traced = one_step(0.1, 0.5, PARAMS, grads)
    eager_opt = gx.chain(gx.scale_by_momentum(0.5), gx.scale_by_learning_rate(0.1))
    eager, _ = eager_opt.update(grads, eager_opt.init(PARAMS), PARAMS)
    for k in grads:
        np.testing.assert_allclose(np.asarray(traced[k]), np.asarray(eager[k]), rtol=1e-15)


def test_traced_out_of_range_values_are_not_checked():
    # Their values are unknown when the optimizer is built, so the build must not fail.
    @jax.jit
    def build_and_step(learning_rate, params):
        opt = gx.adam(learning_rate)
        return opt.update(params, opt.init(params), params)[0]

    out = build_and_step(-1.0, PARAMS)
    assert jax.tree.structure(out) == jax.tree.structure(PARAMS)


def test_schedules_are_called_once_at_step_zero_when_built_and_their_range_is_not_checked():
    calls = []

    def schedule(step):
        calls.append(step)
        return jnp.asarray(-5.0)  # a schedule's range is its author's business (see gx.checked)

    opt = gx.adam(schedule)
    # building calls it once at step 0 (shape, dtype and finiteness: test_hyperparam_checks.py)
    assert len(calls) == 1 and int(calls[0]) == 0
    # The learning rate lives in the state (gx.hyperparams), so init records the schedule's
    # value at step 0 and each update reads the value in force at the chain's step; how many
    # times per step it is evaluated is an implementation detail, which step it sees is not.
    state = opt.init(PARAMS)
    assert calls and all(int(step) == 0 for step in calls)
    for step in range(2):
        calls.clear()
        updates, state = opt.update(PARAMS, state, PARAMS)
        assert calls and all(int(s) == step for s in calls)
    # The unchecked negative rate was used as given: -(-5) * adam's direction, and recorded.
    assert float(gx.hyperparams(state)["learning_rate"]) == -5.0
    assert all(bool(jnp.all(updates[k] * PARAMS[k] >= 0)) for k in PARAMS)


# ---------------------------------------------------------------------------------------------
# the checks themselves
# ---------------------------------------------------------------------------------------------


def test_checks_accept_values_in_range():
    _check.finite("who", a=-3.0, b=np.float32(2))
    _check.positive("who", a=1e-30)
    _check.non_negative("who", a=0)
    _check.learning_rate("who", a=0.0)
    _check.decay("who", a=0.999)
    _check.unit_interval("who", a=0.0, b=1.0)
    _check.choice("who", "mode", "a", ("a", "b"))


@pytest.mark.parametrize(
    "check, bad, expected",
    [
        (_check.positive, 0.0, "a finite number > 0"),
        (_check.non_negative, -1e-9, "a finite number >= 0"),
        (_check.unit_interval, 1.5, r"in \[0, 1\]"),
        (_check.finite, -INF, "a finite number"),
    ],
    ids=["positive", "non_negative", "unit_interval", "finite"],
)
def test_checks_reject_values_out_of_range(check, bad, expected):
    with pytest.raises(ValueError, match=rf"^who: x must be {expected}, got x={re.escape(repr(bad))}\.$"):
        check("who", x=bad)


def test_choice_lists_the_choices():
    with pytest.raises(ValueError, match=r"^who: mode must be one of \['a', 'b'\], got mode='c'\.$"):
        _check.choice("who", "mode", "c", ("a", "b"))


def test_describe_is_short_for_huge_values():
    assert len(_check.describe(list(range(10_000)))) == 200
