"""The loss of the shared problems (tests/problems.py) at given params, for optimizers that need it.

Polyak SGD's ``update`` takes the loss as ``value=``; the problems give only gradients. An
entry's ``needs_extra_args`` gets ``(params, grads)``, so :func:`loss_value` recognises the
problem by the tree's keys and shapes: the quadratic's loss (its matrix read back from its
gradient) or Rosenbrock's. Any other tree (the random trees of test_properties, the trees of
test_grouped and test_one_pass) gets :math:`1 + \\tfrac12\\|\\theta\\|^2`: there, what matters is
that both runs see the same value.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from problems import ill_conditioned_quadratic


@functools.cache
def _quadratic_matrix() -> np.ndarray:
    """The quadratic problem's matrix A, column by column from its gradient at b = 1."""
    grad = ill_conditioned_quadratic().grad
    columns = [grad({"w": e.reshape(3, 2), "b": np.array(1.0)})["w"].reshape(-1) for e in np.eye(6)]
    return np.stack(columns, axis=1)


def _quadratic_loss(w, b):
    w = w.reshape(-1)
    return 0.5 * w @ _quadratic_matrix() @ w + 1.5 * (b - 1.0) ** 2


def _rosenbrock_loss(xy):
    x, y = xy
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def loss_value(params, grads):
    """``{"value": loss at params}``: float64 if a leaf is float64 or complex128, else float32."""
    leaves = jax.tree.leaves(params)
    wide = any(jnp.finfo(x.dtype).bits == 64 for x in leaves)
    dtype = jnp.float64 if wide else jnp.float32
    if isinstance(params, dict) and set(params) == {"w", "b"} and np.shape(params["w"]) == (3, 2):
        value = _quadratic_loss(np.asarray(params["w"], np.float64), np.asarray(params["b"], np.float64))
    elif isinstance(params, dict) and set(params) == {"xy"}:
        value = _rosenbrock_loss(np.asarray(params["xy"], np.float64))
    else:
        value = 1.0 + sum(0.5 * float(np.sum(np.abs(np.asarray(x, np.complex128)) ** 2)) for x in leaves)
    return {"value": jnp.asarray(value, dtype)}
