"""Line searches and L-BFGS called the way Optax's users call them (gradxform.transforms.linesearch).

Evidence: gradxform's L-BFGS, with either line search, takes Optax's steps on Rosenbrock,
Zakharov (from far away, where the curvature is ~1e9) and a quadratic, step by step; Optax's
loop (``state[-1]``, ``optax.tree.get``/``set``, ``value_and_grad_from_state``) runs unchanged;
the defects found by running Optax's own tests stay fixed (x64 with float32 params, an
abstract ``init``, ``verbose=``, unused extra arguments, a Python-float step in the state).
"""
from __future__ import annotations

import contextlib
import io

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradxform as gx
from gradxform.transforms import linesearch as ls

# --- problems (Optax's test problems, written out) ---------------------------------------------


def rosenbrock(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def zakharov(x):
    weighted = jnp.sum(0.5 * jnp.arange(1, x.shape[0] + 1, dtype=x.dtype) * x)
    return jnp.sum(x**2) + weighted**2 + weighted**4


def quadratic(x):
    return 0.5 * jnp.sum(jnp.linspace(1.0, 50.0, x.shape[0], dtype=x.dtype) * x**2) - jnp.sum(x)


PROBLEMS = {
    "rosenbrock": (rosenbrock, [-1.2, 1.0, -0.5, 0.8]),
    "zakharov": (zakharov, [600.0, 700.0, 200.0, 100.0, 90.0, 1e3]),
    "quadratic": (quadratic, [3.0, -2.0, 1.0, 0.5, -4.0]),
}
LINESEARCHES = {
    "zoom": lambda m: m.scale_by_zoom_linesearch(max_linesearch_steps=20, initial_guess_strategy="one"),
    "backtracking": lambda m: m.scale_by_backtracking_linesearch(max_backtracking_steps=20, store_grad=True),
}


def optax_loop(opt, fn, params, steps, apply_updates):
    """Optax's documented L-BFGS loop, verbatim but for the module: every iterate."""
    value_and_grad = (gx if opt.__module__.startswith("gradxform") else optax).value_and_grad_from_state(fn)

    @jax.jit
    def step(params, state):
        value, grad = value_and_grad(params, state=state)
        updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=fn)
        return apply_updates(params, updates), state

    state, iterates = opt.init(params), []
    for _ in range(steps):
        params, state = step(params, state)
        iterates.append(np.asarray(params))
    return np.array(iterates), state


def both_trajectories(problem, linesearch, dtype, steps):
    fn, start = PROBLEMS[problem]
    x0 = jnp.asarray(start, dtype)
    ours, ours_state = optax_loop(gx.lbfgs(linesearch=LINESEARCHES[linesearch](gx)), fn, x0, steps, gx.apply_updates)
    with jax.numpy_dtype_promotion("standard"):
        theirs, theirs_state = optax_loop(
            optax.lbfgs(linesearch=LINESEARCHES[linesearch](optax)), fn, x0, steps, optax.apply_updates
        )
    return ours, theirs, ours_state, theirs_state


# --- parity with Optax, step by step -------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("linesearch", list(LINESEARCHES))
@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_lbfgs_takes_optax_steps_in_float64(problem, linesearch):
    ours, theirs, ours_state, theirs_state = both_trajectories(problem, linesearch, jnp.float64, 25)
    scale = np.max(np.abs(theirs), axis=1, keepdims=True)  # iterates shrink towards 0 on two problems
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9 * scale.max())
    np.testing.assert_allclose(
        float(optax.tree.get(ours_state, "value")), float(optax.tree.get(theirs_state, "value")), rtol=1e-9, atol=1e-12
    )


@pytest.mark.slow
@pytest.mark.parametrize("linesearch", list(LINESEARCHES))
@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_lbfgs_takes_optax_steps_in_float32(problem, linesearch):
    # Without x64, as most users run it (under x64 Optax keeps its rho in float64).
    with jax.enable_x64(False):
        ours, theirs, _, _ = both_trajectories(problem, linesearch, jnp.float32, 12)
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.slow
def test_zakharov_from_far_away_converges_like_optax():
    # The curvature there is ~1e9 > 1 / eps(float32): an absolute curvature test (s.y > eps |y|^2)
    # dropped every pair and left scaled gradient descent, stuck near the start.
    with jax.enable_x64(False):
        ours, theirs, _, _ = both_trajectories("zakharov", "zoom", jnp.float32, 40)
    start = zakharov(jnp.asarray(PROBLEMS["zakharov"][1]))  # 5e14
    assert float(zakharov(jnp.asarray(ours[-1]))) < 1e-13 * float(start)
    np.testing.assert_array_equal(ours, theirs)


