#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# dnsmasq at 10,000 leases (issue 6): how long a lease change takes to be served.
#
# A gateway namespace (br0 10.16.0.1/16, edgegwd with [dhcp] on br0, pool 10.16.0.100 -
# 10.16.255.254) and two VMs on the bridge: "vm" (10.16.0.5) asks DNS, "dhcp" asks DHCP.
# The store gets DR_LEASES - 1 leases in one transaction (then edgegwd is told with
# SIGHUP); then DR_REPS more leases are added one at a time, each the "last-added" of
# about DR_LEASES, and for each the bench measures:
#   - sync:    edgegwd's own time to list the leases, render the two hosts files and write
#              them (its debug log line "dhcp: N leases ... written in X ms")
#   - dns:     from the add (POST /v1/leases, or the store + SIGHUP while the API answers
#              501) to the first DNS answer for the new name at 10.16.0.1
#   - reread:  SIGHUP sent to dnsmasq directly to the first DNS answer for a name only the
#              re-read can know (appended to its hosts file by the bench): dnsmasq
#              re-reading both files at this size (it answers nothing meanwhile)
#   - dhcp:    a busybox udhcpc run with the new MAC until it is bound to its address
# and prints medians. With DR_ACTIVE=1 (the default) the bulk's leases (but its last) are
# also active DHCP leases in dnsmasq's lease database (written before it starts), as on a gateway
# whose VMs are all up: dnsmasq matches its active leases against the hosts at every
# re-read. Everything lives in namespaces named $BENCH_PREFIX-* and in a temporary
# directory, removed by the trap. Knobs: DR_LEASES (10000), DR_REPS (5), DR_ACTIVE (1).
set -u -o pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

N=${DR_LEASES:-10000}
REPS=${DR_REPS:-5}
ACTIVE=${DR_ACTIVE:-1}
((EUID == 0)) || fail "needs root (network namespaces)"
for c in dnsmasq busybox curl "$PYTHON"; do
        command -v "$c" >/dev/null || [[ -x /usr/sbin/$c ]] || fail "missing '$c' (Debian: apt-get install dnsmasq-base busybox curl python3)"
done
[[ -x $EDGEGWD ]] || fail "missing $EDGEGWD: build first (make build), or set BUILD=dir"
bench_init
machine_info
msg "dnsmasq: $(/usr/sbin/dnsmasq --version 2>/dev/null | head -n 1); edgegwd: $EDGEGWD"

GW=$BENCH_PREFIX-gw
VM=$BENCH_PREFIX-vm
DH=$BENCH_PREFIX-dhcp

# The bench's own config (lib.sh's daemon_start calls write_config).
write_config() {
        mkdir -p "$GW_STATE"
        cat >"$GW_CONF" <<EOF
[gateway]
datacenter = "bench"
domain = "example.net"
public_ip = "203.0.113.1"
state_dir = "$GW_STATE"

[dhcp]
interface = "br0"
subnet = "10.16.0.0"
subnet_mask = "255.255.0.0"
pool_start = "10.16.0.100"
pool_end = "10.16.255.254"
gateway = "10.16.0.1"
dns = "192.0.2.53"
domain = "vps.local"
unknown_clients = "deny"

[daemon]
log_level = "debug"
resync_interval = 0
EOF
}

ns_add gw || fail "namespace gw"
ns_add vm || fail "namespace vm"
ns_add dhcp || fail "namespace dhcp"
bridge_up() {
        ip -n "$GW" link add br0 type bridge && ip -n "$GW" addr add 10.16.0.1/16 dev br0 && ip -n "$GW" link set br0 up
}
# bridge_port PORT NS: NS's eth0 on br0 through the veth PORT.
bridge_port() {
        ip -n "$GW" link add "$1" type veth peer name eth0 netns "$2" && ip -n "$GW" link set "$1" master br0 up &&
                ip -n "$2" link set eth0 up
}
bridge_up || fail "br0"
bridge_port vm "$VM" || fail "veth vm"
bridge_port dh "$DH" || fail "veth dh"
ip -n "$VM" addr add 10.16.0.5/16 dev eth0 || fail "vm address"
cat >"$BENCH_TMP/udhcpc.sh" <<'EOF'
#!/bin/sh
[ "$1" = bound ] && echo "ip=$ip"
exit 0
EOF
chmod +x "$BENCH_TMP/udhcpc.sh"

if ((ACTIVE)); then
        mkdir -p "$GW_STATE/dnsmasq"
        "$PYTHON" - "$N" "$GW_STATE/dnsmasq/dnsmasq.leases" <<'PY' || fail "lease database"
