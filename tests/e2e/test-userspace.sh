#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The foundation's forward tests once more with forward_mode = userspace: the same user
# stories (reach a VM's ports over TCP and UDP, remove, exhaust, IPv6, restart, reload,
# and the API's standalone forwards, routes and expiry)
# served by the proxy's own listeners instead of nftables, and no `inet edgegw` table is
# ever created. Each test runs as its own script with E2E_FORWARD_MODE=userspace; this
# wrapper reports their summed counts to run.sh. test-crash's 200-VM farm is left out:
# 2,000 forward ports would take 4,000 sockets at 2 workers and the run a minute longer,
# and test-userspace's restore covers kill -9 and restart.
set -u

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pass=0
fail=0
results=$(mktemp /tmp/edgegw-e2e-us-results.XXXXXX)
trap 'rm -f "$results"' EXIT
for t in forward remove exhaust ipv6 restore reload api; do
        echo "# ---- userspace: test-$t"
        E2E_FORWARD_MODE=userspace E2E_RESULTS=$results timeout -k 10 170 bash "$E2E_DIR/test-$t.sh"
        rc=$?
        line=$(grep "^test-$t " "$results" | tail -n 1)
        if [[ -z $line ]]; then
                echo "not ok - userspace test-$t ended without results (exit status $rc)"
                fail=$((fail + 1))
                continue
        fi
        read -r _ p f _ <<<"$line"
        if ((rc != 0 && f == 0)); then
                echo "not ok - userspace test-$t exited with status $rc although no check failed"
                f=1
        fi
        pass=$((pass + p))
        fail=$((fail + f))
done
echo "# test-userspace: $pass passed, $fail failed"
[[ -n ${E2E_RESULTS:-} ]] && echo "test-userspace $pass $fail" >>"$E2E_RESULTS"
((fail == 0))
