"""Named wires (gradxform/core/wires.py): a link hands a value to a later link of the same update."""
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradxform as gx

PARAMS = {"w": jnp.array([1.0, -2.0, 0.5]), "b": jnp.array(0.25)}
GRADS = {"w": jnp.array([0.3, -0.1, 2.0]), "b": jnp.array(-1.0)}


def _params_sized_trees(state) -> int:
    """How many arrays shaped like params["w"] the state keeps."""
    return sum(np.shape(leaf) == (3,) for leaf in jax.tree.leaves(state))


def test_a_ratio_denominator_reads_what_the_numerator_tapped():
    """(2g) / (2g + 1) with the 2g computed once in the numerator."""
    opt = gx.ratio([gx.scale(2.0), gx.tap("twice")],
                   gx.parallel_sum((1.0, gx.from_tap("twice")), (1.0, gx.set_to_zero())))
    out, _ = jax.jit(opt.update)(GRADS, opt.init(PARAMS))
    np.testing.assert_allclose(out["w"], 2 * GRADS["w"] / (2 * GRADS["w"]), rtol=1e-6)


def test_a_tap_passes_its_input_through_and_from_tap_ignores_its_own():
    opt = gx.parallel_sum((1.0, [gx.scale(3.0), gx.tap("x")]), (10.0, [gx.scale(-7.0), gx.from_tap("x")]))
    out, _ = opt.update(GRADS, opt.init(PARAMS))
    np.testing.assert_allclose(out["w"], 3 * GRADS["w"] + 10 * 3 * GRADS["w"], rtol=1e-6)


def test_adabelief_and_adan_keep_their_moments_once_as_optax_does():
    """AdaBelief: m and s (Optax's mu, nu); Adan: m, v, the previous gradient and n."""
    for ours, theirs in [(gx.adabelief(0.1), optax.adabelief(0.1)), (gx.adan(0.1), optax.adan(0.1)),
                         (gx.adabelief(0.1, nesterov=True), optax.adabelief(0.1, nesterov=True))]:
        assert _params_sized_trees(ours.init(PARAMS)) == _params_sized_trees(theirs.init(PARAMS))


def test_the_recipe_shows_the_wire():
    shown = repr(gx.adabelief(0.1))
    assert "tap(name='m')" in shown and "from_tap(name='m')" in shown


def test_a_chain_link_reads_what_an_earlier_link_tapped():
    """chain(scale 2, tap, scale 5, from_tap): the output is the tapped 2g, not 10g."""
    opt = gx.chain(gx.scale(2.0), gx.tap("twice"), gx.scale(5.0), gx.from_tap("twice"))
    out, _ = jax.jit(opt.update)(GRADS, opt.init(PARAMS))
    np.testing.assert_allclose(out["w"], 2 * GRADS["w"], rtol=1e-6)


def test_a_tapped_value_reaches_a_nested_chain_and_a_combinator_inside_the_chain():
    inner = gx.chain(gx.scale(-1.0), gx.add_tapped("g", 3.0))  # -x + 3g
    opt = gx.chain(gx.tap("g"), gx.scale(2.0), inner, gx.ratio(gx.identity(), [gx.from_tap("g")]))
    out, _ = opt.update(GRADS, opt.init(PARAMS))
    np.testing.assert_allclose(out["w"], (-2 * GRADS["w"] + 3 * GRADS["w"]) / GRADS["w"], rtol=1e-6)


def test_wires_do_not_outlive_the_update():
    """A second update starts with an empty board: the first update's taps are gone."""
    opt = gx.parallel_sum((1.0, gx.tap("x")), (1.0, gx.set_to_zero()))
    reader = gx.chain(gx.from_tap("x"))
    opt.update(GRADS, opt.init(PARAMS))
    with pytest.raises(ValueError, match=r"recorded so far: \[\]"):
        reader.update(GRADS, reader.init(PARAMS))


def test_scale_by_tapped_and_add_tapped_take_a_scalar_or_a_tree_like_the_updates():
    scalar = gx.chain(gx.tap("g"), gx.scale(0.0), gx.add_tapped("g", 2.0), gx.tap("two_g"))
    out, _ = scalar.update(GRADS, scalar.init(PARAMS))
    np.testing.assert_allclose(out["w"], 2 * GRADS["w"], rtol=1e-6)
    squared = gx.chain(gx.tap("g"), gx.scale_by_tapped("g"))
    out, _ = squared.update(GRADS, squared.init(PARAMS))
    np.testing.assert_allclose(out["w"], GRADS["w"] ** 2, rtol=1e-6)
    np.testing.assert_allclose(out["b"], GRADS["b"] ** 2, rtol=1e-6)


def test_scale_by_tapped_reads_a_scalar_a_link_recorded():
    """Prodigy's estimate records d_t = d_0 on the first update; the next link multiplies by it."""
    opt = gx.chain(gx.prodigy_estimate(estim_lr0=0.5), gx.scale_by_tapped("estim_lr"))
    out, _ = opt.update(GRADS, opt.init(PARAMS), PARAMS)
    np.testing.assert_allclose(out["w"], 0.5 * GRADS["w"], rtol=1e-6)


def test_a_tapped_value_of_another_shape_is_refused_by_name():
    """Inside a mask the updates hold only the masked-in leaves; the whole tapped tree does not fit."""
    opt = gx.chain(gx.tap("g"), gx.masked(gx.scale_by_tapped("g"), {"w": True, "b": False}))
    with pytest.raises(ValueError, match=r"scale_by_tapped: the value tapped as 'g' must be a scalar or a "
                                         r"tree shaped like the updates, got dict .*; the updates are "
                                         r"\{'b': MaskedNode\(\), 'w': \(3,\)\}"):
        opt.update(GRADS, opt.init(PARAMS))


def test_from_tap_before_its_tap_names_what_was_tapped():
    opt = gx.ratio([gx.tap("g"), gx.from_tap("m")], gx.tap("m"))
    with pytest.raises(ValueError, match=r"from_tap\('m'\): nothing was recorded as 'm' before it in this "
                                         r"update \(by tap\('m'\) or a link that records it, such as "
                                         r"prodigy_estimate\); recorded so far: \['g'\]"):
        opt.update(GRADS, opt.init(PARAMS))


def test_reading_a_wire_no_link_recorded_names_the_reader():
    for reader, who in [(gx.scale_by_tapped("d"), "scale_by_tapped('d')"), (gx.add_tapped("d"), "add_tapped('d')")]:
        with pytest.raises(ValueError, match=re.escape(f"{who}: nothing was recorded as 'd' before it")):
            reader.update(GRADS, reader.init(PARAMS))


@pytest.mark.parametrize("factory", [gx.tap, gx.from_tap, gx.scale_by_tapped, gx.add_tapped])
@pytest.mark.parametrize("name", ["", 3, None])
def test_a_wire_needs_a_name(factory, name):
    with pytest.raises(TypeError, match=rf"{factory.__name__}: name must be a non-empty string"):
        factory(name)
