#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Forwarded TCP throughput through the gateway: DNAT (public port -> VM) versus plain
# routing to the same VM, with 1 VM and then with 10,001 VMs in the maps.
#
#   client 203.0.113.9/24 --veth-- gw wan 203.0.113.1/24   (edgegwd, ip_forward=1 in gw only)
#                                     br0 10.0.1.1/24 --veth-- vm1 10.0.1.5/24 (iperf3 -s -p 10001)
#
#   DNAT:    client: iperf3 -c 203.0.113.1 -p P+1     (P = the VM's SSH port; P+1 -> 10001/tcp)
#   routed:  client: iperf3 -c 10.0.1.5 -p 10001      (route 10.0.1.0/24 via 203.0.113.1)
#
# Each phase: one short warm-up of each path, then FWD_RUNS rounds of one run of each path,
# the order alternating per round; medians. Phase 2 adds FWD_MORE_VMS (10,000) more VMs
# through the API (vm-add.py add: addresses in 10.64.0.0/10, nothing behind them) to the
# same running gateway and measures again.
#
# Environment: BUILD (build dir, default build), FWD_SECONDS (10), FWD_RUNS (5), FWD_WARMUP
# (3 seconds), FWD_MORE_VMS (10000). Root. Everything is removed on exit (lib.sh).
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
bench_init

FWD_SECONDS=${FWD_SECONDS:-10}
FWD_RUNS=${FWD_RUNS:-5}
FWD_WARMUP=${FWD_WARMUP:-3}
FWD_MORE_VMS=${FWD_MORE_VMS:-10000}

((EUID == 0)) || fail "needs root (network namespaces)"
[[ -x $EDGEGWD && -x $EDGEGW ]] || fail "missing $EDGEGWD or $EDGEGW (make build, or BUILD=dir)"
command -v iperf3 >/dev/null || fail "iperf3 is not installed (apt-get install iperf3)"

topo_up() {
        local c=$BENCH_PREFIX-client g=$BENCH_PREFIX-gw v=$BENCH_PREFIX-vm1
        ns_add client && ns_add gw && ns_add vm1 || return 1
        ip -n "$g" link add wan type veth peer name eth0 netns "$c" &&
                ip -n "$c" addr add 203.0.113.9/24 dev eth0 &&
                ip -n "$c" link set eth0 up &&
                ip -n "$g" addr add 203.0.113.1/24 dev wan &&
                ip -n "$g" link set wan up || return 1
        ip -n "$g" link add br0 type bridge &&
                ip -n "$g" addr add 10.0.1.1/24 dev br0 &&
                ip -n "$g" link set br0 up &&
                ip -n "$g" link add vm1 type veth peer name eth0 netns "$v" &&
                ip -n "$g" link set vm1 master br0 up &&
                ip -n "$v" addr add 10.0.1.5/24 dev eth0 &&
                ip -n "$v" link set eth0 up &&
                ip -n "$v" route add default via 10.0.1.1 || return 1
        in_ns gw sysctl -qw net.ipv4.ip_forward=1 || return 1
        # The routed comparison: the client reaches the VM network through gw directly.
        ip -n "$c" route add 10.0.1.0/24 via 203.0.113.1
}

# iperf_gbps HOST PORT SECONDS: one single-stream run from the client; prints Gbit/s
# (receiver side).
iperf_gbps() {
        local out
        out=$(in_ns client timeout $(($3 + 30)) iperf3 -c "$1" -p "$2" -t "$3" -J) || {
                echo "iperf3 -c $1 -p $2 failed: $(tail -c 300 <<<"$out")" >&2
                return 1
        }
        json '"%.3f" % (d["end"]["sum_received"]["bits_per_second"] / 1e9)' <<<"$out"
}

# add_bench_vm: adds VM "bench" -> 10.0.1.5 and sets PORT to its forwarded 10001/tcp port.
add_bench_vm() {
        local out p
        out=$(cli --json vm add bench --ip 10.0.1.5) || fail "vm add bench failed: $out"
        [[ $(json 'd["rules"]' <<<"$out") == applied ]] || fail "vm add bench: rules not applied: $out"
        p=$(json 'd["ssh_port"]' <<<"$out")
        PORT=$((p + 1))
        [[ $(json "[x['vm_port'] for x in d['ports'] if x['public_port'] == $PORT and x['proto'] == 'tcp']" <<<"$out") == "[10001]" ]] ||
                fail "port $PORT of the bench VM is not 10001/tcp: $out"
        msg "vm add bench --ip 10.0.1.5: ports $p-$((p + 5)), DNAT target 203.0.113.1:$PORT -> 10.0.1.5:10001"
}

