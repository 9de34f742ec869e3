#!/usr/bin/env bash
# Copy the shared package into each function folder, for `fn deploy`.
#
# `fn deploy` builds a function with its own folder as the build context, so it
# cannot reach shared/. This script puts a copy of shared/ocifn beside each
# func.py; the Fn python image puts /function on PYTHONPATH, so `import ocifn`
# finds it. The package's own dependencies (oci, and oracledb for the drain)
# come from each function's pinned requirements.txt.
#
# Usage: deploy/vendor_shared.sh [--clean] [FUNCTION ...]
#   no FUNCTION: every folder under functions/
#   --clean:     remove the copies instead
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
clean=0
if [[ "${1:-}" == "--clean" ]]; then
    clean=1
    shift
fi
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi

if [[ $# -eq 0 ]]; then
    set -- $(cd "$root/functions" && ls -d */ | tr -d /)
fi

for name in "$@"; do
    folder="$root/functions/$name"
    if [[ ! -f "$folder/func.py" ]]; then
        echo "no function at functions/$name (func.py missing)" >&2
        exit 2
    fi
    target="$folder/ocifn"
    rm -rf "$target"
    if [[ $clean -eq 1 ]]; then
        echo "removed functions/$name/ocifn"
        continue
    fi
    mkdir -p "$target"
    (cd "$root/shared/ocifn" && find . -name '*.py' -print0 |
        xargs -0 -I{} cp --parents {} "$target/")
    # the copy is a build input, never a source: keep it out of git
    printf '*\n' > "$target/.gitignore"
    echo "copied shared/ocifn into functions/$name/ocifn"
done