import sys, time
n, path = int(sys.argv[1]), sys.argv[2]
exp = int(time.time()) + 12 * 3600
with open(path, "w") as f:
    for i in range(n - 2):  # not the bulk's last one: the bulk's time is that of its name
        v = 0x0A100064 + i
        f.write("%d 52:54:01:%02x:%02x:%02x %d.%d.%d.%d vm-%05d *\n"
                % (exp, i >> 16 & 255, i >> 8 & 255, i & 255, v >> 24, v >> 16 & 255, v >> 8 & 255, v & 255, i))
PY
fi
daemon_start
msg "edgegwd pid $DAEMON_PID, state $GW_STATE; $N leases, $REPS timed adds; active DHCP leases: $( ((ACTIVE)) && echo "$((N - 2))" || echo none)"

# The measurement, in the vm namespace (its DNS queries come from 10.16.0.5).
ip netns exec "$VM" "$PYTHON" - "$N" "$REPS" "$GW_STATE" "$GW_SOCK" "$GW_LOG" "$DAEMON_PID" "$DH" \
        "$BENCH_TMP/udhcpc.sh" <<'PY' || fail "measurement failed"
import json, os, random, signal, socket, sqlite3, statistics, struct, subprocess, sys, time

n, reps, state, sock, log, daemon_pid, dhcp_ns, script = sys.argv[1:]
n, reps, daemon_pid = int(n), int(reps), int(daemon_pid)
db_path = os.path.join(state, "edgegw.db")
pid_file = os.path.join(state, "dnsmasq", "dnsmasq.pid")
SERVER = ("10.16.0.1", 53)

def mac(i): return "52:54:01:%02x:%02x:%02x" % (i >> 16 & 255, i >> 8 & 255, i & 255)
def ip(i):
    v = 0x0A100064 + i  # 10.16.0.100 + i
    return "%d.%d.%d.%d" % (v >> 24, v >> 16 & 255, v >> 8 & 255, v & 255)
def ipint(i): return 0x0A100064 + i
def name(i): return "vm-%05d" % i

