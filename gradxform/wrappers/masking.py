"""Parameter groups: apply a transformation to part of the tree, or a different one to each part.

A *mask* is a tree of ``True``/``False`` shaped like the params (or a prefix of them, one leaf
standing for a whole subtree); a *label tree* holds a group name at each leaf instead. Either may
be given as a function of the params. :func:`path_mask` and :func:`labels_from_patterns` build
them from glob patterns over key paths, written with ``/`` between keys (``"encoder/0/bias"``).
"""
from __future__ import annotations

import fnmatch
from typing import Any, Callable, Hashable, Mapping, NamedTuple, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np

from ..core import check as _check
from ..core import recipe as _recipe
from ..core.chain import whole
from ..core.link import Branch
from ..core.printing import textbook
from ..core.protocol import EmptyState, GradientTransformation
from ..core.tree_access import is_params_placeholder
from ..core.types import Mask, PyTree
from ..transforms.additive import is_mask_function

Patterns = Union[str, Sequence[str]]

_MAX_LISTED = 12  # paths shown in an error message before "... and N more"


class MaskedNode(NamedTuple):
    """Stands in for a parameter that the inner transformation does not see.

    It is a node without children, so :func:`jax.tree.map` passes over it: the inner
    transformation's state holds nothing for masked-out parameters. Same role as Optax's
    ``MaskedNode``.
    """


@textbook
class MaskedState(NamedTuple):
    inner_state: PyTree  # the inner transformation's state, built on the masked params


@_recipe.factory
def masked(
    inner: Branch, mask: Mask, *, mask_compatible_extra_args: bool = False
) -> GradientTransformation:
    r"""Apply ``inner`` to the parameters the mask marks ``True``; pass the others through.

    .. math::  u_i = \begin{cases} \mathrm{inner}(g)_i & m_i \\ g_i & \text{otherwise} \end{cases}

    The inner transformation sees only the selected leaves (the others are replaced by
    :class:`MaskedNode`), so it keeps state for them alone, and global quantities such as a
    norm cover only them. Extra arguments (``step`` ...) reach ``inner`` unchanged.

    Args:
        inner: a transformation, or a list of them applied in sequence.
        mask: ``True``/``False`` leaves in a tree shaped like the params or a prefix of them
            (one leaf for a whole subtree), or a function ``params -> such a tree`` (called on
            the params at ``init`` and on the updates at ``update``, as Optax does). As in
            Optax, a mask is taken for a function when every leaf of it is callable, so a
            callable pytree of bools (an Equinox module, say) is the mask itself. The mask
            must be static: Python or NumPy bools, not traced arrays.
        mask_compatible_extra_args: also mask every extra argument whose tree structure equals
            the updates' (e.g. per-parameter tags).

    Returns:
        A :class:`GradientTransformation` whose state is :class:`MaskedState`.

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.masked(gx.scale(10.0), {"w": True, "b": False})
        >>> grads = {"w": jnp.array(1.0), "b": jnp.array(1.0)}
        >>> updates, _ = opt.update(grads, opt.init(grads))
        >>> updates["w"].item(), updates["b"].item()
        (10.0, 1.0)
    """
    transform = whole(inner, "masked")

    def mask_for(tree):
        return _static_mask("masked", mask(tree) if is_mask_function(mask) else mask, tree)

    def init(params):
        if is_params_placeholder(params):  # tree_map_params looking for params-shaped trees
            return MaskedState(inner_state=transform.init(params))
        return MaskedState(inner_state=transform.init(_hide(params, mask_for(params))))

    def update(updates, state, params=None, **extra_args):
        keep = mask_for(updates)
        if mask_compatible_extra_args:
            extra_args = _mask_extra_args(extra_args, updates, keep)
        params = None if params is None else _hide(params, keep)
        new, inner_state = transform.update(
            _hide(updates, keep), state.inner_state, params, **extra_args
        )
        out = jax.tree.map(lambda m, n, g: n if m else g, keep, new, updates)
        return out, MaskedState(inner_state=inner_state)

    return GradientTransformation(init, update)


