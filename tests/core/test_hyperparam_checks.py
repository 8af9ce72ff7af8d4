"""A hyperparameter gets its primitive's checks on every path: built from a Python number or a
concrete array, set with set_hyperparams, or (opt-in, gx.checked) traced or scheduled."""
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import checkify

import gradxform as gx
from gradxform.core import hyperparams as _hyper

PARAMS = {"w": jnp.asarray([0.5, -1.0, 2.0], jnp.float32), "b": jnp.asarray(0.25, jnp.float32)}
GRADS = {"w": jnp.asarray([0.1, 0.2, -0.3], jnp.float32), "b": jnp.asarray(1.0, jnp.float32)}

# --- concrete arrays at construction: the same checks as the same Python number ----------------


@pytest.mark.parametrize("make, message", [
    (lambda: gx.adam(jnp.array(-1e-3)), r"scale_by_learning_rate: learning_rate must be a finite number >= 0, "
                                        r"got learning_rate=Array\(-0.001"),
    (lambda: gx.adam(jnp.array(jnp.nan)), r"learning_rate must be a finite number >= 0, got learning_rate=Array\(nan"),
    (lambda: gx.sgd(np.float32(np.inf)), r"learning_rate must be a finite number >= 0, got learning_rate=.*inf"),
    (lambda: gx.adam(1e-3, b1=jnp.array(1.5)), r"scale_by_momentum: b1 must be in \[0, 1\), got b1=Array\(1.5"),
    (lambda: gx.adam(1e-3, b2=np.array(-0.5)), r"b2 must be in \[0, 1\), got b2=array\(-0.5\)"),
    (lambda: gx.adam(1e-3, eps=jnp.array(-1e-8)), r"eps must be a finite number >= 0, got eps=Array\(-1\.?e-08"),
    (lambda: gx.rmsprop(jnp.array(1e-3), decay=jnp.array(1.0)), r"decay must be in \[0, 1\), got decay=Array\(1"),
], ids=["negative_lr", "nan_lr", "inf_lr_numpy", "b1", "b2_numpy", "eps", "rmsprop_decay"])
def test_a_concrete_array_gets_the_check_of_the_same_number(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_a_concrete_array_in_range_is_accepted_and_used():
    opt, reference = gx.adam(jnp.array(1e-3), b1=np.float32(0.8)), gx.adam(1e-3, b1=0.8)
    got, _ = opt.update(GRADS, opt.init(PARAMS), PARAMS)
    expected, _ = reference.update(GRADS, reference.init(PARAMS), PARAMS)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), got, expected)


def test_an_array_of_several_values_is_refused_naming_the_argument_and_shape():
    with pytest.raises(ValueError, match=r"scale_by_learning_rate: learning_rate must be a scalar \(a number or a "
                                         r"0-d array\), got an array of shape \(3,\)"):
        gx.adam(jnp.ones(3) * 1e-3)


def test_traced_values_at_construction_still_pass():
    @jax.jit
    def build_and_step(learning_rate):
        opt = gx.adam(learning_rate)
        return opt.update(GRADS, opt.init(PARAMS), PARAMS)[0]

    assert jax.tree.structure(build_and_step(jnp.array(-1.0))) == jax.tree.structure(PARAMS)


# --- schedules: evaluated once at step 0 when built ---------------------------------------------


@pytest.mark.parametrize("schedule, error, message", [
    (lambda step: None, TypeError, r"got NoneType None at step 0"),
    (lambda step: "0.1", TypeError, r"got str '0.1' at step 0"),
    (lambda step: jnp.ones(3), TypeError, r"got an array of shape \(3,\) and dtype float\d+ at step 0"),
    (lambda step: jnp.asarray(1e-3 + 0j), TypeError, r"got an array of shape \(\) and dtype complex\d+ at step 0"),
    (lambda step: jnp.asarray(True), TypeError, r"got an array of shape \(\) and dtype bool at step 0"),
    (lambda step: jnp.asarray(jnp.nan), ValueError, r"returns nan at step 0; a hyperparameter must be finite"),
    (lambda step: jnp.inf, ValueError, r"returns inf at step 0"),
], ids=["none", "str", "shape", "complex", "bool", "nan", "inf"])
def test_a_schedule_with_a_wrong_value_at_step_zero_is_refused_when_built(schedule, error, message):
    with pytest.raises(error, match=r"^adam: scale_by_learning_rate: the schedule given as learning_rate .*" + message):
        gx.adam(schedule)


