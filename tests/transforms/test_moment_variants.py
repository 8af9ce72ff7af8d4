"""The moments of Adam's variants and Lion's softened signs (gradxform/transforms/moment_variants.py)."""
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradxform as gx


def _run(transform, grads, params=None):
    """The outputs and the last state of ``transform`` (on its own) over a list of updates."""
    state = transform.init(params if params is not None else jax.tree.map(jnp.zeros_like, grads[0]))
    outputs = []
    for g in grads:
        out, state = transform.update(g, state, params)
        outputs.append(out)
    return outputs, state


# --- yogi_moment ---------------------------------------------------------------------------


def test_yogi_moment_moves_by_a_share_of_the_square_toward_the_square():
    grads = [{"w": jnp.array([2.0, 0.5, 1.0])}]
    (out,), _ = _run(gx.yogi_moment(decay=0.75, initial_value=1.0), grads)
    # v = 1: up by 0.25 * 4 toward 4, down by 0.25 * 0.25 toward 0.25, unchanged at 1
    np.testing.assert_array_equal(out["w"], [2.0, 0.9375, 1.0])


def test_yogi_moment_grows_by_a_fixed_step_where_adams_would_jump():
    grads = [{"w": jnp.array([10.0])}] * 3
    outputs, _ = _run(gx.yogi_moment(decay=0.9, initial_value=0.0), grads)
    np.testing.assert_allclose([float(o["w"][0]) for o in outputs], [10.0, 20.0, 30.0], rtol=1e-14)


def test_yogi_moment_state_is_its_output_stored_in_its_dtype():
    grads = [{"w": jnp.array([1.0, 3.0])}]
    (out,), state = _run(gx.yogi_moment(dtype=jnp.float32), grads, {"w": jnp.zeros(2)})
    assert state.nu["w"].dtype == jnp.float32 and out["w"].dtype == jnp.float64
    np.testing.assert_allclose(state.nu["w"], out["w"], rtol=1e-7)


# --- belief_moment ---------------------------------------------------------------------------


def test_belief_moment_is_a_mean_of_squares_plus_eps_at_every_step():
    grads = [{"w": jnp.array([2.0, -1.0])}, {"w": jnp.array([0.0, 3.0])}]
    outputs, _ = _run(gx.belief_moment(decay=0.5, eps=0.125), grads)
    first = 0.5 * np.array([4.0, 1.0]) + 0.125
    np.testing.assert_array_equal(outputs[0]["w"], first)
    np.testing.assert_array_equal(outputs[1]["w"], 0.5 * first + 0.5 * np.array([0.0, 9.0]) + 0.125)


def test_belief_moment_of_zero_updates_accumulates_eps_toward_eps_over_one_minus_decay():
    outputs, _ = _run(gx.belief_moment(decay=0.5, eps=1.0), [{"w": jnp.zeros(1)}] * 30)
    np.testing.assert_allclose(float(outputs[-1]["w"][0]), 2.0, rtol=1e-8)


def test_belief_moment_of_complex_updates_uses_their_squared_modulus():
    (out,), _ = _run(gx.belief_moment(decay=0.5, eps=0.0), [{"w": jnp.array([3.0 + 4.0j])}])
    np.testing.assert_array_equal(out["w"], [12.5 + 0.0j])


# --- gradient_difference ---------------------------------------------------------------------


def test_gradient_difference_is_zero_first_then_the_change_of_the_updates():
    grads = [{"w": jnp.array([1.0, 2.0])}, {"w": jnp.array([4.0, 0.0])}, {"w": jnp.array([4.0, -1.0])}]
    outputs, state = _run(gx.gradient_difference(), grads)
    np.testing.assert_array_equal(outputs[0]["w"], [0.0, 0.0])
    np.testing.assert_array_equal(outputs[1]["w"], [3.0, -2.0])
    np.testing.assert_array_equal(outputs[2]["w"], [0.0, -1.0])
    np.testing.assert_array_equal(state.previous["w"], [4.0, -1.0])


