"""compiled_when_eager: loops called eagerly compile once; inside a trace they run inline."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import gradxform as gx
from gradxform.core.eager import compiled_when_eager, in_a_trace


def _counted():
    traces = []

    def fn(x, *, scale):
        traces.append(type(x).__name__)
        return jax.lax.fori_loop(0, 3, lambda i, y: y * scale, x)

    return fn, traces


def test_eager_calls_with_the_same_static_argument_trace_once():
    fn, traces = _counted()
    run = compiled_when_eager(fn, static=("scale",))
    for _ in range(3):
        out = run(jnp.ones(2), scale=2.0)
    assert out.tolist() == [8.0, 8.0]
    assert len(traces) == 1
    run(jnp.ones(2), scale=3.0)  # a new static value compiles anew
    assert len(traces) == 2


def test_inside_a_trace_the_function_runs_inline():
    fn, traces = _counted()
    run = compiled_when_eager(fn, static=("scale",))
    out = jax.jit(lambda x: run(x, scale=2.0))(jnp.ones(2))
    assert out.tolist() == [8.0, 8.0] and traces == ["DynamicJaxprTracer"]


def test_an_unhashable_static_argument_or_a_non_array_leaf_runs_eagerly():
    fn, traces = _counted()
    run = compiled_when_eager(lambda x, *, scale: fn(x, scale=scale[0]), static=("scale",))
    run(jnp.ones(2), scale=[2.0])
    run(jnp.ones(2), scale=[2.0])
    assert traces == ["ArrayImpl", "ArrayImpl"]  # op by op, not compiled
    assert in_a_trace(jax.numpy.ones(1)) is False
    assert jax.jit(lambda x: jnp.asarray(in_a_trace(x)))(np.ones(1))


def test_an_eager_lbfgs_loop_traces_the_loss_only_while_compiling_its_first_step():
    calls = []

    def loss(w):
        calls.append(1)
        return jnp.sum((w - jnp.arange(4.0)) ** 2 * jnp.arange(1.0, 5.0))

    opt = gx.lbfgs()

    def step(w, state):
        value, grad = gx.value_and_grad_from_state(loss)(w, state=state)
        updates, state = opt.update(grad, state, w, value=value, grad=grad, value_fn=loss)
        return gx.apply_updates(w, updates), state

    w, state = jnp.zeros(4), opt.init(jnp.zeros(4))
    jitted_w, jitted_state = w, state
    after = []
    for _ in range(4):
        w, state = step(w, state)
        after.append(len(calls))
        jitted_w, jitted_state = jax.jit(step)(jitted_w, jitted_state)
    assert after[1] == after[2] == after[3]  # steps 2-4 reuse step 1's compilation
    np.testing.assert_allclose(w, jitted_w, rtol=1e-12)
    assert float(loss(w)) < 1e-3 * float(loss(jnp.zeros(4)))


def test_only_the_last_few_static_arguments_stay_alive():
    import gc
    import weakref

    from gradxform.core.eager import KEPT

    fn, traces = _counted()
    run = compiled_when_eager(lambda x, *, scale: fn(x, scale=scale()), static=("scale",))
    first = lambda: 2.0  # noqa: E731  # a closure a loop would make anew at each step
    kept = weakref.ref(first)
    run(jnp.ones(2), scale=first)
    del first
    for value in range(KEPT):
        run(jnp.ones(2), scale=lambda v=value: float(v))
    gc.collect()
    assert kept() is None  # its compilation was dropped, and with it the closure
    assert len(traces) == KEPT + 1


def test_an_eager_apply_if_finite_step_runs_its_inner_update_once_op_by_op():
    traces = []
    sgd = gx.sgd(0.1)

    def update(updates, state, params=None, **extra_args):
        traces.append(1)
        return sgd.update(updates, state, params, **extra_args)

    opt = gx.apply_if_finite(gx.GradientTransformation(sgd.init, update), max_consecutive_errors=2)
    params = {"w": jnp.ones(3)}
    state = opt.init(params)
    for grads in ([1.0, 2.0, 3.0], [jnp.nan, 0.0, 0.0], [1.0, 1.0, 1.0]):
        updates, state = opt.update({"w": jnp.asarray(grads)}, state, params)
    assert len(traces) == 3  # once a step (the skipped step: for the shape of its zeros); under
    # lax.cond, called eagerly, every step traced and compiled both branches: 6
    np.testing.assert_allclose(updates["w"], -0.1 * np.ones(3))
    assert int(state.total_notfinite) == 1 and int(state.notfinite_count) == 0


def test_eager_cond_runs_the_chosen_branch_alone_and_lax_cond_under_a_trace():
    from gradxform.core.eager import cond, switch

    taken = []
    branches = (lambda x: taken.append("a") or x + 1, lambda x: taken.append("b") or x - 1)
    assert cond(jnp.array(True), *branches, 1.0) == 2.0 and taken == ["a"]
    assert switch(jnp.array(1), branches, 1.0) == 0.0 and taken == ["a", "b"]
    out = jax.jit(lambda p, x: cond(p, *branches, x))(jnp.array(False), jnp.ones(2))
    assert out.tolist() == [0.0, 0.0] and sorted(taken[2:]) == ["a", "b"]  # both traced
    batched = jax.vmap(lambda p, x: cond(p, *branches, x))(jnp.array([True, False]), jnp.ones(2))
    assert batched.tolist() == [2.0, 0.0]
