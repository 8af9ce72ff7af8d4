"""masked, partition / multi_transform, freeze, path_mask, labels_from_patterns."""
import collections

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from wrapper_trees import assert_trees_equal, gradient_sequence, nested_params, run

import gradxform as gx

KEEP_KERNELS = {
    "encoder": {"dense": {"kernel": True, "bias": False}, "layer_norm": False},
    "decoder": [{"kernel": True, "bias": False}, None],
    "temperature": True,
}


def by_path(tree):
    return {jax.tree_util.keystr(p): x for p, x in jax.tree_util.tree_flatten_with_path(tree)[0]}


def selected(tree, mask):
    """The leaves of ``tree`` that ``mask`` (a full-depth tree of bools) marks True, as a flat dict."""
    keep = by_path(mask)
    return {k: x for k, x in by_path(tree).items() if keep[k]}


def with_leaves(tree, replacements):
    """``tree`` with the leaves named in ``replacements`` (flat dict by key path) replaced."""
    return jax.tree_util.tree_map_with_path(
        lambda p, x: replacements.get(jax.tree_util.keystr(p), x), tree
    )


def full_depth(mask, params):
    return jax.tree.map(lambda m, p: jax.tree.map(lambda _: m, p), mask, params)


# ---------------------------------------------------------------------------------------------
# masked
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mask_kind", ["tree", "callable"])
def test_masked_adam_equals_adam_on_the_selected_leaves_and_passes_the_rest_through(mask_kind):
    params = nested_params()
    grads = gradient_sequence(params, 4)
    mask = KEEP_KERNELS if mask_kind == "tree" else (lambda p: gx.path_mask(p, ["*kernel", "temperature"]))
    outputs, _ = run(gx.masked(gx.adam(0.1), mask), params, grads)

    keep = full_depth(KEEP_KERNELS, params)
    expected_inner, _ = run(gx.adam(0.1), selected(params, keep), [selected(g, keep) for g in grads])
    for out, g, inner in zip(outputs, grads, expected_inner):
        assert_trees_equal(out, with_leaves(g, inner))


def test_masked_inner_state_holds_nothing_for_masked_out_leaves():
    params = nested_params()
    state = gx.masked(gx.scale_by_momentum(0.9), KEEP_KERNELS).init(params)
    mu = state.inner_state.mu
    assert isinstance(mu["encoder"]["dense"]["bias"], gx.MaskedNode)
    assert isinstance(mu["encoder"]["layer_norm"], gx.MaskedNode)
    assert len(jax.tree.leaves(mu)) == 3  # two kernels and the temperature


def test_masked_inside_a_chain_passes_the_step_to_the_inner_links():
    params = nested_params()
    grads = gradient_sequence(params, 3)
    inner = [gx.scale_by_momentum(0.9, ema=True), gx.bias_correction(0.9)]
    outputs, _ = run(gx.chain(gx.masked(inner, KEEP_KERNELS), gx.scale(-0.1)), params, grads)

    keep = full_depth(KEEP_KERNELS, params)
    expected_inner, _ = run(gx.chain(*inner), selected(params, keep), [selected(g, keep) for g in grads])
    for out, g, inner_out in zip(outputs, grads, expected_inner):
        assert_trees_equal(out, jax.tree.map(lambda x: -0.1 * x, with_leaves(g, inner_out)))


def test_masked_with_a_prefix_mask_selects_whole_subtrees():
    params = nested_params()
    grads = gradient_sequence(params, 1)
    prefix = {"encoder": True, "decoder": False, "temperature": False}
    (out,), _ = run(gx.masked(gx.scale(3.0), prefix), params, grads)
    expected = {
        "encoder": jax.tree.map(lambda g: 3.0 * g, grads[0]["encoder"]),
        "decoder": grads[0]["decoder"],
        "temperature": grads[0]["temperature"],
    }
    assert_trees_equal(out, expected)


