# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# Shared by the bench/*.sh scripts. Everything a bench creates is named "$BENCH_PREFIX-*"
# (network namespaces) or lives in $BENCH_TMP, and bench_cleanup, run from the EXIT trap,
# removes all of it, also on failure and on Ctrl-C. Nothing here touches the host's own
# interfaces, routes, firewall or sysctls: every ip/nft/sysctl command runs inside a
# namespace this file created (`ip -n NS`, `ip netns exec NS`). See docs/benchmarks.md.
#
# Sourcing defines things only; a bench script then calls bench_init (temporary directory,
# EXIT/INT/TERM/HUP traps).

set -u -o pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
EDGEGWD=$BUILD/edgegwd
EDGEGW=$BUILD/edgegw
PYTHON=${PYTHON:-python3}

# run.sh exports its prefix, so its own trap can sweep up after an interrupted child.
BENCH_PREFIX=${BENCH_PREFIX:-egb$$}
BENCH_TMP=
BENCH_NS=()
BENCH_PIDS=()
DAEMON_PID=

msg() { printf '# %s\n' "$*"; }

fail() {
        printf 'bench: %s\n' "$*" >&2
        exit 1
}

# Kills every process living in our namespaces, then deletes them. Idempotent.
ns_down() {
        local ns pids i
        for ns in "${BENCH_NS[@]}"; do
                pids=$(ip netns pids "$ns" 2>/dev/null)
                # shellcheck disable=SC2086
                [[ -n $pids ]] && kill $pids 2>/dev/null
        done
        for ((i = 0; i < 30; i++)); do
                pids=
                for ns in "${BENCH_NS[@]}"; do pids+=$(ip netns pids "$ns" 2>/dev/null); done
                [[ -z $pids ]] && break
                sleep 0.1
        done
        for ns in "${BENCH_NS[@]}"; do
                pids=$(ip netns pids "$ns" 2>/dev/null)
                # shellcheck disable=SC2086
                [[ -n $pids ]] && kill -9 $pids 2>/dev/null
                ip netns del "$ns" 2>/dev/null
        done
        BENCH_NS=()
}

