/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the HTTP request-head parser and the proxy's own responses: ordinary
 * requests, Host forms (port, IPv6 literal, trailing dot), absolute-form targets, the
 * framing rules that keep the proxy and the VM reading the same request (bare LF/CR,
 * obs-fold, duplicate Host, control bytes), size limits, byte-by-byte arrival, and the
 * exact 301 and error responses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "proxy/http_head.h"

#define MAX_HEAD 8192

/* http_head_parse on an exact-size heap copy, so the sanitizer catches any read past len.
 * Pointers in *out are rebased onto the caller's buffer. */
static enum http_head_status parse_n(const void *in, size_t n, size_t max_head, struct http_head *out) {
        uint8_t *copy = malloc(n ? n : 1);
        assert_non_null(copy);
        if (n)
                memcpy(copy, in, n);
        enum http_head_status s = http_head_parse(copy, n, max_head, out);
        if (s == HTTP_HEAD_OK || s == HTTP_HEAD_NO_HOST) {
                out->method = (const char *)in + (out->method - (const char *)copy);
                out->target = (const char *)in + (out->target - (const char *)copy);
        }
        free(copy);
        return s;
}

static enum http_head_status parse(const char *in, struct http_head *out) {
        return parse_n(in, strlen(in), MAX_HEAD, out);
}

static void assert_status(enum http_head_status got, enum http_head_status want) {
        if (got != want)
                fail_msg("status %s, want %s", http_head_status_to_string(got), http_head_status_to_string(want));
}

static void assert_span(const char *p, size_t n, const char *want) {
        if (n != strlen(want) || memcmp(p, want, n) != 0)
                fail_msg("got \"%.*s\", want \"%s\"", (int)n, p, want);
}

/* Parses in and checks the host and the redirect target. */
static void assert_ok(const char *in, const char *host, const char *target) {
        struct http_head h;
        enum http_head_status s = parse(in, &h);
        if (s != HTTP_HEAD_OK)
                fail_msg("%s: %s", in, http_head_status_to_string(s));
        assert_string_equal(h.host, host);
        assert_int_equal(h.host_len, strlen(host));
        assert_span(h.target, h.target_len, target);
}

static void assert_verdict(const char *in, enum http_head_status want) {
        struct http_head h, before;
        memset(&h, 0x5a, sizeof h);
        before = h;
        enum http_head_status s = parse(in, &h);
        if (s != want)
                fail_msg("\"%s\": %s, want %s", in, http_head_status_to_string(s), http_head_status_to_string(want));
        if (want != HTTP_HEAD_OK && want != HTTP_HEAD_NO_HOST)
                assert_memory_equal(&h, &before, sizeof h);
}

/* Once a prefix gets a verdict, every longer prefix gets the same; a complete head is only
 * recognised once all of it is there. */
static void assert_prefixes(const char *in, enum http_head_status want) {
        size_t n = strlen(in);
        bool decided = false;
        for (size_t k = 0; k <= n; k++) {
                struct http_head h;
                enum http_head_status s = parse_n(in, k, MAX_HEAD, &h);
                if (s == HTTP_HEAD_NEED_MORE && !decided)
                        continue;
                if (!decided && (want == HTTP_HEAD_OK || want == HTTP_HEAD_NO_HOST) && k != n)
                        fail_msg("prefix %zu of %zu: %s before the blank line", k, n, http_head_status_to_string(s));
                decided = true;
                if (s != want)
                        fail_msg("prefix %zu of %zu: %s, want %s", k, n, http_head_status_to_string(s),
                                 http_head_status_to_string(want));
        }
        assert_true(decided);
}

