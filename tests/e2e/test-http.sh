#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC1091,SC2034,SC2154,SC2016  # lib.sh is sourced; CFG_* are read by lib.sh; add_vm
# assigns the name variables; bash -c snippets are single-quoted on purpose
#
# A user's visitors type http://NAME/...: the gateway's :80 (the [proxy] default "[::]:80")
# answers 301 Location: https://NAME/PATH?QUERY for every name, known or not, over IPv4 and
# IPv6; requests without a Host or with a malformed request line get 400. A VM added with
# --http-passthrough gets its plain-HTTP requests relayed to its own port 80 instead, so an
# ACME HTTP-01 challenge under /.well-known/acme-challenge/ is answered by the VM itself
# (a passthrough VM with nothing on :80 gives 502, one whose --allow excludes the client
# 403). A client that sends half a request head gets 408 after hello_timeout_ms, one that
# sends nothing is just closed.
source "$(dirname "$0")/lib.sh"

CFG_EXTRA='[proxy]
hello_timeout_ms = 1000'

step "topology up" topo_up
step "lab namespace with 10.0.1.7 and 10.0.1.8" vm_ns lab 10.0.1.7 10.0.1.8
NS_LAB=$PFX-lab
step "edgegwd starts with the default [proxy] listeners, hello_timeout_ms = 1000" daemon_start
log "$TEST_NAME: namespaces $PFX-*, edgegwd pid $DAEMON_PID, state $E2E_STATE"

add_vm n1 vm1 --ip 10.0.1.5 --http-passthrough
add_vm n2 vm2 --ip 10.0.1.6
add_vm nd down --ip 10.0.1.7 --http-passthrough
add_vm nf fenced --ip 10.0.1.8 --http-passthrough --allow 198.51.100.0/24

# vm1 serves an ACME challenge file on its own :80 (python's http.server, which logs every
# request); vm2 and "down" run nothing on :80.
token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
mkdir -p "$E2E_TMP/www1/.well-known/acme-challenge"
echo "$token.vm1-key-authorization" >"$E2E_TMP/www1/.well-known/acme-challenge/x"
ip netns exec "$NS_VM1" python3 -m http.server 80 --bind 10.0.1.5 --directory "$E2E_TMP/www1" \
        </dev/null >"$E2E_TMP/vm1-http.log" 2>&1 &
BG_PIDS+=($!)
step "vm1 serves HTTP on 10.0.1.5:80" wait_listening "$NS_VM1" tcp 80
step "gw listens on :80" wait_listening "$NS_GW" tcp 80

# http_req ARGS...: curl -si from the client (bounded); prints the response with CRs removed.
http_req() {
        ip netns exec "$NS_CLIENT" curl -si -m 8 --connect-timeout 3 "$@" | tr -d '\r'
}
status() { head -n 1 <<<"$1" | awk '{print $2}'; }
header() { sed -n "s/^$2: //Ip" <<<"$1" | head -n 1; }
body() { sed '1,/^$/d' <<<"$1"; }

# -- the redirect
r=$(http_req -H "Host: $n2" "http://$PUBLIC4/some/path?q=1")
check "GET http://$n2/some/path?q=1 answers 301" eq "$(status "$r")" 301
check "... with Location: https://$n2/some/path?q=1" eq "$(header "$r" Location)" "https://$n2/some/path?q=1"
r=$(http_req -H "Host: $n2" "http://$PUBLIC4/")
check "GET http://$n2/ redirects to https://$n2/" eq "$(status "$r") $(header "$r" Location)" "301 https://$n2/"
r=$(http_req -H "Host: ${n2^^}:80" "http://$PUBLIC4/a%20b/c?x=1&y=2#frag")
check "Host with a port and in upper case: Location is https://<lower-case name>/ without :80, path and query kept as sent" \
        eq "$(status "$r") $(header "$r" Location)" "301 https://$n2/a%20b/c?x=1&y=2"
