"""GaLore's projection (gradxform/transforms/low_rank.py) and its alias against optax.contrib's:
float32 bit for bit, the rule for leaves that are not matrices, and the checks at init."""
import inspect

import jax.numpy as jnp
import numpy as np
import optax
import pytest
from harness import assert_same_bits, eager_beside_optax
from problems import Problem

import gradxform as gx

pytestmark = pytest.mark.slow  # eager SVDs beside Optax's: about a minute and a half


def _tree_problem():
    """A tall and a wide matrix, an attention-like kernel, a vector and a scalar: a quadratic."""
    rng = np.random.default_rng(0)
    init = {"tall": rng.normal(size=(6, 3)), "wide": rng.normal(size=(2, 5)),
            "kernel": rng.normal(size=(4, 2, 3)), "b": rng.normal(size=(3,)), "s": np.array(0.7)}
    scales = {k: rng.uniform(0.5, 2.0, size=np.shape(v)) for k, v in init.items()}
    return Problem("tree", init, lambda p: {k: scales[k] * p[k] - 0.1 for k in p})


def _contrib(lib):
    return lib.contrib if lib is optax else lib


# 12 eager steps (each operation dispatched alone, so formula order alone decides the bits) cover
# four refreshes of the projector at update_proj_gap=3.
@pytest.mark.parametrize("kwargs", [
    dict(rank=1, update_proj_gap=1, scale=0.25, weight_decay=1e-2),
    dict(rank=2, update_proj_gap=3, kernel_as_matrix=True),
])
def test_galore_matches_optax_bit_for_bit_in_float32(kwargs):
    kwargs = dict(kwargs)
    kernel = kwargs.pop("kernel_as_matrix", False)

    def build(lib):
        numbers = None
        if kernel:
            spec = _contrib(lib).GaLoreDimensionNumbers(reduction_axis=0, output_axis=(1, 2))
            matrix = _contrib(lib).GaLoreDimensionNumbers()
            numbers = {"tall": matrix, "wide": None, "kernel": spec, "b": None, "s": None}
        return _contrib(lib).galore(1e-2, weight_dimension_numbers=numbers, **kwargs)

    ours, theirs = eager_beside_optax(build, _tree_problem(), steps=12)
    assert_same_bits(ours, theirs)


def test_scale_by_galore_with_another_base_matches_optax_bit_for_bit():
    def build(lib):
        base = lib.scale_by_adam(b1=0.8) if lib is optax else gx.scale_by_adam(b1=0.8)
        return lib.chain(_contrib(lib).scale_by_galore(rank=1, update_proj_gap=2, base_optimizer=base),
                         lib.scale(-1e-2))

    ours, theirs = eager_beside_optax(build, _tree_problem(), steps=12)
    assert_same_bits(ours, theirs)


@pytest.mark.parametrize("name", ["galore", "scale_by_galore"])
def test_signature_is_optax_contribs(name):
    ours, theirs = inspect.signature(getattr(gx, name)), inspect.signature(getattr(optax.contrib, name))
    assert [(p.name, p.kind, p.default) for p in ours.parameters.values()] == [
        (p.name, p.kind, p.default) for p in theirs.parameters.values()]


def test_state_holds_low_rank_moments_and_one_projector_per_matrix():
    params = {"w": jnp.zeros((8, 4)), "b": jnp.zeros(4)}
    state = gx.scale_by_galore(rank=2).init(params)
    assert state.projector["w"].shape == (8, 2) and state.projector["b"].shape == (0, 0)
    assert gx.tree.get(state, "mu")["w"].shape == (2, 4)
    assert gx.tree.get(state, "mu")["b"].shape == (4,)


def test_projector_is_recomputed_on_the_cadence_only():
    opt = gx.chain(gx.scale_by_galore(rank=1, update_proj_gap=3), gx.scale(-1.0))
    params = {"w": jnp.zeros((4, 2))}
    state = opt.init(params)
    rng = np.random.default_rng(1)
    projectors = []
    for _ in range(4):
        _, state = opt.update({"w": jnp.asarray(rng.normal(size=(4, 2)))}, state, params)
        projectors.append(np.asarray(gx.tree.get(state, "projector")["w"]))
    np.testing.assert_array_equal(projectors[0], projectors[1])
    np.testing.assert_array_equal(projectors[1], projectors[2])
    assert not np.array_equal(projectors[2], projectors[3])


@pytest.mark.parametrize("numbers, message", [
    (gx.GaLoreDimensionNumbers(0, 0), r"at \['w'\] of shape \(3, 2\).*reduction axes \(0,\) and output axes \(0,\)"),
    ({"w": None, "b": gx.GaLoreDimensionNumbers()}, r"at \['b'\] of shape \(2,\).*rank 1 < 2"),
    ({"w": gx.GaLoreDimensionNumbers(0, 2), "b": None}, r"at \['w'\] of shape \(3, 2\).*output axes \(0,\)"),
])
def test_a_leaf_that_cannot_be_a_matrix_is_an_error_at_init(numbers, message):
    opt = gx.scale_by_galore(weight_dimension_numbers=numbers)
    with pytest.raises(ValueError, match="scale_by_galore: weight_dimension_numbers marks the leaf " + message):
        opt.init({"w": jnp.zeros((3, 2)), "b": jnp.zeros(2)})


def test_a_spec_that_is_not_one_is_an_error():
    opt = gx.scale_by_galore(weight_dimension_numbers={"w": (0, 1)})
    with pytest.raises(TypeError, match="scale_by_galore: weight_dimension_numbers must give a GaLoreDimensionNumbers"):
        opt.init({"w": jnp.zeros((3, 2))})


def test_a_complex_matrix_is_an_error():
    with pytest.raises(TypeError, match=r"scale_by_galore: the leaf at \['w'\] is complex"):
        gx.scale_by_galore().init({"w": jnp.zeros((3, 2), jnp.complex64)})


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(rank=0), ValueError, "rank"),
    (dict(rank=2.0), TypeError, "rank"),
    (dict(update_proj_gap=0), ValueError, "update_proj_gap"),
])
def test_bad_rank_or_cadence_is_an_error(kwargs, error, message):
    with pytest.raises(error, match=f"scale_by_galore: {message}"):
        gx.scale_by_galore(**kwargs)
