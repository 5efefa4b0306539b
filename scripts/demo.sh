#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then runs the project's main job on the
# embedded defaults (scripts/demo-run.sh). Arguments go to demo-run.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
if [[ -f scripts/demo-run.sh ]]; then
  exec bash scripts/demo-run.sh "$@"
fi
echo "demo: setup is complete, but the demo itself (scripts/demo-run.sh) is not written yet" >&2
echo "demo: hint: run the tests with: bash scripts/test.sh" >&2
