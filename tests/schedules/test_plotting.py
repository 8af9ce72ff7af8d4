"""plot_schedule draws schedules into a PNG with matplotlib, an optional dependency."""
import sys

import numpy as np
import pytest

import gradxform as gx

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_is_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 15_000  # empty axes of this size are about 11 kB; one curve adds ~10 kB


def test_saves_one_schedule_as_a_png(tmp_path):
    path = tmp_path / "cosine.png"
    gx.plot_schedule(gx.warmup_cosine_decay_schedule(0.0, 1.0, 10, 100), 120, path, title="cosine")
    assert_is_png(path)


def test_saves_named_schedules_as_lines_with_their_values(tmp_path):
    schedules = {
        "wsd": gx.warmup_stable_decay_schedule(0.0, 1.0, 10, 50, 40),
        "one cycle": gx.cosine_onecycle_schedule(100, 1.0),
        "momentum": gx.cosine_onecycle_momentum_schedule(100),
    }
    path = tmp_path / "several.png"
    figure = gx.plot_schedule(schedules, np.arange(0, 100, 2), str(path), log_scale=True)
    assert_is_png(path)
    (axes,) = figure.axes
    assert [line.get_label() for line in axes.lines] == list(schedules)
    for line, schedule in zip(axes.lines, schedules.values()):
        np.testing.assert_array_equal(line.get_xdata(), np.arange(0, 100, 2))
        np.testing.assert_allclose(line.get_ydata(), [float(schedule(s)) for s in range(0, 100, 2)])
    assert axes.get_yscale() == "log"
    assert axes.get_legend() is not None


def test_missing_matplotlib_says_how_to_install_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # makes the import fail
    message = r"plot_schedule: needs matplotlib.*pip install gradxform\[plot\]"
    with pytest.raises(ImportError, match=message):
        gx.plot_schedule(gx.constant_schedule(1.0), 10, tmp_path / "never.png")
    assert not (tmp_path / "never.png").exists()


@pytest.mark.parametrize("schedules, steps, error, message", [
    ({}, 10, ValueError, r"plot_schedule: expected at least one of schedules"),
    ({"lr": 0.1}, 10, TypeError, r"plot_schedule: schedules\['lr'\] must be a function"),
    (0.1, 10, TypeError, r"plot_schedule: schedules must be a function"),
    (gx.constant_schedule(1.0), 0, ValueError, r"steps must be a whole number of steps >= 1"),
    (gx.constant_schedule(1.0), np.linspace(0, 1, 5), TypeError, r"step must be an integer count"),
])
def test_bad_arguments_raise_before_drawing(tmp_path, schedules, steps, error, message):
    with pytest.raises(error, match=message):
        gx.plot_schedule(schedules, steps, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()
