#!/usr/bin/env bash
# Type-checks, lints, builds, then runs the tests with node:test (through tsx).
# Assumes scripts/setup.sh has run. Every step runs even if an earlier one failed;
# the exit status is non-zero if any step failed.
#
# Usage: scripts/test.sh [PATH...] [NODE-TEST-OPTION...]
#   PATH          test files or directories to take *.test.ts from
#                 (default: test/ and src/); e.g. scripts/test.sh test/openpgp
#   NODE-OPTION   anything starting with '-' goes to node, e.g. --test-name-pattern=merge
# Environment:
#   MS_TEST_CONCURRENCY  test files run at once (default 1: tests start servers)
#   MS_TEST_TIMEOUT      per-test timeout in ms (default 600000)
#   MS_TEST_REPORTER     node:test reporter (default tap, which ends in "# pass N")
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
BIN=$REPO/node_modules/.bin

say() { printf 'test: %s\n' "$*" >&2; }
die() { printf 'test: error: %s\n' "$*" >&2; exit 2; }

[[ -x $BIN/tsc && -x $BIN/biome && -d node_modules/tsx ]] || die "dependencies are not installed; run: bash scripts/setup.sh"

paths=() node_opts=()
for arg in "$@"; do
  if [[ $arg == -* ]]; then node_opts+=("$arg"); else paths+=("$arg"); fi
done
filtered=$(( ${#paths[@]} > 0 ))
if ((!filtered)); then
  for p in test src; do [[ -d $p ]] && paths+=("$p"); done
fi

# Node 20's runner expands no globs and does not look for .ts files, so list them here:
# sorted, skipping node_modules and dot-directories (scratch space such as test/.tmp).
files=()
for p in "${paths[@]}"; do
  if [[ -f $p ]]; then
    files+=("$p")
  elif [[ -d $p ]]; then
    while IFS= read -r f; do files+=("$f"); done < <(
      find "${p%/}" -mindepth 1 \( -name node_modules -o -name '.*' \) -prune -o -type f -name '*.test.ts' -print | sort
    )
  else
    die "no such test file or directory: \"$p\""
  fi
done

export TZ=UTC LC_ALL=C.UTF-8
declare -A result
failed=0
start=$SECONDS

step() {
  local name=$1
  shift
  say "$name: $*"
  if "$@"; then
    result[$name]=ok
  else
    result[$name]=FAILED
    failed=1
  fi
}

step typecheck "$BIN/tsc" --noEmit -p tsconfig.json
step typecheck-extension "$BIN/tsc" --noEmit -p extension/tsconfig.json
step lint "$BIN/biome" lint --error-on-warnings src test bench scripts extension
step build node --import tsx scripts/build.ts
[[ ${result[build]} == ok ]] && touch dist/.monkeysphere-build

summary="no test files"
if ((${#files[@]} == 0)); then
  if ((filtered)); then
    say "tests: no *.test.ts under: ${paths[*]}"
    failed=1
  else
    say "tests: no *.test.ts files yet"
  fi
else
  log=$(mktemp -t ms-test.XXXXXX)
  trap 'rm -f "$log"' EXIT
  say "tests: ${#files[@]} files"
  rc=0
  node --import tsx --test \
    --test-reporter="${MS_TEST_REPORTER:-tap}" --test-reporter-destination=stdout \
    --test-concurrency="${MS_TEST_CONCURRENCY:-1}" \
    --test-timeout="${MS_TEST_TIMEOUT:-600000}" \
    "${node_opts[@]}" "${files[@]}" </dev/null | tee "$log" || rc=$?
  pass=$(sed -nE 's/^(# |ℹ )pass ([0-9]+)$/\2/p' "$log" | tail -n1)
  fail=$(sed -nE 's/^(# |ℹ )fail ([0-9]+)$/\2/p' "$log" | tail -n1)
  if [[ -z $pass || -z $fail ]]; then
    summary="tests FAILED: no closing summary from node:test (exit $rc)"
    failed=1
  elif ((rc != 0 || fail != 0)); then
    summary="tests FAILED: $pass pass, $fail fail (exit $rc)"
    failed=1
  else
    summary="tests: $pass pass, 0 fail"
  fi
fi

say "typecheck ${result[typecheck]}, extension typecheck ${result[typecheck-extension]}, lint ${result[lint]}, build ${result[build]}, $summary ($((SECONDS - start)) s)"
exit "$failed"
