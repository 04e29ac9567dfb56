#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""edgegw control-plane benchmarks: `vm add` at scale and full-apply time.

    vm-add.py scale --build DIR [--counts 100,1000,10000] [--prefix P]
        For every N: a fresh network namespace and a fresh store; edgegwd runs inside
        the namespace (its nftables table never touches the host). N sequential
        POST /v1/vms on one keep-alive HTTP/1.1 connection over the unix socket, every
        answer checked (201, "rules": "applied"); then full applies forced with SIGHUP
        (duration from GET /v1/status), cold starts (SIGTERM, `nft delete table`, start,
        the "nft table replaced" log line), the time `nft -j list table` takes, and a
        count of the live table's elements. Last, 100 adds through the edgegw CLI
        interleaved with 100 keep-alive and 100 one-connection-per-request API adds, and a
        synthetic 100,000-port-element table applied with `nft -f` (see docs/benchmarks.md).

    vm-add.py nft-cache
        No daemon: in a namespace of its own, one VM's worth of incremental changes (a
        counter and two elements, added then deleted) sent through libnftables in-process
        against tables holding 60,000 map elements, 20,000 named counters, or 20,000
        per-element counters: shows what makes a libnftables transaction grow with the table.

    vm-add.py add --socket PATH --count N [--first I]
        Adds N VMs (ids bulk-I.., addresses in 10.64.0.0/10) through the API and checks
        every answer; used by forward-throughput.sh to fill the maps.

Every loop is bounded; the namespace, the daemon and the temporary directory are removed
on every exit path (exceptions, Ctrl-C, SIGTERM). Root is needed for `ip netns`.
"""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

# ---- HTTP over the unix socket --------------------------------------------------------


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over AF_UNIX: HTTP/1.1, keep-alive unless the server closes."""

    def __init__(self, path, timeout=30):
        super().__init__("edgegw", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def request(conn, method, path, body=None):
    headers = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=headers)
    r = conn.getresponse()
    raw = r.read()
    try:
        doc = json.loads(raw) if raw else None
    except ValueError:
        doc = None
    return r.status, doc, raw


def vm_ip(i):
    """The i-th VM address: unique, unicast, inside 10.64.0.0/10, never .0 or .255."""
    host = i % 254 + 1
    rest = i // 254
    b = rest % 256
    a = 64 + rest // 256
    if a > 127:
        raise ValueError("index %d does not fit 10.64.0.0/10" % i)
    return "10.%d.%d.%d" % (a, b, host)


def add_one(conn, vid, ip):
    """One POST /v1/vms; returns seconds. Raises on anything but 201 + applied."""
    t0 = time.perf_counter()
    status, doc, raw = request(conn, "POST", "/v1/vms", {"id": vid, "ip": ip})
    dt = time.perf_counter() - t0
    if status != 201 or not isinstance(doc, dict) or doc.get("rules") != "applied":
        raise RuntimeError("POST /v1/vms %s %s -> %s %s" % (vid, ip, status, raw[:300]))
    return dt


def add_many(sock_path, count, first=0, id_prefix="vm", progress=None):
    """count sequential adds on one keep-alive connection; returns the list of seconds."""
    conn = UnixHTTPConnection(sock_path)
    times = []
    try:
        for i in range(first, first + count):
            times.append(add_one(conn, "%s-%d" % (id_prefix, i), vm_ip(i)))
            if progress and (i - first + 1) % progress == 0:
                print("#   %d/%d added" % (i - first + 1, count), flush=True)
    finally:
        conn.close()
    return times


def get_status(sock_path):
    conn = UnixHTTPConnection(sock_path, timeout=60)
    try:
        status, doc, raw = request(conn, "GET", "/v1/status")
    finally:
        conn.close()
    if status != 200:
        raise RuntimeError("GET /v1/status -> %s %s" % (status, raw[:300]))
    return doc["reconcilers"]["nft"]


