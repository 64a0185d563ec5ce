"""Sphinx configuration of the cvae_pyro documentation.

Build with ``bash docs/build.sh`` (it installs the local MathJax first). Everything
is served from the built folder: no CDN, no web fonts, no intersphinx.

Before Sphinx reads the sources, this file copies into ``docs/``:

- the notebooks (``notebooks/*.ipynb`` to ``docs/notebooks/``), rendered with
  their committed outputs (``nb_execution_mode = "off"``);
- the results tables and figures of :data:`RESULT_FILES` (from ``results/`` to
  ``docs/_generated/``).

It also fails the build at once if a notebook is not valid nbformat, and writes into
``docs/_generated/``:

- one table per command of every option (``cli_<command>.md``), walked from the
  command's own argument parser (:func:`cvae_pyro.cli.config.build_parser`), with the
  setting of the config dataclass each option fills;
- the performance tables (``performance_*.md``), read from ``benchmarks/*.json``;
- the module map (``layers.md``) from the package's folders (:data:`PARTS`);

and the API reference (``docs/api/``), one page per module.

``CVAE_PYRO_RESULTS_DIR`` points the build at another results folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
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
#: Results the pages show: file under the results folder -> name in docs/_generated/.
RESULT_FILES = {
    "seed0/cll_table.md": "cll_table.md",
    "cll_table.md": "cll_table_tuned.md",
    "tuning/validation.md": "tuning_validation.md",
    "seeds_0_1_2/cll_table.md": "cll_table_seeds.md",
    "seeds_0_1_2/run.json": "run_seeds.json",
    "seed0/q1_samples.png": "q1_samples.png",
    "pretrained.md": "pretrained.md",
    "label/digits.png": "label_digits.png",
    "fashion-mnist/cll_table.md": "fashion_cll_table.md",
    "fashion-mnist/label_samples.png": "fashion_label_samples.png",
}
BENCHMARKS = ROOT / "benchmarks"
MATHJAX = DOCS / "_static" / "mathjax" / "tex-mml-chtml.js"
GENERATED = DOCS / "_generated"
NBSP = "\u00a0"  #: a space a table cell never breaks at


def _copy_inputs() -> None:
    """Copy notebooks and results into the source tree (both folders are gitignored)."""
    notebooks = DOCS / "notebooks"
    shutil.rmtree(notebooks, ignore_errors=True)
    notebooks.mkdir()
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        shutil.copy2(nb, notebooks / nb.name)
    GENERATED.mkdir(exist_ok=True)
    for source, name in RESULT_FILES.items():
        if not (RESULTS / source).is_file():
            raise FileNotFoundError(
                f"{RESULTS / source} is missing: run `python -m cvae_pyro.reproduce` first, "
                "or set CVAE_PYRO_RESULTS_DIR to a folder that holds its results"
            )
        if name.endswith(".md"):  # a value and its ± stay on one line in a narrow cell
            text = (RESULTS / source).read_text().replace(" ± ", NBSP + "±" + NBSP)
            (GENERATED / name).write_text(text)
        else:
            shutil.copy2(RESULTS / source, GENERATED / name)
    if not MATHJAX.is_file():
        raise FileNotFoundError(f"{MATHJAX} is missing: build with `bash docs/build.sh`")


def _version() -> str:
    """The package version, as pyproject.toml writes it."""
    found = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    if found is None:
        raise RuntimeError("pyproject.toml has no version line")
    return found.group(1)


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


#: The commands of the command-line page, in the order a reader meets them.
CLI_COMMANDS = ("train", "evaluate", "reproduce", "sample", "complete")
USAGE_WIDTH = 88  #: characters per line of the usage blocks


def _cell(text: str) -> str:
    """Text for a Markdown table cell: environment variables as code; pipes, <, > escaped."""
    text = re.sub(r"([<>|])", r"\\\1", text)
    return re.sub(r"(\$[A-Z_]+)", r"`\1`", text)


def _default(action: argparse.Action) -> str:
    """An option's default as the page shows it: required, off (a flag), a value or nothing."""
    if action.required:
        return "required"
    if action.default is argparse.SUPPRESS or action.default is None:  # --help, --version
        return ""
    if action.nargs == 0:  # a flag: --resume, --no-figures
        return "off"
    value = action.default
    shown = " ".join(map(str, value)) if isinstance(value, tuple | list) else str(value)
    return f"`{shown}`"