static void test_simple_get(void **state) {
        static const char req[] = "GET /index.html?a=1 HTTP/1.1\r\n"
                                  "Host: example.net\r\n"
                                  "User-Agent: curl/7.88.1\r\n"
                                  "Accept: */*\r\n"
                                  "\r\n";
        struct http_head h;
        assert_status(parse(req, &h), HTTP_HEAD_OK);
        assert_int_equal(h.head_len, strlen(req));
        assert_span(h.method, h.method_len, "GET");
        assert_span(h.target, h.target_len, "/index.html?a=1");
        assert_string_equal(h.host, "example.net");
        assert_int_equal(h.host_len, 11);
        assert_int_equal(h.version_minor, 1);
        assert_prefixes(req, HTTP_HEAD_OK);

        /* What follows the head (a body, a pipelined request) is not part of it. */
        static const char more[] = "POST /x HTTP/1.0\r\nHost: a.net\r\nContent-Length: 5\r\n\r\nhello";
        assert_status(parse(more, &h), HTTP_HEAD_OK);
        assert_int_equal(h.head_len, strlen(more) - 5);
        assert_int_equal(h.version_minor, 0);
        assert_span(h.method, h.method_len, "POST");

        /* Header names are case-insensitive, values keep HT, high bytes and inner spaces. */
        assert_ok("GET / HTTP/1.1\r\nhOsT: a.net\r\nX-Y: a\tb  c \xc3\xa9\r\n\r\n", "a.net", "/");
        /* Methods are any token. */
        assert_ok("PROPFIND /d HTTP/1.1\r\nHost: a.net\r\n\r\n", "a.net", "/d");
        assert_ok("get / HTTP/1.1\r\nHost: a.net\r\n\r\n", "a.net", "/");
        /* HTTP/1.x minor versions above 1 are 1.1 to us. */
        assert_ok("GET / HTTP/1.2\r\nHost: a.net\r\n\r\n", "a.net", "/");
}

static void test_host_forms(void **state) {
        assert_ok("GET / HTTP/1.1\r\nHost: Example.NET:8080\r\n\r\n", "example.net", "/");
        assert_ok("GET / HTTP/1.1\r\nHost: \t example.net. \t\r\n\r\n", "example.net", "/");
        assert_ok("GET / HTTP/1.1\r\nHost:example.net\r\n\r\n", "example.net", "/");
        assert_ok("GET / HTTP/1.1\r\nHost: a.net:\r\n\r\n", "a.net", "/");
        assert_ok("GET / HTTP/1.1\r\nHost: a.net:65535\r\n\r\n", "a.net", "/");
        assert_ok("GET / HTTP/1.1\r\nHost: _acme.vm1.example.net\r\n\r\n", "_acme.vm1.example.net", "/");
        assert_ok("GET / HTTP/1.1\r\nHost: 203.0.113.7:80\r\n\r\n", "203.0.113.7", "/");
        assert_ok("GET / HTTP/1.1\r\nHost: [2001:DB8::1]:80\r\n\r\n", "[2001:db8::1]", "/");
        assert_ok("GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n", "[::1]", "/");
        assert_ok("GET / HTTP/1.1\r\nHost: [::ffff:192.0.2.1]\r\n\r\n", "[::ffff:192.0.2.1]", "/");

        static const char *const bad[] = {
                "Host: a.net:65536",
                "Host: a.net:80a",
                "Host: a.net:123456",
                "Host: a.net:80:80",
                "Host: a.net:000080",
                "Host: a.net:4294967376", /* 2^32 + 80 */
                "Host: [12345::1]",
                "Host: [1:2:3:4:5:6:7:8:9]",
                "Host: [1.2.3.4]",
                "Host: [::1]:4294967376",
                "Host: 2001:db8::1",
                "Host: [2001:db8::1",
                "Host: [2001:db8::zz]",
                "Host: [2001:db8::1]x",
                "Host: [2001:db8::1]:99999",
                "Host: []",
                "Host: [fe80::1%25eth0]",
                "Host: a b.net",
                "Host: a..b",
                "Host: .a.net",
                "Host: a/b",
                "Host: caf\xc3\xa9.net",
                "Host: user@a.net",
                "Host: :80",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char req[512];
                snprintf(req, sizeof req, "GET / HTTP/1.1\r\n%s\r\n\r\n", bad[i]);
                assert_verdict(req, HTTP_HEAD_BAD);
        }

        /* 255 bytes of name is the limit, as for SNI. */
        char name[300], req[600];
        memset(name, 'a', 256);
        for (size_t i = 63; i < 256; i += 64)
                name[i] = '.';
        name[255] = '\0';
        snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", name);
        assert_ok(req, name, "/");
        name[255] = 'a';
        name[256] = '\0';
        snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", name);
        assert_verdict(req, HTTP_HEAD_BAD);
}

