#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC1091,SC2034,SC2154  # lib.sh is sourced; CFG_* are read by lib.sh
#
# A remote caller drives edgegw over HTTP: a home lab's Traefik gets a route by name, a VM
# gets a custom domain and labels, a forward sends a public port to a service; a token made
# with `edgegw token add` works over the TCP listener until it is revoked; updates carry
# ETags and a retried PUT changes nothing; lists page and filter by label; every change is
# in the audit log with its actor; a VM with an expiry disappears on its own; /metrics and
# `edgegw status` tell what the gateway does; rate limits answer 429 with Retry-After; the
# listener speaks TLS when given a certificate; the seed proxy agent's API works unchanged.
source "$(dirname "$0")/lib.sh"
API_TCP=http://127.0.0.1:8081
printf 'agent-%s-secret\n' "$$" >"$E2E_TMP/agent.token" 2>/dev/null || {
        mkdir -p "$E2E_TMP"
        printf 'agent-%s-secret\n' "$$" >"$E2E_TMP/agent.token"
}
AGENT_TOKEN=$(head -n1 "$E2E_TMP/agent.token")
api_config() {
        CFG_EXTRA="[api]
listen = \"127.0.0.1:8081\"
metrics_listen = \"127.0.0.1:9181\"
agent_token_file = \"$E2E_TMP/agent.token\"
rate_limit = ${1:-0}
rate_limit_source = ${4:-0}
rate_burst = ${2:-200}
timeout = 3
${3-}"
}
api_config 0
step "topology up" topo_up
step "listeners in vm1" vm_listeners "$NS_VM1" vm1
step "listeners in vm2" vm_listeners "$NS_VM2" vm2
# TLS servers: vm1:443 for shop.example.org (a VM's custom domain), vm2:443 for the lab's
# names (a route), vm2:8443 for the agent's route.
mkdir -p "$E2E_TMP/www"
echo "vm1 shop" >"$E2E_TMP/www/index.html"
make_cert shop.example.org "$E2E_TMP/shop" >/dev/null
https_server "$NS_VM1" 443 "$E2E_TMP/shop" "$E2E_TMP/www"
mkdir -p "$E2E_TMP/www2"
echo "lab traefik" >"$E2E_TMP/www2/index.html"
make_cert lab.home.example.org "$E2E_TMP/lab" >/dev/null
https_server "$NS_VM2" 443 "$E2E_TMP/lab" "$E2E_TMP/www2"
make_cert agent.example.org "$E2E_TMP/agent" >/dev/null
https_server "$NS_VM2" 8443 "$E2E_TMP/agent" "$E2E_TMP/www2"
(cd "$E2E_TMP/www2" && exec ip netns exec "$NS_VM2" python3 -m http.server 80 </dev/null >/dev/null 2>&1) &
BG_PIDS+=($!)
step "TLS servers (vm1:443, vm2:443, vm2:8443) and vm2's HTTP :80 listening" wait_listening "$NS_VM2" tcp 443 8443 80
step "edgegwd starts with the TCP and metrics listeners" daemon_start

# ---- tokens -------------------------------------------------------------------------------
run cli --json token add ci --scope vms,routes,forwards,read
check "token add ci --scope vms,routes,forwards,read exits 0" rc_is 0
TOKEN=$(json 'd["token"]' <<<"$OUT")
check "...and shows the secret once (egw_<16 hex>_<43 base64url>)" grep -Eq '^egw_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$' <<<"$TOKEN"
run cli --json token add boss --scope admin
ADMIN=$(json 'd["token"]' <<<"$OUT")
run cli token ls
check "token ls lists ci with its scopes" contains "$OUT" "ci"
check "token ls never shows a secret" not grep -q "${TOKEN:4:16}" <<<"$OUT"
check "the store holds only a hash of the token" not grep -qa "${TOKEN#egw_*_}" "$E2E_STATE/edgegw.db"

api_tcp "" GET /v1/vms
check "TCP listener without a token: 401" status_is 401
check "...with WWW-Authenticate: Bearer" contains "$(header WWW-Authenticate)" Bearer
api_tcp "$TOKEN" GET /v1/vms
check "TCP listener with the ci token: 200" status_is 200

