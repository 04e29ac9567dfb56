#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The API's bad-input table (tests/e2e/test-api-bad.sh runs it inside the gw namespace).

Each case sends one malformed or hostile request, over the unix socket (every scope) or the
TCP listener (with a given token), and asserts the HTTP status and the error code of the
JSON error body. Prints TAP-style lines and, last, "COUNTS <passed> <failed>".

Arguments: SOCKET TCP_HOST TCP_PORT TOKENS_JSON FIXTURES_JSON
  TOKENS_JSON   {"admin": "...", "read": "...", "vms": "...", "revoked": "...", "agent": "..."}
  FIXTURES_JSON {"vm": "fx-vm", "vm_subdomain": "...", "vm_hostname": "...", "vm_block": [start, end],
                 "route": "fx-route", "route_hostname": "...", "forward": "fx-fwd",
                 "forward_port": N, "public_ip": "..."}
"""
import json
import socket
import sys

SOCK, TCP_HOST, TCP_PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])
TOK = json.loads(sys.argv[4])
FX = json.loads(sys.argv[5])


def request(method, path, body=None, headers=None, tcp=False, raw_body=None):
    """One HTTP/1.1 request on a fresh connection; returns (status, parsed JSON or None)."""
    if tcp:
        s = socket.create_connection((TCP_HOST, TCP_PORT), timeout=10)
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(SOCK)
    if raw_body is not None:
        data = raw_body
    elif body is None:
        data = b""
    elif isinstance(body, (bytes, bytearray)):
        data = bytes(body)
    elif isinstance(body, str):
        data = body.encode()
    else:
        data = json.dumps(body).encode()
    head = f"{method} {path} HTTP/1.1\r\nHost: edgegw\r\nConnection: close\r\n"
    for k, v in (headers or {}).items():
        head += f"{k}: {v}\r\n"
    if data or method in ("POST", "PUT", "PATCH"):
        head += "Content-Type: application/json\r\n"
        head += f"Content-Length: {len(data)}\r\n"
    head += "\r\n"
    try:
        s.sendall(head.encode() + data)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may answer (413) and close before reading everything
    buf = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    if not buf.startswith(b"HTTP/1."):
        return None, None
    head_end = buf.find(b"\r\n\r\n")
    status = int(buf.split(b" ", 2)[1])
    payload = buf[head_end + 4:] if head_end >= 0 else b""
    try:
        return status, json.loads(payload) if payload.strip() else None
    except ValueError:
        return status, None


def bearer(name):
    return {"Authorization": f"Bearer {TOK[name]}"}


VM = FX["vm"]
PUB = FX["public_ip"]
BLOCK0 = FX["vm_block"][0]

def vm(**kw):
    d = {"id": "bad-vm", "ip": "10.0.1.50"}
    d.update(kw)
    return d


def route(**kw):
    d = {"id": "bad-route", "hostname": "bad.example.org", "target_ip": "10.0.1.51", "target_port": 443}
    d.update(kw)
    return d


def fwd(**kw):
    d = {"id": "bad-fwd", "public_port": 61000, "proto": "tcp", "target_ip": "10.0.1.52", "target_port": 22}
    d.update(kw)
    return d


def without(d, key):
    d = dict(d)
    del d[key]
    return d


# (description, method, path, body, headers, tcp, want_status, want_code)
CASES = [
    # -- JSON syntax and shape
    ("truncated JSON", "POST", "/v1/vms", '{"id": "a", "ip": ', None, False, 400, "invalid_json"),
    ("a JSON array instead of an object", "POST", "/v1/vms", "[]", None, False, 400, "invalid_json"),
    ("an empty body", "POST", "/v1/vms", b"", None, False, 400, "invalid_json"),
    ("a JSON string body", "POST", "/v1/vms", '"vm"', None, False, 400, "invalid_json"),
    ("invalid UTF-8 in the body", "POST", "/v1/vms", b'{"id":"\xff\xfe","ip":"10.0.1.50"}', None, False, 400, "invalid_json"),
    ("NUL byte inside a string", "POST", "/v1/vms", '{"id":"a\\u0000b","ip":"10.0.1.50"}', None, False, 400, "invalid_json"),
    ("id is a number", "POST", "/v1/vms", vm(id=1), None, False, 400, "invalid_argument"),
    ("ip is a number", "POST", "/v1/vms", vm(ip=10), None, False, 400, "invalid_argument"),
    ("ip is missing", "POST", "/v1/vms", without(vm(), "ip"), None, False, 400, "invalid_argument"),
    ("id is missing", "POST", "/v1/vms", without(vm(), "id"), None, False, 400, "invalid_argument"),
    ("an unknown field", "POST", "/v1/vms", vm(color="red"), None, False, 400, "invalid_argument"),
    ("a body of 2 MiB", "POST", "/v1/vms", '{"id":"big","ip":"10.0.1.50","x":"' + "a" * (2 << 20) + '"}', None, False, 413, "payload_too_large"),
    # -- bad addresses and names
    ("ip 10.0.1.300", "POST", "/v1/vms", vm(ip="10.0.1.300"), None, False, 400, "invalid_argument"),
    ("ip with a prefix length", "POST", "/v1/vms", vm(ip="10.0.1.50/24"), None, False, 400, "invalid_argument"),
    ("loopback ip", "POST", "/v1/vms", vm(ip="127.0.0.1"), None, False, 400, "invalid_argument"),
    ("IPv6 loopback ip", "POST", "/v1/vms", vm(ip="::1"), None, False, 400, "invalid_argument"),
    ("unspecified ip", "POST", "/v1/vms", vm(ip="0.0.0.0"), None, False, 400, "invalid_argument"),
    ("multicast ip", "POST", "/v1/vms", vm(ip="224.0.0.1"), None, False, 400, "invalid_argument"),
    ("the gateway's public ip as target", "POST", "/v1/vms", vm(ip=PUB), None, False, 400, "invalid_argument"),
    ("unicode in the id", "POST", "/v1/vms", vm(id="vm-\u00fc"), None, False, 400, "invalid_argument"),
    ("an id of 65 characters", "POST", "/v1/vms", vm(id="a" * 65), None, False, 400, "invalid_argument"),
    ("path traversal in the body id", "POST", "/v1/vms", vm(id="../etc"), None, False, 400, "invalid_argument"),
    ("an id starting with '-'", "POST", "/v1/vms", vm(id="-vm"), None, False, 400, "invalid_argument"),
    ("an empty id", "POST", "/v1/vms", vm(id=""), None, False, 400, "invalid_argument"),
    ("proxy_protocol v3", "POST", "/v1/vms", vm(proxy_protocol="v3"), None, False, 400, "invalid_argument"),
    ("http_passthrough as a string", "POST", "/v1/vms", vm(http_passthrough="yes"), None, False, 400, "invalid_argument"),
    ("allow with host bits set", "POST", "/v1/vms", vm(allow=["10.0.0.1/8"]), None, False, 400, "invalid_argument"),
    ("allow with 17 networks", "POST", "/v1/vms", vm(allow=[f"10.{i}.0.0/16" for i in range(17)]), None, False, 400, "invalid_argument"),
    ("a label key with a space", "POST", "/v1/vms", vm(labels={"bad key": "x"}), None, False, 400, "invalid_argument"),
    ("a label value that is a number", "POST", "/v1/vms", vm(labels={"k": 1}), None, False, 400, "invalid_argument"),
    ("17 labels", "POST", "/v1/vms", vm(labels={f"k{i}": "v" for i in range(17)}), None, False, 400, "invalid_argument"),
    ("a label value with a quote", "POST", "/v1/vms", vm(labels={"k": 'a"b'}), None, False, 400, "invalid_argument"),
    ("labels as an array", "POST", "/v1/vms", vm(labels=["a"]), None, False, 400, "invalid_argument"),
    ("a hostname with an underscore and capitals", "POST", "/v1/vms", vm(hostnames=["Bad_Name.example.org"]), None, False, 400, "invalid_argument"),
    ("a hostname with an empty label", "POST", "/v1/vms", vm(hostnames=["a..example.org"]), None, False, 400, "invalid_argument"),
    ("unicode in a hostname", "POST", "/v1/vms", vm(hostnames=["b\u00fccher.example.org"]), None, False, 400, "invalid_argument"),
    ("17 hostnames", "POST", "/v1/vms", vm(hostnames=[f"h{i}.example.org" for i in range(17)]), None, False, 400, "invalid_argument"),
    ("a hostname twice", "POST", "/v1/vms", vm(hostnames=["d.example.org", "d.example.org"]), None, False, 400, "invalid_argument"),
    ("a negative ttl", "POST", "/v1/vms", vm(ttl=-5), None, False, 400, "invalid_argument"),
    ("ttl and expires_at together", "POST", "/v1/vms", vm(ttl=3600, expires_at="2099-01-01T00:00:00Z"), None, False, 400, "invalid_argument"),
    ("expires_at that is not a time", "POST", "/v1/vms", vm(expires_at="tomorrow"), None, False, 400, "invalid_argument"),
    ("expires_at in the past", "POST", "/v1/vms", vm(expires_at="2001-01-01T00:00:00Z"), None, False, 400, "invalid_argument"),
    # -- conflicts
    ("a VM id that exists", "POST", "/v1/vms", vm(id=VM), None, False, 409, "vm_exists"),
    ("an ip another VM has", "POST", "/v1/vms", vm(ip=FX["vm_ip"]), None, False, 409, "ip_in_use"),
    ("a hostname a route has", "POST", "/v1/vms", vm(hostnames=[FX["route_hostname"]]), None, False, 409, "hostname_in_use"),
    # -- paths, methods, preconditions, paging
    ("path traversal in the URL id", "GET", "/v1/vms/..%2F..%2Fetc%2Fpasswd", None, None, False, 400, "invalid_argument"),
    ("a dot-dot URL id", "DELETE", "/v1/vms/..", None, None, False, 400, "invalid_argument"),
    ("an id with a percent-encoded NUL", "GET", "/v1/vms/a%00b", None, None, False, 400, "invalid_argument"),
    ("GET an unknown VM", "GET", "/v1/vms/no-such-vm", None, None, False, 404, "not_found"),
    ("DELETE an unknown VM", "DELETE", "/v1/vms/no-such-vm", None, None, False, 404, "not_found"),
    ("PATCH on /v1/vms", "PATCH", "/v1/vms", vm(), None, False, 405, "method_not_allowed"),
    ("DELETE on the collection", "DELETE", "/v1/vms", None, None, False, 405, "method_not_allowed"),
    ("POST on /v1/status", "POST", "/v1/status", {}, None, False, 405, "method_not_allowed"),
    ("an unknown path", "GET", "/v1/nothing", None, None, False, 404, "not_found"),
    ("PUT with a body id that differs from the path", "PUT", f"/v1/vms/{VM}", vm(id="other"), None, False, 400, "invalid_argument"),
    ("PUT with a stale If-Match", "PUT", f"/v1/vms/{VM}", vm(id=VM, ip=FX["vm_ip"]), {"If-Match": '"999"'}, False, 412, "precondition_failed"),
    ("DELETE with a stale If-Match", "DELETE", f"/v1/vms/{VM}", None, {"If-Match": '"999"'}, False, 412, "precondition_failed"),
    ("limit=0", "GET", "/v1/vms?limit=0", None, None, False, 400, "invalid_argument"),
    ("limit=5000", "GET", "/v1/vms?limit=5000", None, None, False, 400, "invalid_argument"),
    ("limit=abc", "GET", "/v1/vms?limit=abc", None, None, False, 400, "invalid_argument"),
    ("a label selector with a bad key", "GET", "/v1/vms?label=bad%20key", None, None, False, 400, "invalid_argument"),
    ("17 query arguments", "GET", "/v1/vms?" + "&".join(f"a{i}=1" for i in range(17)), None, None, False, 400, "invalid_argument"),
    # -- routes
    ("route without hostname", "POST", "/v1/routes", without(route(), "hostname"), None, False, 400, "invalid_argument"),
    ("route hostname '*.'", "POST", "/v1/routes", route(hostname="*."), None, False, 400, "invalid_argument"),
    ("route hostname '**.example.org'", "POST", "/v1/routes", route(hostname="**.example.org"), None, False, 400, "invalid_argument"),
    ("route hostname with a trailing dot and spaces", "POST", "/v1/routes", route(hostname=" x.example.org. "), None, False, 400, "invalid_argument"),
    ("route target_port 0", "POST", "/v1/routes", route(target_port=0), None, False, 400, "invalid_argument"),
    ("route target_port 65536", "POST", "/v1/routes", route(target_port=65536), None, False, 400, "invalid_argument"),
    ("route target_ip that is a name", "POST", "/v1/routes", route(target_ip="backend.local"), None, False, 400, "invalid_argument"),
    ("route mode terminate", "POST", "/v1/routes", route(mode="terminate"), None, False, 422, "unsupported"),
    ("route hostname another route has", "POST", "/v1/routes", route(hostname=FX["route_hostname"]), None, False, 409, "hostname_in_use"),
    ("route hostname that is a VM's generated name", "POST", "/v1/routes", route(hostname=FX["vm_subdomain"]), None, False, 409, "hostname_in_use"),
    ("route hostname that is a VM's extra name", "POST", "/v1/routes", route(hostname=FX["vm_hostname"]), None, False, 409, "hostname_in_use"),
    ("route id that exists", "POST", "/v1/routes", route(id=FX["route"], hostname="new.example.org"), None, False, 409, "route_exists"),
    ("route id with a slash", "GET", "/v1/routes/a%2Fb", None, None, False, 400, "invalid_argument"),
    ("GET an unknown route", "GET", "/v1/routes/no-such-route", None, None, False, 404, "not_found"),
    # -- forwards
    ("forward public_port 0", "POST", "/v1/forwards", fwd(public_port=0), None, False, 400, "invalid_argument"),
    ("forward public_port 65536", "POST", "/v1/forwards", fwd(public_port=65536), None, False, 400, "invalid_argument"),
    ("forward public_port as a string", "POST", "/v1/forwards", fwd(public_port="22"), None, False, 400, "invalid_argument"),
    ("forward public_port 1.5", "POST", "/v1/forwards", fwd(public_port=1.5), None, False, 400, "invalid_argument"),
    ("forward proto sctp", "POST", "/v1/forwards", fwd(proto="sctp"), None, False, 400, "invalid_argument"),
    ("forward target_port -1", "POST", "/v1/forwards", fwd(target_port=-1), None, False, 400, "invalid_argument"),
    ("forward to the public ip", "POST", "/v1/forwards", fwd(target_ip=PUB), None, False, 400, "invalid_argument"),
    ("forward overlapping another forward", "POST", "/v1/forwards", fwd(public_port=FX["forward_port"]), None, False, 409, "port_in_use"),
    ("forward inside a VM's port block", "POST", "/v1/forwards", fwd(public_port=BLOCK0 + 1), None, False, 409, "port_in_use"),
    ("forward on the SNI proxy's port 443", "POST", "/v1/forwards", fwd(public_port=443), None, False, 409, "port_in_use"),
    ("forward id that exists", "POST", "/v1/forwards", fwd(id=FX["forward"], public_port=61001), None, False, 409, "forward_exists"),
    # -- the seed agent's paths
    ("agent route with an http:// target_url", "POST", "/http/routes", {"route_id": "ag1", "hostname": "ag1.example.org", "target_url": "http://10.0.1.53:8080", "entrypoint": "websecure", "certresolver": "dnsresolver"}, None, False, 422, "tls_termination_unsupported"),
    ("agent route without route_id", "POST", "/http/routes", {"hostname": "ag2.example.org", "target_url": "https://10.0.1.53"}, None, False, 400, "invalid_argument"),
    ("agent route with a ftp:// target_url", "POST", "/http/routes", {"route_id": "ag3", "hostname": "ag3.example.org", "target_url": "ftp://10.0.1.53"}, None, False, 400, "invalid_argument"),
    ("agent forward with public_port 70000", "POST", "/tcp/forwards", {"forward_id": "agf", "public_port": 70000, "target_ip": "10.0.1.53", "target_port": 22, "proto": "tcp"}, None, False, 400, "invalid_argument"),
    ("agent DELETE of an unknown route", "DELETE", "/http/routes/no-such", None, None, False, 404, "not_found"),
    ("agent DELETE of an unknown forward", "DELETE", "/tcp/forwards/no-such", None, None, False, 404, "not_found"),
    # -- tokens
    ("token with an unknown scope", "POST", "/v1/tokens", {"name": "t-bad", "scopes": ["root"]}, None, False, 400, "invalid_argument"),
    ("token with no scopes", "POST", "/v1/tokens", {"name": "t-bad", "scopes": []}, None, False, 400, "invalid_argument"),
    ("token name with a space", "POST", "/v1/tokens", {"name": "a b", "scopes": ["read"]}, None, False, 400, "invalid_argument"),
    ("token name that exists", "POST", "/v1/tokens", {"name": "reader", "scopes": ["read"]}, None, False, 409, "token_exists"),
    ("DELETE an unknown token", "DELETE", "/v1/tokens/no-such", None, None, False, 404, "not_found"),
    # -- authentication and scopes on the TCP listener
    ("no token at all", "GET", "/v1/vms", None, None, True, 401, "unauthorized"),
    ("a garbage bearer token", "GET", "/v1/vms", None, {"Authorization": "Bearer garbage"}, True, 401, "unauthorized"),
    ("a well-formed unknown token", "GET", "/v1/vms", None, {"Authorization": "Bearer egw_0123456789abcdef_" + "A" * 43}, True, 401, "unauthorized"),
    ("a known key id with a wrong secret", "GET", "/v1/vms", None, {"Authorization": "Bearer " + TOK["read"][:-4] + "AAAA"}, True, 401, "unauthorized"),
    ("a revoked token", "GET", "/v1/vms", None, bearer("revoked"), True, 401, "unauthorized"),
    ("Basic instead of Bearer", "GET", "/v1/vms", None, {"Authorization": "Basic YWRtaW46YWRtaW4="}, True, 401, "unauthorized"),
    ("a wrong X-Agent-Token", "GET", "/http/routes", None, {"X-Agent-Token": "wrong"}, True, 401, "unauthorized"),
    ("read token creating a VM", "POST", "/v1/vms", vm(), bearer("read"), True, 403, "forbidden"),
    ("read token deleting a VM", "DELETE", f"/v1/vms/{VM}", None, bearer("read"), True, 403, "forbidden"),
    ("vms token creating a route", "POST", "/v1/routes", route(), bearer("vms"), True, 403, "forbidden"),
    ("vms token creating a forward", "POST", "/v1/forwards", fwd(), bearer("vms"), True, 403, "forbidden"),
    ("vms token listing tokens", "GET", "/v1/tokens", None, bearer("vms"), True, 403, "forbidden"),
    ("read token reading the audit", "GET", "/v1/audit", None, bearer("read"), True, 403, "forbidden"),
    ("read token creating a token", "POST", "/v1/tokens", {"name": "escalate", "scopes": ["admin"]}, bearer("read"), True, 403, "forbidden"),
    ("the agent token creating a VM", "POST", "/v1/vms", vm(), {"X-Agent-Token": TOK["agent"]}, True, 403, "forbidden"),
    ("admin token, malformed JSON over TCP", "POST", "/v1/vms", "{", bearer("admin"), True, 400, "invalid_json"),
]


def main():
    passed = failed = 0
    for desc, method, path, body, headers, tcp, want_status, want_code in CASES:
        status, doc = request(method, path, body, headers, tcp)
        code = None
        if isinstance(doc, dict) and isinstance(doc.get("error"), dict):
            code = doc["error"].get("code")
            msg = doc["error"].get("message")
        else:
            msg = None
        ok = status == want_status and code == want_code and isinstance(msg, str) and msg != ""
        where = "tcp" if tcp else "unix"
        if ok:
            passed += 1
            print(f"ok - {method} {path[:60]} ({desc}, {where}) -> {status} {code}")
        else:
            failed += 1
            print(f"not ok - {method} {path[:60]} ({desc}, {where}): want {want_status} {want_code}, "
                  f"got {status} {json.dumps(doc)[:300]}")
    print(f"# {len(CASES)} bad-input cases")
    print(f"COUNTS {passed} {failed}")


if __name__ == "__main__":
    main()
