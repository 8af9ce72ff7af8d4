"""The grouped multi-tensor mode on every alias, and params kept flat with ravel_by_group.

Every alias in the registry either runs under flatten with the per-leaf run's results, bit for
bit, or is rejected with the reason it is not leaf-wise; none silently changes its results.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from registry import REGISTRY
from wrapper_trees import (
    assert_same_but_last_bits_of_scalars,
    assert_trees_equal,
    gradient_sequence,
)

import gradxform as gx
from gradxform.grouped import leafwise as _leafwise

pytestmark = pytest.mark.slow  # make test-fast leaves this module out

# Aliases that depend on the tree, and the reason flatten gives for rejecting them (the
# registry's flat_rejection). Every other alias in the registry must give bit-identical results
# under flatten. Aliases with a reduction over every leaf (SWATS projects the update onto the
# gradient) run flat and add the same terms in another order; on this tree the sums round alike.
NOT_LEAFWISE = {e.name: e.flat_rejection for e in REGISTRY if e.flat_rejection}
GLOBAL_REDUCTION = {e.name for e in REGISTRY if e.global_reduction}


def params_tree():
    """float64 and float32 leaves, a 0-d leaf, an empty leaf and a None, nested."""
    rng = np.random.default_rng(7)
    return {
        "dense": {"kernel": jnp.asarray(rng.normal(size=(3, 4))), "bias": jnp.asarray(rng.normal(size=4))},
        "head": [jnp.asarray(rng.normal(size=(4, 2)), jnp.float32), None, jnp.zeros((0, 3))],
        "gain": jnp.asarray(rng.normal(size=5), jnp.float32),
        "temperature": jnp.asarray(rng.normal()),
    }


def run_both(make, steps=3, extra_args=None, jit=False):
    """(flat run, per-leaf run): the updates of each step and the final params."""
    params = params_tree()
    grads = gradient_sequence(params, steps, seed=11)
    runs = []
    for opt in (gx.flatten(make()), make()):
        state, p, outputs = opt.init(params), params, []
        update = jax.jit(opt.update) if jit else opt.update
        for g in grads:
            kwargs = extra_args(p, g) if extra_args else {}
            u, state = update(g, state, p, **kwargs)
            p = gx.apply_updates(p, u)
            outputs.append(u)
        runs.append((outputs, p))
    return runs


def test_every_registry_entry_has_its_own_name():
    names = [e.name for e in REGISTRY]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []


@pytest.mark.parametrize("entry", [pytest.param(e, id=e.name) for e in REGISTRY if e.name not in NOT_LEAFWISE])
def test_flatten_reproduces_every_leafwise_alias_bit_for_bit(entry):
    (flat_updates, flat_params), (updates, params) = run_both(entry.make, extra_args=entry.needs_extra_args)
    for a, b in zip(flat_updates + [flat_params], updates + [params]):
        if entry.global_reduction:  # a sum over every leaf: the flat run adds in another order
            jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-12), a, b)
        else:
            assert_same_but_last_bits_of_scalars(a, b)


@pytest.mark.parametrize("entry", [pytest.param(e, id=e.name) for e in REGISTRY if e.name in NOT_LEAFWISE])
def test_flatten_rejects_every_alias_that_depends_on_the_tree(entry):
    opt = gx.flatten(entry.make())
    params = params_tree()
    state = opt.init(params)
    extra_args = entry.needs_extra_args(params, params) if entry.needs_extra_args else {}
    with pytest.raises(ValueError, match=NOT_LEAFWISE[entry.name]):
        jax.jit(opt.update)(gradient_sequence(params, 1)[0], state, params, **extra_args)


def verdict(transform, params, **extra_args):
    state = jax.eval_shape(transform.init, params)
    return _leafwise.check("test", transform.update, params, state, params, extra_args)


@pytest.mark.parametrize("name", sorted(GLOBAL_REDUCTION))
def test_the_check_reports_a_reduction_over_every_leaf(name):
    (entry,) = [e for e in REGISTRY if e.name == name]
    params = params_tree()
    extra_args = entry.needs_extra_args(params, params) if entry.needs_extra_args else {}
    assert verdict(entry.make(), params, **extra_args).global_reduction


def test_an_element_wise_alias_has_no_global_reduction():
    assert not verdict(gx.adam(1e-3), params_tree()).global_reduction


def test_a_global_norm_clip_runs_flat_and_agrees_to_rounding():
    make = lambda: gx.chain(gx.clip_by_global_norm(0.5), gx.adam(1e-2))
    assert verdict(make(), params_tree()).global_reduction
    (flat_updates, _), (updates, _) = run_both(make)
    for a, b in zip(flat_updates, updates):
        jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-12), a, b)


def test_a_mask_inside_flatten_is_rejected_and_outside_it_is_exact():
    decay_matrices = lambda tree: jax.tree.map(lambda v: v.ndim > 1, tree)
    inside = gx.flatten(gx.chain(gx.scale_by_momentum(0.9), gx.masked(gx.weight_decay(0.1), decay_matrices)))
    params = params_tree()
    with pytest.raises(ValueError, match="treats leaves .* differently"):
        inside.update(params, inside.init(params), params)
    outside = lambda: gx.chain(gx.flatten(gx.scale_by_momentum(0.9)), gx.masked(gx.weight_decay(0.1), decay_matrices))
    plain = gx.chain(gx.scale_by_momentum(0.9), gx.masked(gx.weight_decay(0.1), decay_matrices))
    a, _ = outside().update(params, outside().init(params), params)
    b, _ = plain.update(params, plain.init(params), params)
    assert_trees_equal(a, b)


def test_a_per_leaf_norm_is_rejected_naming_the_leaf():
    opt = gx.flatten(gx.clip_by_norm(1.0))
    params = params_tree()
    with pytest.raises(ValueError, match=r"leaf \['dense'\]\['bias'\] as a whole"):
        opt.update(params, opt.init(params), params)


def test_a_tree_with_one_leaf_is_always_accepted():
    params = {"w": jnp.arange(6.0).reshape(3, 2)}
    opt = gx.flatten(gx.lamb(1e-2))
    updates, _ = opt.update(params, opt.init(params), params)
    assert updates["w"].shape == (3, 2)


def test_the_check_runs_once_per_layout():
    calls = []
    inner = gx.scale_by_momentum(0.9)
    counted = gx.GradientTransformation(inner.init, lambda *a, **k: (calls.append(1), inner.update(*a, **k))[1])
    opt, params = gx.flatten(counted), params_tree()
    state = opt.init(params)
    for _ in range(3):
        _, state = opt.update(params, state, params)
    assert len(calls) == 3 + 1  # three updates and one abstract trace for the check


def test_the_state_names_the_group_buffers_and_hyperparameters_stay_readable():
    state = gx.flatten(gx.adam(1e-2)).init(params_tree())
    has_mu = lambda s: hasattr(s, "mu")
    (mu,) = [s.mu for s in jax.tree.leaves(state, is_leaf=has_mu) if has_mu(s)]
    assert sorted(mu) == ["float32", "float64"]
    assert mu["float64"].shape == (3 * 4 + 4 + 0 + 1,) and mu["float32"].shape == (4 * 2 + 5,)
    assert float(gx.hyperparams(state)["learning_rate"]) == pytest.approx(1e-2)


def test_updates_of_another_structure_are_rejected():
    opt, params = gx.flatten(gx.sgd(0.1)), params_tree()
    state = opt.init(params)
    with pytest.raises(ValueError, match="different tree structures"):
        opt.update({"w": jnp.zeros(3)}, state)


def test_shard_state_over_must_name_a_mesh_axis():
    with pytest.raises(ValueError, match=r"\(mesh, axis\) pair"):
        gx.flatten(gx.sgd(0.1), shard_state_over="data")


# --- Params kept flat -------------------------------------------------------------------------


def test_ravel_by_group_round_trips_every_leaf_exactly():
    params = params_tree()
    buffers, unravel = gx.ravel_by_group(params)
    assert sorted(buffers) == ["float32", "float64"]
    assert all(b.ndim == 1 for b in buffers.values())
    assert_trees_equal(unravel(buffers), params)
    assert_trees_equal(jax.jit(unravel)(buffers), params)


def test_unravel_rejects_other_buffers():
    _, unravel = gx.ravel_by_group(params_tree())
    with pytest.raises(ValueError, match=r"keys \['float32', 'float64'\], got \['float64'\]"):
        unravel({"float64": jnp.zeros(3)})


def test_buffer_size_cuts_each_group_between_leaves():
    # Tree order: dense.bias (4), dense.kernel (12), gain (5, float32), head[0] (8, float32),
    # head[2] (0), temperature (1). At most 8 elements a buffer; a larger leaf stands alone.
    params = params_tree()
    buffers, unravel = gx.ravel_by_group(params, buffer_size=8)
    assert {name: b.shape[0] for name, b in buffers.items()} == {
        "float64": 4, "float64#1": 12, "float64#2": 0 + 1, "float32": 5, "float32#1": 8,
    }
    assert_trees_equal(unravel(buffers), params)
    assert_trees_equal(jax.jit(unravel)(buffers), params)
    assert len(gx.ravel_by_group(params, buffer_size=10**9)[0]) == 2  # the same as no limit


@pytest.mark.parametrize("make", [lambda: gx.adam(1e-2), lambda: gx.sgd(0.1, momentum=0.9, nesterov=True)],
                         ids=["adam", "sgd_nesterov"])
def test_flatten_with_a_buffer_size_gives_the_per_leaf_results(make):
    params = params_tree()
    grads = gradient_sequence(params, 3, seed=11)
    sized, plain = gx.flatten(make(), buffer_size=6), make()
    sized_state, plain_state = sized.init(params), plain.init(params)
    assert sorted(sized_state.layout.names()) == ["float32", "float32#1", "float64", "float64#1", "float64#2"]
    for g in grads:
        a, sized_state = sized.update(g, sized_state, params)
        b, plain_state = plain.update(g, plain_state, params)
        assert_same_but_last_bits_of_scalars(a, b)


@pytest.mark.parametrize("bad", [0, -4])
def test_buffer_size_must_be_at_least_one(bad):
    with pytest.raises(ValueError, match=r"ravel_by_group: buffer_size must be an int >= 1, got "
                       rf"buffer_size={bad}\. Pass None for one buffer per group"):
        gx.ravel_by_group(params_tree(), buffer_size=bad)
    with pytest.raises(ValueError, match=r"flatten: buffer_size must be an int >= 1"):
        gx.flatten(gx.sgd(0.1), buffer_size=bad)


@pytest.mark.parametrize("bad", [2.5, True, "4096"])
def test_buffer_size_must_be_an_int(bad):
    with pytest.raises(TypeError, match=r"ravel_by_group: buffer_size must be an int, got .*Pass None for one buffer"):
        gx.ravel_by_group(params_tree(), buffer_size=bad)
    with pytest.raises(TypeError, match=r"flatten: buffer_size must be an int, got"):
        gx.flatten(gx.sgd(0.1), buffer_size=bad)


def mlp(n_layers, width=4, seed=0):
    rng = np.random.default_rng(seed)
    return {f"layer{k}": {"w": jnp.asarray(rng.normal(size=(width, width)) / width),
                          "b": jnp.asarray(rng.normal(size=width) / 10)} for k in range(n_layers)}


def loss(params, x):
    for layer in params.values():
        x = jnp.tanh(x @ layer["w"] + layer["b"][None, :])
    return jnp.sum(x**2)


@pytest.mark.parametrize("buffer_size", [None, 20], ids=["one_buffer", "cut_at_20"])
def test_training_on_flat_params_equals_the_per_leaf_run_bit_for_bit(buffer_size):
    params = mlp(3)
    x = jnp.asarray(np.random.default_rng(1).normal(size=(5, 4)))
    flat, unravel = gx.ravel_by_group(params, buffer_size=buffer_size)
    assert len(flat) == (1 if buffer_size is None else 3)  # b, w (4 + 16) per buffer of 20
    opt = gx.adam(1e-2)
    tree_grad = jax.jit(jax.grad(loss))
    flat_grad = jax.jit(jax.grad(lambda q, x: loss(unravel(q), x)))
    tree_state, flat_state = opt.init(params), opt.init(flat)
    for _ in range(4):
        # Updates op by op: under jit XLA may reassociate a chain of divisions differently for
        # differently shaped graphs (it does for the per-leaf run alone when a leaf is added).
        u, tree_state = opt.update(tree_grad(params, x), tree_state, params)
        params = gx.apply_updates(params, u)
        u, flat_state = opt.update(flat_grad(flat, x), flat_state, flat)
        flat = gx.apply_updates(flat, u)
    assert_trees_equal(unravel(flat), params)


def test_a_jitted_training_step_on_flat_params_agrees_to_the_last_bits():
    params = mlp(3)
    x = jnp.asarray(np.random.default_rng(1).normal(size=(5, 4)))
    flat, unravel = gx.ravel_by_group(params)
    opt = gx.adam(1e-2)

    def step(p, s, loss_of):
        u, s = opt.update(jax.grad(loss_of)(p, x), s, p)
        return gx.apply_updates(p, u), s

    tree_step = jax.jit(lambda p, s: step(p, s, loss))
    flat_step = jax.jit(lambda p, s: step(p, s, lambda q, x: loss(unravel(q), x)))
    tree_state, flat_state = opt.init(params), opt.init(flat)
    for _ in range(4):
        params, tree_state = tree_step(params, tree_state)
        flat, flat_state = flat_step(flat, flat_state)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-14, atol=0), unravel(flat), params)


def hlo_size(n_layers):
    """(parameters, instructions) of the compiled update-and-apply step on flat params."""
    flat, _ = gx.ravel_by_group(mlp(n_layers))
    opt = gx.flatten(gx.adam(1e-2))

    def step(p, g, s):
        u, s = opt.update(g, s, p)
        return gx.apply_updates(p, u), s

    text = jax.jit(step).lower(flat, flat, opt.init(flat)).as_text()
    return text.count("%arg"), sum(1 for line in text.splitlines() if " = " in line)


def test_the_step_on_flat_params_has_the_same_size_for_10_and_500_leaves():
    assert hlo_size(5) == hlo_size(250)
