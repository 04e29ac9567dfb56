#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A local fake of the Cloudflare API v4 (zones lookup and DNS records), for issue 5.

Python 3 standard library only. State lives in memory. See tests/fakes/README.md for
what follows Cloudflare's documentation and what is simplified.

    python3 tests/fakes/cloudflare.py --listen 127.0.0.1:0 --token SECRET \
        --zone example.net [--zone other.org] [--read-token RO] [--port-file F]

API (base /client/v4, "Authorization: Bearer TOKEN"):
    GET    /client/v4/zones?name=&status=&page=&per_page=
    GET    /client/v4/zones/{zone_id}
    GET    /client/v4/zones/{zone_id}/dns_records?type=&name=&content=&proxied=&comment=
                                                 &page=&per_page=&order=&direction=&match=
    POST   /client/v4/zones/{zone_id}/dns_records
    GET    /client/v4/zones/{zone_id}/dns_records/{id}
    PUT    /client/v4/zones/{zone_id}/dns_records/{id}     (overwrite)
    PATCH  /client/v4/zones/{zone_id}/dns_records/{id}     (partial update)
    DELETE /client/v4/zones/{zone_id}/dns_records/{id}
    GET    /client/v4/user/tokens/verify

Control (no auth, never faulted):
    POST   /_fake/fault   {"mode": "401"|"403"|"429"|"500"|"502"|"503"|"timeout"|"reset"|
                           "garbage"|"truncated", "count": N, "method": "POST",
                           "path": "dns_records", "retry_after": 2, "delay": 30}
    GET    /_fake/fault   the pending faults;  DELETE /_fake/fault clears them
    GET    /_fake/records all records of all zones (JSON list)
    POST   /_fake/records {"zone": "example.net", "type": .., "name": .., "content": ..}
                          seeds a record (e.g. one edgegw does not own), validated as a POST
    GET    /_fake/zones   the zones with their ids
    GET    /_fake/log     the request log (JSON list, oldest first)
    POST   /_fake/reset   drop records, log and faults (zones and tokens stay)
