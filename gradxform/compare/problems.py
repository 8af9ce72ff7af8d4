"""The problems that ``gradxform compare`` races optimizers on.

A :class:`Problem` is a loss function of one parameter pytree, the parameters every optimizer
starts from, and what the report needs to know about it. Five are classic 2-D test functions
(drawn as contour plots with each optimizer's path), two learn scikit-learn's bundled digits
(8x8 images of handwritten digits, shipped inside scikit-learn, so nothing is downloaded), and
a user's own problem is any importable ``module:function`` returning ``(loss_fn, init_params)``.

Everything is float32 and generated from the seed with NumPy, so the same seed gives the same
problem, bit for bit.
"""
from __future__ import annotations

import importlib
import importlib.util
import math
import os
import pathlib
import sys
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from ..core.types import PyTree

NOT_INSTALLED = (
    "{what} needs {package}, which is not installed; install it with: pip install 'gradxform[demo]'"
)


class Problem(NamedTuple):
    name: str
    description: str  # one line, for the report's header
    family: str  # "2-d" or "data": picks the optimizers' default learning rates
    loss: Callable[[PyTree], jax.Array]  # params -> scalar training loss (jit-safe)
    init_params: PyTree  # where every optimizer starts
    steps: int  # default number of updates
    tolerance: float  # default target loss for "steps to reach"
    accuracy: Optional[Callable[[PyTree], jax.Array]] = None  # params -> held-out accuracy
    bounds: Optional[tuple[tuple[float, float], tuple[float, float]]] = None  # contour plot box
    minima: tuple[tuple[float, float], ...] = ()  # marked on the contour plot
    spec: str = ""  # "module:function" for a user's problem, empty for a built-in one


def is_planar(problem: Problem) -> bool:
    """Whether the parameters are exactly two numbers, so that paths can be drawn on a plane."""
    return sum(np.size(leaf) for leaf in jax.tree.leaves(problem.init_params)) == 2


# ---------------------------------------------------------------------------------------------
# 2-D test functions: params are a float32 array [x, y].
# ---------------------------------------------------------------------------------------------


def _rosenbrock(p):
    x, y = p[0], p[1]
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def _beale(p):
    x, y = p[0], p[1]
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def _himmelblau(p):
    x, y = p[0], p[1]
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


_COS, _SIN = math.cos(math.pi / 6), math.sin(math.pi / 6)


def _quadratic(p):
    # Eigenvalues 1 and 100 (condition number 100) along axes turned by 30 degrees, so that a
    # per-coordinate scaling (Adam's) cannot undo the ill-conditioning.
    u = _COS * p[0] + _SIN * p[1]
    v = -_SIN * p[0] + _COS * p[1]
    return 0.5 * (u**2 + 100 * v**2)


def _saddle(p):
    # A saddle point at the origin (f = 1, curvature +2 along x and -4 along y) between two
    # minima at (0, -1) and (0, 1) where f = 0. The start sits just off the ridge y = 0.
    x, y = p[0], p[1]
    return x**2 + (y**2 - 1) ** 2


def _planar(name, description, loss, start, bounds, minima, steps=1000, tolerance=1e-3):
    return lambda seed: Problem(
        name=name,
        description=description,
        family="2-d",
        loss=loss,
        init_params=jnp.asarray(start, jnp.float32),
        steps=steps,
        tolerance=tolerance,
        bounds=bounds,
        minima=minima,
    )


# ---------------------------------------------------------------------------------------------
# Digits: 1797 8x8 images, pixels scaled to [0, 1], a fixed 75/25 split drawn from the seed.
# ---------------------------------------------------------------------------------------------

DIGITS_HIDDEN = 32  # the MLP is 64 -> DIGITS_HIDDEN (tanh) -> 10
DIGITS_TEST_FRACTION = 0.25


def digits_split(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_test, y_test)``: float32 pixels in [0, 1] and int32 labels."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError(
            NOT_INSTALLED.format(what="the digits problems", package="scikit-learn")
        ) from None
    images, labels = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = round(DIGITS_TEST_FRACTION * len(labels))
    test, train = order[:n_test], order[n_test:]
    x = (images / 16.0).astype(np.float32)
    y = labels.astype(np.int32)
    return x[train], y[train], x[test], y[test]