def test_masked_masks_extra_args_shaped_like_the_updates_when_asked():
    def add_bonus():
        def init(params):
            return gx.EmptyState()

        def update(updates, state, params=None, *, bonus, **extra_args):
            return jax.tree.map(jnp.add, updates, bonus), state

        return gx.GradientTransformation(init, update)

    params = nested_params()
    grads, bonus = gradient_sequence(params, 2)
    opt = gx.masked(add_bonus(), KEEP_KERNELS, mask_compatible_extra_args=True)
    (out,), _ = run(opt, params, [grads], bonus=bonus)
    keep = full_depth(KEEP_KERNELS, params)
    expected = jax.tree.map(lambda m, g, b: g + b if m else g, keep, grads, bonus)
    assert_trees_equal(out, expected)


def test_masked_mask_that_does_not_match_the_params_lists_the_paths_on_each_side():
    params = nested_params()
    bad = {
        "encoder": {"dense": {"kernel": True, "bais": False}, "layer_norm": False},
        "decoder": [{"kernel": True, "bias": False}, None],
        "temperature": True,
    }
    with pytest.raises(ValueError, match="does not match the params tree") as error:
        gx.masked(gx.adam(0.1), bad).init(params)
    message = str(error.value)
    assert "only in the mask: 'encoder/dense/bais'" in message
    assert "only in the params: 'encoder/dense/bias'" in message


def test_masked_mask_deeper_than_the_params_lists_both_sides():
    params = {"w": jnp.ones(2), "b": jnp.ones(1)}
    with pytest.raises(ValueError, match="only in the mask: 'w/x'.*\n.*only in the params: 'w'"):
        gx.masked(gx.scale(2.0), {"w": {"x": True}, "b": False}).init(params)


def test_masked_rejects_a_mask_with_non_bool_leaves():
    params = {"w": jnp.ones(2), "b": jnp.ones(1)}
    with pytest.raises(TypeError, match="every leaf of the mask must be True or False.*at 'b'"):
        gx.masked(gx.scale(2.0), {"w": True, "b": "no"}).init(params)


def test_masked_rejects_an_inner_that_is_not_a_transformation():
    with pytest.raises(TypeError, match="masked: expected a GradientTransformation"):
        gx.masked(0.1, {"w": True})


# ---------------------------------------------------------------------------------------------
# partition / multi_transform
# ---------------------------------------------------------------------------------------------


def two_towers():
    return {
        "enc": {"w": jnp.arange(6.0).reshape(3, 2), "b": jnp.ones(2), "skip": None},
        "dec": {"w": jnp.full((2, 2), 0.5), "b": jnp.zeros(2)},
    }


@pytest.mark.parametrize("factory", [gx.partition, gx.multi_transform])
def test_partition_equals_each_optimizer_run_on_its_own_subtree(factory):
    params = two_towers()
    grads = gradient_sequence(params, 4)
    labels = lambda p: gx.labels_from_patterns(p, {"enc/*": "adam", "dec/*": "sgd"})
    opt = factory({"adam": gx.adam(0.1), "sgd": gx.sgd(0.05, momentum=0.9)}, labels)
    outputs, _ = run(opt, params, grads)

    enc, _ = run(gx.adam(0.1), params["enc"], [g["enc"] for g in grads])
    dec, _ = run(gx.sgd(0.05, momentum=0.9), params["dec"], [g["dec"] for g in grads])
    for out, e, d in zip(outputs, enc, dec):
        assert_trees_equal(out, {"enc": e, "dec": d})


def test_partition_takes_a_label_tree_or_a_prefix_of_one():
    params = two_towers()
    grads = gradient_sequence(params, 2)
    transforms = {"a": gx.scale(2.0), "b": gx.scale(-1.0)}
    full = {"enc": {"w": "a", "b": "a", "skip": None}, "dec": {"w": "b", "b": "b"}}
    by_tree, _ = run(gx.partition(transforms, full), params, grads)
    by_prefix, _ = run(gx.partition(transforms, {"enc": "a", "dec": "b"}), params, grads)
    for x, y, g in zip(by_tree, by_prefix, grads):
        assert_trees_equal(x, y)
        assert_trees_equal(x, {"enc": jax.tree.map(lambda v: 2.0 * v, g["enc"]),
                               "dec": jax.tree.map(lambda v: -v, g["dec"])})


