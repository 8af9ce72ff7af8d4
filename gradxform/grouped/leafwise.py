"""Decide, from its traced computation, whether a transformation treats every leaf alike.

:func:`gradxform.flatten` runs a transformation on buffers that each hold many leaves. That
gives the same numbers as the run on the tree exactly when the transformation is *leaf-wise*:
each output leaf (of the updates and of every parameter-shaped part of the state) is computed
from the same leaf of the inputs, element by element, by the same sequence of operations for
every leaf of one dtype, with scalars shared by all leaves (step counts, hyperparameters, and
global reductions such as a norm over the whole tree). :func:`check` traces ``update`` on the
tree once, abstractly (no arithmetic is done), and walks the operations:

* an operation on one leaf that is not element-wise (a sum, a norm, a sort, a transpose) whose
  result comes back into that leaf, as in LAMB's and LARS's per-leaf trust ratios, is rejected;
* leaves of one dtype computed by different operations (a mask, a partition, a rule that looks
  at a leaf's shape or name) are rejected;
* a leaf-shaped value not computed from the leaf (noise drawn per leaf, control flow over whole
  trees as in L-BFGS) is rejected;
* a reduction over every leaf (a global norm) is accepted: on buffers it sums the same terms in
  another order, so its result can differ in the last bits, and :func:`check` says so.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import jax
import numpy as np

from ..core import check as _check
from ..core.types import PyTree

# Primitives that act element by element (scalar operands broadcast).
_ELEMENTWISE = frozenset([
    "abs", "acos", "acosh", "add", "and", "asin", "asinh", "atan", "atan2", "atanh", "cbrt",
    "ceil", "clamp", "complex", "conj", "convert_element_type", "copy", "copy_p", "cos",
    "cosh", "digamma", "div", "eq", "erf", "erf_inv", "erfc", "exp", "exp2", "expm1", "floor",
    "ge", "gt", "imag", "integer_pow", "is_finite", "le", "lgamma", "log", "log1p",
    "logistic", "lt", "max", "min", "mul", "ne", "neg", "nextafter", "not", "or", "pow",
    "real", "reduce_precision", "rem", "round", "rsqrt", "select_n", "shift_left",
    "shift_right_arithmetic", "shift_right_logical", "sign", "sin", "sinh", "sqrt", "square",
    "sub", "tan", "tanh", "xor"
])
# Primitives that keep every element in its place when the size does not change.
_IN_PLACE = frozenset({"reshape", "squeeze", "expand_dims", "broadcast_in_dim"})
# Primitives that change nothing when the shape and dtype stay the same.
_IDENTITY = frozenset({"convert_element_type", "copy", "copy_p", "reshape", "squeeze", "expand_dims",
                       "broadcast_in_dim", "reduce_precision"})
# Call primitives whose body is walked as if it were written inline.
_CALLS = {"pjit": "jaxpr", "jit": "jaxpr", "closed_call": "call_jaxpr", "core_call": "call_jaxpr",
          "custom_jvp_call": "call_jaxpr", "remat": "jaxpr", "checkpoint": "jaxpr"}
# Parameters that describe shapes, not arithmetic: leaves of different shapes share them.
_SHAPE_PARAMS = frozenset({"shape", "sharding", "out_sharding", "broadcast_dimensions",
                           "dimensions", "new_sizes"})


class Verdict(NamedTuple):
    global_reduction: bool  # some scalar sums over every leaf: equal up to summation order


class _Value(NamedTuple):
    leaf: int  # the leaf this value is computed from element-wise, or -1 for a shared value
    sig: int  # interned description of how it is computed (leaf-independent for leaf values)
    deps: int  # shared values: bitset of the leaves it depends on
    scalar: int  # shared values of one distinct element (a scalar, a broadcast scalar): its sig, else -1
    reduced_by: str  # shared values: the first non-element-wise operation on a leaf behind it


def check(who: str, update, updates: PyTree, state: PyTree, params: PyTree, extra_args: dict) -> Verdict:
    """Trace ``update`` on abstract copies of the trees and raise unless it is leaf-wise.

    ``state`` is the transformation's state on the tree (abstract values are enough).
    """
    up_paths = jax.tree_util.tree_flatten_with_path(updates)[0]
    up_leaves = [leaf for _, leaf in up_paths]
    names = [jax.tree_util.keystr(p) or "<root>" for p, _ in up_paths]
    index = {tuple(p): i for i, (p, _) in enumerate(up_paths)}
    shapes = [np.shape(leaf) for leaf in up_leaves]
    dtypes = [jax.numpy.result_type(leaf) for leaf in up_leaves]
    n = len(up_leaves)
    # Empty leaves put nothing in a buffer: whatever is computed for them does not matter.
    empty = {i for i in range(n) if math.prod(shapes[i]) == 0}
    every = sum(1 << i for i in range(n) if i not in empty)
    if n - len(empty) <= 1:
        return Verdict(False)

    # paths from the root of the state, so that a moment's path ends with its leaf's path
    state_paths = jax.tree_util.tree_flatten_with_path(state)[0]
    state_roles = [_role(path, index, shapes, np.shape(leaf)) for path, leaf in state_paths]
    param_leaves = None if params is None else jax.tree.leaves(params)
    arrays = {k: v for k, v in extra_args.items() if _is_array(v)}
    others = {k: v for k, v in extra_args.items() if k not in arrays}

    def traced(u, s, p, a):
        return update(u, s, p, **a, **others)

    closed = jax.make_jaxpr(traced)(updates, state, params, arrays)
    walker = _Walker(who, n, every, names)

    def leaf(i, label):
        return walker.shared(label, 0, (0,)) if i in empty else walker.leaf(i, label)

    inputs = [leaf(i, ("updates", str(dtypes[i]))) for i in range(n)]
    inputs += [
        leaf(i, ("state", role, str(np.result_type(x)))) if i >= 0
        else walker.shared(("state", role), 0 if own < 0 or own in empty else 1 << own, np.shape(x),
                           "" if own < 0 else "its state entry of another shape")
        for (path, x), (i, role, own) in zip(state_paths, state_roles)
    ]
    if param_leaves is not None:
        inputs += [leaf(i, ("params", str(dtypes[i]))) for i in range(n)]
    extra_leaves = jax.tree_util.tree_flatten_with_path(arrays)[0]
    inputs += [walker.shared(("extra", jax.tree_util.keystr(p)), 0, np.shape(v)) for p, v in extra_leaves]
    outputs = walker.run(closed.jaxpr, closed.consts, inputs)

    out_updates, out_state = outputs[:n], outputs[n:]
    sigs: dict = {}  # (role, dtype) -> (sig, first leaf)
    for i, value in enumerate(out_updates):
        if i in empty:
            continue
        walker.expect_leaf(value, i, "its update")
        _same(who, sigs, ("updates", str(dtypes[i])), walker.leaf_sig(value), i, names)
    for (path, leaf), (i, role, own), value in zip(state_paths, state_roles, out_state):
        if i in empty or own in empty:
            continue
        if i >= 0:
            walker.expect_leaf(value, i, f"its state {role}")
            _same(who, sigs, (role, str(dtypes[i])), walker.leaf_sig(value), i, names)
        else:
            walker.expect_shared(value, f"the state {jax.tree_util.keystr(path)}")
    return Verdict(walker.global_reduction)


def _role(path, index, shapes, shape):
    """(leaf index or -1, the path without the leaf's own path, leaf index the path ends with or -1)."""
    path = tuple(path)
    for cut in range(len(path) + 1):
        i = index.get(path[cut:])
        if i is not None:
            role = jax.tree_util.keystr(path[:cut])
            return (i, role, i) if shape == shapes[i] else (-1, jax.tree_util.keystr(path), i)
    return -1, jax.tree_util.keystr(path), -1


def _same(who, sigs, key, sig, i, names):
    first = sigs.setdefault(key, (sig, i))
    if first[0] != sig:
        raise ValueError(_check.LEAVES_DIFFER.format(who=who, a=names[first[1]], b=names[i]))


def _is_array(value) -> bool:
    leaves = jax.tree.leaves(value)
    return bool(leaves) and all(hasattr(v, "shape") and hasattr(v, "dtype") for v in leaves)


class _Walker:
    """Give every variable of a jaxpr a :class:`_Value`; raise at the first non-leaf-wise use."""

    def __init__(self, who, n, every, names):
        self.who, self.n, self.every, self.names = who, n, every, names
        self.table: dict = {}
        self.global_reduction = False

    def intern(self, key) -> int:
        return self.table.setdefault(key, len(self.table))

    def leaf(self, i, label) -> _Value:
        return _Value(i, self.intern(("in",) + label), 0, -1, "")

    def shared(self, label, deps, shape, reduced_by="") -> _Value:
        sig = self.intern(("in",) + label)
        return _Value(-1, sig, deps, sig if int(np.prod(shape)) == 1 else -1, reduced_by)

    def leaf_sig(self, value) -> int:
        return value.sig if value.leaf >= 0 else self.intern(("scalar", value.scalar))

    def run(self, jaxpr, consts, inputs):
        env = {}
        for var, const in zip(jaxpr.constvars, consts):
            env[var] = self._literal(const)
        for var, value in zip(jaxpr.invars, inputs):
            env[var] = value
        for eqn in jaxpr.eqns:
            operands = [self._read(env, v) for v in eqn.invars]
            body = _CALLS.get(eqn.primitive.name)
            if body is not None and body in eqn.params:
                sub = eqn.params[body]
                inner = getattr(sub, "jaxpr", sub)
                results = self.run(inner, getattr(sub, "consts", ()), operands)
            else:
                results = self._apply(eqn, operands)
            for var, value in zip(eqn.outvars, results):
                env[var] = value
        return [self._read(env, v) for v in jaxpr.outvars]

    def _read(self, env, var):
        if type(var).__name__ == "Literal":
            return self._literal(var.val)
        return env[var]

    def _literal(self, value):
        array = np.asarray(value)
        key = ("literal", str(array.dtype), array.shape, array.tobytes() if array.size <= 64 else id(value))
        sig = self.intern(key)
        return _Value(-1, sig, 0, sig if array.size == 1 else -1, "")

    def _apply(self, eqn, operands):
        name = eqn.primitive.name
        outs = eqn.outvars
        leaves = {v.leaf for v in operands if v.leaf >= 0}
        if len(leaves) > 1:
            a, b = sorted(leaves)[:2]
            raise ValueError(_check.LEAVES_MIXED.format(who=self.who, a=self.names[a], b=self.names[b], op=name))
        shapes_out = [tuple(o.aval.shape) for o in outs]
        if name in _IDENTITY and len(operands) == 1 and _same_aval(eqn.invars[0], outs[0]):
            return operands  # e.g. the weak-type conversions JAX inserts for 0-d leaves
        if leaves:
            (i,) = leaves
            in_place = name in _IN_PLACE and len(operands) == 1 and _size(eqn.invars[0]) == _size(outs[0])
            if name in _ELEMENTWISE or in_place:
                parts = tuple(self._operand_sig(v, i, name) for v in operands)
                params = _params(eqn.params, drop=_SHAPE_PARAMS)
                return [
                    _Value(i, self.intern((name, params, parts, str(o.aval.dtype))), 0, -1, "")
                    for o in outs
                ]
            deps = self._deps(operands)
            parts = tuple(v.sig for v in operands)
            sig = self.intern((name, _params(eqn.params), parts))
            results = []
            for k, shape in enumerate(shapes_out):
                own = self.intern((sig, k))
                results.append(_Value(-1, own, deps, own if int(np.prod(shape)) == 1 else -1, name))
            return results
        deps = self._deps(operands)
        reduced_by = next((v.reduced_by for v in operands if v.reduced_by), "")
        if name in _ELEMENTWISE and all(v.scalar >= 0 for v in operands):
            scalar = self.intern((name, _params(eqn.params, drop=_SHAPE_PARAMS), tuple(v.scalar for v in operands)))
        elif name in _IN_PLACE and len(operands) == 1 and operands[0].scalar >= 0:
            scalar = operands[0].scalar  # a scalar broadcast to a shape keeps one distinct element
        else:
            scalar = -1
        parts = tuple(v.sig for v in operands)
        sig = self.intern((name, _params(eqn.params), parts))
        results = []
        for k, shape in enumerate(shapes_out):
            own = self.intern((sig, k))
            one = scalar if scalar >= 0 else own if int(np.prod(shape)) == 1 else -1
            results.append(_Value(-1, own, deps, one, reduced_by))
        return results

    def _deps(self, operands) -> int:
        deps = 0
        for v in operands:
            deps |= (1 << v.leaf) if v.leaf >= 0 else v.deps
        return deps

    def _operand_sig(self, value, i, op) -> int:
        """The description of an operand of an element-wise operation on leaf ``i``."""
        if value.leaf >= 0:
            return value.sig
        self.expect_shared(value, f"the {op} on leaf {self.names[i]}")
        if value.scalar < 0:
            raise ValueError(_check.NOT_FROM_THE_LEAF.format(who=self.who, leaf=self.names[i], op=op))
        return self.intern(("scalar", value.scalar))

    def expect_shared(self, value, where):
        """A shared value must depend on no leaf or on every leaf."""
        if value.leaf >= 0 or value.deps in (0, self.every):
            if value.leaf < 0 and value.deps == self.every:
                self.global_reduction = True
            return
        i = (value.deps & -value.deps).bit_length() - 1
        raise ValueError(
            _check.PER_LEAF_REDUCTION.format(who=self.who, op=value.reduced_by or "an operation",
                                             leaf=self.names[i], where=where)
        )

    def expect_leaf(self, value, i, what):
        if value.leaf == i:
            return
        if value.leaf < 0:
            self.expect_shared(value, f"{what} of leaf {self.names[i]}")
            if value.scalar >= 0:
                return
            raise ValueError(_check.NOT_FROM_THE_LEAF.format(who=self.who, leaf=self.names[i], op=what))
        raise ValueError(_check.LEAVES_MIXED.format(who=self.who, a=self.names[value.leaf], b=self.names[i], op=what))


def _same_aval(a, b) -> bool:
    return a.aval.shape == b.aval.shape and a.aval.dtype == b.aval.dtype


def _size(var) -> int:
    return int(np.prod(var.aval.shape))


def _params(params: dict, drop=frozenset()) -> tuple:
    items = []
    for key in sorted(params):
        if key in drop:
            continue
        value = params[key]
        try:
            hash(value)
        except TypeError:
            value = repr(value)
        items.append((key, value))
    return tuple(items)
