#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC1091,SC2034  # lib.sh is sourced; CFG_* are read by lib.sh
#
# Outbound NAT (issue 6, seed 001's "dedicated outbound IP"): a VM that opens a connection
# to the internet arrives there from [outbound] ip; with no ip set, from gw's own address on
# the interface it leaves by (masquerade); with no [outbound] interface, that is the default
# route's interface, followed when the route moves. Traffic between two VMs is never NATed.
# Without a default route the status says why nothing is NATed; in userspace mode it says
# that SNAT needs the kernel mode. The "internet" is the client namespace (203.0.113.9),
# which answers every connection with the address it came from.
source "$(dirname "$0")/lib.sh"

OUT_IP=203.0.113.10
VM_SUBNET=$'[dhcp]\nsubnet = "10.0.1.0"\nsubnet_mask = "255.255.255.0"'
FAST_RESYNC=$'[daemon]\nresync_interval = 1'

# A server that answers "peer=ADDRESS" to every TCP connection.
E2E_PY_PEER='
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(64)
while True:
    c, peer = s.accept()
    try:
        c.sendall(("peer=%s\n" % peer[0]).encode())
    except OSError:
        pass
    c.close()
'
peer_server() {
        ip netns exec "$1" python3 -c "$E2E_PY_PEER" "$2" "$3" </dev/null >>"$E2E_TMP/peer.log" 2>&1 &
        BG_PIDS+=($!)
}

# seen_from NS HOST PORT: connects from NS, prints what the server saw as the source.
seen_from() {
        ip netns exec "$1" timeout 5 socat -T 3 - "TCP4:$2:$3,connect-timeout=3" </dev/null 2>&1
}

# arrives_from NS HOST PORT ADDRESS: the server at HOST:PORT saw the connection from ADDRESS.
arrives_from() {
        eq "$(seen_from "$1" "$2" "$3")" "peer=$4"
}

# postrouting: the rules of the SNAT chain as nft lists them ("" when there is no chain).
postrouting() {
        gw_nft list chain inet edgegw postrouting 2>/dev/null | grep -E 'snat|masquerade'
}

# vmnet_status: the vmnet part of GET /v1/status as "ok=BOOL error=TEXT".
vmnet_status() {
        run cli --json status
        json '"ok=%s error=%s" % (d["reconcilers"].get("vmnet", {}).get("ok"), d["reconcilers"].get("vmnet", {}).get("error") or "")' <<<"$OUT"
}

step "topology up" topo_up
# gw's upstream: the client namespace is the internet's router; gw has a second public address.
step "gw: default route via the client, $OUT_IP on wan" \
        eval "ip -n $NS_GW route add default via 203.0.113.9 dev wan && ip -n $NS_GW addr add $OUT_IP/24 dev wan"
peer_server "$NS_CLIENT" 203.0.113.9 8080
peer_server "$NS_VM2" 10.0.1.6 7000
step "peer servers listening" eval "wait_listening $NS_CLIENT tcp 8080 && wait_listening $NS_VM2 tcp 7000"

# ---- a dedicated outbound IP out of a named interface -------------------------------------
CFG_EXTRA="$VM_SUBNET"$'\n[outbound]\nip = "'$OUT_IP$'"\ninterface = "wan"\n'"$FAST_RESYNC"
step "edgegwd starts with [outbound] ip = $OUT_IP, interface = wan" daemon_start
check "the postrouting chain SNATs the VM subnet out of wan to $OUT_IP" \
        contains "$(postrouting)" "ip saddr 10.0.1.0/24 ip daddr != 10.0.1.0/24 oifname \"wan\" snat ip to $OUT_IP"
check "vm1's connection to the internet arrives from $OUT_IP" arrives_from "$NS_VM1" 203.0.113.9 8080 "$OUT_IP"
check "vm2's too" arrives_from "$NS_VM2" 203.0.113.9 8080 "$OUT_IP"
check "vm1 -> vm2 inside the subnet is not NATed (vm2 sees 10.0.1.5)" arrives_from "$NS_VM1" 10.0.1.6 7000 10.0.1.5
check "the status shows the vmnet part ok" eq "$(vmnet_status)" "ok=True error="
run cli check
check "edgegw check exits 0 (SNAT chain included)" rc_is 0

# ---- a VM's own port forwards still work (DNAT replies are conntrack's, not SNAT's) ----------
run cli --json vm add web --ip 10.0.1.5
check "vm add web exits 0" rc_is 0
ssh_port=$(json 'd["ssh_port"]' <<<"$OUT")
listen "$NS_VM1" tcp 22 "echo vm1:22"
step "vm1 listens on 22" wait_listening "$NS_VM1" tcp 22
check "the client reaches vm1:22 through public port $ssh_port" reaches tcp "$PUBLIC4" "$ssh_port" vm1:22

