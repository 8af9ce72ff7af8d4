"""How a transformation takes part in the chain that owns it.

A primitive or a combinator (``ratio``, ``parallel_sum``, ``conditional``) reads its step and
its hyperparameters from the extra arguments its owner passes. Built for use on its own, it owns
them itself (see :func:`gradxform.core.chain.own`); composed into a :func:`gradxform.chain`, it is
taken apart (:func:`branch`) and its raw form joins the chain, whose one step counter and one
table of hyperparameters serve every link. What is needed for that is its :class:`Link`, kept on
the transformation's ``update`` function beside its recipe. Chains and wrappers carry no link:
inside a chain they stay whole, owning what they own.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence, Union

from . import check as _check
from . import recipe as _recipe
from .hyperparams import Declared
from .protocol import GradientTransformation, accepting_extra_args, is_transform, takes_extra_args

_ATTRIBUTE = "__gradxform_link__"

Branch = Union[GradientTransformation, Sequence[GradientTransformation]]


class Link(NamedTuple):
    """A transformation's raw form and what its owner must provide."""

    raw: GradientTransformation  # reads `step` and `hyperparams` from the extra arguments
    declarations: tuple[tuple[tuple[str, ...], Declared], ...]  # (path inside, declared)
    reads_step: bool  # whether it reads the step count

    @property
    def needs_owner(self) -> bool:
        return bool(self.declarations) or self.reads_step


def of(transform: Any) -> Link | None:
    """The :class:`Link` recorded on ``transform``, or ``None`` (a chain, a wrapper, Optax's)."""
    return getattr(getattr(transform, "update", None), _ATTRIBUTE, None)


def attach(transform: GradientTransformation, link: Link) -> GradientTransformation:
    setattr(transform.update, _ATTRIBUTE, link)
    return transform


def compose(raw: GradientTransformation, hyper: Declared | None, reads_step: bool,
            parts: dict[str, Link]) -> Link:
    """The link of ``raw``, which declares ``hyper`` and runs the links ``parts`` by name."""
    declarations: list[tuple[tuple[str, ...], Declared]] = []
    if hyper is not None and hyper.entries:
        declarations.append(((), hyper))
    for name, part in parts.items():
        declarations += [((name,) + path, declared) for path, declared in part.declarations]
    return Link(raw, tuple(declarations), reads_step or any(p.reads_step for p in parts.values()))


def branch(branch: Branch, who: str) -> Link:
    """A combinator's branch, taken apart: a transformation's raw form, or a list run in sequence.

    A transformation without a link (a chain, a wrapper, an Optax transformation) is a link
    that owns what it owns and ignores the extra arguments it does not take. One from outside
    gradxform that takes extra arguments may read ``step``, so it is said to read it.
    """
    if is_transform(branch):
        return of(branch) or Link(accepting_extra_args(branch), (), _may_read_step(branch))
    if isinstance(branch, (list, tuple)):
        return sequence(branch, who)
    raise TypeError(_check.NOT_A_TRANSFORM.format(who=who, got=_check.describe(branch)))


def _may_read_step(transform: Any) -> bool:
    """Whether ``transform`` (one without a link) may read the extra argument ``step``: not a
    chain or wrapper of gradxform's (a factory of gradxform's made it, so it carries a recipe,
    and it counts its own steps), nor one whose ``update`` takes no extra arguments."""
    made_here = isinstance(_recipe.of(transform), _recipe.Recipe)
    return not made_here and takes_extra_args(transform.update)


def sequence(transforms: Sequence[Any], who: str) -> Link:
    """Links run one after the other, passing extra arguments through; its state is a tuple."""
    links = []
    for t in transforms:
        if not is_transform(t):
            raise TypeError(_check.NOT_A_TRANSFORM.format(who=who, got=_check.describe(t)))
        links.append(branch(t, who))

    def init(params):
        return tuple(link.raw.init(params) for link in links)

    def update(updates, state, params=None, **extra_args):
        new_state = []
        for link, link_state in zip(links, state):
            updates, link_state = link.raw.update(updates, link_state, params, **extra_args)
            new_state.append(link_state)
        return updates, tuple(new_state)

    return compose(GradientTransformation(init, update), None, False,
                   {str(i): link for i, link in enumerate(links)})