@textbook
class PartitionState(NamedTuple):
    inner_states: dict  # label -> MaskedState of that label's transformation


@_recipe.factory
def partition(
    transforms: Mapping[Hashable, Any],
    param_labels: Union[PyTree, Callable[[PyTree], PyTree]],
    *,
    mask_compatible_extra_args: bool = False,
) -> GradientTransformation:
    r"""Apply a different transformation to each group of parameters.

    Each parameter carries a label; the parameters labelled ``k`` are updated by
    ``transforms[k]`` exactly as if that transformation ran on them alone (each one is
    :func:`masked` to its group). Also available as :func:`multi_transform`, Optax's older name.

    Args:
        transforms: a mapping from label to transformation (or list of transformations).
            Labels nobody uses are allowed.
        param_labels: labels in a tree shaped like the params or a prefix of them, or a
            function ``params -> such a tree`` (see :func:`labels_from_patterns`). Every label
            must be a key of ``transforms``. As in Optax, anything ``callable`` is called (a
            callable pytree of labels too); the label tree it returns may be a callable pytree
            (labels shaped like an Equinox module), which is a tree.
        mask_compatible_extra_args: see :func:`masked`.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`PartitionState`.

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> params = {"w": jnp.ones(2), "b": jnp.zeros(1)}
        >>> opt = gx.partition({"fast": gx.scale(-1.0), "slow": gx.scale(-0.5)},
        ...                    lambda p: gx.labels_from_patterns(p, {"b": "slow"}, default="fast"))
        >>> updates, _ = opt.update({"w": jnp.ones(2), "b": jnp.ones(1)}, opt.init(params))
        >>> updates["w"].tolist(), updates["b"].tolist()
        ([-1.0, -1.0], [-0.5])
    """
    if not isinstance(transforms, Mapping):
        raise TypeError(
            _check.WRONG_KIND.format(
                who="partition", name="transforms", expected="a mapping from label to transformation",
                got=_check.describe(transforms),
            )
        )
    if not transforms:
        raise ValueError(_check.EMPTY.format(who="partition", what="label: transformation entries"))
    groups = {label: whole(t, "partition") for label, t in transforms.items()}

    def group_masks(tree):
        labels = param_labels(tree) if callable(param_labels) else param_labels
        check_prefix("partition", "labels", labels, tree)
        _known_labels("partition", labels, groups)
        return {label: jax.tree.map(lambda x, label=label: x == label, labels) for label in groups}

    def init(params):
        if is_params_placeholder(params):  # tree_map_params looking for params-shaped trees
            return PartitionState({label: MaskedState(t.init(params)) for label, t in groups.items()})
        masks = group_masks(params)
        return PartitionState(
            {label: masked(t, masks[label]).init(params) for label, t in groups.items()}
        )

    def update(updates, state, params=None, **extra_args):
        masks = group_masks(updates)
        inner_states = {}
        for label, t in groups.items():
            group = masked(t, masks[label], mask_compatible_extra_args=mask_compatible_extra_args)
            updates, inner_states[label] = group.update(
                updates, state.inner_states[label], params, **extra_args
            )
        return updates, PartitionState(inner_states)

    return GradientTransformation(init, update)


@_recipe.factory
def multi_transform(
    transforms: Mapping[Hashable, Any],
    param_labels: Union[PyTree, Callable[[PyTree], PyTree]],
    *,
    mask_compatible_extra_args: bool = False,
) -> GradientTransformation:
    """Optax's older name for :func:`partition`, which it is in every respect.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`PartitionState`.
    """
    return partition(transforms, param_labels, mask_compatible_extra_args=mask_compatible_extra_args)


@_recipe.factory
def freeze(mask: Mask) -> GradientTransformation:
    r"""Zero the updates of the parameters the mask marks ``True``, so that they stay fixed.

    .. math::  u_i = 0 \text{ where } m_i, \qquad u_i = g_i \text{ elsewhere}

    Args:
        mask: ``True`` (freeze everything), ``False`` (freeze nothing), a tree of bools shaped
            like the params or a prefix of them, or a function of the params returning one
            (e.g. ``lambda p: gx.path_mask(p, "encoder/*")``).

    Returns:
        A :class:`GradientTransformation` whose state is :class:`MaskedState`.
    """
    return masked(_zero(), mask)


