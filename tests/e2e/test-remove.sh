#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC1091,SC2034  # lib.sh is sourced; CFG_* are read by lib.sh
#
# A user removes a VM: its ports stop forwarding at once, the other VM is untouched, the
# freed block goes to the next VM added, and the removed VM is gone for good (exit 4).
# Conflicting adds (same id, same address) are refused with exit 5.
source "$(dirname "$0")/lib.sh"
setup_default

run cli --json vm add vm1 --ip 10.0.1.5
check "vm add vm1 exits 0" rc_is 0
vm1=$OUT
run cli --json vm add vm2 --ip 10.0.1.6
check "vm add vm2 exits 0" rc_is 0
vm2=$OUT
p1=$(json 'd["ssh_port"]' <<<"$vm1")
p2=$(json 'd["ssh_port"]' <<<"$vm2")
slug1=$(json 'd["slug"]' <<<"$vm1")
[[ -n $p1 && -n $p2 ]] || die "no ssh_port from vm add, cannot go on"
check "before: vm1's :$p1 reaches vm1:22" reaches tcp "$PUBLIC4" "$p1" vm1:22
check "before: vm2's :$p2 reaches vm2:22" reaches tcp "$PUBLIC4" "$p2" vm2:22

# -- conflicts
run cli vm add vm1 --ip 10.0.1.7
check "vm add with an existing id exits 5 (vm_exists)" rc_is 5
run cli vm add vm3 --ip 10.0.1.6
check "vm add with an address another VM has exits 5 (ip_in_use)" rc_is 5
check "...and the message names the address" contains "$OUT$ERR" 10.0.1.6

# -- removal
run cli --json vm rm vm1
check "vm rm vm1 --json exits 0" rc_is 0
check "...and answers {removed: vm1, rules: applied}" \
        eq "$(json '(d["removed"]["id"], d["removed"]["port_range_start"], d["rules"])' <<<"$OUT")" "('vm1', $p1, 'applied')"
check "after rm: vm1's TCP :$p1 no longer forwards" not tcp_get "$PUBLIC4" "$p1"
check "after rm: vm1's TCP :$((p1 + 1)) no longer forwards" not tcp_get "$PUBLIC4" $((p1 + 1))
check "after rm: vm1's UDP :$((p1 + 5)) no longer forwards" not udp_get "$PUBLIC4" $((p1 + 5))
check "after rm: vm2's TCP :$p2 still reaches vm2:22" reaches tcp "$PUBLIC4" "$p2" vm2:22
check "after rm: vm2's TCP :$((p2 + 1)) still reaches vm2:10001" reaches tcp "$PUBLIC4" $((p2 + 1)) vm2:10001
check "after rm: vm2's UDP :$((p2 + 5)) still reaches vm2:10005" reaches udp "$PUBLIC4" $((p2 + 5)) vm2:10005
if userspace; then
        check "after rm (userspace): gw no longer listens on vm1's TCP :$p1" not forward_listening tcp "$p1"
        check "after rm (userspace): gw no longer listens on vm1's UDP :$((p1 + 5))" not forward_listening udp $((p1 + 5))
        check "after rm (userspace): gw still listens on vm2's TCP :$p2" forward_listening tcp "$p2"
        check "userspace: edgegw created no nft table inet edgegw" no_nft_table
else
        table=$(gw_nft list table inet edgegw 2>&1)
        check "after rm: no rule or element in inet edgegw mentions 10.0.1.5" not grep -q '10\.0\.1\.5\b' <<<"$table"
        check "after rm: vm1's counters in_$slug1/out_$slug1 are gone" not grep -q "_$slug1" <<<"$table"
fi
run cli check
check "after rm: edgegw check exits 0" rc_is 0

run cli vm show vm1
check "vm show vm1 after rm exits 4 (not found)" rc_is 4
run cli vm rm vm1
check "vm rm vm1 a second time exits 4 (not found)" rc_is 4
run cli --json vm ls
check "vm ls lists only vm2" eq "$(json '[v["id"] for v in d["vms"]]' <<<"$OUT")" "['vm2']"

# -- reuse of the freed block (and of the freed address)
run cli --json vm add vm3 --ip 10.0.1.5
check "vm add vm3 --ip 10.0.1.5 (vm1's old address) exits 0" rc_is 0
vm3=$OUT
check "vm3 gets vm1's old block" eq "$(json '(d["port_range_start"], d["port_range_end"])' <<<"$vm3")" \
        "$(json '(d["port_range_start"], d["port_range_end"])' <<<"$vm1")"
check "vm3's :$p1 reaches vm1's listener again" reaches tcp "$PUBLIC4" "$p1" vm1:22
check "vm3's UDP :$((p1 + 5)) reaches vm1:10005 again" reaches udp "$PUBLIC4" $((p1 + 5)) vm1:10005
run cli check
check "edgegw check exits 0" rc_is 0

run cli vm rm vm2
check "vm rm vm2 exits 0" rc_is 0
check "...and says which ports were released" contains "$OUT" "$p2-$((p2 + 9))"
check "after rm vm2: its :$p2 no longer forwards" not tcp_get "$PUBLIC4" "$p2"
check "after rm vm2: vm3 still forwards" reaches tcp "$PUBLIC4" "$p1" vm1:22
run cli check
check "edgegw check exits 0" rc_is 0

# Userspace with removed_routes = "close": removing a VM also closes the relays still open
# to it (with the default "finish" they run on; test-forward checks that).
if userspace; then
        daemon_stop
        CFG_EXTRA=$'[proxy]\nremoved_routes = "close"'
        step "edgegwd starts with removed_routes = close" daemon_start
        step "namespace vmc (10.0.1.8)" vm_ns vmc 10.0.1.8
        listen "$PFX-vmc" tcp 22 "cat"
        step "an echo server on vmc:22" wait_listening "$PFX-vmc" tcp 22
        run cli --json vm add vmc --ip 10.0.1.8
        check "vm add vmc exits 0" rc_is 0
        pc=$(json 'd["ssh_port"]' <<<"$OUT")
        step "a relay to vmc's :$pc says 'one'" long_relay_start "$PUBLIC4" "$pc" closing
        run cli vm rm vmc
        check "vm rm vmc exits 0 while a relay to it is open" rc_is 0
        check "with removed_routes = close the open relay was closed (one, then EOF)" \
                eq "$(long_relay_finish closing)" "one EOF"
        check "vm3 still forwards" reaches tcp "$PUBLIC4" "$p1" vm1:22
fi

finish
