"""The pictures ``gradxform compare`` writes: loss curves, and paths on a contour plot.

Matplotlib is imported inside these functions, not with gradxform, and only through
:class:`matplotlib.figure.Figure`: no pyplot, no global state, no display needed.
"""
from __future__ import annotations

import os
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from gradxform.compare import problems as _problems
from gradxform.compare.run import Result

LINE_STYLES = ("-", "--", "-.", ":")


def figure_class():
    """:class:`matplotlib.figure.Figure`, or an ImportError with the one-line fix."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            _problems.NOT_INSTALLED.format(what="drawing the pictures", package="matplotlib")
        ) from None
    return Figure


def _style(index: int) -> dict:
    """A distinct look per line: the ten strong tab20 colours solid, then the ten pale ones
    dashed, then the same again dash-dotted and dotted."""
    from matplotlib import colormaps

    shade, hue = divmod(index % 20, 10)
    return {"color": colormaps["tab20"](2 * hue + shade), "linestyle": LINE_STYLES[index // 10 % 4]}


def _legend(axes, count: int) -> None:
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small",
                ncols=1 if count <= 20 else 2, frameon=False)


def loss_curves(results: Sequence[Result], problem: _problems.Problem, path: str) -> str:
    """Every optimizer's loss against the step, on a log scale when every loss is positive."""
    figure = figure_class()(figsize=(9.0, 5.0), layout="constrained")
    axes = figure.add_subplot()
    positive = all(np.all(r.losses[np.isfinite(r.losses)] > 0) for r in results)
    for index, r in enumerate(results):
        axes.plot(np.arange(r.losses.size), r.losses, label=r.name, linewidth=1.4,
                  **_style(index))
    axes.set_yscale("log" if positive else "linear")
    axes.set_xlabel("step")
    axes.set_ylabel("training loss" + ("" if positive else " (linear: some losses are <= 0)"))
    axes.set_title(f"{problem.name}: {problem.description}", fontsize="medium", wrap=True)
    axes.grid(True, which="major", alpha=0.3)
    _legend(axes, len(results))
    figure.savefig(os.fspath(path), format="png", dpi=100)
    return os.fspath(path)


def _box(results: Sequence[Result], problem: _problems.Problem):
    """The plotted box: the problem's own, or one around every finite point of every path."""
    if problem.bounds is not None:
        return problem.bounds
    points = np.concatenate([r.path for r in results])
    points = points[np.all(np.isfinite(points), axis=1)]
    low, high = points.min(axis=0), points.max(axis=0)
    margin = np.maximum(0.1 * (high - low), 1e-3)
    return tuple(zip(low - margin, high + margin))


def paths(results: Sequence[Result], problem: _problems.Problem, path: str) -> str:
    """Every optimizer's path over the loss's contours; the start and the minima are marked."""
    figure = figure_class()(figsize=(9.0, 6.5), layout="constrained")
    axes = figure.add_subplot()
    (x_low, x_high), (y_low, y_high) = _box(results, problem)
    xs, ys = np.linspace(x_low, x_high, 300), np.linspace(y_low, y_high, 300)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    flat, unravel = ravel_pytree(problem.init_params)
    values = jax.jit(jax.vmap(lambda p: problem.loss(unravel(p))))(jnp.asarray(grid, flat.dtype))
    values = np.asarray(values, np.float64).reshape(len(ys), len(xs))
    finite = values[np.isfinite(values)]
    if finite.size and finite.min() >= 0:
        # Log-spaced levels show valleys and plateaus alike; offset so that a minimum of 0 works.
        floor = max(np.percentile(finite, 1), 1e-3)
        levels: np.ndarray | int = np.geomspace(floor, finite.max(), 25)
    else:
        levels = 25
    axes.contourf(xs, ys, values, levels=levels, cmap="Greys", alpha=0.3,
                  extend="both" if not isinstance(levels, int) else "neither")
    axes.contour(xs, ys, values, levels=levels, colors="0.45", linewidths=0.5)
    tracks = [r.path for r in results if r.path is not None]  # a planar problem records each path
    for index, (r, xy) in enumerate(zip(results, tracks)):
        style = _style(index)
        axes.plot(xy[:, 0], xy[:, 1], label=r.name, linewidth=1.5, **style)
        axes.plot(xy[-1, 0], xy[-1, 1], marker="o", markersize=4, color=style["color"])
    start = tracks[0][0]
    axes.plot(*start, marker="s", markersize=8, color="black", linestyle="none", label="start")
    if problem.minima:
        minima = np.asarray(problem.minima)
        axes.plot(minima[:, 0], minima[:, 1], marker="*", markersize=13, color="gold",
                  markeredgecolor="black", linestyle="none", label="minimum")
    axes.set_xlim(x_low, x_high)
    axes.set_ylim(y_low, y_high)
    axes.set_xlabel("x")
    axes.set_ylabel("y")
    axes.set_title(f"{problem.name}: {problem.description}", fontsize="medium", wrap=True)
    _legend(axes, len(results) + 2)
    figure.savefig(os.fspath(path), format="png", dpi=100)
    return os.fspath(path)
