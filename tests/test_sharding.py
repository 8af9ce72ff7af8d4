"""Sharding with JAX's own SPMD, on 8 simulated CPU devices (a 2 x 4 mesh, axes data and model).

The test process has one device (conftest.py), and the device count is fixed when JAX starts,
so this file also runs as a script: the tests start it once, in a subprocess with
``XLA_FLAGS=--xla_force_host_platform_device_count=8``, and check the JSON it prints.
"""
import json
import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # make test-fast leaves this module out

COLLECTIVE = re.compile(r"\b(all-gather|all-to-all|collective-permute|reduce-scatter|all-reduce)(-start)?\(")


def specs():
    from jax.sharding import PartitionSpec as P

    return {
        "rows": ((8, 4), P("model", None)),
        "columns": ((4, 8), P(None, "model")),
        "grid": ((8, 8), P("data", "model")),
        "vector": ((8,), P("model")),
        "replicated": ((6,), P()),
        "scale": ((), P()),
    }


def sharded_params(mesh, replicated=False):
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    rng = np.random.default_rng(0)
    return {
        name: jax.device_put(jnp.asarray(rng.normal(size=shape)), NamedSharding(mesh, P() if replicated else spec))
        for name, (shape, spec) in specs().items()
    }


def collectives(compiled_text):
    return sorted({m.group(1) for m in COLLECTIVE.finditer(compiled_text)})


def state_follows_params(state, params):
    """Paths of state leaves shaped like a param whose sharding differs from that param's."""
    import jax

    by_path = {tuple(p): leaf for p, leaf in jax.tree_util.tree_flatten_with_path(params)[0]}
    wrong = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
        for cut in range(len(path)):
            param = by_path.get(tuple(path[cut:]))
            if param is not None and param.shape == leaf.shape:
                if not leaf.sharding.is_equivalent_to(param.sharding, leaf.ndim):
                    wrong.append(jax.tree_util.keystr(path))
                break
    return wrong


def state_kinds(state):
    """The names of the state types (NamedTuple-shaped nodes) in ``state``."""
    import jax

    kinds = set()

    def seen(node):  # never a leaf: records each state node's type on the way down
        if isinstance(node, tuple) and hasattr(node, "_fields"):
            kinds.add(type(node).__name__)
        return False

    jax.tree.leaves(state, is_leaf=seen)
    return kinds


def covering_every_state_kind(states):
    """A few names of ``states`` (greedily chosen) whose states hold every kind that any holds."""
    kinds = {name: state_kinds(state) for name, state in states.items()}
    left, chosen = set().union(*kinds.values()), []
    while left:
        best = max(kinds, key=lambda name: len(kinds[name] & left))
        chosen.append(best)
        left -= kinds[best]
    return chosen


