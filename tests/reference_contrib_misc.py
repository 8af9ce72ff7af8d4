"""PyTorch's Rprop, ASGD and SparseAdam, masked RMSprop and the two forms of L1 regularization,
in plain NumPy in the :class:`reference.Reference` form, transcribed from PyTorch's
documented update rules and the papers. Nothing here imports gradxform."""
from __future__ import annotations

import numpy as np
from reference import Reference


def _zeros(params):
    return {k: np.zeros_like(v, dtype=np.float64) for k, v in params.items()}


def make_torch_rprop(lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0)):
    """torch.optim.Rprop: per-element step sizes, sign-change zeroing of the gradient."""
    eta_minus, eta_plus = etas
    low, high = step_sizes

    def init(params):
        return {"prev": _zeros(params), "size": {k: np.full_like(v, lr, dtype=np.float64)
                                                  for k, v in params.items()}}

    def update(grads, state, params):
        out, prev, sizes = {}, {}, {}
        for k, g in grads.items():
            sign = np.sign(g * state["prev"][k])
            factor = np.where(sign > 0, eta_plus, np.where(sign < 0, eta_minus, 1.0))
            sizes[k] = np.clip(state["size"][k] * factor, low, high)
            g = np.where(sign < 0, 0.0, g)  # a flip of sign: no step, and no memory of it
            out[k] = -np.sign(g) * sizes[k]
            prev[k] = g
        return out, {"prev": prev, "size": sizes}

    return Reference(init, update)


def make_torch_asgd(lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0):
    """torch.optim.ASGD: decaying step size, decay term, and the average ``ax`` kept in the state."""

    def init(params):
        return {"step": 0, "eta": lr, "mu": 1.0, "ax": _zeros(params)}

    def update(grads, state, params):
        step = state["step"] + 1
        eta, mu = state["eta"], state["mu"]
        out, ax = {}, {}
        for k, g in grads.items():
            g = g + weight_decay * params[k]
            new = params[k] * (1 - lambd * eta) - eta * g
            out[k] = new - params[k]
            ax[k] = new.copy() if mu == 1 else state["ax"][k] + (new - state["ax"][k]) * mu
        return out, {"step": step, "eta": lr / (1 + lambd * lr * step) ** alpha,
                     "mu": 1 / max(1, step - t0), "ax": ax}

    return Reference(init, update)


def _row_mask(g, rows):
    touched = g != 0
    if rows and g.ndim >= 2:
        touched = np.any(touched, axis=tuple(range(1, g.ndim)), keepdims=True)
    return np.broadcast_to(touched, g.shape)


def make_sparse_adam(lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    """torch.optim.SparseAdam on the rows (indices of axis 0) that received a gradient: their
    moments move and they step; the other rows keep their moments and do not move. The step
    counts every update; eps is added to sqrt(v) before the bias correction."""

    def init(params):
        return {"t": 0, "m": _zeros(params), "v": _zeros(params)}

    def update(grads, state, params):
        t = state["t"] + 1
        out, m, v = {}, {}, {}
        for k, g in grads.items():
            rows = _row_mask(g, True)
            m[k] = np.where(rows, state["m"][k] + (g - state["m"][k]) * (1 - b1), state["m"][k])
            v[k] = np.where(rows, state["v"][k] + (g * g - state["v"][k]) * (1 - b2), state["v"][k])
            step_size = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
            out[k] = np.where(rows, -step_size * m[k] / (np.sqrt(v[k]) + eps), 0.0)
        return out, {"t": t, "m": m, "v": v}

    return Reference(init, update)


def make_masked_rmsprop(lr=1e-2, decay=0.9, eps=1e-8, rows=False):
    """RMSprop whose mean of squares decays only where a gradient arrives (element or row), and
    which steps only there (Tieleman & Hinton 2012; eps outside the root, as Optax's)."""

    def init(params):
        return {"nu": _zeros(params)}

    def update(grads, state, params):
        out, nu = {}, {}
        for k, g in grads.items():
            touched = _row_mask(g, rows)
            nu[k] = np.where(touched, decay * state["nu"][k] + (1 - decay) * g * g, state["nu"][k])
            out[k] = np.where(touched, -lr * g / (np.sqrt(nu[k]) + eps), 0.0)
        return out, {"nu": nu}

    return Reference(init, update)


def make_ista(lr, l1):
    """SGD followed by the proximal step of l1 ||w||_1: w <- sign(z) max(|z| - lr l1, 0), z = w - lr g
    (Daubechies, Defrise & De Mol 2004)."""

    def init(params):
        return {}

    def update(grads, state, params):
        out = {}
        for k, g in grads.items():
            z = params[k] - lr * g
            out[k] = np.sign(z) * np.maximum(np.abs(z) - lr * l1, 0.0) - params[k]
        return out, state

    return Reference(init, update)


def make_adam_l1(lr, l1, b1=0.9, b2=0.999, eps=1e-8):
    """Adam (Kingma & Ba 2015) on the gradient of loss + l1 ||w||_1: g + l1 sign(w)."""

    def init(params):
        return {"t": 0, "m": _zeros(params), "v": _zeros(params)}

    def update(grads, state, params):
        t = state["t"] + 1
        g = {k: grads[k] + l1 * np.sign(params[k]) for k in grads}
        m = {k: b1 * state["m"][k] + (1 - b1) * g[k] for k in g}
        v = {k: b2 * state["v"][k] + (1 - b2) * g[k] ** 2 for k in g}
        out = {k: -lr * (m[k] / (1 - b1**t)) / (np.sqrt(v[k] / (1 - b2**t)) + eps) for k in g}
        return out, {"t": t, "m": m, "v": v}

    return Reference(init, update)
