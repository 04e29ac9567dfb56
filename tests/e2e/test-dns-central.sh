#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC1091,SC2034  # lib.sh is sourced; CFG_* are read by lib.sh
#
# A node without DNS credentials has its VM names published by a central edgegw (issue 5,
# [dns] provider = "edgegw"). Two edgegwd: the node in gw (the usual topology), the central
# in a namespace of its own ("central", 10.9.0.2, reached from gw over a veth) with a real
# Knot DNS on its loopback and [dns] provider = "rfc2136" pointing at it. The operator makes
# the node a token on the central (`edgegw token add node1 --scope dns --datacenter
# dc-test`); then `vm add` on the node makes kdig against Knot show the VM's A and AAAA
# records, `vm rm` makes them NXDOMAIN. The central refuses names outside the token's
# datacenter (403), tokens without the dns scope (403), another token's record (409), and
# answers 503 while it has no [dns] provider itself; seed 000's body works with curl, and
# is idempotent. With the central down a VM add still succeeds and its names follow once
# the central is back. Everything is in the central's audit; no token leaks into a log.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/knot.sh"

NS_CENTRAL=$PFX-central
CENTRAL_IP=10.9.0.2
API_TCP=http://$CENTRAL_IP:8081
C_DIR=$E2E_TMP/central
C_STATE=$C_DIR/state
C_CONF=$C_DIR/edgegw.conf
C_SOCK=$C_STATE/edgegw.sock
C_LOG=$C_DIR/edgegwd.log
C_PID=
KNOT_DIR=$C_DIR/knot
SECRET=$KNOT_SECRET

mkdir -p "$C_STATE"

# ---- the central node's namespace: Knot on its loopback ------------------------------------
step "topology up" topo_up
step "namespace $NS_CENTRAL" ns_add "$NS_CENTRAL"
step "veth gw <-> central" eval "ip -n $NS_GW link add ctr type veth peer name eth0 netns $NS_CENTRAL &&
        ip -n $NS_GW addr add 10.9.0.1/24 dev ctr && ip -n $NS_GW link set ctr up &&
        ip -n $NS_CENTRAL addr add $CENTRAL_IP/24 dev eth0 && ip -n $NS_CENTRAL link set eth0 up"

knot_setup "$KNOT_DIR" 53 || die "knot set up"
cp "$KNOT_DIR/tsig.key" "$C_DIR/tsig.key"

kdig_short() { in_ns "$NS_CENTRAL" kdig +short +timeout=2 +retry=0 @127.0.0.1 "$1" "${2:-A}" | sort | tr '\n' ' ' | sed 's/ $//'; }
kdig_rcode() { in_ns "$NS_CENTRAL" kdig +timeout=2 +retry=0 @127.0.0.1 "$1" "${2:-A}" | sed -n 's/.*status: \([A-Z]*\).*/\1/p'; }
# has_record NAME TYPE VALUE / rcode_is NAME TYPE RCODE / is_nxdomain NAME: what Knot serves now.
has_record() { eq "$(kdig_short "$1" "$2")" "$3"; }
rcode_is() { eq "$(kdig_rcode "$1" "$2")" "$3"; }
is_nxdomain() { eq "$(kdig_rcode "$1")" NXDOMAIN; }

step "knotd serves example.net in $NS_CENTRAL" knot_start "$NS_CENTRAL" "$KNOT_DIR" 53

# central_config [DNS]: the central's config, with its [dns] section when DNS is "dns".
central_config() {
        cat >"$C_CONF" <<EOF
[gateway]
datacenter = "dc-central"
domain = "example.net"
public_ip = "198.51.100.1"
state_dir = "$C_STATE"
[api]
listen = "$CENTRAL_IP:8081"
EOF
        [[ ${1:-} == dns ]] && cat >>"$C_CONF" <<EOF
[dns]
provider = "rfc2136"
zone = "example.net"
ttl = 60
server = "127.0.0.1:53"
tsig_name = "edgegw-key"
tsig_secret_file = "$C_DIR/tsig.key"
EOF
        return 0
}
central() { cli_at "$NS_CENTRAL" "$C_SOCK" "$@"; }
central_api() {
        local method=$1 path=$2 body=${3-}
        RUN_CMD="curl (central unix socket) $method $path"
        OUT=$(in_ns "$NS_CENTRAL" curl -sS -m 20 -H 'Content-Type: application/json' -o "$E2E_TMP/c.body" \
                -w '%{http_code}' --unix-socket "$C_SOCK" -X "$method" ${body:+--data-binary "$body"} \
                "http://edgegw$path" 2>"$E2E_TMP/c.err")
        STATUS=$OUT
        OUT=$(cat "$E2E_TMP/c.body" 2>/dev/null)
}
# remote_states_are LIST: the states of the central's remote records, as a Python list.
remote_states_are() {
        central_api GET /v1/dns/remote
        eq "$(json '[r.get("state") for r in d["records"]]' <<<"$OUT")" "$1"
}
code() { json 'd["error"]["code"]' <<<"$OUT"; }
message() { json 'd["error"]["message"]' <<<"$OUT"; }

