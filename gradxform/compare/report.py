"""What ``gradxform compare`` shows on the terminal: a progress bar while it runs, then a table."""
from __future__ import annotations

import time
from typing import Optional, Sequence, TextIO

import numpy as np

from gradxform.compare.run import Result, steps_to_reach


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


COLUMNS = ("optimizer", "settings", "final loss", "best loss", "steps to {tolerance}",
           "test acc", "us/step", "compile s")


def table(results: Sequence[Result], tolerance: float) -> str:
    """One row per result, columns aligned; the accuracy column only where there is one."""
    header = [c.format(tolerance=f"loss<={tolerance:g}") for c in COLUMNS]
    with_accuracy = any(r.accuracy is not None for r in results)
    rows = []
    for r in results:
        finite = r.losses[np.isfinite(r.losses)]
        reached = steps_to_reach(r.losses, tolerance)
        rows.append([
            r.name,
            r.settings,
            _number(r.losses[-1]),
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
    text_columns = 2  # name and settings are left-aligned; the numbers are right-aligned

    def line(cells):
        return "  ".join(
            c.ljust(w) if i < text_columns else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])
