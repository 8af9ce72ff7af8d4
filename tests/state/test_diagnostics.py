"""gx.diagnostics: the values a state keeps for logging (gradient norm, clipped fraction, ...)."""
import jax
import jax.numpy as jnp
import numpy as np

import gradxform as gx

PARAMS = {"w": jnp.zeros(2, jnp.float32), "b": None}


def _run(opt, grads, **extra):
    state = opt.init(PARAMS)
    step = jax.jit(opt.update)
    for g in grads:
        _, state = step({"w": jnp.asarray(g, jnp.float32), "b": None}, state, PARAMS, **extra)
    return state


def test_global_norm_clipping_reports_the_last_norm_and_the_fraction_clipped():
    opt = gx.chain(gx.clip_by_global_norm(1.0), gx.sgd(0.1))
    state = _run(opt, [[3.0, 4.0], [0.3, 0.4], [0.0, 2.0], [0.6, 0.8]])
    got = gx.diagnostics(state)
    assert set(got) == {"grad_norm", "clipped_fraction"}
    np.testing.assert_allclose(float(got["grad_norm"]), 1.0, rtol=1e-6)  # the last one, unclipped
    # 5.0 and 2.0 were clipped; 0.5 was not; 1.0 equals max_norm and counts as clipped.
    assert float(got["clipped_fraction"]) == 0.75


def test_diagnostics_of_nested_wrappers_are_collected_and_jit_safe():
    opt = gx.apply_if_finite(
        gx.chain(gx.clip_by_global_norm(1.0), gx.reduce_on_plateau(patience=0), gx.sgd(0.1)), 3
    )
    state = _run(opt, [[3.0, 4.0], [np.nan, 0.0]], value=jnp.float32(2.0))
    got = jax.jit(gx.diagnostics)(state)
    assert int(got["notfinite_count"]) == 1 and int(got["total_notfinite"]) == 1
    assert float(got["grad_norm"]) == 5.0  # the skipped NaN step left the inner state as it was
    assert float(got["best_value"]) == 2.0 and float(got["plateau_scale"]) == 1.0


def test_two_clippers_are_told_apart_by_their_place():
    opt = gx.chain(gx.clip_by_global_norm(10.0), gx.clip_by_global_norm(1.0))
    got = gx.diagnostics(_run(opt, [[3.0, 4.0]]))
    assert len(got) == 4 and all("/" in name for name in got)
    assert sorted(float(v) for k, v in got.items() if k.endswith("grad_norm")) == [5.0, 5.0]
    assert sorted(float(v) for k, v in got.items() if k.endswith("clipped_fraction")) == [0.0, 1.0]


def test_a_state_without_diagnostics_gives_an_empty_mapping():
    assert gx.diagnostics(gx.adam(1e-3).init(PARAMS)) == {}