def test_partition_inside_a_chain_passes_the_step_to_each_group():
    params = two_towers()
    grads = gradient_sequence(params, 3)
    inner = [gx.scale_by_momentum(0.8, ema=True), gx.bias_correction(0.8)]
    opt = gx.chain(gx.partition({"x": inner, "y": gx.identity()}, {"enc": "x", "dec": "y"}))
    outputs, _ = run(opt, params, grads)
    expected, _ = run(gx.chain(*inner), params["enc"], [g["enc"] for g in grads])
    for out, e, g in zip(outputs, expected, grads):
        assert_trees_equal(out, {"enc": e, "dec": g["dec"]})


def test_partition_label_without_a_transformation_is_named_with_its_paths():
    params = two_towers()
    labels = lambda p: gx.labels_from_patterns(p, {"*/w": "weights", "*/b": "bias"})
    expected = r"no transformation for the label\(s\) \['bias'\], used at 'dec/b', 'enc/b'"
    with pytest.raises(ValueError, match=expected):
        gx.partition({"weights": gx.identity()}, labels).init(params)


def test_partition_label_tree_that_does_not_match_lists_the_paths_on_each_side():
    params = two_towers()
    labels = {"enc": "a", "decoder": "a"}
    expected = "only in the label tree: 'decoder'\n  only in the params: 'dec/b', 'dec/w'"
    with pytest.raises(ValueError, match=expected):
        gx.partition({"a": gx.identity()}, labels).init(params)


def test_partition_rejects_an_empty_or_non_mapping_set_of_transformations():
    with pytest.raises(ValueError, match="partition: expected at least one of label: transformation"):
        gx.partition({}, {})
    with pytest.raises(TypeError, match="partition: transforms must be a mapping"):
        gx.partition([gx.identity()], {})


# ---------------------------------------------------------------------------------------------
# freeze
# ---------------------------------------------------------------------------------------------


def test_frozen_parameters_stay_exactly_where_they_are_and_the_others_train():
    params = nested_params()
    frozen = lambda p: gx.path_mask(p, "encoder/*")
    opt = gx.chain(gx.adam(0.1), gx.freeze(frozen))
    state = opt.init(params)
    new = params
    for g in gradient_sequence(params, 3):
        updates, state = jax.jit(opt.update)(g, state, new)
        new = gx.apply_updates(new, updates)
    assert_trees_equal(new["encoder"], params["encoder"])
    assert not np.allclose(new["decoder"][0]["kernel"], params["decoder"][0]["kernel"])


@pytest.mark.parametrize("everything", [True, False])
def test_freeze_with_a_single_bool_freezes_everything_or_nothing(everything):
    params = nested_params()
    (g,) = gradient_sequence(params, 1)
    (out,), _ = run(gx.freeze(everything), params, [g])
    assert_trees_equal(out, jax.tree.map(jnp.zeros_like, g) if everything else g)


# ---------------------------------------------------------------------------------------------
# path_mask and labels_from_patterns
# ---------------------------------------------------------------------------------------------


def test_path_mask_matches_globs_on_slash_joined_paths_at_any_depth():
    params = nested_params()
    mask = gx.path_mask(params, ["*bias", "*norm*"])
    assert mask == {
        "encoder": {"dense": {"kernel": False, "bias": True}, "layer_norm": {"scale": True, "offset": None}},
        "decoder": [{"kernel": False, "bias": True}, None],
        "temperature": False,
    }


def test_path_mask_excludes_what_exclude_matches():
    params = nested_params()
    mask = gx.path_mask(params, "decoder/*", exclude="*/bias")
    assert mask["decoder"] == [{"kernel": True, "bias": False}, None]
    assert mask["encoder"]["dense"] == {"kernel": False, "bias": False}