def pct(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def ms(x):
    return x * 1e3


# ---- processes and namespaces ---------------------------------------------------------


class Interrupted(Exception):
    pass


def on_signal(signo, frame):
    raise Interrupted("signal %d" % signo)


def sh(*argv, check=True, timeout=120, capture=False):
    r = subprocess.run(list(argv), timeout=timeout, stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("%s -> exit %d: %s" % (" ".join(argv), r.returncode, r.stderr.strip()))
    return r


class Gateway:
    """A fresh namespace + state directory + edgegwd. Always close() it."""

    def __init__(self, build, ns, resync=0, log_level="info"):
        self.build = build
        self.ns = ns
        self.proc = None
        self.ns_made = False
        self.tmp = tempfile.mkdtemp(prefix="edgegw-bench.")
        self.state = os.path.join(self.tmp, "state")
        self.sock = os.path.join(self.state, "edgegw.sock")
        self.conf = os.path.join(self.tmp, "edgegw.conf")
        self.logpath = os.path.join(self.tmp, "edgegwd.log")
        with open(self.conf, "w") as f:
            f.write('[gateway]\ndatacenter = "bench"\ndomain = "example.net"\npublic_ip = "203.0.113.1"\n'
                    "port_range_start = 1025\nport_range_end = 65535\nports_per_vm = 6\n"
                    'state_dir = "%s"\n\n[daemon]\nlog_level = "%s"\nresync_interval = %d\n' %
                    (self.state, log_level, resync))
        sh("ip", "netns", "add", ns)
        self.ns_made = True
        sh("ip", "-n", ns, "link", "set", "lo", "up")

    def start(self, wait_s=120):
        """Starts edgegwd; returns (seconds until /health answers, log offset at start)."""
        log = open(self.logpath, "a")
        log.write("=== start %s ===\n" % time.strftime("%T"))
        log.flush()
        offset = log.tell()
        t0 = time.perf_counter()
        # `ip netns exec` execs the daemon, so proc.pid is edgegwd's pid.
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns, os.path.join(self.build, "edgegwd"),
                                      "--config", self.conf], stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        deadline = t0 + wait_s
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("edgegwd exited during start-up (%d); log %s:\n%s" %
                                   (self.proc.returncode, self.logpath, self.log_tail()))
            if os.path.exists(self.sock):
                try:
                    conn = UnixHTTPConnection(self.sock, timeout=5)
                    status, _, _ = request(conn, "GET", "/health")
                    conn.close()
                    if status == 200:
                        return time.perf_counter() - t0, offset
                except OSError:
                    pass
            time.sleep(0.005)
        raise RuntimeError("edgegwd did not answer within %d s" % wait_s)

    def stop(self, wait_s=60):
        if not self.proc:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None
            raise RuntimeError("edgegwd did not stop within %d s of SIGTERM" % wait_s)
        self.proc = None
        if rc != 0:
            raise RuntimeError("edgegwd exited with %d after SIGTERM:\n%s" % (rc, self.log_tail()))
        return rc

    def log_since(self, offset):
        with open(self.logpath) as f:
            f.seek(offset)
            return f.read()

    def log_tail(self, n=15):
        try:
            with open(self.logpath) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def nft(self, *args, timeout=120):
        return sh("ip", "netns", "exec", self.ns, "nft", *args, timeout=timeout, capture=True)

    def close(self):
        # No Ctrl-C in the middle of the clean-up: it must finish.
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
        try:
            self._close()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)

    def _close(self):
        if self.proc:
            try:
                self.proc.kill()
                self.proc.wait(timeout=10)
            except Exception:
                pass
            self.proc = None
        if self.ns_made:
            # Anything else still living in the namespace is ours too.
            r = subprocess.run(["ip", "netns", "pids", self.ns], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)
            for pid in r.stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
            subprocess.run(["ip", "netns", "del", self.ns], stderr=subprocess.DEVNULL)
            self.ns_made = False
        shutil.rmtree(self.tmp, ignore_errors=True)


# ---- measurements ---------------------------------------------------------------------


def full_apply(gw, reps):
    """SIGHUP forces a full replace; the reconciler's own duration comes from /v1/status."""
    out = []
    for _ in range(reps):
        before = get_status(gw.sock)["runs"]
        t0 = time.perf_counter()
        gw.proc.send_signal(signal.SIGHUP)
        st = None
        deadline = t0 + 120
        while time.perf_counter() < deadline:
            st = get_status(gw.sock)
            if st["runs"] > before:
                break
            time.sleep(0.002)
        wall = time.perf_counter() - t0
        if not st or st["runs"] <= before:
            raise RuntimeError("no reconcile run within 120 s of SIGHUP")
        if st["mode"] != "full" or not st["ok"]:
            raise RuntimeError("SIGHUP run was not an ok full run: %r" % st)
        out.append((st["duration_ms"], ms(wall)))
        time.sleep(0.2)
    return out


