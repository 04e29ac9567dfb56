# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# The end-to-end test library, sourced by every tests/e2e/test-*.sh. It builds a private
# topology of network namespaces (a "client" on the documentation-range internet, "gw"
# running edgegwd, VMs behind gw's bridge), starts the real daemon and real listeners, and
# counts assertions. Everything it creates carries a per-run prefix ("eg<pid>-<test>-") and
# is removed by an EXIT trap, also when a test fails or is interrupted. Nothing here touches
# the host's own interfaces, routes, firewall or DNS: every ip/nft/sysctl command runs with
# `ip -n` / `ip netns exec` inside a namespace this file created. See docs/testing.md.
#
# Topology (topo_up; topo_farm adds the last leg):
#
#   client 203.0.113.9/24 2001:db8:ff::9/64 (eth0)
#     |  veth
#   gw  wan 203.0.113.1/24 2001:db8:ff::1/64     <- edgegwd, table inet edgegw
#       br0 10.0.1.1/24 2001:db8:1::1/64
#        |-- vm1 eth0 10.0.1.5/24
#        |-- vm2 eth0 10.0.1.6/24
#        `-- vm6 eth0 2001:db8:1::5/64
#       farm 10.0.2.254/24 -- farm eth0 10.0.2.1 .. 10.0.2.N /24     (topo_farm N)

set -u -o pipefail

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$E2E_DIR/../.." && pwd)
BUILD=${BUILD:-build-test}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
EDGEGWD=$BUILD/edgegwd
EDGEGW=$BUILD/edgegw

# Leaks make a sanitized binary exit non-zero; UBSan findings are only printed, so the
# daemon's log is scanned for them at the end of every test.
export ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