r=$(http_req -g -H "Host: $n2" "http://[$PUBLIC6]/v6/path")
check "the same redirect over IPv6 via [$PUBLIC6]" eq "$(status "$r") $(header "$r" Location)" "301 https://$n2/v6/path"
r=$(http_req -H "Host: nobody.example" "http://$PUBLIC4/x?y")
check "an unknown Host is redirected too (the redirect does not look the name up)" \
        eq "$(status "$r") $(header "$r" Location)" "301 https://nobody.example/x?y"
r=$(http_req "http://$PUBLIC4/ip-literal")
check "a request to the bare address (Host: $PUBLIC4) is redirected to https://$PUBLIC4/" \
        eq "$(status "$r") $(header "$r" Location)" "301 https://$PUBLIC4/ip-literal"
r=$(http_req -X POST -d 'a=1' -H "Host: $n2" "http://$PUBLIC4/form")
check "a POST with a body is redirected as well" eq "$(status "$r") $(header "$r" Location)" "301 https://$n2/form"
r=$(printf 'GET /old HTTP/1.0\r\nHost: %s\r\n\r\n' "$n2" | tcp_send "$PUBLIC4" 80 | tr -d '\r')
check "an HTTP/1.0 request with Host is redirected" eq "$(status "$r") $(header "$r" Location)" "301 https://$n2/old"
r=$(printf 'GET http://%s/abs?x HTTP/1.1\r\nHost: %s\r\n\r\n' "$n2" "$n2" | tcp_send "$PUBLIC4" 80 | tr -d '\r')
check "an absolute-form request (GET http://$n2/abs?x) is redirected to https://$n2/abs?x" \
        eq "$(status "$r") $(header "$r" Location)" "301 https://$n2/abs?x"
r=$(http_req -g "http://[$PUBLIC6]/lit")
check "a request to the bare IPv6 address keeps the brackets: https://[$PUBLIC6]/lit" \
        eq "$(status "$r") $(header "$r" Location)" "301 https://[$PUBLIC6]/lit"
check "the 301 says Connection: close and has an empty body" \
        eq "$(header "$r" Connection) $(header "$r" Content-Length)" "close 0"

# -- bad requests
r=$(http_req -H 'Host:' "http://$PUBLIC4/no-host")
check "HTTP/1.1 without a Host header: 400" eq "$(status "$r")" 400
r=$(printf 'GET / HTTP/1.0\r\n\r\n' | tcp_send "$PUBLIC4" 80 | tr -d '\r')
check "HTTP/1.0 without a Host header (nowhere to redirect to): 400" eq "$(status "$r")" 400
r=$(printf 'GARBAGE\r\n\r\n' | tcp_send "$PUBLIC4" 80 | tr -d '\r')
check "a malformed request line (GARBAGE): 400" eq "$(status "$r")" 400
r=$(printf 'GET /a b HTTP/1.1\r\nHost: %s\r\n\r\n' "$n2" | tcp_send "$PUBLIC4" 80 | tr -d '\r')
check "a request line with a space in the target: 400" eq "$(status "$r")" 400
r=$(printf 'GET / HTTP/1.1\r\nHost: %s\r\nHost: other.example\r\n\r\n' "$n2" | tcp_send "$PUBLIC4" 80 | tr -d '\r')
check "two Host headers: 400" eq "$(status "$r")" 400
r=$(printf 'GET / HTTP/1.1\nHost: %s\n\n' "$n2" | tcp_send "$PUBLIC4" 80 | tr -d '\r')
check "bare LF line endings: 400" eq "$(status "$r")" 400
r=$(http_req -H "Host: $n2" -H "X-Big: $(head -c 9000 /dev/zero | tr '\0' a)" "http://$PUBLIC4/")
check "a request head larger than 8 KiB: 431" eq "$(status "$r")" 431

