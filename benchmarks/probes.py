"""Adversarial probes of every alias, for gradxform and for Optax where the names coincide.

Each probe does something a user might get wrong, or something a user expects to work, and is
classified by what happens:

- ``clear``: an error whose message starts with the function the user called (``adam: ...`` or
  ``adam.update: ...``) and, for an argument, names it;
- ``unclear``: a ``ValueError`` or ``TypeError`` that names nothing the user wrote (JAX's
  ``pytree structure error``, ``Cannot stack arrays ...``);
- ``crash``: any other exception (``AttributeError``, ``IndexError``, ...): a library bug;
- ``silent``: no error, but a wrong result (a bad value accepted, an update broadcast to another
  shape, a non-finite step, jit or vmap disagreeing with the eager step);
- ``correct``: a valid probe that gives the right result.

The categories:

- ``hyperparameters``: each numeric argument of each alias set to a value no hyperparameter
  accepts (nan, inf, a string, a vector) or out of the range of a common one (a negative learning
  rate or eps, a decay of 1.5), then built, initialized and stepped once;
- ``trees``: updates with a missing leaf, an extra leaf, a leaf of shape (1,) for (3,), integer
  params, a tuple for a list, a state initialized on other params;
- ``numerics``: one gradient of 1e30 then ordinary ones, all-zero gradients, gradients of 1e-30:
  every later update must be finite and, where the gradient is not 0, not all 0;
- ``transforms``: jit against eager (the params after one step), vmap over two copies of the
  params, jax.grad of the loss after two steps (with one gradient entry always 0), and a jitted
  step donating params and state, run twice.

    python benchmarks/probes.py                  # every alias of the registry, both libraries
    python benchmarks/probes.py --aliases adam,lamb --details
"""
from __future__ import annotations

import argparse
import math
import numbers
import sys
import warnings
from collections import Counter, defaultdict
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from registry import REGISTRY  # noqa: E402

import gradxform as gx  # noqa: E402
from gradxform.core import recipe as _recipe  # noqa: E402

OUTCOMES = ("clear", "unclear", "silent", "crash", "correct")
CATEGORIES = ("hyperparameters", "trees", "numerics", "transforms")
PARAMS = {"w": jnp.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7]]), "b": jnp.array([0.1, -0.2, 0.3])}
NEVER_VALID = {"nan": math.nan, "inf": math.inf, "a string": "0.1", "a vector": np.full(3, 1e-3)}
OUT_OF_RANGE = {
    "learning_rate": -1e-3, "eps": -1e-8, "eps_root": -1e-8, "weight_decay": -1e-2,
    "b1": 1.5, "b2": 1.5, "b3": 1.5, "decay": 1.5, "rho": 1.5, "momentum": 1.5, "nu1": 1.5,
    "nu2": 1.5, "trust_coefficient": -1.0, "initial_accumulator_value": -1.0,
}


class Probe:
    """A library's factory: how to call it, and what counts as naming it."""

    def __init__(self, library, name, positional, keywords, extra_args):
        self.library, self.name = library, name
        self.positional, self.keywords, self.extra_args = positional, keywords, extra_args

    def build(self, **changed):
        module = gx if self.library == "gradxform" else _optax_module(self.name)
        return getattr(module, self.name)(*self.positional, **{**self.keywords, **changed})

    def step(self, opt, grads, state, params):
        kwargs = self.extra_args(params, grads) if self.extra_args else {}
        return opt.update(grads, state, params, **kwargs)


def _traceable(extra_args):
    """The registry's ``value=`` (the loss) is computed in NumPy, in float64, for its references;
    the probes step under jit, vmap and grad, so they pass a loss computed in JAX instead."""
    if getattr(extra_args, "__name__", "") != "loss_value":
        return extra_args
    return lambda params, grads: {
        "value": 1.0 + 0.5 * sum(jnp.sum(jnp.abs(x) ** 2) for x in jax.tree.leaves(params))}


def _optax_module(name):
    return optax if hasattr(optax, name) else optax.contrib


def _factories(names):
    """One (name, positional arguments, keyword arguments, extra args) per factory of the registry."""
    found = {}
    for entry in REGISTRY:
        try:
            node = _recipe.of(entry.make())
        except (ValueError, TypeError):
            continue
        if node.name in found or not hasattr(gx, node.name) or names and node.name not in names:
            continue
        positional, keywords = _recipe.call_arguments(getattr(gx, node.name), node)
        found[node.name] = (positional, keywords, _traceable(entry.needs_extra_args), entry.optax_reference)
    return found


def _classify_error(error, who, argument=None):
    message = str(error)
    named = message.startswith((f"{who}: ", f"{who}.")) and (argument is None or argument in message)
    if named:
        return "clear"
    if isinstance(error, (ValueError, TypeError)):
        return "unclear"
    return "crash"


