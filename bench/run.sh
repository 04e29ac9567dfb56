#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# `make bench`: every edgegw benchmark, in one run, on this machine. Needs root (network
# namespaces) and a built tree (BUILD=dir, default build). Prints everything and also writes
# it to bench/results/issue2-YYYYMMDD.txt. About 15 minutes: 5 for the first three steps
# (most of it the 2 x 2 x 5 ten-second iperf3 runs), 10 for the proxy comparison.
# docs/benchmarks.md explains the numbers.
#
#   1. vm-add.py scale          N sequential POST /v1/vms for N = 100, 1000, 10000, each on
#                               a fresh store and namespace; CLI vs API; full-apply time
#                               (SIGHUP and cold start); a synthetic 100,000-element table
#   2. vm-add.py nft-cache      why an add costs what it costs: one VM's libnftables
#                               transaction against tables of different shapes
#   3. forward-throughput.sh    iperf3 through the gateway: DNAT vs routed, 1 and 10,001 VMs
#   4. proxy-compare.sh         the SNI proxy vs HAProxy, nginx stream, sniproxy and direct,
#                               1 and 2 workers (about 10 minutes; also writes its own
#                               bench/results/issue3-YYYYMMDD.txt)
#   5. api-load.sh              API requests/s and latency with 10,000 VMs (issue 4)
#   6. lease-alloc.sh           10,000 DHCP leases from a /16 pool through the API: leases/s,
#                               p50/p99, listing, restart, removal (issue 6; about a minute)
#
# Each step cleans up after itself; this script's trap also removes any namespace named
# "$BENCH_PREFIX-*" that an interrupted step left behind. Nothing touches the host's network.
set -u -o pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
PYTHON=${PYTHON:-python3}
export BUILD PYTHON
export BENCH_PREFIX=${BENCH_PREFIX:-egb$$}

die() {
        echo "bench: $*" >&2
        exit 1
}
((EUID == 0)) || die "needs root (it creates network namespaces)"
for b in edgegwd edgegw; do
        [[ -x $BUILD/$b ]] || die "missing $BUILD/$b: build first (make build), or set BUILD=dir"
done
for c in ip nft iperf3 curl "$PYTHON"; do
        command -v "$c" >/dev/null || die "missing '$c' (Debian: apt-get install iproute2 nftables iperf3 curl python3)"
done

RESULTS_DIR=$REPO/bench/results
RESULTS=$RESULTS_DIR/issue2-$(date +%Y%m%d).txt
PARTIAL=$RESULTS.partial # becomes $RESULTS only when every step succeeded
mkdir -p "$RESULTS_DIR"
CHILD=

cleanup() {
        local rc=$? ns pids
        trap - EXIT INT TERM HUP
        if [[ -n $CHILD ]]; then
                # The step cleans up on SIGTERM; give it a moment, then be firm.
                kill -TERM "$CHILD" 2>/dev/null
                for ((i = 0; i < 100; i++)); do
                        kill -0 "$CHILD" 2>/dev/null || break
                        sleep 0.1
                done
                kill -KILL "$CHILD" 2>/dev/null
                wait "$CHILD" 2>/dev/null
        fi
        # Backstop: namespaces of this run only (our prefix), and whatever runs in them.
        for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$BENCH_PREFIX-"); do
                pids=$(ip netns pids "$ns" 2>/dev/null)
                # shellcheck disable=SC2086
                [[ -n $pids ]] && kill -9 $pids 2>/dev/null
                ip netns del "$ns" 2>/dev/null && echo "bench: removed leftover namespace $ns" >&2
        done
        if ((rc)); then echo "bench: FAILED or interrupted (exit $rc); partial output in $PARTIAL" >&2; fi
        exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Everything from here on goes to the terminal and to the results file.
exec > >(tee "$PARTIAL") 2>&1

# step COMMAND...: runs one bench in the background and waits, so a signal reaches our trap
# at once; prints the command first, exactly as run.
step() {
        echo
        echo "\$ $*"
        local t0=$SECONDS rc
        "$@" &
        CHILD=$!
        wait "$CHILD"
        rc=$?
        CHILD=
        echo "# (step took $((SECONDS - t0)) s, exit $rc; load average $(cut -d' ' -f1-3 /proc/loadavg))"
        return "$rc"
}

# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh" # msg, machine_info

echo "# edgegw benchmarks (bench/run.sh), results file $RESULTS"
machine_info
msg "build: $BUILD ($("$BUILD/edgegwd" --version 2>&1))"
msg "git: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo 'no commit')$(git -C "$REPO" diff --quiet HEAD -- src 2>/dev/null || echo ' (src modified or uncommitted)')"
start=$SECONDS

step "$PYTHON" "$BENCH_DIR/vm-add.py" scale --build "$BUILD" --counts 100,1000,10000 || exit $?
step "$PYTHON" "$BENCH_DIR/vm-add.py" nft-cache || exit $?
step "$BENCH_DIR/forward-throughput.sh" || exit $?
step "$BENCH_DIR/proxy-compare.sh" || exit $?
step "$BENCH_DIR/api-load.sh" || exit $?
step "$BENCH_DIR/lease-alloc.sh" || exit $?

echo
echo "# all benchmarks done in $((SECONDS - start)) s; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# results: $RESULTS"
mv "$PARTIAL" "$RESULTS"