# ---- a VM with a custom domain and labels, over TCP -----------------------------------
api_tcp "$TOKEN" POST /v1/vms '{"id":"shop","ip":"10.0.1.5","hostnames":["shop.example.org"],"labels":{"env":"prod","team":"web"}}'
check "POST /v1/vms over TCP: 201" status_is 201
check "...with ETag \"1\"" eq "$(header ETag)" '"1"'
check "...the VM object has hostnames, labels, version, ssh_port, port range" \
        eq "$(json '(d["hostnames"], d["labels"], d["version"], d["ssh_port"] == d["port_range_start"], d["port_range_end"] - d["port_range_start"])' <<<"$OUT")" \
        "(['shop.example.org'], {'env': 'prod', 'team': 'web'}, 1, True, 9)"
shop_ssh=$(json 'd["ssh_port"]' <<<"$OUT")
check "the custom domain shop.example.org reaches vm1's TLS server through :443" \
        eq "$(https_get shop.example.org "$E2E_TMP/shop.crt")" "vm1 shop"
check "the VM's ssh port $shop_ssh reaches vm1:22" reaches tcp "$PUBLIC4" "$shop_ssh" vm1:22

# ---- ETag, If-Match, idempotent PUT ---------------------------------------------------------
body='{"id":"shop","ip":"10.0.1.5","hostnames":["shop.example.org","www.shop.example.org"],"labels":{"env":"prod","team":"web"}}'
audit0=$(audit_count)
api PUT /v1/vms/shop "$body" -H 'If-Match: "1"'
check "PUT /v1/vms/shop with If-Match \"1\": 200" status_is 200
check "...version 2 and the new name" eq "$(json '(d["version"], d["hostnames"])' <<<"$OUT")" \
        "(2, ['shop.example.org', 'www.shop.example.org'])"
check "...ssh port unchanged" eq "$(json 'd["ssh_port"]' <<<"$OUT")" "$shop_ssh"
api PUT /v1/vms/shop "$body"
check "the same PUT again (a retry): 200" status_is 200
check "...version stays 2" eq "$(json 'd["version"]' <<<"$OUT")" 2
check "...and writes exactly one audit entry for the two PUTs" eq "$(audit_count)" $((audit0 + 1))
api PUT /v1/vms/shop "$body" -H 'If-Match: "1"'
check "PUT with the stale If-Match \"1\": 412" status_is 412
api PUT /v1/vms/web2 '{"ip":"10.0.1.6","labels":{"env":"dev"}}'
check "PUT /v1/vms/web2 (new id) creates it: 201" status_is 201
web2_ssh=$(json 'd["ssh_port"]' <<<"$OUT")
check "web2's ssh port $web2_ssh reaches vm2:22" reaches tcp "$PUBLIC4" "$web2_ssh" vm2:22

# ---- paging and labels ------------------------------------------------------------------
for i in 1 2 3; do api POST /v1/vms "{\"id\":\"p$i\",\"ip\":\"10.0.1.$((20 + i))\",\"labels\":{\"env\":\"dev\"}}"; done
check "three more VMs added" status_is 201
api GET "/v1/vms?limit=2"
check "GET /v1/vms?limit=2: two VMs and a next cursor" eq "$(json '(len(d["vms"]), d["next"])' <<<"$OUT")" "(2, 'p2')"
api GET "/v1/vms?limit=2&after=p2"
check "...the next page" eq "$(json '([v["id"] for v in d["vms"]], d["next"])' <<<"$OUT")" "(['p3', 'shop'], 'shop')"
api GET "/v1/vms?limit=2&after=shop"
check "...the last page has no next" eq "$(json '([v["id"] for v in d["vms"]], d["next"])' <<<"$OUT")" "(['web2'], None)"
api GET "/v1/vms?label=env=dev"
check "label=env=dev selects p1-p3 and web2" eq "$(json '[v["id"] for v in d["vms"]]' <<<"$OUT")" "['p1', 'p2', 'p3', 'web2']"
api GET "/v1/vms?label=team"
check "label=team (key only) selects shop" eq "$(json '[v["id"] for v in d["vms"]]' <<<"$OUT")" "['shop']"
run cli --json vm ls --label env=dev
check "vm ls --label env=dev lists the same four" eq "$(json '[v["id"] for v in d["vms"]]' <<<"$OUT")" "['p1', 'p2', 'p3', 'web2']"

# ---- routes: a home lab's Traefik by name ---------------------------------------------
run cli --json route add lab --hostname '*.home.example.org' --target 10.0.1.6:443
check "route add lab --hostname *.home.example.org --target 10.0.1.6:443 exits 0" rc_is 0
check "lab.home.example.org reaches the lab's TLS server (vm2:443)" \
        eq "$(https_get lab.home.example.org "$E2E_TMP/lab.crt")" "lab traefik"
