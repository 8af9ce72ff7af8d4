"""``gradxform sweep``: many settings of one optimizer trained at once, or a range test.

Bad input is one line, ``gradxform: error: argument --OPTION: ...``, exit status 2, found
before anything is trained, as for ``gradxform compare``.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

import jax
import numpy as np

import gradxform
from gradxform.compare import lineup as _compare_lineup
from gradxform.compare import options as _options
from gradxform.compare import plots as _compare_plots
from gradxform.compare import problems as _problems
from gradxform.compare import report as _compare_report
from gradxform.compare import sweep as _sweep
from gradxform.compare import sweep_plots as _sweep_plots

DEFAULT_PROBLEM = "digits-logistic"
DEFAULT_OPTIMIZER = "adam"
DEFAULT_GRID = "learning_rate=1e-4:1:9"
DEFAULT_RANGE = "1e-6:10"
DEFAULT_OUTPUT = "gradxform-sweep"
TABLE_ROWS = 10  # the best settings shown
WIDTH = 100  # characters a line of the report may take

EXAMPLES = f"""\
examples:
  gradxform sweep                                adam's learning rate on digits-logistic
  gradxform sweep -p rosenbrock -o momentum --grid lr=1e-4:1e-2:5 --grid momentum=0,0.5,0.9
  gradxform sweep -o adam --grid b1=0.8,0.9,0.95,0.99 --grid b2=0.9,0.99,0.999 --seeds 0,1,2
  gradxform sweep -p digits-mlp --range-test     Smith's range test: one run, growing lr
  gradxform sweep -p my_module:make_problem --grid learning_rate=0.001,0.01,0.1

