"""Schedules are pure functions of the step: closed forms, Optax parity, jit/vmap, errors."""
import inspect
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradxform as gx
from gradxform import schedules as sch

pytestmark = pytest.mark.slow  # make test-fast leaves this module out

N = 1000
STEPS = np.arange(N, dtype=np.int32)


def values(schedule, steps=STEPS):
    """The schedule at int32 steps (jitted: one compilation instead of one per operation)."""
    return np.asarray(jax.jit(schedule)(jnp.asarray(steps, jnp.int32)), np.float64)


def optax_values(schedule, steps=STEPS):
    with jax.numpy_dtype_promotion("standard"):  # Optax mixes int and float
        out = jax.jit(jax.vmap(schedule))(jnp.asarray(steps, jnp.int32))
    return np.asarray(out, np.float64)


def assert_close_to_float32(actual, expected):
    """Optax computes in float32: a few float32 ulps relative to the schedule's scale."""
    scale = np.max(np.abs(expected))
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6 * scale)


# ---------------------------------------------------------------------------------------------
# Every schedule in the module, with arguments that exercise its phases within N steps.
# ---------------------------------------------------------------------------------------------

SGDR_KWARGS = [
    dict(init_value=0.1, peak_value=1.0, warmup_steps=50, decay_steps=300, end_value=0.01),
    dict(init_value=0.0, peak_value=0.5, warmup_steps=0, decay_steps=200, end_value=0.0),
    dict(init_value=0.05, peak_value=0.25, warmup_steps=20, decay_steps=400, exponent=2.0),
]

SCHEDULES = {
    "constant": lambda: sch.constant_schedule(0.3),
    "polynomial": lambda: sch.polynomial_schedule(1.0, 0.01, 2.0, 700, 100),
    "linear": lambda: sch.linear_schedule(0.5, 0.05, 800, 50),
    "exponential": lambda: sch.exponential_decay(1.0, 100, 0.9, 50),
    "exponential_staircase": lambda: sch.exponential_decay(1.0, 100, 0.5, 50, True, 0.05),
    "exponential_growth": lambda: sch.exponential_decay(0.5, 100, 1.2, 0, False, 2.0),
    "step_decay": lambda: sch.step_decay_schedule(1.0, 150, 0.5),
    "multistep": lambda: sch.multistep_schedule(1.0, [100, 400, 800], 0.1),
    "inverse_time": lambda: sch.inverse_time_decay(1.0, 100, 0.5),
    "inverse_time_staircase": lambda: sch.inverse_time_decay(1.0, 100, 0.5, staircase=True),
    "inverse_sqrt": lambda: sch.warmup_inverse_sqrt_schedule(0.0, 1e-3, 100),
    "piecewise_constant": lambda: sch.piecewise_constant_schedule(
        1.0, {400: 0.1, 100: 0.5, 700: 2.0}),
    "piecewise_linear": lambda: sch.piecewise_interpolate_schedule(
        "linear", 1.0, {0: 2.0, 250: 0.5, 600: 0.1}),
    "piecewise_cosine": lambda: sch.piecewise_interpolate_schedule(
        "cosine", 1.0, {250: 0.5, 600: 0.1, 601: 3.0}),
    "cosine_decay": lambda: sch.cosine_decay_schedule(1.0, 800, 0.1),
    "cosine_decay_exponent": lambda: sch.cosine_decay_schedule(2.0, 600, 0.0, 2.0),
    "warmup_cosine": lambda: sch.warmup_cosine_decay_schedule(0.0, 1.0, 100, 900, 0.05),
    "warmup_cosine_exponent": lambda: sch.warmup_cosine_decay_schedule(0.1, 1.0, 50, 700, 0.0, 1.5),
    "warmup_exponential": lambda: sch.warmup_exponential_decay_schedule(
        0.1, 1.0, 100, 50, 0.8, 20, True, 0.05),
    "warmup_constant": lambda: sch.warmup_constant_schedule(0.0, 1.0, 200),
    "wsd_linear": lambda: sch.warmup_stable_decay_schedule(0.0, 1.0, 100, 500, 300, 0.1),
    "wsd_cosine": lambda: sch.warmup_stable_decay_schedule(0.0, 1.0, 100, 500, 300, 0.1, "cosine"),
    "wsd_sqrt": lambda: sch.warmup_stable_decay_schedule(0.0, 1.0, 0, 0, 800, 0.0, "sqrt"),
    "sgdr": lambda: sch.sgdr_schedule(SGDR_KWARGS),
    "cosine_restarts": lambda: sch.cosine_restarts_schedule(1.0, 100),
    "cosine_restarts_growing": lambda: sch.cosine_restarts_schedule(1.0, 10, 2.0, 0.5, 0.1),
    "cosine_restarts_fractional": lambda: sch.cosine_restarts_schedule(1.0, 7, 1.5, 0.8),
    "cosine_onecycle": lambda: sch.cosine_onecycle_schedule(900, 1.0),
    "linear_onecycle": lambda: sch.linear_onecycle_schedule(900, 1.0),
    "cosine_onecycle_momentum": lambda: sch.cosine_onecycle_momentum_schedule(900),
    "linear_onecycle_momentum": lambda: sch.linear_onecycle_momentum_schedule(900),
    "cyclic_triangular": lambda: sch.cyclic_schedule(0.1, 1.0, 100),
    "cyclic_asymmetric": lambda: sch.cyclic_schedule(0.1, 1.0, 30, 70),
    "cyclic_triangular2": lambda: sch.cyclic_schedule(0.1, 1.0, 100, mode="triangular2"),
    "cyclic_exp_range": lambda: sch.cyclic_schedule(0.1, 1.0, 100, mode="exp_range", gamma=0.998),
    "join": lambda: sch.join_schedules(
        [sch.linear_schedule(0.0, 1.0, 100), sch.constant_schedule(1.0),
         sch.cosine_decay_schedule(1.0, 500)], [100, 300]),
}
ALL = [pytest.param(make, id=name) for name, make in SCHEDULES.items()]


def test_every_public_schedule_is_in_the_table():
    public = {n for n, f in vars(sch).items()
              if inspect.isfunction(f) and f.__module__.startswith(sch.__name__ + ".") and not n.startswith("_")}
    source = "".join(inspect.getsource(make) for make in SCHEDULES.values())
    assert {n for n in public if f"sch.{n}(" not in source} == set()
    assert len(public) == 23