def _cli_table(parser: argparse.ArgumentParser, config: type) -> list[str]:
    """Markdown rows: option, setting, default and meaning of every action of ``parser``."""
    fields = {f.name for f in dataclasses.fields(config)}
    formatter = parser._get_formatter()
    rows = ["| option | setting | default | meaning |", "| --- | --- | --- | --- |"]
    for action in parser._actions:
        option = formatter._format_action_invocation(action)
        setting = f"`{action.dest}`" if action.dest in fields else ""
        meaning = re.sub(r" \(default: [^()]*\)$", "", action.help or "")
        if not meaning:
            raise RuntimeError(f"{parser.prog} {option} has no help text to document")
        cells = [f"`{option}`", setting, _default(action), _cell(meaning)]
        rows.append(
            "| " + " | ".join(c.replace("|", "\\|") for c in cells[:3]) + f" | {cells[3]} |"
        )
    return rows


def _write_cli_pages() -> None:
    """``docs/_generated/cli_<command>.md``: usage, description and every option of a command.

    Made from the parser each command runs (:func:`cvae_pyro.cli.config.build_parser`), so the
    page cannot disagree with ``--help``.
    """
    from cvae_pyro.cli.config import COMMANDS, build_parser

    for name in CLI_COMMANDS:
        parser = build_parser(name)
        config = COMMANDS[name]
        formatter = parser.formatter_class(prog=parser.prog, width=USAGE_WIDTH)
        formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
        lines = ["```text", formatter.format_help().strip(), "```", ""]
        lines += [
            f"{parser.description} Settings: {{class}}`~{config.__module__}.{config.__name__}`.",
            "",
        ]
        lines += [*_cli_table(parser, config), ""]
        (GENERATED / f"cli_{name}.md").write_text("\n".join(lines))


def _benchmark(name: str) -> dict:
    """The JSON a benchmark wrote into ``benchmarks/``."""
    return json.loads((BENCHMARKS / name).read_text())


def _machine_line(record: dict) -> str:
    """What a benchmark's JSON records of the machine it ran on, as one sentence."""
    machine = record.get("machine", {"torch_threads": record.get("torch_threads")})
    parts = []
    if "cpu_model" in machine:
        flags = machine["cpu_flags"]
        sets = [flag if flags[flag] else f"no {flag}" for flag in flags]
        parts.append(
            f"{machine['cpu_model']}, {machine['cpu_cores']} cores "
            f"({machine['cpu_logical']} logical; {', '.join(sets)})"
        )
    else:  # a record without the CPU's details
        what = f"processor `{machine['processor']}`" if "processor" in machine else "no CPU"
        parts.append(f"{what} (the CPU is the one named at the top of this page)")
    if machine.get("torch_threads"):
        parts.append(f"{machine['torch_threads']} torch threads")
    if machine.get("torch"):
        parts.append(f"torch {machine['torch']}")
    return "Machine, as the JSON records it: " + "; ".join(parts) + "."


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


#: Names of the parts of a step in step.json, as the page writes them.
STEP_PARTS = {
    "rest of forward and backward": "the forward and backward passes besides the products",
    "Adam": "the fused Adam step",
    "Pyro (tracing, sites, SVI)": "Pyro: tracing the model and guide, the sample sites, SVI",
}
#: Variants of step_ideas.json, as the page writes them.
STEP_IDEAS = {
    "before": "Pyro's validation on inside the steps, ReLU writing a new tensor",
    "validation off": "Pyro's validation off inside the steps",
    "relu in place": "ReLU in place",
    "both": "both (what training runs)",
    "compiled": "both, and `torch.compile` of each network's `forward`",
}
#: Figures of speed.json: key -> what was timed.
SPEED_ROWS = {
    "baseline": "baseline NN epoch (50,000 images)",
    "cvae": "CVAE epoch (`SVI` + `Trace_ELBO`, fused Adam; 50,000 images)",
    "mc_eval": "MC CLL, S = 100 (10,000 test images)",
    "is_eval": "IS CLL, S = 100 (10,000 test images)",
    "elbo_eval": "negative ELBO, S = 100 (10,000 test images)",
    "evaluate_eval": "MC, IS and -ELBO of one CVAE, what `evaluate` runs (10,000 test images)",
}