TEST_NAME=$(basename "$0" .sh)
TEST_SHORT=${TEST_NAME#test-}
TEST_SHORT=${TEST_SHORT:0:6}
PFX="eg$$-$TEST_SHORT"
NS_CLIENT=$PFX-client
NS_GW=$PFX-gw
NS_VM1=$PFX-vm1
NS_VM2=$PFX-vm2
NS_VM6=$PFX-vm6
NS_FARM=$PFX-farm

PUBLIC4=203.0.113.1
PUBLIC6=2001:db8:ff::1

E2E_TMP=$(mktemp -d "/tmp/edgegw-e2e-$TEST_SHORT.XXXXXX")
E2E_STATE=$E2E_TMP/state
E2E_CONF=$E2E_TMP/edgegw.conf
E2E_SOCK=$E2E_STATE/edgegw.sock
DAEMON_LOG=$E2E_TMP/edgegwd.log
DAEMON_PID=
E2E_VERBOSE=${E2E_VERBOSE:-0}

# Config knobs; a test changes them before daemon_start / daemon_reload.
CFG_PORT_START=20000
CFG_PORT_END=59999
CFG_PORTS_PER_VM=10
CFG_EXTRA="" # more lines, e.g. a [daemon] section
# kernel (nftables DNAT, the default) or userspace (the proxy relays the forwards); the
# foundation tests run in both (test-userspace.sh re-runs them with userspace).
E2E_FORWARD_MODE=${E2E_FORWARD_MODE:-kernel}

PASS=0
FAIL=0
NETNS_CREATED=()
BG_PIDS=()
FINISHED=0

# Output of the last `run`.
RUN_CMD=
RC=0
OUT=
ERR=

log() { printf '# %s\n' "$*"; }

# ---- cleanup, always -------------------------------------------------------------------

e2e_cleanup() {
        local rc=$?
        trap - EXIT INT TERM HUP
        if [[ -n $DAEMON_PID ]]; then
                kill -9 "$DAEMON_PID" 2>/dev/null
                wait "$DAEMON_PID" 2>/dev/null
                DAEMON_PID=
        fi
        topo_down
        if ((${#BG_PIDS[@]})); then
                kill "${BG_PIDS[@]}" 2>/dev/null
                wait "${BG_PIDS[@]}" 2>/dev/null
        fi
        if [[ ${E2E_KEEP:-0} == 1 ]]; then
                log "kept $E2E_TMP"
        else
                rm -rf "$E2E_TMP"
        fi
        if ((!FINISHED)); then
                # The script ended without finish (a crash, set -e, an interrupt): tell run.sh.
                echo "not ok - $TEST_NAME ended early (exit status $rc)"
                [[ -n ${E2E_RESULTS:-} ]] && echo "$TEST_NAME $PASS $((FAIL + 1)) crashed" >>"$E2E_RESULTS"
                exit $((rc ? rc : 1))
        fi
        exit "$rc"
}
trap e2e_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Kills every process living in our namespaces, then deletes them. Idempotent.
topo_down() {
        local ns pids i
        for ns in "${NETNS_CREATED[@]}"; do
                pids=$(ip netns pids "$ns" 2>/dev/null)
                # shellcheck disable=SC2086
                [[ -n $pids ]] && kill $pids 2>/dev/null
        done
        for ((i = 0; i < 20; i++)); do
                pids=
                for ns in "${NETNS_CREATED[@]}"; do pids+=$(ip netns pids "$ns" 2>/dev/null); done
                [[ -z $pids ]] && break
                sleep 0.1
        done
        for ns in "${NETNS_CREATED[@]}"; do
                pids=$(ip netns pids "$ns" 2>/dev/null)
                # shellcheck disable=SC2086
                [[ -n $pids ]] && kill -9 $pids 2>/dev/null
        done
        for ns in "${NETNS_CREATED[@]}"; do ip netns del "$ns" 2>/dev/null; done
        NETNS_CREATED=()
}

# ---- assertions ------------------------------------------------------------------------

daemon_log_tail() {
        [[ -s $DAEMON_LOG ]] || return 0
        echo "#   --- edgegwd log (last 15 lines) ---"
        tail -n 15 "$DAEMON_LOG" | sed 's/^/#   | /'
}

# check "what a user would check" COMMAND [ARGS...]
# Runs the command; ok if it exits 0. On failure shows its output, the last `run` and the
# daemon log tail.
check() {
        local desc=$1 out
        shift
        if out=$("$@" 2>&1); then
                PASS=$((PASS + 1))
                echo "ok - $desc"
                [[ $E2E_VERBOSE == 1 && -n $out ]] && printf '%s\n' "$out" | sed 's/^/#   /'
                return 0
        fi
        FAIL=$((FAIL + 1))
        echo "not ok - $desc"
        [[ -n $out ]] && printf '%s\n' "$out" | head -n 30 | sed 's/^/#   /'
        if [[ -n $RUN_CMD ]]; then
                echo "#   last command: $RUN_CMD -> exit $RC"
                [[ -n $OUT ]] && printf '%s\n' "$OUT" | head -n 20 | sed 's/^/#   stdout: /'
                [[ -n $ERR ]] && printf '%s\n' "$ERR" | head -n 20 | sed 's/^/#   stderr: /'
        fi
        daemon_log_tail
        return 1
}

# A setup step failed: record it and end the test (cleanup runs from the EXIT trap).
die() {
        FAIL=$((FAIL + 1))
        echo "not ok - $*"
        daemon_log_tail
        finish
}

not() { ! "$@"; }

# eq ACTUAL EXPECTED
eq() {
        [[ $1 == "$2" ]] && return 0
        echo "expected '$2', got '$1'"
        return 1
}

# contains HAYSTACK NEEDLE
contains() {
        [[ $1 == *"$2"* ]] && return 0
        echo "'$2' not found in: $1"
        return 1
}

rc_is() {
        [[ $RC == "$1" ]] && return 0
        echo "expected exit status $1, got $RC"
        return 1
}

# run COMMAND...: remembers exit status, stdout and stderr in RC, OUT, ERR. A sanitizer
# report on stderr (of the sanitized CLI) is itself a failed check.
run() {
        RUN_CMD="$*"
        OUT=$("$@" 2>"$E2E_TMP/run.err")
        RC=$?
        ERR=$(<"$E2E_TMP/run.err")
        if [[ $ERR == *"Sanitizer"* || $ERR == *"runtime error:"* ]]; then
                check "no sanitizer report from: $RUN_CMD" false
        fi
        return 0
}

# json EXPR: evaluates a Python expression over the JSON document on stdin (bound to d)
# and prints the result: a string as is, null as nothing, an object as JSON, anything else
# as Python shows it (so a list of ids reads "['vm1', 'vm2']", a boolean "True").
json() {
        python3 -c '
import json, sys
d = json.load(sys.stdin)
v = eval(sys.argv[1], {"d": d})
print(v if isinstance(v, str) else "" if v is None else json.dumps(v) if isinstance(v, dict) else repr(v))' "$1"
}

# Called at the end of every test: stops the daemon (it must exit 0, i.e. no leaks), scans
# its log for sanitizer reports, writes the counts for run.sh and exits.
finish() {
        ((FINISHED)) && return 0
        if [[ -n $DAEMON_PID ]]; then daemon_stop; fi
        if [[ -e $DAEMON_LOG ]]; then
                check "edgegwd log has no AddressSanitizer report" not grep -q "ERROR: AddressSanitizer" "$DAEMON_LOG"
                check "edgegwd log has no LeakSanitizer report" not grep -q "ERROR: LeakSanitizer" "$DAEMON_LOG"
                check "edgegwd log has no UBSan runtime error" not grep -q "runtime error:" "$DAEMON_LOG"
        fi
        FINISHED=1
        echo "# $TEST_NAME: $PASS passed, $FAIL failed"
        [[ -n ${E2E_RESULTS:-} ]] && echo "$TEST_NAME $PASS $FAIL" >>"$E2E_RESULTS"
        ((FAIL == 0))
        exit $?
}

# ---- topology --------------------------------------------------------------------------

ns_add() {
        ip netns add "$1" || return 1
        NETNS_CREATED+=("$1")
        ip netns exec "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 || return 1
        ip -n "$1" link set lo up
}

# in_ns NS COMMAND...: runs COMMAND in one of our namespaces.
in_ns() {
        local ns=$1
        shift
        ip netns exec "$ns" "$@"
}

# Attaches a new namespace-side eth0 of NS to gw's br0 through a veth named PORT in gw.
bridge_port() {
        local ns=$1 port=$2
        ip -n "$NS_GW" link add "$port" type veth peer name eth0 netns "$ns" &&
                ip -n "$NS_GW" link set "$port" master br0 up &&
                ip -n "$ns" link set eth0 up
}

topo_up() {
        local ns
        for ns in "$NS_CLIENT" "$NS_GW" "$NS_VM1" "$NS_VM2" "$NS_VM6"; do
                ns_add "$ns" || return 1
        done
        # client <-> gw, the "internet" side
        ip -n "$NS_GW" link add wan type veth peer name eth0 netns "$NS_CLIENT" || return 1
        ip -n "$NS_CLIENT" addr add 203.0.113.9/24 dev eth0 &&
                ip -n "$NS_CLIENT" addr add 2001:db8:ff::9/64 dev eth0 nodad &&
                ip -n "$NS_CLIENT" link set eth0 up &&
                ip -n "$NS_CLIENT" route add default via "$PUBLIC4" &&
                ip -n "$NS_CLIENT" -6 route add default via "$PUBLIC6" || return 1
        ip -n "$NS_GW" addr add "$PUBLIC4/24" dev wan &&
                ip -n "$NS_GW" addr add "$PUBLIC6/64" dev wan nodad &&
                ip -n "$NS_GW" link set wan up || return 1
        # gw's private side
        ip -n "$NS_GW" link add br0 type bridge &&
                ip -n "$NS_GW" addr add 10.0.1.1/24 dev br0 &&
                ip -n "$NS_GW" addr add 2001:db8:1::1/64 dev br0 nodad &&
                ip -n "$NS_GW" link set br0 up || return 1
        in_ns "$NS_GW" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 || return 1
        bridge_port "$NS_VM1" vm1 &&
                ip -n "$NS_VM1" addr add 10.0.1.5/24 dev eth0 &&
                ip -n "$NS_VM1" route add default via 10.0.1.1 || return 1
        bridge_port "$NS_VM2" vm2 &&
                ip -n "$NS_VM2" addr add 10.0.1.6/24 dev eth0 &&
                ip -n "$NS_VM2" route add default via 10.0.1.1 || return 1
        bridge_port "$NS_VM6" vm6 &&
                ip -n "$NS_VM6" addr add 2001:db8:1::5/64 dev eth0 nodad &&
                ip -n "$NS_VM6" -6 route add default via 2001:db8:1::1 || return 1
}

# topo_farm N: a "farm" namespace routed behind gw holding 10.0.2.1 .. 10.0.2.N, one
# address per VM, for tests that need many VMs.
topo_farm() {
        local n=$1 i
        ns_add "$NS_FARM" || return 1
        ip -n "$NS_GW" link add farm type veth peer name eth0 netns "$NS_FARM" &&
                ip -n "$NS_GW" addr add 10.0.2.254/24 dev farm &&
                ip -n "$NS_GW" link set farm up &&
                ip -n "$NS_FARM" link set eth0 up || return 1
        for ((i = 1; i <= n; i++)); do echo "addr add 10.0.2.$i/24 dev eth0"; done | ip -n "$NS_FARM" -batch - || return 1
        ip -n "$NS_FARM" route add default via 10.0.2.254
}

# ---- listeners in the VM namespaces ------------------------------------------------------

# listen NS tcp|udp|tcp6|udp6 PORT SHELL-COMMAND: a server whose every connection (or
# datagram) is answered with SHELL-COMMAND's output. TCP is socat; UDP is a few lines of
# Python, because socat's UDP-RECVFROM,fork drops datagrams now and then.
listen() {
        local ns=$1 proto=$2 port=$3 cmd=$4 addr
        case $proto in
        tcp) addr="TCP4-LISTEN:$port,fork,reuseaddr" ;;
        tcp6) addr="TCP6-LISTEN:$port,fork,reuseaddr,ipv6only=1" ;;
        udp | udp6)
                ip netns exec "$ns" env E2E_REPLY_CMD="$cmd" python3 -c '
import os, socket, subprocess, sys
fam = socket.AF_INET6 if sys.argv[1] == "udp6" else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
if fam == socket.AF_INET6:
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", int(sys.argv[2])))
while True:
    data, peer = s.recvfrom(65535)
    out = subprocess.run(["sh", "-c", os.environ["E2E_REPLY_CMD"]], capture_output=True).stdout
    s.sendto(out, peer)' "$proto" "$port" </dev/null >/dev/null 2>&1 &
                BG_PIDS+=($!)
                return 0
                ;;
        *) return 1 ;;
        esac
        # The command travels in the environment: socat would split it at ':' and ','.
        ip netns exec "$ns" env E2E_REPLY_CMD="$cmd" socat "$addr" SYSTEM:'eval "$E2E_REPLY_CMD"' \
                </dev/null >/dev/null 2>&1 &
        BG_PIDS+=($!)
}