# ---- a central without a [dns] provider of its own refuses ---------------------------------
central_config
step "the central edgegwd starts (no [dns] yet)" other_daemon_start "$NS_CENTRAL" "$C_CONF" "$C_SOCK" "$C_LOG"
C_PID=$OTHER_PID
central_api POST /api/v1/agents/dns '{"action":"create","name":"a.dc-test.example.net","type":"A","content":"203.0.113.1"}'
check "a central without [dns] provider: 503" status_is 503
check "...code dns_disabled, saying why" eq "$(code): $(message)" \
        "dns_disabled: this edgegw publishes no DNS records: its [dns] provider is not configured"
other_daemon_stop "$C_PID" "$C_LOG" "the central (no [dns])"

central_config dns
step "the central edgegwd starts with [dns] provider rfc2136 -> Knot" \
        other_daemon_start "$NS_CENTRAL" "$C_CONF" "$C_SOCK" "$C_LOG"
C_PID=$OTHER_PID

# ---- tokens on the central -----------------------------------------------------------------
run central --json token add node1 --scope dns --datacenter dc-test
check "central: token add node1 --scope dns --datacenter dc-test" rc_is 0
NODE1=$(json 'd["token"]' <<<"$OUT")
check "...the token object carries the datacenter" eq "$(json 'd["datacenter"]' <<<"$OUT")" dc-test
run central token add node2 --scope dns --datacenter dc-test
NODE2=$OUT
run central token add reader --scope read
READER=$OUT
run central token add roamer --scope dns
ROAMER=$OUT
run central token add bad --scope dns --datacenter DC_Test
check "token add with a datacenter that is not a DNS label: refused" not rc_is 0
check "...saying what a datacenter must be" contains "$ERR" "datacenter: a DNS label"
run central token ls
check "token ls shows node1's datacenter" grep -Eq '^node1 +dns +dc-test ' <<<"$OUT"
check "token ls shows - for a token without one" grep -Eq '^reader +read +- ' <<<"$OUT"

# ---- the node -------------------------------------------------------------------------------
printf '%s\n' "$NODE1" >"$E2E_TMP/node.token"
chmod 600 "$E2E_TMP/node.token"
CFG_EXTRA="[dns]
provider = \"edgegw\"
zone = \"example.net\"
url = \"$API_TCP/\"
token_file = \"$E2E_TMP/node.token\""
step "listeners in vm1" vm_listeners "$NS_VM1" vm1
step "the node edgegwd starts with [dns] provider edgegw -> the central" daemon_start

add_vm WEB web --ip 10.0.1.5
check "vm web's name is under the node's datacenter" contains "$WEB" ".dc-test.example.net"
check "vm add on the node: within 20 s Knot serves $WEB A $PUBLIC4" wait_for 20 has_record "$WEB" A "$PUBLIC4"
check "...and AAAA $PUBLIC6" wait_for 10 has_record "$WEB" AAAA "$PUBLIC6"
check "the VM's forwards work meanwhile (DNS never blocks a VM)" \
        reaches tcp "$PUBLIC4" "$(vm_field web ssh_port)" vm1:22
central_api GET /v1/dns/remote
check "central GET /v1/dns/remote lists web's A and AAAA, owned by token node1" \
        eq "$(json '[(r["name"], r["type"], r["content"], r["token"], r["datacenter"]) for r in d["records"]]' <<<"$OUT")" \
        "[('$WEB', 'A', '$PUBLIC4', 'node1', 'dc-test'), ('$WEB', 'AAAA', '$PUBLIC6', 'node1', 'dc-test')]"
check "...both synced at the central's provider" wait_for 10 remote_states_are "['synced', 'synced']"

# node_row NAME TYPE: the node's outbox row for NAME/TYPE as "STATE|ERROR" (edgegw dns ls).
node_row() {
        cli --json dns ls | json "[r['state'] + '|' + (r['last_error'] or '') for r in d['records'] if r['name'] == '$1' and r['type'] == '$2']"
}
check "the node's dns ls: web's A synced" wait_for 10 eval "[[ \$(node_row $WEB A) == \"['synced|']\" ]]"

