"""Drive an optimizer under test and its reference over a problem, step by step."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import gradxform as gx


def trajectory(optimizer, problem, steps, dtype=np.float64, jit=True, extra_args=None):
    """Parameters after each of ``steps`` updates, as a list of dicts of NumPy arrays.

    Gradients come from the problem's NumPy function at the optimizer's own iterates, so two
    optimizers that agree step by step see identical gradients.
    """
    params = {k: jnp.asarray(v, dtype) for k, v in problem.init.items()}
    state = optimizer.init(params)
    update = jax.jit(optimizer.update) if jit else optimizer.update
    history = []
    for _ in range(steps):
        grads = problem.grad({k: np.asarray(v, np.float64) for k, v in params.items()})
        grads = {k: jnp.asarray(v, dtype) for k, v in grads.items()}
        kwargs = extra_args(params, grads) if extra_args else {}
        updates, state = update(grads, state, params, **kwargs)
        params = gx.apply_updates(params, updates)
        history.append({k: np.asarray(v, np.float64) for k, v in params.items()})
    return history


def numpy_trajectory(reference, problem, steps):
    """The same as :func:`trajectory` for a NumPy :class:`reference.Reference`."""
    params = {k: np.array(v, np.float64) for k, v in problem.init.items()}
    state = reference.init(params)
    history = []
    for _ in range(steps):
        grads = problem.grad(params)
        updates, state = reference.update(grads, state, params)
        params = {k: params[k] + updates[k] for k in params}
        history.append({k: v.copy() for k, v in params.items()})
    return history


def reference_trajectory(entry, problem, steps):
    if entry.optax_reference is not None:
        with jax.numpy_dtype_promotion("standard"):  # Optax itself mixes int and float
            return trajectory(
                entry.optax_reference(), problem, steps, extra_args=entry.needs_extra_args
            )
    return numpy_trajectory(entry.numpy_reference(), problem, steps)


def assert_same_trajectory(actual, expected, rtol, atol=1e-12):
    assert len(actual) == len(expected)
    for step, (a, e) in enumerate(zip(actual, expected)):
        for key in e:
            np.testing.assert_allclose(
                a[key], e[key], rtol=rtol, atol=atol, err_msg=f"step {step + 1}, leaf {key!r}"
            )


def eager_beside_optax(build, problem, steps=20, dtype=np.float32, extra_args=None):
    """(gradxform's, Optax's) trajectories of ``build(gx)`` and ``build(optax)``, run eagerly:
    each operation rounded as written, no fusion, so formula order alone decides the bits."""
    import warnings

    import optax

    ours = trajectory(build(gx), problem, steps, dtype=dtype, jit=False, extra_args=extra_args)
    with jax.numpy_dtype_promotion("standard"), warnings.catch_warnings():  # Optax mixes weak types
        warnings.simplefilter("ignore", DeprecationWarning)  # e.g. optax.optimistic_adam
        theirs = trajectory(build(optax), problem, steps, dtype=dtype, jit=False, extra_args=extra_args)
    return ours, theirs


def assert_same_bits(ours, theirs):
    """Two trajectories equal bit for bit, naming the first step and leaf that differ."""
    for step, (a, e) in enumerate(zip(ours, theirs)):
        for key in e:
            np.testing.assert_array_equal(a[key], e[key], err_msg=f"step {step + 1}, leaf {key!r}")
