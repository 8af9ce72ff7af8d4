"""Parameter groups: apply a transformation to part of the tree, or a different one to each part.

A *mask* is a tree of ``True``/``False`` shaped like the params (or a prefix of them, one leaf
standing for a whole subtree), a function of the params returning one, or glob patterns over key
paths (read in one way everywhere: :mod:`gradxform.core.masks`); a *label tree* holds a group name
at each leaf instead. :func:`path_mask` and :func:`labels_from_patterns` build them from glob
patterns over key paths, written with ``/`` between keys (``"encoder/0/bias"``), matched
case-insensitively; a pattern that matches no parameter is an error naming the nearest paths.
"""
from __future__ import annotations

from typing import Any, Callable, Hashable, Mapping, NamedTuple, Sequence, Union

import jax
import jax.numpy as jnp

from ..core import check as _check
from ..core import masks as _masks
from ..core import recipe as _recipe
from ..core import shapes as _shapes
from ..core.chain import whole, with_errors_named
from ..core.link import Branch
from ..core.masks import MaskedNode as MaskedNode
from ..core.masks import path_string as path_string
from ..core.protocol import EmptyState, GradientTransformation
from ..core.state_class import state_class
from ..core.tree_access import is_params_placeholder
from ..core.types import Mask, PyTree

Patterns = Union[str, Sequence[str]]


@state_class
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
            the params at ``init`` and on the updates at ``update``, as Optax does), or a glob
            pattern or list of them (``"encoder/*"``, as :func:`path_mask`). As in
            Optax, a mask is taken for a function when every leaf of it is callable, so a
            callable pytree of bools (an Equinox module, say) is the mask itself. The mask
            must be static: Python or NumPy bools, not traced arrays. A mask that does not fit
            the params raises, listing the paths on one side only with the nearest path.
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
    return _masked("masked", inner, mask, mask_compatible_extra_args)


def _masked(who: str, inner: Branch, mask: Mask, mask_compatible_extra_args: bool = False):
    """:func:`masked`, its errors naming ``who`` (the function the user called)."""
    transform = whole(inner, who)

    def mask_for(tree):
        return _masks.resolve(who, mask, tree)

    def init(params):
        if is_params_placeholder(params):  # tree_map_params looking for params-shaped trees
            return MaskedState(inner_state=transform.init(params))
        return MaskedState(inner_state=transform.init(_masks.hide(params, mask_for(params))))

    def update(updates, state, params=None, **extra_args):
        keep = mask_for(updates)
        if mask_compatible_extra_args:
            extra_args = _mask_extra_args(extra_args, updates, keep)
        params = None if params is None else _masks.hide(params, keep)
        new, inner_state = transform.update(
            _masks.hide(updates, keep), state.inner_state, params, **extra_args
        )
        return _masks.select(keep, new, updates), MaskedState(inner_state=inner_state)

    return GradientTransformation(init, update)


@state_class
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
        _masks.check_prefix("partition", "label tree", labels, tree)
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
        _shapes.updates_fit_params("partition", updates, params)  # before the labels meet them
        masks = group_masks(updates)
        inner_states = {}
        for label, t in groups.items():
            group = masked(t, masks[label], mask_compatible_extra_args=mask_compatible_extra_args)
            updates, inner_states[label] = group.update(
                updates, state.inner_states[label], params, **extra_args
            )
        return updates, PartitionState(inner_states)

    return with_errors_named(GradientTransformation(init, update), "partition")


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
    r"""Keep the parameters the mask marks ``True`` fixed: zero updates, and no optimizer state.

    .. math::  u_i = 0 \text{ where } m_i, \qquad u_i = g_i \text{ elsewhere}

    Inside a :func:`gradxform.chain` (an alias is one), a frozen leaf stays fixed **wherever the
    freeze stands**: the chain hides the frozen leaves from every one of its links, before and
    after the freeze, as :func:`masked` hides them. So ``chain(freeze(m), adamw(1e-3,
    weight_decay=0.1))`` neither decays the frozen weights nor keeps Adam moments for them,
    and it equals ``chain(adamw(...), freeze(m))`` and :func:`selective_transform`. Global
    quantities (a global-norm clip) cover the trained leaves only. Used on its own, or inside
    a chain that is not gradxform's (``optax.chain``), it only zeros the frozen leaves' updates
    as it receives them, as Optax's ``freeze`` does: put it last there, or use
    :func:`selective_transform`.

    Args:
        mask: ``True`` (freeze everything), ``False`` (freeze nothing), a tree of bools shaped
            like the params or a prefix of them, a function of the params returning one, or
            glob patterns (``"encoder/*"``, as :func:`path_mask`; a pattern matching no
            parameter raises).

    Returns:
        A :class:`GradientTransformation` whose state is :class:`MaskedState`.

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> params = {"encoder": jnp.ones(2), "head": jnp.ones(2)}
        >>> opt = gx.chain(gx.freeze("encoder"), gx.adamw(0.1, weight_decay=0.5))
        >>> updates, _ = opt.update(params, opt.init(params), params)
        >>> updates["encoder"].tolist()
        [0.0, 0.0]
    """
    return _masks.mark_frozen(_masked("freeze", _zero(), mask), [mask])


