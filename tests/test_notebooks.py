"""The notebooks run top to bottom, and the committed copies read well on the web.

Each notebook in ``notebooks/`` is executed in a fresh kernel started with this interpreter
(the test venv and its packages, whatever other kernels the machine has installed), in a
temporary working directory, and fails on the first cell that raises. The committed files are also checked as
they are: executed top to bottom with their outputs saved, no errors or warnings in those
outputs, a first code cell that installs gradxform on Colab only, and a modest size.
"""
from __future__ import annotations

import json
import os
import pathlib
import sys

import nbformat
import pytest

pytestmark = pytest.mark.slow  # make test-fast leaves this module out

NOTEBOOK_DIR = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOK_NAMES = [
    "01_quick_start.ipynb",
    "02_optimizer_zoo.ipynb",
    "03_schedules.ipynb",
    "04_flax_digits.ipynb",
    "05_write_your_own.ipynb",
    "06_sweep.ipynb",
    "07_modern_optimizers.ipynb",
]
NOTEBOOKS = [pytest.param(NOTEBOOK_DIR / name, id=name.removesuffix(".ipynb")) for name in NOTEBOOK_NAMES]
INSTALL_URL = "gradxform[demo] @ git+https://github.com/gradxform/gradxform"
COLAB_CHECK = 'if "google.colab" in sys.modules:'
CELL_TIMEOUT_S = 300  # per cell; a whole notebook takes well under a minute on an idle CPU
MAX_FILE_BYTES = 300 * 1024
KERNEL_NAME = "gradxform-test-python"


def _read(path: pathlib.Path):
    return nbformat.read(path, as_version=4)


def _code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def test_the_notebook_folder_holds_exactly_the_listed_notebooks():
    assert sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb")) == NOTEBOOK_NAMES


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_committed_notebook_was_executed_top_to_bottom_with_its_outputs_saved(path):
    notebook = _read(path)
    nbformat.validate(notebook)
    cells = _code_cells(notebook)
    assert [cell.execution_count for cell in cells] == list(range(1, len(cells) + 1)), (
        f"{path.name}: re-run it from a fresh kernel and save it with its outputs"
    )
    outputs = [output for cell in cells for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"], f"{path.name} saved with an error"
    stderr = [o.text for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    assert not stderr, f"{path.name} saved with warnings or errors on stderr: {stderr}"
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, f"{path.name} has no plot in its saved outputs"


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_committed_notebook_stays_small(path):
    assert path.stat().st_size < MAX_FILE_BYTES, (
        f"{path.name} is {path.stat().st_size / 1024:.0f} KiB; make its figures smaller"
    )


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_first_code_cell_installs_gradxform_on_colab_and_does_nothing_elsewhere(path):
    notebook = _read(path)
    first = _code_cells(notebook)[0]
    lines = [line.strip() for line in first.source.splitlines() if line.strip()]
    assert lines == ["import sys", COLAB_CHECK, f'%pip install -q "{INSTALL_URL}"'], first.source
    assert first.outputs == [], "run locally, the install cell prints nothing"
    # The URL lives in that one place, and the markdown before it says what the cell does.
    sources = "\n".join(cell.source for cell in notebook.cells)
    assert sources.count("git+https://github.com/gradxform/gradxform") == 1
    before = notebook.cells[: notebook.cells.index(first)]
    assert any("Colab" in cell.source for cell in before if cell.cell_type == "markdown")


@pytest.fixture(scope="module")
def kernel_dirs(tmp_path_factory):
    """A kernel spec that starts ipykernel with this interpreter, in a folder of its own.

    Searching only this folder keeps the test independent of any ``python3`` kernel installed
    for the user or the system, which might belong to another Python.
    """
    folder = tmp_path_factory.mktemp("kernels")
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python (gradxform tests)",
        "language": "python",
    }
    (folder / KERNEL_NAME).mkdir()
    (folder / KERNEL_NAME / "kernel.json").write_text(json.dumps(spec))
    return [str(folder)]


# The kernel's own warnings reach the notebook's outputs, not this process. Here, only the
# machinery that drives the kernel runs; a deprecation inside it is not the notebooks' fault.
@pytest.mark.filterwarnings("ignore::DeprecationWarning:jupyter_client")
@pytest.mark.filterwarnings("ignore::DeprecationWarning:jupyter_core")
@pytest.mark.filterwarnings("ignore::DeprecationWarning:nbclient")
@pytest.mark.filterwarnings("ignore::DeprecationWarning:zmq")
@pytest.mark.parametrize("path", NOTEBOOKS)
def test_notebook_runs_top_to_bottom_without_error(path, tmp_path, kernel_dirs):
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    manager = AsyncKernelManager(
        kernel_name=KERNEL_NAME, kernel_spec_manager=KernelSpecManager(kernel_dirs=kernel_dirs)
    )
    assert manager.kernel_spec.argv[0] == sys.executable
    notebook = _read(path)
    client = NotebookClient(
        notebook,
        km=manager,
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's working directory
    )
    # Raises CellExecutionError, with the cell and its traceback, on any error. cleanup_kc: shut
    # the kernel down and close its sockets here, as for a manager the client made itself.
    # The inline backend, as in Jupyter, even where MPLBACKEND is set for headless runs.
    env = {**os.environ, "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    client.execute(cleanup_kc=True, env=env)
    outputs = [output for cell in _code_cells(notebook) for output in cell.outputs]
    assert any("image/png" in output.get("data", {}) for output in outputs), "no plot was drawn"
