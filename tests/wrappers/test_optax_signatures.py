"""The wrappers' signatures and state fields are Optax's; ApplyEvery is Optax's name of the state."""
import inspect

import jax
import jax.numpy as jnp
import optax
import pytest
from wrapper_trees import assert_trees_equal, gradient_sequence, nested_params

import gradxform as gx

SAME_SIGNATURE = [
    "apply_every", "apply_if_finite", "conditionally_mask", "conditionally_transform", "freeze",
    "lookahead", "masked", "multi_transform", "partition", "skip_not_finite", "zero_nans",
]
SAME_FIELDS = [
    "ApplyEvery", "ApplyIfFiniteState", "ConditionallyMaskState", "ConditionallyTransformState",
    "LookaheadParams", "MaskedState", "MultiStepsState", "PartitionState", "ZeroNansState",
]


def parameters(fn):
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize("name", SAME_SIGNATURE)
def test_signature_is_optaxs(name):
    assert parameters(getattr(gx, name)) == parameters(getattr(optax, name))


def test_multisteps_signature_is_optaxs_but_for_the_documented_accumulator_dtype():
    ours, theirs = parameters(gx.MultiSteps), parameters(optax.MultiSteps)
    assert ours[:-1] == theirs[:-1]
    assert ours[-1][:2] == theirs[-1][:2] == ("accumulator_dtype", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    assert ours[-1][2] is None  # keeps the params' dtype (Optax: float32), see MultiSteps's docstring


@pytest.mark.parametrize("name", SAME_FIELDS)
def test_state_fields_are_optaxs(name):
    assert getattr(gx, name)._fields == getattr(optax, name)._fields


def test_apply_every_state_is_optaxs_apply_every_by_name_and_evolution():
    assert gx.ApplyEvery is gx.ApplyEveryState
    params = nested_params(jnp.float32)
    ours, theirs = gx.apply_every(3), optax.apply_every(3)
    s_ours, s_theirs = ours.init(params), theirs.init(params)
    assert isinstance(s_ours, gx.ApplyEvery)
    for g in gradient_sequence(params, 7):
        u_ours, s_ours = ours.update(g, s_ours)
        with jax.numpy_dtype_promotion("standard"):  # Optax multiplies by a bool
            u_theirs, s_theirs = theirs.update(g, s_theirs)
        assert_trees_equal(u_ours, u_theirs)
        assert_trees_equal(tuple(s_ours), tuple(s_theirs))
    rebuilt = gx.ApplyEvery(count=s_ours.count, grad_acc=s_ours.grad_acc)
    assert_trees_equal(ours.update(g, rebuilt)[0], ours.update(g, s_ours)[0])