def path_mask(
    params: PyTree, include: Patterns = "*", exclude: Patterns = (), *, allow_unmatched: bool = False
) -> PyTree:
    r"""A mask that is ``True`` at each leaf whose key path matches ``include`` and not ``exclude``.

    A key path is written with ``/`` between keys (dict keys, sequence indices and attribute
    names): ``{"enc": [{"bias": b}]}`` holds ``b`` at ``"enc/0/bias"``. Patterns are
    :mod:`fnmatch` globs matched against the whole path, **case-insensitively** (``"*norm*"``
    matches Flax linen's ``params/LayerNorm_0/scale``), and ``*`` crosses ``/``: ``"*bias"``
    matches every bias at any depth. A Flax NNX ``Variable`` adds ``/value`` to its path
    (``linear/bias/value``); patterns may leave it out. ``None`` leaves stay ``None``.

    A pattern that matches no parameter raises ``ValueError`` naming it and the nearest paths,
    because a mask that silently matches nothing (a typo, or names of another framework: Haiku
    calls biases ``b``) silently changes training. Names differ by framework:

    ========  ================================  ===============================================
    library   bias / norm paths                 no decay on biases and norms
    ========  ================================  ===============================================
    linen     ``params/Dense_0/bias``,          ``exclude=["*bias", "*norm*"]``
              ``params/LayerNorm_0/scale``
    NNX       ``linear/bias/value``,            ``exclude=["*bias", "*norm*"]`` (on
              ``norm/scale/value``              ``nnx.state(model, nnx.Param)``)
    Haiku     ``mlp/~/linear_0/b``,             ``exclude=["*/b", "*norm*"]``
              ``layer_norm/scale``
    ========  ================================  ===============================================

    Args:
        params: the parameter tree.
        include: a pattern or list of patterns; a leaf must match one of them.
        exclude: a pattern or list of patterns; a leaf matching one of them is ``False``.
        allow_unmatched: accept patterns that match no parameter (a generic mask applied to
            models that may lack, say, norms); keyword only.

    Returns:
        A tree of Python bools shaped like ``params``, for :func:`masked`, :func:`freeze` or a
        ``mask=`` argument.

    Example:
        No weight decay on biases and norms is one line:

        >>> import jax.numpy as jnp, gradxform as gx
        >>> params = {"Dense_0": {"kernel": jnp.ones(2), "bias": jnp.ones(2)},
        ...           "LayerNorm_0": {"scale": jnp.ones(2)}}
        >>> decay = gx.weight_decay(1e-4, mask=lambda p: gx.path_mask(p, exclude=["*bias", "*norm*"]))
        >>> gx.path_mask(params, exclude=["*bias", "*norm*"])
        {'Dense_0': {'bias': False, 'kernel': True}, 'LayerNorm_0': {'scale': False}}
    """
    _check.flag("path_mask", allow_unmatched=allow_unmatched)
    return _masks.path_mask("path_mask", params, include, exclude, allow_unmatched)


def labels_from_patterns(
    params: PyTree,
    rules: Union[Mapping[str, Hashable], Sequence[tuple[str, Hashable]]],
    default: Hashable = None,
    *,
    allow_unmatched: bool = False,
) -> PyTree:
    """A label tree for :func:`partition`: each leaf gets the label of the first rule it matches.

    Paths and patterns are as in :func:`path_mask` (case-insensitive; NNX's ``/value``
    optional). Rules are tried in order (a dict keeps the order it was written in), so put
    specific patterns before general ones. A rule whose pattern matches no parameter raises
    (a typo would otherwise send every leaf to ``default``), naming the nearest paths.

    Args:
        params: the parameter tree.
        rules: ``{pattern: label}`` or a list of ``(pattern, label)`` pairs.
        default: the label of leaves no rule matches; ``None`` makes such a leaf an error.
        allow_unmatched: accept rules whose pattern matches no parameter; keyword only.

    Returns:
        A tree of labels shaped like ``params`` (``None`` leaves stay ``None``).
    """
    _check.flag("labels_from_patterns", allow_unmatched=allow_unmatched)
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
    if not allow_unmatched:
        _masks.check_used("labels_from_patterns", "rules", [p for p, _ in pairs], params)

    unmatched = []

    def label(path):
        found = next((lab for pattern, lab in pairs if _masks.matches(path, pattern)), default)
        if found is None:
            unmatched.append(_masks.shown(path))
        return found

    labels = _masks.map_paths(label, params)
    if unmatched:
        raise ValueError(
            _check.NO_PATTERN_MATCH.format(who="labels_from_patterns", paths=_masks.listing(unmatched))
        )
    return labels


def check_prefix(who: str, name: str, tree: PyTree, params: PyTree) -> None:
    """Raise, listing the paths found on one side only, unless ``tree`` is a prefix of ``params``."""
    _masks.check_prefix(who, name, tree, params)


def _mask_extra_args(extra_args: dict, updates: PyTree, keep: PyTree) -> dict:
    structure: Any = jax.tree.structure(updates)
    return {
        name: _masks.hide(value, keep) if jax.tree.structure(value) == structure else value
        for name, value in extra_args.items()
    }


def _known_labels(who: str, labels: PyTree, groups: Mapping) -> None:
    unknown: dict[Any, list[str]] = {}
    for path, label in jax.tree_util.tree_flatten_with_path(labels)[0]:
        if label not in groups:
            unknown.setdefault(label, []).append(_masks.shown(path))
    if unknown:
        raise ValueError(
            _check.UNKNOWN_LABELS.format(
                who=who, missing=list(unknown),
                paths=_masks.listing([p for paths in unknown.values() for p in paths]),
                known=list(groups),
            )
        )


def _zero() -> GradientTransformation:
    def init(params):
        return EmptyState()

    def update(updates, state, params=None, **extra_args):
        return jax.tree.map(jnp.zeros_like, updates), state

    return GradientTransformation(init, update)
