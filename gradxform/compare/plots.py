"""The pictures ``gradxform compare`` writes: loss curves, and paths on a contour plot.

Matplotlib is imported inside these functions, not with gradxform, and only through
:class:`matplotlib.figure.Figure`: no pyplot, no global state, no display needed.

Three rules keep the pictures readable:

- Every optimizer has its own colour and line style (:func:`line_style`), the same in both
  pictures; dashes let a line show through another that it overlaps.
- A run that diverges (:func:`gradxform.compare.run.diverged_at`) does not set the axes: they
  cover what the converging runs occupy. A diverged run is drawn until it leaves the plot for
  good, marked there with an X on the edge, and its legend entry says at which step it diverged.
- More than :data:`MANY` optimizers are drawn as small multiples: one panel per family of the
  lineup (SGD-like, adaptive, Adam-like, ...), with the same axes in every panel.
"""
from __future__ import annotations

import math
import os
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from gradxform.compare import problems as _problems
from gradxform.compare.run import Result, diverged_at

LINE_STYLES = ("-", "--", "-.", ":")
COLOURS = 10  # matplotlib's tab10: ten colours that are easy to tell apart
MANY = 8  # more optimizers than this get one panel per family
MARK_SIZE = 9.0  # points
LEFT_MARK = dict(marker="X", markersize=MARK_SIZE, markeredgecolor="black", markeredgewidth=0.6,
                 linestyle="none", clip_on=False, zorder=5)
# Points between a panel's top edge and its title: more than half an X on the edge, so that a
# run leaving through the top is marked below the title, not under its text.
TITLE_PAD = 6.0 + MARK_SIZE / 2 + 2.0