def test_schedules_are_exported_at_top_level():
    for name in ("linear_schedule", "warmup_cosine_decay_schedule", "join_schedules",
                 "warmup_stable_decay_schedule", "cyclic_schedule", "plot_schedule"):
        assert hasattr(gx, name)
    assert gx.cosine_restarts_schedule is sch.cosine_restarts_schedule


# ---------------------------------------------------------------------------------------------
# Against Optax's same-named schedule, over 1000 int32 steps.
# ---------------------------------------------------------------------------------------------

SAME_AS_OPTAX = [
    ("constant_schedule", dict(value=0.3)),
    ("polynomial_schedule", dict(init_value=1.0, end_value=0.01, power=2.0,
                                 transition_steps=700, transition_begin=100)),
    ("polynomial_schedule", dict(init_value=0.2, end_value=1.0, power=0.5, transition_steps=1500)),
    ("linear_schedule", dict(init_value=0.5, end_value=0.05, transition_steps=800,
                             transition_begin=50)),
    ("exponential_decay", dict(init_value=1.0, transition_steps=100, decay_rate=0.9,
                               transition_begin=50)),
    ("exponential_decay", dict(init_value=1.0, transition_steps=100, decay_rate=0.5,
                               transition_begin=50, staircase=True, end_value=0.05)),
    ("exponential_decay", dict(init_value=0.5, transition_steps=100, decay_rate=1.2,
                               end_value=2.0)),
    ("piecewise_constant_schedule", dict(init_value=1.0,
                                         boundaries_and_scales={400: 0.1, 100: 0.5, 700: 2.0})),
    ("piecewise_constant_schedule", dict(init_value=1.0, boundaries_and_scales={0: 0.5})),
    ("piecewise_interpolate_schedule", dict(interpolate_type="linear", init_value=1.0,
                                            boundaries_and_scales={0: 2.0, 250: 0.5, 600: 0.1})),
    ("piecewise_interpolate_schedule", dict(interpolate_type="cosine", init_value=1.0,
                                            boundaries_and_scales={250: 0.5, 600: 0.1, 601: 3.0})),
    ("cosine_decay_schedule", dict(init_value=1.0, decay_steps=800, alpha=0.1)),
    ("cosine_decay_schedule", dict(init_value=2.0, decay_steps=600, exponent=2.0)),
    ("warmup_cosine_decay_schedule", dict(init_value=0.0, peak_value=1.0, warmup_steps=100,
                                          decay_steps=900, end_value=0.05)),
    ("warmup_cosine_decay_schedule", dict(init_value=0.1, peak_value=1.0, warmup_steps=0,
                                          decay_steps=700, exponent=1.5)),
    ("warmup_exponential_decay_schedule", dict(init_value=0.1, peak_value=1.0, warmup_steps=100,
                                               transition_steps=50, decay_rate=0.8,
                                               transition_begin=20, staircase=True,
                                               end_value=0.05)),
    ("warmup_constant_schedule", dict(init_value=0.0, peak_value=1.0, warmup_steps=200)),
    ("sgdr_schedule", dict(cosine_kwargs=SGDR_KWARGS)),
    ("cosine_onecycle_schedule", dict(transition_steps=900, peak_value=1.0)),
    ("cosine_onecycle_schedule", dict(transition_steps=500, peak_value=0.1, pct_start=0.1,
                                      div_factor=10.0, final_div_factor=100.0)),
    ("linear_onecycle_schedule", dict(transition_steps=900, peak_value=1.0)),
    ("linear_onecycle_schedule", dict(transition_steps=600, peak_value=0.3, pct_start=0.2,
                                      pct_final=0.5, div_factor=5.0, final_div_factor=50.0)),
]


@pytest.mark.parametrize("name, kwargs", SAME_AS_OPTAX, ids=[n for n, _ in SAME_AS_OPTAX])
def test_matches_optax_same_named_schedule_over_1000_steps(name, kwargs):
    assert_close_to_float32(values(getattr(sch, name)(**kwargs)),
                            optax_values(getattr(optax, name)(**kwargs)))


def test_join_schedules_matches_optax_join_of_the_same_pieces():
    ours = sch.join_schedules(
        [sch.linear_schedule(0.0, 1.0, 100), sch.constant_schedule(1.0),
         sch.cosine_decay_schedule(1.0, 500)], [100, 300])
    theirs = optax.join_schedules(
        [optax.linear_schedule(0.0, 1.0, 100), optax.constant_schedule(1.0),
         optax.cosine_decay_schedule(1.0, 500)], [100, 300])
    assert_close_to_float32(values(ours), optax_values(theirs))


def test_join_schedules_accepts_optax_schedules_as_pieces():
    with jax.numpy_dtype_promotion("standard"):
        pieces = [optax.linear_schedule(0.0, 1.0, 10), sch.constant_schedule(2.0)]
        joined = sch.join_schedules(pieces, [10])
        out = values(joined, np.arange(20))
    np.testing.assert_allclose(out, np.r_[np.arange(10) / 10, np.full(10, 2.0)], rtol=1e-6)


def test_step_decay_equals_optax_staircase_exponential_decay():
    assert_close_to_float32(values(sch.step_decay_schedule(1.0, 150, 0.5)),
                            optax_values(optax.exponential_decay(1.0, 150, 0.5, staircase=True)))


def test_multistep_equals_optax_piecewise_constant_with_one_scale():
    assert_close_to_float32(
        values(sch.multistep_schedule(1.0, [100, 400, 800], 0.1)),
        optax_values(optax.piecewise_constant_schedule(1.0, {100: 0.1, 400: 0.1, 800: 0.1})))


def test_cosine_restarts_equals_optax_sgdr_with_doubling_periods_and_halving_peaks():
    # Floor 0.1, peaks above it 0.9 * 0.5**i, periods 10 * 2**i (Keras's convention).
    cycles = [dict(init_value=0.1 + 0.9 * 0.5**i, peak_value=0.1 + 0.9 * 0.5**i, warmup_steps=0,
                   decay_steps=10 * 2**i, end_value=0.1) for i in range(7)]
    assert_close_to_float32(values(sch.cosine_restarts_schedule(1.0, 10, 2.0, 0.5, 0.1)),
                            optax_values(optax.sgdr_schedule(cycles)))