http_get() {
        ip netns exec "$NS_CLIENT" curl -sS -m 5 -H "Host: $1" "http://$PUBLIC4/index.html"
}
check "plain HTTP for lab.home.example.org is redirected (no passthrough yet)" \
        eq "$(ip netns exec "$NS_CLIENT" curl -s -o /dev/null -w '%{http_code}' -m 5 -H 'Host: lab.home.example.org' "http://$PUBLIC4/")" 301
run cli route set lab --hostname '*.home.example.org' --target 10.0.1.6:443 --http-passthrough
check "route set lab --http-passthrough exits 0" rc_is 0
check "...plain HTTP for lab.home.example.org now reaches vm2:80" eq "$(http_get lab.home.example.org)" "lab traefik"
run cli route set lab --hostname '*.home.example.org' --target 10.0.1.6:443 --allow 198.51.100.0/24
check "route set lab --allow 198.51.100.0/24 exits 0" rc_is 0
check "...the client (203.0.113.9) is refused now" not https_get lab.home.example.org "$E2E_TMP/lab.crt"
run cli route set lab --hostname '*.home.example.org' --target 10.0.1.6:443
check "route set lab without --allow exits 0 (back to every source)" rc_is 0
check "...and the client gets through again" eq "$(https_get lab.home.example.org "$E2E_TMP/lab.crt")" "lab traefik"
api POST /v1/routes '{"id":"lab2","hostname":"*.home.example.org","target_ip":"10.0.1.7"}'
check "a second route for the same name: 409 hostname_in_use" status_is 409
check "...naming the owner" contains "$OUT" "lab"
run cli route rm lab
check "route rm lab exits 0" rc_is 0
check "after rm the name no longer routes" not https_get lab.home.example.org "$E2E_TMP/lab.crt"

# ---- names that move: each change replaces only its owner's names in the proxy ------------
# sni_answer NAME: "alert" if the proxy refuses NAME (unrecognized_name), "backend" if a TLS
# server answered through it.
sni_answer() {
        local out
        out=$(hello_probe "$PUBLIC4" 443 --sni "$1" --wait 2)
        case $(kv reply_hex <<<"$out") in
        15030100020270) echo alert ;;
        1603*) echo backend ;;
        *) echo "other: $out" ;;
        esac
}
web2_name=$(vm_field web2 subdomain)
api PUT /v1/vms/web2 '{"ip":"10.0.1.6","labels":{"env":"dev"},"hostnames":["a.web2.example.org","b.web2.example.org"]}'
check "PUT /v1/vms/web2 with two extra names: 200" status_is 200
check "...both route, next to the VM's own name $web2_name" \
        eq "$(sni_answer a.web2.example.org) $(sni_answer b.web2.example.org) $(sni_answer "$web2_name")" \
        "backend backend backend"
api PUT /v1/vms/web2 '{"ip":"10.0.1.6","labels":{"env":"dev"},"hostnames":["b.web2.example.org"]}'
check "PUT /v1/vms/web2 dropping a.web2.example.org: 200" status_is 200
check "...a.web2.example.org no longer routes; b.web2.example.org and $web2_name still do" \
        eq "$(sni_answer a.web2.example.org) $(sni_answer b.web2.example.org) $(sni_answer "$web2_name")" \
        "alert backend backend"
api POST /v1/routes '{"id":"lab2","hostname":"a.lab.example.org","target_ip":"10.0.1.6"}'
check "POST /v1/routes lab2 for a.lab.example.org: 201" status_is 201
check "...a.lab.example.org routes" eq "$(sni_answer a.lab.example.org)" backend
api PUT /v1/routes/lab2 '{"id":"lab2","hostname":"a.web2.example.org","target_ip":"10.0.1.6"}'
check "PUT /v1/routes/lab2 renaming it to a.web2.example.org (the name web2 gave up): 200" status_is 200
check "...a.lab.example.org no longer routes, a.web2.example.org does again" \
        eq "$(sni_answer a.lab.example.org) $(sni_answer a.web2.example.org)" "alert backend"
