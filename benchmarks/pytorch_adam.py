"""PyTorch's Adam as a runner of :func:`common.interleaved`, for ``adam_speed.py --pytorch``.

PyTorch is optional: it is not in the ``benchmarks`` extra (``make bench-pytorch`` installs its
CPU build into ``.venv-bench``). Its fused CPU Adam (``torch.optim.Adam(fused=True)``, PyTorch >= 2.4)
updates params, m and v in one pass over memory per tensor; the issue quotes it as the speed a
one-pass Adam reaches on this machine. Not a benchmark itself.

PyTorch's Adam divides by ``sqrt(v_hat) + eps`` as Optax's does, so with the same learning rate
and eps the two follow the same trajectory up to float32 rounding; ``adam_speed.py`` prints the
difference.
"""
from __future__ import annotations

import importlib.util
import inspect

import common
import jax
import jax.numpy as jnp
import numpy as np

VARIANTS = {  # label suffix -> torch.optim.Adam keyword arguments
    "fused": {"fused": True},
    "foreach": {"foreach": True},
    "for-loop": {"foreach": False},
}


def unavailable() -> str:
    """Why PyTorch's Adam cannot run here, or "" if it can."""
    if importlib.util.find_spec("torch") is None:
        return "PyTorch is not installed (make bench-pytorch installs its CPU build into .venv-bench)"
    import torch

    if "fused" not in inspect.signature(torch.optim.Adam).parameters:
        return f"PyTorch {torch.__version__} has no fused Adam (it came in 2.4)"
    return ""


def version() -> str:
    import torch

    return f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads)"


def runner(label: str, variant: str, params0: dict, grads: dict, learning_rate: float):
    """A :class:`common.Runner` whose step is ``torch.optim.Adam(..., **VARIANTS[variant]).step()``
    on one torch tensor per leaf of ``params0`` (with the gradients of ``grads``, set once), and
    a function giving the current params as a tree of JAX arrays."""
    import torch

    leaves, treedef = jax.tree.flatten(params0)
    params = [torch.nn.Parameter(torch.from_numpy(np.array(leaf, copy=True))) for leaf in leaves]
    for p, g in zip(params, jax.tree.leaves(grads)):
        p.grad = torch.from_numpy(np.array(g, copy=True))
    optimizer = torch.optim.Adam(params, lr=learning_rate, **VARIANTS[variant])

    def step(carry):
        with torch.no_grad():
            optimizer.step()  # synchronous on the CPU: the step is done when it returns
        return carry

    def tree():
        return jax.tree.unflatten(treedef, [jnp.asarray(p.detach().numpy()) for p in params])

    return common.Runner(label, step, [None]), tree
