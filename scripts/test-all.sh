#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then runs every check and test (scripts/test.sh).
# This is what CI runs (.ci/run). Arguments go to scripts/test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec bash scripts/test.sh "$@"
