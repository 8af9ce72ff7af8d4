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


def make_adadelta(rho=0.95, eps=1e-6):
    """Zeiler 2012, "ADADELTA: An Adaptive Learning Rate Method", Algorithm 1 (no learning rate)."""

    def init(params):
        return {"eg2": _zeros(params), "edx2": _zeros(params)}

    def update(grads, state, params):
        eg2 = {k: rho * state["eg2"][k] + (1 - rho) * g * g for k, g in grads.items()}  # line 4
        dx = {  # line 5: RMS[dx]_{t-1} / RMS[g]_t, with RMS[y] = sqrt(E[y^2] + eps)
            k: -np.sqrt(state["edx2"][k] + eps) / np.sqrt(eg2[k] + eps) * g for k, g in grads.items()
        }
        edx2 = {k: rho * state["edx2"][k] + (1 - rho) * dx[k] * dx[k] for k in grads}  # line 6
        return dx, {"eg2": eg2, "edx2": edx2}

    return Reference(init, update)


def make_adagrad(learning_rate, initial_accumulator_value=0.0, eps=1e-10):
    """Duchi, Hazan & Singer 2011 (diagonal Adagrad) in PyTorch's convention.

    ``torch.optim.Adagrad``: the sum of squares starts at ``initial_accumulator_value`` (0) and
    ``eps`` is added after the square root: ``theta -= lr * g / (sqrt(G) + eps)``.
    """

    def init(params):
        return {"G": {k: np.full_like(v, initial_accumulator_value, dtype=np.float64)
                      for k, v in params.items()}}

    def update(grads, state, params):
        G = {k: state["G"][k] + g * g for k, g in grads.items()}
        out = {k: -learning_rate * g / (np.sqrt(G[k]) + eps) for k, g in grads.items()}
        return out, {"G": G}

    return Reference(init, update)


def make_rmsprop(learning_rate, decay=0.9, eps=1e-8, momentum=0.0):
    """Tieleman & Hinton 2012, RMSprop, in PyTorch's convention (``torch.optim.RMSprop``).

    ``eps`` is added after the square root, and momentum (if any) accumulates the scaled gradient
    *before* the learning rate: ``b = momentum * b + g / (sqrt(v) + eps); theta -= lr_t * b``.
    ``learning_rate`` is a number or a function of the 0-based step.
    """

    def init(params):
        return {"t": 0, "v": _zeros(params), "b": _zeros(params)}

    def update(grads, state, params):
        t = state["t"]
        lr = learning_rate(t) if callable(learning_rate) else learning_rate
        v = {k: decay * state["v"][k] + (1 - decay) * g * g for k, g in grads.items()}
        scaled = {k: g / (np.sqrt(v[k]) + eps) for k, g in grads.items()}
        b = {k: momentum * state["b"][k] + scaled[k] for k in grads} if momentum else scaled
        out = {k: -lr * b[k] for k in grads}
        return out, {"t": t + 1, "v": v, "b": b}

    return Reference(init, update)


def make_amsgrad(learning_rate, b1=0.9, b2=0.999, eps=1e-8, bias_correction=True):
    """Reddi, Kale & Kumar 2018, Algorithm 2 with a constant beta_1: the maximum is over the raw
    second moments v_t. ``bias_correction=True`` then divides m_t by 1 - b1^t and sqrt(v_max) by
    sqrt(1 - b2^t), as PyTorch's ``Adam(amsgrad=True)`` does; ``False`` is the paper's update
    (plus eps outside the root)."""

    def init(params):
        return {"t": 0, "m": _zeros(params), "v": _zeros(params), "v_max": _zeros(params)}

    def update(grads, state, params):
        t = state["t"] + 1
        m = {k: b1 * state["m"][k] + (1 - b1) * g for k, g in grads.items()}
        v = {k: b2 * state["v"][k] + (1 - b2) * g * g for k, g in grads.items()}
        v_max = {k: np.maximum(state["v_max"][k], v[k]) for k in grads}
        if bias_correction:
            out = {
                k: -learning_rate * (m[k] / (1 - b1**t))
                / (np.sqrt(v_max[k]) / np.sqrt(1 - b2**t) + eps)
                for k in grads
            }
        else:
            out = {k: -learning_rate * m[k] / (np.sqrt(v_max[k]) + eps) for k in grads}
        return out, {"t": t, "m": m, "v": v, "v_max": v_max}

    return Reference(init, update)


