"""Optimistic gradient descent and Optimistic Adam: Optax's results bit for bit, and their errors."""
import re

import numpy as np
import pytest
from harness import assert_same_bits, eager_beside_optax, trajectory
from problems import PROBLEMS

import gradxform as gx

ON_PROBLEMS = [pytest.param(p, id=p.name) for p in PROBLEMS]

PAIRS = {
    "optimistic_gradient_descent": lambda m: m.optimistic_gradient_descent(1e-3),
    "optimistic_gradient_descent_kwargs": lambda m: m.optimistic_gradient_descent(2e-3, alpha=0.5, beta=0.25),
    "optimistic_adam": lambda m: m.optimistic_adam(2e-3),
    "optimistic_adam_kwargs": lambda m: m.optimistic_adam(
        3e-3, optimism=0.01, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-9, nesterov=False
    ),
    "optimistic_adam_v2": lambda m: m.optimistic_adam_v2(2e-3),
    "optimistic_adam_v2_kwargs": lambda m: m.optimistic_adam_v2(
        1e-2, alpha=0.5, beta=0.2, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-9, nesterov=False
    ),
}


@pytest.mark.parametrize("problem", ON_PROBLEMS)
@pytest.mark.parametrize("name", sorted(PAIRS))
def test_float32_trajectory_is_optax_bit_for_bit(name, problem):
    assert_same_bits(*eager_beside_optax(PAIRS[name], problem))


def test_optimistic_adam_is_v2_with_unit_learning_rate():
    problem = PROBLEMS[0]
    v1 = trajectory(gx.optimistic_adam(3e-3, optimism=0.5), problem, 10, jit=False)
    v2 = trajectory(gx.optimistic_adam_v2(1.0, alpha=3e-3, beta=0.5), problem, 10, jit=False)
    for a, e in zip(v1, v2):
        for key in e:
            np.testing.assert_array_equal(a[key], e[key])


def test_optimistic_adam_optimism_defaults_to_the_learning_rate_and_follows_it():
    opt = gx.optimistic_adam(1e-2)
    state = opt.init({"w": np.zeros(2)})
    assert "optimism" not in gx.hyperparams(state)  # one hyperparameter for both roles
    assert float(gx.hyperparams(state)["learning_rate"]) == pytest.approx(1e-2)


def test_optimistic_adam_takes_a_schedule_unlike_optax():
    schedule = gx.linear_schedule(1e-2, 1e-3, 10)
    opt = gx.optimistic_adam(schedule)
    trajectory(opt, PROBLEMS[0], 3)  # runs, jitted


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: gx.optimistic_gradient_descent(-1.0), "optimistic_gradient_descent: learning_rate must be"),
        (lambda: gx.optimistic_gradient_descent(0.1, beta=float("inf")),
         "optimistic_gradient_descent: beta must be a finite number, got beta=inf"),
        (lambda: gx.optimistic_adam(0.1, optimism=float("nan")), "optimistic_adam: optimism must be a finite number"),
        (lambda: gx.optimistic_adam_v2(-0.1), "optimistic_adam_v2: learning_rate must be a finite number >= 0"),
        (lambda: gx.optimistic_adam_v2(0.1, alpha=float("inf")), "optimistic_adam_v2: alpha must be a finite number"),
    ],
)
def test_bad_arguments_are_rejected_by_the_function_called(build, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        build()


def test_optimistic_adam_v2_arguments_after_the_learning_rate_are_keyword_only():
    with pytest.raises(TypeError):
        gx.optimistic_adam_v2(1e-3, 1.0)  # type: ignore[misc]
