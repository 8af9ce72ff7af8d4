"""snapshot, monitor and measure_with_ema against Optax's."""
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from wrapper_trees import (
    assert_same_but_last_bits_of_scalars,
    assert_trees_equal,
    gradient_sequence,
    nested_params,
)

import gradxform as gx


@pytest.mark.parametrize("name", ["snapshot", "monitor", "measure_with_ema"])
def test_signature_is_optaxs(name):
    ours = inspect.signature(getattr(gx, name)).parameters.values()
    theirs = inspect.signature(getattr(optax, name)).parameters.values()
    assert [(p.name, p.kind, p.default) for p in ours] == [(p.name, p.kind, p.default) for p in theirs]


# gradxform's bias_correction computes b**t as a float power, Optax's as an integer power: from
# t = 4 on they can round 1 ulp apart, so averaged measurements are compared within 2 ulp.
def assert_within_ulp(actual, expected, maxulp=2):
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected)):
        assert a.dtype == e.dtype
        np.testing.assert_array_max_ulp(np.asarray(a), np.asarray(e), maxulp=maxulp)


def run_both(ours, theirs, params, steps=20, get=(), near=(), optax_inside=False):
    """Run both chains ``steps`` steps as an SGD loop; the updates agree bit for bit, each name
    in ``get`` reads the same measurement from both states (optax.tree.get) at every step, and
    each name in ``near`` one within 2 ulp."""
    p_ours = p_theirs = params
    with jax.numpy_dtype_promotion("standard" if optax_inside else "strict"):
        s_ours = ours.init(params)
    s_theirs = theirs.init(params)
    update_ours, update_theirs = jax.jit(ours.update), jax.jit(theirs.update)
    for g in gradient_sequence(params, steps):
        with jax.numpy_dtype_promotion("standard" if optax_inside else "strict"):
            u_ours, s_ours = update_ours(g, s_ours, p_ours)
        with jax.numpy_dtype_promotion("standard"):  # Optax itself mixes int and float
            u_theirs, s_theirs = update_theirs(g, s_theirs, p_theirs)
        assert_trees_equal(u_ours, u_theirs)
        for name in get:
            assert_trees_equal(optax.tree.get(s_ours, name), optax.tree.get(s_theirs, name))
        for name in near:
            assert_within_ulp(optax.tree.get(s_ours, name), optax.tree.get(s_theirs, name))
        p_ours, p_theirs = gx.apply_updates(p_ours, u_ours), optax.apply_updates(p_theirs, u_theirs)
    return s_ours, s_theirs


def test_snapshot_records_the_norm_before_clipping_as_optax():
    params = nested_params(jnp.float32)
    ours = gx.chain(gx.sgd(0.1, momentum=0.9), gx.snapshot("before", gx.global_norm), gx.clip_by_global_norm(0.05))
    theirs = optax.chain(optax.sgd(0.1, momentum=0.9), optax.snapshot("before", optax.tree.norm),
                         optax.clip_by_global_norm(0.05))
    run_both(ours, theirs, params, get=["before"])
    # measure(params) after init
    assert_trees_equal(ours.init(params)[1].measurement, theirs.init(params)[1].measurement)


def test_monitor_with_a_function_and_an_ema_matches_optax_in_a_chain():
    params = nested_params(jnp.float32)
    ours = gx.chain(gx.sgd(0.1, momentum=0.9), gx.monitor({
        "gnorm": gx.global_norm,
        "clipped": gx.measure_with_ema(lambda u: gx.global_norm(u) > 1.0, decay=0.9),
        "leaf": gx.measure_with_ema(lambda u: u["encoder"]["dense"]["kernel"], decay=0.5, debias=False),
    }), gx.clip_by_global_norm(1.0))
    theirs = optax.chain(optax.sgd(0.1, momentum=0.9), optax.monitor({
        "gnorm": optax.tree.norm,
        "clipped": optax.measure_with_ema(lambda u: optax.tree.norm(u) > 1.0, decay=0.9),
        "leaf": optax.measure_with_ema(lambda u: u["encoder"]["dense"]["kernel"], decay=0.5, debias=False),
    }), optax.clip_by_global_norm(1.0))
    s_ours, _ = run_both(ours, theirs, params, get=["gnorm", "leaf"], near=["clipped"])
    assert 0.0 < float(s_ours[1].measurements["clipped"]) < 1.0