# ---- masquerade: no outbound ip, no interface: the default route's interface ----------------
CFG_EXTRA="$VM_SUBNET"$'\n'"$FAST_RESYNC"
step "SIGHUP without [outbound]" daemon_reload
check "the postrouting chain masquerades out of the default route's interface (wan)" \
        contains "$(postrouting)" "oifname \"wan\" masquerade"
check "vm1's connection arrives from gw's wan address $PUBLIC4" arrives_from "$NS_VM1" 203.0.113.9 8080 "$PUBLIC4"
check "vm1 -> vm2 is still not NATed" arrives_from "$NS_VM1" 10.0.1.6 7000 10.0.1.5
run cli check
check "edgegw check exits 0" rc_is 0

# ---- the default route goes away, and comes back ---------------------------------------------
step "the default route is removed" ip -n "$NS_GW" route del default
no_snat() { [[ -z $(postrouting) ]] || { postrouting; return 1; }; }
check "within seconds the SNAT rule is gone (resync)" wait_for 10 no_snat
check "the log says why (no default route)" grep -q "no IPv4 default route" "$DAEMON_LOG"
check "with SNAT only by default (no [outbound]) that is no failure" eq "$(vmnet_status)" "ok=True error="
check "vm1's traffic leaves un-NATed (the client routes 10.0.1.0/24 back via gw)" \
        arrives_from "$NS_VM1" 203.0.113.9 8080 10.0.1.5
step "the default route is back" ip -n "$NS_GW" route add default via 203.0.113.9 dev wan
masquerading() { contains "$(postrouting)" "oifname \"wan\" masquerade"; }
check "within seconds the masquerade rule is back" wait_for 10 masquerading
check "vm1's connection arrives from $PUBLIC4 again" arrives_from "$NS_VM1" 203.0.113.9 8080 "$PUBLIC4"

# ---- [outbound] ip without interface: the default route's, and a failure without one ---------
CFG_EXTRA="$VM_SUBNET"$'\n[outbound]\nip = "'$OUT_IP$'"\n'"$FAST_RESYNC"
step "SIGHUP with [outbound] ip only" daemon_reload
snat_default() { contains "$(postrouting)" "oifname \"wan\" snat ip to $OUT_IP"; }
check "SNAT to $OUT_IP out of the default route's interface (wan)" wait_for 5 snat_default
check "vm1's connection arrives from $OUT_IP" arrives_from "$NS_VM1" 203.0.113.9 8080 "$OUT_IP"
step "the default route is removed" ip -n "$NS_GW" route del default
check "within seconds the SNAT rule is gone" wait_for 10 no_snat
check "the status says why (no default route)" contains "$(vmnet_status)" "ok=False error=outbound: no [outbound] interface and no IPv4 default route"
run cli status
check "edgegw status exits non-zero while the asked-for SNAT cannot be done" not rc_is 0
step "the default route is back" ip -n "$NS_GW" route add default via 203.0.113.9 dev wan
check "within seconds SNAT to $OUT_IP is back" wait_for 10 snat_default
check "the vmnet part is ok again" eq "$(vmnet_status)" "ok=True error="
CFG_EXTRA="$VM_SUBNET"$'\n'"$FAST_RESYNC"
step "SIGHUP without [outbound] again" daemon_reload
check "masquerade again" wait_for 5 masquerading

# ---- a restart keeps it (the full replace at start renders it) ------------------------------
step "edgegwd stops" daemon_stop
step "edgegwd starts again" daemon_start
check "after a restart the masquerade rule is there" masquerading
check "...and vm1's connection arrives from $PUBLIC4" arrives_from "$NS_VM1" 203.0.113.9 8080 "$PUBLIC4"

# ---- userspace mode: no nft at all, and the status says SNAT needs kernel mode --------------
step "edgegwd stops" daemon_stop
step "the operator removes the kernel-mode table before switching modes" gw_nft delete table inet edgegw
E2E_FORWARD_MODE=userspace
CFG_EXTRA="$VM_SUBNET"$'\n[outbound]\nip = "'$OUT_IP$'"'
step "edgegwd starts in userspace mode with [outbound] ip" daemon_start
check "no inet edgegw table in userspace mode" not gw_nft list table inet edgegw
check "the vmnet part says SNAT needs forward_mode = kernel" contains "$(vmnet_status)" "need forward_mode = kernel"
run cli status
check "edgegw status exits non-zero" not rc_is 0

finish
