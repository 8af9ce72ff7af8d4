"""Adam's variants (gradxform/aliases/adam_variants.py) and the directions added beside
adamax, radam and lion: float32 bit-identity with Optax, the ``scale_by_*`` directions alone and
inside ``optax.chain``, recipes and errors.

The float64 trajectories against Optax, on every problem, are in the registry
(tests/registry_adam_variants.py).
"""
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from harness import trajectory
from problems import PROBLEMS

import gradxform as gx

pytestmark = pytest.mark.slow  # about a minute and a half: a compiled trajectory per case

QUADRATIC = PROBLEMS[0]


def _decay_matrices(params):
    return jax.tree.map(lambda v: v.ndim > 1, params)


def _optax_trajectory(make, problem, steps, dtype=np.float64):
    with jax.numpy_dtype_promotion("standard"):  # Optax mixes int and float
        return trajectory(make(), problem, steps, dtype=dtype)


def _assert_identical(actual, expected):
    for step, (a, e) in enumerate(zip(actual, expected)):
        for key in e:
            np.testing.assert_array_equal(a[key], e[key], err_msg=f"step {step + 1}, leaf {key!r}")


# --- float32: the same bits as Optax ----------------------------------------------------------

# (ours, Optax's) with the same arguments
BIT_IDENTICAL = {
    "adabelief": (lambda: gx.adabelief(1e-2), lambda: optax.adabelief(1e-2)),
    "adabelief_kwargs": (
        lambda: gx.adabelief(3e-3, b1=0.8, b2=0.99, eps=1e-8, eps_root=1e-10),
        lambda: optax.adabelief(3e-3, b1=0.8, b2=0.99, eps=1e-8, eps_root=1e-10),
    ),
    "yogi": (lambda: gx.yogi(1e-2), lambda: optax.yogi(1e-2)),
    "yogi_kwargs": (
        lambda: gx.yogi(3e-3, b1=0.8, b2=0.99, eps=1e-4),
        lambda: optax.yogi(3e-3, b1=0.8, b2=0.99, eps=1e-4),
    ),
    "adan": (lambda: gx.adan(1e-2), lambda: optax.adan(1e-2)),
    "adan_masked_decay": (
        lambda: gx.adan(3e-3, b1=0.9, b2=0.8, b3=0.95, eps=1e-6, weight_decay=1e-2, mask=_decay_matrices),
        lambda: optax.adan(3e-3, b1=0.9, b2=0.8, b3=0.95, eps=1e-6, weight_decay=1e-2, mask=_decay_matrices),
    ),
    "adamaxw_masked": (
        lambda: gx.adamaxw(3e-3, b1=0.8, b2=0.99, weight_decay=0.1, mask=_decay_matrices),
        lambda: optax.adamaxw(3e-3, b1=0.8, b2=0.99, weight_decay=0.1, mask=_decay_matrices),
    ),
}

# Same formulas in the same order, but XLA's CPU backend contracts a multiply and an add into
# one fused multiply-add in some fusions and not in others, and the fusions follow the shape of
# the computation: Optax's NovoGrad computes its first step and later steps in a lax.cond whose
# branches are compiled apart (where (1 - b2) |g|^2 + b2 nu is contracted), ours in one
# jnp.where; AdaBelief's Nesterov numerator fuses differently beside our second copy of the
# momentum, AdaMaxW's decay of the scalar leaf beside its ratio. Op by op (without jit),
# AdaBelief with Nesterov and AdaMaxW are bit-identical (EAGERLY_BIT_IDENTICAL); under jit all
# differ from Optax by an ulp or two where they differ at all.
ONE_ULP_APART = {
    "adamaxw": (lambda: gx.adamaxw(1e-2), lambda: optax.adamaxw(1e-2)),
    "adabelief_nesterov": (
        lambda: gx.adabelief(3e-3, b1=0.8, b2=0.99, eps=1e-8, eps_root=1e-10, nesterov=True),
        lambda: optax.adabelief(3e-3, b1=0.8, b2=0.99, eps=1e-8, eps_root=1e-10, nesterov=True),
    ),
    "novograd": (lambda: gx.novograd(1e-2), lambda: optax.novograd(1e-2)),
    "novograd_decayed": (
        lambda: gx.novograd(3e-3, b1=0.8, b2=0.5, eps=1e-8, eps_root=1e-10, weight_decay=1e-2),
        lambda: optax.novograd(3e-3, b1=0.8, b2=0.5, eps=1e-8, eps_root=1e-10, weight_decay=1e-2),
    ),
}


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.name)
@pytest.mark.parametrize("name", sorted(BIT_IDENTICAL))
def test_float32_trajectory_is_bit_identical_to_optax(name, problem):
    ours, theirs = BIT_IDENTICAL[name]
    expected = _optax_trajectory(theirs, problem, 20, np.float32)
    _assert_identical(trajectory(ours(), problem, 20, dtype=np.float32), expected)


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.name)
@pytest.mark.parametrize("name", sorted(ONE_ULP_APART))
def test_float32_trajectory_is_within_an_ulp_or_two_of_optax(name, problem):
    ours, theirs = ONE_ULP_APART[name]
    expected = _optax_trajectory(theirs, problem, 20, np.float32)
    actual = trajectory(ours(), problem, 20, dtype=np.float32)
    for step, (a, e) in enumerate(zip(actual, expected)):
        for key in e:
            np.testing.assert_allclose(a[key], e[key], rtol=1e-6, atol=0, err_msg=f"step {step + 1}")


