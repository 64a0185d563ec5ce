#!/usr/bin/env bash
# Build the HTML documentation into docs/_build/html, offline, warnings as errors.
#
#   pip install -e ".[docs]" && bash docs/build.sh    # from the repository root
#
# Needs no dataset. First checks, in one line each, what the build needs: Python with
# the docs extra and the package, the committed demo inputs, the shipped mask CVAE (or
# $CVAE_PYRO_DEMO_CHECKPOINT), the results and benchmark files the pages show, and npm
# when MathJax is not installed yet. Then installs MathJax 3 from npm into
# docs/_static/mathjax/ when it is missing (the folder is gitignored; later builds are
# offline), exports the mask CVAE for the in-browser demo page (docs/export_demo.py),
# runs Sphinx, and prints what the demo page weighs. Extra arguments go to sphinx-build.
set -euo pipefail

DOCS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MATHJAX_DIR="$DOCS/_static/mathjax"
MATHJAX_VERSION="3"  # the major version mathjax_path in conf.py is written for
cd "$DOCS/.."

fail() { echo "docs/build.sh: $*" >&2; exit 1; }

command -v python >/dev/null || fail "no python on PATH: activate the project's venv (. .venv/bin/activate)"
python - <<'EOF' || exit 1
import ast, importlib.util, os, sys
from pathlib import Path

def fail(message):
    sys.exit(f"docs/build.sh: {message}")

extra = ("sphinx", "myst_nb", "furo", "sphinx_copybutton")
missing = [name for name in extra if importlib.util.find_spec(name) is None]
if missing:
    fail(f"the docs extra is not installed (no {', '.join(missing)}): pip install -e \".[docs]\"")
if importlib.util.find_spec("cvae_pyro") is None:
    fail("cvae_pyro is not importable: pip install -e \".[docs]\" from the repository root")

def conf_constant(name):
    for node in ast.parse(Path("docs/conf.py").read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == name for t in node.targets):
            return ast.literal_eval(node.value)

results = Path(os.environ.get("CVAE_PYRO_RESULTS_DIR", "results"))
for name in conf_constant("RESULT_FILES"):
    if not (results / name).is_file():
        fail(f"{results / name} is missing: run `python -m cvae_pyro.reproduce` (see README), "
             "or set CVAE_PYRO_RESULTS_DIR to a folder that holds its results")
for name in ("step.json", "step_bf16.json", "step_ideas.json", "peer.json", "speed.json",
             "precision.json"):
    if not Path("benchmarks", name).is_file():
        fail(f"benchmarks/{name} is missing: the performance page reads it (see docs/performance.md)")
if not Path("docs/_static/demo/inputs.js").is_file():
    fail("docs/_static/demo/inputs.js is missing: it is committed; restore it with "
         "`git checkout docs/_static/demo/inputs.js`, or write it with "
         "`python docs/export_demo.py --write-inputs --data-dir MNIST_DIR`")
checkpoint = Path(os.environ.get("CVAE_PYRO_DEMO_CHECKPOINT") or "cvae_pyro/pretrained/mnist-mask.pt")
if not checkpoint.is_file():
    fail(f"{checkpoint} is missing: the demo page needs a mask CVAE checkpoint "
         "(unset CVAE_PYRO_DEMO_CHECKPOINT to use the shipped one)")
EOF
if [[ ! -f "$MATHJAX_DIR/tex-mml-chtml.js" ]] && ! command -v npm >/dev/null; then
    fail "npm is needed once, to install MathJax into docs/_static/mathjax/: install Node.js's npm (apt-get install npm)"
fi

if [[ ! -f "$MATHJAX_DIR/tex-mml-chtml.js" ]]; then
    echo "docs/build.sh: installing mathjax@$MATHJAX_VERSION into $MATHJAX_DIR"
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    npm install --prefix "$tmp" --no-audit --no-fund --silent "mathjax@$MATHJAX_VERSION" ||
        fail "npm could not install mathjax@$MATHJAX_VERSION (the first build needs the npm registry)"
    rm -rf "$MATHJAX_DIR"
    mkdir -p "$(dirname "$MATHJAX_DIR")"
    cp -r "$tmp/node_modules/mathjax/es5" "$MATHJAX_DIR"
fi

start=$(date +%s)
python docs/export_demo.py
python -m sphinx -W --keep-going -b html docs docs/_build/html "$@"
python docs/export_demo.py --measure
echo "docs/build.sh: built docs/_build/html/index.html in $(( $(date +%s) - start )) s"
