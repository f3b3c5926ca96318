#!/usr/bin/env bash
# Builds the documentation site (MkDocs + Material, docs/ and mkdocs.yml)
# strictly and serves it on http://127.0.0.1:8000 (or: `build` to write
# site/ only). The docs tools come with the test set-up (.venv).
#   bash launch/docs.sh [serve|build]
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${HCSC_VENV:-.venv}"
bash launch/setup.sh test
case "${1:-serve}" in
  build) exec "$venv/bin/python" -m mkdocs build --strict ;;
  serve) exec "$venv/bin/python" -m mkdocs serve --strict ;;
  *) echo "usage: bash launch/docs.sh [serve|build]" >&2; exit 2 ;;
esac
