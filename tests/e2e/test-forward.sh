#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC1091,SC2034  # lib.sh is sourced; CFG_* are read by lib.sh
#
# A user adds two VMs and reaches each one from the internet: the SSH port of its block goes
# to VM:22, the TCP ports to VM:10001.., the UDP ports to VM:10005.. and replies come back;
# `vm ls` / `vm show` give the connection details, `check` is clean, and the VM's byte
# counters move. A VM's HTTPS options (PROXY protocol, plain HTTP passthrough, allow-list)
# are stored and shown; a bad one is refused and changes nothing.
source "$(dirname "$0")/lib.sh"
if userspace; then CFG_EXTRA=$'[proxy]\nudp_timeout_ms = 1500'; fi
setup_default

# -- adding
run cli --json vm add vm1 --ip 10.0.1.5
check "vm add vm1 --ip 10.0.1.5 --json exits 0" rc_is 0
vm1=$OUT
run cli --json vm add vm2 --ip 10.0.1.6
check "vm add vm2 --ip 10.0.1.6 --json exits 0" rc_is 0
vm2=$OUT
[[ -n $vm1 && -n $vm2 ]] || die "no JSON from vm add, cannot go on"

for v in vm1 vm2; do
        j=${!v}
        check "$v: JSON has its id and ip" eq "$(json '(d["id"], d["ip"])' <<<"$j")" \
                "$(if [[ $v == vm1 ]]; then echo "('vm1', '10.0.1.5')"; else echo "('vm2', '10.0.1.6')"; fi)"
        check "$v: a 10-port block with the documented layout" block_layout_ok 10 <<<"$j"
        check "$v: subdomain is <slug>.dc-test.example.net" \
                eq "$(json 'd["subdomain"]' <<<"$j")" "$(json 'd["slug"]' <<<"$j").dc-test.example.net"
        check "$v: rules were applied before vm add returned" eq "$(json 'd.get("rules")' <<<"$j")" applied
done

p1=$(json 'd["ssh_port"]' <<<"$vm1")
p2=$(json 'd["ssh_port"]' <<<"$vm2")
check "the first VM gets the start of the range (first fit)" eq "$p1" 20000
check "the two VMs get different blocks" test "$p1" != "$p2"
check "the blocks do not overlap" python3 -c '
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
sys.exit(0 if a["port_range_end"] < b["port_range_start"] or b["port_range_end"] < a["port_range_start"] else 1)' "$vm1" "$vm2"

# -- forwarding, from the client on the internet
for v in vm1 vm2; do
        if [[ $v == vm1 ]]; then p=$p1; else p=$p2; fi
        check "$v: TCP $PUBLIC4:$p reaches $v:22" reaches tcp "$PUBLIC4" "$p" "$v:22"
        check "$v: TCP $PUBLIC4:$((p + 1)) reaches $v:10001" reaches tcp "$PUBLIC4" $((p + 1)) "$v:10001"
        check "$v: TCP $PUBLIC4:$((p + 4)) reaches $v:10004" reaches tcp "$PUBLIC4" $((p + 4)) "$v:10004"
        check "$v: UDP $PUBLIC4:$((p + 5)) reaches $v:10005 and the reply comes back" reaches udp "$PUBLIC4" $((p + 5)) "$v:10005"
        check "$v: UDP $PUBLIC4:$((p + 9)) reaches $v:10009 and the reply comes back" reaches udp "$PUBLIC4" $((p + 9)) "$v:10009"
done
check "a port outside every block is not forwarded" not tcp_get "$PUBLIC4" $((p2 + 100))
check "from gw itself, TCP $PUBLIC4:$p1 reaches vm1:22 too" \
        eq "$(in_ns "$NS_GW" timeout 5 socat -t 3 -T 3 - "TCP4:$PUBLIC4:$p1,connect-timeout=3" </dev/null 2>&1)" vm1:22

