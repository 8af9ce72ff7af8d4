"""``gradxform sweep``: many settings trained at once, the range test, their report and plots."""
import re
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from gradxform.compare import lineup as _compare_lineup
from gradxform.compare import problems as _problems
from gradxform.compare import run as _compare_run
from gradxform.compare import sweep as _sweep
from gradxform.compare import sweep_cli as _sweep_cli
from gradxform.compare.cli import main

pytestmark = pytest.mark.slow  # make test-fast leaves this module out, as test_compare.py

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(capsys, *argv):
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def entry(name):
    return dict(zip(_compare_lineup.NAMES, _compare_lineup.LINEUP))[name]


def separate_run(problem, name, steps, learning_rate, **options):
    """compare's own run of ``name`` with ``options`` in place of its lineup options."""
    chosen = entry(name)
    chosen = chosen._replace(options={**chosen.options, **options})
    return _compare_run.run(problem, chosen, steps, 0, learning_rate).losses


# ------------------------------------------------------------------------------------------
# The sweep: one program, each copy its own hyperparameters
# ------------------------------------------------------------------------------------------


def test_each_vmapped_copy_trains_as_its_own_run_would():
    problem = _problems.build("quadratic", 0)
    rates = [0.01, 0.05, 0.2]
    done = []
    result = _sweep.sweep(problem, "adam", {"learning_rate": rates}, steps=15, progress=done.append)
    assert done == [2, 4, 6, 8, 10, 12, 14, 15]  # one compiled program, called chunk by chunk
    assert result.losses.shape == (3, 1, 16)
    for i, rate in enumerate(rates):
        np.testing.assert_allclose(result.losses[i, 0], separate_run(problem, "adam", 15, rate),
                                   rtol=2e-6)
    assert result.fixed == pytest.approx({"b1": 0.9, "b2": 0.999, "eps": 1e-8, "eps_root": 0.0})


def test_a_b1_by_b2_grid_sets_both_in_every_copy_first_axis_slowest():
    problem = _problems.build("beale", 0)
    axes = {"b1": [0.5, 0.9], "b2": [0.9, 0.99, 0.999]}
    result = _sweep.sweep(problem, "adam", axes, steps=10)
    assert result.shape == (2, 3) and result.losses.shape == (2, 3, 1, 11)
    for i, b1 in enumerate(axes["b1"]):
        for j, b2 in enumerate(axes["b2"]):
            expected = separate_run(problem, "adam", 10, 0.05, b1=b1, b2=b2)
            np.testing.assert_allclose(result.losses[i, j, 0], expected, rtol=2e-6)
    assert result.setting((1, 2)) == {"b1": 0.9, "b2": 0.999}


def test_settings_are_data_the_program_is_traced_once_whatever_their_number():
    traced = []

    def counting_loss(params):
        traced.append(1)
        return jnp.sum(params**2)

    problem = _problems.Problem("bowl", "a bowl", "data", counting_loss,
                                jnp.asarray([1.0, -2.0], jnp.float32), 5, 1e-3)
    counts = []
    for count in (2, 9):
        traced.clear()
        _sweep.sweep(problem, "sgd", {"learning_rate": np.geomspace(1e-3, 0.1, count)}, steps=5)
        counts.append(len(traced))
    assert counts[0] == counts[1] <= 3  # the scan, the final loss (and its value-and-grad)


def test_seeds_draw_the_initial_weights_and_each_is_trained_with_every_setting():
    axes = {"learning_rate": [0.03, 0.3]}
    both = _sweep.sweep("digits-logistic", "adam", axes, steps=3, seeds=(0, 5))
    alone = _sweep.sweep("digits-logistic", "adam", axes, steps=3, seeds=(0,))
    assert both.losses.shape == (2, 2, 4)
    np.testing.assert_allclose(both.losses[:, 0], alone.losses[:, 0], rtol=1e-6)
    assert not np.allclose(both.losses[:, 0, 0], both.losses[:, 1, 0])  # other initial weights
    np.testing.assert_allclose(both.final, both.losses[..., -1].mean(axis=-1))


def test_a_diverged_setting_is_flagged_left_out_of_the_ranking_and_named_in_the_table():
    result = _sweep.sweep("rosenbrock", "sgd", {"learning_rate": [1e-4, 1e-3, 0.1]}, steps=20)
    assert result.diverged[:, 0].tolist() == [False, False, True]
    assert np.isnan(result.final[2]) and np.all(np.isfinite(result.final[:2]))
    assert [setting for setting, _ in result.best()] == [{"learning_rate": 1e-3},
                                                         {"learning_rate": 1e-4}]
    text = _sweep_cli.table(result)
    rows = [line.split() for line in text.splitlines()[2:4]]
    assert [row[:2] for row in rows] == [["1", "0.001"], ["2", "0.0001"]]
    assert "diverged, not ranked (1 of 3 settings" in text and "learning_rate=0.1" in text
    assert max(len(line) for line in text.splitlines()) <= _sweep_cli.WIDTH


