"""A chain whose links have names, so that their states can be read and replaced by name."""
from __future__ import annotations

import collections
from typing import Any, NamedTuple

import jax

from ..core import check as _check
from ..core import masks as _masks
from ..core import recipe as _recipe
from ..core import step as _step
from ..core.chain import whole
from ..core.protocol import GradientTransformation
from ..core.state_class import state_class
from ..core.types import PyTree


@state_class
class NamedChainState(NamedTuple):
    step: jax.Array  # int32 scalar: updates applied so far; saturates at 2**31 - 1
    parts: collections.OrderedDict  # name -> that link's state, in chain order

    def part(self, name: str) -> PyTree:
        """The state of the link called ``name``."""
        _known_part(name, self.parts)
        return self.parts[name]

    def replace_part(self, name: str, state: PyTree) -> "NamedChainState":
        """A copy of this state with the link called ``name`` given ``state`` (e.g. a reset moment)."""
        _known_part(name, self.parts)
        parts = collections.OrderedDict(self.parts)
        parts[name] = state
        return self._replace(parts=parts)


@_recipe.factory
def named_chain(*named_transforms: tuple[str, Any]) -> GradientTransformation:
    r"""Apply transformations in sequence, as :func:`gradxform.chain`, each under a name.

    The state keeps each link's state under its name, in chain order:
    ``state.part("adam")`` reads one and ``state.replace_part("adam", new)`` returns a state
    with one replaced (``state.parts[name]`` also works). Like :func:`gradxform.chain` it counts
    the steps and passes the count to every link as the extra argument ``step``. Optax's
    ``named_chain`` takes the same ``(name, transformation)`` pairs.

    Args:
        *named_transforms: ``(name, transformation)`` pairs with distinct ``str`` names; a
            transformation may be a list of them applied in sequence.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`NamedChainState`.

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.named_chain(("clip", gx.clip_by_global_norm(1.0)), ("adam", gx.adam(0.1)))
        >>> state = opt.init({"w": jnp.zeros(2)})
        >>> list(state.parts)
        ['clip', 'adam']
        >>> state = state.replace_part("adam", gx.adam(0.1).init({"w": jnp.zeros(2)}))
    """
    names = []
    links = []
    for pair in named_transforms:
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str)):
            raise TypeError(_check.NAMED_PAIR.format(got=_check.describe(pair)))
        names.append(pair[0])
        links.append(whole(pair[1], "named_chain"))
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(
            _check.DUPLICATE_NAMES.format(who="named_chain", names=names, duplicates=duplicates)
        )

    def init(params):
        parts = collections.OrderedDict((n, link.init(params)) for n, link in zip(names, links))
        return NamedChainState(step=_step.zero(), parts=parts)

    def update(updates, state, params=None, **extra_args):
        extra_args["step"] = state.step
        parts = collections.OrderedDict()
        for name, link in zip(names, links):
            updates, parts[name] = link.update(updates, state.parts[name], params, **extra_args)
        return updates, NamedChainState(step=_step.increment(state.step), parts=parts)

    # A freeze among the parts holds its leaves fixed wherever it stands, as in gx.chain.
    return _masks.without_frozen(GradientTransformation(init, update), links)


def _known_part(name: str, parts) -> None:
    if name not in parts:
        raise ValueError(
            _check.UNKNOWN_PART.format(who="NamedChainState", name=name, names=list(parts))
        )
