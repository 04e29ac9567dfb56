#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# edgegw's SNI passthrough proxy side by side with HAProxy, nginx stream (ssl_preread) and
# sniproxy, and a direct connection to the backend, with 1 and then 2 worker threads for
# every proxy (sniproxy has one thread, whatever the row says).
#
#   client 203.0.113.9/24 --veth-- gw wan 203.0.113.1/24 (all proxies, ip_forward=1 in gw)
#                                     vm1 10.0.1.1/24 --veth-- vm1 10.0.1.5/24 (nginx, TLS :443)
#
#   edgegw   203.0.113.1:8443   edgegwd [proxy] https_listen, workers = N
#   haproxy  203.0.113.1:8444   mode tcp, req.ssl_sni, nbthread N
#   nginx    203.0.113.1:8445   stream, ssl_preread + map, worker_processes N, reuseport
#   sniproxy 203.0.113.1:8446   one thread
#   direct   10.0.1.5:443       routed through gw (client route 10.0.1.0/24 via gw), no proxy
#
# All proxies run at the same time (an idle proxy costs nothing) and route the one name,
# the bench VM's subdomain from `edgegw --json vm add bench --ip 10.0.1.5`, to
# 10.0.1.5:443. The backend is nginx with worker_processes N and a self-signed P-256
# certificate for that name, serving / (a 13-byte page) and /big (100 MiB).
#
# Per N: (1) memory: every proxy fresh, RSS idle, then with PC_IDLE_CONNS TLS connections
# held open through it (pc.py hold); (2) a short warm-up of every target; (3) PC_ROUNDS
# rounds of `wrk -H 'Connection: close'` (new TLS connections/s, proxy CPU per connection),
# then PC_ROUNDS rounds of keep-alive wrk, targets in rotating order; (4) PC_BULK_RUNS
# rounds of `curl /big` (MB/s, proxy CPU per GB); (5) pc.py latency: PC_LAT_COUNT
# sequential connect+handshake+first byte per target, interleaved in blocks of 100.
# wrk takes the name from the URL (SNI and Host), so it runs in a private mount namespace
# where a bind-mounted hosts file maps the name to the target's address; the real
# /etc/hosts is never touched.
#
# Environment: BUILD, PC_WORKERS ("1 2"), PC_SECONDS (5), PC_ROUNDS (3), PC_WARMUP (2),
# PC_WRK_THREADS (2), PC_WRK_CONNS (64), PC_BULK_RUNS (5), PC_LAT_COUNT (2000),
# PC_IDLE_CONNS (5000), PC_RESULTS (bench/results/issue3-YYYYMMDD.txt; "" = do not write),
# PC_PAUSE (debugging: non-empty = wait before each phase is torn down).
# Root. Everything is removed on exit (lib.sh's trap), also on failure and Ctrl-C.
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
bench_init

PC_WORKERS=${PC_WORKERS:-1 2}
PC_SECONDS=${PC_SECONDS:-5}
PC_ROUNDS=${PC_ROUNDS:-3}
PC_WARMUP=${PC_WARMUP:-2}
PC_WRK_THREADS=${PC_WRK_THREADS:-2}
PC_WRK_CONNS=${PC_WRK_CONNS:-64}
PC_BULK_RUNS=${PC_BULK_RUNS:-5}
PC_LAT_COUNT=${PC_LAT_COUNT:-2000}
PC_IDLE_CONNS=${PC_IDLE_CONNS:-5000}
PC_RESULTS=${PC_RESULTS-$REPO/bench/results/issue3-$(date +%Y%m%d).txt}
PC=$BENCH_DIR/proxy/pc.py

((EUID == 0)) || fail "needs root (network namespaces)"
[[ -x $EDGEGWD && -x $EDGEGW ]] || fail "missing $EDGEGWD or $EDGEGW (make build, or BUILD=dir)"
for c in haproxy nginx sniproxy wrk curl openssl unshare; do
        command -v "$c" >/dev/null ||
                fail "missing '$c' (Debian: apt-get install haproxy nginx libnginx-mod-stream sniproxy wrk curl openssl util-linux)"