def test_path_mask_names_attributes_and_indices():
    Layer = collections.namedtuple("Layer", ["kernel", "bias"])
    params = (Layer(jnp.ones(2), jnp.ones(1)), [jnp.ones(1)])
    assert gx.path_mask(params, ["0/bias", "1/0"]) == (Layer(False, True), [True])


def test_no_weight_decay_on_biases_and_norms_in_one_line():
    params = nested_params()
    zeros = jax.tree.map(jnp.zeros_like, params)
    decay = gx.weight_decay(0.1, mask=lambda p: gx.path_mask(p, exclude=["*bias", "*norm*"]))
    (out,), _ = run(decay, params, [zeros])
    decayed = {"encoder/dense/kernel", "decoder/0/kernel", "temperature"}
    for path, leaf in jax.tree_util.tree_flatten_with_path(out)[0]:
        name = "/".join(str(getattr(k, "key", getattr(k, "idx", ""))) for k in path)
        original = by_path(params)[jax.tree_util.keystr(path)]
        np.testing.assert_array_equal(leaf, 0.1 * original if name in decayed else 0 * original)


def test_labels_from_patterns_takes_the_first_matching_rule_then_the_default():
    params = nested_params()
    rules = [("*norm*", "no_decay"), ("*bias", "no_decay"), ("encoder/*", "enc")]
    labels = gx.labels_from_patterns(params, rules, default="rest")
    assert labels == {
        "encoder": {
            "dense": {"kernel": "enc", "bias": "no_decay"},
            "layer_norm": {"scale": "no_decay", "offset": None},
        },
        "decoder": [{"kernel": "rest", "bias": "no_decay"}, None],
        "temperature": "rest",
    }


def test_labels_from_patterns_without_default_lists_the_unmatched_paths():
    with pytest.raises(ValueError, match="no pattern matches 'decoder/0/kernel', 'temperature'"):
        gx.labels_from_patterns(nested_params(), {"encoder/*": "a", "*bias": "b"})


def test_patterns_must_be_strings():
    with pytest.raises(TypeError, match="path_mask: include must be a glob pattern"):
        gx.path_mask(nested_params(), [1])
    with pytest.raises(TypeError, match="labels_from_patterns: rules must be"):
        gx.labels_from_patterns(nested_params(), [("*", "a", "b")])


# ---------------------------------------------------------------------------------------------
# A callable pytree (an Equinox module, say) is a tree, not a function: as Optax decides it
# ---------------------------------------------------------------------------------------------


@jax.tree_util.register_pytree_node_class
class CallableTree:
    """A module-like pytree: its fields are its children, and calling it is its forward pass."""

    def __init__(self, w, b):
        self.w, self.b = w, b

    def __call__(self, x):
        raise AssertionError("a callable pytree used as a mask or labels must not be called")

    def tree_flatten(self):
        return (self.w, self.b), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*children)


MODULE = CallableTree(jnp.array([1.0, -2.0]), jnp.array(0.5))
MODULE_GRADS = CallableTree(jnp.array([0.5, 0.25]), jnp.array(-1.0))


def _one_update(opt, params=MODULE, grads=MODULE_GRADS):
    with jax.numpy_dtype_promotion("standard"):
        return opt.update(grads, opt.init(params), params)[0]


def test_masked_with_a_callable_pytree_of_bools_uses_it_as_the_mask_as_optax_does():
    import optax

    mask = CallableTree(True, False)
    ours = _one_update(gx.masked(gx.scale(10.0), mask))
    theirs = _one_update(optax.masked(optax.scale(10.0), mask))
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ours.w, 10.0 * MODULE_GRADS.w)
    np.testing.assert_array_equal(ours.b, MODULE_GRADS.b)


