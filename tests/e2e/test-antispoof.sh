#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC1091,SC2034  # lib.sh is sourced; CFG_* are read by lib.sh
#
# Anti-spoofing on the VM bridge (issue 6, seed 001's "IP hijacking prevention"): vm1 and vm2
# have fixed MACs and leases (10.0.1.5, 10.0.1.6). A VM that forges another VM's address gets
# nothing through, neither IPv4 nor ARP; with its own address it works; a VM with an unknown
# MAC may use a free address but not a leased one; a VM that answers DHCP is not heard by the
# other VMs, while the gateway's own DHCP server is. Lease changes reach the bridge table's
# sets incrementally; ports joining the bridge are guarded at once; a deleted table is
# reported by `edgegw check` and repaired; DHCP off removes the table.
# e2e-timeout: 240
source "$(dirname "$0")/lib.sh"

MAC1=52:54:00:00:00:01
MAC2=52:54:00:00:00:02
MAC3=52:54:00:00:00:03
NS_VM3=$PFX-vm3
CFG_EXTRA=$'[dhcp]\ninterface = "br0"\nsubnet = "10.0.1.0"\nsubnet_mask = "255.255.255.0"
pool_start = "10.0.1.100"\npool_end = "10.0.1.200"\ngateway = "10.0.1.1"\n[daemon]\nresync_interval = 1'

# ---- helpers ------------------------------------------------------------------------------

ip2int() {
        local IFS=.
        # shellcheck disable=SC2086
        set -- $1
        echo $((($1 << 24) | ($2 << 16) | ($3 << 8) | $4))
}

# kick: a change through the API, so the reconciler runs (incrementally) now.
KICKS=0
kick() {
        KICKS=$((KICKS + 1))
        cli vm add "kick$KICKS" --ip "10.0.9.$KICKS" >/dev/null && cli vm rm "kick$KICKS" >/dev/null
}

# lease_add MAC IP / lease_rm MAC: through the API (POST/DELETE /v1/leases), which answers
# once the reconciler applied the change.
lease_add() {
        run cli --json lease add "$1" --ip "$2"
        rc_is 0 || echo "$OUT $ERR"
}
lease_rm() {
        run cli lease rm "$1"
        rc_is 0 || echo "$OUT $ERR"
}
# lease_move MAC IP: the MAC's lease gets another address in one change-log entry (the API has
# no such update, rm + add is two; this is the store's own write, so the old and the new
# elements of one MAC go in one netlink transaction), then a kick.
lease_move() {
        sqlite3 "$E2E_STATE/edgegw.db" "BEGIN; UPDATE leases SET ip = $(ip2int "$2") WHERE mac = '$1';
                INSERT INTO changes (kind, key) VALUES ('lease', '$1'); COMMIT;" && kick
}

# set_elems SET: the elements of a set of the bridge table, one per line, sorted.
set_elems() {
        gw_nft -j list set bridge edgegw "$1" | python3 -c '
import json, sys
for o in json.load(sys.stdin)["nftables"]:
    for e in o.get("set", {}).get("elem", []):
        print(" . ".join(e["concat"]) if isinstance(e, dict) else e)' | sort
}
has_elem() { grep -qxF "$2" <<<"$(set_elems "$1")" || { echo "$1: $(set_elems "$1" | tr '\n' ' ')"; return 1; }; }
lacks_elem() { ! grep -qxF "$2" <<<"$(set_elems "$1")" || { echo "$1 still has $2"; return 1; }; }

# A UDP sink: every datagram becomes a line "from=ADDRESS data=PAYLOAD" in FILE.
E2E_PY_SINK='
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
with open(sys.argv[3], "a") as f:
    while True:
        data, peer = s.recvfrom(2048)
        f.write("from=%s data=%s\n" % (peer[0], data.decode(errors="replace").strip()))
        f.flush()
