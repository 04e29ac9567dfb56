#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Runs the end-to-end tests: every tests/e2e/test-*.sh, or those named on the command line
# ("forward", "test-forward", "test-forward.sh" or a path). Each test builds and tears down
# its own namespaces; this runner only sums up. The last line is always
#   e2e: N passed, N failed
# and the exit status is non-zero if any check failed or any script crashed (a crashed or
# timed-out script counts as one failure). Needs root. See docs/testing.md.
#
# Environment: BUILD (default build-test), E2E_TIMEOUT (seconds per script, default 180),
# E2E_VERBOSE=1 (show the output of passing checks too), E2E_KEEP=1 (keep each test's
# temporary directory with the daemon log, config and state).

set -u

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$E2E_DIR/../.." || exit 1
export BUILD=${BUILD:-build-test}
timeout_s=${E2E_TIMEOUT:-180}

if ((EUID != 0)); then
        echo "e2e: must run as root (network namespaces, nftables)"
        echo "e2e: 0 passed, 1 failed"
        exit 1
fi

tests=()
if (($#)); then
        for a in "$@"; do
                name=$(basename "$a" .sh)
                name=test-${name#test-}
                if [[ ! -f $E2E_DIR/$name.sh ]]; then
                        echo "e2e: no such test: $a"
                        echo "e2e: 0 passed, 1 failed"
                        exit 2
                fi
                tests+=("$E2E_DIR/$name.sh")
        done
else
        for t in "$E2E_DIR"/test-*.sh; do [[ -f $t ]] && tests+=("$t"); done
fi

# Namespaces of earlier runs that were killed too hard for their trap to run: named
# eg<pid>-..., with that pid gone. Only reported; `ip netns del NAME` removes one.
stale=$(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^eg[0-9]+-' | while read -r ns; do
        pid=${ns#eg}
        pid=${pid%%-*}
        kill -0 "$pid" 2>/dev/null || echo "$ns"
done)
[[ -n $stale ]] && echo "# warning: stale e2e namespaces from an aborted run: ${stale//$'\n'/ }"

results=$(mktemp /tmp/edgegw-e2e-results.XXXXXX)
trap 'rm -f "$results"' EXIT

total_pass=0
total_fail=0
summary=()
start_all=$SECONDS
for t in "${tests[@]}"; do
        name=$(basename "$t" .sh)
        echo "# ---- $name"
        start=$SECONDS
        # A script may ask for more time with a line "# e2e-timeout: SECONDS".
        t_s=$(sed -n 's/^# e2e-timeout: \([0-9]*\)$/\1/p' "$t" | head -n 1)
        ((${t_s:-0} > timeout_s)) || t_s=$timeout_s
        E2E_RESULTS=$results timeout -k 10 "$t_s" bash "$t"
        rc=$?
        line=$(grep "^$name " "$results" | tail -n 1)
        if [[ -z $line ]]; then
                if ((rc == 124 || rc == 137)); then why="timed out after ${t_s}s"; else why="crashed, exit status $rc"; fi
                echo "not ok - $name $why without reporting results"
                p=0
                f=1
        else
                read -r _ p f _ <<<"$line"
                if ((rc != 0 && f == 0)); then
                        echo "not ok - $name exited with status $rc although no check failed"
                        f=1
                fi
        fi
        total_pass=$((total_pass + p))
        total_fail=$((total_fail + f))
        summary+=("$(printf '%-20s %3d passed, %3d failed  (%ds)' "$name" "$p" "$f" $((SECONDS - start)))")
done

echo "# ---- summary ($((SECONDS - start_all))s)"
for s in "${summary[@]}"; do echo "# $s"; done
echo "e2e: $total_pass passed, $total_fail failed"
((total_fail == 0))
