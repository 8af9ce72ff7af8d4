"""The chain: links in sequence, one step counter and one table of hyperparameters for all.

:func:`chain` owns the step count and the hyperparameters of the primitives it is made of, and
hands both to every link as the extra arguments ``step`` and ``hyperparams``, with the board on
which a link records values for the later links of the same update (:mod:`.board`). A primitive used
on its own owns them itself, as the one link of a chain (:func:`own`); composed into a chain it
is taken apart, so a recipe has one counter and stores each hyperparameter once.
"""
from __future__ import annotations

import contextlib
import functools
from typing import Any, Iterator

import jax

from . import board as _board
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
from .state_class import fast_node


class ChainState(tuple):
    """The state of :func:`gradxform.chain`: its links' states, in order.

    ``state[i]`` is the i-th link's state, as in ``optax.chain`` (``len``, iteration and slices
    too); the state of a primitive used on its own is a one-link chain whose link's fields read
    through (``state.mu``; a field named like a tuple method, ``index``, is read as
    ``state[0].index``). Beside them:

    Attributes:
        step: int32 scalar, the updates applied so far; saturates at ``2**31 - 1``. Kept only
            where a link reads it (a schedule, a bias correction, noise, a transformation from
            outside gradxform that takes extra arguments); ``None`` elsewhere (``sgd``,
            ``rmsprop``, ``adagrad`` with numbers for hyperparameters), as Optax keeps a
            ``count`` only where a transformation reads one. Each array in a state is one more
            buffer for every jitted call to pass (``benchmarks/fixed_cost.py``).
        hyperparams: the :class:`Hyperparams` of every link, one row per name.
        links: the link states as a tuple (``state.links[i]`` is ``state[i]``).
        count: Optax's name for ``step``, an alias (read-only; ``_replace(count=...)`` and
            :func:`gradxform.tree.set` write ``step``). ``step`` alone is stored, so checkpoints
            and printing are unchanged. Optax's ``tree.get(state, "count")`` finds it where a
            link reads the step (a bias correction, a schedule), as Optax keeps a ``count``
            only in the states of transformations that read one: see
            :mod:`gradxform.core.field_names`.

    To JAX it is a node keyed as a NamedTuple's, by its stored fields (``.step`` where kept,
    ``.hyperparams``, the rows' one array, and ``.links``), so paths read ``.links[0].mu['w']``
    and ``jax.tree`` functions (``is_leaf`` included), Flax NNX, Flax's serializers and
    ``optax.tree_map_params`` walk it as one; a jit call takes it apart and rebuilds it without
    calling Python (:func:`gradxform.core.state_class.fast_node`). The rows' names belong to its
    type (one subclass per recipe, made once), so that the state holds arrays alone.
    """

    _fields: tuple[str, ...] = ("step", "hyperparams", "links")
    names: tuple[str, ...] = ()  # the hyperparameters' names, row by row
    places: tuple[tuple[str, ...], ...] = ()  # where each row was declared

    def __new__(cls, *values: Any, **named: Any) -> "ChainState":
        # Positional values are the stored fields in order (how JAX rebuilds a state); by name,
        # ``step`` may be left out where none is kept and ``hyperparams`` may be a Hyperparams.
        if named:
            values = _in_field_order(cls, values, named)
        elif len(values) > 1 and isinstance(values[-2], Hyperparams):
            values = values[:-2] + (values[-2].table, values[-1])
        return tuple.__new__(cls, values)

    @property
    def step(self) -> Any:
        return tuple.__getitem__(self, 0) if tuple.__len__(self) == 3 else None

    @property
    def hyperparams(self) -> Hyperparams:
        return Hyperparams.of(self.names, tuple.__getitem__(self, -2), self.places)

    @property
    def links(self) -> tuple:
        return tuple.__getitem__(self, -1)

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
        links = tuple.__getitem__(self, -1)
        if len(links) == 1 and not name.startswith("_"):
            return getattr(links[0], name)
        raise AttributeError(f"'ChainState' object has no attribute {name!r}")

    def _asdict(self) -> dict:  # the stored fields: ``step`` only where it is kept
        every = {"step": self.step, "hyperparams": self.hyperparams, "links": self.links}
        return {name: every[name] for name in self._fields}

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


def _in_field_order(cls: type[ChainState], values: tuple, named: dict[str, Any]) -> tuple:
    """``values`` then ``named`` as the stored fields of ``cls``, in order, or a clear error."""
    fields = tuple(cls._fields)
    if "step" not in fields and "step" in named and named["step"] is None:
        del named["step"]  # the step a chain that keeps none reports
    expected = fields[len(values):]
    if set(named) != set(expected):
        kept = "" if "step" in fields else " (it keeps no step: no link reads one)"
        raise TypeError(f"ChainState: its fields are {fields}{kept}; got {len(values)} "
                        f"positional and {sorted(named)} by name")
    if isinstance(named.get("hyperparams"), Hyperparams):
        named["hyperparams"] = named["hyperparams"].table
    return values + tuple(named[name] for name in expected)


# The fields of a chain one of whose links reads the step: ``count`` answers as Optax's name.
_COUNTED = FieldNames(ChainState._fields, {"count": "step"})
# The fields of a chain none of whose links reads the step: it keeps none.
_UNCOUNTED = ("hyperparams", "links")


