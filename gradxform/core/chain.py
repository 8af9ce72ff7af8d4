"""The chain: links in sequence, one step counter and one table of hyperparameters for all.

:func:`chain` owns the step count and the hyperparameters of the primitives it is made of, and
hands both to every link as the extra arguments ``step`` and ``hyperparams``. A primitive used
on its own owns them itself, as the one link of a chain (:func:`own`); composed into a chain it
is taken apart, so a recipe has one counter and stores each hyperparameter once.
"""
from __future__ import annotations

import functools
from typing import Any

import jax

from . import check as _check
from . import link as _link
from . import masks as _masks
from . import recipe as _recipe
from . import shapes as _shapes
from . import step as _step
from . import tree_access as _tree_access
from .field_names import FieldNames
from .hyperparams import Declared, Hyperparams, Table
from .printing import text
from .protocol import GradientTransformation, accepting_extra_args, is_transform


class ChainState(tuple):
    """The state of :func:`gradxform.chain`: its links' states, in order.

    ``state[i]`` is the i-th link's state, as in ``optax.chain`` (``len``, iteration and slices
    too); the state of a primitive used on its own is a one-link chain whose link's fields read
    through (``state.mu``; a field named like a tuple method, ``index``, is read as
    ``state[0].index``). Beside them:

    Attributes:
        step: int32 scalar, the updates applied so far; saturates at ``2**31 - 1``.
        hyperparams: the :class:`Hyperparams` of every link, one row per name.
        links: the link states as a tuple (``state.links[i]`` is ``state[i]``).
        count: Optax's name for ``step``, an alias (read-only; ``_replace(count=...)`` and
            :func:`gradxform.tree.set` write ``step``). ``step`` alone is stored, so checkpoints
            and printing are unchanged. Optax's ``tree.get(state, "count")`` finds it where a
            link reads the step (a bias correction, a schedule), as Optax keeps a ``count``
            only in the states of transformations that read one: see
            :mod:`gradxform.core.field_names`.

    To JAX it is a node of three children: ``.step``, ``.hyperparams`` (the rows' one array)
    and ``.links``, so paths read ``.links[0].mu['w']`` and ``jax.tree`` functions (``is_leaf``
    included), Flax NNX and ``optax.tree_map_params`` walk it as a NamedTuple; to Flax's
    serializers it is one. The rows' names belong to its type (one subclass per recipe, made
    once), so that the state holds arrays alone and crosses a jit boundary with one cheap call.
    """

    _fields = ("step", "hyperparams", "links")
    names: tuple[str, ...] = ()  # the hyperparameters' names, row by row
    places: tuple[tuple[str, ...], ...] = ()  # where each row was declared

    def __new__(cls, step: Any, hyperparams: Any, links: Any) -> "ChainState":
        table = hyperparams.table if isinstance(hyperparams, Hyperparams) else hyperparams
        return tuple.__new__(cls, (step, table, tuple(links)))

    @property
    def step(self) -> Any:
        return tuple.__getitem__(self, 0)

    @property
    def hyperparams(self) -> Hyperparams:
        return Hyperparams.of(self.names, tuple.__getitem__(self, 1), self.places)

    @property
    def links(self) -> tuple:
        return tuple.__getitem__(self, 2)

    # --- a sequence of link states, as optax.chain's state is ---

    def __getitem__(self, index):
        return self.links[index]

    def __len__(self) -> int:
        return len(self.links)

    def __iter__(self):
        return iter(self.links)

    def __getattr__(self, name: str) -> Any:
        # A primitive used on its own is the one link of its chain: its fields read through
        # (``gx.scale_by_momentum(0.9).init(params).mu``), as its own state's would.
        links = tuple.__getitem__(self, 2)
        if len(links) == 1 and not name.startswith("_"):
            return getattr(links[0], name)
        raise AttributeError(f"'ChainState' object has no attribute {name!r}")

    def _asdict(self) -> dict:
        return {"step": self.step, "hyperparams": self.hyperparams, "links": self.links}

    @property
    def count(self) -> Any:  # replaces tuple.count, as a field named count does in Optax's states
        """Optax's name for :attr:`step`."""
        return self.step

    def _replace(self, **changes: Any) -> "ChainState":
        if "count" in changes:
            changes["step"] = changes.pop("count")
        return type(self)(**{**self._asdict(), **changes})

    __repr__ = text

    def __reduce__(self):
        return _rebuilt, (self.names, self.places, tuple.__getitem__(self, slice(None)),
                          "count" in self._fields)

    def __eq__(self, other: object) -> bool:  # field by field, as a NamedTuple compares
        return isinstance(other, ChainState) and type(self) is type(other) and tuple.__eq__(self, other)

    __hash__ = None  # type: ignore[assignment]


