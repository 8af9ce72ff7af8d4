"""Optimizers whose step size comes from a rule rather than a tuned rate: Fromage and Polyak SGD.

Each alias is one ``def`` whose body is the recipe, one primitive per term of the paper's rule
with a trailing comment; its hyperparameters are declared once, in its decorator.
"""
from __future__ import annotations

from typing import Callable

from ..core import check as _check
from ..core.chain import chain
from ..core.named import Named
from ..core.protocol import GradientTransformation
from ..core.recipe import alias
from ..core.types import ScalarOrSchedule
from ..transforms.param_scaling import add_scaled_params
from ..transforms.polyak import check_polyak_args, scale_by_polyak
from ..transforms.scaling import scale_by_learning_rate
from ..transforms.trust_ratio import scale_by_trust_ratio


@alias("learning_rate", "min_norm")
def fromage(learning_rate: ScalarOrSchedule, min_norm: ScalarOrSchedule = 1e-6) -> GradientTransformation:
    r"""Fromage: a step of relative size :math:`\alpha` per layer, then a rescaling that keeps norms from growing.

    .. math::
        c_t = \frac{1}{\sqrt{1 + \alpha_t^2}}, \qquad
        u_t = -\alpha_t c_t\,\frac{\max(\|\theta_{t-1}\|, n)}{\max(\|g_t\|, n)}\,g_t
              + (c_t - 1)\,\theta_{t-1}

    with the norms taken per leaf (per layer) and the ratio 1 where either norm is zero, so that
    :math:`\theta_t = c_t\,(\theta_{t-1} - \alpha_t \frac{\|\theta_{t-1}\|}{\|g_t\|} g_t)`: the
    paper's step under deep relative trust. Chains :func:`scale_by_trust_ratio`,
    :func:`scale_by_learning_rate` with :math:`\alpha_t c_t` and :func:`add_scaled_params` with
    :math:`c_t - 1`, both forms of the one hyperparameter ``learning_rate``.

    Args:
        learning_rate: :math:`\alpha_t`, a number ``>= 0`` or a schedule.
        min_norm: :math:`n`, the least value either norm is given; ``>= 0``.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Bernstein, Vahdat, Yue & Liu, "On the distance between two neural networks and the
        stability of learning", NeurIPS 2020. https://arxiv.org/abs/2002.03432

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.fromage(0.75)
        >>> params = {"w": jnp.array([3.0, -4.0])}
        >>> updates, _ = opt.update({"w": jnp.array([0.6, -0.8])}, opt.init(params), params)
        >>> [round(float(x), 4) for x in gx.apply_updates(params, updates)["w"]]  # (theta - 3.75 g) / 1.25
        [0.6, -0.8]
    """
    _check.learning_rate("fromage", learning_rate=learning_rate)
    _check.non_negative("fromage", min_norm=min_norm)
    return chain(
        scale_by_trust_ratio(min_norm),                                  # * max(|theta|, n) / max(|g|, n)
        scale_by_learning_rate(_derived(learning_rate, _rate_times_c)),  # * -alpha_t c_t
        add_scaled_params(_derived(learning_rate, _c_minus_one)),        # + (c_t - 1) theta
    )


@alias("max_learning_rate", "scaling", "f_min", "eps")
def polyak_sgd(
    max_learning_rate: ScalarOrSchedule = 1.0,
    scaling: ScalarOrSchedule = 1.0,
    f_min: ScalarOrSchedule = 0.0,
    eps: ScalarOrSchedule = 0.0,
    variant: str = "sps",
) -> GradientTransformation:
    r"""SGD with Polyak's step size, from the loss's distance to its minimum: pass ``value=`` (the loss) to ``update``.

    With :math:`d_t = -s_t\,g_t` the scaled gradient:

    .. math::
        \gamma_t = \min\left(\frac{f(\theta_{t-1}) - f^\star}{\|d_t\|^2 + \epsilon},\;
                    \gamma_{max}\right), \qquad u_t = \gamma_t\,d_t

    (:math:`\gamma_t = 0` for a zero gradient). With :math:`s = 1` it is the paper's
    :math:`-\min\big((f - f^\star) / (\|g_t\|^2 + \epsilon), \gamma_{max}\big)\,g_t`; as in Optax,
    the norm is that of the scaled gradient. ``variant="sps+"`` takes the positive part of
    :math:`f - f^\star`. Chains :func:`scale_by_learning_rate` with :math:`s_t` and
    :func:`scale_by_polyak`.

    Args:
        max_learning_rate: :math:`\gamma_{max}`, the largest step size; ``> 0``.
        scaling: :math:`s_t`, a factor of the gradient; a number ``>= 0`` or a schedule.
        f_min: :math:`f^\star`, a lower bound on the loss (0 for a model that fits its data).
        eps: :math:`\epsilon`, added to the squared norm; ``>= 0``.
        variant: ``"sps"`` or ``"sps+"``.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`; its ``update``
        takes ``value=``, the loss at ``params``.

    References:
        Loizou, Vaswani, Laradji & Lacoste-Julien, "Stochastic Polyak Step-size for SGD: An
        Adaptive Learning Rate for Fast Convergence", AISTATS 2021. https://arxiv.org/abs/2002.10542
        Garrigos, Gower & Schaipp, "Function value learning: Adaptive learning rates based on the
        Polyak stepsize and function splitting in ERM", 2023. https://arxiv.org/abs/2307.14528

    Example:
        >>> import jax, jax.numpy as jnp, gradxform as gx
        >>> def loss(w): return jnp.sum(w ** 2)
        >>> opt, w = gx.polyak_sgd(), jnp.array([1.0, 2.0, 3.0])
        >>> value, grad = jax.value_and_grad(loss)(w)
        >>> updates, _ = opt.update(grad, opt.init(w), w, value=value)
        >>> w + updates  # step 14 / 56 = 0.25 along -2 w
        Array([0.5, 1. , 1.5], dtype=float32)
    """
    _check.learning_rate("polyak_sgd", scaling=scaling)
    check_polyak_args("polyak_sgd", f_min, max_learning_rate, eps, variant)
    return chain(
        scale_by_learning_rate(scaling),                               # d_t = -s_t g_t
        scale_by_polyak(f_min, max_learning_rate, eps, variant),       # * min((f - f*) / (|d_t|^2 + eps), gamma_max)
    )


def _rate_times_c(rate):
    r""":math:`\alpha / \sqrt{1 + \alpha^2}`, in Optax's order of operations."""
    if _is_symbol(rate):
        return type(rate)(f"{rate.text} / sqrt(1 + {rate.text}^2)")
    return rate * (1 / (1 + rate**2) ** 0.5)


def _c_minus_one(rate):
    r""":math:`1 / \sqrt{1 + \alpha^2} - 1`, in Optax's order of operations."""
    if _is_symbol(rate):
        return type(rate)(f"1 / sqrt(1 + {rate.text}^2) - 1")
    return 1 / (1 + rate**2) ** 0.5 - 1


def _is_symbol(rate) -> bool:
    """Whether ``rate`` is the stand-in by which a recipe prints a derived hyperparameter."""
    return isinstance(getattr(rate, "text", None), str)


def _derived(value: ScalarOrSchedule | Named, form: Callable) -> ScalarOrSchedule | Named:
    """``form`` of a hyperparameter, still read and set as the hyperparameter itself."""
    if isinstance(value, Named):
        inner = value.derive or (lambda x: x)
        return value._replace(derive=lambda x: form(inner(x)))
    return (lambda step: form(value(step))) if callable(value) else form(value)