# wait_listening NS tcp|udp PORT...: bounded wait until every port is bound.
wait_listening() {
        local ns=$1 proto=$2 i p missing
        shift 2
        for ((i = 0; i < 50; i++)); do
                missing=
                local bound
                bound=$(ip netns exec "$ns" ss -Hln --"$proto" 2>/dev/null)
                for p in "$@"; do
                        grep -qE "[]:.]${p}[[:space:]]" <<<"$bound" || missing+=" $p"
                done
                [[ -z $missing ]] && return 0
                sleep 0.1
        done
        echo "not listening in $ns ($proto):$missing"
        return 1
}

# vm_listeners NS NAME [6]: the whole default 10-port block's VM side, each port answering
# "NAME:PORT": 22 and 10001-10004 over TCP, 10005-10009 over UDP.
vm_listeners() {
        local ns=$1 name=$2 v=${3:-} p
        listen "$ns" "tcp$v" 22 "echo $name:22"
        for p in 10001 10002 10003 10004; do listen "$ns" "tcp$v" $p "echo $name:$p"; done
        for p in 10005 10006 10007 10008 10009; do listen "$ns" "udp$v" $p "echo $name:$p"; done
        wait_listening "$ns" tcp 22 10001 10002 10003 10004 && wait_listening "$ns" udp 10005 10006 10007 10008 10009
}

# ---- client probes (run in the client namespace) ----------------------------------------

# tcp_get HOST PORT: connects from the client, prints what the server says.
tcp_get() {
        local host=$1 port=$2 addr
        if [[ $host == *:* ]]; then addr="TCP6:[$host]:$port"; else addr="TCP4:$host:$port"; fi
        ip netns exec "$NS_CLIENT" timeout 5 socat -t 3 -T 3 - "$addr,connect-timeout=3" </dev/null
}

# udp_get HOST PORT: sends one datagram from the client, prints the first reply (3 s).
udp_get() {
        ip netns exec "$NS_CLIENT" timeout 5 python3 -c '
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(b"ping\n", (host, port))
try:
    data, _ = s.recvfrom(4096)
except socket.timeout:
    print("no reply from %s port %d" % (host, port))
    sys.exit(1)
print(data.decode(errors="replace").strip())' "$1" "$2"
}