def _cross_entropy(logits, labels):
    picked = jnp.take_along_axis(logits, labels[:, None], axis=1)[:, 0]
    return jnp.mean(jax.nn.logsumexp(logits, axis=1) - picked)


def _accuracy(logits, labels):
    return jnp.mean((jnp.argmax(logits, axis=1).astype(labels.dtype) == labels).astype(jnp.float32))


def _digits(name, description, init, forward):
    def build(seed: int) -> Problem:
        x_train, y_train, x_test, y_test = (jnp.asarray(a) for a in digits_split(seed))
        rng = np.random.default_rng(seed)
        return Problem(
            name=name,
            description=f"{description}; {len(y_train)} training and {len(y_test)} held-out "
            "images (scikit-learn's digits)",
            family="data",
            loss=lambda params: _cross_entropy(forward(params, x_train), y_train),
            init_params=init(rng),
            steps=300,
            tolerance=0.1,
            accuracy=lambda params: _accuracy(forward(params, x_test), y_test),
        )

    return build


def _normal(rng, shape, fan_in):
    return jnp.asarray(rng.normal(size=shape) / math.sqrt(fan_in), jnp.float32)


def _logistic_init(rng):
    return {"w": _normal(rng, (64, 10), 64), "b": jnp.zeros([10], jnp.float32)}


def _logistic_forward(params, x):
    return x @ params["w"] + params["b"][None, :]


def _mlp_init(rng):
    return {
        "w1": _normal(rng, (64, DIGITS_HIDDEN), 64),
        "b1": jnp.zeros([DIGITS_HIDDEN], jnp.float32),
        "w2": _normal(rng, (DIGITS_HIDDEN, 10), DIGITS_HIDDEN),
        "b2": jnp.zeros([10], jnp.float32),
    }


def _mlp_forward(params, x):
    hidden = jnp.tanh(x @ params["w1"] + params["b1"][None, :])
    return hidden @ params["w2"] + params["b2"][None, :]


# The built-in problems by name, in the order --list shows them; each is built from the seed.
BUILT_IN: dict[str, Callable[[int], Problem]] = {
    "rosenbrock": _planar(
        "rosenbrock", "Rosenbrock's banana valley (1 - x)^2 + 100 (y - x^2)^2, from (-1.5, 2)",
        _rosenbrock, (-1.5, 2.0), ((-2.0, 2.0), (-1.0, 3.0)), ((1.0, 1.0),), steps=1000,
    ),
    "beale": _planar(
        "beale", "Beale's function, flat plateaus and steep walls, from (1, 1.4)",
        _beale, (1.0, 1.4), ((-1.0, 4.5), (-1.5, 2.0)), ((3.0, 0.5),), steps=1000,
    ),
    "himmelblau": _planar(
        "himmelblau", "Himmelblau's function (x^2 + y - 11)^2 + (x + y^2 - 7)^2, four minima, "
        "from (-0.2, -0.8) near its maximum",
        _himmelblau, (-0.2, -0.8), ((-5.0, 5.0), (-5.0, 5.0)),
        ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)),
        steps=500,
    ),
    "quadratic": _planar(
        "quadratic", "an ill-conditioned quadratic (condition number 100, axes turned by 30 "
        "degrees), from (-4, 3)",
        _quadratic, (-4.0, 3.0), ((-5.0, 5.0), (-5.0, 5.0)), ((0.0, 0.0),), steps=500,
    ),
    "saddle": _planar(
        "saddle", "x^2 + (y^2 - 1)^2: a saddle at (0, 0) between minima at (0, -1) and (0, 1), "
        "from (-2, 0.001)",
        _saddle, (-2.0, 0.001), ((-2.5, 2.5), (-1.8, 1.8)), ((0.0, -1.0), (0.0, 1.0)), steps=500,
    ),
    "digits-logistic": _digits(
        "digits-logistic", "multinomial logistic regression on 8x8 digits, full batch",
        _logistic_init, _logistic_forward,
    ),
    "digits-mlp": _digits(
        "digits-mlp", f"a 64-{DIGITS_HIDDEN}-10 tanh MLP on 8x8 digits, full batch",
        _mlp_init, _mlp_forward,
    ),
}


