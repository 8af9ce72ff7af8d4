"""Optax's field names on gradxform's states, as aliases of the fields they store.

Where Optax names a field of its state otherwise than gradxform does (Optax's SGD keeps its
momentum in ``trace``, gradxform's in ``mu``; Optax's Adam counts steps in ``count``, a
gradxform chain in ``step``), the state answers to both names for reading: ``state.trace`` is
``state.mu``, and ``"trace" in state._fields`` is true, which is what Optax's tree utilities
(``optax.tree.get``, ``optax.tree_utils.tree_get_all_with_path``) look for. The state *stores*
gradxform's name only: its ``_fields`` lists it alone when iterated, which is what JAX's key
paths, Flax's serializers, :func:`gradxform.state_to_dict` and printing read, so no value is kept
twice and checkpoints do not change. ``state._replace(trace=...)`` and
:func:`gradxform.tree.set` write through an alias.

One limit follows from storing one name: ``optax.tree.set`` rebuilds a state from the fields it
iterates, so it writes gradxform's names (``optax.tree.set(state, mu=...)``, ``step=...``) but
leaves a field named by its alias unchanged; write those with :func:`gradxform.tree.set`.
"""
from __future__ import annotations

import operator
from typing import Any, Callable, Iterable, Mapping, TypeVar

T = TypeVar("T", bound=type)


class FieldNames(tuple):
    """A state class's stored field names (the tuple itself) that also answer to ``aliases``.

    Iterating, indexing, ``len`` and ``==`` see the stored names alone; ``name in fields`` is
    also true for an alias. ``aliases`` maps each alias to the stored name it reads.
    """

    aliases: Mapping[str, str]

    def __new__(cls, stored: Iterable[str], aliases: Mapping[str, str]) -> "FieldNames":
        fields = super().__new__(cls, tuple(stored))
        unknown = [name for name in aliases.values() if not tuple.__contains__(fields, name)]
        if unknown:
            raise ValueError(f"FieldNames: aliases of fields that are not stored: {unknown}")
        fields.aliases = dict(aliases)
        return fields

    def __contains__(self, name: object) -> bool:
        return tuple.__contains__(self, name) or name in self.aliases

    def stored(self, changes: dict[str, Any]) -> dict[str, Any]:
        """``changes`` with each alias replaced by the stored name it stands for."""
        return {self.aliases.get(name, name): value for name, value in changes.items()}

    def __reduce__(self):
        return FieldNames, (tuple(self), self.aliases)


def aliases_of(fields: Any) -> Mapping[str, str]:
    """The aliases ``fields`` (a state's ``_fields``) answers to; none for a plain tuple."""
    return getattr(fields, "aliases", {})


def answers_to(**aliases: str) -> Callable[[T], T]:
    """Decorate a NamedTuple state class so that it answers to each alias (``alias="stored"``).

    Adds a read-only property per alias, makes ``_fields`` a :class:`FieldNames`, and lets
    ``_replace`` take the aliases. Returns the class.
    """

    def decorate(cls: T) -> T:
        fields = FieldNames(tuple(cls._fields), {**aliases_of(cls._fields), **aliases})  # type: ignore[attr-defined]
        for alias, stored in aliases.items():
            setattr(cls, alias, property(operator.attrgetter(stored),
                                         doc=f"Optax's name for ``{stored}`` (read-only alias)."))
        replace = cls._replace  # type: ignore[attr-defined]

        def _replace(self, **changes):
            return replace(self, **fields.stored(changes))

        cls._fields = fields  # type: ignore[attr-defined]
        cls._replace = _replace  # type: ignore[attr-defined]
        return cls

    return decorate