done
[[ -r /usr/lib/nginx/modules/ngx_stream_module.so ]] || fail "missing nginx's stream module (apt-get install libnginx-mod-stream)"

if [[ -n $PC_RESULTS ]]; then
        mkdir -p "$(dirname "$PC_RESULTS")"
        exec > >(tee "$PC_RESULTS.partial") 2>&1
fi

GW_IP=203.0.113.1
VM_IP=10.0.1.5
declare -A PORT=([edgegw]=8443 [haproxy]=8444 [nginx]=8445 [sniproxy]=8446 [direct]=443)
declare -A ADDR=([edgegw]=$GW_IP [haproxy]=$GW_IP [nginx]=$GW_IP [sniproxy]=$GW_IP [direct]=$VM_IP)
PROXIES=(edgegw haproxy nginx sniproxy)
TARGETS=(edgegw haproxy nginx sniproxy direct)
declare -A PID=()
BACKEND_PID=
PORT_FOR=
CUR_N=1
NAME=
RES=$BENCH_TMP/results.tsv
: >"$RES"

topo_up() {
        local c=$BENCH_PREFIX-client g=$BENCH_PREFIX-gw v=$BENCH_PREFIX-vm1 ns
        ns_add client && ns_add gw && ns_add vm1 || return 1
        ip -n "$g" link add wan type veth peer name eth0 netns "$c" &&
                ip -n "$c" addr add 203.0.113.9/24 dev eth0 &&
                ip -n "$c" link set eth0 up &&
                ip -n "$g" addr add $GW_IP/24 dev wan &&
                ip -n "$g" link set wan up &&
                ip -n "$c" route add 10.0.1.0/24 via $GW_IP || return 1
        ip -n "$g" link add vm1 type veth peer name eth0 netns "$v" &&
                ip -n "$g" addr add 10.0.1.1/24 dev vm1 &&
                ip -n "$g" link set vm1 up &&
                ip -n "$v" addr add $VM_IP/24 dev eth0 &&
                ip -n "$v" link set eth0 up &&
                ip -n "$v" route add default via 10.0.1.1 || return 1
        # Inside our namespaces only: forwarding for the direct path, and room for the
        # hundreds of thousands of short connections (ports, TIME_WAIT reuse).
        in_ns gw sysctl -qw net.ipv4.ip_forward=1 || return 1
        for ns in client gw vm1; do
                in_ns $ns sysctl -qw net.ipv4.ip_local_port_range="1024 65535" net.ipv4.tcp_tw_reuse=1 || return 1
        done
}

# The gateway configuration (lib.sh's daemon_start calls this): proxy only on :8443.
write_config() {
        mkdir -p "$GW_STATE"
        cat >"$GW_CONF" <<EOF
[gateway]
datacenter = "bench"
domain = "example.net"
public_ip = "$GW_IP"
port_range_start = 20000
port_range_end = 59999
state_dir = "$GW_STATE"

[proxy]
https_listen = "$GW_IP:${PORT[edgegw]}"
http_listen = ""
workers = $CUR_N
max_connections = 9000
max_connections_per_source = 65000

[daemon]
log_level = "warning"
resync_interval = 0
EOF
}

wait_listen() { # NS PORT
        local i
        for ((i = 0; i < 100; i++)); do
                in_ns "$1" ss -Hltn "sport = :$2" 2>/dev/null | grep -q . && return 0
                sleep 0.1
        done
        return 1
}

render() { # TEMPLATE OUT N
        sed -e "s|@TMP@|$BENCH_TMP|g" -e "s|@WORKERS@|$3|g" -e "s|@THREADS@|$3|g" \
                -e "s|@NAME@|$NAME|g" -e "s|@BACKEND@|$VM_IP:443|g" -e "s|@ADDR@|$VM_IP|g" \
                -e "s|@LISTEN@|$GW_IP:$PORT_FOR|g" "$BENCH_DIR/proxy/$1" >"$BENCH_TMP/$2"
}

