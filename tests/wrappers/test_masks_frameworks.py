"""Masks from glob patterns on real Flax linen, Flax NNX and Haiku models (issue 18).

The README's "no weight decay on biases and norms" must do what it says on each framework's own
parameter names, and a pattern written for another framework must raise, not match nothing.
"""
import flax.linen as nn
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import gradxform as gx

X = jnp.ones((4, 3), jnp.float32)
NO_DECAY = ["*bias", "*norm*"]


def decayed_leaves(mask):
    return sorted(jax.tree_util.keystr(p) for p, m in jax.tree_util.tree_flatten_with_path(mask)[0] if m)


def moved_by_decay_alone(opt, params):
    """The paths whose update is nonzero when the gradient is zero: those that weight decay moves."""
    zeros = jax.tree.map(jnp.zeros_like, params)
    updates, _ = opt.update(zeros, opt.init(params), params)
    return sorted(jax.tree_util.keystr(p) for p, u in jax.tree_util.tree_flatten_with_path(updates)[0]
                  if np.any(np.asarray(u) != 0))


class LinenNet(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.LayerNorm()(nn.Dense(4)(x))
        return nn.Dense(2)(nn.BatchNorm(use_running_average=True)(x))


def test_linen_no_decay_on_biases_and_norms():
    params = LinenNet().init(jax.random.key(0), X)["params"]
    mask = gx.path_mask(params, exclude=NO_DECAY)
    assert decayed_leaves(mask) == ["['Dense_0']['kernel']", "['Dense_1']['kernel']"]
    opt = gx.adamw(1e-2, weight_decay=0.1, mask=lambda p: gx.path_mask(p, exclude=NO_DECAY))
    assert moved_by_decay_alone(opt, params) == ["['Dense_0']['kernel']", "['Dense_1']['kernel']"]


class NnxNet(nnx.Module):
    def __init__(self, rngs):
        self.linear = nnx.Linear(3, 4, rngs=rngs)
        self.norm = nnx.LayerNorm(4, rngs=rngs)
        self.out = nnx.Linear(4, 2, rngs=rngs)

    def __call__(self, x):
        return self.out(self.norm(self.linear(x)))


def test_nnx_paths_end_in_value_and_patterns_may_leave_it_out():
    model = NnxNet(nnx.Rngs(0))
    mask = gx.path_mask(nnx.state(model, nnx.Param), exclude=["*bias"])
    assert decayed_leaves(mask) == [
        "['linear']['kernel'].value", "['norm']['scale'].value", "['out']['kernel'].value"
    ]
    mask = gx.path_mask(nnx.state(model, nnx.Param), exclude=NO_DECAY)
    assert decayed_leaves(mask) == ["['linear']['kernel'].value", "['out']['kernel'].value"]


def test_nnx_optimizer_with_a_weight_decay_mask_decays_only_the_kernels():
    model = NnxNet(nnx.Rngs(0))
    model.linear.bias[...] = jnp.ones(4, jnp.float32)  # biases start at 0, which decay would not move
    model.out.bias[...] = jnp.ones(2, jnp.float32)
    before = jax.tree.map(np.array, nnx.state(model, nnx.Param))  # copies: NNX states are views
    tx = gx.adamw(1e-2, weight_decay=0.5, mask=lambda p: gx.path_mask(p, exclude=NO_DECAY))
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    optimizer.update(model, jax.tree.map(jnp.zeros_like, nnx.state(model, nnx.Param)))  # decay alone
    after = nnx.state(model, nnx.Param)
    moved = sorted(jax.tree_util.keystr(p) for (p, a), b in zip(jax.tree_util.tree_flatten_with_path(after)[0],
                                                               jax.tree.leaves(before)) if np.any(a != b))
    assert moved == ["['linear']['kernel'].value", "['out']['kernel'].value"]


def haiku_params():
    def forward(x):
        return hk.Linear(2)(hk.LayerNorm(-1, create_scale=True, create_offset=True)(hk.nets.MLP([4])(x)))

    return hk.transform(forward).init(jax.random.key(0), X)


def test_haiku_biases_are_b_and_norms_have_norm_in_their_module_name():
    params = haiku_params()
    mask = gx.path_mask(params, exclude=["*/b", "*norm*"])
    assert decayed_leaves(mask) == ["['linear']['w']", "['mlp/~/linear_0']['w']"]
    opt = gx.adamw(1e-2, weight_decay=0.1, mask=lambda p: gx.path_mask(p, exclude=["*/b", "*norm*"]))
    assert moved_by_decay_alone(opt, params) == ["['linear']['w']", "['mlp/~/linear_0']['w']"]


def test_a_linen_pattern_on_a_haiku_model_raises_and_shows_haikus_names():
    with pytest.raises(ValueError, match=r"path_mask: the pattern '\*bias' \(exclude\) matches no parameter"
                                         r"(.|\n)*Nearest paths: .*'linear/b'"):
        gx.path_mask(haiku_params(), exclude=NO_DECAY)


def test_freezing_a_linen_encoder_by_pattern_in_any_chain_position_keeps_it_fixed():
    params = LinenNet().init(jax.random.key(0), X)["params"]
    opt = gx.chain(gx.freeze("Dense_0/*"), gx.adamw(1e-1, weight_decay=0.1))
    grads = jax.tree.map(jnp.ones_like, params)
    updates, state = opt.update(grads, opt.init(params), params)
    assert not np.any(updates["Dense_0"]["kernel"]) and np.all(updates["Dense_1"]["kernel"] != 0)
    with pytest.raises(ValueError, match=r"freeze: the pattern 'Dense_O/\*' \(include\) matches no parameter"):
        gx.chain(gx.freeze("Dense_O/*"), gx.adamw(1e-1)).init(params)