# --- Optax's calling pattern ----------------------------------------------------------------------


def test_chain_state_reads_as_optax_does():
    fn = lambda x: jnp.sum((x - 1.0) ** 2)
    x = jnp.array([3.0, -1.0])
    opt = gx.chain(gx.sgd(1.0), gx.scale_by_backtracking_linesearch(max_backtracking_steps=15, store_grad=True))
    state = opt.init(x)
    assert jnp.isinf(optax.tree.get(state, "value"))
    value, grad = jax.value_and_grad(fn)(x)
    updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=fn)
    search = state[-1]  # the last link's state, as in optax.chain
    assert isinstance(search, gx.ScaleByBacktrackingLinesearchState)
    assert optax.tree.get(state, "info") is search.info
    assert int(optax.tree.get(state, "num_linesearch_steps")) == int(search.info.num_linesearch_steps) >= 1
    np.testing.assert_allclose(float(optax.tree.get(state, "value")), float(fn(x + updates)), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(optax.tree.get(state, "grad")), np.asarray(jax.grad(fn)(x + updates)))


@pytest.mark.parametrize("strategy", ["keep", "one"])
def test_a_python_float_step_set_into_the_state_is_read(strategy):
    # Optax's tests set the first guess with optax.tree.set(state, learning_rate=1.0).
    fn = lambda x: x**2
    w = jnp.asarray(-1.0, jnp.float32)
    opt = gx.scale_by_zoom_linesearch(max_linesearch_steps=20, initial_guess_strategy=strategy)
    state = optax.tree.set(opt.init(w), learning_rate=1.0)
    value, grad = jax.value_and_grad(fn)(w)
    _, state = opt.update(-1.95 * w, state, w, value=value, grad=grad, value_fn=fn)
    assert float(state.info.decrease_error) == 0 and float(state.info.curvature_error) == 0
    assert state.learning_rate.dtype == jnp.float32


def test_value_and_grad_from_state_reuses_the_stored_loss_and_gradient():
    fn = lambda x: jnp.sum((x - 1.0) ** 2)
    never_called = lambda x: jnp.asarray(7.0)  # what a recomputation would return
    opt = gx.chain(gx.sgd(0.5), gx.scale_by_zoom_linesearch(10))
    x = jnp.array([3.0, -1.0, 0.5])
    state = opt.init(x)
    value, grad = gx.value_and_grad_from_state(fn)(x, state=state)  # nothing stored: computed
    assert float(value) == float(fn(x))
    updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=fn)
    x = gx.apply_updates(x, updates)
    value, grad = jax.jit(gx.value_and_grad_from_state(never_called))(x, state=state)
    assert float(value) == float(state[-1].value) != 7.0
    np.testing.assert_array_equal(np.asarray(grad), np.asarray(state[-1].grad))


def test_value_and_grad_from_state_passes_data_and_reads_optax_states():
    fn = lambda x, a, b=0.0: jnp.sum((a * x - b) ** 2)
    x, a = jnp.array([1.0, 2.0]), jnp.array([2.0, 3.0])
    with jax.numpy_dtype_promotion("standard"):
        state = optax.scale_by_zoom_linesearch(max_linesearch_steps=5).init(x)
        value, grad = gx.value_and_grad_from_state(fn)(x, a, state=state, b=1.0)
    expected_value, expected_grad = jax.value_and_grad(fn)(x, a, b=1.0)
    assert float(value) == float(expected_value)
    np.testing.assert_array_equal(np.asarray(grad), np.asarray(expected_grad))


@pytest.mark.parametrize(
    "opt, error, match",
    [
        (gx.scale_by_adam(), ValueError, r"holds no line search's loss and gradient \(none found\)"),
        (gx.scale_by_backtracking_linesearch(5), ValueError, r"without store_grad=True"),
        (gx.chain(gx.scale_by_zoom_linesearch(5), gx.scale_by_zoom_linesearch(5)), KeyError, r"holds 2 line search"),
    ],
    ids=["no_linesearch", "no_stored_grad", "two_linesearches"],
)
def test_value_and_grad_from_state_errors(opt, error, match):
    x = jnp.array([1.0, 2.0])
    with pytest.raises(error, match=match):
        gx.value_and_grad_from_state(jnp.sum)(x, state=opt.init(x))


