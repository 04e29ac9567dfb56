#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC1091,SC2034,SC2154  # lib.sh is sourced; CFG_* are read by lib.sh
#
# An operator changes things while visitors are connected: a long TLS session through :443
# keeps flowing, byte for byte, across a SIGHUP reload, a reload that changes [proxy]
# limits (which only apply at the next start), and VMs being added and removed around it.
# A VM's name routes on the very first try once `vm add` has returned. And a second
# gateway on the same host cannot quietly share :443 with the first.
source "$(dirname "$0")/lib.sh"

step "topology up" topo_up
step "edgegwd starts" daemon_start
log "$TEST_NAME: namespaces $PFX-*, edgegwd pid $DAEMON_PID, state $E2E_STATE"

add_vm n1 vm1 --ip 10.0.1.5

# vm1:443 echoes every byte it receives (the ClientHello first, then the pings).
ip netns exec "$NS_VM1" socat TCP-LISTEN:443,fork,reuseaddr EXEC:cat </dev/null >/dev/null 2>&1 &
BG_PIDS+=($!)
step "vm1 echoes on :443" wait_listening "$NS_VM1" tcp 443

# A client that keeps one session open for DURATION seconds: a ClientHello for NAME, then
# one numbered line every 0.25 s; it counts the lines that come back (after the echoed
# hello) and reports whether the session ever broke.
E2E_PY_SESSION='
import socket, struct, sys, time, os
host, name, duration = sys.argv[1], sys.argv[2], float(sys.argv[3])
n = name.encode()
entry = b"\x00" + struct.pack("!H", len(n)) + n
ext = struct.pack("!HH", 0, len(entry) + 2) + struct.pack("!H", len(entry)) + entry
body = b"\x03\x03" + os.urandom(32) + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00" + struct.pack("!H", len(ext)) + ext
hs = b"\x01" + struct.pack("!I", len(body))[1:] + body
hello = b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs
s = socket.create_connection((host, 443), timeout=5)
s.sendall(hello)
got = b""
while len(got) < len(hello):
    d = s.recv(65536)
    if not d:
        print("sent=0\nechoed=0\nbroken=1"); sys.exit(0)
    got += d
got = got[len(hello):]
sent = echoed = 0
broken = 0
end = time.monotonic() + duration
s.settimeout(2)
try:
    while time.monotonic() < end:
        line = b"ping %d\n" % sent
        s.sendall(line); sent += 1
        while got.count(b"\n") < sent:
            d = s.recv(65536)
            if not d:
                raise EOFError()
            got += d
        time.sleep(0.25)
except Exception:
    broken = 1
echoed = got.count(b"\n")
ok = got == b"".join(b"ping %d\n" % i for i in range(echoed))
print("sent=%d\nechoed=%d\nbroken=%d\nin_order=%d" % (sent, echoed, broken, ok))
'
ip netns exec "$NS_CLIENT" timeout 40 python3 -c "$E2E_PY_SESSION" "$PUBLIC4" "$n1" 8 \
        >"$E2E_TMP/session.out" 2>&1 &
session_pid=$!
sleep 1

step "SIGHUP while the session runs" daemon_reload
add_vm n2 vm2 --ip 10.0.1.6
run cli vm rm vm2
check "vm rm vm2 while the session runs" rc_is 0
CFG_EXTRA='[proxy]
hello_timeout_ms = 2500
max_connections_per_source = 100'
step "SIGHUP with changed [proxy] limits" daemon_reload
check "the daemon says listeners and limits wait for the next start" \
        grep -q "apply at the next restart" "$DAEMON_LOG"

wait "$session_pid"
session=$(cat "$E2E_TMP/session.out")
log "session: $(tr '\n' ' ' <<<"$session")"
check "the long session was never broken" eq "$(kv broken <<<"$session")" 0
check "every line sent came back (sent $(kv sent <<<"$session"))" \
        eq "$(kv echoed <<<"$session")" "$(kv sent <<<"$session")"
check "the echoed lines came back in order" eq "$(kv in_order <<<"$session")" 1
check "the session carried lines for the whole 8 s (>= 20)" test "$(kv sent <<<"$session")" -ge 20

# Bulk both ways at once: 16 MiB written while reading the echo, then a half-close; every
# byte must come back in order and the close must follow.
E2E_PY_BULK='
import hashlib, os, socket, struct, sys, threading
host, name = sys.argv[1], sys.argv[2]
n = name.encode()
entry = b"\x00" + struct.pack("!H", len(n)) + n
ext = struct.pack("!HH", 0, len(entry) + 2) + struct.pack("!H", len(entry)) + entry
body = b"\x03\x03" + os.urandom(32) + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00" + struct.pack("!H", len(ext)) + ext
hs = b"\x01" + struct.pack("!I", len(body))[1:] + body
data = b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs + os.urandom(16 << 20)
s = socket.create_connection((host, 443), timeout=20)
def send():
    s.sendall(data); s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=send); t.start()
