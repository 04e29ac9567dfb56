#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The cloudflare DNS provider (src/dns/cloudflare.c, driven by the build's dns-provider-probe)
# against the local fake of Cloudflare's API v4 (tests/fakes/cloudflare.py), both inside this
# test's own namespace on 127.0.0.1. An operator's story: edgegw publishes a VM's A record
# marked with its comment, does nothing when all is in place, fixes a changed address, adopts
# an equal record someone made by hand, refuses to touch a different one (conflict), removes
# only its own records, finds its records on every page of a long listing and cleans up
# duplicates; the API's failures come back as the contract's outcomes: 401/403 and a wrong
# or read-only token -> failed with Cloudflare's message, 429 -> retry after Retry-After,
# 5xx, garbage, a reset and a timeout -> retry within the 10 s bound. The token never shows
# in the probe's output. The fake's own self-test runs first, as one check.
# Then through edgegwd (the DNS reconciler): vm add publishes A and AAAA, a foreign equal
# record is adopted and a different one left alone (conflict in the outbox), a 503 outage
# does not slow a vm add and the record arrives when it ends, vm rm removes ours only.
# e2e-timeout: 300
# shellcheck disable=SC1091,SC2034  # lib.sh is sourced; CFG_EXTRA is read by lib.sh
source "$(dirname "$0")/lib.sh"

PROBE=$BUILD/dns-provider-probe
FAKE=$REPO/tests/fakes/cloudflare.py
NS_CF=$PFX-cf
TOKEN=cf-e2e-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
RO_TOKEN=cf-ro-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
WRONG_TOKEN=cf-wrong-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
MARK=edgegw-owner=dc-test
NAME=vm1.dc-test.example.net
CF_PORT=
PROBE_LOG=$E2E_TMP/probe.out

[[ -x $PROBE ]] || die "$PROBE is built"
check "the fake's own self-test passes (tests/fakes/test_cloudflare_fake.py)" \
        timeout 60 python3 "$REPO/tests/fakes/test_cloudflare_fake.py"
ns_add "$NS_CF" || die "namespace $NS_CF created"

