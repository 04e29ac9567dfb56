#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC1091,SC2034  # lib.sh is sourced; CFG_* are read by lib.sh
#
# The operator's view of the DNS outbox (issue 5): a gateway without a DNS provider still
# answers GET /v1/dns/records with an empty list, shows "dns": [] in a VM and "not
# configured" in `edgegw status`. Then, with rows put into the outbox directly (the DNS
# reconciler is not what is tested here), the API lists them with their state, last error
# and next retry, filters them by state, owner and name, shows one name's rows, refuses bad
# filters (400) and writes (405); `vm show` lists the VM's own records, `edgegw dns ls`
# prints them as a table (or the API's JSON), and a record in error does not make
# `edgegw status` fail.
source "$(dirname "$0")/lib.sh"
API_TCP=http://127.0.0.1:8081
CFG_EXTRA="[api]
listen = \"127.0.0.1:8081\"
rate_limit = 0
rate_limit_source = 0"

command -v sqlite3 >/dev/null || die "sqlite3 is not installed (make deps installs it)"
step "topology up" topo_up
step "edgegwd starts without a [dns] provider" daemon_start

# sql STATEMENT: one statement on the daemon's store, waiting out the daemon's own writes.
sql() {
        sqlite3 -cmd ".timeout 5000" "$E2E_STATE/edgegw.db" "$1"
}

# ---- no provider, no records ------------------------------------------------------------
api GET /v1/dns/records
check "GET /v1/dns/records without a provider: 200" status_is 200
check "...with no records and provider null" eq "$(json '(d["records"], d["provider"])' <<<"$OUT")" "([], None)"
run cli dns ls
check "dns ls exits 0 with no records" rc_is 0
check "...and says there are none and that no provider is configured" \
        contains "$OUT" "no DNS records (no DNS provider is configured"
run cli --json dns ls
check "dns ls --json prints the API's object" eq "$(json 'd["records"]' <<<"$OUT")" "[]"

add_vm WEB web-1 --ip 10.0.1.5 --hostname shop.example.org
add_vm OTHER other --ip 10.0.1.6
run cli --json vm show web-1
check "vm show --json of a VM without records has \"dns\": []" eq "$(json 'd["dns"]' <<<"$OUT")" "[]"
check "...and every field it had before (docs/api.md)" eq "$(json 'sorted(d)' <<<"$OUT")" \
        "['allow', 'bytes_in', 'bytes_out', 'created_at', 'dns', 'expires_at', 'hostnames', 'http_passthrough', 'id', 'ip', 'labels', 'mac', 'port_range_end', 'port_range_start', 'ports', 'proxy_protocol', 'slug', 'ssh_command', 'ssh_port', 'subdomain', 'updated_at', 'version', 'web_url']"
run cli vm show web-1
check "vm show prints 'dns:       none'" grep -qx "dns:       none" <<<"$OUT"

api GET /v1/status
check "/v1/status without a provider has \"dns\": {\"enabled\": false}" eq "$(json 'd["dns"]' <<<"$OUT")" '{"enabled": false}'
run cli status
check "status exits 0" rc_is 0
check "...and prints 'dns:       not configured'" grep -qx "dns:       not configured" <<<"$OUT"

# ---- rows in the outbox -----------------------------------------------------------------
now=$(date +%s)
retry=$((now + 600))
retry_iso=$(date -u -d "@$retry" +%Y-%m-%dT%H:%M:%SZ)
retry_clock=$(date -u -d "@$retry" +%H:%M:%SZ)
step "five rows put into the outbox" sql "INSERT INTO dns_records
  (name, type, content, ttl, proxied, owner_kind, owner_id, state, last_error, attempts, next_retry_at, provider_ref, updated_at) VALUES
  ('$WEB', 1, '$PUBLIC4', 300, 0, 'vm', 'web-1', 'synced', '', 0, 0, 'ref-1', $now),
  ('$WEB', 28, '$PUBLIC6', 300, 0, 'vm', 'web-1', 'error', 'timeout talking to 127.0.0.1:53', 3, $retry, '', $now),
  ('shop.example.org', 1, '$PUBLIC4', 300, 1, 'vm', 'web-1', 'pending', '', 0, $now, '', $now),
  ('lab.example.org', 1, '$PUBLIC4', 60, 0, 'route', 'lab', 'deleting', 'SERVFAIL', 1, $retry, 'ref-9', $now),
  ('x.dc-lk.example.net', 1, '198.51.100.7', 300, 0, 'node', 'dc-lk', 'synced', '', 0, 0, '', $now)"