def _step_table(fp32: dict, bf16: dict) -> list[str]:
    """One SVI step in fp32 and bf16, against its own matrix products."""

    def both(show) -> list[str]:
        return [show(fp32), show(bf16)]

    rows = [
        [
            "one SVI step",
            *both(lambda r: f"{r['step_ms']:.2f} ms ({r['step_images_per_second']:,.0f} images/s)"),
        ],
        [
            f"its {fp32['matmuls_per_step']} matrix products alone ({fp32['matmul_gflop_per_step']:.2f} GFLOP)",
            *both(lambda r: f"{r['matmul_ms']:.2f} ms ({r['matmul_gflops']:.0f} GFLOP/s)"),
        ],
        ["**step / its matrix products**", *both(lambda r: f"**{r['step_over_matmuls']:.2f}x**")],
        [
            "the same loss and Adam in plain PyTorch (no Pyro)",
            *both(lambda r: f"{r['plain_step_ms']:.2f} ms"),
        ],
        [
            "its forward and backward passes alone",
            *both(lambda r: f"{r['forward_backward_ms']:.2f} ms"),
        ],
    ]
    for key, label in STEP_PARTS.items():
        rows.append(
            [
                f"where the rest goes: {label}",
                *both(lambda r, k=key: f"{r['breakdown_ms'][k]:.2f} ms"),
            ]
        )
    rows.append(
        [
            "bf16 products against fp32, by the probe in the same process",
            *both(lambda r: f"{r['bf16_probe_speedup']:.2f}x"),
        ]
    )
    batch = fp32["batch_size"]
    return _table([f"{fp32['quadrants']} quadrant, batch {batch}", "fp32", "bf16 (autocast)"], rows)


def _ideas_table(ideas: dict) -> list[str]:
    """Each step idea's milliseconds a step and speed against the first variant."""
    rows = [
        [
            STEP_IDEAS.get(key, key),
            f"{ms:.2f}",
            f"{ideas['speedup_over_before'][key]:.3f}x",
            f"{ideas['first_step_seconds'][key]:.2f}",
        ]
        for key, ms in ideas["step_ms"].items()
    ]
    header = [
        "variant (1 quadrant, batch 128, fp32)",
        "ms a step",
        "speed against the first row",
        "first step, s",
    ]
    return _table(header, rows)


def _peer_table(peer: dict) -> list[str]:
    """Each round of ours against Pyro's example, then the median and range."""
    rows = [
        [
            str(r["round"]),
            "ours" if r["order"][0] == "ours" else "Pyro's",
            f"{r['matmul_peak_gflops']:.0f}",
            f"{r['ours']['images_per_second']:,.0f}",
            f"{r['ours']['fraction_of_peak']:.0%}",
            f"{r['peer']['images_per_second']:,.0f}",
            f"{r['peer']['fraction_of_peak']:.0%}",
            f"{r['ratio_images_per_second']:.2f}",
        ]
        for r in peer["rounds"]
    ]
    s = peer["summary"]

    def span(key: str, form: str) -> str:
        return f"{format(s[key]['median'], form)} ({format(s[key]['min'], form)} to {format(s[key]['max'], form)})"

    rows.append(
        [
            "**median (range)**",
            "",
            span("matmul_peak_gflops", ".0f"),
            span("ours_images_per_second", ",.0f"),
            span("ours_fraction_of_peak", ".0%"),
            span("peer_images_per_second", ",.0f"),
            span("peer_fraction_of_peak", ".0%"),
            f"**{span('ratio_images_per_second', '.2f')}**",
        ]
    )
    header = [
        "round",
        "first",
        "matmul peak, GFLOP/s",
        "ours, images/s",
        "ours, % of peak",
        "Pyro's example, images/s",
        "Pyro's, % of peak",
        "ratio",
    ]
    return _table(header, rows)


def _speed_table(speed: dict) -> list[str]:
    """Seconds, images per second, GFLOP/s and % of the peak of each timed code path."""
    rows = [
        [
            label,
            f"{speed[key]['seconds']:.2f}",
            f"{speed[key]['images_per_second']:,.0f}",
            f"{speed[key]['gflops']:.0f}",
            f"{speed[key]['fraction_of_peak']:.0%}",
        ]
        for key, label in SPEED_ROWS.items()
        if key in speed
    ]
    return _table(["what is timed", "seconds", "images/s", "GFLOP/s", "% of peak"], rows)