# A route whose name is outside the token's datacenter: that row fails alone with the
# central's message; the VM records go on; removing the route clears the row.
run cli route add shop --hostname shop.example.net --target 10.0.1.6:443 --dns
check "route add shop (shop.example.net, outside dc-test) on the node" rc_is 0
check "...its row fails with the central's 403 message" wait_for 20 eval \
        "[[ \$(node_row shop.example.net A) == *\"error|failed: central: HTTP 403: token 'node1' may publish only names under dc-test.example.net; shop.example.net is not\"* ]]"
check "...and Knot has no shop.example.net" is_nxdomain shop.example.net
add_vm WEB3 web3 --ip 10.0.1.7
check "a VM added meanwhile is published all the same (the refusal holds back no other record)" \
        wait_for 20 has_record "$WEB3" A "$PUBLIC4"
run cli route rm shop
check "route rm shop: the refused row leaves the node's outbox (nothing of ours at the central)" \
        wait_for 20 eval "[[ \$(node_row shop.example.net A) == '[]' ]]"
run cli vm rm web3
check "vm rm web3: NXDOMAIN" wait_for 20 is_nxdomain "$WEB3"

# ---- what the central refuses ---------------------------------------------------------------
api_tcp "$NODE1" POST /api/v1/agents/dns '{"action":"create","name":"web.dc-other.example.net","type":"A","content":"203.0.113.1"}'
check "node1's token writing a name in another datacenter: 403" status_is 403
check "...saying which names the token may publish" eq "$(message)" \
        "token 'node1' may publish only names under dc-test.example.net; web.dc-other.example.net is not"
check "...and Knot has no such name" is_nxdomain web.dc-other.example.net
api_tcp "$NODE1" POST /api/v1/agents/dns '{"action":"create","slug":"x1","datacenter":"dc-other","public_ip":"203.0.113.1"}'
check "the seed body with another datacenter than the token's: 403" status_is 403
check "...naming both" contains "$(message)" "publishes only for datacenter dc-test, not dc-other"
api_tcp "$READER" POST /api/v1/agents/dns '{"action":"create","name":"web.dc-test.example.net","type":"A","content":"203.0.113.1"}'
check "a token without the dns scope: 403" status_is 403
check "...naming the scope it lacks" contains "$(message)" "needs the scope dns,admin (any one of them); this caller has read"
api_tcp "" POST /api/v1/agents/dns '{"action":"create","name":"web.dc-test.example.net","type":"A","content":"203.0.113.1"}'
check "no token: 401" status_is 401
api_tcp "$NODE2" POST /api/v1/agents/dns "{\"action\":\"create\",\"name\":\"$WEB\",\"type\":\"A\",\"content\":\"198.51.100.66\"}"
check "another token writing node1's record: 409 record_owned" eq "$STATUS $(code)" "409 record_owned"
check "...naming the owner" contains "$(message)" "is published by token 'node1'"
api_tcp "$NODE2" POST /api/v1/agents/dns "{\"action\":\"delete\",\"name\":\"$WEB\"}"
check "another token deleting node1's record: 409, nothing removed" eq "$STATUS $(kdig_short "$WEB" A)" "409 $PUBLIC4"
api_tcp "$ROAMER" POST /api/v1/agents/dns '{"action":"create","name":"elsewhere.example.org","type":"A","content":"203.0.113.1"}'
check "a name outside the central's zone: 422 invalid_record" eq "$STATUS $(code)" "422 invalid_record"
check "...naming the zone" contains "$(message)" "is not below this node's DNS zone example.net"
api_tcp "$ROAMER" POST /api/v1/agents/dns '{"action":"create","name":"x.example.net","type":"AAAA","content":"203.0.113.1"}'
check "an AAAA record with an IPv4 address: 422" eq "$STATUS $(message)" "422 content: '203.0.113.1' is not an IPv6 address"
api_tcp "$ROAMER" POST /api/v1/agents/dns '{"action":"create","name":"x.example.net","type":"A","content":"203.0.113.1","ttl":5}'
check "a ttl under 30 s: 422" eq "$STATUS $(message)" "422 ttl: 5 is outside 30-86400 seconds"
api_tcp "$ROAMER" POST /api/v1/agents/dns '{"action":"create","name":"x.example.net","type":"A","content":"203.0.113.1","comment":"hi"}'
check "an unknown field: 400 invalid_argument" eq "$STATUS $(code)" "400 invalid_argument"
api_tcp "$NODE1" GET /api/v1/agents/dns
check "GET /api/v1/agents/dns: 405, Allow: POST" eq "$STATUS $(header Allow)" "405 POST"

