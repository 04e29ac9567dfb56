#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Helpers for bench/proxy-compare.sh (see docs/benchmarks.md, "SNI proxy vs ...").

  pc.py stat PID...            CPU time and RSS of each PID and all its descendants, summed:
                               prints "cpu_s rss_kib nprocs ticks_s": cpu_s from every
                               thread's /proc/PID/task/TID/schedstat (ns), ticks_s the same
                               from /proc/PID/stat utime+stime (10 ms resolution)
  pc.py hold --addr IP --port P --sni NAME --count N [--concurrency C]
                               opens N TLS connections (handshake done, no request sent),
                               prints "ready N" (or "failed K: reason") and holds them until
                               stdin closes or says anything
  pc.py latency --sni NAME --count N --block B TARGET=IP:PORT...
                               N sequential requests per target, interleaved in blocks of B:
                               connect + TLS handshake + "GET /" + first response byte;
                               prints one JSON line per target {"target", "n", "p50_ms",
                               "p99_ms", "mean_ms", "errors"}
  pc.py report RESULTS.tsv     the markdown tables (medians, ratios) from the raw results
"""
import argparse
import asyncio
import json
import os
import socket
import ssl
import statistics
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def _procs():
    """pid -> (ppid, cpu_ticks) for every process."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rindex(")") + 2:].split()
        # fields after the name: state ppid ... utime(14th overall -> rest[11]) stime(rest[12])
        out[int(d)] = (int(rest[1]), int(rest[11]) + int(rest[12]))
    return out


def _rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cmd_stat(a):
    procs = _procs()
    children = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    seen, todo = set(), [int(p) for p in a.pids]
    while todo:
        p = todo.pop()
        if p in seen or p not in procs:
            continue
        seen.add(p)
        todo.extend(children.get(p, []))
    cpu = sum(procs[p][1] for p in seen) / TICK
    rss = sum(_rss_kib(p) for p in seen)
    # The same CPU time at nanosecond resolution: the scheduler's runtime of every thread.
    ns = 0
    for p in seen:
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/schedstat") as f:
                    ns += int(f.read().split()[0])
        except OSError:
            pass
    print(f"{ns / 1e9:.4f} {rss} {len(seen)} {cpu:.2f}")


