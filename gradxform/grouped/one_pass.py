"""One pass over memory per step: the update computed a second time, for the params alone.

A jitted Adam step (``update`` then ``apply_updates``) compiles, on XLA's CPU backend, to three
element-wise kernels, each a pass over memory: the first moment (read m, g; write m), the second
(read v, g; write v), then the params (read p and the new m and v; write p). Ten arrays move
where seven would do. The new moments are both state to return and inputs of the params' kernel,
and XLA fuses a producer into its consumer only by recomputing it; it will not make one kernel
with several outputs out of a producer and its consumer.

:func:`one_pass` hands XLA a program it can fuse: the state is updated from the inputs as usual,
and the updates are computed again from the same inputs passed through
:func:`jax.lax.optimization_barrier`, which keeps XLA from merging the two copies back into one
before fusion. The params' kernel then reads p, g, m and v, as the moments' kernels do, and XLA's
multi-output fusion merges these siblings into one kernel that reads p, g, m, v and writes p, m,
v once: seven arrays (``benchmarks/RESULTS.md``, "Passes over memory").

XLA's CPU backend builds multi-output fusions only when told to, through a process-wide option::

    XLA_FLAGS=--xla_backend_extra_options=xla_cpu_use_multi_output_fusion

(``jax.jit``'s ``compiler_options`` cannot carry it: they set XLA's debug options one field at a
time, and this one is an entry of the map field ``xla_backend_extra_options``, which they refuse.)

Without it the formulation backfires (XLA copies the moments before overwriting them, and the
step took 3.5-4x as long), so :func:`one_pass` refuses to run on a CPU backend started without
it. Other backends are not checked: their XLA builds multi-output fusions by default, but no
accelerator was at hand to measure what this formulation does there.
"""
from __future__ import annotations

import os

import jax
import jax.numpy as jnp

from ..core import check as _check
from ..core import recipe as _recipe
from ..core.chain import whole
from ..core.link import Branch
from ..core.protocol import GradientTransformation
from ..core.types import PyTree

CPU_OPTION = "xla_cpu_use_multi_output_fusion"  # in XLA_FLAGS' --xla_backend_extra_options


@_recipe.factory
def one_pass(inner: Branch, *, require_fusion: bool = True) -> GradientTransformation:
    r"""``inner`` with its update computed twice, so that XLA can make the step one pass.

    .. math::

        (u_t, s_t) = \mathrm{inner}(g_t, s_{t-1}, p_{t-1}), \qquad
        u_t' = \mathrm{inner}(\mathrm{barrier}(g_t, s_{t-1}, p_{t-1}))_0

    and it returns :math:`(u_t', s_t)`. Both are the same function of the same values, so the
    results are those of ``inner`` (op by op bit for bit; under ``jit`` XLA may fuse the two
    programs differently, which can move the last bit). The state is ``inner``'s own: a
    checkpoint of ``inner`` restores into ``one_pass(inner)`` and back. See
    :mod:`gradxform.grouped.one_pass` for why this lets XLA write params and state in one kernel.

    Wrap the whole optimizer, and apply the updates in the same jitted function, so that the
    params' kernel is part of the program XLA fuses. It gains where kernels are large and
    memory-bound, nothing where they are small, and not on every recipe: of the aliases, SGD
    with momentum, Adam, AdamW, Nadam, AdaMax, RMSprop and Adagrad become one kernel; the
    measured step times and passes over memory are in ``benchmarks/RESULTS.md``
    (``benchmarks/adam_speed.py --one-pass``, ``benchmarks/hlo_passes.py``).

    Args:
        inner: a transformation, or a list of them applied in sequence.
        require_fusion: refuse, when built, a CPU backend without multi-output fusion (the
            default). ``False`` skips the check, to measure what the formulation costs without
            the fusion (``benchmarks/hlo_passes.py``); the results are the same either way.

    Returns:
        A :class:`GradientTransformation` with ``inner``'s state.

    Raises:
        RuntimeError: on XLA's CPU backend, when ``XLA_FLAGS`` does not switch on its
            multi-output fusion (``--xla_backend_extra_options=xla_cpu_use_multi_output_fusion``,
            set before JAX starts), unless ``require_fusion=False``.
        TypeError: if ``require_fusion`` is not a bool.

    Example (in a process started with that option)::

        opt = gx.one_pass(gx.adam(1e-3))
        state = opt.init(params)

        @functools.partial(jax.jit, donate_argnums=(0, 1))
        def step(params, state, grads):
            updates, state = opt.update(grads, state, params)
            return gx.apply_updates(params, updates), state
    """
    transform = whole(inner, "one_pass")
    _check.flag("one_pass", require_fusion=require_fusion)
    if require_fusion:
        _require_multi_output_fusion()

    def update(updates, state, params=None, **extra_args):
        _, new_state = transform.update(updates, state, params, **extra_args)
        hidden_updates, hidden_state, hidden_params = _behind_barrier((updates, state, params))
        new_updates, _ = transform.update(hidden_updates, hidden_state, hidden_params, **extra_args)
        return new_updates, new_state

    return GradientTransformation(transform.init, update)


def _require_multi_output_fusion() -> None:
    """Raise on a CPU backend whose XLA_FLAGS leave multi-output fusion off."""
    if jax.default_backend() == "cpu" and CPU_OPTION not in os.environ.get("XLA_FLAGS", ""):
        raise RuntimeError(_check.NO_MULTI_OUTPUT_FUSION.format(option=CPU_OPTION))


def _behind_barrier(tree: PyTree) -> PyTree:
    """The tree with its arrays of rank >= 1 passed through one optimization barrier.

    Scalars (a chain's step count) pass straight on, so that both copies of the update share
    the arithmetic done on them (bias corrections, schedules).
    """
    leaves, treedef = jax.tree.flatten(tree)
    hidden = [i for i, leaf in enumerate(leaves) if jnp.ndim(leaf) > 0]
    passed = jax.lax.optimization_barrier([leaves[i] for i in hidden])
    for i, leaf in zip(hidden, passed):
        leaves[i] = leaf
    return jax.tree.unflatten(treedef, leaves)