def figure_class():
    """:class:`matplotlib.figure.Figure`, or an ImportError with the one-line fix."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            _problems.NOT_INSTALLED.format(what="drawing the pictures", package="matplotlib")
        ) from None
    return Figure


def line_style(index: int) -> dict:
    """The look of the ``index``-th optimizer: tab10 colour ``index % 10`` and line style
    ``(index % 4 + index // 20) % 4``.

    Two optimizers ten apart share a colour but not a style (they differ by 2 in ``index %
    4``), so the first 40 combinations are all distinct; the first ten colours are distinct.
    """
    from matplotlib import colormaps

    colour = colormaps["tab10"](index % COLOURS)
    return {"color": colour, "linestyle": LINE_STYLES[(index % 4 + index // 20) % 4]}


def _label(result: Result) -> str:
    step = diverged_at(result.losses)
    return result.name if step is None else f"{result.name} (diverged at step {step})"


# ---------------------------------------------------------------------------------------------
# Panels: one, or one per family
# ---------------------------------------------------------------------------------------------


def panels(results: Sequence[Result]) -> list[tuple[str, list[int]]]:
    """``(family, indices into results)`` per panel, families in order of first appearance;
    a single ``("", all indices)`` for at most :data:`MANY` results or a single family."""
    families: dict[str, list[int]] = {}
    for index, result in enumerate(results):
        families.setdefault(result.family, []).append(index)
    if len(results) <= MANY or len(families) == 1:
        return [("", list(range(len(results))))]
    return list(families.items())


def _figure(count: int, single: tuple[float, float], panel_height: float):
    """A figure with ``count`` axes: one of size ``single``, or a grid two panels wide."""
    if count == 1:
        figure = figure_class()(figsize=single, layout="constrained")
        return figure, [figure.add_subplot()]
    rows = math.ceil(count / 2)
    figure = figure_class()(figsize=(14.0, panel_height * rows + 0.6), layout="constrained")
    grid = figure.subplots(rows, 2, squeeze=False).ravel()
    for spare in grid[count:]:
        figure.delaxes(spare)
    return figure, list(grid[:count])


def _titles(figure, axes_list, families, problem: _problems.Problem) -> None:
    title = f"{problem.name}: {problem.description}"
    if len(axes_list) == 1:
        axes_list[0].set_title(title, fontsize="medium", wrap=True, pad=TITLE_PAD)
        return
    figure.suptitle(title, fontsize="medium", wrap=True)
    for axes, family in zip(axes_list, families):
        axes.set_title(family, fontsize="medium", pad=TITLE_PAD)


def _legend(axes, count: int) -> None:
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small",
                ncols=1 if count <= 20 else 2, frameon=False)


# ---------------------------------------------------------------------------------------------
# Loss curves
# ---------------------------------------------------------------------------------------------


def _loss_range(results: Sequence[Result], log: bool) -> tuple[float, float]:
    """The losses of the runs that converge (or, if none does, of every run before it
    diverges), with a margin: 5% of the span, in decades on a log scale."""
    kept = [r.losses for r in results if diverged_at(r.losses) is None]
    if not kept:
        kept = [r.losses[:diverged_at(r.losses)] for r in results]
    values = np.concatenate([np.ravel(k) for k in kept])
    values = values[np.isfinite(values) & ((values > 0) if log else True)]
    if not values.size:
        return (1e-3, 1.0) if log else (0.0, 1.0)
    low, high = float(values.min()), float(values.max())
    if log:
        pad = 10 ** max(0.05 * math.log10(high / low), 0.1)
        return low / pad, high * pad
    pad = 0.05 * (high - low) or max(abs(high), 1.0)
    return low - pad, high + pad


def _loss_line(axes, result: Result, index: int, top: float) -> None:
    """The curve; a diverged one ends at the top edge where it leaves the plot, marked X."""
    style = line_style(index)
    losses = np.where(np.isfinite(result.losses), result.losses, np.nan)
    steps = np.arange(losses.size)
    exit_step = None
    if diverged_at(result.losses) is not None:
        with np.errstate(invalid="ignore"):
            inside = np.flatnonzero(losses <= top)
        last = int(inside[-1]) if inside.size else -1
        if last + 1 < losses.size:
            exit_step = last + 1
            steps, losses = steps[:exit_step + 1], losses[:exit_step + 1].copy()
            losses[-1] = top
    axes.plot(steps, losses, label=_label(result), linewidth=1.4, **style)
    if exit_step is not None:
        axes.plot([exit_step], [top], color=style["color"], label="_nolegend_", **LEFT_MARK)


def loss_figure(results: Sequence[Result], problem: _problems.Problem):
    """Every optimizer's loss against the step (log scale when every loss is positive), as a
    :class:`matplotlib.figure.Figure`: one panel, or one per family for many optimizers."""
    groups = panels(results)
    figure, axes_list = _figure(len(groups), (9.0, 5.0), 3.6)
    positive = all(np.all(r.losses[np.isfinite(r.losses)] > 0) for r in results)
    low, high = _loss_range(results, positive)
    for axes, (_, members) in zip(axes_list, groups):
        axes.set_yscale("log" if positive else "linear")
        for index in members:
            _loss_line(axes, results[index], index, high)
        axes.set_ylim(low, high)
        axes.set_xlim(0, max(r.losses.size - 1 for r in results) or 1)
        axes.set_xlabel("step")
        axes.set_ylabel("training loss" + ("" if positive else " (linear: some losses are <= 0)"))
        axes.grid(True, which="major", alpha=0.3)
        _legend(axes, len(members))
    _titles(figure, axes_list, [family for family, _ in groups], problem)
    return figure


def loss_curves(results: Sequence[Result], problem: _problems.Problem, path: str) -> str:
    """Write :func:`loss_figure` as a PNG at ``path``; return ``path``."""
    loss_figure(results, problem).savefig(os.fspath(path), format="png", dpi=100)
    return os.fspath(path)


# ---------------------------------------------------------------------------------------------
# Paths over the contours
# ---------------------------------------------------------------------------------------------

Box = tuple[tuple[float, float], tuple[float, float]]


def _box(results: Sequence[Result], problem: _problems.Problem) -> Box:
    """The problem's own box, or one around the paths of the runs that converge (or, if none
    does, of every run before it diverges), with a margin."""
    if problem.bounds is not None:
        return problem.bounds
    tracks = [(r.path, diverged_at(r.losses)) for r in results if r.path is not None]
    kept = [path for path, step in tracks if step is None]
    if not kept:
        kept = [path[:max(step or 0, 1)] for path, step in tracks]
    points = np.concatenate(kept)
    points = points[np.all(np.isfinite(points), axis=1)]
    low, high = points.min(axis=0), points.max(axis=0)
    margin = np.maximum(0.1 * (high - low), 1e-3)
    return tuple(zip((low - margin).tolist(), (high + margin).tolist()))  # type: ignore


def _inside(points: np.ndarray, box: Box) -> np.ndarray:
    (x_low, x_high), (y_low, y_high) = box
    with np.errstate(invalid="ignore"):
        return ((points[:, 0] >= x_low) & (points[:, 0] <= x_high)
                & (points[:, 1] >= y_low) & (points[:, 1] <= y_high))


def _edge(inner: np.ndarray, outer: np.ndarray, box: Box) -> np.ndarray:
    """Where the segment from ``inner`` (in the box) to ``outer`` (not) crosses the box's edge;
    ``inner`` itself when ``outer`` is not finite (no direction to follow)."""
    if not np.all(np.isfinite(outer)):
        return inner
    fractions = [1.0]
    for axis, (low, high) in enumerate(box):
        step = outer[axis] - inner[axis]
        if outer[axis] > high:
            fractions.append((high - inner[axis]) / step)
        elif outer[axis] < low:
            fractions.append((low - inner[axis]) / step)
    return inner + min(fractions) * (outer - inner)


def _path_line(axes, result: Result, xy: np.ndarray, index: int, box: Box) -> None:
    """The path ``xy``, a dot at its end; a diverged one ends on the box's edge where it leaves
    for good, marked X."""
    style = line_style(index)
    left: Optional[np.ndarray] = None
    if diverged_at(result.losses) is not None:
        inside = np.flatnonzero(_inside(xy, box))
        last = int(inside[-1]) if inside.size else -1
        if last + 1 < len(xy):
            left = _edge(xy[last], xy[last + 1], box) if last >= 0 else None
            xy = xy[:last + 1] if left is None else np.vstack([xy[:last + 1], left])
    axes.plot(xy[:, 0], xy[:, 1], label=_label(result), linewidth=1.5, **style)
    if left is not None:
        axes.plot(*left, color=style["color"], label="_nolegend_", **LEFT_MARK)
    elif len(xy) and diverged_at(result.losses) is None:
        axes.plot(xy[-1, 0], xy[-1, 1], marker="o", markersize=4, color=style["color"])


def _contours(problem: _problems.Problem, box: Box):
    """``(xs, ys, values, levels)`` of the loss on a 300 x 300 grid over ``box``."""
    (x_low, x_high), (y_low, y_high) = box
    xs, ys = np.linspace(x_low, x_high, 300), np.linspace(y_low, y_high, 300)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    flat, unravel = ravel_pytree(problem.init_params)
    values = jax.jit(jax.vmap(lambda p: problem.loss(unravel(p))))(jnp.asarray(grid, flat.dtype))
    values = np.asarray(values, np.float64).reshape(len(ys), len(xs))
    finite = values[np.isfinite(values)]
    levels: np.ndarray | int = 25
    if finite.size and finite.min() >= 0 and finite.max() > 0:
        # Log-spaced levels show valleys and plateaus alike; offset so that a minimum of 0 works.
        floor = max(np.percentile(finite, 1), 1e-3)
        levels = np.geomspace(floor, max(finite.max(), 2 * floor), 25)
    return xs, ys, values, levels


def paths_figure(results: Sequence[Result], problem: _problems.Problem):
    """Every optimizer's path over the loss's contours, the start and the minima marked, as a
    :class:`matplotlib.figure.Figure`: one panel, or one per family for many optimizers."""
    groups = panels(results)
    figure, axes_list = _figure(len(groups), (9.0, 6.5), 4.6)
    box = _box(results, problem)
    xs, ys, values, levels = _contours(problem, box)
    start = ravel_pytree(problem.init_params)[0]
    for axes, (_, members) in zip(axes_list, groups):
        axes.contourf(xs, ys, values, levels=levels, cmap="Greys", alpha=0.3,
                      extend="both" if not isinstance(levels, int) else "neither")
        axes.contour(xs, ys, values, levels=levels, colors="0.45", linewidths=0.5)
        for index in members:
            xy = results[index].path
            if xy is not None:  # a planar problem records each path
                _path_line(axes, results[index], xy, index, box)
        axes.plot(*np.asarray(start, np.float64), marker="s", markersize=8, color="black",
                  linestyle="none", label="start")
        if problem.minima:
            minima = np.asarray(problem.minima)
            axes.plot(minima[:, 0], minima[:, 1], marker="*", markersize=13, color="gold",
                      markeredgecolor="black", linestyle="none", label="minimum")
        axes.set_xlim(*box[0])
        axes.set_ylim(*box[1])
        axes.set_xlabel("x")
        axes.set_ylabel("y")
        _legend(axes, len(members) + 2)
    _titles(figure, axes_list, [family for family, _ in groups], problem)
    return figure


def paths(results: Sequence[Result], problem: _problems.Problem, path: str) -> str:
    """Write :func:`paths_figure` as a PNG at ``path``; return ``path``."""
    paths_figure(results, problem).savefig(os.fspath(path), format="png", dpi=100)
    return os.fspath(path)
