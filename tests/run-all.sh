#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make test`: unit tests and corpus replays (meson test), the end-to-end suite (root,
# network namespaces) and a short fuzz run; prints one summary line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-test}
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
FUZZ_SMOKE_SECONDS=${FUZZ_SMOKE_SECONDS:-10}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

passed=0 failed=0
count() { # count LINE: shows "X: N passed, N failed" and adds it up
        echo "$1"
        local p f
        p=$(sed -n 's/.*\b\([0-9]\+\) passed, \([0-9]\+\) failed.*/\1/p' <<<"$1")
        f=$(sed -n 's/.*\b\([0-9]\+\) passed, \([0-9]\+\) failed.*/\2/p' <<<"$1")
        passed=$((passed + ${p:-0}))
        failed=$((failed + ${f:-1}))
}

echo "== unit tests and fuzz-corpus replays"
rm -f "$BUILD/meson-logs/testlog.json"
meson test -C "$BUILD" --print-errorlogs
if [[ -f $BUILD/meson-logs/testlog.json ]]; then
        count "$(tests/count-meson.py "$BUILD/meson-logs/testlog.json")"
else
        echo "meson test left no log"
        count "unit: 0 passed, 1 failed"
fi

echo "== end-to-end tests"
out=$(mktemp)
BUILD=$BUILD tests/e2e/run.sh 2>&1 | tee "$out"
line=$(grep -E '^e2e: [0-9]+ passed, [0-9]+ failed$' "$out" | tail -1)
count "${line:-e2e: 0 passed, 1 failed}"

echo "== fuzz smoke (${FUZZ_SMOKE_SECONDS}s per target)"
FUZZ_BUILD=$FUZZ_BUILD tests/fuzz/run.sh "$FUZZ_SMOKE_SECONDS" 2>&1 | tee "$out"
line=$(grep -E '^fuzz: [0-9]+ passed, [0-9]+ failed$' "$out" | tail -1)
rm -f "$out"
count "${line:-fuzz: 0 passed, 1 failed}"

echo
echo "$passed passed, $failed failed"
[[ $failed -eq 0 && $passed -gt 0 ]]
