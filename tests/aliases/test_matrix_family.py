"""Muon (gradxform/aliases/matrix_family.py) against optax.contrib.muon 0.2.8, and its recipe.

The registry (tests/registry_matrix_family.py) compares float64 trajectories step by step;
here float32 trajectories are compared with Optax's bit for bit, jitted: Optax runs its
Newton-Schulz loop as one compiled ``fori_loop``, so eagerly the two round differently, while
compiled they are the same program. Where Optax multiplies by a Python-number constant next to
another (the weight decay's rate, the consistent-RMS factor) XLA reassociates its product,
which a hyperparameter read from the state does not allow; there the trajectories agree to a
few float32 ulps, checked with a tight tolerance.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from harness import trajectory
from optax import contrib
from problems import Problem

import gradxform as gx


def _layers() -> Problem:
    """f = 1/2 sum_k d_k x_k^2 on a tall and a wide matrix, a vector and a scalar."""
    rng = np.random.default_rng(5)
    init = {"w": rng.normal(size=(4, 3)), "u": rng.normal(size=(2, 5)), "b": rng.normal(size=3),
            "s": np.array(1.5)}
    scales = {k: np.logspace(-1, 1, np.size(v)).reshape(np.shape(v)) for k, v in init.items()}
    return Problem("layers", init, lambda p: {k: scales[k] * x for k, x in p.items()})


BIT_IDENTICAL = {
    "defaults": dict(learning_rate=3e-2),
    "dion": dict(learning_rate=3e-2, ns_coeffs="dion"),
    "aol_adaptive": dict(learning_rate=3e-2, preconditioning="aol", adaptive=True, ns_steps=4),
    "adam_arguments": dict(learning_rate=3e-2, adam_learning_rate=1e-2, adam_b1=0.8, adam_b2=0.99,
                           adam_weight_decay=1e-2),
}
REASSOCIATED = {
    "weight_decay": dict(learning_rate=3e-2, weight_decay=0.1),
    "consistent_rms": dict(learning_rate=3e-2, consistent_rms=0.2),
    "schatten": dict(learning_rate=3e-2, preconditioning="schatten"),
    # Optax's spectral norm is computed by a batched SVD (it vmaps over a batch of one matrix)
    "spectral": dict(learning_rate=3e-2, preconditioning="spectral"),
    # AdamW's plain numerator, compiled beside the Newton-Schulz loop, is fused differently
    "plain_momentum": dict(learning_rate=3e-2, beta=0.9, nesterov=False),
}


def _trajectories(kwargs):
    with jax.numpy_dtype_promotion("standard"):  # Optax mixes int and float in its counts
        expected = trajectory(contrib.muon(**kwargs), _layers(), 20, dtype=np.float32)
    actual = trajectory(gx.muon(**kwargs), _layers(), 20, dtype=np.float32)
    return actual, expected


@pytest.mark.parametrize("kwargs", BIT_IDENTICAL.values(), ids=BIT_IDENTICAL.keys())
def test_muon_float32_is_bit_identical_to_optax(kwargs):
    actual, expected = _trajectories(kwargs)
    for step, (a, e) in enumerate(zip(actual, expected)):
        for key in e:
            np.testing.assert_array_equal(a[key], e[key], err_msg=f"step {step + 1}, leaf {key!r}")


@pytest.mark.parametrize("kwargs", REASSOCIATED.values(), ids=REASSOCIATED.keys())
def test_muon_float32_agrees_with_optax_to_a_few_ulps_where_xla_reassociates(kwargs):
    actual, expected = _trajectories(kwargs)
    for step, (a, e) in enumerate(zip(actual, expected)):
        for key in e:
            np.testing.assert_allclose(a[key], e[key], rtol=2e-6, atol=1e-7,
                                       err_msg=f"step {step + 1}, leaf {key!r}")


def test_muon_orthogonalizes_matrices_and_gives_other_leaves_to_adamw():
    params = {"w": jnp.zeros((3, 2)), "b": jnp.zeros(2), "s": jnp.zeros(())}
    grads = {"w": jnp.asarray([[3.0, 0.0], [0.0, 1.0], [0.0, 0.0]]), "b": jnp.asarray([2.0, -1.0]),
             "s": jnp.asarray(0.5)}
    opt = gx.muon(0.1, ns_coeffs=(1.5, -0.5, 0.0), ns_steps=30)  # the cubic: converges to U V^T
    updates, _ = opt.update(grads, opt.init(params), params)
    np.testing.assert_allclose(updates["w"], -0.1 * np.asarray([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]),
                               atol=1e-6)
    nadam_first = 1 + 0.9 / 1.9  # (b1 / (1 + b1) + 1) sign(g): Nadam's first step (nesterov=True)
    np.testing.assert_allclose(updates["b"], [-0.1 * nadam_first, 0.1 * nadam_first], rtol=1e-5)
    np.testing.assert_allclose(updates["s"], -0.1 * nadam_first, rtol=1e-5)


def test_muon_recipe_is_a_partition_of_the_matrix_chain_and_adamw():
    text = str(gx.recipe(gx.muon(1e-2)))
    for name in ("partition", "scale_by_momentum", "orthogonalize_by_newton_schulz", "scale_by_shape",
                 "weight_decay", "adamw", "scale_by_learning_rate"):
        assert name in text


def test_muon_hyperparameters_are_named_once_and_settable():
    params = {"w": jnp.ones((2, 3), jnp.float32), "b": jnp.ones(3, jnp.float32)}
    opt = gx.muon(1e-2, weight_decay=1e-3)
    state = opt.init(params)
    assert {"learning_rate", "beta", "eps", "weight_decay"} <= {n.split("/")[-1] for n in gx.hyperparams(state)}
    state = gx.set_hyperparams(state, **{"muon/learning_rate": 0.0, "adam/learning_rate": 0.0})
    updates, _ = jax.jit(opt.update)(params, state, params)
    np.testing.assert_array_equal(updates["w"], np.zeros((2, 3)))
    np.testing.assert_array_equal(updates["b"], np.zeros(3))


def test_scale_by_muon_alone_matches_optax():
    params = {"w": jnp.asarray(np.random.default_rng(0).normal(size=(3, 4)), jnp.float32)}
    # Optax's needs its dimension numbers spelled out on a tree (None fails in its tree map)
    ours = gx.scale_by_muon()
    theirs = contrib.scale_by_muon(weight_dimension_numbers={"w": contrib.MuonDimensionNumbers()})
    s_ours, s_theirs = ours.init(params), theirs.init(params)
    for _ in range(3):
        u_ours, s_ours = jax.jit(ours.update)(params, s_ours)
        with jax.numpy_dtype_promotion("standard"):
            u_theirs, s_theirs = jax.jit(theirs.update)(params, s_theirs)
        np.testing.assert_array_equal(u_ours["w"], u_theirs["w"])


def test_scale_by_muon_rejects_a_leaf_that_is_not_a_matrix():
    with pytest.raises(ValueError, match=r"scale_by_muon|orthogonalize_by_newton_schulz: every leaf must be a "
                                         r"matrix \(2-D\), got shape \(3,\) at \['b'\]"):
        gx.scale_by_muon().init({"w": jnp.ones((2, 2)), "b": jnp.ones(3)})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(ns_coeffs="polar"), r"muon: ns_coeffs must be three numbers .* got ns_coeffs='polar'"),
        (dict(ns_coeffs=(1.0, 2.0)), r"muon: ns_coeffs must be three numbers .* got ns_coeffs=\(1.0, 2.0\)"),
        (dict(ns_coeffs="dion", ns_steps=3), r"muon: ns_coeffs gives 5 triples, .* ns_steps=3"),
        (dict(ns_steps=-1), r"muon: ns_steps"),
        (dict(beta=1.0), r"beta"),
        (dict(eps=-1.0), r"eps"),
        (dict(preconditioning="newton"), r"preconditioning must be one of .* got preconditioning='newton'"),
        (dict(consistent_rms=-0.2), r"consistent_rms"),
    ],
)
def test_muon_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gx.muon(1e-2, **kwargs)


def test_muon_pytorch_layout_is_optax_on_the_transposed_problem():
    """fan_in_axis=1 on (out, in) weights is Optax's rule on their (in, out) transposes."""
    problem = _layers()

    def transpose(tree):
        return {k: np.asarray(v).T for k, v in tree.items()}

    transposed = Problem("layers_t", transpose(problem.init), lambda p: transpose(problem.grad(transpose(p))))
    for rms in (None, 0.2):
        ours = trajectory(gx.muon(3e-2, consistent_rms=rms, fan_in_axis=1), transposed, 10)
        with jax.numpy_dtype_promotion("standard"):
            theirs = trajectory(contrib.muon(3e-2, consistent_rms=rms), problem, 10)
        for a, e in zip(ours, theirs):
            for key in e:
                np.testing.assert_allclose(a[key].T, e[key], rtol=1e-6, atol=1e-12)