_KEYS = tuple(jax.tree_util.GetAttrKey(name) for name in ChainState._fields)
_ALL = slice(None)


def _flatten_with_keys(state: ChainState) -> tuple[list, type]:
    return list(zip(_KEYS, tuple.__getitem__(state, _ALL))), type(state)


def _flatten(state: ChainState) -> tuple[tuple, type]:  # what a jit call uses: no keys
    return tuple.__getitem__(state, _ALL), type(state)


def _register(cls: type[ChainState]) -> type[ChainState]:
    # tuple.__new__(cls, children) rebuilds a state without a Python frame
    jax.tree_util.register_pytree_with_keys(cls, _flatten_with_keys, tuple.__new__, _flatten)
    return cls


_register(ChainState)


# The fields of a chain one of whose links reads the step: ``count`` answers as Optax's name.
_COUNTED = FieldNames(ChainState._fields, {"count": "step"})


@functools.lru_cache(maxsize=None)
def _state_type(names: tuple[str, ...], places: tuple[tuple[str, ...], ...],
                counted: bool = False) -> type[ChainState]:
    if not names and not counted:
        return ChainState
    attributes = {"names": names, "places": places, "__module__": __name__}
    if counted:
        attributes["_fields"] = _COUNTED
    return _register(type("ChainState", (ChainState,), attributes))


def _rebuilt(names, places, fields, counted=False) -> ChainState:
    return tuple.__new__(_state_type(names, places, counted), fields)


@_recipe.factory
def chain(*transforms: GradientTransformation) -> GradientTransformation:
    r"""Apply transformations in sequence, :math:`u = f_n(\dots f_1(g))`, and count the steps.

    The state's ``step`` is the number of updates applied so far. Every link receives it as the
    extra argument ``step`` (0 on the first update), so bias correction, schedules and noise
    annealing all read the same counter. The primitives and combinators among the links are
    taken apart: their hyperparameters are stored once, by name, in the state's
    ``hyperparams``, which :func:`gradxform.hyperparams` and :func:`gradxform.set_hyperparams`
    read and write. A link that is itself a chain or a wrapper keeps its own. Extra arguments
    reach the links that accept them (``**extra_args`` in ``update``) and are dropped for those
    that don't, such as plain Optax transformations. A :func:`gradxform.freeze` among the links
    (or inside a chain among them) hides its leaves from every link: they stay fixed and get no
    state, wherever the freeze stands.

    Nothing is broadcast silently: when a step is traced (once under ``jit``; free at run time)
    the updates must be floating point or complex, and have the params' tree structure and each
    its parameter's shape (an update of shape ``(1,)`` for a ``(3,)`` parameter is a
    ``ValueError`` naming the path and both shapes); without params, a step that would change a
    shape against the state is refused the same way (see :mod:`gradxform.core.shapes`).
    ``init`` refuses integer params. Python numbers as params or updates (``{"w": 1.0}``) are
    taken as arrays, as Optax takes them.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ChainState`.
    """
    owner = _owner([_link.branch(t, "chain") for t in transforms], "chain")
    return _masks.without_frozen(owner, transforms)  # a freeze anywhere holds its leaves fixed


def whole(branch: _link.Branch, who: str) -> GradientTransformation:
    """A wrapper's inner transformation: as it is, or a list of them as a :func:`chain`.

    Unlike a combinator's branch it is not taken apart: a wrapper may skip its updates (MultiSteps
    between boundaries), so it counts its own steps and owns its own hyperparameters.
    """
    if is_transform(branch):
        return accepting_extra_args(branch)
    if isinstance(branch, (list, tuple)):
        return chain(*branch)
    raise TypeError(_check.NOT_A_TRANSFORM.format(who=who, got=_check.describe(branch)))


