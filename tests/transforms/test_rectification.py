"""scale_by_schedule under Optax's argument name, and Dozat's momentum primitives' checks."""
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradxform as gx


def test_scale_by_schedule_takes_optaxs_step_size_fn_keyword_and_matches_optax():
    schedule = optax.linear_schedule(1.0, 0.1, 5)
    ours, theirs = gx.chain(gx.scale_by_schedule(step_size_fn=schedule)), optax.scale_by_schedule(
        step_size_fn=schedule)
    ours_state, theirs_state = ours.init({"w": jnp.ones(2)}), theirs.init({"w": jnp.ones(2)})
    for _ in range(7):
        a, ours_state = ours.update({"w": jnp.ones(2)}, ours_state)
        b, theirs_state = theirs.update({"w": jnp.ones(2)}, theirs_state)
        np.testing.assert_array_equal(a["w"], b["w"])


def test_scale_by_dozat_momentum_and_its_complement_at_a_step():
    b1, psi = 0.9, 0.3
    mu = lambda t: b1 * (1 - 0.5 * 0.96 ** (t * psi))  # noqa: E731
    ahead = gx.chain(gx.scale_by_dozat_momentum(b1, psi, step_offset=1))
    complement = gx.chain(gx.scale_by_dozat_momentum(b1, psi, complement=True))
    g = {"w": jnp.ones(())}
    out_ahead, _ = ahead.update(g, ahead.init(g))
    out_complement, _ = complement.update(g, complement.init(g))
    assert float(out_ahead["w"]) == pytest.approx(mu(2), rel=1e-15)
    assert float(out_complement["w"]) == pytest.approx(1 - mu(1), rel=1e-15)


@pytest.mark.parametrize("build, error, match", [
    (lambda: gx.scale_by_dozat_momentum(1.0), ValueError,
     r"scale_by_dozat_momentum: b1 must be in \[0, 1\), got b1=1.0"),
    (lambda: gx.scale_by_dozat_momentum(0.9, -1.0), ValueError,
     r"scale_by_dozat_momentum: momentum_decay must be a finite number >= 0"),
    (lambda: gx.scale_by_dozat_momentum(0.9, 4e-3, complement=1), TypeError,
     r"scale_by_dozat_momentum: complement must be True or False"),
    (lambda: gx.dozat_bias_correction(0.9, 4e-3, step_offset=-1), ValueError,
     r"dozat_bias_correction: step_offset must be an int >= 0"),
    (lambda: gx.dozat_bias_correction(0.9, lambda step: 0.1), TypeError,
     r"dozat_bias_correction: momentum_decay must be a number"),
])
def test_dozat_primitives_reject_bad_arguments_when_built(build, error, match):
    with pytest.raises(error, match=match):
        build()
