"""one_pass: the inner optimizer's results, and one kernel per step with XLA's multi-output fusion.

The option that makes the formulation pay (XLA's CPU multi-output fusion) is process-wide, so the
compiled-program checks run in a subprocess started with it. In this process the option is only
pretended (``XLA_FLAGS`` set for the check that ``one_pass`` makes when it is built), which
changes nothing in the arithmetic.
"""
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from registry import REGISTRY
from wrapper_trees import assert_trees_equal, gradient_sequence

import gradxform as gx
from gradxform.grouped import one_pass as _one_pass

pytestmark = pytest.mark.slow  # make test-fast leaves this module out

OPTION = "--xla_backend_extra_options=xla_cpu_use_multi_output_fusion"


@pytest.fixture
def option_named(monkeypatch):
    """XLA_FLAGS naming the option, as one_pass checks it (the backend itself is not changed)."""
    monkeypatch.setenv("XLA_FLAGS", OPTION)


def params_tree():
    rng = np.random.default_rng(5)
    return {"w": jnp.asarray(rng.normal(size=(3, 4))), "b": jnp.asarray(rng.normal(size=4)),
            "scale": jnp.asarray(rng.normal())}


def test_one_pass_refuses_a_cpu_backend_without_multi_output_fusion(monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    if jax.default_backend() != "cpu":  # other backends are not checked
        gx.one_pass(gx.adam(1e-3))
        return
    with pytest.raises(RuntimeError, match=r"one_pass: .* XLA_FLAGS=--xla_backend_extra_options="
                                           r"xla_cpu_use_multi_output_fusion"):
        gx.one_pass(gx.adam(1e-3))
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    with pytest.raises(RuntimeError, match="multi-output fusion"):
        gx.one_pass(gx.adam(1e-3))


def test_require_fusion_false_builds_without_the_option_and_gives_the_same_results(monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    params = params_tree()
    runs = []
    for opt in (gx.one_pass(gx.adam(1e-2), require_fusion=False), gx.adam(1e-2)):
        state, p = opt.init(params), params
        for g in gradient_sequence(params, 3, seed=4):
            u, state = opt.update(g, state, p)
            p = gx.apply_updates(p, u)
        runs.append((state, p))
    assert_trees_equal(runs[0], runs[1])


@pytest.mark.parametrize("bad", [1, "no", None])
def test_require_fusion_must_be_a_bool(bad, option_named):
    with pytest.raises(TypeError, match=r"one_pass: require_fusion must be True or False, got"):
        gx.one_pass(gx.adam(1e-3), require_fusion=bad)


def test_one_pass_rejects_what_is_not_a_transformation(option_named):
    with pytest.raises(TypeError, match="one_pass"):
        gx.one_pass(lambda g: g)


@pytest.mark.parametrize("entry", [pytest.param(e, id=e.name) for e in REGISTRY])
def test_one_pass_gives_every_alias_its_own_results_bit_for_bit(entry, option_named):
    params = params_tree()
    grads = gradient_sequence(params, 2, seed=3)
    runs = []
    for opt in (gx.one_pass(entry.make()), entry.make()):
        state, p, outputs = opt.init(params), params, []
        for g in grads:
            extra = entry.needs_extra_args(p, g) if entry.needs_extra_args else {}
            u, state = opt.update(g, state, p, **extra)
            p = gx.apply_updates(p, u)
            outputs.append(u)
        runs.append((outputs, state, p))
    assert_trees_equal(runs[0], runs[1])


def test_the_state_is_the_inner_state(option_named):
    params = params_tree()
    inner = gx.adam(1e-2)
    state = gx.one_pass(inner).init(params)
    assert jax.tree.structure(state) == jax.tree.structure(inner.init(params))
    assert float(gx.hyperparams(state)["learning_rate"]) == pytest.approx(1e-2)


def test_scalars_pass_the_barrier_unchanged_and_arrays_come_back_equal():
    tree = {"step": jnp.asarray(3), "m": jnp.ones(4), "none": None}
    hidden = jax.make_jaxpr(_one_pass._behind_barrier)(tree)
    (barrier,) = [e for e in hidden.eqns if e.primitive.name == "optimization_barrier"]
    assert [v.aval.shape for v in barrier.invars] == [(4,)]  # only the array of rank >= 1
    assert_trees_equal(_one_pass._behind_barrier(tree), tree)


# --- With XLA's multi-output fusion on: a subprocess -------------------------------------------

N = 1 << 14


def run_checks():
    """Kernels and results of compiled steps, as a JSON-ready dict; runs with the option on."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "hlo_passes.py"
    spec = importlib.util.spec_from_file_location("hlo_passes", path)
    hlo_passes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hlo_passes)

    def step_of(opt, compiler_options=None):
        def step(params, state, grads):
            updates, state = opt.update(grads, state, params)
            return gx.apply_updates(params, updates), state
        return jax.jit(step, compiler_options=compiler_options)

    params = {"w": jnp.linspace(-1.0, 1.0, N, dtype=jnp.float32)}
    results = {}
    for name in ("sgd", "adam", "adamw", "nadam", "adamax", "rmsprop", "adagrad"):
        kwargs = {"momentum": 0.9} if name == "sgd" else {}
        for label, opt in (("plain", getattr(gx, name)(1e-3, **kwargs)),
                           ("one_pass", gx.one_pass(getattr(gx, name)(1e-3, **kwargs)))):
            state = opt.init(params)
            text = step_of(opt).lower(params, state, params).compile().as_text()
            passes = hlo_passes.count_passes(text, N)
            results[f"{name} {label}"] = [passes.count, passes.bytes // (4 * N)]
    # The README's per-step request for 512-bit vectors, accepted by this JAX and XLA.
    wide = {"xla_cpu_prefer_vector_width": 512}
    opt = gx.one_pass(gx.adam(1e-3))
    text = step_of(opt, wide).lower(params, opt.init(params), params).compile().as_text()
    passes = hlo_passes.count_passes(text, N)
    results["adam one_pass 512-bit"] = [passes.count, passes.bytes // (4 * N)]
    # Three jitted steps of Adam, with and without one_pass (and 512-bit vectors): the same
    # params and state.
    carries = {}
    for label, opt, options in (("plain", gx.adam(1e-2), None),
                                ("one_pass", gx.one_pass(gx.adam(1e-2)), None),
                                ("one_pass 512-bit", gx.one_pass(gx.adam(1e-2)), wide)):
        step, carry = step_of(opt, options), (params, opt.init(params))
        for t in range(3):
            carry = step(*carry, {"w": jnp.cos(params["w"] * (t + 1))})
        carries[label] = carry
    for label in ("one_pass", "one_pass 512-bit"):
        results[f"max_relative_difference {label}"] = max(
            float(jnp.max(jnp.abs(a - b) / jnp.maximum(jnp.abs(b), 1e-30)))
            for a, b in zip(jax.tree.leaves(carries[label]), jax.tree.leaves(carries["plain"]))
        )
    return results


@pytest.fixture(scope="module")
def fused():
    env = {**os.environ, "XLA_FLAGS": OPTION, "JAX_PLATFORMS": "cpu"}
    here = os.path.dirname(os.path.abspath(__file__))
    done = subprocess.run([sys.executable, os.path.abspath(__file__)], check=False, env=env, cwd=here,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# Kernels touching params-sized arrays, and the arrays they move. With the option and without
# one_pass, XLA merges the moments' kernels but not the params': Adam makes 2 passes, 9 arrays.
ONE_KERNEL = {"sgd": 5, "adam": 7, "adamw": 7, "nadam": 7, "adamax": 7, "rmsprop": 5, "adagrad": 5}


@pytest.mark.parametrize("name", sorted(ONE_KERNEL))
def test_with_multi_output_fusion_the_step_is_one_kernel_reading_and_writing_each_array_once(fused, name):
    assert fused[f"{name} one_pass"] == [1, ONE_KERNEL[name]]
    plain_kernels, plain_arrays = fused[f"{name} plain"]
    assert plain_kernels == 2 and plain_arrays > ONE_KERNEL[name]


def test_with_multi_output_fusion_one_pass_adam_ends_where_adam_does(fused):
    # Two compiled programs: XLA may round a fused expression differently (a float32 ulp or two).
    assert fused["max_relative_difference one_pass"] <= 3e-7


def test_512_bit_vectors_asked_for_one_step_keep_it_one_kernel_and_its_results(fused):
    assert fused["adam one_pass 512-bit"] == [1, ONE_KERNEL["adam"]]
    assert fused["max_relative_difference one_pass 512-bit"] <= 3e-7


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    print(json.dumps(run_checks()))