def test_gradient_difference_in_a_chain_reads_the_chains_step():
    grads = [{"w": jnp.array([1.0])}, {"w": jnp.array([3.0])}]
    outputs, _ = _run(gx.chain(gx.scale(2.0), gx.gradient_difference()), grads)
    np.testing.assert_array_equal([float(o["w"][0]) for o in outputs], [0.0, 4.0])


def test_gradient_difference_raw_form_needs_a_step():
    transform = gx.gradient_difference()
    raw_update = transform.update.__gradxform_link__.raw.update
    with pytest.raises(ValueError, match="gradient_difference: needs the step count"):
        raw_update({"w": jnp.ones(1)}, transform.init({"w": jnp.zeros(1)}).links[0], None)


# --- layerwise_mean_of_squares ------------------------------------------------------------------


def test_layerwise_mean_of_squares_starts_at_the_squared_norm_then_averages_per_leaf():
    grads = [{"w": jnp.array([[3.0, 4.0]]), "b": jnp.array(2.0)},
             {"w": jnp.array([[0.0, 1.0]]), "b": jnp.array(0.0)}]
    outputs, state = _run(gx.layerwise_mean_of_squares(decay=0.5), grads)
    assert outputs[0]["w"].shape == () and state.nu["b"].shape == ()
    np.testing.assert_allclose(float(outputs[0]["w"]), 25.0, rtol=1e-15)
    np.testing.assert_allclose(float(outputs[0]["b"]), 4.0, rtol=1e-15)
    np.testing.assert_allclose(float(outputs[1]["w"]), 0.5 * 25.0 + 0.5 * 1.0, rtol=1e-15)
    np.testing.assert_allclose(float(outputs[1]["b"]), 2.0, rtol=1e-15)


def test_layerwise_mean_of_squares_keeps_one_scalar_per_leaf_in_the_params_dtype():
    params = {"w": jnp.zeros((4, 3), jnp.float32), "b": jnp.zeros(3, jnp.bfloat16)}
    state = gx.layerwise_mean_of_squares().init(params)
    assert {k: (v.shape, v.dtype) for k, v in state.nu.items()} == {
        "w": ((), jnp.float32), "b": ((), jnp.bfloat16)}


def test_layerwise_mean_of_squares_is_rejected_by_flatten():
    opt = gx.flatten(gx.chain(gx.ratio(gx.identity(), gx.layerwise_mean_of_squares())))
    params = {"w": jnp.ones((2, 2)), "b": jnp.ones(2)}
    with pytest.raises(ValueError, match="treats each leaf as a unit"):
        opt.update(params, opt.init(params), params)


# --- Lion's softened signs ---------------------------------------------------------------------


def test_smooth_sign_is_tanh_of_the_scaled_update():
    (out,), _ = _run(gx.smooth_sign(beta=2.0), [{"w": jnp.array([-1.0, 0.0, 0.25])}])
    np.testing.assert_allclose(out["w"], np.tanh(2.0 * np.array([-1.0, 0.0, 0.25])), rtol=1e-15)


def test_saturating_sign_clips_real_updates_to_the_unit_interval():
    (out,), _ = _run(gx.saturating_sign(), [{"w": jnp.array([-3.0, -1.0, -0.5, 0.0, 0.75, 2.0])}])
    np.testing.assert_array_equal(out["w"], [-1.0, -1.0, -0.5, 0.0, 0.75, 1.0])


def test_saturating_sign_projects_complex_updates_onto_the_unit_disk():
    (out,), _ = _run(gx.saturating_sign(), [{"w": jnp.array([0.3 + 0.4j, 3.0 + 4.0j])}])
    np.testing.assert_allclose(out["w"], [0.3 + 0.4j, 0.6 + 0.8j], rtol=1e-15)


# --- Hyperparameters ---------------------------------------------------------------------------


def test_new_moments_keep_their_decay_as_a_hyperparameter_that_can_be_set():
    params = {"w": jnp.zeros(2)}
    grads = {"w": jnp.array([1.0, 2.0])}
    for make in (gx.yogi_moment, gx.belief_moment, gx.layerwise_mean_of_squares):
        state = gx.set_hyperparams(make(decay=0.9).init(params), decay=0.5)
        out, _ = make(decay=0.9).update(grads, state, params)
        expected, _ = make(decay=0.5).update(grads, make(decay=0.5).init(params), params)
        np.testing.assert_allclose(out["w"], expected["w"], rtol=1e-15)