def build(name: str, seed: int) -> Problem:
    """The built-in problem ``name``, or a user's problem for a ``module:function`` name.

    Raises:
        ValueError: an unknown name, or a user's function that cannot be imported or returns
            something other than ``(loss_fn, init_params)``; the message is one line.
        ImportError: a package the problem needs (scikit-learn) is not installed.
    """
    if name in BUILT_IN:
        return BUILT_IN[name](seed)
    if ":" in name:
        return user_problem(name)
    raise ValueError(
        f"unknown problem {name!r}; expected one of {', '.join(BUILT_IN)}, or module:function "
        "for your own"
    )


def _import(module_name: str):
    """Import a module by dotted name (from sys.path or the current folder) or by file path."""
    if module_name.endswith(".py"):
        path = pathlib.Path(module_name)
        if not path.is_file():
            raise ValueError(f"no file {module_name!r}")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise ValueError(f"cannot import {module_name!r} as a Python module")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    # The installed `gradxform` script runs with its own folder first on sys.path, not the
    # current one; look there too, as `python -m gradxform` does.
    added = os.getcwd() not in sys.path
    if added:
        sys.path.append(os.getcwd())
    try:
        return importlib.import_module(module_name)
    finally:
        if added:
            sys.path.remove(os.getcwd())


def user_problem(spec: str) -> Problem:
    """The problem returned by ``function()`` for ``spec = "module:function"``.

    ``module`` is a dotted module name importable from ``sys.path`` or the current folder, or
    the path of a ``.py`` file. ``function`` takes no arguments and returns ``(loss_fn,
    init_params)``: a jit-safe ``loss_fn(params) -> scalar`` and a pytree of float arrays.
    """
    module_name, _, function_name = spec.rpartition(":")
    if not module_name or not function_name.isidentifier():
        raise ValueError(f"{spec!r} is not of the form module:function")
    try:
        module = _import(module_name)
    except ValueError:
        raise
    except Exception as error:  # the user's module may raise anything while importing
        raise ValueError(
            f"cannot import {module_name!r}: {type(error).__name__}: {_one_line(error)}"
        ) from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ValueError(f"module {module_name!r} has no function {function_name!r}")
    try:
        made = function()
    except Exception as error:
        raise ValueError(
            f"{spec}() raised {type(error).__name__}: {_one_line(error)}"
        ) from None
    if not (isinstance(made, tuple) and len(made) == 2 and callable(made[0])):
        raise ValueError(
            f"{spec}() must return (loss_fn, init_params) with loss_fn callable, got "
            f"{_describe(made)}"
        )
    loss_fn, init_params = made
    leaves = jax.tree.leaves(init_params)
    if not leaves or not all(jnp.issubdtype(jnp.result_type(x), jnp.floating) for x in leaves):
        raise ValueError(
            f"{spec}(): init_params must be a pytree of float arrays, got {_describe(init_params)}"
        )
    init_params = jax.tree.map(jnp.asarray, init_params)
    try:
        value = jnp.asarray(loss_fn(init_params))
    except Exception as error:
        raise ValueError(
            f"{spec}(): loss_fn(init_params) raised {type(error).__name__}: {_one_line(error)}"
        ) from None
    if value.shape != () or not jnp.issubdtype(value.dtype, jnp.floating):
        raise ValueError(
            f"{spec}(): loss_fn(init_params) must return a float scalar, got "
            f"{value.dtype}{list(value.shape)}"
        )
    module_label = pathlib.Path(module_name).stem if module_name.endswith(".py") else module_name
    return Problem(
        name=f"{module_label}.{function_name}",
        description=f"your problem {spec}",
        family="data",
        loss=loss_fn,
        init_params=init_params,
        steps=300,
        tolerance=1e-3,
        spec=spec,
    )


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or "(no message)"


def _describe(value) -> str:
    text = f"{type(value).__name__} {value!r}" if not isinstance(value, tuple) else (
        f"a tuple of {len(value)}: ({', '.join(type(v).__name__ for v in value)})"
    )
    return text if len(text) <= 80 else text[:77] + "..."
