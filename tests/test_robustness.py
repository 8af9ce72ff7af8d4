"""Nothing silently wrong (issue 19): updates that would broadcast, a step that would poison the
state, eps = 0 with zero gradients, and the smaller faults found on the way.

Grouped by category; each test fails on the code before the fix.
"""
from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import registry

import gradxform as gx

PARAMS = {"w": jnp.ones((2, 3))}
BROADCASTING = {"w": jnp.ones((1, 3))}  # JAX broadcasts (1, 3) against (2, 3) without a word


# --- Shapes that broadcast ------------------------------------------------------------------------


# Entries whose arguments the checks below refuse (eps = 0 with eps_root = 0), as they are allowed.
ALLOWED_INSTEAD = {"radam_liu": lambda: gx.radam(1e-3, b2=0.99, threshold=4.0)}


@pytest.mark.parametrize("entry", registry.REGISTRY, ids=[e.name for e in registry.REGISTRY])
def test_every_alias_refuses_updates_that_would_broadcast_against_the_params(entry):
    opt = ALLOWED_INSTEAD.get(entry.name, entry.make)()
    extra = entry.needs_extra_args(PARAMS, PARAMS) if entry.needs_extra_args else {}
    with pytest.raises(ValueError, match=re.escape("updates['w'] has shape (1, 3), params['w'] has (2, 3).")):
        opt.update(BROADCASTING, opt.init(PARAMS), PARAMS, **extra)


def test_the_error_names_the_alias_the_path_and_both_shapes():
    opt = gx.adam(0.1)
    params = {"w": jnp.ones(3)}
    expected = "adam.update: updates['w'] has shape (1,), params['w'] has (3,)."
    with pytest.raises(ValueError, match=re.escape(expected)):
        opt.update({"w": jnp.ones(1)}, opt.init(params), params)


def test_without_params_a_stateful_alias_finds_the_broadcast_in_its_state():
    opt = gx.adam(0.1)
    params = {"w": jnp.ones(3)}
    expected = "adam.update: updates['w'] has shape (1,), but the state was made by init() for shape (3,)"
    with pytest.raises(ValueError, match=re.escape(expected)):
        opt.update({"w": jnp.ones(1)}, opt.init(params))


def test_a_step_that_would_broadcast_the_state_itself_is_refused():
    opt = gx.rmsprop(0.1)  # (3,) updates against a (1,) moment: the moment would become (3,)
    with pytest.raises(ValueError, match=r"rmsprop\.update: this step would change the shape of the state"):
        opt.update({"w": jnp.ones(3)}, opt.init({"w": jnp.ones(1)}))


def test_the_check_runs_when_jit_traces_the_step():
    opt = gx.sgd(0.1)
    params = {"w": jnp.ones(3)}
    step = jax.jit(lambda u, s, p: opt.update(u, s, p))
    with pytest.raises(ValueError, match=re.escape("sgd.update: updates['w'] has shape (1,)")):
        step({"w": jnp.ones(1)}, opt.init(params), params)


def test_per_example_gradients_with_a_batch_axis_still_reach_a_chain_that_sums_them():
    opt = gx.dpsgd(0.1, l2_norm_clip=1.0, noise_multiplier=0.0, seed=0)
    params = {"w": jnp.ones(3)}
    updates, _ = opt.update({"w": jnp.ones((4, 3))}, opt.init(params), params)
    assert updates["w"].shape == (3,)


@pytest.mark.parametrize(
    "make, who",
    [
        (lambda: gx.MultiSteps(gx.adam(0.1), every_k_schedule=2), "MultiSteps: updates['w'] has shape (1,), "
                                                                  "the accumulator (shaped like the params) has (3,)"),
        (lambda: gx.masked(gx.adam(0.1), {"w": True}), "adam.update: updates['w'] has shape (1,)"),
        (lambda: gx.ema_params(gx.sgd(0.1)), "ema_params: updates['w'] has shape (1,), params['w'] has (3,)"),
        (lambda: gx.swa(gx.sgd(0.1)), "swa: updates['w'] has shape (1,), params['w'] has (3,)"),
    ],
    ids=["MultiSteps", "masked", "ema_params", "swa"],
)
def test_wrappers_refuse_updates_that_would_broadcast(make, who):
    opt = make()
    params = {"w": jnp.ones(3)}
    with pytest.raises(ValueError, match=re.escape(who)):
        opt.update({"w": jnp.ones(1)}, opt.init(params), params)


