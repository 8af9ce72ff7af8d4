"""trace, ema and add_decayed_weights: Optax's names for gradxform primitives, bit for bit."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradxform as gx

PARAMS = {"w": jnp.arange(12.0, dtype=jnp.float32).reshape(3, 4) / 7, "b": jnp.linspace(-1, 1, 4, dtype=jnp.float32)}


def _grads(rng):
    return jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), p.dtype), PARAMS)


def _run_both(ours, theirs, steps=20):
    """Both transformations, jitted, on the same 20 gradients; the updates of every step."""
    rng = np.random.default_rng(0)
    ours_update, theirs_update = jax.jit(ours.update), jax.jit(theirs.update)
    ours_state, theirs_state = ours.init(PARAMS), theirs.init(PARAMS)
    for _ in range(steps):
        grads = _grads(rng)
        ours_out, ours_state = ours_update(grads, ours_state, PARAMS)
        theirs_out, theirs_state = theirs_update(grads, theirs_state, PARAMS)
        yield ours_out, theirs_out


CASES = {
    "trace": lambda lib: lib.trace(0.9),
    "trace_nesterov": lambda lib: lib.trace(0.8, nesterov=True),
    "ema": lambda lib: lib.ema(0.9),
    "ema_no_debias": lambda lib: lib.ema(0.7, debias=False),
    "add_decayed_weights": lambda lib: lib.add_decayed_weights(0.1),
    "add_decayed_weights_zero": lambda lib: lib.add_decayed_weights(),
    "add_decayed_weights_mask": lambda lib: lib.add_decayed_weights(0.1, mask={"w": True, "b": False}),
    "add_decayed_weights_mask_fn": lambda lib: lib.add_decayed_weights(
        0.1, mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p)),
    "add_decayed_weights_schedule": lambda lib: lib.add_decayed_weights(lib.linear_schedule(0.2, 0.0, 10)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_optax_bit_for_bit_in_float32_for_20_steps(case):
    # jitted on both sides: eagerly, Optax's bias correction is a jit of its own whose division
    # XLA rewrites as a multiplication, which changes the last bit (its eager Adam too).
    # In float32 proper (no x64, where Optax's schedules and gradxform's hyperparameters would be
    # float64) and with standard promotion (Optax itself mixes int and float).
    with jax.enable_x64(False), jax.numpy_dtype_promotion("standard"):
        for ours, theirs in _run_both(CASES[case](gx), CASES[case](optax)):
            for key in PARAMS:
                np.testing.assert_array_equal(ours[key], theirs[key])


@pytest.mark.parametrize("make", [lambda lib: lib.trace(0.9, accumulator_dtype=jnp.bfloat16),
                                  lambda lib: lib.ema(0.9, accumulator_dtype=jnp.bfloat16)])
def test_bfloat16_accumulators_match_optax_to_bfloat16_precision(make):
    # Not bit for bit, by design: gradxform multiplies the bfloat16 momentum by the decay in
    # float32 and rounds once, when storing (gradxform.core.tree.compute_dtype); Optax multiplies
    # in bfloat16. The two differ by bfloat16's rounding (2**-8 relative), compounded.
    with jax.enable_x64(False), jax.numpy_dtype_promotion("standard"):
        for ours, theirs in _run_both(make(gx), make(optax)):
            for key in PARAMS:
                assert ours[key].dtype == theirs[key].dtype == jnp.float32
                np.testing.assert_allclose(ours[key], theirs[key], rtol=3e-2, atol=3e-2)


def test_trace_is_the_heavy_ball_momentum_and_its_state_answers_to_trace():
    state = gx.trace(0.9).init(PARAMS)
    _, state = gx.trace(0.9).update(PARAMS, state)
    momentum = state[0]
    assert isinstance(momentum, gx.ScaleByMomentumState)
    assert momentum.trace is momentum.mu and "trace" in momentum._fields
    np.testing.assert_array_equal(optax.tree.get(state, "trace")["w"], PARAMS["w"])


def test_ema_state_does_not_answer_to_trace_as_optax_s_ema_state_has_none():
    state = gx.ema(0.9).init(PARAMS)
    assert optax.tree.get(state, "trace") is None
    assert int(optax.tree.get(state, "count")) == 0


def test_add_decayed_weights_stores_its_rate_as_weight_decay():
    opt = gx.add_decayed_weights(0.1)
    state = opt.init(PARAMS)
    assert float(gx.hyperparams(state)["weight_decay"]) == pytest.approx(0.1)
    state = gx.set_hyperparams(state, weight_decay=0.0)
    updates, _ = opt.update(PARAMS, state, PARAMS)
    np.testing.assert_array_equal(updates["w"], PARAMS["w"])


def test_add_decayed_weights_with_a_mask_runs_inside_masked():
    state = gx.add_decayed_weights(0.1, mask={"w": True, "b": False}).init(PARAMS)
    assert isinstance(state, gx.MaskedState)


def test_bad_arguments_name_the_primitive_the_optax_name_stands_for():
    with pytest.raises(ValueError, match=r"scale_by_momentum: decay must be in \[0.0, 1.0\], got decay=1.5"):
        gx.trace(1.5)
    with pytest.raises(ValueError, match=r"scale_by_momentum: decay must be in \[0, 1\)"):
        gx.ema(-0.1)
    expected = r"weight_decay: weight_decay must be a finite number >= 0, got weight_decay=-1"
    with pytest.raises(ValueError, match=expected):
        gx.add_decayed_weights(-1.0)


def test_add_decayed_weights_needs_params():
    opt = gx.add_decayed_weights(0.1)
    with pytest.raises(ValueError, match="weight_decay: update\\(\\) needs params"):
        opt.update(PARAMS, opt.init(PARAMS))


def test_signatures_and_defaults_are_optax_s():
    import inspect

    for name in ("trace", "ema", "add_decayed_weights"):
        ours, theirs = inspect.signature(getattr(gx, name)), inspect.signature(getattr(optax, name))
        assert list(ours.parameters) == list(theirs.parameters)
        assert [p.default for p in ours.parameters.values()] == [p.default for p in theirs.parameters.values()]