def test_wsd_equals_optax_join_of_warmup_constant_and_linear_decay():
    theirs = optax.join_schedules(
        [optax.linear_schedule(0.0, 1.0, 100), optax.constant_schedule(1.0),
         optax.linear_schedule(1.0, 0.1, 300)], [100, 600])
    assert_close_to_float32(values(SCHEDULES["wsd_linear"]()), optax_values(theirs))


# ---------------------------------------------------------------------------------------------
# Closed forms, written in NumPy from the documented formulas, over 1000 steps in float64.
# ---------------------------------------------------------------------------------------------

t = STEPS.astype(np.float64)


def np_cyclic_smith(base, peak, half, scale):
    """Smith (2017), Sec. 3.1, for equal up and down: cycle, x and max(0, 1 - x)."""
    cycle = np.floor(1 + t / (2 * half))
    x = np.abs(t / half - 2 * cycle + 1)
    return base + (peak - base) * np.maximum(0, 1 - x) * scale(cycle)


def np_restarts(init, period, mult, decay, alpha):
    """Keras's CosineDecayRestarts with each restart at the first whole step of its cycle."""
    out = []
    for s in t:
        i, start, length = 0, 0.0, float(period)
        while s >= np.ceil(start + length):
            start, length, i = start + length, length * mult, i + 1
        x = (s - np.ceil(start)) / (np.ceil(start + length) - np.ceil(start))
        out.append(init * ((1 - alpha) * decay**i * 0.5 * (1 + np.cos(np.pi * x)) + alpha))
    return np.array(out)


def np_interp(kind, knots, vals):
    """Piecewise interpolation through (knots[i], vals[i]), constant after the last knot."""
    out = np.full_like(t, vals[-1])
    for (a, b), (va, vb) in zip(zip(knots, knots[1:]), zip(vals, vals[1:])):
        inside = (t >= a) & (t < b)
        x = (t[inside] - a) / (b - a)
        w = x if kind == "linear" else 1 - 0.5 * (1 + np.cos(np.pi * x))
        out[inside] = va + (vb - va) * w
    return out


CLOSED_FORMS = {
    "polynomial": lambda: 0.01 + 0.99 * (1 - np.clip(t - 100, 0, 700) / 700) ** 2,
    "exponential": lambda: np.where(t <= 50, 1.0, 0.9 ** ((t - 50) / 100)),
    "exponential_staircase": lambda: np.maximum(
        np.where(t <= 50, 1.0, 0.5 ** np.floor((t - 50) / 100)), 0.05),
    "exponential_growth": lambda: np.minimum(0.5 * 1.2 ** (t / 100), 2.0),
    "step_decay": lambda: 0.5 ** np.floor(t / 150),
    "multistep": lambda: 0.1 ** np.sum([t >= b for b in (100, 400, 800)], axis=0),
    "inverse_time": lambda: 1.0 / (1 + 0.5 * t / 100),
    "inverse_time_staircase": lambda: 1.0 / (1 + 0.5 * np.floor(t / 100)),
    # Vaswani et al. (2017), Eq. (3), with d_model chosen so that the peak is 1e-3.
    "inverse_sqrt": lambda: (
        (1 / (1e-3**2 * 100)) ** -0.5
        * np.minimum(np.where(t > 0, t, 1) ** -0.5, t * 100.0**-1.5)),
    "piecewise_constant": lambda: 1.0 * np.where(t >= 100, 0.5, 1) * np.where(t >= 400, 0.1, 1)
    * np.where(t >= 700, 2.0, 1),
    "piecewise_linear": lambda: np_interp("linear", [0, 250, 600], [2.0, 1.0, 0.1]),
    "piecewise_cosine": lambda: np_interp("cosine", [0, 250, 600, 601], [1.0, 0.5, 0.05, 0.15]),
    "cosine_decay": lambda: 0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * np.minimum(t, 800) / 800)),
    "warmup_cosine": lambda: np.where(
        t < 100, t / 100,
        0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * np.clip(t - 100, 0, 800) / 800))),
    "wsd_cosine": lambda: np.where(
        t < 100, t / 100,
        0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * np.clip(t - 600, 0, 300) / 300))),
    "wsd_sqrt": lambda: 1 - np.sqrt(np.minimum(t, 800) / 800),
    "cosine_restarts": lambda: 0.5 * (1 + np.cos(np.pi * (t % 100) / 100)),
    "cosine_restarts_growing": lambda: np_restarts(1.0, 10, 2.0, 0.5, 0.1),
    "cosine_restarts_fractional": lambda: np_restarts(1.0, 7, 1.5, 0.8, 0.0),
    "cosine_onecycle_momentum": lambda: np_interp("cosine", [0, 270, 900], [0.95, 0.85, 0.95]),
    "linear_onecycle_momentum": lambda: np_interp("linear", [0, 270, 765], [0.95, 0.85, 0.95]),
    "cyclic_triangular": lambda: np_cyclic_smith(0.1, 1.0, 100, lambda c: 1.0),
    "cyclic_triangular2": lambda: np_cyclic_smith(0.1, 1.0, 100, lambda c: 0.5 ** (c - 1)),
    "cyclic_exp_range": lambda: np_cyclic_smith(0.1, 1.0, 100, lambda c: 0.998**t),
    "cyclic_asymmetric": lambda: 0.1 + 0.9 * np.where(
        t % 100 <= 30, (t % 100) / 30, (100 - t % 100) / 70),
}


