#!/usr/bin/env bash
# Docs in CI: Debian's Chromium for the browser check, the offline docs build (warnings
# are errors) and the check of the rendered pages. Expects the project venv active with
# the docs extra installed.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
bash docs/build.sh
python docs/check_rendered.py
