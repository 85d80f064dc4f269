"""Sphinx configuration of the deepwas documentation.

Build (warnings are errors, the gallery is executed)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Environment variables
---------------------
DEEPWAS_DOCS_INTERSPHINX=1
    Link to the scikit-learn, PyTorch, NumPy and pandas documentation (intersphinx). This
    downloads their ``objects.inv`` inventories, so it needs the network; it is OFF by default
    because an unreachable inventory is a Sphinx warning, which ``-W`` turns into a failed
    build on an offline machine (CI here has no network). With it off, references such as
    ``numpy.ndarray`` render as plain code text instead of links; nothing else changes.
DEEPWAS_DOCS_GALLERY=0
    Do not execute the example gallery (the pages are still generated, without outputs);
    for quick iterations on the prose. The CI build always executes it.
"""
from __future__ import annotations

import os
import warnings

import deepwas

# -- Project -------------------------------------------------------------------------------------
project = "deepwas"
author = "deepwas developers"
copyright = "2026, deepwas developers"
release = deepwas.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "auto_examples/*.py",
                    "auto_examples/*.ipynb", "auto_examples/*.zip", "auto_examples/*.json"]
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
language = "en"
default_role = "literal"  # `x` in prose is code, never a dangling cross-reference

# -- API reference ---------------------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"          # numpydoc sections carry the types
autodoc_member_order = "bysource"
numpydoc_show_class_members = False  # the class templates list members themselves
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False     # types stay text: no unresolvable links offline

# -- Intersphinx (see the module docstring) ------------------------------------------------------
_INTERSPHINX = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable/", None),
    "pandas": ("https://pandas.pydata.org/docs/", None),
    "sklearn": ("https://scikit-learn.org/stable/", None),
    "torch": ("https://docs.pytorch.org/docs/stable/", None),
}
if os.environ.get("DEEPWAS_DOCS_INTERSPHINX", "0") == "1":
    intersphinx_mapping = _INTERSPHINX
else:
    intersphinx_mapping = {}
intersphinx_timeout = 10
# Only explicit :external: roles and py-domain references are looked up (never :doc: / :ref:).
intersphinx_disabled_reftypes = ["std:doc", "std:label"]

# -- Example gallery -------------------------------------------------------------------------------
_execute = os.environ.get("DEEPWAS_DOCS_GALLERY", "1") != "0"
sphinx_gallery_conf = {
    "examples_dirs": ["../examples"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"(__init__|_helpers)\.py",
    "plot_gallery": "True" if _execute else "False",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "min_reported_time": 0,
    "show_memory": False,
    "capture_repr": ("_repr_html_", "__repr__"),
    "reset_modules": ("matplotlib",),
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,  # a failing example fails the build
    "first_notebook_cell": None,
    # "Examples using X" mini-galleries on the API pages
    "doc_module": ("deepwas",),
    "backreferences_dir": "generated/backreferences",
    "inspect_global_variables": False,
}

# Examples must not look for a display and must be reproducible.
os.environ.setdefault("MPLBACKEND", "Agg")
warnings.filterwarnings("ignore", message="Matplotlib is currently using agg",
                        category=UserWarning)

# -- HTML --------------------------------------------------------------------------------------------
html_theme = "alabaster"
html_theme_options = {
    "description": "Functionally informed GWAS priors from summary statistics",
    "fixed_sidebar": True,
    "page_width": "1100px",
    "sidebar_width": "240px",
}
html_static_path = []
html_title = f"deepwas {release}"
html_show_sourcelink = False

# Math: MathJax is loaded from a CDN by the reader's browser; the build itself is offline.


def _point_demo_cache_at_build_dir(app):
    """Examples cache the demo (tracks, window factors) in the build tree, never in $HOME.

    Runs before sphinx-gallery executes the examples (lower priority number runs first). An
    explicit $DEEPWAS_CACHE set by the caller wins.
    """
    if not os.environ.get("DEEPWAS_CACHE"):
        os.environ["DEEPWAS_CACHE"] = os.path.join(app.doctreedir, "deepwas-cache")


def _skip_sklearn_routing(app, what, name, obj, skip, options):
    """Leave out scikit-learn's generated metadata-routing methods (``set_fit_request`` ...):
    their docstrings point into scikit-learn's own docs and say nothing about deepwas."""
    if name == "get_metadata_routing" or (name.startswith("set_") and name.endswith("_request")):
        return True
    return None


def setup(app):
    app.connect("builder-inited", _point_demo_cache_at_build_dir, priority=100)
    app.connect("autodoc-skip-member", _skip_sklearn_routing)
