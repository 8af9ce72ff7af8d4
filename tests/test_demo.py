"""The demo (``python -m gradxform``): trains, prints a row per optimizer, rejects bad input."""
import subprocess
import sys

import numpy as np
import pytest

import gradxform
from gradxform import _demo
from gradxform.__main__ import main

COLUMNS = ("optimizer", "settings", "final", "best", "acc", "reached", "ms")


def table_rows(stdout):
    """The table's data rows as dicts: the lines between the dashed rule and a blank line."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("---------")) + 1
    end = lines.index("", start)
    rows = []
    for line in lines[start:end]:
        name, rest = line.split(maxsplit=1)
        settings, numbers = rest.split("  ", 1)  # settings may contain single spaces
        rows.append(dict(zip(COLUMNS, [name, settings.strip(), *numbers.split()])))
    return rows


def run(capsys, *argv):
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_prints_one_row_per_optimizer_in_the_order_asked(capsys):
    names = list(reversed(_demo.available()[:3]))
    status, out, err = run(capsys, "--steps", "10", "--optimizers", ",".join(names))
    assert status == 0, err
    assert [r["optimizer"] for r in table_rows(out)] == names


def test_table_cells_are_consistent(capsys):
    status, out, _ = run(capsys, "--steps", "40", "--optimizers", "adam")
    [row] = table_rows(out)
    assert row["settings"] == "lr=0.03"
    final, best = float(row["final"]), float(row["best"])
    assert 0 < best <= final
    assert 0 <= float(row["acc"].rstrip("%")) <= 100
    assert float(row["ms"]) > 0
    assert row["reached"] == "never" or 0 <= int(row["reached"]) <= 40


def test_adam_learns_the_spirals_in_300_steps():
    losses, accuracy, _ = _demo.train(gradxform.adam, 0.03, {}, steps=300, seed=0)
    assert losses.shape == (301,)
    assert losses[-1] < 0.1 < losses[0]
    assert accuracy > 0.9


@pytest.mark.parametrize("name", _demo.available())
def test_every_optimizer_in_the_lineup_lowers_the_loss_from_its_default_settings(name):
    candidate = next(c for c in _demo.CANDIDATES if c.name == name)
    losses, _, _ = _demo.train(
        getattr(gradxform, name), candidate.learning_rate, candidate.options, steps=60, seed=0
    )
    assert np.all(np.isfinite(losses))
    assert losses.min() < 0.9 * losses[0]


def test_same_seed_gives_the_same_numbers_and_another_seed_different_ones(capsys):
    def numbers(seed):
        _, out, _ = run(capsys, "--steps", "30", "--optimizers", "adam", "--seed", seed)
        return [{k: v for k, v in row.items() if k != "ms"} for row in table_rows(out)]

    assert numbers("3") == numbers("3")
    assert numbers("3") != numbers("4")


def test_learning_rate_flag_sets_every_optimizers_rate(capsys):
    names = _demo.available()[:3]
    status, out, _ = run(
        capsys, "--steps", "5", "--learning-rate", "0.005", "--optimizers", ",".join(names)
    )
    assert status == 0
    assert all(r["settings"].split(",")[0] == "lr=0.005" for r in table_rows(out))


def test_tolerance_never_reached_is_shown_as_never(capsys):
    _, out, _ = run(capsys, "--steps", "5", "--optimizers", "adam", "--tolerance", "1e-9")
    assert "steps to loss<=1e-09" in out
    assert table_rows(out)[0]["reached"] == "never"


def test_steps_to_reach_counts_updates_until_the_loss_is_within_tolerance():
    losses = np.array([1.0, 0.5, 0.05, 0.2, 0.01])
    assert _demo.steps_to_reach(losses, 0.1) == 2
    assert _demo.steps_to_reach(losses, 1.0) == 0
    assert _demo.steps_to_reach(losses, 0.001) is None


def test_unknown_optimizer_is_a_one_line_error_with_exit_status_2(capsys):
    status, out, err = run(capsys, "--optimizers", "adam,adamm")
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "unknown optimizer 'adamm'; choose from sgd," in err


def test_optimizer_gradxform_does_not_define_is_rejected_by_name(capsys, monkeypatch):
    monkeypatch.delattr(gradxform, "adam")
    status, _, err = run(capsys, "--optimizers", "adam")
    assert status == 2
    assert "optimizer 'adam' is not defined in this version of gradxform" in err


def test_default_run_takes_only_the_optimizers_gradxform_defines(capsys, monkeypatch):
    for candidate in _demo.CANDIDATES:
        if candidate.name != "adam":
            monkeypatch.delattr(gradxform, candidate.name, raising=False)
    status, out, _ = run(capsys, "--steps", "5")
    assert status == 0
    assert [r["optimizer"] for r in table_rows(out)] == ["adam"]
    assert "so not run: sgd, noisy_sgd," in out


@pytest.mark.parametrize(
    "argv",
    [["--steps", "0"], ["--steps", "ten"], ["--learning-rate", "-1"], ["--optimizers", " , "]],
    ids=["zero-steps", "non-integer-steps", "negative-learning-rate", "no-names"],
)
def test_bad_arguments_exit_with_status_2(capsys, argv):
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert out == ""
    assert "error:" in err


def test_module_entry_point_reports_bad_names_without_a_traceback():
    done = subprocess.run(
        [sys.executable, "-m", "gradxform", "--optimizers", "nope"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "gradxform: error: unknown optimizer 'nope'; choose from "
        + ", ".join(c.name for c in _demo.CANDIDATES)
    ]
