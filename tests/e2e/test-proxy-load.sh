#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC1091,SC2034,SC2154,SC2016  # lib.sh is sourced; CFG_* are read by lib.sh; add_vm
# assigns the name variables; bash -c snippets are single-quoted on purpose
#
# A popular VM: 2,000 TLS clients at once reach it by name through the gateway's :443 (all
# from one address, so the test raises max_connections_per_source). Every one completes
# its handshake with the VM's own certificate and reads the VM's greeting while all 2,000
# are open together; afterwards the proxy holds no connection any more and still routes.
# The machine allows 20,000 open files per process: 2,000 relays are 4,000 sockets in
# edgegwd, 2,000 in the client and in the server.
source "$(dirname "$0")/lib.sh"

N=${LOAD_CONNECTIONS:-2000}
CFG_EXTRA='[proxy]
max_connections = 8000
max_connections_per_source = 5000'

step "topology up" topo_up
step "edgegwd starts with [proxy] max_connections_per_source = 5000" daemon_start
log "$TEST_NAME: namespaces $PFX-*, edgegwd pid $DAEMON_PID, state $E2E_STATE"

add_vm n1 vm1 --ip 10.0.1.5
step "certificate for vm1 ($n1)" make_cert "$n1" "$E2E_TMP/vm1"

# The VM: an asyncio TLS server that greets every connection with one line and keeps it open
# until the client closes (a single-threaded openssl s_server would be the bottleneck).
ip netns exec "$NS_VM1" python3 -c '
import asyncio, ssl, sys
cert, key = sys.argv[1], sys.argv[2]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
count = 0
async def handle(r, w):
    global count
    count += 1
    try:
        w.write(b"hello %d from vm1\n" % count)
        await w.drain()
        await r.read()
    except Exception:
        pass
    w.close()
async def main():
    srv = await asyncio.start_server(handle, "10.0.1.5", 443, ssl=ctx, backlog=4096, ssl_handshake_timeout=60)
    async with srv:
        await srv.serve_forever()
asyncio.run(main())' "$E2E_TMP/vm1.crt" "$E2E_TMP/vm1.key" </dev/null >"$E2E_TMP/vm1-tls.log" 2>&1 &
BG_PIDS+=($!)
step "vm1's TLS server listens on 10.0.1.5:443" wait_listening "$NS_VM1" tcp 443
step "gw listens on :443" wait_listening "$NS_GW" tcp 443
# tls_line: one TLS client, verifying vm1's certificate for its name; prints the greeting.
tls_line() {
        in_ns "$NS_CLIENT" timeout 10 python3 -c '
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[3])
with socket.create_connection((sys.argv[1], 443), timeout=8) as s:
    with ctx.wrap_socket(s, server_hostname=sys.argv[2]) as t:
        print(t.makefile().readline().strip())' "$PUBLIC4" "$n1" "$E2E_TMP/vm1.crt" 2>&1
}
check "one TLS client reaches vm1 by name first" contains "$(tls_line)" "from vm1"

# The clients: N connections opened with at most 200 handshakes in flight; each verifies
# vm1's certificate for the name, reads the greeting, then stays open until all N have theirs.
start=$SECONDS
out=$(ip netns exec "$NS_CLIENT" timeout 90 python3 -c '
import asyncio, collections, ssl, sys, time
host, name, cafile, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ctx = ssl.create_default_context(cafile=cafile)
ok, open_now, peak = 0, 0, 0
errors = collections.Counter()
all_in = asyncio.Event()
gate = asyncio.Semaphore(200)
async def one(i):
    global ok, open_now, peak
    w = None
    try:
        async with gate:
            r, w = await asyncio.wait_for(asyncio.open_connection(host, 443, ssl=ctx, server_hostname=name), 30)
            open_now += 1
            peak = max(peak, open_now)
            line = await asyncio.wait_for(r.readline(), 30)
        if not line.endswith(b" from vm1\n"):
            raise ValueError("unexpected greeting %r" % line)
        ok += 1
        if ok == n:
            all_in.set()
        await asyncio.wait_for(all_in.wait(), 45)
    except Exception as e:
        errors[type(e).__name__] += 1
        if ok + sum(errors.values()) == n:
            all_in.set()
    finally:
        if w is not None:
            open_now -= 1
            w.close()
async def main():
    t0 = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(n)))
    print("ok=%d" % ok)
    print("peak=%d" % peak)
    print("errors=%s" % dict(errors))
    print("elapsed=%.1f" % (time.monotonic() - t0))