def make_nadam_dozat(learning_rate, b1=0.9, b2=0.999, eps=1e-8, momentum_decay=4e-3):
    """Dozat 2016's Nadam with the momentum schedule mu_t = b1 (1 - 0.5 * 0.96^(t psi)), in the form
    PyTorch's ``NAdam`` documents (and Keras's ``Nadam`` implements): m_t keeps the constant b1,
    the bias corrections use the running product of mu_i, and v_hat has no extra b2 factor."""

    def mu(t):
        return b1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))

    def init(params):
        return {"t": 0, "mu_product": 1.0, "m": _zeros(params), "v": _zeros(params)}

    def update(grads, state, params):
        t = state["t"] + 1
        mu_t, mu_next = mu(t), mu(t + 1)
        mu_product = state["mu_product"] * mu_t
        m = {k: b1 * state["m"][k] + (1 - b1) * g for k, g in grads.items()}
        v = {k: b2 * state["v"][k] + (1 - b2) * g * g for k, g in grads.items()}
        out = {}
        for k, g in grads.items():
            m_bar = mu_next * m[k] / (1 - mu_product * mu_next) + (1 - mu_t) * g / (1 - mu_product)
            out[k] = -learning_rate * m_bar / (np.sqrt(v[k] / (1 - b2**t)) + eps)
        return out, {"t": t, "mu_product": mu_product, "m": m, "v": v}

    return Reference(init, update)


def make_qhadam(learning_rate, b1=0.995, b2=0.999, nu1=0.7, nu2=1.0, eps=1e-8):
    """Ma & Yarats 2019, the QHAdam update, in the paper's indexing: the moments g and s are
    updated with the gradient at theta_t, bias-corrected by 1 - beta^(t+1), and mixed with the
    gradient (nu1) and its square (nu2) in the step."""

    def init(params):
        return {"t": 0, "g": _zeros(params), "s": _zeros(params)}

    def update(grads, state, params):
        t = state["t"]  # zero-based, as in the paper
        g = {k: b1 * state["g"][k] + (1 - b1) * d for k, d in grads.items()}
        s = {k: b2 * state["s"][k] + (1 - b2) * d * d for k, d in grads.items()}
        out = {}
        for k, d in grads.items():
            g_prime = g[k] / (1 - b1 ** (t + 1))
            s_prime = s[k] / (1 - b2 ** (t + 1))
            numerator = (1 - nu1) * d + nu1 * g_prime
            denominator = np.sqrt((1 - nu2) * d * d + nu2 * s_prime) + eps
            out[k] = -learning_rate * numerator / denominator
        return out, {"t": t + 1, "g": g, "s": s}

    return Reference(init, update)


