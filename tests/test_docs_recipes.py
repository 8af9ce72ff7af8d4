"""The PyTorch guide's recipes give PyTorch's numbers: RAdam with PyTorch's ``eps`` placement and
SGD with ``dampening``, taken from ``docs/pytorch.md`` as written and compared step by step with
NumPy transcriptions of ``torch.optim.RAdam`` and ``torch.optim.SGD`` (PyTorch 2.x's update rules,
single-tensor code path, no weight decay)."""
import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradxform as gx

GUIDE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "pytorch.md"
STEPS = 20


def _recipes() -> dict:
    """The guide's blocks that define the two recipes, run in one namespace."""
    blocks = re.findall(r"^```python\n(.*?)^```$", GUIDE.read_text(), re.DOTALL | re.MULTILINE)
    chosen = [b for b in blocks if "def torch_radam(" in b or "def sgd_with_dampening(" in b]
    assert len(chosen) == 2, "docs/pytorch.md should define torch_radam and sgd_with_dampening, one block each"
    namespace: dict = {}
    for block in chosen:
        exec(compile(block, str(GUIDE), "exec"), namespace)
    return namespace


RECIPES = _recipes()


def torch_radam_reference(grads, params, lr, b1, b2, eps):
    """``torch.optim.RAdam``: eps added to sqrt(v_t), then multiplied by sqrt(1 - b2^t)."""
    m, v, out = np.zeros_like(params), np.zeros_like(params), []
    rho_inf = 2 / (1 - b2) - 1
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        bias_correction1, bias_correction2 = 1 - b1**t, 1 - b2**t
        m_hat = m / bias_correction1
        rho_t = rho_inf - 2 * t * b2**t / bias_correction2
        if rho_t > 5:
            rect = np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            adaptive_lr = np.sqrt(bias_correction2) / (np.sqrt(v) + eps)
            params = params - m_hat * lr * adaptive_lr * rect
        else:
            params = params - m_hat * lr
        out.append(params)
    return out


def torch_sgd_reference(grads, params, lr, momentum, dampening):
    """``torch.optim.SGD``: the buffer starts as the first gradient, then b = m b + (1 - d) g."""
    buffer, out = None, []
    for g in grads:
        buffer = g.copy() if buffer is None else momentum * buffer + (1 - dampening) * g
        params = params - lr * buffer
        out.append(params)
    return out


def _problem(dtype):
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=(3, 2)).astype(dtype) for _ in range(STEPS)]
    return grads, rng.normal(size=(3, 2)).astype(dtype)


def _trajectory(opt, grads, params):
    state, p, out = opt.init(jnp.asarray(params)), jnp.asarray(params), []
    update = jax.jit(opt.update)
    for g in grads:
        updates, state = update(jnp.asarray(g), state, p)
        p = gx.apply_updates(p, updates)
        out.append(np.asarray(p))
    return out


# A large eps, so that where it is added changes the numbers well beyond the tolerance.
RADAM = dict(lr=0.1, b1=0.9, b2=0.999, eps=1e-2)
SGD = dict(lr=0.1, momentum=0.9, dampening=0.3)


def test_the_radam_recipe_steps_as_pytorch_in_float64():
    grads, params = _problem(np.float64)
    opt = RECIPES["torch_radam"](RADAM["lr"], RADAM["b1"], RADAM["b2"], RADAM["eps"])
    want = torch_radam_reference(grads, params, **RADAM)
    for step, (got, expected) in enumerate(zip(_trajectory(opt, grads, params), want, strict=True)):
        np.testing.assert_allclose(got, expected, rtol=1e-10, err_msg=f"step {step + 1}")


def test_the_radam_recipe_steps_as_pytorch_in_float32():
    grads, params = _problem(np.float32)
    opt = RECIPES["torch_radam"](RADAM["lr"], RADAM["b1"], RADAM["b2"], RADAM["eps"])
    want = torch_radam_reference([g.astype(np.float64) for g in grads], params.astype(np.float64), **RADAM)
    got = _trajectory(opt, grads, params)
    assert got[-1].dtype == np.float32
    np.testing.assert_allclose(got[-1], want[-1], rtol=1e-4)


def test_optax_radam_differs_from_pytorch_where_the_recipe_does_not():
    # The recipe is needed: gx.radam (Optax's placement) leaves PyTorch's trajectory once the
    # rectification starts (rho_t > 5, from step 6 with b2 = 0.999).
    grads, params = _problem(np.float64)
    got = _trajectory(gx.radam(RADAM["lr"], RADAM["b1"], RADAM["b2"], RADAM["eps"]), grads, params)
    want = torch_radam_reference(grads, params, **RADAM)
    np.testing.assert_allclose(got[4], want[4], rtol=1e-10)  # before rectification: the same
    assert np.max(np.abs(got[-1] - want[-1]) / np.abs(want[-1])) > 1e-3


def test_the_dampening_recipe_steps_as_pytorch_in_float64():
    grads, params = _problem(np.float64)
    opt = RECIPES["sgd_with_dampening"](SGD["lr"], SGD["momentum"], SGD["dampening"])
    want = torch_sgd_reference(grads, params, **SGD)
    for step, (got, expected) in enumerate(zip(_trajectory(opt, grads, params), want, strict=True)):
        np.testing.assert_allclose(got, expected, rtol=1e-12, err_msg=f"step {step + 1}")