def _run(fn, who, argument=None, check=None):
    """The outcome of ``fn()``: an error's class, or ``check(result)``'s verdict (silent/correct)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = fn()
    except Exception as error:  # noqa: BLE001 -- every exception is classified
        shown = " ".join(str(error).split())[:160]
        return _classify_error(error, who, argument), f"{type(error).__name__}: {shown}"
    if check is None:
        return "silent", "accepted"
    ok, why = check(result)
    return ("correct" if ok else "silent"), why


def _same_as(reference):
    """A check: the result equals ``reference()`` (a stateless optimizer may ignore its state)."""
    def check(result):
        expected = reference()
        same = jax.tree.structure(result) == jax.tree.structure(expected) and all(
            np.array_equal(a, b) for a, b in zip(jax.tree.leaves(result), jax.tree.leaves(expected)))
        return same, "" if same else "a result other than with its own state"
    return check


def _finite(tree):
    return all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(tree))


def _close_in_scale(a, b, rtol=1e-5):
    """``a`` and ``b`` agree to ``rtol`` of the larger of each entry and the leaf's largest entry:
    an entry that is the small difference of large terms keeps the rounding of those terms (jit
    constant-folds a captured gradient, and rounds otherwise than the eager step). scale_by_shampoo's
    float32 step, through inverse roots of a rank-deficient factor, differs from its float64 value
    by 2e-6 of the leaf's largest entry, jitted or not, and by 3e-5 of the entry itself."""
    scale = float(np.max(np.abs(b))) if np.size(b) else 0.0
    return bool(np.allclose(a, b, rtol=rtol, atol=rtol * scale + 1e-7))


def _grads(scale=1.0):
    return {"w": scale * jnp.array([[0.3, 0.0, -0.2], [0.1, -0.4, 0.2]]), "b": scale * jnp.array([0.2, 0.0, -0.1])}


# --- The probes, one generator per category: (label, thunk, argument, check) -----------------


def hyperparameter_probes(probe):
    for argument, value in probe.keywords.items():
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            continue
        bad_values = dict(NEVER_VALID)
        if argument in OUT_OF_RANGE:
            bad_values[repr(OUT_OF_RANGE[argument])] = OUT_OF_RANGE[argument]
        for label, bad in bad_values.items():
            def thunk(argument=argument, bad=bad):
                opt = probe.build(**{argument: bad})
                updates, _ = probe.step(opt, _grads(), opt.init(PARAMS), PARAMS)
                return updates
            yield f"{argument}={label}", thunk, argument, None


def tree_probes(probe):
    def stepped(grads, params=PARAMS, init_params=PARAMS):
        def thunk():
            opt = probe.build()
            return probe.step(opt, grads, opt.init(init_params), params)[0]
        return thunk

    missing = {"w": _grads()["w"]}
    extra = {**_grads(), "c": jnp.ones(2)}
    broadcast = {"w": _grads()["w"], "b": jnp.array([0.1])}
    int_params = {"w": jnp.ones((2, 3), jnp.int32), "b": jnp.ones(3, jnp.int32)}
    other = {"w": jnp.ones((2, 3)), "c": jnp.ones(3)}
    yield "updates missing a leaf", stepped(missing), None, None
    yield "updates with an extra leaf", stepped(extra), None, None
    yield "update of shape (1,) for (3,)", stepped(broadcast), None, None
    yield "integer params", stepped(jax.tree.map(lambda x: x.astype(jnp.int32), _grads()),
                                    int_params, int_params), None, None
    yield "state from other params", stepped(_grads(), PARAMS, other), None, _same_as(stepped(_grads()))
    yield "tuple updates for dict params", stepped(tuple(_grads().values())), None, None


def numeric_probes(probe):
    def sequence(first, then, want_nonzero):
        def thunk():
            opt = probe.build()
            params, state = PARAMS, opt.init(PARAMS)
            out = []
            for g in [first, then, then]:
                updates, state = probe.step(opt, g, state, params)
                params = jax.tree.map(jnp.add, params, updates)
                out.append(updates)
            return out

        def check(updates):
            if not all(_finite(u) for u in updates):
                return False, "a non-finite update"
            if want_nonzero and all(float(jnp.max(jnp.abs(x))) == 0 for x in jax.tree.leaves(updates[-1])):
                return False, "every later update is 0"
            return True, ""
        return thunk, check

    zeros = jax.tree.map(jnp.zeros_like, _grads())
    for label, first, then, nonzero in [
        ("one gradient of 1e30", _grads(1e30), _grads(), True),
        ("all-zero gradients", zeros, zeros, False),
        ("gradients of 1e-30", _grads(1e-30), _grads(1e-30), False),
    ]:
        thunk, check = sequence(first, then, nonzero)
        yield label, thunk, None, check


