# SPDX-License-Identifier: MIT
#
# A real Knot DNS for the DNS tests (sourced after lib.sh): the zone example.net, a TSIG key
# edgegw-key (hmac-sha256) allowed to update it, the zone's changes kept in knotd's journal
# (so a restart keeps them). Knot runs inside one of the test's namespaces on 127.0.0.1.
#
#   knot_setup DIR PORT [ZONE-LINES]   writes DIR/knot.conf and DIR/example.net.zone (with
#                                      ZONE-LINES appended), and DIR/tsig.key (a BIND key file)
#   knot_start NS DIR PORT             starts knotd in NS; waits (5 s) until it serves the SOA;
#                                      sets KNOT_PID (knotd itself, so `kill` stops it)
#   knot_stop                          stops it (SIGTERM) and waits
# KNOT_SECRET is the key's base64 secret.

KNOT_SECRET=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
KNOT_PID=

knot_setup() {
        local dir=$1 port=$2 extra=${3:-}
        command -v knotd >/dev/null && command -v kdig >/dev/null || {
                echo "knotd and kdig are not installed (knot, knot-dnsutils)"
                return 1
        }
        mkdir -p "$dir/db" "$dir/run" || return 1
        cat >"$dir/example.net.zone" <<EOF
\$ORIGIN example.net.
\$TTL 300
@       SOA ns1.example.net. hostmaster.example.net. 1 3600 600 86400 300
@       NS  ns1.example.net.
ns1     A   127.0.0.1
$extra
EOF
        cat >"$dir/knot.conf" <<EOF
server:
    rundir: "$dir/run"
    listen: 127.0.0.1@$port
log:
  - target: stderr
    any: info
database:
    storage: "$dir/db"
key:
  - id: edgegw-key
    algorithm: hmac-sha256
    secret: $KNOT_SECRET
acl:
  - id: edgegw-update
    key: edgegw-key
    action: update
zone:
  - domain: example.net
    storage: "$dir"
    file: example.net.zone
    acl: edgegw-update
    zonefile-sync: -1
    journal-content: all
EOF
        printf 'key "edgegw-key" {\n\talgorithm hmac-sha256;\n\tsecret "%s";\n};\n' "$KNOT_SECRET" >"$dir/tsig.key"
        chmod 600 "$dir/tsig.key"
}

knot_start() {
        local ns=$1 dir=$2 port=$3 i
        # Not through in_ns (a function: $! would be a subshell): ip netns exec execs knotd.
        ip netns exec "$ns" knotd -c "$dir/knot.conf" </dev/null >>"$dir/knotd.log" 2>&1 &
        KNOT_PID=$!
        BG_PIDS+=("$KNOT_PID")
        for ((i = 0; i < 50; i++)); do
                ip netns exec "$ns" kdig +short +timeout=1 +retry=0 -p "$port" @127.0.0.1 example.net SOA 2>/dev/null |
                        grep -q ns1 && return 0
                sleep 0.1
        done
        tail -n 20 "$dir/knotd.log" | sed 's/^/#   knotd: /'
        return 1
}

knot_stop() {
        [[ -n $KNOT_PID ]] || return 0
        kill "$KNOT_PID" 2>/dev/null
        wait "$KNOT_PID" 2>/dev/null
        KNOT_PID=
}
