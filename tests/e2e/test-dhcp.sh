#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC1091,SC2034  # lib.sh is sourced; CFG_* are read by lib.sh
# e2e-timeout: 240
#
# DHCP and the VMs' names through the dnsmasq edgegwd supervises (issue 6). VMs are
# namespaces on gw's br0 with fixed MACs running busybox udhcpc. A VM whose MAC has a
# lease gets exactly its address; an unknown MAC gets a pool address (which new leases then pass over) with unknown_clients =
# allow and nothing with deny; `nslookup NAME[.vps.local] 10.0.1.1` answers the lease's
# address and other names are forwarded to the upstream (a dnsmasq in the client
# namespace); a lease added while running is served without restarting dnsmasq (SIGHUP);
# a dnsmasq killed with SIGKILL is back within seconds with the same leases; turning
# [dhcp] off stops it; neither stopping nor killing edgegwd leaves a dnsmasq behind; a
# dnsmasq that keeps dying is started again after 0.5 s, 1 s, 2 s, ... dnsmasq runs in gw,
# like edgegwd, on br0 only.
source "$(dirname "$0")/lib.sh"

UPSTREAM=203.0.113.9 # the client namespace plays the upstream resolver
NS_D1=$PFX-d1        # a VM with a lease (known MAC)
NS_D2=$PFX-d2        # a VM nobody told edgegw about
NS_D3=$PFX-d3        # a VM whose lease is added while dnsmasq runs
MAC1=52:54:00:e2:00:01
MAC2=52:54:00:e2:00:02
MAC3=52:54:00:e2:00:03
UNKNOWN_CLIENTS=allow
DHCP_INTERFACE=br0
DNSMASQ_PID_FILE=$E2E_STATE/dnsmasq/dnsmasq.pid

dhcp_config() {
        CFG_EXTRA="[dhcp]
interface = \"$DHCP_INTERFACE\"
subnet = \"10.0.1.0\"
subnet_mask = \"255.255.255.0\"
pool_start = \"10.0.1.100\"
pool_end = \"10.0.1.150\"
gateway = \"10.0.1.1\"
dns = \"$UPSTREAM\"
domain = \"vps.local\"
lease_time = \"1h\"
unknown_clients = \"$UNKNOWN_CLIENTS\""
}

# dhcp_vm NS PORT MAC: a namespace with eth0 on br0 (no address: DHCP gives it one).
dhcp_vm() {
        ns_add "$1" && bridge_port "$1" "$2" && set_mac "$1" "$3"
}

set_mac() {
        ip -n "$1" link set eth0 down && ip -n "$1" link set eth0 address "$2" && ip -n "$1" link set eth0 up
}

# The udhcpc script: prints what the server offered, changes nothing in the namespace.
UDHCPC_SCRIPT=$E2E_TMP/udhcpc.sh
cat >"$UDHCPC_SCRIPT" <<'EOF'
#!/bin/sh
[ "$1" = bound ] && echo "ip=$ip router=$router dns=$dns domain=$domain"
exit 0
EOF
chmod +x "$UDHCPC_SCRIPT"

# dhcp_ask NS [TRIES]: one DHCP exchange from NS; prints "ip=... router=... dns=... domain=...".
dhcp_ask() {
        ip netns exec "$1" timeout 20 busybox udhcpc -i eth0 -n -q -t "${2:-5}" -T 1 -s "$UDHCPC_SCRIPT" 2>/dev/null |
                grep '^ip='
}

# dhcp_gets NS IP: NS is offered exactly IP (and the router and DNS server 10.0.1.1).
dhcp_gets() {
        local got
        got=$(dhcp_ask "$1")
        eq "$got" "ip=$2 router=10.0.1.1 dns=10.0.1.1 domain=vps.local"
}