backend_start() { # N
        render backend-nginx.conf.in backend.conf "$1"
        ip netns exec "$BENCH_PREFIX-vm1" nginx -c "$BENCH_TMP/backend.conf" -p "$BENCH_TMP" \
                -e "$BENCH_TMP/backend-error.log" -g 'daemon off;' </dev/null >>"$BENCH_TMP/backend.log" 2>&1 &
        BACKEND_PID=$!
        BENCH_PIDS+=("$BACKEND_PID")
        wait_listen vm1 443 || fail "the backend nginx does not listen: $(tail -n 5 "$BENCH_TMP/backend-error.log")"
}

proxy_start() { # NAME N
        local p=$1 n=$2 log=$BENCH_TMP/$1.log
        PORT_FOR=${PORT[$p]}
        case $p in
        edgegw)
                CUR_N=$n
                daemon_start
                PID[edgegw]=$DAEMON_PID
                ;;
        haproxy)
                render haproxy.cfg.in haproxy.cfg "$n"
                haproxy -c -q -f "$BENCH_TMP/haproxy.cfg" || fail "haproxy rejects its configuration"
                ip netns exec "$BENCH_PREFIX-gw" haproxy -f "$BENCH_TMP/haproxy.cfg" -db </dev/null >>"$log" 2>&1 &
                PID[haproxy]=$!
                ;;
        nginx)
                render nginx-stream.conf.in nginx-stream.conf "$n"
                ip netns exec "$BENCH_PREFIX-gw" nginx -c "$BENCH_TMP/nginx-stream.conf" -p "$BENCH_TMP" \
                        -e "$BENCH_TMP/nginx-stream-error.log" -g 'daemon off;' </dev/null >>"$log" 2>&1 &
                PID[nginx]=$!
                ;;
        sniproxy)
                render sniproxy.conf.in sniproxy.conf 1
                ip netns exec "$BENCH_PREFIX-gw" sniproxy -f -c "$BENCH_TMP/sniproxy.conf" </dev/null >>"$log" 2>&1 &
                PID[sniproxy]=$!
                ;;
        esac
        [[ $p == edgegw ]] || BENCH_PIDS+=("${PID[$p]}")
        wait_listen gw "${PORT[$p]}" || fail "$p does not listen on ${PORT[$p]}: $(tail -n 5 "$log" 2>/dev/null)"
}

proxy_stop() { # NAME
        local p=$1 i
        if [[ $p == edgegw ]]; then
                daemon_stop
        else
                kill -TERM "${PID[$p]}" 2>/dev/null
                for ((i = 0; i < 100; i++)); do
                        kill -0 "${PID[$p]}" 2>/dev/null || break
                        sleep 0.1
                done
                kill -KILL "${PID[$p]}" 2>/dev/null
                wait "${PID[$p]}" 2>/dev/null
        fi
        PID[$p]=
}

backend_stop() {
        kill -TERM "$BACKEND_PID" 2>/dev/null
        wait "$BACKEND_PID" 2>/dev/null
        BACKEND_PID=
}

# pstat NAME: "cpu_s rss_kib nprocs ticks_s" over the proxy's processes (pc.py stat).
pstat() { "$PYTHON" "$PC" stat "${PID[$1]}"; }

rec() { echo "$CUR_N $1 $2 $3" >>"$RES"; } # TARGET METRIC VALUE

# with_hosts TARGET CMD...: CMD in the client namespace, in a private mount namespace in
# which /etc/hosts maps $NAME to the target's address.
with_hosts() {
        local t=$1
        shift
        # shellcheck disable=SC2016 # $0 and $@ belong to the inner sh
        ip netns exec "$BENCH_PREFIX-client" unshare -m --propagation private \
                sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$BENCH_TMP/hosts-$t" "$@"
}

# wrk_run TARGET close|keepalive SECONDS: prints "requests/s requests errors".
wrk_run() {
        local t=$1 mode=$2 s=$3 out hdr=()
        [[ $mode == close ]] && hdr=(-H 'Connection: close')
        out=$(with_hosts "$t" timeout $((s + 30)) wrk -t"$PC_WRK_THREADS" -c"$PC_WRK_CONNS" -d"${s}s" "${hdr[@]}" \
                "https://$NAME:${PORT[$t]}/" 2>&1) || {
                echo "wrk against $t failed: $out" >&2
                return 1
        }
        "$PYTHON" -c '
import re, sys
o = sys.stdin.read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", o).group(1))
n = int(re.search(r"(\d+) requests in", o).group(1))
e = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", o))
e += int((re.search(r"Non-2xx or 3xx responses: (\d+)", o) or [0, 0])[1])
print(f"{rps:.1f} {n} {e}")' <<<"$out"
}

