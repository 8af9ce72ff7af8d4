"""Draw schedules to a PNG file (needs the optional ``plot`` extra: matplotlib)."""
from __future__ import annotations

import os
from typing import Any, Mapping, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np

from ..core import check as _check
from ..core.types import Schedule


def plot_schedule(
    schedules: Union[Schedule, Mapping[str, Schedule]],
    steps: Union[int, Sequence[int], np.ndarray, jax.Array],
    path: Union[str, os.PathLike],
    *,
    title: str | None = None,
    log_scale: bool = False,
) -> Any:
    """Plot one schedule, or several by name, against the step and save the figure as a PNG.

    Each schedule is evaluated with :func:`jax.vmap` over the steps, so any pure schedule
    (gradxform's or Optax's) can be drawn. Matplotlib is imported here, not with gradxform, and
    no global pyplot state is touched.

    Args:
        schedules: a schedule ``step -> value``, or a dict ``{label: schedule}`` drawn as one
            line each, with a legend.
        steps: a count ``n >= 1`` (draws steps ``0 .. n - 1``) or the integer steps themselves.
        path: where to write the PNG.
        title: an optional title.
        log_scale: draw the values on a logarithmic axis.

    Returns:
        The :class:`matplotlib.figure.Figure`, for further changes (call ``savefig`` again).

    Raises:
        ImportError: if matplotlib is not installed (``pip install gradxform[plot]``).
    """
    who = "plot_schedule"
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            _check.MISSING_EXTRA.format(who=who, package="matplotlib", extra="plot")
        ) from None

    named = dict(schedules) if isinstance(schedules, Mapping) else {"": schedules}
    if not named:
        raise ValueError(_check.EMPTY.format(who=who, what="schedules"))
    for label, fn in named.items():
        _check.is_callable(who, **{f"schedules[{label!r}]" if label else "schedules": fn})
    if isinstance(steps, (int, np.integer)) and not isinstance(steps, bool):
        _check.step_count(who, 1, steps=steps)
        steps = np.arange(int(steps))
    steps = jnp.asarray(steps)
    _check.integer_step(who, steps)

    figure = Figure(figsize=(6.4, 4.0), layout="constrained")
    axes = figure.add_subplot()
    for label, fn in named.items():
        values = np.asarray(jax.vmap(fn)(steps), np.float64)
        axes.plot(np.asarray(steps), values, label=label or None)
    axes.set_xlabel("step")
    axes.set_ylabel("value")
    if log_scale:
        axes.set_yscale("log")
    if title:
        axes.set_title(title)
    if any(named):
        axes.legend()
    axes.grid(True, alpha=0.3)
    figure.savefig(os.fspath(path), format="png", dpi=100)
    return figure