EAGERLY_BIT_IDENTICAL = ["adabelief_nesterov", "adamaxw"]


@pytest.mark.parametrize("name", EAGERLY_BIT_IDENTICAL)
def test_float32_trajectory_op_by_op_is_bit_identical_to_optax(name):
    ours, theirs = ONE_ULP_APART[name]
    with jax.numpy_dtype_promotion("standard"):
        expected = trajectory(theirs(), QUADRATIC, 20, dtype=np.float32, jit=False)
    _assert_identical(trajectory(ours(), QUADRATIC, 20, dtype=np.float32, jit=False), expected)


# --- scale_by_*: alone, inside optax.chain, and inside gx.chain ----------------------------------

DIRECTIONS = {
    "scale_by_belief": (lambda: gx.scale_by_belief(b1=0.8), lambda: optax.scale_by_belief(b1=0.8)),
    "scale_by_belief_nesterov": (
        lambda: gx.scale_by_belief(eps=1e-8, nesterov=True),
        lambda: optax.scale_by_belief(eps=1e-8, nesterov=True),
    ),
    "scale_by_yogi": (
        lambda: gx.scale_by_yogi(b2=0.99, eps_root=1e-8, initial_accumulator_value=1e-3),
        lambda: optax.scale_by_yogi(b2=0.99, eps_root=1e-8, initial_accumulator_value=1e-3),
    ),
    "scale_by_adan": (lambda: gx.scale_by_adan(b3=0.95), lambda: optax.scale_by_adan(b3=0.95)),
    "scale_by_novograd": (
        lambda: gx.scale_by_novograd(b1=0.8, weight_decay=1e-2),
        lambda: optax.scale_by_novograd(b1=0.8, weight_decay=1e-2),
    ),
    "scale_by_adamax": (lambda: gx.scale_by_adamax(b2=0.99), lambda: optax.scale_by_adamax(b2=0.99)),
    "scale_by_radam": (lambda: gx.scale_by_radam(b2=0.99), lambda: optax.scale_by_radam(b2=0.99)),
    "scale_by_radam_nesterov": (
        lambda: gx.scale_by_radam(eps_root=1e-8, threshold=6.0, nesterov=True),
        lambda: optax.scale_by_radam(eps_root=1e-8, threshold=6.0, nesterov=True),
    ),
    "scale_by_lion": (lambda: gx.scale_by_lion(b1=0.8), lambda: optax.scale_by_lion(b1=0.8)),
    "scale_by_lion_smooth": (
        lambda: gx.scale_by_lion(mode="smooth", smooth_beta=3.0),
        lambda: optax.scale_by_lion(mode="smooth", smooth_beta=3.0),
    ),
    "scale_by_lion_refined": (
        lambda: gx.scale_by_lion(mode="refined"), lambda: optax.scale_by_lion(mode="refined")
    ),
}


# float64, compiled: an ulp apart at most where XLA fuses a multiply-add differently (see
# ONE_ULP_APART); the float32 bits are checked through the optimizers above.
RTOL = 1e-13


@pytest.mark.parametrize("name", sorted(DIRECTIONS))
def test_direction_counts_its_own_steps_inside_optax_chain(name):
    ours, theirs = DIRECTIONS[name]
    expected = _optax_trajectory(lambda: optax.chain(theirs(), optax.scale(-1e-2)), QUADRATIC, 30)
    with jax.numpy_dtype_promotion("standard"):
        actual = trajectory(optax.chain(ours(), optax.scale(-1e-2)), QUADRATIC, 30)
    for a, e in zip(actual, expected):
        for key in e:
            np.testing.assert_allclose(a[key], e[key], rtol=RTOL, atol=0)


