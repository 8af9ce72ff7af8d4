"""What ``gradxform compare`` shows on the terminal: a progress bar while it runs, then a table."""
from __future__ import annotations

import textwrap
import time
from typing import Optional, Sequence, TextIO

import numpy as np

from gradxform.compare.run import Result, diverged_at, steps_to_reach


class ProgressBar:
    """A one-line bar on a terminal stream, redrawn in place; silent on anything else.

    ``update(done, label)`` sets how many of ``total`` units are finished; ``close()`` erases
    the line, so that what is printed next starts clean.
    """

    WIDTH = 30  # characters between the brackets
    MIN_INTERVAL = 0.1  # seconds between redraws, except for the last one

    def __init__(self, total: int, stream: TextIO, enabled: Optional[bool] = None):
        self.total = max(total, 1)
        self.stream = stream
        self.enabled = stream.isatty() if enabled is None else enabled
        self.start = time.perf_counter()
        self.drawn_at = -float("inf")
        self.width = 0

    def update(self, done: int, label: str = "") -> None:
        now = time.perf_counter()
        if not self.enabled or (now - self.drawn_at < self.MIN_INTERVAL and done < self.total):
            return
        self.drawn_at = now
        filled = self.WIDTH * done // self.total
        line = (
            f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {100 * done // self.total:3d}% "
            f"{label} {now - self.start:.0f} s"
        )
        self.stream.write("\r" + line.ljust(self.width))
        self.stream.flush()
        self.width = len(line)

    def close(self) -> None:
        if self.enabled and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()


def _number(value: float) -> str:
    return f"{value:.4g}" if np.isfinite(value) else str(value)


WIDTH = 100  # characters a line of the table may take; the settings wrap to fit
MIN_SETTINGS_WIDTH = 16
DIVERGED = " X"  # after the final loss of a run that diverged, as the plots mark it
COLUMNS = ("optimizer", "settings", "final loss", "best loss", "steps to {tolerance}",
           "test acc", "us/step", "compile s")


def table(results: Sequence[Result], tolerance: float) -> str:
    """One row per result, columns aligned, at most :data:`WIDTH` characters a line: the
    settings wrap onto continuation lines; the accuracy column only where there is one. A run
    that diverged (:func:`gradxform.compare.run.diverged_at`) has its final loss marked X and
    is named, with its step, in a note under the table."""
    header = [c.format(tolerance=f"{tolerance:g}") for c in COLUMNS]
    with_accuracy = any(r.accuracy is not None for r in results)
    rows, diverged = [], []
    for r in results:
        finite = r.losses[np.isfinite(r.losses)]
        reached = steps_to_reach(r.losses, tolerance)
        step = diverged_at(r.losses)
        if step is not None:
            diverged.append(f"{r.name} at step {step}")
        rows.append([
            r.name,
            r.settings,
            _number(r.losses[-1]) + (DIVERGED if step is not None else ""),
            _number(finite.min()) if finite.size else "nan",
            "never" if reached is None else str(reached),
            "-" if r.accuracy is None else f"{100 * r.accuracy:.1f}%",
            f"{1e6 * r.seconds_per_step:.1f}",
            f"{r.compile_seconds:.2f}",
        ])
    if not with_accuracy:
        header.pop(5)
        for row in rows:
            row.pop(5)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    others = sum(widths) - widths[1] + 2 * (len(widths) - 1)
    widths[1] = min(widths[1], max(WIDTH - others, MIN_SETTINGS_WIDTH))
    text_columns = 2  # name and settings are left-aligned; the numbers are right-aligned

    def line(cells):
        return "  ".join(
            c.ljust(w) if i < text_columns else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    def lines(row):
        settings = textwrap.wrap(row[1], widths[1], break_on_hyphens=False) or [""]
        first = line([row[0], settings[0], *row[2:]])
        return [first, *(line(["", more]) for more in settings[1:])]

    rule = "  ".join("-" * w for w in widths)
    text = [line(header), rule, *(text for row in rows for text in lines(row))]
    if diverged:
        text.append(textwrap.fill(
            f"X diverged (loss not finite or above 100x its start): {', '.join(diverged)}",
            WIDTH, subsequent_indent="  ",
        ))
    return "\n".join(text)