static void test_missing_and_duplicate_host(void **state) {
        struct http_head h;
        /* No Host: the caller answers 400, and may log what was asked. */
        assert_status(parse("GET /x HTTP/1.1\r\nAccept: */*\r\n\r\n", &h), HTTP_HEAD_NO_HOST);
        assert_int_equal(h.host_len, 0);
        assert_string_equal(h.host, "");
        assert_span(h.target, h.target_len, "/x");
        assert_status(parse("GET / HTTP/1.0\r\n\r\n", &h), HTTP_HEAD_NO_HOST);
        assert_int_equal(h.version_minor, 0);
        assert_prefixes("GET / HTTP/1.0\r\n\r\n", HTTP_HEAD_NO_HOST);
        /* Empty Host: allowed in 1.0 (no host to route on), invalid in 1.1. */
        assert_verdict("GET / HTTP/1.0\r\nHost:\r\n\r\n", HTTP_HEAD_NO_HOST);
        assert_verdict("GET / HTTP/1.0\r\nHost:   \r\n\r\n", HTTP_HEAD_NO_HOST);
        assert_verdict("GET / HTTP/1.1\r\nHost:\r\n\r\n", HTTP_HEAD_BAD);
        assert_verdict("GET / HTTP/1.1\r\nHost: \t \r\n\r\n", HTTP_HEAD_BAD);

        /* Two Host lines, whatever their case or values. */
        assert_verdict("GET / HTTP/1.1\r\nHost: a.net\r\nHost: a.net\r\n\r\n", HTTP_HEAD_BAD);
        assert_verdict("GET / HTTP/1.1\r\nHost: a.net\r\nX: y\r\nHOST: b.net\r\n\r\n", HTTP_HEAD_BAD);
        assert_verdict("GET / HTTP/1.0\r\nHost:\r\nhost: a.net\r\n\r\n", HTTP_HEAD_BAD);
        assert_prefixes("GET / HTTP/1.1\r\nHost: a.net\r\nhost: b.net\r\n\r\n", HTTP_HEAD_BAD);
        /* Names merely containing "host" are other headers. */
        assert_ok("GET / HTTP/1.1\r\nX-Forwarded-Host: b.net\r\nHost: a.net\r\nHosts: c\r\n\r\n", "a.net", "/");
}

static void test_absolute_form(void **state) {
        /* The target's host wins over Host (RFC 9112 §3.2.2); the path becomes the target. */
        assert_ok("GET http://Other.Example:8080/p/q?r=1 HTTP/1.1\r\nHost: example.net\r\n\r\n", "other.example",
                  "/p/q?r=1");
        assert_ok("GET HTTPS://a.net/ HTTP/1.1\r\nHost: a.net\r\n\r\n", "a.net", "/");
        assert_ok("GET http://a.net HTTP/1.1\r\nHost: a.net\r\n\r\n", "a.net", "");
        assert_ok("GET http://a.net?x=1 HTTP/1.1\r\nHost: a.net\r\n\r\n", "a.net", "?x=1");
        assert_ok("GET http://[2001:db8::5]:80/x HTTP/1.1\r\nHost: [2001:db8::5]\r\n\r\n", "[2001:db8::5]", "/x");
        /* HTTP/1.0 needs no Host when the target names the host... */
        assert_ok("GET http://a.net/x HTTP/1.0\r\n\r\n", "a.net", "/x");
        assert_ok("GET http://a.net/x HTTP/1.0\r\nHost:\r\n\r\n", "a.net", "/x");
        /* ... HTTP/1.1 does (RFC 9112 §3.2). */
        assert_verdict("GET http://a.net/x HTTP/1.1\r\n\r\n", HTTP_HEAD_NO_HOST);
        /* An invalid Host is refused even when the target's host would win. */
        assert_verdict("GET http://a.net/x HTTP/1.1\r\nHost: a b\r\n\r\n", HTTP_HEAD_BAD);

        assert_verdict("GET http://user@a.net/ HTTP/1.1\r\nHost: a.net\r\n\r\n", HTTP_HEAD_BAD);
        assert_verdict("GET http://user:pw@a.net/ HTTP/1.1\r\nHost: a.net\r\n\r\n", HTTP_HEAD_BAD);
        assert_verdict("GET http:///x HTTP/1.1\r\nHost: a.net\r\n\r\n", HTTP_HEAD_BAD);
        assert_verdict("GET http://a..net/ HTTP/1.1\r\nHost: a.net\r\n\r\n", HTTP_HEAD_BAD);
        assert_verdict("GET ftp://a.net/ HTTP/1.1\r\nHost: a.net\r\n\r\n", HTTP_HEAD_BAD);
        assert_verdict("GET http:/a.net/ HTTP/1.1\r\nHost: a.net\r\n\r\n", HTTP_HEAD_BAD);
}

