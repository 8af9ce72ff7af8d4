"""The compiled step's passes over memory: gradxform's recipes compile to no more params-sized
kernels, moving no more bytes, than Optax's fused transformations.

Counted in XLA's optimized HLO by ``benchmarks/hlo_passes.py`` (one counter for the benchmark
and the tests). Steps are lowered on ``jax.ShapeDtypeStruct``: nothing is allocated or run.
"""
import importlib.util
import pathlib
import re

import jax
import jax.numpy as jnp
import optax
import pytest

import gradxform as gx

pytestmark = pytest.mark.slow  # make test-fast leaves this module out

_PATH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "hlo_passes.py"
_SPEC = importlib.util.spec_from_file_location("hlo_passes", _PATH)
hlo_passes = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(hlo_passes)

SHAPE = (512, 512)
N = SHAPE[0] * SHAPE[1]


def _passes(optimizer, apply_updates, shape=SHAPE):
    params = {"w": jax.ShapeDtypeStruct(shape, jnp.float32)}
    state = jax.eval_shape(optimizer.init, params)
    step = hlo_passes.plain_step(optimizer, apply_updates)
    compiled = jax.jit(step, donate_argnums=(0, 1)).lower(params, state, params).compile()
    return hlo_passes.count_passes(compiled.as_text(), shape[0] * shape[1])


def test_counter_sees_one_kernel_moving_three_arrays_in_a_triad():
    x = jax.ShapeDtypeStruct((N,), jnp.float32)
    scale = jax.ShapeDtypeStruct((), jnp.float32)
    triad = jax.jit(lambda s, x, y: (s + 1) * x + y, donate_argnums=2)
    passes = hlo_passes.count_passes(triad.lower(scale, x, x).compile().as_text(), N)
    assert passes.count == 1  # the scalar s + 1 is a kernel too, but touches no large buffer
    assert passes.bytes == 3 * 4 * N
    assert passes.kernels[0].reads == 2 * 4 * N and passes.kernels[0].writes == 4 * N


def test_counter_ignores_arrays_below_the_size_threshold():
    small = jax.ShapeDtypeStruct((N - 1,), jnp.float32)
    text = jax.jit(lambda x: x * 2).lower(small).compile().as_text()
    assert hlo_passes.count_passes(text, N).count == 0
    assert hlo_passes.count_passes(text, N - 1).bytes == 2 * 4 * (N - 1)


ALIASES = [
    ("adam", {}),
    ("adamw", {}),
    ("nadam", {}),
    ("amsgrad", {}),
    ("adamax", {}),
    ("rmsprop", {}),
    ("adagrad", {}),
    ("sgd", {"momentum": 0.9}),
    ("lion", {}),
    ("adam", {"mu_dtype": jnp.bfloat16}),
]


@pytest.mark.parametrize(
    "name, kwargs", ALIASES, ids=[n + ("-bf16-mu" if k.get("mu_dtype") else "") for n, k in ALIASES]
)
def test_gradxform_step_makes_no_more_passes_over_memory_than_optax(name, kwargs):
    ours = _passes(getattr(gx, name)(1e-3, **kwargs), gx.apply_updates)
    with jax.numpy_dtype_promotion("standard"):
        theirs = _passes(getattr(optax, name)(1e-3, **kwargs), optax.apply_updates)
    assert ours.count >= 1
    assert ours.count <= theirs.count, (ours.kernels, theirs.kernels)
    assert ours.bytes <= theirs.bytes, (ours.kernels, theirs.kernels)


@pytest.mark.parametrize("library", ["gradxform", "optax"])
def test_one_pass_formulation_takes_the_same_steps_as_the_plain_step(library):
    # benchmarks/hlo_passes.py's one-pass formulation recomputes the update behind an
    # optimization barrier; it must compute the same params and state (XLA may fuse the two
    # programs differently, so allow a float32 ulp or two).
    lib = gx if library == "gradxform" else optax
    optimizer = lib.adam(1e-2)
    steps = [jax.jit(build(optimizer, lib.apply_updates))
             for build in (hlo_passes.plain_step, hlo_passes.one_pass_step)]
    params = {"w": jnp.linspace(-1.0, 1.0, 64, dtype=jnp.float32).reshape(8, 8)}
    carries = [(params, optimizer.init(params))] * 2
    for t in range(3):
        grads = {"w": jnp.cos(params["w"] * (t + 1))}
        with jax.numpy_dtype_promotion("standard"):  # Optax mixes int and float
            carries = [step(*carry, grads) for step, carry in zip(steps, carries)]
    for a, b in zip(jax.tree.leaves(carries[0]), jax.tree.leaves(carries[1]), strict=True):
        assert a.dtype == b.dtype
        assert jnp.allclose(a, b, rtol=3e-7, atol=0), (a, b)