asyncio.run(main())' "$PUBLIC4" "$n1" "$E2E_TMP/vm1.crt" "$N" 2>&1)
took=$((SECONDS - start))
log "load: $(tr '\n' ' ' <<<"$out")"
check "$N concurrent TLS clients through the proxy all finish the handshake and read vm1's greeting" \
        eq "$(kv ok <<<"$out") $(kv errors <<<"$out")" "$N {}"
check "all $N were open at the same time" eq "$(kv peak <<<"$out")" "$N"
check "... within 60 s (took ${took}s)" test "$took" -le 60

# Afterwards: every relay is gone from gw (both sides), and a new client still gets through.
established() {
        in_ns "$NS_GW" ss -Htn state established "( sport = :443 or dport = :443 )" | wc -l
}
gone() {
        local i n
        for ((i = 0; i < 100; i++)); do
                n=$(established)
                ((n == 0)) && return 0
                sleep 0.1
        done
        echo "gw still has $n established connections on :443 after 10 s"
        return 1
}
check "within 10 s edgegwd holds no connection to or from :443 any more" gone
# fd_kinds PID: "N socket, N pipe, N other" open files of PID.
fd_kinds() {
        find "/proc/$1/fd" -mindepth 1 -maxdepth 1 -printf '%l\n' 2>/dev/null |
                awk '/^socket:/ { s++; next } /^pipe:/ { p++; next } { o++ } END { printf "%d socket, %d pipe, %d other\n", s, p, o }'
}
# The pipe pool keeps at most 64 empty pipes (128 files) per worker; allow for 4 workers.
few_fds() {
        local k i
        for ((i = 0; i < 20; i++)); do
                k=$(fd_kinds "$DAEMON_PID")
                (($(awk '{ print $1 }' <<<"$k") < 50 && $(awk '{ print $3 }' <<<"$k") <= 512)) && return 0
                sleep 0.25
        done
        echo "edgegwd still has $k open"
        return 1
}
log "edgegwd open files right after: $(fd_kinds "$DAEMON_PID")"
check "edgegwd's open files are back to a handful: no leaked sockets, only the pooled pipes" few_fds
log "edgegwd open files now: $(fd_kinds "$DAEMON_PID")"
check "a new client still reaches vm1 after the storm" contains "$(tls_line)" "from vm1"

# The per-source limit itself: with max_connections_per_source = 50, 80 silent connections
# from the client's IPv4 address leave 50 open (until hello_timeout_ms) and 30 closed at
# once, while another source address (the client's IPv6 one) is still accepted.
daemon_stop
CFG_EXTRA='[proxy]
max_connections_per_source = 50
hello_timeout_ms = 3000'
step "edgegwd restarts with max_connections_per_source = 50" daemon_start
step "gw listens on :443 again" wait_listening "$NS_GW" tcp 443
out=$(ip netns exec "$NS_CLIENT" timeout 20 python3 -c '
import select, socket, time
def closed(s):
    if not select.select([s], [], [], 0)[0]:
        return False
    try:
        return s.recv(1) == b""
    except OSError:
        return True
socks = [socket.create_connection(("203.0.113.1", 443), timeout=3) for _ in range(80)]
time.sleep(0.7)
print("v4_closed=%d" % sum(closed(s) for s in socks))
v6 = socket.create_connection(("2001:db8:ff::1", 443), timeout=3)
time.sleep(0.5)
print("v6_closed=%d" % closed(v6))
for s in socks + [v6]:
    s.close()
time.sleep(0.5)
again = socket.create_connection(("203.0.113.1", 443), timeout=3)
time.sleep(0.5)
print("again_closed=%d" % closed(again))' 2>&1)
check "80 connections from one address with max_connections_per_source = 50: 30 are closed at once" \
        eq "$(kv v4_closed <<<"$out")" 30
check "... while a client from another address is still accepted" eq "$(kv v6_closed <<<"$out")" 0
check "... and once those 80 are closed, the address gets in again" eq "$(kv again_closed <<<"$out")" 0

finish
