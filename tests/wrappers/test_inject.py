"""inject_hyperparams: Optax's results step by step, its state read and written as Optax code does."""
import inspect
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradxform as gx
from gradxform import aliases as gx_aliases

STEPS = 8


def _params(dtype):
    return {"w": (jnp.arange(6.0).reshape(2, 3) / 7 - 0.3).astype(dtype), "b": jnp.full(3, 0.5, dtype)}


def _grads(params, i):
    return jax.tree.map(lambda p: jnp.sin(p * (i + 1) + 0.1 * i).astype(p.dtype), params)


def _trajectory(opt, dtype, writes=None, extra_args=None):
    """Params after each of STEPS jitted updates, writing ``writes[i]`` into state.hyperparams
    before update i; and the last state and the jitted update."""
    params = _params(dtype)
    state = jax.jit(opt.init)(params)
    update = jax.jit(opt.update)
    out = []
    for i in range(STEPS):
        for name, value in (writes or {}).get(i, {}).items():
            state.hyperparams[name] = jnp.asarray(value, state.hyperparams[name].dtype)
        updates, state = update(_grads(params, i), state, params, **(extra_args or {}))
        params = optax.apply_updates(params, updates)
        out.append(params)
    return out, state, update


def _optax_trajectory(opt, dtype, writes=None, extra_args=None):
    """:func:`_trajectory` under standard dtype promotion: Optax's wrapper raises under the
    tests' strict promotion (it raises a float32 decay to an int32 count)."""
    with jax.numpy_dtype_promotion("standard"):
        return _trajectory(opt, dtype, writes, extra_args)


def _assert_same(ours, theirs, rtol=0.0):
    for a, b in zip(ours, theirs):
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
            if rtol:
                np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=1e-12)
            else:
                np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# --- Parity with optax.inject_hyperparams(optax.<same name>) ----------------------------------

PARITY = {
    "adam": (dict(learning_rate=0.1), {3: dict(learning_rate=0.02, b1=0.5), 5: dict(b2=0.9)}),
    "sgd_momentum": (dict(learning_rate=0.1, momentum=0.9, nesterov=True), {4: dict(momentum=0.5)}),
    "adadelta_weight_decay": (dict(learning_rate=0.5, weight_decay=0.1),
                              {2: dict(weight_decay=0.3, rho=0.8), 6: dict(eps=1e-4)}),
    "adam_schedule": (dict(learning_rate=optax.linear_schedule(0.1, 0.01, 5)), {3: dict(b1=0.7)}),
    "adamw": (dict(learning_rate=0.1, weight_decay=0.0), {3: dict(weight_decay=0.2)}),
    "rmsprop": (dict(learning_rate=0.1, decay=0.8), {3: dict(decay=0.6, learning_rate=0.05)}),
}


def _alias_name(case):
    return case.split("_")[0]


@pytest.mark.parametrize("case", [c if c == "adam_schedule" else pytest.param(c, marks=pytest.mark.slow)
                                  for c in sorted(PARITY)])  # float32 below checks every case
def test_matches_optax_step_by_step_with_writes_between_steps(case):
    kwargs, writes = PARITY[case]
    name = _alias_name(case)
    ours, _, _ = _trajectory(gx.inject_hyperparams(getattr(gx, name))(**kwargs), jnp.float64, writes)
    theirs, _, _ = _optax_trajectory(
        optax.inject_hyperparams(getattr(optax, name))(**kwargs), jnp.float64, writes)
    _assert_same(ours, theirs, rtol=1e-6)


@pytest.mark.parametrize("case", sorted(PARITY))
def test_bit_identical_to_optax_in_float32(case):
    # Without x64, as float32 training runs: gradxform's table then holds float32 too, and forms
    # such as 1 - b1 are computed in float32 from the float32 value, as in Optax's wrapper.
    # (Under x64 the table is float64 and those forms are rounded once, a last-bit difference.)
    kwargs, writes = PARITY[case]
    name = _alias_name(case)
    with jax.enable_x64(False):
        ours, _, _ = _trajectory(gx.inject_hyperparams(getattr(gx, name))(**kwargs), jnp.float32, writes)
        theirs, _, _ = _optax_trajectory(
            optax.inject_hyperparams(getattr(optax, name))(**kwargs), jnp.float32, writes)
    _assert_same(ours, theirs, rtol=LAST_BITS.get(case, 0.0))


