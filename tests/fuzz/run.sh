#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Runs every libFuzzer target of the fuzz build for SECONDS each, starting from a copy of
# its committed corpus (tests/fuzz/corpus/NAME) in a temporary directory, so the committed
# corpus never changes. Prints "ok - fuzz NAME" or "not ok - fuzz NAME" per target and a
# final "fuzz: N passed, N failed" line; exits non-zero if any target failed or none was
# found. A crash, leak, timeout or out-of-memory input is kept as tests/fuzz/KIND-NAME-HASH
# and its path printed; replay it with `build-fuzz/fuzz-NAME FILE`.
#
# usage: tests/fuzz/run.sh SECONDS        (FUZZ_BUILD: the fuzz build dir, default build-fuzz)
set -u

if [ $# -ne 1 ] || ! [[ "$1" =~ ^[0-9]+$ ]] || [ "$1" -lt 1 ]; then
        echo "usage: $0 SECONDS" >&2
        exit 2
fi
seconds=$1

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo" || exit 2
build=${FUZZ_BUILD:-build-fuzz}

tmp=$(mktemp -d /tmp/edgegw-fuzz.XXXXXX) || exit 2
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
found=0
for bin in "$build"/fuzz-*; do
        if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then continue; fi
        found=$((found + 1))
        name=${bin##*/fuzz-}
        work="$tmp/$name"
        mkdir -p "$work/corpus" "$work/artifacts"
        if [ -d "$here/corpus/$name" ]; then
                cp -R "$here/corpus/$name/." "$work/corpus/"
        else
                echo "# fuzz $name: no committed corpus in tests/fuzz/corpus/$name; starting empty"
        fi

        "$bin" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
                -artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/log" 2>&1
        rc=$?

        kept=()
        for a in "$work"/artifacts/*; do
                [ -f "$a" ] || continue
                base=${a##*/} # crash-HASH, leak-HASH, timeout-HASH, oom-HASH, slow-unit-HASH
                case $base in
                slow-unit-*) continue ;; # slow but not failing
                esac
                dest="$here/${base%%-*}-$name-${base#*-}"
                mv "$a" "$dest"
                kept+=("$dest")
        done

        if [ "$rc" -eq 0 ] && [ ${#kept[@]} -eq 0 ]; then
                runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
                echo "ok - fuzz $name (${runs:-?} runs in ${seconds}s)"
                passed=$((passed + 1))
        else
                echo "not ok - fuzz $name (exit $rc)"
                sed -n '/ERROR\|SUMMARY\|invariant failed\|runtime error/p' "$work/log" | head -n 20 | sed 's/^/#   /'
                for k in "${kept[@]}"; do
                        echo "#   input kept: ${k#"$repo"/}"
                done
                failed=$((failed + 1))
        fi
done

if [ "$found" -eq 0 ]; then
        echo "not ok - fuzz: no fuzz-* binaries in $build (make fuzz builds them)"
        failed=1
fi
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