def _directions(transform, grads, params, standard_promotion=False):
    state, out = transform.init(params), []
    update = jax.jit(transform.update)
    for g in grads:
        with jax.numpy_dtype_promotion("standard" if standard_promotion else "strict"):
            u, state = update(g, state, params)
        out.append(u)
    return out


@pytest.mark.parametrize("name", sorted(DIRECTIONS))
def test_direction_alone_outputs_optaxs_direction_at_every_step(name):
    ours, theirs = DIRECTIONS[name]
    rng = np.random.default_rng(0)
    params = {"w": jnp.asarray(rng.normal(size=(3, 2))), "b": jnp.asarray(rng.normal())}
    grads = [jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape)), params) for _ in range(25)]
    expected = _directions(theirs(), grads, params, standard_promotion=True)
    for a, e in zip(_directions(ours(), grads, params), expected):
        for key in e:
            np.testing.assert_allclose(a[key], e[key], rtol=RTOL, atol=0)


@pytest.mark.parametrize(
    "direction, alias",
    [
        (lambda: gx.scale_by_belief(), lambda: gx.adabelief(1e-2)),
        (lambda: gx.scale_by_yogi(), lambda: gx.yogi(1e-2)),
        (lambda: gx.scale_by_adamax(), lambda: gx.adamax(1e-2)),
        (lambda: gx.scale_by_radam(), lambda: gx.radam(1e-2)),
    ],
    ids=["adabelief", "yogi", "adamax", "radam"],
)
def test_direction_then_learning_rate_is_the_optimizer(direction, alias):
    composed = gx.chain(direction(), gx.scale_by_learning_rate(1e-2))
    _assert_identical(trajectory(composed, QUADRATIC, 20), trajectory(alias(), QUADRATIC, 20))


def test_adan_and_novograd_are_their_directions_then_decay_and_learning_rate():
    adan = gx.chain(gx.scale_by_adan(eps_root=1e-8), gx.weight_decay(0.1), gx.scale_by_learning_rate(1e-2))
    _assert_identical(trajectory(adan, QUADRATIC, 20), trajectory(gx.adan(1e-2, weight_decay=0.1), QUADRATIC, 20))
    novograd = gx.chain(gx.scale_by_novograd(eps=1e-6, weight_decay=0.1), gx.scale_by_learning_rate(1e-2))
    _assert_identical(
        trajectory(novograd, QUADRATIC, 20), trajectory(gx.novograd(1e-2, weight_decay=0.1), QUADRATIC, 20)
    )


def test_lion_is_its_direction_then_decay_and_learning_rate():
    composed = gx.chain(gx.scale_by_lion(), gx.weight_decay(1e-3), gx.scale_by_learning_rate(1e-3))
    _assert_identical(trajectory(composed, QUADRATIC, 20), trajectory(gx.lion(1e-3), QUADRATIC, 20))


# --- What the recipes are made of ----------------------------------------------------------------


@pytest.mark.parametrize(
    "make, primitives",
    [
        (lambda: gx.adabelief(1e-2), ["parallel_sum", "belief_moment", "bias_correction(decay=b2)"]),
        (lambda: gx.yogi(1e-2), ["initial_value=1e-06", "yogi_moment(decay=b2", "sqrt_plus_eps"]),
        (lambda: gx.adan(1e-2), ["gradient_difference()", "mean_of_squares(decay=b3)", "weight_decay"]),
        (lambda: gx.novograd(1e-2), ["layerwise_mean_of_squares(decay=b2)", "scale_by_momentum(decay=b1)"]),
        (lambda: gx.adamaxw(1e-2), ["infinity_moment", "weight_decay(rate=weight_decay"]),
        (lambda: gx.scale_by_lion(mode="smooth"), ["interpolated_momentum", "smooth_sign(beta=smooth_beta)"]),
        (lambda: gx.scale_by_lion(mode="refined"), ["saturating_sign()"]),
    ],
    ids=["adabelief", "yogi", "adan", "novograd", "adamaxw", "lion_smooth", "lion_refined"],
)
def test_recipe_shows_the_papers_terms(make, primitives):
    printed = repr(make())
    for primitive in primitives:
        assert primitive in printed, printed


def test_each_hyperparameter_is_stored_once_by_name():
    params = {"w": jnp.zeros(3)}
    assert set(gx.hyperparams(gx.adan(1e-2).init(params))) == {
        "learning_rate", "b1", "b2", "b3", "eps", "eps_root"}  # weight_decay=0: nothing to decay
    assert set(gx.hyperparams(gx.adabelief(1e-2).init(params))) == {
        "learning_rate", "b1", "b2", "eps", "eps_root"}