def make_radam(learning_rate, b1=0.9, b2=0.999, eps=0.0, threshold=4.0):
    """Liu et al. 2020, Algorithm 2 (RAdam): the rectified adaptive step where rho_t > threshold
    (the paper's 4), else the bias-corrected momentum alone. The paper's adaptive learning rate
    l_t = sqrt((1 - b2^t) / v_t) is written 1 / (sqrt(v_t / (1 - b2^t)) + eps): the paper's for
    eps = 0."""
    rho_inf = 2 / (1 - b2) - 1

    def init(params):
        return {"t": 0, "m": _zeros(params), "v": _zeros(params)}

    def update(grads, state, params):
        t = state["t"] + 1
        m = {k: b1 * state["m"][k] + (1 - b1) * g for k, g in grads.items()}
        v = {k: b2 * state["v"][k] + (1 - b2) * g * g for k, g in grads.items()}
        m_hat = {k: m[k] / (1 - b1**t) for k in grads}
        rho_t = rho_inf - 2 * t * b2**t / (1 - b2**t)
        if rho_t > threshold:
            r_t = np.sqrt(
                (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            )
            out = {
                k: -learning_rate * r_t * m_hat[k] / (np.sqrt(v[k] / (1 - b2**t)) + eps)
                for k in grads
            }
        else:
            out = {k: -learning_rate * m_hat[k] for k in grads}
        return out, {"t": t, "m": m, "v": v}

    return Reference(init, update)


def make_aggmo(learning_rate, betas=(0.0, 0.9, 0.99)):
    """Lucas, Sun, Zemel & Grosse 2019, Algorithm 1: v_i = beta_i v_i - grad; theta += gamma/K sum_i v_i."""

    def init(params):
        return {"v": [_zeros(params) for _ in betas]}

    def update(grads, state, params):
        v = [{k: beta * vi[k] - g for k, g in grads.items()} for beta, vi in zip(betas, state["v"])]
        out = {k: learning_rate / len(betas) * sum(vi[k] for vi in v) for k in grads}
        return out, {"v": v}

    return Reference(init, update)


def make_swats(learning_rate, b1=0.9, b2=0.999, eps=1e-9):
    """Keskar & Socher 2017, Algorithm 1, with the parameters as one vector.

    The Adam phase is written as in the paper, eps added to sqrt(a_k) before the bias
    correction sqrt(1 - b2^k) / (1 - b1^k). ``state["phase"]``, ``state["switched_at"]`` (the k
    of the switch) and ``state["Lambda"]`` record the switch.
    """

    def init(params):
        return {"k": 0, "phase": "adam", "m": _zeros(params), "a": _zeros(params),
                "v": _zeros(params), "lambda": 0.0, "Lambda": None, "switched_at": None}

    def update(grads, state, params):
        state = dict(state)
        k = state["k"] = state["k"] + 1
        if state["phase"] == "sgd":
            v = state["v"] = {key: b1 * state["v"][key] + g for key, g in grads.items()}
            return {key: -(1 - b1) * state["Lambda"] * v[key] for key in v}, state
        m = state["m"] = {key: b1 * state["m"][key] + (1 - b1) * g for key, g in grads.items()}
        a = state["a"] = {key: b2 * state["a"][key] + (1 - b2) * g * g for key, g in grads.items()}
        scale = learning_rate * np.sqrt(1 - b2**k) / (1 - b1**k)
        p = {key: -scale * m[key] / (np.sqrt(a[key]) + eps) for key in grads}
        p_dot_g = sum(float(np.sum(p[key] * grads[key])) for key in grads)
        if p_dot_g != 0:
            gamma = sum(float(np.sum(p[key] * p[key])) for key in grads) / -p_dot_g
            state["lambda"] = b2 * state["lambda"] + (1 - b2) * gamma
            estimate = state["lambda"] / (1 - b2**k)
            if k > 1 and abs(estimate - gamma) < eps:
                state["phase"], state["Lambda"], state["switched_at"] = "sgd", estimate, k
        return p, state

    return Reference(init, update)


def make_lamb(learning_rate, b1=0.9, b2=0.999, eps=1e-6, weight_decay=0.0):
    """You et al. 2020, Algorithm 2 (LAMB), each leaf a layer, phi the identity.

    The trust ratio is taken as 1 where either norm is zero (the paper leaves 0/0 undefined).
    """

    def init(params):
        return {"t": 0, "m": _zeros(params), "v": _zeros(params)}

    def update(grads, state, params):
        t = state["t"] + 1
        m = {k: b1 * state["m"][k] + (1 - b1) * g for k, g in grads.items()}
        v = {k: b2 * state["v"][k] + (1 - b2) * g * g for k, g in grads.items()}
        out = {}
        for k in grads:
            r = (m[k] / (1 - b1**t)) / (np.sqrt(v[k] / (1 - b2**t)) + eps) + weight_decay * params[k]
            x_norm, r_norm = np.linalg.norm(params[k]), np.linalg.norm(r)
            trust = x_norm / r_norm if x_norm > 0 and r_norm > 0 else 1.0
            out[k] = -learning_rate * trust * r
        return out, {"t": t, "m": m, "v": v}

    return Reference(init, update)