def test_smooth_sign_slope_follows_a_schedule():
    transform = gx.smooth_sign(beta=lambda step: 1.0 + step.astype(float))
    outputs, _ = _run(transform, [{"w": jnp.array([0.5])}] * 2)
    np.testing.assert_allclose([float(o["w"][0]) for o in outputs], np.tanh([0.5, 1.0]), rtol=1e-15)


# --- Errors ------------------------------------------------------------------------------------


BAD_ARGUMENTS = [
    (lambda: gx.yogi_moment(decay=1.0), ValueError,
     "yogi_moment: decay must be in [0, 1), got decay=1.0. With 1 the running mean never updates"),
    (lambda: gx.yogi_moment(initial_value=-1.0), ValueError,
     "yogi_moment: initial_value must be a finite number >= 0, got initial_value=-1.0."),
    (lambda: gx.belief_moment(decay=-0.1), ValueError, "belief_moment: decay must be in [0, 1), got decay=-0.1."),
    (lambda: gx.belief_moment(eps=-1e-16), ValueError,
     "belief_moment: eps must be a finite number >= 0, got eps=-1e-16."),
    (lambda: gx.belief_moment(eps="tiny"), TypeError,
     "belief_moment: eps must be a number or a schedule (a function of the step), got str 'tiny'."),
    (lambda: gx.layerwise_mean_of_squares(decay=1.5), ValueError,
     "layerwise_mean_of_squares: decay must be in [0, 1), got decay=1.5."),
    (lambda: gx.smooth_sign(beta=0.0), ValueError, "smooth_sign: beta must be a finite number > 0, got beta=0.0."),
    (lambda: gx.smooth_sign(beta=float("inf")), ValueError,
     "smooth_sign: beta must be a finite number > 0, got beta=inf."),
]


@pytest.mark.parametrize("build, error, message", BAD_ARGUMENTS)
def test_bad_arguments_raise_when_built(build, error, message):
    with pytest.raises(error, match=re.escape(message)):
        build()


@pytest.mark.parametrize(
    "make, name",
    [(gx.yogi_moment, "yogi_moment"), (gx.belief_moment, "belief_moment"),
     (gx.gradient_difference, "gradient_difference"),
     (gx.layerwise_mean_of_squares, "layerwise_mean_of_squares")],
)
def test_stateful_primitives_reject_integer_params_and_changed_trees(make, name):
    with pytest.raises(TypeError, match=f"{name}: every parameter must have a floating-point"):
        make().init({"w": jnp.zeros(2, jnp.int32)})
    transform = make()
    state = transform.init({"w": jnp.zeros(2)})
    with pytest.raises(ValueError, match=f"{name}: updates and state have different tree structures"):
        transform.update({"w": jnp.zeros(2), "b": jnp.zeros(())}, state)


# --- The update rule in LaTeX --------------------------------------------------------------------


def test_each_primitive_writes_its_own_term_of_the_update_rule():
    from gradxform.core.recipe import markdown

    rule = markdown(gx.chain(
        gx.gradient_difference(), gx.belief_moment(decay=0.5, eps=0.25), gx.yogi_moment(decay=0.75),
        gx.layerwise_mean_of_squares(decay=0.5), gx.smooth_sign(beta=2.0), gx.saturating_sign(),
    ))
    for term in [r"d_t &= g_t - g_{t-1}", r"s_t &= 0.5\,s_{t-1} + (1 - 0.5)\,d_t^2 + 0.25",
                 r"v_t &= v_{t-1} - (1 - 0.75)\,\operatorname{sign}(v_{t-1} - |s_t|^2)\,|s_t|^2",
                 r"\lVert v_t \rVert^2", r"\operatorname{clip}(\tanh(2.0\,v'_t), -1, 1)"]:
        assert term in rule, rule
