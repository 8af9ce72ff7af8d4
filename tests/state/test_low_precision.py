"""Low-precision optimizer state (``mu_dtype``, ``nu_dtype``) and :func:`gradxform.state_memory`.

The convention, Optax's for ``mu_dtype``: a moment stored in a narrow dtype (bfloat16) beside
float32 gradients is computed in float32 from the stored value, this step's update uses the
unrounded result, and only the stored copy is rounded.
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from sklearn.datasets import load_digits

import gradxform as gx

pytestmark = pytest.mark.slow  # make test-fast leaves this module out

BF16, F32 = jnp.bfloat16, jnp.float32


def _params():
    rng = np.random.default_rng(0)
    return {
        "w": jnp.asarray(rng.normal(size=(3, 5)), F32),
        "b": jnp.asarray(rng.normal(size=(5,)), F32),
    }


def _grads(steps, seed=1):
    rng = np.random.default_rng(seed)
    return [
        {"w": jnp.asarray(rng.normal(size=(3, 5)), F32), "b": jnp.asarray(rng.normal(size=(5,)), F32)}
        for _ in range(steps)
    ]


def _run(optimizer, grads, jit=True):
    """Params after each step and the final state."""
    params, state = _params(), optimizer.init(_params())
    update = jax.jit(optimizer.update) if jit else optimizer.update
    history = []
    for g in grads:
        updates, state = update(g, state, params)
        params = gx.apply_updates(params, updates)
        history.append(params)
    return history, state


def _upcast(state):
    return jax.tree.map(lambda x: x.astype(F32) if x.dtype == BF16 else x, state)


def _assert_trees_equal(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(np.asarray(x, np.float64), np.asarray(y, np.float64))


# --- primitives: compute wide from the stored value, output unrounded, store rounded ---------

PRIMITIVES = {
    "mean_of_squares": lambda dtype: gx.mean_of_squares(0.99, dtype=dtype),
    "sum_of_squares": lambda dtype: gx.sum_of_squares(0.0, dtype=dtype),
    "amsgrad_max": lambda dtype: gx.amsgrad_max(dtype),
    "infinity_moment": lambda dtype: gx.infinity_moment(0.99, 1e-8, dtype=dtype),
    "scale_by_momentum": lambda dtype: gx.scale_by_momentum(0.9, ema=True, dtype=dtype),
}


@pytest.mark.parametrize("name", PRIMITIVES)
def test_moment_stored_in_bfloat16_computes_in_float32_from_the_stored_value(name):
    low, wide = gx.chain(PRIMITIVES[name](BF16)), gx.chain(PRIMITIVES[name](None))
    g1, g2 = _grads(2)
    low_state = low.init(_params())
    assert {x.dtype for x in jax.tree.leaves(low_state.links) if x.ndim} == {jnp.dtype(BF16)}
    out1, low_state = low.update(g1, low_state)
    wide_out1, wide_state = wide.update(g1, wide.init(_params()))
    # This step's output is the float32 moment, unrounded; the state holds it rounded.
    _assert_trees_equal(out1, wide_out1)
    _assert_trees_equal(low_state, jax.tree.map(lambda w, s: w.astype(s.dtype), wide_state, low_state))
    # The next step starts from the rounded value and computes in float32 exactly as a float32
    # moment would from that same value.
    out2, _ = low.update(g2, low_state)
    expected, _ = wide.update(g2, _upcast(low_state))
    _assert_trees_equal(out2, expected)


# --- aliases ----------------------------------------------------------------------------------

# (name, kwargs giving bfloat16 storage, number of params-sized moments, extra kwargs). Adagrad's
# initial accumulator is a bfloat16 number, so that its first step is exact in either storage.
ALIASES = [
    ("adam", {"mu_dtype": BF16, "nu_dtype": BF16}, 2, {}),
    ("adamw", {"mu_dtype": BF16, "nu_dtype": BF16}, 2, {}),
    ("nadam", {"mu_dtype": BF16, "nu_dtype": BF16}, 2, {}),
    ("nadamw", {"mu_dtype": BF16, "nu_dtype": BF16}, 2, {}),
    ("amsgrad", {"mu_dtype": BF16, "nu_dtype": BF16}, 3, {}),
    ("radam", {"mu_dtype": BF16, "nu_dtype": BF16}, 2, {}),
    ("adamax", {"mu_dtype": BF16, "nu_dtype": BF16}, 2, {}),
    ("lamb", {"mu_dtype": BF16, "nu_dtype": BF16}, 2, {}),
    ("rmsprop", {"nu_dtype": BF16}, 1, {}),
    ("rmsprop", {"nu_dtype": BF16}, 2, {"centered": True}),
    ("adagrad", {"nu_dtype": BF16}, 1, {"initial_accumulator_value": 0.125}),
]
IDS = [f"{name}{'-centered' if extra else ''}" for name, _, _, extra in ALIASES]


@pytest.mark.parametrize("name, low, moments, extra", ALIASES, ids=IDS)
def test_bfloat16_state_holds_exactly_the_moments_at_half_the_bytes(name, low, moments, extra):
    params = _params()
    n = sum(x.size for x in jax.tree.leaves(params))  # 20 float32 elements
    wide = gx.state_memory(getattr(gx, name)(0.1, **extra).init(params))
    narrow = gx.state_memory(getattr(gx, name)(0.1, **low, **extra).init(params))
    assert narrow.by_dtype["bfloat16"] == moments * n * 2
    assert wide.by_dtype["float32"] - narrow.by_dtype.get("float32", 0) == moments * n * 4
    assert wide.total - narrow.total == moments * n * 2
    assert narrow.arrays == wide.arrays


@pytest.mark.parametrize("name, low, moments, extra", ALIASES, ids=IDS)
def test_first_update_with_bfloat16_state_uses_the_unrounded_moments(name, low, moments, extra):
    # From a zero state the moments of step 1 are exact in float32; had the update used their
    # bfloat16-rounded copies, the params (about 1) would move by about 1e-4 more or less (a
    # 0.1 step off by bfloat16's relative 2**-9). The two programs may fuse differently, and XLA
    # divides through an approximate reciprocal, so allow a few float32 ulps.
    grads = _grads(1)
    (wide,), _ = _run(getattr(gx, name)(0.1, **extra), grads)
    (narrow,), state = _run(getattr(gx, name)(0.1, **low, **extra), grads)
    for key in wide:
        np.testing.assert_allclose(narrow[key], wide[key], rtol=5e-7, atol=0)
    assert any(x.dtype == BF16 for x in jax.tree.leaves(state))


# Named compositions for code written against Optax: (factory, kwargs, params-sized moments).
COMPOSITIONS = [
    (gx.scale_by_adam, {"mu_dtype": BF16, "nu_dtype": BF16}, 2),
    (gx.scale_by_amsgrad, {"mu_dtype": BF16, "nu_dtype": BF16}, 3),
    (gx.scale_by_rms, {"nu_dtype": BF16}, 1),
    (gx.scale_by_stddev, {"nu_dtype": BF16}, 2),
    (gx.scale_by_rss, {"nu_dtype": BF16}, 1),
]


@pytest.mark.parametrize("factory, low, moments", COMPOSITIONS, ids=lambda x: getattr(x, "__name__", ""))
def test_named_compositions_store_their_moments_in_nu_dtype(factory, low, moments):
    params = _params()
    wide = gx.state_memory(factory().init(params))
    narrow = gx.state_memory(factory(**low).init(params))
    assert narrow.by_dtype["bfloat16"] == moments * 20 * 2
    assert wide.total - narrow.total == moments * 20 * 2


def test_adam_bfloat16_moments_are_stored_rounded_float32_moments():
    (_,), wide = _run(gx.adam(0.1), _grads(1))
    (_,), narrow = _run(gx.adam(0.1, mu_dtype=BF16, nu_dtype=BF16), _grads(1))
    _assert_trees_equal(narrow, jax.tree.map(lambda w, s: w.astype(s.dtype), wide, narrow))


def test_nesterov_adam_and_adamw_pass_nu_dtype_on():
    params = _params()
    for optimizer in (gx.adam(0.1, nesterov=True, nu_dtype=BF16),
                      gx.adamw(0.1, nesterov=True, nu_dtype=BF16)):
        assert gx.state_memory(optimizer.init(params)).by_dtype["bfloat16"] == 20 * 2


def test_bfloat16_mu_adam_matches_optax_bit_for_bit_when_b1_is_a_bfloat16_number():
    # b1 = 0.875 is exact in bfloat16. Optax computes b1 * mu in bfloat16 and XLA widens that
    # product to float32 under jit, so both libraries then do the same float32 arithmetic.
    grads = _grads(30)
    with jax.numpy_dtype_promotion("standard"):
        theirs, their_state = _run(optax.adam(0.01, b1=0.875, mu_dtype=BF16), grads)
    ours, our_state = _run(gx.adam(0.01, b1=0.875, mu_dtype=BF16), grads)
    for a, b in zip(ours, theirs):
        _assert_trees_equal(a, b)
    _assert_trees_equal(our_state[0].numerator[0].mu, their_state[0].mu)


def test_bfloat16_mu_adam_tracks_float32_closer_than_optax_which_rounds_b1():
    # Optax multiplies a bfloat16 mu by b1 rounded to bfloat16 (0.9 -> 0.8984375), a bias of
    # 0.17% per step; gradxform keeps b1 in float32 and rounds only the stored mu. After 30
    # steps (lr 0.01) gradxform is within 1e-3 of float32 Adam, Optax over twice as far.
    grads = _grads(30)
    exact, _ = _run(gx.adam(0.01), grads)
    ours, _ = _run(gx.adam(0.01, mu_dtype=BF16), grads)
    with jax.numpy_dtype_promotion("standard"):
        theirs, _ = _run(optax.adam(0.01, mu_dtype=BF16), grads)

    def distance(history):
        return max(float(jnp.max(jnp.abs(history[-1][k] - exact[-1][k]))) for k in exact[-1])

    assert distance(ours) < 1e-3
    assert distance(theirs) > 2 * distance(ours)


# --- state_memory -----------------------------------------------------------------------------


def test_state_memory_counts_bytes_per_dtype_largest_first_and_each_array_once():
    a = jnp.zeros(10, F32)  # 40 bytes
    tree = {
        "a": a,
        "again": a,  # the same array: counted once
        "b": jnp.zeros((3, 4), BF16),  # 24 bytes
        "c": np.zeros(2, np.int32),  # 8 bytes
        "step": jnp.zeros([], jnp.int32),  # 4 bytes
        "none": None,
        "number": 3.0,  # not an array
    }
    memory = gx.state_memory(tree)
    assert memory == gx.StateMemory(
        total=76, by_dtype={"float32": 40, "bfloat16": 24, "int32": 12}, arrays=4
    )
    assert list(memory.by_dtype) == ["float32", "bfloat16", "int32"]


def test_state_memory_of_adam_state_is_twice_the_params_plus_hyperparameters():
    params = {"w": jnp.zeros((64, 32), F32), "b": jnp.zeros(32, F32)}  # 2080 elements
    optimizer = gx.adam(1e-3)
    wide = gx.state_memory(optimizer.init(params))
    moments = 2 * 2080 * 4
    # the step (int32) and the hyperparameters, one row each for b1, b2, eps, eps_root and the
    # learning rate: 5 given values, 5 set values and 5 flags, as floats
    hyperparameters = 5 * 3 * jnp.dtype(float).itemsize
    assert wide.total == moments + 4 + hyperparameters
    narrow = gx.state_memory(gx.adam(1e-3, mu_dtype=BF16, nu_dtype=BF16).init(params))
    assert narrow.by_dtype["bfloat16"] == moments // 2
    assert wide.total - narrow.total == moments // 2


def test_state_memory_reads_shapes_without_allocating():
    params = {"w": jax.ShapeDtypeStruct((4096, 4096), F32)}
    optimizer = gx.adam(1e-3, mu_dtype=BF16)
    memory = gx.state_memory(jax.eval_shape(optimizer.init, params))
    assert memory.by_dtype["bfloat16"] == 4096 * 4096 * 2
    assert memory.by_dtype["float32"] >= 4096 * 4096 * 4
    concrete = gx.state_memory(optimizer.init({"w": jnp.zeros((8, 8), F32)}))
    assert concrete.arrays == memory.arrays


# --- training stays close ---------------------------------------------------------------------


def _digits_mlp():
    features, labels = load_digits(return_X_y=True)
    x = jnp.asarray(features / 16.0, F32)
    y = jnp.asarray(labels)
    rng = np.random.default_rng(0)
    params = {
        "w1": jnp.asarray(rng.normal(size=(64, 32)) / 8.0, F32),
        "b1": jnp.zeros(32, F32),
        "w2": jnp.asarray(rng.normal(size=(32, 10)) / np.sqrt(32.0), F32),
        "b2": jnp.zeros(10, F32),
    }
    return (x[:1500], y[:1500]), (x[1500:], y[1500:]), params


def _logits(params, x):
    hidden = jnp.tanh(x @ params["w1"] + params["b1"][None, :])
    return hidden @ params["w2"] + params["b2"][None, :]


def _loss(params, x, y):
    log_p = jax.nn.log_softmax(_logits(params, x))
    return -jnp.mean(jnp.take_along_axis(log_p, y[:, None], axis=1))


def _train(optimizer, steps=200):
    (x, y), (x_test, y_test), params = _digits_mlp()
    state = optimizer.init(params)

    @jax.jit
    def step(params, state):
        grads = jax.grad(_loss)(params, x, y)
        updates, state = optimizer.update(grads, state, params)
        return gx.apply_updates(params, updates), state

    for _ in range(steps):
        params, state = step(params, state)
    accuracy = float(jnp.mean(jnp.argmax(_logits(params, x_test), -1) == y_test))
    return params, state, float(_loss(params, x, y)), accuracy


def test_adam_with_bfloat16_moments_trains_a_digits_mlp_as_well_as_float32():
    # 200 full-batch Adam steps (lr 0.01) on scikit-learn's digits, 64-32-10 tanh MLP. With both
    # moments in bfloat16 the final training loss is within 10% of float32's (measured: 1.7%),
    # held-out accuracy within 1.5 points, and each weight matrix has moved within 10% of the
    # same displacement (measured: 2%). The moments take half the bytes.
    _, _, start = _digits_mlp()
    wide_params, wide_state, wide_loss, wide_acc = _train(gx.adam(1e-2))
    low_params, low_state, low_loss, low_acc = _train(gx.adam(1e-2, mu_dtype=BF16, nu_dtype=BF16))
    assert wide_loss < 0.1 and wide_acc > 0.9  # it did learn
    assert abs(low_loss - wide_loss) <= 0.1 * wide_loss
    assert abs(low_acc - wide_acc) <= 0.015
    for k in start:
        moved = jnp.linalg.norm(wide_params[k] - start[k])
        assert float(jnp.linalg.norm(low_params[k] - wide_params[k]) / moved) < 0.1
    n = sum(x.size for x in jax.tree.leaves(start))
    wide_memory, low_memory = gx.state_memory(wide_state), gx.state_memory(low_state)
    assert low_memory.by_dtype["bfloat16"] == 2 * n * 2
    assert wide_memory.total - low_memory.total == 2 * n * 2  # the moments' bytes halve
