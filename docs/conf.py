"""Sphinx configuration of the cvae_pyro documentation.

Build with ``bash docs/build.sh`` (it installs the local MathJax first). Everything
is served from the built folder: no CDN, no web fonts, no intersphinx.

Before Sphinx reads the sources, this file copies into ``docs/``:

- the notebooks (``notebooks/*.ipynb`` to ``docs/notebooks/``), rendered with
  their committed outputs (``nb_execution_mode = "off"``);
- the results table and samples figure of the reproduction
  (``results/cll_table.md`` and ``results/q1_samples.png`` to ``docs/_generated/``).

It also fails the build at once if a notebook is not valid nbformat, and writes one
table per command of every setting (``docs/_generated/settings.md``) from the config
dataclasses of :mod:`cvae_pyro.config`: type, default and help text of each field.

``CVAE_PYRO_RESULTS_DIR`` points the build at another results folder.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

RESULTS = Path(os.environ.get("CVAE_PYRO_RESULTS_DIR", ROOT / "results"))
RESULT_FILES = ("cll_table.md", "q1_samples.png")  # what the landing page shows
MATHJAX = DOCS / "_static" / "mathjax" / "tex-mml-chtml.js"


def _copy_inputs() -> None:
    """Copy notebooks and results into the source tree (both folders are gitignored)."""
    notebooks = DOCS / "notebooks"
    shutil.rmtree(notebooks, ignore_errors=True)
    notebooks.mkdir()
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        shutil.copy2(nb, notebooks / nb.name)
    generated = DOCS / "_generated"
    generated.mkdir(exist_ok=True)
    for name in RESULT_FILES:
        if not (RESULTS / name).is_file():
            raise FileNotFoundError(
                f"{RESULTS / name} is missing: run `python -m cvae_pyro.reproduce` first, "
                "or set CVAE_PYRO_RESULTS_DIR to a folder that holds its results"
            )
        shutil.copy2(RESULTS / name, generated / name)
    if not MATHJAX.is_file():
        raise FileNotFoundError(f"{MATHJAX} is missing: build with `bash docs/build.sh`")


def _validate_notebooks() -> None:
    """Raise if any notebook is not valid nbformat (myst-nb would only log it)."""
    import nbformat

    invalid = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        try:
            nbformat.validate(nbformat.read(path, as_version=nbformat.NO_CONVERT))
        except (nbformat.ValidationError, ValueError) as err:
            first_line = str(err).strip().splitlines()[0]
            invalid.append(f"{path.relative_to(ROOT)}: {first_line}")
    if invalid:
        raise RuntimeError("invalid notebooks (nbformat.validate):\n" + "\n".join(invalid))


#: The settings page: one table per command, generated from its config dataclass.
SETTINGS = (  # (dataclass name in cvae_pyro.config, command)
    ("TrainConfig", "python -m cvae_pyro.train"),
    ("EvaluateConfig", "python -m cvae_pyro.evaluate"),
    ("ReproduceConfig", "python -m cvae_pyro.reproduce"),
    ("SampleConfig", "python -m cvae_pyro.sample"),
    ("CompleteConfig", "python -m cvae_pyro.complete"),
)


def _option(f) -> str:
    """The command-line option of a dataclass field, as :mod:`cvae_pyro.cli` makes it."""
    name = f.name.replace("_", "-")
    if f.type == "bool" and f.default is True:
        return f"--no-{name}"
    return f"--{name}"


def _settings_table(config: type) -> list[str]:
    """Markdown rows: setting, option, type, default and meaning of every field."""
    import dataclasses

    rows = ["| setting | option | type | default | meaning |", "| --- | --- | --- | --- | --- |"]
    for f in dataclasses.fields(config):
        meaning = f.metadata.get("help", "")
        if not meaning:
            raise RuntimeError(f"{config.__name__}.{f.name} has no help text to document")
        if "choices" in f.metadata:
            meaning += "; one of " + ", ".join(map(str, f.metadata["choices"]))
        if f.default is not dataclasses.MISSING:
            default = f"`{f.default!r}`"
        elif f.default_factory is not dataclasses.MISSING:
            default = f"`{f.default_factory()!r}`"
        else:
            default = "required"
        cells = [f"`{f.name}`", f"`{_option(f)}`", f"`{f.type}`", default, meaning]
        cells[-1] = re.sub(r"(\$[A-Z_]+)", r"`\1`", meaning)  # environment variables as code
        cells = [c.replace("|", "\\|") for c in cells]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def _write_settings_tables() -> None:
    """``docs/_generated/settings.md``: a table of every setting of every command."""
    from cvae_pyro import config

    lines = []
    for name, command in SETTINGS:
        cls = getattr(config, name)
        summary = (cls.__doc__ or "").strip().splitlines()[0]
        lines += [f"## `{name}`: `{command}`", "", summary, "", *_settings_table(cls), ""]
    generated = DOCS / "_generated"
    generated.mkdir(exist_ok=True)
    (generated / "settings.md").write_text("\n".join(lines))


def _public_modules() -> list[str]:
    """Every public module of the package (no leading underscore), in name order."""
    import cvae_pyro

    return sorted(m.name for m in pkgutil.iter_modules(cvae_pyro.__path__) if m.name[0] != "_")


#: The API index, layer by layer from the bottom up: (layer, its modules).
LAYERS = [
    ("Layer 1: errors and networks", ["errors", "networks"]),
    ("Layer 2: settings and files", ["config", "checkpoints"]),
    ("Layer 3: quadrant layouts and the command line", ["masks", "cli"]),
    ("Layer 4: data, masks, pictures and the models", ["data", "random_masks", "images", "models"]),
    ("Layer 5: objectives, estimators and figures", ["objectives", "metrics", "plots"]),
    ("Layer 6: conditions and training", ["conditions", "training"]),
    ("Layer 7: runs, evaluations and samples", ["experiment", "evaluation", "sampling"]),
    ("Layer 8: the reproduction", ["reproduction"]),
]
#: ``python -m`` entry points: five-line shims around cvae_pyro.cli, not documented apart.
SHIMS = {"train", "evaluate", "reproduce", "sample", "complete"}


def _summary(module: str) -> str:
    """The first line of a module's docstring."""
    doc = importlib.import_module(f"cvae_pyro.{module}").__doc__ or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _write_api_pages() -> None:
    """``docs/api/``: the modules grouped by layer with a line each, and one page per module.

    Generated at every build; a module missing from :data:`LAYERS` fails the build, so
    a new module cannot go undocumented.
    """
    import cvae_pyro

    listed = [m for _, modules in LAYERS for m in modules]
    found = [m for m in _public_modules() if m not in SHIMS]
    missing = sorted(set(found) - set(listed))
    if missing:
        raise RuntimeError(f"docs/conf.py LAYERS does not list {missing}")
    api = DOCS / "api"
    shutil.rmtree(api, ignore_errors=True)
    api.mkdir()
    exported = [
        f"   ~{getattr(cvae_pyro, name).__module__}.{name}" for name in sorted(cvae_pyro.__all__)
    ]
    index = [
        "# API reference",
        "",
        "The package layer by layer, from the bottom up: each module imports only from "
        "the layers before it in this list. One line per module; its page has the rest.",
        "",
    ]
    for layer, modules in LAYERS:
        index += [f"## {layer}", "", "| module | what it holds |", "| --- | --- |"]
        index += [f"| {{doc}}`cvae_pyro.{m} <{m}>` | {_summary(m)} |" for m in modules]
        index.append("")
    index += [
        "## Re-exported names",
        "",
        "`import cvae_pyro` gives the names most scripts need:",
        "",
        "```{eval-rst}",
        ".. autosummary::",
        "   :nosignatures:",
        "",
        *exported,
        "```",
        "",
        "```{toctree}",
        ":hidden:",
        "",
        *listed,
        "```",
        "",
    ]
    (api / "index.md").write_text("\n".join(index))
    for name in listed:
        page = [
            f"# `cvae_pyro.{name}`",
            "",
            "```{eval-rst}",
            f".. automodule:: cvae_pyro.{name}",
            "```",
            "",
        ]
        (api / f"{name}.md").write_text("\n".join(page))


_validate_notebooks()
_copy_inputs()
_write_settings_tables()
_write_api_pages()

project = "cvae_pyro"
author = "cvae_pyro developers"
copyright = "2026, cvae_pyro developers"
release = "0.1.0"

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_copybutton",
]

exclude_patterns = ["_build", "_generated", "**/.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}

# Notebooks are rendered with the outputs committed to the repository.
nb_execution_mode = "off"
nb_ipywidgets_js = {}  # never load the widget manager from a CDN
nb_render_markdown_format = "gfm"  # Markdown outputs may hold tables (notebook 02)
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# API reference.
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
autosummary_generate = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True  # "Attributes:" as a field list, not as duplicate attribute entries

# Math: a local MathJax 3 (installed by docs/build.sh), never a CDN.
mathjax_path = "mathjax/tex-mml-chtml.js"

html_theme = "furo"
html_title = "cvae_pyro"
html_static_path = ["_static"]
html_css_files = ["custom.css"]  # tables, wide equations, captions
html_show_sourcelink = False
html_theme_options = {"navigation_with_keys": True}