bench_cleanup() {
        local rc=$?
        trap - EXIT INT TERM HUP
        if [[ -n $DAEMON_PID ]]; then
                kill -9 "$DAEMON_PID" 2>/dev/null
                wait "$DAEMON_PID" 2>/dev/null
        fi
        ns_down
        if ((${#BENCH_PIDS[@]})); then
                kill "${BENCH_PIDS[@]}" 2>/dev/null
                wait "${BENCH_PIDS[@]}" 2>/dev/null
        fi
        [[ -n $BENCH_TMP ]] && rm -rf "$BENCH_TMP"
        exit "$rc"
}

bench_init() {
        trap bench_cleanup EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        trap 'exit 129' HUP
        BENCH_TMP=$(mktemp -d /tmp/edgegw-bench.XXXXXX)
        GW_STATE=$BENCH_TMP/state
        GW_CONF=$BENCH_TMP/edgegw.conf
        GW_SOCK=$GW_STATE/edgegw.sock
        GW_LOG=$BENCH_TMP/edgegwd.log
}

# ns_add NAME: creates namespace $BENCH_PREFIX-NAME with lo up; prints nothing.
ns_add() {
        local ns=$BENCH_PREFIX-$1
        ip netns add "$ns" || return 1
        BENCH_NS+=("$ns")
        ip -n "$ns" link set lo up
}

in_ns() {
        local ns=$BENCH_PREFIX-$1
        shift
        ip netns exec "$ns" "$@"
}

# ---- the daemon (in namespace gw) ---------------------------------------------------------

# Set by bench_init.
GW_STATE=''
GW_CONF=''
GW_SOCK=''
GW_LOG=''


# The same gateway settings as vm-add.py: 10,751 blocks of 6 ports, so 10,000 VMs fit.
# GW_CONFIG_EXTRA (optional): more sections appended, e.g. lease-alloc.sh's [dhcp].
write_config() {
        mkdir -p "$GW_STATE"
        cat >"$GW_CONF" <<EOF
[gateway]
datacenter = "bench"
domain = "example.net"
public_ip = "203.0.113.1"
port_range_start = 1025
port_range_end = 65535
ports_per_vm = 6
state_dir = "$GW_STATE"

[daemon]
log_level = "info"
resync_interval = 0
${GW_CONFIG_EXTRA:-}
EOF
}

daemon_alive() {
        local state
        [[ -n $DAEMON_PID && -r /proc/$DAEMON_PID/stat ]] || return 1
        read -r _ _ state _ <"/proc/$DAEMON_PID/stat" 2>/dev/null || return 1
        [[ $state != Z ]]
}

# daemon_start: edgegwd in gw; waits (at most 120 s: a cold start with 10,000 VMs applies
# the whole table first) until /health answers.
daemon_start() {
        local i
        write_config
        echo "=== edgegwd start $(date +%T) ===" >>"$GW_LOG"
        # Not through in_ns: a function run with & is a subshell, and $! would be its pid.
        ip netns exec "$BENCH_PREFIX-gw" "$EDGEGWD" --config "$GW_CONF" </dev/null >>"$GW_LOG" 2>&1 &
        DAEMON_PID=$!
        for ((i = 0; i < 1200; i++)); do
                if [[ -S $GW_SOCK ]] && curl -sf -m 5 --unix-socket "$GW_SOCK" http://edgegw/health >/dev/null 2>&1; then
                        return 0
                fi
                daemon_alive || {
                        tail -n 20 "$GW_LOG" >&2
                        DAEMON_PID=
                        fail "edgegwd exited during start-up"
                }
                sleep 0.1
        done
        fail "edgegwd did not answer within 120 s"
}

daemon_stop() {
        local i rc
        [[ -n $DAEMON_PID ]] || return 0
        kill -TERM "$DAEMON_PID" 2>/dev/null
        for ((i = 0; i < 300; i++)); do
                daemon_alive || break
                sleep 0.1
        done
        if daemon_alive; then
                kill -9 "$DAEMON_PID" 2>/dev/null
                wait "$DAEMON_PID" 2>/dev/null
                DAEMON_PID=
                fail "edgegwd did not stop within 30 s of SIGTERM"
        fi
        wait "$DAEMON_PID"
        rc=$?
        DAEMON_PID=
        ((rc == 0)) || fail "edgegwd exited with status $rc after SIGTERM"
}

# cli ARGS...: the edgegw CLI against this bench's daemon.
cli() {
        EDGEGW_SOCKET=$GW_SOCK timeout 60 "$EDGEGW" "$@"
}

# api_get PATH: GET over the unix socket.
api_get() {
        curl -sf -m 60 --unix-socket "$GW_SOCK" "http://edgegw$1"
}

# json EXPR: a Python expression over the JSON document on stdin (bound to d).
json() {
        "$PYTHON" -c '
import json, sys
d = json.load(sys.stdin)
v = eval(sys.argv[1], {"d": d})
print(json.dumps(v) if isinstance(v, (dict, list)) else ("" if v is None else v))' "$1"
}

# median X...: the median of numbers (mean of the middle two for an even count).
median() {
        "$PYTHON" -c 'import statistics, sys; print("%.2f" % statistics.median(float(x) for x in sys.argv[1:]))' "$@"
}

ratio() {
        "$PYTHON" -c 'import sys; print("%.3f" % (float(sys.argv[1]) / float(sys.argv[2])))' "$1" "$2"
}

machine_info() {
        msg "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        msg "host: nproc $(nproc), kernel $(uname -r), CPU $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)," \
                "memory $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
        msg "software: $(nft --version 2>/dev/null | head -n 1), $(iperf3 --version 2>/dev/null | head -n 1)," \
                "libnftables $(dpkg-query -W -f='${Version}' libnftables1 2>/dev/null)," \
                "libmicrohttpd $(dpkg-query -W -f='${Version}' libmicrohttpd12 2>/dev/null)," \
                "sqlite $(dpkg-query -W -f='${Version}' libsqlite3-0 2>/dev/null)"
        msg "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
}
