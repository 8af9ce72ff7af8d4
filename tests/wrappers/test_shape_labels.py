"""Labels by rank for partition (gradxform/wrappers/shape_labels.py)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradxform as gx


def test_each_leaf_gets_the_label_of_its_rank_or_the_default():
    params = {"w": jnp.ones((3, 2)), "b": jnp.ones(2), "s": jnp.ones(()), "k": jnp.ones((2, 2, 3))}
    labels = gx.labels_by_ndim(params, {2: "matrix", 0: "scalar"}, default="other")
    assert labels == {"w": "matrix", "b": "other", "s": "scalar", "k": "other"}


def test_shapes_without_values_are_labelled():
    params = {"w": jax.ShapeDtypeStruct((3, 2), jnp.float32), "b": jax.ShapeDtypeStruct((2,), jnp.float32)}
    assert gx.labels_by_ndim(params, {2: "muon"}, default="adam") == {"w": "muon", "b": "adam"}


def test_partition_by_rank_in_one_call():
    params = {"w": jnp.ones((2, 2)), "b": jnp.ones(2)}
    opt = gx.partition({"m": gx.scale(-1.0), "v": gx.scale(-0.5)},
                       lambda p: gx.labels_by_ndim(p, {2: "m"}, default="v"))
    updates, _ = opt.update(params, opt.init(params))
    np.testing.assert_array_equal(updates["w"], -np.ones((2, 2)))
    np.testing.assert_array_equal(updates["b"], -0.5 * np.ones(2))


def test_a_rank_without_label_or_default_names_the_leaf():
    with pytest.raises(ValueError, match=r"labels_by_ndim: no label for rank 1 \(shape \(2,\) at \['b'\]\); "
                                         r"the ranks given are \[2\]"):
        gx.labels_by_ndim({"w": jnp.ones((2, 2)), "b": jnp.ones(2)}, {2: "muon"})


@pytest.mark.parametrize("labels", [["muon"], {"2": "muon"}, {-1: "x"}, {True: "x"}])
def test_labels_must_map_ranks(labels):
    with pytest.raises(TypeError, match=r"labels_by_ndim: labels must be a mapping \{ndim: label\}"):
        gx.labels_by_ndim({"w": jnp.ones((2, 2))}, labels)