def test_partition_of_callable_pytree_params_labelled_by_a_function_matches_optax():
    import optax

    def labels(params):  # labels shaped like the module: a callable pytree of strings
        return CallableTree("fast", "slow")

    ours = _one_update(gx.partition({"fast": gx.scale(-1.0), "slow": gx.scale(-0.5)}, labels))
    theirs = _one_update(optax.partition({"fast": optax.scale(-1.0), "slow": optax.scale(-0.5)}, labels))
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        np.testing.assert_array_equal(a, b)
    multi = _one_update(gx.multi_transform({"fast": gx.scale(-1.0), "slow": gx.scale(-0.5)}, labels))
    np.testing.assert_array_equal(multi.b, -0.5 * MODULE_GRADS.b)


def test_weight_decay_mask_given_as_a_callable_pytree_is_the_mask():
    decayed = _one_update(gx.chain(gx.weight_decay(0.1, mask=CallableTree(False, True))))
    np.testing.assert_array_equal(decayed.w, MODULE_GRADS.w)
    np.testing.assert_allclose(decayed.b, MODULE_GRADS.b + 0.1 * MODULE.b, rtol=1e-15)


@pytest.mark.parametrize("library", ["optax", "gradxform"])
@pytest.mark.parametrize("wrapper", ["masked", "partition"])
def test_tree_map_params_finds_the_params_shaped_trees_inside_a_mask_or_partition(library, wrapper):
    params = {"w": jnp.ones((2, 3)), "b": jnp.ones(3)}
    opt = (gx.masked(gx.adam(0.1), {"w": True, "b": False}) if wrapper == "masked"
           else gx.partition({"a": gx.adam(0.1), "s": gx.sgd(0.1, momentum=0.9)}, {"w": "a", "b": "s"}))
    tree_map_params = (optax if library == "optax" else gx).tree_map_params
    shapes = tree_map_params(opt, lambda p: str(p.shape), opt.init(params), transform_non_params=lambda _: "-")
    moments = [leaf for leaf in jax.tree.leaves(shapes) if leaf != "-"]
    expected = ["(2, 3)", "(2, 3)"] + (["(3,)"] if wrapper == "partition" else [])  # adam mu, nu; sgd mu
    assert moments == expected


# --- Issue 18: masks that cannot silently miss, one mask mechanism, freeze anywhere in a chain ---

LINEN_LIKE = {
    "params": {
        "Dense_0": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)},
        "LayerNorm_0": {"scale": jnp.ones(2), "bias": jnp.ones(2)},
        "BatchNorm_0": {"scale": jnp.ones(2), "bias": jnp.ones(2)},
    }
}


def test_patterns_match_case_insensitively_so_norm_finds_linens_layer_and_batch_norms():
    mask = gx.path_mask(LINEN_LIKE, exclude=["*bias", "*norm*"])
    assert mask == {"params": {"Dense_0": {"kernel": True, "bias": False},
                               "LayerNorm_0": {"scale": False, "bias": False},
                               "BatchNorm_0": {"scale": False, "bias": False}}}


@pytest.mark.parametrize("call", [
    lambda p: gx.path_mask(p, exclude=["*bias", "*nrom*"]),
    lambda p: gx.path_mask(p, "*kernal"),
    lambda p: gx.labels_from_patterns(p, {"*Dense_1*": "fast"}, default="slow"),
])
def test_a_pattern_that_matches_no_parameter_raises_naming_it_and_the_nearest_paths(call):
    with pytest.raises(ValueError, match=r"the pattern '\*(nrom|kernal|Dense_1)\*?' \((include|exclude|rules)\) "
                                         r"matches no parameter(.|\n)*Nearest paths: 'params/"):
        call(LINEN_LIKE)


def test_allow_unmatched_accepts_a_generic_pattern_that_matches_nothing():
    mask = gx.path_mask({"w": jnp.ones(2)}, exclude="*norm*", allow_unmatched=True)
    assert mask == {"w": True}
    labels = gx.labels_from_patterns({"w": jnp.ones(2)}, {"*norm*": "a"}, default="b", allow_unmatched=True)
    assert labels == {"w": "b"}