@pytest.mark.parametrize("name", list(CLOSED_FORMS))
def test_matches_its_documented_closed_form_in_float64(name):
    np.testing.assert_allclose(
        values(SCHEDULES[name]()), CLOSED_FORMS[name](), rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------------------------
# Endpoints and boundaries: step 0 is the start; a boundary belongs to what comes after it.
# Where the docstring promises an exact value, equality is exact.
# ---------------------------------------------------------------------------------------------

EXACT = [
    ("polynomial", {0: 1.0, 100: 1.0, 800: 0.01, 999: 0.01}),
    ("linear", {0: 0.5, 50: 0.5, 850: 0.05, 999: 0.05}),
    ("exponential", {0: 1.0, 50: 1.0}),
    ("exponential_staircase", {0: 1.0, 149: 1.0, 150: 0.5, 249: 0.5, 250: 0.25, 999: 0.05}),
    ("exponential_growth", {0: 0.5, 999: 2.0}),
    ("step_decay", {0: 1.0, 149: 1.0, 150: 0.5, 299: 0.5, 300: 0.25}),
    ("multistep", {0: 1.0, 99: 1.0, 400: 1.0 * 0.1**2}),
    ("inverse_time_staircase", {0: 1.0, 99: 1.0, 100: 1 / 1.5, 200: 0.5}),
    ("inverse_sqrt", {0: 0.0, 50: 5e-4, 100: 1e-3, 400: 5e-4}),
    ("piecewise_constant", {0: 1.0, 99: 1.0, 100: 0.5, 399: 0.5, 400: 0.5 * 0.1, 699: 0.05}),
    ("piecewise_linear", {0: 2.0, 250: 1.0, 425: 0.55, 600: 0.1, 999: 0.1}),
    ("piecewise_cosine", {0: 1.0, 250: 0.5, 600: 0.05, 601: 0.15}),
    ("cosine_decay", {0: 1.0, 400: 0.55, 800: 0.1, 999: 0.1}),
    ("cosine_decay_exponent", {0: 2.0, 600: 0.0}),
    ("warmup_cosine", {0: 0.0, 50: 0.5, 100: 1.0, 900: 0.05, 999: 0.05}),
    ("warmup_cosine_exponent", {0: 0.1, 50: 1.0, 700: 0.0}),
    ("warmup_exponential", {0: 0.1, 100: 1.0, 169: 1.0, 170: 0.8, 219: 0.8, 220: 0.8**2,
                            999: 0.05}),
    ("warmup_constant", {0: 0.0, 100: 0.5, 200: 1.0, 999: 1.0}),
    ("wsd_linear", {0: 0.0, 100: 1.0, 599: 1.0, 600: 1.0, 750: 0.55, 900: 0.1, 999: 0.1}),
    ("wsd_cosine", {0: 0.0, 100: 1.0, 600: 1.0, 750: 0.55, 900: 0.1}),
    ("wsd_sqrt", {0: 1.0, 200: 0.5, 800: 0.0}),
    ("sgdr", {0: 0.1, 50: 1.0, 300: 0.5, 400: 0.25, 500: 0.05, 520: 0.25, 920: 0.0}),
    ("cosine_restarts", {0: 1.0, 50: 0.5, 100: 1.0, 200: 1.0}),
    ("cosine_restarts_growing", {0: 1.0, 10: 0.1 + 0.9 * 0.5, 20: 0.1 + 0.9 * 0.5 * 0.5,
                                 30: 0.1 + 0.9 * 0.25, 70: 0.1 + 0.9 * 0.125, 150: 0.1 + 0.9 / 16}),
    ("cosine_onecycle", {0: 1.0 / 25, 270: 1.0, 900: 1.0 / 25 / 1e4 * 1.0, 999: 1.0 / 250000}),
    ("linear_onecycle", {0: 1.0 / 25, 270: 1.0, 765: 1.0 / 25, 900: 1.0 / 25 / 1e4}),
    ("cosine_onecycle_momentum", {0: 0.95, 270: 0.85, 900: 0.95, 999: 0.95}),
    ("linear_onecycle_momentum", {0: 0.95, 270: 0.85, 765: 0.95, 999: 0.95}),
    ("cyclic_triangular", {0: 0.1, 100: 1.0, 200: 0.1, 300: 1.0}),
    ("cyclic_asymmetric", {0: 0.1, 30: 1.0, 100: 0.1, 130: 1.0}),
    ("cyclic_triangular2", {0: 0.1, 100: 1.0, 200: 0.1, 300: 0.1 + 0.9 * 0.5,
                            500: 0.1 + 0.9 * 0.25}),
    ("join", {0: 0.0, 99: 0.99, 100: 1.0, 299: 1.0, 300: 1.0, 800: 0.0}),
]


@pytest.mark.parametrize("name, expected", EXACT, ids=[n for n, _ in EXACT])
def test_hits_documented_values_at_start_boundaries_and_end(name, expected):
    out = values(SCHEDULES[name](), list(expected))
    np.testing.assert_allclose(out, list(expected.values()), rtol=1e-14, atol=0)


@pytest.mark.parametrize("name, step, value", [
    ("polynomial", 0, 1.0), ("polynomial", 800, 0.01), ("linear", 0, 0.5), ("linear", 850, 0.05),
    ("cosine_decay", 0, 1.0), ("cosine_decay", 800, 0.1), ("warmup_cosine", 100, 1.0),
    ("warmup_cosine", 900, 0.05), ("wsd_linear", 900, 0.1), ("wsd_sqrt", 800, 0.0),
    ("cosine_onecycle", 270, 1.0), ("linear_onecycle", 270, 1.0), ("piecewise_linear", 250, 1.0),
    ("cosine_onecycle_momentum", 270, 0.85), ("cyclic_triangular", 100, 1.0),
])
def test_start_peak_and_end_values_are_exact(name, step, value):
    assert float(SCHEDULES[name]()(step)) == value


def test_warmup_of_zero_steps_starts_at_the_peak():
    assert float(sch.warmup_constant_schedule(0.1, 1.0, 0)(0)) == 1.0  # Optax returns 0.1 forever
    assert float(sch.warmup_cosine_decay_schedule(0.1, 1.0, 0, 100)(0)) == 1.0
    assert float(sch.warmup_exponential_decay_schedule(0.1, 1.0, 0, 10, 0.5)(0)) == 1.0
    assert float(sch.warmup_stable_decay_schedule(0.1, 1.0, 0, 5, 10)(0)) == 1.0


def test_a_boundary_at_step_zero_applies_from_the_first_step():
    assert float(sch.piecewise_constant_schedule(1.0, {0: 0.5})(0)) == 0.5
    assert float(sch.multistep_schedule(1.0, [0, 10], 0.5)(0)) == 0.5
    joined = sch.join_schedules([sch.constant_schedule(1.0), sch.constant_schedule(2.0)], [0])
    assert float(joined(0)) == 2.0


def test_integral_float_step_counts_are_the_same_as_ints():
    np.testing.assert_array_equal(values(sch.cosine_decay_schedule(1.0, 1e3)),
                                  values(sch.cosine_decay_schedule(1.0, 1000)))


def test_inverse_sqrt_is_the_transformer_schedule():
    d_model, warmup = 512, 4000
    schedule = sch.warmup_inverse_sqrt_schedule(0.0, (d_model * warmup) ** -0.5, warmup)
    for n in (1, 100, 3999, 4000, 4001, 100_000):
        expected = d_model**-0.5 * min(n**-0.5, n * warmup**-1.5)
        assert math.isclose(float(schedule(n)), expected, rel_tol=1e-13)


def test_cosine_restarts_find_the_right_cycle_at_every_restart_over_many_cycles():
    schedule = sch.cosine_restarts_schedule(1.0, 3, 3.0, 0.9)
    starts = [3 * (3**i - 1) // 2 for i in range(15)]  # up to ~7e6
    np.testing.assert_allclose(values(schedule, starts), 0.9 ** np.arange(15), rtol=1e-12)
    lengths = 3.0 * 3 ** np.arange(14)  # the last step of cycle i is at x = (T_i - 1) / T_i
    last = 0.9 ** np.arange(14) * 0.5 * (1 + np.cos(np.pi * (lengths - 1) / lengths))
    np.testing.assert_allclose(values(schedule, [s - 1 for s in starts[1:]]), last, rtol=1e-9)


# ---------------------------------------------------------------------------------------------
# Pure, jit- and vmap-safe, elementwise over step arrays, in the default float dtype.
# ---------------------------------------------------------------------------------------------

SAMPLE = np.array([0, 1, 50, 100, 101, 270, 300, 425, 600, 765, 900, 2**31 - 1], np.int32)


@pytest.mark.parametrize("make", ALL)
def test_vmap_and_jit_equal_a_python_loop(make):
    schedule = make()
    loop = np.array([float(schedule(int(s))) for s in SAMPLE])  # eager, one step at a time
    steps = jnp.asarray(SAMPLE)
    # Equal up to an ulp or two: compiled code may fuse or vectorize the arithmetic differently.
    # (Calling the schedule on the whole array, as `values` does, is checked by the closed forms.)
    out = jax.jit(jax.vmap(schedule))(steps)
    np.testing.assert_allclose(np.asarray(out), loop, rtol=1e-14, atol=1e-16)
    assert np.all(np.isfinite(loop))


@pytest.mark.parametrize("make", ALL)
def test_jit_traces_once_for_all_steps(make):
    jitted = jax.jit(make())
    outs = [jitted(jnp.int32(s)) for s in (0, 7, 512)]
    assert jitted._cache_size() == 1
    assert all(o.shape == () for o in outs)


@pytest.mark.parametrize("make", ALL)
def test_is_pure_no_effects_and_same_value_regardless_of_call_history(make):
    schedule = make()
    assert not jax.make_jaxpr(schedule)(jnp.int32(3)).effects
    first = [float(schedule(s)) for s in (5, 300)]
    schedule(900), schedule(jnp.arange(3))
    assert [float(schedule(s)) for s in (5, 300)] == first
    assert [float(make()(s)) for s in (5, 300)] == first


@pytest.mark.parametrize("make", ALL)
def test_int32_step_computes_in_float64_under_x64_and_float32_without(make):
    schedule = make()
    assert jax.eval_shape(schedule, jnp.int32(5)).dtype == jnp.float64
    assert jax.eval_shape(schedule, np.int64(5)).dtype == jnp.float64
    assert jax.eval_shape(schedule, jnp.zeros((2, 3), jnp.int32)).shape == (2, 3)
    with jax.enable_x64(False):
        assert jax.eval_shape(schedule, jnp.int32(5)).dtype == jnp.float32


def test_int32_step_keeps_float64_precision_where_optax_drops_to_float32():
    step, steps = 123_457, 1_000_003
    ours = sch.linear_schedule(1.0, 0.0, steps)(jnp.int32(step))
    assert ours.dtype == jnp.float64 and math.isclose(float(ours), 1 - step / steps, rel_tol=1e-15)
    with jax.numpy_dtype_promotion("standard"):
        theirs = optax.linear_schedule(1.0, 0.0, steps)(jnp.int32(step))
    assert theirs.dtype == jnp.float32  # int32 / int in Optax


def test_schedules_can_be_vmapped_over_their_own_arguments():
    peaks = jnp.array([0.5, 1.0, 2.0])

    def at_peak(peak):
        return sch.warmup_cosine_decay_schedule(0.0, peak, 10, 100)(jnp.int32(10))

    out = jax.vmap(at_peak)(peaks)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(peaks))


def test_schedules_can_be_differentiated_with_respect_to_their_own_arguments():
    # v(50) = E + (P - E) c with c = (1 + cos(pi * 40 / 90)) / 2, so dv/dP = c.
    grad = jax.grad(lambda peak: sch.warmup_cosine_decay_schedule(0.0, peak, 10, 100, 0.1)(50))
    assert math.isclose(float(grad(1.0)), 0.5 * (1 + math.cos(math.pi * 40 / 90)), rel_tol=1e-14)


def test_drives_the_learning_rate_from_the_chain_step_counter():
    schedule = sch.warmup_cosine_decay_schedule(0.0, 1.0, 2, 6)
    opt = gx.chain(gx.scale_by_learning_rate(schedule))
    params = {"w": jnp.ones(2)}
    state = opt.init(params)
    for step in range(8):
        updates, state = opt.update({"w": jnp.ones(2)}, state, params)
        np.testing.assert_array_equal(np.asarray(updates["w"]), -float(schedule(step)))


def test_non_integer_step_raises_type_error():
    with pytest.raises(TypeError, match=r"linear_schedule: the step must be an integer count"):
        sch.linear_schedule(1.0, 0.0, 10)(1.5)
    with pytest.raises(TypeError, match=r"got dtype bool"):
        sch.constant_schedule(1.0)(True)


# ---------------------------------------------------------------------------------------------
# Bad arguments raise at construction, with a message naming the schedule and the argument.
# ---------------------------------------------------------------------------------------------

ERRORS = [
    (lambda: sch.linear_schedule(1.0, 0.0, 0), ValueError,
     r"linear_schedule: transition_steps must be a whole number of steps >= 1, "
     r"got transition_steps=0"),
    (lambda: sch.polynomial_schedule(1.0, 0.0, 2.0, 10, -5), ValueError,
     r"transition_begin must be a whole number of steps >= 0, got transition_begin=-5"),
    (lambda: sch.polynomial_schedule(1.0, 0.0, 0.0, 10), ValueError,
     r"power must be a finite number > 0"),
    (lambda: sch.polynomial_schedule(1.0, 0.0, 1.0, 2.5), ValueError,
     r"transition_steps=2.5\. Try transition_steps=3"),
    (lambda: sch.polynomial_schedule(1.0, 0.0, 1.0, "10"), TypeError,
     r"transition_steps must be a whole"),
    (lambda: sch.constant_schedule(float("nan")), ValueError,
     r"constant_schedule: value must be a finite number, got value=nan"),
    (lambda: sch.cosine_decay_schedule(float("inf"), 10), ValueError,
     r"init_value must be a finite number"),
    (lambda: sch.cosine_decay_schedule(1.0, 0), ValueError,
     r"decay_steps must be a whole number of steps >= 1"),
    (lambda: sch.cosine_decay_schedule(1.0, 10, exponent=-1.0), ValueError,
     r"exponent must be a finite number > 0"),
    (lambda: sch.exponential_decay(1.0, 10, 0.0), ValueError,
     r"exponential_decay: decay_rate must be a finite number > 0, got decay_rate=0\.0"),
    (lambda: sch.exponential_decay(1.0, 10, float("nan")), ValueError,
     r"decay_rate must be a finite number > 0"),
    (lambda: sch.exponential_decay(1.0, 10, 0.5, end_value=float("nan")), ValueError,
     r"end_value must be a finite"),
    (lambda: sch.step_decay_schedule(1.0, 0, 0.5), ValueError,
     r"step_decay_schedule: step_size must be"),
    (lambda: sch.multistep_schedule(1.0, [100, 50], 0.1), ValueError,
     r"multistep_schedule: boundaries must be strictly increasing, got boundaries=\[100, 50\]"),
    (lambda: sch.multistep_schedule(1.0, [10, 10], 0.1), ValueError, r"strictly increasing"),
    (lambda: sch.multistep_schedule(1.0, [-1, 10], 0.1), ValueError,
     r"boundary must be a whole number of steps >= 0"),
    (lambda: sch.inverse_time_decay(1.0, 10, -0.5), ValueError,
     r"decay_rate must be a finite number >= 0"),
    (lambda: sch.warmup_inverse_sqrt_schedule(0.0, 1.0, 0), ValueError,
     r"warmup_steps must be a whole number of steps >= 1"),
    (lambda: sch.piecewise_constant_schedule(1.0, {10: -0.5}), ValueError,
     r"piecewise_constant_schedule: scale must be a finite number >= 0, got scale=-0\.5"),
    (lambda: sch.piecewise_constant_schedule(1.0, {-10: 0.5}), ValueError,
     r"boundary must be a whole number of steps >= 0"),
    (lambda: sch.piecewise_interpolate_schedule("quadratic", 1.0, {10: 0.5}), ValueError,
     r"interpolate_type must be one of \['linear', 'cosine'\], got interpolate_type='quadratic'"),
    (lambda: sch.piecewise_interpolate_schedule("linear", 1.0, {10: float("nan")}), ValueError,
     r"scale must be a finite"),
    (lambda: sch.join_schedules([sch.constant_schedule(1.0)] * 2, [10, 20]), ValueError,
     r"join_schedules: boundaries must have 1 entries \(one fewer than schedules"),
    (lambda: sch.join_schedules([sch.constant_schedule(1.0)] * 3, [20, 10]), ValueError,
     r"join_schedules: boundaries must be strictly increasing"),
    (lambda: sch.join_schedules([], []), ValueError,
     r"join_schedules: expected at least one of schedules"),
    (lambda: sch.join_schedules([sch.constant_schedule(1.0), 0.5], [10]), TypeError,
     r"join_schedules: schedules\[1\] must be a function"),
    (lambda: sch.warmup_cosine_decay_schedule(0.0, 1.0, 100, 100), ValueError,
     r"decay_steps must be a whole number of steps >= 101, got decay_steps=100\. "
     r"It counts the warmup_steps=100 too"),
    (lambda: sch.warmup_cosine_decay_schedule(0.0, 1.0, -1, 100), ValueError,
     r"warmup_steps must be a whole number of steps >= 0"),
    (lambda: sch.warmup_exponential_decay_schedule(0.0, 1.0, 10, 0, 0.5), ValueError,
     r"warmup_exponential_decay_schedule: transition_steps must be"),
    (lambda: sch.warmup_constant_schedule(0.0, float("nan"), 10), ValueError,
     r"peak_value must be a finite"),
    (lambda: sch.warmup_stable_decay_schedule(0.0, 1.0, 10, -1, 10), ValueError,
     r"stable_steps must be a whole number"),
    (lambda: sch.warmup_stable_decay_schedule(0.0, 1.0, 10, 10, 0), ValueError,
     r"decay_steps must be a whole number of steps >= 1"),
    (lambda: sch.warmup_stable_decay_schedule(0.0, 1.0, 10, 10, 10, decay_type="exp"), ValueError,
     r"decay_type must be one of \['linear', 'cosine', 'sqrt'\]"),
    (lambda: sch.sgdr_schedule([]), ValueError,
     r"sgdr_schedule: expected at least one of cosine_kwargs"),
    (lambda: sch.cosine_restarts_schedule(1.0, 0), ValueError,
     r"cosine_restarts_schedule: first_period must be a whole number of steps >= 1, "
     r"got first_period=0"),
    (lambda: sch.cosine_restarts_schedule(1.0, 10, 0.5), ValueError,
     r"period_multiplier must be a finite number >= 1, got period_multiplier=0\.5"),
    (lambda: sch.cosine_restarts_schedule(1.0, 10, float("nan")), ValueError,
     r"period_multiplier must be a finite"),
    (lambda: sch.cosine_restarts_schedule(1.0, 10, 2.0, 0.0), ValueError,
     r"peak_decay must be a finite number > 0"),
    (lambda: sch.cosine_onecycle_schedule(0, 1.0), ValueError,
     r"transition_steps must be a whole number of steps >= 1"),
    (lambda: sch.cosine_onecycle_schedule(100, 1.0, pct_start=1.0), ValueError,
     r"the phase boundaries int\(pct_start \* transition_steps\), transition_steps must be "
     r"strictly "
     r"increasing, got .*=\[100, 100\]"),
    (lambda: sch.linear_onecycle_schedule(100, 1.0, pct_start=0.5, pct_final=0.3), ValueError,
     r"must be strictly increasing, got .*=\[50, 30, 100\]"),
    (lambda: sch.linear_onecycle_schedule(1, 1.0), ValueError,
     r"strictly increasing, got .*=\[0, 0, 1\]"),
    (lambda: sch.cosine_onecycle_schedule(100, 1.0, div_factor=0.0), ValueError,
     r"div_factor must be a finite number > 0"),
    (lambda: sch.cosine_onecycle_schedule(100, 1.0, pct_start=1.5), ValueError,
     r"pct_start must be in \[0, 1\]"),
    (lambda: sch.cosine_onecycle_momentum_schedule(100, base_momentum=1.5), ValueError,
     r"cosine_onecycle_momentum_schedule: base_momentum must be in \[0, 1\]"),
    (lambda: sch.linear_onecycle_momentum_schedule(100, pct_final=2.0), ValueError,
     r"pct_final must be in \[0, 1\]"),
    (lambda: sch.cyclic_schedule(0.1, 1.0, 0), ValueError,
     r"cyclic_schedule: step_size_up must be a whole number of steps >= 1"),
    (lambda: sch.cyclic_schedule(0.1, 1.0, 10, 0), ValueError,
     r"step_size_down must be a whole number of steps >= 1"),
    (lambda: sch.cyclic_schedule(0.1, 1.0, 10, mode="sawtooth"), ValueError,
     r"mode must be one of \['triangular', 'triangular2', 'exp_range'\]"),
    (lambda: sch.cyclic_schedule(0.1, 1.0, 10, mode="exp_range", gamma=0.0), ValueError,
     r"gamma must be a finite number > 0"),
    (lambda: sch.linear_schedule(sch.constant_schedule(1.0), 0.0, 10), TypeError,
     r"linear_schedule: init_value must be a number \(or a scalar array\), got function"),
    (lambda: sch.constant_schedule("1.0"), TypeError,
     r"constant_schedule: value must be a number \(or a scalar array\), got str '1.0'"),
    (lambda: sch.cosine_restarts_schedule(1.0, 1, 1.000001), ValueError,
     r"period_multiplier=1.000001 is so close to 1 that more than 65536 restarts"),
]


@pytest.mark.parametrize("make, error, message", ERRORS, ids=[f"e{i}" for i in range(len(ERRORS))])
def test_bad_arguments_raise_at_construction_with_a_clear_message(make, error, message):
    with pytest.raises(error, match=message):
        make()


# ---------------------------------------------------------------------------------------------
# Bit for bit Optax's in float32, over a range of steps (Optax's formula order, term by term).
# ---------------------------------------------------------------------------------------------

BIT_IDENTICAL = SAME_AS_OPTAX + [
    ("warmup_cosine_decay_schedule", dict(init_value=0.0, peak_value=1e-3, warmup_steps=30,
                                          decay_steps=301, end_value=1e-5)),
    ("warmup_cosine_decay_schedule", dict(init_value=0.02, peak_value=0.7, warmup_steps=7,
                                          decay_steps=1000, end_value=0.03, exponent=2.0)),
    ("polynomial_schedule", dict(init_value=0.3, end_value=0.07, power=3, transition_steps=333,
                                 transition_begin=17)),
    ("exponential_decay", dict(init_value=0.3, transition_steps=7, decay_rate=0.97,
                               transition_begin=3, staircase=True)),
    ("warmup_exponential_decay_schedule", dict(init_value=0.01, peak_value=0.3, warmup_steps=13,
                                               transition_steps=9, decay_rate=0.9)),
    ("piecewise_interpolate_schedule", dict(interpolate_type="linear", init_value=0.3,
                                            boundaries_and_scales={37: 0.7, 333: 3.0, 500: 0.1})),
    ("cosine_onecycle_schedule", dict(transition_steps=777, peak_value=0.3, pct_start=0.17)),
    ("linear_onecycle_schedule", dict(transition_steps=777, peak_value=0.3, pct_start=0.17,
                                      pct_final=0.7)),
]


def _float32_values(schedule, steps):
    with jax.enable_x64(False), jax.numpy_dtype_promotion("standard"):
        out = jax.jit(jax.vmap(schedule))(jnp.asarray(steps, jnp.int32))  # Optax's take scalars
        return np.asarray(out, np.float32)


@pytest.mark.parametrize("name, kwargs", BIT_IDENTICAL, ids=[n for n, _ in BIT_IDENTICAL])
def test_float32_values_are_bit_identical_to_optax_same_named_schedule(name, kwargs):
    steps = np.arange(1200, dtype=np.int32)
    with jax.enable_x64(False):
        ours, theirs = getattr(sch, name)(**kwargs), getattr(optax, name)(**kwargs)
    np.testing.assert_array_equal(_float32_values(ours, steps), _float32_values(theirs, steps))


def test_float32_join_schedules_is_bit_identical_to_optax_join_of_the_same_pieces():
    steps = np.arange(900, dtype=np.int32)
    with jax.enable_x64(False):
        ours = sch.join_schedules([sch.linear_schedule(0.0, 0.3, 100), sch.constant_schedule(0.3),
                                   sch.cosine_decay_schedule(0.3, 500, 0.1)], [100, 300])
        theirs = optax.join_schedules(
            [optax.linear_schedule(0.0, 0.3, 100), optax.constant_schedule(0.3),
             optax.cosine_decay_schedule(0.3, 500, 0.1)], [100, 300])
    np.testing.assert_array_equal(_float32_values(ours, steps), _float32_values(theirs, steps))


# ---------------------------------------------------------------------------------------------
# Step counts, lengths and boundaries of 2**31 and more (past the int32 step counter).
# ---------------------------------------------------------------------------------------------

BIG = 2**31 + 5
HUGE = 3 * 2**31
BIG_STEPS = np.array([0, 1, 1000, 2**20, 2**30 + 7, 2**31 - 1], np.int32)

BIG_AS_OPTAX = [
    ("polynomial_schedule", dict(init_value=1.0, end_value=0.1, power=2.0, transition_steps=BIG)),
    ("polynomial_schedule", dict(init_value=1.0, end_value=0.1, power=2.0, transition_steps=10,
                                 transition_begin=BIG)),
    ("linear_schedule", dict(init_value=1.0, end_value=0.1, transition_steps=HUGE,
                             transition_begin=2**30)),
    ("exponential_decay", dict(init_value=1.0, transition_steps=BIG, decay_rate=0.5)),
    ("exponential_decay", dict(init_value=1.0, transition_steps=BIG, decay_rate=0.5,
                               staircase=True)),
    ("exponential_decay", dict(init_value=1.0, transition_steps=10, decay_rate=0.5,
                               transition_begin=BIG)),
    ("cosine_decay_schedule", dict(init_value=1.0, decay_steps=HUGE, alpha=0.1)),
    ("warmup_cosine_decay_schedule", dict(init_value=0.0, peak_value=1.0, warmup_steps=10,
                                          decay_steps=BIG, end_value=0.01)),
    ("warmup_cosine_decay_schedule", dict(init_value=0.0, peak_value=1.0, warmup_steps=BIG,
                                          decay_steps=HUGE)),
    ("warmup_constant_schedule", dict(init_value=0.0, peak_value=1.0, warmup_steps=BIG)),
    ("warmup_exponential_decay_schedule", dict(init_value=0.0, peak_value=1.0, warmup_steps=BIG,
                                               transition_steps=BIG, decay_rate=0.5)),
    ("warmup_exponential_decay_schedule", dict(init_value=0.0, peak_value=1.0, warmup_steps=10,
                                               transition_steps=BIG, decay_rate=0.5,
                                               transition_begin=HUGE)),
    ("piecewise_constant_schedule", dict(init_value=1.0,
                                         boundaries_and_scales={1000: 0.5, BIG: 0.1})),
    ("piecewise_interpolate_schedule", dict(interpolate_type="linear", init_value=1.0,
                                            boundaries_and_scales={1000: 0.5, BIG: 0.1,
                                                                   HUGE: 2.0})),
    ("piecewise_interpolate_schedule", dict(interpolate_type="cosine", init_value=1.0,
                                            boundaries_and_scales={BIG: 0.1})),
    ("cosine_onecycle_schedule", dict(transition_steps=HUGE, peak_value=1.0)),
    ("linear_onecycle_schedule", dict(transition_steps=BIG, peak_value=1.0)),
    ("sgdr_schedule", dict(cosine_kwargs=[
        dict(init_value=0.0, peak_value=1.0, warmup_steps=10, decay_steps=2**30),
        dict(init_value=0.0, peak_value=0.5, warmup_steps=BIG, decay_steps=HUGE)])),
]


def _optax_x64(schedule, steps):
    """Optax's schedule where int64 steps hold every argument (x64): the reference, in float64."""
    with jax.numpy_dtype_promotion("standard"):
        out = jax.jit(jax.vmap(schedule))(jnp.asarray(steps, jnp.int64))
    return np.asarray(out, np.float64)


def _assert_float32_and_float64_match(make, expected):
    """In float64 (x64, int32 steps) to 1e-12; in float32 (no x64) to a few float32 ulps."""
    np.testing.assert_allclose(values(make(), BIG_STEPS), expected, rtol=1e-12, atol=1e-15)
    with jax.enable_x64(False):
        out = np.asarray(jax.jit(make())(jnp.asarray(BIG_STEPS)), np.float64)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6 * np.max(np.abs(expected)))


