#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Issue 5, provider rfc2136, end to end: edgegwd in gw publishes its VMs' names to a real
# Knot DNS (knotd on gw's loopback, zone example.net, TSIG hmac-sha256) through the DNS
# reconciler, and every assertion is what `kdig` sees:
# - vm add: A and AAAA appear (with the ownership TXT); vm rm: NXDOMAIN.
# - a foreign record in the way is left alone (conflict in the outbox), an equal foreign
#   record is adopted; a foreign record is never deleted.
# - a reload with a new public_ip replaces every A record; public_ip6 = "auto" follows an
#   IPv6 address change on public_interface (netlink) into every AAAA record.
# - outage: knotd stopped, edgegwd restarted (it starts without its provider), 50 VMs added (each add answers at once), knotd started: all 50
#   resolve. Garbage answers (a server sending junk) leave the outbox in error, nothing lost.
# - the TSIG secret never appears in the log.
# e2e-timeout: 360
# shellcheck disable=SC1091
source "$(dirname "$0")/lib.sh"

source "$(dirname "$0")/knot.sh"

KNOT_DIR=$E2E_TMP/knot
SECRET=$KNOT_SECRET
DNS_PORT=5300

topo_up || die "topology up"
knot_setup "$KNOT_DIR" "$DNS_PORT" '; records edgegw does not own
taken.dc-test   A   192.0.2.99
same.dc-test    A   203.0.113.1' || die "knot set up"

# q NAME TYPE: the records knotd serves, sorted, space separated.
q() { in_ns "$NS_GW" kdig +short +timeout=2 +retry=0 -p "$DNS_PORT" @127.0.0.1 "$1" "$2" 2>/dev/null | sort | tr '\n' ' ' | sed 's/ $//'; }
rcode() { in_ns "$NS_GW" kdig +timeout=2 +retry=0 -p "$DNS_PORT" @127.0.0.1 "$1" "${2:-A}" 2>/dev/null | sed -n 's/.*status: \([A-Z]*\).*/\1/p'; }
# wait_q NAME TYPE WANT [SECONDS]: until knotd serves exactly WANT (default 15 s).
q_is() { eq "$(q "$1" "$2")" "$3"; }
wait_q() { wait_for "${4:-15}" q_is "$1" "$2" "$3"; }
rcode_is() { eq "$(rcode "$1")" "$2"; }
wait_rcode() { wait_for "${3:-15}" rcode_is "$1" "$2"; }
# outbox NAME TYPE: "state|last_error" of the outbox row, read from the store.
outbox() {
        python3 -c 'import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
r = db.execute("SELECT state, last_error FROM dns_records WHERE name = ? AND type = ?", (sys.argv[2], int(sys.argv[3]))).fetchone()
print("%s|%s" % r if r else "none|")' "$E2E_STATE/edgegw.db" "$1" "$2"
}
one_of() {
        local v=$1 c
        shift
        for c in "$@"; do [[ -n $v && $v == "$c" ]] && return 0; done
        echo "expected one of: $*; got '$v'"
        return 1
}
outbox_state_is() {
        local got
        got=$(outbox "$1" "$2")
        eq "${got%%|*}" "$3"
}
wait_outbox_state() { wait_for "${4:-15}" outbox_state_is "$1" "$2" "$3"; }

GW_EXTRA="" # more [gateway] lines
dns_config() {
        CFG_EXTRA="$GW_EXTRA
[dns]
provider = \"rfc2136\"
zone = \"example.net\"
ttl = 120
server = \"127.0.0.1:${1:-$DNS_PORT}\"
tsig_name = \"edgegw-key\"
tsig_secret_file = \"$KNOT_DIR/tsig.key\"
${2:-}"
}

knot_start "$NS_GW" "$KNOT_DIR" "$DNS_PORT" || die "knotd serves example.net in gw"
dns_config
daemon_start || die "edgegwd starts with [dns] provider = rfc2136"

step "vm add publishes A and AAAA with the ownership mark"
add_vm N1 vm1 --ip 10.0.1.5
check "vm1's A record appears in knotd" wait_q "$N1" A "$PUBLIC4"
check "vm1's AAAA record appears in knotd" wait_q "$N1" AAAA "$PUBLIC6"
check "the ownership marks are there (_edgegw-a / _edgegw-aaaa TXT)" \
        eq "$(q "_edgegw-a.$N1" TXT)/$(q "_edgegw-aaaa.$N1" TXT)" '"edgegw-owner=dc-test"/"edgegw-owner=dc-test"'
