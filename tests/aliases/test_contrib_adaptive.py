"""AdEMAMix, simplified AdEMAMix, ACProp, MADGRAD and MoMo (gradxform/aliases/contrib_adaptive.py)
against ``optax.contrib`` 0.2.8: float32 trajectories bit for bit, signatures, argument checks.

The registry (tests/registry_contrib_adaptive.py) compares float64 trajectories step by step.
"""
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from harness import assert_same_bits, eager_beside_optax, trajectory
from problem_losses import loss_value
from problems import PROBLEMS

import gradxform as gx

ON = [pytest.param(p, id=p.name) for p in PROBLEMS]


def _warmup(final):
    # float32 values: a float64 schedule makes Optax compute (and store) float32 moments in
    # float64, where gradxform keeps the params' dtype.
    return lambda step: final * jnp.minimum(jnp.asarray(step, jnp.float32) / 10.0, 1.0)


# (builder of the optimizer from a module, gx or optax.contrib; extra args)
BITWISE = {
    "ademamix": (lambda m: m.ademamix(1e-2), None),
    "ademamix_scheduled": (lambda m: m.ademamix(3e-3, b3=_warmup(0.99), alpha=_warmup(8.0),
                                                 eps_root=1e-9, weight_decay=0.1), None),
    "acprop": (lambda m: m.acprop(1e-2), None),
    "acprop_kwargs": (lambda m: m.acprop(3e-3, b1=0.8, b2=0.99, eps=1e-8, eps_root=1e-10,
                                         weight_decay=0.1), None),
    "madgrad": (lambda m: m.madgrad(1e-2), None),
    "madgrad_kwargs": (lambda m: m.madgrad(3e-2, momentum=0.5, weight_decay=1e-2, eps=1e-4), None),
    "momo": (lambda m: m.momo(), loss_value),
    "momo_adaptive_bound": (lambda m: m.momo(0.5, beta=0.8, lower_bound=-1.0, weight_decay=1e-2,
                                              adapt_lower_bound=True), loss_value),
    "momo_adam": (lambda m: m.momo_adam(), loss_value),
    "momo_adam_adaptive_bound": (lambda m: m.momo_adam(0.1, b1=0.8, b2=0.99, eps=1e-6, lower_bound=-1.0,
                                                        weight_decay=1e-2, adapt_lower_bound=True),
                                 loss_value),
}


def _contrib(module):
    return module if module is gx else optax.contrib


@pytest.mark.parametrize("problem", ON)
@pytest.mark.parametrize("name", list(BITWISE))
def test_float32_trajectories_are_optax_bit_for_bit(name, problem):
    build, extra_args = BITWISE[name]
    ours, theirs = eager_beside_optax(lambda m: build(_contrib(m)), problem, extra_args=extra_args)
    assert_same_bits(ours, theirs)


@pytest.mark.parametrize("problem", ON)
def test_simplified_ademamix_float32_within_the_rounding_of_optax_lerp(problem):
    # Optax writes the second moment as g^2 + b2 (v - g^2), mean_of_squares as
    # (1 - b2) g^2 + b2 v: the same number, rounded differently in the last bit.
    ours, theirs = eager_beside_optax(
        lambda m: _contrib(m).simplified_ademamix(1e-3, alpha=_warmup(2.0), weight_decay=0.1), problem)
    for a, e in zip(ours, theirs):
        for key in e:
            np.testing.assert_allclose(a[key], e[key], rtol=1e-6, atol=1e-7)


NAMES = ["ademamix", "scale_by_ademamix", "simplified_ademamix", "scale_by_simplified_ademamix",
         "acprop", "scale_by_acprop", "madgrad", "scale_by_madgrad", "momo", "momo_adam"]


@pytest.mark.parametrize("name", NAMES)
def test_signature_is_optax_contribs(name):
    ours = inspect.signature(getattr(gx, name)).parameters
    theirs = inspect.signature(getattr(optax.contrib, name)).parameters
    assert list(ours) == list(theirs)
    assert [p.default for p in ours.values()] == [p.default for p in theirs.values()]


