"""The protocol and the algebra: chain, identity, ratio, parallel_sum, conditional, apply_updates."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradxform as gx


def _grads(step, dtype=jnp.float64):
    """A small deterministic gradient tree that changes from step to step."""
    rng = np.random.default_rng(step)
    return {"w": jnp.asarray(rng.normal(size=(2, 3)), dtype), "b": jnp.asarray(rng.normal(), dtype)}


PARAMS = {"w": jnp.ones((2, 3), jnp.float64), "b": jnp.zeros((), jnp.float64)}


def _run(transform, steps=3, params=PARAMS, **extra_args):
    """The updates of each of ``steps`` calls, fed :func:`_grads`."""
    state = transform.init(params)
    outputs = []
    for t in range(steps):
        updates, state = transform.update(_grads(t), state, params, **extra_args)
        outputs.append(updates)
    return outputs


def _assert_trees_equal(actual, expected):
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected)):
        assert a.dtype == e.dtype
        np.testing.assert_array_equal(np.asarray(a), np.asarray(e))


def _recorder(seen):
    """A transformation that records the extra arguments it receives and passes updates through."""

    def init(params):
        return gx.EmptyState()

    def update(updates, state, params=None, **extra_args):
        seen.append(dict(extra_args))
        return updates, state

    return gx.GradientTransformation(init, update)


def _plain_doubler():
    """A transformation with the plain Optax protocol: no ``**extra_args`` in ``update``."""

    def init(params):
        return gx.EmptyState()

    def update(updates, state, params=None):
        return jax.tree.map(lambda g: 2 * g, updates), state

    return gx.GradientTransformation(init, update)


def _three_links():
    return (
        gx.scale_by_momentum(0.9, ema=True),
        gx.bias_correction(0.9),
        gx.scale_by_learning_rate(lambda step: 0.1 / (1.0 + step.astype(jnp.float64))),
    )


# ---------------------------------------------------------------------------------------------
# chain and identity
# ---------------------------------------------------------------------------------------------


def test_chain_is_associative():
    a, b, c = _three_links()
    left = _run(gx.chain(gx.chain(a, b), c))
    right = _run(gx.chain(a, gx.chain(b, c)))
    flat = _run(gx.chain(a, b, c))
    for x, y, z in zip(left, right, flat):
        _assert_trees_equal(x, z)
        _assert_trees_equal(y, z)


@pytest.mark.parametrize("where", ["first", "last", "alone"])
def test_identity_is_neutral_in_chain(where):
    links = _three_links()
    with_identity = {
        "first": (gx.identity(),) + links,
        "last": links + (gx.identity(),),
        "alone": (gx.identity(),),
    }[where]
    expected = _run(gx.chain(*links)) if where != "alone" else [_grads(t) for t in range(3)]
    for got, want in zip(_run(gx.chain(*with_identity)), expected):
        _assert_trees_equal(got, want)


def test_identity_returns_updates_unchanged_with_empty_state():
    transform = gx.identity()
    state = transform.init(PARAMS)
    assert state == gx.EmptyState()
    updates, new_state = transform.update(_grads(0), state, PARAMS, step=jnp.int32(4))
    _assert_trees_equal(updates, _grads(0))
    assert new_state == gx.EmptyState()


def test_chain_computes_links_in_order():
    # scale(2) then momentum differs from momentum then scale(2) only in what is stored.
    chained = gx.chain(gx.scale(2.0), gx.scale_by_momentum(0.5))
    mu = jax.tree.map(jnp.zeros_like, PARAMS)
    for t, got in enumerate(_run(chained)):
        mu = jax.tree.map(lambda g, m: 2.0 * g + 0.5 * m, _grads(t), mu)
        _assert_trees_equal(got, mu)


def test_chain_state_holds_step_and_one_state_per_link():
    chained = gx.chain(gx.scale_by_momentum(0.5), gx.bias_correction(0.5), gx.identity())
    state = chained.init(PARAMS)
    assert isinstance(state, gx.ChainState)
    assert state.step.dtype == jnp.int32 and int(state.step) == 0
    assert isinstance(state[0], gx.ScaleByMomentumState)
    assert state[1] == state[2] == gx.EmptyState()
    for t in range(3):
        _, state = chained.update(_grads(t), state, PARAMS)
        assert int(state.step) == t + 1


def test_chain_of_nothing_is_identity():
    for got, want in zip(_run(gx.chain()), [_grads(t) for t in range(3)]):
        _assert_trees_equal(got, want)


# ---------------------------------------------------------------------------------------------
# the step and the extra arguments
# ---------------------------------------------------------------------------------------------


def test_step_passed_down_is_zero_on_the_first_update_and_counts_up():
    seen = []
    _run(gx.chain(_recorder(seen)), steps=4)
    assert [int(s["step"]) for s in seen] == [0, 1, 2, 3]
    assert all(s["step"].dtype == jnp.int32 for s in seen)


def test_step_reaches_links_inside_branches():
    seen = []
    branch = [gx.identity(), _recorder(seen)]
    _run(gx.chain(gx.ratio(branch, gx.identity())), steps=2)
    _run(gx.chain(gx.parallel_sum((1.0, branch))), steps=2)
    _run(gx.chain(gx.conditional(lambda s: s > 0, branch, gx.identity())), steps=2)
    assert [int(s["step"]) for s in seen] == [0, 1, 0, 1, 0, 1]


def test_extra_args_reach_transforms_that_accept_them():
    seen = []
    loss = jnp.float64(0.25)
    _run(gx.chain(gx.identity(), _recorder(seen)), steps=2, loss=loss)
    assert [float(s["loss"]) for s in seen] == [0.25, 0.25]


def test_step_given_to_chain_is_replaced_by_its_own_counter():
    seen = []
    _run(gx.chain(_recorder(seen)), steps=2, step=jnp.int32(100))
    assert [int(s["step"]) for s in seen] == [0, 1]


@pytest.mark.parametrize(
    "combine",
    [
        lambda t: gx.chain(t),
        lambda t: gx.chain(gx.ratio(t, [gx.scale(0.0), gx.sqrt_plus_eps(1.0)])),  # over 1
        lambda t: gx.chain(gx.parallel_sum((1.0, t))),
        lambda t: gx.chain(gx.conditional(lambda s: s >= 0, [gx.identity(), t], gx.identity())),
    ],
    ids=["chain", "ratio", "parallel_sum", "conditional"],
)
def test_extra_args_are_dropped_for_plain_transforms(combine):
    outputs = _run(combine(_plain_doubler()), steps=2, loss=jnp.float64(1.0))
    for t, got in enumerate(outputs):
        _assert_trees_equal(got, jax.tree.map(lambda g: 2 * g, _grads(t)))


def test_plain_transform_called_directly_still_rejects_extra_args():
    # The wrapping happens in the combinators only; the transform itself is untouched.
    plain = _plain_doubler()
    with pytest.raises(TypeError, match="step"):
        plain.update(_grads(0), plain.init(PARAMS), PARAMS, step=0)


# ---------------------------------------------------------------------------------------------
# ratio, parallel_sum, conditional
# ---------------------------------------------------------------------------------------------


def test_ratio_divides_numerator_branch_by_denominator_branch():
    transform = gx.chain(gx.ratio(gx.scale_by_momentum(0.5), gx.mean_of_squares(0.9)))
    mu = nu = jax.tree.map(jnp.zeros_like, PARAMS)
    for t, got in enumerate(_run(transform)):
        g = _grads(t)
        mu = jax.tree.map(lambda g, m: g + 0.5 * m, g, mu)
        nu = jax.tree.map(lambda g, v: (1 - 0.9) * g**2 + 0.9 * v, g, nu)
        _assert_trees_equal(got, jax.tree.map(jnp.divide, mu, nu))


def test_ratio_with_list_branches_is_adam_direction():
    b1, b2, eps = 0.8, 0.95, 1e-3
    transform = gx.chain(
        gx.ratio(
            [gx.scale_by_momentum(b1, ema=True), gx.bias_correction(b1)],
            [gx.mean_of_squares(b2), gx.bias_correction(b2), gx.sqrt_plus_eps(eps)],
        )
    )
    m = {k: np.zeros_like(v) for k, v in PARAMS.items()}
    v = {k: np.zeros_like(v) for k, v in PARAMS.items()}
    for t, got in enumerate(_run(transform, steps=4)):
        g = {k: np.asarray(x) for k, x in _grads(t).items()}
        for k in g:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            expected = (m[k] / (1 - b1 ** (t + 1))) / (np.sqrt(v[k] / (1 - b2 ** (t + 1))) + eps)
            np.testing.assert_allclose(np.asarray(got[k]), expected, rtol=1e-13)


def test_list_branch_state_is_a_tuple_of_link_states_without_a_counter():
    transform = gx.ratio([gx.scale_by_momentum(0.5), gx.identity()], gx.mean_of_squares(0.9))
    state = transform.init(PARAMS)
    # used on its own, the ratio is the one link of a chain that owns its step and hyperparameters
    assert isinstance(state, gx.ChainState) and isinstance(state[0], gx.RatioState)
    assert type(state.numerator) is tuple
    assert isinstance(state.numerator[0], gx.ScaleByMomentumState)
    assert state.numerator[1] == gx.EmptyState()
    assert isinstance(state.denominator, gx.MeanOfSquaresState)


def test_parallel_sum_is_the_weighted_sum_of_its_branches():
    transform = gx.parallel_sum(
        (0.3, gx.identity()), (0.7, gx.scale_by_momentum(0.9)), (-2.0, [gx.scale(3.0), gx.square()])
    )
    mu = jax.tree.map(jnp.zeros_like, PARAMS)
    for t, got in enumerate(_run(transform)):
        g = _grads(t)
        mu = jax.tree.map(lambda g, m: g + 0.9 * m, g, mu)
        expected = jax.tree.map(lambda g, m: 0.3 * g + 0.7 * m + -2.0 * (3.0 * g) ** 2, g, mu)
        _assert_trees_equal(got, expected)
    assert isinstance(transform.init(PARAMS)[0], gx.ParallelSumState)


def test_conditional_chooses_by_the_step_and_keeps_both_branches_current():
    # Momentum is only output from the third update on, but it has seen every gradient.
    transform = gx.chain(gx.conditional(lambda step: step >= 2, gx.scale_by_momentum(0.5), gx.scale(-1.0)))
    mu = jax.tree.map(jnp.zeros_like, PARAMS)
    for t, got in enumerate(_run(transform, steps=4)):
        g = _grads(t)
        mu = jax.tree.map(lambda g, m: g + 0.5 * m, g, mu)
        expected = mu if t >= 2 else jax.tree.map(lambda x: -1.0 * x, g)
        _assert_trees_equal(got, expected)


def test_conditional_state_holds_both_branch_states():
    transform = gx.conditional(lambda step: step > 0, gx.scale_by_momentum(0.5), gx.identity())
    state = transform.init(PARAMS)
    assert isinstance(state[0], gx.ConditionalState)
    assert isinstance(state.if_true, gx.ScaleByMomentumState)
    assert state.if_false == gx.EmptyState()


def test_combinators_jit_with_a_step_dependent_predicate():
    transform = gx.chain(gx.conditional(lambda step: step % 2 == 0, gx.scale(2.0), gx.scale(-1.0)))
    state = transform.init(PARAMS)
    update = jax.jit(transform.update)
    for t in range(3):
        got, state = update(_grads(t), state, PARAMS)
        factor = 2.0 if t % 2 == 0 else -1.0
        _assert_trees_equal(got, jax.tree.map(lambda g, f=factor: f * g, _grads(t)))


def test_combinators_combine_outputs_of_different_dtypes_in_the_promoted_dtype():
    # |g|^2 is real for complex g; a float32 momentum beside bfloat16 updates is float32.
    z = {"z": jnp.asarray([3 + 4j, 1j], jnp.complex64)}
    transform = gx.chain(gx.ratio(gx.identity(), gx.square()))
    out, _ = transform.update(z, transform.init(z))
    assert out["z"].dtype == jnp.complex64
    np.testing.assert_allclose(np.asarray(out["z"]), np.asarray(z["z"]) / np.asarray([25.0, 1.0]))
    transform = gx.chain(gx.parallel_sum((1.0, gx.identity()), (-1.0, gx.square())))
    state = transform.init(z)
    out, _ = transform.update(z, state)
    assert out["z"].dtype == jnp.complex64
    np.testing.assert_allclose(np.asarray(out["z"]), [3 + 4j - 25, 1j - 1], rtol=1e-6)

    h = jnp.asarray([1.5, -2.0], jnp.bfloat16)
    momentum = gx.scale_by_momentum(0.5, dtype=jnp.float32)
    for transform in (
        gx.chain(gx.conditional(lambda step: step > 0, gx.identity(), momentum)),
        gx.chain(gx.parallel_sum((1.0, gx.identity()), (1.0, momentum))),
        gx.chain(gx.ratio(gx.identity(), momentum)),
    ):
        out, _ = transform.update(h, transform.init(h))
        assert out.dtype == jnp.float32


# ---------------------------------------------------------------------------------------------
# apply_updates
# ---------------------------------------------------------------------------------------------


def test_apply_updates_keeps_bfloat16_params_bfloat16_with_float32_updates():
    params = {"w": jnp.asarray([1.0, -2.0, 3.0], jnp.bfloat16), "b": jnp.asarray(0.5, jnp.bfloat16)}
    updates = {"w": jnp.asarray([1e-2, 2e-2, -3e-2], jnp.float32), "b": jnp.asarray(-0.25, jnp.float32)}
    new = gx.apply_updates(params, updates)
    for key in params:
        assert new[key].dtype == jnp.bfloat16
        # Added in float32, rounded once to bfloat16.
        expected = (params[key].astype(jnp.float32) + updates[key]).astype(jnp.bfloat16)
        np.testing.assert_array_equal(np.asarray(new[key]), np.asarray(expected))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64, jnp.bfloat16, jnp.complex64])
def test_apply_updates_adds_in_each_params_dtype(dtype):
    params = {"w": jnp.asarray([1.0, 2.0], dtype)}
    updates = {"w": jnp.asarray([0.5, -0.25], dtype)}
    new = gx.apply_updates(params, updates)
    assert new["w"].dtype == dtype
    np.testing.assert_array_equal(np.asarray(new["w"]), np.asarray(params["w"] + updates["w"]))


def test_apply_updates_leaves_none_leaves_none():
    params = {"w": jnp.ones(2), "frozen": None}
    new = gx.apply_updates(params, {"w": jnp.ones(2), "frozen": None})
    assert new["frozen"] is None
    np.testing.assert_array_equal(np.asarray(new["w"]), [2.0, 2.0])


# ---------------------------------------------------------------------------------------------
# errors for things that are not transformations
# ---------------------------------------------------------------------------------------------

NOT_TRANSFORMS = [3, "adam", lambda g: g, None, (1.0, gx.identity())]


@pytest.mark.parametrize("bad", NOT_TRANSFORMS, ids=["int", "str", "function", "None", "pair"])
def test_chain_rejects_non_transforms(bad):
    with pytest.raises(TypeError, match=r"chain: expected a GradientTransformation .*got "):
        gx.chain(gx.identity(), bad)


@pytest.mark.parametrize("bad", NOT_TRANSFORMS[:4], ids=["int", "str", "function", "None"])
def test_ratio_rejects_non_transforms_as_branches_and_inside_lists(bad):
    with pytest.raises(TypeError, match=r"ratio: expected a GradientTransformation"):
        gx.ratio(bad, gx.identity())
    with pytest.raises(TypeError, match=r"ratio: expected a GradientTransformation"):
        gx.ratio(gx.identity(), [gx.identity(), bad])


def test_parallel_sum_and_conditional_reject_non_transforms():
    with pytest.raises(TypeError, match=r"parallel_sum: expected a GradientTransformation .*got str"):
        gx.parallel_sum((1.0, "identity"))
    with pytest.raises(TypeError, match=r"conditional: expected a GradientTransformation .*got int 7"):
        gx.conditional(lambda step: step > 0, gx.identity(), 7)


# --- A primitive on its own owns its step and its hyperparameters --------------------------------

def _real(step):
    return jnp.asarray(step, jnp.result_type(float))


ON_THEIR_OWN = {
    "bias_correction": lambda: gx.bias_correction(0.9),
    "conditional": lambda: gx.conditional(lambda step: step > 0, gx.identity(), gx.scale(2.0)),
    "scheduled learning rate": lambda: gx.scale_by_learning_rate(lambda step: 0.1 * (_real(step) + 1)),
    "scale_by_schedule": lambda: gx.scale_by_schedule(lambda step: 1.0 / (_real(step) + 1)),
    "scheduled_bias_correction": lambda: gx.scheduled_bias_correction(lambda step: 0.5 + 0.1 * _real(step)),
    "scale_by_rectification": lambda: gx.scale_by_rectification(0.9),
    "scheduled weight decay": lambda: gx.weight_decay(lambda step: 0.1 * _real(step)),
    "add_noise": lambda: gx.add_noise(0.01, 0.55, key=3),
    "switch_to_sgd": lambda: gx.switch_to_sgd(gx.scale_by_learning_rate(0.1), gx.scale(-1.0)),
    "adaptive_grad_clip": lambda: gx.adaptive_grad_clip(lambda step: 0.01 * (_real(step) + 1)),
    "scale_by_rms": lambda: gx.scale_by_rms(0.9, bias_correction=True),
}


@pytest.mark.parametrize("name", sorted(ON_THEIR_OWN))
def test_a_step_reading_primitive_counts_its_own_steps_on_its_own_and_inside_optax_chain(name):
    make = ON_THEIR_OWN[name]
    params = {"w": jnp.asarray([1.0, -2.0, 0.5]), "b": jnp.asarray(0.3)}
    runs = {"alone": make(), "in gx.chain": gx.chain(make()), "in optax.chain": optax.chain(make())}
    states = {k: t.init(params) for k, t in runs.items()}
    for step in range(4):
        grads = jax.tree.map(lambda p: (step + 1.0) * p - 0.25, params)
        outputs = {}
        for k, t in runs.items():
            outputs[k], states[k] = t.update(grads, states[k], params)
        for k in ("alone", "in optax.chain"):
            jax.tree.map(np.testing.assert_array_equal, outputs[k], outputs["in gx.chain"])
    assert int(states["alone"].step) == int(states["in gx.chain"].step) == 4