def test_freeze_with_a_misspelt_pattern_raises_instead_of_freezing_nothing():
    params = {"encoder": {"w": jnp.ones(2)}, "head": {"w": jnp.ones(2)}}
    opt = gx.freeze("encodr/*")
    with pytest.raises(ValueError, match=r"freeze: the pattern 'encodr/\*' \(include\) matches no parameter"
                                         r"(.|\n)*Nearest paths: 'encoder/w'"):
        opt.init(params)


def test_a_glob_pattern_is_a_mask_wherever_a_mask_is_taken():
    params = {"encoder": {"w": jnp.ones(2)}, "head": {"w": jnp.ones(2)}}
    grads = {"encoder": {"w": jnp.ones(2)}, "head": {"w": jnp.ones(2)}}
    for opt in (gx.masked(gx.scale(3.0), "head/*"), gx.weight_decay(2.0, mask="head/*")):
        out, _ = opt.update(grads, opt.init(params), params)
        assert out["encoder"]["w"].tolist() == [1.0, 1.0] and out["head"]["w"].tolist() == [3.0, 3.0]


MISSPELT = {"encoder": {"Dense_0": {"kernel": True, "bais": False}}, "head": True}
PARAMS_18 = {"encoder": {"Dense_0": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}},
             "head": {"kernel": jnp.ones((2, 1))}}
MASK_ERROR = (r"{who}: the (mask|label tree) does not match the params tree(.|\n)*"
              r"only in the (mask|label tree): 'encoder/Dense_0/bais' "
              r"\(nearest in the params: 'encoder/Dense_0/bias'\)\n  only in the params: 'encoder/Dense_0/bias'")


@pytest.mark.parametrize("who, make", [
    ("masked", lambda m: gx.masked(gx.scale(2.0), m)),
    ("freeze", lambda m: gx.chain(gx.freeze(m), gx.sgd(0.1))),
    ("weight_decay", lambda m: gx.adamw(1e-3, mask=m)),
    ("masked", lambda m: gx.add_decayed_weights(1e-3, mask=m)),  # Optax's form: masked(weight_decay)
    ("weight_decay", lambda m: gx.lion(1e-3, mask=m)),
    ("weight_decay", lambda m: gx.adadelta(1e-3, weight_decay=0.1, weight_decay_mask=m)),
    ("weight_decay", lambda m: gx.lamb(1e-3, weight_decay=0.1, mask=m)),
    ("weight_decay", lambda m: gx.lars(1e-3, weight_decay=0.1, weight_decay_mask=m)),
    ("scale_by_trust_ratio", lambda m: gx.lars(1e-3, trust_ratio_mask=m)),
    ("partition", lambda m: gx.partition({True: gx.sgd(0.1), False: gx.identity()}, m)),
])
def test_every_mask_argument_reports_a_misspelt_path_in_one_format_with_the_nearest_path(who, make):
    opt = make(MISSPELT)
    with pytest.raises(ValueError, match=MASK_ERROR.format(who=who)):
        state = opt.init(PARAMS_18)
        opt.update(PARAMS_18, state, PARAMS_18)


@pytest.mark.parametrize("make", [
    lambda m: gx.adamw(0.1, weight_decay=0.5, mask=m),
    lambda m: gx.weight_decay(0.5, mask=m),
    lambda m: gx.masked(gx.scale(2.0), m),
])
def test_a_prefix_mask_works_in_adamw_and_weight_decay_as_in_masked_and_optax(make):
    prefix = {"encoder": False, "head": True}
    full = jax.tree.map(lambda _: True, PARAMS_18)
    full["encoder"] = jax.tree.map(lambda _: False, PARAMS_18["encoder"])
    grads = jax.tree.map(lambda p: 0.5 * jnp.ones_like(p), PARAMS_18)
    with_prefix, with_full = make(prefix), make(full)
    out, _ = with_prefix.update(grads, with_prefix.init(PARAMS_18), PARAMS_18)
    expected, _ = with_full.update(grads, with_full.init(PARAMS_18), PARAMS_18)
    assert_trees_equal(out, expected)
    theirs = optax.adamw(0.1, weight_decay=0.5, mask=prefix)
    with jax.numpy_dtype_promotion("standard"):  # Optax's bias correction mixes float and int32
        their_out, _ = theirs.update(grads, theirs.init(PARAMS_18), PARAMS_18)
    ours = gx.adamw(0.1, weight_decay=0.5, mask=prefix)
    np.testing.assert_array_equal(ours.update(grads, ours.init(PARAMS_18), PARAMS_18)[0]["head"]["kernel"],
                                  their_out["head"]["kernel"])


