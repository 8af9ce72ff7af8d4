"""Which optimizers ``gradxform compare`` races, with what settings, and the ``--learning-rate``
grammar.

Each entry of :data:`LINEUP` names a gradxform alias, the keyword arguments it gets besides the
learning rate, and a default learning rate per problem family ("2-d" for the test functions,
"data" for the digits and users' problems). The rates were picked from a few tries on the
built-in problems, not tuned: a race is a demonstration, not a ranking of optimizers.
"""
from __future__ import annotations

import inspect
import math
from typing import Any, NamedTuple, Union

import numpy as np

import gradxform
from gradxform import schedules

LearningRate = Union[float, "ScheduleSpec"]

FLOAT32_MAX = float(np.finfo(np.float32).max)  # the problems and optimizers run in float32
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1  # the step counter, and the schedules' step counts


class Entry(NamedTuple):
    name: str  # what --optimizers calls it
    alias: str  # the gradxform function it builds
    options: dict  # keyword arguments other than the learning rate
    learning_rates: dict  # default learning rate by problem family, or by problem name
    family: str  # the kind of method: one panel of the plots when many optimizers race

    def learning_rate(self, problem: str, family: str) -> float:
        """The default for ``problem`` by name if there is one, else for its ``family``."""
        return self.learning_rates.get(problem, self.learning_rates[family])


def _entry(name, learning_rates, alias=None, **options):
    return Entry(name, alias or name, options, learning_rates, _FAMILY_OF[name])


# The families, in display order, and their members: the plots draw one panel per family when
# many optimizers race. Plain-gradient steps (with momentum or a trust ratio on top); methods
# scaling by accumulated squared gradients; Adam and its variants (moments with bias correction);
# steps by the sign of an interpolated momentum.
FAMILIES = {
    "SGD-like": ("sgd", "momentum", "nesterov", "noisy_sgd", "aggmo", "lars"),
    "adaptive": ("adagrad", "adadelta", "rmsprop"),
    "Adam-like": ("adam", "adamw", "adamax", "nadam", "nadamw", "amsgrad", "radam", "qhadam",
                  "swats", "lamb"),
    "sign-based": ("lion",),
}
_FAMILY_OF = {name: family for family, names in FAMILIES.items() for name in names}


# A plain gradient step must stay below 2 / (largest curvature): about 2e-3 on Rosenbrock's and
# Beale's steep walls, but 0.02 or more on these three, so they get a larger default.
_GENTLE = dict.fromkeys(("himmelblau", "quadratic", "saddle"), 0.01)

# The lineup, in display order: plain-gradient methods first, then the adaptive ones.
LINEUP: tuple[Entry, ...] = (
    _entry("sgd", {"2-d": 1e-3, **_GENTLE, "data": 0.5}),
    _entry("momentum", {"2-d": 1e-3, **_GENTLE, "data": 0.3}, alias="sgd", momentum=0.9),
    _entry("nesterov", {"2-d": 1e-3, **_GENTLE, "data": 0.3}, alias="sgd", momentum=0.9,
           nesterov=True),
    _entry("noisy_sgd", {"2-d": 1e-3, **_GENTLE, "data": 0.5}),
    _entry("aggmo", {"2-d": 1e-3, **_GENTLE, "data": 0.3}),
    _entry("lars", {"2-d": 3.0, "data": 10.0}),
    _entry("adagrad", {"2-d": 0.3, "data": 0.3}),
    _entry("adadelta", {"2-d": 1.0, "data": 1.0}),
    _entry("rmsprop", {"2-d": 0.01, "data": 0.01}),
    _entry("adam", {"2-d": 0.05, "data": 0.03}),
    _entry("adamw", {"2-d": 0.05, "data": 0.03}, weight_decay=1e-4),
    _entry("adamax", {"2-d": 0.05, "data": 0.03}),
    _entry("nadam", {"2-d": 0.05, "data": 0.03}),
    _entry("nadamw", {"2-d": 0.05, "data": 0.03}, weight_decay=1e-4),
    _entry("amsgrad", {"2-d": 0.05, "data": 0.03}),
    # RAdam's first steps are plain momentum steps (until the variance is tractable): on the
    # steep 2-D walls a larger rate throws it out of the picture.
    _entry("radam", {"2-d": 0.02, "rosenbrock": 0.01, "data": 0.03}),
    _entry("qhadam", {"2-d": 0.05, "data": 0.03}),
    _entry("swats", {"2-d": 0.05, "data": 0.03}),
    _entry("lamb", {"2-d": 0.01, "data": 0.01}),
    _entry("lion", {"2-d": 0.01, "data": 0.003}),
)

