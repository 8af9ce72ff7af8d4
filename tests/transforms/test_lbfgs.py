"""L-BFGS (gradxform.transforms.lbfgs) and the line searches (gradxform.transforms.linesearch).

Evidence: the two-loop recursion is Nocedal & Wright's Algorithm 7.4 (a NumPy version written
from the book, and the dense BFGS inverse-Hessian recursion it stands for); the zoom line search
returns steps meeting the strong Wolfe conditions; full runs reach SciPy's L-BFGS-B minimum in
a comparable number of iterations; jit, state and errors behave.
"""
from __future__ import annotations

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.optimize

import gradxform as gx
from gradxform.transforms.lbfgs import two_loop_recursion

pytestmark = pytest.mark.slow  # make test-fast leaves this module out

GTOL = 1e-8  # stop when every gradient entry is this small (SciPy's pgtol)
INT32_MAX = 2**31 - 1


# --- problems ----------------------------------------------------------------------------------


def rosenbrock(params):
    x, y = params["xy"][0], params["xy"][1]
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def logistic_data():
    """200 points, 5 features, labels in {-1, 1} from a noisy linear rule (fixed seed)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5))
    y = np.where(x @ rng.normal(size=5) + 0.5 + rng.normal(size=200) > 0, 1.0, -1.0)
    return {"x": jnp.asarray(x), "y": jnp.asarray(y)}


def logistic_loss(params, x, y):
    """Mean logistic loss plus (0.1 / 2) |w|^2; ``x`` and ``y`` reach it as update's extra args."""
    margins = y * (x @ params["w"] + params["b"])
    return jnp.mean(jnp.logaddexp(0.0, -margins)) + 0.05 * jnp.sum(params["w"] ** 2)


PROBLEMS = {
    "rosenbrock": (rosenbrock, {"xy": jnp.array([-1.2, 1.0])}, {}),
    "logistic_regression": (logistic_loss, {"w": jnp.zeros(5), "b": jnp.zeros(())}, logistic_data()),
}


def _largest_entry(tree):
    return max(float(jnp.max(jnp.abs(leaf))) for leaf in jax.tree.leaves(tree))


def minimize(opt, loss, params, data, max_updates=300):
    """Full-batch training loop: jitted updates until every gradient entry is <= GTOL."""
    value_and_grad = jax.jit(jax.value_and_grad(loss))

    @jax.jit
    def step(params, state, data):
        value, grad = value_and_grad(params, **data)
        updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=loss, **data)
        return gx.apply_updates(params, updates), state

    state = opt.init(params)
    for count in range(max_updates):
        if _largest_entry(value_and_grad(params, **data)[1]) <= GTOL:
            return params, count
        params, state = step(params, state, data)
    pytest.fail(f"no convergence in {max_updates} updates: params {params}")


def scipy_lbfgsb(loss, params, data):
    """SciPy's L-BFGS-B, unbounded, memory 10, stopping on the same gradient test only."""
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    value_and_grad = jax.jit(jax.value_and_grad(lambda v: loss(unravel(v), **data)))
    result = scipy.optimize.minimize(
        lambda v: tuple(np.asarray(a) for a in value_and_grad(jnp.asarray(v))),
        np.asarray(flat), jac=True, method="L-BFGS-B",
        options={"maxcor": 10, "gtol": GTOL, "ftol": 0.0, "maxiter": 1000},
    )
    assert result.success, result.message
    return unravel(jnp.asarray(result.x)), result


# --- full runs against SciPy ------------------------------------------------------------------


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_lbfgs_with_zoom_reaches_scipy_lbfgsb_minimum_in_comparable_iterations(name):
    loss, start, data = PROBLEMS[name]
    expected, result = scipy_lbfgsb(loss, start, data)
    params, count = minimize(gx.lbfgs(), loss, start, data)
    print(f"{name}: gradxform lbfgs (zoom) {count} updates, SciPy L-BFGS-B {result.nit} iterations")
    for got, want in zip(jax.tree.leaves(params), jax.tree.leaves(expected)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=0, atol=1e-6)
    assert abs(float(loss(params, **data)) - result.fun) <= 1e-6
    assert count <= 2 * result.nit + 5


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_lbfgs_with_backtracking_and_positive_pairs_also_reaches_the_minimum(name):
    loss, start, data = PROBLEMS[name]
    expected, result = scipy_lbfgsb(loss, start, data)
    linesearch = gx.scale_by_backtracking_linesearch(max_backtracking_steps=15)
    opt = gx.lbfgs(linesearch=linesearch, store_pairs="positive")
    params, count = minimize(opt, loss, start, data)
    print(f"{name}: gradxform lbfgs (backtracking) {count} updates, SciPy L-BFGS-B {result.nit} iterations")
    for got, want in zip(jax.tree.leaves(params), jax.tree.leaves(expected)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=0, atol=1e-6)
    assert abs(float(loss(params, **data)) - result.fun) <= 1e-6
    assert count <= 2 * result.nit + 5