# reaches tcp|udp HOST PORT EXPECTED: the reply is exactly EXPECTED.
reaches() {
        local proto=$1 host=$2 port=$3 want=$4 got
        got=$("${proto}_get" "$host" "$port" 2>&1)
        eq "$got" "$want"
}

# ---- the daemon --------------------------------------------------------------------------

write_config() {
        mkdir -p "$E2E_STATE"
        cat >"$E2E_CONF.tmp" <<EOF
[gateway]
datacenter = "dc-test"
domain = "example.net"
public_ip = "$PUBLIC4"
public_ip6 = "$PUBLIC6"
port_range_start = $CFG_PORT_START
port_range_end = $CFG_PORT_END
ports_per_vm = $CFG_PORTS_PER_VM
state_dir = "$E2E_STATE"
forward_mode = "$E2E_FORWARD_MODE"
$CFG_EXTRA
EOF
        mv "$E2E_CONF.tmp" "$E2E_CONF"
}

daemon_alive() {
        local state
        [[ -n $DAEMON_PID && -r /proc/$DAEMON_PID/stat ]] || return 1
        read -r _ _ state _ <"/proc/$DAEMON_PID/stat" 2>/dev/null || return 1
        [[ $state != Z ]]
}

# daemon_start: writes the config and starts edgegwd in gw; waits (10 s) until its API
# answers on the unix socket.
daemon_start() {
        local i
        [[ -x $EDGEGWD && -x $EDGEGW ]] || {
                echo "missing $EDGEGWD or $EDGEGW (build with: ninja -C $BUILD)"
                return 1
        }
        write_config
        echo "=== edgegwd start $(date +%T.%N) ===" >>"$DAEMON_LOG"
        ip netns exec "$NS_GW" "$EDGEGWD" --config "$E2E_CONF" </dev/null >>"$DAEMON_LOG" 2>&1 &
        DAEMON_PID=$!
        for ((i = 0; i < 100; i++)); do
                if [[ -S $E2E_SOCK ]] && curl -sf -m 2 --unix-socket "$E2E_SOCK" http://edgegw/health >/dev/null 2>&1; then
                        return 0
                fi
                if ! daemon_alive; then
                        wait "$DAEMON_PID"
                        echo "edgegwd exited during start-up with status $?"
                        DAEMON_PID=
                        return 1
                fi
                sleep 0.1
        done
        echo "edgegwd did not answer on $E2E_SOCK within 10 s"
        return 1
}

# daemon_stop: SIGTERM; the daemon must exit 0 within 15 s (a leak makes it non-zero).
daemon_stop() {
        local i rc
        [[ -n $DAEMON_PID ]] || return 0
        kill -TERM "$DAEMON_PID" 2>/dev/null
        for ((i = 0; i < 150; i++)); do
                daemon_alive || break
                sleep 0.1
        done
        if daemon_alive; then
                check "edgegwd exits within 15 s of SIGTERM" false
                kill -9 "$DAEMON_PID" 2>/dev/null
                wait "$DAEMON_PID" 2>/dev/null
                DAEMON_PID=
                return 1
        fi
        wait "$DAEMON_PID"
        rc=$?
        DAEMON_PID=
        check "edgegwd exits with status 0 after SIGTERM (no leaks, clean shutdown)" eq "$rc" 0
}

daemon_kill9() {
        [[ -n $DAEMON_PID ]] || return 0
        kill -9 "$DAEMON_PID" 2>/dev/null
        wait "$DAEMON_PID" 2>/dev/null
        DAEMON_PID=
}

# daemon_reload: rewrites the config and sends SIGHUP; waits (5 s at most) for the daemon
# to log something, then for its API to answer.
daemon_reload() {
        local size i
        write_config
        size=$(stat -c %s "$DAEMON_LOG")
        kill -HUP "$DAEMON_PID" || return 1
        for ((i = 0; i < 50; i++)); do
                (($(stat -c %s "$DAEMON_LOG") > size)) && break
                sleep 0.1
        done
        daemon_alive || {
                echo "edgegwd died on SIGHUP"
                return 1
        }
        curl -sf -m 2 --unix-socket "$E2E_SOCK" http://edgegw/health >/dev/null
}

# cli ARGS...: the edgegw CLI, run in gw, talking to this test's daemon.
cli() {
        ip netns exec "$NS_GW" env EDGEGW_SOCKET="$E2E_SOCK" timeout 30 "$EDGEGW" "$@"
}

# gw_nft ARGS...: nft inside gw (never on the host).
gw_nft() {
        ip netns exec "$NS_GW" nft "$@"
}

# userspace: true when the test runs with forward_mode = userspace.
userspace() {
        [[ $E2E_FORWARD_MODE == userspace ]]
}

# no_nft_table: in userspace mode edgegw creates no `inet edgegw` table at all.
no_nft_table() {
        if gw_nft list table inet edgegw >/dev/null 2>&1; then
                echo "table inet edgegw exists in gw although forward_mode = userspace"
                return 1
        fi
}

# vm_bytes ID in|out: bytes through a VM's forwards: the nft counter in kernel mode, the
# relay's count (GET /v1/vms/ID/traffic) in userspace mode.
vm_bytes() {
        local id=$1 dir=$2 slug
        if userspace; then
                curl -sf -m 5 --unix-socket "$E2E_SOCK" "http://edgegw/v1/vms/$id/traffic" | json "d[\"bytes_$dir\"]"
        else
                slug=$(cli --json vm show "$id" | json 'd["slug"]')
                counter_bytes "${dir}_$slug"
        fi
}