def test_apply_updates_refuses_an_update_that_would_broadcast():
    with pytest.raises(ValueError, match=re.escape("apply_updates: updates['w'] has shape (1,), params['w'] has (3,)")):
        gx.apply_updates({"w": jnp.ones(3)}, {"w": jnp.ones(1)})


def test_python_float_leaves_are_accepted_as_optax_accepts_them():
    opt = gx.adam(0.1)
    ours, _ = opt.update({"w": 0.5}, opt.init({"w": 1.0}), {"w": 1.0})
    as_arrays, _ = opt.update({"w": jnp.array(0.5)}, opt.init({"w": jnp.array(1.0)}))
    with jax.numpy_dtype_promotion("standard"):  # Optax's own arithmetic mixes dtypes
        theirs, _ = optax.adam(0.1).update({"w": 0.5}, optax.adam(0.1).init({"w": 1.0}))
    np.testing.assert_array_equal(ours["w"], as_arrays["w"])
    np.testing.assert_array_equal(ours["w"], theirs["w"])
    sgd = gx.sgd(0.1)
    assert float(sgd.update({"w": 2.0}, sgd.init({"w": 1.0}))[0]["w"]) == pytest.approx(-0.2)


def test_integer_params_are_refused_at_init_even_by_a_stateless_alias():
    expected = "sgd.init: every parameter must have a floating-point or complex dtype, got int32 at ['w']"
    with pytest.raises(TypeError, match=re.escape(expected)):
        gx.sgd(0.1).init({"w": jnp.arange(3, dtype=jnp.int32)})
    with pytest.raises(TypeError, match=r"got int(32|64) at \['w'\]"):
        gx.sgd(0.1).init({"w": 1})  # a Python int is an integer parameter


def test_integer_gradients_are_refused_instead_of_overflowing():
    opt = gx.nadam(0.1)
    params = {"w": jnp.ones(3)}
    expected = "nadam.update: updates['w'] has dtype int32; updates must be floating point or complex"
    with pytest.raises(TypeError, match=re.escape(expected)):
        opt.update({"w": jnp.ones(3, jnp.int32)}, opt.init(params), params)


def test_a_complex_update_for_a_real_parameter_is_refused():
    opt = gx.sgd(0.1)
    params = {"w": jnp.ones(2)}
    expected = "sgd.update: updates['w'] is complex (complex64) but params['w'] is real"
    with pytest.raises(TypeError, match=re.escape(expected)):
        opt.update({"w": jnp.ones(2, jnp.complex64)}, opt.init(params), params)


# --- A step that poisons the state ----------------------------------------------------------------

F32 = jnp.float32  # the tests run with x64 on: float32 is asked for where overflow is the point
HUGE = {"w": jnp.array([1e30, 1.0, 0.0], F32)}  # finite, but 1e30 ** 2 is inf in float32


def test_the_global_norm_of_huge_finite_gradients_is_finite():
    norm = gx.global_norm({"w": jnp.array([1e30, 1.0], F32), "b": jnp.array(3e30, F32)})
    np.testing.assert_allclose(norm, np.sqrt(10.0) * 1e30, rtol=1e-6)
    np.testing.assert_allclose(gx.global_norm({"w": jnp.array([3e38, 1e38], F32)}), np.sqrt(10.0) * 1e38, rtol=1e-6)
    np.testing.assert_allclose(jax.jit(gx.global_norm)(HUGE), 1e30, rtol=1e-6)
    np.testing.assert_allclose(gx.global_norm({"w": jnp.ones(2, jnp.bfloat16) * 1e38}), np.sqrt(2.0) * 1e38, rtol=1e-2)


