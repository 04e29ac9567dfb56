#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The rfc2136 client module (src/dns/client.c, driven by the build's dns-probe tool) against
# a real Knot DNS: knotd runs inside this test's own namespace on 127.0.0.1 with the zone
# example.net and a TSIG key allowed to update it. Checks that an UPDATE adds an A record
# (kdig shows it), replaces it, deletes it (NXDOMAIN); that an UPDATE with a wrong key is
# reported as badkey/badsig/notauth and changes nothing; and that with knotd stopped the
# client reports a timeout within its bound. This tests the client module only: edgegwd
# and the DNS reconciler (issue 5) are not involved yet.
# shellcheck disable=SC1091
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/knot.sh"

PROBE=$BUILD/dns-probe
NS_DNS=$PFX-dns
KNOT_DIR=$E2E_TMP/knot
SECRET=$KNOT_SECRET
WRONG_SECRET=/////////////////////////////////////////w==

[[ -x $PROBE ]] || die "$PROBE is built"
ns_add "$NS_DNS" || die "namespace $NS_DNS created"

knot_setup "$KNOT_DIR" 53 || die "knot set up"
# The key as Knot's keymgr prints it, and a BIND-style file with the right name but a
# wrong secret.
# (keymgr -t starts with a comment line that repeats the secret: the reader must skip it.)
printf '# hmac-sha256:edgegw-key:%s\nkey:\n  - id: edgegw-key\n    algorithm: hmac-sha256\n    secret: %s\n' "$SECRET" "$SECRET" >"$E2E_TMP/good.key"
printf 'key "edgegw-key" {\n\talgorithm hmac-sha256;\n\tsecret "%s";\n};\n' "$WRONG_SECRET" >"$E2E_TMP/wrongsecret.key"
printf 'key "other-key" {\n\talgorithm hmac-sha256;\n\tsecret "%s";\n};\n' "$SECRET" >"$E2E_TMP/othername.key"
chmod 600 "$E2E_TMP"/*.key

probe() { run in_ns "$NS_DNS" "$PROBE" --server 127.0.0.1:53 --timeout 1000 "$@"; }
field() { sed -n "s/^$1=//p" <<<"$OUT" | head -n 1; }
# one_of VALUE CHOICE...: VALUE is one of the CHOICEs (an empty VALUE never is).
one_of() {
        local v=$1 c
        shift
        for c in "$@"; do [[ -n $v && $v == "$c" ]] && return 0; done
        echo "expected one of: $*; got '$v'"
        return 1
}
# kdig_a NAME: the A records of NAME as knotd serves them, sorted, space separated.
kdig_a() { in_ns "$NS_DNS" kdig +short +timeout=2 +retry=0 @127.0.0.1 "$1" A | sort | tr '\n' ' ' | sed 's/ $//'; }
kdig_rcode() { in_ns "$NS_DNS" kdig +timeout=2 +retry=0 @127.0.0.1 "$1" "${2:-A}" | sed -n 's/.*status: \([A-Z]*\).*/\1/p'; }

knot_start "$NS_DNS" "$KNOT_DIR" 53 || die "knotd serves example.net in $NS_DNS"
check "knotd serves example.net" eq "$(kdig_rcode example.net SOA)" NOERROR

# A signed query through the client: the answer's TSIG verifies.
probe --key-file "$E2E_TMP/good.key" query example.net SOA
check "signed SOA query: status ok" eq "$(field status)" ok
check "signed SOA query: the SOA comes back" contains "$OUT" "answer=example.net SOA 300 1"

probe --key-file "$E2E_TMP/good.key" set example.net vm1.example.net 203.0.113.1
check "UPDATE add: status ok, rcode ok" eq "$(field status)/$(field rcode)" ok/ok
check "kdig shows vm1's A record" eq "$(kdig_a vm1.example.net)" 203.0.113.1
check "kdig shows the ownership TXT" eq "$(in_ns "$NS_DNS" kdig +short @127.0.0.1 vm1.example.net TXT)" '"edgegw"'

probe --key-file "$E2E_TMP/good.key" query vm1.example.net A
check "the client reads the A record back" contains "$OUT" "answer=vm1.example.net A 300 203.0.113.1"

probe --key-file "$E2E_TMP/good.key" set example.net vm1.example.net 203.0.113.7 2001:db8:ff::7
check "UPDATE replace: status ok" eq "$(field status)" ok
check "kdig shows only the new address" eq "$(kdig_a vm1.example.net)" 203.0.113.7
check "kdig shows the new AAAA" eq "$(in_ns "$NS_DNS" kdig +short @127.0.0.1 vm1.example.net AAAA)" 2001:db8:ff::7

# Wrong keys: the server says so, and the zone stays as it was.
probe --key-file "$E2E_TMP/othername.key" set example.net vm1.example.net 198.51.100.1
check "UPDATE with an unknown key name: badkey (exit 1)" eq "$(field status)/$RC" badkey/1
check "the error text names the cause" contains "$(field error)" "does not know our TSIG key"
probe --key-file "$E2E_TMP/wrongsecret.key" set example.net vm1.example.net 198.51.100.1
log "wrong secret: $(field status): $(field error)"
check "UPDATE with a wrong secret: badsig or notauth" one_of "$(field status)" badsig notauth
run in_ns "$NS_DNS" "$PROBE" set example.net vm1.example.net 198.51.100.1
log "unsigned: $(field status): $(field error)"
check "unsigned UPDATE: refused or notauth" one_of "$(field status)" refused notauth
check "after the rejected UPDATEs vm1 still has 203.0.113.7 only" eq "$(kdig_a vm1.example.net)" 203.0.113.7
check "no secret in the probe's output" not grep -qF -e "$SECRET" -e "$WRONG_SECRET" <<<"$OUT$ERR"

probe --key-file "$E2E_TMP/good.key" --owner someone-else delete example.net vm1.example.net
check "delete with another owner's TXT as prerequisite: nxrrset, nothing deleted" \
        eq "$(field status)/$(field rcode)/$(kdig_a vm1.example.net)" ok/nxrrset/203.0.113.7
probe --key-file "$E2E_TMP/good.key" --owner edgegw delete example.net vm1.example.net
check "UPDATE delete (owner matches): status ok" eq "$(field status)/$(field rcode)" ok/ok
check "kdig: vm1.example.net is NXDOMAIN" eq "$(kdig_rcode vm1.example.net)" NXDOMAIN
probe --key-file "$E2E_TMP/good.key" query vm1.example.net A
check "the client sees NXDOMAIN too (a verified answer)" eq "$(field status)/$(field rcode)" ok/nxdomain

# knotd gone: two UDP attempts of 1 s, then timeout (bound: 2 s plus slack).
kill "$KNOT_PID" && wait "$KNOT_PID" 2>/dev/null
probe --key-file "$E2E_TMP/good.key" set example.net vm2.example.net 203.0.113.2
check "knotd stopped: status timeout (exit 1)" eq "$(field status)/$RC" timeout/1
check "knotd stopped: two UDP attempts" eq "$(field udp_attempts)" 2
check "knotd stopped: gave up within 2.5 s" between "$(field elapsed_ms)" 1900 2500

finish
