"""The problem both schedule-free test modules run on, and gradxform beside Optax on it."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib

import gradxform as gx

START = {"w": np.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7]]), "b": np.array(0.4)}


def loss_grad(params):
    """The gradient of a non-quadratic loss, in NumPy float64."""
    return {k: np.sin(3 * v) + 0.1 * v**3 for k, v in params.items()}


def side_by_side(ours, theirs, dtype=np.float32, steps=20):
    """Both optimizers fed Optax's params and gradients at every step, eagerly (jit may fuse a
    multiply-add differently in each program).

    Returns per step: (params before, our update, Optax's update, our state, Optax's state,
    our eval params, Optax's eval params), the eval params taken at the params after Optax's.
    """
    params = {k: jnp.asarray(v, dtype) for k, v in START.items()}
    ours_state, theirs_state = ours.init(params), theirs.init(params)
    rows = []
    for _ in range(steps):
        grads = loss_grad({k: np.asarray(v, np.float64) for k, v in params.items()})
        grads = {k: jnp.asarray(v, dtype) for k, v in grads.items()}
        ours_update, ours_state = ours.update(grads, ours_state, params)
        with jax.numpy_dtype_promotion("standard"):
            theirs_update, theirs_state = theirs.update(grads, theirs_state, params)
            after = optax.apply_updates(params, theirs_update)
            theirs_x = optax.contrib.schedule_free_eval_params(theirs_state, after)
        ours_x = gx.schedule_free_eval_params(ours_state, after)
        rows.append((params, ours_update, theirs_update, ours_state, theirs_state, ours_x, theirs_x))
        params = after
    return rows
