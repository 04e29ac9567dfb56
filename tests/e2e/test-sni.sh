#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC1091,SC2034,SC2154,SC2016  # lib.sh is sourced; CFG_* are read by lib.sh; add_vm
# assigns the name variables; bash -c snippets are single-quoted on purpose
#
# A user runs HTTPS on their VMs with their own certificates and reaches each one from the
# internet by name through the gateway's :443 (the [proxy] defaults, "[::]:443"): the
# gateway routes by the TLS SNI and passes the bytes through untouched, so curl verifies
# the VM's own certificate. An unknown name (or none) gets a TLS unrecognized_name alert; a
# removed VM stops routing at once while the others go on; a large ClientHello trickled one
# byte at a time or split over records still routes, an oversized one does not; a client
# that sends nothing is cut after hello_timeout_ms; --proxy-protocol v2/v1 gives the VM
# the client's address (plain IPv4 for a v4 client on the dual-stack listener);
# --allow CIDR refuses other sources.
source "$(dirname "$0")/lib.sh"

step "topology up" topo_up
# One more namespace plays the VMs whose backend is a recorder (or nginx), one address each.
step "lab namespace with 10.0.1.7-10.0.1.12" vm_ns lab 10.0.1.7 10.0.1.8 10.0.1.9 10.0.1.10 10.0.1.11 10.0.1.12
NS_LAB=$PFX-lab
step "edgegwd starts with the default [proxy] listeners" daemon_start
log "$TEST_NAME: namespaces $PFX-*, edgegwd pid $DAEMON_PID, state $E2E_STATE"
have_nginx=0
command -v nginx >/dev/null && have_nginx=1

ALERT=15030100020270 # alert record, TLS 1.0 record version, fatal(2), unrecognized_name(112)

# held_session NAME CAFILE TAG: in the background, a TLS session to NAME (via the public IPv4)
# that completes its handshake, touches $E2E_TMP/TAG.ready, waits for $E2E_TMP/TAG.go
# (10 s at most), then asks for /index.html; the answer (or the error) lands in
# $E2E_TMP/TAG.out, with "elapsed=" seconds from "go" to the end.
held_session() {
        ip netns exec "$NS_CLIENT" timeout 20 python3 -c '
import os, socket, ssl, sys, time
addr, name, ca, tag = sys.argv[1:5]
out = open(tag + ".out", "w")
ctx = ssl.create_default_context(cafile=ca)
t = ctx.wrap_socket(socket.create_connection((addr, 443), timeout=5), server_hostname=name)
open(tag + ".ready", "w").close()
for _ in range(100):
    if os.path.exists(tag + ".go"):
        break
    time.sleep(0.1)
t0 = time.monotonic()
got = b""
try:
    t.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
    t.settimeout(5)
    while True:
        d = t.recv(4096)
        if not d:
            break
        got += d
except Exception as e:
    out.write("error=%s\n" % type(e).__name__)
out.write("body=%s\n" % got.decode(errors="replace").replace("\r", "").split("\n\n", 1)[-1].strip())
out.write("elapsed=%.3f\n" % (time.monotonic() - t0))' "$PUBLIC4" "$1" "$2" "$E2E_TMP/$3" </dev/null >/dev/null 2>&1 &
        BG_PIDS+=($!)
        local i
        for ((i = 0; i < 50; i++)); do
                [[ -e $E2E_TMP/$3.ready ]] && return 0
                sleep 0.1
        done
        echo "no TLS session to $1 within 5 s"
        return 1
}
# held_result TAG: waits (10 s at most) for the held session's answer and prints it.
held_result() {
        local i
        for ((i = 0; i < 100; i++)); do
                grep -q '^elapsed=' "$E2E_TMP/$1.out" 2>/dev/null && break
                sleep 0.1
        done
        cat "$E2E_TMP/$1.out" 2>/dev/null
}

# -- the VMs, their names and their own certificates
add_vm n1 vm1 --ip 10.0.1.5
add_vm n2 vm2 --ip 10.0.1.6
add_vm n6 vm6 --ip 2001:db8:1::5
add_vm nt trickle --ip 10.0.1.7
add_vm nv2 ppv2 --ip 10.0.1.8 --proxy-protocol v2
add_vm nv1 ppv1 --ip 10.0.1.9 --proxy-protocol v1
((have_nginx)) && add_vm nng ngx --ip 10.0.1.10 --proxy-protocol v2
add_vm nfen fenced --ip 10.0.1.11 --allow 198.51.100.0/24
add_vm nopen opened --ip 10.0.1.12 --allow 203.0.113.0/24
check "every VM's name is <slug>.dc-test.example.net" eq "${n1#*.}|${n2#*.}|${n6#*.}" \
        "dc-test.example.net|dc-test.example.net|dc-test.example.net"