def _precision_table(precision: dict) -> list[str]:
    """Test-set numbers of the same model trained in fp32 and in bf16."""
    fp32, bf16 = precision["runs"]["fp32"], precision["runs"]["bf16"]
    labels = {
        "baseline NN": "NN, exact, nats",
        "cvae MC": "CVAE, MC (S = 100), nats",
        "cvae IS": "CVAE, IS (S = 100), nats",
        "cvae -ELBO": "CVAE, negative ELBO (S = 100), nats",
    }
    rows = [
        [
            label,
            f"{fp32['test'][key]:.2f}",
            f"{bf16['test'][key]:.2f}",
            f"{precision['bf16_minus_fp32_nats'][key]:+.2f}",
        ]
        for key, label in labels.items()
    ]

    def run(r: dict) -> str:
        return f"{r['epochs']} ({r['best_epoch']}), {r['best_validation_loss']:.2f}"

    for model, name in (("baseline", "NN"), ("cvae", "CVAE")):
        label = f"{name}: epochs run (best), best validation loss"
        rows.append([label, run(fp32[model]), run(bf16[model]), ""])
    return _table(["1 quadrant, seed 0, test set", "fp32", "bf16", "bf16 - fp32"], rows)


def _write_performance_tables() -> None:
    """``docs/_generated/performance_*.md``: the tables of the performance page.

    Every figure is read from the JSON a benchmark wrote; each table is followed by
    what that JSON records of the machine.
    """
    step, step_bf16 = _benchmark("step.json"), _benchmark("step_bf16.json")
    ideas, peer = _benchmark("step_ideas.json"), _benchmark("peer.json")
    speed, precision = _benchmark("speed.json"), _benchmark("precision.json")
    breakdown = step["breakdown_ms"]
    peaks = speed["matmul_peaks_gflops"]
    tables = {
        "step": [
            *_step_table(step, step_bf16),
            "",
            f"In fp32, Pyro costs {breakdown['Pyro (tracing, sites, SVI)']:.2f} ms of the "
            f"{step['step_ms']:.2f} ms step "
            f"({breakdown['Pyro (tracing, sites, SVI)'] / step['step_ms']:.0%}); without Pyro "
            f"the step is {step['plain_step_ms'] / step['matmul_ms']:.2f}x its matrix products, "
            f"and its forward and backward passes alone "
            f"{step['forward_backward_ms'] / step['matmul_ms']:.2f}x.",
            "",
            _machine_line(step),
        ],
        "ideas": [*_ideas_table(ideas), "", _machine_line(ideas)],
        "peer": [
            *_peer_table(peer),
            "",
            f"Precision {peer['precision']}, {peer['quadrants']} quadrant given, "
            f"FLOPs per training image: ours {peer['train_flops_per_image']['ours'] / 1e6:.2f} M, "
            f"Pyro's example {peer['train_flops_per_image']['peer'] / 1e6:.2f} M.",
            "",
            _machine_line(peer),
        ],
        "speed": [
            *_speed_table(speed),
            "",
            f"Each figure is the repeat (of {speed['repeats']}) with the median fraction of the "
            f"fp32 matmul peak measured just before it; the {len(peaks)} peaks measured in the "
            f"run ranged over {min(peaks):.0f}-{max(peaks):.0f} GFLOP/s.",
            "",
            _machine_line(speed),
        ],
        "precision": [
            *_precision_table(precision),
            "",
            f"The bf16 probe, run before training, found bf16 products at "
            f"{precision['bf16_probe_speedup']:.2f}x the speed of fp32 ones. The training "
            "seconds in the JSON are not speed figures: the two runs shared the machine.",
        ],
    }
    for name, lines in tables.items():
        (GENERATED / f"performance_{name}.md").write_text("\n".join(lines) + "\n")


#: The package's three parts, each a place in it: (title, dotted prefix of its modules).
PARTS = [
    ("The paper: data, quadrants, networks, models, objectives, estimators, the SVI loop", ""),
    (
        "Beyond the paper: other conditions, any mask, label generation and its classifier, pictures, figures",
        "beyond.",
    ),
    ("The machinery of the commands: options, run folders, checkpoints, files, tables", "cli."),
]
#: The paper's modules in the order a reader meets them.
READING_ORDER = [
    "data",
    "masks",
    "networks",
    "models",
    "conditions",
    "objectives",
    "estimators",
    "fit",
]
#: ``python -m`` entry points: short modules around cvae_pyro.cli, not documented apart.
SHIMS = {"train", "evaluate", "reproduce", "sample", "complete", "beyond", "cli"}


