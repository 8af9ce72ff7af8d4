"""GradientTransformationExtraArgs and with_extra_args_support."""
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradxform as gx

PARAMS = {"w": jnp.array([1.0, 2.0])}


def test_the_class_is_a_gradient_transformation_with_the_same_two_fields():
    tx = gx.GradientTransformationExtraArgs(gx.init_empty_state, lambda u, s, p=None, **kw: (u, s))
    assert isinstance(tx, gx.GradientTransformation) and tx._fields == ("init", "update")
    assert gx.with_extra_args_support(tx) is tx


def test_a_gradxform_transformation_keeps_its_update_and_receives_extra_arguments():
    opt = gx.scale_by_learning_rate(0.1)
    wrapped = gx.with_extra_args_support(opt)
    assert isinstance(wrapped, gx.GradientTransformationExtraArgs)
    assert wrapped.update is opt.update and repr(wrapped) == repr(opt)
    state = wrapped.init(PARAMS)
    updates, _ = wrapped.update(PARAMS, state, PARAMS, loss=jnp.array(1.0))
    np.testing.assert_allclose(updates["w"], -0.1 * PARAMS["w"])


def test_a_plain_optax_transformation_stops_receiving_extra_arguments():
    wrapped = gx.with_extra_args_support(optax.scale(2.0))  # its update takes no **extra_args
    updates, _ = wrapped.update(PARAMS, wrapped.init(PARAMS), None, value=3.0, step=1)
    np.testing.assert_array_equal(updates["w"], 2 * PARAMS["w"])


def test_something_that_is_not_a_transformation_is_an_error():
    with pytest.raises(TypeError, match="with_extra_args_support: expected a GradientTransformation"):
        gx.with_extra_args_support(lambda g: g)


def test_the_protocol_types_describe_init_and_update():
    assert gx.TransformInitFn.__call__.__annotations__["return"] == "OptState"
    assert "extra_args" in gx.TransformUpdateExtraArgsFn.__call__.__code__.co_varnames
    assert "extra_args" not in gx.TransformUpdateFn.__call__.__code__.co_varnames


def test_every_gradxform_transformation_is_an_instance_of_the_extra_args_class_as_optax_chain_is():
    tx = gx.chain(gx.clip_by_global_norm(1.0), gx.adam(1e-3), optax.scale(2.0))
    assert isinstance(tx, gx.GradientTransformationExtraArgs)
    assert isinstance(gx.sgd(0.1), gx.GradientTransformationExtraArgs)
    by_hand = gx.GradientTransformation(lambda params: (), lambda updates, state, params=None: (updates, state))
    assert not isinstance(by_hand, gx.GradientTransformationExtraArgs)
    assert isinstance(gx.with_extra_args_support(by_hand), gx.GradientTransformationExtraArgs)