def test_set_b2_on_adan_changes_every_term_it_weighs_as_rebuilding_does():
    params = {"w": jnp.array([1.0, -2.0])}
    grads = [{"w": jnp.array([0.5, -0.25])}, {"w": jnp.array([-0.1, 0.3])}, {"w": jnp.array([0.2, 0.2])}]
    opt, rebuilt = gx.adan(1e-2), gx.adan(1e-2, b2=0.5)
    state, expected_state = gx.set_hyperparams(opt.init(params), b2=0.5), rebuilt.init(params)
    for g in grads:
        out, state = opt.update(g, state, params)
        expected, expected_state = rebuilt.update(g, expected_state, params)
        np.testing.assert_allclose(out["w"], expected["w"], rtol=1e-6)


# --- Yogi's moment starts at its initial value ----------------------------------------------------


def test_yogi_starts_both_moments_at_the_initial_accumulator_value():
    state = gx.scale_by_yogi(initial_accumulator_value=0.25).init({"w": jnp.zeros(2)})
    momentum = [s for s in jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, gx.ScaleByMomentumState))
                if isinstance(s, gx.ScaleByMomentumState)]
    second = [s for s in jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, gx.YogiMomentState))
              if isinstance(s, gx.YogiMomentState)]
    np.testing.assert_array_equal(momentum[0].mu["w"], [0.25, 0.25])
    np.testing.assert_array_equal(second[0].nu["w"], [0.25, 0.25])


def test_scale_by_momentum_initial_value_is_the_momentum_before_the_first_update():
    opt = gx.scale_by_momentum(0.5, ema=True, initial_value=2.0)
    out, _ = opt.update({"w": jnp.array([4.0])}, opt.init({"w": jnp.zeros(1)}))
    np.testing.assert_array_equal(out["w"], [3.0])  # 0.5 * 2 + 0.5 * 4


# --- Errors --------------------------------------------------------------------------------------


BAD_ARGUMENTS = [
    (lambda: gx.scale_by_lion(mode="soft"), ValueError,
     "scale_by_lion: mode must be one of ['hard', 'smooth', 'refined'], got mode='soft'."),
    (lambda: gx.scale_by_lion(mode="smooth", smooth_beta=0.0), ValueError,
     "smooth_sign: smooth_beta must be a finite number > 0, got smooth_beta=0.0."),
    (lambda: gx.scale_by_yogi(initial_accumulator_value=-1e-6), ValueError,
     "yogi_moment: initial_value must be a finite number >= 0, got initial_value=-1e-06."),
    (lambda: gx.yogi(1e-2, b2=1.0), ValueError, "yogi_moment: b2 must be in [0, 1), got b2=1.0."),
    (lambda: gx.adabelief(1e-2, eps_root=-1e-16), ValueError,
     "belief_moment: eps_root must be a finite number >= 0, got eps_root=-1e-16."),
    (lambda: gx.adan(1e-2, b3=1.5), ValueError, "mean_of_squares: b3 must be in [0, 1), got b3=1.5."),
    (lambda: gx.adan(1e-2, weight_decay=-0.1), ValueError,
     "weight_decay: weight_decay must be a finite number >= 0, got weight_decay=-0.1."),
    (lambda: gx.novograd(1e-2, b2=1.0), ValueError,
     "layerwise_mean_of_squares: b2 must be in [0, 1), got b2=1.0."),
    (lambda: gx.adamaxw(-1e-2), ValueError,
     "scale_by_learning_rate: learning_rate must be a finite number >= 0, got learning_rate=-0.01."),
    (lambda: gx.scale_by_radam(threshold=3.0), ValueError,
     "variance_is_tractable: threshold must be a finite number >= 4, got threshold=3.0."),
    (lambda: gx.scale_by_momentum(initial_value=float("nan")), ValueError,
     "scale_by_momentum: initial_value must be a finite number, got initial_value=nan."),
    (lambda: gx.scale_by_adamax(eps="small"), TypeError, "infinity_moment: eps must be a number or a schedule"),
]


@pytest.mark.parametrize("build, error, message", BAD_ARGUMENTS)
def test_bad_arguments_raise_when_the_optimizer_is_built(build, error, message):
    with pytest.raises(error, match=re.escape(message)):
        build()


def test_novograd_and_adan_with_weight_decay_need_params():
    for opt in (gx.novograd(1e-2, weight_decay=0.1), gx.adan(1e-2, weight_decay=0.1), gx.adamaxw(1e-2)):
        state = opt.init({"w": jnp.zeros(2)})
        with pytest.raises(ValueError, match=r"weight_decay: update\(\) needs params"):
            opt.update({"w": jnp.ones(2)}, state)
