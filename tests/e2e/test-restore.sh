#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC1091,SC2034  # lib.sh is sourced; CFG_* are read by lib.sh
#
# Someone wipes or edits the kernel rules behind the daemon's back: forwarding stops,
# `edgegw check` reports the drift (exit 6), and restarting edgegwd puts the rules back.
# The periodic resync is switched off so the drift stays until the restart.
source "$(dirname "$0")/lib.sh"
CFG_EXTRA=$'[daemon]\nresync_interval = 0'
step "topology up" topo_up
# Another program's table in the same namespace: edgegw must never touch it.
step "a bystander table inet other in gw" gw_nft -f - <<'NFT'
table inet other {
	counter seen { }
	chain input {
		type filter hook input priority 10; policy accept;
		tcp dport 9999 counter name "seen"
	}
}
NFT
bystander=$(gw_nft list table inet other)
step "listeners in vm1" vm_listeners "$NS_VM1" vm1
step "listeners in vm2" vm_listeners "$NS_VM2" vm2
step "edgegwd starts" daemon_start

run cli --json vm add vm1 --ip 10.0.1.5
check "vm add vm1 exits 0" rc_is 0
p=$(json 'd["ssh_port"]' <<<"$OUT")
slug=$(json 'd["slug"]' <<<"$OUT")
[[ -n $p ]] || die "no ssh_port from vm add, cannot go on"
check "before: TCP :$p reaches vm1:22" reaches tcp "$PUBLIC4" "$p" vm1:22
check "before: UDP :$((p + 5)) reaches vm1:10005" reaches udp "$PUBLIC4" $((p + 5)) vm1:10005
run cli check
check "before: edgegw check exits 0" rc_is 0

restart() {
        daemon_stop
        step "edgegwd starts again" daemon_start
}

# In userspace mode the forwards live in the daemon's own sockets, not in the kernel: there
# is no table to flush or edit. "Restore" means: killed hard, restarted, forwarding again;
# and drift means a listener the daemon could not bind, which `check` names and the
# workers repair by retrying.
if userspace; then
        check "userspace: edgegw created no nft table inet edgegw" no_nft_table
        daemon_kill9
        check "after kill -9: TCP :$p no longer forwards (the listeners died with the process)" not tcp_get "$PUBLIC4" "$p"
        step "edgegwd starts again after kill -9" daemon_start
        check "after the restart: TCP :$p reaches vm1:22 again" reaches tcp "$PUBLIC4" "$p" vm1:22
        check "after the restart: UDP :$((p + 5)) reaches vm1:10005 again" reaches udp "$PUBLIC4" $((p + 5)) vm1:10005
        run cli check
        check "after the restart: edgegw check exits 0" rc_is 0
        run cli --json vm show vm1
        check "after the restart: vm1 kept its block and slug" \
                eq "$(json '(d["ssh_port"], d["slug"])' <<<"$OUT")" "($p, '$slug')"

        # Another program holds one of vm1's ports while the daemon starts.
        daemon_stop
        ip netns exec "$NS_GW" socat TCP4-LISTEN:$((p + 1)),bind=127.0.0.1 SYSTEM:'echo squatter' </dev/null >/dev/null 2>&1 &
        squatter=$!
        BG_PIDS+=("$squatter")
        step "a squatter listens on 127.0.0.1:$((p + 1)) in gw" wait_listening "$NS_GW" tcp $((p + 1))
        step "edgegwd starts while :$((p + 1)) is taken" daemon_start
        run cli check
        check "with :$((p + 1)) taken: edgegw check exits 6 (drift)" rc_is 6
        run cli --json check
        check "with :$((p + 1)) taken: check --json names the missing listener" \
                contains "$(json 'd["differences"]' <<<"$OUT")" "missing: listener tcp $((p + 1))"
        check "with :$((p + 1)) taken: the other ports still forward (TCP :$p reaches vm1:22)" reaches tcp "$PUBLIC4" "$p" vm1:22
        kill "$squatter" 2>/dev/null
        wait "$squatter" 2>/dev/null
        repaired() {
                local i
                for ((i = 0; i < 50; i++)); do
                        cli check >/dev/null 2>&1 && return 0
                        sleep 0.2
                done
                cli check
                return 1
        }
        check "once the port is free the workers bind it within 10 s (check exits 0)" repaired
        check "...and TCP :$((p + 1)) reaches vm1:10001" reaches tcp "$PUBLIC4" $((p + 1)) vm1:10001
        check "the bystander table inet other is exactly as it was" eq "$(gw_nft list table inet other 2>&1)" "$bystander"
        check "userspace: still no nft table inet edgegw" no_nft_table
        finish
fi