@pytest.mark.parametrize("name, kwargs, rtol", [
    ("scale_by_ademamix", dict(alpha=_warmup(6.0)), 1e-12),
    ("scale_by_simplified_ademamix", dict(alpha=1.0), 1e-12),
    ("scale_by_acprop", dict(), 1e-12),
    # Optax's weight lambda_t is float32 even for float64 params (registry_contrib_adaptive.py)
    ("scale_by_madgrad", dict(learning_rate=0.05), 1e-6),
])
def test_directions_count_their_own_steps_inside_optax_chain(name, kwargs, rtol):
    params = {"w": jnp.array([0.5, -1.0, 2.0])}
    ours = optax.chain(getattr(gx, name)(**kwargs), optax.scale(-0.1))
    theirs = optax.chain(getattr(optax.contrib, name)(**kwargs), optax.scale(-0.1))
    s_ours, s_theirs = ours.init(params), theirs.init(params)
    rng = np.random.default_rng(0)
    for _ in range(5):
        grads = {"w": jnp.asarray(rng.normal(size=3))}
        u_ours, s_ours = ours.update(grads, s_ours, params)
        with jax.numpy_dtype_promotion("standard"):
            u_theirs, s_theirs = theirs.update(grads, s_theirs, params)
        np.testing.assert_allclose(u_ours["w"], u_theirs["w"], rtol=rtol)
        params = optax.apply_updates(params, u_ours)


def test_ademamix_slow_momentum_is_not_bias_corrected():
    # b1 = 0 makes m1_hat = g; the slow momentum after one step is (1 - b3) g, uncorrected.
    opt = gx.ademamix(1.0, b1=0.0, b2=0.0, b3=0.5, alpha=2.0, eps=1e-12)
    updates, _ = opt.update(jnp.array([3.0]), opt.init(jnp.zeros(1)))
    np.testing.assert_allclose(updates, [-(3.0 + 2.0 * 0.5 * 3.0) / 3.0], rtol=1e-9)


def test_acprop_first_step_is_the_gradient_over_one_plus_eps():
    opt = gx.acprop(1.0, eps=0.5)
    updates, state = opt.update(jnp.array([2.0, -4.0]), opt.init(jnp.zeros(2)))
    np.testing.assert_allclose(updates, [-2.0 / 1.5, 4.0 / 1.5], rtol=1e-12)


def test_acprop_denominator_has_not_seen_the_gradient():
    # After one step s_1 = (1 - b2) g_1^2 + eps_root; the second step divides g_2 by its root
    # however large g_2 is.
    opt = gx.acprop(1.0, b1=0.0, b2=0.5, eps=0.0, eps_root=0.0)
    state = opt.init(jnp.zeros(1))
    _, state = opt.update(jnp.array([2.0]), state)
    updates, _ = opt.update(jnp.array([100.0]), state)
    np.testing.assert_allclose(updates, [-100.0 / 2.0], rtol=1e-12)  # s_hat = 0.5 * 4 / 0.5


def test_madgrad_first_step_moves_toward_x0_minus_the_scaled_sign():
    # s_1 = lambda g, G_1 = lambda g^2: z = x0 - lambda^(2/3) sign(g) |g|^(1/3) (eps ~ 0)
    opt = gx.madgrad(0.125, momentum=0.0, eps=1e-30)
    x = jnp.array([1.0])
    updates, _ = opt.update(jnp.array([8.0]), opt.init(x), x)
    np.testing.assert_allclose(updates, [-(0.125 ** (2 / 3)) * 2.0], rtol=1e-12)


def test_momo_first_step_brings_the_linear_model_to_the_lower_bound():
    # m = g, f_bar = f: tau = min(1, f / |g|^2) = 14 / 56, so x -> x - x / 2 and f -> 14 / 4.
    f = lambda x: jnp.sum(x**2)  # noqa: E731
    opt, params = gx.momo(), jnp.array([1.0, 2.0, 3.0])
    value, grad = jax.value_and_grad(f)(params)
    updates, _ = opt.update(grad, opt.init(params), params, value=value)
    np.testing.assert_allclose(f(params + updates), 3.5, rtol=1e-12)


@pytest.mark.parametrize("make", [gx.momo, gx.momo_adam], ids=["momo", "momo_adam"])
def test_momo_needs_the_loss_and_the_params(make):
    opt, params = make(), jnp.ones(2)
    state = opt.init(params)
    with pytest.raises(TypeError, match=r"momo_step: update\(\) needs the loss .* value="):
        opt.update(params, state, params)
    with pytest.raises(ValueError, match=r"momo_step: update\(\) needs params"):
        opt.update(params, state, value=1.0)
    with pytest.raises(ValueError, match=r"momo_step: value must be a scalar"):
        opt.update(params, state, params, value=jnp.ones(2))


