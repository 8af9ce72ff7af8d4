"""L1 regularization (gradxform/transforms/l1.py): the subgradient term and the proximal step,
each composed with an optimizer, against NumPy transcriptions (tests/reference_contrib_misc.py)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference_contrib_misc import make_adam_l1, make_ista

import gradxform as gx


def _run(opt, reference, steps=25, seed=0):
    """Both driven by the same random gradients at their own iterates; compared every step."""
    rng = np.random.default_rng(seed)
    params = {"w": rng.normal(size=(3, 4)) * 0.1, "b": np.array(0.05)}
    ours, state = {k: jnp.asarray(v) for k, v in params.items()}, opt.init(params)
    theirs, ref_state = dict(params), reference.init(params)
    update = jax.jit(opt.update)
    for step in range(steps):
        grads = {k: rng.normal(size=np.shape(v)) for k, v in params.items()}
        updates, state = update({k: jnp.asarray(g) for k, g in grads.items()}, state, ours)
        ours = gx.apply_updates(ours, updates)
        ref_updates, ref_state = reference.update(grads, ref_state, theirs)
        theirs = {k: theirs[k] + ref_updates[k] for k in theirs}
        for k in theirs:
            np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-10, atol=1e-14, err_msg=f"step {step + 1}")
    return ours


def test_soft_threshold_after_sgd_is_ista():
    final = _run(gx.chain(gx.sgd(0.1), gx.soft_threshold(0.5, learning_rate=0.1)), make_ista(0.1, 0.5))
    assert np.sum(np.asarray(final["w"]) == 0) > 0  # the proximal step lands weights on exactly 0


def test_l1_subgradient_before_adam_is_adam_on_the_penalized_loss():
    _run(gx.chain(gx.add_l1_subgradient(0.3), gx.adam(1e-2)), make_adam_l1(1e-2, 0.3))


def test_soft_threshold_shrinks_toward_zero_and_stops_there():
    params = jnp.array([1.0, -1.0, 0.05, -0.05, 0.0])
    updates, _ = gx.soft_threshold(0.1).update(jnp.zeros(5), gx.soft_threshold(0.1).init(params), params)
    np.testing.assert_allclose(gx.apply_updates(params, updates), [0.9, -0.9, 0.0, 0.0, 0.0])


def test_soft_threshold_keeps_the_phase_of_complex_weights():
    params = jnp.array([3.0 + 4.0j, 0.3 + 0.4j])
    opt = gx.soft_threshold(1.0, learning_rate=2.0)  # threshold 2 on the moduli 5 and 0.5
    updates, _ = opt.update(jnp.zeros(2, jnp.complex128), opt.init(params), params)
    np.testing.assert_allclose(gx.apply_updates(params, updates), [1.8 + 2.4j, 0.0])


def test_masks_leave_unmasked_leaves_as_they_came():
    params = {"w": jnp.ones(3), "b": jnp.ones(2)}
    grads = {"w": jnp.full(3, 0.5), "b": jnp.full(2, 0.5)}
    for opt in (gx.add_l1_subgradient(0.1, mask={"w": True, "b": False}),
                gx.soft_threshold(0.1, mask={"w": True, "b": False})):
        updates, _ = opt.update(grads, opt.init(params), params)
        np.testing.assert_array_equal(updates["b"], grads["b"])
        assert not np.array_equal(updates["w"], grads["w"])


def test_a_schedule_sets_the_rate():
    opt = gx.add_l1_subgradient(gx.linear_schedule(0.25, 1.25, 4))  # 0.25, then 0.5
    params = jnp.array([2.0, -2.0])
    first, state = opt.update(jnp.zeros(2), opt.init(params), params)
    second, _ = opt.update(jnp.zeros(2), state, params)
    np.testing.assert_allclose(first, [0.25, -0.25])
    np.testing.assert_allclose(second, [0.5, -0.5])


@pytest.mark.parametrize("make", [gx.add_l1_subgradient, gx.soft_threshold])
def test_negative_rate_is_an_error_naming_the_function(make):
    with pytest.raises(ValueError, match=rf"{make.__name__}: rate must be a finite number >= 0, got rate=-0.1"):
        make(-0.1)


@pytest.mark.parametrize("make", [gx.add_l1_subgradient, gx.soft_threshold])
def test_update_without_params_is_an_error(make):
    opt = make(0.1)
    with pytest.raises(ValueError, match=rf"{make.__name__}: update\(\) needs params"):
        opt.update(jnp.ones(2), opt.init(jnp.ones(2)))


def test_negative_learning_rate_is_an_error():
    with pytest.raises(ValueError, match="soft_threshold: learning_rate must be a finite number >= 0"):
        gx.soft_threshold(0.1, learning_rate=-1.0)