api GET /v1/dns/records
check "GET /v1/dns/records: 200" status_is 200
all=$OUT
check "...every row, by name and type" eq "$(json '[(r["name"], r["type"]) for r in d["records"]]' <<<"$all")" \
        "$(python3 -c 'import sys; print(sorted([("lab.example.org", "A"), ("shop.example.org", "A"), (sys.argv[1], "A"), (sys.argv[1], "AAAA"), ("x.dc-lk.example.net", "A")]))' "$WEB")"
check "...the synced row: content, ttl, proxied, owner, no error, no retry, its provider_ref" \
        eq "$(json '[(r["content"], r["ttl"], r["proxied"], r["owner"], r["state"], r["attempts"], r["last_error"], r["next_retry_at"], r["provider_ref"]) for r in d["records"] if r["type"] == "A" and r["owner"]["kind"] == "vm" and r["state"] == "synced"][0]' <<<"$all")" \
        "('$PUBLIC4', 300, False, {'kind': 'vm', 'id': 'web-1'}, 'synced', 0, None, None, 'ref-1')"
check "...the row in error: its message, attempts, next retry (RFC 3339 UTC), provider_ref null" \
        eq "$(json '[(r["state"], r["last_error"], r["attempts"], r["next_retry_at"], r["provider_ref"]) for r in d["records"] if r["type"] == "AAAA"][0]' <<<"$all")" \
        "('error', 'timeout talking to 127.0.0.1:53', 3, '$retry_iso', None)"
check "...a pending row that is due has no next_retry_at" \
        eq "$(json '[(r["state"], r["next_retry_at"], r["proxied"]) for r in d["records"] if r["name"] == "shop.example.org"][0]' <<<"$all")" \
        "('pending', None, True)"
check "...updated_at is an RFC 3339 UTC time" \
        eq "$(json 'd["records"][0]["updated_at"]' <<<"$all")" "$(date -u -d "@$now" +%Y-%m-%dT%H:%M:%SZ)"

api GET "/v1/dns/records?state=error"
check "?state=error: only the row in error" eq "$(json '[(r["name"], r["type"]) for r in d["records"]]' <<<"$OUT")" "[('$WEB', 'AAAA')]"
api GET "/v1/dns/records?owner=vm:web-1"
check "?owner=vm:web-1: the VM's three rows" eq "$(json 'len(d["records"])' <<<"$OUT")" 3
api GET "/v1/dns/records?owner=node:dc-lk"
check "?owner=node:dc-lk: the other node's row" eq "$(json '[r["name"] for r in d["records"]]' <<<"$OUT")" "['x.dc-lk.example.net']"
api GET "/v1/dns/records?owner=vm:nobody"
check "?owner=vm:nobody: 200 and no rows" eq "$STATUS $(json 'd["records"]' <<<"$OUT")" "200 []"
api GET "/v1/dns/records?name=${WEB^^}&state=synced"
check "?name= (any case) and ?state= together" eq "$(json '[(r["name"], r["type"]) for r in d["records"]]' <<<"$OUT")" "[('$WEB', 'A')]"

api GET "/v1/dns/records?state=broken"
check "?state=broken: 400" status_is 400
check "...naming the states" contains "$(json 'd["error"]["message"]' <<<"$OUT")" "'broken' is not a state (pending, synced, error, deleting)"
api GET "/v1/dns/records?owner=forward:x"
check "?owner=forward:x: 400 naming the owner kinds" contains "$STATUS $(json 'd["error"]["message"]' <<<"$OUT")" "400 query 'owner': 'forward:x' is not KIND:ID (KIND vm, route or node"
api GET "/v1/dns/records?owner=web-1"
check "?owner=web-1 (no kind): 400" status_is 400
api GET "/v1/dns/records?name=not_a_name"
check "?name=not_a_name: 400" status_is 400
api GET "/v1/dns/records?state=error&state=synced"
check "?state twice: 400 (repeated)" contains "$STATUS $(json 'd["error"]["message"]' <<<"$OUT")" "400 query 'state': repeated"
api GET "/v1/dns/records?type=A"
check "?type=A (unknown argument): 400 naming the allowed ones" \
        contains "$STATUS $(json 'd["error"]["message"]' <<<"$OUT")" "400 unknown query argument 'type' (allowed: state, owner, name)"

api GET "/v1/dns/records/$WEB"
check "GET /v1/dns/records/NAME: 200 with the name's A and AAAA" \
        eq "$STATUS $(json '[r["type"] for r in d["records"]]' <<<"$OUT")" "200 ['A', 'AAAA']"
