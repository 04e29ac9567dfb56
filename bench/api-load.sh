#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# API load (issue 4): requests/s and p50/p90/p99 latency of `POST /v1/vms` and
# `GET /v1/vms/ID` with 1, 8 and 64 concurrent keep-alive clients, on a store holding
# 10,000 VMs, over the unix socket and (when this edgegwd has it) the TCP listener with a
# bearer token. edgegwd runs in a namespace of its own (bench/lib.sh) with a fresh state
# directory; bench/api-load.c, built here with `cc -O2`, is the client. The store is filled
# through the API by the client itself (8 clients); every POST run's VMs are deleted again
# afterwards, so each run starts from exactly AL_VMS VMs. Runs are interleaved over
# AL_ROUNDS rounds and the summary quotes medians. Prints everything and writes it to
# bench/results/api-load-YYYYMMDD.txt (first as .partial). Root is needed (namespaces).
#
#   BUILD=build bench/api-load.sh
#   knobs: AL_VMS=10000 AL_CLIENTS="1 8 64" AL_ROUNDS=3 AL_GET_SECONDS=5 AL_GET_WARMUP=20
#          AL_POSTS=1000 AL_POST_WARMUP=2 AL_TCP=auto|off AL_API_PORT=8081 CC=cc AL_CFLAGS=-O2
#          AL_PROXY=on|off (off: no SNI proxy listeners, to see what the proxy's route
#          table costs each write; the default is the shipped configuration, proxy on)
#
# The TCP runs need the [api] section (listen, rate_limit) and POST /v1/tokens: if the
# daemon refuses the section, does not listen, or cannot make a token, the script says so
# and measures the unix socket only. Rate limits are switched off (0) for the bench.
# docs/benchmarks.md ("API throughput (issue 4)") explains the numbers.

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

AL_VMS=${AL_VMS:-10000}
AL_CLIENTS=${AL_CLIENTS:-1 8 64}
AL_ROUNDS=${AL_ROUNDS:-3}
AL_GET_SECONDS=${AL_GET_SECONDS:-5}
AL_GET_WARMUP=${AL_GET_WARMUP:-20}
AL_POSTS=${AL_POSTS:-1000}
AL_POST_WARMUP=${AL_POST_WARMUP:-2}
AL_TCP=${AL_TCP:-auto}
AL_API_PORT=${AL_API_PORT:-8081}
AL_PROXY=${AL_PROXY:-on}
CC=${CC:-cc}
AL_CFLAGS=${AL_CFLAGS:--O2}

((EUID == 0)) || fail "needs root (it creates a network namespace)"
[[ -x $EDGEGWD ]] || fail "missing $EDGEGWD: build first (make build), or set BUILD=dir"
for c in ip nft curl "$CC" "$PYTHON"; do
        command -v "$c" >/dev/null || fail "missing '$c'"
done
case $AL_TCP in auto | off) ;; *) fail "AL_TCP must be auto or off" ;; esac
case $AL_PROXY in on | off) ;; *) fail "AL_PROXY must be on or off" ;; esac

RESULTS_DIR=$REPO/bench/results
RESULTS=$RESULTS_DIR/api-load-$(date +%Y%m%d)$([[ $AL_PROXY == off ]] && echo -proxy-off).txt
PARTIAL=$RESULTS.partial
mkdir -p "$RESULTS_DIR"

bench_init
exec > >(tee "$PARTIAL") 2>&1

AL_BIN=$BENCH_TMP/api-load
RUNS=$BENCH_TMP/runs.jsonl
API_SECTION=0
[[ $AL_TCP == auto ]] && API_SECTION=1
TCP=0
TOKEN=