# dhcp_gets_pool NS NOT: NS is offered some address of the pool other than NOT.
dhcp_gets_pool() {
        local got ip
        got=$(dhcp_ask "$1")
        ip=${got#ip=}
        ip=${ip%% *}
        [[ $ip =~ ^10\.0\.1\.([0-9]+)$ ]] && ((BASH_REMATCH[1] >= 100 && BASH_REMATCH[1] <= 150)) && [[ $ip != "$2" ]] &&
                return 0
        echo "expected an address of 10.0.1.100-10.0.1.150 other than $2, got '$got'"
        return 1
}

# dhcp_gets_nothing NS: no offer within 3 tries.
dhcp_gets_nothing() {
        local got
        got=$(dhcp_ask "$1" 3)
        [[ -z $got ]] && return 0
        echo "expected no address, got '$got'"
        return 1
}

# resolves NAME IP: busybox nslookup from vm1 (10.0.1.5) at 10.0.1.1 answers exactly IP.
resolves() {
        local got
        got=$(ip netns exec "$NS_VM1" timeout 5 busybox nslookup -type=a "$1" 10.0.1.1 2>&1 | awk '/^Address: /{print $2}')
        eq "$got" "$2"
}

# nxdomain NAME: the answer at 10.0.1.1 is NXDOMAIN.
nxdomain() {
        local out
        out=$(ip netns exec "$NS_VM1" timeout 5 busybox nslookup -type=a "$1" 10.0.1.1 2>&1)
        contains "$out" NXDOMAIN
}

# dnsmasq_pid: the pid of edgegwd's dnsmasq (from its pid file, checked: a dnsmasq whose
# parent is edgegwd); fails when there is none.
dnsmasq_pid() {
        local pid stat ppid comm
        pid=$(cat "$DNSMASQ_PID_FILE" 2>/dev/null) || {
                echo "no $DNSMASQ_PID_FILE"
                return 1
        }
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || {
                echo "no process $pid"
                return 1
        }
        comm=${stat#*(}
        comm=${comm%%)*}
        ppid=$(awk '{print $2}' <<<"${stat##*)}")
        [[ $comm == dnsmasq && $ppid == "$DAEMON_PID" ]] || {
                echo "process $pid is $comm with parent $ppid, not edgegwd's ($DAEMON_PID) dnsmasq"
                return 1
        }
        echo "$pid"
}

# dnsmasq_other_than PID: edgegwd runs a dnsmasq, and not PID.
dnsmasq_other_than() {
        local now
        now=$(dnsmasq_pid) || return 1
        [[ $now != "$1" ]] || {
                echo "still pid $1"
                return 1
        }
}

# dnsmasq_is PID: edgegwd's dnsmasq is PID.
dnsmasq_is() {
        local now
        now=$(dnsmasq_pid) || return 1
        eq "$now" "$1"
}

# no_dnsmasq_in_gw: no dnsmasq process left in gw.
no_dnsmasq_in_gw() {
        local pid left=
        for pid in $(ip netns pids "$NS_GW"); do
                [[ $(cat "/proc/$pid/comm" 2>/dev/null) == dnsmasq ]] && left+=" $pid"
        done
        [[ -z $left ]] && return 0
        echo "dnsmasq still running in gw:$left"
        return 1
}

gone() {
        ! kill -0 "$1" 2>/dev/null
}

ip2int() {
        local IFS=.
        # shellcheck disable=SC2086
        set -- $1
        echo $((($1 << 24) | ($2 << 16) | ($3 << 8) | $4))
}

# add_lease MAC IP NAME: POST /v1/leases; while that is not implemented (501) the lease goes
# into the store directly, with its change-log entry, and SIGHUP makes edgegwd look.
add_lease() {
        local mac=$1 ip=$2 name=$3 now
        api POST /v1/leases "{\"mac\":\"$mac\",\"ip\":\"$ip\",\"name\":\"$name\"}"
        if [[ $STATUS == 501 ]]; then
                now=$(date +%s)
                sqlite3 -cmd ".timeout 5000" "$E2E_STATE/edgegw.db" \
                        "INSERT INTO leases (mac, ip, name, created_at, updated_at)
                         VALUES ('$mac', $(ip2int "$ip"), '$name', $now, $now);
                         INSERT INTO changes (kind, key) VALUES ('lease', '$mac');" || return 1
                kill -HUP "$DAEMON_PID"
                return
        fi
        [[ $STATUS == 200 || $STATUS == 201 ]] || {
                echo "POST /v1/leases answered $STATUS: $OUT"
                return 1
        }
}

hosts_reads() {
        grep -c "read $E2E_STATE/dnsmasq/dnsmasq.hosts" "$DAEMON_LOG"
}

# ---- set-up -----------------------------------------------------------------------------

step "topology up" topo_up
step "DHCP VM d1 ($MAC1)" dhcp_vm "$NS_D1" d1 "$MAC1"
step "DHCP VM d2 ($MAC2)" dhcp_vm "$NS_D2" d2 "$MAC2"
step "DHCP VM d3 ($MAC3)" dhcp_vm "$NS_D3" d3 "$MAC3"
# The upstream resolver: one name.
ip netns exec "$NS_CLIENT" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
        --listen-address="$UPSTREAM" --bind-interfaces --user=root --pid-file="$E2E_TMP/upstream.pid" \
        --address=/upstream.example.test/192.0.2.77 --log-facility=- </dev/null >>"$E2E_TMP/upstream.log" 2>&1 &
BG_PIDS+=($!)
step "upstream resolver listens" wait_listening "$NS_CLIENT" udp 53
dhcp_config
step "edgegwd starts with [dhcp] interface = br0" daemon_start
log "$TEST_NAME: namespaces $PFX-*, edgegwd pid $DAEMON_PID, state $E2E_STATE"

# ---- dnsmasq runs, in gw, on br0 only ------------------------------------------------------

check "edgegwd starts its dnsmasq" wait_for 10 dnsmasq_pid
pid1=$(dnsmasq_pid)
check "dnsmasq runs in gw's namespace" eq "$(ip netns identify "$pid1")" "$NS_GW"
check "dnsmasq listens on 10.0.1.1:53" wait_listening "$NS_GW" udp 53
listeners=$(ip netns exec "$NS_GW" ss -Hlnup 2>/dev/null | grep dnsmasq | awk '{print $4}' | sort | tr '\n' ' ')
check "dnsmasq listens only on br0 (DNS on its addresses, DHCP bound to it): $listeners" python3 -c '
import sys
bad = [l for l in sys.argv[1].split() if not (l.startswith("10.0.1.1:") or l.startswith("[2001:db8:1::1]:")
       or l.startswith("[fe80:") or l == "0.0.0.0%br0:67")]
sys.exit("not on br0: %s" % bad if bad else 0)' "$listeners"
check "no dnsmasq answers on gw's loopback" not ip netns exec "$NS_GW" timeout 3 busybox nslookup localhost 127.0.0.1
check "the files are under STATE_DIR/dnsmasq" test -s "$E2E_STATE/dnsmasq/dnsmasq.conf" -a \
        -e "$E2E_STATE/dnsmasq/dnsmasq.hosts" -a -e "$E2E_STATE/dnsmasq/dnsmasq.dhcp-hosts"
check "dnsmasq.conf names br0 and the pool" grep -qx "dhcp-range=10.0.1.100,10.0.1.150,255.255.255.0,1h" \
        "$E2E_STATE/dnsmasq/dnsmasq.conf"

# ---- a known MAC gets exactly its address; names resolve ------------------------------------

step "lease $MAC1 -> 10.0.1.120 web1" add_lease "$MAC1" 10.0.1.120 web1
check "the lease reaches the dhcp-hosts file" wait_for 5 grep -qx "$MAC1,10.0.1.120,web1" "$E2E_STATE/dnsmasq/dnsmasq.dhcp-hosts"
check "d1 ($MAC1) gets exactly 10.0.1.120, router and DNS 10.0.1.1" wait_for 5 dhcp_gets "$NS_D1" 10.0.1.120
check "nslookup web1.vps.local 10.0.1.1 answers 10.0.1.120" wait_for 5 resolves web1.vps.local 10.0.1.120
check "nslookup web1 10.0.1.1 answers 10.0.1.120" resolves web1 10.0.1.120
check "other names are forwarded upstream" resolves upstream.example.test 192.0.2.77
check "an unknown name of the domain is answered NXDOMAIN here" nxdomain nobody.vps.local

# ---- unknown_clients = allow ------------------------------------------------------------------

check "d2 (unknown MAC) gets a pool address (unknown_clients = allow)" dhcp_gets_pool "$NS_D2" 10.0.1.120
# The address dnsmasq gave d2 on its own is not handed to a new lease: leases added without
# --ip, lowest free first, pass over it (then they are removed again).
DYN=$(sed -n "s/^[0-9]* $MAC2 \([0-9.]*\) .*/\1/p" "$E2E_STATE/dnsmasq/dnsmasq.leases" | head -n 1)
check "dnsmasq's lease file holds d2's dynamic address" test -n "$DYN"
picked=()
for i in $(seq 10 60); do
        api POST /v1/leases "{\"mac\":\"52:54:00:99:00:$i\"}"
        [[ $STATUS == 201 ]] || break
        ip=$(json 'd["ip"]' <<<"$OUT")
        picked+=("$ip")
        (($(ip2int "$ip") > $(ip2int "${DYN:-10.0.1.255}"))) && break
done
check "new leases skip d2's dynamic address ${DYN:-?} (picked: ${picked[*]})" \
        eval '[[ " ${picked[*]} " != *" $DYN "* && ${#picked[@]} -gt 0 ]]'
for i in $(seq 10 60); do api DELETE "/v1/leases/52:54:00:99:00:$i"; done

# ---- a lease added while running: SIGHUP, no restart ----------------------------------------

reads=$(hosts_reads)
step "lease $MAC3 -> 10.0.1.130 db1 (dnsmasq running)" add_lease "$MAC3" 10.0.1.130 db1
check "nslookup db1.vps.local answers 10.0.1.130" wait_for 5 resolves db1.vps.local 10.0.1.130
check "d3 ($MAC3) gets exactly 10.0.1.130" dhcp_gets "$NS_D3" 10.0.1.130
check "the same dnsmasq serves it (pid $pid1, no restart)" dnsmasq_is "$pid1"
check "dnsmasq re-read the hosts file (SIGHUP)" test "$(hosts_reads)" -gt "$reads"

# ---- dnsmasq killed: back within seconds, leases kept --------------------------------------------

kill -9 "$pid1"
check "after kill -9, edgegwd starts a new dnsmasq within 5 s" wait_for 5 dnsmasq_other_than "$pid1"
pid2=$(dnsmasq_pid)
check "the new dnsmasq answers DNS: web1.vps.local" wait_for 5 resolves web1.vps.local 10.0.1.120
check "d1 still gets 10.0.1.120" dhcp_gets "$NS_D1" 10.0.1.120
check "d3 still gets 10.0.1.130" dhcp_gets "$NS_D3" 10.0.1.130
check "the daemon logged the restart" grep -q "dhcp: dnsmasq (pid $pid1) killed by signal 9" "$DAEMON_LOG"
api GET /v1/status
check "/v1/status: dhcp running with the new pid, one restart, the last exit" \
        eq "$(json '(d["dhcp"]["state"], d["dhcp"]["pid"], d["dhcp"]["restarts"], d["dhcp"]["last_exit"])' <<<"$OUT")" \
        "('running', $pid2, 1, 'killed by signal 9 (Killed)')"
run cli status
check "edgegw status prints the dhcp line" grep -q "^dhcp: *dnsmasq running (pid $pid2), 2 leases, 1 restart (last: killed by signal 9 (Killed))" <<<"$OUT"

# ---- unknown_clients = deny (reload: a new config restarts dnsmasq) ------------------------

UNKNOWN_CLIENTS=deny
dhcp_config
step "SIGHUP with unknown_clients = deny" daemon_reload
check "the changed configuration restarts dnsmasq" wait_for 5 dnsmasq_other_than "$pid2"
pid3=$(dnsmasq_pid)
check "dnsmasq.conf ignores unknown MACs" grep -qx "dhcp-ignore=tag:!known" "$E2E_STATE/dnsmasq/dnsmasq.conf"
step "d2 takes another unknown MAC" set_mac "$NS_D2" 52:54:00:e2:00:09
check "d2 (unknown MAC) gets nothing (unknown_clients = deny)" dhcp_gets_nothing "$NS_D2"
check "d1 still gets 10.0.1.120" wait_for 5 dhcp_gets "$NS_D1" 10.0.1.120

# ---- [dhcp] off by reload stops it; on again starts it ------------------------------------------

DHCP_INTERFACE=
dhcp_config
step "SIGHUP with [dhcp] interface = \"\"" daemon_reload
check "dnsmasq stops when DHCP is turned off" wait_for 10 gone "$pid3"
check "no dnsmasq in gw" no_dnsmasq_in_gw
DHCP_INTERFACE=br0
dhcp_config
step "SIGHUP with [dhcp] interface = br0 again" daemon_reload
check "dnsmasq starts again" wait_for 10 dnsmasq_pid
check "and answers: db1.vps.local" wait_for 5 resolves db1.vps.local 10.0.1.130

# ---- edgegwd killed, edgegwd stopped: no dnsmasq behind ----------------------------------------

pid4=$(dnsmasq_pid)
daemon_kill9
check "kill -9 edgegwd takes its dnsmasq along" wait_for 5 gone "$pid4"
check "no dnsmasq in gw after edgegwd was killed" no_dnsmasq_in_gw
step "edgegwd starts again" daemon_start
check "edgegwd starts a dnsmasq again" wait_for 10 dnsmasq_pid
check "d1 still gets 10.0.1.120 (the store is the truth)" wait_for 5 dhcp_gets "$NS_D1" 10.0.1.120
pid5=$(dnsmasq_pid)
daemon_stop
check "edgegwd stop stops its dnsmasq" gone "$pid5"
check "no dnsmasq in gw after edgegwd stopped" no_dnsmasq_in_gw
check "no pid file left" not test -e "$DNSMASQ_PID_FILE"

# ---- a dnsmasq that keeps dying is started again with a doubling delay -----------------------

# EDGEGW_DNSMASQ names the binary: one that exits at once.
export EDGEGW_DNSMASQ=/bin/false
step "edgegwd starts with a dnsmasq that exits at once" daemon_start
unset EDGEGW_DNSMASQ
backoff() {
        local delays
        delays=$(grep -o "dhcp: dnsmasq (pid [0-9]*) exited with status 1 after [0-9.]* s; starting it again in [0-9.]* s" \
                "$DAEMON_LOG" | awk '{print $(NF-1)}' | head -n 4 | tr '\n' ' ')
        eq "$delays" "0.5 1.0 2.0 4.0 "
}
check "restarts back off: 0.5 s, 1 s, 2 s, 4 s" wait_for 12 backoff
daemon_stop
finish
