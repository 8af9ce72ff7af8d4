"""``gradxform compare``: races optimizers, prints a table, writes PNGs, rejects bad input."""
import io
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from gradxform.compare import cli as _compare
from gradxform.compare import lineup as _compare_lineup
from gradxform.compare import problems as _problems
from gradxform.compare import report as _compare_report
from gradxform.compare import run as _compare_run
from gradxform.compare.cli import main

pytestmark = pytest.mark.slow  # make test-fast leaves this module out

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(capsys, *argv):
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def table_rows(stdout):
    """Each table's data rows as dicts keyed by the header: the lines after a dashed rule, up to
    a blank line or the note on diverged runs. Columns are separated by two spaces or more
    (settings hold single spaces); an indented line continues the settings above it."""
    lines = stdout.splitlines()
    rows = []
    for i, line in enumerate(lines):
        if line.startswith("---------"):
            header = re.split(r"\s{2,}", lines[i - 1].strip())
            for data in lines[i + 1:lines.index("", i)]:
                if data.startswith("X diverged"):
                    break
                if data.startswith(" "):
                    rows[-1]["settings"] += " " + data.strip()
                    continue
                rows.append(dict(zip(header, re.split(r"\s{2,}", data.strip()))))
    return rows


def race(capsys, tmp_path, *argv):
    status, out, err = run(capsys, "compare", "--output-dir", str(tmp_path), *argv)
    assert status == 0, err
    return out


def without_timings(rows):
    return [{k: v for k, v in row.items() if k not in ("us/step", "compile s")} for row in rows]


# ------------------------------------------------------------------------------------------
# The race and its table
# ------------------------------------------------------------------------------------------


def test_prints_one_row_per_optimizer_in_the_order_asked_with_its_settings(capsys):
    status, out, err = run(
        capsys, "compare", "-p", "quadratic", "-o", "momentum,adam,sgd", "-n", "20", "--no-plots"
    )
    assert (status, err) == (0, "")  # no progress bar: stderr is not a terminal here
    rows = table_rows(out)
    assert [r["optimizer"] for r in rows] == ["momentum", "adam", "sgd"]
    assert [r["settings"] for r in rows] == ["lr=0.01, momentum=0.9", "lr=0.05", "lr=0.01"]
    assert "quadratic" in out.splitlines()[0]
    assert "3 optimizers x 20 jit-compiled full-batch steps, seed 0" in out


def test_every_optimizer_lowers_the_quadratic_from_its_start(capsys):
    problem = _problems.build("quadratic", 0)
    start = float(problem.loss(problem.init_params))
    status, out, _ = run(capsys, "compare", "-p", "quadratic", "-n", "20", "--no-plots")
    assert status == 0
    rows = table_rows(out)
    assert [r["optimizer"] for r in rows] == list(_compare_lineup.NAMES)
    for row in rows:
        assert float(row["best loss"]) <= float(row["final loss"]) < start, row
        assert float(row["us/step"]) > 0 and float(row["compile s"]) > 0
    assert "test acc" not in out  # no accuracy column for a 2-D function


def test_a_run_records_losses_path_and_timing():
    problem = _problems.build("rosenbrock", 0)
    entry = dict(zip(_compare_lineup.NAMES, _compare_lineup.LINEUP))["adam"]
    result = _compare_run.run(problem, entry, 13, seed=0)
    assert result.losses.shape == (14,) and result.path.shape == (14, 2)
    assert result.losses[0] == pytest.approx(12.5)  # f(-1.5, 2)
    np.testing.assert_array_equal(result.path[0], [-1.5, 2.0])
    assert result.losses[-1] < result.losses[0]
    assert result.accuracy is None and result.seconds_per_step > 0


@pytest.mark.parametrize("name", ["adam", "noisy_sgd"])
def test_steps_past_the_last_chunk_change_nothing(name):
    problem = _problems.build("himmelblau", 0)
    entry = dict(zip(_compare_lineup.NAMES, _compare_lineup.LINEUP))[name]
    short = _compare_run.run(problem, entry, 7, seed=0)  # chunks of 1 step
    long = _compare_run.run(problem, entry, 23, seed=0)  # chunks of 3; the last runs 1 extra
    np.testing.assert_allclose(short.losses, long.losses[:8], rtol=1e-6)
    assert long.losses.shape == (24,)