static void test_request_line(void **state) {
        /* OPTIONS * is the one non-path target. */
        struct http_head h;
        assert_status(parse("OPTIONS * HTTP/1.1\r\nHost: a.net\r\n\r\n", &h), HTTP_HEAD_OK);
        assert_span(h.target, h.target_len, "*");
        assert_verdict("GET * HTTP/1.1\r\nHost: a.net\r\n\r\n", HTTP_HEAD_BAD);
        assert_verdict("OPTIONS *x HTTP/1.1\r\nHost: a.net\r\n\r\n", HTTP_HEAD_BAD);

        static const char *const bad[] = {
                "CONNECT a.net:443 HTTP/1.1",
                "GET a/b HTTP/1.1",
                "GET  / HTTP/1.1",
                "GET / HTTP/1.1 ",
                "GET /  HTTP/1.1",
                " GET / HTTP/1.1",
                " / HTTP/1.1",
                "GET  HTTP/1.1",
                "GET\t/ HTTP/1.1",
                "G@T / HTTP/1.1",
                "GET / HTTP/2.0",
                "GET / HTTP/1.10",
                "GET / HTTP/1.",
                "GET / http/1.1",
                "GET / HTTP/1.x",
                "GET /caf\xc3\xa9 HTTP/1.1",
                "GET /a\x01 HTTP/1.1",
                "GET /a\x7f HTTP/1.1",
                "GET / HTTP/1.1\r",
                "",
                "GET /",
                "PRI * HTTP/2.0",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char req[256];
                snprintf(req, sizeof req, "%s\r\nHost: a.net\r\n\r\n", bad[i]);
                assert_verdict(req, HTTP_HEAD_BAD);
        }
        /* An empty line before the request line is not skipped. */
        assert_verdict("\r\nGET / HTTP/1.1\r\nHost: a.net\r\n\r\n", HTTP_HEAD_BAD);
}

static void test_line_endings(void **state) {
        static const char *const bad[] = {
                "GET / HTTP/1.1\nHost: a.net\n\n",
                "GET / HTTP/1.1\r\nHost: a.net\n\r\n",
                "GET / HTTP/1.1\r\nHost: a.net\r\n\n",
                "GET / HTTP/1.1\r\nHost: a.net\r\nX: y\nZ: w\r\n\r\n",
                "GET / HTTP/1.1\r\nHost: a.net\rX: y\r\n\r\n",
                "GET / HTTP/1.1\r\nHost: a.net\r\n\r\r\n",
                "GET / HTTP/1.1\r\r\nHost: a.net\r\n\r\n",
                "GET / HTTP/1.1\n\r\nHost: a.net\r\n\r\n",
                "GET / HTTP/1.1\r\nHost: a.net\r\n\n\r\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_verdict(bad[i], HTTP_HEAD_BAD);
                assert_prefixes(bad[i], HTTP_HEAD_BAD);
        }
}

