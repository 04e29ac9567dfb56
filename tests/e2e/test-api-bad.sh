#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC1091,SC2034  # lib.sh is sourced; CFG_* are read by lib.sh
#
# Hostile and malformed requests (tests/e2e/api_cases.py: over a hundred of them, on the unix
# socket and on the token-protected TCP listener) each get the right status and error code,
# and afterwards the store, the audit log and the kernel rules are exactly as before: bad
# input changes nothing.
source "$(dirname "$0")/lib.sh"
API_TCP=http://127.0.0.1:8081
CFG_EXTRA="[api]
listen = \"127.0.0.1:8081\"
agent_token_file = \"$E2E_TMP/agent.token\"
rate_limit = 0
rate_limit_source = 0"
mkdir -p "$E2E_TMP"
printf 'agent-secret-%s\n' "$$" >"$E2E_TMP/agent.token"
setup_default

# -- fixtures: a VM with an extra name, a route, a forward, tokens (one of them revoked)
api POST /v1/vms '{"id":"fx-vm","ip":"10.0.1.5","hostnames":["fx-extra.example.org"],"labels":{"env":"test"}}'
check "fixture VM fx-vm created (201)" status_is 201
vm_json=$OUT
api POST /v1/routes '{"id":"fx-route","hostname":"fx-route.example.org","target_ip":"10.0.1.6","target_port":443}'
check "fixture route fx-route created (201)" status_is 201
api POST /v1/forwards '{"id":"fx-fwd","public_port":60500,"proto":"tcp","target_ip":"10.0.1.6","target_port":22}'
check "fixture forward fx-fwd created (201)" status_is 201
declare -A TOKENS
for t in admin:admin reader:read vmsonly:vms revoked:read; do
        name=${t%%:*}
        api POST /v1/tokens "{\"name\":\"$name\",\"scopes\":[\"${t#*:}\"]}"
        check "token $name created (201)" status_is 201
        TOKENS[$name]=$(json 'd["token"]' <<<"$OUT")
done
api DELETE /v1/tokens/revoked
check "token 'revoked' revoked (200)" status_is 200

tokens_json=$(python3 -c 'import json, sys; print(json.dumps(dict(zip(["admin", "read", "vms", "revoked", "agent"], sys.argv[1:]))))' \
        "${TOKENS[admin]}" "${TOKENS[reader]}" "${TOKENS[vmsonly]}" "${TOKENS[revoked]}" "$(head -n1 "$E2E_TMP/agent.token")")
fixtures_json=$(python3 -c '
import json, sys
vm = json.loads(sys.argv[1])
print(json.dumps({"vm": "fx-vm", "vm_ip": "10.0.1.5", "vm_subdomain": vm["subdomain"], "vm_hostname": "fx-extra.example.org",
                  "vm_block": [vm["port_range_start"], vm["port_range_end"]], "route": "fx-route",
                  "route_hostname": "fx-route.example.org", "forward": "fx-fwd", "forward_port": 60500,
                  "public_ip": sys.argv[2]}))' "$vm_json" "$PUBLIC4")

# Let the reconciler settle, then take the before picture.
run cli check
check "edgegw check is clean before the bad requests" rc_is 0
store_before=$(store_digest)
audit_before=$(audit_count)
rules_before=$(gw_nft list table inet edgegw 2>&1)

# -- the table
ip netns exec "$NS_GW" python3 "$E2E_DIR/api_cases.py" "$E2E_SOCK" 127.0.0.1 8081 "$tokens_json" "$fixtures_json" \
        >"$E2E_TMP/cases.out" 2>&1
grep -v '^COUNTS ' "$E2E_TMP/cases.out"
read -r _ cp cf < <(grep '^COUNTS ' "$E2E_TMP/cases.out")
if [[ -z ${cp:-} ]]; then
        check "api_cases.py ran to the end" false
else
        PASS=$((PASS + cp))
        FAIL=$((FAIL + cf))
        check "at least 60 bad-input cases ran" test "$((cp + cf))" -ge 60
fi

# -- nothing changed
run cli check
check "edgegw check is still clean" rc_is 0
check "the store's VMs, routes, forwards, names and tokens are unchanged" eq "$(store_digest)" "$store_before"
check "no audit entry was written by a refused request" eq "$(audit_count)" "$audit_before"
check "the kernel rules (table inet edgegw) are unchanged" eq "$(gw_nft list table inet edgegw 2>&1)" "$rules_before"
check "the daemon is still serving" daemon_alive
api GET /health
check "GET /health still answers 200" status_is 200

finish
