#!/usr/bin/env bash
# Runs every test binary (and tests/cli_*.sh scripts), adds up their "N passed, N failed" lines and
# prints the suite total as the last line. Exits non-zero when any test fails or a binary crashes.
set -u
cd "$(dirname "$0")/.."
export BIN="${BIN:-bin}" BUILD="${BUILD:-build}"
export LR="$PWD/$BIN/lesionrank"
export TMPDIR_TESTS="$(mktemp -d)"
trap 'rm -rf "$TMPDIR_TESTS"' EXIT
export BLIS_NUM_THREADS="${BLIS_NUM_THREADS:-1}" OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"
passed=0; failed=0
run_one() {
  local name="$1"; shift
  local out; out="$(mktemp)"
  echo "== $name"
  "$@" 2>&1 | tee "$out"
  local rc=${PIPESTATUS[0]}
  local line; line="$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -1)"
  if [ -n "$line" ]; then
    local p f; p="$(echo "$line" | awk '{print $1}')"; f="$(echo "$line" | awk '{print $3}')"
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then echo "FAIL $name exited $rc"; failed=$((failed + 1)); fi
  else
    echo "FAIL $name: exited $rc without a summary line"; failed=$((failed + 1))
  fi
  rm -f "$out"
}
for t in "$@"; do run_one "$(basename "$t")" "$t"; done
for s in tests/cli_*.sh; do [ -e "$s" ] && run_one "$(basename "$s")" bash "$s"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
