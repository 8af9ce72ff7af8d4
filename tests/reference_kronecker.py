"""Shampoo (Gupta, Koren & Singer 2018) and SOAP (Vyas et al. 2024) in plain NumPy, from the
papers, in the :class:`reference.Reference` form. Nothing here imports gradxform.

Shared conventions, as gradxform documents them: a leaf with two axes or more is the matrix of
its last axis against the others; a side longer than ``max_precond_dim`` is not preconditioned;
the step count ``t`` is zero-based and the expensive work happens when ``t % f == 0``.
"""
from __future__ import annotations

import numpy as np
from reference import Reference


def _matrix(x):
    """The matrix a leaf is preconditioned as, or None for vectors and scalars."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 2:
        return None
    return x.reshape(int(np.prod(x.shape[:-1])), x.shape[-1])


def _factor(size, max_precond_dim):
    """A zero statistic for one side, or None (identity) if the side is too long."""
    return np.zeros((size, size)) if size <= max_precond_dim else None


def _inverse_fourth_root(a, eps):
    """(A + eps I)^(-1/4) by eigendecomposition, eigenvalues below 0 taken as 0."""
    w, v = np.linalg.eigh(a)
    return v @ np.diag((np.maximum(w, 0.0) + eps) ** -0.25) @ v.T


def make_shampoo(learning_rate, beta=None, eps=1e-6, precondition_frequency=10, max_precond_dim=10000,
                 grafting="adagrad", graft_decay=0.999, graft_eps=1e-8):
    """Gupta et al. 2018, Algorithm 1 (L_0 = 0 with eps inside the root, i.e. L_0 = eps I), the roots
    recomputed every ``precondition_frequency`` steps, grafted per layer (Agarwal et al. 2020) onto
    Adagrad g / (sqrt(sum g^2) + eps_g), RMSprop g / (sqrt(v) + eps_g), SGD g, or nothing.
    Vectors and scalars take the graft's step."""

    def init(params):
        state = {"t": 0, "acc": {k: np.zeros_like(v, dtype=np.float64) for k, v in params.items()}, "kf": {}}
        for k, v in params.items():
            g = _matrix(v)
            if g is not None:
                m, n = g.shape
                left, right = _factor(m, max_precond_dim), _factor(n, max_precond_dim)
                state["kf"][k] = {"L": left, "R": right, "PL": None, "PR": None}
        return state

    def graft_step(g, acc):
        if grafting == "adagrad":
            acc = acc + g * g
            return g / (np.sqrt(acc) + graft_eps), acc
        if grafting == "rmsprop":
            acc = graft_decay * acc + (1 - graft_decay) * g * g
            return g / (np.sqrt(acc) + graft_eps), acc
        return g, acc

    def statistic(s, outer):
        if s is None:
            return None
        return s + outer if beta is None else beta * s + (1 - beta) * outer

    def update(grads, state, params):
        t, out, acc, kf = state["t"], {}, {}, {}
        for k, g in grads.items():
            a, acc[k] = graft_step(g, state["acc"][k])
            gm = _matrix(g)
            if gm is None:
                out[k] = -learning_rate * a
                continue
            f = dict(state["kf"][k])
            f["L"] = statistic(f["L"], gm @ gm.T)
            f["R"] = statistic(f["R"], gm.T @ gm)
            if t % precondition_frequency == 0:
                f["PL"] = None if f["L"] is None else _inverse_fourth_root(f["L"], eps)
                f["PR"] = None if f["R"] is None else _inverse_fourth_root(f["R"], eps)
            d = gm
            if f["PL"] is not None:
                d = f["PL"] @ d
            if f["PR"] is not None:
                d = d @ f["PR"]
            if grafting != "none":
                norm_d = np.linalg.norm(d)
                d = d * (np.linalg.norm(a) / norm_d) if norm_d > 0 else np.zeros_like(d)
            out[k] = -learning_rate * d.reshape(g.shape)
            kf[k] = f
        return out, {"t": t + 1, "acc": acc, "kf": kf}

    return Reference(init, update)


def make_soap(learning_rate=3e-3, b1=0.95, b2=0.95, shampoo_beta=None, eps=1e-8, weight_decay=0.01,
              precondition_frequency=10, max_precond_dim=10000):
    """Vyas et al. 2024, Algorithm 3 (momentum M in the params' basis, V in the rotated one), with
    Adam's bias corrections, the bases refreshed after the step by Algorithm 4 (Q <- QR(P Q)),
    the first time by an eigendecomposition; Q_L = Q_R = I before. Vectors and scalars: Adam.
    Decoupled weight decay, AdamW's: u = -lr (N + wd * theta)."""
    beta_s = b2 if shampoo_beta is None else shampoo_beta

    def init(params):
        zeros = {k: np.zeros_like(v, dtype=np.float64) for k, v in params.items()}
        kf = {}
        for k, v in params.items():
            g = _matrix(v)
            if g is not None:
                m, n = g.shape
                left, right = _factor(m, max_precond_dim), _factor(n, max_precond_dim)
                kf[k] = {"L": left, "R": right,
                         "QL": None if left is None else np.eye(m), "QR": None if right is None else np.eye(n)}
        return {"t": 0, "M": zeros, "V": dict(zeros), "kf": kf}

    def rotate(x, f):
        if f.get("QL") is not None:
            x = f["QL"].T @ x
        if f.get("QR") is not None:
            x = x @ f["QR"]
        return x

    def rotate_back(x, f):
        if f.get("QL") is not None:
            x = f["QL"] @ x
        if f.get("QR") is not None:
            x = x @ f["QR"].T
        return x

    def refreshed(p, q, t):
        if p is None:
            return None
        if t == 0:
            return np.linalg.eigh(p)[1]
        if t % precondition_frequency == 0:
            return np.linalg.qr(p @ q)[0]
        return q

    def update(grads, state, params):
        t, out, m_new, v_new, kf = state["t"], {}, {}, {}, {}
        for k, g in grads.items():
            gm = _matrix(g)
            f = state["kf"].get(k, {})
            gm = np.asarray(g, dtype=np.float64) if gm is None else gm
            m = b1 * state["M"][k].reshape(gm.shape) + (1 - b1) * gm            # line 4
            g_rot = rotate(gm, f)                                                # line 3
            m_rot = rotate(m, f)                                                 # line 5
            v = b2 * state["V"][k].reshape(gm.shape) + (1 - b2) * g_rot * g_rot  # line 7
            n_rot = (m_rot / (1 - b1 ** (t + 1))) / (np.sqrt(v / (1 - b2 ** (t + 1))) + eps)  # line 8
            n = rotate_back(n_rot, f)                                            # line 10
            out[k] = -learning_rate * (n.reshape(np.shape(g)) + weight_decay * params[k])  # line 11
            m_new[k], v_new[k] = m.reshape(np.shape(g)), v.reshape(np.shape(g))
            if f:
                f = dict(f)
                if f["L"] is not None:
                    f["L"] = beta_s * f["L"] + (1 - beta_s) * gm @ gm.T            # line 13
                if f["R"] is not None:
                    f["R"] = beta_s * f["R"] + (1 - beta_s) * gm.T @ gm            # line 14
                f["QL"], f["QR"] = refreshed(f["L"], f["QL"], t), refreshed(f["R"], f["QR"], t)  # 15-18
                kf[k] = f
        return out, {"t": t + 1, "M": m_new, "V": v_new, "kf": kf}

    return Reference(init, update)