# -- listing and details
run cli vm ls
check "vm ls exits 0" rc_is 0
check "vm ls lists vm1" contains "$OUT" vm1
check "vm ls lists vm2" contains "$OUT" vm2
run cli --json vm ls
check "vm ls --json lists exactly vm1 and vm2, in creation order" \
        eq "$(json '[(v["id"], v["ip"], v["ssh_port"]) for v in d["vms"]]' <<<"$OUT")" "[('vm1', '10.0.1.5', $p1), ('vm2', '10.0.1.6', $p2)]"

run cli vm show vm1
check "vm show vm1 exits 0" rc_is 0
check "vm show vm1 shows the subdomain" contains "$OUT" "$(json 'd["subdomain"]' <<<"$vm1")"
check "vm show vm1 shows the SSH port" contains "$OUT" "$p1"
check "vm show vm1 shows the address" contains "$OUT" 10.0.1.5
run cli --json vm show vm1
check "vm show vm1 --json is the VM object vm add returned" python3 -c '
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
a.pop("rules", None); b.pop("rules", None)
for k in ("bytes_in", "bytes_out"): a.pop(k, None); b.pop(k, None)  # POST answers null, GET reads the counters
if b.pop("dns", None) != []: sys.exit(print("GET has no \"dns\": [] (no [dns] provider here)") or 1)  # GET only
sys.exit(0 if a == b else print(a, "!=", b) or 1)' "$vm1" "$OUT"
check "vm show --json has ssh_command with host and port" \
        contains "$(json 'd.get("ssh_command")' <<<"$OUT")" "$(json 'd["subdomain"]' <<<"$vm1") -p $p1"

run cli vm show vm2 --json
check "options go after the command too: vm show vm2 --json" eq "$(json 'd["id"]' <<<"$OUT")" vm2

# -- per-VM HTTPS options: stored, shown, and a bad one refused without a trace
run cli vm show vm1
check "vm show vm1 (added without options) says 'HTTPS options: none'" contains "$OUT" "HTTPS options: none"
check "vm1's options are the defaults in JSON" \
        eq "$(cli --json vm show vm1 | json '(d["proxy_protocol"], d["http_passthrough"], d["allow"])')" "('none', False, [])"
run cli vm add vm3 --ip 10.0.1.7 --proxy-protocol v2 --http-passthrough --allow 203.0.113.0/24
check "vm add vm3 --proxy-protocol v2 --http-passthrough --allow 203.0.113.0/24 exits 0" rc_is 0
run cli --json vm show vm3
check "vm show vm3 --json round-trips the options" \
        eq "$(json '(d["proxy_protocol"], d["http_passthrough"], d["allow"])' <<<"$OUT")" "('v2', True, ['203.0.113.0/24'])"
run cli vm show vm3
check "vm show vm3 prints the options under the box" \
        contains "$OUT" "HTTPS options: PROXY protocol v2, plain HTTP passthrough, allowed from 203.0.113.0/24"
run cli --json vm add vm5 --ip 10.0.1.9 --allow '198.51.100.0/24, 2001:DB8::/32' --proxy-protocol=v1 --allow=192.0.2.7
check "--allow repeats and takes comma lists; the daemon answers canonical networks" \
        eq "$(json '(d["proxy_protocol"], d["http_passthrough"], d["allow"])' <<<"$OUT")" \
        "('v1', False, ['198.51.100.0/24', '2001:db8::/32', '192.0.2.7/32'])"
run cli vm show vm5
check "vm show vm5 lists every allowed network" \
        contains "$OUT" "HTTPS options: PROXY protocol v1, allowed from 198.51.100.0/24, 2001:db8::/32, 192.0.2.7/32"

before=$(cli --json vm ls)
run cli vm add vm4 --ip 10.0.1.8 --allow 10.0.0.1/8
check "a bad --allow (10.0.0.1/8) exits 7 (rejected by the daemon)" rc_is 7
check "the message names the field and the problem" contains "$ERR" "field 'allow'[0]: '10.0.0.1/8' is not a network (host bits set"
run cli vm add vm4 --ip 10.0.1.8 --proxy-protocol v3
check "a bad --proxy-protocol (v3) exits 7" rc_is 7
run cli vm add vm4 --ip 10.0.1.8 --allow 10.0.0.0/8,
check "an empty item in --allow is a usage error (exit 2)" rc_is 2
check "the refused adds changed nothing" eq "$(cli --json vm ls)" "$before"
run cli vm show vm4
check "vm4 does not exist (exit 4)" rc_is 4
run cli vm rm vm5
check "vm rm vm5 exits 0" rc_is 0

