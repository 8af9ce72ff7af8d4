"""``python -m gradxform`` (or ``gradxform``): train one small MLP with several optimizers.

    python -m gradxform                                  # every optimizer in the lineup, 300 steps
    python -m gradxform --optimizers sgd,adam,lion --steps 500 --seed 1
    python -m gradxform --learning-rate 0.01             # one learning rate for all of them
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

import jax

import gradxform
from gradxform import _demo


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gradxform",
        description="Train a 2-32-2 tanh MLP on two spirals with several gradxform optimizers "
        "and compare them in a table.",
    )
    parser.add_argument(
        "--steps", type=_positive_int, default=300,
        help="full-batch updates per optimizer (default 300)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the data and initial weights (default 0)"
    )
    parser.add_argument(
        "--optimizers",
        default=None,
        help="comma-separated names (default: every one of "
        + ", ".join(c.name for c in _demo.CANDIDATES)
        + " that this gradxform defines)",
    )
    parser.add_argument(
        "--learning-rate", type=_positive_float, default=None,
        help="use this learning rate for every optimizer "
        "(default: one per optimizer, shown in the table)",
    )
    parser.add_argument(
        "--tolerance", type=_positive_float, default=0.1,
        help="the table counts the updates needed to reach this training loss (default 0.1)",
    )
    return parser


def _chosen(text: str | None) -> list[str]:
    """The optimizers to run, in the order given; raises ValueError with a one-line message."""
    present = _demo.available()
    if text is None:
        return present
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise ValueError("--optimizers needs at least one name, e.g. --optimizers sgd,adam")
    known = [c.name for c in _demo.CANDIDATES]
    for name in names:
        if name not in known:
            raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(known)}")
        if name not in present:
            raise ValueError(
                f"optimizer {name!r} is not defined in this version of gradxform "
                f"({gradxform.__version__}); available: {', '.join(present)}"
            )
    return names


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo with the command-line arguments ``argv``; return the exit status.

    The status is 0 on success and 2 for bad arguments, which are reported on one line of stderr.
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:  # argparse has already printed the usage and the error (or --help)
        return int(exit.code or 0)
    try:
        names = _chosen(args.optimizers)
    except ValueError as error:
        print(f"gradxform: error: {error}", file=sys.stderr)
        return 2

    print(
        f"gradxform {gradxform.__version__} demo: two spirals, {_demo.POINTS} training and "
        f"{_demo.POINTS} held-out points (seed {args.seed})"
    )
    print(
        f"MLP 2-{_demo.HIDDEN}-2 (tanh), full batch, {args.steps} jit-compiled steps per "
        f"optimizer, JAX {jax.__version__} on {jax.default_backend()}"
    )
    print()
    start = time.perf_counter()
    results = _demo.run_all(names, args.steps, args.seed, args.learning_rate)
    print(_demo.table(results, args.tolerance))
    print()
    missing = [c.name for c in _demo.CANDIDATES if c.name not in _demo.available()]
    if missing and args.optimizers is None:
        print(f"Not in this version of gradxform, so not run: {', '.join(missing)}.")
    seconds = time.perf_counter() - start
    print(f"Done in {seconds:.1f} s (compilation included; ms/step excludes it).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