run cli route rm lab2
check "route rm lab2 exits 0" rc_is 0
check "...a.web2.example.org no longer routes; b.web2.example.org and shop.example.org still do" \
        eq "$(sni_answer a.web2.example.org) $(sni_answer b.web2.example.org) $(https_get shop.example.org "$E2E_TMP/shop.crt")" \
        "alert backend vm1 shop"
run cli check
check "edgegw check is clean after the names moved" rc_is 0

# ---- forwards ----------------------------------------------------------------------------
run cli --json forward add lab-ssh --port 61022 --target 10.0.1.6:22
check "forward add lab-ssh --port 61022 --target 10.0.1.6:22 exits 0" rc_is 0
check "public :61022 reaches vm2:22" reaches tcp "$PUBLIC4" 61022 vm2:22
run cli --json forward add lab-dns --port 61053 --proto udp --target 10.0.1.6:10005
check "forward add lab-dns --proto udp exits 0" rc_is 0
check "public UDP :61053 reaches vm2:10005" reaches udp "$PUBLIC4" 61053 vm2:10005
run cli forward add other --port 61022 --target 10.0.1.5:22
check "a forward on a taken port exits 5 (conflict)" rc_is 5
check "...naming the owner lab-ssh" contains "$OUT$ERR" lab-ssh
run cli forward add inside --port "$shop_ssh" --target 10.0.1.5:22
check "a forward inside a VM's block exits 5 (conflict)" rc_is 5
check "...naming VM shop" contains "$OUT$ERR" shop
run cli check
check "edgegw check is clean with forwards and routes" rc_is 0

# ---- the seed proxy agent's API (drop-in) ----------------------------------------------
agent() {
        _api_curl -X "$1" -H "X-Agent-Token: $AGENT_TOKEN" ${3:+--data-binary "$3"} "$API_TCP$2"
}
agent POST /http/routes '{"route_id":"vm-123","hostname":"agent.example.org","target_url":"https://10.0.1.6:8443","entrypoint":"websecure","certresolver":"dnsresolver"}'
check "agent POST /http/routes (https:// target, X-Agent-Token): 200" status_is 200
check "agent.example.org reaches vm2:8443 through :443" eq "$(https_get agent.example.org "$E2E_TMP/agent.crt")" "lab traefik"
agent GET /http/routes
check "agent GET /http/routes lists it with the seed's fields" \
        eq "$(json '[(r["route_id"], r["hostname"], r["target_url"], r["entrypoint"], r["certresolver"]) for r in d["routes"]]' <<<"$OUT")" \
        "[('vm-123', 'agent.example.org', 'https://10.0.1.6:8443', 'websecure', 'dnsresolver')]"
agent POST /http/routes '{"route_id":"vm-124","hostname":"plain.example.org","target_url":"http://10.0.1.6:8080"}'
check "agent route with http:// target: 422 tls_termination_unsupported" \
        eq "$STATUS $(json 'd["error"]["code"]' <<<"$OUT")" "422 tls_termination_unsupported"
agent POST /tcp/forwards '{"forward_id":"vm-123-ssh","public_port":62015,"target_ip":"10.0.1.5","target_port":22,"proto":"tcp"}'
check "agent POST /tcp/forwards: 200" status_is 200
check "public :62015 reaches vm1:22" reaches tcp "$PUBLIC4" 62015 vm1:22
agent GET /tcp/forwards
check "agent GET /tcp/forwards lists it" eq "$(json '[f["forward_id"] for f in d["forwards"]]' <<<"$OUT")" "['vm-123-ssh']"
agent DELETE /tcp/forwards/vm-123-ssh
check "agent DELETE /tcp/forwards/vm-123-ssh: 200" status_is 200
check "public :62015 no longer forwards" not tcp_get "$PUBLIC4" 62015
agent DELETE /http/routes/vm-123
check "agent DELETE /http/routes/vm-123: 200" status_is 200
check "agent.example.org no longer routes" not https_get agent.example.org "$E2E_TMP/agent.crt"
api_tcp "$TOKEN" GET /health
check "GET /health over TCP: 200" status_is 200

# ---- audit -------------------------------------------------------------------------------
run cli --json audit --kind vm --id shop
check "audit --kind vm --id shop exits 0" rc_is 0
check "...shows the create by token:ci then the update by the local CLI" \
        eq "$(json '[(e["action"], e["actor"].split(":")[0] + ":" + (e["actor"].split(":")[1] if e["actor"].startswith("token") else "")) for e in d["entries"]]' <<<"$OUT")" \
        "[('update', 'unix:'), ('create', 'token:ci')]"
