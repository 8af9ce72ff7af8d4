"""The command line: ``gradxform compare [options]`` (also ``python -m gradxform``) and
``gradxform sweep [options]`` (:mod:`gradxform.compare.sweep_cli`).

Bad input is reported as one line, ``gradxform: error: argument --OPTION: ...``, with exit
status 2; a missing optional package as one line with status 1. Nothing is run before every
option has been checked and the output folder is known to be writable.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Sequence

import jax

import gradxform
from gradxform.compare import lineup as _compare_lineup
from gradxform.compare import options as _options
from gradxform.compare import plots as _compare_plots
from gradxform.compare import problems as _problems
from gradxform.compare import report as _compare_report
from gradxform.compare import run as _compare_run
from gradxform.compare import sweep_cli as _sweep_cli

DEFAULT_PROBLEM = "rosenbrock"
DEFAULT_OUTPUT = "gradxform-compare"

EXAMPLES = """\
examples:
  gradxform compare                              every optimizer on Rosenbrock's function
  gradxform compare --problem beale,himmelblau --optimizers adam,sgd,lion --steps 300
  gradxform compare --problem digits-mlp --learning-rate 0.01 --seed 3
  gradxform compare --learning-rate cosine_decay_schedule:init_value=0.1,decay_steps=1000
  gradxform compare --problem my_module:make_problem --output-dir runs/mine
  gradxform compare --problem path/to/file.py:make_problem --tolerance 1e-6
  gradxform compare --list                       the problems, optimizers and schedules

