"""Sphinx configuration for numbaconv's documentation.

Build (warnings are errors; every walkthrough is executed on the CPU)::

    sphinx-build -W --keep-going -b html docs docs/_build/html

Environment switches, for local work only (CI uses the defaults):

- ``NUMBACONV_DOCS_EXECUTE``: ``force`` (default) runs every walkthrough on every build;
  ``cache`` reuses outputs of unchanged pages; ``off`` skips execution (pages lose outputs).
- ``NUMBACONV_DOCS_ONLINE=1``: fetch the real NumPy/SciPy/Numba inventories first, falling back
  to the small local ones (see ``_ext/inventories.py``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import api_pages  # noqa: E402
import inventories  # noqa: E402

import numbaconv  # noqa: E402

project = "numbaconv"
author = "numbaconv developers"
copyright = "2026, numbaconv developers"
release = numbaconv.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_nb",
    "reexports",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "README.md", "**.ipynb_checkpoints", "jupyter_execute"]
templates_path = ["_templates"]

# Every reference must resolve: a dangling :func:/:class: fails the build under -W.
nitpicky = True
nitpick_ignore_regex = [
    # numpydoc type fields name plain-English types ("array_like", "int or None", "callable").
    (r"py:.*", r"(array_like|array-like|callable|optional|default.*|scalar|sequence.*|iterable.*)"),
    # Private modules (a leading underscore) are deliberately left out of the reference.
    (r"py:mod", r"numbaconv(\.\w+)*\._\w+(\.\w+)*"),
]

# --- API reference: one page per public module, generated from each module's __all__ ---------
api_pages.write_api_pages(HERE / "api")
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"  # numpydoc sections carry the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

# --- intersphinx, offline by default --------------------------------------------------------
intersphinx_mapping = inventories.mapping(
    HERE / "_build" / "inventories", online=os.environ.get("NUMBACONV_DOCS_ONLINE") == "1"
)
intersphinx_timeout = 10

# --- executed walkthroughs ------------------------------------------------------------------
nb_execution_mode = os.environ.get("NUMBACONV_DOCS_EXECUTE", "force")
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_timeout = 600
nb_merge_streams = True
nb_render_markdown_format = "myst"  # tables in Markdown outputs (ratio and result tables)
nb_execution_cache_path = str(HERE / "_build" / ".jupyter_cache")
myst_enable_extensions = ["colon_fence", "dollarmath", "amsmath", "deflist"]
myst_heading_anchors = 3

# --- HTML -----------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"numbaconv {release}"
html_static_path = ["_static"]
html_css_files = ["numbaconv.css"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"install": [], "numba": [], "questionnaire": []}