def test_madgrad_needs_the_params():
    opt = gx.madgrad(0.1)
    with pytest.raises(ValueError, match=r"dual_averaging_step: update\(\) needs params"):
        opt.update(jnp.ones(2), opt.init(jnp.ones(2)))


@pytest.mark.parametrize("call, message", [
    (lambda: gx.ademamix(1e-3, b3=1.0), r"b3 must be in \[0, 1\), got b3=1.0"),
    (lambda: gx.ademamix(1e-3, b1=-0.1), r"b1 must be in \[0, 1\), got b1=-0.1"),
    (lambda: gx.simplified_ademamix(1e-3, eps=-1.0), r"simplified_ademamix: (\w+: )?eps must be .* >= 0, got eps=-1.0"),
    (lambda: gx.acprop(1e-3, b2=1.5), r"b2 must be in \[0, 1\), got b2=1.5"),
    (lambda: gx.acprop(1e-3, weight_decay=-1.0),
     r"acprop: (\w+: )?weight_decay must be .* >= 0, got weight_decay=-1.0"),
    (lambda: gx.madgrad(0.1, momentum=1.5), r"momentum must be in \[0, 1\], got momentum=1.5"),
    (lambda: gx.madgrad(0.1, eps=-1e-6), r"madgrad: eps must be a finite number > 0, got eps=-1e-06"),
    (lambda: gx.momo(beta=1.0), r"beta must be in \[0, 1\), got beta=1.0"),
    (lambda: gx.momo(lower_bound=float("nan")),
     r"momo: (\w+: )?lower_bound must be a finite number, got lower_bound=nan"),
    (lambda: gx.momo_adam(weight_decay=-0.1),
     r"momo_adam: (\w+: )?weight_decay must be .* >= 0, got weight_decay=-0.1"),
])
def test_bad_values_are_rejected_naming_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("call, message", [
    (lambda: gx.madgrad(0.1, eps=lambda t: 1e-6), r"madgrad: eps must be a number"),
    (lambda: gx.momo(adapt_lower_bound=1), r"momo: adapt_lower_bound must be True or False, got int 1"),
    (lambda: gx.momo(lower_bound=lambda t: 0.0), r"momo: (\w+: )?lower_bound must be a number .*, got function"),
])
def test_bad_kinds_are_rejected_naming_the_argument(call, message):
    with pytest.raises(TypeError, match=message):
        call()


@pytest.mark.parametrize("opt, terms", [
    (gx.ademamix(1e-3), ("scale_by_momentum", "bias_correction", "parallel_sum", "mean_of_squares")),
    (gx.acprop(1e-3), ("lagged_momentum", "lagged_belief_moment", "lagged_bias_correction")),
    (gx.madgrad(1e-3), ("scale_by_dual_averaging_weight", "cbrt_plus_eps", "dual_averaging_step")),
    (gx.momo(), ("momo_step", "warm_started_momentum")),
    (gx.momo_adam(), ("momo_step", "mean_of_squares", "sqrt_plus_eps")),
], ids=["ademamix", "acprop", "madgrad", "momo", "momo_adam"])
def test_recipe_prints_each_term(opt, terms):
    text = repr(opt)
    for term in terms:
        assert term in text


def test_hyperparameters_are_readable_and_settable():
    params = jnp.ones(2)
    opt = gx.ademamix(1e-3)
    state = gx.set_hyperparams(opt.init(params), alpha=2.0, learning_rate=0.5)
    assert float(gx.hyperparams(state)["alpha"]) == 2.0
    updates, _ = opt.update(jnp.array([1.0, -1.0]), state, params)
    # first step: m1_hat = g, m2 = (1 - b3) g, v_hat = g^2
    np.testing.assert_allclose(updates, -0.5 * (1 + 2.0 * 1e-4) * jnp.array([1.0, -1.0]) / (1 + 1e-8),
                               rtol=1e-6)


def test_jitted_momo_matches_eager():
    problem = PROBLEMS[0]
    eager = trajectory(gx.momo_adam(), problem, 10, jit=False, extra_args=loss_value)
    jitted = trajectory(gx.momo_adam(), problem, 10, jit=True, extra_args=loss_value)
    for a, e in zip(jitted, eager):
        for key in e:
            np.testing.assert_allclose(a[key], e[key], rtol=1e-12)