@pytest.mark.parametrize("name, kwargs", BIG_AS_OPTAX, ids=[n for n, _ in BIG_AS_OPTAX])
def test_arguments_past_int32_match_optax_same_named_schedule(name, kwargs):
    expected = _optax_x64(getattr(optax, name)(**kwargs), BIG_STEPS)
    _assert_float32_and_float64_match(lambda: getattr(sch, name)(**kwargs), expected)


T_BIG = BIG_STEPS.astype(np.float64)

BIG_CLOSED_FORMS = [
    ("constant", lambda: sch.constant_schedule(0.3), lambda: np.full_like(T_BIG, 0.3)),
    ("step_decay", lambda: sch.step_decay_schedule(1.0, BIG, 0.5), lambda: np.ones_like(T_BIG)),
    ("multistep", lambda: sch.multistep_schedule(1.0, [1000, BIG, HUGE], 0.1),
     lambda: np.where(T_BIG >= 1000, 0.1, 1.0)),
    ("inverse_time", lambda: sch.inverse_time_decay(1.0, BIG, 0.5),
     lambda: 1.0 / (1 + 0.5 * T_BIG / BIG)),
    ("inverse_time_staircase", lambda: sch.inverse_time_decay(1.0, BIG, 0.5, staircase=True),
     lambda: np.ones_like(T_BIG)),
    ("inverse_sqrt", lambda: sch.warmup_inverse_sqrt_schedule(0.0, 1.0, BIG),
     lambda: T_BIG / BIG),
    ("wsd", lambda: sch.warmup_stable_decay_schedule(0.0, 1.0, 1000, BIG, HUGE, 0.1),
     lambda: np.minimum(T_BIG / 1000, 1.0)),
    ("wsd_decaying", lambda: sch.warmup_stable_decay_schedule(0.0, 1.0, 0, 1000, HUGE, 0.1),
     lambda: 0.1 + 0.9 * (1 - np.clip(T_BIG - 1000, 0, None) / HUGE)),
    ("cosine_restarts", lambda: sch.cosine_restarts_schedule(1.0, BIG),
     lambda: 0.5 * (1 + np.cos(np.pi * T_BIG / BIG))),
    ("cosine_restarts_growing", lambda: sch.cosine_restarts_schedule(1.0, BIG, 2.0, 0.5),
     lambda: 0.5 * (1 + np.cos(np.pi * T_BIG / BIG))),
    ("cyclic", lambda: sch.cyclic_schedule(0.0, 1.0, BIG, HUGE), lambda: T_BIG / BIG),
    ("cosine_onecycle_momentum", lambda: sch.cosine_onecycle_momentum_schedule(HUGE, 0.5),
     lambda: 0.85 + 0.1 * 0.5 * (1 + np.cos(np.pi * T_BIG / (HUGE // 2)))),
    ("linear_onecycle_momentum", lambda: sch.linear_onecycle_momentum_schedule(HUGE, 0.5, 0.9),
     lambda: 0.95 - 0.1 * T_BIG / (HUGE // 2)),
    ("join", lambda: sch.join_schedules(
        [sch.linear_schedule(0.0, 1.0, 100), sch.constant_schedule(0.5)], [BIG]),
     lambda: np.minimum(T_BIG / 100, 1.0)),
]


@pytest.mark.parametrize("make, closed_form", [(m, c) for _, m, c in BIG_CLOSED_FORMS],
                         ids=[n for n, _, _ in BIG_CLOSED_FORMS])
def test_arguments_past_int32_give_the_closed_form(make, closed_form):
    _assert_float32_and_float64_match(make, closed_form())
