"""Stateless element-wise maps that appear as single terms in optimizer recipes."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from ..core import check as _check
from ..core import hyperparams as _hyper
from ..core import recipe as _recipe
from ..core import tree as _tree
from ..core.chain import primitive
from ..core.numerics import safe_sqrt
from ..core.protocol import EmptyState, GradientTransformation
from ..core.types import Hyper


def _elementwise(fn) -> GradientTransformation:
    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        return jax.tree.map(fn, updates), state

    return primitive(init, update)


@_recipe.factory
def sqrt_plus_eps(eps: Hyper | None = 1e-8, eps_root: Hyper | None = 0.0) -> GradientTransformation:
    r"""Map each update to its square root plus a small constant (the denominator of Adam).

    .. math::  u_t = \sqrt{g_t + \epsilon_{root}} + \epsilon

    ``eps`` outside the root is Optax's and PyTorch's Adam; ``eps_root`` inside it is Optax's
    RMSprop default (``eps_in_sqrt=True``).

    Args:
        eps: :math:`\epsilon`, added after the square root; ``>= 0``; ``None`` leaves the term
            out (no hyperparameter to read or set).
        eps_root: :math:`\epsilon_{root}`, added under the square root; ``>= 0`` or ``None``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`EmptyState` (in a chain; on its own,
        the one link of a :class:`ChainState`).
    """
    terms = {name: v for name, v in (("eps", eps), ("eps_root", eps_root)) if v is not None}
    _check.non_negative("sqrt_plus_eps", **terms)
    _check.not_subnormal("sqrt_plus_eps", **terms)
    hyper = _hyper.declare("sqrt_plus_eps", **terms)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        h = hyper.read(extra_args)
        outside = h("eps") if "eps" in terms else 0.0
        inside = h("eps_root") if "eps_root" in terms else 0.0

        def root(v):
            dtype = _tree.compute_dtype(v.dtype)
            out = safe_sqrt(v.astype(dtype) + jnp.asarray(inside, dtype)) + jnp.asarray(outside, dtype)
            return out.astype(v.dtype)

        return jax.tree.map(root, updates), EmptyState()

    return primitive(init, update, hyper)


@_recipe.factory
def square() -> GradientTransformation:
    r"""Map each update to its squared magnitude, :math:`u_t = |g_t|^2`. Stateless."""
    return _elementwise(_tree.abs_sq)


@_recipe.factory
def sign() -> GradientTransformation:
    r"""Map each update to its sign, :math:`u_t = \operatorname{sign}(g_t)` (Lion, signSGD). Stateless.

    References:
        Bernstein, Wang, Azizzadenesheli & Anandkumar, "signSGD: Compressed Optimisation for
        Non-Convex Problems", ICML 2018.
    """
    return _elementwise(jnp.sign)


# --- Update rules in LaTeX, for a recipe's rendering in a notebook ------------------------------


@_recipe.formula("sqrt_plus_eps")
def _sqrt_plus_eps_rule(a, x, fresh):
    inside = x if a.get("eps_root", "None") in ("None", "0.0") else f"{x} + {a['eps_root']}"
    outside = "" if a.get("eps", "None") in ("None", "0.0") else f" + {a['eps']}"
    return rf"\sqrt{{{inside}}}{outside}", []


@_recipe.formula("sign")
def _sign_rule(a, x, fresh):
    return rf"\operatorname{{sign}}{_recipe.group(x)}", []


@_recipe.formula("square")
def _square_rule(a, x, fresh):
    return rf"|{x}|^2", []
