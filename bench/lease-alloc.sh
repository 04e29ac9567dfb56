#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# DHCP lease allocation (issue 6): 10,000 MACs each get the lowest free address of a /16
# pool through `POST /v1/leases`, one keep-alive client over the unix socket, every answer
# checked (201, rules applied, no address twice). Reports leases/s and p50/p90/p99 latency,
# overall and per 1,000 (does the 10,000th cost what the first did?), the time to list
# them all, the daemon's restart time with 10,000 leases (the pool is re-read from the
# store), 1,000 more with 8 concurrent clients, and 1,000 removals. edgegwd runs in a
# namespace of its own (bench/lib.sh) with a fresh state directory and a bridge holding the
# pool's gateway address; bench/lease-alloc.py is the client. Prints everything and writes
# it to bench/results/lease-alloc-YYYYMMDD.txt (first as .partial). Root is needed.
#
#   BUILD=build bench/lease-alloc.sh
#   knobs: LA_LEASES=10000 LA_MORE=1000 LA_CLIENTS=8
#
# docs/benchmarks.md ("Lease allocation (issue 6)") explains the numbers.

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

LA_LEASES=${LA_LEASES:-10000}
LA_MORE=${LA_MORE:-1000}
LA_CLIENTS=${LA_CLIENTS:-8}

((EUID == 0)) || fail "needs root (it creates a network namespace)"
[[ -x $EDGEGWD ]] || fail "missing $EDGEGWD: build first (make build), or set BUILD=dir"
for c in ip curl "$PYTHON"; do
        command -v "$c" >/dev/null || fail "missing '$c'"
done

RESULTS_DIR=$REPO/bench/results
RESULTS=$RESULTS_DIR/lease-alloc-$(date +%Y%m%d).txt
PARTIAL=$RESULTS.partial
mkdir -p "$RESULTS_DIR"

bench_init
exec > >(tee "$PARTIAL") 2>&1

# lib.sh's gateway settings plus a [dhcp] section: the pool is the /16 10.64.0.0/16 (65,533
# addresses to hand out) on bridge br-vms, gateway 10.64.0.1.
GW_CONFIG_EXTRA='[dhcp]
interface = "br-vms"
subnet = "10.64.0.0"
subnet_mask = "255.255.0.0"
pool_start = "10.64.0.2"
pool_end = "10.64.255.254"
gateway = "10.64.0.1"
dns = "192.0.2.53"'

# la ARGS...: one lease-alloc.py run inside the namespace; stops the bench on any error.
la() {
        ip netns exec "$BENCH_PREFIX-gw" "$PYTHON" "$BENCH_DIR/lease-alloc.py" "$@" --socket "$GW_SOCK" ||
                fail "lease-alloc.py $1 failed (daemon log: $GW_LOG)"
}

echo "# edgegw lease allocation (bench/lease-alloc.sh), results file $RESULTS"
machine_info
msg "build: $BUILD ($("$EDGEGWD" --version 2>&1))"
msg "git: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo 'no commit')$(git -C "$REPO" diff --quiet HEAD -- src 2>/dev/null || echo ' (src modified or uncommitted)')"
msg "pool 10.64.0.2-10.64.255.254 (/16), $LA_LEASES leases by 1 client, then $LA_MORE by $LA_CLIENTS clients"

ns_add gw || fail "cannot create namespace $BENCH_PREFIX-gw"
ip -n "$BENCH_PREFIX-gw" link add br-vms type bridge || fail "cannot create br-vms"
ip -n "$BENCH_PREFIX-gw" addr add 10.64.0.1/16 dev br-vms
ip -n "$BENCH_PREFIX-gw" link set br-vms up
daemon_start

echo
msg "1. $LA_LEASES leases, one after the other (1 client)"
la add --count "$LA_LEASES" --first 0 --clients 1 --slices 10
echo
msg "2. listing them all"
la list
echo
msg "3. restart with $LA_LEASES leases in the store (the pool is re-read)"
daemon_stop
t0=$(date +%s.%N)
daemon_start
t1=$(date +%s.%N)
msg "edgegwd answered $("$PYTHON" -c 'import sys; print("%.0f" % ((float(sys.argv[2]) - float(sys.argv[1])) * 1000))' "$t0" "$t1") ms after its start"
echo
msg "4. $LA_MORE more with $LA_CLIENTS concurrent clients (the API serializes allocations under one lock)"
la add --count "$LA_MORE" --first "$LA_LEASES" --clients "$LA_CLIENTS" --slices 1
echo
msg "5. removing $LA_MORE"
la remove --count "$LA_MORE" --first "$LA_LEASES"
daemon_stop

echo
msg "done; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
mv "$PARTIAL" "$RESULTS"
msg "results: $RESULTS"