# ---- seed 000's body with curl -------------------------------------------------------------
SEED='{"action":"create","slug":"seedvm","datacenter":"dc-test","public_ip":"203.0.113.9"}'
api_tcp "$NODE1" POST /api/v1/agents/dns "$SEED"
check "seed body create: 200 success" eq "$STATUS $(json 'd["success"], d["outcome"], d["record"]["name"]' <<<"$OUT")" \
        "200 (True, 'created', 'seedvm.dc-test.example.net')"
check "...Knot serves seedvm.dc-test.example.net A 203.0.113.9" wait_for 20 has_record seedvm.dc-test.example.net A 203.0.113.9
api_tcp "$NODE1" POST /api/v1/agents/dns "$SEED"
check "the same create again: 200, unchanged" eq "$STATUS $(json 'd["outcome"]' <<<"$OUT")" "200 unchanged"
api_tcp "$NODE1" POST /api/v1/agents/dns '{"action":"delete","slug":"seedvm","datacenter":"dc-test"}'
check "seed body delete: 200, deleted" eq "$STATUS $(json 'd["deleted"]' <<<"$OUT")" "200 True"
check "...seedvm.dc-test.example.net is NXDOMAIN" wait_for 20 is_nxdomain seedvm.dc-test.example.net
api_tcp "$NODE1" POST /api/v1/agents/dns '{"action":"delete","slug":"seedvm"}'
check "deleting it again (datacenter from the token): 200, deleted false" \
        eq "$STATUS $(json 'd["success"], d["deleted"]' <<<"$OUT")" "200 (True, False)"

# ---- the central's operator (unix socket) ---------------------------------------------------
central_api POST /v1/dns/remote '{"action":"create","name":"ops.example.net","type":"A","content":"203.0.113.50"}'
check "the central's operator publishes ops.example.net over the unix socket: owned by no token" \
        eq "$STATUS $(json 'd["outcome"], d["record"]["token"]' <<<"$OUT")" "200 ('created', None)"
check "...Knot serves it" wait_for 20 has_record ops.example.net A 203.0.113.50
api_tcp "$ROAMER" POST /v1/dns/remote '{"action":"delete","name":"ops.example.net"}'
check "a token deleting the operator's record: 409" eq "$STATUS $(message)" \
        "409 ops.example.net A is published by this node's operator; a node may change only the records its own token published"
central_api POST /v1/dns/remote '{"action":"delete","name":"ops.example.net"}'
check "the operator deletes it" eq "$STATUS $(json 'd["deleted"]' <<<"$OUT")" "200 True"
check "...NXDOMAIN" wait_for 20 is_nxdomain ops.example.net

# ---- the central down: the node's VMs work, its outbox waits and drains ---------------------
other_daemon_stop "$C_PID" "$C_LOG" "the central (before the outage)"
START=$SECONDS
add_vm WEB2 web2 --ip 10.0.1.6
check "central down: vm add on the node still succeeds, at once" between $((SECONDS - START)) 0 5
step "the central edgegwd starts again" other_daemon_start "$NS_CENTRAL" "$C_CONF" "$C_SOCK" "$C_LOG"
C_PID=$OTHER_PID
check "central back: within 60 s Knot serves $WEB2 A $PUBLIC4" wait_for 60 has_record "$WEB2" A "$PUBLIC4"
check "...and web's records are still there" has_record "$WEB" A "$PUBLIC4"
run cli vm rm web2
check "within 20 s $WEB2 is NXDOMAIN at Knot" wait_for 20 is_nxdomain "$WEB2"

# ---- vm rm on the node ----------------------------------------------------------------------
run cli vm rm web
check "vm rm web on the node" rc_is 0
check "within 20 s $WEB is NXDOMAIN at Knot" wait_for 20 is_nxdomain "$WEB"
central_api GET /v1/dns/remote
check "the central keeps no remote record" eq "$(json 'd["records"]' <<<"$OUT")" "[]"

# ---- audit and secrets ---------------------------------------------------------------------
run central audit --kind dns
check "central audit --kind dns: node1's create and delete of web" \
        eq "$(grep -c "token:node1 .*dns *$WEB" <<<"$OUT")" 4
check "...and the seed record's" contains "$OUT" "seedvm.dc-test.example.net"
check "no token secret in the node's log" not grep -qF -e "${NODE1#egw_*_}" "$DAEMON_LOG"
check "no token secret in the central's log" not grep -qF -e "${NODE1#egw_*_}" -e "${NODE2#egw_*_}" "$C_LOG"
check "no TSIG secret in the central's log" not grep -qF "$SECRET" "$C_LOG"

other_daemon_stop "$C_PID" "$C_LOG" "the central"
finish
