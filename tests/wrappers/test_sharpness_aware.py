"""sam: against optax.contrib.sam step by step (float64), against the paper's two-step form in
NumPy, opaque mode, the sync_period=1 difference, jit with donation, and its errors."""
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest
from wrapper_trees import assert_trees_close

import gradxform as gx

A = np.diag([1.0, 3.0, 0.5])  # a quadratic 1/2 w^T A w + 1/2 (b - 1)^2 + a cubic term


def loss(params):
    w = params["w"]
    return 0.5 * w @ jnp.asarray(A) @ w + 0.1 * jnp.sum(w**3) + 0.5 * (params["b"] - 1.0) ** 2


grad = jax.grad(loss)
START = {"w": np.array([1.0, -2.0, 3.0]), "b": np.array(0.0)}


def _start():
    return jax.tree.map(jnp.asarray, START)


def trajectory(opt, steps, jit=True, **extra):
    """Params after each update, the gradient taken at the params the update is given."""
    with jax.numpy_dtype_promotion("standard"):  # Optax's sam mixes bools and floats
        return _trajectory(opt, steps, jit, **extra)


def _trajectory(opt, steps, jit=True, **extra):
    params = _start()
    state = opt.init(params)
    update = jax.jit(opt.update) if jit else opt.update
    history = []
    for _ in range(steps):
        updates, state = update(grad(params), state, params, **extra)
        params = optax.apply_updates(params, updates)
        history.append(params)
    return history, state


def pair(lib, sync_period=2, reset_state=True, outer=None):
    """The same SAM, built with ``lib`` (gradxform or optax + optax.contrib)."""
    normalize = gx.normalize if lib is gx else optax.contrib.normalize
    sam = gx.sam if lib is gx else optax.contrib.sam
    outer = outer or (lambda lib: lib.adam(0.05))
    return sam(outer(lib), lib.chain(normalize(), lib.sgd(0.2, momentum=0.5)),
               sync_period=sync_period, reset_state=reset_state)


@pytest.mark.parametrize("sync_period", [2, 3])
@pytest.mark.parametrize("reset_state", [True, False])
def test_it_matches_optax_contrib_sam_step_by_step(sync_period, reset_state):
    ours, _ = trajectory(pair(gx, sync_period, reset_state), 24)
    theirs, _ = trajectory(pair(optax, sync_period, reset_state), 24)
    for a, b in zip(ours, theirs):
        assert_trees_close(a, b, rtol=1e-12)


def test_it_is_the_paper_s_two_step_rule_in_numpy():
    """Foret et al., Algorithm 1 with SGD: eps = rho g / |g|; theta -= lr * grad(theta + eps)."""
    lr, rho = 0.1, 0.05
    ours, _ = trajectory(gx.sam(gx.sgd(lr), gx.chain(gx.normalize(), gx.sgd(rho))), 20)
    theta = {k: v.copy() for k, v in START.items()}
    for t in range(10):
        g = {k: np.asarray(v) for k, v in grad(theta).items()}
        norm = np.sqrt(sum(np.sum(v**2) for v in g.values()))
        worst = {k: theta[k] + rho * g[k] / norm for k in theta}
        assert_trees_close(ours[2 * t], worst, rtol=1e-12)  # the ascent update
        g_worst = {k: np.asarray(v) for k, v in grad(worst).items()}
        theta = {k: theta[k] - lr * g_worst[k] for k in theta}
        assert_trees_close(ours[2 * t + 1], theta, rtol=1e-12)  # back, then down


def test_opaque_mode_runs_a_cycle_per_update_as_optax_does():
    def grad_fn(params, i):
        return grad(params)

    ours = gx.sam(gx.adam(0.05), gx.chain(gx.normalize(), gx.sgd(0.2)), sync_period=3, opaque_mode=True)
    theirs = optax.contrib.sam(optax.adam(0.05), optax.chain(optax.contrib.normalize(), optax.sgd(0.2)),
                               sync_period=3, opaque_mode=True)
    a, state = trajectory(ours, 8, jit=False, grad_fn=grad_fn)
    b, _ = trajectory(theirs, 8, jit=False, grad_fn=grad_fn)
    for x, y in zip(a, b):
        assert_trees_close(x, y, rtol=1e-12)
    assert state.cache is None and int(state.steps_since_sync) == 0


def test_sync_period_one_is_the_outer_optimizer_alone():
    # Optax's outer step reads the cache of the update before here and drops every other update.
    ours, _ = trajectory(gx.sam(gx.adam(0.05), gx.sgd(0.2), sync_period=1), 10)
    plain, _ = trajectory(gx.adam(0.05), 10)
    for a, b in zip(ours, plain):
        assert_trees_close(a, b, rtol=1e-12)


def test_it_jits_with_params_and_state_donated_and_survives_pickle():
    opt = pair(gx, sync_period=3)
    params = _start()
    state = opt.init(params)

    @jax.jit
    def step(params, state):
        updates, state = opt.update(grad(params), state, params)
        return optax.apply_updates(params, updates), state

    donated = jax.jit(step, donate_argnums=(0, 1))
    for _ in range(7):
        params, state = donated(params, state)
    expected, _ = trajectory(pair(optax, sync_period=3), 7)
    assert_trees_close(params, expected[-1], rtol=1e-12)
    assert int(state.steps_since_sync) == 1
    restored = pickle.loads(pickle.dumps(state))
    assert jax.tree.structure(restored) == jax.tree.structure(state)
    assert repr(state).startswith("SAMState(\n  steps_since_sync=1,")


def test_a_learning_rate_set_on_the_adversary_survives_its_reset():
    opt = gx.sam(gx.sgd(0.1), gx.sgd(0.2), sync_period=2)
    params = _start()
    state = gx.set_hyperparams(opt.init(params), **{"adv_state/learning_rate": 0.7})
    for _ in range(4):
        updates, state = opt.update(grad(params), state, params)
        params = optax.apply_updates(params, updates)
    assert float(gx.hyperparams(state)["adv_state/learning_rate"]) == pytest.approx(0.7)


@pytest.mark.parametrize("kwargs, message", [
    ({"sync_period": 0}, r"^sam: sync_period must be"),
    ({"sync_period": 1.5}, r"^sam: sync_period must be"),
    ({"reset_state": "yes"}, r"^sam: reset_state must be True or False"),
    ({"batch_axis_name": 3}, r"^sam: batch_axis_name must be an axis name \(str\) or None, got int 3"),
])
def test_bad_arguments_are_refused_by_name(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        gx.sam(gx.sgd(0.1), gx.sgd(0.1), **kwargs)


def test_update_without_params_or_without_grad_fn_in_opaque_mode_says_what_is_missing():
    opt = gx.sam(gx.sgd(0.1), gx.sgd(0.1))
    with pytest.raises(ValueError, match=r"^sam: update\(\) needs params"):
        opt.update(_start(), opt.init(_start()))
    opaque = gx.sam(gx.sgd(0.1), gx.sgd(0.1), opaque_mode=True)
    with pytest.raises(ValueError, match=r"^sam\.update: opaque_mode=True needs grad_fn="):
        opaque.update(_start(), opaque.init(_start()), _start())
