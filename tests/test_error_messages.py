"""Every error names what the user wrote: the function they called and the argument they passed.

An alias hands its arguments to primitives, which check them; the message must still start with
the alias and name the argument under the alias's name (``radam: variance_is_tractable: b2 must
be in [0, 1)``, not ``variance_is_tractable: ...`` alone). Probed for every factory of the
registry (tests/registry.py), with each numeric argument set in turn to values no hyperparameter
accepts, and to values out of the range of the common hyperparameters; and for every optimizer
that takes a learning rate, with learning rates that are not scalars and schedules that return
something other than a number. Tree mismatches print the paths found on one side only, in one
format everywhere.
"""
from __future__ import annotations

import math
import numbers

import jax.numpy as jnp
import pytest
from registry import REGISTRY

import gradxform as gx
from gradxform.core import recipe as _recipe

PARAMS = {"w": jnp.ones((2, 3)), "b": jnp.ones(3)}

# Values no numeric hyperparameter accepts.
NEVER_VALID = {"nan": math.nan, "inf": math.inf, "a string": "0.1"}
# Values out of the range of hyperparameters that share a meaning wherever they appear.
OUT_OF_RANGE = {
    "learning_rate": -1e-3, "eps": -1e-8, "eps_root": -1e-8, "weight_decay": -1e-2,
    "b1": 1.5, "b2": 1.5, "b3": 1.5, "decay": 1.5, "rho": 1.5, "momentum": 1.5, "nu1": 1.5,
    "nu2": 1.5, "trust_coefficient": -1.0, "initial_accumulator_value": -1.0,
}


def _factories():
    """(the factory's name, its positional arguments, its keyword arguments), once per factory,
    with the arguments of the first registry entry built from it."""
    found = {}
    for entry in REGISTRY:
        try:
            node = _recipe.of(entry.make())
        except (ValueError, TypeError):  # an entry that does not build fails in test_aliases.py
            continue
        if node.name in found or not hasattr(gx, node.name):
            continue
        positional, keywords = _recipe.call_arguments(getattr(gx, node.name), node)
        found[node.name] = (positional, keywords)
    return found


FACTORIES = _factories()