def step_fn(opt):
    import gradxform as gx

    def step(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return gx.apply_updates(params, updates), state

    return step


def run_checks():
    """Every check, as a JSON-ready dict; runs with 8 devices."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import Mesh
    from registry import REGISTRY

    import gradxform as gx

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_numpy_dtype_promotion", "strict")
    mesh = Mesh(np.array(jax.devices()).reshape(2, 4), ("data", "model"))
    params = sharded_params(mesh)
    grads = jax.tree.map(lambda p: p * 0.5 + 0.1, params)
    results = {"devices": jax.device_count()}

    # 1. The state of every alias follows the params' shardings: made eagerly, made under jit
    #    (where zeros alone would be replicated, as Optax's are), and after two jitted steps.
    #    One program inits every alias (one compilation, not one per alias). Steps compile slowly
    #    (~0.5 s each), so they run for a few aliases that together use every kind of state.
    opts = {entry.name: entry.make() for entry in REGISTRY}
    results["state_follows_params"] = {
        name: state_follows_params(opt.init(params), params) for name, opt in opts.items()
    }
    states = jax.jit(lambda p: {name: opt.init(p) for name, opt in opts.items()})(params)
    results["state_follows_params_jit"] = {name: state_follows_params(s, params) for name, s in states.items()}
    follows_steps = {}
    plain = {entry.name for entry in REGISTRY if entry.needs_extra_args is None}  # update(g, s, p) alone
    for name in covering_every_state_kind({n: s for n, s in states.items() if n in plain}):
        step, p, state = jax.jit(step_fn(opts[name])), params, states[name]
        for _ in range(2):
            p, state = step(p, state, grads)
        follows_steps[name] = state_follows_params(state, params)
    results["state_follows_params_steps"] = follows_steps
    steppable = {n: s for n, s in states.items() if n in plain}  # kinds of the others: init checks only
    results["state_kinds"] = [sorted(state_kinds(steppable)),
                              sorted(state_kinds({n: states[n] for n in follows_steps}))]

    # A narrower moment dtype, complex params and None leaves, under jit.
    mu = jax.jit(gx.adam(1e-2, mu_dtype=jnp.bfloat16).init)(params)[0].numerator[0].mu
    results["bf16_mu"] = {
        "wrong": state_follows_params(mu, params), "dtypes": sorted({str(m.dtype) for m in mu.values()})
    }
    odd = dict(jax.tree.map(lambda p: jax.lax.complex(p, -p), params), none=None)
    results["complex_and_none"] = state_follows_params(jax.jit(gx.adam(1e-2).init)(odd), odd)

    # 2. Grouped by sharding: no collective in the compiled step, as in the per-leaf step.
    flat_opt, plain_opt = gx.flatten(gx.adam(1e-2)), gx.adam(1e-2)
    flat_state = flat_opt.init(params)
    results["groups"] = {
        name: [str(buffer.sharding.spec), buffer.shape[0]]
        for name, buffer in flat_state.inner[0].numerator[0].mu.items()
    }
    # Under jit the params are tracers without a sharding: grouped by dtype alone (documented);
    # an abstract template closing over the params sees their shardings.
    results["flatten_under_jit"] = {
        "groups": jax.jit(flat_opt.init)(params).layout.names(),
        "closure_template_is_eager_layout": jax.eval_shape(lambda: flat_opt.init(params)).layout == flat_state.layout,
    }
    for name, opt in (("flatten", flat_opt), ("plain", plain_opt)):
        text = jax.jit(step_fn(opt)).lower(params, opt.init(params), grads).compile().as_text()
        results[f"collectives_{name}"] = collectives(text)
    flat_out = jax.jit(step_fn(flat_opt))(params, flat_state, grads)
    plain_out = jax.jit(step_fn(plain_opt))(params, plain_opt.init(params), grads)
    results["flatten_params_equal_plain"] = all(
        np.array_equal(np.asarray(a), np.asarray(b))
        for a, b in zip(jax.tree.leaves(flat_out[0]), jax.tree.leaves(plain_out[0]))
    )
    results["flatten_params_keep_sharding"] = all(
        a.sharding.is_equivalent_to(b.sharding, a.ndim)
        for a, b in zip(jax.tree.leaves(flat_out[0]), jax.tree.leaves(params))
    )

    # Groups cut at 10 elements a row: still no collective, still the per-leaf results.
    sized_opt = gx.flatten(gx.adam(1e-2), buffer_size=10)
    sized_state = sized_opt.init(params)
    results["sized_groups"] = {
        name: [str(buffer.sharding.spec), buffer.shape[0]]
        for name, buffer in sized_state.inner[0].numerator[0].mu.items()
    }
    sized_step = jax.jit(step_fn(sized_opt))
    results["collectives_sized"] = collectives(sized_step.lower(params, sized_state, grads).compile().as_text())
    sized_out = sized_step(params, sized_state, grads)
    results["sized_params_equal_plain"] = all(
        np.array_equal(np.asarray(a), np.asarray(b))
        for a, b in zip(jax.tree.leaves(sized_out[0]), jax.tree.leaves(plain_out[0]))
    )

    # 3. ZeRO-1: replicated params, state split across "data"; results equal the unsplit run.
    replicated = sharded_params(mesh, replicated=True)
    zero_opt = gx.flatten(gx.adam(1e-2), shard_state_over=(mesh, "data"))
    full_opt = gx.flatten(gx.adam(1e-2))
    zero_sized_opt = gx.flatten(gx.adam(1e-2), shard_state_over=(mesh, "data"), buffer_size=10)
    zero_state, full_state = zero_opt.init(replicated), full_opt.init(replicated)
    results["zero_jitted_init_is_eager_layout"] = jax.jit(zero_opt.init)(replicated).layout == zero_state.layout
    mu = zero_state.inner[0].numerator[0].mu["float64"]
    results["zero_mu"] = {
        "spec": str(mu.sharding.spec),
        "size": mu.shape[0],
        "shard_sizes": sorted({s.data.shape[0] for s in mu.addressable_shards}),
        "elements": sum(int(np.prod(s)) for s, _ in specs().values()),
    }
    replicated_grads = jax.tree.map(lambda p: p * 0.5 + 0.1, replicated)
    zero_step, full_step = jax.jit(step_fn(zero_opt)), jax.jit(step_fn(full_opt))
    zero_text = zero_step.lower(replicated, zero_state, replicated_grads).compile().as_text()
    full_text = full_step.lower(replicated, full_state, replicated_grads).compile().as_text()
    results["collectives_zero"], results["collectives_unsplit"] = collectives(zero_text), collectives(full_text)
    rng = np.random.default_rng(1)
    grad_steps = [jax.tree.map(lambda p: jax.device_put(rng.normal(size=p.shape), p.sharding), replicated)
                  for _ in range(4)]
    zero_sized_mu = zero_sized_opt.init(replicated).inner[0].numerator[0].mu
    results["zero_sized_mu"] = {name: [str(m.sharding.spec), m.shape[0]] for name, m in zero_sized_mu.items()}
    for mode, opt in (("eager", zero_opt), ("jit", zero_opt), ("sized", zero_sized_opt)):
        zero = (replicated, opt.init(replicated), jax.jit(step_fn(opt)) if mode == "jit" else step_fn(opt))
        full_step_fn = jax.jit(step_fn(full_opt)) if mode == "jit" else step_fn(full_opt)
        full = (replicated, full_opt.init(replicated), full_step_fn)
        worst = 0.0
        for g in grad_steps:
            zero = zero[2](zero[0], zero[1], g) + (zero[2],)
            full = full[2](full[0], full[1], g) + (full[2],)
            for a, b in zip(jax.tree.leaves(zero[0]), jax.tree.leaves(full[0])):
                a, b = np.asarray(a), np.asarray(b)
                worst = max(worst, float(np.max(np.abs(a - b) / (np.abs(b) + 1e-300))))
        results[f"zero_vs_unsplit_{mode}"] = worst
        results[f"zero_state_{mode}"] = str(zero[1].inner[0].numerator[0].mu["float64"].sharding.spec)

    return results


@pytest.fixture(scope="module")
def results():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}
    here = os.path.dirname(os.path.abspath(__file__))
    done = subprocess.run(
        [sys.executable, os.path.abspath(__file__)],
        check=False, env=env, cwd=here, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_checks_ran_on_eight_devices(results):
    assert results["devices"] == 8


@pytest.mark.parametrize("made", ["state_follows_params", "state_follows_params_jit"], ids=["eagerly", "under_jit"])
def test_every_alias_makes_its_state_sharded_like_the_params(results, made):
    assert len(results[made]) > 40  # every registry entry was checked
    wrong = {name: paths for name, paths in results[made].items() if paths}
    assert wrong == {}


def test_jitted_steps_keep_every_kind_of_state_sharded_like_the_params(results):
    every_kind, stepped_kinds = results["state_kinds"]
    assert len(every_kind) > 10 and stepped_kinds == every_kind
    wrong = {name: paths for name, paths in results["state_follows_params_steps"].items() if paths}
    assert wrong == {}


def test_a_jitted_init_shards_a_bfloat16_moment_like_its_float64_param(results):
    assert results["bf16_mu"] == {"wrong": [], "dtypes": ["bfloat16"]}


def test_a_jitted_init_shards_complex_params_state_and_keeps_none_leaves(results):
    assert results["complex_and_none"] == []


def test_flatten_makes_one_buffer_per_dtype_and_sharding(results):
    # rows and columns are both cut along "model" (8 x 4 and 4 x 8 elements, each 1/4 per device).
    assert results["groups"] == {
        "float64": ["P()", 6 + 1],
        "float64[model]": ["P('model',)", 32 + 32 + 8],
        "float64[data,model]": ["P(('data', 'model'),)", 64],
    }


def test_flatten_init_under_jit_groups_by_dtype_alone_but_a_closure_template_sees_shardings(results):
    assert results["flatten_under_jit"] == {"groups": ["float64"], "closure_template_is_eager_layout": True}


def test_the_grouped_step_adds_no_collective_like_the_per_leaf_step(results):
    assert results["collectives_plain"] == []
    assert results["collectives_flatten"] == []


def test_the_grouped_step_on_sharded_params_equals_the_per_leaf_step(results):
    assert results["flatten_params_equal_plain"]
    assert results["flatten_params_keep_sharding"]


def test_zero1_splits_the_state_of_replicated_params_across_data(results):
    zero = results["zero_mu"]
    assert zero["spec"] == "P('data',)"
    padded = -(-zero["elements"] // 2) * 2  # each row padded to a multiple of the 2 data devices
    assert zero["size"] == padded and zero["shard_sizes"] == [padded // 2]
    assert results["zero_state_eager"] == results["zero_state_jit"] == "P('data',)"
    assert results["zero_jitted_init_is_eager_layout"]  # the mesh is given: nothing to see


def test_a_buffer_size_cuts_sharded_groups_between_leaves_and_keeps_the_results(results):
    # Per row (device block) of the "model" group: columns 8, then rows 8 + vector 2 (<= 10).
    assert results["sized_groups"] == {
        "float64": ["P()", 6 + 1],
        "float64[model]": ["P('model',)", 8 * 4],
        "float64[model]#1": ["P('model',)", (8 + 2) * 4],
        "float64[data,model]": ["P(('data', 'model'),)", 64],
    }
    assert results["collectives_sized"] == []
    assert results["sized_params_equal_plain"]


def test_zero1_with_a_buffer_size_splits_each_buffer_and_keeps_the_results(results):
    # Replicated leaves in tree order: columns 32, grid 64, replicated 6, rows 32, scale 1 +
    # vector 8 (9, padded to 10, a multiple of the 2 data devices).
    assert results["zero_sized_mu"] == {
        "float64": ["P('data',)", 32], "float64#1": ["P('data',)", 64], "float64#2": ["P('data',)", 6],
        "float64#3": ["P('data',)", 32], "float64#4": ["P('data',)", 10],
    }
    assert results["zero_vs_unsplit_sized"] == 0.0


def test_zero1_adds_only_the_all_gather_of_the_updates(results):
    assert results["collectives_unsplit"] == []
    assert results["collectives_zero"] == ["all-gather"]


def test_zero1_gives_the_unsplit_results_bit_for_bit_op_by_op(results):
    assert results["zero_vs_unsplit_eager"] == 0.0


def test_zero1_under_jit_agrees_with_the_unsplit_run_to_the_last_bit(results):
    # Two compiled programs: XLA may reassociate divisions differently in each (gradxform.grouped.layouts).
    assert results["zero_vs_unsplit_jit"] <= 4e-16


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    print(json.dumps(run_checks()))