@pytest.mark.parametrize(
    "kwargs, option, message",
    [
        (dict(axes={"b3": [0.1]}), "grid", "no hyperparameter 'b3' in this optimizer; it has b1,"),
        (dict(axes={"b1": [0.9, 1.0]}), "grid", "set_hyperparams: b1 must be in [0, 1), got b1=1.0"),
        (dict(axes={}), "grid", "expected at least one hyperparameter"),
        (dict(axes={"b1": np.linspace(0, 0.9, 5000)}), "grid", "5000 runs x 5 steps is too many"),
        (dict(seeds=(0, 1)), "seeds", "quadratic starts from the same point for every seed"),
        (dict(seeds=(1, 1)), "seeds", "expected distinct seeds"),
        (dict(problem=_problems.build("digits-logistic", 0), seeds=(0, 1)), "seeds",
         "a Problem has one start; pass its name ('digits-logistic') to draw"),
        (dict(optimizer="adam,sgd"), "optimizer", "expected one optimizer, got 'adam,sgd'"),
    ],
)
def test_a_sweep_that_cannot_run_says_which_setting_is_wrong(kwargs, option, message):
    arguments = {"problem": "quadratic", "optimizer": "adam", "axes": {"learning_rate": [0.1]},
                 "steps": 5, **kwargs}
    with pytest.raises(_sweep.BadSetting, match=re.escape(message)) as caught:
        _sweep.sweep(**arguments)
    assert caught.value.option == option


# ------------------------------------------------------------------------------------------
# The learning-rate range test
# ------------------------------------------------------------------------------------------


def test_range_test_rates_grow_exponentially_and_the_loss_blows_up_past_sgds_limit():
    # SGD on the quadratic (largest curvature 100) diverges above lr = 2 / 100.
    test = _sweep.range_test("quadratic", "sgd", steps=120, lowest=1e-4, highest=1.0)
    np.testing.assert_allclose(test.learning_rates, np.geomspace(1e-4, 1.0, 120))
    assert test.blew_up and 0.02 < test.learning_rates[test.stop] < 1.0
    assert 1e-4 < test.suggested < 0.02
    assert test.minimum <= test.learning_rates[test.stop]


def test_range_test_reads_up_to_the_blow_up_and_suggests_the_steepest_fall():
    rates = np.geomspace(1e-3, 10, 9)
    losses = np.array([2.0, 2.0, 1.9, 1.0, 0.5, 0.4, 0.45, 30.0, np.inf])
    stop, suggested, minimum = _sweep.read_range_test(rates, losses)
    assert stop == 7
    assert suggested == rates[3]  # the smoothed loss falls fastest around the fourth rate
    assert minimum == rates[6]  # the smoothed loss lags the raw one


def test_smoothing_keeps_a_constant_loss_constant_from_the_first_step():
    np.testing.assert_allclose(_sweep.smooth(np.full(5, 3.0)), 3.0)


def test_range_test_rejects_a_bad_range_and_too_few_steps():
    with pytest.raises(_sweep.BadSetting, match="expected 0 < lowest < highest"):
        _sweep.range_test("quadratic", "sgd", steps=10, lowest=1.0, highest=0.1)
    with pytest.raises(_sweep.BadSetting, match="at least 3 steps, got 2"):
        _sweep.range_test("quadratic", "sgd", steps=2)


# ------------------------------------------------------------------------------------------
# Plots: diverged settings are marked, never drawn as garbage
# ------------------------------------------------------------------------------------------


def fake_sweep(axes, losses):
    losses = np.asarray(losses, np.float64)
    return _sweep.SweepResult("quadratic", "sgd", {k: np.asarray(v, np.float64)
                                                   for k, v in axes.items()},
                              {}, (0,), losses, 0.1, 0.1)


CONVERGING = 10.0 * 0.5 ** np.arange(6)
DIVERGING = [10.0, 1e3, 1e9, 1e20, np.inf, np.nan]


