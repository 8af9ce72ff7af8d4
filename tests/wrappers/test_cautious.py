"""Cautious masking (gradxform/wrappers/cautious.py) against a NumPy transcription of the paper's
C-AdamW (Liang et al. 2024, Algorithm 1 applied to AdamW), and its contract.

The registry (tests/registry_adopt_cautious.py) runs the same comparison on its problems for
100 steps; here a random gradient sequence on a dict with a matrix and a scalar drives both.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference_cautious import make_cautious_adamw

import gradxform as gx


def _gradients(steps, seed=0):
    rng = np.random.default_rng(seed)
    return [{"w": rng.normal(size=(3, 4)), "b": rng.normal(size=())} for _ in range(steps)]


@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
def test_cautious_adamw_matches_the_paper_in_float64(weight_decay):
    params = {"w": np.linspace(-1, 1, 12).reshape(3, 4), "b": np.array(0.5)}
    opt = jax.jit(gx.cautious(gx.adamw(1e-2, weight_decay=weight_decay)).update)
    state = gx.cautious(gx.adamw(1e-2, weight_decay=weight_decay)).init(params)
    reference = make_cautious_adamw(1e-2, weight_decay=weight_decay)
    ref_state, ref_params = reference.init(params), dict(params)
    ours = {k: jnp.asarray(v) for k, v in params.items()}
    for grads in _gradients(20):
        updates, state = opt({k: jnp.asarray(v) for k, v in grads.items()}, state, ours)
        ours = gx.apply_updates(ours, updates)
        ref_updates, ref_state = reference.update(grads, ref_state, ref_params)
        ref_params = {k: ref_params[k] + ref_updates[k] for k in ref_params}
        for key in params:
            np.testing.assert_allclose(ours[key], ref_params[key], rtol=1e-12, atol=1e-15)


def test_the_mask_drops_ascending_coordinates_and_rescales_by_the_fraction_kept():
    opt = gx.cautious(gx.sgd(1.0, momentum=0.9), eps=1e-6)
    state = opt.init(jnp.zeros(4))
    _, state = opt.update(jnp.array([1.0, 1.0, -1.0, 1.0]), state)
    # momentum [1.9, 0.4, -1.1, 0.9]; the update, its negative, descends where g has its sign
    updates, _ = opt.update(jnp.array([1.0, -0.5, -0.2, 0.0]), state)
    kept = 2 / 4  # coordinates 0 and 2; coordinate 3 has g = 0: dropped (strict inequality)
    np.testing.assert_allclose(updates, [-1.9 / (kept + 1e-6), 0.0, 1.1 / (kept + 1e-6), 0.0],
                               rtol=1e-6)


def test_the_fraction_kept_is_taken_per_leaf():
    opt = gx.cautious(gx.sgd(1.0), eps=1e-6)  # plain SGD always descends: nothing is dropped
    grads = {"a": jnp.array([1.0, -2.0]), "b": jnp.array([0.0, 0.0, 3.0, 0.0])}
    updates, _ = opt.update(grads, opt.init(grads))
    np.testing.assert_allclose(updates["a"], [-1.0 / (1 + 1e-6), 2.0 / (1 + 1e-6)], rtol=1e-7)
    np.testing.assert_allclose(updates["b"], [0.0, 0.0, -3.0 / (0.25 + 1e-6), 0.0], rtol=1e-7)


def test_a_leaf_with_nothing_kept_gets_zeros():
    opt = gx.cautious(gx.scale(1.0))  # the gradient itself: ascends everywhere
    updates, _ = opt.update(jnp.array([1.0, -2.0]), opt.init(jnp.zeros(2)))
    np.testing.assert_array_equal(updates, [0.0, 0.0])


def test_the_inner_state_moves_as_it_would_unwrapped():
    params = {"w": jnp.ones((2, 3))}
    inner = gx.adamw(1e-2)
    wrapped = gx.cautious(inner)
    s_inner, s_wrapped = inner.init(params), wrapped.init(params)
    for grads in _gradients(5, seed=1):
        g = {"w": jnp.asarray(grads["w"][:2, :3])}
        _, s_inner = inner.update(g, s_inner, params)
        _, s_wrapped = wrapped.update(g, s_wrapped, params)
    for a, b in zip(jax.tree.leaves(s_wrapped.links[0].inner), jax.tree.leaves(s_inner)):
        np.testing.assert_array_equal(a, b)


def test_the_inner_hyperparameters_are_readable_and_settable():
    opt = gx.cautious(gx.adamw(1e-3))
    state = gx.set_hyperparams(opt.init({"w": jnp.ones(2)}), learning_rate=0.5)
    values = gx.hyperparams(state)
    assert float(values["learning_rate"]) == 0.5
    assert "cautious/eps" in values


def test_jit_matches_eager():
    params = {"w": jnp.linspace(-1.0, 1.0, 6)}
    opt = gx.cautious(gx.lion(1e-2))
    s_eager = s_jit = opt.init(params)
    step = jax.jit(opt.update)
    for grads in _gradients(4, seed=2):
        g = {"w": jnp.asarray(grads["w"].ravel()[:6])}
        u_eager, s_eager = opt.update(g, s_eager, params)
        u_jit, s_jit = step(g, s_jit, params)
        np.testing.assert_allclose(u_jit["w"], u_eager["w"], rtol=1e-12)


def test_bad_arguments_are_rejected_by_name():
    with pytest.raises(ValueError, match=r"cautious: eps must be a finite number > 0, got eps=0.0"):
        gx.cautious(gx.adam(1e-3), eps=0.0)
    with pytest.raises(TypeError, match=r"cautious: expected a GradientTransformation .* got int 3"):
        gx.cautious(3)
    with pytest.raises(TypeError, match=r"cautious: .* real numbers only, got a complex64 parameter "
                                        r"at \['w'\]"):
        gx.cautious(gx.adam(1e-3)).init({"w": jnp.zeros(2, jnp.complex64)})
