"""Steps that loop, compiled once when called eagerly.

Called outside a trace, :func:`jax.lax.while_loop`, :func:`jax.lax.scan` and
:func:`jax.lax.cond` trace and compile their bodies at every call: an eager L-BFGS step (a
two-loop recursion, a line search) on 500 leaves took minutes, each step as long as the first.
A jitted step does not pay this, and gradxform's transformations do not jit themselves. The
few whose update loops (L-BFGS, the line searches) run that update, when called eagerly,
through one :func:`jax.jit` made with the transformation (its static arguments given by name),
so that a loop of eager steps compiles once. Those that only branch (a refresh every few
steps, a skipped step) branch with :func:`cond` and :func:`switch`, which call the chosen
branch alone when the predicate is concrete.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from .types import PyTree

_ARRAY_LIKE = (jax.Array, np.ndarray, np.generic, int, float, complex)
KEPT = 4  # compilations kept per transformation, one per static arguments seen last


def compiled_when_eager(fn: Callable, static: tuple[str, ...] = ()) -> Callable:
    """``fn(*trees, **statics)``, through one :func:`jax.jit` when called outside a trace.

    ``static`` names the keyword arguments that are not arrays (a loss function): each new one
    compiles anew, and the same one (the same object) reuses the compilation. Only the
    compilations for the last :data:`KEPT` of them are kept, so that a loop passing a new
    closure at each step (over a new batch) does not keep every closure alive. Inside a trace
    (a jitted step), where a static argument cannot be hashed, or where a leaf of ``trees`` is
    neither an array nor a number, ``fn`` runs as it is.
    """

    @functools.lru_cache(maxsize=KEPT)
    def compiled(statics: tuple) -> Callable:
        return jax.jit(functools.partial(fn, **dict(statics)))

    def run(*trees: PyTree, **statics: Any) -> Any:
        leaves = jax.tree.leaves(trees)
        key = tuple(sorted(statics.items()))
        if _any_traced(leaves) or not _compilable(leaves, key):
            return fn(*trees, **statics)
        return compiled(key)(*trees)

    return run


def cond(predicate: Any, if_true: Callable, if_false: Callable, *operands: Any) -> Any:
    """:func:`jax.lax.cond`, or, where ``predicate`` is a concrete value (an eager call), the
    branch it chooses, called as it is.

    Eagerly, ``lax.cond`` traces and compiles both branches at every call: a step of
    ``chain(clip_by_global_norm(1.0), adam(...))`` (a cond per leaf for the norm), of Shampoo
    (a cond for the inverse roots) or of :func:`gradxform.apply_if_finite` (a cond around the
    whole inner optimizer) took 0.3-0.5 s on two small leaves, against Adam's 0.04 s. Called
    this way the eager step runs the chosen branch op by op, as any eager JAX code, and the
    branch not chosen costs nothing; under ``jit``, ``vmap`` or ``grad`` of the predicate it
    is ``lax.cond``.
    """
    if isinstance(predicate, jax.core.Tracer):
        return jax.lax.cond(predicate, if_true, if_false, *operands)
    return if_true(*operands) if bool(predicate) else if_false(*operands)


def switch(index: Any, branches: tuple, *operands: Any) -> Any:
    """:func:`jax.lax.switch`, or, where ``index`` is concrete, the branch it chooses (as :func:`cond`)."""
    if isinstance(index, jax.core.Tracer):
        return jax.lax.switch(index, branches, *operands)
    return branches[int(index)](*operands)


def in_a_trace(trees: PyTree) -> bool:
    """Whether a leaf of ``trees`` is being traced (by jit, grad, vmap, ...)."""
    return _any_traced(jax.tree.leaves(trees))


def _any_traced(leaves: list) -> bool:
    return any(isinstance(leaf, jax.core.Tracer) for leaf in leaves)


def _compilable(leaves: list, statics_key: tuple) -> bool:
    """Whether ``statics_key`` (the static arguments, sorted) hashes and every leaf is an array."""
    try:
        hash(statics_key)
    except TypeError:
        return False
    return all(isinstance(leaf, _ARRAY_LIKE) for leaf in leaves)