# Replaces lib.sh's gateway settings: blocks of 2 ports in 10000-65000 (27,500 blocks), so
# 10,000 VMs plus the POST runs fit with room to spare, and the API port stays outside.
write_config() {
        mkdir -p "$GW_STATE"
        cat >"$GW_CONF" <<EOF
[gateway]
datacenter = "bench"
domain = "example.net"
public_ip = "203.0.113.1"
port_range_start = 10000
port_range_end = 65000
ports_per_vm = 2
state_dir = "$GW_STATE"

[daemon]
log_level = "info"
resync_interval = 0
EOF
        if [[ $AL_PROXY == off ]]; then
                cat >>"$GW_CONF" <<EOF

[proxy]
https_listen = ""
http_listen = ""
EOF
        fi
        if ((API_SECTION)); then
                cat >>"$GW_CONF" <<EOF

[api]
listen = "127.0.0.1:$AL_API_PORT"
rate_limit = 0
rate_limit_source = 0
EOF
        fi
}

# Like lib.sh's daemon_start, but a daemon that exits during start-up is reported (return
# 1, log kept) instead of ending the bench, so the caller can retry without [api].
try_daemon_start() {
        local i
        write_config
        echo "=== edgegwd start $(date +%T) ===" >>"$GW_LOG"
        ip netns exec "$BENCH_PREFIX-gw" "$EDGEGWD" --config "$GW_CONF" </dev/null >>"$GW_LOG" 2>&1 &
        DAEMON_PID=$!
        for ((i = 0; i < 1200; i++)); do
                if [[ -S $GW_SOCK ]] && curl -sf -m 5 --unix-socket "$GW_SOCK" http://edgegw/health >/dev/null 2>&1; then
                        return 0
                fi
                if ! daemon_alive; then
                        wait "$DAEMON_PID" 2>/dev/null
                        DAEMON_PID=
                        return 1
                fi
                sleep 0.1
        done
        fail "edgegwd did not answer within 120 s"
}

# The daemon's CPU seconds so far (user + system, all threads).
daemon_cpu() {
        awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$DAEMON_PID/stat"
}

# reconcile_runs: the reconciler's run count so far (GET /v1/status).
reconcile_runs() {
        api_get /v1/status | json 'd["reconcilers"].get("nft", d["reconcilers"].get("forwards", {})).get("runs")'
}