# Adadelta's step is the same formula in another order: gradxform divides g by sqrt(E[g^2] + eps),
# then multiplies by sqrt(E[dx^2] + eps) (a ratio, then the units link); Optax multiplies g by the
# quotient of the two roots. Whether the two roundings agree depends on the CPU's code path: equal
# on some machines, 1 element of 6 off by 7e-8 relative (under one float32 ulp) on an AVX-512 one.
LAST_BITS = {"adadelta_weight_decay": 1e-6}


def test_state_hyperparams_follow_schedules_and_writes_as_optax():
    kwargs, writes = PARITY["adam_schedule"]
    _, ours, _ = _trajectory(gx.inject_hyperparams(gx.adam)(**kwargs), jnp.float32, writes)
    _, theirs, _ = _optax_trajectory(optax.inject_hyperparams(optax.adam)(**kwargs), jnp.float32, writes)
    assert list(ours.hyperparams) == list(theirs.hyperparams)
    for name in theirs.hyperparams:
        assert ours.hyperparams[name].dtype == theirs.hyperparams[name].dtype
        np.testing.assert_array_equal(ours.hyperparams[name], theirs.hyperparams[name])
    assert int(ours.count) == int(theirs.count) == STEPS


@pytest.mark.parametrize("factory", [gx.adam, gx.adagrad])  # built once; rebuilt at each update
def test_gradxform_table_holds_the_values_state_hyperparams_gave(factory):
    opt = gx.inject_hyperparams(factory)(learning_rate=optax.linear_schedule(0.1, 0.01, 5))
    _, state, _ = _trajectory(opt, jnp.float64, {2: dict(eps=1e-3)})
    table = gx.hyperparams(state)
    for name in set(table) & set(state.hyperparams):
        np.testing.assert_array_equal(table[name], state.hyperparams[name])
    assert {"learning_rate", "eps"} <= set(table)


def test_a_gradxform_optimizer_is_built_once_where_its_table_holds_every_hyperparameter():
    def inner(opt):
        return gx.recipe(opt).get("args", {}).get("inner", {}).get("name")

    assert inner(gx.inject_hyperparams(gx.adam)(learning_rate=0.1)) == "adam"
    assert inner(gx.inject_hyperparams(gx.adamw)(learning_rate=0.1, weight_decay=0.0)) == "adamw"
    # initial_accumulator_value only sets what init makes: no row, so adagrad is rebuilt
    assert gx.recipe(gx.inject_hyperparams(gx.adagrad)(learning_rate=0.1))["name"] == (
        "inject_hyperparams(adagrad)")
    assert gx.recipe(gx.inject_hyperparams(optax.adam)(learning_rate=0.1))["name"] == (
        "inject_hyperparams(adam)")


# --- Every gradxform alias, injected, against Optax's wrapper around the same alias ------------

def _public_aliases():
    return sorted(n for n, f in vars(gx_aliases).items() if not n.startswith("_") and callable(f))


class Case(NamedTuple):
    """How one alias is injected: its arguments (a required one not listed gets 0.1), its
    static arguments, extra arguments of ``update``, and the factory Optax's wrapper is given
    for reference (the alias itself unless named)."""

    kwargs: dict = {}
    static_args: tuple = ()
    extra_args: dict = {}
    reference: Any = None
    rtol: float = 1e-6


