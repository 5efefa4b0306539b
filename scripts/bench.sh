#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then runs every bench/*.bench.ts in name order
# with node + tsx. Each benchmark prints its own table. Arguments are passed to every
# benchmark. Exits non-zero if any benchmark failed (the others still run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
shopt -s nullglob
benches=(bench/*.bench.ts)
if ((${#benches[@]} == 0)); then
  echo "bench: no bench/*.bench.ts files yet" >&2
  exit 0
fi
export TZ=UTC LC_ALL=C.UTF-8
failed=()
for b in "${benches[@]}"; do
  echo "bench: $b" >&2
  node --import tsx "$b" "$@" </dev/null || failed+=("$b")
done
if ((${#failed[@]} > 0)); then
  echo "bench: error: failed: ${failed[*]}" >&2
  exit 1
fi