C=$E2E_TMP/certs
mkdir -p "$C"
for v in 1 2 6; do
        n=n$v
        step "certificate for vm$v (${!n})" make_cert "${!n}" "$C/vm$v"
        mkdir -p "$E2E_TMP/www$v"
        echo "page of vm$v" >"$E2E_TMP/www$v/index.html"
done
https_server "$NS_VM1" 443 "$C/vm1" "$E2E_TMP/www1"
https_server "$NS_VM2" 443 "$C/vm2" "$E2E_TMP/www2"
https_server "$NS_VM6" "[::]:443" "$C/vm6" "$E2E_TMP/www6"
record_backend "$NS_LAB" 10.0.1.7 443 "$E2E_TMP/rec-trickle"
record_backend "$NS_LAB" 10.0.1.8 443 "$E2E_TMP/rec-v2"
record_backend "$NS_LAB" 10.0.1.9 443 "$E2E_TMP/rec-v1"
record_backend "$NS_LAB" 10.0.1.11 443 "$E2E_TMP/rec-fenced"
record_backend "$NS_LAB" 10.0.1.12 443 "$E2E_TMP/rec-open"
if ((have_nginx)); then
        step "certificate for ngx ($nng)" make_cert "$nng" "$C/ngx"
        mkdir -p "$E2E_TMP/nginx/tmp"
        cat >"$E2E_TMP/nginx/nginx.conf" <<EOF
daemon off;
user root;
worker_processes 1;
pid $E2E_TMP/nginx/nginx.pid;
error_log $E2E_TMP/nginx/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $E2E_TMP/nginx/tmp/body;
    proxy_temp_path $E2E_TMP/nginx/tmp/proxy;
    fastcgi_temp_path $E2E_TMP/nginx/tmp/fastcgi;
    uwsgi_temp_path $E2E_TMP/nginx/tmp/uwsgi;
    scgi_temp_path $E2E_TMP/nginx/tmp/scgi;
    server {
        listen 10.0.1.10:443 ssl proxy_protocol;
        ssl_certificate $C/ngx.crt;
        ssl_certificate_key $C/ngx.key;
        location / { default_type text/plain; return 200 "\$proxy_protocol_addr\n"; }
    }
}
EOF
        ip netns exec "$NS_LAB" nginx -c "$E2E_TMP/nginx/nginx.conf" -p "$E2E_TMP/nginx" -e "$E2E_TMP/nginx/error.log" \
                </dev/null >>"$E2E_TMP/nginx/out.log" 2>&1 &
        BG_PIDS+=($!)
fi
step "s_server listens in vm1 and vm2" wait_listening "$NS_VM1" tcp 443
step "s_server listens in vm2" wait_listening "$NS_VM2" tcp 443
step "s_server listens in vm6" wait_listening "$NS_VM6" tcp 443
step "recorders listen in lab" wait_listening "$NS_LAB" tcp 443
((have_nginx)) && step "nginx listens in lab on 10.0.1.10:443" \
        bash -c "for i in \$(seq 50); do ip netns exec '$NS_LAB' ss -Hltn | grep -q '10.0.1.10:443' && exit 0; sleep 0.1; done; cat '$E2E_TMP/nginx/error.log'; exit 1"
step "gw listens on :443" wait_listening "$NS_GW" tcp 443

# -- routing by name, passthrough
check "curl https://$n1/ via $PUBLIC4 gets vm1's page, verified against vm1's own certificate" \
        eq "$(https_get "$n1" "$C/vm1.crt" 2>&1)" "page of vm1"
check "curl https://$n2/ via $PUBLIC4 gets vm2's page, verified against vm2's own certificate" \
        eq "$(https_get "$n2" "$C/vm2.crt" 2>&1)" "page of vm2"
check "the certificate presented for $n1 is vm1's, not one the gateway holds: trusting only vm2's fails" \
        not https_get "$n1" "$C/vm2.crt"
check "openssl s_client -servername $n2 sees subject CN=$n2 (the VM's certificate)" contains \
        "$(in_ns "$NS_CLIENT" timeout 8 openssl s_client -connect "$PUBLIC4:443" -servername "$n2" </dev/null 2>&1)" \
        "subject=CN = $n2"