# Arguments that exercise more of an alias than its defaults do. Every numeric hyperparameter is
# written mid-run below.
CASES = {
    "adadelta": Case(dict(learning_rate=0.5, weight_decay=0.1)),
    "adafactor": Case(static_args=("min_dim_size_to_factor",)),  # a shape threshold, as in Optax
    "adopt": Case(static_args=("clip_value_fn",)),  # a function of the step, not a schedule
    "muon": Case(static_args=("ns_steps", "fan_in_axis")),  # an iteration count and an axis
    "scale_by_adopt": Case(static_args=("clip_value_fn",)),
    "lamb": Case(dict(learning_rate=0.1, weight_decay=0.01)),
    "lion": Case(dict(learning_rate=0.1, weight_decay=0.01)),
    # Optax's wrapper passes extra arguments only to Optax's GradientTransformationExtraArgs:
    # Optax's own polyak_sgd is the reference.
    "polyak_sgd": Case(extra_args=dict(value=jnp.asarray(1.0)), reference=optax.polyak_sgd),
    "rmsprop": Case(dict(learning_rate=0.1, momentum=0.9, centered=True)),
    "sgd": Case(dict(learning_rate=0.1, momentum=0.9)),
    # Counts and sizes that set shapes or cadences are static, as in Optax.
    "galore": Case(static_args=("rank", "update_proj_gap")),
    "shampoo": Case(static_args=("precondition_frequency", "max_precond_dim")),
    "scale_by_shampoo": Case(static_args=("precondition_frequency", "max_precond_dim")),
    "soap": Case(static_args=("precondition_frequency", "max_precond_dim")),
    "scale_by_soap": Case(static_args=("precondition_frequency", "max_precond_dim")),
    # MADGRAD's step weight sqrt(t) is float32, as Optax's: a learning rate written mid-run rounds
    # there, and the rebuilt alias (the reference) reads it traced in float64 (5e-5 relative on an
    # entry near 0, 2e-6 of the leaf's scale).
    "madgrad": Case(rtol=1e-4),
    "scale_by_madgrad": Case(rtol=1e-4),
}
# noisy_sgd: its key, tested with add_noise. lbfgs: its line search takes the loss function as an
# extra argument of update, which a jitted update cannot receive. scale_by_muon: matrices only,
# and this tree has vectors (muon, which routes them to AdamW, is here).
# dpsgd: per-example gradients (a batch axis this tree lacks), and an int seed. momo, momo_adam,
# sophia: the loss (value=) or the objective (obj_fn=) at every update, with Optax's own as the
# reference (their modules test that against optax.contrib). asgd, torch_rprop: PyTorch's forms,
# built from Python numbers (ASGD's step-size schedule, Rprop's pairs), as PyTorch takes them.
NOT_HERE = {"noisy_sgd", "lbfgs", "scale_by_muon", "dpsgd", "momo", "momo_adam", "sophia", "asgd", "torch_rprop"}


def _moved(value):
    """A new value for a hyperparameter, of the same kind: halfway to 0 for rates and decays."""
    value = float(value)
    return value * 0.5 if value else 0.05


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in _public_aliases() if n not in NOT_HERE])
def test_every_alias_matches_optax_wrapping_it(name):
    factory = getattr(gx, name)
    case = CASES.get(name, Case())
    required = {k: 0.1 for k, p in inspect.signature(factory).parameters.items()
                if p.default is inspect.Parameter.empty}
    kwargs = {**required, **case.kwargs}
    ours_opt = gx.inject_hyperparams(factory, static_args=case.static_args)(**kwargs)
    # Optax's wrapper rebuilds the alias with traced values at every update: the reference for
    # gradxform's, which writes the values into the alias's own table where it can.
    theirs_opt = optax.inject_hyperparams(case.reference or factory, static_args=case.static_args)(
        **kwargs)
    state = ours_opt.init(_params(jnp.float64))
    writes = {3: {n: _moved(v) for n, v in state.hyperparams.items()}}
    ours, _, _ = _trajectory(ours_opt, jnp.float64, writes, case.extra_args)
    theirs, _, _ = _optax_trajectory(theirs_opt, jnp.float64, writes, case.extra_args)
    _assert_same(ours, theirs, rtol=case.rtol)