"""

import argparse
import copy
import datetime
import hashlib
import ipaddress
import json
import os
import re
import secrets
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API = "/client/v4"

# Record types the API accepts (Cloudflare's documented list). The fake validates the
# content of A, AAAA, CNAME and TXT; other types are stored with their content as given.
RECORD_TYPES = {
    "A", "AAAA", "CAA", "CERT", "CNAME", "DNSKEY", "DS", "HTTPS", "LOC", "MX", "NAPTR",
    "NS", "OPENPGPKEY", "PTR", "SMIMEA", "SRV", "SSHFP", "SVCB", "TLSA", "TXT", "URI",
}
PROXIABLE = {"A", "AAAA", "CNAME"}
ORDER_FIELDS = {"type", "name", "content", "ttl", "proxied"}

DNS_PER_PAGE_DEFAULT, DNS_PER_PAGE_MAX = 100, 5_000_000
ZONE_PER_PAGE_DEFAULT, ZONE_PER_PAGE_MAX = 20, 50
TTL_MIN, TTL_MAX = 60, 86400

FAULT_MODES = {"401", "403", "429", "500", "502", "503", "timeout", "reset", "garbage",
               "truncated"}


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id():
    return secrets.token_hex(16)  # 32 hex characters, like Cloudflare identifiers


class ApiError(Exception):
    def __init__(self, status, code, message, chain=None, headers=None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.chain = chain or []
        self.headers = headers or {}

    def body(self):
        err = {"code": self.code, "message": self.message}
        if self.chain:
            err["error_chain"] = [{"code": c, "message": m} for c, m in self.chain]
        return {"success": False, "errors": [err], "messages": [], "result": None}


def validation(code, message):
    # Cloudflare reports record validation problems as 400 with a top-level code 1004
    # "DNS Validation Error" and the specific reason in error_chain.
    return ApiError(400, 1004, "DNS Validation Error", [(code, message)])


class State:
    def __init__(self, zones, tokens, read_tokens, outside_zone, dup_code):
        self.lock = threading.Lock()
        self.zones = {}  # id -> zone dict
        for name in zones:
            name = name.lower().rstrip(".")
            zid = hashlib.md5(("zone:" + name).encode()).hexdigest()  # stable per name
            ts = now_iso()
            self.zones[zid] = {
                "id": zid, "name": name, "status": "active", "paused": False,
                "type": "full", "development_mode": 0,
                "name_servers": ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
                "created_on": ts, "modified_on": ts, "activated_on": ts,
                "account": {"id": "0" * 32, "name": "fake account"},
                "permissions": ["#dns_records:edit", "#dns_records:read", "#zone:read"],
                "plan": {"id": "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "name": "Free Website"},
            }
        self.tokens = set(tokens)
        self.read_tokens = set(read_tokens)
        self.outside_zone = outside_zone
        self.dup_code = dup_code
        self.records = {}  # id -> record dict
        self.order = []  # ids in creation order
        self.log = []
        self.faults = []  # list of dicts with remaining count

    # --- faults -------------------------------------------------------------------
    def take_fault(self, method, path):
        with self.lock:
            for f in self.faults:
                if f["count"] == 0:
                    continue
                if f.get("method") and f["method"].upper() != method:
                    continue
                if f.get("path") and f["path"] not in path:
                    continue
                if f["count"] > 0:
                    f["count"] -= 1
                f["hits"] = f.get("hits", 0) + 1
                out = dict(f)
                self.faults = [x for x in self.faults if x["count"] != 0]
                return out
        return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY every answer on a
    # kept-alive connection waits ~40 ms for the delayed ACK.
    disable_nagle_algorithm = True
    server_version = "cloudflare-fake/1"
    state: State = None  # set by main()

    def log_message(self, fmt, *args):  # the JSON log replaces the default stderr lines
        if self.server.verbose:
            sys.stderr.write("cloudflare-fake: " + (fmt % args) + "\n")

    # --- plumbing -----------------------------------------------------------------
    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _send(self, status, obj=None, raw=None, headers=None, ctype="application/json"):
        data = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("CF-RAY", secrets.token_hex(8) + "-FAKE")
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        self.wfile.write(data)
        self._status = status

    def _log(self, method, url, body, status, fault, auth):
        entry = {
            "time": now_iso(), "method": method, "path": url.path, "query": url.query,
            "status": status, "auth": auth, "fault": fault,
        }
        if body:
            try:
                entry["body"] = json.loads(body)
            except ValueError:
                entry["body_raw"] = body.decode("utf-8", "replace")
        with self.state.lock:
            self.state.log.append(entry)

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_DELETE(self):
        self._handle("DELETE")

    def _handle(self, method):
        url = urllib.parse.urlsplit(self.path)
        body = self._read_body()
        self._status = None
        if url.path.startswith("/_fake/"):
            try:
                self._control(method, url, body)
            except ApiError as e:
                self._send(e.status, e.body())
            return
        fault = self.state.take_fault(method, url.path)
        auth = "-"
        if fault:
            self._log(method, url, body, None, fault["mode"], auth)
            self._fault(fault)
            return
        try:
            auth = self._auth(method)
            status, obj, extra = self._api(method, url, body)
            self._send(status, obj, headers=extra)
        except ApiError as e:
            self._send(e.status, e.body(), headers=e.headers)
        self._log(method, url, body, self._status, None, auth)

    def _fault(self, f):
        mode = f["mode"]
        if mode == "401":
            self._send(401, ApiError(401, 10000, "Authentication error").body())
        elif mode == "403":
            self._send(403, ApiError(403, 9109, "Invalid access token").body())
        elif mode == "429":
            ra = f.get("retry_after", 1)
            self._send(429, ApiError(429, 971, "Please wait and consider throttling your "
                                     "request speed").body(),
                       headers={"Retry-After": ra,
                                "Ratelimit": '"default";r=0;t=%s' % ra,
                                "Ratelimit-Policy": '"default";q=1200;w=300'})
        elif mode == "500":
            self._send(500, ApiError(500, 10001, "Internal server error").body())
        elif mode in ("502", "503"):
            # Cloudflare's edge answers gateway errors with an HTML page, not the envelope.
            title = mode + (" Bad Gateway" if mode == "502" else
                            " Service Temporarily Unavailable")
            page = ("<html><head><title>%s</title></head><body><center><h1>%s</h1>"
                    "</center><hr><center>cloudflare</center></body></html>\n") % (
                        title, title)
            self._send(int(mode), raw=page.encode(), ctype="text/html")
        elif mode == "garbage":
            self._send(200, raw=b"\x00\xffnot json at all <html>", ctype="application/json")
        elif mode == "truncated":
            self._send(200, raw=b'{"success":true,"errors":[],"messages":[],"result":[{"id"',
                       ctype="application/json")
        elif mode == "timeout":
            # Accept the request and never answer; close after `delay` seconds.
            time.sleep(float(f.get("delay", 30)))
            self.close_connection = True
        elif mode == "reset":
            self.close_connection = True
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           b"\x01\x00\x00\x00\x00\x00\x00\x00")
            except OSError:
                pass

    # --- control endpoints ----------------------------------------------------------
    def _control(self, method, url, body):
        st = self.state
        p = url.path
        if p == "/_fake/fault" and method == "POST":
            try:
                req = json.loads(body or b"{}")
            except ValueError:
                raise ApiError(400, 6007, "Malformed JSON in request body")
            mode = str(req.get("mode", ""))
            if mode not in FAULT_MODES:
                raise ApiError(400, 1, "mode must be one of " + ", ".join(sorted(FAULT_MODES)))
            f = {"mode": mode, "count": int(req.get("count", 1))}
            for k in ("method", "path", "retry_after", "delay"):
                if k in req:
                    f[k] = req[k]
            with st.lock:
                if f["count"] != 0:
                    st.faults.append(f)
            self._send(200, {"ok": True, "fault": f})
        elif p == "/_fake/fault" and method == "GET":
            with st.lock:
                self._send(200, list(st.faults))
        elif p == "/_fake/fault" and method == "DELETE":
            with st.lock:
                st.faults = []
            self._send(200, {"ok": True})
        elif p == "/_fake/records" and method == "GET":
            with st.lock:
                self._send(200, [copy.deepcopy(st.records[i]) for i in st.order])
        elif p == "/_fake/records" and method == "POST":
            req = json.loads(body or b"{}")
            zname = str(req.pop("zone", "")).lower().rstrip(".")
            zone = next((z for z in st.zones.values() if z["name"] == zname), None)
            if not zone:
                raise ApiError(404, 1, "no such zone: " + zname)
            self._send(200, create_record(st, zone, req))
        elif p == "/_fake/zones" and method == "GET":
            self._send(200, list(st.zones.values()))
        elif p == "/_fake/log" and method == "GET":
            with st.lock:
                self._send(200, list(st.log))
        elif p == "/_fake/reset" and method == "POST":
            with st.lock:
                st.records.clear()
                st.order.clear()
                st.log.clear()
                st.faults.clear()
            self._send(200, {"ok": True})
        else:
            raise ApiError(404, 1, "no such control endpoint")

    # --- auth ---------------------------------------------------------------------
    def _auth(self, method):
        h = self.headers.get("Authorization")
        if h is None:
            if self.headers.get("X-Auth-Key") or self.headers.get("X-Auth-Email"):
                # Global API keys are not supported by the fake (issue 5 uses tokens).
                raise ApiError(400, 6003, "Invalid request headers",
                               [(6103, "Invalid format for X-Auth-Key header")])
            raise ApiError(401, 10000, "Authentication error")
        m = re.fullmatch(r"Bearer ([A-Za-z0-9_\-.=]+)", h.strip())
        if not m:
            raise ApiError(400, 6003, "Invalid request headers",
                           [(6111, "Invalid format for Authorization header")])
        tok = m.group(1)
        if tok in self.state.tokens:
            return "edit"
        if tok in self.state.read_tokens:
            if method not in ("GET", "HEAD"):
                raise ApiError(403, 10000, "Authentication error")
            return "read"
        raise ApiError(403, 9109, "Invalid access token")

    # --- the API ------------------------------------------------------------------
    def _api(self, method, url, body):
        st = self.state
        p = url.path
        if not p.startswith(API + "/"):
            raise ApiError(404, 7000, "No route for that URI")
        parts = [x for x in p[len(API):].split("/") if x]
        q = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        q = {k: v[-1] for k, v in q.items()}

        if parts == ["user", "tokens", "verify"] and method == "GET":
            return 200, ok({"id": "f" * 32, "status": "active"},
                           messages=[{"code": 10000, "message":
                                      "This API Token is valid and active", "type": None}]), None
        if parts == ["zones"] and method == "GET":
            return 200, list_zones(st, q), None
        if len(parts) < 2 or parts[0] != "zones":
            raise ApiError(404, 7000, "No route for that URI")
        with st.lock:
            zone = st.zones.get(parts[1])
        if zone is None:
            raise ApiError(400, 7003, "Could not route to %s, perhaps your object "
                           "identifier is invalid?" % p)
        if len(parts) == 2:
            if method != "GET":
                raise ApiError(405, 10405, "Method not allowed")
            return 200, ok(zone), None
        if parts[2] != "dns_records" or len(parts) > 4:
            raise ApiError(404, 7000, "No route for that URI")
        if len(parts) == 3:
            if method == "GET":
                return 200, list_records(st, zone, q), None
            if method == "POST":
                return 200, ok(create_record(st, zone, parse_json(body))), None
            raise ApiError(405, 10405, "Method not allowed")
        rid = parts[3]
        with st.lock:
            rec = st.records.get(rid)
            if rec is None or rec["zone_id"] != zone["id"]:
                raise ApiError(404, 81044, "Record does not exist.")
            if method == "GET":
                return 200, ok(copy.deepcopy(rec)), None
            if method == "DELETE":
                del st.records[rid]
                st.order.remove(rid)
                return 200, ok({"id": rid}), None
        if method in ("PUT", "PATCH"):
            return 200, ok(update_record(st, zone, rid, parse_json(body),
                                         partial=(method == "PATCH"))), None
        raise ApiError(405, 10405, "Method not allowed")


def ok(result, result_info=None, messages=None):
    out = {"success": True, "errors": [], "messages": messages or [], "result": result}
    if result_info is not None:
        out["result_info"] = result_info
    return out


def parse_json(body):
    try:
        obj = json.loads(body or b"")
    except ValueError:
        raise ApiError(400, 9207, "Request body is invalid.")
    if not isinstance(obj, dict):
        raise ApiError(400, 9207, "Request body is invalid.")
    return obj


def paginate(items, q, default, maximum):
    try:
        page = int(q.get("page", 1))
        per_page = int(q.get("per_page", default))
    except ValueError:
        raise ApiError(400, 1004, "DNS Validation Error",
                       [(9100, "page and per_page must be integers")])
    if page < 1 or per_page < 1 or per_page > maximum:
        raise ApiError(400, 1004, "DNS Validation Error",
                       [(9100, "per_page must be between 1 and %d, page at least 1"
                         % maximum)])
    total = len(items)
    chunk = items[(page - 1) * per_page: page * per_page]
    info = {"page": page, "per_page": per_page, "count": len(chunk), "total_count": total,
            "total_pages": (total + per_page - 1) // per_page}
    return chunk, info


def list_zones(st, q):
    with st.lock:
        zones = list(st.zones.values())
    if "name" in q:
        zones = [z for z in zones if z["name"] == q["name"].lower().rstrip(".")]
    if "status" in q:
        zones = [z for z in zones if z["status"] == q["status"]]
    zones.sort(key=lambda z: z["name"])
    chunk, info = paginate(zones, q, ZONE_PER_PAGE_DEFAULT, ZONE_PER_PAGE_MAX)
    return ok(copy.deepcopy(chunk), info)


def list_records(st, zone, q):
    conds = []

    def field_filter(field, key, norm=lambda s: s):
        for op in ("", ".exact"):
            if key + op in q:
                v = norm(q[key + op])
                conds.append(lambda r, v=v: norm(str(r.get(field) or "")) == v)
        if key + ".contains" in q:
            v = norm(q[key + ".contains"])
            conds.append(lambda r, v=v: v in norm(str(r.get(field) or "")))
        if key + ".startswith" in q:
            v = norm(q[key + ".startswith"])
            conds.append(lambda r, v=v: norm(str(r.get(field) or "")).startswith(v))
        if key + ".endswith" in q:
            v = norm(q[key + ".endswith"])
            conds.append(lambda r, v=v: norm(str(r.get(field) or "")).endswith(v))

    if "type" in q:
        t = q["type"].upper()
        if t not in RECORD_TYPES:
            raise validation(9101, "Invalid DNS record type")
        conds.append(lambda r: r["type"] == t)
    field_filter("name", "name", lambda s: s.lower().rstrip("."))
    field_filter("content", "content")
    field_filter("comment", "comment")
    if "proxied" in q:
        want = q["proxied"].lower() == "true"
        conds.append(lambda r: r["proxied"] == want)
    match_any = q.get("match", "all") == "any"
    with st.lock:
        recs = [copy.deepcopy(st.records[i]) for i in st.order
                if st.records[i]["zone_id"] == zone["id"]]
    if conds:
        pick = any if match_any else all
        recs = [r for r in recs if pick(c(r) for c in conds)]
    order = q.get("order")
    if order:
        if order not in ORDER_FIELDS:
            raise validation(9100, "order must be one of " + ", ".join(sorted(ORDER_FIELDS)))
        recs.sort(key=lambda r: (str(r[order]), r["created_on"]),
                  reverse=q.get("direction") == "desc")
    chunk, info = paginate(recs, q, DNS_PER_PAGE_DEFAULT, DNS_PER_PAGE_MAX)
    return ok(chunk, info)


def fqdn(st, zone, name):
    name = str(name).strip().lower().rstrip(".")
    z = zone["name"]
    if name in ("@", ""):
        return z
    if name == z or name.endswith("." + z):
        return name
    if st.outside_zone == "append" or "." not in name:
        return name + "." + z  # a relative name ("www") is taken relative to the zone
    raise validation(9000,
                     "DNS name is invalid: %s is not in zone %s" % (name, z))


LABEL = re.compile(r"^(\*|[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?)$")


def check_record(st, zone, rec):
    t = rec.get("type")
    if not isinstance(t, str) or t.upper() not in RECORD_TYPES:
        raise validation(9101, "Invalid DNS record type")
    t = rec["type"] = t.upper()
    if not rec.get("name"):
        raise validation(9008, "DNS record name is required")
    name = rec["name"] = fqdn(st, zone, rec["name"])
    if len(name) > 253 or not all(LABEL.match(lbl) for lbl in name.split(".")):
        raise validation(9000, "DNS name is invalid.")
    content = rec.get("content")
    if content is None or content == "":
        raise validation(9009, "Content for %s record is required" % t)
    if not isinstance(content, str):
        raise validation(9009, "Content for %s record is invalid" % t)
    if t == "A":
        try:
            ipaddress.IPv4Address(content)
        except ValueError:
            raise validation(9005, "Content for A record must be a valid IPv4 address.")
    elif t == "AAAA":
        try:
            rec["content"] = str(ipaddress.IPv6Address(content))
        except ValueError:
            raise validation(9006, "Content for AAAA record must be a valid IPv6 address.")
    elif t == "CNAME":
        rec["content"] = content.lower().rstrip(".")
    elif t == "TXT" and len(content) > 2048:
        raise validation(9104, "Content for TXT record is too long")
    ttl = rec.get("ttl", 1)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or (
            ttl != 1 and not TTL_MIN <= ttl <= TTL_MAX):
        raise validation(9021, "Invalid TTL. Must be between %d and %d seconds, or 1 for "
                         "Automatic." % (TTL_MIN, TTL_MAX))
    proxied = rec.get("proxied", False)
    if not isinstance(proxied, bool):
        raise validation(9003, "Invalid 'proxied' value, must be a boolean")
    if proxied and t not in PROXIABLE:
        raise validation(9004, "This record type cannot be proxied.")
    rec["proxied"] = proxied
    rec["ttl"] = 1 if proxied else ttl  # proxied records always have TTL auto
    comment = rec.get("comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > 100):
        raise validation(9209, "DNS record comment is invalid (at most 100 characters).")
    tags = rec.get("tags", [])
    if not isinstance(tags, list):
        raise validation(9210, "DNS record tags are invalid.")


def conflicts(st, zone, rec, self_id=None):
    """Raises if rec clashes with a stored record (caller holds the lock)."""
    for other in st.records.values():
        if other["id"] == self_id or other["zone_id"] != zone["id"]:
            continue
        if other["name"] != rec["name"]:
            continue
        if other["type"] == rec["type"] and other["content"] == rec["content"]:
            if st.dup_code == 81057:
                raise ApiError(400, 81057, "Record already exists.")
            raise ApiError(400, 81058, "An identical record already exists.")
        if (other["type"] == "CNAME") != (rec["type"] == "CNAME") and \
                {other["type"], rec["type"]} <= {"A", "AAAA", "CNAME"}:
            raise ApiError(400, 81053, "An A, AAAA, or CNAME record with that host "
                           "already exists.")
        if rec["type"] == "CNAME" and other["type"] == "CNAME":
            raise ApiError(400, 81053, "An A, AAAA, or CNAME record with that host "
                           "already exists.")


def shape(zone, rid, rec, created_on):
    ts = now_iso()
    return {
        "id": rid, "zone_id": zone["id"], "zone_name": zone["name"],
        "name": rec["name"], "type": rec["type"], "content": rec["content"],
        "proxiable": rec["type"] in PROXIABLE, "proxied": rec["proxied"],
        "ttl": rec["ttl"], "locked": False, "comment": rec.get("comment"),
        "tags": rec.get("tags", []), "settings": {}, "meta": {"auto_added": False,
                                                               "source": "primary"},
        "created_on": created_on or ts, "modified_on": ts,
    }


ALLOWED_FIELDS = {"type", "name", "content", "ttl", "proxied", "comment", "tags", "id",
                  "settings", "priority", "data", "zone_id", "zone_name"}


def create_record(st, zone, req):
    rec = {k: v for k, v in req.items() if k in ALLOWED_FIELDS}
    check_record(st, zone, rec)
    with st.lock:
        conflicts(st, zone, rec)
        rid = new_id()
        out = shape(zone, rid, rec, None)
        st.records[rid] = out
        st.order.append(rid)
        return copy.deepcopy(out)


def update_record(st, zone, rid, req, partial):
    with st.lock:
        old = st.records.get(rid)
        if old is None:
            raise ApiError(404, 81044, "Record does not exist.")
        base = {k: old[k] for k in ("type", "name", "content", "ttl", "proxied", "comment",
                                     "tags")} if partial else {}
    rec = dict(base)
    rec.update({k: v for k, v in req.items() if k in ALLOWED_FIELDS})
    check_record(st, zone, rec)
    with st.lock:
        if rid not in st.records:
            raise ApiError(404, 81044, "Record does not exist.")
        conflicts(st, zone, rec, self_id=rid)
        out = shape(zone, rid, rec, st.records[rid]["created_on"])
        st.records[rid] = out
        return copy.deepcopy(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description="A local fake of the Cloudflare API v4 "
                                 "(zones and DNS records).")
    ap.add_argument("--listen", default="127.0.0.1:0",
                    help="ADDR:PORT to bind (port 0 picks one; [::1]:PORT for IPv6)")
    ap.add_argument("--token", action="append", default=[],
                    help="an API token with DNS edit rights (repeatable)")
    ap.add_argument("--token-file", action="append", default=[],
                    help="a file whose first line is such a token (repeatable)")
    ap.add_argument("--read-token", action="append", default=[],
                    help="a token that may only read (writes get 403 / 10000)")
    ap.add_argument("--zone", action="append", default=[],
                    help="a zone name served by the fake (repeatable)")
    ap.add_argument("--outside-zone", choices=("reject", "append"), default="reject",
                    help="a record name outside its zone: reject it (default) or append "
                    "the zone name to it")
    ap.add_argument("--dup-code", type=int, choices=(81057, 81058), default=81058,
                    help="error code for an identical record (default 81058)")
    ap.add_argument("--port-file", help="write the bound port to this file")
    ap.add_argument("--verbose", action="store_true", help="one stderr line per request")
    a = ap.parse_args(argv)
    tokens = list(a.token)
    for path in a.token_file:
        with open(path) as fh:
            tokens.append(fh.readline().strip())
    if not tokens and not a.read_token:
        ap.error("give at least one --token, --token-file or --read-token")
    if not a.zone:
        ap.error("give at least one --zone")
    host, _, port = a.listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    Handler.state = State(a.zone, tokens, a.read_token, a.outside_zone, a.dup_code)
    srv = Server((host, int(port)), Handler)
    srv.verbose = a.verbose
    bound = srv.server_address[1]
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as fh:
            fh.write("%d\n" % bound)
        os.replace(tmp, a.port_file)
    print("cloudflare-fake listening on %s:%d zones=%s" % (
        host, bound, ",".join("%s=%s" % (z["name"], z["id"])
                              for z in Handler.state.zones.values())), flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
