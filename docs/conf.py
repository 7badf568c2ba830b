"""Sphinx configuration for the icl-verify documentation.

Build: ``nox -s docs`` (or ``sphinx-build -b html -W --keep-going docs docs/_build/html``).
Math renders with the MathJax 3 copy shipped by the ``sphinx-mathjax-offline`` package (a docs
dependency, not vendored here), served from ``_static/mathjax``: no network access needed.
Claim sections and verdict tables come from the registry and the results JSON (``_ext/claims.py``).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # the three packages, also when not installed
sys.path.insert(0, str(DOCS / "_ext"))

project = "icl-verify"
author = "the icl-verify authors"
copyright = "2026, the icl-verify authors"  # noqa: A001 (Sphinx's name)

extensions = [
    "myst_parser",
    "sphinx_proof",
    "sphinxcontrib.bibtex",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_copybutton",
    "claims",
    "plain_docstrings",
    "api_stubs",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "_generated", "snapshot", "_static", "Thumbs.db", ".DS_Store"]

# -- MyST ------------------------------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "attrs_inline"]
myst_heading_anchors = 3
myst_dmath_double_inline = True

# -- math: MathJax 3 from the installed sphinx-mathjax-offline package, copied into _static/mathjax --------
_MATHJAX = Path(importlib.util.find_spec("sphinx-mathjax-offline").origin).parent / "static"
mathjax_path = "mathjax/tex-chtml.js"
mathjax3_config = {
    "tex": {
        "macros": {
            "R": r"\mathbb{R}",
            "E": r"\mathbb{E}",
            "tr": r"\operatorname{tr}",
            "diag": r"\operatorname{diag}",
        }
    },
}

# -- bibliography ----------------------------------------------------------------------------------------
bibtex_bibfiles = ["refs.bib"]
bibtex_default_style = "plain"
bibtex_reference_style = "author_year"

# -- sphinx-proof ----------------------------------------------------------------------------------------
proof_uncollapsable = True

# -- API reference ---------------------------------------------------------------------------------------
# one page per module, written by _ext/api_stubs.py (automodule with :members: :ignore-module-all:)
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_mock_imports = ["transformers", "gguf", "accelerate", "llama_cpp"]
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True  # "Attributes:" as fields: no duplicate of the dataclass fields autodoc lists

# -- HTML ------------------------------------------------------------------------------------------------
html_theme = "furo"
html_title = "icl-verify"
html_static_path = ["_static", str(_MATHJAX)]
html_css_files = []  # claims.css is added by the claims extension

# -- claims extension ------------------------------------------------------------------------------------
# Results folders, first match per claim wins (ICL_VERIFY_RESULTS, if set, comes before these):
# the latest local quick run, then the snapshot checked in with the docs.
claims_results_dirs = ["results/quick", "docs/snapshot"]
