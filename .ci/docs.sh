#!/usr/bin/env bash
# Docs in CI: npm for the first MathJax install and Debian's Chromium for the browser
# check (both installed when missing), the offline docs build (warnings are errors) and
# the check of the rendered pages. Expects the project venv active with the docs extra
# installed.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v npm >/dev/null || missing+=(npm)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The build needs no dataset: the demo page's test digits are committed
# (docs/_static/demo/inputs.js) and its model is the shipped
# cvae_pyro/pretrained/mnist-mask.pt unless CVAE_PYRO_DEMO_CHECKPOINT names another.
bash docs/build.sh
python docs/check_rendered.py