# -- 0. the rules stay in the kernel while the daemon is stopped
daemon_stop
check "while edgegwd is stopped: TCP :$p still reaches vm1:22" reaches tcp "$PUBLIC4" "$p" vm1:22
step "edgegwd starts again" daemon_start
in_before=$(counter_bytes "in_$slug" 2>&1)
check "counter in_$slug has counted bytes ($in_before)" test "${in_before:-0}" -gt 0

# -- 1. the whole table flushed
check "nft flush table inet edgegw (in gw)" gw_nft flush table inet edgegw
check "after the flush: TCP :$p no longer forwards" not tcp_get "$PUBLIC4" "$p"
check "after the flush: UDP :$((p + 5)) no longer forwards" not udp_get "$PUBLIC4" $((p + 5))
run cli check
check "after the flush: edgegw check exits 6 (drift)" rc_is 6
run cli --json check
check "after the flush: check --json is not clean" eq "$(json 'd["clean"]' <<<"$OUT")" False
# (flush empties the chains; the maps keep their elements)
check "after the flush: check --json names the missing DNAT rule" \
        contains "$(json 'd["differences"]' <<<"$OUT")" "missing: rule prerouting edgegw:dnat-tcp4"

restart
check "after the restart: TCP :$p reaches vm1:22 again" reaches tcp "$PUBLIC4" "$p" vm1:22
check "after the restart: UDP :$((p + 5)) reaches vm1:10005 again" reaches udp "$PUBLIC4" $((p + 5)) vm1:10005
run cli check
check "after the restart: edgegw check exits 0" rc_is 0
in_after=$(counter_bytes "in_$slug" 2>&1)
check "after the restart: counter in_$slug kept its bytes ($in_before -> $in_after)" \
        test "${in_after:-0}" -ge "${in_before:-1}"
run cli --json vm show vm1
check "after the restart: vm1 kept its block and slug" \
        eq "$(json '(d["ssh_port"], d["slug"])' <<<"$OUT")" "($p, '$slug')"

# -- 2. a stray element added by hand, one element deleted by hand
check "nft add element inet edgegw tcp4 { 30000 : 10.0.1.6 . 22 } (in gw)" \
        gw_nft add element inet edgegw tcp4 '{ 30000 : 10.0.1.6 . 22 }'
check "nft delete element inet edgegw udp4 { $((p + 5)) } (in gw)" \
        gw_nft delete element inet edgegw udp4 "{ $((p + 5)) }"
check "the stray element forwards :30000 to vm2 (the edit took effect)" reaches tcp "$PUBLIC4" 30000 vm2:22
run cli check
check "after the hand edit: edgegw check exits 6" rc_is 6
run cli --json check
check "after the hand edit: check --json names the unexpected element" \
        contains "$(json 'd["differences"]' <<<"$OUT")" "unexpected: elem tcp4 30000 10.0.1.6 22"
check "after the hand edit: check --json names the missing element" \
        contains "$(json 'd["differences"]' <<<"$OUT")" "missing: elem udp4 $((p + 5)) 10.0.1.5 10005"

restart
check "after the restart: the stray :30000 forward is gone" not tcp_get "$PUBLIC4" 30000
check "after the restart: UDP :$((p + 5)) reaches vm1:10005 again" reaches udp "$PUBLIC4" $((p + 5)) vm1:10005
run cli check
check "after the restart: edgegw check exits 0" rc_is 0

# -- 3. the table deleted
check "nft delete table inet edgegw (in gw)" gw_nft delete table inet edgegw
check "without the table: TCP :$p no longer forwards" not tcp_get "$PUBLIC4" "$p"
run cli check
check "without the table: edgegw check exits 6" rc_is 6
restart
check "after the restart: TCP :$p reaches vm1:22 again" reaches tcp "$PUBLIC4" "$p" vm1:22
run cli check
check "after the restart: edgegw check exits 0" rc_is 0

# -- 4. with a resync interval the daemon repairs drift by itself
daemon_stop
CFG_EXTRA=$'[daemon]\nresync_interval = 1'
step "edgegwd starts with resync_interval = 1" daemon_start
check "nft flush table inet edgegw (in gw)" gw_nft flush table inet edgegw
repaired() {
        local i
        for ((i = 0; i < 50; i++)); do
                [[ $(cli check 2>&1) ]] && cli check >/dev/null 2>&1 && return 0
                sleep 0.2
        done
        cli check
        return 1
}
check "with resync_interval = 1 the flushed table is repaired within 10 s (check exits 0)" repaired
check "...and TCP :$p reaches vm1:22 again" reaches tcp "$PUBLIC4" "$p" vm1:22

check "the bystander table inet other is exactly as it was" eq "$(gw_nft list table inet other 2>&1)" "$bystander"

finish