def test_the_global_norm_stays_inf_or_nan_where_an_entry_is():
    assert gx.global_norm({"w": jnp.array([jnp.inf, 1.0], F32)}) == jnp.inf
    assert jnp.isnan(gx.global_norm({"w": jnp.array([jnp.nan, 1e30], F32)}))


def test_the_global_norm_of_ordinary_gradients_is_optax_s_bit_for_bit():
    key = jax.random.key(0)
    tree = {"a": jax.random.normal(key, (7, 5), F32), "b": jax.random.normal(jax.random.key(1), (11,), F32) * 1e3}
    np.testing.assert_array_equal(gx.global_norm(tree), optax.tree.norm(tree))


def test_clip_by_global_norm_keeps_the_direction_of_huge_gradients():
    opt = gx.clip_by_global_norm(1.0)
    clipped, _ = opt.update(HUGE, opt.init(HUGE))
    np.testing.assert_allclose(clipped["w"], [1.0, 1e-30, 0.0], rtol=1e-6)
    ordinary = {"w": jnp.array([0.3, 4.1], F32)}
    ours, _ = opt.update(ordinary, opt.init(ordinary))
    theirs, _ = optax.clip_by_global_norm(1.0).update(ordinary, optax.clip_by_global_norm(1.0).init(ordinary))
    np.testing.assert_array_equal(ours["w"], theirs["w"])


POISONED = {
    "adam": lambda: gx.adam(0.1),
    "adagrad": lambda: gx.adagrad(0.1),
    "rmsprop": lambda: gx.rmsprop(0.1),
    "adadelta": lambda: gx.adadelta(),
    "nadam": lambda: gx.nadam(0.1),
    "amsgrad": lambda: gx.amsgrad(0.1),
    "lamb": lambda: gx.lamb(0.1),
    "swats": lambda: gx.swats(0.1),
    "qhadam": lambda: gx.qhadam(0.1),
}


def _finite(tree) -> bool:
    return all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(tree)
               if jnp.issubdtype(x.dtype, jnp.inexact))


@pytest.mark.parametrize("name", POISONED)
def test_a_huge_finite_gradient_overflows_the_state_of(name):
    opt = POISONED[name]()  # what apply_if_finite guards against below
    params = {"w": jnp.ones(3, F32)}
    _, state = opt.update(HUGE, opt.init(params), params)
    assert not _finite(state)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("name", POISONED)
def test_apply_if_finite_drops_a_step_whose_new_state_would_not_be_finite(name, jit):
    opt = gx.apply_if_finite(POISONED[name](), max_consecutive_errors=3)
    params = {"w": jnp.ones(3, F32)}
    ordinary = {"w": jnp.array([0.5, -0.5, 0.25], F32)}
    update = jax.jit(opt.update) if jit else opt.update
    state = opt.init(params)
    _, state = update(ordinary, state, params)
    before = state.inner_state
    updates, state = update(HUGE, state, params)
    np.testing.assert_array_equal(updates["w"], jnp.zeros(3))
    jax.tree.map(np.testing.assert_array_equal, state.inner_state, before)  # the old state, intact
    assert (int(state.notfinite_count), bool(state.last_finite), int(state.total_notfinite)) == (1, False, 1)
    updates, state = update(ordinary, state, params)
    assert _finite(updates) and _finite(state) and bool(jnp.any(updates["w"] != 0))
    assert int(state.notfinite_count) == 0


def test_apply_if_finite_still_applies_a_poisoning_step_after_max_consecutive_errors():
    opt = gx.apply_if_finite(gx.adam(0.1), max_consecutive_errors=1)
    params = {"w": jnp.ones(3, F32)}
    state = opt.init(params)
    _, state = opt.update(HUGE, state, params)  # skipped
    _, state = opt.update(HUGE, state, params)  # the second in a row is applied, as documented
    assert not _finite(state.inner_state)
    assert int(state.total_notfinite) == 2


