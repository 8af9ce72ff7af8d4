"""Shampoo and SOAP as recipes (gradxform/aliases/kronecker_family.py). The step-by-step parity
with NumPy transcriptions of the papers is in the registry (registry_kronecker.py)."""
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from harness import assert_same_bits, trajectory
from problems import PROBLEMS

import gradxform as gx

RNG = np.random.default_rng(3)


def _grads(params, n):
    return [jax.tree.map(lambda p: jnp.asarray(RNG.normal(size=p.shape), p.dtype), params) for _ in range(n)]


def _run(opt, params, grads):
    state, step, outs = opt.init(params), jax.jit(opt.update), []
    for g in grads:
        out, state = step(g, state, params)
        outs.append(out)
    return outs, step


def test_soap_on_vectors_and_scalars_is_adamw_bit_for_bit_in_float32():
    # SOAP keeps the identity basis off matrices: its primitives are then AdamW's, in AdamW's order.
    problem = PROBLEMS[1]  # Rosenbrock: one vector
    ours = trajectory(gx.soap(1e-3, b1=0.9, b2=0.999, weight_decay=1e-2), problem, 20, dtype=np.float32)
    theirs = trajectory(gx.adamw(1e-3, b1=0.9, b2=0.999, weight_decay=1e-2), problem, 20, dtype=np.float32)
    assert_same_bits(ours, theirs)


def test_soap_takes_adams_first_step_on_matrices_too():
    params = {"w": jnp.zeros((3, 4))}
    grads = _grads(params, 1)
    (out,), _ = _run(gx.soap(0.1, weight_decay=0.0), params, grads)
    np.testing.assert_allclose(out["w"], -0.1 * np.sign(grads[0]["w"]), rtol=1e-6)  # bases start at I


def test_shampoo_vectors_take_the_grafted_step():
    params = {"b": jnp.zeros(3)}
    grads = _grads(params, 3)
    outs, _ = _run(gx.shampoo(0.1, grafting="adagrad", graft_eps=1e-8), params, grads)
    total = np.zeros(3)
    for g, out in zip(grads, outs):
        total += np.asarray(g["b"]) ** 2
        np.testing.assert_allclose(out["b"], -0.1 * np.asarray(g["b"]) / (np.sqrt(total) + 1e-8), rtol=1e-12)
    sgd_outs, _ = _run(gx.shampoo(0.1, grafting="none"), params, grads)
    np.testing.assert_allclose(sgd_outs[0]["b"], -0.1 * np.asarray(grads[0]["b"]), rtol=1e-15)


def test_grafted_shampoo_steps_have_the_grafts_norm_per_matrix():
    params = {"w": jnp.zeros((4, 3)), "k": jnp.zeros((2, 2, 3))}
    grads = _grads(params, 4)
    outs, _ = _run(gx.shampoo(1.0, grafting="sgd"), params, grads)
    for g, out in zip(grads, outs):
        for name in params:
            np.testing.assert_allclose(np.linalg.norm(out[name]), np.linalg.norm(g[name]), rtol=1e-12)


@pytest.mark.parametrize("make", [
    lambda: gx.shampoo(1e-2, precondition_frequency=4),
    lambda: gx.soap(1e-2, precondition_frequency=4),
    lambda: gx.scale_by_shampoo(grafting="rmsprop"),
    lambda: gx.scale_by_soap(),
], ids=["shampoo", "soap", "scale_by_shampoo", "scale_by_soap"])
def test_one_jitted_step_serves_every_step_across_refreshes(make):
    params = {"w": jnp.zeros((5, 3)), "b": jnp.zeros(3), "s": jnp.zeros(())}
    outs, step = _run(make(), params, _grads(params, 10))
    assert step._cache_size() == 1
    assert all(np.all(np.isfinite(leaf)) for out in outs for leaf in jax.tree.leaves(out))


def test_scale_by_soap_is_soap_without_learning_rate_and_decay():
    params = {"w": jnp.ones((3, 2)), "b": jnp.ones(2)}
    grads = _grads(params, 6)
    direction, _ = _run(gx.scale_by_soap(b1=0.9, precondition_frequency=2), params, grads)
    full, _ = _run(gx.soap(0.5, b1=0.9, weight_decay=0.0, precondition_frequency=2), params, grads)
    for d, f in zip(direction, full):
        jax.tree.map(lambda a, b: np.testing.assert_allclose(-0.5 * a, b, rtol=1e-12), d, f)


def test_the_recipes_print_their_primitives():
    text = repr(gx.soap(1e-3))
    for name in ("in_kronecker_eigenbasis", "rotate_to_eigenbasis", "rotate_back", "scale_by_momentum",
                 "mean_of_squares", "bias_correction", "weight_decay", "scale_by_learning_rate"):
        assert name in text
    text = repr(gx.shampoo(1e-3))
    for name in ("partition", "graft", "scale_by_kronecker_roots", "sum_of_squares", "scale_by_learning_rate"):
        assert name in text


def test_hyperparameters_are_stored_once_by_name():
    state = gx.soap(1e-3, b2=0.99).init({"w": jnp.zeros((2, 2))})
    assert float(gx.hyperparams(state)["b2"]) == pytest.approx(0.99)  # the factors' decay too
    assert "shampoo_beta" not in gx.hyperparams(state)


def test_unknown_grafting_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"shampoo: grafting must be one of \['adagrad', 'rmsprop', "
                                         r"'sgd', 'none'\], got grafting='adam'"):
        gx.shampoo(1e-2, grafting="adam")


@pytest.mark.parametrize("make", [lambda: gx.shampoo(1e-2, precondition_frequency=2),
                                  lambda: gx.soap(1e-2, precondition_frequency=2)], ids=["shampoo", "soap"])
def test_bfloat16_params_keep_bfloat16_state_and_decompose_in_float32(make):
    params = {"w": jnp.ones((4, 3), jnp.bfloat16), "b": jnp.ones(3, jnp.bfloat16)}
    grads = [jax.tree.map(lambda p: p * (i + 1.0) + jnp.arange(p.size, dtype=p.dtype).reshape(p.shape),
                          params) for i in range(5)]
    opt = make()
    state, step = opt.init(params), jax.jit(opt.update)
    for g in grads:
        out, state = step(g, state, params)
    factors = [leaf for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]
               if re.search(r"\.(left|right)\w*\['w'\]", jax.tree_util.keystr(path))]
    assert len(factors) == 4 and {x.dtype for x in factors} == {jnp.dtype(jnp.bfloat16)}
    assert all(leaf.dtype == jnp.bfloat16 and np.all(np.isfinite(np.asarray(leaf, np.float32)))
               for leaf in jax.tree.leaves(out))