check "the record has the configured TTL" eq "$(in_ns "$NS_GW" kdig +noall +answer -p "$DNS_PORT" @127.0.0.1 "$N1" A | awk '{print $2}')" 120
check "the outbox row is synced" wait_outbox_state "$N1" 1 synced
check "the AAAA row too" wait_outbox_state "$N1" 28 synced
run cli dns ls
check "edgegw dns ls lists vm1's A record as synced" contains "$OUT" "$N1"
check "... with its state" grep -Eq "^$N1 +A +$PUBLIC4 +synced" <<<"$OUT"
run cli vm show vm1
check "vm show has a dns line for the A record" grep -Eq "dns: +$N1 A $PUBLIC4 synced" <<<"$OUT"
run cli status
check "edgegw status sums the records up" grep -Eq "dns: +rfc2136, 2 synced" <<<"$OUT"
api GET /metrics
check "/metrics counts the synced records" contains "$OUT" 'edgegw_dns_records{state="synced"} 2'

step "foreign records: adopted when equal, left alone when not"
run cli vm add vm2 --ip 10.0.1.6 --hostname taken.dc-test.example.net --hostname same.dc-test.example.net
check "vm add with names held by foreign records exits 0" rc_is 0
N2=$(cli --json vm show vm2 | json 'd["subdomain"]')
check "vm2's own name resolves" wait_q "$N2" A "$PUBLIC4"
check "same.dc-test (equal foreign record) is adopted: our mark is added" \
        wait_q _edgegw-a.same.dc-test.example.net TXT '"edgegw-owner=dc-test"'
check "taken.dc-test (different foreign record) stays 192.0.2.99" eq "$(q taken.dc-test.example.net A)" 192.0.2.99
check "taken.dc-test gets no mark" eq "$(q _edgegw-a.taken.dc-test.example.net TXT)" ""
check "its outbox row is in error, saying why" wait_outbox_state taken.dc-test.example.net 1 error
check "the error names the conflict" contains "$(outbox taken.dc-test.example.net 1)" "not edgegw's"

step "reload with a new public_ip: every A record follows"
PUBLIC4_OLD=$PUBLIC4
PUBLIC4=203.0.113.77
ip -n "$NS_GW" addr add "$PUBLIC4/24" dev wan
daemon_reload || die "reload"
check "vm1's A record is replaced" wait_q "$N1" A "$PUBLIC4"
check "vm2's A record is replaced" wait_q "$N2" A "$PUBLIC4"
check "the adopted record (ours now) is replaced too" wait_q same.dc-test.example.net A "$PUBLIC4"
check "the foreign record is still untouched" eq "$(q taken.dc-test.example.net A)" 192.0.2.99

step "vm rm: our records go, foreign ones stay"
run cli vm rm vm2
check "vm rm vm2 exits 0" rc_is 0
check "vm2's name is NXDOMAIN" wait_rcode "$N2" NXDOMAIN
check "the adopted name is gone with it" wait_rcode same.dc-test.example.net NXDOMAIN
check "and so are the marks" eq "$(rcode "_edgegw-a.$N2" TXT)" NXDOMAIN
check "the foreign record is never deleted" eq "$(q taken.dc-test.example.net A)" 192.0.2.99
check "the conflicting row leaves the outbox" wait_outbox_state taken.dc-test.example.net 1 none

step "routes: a record only for a route that asks for one"
run cli route add r-dns --hostname app.dc-test.example.net --target 10.0.1.5 --dns
check "route add --dns exits 0" rc_is 0
run cli route add r-quiet --hostname quiet.dc-test.example.net --target 10.0.1.5
check "route add without --dns exits 0" rc_is 0
check "the --dns route's name resolves" wait_q app.dc-test.example.net A "$PUBLIC4"
check "the route without --dns gets no record" eq "$(outbox quiet.dc-test.example.net 1)" "none|"
check "... and knotd has none" eq "$(rcode quiet.dc-test.example.net)" NXDOMAIN
run cli route rm r-dns
check "route rm: its name is NXDOMAIN" wait_rcode app.dc-test.example.net NXDOMAIN
run cli route rm r-quiet

step "public_ip6 = auto follows the interface's address (netlink)"
CFG_PUBLIC6_SAVE=$PUBLIC6
PUBLIC6=auto
GW_EXTRA='public_interface = "wan"'
dns_config
daemon_reload || die "reload with public_ip6 = auto"
wait_log() { wait_for 10 grep -qF "$1" "$DAEMON_LOG"; }
check "after the reload the daemon reads wan's address" wait_log "public IPv6 address of wan: $CFG_PUBLIC6_SAVE"
check "vm1's AAAA is still that address" wait_q "$N1" AAAA "$CFG_PUBLIC6_SAVE"
ip -n "$NS_GW" addr add 2001:db8:ff::100/64 dev wan nodad
ip -n "$NS_GW" addr del "$CFG_PUBLIC6_SAVE/64" dev wan
check "the address change reaches the AAAA record" wait_q "$N1" AAAA 2001:db8:ff::100
check "the daemon logged the change" grep -q "public IPv6 address of wan changed" "$DAEMON_LOG"
PUBLIC6=2001:db8:ff::100