check "an IPv6 client reaches vm1 by name via [$PUBLIC6]" eq "$(https_get "$n1" "$C/vm1.crt" "$PUBLIC6" 2>&1)" "page of vm1"
check "an IPv6 client reaches the IPv6 VM vm6 by name via [$PUBLIC6]" \
        eq "$(https_get "$n6" "$C/vm6.crt" "$PUBLIC6" 2>&1)" "page of vm6"
check "an IPv4 client reaches the IPv6-only VM vm6 by name via $PUBLIC4" \
        eq "$(https_get "$n6" "$C/vm6.crt" 2>&1)" "page of vm6"
check "the name is matched case-insensitively (SNI ${n1^^})" \
        eq "$(https_get "${n1^^}" "$C/vm1.crt" 2>&1)" "page of vm1"

# -- unknown names
check "curl to an unknown name (unknown.example) fails" not https_get unknown.example "$C/vm1.crt"
out=$(in_ns "$NS_CLIENT" timeout 8 openssl s_client -connect "$PUBLIC4:443" -servername unknown.example </dev/null 2>&1)
check "openssl s_client -servername unknown.example shows the 'unrecognized name' alert" contains "$out" "unrecognized name"
out=$(hello_probe "$PUBLIC4" 443 --sni unknown.example)
check "an unknown SNI gets exactly one unrecognized_name alert record, then the close" \
        eq "$(kv reply_hex <<<"$out") eof=$(kv eof <<<"$out")" "$ALERT eof=1"
out=$(hello_probe "$PUBLIC4" 443)
check "a ClientHello without SNI (no default_backend) gets the unrecognized_name alert too" \
        eq "$(kv reply_hex <<<"$out") eof=$(kv eof <<<"$out")" "$ALERT eof=1"
out=$(hello_probe "$PUBLIC4" 443 --sni "dc-test.example.net")
check "the bare zone name (no VM label) is unknown too" eq "$(kv reply_hex <<<"$out")" "$ALERT"
r=$(printf 'GET / HTTP/1.1\r\nHost: %s\r\n\r\n' "$n1" | tcp_send "$PUBLIC4" 443 | od -An -tx1 | tr -d ' \n')
check "plain HTTP sent to :443 is closed without an answer (not TLS, nothing to route on)" eq "$r" ""

# -- big and slow hellos
out=$(hello_probe "$PUBLIC4" 443 --sni "$nt" --pad 3000 --delay 0.0005 --save "$E2E_TMP/hello-trickle.bin")
size=$(stat -c %s "$E2E_TMP/hello-trickle.bin")
check "a ${size}-byte ClientHello sent one byte at a time (took $(kv elapsed <<<"$out") s) is routed to its VM" \
        eq "$(kv reply_text <<<"$out")" "backend got $size bytes"
check "... and the VM received the client's bytes unchanged" cmp "$E2E_TMP/hello-trickle.bin" "$E2E_TMP/rec-trickle/conn-1.bin"
check "... with no PROXY header (none asked for)" grep -qx "proxy=none" "$E2E_TMP/rec-trickle/conn-1.txt"
out=$(hello_probe "$PUBLIC4" 443 --sni "$nt" --pad 6000 --frag 1000 --save "$E2E_TMP/hello-frag.bin")
size=$(stat -c %s "$E2E_TMP/hello-frag.bin")
check "a ClientHello split into 1000-byte TLS records ($size bytes in all) is routed and arrives unchanged" \
        bash -c '[[ $1 == "backend got $2 bytes" ]] && cmp "$3" "$4"' _ "$(kv reply_text <<<"$out")" "$size" \
        "$E2E_TMP/hello-frag.bin" "$E2E_TMP/rec-trickle/conn-2.bin"
out=$(hello_probe "$PUBLIC4" 443 --sni "$nt." --save "$E2E_TMP/hello-dot.bin")
check "an SNI with a trailing dot ($nt.) routes like the name without it" \
        bash -c '[[ $1 == "backend got $2 bytes" ]] && cmp "$3" "$4"' _ "$(kv reply_text <<<"$out")" \
        "$(stat -c %s "$E2E_TMP/hello-dot.bin")" "$E2E_TMP/hello-dot.bin" "$E2E_TMP/rec-trickle/conn-3.bin"
out=$(hello_probe "$PUBLIC4" 443 --sni "$nt" --pad 20000 --wait 5)
check "a ClientHello larger than hello_max (16384) is closed without an answer" \
        eq "$(kv reply_hex <<<"$out")/eof=$(kv eof <<<"$out")" "/eof=1"
check "... and never reaches the VM" eq "$(sleep 0.3; backend_conns "$E2E_TMP/rec-trickle")" 3

