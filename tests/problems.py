"""Small optimization problems shared by the tests, each with a NumPy gradient.

A problem gives a float64 NumPy gradient function and a starting point (a dict of arrays), so
gradxform and the reference are fed identically computed gradients at their own iterates.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np


class Problem(NamedTuple):
    name: str
    init: dict  # name -> float64 ndarray
    grad: Callable[[dict], dict]  # NumPy float64 gradient at a point


def ill_conditioned_quadratic() -> Problem:
    """f(w, b) = 1/2 w^T A w + 1/2 c (b - 1)^2 with A's eigenvalues spread over 1e-2..1e1."""
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    a = q @ np.diag(np.logspace(-2, 1, 6)) @ q.T
    init = {"w": rng.normal(size=(3, 2)), "b": np.array(2.5)}

    def grad(p):
        w = p["w"].reshape(-1)
        return {"w": (a @ w).reshape(3, 2), "b": 3.0 * (p["b"] - 1.0)}

    return Problem("quadratic", init, grad)


def rosenbrock() -> Problem:
    """f(x, y) = (1 - x)^2 + 100 (y - x^2)^2, from (-1.2, 1)."""
    init = {"xy": np.array([-1.2, 1.0])}

    def grad(p):
        x, y = p["xy"]
        return {"xy": np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])}

    return Problem("rosenbrock", init, grad)


PROBLEMS = [ill_conditioned_quadratic(), rosenbrock()]