step "outage: knotd stopped, 50 VMs added, knotd back: all 50 resolve"
knot_stop
# Down at start: edgegwd restarts while the DNS server is gone, and starts all the same.
daemon_stop
daemon_start || die "edgegwd starts while the DNS server is down"
check "edgegwd started while the DNS server is down (its API answers)" eq "$(api GET /health; echo "$STATUS")" 200
slow=0
for i in $(seq 1 50); do
        s=$(date +%s%N)
        cli vm add "o$i" --ip "10.0.1.$((100 + i))" >/dev/null 2>&1 || slow=$((slow + 1000))
        (( ($(date +%s%N) - s) / 1000000 > 5000 )) && slow=$((slow + 1))
done
check "all 50 vm adds succeed, none waits for DNS (> 5 s)" eq "$slow" 0
waiting_rows() {
        python3 -c 'import sqlite3, sys; print(sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True).execute("SELECT count(*) FROM dns_records WHERE owner_id LIKE ? AND state IN (?, ?)", ("o%", "pending", "error")).fetchone()[0])' "$E2E_STATE/edgegw.db"
}
wait_waiting_rows() { wait_for 30 eval '(($(waiting_rows) == 100))'; }
check "the outbox holds all 100 records (A, AAAA) as pending or error: nothing lost" wait_waiting_rows
check "none of them resolves while knotd is down" eq "$(rcode "$(cli --json vm show o1 | json 'd["subdomain"]')")" ""
knot_start "$NS_GW" "$KNOT_DIR" "$DNS_PORT" || die "knotd restarts"
names=()
for i in $(seq 1 50); do names+=("$(cli --json vm show "o$i" | json 'd["subdomain"]')"); done
unresolved() {
        local n c=0
        for n in "${names[@]}"; do [[ $(q "$n" A) == "$PUBLIC4" ]] || c=$((c + 1)); done
        echo "$c"
}
wait_all() { wait_for 90 eval '(($(unresolved) == 0))'; }
check "after knotd is back all 50 names resolve (within 90 s: the backoff is at most that)" wait_all

step "garbage from the server: rows wait in error, then drain"
# Behind edgegw's back, o1's A record is deleted from knotd: a provider switch (to the junk
# server and back) publishes every record again, so it comes back.
printf 'server 127.0.0.1 %s\nzone example.net\nupdate delete %s A\nsend\n' "$DNS_PORT" "${names[0]}" |
        in_ns "$NS_GW" knsupdate -y "hmac-sha256:edgegw-key:$SECRET" >/dev/null 2>&1
check "o1's A record was deleted by hand" eq "$(q "${names[0]}" A)" ""
# A UDP "server" answering every packet with junk.
in_ns "$NS_GW" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 5399))
while True:
    d, a = s.recvfrom(4096)
    s.sendto(d[:2] + b"\xff" * 7, a)
' &
BG_PIDS+=($!)
dns_config 5399
daemon_reload || die "reload to the junk server"
add_vm NJ junk1 --ip 10.0.1.200
junk_errors() {
        python3 -c 'import sqlite3, sys; print(sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True).execute("SELECT count(*) FROM dns_records WHERE state = ? AND last_error LIKE ?", ("error", "%malformed%")).fetchone()[0])' "$E2E_STATE/edgegw.db"
}
wait_junk() { wait_for 20 eval '(($(junk_errors) > 0))'; }
check "junk answers put the row tried in error, saying 'malformed'" wait_junk
check "junk1's row is not synced (it waits: pending or error)" \
        one_of "$(outbox "$NJ" 1 | cut -d'|' -f1)" pending error
dns_config
daemon_reload || die "reload back to knotd"
check "back on knotd, the row drains and the name resolves" wait_q "$NJ" A "$PUBLIC4" 60
check "the provider switch re-published every record: o1's A is back" wait_q "${names[0]}" A "$PUBLIC4" 60
check "the log says why" grep -q "the provider changed: publishing every record again" "$DAEMON_LOG"

step "secrets"
check "the TSIG secret never appears in the daemon log" not grep -qF "$SECRET" "$DAEMON_LOG"

finish