@functools.lru_cache(maxsize=None)
def _state_type(names: tuple[str, ...], places: tuple[tuple[str, ...], ...],
                counted: bool = False) -> type[ChainState]:
    attributes = {"names": names, "places": places, "__module__": __name__,
                  "_fields": _COUNTED if counted else _UNCOUNTED}
    return fast_node(type("ChainState", (ChainState,), attributes))


def _rebuilt(names, places, fields, counted=False) -> ChainState:
    return tuple.__new__(_state_type(names, places, counted), fields)


@_recipe.factory
def chain(*transforms: GradientTransformation) -> GradientTransformation:
    r"""Apply transformations in sequence, :math:`u = f_n(\dots f_1(g))`, and count the steps.

    The state's ``step`` is the number of updates applied so far. Every link receives it as the
    extra argument ``step`` (0 on the first update), so bias correction, schedules and noise
    annealing all read the same counter. A chain none of whose links reads it (SGD, RMSprop,
    Adagrad with numbers for hyperparameters) keeps none: ``state.step`` is ``None`` there, and
    a jitted step passes one buffer less. The primitives and combinators among the links are
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
    taken as arrays, as Optax takes them. An error raised by a link names the optimizer first
    (``"lars.update: scale_by_trust_ratio: update() needs params ..."``).

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
        with _named_in_errors(_called(update, links, who) + ".init"):
            link_states = tuple(link.raw.init(params) for link in links)  # their own checks first
        if not _tree_access.is_params_placeholder(params):  # then, for stateless links (sgd)
            _check.inexact_leaves(_called(update, links, who) + ".init", params)
        return _made(state_type, counted, _step.zero(), table.init().table, link_states)

    def update(updates, state, params=None, **extra_args):
        updates, params = _shapes.as_arrays(updates), _shapes.as_arrays(params)
        caller = _called(update, links, who) + ".update"
        _shapes.updates_fit_params(caller, updates, params)
        if not isinstance(state, ChainState):
            state = _fresh_if_stateless(init, updates, state, caller)
        step = state.step if counted else None  # no link reads it: none is kept
        reader = table.reader(state.hyperparams, step)
        extra_args = _board.opened(extra_args)  # a link's taps reach the later links
        extra_args.pop("step", None)  # an outer chain's, if a wrapper passed it on
        extra_args.update(hyperparams=reader, **({"step": step} if counted else {}))
        given, new_states = updates, []
        with _named_in_errors(caller, given, state.links):
            for link, link_state in zip(links, state):
                updates, link_state = link.raw.update(updates, link_state, params, **extra_args)
                new_states.append(link_state)
        _shapes.step_kept_shapes(caller, given, updates, state.links, tuple(new_states))
        new_state = _made(state_type, counted, _step.increment(step) if counted else None,
                          reader.stored().table, tuple(new_states))
        return updates, new_state

    return GradientTransformation(init, update)


def with_errors_named(transform: GradientTransformation, who: str) -> GradientTransformation:
    """A wrapper's ``transform`` whose errors lead with the name recorded on it (the alias that
    returned it: ``muon`` for the partition ``muon`` is, ``asgd`` for its ``swa``), else
    ``who``, and the method: ``"muon.init: orthogonalize_by_newton_schulz: ..."``."""

    def init(params):
        with _named_in_errors(_recorded_name(update, who) + ".init"):
            return transform.init(params)

    def update(updates, state, params=None, **extra_args):
        with _named_in_errors(_recorded_name(update, who) + ".update"):
            return transform.update(updates, state, params, **extra_args)

    return GradientTransformation(init, update)


def _recorded_name(update: Any, who: str) -> str:
    recorded = _recipe.of(GradientTransformation(None, update))  # type: ignore[arg-type]
    return recorded.name if isinstance(recorded, _recipe.Recipe) else who


@contextlib.contextmanager
def _named_in_errors(caller: str, updates: Any = None, link_states: Any = None) -> Iterator[None]:
    """Lead the errors raised by the links with the function the user called.

    A link's own refusal (``"scale_by_trust_ratio: update() needs params ..."``) is raised again
    as ``"lars.update: scale_by_trust_ratio: ..."``. An error from JAX inside a link (shapes
    that cannot combine) is explained, where an update's shape differs from the state's arrays
    at its path, by the error that names it (JAX's error as its cause); else it is kept.
    """
    try:
        yield
    except (ValueError, TypeError) as error:
        renamed = _recipe.led_by(error, caller)
        if renamed is not None:
            raise renamed from None
        misfit = None if updates is None else _shapes.misfit_update(caller, updates, link_states)
        if misfit is not None:
            raise misfit from error
        raise


def _made(state_type: type[ChainState], counted: bool, step: Any, table: Any,
          links: tuple) -> ChainState:
    """A state of ``state_type``: the step where it is ``counted``, the rows, the link states."""
    return state_type(step, table, links) if counted else state_type(table, links)


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
    """The transformation users get for ``link``: owned by itself if it must be, else its raw
    form with its errors led by its name (``sparse.update: adam.update: ...``). Composed into a
    chain, ``link.raw`` runs."""
    standalone = own(link) if link.needs_owner else with_errors_named(link.raw, "transformation")
    return _link.attach(standalone, link)


@_recipe.factory
def sequence(*transforms: GradientTransformation) -> GradientTransformation:
    """Transformations run one after the other as one link: a chain without its own counter.

    Its state is the tuple of their states; composed into a chain, it is taken apart like a
    primitive (Adadelta's scaling is a sequence of a ratio and a scaling by past steps).
    """
    return transformation(_link.sequence(transforms, "sequence"))
