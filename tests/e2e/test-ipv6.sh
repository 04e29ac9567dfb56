#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC1091,SC2034  # lib.sh is sourced; CFG_* are read by lib.sh
#
# An IPv6-only VM is reachable over IPv6 at the public address, TCP and UDP; bad input is
# refused with exit 7 (invalid argument) or 2 (usage) and leaves nothing behind.
source "$(dirname "$0")/lib.sh"
setup_default

run cli --json vm add v6 --ip 2001:db8:1::5
check "vm add v6 --ip 2001:db8:1::5 exits 0" rc_is 0
v6=$OUT
p=$(json 'd["ssh_port"]' <<<"$v6")
[[ -n $p ]] || die "no ssh_port from vm add, cannot go on"
check "v6: a 10-port block with the documented layout" block_layout_ok 10 <<<"$v6"
check "v6: JSON has the address as given" eq "$(json 'd["ip"]' <<<"$v6")" 2001:db8:1::5
check "TCP [$PUBLIC6]:$p reaches vm6:22" reaches tcp "$PUBLIC6" "$p" vm6:22
check "TCP [$PUBLIC6]:$((p + 1)) reaches vm6:10001" reaches tcp "$PUBLIC6" $((p + 1)) vm6:10001
check "UDP [$PUBLIC6]:$((p + 5)) reaches vm6:10005 and the reply comes back" reaches udp "$PUBLIC6" $((p + 5)) vm6:10005
check "UDP [$PUBLIC6]:$((p + 9)) reaches vm6:10009 and the reply comes back" reaches udp "$PUBLIC6" $((p + 9)) vm6:10009

# An IPv4 VM next to it, both families at once.
run cli --json vm add v4 --ip 10.0.1.5
check "vm add v4 --ip 10.0.1.5 exits 0" rc_is 0
p4=$(json 'd["ssh_port"]' <<<"$OUT")
check "TCP $PUBLIC4:$p4 reaches vm1:22" reaches tcp "$PUBLIC4" "$p4" vm1:22
check "TCP [$PUBLIC6]:$p still reaches vm6:22" reaches tcp "$PUBLIC6" "$p" vm6:22
b=$(vm_bytes v6 in 2>&1)
check "v6: its byte counter counted the IPv6 traffic (bytes $b)" test "${b:-0}" -gt 0
if userspace; then
        # In user space the address families need not match: an IPv4 client reaches the IPv6 VM.
        check "userspace: TCP $PUBLIC4:$p reaches the IPv6 VM vm6:22" reaches tcp "$PUBLIC4" "$p" vm6:22
        check "userspace: UDP $PUBLIC4:$((p + 5)) reaches the IPv6 VM vm6:10005" reaches udp "$PUBLIC4" $((p + 5)) vm6:10005
        check "userspace: TCP [$PUBLIC6]:$p4 reaches the IPv4 VM vm1:22" reaches tcp "$PUBLIC6" "$p4" vm1:22
        check "userspace: edgegw created no nft table inet edgegw" no_nft_table
fi

# -- bad input: exit 7 from the API's validation
table_before=$(forward_state)
# 203.0.113.1 is the gateway's own public_ip: forwarding to itself would loop.
for ip in 127.0.0.1 ::1 224.0.0.1 ff02::1 fe80::1 169.254.1.1 0.0.0.0 :: 255.255.255.255 10.0.1.300 not-an-ip 203.0.113.1; do
        run cli vm add x --ip "$ip"
        check "vm add x --ip '$ip' exits 7 (invalid argument)" rc_is 7
done
run cli vm add x --ip ""
check "vm add x --ip '' exits 7 or 2" test "$RC" = 7 -o "$RC" = 2
# The CLI may refuse a bad id itself (2, usage) or pass it on (7); success is wrong.
for id in 'bad id!' '-dash-first' "$(printf 'a%.0s' {1..65})" 'slash/id' 'ünïcode' ""; do
        run cli vm add "$id" --ip 10.0.1.9
        check "vm add '${id:0:20}' --ip 10.0.1.9 exits 7 or 2" test "$RC" = 7 -o "$RC" = 2
done
for id in '../vms' 'a/b' '..'; do
        run cli vm show "$id"
        check "vm show '$id' exits 7 (invalid id), not a path lookup" rc_is 7
done
run cli vm add "$(printf 'a%.0s' {1..64})" --ip 10.0.1.9
check "a 64-character id is accepted" rc_is 0
run cli vm rm "$(printf 'a%.0s' {1..64})"
check "...and removed again" rc_is 0

# -- usage errors: exit 2
run cli vm add onlyid
check "vm add without --ip exits 2 (usage)" rc_is 2
run cli frobnicate
check "an unknown command exits 2 (usage)" rc_is 2
run cli vm
check "vm without a subcommand exits 2 (usage)" rc_is 2

run cli --json vm ls
check "after the bad input, vm ls has exactly v4 and v6 (in id order)" eq "$(json '[v["id"] for v in d["vms"]]' <<<"$OUT")" "['v4', 'v6']"
check "the forwards (nft table, or listeners in userspace) did not change" eq "$(forward_state)" "$table_before"
run cli check
check "edgegw check exits 0" rc_is 0

finish