# bulk_run TARGET: prints "bytes/s bytes".
bulk_run() {
        local t=$1
        in_ns client timeout 120 curl -sk -o /dev/null --resolve "$NAME:${PORT[$t]}:${ADDR[$t]}" \
                -w '%{speed_download} %{size_download}\n' "https://$NAME:${PORT[$t]}/big"
}

# rotated R: TARGETS rotated left by R (interleaving: every target goes first in turn).
rotated() {
        local r=$(($1 % ${#TARGETS[@]}))
        echo "${TARGETS[@]:r}" "${TARGETS[@]:0:r}"
}

# hold_open TARGET: starts pc.py hold through TARGET (HOLD_PID, fd 8 its stdin) and waits
# until it holds PC_IDLE_CONNS connections. Fails (1) with HOLD_OUT set otherwise.
HOLD_PID=
HOLD_OUT=
hold_open() {
        local p=$1 i
        rm -f "$BENCH_TMP/hold.in"
        mkfifo "$BENCH_TMP/hold.in"
        ip netns exec "$BENCH_PREFIX-client" "$PYTHON" "$PC" hold --addr "${ADDR[$p]}" --port "${PORT[$p]}" \
                --sni "$NAME" --count "$PC_IDLE_CONNS" <"$BENCH_TMP/hold.in" >"$BENCH_TMP/hold.out" 2>&1 &
        HOLD_PID=$!
        exec 8>"$BENCH_TMP/hold.in"
        for ((i = 0; i < 1200; i++)); do
                grep -qE '^(ready|failed)' "$BENCH_TMP/hold.out" && break
                kill -0 "$HOLD_PID" 2>/dev/null || break
                sleep 0.1
        done
        HOLD_OUT=$(cat "$BENCH_TMP/hold.out")
        [[ $HOLD_OUT == "ready $PC_IDLE_CONNS" ]] && return 0
        hold_close
        HOLD_OUT="${HOLD_OUT:-no output} (exit status $HOLD_RC)"
        return 1
}

hold_close() {
        exec 8>&- # the client aborts its connections and exits
        wait "$HOLD_PID"
        HOLD_RC=$?
        HOLD_PID=
}
HOLD_RC=

memory() {
        local p rss0 rss1 np
        for p in "${PROXIES[@]}"; do
                read -r _ rss0 np _ < <(pstat "$p")
                if ! hold_open "$p"; then
                        msg "holding $PC_IDLE_CONNS connections through $p failed: $HOLD_OUT; once more"
                        sleep 3
                        read -r _ rss0 np _ < <(pstat "$p")
                        hold_open "$p" || fail "holding $PC_IDLE_CONNS connections through $p: $HOLD_OUT;" \
                                "$p's log: $(tail -n 5 "$BENCH_TMP/$p.log" "$BENCH_TMP/nginx-stream-error.log" 2>/dev/null)"
                fi
                sleep 1
                read -r _ rss1 _ _ < <(pstat "$p")
                hold_close
                rec "$p" rss_idle_kib "$rss0"
                rec "$p" rss_5k_kib "$rss1"
                rec "$p" idle_conns "$PC_IDLE_CONNS"
                msg "$p: RSS idle $rss0 KiB ($np processes), with $PC_IDLE_CONNS TLS connections $rss1 KiB" \
                        "($(((rss1 - rss0) * 1000 / PC_IDLE_CONNS)) bytes/connection)"
                # Let the proxy see the resets and close the backend side before the next one.
                sleep 2
        done
}

phase() {
        local n=$1 r t p c0 c1 res b rps reqs errs bytes mode line out
        CUR_N=$n
        echo
        echo "## workers = $n"
        backend_start "$n"
        for p in "${PROXIES[@]}"; do proxy_start "$p" "$n"; done
        for t in "${TARGETS[@]}"; do
                out=$(in_ns client curl -sSk -m 5 --resolve "$NAME:${PORT[$t]}:${ADDR[$t]}" "https://$NAME:${PORT[$t]}/" 2>&1)
                [[ $out == "edgegw bench" ]] || fail "GET / through $t did not return the backend's page: $out"
        done
        msg "every target answers with the backend's page; proxy processes: $(for p in "${PROXIES[@]}"; do
                printf '%s %s, ' "$p" "$(pstat "$p" | cut -d' ' -f3)"
        done)"

        memory

        msg "warm-up: ${PC_WARMUP} s of wrk (close, keep-alive) and one /big per target"
        for t in "${TARGETS[@]}"; do
                wrk_run "$t" close "$PC_WARMUP" >/dev/null || fail "warm-up of $t failed"
                wrk_run "$t" keepalive "$PC_WARMUP" >/dev/null || fail "warm-up of $t failed"
                bulk_run "$t" >/dev/null || fail "warm-up download through $t failed"
        done

        for mode in close keepalive; do
                for ((r = 0; r < PC_ROUNDS; r++)); do
                        line="round $((r + 1))/$PC_ROUNDS $mode:"
                        for t in $(rotated "$r"); do
                                [[ $t != direct ]] && c0=$(pstat "$t" | cut -d' ' -f1)
                                res=$(wrk_run "$t" "$mode" "$PC_SECONDS") || fail "wrk $mode through $t failed"
                                read -r rps reqs errs <<<"$res"
                                ((errs == 0)) || fail "wrk $mode through $t: $errs errors"
                                if [[ $mode == close ]]; then
                                        rec "$t" conn_rps "$rps"
                                        if [[ $t != direct ]]; then
                                                c1=$(pstat "$t" | cut -d' ' -f1)
                                                rec "$t" cpu_per_10k_conn "$("$PYTHON" -c "print((${c1} - ${c0}) / ${reqs} * 10000)")"
                                        fi
                                else
                                        rec "$t" ka_rps "$rps"
                                fi
                                line+=" $t $rps"
                        done
                        msg "$line (requests/s)"
                done
        done

        declare -A cpu_sum=() bytes_sum=()
        for ((r = 0; r < PC_BULK_RUNS; r++)); do
                line="round $((r + 1))/$PC_BULK_RUNS bulk:"
                for t in $(rotated "$r"); do
                        [[ $t != direct ]] && c0=$(pstat "$t" | cut -d' ' -f1)
                        res=$(bulk_run "$t") || fail "download through $t failed"
                        read -r b bytes <<<"$res"
                        ((bytes == 104857600)) || fail "download through $t: $bytes bytes, expected 104857600"
                        rec "$t" bulk_mbs "$("$PYTHON" -c "print(round($b / 1e6, 1))")"
                        if [[ $t != direct ]]; then
                                c1=$(pstat "$t" | cut -d' ' -f1)
                                cpu_sum[$t]=$("$PYTHON" -c "print(${cpu_sum[$t]:-0} + $c1 - $c0)")
                                bytes_sum[$t]=$((${bytes_sum[$t]:-0} + bytes))
                        fi
                        line+=" $t $("$PYTHON" -c "print(round($b / 1e6))")"
                done
                msg "$line (MB/s)"
        done
        for t in "${PROXIES[@]}"; do
                rec "$t" cpu_per_gb "$("$PYTHON" -c "print(${cpu_sum[$t]} / (${bytes_sum[$t]} / 1e9))")"
        done

        msg "latency: $PC_LAT_COUNT sequential connect+handshake+GET+first byte per target, interleaved"
        local targs=()
        for t in "${TARGETS[@]}"; do targs+=("$t=${ADDR[$t]}:${PORT[$t]}"); done
        in_ns client "$PYTHON" "$PC" latency --sni "$NAME" --count "$PC_LAT_COUNT" --block 100 "${targs[@]}" \
                >"$BENCH_TMP/lat.json" || fail "latency client failed"
        while read -r l; do
                t=$(json 'd["target"]' <<<"$l")
                [[ $(json 'd["errors"]' <<<"$l") == 0 ]] || fail "latency through $t: errors: $l"
                rec "$t" lat_p50_ms "$(json 'd["p50_ms"]' <<<"$l")"
                rec "$t" lat_p99_ms "$(json 'd["p99_ms"]' <<<"$l")"
                msg "latency $l"
        done <"$BENCH_TMP/lat.json"

        if [[ -n ${PC_PAUSE:-} ]]; then # debugging: look around before the phase is torn down
                msg "PC_PAUSE: paused; namespaces $BENCH_PREFIX-*, pids: $(declare -p PID); remove $BENCH_TMP/pause to go on"
                touch "$BENCH_TMP/pause"
                while [[ -e $BENCH_TMP/pause ]]; do sleep 1; done
        fi
        for p in "${PROXIES[@]}"; do proxy_stop "$p"; done
        backend_stop
}

echo
echo "## SNI proxy comparison: edgegw vs HAProxy vs nginx stream vs sniproxy vs direct"
msg "versions: $("$EDGEGWD" --version 2>&1 | head -n 1); $(haproxy -v | head -n 1);" \
        "$(nginx -v 2>&1); $(sniproxy -V 2>&1 | head -n 1); $(wrk -v 2>&1 | head -n 1); $(openssl version)"
msg "settings: PC_WORKERS='$PC_WORKERS' PC_SECONDS=$PC_SECONDS PC_ROUNDS=$PC_ROUNDS PC_WARMUP=$PC_WARMUP" \
        "PC_WRK_THREADS=$PC_WRK_THREADS PC_WRK_CONNS=$PC_WRK_CONNS PC_BULK_RUNS=$PC_BULK_RUNS" \
        "PC_LAT_COUNT=$PC_LAT_COUNT PC_IDLE_CONNS=$PC_IDLE_CONNS"
msg "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
topo_up || fail "cannot build the namespaces"
# Short-lived connections leave conntrack entries in TIME_WAIT (the gateway's nat chains
# enable conntrack in gw): keep them for 10 s, not 120 s, so the table never fills.
in_ns gw sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait=10 2>/dev/null ||
        msg "note: cannot shorten conntrack TIME_WAIT in gw"

# The VM and its name: edgegwd first (workers = the first N), then the certificate.
CUR_N=${PC_WORKERS%% *}
daemon_start
out=$(cli --json vm add bench --ip $VM_IP) || fail "vm add bench failed: $out"
NAME=$(json 'd["subdomain"]' <<<"$out")
[[ -n $NAME ]] || fail "vm add bench: no subdomain in $out"
daemon_stop
msg "vm add bench --ip $VM_IP: SNI name $NAME"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=$NAME" \
        -addext "subjectAltName=DNS:$NAME" -keyout "$BENCH_TMP/key.pem" -out "$BENCH_TMP/cert.pem" 2>/dev/null ||
        fail "openssl req failed"
mkdir -p "$BENCH_TMP/www"
echo "edgegw bench" >"$BENCH_TMP/www/index.html"
head -c 104857600 /dev/urandom >"$BENCH_TMP/www/big"
# nginx's workers run as www-data: let them reach the pages (nothing else in here is secret).
chmod 711 "$BENCH_TMP" && chmod 755 "$BENCH_TMP/www" && chmod 644 "$BENCH_TMP"/www/*
for t in "${TARGETS[@]}"; do echo "${ADDR[$t]} $NAME" >"$BENCH_TMP/hosts-$t"; done

t0=$SECONDS
for n in $PC_WORKERS; do phase "$n"; done

echo
echo "## summary (medians; ratios: edgegw / the best of haproxy, nginx, sniproxy; edgegw / direct)"
"$PYTHON" "$PC" report "$RES"
echo
msg "proxy comparison done in $((SECONDS - t0)) s; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ -n $PC_RESULTS ]]; then
        mv "$PC_RESULTS.partial" "$PC_RESULTS"
        msg "results: $PC_RESULTS"
fi