# -- PROXY protocol
out=$(hello_probe "$PUBLIC4" 443 --sni "$nv2" --save "$E2E_TMP/hello-v2.bin")
check "--proxy-protocol v2: the VM gets its hello" contains "$(kv reply_text <<<"$out")" "backend got"
check "--proxy-protocol v2 over the dual-stack listener: an IPv4 client's header is TCP over IPv4 (0x11), source 203.0.113.9, destination $PUBLIC4:443" \
        grep -qE "^proxy=v2 ver_cmd=0x21 fam=0x11 src=203\.0\.113\.9 sport=[0-9]+ dst=203\.0\.113\.1 dport=443$" "$E2E_TMP/rec-v2/conn-1.txt"
check "--proxy-protocol v2: after the header the hello arrives unchanged" cmp "$E2E_TMP/hello-v2.bin" "$E2E_TMP/rec-v2/conn-1.bin"
out=$(hello_probe "$PUBLIC6" 443 --sni "$nv2")
check "--proxy-protocol v2: an IPv6 client's header is TCP over IPv6 (0x21), source 2001:db8:ff::9" \
        grep -qE "^proxy=v2 ver_cmd=0x21 fam=0x21 src=2001:db8:ff::9 sport=[0-9]+ dst=2001:db8:ff::1 dport=443$" "$E2E_TMP/rec-v2/conn-2.txt"
out=$(hello_probe "$PUBLIC4" 443 --sni "$nv1" --save "$E2E_TMP/hello-v1.bin")
check "--proxy-protocol v1: the VM gets 'PROXY TCP4 203.0.113.9 $PUBLIC4 PORT 443' first" \
        grep -qE "^proxy=v1 PROXY TCP4 203\.0\.113\.9 203\.0\.113\.1 [0-9]+ 443$" "$E2E_TMP/rec-v1/conn-1.txt"
check "--proxy-protocol v1: after the line the hello arrives unchanged" cmp "$E2E_TMP/hello-v1.bin" "$E2E_TMP/rec-v1/conn-1.bin"
if ((have_nginx)); then
        check "nginx with 'listen ... ssl proxy_protocol' behind the proxy sees the client as 203.0.113.9" \
                eq "$(https_get "$nng" "$C/ngx.crt" 2>&1)" 203.0.113.9
        check "nginx with proxy_protocol sees an IPv6 client as 2001:db8:ff::9" \
                eq "$(https_get "$nng" "$C/ngx.crt" "$PUBLIC6" 2>&1)" 2001:db8:ff::9
else
        log "skip: nginx is not installed, the nginx proxy_protocol checks did not run"
fi

# -- source allow-lists
out=$(hello_probe "$PUBLIC4" 443 --sni "$nfen")
check "--allow 198.51.100.0/24: the client 203.0.113.9 is closed without an answer" \
        eq "$(kv reply_hex <<<"$out")/eof=$(kv eof <<<"$out")" "/eof=1"
check "--allow 198.51.100.0/24: the VM never sees the refused client" eq "$(sleep 0.3; backend_conns "$E2E_TMP/rec-fenced")" 0
out=$(hello_probe "$PUBLIC4" 443 --sni "$nopen")
check "--allow 203.0.113.0/24: the client 203.0.113.9 (on the dual-stack listener: ::ffff:203.0.113.9) is let through" contains "$(kv reply_text <<<"$out")" "backend got"
out=$(hello_probe "$PUBLIC6" 443 --sni "$nopen")
check "--allow 203.0.113.0/24: an IPv6 client (2001:db8:ff::9) is refused" \
        eq "$(kv reply_hex <<<"$out")/eof=$(kv eof <<<"$out")" "/eof=1"
check "routing for other VMs still works next to allow-listed ones" eq "$(https_get "$n1" "$C/vm1.crt" 2>&1)" "page of vm1"

# -- a VM removed while others keep running
check "a TLS session to vm2 is open before vm2 is removed" held_session "$n2" "$C/vm2.crt" held2
run cli vm rm vm2
check "vm rm vm2 exits 0" rc_is 0
start=$(date +%s.%N)
gone=
for ((i = 0; i < 30; i++)); do
        out=$(hello_probe "$PUBLIC4" 443 --sni "$n2" --wait 2)
        if [[ $(kv reply_hex <<<"$out") == "$ALERT" ]]; then
                gone=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
                break
        fi
        sleep 0.1