def test_same_seed_gives_identical_numbers_and_another_seed_different_ones(capsys):
    def numbers(seed):
        status, out, _ = run(capsys, "compare", "-p", "digits-logistic", "-o", "adam",
                             "-n", "5", "--no-plots", "--seed", seed)
        assert status == 0
        return without_timings(table_rows(out))

    first = numbers("3")
    assert first == numbers("3")
    assert first != numbers("4")  # another split and other initial weights


def test_digits_logistic_regression_reaches_90_percent_held_out_accuracy_in_30_adam_steps(capsys):
    status, out, _ = run(capsys, "compare", "-p", "digits-logistic", "-o", "adam", "-n", "30",
                         "--no-plots")
    assert status == 0
    [row] = table_rows(out)
    assert float(row["test acc"].rstrip("%")) >= 90.0
    assert "1348 training and 449 held-out images" in out


def test_learning_rate_number_replaces_every_default(capsys):
    status, out, _ = run(capsys, "compare", "-p", "saddle", "-o", "sgd,lion", "-n", "5",
                         "--no-plots", "--learning-rate", "0.005")
    assert status == 0
    assert [r["settings"] for r in table_rows(out)] == ["lr=0.005", "lr=0.005"]


def test_learning_rate_schedule_is_built_from_gradxform_schedules(capsys):
    spec = "cosine_decay_schedule:init_value=0.1,decay_steps=10"
    status, out, _ = run(capsys, "compare", "-p", "quadratic", "-o", "adam", "-n", "10",
                         "--no-plots", "--lr", spec)
    assert status == 0
    [row] = table_rows(out)
    assert row["settings"] == "lr=cosine(0.1, 10)"
    assert "learning rate: cosine_decay_schedule(init_value=0.1, decay_steps=10)" in out
    assert _compare_lineup.parse_learning_rate(spec) == _compare_lineup.ScheduleSpec(
        "cosine_decay_schedule", {"init_value": 0.1, "decay_steps": 10}
    )


def test_tolerance_sets_the_target_and_never_reached_reads_never(capsys):
    status, out, _ = run(capsys, "compare", "-p", "beale", "-o", "adam", "-n", "5", "--no-plots",
                         "--tolerance", "1e-9")
    assert status == 0
    assert "steps to 1e-09" in out
    assert table_rows(out)[0]["steps to 1e-09"] == "never"


def test_steps_to_reach_counts_updates_until_the_loss_is_within_tolerance():
    losses = np.array([1.0, 0.5, 0.05, 0.2, 0.01])
    assert _compare_run.steps_to_reach(losses, 0.1) == 2
    assert _compare_run.steps_to_reach(losses, 1.0) == 0
    assert _compare_run.steps_to_reach(losses, 0.001) is None


def test_no_command_runs_compare(capsys):
    status, out, _ = run(capsys, "-p", "saddle", "-o", "adam", "-n", "3", "--no-plots")
    assert status == 0
    assert [r["optimizer"] for r in table_rows(out)] == ["adam"]


def test_several_problems_give_one_table_each(capsys):
    status, out, _ = run(capsys, "compare", "-p", "saddle,quadratic", "-o", "adam", "-n", "3",
                         "--no-plots")
    assert status == 0
    assert len(table_rows(out)) == 2
    assert out.count("gradxform 0.1.0 compare: ") == 2


def test_list_names_every_problem_optimizer_and_schedule(capsys):
    status, out, _ = run(capsys, "compare", "--list")
    assert status == 0
    for name in [*_problems.BUILT_IN, *_compare_lineup.NAMES, "cosine_decay_schedule"]:
        assert re.search(rf"\b{name}\b", out), name


# ------------------------------------------------------------------------------------------
# The pictures
# ------------------------------------------------------------------------------------------


def assert_valid_png(path):
    from matplotlib import image

    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 10_000
    pixels = image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 300 and pixels.shape[1] > 600
    assert pixels.std() > 0.05  # not a blank canvas


