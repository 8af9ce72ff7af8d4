"""Sophia (gradxform/aliases/hessian_family.py, gradxform/transforms/hessian.py) against
``optax.contrib.sophia`` 0.2.8: float32 trajectories bit for bit, Hutchinson's estimate, the
cadence of the Hessian's running mean, the win-rate report and the argument checks.

The registry (tests/registry_contrib_adaptive.py) compares float64 trajectories step by step.
"""
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import registry  # noqa: F401  (first: it imports registry_contrib_adaptive in turn)
from harness import assert_same_bits, eager_beside_optax
from problems import PROBLEMS
from registry_contrib_adaptive import objective

import gradxform as gx

ON = [pytest.param(p, id=p.name) for p in PROBLEMS]


def _sophia_kwargs(module):
    estimator = module.hutchinson_estimator_diag_hessian(jax.random.PRNGKey(5))
    return dict(b1=0.9, b2=0.9, eps=1e-6, weight_decay=1e-2, gamma=0.05, clip_threshold=0.5,
                update_interval=3, hessian_diagonal_fn=estimator)


@pytest.mark.parametrize("problem", ON)
@pytest.mark.parametrize("kwargs", [False, True], ids=["defaults", "kwargs"])
def test_sophia_float32_is_optax_bit_for_bit(kwargs, problem):
    def build(m):
        contrib = m if m is gx else optax.contrib
        return contrib.sophia(3e-2, **(_sophia_kwargs(contrib) if kwargs else {}))

    ours, theirs = eager_beside_optax(build, problem, extra_args=objective)
    assert_same_bits(ours, theirs)


def test_sophia_signature_is_optax_contribs():
    ours = inspect.signature(gx.sophia).parameters
    theirs = inspect.signature(optax.contrib.sophia).parameters
    assert list(ours) == list(theirs)
    for name in ours:
        if name != "hessian_diagonal_fn":  # each library's own Hutchinson estimator
            assert ours[name].default == theirs[name].default, name


def test_hutchinson_estimate_is_exact_for_a_diagonal_hessian():
    scales = jnp.array([0.5, 2.0, -3.0])
    estimator = gx.hutchinson_estimator_diag_hessian()
    params = {"x": jnp.array([1.0, -1.0, 2.0])}
    state = estimator.init(params)
    for _ in range(3):  # whatever the signs: z * (H z) = diag(H) when H is diagonal
        estimate, state = estimator.update(params, state, params,
                                           obj_fn=lambda p: jnp.sum(scales * p["x"] ** 2))
        np.testing.assert_array_equal(estimate["x"], 2 * scales)


def test_hutchinson_draws_optax_signs():
    a = jnp.array([[2.0, 1.0], [1.0, 3.0]])
    f = lambda p: 0.5 * p["w"] @ a @ p["w"] + jnp.sum(p["b"] ** 3)  # noqa: E731
    params = {"b": jnp.array([0.5, -1.0, 2.0]), "w": jnp.array([1.0, -2.0])}
    ours = gx.hutchinson_estimator_diag_hessian(jax.random.PRNGKey(3))
    theirs = optax.contrib.hutchinson_estimator_diag_hessian(jax.random.PRNGKey(3))
    s_ours, s_theirs = ours.init(params), theirs.init(params)
    for _ in range(3):
        e_ours, s_ours = ours.update(params, s_ours, params, obj_fn=f)
        e_theirs, s_theirs = theirs.update(params, s_theirs, params, obj_fn=f)
        jax.tree.map(np.testing.assert_array_equal, e_ours, e_theirs)
    np.testing.assert_array_equal(s_ours.key, s_theirs.key)


def test_hutchinson_accepts_a_typed_key():
    raw = gx.hutchinson_estimator_diag_hessian(jax.random.PRNGKey(7)).init(jnp.ones(2))
    typed = gx.hutchinson_estimator_diag_hessian(jax.random.key(7)).init(jnp.ones(2))
    np.testing.assert_array_equal(raw.key, typed.key)