def _pytorch_muon_step(w, g, buf, lr, weight_decay, momentum, eps, adjust_lr_fn, ns_steps=5):
    """One step of ``torch.optim.Muon`` on an (out, in) matrix, transcribed in NumPy (float64).

    PyTorch 2.13's rule: buf = lerp(buf, g, 1 - mu); Nesterov update = lerp(g, buf, mu);
    Newton-Schulz on the (transposed if tall) update divided by max(||.||_F, eps); the learning
    rate adjusted by the shape (A, B); weight decay by the unadjusted rate.
    """
    a, b, c = 3.4445, -4.7750, 2.0315
    buf = buf + (1 - momentum) * (g - buf)
    x = g + momentum * (buf - g)
    tall = x.shape[0] > x.shape[1]
    x = x.T if tall else x
    x = x / max(np.linalg.norm(x), eps)
    for _ in range(ns_steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    x = x.T if tall else x
    rows, cols = w.shape
    ratio = np.sqrt(max(1, rows / cols)) if adjust_lr_fn == "original" else 0.2 * np.sqrt(max(rows, cols))
    return w * (1 - lr * weight_decay) - lr * ratio * x, buf


@pytest.mark.parametrize("adjust_lr_fn, consistent_rms", [("original", None), ("match_rms_adamw", 0.2)])
def test_muon_reaches_pytorchs_muon_by_arguments(adjust_lr_fn, consistent_rms):
    """debias=False, eps_mode="max", fan_in_axis=1 and PyTorch's defaults are torch.optim.Muon,
    step by step in float64 (the Newton-Schulz dtype left at float64 on both sides)."""
    rng = np.random.default_rng(11)
    params = {"tall": rng.normal(size=(5, 3)), "wide": rng.normal(size=(2, 6))}
    opt = gx.muon(2e-2, eps=1e-7, weight_decay=0.1, fan_in_axis=1, debias=False, eps_mode="max",
                  consistent_rms=consistent_rms)
    state = opt.init(params)
    expected = {k: np.asarray(v) for k, v in params.items()}
    buffers = {k: np.zeros_like(v) for k, v in expected.items()}
    step = jax.jit(opt.update)
    for t in range(8):
        grads = {k: np.sin(v * (t + 1)) + 0.1 * v for k, v in expected.items()}
        updates, state = step(grads, state, params)
        params = gx.apply_updates(params, updates)
        for k in expected:
            expected[k], buffers[k] = _pytorch_muon_step(
                expected[k], grads[k], buffers[k], 2e-2, 0.1, 0.95, 1e-7, adjust_lr_fn)
            np.testing.assert_allclose(params[k], expected[k], rtol=1e-9, atol=1e-12)
        expected = {k: np.asarray(v) for k, v in params.items()}  # step by step: both go on from ours


def test_muon_iterates_in_the_dtype_it_is_given():
    """ns_dtype=bfloat16 rounds the iteration (PyTorch's choice) and hands back float32."""
    g = {"w": jnp.asarray(np.random.default_rng(0).normal(size=(4, 6)), jnp.float32)}
    exact, _ = gx.orthogonalize_by_newton_schulz().update(g, gx.EmptyState())
    rounded, _ = gx.orthogonalize_by_newton_schulz(ns_dtype=jnp.bfloat16).update(g, gx.EmptyState())
    assert rounded["w"].dtype == jnp.float32
    gap = float(jnp.max(jnp.abs(rounded["w"] - exact["w"])))
    assert 1e-4 < gap < 0.2  # bfloat16's 8-bit mantissa: visibly rounded, still the same matrix


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(eps_mode="min"), ValueError, r"muon: eps_mode must be one of \['add', 'max'\], got eps_mode='min'"),
        (dict(ns_dtype=jnp.int8), TypeError, r"muon: ns_dtype must be a floating-point dtype"),
        (dict(ns_dtype="bf16"), TypeError, r"muon: ns_dtype must be a floating-point dtype .* ns_dtype='bf16'"),
        (dict(debias=1), TypeError, r"muon: debias"),
    ],
)
def test_muon_rejects_bad_pytorch_convention_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        gx.muon(1e-2, **kwargs)
