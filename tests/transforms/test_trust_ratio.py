"""The layer-wise trust ratio of LARS and LAMB."""
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradxform as gx

PARAMS = {"w": jnp.array([[1.0, -2.0], [3.0, 0.5]]), "b": jnp.array([0.25, -1.0])}
GRADS = {"w": jnp.array([[0.1, 0.4], [-0.3, 0.2]]), "b": jnp.array([2.0, -1.5])}


def _update(transform, grads=GRADS, params=PARAMS):
    out, _ = transform.update(grads, transform.init(params), params)
    return out


def test_each_leaf_is_scaled_by_its_own_parameter_to_update_norm_ratio():
    out = _update(gx.scale_by_trust_ratio(trust_coefficient=0.5, eps=1e-3))
    for k in PARAMS:
        p, g = np.asarray(PARAMS[k]), np.asarray(GRADS[k])
        ratio = 0.5 * np.linalg.norm(p) / (np.linalg.norm(g) + 1e-3)
        np.testing.assert_allclose(out[k], ratio * g, rtol=1e-14)


def test_a_zero_parameter_or_a_zero_update_is_left_unscaled():
    params = {"w": jnp.zeros((2, 2)), "b": PARAMS["b"]}
    grads = {"w": GRADS["w"], "b": jnp.zeros(2)}
    out = _update(gx.scale_by_trust_ratio(), grads, params)
    np.testing.assert_array_equal(out["w"], grads["w"])
    np.testing.assert_array_equal(out["b"], grads["b"])


def test_min_norm_raises_small_norms_to_the_floor():
    params = {"w": jnp.zeros((2, 2)), "b": PARAMS["b"]}
    grads = {"w": 10 * GRADS["w"], "b": GRADS["b"]}
    out = _update(gx.scale_by_trust_ratio(min_norm=2.0), grads, params)
    g_w = np.asarray(grads["w"])  # ||p_w|| = 0 is raised to 2, ||g_w|| = 5.48 stays
    np.testing.assert_allclose(out["w"], 2.0 / np.linalg.norm(g_w) * g_w, rtol=1e-15)
    p_b, g_b = np.asarray(PARAMS["b"]), np.asarray(GRADS["b"])  # ||p_b|| = 1.03 < 2, ||g_b|| = 2.5
    np.testing.assert_allclose(out["b"], 2.0 / np.linalg.norm(g_b) * g_b, rtol=1e-15)
    assert np.linalg.norm(p_b) < 2.0


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"trust_coefficient": 1e-3}, {"min_norm": 0.7, "eps": 1e-6}, {"trust_coefficient": 2.0, "eps": 0.1}],
    ids=str,
)
def test_matches_optax_exactly_in_float32(kwargs):
    params = {k: v.astype(jnp.float32) for k, v in PARAMS.items()}
    grads = {k: v.astype(jnp.float32) for k, v in GRADS.items()}
    ours = _update(gx.scale_by_trust_ratio(**kwargs), grads, params)
    theirs = _update(optax.scale_by_trust_ratio(**kwargs), grads, params)
    for k in params:
        np.testing.assert_array_equal(ours[k], theirs[k])


def test_mask_leaves_unmarked_leaves_unscaled():
    scaled = _update(gx.scale_by_trust_ratio())
    out = _update(gx.scale_by_trust_ratio(mask={"w": True, "b": False}))
    np.testing.assert_array_equal(out["w"], scaled["w"])
    np.testing.assert_array_equal(out["b"], GRADS["b"])
    by_function = _update(gx.scale_by_trust_ratio(mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p)))
    np.testing.assert_array_equal(by_function["w"], scaled["w"])
    np.testing.assert_array_equal(by_function["b"], GRADS["b"])


def test_a_mask_of_another_structure_is_reported_with_the_paths_on_each_side():
    expected = "scale_by_trust_ratio: the mask does not match the params tree(.|\n)*only in the params: 'b'"
    with pytest.raises(ValueError, match=expected):
        _update(gx.scale_by_trust_ratio(mask={"w": True}))


def test_gradient_through_the_update_is_finite_at_zero_parameters():
    def f(p):
        out = _update(gx.scale_by_trust_ratio(), {"w": jnp.ones(3)}, {"w": p})
        return jnp.sum(out["w"])

    assert np.all(np.isfinite(jax.grad(f)(jnp.zeros(3))))


