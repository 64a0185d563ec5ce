#!/usr/bin/env bash
# Build the HTML documentation into docs/_build/html, offline, warnings as errors.
#
#   bash docs/build.sh            # from the repository root, project venv active
#
# Installs MathJax 3 from npm into docs/_static/mathjax/ when it is missing (the
# folder is gitignored), so equations render without a CDN. Then exports the shipped
# mask CVAE for the in-browser demo page (docs/export_demo.py: $CVAE_PYRO_DEMO_CHECKPOINT
# names another checkpoint, $CVAE_PYRO_DATA the MNIST folder its test digits come from)
# and, after Sphinx, prints what the demo page weighs. Needs the docs extra
# (pip install -e ".[docs]") and npm. Extra arguments go to sphinx-build.
set -euo pipefail

DOCS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MATHJAX_DIR="$DOCS/_static/mathjax"
MATHJAX_VERSION="3"  # the major version mathjax_path in conf.py is written for

if [[ ! -f "$MATHJAX_DIR/tex-mml-chtml.js" ]]; then
    echo "docs/build.sh: installing mathjax@$MATHJAX_VERSION into $MATHJAX_DIR"
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    npm install --prefix "$tmp" --no-audit --no-fund --silent "mathjax@$MATHJAX_VERSION"
    rm -rf "$MATHJAX_DIR"
    mkdir -p "$(dirname "$MATHJAX_DIR")"
    cp -r "$tmp/node_modules/mathjax/es5" "$MATHJAX_DIR"
fi

cd "$DOCS/.."
start=$(date +%s)
python docs/export_demo.py
python -m sphinx -W --keep-going -b html docs docs/_build/html "$@"
python docs/export_demo.py --measure
echo "docs/build.sh: built docs/_build/html/index.html in $(( $(date +%s) - start )) s"
