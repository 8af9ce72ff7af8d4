"""Sophia's primitives beside Hutchinson's estimate (gradxform/transforms/hessian.py); the
estimate and the cadence are tested with Sophia in tests/aliases/test_hessian_family.py."""
import jax.numpy as jnp
import numpy as np
import pytest

import gradxform as gx


def test_at_least_bounds_each_update_below():
    floor = gx.at_least(0.5)
    out, _ = floor.update(jnp.array([-1.0, 0.25, 2.0]), floor.init(None))
    np.testing.assert_array_equal(out, [0.5, 0.5, 2.0])


def test_report_clip_rate_passes_updates_through():
    report = gx.chain(gx.report_clip_rate(1.0, every=100))
    g = jnp.array([0.5, 3.0])
    out, _ = report.update(g, report.init(g))
    np.testing.assert_array_equal(out, g)


@pytest.mark.parametrize("call, error, message", [
    (lambda: gx.at_least(0.0), ValueError, r"at_least: floor must be .*> 0, got floor=0.0"),
    (lambda: gx.report_clip_rate(1.0, every=0), ValueError, r"report_clip_rate: every must be"),
    (lambda: gx.report_clip_rate(lambda t: 1.0, every=1), TypeError, r"report_clip_rate: threshold must be a number"),
    (lambda: gx.lagged_hessian_moment(gx.identity(), decay=1.0), ValueError,
     r"lagged_hessian_moment: decay must be in \[0, 1\)"),
    (lambda: gx.lagged_hessian_moment(gx.identity(), update_interval=0), ValueError,
     r"lagged_hessian_moment: update_interval must be"),
    (lambda: gx.lagged_hessian_moment("hutchinson"), TypeError, r"lagged_hessian_moment"),
])
def test_bad_arguments_are_rejected_naming_them(call, error, message):
    with pytest.raises(error, match=message):
        call()