h, got = hashlib.sha256(), 0
while True:
    d = s.recv(1 << 20)
    if not d: break
    h.update(d); got += len(d)
t.join()
print("sent=%d\ngot=%d\nsame=%d" % (len(data), got, h.digest() == hashlib.sha256(data).digest()))
'
bulk=$(ip netns exec "$NS_CLIENT" timeout 60 python3 -c "$E2E_PY_BULK" "$PUBLIC4" "$n1" 2>&1)
log "bulk: $(tr '\n' ' ' <<<"$bulk")"
check "16 MiB echoed through the relay come back complete" eq "$(kv got <<<"$bulk")" "$((16 * 1024 * 1024 + $(kv sent <<<"$bulk") - 16 * 1024 * 1024))"
check "...all 16 MiB and the hello were sent" test "${bulk_sent:=$(kv sent <<<"$bulk")}" -gt $((16 * 1024 * 1024))
check "...byte for byte, and the half-close reached the VM and came back" eq "$(kv same <<<"$bulk")" 1

# Per-route counters in GET /v1/status: vm1's name carried the long session and the bulk
# echo (>= 2 connections, > 16 MiB each way); a VM whose allow-list excludes the client
# counts the refusal under its own name.
add_vm nf fenced --ip 10.0.1.7 --allow 198.51.100.0/24
r=$(hello_probe "$PUBLIC4" 443 --sni "$nf" --wait 2)
check "the fenced VM refuses the client (closed, nothing relayed)" eq "$(kv reply_hex <<<"$r")" ""
status=$(curl -sf -m 5 --unix-socket "$E2E_SOCK" http://edgegw/v1/status)
route_field() { json "d['proxy']['routes'].get('$1', {}).get('$2', 0) if '$2' != 'not_allowed' else d['proxy']['routes'].get('$1', {}).get('rejected', {}).get('not_allowed', 0)" <<<"$status"; }
log "status routes: $(json "d['proxy']['routes']" <<<"$status")"
check "status counts vm1's connections (>= 2)" test "$(route_field "$n1" connections)" -ge 2
check "status counts vm1's bytes client -> VM (> 16 MiB)" test "$(route_field "$n1" bytes_in)" -gt $((16 * 1024 * 1024))
check "status counts vm1's bytes VM -> client (> 16 MiB)" test "$(route_field "$n1" bytes_out)" -gt $((16 * 1024 * 1024))
check "status counts the fenced VM's refusal under its name" eq "$(route_field "$nf" not_allowed)" 1
check "...and no connection for it" eq "$(route_field "$nf" connections)" 0
run cli vm rm fenced

# A VM routes on the first try after `vm add` returns: the API waits for the reconciler,
# which publishes the routes and wakes the workers before it answers.
record_backend "$NS_VM2" 10.0.1.6 443 "$E2E_TMP/be2"
step "vm2 records on :443" wait_listening "$NS_VM2" tcp 443
first_ok=0
for i in 1 2 3 4 5; do
        add_vm nn "fresh$i" --ip 10.0.1.6
        r=$(hello_probe "$PUBLIC4" 443 --sni "$nn" --wait 2)
        [[ $(kv reply_text <<<"$r") == "backend got"* ]] && first_ok=$((first_ok + 1))
        run cli vm rm "fresh$i"
done
check "5 of 5 freshly added VMs routed on the first connection" eq "$first_ok" 5

# Another gateway instance (its own state dir) in the same namespace must not share :443.
other=$E2E_TMP/other
mkdir -p "$other/state"
sed "s|^state_dir = .*|state_dir = \"$other/state\"|" "$E2E_CONF" >"$other/edgegw.conf"
run ip netns exec "$NS_GW" timeout 10 "$EDGEGWD" --config "$other/edgegw.conf"
check "a second edgegwd refuses to start while :443 is taken" not rc_is 0
check "...and says why" contains "$ERR" "cannot listen on [::]:443"
run cli check
check "...before touching the first gateway's nft table (edgegw check is clean)" rc_is 0
r=$(hello_probe "$PUBLIC4" 443 --sni "$n1" --wait 2)
check "the first gateway still routes vm1's name" contains "$(kv reply_hex <<<"$r")" "160301"

finish
