"""What every ``gradxform`` command shares: its two kinds of one-line errors, and the option
values they all parse (steps, seeds, problems, the output folder)."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

from gradxform.compare import problems as _problems


class UsageError(Exception):
    """A bad option: printed as one line, exit status 2."""


class MissingPackage(Exception):
    """An optional package is not installed: printed as one line, exit status 1."""


class Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print the usage too; one line is enough
        raise UsageError(message)


MAX_STEPS = 1_000_000  # every step's loss (and point, on a plane) is kept for the report


def steps(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_STEPS or str(value) != text.strip().lstrip("+"):
        raise argparse.ArgumentTypeError(
            f"expected a whole number of steps from 1 to {MAX_STEPS} (each step's loss is kept in "
            f"memory), got {text!r}"
        )
    return value


def seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 2**32), got {text!r}")
    return value


def writable_folder(path: str) -> str:
    """Create ``path`` if needed and prove it takes a file; a UsageError says why not."""
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        reason = error.strerror or error
        raise UsageError(f"argument --output-dir: cannot write to {path!r}: {reason}") from None
    return path


def problems_named(text: str, seed: int) -> list[_problems.Problem]:
    """The problems in ``text`` (comma-separated; ``all``), built with ``seed``."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    names = [built for n in names for built in (_problems.BUILT_IN if n == "all" else [n])]
    if not names:
        raise UsageError(f"argument --problem/-p: expected a problem name, got {text!r}")
    problems = []
    for name in dict.fromkeys(names):
        try:
            problems.append(_problems.build(name, seed))
        except ValueError as error:
            raise UsageError(f"argument --problem/-p: {error}") from None
        except ImportError as error:
            raise MissingPackage(str(error)) from None
    return problems


def user_problem_failed(problem: _problems.Problem, what: str, error: Exception) -> UsageError:
    """The one-line error for a user's problem that fails while training (``what``)."""
    return UsageError(
        f"argument --problem/-p: training {problem.spec} with {what} failed: "
        f"{type(error).__name__}: {' '.join(str(error).split())}"
    )


def fail(message: str, status: int) -> int:
    print(f"gradxform: error: {message}", file=sys.stderr)
    return status
