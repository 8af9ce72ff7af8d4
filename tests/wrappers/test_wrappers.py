"""Every wrapper, set up to change nothing, equals what it wraps: around a chain, inside one, under jit.

The wrapped and the plain optimizer are different XLA programs; XLA fuses them differently (a
multiply and an add contracted into one FMA, a division vectorized through an approximate
reciprocal), so they agree to a few units in the last place rather than bit for bit. The module
tests (test_masking.py, ...) compare bitwise where both sides run the same kernels. An error in
a wrapper (a wrong step count, a masked leaf) shows up many orders of magnitude above rtol.
"""
import functools

import jax
import jax.numpy as jnp
import pytest
from wrapper_trees import assert_trees_close, gradient_sequence, nested_params, run

import gradxform as gx

pytestmark = pytest.mark.slow  # make test-fast leaves this module out

NEUTRAL = {
    "masked": lambda inner: gx.masked(inner, lambda p: gx.path_mask(p)),
    "partition": lambda inner: gx.partition(
        {"all": inner}, lambda p: gx.labels_from_patterns(p, {"*": "all"})
    ),
    "multi_transform": lambda inner: gx.multi_transform({"all": inner}, "all"),
    "MultiSteps": lambda inner: gx.MultiSteps(inner, every_k_schedule=1),
    "apply_if_finite": lambda inner: gx.apply_if_finite(inner, 0),
    "conditionally_transform": lambda inner: gx.conditionally_transform(inner, lambda step: step >= 0),
    "conditionally_mask": lambda inner: gx.conditionally_mask(inner, lambda step: step < 100),
    "ema_params": lambda inner: gx.ema_params(inner, 0.9),
    "swa": lambda inner: gx.swa(inner, start_step=1, period=2),
    "named_chain": lambda inner: gx.named_chain(("inner", inner)),
    "selective_transform": lambda inner: gx.selective_transform(inner, freeze_mask=False),
    "flatten": gx.flatten,
}
WRAPPERS = [pytest.param(w, id=name) for name, w in NEUTRAL.items()]
STEPS = 3


def step_reading_links():
    """Bare links that read the step of the enclosing chain: momentum, bias correction, a schedule."""
    return [
        gx.scale_by_momentum(0.9, ema=True),
        gx.bias_correction(0.9),
        gx.scale_by_learning_rate(lambda step: 0.1 / (1.0 + step.astype(jnp.float64))),
    ]


@functools.lru_cache(maxsize=None)
def reference(case):
    params = nested_params()
    grads = gradient_sequence(params, STEPS)
    if case == "around":
        return run(gx.adam(0.1), params, grads, jit=True)[0]
    return run(gx.chain(*step_reading_links()), params, grads)[0]


@pytest.mark.parametrize("wrap", WRAPPERS)
def test_wrapper_around_a_chain_under_jit_equals_the_chain(wrap):
    params = nested_params()
    outputs, _ = run(wrap(gx.adam(0.1)), params, gradient_sequence(params, STEPS), jit=True)
    assert_trees_close(outputs, reference("around"), rtol=1e-13)


@pytest.mark.parametrize("wrap", WRAPPERS)
def test_wrapper_inside_a_chain_passes_the_step_to_the_links_it_wraps(wrap):
    params = nested_params()
    opt = gx.chain(wrap(step_reading_links()))
    outputs, _ = run(opt, params, gradient_sequence(params, STEPS))
    assert_trees_close(outputs, reference("inside"), rtol=1e-13)


@pytest.mark.parametrize("wrap", WRAPPERS)
def test_wrapper_state_is_arrays_with_int32_counters_and_keeps_its_shape_across_updates(wrap):
    params = nested_params()
    opt = wrap(gx.adam(0.1))
    state = opt.init(params)
    _, new_state = opt.update(gradient_sequence(params, 1)[0], state, params)
    leaves = jax.tree.leaves(state)
    assert all(isinstance(x, jax.Array) for x in leaves)
    assert all(x.dtype == jnp.int32 for x in leaves if jnp.issubdtype(x.dtype, jnp.integer))
    avals = lambda s: jax.tree.map(lambda x: (x.shape, x.dtype), s)
    assert jax.tree.structure(new_state) == jax.tree.structure(state)
    assert avals(new_state) == avals(state)  # a second jitted step reuses the first's compilation


@pytest.mark.parametrize("wrap", WRAPPERS)
def test_a_hyperparameter_set_through_the_wrapper_acts_as_building_the_inner_optimizer_with_it(wrap):
    params = nested_params()
    grads = gradient_sequence(params, STEPS)
    opt = wrap(gx.adam(0.1))
    state = gx.set_hyperparams(opt.init(params), learning_rate=0.05, b2=0.9)
    update, outputs = jax.jit(opt.update), []
    for g in grads:
        updates, state = update(g, state, params)
        outputs.append(updates)
    expected, _ = run(wrap(gx.adam(0.05, b2=0.9)), params, grads, jit=True)
    assert_trees_close(outputs, expected, rtol=1e-13)
    values = gx.hyperparams(state)
    assert (float(values["learning_rate"]), float(values["b2"])) == (0.05, 0.9)