def _client_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def _hold(a):
    ctx = _client_ctx()
    sem = asyncio.Semaphore(a.concurrency)
    conns, errors = [], []

    async def one():
        async with sem:
            for attempt in range(3):
                try:
                    r, w = await asyncio.wait_for(
                        asyncio.open_connection(a.addr, a.port, ssl=ctx, server_hostname=a.sni), 30)
                    conns.append(w)
                    return
                except Exception as e:  # noqa: BLE001 - reported below
                    err = e
                    await asyncio.sleep(0.2)
            errors.append(repr(err))

    await asyncio.gather(*(one() for _ in range(a.count)))
    if errors:
        print(f"failed {len(errors)}: {errors[0]}", flush=True)
    else:
        print(f"ready {len(conns)}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    for w in conns:
        w.transport.abort()


def cmd_hold(a):
    asyncio.run(_hold(a))


def cmd_latency(a):
    ctx = _client_ctx()
    targets = []
    for t in a.targets:
        name, ep = t.split("=", 1)
        ip, port = ep.rsplit(":", 1)
        targets.append((name, ip, int(port)))
    req = f"GET / HTTP/1.1\r\nHost: {a.sni}\r\nConnection: close\r\n\r\n".encode()
    times = {t[0]: [] for t in targets}
    errors = {t[0]: 0 for t in targets}
    done = 0
    rnd = 0
    while done < a.count:
        n = min(a.block, a.count - done)
        order = targets[rnd % len(targets):] + targets[:rnd % len(targets)]
        for name, ip, port in order:
            for _ in range(n):
                t0 = time.perf_counter()
                try:
                    s = socket.create_connection((ip, port), timeout=5)
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    ts = ctx.wrap_socket(s, server_hostname=a.sni)
                    ts.sendall(req)
                    b = ts.recv(1)
                    t1 = time.perf_counter()
                    ts.close()
                    if not b:
                        raise OSError("no response")
                    times[name].append((t1 - t0) * 1000)
                except OSError:
                    errors[name] += 1
        done += n
        rnd += 1
    for name, _, _ in targets:
        v = sorted(times[name])
        p99 = v[min(len(v) - 1, int(round(0.99 * (len(v) - 1))))] if v else float("nan")
        print(json.dumps({"target": name, "n": len(v), "p50_ms": round(statistics.median(v), 3) if v else None,
                          "p99_ms": round(p99, 3), "mean_ms": round(statistics.fmean(v), 3) if v else None,
                          "errors": errors[name]}))


# ---- report ---------------------------------------------------------------------------------

PEERS = ["haproxy", "nginx", "sniproxy"]
ORDER = ["edgegw"] + PEERS + ["direct"]

# metric -> (title, unit, higher is better)
METRICS = [
    ("conn_rps", "new TLS connections/s (wrk, Connection: close)", True),
    ("ka_rps", "keep-alive requests/s (wrk)", True),
    ("bulk_mbs", "bulk 100 MiB download, MB/s (curl)", True),
    ("cpu_per_10k_conn", "proxy CPU s per 10,000 connections", False),
    ("cpu_per_gb", "proxy CPU s per GB relayed", False),
    ("rss_idle_kib", "proxy RSS idle, KiB", False),
    ("rss_5k_kib", "proxy RSS with 5,000 idle TLS connections, KiB", False),  # PC_IDLE_CONNS
    ("kib_per_conn", "RSS growth per idle connection, KiB", False),
    ("lat_p50_ms", "connect+handshake+first byte p50, ms", False),
    ("lat_p99_ms", "connect+handshake+first byte p99, ms", False),
    ("add_p50_ms", "added latency p50 vs direct, ms", False),
    ("add_p99_ms", "added latency p99 vs direct, ms", False),
]


def cmd_report(a):
    raw = {}
    with open(a.results) as f:
        for line in f:
            p = line.split()
            if len(p) != 4:
                continue
            n, target, metric, value = p
            raw.setdefault(n, {}).setdefault(target, {}).setdefault(metric, []).append(float(value))
    for n in sorted(raw):
        med = {t: {m: statistics.median(v) for m, v in ms.items()} for t, ms in raw[n].items()}
        d = med.get("direct", {})
        for t, ms in med.items():
            if t != "direct" and "lat_p50_ms" in ms and "lat_p50_ms" in d:
                ms["add_p50_ms"] = ms["lat_p50_ms"] - d["lat_p50_ms"]
                ms["add_p99_ms"] = ms["lat_p99_ms"] - d["lat_p99_ms"]
            if "rss_idle_kib" in ms and "rss_5k_kib" in ms and ms.get("idle_conns"):
                ms["kib_per_conn"] = (ms["rss_5k_kib"] - ms["rss_idle_kib"]) / ms["idle_conns"]
        targets = [t for t in ORDER if t in med]
        print()
        print(f"### workers = {n} (medians; sniproxy is single-threaded and runs 1 thread in every row)")
        print()
        print("| metric | " + " | ".join(targets) + " | best peer | edgegw / best peer | edgegw / direct |")
        print("|---|" + "---:|" * (len(targets) + 3))
        for m, title, higher in METRICS:
            vals = {t: med[t].get(m) for t in targets}
            if all(v is None for v in vals.values()):
                continue
            peers = {t: v for t, v in vals.items() if t in PEERS and v is not None}
            best = (max if higher else min)(peers, key=peers.get) if peers else None
            e = vals.get("edgegw")

            def fmt(v):
                if v is None:
                    return "-"
                if abs(v) >= 100:
                    return f"{v:,.0f}"
                return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"

            def rat(x, y):
                if x is None or y is None or y == 0 or m.startswith("add_"):
                    return "-"
                return f"{x / y:.2f}"

            cells = [fmt(vals[t]) for t in targets]
            print(f"| {title} | " + " | ".join(cells) + f" | {best or '-'} | "
                  f"{rat(e, peers.get(best))} | {rat(e, vals.get('direct'))} |")
        print()
        for t in targets:
            runs = "; ".join(f"{m} " + " ".join(f"{x:g}" for x in raw[n][t][m])
                             for m in ("conn_rps", "ka_rps", "bulk_mbs") if m in raw[n][t])
            if runs:
                print(f"runs, workers={n}, {t}: {runs}")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("stat")
    s.add_argument("pids", nargs="+")
    s.set_defaults(fn=cmd_stat)
    s = sub.add_parser("hold")
    s.add_argument("--addr", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--sni", required=True)
    s.add_argument("--count", type=int, default=5000)
    s.add_argument("--concurrency", type=int, default=64)
    s.set_defaults(fn=cmd_hold)
    s = sub.add_parser("latency")
    s.add_argument("--sni", required=True)
    s.add_argument("--count", type=int, default=2000)
    s.add_argument("--block", type=int, default=100)
    s.add_argument("targets", nargs="+")
    s.set_defaults(fn=cmd_latency)
    s = sub.add_parser("report")
    s.add_argument("results")
    s.set_defaults(fn=cmd_report)
    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