def _kernels(optimizer, apply_updates) -> list[str]:
    """The result shape of every kernel (fusion, copy, concatenate) of a small donated step."""
    params = {"a": jax.ShapeDtypeStruct((64,), jnp.float32), "b": jax.ShapeDtypeStruct((8, 8), jnp.float32)}
    state = jax.eval_shape(optimizer.init, params)
    step = hlo_passes.plain_step(optimizer, apply_updates)
    text = jax.jit(step, donate_argnums=(0, 1)).lower(params, state, params).compile().as_text()
    entry = text[text.index("ENTRY"):]
    return re.findall(r"= (\S+) (?:fusion|copy|concatenate)\(", entry)


def _bank_shape(optimizer) -> tuple:
    return jax.eval_shape(optimizer.init, {"a": jnp.zeros(64), "b": jnp.zeros((8, 8))}).hyperparams.table.shape


SCHEDULED_TABLES = {
    "nadam": lambda: gx.nadam(gx.linear_schedule(1e-3, 1e-4, 10)),
    "nine scaled links": lambda: gx.chain(*[gx.scale(gx.linear_schedule(1.0, 1.0 - 0.01 * i, 10)) for i in range(9)]),
}


@pytest.mark.parametrize("name", sorted(SCHEDULED_TABLES))
def test_a_table_of_scheduled_hyperparameters_is_written_by_one_kernel(name):
    optimizer = SCHEDULED_TABLES[name]()  # rewritten every step
    rows, columns = _bank_shape(optimizer)
    shapes = _kernels(optimizer, gx.apply_updates)
    assert not [s for s in shapes if re.match(rf"[a-z0-9]+\[1,{columns}\]", s)]  # no kernel per row
    written = [s for s in shapes if re.match(rf"[a-z0-9]+\[{rows},{columns}\]", s)]
    assert 1 <= len(written) <= 2  # its rewrite, and the copy that keeps the old bank readable


WRAPPED = {
    "flatten": lambda: gx.flatten(gx.adam(1e-3)),
    "one_pass": lambda: gx.one_pass(gx.adam(1e-3), require_fusion=False),
    "chain in chain": lambda: gx.chain(gx.clip_by_global_norm(1.0), gx.adam(1e-3)),
    "named_chain": lambda: gx.named_chain(("clip", gx.clip_by_global_norm(1.0)), ("adam", gx.adam(1e-3))),
}


def _hyperparameter_shapes(optimizer) -> set[str]:
    """HLO shapes (``f32[7,3]``) of the state's arrays that hold hyperparameters."""
    state = jax.eval_shape(optimizer.init, {"a": jnp.zeros(64), "b": jnp.zeros((8, 8))})
    return {
        f"{jnp.dtype(leaf.dtype).name.replace('float', 'f')}[{','.join(map(str, leaf.shape))}]"
        for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]
        if "hyperparams" in jax.tree_util.keystr(path)
    }


@pytest.mark.parametrize("name", sorted(WRAPPED))
def test_wrapped_banks_and_records_without_schedules_are_written_by_no_kernel(name):
    optimizer = WRAPPED[name]()
    held = _hyperparameter_shapes(optimizer)
    shapes = _kernels(optimizer, gx.apply_updates)
    assert held and shapes  # the state holds hyperparameters; the step's kernels were found
    assert not [s for s in shapes if s.split("{")[0] in held]


@pytest.mark.parametrize("name", ["sgd", "rmsprop", "adam", "nadam"])
def test_a_bank_without_schedules_is_passed_through_by_no_kernel(name):
    optimizer = getattr(gx, name)(1e-3)
    rows, columns = _bank_shape(optimizer)
    shapes = _kernels(optimizer, gx.apply_updates)
    assert shapes  # the step's kernels were found
    assert not [s for s in shapes if re.search(rf"\[{rows},{columns}\]", s)]  # neither written nor copied
