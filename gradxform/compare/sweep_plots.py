"""The pictures ``gradxform sweep`` writes: final loss against one hyperparameter, a heat map of
two, and the learning-rate range test.

As in :mod:`gradxform.compare.plots`, matplotlib is imported inside these functions and only
through :class:`matplotlib.figure.Figure`. A diverged setting (any seed's loss not finite or
blown up, :func:`gradxform.compare.run.diverged_at`) never sets an axis or a colour: it is an X
along the top of the loss plot and a grey, crossed-out cell of the heat map.
"""
from __future__ import annotations

import math
import os
from typing import Optional

import numpy as np

from gradxform.compare.plots import figure_class
from gradxform.compare.sweep import RangeTest, SweepResult

DIVERGED_MARK = dict(marker="X", markersize=9, markeredgecolor="black", markeredgewidth=0.6,
                     linestyle="none", color="tab:red", zorder=5)
ANNOTATE_UP_TO = 12  # heat maps with at most this many cells a side print each cell's loss


def _log_scale(values: np.ndarray) -> bool:
    """Whether positive values spread over a factor of 10 or more (a learning-rate grid)."""
    return bool(np.all(values > 0) and values.max() / values.min() >= 10)


def _range(values: np.ndarray, log: bool) -> tuple[float, float]:
    """A margin around the finite values: 5% of the span, in decades on a log scale."""
    values = values[np.isfinite(values) & ((values > 0) if log else True)]
    if not values.size:
        return (0.1, 1.0) if log else (0.0, 1.0)
    low, high = float(values.min()), float(values.max())
    if log:
        pad = 10 ** max(0.05 * math.log10(high / low), 0.05)
        return low / pad, high * pad
    pad = 0.05 * (high - low) or max(abs(high), 1.0) * 0.05
    return low - pad, high + pad


def _above(low: float, high: float, log: bool, fraction: float) -> float:
    """A height ``fraction`` of the span ``[low, high]`` above ``high`` (in decades on a log
    scale): where the X marks sit, inside the axes and clear of the title."""
    if log:
        return high * (high / low) ** fraction
    return high + fraction * (high - low)


def _title(result: SweepResult) -> str:
    seeds = f", mean of {len(result.seeds)} seeds" if len(result.seeds) > 1 else ""
    steps = result.losses.shape[-1] - 1
    return f"{result.problem}: {result.optimizer}, final loss after {steps} steps{seeds}"


# ---------------------------------------------------------------------------------------------
# One hyperparameter: final loss against its value, and the loss curves
# ---------------------------------------------------------------------------------------------


def line_figure(result: SweepResult):
    """Final loss against the one swept hyperparameter (left; a band from the best to the
    worst seed) and each setting's loss curve (right), diverged settings marked, not drawn."""
    [(name, values)] = result.axes.items()
    final, diverged = result.final, result.diverged.any(axis=-1)
    figure = figure_class()(figsize=(12.0, 4.6), layout="constrained")
    left, right = figure.subplots(1, 2)
    log_x = _log_scale(values)
    positive = bool(np.all(result.losses[~diverged] > 0))
    low, high = _range(result.losses[~diverged][..., -1].ravel(), positive)
    for axes in (left, right):
        axes.set_yscale("log" if positive else "linear")
    left.set_xscale("log" if log_x else "linear")
    kept = ~diverged
    left.plot(values[kept], final[kept], marker="o", color="tab:blue", label="final loss")
    if len(result.seeds) > 1 and kept.any():
        seeds = result.losses[kept][..., -1]
        left.fill_between(values[kept], seeds.min(axis=-1), seeds.max(axis=-1), alpha=0.2,
                          color="tab:blue", label="best to worst seed")
    top = _above(low, high, positive, 0.1)  # the row of X marks, above the converging runs
    if diverged.any():
        left.plot(values[diverged], np.full(int(diverged.sum()), top), label="diverged",
                  **DIVERGED_MARK)
    best = result.best(1)
    if best:
        left.axvline(best[0][0][name], color="0.5", linestyle=":", label=f"best {name}")
    left.set_ylim(low, _above(low, top, positive, 0.05) if diverged.any() else high)
    left.set_xlabel(name)
    left.set_ylabel("final training loss")
    left.grid(True, alpha=0.3)
    left.legend(fontsize="small")
    _curves(right, result, name, values, kept, positive)
    figure.suptitle(_title(result), fontsize="medium")
    return figure


def _curves(axes, result: SweepResult, name: str, values: np.ndarray, kept, positive) -> None:
    from matplotlib import colormaps

    colours = colormaps["viridis"](np.linspace(0, 0.9, len(values)))
    curves = result.losses.mean(axis=-2)  # mean over seeds: (values, steps + 1)
    for i in np.flatnonzero(kept):
        axes.plot(curves[i], color=colours[i], linewidth=1.2, label=f"{name}={values[i]:.3g}")
    low, high = _range(curves[kept].ravel() if kept.any() else np.array([]), positive)
    axes.set_ylim(low, high)
    axes.set_xlim(0, curves.shape[-1] - 1)
    axes.set_xlabel("step")
    axes.set_ylabel("training loss")
    axes.grid(True, alpha=0.3)
    count = int((~kept).sum())
    axes.set_title(f"loss curves ({count} diverged, not drawn)" if count else "loss curves",
                   fontsize="medium")
    if kept.sum() <= 16:
        axes.legend(fontsize="x-small", ncols=2 if kept.sum() > 8 else 1)