# al NAME ARGS...: one api-load run inside the namespace; prints its summary, keeps its
# JSON line (with the daemon's CPU seconds and the reconciler runs during it added) in
# $RUNS, and stops the bench on any non-2xx answer or transport error: a number with
# failures in it measures something else.
al() {
        local name=$1 out json cpu0 cpu1 runs0 runs1
        shift
        runs0=$(reconcile_runs)
        cpu0=$(daemon_cpu)
        out=$(in_ns gw "$AL_BIN" --label "$name" "$@") || fail "api-load $name failed: $out"
        cpu1=$(daemon_cpu)
        runs1=$(reconcile_runs)
        grep '^#' <<<"$out"
        json=$(grep '^{' <<<"$out" | tail -n 1)
        [[ -n $json ]] || fail "api-load $name printed no JSON line"
        json=$("$PYTHON" -c '
import json, sys
d = json.loads(sys.argv[1])
d["daemon_cpu_s"] = round(float(sys.argv[3]) - float(sys.argv[2]), 3)
d["reconcile_runs"] = int(sys.argv[5]) - int(sys.argv[4])
d["loadavg"] = open("/proc/loadavg").read().split()[0]
print(json.dumps(d, separators=(",", ":")))' "$json" "$cpu0" "$cpu1" "$runs0" "$runs1")
        echo "$json" >>"$RUNS"
        if [[ $(json 'd["non_2xx"] + d["errors"]' <<<"$json") != 0 ]]; then
                tail -n 20 "$GW_LOG" >&2
                fail "$name: non-2xx answers or transport errors (see above); rate limits not off?"
        fi
        if [[ $(json 'd.get("rules_pending", 0)' <<<"$json") != 0 ]]; then
                msg "note: $name: some VMs answered \"rules\": \"pending\" (reconciler slower than apply_wait)"
        fi
}

# vm_count: VMs in the store, from the daemon's own count.
vm_count() {
        api_get /v1/status | json 'd["reconcilers"].get("nft", d["reconcilers"].get("forwards", {})).get("vms")'
}

echo "# edgegw API load (bench/api-load.sh), results file $RESULTS"
machine_info
msg "build: $BUILD ($("$EDGEGWD" --version 2>&1))"
msg "git: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo 'no commit')$(git -C "$REPO" diff --quiet HEAD -- src 2>/dev/null || echo ' (src modified or uncommitted)')"
msg "settings: AL_VMS=$AL_VMS AL_CLIENTS=\"$AL_CLIENTS\" AL_ROUNDS=$AL_ROUNDS AL_GET_SECONDS=$AL_GET_SECONDS" \
        "AL_GET_WARMUP=$AL_GET_WARMUP AL_POSTS=$AL_POSTS AL_POST_WARMUP=$AL_POST_WARMUP AL_TCP=$AL_TCP AL_PROXY=$AL_PROXY"

# shellcheck disable=SC2086 # AL_CFLAGS is a list of flags
"$CC" $AL_CFLAGS -Wall -Wextra -std=gnu11 -o "$AL_BIN" "$BENCH_DIR/api-load.c" || fail "cannot build bench/api-load.c"
msg "client: $CC $AL_CFLAGS bench/api-load.c ($("$CC" --version | head -n 1))"

ns_add gw || fail "cannot create namespace $BENCH_PREFIX-gw"
if ! try_daemon_start; then
        if ((API_SECTION)) && grep -q 'unknown section \[api\]' "$GW_LOG"; then
                msg "TCP runs skipped: this edgegwd does not know the [api] section (no TCP listener yet)"
                API_SECTION=0
                try_daemon_start || {
                        tail -n 20 "$GW_LOG" >&2
                        fail "edgegwd exited during start-up"
                }
        else
                tail -n 20 "$GW_LOG" >&2
                fail "edgegwd exited during start-up"
        fi
fi
msg "config: $(grep -v '^\s*$' "$GW_CONF" | grep -v state_dir | tr '\n' ' ')"

if ((API_SECTION)); then
        # /health needs no token; a token from the unix socket (all scopes there).
        if [[ $(in_ns gw curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$AL_API_PORT/health") != 200 ]]; then
                msg "TCP runs skipped: [api] accepted but nothing answers on 127.0.0.1:$AL_API_PORT"
        elif ! TOKEN=$(curl -sf -m 30 --unix-socket "$GW_SOCK" -H 'Content-Type: application/json' \
                -d '{"name":"bench","scopes":["admin"]}' http://edgegw/v1/tokens | json 'd["token"]') || [[ -z $TOKEN ]]; then
                msg "TCP runs skipped: POST /v1/tokens over the unix socket did not give a token"
        else
                code=$(in_ns gw curl -s -m 5 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
                        "http://127.0.0.1:$AL_API_PORT/v1/vms/no-such-vm")
                [[ $code == 404 ]] || fail "TCP listener: GET of a missing VM with the bench token answered $code, not 404"
                TCP=1
                msg "TCP listener on 127.0.0.1:$AL_API_PORT, token 'bench' (admin scope)"
        fi
fi

TRANSPORTS=(unix)
((TCP)) && TRANSPORTS+=(tcp)
target() {
        if [[ $1 == unix ]]; then
                echo --unix "$GW_SOCK"
        else
                echo --tcp "127.0.0.1:$AL_API_PORT" --token "$TOKEN"
        fi
}

# ---- fill -----------------------------------------------------------------------------
echo
msg "fill: $AL_VMS VMs through POST /v1/vms, 8 clients, unix socket"
t0=$SECONDS
# shellcheck disable=SC2046
al fill $(target unix) --mode post --clients 8 --requests "$AL_VMS" --prefix fill --ip-first 0 \
        --save-ids "$BENCH_TMP/fill-ids"
n=$(vm_count)
[[ $n == "$AL_VMS" && $(wc -l <"$BENCH_TMP/fill-ids") == "$AL_VMS" ]] || fail "store holds $n VMs after the fill, not $AL_VMS"
msg "fill done in $((SECONDS - t0)) s; store holds $n VMs"

# ---- rounds ----------------------------------------------------------------------------
ip_next=$AL_VMS
for ((round = 1; round <= AL_ROUNDS; round++)); do
        echo
        msg "round $round/$AL_ROUNDS (load average $(cut -d' ' -f1-3 /proc/loadavg))"
        for t in "${TRANSPORTS[@]}"; do
                for c in $AL_CLIENTS; do
                        # shellcheck disable=SC2046
                        al "get-$t-c$c-r$round" $(target "$t") --mode get --clients "$c" --duration "$AL_GET_SECONDS" \
                                --warmup "$AL_GET_WARMUP" --ids "$BENCH_TMP/fill-ids" --seed "$round"
                done
        done
        for t in "${TRANSPORTS[@]}"; do
                for c in $AL_CLIENTS; do
                        ids=$BENCH_TMP/post-ids
                        # shellcheck disable=SC2046
                        al "post-$t-c$c-r$round" $(target "$t") --mode post --clients "$c" --requests "$AL_POSTS" \
                                --warmup "$AL_POST_WARMUP" --prefix "p$round$t$c" --ip-first "$ip_next" --save-ids "$ids"
                        ip_next=$((ip_next + AL_POSTS + AL_POST_WARMUP * c))
                        # The list holds the warm-up VMs too: afterwards the store is back at AL_VMS.
                        al "delete-$t-c$c-r$round" --unix "$GW_SOCK" --mode delete --clients 8 --ids "$ids"
                        n=$(vm_count)
                        [[ $n == "$AL_VMS" ]] || fail "store holds $n VMs after deleting the POST run's VMs, not $AL_VMS"
                done
        done
done

# ---- summary ---------------------------------------------------------------------------
echo
msg "all runs, one JSON line each (daemon_cpu_s: edgegwd's CPU seconds during the run, warm-up" \
        "included; client_cpu_s: api-load's, measured phase; reconcile_runs: reconciler runs, warm-up included)"
cat "$RUNS"
echo
msg "summary: medians over $AL_ROUNDS rounds (max: the largest of the rounds); store at $AL_VMS VMs in every run"
"$PYTHON" - "$RUNS" <<'EOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
groups = {}
for r in runs:
    if r["label"] == "fill":
        continue
    groups.setdefault((r["mode"], r["transport"], r["clients"]), []).append(r)
order = {"get": 0, "post": 1, "delete": 2}
print("| request | transport | clients | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | daemon CPU ms per request | writes per reconcile run | runs |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for (mode, transport, clients), rs in sorted(groups.items(), key=lambda kv: (order[kv[0][0]], kv[0][1] != "unix", kv[0][2])):
    med = lambda k: statistics.median(r[k] for r in rs)
    cpu = statistics.median(1000 * r["daemon_cpu_s"] / (r["requests"] + r["warmup_requests"]) for r in rs)
    name = {"get": "GET /v1/vms/ID", "post": "POST /v1/vms", "delete": "DELETE /v1/vms/ID"}[mode]
    batch = "-" if mode == "get" else "%.1f" % statistics.median(
        (r["requests"] + r["warmup_requests"]) / max(r["reconcile_runs"], 1) for r in rs)
    print("| %s | %s | %d | %.0f | %.3f | %.3f | %.3f | %.1f | %.1f | %.2f | %s | %d |" % (
        name, transport, clients, med("rps"), med("p50_ms"), med("p90_ms"), med("p99_ms"), med("p999_ms"),
        max(r["max_ms"] for r in rs), cpu, batch, len(rs)))
fill = [r for r in runs if r["label"] == "fill"]
if fill:
    f = fill[0]
    print("\nfill: %d POSTs at 8 clients in %.1f s = %.0f req/s (p50 %.3f ms, p99 %.3f ms), store growing 0 -> %d"
          % (f["requests"], f["seconds"], f["rps"], f["p50_ms"], f["p99_ms"], f["requests"]))
EOF
((TCP)) || msg "TCP: not measured (see above)"

daemon_stop
echo
msg "done in $SECONDS s; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
mv "$PARTIAL" "$RESULTS"
msg "results: $RESULTS"