def test_lbfgs_with_backtracking_and_all_pairs_stalls_on_rosenbrock_where_optax_does():
    # Why store_pairs="positive" exists: an Armijo-only search lets pairs of negative curvature
    # in, and Optax's L-BFGS (store_pairs="all") stalls at the same point as ours.
    def run(opt, apply_updates):
        step = jax.jit(lambda p, s: _plain_step(opt, rosenbrock, p, s, apply_updates))
        params, state = {"xy": jnp.array([-1.2, 1.0])}, opt.init({"xy": jnp.array([-1.2, 1.0])})
        for _ in range(300):
            params, state = step(params, state)
        return np.asarray(params["xy"])

    ours = run(gx.lbfgs(linesearch=gx.scale_by_backtracking_linesearch(15)), gx.apply_updates)
    with jax.numpy_dtype_promotion("standard"):
        theirs = run(optax.lbfgs(linesearch=optax.scale_by_backtracking_linesearch(15)), optax.apply_updates)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)
    assert np.max(np.abs(ours - 1.0)) > 0.1


def _plain_step(opt, loss, params, state, apply_updates):
    value, grad = jax.value_and_grad(loss)(params)
    updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=loss)
    return apply_updates(params, updates), state


def test_lbfgs_with_zoom_takes_optax_steps_on_rosenbrock():
    # Same algorithm, same choices trial for trial: the iterates agree to rounding.
    def stepper(opt, apply_updates):
        def step(params, state):
            value, grad = jax.value_and_grad(rosenbrock)(params)
            updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=rosenbrock)
            return apply_updates(params, updates), state

        return jax.jit(step)

    mine = optax_params = {"xy": jnp.array([-1.2, 1.0])}
    ours, theirs = gx.lbfgs(), optax.lbfgs()
    ours_state, theirs_state = ours.init(mine), theirs.init(mine)
    ours_step = stepper(ours, gx.apply_updates)
    with jax.numpy_dtype_promotion("standard"):
        theirs_step = stepper(theirs, optax.apply_updates)
        for _ in range(40):
            mine, ours_state = ours_step(mine, ours_state)
            optax_params, theirs_state = theirs_step(optax_params, theirs_state)
            np.testing.assert_allclose(np.asarray(mine["xy"]), np.asarray(optax_params["xy"]), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(np.asarray(mine["xy"]), [1.0, 1.0], rtol=1e-9)


# --- the two-loop recursion ---------------------------------------------------------------------


def numpy_two_loop(g, pairs, gamma):
    """Nocedal & Wright, Algorithm 7.4: H_k g for pairs [(s, y), ...] from oldest to newest."""
    q = g.copy()
    alphas = []
    for s, y in reversed(pairs):
        alpha = (s @ q) / (y @ s)
        q = q - alpha * y
        alphas.append(alpha)
    r = gamma * q
    for (s, y), alpha in zip(pairs, reversed(alphas)):
        beta = (y @ r) / (y @ s)
        r = r + s * (alpha - beta)
    return r


def dense_inverse_hessian(pairs, gamma, n):
    """The BFGS recursion (N&W eq. 7.19) the two loops stand for: H <- V^T H V + rho s s^T."""
    h = gamma * np.eye(n)
    for s, y in pairs:
        rho = 1 / (y @ s)
        v = np.eye(n) - rho * np.outer(y, s)
        h = v.T @ h @ v + rho * np.outer(s, s)
    return h


def _pairs(rng, count, n):
    """Pairs with positive curvature: y = A s for a symmetric positive definite A."""
    m = rng.normal(size=(n, n))
    a = m @ m.T + n * np.eye(n)
    return [(s, a @ s) for s in rng.normal(size=(count, n))]


def test_two_loop_recursion_is_algorithm_7_4_and_the_dense_bfgs_inverse_hessian():
    rng = np.random.default_rng(1)
    n, m = 6, 4
    pairs = _pairs(rng, m, n)
    g, gamma = rng.normal(size=n), 0.37
    # Stored in a ring buffer whose oldest pair sits in slot 2.
    order = np.array([2, 3, 0, 1])
    s = np.zeros((m, n))
    y = np.zeros((m, n))
    for slot, (s_i, y_i) in zip(order, pairs):
        s[slot], y[slot] = s_i, y_i
    rho = 1 / np.einsum("ij,ij->i", s, y)
    got = two_loop_recursion(
        {"v": jnp.asarray(g)}, {"v": jnp.asarray(s)}, {"v": jnp.asarray(y)}, jnp.asarray(rho),
        jnp.asarray(gamma), jnp.asarray(order, jnp.int32),
    )["v"]
    np.testing.assert_allclose(np.asarray(got), numpy_two_loop(g, pairs, gamma), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(got), dense_inverse_hessian(pairs, gamma, n) @ g, rtol=1e-10)


@pytest.mark.parametrize("scale_init_precond", [True, False])
def test_scale_by_lbfgs_returns_algorithm_7_4_on_the_last_memory_size_pairs(scale_init_precond):
    # Params and gradients chosen so that the pairs are known: memory 3 over 7 updates wraps the
    # ring buffer twice, and the tree has two leaves.
    rng = np.random.default_rng(2)
    n, memory_size = 5, 3
    pairs = _pairs(rng, 6, n)
    xs, gs = [rng.normal(size=n)], [rng.normal(size=n)]
    for s, y in pairs:
        xs.append(xs[-1] + s)
        gs.append(gs[-1] + y)
    opt = gx.scale_by_lbfgs(memory_size=memory_size, scale_init_precond=scale_init_precond)

    def tree(v):
        return {"a": jnp.asarray(v[:2]), "b": jnp.asarray(v[2:]).reshape(3, 1)}

    state = opt.init(tree(xs[0]))
    for k, (x, g) in enumerate(zip(xs, gs)):
        out, state = opt.update(tree(g), state, tree(x))
        got = np.concatenate([np.asarray(out["a"]), np.asarray(out["b"]).ravel()])
        kept = pairs[max(0, k - memory_size):k]
        if not scale_init_precond:
            gamma = 1.0
        elif kept:
            gamma = (kept[-1][0] @ kept[-1][1]) / (kept[-1][1] @ kept[-1][1])  # N&W eq. 7.20
        else:
            gamma = min(1.0, 1 / np.linalg.norm(g))
        np.testing.assert_allclose(got, numpy_two_loop(g, kept, gamma), rtol=1e-11, err_msg=f"update {k}")
    assert int(state.count) == len(xs)


def test_scale_by_lbfgs_positive_skips_a_pair_with_negative_curvature():
    opt = gx.scale_by_lbfgs(memory_size=4, store_pairs="positive")
    x0, x1, x2 = jnp.array([0.0, 0.0]), jnp.array([1.0, 0.0]), jnp.array([1.0, 1.0])
    g0, g1, g2 = jnp.array([1.0, 1.0]), jnp.array([3.0, 1.0]), jnp.array([3.0, 0.5])
    state = opt.init(x0)
    _, state = opt.update(g0, state, x0)
    _, state = opt.update(g1, state, x1)  # s = (1, 0), y = (2, 0): s.y = 2 > 0, stored
    out, state = opt.update(g2, state, x2)  # s = (0, 1), y = (0, -0.5): s.y < 0, skipped
    assert int(state.index) == 1
    np.testing.assert_allclose(np.asarray(state.rho), [0.5, 0.0, 0.0, 0.0])
    pair = [(np.array([1.0, 0.0]), np.array([2.0, 0.0]))]
    np.testing.assert_allclose(np.asarray(out), numpy_two_loop(np.asarray(g2), pair, 0.5), rtol=1e-12)


def test_scale_by_lbfgs_by_default_stores_a_pair_with_negative_curvature_as_optax_does():
    xs = [jnp.array([0.0, 0.0]), jnp.array([1.0, 0.0]), jnp.array([1.0, 1.0]), jnp.array([0.5, 2.0])]
    gs = [jnp.array([1.0, 1.0]), jnp.array([3.0, 1.0]), jnp.array([3.0, 0.5]), jnp.array([2.0, 2.5])]
    ours, theirs = gx.scale_by_lbfgs(memory_size=4), optax.scale_by_lbfgs(memory_size=4)
    ours_state, theirs_state = ours.init(xs[0]), theirs.init(xs[0])
    for x, g in zip(xs, gs):
        mine, ours_state = ours.update(g, ours_state, x)
        with jax.numpy_dtype_promotion("standard"):
            expected, theirs_state = theirs.update(g, theirs_state, x)
        np.testing.assert_allclose(np.asarray(mine), np.asarray(expected), rtol=1e-14)
    np.testing.assert_allclose(np.asarray(ours_state.rho), [0.5, -2.0, 1 / (-0.5 * -1.0 + 1.0 * 2.0), 0.0])


@pytest.mark.parametrize("store_pairs", ["all", "positive"])
def test_scale_by_lbfgs_keeps_a_float32_pair_of_huge_curvature(store_pairs):
    # f = 1e8 x^2 / 2: s.y = 1e8 s^2 is far below eps(float32) |y|^2 = 1.2e-7 * 1e16 s^2, so the
    # former test (s.y > eps |y|^2) dropped the pair; the direction must be Newton's, g / 1e8.
    with jax.enable_x64(False):
        opt = gx.scale_by_lbfgs(memory_size=3, store_pairs=store_pairs)
        x0, x1 = jnp.array([1.0, -2.0]), jnp.array([0.999, -1.998])
        state = opt.init(x0)
        _, state = opt.update(1e8 * x0, state, x0)
        out, state = opt.update(1e8 * x1, state, x1)
    assert int(state.index) == 1
    np.testing.assert_allclose(np.asarray(out), np.asarray(x1), rtol=1e-3)


def test_lbfgs_with_a_fixed_step_follows_optax_through_negative_curvature():
    # Himmelblau from (1, 1) with a step of 1e-3 meets pairs with s.y < 0 (Optax's test case).
    def himmelblau(p):
        return (p[0] ** 2 + p[1] - 11.0) ** 2 + (p[0] + p[1] ** 2 - 7.0) ** 2

    mine = theirs = jnp.array([1.0, 1.0])
    ours, reference = gx.lbfgs(1e-3, memory_size=5, scale_init_precond=False, linesearch=None), optax.lbfgs(
        1e-3, memory_size=5, scale_init_precond=False, linesearch=None
    )
    ours_state, theirs_state = ours.init(mine), reference.init(theirs)
    negative = 0
    for _ in range(15):
        updates, ours_state = ours.update(jax.grad(himmelblau)(mine), ours_state, mine)
        mine = gx.apply_updates(mine, updates)
        with jax.numpy_dtype_promotion("standard"):
            updates, theirs_state = reference.update(jax.grad(himmelblau)(theirs), theirs_state, theirs)
            theirs = optax.apply_updates(theirs, updates)
        np.testing.assert_allclose(np.asarray(mine), np.asarray(theirs), rtol=1e-12)
        negative += int(jnp.sum(ours_state[0].rho < 0) > 0)
    assert negative > 0  # the case the default "all" exists for


@pytest.mark.parametrize("scale_init_precond", [True, False])
def test_scale_by_lbfgs_matches_optax_on_a_fixed_gradient_sequence(scale_init_precond):
    rng = np.random.default_rng(3)
    params = {"w": jnp.asarray(rng.normal(size=(3, 2))), "b": jnp.asarray(1.5)}
    a = np.diag(np.linspace(0.5, 4.0, 6))
    ours = gx.scale_by_lbfgs(memory_size=3, scale_init_precond=scale_init_precond)
    theirs = optax.scale_by_lbfgs(memory_size=3, scale_init_precond=scale_init_precond)
    ours_state, theirs_state = ours.init(params), theirs.init(params)
    ours_update, theirs_update = jax.jit(ours.update), jax.jit(theirs.update)
    for _ in range(8):
        grad = {"w": jnp.asarray((a @ np.asarray(params["w"]).ravel()).reshape(3, 2)), "b": params["b"] * 2.0}
        mine, ours_state = ours_update(grad, ours_state, params)
        with jax.numpy_dtype_promotion("standard"):
            expected, theirs_state = theirs_update(grad, theirs_state, params)
        for key in params:
            np.testing.assert_allclose(np.asarray(mine[key]), np.asarray(expected[key]), rtol=1e-12)
        params = jax.tree.map(lambda p, u: p - 0.3 * u, params, mine)


def test_scale_by_lbfgs_count_saturates_and_index_wraps():
    opt = gx.scale_by_lbfgs(memory_size=2)
    x = jnp.array([0.0, 0.0])
    state = opt.init(x)._replace(count=jnp.asarray(INT32_MAX - 1, jnp.int32))
    for k in range(1, 5):
        x = x + jnp.array([1.0, 0.5 * k])
        _, state = opt.update(2.0 * x, state, x)  # y = 2 s: every pair stored
        assert state.count.dtype == jnp.int32 and int(state.count) == INT32_MAX
        assert int(state.index) == k % 2


def test_lbfgs_updates_rotate_with_the_phase_of_complex_gradients_and_params():
    def draws(rotation):
        local = np.random.default_rng(5)
        return [
            {k: jnp.asarray(rotation * (local.normal(size=shape) + 1j * local.normal(size=shape)))
             for k, shape in [("w", (2, 3)), ("b", ())]}
            for _ in range(4)
        ]

    runs = []
    for rotation in [1.0, np.exp(2j)]:
        params, *grads = draws(rotation)
        opt = gx.lbfgs(0.3, linesearch=None)
        state, history = opt.init(params), []
        for g in grads:
            updates, state = opt.update(g, state, params)
            params = gx.apply_updates(params, updates)
            history.append(updates)
        runs.append(history)
    for plain, rotated in zip(*runs):
        for key in plain:
            assert rotated[key].dtype == jnp.complex128
            np.testing.assert_allclose(np.asarray(rotated[key]), np.exp(2j) * np.asarray(plain[key]), rtol=1e-10)


def test_lbfgs_with_zoom_solves_complex_least_squares():
    # For a real loss of complex z, jax.grad gives conj(df/dz*)-style gradients: the update
    # direction is their conjugate, the line search takes the gradient as jax.grad gives it.
    rng = np.random.default_rng(6)
    a = jnp.asarray(rng.normal(size=(8, 4)) + 1j * rng.normal(size=(8, 4)))
    b = jnp.asarray(rng.normal(size=8) + 1j * rng.normal(size=8))
    loss = lambda z: jnp.sum(jnp.abs(a @ z - b) ** 2)
    opt = gx.lbfgs()
    z = jnp.zeros(4, jnp.complex128)
    state = opt.init(z)
    step = jax.jit(lambda z, state: _complex_step(opt, loss, z, state))
    for _ in range(30):
        z, state = step(z, state)
    expected = np.linalg.lstsq(np.asarray(a), np.asarray(b), rcond=None)[0]
    np.testing.assert_allclose(np.asarray(z), expected, rtol=1e-8)


def _complex_step(opt, loss, z, state):
    value, grad = jax.value_and_grad(loss)(z)
    updates, state = opt.update(jnp.conj(grad), state, z, value=value, grad=grad, value_fn=loss)
    return gx.apply_updates(z, updates), state


# --- the line searches --------------------------------------------------------------------------


def wolfe_test_function(w):
    """A smooth non-quadratic function of 3 variables."""
    return jnp.sum(w**4) / 4 + jnp.log(jnp.sum(jnp.exp(w))) + 0.5 * jnp.sum(w**2) - w[0] * w[1]


@pytest.mark.parametrize("direction_scale", [1.0, 1e-3], ids=["zoom_in", "widen_then_zoom"])
@pytest.mark.parametrize("approx_dec_rtol", [None, 1e-6], ids=["armijo", "hager_zhang"])
def test_zoom_linesearch_step_satisfies_the_strong_wolfe_conditions(direction_scale, approx_dec_rtol):
    c1, c2 = 1e-4, 0.9
    opt = gx.scale_by_zoom_linesearch(max_linesearch_steps=30, curv_rtol=c2, approx_dec_rtol=approx_dec_rtol)
    for w in [jnp.array([2.0, -1.5, 0.5]), jnp.array([-3.0, 0.1, 2.5])]:
        value, grad = jax.value_and_grad(wolfe_test_function)(w)
        direction = -direction_scale * grad
        out, state = opt.update(direction, opt.init(w), w, value=value, grad=grad, value_fn=wolfe_test_function)
        eta = float(state.learning_rate)
        np.testing.assert_allclose(np.asarray(out), eta * np.asarray(direction), rtol=1e-15)
        slope0 = float(grad @ direction)
        new_value, new_grad = jax.value_and_grad(wolfe_test_function)(w + out)
        assert eta > 0 and int(state.info.num_linesearch_steps) > 1  # it had to search
        assert float(new_value) <= float(value) + c1 * eta * slope0  # sufficient decrease
        assert abs(float(new_grad @ direction)) <= c2 * abs(slope0)  # strong curvature condition
        assert float(state.info.decrease_error) == 0 and float(state.info.curvature_error) == 0
        np.testing.assert_allclose(float(state.value), float(new_value), rtol=1e-14)
        np.testing.assert_allclose(np.asarray(state.grad), np.asarray(new_grad), rtol=1e-14)


def test_zoom_linesearch_keeps_the_previous_step_as_next_guess_and_takes_a_good_first_guess():
    opt = gx.scale_by_zoom_linesearch(max_linesearch_steps=10, initial_guess_strategy="keep")
    w = jnp.array([1.0, -2.0, 0.5])
    f = lambda w: 0.5 * jnp.sum(w**2)
    value, grad = jax.value_and_grad(f)(w)
    state = opt.init(w)._replace(learning_rate=jnp.asarray(0.7))
    _, state = opt.update(-grad, state, w, value=value, grad=grad, value_fn=f)
    # eta = 0.7 meets both conditions on this quadratic: accepted after one trial.
    assert float(state.learning_rate) == 0.7 and int(state.info.num_linesearch_steps) == 1


def test_backtracking_linesearch_shrinks_until_armijo_holds():
    opt = gx.scale_by_backtracking_linesearch(max_backtracking_steps=20, decrease_factor=0.5, store_grad=True)
    w = jnp.array([-1.2, 1.0])
    f = lambda w: rosenbrock({"xy": w})
    value, grad = jax.value_and_grad(f)(w)
    out, state = opt.update(-grad, opt.init(w), w, value=value, grad=grad, value_fn=f)
    eta = float(state.learning_rate)
    trials = int(state.info.num_linesearch_steps)
    assert eta == 0.5 ** (trials - 1) and trials > 1  # the first guess is min(1.5 * 1, 1) = 1
    slope = -float(grad @ grad)
    assert float(f(w + out)) <= float(value) + 1e-4 * eta * slope
    assert float(f(w - 2 * eta * grad)) > float(value) + 1e-4 * 2 * eta * slope  # the previous trial failed
    np.testing.assert_allclose(np.asarray(state.grad), np.asarray(jax.grad(f)(w + out)), rtol=1e-14)


def test_linesearch_passes_only_the_extra_args_value_fn_names():
    data = logistic_data()
    params = {"w": jnp.zeros(5), "b": jnp.zeros(())}
    value, grad = jax.value_and_grad(logistic_loss)(params, **data)
    for opt in [gx.lbfgs(), gx.lbfgs(linesearch=gx.scale_by_backtracking_linesearch(15))]:
        # chain adds step=... and hyperparams=..., which the line search leaves out.
        updates, _ = opt.update(grad, opt.init(params), params, value=value, grad=grad, value_fn=logistic_loss, **data)
        assert float(logistic_loss(gx.apply_updates(params, updates), **data)) < float(value)
        # Anything else value_fn does not take is an error, as in Optax.
        with pytest.raises(TypeError, match=r"Unexpected keyword arguments \['unused'\]"):
            opt.update(grad, opt.init(params), params, value=value, grad=grad, value_fn=logistic_loss, unused=1, **data)


def test_jitted_lbfgs_step_matches_eager_and_compiles_once():
    opt = gx.lbfgs()
    traces = []

    def step(params, state):
        traces.append(None)  # runs only while tracing
        value, grad = jax.value_and_grad(rosenbrock)(params)
        updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=rosenbrock)
        return gx.apply_updates(params, updates), state

    jitted = jax.jit(step)
    eager_params = jit_params = {"xy": jnp.array([-1.2, 1.0])}
    eager_state = jit_state = opt.init(eager_params)
    for _ in range(3):
        eager_params, eager_state = step(eager_params, eager_state)
        jit_params, jit_state = jitted(jit_params, jit_state)
        np.testing.assert_allclose(np.asarray(jit_params["xy"]), np.asarray(eager_params["xy"]), rtol=1e-10)
    assert len(traces) == 3 + 1