def test_complex_leaves_are_scaled_by_a_real_ratio():
    params, grads = {"z": jnp.array([3.0 + 4.0j])}, {"z": jnp.array([0.6 - 0.8j])}
    out = _update(gx.scale_by_trust_ratio(), grads, params)
    assert out["z"].dtype == grads["z"].dtype
    np.testing.assert_allclose(out["z"], [3.0 - 4.0j], rtol=1e-15)


def test_none_leaves_pass_through():
    out = _update(gx.scale_by_trust_ratio(), {"a": None, "b": GRADS["b"]}, {"a": None, "b": PARAMS["b"]})
    assert out["a"] is None


def test_update_without_params_says_how_to_pass_them():
    transform = gx.scale_by_trust_ratio()
    with pytest.raises(ValueError, match=re.escape("scale_by_trust_ratio: update() needs params")):
        transform.update(GRADS, transform.init(PARAMS))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"min_norm": -1.0}, "scale_by_trust_ratio: min_norm must be a finite number >= 0, got min_norm=-1.0"),
        ({"eps": -1e-3}, "scale_by_trust_ratio: eps must be a finite number >= 0, got eps=-0.001"),
        ({"trust_coefficient": 0.0},
         "scale_by_trust_ratio: trust_coefficient must be a finite number > 0, got trust_coefficient=0.0"),
    ],
)
def test_rejects_out_of_range_arguments(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        gx.scale_by_trust_ratio(**kwargs)


# --------------------------------------------------------------------------------------------
# Hyperparameters in the state: read, set, scheduled
# --------------------------------------------------------------------------------------------

# (hyperparameter, the default it is built with, another value that changes the result)
HYPERPARAMS = [("min_norm", 0.0, 2.0), ("trust_coefficient", 1.0, 0.5), ("eps", 0.0, 1.0)]


def _assert_same_updates(actual, expected):
    for k in expected:
        np.testing.assert_array_equal(actual[k], expected[k])


def test_the_three_hyperparameters_are_read_from_the_state_by_name():
    transform = gx.scale_by_trust_ratio(min_norm=0.5, trust_coefficient=1e-3, eps=1e-6)
    state = transform.init(PARAMS)
    assert isinstance(state, gx.ChainState) and state.links == (gx.EmptyState(),)
    _, state = transform.update(GRADS, state, PARAMS)
    values = {k: float(v) for k, v in gx.hyperparams(state).items()}
    assert values == {"min_norm": 0.5, "trust_coefficient": 1e-3, "eps": 1e-6}


@pytest.mark.parametrize("name, value, other", HYPERPARAMS)
def test_setting_a_hyperparameter_scales_as_building_with_it_would(name, value, other):
    rebuilt = _update(gx.scale_by_trust_ratio(**{name: other}))
    assert not np.array_equal(rebuilt["w"], _update(gx.scale_by_trust_ratio(**{name: value}))["w"])
    transform = gx.scale_by_trust_ratio(**{name: value})
    state = gx.set_hyperparams(transform.init(PARAMS), **{name: other})
    out, state = transform.update(GRADS, state, PARAMS)
    _assert_same_updates(out, rebuilt)
    assert float(gx.hyperparams(state)[name]) == other


@pytest.mark.parametrize("name, value, other", HYPERPARAMS)
def test_a_hyperparameter_may_follow_a_schedule_of_the_step(name, value, other):
    opt = gx.chain(gx.scale_by_trust_ratio(**{name: lambda step: jnp.where(step < 1, value, other)}))
    state = opt.init(PARAMS)
    first, state = opt.update(GRADS, state, PARAMS)
    second, state = opt.update(GRADS, state, PARAMS)
    _assert_same_updates(first, _update(gx.scale_by_trust_ratio(**{name: value})))
    _assert_same_updates(second, _update(gx.scale_by_trust_ratio(**{name: other})))
    assert float(gx.hyperparams(state)[name]) == other


def test_a_masked_transform_keeps_its_hyperparameters_in_the_state():
    transform = gx.scale_by_trust_ratio(trust_coefficient=0.5, mask={"w": True, "b": False})
    state = gx.set_hyperparams(transform.init(PARAMS), trust_coefficient=0.25)
    out, state = transform.update(GRADS, state, PARAMS)
    _assert_same_updates(out, _update(gx.scale_by_trust_ratio(trust_coefficient=0.25, mask={"w": True, "b": False})))
    assert float(gx.hyperparams(state)["trust_coefficient"]) == 0.25
