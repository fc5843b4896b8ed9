#!/usr/bin/env bash
# Writes the lock files from pyproject.toml, pinned with hashes, for Python 3.11 on any
# platform: requirements.lock (what `ktl` needs) and requirements-dev.lock (also the test
# tools). scripts/install.sh installs from them; tests/test_dependencies.py checks they
# cover pyproject.toml.
#   bash scripts/lock.sh             # after adding or changing a dependency (other pins kept)
#   bash scripts/lock.sh --upgrade   # every pin to the newest version allowed
set -euo pipefail
cd "$(dirname "$0")/.."

compile=(.venv/bin/uv pip compile pyproject.toml --universal --python-version 3.11
         --generate-hashes --quiet)
[[ "${1:-}" == "--upgrade" ]] && compile+=(--upgrade)
"${compile[@]}" -o requirements.lock
"${compile[@]}" --extra dev -o requirements-dev.lock
