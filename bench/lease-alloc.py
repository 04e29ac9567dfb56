#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The client of bench/lease-alloc.sh: DHCP lease allocation through the API (issue 6).

    lease-alloc.py add --socket PATH --count N [--first I] [--clients C] [--slices K]
        POST /v1/leases {"mac": "52:54:00:XX:XX:XX"} for MACs I .. I+N-1, over C keep-alive
        HTTP/1.1 connections to the unix socket (each client its own thread and MACs), so
        every lease takes the lowest free pool address. Every answer is checked (201,
        "rules": "applied", an address no other answer had). Prints leases/s, latency
        p50/p90/p99/max over all requests and over K equal slices in order (does a lease
        cost more when 9,000 exist?), then the same as one JSON line.

    lease-alloc.py list --socket PATH
        GET /v1/leases page by page (limit 1000): how long listing every lease takes.

    lease-alloc.py remove --socket PATH --count N [--first I]
        DELETE /v1/leases/MAC for the MACs of add: leases removed per second.

The latency of one request is from sending it to having read the whole answer.
"""
import argparse
import http.client
import json
import socket
import statistics
import sys
import threading
import time


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over AF_UNIX: HTTP/1.1, keep-alive unless the server closes."""

    def __init__(self, path, timeout=60):
        super().__init__("edgegw", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def request(conn, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data else {}
    conn.request(method, path, body=data, headers=headers)
    r = conn.getresponse()
    payload = r.read()
    return r.status, json.loads(payload) if payload else None


def mac_of(i):
    return "52:54:00:%02x:%02x:%02x" % ((i >> 16) & 255, (i >> 8) & 255, i & 255)


def percentile(sorted_values, p):
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def summary(latencies):
    s = sorted(latencies)
    return {
        "n": len(s),
        "p50_ms": round(percentile(s, 50) * 1000, 3),
        "p90_ms": round(percentile(s, 90) * 1000, 3),
        "p99_ms": round(percentile(s, 99) * 1000, 3),
        "max_ms": round(s[-1] * 1000, 3) if s else 0.0,
        "mean_ms": round(statistics.mean(s) * 1000, 3) if s else 0.0,
    }


def cmd_add(args):
    n, first, clients = args.count, args.first, max(1, args.clients)
    latencies = [None] * n  # by MAC index, so slices are in allocation order for one client
    ips = [None] * n
    errors = []
    lock = threading.Lock()

    def worker(c):
        conn = UnixHTTPConnection(args.socket)
        for k in range(c, n, clients):
            mac = mac_of(first + k)
            t0 = time.perf_counter()
            try:
                status, body = request(conn, "POST", "/v1/leases", {"mac": mac})
            except (OSError, http.client.HTTPException, ValueError) as e:
                with lock:
                    errors.append("%s: %s" % (mac, e))
                conn.close()
                conn = UnixHTTPConnection(args.socket)
                continue
            latencies[k] = time.perf_counter() - t0
            if status != 201 or not body or body.get("mac") != mac or body.get("rules") != "applied":
                with lock:
                    errors.append("%s: HTTP %d %s" % (mac, status, json.dumps(body)[:200]))
                continue
            ips[k] = body["ip"]
        conn.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    got = [ip for ip in ips if ip]
    if len(set(got)) != len(got):
        errors.append("%d addresses were handed out twice" % (len(got) - len(set(got))))
    for e in errors[:10]:
        print("lease-alloc: " + e, file=sys.stderr)
    done = [x for x in latencies if x is not None]
    result = {"op": "add", "clients": clients, "first": first, "count": n, "ok": len(got),
              "errors": len(errors), "seconds": round(wall, 3),
              "leases_per_s": round(len(got) / wall, 1) if wall > 0 else 0.0, **summary(done)}
    slices = []
    k = max(1, args.slices)
    for s in range(k):
        part = [x for x in latencies[s * n // k:(s + 1) * n // k] if x is not None]
        if part:
            slices.append({"from": first + s * n // k, **summary(part)})
    print("# add: %d leases (%d clients) in %.2f s: %.0f leases/s; latency p50 %.2f ms, p90 %.2f ms, "
          "p99 %.2f ms, max %.2f ms; %d errors" % (len(got), clients, wall, result["leases_per_s"], result["p50_ms"],
                                                    result["p90_ms"], result["p99_ms"], result["max_ms"], len(errors)))
    if len(slices) > 1:
        for sl in slices:
            print("#   leases %6d-%-6d p50 %.2f ms  p99 %.2f ms" % (sl["from"], sl["from"] + sl["n"] - 1, sl["p50_ms"],
                                                                   sl["p99_ms"]))
    if got:
        print("# first address %s, last %s" % (ips[0], ips[-1] if ips[-1] else got[-1]))
    result["slices"] = slices
    print(json.dumps(result))
    return 1 if errors else 0


def cmd_list(args):
    conn = UnixHTTPConnection(args.socket)
    t0 = time.perf_counter()
    after, total, pages = None, 0, 0
    while True:
        path = "/v1/leases?limit=1000" + ("&after=" + after if after else "")
        status, body = request(conn, "GET", path)
        if status != 200:
            print("lease-alloc: GET %s: HTTP %d" % (path, status), file=sys.stderr)
            return 1
        total += len(body["leases"])
        pages += 1
        after = body.get("next")
        if not after:
            break
    wall = time.perf_counter() - t0
    print("# list: %d leases in %d pages in %.1f ms" % (total, pages, wall * 1000))
    print(json.dumps({"op": "list", "leases": total, "pages": pages, "ms": round(wall * 1000, 1)}))
    return 0


def cmd_remove(args):
    conn = UnixHTTPConnection(args.socket)
    latencies, errors = [], 0
    t0 = time.perf_counter()
    for k in range(args.count):
        mac = mac_of(args.first + k)
        t1 = time.perf_counter()
        status, _ = request(conn, "DELETE", "/v1/leases/" + mac)
        latencies.append(time.perf_counter() - t1)
        errors += status != 200
    wall = time.perf_counter() - t0
    s = summary(latencies)
    print("# remove: %d leases in %.2f s: %.0f leases/s; latency p50 %.2f ms, p99 %.2f ms; %d errors" %
          (args.count, wall, args.count / wall, s["p50_ms"], s["p99_ms"], errors))
    print(json.dumps({"op": "remove", "count": args.count, "errors": errors, "seconds": round(wall, 3),
                      "leases_per_s": round(args.count / wall, 1), **s}))
    return 1 if errors else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("add")
    a.add_argument("--socket", required=True)
    a.add_argument("--count", type=int, required=True)
    a.add_argument("--first", type=int, default=0)
    a.add_argument("--clients", type=int, default=1)
    a.add_argument("--slices", type=int, default=10)
    li = sub.add_parser("list")
    li.add_argument("--socket", required=True)
    r = sub.add_parser("remove")
    r.add_argument("--socket", required=True)
    r.add_argument("--count", type=int, required=True)
    r.add_argument("--first", type=int, default=0)
    args = ap.parse_args()
    return {"add": cmd_add, "list": cmd_list, "remove": cmd_remove}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
