"""Every alias and wrapper runs with params and state donated, as Flax training loops run them.

``jax.jit(step, donate_argnums=(0, 1))`` hands the buffers of the params and of the state to the
step, which writes its results into them. That works only if every leaf is its own buffer: an
``init`` that puts one array in two fields (or the params themselves in the state) fails with
"Attempt to donate the same buffer twice", and one that returns an array kept from construction
leaves the next ``init`` holding a deleted array. Donation changes where results are written,
never what they are, so the donated steps must equal the undonated ones bit for bit.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from problems import PROBLEMS
from registry import REGISTRY
from wrapper_trees import gradient_sequence, nested_params

import gradxform as gx

pytestmark = pytest.mark.slow  # make test-fast leaves this module out

STEPS = 3
PROBLEM = PROBLEMS[0]


class Case(NamedTuple):
    """An optimizer with the params it starts from and the gradients it is fed."""

    make: Callable[[], Any]  # a fresh optimizer
    params: Callable[[], Any]  # fresh params, in fresh buffers
    gradient: Callable[[Any, int], Any]  # (params, step index) -> gradient
    extra_args: Callable[[Any, Any], dict] = lambda params, grads: {}
    # A JAX loss, for line searches: the step then takes the gradient itself and passes the
    # loss's value, its gradient and the loss (value_fn) to update, as a training loop does.
    loss: Optional[Callable[[Any], Any]] = None


# --- The registry: each alias on the quadratic, gradients taken at the iterate ------------------


def _problem_params():
    return {k: jnp.asarray(v, jnp.float32) for k, v in PROBLEM.init.items()}


def _problem_gradient(params, _):
    grads = PROBLEM.grad({k: np.asarray(v, np.float64) for k, v in params.items()})
    return {k: jnp.asarray(v, jnp.float32) for k, v in grads.items()}


def _registry_case(entry):
    extra_args = entry.needs_extra_args or (lambda params, grads: {})
    return Case(entry.make, _problem_params, _problem_gradient, extra_args)


# --- Every wrapper, around Adam, on a Flax-like tree with None leaves ---------------------------


def _tree():
    return nested_params(jnp.float32)


GRADIENTS = gradient_sequence(_tree(), STEPS)


def _fixed_gradient(params, i):
    return GRADIENTS[i]


def _synced():
    return gx.LookaheadParams.init_synced(_tree())


def _adam():
    return gx.adam(0.1)


def _kernels_and_rest(params):
    return gx.labels_from_patterns(params, {"*kernel": "kernels", "*": "rest"})


def _biases(params):
    return gx.path_mask(params, "*bias")


WRAPPERS: dict[str, Callable[[], Any]] = {
    "masked": lambda: gx.masked(_adam(), lambda p: gx.path_mask(p, exclude="*bias")),
    "partition": lambda: gx.partition({"kernels": _adam(), "rest": gx.sgd(0.1)}, _kernels_and_rest),
    "multi_transform": lambda: gx.multi_transform(
        {"kernels": _adam(), "rest": gx.sgd(0.1, momentum=0.9)}, _kernels_and_rest
    ),
    "freeze": lambda: gx.chain(gx.freeze(_biases), _adam()),
    "selective_transform": lambda: gx.selective_transform(_adam(), freeze_mask=_biases(_tree())),
    "MultiSteps": lambda: gx.MultiSteps(_adam(), every_k_schedule=2).gradient_transformation(),
    "MultiSteps_skip_not_finite": lambda: gx.MultiSteps(
        _adam(), every_k_schedule=2, should_skip_update_fn=gx.skip_not_finite
    ).gradient_transformation(),
    "MultiSteps_skip_large_updates": lambda: gx.MultiSteps(
        _adam(), 2, should_skip_update_fn=functools.partial(gx.skip_large_updates, max_squared_norm=1e6)
    ).gradient_transformation(),
    "apply_every": lambda: gx.chain(_adam(), gx.apply_every(2)),
    "apply_if_finite": lambda: gx.apply_if_finite(_adam(), 3),
    "zero_nans": lambda: gx.chain(gx.zero_nans(), _adam()),
    "conditionally_transform": lambda: gx.conditionally_transform(_adam(), lambda step: step % 2 == 0),
    "conditionally_mask": lambda: gx.conditionally_mask(_adam(), lambda step: step >= 1),
    "inject_hyperparams": lambda: gx.inject_hyperparams(gx.adam)(learning_rate=0.1, b1=0.9),
    "inject_hyperparams_schedule": lambda: gx.inject_hyperparams(gx.sgd)(
        learning_rate=lambda step: 0.1 / (1.0 + step.astype(jnp.float32)), momentum=0.9
    ),
    "inject_stateful_hyperparams": lambda: gx.inject_stateful_hyperparams(gx.adam)(learning_rate=0.1),
    "ema_params": lambda: gx.ema_params(_adam(), 0.9),
    "swa": lambda: gx.swa(_adam(), start_step=1, period=1),
    "named_chain": lambda: gx.named_chain(("clip", gx.clip_by_global_norm(1.0)), ("adam", _adam())),
    "flatten": lambda: gx.flatten(_adam()),
    "one_pass": lambda: gx.one_pass(_adam(), require_fusion=False),
    "snapshot": lambda: gx.chain(_adam(), gx.snapshot("norm", gx.global_norm)),
    "snapshot_of_the_updates": lambda: gx.chain(gx.snapshot("updates", lambda u: u), _adam()),
    "monitor": lambda: gx.chain(
        _adam(),
        gx.monitor({"norm": gx.global_norm, "norm_ema": gx.measure_with_ema(gx.global_norm, 0.9)}),
    ),
}
LOOKAHEADS: dict[str, Callable[[], Any]] = {
    "lookahead_synced": lambda: gx.lookahead(_adam(), sync_period=2, slow_step_size=0.5),
    "lookahead_synced_reset_state": lambda: gx.lookahead(
        _adam(), sync_period=2, slow_step_size=0.5, reset_state=True
    ),
}

# The registry's noisy_sgd takes an int seed; a key given as an array must not end up in the
# state itself, where donating the state would delete it for every later init.
KEYED: dict[str, Callable[[], Any]] = {
    "noisy_sgd_typed_key": lambda: gx.noisy_sgd(1e-3, eta=4e-6, key=jax.random.key(3)),
    "noisy_sgd_raw_key": lambda: gx.noisy_sgd(1e-3, eta=4e-6, key=jax.random.PRNGKey(3)),
}



def _loss(params):
    return sum(jnp.sum(x**4 / 4 + x**2) for x in jax.tree.leaves(params))


# The registry runs L-BFGS without a line search; the line searches keep scalars of their own.
LINE_SEARCHES: dict[str, Callable[[], Any]] = {
    "lbfgs_zoom_linesearch": lambda: gx.lbfgs(memory_size=3),
    "lbfgs_backtracking_linesearch": lambda: gx.lbfgs(
        memory_size=3, linesearch=gx.scale_by_backtracking_linesearch(15)
    ),
    "zoom_linesearch": lambda: gx.chain(gx.scale(-1.0), gx.scale_by_zoom_linesearch(15)),
    "backtracking_linesearch": lambda: gx.chain(gx.scale(-1.0), gx.scale_by_backtracking_linesearch(15)),
}

CASES = {e.name: _registry_case(e) for e in REGISTRY}
CASES.update({
    name: Case(make, _problem_params, lambda params, i: None, loss=_loss) for name, make in LINE_SEARCHES.items()
})
CASES.update({name: Case(make, _problem_params, _problem_gradient) for name, make in KEYED.items()})
CASES.update({name: Case(make, _tree, _fixed_gradient) for name, make in WRAPPERS.items()})
CASES.update({name: Case(make, _synced, _fixed_gradient) for name, make in LOOKAHEADS.items()})
NAMES = list(CASES)


# --- Running and checking -----------------------------------------------------------------------


def _run(case, opt, donate):
    """``STEPS`` jitted steps, params and state donated or not: the first and the final (params, state)."""

    def step(params, state, grads, extra_args):
        if case.loss is not None:
            value, grads = jax.value_and_grad(case.loss)(params)
            extra_args = dict(extra_args, value=value, grad=grads, value_fn=case.loss)
        updates, state = opt.update(grads, state, params, **extra_args)
        return gx.apply_updates(params, updates), state

    step = jax.jit(step, donate_argnums=(0, 1) if donate else ())
    params = case.params()
    state = opt.init(params)
    first = (params, state)
    for i in range(STEPS):
        grads = case.gradient(params, i)
        params, state = step(params, state, grads, case.extra_args(params, grads))
    return first, (params, state)


@functools.cache
def _donated(name):
    """The optimizer, its first params and state, and both after ``STEPS`` donated steps."""
    case = CASES[name]
    opt = case.make()
    return opt, _run(case, opt, donate=True)


def _arrays_with_paths(**trees):
    for name, tree in trees.items():
        for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
            if isinstance(leaf, jax.Array):
                yield name + jax.tree_util.keystr(path), leaf


def assert_own_buffers(**trees):
    """No two array leaves of ``trees`` share a buffer (what donating them together needs)."""
    seen: dict[int, str] = {}
    for where, leaf in _arrays_with_paths(**trees):
        pointer = leaf.unsafe_buffer_pointer()
        assert pointer not in seen, f"{where} and {seen[pointer]} are one buffer"
        seen[pointer] = where


def assert_none_deleted(**trees):
    deleted = [where for where, leaf in _arrays_with_paths(**trees) if leaf.is_deleted()]
    assert not deleted, f"deleted arrays: {deleted}"


def assert_bitwise_equal(actual, expected):
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected)):
        if jnp.issubdtype(e.dtype, jax.dtypes.prng_key):
            a, e = jax.random.key_data(a), jax.random.key_data(e)
        assert np.asarray(a).dtype == np.asarray(e).dtype
        np.testing.assert_array_equal(np.asarray(a), np.asarray(e))


@pytest.mark.parametrize("name", NAMES)
def test_steps_with_params_and_state_donated_equal_undonated_steps_bit_for_bit(name):
    opt, (first, donated) = _donated(name)
    first_params, _ = first
    assert all(leaf.is_deleted() for leaf in jax.tree.leaves(first_params))  # donation took place
    assert_none_deleted(donated=donated)
    assert_bitwise_equal(donated, _run(CASES[name], opt, donate=False)[1])


@pytest.mark.parametrize("name", NAMES)
def test_a_fresh_init_after_donated_steps_holds_no_deleted_array(name):
    opt, _ = _donated(name)
    params = CASES[name].params()
    assert_none_deleted(params=params, state=opt.init(params))


@pytest.mark.parametrize("name", NAMES)
def test_init_gives_every_leaf_its_own_buffer_apart_from_the_params_and_from_another_init(name):
    # Catches without donating what donation trips on: one array in two fields of the state (or
    # in both halves of LookaheadParams.init_synced), the params placed in the state, and an
    # array made once at construction and handed out by every init.
    case = CASES[name]
    opt = case.make()
    params = case.params()
    assert_own_buffers(params=params, state=opt.init(params), second_init=opt.init(params))


# --- The checks above catch each way of sharing a buffer ----------------------------------------


def _faulty(init):
    return gx.GradientTransformation(init, lambda updates, state, params=None: (updates, state))


_CONSTANT = jnp.zeros([], jnp.int32)
FAULTY = {
    "one array in two fields": _faulty(lambda params: (lambda z: (z, z))(jnp.zeros([]))),
    "the params in the state": _faulty(lambda params: (params,)),
    "an array made at construction": _faulty(lambda params: (_CONSTANT,)),
}


@pytest.mark.parametrize("fault", FAULTY)
def test_the_buffer_check_catches_each_way_of_sharing_a_buffer(fault):
    opt, params = FAULTY[fault], _problem_params()
    with pytest.raises(AssertionError, match="are one buffer"):
        assert_own_buffers(params=params, state=opt.init(params), second_init=opt.init(params))


def test_lookahead_params_init_synced_gives_fast_and_slow_their_own_buffers():
    assert_own_buffers(params=gx.LookaheadParams.init_synced(_tree()))
    synced = gx.LookaheadParams.init_synced(_tree())
    assert_bitwise_equal(synced.slow, synced.fast)
