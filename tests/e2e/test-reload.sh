#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC1091,SC2034  # lib.sh is sourced; CFG_* are read by lib.sh
#
# The operator lowers ports_per_vm from 10 to 5 and sends SIGHUP: the existing VM keeps its
# 10-port block, a new VM gets a 5-port block that does not overlap it, both forward. A
# broken config on SIGHUP does not take the daemon down.
source "$(dirname "$0")/lib.sh"
setup_default
# With 5 ports per VM the UDP ports are offsets 3-4, i.e. VM ports 10003-10004.
listen "$NS_VM2" udp 10003 "echo vm2:10003"
listen "$NS_VM2" udp 10004 "echo vm2:10004"
step "UDP listeners 10003-10004 in vm2" wait_listening "$NS_VM2" udp 10003 10004

run cli --json vm add big --ip 10.0.1.5
check "vm add big exits 0" rc_is 0
big=$OUT
check "big: a 10-port block" block_layout_ok 10 <<<"$big"

pb=$(json 'd["ssh_port"]' <<<"$big")
check "before reload: big: TCP :$pb reaches vm1:22" reaches tcp "$PUBLIC4" "$pb" vm1:22
in_before=$(vm_bytes big in 2>&1)

CFG_PORTS_PER_VM=5
step "SIGHUP with ports_per_vm = 5" daemon_reload
in_after=$(vm_bytes big in 2>&1)
check "after reload: big's byte counter kept its bytes ($in_before -> $in_after)" test "${in_after:-0}" -ge "${in_before:-1}"
run cli --json vm show big
check "after reload: big keeps its 10-port block" block_layout_ok 10 <<<"$OUT"
run cli --json vm add small --ip 10.0.1.6
check "after reload: vm add small exits 0" rc_is 0
small=$OUT
check "small: a 5-port block (22/tcp, 10001-10002/tcp, 10003-10004/udp)" block_layout_ok 5 <<<"$small"
check "the blocks do not overlap" python3 -c '
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
ok = a["port_range_end"] < b["port_range_start"] or b["port_range_end"] < a["port_range_start"]
sys.exit(0 if ok else print(a["port_range_start"], a["port_range_end"], b["port_range_start"], b["port_range_end"]) or 1)' "$big" "$small"

pb=$(json 'd["ssh_port"]' <<<"$big")
ps=$(json 'd["ssh_port"]' <<<"$small")
check "big: TCP :$pb reaches vm1:22" reaches tcp "$PUBLIC4" "$pb" vm1:22
check "big: TCP :$((pb + 4)) reaches vm1:10004" reaches tcp "$PUBLIC4" $((pb + 4)) vm1:10004
check "big: UDP :$((pb + 9)) reaches vm1:10009" reaches udp "$PUBLIC4" $((pb + 9)) vm1:10009
check "small: TCP :$ps reaches vm2:22" reaches tcp "$PUBLIC4" "$ps" vm2:22
check "small: TCP :$((ps + 2)) reaches vm2:10002" reaches tcp "$PUBLIC4" $((ps + 2)) vm2:10002
check "small: UDP :$((ps + 3)) reaches vm2:10003" reaches udp "$PUBLIC4" $((ps + 3)) vm2:10003
check "small: UDP :$((ps + 4)) reaches vm2:10004" reaches udp "$PUBLIC4" $((ps + 4)) vm2:10004
check "small's block ends at :$((ps + 4)): :$((ps + 5)) is not forwarded to vm2" not reaches udp "$PUBLIC4" $((ps + 5)) vm2:10005
run cli check
check "edgegw check exits 0" rc_is 0

# A config that does not parse: the daemon keeps running on the last good one.
CFG_EXTRA="this is not a config line"
daemon_reload >/dev/null 2>&1
check "after SIGHUP with a broken config edgegwd is still running" daemon_alive
run cli --json vm add after --ip 10.0.1.7
check "...and still adds VMs" rc_is 0
check "...with the last good ports_per_vm (5)" block_layout_ok 5 <<<"$OUT"
run cli check
check "edgegw check exits 0" rc_is 0

finish