# -- the CLI's socket selection and the unreachable case
run ip netns exec "$NS_GW" "$EDGEGW" --socket "$E2E_SOCK" vm ls
check "edgegw --socket PATH reaches the daemon without EDGEGW_SOCKET" rc_is 0
run ip netns exec "$NS_GW" env EDGEGW_SOCKET="$E2E_TMP/nonexistent.sock" "$EDGEGW" vm ls
check "a socket nobody listens on: exit 3 (daemon unreachable)" rc_is 3

# -- drift check and counters
run cli check
check "edgegw check exits 0 (no drift)" rc_is 0
run cli --json check
check "edgegw check --json says clean" eq "$(json 'd["clean"]' <<<"$OUT")" True

# (kernel mode: the nft counters in_<slug>/out_<slug>; userspace: the relay's per-VM count)
for v in vm1 vm2; do
        b=$(vm_bytes "$v" in 2>&1)
        check "$v: its byte counter counted the traffic to it (bytes $b)" test "${b:-0}" -gt 0 2>/dev/null
        b=$(vm_bytes "$v" out 2>&1)
        check "$v: its byte counter counted the traffic from it (bytes $b)" test "${b:-0}" -gt 0 2>/dev/null
done
if userspace; then
        check "userspace: edgegw created no nft table inet edgegw" no_nft_table
        check "userspace: gw listens on vm1's TCP :$p1 and UDP :$((p1 + 5))" \
                eval "forward_listening tcp $p1 && forward_listening udp $((p1 + 5))"
        # 10.0.1.9 answers but serves nothing; 10.0.1.8 gets an echo server further down.
        step "namespace vml (10.0.1.8, 10.0.1.9)" vm_ns vml 10.0.1.8 10.0.1.9
        run cli --json vm add vm9 --ip 10.0.1.9
        check "userspace: a VM without a server behind its ports is added" rc_is 0
        p9=$(json 'd["ssh_port"]' <<<"$OUT")
        check "userspace: its TCP :$p9 accepts and closes (nothing listens on the VM)" not reaches tcp "$PUBLIC4" "$p9" x
        run cli vm rm vm9
        check "userspace: vm rm vm9 exits 0" rc_is 0
        check "userspace: the daemon is still running" daemon_alive

        # UDP sessions close after udp_timeout_ms (1500 here) without traffic.
        sessions() { in_ns "$NS_GW" ss -Hun state established dst 10.0.1.5 | grep -c .; }
        check "userspace: UDP :$((p1 + 6)) reaches vm1:10006" reaches udp "$PUBLIC4" $((p1 + 6)) vm1:10006
        check "userspace: gw holds a UDP session socket towards vm1" test "$(sessions)" -ge 1
        sleep 2.5
        check "userspace: 2.5 s later (udp_timeout_ms = 1500) the sessions are gone" eq "$(sessions)" 0
        check "userspace: and a new datagram opens a new one" reaches udp "$PUBLIC4" $((p1 + 6)) vm1:10006

        # An open TCP relay survives the removal of its VM (removed_routes = "finish").
        listen "$PFX-vml" tcp 22 "cat"
        step "an echo server on vml:22" wait_listening "$PFX-vml" tcp 22
        run cli --json vm add vml --ip 10.0.1.8
        check "userspace: vm add vml exits 0" rc_is 0
        pl=$(json 'd["ssh_port"]' <<<"$OUT")
        step "a relay to vml's :$pl says 'one'" long_relay_start "$PUBLIC4" "$pl" long
        run cli vm rm vml
        check "userspace: vm rm vml exits 0 while a relay to it is open" rc_is 0
        check "userspace: vml's :$pl no longer listens" not forward_listening tcp "$pl"
        check "userspace: the open relay kept working after the removal (one, two echoed)" \
                eq "$(long_relay_finish long)" "one two"
fi

finish