def test_lbfgs_with_a_learning_rate_and_no_linesearch_needs_no_loss():
    opt = gx.lbfgs(learning_rate=0.5, linesearch=None)
    params = {"xy": jnp.array([-1.2, 1.0])}
    state = opt.init(params)
    for _ in range(3):
        grad = jax.grad(rosenbrock)(params)
        updates, state = opt.update(grad, state, params)
        params = gx.apply_updates(params, updates)
    assert isinstance(state[2], gx.EmptyState)
    assert np.all(np.isfinite(np.asarray(params["xy"])))


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("memory_size", [0, -3])
def test_memory_size_below_one_is_an_error(memory_size):
    with pytest.raises(ValueError, match=r"scale_by_lbfgs: memory_size must be an int >= 1"):
        gx.scale_by_lbfgs(memory_size=memory_size)
    with pytest.raises(ValueError, match=r"memory_size must be an int >= 1, got memory_size=" + str(memory_size)):
        gx.lbfgs(memory_size=memory_size)


def test_store_pairs_must_be_all_or_positive():
    with pytest.raises(ValueError, match=r"scale_by_lbfgs: store_pairs must be one of \['all', 'positive'\]"):
        gx.scale_by_lbfgs(store_pairs="negative")
    with pytest.raises(ValueError, match=r"store_pairs must be one of"):
        gx.lbfgs(store_pairs="some")
    with pytest.raises(TypeError, match=r"scale_by_lbfgs: scale_init_precond must be True or False"):
        gx.scale_by_lbfgs(scale_init_precond="yes")


