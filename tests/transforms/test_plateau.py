"""reduce_on_plateau: a scale on the updates that drops when the monitored value stops improving."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradxform as gx

PARAMS = {"w": jnp.zeros((2, 3)), "b": jnp.zeros(())}
ONES = jax.tree.map(jnp.ones_like, PARAMS)


def _scales(transform, values, params=PARAMS, state=None):
    """The scale applied at each update, fed ``values`` one by one (read off the updates too)."""
    state = transform.init(params) if state is None else state
    scales = []
    for value in values:
        updates, state = transform.update(jax.tree.map(jnp.ones_like, params), state, value=value)
        assert all(bool(jnp.all(u == state.scale.astype(u.dtype))) for u in jax.tree.leaves(updates))
        scales.append(float(state.scale))
    return scales, state


# Each case worked by hand. rtol = atol = 0: any strict decrease is an improvement.
#   values 5 4 4 4.5 3 3 3 3 3, patience 2: no improvement at the 3rd and 4th -> reduce at the
#   4th; 3 improves; the 6th and 7th don't -> reduce at the 7th; 8th, 9th -> reduce at the 9th.
PLATEAUS = [5.0, 4.0, 4.0, 4.5, 3.0, 3.0, 3.0, 3.0, 3.0]
HAND_WORKED = [
    pytest.param({}, PLATEAUS, [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.125], id="patience"),
    # cooldown 1: the evaluation after each reduction is ignored (the 5th, the 8th).
    pytest.param({"cooldown": 1}, PLATEAUS, [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25], id="cooldown"),
    # min_scale 0.3: the second reduction stops at 0.3 and there it stays.
    pytest.param({"min_scale": 0.3}, PLATEAUS, [1, 1, 1, 0.5, 0.5, 0.5, 0.3, 0.3, 0.3], id="min_scale"),
    # mode "max" on the negated values makes the same decisions.
    pytest.param({"mode": "max"}, [-v for v in PLATEAUS], [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.125],
                 id="max"),
    # accumulation 2: window means 4.5, 4.25, 4.0, 4.0, 4.0 are evaluated at updates 2, 4, 6, 8,
    # 10; no improvement at the 4th and 5th evaluations -> reduce at update 10.
    pytest.param({"accumulation_size": 2}, [5, 4, 4.5, 4, 4, 4, 4, 4, 3, 5],
                 [1, 1, 1, 1, 1, 1, 1, 1, 1, 0.5], id="accumulation"),
    # factor 1 is allowed: plateaus are counted but the scale never moves.
    pytest.param({"factor": 1.0}, PLATEAUS, [1] * 9, id="factor_one"),
]


@pytest.mark.parametrize("kwargs, values, expected", HAND_WORKED)
def test_scale_follows_the_hand_worked_sequence(kwargs, values, expected):
    args = {"factor": 0.5, "patience": 2, "rtol": 0.0, "atol": 0.0} | kwargs
    scales, _ = _scales(gx.reduce_on_plateau(**args), values)
    assert scales == expected


def test_rtol_and_atol_set_the_improvement_needed():
    values = [100.0, 99.995, 99.98, 99.975]
    relative = gx.reduce_on_plateau(factor=0.5, patience=1, rtol=1e-4, atol=0.0)
    # 99.995 is within 0.01% of 100: no improvement, reduce; 99.98 improves on 100 by 0.02%;
    # 99.975 is within 0.01% of 99.98: reduce again.
    assert _scales(relative, values)[0] == [1, 0.5, 0.5, 0.25]
    absolute = gx.reduce_on_plateau(factor=0.5, patience=1, rtol=0.0, atol=0.022)
    # 99.995 and 99.98 are within 0.022 of 100 (reduce twice); 99.975 is 0.025 below 100.
    assert _scales(absolute, values)[0] == [1, 0.5, 0.25, 0.25]


def test_a_worse_negative_value_never_counts_as_an_improvement():
    # Optax's (1 - rtol) * best = -9.999 would count -9.9995 (worse than -10) as an improvement.
    transform = gx.reduce_on_plateau(factor=0.5, patience=1, rtol=1e-4)
    scales, state = _scales(transform, [-10.0, -9.9995, -10.0005, -10.01])
    assert scales == [1, 0.5, 0.25, 0.25]  # -10.0005 is only 0.005% better; -10.01 is 0.1%
    assert float(state.best_value) == -10.01


def test_patience_zero_reduces_at_every_evaluation_without_improvement():
    scales, _ = _scales(gx.reduce_on_plateau(factor=0.5, patience=0, rtol=0.0), [3.0, 2.0, 2.5, 1.0, 1.0])
    assert scales == [1, 1, 0.5, 0.5, 0.25]


def _optax_values(steps=80):
    """A positive loss that falls, then wobbles on plateaus: several reductions happen."""
    rng = np.random.default_rng(0)
    t = np.arange(steps)
    return 1.0 + 2.0 * np.exp(-t / 6.0) + 0.02 * rng.normal(size=steps) + 0.5 * (t < 40)


@pytest.mark.parametrize("x64", [True, False], ids=["float64", "float32"])
def test_matches_optax_reduce_on_plateau_step_by_step(x64):
    kwargs = {"factor": 0.5, "patience": 3, "rtol": 1e-3, "atol": 1e-3, "cooldown": 2, "accumulation_size": 2,
                  "min_scale": 0.2}
    with jax.enable_x64(x64):
        dtype = jnp.float64 if x64 else jnp.float32
        params = {"w": jnp.zeros(3, dtype), "b": jnp.zeros((), dtype)}
        ours, theirs = gx.reduce_on_plateau(**kwargs), optax.contrib.reduce_on_plateau(**kwargs)
        ours_update, theirs_update = jax.jit(ours.update), jax.jit(theirs.update)
        state, reference = ours.init(params), theirs.init(params)
        grads = {"w": jnp.asarray([1.0, -2.0, 0.5], dtype), "b": jnp.asarray(3.0, dtype)}
        scales = []
        for value in _optax_values():
            value = jnp.asarray(value, dtype)
            updates, state = ours_update(grads, state, value=value)
            with jax.numpy_dtype_promotion("standard"):
                expected, reference = theirs_update(grads, reference, value=value)
            for field in reference._fields:
                ours_field, theirs_field = getattr(state[0], field), getattr(reference, field)
                assert ours_field.dtype == theirs_field.dtype, field
                np.testing.assert_array_equal(ours_field, theirs_field, err_msg=field)
            jax.tree.map(np.testing.assert_array_equal, updates, expected)
            scales.append(float(state.scale))
    assert sorted(set(scales)) == pytest.approx([0.2, 0.25, 0.5, 1.0])  # 3 reductions, then the floor


def test_value_reaches_it_through_chain_and_jit():
    optimizer = gx.chain(gx.sgd(0.1), gx.reduce_on_plateau(factor=0.5, patience=1, rtol=0.0))
    state = optimizer.init(PARAMS)
    update = jax.jit(optimizer.update)
    eager_state = state
    for value, scale in zip([2.0, 2.0, 1.0, 1.5], [1.0, 0.5, 0.5, 0.25]):
        updates, state = update(ONES, state, value=jnp.asarray(value))
        eager, eager_state = optimizer.update(ONES, eager_state, value=value)
        jax.tree.map(np.testing.assert_array_equal, updates, eager)
        np.testing.assert_allclose(updates["w"], -0.1 * scale, rtol=1e-15)


def test_update_without_value_says_how_to_pass_it():
    transform = gx.reduce_on_plateau()
    state = transform.init(PARAMS)
    with pytest.raises(ValueError, match=r"reduce_on_plateau: update\(\) needs the monitored value.*value=loss"):
        transform.update(ONES, state)
    with pytest.raises(ValueError, match=r"value must be a scalar.*shape \(3,\).*jnp.mean"):
        transform.update(ONES, state, value=jnp.ones(3))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"factor": 0.0}, ValueError, r"reduce_on_plateau: factor must be in \(0, 1\], got factor=0.0\..*try 0.1"),
        ({"factor": 1.5}, ValueError, r"factor must be in \(0, 1\], got factor=1.5"),
        ({"factor": -0.1}, ValueError, r"factor must be in \(0, 1\]"),
        ({"factor": "0.1"}, TypeError, r"factor must be a number or a schedule"),
        ({"patience": -1}, ValueError, r"patience must be an int >= 0, got patience=-1"),
        ({"patience": 2.5}, TypeError, r"patience must be an int, got float 2.5"),
        ({"cooldown": -2}, ValueError, r"cooldown must be an int >= 0, got cooldown=-2"),
        ({"accumulation_size": 0}, ValueError, r"accumulation_size must be an int >= 1"),
        ({"rtol": 1.5}, ValueError, r"rtol must be in \[0, 1\], got rtol=1.5"),
        ({"atol": -1.0}, ValueError, r"atol must be a finite number >= 0, got atol=-1.0"),
        ({"min_scale": 2.0}, ValueError, r"min_scale must be in \[0, 1\], got min_scale=2.0"),
        ({"mode": "median"}, ValueError, r"mode must be one of \['min', 'max'\], got mode='median'"),
    ],
)
def test_bad_arguments_are_rejected_with_a_clear_message(kwargs, error, match):
    with pytest.raises(error, match=match):
        gx.reduce_on_plateau(**kwargs)


def test_hyperparams_shows_its_numeric_hyperparameters():
    state = gx.reduce_on_plateau(factor=0.2, rtol=1e-3, atol=0.5, min_scale=0.01).init(PARAMS)
    assert {k: float(v) for k, v in gx.hyperparams(state).items()} == {
        "factor": 0.2, "rtol": 1e-3, "atol": 0.5, "min_scale": 0.01,
    }


@pytest.mark.parametrize(
    "name, new, expected",
    [
        ("factor", 0.25, [1, 1, 1, 0.25, 0.25, 0.25, 0.0625]),
        ("min_scale", 0.4, [1, 1, 1, 0.5, 0.5, 0.5, 0.4]),
        # 4 and 3 are not 2 below the best, 5: plateaus of 2 end at the 3rd, 5th and 7th.
        ("atol", 2.0, [1, 1, 0.5, 0.5, 0.25, 0.25, 0.125]),
    ],
)
def test_set_hyperparams_acts_as_building_with_the_new_value(name, new, expected):
    base = {"factor": 0.5, "patience": 2, "rtol": 0.0, "atol": 0.0, "min_scale": 0.0}
    transform, rebuilt = gx.reduce_on_plateau(**base), gx.reduce_on_plateau(**base | {name: new})
    state = gx.set_hyperparams(transform.init(PARAMS), {name: new})
    assert float(gx.hyperparams(state)[name]) == new
    set_scales, _ = _scales(transform, PLATEAUS[:7], state=state)
    rebuilt_scales, _ = _scales(rebuilt, PLATEAUS[:7])
    assert set_scales == rebuilt_scales == expected


# Each numeric hyperparameter as a schedule that changes at step 3 (the 4th update), worked by
# hand on values falling 10% per update, patience 2, factor 0.5 unless scheduled.
FALLING = [10.0 * 0.9**k for k in range(8)]
SCHEDULED = [
    # rtol 0 -> 0.2: from the 4th update a fall must beat 0.8 * best = 6.48: the 4th and 5th
    # don't (reduce at the 5th); the 6th, 5.90, does; the 7th and 8th don't (reduce at the 8th).
    pytest.param("rtol", (0.0, 0.2), FALLING, [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.25], id="rtol"),
    # atol 0 -> 5: no fall from the 4th update on beats best - 5 (reduce at the 5th and 7th).
    pytest.param("atol", (0.0, 5.0), FALLING, [1, 1, 1, 1, 0.5, 0.5, 0.25, 0.25], id="atol"),
    # factor 0.5 -> 0.1 on PLATEAUS (reductions at the 4th, 7th and 9th updates).
    pytest.param("factor", (0.5, 0.1), PLATEAUS, [1, 1, 1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.001], id="factor"),
    # min_scale 0 -> 0.3 on PLATEAUS: 0.5 * 0.5 stops at 0.3.
    pytest.param("min_scale", (0.0, 0.3), PLATEAUS, [1, 1, 1, 0.5, 0.5, 0.5, 0.3, 0.3, 0.3], id="min_scale"),
]


@pytest.mark.parametrize("name, before_after, values, expected", SCHEDULED)
def test_each_numeric_hyperparameter_takes_a_schedule(name, before_after, values, expected):
    before, after = before_after

    def schedule(step):
        return jnp.where(step < 3, before, after)

    args = {"factor": 0.5, "patience": 2, "rtol": 0.0, "atol": 0.0} | {name: schedule}
    transform = gx.chain(gx.reduce_on_plateau(**args))  # chain passes the step
    state = transform.init(PARAMS)
    scales = []
    for step, value in enumerate(values):
        updates, state = transform.update(ONES, state, value=value)
        scales.append(float(updates["b"]))
        assert float(gx.hyperparams(state)[name]) == (before if step < 3 else after)
    np.testing.assert_allclose(scales, expected, rtol=1e-12)


def test_state_keeps_its_types_and_scalars_stay_in_float32_without_x64():
    with jax.enable_x64(False):
        params = {"w": jnp.zeros(3, jnp.bfloat16)}
        transform = gx.reduce_on_plateau(factor=0.3, patience=1)
        state = transform.init(params)
        updates, new_state = jax.jit(transform.update)({"w": jnp.ones(3, jnp.bfloat16)}, state, value=1.0)
        _, new_state = jax.jit(transform.update)({"w": jnp.ones(3, jnp.bfloat16)}, new_state, value=1.0)
        assert updates["w"].dtype == jnp.bfloat16
        assert jax.tree.structure(new_state) == jax.tree.structure(state)
        for old, new in zip(jax.tree.leaves(state), jax.tree.leaves(new_state)):
            assert (old.dtype, old.shape) == (new.dtype, new.shape)
        assert state.scale.dtype == state.best_value.dtype == jnp.float32
        assert float(new_state.scale) == np.float32(0.3)  # not bfloat16's 0.30078125
