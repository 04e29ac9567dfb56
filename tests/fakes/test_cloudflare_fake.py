#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Self-test of tests/fakes/cloudflare.py: starts it on 127.0.0.1 with a random port,
checks the API contract and every fault mode. Prints `ok - ...` / `not ok - ...` lines and
last `cloudflare-fake: N passed, N failed`; exits 1 if a check failed."""

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN, RO_TOKEN = "tok-edit-0123456789", "tok-read-0123456789"
passed = failed = 0


def check(cond, what, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok - " + what)
    else:
        failed += 1
        print("not ok - %s %s" % (what, detail))


class Fake:
    def __init__(self, *extra):
        self.tmp = tempfile.mkdtemp(prefix="cf-fake-")
        pf = os.path.join(self.tmp, "port")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "cloudflare.py"), "--listen", "127.0.0.1:0",
             "--token", TOKEN, "--read-token", RO_TOKEN, "--zone", "example.net",
             "--zone", "other.org", "--port-file", pf] + list(extra),
            stdout=subprocess.DEVNULL)
        for _ in range(100):
            if os.path.exists(pf):
                break
            time.sleep(0.05)
        self.port = int(open(pf).read())

    def req(self, method, path, body=None, token=TOKEN, timeout=5, raw=False):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = {"Content-Type": "application/json"}
        if token is not None:
            h["Authorization"] = "Bearer " + token
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body)
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        payload = r.read()
        c.close()
        if raw:
            return r.status, payload, r
        try:
            return r.status, json.loads(payload), r
        except ValueError:
            return r.status, payload, r

    def stop(self):
        self.proc.terminate()
        self.proc.wait(5)


def err_code(body):
    try:
        return body["errors"][0]["code"]
    except (TypeError, KeyError, IndexError):
        return None


def envelope_ok(body):
    return isinstance(body, dict) and set(body) >= {"success", "errors", "messages", "result"}


def main():
    f = Fake()
    try:
        run(f)
    finally:
        f.stop()
    f2 = Fake("--outside-zone", "append", "--dup-code", "81057")
    try:
        run_options(f2)
    finally:
        f2.stop()
    print("cloudflare-fake: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def run(f):
    A = "/client/v4"
    # --- zones -------------------------------------------------------------------
    s, b, _ = f.req("GET", A + "/zones?name=example.net")
    check(s == 200 and envelope_ok(b) and b["success"] and len(b["result"]) == 1
          and b["result"][0]["name"] == "example.net", "zone lookup by name", b)
    zid = b["result"][0]["id"]
    check(len(zid) == 32 and b["result_info"] == {"page": 1, "per_page": 20, "count": 1,
                                                   "total_count": 1, "total_pages": 1},
          "zone id is 32 hex, result_info complete", b.get("result_info"))
    s, b, _ = f.req("GET", A + "/zones?name=nope.example")
    check(s == 200 and b["result"] == [] and b["result_info"]["total_count"] == 0,
          "unknown zone name: empty list, not an error")
    s, b, _ = f.req("GET", A + "/zones/" + zid)
    check(s == 200 and b["result"]["id"] == zid, "GET /zones/{id}")
    s, b, _ = f.req("GET", A + "/zones/" + "0" * 32 + "/dns_records")
    check(s == 400 and err_code(b) == 7003 and not b["success"], "bad zone id: 400 / 7003", b)

    # --- auth --------------------------------------------------------------------
    R = A + "/zones/%s/dns_records" % zid
    s, b, _ = f.req("GET", R, token=None)
    check(s == 401 and err_code(b) == 10000 and envelope_ok(b), "no token: 401 / 10000", b)
    s, b, _ = f.req("GET", R, token="wrong")
    check(s == 403 and err_code(b) == 9109, "wrong token: 403 / 9109", b)
    s, b, _ = f.req("GET", R, token="has spaces in it")
    check(s == 400 and err_code(b) == 6003 and b["errors"][0]["error_chain"][0]["code"] == 6111,
          "malformed Authorization: 400 / 6003 + 6111", b)
    s, b, _ = f.req("GET", R, token=RO_TOKEN)
    check(s == 200 and b["success"], "read-only token may list")
    s, b, _ = f.req("POST", R, {"type": "A", "name": "x", "content": "192.0.2.1"},
                    token=RO_TOKEN)
    check(s == 403 and err_code(b) == 10000, "read-only token may not write: 403 / 10000", b)
    s, b, _ = f.req("GET", A + "/user/tokens/verify")
    check(s == 200 and b["result"]["status"] == "active", "token verify")

    # --- create / read -------------------------------------------------------------
    s, b, _ = f.req("POST", R, {"type": "A", "name": "vm1.dc-lk.example.net",
                                "content": "203.0.113.1", "ttl": 120, "proxied": False,
                                "comment": "edgegw:owner=test"})
    rec = b.get("result") if isinstance(b, dict) else None
    check(s == 200 and b["success"] and rec and len(rec["id"]) == 32, "create A record", b)
    want = {"id", "zone_id", "zone_name", "name", "type", "content", "ttl", "proxied",
            "comment", "created_on", "modified_on", "proxiable", "locked"}
    check(rec and want <= set(rec) and rec["zone_id"] == zid and rec["zone_name"] ==
          "example.net" and rec["ttl"] == 120 and rec["comment"] == "edgegw:owner=test"
          and rec["created_on"].endswith("Z"), "record has every documented field", rec)
    rid = rec["id"]
    s, b, _ = f.req("GET", R + "/" + rid)
    check(s == 200 and b["result"] == rec, "GET one record")
    s, b, _ = f.req("POST", R, {"type": "AAAA", "name": "VM1.dc-lk.example.net.", "content":
                                "2001:DB8:0::1", "proxied": True, "ttl": 300})
    check(s == 200 and b["result"]["name"] == "vm1.dc-lk.example.net" and
          b["result"]["content"] == "2001:db8::1" and b["result"]["ttl"] == 1,
          "name lower-cased without the dot, AAAA canonical, proxied => ttl 1 (auto)", b)
    aaaa = b["result"]["id"]
    s, b, _ = f.req("POST", R, {"type": "A", "name": "@", "content": "203.0.113.9"})
    check(s == 200 and b["result"]["name"] == "example.net" and b["result"]["ttl"] == 1,
          "@ is the apex, ttl defaults to 1")
    s, b, _ = f.req("POST", R, {"type": "A", "name": "www", "content": "203.0.113.9"})
    check(s == 200 and b["result"]["name"] == "www.example.net",
          "a one-label name is relative to the zone")

    # --- conflicts ------------------------------------------------------------------
    s, b, _ = f.req("POST", R, {"type": "A", "name": "vm1.dc-lk.example.net",
                                "content": "203.0.113.1"})
    check(s == 400 and err_code(b) == 81058, "identical record: 400 / 81058", b)
    s, b, _ = f.req("POST", R, {"type": "CNAME", "name": "vm1.dc-lk.example.net",
                                "content": "elsewhere.example.net"})
    check(s == 400 and err_code(b) == 81053, "CNAME beside A: 400 / 81053", b)
    s, b, _ = f.req("POST", R, {"type": "A", "name": "vm1.dc-lk.example.net",
                                "content": "203.0.113.2"})
    check(s == 200, "second A with other content is allowed (round robin)")
    second = b["result"]["id"]

    # --- validation ----------------------------------------------------------------
    bad = [
        ({"type": "BOGUS", "name": "x", "content": "1"}, 9101, "bad type"),
        ({"type": "A", "name": "x"}, 9009, "missing content"),
        ({"type": "A", "name": "x", "content": ""}, 9009, "empty content"),
        ({"type": "A", "content": "192.0.2.1"}, 9008, "missing name"),
        ({"type": "A", "name": "x.example.com", "content": "192.0.2.1"}, 9000,
         "name outside the zone"),
        ({"type": "A", "name": "x", "content": "300.1.1.1"}, 9005, "bad IPv4"),
        ({"type": "AAAA", "name": "x", "content": "192.0.2.1"}, 9006, "bad IPv6"),
        ({"type": "A", "name": "x", "content": "192.0.2.1", "ttl": 30}, 9021, "ttl 30"),
        ({"type": "A", "name": "x", "content": "192.0.2.1", "ttl": 86401}, 9021, "ttl big"),
        ({"type": "A", "name": "x", "content": "192.0.2.1", "proxied": "yes"}, 9003,
         "proxied not a boolean"),
        ({"type": "TXT", "name": "x", "content": "hi", "proxied": True}, 9004,
         "proxied TXT"),
        ({"type": "A", "name": "x", "content": "192.0.2.1", "comment": "c" * 101}, 9209,
         "comment too long"),
        ({"type": "A", "name": "bad_-.", "content": "192.0.2.1"}, 9000, "bad label"),
    ]
    for body, code, what in bad:
        s, b, _ = f.req("POST", R, body)
        chain = b["errors"][0].get("error_chain", [{}])[0].get("code") if envelope_ok(b) \
            and b["errors"] else None
        check(s == 400 and err_code(b) == 1004 and chain == code and b["result"] is None,
              "validation: %s -> 400 / 1004 + %d" % (what, code), b)
    s, b, _ = f.req("POST", R, b"{not json")
    check(s == 400 and err_code(b) == 9207, "malformed JSON body: 400 / 9207", b)

    # --- list, filters, pagination ------------------------------------------------------
    for i in range(25):
        s, b, _ = f.req("POST", R, {"type": "TXT", "name": "t%02d" % i, "content": "v=%d" % i})
        assert s == 200, b
    s, b, _ = f.req("GET", R)
    check(s == 200 and b["result_info"]["per_page"] == 100 and
          b["result_info"]["total_count"] == 30 and b["result_info"]["count"] == 30 and
          b["result_info"]["total_pages"] == 1, "list: per_page defaults to 100",
          b.get("result_info"))
    s, b, _ = f.req("GET", R + "?type=A&name=vm1.dc-lk.example.net")
    check(s == 200 and sorted(r["id"] for r in b["result"]) == sorted([rid, second]),
          "filter by type and name")
    s, b, _ = f.req("GET", R + "?type=AAAA&name.exact=vm1.dc-lk.example.net")
    check(s == 200 and [r["id"] for r in b["result"]] == [aaaa], "filter name.exact")
    s, b, _ = f.req("GET", R + "?comment=edgegw:owner=test")
    check(s == 200 and [r["id"] for r in b["result"]] == [rid], "filter by comment")
    s, b, _ = f.req("GET", R + "?content=203.0.113.2")
    check(s == 200 and [r["id"] for r in b["result"]] == [second], "filter by content")
    seen, page = [], 1
    while True:
        s, b, _ = f.req("GET", R + "?type=TXT&per_page=10&page=%d" % page)
        info = b["result_info"]
        seen += [r["name"] for r in b["result"]]
        if page >= info["total_pages"]:
            break
        page += 1
    check(len(seen) == 25 and len(set(seen)) == 25 and info == {
        "page": 3, "per_page": 10, "count": 5, "total_count": 25, "total_pages": 3},
        "pagination: 3 pages of 10, last has 5", info)
    s, b, _ = f.req("GET", R + "?type=TXT&per_page=10&page=9")
    check(s == 200 and b["result"] == [] and b["result_info"]["count"] == 0,
          "page past the end: empty")
    s, b, _ = f.req("GET", R + "?per_page=5000001")
    check(s == 400 and not b["success"], "per_page above 5,000,000 refused")
    s, b, _ = f.req("GET", R + "?per_page=0")
    check(s == 400, "per_page 0 refused")
    s, b, _ = f.req("GET", R + "?type=TXT&order=content&direction=desc&per_page=1")
    check(s == 200 and b["result"][0]["content"] == "v=9", "order/direction")
    s, b, _ = f.req("GET", R + "?type=NOPE")
    check(s == 400 and err_code(b) == 1004, "list with a bad type: 400")
    s, b, _ = f.req("GET", A + "/zones?name=other.org")
    oz = b["result"][0]["id"]
    s, b, _ = f.req("GET", A + "/zones/%s/dns_records" % oz)
    check(s == 200 and b["result"] == [], "zones are separate")
    s, b, _ = f.req("GET", A + "/zones/%s/dns_records/%s" % (oz, rid))
    check(s == 404 and err_code(b) == 81044, "record of another zone: 404 / 81044", b)

    # --- update / delete -----------------------------------------------------------------
    s, b, _ = f.req("PATCH", R + "/" + rid, {"content": "203.0.113.7"})
    check(s == 200 and b["result"]["content"] == "203.0.113.7" and b["result"]["ttl"] == 120
          and b["result"]["comment"] == "edgegw:owner=test" and
          b["result"]["created_on"] == rec["created_on"] and
          b["result"]["modified_on"] >= rec["modified_on"], "PATCH keeps other fields", b)
    s, b, _ = f.req("PUT", R + "/" + rid, {"type": "A", "name": "vm1.dc-lk.example.net",
                                           "content": "203.0.113.8", "proxied": True})
    check(s == 200 and b["result"]["content"] == "203.0.113.8" and b["result"]["proxied"]
          and b["result"]["ttl"] == 1 and b["result"]["comment"] is None,
          "PUT overwrites (comment dropped)", b)
    s, b, _ = f.req("PUT", R + "/" + rid, {"content": "203.0.113.8"})
    check(s == 400 and err_code(b) == 1004, "PUT without type/name: validation error", b)
    s, b, _ = f.req("PATCH", R + "/" + rid, {"content": "203.0.113.2"})
    check(s == 400 and err_code(b) == 81058, "PATCH into a duplicate: 81058", b)
    s, b, _ = f.req("PATCH", R + "/" + rid, {"content": "203.0.113.8"})
    check(s == 200, "PATCH to its own content is fine")
    s, b, _ = f.req("DELETE", R + "/" + rid)
    check(s == 200 and b["result"] == {"id": rid} and b["success"], "DELETE returns {id}", b)
    s, b, _ = f.req("DELETE", R + "/" + rid)
    check(s == 404 and err_code(b) == 81044, "DELETE again: 404 / 81044", b)
    s, b, _ = f.req("PATCH", R + "/" + "f" * 32, {"content": "1.2.3.4"})
    check(s == 404 and err_code(b) == 81044, "PATCH unknown id: 404")
    s, b, _ = f.req("GET", A + "/nothing")
    check(s == 404 and err_code(b) == 7000, "unknown route: 404 / 7000")

    # --- control endpoints ---------------------------------------------------------
    s, b, _ = f.req("POST", "/_fake/records", {"zone": "example.net", "type": "A",
                                                "name": "foreign", "content": "192.0.2.50"},
                    token=None)
    check(s == 200 and b["name"] == "foreign.example.net", "seed a foreign record")
    s, b, _ = f.req("GET", "/_fake/records", token=None)
    check(s == 200 and isinstance(b, list) and len(b) == 30 and
          any(r["name"] == "foreign.example.net" for r in b), "dump records", len(b))
    s, b, _ = f.req("GET", "/_fake/log", token=None)
    check(s == 200 and any(e["status"] == 403 and e["auth"] == "-" for e in b) and
          any(e["method"] == "DELETE" and e["status"] == 200 for e in b) and
          all("_fake" not in e["path"] for e in b), "request log", b[-1] if b else b)

    # --- faults ---------------------------------------------------------------------------
    def fault(**kw):
        s, b, _ = f.req("POST", "/_fake/fault", kw, token=None)
        assert s == 200, b

    fault(mode="401", count=2)
    r1 = f.req("GET", R)
    r2 = f.req("GET", R)
    r3 = f.req("GET", R)
    check(r1[0] == 401 and err_code(r1[1]) == 10000 and r2[0] == 401 and r3[0] == 200,
          "fault 401 for exactly 2 requests")
    fault(mode="403")
    s, b, _ = f.req("GET", R)
    check(s == 403 and err_code(b) == 9109 and envelope_ok(b), "fault 403")
    fault(mode="429", retry_after=7)
    s, b, r = f.req("GET", R)
    check(s == 429 and r.getheader("Retry-After") == "7" and err_code(b) == 971 and
          envelope_ok(b), "fault 429 with Retry-After", (s, r.getheader("Retry-After"), b))
    fault(mode="500")
    s, b, _ = f.req("GET", R)
    check(s == 500 and envelope_ok(b) and not b["success"], "fault 500 (JSON envelope)")
    for m in ("502", "503"):
        fault(mode=m)
        s, b, r = f.req("GET", R, raw=True)
        check(s == int(m) and b"<html>" in b and r.getheader("Content-Type") == "text/html",
              "fault %s (HTML page, as the edge sends)" % m)
    fault(mode="garbage")
    s, b, r = f.req("GET", R, raw=True)
    try:
        json.loads(b)
        parsed = True
    except ValueError:
        parsed = False
    check(s == 200 and not parsed, "fault garbage: 200 with an unparsable body")
    fault(mode="truncated")
    s, b, r = f.req("GET", R, raw=True)
    try:
        json.loads(b)
        parsed = True
    except ValueError:
        parsed = False
    check(s == 200 and not parsed and b.startswith(b'{"success":true'), "fault truncated")
    fault(mode="timeout", delay=3)
    t0 = time.monotonic()
    try:
        f.req("GET", R, timeout=1)
        timed_out = False
    except (socket.timeout, TimeoutError):
        timed_out = True
    check(timed_out and time.monotonic() - t0 < 2.5, "fault timeout: no answer in time")
    fault(mode="reset")
    try:
        f.req("GET", R)
        reset = False
    except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
        reset = True
    check(reset, "fault reset: connection dropped without an answer")
    fault(mode="500", count=1, method="POST", path="dns_records")
    s1, _, _ = f.req("GET", R)
    s2, _, _ = f.req("POST", R, {"type": "A", "name": "flt", "content": "192.0.2.77"})
    s3, _, _ = f.req("POST", R, {"type": "A", "name": "flt", "content": "192.0.2.77"})
    check(s1 == 200 and s2 == 500 and s3 == 200, "fault filtered by method and path")
    s, b, _ = f.req("GET", "/_fake/records", token=None)
    check(sum(r["name"] == "flt.example.net" for r in b) == 1,
          "a faulted write changes nothing")
    fault(mode="503", count=-1)
    codes = [f.req("GET", R, raw=True)[0] for _ in range(3)]
    s, b, _ = f.req("GET", "/_fake/fault", token=None)
    check(codes == [503] * 3 and len(b) == 1 and b[0]["count"] == -1,
          "count -1 lasts until cleared")
    f.req("DELETE", "/_fake/fault", token=None)
    s, b, _ = f.req("GET", R)
    check(s == 200, "DELETE /_fake/fault clears")
    s, b, _ = f.req("POST", "/_fake/fault", {"mode": "418"}, token=None)
    check(s == 400, "unknown fault mode refused")
    s, b, _ = f.req("GET", "/_fake/log", token=None)
    check(any(e["fault"] == "timeout" for e in b) and any(e["fault"] == "429" for e in b),
          "faults are in the request log")
    f.req("POST", "/_fake/reset", token=None)
    s, b, _ = f.req("GET", "/_fake/records", token=None)
    check(b == [], "reset drops the records")


def run_options(f):
    A = "/client/v4"
    s, b, _ = f.req("GET", A + "/zones?name=example.net")
    R = A + "/zones/%s/dns_records" % b["result"][0]["id"]
    s, b, _ = f.req("POST", R, {"type": "A", "name": "x.example.com", "content": "192.0.2.1"})
    check(s == 200 and b["result"]["name"] == "x.example.com.example.net",
          "--outside-zone append", b)
    s, b, _ = f.req("POST", R, {"type": "A", "name": "x.example.com", "content": "192.0.2.1"})
    check(s == 400 and err_code(b) == 81057 and b["errors"][0]["message"] ==
          "Record already exists.", "--dup-code 81057", b)


if __name__ == "__main__":
    sys.exit(main())
