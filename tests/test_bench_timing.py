"""The benchmarks' interleaved timing (``benchmarks/common.py``): the steps being compared take the
same number of steps per sample; a reference that keeps its own pace (the memory triad) takes as
many as its own sample needs. Fake runners that sleep stand in for compiled steps."""
import importlib.util
import pathlib
import time

import jax.numpy as jnp
import pytest

_PATH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "common.py"
_SPEC = importlib.util.spec_from_file_location("bench_common", _PATH)
common = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(common)


def counting_runner(label, seconds_per_step, own_pace=False):
    """A runner whose carry counts its steps; each step sleeps ``seconds_per_step``."""

    def step(count):
        time.sleep(seconds_per_step)
        return count + 1

    return common.Runner(label, step, [0], own_pace=own_pace)


def test_compared_runners_take_the_same_steps_and_an_own_pace_runner_its_own():
    fast, slow = counting_runner("fast", 0.001), counting_runner("slow", 0.004)
    reference = counting_runner("reference", 0.03, own_pace=True)
    samples = common.interleaved([fast, slow, reference], repeats=3, min_sample_seconds=0.01)

    assert [len(s) for s in samples] == [3, 3, 3]
    assert fast.carry[0] == slow.carry[0]  # the same steps, sized on the fastest
    assert fast.carry[0] >= 2 + 3 * 2  # two warm-up steps, then >= 2 per sample (< 5 ms each)
    assert reference.carry[0] == 2 + 3 * 1  # a 30 ms step fills a 10 ms sample alone
    assert min(samples[2]) > max(samples[0])  # seconds per step, not per sample


def test_the_triad_runner_updates_its_array_in_place_and_paces_itself():
    runner = common.triad_runner(elements=1024)
    assert runner.own_pace
    before = runner.carry[0]
    common.run_steps(runner, 2)
    after = runner.carry[0]
    # y <- 1.0001 x + y from y = 1.0001 (the first step, at construction), x = 1: three steps in all
    assert jnp.allclose(after, 3 * 1.0001)
    assert before.is_deleted()  # donated: the step wrote into it
    assert common.triad_bytes(1024) == 3 * 4 * 1024


def test_mean_of_copies_averages_each_variants_runners_round_by_round():
    samples = [[1.0, 2.0], [3.0, 4.0], [10.0, 20.0], [30.0, 40.0]]  # 2 variants x 2 copies
    assert common.mean_of_copies(samples, copies=2) == [[2.0, 3.0], [20.0, 30.0]]
    assert common.mean_of_copies(samples, copies=1) == samples


def test_mean_of_copies_rejects_runners_that_do_not_form_whole_groups():
    with pytest.raises(ValueError, match="3 runners do not form groups of copies=2"):
        common.mean_of_copies([[1.0], [2.0], [3.0]], copies=2)
    with pytest.raises(ValueError, match="copies=0"):
        common.mean_of_copies([[1.0]], copies=0)


def test_fixed_costs_extra_scalars_ride_along_untouched_and_change_no_update():
    import sys

    import optax

    sys.path.insert(0, str(_PATH.parent))
    try:
        spec = importlib.util.spec_from_file_location("bench_fixed_cost", _PATH.parent / "fixed_cost.py")
        fixed_cost = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(fixed_cost)
    finally:
        sys.path.remove(str(_PATH.parent))
    params, grads = {"w": jnp.arange(3.0)}, {"w": jnp.array([0.5, -1.0, 2.0])}
    plain, padded = optax.adagrad(0.1), fixed_cost.with_scalars(optax.adagrad(0.1), 2)
    state = padded.init(params)
    assert len(state[1]) == 2 and all(s.shape == () for s in state[1])
    updates, new_state = padded.update(grads, state, params)
    expected, _ = plain.update(grads, plain.init(params), params)
    assert jnp.array_equal(updates["w"], expected["w"])
    assert new_state[1] is state[1]


def test_runner_copies_share_the_step_but_not_the_arrays():
    runner = common.Runner("double", lambda carry: (carry[0] * 2,), [(jnp.arange(3.0),)])
    copies = common.runner_copies(runner, 3)
    assert copies[0] is runner and len(copies) == 3
    assert all(c.step is runner.step and c.label == "double" for c in copies)
    originals = [c.carry[0][0] for c in copies]
    assert len({id(a) for a in originals}) == 3  # a donated step may not share a buffer
    assert all(jnp.array_equal(a, jnp.arange(3.0)) for a in originals)
    common.run_steps(copies[1], 2)
    assert jnp.array_equal(copies[1].carry[0][0], jnp.arange(3.0) * 4)
    assert jnp.array_equal(copies[0].carry[0][0], jnp.arange(3.0))  # its own carry untouched