def test_planar_problem_writes_loss_curves_and_paths_and_says_where(capsys, tmp_path):
    folder = tmp_path / "new" / "folder"  # created if missing
    out = race(capsys, folder, "-p", "rosenbrock", "-o", "adam,sgd", "-n", "10")
    for name in ("rosenbrock-loss.png", "rosenbrock-paths.png"):
        assert_valid_png(folder / name)
        assert str(folder / name) in out
    assert sorted(p.name for p in folder.iterdir()) == [
        "rosenbrock-loss.png", "rosenbrock-paths.png"
    ]


def test_data_problem_writes_loss_curves_only(capsys, tmp_path):
    out = race(capsys, tmp_path, "-p", "digits-logistic", "-o", "adam", "-n", "3")
    assert [p.name for p in tmp_path.iterdir()] == ["digits-logistic-loss.png"]
    assert_valid_png(tmp_path / "digits-logistic-loss.png")
    assert "Paths:" not in out


def test_no_plots_writes_nothing(capsys, tmp_path):
    out = race(capsys, tmp_path / "unused", "-p", "saddle", "-o", "adam", "-n", "3", "--no-plots")
    assert not (tmp_path / "unused").exists()
    assert ".png" not in out


# ------------------------------------------------------------------------------------------
# A user's own problem
# ------------------------------------------------------------------------------------------

