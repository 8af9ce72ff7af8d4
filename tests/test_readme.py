"""README.md stays true: its Python examples run, and the names it lists exist."""
import inspect
import pathlib
import re
import subprocess
import sys

import jax
import pytest

import gradxform
from gradxform.compare import lineup as _compare_lineup

pytestmark = pytest.mark.slow  # make test-fast leaves this module out

ROOT = pathlib.Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
PYTHON_BLOCKS = re.findall(r"^```python\n(.*?)^```$", README, flags=re.DOTALL | re.MULTILINE)
BLOCK_IDS = [f"block{i}" for i, _ in enumerate(PYTHON_BLOCKS)]


def _section(title):
    """The README's text from the heading ``title`` up to the next heading of any level."""
    heading = rf"^#+ {re.escape(title)}\n(.*?)(?=^#)"
    match = re.search(heading, README, flags=re.DOTALL | re.MULTILINE)
    assert match, f"README has no section {title!r}"
    return match.group(1)


# The optimizers table's first column: one name, or several (`sign_sgd`, `signum`), per row.
LISTED_OPTIMIZERS = [
    name
    for cell in re.findall(r"^\| (`\w+`(?:, `\w+`)*) \|", _section("The optimizers"), flags=re.MULTILINE)
    for name in re.findall(r"`(\w+)`", cell)
]


def test_readme_has_python_examples_to_run():
    assert len(PYTHON_BLOCKS) >= 2
    assert "gx.adam(0.1)" in PYTHON_BLOCKS[0]


@pytest.mark.parametrize("code", PYTHON_BLOCKS, ids=BLOCK_IDS)
def test_python_example_runs_as_a_user_would_run_it(code):
    # A fresh interpreter with JAX's default configuration (no x64, standard promotion), exactly
    # as a reader pasting the block would have; an assertion failing in the block fails here.
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr


def test_readme_lists_every_optimizer_of_the_compare_lineup():
    lineup = list(dict.fromkeys(e.alias for e in _compare_lineup.LINEUP))
    assert [name for name in LISTED_OPTIMIZERS if name in lineup] == lineup  # in the lineup's order


@pytest.mark.parametrize("name", LISTED_OPTIMIZERS)
def test_every_optimizer_the_readme_lists_is_exported(name):
    assert callable(getattr(gradxform, name, None)), f"README lists gx.{name}, gradxform lacks it"


@pytest.mark.parametrize("target", ["demo", "test", "bench"])
def test_make_targets_the_readme_names_exist_in_the_makefile(target):
    assert f"make {target}" in README
    assert re.search(rf"^{target}:", (ROOT / "Makefile").read_text(), flags=re.MULTILINE)


@pytest.mark.parametrize("path", ["benchmarks/step_time.py", "benchmarks/README.md"])
def test_files_the_readme_names_exist(path):
    assert path in README
    assert (ROOT / path).is_file()


# The section "Conventions that differ between references" names these arguments.
CONVENTION_ARGUMENTS = [
    ("adam", "eps_root"),
    ("rmsprop", "eps_in_sqrt"),
    ("adagrad", "eps_in_sqrt"),
    ("adagrad", "initial_accumulator_value"),
    ("amsgrad", "max_before_bias_correction"),
    ("nadam", "momentum_decay"),
    ("bias_correction", "step_offset"),
]


@pytest.mark.parametrize(
    "name, argument", CONVENTION_ARGUMENTS, ids=[f"{n}-{a}" for n, a in CONVENTION_ARGUMENTS]
)
def test_arguments_the_conventions_section_names_exist(name, argument):
    assert re.search(rf"\b{argument}\b", _section("Conventions that differ between references"))
    assert argument in inspect.signature(getattr(gradxform, name)).parameters


def test_adadelta_defaults_as_the_readme_says_ours_descends_and_optax_ascends():
    import jax.numpy as jnp
    import optax

    params = {"w": jnp.array([1.0, -2.0])}
    grads = {"w": jnp.array([0.5, -0.5])}  # a descent step moves each w against its gradient
    with jax.numpy_dtype_promotion("standard"):  # Optax mixes int and float internally
        theirs, _ = optax.adadelta().update(grads, optax.adadelta().init(params), params)
    ours, _ = gradxform.adadelta().update(grads, gradxform.adadelta().init(params), params)
    assert inspect.signature(gradxform.adadelta).parameters["learning_rate"].default == 1.0
    assert bool(jnp.all(jnp.sign(ours["w"]) == -jnp.sign(grads["w"])))
    assert bool(jnp.all(jnp.sign(theirs["w"]) == jnp.sign(grads["w"])))