def test_aliases_build_with_traced_values():
    params = _params(jnp.float32)

    @jax.jit
    def step(weight_decay, rho):
        opt = gx.adadelta(learning_rate=0.5, rho=rho, weight_decay=weight_decay)
        return opt.update(_grads(params, 0), opt.init(params), params)[0]

    traced = step(jnp.float32(0.1), jnp.float32(0.9))
    concrete = gx.adadelta(learning_rate=0.5, rho=0.9, weight_decay=0.1)
    expected = concrete.update(_grads(params, 0), concrete.init(params), params)[0]
    _assert_same([traced], [expected], rtol=1e-6)


# --- jit, dtypes, static arguments ---------------------------------------------------------


def test_writes_do_not_recompile():
    opt = gx.inject_hyperparams(gx.adam)(learning_rate=optax.linear_schedule(0.1, 0.01, 5))
    writes = {i: dict(learning_rate=0.1 / (i + 1), b1=0.9 - 0.05 * i) for i in range(STEPS)}
    _, _, update = _trajectory(opt, jnp.float32, writes)
    assert update._cache_size() == 1


@pytest.mark.parametrize("hyperparam_dtype", [jnp.bfloat16, jnp.float32])
def test_hyperparam_dtype_sets_the_dtype_of_every_float_hyperparameter(hyperparam_dtype):
    opt = gx.inject_hyperparams(gx.adam, hyperparam_dtype=hyperparam_dtype)(learning_rate=0.1, b2=0.95)
    params = _params(jnp.float64)
    state = opt.init(params)
    assert {v.dtype for v in state.hyperparams.values()} == {jnp.dtype(hyperparam_dtype)}
    _, state = jax.jit(opt.update)(_grads(params, 0), state, params)
    assert {v.dtype for v in state.hyperparams.values()} == {jnp.dtype(hyperparam_dtype)}


def test_hyperparameters_default_to_the_params_highest_dtype():
    params = {"a": jnp.ones(2, jnp.bfloat16), "b": jnp.ones(2, jnp.float32)}
    state = gx.inject_hyperparams(gx.adam)(learning_rate=0.1).init(params)
    assert {v.dtype for v in state.hyperparams.values()} == {jnp.dtype(jnp.float32)}
    strong = gx.inject_hyperparams(gx.adam)(learning_rate=0.1, b1=jnp.asarray(0.9, jnp.bfloat16))
    assert strong.init(params).hyperparams["b1"].dtype == jnp.bfloat16  # kept, as in Optax


@pytest.mark.parametrize("static_args", ["mask", ["mask"]])
def test_static_args_are_passed_as_they_are(static_args):
    def masked_sgd(learning_rate, mask):
        return gx.masked(gx.sgd(learning_rate), mask)

    opt = gx.inject_hyperparams(masked_sgd, static_args=static_args)(
        0.1, lambda p: jax.tree.map(lambda x: x.ndim > 1, p))
    params = _params(jnp.float32)
    updates, state = jax.jit(opt.update)(params, opt.init(params), params)
    assert set(state.hyperparams) == {"learning_rate"}
    np.testing.assert_allclose(updates["w"], -0.1 * params["w"], rtol=1e-6)
    np.testing.assert_array_equal(updates["b"], params["b"])


def test_numeric_static_args_stay_out_of_the_state():
    opt = gx.inject_hyperparams(gx.adam, static_args=("b1", "b2"))(learning_rate=0.1, b1=0.5)
    state = opt.init(_params(jnp.float32))
    assert set(state.hyperparams) == {"learning_rate", "eps", "eps_root"}
    ours, _, _ = _trajectory(opt, jnp.float64, {2: dict(learning_rate=0.01)})
    theirs, _, _ = _optax_trajectory(optax.inject_hyperparams(optax.adam, static_args=("b1", "b2"))(
        learning_rate=0.1, b1=0.5), jnp.float64, {2: dict(learning_rate=0.01)})
    _assert_same(ours, theirs, rtol=1e-6)


# --- Stateful schedules ----------------------------------------------------------------------


class _Total(NamedTuple):
    total: jax.Array


class _RunningTotal:
    """A stateful schedule whose value is the sum of the ``addendum`` extra arguments so far."""

    def init(self):
        return _Total(jnp.zeros([], jnp.float32))

    def update(self, state, **extra_args):
        return _Total(state.total + extra_args["addendum"])

    def __call__(self, state, **extra_args):
        return state.total


