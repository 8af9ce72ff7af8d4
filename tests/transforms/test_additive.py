"""Terms added to the update: weight_decay and add_noise."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradxform as gx

PARAMS = {"w": jnp.array([[1.0, -2.0], [3.0, 0.5]]), "b": jnp.array([0.25, -1.0])}
GRADS = {"w": jnp.array([[0.1, 0.2], [-0.3, 0.4]]), "b": jnp.array([1.0, 2.0])}


def _decay(transform, grads=GRADS, params=PARAMS, **extra_args):
    """One update of a weight decay transformation from its initial state."""
    return transform.update(grads, transform.init(params), params, **extra_args)


def _noise_run(transform, grads, steps, params=None):
    """Outputs of ``steps`` updates of ``transform`` inside a chain, all fed the same grads."""
    opt = gx.chain(transform)
    state = opt.init(grads if params is None else params)
    outputs = []
    for _ in range(steps):
        out, state = opt.update(grads, state)
        outputs.append(out)
    return outputs


# --------------------------------------------------------------------------------------------
# weight_decay
# --------------------------------------------------------------------------------------------


def test_weight_decay_adds_rate_times_params():
    out, _ = _decay(gx.weight_decay(0.1))
    for k in PARAMS:
        np.testing.assert_allclose(out[k], GRADS[k] + 0.1 * PARAMS[k], rtol=1e-15)


def test_weight_decay_mask_tree_spares_leaves_marked_false():
    out, _ = _decay(gx.weight_decay(0.1, mask={"w": True, "b": False}))
    np.testing.assert_allclose(out["w"], GRADS["w"] + 0.1 * PARAMS["w"], rtol=1e-15)
    np.testing.assert_array_equal(out["b"], GRADS["b"])


def test_weight_decay_mask_function_is_called_on_params():
    matrices_only = lambda p: jax.tree.map(lambda x: x.ndim > 1, p)  # noqa: E731
    out, _ = _decay(gx.weight_decay(0.5, mask=matrices_only))
    np.testing.assert_allclose(out["w"], GRADS["w"] + 0.5 * PARAMS["w"], rtol=1e-15)
    np.testing.assert_array_equal(out["b"], GRADS["b"])


def test_weight_decay_matches_optax_add_decayed_weights_with_mask():
    mask = {"w": False, "b": True}
    ours, _ = _decay(gx.weight_decay(0.3, mask=mask))
    opt = optax.add_decayed_weights(0.3, mask=mask)
    theirs, _ = opt.update(GRADS, opt.init(PARAMS), PARAMS)
    for k in PARAMS:
        np.testing.assert_array_equal(ours[k], theirs[k])


def test_weight_decay_without_params_raises():
    with pytest.raises(ValueError, match="weight_decay: update\\(\\) needs params"):
        wd = gx.weight_decay(0.1)
        wd.update(GRADS, wd.init(PARAMS))


def test_weight_decay_mask_of_another_structure_raises():
    expected = "weight_decay: the mask does not match the params tree(.|\n)*only in the params: 'b'"
    with pytest.raises(ValueError, match=expected):
        _decay(gx.weight_decay(0.1, mask={"w": True}))


def test_weight_decay_rejects_negative_rate():
    with pytest.raises(ValueError, match="weight_decay: rate must be a finite number >= 0"):
        gx.weight_decay(-0.1)


# --------------------------------------------------------------------------------------------
# add_noise
# --------------------------------------------------------------------------------------------


def test_add_noise_same_key_gives_same_noise():
    first = _noise_run(gx.add_noise(0.01, 0.55, key=7), GRADS, 3)
    second = _noise_run(gx.add_noise(0.01, 0.55, key=7), GRADS, 3)
    for a, b in zip(first, second):
        for k in GRADS:
            np.testing.assert_array_equal(a[k], b[k])


def test_add_noise_int_seed_typed_key_and_raw_key_are_the_same_key():
    by_seed = _noise_run(gx.add_noise(key=11), GRADS, 2)
    by_typed = _noise_run(gx.add_noise(key=jax.random.key(11)), GRADS, 2)
    by_raw = _noise_run(gx.add_noise(key=jax.random.PRNGKey(11)), GRADS, 2)
    for a, b, c in zip(by_seed, by_typed, by_raw):
        for k in GRADS:
            np.testing.assert_array_equal(a[k], b[k])
            np.testing.assert_array_equal(a[k], c[k])


def test_add_noise_different_keys_give_different_noise():
    (a,) = _noise_run(gx.add_noise(key=0), GRADS, 1)
    (b,) = _noise_run(gx.add_noise(key=1), GRADS, 1)
    assert not np.any(np.asarray(a["w"]) == np.asarray(b["w"]))


def test_add_noise_draws_fresh_noise_each_step():
    a, b = _noise_run(gx.add_noise(key=0), GRADS, 2)
    assert not np.any(np.asarray(a["w"]) == np.asarray(b["w"]))


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_add_noise_draws_exactly_optax_noise(dtype):
    grads = {
        "w": GRADS["w"].astype(dtype),
        "nested": {"b": GRADS["b"].astype(dtype), "s": jnp.ones((), dtype)},
    }
    rtol = 1e-6 if dtype == jnp.float32 else 1e-15
    ours = _noise_run(gx.add_noise(0.3, 0.55, key=5), grads, 4)
    opt = optax.add_noise(0.3, 0.55, key=5)
    state = opt.init(grads)
    with jax.numpy_dtype_promotion("standard"):
        for out in ours:
            theirs, state = opt.update(grads, state)
            for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(theirs)):
                assert a.dtype == dtype
                np.testing.assert_allclose(a, np.asarray(b, dtype), rtol=rtol)


def test_add_noise_variance_is_eta_over_one_plus_step_to_the_gamma():
    eta, gamma, n = 0.5, 0.55, 40_000
    noise = gx.add_noise(eta, gamma, key=3)
    zeros = {"x": jnp.zeros(n)}
    state = noise.init(zeros)
    for step in [0, 9, 99]:
        state = state._replace(step=jnp.int32(step))  # on its own, add_noise counts its own steps
        out, state = noise.update(zeros, state)
        expected = eta / (1 + step) ** gamma
        sample = np.asarray(out["x"])
        # The sample variance of n normals has relative standard deviation sqrt(2 / n) = 0.7%.
        np.testing.assert_allclose(sample.var(), expected, rtol=0.03)
        assert abs(sample.mean()) < 4 * np.sqrt(expected / n)


def test_add_noise_variance_shrinks_along_a_chain():
    zeros = {"x": jnp.zeros(20_000)}
    outputs = _noise_run(gx.add_noise(1.0, 0.55, key=1), zeros, 30)
    variances = [float(np.var(np.asarray(o["x"]))) for o in outputs]
    assert variances[-1] < 0.2 * variances[0]
    np.testing.assert_allclose(variances[-1], 30.0**-0.55, rtol=0.05)


def test_add_noise_with_eta_zero_leaves_updates_unchanged():
    (out,) = _noise_run(gx.add_noise(0.0, 0.55, key=0), GRADS, 1)
    for k in GRADS:
        np.testing.assert_array_equal(out[k], GRADS[k])


def test_add_noise_complex_leaf_gets_complex_noise_split_between_parts():
    zeros = {"z": jnp.zeros(40_000, jnp.complex128)}
    (out,) = _noise_run(gx.add_noise(0.2, 0.55, key=2), zeros, 1)
    z = np.asarray(out["z"])
    assert z.dtype == np.complex128
    np.testing.assert_allclose([z.real.var(), z.imag.var()], [0.1, 0.1], rtol=0.03)


def test_add_noise_keeps_none_leaves():
    grads = {"a": GRADS["b"], "frozen": None}
    (out,) = _noise_run(gx.add_noise(key=0), grads, 1)
    assert out["frozen"] is None
    assert out["a"].shape == GRADS["b"].shape


def test_add_noise_jit_matches_eager():
    noise = gx.chain(gx.add_noise(0.1, key=4))
    state = noise.init(GRADS)
    eager, _ = noise.update(GRADS, state)
    jitted, _ = jax.jit(noise.update)(GRADS, state)
    for k in GRADS:
        np.testing.assert_allclose(eager[k], jitted[k], rtol=1e-14)


NOT_KEYS = [1.5, "0", None, True, jnp.zeros(3, jnp.uint32), jax.random.split(jax.random.key(0), 2)]


@pytest.mark.parametrize("key", NOT_KEYS)
def test_add_noise_rejects_what_is_not_a_seed_or_a_single_key(key):
    with pytest.raises(TypeError, match="add_noise: key must be an int seed or a single JAX"):
        gx.add_noise(key=key)


@pytest.mark.parametrize("name", ["eta", "gamma"])
def test_add_noise_rejects_negative_eta_and_gamma(name):
    with pytest.raises(ValueError, match=f"add_noise: {name} must be a finite number >= 0"):
        gx.add_noise(**{name: -0.1})


def test_add_noise_rejects_integer_params():
    with pytest.raises(TypeError, match="add_noise: every parameter must have a floating-point"):
        gx.add_noise().init({"n": jnp.arange(3)})


# --------------------------------------------------------------------------------------------
# Hyperparameters kept in the state: read, set without rebuilding, scheduled
# --------------------------------------------------------------------------------------------

# name: (factory, keyword arguments, a new value, values for a schedule of 3 steps)
HYPER_CASES = {
    "weight_decay-rate": (gx.weight_decay, {"rate": 0.1}, 0.3, [0.5, 0.0, 0.2]),
    "weight_decay_masked-rate": (
        lambda **kw: gx.weight_decay(mask={"w": True, "b": False}, **kw), {"rate": 0.1}, 0.3,
        [0.5, 0.0, 0.2],
    ),
    "add_noise-eta": (lambda **kw: gx.add_noise(key=3, **kw), {"eta": 0.01, "gamma": 0.55}, 0.2,
                      [0.3, 0.0, 0.05]),
    "add_noise-gamma": (lambda **kw: gx.add_noise(key=3, **kw), {"eta": 0.01, "gamma": 0.55}, 2.0,
                        [0.0, 1.5, 0.3]),
}
HYPER_IDS = list(HYPER_CASES)


def _parts(case):
    make, kwargs, new, values = HYPER_CASES[case]
    return make, kwargs, case.split("-")[1], new, values


def _run(opt, state, steps):
    """``steps`` updates of ``opt`` fed GRADS (params PARAMS); the outputs and the last state."""
    outputs = []
    for _ in range(steps):
        out, state = opt.update(GRADS, state, PARAMS)
        outputs.append(out)
    return outputs, state


def _with_own_hyperparams(opt, state):
    """``state`` holding ``opt``'s own hyperparameters: a state keeps the numbers it holds, whatever
    optimizer updates it, so comparing with an optimizer built otherwise needs its table."""
    return state._replace(hyperparams=opt.init(PARAMS).hyperparams)


def _assert_same_tree(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("case", HYPER_IDS)
def test_hyperparams_reads_the_hyperparameters_of_the_term(case):
    make, kwargs, _, _, _ = _parts(case)
    state = gx.chain(make(**kwargs)).init(PARAMS)
    assert {k: float(v) for k, v in gx.hyperparams(state).items()} == kwargs


@pytest.mark.parametrize("case", HYPER_IDS)
def test_set_hyperparams_acts_on_the_next_update_as_rebuilding_with_the_new_value(case):
    make, kwargs, name, new, _ = _parts(case)
    old, rebuilt = gx.chain(make(**kwargs)), gx.chain(make(**{**kwargs, name: new}))
    _, state = _run(old, old.init(PARAMS), 2)
    (out,), set_state = _run(old, gx.set_hyperparams(state, {name: new}), 1)
    (expected,), _ = _run(rebuilt, _with_own_hyperparams(rebuilt, state), 1)
    _assert_same_tree(out, expected)
    (unchanged,), _ = _run(old, state, 1)
    assert not np.allclose(unchanged["w"], out["w"])
    assert float(gx.hyperparams(set_state)[name]) == new


@pytest.mark.parametrize("case", HYPER_IDS)
def test_each_hyperparameter_of_the_term_follows_a_schedule(case):
    make, kwargs, name, _, values = _parts(case)
    scheduled = gx.chain(make(**{**kwargs, name: lambda step: jnp.asarray(values)[step]}))
    state = scheduled.init(PARAMS)
    for value in values:
        constant = gx.chain(make(**{**kwargs, name: value}))
        (expected,), _ = _run(constant, _with_own_hyperparams(constant, state), 1)
        (out,), state = _run(scheduled, state, 1)
        _assert_same_tree(out, expected)
        assert float(gx.hyperparams(state)[name]) == value


@pytest.mark.parametrize("rate", [0, 0.0, gx.hyperparameter("weight_decay", 0.0)], ids=str)
def test_weight_decay_of_a_constant_zero_reads_no_params_and_has_no_hyperparameter(rate):
    wd = gx.chain(gx.weight_decay(rate))
    state = wd.init(PARAMS)
    assert gx.hyperparams(state) == {}
    out, _ = wd.update(GRADS, state)  # no params needed
    _assert_same_tree(out, GRADS)
    with pytest.raises(ValueError, match="set_hyperparams: no hyperparameter named \\['rate'\\]"):
        gx.set_hyperparams(state, rate=0.1)


def test_weight_decay_scheduled_from_zero_can_be_set_later():
    wd = gx.chain(gx.weight_decay(lambda step: 0.0))
    state = wd.init(PARAMS)
    out, state = wd.update(GRADS, state, PARAMS)
    _assert_same_tree(out, GRADS)
    out, _ = wd.update(GRADS, gx.set_hyperparams(state, rate=0.5), PARAMS)
    for k in PARAMS:
        np.testing.assert_allclose(out[k], GRADS[k] + 0.5 * PARAMS[k], rtol=1e-15)


def test_weight_decay_with_a_constant_rate_needs_no_step():
    out, state = _decay(gx.weight_decay(0.1))
    np.testing.assert_allclose(out["w"], GRADS["w"] + 0.1 * PARAMS["w"], rtol=1e-15)
    assert float(gx.hyperparams(state)["rate"]) == 0.1


def test_weight_decay_rejects_a_negative_named_rate_by_its_name():
    with pytest.raises(ValueError, match="weight_decay: weight_decay must be a finite number >= 0"):
        gx.weight_decay(gx.hyperparameter("weight_decay", -0.1))


def test_add_noise_hyperparameters_change_under_jit_without_recompiling():
    noise = gx.chain(gx.add_noise(0.01, 0.55, key=4))
    traces = []

    def step(grads, state):
        traces.append(None)
        return noise.update(grads, state)

    step = jax.jit(step)
    state = noise.init(GRADS)
    _, state = step(GRADS, state)
    out, _ = step(GRADS, gx.set_hyperparams(state, eta=0.5, gamma=0.0))
    rebuilt = gx.chain(gx.add_noise(0.5, 0.0, key=4))
    expected, _ = rebuilt.update(GRADS, _with_own_hyperparams(rebuilt, state))
    assert len(traces) == 1
    for k in GRADS:
        np.testing.assert_allclose(out[k], expected[k], rtol=1e-15)


# --------------------------------------------------------------------------------------------
# add_noise: Optax's seed= keyword, and a key that may be traced
# --------------------------------------------------------------------------------------------


def test_add_noise_seed_keyword_is_the_key_and_warns_as_optax_does():
    with pytest.warns(DeprecationWarning, match=r"add_noise: seed= is deprecated.*key="):
        by_seed = _noise_run(gx.add_noise(0.01, 0.55, seed=7), GRADS, 2)
    by_key = _noise_run(gx.add_noise(0.01, 0.55, key=7), GRADS, 2)
    for a, b in zip(by_seed, by_key):
        np.testing.assert_array_equal(a["w"], b["w"])


def test_add_noise_with_both_seed_and_key_raises():
    with pytest.raises(ValueError, match=r"add_noise: give key or seed, not both; got key=1, seed=2"):
        gx.add_noise(key=1, seed=2)


@pytest.mark.parametrize("make_key", [lambda: jnp.int32(11), lambda: jax.random.key(11),
                                      lambda: jax.random.PRNGKey(11)], ids=["seed", "typed", "raw"])
def test_add_noise_built_under_jit_from_a_traced_key_draws_the_same_noise(make_key):
    def first_update(key, grads):
        opt = gx.chain(gx.add_noise(0.01, 0.55, key=key))
        return opt.update(grads, opt.init(grads))[0]

    (eager,) = _noise_run(gx.add_noise(0.01, 0.55, key=11), GRADS, 1)
    traced = jax.jit(first_update)(make_key(), GRADS)
    for k in GRADS:  # the same draws; jit may fuse g + sigma * xi into one rounding
        np.testing.assert_allclose(traced[k], eager[k], rtol=1e-14)


def test_add_noise_makes_its_key_at_init_not_when_built():
    # Built once, initialised twice: each state starts from the same key, made by init.
    noise = gx.add_noise(key=3)
    jaxpr = jax.make_jaxpr(noise.init)(GRADS)
    assert "random_seed" in str(jaxpr)
