"""``pip install .`` builds a wheel that carries every module and py.typed, and works once installed."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # make test-fast leaves this module out

REPO = Path(__file__).resolve().parents[1]

SMOKE = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import jax.numpy as jnp
    import numpy as np

    import gradxform as gx
    import gradxform.aliases, gradxform.schedules, gradxform.wrappers

    here = Path(gx.__file__).resolve()
    assert here.is_relative_to(Path(sys.prefix).resolve()), (here, sys.prefix)
    assert (here.parent / "py.typed").is_file()
    opt = gx.adam(1e-3)
    params = {"w": jnp.asarray([1.0, -2.0, 3.0])}
    grads = {"w": jnp.asarray([0.5, -0.25, 2.0])}
    updates, state = opt.update(grads, opt.init(params), params)
    # Adam's first step is -lr * g / (|g| + eps): -lr * sign(g), up to float32 rounding.
    np.testing.assert_allclose(np.asarray(updates["w"]), [-1e-3, 1e-3, -1e-3], rtol=1e-4)
    assert int(state.step) == 1
    print("ok", here)
    """
)


def _run(*args, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, **kwargs)
    assert result.returncode == 0, f"{' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel built from a copy of the source tree (a build in place would leave build/ behind)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    source.mkdir()
    for name in ["pyproject.toml", "README.md"]:
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "gradxform", source / "gradxform", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--quiet", "-w", str(tmp / "dist"), str(source))
    (built,) = (tmp / "dist").glob("gradxform-*.whl")
    return built


def test_the_wheel_holds_every_module_and_the_py_typed_marker(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"gradxform/{p.name}" for p in (REPO / "gradxform").glob("*.py")} | {"gradxform/py.typed"}
    assert not expected - names, f"missing from the wheel: {sorted(expected - names)}"
    assert not [n for n in names if n.startswith("tests/") or "__pycache__" in n]


def test_the_installed_wheel_imports_from_its_own_venv_and_takes_an_adam_step(wheel, tmp_path):
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", str(venv))
    python = venv / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
         "--quiet", str(wheel))
    assert (venv / "bin" / "gradxform").is_file(), "the console script is installed"
    # jax and numpy come from this test environment: a plain path line does not run that
    # environment's .pth files, so its editable gradxform stays out of the new venv.
    site = Path(_run(str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    (site / "test_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    result = _run(str(python), "-c", SMOKE, cwd=tmp_path, env=env)
    assert result.stdout.startswith("ok ")
    assert str(REPO) not in result.stdout