def test_a_schedule_of_a_shared_hyperparameter_names_it():
    with pytest.raises(ValueError, match=r"^adam: scale_by_momentum: the schedule given as b1 returns nan at step 0"):
        gx.adam(1e-3, b1=lambda step: jnp.nan)


def test_a_good_schedule_and_an_integer_schedule_are_accepted():
    gx.adam(gx.cosine_decay_schedule(1e-3, 100))
    gx.sgd(lambda step: 1)


# --- set_hyperparams runs the check each primitive declared -------------------------------------


@pytest.mark.parametrize("values, message", [
    ({"b1": 1.5}, r"set_hyperparams: b1 must be in \[0, 1\), got b1=1.5\.$"),
    ({"b1": 1.0}, r"set_hyperparams: b1 must be in \[0, 1\), got b1=1.0\. With 1 the running mean never updates"),
    ({"b2": -0.5}, r"set_hyperparams: b2 must be in \[0, 1\), got b2=-0.5\.$"),
    ({"eps": -1e-8}, r"set_hyperparams: eps must be a finite number >= 0, got eps=-1e-08\.$"),
    ({"learning_rate": float("nan")}, r"set_hyperparams: learning_rate must be a finite number >= 0, "
                                      r"got learning_rate=nan\. The sign is applied for you"),
    ({"learning_rate": jnp.array(-1e-3)}, r"set_hyperparams: learning_rate must be a finite number >= 0, "
                                          r"got learning_rate=Array\(-0.001"),
    ({"learning_rate": np.array([1e-3, np.inf])},
     r"set_hyperparams: learning_rate .* got learning_rate=array\(\[0.001,"),
], ids=["b1", "b1_one", "b2", "eps", "nan_lr", "array_lr", "batch_with_inf"])
def test_set_hyperparams_refuses_what_the_constructor_refuses(values, message):
    state = gx.adam(1e-3).init(PARAMS)
    with pytest.raises(ValueError, match=message):
        gx.set_hyperparams(state, **values)


def test_set_hyperparams_accepts_values_in_range_arrays_and_none():
    state = gx.adam(1e-3).init(PARAMS)
    state = gx.set_hyperparams(state, learning_rate=jnp.array(0.1), b1=np.float32(0.5), b2=0.0, eps=0.0)
    state = gx.set_hyperparams(state, learning_rate=None)
    assert float(gx.hyperparams(state)["b1"]) == 0.5


def test_set_hyperparams_refuses_a_value_that_is_not_a_number():
    state = gx.adam(1e-3).init(PARAMS)
    with pytest.raises(TypeError, match=r"set_hyperparams: learning_rate must be a number or an array of numbers"):
        gx.set_hyperparams(state, learning_rate="0.1")
    with pytest.raises(TypeError, match=r"set_hyperparams: learning_rate must be a number .* got function"):
        gx.set_hyperparams(state, learning_rate=lambda step: 0.1)


def test_set_hyperparams_checks_reach_nested_chains_partitions_and_wrappers():
    nested = gx.chain(gx.clip_by_global_norm(1.0), gx.adam(1e-3)).init(PARAMS)
    with pytest.raises(ValueError, match=r"set_hyperparams: b1 must be in \[0, 1\)"):
        gx.set_hyperparams(nested, b1=2.0)
    with pytest.raises(ValueError, match=r"set_hyperparams: max_norm must be"):
        gx.set_hyperparams(nested, max_norm=-1.0)
    split = gx.partition({"a": gx.adam(1e-3), "b": gx.sgd(0.1)}, {"w": "a", "b": "b"}).init(PARAMS)
    with pytest.raises(ValueError, match=r"set_hyperparams: b/learning_rate must be a finite number >= 0"):
        gx.set_hyperparams(split, {"b/learning_rate": -0.1})
    multi = gx.MultiSteps(gx.adam(1e-3), every_k_schedule=2).init(PARAMS)
    with pytest.raises(ValueError, match=r"set_hyperparams: eps must be a finite number >= 0"):
        gx.set_hyperparams(multi, eps=-1.0)


def test_set_hyperparams_lets_traced_values_through():
    state = gx.adam(1e-3).init(PARAMS)
    changed = jax.jit(lambda s, b1: gx.set_hyperparams(s, b1=b1))(state, 1.5)
    assert float(gx.hyperparams(changed)["b1"]) == 1.5  # unknown when traced: gx.checked catches it