def test_inject_stateful_hyperparams_runs_a_stateful_schedule():
    assert isinstance(_RunningTotal(), gx.schedules.StatefulSchedule)
    opt = gx.inject_stateful_hyperparams(gx.sgd)(learning_rate=_RunningTotal())
    params = _params(jnp.float32)
    state = jax.jit(opt.init)(params)
    update = jax.jit(opt.update)
    grads = jax.tree.map(jnp.ones_like, params)
    first, state = update(grads, state, params, addendum=jnp.float32(0.3))
    second, state = update(grads, state, params, addendum=jnp.float32(0.3))
    np.testing.assert_array_equal(first["b"], np.zeros(3))  # the value before any update: 0
    np.testing.assert_allclose(second["b"], np.full(3, -0.3), rtol=1e-6)
    np.testing.assert_allclose(state.hyperparams["learning_rate"], 0.3, rtol=1e-6)
    np.testing.assert_allclose(state.hyperparams_states["learning_rate"].total, 0.6, rtol=1e-6)


def test_wrapped_schedule_counts_steps():
    schedule = gx.linear_schedule(1.0, 0.0, 4)
    wrapped = gx.WrappedSchedule(schedule)
    state = wrapped.init()
    for step in range(6):
        assert int(state.count) == step
        np.testing.assert_array_equal(wrapped(state, loss=1.0), schedule(step))
        state = wrapped.update(state, loss=1.0)


def test_a_plain_schedule_is_evaluated_at_0_on_the_first_update():
    opt = gx.inject_hyperparams(gx.scale)(lambda count: count.astype(jnp.float32))
    updates, _ = jax.jit(opt.update)(jnp.ones(3), opt.init(jnp.zeros(3)))
    np.testing.assert_array_equal(updates, np.zeros(3))


# --- Errors ----------------------------------------------------------------------------------


def test_static_args_must_be_arguments():
    with pytest.raises(ValueError, match=r"inject_hyperparams: static_args must name arguments of adam, "
                                         r"got \['lr'\]; its arguments are \['learning_rate'"):
        gx.inject_hyperparams(gx.adam, static_args="lr")


def test_an_unknown_hyperparameter_is_named():
    with pytest.raises(TypeError, match=r"inject_hyperparams\(adam\): got an unexpected keyword "
                                        r"argument 'lr'\. adam takes \['learning_rate'"):
        gx.inject_hyperparams(gx.adam)(learning_rate=0.1, lr=0.1)


def test_a_misspelt_write_into_the_state_is_an_error():
    opt = gx.inject_hyperparams(gx.adam)(learning_rate=0.1)
    params = _params(jnp.float32)
    state = opt.init(params)
    state.hyperparams["learnig_rate"] = 0.2
    with pytest.raises(ValueError, match=r"state\.hyperparams has \['learnig_rate'\], which adam was "
                                         r"not given as hyperparameters"):
        opt.update(params, state, params)
    del state.hyperparams["learnig_rate"], state.hyperparams["b1"]
    with pytest.raises(ValueError, match=r"state\.hyperparams lacks \['b1'\]"):
        opt.update(params, state, params)


def test_bad_values_get_the_optimizers_own_errors():
    with pytest.raises(ValueError, match="adadelta: rho must be in"):
        gx.inject_hyperparams(gx.adadelta)(learning_rate=0.1, rho=1.5)


def test_the_factory_keeps_its_signature():
    assert inspect.signature(gx.inject_hyperparams(gx.adam)) == inspect.signature(gx.adam)


def test_the_factory_and_a_wrapped_schedule_must_be_functions():
    with pytest.raises(TypeError, match=r"inject_hyperparams: inner_factory must be a function, got float 0\.1"):
        gx.inject_hyperparams(0.1)
    with pytest.raises(TypeError, match=r"WrappedSchedule: schedule_fn must be a function, got float 0\.1"):
        gx.WrappedSchedule(0.1)
