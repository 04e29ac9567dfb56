#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC1091,SC2034  # lib.sh is sourced; CFG_* are read by lib.sh
#
# A port range with room for exactly two blocks: the third `vm add` is refused with exit 5
# ("exhausted") and changes nothing, neither the VM list nor a byte of the nft table. A
# freed block is handed out again.
source "$(dirname "$0")/lib.sh"
CFG_PORT_START=20000
CFG_PORT_END=20019
CFG_PORTS_PER_VM=10
setup_default

run cli --json vm add a --ip 10.0.1.5
check "vm add a exits 0" rc_is 0
check "a gets 20000-20009" eq "$(json '(d["port_range_start"], d["port_range_end"])' <<<"$OUT")" "(20000, 20009)"
run cli --json vm add b --ip 10.0.1.6
check "vm add b exits 0" rc_is 0
check "b gets 20010-20019" eq "$(json '(d["port_range_start"], d["port_range_end"])' <<<"$OUT")" "(20010, 20019)"

before=$(forward_state)
run cli vm add c --ip 10.0.1.7
check "the third vm add exits 5 (port range exhausted)" rc_is 5
check "...with a message saying the range is exhausted" contains "$OUT$ERR" exhausted
run cli --json vm add c --ip 10.0.1.7
check "the same with --json exits 5 too" rc_is 5
check "...and prints the API's error object with code port_range_exhausted" \
        eq "$(json 'd["error"]["code"]' <<<"$OUT")" port_range_exhausted
after=$(forward_state)
if userspace; then
        check "gw's listeners are exactly the same before and after the refused adds" eq "$after" "$before"
        check "userspace: edgegw created no nft table inet edgegw" no_nft_table
else
        check "the nft table is byte-for-byte the same before and after the refused adds" eq "$after" "$before"
fi

run cli --json vm ls
check "vm ls still has exactly a and b" eq "$(json '[v["id"] for v in d["vms"]]' <<<"$OUT")" "['a', 'b']"
run cli vm show c
check "vm show c exits 4 (it was never created)" rc_is 4
run cli check
check "edgegw check exits 0" rc_is 0
check "a's :20000 reaches vm1:22" reaches tcp "$PUBLIC4" 20000 vm1:22
check "b's :20010 reaches vm2:22" reaches tcp "$PUBLIC4" 20010 vm2:22

# A freed block is reused.
run cli vm rm a
check "vm rm a exits 0" rc_is 0
run cli --json vm add c --ip 10.0.1.5
check "after rm a, vm add c exits 0" rc_is 0
check "c gets a's old block 20000-20009" eq "$(json '(d["port_range_start"], d["port_range_end"])' <<<"$OUT")" "(20000, 20009)"
check "c's :20000 reaches vm1:22" reaches tcp "$PUBLIC4" 20000 vm1:22
run cli vm add d --ip 10.0.1.8
check "the range is full again: vm add d exits 5" rc_is 5
run cli check
check "edgegw check exits 0" rc_is 0

# Six adds at once for the two blocks: exactly two win, each block is handed out once.
run cli vm rm b
run cli vm rm c
check "the range is empty again" eq "$(cli --json vm ls | json 'len(d["vms"])')" 0
pids=()
for i in 1 2 3 4 5 6; do
        cli --json vm add "race-$i" --ip "10.0.3.$i" >"$E2E_TMP/race-$i.out" 2>&1 &
        pids+=($!)
done
codes=()
for pid in "${pids[@]}"; do
        wait "$pid"
        codes+=($?)
done
check "6 concurrent adds for 2 free blocks: two exit 0, four exit 5" \
        eq "$(printf '%s\n' "${codes[@]}" | sort | tr '\n' ' ')" "0 0 5 5 5 5 "
run cli --json vm ls
check "...and the two winners hold 20000-20009 and 20010-20019" \
        eq "$(json 'sorted((v["port_range_start"], v["port_range_end"]) for v in d["vms"])' <<<"$OUT")" \
        "[(20000, 20009), (20010, 20019)]"
run cli check
check "edgegw check exits 0 after the race" rc_is 0

# Userspace: more forward ports than the open-files limit leaves room for. With 2 workers
# and max_connections chosen so that 15 ports fit, the VM holding 20000-20009 is forwarded
# whole and the one at 20010 is refused, loudly, and the daemon keeps running.
if userspace; then
        nofile=$(ulimit -n)
        maxc=$(((nofile - 2 * 136 - 256 - 2 * 15) / 2))
        daemon_stop
        CFG_EXTRA=$'[proxy]\nworkers = 2\nmax_connections = '"$maxc"
        step "edgegwd starts with max_connections = $maxc (15 forward ports fit in $nofile open files)" daemon_start
        run curl -sf -m 5 --unix-socket "$E2E_SOCK" http://edgegw/v1/status
        check "status: 10 ports forwarded, limit 15" \
                eq "$(json '(d["reconcilers"]["forwards"]["ports"], d["reconcilers"]["forwards"]["limit"])' <<<"$OUT")" "(10, 15)"
        check "status: not ok, and the error says 20 ports were wanted" \
                contains "$(json '(d["reconcilers"]["forwards"]["ok"], d["reconcilers"]["forwards"]["error"])' <<<"$OUT")" \
                "(False, 'userspace forwards: 20 ports wanted, only 15 fit the open-files limit"
        check "the log says so too" grep -q "20 ports wanted, only 15 fit" "$DAEMON_LOG"
        check "the first VM's :20000 is listening" forward_listening tcp 20000
        check "the refused VM's :20010 is not" not forward_listening tcp 20010
        run cli --json check
        check "edgegw check names the refused VM's listeners" \
                contains "$(json 'd["differences"]' <<<"$OUT")" "missing: listener tcp 20010"
        check "edgegwd is still running" daemon_alive
fi

finish