check "...the update has before and after" \
        eq "$(json '(d["entries"][0]["before"]["version"], d["entries"][0]["after"]["version"])' <<<"$OUT")" "(1, 2)"
api_tcp "$TOKEN" GET /v1/audit
check "the ci token (no admin) may not read the audit: 403" status_is 403
api_tcp "$ADMIN" GET "/v1/audit?kind=forward&limit=50"
check "the admin token reads the forwards' audit" eq "$(json 'sorted(set(e["id"] for e in d["entries"]))' <<<"$OUT")" \
        "['lab-dns', 'lab-ssh', 'vm-123-ssh']"
check "...the agent's forward is attributed to agent-token" contains "$OUT" '"actor":"agent-token"'

# ---- expiry ------------------------------------------------------------------------------
soon=$(date -u -d '+3 seconds' +%Y-%m-%dT%H:%M:%SZ)
api POST /v1/vms "{\"id\":\"temp\",\"ip\":\"10.0.1.30\",\"expires_at\":\"$soon\"}"
check "a VM with expires_at in 3 s: 201" status_is 201
temp_ssh=$(json 'd["ssh_port"]' <<<"$OUT")
check "...its expires_at is shown" eq "$(json 'd["expires_at"]' <<<"$OUT")" "$soon"
gone=0
for ((i = 0; i < 80; i++)); do
        api GET /v1/vms/temp
        [[ $STATUS == 404 ]] && gone=1 && break
        sleep 0.1
done
check "the VM is gone within 8 s of its expiry" eq "$gone" 1
api GET "/v1/audit?kind=vm&id=temp"
check "...and the audit says the expiry removed it" eq "$(json '(d["entries"][0]["action"], d["entries"][0]["actor"])' <<<"$OUT")" "('delete', 'expiry')"
run cli check
check "edgegw check is clean after the expiry" rc_is 0
if userspace; then
        check "the expired VM's port $temp_ssh is no longer listened on (userspace)" not forward_listening tcp "$temp_ssh"
else
        table=$(gw_nft list table inet edgegw)
        check "the expired VM's port $temp_ssh is no longer in the rules" not grep -q "\b$temp_ssh :" <<<"$table"
fi
part=nft
userspace && part=forwards