'
udp_sink() {
        : >"$4"
        ip netns exec "$1" python3 -c "$E2E_PY_SINK" "$2" "$3" "$4" </dev/null >>"$E2E_TMP/sink.log" 2>&1 &
        BG_PIDS+=($!)
}
# send_udp NS HOST PORT PAYLOAD: three datagrams, from whatever source NS's routing picks.
send_udp() {
        ip netns exec "$1" python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(3):
    try:
        s.sendto(sys.argv[3].encode(), (sys.argv[1], int(sys.argv[2])))
    except OSError:
        pass
    time.sleep(0.05)' "$2" "$3" "$4"
}
# got FILE PAYLOAD SOURCE: the sink got PAYLOAD from SOURCE (waits 5 s).
got() { wait_for 5 grep -qxF "from=$3 data=$2" "$1"; }
# got_nothing FILE PAYLOAD: after a second, no datagram with PAYLOAD reached the sink.
got_nothing() {
        sleep 1
        ! grep -F "data=$2" "$1" || return 1
}

# A DHCP offer sent by hand from NS's eth0: Ethernet broadcast, IPv4 SRC -> 255.255.255.255,
# UDP SPORT -> 68, the payload as the datagram (the receiver only looks at the bytes).
raw_dhcp_reply() {
        ip netns exec "$1" python3 -c '
import socket, struct, sys
src, sport, payload = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
udp = struct.pack("!HHHH", sport, 68, 8 + len(payload), 0) + payload
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                 socket.inet_aton(src), socket.inet_aton("255.255.255.255"))
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
frame = b"\xff" * 6 + s.getsockname()[4] + b"\x08\x00" + ip + udp
for _ in range(3):
    s.send(frame)' "$2" "$3" "$4"
}