def test_the_declared_rules_do_not_grow_with_each_optimizer_built():
    state = gx.adam(1e-3).init(PARAMS)
    before = _hyper.rules_of(state.hyperparams)
    for _ in range(5):
        gx.adam(1e-3, b1=0.5).init(PARAMS)
    after = _hyper.rules_of(state.hyperparams)
    assert [len(r) for r in after] == [len(r) for r in before] and all(before)


# --- the checked mode: traced values and later schedule steps -----------------------------------


def _checked_steps(opt, state, n, set_values=None):
    @jax.jit
    @checkify.checkify
    def step(state, values):
        if values:
            state = gx.set_hyperparams(state, **values)
        return opt.update(GRADS, state, PARAMS)

    errors = []
    for _ in range(n):
        error, (_, state) = step(state, set_values or {})
        errors.append(error.get())
    return errors, state


def test_checked_names_the_hyperparameter_the_step_and_the_value_of_a_schedule_gone_bad():
    opt = gx.checked(gx.adam(lambda step: jnp.where(step < 2, 1e-3, -1e-3)))
    errors, _ = _checked_steps(opt, opt.init(PARAMS), 3)
    assert errors[:2] == [None, None]
    assert errors[2].startswith(
        "checked: hyperparameter learning_rate is -0.001 at step 2; it must be a finite number >= 0.")


def test_checked_catches_nan_from_a_schedule():
    opt = gx.checked(gx.sgd(lambda step: jnp.where(step < 1, 0.1, jnp.nan)))
    errors, _ = _checked_steps(opt, opt.init(PARAMS), 2)
    assert errors[0] is None
    assert errors[1].startswith("checked: hyperparameter learning_rate is nan at step 1; it must be a number, not nan.")


def test_checked_catches_a_traced_value_set_inside_jit():
    opt = gx.checked(gx.adam(1e-3))
    errors, _ = _checked_steps(opt, opt.init(PARAMS), 1, {"b2": jnp.asarray(1.5)})
    assert errors[0].startswith("checked: hyperparameter b2 is 1.5 at step 0; it must be in [0, 1).")
    errors, _ = _checked_steps(opt, opt.init(PARAMS), 1, {"b2": jnp.asarray(0.99)})
    assert errors == [None]


def test_checked_reaches_nested_chains_and_names_them_by_path():
    opt = gx.checked(gx.partition({"a": gx.adam(1e-3), "b": gx.sgd(lambda s: 0.1 - 0.2 * s.astype(float))},
                                  {"w": "a", "b": "b"}))
    errors, _ = _checked_steps(opt, opt.init(PARAMS), 2)
    assert errors[0] is None
    assert errors[1].startswith("checked: hyperparameter b/learning_rate is -0.1")
    assert "at step 1;" in errors[1]


def test_checked_gives_the_same_updates_as_unchecked():
    schedule = gx.linear_schedule(1e-2, 1e-3, 5)
    plain, opt = gx.adam(schedule), gx.checked(gx.adam(schedule))
    state, plain_state = opt.init(PARAMS), plain.init(PARAMS)
    for _ in range(3):
        (error, (updates, state)) = checkify.checkify(opt.update)(GRADS, state, PARAMS)
        expected, plain_state = plain.update(GRADS, plain_state, PARAMS)
        error.throw()
        jax.tree.map(np.testing.assert_array_equal, updates, expected)
        jax.tree.map(np.testing.assert_array_equal, state, plain_state)


def test_checked_off_is_the_transformation_itself_and_compiles_to_the_same_program():
    opt = gx.adam(gx.linear_schedule(1e-2, 1e-3, 5))
    off = gx.checked(opt, enabled=False)
    assert off is opt

    def hlo(transform):
        step = jax.jit(lambda g, s, p: transform.update(g, s, p))
        text = step.lower(GRADS, transform.init(PARAMS), PARAMS).compile().as_text()
        program = text.split("\nFileNames\n")[0]  # the source locations that follow aside
        return re.sub(r", metadata=\{[^}]*\}", "", program)

    assert hlo(off) == hlo(opt)
    on = gx.checked(opt)
    on_text = jax.jit(checkify.checkify(lambda g, s, p: on.update(g, s, p))).lower(
        GRADS, on.init(PARAMS), PARAMS).compile().as_text()
    assert on_text != hlo(opt)  # the checks are real work, present only when on
