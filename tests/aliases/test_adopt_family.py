"""ADOPT (gradxform/aliases/adopt_family.py, gradxform/transforms/lagged.py) against
``optax.contrib.adopt`` 0.2.8, its primitives, and its argument checks.

The registry (tests/registry_adopt_cautious.py) compares float64 trajectories step by step; here
the float32 trajectories are compared with Optax's bit for bit. Optax computes the momentum's
weight as ``1 - where(count > 0, b1, 1)`` in float32, from ``b1`` already rounded to float32,
while gradxform's :func:`scale_by_momentum` rounds ``1 - b1`` once from the Python number (as
Optax's own Adam does): for ``b1 = 0.9`` the weights are 0.100000024 and 0.1 in float32. So the
bit-for-bit runs use a ``b1`` whose complement is exact in binary (0.875), and the default
``b1`` is checked to a tight relative tolerance.
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from harness import trajectory
from problems import PROBLEMS

import gradxform as gx

ON = [pytest.param(p, id=p.name) for p in PROBLEMS]
CONFIGS = {
    "defaults": dict(),
    "nesterov": dict(nesterov=True),
    "no_clipping": dict(use_clipping=False, eps=1e-3),
    "bfloat16_momentum": dict(mu_dtype=jnp.bfloat16),
    "slow_bound": dict(b2=0.99, clip_value_fn=lambda t: 0.5 + t / 8),
}


def _optax_trajectory(opt, problem, steps, jit=True):
    with jax.numpy_dtype_promotion("standard"):  # Optax's x**0.25 of an int32 count
        return trajectory(opt, problem, steps, dtype=np.float32, jit=jit)


@pytest.mark.parametrize("problem", ON)
@pytest.mark.parametrize("config", list(CONFIGS), ids=list(CONFIGS))
def test_adopt_float32_is_bitwise_optax_with_an_exact_b1(config, problem):
    kwargs = dict(CONFIGS[config], b1=0.875)
    ours = trajectory(gx.adopt(3e-3, **kwargs), problem, 20, dtype=np.float32)
    theirs = _optax_trajectory(optax.contrib.adopt(3e-3, **kwargs), problem, 20)
    for step, (a, e) in enumerate(zip(ours, theirs)):
        for key in e:
            np.testing.assert_array_equal(a[key], e[key], err_msg=f"step {step + 1}, leaf {key!r}")


@pytest.mark.parametrize("problem", ON)
def test_adopt_float32_default_b1_within_the_rounding_of_one_minus_b1(problem):
    ours = trajectory(gx.adopt(3e-3), problem, 20, dtype=np.float32)
    theirs = _optax_trajectory(optax.contrib.adopt(3e-3), problem, 20)
    for a, e in zip(ours, theirs):
        for key in e:
            np.testing.assert_allclose(a[key], e[key], rtol=2e-6, atol=1e-7)


def test_scale_by_adopt_counts_its_own_steps_inside_optax_chain():
    params = {"w": jnp.array([0.5, -1.0, 2.0])}
    ours = optax.chain(gx.scale_by_adopt(b1=0.875), optax.scale(-0.1))
    theirs = optax.chain(optax.contrib.scale_by_adopt(b1=0.875), optax.scale(-0.1))
    s_ours, s_theirs = ours.init(params), theirs.init(params)
    rng = np.random.default_rng(0)
    for _ in range(5):
        grads = {"w": jnp.asarray(rng.normal(size=3))}
        u_ours, s_ours = ours.update(grads, s_ours, params)
        with jax.numpy_dtype_promotion("standard"):
            u_theirs, s_theirs = theirs.update(grads, s_theirs, params)
        np.testing.assert_allclose(u_ours["w"], u_theirs["w"], rtol=1e-12)


def test_adopt_first_update_is_zero_and_starts_the_second_moment_at_g_squared():
    opt = gx.adopt(0.1, use_clipping=False)
    g = jnp.array([3.0, -0.5])
    state = opt.init(jnp.zeros(2))
    updates, state = opt.update(g, state)
    np.testing.assert_array_equal(updates, jnp.zeros(2))
    np.testing.assert_array_equal(state.links[0].denominator[0].nu, g**2)
    updates, state = opt.update(g, state)  # g / |g| = sign(g), momentum (1 - b1) of it
    np.testing.assert_allclose(updates, -0.1 * 0.1 * jnp.sign(g), rtol=1e-12)


def test_adopt_clips_the_normalized_gradient_by_the_step_bound():
    opt = gx.adopt(1.0, b1=0.0, clip_value_fn=lambda t: t / 4)
    state = opt.init(jnp.zeros(1))
    _, state = opt.update(jnp.array([1.0]), state)
    updates, state = opt.update(jnp.array([100.0]), state)  # 100 / 1 clipped to 0.25 * 1
    np.testing.assert_allclose(updates, [-0.25], rtol=1e-12)


def test_adopt_recipe_prints_each_term():
    text = repr(gx.adopt(1e-3))
    for term in ("lagged_mean_of_squares", "sqrt_at_least", "clip", "conditional",
                 "scale_by_momentum", "scale_by_learning_rate"):
        assert term in text
    assert "clip(" not in repr(gx.adopt(1e-3, use_clipping=False))


def test_adopt_hyperparameters_are_readable_and_settable():
    params = jnp.ones(2)
    opt = gx.adopt(1e-3)
    state = gx.set_hyperparams(opt.init(params), learning_rate=0.5)
    values = gx.hyperparams(state)
    assert {"learning_rate", "b1", "b2", "eps"} <= set(values)
    assert float(values["learning_rate"]) == 0.5


def test_lagged_mean_of_squares_outputs_the_mean_before_the_update():
    opt = gx.lagged_mean_of_squares(0.5)
    state = opt.init(jnp.zeros(2))
    out, state = opt.update(jnp.array([2.0, 4.0]), state)
    np.testing.assert_array_equal(out, [0.0, 0.0])
    out, state = opt.update(jnp.array([0.0, 2.0]), state)
    np.testing.assert_array_equal(out, [4.0, 16.0])  # v_0 = g_0^2
    out, state = opt.update(jnp.array([0.0, 0.0]), state)
    np.testing.assert_array_equal(out, [2.0, 10.0])  # 0.5 v_0 + 0.5 g_1^2


def test_sqrt_at_least_floors_the_root():
    out, _ = gx.sqrt_at_least(0.5).update(jnp.array([0.0, 0.09, 4.0]), None)
    np.testing.assert_allclose(out, [0.5, 0.5, 2.0])


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: gx.adopt(1e-3, b1=1.0), r"b1 must be in \[0, 1\), got b1=1.0"),
        (lambda: gx.adopt(1e-3, b2=1.5), r"lagged_mean_of_squares: b2 must be in \[0, 1\), got b2=1.5"),
        (lambda: gx.adopt(1e-3, eps=0.0), r"sqrt_at_least: eps must be a finite number > 0, got eps=0.0"),
        (lambda: gx.adopt(-1.0), r"learning_rate must be a finite number >= 0, got learning_rate=-1.0"),
        (lambda: gx.scale_by_adopt(eps=-1.0), r"sqrt_at_least: eps must be .* got eps=-1.0"),
        (lambda: gx.lagged_mean_of_squares(1.0), r"decay must be in \[0, 1\), got decay=1.0"),
        (lambda: gx.sqrt_at_least(0.0), r"eps must be a finite number > 0, got eps=0.0"),
    ],
)
def test_bad_values_are_rejected_by_name(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: gx.adopt(1e-3, use_clipping="yes"), r"adopt: use_clipping must be True or False, got str"),
        (lambda: gx.adopt(1e-3, clip_value_fn=3.0), r"adopt: clip_value_fn must be a function, got float"),
        (lambda: gx.scale_by_adopt(nesterov=1), r"scale_by_adopt: nesterov must be True or False"),
    ],
)
def test_bad_kinds_are_rejected_by_name(build, message):
    with pytest.raises(TypeError, match=message):
        build()