@pytest.mark.parametrize("dampening", [0.0, 0.3])
def test_sgd_matches_pytorch_only_without_dampening(dampening):
    grads, params = _problem(np.float64)
    got = _trajectory(gx.sgd(SGD["lr"], momentum=SGD["momentum"]), grads, params)
    want = torch_sgd_reference(grads, params, SGD["lr"], SGD["momentum"], dampening)
    if dampening == 0.0:
        np.testing.assert_allclose(got[-1], want[-1], rtol=1e-12)
    else:
        assert not np.allclose(got[-1], want[-1], rtol=1e-3)


# The optimizers table's rows that promise PyTorch's numbers, each against a NumPy transcription
# of PyTorch's update (eps chosen large enough that its placement shows).
def torch_rmsprop(grads, params, lr, alpha, eps, momentum, centered):
    square_avg, grad_avg, buffer, out = np.zeros_like(params), np.zeros_like(params), np.zeros_like(params), []
    for g in grads:
        square_avg = alpha * square_avg + (1 - alpha) * g * g
        if centered:
            grad_avg = alpha * grad_avg + (1 - alpha) * g
            avg = np.sqrt(square_avg - grad_avg * grad_avg) + eps
        else:
            avg = np.sqrt(square_avg) + eps
        buffer = momentum * buffer + g / avg
        params = params - lr * buffer
        out.append(params)
    return out


def torch_adagrad(grads, params, lr, lr_decay, eps):
    state_sum, out = np.zeros_like(params), []
    for t, g in enumerate(grads, start=1):
        state_sum = state_sum + g * g
        params = params - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(state_sum) + eps)
        out.append(params)
    return out


def torch_adamax(grads, params, lr, b1, b2, eps):
    m, exp_inf, out = np.zeros_like(params), np.zeros_like(params), []
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        exp_inf = np.maximum(b2 * exp_inf, np.abs(g) + eps)
        params = params - lr / (1 - b1**t) * m / exp_inf
        out.append(params)
    return out


def torch_nadam(grads, params, lr, b1, b2, eps, momentum_decay):
    m, v, mu_product, out = np.zeros_like(params), np.zeros_like(params), 1.0, []
    for t, g in enumerate(grads, start=1):
        mu = b1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
        mu_product *= mu
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        denom = np.sqrt(v / (1 - b2**t)) + eps
        params = params - lr * (1 - mu) / (1 - mu_product) * g / denom
        params = params - lr * mu_next / (1 - mu_product * mu_next) * m / denom
        out.append(params)
    return out


def torch_adam(grads, params, lr, b1, b2, eps, amsgrad):
    m, v, v_max, out = np.zeros_like(params), np.zeros_like(params), np.zeros_like(params), []
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        v_max = np.maximum(v_max, v) if amsgrad else v
        params = params - lr / (1 - b1**t) * m / (np.sqrt(v_max) / np.sqrt(1 - b2**t) + eps)
        out.append(params)
    return out


def torch_adamw(grads, params, lr, b1, b2, eps, weight_decay):
    m, v, out = np.zeros_like(params), np.zeros_like(params), []
    for t, g in enumerate(grads, start=1):
        params = params * (1 - lr * weight_decay)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        params = params - lr / (1 - b1**t) * m / (np.sqrt(v) / np.sqrt(1 - b2**t) + eps)
        out.append(params)
    return out


TABLE_ROWS = {
    "RMSprop": (lambda: gx.rmsprop(0.01, decay=0.99, eps=1e-3, eps_in_sqrt=False),
                lambda g, p: torch_rmsprop(g, p, 0.01, 0.99, 1e-3, 0.0, False)),
    "RMSprop-centered-momentum": (
        lambda: gx.rmsprop(0.01, decay=0.99, eps=1e-3, eps_in_sqrt=False, momentum=0.9, centered=True),
        lambda g, p: torch_rmsprop(g, p, 0.01, 0.99, 1e-3, 0.9, True)),
    "Adagrad-lr_decay": (
        lambda: gx.adagrad(gx.inverse_time_decay(0.1, 1, 0.05), initial_accumulator_value=0.0, eps=1e-3,
                           eps_in_sqrt=False),
        lambda g, p: torch_adagrad(g, p, 0.1, 0.05, 1e-3)),
    "Adam": (lambda: gx.adam(0.01, 0.9, 0.999, 1e-3), lambda g, p: torch_adam(g, p, 0.01, 0.9, 0.999, 1e-3, False)),
    "Adam-amsgrad": (lambda: gx.amsgrad(0.01, 0.9, 0.999, 1e-3, max_before_bias_correction=True),
                     lambda g, p: torch_adam(g, p, 0.01, 0.9, 0.999, 1e-3, True)),
    "Adamax": (lambda: gx.adamax(0.01, 0.9, 0.999, 1e-2), lambda g, p: torch_adamax(g, p, 0.01, 0.9, 0.999, 1e-2)),
    "NAdam-momentum_decay": (lambda: gx.nadam(0.01, 0.9, 0.999, 1e-3, momentum_decay=4e-3),
                             lambda g, p: torch_nadam(g, p, 0.01, 0.9, 0.999, 1e-3, 4e-3)),
    "AdamW": (lambda: gx.adamw(0.01, 0.9, 0.999, 1e-3, weight_decay=0.1),
              lambda g, p: torch_adamw(g, p, 0.01, 0.9, 0.999, 1e-3, 0.1)),
}


@pytest.mark.parametrize("row", sorted(TABLE_ROWS))
def test_a_table_row_that_promises_pytorchs_numbers_gives_them(row):
    make, reference = TABLE_ROWS[row]
    grads, params = _problem(np.float64)
    got = _trajectory(make(), grads, params)
    for step, (g, want) in enumerate(zip(got, reference(grads, params), strict=True)):
        np.testing.assert_allclose(g, want, rtol=1e-10, err_msg=f"{row}, step {step + 1}")