A grid axis is NAME=V1,V2,... or NAME=LOW:HIGH:COUNT (COUNT values spaced evenly on a log
scale); NAME is one of the optimizer's hyperparameters (lr for learning_rate), as
gradxform.hyperparams(state) names them. Every point of the grid, for every seed, is trained
at once: the optimizer is built once, each copy's state gets its values with
gradxform.set_hyperparams, and jax.vmap runs the copies side by side in one compiled program.
Seeds set the initial weights (the digits problems draw them; the data split is the first
seed's). A setting diverges when any seed's loss is not finite or grows past 100 times its
start: it is left out of the ranking, named under the table and drawn as an X. The default
grid is {DEFAULT_GRID}.
"""


def _grid_axis(text: str) -> tuple[str, np.ndarray]:
    name, equals, values = text.partition("=")
    name = name.strip()
    if not equals or not name.isidentifier():
        raise argparse.ArgumentTypeError(
            f"expected NAME=V1,V2,... or NAME=LOW:HIGH:COUNT, got {text!r}"
        )
    name = "learning_rate" if name == "lr" else name
    if ":" in values:
        return name, _log_spaced(name, values)
    try:
        numbers = [float(v) for v in values.split(",") if v.strip()]
    except ValueError:
        numbers = []
    if not numbers or not all(math.isfinite(v) for v in numbers):
        raise argparse.ArgumentTypeError(
            f"expected finite numbers after {name}=, such as 0.9,0.99, got {values!r}"
        )
    return name, np.array(list(dict.fromkeys(numbers)))


def _log_spaced(name: str, text: str) -> np.ndarray:
    parts = text.split(":")
    try:
        low, high, count = float(parts[0]), float(parts[1]), int(parts[2])
        ok = len(parts) == 3 and 0 < low < high < math.inf and 2 <= count <= _sweep.MAX_RUNS
    except (ValueError, IndexError):
        ok = False
    if not ok:
        raise argparse.ArgumentTypeError(
            f"expected {name}=LOW:HIGH:COUNT with 0 < LOW < HIGH and COUNT from 2 to "
            f"{_sweep.MAX_RUNS}, got {text!r}"
        )
    return np.geomspace(low, high, count)


def _seeds(text: str) -> tuple[int, ...]:
    seeds = [_options.seed(s.strip()) for s in text.split(",")]
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"expected distinct seeds, got {text!r}")
    return tuple(seeds)


def _range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in text.split(":"))
        ok = 0 < low < high < math.inf
    except ValueError:
        ok = False
    if not ok:
        raise argparse.ArgumentTypeError(
            f"expected LOW:HIGH, learning rates with 0 < LOW < HIGH, got {text!r}"
        )
    return low, high


def add_parser(commands) -> None:
    """The ``sweep`` command and its options, on the top parser's ``commands``."""
    sweep = commands.add_parser(
        "sweep",
        help="train many settings of one optimizer at once (jax.vmap); or a range test",
        description="Train one optimizer on one problem with every setting of a grid of its\n"
        "hyperparameters (and several seeds) at once, in one compiled program, with a progress\n"
        "bar; print the best settings and write a plot: final loss against the value for one\n"
        "hyperparameter, a heat map for two. With --range-test, run Smith's learning-rate range\n"
        "test instead, print the suggested learning rate and plot the loss against the rate.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sweep.add_argument(
        "--problem", "-p", default=DEFAULT_PROBLEM, metavar="NAME",
        help=f"what to train (default {DEFAULT_PROBLEM}): one of {', '.join(_problems.BUILT_IN)}, "
        "or module:function for your own, e.g. --problem rosenbrock",
    )
    sweep.add_argument(
        "--optimizer", "-o", default=DEFAULT_OPTIMIZER, metavar="NAME",
        help=f"the optimizer (default {DEFAULT_OPTIMIZER}), one of {', '.join(_compare_lineup.NAMES)}, "
        "built with its compare settings; e.g. --optimizer lion",
    )
    grid = sweep.add_mutually_exclusive_group()
    grid.add_argument(
        "--grid", "-g", type=_grid_axis, action="append", metavar="NAME=VALUES",
        help=f"one axis of the grid; repeat for more (default {DEFAULT_GRID}), "
        "e.g. --grid b1=0.8,0.9,0.95 --grid b2=0.99,0.999",
    )
    grid.add_argument(
        "--range-test", type=_range, nargs="?", const=_range(DEFAULT_RANGE), metavar="LOW:HIGH",
        help="run the learning-rate range test instead of a grid: one run whose rate grows "
        f"exponentially from LOW to HIGH over the steps (default {DEFAULT_RANGE}), "
        "e.g. --range-test 1e-5:1",
    )
    sweep.add_argument(
        "--steps", "-n", type=_options.steps, metavar="N",
        help="updates per run (default: the problem's, as for compare), e.g. --steps 200",
    )
    sweep.add_argument(
        "--seeds", type=_seeds, default=(0,), metavar="N[,N...]",
        help="seeds of the initial weights, each trained with every setting (default 0), "
        "e.g. --seeds 0,1,2",
    )
    sweep.add_argument(
        "--output-dir", default=DEFAULT_OUTPUT, metavar="DIR",
        help=f"folder for the PNG plot, created if missing (default ./{DEFAULT_OUTPUT}), "
        "e.g. --output-dir runs/sweep",
    )
    sweep.add_argument(
        "--no-plots", action="store_true",
        help="print the table only; write no PNG file (matplotlib is then not needed)",
    )


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------


def _number(value: float) -> str:
    return f"{value:.4g}" if np.isfinite(value) else str(value)


def _wrapped(text: str, indent: str = "  ") -> str:
    import textwrap

    return textwrap.fill(text, WIDTH, subsequent_indent=indent, break_on_hyphens=False)


def table(result: _sweep.SweepResult, rows: int = TABLE_ROWS) -> str:
    """The best ``rows`` settings that did not diverge, best first, columns aligned: the
    swept values, the final loss (mean over seeds, and the worst seed's for several), the
    lowest loss on the way; then a line naming the settings that diverged."""
    several = len(result.seeds) > 1
    header = ["rank", *result.axes, "final loss", *(["worst seed"] if several else []),
              "best loss"]
    curves = result.losses.mean(axis=-2)  # (*grid, steps + 1)
    lines = []
    for rank, (setting, final) in enumerate(result.best(rows), start=1):
        index = tuple(int(np.flatnonzero(result.axes[k] == v)[0]) for k, v in setting.items())
        lines.append([str(rank), *(f"{v:.4g}" for v in setting.values()), _number(final),
                      *([_number(result.losses[index][:, -1].max())] if several else []),
                      _number(np.nanmin(curves[index]))])
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    text = ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in [header, *lines]]
    text.insert(1, "  ".join("-" * w for w in widths))
    diverged = np.argwhere(result.diverged.any(axis=-1))
    if diverged.size:
        settings = [", ".join(f"{k}={v:.4g}" for k, v in result.setting(tuple(i)).items())
                    for i in diverged]
        text.append(_wrapped(f"diverged, not ranked ({len(settings)} of {result.final.size} settings: "
                             f"loss not finite or over 100x its start): {'; '.join(settings)}"))
    if not lines:
        text.append("every setting diverged: try smaller values")
    return "\n".join(text)


def _header(problem: _problems.Problem, what: str) -> str:
    return "\n".join([
        _wrapped(f"gradxform {gradxform.__version__} sweep: {problem.name}, {problem.description}"),
        _wrapped(f"{what}, JAX {jax.__version__} on {jax.default_backend()}"),
    ])


def _edges(result: _sweep.SweepResult) -> list[str]:
    """The swept names whose best value is the first or last of three or more: the best
    setting may lie outside the grid."""
    best = result.best(1)
    if not best:
        return []
    return [name for name, value in best[0][0].items()
            if len(result.axes[name]) >= 3 and value in (result.axes[name][0], result.axes[name][-1])]


def _file_name(problem_name: str, suffix: str) -> str:
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in problem_name)
    return f"{stem}-{suffix}.png"


def _fixed(fixed: dict) -> str:
    return _wrapped("held at: " + ", ".join(f"{k}={v:.4g}" for k, v in fixed.items()))


# ---------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------