def test_fractional_memory_size_is_a_type_error():
    with pytest.raises(TypeError, match=r"scale_by_lbfgs: memory_size must be an int"):
        gx.scale_by_lbfgs(memory_size=2.5)


@pytest.mark.parametrize(
    "opt",
    [gx.scale_by_zoom_linesearch(10), gx.scale_by_backtracking_linesearch(10), gx.lbfgs()],
    ids=["zoom", "backtracking", "lbfgs"],
)
def test_missing_value_fn_is_an_error_that_says_what_to_pass(opt):
    w = jnp.array([1.0, 2.0])
    value, grad = jax.value_and_grad(lambda w: jnp.sum(w**2))(w)
    needs = r"linesearch: update\(\) needs the loss, but received no 'value_fn'.*value_fn=loss_fn"
    with pytest.raises(ValueError, match=needs):
        opt.update(grad, opt.init(w), w, value=value, grad=grad)
    with pytest.raises(ValueError, match=r"received no 'value', 'grad', 'value_fn'"):
        opt.update(grad, opt.init(w), w)


def test_linesearch_without_params_is_an_error():
    opt = gx.scale_by_zoom_linesearch(10)
    w = jnp.array([1.0, 2.0])
    with pytest.raises(ValueError, match=r"scale_by_zoom_linesearch: update\(\) needs params"):
        opt.update(w, opt.init(w), None, value=jnp.asarray(1.0), grad=w, value_fn=jnp.sum)