# forward_listening PROTO PORT: gw has a socket bound to PORT (userspace mode).
forward_listening() {
        ip netns exec "$NS_GW" ss -Hln --"$1" "sport = :$2" | grep -q .
}

# forward_state: what carries the forwards, for before/after comparisons: the nft table in
# kernel mode, gw's sorted list of bound sockets in userspace mode.
forward_state() {
        if userspace; then
                ip netns exec "$NS_GW" ss -Hlntu | awk '{print $1, $5}' | sort
        else
                gw_nft list table inet edgegw 2>&1
        fi
}

# long_relay_start HOST PORT NAME: from the client, a TCP connection to an echo server
# (listen ... "cat") that sends "one" and reads it back, then waits; long_relay_finish NAME
# lets it send "two" and prints what came back ("one two", or "one EOF" if the relay was
# closed meanwhile).
long_relay_start() {
        local host=$1 port=$2 f=$E2E_TMP/$3 i
        ip netns exec "$NS_CLIENT" timeout 30 python3 -c '
import os, socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
def line(t):
    try:
        s.sendall(t + b"\n"); buf = b""
        while not buf.endswith(b"\n"):
            d = s.recv(100)
            if not d: return "EOF"
            buf += d
    except OSError:
        return "EOF"
    return buf.decode().strip()
out = [line(b"one")]
open(sys.argv[3] + ".ready", "w").close()
while not os.path.exists(sys.argv[3] + ".go"): time.sleep(0.05)
out.append(line(b"two"))
print(" ".join(out))' "$host" "$port" "$f" >"$f.out" 2>&1 &
        echo $! >"$f.pid"
        for ((i = 0; i < 100; i++)); do
                [[ -e $f.ready ]] && return 0
                sleep 0.05
        done
        cat "$f.out"
        return 1
}

long_relay_finish() {
        local f=$E2E_TMP/$1
        local pid i
        pid=$(cat "$f.pid")
        touch "$f.go"
        # (not `wait`: this usually runs in a command substitution, a subshell)
        for ((i = 0; i < 200; i++)); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.05
        done
        cat "$f.out"
}

# counter_bytes NAME: byte count of a named counter in table inet edgegw.
counter_bytes() {
        gw_nft -j list counter inet edgegw "$1" | json '[o["counter"]["bytes"] for o in d["nftables"] if "counter" in o][0]'
}

# step "what" COMMAND...: a setup step in this shell (so background pids are kept); on
# failure the test ends with "not ok - what" and the command's output.
step() {
        local desc=$1
        shift
        "$@" >"$E2E_TMP/step.out" 2>&1 && return 0
        die "$desc: $(tr '\n' ' ' <"$E2E_TMP/step.out")"
}

# The common start of a test: topology, listeners in vm1/vm2/vm6, daemon.
setup_default() {
        step "topology up" topo_up
        step "listeners in vm1" vm_listeners "$NS_VM1" vm1
        step "listeners in vm2" vm_listeners "$NS_VM2" vm2
        step "listeners in vm6" vm_listeners "$NS_VM6" vm6 6
        step "edgegwd starts and answers on its socket" daemon_start
        log "$TEST_NAME: namespaces $PFX-*, edgegwd pid $DAEMON_PID, state $E2E_STATE"
}

# ---- VM objects --------------------------------------------------------------------------

# block_layout_ok N < VM-JSON: the VM has a block of N ports laid out as docs/api.md says:
# offset 0 -> 22/tcp, offsets 1..(N-1)/2 -> 10000+offset/tcp, the rest -> 10000+offset/udp.
block_layout_ok() {
        python3 -c '
import json, sys
n = int(sys.argv[1])
d = json.load(sys.stdin)
s = d["port_range_start"]
want = [(s, "tcp", 22)]
ntcp = (n - 1) // 2
for off in range(1, n):
    want.append((s + off, "tcp" if off <= ntcp else "udp", 10000 + off))
have = sorted((p["public_port"], p["proto"], p["vm_port"]) for p in d["ports"])
errs = []
if d["ssh_port"] != s: errs.append("ssh_port %r != port_range_start %r" % (d["ssh_port"], s))
if d["port_range_end"] != s + n - 1: errs.append("port_range_end %r, expected %r" % (d["port_range_end"], s + n - 1))
if have != want: errs.append("ports %r, expected %r" % (have, want))
if errs:
    print("; ".join(errs)); sys.exit(1)' "$1"
}

# vm_field ID FIELD: one field of `vm show ID --json`.
vm_field() {
        cli --json vm show "$1" | json "d[\"$2\"]"
}

# ---- the :443 / :80 proxy (test-sni.sh, test-http.sh, test-proxy-load.sh) ---------------

# vm_ns NAME ADDR...: one more VM-side namespace "$PFX-NAME" on gw's br0 (veth NAME in gw)
# holding every ADDR (IPv4 in 10.0.1.0/24, IPv6 in 2001:db8:1::/64), default routes via gw.
# One namespace with several addresses plays several VMs, each listener bound to its own.
vm_ns() {
        local name=$1 ns=$PFX-$1 a v4=0 v6=0
        shift
        ns_add "$ns" || return 1
        bridge_port "$ns" "$name" || return 1
        for a in "$@"; do
                if [[ $a == *:* ]]; then
                        ip -n "$ns" addr add "$a/64" dev eth0 nodad || return 1
                        v6=1
                else
                        ip -n "$ns" addr add "$a/24" dev eth0 || return 1
                        v4=1
                fi
        done
        if ((v4)); then ip -n "$ns" route add default via 10.0.1.1 || return 1; fi
        if ((v6)); then ip -n "$ns" -6 route add default via 2001:db8:1::1 || return 1; fi
}