def _bad(error: _sweep.BadSetting) -> _options.UsageError:
    option = {"optimizer": "--optimizer/-o", "grid": "--grid/-g", "seeds": "--seeds",
              "steps": "--steps/-n", "range": "--range-test"}[error.option]
    return _options.UsageError(f"argument {option}: {error}")


def _trained(problem, work, label: str, steps: int):
    """``work(progress)`` behind a progress bar; a user's problem failing is a usage error."""
    bar = _compare_report.ProgressBar(steps, sys.stderr)
    try:
        return work(lambda done: bar.update(done, label))
    except _sweep.BadSetting as error:
        raise _bad(error) from None
    except Exception as error:
        if not problem.spec:  # a built-in problem failing is a bug: show the traceback
            raise
        raise _options.user_problem_failed(problem, label, error) from None
    finally:
        bar.close()


def sweep(args) -> int:
    """Run the sweep or range test that ``args`` describe; return the exit status.

    Raises:
        UsageError: a bad option, found before anything is trained.
        MissingPackage: matplotlib or scikit-learn is needed but not installed.
    """
    if "," in args.problem or args.problem.strip() == "all":
        raise _options.UsageError(f"argument --problem/-p: expected one problem, got {args.problem!r}")
    [problem] = _options.problems_named(args.problem, args.seeds[0])
    if args.range_test and len(args.seeds) > 1:
        raise _options.UsageError("argument --seeds: the range test is one run; give one seed")
    if not args.no_plots:
        try:
            _compare_plots.figure_class()
        except ImportError as error:
            raise _options.MissingPackage(f"{error} (or pass --no-plots)") from None
        _options.writable_folder(args.output_dir)
    began = time.perf_counter()
    if args.range_test:
        _range_test(problem, args)
    else:
        _grid(problem, args)
    print(f"\nDone in {time.perf_counter() - began:.1f} s (compilation included).")
    return 0


def _grid(problem: _problems.Problem, args) -> None:
    axes = dict([_grid_axis(DEFAULT_GRID)] if not args.grid else [])
    for name, values in args.grid or []:
        if name in axes:
            raise _options.UsageError(f"argument --grid/-g: {name} is given twice")
        axes[name] = values
    spec = problem.spec or problem.name
    steps = args.steps or problem.steps
    runs = math.prod(len(v) for v in axes.values()) * len(args.seeds)
    label = f"{args.optimizer} x {runs} runs"
    result = _trained(problem, lambda progress: _sweep.sweep(
        spec, args.optimizer, axes, steps, args.seeds, progress), label, steps)
    settings = math.prod(result.shape)
    seeds = f"{len(args.seeds)} seed{'s' if len(args.seeds) > 1 else ''}"
    print(_header(problem, f"{result.optimizer}: {settings} settings x {seeds} = {runs} runs "
                  f"trained at once (jax.vmap), {steps} jit-compiled full-batch steps each"))
    if result.fixed:
        print(_fixed(result.fixed))
    print()
    print(table(result))
    for name in _edges(result):
        print(f"The best {name} is at the edge of its grid: the best may lie beyond it.")
    print(f"\nCompiled once in {result.compile_seconds:.2f} s; {runs} runs x {steps} steps in "
          f"{result.run_seconds:.2f} s ({1e6 * result.run_seconds / (runs * steps):.2f} us per "
          "run and step).")
    if not args.no_plots:
        figure = _sweep_plots.sweep_figure(result)
        if figure is None:
            print(f"No plot: {len(axes)} hyperparameters (plots show one or two).")
        else:
            kind = "heat-map" if len(axes) == 2 else "sweep"
            path = os.path.join(args.output_dir, _file_name(problem.name, kind))
            print(f"Plot:  {_sweep_plots.write(figure, path)}")


def _range_test(problem: _problems.Problem, args) -> None:
    low, high = args.range_test
    steps = args.steps or problem.steps
    spec = problem.spec or problem.name
    test = _trained(problem, lambda progress: _sweep.range_test(
        spec, args.optimizer, steps, low, high, args.seeds[0], progress),
        f"{args.optimizer} range test", steps)
    factor = (high / low) ** (1 / (steps - 1))
    print(_header(problem, f"{test.optimizer}: learning-rate range test, one run, lr from "
                  f"{low:g} to {high:g} (x{factor:.4g} per step), {steps} jit-compiled full-batch steps"))
    print()
    print(f"suggested learning rate: {test.suggested:.3g} (where the smoothed loss falls fastest)")
    print(f"lowest smoothed loss at: {test.minimum:.3g} (a tenth of it, {test.minimum / 10:.3g}, "
          "is another usual pick)")
    if test.blew_up:
        print(f"the loss blew up at lr={test.learning_rates[test.stop]:.3g} (smoothed loss above "
              f"{_sweep.RANGE_BLOWUP:g}x its lowest, or not finite)")
    else:
        print(f"the loss did not blow up below lr={high:g}")
    if not args.no_plots:
        path = os.path.join(args.output_dir, _file_name(problem.name, "range-test"))
        print(f"Plot:  {_sweep_plots.write(_sweep_plots.range_test_figure(test), path)}")
