#!/usr/bin/env bash
# The main job (bootstraps .venv first). Extra arguments go to the command.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/s2w-models quickstart "$@"