def test_the_line_plot_marks_a_diverged_rate_above_the_converging_ones_inside_the_axes():
    from gradxform.compare import sweep_plots

    losses = [[CONVERGING * 0.5], [CONVERGING * 0.1], [DIVERGING]]
    figure = sweep_plots.line_figure(fake_sweep({"learning_rate": [0.01, 0.1, 1.0]}, losses))
    left, right = figure.axes[:2]
    low, high = left.get_ylim()
    assert high < 10.0  # the final losses of the converging runs set the axis, not 1e20
    [line] = [line for line in left.get_lines() if line.get_label() == "final loss"]
    assert line.get_xdata().tolist() == [0.01, 0.1]
    [mark] = [line for line in left.get_lines() if line.get_marker() == "X"]
    assert mark.get_xdata().tolist() == [1.0] and low < mark.get_ydata()[0] < high
    assert len(right.get_lines()) == 2 and "1 diverged, not drawn" in right.get_title()


def test_the_heat_map_greys_out_and_crosses_diverged_cells_and_outlines_the_best():
    from gradxform.compare import sweep_plots

    losses = [[[CONVERGING]], [[DIVERGING]]], [[[CONVERGING * 0.1]], [[CONVERGING * 2]]]
    losses = np.asarray(losses).reshape(2, 2, 1, 6)
    figure = sweep_plots.heat_map_figure(fake_sweep({"b1": [0.5, 0.9], "b2": [0.9, 0.99]}, losses))
    axes = figure.axes[0]
    [mesh] = axes.collections
    assert np.ma.getmaskarray(mesh.get_array()).reshape(2, 2).tolist() == [[False, True],
                                                                         [False, False]]
    crosses = [t for t in axes.texts if t.get_text() == "X"]
    assert [t.get_position() for t in crosses] == [(1.5, 0.5)]
    [outline] = axes.patches
    assert outline.get_xy() == (0, 1)  # b1=0.9, b2=0.9: the lowest final loss
    assert "X: diverged (1)" in axes.get_title()


def test_the_range_test_plot_stops_at_the_blow_up_and_shows_the_suggestion():
    from gradxform.compare import sweep_plots

    test = _sweep.range_test("quadratic", "sgd", steps=60, lowest=1e-4, highest=1.0)
    axes = sweep_plots.range_test_figure(test).axes[0]
    curves = [line for line in axes.get_lines() if line.get_label().startswith("loss")]
    assert all(len(line.get_xdata()) == test.stop for line in curves)
    labels = [line.get_label() for line in axes.get_lines()]
    assert f"suggested lr={test.suggested:.3g} (steepest fall)" in labels
    assert any(label.startswith("blew up at lr=") for label in labels)


# ------------------------------------------------------------------------------------------
# The command line
# ------------------------------------------------------------------------------------------


def test_sweep_prints_the_best_settings_and_writes_the_loss_against_rate_plot(capsys, tmp_path):
    status, out, err = run(capsys, "sweep", "-p", "quadratic", "-o", "sgd", "--grid",
                           "lr=0.001:1:4", "-n", "20", "--output-dir", str(tmp_path))
    assert (status, err) == (0, "")
    assert "sgd: 4 settings x 1 seed = 4 runs trained at once (jax.vmap)" in out
    assert "rank  learning_rate  final loss  best loss" in out
    assert "diverged, not ranked (2 of 4 settings" in out  # above 2 / 100, the largest curvature
    assert "learning_rate=0.1;" in out and "learning_rate=1\n" in out
    assert (tmp_path / "quadratic-sweep.png").read_bytes().startswith(PNG_MAGIC)
    assert max(len(line) for line in out.splitlines()) <= _sweep_cli.WIDTH


def test_two_axes_give_a_heat_map_and_three_no_plot(capsys, tmp_path):
    status, out, _ = run(capsys, "sweep", "-p", "saddle", "-o", "adam", "-g", "b1=0.5,0.9",
                         "-g", "b2=0.9,0.999", "-n", "5", "--output-dir", str(tmp_path))
    assert status == 0 and "held at: eps=1e-08, eps_root=0, learning_rate=0.05" in out
    assert (tmp_path / "saddle-heat-map.png").read_bytes().startswith(PNG_MAGIC)
    status, out, _ = run(capsys, "sweep", "-p", "saddle", "-o", "adam", "-g", "b1=0.5,0.9",
                         "-g", "b2=0.9,0.999", "-g", "lr=0.01,0.1", "-n", "5", "--output-dir",
                         str(tmp_path))
    assert status == 0 and "No plot: 3 hyperparameters" in out


def test_range_test_prints_the_suggested_rate_and_writes_its_plot(capsys, tmp_path):
    status, out, _ = run(capsys, "sweep", "-p", "quadratic", "-o", "sgd", "--range-test",
                         "1e-4:1", "-n", "60", "--output-dir", str(tmp_path))
    assert status == 0
    assert "learning-rate range test, one run, lr from 0.0001 to 1" in out
    assert "suggested learning rate: " in out and "the loss blew up at lr=" in out
    assert (tmp_path / "quadratic-range-test.png").read_bytes().startswith(PNG_MAGIC)