done
check "within 1 s of vm rm, $n2 gets the unrecognized_name alert (took ${gone:-more than 3} s)" between "${gone:-99}" 0 1
check "curl https://$n2/ fails after vm rm" not https_get "$n2" "$C/vm2.crt"
check "vm1 keeps working after vm2 was removed" eq "$(https_get "$n1" "$C/vm1.crt" 2>&1)" "page of vm1"
touch "$E2E_TMP/held2.go"
check "with removed_routes = finish (the default) the session opened before vm rm still gets vm2's page" \
        eq "$(held_result held2 | kv body)" "page of vm2"

# -- deadlines and removed_routes = close: restart with hello_timeout_ms = 1000,
# idle_timeout_ms = 2000, removed_routes = "close"
daemon_stop
CFG_EXTRA='[proxy]
hello_timeout_ms = 1000
idle_timeout_ms = 2000
removed_routes = "close"'
step "edgegwd restarts with [proxy] hello_timeout_ms = 1000, idle_timeout_ms = 2000, removed_routes = close" daemon_start
step "gw listens on :443 again" wait_listening "$NS_GW" tcp 443
check "after a restart the routes are back: vm1 by name" eq "$(https_get "$n1" "$C/vm1.crt" 2>&1)" "page of vm1"
out=$(hello_probe "$PUBLIC4" 443 --silent --wait 8)
check "a client that sends nothing is closed by the proxy" eq "$(kv eof <<<"$out")" 1
check "... about hello_timeout_ms (1000) after connecting (took $(kv elapsed <<<"$out") s)" between "$(kv elapsed <<<"$out")" 0.8 3
out=$(hello_probe "$PUBLIC6" 443 --silent --wait 8)
check "the same for a silent IPv6 client (took $(kv elapsed <<<"$out") s)" between "$(kv elapsed <<<"$out")" 0.8 3
before=$(backend_conns "$E2E_TMP/rec-trickle")
out=$(hello_probe "$PUBLIC4" 443 --sni "$nt" --pad 3000 --delay 0.002 --wait 3)
check "a hello trickled slower than hello_timeout_ms allows (slowloris) is cut before it is complete (sent $(kv sent <<<"$out") bytes)" \
        bash -c '[[ $1 == 1 && -z $2 ]] && (($3 < 3000))' _ "$(kv eof <<<"$out")" "$(kv reply_hex <<<"$out")" "$(kv sent <<<"$out")"
check "... and nothing of it reaches the VM" eq "$(sleep 0.3; backend_conns "$E2E_TMP/rec-trickle")" "$before"
check "a normal client right after still gets through" eq "$(https_get "$n1" "$C/vm1.crt" 2>&1)" "page of vm1"
# A TLS session with vm1 that then says nothing: the relay is closed after idle_timeout_ms.
out=$(in_ns "$NS_CLIENT" timeout 15 python3 -c '
import socket, ssl, sys, time
ctx = ssl.create_default_context(cafile=sys.argv[3])
t = ctx.wrap_socket(socket.create_connection((sys.argv[1], 443), timeout=3), server_hostname=sys.argv[2])
t0 = time.monotonic()
t.settimeout(10)
try:
    eof = int(t.recv(100) == b"")
except socket.timeout:
    eof = 0
except (OSError, ssl.SSLError):
    eof = 1
print("eof=%d" % eof)
print("elapsed=%.3f" % (time.monotonic() - t0))' "$PUBLIC4" "$n1" "$C/vm1.crt" 2>&1)
check "an established TLS session that goes quiet is closed after idle_timeout_ms (2000; took $(kv elapsed <<<"$out") s)" \
        bash -c '[[ $1 == 1 ]] && awk -v e="$2" "BEGIN { exit !(e >= 1.5 && e <= 4.5) }"' _ "$(kv eof <<<"$out")" "$(kv elapsed <<<"$out")"
check "vm1 still serves new clients after that" eq "$(https_get "$n1" "$C/vm1.crt" 2>&1)" "page of vm1"

check "a TLS session to vm6 is open before vm6 is removed" held_session "$n6" "$C/vm6.crt" held6
run cli vm rm vm6
check "vm rm vm6 exits 0" rc_is 0
sleep 0.3 # well inside idle_timeout_ms, so only removed_routes = close can end the session
touch "$E2E_TMP/held6.go"
out=$(held_result held6)
check "with removed_routes = close, the session opened before vm rm is closed: no page from vm6" \
        bash -c '[[ $1 == *elapsed=* && $1 != *"page of vm6"* ]]' _ "$out"
check "vm1 is not affected by closing vm6's sessions" eq "$(https_get "$n1" "$C/vm1.crt" 2>&1)" "page of vm1"

finish