def test_gx_monitor_inside_optax_chain_and_optax_measure_inside_gx_monitor():
    params = nested_params(jnp.float64)
    ours = optax.chain(optax.scale(-0.1), gx.monitor({"n": optax.tree.norm,
                                                       "e": optax.measure_with_ema(optax.tree.norm, 0.8)}))
    theirs = optax.chain(optax.scale(-0.1), optax.monitor({"n": optax.tree.norm,
                                                            "e": optax.measure_with_ema(optax.tree.norm, 0.8)}))
    run_both(ours, theirs, params, steps=5, get=["n", "e"], optax_inside=True)


def test_monitor_state_keeps_one_structure_so_it_scans():
    params = nested_params(jnp.float32)
    opt = gx.chain(gx.monitor({"n": gx.global_norm, "e": gx.measure_with_ema(gx.global_norm, 0.9)}),
                   gx.scale(-0.1))
    state = opt.init(params)
    assert float(state[0].measurements["n"]) == 0.0
    grads = gradient_sequence(params, 4)
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *grads)

    def body(state, g):
        return opt.update(g, state, params)[1], None

    final, _ = jax.lax.scan(body, state, stacked)
    np.testing.assert_allclose(float(final[0].measurements["n"]), float(gx.global_norm(grads[-1])), rtol=1e-6)


def test_measure_with_ema_standalone_matches_optax_over_twenty_steps():
    params = nested_params(jnp.float64)
    ours = gx.measure_with_ema(lambda u: jax.tree.map(jnp.abs, u), decay=0.95)
    theirs = optax.measure_with_ema(lambda u: jax.tree.map(jnp.abs, u), decay=0.95)
    s_ours, s_theirs = ours.init(params), theirs.init(params)
    update_ours, update_theirs = jax.jit(ours.update), jax.jit(theirs.update)
    for g in gradient_sequence(params, 20):
        m_ours, s_ours = update_ours(g, s_ours)
        with jax.numpy_dtype_promotion("standard"):
            m_theirs, s_theirs = update_theirs(g, s_theirs)
        assert_within_ulp(m_ours, m_theirs)
        assert_same_but_last_bits_of_scalars(s_ours[0].mu, s_theirs[1].ema)  # the average itself


def test_bad_arguments_are_rejected():
    with pytest.raises(TypeError, match="snapshot: measure_name must be a str"):
        gx.snapshot(3, gx.global_norm)
    with pytest.raises(TypeError, match="snapshot: measure must be a function"):
        gx.snapshot("n", 3)
    with pytest.raises(TypeError, match="monitor: measures must be a dict"):
        gx.monitor([gx.global_norm])
    with pytest.raises(TypeError, match=r"monitor: measures\['n'\] must be a function of the updates"):
        gx.monitor({"n": 3.0})
    with pytest.raises(ValueError, match=r"measure_with_ema: decay must be in \[0, 1\)"):
        gx.measure_with_ema(gx.global_norm, decay=1.5)
    with pytest.raises(TypeError, match="measure_with_ema: measure must be a function"):
        gx.measure_with_ema("norm", decay=0.9)


def test_gx_snapshot_inside_optax_chain_reads_with_optax_tree_get():
    params = nested_params(jnp.float32)
    ours = optax.chain(optax.sgd(0.1, momentum=0.9), gx.snapshot("before", optax.tree.norm),
                       optax.clip_by_global_norm(0.05))
    theirs = optax.chain(optax.sgd(0.1, momentum=0.9), optax.snapshot("before", optax.tree.norm),
                         optax.clip_by_global_norm(0.05))
    run_both(ours, theirs, params, steps=5, get=["before"], optax_inside=True)