printf '%s\n' "$TOKEN" >"$E2E_TMP/token"
printf '  %s  \n# a comment line the provider ignores\n' "$TOKEN" >"$E2E_TMP/token-padded"
printf '%s\n' "$RO_TOKEN" >"$E2E_TMP/ro-token"
printf '%s\n' "$WRONG_TOKEN" >"$E2E_TMP/wrong-token"
chmod 600 "$E2E_TMP"/*token*

# fake_start NS: the fake in namespace NS on 127.0.0.1 (a free port: CF_PORT); `fake` then talks to it.
FAKE_NS=
fake_start() {
        FAKE_NS=$1
        rm -f "$E2E_TMP/cf.port"
        # Not through in_ns: $! must be the fake itself (ip netns exec execs it).
        ip netns exec "$FAKE_NS" python3 "$FAKE" --listen 127.0.0.1:0 --token-file "$E2E_TMP/token" --read-token "$RO_TOKEN" \
                --zone example.net --zone other.org --port-file "$E2E_TMP/cf.port" </dev/null >>"$E2E_TMP/fake.log" 2>&1 &
        BG_PIDS+=($!)
        local i
        for ((i = 0; i < 100; i++)); do
                [[ -s $E2E_TMP/cf.port ]] && CF_PORT=$(<"$E2E_TMP/cf.port") && return 0
                sleep 0.05
        done
        cat "$E2E_TMP/fake.log"
        return 1
}

# fake METHOD PATH [BODY]: one request to the fake's control endpoints.
fake() { in_ns "$FAKE_NS" curl -sS -m 10 -X "$1" ${3:+--data-binary "$3"} "http://127.0.0.1:$CF_PORT$2"; }
fault() { fake POST /_fake/fault "$1" >/dev/null; }

# cf_conf FILE [DNS-LINES [URL-SUFFIX]]: a config with provider cloudflare against the fake
# (DNS-LINES default: the token file); CF_DOMAIN (example.net) is the domain and the zone.
cf_conf() {
        local domain=${CF_DOMAIN:-example.net}
        cat >"$1" <<EOF
[gateway]
datacenter = "dc-test"
domain = "$domain"
public_ip = "$PUBLIC4"
state_dir = "$E2E_STATE"

[dns]
provider = "cloudflare"
zone = "$domain"
api_url = "http://127.0.0.1:$CF_PORT/client/v4${3-}"
${2-api_token_file = \"$E2E_TMP/token\"}
EOF
}

# probe CONF publish|retract NAME TYPE CONTENT [TTL] [REF]
probe() {
        run in_ns "$NS_CF" "$PROBE" "$@"
        printf '%s\n%s\n' "$OUT" "$ERR" >>"$PROBE_LOG"
}
field() { grep -o "\b$1=[^ ]*" <<<"$OUT" | head -n 1 | sed "s/^$1=//"; }
error_text() { sed -n 's/.* error="\(.*\)"$/\1/p' <<<"$OUT"; }
note_text() { sed -n 's/.* note="\(.*\)" error=".*$/\1/p' <<<"$OUT"; }

# recs NAME [TYPE]: the fake's records of NAME, one "content|comment|proxied|ttl" line each, sorted.
recs() {
        fake GET /_fake/records | python3 -c '
import json, sys
d = json.load(sys.stdin)
t = sys.argv[2] if len(sys.argv) > 2 else "A"
print("\n".join(sorted("%s|%s|%s|%s" % (r["content"], r["comment"] or "", str(r["proxied"]).lower(), r["ttl"])
                       for r in d if r["name"] == sys.argv[1] and r["type"] == t)))' "$@"
}
rec_ids() { fake GET /_fake/records | json "[r['id'] for r in d if r['name'] == '$1' and r['type'] == '${2:-A}']"; }
n_records() { fake GET /_fake/records | json 'len(d)'; }
# writes: how many POST/PUT/PATCH/DELETE requests reached the API so far.
writes() { fake GET /_fake/log | json 'len([e for e in d if e["method"] != "GET" and not e["fault"]])'; }
deletes() { fake GET /_fake/log | json 'len([e for e in d if e["method"] == "DELETE" and not e["fault"]])'; }
log_has() { fake GET /_fake/log | python3 -c "import json, sys; d = json.load(sys.stdin); sys.exit(0 if any($1 for e in d) else 1)"; }
seed() { fake POST /_fake/records "$1" >/dev/null; }
one_of() {
        local v=$1 c
        shift
        for c in "$@"; do [[ -n $v && $v == "$c" ]] && return 0; done
        echo "expected one of: $*; got '$v'"
        return 1
}

fake_start "$NS_CF" || die "the Cloudflare fake listens in $NS_CF"
log "fake on 127.0.0.1:$CF_PORT in $NS_CF"
C=$E2E_TMP/cf.conf
cf_conf "$C"

# ---- create, no-op, fix ------------------------------------------------------------------

probe "$C" publish "$NAME" A 203.0.113.1
check "publish creates the record: status ok, a ref" eq "$(field status)/$RC/$(field ref | wc -c)" ok/0/33
REF=$(field ref)
check "the fake has it with our comment, not proxied, ttl 300" eq "$(recs "$NAME")" "203.0.113.1|$MARK|false|300"
check "the ref is the record's id" eq "$(rec_ids "$NAME")" "['$REF']"
check "the zone was looked up by name" log_has 'e["path"] == "/client/v4/zones" and "name=example.net" in e["query"]'
check "the listing asked for type and name" \
        log_has 'e["method"] == "GET" and "type=A" in e["query"] and "name=vm1.dc-test.example.net" in e["query"]'

w=$(writes)
probe "$C" publish "$NAME" A 203.0.113.1 300 "$REF"
check "publish again: ok, same ref, empty note" eq "$(field status)/$(field ref)/$(note_text)" "ok/$REF/"
check "publish again wrote nothing (no POST/PATCH/PUT/DELETE in the fake's log)" eq "$(writes)" "$w"

probe "$C" publish "$NAME" A 203.0.113.7 300 "$REF"
check "a changed address is fixed in place: ok, same ref" eq "$(field status)/$(field ref)" "ok/$REF"
check "the note says fixed" contains "$(note_text)" "fixed"
check "the fake has the new address only, still ours" eq "$(recs "$NAME")" "203.0.113.7|$MARK|false|300"
probe "$C" publish "$NAME" A 203.0.113.7 600 "$REF"
check "a changed ttl is fixed" eq "$(field status)/$(recs "$NAME")" "ok/203.0.113.7|$MARK|false|600"

# AAAA, written another way than the API stores it: equal, so nothing to do the second time.
probe "$C" publish "$NAME" AAAA 2001:db8:ff::1
check "AAAA created" eq "$(field status)/$(recs "$NAME" AAAA)" "ok/2001:db8:ff::1|$MARK|false|300"
w=$(writes)
probe "$C" publish "$NAME" AAAA 2001:db8:ff:0:0::0001
check "the same AAAA spelled differently: ok, nothing written" eq "$(field status)/$(writes)" "ok/$w"

# ---- proxied -----------------------------------------------------------------------------

CP=$E2E_TMP/cf-proxied.conf
cf_conf "$CP" "api_token_file = \"$E2E_TMP/token\"
proxied = true" /
probe "$CP" publish www.dc-test.example.net A 203.0.113.1
check "proxied (api_url with a trailing slash): created proxied, ttl 1 (automatic)" \
        eq "$(field status)/$(recs www.dc-test.example.net)" "ok/203.0.113.1|$MARK|true|1"
w=$(writes)
probe "$CP" publish www.dc-test.example.net A 203.0.113.1
check "proxied publish again: nothing written (ttl not compared on a proxied record)" eq "$(field status)/$(writes)" "ok/$w"
probe "$C" publish www.dc-test.example.net A 203.0.113.1
check "proxied turned off: the record is fixed to proxied false, ttl 300" \
        eq "$(field status)/$(recs www.dc-test.example.net)" "ok/203.0.113.1|$MARK|false|300"

# ---- adopt, conflict ---------------------------------------------------------------------

seed '{"zone": "example.net", "type": "A", "name": "adopt.dc-test.example.net", "content": "203.0.113.1", "ttl": 300}'
ADOPT_ID=$(rec_ids adopt.dc-test.example.net | tr -d "[]'")
probe "$C" publish adopt.dc-test.example.net A 203.0.113.1
check "an unowned equal record is adopted: ok, its id as ref" eq "$(field status)/$(field ref)" "ok/$ADOPT_ID"
check "the note says adopted" contains "$(note_text)" "adopted"
check "it now carries our comment, and it is the only one" eq "$(recs adopt.dc-test.example.net)" "203.0.113.1|$MARK|false|300"
check "adopting was a PATCH of that record" log_has "e['method'] == 'PATCH' and e['path'].endswith('/$ADOPT_ID') and e['body'].get('comment') == '$MARK'"

seed '{"zone": "example.net", "type": "A", "name": "taken.dc-test.example.net", "content": "198.51.100.9", "ttl": 120, "comment": "hand-made"}'
TAKEN_ID=$(rec_ids taken.dc-test.example.net | tr -d "[]'")
w=$(writes)
probe "$C" publish taken.dc-test.example.net A 203.0.113.1
check "an unowned different record: conflict (exit 1), this row only" eq "$(field status)/$RC/$(field row_only)" conflict/1/1
check "the conflict names the record id and its content" contains "$(error_text)" "$TAKEN_ID (198.51.100.9)"
check "the foreign record is untouched and nothing was written" \
        eq "$(recs taken.dc-test.example.net)/$(writes)" "198.51.100.9|hand-made|false|120/$w"

# ---- retract -----------------------------------------------------------------------------

probe "$C" retract taken.dc-test.example.net A 203.0.113.1
check "retract where only a foreign record is: ok, noted, left alone" \
        eq "$(field status)/$(recs taken.dc-test.example.net)" "ok/198.51.100.9|hand-made|false|120"
check "the note names the foreign record" contains "$(note_text)" "not ours, left alone: $TAKEN_ID"
# A foreign record beside ours at one name (round robin made by hand): retract takes ours only.
seed '{"zone": "example.net", "type": "A", "name": "vm1.dc-test.example.net", "content": "198.51.100.20", "ttl": 300}'
probe "$C" publish "$NAME" A 203.0.113.7 600 "$REF"
check "a foreign different record beside ours: conflict, ours not touched" \
        eq "$(field status)/$(recs "$NAME" | tr '\n' ' ')" "conflict/198.51.100.20||false|300 203.0.113.7|$MARK|false|600 "
probe "$C" retract "$NAME" A 203.0.113.7 600 "$REF"
check "retract removes ours and leaves the foreign one" eq "$(field status)/$(recs "$NAME")" "ok/198.51.100.20||false|300"
check "retract's note says so" contains "$(note_text)" "deleted 1 record; not ours, left alone"
probe "$C" retract "$NAME" AAAA 2001:db8:ff::1
check "retract AAAA: gone" eq "$(field status)/$(recs "$NAME" AAAA)" "ok/"
probe "$C" retract "$NAME" AAAA 2001:db8:ff::1
check "retract again: ok, nothing to do" eq "$(field status)/$(note_text)" "ok/no record of ours"

# ---- pagination ----------------------------------------------------------------------------

# 150 A records of ours at one name (duplicates, as after two runs raced), the one with the
# wanted address on page 2, and 20 foreign TXT records at that name plus 20 A records at
# other names: the listing has two pages of 100 for (name, A), and everything else stays.
in_ns "$NS_CF" python3 - "$CF_PORT" "$MARK" <<'PY' || die "seeded the zone with 190 records"
import http.client, json, sys
port, mark = int(sys.argv[1]), sys.argv[2]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
def seed(rec):
    rec["zone"] = "example.net"
    c.request("POST", "/_fake/records", body=json.dumps(rec))
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
for i in range(150):
    seed({"type": "A", "name": "many.dc-test.example.net", "content": "10.1.%d.%d" % (i // 200, i % 200 + 1),
          "ttl": 300, "comment": mark})
for i in range(20):
    seed({"type": "TXT", "name": "many.dc-test.example.net", "content": "note %d" % i, "ttl": 300})
for i in range(20):
    seed({"type": "A", "name": "other%d.dc-test.example.net" % i, "content": "10.2.0.%d" % (i + 1), "ttl": 300})
PY
before=$(n_records)
w=$(writes)
d=$(deletes)
KEEP_ID=$(fake GET /_fake/records | json '[r["id"] for r in d if r["name"] == "many.dc-test.example.net" and r["content"] == "10.1.0.131"][0]')
probe "$C" publish many.dc-test.example.net A 10.1.0.131
check "publish over 150 of our records: ok, the equal one (on page 2) is kept" eq "$(field status)/$(field ref)" "ok/$KEEP_ID"
check "the listing read page 2" log_has '"name=many.dc-test.example.net" in e["query"] and "page=2" in e["query"]'
check "the 149 duplicates of ours are deleted" eq "$(recs many.dc-test.example.net)" "10.1.0.131|$MARK|false|300"
check "the note counts them" contains "$(note_text)" "removed 149 duplicates of ours"
check "the TXT records at that name and the other names are untouched" eq "$(n_records)" $((before - 149))
check "149 writes, all of them deletes (nothing created or patched)" \
        eq "$(($(writes) - w))/$(($(deletes) - d))" 149/149
in_ns "$NS_CF" python3 - "$CF_PORT" "$MARK" <<'PY' || die "seeded 130 more records of ours"
import http.client, json, sys
port, mark = int(sys.argv[1]), sys.argv[2]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
for i in range(130):
    c.request("POST", "/_fake/records", body=json.dumps({"zone": "example.net", "type": "A",
              "name": "many2.dc-test.example.net", "content": "10.3.0.%d" % (i + 1), "ttl": 300, "comment": mark}))
    r = c.getresponse(); r.read()
    assert r.status == 200
PY
probe "$C" retract many2.dc-test.example.net A 10.3.0.1
check "retract over two pages: all 130 of ours are gone" eq "$(field status)/$(recs many2.dc-test.example.net)" "ok/"
check "retract's note counts 130" contains "$(note_text)" "deleted 130 records"

# ---- the token -----------------------------------------------------------------------------

cf_conf "$E2E_TMP/padded.conf" "api_token_file = \"$E2E_TMP/token-padded\""
probe "$E2E_TMP/padded.conf" publish pad.dc-test.example.net A 203.0.113.1
check "a token file with spaces around the token and a second line works" eq "$(field status)" ok
cf_conf "$E2E_TMP/env.conf" ""
run in_ns "$NS_CF" env EDGEGW_DNS_API_TOKEN="$TOKEN" "$PROBE" "$E2E_TMP/env.conf" publish env.dc-test.example.net A 203.0.113.1
printf '%s\n%s\n' "$OUT" "$ERR" >>"$PROBE_LOG"
check "the token from EDGEGW_DNS_API_TOKEN (no api_token_file) works" eq "$(field status)/$(recs env.dc-test.example.net)" "ok/203.0.113.1|$MARK|false|300"
cf_conf "$E2E_TMP/wrong.conf" "api_token_file = \"$E2E_TMP/wrong-token\""
probe "$E2E_TMP/wrong.conf" publish wrong.dc-test.example.net A 203.0.113.1
check "a wrong token: failed (exit 1)" eq "$(field status)/$RC" failed/1
check "the error is Cloudflare's: token rejected: 9109 Invalid access token" contains "$(error_text)" "token rejected: 9109 Invalid access token"
cf_conf "$E2E_TMP/ro.conf" "api_token_file = \"$E2E_TMP/ro-token\""
probe "$E2E_TMP/ro.conf" publish ro.dc-test.example.net A 203.0.113.1
check "a read-only token: the lookups pass, the create is refused: failed" eq "$(field status)/$(recs ro.dc-test.example.net)" failed/
check "the error names the create and Cloudflare's code" contains "$(error_text)" "create record: token rejected: 10000 Authentication error"
CF_DOMAIN=example.com cf_conf "$E2E_TMP/nozone.conf"
probe "$E2E_TMP/nozone.conf" publish vm1.dc-test.example.com A 203.0.113.1
check "a zone the account does not have: failed, says zone not found" \
        eq "$(field status)/$(error_text | grep -c 'zone example.com not found')" failed/1
probe "$C" publish bad.dc-test.example.net A 203.0.113.1 30
check "a ttl Cloudflare refuses: failed (this row only) with the error_chain surfaced" eq "$(field status)/$(field row_only)" failed/1
check "the message has code 1004 and the chain's 9021" contains "$(error_text)" "1004 DNS Validation Error (9021 Invalid TTL"

# ---- faults ------------------------------------------------------------------------------------

fault '{"mode": "401"}'
probe "$C" publish f.dc-test.example.net A 203.0.113.1
check "401: failed (every row), token rejected with Cloudflare's code and message" \
        eq "$(field status)/$(field row_only)/$(error_text | grep -c 'token rejected: 10000 Authentication error')" failed/0/1
fault '{"mode": "403", "path": "dns_records"}'
probe "$C" publish f.dc-test.example.net A 203.0.113.1
check "403 on the listing: failed, token rejected: 9109" \
        eq "$(field status)/$(error_text | grep -c 'list records: token rejected: 9109 Invalid access token')" failed/1
fault '{"mode": "429", "retry_after": 7}'
probe "$C" publish f.dc-test.example.net A 203.0.113.1
check "429: retry, retry_after 7 from Retry-After" eq "$(field status)/$(field retry_after)/$RC" retry/7/1
check "429: the message has code 971" contains "$(error_text)" "971"
for m in 500 502 503; do
        fault "{\"mode\": \"$m\", \"path\": \"dns_records\"}"
        probe "$C" publish f.dc-test.example.net A 203.0.113.1
        check "$m: retry (every row)" eq "$(field status)/$(field row_only)/$(error_text | grep -c "HTTP $m")" retry/0/1
done
fault '{"mode": "503", "method": "POST"}'
probe "$C" publish f.dc-test.example.net A 203.0.113.1
check "503 on the create: retry, nothing created" eq "$(field status)/$(recs f.dc-test.example.net)" retry/
probe "$C" publish f.dc-test.example.net A 203.0.113.1
check "after the fault clears the record is created" eq "$(field status)/$(recs f.dc-test.example.net)" "ok/203.0.113.1|$MARK|false|300"
for m in garbage truncated; do
        fault "{\"mode\": \"$m\", \"path\": \"dns_records\"}"
        probe "$C" publish f.dc-test.example.net A 203.0.113.1
        check "$m answer: retry" eq "$(field status)" retry
done
# On a fresh connection (the zone lookup): on a reused one curl itself reconnects once.
fault '{"mode": "reset"}'
probe "$C" publish f.dc-test.example.net A 203.0.113.1
check "connection reset: retry" eq "$(field status)" retry
fault '{"mode": "timeout", "delay": 20}'
probe "$C" publish f.dc-test.example.net A 203.0.113.1
check "timeout: retry" eq "$(field status)" retry
check "timeout: gave up within the 10 s bound (plus slack)" between "$(field elapsed_ms)" 9500 11500
check "timeout: the error says so" contains "$(error_text)" "no answer within 10 s"
check "no fault is left pending" eq "$(fake GET /_fake/fault)" "[]"
probe "$C" publish f.dc-test.example.net A 203.0.113.1
check "after the faults: publish is ok and a no-op" eq "$(field status)/$(note_text)" ok/

# ---- the secret ------------------------------------------------------------------------------

check "the probe's output never contains a token" not grep -qF -e "$TOKEN" -e "$RO_TOKEN" -e "$WRONG_TOKEN" "$PROBE_LOG"

# ---- through edgegwd: the DNS reconciler drives the provider ---------------------------------

step "topology up" topo_up
step "a fresh fake in gw" fake_start "$NS_GW"
log "fake on 127.0.0.1:$CF_PORT in $NS_GW"
CFG_EXTRA="[dns]
provider = \"cloudflare\"
zone = \"example.net\"
ttl = 120
api_url = \"http://127.0.0.1:$CF_PORT/client/v4\"
api_token_file = \"$E2E_TMP/token\""
step "edgegwd starts with [dns] provider = cloudflare" daemon_start

# wait_recs NAME TYPE WANT [SECONDS]: until the fake has exactly WANT (recs' format) for NAME.
wait_recs() {
        local i got
        for ((i = 0; i < ${4:-15} * 5; i++)); do
                got=$(recs "$1" "$2")
                [[ $got == "$3" ]] && return 0
                sleep 0.2
        done
        echo "$1 $2: expected '$3', the fake has '$got'"
        return 1
}
# outbox NAME TYPE: "state|last_error|provider_ref" of the outbox row ("none||" when there is none).
outbox() {
        python3 -c 'import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
r = db.execute("SELECT state, last_error, provider_ref FROM dns_records WHERE name = ? AND type = ?", (sys.argv[2], int(sys.argv[3]))).fetchone()
print("%s|%s|%s" % r if r else "none||")' "$E2E_STATE/edgegw.db" "$1" "$2"
}
# wait_outbox NAME TYPE PATTERN [SECONDS]: until the row's "state|last_error|ref" matches PATTERN (a glob).
wait_outbox() {
        local i got
        for ((i = 0; i < ${4:-15} * 5; i++)); do
                got=$(outbox "$1" "$2")
                # shellcheck disable=SC2053
                [[ $got == $3 ]] && return 0
                sleep 0.2
        done
        echo "$1 type $2: expected '$3', the outbox has '$got'"
        return 1
}

add_vm D1 vm1 --ip 10.0.1.5
check "vm add: vm1's A record appears in the fake, ours, ttl 120" wait_recs "$D1" A "$PUBLIC4|$MARK|false|120"
check "and its AAAA record" wait_recs "$D1" AAAA "$PUBLIC6|$MARK|false|120"
check "the outbox row is synced with the record's id as provider_ref" \
        wait_outbox "$D1" 1 "synced||$(rec_ids "$D1" | tr -d "[]'")"

seed '{"zone": "example.net", "type": "A", "name": "taken.dc-test.example.net", "content": "192.0.2.99", "ttl": 300, "comment": "hand-made"}'
seed "{\"zone\": \"example.net\", \"type\": \"A\", \"name\": \"same.dc-test.example.net\", \"content\": \"$PUBLIC4\", \"ttl\": 300}"
run cli vm add vm2 --ip 10.0.1.6 --hostname taken.dc-test.example.net --hostname same.dc-test.example.net
check "vm add with names held by foreign records exits 0" rc_is 0
D2=$(cli --json vm show vm2 | json 'd["subdomain"]')
check "vm2's own name is published" wait_recs "$D2" A "$PUBLIC4|$MARK|false|120"
check "same.dc-test (an equal foreign record) is adopted: our comment, our ttl" \
        wait_recs same.dc-test.example.net A "$PUBLIC4|$MARK|false|120"
check "taken.dc-test (a different foreign record) is left alone" \
        eq "$(recs taken.dc-test.example.net)" "192.0.2.99|hand-made|false|300"
check "its outbox row is in error: conflict, naming the record" wait_outbox taken.dc-test.example.net 1 "error|conflict: *192.0.2.99*"
check "the daemon logged the adoption" grep -q "same.dc-test.example.net A: adopted record" "$DAEMON_LOG"

# An outage: Cloudflare answers 503 to everything. The VM add answers at once; the record
# follows when the API is back.
fault '{"mode": "503", "count": -1}'
t0=$(date +%s%N)
add_vm D3 vm3 --ip 10.0.1.7
check "with the API answering 503, vm add still answers at once (< 2 s)" between $((($(date +%s%N) - t0) / 1000000)) 0 2000
check "the outbox row waits in error, saying HTTP 503" wait_outbox "$D3" 1 "error|retry: *HTTP 503*"
check "nothing reached the zone meanwhile" eq "$(recs "$D3")" ""
fake DELETE /_fake/fault >/dev/null
check "once the fault clears, vm3's record arrives (within 45 s: the backoff)" wait_recs "$D3" A "$PUBLIC4|$MARK|false|120" 45
check "and its row is synced" wait_outbox "$D3" 1 "synced||*"

run cli vm rm vm1
check "vm rm vm1 exits 0" rc_is 0
check "vm1's A record is gone from the fake" wait_recs "$D1" A ""
check "and its AAAA record" wait_recs "$D1" AAAA ""
run cli vm rm vm2
check "vm rm vm2 exits 0" rc_is 0
check "vm2's record is gone" wait_recs "$D2" A ""
check "the adopted record (ours now) is gone with it" wait_recs same.dc-test.example.net A ""
check "the foreign record is never deleted" eq "$(recs taken.dc-test.example.net)" "192.0.2.99|hand-made|false|300"
check "the conflicting row leaves the outbox" wait_outbox taken.dc-test.example.net 1 "none||"
check "vm3's record stays" eq "$(recs "$D3")" "$PUBLIC4|$MARK|false|120"
check "the token never appears in the daemon log" not grep -qF "$TOKEN" "$DAEMON_LOG"

finish
