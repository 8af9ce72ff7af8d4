"""Sphinx configuration: the API reference from the docstrings, the guides from Markdown.

Built by ``make docs`` (warnings are errors). Nothing is fetched while building: no intersphinx;
MathJax is a script link in the HTML, loaded by the reader's browser.
"""
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent))

import gradxform  # noqa: E402

project = "gradxform"
author = "The gradxform authors"
copyright = "the gradxform authors"  # noqa: A001 (Sphinx's name)
release = version = gradxform.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "myst_parser",
    "gxapi",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "README.md"]

# Docstrings: Google style (Args, Returns, References, Example), signatures as written.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
autodoc_typehints = "signature"
autodoc_member_order = "bysource"
autodoc_preserve_defaults = True
autosummary_generate = False
# Signatures show the package's type aliases by name (``ScalarOrSchedule``), not expanded into
# ``float | Array | Callable[[Array], Array]``: every ``Name = <typing construct>`` it defines.
TYPE_ALIAS = re.compile(r"^([A-Z]\w*) = (?:Union|Optional|Callable|Any|PyTree|tuple\[|Literal)", re.M)
autodoc_type_aliases = {
    name: name
    for path in sorted((DOCS.parent / "gradxform").rglob("*.py"))
    for name in TYPE_ALIAS.findall(path.read_text())
}
add_module_names = False

# Guides: MyST Markdown, with $...$ math and heading anchors for links between pages.
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"gradxform {release}"
html_static_path: list[str] = []