USER_MODULE = """
import jax.numpy as jnp

def bowl():
    return (lambda p: jnp.sum((p["w"] - 3.0) ** 2)), {"w": jnp.zeros(2, jnp.float32)}

def wide():
    return (lambda p: jnp.sum(p ** 2)), jnp.ones(5, jnp.float32)

def not_a_pair():
    return 42

def int_params():
    return (lambda p: p.sum()), jnp.arange(3)

def vector_loss():
    return (lambda p: p * 2.0), jnp.ones(3, jnp.float32)

def breaks_under_jit():
    return (lambda p: jnp.asarray(float(p.sum()) ** 2)), jnp.ones(3, jnp.float32)
"""


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "my_problems.py").write_text(textwrap.dedent(USER_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path / "my_problems.py"


def test_user_problem_races_and_two_parameters_get_a_paths_plot(capsys, tmp_path, user_module):
    out = race(capsys, tmp_path / "out", "-p", "my_problems:bowl", "-o", "adam,momentum",
               "-n", "200", "--tolerance", "1e-2")
    rows = table_rows(out)
    assert [r["optimizer"] for r in rows] == ["adam", "momentum"]
    assert all(float(r["final loss"]) < 1e-2 < 18.0 for r in rows)  # it starts at 2 * 3^2
    assert "your problem my_problems:bowl" in out
    assert_valid_png(tmp_path / "out" / "my_problems-bowl-paths.png")


def test_user_problem_given_as_a_file_path(capsys, tmp_path, user_module):
    out = race(capsys, tmp_path / "out", "-p", f"{user_module}:wide", "-o", "sgd", "-n", "5")
    assert table_rows(out)[0]["optimizer"] == "sgd"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["my_problems-wide-loss.png"]


# ------------------------------------------------------------------------------------------
# Errors: one line on stderr, nothing on stdout, exit status 2
# ------------------------------------------------------------------------------------------

LR = "argument --learning-rate/--lr: "
STEPS = "argument --steps/-n: expected a whole number of steps from 1 to 1000000 (each step's " \
        "loss is kept in memory), "
TOLERANCE = "argument --tolerance: expected a finite number > 0 (at most float32's 3.403e+38), "
BAD_ARGUMENTS = {
    "unknown-optimizer": (
        ["-o", "adam,adamm"],
        "argument --optimizers/-o: unknown optimizer 'adamm'; expected names from sgd, momentum,",
    ),
    "no-optimizers": (["-o", " , "], "argument --optimizers/-o: expected comma-separated names"),
    "unknown-problem": (
        ["-p", "rosenbrok"],
        "argument --problem/-p: unknown problem 'rosenbrok'; expected one of rosenbrock, beale,",
    ),
    "zero-steps": (["--steps", "0"], STEPS + "got '0'"),
    "negative-steps": (["--steps", "-3"], STEPS + "got '-3'"),
    "fractional-steps": (["-n", "2.5"], STEPS + "got '2.5'"),
    "steps-beyond-int32": (["--steps", "100000000000"], STEPS + "got '100000000000'"),
    "steps-past-int32": (["--steps", "2147483648"], STEPS + "got '2147483648'"),
    "steps-one-past-the-most": (["--steps", "1000001"], STEPS + "got '1000001'"),
    "nan-learning-rate": (
        ["--learning-rate", "nan"], LR + "expected a finite number > 0, got 'nan'"
    ),
    "negative-learning-rate": (["--lr", "-1"], LR + "expected a finite number > 0, got '-1'"),
    "learning-rate-beyond-float32": (
        ["--lr", "1e39"], LR + "expected a number float32 can hold (at most 3.403e+38), got '1e39'"
    ),
    "schedule-int-beyond-int32": (
        ["--lr", "cosine_decay_schedule:init_value=0.1,decay_steps=100000000000"],
        LR + "decay_steps=100000000000 is outside int32 (-2147483648 to 2147483647)",
    ),
    "schedule-float-beyond-float32": (
        ["--lr", "cosine_decay_schedule:init_value=1e39,decay_steps=10"],
        LR + "init_value=1e39 is beyond float32's largest number 3.403e+38",
    ),
    "word-learning-rate": (
        ["--lr", "fast"], LR + "expected a number > 0 or a schedule such as"
    ),
    "unknown-schedule": (
        ["--lr", "cosine:init_value=0.1"], LR + "unknown schedule 'cosine'; expected one of "
    ),
    "schedule-bad-key": (
        ["--lr", "cosine_decay_schedule:init_value=0.1,decay_steps=5,speed=2"],
        LR + "unknown argument speed; cosine_decay_schedule takes init_value, decay_steps,",
    ),
    "schedule-missing-key": (
        ["--lr", "cosine_decay_schedule:init_value=0.1"],
        LR + "missing decay_steps; cosine_decay_schedule takes",
    ),
    "schedule-not-a-number": (
        ["--lr", "cosine_decay_schedule:init_value=0.1,decay_steps=many"],
        LR + "decay_steps='many' is not a number",
    ),
    "schedule-no-equals": (
        ["--lr", "cosine_decay_schedule:0.1"],
        LR + "expected KEY=VALUE after cosine_decay_schedule:, got '0.1'",
    ),
    "schedule-rejects-value": (
        ["--lr", "exponential_decay:init_value=0.1,transition_steps=-5,decay_rate=0.5"],
        LR + "exponential_decay: transition_steps",
    ),
    "negative-seed": (
        ["--seed", "-1"], "argument --seed: expected an integer in [0, 2**32), got '-1'"
    ),
    "nan-tolerance": (["--tolerance", "nan"], TOLERANCE + "got 'nan'"),
    "negative-tolerance": (["--tolerance", "-1"], TOLERANCE + "got '-1'"),
    "zero-tolerance": (["--tolerance", "0"], TOLERANCE + "got '0'"),
    "tolerance-beyond-float32": (["--tolerance", "1e39"], TOLERANCE + "got '1e39'"),
    "unknown-option": (["--stpes", "5"], "unrecognized arguments: --stpes 5"),
    "unknown-command": (["race"], "argument COMMAND: invalid choice: 'race'"),
}


@pytest.mark.parametrize("argv, message", BAD_ARGUMENTS.values(), ids=BAD_ARGUMENTS.keys())
def test_bad_arguments_are_one_line_errors_with_status_2(capsys, argv, message):
    status, out, err = run(capsys, *(argv if argv == ["race"] else ["compare", *argv]))
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("gradxform: error: ")
    assert message in err


def test_the_largest_values_each_numeric_option_takes_are_accepted():
    args = _compare.parser().parse_args(
        ["compare", "--steps", "1000000", "--seed", str(2**32 - 1), "--tolerance", "3e38",
         "--lr", "cosine_decay_schedule:init_value=3e38,decay_steps=2147483647"]
    )
    assert (args.steps, args.seed, args.tolerance) == (10**6, 2**32 - 1, 3e38)
    assert args.learning_rate.kwargs == {"init_value": 3e38, "decay_steps": 2**31 - 1}


USER_ERRORS = {
    "not-module-function": ("my_problems", "unknown problem 'my_problems'"),
    "no-module": ("no_such_module:make", "cannot import 'no_such_module': ModuleNotFoundError"),
    "no-file": ("missing.py:make", "no file 'missing.py'"),
    "no-function": ("my_problems:nope", "module 'my_problems' has no function 'nope'"),
    "wrong-return": (
        "my_problems:not_a_pair",
        "my_problems:not_a_pair() must return (loss_fn, init_params) with loss_fn callable, "
        "got int 42",
    ),
    "int-params": ("my_problems:int_params", "init_params must be a pytree of float arrays"),
    "vector-loss": (
        "my_problems:vector_loss",
        "loss_fn(init_params) must return a float scalar, got float32[3]",
    ),
    "breaks-under-jit": (
        "my_problems:breaks_under_jit",
        "training my_problems:breaks_under_jit with adam failed: ConcretizationTypeError",
    ),
}


@pytest.mark.parametrize("spec, message", USER_ERRORS.values(), ids=USER_ERRORS.keys())
def test_bad_user_problems_are_one_line_errors_with_status_2(capsys, tmp_path, user_module,
                                                            spec, message):
    status, _, err = run(capsys, "compare", "-p", spec, "-o", "adam", "-n", "2", "--no-plots")
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("gradxform: error: argument --problem/-p: ")
    assert message in err


def test_unwritable_output_folder_is_an_error_before_anything_runs(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    status, out, err = run(capsys, "compare", "-o", "adam", "--output-dir", str(blocker / "sub"))
    assert (status, out) == (2, "")
    assert err == (f"gradxform: error: argument --output-dir: cannot write to "
                   f"'{blocker / 'sub'}': Not a directory\n")


@pytest.mark.parametrize(
    "blocked, argv, package, advice",
    [("matplotlib.figure", ["-p", "saddle"], "matplotlib", " (or pass --no-plots)"),
     ("sklearn.datasets", ["-p", "digits-mlp", "--no-plots"], "scikit-learn", "")],
)
def test_a_missing_optional_package_is_a_one_line_error_naming_the_extra(
    capsys, monkeypatch, tmp_path, blocked, argv, package, advice
):
    monkeypatch.setitem(sys.modules, blocked, None)  # makes `import` fail
    status, out, err = run(capsys, "compare", "--output-dir", str(tmp_path), *argv)
    assert (status, out) == (1, "")
    assert err.count("\n") == 1
    assert err.endswith(
        f"needs {package}, which is not installed; install it with: "
        f"pip install 'gradxform[demo]'{advice}\n"
    )


# ------------------------------------------------------------------------------------------
# Help, progress bar, entry points
# ------------------------------------------------------------------------------------------


def test_help_explains_every_option_with_an_example(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    status, out, _ = run(capsys, "compare", "--help")
    assert status == 0
    text = " ".join(out.split())  # undo argparse's line wrapping
    compare = next(a for a in _compare.parser()._actions if a.dest == "command").choices["compare"]
    options = [a for a in compare._actions if a.option_strings and a.dest != "help"]
    assert len(options) == 9
    for action in options:
        for option in action.option_strings:
            assert option in out
        if action.nargs != 0:  # an option taking a value shows one
            assert f"e.g. {action.option_strings[0]} " in text, action.option_strings
    assert "examples:" in out and "gradxform compare --list" in out


def test_top_level_help_names_the_compare_command(capsys):
    status, out, _ = run(capsys, "--help")
    assert status == 0
    assert "compare" in out and "race optimizers on a problem" in out


def test_progress_bar_draws_in_place_on_a_terminal_and_erases_itself():
    stream = io.StringIO()
    bar = _compare_report.ProgressBar(10, stream, enabled=True)
    bar.update(5, "adam (1/2)")
    bar.update(10, "sgd (2/2)")
    bar.close()
    text = stream.getvalue()
    assert text.startswith("\r[" + "#" * 15 + "." * 15 + "]  50% adam (1/2) ")
    assert "\r[" + "#" * 30 + "] 100% sgd (2/2) " in text
    assert text.endswith("\r")


def test_progress_bar_is_silent_on_a_stream_that_is_not_a_terminal():
    stream = io.StringIO()
    bar = _compare_report.ProgressBar(10, stream)
    bar.update(10, "done")
    bar.close()
    assert stream.getvalue() == ""


def test_module_entry_point_runs_and_imports_no_optional_package_for_help():
    code = (
        "import sys, runpy; sys.argv = ['gradxform', 'compare', '--help']\n"
        "try: runpy.run_module('gradxform', run_name='__main__')\n"
        "except SystemExit as exit: assert exit.code == 0, exit.code\n"
        "assert 'matplotlib' not in sys.modules and 'sklearn' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: gradxform compare")
    done = subprocess.run([sys.executable, "-m", "gradxform", "compare", "-o", "nope"],
                          capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith(
        "gradxform: error: argument --optimizers/-o: unknown optimizer 'nope'"
    )
    assert done.stderr.count("\n") == 1


# ------------------------------------------------------------------------------------------
# Pictures that stay readable: a diverging run, many optimizers (figures checked, not images)
# ------------------------------------------------------------------------------------------


def fake_result(name, losses, path=None, family="SGD-like"):
    """A Result as _compare_run.run returns it, from given numbers (nothing is trained)."""
    losses = np.asarray(losses, np.float64)
    return _compare_run.Result(
        name=name, settings="lr=0.1", losses=losses,
        path=None if path is None else np.asarray(path, np.float64), accuracy=None,
        seconds_per_step=1e-6, compile_seconds=0.1, family=family,
    )


def user_plane_problem():
    """A planar problem of the user's (no box of its own): the box comes from the paths."""
    import jax.numpy as jnp

    return _problems.Problem(
        name="bowl", description="your problem bowl", family="data",
        loss=lambda p: jnp.sum(p**2), init_params=jnp.asarray([1.0, 1.0], jnp.float32),
        steps=6, tolerance=1e-3, spec="my:bowl",
    )


STEPS6 = np.arange(7)
CONVERGING_LOSSES = 12.5 * 0.3**STEPS6  # 12.5 -> 0.009
DIVERGING_LOSSES = [12.5, 40.0, 3e3, 1e9, 1e18, 1e27, np.inf]  # what SGD did on Rosenbrock
CONVERGING_PATH = np.stack([0.5**STEPS6, 0.5**STEPS6], axis=1)  # (1, 1) -> (0.016, 0.016)
DIVERGING_PATH = [[1.0, 1.0], [0.5, -2.0], [-3.0, 9.0], [1e10, -1e10], [1e20, 1e30],
                  [1e30, -1e37], [np.inf, np.inf]]


def diverging_race():
    return [
        fake_result("adam", CONVERGING_LOSSES, CONVERGING_PATH, "Adam-like"),
        fake_result("sgd", DIVERGING_LOSSES, DIVERGING_PATH),
    ]


def legend_labels(axes):
    legend = axes.get_legend()
    return [] if legend is None else [t.get_text() for t in legend.get_texts()]


def marks(axes):
    """The 'left the plot here' marks: X markers, as (x, y) points."""
    return [(float(line.get_xdata()[0]), float(line.get_ydata()[0]))
            for line in axes.get_lines() if line.get_marker() == "X"]


def test_run_flags_a_loss_that_blows_up_or_turns_non_finite():
    assert _compare_run.diverged_at(np.asarray(CONVERGING_LOSSES)) is None
    assert _compare_run.diverged_at(np.asarray(DIVERGING_LOSSES)) == 2  # 3e3 > 100 x 12.5
    assert _compare_run.diverged_at(np.array([1.0, 0.5, np.nan, 0.1])) == 2
    assert _compare_run.diverged_at(np.array([1.0, 50.0, 0.1])) is None  # a bump, not a blow-up


def test_a_diverging_run_does_not_stretch_the_loss_axis_and_is_marked():
    from gradxform.compare import plots as _compare_plots

    figure = _compare_plots.loss_figure(diverging_race(), _problems.build("rosenbrock", 0))
    [axes] = figure.axes
    low, high = axes.get_ylim()
    assert CONVERGING_LOSSES.min() > low > 1e-4 and 12.5 < high < 100  # was 1e27 and more
    assert legend_labels(axes) == ["adam", "sgd (diverged at step 2)"]
    [(step, height)] = marks(axes)  # where sgd's curve leaves through the top: 40 > high
    assert step == 1 and height == pytest.approx(high)


def test_a_diverging_run_does_not_stretch_the_box_of_a_users_paths_plot():
    from gradxform.compare import plots as _compare_plots

    figure = _compare_plots.paths_figure(diverging_race(), user_plane_problem())
    [axes] = figure.axes
    (x_low, x_high), (y_low, y_high) = axes.get_xlim(), axes.get_ylim()
    assert -0.5 < x_low < 0 and 1 < x_high < 1.5  # the converging path's box, with a margin
    assert -0.5 < y_low < 0 and 1 < y_high < 1.5  # was +-1e30 and more
    assert "sgd (diverged at step 2)" in legend_labels(axes)
    [(x, y)] = marks(axes)  # where sgd's path leaves the box: its bottom edge, on the way to
    assert y == pytest.approx(y_low) and 0.5 < x < 1.0  # (0.5, -2)


def test_a_diverging_run_is_marked_where_it_leaves_a_built_in_box():
    from gradxform.compare import plots as _compare_plots

    problem = _problems.build("rosenbrock", 0)
    far = [[-1.5, 2.0], [-1.6, 2.5], [-1.8, 2.9], [-5.0, 7.0], [1e20, 1e20], [np.inf, np.inf],
           [np.nan, np.nan]]
    race = [fake_result("sgd", DIVERGING_LOSSES, far)]
    [axes] = _compare_plots.paths_figure(race, problem).axes
    assert (axes.get_xlim(), axes.get_ylim()) == ((-2.0, 2.0), (-1.0, 3.0))
    [(x, y)] = marks(axes)
    assert y == pytest.approx(3.0) and -2.0 < x < -1.8  # on the top edge, between the points


def all_lines(figure):
    return [line for axes in figure.axes for line in axes.get_lines()
            if not line.get_label().startswith("_") and line.get_label() not in ("start",
                                                                                 "minimum")]


def full_lineup_race():
    return [fake_result(e.name, CONVERGING_LOSSES * (1 + i / 100), CONVERGING_PATH * (1 + i / 100),
                        e.family)
            for i, e in enumerate(_compare_lineup.LINEUP)]


def test_every_optimizer_gets_its_own_colour_and_line_style_combination():
    from matplotlib.colors import to_hex

    from gradxform.compare import plots as _compare_plots

    race = full_lineup_race()
    for figure in (_compare_plots.loss_figure(race, _problems.build("rosenbrock", 0)),
                   _compare_plots.paths_figure(race, _problems.build("rosenbrock", 0))):
        looks = [(to_hex(line.get_color()), line.get_linestyle()) for line in all_lines(figure)]
        assert len(looks) == 20 and len(set(looks)) == 20


def test_a_few_optimizers_share_one_panel_with_distinct_colours():
    from gradxform.compare import plots as _compare_plots

    race = full_lineup_race()[:8]
    figure = _compare_plots.loss_figure(race, _problems.build("rosenbrock", 0))
    assert len(figure.axes) == 1
    assert len({line.get_color() for line in all_lines(figure)}) == 8


def test_many_optimizers_get_one_panel_per_family_each_optimizer_once():
    from gradxform.compare import plots as _compare_plots

    race = full_lineup_race()
    families = list(dict.fromkeys(e.family for e in _compare_lineup.LINEUP))
    assert len(families) >= 3
    for figure in (_compare_plots.loss_figure(race, _problems.build("rosenbrock", 0)),
                   _compare_plots.paths_figure(race, _problems.build("rosenbrock", 0))):
        panels = [axes for axes in figure.axes if axes.get_lines()]
        assert [axes.get_title() for axes in panels] == families
        names = [label.split(" ")[0] for axes in panels for label in legend_labels(axes)
                 if label not in ("start", "minimum")]
        assert sorted(names) == sorted(_compare_lineup.NAMES)  # each exactly once
        for axes, family in zip(panels, families):
            expected = [e.name for e in _compare_lineup.LINEUP if e.family == family]
            assert [line.get_label() for line in axes.get_lines()
                    if line.get_label() in _compare_lineup.NAMES] == expected


def test_the_lineup_sorts_its_optimizers_into_four_families():
    families = {e.family for e in _compare_lineup.LINEUP}
    assert families == {"SGD-like", "adaptive", "Adam-like", "sign-based"}


# ------------------------------------------------------------------------------------------
# The settings column stays narrow
# ------------------------------------------------------------------------------------------

WARMUP_COSINE = ("warmup_cosine_decay_schedule:init_value=0.0,peak_value=0.1,warmup_steps=100,"
                 "decay_steps=1000,end_value=0.001,exponent=1.0")


def test_a_schedule_shows_in_the_settings_column_by_name_and_numbers_within_75_characters():
    spec = _compare_lineup.parse_learning_rate(WARMUP_COSINE)
    for entry in _compare_lineup.LINEUP:
        text = _compare_run.settings_text(spec, entry.options)
        assert len(text) <= 75, text  # 157 before, for nesterov
    adamw = dict(zip(_compare_lineup.NAMES, _compare_lineup.LINEUP))["adamw"]
    assert _compare_run.settings_text(spec, adamw.options) == (
        "lr=warmup_cosine(0, 0.1, 100, 1000, 0.001, 1), weight_decay=0.0001"
    )


def test_a_schedule_is_spelled_out_once_above_the_table(capsys):
    status, out, _ = run(capsys, "compare", "-p", "quadratic", "-o", "adam,adamw,momentum",
                         "-n", "4", "--no-plots", "--lr", WARMUP_COSINE)
    assert status == 0
    assert out.count("learning rate: warmup_cosine_decay_schedule(init_value=0.0, peak_value=0.1, "
                     "warmup_steps=100, decay_steps=1000, end_value=0.001, exponent=1.0)") == 1
    settings = [r["settings"] for r in table_rows(out)]
    assert settings[0] == "lr=warmup_cosine(0, 0.1, 100, 1000, 0.001, 1)"
    rule = next(line for line in out.splitlines() if line.startswith("-----"))
    assert len(rule) <= 100  # the table's width: 227, then 142, before


def test_the_table_fits_in_100_characters_with_accuracy_and_a_long_schedule():
    spec = _compare_lineup.parse_learning_rate(WARMUP_COSINE)
    race = [fake_result(e.name, CONVERGING_LOSSES)._replace(
        settings=_compare_run.settings_text(spec, e.options), accuracy=0.953,
        seconds_per_step=1.6e-3, compile_seconds=26.5) for e in _compare_lineup.LINEUP]
    text = _compare_report.table(race, 0.1)
    assert max(len(line) for line in text.splitlines()) <= 100  # 142 before
    rows = table_rows(text + "\n\n")
    assert [r["settings"] for r in rows] == [r.settings for r in race]  # wrapped, not cut
    assert [r["test acc"] for r in rows] == ["95.3%"] * 20


def test_the_table_marks_a_diverged_run_and_says_at_which_step():
    text = _compare_report.table(diverging_race(), 1e-3)
    rows = table_rows(text + "\n\n")
    assert [r["final loss"] for r in rows] == ["0.009112", "inf X"]
    assert text.splitlines()[-1] == (
        "X diverged (loss not finite or above 100x its start): sgd at step 2"
    )
    converging = _compare_report.table(diverging_race()[:1], 1e-3)
    assert "X" not in converging.replace("-", "")


def test_an_x_where_a_run_leaves_through_the_top_stays_clear_of_the_title():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from gradxform.compare import plots as _compare_plots

    for race in (diverging_race(), full_lineup_race()[:-1] + diverging_race()[1:]):
        figure = _compare_plots.loss_figure(race, _problems.build("rosenbrock", 0))
        renderer = FigureCanvasAgg(figure).get_renderer()
        figure.draw(renderer)
        marked = 0
        for axes in figure.axes:
            title = axes.title.get_window_extent(renderer)
            for line in axes.get_lines():
                if line.get_marker() == "X":
                    marked += 1
                    mark = line.get_window_extent(renderer)
                    assert mark.y1 < title.y0, (mark, title)  # was drawn under the title's text
        assert marked == 1