def test_non_scalar_value_is_an_error():
    opt = gx.scale_by_backtracking_linesearch(10)
    w = jnp.array([1.0, 2.0])
    with pytest.raises(ValueError, match=r"value must be a scalar .* got shape \(2,\)"):
        opt.update(w, opt.init(w), w, value=w, grad=w, value_fn=jnp.sum)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: gx.scale_by_zoom_linesearch(10, slope_rtol=0.5, curv_rtol=0.4),
         r"slope_rtol must be smaller than curv_rtol .* got slope_rtol=0.5 and curv_rtol=0.4"),
        (lambda: gx.scale_by_zoom_linesearch(0), r"max_linesearch_steps must be an int >= 1"),
        (lambda: gx.scale_by_zoom_linesearch(10, increase_factor=1.0), r"increase_factor must be in \(1, inf\)"),
        (lambda: gx.scale_by_zoom_linesearch(10, initial_guess_strategy="two"),
         r"initial_guess_strategy must be one of"),
        (lambda: gx.scale_by_backtracking_linesearch(10, decrease_factor=1.0), r"decrease_factor must be in \(0, 1\)"),
        (lambda: gx.scale_by_backtracking_linesearch(-1), r"max_backtracking_steps must be an int >= 0"),
    ],
)
def test_bad_linesearch_arguments_are_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()