FROZEN = {"encoder": True, "head": False}


@pytest.mark.parametrize("order", ["freeze first", "freeze last", "nested", "two freezes"])
def test_a_frozen_leaf_never_moves_and_keeps_no_state_wherever_freeze_stands(order):
    params = {"encoder": {"w": jnp.ones(3), "b": jnp.ones(2)}, "head": {"w": jnp.ones(3)}}
    adamw = gx.adamw(0.1, weight_decay=0.1)
    opt = {
        "freeze first": gx.chain(gx.freeze(FROZEN), adamw),
        "freeze last": gx.chain(adamw, gx.freeze(FROZEN)),
        "nested": gx.chain(gx.chain(gx.freeze(FROZEN), gx.clip_by_global_norm(1.0)), adamw),
        "two freezes": gx.chain(gx.freeze({"encoder": {"w": True, "b": False}, "head": False}), adamw,
                                gx.freeze({"encoder": {"w": False, "b": True}, "head": False})),
    }[order]
    reference = gx.selective_transform(gx.chain(gx.clip_by_global_norm(1.0), adamw)
                                       if order == "nested" else adamw, freeze_mask=FROZEN)
    state, ref_state = opt.init(params), reference.init(params)
    p = q = params
    for g in gradient_sequence(params, 3):
        updates, state = opt.update(g, state, p)
        ref_updates, ref_state = reference.update(g, ref_state, q)
        p, q = optax.apply_updates(p, updates), optax.apply_updates(q, ref_updates)
    assert_trees_equal(p["encoder"], params["encoder"])
    np.testing.assert_allclose(p["head"]["w"], q["head"]["w"], rtol=1e-15)
    assert not np.array_equal(p["head"]["w"], params["head"]["w"])
    state_bytes = sum(x.nbytes for x in jax.tree.leaves(state))
    ref_bytes = sum(x.nbytes for x in jax.tree.leaves(ref_state))
    assert state_bytes <= ref_bytes + 64  # + the freeze-aware chain's step and hyperparameters
    moments = [x.shape for x in jax.tree.leaves(state) if x.ndim]
    assert moments.count((3,)) == 2 and (2,) not in moments  # head's mu and nu only


def test_frozen_leaves_are_left_out_of_a_global_norm_in_the_same_chain():
    params = {"frozen": jnp.full(4, 100.0), "trained": jnp.ones(1)}
    opt = gx.chain(gx.clip_by_global_norm(1.0), gx.freeze({"frozen": True, "trained": False}))
    out, _ = opt.update({"frozen": jnp.full(4, 100.0), "trained": jnp.full(1, 0.5)}, opt.init(params), params)
    assert out["trained"].tolist() == [0.5] and out["frozen"].tolist() == [0.0] * 4


def test_freeze_inside_a_named_chain_also_holds_its_leaves_wherever_it_stands():
    params = {"encoder": jnp.ones(2), "head": jnp.ones(2)}
    opt = gx.named_chain(("freeze", gx.freeze(FROZEN)), ("adamw", gx.adamw(0.1, weight_decay=0.5)))
    updates, state = opt.update(params, opt.init(params), params)
    assert updates["encoder"].tolist() == [0.0, 0.0] and np.all(updates["head"] != 0)
    assert isinstance(state.part("adamw").links[0].numerator[0].mu["encoder"], gx.MaskedNode)