api GET "/v1/dns/records/${WEB^^}."
check "...also in capitals with a trailing dot" eq "$STATUS $(json 'len(d["records"])' <<<"$OUT")" "200 2"
api GET /v1/dns/records/nothing.example.net
check "GET /v1/dns/records/ of a name without rows: 404" status_is 404
check "...naming it" contains "$(json 'd["error"]["message"]' <<<"$OUT")" "no DNS record named 'nothing.example.net'"
api GET /v1/dns/records/not_a_name
check "GET /v1/dns/records/not_a_name: 400" status_is 400
api GET "/v1/dns/records/$WEB/x"
check "GET /v1/dns/records/NAME/x: 400" status_is 400
api GET "/v1/dns/records/$WEB?state=error"
check "GET /v1/dns/records/NAME takes no query: 400" status_is 400

api POST /v1/dns/records '{"name":"x.example.net"}'
check "POST /v1/dns/records: 405" status_is 405
check "...with Allow: GET" eq "$(header Allow)" GET
api DELETE "/v1/dns/records/$WEB"
check "DELETE /v1/dns/records/NAME: 405" status_is 405
check "...the outbox is unchanged" eq "$(sql 'SELECT count(*) FROM dns_records')" 5

# ---- vm show ------------------------------------------------------------------------------
run cli --json vm show web-1
check "vm show --json lists the VM's records (its name's A and AAAA, its extra name)" \
        eq "$(json 'sorted((r["name"] == "shop.example.org", r["type"], r["content"], r["state"]) for r in d["dns"])' <<<"$OUT")" \
        "[(False, 'A', '$PUBLIC4', 'synced'), (False, 'AAAA', '$PUBLIC6', 'error'), (True, 'A', '$PUBLIC4', 'pending')]"
check "...each with name, type, content, state, last_error, next_retry_at" \
        eq "$(json 'sorted({tuple(sorted(r)) for r in d["dns"]})' <<<"$OUT")" "[('content', 'last_error', 'name', 'next_retry_at', 'state', 'type')]"
check "...the error's message and next retry" \
        eq "$(json '[(r["last_error"], r["next_retry_at"]) for r in d["dns"] if r["state"] == "error"]' <<<"$OUT")" \
        "[('timeout talking to 127.0.0.1:53', '$retry_iso')]"
run cli vm show web-1
check "vm show prints a dns line per record" eq "$(grep '^dns:' <<<"$OUT" | sort)" \
        "$(sort <<<"dns:       shop.example.org A $PUBLIC4 pending
dns:       $WEB A $PUBLIC4 synced
dns:       $WEB AAAA $PUBLIC6 error (timeout talking to 127.0.0.1:53; next try $retry_clock)")"
run cli --json vm show other
check "vm show of another VM: \"dns\": [] (records are the owner's, not the neighbours')" eq "$(json 'd["dns"]' <<<"$OUT")" "[]"
api GET /v1/vms
check "the VM list does not carry \"dns\" (GET /v1/vms/ID does)" eq "$(json '["dns" in v for v in d["vms"]]' <<<"$OUT")" "[False, False]"

# ---- dns ls -------------------------------------------------------------------------------
run cli dns ls
check "dns ls exits 0" rc_is 0
check "...with the header NAME TYPE CONTENT STATE ATTEMPTS NEXT_RETRY ERROR" \
        eq "$(head -n1 <<<"$OUT" | tr -s ' ')" "NAME TYPE CONTENT STATE ATTEMPTS NEXT_RETRY ERROR"
check "...a row per record" eq "$(wc -l <<<"$OUT")" 6
check "...the row in error with its attempts, next retry and message" \
        eq "$(grep " AAAA " <<<"$OUT" | tr -s ' ')" "$WEB AAAA $PUBLIC6 error 3 $retry_iso timeout talking to 127.0.0.1:53"
check "...a synced row with - for no retry and no error" \
        eq "$(grep "^x.dc-lk" <<<"$OUT" | tr -s ' ')" "x.dc-lk.example.net A 198.51.100.7 synced 0 - -"
run cli --json dns ls
check "dns ls --json prints the API's records" eq "$(json 'd["records"]' <<<"$OUT")" "$(json 'd["records"]' <<<"$all")"

# ---- status and scopes ---------------------------------------------------------------------
run cli status
check "a record in error does not make status fail (exit 0)" rc_is 0
declare -A TOKENS
for scope in read dns vms; do
        run cli --json token add "t-$scope" --scope "$scope"
        TOKENS[$scope]=$(json 'd["token"]' <<<"$OUT")
done
api_tcp "${TOKENS[read]}" GET /v1/dns/records
check "over TCP a read token lists the records (200)" status_is 200
api_tcp "${TOKENS[dns]}" GET "/v1/dns/records?state=error"
check "...so does a dns token" eq "$STATUS $(json 'len(d["records"])' <<<"$OUT")" "200 1"
api_tcp "${TOKENS[vms]}" GET /v1/dns/records
check "...a vms-only token gets 403" status_is 403

finish
