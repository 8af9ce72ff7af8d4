"""Named wires (gradxform/core/wires.py): a branch hands a value to a later branch, kept once."""
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


def test_from_tap_outside_a_combinator_says_where_taps_work():
    opt = gx.chain(gx.tap("m"), gx.from_tap("m"))
    with pytest.raises(ValueError, match=r"from_tap\('m'\) runs outside any ratio, parallel_sum or conditional"):
        opt.update(GRADS, opt.init(PARAMS))


def test_from_tap_before_its_tap_names_what_was_tapped():
    opt = gx.ratio([gx.tap("g"), gx.from_tap("m")], gx.tap("m"))
    with pytest.raises(ValueError, match=r"from_tap\('m'\) found no tap\('m'\) before it; tapped so far: \['g'\]"):
        opt.update(GRADS, opt.init(PARAMS))


@pytest.mark.parametrize("factory", [gx.tap, gx.from_tap])
@pytest.mark.parametrize("name", ["", 3, None])
def test_a_wire_needs_a_name(factory, name):
    with pytest.raises(TypeError, match=rf"{factory.__name__}: name must be a non-empty string"):
        factory(name)