# -- slow clients (hello_timeout_ms = 1000)
# slow_head DATA: connects from the client, sends DATA (printf escapes), then waits for the
# answer and the close; prints key=value lines: reply (first line), eof, elapsed.
slow_head() {
        ip netns exec "$NS_CLIENT" timeout 15 python3 -c '
import socket, sys, time
s = socket.create_connection((sys.argv[1], 80), timeout=3)
t0 = time.monotonic()
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
reply, eof = b"", 0
s.settimeout(8)
try:
    while True:
        d = s.recv(4096)
        if not d:
            eof = 1; break
        reply += d
except socket.timeout:
    pass
except OSError:
    eof = 1
print("reply=%s" % reply.decode(errors="replace").split("\r\n")[0])
print("eof=%d" % eof)
print("elapsed=%.3f" % (time.monotonic() - t0))' "$PUBLIC4" "$1"
}
out=$(slow_head 'GET /slow HTTP/1.1\r\nHost: '"$n2"'\r\n')
check "half a request head, then nothing: 408 Request Timeout" eq "$(kv reply <<<"$out")" "HTTP/1.1 408 Request Timeout"
check "... about hello_timeout_ms (1000) after connecting (took $(kv elapsed <<<"$out") s), then the close" \
        bash -c '[[ $1 == 1 ]] && awk -v e="$2" "BEGIN { exit !(e >= 0.8 && e <= 3) }"' _ "$(kv eof <<<"$out")" "$(kv elapsed <<<"$out")"
out=$(slow_head '')
check "a client that sends nothing on :80 is closed without an answer after about 1 s (took $(kv elapsed <<<"$out") s)" \
        bash -c '[[ $1 == 1 && -z $3 ]] && awk -v e="$2" "BEGIN { exit !(e >= 0.8 && e <= 3) }"' _ \
        "$(kv eof <<<"$out")" "$(kv elapsed <<<"$out")" "$(kv reply <<<"$out")"

# -- passthrough to the VM's own :80
r=$(http_req -H "Host: $n1" "http://$PUBLIC4/.well-known/acme-challenge/x")
check "--http-passthrough: GET http://$n1/.well-known/acme-challenge/x is answered by vm1 (200)" eq "$(status "$r")" 200
check "... with vm1's file as the body" eq "$(body "$r")" "$token.vm1-key-authorization"
check "... and vm1's own web server logged the request" grep -q 'GET /.well-known/acme-challenge/x HTTP/1.1" 200' "$E2E_TMP/vm1-http.log"
r=$(http_req -g -H "Host: $n1" "http://[$PUBLIC6]/.well-known/acme-challenge/x")
check "--http-passthrough over IPv6 too" eq "$(status "$r") $(body "$r")" "200 $token.vm1-key-authorization"
r=$(http_req -H "Host: $n1" "http://$PUBLIC4/not-there")
check "--http-passthrough relays every path, not only ACME: vm1's own 404 for /not-there" \
        eq "$(status "$r") $(header "$r" Server | cut -d/ -f1)" "404 SimpleHTTP"
r=$(http_req -H "Host: ${n1^^}:80" "http://$PUBLIC4/.well-known/acme-challenge/x")
check "--http-passthrough matches the Host case-insensitively and without its port" eq "$(status "$r")" 200
r=$(http_req -H "Host: $n2" "http://$PUBLIC4/.well-known/acme-challenge/x")
check "a VM without --http-passthrough gets the 301 even for ACME paths" \
        eq "$(status "$r") $(header "$r" Location)" "301 https://$n2/.well-known/acme-challenge/x"
r=$(http_req -H "Host: $nd" "http://$PUBLIC4/.well-known/acme-challenge/x")
check "--http-passthrough to a VM with nothing on :80: 502" eq "$(status "$r")" 502
r=$(http_req -H "Host: $nf" "http://$PUBLIC4/.well-known/acme-challenge/x")
check "--http-passthrough with --allow 198.51.100.0/24: the client 203.0.113.9 gets 403" eq "$(status "$r")" 403

finish