NAMES = tuple(entry.name for entry in LINEUP)


def choose(text: str | None) -> list[Entry]:
    """The entries named in ``text`` ("adam,sgd"; None for all), in the order given."""
    if text is None:
        return list(LINEUP)
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise ValueError(f"expected comma-separated names such as adam,sgd, got {text!r}")
    by_name = {entry.name: entry for entry in LINEUP}
    for name in names:
        if name not in by_name:
            raise ValueError(f"unknown optimizer {name!r}; expected names from {', '.join(NAMES)}")
    return [by_name[name] for name in names]


def build(entry: Entry, learning_rate) -> gradxform.GradientTransformation:
    """The optimizer for ``entry`` with ``learning_rate`` (a number or a schedule function)."""
    return getattr(gradxform.aliases, entry.alias)(learning_rate, **entry.options)


# ---------------------------------------------------------------------------------------------
# --learning-rate: a number, or NAME:KEY=VALUE,KEY=VALUE for a schedule in gradxform.schedules.
# ---------------------------------------------------------------------------------------------


class ScheduleSpec(NamedTuple):
    name: str  # a function in gradxform.schedules
    kwargs: dict  # its arguments, numbers and booleans

    def build(self):
        return getattr(schedules, self.name)(**self.kwargs)

    def __str__(self):
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self.kwargs.items())})"

    def short(self) -> str:
        """The name less ``_schedule``/``_decay`` and the numbers given, in their order:
        ``warmup_cosine(0, 0.1, 100, 1000)`` for ``warmup_cosine_decay_schedule(init_value=0.0,
        peak_value=0.1, warmup_steps=100, decay_steps=1000)``. The table shows this; the
        header above it spells the schedule out once."""
        name = self.name.removesuffix("_schedule").removesuffix("_decay")
        return f"{name}({', '.join(_short_number(v) for v in self.kwargs.values())})"


def _short_number(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def schedule_names() -> list[str]:
    """The public functions of :mod:`gradxform.schedules` that return a schedule."""
    return sorted(
        name for name, value in vars(schedules).items()
        if not name.startswith("_") and inspect.isfunction(value)
        and value.__module__.startswith(schedules.__name__ + ".")
    )


def _value(key: str, text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{key}={text} is not a finite number")
        if isinstance(value, float) and abs(value) > FLOAT32_MAX:
            raise ValueError(
                f"{key}={text.strip()} is beyond float32's largest number {FLOAT32_MAX:.4g}"
            )
        if isinstance(value, int) and not INT32_MIN <= value <= INT32_MAX:
            raise ValueError(
                f"{key}={text.strip()} is outside int32 ({INT32_MIN} to {INT32_MAX})"
            )
        return value
    raise ValueError(f"{key}={text!r} is not a number (or true/false)")


def parse_learning_rate(text: str) -> LearningRate:
    """A finite number > 0, or a :class:`ScheduleSpec` checked by building the schedule once.

    Raises:
        ValueError: a one-line message saying what was expected.
    """
    if ":" not in text:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(
                f"expected a number > 0 or a schedule such as "
                f"cosine_decay_schedule:init_value=0.1,decay_steps=500, got {text!r}"
            ) from None
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"expected a finite number > 0, got {text!r}")
        if value > FLOAT32_MAX:
            raise ValueError(
                f"expected a number float32 can hold (at most {FLOAT32_MAX:.4g}), got {text!r}"
            )
        return value
    name, _, arguments = text.partition(":")
    name = name.strip()
    if name not in schedule_names():
        known = ", ".join(schedule_names())
        raise ValueError(f"unknown schedule {name!r}; expected one of {known}")
    kwargs = {}
    for item in filter(None, (a.strip() for a in arguments.split(","))):
        key, equals, given = item.partition("=")
        if not equals or not key.strip().isidentifier():
            raise ValueError(f"expected KEY=VALUE after {name}:, got {item!r}")
        kwargs[key.strip()] = _value(key.strip(), given)
    parameters = inspect.signature(getattr(schedules, name)).parameters
    unknown = [key for key in kwargs if key not in parameters]
    required = [k for k, p in parameters.items() if p.default is inspect.Parameter.empty]
    missing = [key for key in required if key not in kwargs]
    if unknown or missing:
        problem = f"unknown argument {unknown[0]}" if unknown else f"missing {', '.join(missing)}"
        raise ValueError(f"{problem}; {name} takes {', '.join(parameters)}")
    spec = ScheduleSpec(name, kwargs)
    try:
        spec.build()
    except (TypeError, ValueError) as error:
        raise ValueError(" ".join(str(error).split())) from None
    return spec