def path_mask(params: PyTree, include: Patterns = "*", exclude: Patterns = ()) -> PyTree:
    r"""A mask that is ``True`` at each leaf whose key path matches ``include`` and not ``exclude``.

    A key path is written with ``/`` between keys (dict keys, sequence indices and attribute
    names): ``{"enc": [{"bias": b}]}`` holds ``b`` at ``"enc/0/bias"``. Patterns are
    :mod:`fnmatch` globs matched against the whole path, and ``*`` crosses ``/``: ``"*bias"``
    matches every bias at any depth, ``"*norm*"`` every path containing ``norm``. ``None``
    leaves stay ``None``.

    Args:
        params: the parameter tree.
        include: a pattern or list of patterns; a leaf must match one of them.
        exclude: a pattern or list of patterns; a leaf matching one of them is ``False``.

    Returns:
        A tree of Python bools shaped like ``params``, for :func:`masked`, :func:`freeze` or a
        ``mask=`` argument.

    Example:
        No weight decay on biases and norms is one line:

        >>> import jax.numpy as jnp, gradxform as gx
        >>> params = {"dense": {"kernel": jnp.ones(2), "bias": jnp.ones(2)},
        ...           "norm": {"scale": jnp.ones(2)}}
        >>> decay = gx.weight_decay(1e-4, mask=lambda p: gx.path_mask(p, exclude=["*bias", "*norm*"]))
        >>> gx.path_mask(params, exclude=["*bias", "*norm*"])
        {'dense': {'bias': False, 'kernel': True}, 'norm': {'scale': False}}
    """
    include, exclude = _patterns("path_mask", include=include), _patterns("path_mask", exclude=exclude)

    def matches(path, leaf):
        name = path_string(path)
        return _any_match(name, include) and not _any_match(name, exclude)

    return jax.tree_util.tree_map_with_path(matches, params)


def labels_from_patterns(
    params: PyTree,
    rules: Union[Mapping[str, Hashable], Sequence[tuple[str, Hashable]]],
    default: Hashable = None,
) -> PyTree:
    """A label tree for :func:`partition`: each leaf gets the label of the first rule it matches.

    Paths and patterns are as in :func:`path_mask`. Rules are tried in order (a dict keeps the
    order it was written in), so put specific patterns before general ones.

    Args:
        params: the parameter tree.
        rules: ``{pattern: label}`` or a list of ``(pattern, label)`` pairs.
        default: the label of leaves no rule matches; ``None`` makes such a leaf an error.

    Returns:
        A tree of labels shaped like ``params`` (``None`` leaves stay ``None``).
    """
    pairs = list(rules.items()) if isinstance(rules, Mapping) else list(rules)
    for pair in pairs:
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str)):
            raise TypeError(
                _check.WRONG_KIND.format(
                    who="labels_from_patterns", name="rules",
                    expected="{pattern: label} or a list of (pattern, label) pairs",
                    got=_check.describe(pair),
                )
            )

    unmatched = []

    def label(path, leaf):
        name = path_string(path)
        found = next((lab for pattern, lab in pairs if fnmatch.fnmatchcase(name, pattern)), default)
        if found is None:
            unmatched.append(_shown(path))
        return found

    labels = jax.tree_util.tree_map_with_path(label, params)
    if unmatched:
        raise ValueError(
            _check.NO_PATTERN_MATCH.format(who="labels_from_patterns", paths=_listing(unmatched))
        )
    return labels


def path_string(path) -> str:
    """A key path as patterns see it: keys joined by ``/`` (``"enc/0/bias"``)."""
    return "/".join(_key_name(k) for k in path)