def test_the_hessian_mean_is_refreshed_every_update_interval_steps_and_lags_one_step():
    calls = []

    def ones(updates, params):
        calls.append(None)  # runs when traced: once per refresh, eagerly
        return jax.tree.map(jnp.ones_like, updates)

    moment = gx.chain(gx.lagged_hessian_moment(gx.stateless(ones), decay=0.5, update_interval=3))
    state = moment.init(jnp.zeros(1))
    outputs = []
    for _ in range(7):
        out, state = moment.update(jnp.zeros(1), state, jnp.zeros(1))
        outputs.append(float(out[0]))
    # refreshed at steps 0, 3, 6: 0.5, 0.75, 0.875; each seen from the next step on
    assert outputs == [0.0, 0.5, 0.5, 0.5, 0.75, 0.75, 0.75]
    np.testing.assert_array_equal(state.links[0].nu, [0.875])


def test_sophia_hessian_estimate_runs_inside_one_jitted_step_without_retracing():
    opt, params = gx.sophia(0.1, update_interval=2), {"x": jnp.array([1.0, -2.0])}
    f = jax.tree_util.Partial(lambda p: jnp.sum(p["x"] ** 4))
    traces = []

    def step(params, state):
        traces.append(None)
        return opt.update(jax.grad(f)(params), state, params, obj_fn=f)

    jitted, state = jax.jit(step), opt.init(params)
    for _ in range(4):
        updates, state = jitted(params, state)
        params = gx.apply_updates(params, updates)
    assert len(traces) == 1


def test_sophia_verbose_prints_the_win_rate_on_its_cadence(capfd):
    opt = gx.sophia(0.1, verbose=True, print_win_rate_every_n_steps=2)
    params = jnp.array([1.0, -2.0])
    f = lambda p: jnp.sum(p**2)  # noqa: E731
    state = opt.init(params)
    for _ in range(4):
        _, state = opt.update(jax.grad(f)(params), state, params, obj_fn=f)
    jax.effects_barrier()
    assert capfd.readouterr().out.count("Sophia optimizer win rate: 0.0") == 2


def test_sophia_needs_the_objective_and_the_params():
    opt, params = gx.sophia(0.1), jnp.ones(2)
    state = opt.init(params)
    with pytest.raises(TypeError, match=r"hutchinson_estimator_diag_hessian: update\(\) needs the objective"):
        opt.update(params, state, params)
    with pytest.raises(ValueError, match=r"hutchinson_estimator_diag_hessian: update\(\) needs params"):
        opt.update(params, state, obj_fn=jnp.sum)


@pytest.mark.parametrize("call, error, message", [
    (lambda: gx.sophia(0.1, update_interval=0), ValueError, r"sophia: (\w+: )?update_interval must be"),
    (lambda: gx.sophia(0.1, eps=0.0), ValueError, r"sophia: (\w+: )?eps must be .*> 0, got eps=0.0"),
    (lambda: gx.sophia(0.1, b2=1.0), ValueError, r"sophia: (\w+: )?b2 must be in \[0, 1\), got b2=1.0"),
    (lambda: gx.sophia(0.1, verbose=True), ValueError, r"sophia: print_win_rate_every_n_steps must be an int >= 1"),
    (lambda: gx.sophia(0.1, verbose="yes"), TypeError, r"sophia: verbose must be True or False"),
    (lambda: gx.hutchinson_estimator_diag_hessian(3), TypeError,
     r"hutchinson_estimator_diag_hessian: random_seed must be a JAX PRNG key"),
])
def test_bad_arguments_are_rejected_naming_them(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_sophia_recipe_prints_each_term():
    text = repr(gx.sophia(1e-3))
    for term in ("scale_by_momentum", "bias_correction", "lagged_hessian_moment", "at_least", "clip",
                 "weight_decay", "scale_by_learning_rate"):
        assert term in text
    assert "clip(" not in repr(gx.sophia(1e-3, clip_threshold=None))