def test_value_and_grad_from_state_needs_a_function():
    with pytest.raises(TypeError, match=r"value_and_grad_from_state: value_fn must be a function"):
        gx.value_and_grad_from_state(3.0)


# --- extra arguments ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make", [lambda: gx.scale_by_zoom_linesearch(5), lambda: gx.scale_by_backtracking_linesearch(5)]
)
def test_an_extra_argument_value_fn_does_not_take_is_a_type_error(make):
    value_fn = lambda params, batch: jnp.sum(params * batch)
    x, batch = jnp.array([1.0, 2.0]), jnp.ones(2)
    opt = make()
    kwargs = dict(value=value_fn(x, batch), grad=batch, value_fn=value_fn, batch=batch)
    opt.update(-batch, opt.init(x), x, **kwargs)  # batch is value_fn's
    with pytest.raises(TypeError, match=r"linesearch: Unexpected keyword arguments \['unused'\].*takes batch after"):
        opt.update(-batch, opt.init(x), x, unused=42, **kwargs)


def test_chain_arguments_and_a_value_fn_with_kwargs_are_accepted():
    seen = {}

    def value_fn(params, **kwargs):
        seen.update(kwargs)
        return jnp.sum(params**2) * kwargs["scale"]

    x = jnp.array([1.0, 2.0])
    opt = gx.chain(gx.sgd(0.1), gx.scale_by_backtracking_linesearch(5))  # the chain adds step=...
    opt.update(2 * x, opt.init(x), x, value=value_fn(x, scale=1.0), grad=2 * x, value_fn=value_fn, scale=1.0)
    assert set(seen) == {"scale"}


# --- dtypes and abstract params -------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, sign",
    [
        (lambda: gx.scale_by_backtracking_linesearch(
            5, slope_rtol=np.float64(1e-4), decrease_factor=np.float64(0.5), rtol=np.float64(1e-4)
        ), -1),
        (lambda: gx.scale_by_backtracking_linesearch(5, max_learning_rate=np.float64(1.0), store_grad=True), -1),
        (lambda: gx.scale_by_zoom_linesearch(5, increase_factor=np.float64(2), max_learning_rate=np.float64(4)), -1),
        (lambda: gx.lbfgs(linesearch=gx.scale_by_backtracking_linesearch(5, decrease_factor=np.float64(0.5))), 1),
    ],
    ids=["backtracking", "backtracking_store_grad", "zoom", "lbfgs"],
)
def test_float32_params_under_x64_with_float64_hyperparameters(make, sign):
    # conftest enables x64: a NumPy float64 hyperparameter made the loop's carry float64.
    opt = make()
    x = jnp.array([1.0, 2.0], jnp.float32)
    fn = lambda x: jnp.sum(x**2)
    # A line search takes a descent direction, lbfgs the gradient.
    step = jax.jit(lambda x, s: opt.update(sign * 2 * x, s, x, value=fn(x), grad=2 * x, value_fn=fn))
    updates, state = step(x, opt.init(x))
    assert updates.dtype == jnp.float32
    assert jax.tree.map(lambda a: a.dtype, state) == jax.tree.map(lambda a: a.dtype, opt.init(x))
    assert float(fn(x + updates)) < float(fn(x))


@pytest.mark.parametrize(
    "make",
    [gx.lbfgs, gx.scale_by_lbfgs, lambda: gx.scale_by_zoom_linesearch(5),
     lambda: gx.scale_by_backtracking_linesearch(5, store_grad=True)],
    ids=["lbfgs", "scale_by_lbfgs", "zoom", "backtracking"],
)
def test_init_takes_shape_dtype_structs(make):
    params = {"w": jnp.ones((3, 2), jnp.float32), "b": jnp.zeros((), jnp.bfloat16)}
    abstract = jax.tree.map(lambda p: jax.ShapeDtypeStruct(p.shape, p.dtype), params)
    opt = make()
    got, expected = opt.init(abstract), opt.init(params)
    as_shapes = lambda tree: jax.tree.map(lambda a: (jnp.shape(a), jnp.result_type(a)), tree)
    assert as_shapes(got) == as_shapes(expected) == as_shapes(jax.eval_shape(opt.init, abstract))


