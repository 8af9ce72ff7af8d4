"""Properties every registry entry has, over random pytrees (hypothesis).

Trees mix nested dicts, lists and tuples, ``None`` leaves, scalar leaves, the empty tree, and
float32, float64 and bfloat16 leaves side by side.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from registry import REGISTRY

pytestmark = pytest.mark.slow  # make test-fast leaves this module out

ENTRIES = [pytest.param(e, id=e.name) for e in REGISTRY]
COMPLEX_ENTRIES = [pytest.param(e, id=e.name) for e in REGISTRY if e.supports_complex]
STEPS = 2
FEW = settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@dataclasses.dataclass(frozen=True)
class Leaf:
    """A leaf to be: not a pytree node, so ``jax.tree.map`` sees it as one leaf."""

    shape: tuple
    dtype: type


arrays = st.builds(
    Leaf,
    st.sampled_from([(), (1,), (3,), (2, 3)]),
    st.sampled_from([jnp.float32, jnp.float64, jnp.bfloat16]),
)


def _containers(children):
    return st.one_of(
        st.dictionaries(st.sampled_from(["a", "b", "bias", "kernel"]), children, max_size=3),
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
    )


# None is a leaf inside a tree (a frozen or absent parameter), never the whole tree, because
# update(..., params=None) means "no params given".
layouts = st.one_of(
    st.just({}), arrays, _containers(st.recursive(st.none() | arrays, _containers, max_leaves=6))
)


def _make(layout, seed):
    """Params and a gradient sequence with the layout's structure, shapes and dtypes."""
    rng = np.random.default_rng(seed)

    def draw(leaf):
        return jnp.asarray(rng.normal(size=leaf.shape), leaf.dtype)

    params = jax.tree.map(draw, layout)
    grads = [jax.tree.map(draw, layout) for _ in range(STEPS)]
    return params, grads


def _extra_args(entry, params, grads):
    return entry.needs_extra_args(params, grads) if entry.needs_extra_args else {}


def _avals(tree):
    """What jit keys its cache on: the tree, and each leaf's shape, dtype and weak type."""
    leaves = jax.tree.leaves(tree)
    return jax.tree.structure(tree), [(x.shape, x.dtype, getattr(x, "weak_type", False)) for x in leaves]


def _assert_same_layout(tree, like, at_least=None):
    """``tree`` has ``like``'s structure, shapes and dtypes (promoted to ``at_least`` if given)."""
    assert jax.tree.structure(tree) == jax.tree.structure(like)
    for x, y in zip(jax.tree.leaves(tree), jax.tree.leaves(like)):
        dtype = y.dtype if at_least is None else np.promote_types(y.dtype, at_least)
        assert (x.shape, x.dtype) == (y.shape, dtype)


def _assert_close(actual, expected, rtol):
    """Same tree and dtypes, same integers and keys, floats within ``rtol`` of each leaf's scale."""
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected)):
        assert a.dtype == e.dtype
        if jnp.issubdtype(a.dtype, jax.dtypes.prng_key):
            a, e = jax.random.key_data(a), jax.random.key_data(e)
        a, e = np.asarray(a), np.asarray(e)
        if not jnp.issubdtype(a.dtype, jnp.inexact):
            np.testing.assert_array_equal(a, e)
            continue
        # A leaf kept in float32 by design (SWATS's rate estimate) agrees to its own precision:
        # the compiled program may contract its arithmetic (FMA) where eager mode rounds twice.
        tol = max(rtol, 4 * float(np.finfo(a.dtype).eps))
        scale = np.max(np.abs(e), initial=0.0)
        np.testing.assert_allclose(a, e, rtol=tol, atol=tol * scale)


# A fixed tree with every feature at once, for the properties that compile per entry.
RICH = {"kernel": Leaf((2, 3), jnp.float32), "nested": [(Leaf((), jnp.bfloat16),), None], "empty": {}}


@pytest.mark.parametrize("entry", ENTRIES)
@FEW
@given(layout=layouts, seed=st.integers(0, 2**16))
def test_init_and_update_keep_structure_shapes_and_dtypes(entry, layout, seed):
    # Traced abstractly (jax.eval_shape): the very shapes and dtypes a real step produces,
    # without compiling a kernel for every random tree. A state whose avals (weak types
    # included) changed after one update would make the next jitted step recompile.
    params, grads = _make(layout, seed)
    opt = entry.make()
    extra_args = _extra_args(entry, params, grads[0])
    state = jax.eval_shape(opt.init, params)
    updates, new_state = jax.eval_shape(
        lambda g, s, p: opt.update(g, s, p, **extra_args), grads[0], state, params
    )
    _assert_same_layout(updates, params, at_least=entry.updates_at_least)
    assert _avals(new_state) == _avals(state)