def transform_probes(probe):
    def eager_and_jit():
        opt = probe.build()
        state = opt.init(PARAMS)
        eager, _ = probe.step(opt, _grads(), state, PARAMS)
        jitted, _ = jax.jit(lambda s, p: probe.step(opt, _grads(), s, p))(state, PARAMS)
        # compared as the params they make: an update computed as the difference of two iterates
        # (schedule-free's) carries the rounding of the params, a float32 ulp of 2.0 is 2.4e-7
        return tuple(jax.tree.map(jnp.add, PARAMS, u) for u in (eager, jitted))

    def close(pair):
        same = all(_close_in_scale(a, b) for a, b in zip(*map(jax.tree.leaves, pair)))
        return same, "" if same else "jit differs from eager"

    def batched():
        opt = probe.build()
        params = jax.tree.map(lambda x: jnp.stack([x, 2 * x]), PARAMS)
        grads = jax.tree.map(lambda x: jnp.stack([x, -x]), _grads())
        step = jax.vmap(lambda g, p: probe.step(opt, g, opt.init(p), p)[0])
        together = step(grads, params)
        apart = [probe.step(opt, jax.tree.map(lambda x: x[i], grads), opt.init(jax.tree.map(lambda x: x[i], params)),
                            jax.tree.map(lambda x: x[i], params))[0] for i in range(2)]
        return together, apart

    def vmap_check(result):
        together, apart = result
        ok = all(_close_in_scale(jax.tree.map(lambda x: x[i], together)[k], apart[i][k])
                 for i in range(2) for k in apart[i])
        return ok, "" if ok else "vmap differs from the steps one by one"

    def meta_gradient():
        opt = probe.build()

        def loss_after(scale):
            params, state = PARAMS, opt.init(PARAMS)
            for _ in range(2):
                grads = jax.grad(lambda p: jnp.sum(p["w"][:, ::2] ** 2) + jnp.sum(p["b"][::2] ** 2))(params)
                updates, state = probe.step(opt, grads, state, params)
                params = jax.tree.map(lambda p, u: p + scale * u, params, updates)
            return jnp.sum(params["w"] ** 2) + jnp.sum(params["b"] ** 2)

        return jax.grad(loss_after)(1.0)

    def donated():
        opt = probe.build()
        step = jax.jit(lambda p, s: probe.step(opt, _grads(), s, p), donate_argnums=(0, 1))
        params = jax.tree.map(jnp.copy, PARAMS)
        state = opt.init(params)
        for _ in range(2):
            updates, state = step(params, state)
            params = jax.tree.map(jnp.add, jax.tree.map(jnp.copy, PARAMS), updates)
        return updates

    yield "jit matches eager", eager_and_jit, None, close
    yield "vmap matches one by one", batched, None, vmap_check
    yield "grad through two steps", meta_gradient, None, lambda g: (bool(np.isfinite(g)), "nan meta-gradient")
    yield "donated params and state", donated, None, lambda u: (_finite(u), "non-finite")


PROBES = {"hyperparameters": hyperparameter_probes, "trees": tree_probes, "numerics": numeric_probes,
          "transforms": transform_probes}


def run(names=(), details=False):
    """{library: {category: Counter of outcomes}} over every factory (and details, if asked)."""
    counts = {lib: defaultdict(Counter) for lib in ("gradxform", "optax")}
    listing = []
    for name, (positional, keywords, extra_args, optax_reference) in sorted(_factories(names).items()):
        holds_transforms = positional or any(hasattr(v, "update") for v in keywords.values())
        twin = optax_reference and hasattr(_optax_module(name), name) and not holds_transforms
        libraries = ["gradxform"] + (["optax"] if twin else [])
        for library in libraries:
            probe = Probe(library, name, positional, keywords, extra_args)
            for category, probes in PROBES.items():
                for label, thunk, argument, check in probes(probe):
                    if library == "optax":
                        with jax.numpy_dtype_promotion("standard"):
                            outcome, why = _run(thunk, name, argument, check)
                    else:
                        outcome, why = _run(thunk, name, argument, check)
                    counts[library][category][outcome] += 1
                    if details and outcome not in ("clear", "correct"):
                        listing.append(f"{library:9s} {name:24s} {category:15s} {label:34s} {outcome:8s} {why}")
    return counts, listing


def table(counts) -> str:
    lines = ["| library | category | probes | clear error | unclear error | silent wrong | crash | correct |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for library, by_category in counts.items():
        total = Counter()
        for category in CATEGORIES:
            c = by_category[category]
            total.update(c)
            lines.append(f"| {library} | {category} | {sum(c.values())} | "
                         + " | ".join(str(c[o]) for o in ("clear", "unclear", "silent", "crash", "correct")) + " |")
        lines.append(f"| {library} | **all** | {sum(total.values())} | "
                     + " | ".join(str(total[o]) for o in ("clear", "unclear", "silent", "crash", "correct")) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--aliases", default="", help="comma-separated factory names (default: all)")
    parser.add_argument("--details", action="store_true", help="list every probe not clear or correct")
    args = parser.parse_args(argv)
    jax.config.update("jax_enable_x64", False)
    names = tuple(n for n in args.aliases.split(",") if n)
    counts, listing = run(names, args.details)
    print(table(counts))
    if listing:
        print()
        print("\n".join(listing))


if __name__ == "__main__":
    main()