def own(link: _link.Link) -> GradientTransformation:
    """A primitive used on its own: the one link of a chain that provides its step and values."""
    return _owner([link], "chain")


def _owner(links: list[_link.Link], who: str) -> GradientTransformation:
    table = Table([((str(i),) + path, declared) for i, link in enumerate(links)
                   for path, declared in link.declarations], who)

    counted = bool(table.scheduled) or any(link.reads_step for link in links)
    state_type = _state_type(table.names, table.places, counted)

    def init(params):
        params = _shapes.as_arrays(params)
        link_states = tuple(link.raw.init(params) for link in links)  # their own checks first
        if not _tree_access.is_params_placeholder(params):  # then, for stateless links (sgd)
            _check.inexact_leaves(_called(update, links, who) + ".init", params)
        return state_type(_step.zero(), table.init(), link_states)

    def update(updates, state, params=None, **extra_args):
        updates, params = _shapes.as_arrays(updates), _shapes.as_arrays(params)
        caller = _called(update, links, who) + ".update"
        _shapes.updates_fit_params(caller, updates, params)
        if not isinstance(state, ChainState):
            state = _fresh_if_stateless(init, updates, state, caller)
        reader = table.reader(state.hyperparams, state.step)
        extra_args.update(step=state.step, hyperparams=reader)
        given, new_states = updates, []
        for link, link_state in zip(links, state):
            updates, link_state = link.raw.update(updates, link_state, params, **extra_args)
            new_states.append(link_state)
        _shapes.step_kept_shapes(caller, given, updates, state.links, tuple(new_states))
        return updates, state_type(_step.increment(state.step), reader.stored(), tuple(new_states))

    return GradientTransformation(init, update)


def _called(update, links: list[_link.Link], who: str) -> str:
    """The name the user knows a chain by: the factory recorded on its ``update`` (``adam``),
    else its one primitive's, else ``who``."""
    recorded = _recipe.of(GradientTransformation(None, update))  # type: ignore[arg-type]
    if isinstance(recorded, _recipe.Recipe):
        return recorded.name
    return _name(links, who).removesuffix(".update")


def _name(links: list[_link.Link], who: str) -> str:
    """The name a user knows a chain of ``links`` by: its one primitive's, else ``who``."""
    declared = [d for link in links for _, d in link.declarations]
    return f"{declared[0].who}.update" if len(links) == 1 and declared else f"{who}.update"


def _fresh_if_stateless(init, updates, state, who: str) -> ChainState:
    """A state from ``init`` for an update given some other state (``None``, ``EmptyState()``,
    ``()``: what code written for Optax's stateless transformations passes), if the links keep
    no arrays of their own, so the given values are used from step 0; else a clear error."""
    fresh = init(updates)
    if jax.tree.leaves(fresh.links):
        raise TypeError(_check.NOT_ITS_STATE.format(who=who, got=_check.describe(state)))
    return fresh


def primitive(init, update, hyper: Declared | None = None, *, reads_step: bool = False,
              parts: dict[str, _link.Link] | None = None) -> GradientTransformation:
    """The transformation of a primitive (or combinator) with ``init`` and ``update``.

    ``update`` reads its hyperparameters with ``hyper.read(extra_args)`` and, where
    ``reads_step``, the step with :func:`gradxform.core.step.read`; ``parts`` are the links a
    combinator runs. Used on its own, the transformation owns what it reads (:func:`own`);
    composed, a chain takes it apart.
    """
    return transformation(_link.compose(GradientTransformation(init, update), hyper, reads_step,
                                        parts or {}))


def transformation(link: _link.Link) -> GradientTransformation:
    """The transformation users get for ``link``: its raw form, owned by itself if it must be."""
    return _link.attach(own(link) if link.needs_owner else link.raw, link)


@_recipe.factory
def sequence(*transforms: GradientTransformation) -> GradientTransformation:
    """Transformations run one after the other as one link: a chain without its own counter.

    Its state is the tuple of their states; composed into a chain, it is taken apart like a
    primitive (Adadelta's scaling is a sequence of a ratio and a scaling by past steps).
    """
    return transformation(_link.sequence(transforms, "sequence"))
