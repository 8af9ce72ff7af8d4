"""Complex parameters optimized as pairs of real ones: Optax's ``contrib.split_real_and_imaginary``."""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..core import link as _link
from ..core import recipe as _recipe
from ..core.chain import primitive
from ..core.link import Branch
from ..core.protocol import GradientTransformation
from ..core.state_class import state_class
from ..core.types import PyTree


class SplitRealAndImaginaryArrays(NamedTuple):
    """The real and imaginary parts of one complex array, as two real arrays."""

    real: jax.Array
    imaginary: jax.Array


@state_class
class SplitRealAndImaginaryState(NamedTuple):
    inner_state: PyTree  # the wrapped optimizer's state, over the split params


def _split(x):
    """A complex array as its two real parts; a real array as it is."""
    return SplitRealAndImaginaryArrays(jnp.real(x), jnp.imag(x)) if jnp.iscomplexobj(x) else x


def _merged(x):
    """A pair of real parts as the complex array ``real + i imaginary``; anything else as it is."""
    if isinstance(x, SplitRealAndImaginaryArrays):
        return jax.lax.complex(x.real, x.imaginary)
    return x


def _split_tree(tree: PyTree) -> PyTree:
    return None if tree is None else jax.tree.map(_split, tree)


@_recipe.factory
def split_real_and_imaginary(inner: Branch) -> GradientTransformation:
    r"""Run ``inner`` on the real and imaginary parts of each complex parameter as two real ones.

    For a complex leaf :math:`z = x + i y` with update :math:`g = g_x + i g_y`, ``inner`` sees
    the real leaves :math:`(x, y)` and updates :math:`(g_x, g_y)`, and its outputs
    :math:`(u_x, u_y)` are merged back into :math:`u = u_x + i u_y`; real leaves pass through as
    they are. An element-wise optimizer then treats each part as its own coordinate (Adam keeps
    :math:`g_x^2` and :math:`g_y^2` apart, where on the complex leaf it keeps :math:`|g|^2`), so
    the result is not rotation-equivariant: it is what an optimizer does on a model written with
    real parameters. JAX's gradients of real losses with respect to complex parameters are
    conjugated relative to PyTorch's: conjugate them before the update if you follow PyTorch.

    Args:
        inner: the optimizer of the real parts: a transformation, or a list of them applied in
            sequence.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`SplitRealAndImaginaryState`
        (in a chain; on its own, the one link of a :class:`ChainState`); ``inner``'s state holds
        a pair of real arrays where the params hold a complex one.

    References:
        Optax's ``contrib.split_real_and_imaginary``; the conjugation convention:
        https://github.com/google-deepmind/optax/issues/196

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.split_real_and_imaginary(gx.sign_sgd(0.1))
        >>> z = jnp.array([1.0 + 1.0j])
        >>> updates, _ = opt.update(jnp.array([2.0 - 0.5j]), opt.init(z), z)
        >>> print(updates)  # the sign of each part, not the phase of the complex gradient
        [-0.1+0.1j]
    """
    wrapped = _link.branch(inner, "split_real_and_imaginary")

    def init(params):
        return SplitRealAndImaginaryState(inner_state=wrapped.raw.init(_split_tree(params)))

    def update(updates, state, params=None, **extra_args):
        out, inner_state = wrapped.raw.update(
            _split_tree(updates), state.inner_state, _split_tree(params), **extra_args)
        merged = jax.tree.map(_merged, out, is_leaf=lambda x: isinstance(x, SplitRealAndImaginaryArrays))
        return merged, SplitRealAndImaginaryState(inner_state=inner_state)

    return primitive(init, update, parts={"inner_state": wrapped})