def _part_modules() -> list[tuple[str, list[str]]]:
    """Each part's title and its public modules (dotted names under ``cvae_pyro``)."""
    import cvae_pyro

    names = [
        m.name.removeprefix("cvae_pyro.")
        for m in pkgutil.walk_packages(cvae_pyro.__path__, "cvae_pyro.")
        if not m.name.rsplit(".", 1)[-1].startswith("_")
    ]
    names = ["cli"] + [n for n in names if n not in SHIMS]  # cli: the commands' entry
    parts = []
    for title, prefix in PARTS:
        if prefix:
            found = [n for n in names if n.startswith(prefix) or n == prefix.rstrip(".")]
        else:
            found = [n for n in names if "." not in n and n != "cli"]
            found.sort(key=lambda n: READING_ORDER.index(n) if n in READING_ORDER else 99)
        parts.append((title, found))
    return parts


LAYERS = _part_modules()


def _summary(module: str) -> str:
    """The first line of a module's docstring."""
    doc = importlib.import_module(f"cvae_pyro.{module}").__doc__ or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _write_api_pages() -> None:
    """``docs/api/``: the modules grouped by part with a line each, and one page per module.

    Generated at every build from the package's folders, so no module goes undocumented.
    """
    import cvae_pyro

    listed = [m for _, modules in LAYERS for m in modules]
    api = DOCS / "api"
    shutil.rmtree(api, ignore_errors=True)
    api.mkdir()
    exported = [
        f"   ~{getattr(cvae_pyro, name).__module__}.{name}" for name in sorted(cvae_pyro.__all__)
    ]
    index = [
        "# API reference",
        "",
        "The package in three parts: the paper's modules import only each other; what goes "
        "beyond the paper builds on them; the machinery serves the commands. One line per "
        "module; its page has the rest.",
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


#: Rows of the landing page's table: (model, estimator) in run.json -> the row's name.
SEED_ROWS = {
    ("baseline", "NN"): "NN (deterministic baseline), exact",
    ("cvae", "MC"): "CVAE, Monte Carlo (S = 100)",
    ("cvae", "IS"): "**CVAE, importance sampling (S = 100)**",
    ("cvae", "-ELBO"): "CVAE, negative ELBO (a bound, not a CLL)",
}
#: What Pyro's CVAE tutorial reports for 1, 2 and 3 quadrants, in the same units.
PYRO_TUTORIAL = {
    "*Pyro's CVAE tutorial: NN*": (100.4, 61.9, 25.4),
    '*Pyro\'s CVAE tutorial: "CVAE" (a negative ELBO, 10 particles)*': (71.8, 51.0, 24.2),
}


def _write_seed_table() -> None:
    """``docs/_generated/cll_seeds_summary.md``: mean and spread over seeds of the pooled run.

    Read from the pooled ``run.json`` (``reproduce --combine``): per row and quadrant count,
    the mean over seeds of the test-set estimate ± its standard deviation over seeds, then
    Pyro's tutorial numbers.
    """
    import statistics

    rows = json.loads((GENERATED / "run_seeds.json").read_text())["rows"]
    lines = _table(["", "1 quadrant", "2 quadrants", "3 quadrants"], [])
    for key, name in SEED_ROWS.items():
        cells = []
        for quadrants in (1, 2, 3):
            nll = [
                r["nll_mean"]
                for r in rows
                if (r["model"], r["estimator"]) == key and r["quadrants"] == quadrants
            ]
            if len(nll) < 2:
                raise RuntimeError(f"the pooled run.json has {len(nll)} seeds of {key}")
            cell = f"{statistics.mean(nll):.2f}{NBSP}±{NBSP}{statistics.stdev(nll):.2f}"
            cells.append(f"**{cell}**" if name.startswith("**") else cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for name, numbers in PYRO_TUTORIAL.items():
        lines.append(f"| {name} | " + " | ".join(f"*{n}*" for n in numbers) + " |")
    (GENERATED / "cll_seeds_summary.md").write_text("\n".join(lines) + "\n")


def _write_layers() -> None:
    """``docs/_generated/layers.md``: the module map, one row per module of :data:`LAYERS`."""
    rows = []
    for part, modules in LAYERS:
        for i, module in enumerate(modules):
            where = part.split(":")[0] if i == 0 else ""
            rows.append([where, f"{{doc}}`{module} </api/{module}>`", _cell(_summary(module))])
    lines = _table(["part", "module", "what it holds"], rows)
    (GENERATED / "layers.md").write_text("\n".join(lines) + "\n")


_validate_notebooks()
_copy_inputs()
_write_seed_table()
_write_cli_pages()
_write_performance_tables()
_write_api_pages()
_write_layers()

project = "cvae_pyro"
author = "cvae_pyro developers"
copyright = "2026, cvae_pyro developers"
release = _version()  # the package version, from pyproject.toml

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
