"""Cautious optimizers (Liang, Chen, Liu & Liu 2024, arXiv:2411.16085) in plain NumPy, from the
paper, in the :class:`reference.Reference` form. Nothing here imports gradxform."""
from __future__ import annotations

import numpy as np
from reference import Reference


def _cautious_step(u, g, mask_eps):
    """Liang et al. 2024, Algorithm 1, per parameter tensor: with ``u`` the direction that is
    subtracted, m = (u * g > 0); the step is u * m / (mean(m) + eps)."""
    m = (u * g > 0).astype(np.float64)
    return u * m / (m.mean() + mask_eps)


def make_cautious_adamw(learning_rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0, mask_eps=1e-8,
                        mask_decay=True):
    """C-AdamW: the cautious line applied to AdamW's direction (Loshchilov & Hutter 2019).

    ``mask_decay=True``: the decay is part of the direction that is masked,
    u = m_hat / (sqrt(v_hat) + eps) + lambda p (the one line applied to AdamW's whole update).
    ``mask_decay=False``: the paper's C-AdamW, decaying every coordinate, in PyTorch's order
    (decay of the params before the step): p -= lr (cautious(m_hat / (sqrt(v_hat) + eps)) + lambda p).
    """

    def init(params):
        zeros = {k: np.zeros_like(v, dtype=np.float64) for k, v in params.items()}
        return {"t": 0, "m": zeros, "v": dict(zeros)}

    def update(grads, state, params):
        t = state["t"] + 1
        m = {k: b1 * state["m"][k] + (1 - b1) * g for k, g in grads.items()}
        v = {k: b2 * state["v"][k] + (1 - b2) * g * g for k, g in grads.items()}
        u = {k: (m[k] / (1 - b1**t)) / (np.sqrt(v[k] / (1 - b2**t)) + eps) for k in grads}
        if mask_decay:
            step = {k: _cautious_step(u[k] + weight_decay * params[k], g, mask_eps)
                    for k, g in grads.items()}
        else:
            step = {k: _cautious_step(u[k], g, mask_eps) + weight_decay * params[k]
                    for k, g in grads.items()}
        out = {k: -learning_rate * step[k] for k in grads}
        return out, {"t": t, "m": m, "v": v}

    return Reference(init, update)


def make_cautious_momentum(learning_rate, momentum=0.9, mask_eps=1e-8):
    """Cautious heavy-ball SGD: the cautious line applied to u = mu, mu_t = momentum mu + g."""

    def init(params):
        return {"mu": {k: np.zeros_like(v, dtype=np.float64) for k, v in params.items()}}

    def update(grads, state, params):
        mu = {k: momentum * state["mu"][k] + g for k, g in grads.items()}
        out = {k: -learning_rate * _cautious_step(mu[k], g, mask_eps) for k, g in grads.items()}
        return out, {"mu": mu}

    return Reference(init, update)
