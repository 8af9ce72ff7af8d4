"""The grouped multi-tensor mode: run a transformation on a few flat buffers instead of many leaves.

An optimizer step costs the memory traffic of params, gradients and state, plus a fixed cost per
kernel and per buffer; on a tree of thousands of small leaves the fixed cost dominates. Here the
leaves are grouped, and each group is one flat buffer:

* **Groups.** Leaves (``None`` leaves left out) are grouped by dtype and by sharding. Leaves
  whose arrays carry no :class:`jax.sharding.NamedSharding` (single-device arrays, or tracers
  when ``init`` runs under ``jit``) are grouped by dtype alone. A sharded leaf is grouped by the
  mesh and the ordered list of mesh axes its ``PartitionSpec`` cuts it along: ``P("model",
  None)`` on a matrix and ``P(None, "model")`` on another both cut along ``"model"`` and share
  a group; ``P("data", "model")`` is another group. A leaf whose sharded dimension does not
  divide evenly joins the unsharded group of its dtype (correct, but it is gathered).
* **Buffers.** A group's buffer is a 1-D array, named ``"float32"`` (unsharded) or
  ``"float32[model]"`` / ``"bfloat16[data,model]"`` (sharded: the axes in order). With
  ``buffer_size=N`` a group is cut, between leaves, into buffers of at most ``N`` elements a
  row, named ``"float32"``, ``"float32#1"``, ...; a larger leaf has a buffer of its own. In an
  unsharded group the leaves lie one after the other, raveled in row-major order, in tree order.
  In a sharded group the buffer is cut into one row per device block (``rows`` = the product of
  the axes' sizes, the buffer sharded ``P((axes...))``), and row ``r`` holds the block of every
  leaf that device block ``r`` owns, one after the other: building and reading the buffers
  moves no data between devices.
* **State.** :func:`flatten`'s state is the inner transformation's state over these buffers
  (:class:`FlattenState`), so moments are a few large arrays that carry the buffers' sharding.
  With ``shard_state_over=(mesh, axis)`` the state of every group not already cut along
  ``axis`` is split across it as well (ZeRO stage 1): each row is padded with zeros to a
  multiple of the axis size and each device keeps ``1/size`` of it; gradients and params are
  sliced locally, the inner update runs on the slice, and the updates are all-gathered.
* **Identical results.** :func:`flatten` first traces the inner update on the tree (abstractly,
  once per tree layout) and accepts it only if it is leaf-wise (see :mod:`gradxform.grouped.leafwise`):
  every leaf of one dtype computed by the same element-wise operations from its own values and
  shared scalars. Then, run op by op, the updates and state equal the per-leaf run's bit for
  bit, but for 0-d leaves: XLA's CPU backend evaluates some operations (division through a
  refined reciprocal) on arrays and on 0-d scalars differently, so a 0-d leaf can differ in its
  last bits. Under ``jit`` the results agree to the last bit or two: XLA's algebraic simplifier
  rewrites chains of divisions (``a / b / c`` into ``a / (b * c)``, ``a / s`` into
  ``a * (1 / s)``) depending on the shape of the whole program, and does so differently for the
  per-leaf run itself when a leaf is added to the tree. A reduction over *every* leaf (a global norm, as in
  ``clip_by_global_norm``, SWATS's projection) is accepted and adds up the same terms in another
  order, so it can differ in the last bits too.
* **Not supported** (rejected with an error that says why): per-leaf reductions (the trust
  ratios of LAMB and LARS, ``clip_by_norm``, ``clip_by_block_rms``, ``centralize``,
  ``adaptive_grad_clip``), leaves treated differently (any mask or partition: weight-decay masks
  of AdamW, Lion, Adadelta, LARS), noise drawn per leaf (``noisy_sgd``, ``add_noise``) and
  control flow over whole trees (L-BFGS). Keep such parts outside :func:`flatten`, e.g.
  ``chain(flatten(adam_part), masked(weight_decay(...), mask), ...)``.

:func:`ravel_by_group` keeps the params themselves flat between steps: it returns the buffers
and a cheap, jittable ``unravel``; train on the buffers and call ``unravel`` inside the loss.
Any optimizer then sees a few large leaves, and the compiled step has as many parameters and
operations for 10 leaves as for 10,000.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ..core import check as _check
from ..core import recipe as _recipe
from ..core.chain import whole
from ..core.link import Branch
from ..core.protocol import GradientTransformation
from ..core.state_class import state_class
from ..core.types import PyTree
from . import leafwise as _leafwise


@dataclasses.dataclass(frozen=True)
class _Place:
    """Where one leaf lives: its group, and its slice ``[offset, offset + width)`` of every row."""

    group: int
    shape: tuple
    splits: tuple  # per dimension, how many device blocks cut it (1: not cut)
    offset: int
    width: int  # elements of the leaf in one row: size // rows


@dataclasses.dataclass(frozen=True)
class _Group:
    name: str  # the buffer's key, e.g. "float32" or "float32[model]"
    dtype: str
    mesh: Any  # jax.sharding.Mesh, or None for arrays without a NamedSharding
    axes: tuple  # mesh axes that cut the buffer into rows, in order
    rows: int  # product of the axes' sizes
    width: int  # elements per row
    padded: int  # elements per row after padding to a multiple of the state axis's size
    state_axis: Any  # mesh axis the state is also split across (ZeRO-1), or None


@jax.tree_util.register_static
@dataclasses.dataclass(frozen=True)
class Layout:
    """Static description of the buffers of a tree: no arrays, only shapes, groups and offsets."""

    treedef: Any
    places: tuple  # one _Place per non-None leaf, in tree order
    groups: tuple  # one _Group per buffer

    def names(self) -> list:
        return [g.name for g in self.groups]


@state_class
class FlattenState(NamedTuple):
    """The state of :func:`flatten`."""

    inner: PyTree  # the inner transformation's state over the buffers {group name: 1-D array}
    layout: Layout  # static (no leaves): which leaf lives where


@_recipe.factory
def flatten(
    inner: Branch, shard_state_over: tuple | None = None, buffer_size: int | None = None
) -> GradientTransformation:
    r"""Run ``inner`` on leaves grouped by dtype and sharding into a few flat buffers.

    The grouped multi-tensor mode: every element-wise step of ``inner`` becomes one kernel per
    buffer instead of one per leaf, the state is a few large buffers, and the updates come back
    in the params' structure. What is grouped, how the buffers are laid out, which results are
    identical and what is rejected is described in :mod:`gradxform.grouped.layouts`; in short, results
    equal the per-leaf run bit for bit for element-wise transformations (Adam, RMSprop, SGD,
    Adagrad, Lion without a mask, ...) run op by op, up to the last bits of 0-d leaves on CPU,
    of global norms, and of XLA's rewrites of divisions under ``jit``, and transformations that
    depend on the tree (per-leaf norms as in LAMB and LARS, masks, noise drawn per leaf, L-BFGS)
    raise a ``ValueError`` when the update is traced.
    Optax's ``flatten`` concatenates every leaf into one buffer and needs a single dtype.

    To keep the params flat between steps too, and pay nothing per leaf in the step, see
    :func:`ravel_by_group`. With params left as a tree, each step gathers the gradients into
    fresh buffers and slices the updates back out: a gain where leaves are many and small. On a
    CPU, give large trees a ``buffer_size`` (``2**18``, say): a fresh buffer of many megabytes
    is mapped anew by the allocator every step and its pages fault, while buffers of about a
    megabyte are reused. Compile time with tree params grows with the number of distinct
    slices, so smaller buffers, which repeat the same offsets, compile faster; the check that
    ``inner`` is leaf-wise traces it once on the whole tree. ``benchmarks/RESULTS.md`` has the
    measured step and compile times.

    **Call** ``init`` **eagerly on sharded params.** The groups are read from the params'
    shardings when ``init`` runs, and are static. Under ``jit`` or :func:`jax.eval_shape` the
    params are tracers, which in JAX's default sharding mode carry no sharding yet, so ``init``
    then groups by dtype alone (no error, no warning: on replicated or single-device params
    nothing is lost). On sharded params that is correct but slow: every step gathers the sharded
    leaves into unsharded buffers, and the state's :class:`Layout` differs from the one an eager
    ``init`` gives. An eager ``init`` only lays out the buffers and allocates the state; for an
    abstract template of the sharded state (to restore a checkpoint into), close over the
    params: ``jax.eval_shape(lambda: opt.init(params))``. With ``shard_state_over`` on
    replicated params, the mesh is given and ``init`` lays out the same groups under ``jit``.

    Args:
        inner: a transformation, or a list of them applied in sequence.
        shard_state_over: ``None``, or ``(mesh, axis)``: split the state of every group not
            already cut along the mesh axis ``axis`` across it (ZeRO stage 1). Each device then
            keeps ``1/mesh.shape[axis]`` of the state; the updates are all-gathered once per
            buffer. Params without a ``NamedSharding`` count as replicated over ``mesh``.
        buffer_size: ``None`` (one buffer per group), or the most elements a buffer holds (per
            device block when sharded): a group is then cut, between leaves, into buffers
            ``"float32"``, ``"float32#1"``, ... A leaf larger than this has a buffer of its
            own. See :func:`ravel_by_group` for why a CPU step can gain from it.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`FlattenState`.

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.flatten(gx.scale_by_momentum(0.9))
        >>> state = opt.init({"w": jnp.zeros((2, 2)), "b": jnp.zeros(2)})
        >>> state.inner.mu["float32"].shape
        (6,)
    """
    transform = whole(inner, "flatten")
    state_mesh, state_axis = _state_axis(shard_state_over)
    buffer_size = _buffer_size(buffer_size, "flatten")
    verdicts: dict = {}

    def init(params):
        layout = _layout(params, state_mesh, state_axis, buffer_size)
        return FlattenState(transform.init(_to_buffers(params, layout, split=True)), layout)

    def update(updates, state, params=None, **extra_args):
        layout = state.layout
        _same_layout(layout, updates, "updates")
        if params is not None:
            _same_layout(layout, params, "params")
        _check_leafwise(transform, layout, updates, params, extra_args, verdicts)
        flat_params = None if params is None else _to_buffers(params, layout, split=True)
        flat_updates = _to_buffers(updates, layout, split=True)
        out, inner_state = transform.update(flat_updates, state.inner, flat_params, **extra_args)
        return _from_buffers(out, layout), FlattenState(inner_state, layout)

    return GradientTransformation(init, update)


def ravel_by_group(tree: PyTree, buffer_size: int | None = None) -> tuple[dict, Any]:
    r"""Ravel a tree into one 1-D buffer per (dtype, sharding) group, and a function back.

    Like :func:`jax.flatten_util.ravel_pytree`, but with one buffer per group instead of one
    buffer cast to a common dtype, and with sharded leaves laid out so that no data moves
    between devices (see :mod:`gradxform.grouped.layouts`). ``unravel(buffers)`` is jittable and costs
    one slice and reshape per leaf, which XLA fuses into their consumers.

    Train on the buffers and unravel inside the loss: the optimizer then sees a few large leaves,
    and its compiled step has the same parameters and operations for any number of leaves.
    Transformations that depend on the tree (masks, per-leaf norms) see the buffers, not the
    leaves: a mask must be written for the buffers.

    **Buffer size on a CPU.** Adam's compiled step makes three passes over memory (the first
    moment, the second, then the params). Cut into buffers of about a million elements, each
    buffer's later passes find its data still in cache, which one 100 MB buffer cannot
    (``benchmarks/buffer_size.py`` measures it on your machine; ``benchmarks/RESULTS.md`` has
    our figures). The results are the same for any size: element-wise optimizers do not see how
    the elements are cut. On a GPU, where kernels are launched one by one, more buffers cost
    more launches: measure first.

    Args:
        tree: a pytree of arrays (``None`` leaves allowed; they come back as ``None``).
        buffer_size: ``None`` (one buffer per group), or the most elements a buffer holds: a
            group is cut, between leaves, into buffers ``"float32"``, ``"float32#1"``, ... A
            leaf larger than this has a buffer of its own.

    Returns:
        ``(buffers, unravel)``: a dict ``{group name: 1-D array}`` such as ``{"float32": ...}``,
        and a function mapping such a dict (e.g. updated buffers) back to a tree like ``tree``.

    Example:
        >>> import jax, jax.numpy as jnp, gradxform as gx
        >>> params = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}
        >>> flat, unravel = gx.ravel_by_group(params)
        >>> loss = lambda flat: jnp.sum(unravel(flat)["w"] ** 2)
        >>> opt = gx.adam(0.1); state = opt.init(flat)
        >>> updates, state = opt.update(jax.grad(loss)(flat), state, flat)
        >>> flat = gx.apply_updates(flat, updates); unravel(flat)["w"].shape
        (3, 2)
    """
    layout = _layout(tree, None, None, _buffer_size(buffer_size, "ravel_by_group"))
    buffers = _to_buffers(tree, layout, split=False)

    def unravel(buffers: dict) -> PyTree:
        if not isinstance(buffers, dict) or sorted(buffers) != sorted(layout.names()):
            got = sorted(buffers) if isinstance(buffers, dict) else _check.describe(buffers)
            raise ValueError(_check.NOT_THE_BUFFERS.format(expected=sorted(layout.names()), got=got))
        return _from_buffers(buffers, layout)

    return buffers, unravel


# --- Layout ---------------------------------------------------------------------------------


def _state_axis(shard_state_over):
    if shard_state_over is None:
        return None, None
    ok = (isinstance(shard_state_over, tuple) and len(shard_state_over) == 2
          and isinstance(shard_state_over[0], Mesh) and shard_state_over[1] in shard_state_over[0].shape)
    if not ok:
        raise ValueError(_check.NOT_A_MESH_AXIS.format(got=_check.describe(shard_state_over)))
    return shard_state_over


@dataclasses.dataclass
class _Filling:
    """A buffer while :func:`_layout` fills it with leaves."""

    dtype: str
    mesh: Any
    axes: tuple
    rows: int
    piece: int  # 0 for a group's first buffer, 1 for the next one cut off, ...
    width: int = 0  # elements per row so far


def _layout(tree: PyTree, state_mesh, state_axis, buffer_size: int | None = None) -> Layout:
    leaves, treedef = jax.tree.flatten(tree)
    keys: dict = {}  # (dtype, mesh, axes) -> index of the group's latest buffer
    found: list[_Filling] = []
    places = []
    for leaf in leaves:
        dtype = jnp.result_type(leaf).name
        shape = tuple(np.shape(leaf))
        mesh, splits, axes = _cuts(leaf, shape)
        if mesh is None:
            mesh = state_mesh
        elif state_mesh is not None and mesh != state_mesh:
            raise ValueError(_check.OTHER_MESH.format(axis=state_axis))
        key = (dtype, mesh, axes)
        rows = math.prod(splits)
        width = math.prod(shape) // rows
        latest = keys.get(key)
        if latest is None or _is_full(found[latest].width, width, buffer_size):
            piece = 0 if latest is None else found[latest].piece + 1
            keys[key] = len(found)
            found.append(_Filling(dtype, mesh, axes, rows, piece))
        buffer = found[keys[key]]
        places.append(_Place(keys[key], shape, splits, buffer.width, width))
        buffer.width += width
    groups, names = [], set()
    for b in found:
        name = b.dtype + (f"[{','.join(b.axes)}]" if b.axes else "") + (f"#{b.piece}" if b.piece else "")
        while name in names:  # the same axes on two meshes
            name += "'"
        names.add(name)
        split = state_axis if (b.mesh is not None and state_axis is not None and state_axis not in b.axes) else None
        size = b.mesh.shape[split] if split else 1
        groups.append(_Group(name, b.dtype, b.mesh, b.axes, b.rows, b.width, -(-b.width // size) * size, split))
    return Layout(treedef, tuple(places), tuple(groups))


def _is_full(filled: int, width: int, buffer_size: int | None) -> bool:
    """Whether a leaf of ``width`` elements a row starts a new buffer after one of ``filled``;
    an empty buffer takes any leaf, so a leaf larger than ``buffer_size`` stands alone."""
    return buffer_size is not None and filled > 0 and filled + width > buffer_size


def _buffer_size(buffer_size, who: str):
    """``buffer_size`` checked: ``None`` (one buffer per group) or an int >= 1."""
    if buffer_size is None:
        return None
    _check.int_at_least(who, 1, _check.BUFFER_SIZE_HINT, buffer_size=buffer_size)
    return int(buffer_size)


def _cuts(leaf, shape):
    """``(mesh, splits per dimension, mesh axes in order)`` of a leaf's NamedSharding."""
    sharding = None if isinstance(leaf, jax.core.Tracer) else getattr(leaf, "sharding", None)
    if not isinstance(sharding, NamedSharding):
        return None, (1,) * len(shape), ()
    mesh, spec = sharding.mesh, tuple(sharding.spec)
    splits, axes = [], []
    for d, size in enumerate(shape):
        entry = spec[d] if d < len(spec) else None
        names = () if entry is None else (entry,) if isinstance(entry, str) else tuple(entry)
        n = math.prod(mesh.shape[a] for a in names)
        if size % n:
            return mesh, (1,) * len(shape), ()  # uneven: kept whole, in the unsharded group
        splits.append(n)
        axes.extend(names)
    return mesh, tuple(splits), tuple(axes)