A problem of your own is a function taking no arguments and returning (loss_fn,
init_params): loss_fn(params) -> scalar loss, jit-safe; init_params a pytree of float
arrays. Its module is imported from sys.path or the current folder, or given as a .py file.
Each run is jit-compiled (a jax.lax.scan over the steps); the same seed gives identical
numbers. us/step is the time per update of the fastest compiled call (a run is cut into
at most 10 calls so that the progress bar moves), compilation excluded.
"""


FLOAT32_MAX = _compare_lineup.FLOAT32_MAX
MAX_STEPS = _options.MAX_STEPS


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= FLOAT32_MAX:  # also false for nan; the losses are float32
        raise argparse.ArgumentTypeError(
            f"expected a finite number > 0 (at most float32's {FLOAT32_MAX:.4g}), got {text!r}"
        )
    return value


def _learning_rate(text: str):
    try:
        return _compare_lineup.parse_learning_rate(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parser() -> argparse.ArgumentParser:
    top = _options.Parser(
        prog="gradxform",
        description="gradxform's command line. Run `gradxform compare --help` or `gradxform "
        "sweep --help` for the options; with no command, `gradxform` runs `gradxform compare` "
        "with the defaults.",
    )
    top.add_argument("--version", action="version", version=f"gradxform {gradxform.__version__}")
    commands = top.add_subparsers(dest="command", metavar="COMMAND")
    compare = commands.add_parser(
        "compare",
        help="race optimizers on a problem; print a table and write plots",
        description="Race optimizers on one problem (or several): train each from the same\n"
        "start, jit-compiled, with a progress bar on the terminal; then print a table (final\n"
        "and best training loss, steps to reach the tolerance, held-out accuracy where it\n"
        "applies, time per step and compile time) and write PNG plots of the loss curves\n"
        "and, for 2-D problems, of every optimizer's path over the contours.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    compare.add_argument(
        "--problem", "-p", default=DEFAULT_PROBLEM, metavar="NAME[,NAME...]",
        help=f"what to train (default {DEFAULT_PROBLEM}): one or more of "
        f"{', '.join(_problems.BUILT_IN)}; all for every one of those; or module:function for "
        "your own, e.g. --problem beale,digits-logistic",
    )
    compare.add_argument(
        "--optimizers", "-o", metavar="NAME[,NAME...]",
        help="comma-separated optimizers to race, in this order (default: all of "
        f"{', '.join(_compare_lineup.NAMES)}), e.g. --optimizers adam,sgd,lion",
    )
    compare.add_argument(
        "--learning-rate", "--lr", type=_learning_rate, metavar="LR",
        help="one learning rate for every optimizer instead of each one's default for the "
        "problem (shown in the table): a number > 0, e.g. --learning-rate 0.01, or a schedule "
        "from gradxform.schedules as NAME:KEY=VALUE,..., e.g. --learning-rate "
        "cosine_decay_schedule:init_value=0.1,decay_steps=500",
    )
    compare.add_argument(
        "--steps", "-n", type=_options.steps, metavar="N",
        help=f"updates per optimizer, 1 to {MAX_STEPS} (default: the problem's, 1000 for "
        "rosenbrock and beale, 500 for the other 2-D functions, 300 for the others), e.g. --steps 200",
    )
    compare.add_argument(
        "--seed", type=_options.seed, default=0, metavar="N",
        help="seed of the data split, initial weights and noisy_sgd's noise (default 0); the "
        "same seed gives identical numbers, e.g. --seed 3",
    )
    compare.add_argument(
        "--tolerance", type=_tolerance, metavar="LOSS",
        help="the loss counted as reached in 'steps to loss<=LOSS', > 0 (default: 1e-3 for the 2-D "
        "functions and your own problems, 0.1 for digits), e.g. --tolerance 1e-6",
    )
    compare.add_argument(
        "--output-dir", default=DEFAULT_OUTPUT, metavar="DIR",
        help=f"folder for the PNG plots, created if missing (default ./{DEFAULT_OUTPUT}), "
        "e.g. --output-dir runs/today",
    )
    compare.add_argument(
        "--no-plots", action="store_true",
        help="print the table only; write no PNG files (matplotlib is then not needed)",
    )
    compare.add_argument(
        "--list", action="store_true",
        help="list the problems, the optimizers with their default learning rates, and the "
        "schedules, then exit",
    )
    _sweep_cli.add_parser(commands)
    return top


def _listing() -> str:
    lines = ["problems (--problem):"]
    for name, build in _problems.BUILT_IN.items():
        try:
            problem = build(0)
        except ImportError as error:
            lines.append(f"  {name:<16} unavailable: {error}")
            continue
        lines.append(f"  {name:<16} {problem.description} [{problem.steps} steps, tolerance "
                     f"{problem.tolerance:g}]")
    lines.append("  module:function  your own: function() returns (loss_fn, init_params)")
    lines.append("optimizers (--optimizers): the call, and the default learning rates:")
    for entry in _compare_lineup.LINEUP:
        call = "".join(f", {k}={v!r}" for k, v in entry.options.items())
        rates = ", ".join(f"{k} {v:g}" for k, v in entry.learning_rates.items())
        lines.append(f"  {entry.name:<10} gradxform.{entry.alias}(lr{call}): {rates}")
    lines.append("schedules (--learning-rate NAME:KEY=VALUE,...):")
    lines.append("  " + ", ".join(_compare_lineup.schedule_names()))
    return "\n".join(lines)


def _race(problem: _problems.Problem, entries, args) -> list[_compare_run.Result]:
    """Run every entry on ``problem`` behind one progress bar."""
    steps = args.steps or problem.steps
    bar = _compare_report.ProgressBar(len(entries) * steps, sys.stderr)
    results = []
    try:
        for number, entry in enumerate(entries):
            label = f"{problem.name}: {entry.name} ({number + 1}/{len(entries)})"
            bar.update(number * steps, label)

            def progress(done, before=number * steps, label=label):
                bar.update(before + done, label)

            try:
                results.append(_compare_run.run(
                    problem, entry, steps, args.seed, args.learning_rate, progress
                ))
            except Exception as error:
                if not problem.spec:  # a built-in problem failing is a bug: show the traceback
                    raise
                raise _options.user_problem_failed(problem, entry.name, error) from None
    finally:
        bar.close()
    return results


def _file_name(problem_name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in problem_name)


def compare(args) -> int:
    """Run the race that ``args`` (parsed options) describe; return the exit status.

    Raises:
        UsageError: a bad option, found before anything runs (or a user's problem that fails).
        MissingPackage: matplotlib or scikit-learn is needed but not installed.
    """
    if args.list:
        print(_listing())
        return 0
    try:
        entries = _compare_lineup.choose(args.optimizers)
    except ValueError as error:
        raise _options.UsageError(f"argument --optimizers/-o: {error}") from None
    problems = _options.problems_named(args.problem, args.seed)
    if not args.no_plots:
        try:
            _compare_plots.figure_class()
        except ImportError as error:
            raise _options.MissingPackage(f"{error} (or pass --no-plots)") from None
        _options.writable_folder(args.output_dir)

    began = time.perf_counter()
    for index, problem in enumerate(problems):
        steps = args.steps or problem.steps
        version, backend = gradxform.__version__, jax.default_backend()
        print("\n" if index else "", end="")
        print(f"gradxform {version} compare: {problem.name}, {problem.description}")
        print(f"{len(entries)} optimizer{'s' if len(entries) > 1 else ''} x {steps} jit-compiled "
              f"full-batch steps, seed {args.seed}, JAX {jax.__version__} on {backend}")
        if isinstance(args.learning_rate, _compare_lineup.ScheduleSpec):
            print(f"learning rate: {args.learning_rate}, shown as {args.learning_rate.short()}")
        print()
        sys.stdout.flush()
        results = _race(problem, entries, args)
        tolerance = problem.tolerance if args.tolerance is None else args.tolerance
        print(_compare_report.table(results, tolerance))
        if not args.no_plots:
            stem = os.path.join(args.output_dir, _file_name(problem.name))
            print()
            written = _compare_plots.loss_curves(results, problem, stem + "-loss.png")
            print(f"Loss curves:  {written}")
            if _problems.is_planar(problem):
                written = _compare_plots.paths(results, problem, stem + "-paths.png")
                print(f"Paths:        {written}")
    seconds = time.perf_counter() - began
    print(f"\nDone in {seconds:.1f} s (compilation included; us/step excludes it).")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``gradxform`` with the command-line arguments ``argv``; return the exit status.

    With no command (no arguments, or options only), runs ``compare``.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = ["compare", *argv]
    try:
        args = parser().parse_args(argv)
    except _options.UsageError as error:
        return _options.fail(str(error), 2)
    except SystemExit as exit:  # --help and --version print and exit 0
        return int(exit.code or 0)
    try:
        return _sweep_cli.sweep(args) if args.command == "sweep" else compare(args)
    except _options.UsageError as error:
        return _options.fail(str(error), 2)
    except _options.MissingPackage as error:
        return _options.fail(str(error), 1)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return _options.fail("interrupted", 130)