def _numeric(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _cases():
    for name, (_, keywords) in sorted(FACTORIES.items()):
        for argument, value in keywords.items():
            if not _numeric(value):
                continue
            for label, bad in NEVER_VALID.items():
                yield pytest.param(name, argument, bad, id=f"{name}-{argument}-{label}")
            if argument in OUT_OF_RANGE:
                bad = OUT_OF_RANGE[argument]
                yield pytest.param(name, argument, bad, id=f"{name}-{argument}-{bad}")


def _build(name, **changed):
    positional, keywords = FACTORIES[name]
    return getattr(gx, name)(*positional, **{**keywords, **changed}).init(PARAMS)


def _assert_names(error: Exception, name: str, argument: str) -> None:
    message = str(error)
    assert message.startswith(f"{name}: "), message
    assert argument in message, message


def test_every_factory_of_the_registry_is_probed():
    assert len(FACTORIES) > 40
    assert {"adam", "radam", "lamb", "sgd", "lars", "noisy_sgd"} <= set(FACTORIES)


@pytest.mark.parametrize(("name", "argument", "bad"), list(_cases()))
def test_a_bad_numeric_argument_is_refused_naming_the_alias_and_the_argument(name, argument, bad):
    with pytest.raises((ValueError, TypeError)) as info:
        _build(name, **{argument: bad})
    _assert_names(info.value, name, argument)


LEARNING_RATE_TAKERS = sorted(
    name for name, (_, keywords) in FACTORIES.items() if _numeric(keywords.get("learning_rate"))
)
NOT_A_SCALAR = {
    "vector": jnp.full(3, 1e-3),
    "schedule returning None": lambda step: None,
    "schedule returning a string": lambda step: "0.1",
    "schedule returning a vector": lambda step: jnp.full(3, 1e-3),
    "schedule returning nan": lambda step: jnp.nan,
}


@pytest.mark.parametrize("what", sorted(NOT_A_SCALAR))
@pytest.mark.parametrize("name", LEARNING_RATE_TAKERS)
def test_a_learning_rate_that_is_not_a_scalar_number_is_refused_naming_the_alias(name, what):
    with pytest.raises((ValueError, TypeError)) as info:
        _build(name, learning_rate=NOT_A_SCALAR[what])
    _assert_names(info.value, name, "learning_rate")


def test_radam_names_itself_and_b2_before_the_switch_that_refused_it():
    with pytest.raises(ValueError, match=r"^radam: variance_is_tractable: b2 must be in \[0, 1\), got b2=1\.5\.$"):
        gx.radam(1e-3, b2=1.5)


def test_a_primitive_called_directly_keeps_its_own_name():
    with pytest.raises(ValueError, match=r"^scale_by_rms: decay must be in \[0, 1\)"):
        gx.scale_by_rms(decay=1.5)


def test_an_alias_inside_a_wrapper_is_named_not_the_wrapper():
    with pytest.raises(ValueError, match=r"^adam: scale_by_momentum: b1 must be in \[0, 1\)"):
        gx.masked(gx.adam(1e-3, b1=2.0), {"w": True, "b": False})


# --- Errors raised inside init and update: led by what the user called -------------------------

MATRIX = {"w": jnp.ones((3, 3))}


@pytest.mark.parametrize("name, part", [("lars", "scale_by_trust_ratio"), ("adamw", "weight_decay"),
                                        ("sophia", "hutchinson_estimator_diag_hessian")])
def test_a_part_s_refusal_during_update_is_led_by_the_alias(name, part):
    opt = getattr(gx, name)(0.1)
    with pytest.raises(ValueError, match=rf"^{name}\.update: {part}: update\(\) needs params"):
        opt.update(MATRIX, opt.init(MATRIX))


def test_a_part_s_refusal_during_init_is_led_by_the_alias():
    with pytest.raises(TypeError, match=r"^adam\.init: scale_by_momentum: every parameter must have a "
                                        r"floating-point or complex dtype, got int32 at \['w'\]"):
        gx.adam(0.1).init({"w": jnp.ones(3, jnp.int32)})


def test_an_alias_inside_a_chain_is_named_after_the_chain():
    opt = gx.chain(gx.clip(1.0), gx.adamw(0.1))
    with pytest.raises(ValueError, match=r"^chain\.update: adamw\.update: weight_decay: update\(\) needs params"):
        opt.update(MATRIX, opt.init(MATRIX))


@pytest.mark.parametrize("name", ["shampoo", "swats", "sm3", "adam"])
def test_an_update_of_another_shape_than_the_state_s_is_named_even_where_jax_fails_first(name):
    # Without params the shapes are checked against the state; shampoo's and swats's steps
    # fail inside JAX before that check, with a message about tree_map or dot_general.
    opt = getattr(gx, name)(0.1)
    with pytest.raises(ValueError, match=rf"^{name}\.update: updates\['w'\] has shape \(3,\), but the "
                                         r"state was made by init\(\) for shape \(3, 3\) there"):
        opt.update({"w": jnp.ones(3)}, opt.init(MATRIX))


# --- Tree mismatches: paths on each side, one format ------------------------------------------

OTHER_TREE = {"w": jnp.ones((2, 3)), "c": jnp.ones(3)}


@pytest.mark.parametrize("name", ["sgd", "noisy_sgd", "lars", "clip_by_global_norm", "adam", "lamb"])
def test_updates_of_another_tree_than_the_params_list_the_paths_on_each_side(name):
    opt = getattr(gx, name)(0.1)
    with pytest.raises(ValueError) as info:
        opt.update(OTHER_TREE, opt.init(PARAMS), PARAMS)
    message = str(info.value)
    assert message.startswith(f"{name}.update: updates and params have different tree structures")
    assert "only in updates: 'c'" in message
    assert "only in params: 'b'" in message
    assert "PyTreeDef" not in message and "tree_map" not in message


@pytest.mark.parametrize("name", ["adam", "lamb", "adabelief"])
def test_updates_of_another_tree_than_the_state_list_the_paths_on_each_side(name):
    opt = getattr(gx, name)(0.1)
    with pytest.raises(ValueError) as info:
        opt.update(OTHER_TREE, opt.init(PARAMS))
    message = str(info.value)
    assert "updates and state have different tree structures" in message
    assert "only in updates: 'c'" in message and "only in state: 'b'" in message
    assert "PyTreeDef" not in message


MATRIX_PARAMS = {"w": jnp.ones((3, 4))}


@pytest.mark.parametrize("new_leaf", [jnp.ones((2, 2)), jnp.ones(2)], ids=["matrix", "vector"])
@pytest.mark.parametrize("make, leads", [
    (lambda: gx.mechanize(gx.sgd(0.1)), r"^mechanize: "),
    (lambda: gx.shampoo(0.1), r"^shampoo\.update: .*scale_by_kronecker_roots: "),
    (lambda: gx.scale_by_shampoo(), r"^scale_by_shampoo\.update: .*scale_by_kronecker_roots: "),
    (lambda: gx.scale_by_kronecker_roots(), r"^scale_by_kronecker_roots: "),
    (lambda: gx.soap(0.1), r"^soap\.update: in_kronecker_eigenbasis: "),
    (lambda: gx.scale_by_soap(), r"^scale_by_soap\.update: in_kronecker_eigenbasis: "),
    (lambda: gx.in_kronecker_eigenbasis([gx.rotate_to_eigenbasis(), gx.rotate_back()]),
     r"^in_kronecker_eigenbasis: "),
], ids=["mechanize", "shampoo", "scale_by_shampoo", "scale_by_kronecker_roots", "soap", "scale_by_soap",
        "in_kronecker_eigenbasis"])
def test_a_state_made_on_other_params_is_refused_by_path_where_jax_would_fail_first(make, leads, new_leaf):
    # Without the check, JAX's tree_map fails first: "pytree structure error: different numbers
    # of pytree children at key path ...", naming neither the optimizer nor the extra leaf. In
    # Shampoo a new vector is hidden from the matrices' group of its partition, yet named.
    opt, more = make(), {**MATRIX_PARAMS, "v": new_leaf}
    with pytest.raises(ValueError, match=leads + "updates and state have different tree structures") as info:
        opt.update(more, opt.init(MATRIX_PARAMS), more)
    message = str(info.value)
    assert "only in updates: 'v'" in message and "only in state: (none)" in message
    assert "pytree structure error" not in message and "PyTreeDef" not in message


def test_same_paths_in_other_containers_say_so():
    with pytest.raises(ValueError, match=r"the same paths, in other containers") as info:
        gx.adam(0.1).update((jnp.ones(3),), gx.adam(0.1).init([jnp.ones(3)]), [jnp.ones(3)])
    assert "only in" in str(info.value)


def test_a_long_list_of_paths_is_cut_short():
    many = {f"p{i:02d}": jnp.ones(()) for i in range(30)}
    opt = gx.sgd(0.1)
    with pytest.raises(ValueError, match=r"\.\.\. and 18 more"):
        opt.update({"q": jnp.ones(())}, opt.init(many), many)


def test_flatten_reports_other_trees_by_path():
    opt = gx.flatten(gx.adam(0.1))
    with pytest.raises(ValueError) as info:
        opt.update(OTHER_TREE, opt.init(PARAMS))
    message = str(info.value)
    assert message.startswith("flatten: updates and the params given to init() have different")
    assert "only in updates: 'c'" in message and "only in the params given to init(): 'b'" in message


@pytest.mark.parametrize("make, leads", [
    (lambda: gx.asgd(0.1), r"^asgd\.update: swa: "),
    (lambda: gx.schedule_free_adamw(0.1), r"^schedule_free_adamw\.update: updates\['w'\] has shape"),
    (lambda: gx.schedule_free(gx.sgd(0.1), 0.1), r"^schedule_free\.update: sgd\.update: "),
    (lambda: gx.muon(0.1), r"^muon\.update: partition: updates\['w'\] has shape \(1,\)"),
    (lambda: gx.sparse(gx.adam(0.1)), r"^sparse\.update: adam\.update: updates\['w'\] has shape \(1,\)"),
    (lambda: gx.split_real_and_imaginary(gx.adam(0.1)),
     r"^split_real_and_imaginary\.update: adam\.update: updates\['w'\] has shape \(1,\)"),
])
def test_an_alias_that_is_a_wrapper_leads_the_errors_raised_inside_it(make, leads):
    opt = make()
    params = {"w": jnp.ones(3), "b": jnp.ones(3)}
    with pytest.raises(ValueError, match=leads):
        opt.update({"w": jnp.ones(1), "b": jnp.ones(3)}, opt.init(params), params)


PAIR = gx.LookaheadParams.init_synced({"w": jnp.ones(3), "b": jnp.ones(3)})


def _lookahead_step(fast_optimizer, updates):
    opt = gx.lookahead(fast_optimizer, 5, 0.5)
    return opt.update(updates, opt.init(PAIR), PAIR)


def _multisteps_step(opt, updates, params):
    opt = gx.MultiSteps(opt, 2)
    return opt.update(updates, opt.init({"w": jnp.ones(3), "b": jnp.ones(3)}), params)


@pytest.mark.parametrize("call, error, leads", [
    (lambda: _lookahead_step(gx.sgd(0.1), {"w": jnp.ones(1), "b": jnp.ones(3)}), ValueError,
     r"^lookahead\.update: sgd\.update: updates\['w'\] has shape \(1,\), params\['w'\] has \(3,\)"),
    (lambda: gx.lookahead(gx.adam(0.1), 5, 0.5).init(gx.LookaheadParams.init_synced({"w": jnp.ones(3, jnp.int32)})),
     TypeError, r"^lookahead\.init: adam\.init: scale_by_momentum: every parameter must have a floating-point"),
    (lambda: _multisteps_step(gx.adam(0.1), {"w": jnp.ones(3), "b": jnp.ones(3)}, {"w": jnp.ones(1), "b": jnp.ones(3)}),
     ValueError, r"^MultiSteps\.update: adam\.update: updates\['w'\] has shape \(3,\), params\['w'\] has \(1,\)"),
    (lambda: _multisteps_step(gx.adamw(0.1), {"w": jnp.ones(3), "b": jnp.ones(3)}, None), ValueError,
     r"^MultiSteps\.update: adamw\.update: weight_decay: update\(\) needs params"),
    (lambda: gx.MultiSteps(gx.scale_by_kronecker_roots(), 2).init({"w": jnp.ones(3)}), ValueError,
     r"^MultiSteps\.init: scale_by_kronecker_roots: every leaf must have at least 2 axes"),
], ids=["lookahead-update", "lookahead-init", "MultiSteps-update", "MultiSteps-needs-params", "MultiSteps-init"])
def test_a_wrapper_leads_the_errors_raised_by_the_optimizer_it_wraps(call, error, leads):
    with pytest.raises(error, match=leads):
        call()


def test_a_wrapper_s_own_refusal_is_named_once():
    opt = gx.lookahead(gx.sgd(0.1), 5, 0.5)
    with pytest.raises(ValueError, match=r"^lookahead: update\(\) needs params=LookaheadParams"):
        opt.update(PAIR.fast, opt.init(PAIR), PAIR.fast)


def test_a_choice_given_an_array_is_refused_naming_the_argument():
    refused = r"^muon: scale_by_shape: fan_in_axis must be one of \[0, 1\], got fan_in_axis=Array"
    with pytest.raises(ValueError, match=refused):
        gx.muon(0.1, fan_in_axis=jnp.array([0, 1]))


@pytest.mark.parametrize("init_shape, update_shape", [((3, 3), (3,)), ((3,), (3, 3))])
def test_a_leaf_that_moved_between_groups_is_named_as_such(init_shape, update_shape):
    # muon partitions by rank: a leaf whose rank changed since init() now belongs to the other group
    opt = gx.muon(0.1)
    state = opt.init({"w": jnp.ones(init_shape), "b": jnp.ones(3)})
    with pytest.raises(ValueError) as caught:
        opt.update({"w": jnp.ones(update_shape), "b": jnp.ones(3)}, state)
    message = str(caught.value)
    assert message.startswith("muon.update: ")
    masked, leaf = ("updates", "state") if len(init_shape) == 2 else ("state", "updates")
    assert f"masked out in {masked}, a leaf in {leaf}: 'w'. It has moved between the groups" in message