def dns_a(qname, timeout):
    """One A query; the addresses of the answer, or None on timeout."""
    qid = random.randrange(65536)
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(l)]) + l.encode() for l in qname.split(".")) + b"\0" + struct.pack("!HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, SERVER)
        while True:
            data, _ = s.recvfrom(4096)
            if struct.unpack("!H", data[:2])[0] == qid:
                break
    except (socket.timeout, OSError):
        return None
    finally:
        s.close()
    an = struct.unpack("!H", data[6:8])[0]
    off = len(q)
    out = []
    for _ in range(an):
        if data[off] & 0xC0 == 0xC0:
            off += 2
        else:
            while data[off]:
                off += data[off] + 1
            off += 1
        typ, _, _, rdlen = struct.unpack("!HHIH", data[off:off + 10])
        off += 10
        if typ == 1 and rdlen == 4:
            out.append(socket.inet_ntoa(data[off:off + 4]))
        off += rdlen
    return out

def wait_answer(qname, want, limit=60.0):
    """Seconds from now until qname answers want (asked again 1 ms after each other answer;
    a dnsmasq busy re-reading answers when it is done)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if want in (dns_a(qname, 1.0) or []):
            return time.monotonic() - t0
        time.sleep(0.001)
    raise SystemExit("no answer %s -> %s within %.0f s" % (qname, want, limit))

def api_add(i):
    body = json.dumps({"mac": mac(i), "ip": ip(i), "name": name(i)})
    r = subprocess.run(["curl", "-s", "-m", "30", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", sock,
                        "-H", "Content-Type: application/json", "-X", "POST", "--data-binary", body,
                        "http://edgegw/v1/leases"], capture_output=True, text=True)
    return r.stdout.strip()

def store_add(rows):
    db = sqlite3.connect(db_path, timeout=10)
    now = int(time.time())
    with db:
        db.executemany("INSERT INTO leases (mac, ip, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                       [(mac(i), ipint(i), name(i), now, now) for i in rows])
        db.execute("INSERT INTO changes (kind, key) VALUES ('lease', ?)", (mac(rows[-1]),))
    db.close()
    os.kill(daemon_pid, signal.SIGHUP)

def last_sync_ms(after):
    """The daemon's last 'written in X ms' line (not '(no change)') past byte offset after."""
    with open(log, "rb") as f:
        f.seek(after)
        lines = f.read().decode(errors="replace").splitlines()
    for l in reversed(lines):
        if "dhcp:" in l and "written in" in l and "no change" not in l:
            return float(l.rsplit("in ", 1)[1].split()[0]), l.split("dhcp: ", 1)[1].split(":")[0]
    return None, ""

def dnsmasq_pid():
    return int(open(pid_file).read().split()[0])

def wait_pid():
    t0 = time.monotonic()
    while time.monotonic() - t0 < 30:
        try:
            p = dnsmasq_pid()
            os.kill(p, 0)
            return p
        except (OSError, ValueError):
            time.sleep(0.05)
    raise SystemExit("edgegwd started no dnsmasq")

pid0 = wait_pid()
# Is the leases API there yet? (501 = not in this build: the store directly, then SIGHUP.)
use_api = api_add(n + 1000) in ("200", "201")
print("# leases are added through %s" % ("POST /v1/leases" if use_api else "the store + SIGHUP to edgegwd (the API answers 501)"))
# The bulk: n - 1 leases in one transaction (with the API, its probe lease is one more).
bulk = list(range(n - 1))
size = os.path.getsize(log)
t0 = time.monotonic()
store_add(bulk)
t_bulk = wait_answer(name(bulk[-1]), ip(bulk[-1]))
time.sleep(0.5)
ms, what = last_sync_ms(size)
print("bulk: %d leases in one transaction -> the last one answers after %.0f ms (edgegwd sync %s ms: %s)"
      % (len(bulk), t_bulk * 1000, "%.1f" % ms if ms is not None else "?", what))

rows = {"sync": [], "dns": [], "reread": [], "dhcp": []}
for rep in range(reps):
    i = n - 1 + rep
    # dnsmasq alone: a name only the re-read can know (appended to its hosts file behind
    # edgegwd's back; edgegwd writes the file whole at the next change), SIGHUP, then the
    # first answer for it.
    probe, probe_ip = "probe-%d" % rep, "10.16.255.%d" % (200 + rep)
    with open(os.path.join(state, "dnsmasq", "dnsmasq.hosts"), "a") as f:
        f.write("%s %s\n" % (probe_ip, probe))
    os.kill(dnsmasq_pid(), signal.SIGHUP)
    t_reread = wait_answer(probe, probe_ip)
    # edgegwd spaces its SIGHUPs by three times the CPU time dnsmasq used since its last one
    # (which now includes this re-read and the previous one): wait that out, so the add below
    # measures a lease change on a quiet gateway.
    time.sleep(max(1.2, 7 * t_reread))
    size = os.path.getsize(log)
    t0 = time.monotonic()
    if use_api:
        code = api_add(i)
        if code not in ("200", "201"):
            raise SystemExit("POST /v1/leases answered %s" % code)
    else:
        store_add([i])
    t_dns = wait_answer(name(i) + ".vps.local", ip(i))
    time.sleep(0.2)
    ms, what = last_sync_ms(size)
    # DHCP: a client with the new MAC, until it is bound.
    subprocess.run(["ip", "-n", dhcp_ns, "link", "set", "eth0", "down"], check=True)
    subprocess.run(["ip", "-n", dhcp_ns, "link", "set", "eth0", "address", mac(i)], check=True)
    subprocess.run(["ip", "-n", dhcp_ns, "link", "set", "eth0", "up"], check=True)
    t2 = time.monotonic()
    r = subprocess.run(["ip", "netns", "exec", dhcp_ns, "busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-t", "5", "-T", "1",
                        "-s", script], capture_output=True, text=True, timeout=30)
    t_dhcp = time.monotonic() - t2
    got = [l for l in r.stdout.splitlines() if l.startswith("ip=")]
    if got != ["ip=" + ip(i)]:
        raise SystemExit("DHCP for %s: expected ip=%s, got %s %s" % (mac(i), ip(i), got, r.stderr[-300:]))
    rows["sync"].append(ms if ms is not None else float("nan"))
    rows["dns"].append(t_dns * 1000)
    rows["reread"].append(t_reread * 1000)
    rows["dhcp"].append(t_dhcp * 1000)
    print("add #%d (%s %s %s): sync %s ms (%s) | add -> DNS answer %.1f ms | SIGHUP -> answer %.1f ms | udhcpc bound %.0f ms"
          % (i + 1, mac(i), ip(i), name(i), "%.1f" % ms if ms is not None else "?", what, t_dns * 1000,
             t_reread * 1000, t_dhcp * 1000))

if dnsmasq_pid() != pid0:
    raise SystemExit("dnsmasq was restarted (pid %d -> %d): a lease change must not restart it" % (pid0, dnsmasq_pid()))
print("dnsmasq pid %d throughout (lease changes never restarted it); hosts file %d bytes, dhcp-hosts %d bytes"
      % (pid0, os.path.getsize(os.path.join(state, "dnsmasq", "dnsmasq.hosts")),
         os.path.getsize(os.path.join(state, "dnsmasq", "dnsmasq.dhcp-hosts"))))
med = {k: statistics.median(v) for k, v in rows.items()}
print("median of %d adds at ~%d leases: edgegwd sync %.1f ms; add -> DNS answer %.1f ms; dnsmasq re-read "
      "(SIGHUP -> answer) %.1f ms; udhcpc bound %.0f ms" % (reps, n, med["sync"], med["dns"], med["reread"], med["dhcp"]))
PY
daemon_stop
msg "done"