# ---- metrics and status -----------------------------------------------------------------
tcp_get "$PUBLIC4" "$shop_ssh" >/dev/null
metrics=$(ip netns exec "$NS_GW" curl -sS -m 5 http://127.0.0.1:9181/metrics)
[[ ${E2E_VERBOSE:-0} == 1 ]] && grep vm_bytes <<<"$metrics"
check "/metrics (metrics_listen, no token) counts 5 VMs" grep -qx 'edgegw_vms 5' <<<"$metrics"
check "...and 2 forwards" grep -qx 'edgegw_forwards 2' <<<"$metrics"
check "...has the port blocks used" grep -q '^edgegw_port_blocks_used 5' <<<"$metrics"
check "...per-VM bytes (nft counters, or the relay's in userspace mode; shop out > 0)" \
        awk '/^edgegw_vm_bytes_total\{/ && /vm="shop"/ && /direction="out"/ { found = ($NF > 0) } END { exit !found }' <<<"$metrics"
check "...reconcile runs per part ($part, routes)" eq "$(grep -cE "^edgegw_reconcile_runs_total\{part=\"($part|routes)\"\}" <<<"$metrics")" 2
check "...API requests by status" grep -q '^edgegw_api_requests_total{code="201"}' <<<"$metrics"
check "...proxy connections per route" grep -q '^edgegw_proxy_connections_total{route="shop.example.org"} [1-9]' <<<"$metrics"
api_tcp "" GET /metrics
check "/metrics on the API listener needs a token: 401" status_is 401
api_tcp "$TOKEN" GET /metrics
check "...and answers with one (read scope): 200" status_is 200
run cli status
check "edgegw status exits 0" rc_is 0
check "...shows the $part and routes reconcilers" eq "$(grep -c -E "^($part|routes)\b" <<<"$OUT")" 2

# ---- slow clients ----------------------------------------------------------------------
slow=$(ip netns exec "$NS_GW" timeout 15 python3 -c '
import socket, time
s = socket.create_connection(("127.0.0.1", 8081))
s.sendall(b"GET /v1/vms HTTP/1.1\r\nHost: x\r\n")
t0 = time.monotonic()
s.settimeout(12)
try:
    while s.recv(100): pass
except OSError: pass
print(round(time.monotonic() - t0))')
check "a client that never finishes its headers is cut after the 3 s timeout" between "$slow" 2 6

# ---- rate limits -------------------------------------------------------------------------
daemon_stop
api_config 1 5
step "edgegwd restarts with rate_limit = 1/s, burst 5" daemon_start
# burst TOKEN: 12 requests on one keep-alive connection, back to back (milliseconds: no
# refill between); prints the 12 statuses, then the last 429's Retry-After and error code.
burst() {
        ip netns exec "$NS_GW" python3 -c '
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", 8081, timeout=10)
codes, last = [], None
for _ in range(12):
    c.request("GET", "/v1/vms/shop", headers={"Authorization": "Bearer " + sys.argv[1]})
    r = c.getresponse()
    body = r.read()
    codes.append(r.status)
    if r.status == 429:
        last = (r.getheader("Retry-After"), json.loads(body)["error"]["code"], json.loads(body)["error"]["message"])
print(" ".join(map(str, codes)), last[0] if last else "-", last[1] if last else "-", "|", last[2] if last else "")' "$1"
}
out=$(burst "$TOKEN")
check "12 back-to-back requests with one token: the first 5 pass, the other 7 get 429 rate_limited with Retry-After: 1" \
        eq "${out%% |*}" "200 200 200 200 200 429 429 429 429 429 429 429 1 rate_limited"
check "...the message names the token" contains "$out" "token:ci"
api GET /v1/vms/shop
check "the unix socket is not rate limited" status_is 200
sleep 1.2
api_tcp "$TOKEN" GET /v1/vms/shop
check "after a second the token may go on" status_is 200
daemon_stop
api_config 0 5 "" 1
step "edgegwd restarts with rate_limit_source = 1/s, burst 5 (tokens unlimited)" daemon_start
out=$(burst "$TOKEN")
check "12 back-to-back requests from one address: 5 pass, 7 get 429 with Retry-After: 1" \
        eq "${out%% |*}" "200 200 200 200 200 429 429 429 429 429 429 429 1 rate_limited"
check "...the message names the source address" contains "$out" "127.0.0.1"

# ---- TLS on the TCP listener ------------------------------------------------------------
daemon_stop
make_cert 127.0.0.1 "$E2E_TMP/api" >/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=edgegw-api" \
        -addext "subjectAltName=IP:127.0.0.1" -keyout "$E2E_TMP/api.key" -out "$E2E_TMP/api.crt" >/dev/null 2>&1
api_config 0 200 "tls_cert = \"$E2E_TMP/api.crt\"
tls_key = \"$E2E_TMP/api.key\""
step "edgegwd restarts with TLS on the TCP listener" daemon_start
API_TCP=https://127.0.0.1:8081
api_tcp "$TOKEN" GET /v1/vms/shop "" --cacert "$E2E_TMP/api.crt"
check "https://127.0.0.1:8081 with the listener's certificate and the token: 200" status_is 200
API_TCP=http://127.0.0.1:8081
api_tcp "$TOKEN" GET /v1/vms/shop
check "plain HTTP to the TLS listener gets no answer" not status_is 200
run ip netns exec "$NS_GW" env EDGEGW_URL=https://127.0.0.1:8081 EDGEGW_TOKEN="$TOKEN" "$EDGEGW" --cacert "$E2E_TMP/api.crt" --json vm show shop
check "the CLI works remotely over TLS (--cacert, EDGEGW_URL, EDGEGW_TOKEN)" eq "$(json 'd["id"]' <<<"$OUT")" shop

# ---- revocation, and state after a crash ------------------------------------------------
run cli token rm ci
check "token rm ci exits 0" rc_is 0
API_TCP=https://127.0.0.1:8081
api_tcp "$TOKEN" GET /v1/vms/shop "" --cacert "$E2E_TMP/api.crt"
check "the revoked token gets 401" status_is 401
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
DAEMON_PID=
step "edgegwd starts again after kill -9" daemon_start
check "after the restart lab-ssh's :61022 still reaches vm2:22" reaches tcp "$PUBLIC4" 61022 vm2:22
check "...and shop.example.org still routes" eq "$(https_get shop.example.org "$E2E_TMP/shop.crt")" "vm1 shop"
run cli check
check "edgegw check is clean after the restart" rc_is 0

finish