# phase: warm-up, then interleaved runs; fills the arrays PH_DNAT and PH_ROUTED (Gbit/s).
PH_DNAT=()
PH_ROUTED=()
phase() {
        local r g d=() o=()
        msg "warm-up: ${FWD_WARMUP} s DNAT, ${FWD_WARMUP} s routed"
        iperf_gbps 203.0.113.1 "$PORT" "$FWD_WARMUP" >/dev/null || fail "warm-up over DNAT failed"
        iperf_gbps 10.0.1.5 10001 "$FWD_WARMUP" >/dev/null || fail "warm-up over the routed path failed"
        for ((r = 1; r <= FWD_RUNS; r++)); do
                if ((r % 2)); then
                        g=$(iperf_gbps 203.0.113.1 "$PORT" "$FWD_SECONDS") || fail "DNAT run $r failed"
                        d+=("$g")
                        g=$(iperf_gbps 10.0.1.5 10001 "$FWD_SECONDS") || fail "routed run $r failed"
                        o+=("$g")
                else
                        g=$(iperf_gbps 10.0.1.5 10001 "$FWD_SECONDS") || fail "routed run $r failed"
                        o+=("$g")
                        g=$(iperf_gbps 203.0.113.1 "$PORT" "$FWD_SECONDS") || fail "DNAT run $r failed"
                        d+=("$g")
                fi
                msg "round $r/$FWD_RUNS: DNAT ${d[-1]} Gbit/s, routed ${o[-1]} Gbit/s"
        done
        PH_DNAT=("${d[@]}")
        PH_ROUTED=("${o[@]}")
}

echo
echo "## forwarded TCP throughput (iperf3, 1 stream, ${FWD_SECONDS} s runs, ${FWD_RUNS} interleaved rounds)"
topo_up || fail "cannot build the namespaces"
ip netns exec "$BENCH_PREFIX-vm1" iperf3 -s -p 10001 </dev/null >/dev/null 2>&1 &
BENCH_PIDS+=($!)
for ((i = 0; i < 50; i++)); do
        in_ns vm1 ss -Hlnt 2>/dev/null | grep -q ':10001 ' && break
        sleep 0.1
done

# -- phase 1: one VM
daemon_start
add_bench_vm
phase
DNAT_ONE=("${PH_DNAT[@]}")
ROUTED_ONE=("${PH_ROUTED[@]}")

# -- phase 2: FWD_MORE_VMS more VMs in the maps, same gateway, same bench VM
msg "phase 2: adding $FWD_MORE_VMS VMs through the API"
"$PYTHON" "$BENCH_DIR/vm-add.py" add --socket "$GW_SOCK" --count "$FWD_MORE_VMS" || fail "bulk add failed"
vms=$(api_get /v1/status | json 'd["reconcilers"]["nft"]["vms"]')
elems=$(in_ns gw nft -j list table inet edgegw | json 'sum(len(o["map"].get("elem", [])) for o in d["nftables"] if "map" in o)')
msg "gateway now has $vms VMs, $elems map elements in table inet edgegw"
[[ $vms == $((FWD_MORE_VMS + 1)) ]] || fail "expected $((FWD_MORE_VMS + 1)) VMs, the reconciler has $vms"
phase
DNAT_MANY=("${PH_DNAT[@]}")
ROUTED_MANY=("${PH_ROUTED[@]}")
daemon_stop

m_d1=$(median "${DNAT_ONE[@]}")
m_o1=$(median "${ROUTED_ONE[@]}")
m_d2=$(median "${DNAT_MANY[@]}")
m_o2=$(median "${ROUTED_MANY[@]}")
echo
echo "## summary: forwarded TCP throughput, medians of $FWD_RUNS runs (Gbit/s)"
echo "| path | 1 VM in the maps | $vms VMs in the maps |"
echo "|---|---:|---:|"
echo "| routed, no DNAT (client -> 10.0.1.5:10001) | $m_o1 | $m_o2 |"
echo "| DNAT (client -> 203.0.113.1:$PORT) | $m_d1 | $m_d2 |"
echo "| ratio DNAT / routed | $(ratio "$m_d1" "$m_o1") | $(ratio "$m_d2" "$m_o2") |"
echo "runs, 1 VM: DNAT ${DNAT_ONE[*]} | routed ${ROUTED_ONE[*]}"
echo "runs, $vms VMs: DNAT ${DNAT_MANY[*]} | routed ${ROUTED_MANY[*]}"
echo "ratio DNAT $vms VMs / DNAT 1 VM: $(ratio "$m_d2" "$m_d1")"