def _sharding(group: _Group, split: bool):
    if group.mesh is None:
        return None
    axes = group.axes + ((group.state_axis,) if split and group.state_axis else ())
    return NamedSharding(group.mesh, PartitionSpec(axes) if axes else PartitionSpec())


def _place(x, sharding):
    if sharding is None:
        return x
    if isinstance(x, jax.core.Tracer):
        return jax.lax.with_sharding_constraint(x, sharding)
    return jax.device_put(x, sharding)


def _same_layout(layout: Layout, tree, name):
    treedef = jax.tree.structure(tree)
    if treedef != layout.treedef:
        params = jax.tree.unflatten(layout.treedef, [0] * layout.treedef.num_leaves)
        raise ValueError(_check.tree_mismatch("flatten", name, tree, "the params given to init()", params))


# --- Buffers --------------------------------------------------------------------------------


def _to_buffers(tree: PyTree, layout: Layout, split: bool) -> dict:
    """``{group name: 1-D buffer}``; with ``split``, padded and sharded as the state is."""
    leaves = jax.tree.leaves(tree)
    pieces: list = [[] for _ in layout.groups]
    for leaf, place in zip(leaves, layout.places):
        pieces[place.group].append(_rows(jnp.asarray(leaf), place, layout.groups[place.group]))
    buffers = {}
    for group, parts in zip(layout.groups, pieces):
        dtypes = {p.dtype for p in parts}
        if len(dtypes) > 1:
            raise TypeError(_check.MIXED_GROUP.format(group=group.name, dtypes=sorted(map(str, dtypes))))
        axis = 0 if group.rows == 1 else 1
        buffer = parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=axis)
        pad = group.padded - group.width if split else 0
        if pad:
            widths = [(0, pad)] if axis == 0 else [(0, 0), (0, pad)]
            buffer = jnp.pad(buffer, widths)
        buffers[group.name] = _place(buffer.reshape(-1), _sharding(group, split))
    return buffers