static void test_header_syntax(void **state) {
        static const char *const bad[] = {
                /* obs-fold, also of the Host line */
                "GET / HTTP/1.1\r\nHost: a.net\r\nX-A: b\r\n c\r\n\r\n",
                "GET / HTTP/1.1\r\nHost: a.net\r\nX-A: b\r\n\tc\r\n\r\n",
                "GET / HTTP/1.1\r\nHost:\r\n a.net\r\n\r\n",
                "GET / HTTP/1.1\r\n Host: a.net\r\n\r\n",
                /* whitespace before the colon, no colon, no name, not a token */
                "GET / HTTP/1.1\r\nHost : a.net\r\n\r\n",
                "GET / HTTP/1.1\r\nHost\t: a.net\r\n\r\n",
                "GET / HTTP/1.1\r\nHost: a.net\r\nX-A b\r\n\r\n",
                "GET / HTTP/1.1\r\nHost: a.net\r\n: b\r\n\r\n",
                "GET / HTTP/1.1\r\nHost: a.net\r\nX(A): b\r\n\r\n",
                "GET / HTTP/1.1\r\nHost: a.net\r\nX-\xc3\xa9: b\r\n\r\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_verdict(bad[i], HTTP_HEAD_BAD);
}

static void test_control_bytes(void **state) {
        /* Controls in values, except HT. */
        for (unsigned c = 0; c < 0x20; c++) {
                char req[128];
                int n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: a.net\r\nX: a%cb\r\n\r\n", c ? c : '@');
                if (c == 0)
                        req[n - 6] = '\0'; /* a NUL in the value */
                struct http_head h;
                enum http_head_status s = parse_n(req, (size_t)n, MAX_HEAD, &h);
                enum http_head_status want = c == '\t' ? HTTP_HEAD_OK : HTTP_HEAD_BAD;
                if (s != want)
                        fail_msg("byte 0x%02x: %s", c, http_head_status_to_string(s));
        }
        assert_verdict("GET / HTTP/1.1\r\nHost: a.net\r\nX: a\x7f\r\n\r\n", HTTP_HEAD_BAD);
        assert_verdict("GET / HTTP/1.1\r\nHost: a.\x7fnet\r\n\r\n", HTTP_HEAD_BAD);
        /* A NUL in the method, the target, a name. */
        struct http_head h;
        assert_status(parse_n("GE\0 / HTTP/1.1\r\nHost: a\r\n\r\n", 27, MAX_HEAD, &h), HTTP_HEAD_BAD);
        assert_status(parse_n("GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n", 28, MAX_HEAD, &h), HTTP_HEAD_BAD);
        assert_status(parse_n("GET / HTTP/1.1\r\nX\0: a\r\nHost: a\r\n\r\n", 34, MAX_HEAD, &h), HTTP_HEAD_BAD);
}

static void test_sizes(void **state) {
        static char big[12000];
        struct http_head h;
        /* A 10 KB header. */
        int n = snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: a.net\r\nCookie: ");
        memset(big + n, 'c', 10240);
        strcpy(big + n + 10240, "\r\n\r\n");
        assert_status(parse(big, &h), HTTP_HEAD_TOO_LARGE);
        /* Known once max_head bytes are in, not before. */
        assert_status(parse_n(big, MAX_HEAD, MAX_HEAD, &h), HTTP_HEAD_TOO_LARGE);
        assert_status(parse_n(big, MAX_HEAD - 1, MAX_HEAD, &h), HTTP_HEAD_NEED_MORE);
        /* A bad byte inside the limit is still reported as bad. */
        big[100] = '\n';
        assert_status(parse(big, &h), HTTP_HEAD_BAD);

        /* A head of exactly max_head bytes fits. */
        n = snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: a.net\r\nX: ");
        memset(big + n, 'x', (size_t)(MAX_HEAD - n - 4));
        strcpy(big + MAX_HEAD - 4, "\r\n\r\n");
        assert_int_equal(strlen(big), MAX_HEAD);
        assert_status(parse(big, &h), HTTP_HEAD_OK);
        assert_int_equal(h.head_len, MAX_HEAD);
        assert_status(parse_n(big, MAX_HEAD, MAX_HEAD - 1, &h), HTTP_HEAD_TOO_LARGE);
        /* A long request line alone. */
        memset(big, 'a', 9000);
        memcpy(big, "GET /", 5);
        big[9000] = '\0';
        assert_status(parse(big, &h), HTTP_HEAD_TOO_LARGE);
}

static void test_byte_by_byte(void **state) {
        assert_prefixes("GET /a/b?c=d HTTP/1.1\r\nHost: vm1.dc-lk.example.net:80\r\nUser-Agent: x\r\nAccept: */*\r\n\r\n",
                        HTTP_HEAD_OK);
        assert_prefixes("GET http://a.net/x HTTP/1.0\r\n\r\n", HTTP_HEAD_OK);
        assert_prefixes("GET / HTTP/1.1\r\nHost: a.net\r\nX: y\r\n z\r\n\r\n", HTTP_HEAD_BAD);
        /* Refused at the first bad byte, long before the blank line. */
        struct http_head h;
        assert_status(parse_n("GET / HTTP/1.1\nHo", 15, MAX_HEAD, &h), HTTP_HEAD_BAD);
        assert_status(parse_n("GET / HTTP/1.1\nHo", 14, MAX_HEAD, &h), HTTP_HEAD_NEED_MORE);
        assert_status(parse_n("\x16\x03\x01\x02\x00", 1, MAX_HEAD, &h), HTTP_HEAD_BAD);
}

static void test_redirect(void **state) {
        struct http_head h;
        char out[512];
        assert_status(parse("GET /a/b?c=d HTTP/1.1\r\nHost: Example.NET:80\r\n\r\n", &h), HTTP_HEAD_OK);
        int n = http_redirect_build(&h, out, sizeof out);
        static const char want[] = "HTTP/1.1 301 Moved Permanently\r\n"
                                   "Location: https://example.net/a/b?c=d\r\n"
                                   "Content-Length: 0\r\n"
                                   "Connection: close\r\n"
                                   "\r\n";
        assert_string_equal(out, want);
        assert_int_equal(n, strlen(want));
        /* Exactly enough room (with the NUL), and one byte less. */
        assert_int_equal(http_redirect_build(&h, out, strlen(want) + 1), n);
        memset(out, 'x', sizeof out);
        assert_int_equal(http_redirect_build(&h, out, strlen(want)), -ENOSPC);
        assert_int_equal(out[0], 'x'); /* untouched */
        assert_int_equal(http_redirect_build(&h, out, 0), -ENOSPC);

        static const struct {
                const char *req, *location;
        } cases[] = {
                {"OPTIONS * HTTP/1.1\r\nHost: a.net\r\n\r\n", "https://a.net/"},
                {"GET http://a.net HTTP/1.1\r\nHost: a.net\r\n\r\n", "https://a.net/"},
                {"GET http://a.net?x=%41 HTTP/1.1\r\nHost: a.net\r\n\r\n", "https://a.net/?x=%41"},
                {"GET http://b.net:8080/%s HTTP/1.1\r\nHost: a.net\r\n\r\n", "https://b.net/%s"},
                {"GET /x HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n", "https://[2001:db8::1]/x"},
                {"GET //x HTTP/1.1\r\nHost: a.net.\r\n\r\n", "https://a.net//x"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                assert_status(parse(cases[i].req, &h), HTTP_HEAD_OK);
                assert_true(http_redirect_build(&h, out, sizeof out) > 0);
                char line[300];
                snprintf(line, sizeof line, "\r\nLocation: %s\r\n", cases[i].location);
                if (!strstr(out, line))
                        fail_msg("%s: got %s", cases[i].req, out);
        }
        /* No host, no redirect. */
        assert_status(parse("GET / HTTP/1.0\r\n\r\n", &h), HTTP_HEAD_NO_HOST);
        assert_int_equal(http_redirect_build(&h, out, sizeof out), -EINVAL);
}

static void test_errors(void **state) {
        char out[256];
        int n = http_error_build(400, out, sizeof out);
        static const char want[] = "HTTP/1.1 400 Bad Request\r\n"
                                   "Content-Type: text/plain\r\n"
                                   "Content-Length: 12\r\n"
                                   "Connection: close\r\n"
                                   "\r\n"
                                   "Bad Request\n";
        assert_string_equal(out, want);
        assert_int_equal(n, strlen(want));
        memset(out, 'x', sizeof out);
        assert_int_equal(http_error_build(400, out, strlen(want)), -ENOSPC);
        assert_int_equal(out[0], 'x');
        assert_int_equal(http_error_build(400, out, strlen(want) + 1), n);

        assert_true(http_error_build(431, out, sizeof out) > 0);
        assert_non_null(strstr(out, "HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert_non_null(strstr(out, "\r\nContent-Length: 32\r\n"));
        assert_non_null(strstr(out, "\r\n\r\nRequest Header Fields Too Large\n"));

        static const unsigned known[] = {400, 403, 404, 408, 414, 421, 431, 502, 503, 504};
        for (size_t i = 0; i < ELEMENTSOF(known); i++) {
                n = http_error_build(known[i], out, sizeof out);
                assert_true(n > 0);
                char status[32];
                snprintf(status, sizeof status, "HTTP/1.1 %u ", known[i]);
                assert_memory_equal(out, status, strlen(status));
                /* Content-Length counts exactly the body. */
                const char *body = strstr(out, "\r\n\r\n") + 4;
                const char *cl = strstr(out, "Content-Length: ") + 16;
                assert_int_equal(strtoul(cl, NULL, 10), strlen(body));
        }
        assert_int_equal(http_error_build(500, out, sizeof out), -EINVAL);
        assert_int_equal(http_error_build(200, out, sizeof out), -EINVAL);
        assert_string_equal(http_head_status_to_string(HTTP_HEAD_NO_HOST), "no-host");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_simple_get),
                cmocka_unit_test(test_host_forms),
                cmocka_unit_test(test_missing_and_duplicate_host),
                cmocka_unit_test(test_absolute_form),
                cmocka_unit_test(test_request_line),
                cmocka_unit_test(test_line_endings),
                cmocka_unit_test(test_header_syntax),
                cmocka_unit_test(test_control_bytes),
                cmocka_unit_test(test_sizes),
                cmocka_unit_test(test_byte_by_byte),
                cmocka_unit_test(test_redirect),
                cmocka_unit_test(test_errors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