# --- verbose ---------------------------------------------------------------------------------------


def _printed(opt, fn, w, u):
    value, grad = jax.value_and_grad(fn)(w)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        _, state = opt.update(u, opt.init(w), w, value=value, grad=grad, value_fn=fn)
        jax.effects_barrier()
    return out.getvalue(), state


def test_verbose_zoom_says_the_update_is_not_a_descent_direction():
    text, state = _printed(
        gx.scale_by_zoom_linesearch(18, curv_rtol=0.5, verbose=True), lambda w: w @ w, jnp.array([60.0, 0.0]),
        jnp.array([1.0, 0.0]),
    )
    assert float(state.learning_rate) < 1e-5
    assert ls.FLAG_NO_STEPSIZE_FOUND in text and ls.FLAG_NOT_A_DESCENT_DIRECTION in text


def test_verbose_zoom_says_max_learning_rate_is_too_small():
    text, state = _printed(
        gx.scale_by_zoom_linesearch(10, curv_rtol=0.5, max_learning_rate=10.0, verbose=True), lambda w: w @ w,
        jnp.array([-60.0, 0.0]), jnp.array([1.0, 0.0]),
    )
    assert float(state.learning_rate) == 10.0
    assert ls.FLAG_INTERVAL_NOT_FOUND in text and ls.FLAG_CURVATURE_COND_NOT_SATISFIED in text
    assert ls.FLAG_NOT_A_DESCENT_DIRECTION not in text


def test_verbose_zoom_says_the_bracket_became_too_small():
    fn = lambda x: jnp.exp(-1 / x**2)  # flat near 0: the bracket shrinks before the slope does
    w = jnp.asarray(-0.2, jnp.float32)  # Optax's case; in float64 the search succeeds
    text, _ = _printed(gx.scale_by_zoom_linesearch(30, verbose=True), fn, w, -jax.grad(fn)(w))
    assert ls.FLAG_INTERVAL_TOO_SMALL in text


def test_verbose_is_quiet_when_the_search_succeeds():
    fn = lambda w: jnp.sum(w**2)
    w = jnp.array([1.0, -2.0])
    for opt in [gx.scale_by_zoom_linesearch(10, verbose=True), gx.scale_by_backtracking_linesearch(10, verbose=True)]:
        text, _ = _printed(opt, fn, w, -2 * w)
        assert text == ""


def test_verbose_backtracking_says_it_found_no_decrease():
    text, state = _printed(
        gx.scale_by_backtracking_linesearch(3, verbose=True), lambda w: jnp.sum(w**2), jnp.array([1.0]),
        jnp.array([1.0]),
    )
    assert "scale_by_backtracking_linesearch: no step met the sufficient decrease condition" in text
    assert float(state.info.decrease_error) > 0


@pytest.mark.parametrize(
    "make",
    [lambda: gx.scale_by_zoom_linesearch(5, verbose=1), lambda: gx.scale_by_backtracking_linesearch(5, verbose="yes")],
)
def test_verbose_must_be_a_bool(make):
    with pytest.raises(TypeError, match=r"linesearch: verbose must be True or False"):
        make()


# --- arguments --------------------------------------------------------------------------------------


def test_wolfe_order_is_checked_on_concrete_values_and_tracers_pass_through():
    # Like every range check (core/check.py), the order is checked where the values are known;
    # it compared tracers before, and raised a JAX error instead of letting them through.
    with pytest.raises(ValueError, match=r"slope_rtol must be smaller than curv_rtol"):
        gx.scale_by_zoom_linesearch(5, slope_rtol=0.5, curv_rtol=0.5)
    x = jnp.array([1.0, 2.0])

    def step(c1, c2):
        opt = gx.scale_by_zoom_linesearch(5, slope_rtol=c1, curv_rtol=c2)
        return opt.update(-x, opt.init(x), x, value=jnp.sum(x**2), grad=2 * x, value_fn=lambda x: jnp.sum(x**2))[0]

    np.testing.assert_allclose(np.asarray(jax.jit(step)(1e-4, 0.9)), -np.asarray(x), rtol=1e-12)  # eta = 1
