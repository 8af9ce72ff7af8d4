"""Optimizers re-implemented in plain NumPy, straight from their papers.

Nothing here imports gradxform. Each ``make_<name>(...)`` returns a :class:`Reference`, a pair
``init(params) -> state`` and ``update(grads, state, params) -> (updates, state)`` on dicts of
float64 arrays, so the test harness drives it exactly as it drives an optimizer under test.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np


class Reference(NamedTuple):
    init: Callable
    update: Callable


def _zeros(params):
    return {k: np.zeros_like(v, dtype=np.float64) for k, v in params.items()}


def make_adam(learning_rate, b1=0.9, b2=0.999, eps=1e-8):
    """Kingma & Ba 2015, Algorithm 1 (eps outside the root)."""

    def init(params):
        return {"t": 0, "m": _zeros(params), "v": _zeros(params)}

    def update(grads, state, params):
        t = state["t"] + 1
        m = {k: b1 * state["m"][k] + (1 - b1) * g for k, g in grads.items()}
        v = {k: b2 * state["v"][k] + (1 - b2) * g * g for k, g in grads.items()}
        out = {
            k: -learning_rate * (m[k] / (1 - b1**t)) / (np.sqrt(v[k] / (1 - b2**t)) + eps)
            for k in grads
        }
        return out, {"t": t, "m": m, "v": v}

    return Reference(init, update)