def _in_float64(layout):
    return jax.tree.map(lambda leaf: Leaf(leaf.shape, jnp.float64), layout)


def _check_jit_against_eager(entry, layout, seed):
    """Three steps, eager and jitted side by side; the jitted function is traced once.

    Compared in float64: XLA may fuse, reorder sums or keep bfloat16 intermediates in float32
    under jit, and a few quantities (SWATS's projection p.g / p.p) amplify such rounding.
    """
    params, grads = _make(_in_float64(layout), seed)
    grads.append(grads[0])  # a third step
    opt = entry.make()
    traces = []

    def update(g, state, params, extra_args):
        traces.append(None)  # runs only while tracing
        return opt.update(g, state, params, **extra_args)

    jitted = jax.jit(update)
    eager_state = jit_state = opt.init(params)
    for g in grads:
        extra_args = _extra_args(entry, params, g)
        eager, eager_state = update(g, eager_state, params, extra_args)
        jitted_updates, jit_state = jitted(g, jit_state, params, extra_args)
        _assert_close(jitted_updates, eager, rtol=1e-9)
        _assert_close(jit_state, eager_state, rtol=1e-9)
        params = jax.tree.map(lambda p, u: p + u, params, eager)
    assert len(traces) == len(grads) + 1  # every eager call, and one trace for all jitted steps


@pytest.mark.parametrize("entry", ENTRIES)
def test_jit_matches_eager_and_later_jitted_steps_do_not_recompile(entry):
    _check_jit_against_eager(entry, RICH, seed=0)


@FEW
@given(entry=st.sampled_from(REGISTRY), layout=layouts, seed=st.integers(0, 2**16))
def test_jit_matches_eager_on_random_trees_for_random_entries(entry, layout, seed):
    # One compilation per example, so entries are drawn at random rather than all run.
    _check_jit_against_eager(entry, layout, seed)


def _complex_problem(phase=0.0):
    """Complex params and three gradients, all rotated by ``exp(i * phase)``."""
    rng = np.random.default_rng(0)
    rotation = np.exp(1j * phase)

    def draw(shape, dtype):
        return jnp.asarray(rotation * (rng.normal(size=shape) + 1j * rng.normal(size=shape)), dtype)

    def tree():
        return {"w": draw((2, 3), jnp.complex64), "b": draw((), jnp.complex128)}

    return tree(), [tree() for _ in range(3)]


def _complex_updates(entry, phase=0.0):
    params, grads = _complex_problem(phase)
    opt = entry.make()
    state = opt.init(params)
    initial = _avals(state)
    history = []
    for g in grads:
        updates, state = opt.update(g, state, params, **_extra_args(entry, params, g))
        _assert_same_layout(updates, params)
        assert _avals(state) == initial
        history.append(updates)
        params = jax.tree.map(lambda p, u: p + u, params, updates)
    return history


@pytest.mark.parametrize("entry", COMPLEX_ENTRIES)
def test_complex_params_keep_their_dtype_and_give_finite_updates(entry):
    for updates in _complex_updates(entry):
        for leaf in jax.tree.leaves(updates):
            assert np.all(np.isfinite(np.asarray(leaf)))


# Rotating every gradient and parameter by one phase rotates every update by it: the math uses
# |g|^2 (not g^2) and real inner products. Noise is rotation-invariant only in distribution, so
# entries that draw it are left to the test above.
DETERMINISTIC_COMPLEX_ENTRIES = [
    pytest.param(e, id=e.name) for e in REGISTRY if e.supports_complex and not e.draws_noise
]


@pytest.mark.parametrize("entry", DETERMINISTIC_COMPLEX_ENTRIES)
def test_complex_updates_rotate_with_the_phase_of_gradients_and_params(entry):
    phase = 2.0
    rotation = np.exp(1j * phase)
    for step, (plain, rotated) in enumerate(zip(_complex_updates(entry), _complex_updates(entry, phase))):
        for key in plain:
            rtol = 1e-4 if plain[key].dtype == jnp.complex64 else 1e-10
            expected = rotation * np.asarray(plain[key], np.complex128)
            scale = np.max(np.abs(expected))
            np.testing.assert_allclose(
                np.asarray(rotated[key], np.complex128), expected, rtol=rtol, atol=rtol * scale,
                err_msg=f"step {step + 1}, leaf {key!r}",
            )