# --- eps = 0 with zero gradients ------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: gx.adam(0.1, eps=0.0), "adam: eps and eps_root must not both be 0"),
        (lambda: gx.adamw(0.1, eps=0.0), "adamw: eps and eps_root must not both be 0"),
        (lambda: gx.nadam(0.1, eps=0.0), "nadam: eps and eps_root must not both be 0"),
        (lambda: gx.amsgrad(0.1, eps=0.0), "amsgrad: eps and eps_root must not both be 0"),
        (lambda: gx.radam(0.1, eps=0.0), "radam: eps and eps_root must not both be 0"),
        (lambda: gx.lamb(0.1, eps=0.0), "lamb: eps and eps_root must not both be 0"),
        (lambda: gx.rmsprop(0.1, eps=0.0), "rmsprop: initial_scale and eps must not both be 0"),
        (lambda: gx.adamax(0.1, eps=0.0), "adamax: eps must be a finite number > 0"),
        (lambda: gx.qhadam(0.1, eps=0.0), "qhadam: eps must be a finite number > 0"),
        (lambda: gx.adafactor(0.1, eps=0.0), "adafactor: eps must be a finite number > 0"),
        (lambda: gx.adafactor(0.1, eps=0.0, eps_placement="estimate"), "adafactor: eps must be a finite number > 0"),
        (lambda: gx.prodigy(eps=0.0), "prodigy: eps must be a finite number > 0"),
        (lambda: gx.dadapt_adamw(eps=0.0), "dadapt_adamw: eps must be a finite number > 0"),
        (lambda: gx.schedule_free_adamw(0.1, eps=0.0), "schedule_free_adamw: eps must be a finite number > 0"),
        (lambda: gx.swats(0.1, eps=0.0), "swats: eps must be a finite number > 0"),
        (lambda: gx.madgrad(0.1, eps=0.0), "madgrad: eps must be a finite number > 0"),
        (lambda: gx.novograd(0.1, eps=0.0), "novograd: eps and eps_root must not both be 0"),
        (lambda: gx.simplified_ademamix(0.1, eps=0.0), "simplified_ademamix: eps and eps_root must not both be 0"),
    ],
    ids=["adam", "adamw", "nadam", "amsgrad", "radam", "lamb", "rmsprop", "adamax", "qhadam", "adafactor",
         "adafactor_estimate", "prodigy", "dadapt_adamw", "schedule_free_adamw", "swats", "madgrad", "novograd",
         "simplified_ademamix"],
)
def test_eps_zero_is_refused_where_zero_gradients_would_divide_0_by_0(make, message):
    with pytest.raises(ValueError, match=_named_by(message)):
        make()


def _named_by(message: str) -> str:
    """``message``'s regex, allowing the primitive that raised it after the alias's name."""
    who, rest = message.split(": ", 1)
    return rf"{re.escape(who)}: (\w+: )?{re.escape(rest)}"


@pytest.mark.parametrize(
    "make",
    [lambda: gx.adam(0.1, eps=0.0, eps_root=1e-16), lambda: gx.nadam(0.1, eps=0.0, eps_root=1e-16),
     lambda: gx.amsgrad(0.1, eps=0.0, eps_root=1e-16), lambda: gx.rmsprop(0.1, eps=0.0, initial_scale=1.0),
     lambda: gx.novograd(0.1, eps=0.0, eps_root=1e-16), lambda: gx.simplified_ademamix(0.1, eps=0.0, eps_root=1e-16)],
    ids=["adam", "nadam", "amsgrad", "rmsprop", "novograd", "simplified_ademamix"],
)
def test_eps_zero_with_the_documented_alternative_gives_finite_zero_updates(make):
    opt = make()
    params = {"w": jnp.ones(3)}
    state = opt.init(params)
    for _ in range(3):
        updates, state = opt.update({"w": jnp.zeros(3)}, state, params)
    np.testing.assert_array_equal(updates["w"], jnp.zeros(3))


