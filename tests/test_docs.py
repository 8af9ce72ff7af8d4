"""The documentation stays whole: every public name has a description and a place in the API
reference, every guide is in the table of contents, and every guide's Python runs.

The API pages are generated at build time by ``docs/_ext/gxapi.py`` from ``gradxform/__init__.py``;
these tests ask that generator the same questions the build does, without running Sphinx
(``make docs``, which ``make test`` runs first, builds the pages with warnings as errors).
"""
import inspect
import pathlib
import re
import subprocess
import sys

import pytest

import gradxform as gx

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))
import gxapi  # noqa: E402  (the docs' own generator, found through the path above)

GUIDES = sorted(p for p in DOCS.glob("*.md") if p.name != "index.md")
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def _entries():
    return [entry for entries in gxapi.names_by_layer().values() for entry in entries]


def _toctree(page: pathlib.Path) -> list[str]:
    blocks = re.findall(r"^```\{toctree\}\n(.*?)^```$", page.read_text(), re.DOTALL | re.MULTILINE)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip() and ":" not in line]


def test_the_generator_places_every_public_name_of_the_package_and_of_gx_tree():
    placed = [entry.name for entry in _entries()]
    public = {n for n in dir(gx) if not n.startswith("_") and not inspect.ismodule(getattr(gx, n))}
    tree = {f"tree.{n}" for n in dir(gx.tree) if not n.startswith("_") and not inspect.ismodule(getattr(gx.tree, n))}
    assert len(placed) == len(set(placed))
    assert set(placed) == public | tree
    assert len(placed) > 250  # the walk found the package, not an empty module


def test_every_public_name_has_a_description():
    undocumented = [entry.name for entry in _entries() if not gxapi.documentation(entry)]
    assert not undocumented, (
        f"{len(undocumented)} public names have no docstring (a NamedTuple: no comment beside each "
        f"field; a type alias: no comment beside its definition): {undocumented}"
    )


def test_the_description_check_catches_a_name_without_one():
    def bare(x):
        return x

    class BareState(tuple):
        _fields = ("mu",)

    assert gxapi.documentation(gxapi.Entry("bare", bare, __name__)) is None
    assert gxapi.own_docstring(BareState) is None


def test_a_state_without_a_docstring_is_described_by_its_field_comments_and_factory():
    text = gxapi.documentation(gxapi.Entry("ScaleByMomentumState", gx.ScaleByMomentumState, "m"))
    assert ":func:`gradxform.scale_by_momentum`" in text
    assert "``mu``: running" in text


def test_a_type_alias_is_described_by_the_comment_beside_it():
    entry = gxapi.Entry("ScalarOrSchedule", gx.ScalarOrSchedule, "typing")
    assert "number or a schedule" in gxapi.documentation(entry)


@pytest.mark.parametrize("layer", gxapi.LAYERS)
def test_each_layer_has_a_page_in_the_reference_that_documents_each_of_its_names(layer):
    page = DOCS / "api" / f"{layer}.rst"
    assert page.is_file(), f"no page for the layer {layer}"
    assert f".. gx-api:: {layer}" in page.read_text()
    assert layer in _toctree(DOCS / "api" / "index.md")
    body = "\n".join(gxapi.layer_rst(layer))
    for entry in gxapi.names_by_layer()[layer]:
        full = f"gradxform.{entry.name}"
        described = re.findall(rf"^\.\. (?:autofunction|autoclass|autoexception):: {re.escape(full)}$", body, re.M)
        described += re.findall(rf"^\.\. py:data:: {re.escape(entry.name)}$", body, re.M)
        assert len(described) == 1, f"{full} is documented {len(described)} times on the {layer} page"


def test_every_layer_of_the_package_init_is_a_layer_of_the_reference():
    init = (ROOT / "gradxform" / "__init__.py").read_text()
    layers = {module.split(".")[0] for module in re.findall(r"^from \.([\w.]+) import \w+ as \w+$", init, re.M)}
    assert layers <= set(gxapi.LAYERS)


def test_every_guide_is_in_the_table_of_contents_and_the_reference_too():
    entries = _toctree(DOCS / "index.md")
    assert [g.stem for g in GUIDES if g.stem not in entries] == []
    assert "migration" in entries and "api/index" in entries


def test_make_test_builds_the_docs_with_warnings_as_errors():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test: .*\bdocs\b", makefile, re.M)
    docs_rule = re.search(r"^docs:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert docs_rule and "-W --keep-going" in docs_rule.group(1)


@pytest.mark.slow
@pytest.mark.parametrize("guide", GUIDES, ids=[g.stem for g in GUIDES])
def test_a_guides_python_runs_top_to_bottom_as_a_reader_would_run_it(guide):
    # A page's blocks build on each other, as a reader pasting them in turn would: one fresh
    # interpreter per page with JAX's default configuration; an assertion in a block fails here.
    blocks = PYTHON_BLOCK.findall(guide.read_text())
    assert blocks, f"{guide.name} has no Python example"
    done = subprocess.run([sys.executable, "-c", "\n".join(blocks)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]


@pytest.mark.slow
def test_the_front_page_example_prints_what_it_says():
    (block,) = PYTHON_BLOCK.findall((DOCS / "index.md").read_text())
    done = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.strip() == re.search(r"# (\[.*\])$", block, re.M).group(1)