def check_prefix(who: str, name: str, tree: PyTree, params: PyTree) -> None:
    """Raise, listing the paths found on one side only, unless ``tree`` is a prefix of ``params``."""
    try:
        structure: Any = jax.tree.structure(tree)
        structure.flatten_up_to(params)
        return
    except (ValueError, TypeError):
        pass
    tree_items, param_items = _leaves_with_none(tree), _leaves_with_none(params)

    def matches(p, tree_leaf, q, param_leaf):
        # A None in the tree matches only a None in the params; any other leaf, a whole subtree.
        return q == p and param_leaf is None if tree_leaf is None else q[: len(p)] == p

    only_tree = [p for p, t in tree_items if not any(matches(p, t, q, x) for q, x in param_items)]
    only_params = [q for q, x in param_items if not any(matches(p, t, q, x) for p, t in tree_items)]
    if only_tree or only_params:
        raise ValueError(
            _check.TREE_PATHS_MISMATCH.format(
                who=who, name=name,
                only_name=_listing([_shown(p) for p in only_tree]),
                only_params=_listing([_shown(p) for p in only_params]),
            )
        )
    raise ValueError(
        _check.TREE_CONTAINERS_MISMATCH.format(
            who=who, name=name, left=jax.tree.structure(tree), right=jax.tree.structure(params)
        )
    )


def _static_mask(who: str, mask: PyTree, tree: PyTree) -> PyTree:
    """Check that ``mask`` is a prefix of ``tree`` with static bool leaves; return it in Python bools."""
    check_prefix(who, "mask", mask, tree)

    def as_bool(path, m):
        if isinstance(m, (bool, np.bool_)):
            return bool(m)
        if isinstance(m, (np.ndarray, jax.Array)) and m.shape == () and m.dtype == bool:
            try:
                return bool(m)
            except jax.errors.ConcretizationTypeError:
                pass
        raise TypeError(
            _check.NOT_A_BOOL_MASK.format(who=who, got=_check.describe(m), path=path_string(path))
        )

    return jax.tree_util.tree_map_with_path(as_bool, mask)


def _hide(tree: PyTree, keep: PyTree) -> PyTree:
    """``tree`` with every subtree that ``keep`` marks ``False`` replaced by a :class:`MaskedNode`."""
    return jax.tree.map(lambda m, x: x if m else MaskedNode(), keep, tree)


def _mask_extra_args(extra_args: dict, updates: PyTree, keep: PyTree) -> dict:
    structure: Any = jax.tree.structure(updates)
    return {
        name: _hide(value, keep) if jax.tree.structure(value) == structure else value
        for name, value in extra_args.items()
    }


def _known_labels(who: str, labels: PyTree, groups: Mapping) -> None:
    unknown: dict[Any, list[str]] = {}
    for path, label in jax.tree_util.tree_flatten_with_path(labels)[0]:
        if label not in groups:
            unknown.setdefault(label, []).append(_shown(path))
    if unknown:
        raise ValueError(
            _check.UNKNOWN_LABELS.format(
                who=who, missing=list(unknown),
                paths=_listing([p for paths in unknown.values() for p in paths]),
                known=list(groups),
            )
        )


def _zero() -> GradientTransformation:
    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        return jax.tree.map(jnp.zeros_like, updates), state

    return GradientTransformation(init, update)


def _patterns(who: str, **given) -> tuple[str, ...]:
    ((name, value),) = given.items()
    patterns = (value,) if isinstance(value, str) else tuple(value)
    for p in patterns:
        if not isinstance(p, str):
            raise TypeError(_check.NOT_A_PATTERN.format(who=who, name=name, got=_check.describe(p)))
    return patterns


def _any_match(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _key_name(key) -> str:
    for attr in ("key", "idx", "name"):
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key)


def _leaves_with_none(tree):
    return jax.tree_util.tree_flatten_with_path(tree, is_leaf=lambda x: x is None)[0]


def _shown(path) -> str:
    return repr(path_string(path)) if path else "<root>"


def _listing(items: list) -> str:
    if not items:
        return "(none)"
    shown = ", ".join(items[:_MAX_LISTED])
    more = len(items) - _MAX_LISTED
    return shown + (f", ... and {more} more" if more > 0 else "")
