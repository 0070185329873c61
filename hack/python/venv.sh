#!/usr/bin/env bash
# Makes the project's one Python virtual environment from the pinned requirements*.txt files in
# this folder, with every transitive version held by constraints.txt, outside the repository
# (~/.cache/sovereign-stack/python), keyed by a hash of those files and the interpreter's
# version, so a warm machine installs nothing. Wheels are cached in .../python/pip.
#   venv.sh           install if needed, then print the venv's path
#   venv.sh --path    print the path; exit 1 when it is not installed yet
#   venv.sh --freeze  install if needed, then print what it holds (to refresh constraints.txt)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="${PYTHON:-python3}"
cache="${SOVEREIGN_STACK_CACHE:-$HOME/.cache/sovereign-stack}/python"
key="$( { "$python" --version 2>&1; cat "$here"/requirements*.txt "$here"/constraints.txt; } | sha256sum | cut -c1-12)"
venv="$cache/venv-$key"

if [[ "${1:-}" == "--path" ]]; then
  [[ -f "$venv/.complete" ]] || { echo "python venv not installed: run hack/python/venv.sh" >&2; exit 1; }
  echo "$venv"
  exit 0
fi

if [[ ! -f "$venv/.complete" ]]; then
  rm -rf "$venv"
  mkdir -p "$cache"
  "$python" -m venv "$venv"
  export PIP_CACHE_DIR="$cache/pip"
  reqs=()
  for f in "$here"/requirements*.txt; do reqs+=(-r "$f"); done
  "$venv/bin/pip" install --disable-pip-version-check --no-input -q -c "$here/constraints.txt" "${reqs[@]}" >&2
  touch "$venv/.complete"
fi
if [[ "${1:-}" == "--freeze" ]]; then
  "$venv/bin/pip" freeze --exclude-editable
  exit 0
fi
echo "$venv"