# Logged at the end of every incremental reconcile run: the whole run (change log, nft
# batch, route publish, the wait for the proxy workers).
INC = re.compile(r"reconcile: nft changes applied in ([0-9.]+) ms")
# The route publish within it: "delta" (only the changed owners' names) or "whole".
ROUTES = re.compile(r"reconcile: proxy routes published \((\d+) names, (delta|whole)\) in ([0-9.]+) ms")
LINE = re.compile(r"reconcile: nft table replaced \((\d+) VMs\) in ([0-9.]+) ms")


def cold_start(gw, reps):
    """SIGTERM, delete the table, start: the first full reconcile runs on an empty kernel."""
    out = []
    for _ in range(reps):
        gw.stop()
        gw.nft("delete", "table", "inet", "edgegw")
        up, offset = gw.start()
        m = LINE.search(gw.log_since(offset))
        if not m:
            raise RuntimeError("no 'nft table replaced' line after start:\n%s" % gw.log_tail())
        out.append((int(m.group(1)), float(m.group(2)), ms(up)))
    return out


def table_census(gw):
    """Elements per map and counters in the live table, and how long the JSON listing takes."""
    times = []
    doc = None
    for _ in range(3):
        t0 = time.perf_counter()
        r = gw.nft("-j", "list", "table", "inet", "edgegw")
        times.append(time.perf_counter() - t0)
        doc = r.stdout
    d = json.loads(doc)
    elems = {}
    counters = 0
    for o in d["nftables"]:
        if "map" in o:
            elems[o["map"]["name"]] = len(o["map"].get("elem", []))
        elif "counter" in o:
            counters += 1
    return elems, counters, statistics.median(times)


def check_clean(gw):
    conn = UnixHTTPConnection(gw.sock, timeout=120)
    try:
        t0 = time.perf_counter()
        status, doc, raw = request(conn, "GET", "/v1/check")
        dt = time.perf_counter() - t0
    finally:
        conn.close()
    if status != 200 or not doc.get("clean"):
        raise RuntimeError("GET /v1/check not clean: %s" % raw[:500])
    return dt


def summarize(times):
    t = [ms(x) for x in times]
    return {
        "n": len(t),
        "total_s": sum(times),
        "mean": statistics.fmean(t),
        "p50": pct(t, 50),
        "p99": pct(t, 99),
        "max": max(t),
        "first100": statistics.fmean(t[:100]),
        "last100": statistics.fmean(t[-100:]),
    }


