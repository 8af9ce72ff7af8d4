"""Optax's ``optax.tree`` functions that touch optimizer states, for gradxform's states.

``gx.tree.get(state, "count")``, ``gx.tree.set(state, count=0)``,
``gx.tree.get_all_with_path(state, "mu")`` and ``gx.tree.map_params(opt, f, state, specs)``
take Optax's arguments and return what Optax's return; they also read and write the fields of
gradxform's states by Optax's names where gradxform's differ (:mod:`gradxform.core.field_names`).
The running-moment functions are Optax's too. Tree arithmetic (``add``, ``scale``, ...) is
JAX's ``jax.tree.map``; it is not repeated here.
"""
from .core.running_averages import update_infinity_moment as update_infinity_moment
from .core.running_averages import update_moment as update_moment
from .core.running_averages import update_moment_per_elem_norm as update_moment_per_elem_norm
from .core.tree_access import NamedTupleKey as NamedTupleKey
from .core.tree_access import get as get
from .core.tree_access import get_all_with_path as get_all_with_path
from .core.tree_access import map_params as map_params
from .core.tree_access import set as set  # noqa: A004 (Optax's name)