def test_the_best_value_on_the_edge_of_its_grid_is_pointed_out(capsys):
    status, out, _ = run(capsys, "sweep", "-p", "quadratic", "-o", "adam", "-g",
                         "lr=0.001,0.01,0.1", "-n", "10", "--no-plots")
    assert status == 0
    assert "The best learning_rate is at the edge of its grid" in out


GRID = "argument --grid/-g: "
BAD_ARGUMENTS = {
    "unknown-name": (["-g", "b3=0.1"], GRID + "no hyperparameter 'b3' in this optimizer"),
    "refused-value": (["-g", "b1=1.5"], GRID + "set_hyperparams: b1 must be in [0, 1), got b1=1.5."),
    "no-equals": (["-g", "lr"], GRID + "expected NAME=V1,V2,... or NAME=LOW:HIGH:COUNT, got 'lr'"),
    "bad-range": (["-g", "lr=0:1:3"], GRID + "expected learning_rate=LOW:HIGH:COUNT with 0 < LOW"),
    "words": (["-g", "lr=a,b"], GRID + "expected finite numbers after learning_rate=, such as"),
    "twice": (["-g", "lr=0.1", "-g", "lr=0.2"], GRID + "learning_rate is given twice"),
    "too-many": (["-g", "lr=1e-4:1:1000", "-g", "b1=0.1,0.2,0.3,0.4,0.5"],
                 GRID + "5000 runs x 500 steps is too many"),
    "seeds-fixed-start": (["-p", "saddle", "--seeds", "0,1"],
                          "argument --seeds: saddle starts from the same point for every seed"),
    "seeds-repeated": (["--seeds", "0,0"], "argument --seeds: expected distinct seeds, got '0,0'"),
    "seed-negative": (["--seeds", "-1"], "argument --seeds: expected an integer in [0, 2**32)"),
    "two-optimizers": (["-o", "adam,sgd"], "argument --optimizer/-o: expected one optimizer"),
    "unknown-optimizer": (["-o", "adamm"], "argument --optimizer/-o: unknown optimizer 'adamm'"),
    "two-problems": (["-p", "beale,saddle"], "argument --problem/-p: expected one problem"),
    "range-reversed": (["--range-test", "1:0.1"], "argument --range-test: expected LOW:HIGH"),
    "range-and-grid": (["--range-test", "-g", "lr=0.1"],
                       "argument --grid/-g: not allowed with argument --range-test"),
    "range-two-steps": (["--range-test", "-n", "2"], "argument --steps/-n: the range test needs"),
    "range-seeds": (["--range-test", "--seeds", "0,1"],
                    "argument --seeds: the range test is one run; give one seed"),
    "steps-beyond-int32": (["-n", "100000000000"], "argument --steps/-n: expected a whole number"),
}


@pytest.mark.parametrize("argv, message", BAD_ARGUMENTS.values(), ids=BAD_ARGUMENTS.keys())
def test_bad_arguments_are_one_line_errors_with_status_2(capsys, argv, message):
    problem = [] if "-p" in argv else ["-p", "quadratic"]
    status, out, err = run(capsys, "sweep", "--no-plots", *problem, *argv)
    assert (status, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("gradxform: error: ")
    assert message in err


def test_help_explains_every_option_with_an_example(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    status, out, _ = run(capsys, "sweep", "--help")
    assert status == 0
    text = " ".join(out.split())
    for option in ("--problem", "--optimizer", "--grid", "--range-test", "--steps", "--seeds",
                   "--output-dir", "--no-plots"):
        assert option in out
        if option != "--no-plots":
            assert f"e.g. {option} " in text, option
    status, out, _ = run(capsys, "--help")
    assert "sweep" in out and "train many settings of one optimizer at once" in out


def test_end_to_end_as_a_command_with_a_users_problem(tmp_path):
    (tmp_path / "my_bowl.py").write_text(
        "import jax.numpy as jnp\n"
        "def make():\n"
        "    return (lambda p: jnp.sum((p['w'] - 3.0) ** 2), {'w': jnp.zeros(4, jnp.float32)})\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "gradxform", "sweep", "-p", "my_bowl:make", "-o", "adam",
         "-g", "lr=0.01,0.1,1", "-n", "30", "--output-dir", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "gradxform" in done.stdout and "sweep: my_bowl.make, your problem my_bowl:make" in done.stdout
    ranks = [line.split()[:2] for line in done.stdout.splitlines() if line[:4].strip() == "1"]
    assert ranks == [["1", "1"]]  # the largest rate gets closest to w = 3 in 30 Adam steps
    assert (tmp_path / "out" / "my_bowl-make-sweep.png").read_bytes().startswith(PNG_MAGIC)