# ---------------------------------------------------------------------------------------------
# Two hyperparameters: a heat map
# ---------------------------------------------------------------------------------------------


def heat_map_figure(result: SweepResult):
    """The final loss over the grid of two hyperparameters (log colour scale where every loss
    is positive), the best cell outlined, diverged cells grey and crossed out."""
    from matplotlib.colors import LogNorm, Normalize

    (row_name, rows), (column_name, columns) = result.axes.items()
    final = result.final
    finite = final[np.isfinite(final)]
    positive = bool(finite.size and np.all(finite > 0))
    figure = figure_class()(figsize=(2.2 + 0.75 * len(columns), 1.6 + 0.5 * len(rows)),
                            layout="constrained")
    axes = figure.add_subplot()
    if finite.size:
        norm = (LogNorm(finite.min(), max(finite.max(), finite.min() * 1.0001)) if positive
                else Normalize(finite.min(), finite.max()))
    else:
        norm = Normalize(0, 1)
    shown = np.ma.masked_invalid(final)
    image = axes.pcolormesh(shown, cmap="viridis_r", norm=norm, edgecolors="white",
                            linewidth=0.5)
    axes.set_facecolor("0.85")  # the diverged cells: masked, so the background shows
    figure.colorbar(image, ax=axes, label="final training loss (lower is better)")
    for i, j in zip(*np.nonzero(~np.isfinite(final))):
        axes.text(j + 0.5, i + 0.5, "X", ha="center", va="center", color="tab:red",
                  fontweight="bold")
    if len(rows) <= ANNOTATE_UP_TO and len(columns) <= ANNOTATE_UP_TO:
        for i, j in zip(*np.nonzero(np.isfinite(final))):
            dark = norm(final[i, j]) > 0.5
            axes.text(j + 0.5, i + 0.5, f"{final[i, j]:.3g}", ha="center", va="center",
                      fontsize="x-small", color="black" if dark else "white")
    best = result.best(1)
    if best:
        i = int(np.flatnonzero(rows == best[0][0][row_name])[0])
        j = int(np.flatnonzero(columns == best[0][0][column_name])[0])
        axes.add_patch(_outline(j, i))
    axes.set_xticks(np.arange(len(columns)) + 0.5, [f"{v:.3g}" for v in columns])
    axes.set_yticks(np.arange(len(rows)) + 0.5, [f"{v:.3g}" for v in rows])
    axes.set_xlabel(column_name)
    axes.set_ylabel(row_name)
    count = int((~np.isfinite(final)).sum())
    note = f"; X: diverged ({count})" if count else ""
    axes.set_title(_title(result) + note, fontsize="medium", wrap=True)
    return figure


def _outline(column: int, row: int):
    from matplotlib.patches import Rectangle

    return Rectangle((column, row), 1, 1, fill=False, edgecolor="red", linewidth=2.0)


def sweep_figure(result: SweepResult) -> Optional[object]:
    """:func:`line_figure` for one hyperparameter, :func:`heat_map_figure` for two; None for
    more (no picture shows three axes well: the table lists the best settings)."""
    if len(result.axes) == 1:
        return line_figure(result)
    if len(result.axes) == 2:
        return heat_map_figure(result)
    return None


def write(figure, path: str) -> str:
    """Write ``figure`` as a PNG at ``path``; return ``path``."""
    figure.savefig(os.fspath(path), format="png", dpi=100)
    return os.fspath(path)


# ---------------------------------------------------------------------------------------------
# The learning-rate range test
# ---------------------------------------------------------------------------------------------


def range_test_figure(test: RangeTest):
    """The loss (faint) and its moving average against the learning rate, read up to where it
    blew up (marked X); the suggested rate and the minimum as vertical lines."""
    figure = figure_class()(figsize=(8.0, 4.6), layout="constrained")
    axes = figure.add_subplot()
    rates, stop = test.learning_rates, test.stop
    read = np.concatenate([test.losses[:stop], test.smoothed[:stop]])
    positive = bool(np.all(read[np.isfinite(read)] > 0))
    axes.set_xscale("log")
    axes.set_yscale("log" if positive else "linear")
    axes.plot(rates[:stop], test.losses[:stop], color="tab:blue", alpha=0.35, linewidth=1.0,
              label="loss")
    axes.plot(rates[:stop], test.smoothed[:stop], color="tab:blue", linewidth=1.8,
              label="loss, moving average")
    low, high = _range(read, positive)
    if test.blew_up:
        axes.plot([rates[stop]], [high], label=f"blew up at lr={rates[stop]:.3g}",
                  **DIVERGED_MARK)
    axes.axvline(test.suggested, color="tab:green", linestyle="--",
                 label=f"suggested lr={test.suggested:.3g} (steepest fall)")
    axes.axvline(test.minimum, color="0.5", linestyle=":", label=f"minimum at lr={test.minimum:.3g}")
    axes.set_ylim(low, _above(low, high, positive, 0.05) if test.blew_up else high)
    axes.set_xlim(rates[0], rates[-1])
    axes.set_xlabel("learning rate (grows exponentially, one update each)")
    axes.set_ylabel("training loss after the update")
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(fontsize="small")
    axes.set_title(f"{test.problem}: {test.optimizer}, learning-rate range test "
                   f"({len(rates)} steps)", fontsize="medium")
    return figure
