#!/usr/bin/env bash
# Makes the project's one Python virtual environment from the pinned requirements*.txt files in
# this folder, with every transitive version held by constraints.txt, outside the repository
# (~/.cache/sovereign-stack/python), keyed by a hash of those files and the interpreter's
# version, so a warm machine installs nothing. Wheels are cached in .../python/pip.
# requirements-nodeps*.txt are installed with --no-deps, after the others.
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
  reqs=() nodeps=()
  for f in "$here"/requirements*.txt; do
    case "$f" in
      */requirements-nodeps*) nodeps+=(-r "$f") ;;
      *) reqs+=(-r "$f") ;;
    esac
  done
  pip=("$venv/bin/pip" install --disable-pip-version-check --no-input -q)
  "${pip[@]}" -c "$here/constraints.txt" "${reqs[@]}" >&2
  # requirements-nodeps*.txt: exact sets pinned by hand where a package's declared requirements
  # are far more than it needs here (torch's CUDA toolkit); pip would warn of what is left out.
  if ((${#nodeps[@]})); then "${pip[@]}" --no-deps --no-warn-conflicts "${nodeps[@]}" >&2; fi
  touch "$venv/.complete"
fi
if [[ "${1:-}" == "--freeze" ]]; then
  "$venv/bin/pip" freeze --exclude-editable
  exit 0
fi
echo "$venv"