def _rows(x, place: _Place, group: _Group):
    """The leaf as its group lays it out: 1-D if the group has one row, else ``(rows, width)``."""
    if group.rows == 1:
        return x.reshape(-1)
    dims, perm = _split_dims(place)
    x = x.reshape(dims)
    if perm != sorted(perm):
        x = x.transpose(perm)
    return x.reshape(group.rows, place.width)


def _split_dims(place: _Place) -> tuple[list[int], list[int]]:
    """The leaf's shape with each split axis cut in two (blocks, then chunk), and the order of
    those dims that puts every block dim first: the rows of the group, then the row's width."""
    dims: list[int] = []
    blocks: list[int] = []
    chunks: list[int] = []
    for size, n in zip(place.shape, place.splits):
        if n > 1:
            blocks.append(len(dims))
            dims.append(n)
        chunks.append(len(dims))
        dims.append(size // n)
    return dims, blocks + chunks


def _from_buffers(buffers: dict, layout: Layout) -> PyTree:
    views = {}
    for group in layout.groups:
        buffer = _place(buffers[group.name], _sharding(group, split=False))
        views[group.name] = buffer if group.rows == 1 else buffer.reshape(group.rows, group.padded)
    leaves = []
    for place in layout.places:
        group = layout.groups[place.group]
        view = views[group.name]
        if group.rows == 1:
            whole = place.offset == 0 and place.width == group.padded
            piece = view if whole else jax.lax.slice(view, (place.offset,), (place.offset + place.width,))
            leaves.append(piece.reshape(place.shape))
        else:
            piece = jax.lax.slice(view, (0, place.offset), (group.rows, place.offset + place.width))
            leaves.append(_unrows(piece, place))
    return jax.tree.unflatten(layout.treedef, leaves)


def _unrows(piece, place: _Place):
    """The inverse of :func:`_rows`: a ``(rows, width)`` piece back in the leaf's shape."""
    dims, perm = _split_dims(place)
    x = piece.reshape([dims[p] for p in perm])
    if perm != sorted(perm):
        x = x.transpose(np.argsort(perm))
    return x.reshape(place.shape)


# --- The leaf-wise check --------------------------------------------------------------------


def _check_leafwise(transform, layout, updates, params, extra_args, verdicts):
    """Trace the inner update on the tree once per layout and raise unless it is leaf-wise."""
    tree_updates = _abstract(updates)
    tree_params = None if params is None else _abstract(params)
    arrays = {k: _abstract(v) for k, v in extra_args.items() if _leafwise._is_array(v)}
    others = tuple(sorted(k for k in extra_args if k not in arrays))
    key = (layout, jax.tree.structure(tree_updates), tuple(map(str, jax.tree.leaves(tree_updates))),
           params is None, str(arrays), others)
    if key not in verdicts:
        tree_state = jax.eval_shape(transform.init, tree_updates if params is None else tree_params)
        extra = {**extra_args, **arrays}
        verdicts[key] = _leafwise.check(
            "flatten", transform.update, tree_updates, tree_state, tree_params, extra
        )
    return verdicts[key]


def _abstract(tree: PyTree) -> PyTree:
    """Each leaf's shape and dtype, nothing more (enough to trace with)."""
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(np.shape(x), jnp.result_type(x)), tree)
