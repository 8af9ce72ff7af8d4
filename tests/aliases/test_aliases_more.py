"""AggMo, Lion, LAMB and LARS beyond the registry's trajectories: arguments, masks, errors.

(SWATS has its own file, test_switching.py.)
"""
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from harness import trajectory
from problems import PROBLEMS

import gradxform as gx

PARAMS = {"w": jnp.array([[1.0, -2.0], [3.0, 0.5]]), "b": jnp.array(0.25)}


def _grads(steps, seed=0):
    rng = np.random.default_rng(seed)
    return [{"w": jnp.asarray(rng.normal(size=(2, 2))), "b": jnp.asarray(rng.normal())} for _ in range(steps)]


def _updates(opt, grads_sequence, standard_promotion=False):
    state, out = opt.init(PARAMS), []
    for grads in grads_sequence:
        with jax.numpy_dtype_promotion("standard" if standard_promotion else "strict"):
            updates, state = opt.update(grads, state, PARAMS)
        out.append(updates)
    return out, state


# --------------------------------------------------------------------------------------------
# AggMo
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.name)
def test_aggmo_with_one_beta_is_sgd_with_heavy_ball_momentum(problem):
    ours = trajectory(gx.aggmo(1e-3, betas=(0.9,)), problem, 30)
    with jax.numpy_dtype_promotion("standard"):
        theirs = trajectory(optax.sgd(1e-3, momentum=0.9), problem, 30)
    for a, e in zip(ours, theirs):
        for k in e:
            np.testing.assert_array_equal(a[k], e[k])


def test_aggmo_averages_the_velocities_with_equal_weights():
    grads = _grads(3)
    (updates, *_), state = _updates(gx.aggmo(0.5, betas=(0.0, 0.5, 0.9, 0.99)), grads[:1])
    assert len(state[0].branches) == 4
    for k in PARAMS:
        np.testing.assert_allclose(updates[k], -0.5 * np.asarray(grads[0][k]), rtol=1e-15)  # all v_1 = g


def test_aggmo_accepts_any_sequence_of_betas():
    ours, _ = _updates(gx.aggmo(0.1, betas=[0.0, 0.9]), _grads(3))
    theirs, _ = _updates(gx.aggmo(0.1, betas=(0.0, 0.9)), _grads(3))
    np.testing.assert_array_equal(ours[-1]["w"], theirs[-1]["w"])


def test_aggmo_without_betas_says_what_to_pass():
    with pytest.raises(ValueError, match=re.escape("aggmo: expected at least one of betas (one decay per velocity")):
        gx.aggmo(0.1, betas=())


def test_aggmo_names_the_beta_out_of_range():
    with pytest.raises(ValueError, match=re.escape("aggmo: betas[1] must be in [0, 1), got betas[1]=1.0.")):
        gx.aggmo(0.1, betas=(0.0, 1.0))


# --------------------------------------------------------------------------------------------
# Lion's interpolated momentum
# --------------------------------------------------------------------------------------------


def test_interpolated_momentum_outputs_the_interpolation_and_stores_the_ema():
    grads = _grads(2)
    (first, second), state = _updates(gx.chain(gx.interpolated_momentum(b1=0.8, b2=0.95)), grads)
    g1, g2 = (np.asarray(g["w"]) for g in grads)
    np.testing.assert_allclose(first["w"], 0.2 * g1, rtol=1e-15)  # mu_0 = 0
    np.testing.assert_allclose(second["w"], 0.2 * g2 + 0.8 * (0.05 * g1), rtol=1e-14)
    np.testing.assert_allclose(state[0].mu["w"], 0.05 * g2 + 0.95 * (0.05 * g1), rtol=1e-14)


def test_interpolated_momentum_then_sign_matches_optax_scale_by_lion():
    grads = [{k: v.astype(jnp.float32) for k, v in g.items()} for g in _grads(5)]
    ours, state = _updates(gx.chain(gx.interpolated_momentum(0.9, 0.99), gx.sign()), grads)
    theirs, their_state = _updates(optax.scale_by_lion(0.9, 0.99), grads, True)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a["w"], b["w"])
    assert state[0].mu["w"].dtype == their_state.mu["w"].dtype
    np.testing.assert_array_equal(state[0].mu["w"], their_state.mu["w"])


def test_bfloat16_lion_momentum_keeps_b2_in_float32_unlike_optax():
    # Optax multiplies a bfloat16 momentum by b2 rounded to bfloat16 (0.99 -> 0.98828125);
    # gradxform keeps hyperparameters in float32 and rounds each product once, so its bfloat16
    # momentum tracks the float32 one to within the bfloat16 rounding of each of the 5 steps.
    grads = [{k: v.astype(jnp.float32) for k, v in g.items()} for g in _grads(5)]
    _, low = _updates(gx.chain(gx.interpolated_momentum(0.9, 0.99, dtype=jnp.bfloat16)), grads)
    _, high = _updates(gx.chain(gx.interpolated_momentum(0.9, 0.99)), grads)
    mu_low, mu_high = low[0].mu["w"], high[0].mu["w"]
    assert mu_low.dtype == jnp.bfloat16
    np.testing.assert_allclose(
        np.asarray(mu_low, np.float64), np.asarray(mu_high, np.float64), rtol=5 * 2.0**-8, atol=1e-6
    )


def test_interpolated_momentum_rejects_b2_of_one():
    with pytest.raises(ValueError, match=re.escape("interpolated_momentum: b2 must be in [0, 1), got b2=1.0.")):
        gx.interpolated_momentum(b2=1.0)


# --------------------------------------------------------------------------------------------
# LARS and LAMB masks
# --------------------------------------------------------------------------------------------


def test_lars_mask_false_decays_and_rescales_nothing():
    grads = _grads(4)
    masked, _ = _updates(
        gx.lars(0.1, weight_decay=0.5, weight_decay_mask=False, trust_ratio_mask=False), grads
    )
    plain, _ = _updates(gx.chain(gx.scale_by_learning_rate(0.1), gx.scale_by_momentum(0.9)), grads)
    for a, b in zip(masked, plain):
        np.testing.assert_array_equal(a["w"], b["w"])


def test_lars_matches_optax_with_masks_given_as_trees():
    mask = {"w": True, "b": False}
    grads = _grads(5)
    ours, _ = _updates(
        gx.lars(0.1, weight_decay=1e-2, weight_decay_mask=mask, trust_ratio_mask=mask), grads
    )
    theirs, _ = _updates(
        optax.lars(0.1, weight_decay=1e-2, weight_decay_mask=mask, trust_ratio_mask=mask), grads, True
    )
    for a, b in zip(ours, theirs):
        for k in PARAMS:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-14)


def test_lamb_without_params_says_how_to_pass_them():
    opt = gx.lamb(1e-3)
    with pytest.raises(ValueError, match=re.escape("update() needs params")):
        opt.update(PARAMS, opt.init(PARAMS))