# --- Smaller faults -------------------------------------------------------------------------------


def test_qhadam_with_nu2_1_keeps_a_huge_gradient_finite():
    opt = gx.qhadam(0.1)  # nu2 = 1: the (1 - nu2) g^2 term has weight 0, even where g^2 is inf
    params = {"w": jnp.ones(3, F32)}
    updates, _ = opt.update(HUGE, opt.init(params), params)
    assert _finite(updates)


def test_a_parallel_sum_term_of_weight_zero_is_zero_whatever_its_branch_holds():
    opt = gx.chain(gx.parallel_sum((gx.hyperparameter("a", 0.0), gx.square()), (1.0, gx.identity())))
    updates, _ = opt.update({"w": jnp.array([1e30, 2.0], F32)}, opt.init({"w": jnp.zeros(2, F32)}))
    np.testing.assert_array_equal(updates["w"], jnp.array([1e30, 2.0], F32))


@pytest.mark.parametrize("k", [0, 0.5, -1])
def test_multisteps_refuses_a_schedule_whose_first_k_is_below_1(k):
    with pytest.raises(ValueError, match=re.escape(f"every_k_schedule(0)={k!r}. With k < 1")):
        gx.MultiSteps(gx.sgd(1.0), every_k_schedule=lambda step: k)


def test_multisteps_refuses_a_schedule_that_returns_no_scalar():
    with pytest.raises(TypeError, match=r"MultiSteps: every_k_schedule must return a scalar"):
        gx.MultiSteps(gx.sgd(1.0), every_k_schedule=lambda step: jnp.ones(2))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: gx.adadelta(eps=1e-45), "adadelta: eps must be 0 or at least 1.18e-38"),
        (lambda: gx.adagrad(0.1, initial_accumulator_value=0.0, eps=1e-45), "adagrad: eps must be 0 or at least"),
        (lambda: gx.adam(0.1, eps=1e-45), "adam: eps must be 0 or at least"),
        (lambda: gx.adamax(0.1, eps=1e-45), "adamax: eps must be 0 or at least"),
    ],
    ids=["adadelta", "adagrad", "adam", "adamax"],
)
def test_a_subnormal_eps_that_xla_would_flush_to_zero_is_refused(make, message):
    with pytest.raises(ValueError, match=_named_by(message)):
        make()


def test_the_subnormal_rule_also_guards_set_hyperparams():
    opt = gx.adam(0.1)
    state = opt.init(PARAMS)
    with pytest.raises(ValueError, match=r"eps must be 0 or at least"):
        gx.set_hyperparams(state, eps=1e-45)


# --- All-zero gradients: the first steps of a frozen layer, a masked batch -------------------------


@pytest.mark.parametrize(
    "make", [gx.prodigy, gx.dadapt_adamw, lambda: gx.sam(gx.sgd(0.1), [gx.normalize(), gx.sgd(0.1)])],
    ids=["prodigy", "dadapt_adamw", "sam_normalized"])
def test_steps_of_all_zero_gradients_leave_the_state_finite_and_a_later_gradient_moves_the_params(make):
    # Optax's prodigy, dadapt_adamw and contrib.normalize divide 0 by 0 here: NaN for good.
    opt = make()
    params = {"w": jnp.ones((3, 2)), "b": jnp.ones(2)}
    state = opt.init(params)
    for _ in range(3):
        updates, state = opt.update(jax.tree.map(jnp.zeros_like, params), state, params)
        assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves((updates, state)))
    grads = {"w": jnp.full((3, 2), 0.5), "b": jnp.full(2, -0.5)}
    updates, state = opt.update(grads, state, params)
    assert all(np.isfinite(np.asarray(x)).all() and np.any(np.asarray(x) != 0) for x in jax.tree.leaves(updates))