# make_cert NAME PREFIX: a self-signed certificate for NAME (CN and subjectAltName DNS:NAME)
# in PREFIX.crt, its key in PREFIX.key. The gateway never sees either.
make_cert() {
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
                -subj "/CN=$1" -addext "subjectAltName=DNS:$1" -keyout "$2.key" -out "$2.crt" 2>&1
}

# https_server NS ACCEPT PREFIX DIR: `openssl s_server -WWW` in NS on ACCEPT ("443",
# "[::]:443"), with the certificate PREFIX.crt/.key, answering GET /FILE with DIR/FILE.
https_server() {
        local ns=$1 accept=$2 pfx=$3 dir=$4 v6=()
        [[ $accept == \[* ]] && v6=(-6)
        (cd "$dir" && exec ip netns exec "$ns" openssl s_server -quiet "${v6[@]}" -accept "$accept" \
                -cert "$pfx.crt" -key "$pfx.key" -WWW </dev/null >>"$E2E_TMP/s_server.log" 2>&1) &
        BG_PIDS+=($!)
}

# https_get NAME CAFILE [ADDR] [PATH]: curl in the client for https://NAME/PATH with NAME
# resolved to ADDR (default the public IPv4), trusting only CAFILE. Prints the body.
https_get() {
        local name=$1 ca=$2 addr=${3:-$PUBLIC4} path=${4:-index.html}
        [[ $addr == *:* ]] && addr="[$addr]"
        ip netns exec "$NS_CLIENT" curl -sS --fail -m 8 --connect-timeout 3 --resolve "$name:443:$addr" \
                --cacert "$ca" "https://$name/$path"
}

# tcp_send HOST PORT < DATA: sends stdin from the client, half-closes, prints the answer.
tcp_send() {
        local host=$1 port=$2 addr
        if [[ $host == *:* ]]; then addr="TCP6:[$host]:$port"; else addr="TCP4:$host:$port"; fi
        ip netns exec "$NS_CLIENT" timeout 8 socat -t 5 -T 5 - "$addr,connect-timeout=3"
}

# kv KEY < "key=value" lines: the value of KEY.
kv() {
        sed -n "s/^$1=//p" | head -n 1
}

# A TLS ClientHello written by hand, for what curl cannot do: trickle it one byte at a time,
# pad it to any size (padding extension, type 21), split it over several records, leave
# out the SNI, or send nothing at all. Prints key=value lines: sent (bytes written),
# send_error, reply_hex / reply_text (what came back before EOF or --wait seconds),
# eof (1 if the server closed), elapsed (seconds from connect to EOF or give-up).
E2E_PY_HELLO='
import argparse, os, socket, struct, sys, time
ap = argparse.ArgumentParser()
ap.add_argument("host"); ap.add_argument("port", type=int)
ap.add_argument("--sni"); ap.add_argument("--pad", type=int, default=0)
ap.add_argument("--frag", type=int, default=16384, help="bytes of handshake per TLS record")
ap.add_argument("--delay", type=float, default=-1, help=">= 0: one byte per write, sleeping this long after each")
ap.add_argument("--save", help="write the bytes of the hello here")
ap.add_argument("--silent", action="store_true", help="connect and send nothing")
ap.add_argument("--wait", type=float, default=5)
a = ap.parse_args()
def ext(t, body): return struct.pack("!HH", t, len(body)) + body
exts = b""
if a.sni:
    n = a.sni.encode()
    entry = b"\x00" + struct.pack("!H", len(n)) + n
    exts += ext(0, struct.pack("!H", len(entry)) + entry)
exts += ext(10, b"\x00\x02\x00\x1d")                                     # supported_groups: x25519
exts += ext(13, b"\x00\x04\x04\x03\x08\x04")                             # signature_algorithms
exts += ext(43, b"\x02\x03\x04")                                         # supported_versions: TLS 1.3
exts += ext(51, b"\x00\x24\x00\x1d\x00\x20" + os.urandom(32))            # key_share
if a.pad:
    exts += ext(21, b"\x00" * a.pad)                                     # padding
body = (b"\x03\x03" + os.urandom(32) + b"\x20" + os.urandom(32) + b"\x00\x06\x13\x01\x13\x02\x13\x03"
        + b"\x01\x00" + struct.pack("!H", len(exts)) + exts)
hs = b"\x01" + struct.pack("!I", len(body))[1:] + body
hello = b"".join(b"\x16\x03\x01" + struct.pack("!H", len(hs[i:i + a.frag])) + hs[i:i + a.frag]
                 for i in range(0, len(hs), a.frag))
if a.save:
    open(a.save, "wb").write(hello)
fam = socket.AF_INET6 if ":" in a.host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.settimeout(5)
s.connect((a.host, a.port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
t0 = time.monotonic()
sent, err = 0, ""
if not a.silent:
    try:
        if a.delay < 0:
            s.sendall(hello); sent = len(hello)
        else:
            for i in range(len(hello)):
                s.sendall(hello[i:i + 1]); sent += 1
                time.sleep(a.delay)
    except OSError as e:
        err = type(e).__name__
reply, eof = b"", 0
end = time.monotonic() + a.wait
try:
    while time.monotonic() < end:
        s.settimeout(max(0.01, end - time.monotonic()))
        d = s.recv(65536)
        if not d:
            eof = 1; break
        reply += d
except socket.timeout:
    pass
except OSError as e:
    eof = 1; err = err or type(e).__name__
print("sent=%d" % sent)
print("send_error=%s" % err)
print("reply_hex=%s" % reply.hex())
print("reply_text=%s" % reply.decode(errors="replace").strip().replace("\n", " | "))
print("eof=%d" % eof)
print("elapsed=%.3f" % (time.monotonic() - t0))
'

# hello_probe HOST PORT [OPTIONS]: E2E_PY_HELLO from the client namespace (bounded).
hello_probe() {
        ip netns exec "$NS_CLIENT" timeout 30 python3 -c "$E2E_PY_HELLO" "$@"
}

# A backend that records what the proxy delivers: an optional PROXY header (v1 or v2,
# parsed), then the TLS handshake records up to the end of the ClientHello. Connection N
# leaves DIR/conn-N.bin (the TLS bytes) and DIR/conn-N.txt (peer=, proxy=, error=, bytes=),
# then gets the line "backend got BYTES bytes" and is closed.
E2E_PY_BACKEND='
import os, socket, struct, sys, threading
bind, port, outdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET6 if ":" in bind else socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((bind, port)); s.listen(128)
lock, count = threading.Lock(), [0]
V2SIG = b"\r\n\r\n\x00\r\nQUIT\n"
def readn(c, buf, n):
    while len(buf) < n:
        d = c.recv(65536)
        if not d:
            raise EOFError("EOF after %d bytes" % len(buf))
        buf += d
    return buf
def handle(c, peer):
    with lock:
        count[0] += 1; n = count[0]
    c.settimeout(10)
    buf, proxy, err, tls = b"", "none", "", b""
    try:
        buf = readn(c, buf, 16)
        if buf.startswith(V2SIG):
            ln = struct.unpack("!H", buf[14:16])[0]
            buf = readn(c, buf, 16 + ln)
            vc, fb, ad = buf[12], buf[13], buf[16:16 + ln]
            if fb == 0x11 and ln >= 12:
                src, dst = socket.inet_ntop(socket.AF_INET, ad[0:4]), socket.inet_ntop(socket.AF_INET, ad[4:8])
                sp, dp = struct.unpack("!HH", ad[8:12])
            elif fb == 0x21 and ln >= 36:
                src, dst = socket.inet_ntop(socket.AF_INET6, ad[0:16]), socket.inet_ntop(socket.AF_INET6, ad[16:32])
                sp, dp = struct.unpack("!HH", ad[32:36])
            else:
                src, dst, sp, dp = "?", "?", 0, 0
            proxy = "v2 ver_cmd=0x%02x fam=0x%02x src=%s sport=%d dst=%s dport=%d" % (vc, fb, src, sp, dst, dp)
            buf = buf[16 + ln:]
        elif buf.startswith(b"PROXY "):
            while b"\r\n" not in buf:
                buf = readn(c, buf, len(buf) + 1)
            line, buf = buf.split(b"\r\n", 1)
            proxy = "v1 " + line.decode(errors="replace")
        hs, off = b"", 0
        while True:
            buf = readn(c, buf, off + 5)
            ln = struct.unpack("!H", buf[off + 3:off + 5])[0]
            buf = readn(c, buf, off + 5 + ln)
            hs += buf[off + 5:off + 5 + ln]; off += 5 + ln
            if len(hs) >= 4 and len(hs) >= 4 + int.from_bytes(hs[1:4], "big"):
                break
        tls = buf[:off]
    except Exception as e:
        err, tls = "%s: %s" % (type(e).__name__, e), buf
    p = os.path.join(outdir, "conn-%d" % n)
    open(p + ".bin", "wb").write(tls)
    open(p + ".tmp", "w").write("peer=%s\nproxy=%s\nerror=%s\nbytes=%d\n" % (peer[0], proxy, err, len(tls)))
    os.rename(p + ".tmp", p + ".txt")
    try:
        c.sendall(b"backend got %d bytes\n" % len(tls))
    except OSError:
        pass
    c.close()
while True:
    c, peer = s.accept()
    threading.Thread(target=handle, args=(c, peer), daemon=True).start()
'

# record_backend NS ADDR PORT DIR: starts E2E_PY_BACKEND in NS on ADDR:PORT, files in DIR.
record_backend() {
        mkdir -p "$4"
        ip netns exec "$1" python3 -c "$E2E_PY_BACKEND" "$2" "$3" "$4" </dev/null >>"$E2E_TMP/backend.log" 2>&1 &
        BG_PIDS+=($!)
}

# backend_conns DIR: how many connections a record_backend has finished.
backend_conns() {
        local f n=0
        for f in "$1"/conn-*.txt; do [[ -e $f ]] && n=$((n + 1)); done
        echo "$n"
}

# wait_backend_conns DIR N: bounded (5 s) wait until DIR has N finished connections.
wait_backend_conns() {
        local i
        for ((i = 0; i < 50; i++)); do
                (($(backend_conns "$1") >= $2)) && return 0
                sleep 0.1
        done
        echo "$1 has $(backend_conns "$1") connections, expected $2"
        return 1
}

# add_vm VAR ID ARGS...: `vm add ID ARGS... --json` as a check; VAR gets the VM's name (its
# "subdomain"), or "ID.not-added.invalid" if the add failed, so later checks fail cleanly.
add_vm() {
        local var=$1 id=$2 name
        shift 2
        run cli --json vm add "$id" "$@"
        check "vm add $id $* exits 0" rc_is 0
        name=$(json 'd["subdomain"]' <<<"$OUT" 2>/dev/null)
        [[ -n $name ]] || name=$id.not-added.invalid
        printf -v "$var" %s "$name"
}

# between VALUE LOW HIGH: LOW <= VALUE <= HIGH (decimals allowed).
between() {
        awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v != "" && v + 0 >= lo + 0 && v + 0 <= hi + 0) }' && return 0
        echo "expected a value in [$2, $3], got '$1'"
        return 1
}

# ---- the HTTP API directly ---------------------------------------------------------------

# api METHOD PATH [BODY [CURL-ARGS...]]: one request on the unix socket (inside gw); sets
# STATUS (the HTTP status, 000 when nothing answered), OUT (the body) and HDRS (the headers).
# api_tcp TOKEN METHOD PATH [BODY [CURL-ARGS...]] does the same on the TCP listener
# ($API_TCP, e.g. http://127.0.0.1:8081) with `Authorization: Bearer TOKEN` ("" = none).
api() {
        local method=$1 path=$2 body=${3-}
        shift $(($# < 3 ? $# : 3))
        _api_curl --unix-socket "$E2E_SOCK" -X "$method" ${body:+--data-binary "$body"} "$@" "http://edgegw$path"
}
api_tcp() {
        local token=$1 method=$2 path=$3 body=${4-}
        shift $(($# < 4 ? $# : 4))
        _api_curl -X "$method" ${token:+-H "Authorization: Bearer $token"} ${body:+--data-binary "$body"} "$@" \
                "$API_TCP$path"
}
_api_curl() {
        RUN_CMD="curl $*"
        OUT=$(ip netns exec "$NS_GW" curl -sS -m 20 -H 'Content-Type: application/json' -D "$E2E_TMP/api.hdr" \
                -o "$E2E_TMP/api.body" -w '%{http_code}' "$@" 2>"$E2E_TMP/api.err")
        STATUS=$OUT
        RC=$STATUS
        OUT=$(cat "$E2E_TMP/api.body" 2>/dev/null)
        HDRS=$(tr -d '\r' <"$E2E_TMP/api.hdr" 2>/dev/null)
        ERR=$(<"$E2E_TMP/api.err")
        return 0
}
# status_is CODE: the last api/api_tcp answered CODE.
status_is() {
        [[ $STATUS == "$1" ]] && return 0
        echo "expected HTTP $1, got $STATUS: $OUT"
        return 1
}
# header VALUE-OF NAME: a header of the last api/api_tcp answer (case-insensitive name).
header() {
        awk -v n="$(tr 'A-Z' 'a-z' <<<"$1")" -F': ' 'tolower($1) == n { sub(/^[^:]*: /, ""); print; exit }' <<<"$HDRS"
}
# store_digest: every desired-state row of the store (audit and token last-use excluded), as
# one sorted text: equal before and after means nothing was written.
store_digest() {
        python3 - "$E2E_STATE/edgegw.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
out = []
for table in ("vms", "routes", "forwards", "hostnames", "tokens"):
    try:
        cols = [r[1] for r in db.execute(f"PRAGMA table_info({table})") if r[1] != "last_used_at"]
        for row in db.execute(f"SELECT {', '.join(cols)} FROM {table}"):
            out.append(table + " " + repr(row))
    except sqlite3.Error as e:
        out.append(table + " error " + str(e))
print("\n".join(sorted(out)))
PY
}
# audit_count: rows in the audit table.
audit_count() {
        python3 -c 'import sqlite3, sys; print(sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True).execute("SELECT count(*) FROM audit").fetchone()[0])' "$E2E_STATE/edgegw.db"
}

# ---- a second edgegwd (tests with two nodes, e.g. a central DNS node) -------------------

# other_daemon_start NS CONF SOCK LOG: starts another edgegwd in namespace NS with the config
# file CONF (written by the test; its state_dir holds SOCK) and waits (10 s) until it answers
# on SOCK. Sets OTHER_PID. The EXIT trap kills it with its namespace; other_daemon_stop
# stops it cleanly.
other_daemon_start() {
        local ns=$1 conf=$2 sock=$3 log=$4 i
        echo "=== edgegwd start $(date +%T.%N) ===" >>"$log"
        ip netns exec "$ns" "$EDGEGWD" --config "$conf" </dev/null >>"$log" 2>&1 &
        OTHER_PID=$!
        for ((i = 0; i < 100; i++)); do
                if [[ -S $sock ]] && curl -sf -m 2 --unix-socket "$sock" http://edgegw/health >/dev/null 2>&1; then
                        return 0
                fi
                if ! kill -0 "$OTHER_PID" 2>/dev/null; then
                        wait "$OTHER_PID"
                        echo "edgegwd ($conf) exited during start-up with status $?"
                        tail -n 5 "$log"
                        return 1
                fi
                sleep 0.1
        done
        echo "edgegwd ($conf) did not answer on $sock within 10 s"
        return 1
}

# other_daemon_stop PID LOG NAME: SIGTERM; checks that it exits 0 within 15 s and that LOG
# has no sanitizer report.
other_daemon_stop() {
        local pid=$1 log=$2 name=$3 i rc
        kill -TERM "$pid" 2>/dev/null
        for ((i = 0; i < 150; i++)); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
                check "$name edgegwd exits within 15 s of SIGTERM" false
                kill -9 "$pid" 2>/dev/null
        fi
        wait "$pid"
        rc=$?
        check "$name edgegwd exits with status 0 after SIGTERM" eq "$rc" 0
        check "$name edgegwd log has no sanitizer report" not grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$log"
}

# cli_at NS SOCK ARGS...: the edgegw CLI in NS against the edgegwd serving SOCK.
cli_at() {
        local ns=$1 sock=$2
        shift 2
        ip netns exec "$ns" env EDGEGW_SOCKET="$sock" timeout 30 "$EDGEGW" "$@"
}

# wait_for SECONDS COMMAND...: runs COMMAND every 0.2 s until it succeeds (returns 0) or
# SECONDS pass (returns 1 and shows COMMAND's last output).
wait_for() {
        local secs=$1 i out
        shift
        for ((i = 0; i < secs * 5; i++)); do
                out=$("$@" 2>&1) && return 0
                sleep 0.2
        done
        printf '%s\n' "$out"
        return 1
}
