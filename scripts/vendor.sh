#!/usr/bin/env bash
# Vendors the pinned browser libraries from the npm registry into server/static/vendor/,
# each with its licence, and records name, version and sha256 of every copied file in
# server/static/vendor/VERSIONS.
#   bash scripts/vendor.sh           # download (again), copy, write VERSIONS
#   bash scripts/vendor.sh --check   # verify the copied files against VERSIONS (no network)
# To upgrade: change the version and integrity below (`npm view NAME@VERSION dist.integrity`).
set -euo pipefail
cd "$(dirname "$0")/.."

VENDOR=server/static/vendor
# name  version  tarball integrity (sha512, as the npm registry publishes it)  files to copy
PACKAGES=(
    "hls.js 1.7.4 sha512-3GlxGdPvT2YHvQYOt+yOzT/DEior/qJVNIylHA77kgeoBTdQQqi70GwefNEUmHQeNGyjC8U62+bruqW/Tpm+tg== dist/hls.min.js LICENSE"
    "tus-js-client 4.3.1 sha512-ZLeYmjrkaU1fUsKbIi8JML52uAocjEZtBx4DKjRrqzrZa0O4MYwT6db+oqePlspV+FxXJAyFBc/L5gwUi2OFsg== dist/tus.min.js LICENSE"
)

sha256() { sha256sum "$1" | cut -d' ' -f1; }

check() {
    [[ -f $VENDOR/VERSIONS ]] || { echo "Mangler $VENDOR/VERSIONS; kjør scripts/vendor.sh." >&2; return 1; }
    local failed=0 name version sum file
    for spec in "${PACKAGES[@]}"; do
        read -r name version _ <<<"$spec"
        grep -q "^$name $version " "$VENDOR/VERSIONS" || {
            echo "VERSIONS har ikke $name $version; kjør scripts/vendor.sh." >&2
            failed=1
        }
    done
    while read -r name version sum file; do
        [[ -z $name || $name == \#* ]] && continue
        if [[ ! -f $VENDOR/$file ]]; then
            echo "Mangler $VENDOR/$file ($name $version)." >&2
            failed=1
        elif [[ $(sha256 "$VENDOR/$file") != "$sum" ]]; then
            echo "Sjekksummen stemmer ikke for $VENDOR/$file ($name $version)." >&2
            failed=1
        fi
    done <"$VENDOR/VERSIONS"
    ((failed == 0)) && echo "Alle vendorfiler stemmer med $VENDOR/VERSIONS."
    return "$failed"
}

fetch() {
    local name=$1 version=$2 integrity=$3 tmp=$4
    local got
    got=$(cd "$tmp" && npm pack --silent --json "$name@$version" 2>/dev/null |
        python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["integrity"])')
    if [[ $got != "$integrity" ]]; then
        echo "Tarballen for $name@$version har integritet $got, ventet $integrity." >&2
        return 1
    fi
    mkdir -p "$tmp/$name"
    tar -xzf "$tmp/$name-$version.tgz" -C "$tmp/$name"
}

vendor() {
    local staging name version integrity files file dest
    tmp=$(mktemp -d)  # global, so the EXIT trap still sees it
    trap 'rm -rf "$tmp"' EXIT
    staging=$tmp/staging
    mkdir -p "$staging"
    echo "# name version sha256 file (relative to $VENDOR); written by scripts/vendor.sh" \
        >"$staging/VERSIONS"
    for spec in "${PACKAGES[@]}"; do
        read -r name version integrity files <<<"$spec"
        fetch "$name" "$version" "$integrity" "$tmp"
        mkdir -p "$staging/$name"
        for file in $files; do
            dest=$name/$(basename "$file")
            cp "$tmp/$name/package/$file" "$staging/$dest"
            echo "$name $version $(sha256 "$staging/$dest") $dest" >>"$staging/VERSIONS"
        done
        echo "$name $version"
    done
    # Replace only what this script owns, and only once everything was fetched.
    mkdir -p "$VENDOR"
    for spec in "${PACKAGES[@]}"; do
        read -r name _ <<<"$spec"
        rm -rf "${VENDOR:?}/$name"
        cp -r "$staging/$name" "$VENDOR/$name"
    done
    cp "$staging/VERSIONS" "$VENDOR/VERSIONS"
    check
}

case "${1:-}" in
    --check) check ;;
    "") vendor ;;
    *) echo "Bruk: scripts/vendor.sh [--check]" >&2; exit 2 ;;
esac