# Moves NS's eth0 to ADDRESS/24 with gw as default router; gw's MAC is put in its neighbour
# table by hand, so what is tested is the IPv4 rule, not the ARP one.
readdress() {
        local ns=$1 addr=$2 gwmac
        gwmac=$(ip -n "$NS_GW" -j link show br0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
        ip -n "$ns" addr flush dev eth0 &&
                ip -n "$ns" addr add "$addr/24" dev eth0 &&
                ip -n "$ns" route replace default via 10.0.1.1 &&
                ip -n "$ns" neigh replace 10.0.1.1 lladdr "$gwmac" dev eth0 nud permanent
}

# set_mac NS MAC: NS's eth0 gets MAC (a link down and up, which drops its default route: put
# back when it has an address).
set_mac() {
        ip -n "$1" link set eth0 down && ip -n "$1" link set eth0 address "$2" && link_up "$1"
}
link_up() {
        ip -n "$1" link set eth0 up || return 1
        [[ -z $(ip -n "$1" -4 addr show dev eth0) ]] || ip -n "$1" route replace default via 10.0.1.1
}

# ---- set-up -------------------------------------------------------------------------------

step "topology up" topo_up
# A bridge without a MAC of its own takes its lowest port's, which changes when vm3's port
# joins: fixed here, so the gateway MAC put in the VMs' neighbour tables stays right.
step "br0 gets a fixed MAC" ip -n "$NS_GW" link set br0 address 02:00:00:00:01:01
step "vm1 and vm2 get the MACs of their leases" eval "set_mac $NS_VM1 $MAC1 && set_mac $NS_VM2 $MAC2"
udp_sink "$NS_CLIENT" 203.0.113.9 9999 "$E2E_TMP/client.sink"
udp_sink "$NS_GW" 10.0.1.1 9999 "$E2E_TMP/gw.sink"
udp_sink "$NS_VM1" 0.0.0.0 68 "$E2E_TMP/vm1-dhcp.sink"
step "UDP sinks listening" eval "wait_listening $NS_CLIENT udp 9999 && wait_listening $NS_GW udp 9999 && wait_listening $NS_VM1 udp 68"
step "edgegwd starts with [dhcp] interface = br0" daemon_start

check "the bridge table exists with its guard chain" gw_nft list chain bridge edgegw guard
check "the port set holds br0's ports (vm1)" has_elem ports vm1
check "...vm2" has_elem ports vm2
check "...and vm6" has_elem ports vm6

step "lease vm1's MAC to 10.0.1.5" lease_add "$MAC1" 10.0.1.5
step "lease vm2's MAC to 10.0.1.6" lease_add "$MAC2" 10.0.1.6
check "the lease set has $MAC1 . 10.0.1.5" has_elem leases "$MAC1 . 10.0.1.5"
check "the lease set has $MAC2 . 10.0.1.6" has_elem leases "$MAC2 . 10.0.1.6"
check "lease_macs and lease_ips follow" eval "has_elem lease_macs $MAC2 && has_elem lease_ips 10.0.1.6"
run cli --json status
check "the lease changes were applied incrementally (no full replace)" \
        eq "$(json 'd["reconcilers"]["nft"]["mode"]' <<<"$OUT")" incremental
run cli check
check "edgegw check exits 0 (bridge table included)" rc_is 0

# ---- VMs with their own addresses work -------------------------------------------------------
send_udp "$NS_VM1" 203.0.113.9 9999 vm1-own
check "vm1 (its own 10.0.1.5) reaches the internet" got "$E2E_TMP/client.sink" vm1-own 10.0.1.5
send_udp "$NS_VM2" 10.0.1.1 9999 vm2-own
check "vm2 (its own 10.0.1.6) reaches the gateway" got "$E2E_TMP/gw.sink" vm2-own 10.0.1.6
check "vm1 pings the gateway" in_ns "$NS_VM1" busybox ping -c 1 -W 2 10.0.1.1

# ---- vm2 forges vm1's address ---------------------------------------------------------------
step "vm2 takes vm1's address 10.0.1.5" readdress "$NS_VM2" 10.0.1.5
send_udp "$NS_VM2" 203.0.113.9 9999 vm2-forged
check "vm2 with 10.0.1.5 gets nothing to the internet" got_nothing "$E2E_TMP/client.sink" vm2-forged
send_udp "$NS_VM2" 10.0.1.1 9999 vm2-forged-gw
check "...nor to the gateway" got_nothing "$E2E_TMP/gw.sink" vm2-forged-gw
send_udp "$NS_VM1" 203.0.113.9 9999 vm1-still
check "vm1 still works meanwhile" got "$E2E_TMP/client.sink" vm1-still 10.0.1.5
# ARP: with vm1 silent, only vm2 answers for 10.0.1.5; its answer never reaches the gateway.
step "vm1's link goes down" ip -n "$NS_VM1" link set eth0 down
ip -n "$NS_GW" neigh flush dev br0 2>/dev/null
check "the gateway cannot reach 10.0.1.5 through vm2's ARP claim" not in_ns "$NS_GW" busybox ping -c 2 -W 1 10.0.1.5
check "...its neighbour table never maps 10.0.1.5 to $MAC2" \
        not grep -qi "$MAC2" <<<"$(ip -n "$NS_GW" neigh show 10.0.1.5)"
step "vm1's link comes up" link_up "$NS_VM1"
check "vm1 answers for 10.0.1.5 again" wait_for 5 in_ns "$NS_GW" busybox ping -c 1 -W 1 10.0.1.5
check "the gateway maps 10.0.1.5 to $MAC1" contains "$(ip -n "$NS_GW" neigh show 10.0.1.5)" "$MAC1"

# ---- vm2 back on its own address --------------------------------------------------------------
step "vm2 goes back to 10.0.1.6" readdress "$NS_VM2" 10.0.1.6
send_udp "$NS_VM2" 203.0.113.9 9999 vm2-back
check "vm2 with its own address works again" got "$E2E_TMP/client.sink" vm2-back 10.0.1.6

# ---- a MAC without a lease ------------------------------------------------------------------------
step "vm3 (MAC $MAC3, no lease) joins the bridge" eval "ns_add $NS_VM3 && bridge_port $NS_VM3 vm3 && set_mac $NS_VM3 $MAC3"
check "the new port is guarded within seconds (link watch)" wait_for 5 has_elem ports vm3
step "vm3 uses the free address 10.0.1.7" readdress "$NS_VM3" 10.0.1.7
send_udp "$NS_VM3" 203.0.113.9 9999 vm3-free
check "an unknown MAC with a free address gets through" got "$E2E_TMP/client.sink" vm3-free 10.0.1.7
step "vm3 takes vm1's leased 10.0.1.5" readdress "$NS_VM3" 10.0.1.5
send_udp "$NS_VM3" 203.0.113.9 9999 vm3-taken
check "an unknown MAC with a leased address gets nothing through" got_nothing "$E2E_TMP/client.sink" vm3-taken
step "vm3 claims the gateway's 10.0.1.1 (and knows vm1's MAC)" eval "ip -n $NS_VM3 addr flush dev eth0 &&
        ip -n $NS_VM3 addr add 10.0.1.1/24 dev eth0 && ip -n $NS_VM3 neigh replace 10.0.1.5 lladdr $MAC1 dev eth0"
send_udp "$NS_VM3" 10.0.1.5 68 vm3-as-gateway
check "an unknown MAC sending from the gateway's address gets nothing to vm1" \
        got_nothing "$E2E_TMP/vm1-dhcp.sink" vm3-as-gateway
# vm1 knows the gateway's MAC; a gratuitous ARP from vm3 would replace it (after the 1 s lock).
step "vm1 learns the gateway's MAC" wait_for 5 in_ns "$NS_VM1" busybox ping -c 1 -W 1 10.0.1.1
sleep 1.2
in_ns "$NS_VM3" busybox arping -U -c 2 -I eth0 10.0.1.1 >/dev/null 2>&1
check "vm3's gratuitous ARP for the gateway's address does not reach vm1" \
        not grep -qi "$MAC3" <<<"$(ip -n "$NS_VM1" neigh show 10.0.1.1)"

# ---- DHCP: the gateway answers, a VM may not ---------------------------------------------------
raw_dhcp_reply "$NS_VM2" 10.0.1.6 6767 control-from-vm2
check "control: a broadcast from vm2 with source port 6767 reaches vm1" got "$E2E_TMP/vm1-dhcp.sink" control-from-vm2 10.0.1.6
raw_dhcp_reply "$NS_VM2" 10.0.1.6 67 offer-from-vm2
check "a DHCP server packet (source port 67) from vm2 never reaches vm1" got_nothing "$E2E_TMP/vm1-dhcp.sink" offer-from-vm2
raw_dhcp_reply "$NS_VM3" 10.0.1.7 67 offer-from-vm3
check "...nor one from vm3 (no lease)" got_nothing "$E2E_TMP/vm1-dhcp.sink" offer-from-vm3

# The gateway's own DHCP server sends from br0 itself, which is no port: vm1 gets its lease.
# (edgegwd's own dnsmasq when it runs one; otherwise one started here in gw.)
sleep 1
if ! ip netns pids "$NS_GW" | xargs -r -I{} cat /proc/{}/comm 2>/dev/null | grep -qx dnsmasq; then
        ip netns exec "$NS_GW" dnsmasq --no-daemon --conf-file=/dev/null --port=0 --interface=br0 \
                --bind-interfaces --dhcp-range=10.0.1.100,10.0.1.200,255.255.255.0,1h \
                --dhcp-host="$MAC1,10.0.1.5" --dhcp-leasefile="$E2E_TMP/dnsmasq.leases" \
                --pid-file="$E2E_TMP/dnsmasq.pid" </dev/null >>"$E2E_TMP/dnsmasq.log" 2>&1 &
        BG_PIDS+=($!)
        sleep 0.5
fi
cat >"$E2E_TMP/udhcpc.script" <<EOF
#!/bin/sh
[ "\$1" = bound ] && echo "\$ip" >"$E2E_TMP/udhcpc.ip"
exit 0
EOF
chmod +x "$E2E_TMP/udhcpc.script"
in_ns "$NS_VM1" timeout 20 busybox udhcpc -i eth0 -f -q -n -t 5 -T 2 -s "$E2E_TMP/udhcpc.script" \
        >"$E2E_TMP/udhcpc.log" 2>&1
check "vm1's DHCP client gets its lease 10.0.1.5 from the gateway" eq "$(cat "$E2E_TMP/udhcpc.ip" 2>/dev/null)" 10.0.1.5

# ---- lease changes: incremental, element by element -------------------------------------------
step "vm2's lease moves to 10.0.1.8" lease_move "$MAC2" 10.0.1.8
check "the lease set has $MAC2 . 10.0.1.8" has_elem leases "$MAC2 . 10.0.1.8"
check "...and no longer $MAC2 . 10.0.1.6" lacks_elem leases "$MAC2 . 10.0.1.6"
check "...lease_ips has 10.0.1.8, not 10.0.1.6" eval "has_elem lease_ips 10.0.1.8 && lacks_elem lease_ips 10.0.1.6"
send_udp "$NS_VM2" 203.0.113.9 9999 vm2-old-lease
check "vm2 on its old address is now refused" got_nothing "$E2E_TMP/client.sink" vm2-old-lease
step "vm2's lease is removed" lease_rm "$MAC2"
check "the pair is gone from the lease set" lacks_elem leases "$MAC2 . 10.0.1.8"
check "...and the MAC from lease_macs" lacks_elem lease_macs "$MAC2"
check "vm1's pair stays" has_elem leases "$MAC1 . 10.0.1.5"
send_udp "$NS_VM2" 203.0.113.9 9999 vm2-unleased
check "vm2, now an unknown MAC, may use the free 10.0.1.6" got "$E2E_TMP/client.sink" vm2-unleased 10.0.1.6
run cli --json status
check "still no full replace for any of it" eq "$(json 'd["reconcilers"]["nft"]["mode"]' <<<"$OUT")" incremental
run cli check
check "edgegw check exits 0" rc_is 0

# ---- drift, restart, DHCP off --------------------------------------------------------------
# The resync (every second) may repair the table before `check` runs: try up to three times.
drift_reported() {
        local i
        for ((i = 0; i < 3; i++)); do
                gw_nft delete table bridge edgegw 2>/dev/null
                run cli check
                [[ $RC != 0 && $OUT == *"missing: bridge "* ]] && return 0
                sleep 0.3
        done
        echo "check: exit $RC: $OUT"
        return 1
}
check "someone deletes the bridge table: edgegw check reports it missing" drift_reported
repaired() { run cli check; rc_is 0; }
check "the resync puts it back within seconds" wait_for 10 repaired
check "...with vm1's lease" has_elem leases "$MAC1 . 10.0.1.5"
step "edgegwd restarts" eval "daemon_stop && daemon_start"
check "after a restart the lease set has vm1's pair" has_elem leases "$MAC1 . 10.0.1.5"
check "...and the port set vm3" has_elem ports vm3
send_udp "$NS_VM2" 203.0.113.9 9999 vm2-forged-again
step "vm2 takes vm1's address again" readdress "$NS_VM2" 10.0.1.5
send_udp "$NS_VM2" 203.0.113.9 9999 vm2-forged-restart
check "vm2 forging vm1's address still gets nothing through" got_nothing "$E2E_TMP/client.sink" vm2-forged-restart

CFG_EXTRA=""
step "SIGHUP without [dhcp]" daemon_reload
no_bridge_table() { ! gw_nft list table bridge edgegw >/dev/null 2>&1; }
check "the bridge table is gone" wait_for 5 no_bridge_table
run cli check
check "edgegw check exits 0" rc_is 0

finish