def scale_one(args, n):
    ns = "%s-gw" % args.prefix
    print("\n## vm add x %d (fresh store, namespace %s)" % (n, ns), flush=True)
    # Debug logging: the reconciler then logs how long each incremental run took and, within
    # it, the route publish (delta or whole), which splits the cost of an add into "reconcile
    # run", "route publish" and "everything else" (a few log lines per add).
    gw = Gateway(args.build, ns, log_level="debug")
    res = {"n": n}
    try:
        up, offset = gw.start()
        res["start_empty_ms"] = ms(up)
        times = add_many(gw.sock, n, progress=max(1000, n // 5) if n >= 5000 else None)
        res["add"] = summarize(times)
        a = res["add"]
        print("# %d adds: total %.2f s, mean %.3f ms, p50 %.3f ms, p99 %.3f ms, max %.1f ms, "
              "first-100 mean %.3f ms, last-100 mean %.3f ms" %
              (n, a["total_s"], a["mean"], a["p50"], a["p99"], a["max"], a["first100"], a["last100"]), flush=True)
        # Deciles: is the per-add cost flat across the run?
        dec = []
        step = n // 10
        for k in range(10):
            dec.append(statistics.fmean(ms(x) for x in times[k * step:(k + 1) * step]))
        res["deciles"] = dec
        print("# mean ms per add by tenth of the run: " + " ".join("%.3f" % x for x in dec), flush=True)
        log = gw.log_since(offset)
        inc = [float(x) for x in INC.findall(log)]
        res["inc"] = inc
        if len(inc) >= n:
            inc = inc[-n:]
            rdec = [statistics.fmean(inc[k * step:(k + 1) * step]) for k in range(10)]
            res["inc_deciles"] = rdec
            print("# of which the reconciler's incremental run (its debug log), by tenth: " +
                  " ".join("%.3f" % x for x in rdec), flush=True)
            res["inc_last100"] = statistics.fmean(inc[-100:])
        else:
            print("# (only %d incremental-run log lines for %d adds; not split)" % (len(inc), n), flush=True)
        pubs = ROUTES.findall(log)
        if len(pubs) >= n:
            pubs = pubs[-n:]
            res["routes_last100"] = statistics.fmean(float(ms_) for _, _, ms_ in pubs[-100:])
            res["routes_whole"] = sum(1 for _, how, _ in pubs if how == "whole")
            print("# of which the route publish: last-100 mean %.3f ms; of %d publishes %d rebuilt the table "
                  "whole, %d were deltas" % (res["routes_last100"], n, res["routes_whole"], n - res["routes_whole"]),
                  flush=True)
        else:
            print("# (only %d route-publish log lines for %d adds; not split)" % (len(pubs), n), flush=True)

        elems, counters, list_s = table_census(gw)
        res["elems"] = elems
        res["counters"] = counters
        res["list_ms"] = ms(list_s)
        port_elems = sum(elems.get(k, 0) for k in ("tcp4", "udp4", "tcp6", "udp6"))
        cmap_elems = sum(elems.get(k, 0) for k in ("cin4", "cout4", "cin6", "cout6"))
        print("# live table: %d port-map elements %r, %d counter-map elements, %d counters; "
              "`nft -j list table` %.1f ms" % (port_elems, {k: v for k, v in elems.items() if v}, cmap_elems,
                                               counters, ms(list_s)), flush=True)
        if port_elems != 6 * n or cmap_elems != 2 * n or counters != 2 * n:
            raise RuntimeError("live table does not hold %d VMs x (6 + 2 + 2)" % n)

        res["check_ms"] = ms(check_clean(gw))
        print("# GET /v1/check: clean in %.1f ms" % res["check_ms"], flush=True)

        fa = full_apply(gw, args.full_reps)
        res["full"] = fa
        print("# SIGHUP full replace (reconciler duration_ms / signal-to-status wall ms): " +
              ", ".join("%.1f/%.1f" % x for x in fa), flush=True)

        cs = cold_start(gw, args.cold_reps)
        res["cold"] = cs
        for vms, d, _ in cs:
            if vms != n:
                raise RuntimeError("cold start replaced %d VMs, expected %d" % (vms, n))
        print("# cold start, table deleted (log ms / start-to-/health ms): " +
              ", ".join("%.1f/%.1f" % (d, u) for _, d, u in cs), flush=True)
        gw.stop()
    finally:
        gw.close()
    return res


def cli_compare(args, n=100, warm=10):
    """Interleaves n CLI adds, n keep-alive API adds and n one-connection-per-add API adds."""
    ns = "%s-gw" % args.prefix
    print("\n## vm add through the CLI vs the API (fresh store, %d each, interleaved)" % n, flush=True)
    gw = Gateway(args.build, ns)
    cli = os.path.join(args.build, "edgegw")
    env = dict(os.environ, EDGEGW_SOCKET=gw.sock)
    ka, fresh, cl = [], [], []
    conn = None
    try:
        gw.start()
        conn = UnixHTTPConnection(gw.sock)
        idx = 0
        for i in range(warm):
            add_one(conn, "warm-%d" % i, vm_ip(idx))
            idx += 1
        for i in range(n):
            ka.append(add_one(conn, "ka-%d" % i, vm_ip(idx)))
            idx += 1
            c2 = UnixHTTPConnection(gw.sock)
            try:
                fresh.append(add_one(c2, "new-%d" % i, vm_ip(idx)))
            finally:
                c2.close()
            idx += 1
            t0 = time.perf_counter()
            r = subprocess.run([cli, "--json", "vm", "add", "cli-%d" % i, "--ip", vm_ip(idx)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
            cl.append(time.perf_counter() - t0)
            idx += 1
            if r.returncode != 0 or json.loads(r.stdout).get("rules") != "applied":
                raise RuntimeError("edgegw vm add cli-%d -> %d %s %s" % (i, r.returncode, r.stdout, r.stderr))
        # The same binary doing nothing but start and exit (dynamic linking of libcurl & co.),
        # and /bin/true: the floors of process spawn from this Python.
        spawn, true = [], []
        for _ in range(n):
            t0 = time.perf_counter()
            subprocess.run([cli, "--version"], stdout=subprocess.DEVNULL, timeout=30, check=True)
            spawn.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            subprocess.run(["/bin/true"], timeout=30, check=True)
            true.append(time.perf_counter() - t0)
        conn.close()
        conn = None
        gw.stop()
    finally:
        if conn:
            conn.close()
        gw.close()
    out = {"keepalive": summarize(ka), "newconn": summarize(fresh), "cli": summarize(cl), "spawn": summarize(spawn),
           "true": summarize(true)}
    for k, label in (("keepalive", "API, keep-alive connection"), ("newconn", "API, new connection per add"),
                     ("cli", "edgegw vm add (process per add)"), ("spawn", "edgegw --version (spawn only)"),
                     ("true", "/bin/true (spawn floor)")):
        s = out[k]
        print("# %-34s mean %.3f ms, p50 %.3f ms, p99 %.3f ms (total %.2f s for %d)" %
              (label, s["mean"], s["p50"], s["p99"], s["total_s"], s["n"]), flush=True)
    return out


def synth_script(vms, ports_per_vm, v6_share_ports):
    """An nft script shaped like nft_render_full()'s (src/nft/render.c): a counter pair per
    VM, the port maps, the counter maps. With v6_share_ports, the second half of the VMs are
    IPv6 and reuse the public ports of the first half (tcp6/udp6 are separate maps), which
    is how 10,000 VMs x 10 ports = 100,000 port elements can exist in one table at all.
    The daemon itself can never build this: its allocator shares the port space across
    address families."""
    lines = ["table inet edgegw", "delete table inet edgegw", "table inet edgegw {"]
    half = vms // 2 if v6_share_ports else vms
    maps = {k: [] for k in ("tcp4", "udp4", "tcp6", "udp6", "cin4", "cout4", "cin6", "cout6")}
    ntcp = (ports_per_vm - 1) // 2
    for i in range(vms):
        slug = "s%05d" % i
        lines.append("\tcounter in_%s {\n\t\tpackets 0 bytes 0\n\t}" % slug)
        lines.append("\tcounter out_%s {\n\t\tpackets 0 bytes 0\n\t}" % slug)
        v6 = v6_share_ports and i >= half
        j = i - half if v6 else i
        start = 1025 + j * ports_per_vm
        ip = ("2001:db8:64::%x" % (i + 1)) if v6 else vm_ip(i)
        fam = "6" if v6 else "4"
        for off in range(ports_per_vm):
            if off == 0:
                maps["tcp" + fam].append("%d : %s . 22" % (start, ip))
            elif off <= ntcp:
                maps["tcp" + fam].append("%d : %s . %d" % (start + off, ip, 10000 + off))
            else:
                maps["udp" + fam].append("%d : %s . %d" % (start + off, ip, 10000 + off))
        maps["cin" + fam].append('%s : "in_%s"' % (ip, slug))
        maps["cout" + fam].append('%s : "out_%s"' % (ip, slug))
    for name in ("tcp4", "udp4", "tcp6", "udp6"):
        addr = "ipv4_addr" if name.endswith("4") else "ipv6_addr"
        lines.append("\tmap %s {\n\t\ttype inet_service : %s . inet_service" % (name, addr))
        if maps[name]:
            lines.append("\t\telements = { " + ",\n\t\t\t     ".join(maps[name]) + " }")
        lines.append("\t}")
    for name in ("cin4", "cout4", "cin6", "cout6"):
        addr = "ipv4_addr" if name.endswith("4") else "ipv6_addr"
        lines.append("\tmap %s {\n\t\ttype %s : counter" % (name, addr))
        if maps[name]:
            lines.append("\t\telements = { " + ",\n\t\t\t     ".join(maps[name]) + " }")
        lines.append("\t}")
    lines.append("""\tchain prerouting {
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\tfib daddr type local dnat ip to tcp dport map @tcp4 comment "edgegw:dnat-tcp4"
\t\tfib daddr type local dnat ip to udp dport map @udp4 comment "edgegw:dnat-udp4"
\t\tfib daddr type local dnat ip6 to tcp dport map @tcp6 comment "edgegw:dnat-tcp6"
\t\tfib daddr type local dnat ip6 to udp dport map @udp6 comment "edgegw:dnat-udp6"
\t}
\tchain output {
\t\ttype nat hook output priority -100; policy accept;
\t\tfib daddr type local dnat ip to tcp dport map @tcp4 comment "edgegw:out-dnat-tcp4"
\t\tfib daddr type local dnat ip to udp dport map @udp4 comment "edgegw:out-dnat-udp4"
\t\tfib daddr type local dnat ip6 to tcp dport map @tcp6 comment "edgegw:out-dnat-tcp6"
\t\tfib daddr type local dnat ip6 to udp dport map @udp6 comment "edgegw:out-dnat-udp6"
\t}
\tchain forward {
\t\ttype filter hook forward priority filter; policy accept;
\t\tcounter name ip daddr map @cin4 comment "edgegw:count-in4"
\t\tcounter name ip saddr map @cout4 comment "edgegw:count-out4"
\t\tcounter name ip6 daddr map @cin6 comment "edgegw:count-in6"
\t\tcounter name ip6 saddr map @cout6 comment "edgegw:count-out6"
\t\tct status dnat accept comment "edgegw:accept-dnat"
\t}
}""")
    return "\n".join(lines) + "\n", sum(len(maps[k]) for k in ("tcp4", "udp4", "tcp6", "udp6")), \
        sum(len(maps[k]) for k in ("cin4", "cout4", "cin6", "cout6"))


def synthetic(args, reps=3):
    """`nft -f` of whole tables in a namespace of its own, no daemon: what libnftables and
    the kernel charge for the table shapes the daemon builds, up to 100,000 port elements."""
    ns = "%s-syn" % args.prefix
    print("\n## synthetic full table, `nft -f` in namespace %s (no daemon)" % ns, flush=True)
    gw = Gateway(args.build, ns)
    rows = []
    try:
        for vms, ppv, share, label in ((10000, 6, False, "10,000 IPv4 VMs x 6 ports (= the daemon's N=10,000 table)"),
                                       (10000, 10, True, "5,000 IPv4 + 5,000 IPv6 VMs x 10 ports")):
            script, pe, ce = synth_script(vms, ppv, share)
            path = os.path.join(gw.tmp, "synth.nft")
            with open(path, "w") as f:
                f.write(script)
            times = []
            for _ in range(reps + 1):  # the first one creates the table: a warm-up
                t0 = time.perf_counter()
                gw.nft("-f", path)
                times.append(time.perf_counter() - t0)
            elems, counters, _ = table_census(gw)
            got_pe = sum(elems.get(k, 0) for k in ("tcp4", "udp4", "tcp6", "udp6"))
            if got_pe != pe or counters != 2 * vms:
                raise RuntimeError("synthetic table did not load whole: %r %d" % (elems, counters))
            med = ms(statistics.median(times[1:]))
            rows.append((label, pe, ce, 2 * vms, med))
            print("# %s: %d port elems + %d counter-map elems + %d counters: replace %s ms (median %.1f)" %
                  (label, pe, ce, 2 * vms, ", ".join("%.1f" % ms(t) for t in times[1:]), med), flush=True)
        gw.nft("delete", "table", "inet", "edgegw")
    finally:
        gw.close()
    return rows


def nft_cache_inside(reps=7):
    """Runs inside a fresh namespace: the cost of one small libnftables transaction (what the
    reconciler sends per added VM) against tables of different shapes, in-process through
    libnftables like the daemon (ctypes), so no process start-up is counted."""
    import ctypes
    lib = ctypes.CDLL("libnftables.so.1")
    lib.nft_ctx_new.restype = ctypes.c_void_p
    lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
    lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
    lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
    ctx = lib.nft_ctx_new(0)
    lib.nft_ctx_buffer_output(ctx)
    lib.nft_ctx_buffer_error(ctx)

    def run(text):
        t0 = time.perf_counter()
        r = lib.nft_run_cmd_from_buffer(ctx, text.encode())
        dt = time.perf_counter() - t0
        if r != 0:
            raise RuntimeError("nft: %s" % lib.nft_ctx_get_error_buffer(ctx).decode(errors="replace"))
        return ms(dt)

    def ip(i):
        return "10.%d.%d.%d" % (64 + (i >> 16), (i >> 8) & 255, i & 255)

    head = "table inet edgegw\ndelete table inet edgegw\ntable inet edgegw {\n"
    ports = "\tmap tcp4 {\n\t\ttype inet_service : ipv4_addr . inet_service\n%s\t}\n"
    cmap = "\tmap cin4 {\n\t\ttype ipv4_addr : counter\n%s\t}\n"
    n_ctr, n_elem = 20000, 60000
    tables = [
        ("empty table (maps, no elements, no counters)", head + ports % "" + cmap % "" + "}\n"),
        ("%d map elements, no named counters" % n_elem,
         head + ports % ("\t\telements = { " + ", ".join("%d : %s . 22" % (1 + i, ip(i + 1)) for i in range(n_elem))
                         + " }\n") + cmap % "" + "}\n"),
        ("%d named counters, no map elements" % n_ctr,
         head + "".join("\tcounter c%05d {\n\t}\n" % i for i in range(n_ctr)) + ports % "" + cmap % "" + "}\n"),
        ("%d per-element counters in a set (no named counters)" % n_ctr,
         head + "\tset cin4s {\n\t\ttype ipv4_addr\n\t\tcounter\n\t\telements = { " +
         ", ".join("%s counter packets 0 bytes 0" % ip(i + 1) for i in range(n_ctr)) + " }\n\t}\n" +
         ports % "" + cmap % "" + "}\n"),
    ]
    add = ("add counter inet edgegw in_zz\nadd element inet edgegw tcp4 { 65000 : 10.127.0.1 . 22 }\n"
           "add element inet edgegw cin4 { 10.127.0.1 : \"in_zz\" }\n")
    delete = ("delete element inet edgegw cin4 { 10.127.0.1 }\ndelete element inet edgegw tcp4 { 65000 : 10.127.0.1 . 22 }\n"
              "delete counter inet edgegw in_zz\n")
    rows = []
    for label, text in tables:
        run(text)
        a, d = [], []
        for _ in range(reps):
            a.append(run(add))
            d.append(run(delete))
        rows.append((label, statistics.median(a), statistics.median(d)))
    run("delete table inet edgegw\n")
    lib.nft_ctx_free(ctx)
    print(json.dumps(rows))


def nft_cache(args):
    ns = "%s-nftc" % args.prefix
    print("\n## libnftables: one VM's incremental transaction against tables of different shapes "
          "(namespace %s, no daemon)" % ns, flush=True)
    gw = Gateway(args.build, ns)
    try:
        r = subprocess.run(["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__), "nft-cache",
                            "--inside"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError("nft-cache probe failed: %s" % r.stderr[-2000:])
        rows = json.loads(r.stdout.strip().splitlines()[-1])
    finally:
        gw.close()
    print("| table already holding | add counter + 2 elements, median ms | delete them, median ms |")
    print("|---|---:|---:|")
    for label, a, d in rows:
        print("| %s | %.2f | %.2f |" % (label, a, d))
    return rows


def cmd_scale(args):
    counts = [int(x) for x in args.counts.split(",")]
    results = [scale_one(args, n) for n in counts]
    cli = cli_compare(args)
    syn = synthetic(args)

    print("\n## summary: vm add (POST /v1/vms, keep-alive, ports_per_vm = 6)")
    print("| N | total s | mean ms | p50 ms | p99 ms | max ms | first 100 mean ms | last 100 mean ms | "
          "last 100: reconcile run ms | last 100: of which route publish ms |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        a = r["add"]
        print("| %d | %.2f | %.3f | %.3f | %.3f | %.1f | %.3f | %.3f | %s | %s |" %
              (r["n"], a["total_s"], a["mean"], a["p50"], a["p99"], a["max"], a["first100"], a["last100"],
               "%.3f" % r["inc_last100"] if "inc_last100" in r else "n/a",
               "%.3f" % r["routes_last100"] if "routes_last100" in r else "n/a"))
    print("\nmean ms per add by tenth of the run (HTTP round trip / of which the reconcile run):")
    for r in results:
        print("N=%d: %s" % (r["n"], "  ".join("%.2f/%s" % (d, "%.2f" % i if i is not None else "-") for d, i in
                                             zip(r["deciles"], r.get("inc_deciles", [None] * 10)))))
    print("\n## summary: full apply (whole table replaced in one transaction)")
    print("| N | elements (port + counter-map) + counters | SIGHUP median ms (min-max) | SIGHUP ms/VM | "
          "cold start median ms (min-max) | cold ms/VM | `nft -j list table` ms | start to /health ms |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        n = r["n"]
        f = [x[0] for x in r["full"]]
        c = [x[1] for x in r["cold"]]
        u = [x[2] for x in r["cold"]]
        print("| %d | %d + %d + %d | %.1f (%.1f-%.1f) | %.3f | %.1f (%.1f-%.1f) | %.3f | %.1f | %.0f |" %
              (n, 6 * n, 2 * n, 2 * n, statistics.median(f), min(f), max(f), statistics.median(f) / n,
               statistics.median(c), min(c), max(c), statistics.median(c) / n, r["list_ms"], statistics.median(u)))
    print("\n## summary: one add, CLI vs API (100 each, interleaved, fresh store)")
    print("| client | mean ms | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|")
    for k, label in (("keepalive", "API, keep-alive HTTP/1.1"), ("newconn", "API, new connection per add"),
                     ("cli", "`edgegw vm add` (process per add)"), ("spawn", "`edgegw --version` (spawn only)"),
                     ("true", "`/bin/true` (spawn floor)")):
        s = cli[k]
        print("| %s | %.3f | %.3f | %.3f |" % (label, s["mean"], s["p50"], s["p99"]))
    print("ratio CLI / keep-alive API (p50): %.2f" % (cli["cli"]["p50"] / cli["keepalive"]["p50"]))
    print("\n## summary: synthetic `nft -f` full table (no daemon)")
    print("| table | port elems | counter-map elems | counters | replace median ms |")
    print("|---|---:|---:|---:|---:|")
    for label, pe, ce, cn, med in syn:
        print("| %s | %d | %d | %d | %.1f |" % (label, pe, ce, cn, med))
    return 0


def cmd_add(args):
    t0 = time.perf_counter()
    times = add_many(args.socket, args.count, first=args.first, id_prefix=args.id_prefix,
                     progress=2000 if args.count >= 2000 else None)
    s = summarize(times)
    print("# added %d VMs in %.2f s (mean %.3f ms, p99 %.3f ms, last-100 mean %.3f ms)" %
          (args.count, time.perf_counter() - t0, s["mean"], s["p99"], s["last100"]), flush=True)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("scale")
    p.add_argument("--build", required=True)
    p.add_argument("--counts", default="100,1000,10000")
    p.add_argument("--prefix", default=os.environ.get("BENCH_PREFIX", "egbench%d" % os.getpid()))
    p.add_argument("--full-reps", type=int, default=5)
    p.add_argument("--cold-reps", type=int, default=3)
    p = sub.add_parser("add")
    p.add_argument("--socket", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--first", type=int, default=0)
    p.add_argument("--id-prefix", default="bulk")
    p = sub.add_parser("nft-cache")
    p.add_argument("--build", default=".")
    p.add_argument("--prefix", default=os.environ.get("BENCH_PREFIX", "egbench%d" % os.getpid()))
    p.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    if args.cmd == "scale":
        args.build = os.path.abspath(args.build)
        for b in ("edgegwd", "edgegw"):
            if not os.access(os.path.join(args.build, b), os.X_OK):
                print("vm-add.py: missing %s/%s (build first)" % (args.build, b), file=sys.stderr)
                return 1
        return cmd_scale(args)
    if args.cmd == "nft-cache":
        if args.inside:
            nft_cache_inside()
        else:
            nft_cache(args)
        return 0
    return cmd_add(args)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Interrupted as e:
        print("vm-add.py: interrupted (%s); cleaned up" % e, file=sys.stderr)
        sys.exit(130)
