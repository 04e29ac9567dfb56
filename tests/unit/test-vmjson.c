/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the VM JSON codecs: tables of create-request bodies (the required fields,
 * the optional proxy options, then host names, labels and expiry) with the status and the
 * words of the error each must give, the id of a PUT, and every field of the VM object for a
 * fixed VM with and without metadata and traffic; then the DNS outbox's query filters and
 * row objects (/v1/dns/records and a VM's "dns" list).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "api/vmjson.h"
#include "core/util.h"

enum expect { OK, BAD_JSON, BAD_ARG, ANY_ERROR };

struct decode_case {
        const char *name;
        const char *body;
        size_t len; /* 0: strlen(body) */
        enum expect expect;
        const char *id; /* when OK */
        const char *ip; /* when OK: canonical text */
        const char *err1, *err2; /* words the error must contain (optional) */
};

static const struct decode_case decode_cases[] = {
        /* Valid requests. */
        {"v4", "{\"id\": \"contract-123\", \"ip\": \"10.0.1.5\"}", 0, OK, "contract-123", "10.0.1.5", NULL, NULL},
        {"v4 reversed order, no spaces", "{\"ip\":\"10.0.1.5\",\"id\":\"a\"}", 0, OK, "a", "10.0.1.5", NULL, NULL},
        {"v6", "{\"id\": \"vm.v6_1\", \"ip\": \"2001:db8::10\"}", 0, OK, "vm.v6_1", "2001:db8::10", NULL, NULL},
        {"v6 non-canonical", "{\"id\": \"x\", \"ip\": \"2001:0DB8:0:0::0010\"}", 0, OK, "x", "2001:db8::10", NULL, NULL},
        {"whitespace around", " \n\t{\"id\":\"x\",\"ip\":\"192.168.1.2\"}\r\n ", 0, OK, "x", "192.168.1.2", NULL, NULL},
        {"64-char id", "{\"id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"ip\":\"10.0.0.1\"}", 0, OK,
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "10.0.0.1", NULL, NULL},
        {"escaped ascii in id", "{\"id\":\"\\u0061b\",\"ip\":\"10.0.0.1\"}", 0, OK, "ab", "10.0.0.1", NULL, NULL},

        /* Not JSON, or not an object. */
        {"empty body", "", 0, BAD_JSON, NULL, NULL, "not valid JSON", NULL},
        {"garbage", "id=x&ip=10.0.0.1", 0, BAD_JSON, NULL, NULL, "not valid JSON", NULL},
        {"truncated", "{\"id\": \"x\", \"ip\": \"10.0.0.1\"", 0, BAD_JSON, NULL, NULL, "not valid JSON", NULL},
        {"trailing garbage", "{\"id\":\"x\",\"ip\":\"10.0.0.1\"} x", 0, BAD_JSON, NULL, NULL, NULL, NULL},
        {"two objects", "{\"id\":\"x\",\"ip\":\"10.0.0.1\"}{}", 0, BAD_JSON, NULL, NULL, NULL, NULL},
        {"single quotes", "{'id':'x','ip':'10.0.0.1'}", 0, BAD_JSON, NULL, NULL, NULL, NULL},
        {"trailing comma", "{\"id\":\"x\",\"ip\":\"10.0.0.1\",}", 0, BAD_JSON, NULL, NULL, NULL, NULL},
        {"array", "[{\"id\":\"x\",\"ip\":\"10.0.0.1\"}]", 0, BAD_JSON, NULL, NULL, "must be a JSON object", NULL},
        {"string", "\"x\"", 0, BAD_JSON, NULL, NULL, NULL, NULL},
        {"number", "42", 0, BAD_JSON, NULL, NULL, NULL, NULL},
        {"null", "null", 0, BAD_JSON, NULL, NULL, NULL, NULL},
        {"true", "true", 0, BAD_JSON, NULL, NULL, NULL, NULL},
        {"invalid utf-8", "{\"id\":\"\xff\",\"ip\":\"10.0.0.1\"}", 0, BAD_JSON, NULL, NULL, NULL, NULL},
        /* jansson quotes the bad input in its message: the error must still be valid UTF-8. */
        {"invalid utf-8 after a bad escape", "{\"\\u1\xcf\x9a" "9\\n\":1}", 0, BAD_JSON, NULL, NULL, "invalid escape",
         NULL},
        {"raw control char in string", "{\"id\":\"a\x01\",\"ip\":\"10.0.0.1\"}", 0, BAD_JSON, NULL, NULL, NULL, NULL},
        {"duplicate key", "{\"id\":\"x\",\"id\":\"y\",\"ip\":\"10.0.0.1\"}", 0, BAD_JSON, NULL, NULL, "duplicate", NULL},
        {"duplicate ip", "{\"id\":\"x\",\"ip\":\"10.0.0.1\",\"ip\":\"10.0.0.1\"}", 0, BAD_JSON, NULL, NULL, "duplicate",
         NULL},

        /* Missing fields. */
        {"empty object", "{}", 0, BAD_ARG, NULL, NULL, "'id'", "required"},
        {"missing id", "{\"ip\":\"10.0.0.1\"}", 0, BAD_ARG, NULL, NULL, "'id'", "required"},
        {"missing ip", "{\"id\":\"x\"}", 0, BAD_ARG, NULL, NULL, "'ip'", "required"},

        /* Wrong types. */
        {"number id", "{\"id\":123,\"ip\":\"10.0.0.1\"}", 0, BAD_ARG, NULL, NULL, "'id'", "string"},
        {"null id", "{\"id\":null,\"ip\":\"10.0.0.1\"}", 0, BAD_ARG, NULL, NULL, "'id'", "string"},
        {"bool id", "{\"id\":true,\"ip\":\"10.0.0.1\"}", 0, BAD_ARG, NULL, NULL, "'id'", "string"},
        {"object id", "{\"id\":{\"a\":1},\"ip\":\"10.0.0.1\"}", 0, BAD_ARG, NULL, NULL, "'id'", "string"},
        {"array id", "{\"id\":[\"x\"],\"ip\":\"10.0.0.1\"}", 0, BAD_ARG, NULL, NULL, "'id'", "string"},
        {"null ip", "{\"id\":\"x\",\"ip\":null}", 0, BAD_ARG, NULL, NULL, "'ip'", "string"},
        {"object ip", "{\"id\":\"x\",\"ip\":{\"v4\":\"10.0.0.1\"}}", 0, BAD_ARG, NULL, NULL, "'ip'", "string"},
        {"number ip", "{\"id\":\"x\",\"ip\":167772161}", 0, BAD_ARG, NULL, NULL, "'ip'", "string"},
        {"array ip", "{\"id\":\"x\",\"ip\":[10,0,0,1]}", 0, BAD_ARG, NULL, NULL, "'ip'", "string"},

        /* Unknown fields are named. */
        {"unknown field", "{\"id\":\"x\",\"ip\":\"10.0.0.1\",\"name\":\"web\"}", 0, BAD_ARG, NULL, NULL, "unknown field",
         "'name'"},
        {"unknown nested", "{\"id\":\"x\",\"ip\":\"10.0.0.1\",\"meta\":{\"id\":\"y\"}}", 0, BAD_ARG, NULL, NULL, "'meta'",
         NULL},
        {"unknown control key", "{\"id\":\"x\",\"ip\":\"10.0.0.1\",\"a\\nb\":1}", 0, BAD_ARG, NULL, NULL, "'a?b'", NULL},
        {"unknown unicode key", "{\"id\":\"x\",\"ip\":\"10.0.0.1\",\"caf\xc3\xa9\":1}", 0, BAD_ARG, NULL, NULL,
         "'caf?" "?'", NULL},
        {"case matters", "{\"ID\":\"x\",\"ip\":\"10.0.0.1\"}", 0, BAD_ARG, NULL, NULL, "'ID'", NULL},

        /* Bad ids. */
        {"empty id", "{\"id\":\"\",\"ip\":\"10.0.0.1\"}", 0, BAD_ARG, NULL, NULL, "'id'", NULL},
        {"65-char id", "{\"id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"ip\":\"10.0.0.1\"}", 0,
         BAD_ARG, NULL, NULL, "'id'", NULL},
        {"id starts with dash", "{\"id\":\"-x\",\"ip\":\"10.0.0.1\"}", 0, BAD_ARG, NULL, NULL, "'id'", NULL},
        {"path id", "{\"id\":\"../etc\",\"ip\":\"10.0.0.1\"}", 0, BAD_ARG, NULL, NULL, "'id'", NULL},
        {"slash id", "{\"id\":\"a/b\",\"ip\":\"10.0.0.1\"}", 0, BAD_ARG, NULL, NULL, "'id'", NULL},
        {"space id", "{\"id\":\"a b\",\"ip\":\"10.0.0.1\"}", 0, BAD_ARG, NULL, NULL, "'id'", NULL},
        {"unicode id", "{\"id\":\"caf\\u00e9\",\"ip\":\"10.0.0.1\"}", 0, BAD_ARG, NULL, NULL, "'id'", NULL},
        {"raw unicode id", "{\"id\":\"\xe2\x98\x83\",\"ip\":\"10.0.0.1\"}", 0, BAD_ARG, NULL, NULL, "'id'", NULL},
        {"NUL in id", "{\"id\":\"a\\u0000b\",\"ip\":\"10.0.0.1\"}", 0, ANY_ERROR, NULL, NULL, NULL, NULL},

        /* Bad ips. */
        {"loopback", "{\"id\":\"x\",\"ip\":\"127.0.0.1\"}", 0, BAD_ARG, NULL, NULL, "'ip'", "loopback"},
        {"v6 loopback", "{\"id\":\"x\",\"ip\":\"::1\"}", 0, BAD_ARG, NULL, NULL, "'ip'", "loopback"},
        {"multicast", "{\"id\":\"x\",\"ip\":\"224.0.0.1\"}", 0, BAD_ARG, NULL, NULL, "'ip'", "multicast"},
        {"v6 multicast", "{\"id\":\"x\",\"ip\":\"ff02::1\"}", 0, BAD_ARG, NULL, NULL, "'ip'", "multicast"},
        {"broadcast", "{\"id\":\"x\",\"ip\":\"255.255.255.255\"}", 0, BAD_ARG, NULL, NULL, "'ip'", "broadcast"},
        {"unspecified", "{\"id\":\"x\",\"ip\":\"0.0.0.0\"}", 0, BAD_ARG, NULL, NULL, "'ip'", "unspecified"},
        {"link-local", "{\"id\":\"x\",\"ip\":\"fe80::1\"}", 0, BAD_ARG, NULL, NULL, "'ip'", "link-local"},
        {"mapped", "{\"id\":\"x\",\"ip\":\"::ffff:10.0.0.1\"}", 0, BAD_ARG, NULL, NULL, "'ip'", "IPv4-mapped"},
        {"out of range octet", "{\"id\":\"x\",\"ip\":\"999.1.1.1\"}", 0, BAD_ARG, NULL, NULL, "'ip'", "'999.1.1.1'"},
        {"prefix", "{\"id\":\"x\",\"ip\":\"10.0.0.1/24\"}", 0, BAD_ARG, NULL, NULL, "'ip'", "not an IPv4 or IPv6"},
        {"zone", "{\"id\":\"x\",\"ip\":\"fe80::1%eth0\"}", 0, BAD_ARG, NULL, NULL, "'ip'", NULL},
        {"brackets", "{\"id\":\"x\",\"ip\":\"[2001:db8::1]\"}", 0, BAD_ARG, NULL, NULL, "'ip'", NULL},
        {"empty ip", "{\"id\":\"x\",\"ip\":\"\"}", 0, BAD_ARG, NULL, NULL, "'ip'", NULL},
        {"host name ip", "{\"id\":\"x\",\"ip\":\"vm1.example\"}", 0, BAD_ARG, NULL, NULL, "'ip'", NULL},
        {"control chars in ip", "{\"id\":\"x\",\"ip\":\"10.0.0.1\\n\"}", 0, BAD_ARG, NULL, NULL, "'10.0.0.1?'", NULL},
        {"NUL in ip", "{\"id\":\"x\",\"ip\":\"10.0.0.1\\u0000\"}", 0, ANY_ERROR, NULL, NULL, NULL, NULL},
};

/* Decodes an exact-size heap copy of body (reading past it is caught by ASan) into *req,
 * which starts filled with 0x5a bytes (a copy in *before). */
static enum api_decode_status decode_copy(const char *body, size_t len, struct vm_request *req,
                                          struct vm_request *before, char err[static API_ERROR_MAX]) {
        char *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, body, len);
        memset(req, 0x5a, sizeof *req);
        *before = *req;
        memset(err, 0, API_ERROR_MAX);
        enum api_decode_status st = vm_request_decode(copy, len, NULL, req, err);
        free(copy);
        return st;
}

/* A refused body: the status wanted, *ret untouched, a message that says what is wrong. */
static void check_refused(const char *name, enum expect expect, enum api_decode_status st,
                          const struct vm_request *req, const struct vm_request *before, const char *err,
                          const char *err1, const char *err2) {
        switch (expect) {
        case OK: fail_msg("%s: check_refused on an OK case", name); return;
        case BAD_JSON:
                if (st != API_DECODE_INVALID_JSON)
                        fail_msg("%s: status %d, want INVALID_JSON (%s)", name, st, err);
                break;
        case BAD_ARG:
                if (st != API_DECODE_INVALID_ARGUMENT)
                        fail_msg("%s: status %d, want INVALID_ARGUMENT (%s)", name, st, err);
                break;
        case ANY_ERROR:
                if (st == API_DECODE_OK)
                        fail_msg("%s: accepted", name);
                break;
        }
        if (memcmp(req, before, sizeof *req) != 0)
                fail_msg("%s: request written on failure", name);
        assert_non_null(memchr(err, '\0', API_ERROR_MAX));
        if (!err[0])
                fail_msg("%s: no error message", name);
        if ((err1 && !strstr(err, err1)) || (err2 && !strstr(err, err2)))
                fail_msg("%s: error '%s' lacks '%s' / '%s'", name, err, err1, err2 ? err2 : "");
        /* The message can always be sent back in an API error object (valid UTF-8). */
        json_t *e = api_error_json("invalid_argument", err);
        if (!e)
                fail_msg("%s: error '%s' cannot be put in a JSON error", name, err);
        json_decref(e);
}

static void run_decode_case(const struct decode_case *c) {
        struct vm_request req, before;
        char err[API_ERROR_MAX];
        enum api_decode_status st = decode_copy(c->body, c->len ? c->len : strlen(c->body), &req, &before, err);
        if (c->expect != OK) {
                check_refused(c->name, c->expect, st, &req, &before, err, c->err1, c->err2);
                return;
        }
        if (st != API_DECODE_OK)
                fail_msg("%s: status %d: %s", c->name, st, err);
        assert_string_equal(req.id, c->id);
        assert_true(vm_id_valid(req.id));
        char ip[IP_ADDR_STRLEN];
        assert_string_equal(ip_addr_format(&req.ip, ip), c->ip);
        assert_int_equal(ip_target_check(&req.ip), IP_TARGET_OK);
        /* Options left out are the defaults. */
        assert_int_equal(req.proxy_protocol, VM_PROXY_NONE);
        assert_false(req.http_passthrough);
        assert_int_equal(req.n_allow, 0);
}

static void test_decode_table(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(decode_cases); i++)
                run_decode_case(&decode_cases[i]);
}

/* The optional fields; each body is {"id":"x","ip":"10.0.0.1", FIELDS}. */
struct option_case {
        const char *name;
        const char *fields; /* JSON members after id and ip */
        enum expect expect;
        const char *proxy; /* when OK: the decoded proxy_protocol spelled out */
        bool passthrough; /* when OK */
        const char *allow; /* when OK: the canonical CIDRs joined by one space ("" = none) */
        const char *err1, *err2; /* words the error must contain (optional) */
};

#define SIXTEEN_V4 "\"10.0.0.0/16\",\"10.1.0.0/16\",\"10.2.0.0/16\",\"10.3.0.0/16\",\"10.4.0.0/16\",\"10.5.0.0/16\"," \
                   "\"10.6.0.0/16\",\"10.7.0.0/16\",\"10.8.0.0/16\",\"10.9.0.0/16\",\"10.10.0.0/16\",\"10.11.0.0/16\"," \
                   "\"10.12.0.0/16\",\"10.13.0.0/16\",\"10.14.0.0/16\",\"10.15.0.0/16\""
#define SIXTEEN_V4_CANONICAL                                                                                       \
        "10.0.0.0/16 10.1.0.0/16 10.2.0.0/16 10.3.0.0/16 10.4.0.0/16 10.5.0.0/16 10.6.0.0/16 10.7.0.0/16 "         \
        "10.8.0.0/16 10.9.0.0/16 10.10.0.0/16 10.11.0.0/16 10.12.0.0/16 10.13.0.0/16 10.14.0.0/16 10.15.0.0/16"

static const struct option_case option_cases[] = {
        /* Valid options. */
        {"all three", "\"proxy_protocol\":\"v2\",\"http_passthrough\":true,\"allow\":[\"203.0.113.0/24\"]", OK, "v2",
         true, "203.0.113.0/24", NULL, NULL},
        {"proxy none", "\"proxy_protocol\":\"none\"", OK, "none", false, "", NULL, NULL},
        {"proxy v1", "\"proxy_protocol\":\"v1\"", OK, "v1", false, "", NULL, NULL},
        {"proxy v2", "\"proxy_protocol\":\"v2\"", OK, "v2", false, "", NULL, NULL},
        {"passthrough true", "\"http_passthrough\":true", OK, "none", true, "", NULL, NULL},
        {"passthrough false", "\"http_passthrough\":false", OK, "none", false, "", NULL, NULL},
        {"allow empty: anyone", "\"allow\":[]", OK, "none", false, "", NULL, NULL},
        {"allow a host is a /32", "\"allow\":[\"198.51.100.7\"]", OK, "none", false, "198.51.100.7/32", NULL, NULL},
        {"allow a v6 host is a /128", "\"allow\":[\"2001:db8::7\"]", OK, "none", false, "2001:db8::7/128", NULL, NULL},
        {"allow v6, canonicalized", "\"allow\":[\"2001:0DB8:0::/32\"]", OK, "none", false, "2001:db8::/32", NULL, NULL},
        {"allow everything, both families", "\"allow\":[\"0.0.0.0/0\",\"::/0\"]", OK, "none", false, "0.0.0.0/0 ::/0",
         NULL, NULL},
        {"allow overlapping but distinct", "\"allow\":[\"10.0.0.0/8\",\"10.1.0.0/16\"]", OK, "none", false,
         "10.0.0.0/8 10.1.0.0/16", NULL, NULL},
        {"allow ::/96 is not IPv4-mapped", "\"allow\":[\"::/96\"]", OK, "none", false, "::/96", NULL, NULL},
        {"allow sixteen", "\"allow\":[" SIXTEEN_V4 "]", OK, "none", false, SIXTEEN_V4_CANONICAL, NULL, NULL},
        {"options first, any order", NULL, OK, "v1", true, "192.0.2.0/24", NULL, NULL},

        /* proxy_protocol: one of three strings, exactly. */
        {"proxy upper case", "\"proxy_protocol\":\"V2\"", BAD_ARG, NULL, false, NULL, "'proxy_protocol'", "'V2'"},
        {"proxy v3", "\"proxy_protocol\":\"v3\"", BAD_ARG, NULL, false, NULL, "'proxy_protocol'", "none, v1, v2"},
        {"proxy empty", "\"proxy_protocol\":\"\"", BAD_ARG, NULL, false, NULL, "'proxy_protocol'", NULL},
        {"proxy padded", "\"proxy_protocol\":\" v1\"", BAD_ARG, NULL, false, NULL, "'proxy_protocol'", NULL},
        {"proxy number", "\"proxy_protocol\":2", BAD_ARG, NULL, false, NULL, "'proxy_protocol'", "string"},
        {"proxy null", "\"proxy_protocol\":null", BAD_ARG, NULL, false, NULL, "'proxy_protocol'", "string"},
        {"proxy bool", "\"proxy_protocol\":true", BAD_ARG, NULL, false, NULL, "'proxy_protocol'", "string"},
        {"proxy array", "\"proxy_protocol\":[\"v2\"]", BAD_ARG, NULL, false, NULL, "'proxy_protocol'", "string"},
        {"proxy NUL", "\"proxy_protocol\":\"v2\\u0000\"", ANY_ERROR, NULL, false, NULL, NULL, NULL},
        {"proxy control char", "\"proxy_protocol\":\"v2\\n\"", BAD_ARG, NULL, false, NULL, "'v2?'", NULL},

        /* http_passthrough: a JSON boolean, nothing truthy. */
        {"passthrough string", "\"http_passthrough\":\"true\"", BAD_ARG, NULL, false, NULL, "'http_passthrough'",
         "true or false"},
        {"passthrough number", "\"http_passthrough\":1", BAD_ARG, NULL, false, NULL, "'http_passthrough'", NULL},
        {"passthrough null", "\"http_passthrough\":null", BAD_ARG, NULL, false, NULL, "'http_passthrough'", NULL},
        {"passthrough object", "\"http_passthrough\":{}", BAD_ARG, NULL, false, NULL, "'http_passthrough'", NULL},

        /* allow: an array of at most 16 distinct networks. */
        {"allow string", "\"allow\":\"203.0.113.0/24\"", BAD_ARG, NULL, false, NULL, "'allow'", "array"},
        {"allow null", "\"allow\":null", BAD_ARG, NULL, false, NULL, "'allow'", "array"},
        {"allow object", "\"allow\":{\"cidr\":\"10.0.0.0/8\"}", BAD_ARG, NULL, false, NULL, "'allow'", "array"},
        {"allow seventeen", "\"allow\":[" SIXTEEN_V4 ",\"10.16.0.0/16\"]", BAD_ARG, NULL, false, NULL, "'allow'",
         "at most 16 networks, got 17"},
        {"allow number entry", "\"allow\":[\"10.0.0.0/8\",167772160]", BAD_ARG, NULL, false, NULL, "'allow'[1]",
         "string"},
        {"allow null entry", "\"allow\":[null]", BAD_ARG, NULL, false, NULL, "'allow'[0]", "string"},
        {"allow nested array", "\"allow\":[[\"10.0.0.0/8\"]]", BAD_ARG, NULL, false, NULL, "'allow'[0]", "string"},
        {"allow host bits set, named by index", "\"allow\":[\"10.0.0.0/8\",\"192.168.0.0/16\",\"10.0.0.1/8\"]", BAD_ARG,
         NULL, false, NULL, "field 'allow'[2]: '10.0.0.1/8' is not a network (host bits set", "10.0.0.0/8"},
        {"allow v6 host bits set", "\"allow\":[\"2001:db8::1/32\"]", BAD_ARG, NULL, false, NULL, "host bits set",
         "2001:db8::/32"},
        {"allow prefix too long", "\"allow\":[\"10.0.0.0/33\"]", BAD_ARG, NULL, false, NULL, "'allow'[0]", "0-32"},
        {"allow v6 prefix too long", "\"allow\":[\"2001:db8::/129\"]", BAD_ARG, NULL, false, NULL, "'allow'[0]", "0-128"},
        {"allow prefix leading zero", "\"allow\":[\"10.0.0.0/08\"]", BAD_ARG, NULL, false, NULL, "prefix length", NULL},
        {"allow empty prefix", "\"allow\":[\"10.0.0.0/\"]", BAD_ARG, NULL, false, NULL, "prefix length", NULL},
        {"allow negative prefix", "\"allow\":[\"10.0.0.0/-8\"]", BAD_ARG, NULL, false, NULL, "prefix length", NULL},
        {"allow two slashes", "\"allow\":[\"10.0.0.0/8/8\"]", BAD_ARG, NULL, false, NULL, "'allow'[0]", NULL},
        {"allow not an address", "\"allow\":[\"office\"]", BAD_ARG, NULL, false, NULL, "'office' is not a network",
         NULL},
        {"allow empty entry", "\"allow\":[\"\"]", BAD_ARG, NULL, false, NULL, "'allow'[0]", "not a network"},
        {"allow trailing space", "\"allow\":[\"10.0.0.0/8 \"]", BAD_ARG, NULL, false, NULL, "'allow'[0]", NULL},
        {"allow comma list in one string", "\"allow\":[\"10.0.0.0/8,192.168.0.0/16\"]", BAD_ARG, NULL, false, NULL,
         "'allow'[0]", NULL},
        {"allow zone", "\"allow\":[\"fe80::%eth0/64\"]", BAD_ARG, NULL, false, NULL, "'allow'[0]", NULL},
        {"allow NUL", "\"allow\":[\"10.0.0.0/8\\u0000\"]", ANY_ERROR, NULL, false, NULL, NULL, NULL},
        {"allow control char", "\"allow\":[\"10.0.0.0/8\\n\"]", BAD_ARG, NULL, false, NULL, "'10.0.0.0/8?'", NULL},
        {"allow duplicate", "\"allow\":[\"10.0.0.0/8\",\"10.0.0.0/8\"]", BAD_ARG, NULL, false, NULL, "'allow'[1]",
         "repeats entry [0]"},
        {"allow duplicate spelled differently", "\"allow\":[\"203.0.113.0/24\",\"198.51.100.7\",\"198.51.100.7/32\"]",
         BAD_ARG, NULL, false, NULL, "'allow'[2]", "repeats entry [1]"},
        {"allow v6 duplicate", "\"allow\":[\"2001:db8::/32\",\"2001:DB8:0::/32\"]", BAD_ARG, NULL, false, NULL,
         "'allow'[1]", "repeats entry [0]"},
        {"allow IPv4-mapped", "\"allow\":[\"::ffff:10.0.0.0/104\"]", BAD_ARG, NULL, false, NULL, "IPv4-mapped",
         "write it as 10.0.0.0/8"},
        {"allow IPv4-mapped host", "\"allow\":[\"::ffff:198.51.100.7\"]", BAD_ARG, NULL, false, NULL, "IPv4-mapped",
         "198.51.100.7/32"},

        /* Still strict about everything else. */
        {"unknown field next to options", "\"proxy_protocol\":\"v2\",\"allowed\":[]", BAD_ARG, NULL, false, NULL,
         "unknown field 'allowed'", "allow"},
        {"duplicate option", "\"http_passthrough\":true,\"http_passthrough\":false", BAD_JSON, NULL, false, NULL,
         "duplicate", NULL},
};

static void run_option_case(const struct option_case *c) {
        char body[2048];
        if (c->fields)
                snprintf(body, sizeof body, "{\"id\":\"x\",\"ip\":\"10.0.0.1\",%s}", c->fields);
        else
                snprintf(body, sizeof body,
                         "{\"allow\":[\"192.0.2.0/24\"],\"http_passthrough\":true,\"ip\":\"10.0.0.1\","
                         "\"proxy_protocol\":\"v1\",\"id\":\"x\"}");
        struct vm_request req, before;
        char err[API_ERROR_MAX];
        enum api_decode_status st = decode_copy(body, strlen(body), &req, &before, err);
        if (c->expect != OK) {
                check_refused(c->name, c->expect, st, &req, &before, err, c->err1, c->err2);
                return;
        }
        if (st != API_DECODE_OK)
                fail_msg("%s: status %d: %s", c->name, st, err);
        assert_string_equal(req.id, "x");
        assert_string_equal(vm_proxy_protocol_to_string(req.proxy_protocol), c->proxy);
        assert_int_equal(req.http_passthrough, c->passthrough);
        char allow[VM_ALLOW_MAX * (IP_ADDR_STRLEN + 5)] = "";
        assert_true(req.n_allow <= VM_ALLOW_MAX);
        for (size_t i = 0, len = 0; i < req.n_allow; i++) {
                char cidr[IP_ADDR_STRLEN + 4];
                len += (size_t)snprintf(allow + len, sizeof allow - len, "%s%s", i ? " " : "",
                                        ip_cidr_format(&req.allow[i], cidr));
        }
        if (!streq(allow, c->allow))
                fail_msg("%s: allow '%s', want '%s'", c->name, allow, c->allow);
}

static void test_decode_options(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(option_cases); i++)
                run_option_case(&option_cases[i]);
}

/* Host names, labels and expiry; each body is {"id":"x","ip":"10.0.0.1", FIELDS} unless
 * the case gives the whole body. */
struct meta_case {
        const char *name;
        const char *fields;
        enum expect expect;
        const char *hostnames; /* when OK: the decoded names joined by one space */
        const char *labels; /* when OK: the canonical labels text */
        int64_t ttl, expires_at; /* when OK */
        const char *err1, *err2;
};

#define SEVENTEEN_NAMES                                                                                           \
        "\"a.example\",\"b.example\",\"c.example\",\"d.example\",\"e.example\",\"f.example\",\"g.example\","     \
        "\"h.example\",\"i.example\",\"j.example\",\"k.example\",\"l.example\",\"m.example\",\"n.example\","     \
        "\"o.example\",\"p.example\",\"q.example\""

static const struct meta_case meta_cases[] = {
        {"nothing: defaults", "\"http_passthrough\":false", OK, "", "{}", 0, 0, NULL, NULL},
        {"one name", "\"hostnames\":[\"shop.example.com\"]", OK, "shop.example.com", "{}", 0, 0, NULL, NULL},
        {"names are sorted", "\"hostnames\":[\"b.example\",\"*.a.example\",\"a.example\"]", OK,
         "*.a.example a.example b.example", "{}", 0, 0, NULL, NULL},
        {"no names", "\"hostnames\":[]", OK, "", "{}", 0, 0, NULL, NULL},
        {"labels sorted, canonical", "\"labels\":{\"team\":\"a\",\"env\":\"prod\",\"k8s.io/app\":\"\"}", OK, "",
         "{\"env\":\"prod\",\"k8s.io/app\":\"\",\"team\":\"a\"}", 0, 0, NULL, NULL},
        {"label value with spaces and symbols", "\"labels\":{\"note\":\"a b <c> & d=e\"}", OK, "",
         "{\"note\":\"a b <c> & d=e\"}", 0, 0, NULL, NULL},
        {"no labels", "\"labels\":{}", OK, "", "{}", 0, 0, NULL, NULL},
        {"ttl", "\"ttl\":3600", OK, "", "{}", 3600, 0, NULL, NULL},
        {"ttl minimum", "\"ttl\":60", OK, "", "{}", 60, 0, NULL, NULL},
        {"ttl maximum", "\"ttl\":31536000", OK, "", "{}", 31536000, 0, NULL, NULL},
        {"expires_at Z", "\"expires_at\":\"2026-11-22T10:00:00Z\"", OK, "", "{}", 0, 1795341600, NULL, NULL},
        {"expires_at offset", "\"expires_at\":\"2026-11-22T12:00:00+02:00\"", OK, "", "{}", 0, 1795341600, NULL,
         NULL},
        {"expires_at fraction", "\"expires_at\":\"2026-11-22T10:00:00.999Z\"", OK, "", "{}", 0, 1795341600, NULL,
         NULL},
        {"expires_at null = never", "\"expires_at\":null", OK, "", "{}", 0, 0, NULL, NULL},

        /* hostnames */
        {"names not an array", "\"hostnames\":\"a.example\"", BAD_ARG, NULL, NULL, 0, 0, "'hostnames'", "array"},
        {"names null", "\"hostnames\":null", BAD_ARG, NULL, NULL, 0, 0, "'hostnames'", "array"},
        {"seventeen names", "\"hostnames\":[" SEVENTEEN_NAMES "]", BAD_ARG, NULL, NULL, 0, 0, "'hostnames'",
         "at most 16 names, got 17"},
        {"name not a string", "\"hostnames\":[\"a.example\",7]", BAD_ARG, NULL, NULL, 0, 0, "'hostnames'[1]",
         "string"},
        {"upper case name", "\"hostnames\":[\"Shop.Example.com\"]", BAD_ARG, NULL, NULL, 0, 0, "'hostnames'[0]",
         "lower case"},
        {"name with underscore", "\"hostnames\":[\"a_b.example\"]", BAD_ARG, NULL, NULL, 0, 0, "'hostnames'[0]",
         "not a valid host name"},
        {"name with trailing dot", "\"hostnames\":[\"a.example.\"]", BAD_ARG, NULL, NULL, 0, 0, "'hostnames'[0]",
         NULL},
        {"unicode name", "\"hostnames\":[\"caf\xc3\xa9.example\"]", BAD_ARG, NULL, NULL, 0, 0, "'caf??.example'",
         NULL},
        {"wildcard of a TLD", "\"hostnames\":[\"*.com\"]", BAD_ARG, NULL, NULL, 0, 0, "'hostnames'[0]", NULL},
        {"wildcard inside", "\"hostnames\":[\"a.*.example\"]", BAD_ARG, NULL, NULL, 0, 0, "'hostnames'[0]", NULL},
        {"empty name", "\"hostnames\":[\"\"]", BAD_ARG, NULL, NULL, 0, 0, "'hostnames'[0]", NULL},
        {"repeated name", "\"hostnames\":[\"a.example\",\"b.example\",\"a.example\"]", BAD_ARG, NULL, NULL, 0, 0,
         "'hostnames'[2]", "listed twice"},
        {"NUL in name", "\"hostnames\":[\"a\\u0000.example\"]", ANY_ERROR, NULL, NULL, 0, 0, NULL, NULL},

        /* labels */
        {"labels an array", "\"labels\":[\"a\"]", BAD_ARG, NULL, NULL, 0, 0, "'labels'", "object"},
        {"labels null", "\"labels\":null", BAD_ARG, NULL, NULL, 0, 0, "'labels'", "object"},
        {"label number value", "\"labels\":{\"n\":1}", BAD_ARG, NULL, NULL, 0, 0, "'labels'.'n'", "string"},
        {"label null value", "\"labels\":{\"n\":null}", BAD_ARG, NULL, NULL, 0, 0, "'labels'.'n'", "string"},
        {"label bad key", "\"labels\":{\"-x\":\"a\"}", BAD_ARG, NULL, NULL, 0, 0, "key '-x'", NULL},
        {"label empty key", "\"labels\":{\"\":\"a\"}", BAD_ARG, NULL, NULL, 0, 0, "key ''", NULL},
        {"label key with space", "\"labels\":{\"a b\":\"a\"}", BAD_ARG, NULL, NULL, 0, 0, "key 'a b'", NULL},
        {"label value with quote", "\"labels\":{\"a\":\"x\\\"y\"}", BAD_ARG, NULL, NULL, 0, 0, "'labels'.'a'",
         "not valid"},
        {"label value with newline", "\"labels\":{\"a\":\"x\\ny\"}", BAD_ARG, NULL, NULL, 0, 0, "'x?y'", NULL},
        {"label value unicode", "\"labels\":{\"a\":\"caf\\u00e9\"}", BAD_ARG, NULL, NULL, 0, 0, "'labels'.'a'", NULL},
        {"label value 64 chars",
         "\"labels\":{\"a\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", BAD_ARG, NULL, NULL,
         0, 0, "'labels'.'a'", NULL},
        {"seventeen labels",
         "\"labels\":{\"a\":\"\",\"b\":\"\",\"c\":\"\",\"d\":\"\",\"e\":\"\",\"f\":\"\",\"g\":\"\",\"h\":\"\",\"i\":\"\","
         "\"j\":\"\",\"k\":\"\",\"l\":\"\",\"m\":\"\",\"n\":\"\",\"o\":\"\",\"p\":\"\",\"q\":\"\"}",
         BAD_ARG, NULL, NULL, 0, 0, "'labels'", "at most 16 labels, got 17"},
        {"duplicate label", "\"labels\":{\"a\":\"1\",\"a\":\"2\"}", BAD_JSON, NULL, NULL, 0, 0, "duplicate", NULL},

        /* expiry */
        {"ttl and expires_at", "\"ttl\":60,\"expires_at\":\"2026-11-22T10:00:00Z\"", BAD_ARG, NULL, NULL, 0, 0,
         "'ttl'", "not both"},
        {"ttl too short", "\"ttl\":59", BAD_ARG, NULL, NULL, 0, 0, "'ttl'", "out of range"},
        {"ttl zero", "\"ttl\":0", BAD_ARG, NULL, NULL, 0, 0, "'ttl'", NULL},
        {"ttl negative", "\"ttl\":-3600", BAD_ARG, NULL, NULL, 0, 0, "'ttl'", NULL},
        {"ttl over a year", "\"ttl\":31536001", BAD_ARG, NULL, NULL, 0, 0, "'ttl'", NULL},
        {"ttl string", "\"ttl\":\"3600\"", BAD_ARG, NULL, NULL, 0, 0, "'ttl'", "integer"},
        {"ttl real", "\"ttl\":3600.0", BAD_ARG, NULL, NULL, 0, 0, "'ttl'", "integer"},
        {"ttl null", "\"ttl\":null", BAD_ARG, NULL, NULL, 0, 0, "'ttl'", NULL},
        {"ttl huge", "\"ttl\":9223372036854775807", BAD_ARG, NULL, NULL, 0, 0, "'ttl'", NULL},
        {"expires_at number", "\"expires_at\":1795341600", BAD_ARG, NULL, NULL, 0, 0, "'expires_at'", "RFC 3339"},
        {"expires_at date only", "\"expires_at\":\"2026-11-22\"", BAD_ARG, NULL, NULL, 0, 0, "'expires_at'",
         "RFC 3339"},
        {"expires_at no zone", "\"expires_at\":\"2026-11-22T10:00:00\"", BAD_ARG, NULL, NULL, 0, 0, "'expires_at'",
         NULL},
        {"expires_at Feb 30", "\"expires_at\":\"2026-02-30T10:00:00Z\"", BAD_ARG, NULL, NULL, 0, 0, "'expires_at'",
         NULL},
        {"expires_at hour 24", "\"expires_at\":\"2026-11-22T24:00:00Z\"", BAD_ARG, NULL, NULL, 0, 0, "'expires_at'",
         NULL},
        {"expires_at before 1970", "\"expires_at\":\"1969-12-31T23:59:59Z\"", BAD_ARG, NULL, NULL, 0, 0,
         "'expires_at'", NULL},
        {"expires_at garbage after", "\"expires_at\":\"2026-11-22T10:00:00Zjunk\"", BAD_ARG, NULL, NULL, 0, 0,
         "'expires_at'", NULL},
        {"unknown field names the new ones", "\"expires\":1", BAD_ARG, NULL, NULL, 0, 0, "unknown field 'expires'",
         "expires_at"},
};

static void run_meta_case(const struct meta_case *c) {
        char body[4096];
        snprintf(body, sizeof body, "{\"id\":\"x\",\"ip\":\"10.0.0.1\",%s}", c->fields);
        struct vm_request req, before;
        char err[API_ERROR_MAX];
        enum api_decode_status st = decode_copy(body, strlen(body), &req, &before, err);
        if (c->expect != OK) {
                check_refused(c->name, c->expect, st, &req, &before, err, c->err1, c->err2);
                return;
        }
        if (st != API_DECODE_OK)
                fail_msg("%s: status %d: %s", c->name, st, err);
        char names[VM_HOSTNAMES_MAX * (DNS_NAME_MAX + 1)] = "";
        for (size_t i = 0, len = 0; i < req.n_hostnames; i++)
                len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", i ? " " : "", req.hostnames[i]);
        if (!streq(names, c->hostnames))
                fail_msg("%s: hostnames '%s', want '%s'", c->name, names, c->hostnames);
        if (!streq(req.labels, c->labels))
                fail_msg("%s: labels '%s', want '%s'", c->name, req.labels, c->labels);
        if (req.ttl != c->ttl || req.expires_at != c->expires_at)
                fail_msg("%s: ttl %lld expires_at %lld, want %lld %lld", c->name, (long long)req.ttl,
                         (long long)req.expires_at, (long long)c->ttl, (long long)c->expires_at);
}

static void test_decode_meta(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(meta_cases); i++)
                run_meta_case(&meta_cases[i]);
}

static void test_decode_put_path_id(void **state) {
        struct vm_request req;
        char err[API_ERROR_MAX];
        /* PUT: the id may be left out (the path names it) ... */
        static const char no_id[] = "{\"ip\":\"10.0.0.1\"}";
        assert_int_equal(vm_request_decode(no_id, strlen(no_id), "vm-7", &req, err), API_DECODE_OK);
        assert_string_equal(req.id, "vm-7");
        /* ... or repeated ... */
        static const char same[] = "{\"id\":\"vm-7\",\"ip\":\"10.0.0.1\"}";
        assert_int_equal(vm_request_decode(same, strlen(same), "vm-7", &req, err), API_DECODE_OK);
        assert_string_equal(req.id, "vm-7");
        /* ... but not different (ids are case-sensitive). */
        static const char other[] = "{\"id\":\"VM-7\",\"ip\":\"10.0.0.1\"}";
        assert_int_equal(vm_request_decode(other, strlen(other), "vm-7", &req, err), API_DECODE_INVALID_ARGUMENT);
        assert_non_null(strstr(err, "differs from the id in the path ('vm-7')"));
        /* POST: required. */
        assert_int_equal(vm_request_decode(no_id, strlen(no_id), NULL, &req, err), API_DECODE_INVALID_ARGUMENT);
        assert_non_null(strstr(err, "'id' is required"));
}

static void test_request_meta(void **state) {
        struct vm_request req;
        struct vm_meta meta;
        char err[API_ERROR_MAX];
        static const char body[] = "{\"id\":\"x\",\"ip\":\"10.0.0.1\",\"ttl\":600,\"labels\":{\"a\":\"b\"},"
                                   "\"hostnames\":[\"z.example\",\"y.example\"]}";
        assert_int_equal(vm_request_decode(body, strlen(body), NULL, &req, err), API_DECODE_OK);
        assert_int_equal(vm_request_meta(&req, 1000000, &meta, err), 0);
        assert_int_equal(meta.expires_at, 1000600);
        assert_string_equal(meta.labels, "{\"a\":\"b\"}");
        assert_int_equal(meta.n_hostnames, 2);
        assert_string_equal(meta.hostnames[0], "y.example");
        assert_string_equal(meta.hostnames[1], "z.example");

        static const char at[] = "{\"id\":\"x\",\"ip\":\"10.0.0.1\",\"expires_at\":\"2026-11-22T10:00:00Z\"}";
        assert_int_equal(vm_request_decode(at, strlen(at), NULL, &req, err), API_DECODE_OK);
        assert_int_equal(vm_request_meta(&req, 1795341599, &meta, err), 0);
        assert_int_equal(meta.expires_at, 1795341600);
        assert_int_equal(meta.n_hostnames, 0);
        assert_string_equal(meta.labels, "{}");
        /* Not in the future: refused, naming the time. */
        assert_int_equal(vm_request_meta(&req, 1795341600, &meta, err), -EINVAL);
        assert_non_null(strstr(err, "'expires_at': 2026-11-22T10:00:00Z is not in the future"));

        static const char none[] = "{\"id\":\"x\",\"ip\":\"10.0.0.1\"}";
        assert_int_equal(vm_request_decode(none, strlen(none), NULL, &req, err), API_DECODE_OK);
        assert_int_equal(vm_request_meta(&req, 1795341600, &meta, err), 0);
        assert_int_equal(meta.expires_at, 0);
}

static void test_decode_first_problem_wins(void **state) {
        /* A bad id is reported before a bad option, and a bad option before a later one. */
        static const char body[] = "{\"id\":\"-x\",\"ip\":\"10.0.0.1\",\"allow\":[\"10.0.0.1/8\"]}";
        struct vm_request req, before;
        char err[API_ERROR_MAX];
        enum api_decode_status st = decode_copy(body, strlen(body), &req, &before, err);
        check_refused("bad id and bad allow", BAD_ARG, st, &req, &before, err, "'id'", NULL);
        static const char body2[] =
                "{\"id\":\"x\",\"ip\":\"10.0.0.1\",\"proxy_protocol\":\"v9\",\"allow\":[\"10.0.0.1/8\"]}";
        st = decode_copy(body2, strlen(body2), &req, &before, err);
        check_refused("bad proxy and bad allow", BAD_ARG, st, &req, &before, err, "'proxy_protocol'", NULL);
}

static void test_decode_embedded_nul_bytes(void **state) {
        /* A raw NUL inside the body (the length says it is there). */
        static const char body[] = "{\"id\":\"x\",\"ip\":\"10.0.0.1\"}\0trailing";
        struct vm_request req;
        char err[API_ERROR_MAX];
        assert_int_not_equal(vm_request_decode(body, sizeof body - 1, NULL, &req, err), API_DECODE_OK);
        static const char body2[] = "{\"id\":\"x\0\",\"ip\":\"10.0.0.1\"}";
        assert_int_not_equal(vm_request_decode(body2, sizeof body2 - 1, NULL, &req, err), API_DECODE_OK);
        /* Only len bytes count: a valid prefix is decoded without the rest. */
        static const char body3[] = "{\"id\":\"x\",\"ip\":\"10.0.0.1\"}GARBAGE";
        assert_int_equal(vm_request_decode(body3, sizeof body3 - 1 - 7, NULL, &req, err), API_DECODE_OK);
        assert_string_equal(req.id, "x");
}

static void test_decode_deep_nesting(void **state) {
        /* Deep nesting is refused without exhausting the stack. */
        size_t depth = 100000;
        char *body = malloc(2 * depth + 64);
        assert_non_null(body);
        size_t n = (size_t)sprintf(body, "{\"id\":\"x\",\"ip\":\"10.0.0.1\",\"z\":");
        memset(body + n, '[', depth);
        memset(body + n + depth, ']', depth);
        n += 2 * depth;
        body[n++] = '}';
        struct vm_request req;
        char err[API_ERROR_MAX];
        assert_int_not_equal(vm_request_decode(body, n, NULL, &req, err), API_DECODE_OK);
        free(body);
}

/* vm_to_json() with default metadata (version 1, no names, labels or expiry) and no traffic. */
static json_t *to_json(const struct vm *vm, const char *dc, const char *domain) {
        struct vm_meta meta;
        vm_meta_init(&meta);
        meta.version = 1;
        return vm_to_json(vm, &meta, NULL, dc, domain);
}

static struct vm fixed_vm(void) {
        struct vm vm = {.block_start = 20000, .block_size = 10, .created_at = 0};
        strcpy(vm.id, "contract-123");
        strcpy(vm.slug, "k7m2p4");
        assert_int_equal(ip_addr_parse("10.0.1.5", &vm.ip), 0);
        return vm;
}

static const char *get_string(json_t *o, const char *key) {
        json_t *v = json_object_get(o, key);
        if (!json_is_string(v))
                fail_msg("'%s' is not a string", key);
        return json_string_value(v);
}

static json_int_t get_int(json_t *o, const char *key) {
        json_t *v = json_object_get(o, key);
        if (!json_is_integer(v))
                fail_msg("'%s' is not an integer", key);
        return json_integer_value(v);
}

static void test_vm_to_json(void **state) {
        struct vm vm = fixed_vm();
        json_t *o = to_json(&vm, "dc-lk", "example.net");
        assert_non_null(o);
        assert_true(json_is_object(o));
        assert_string_equal(get_string(o, "id"), "contract-123");
        assert_string_equal(get_string(o, "ip"), "10.0.1.5");
        assert_string_equal(get_string(o, "slug"), "k7m2p4");
        assert_string_equal(get_string(o, "subdomain"), "k7m2p4.dc-lk.example.net");
        assert_string_equal(get_string(o, "web_url"), "https://k7m2p4.dc-lk.example.net");
        assert_string_equal(get_string(o, "ssh_command"), "ssh root@k7m2p4.dc-lk.example.net -p 20000");
        assert_int_equal(get_int(o, "ssh_port"), 20000);
        assert_int_equal(get_int(o, "port_range_start"), 20000);
        assert_int_equal(get_int(o, "port_range_end"), 20009);
        assert_string_equal(get_string(o, "created_at"), "1970-01-01T00:00:00Z");

        json_t *ports = json_object_get(o, "ports");
        assert_true(json_is_array(ports));
        assert_int_equal(json_array_size(ports), 10);
        for (size_t i = 0; i < 10; i++) {
                json_t *p = json_array_get(ports, i);
                assert_true(json_is_object(p));
                assert_int_equal(json_object_size(p), 3);
                assert_int_equal(get_int(p, "public_port"), 20000 + (json_int_t)i);
                assert_int_equal(get_int(p, "vm_port"), i == 0 ? 22 : 10000 + (json_int_t)i);
                assert_string_equal(get_string(p, "proto"), i <= 4 ? "tcp" : "udp");
        }
        /* The options default to none, false, []. */
        assert_string_equal(get_string(o, "proxy_protocol"), "none");
        assert_true(json_is_false(json_object_get(o, "http_passthrough")));
        assert_true(json_is_array(json_object_get(o, "allow")));
        assert_int_equal(json_array_size(json_object_get(o, "allow")), 0);

        /* Exactly the documented fields (docs/api.md), nothing else. */
        static const char *const fields[] = {
                "id", "ip", "slug", "subdomain", "web_url", "ssh_command", "ssh_port", "port_range_start",
                "port_range_end", "ports", "created_at", "proxy_protocol", "http_passthrough", "allow",
                "hostnames", "labels", "expires_at", "updated_at", "version", "bytes_in", "bytes_out",
        };
        assert_int_equal(json_object_size(o), ELEMENTSOF(fields));
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                if (!json_object_get(o, fields[i]))
                        fail_msg("field '%s' missing", fields[i]);
        /* It serializes. */
        char *text = json_dumps(o, JSON_COMPACT);
        assert_non_null(text);
        assert_non_null(strstr(text, "\"subdomain\":\"k7m2p4.dc-lk.example.net\""));
        free(text);
        json_decref(o);
}

static void test_vm_to_json_other(void **state) {
        struct vm vm = fixed_vm();
        assert_int_equal(ip_addr_parse("2001:0db8::0005", &vm.ip), 0);
        vm.block_start = 65535;
        vm.block_size = 1;
        vm.created_at = 1700000000;
        json_t *o = to_json(&vm, "a", "b");
        assert_non_null(o);
        assert_string_equal(get_string(o, "ip"), "2001:db8::5");
        assert_string_equal(get_string(o, "subdomain"), "k7m2p4.a.b");
        assert_string_equal(get_string(o, "ssh_command"), "ssh root@k7m2p4.a.b -p 65535");
        assert_int_equal(get_int(o, "port_range_start"), 65535);
        assert_int_equal(get_int(o, "port_range_end"), 65535);
        assert_string_equal(get_string(o, "created_at"), "2023-11-14T22:13:20Z");
        json_t *ports = json_object_get(o, "ports");
        assert_int_equal(json_array_size(ports), 1);
        assert_int_equal(get_int(json_array_get(ports, 0), "vm_port"), 22);
        json_decref(o);

        /* A block of 20 (a later ports_per_vm) lists all 20 ports: 9 TCP after SSH, 10 UDP. */
        vm = fixed_vm();
        vm.block_size = 20;
        o = to_json(&vm, "dc-lk", "example.net");
        assert_non_null(o);
        ports = json_object_get(o, "ports");
        assert_int_equal(json_array_size(ports), 20);
        assert_int_equal(get_int(o, "port_range_end"), 20019);
        assert_string_equal(get_string(json_array_get(ports, 9), "proto"), "tcp");
        assert_string_equal(get_string(json_array_get(ports, 10), "proto"), "udp");
        assert_int_equal(get_int(json_array_get(ports, 19), "public_port"), 20019);
        json_decref(o);
}

static void test_vm_to_json_options(void **state) {
        struct vm vm = fixed_vm();
        vm.proxy_protocol = VM_PROXY_V2;
        vm.http_passthrough = true;
        assert_int_equal(ip_cidr_parse("203.0.113.0/24", &vm.allow[0]), 0);
        assert_int_equal(ip_cidr_parse("2001:0db8::/32", &vm.allow[1]), 0);
        assert_int_equal(ip_cidr_parse("198.51.100.7", &vm.allow[2]), 0);
        vm.n_allow = 3;
        json_t *o = to_json(&vm, "dc-lk", "example.net");
        assert_non_null(o);
        assert_string_equal(get_string(o, "proxy_protocol"), "v2");
        assert_true(json_is_true(json_object_get(o, "http_passthrough")));
        char *allow = json_dumps(json_object_get(o, "allow"), JSON_COMPACT);
        assert_string_equal(allow, "[\"203.0.113.0/24\",\"2001:db8::/32\",\"198.51.100.7/32\"]");
        free(allow);
        json_decref(o);

        vm.proxy_protocol = VM_PROXY_V1;
        vm.http_passthrough = false;
        vm.n_allow = 0;
        o = to_json(&vm, "dc-lk", "example.net");
        assert_non_null(o);
        assert_string_equal(get_string(o, "proxy_protocol"), "v1");
        assert_true(json_is_false(json_object_get(o, "http_passthrough")));
        assert_int_equal(json_array_size(json_object_get(o, "allow")), 0);
        json_decref(o);

        /* Out-of-range options are not encoded as something else. */
        vm.proxy_protocol = 3;
        assert_null(to_json(&vm, "dc-lk", "example.net"));
        vm.proxy_protocol = VM_PROXY_NONE;
        vm.n_allow = VM_ALLOW_MAX + 1;
        assert_null(to_json(&vm, "dc-lk", "example.net"));
}

static void test_vm_to_json_meta(void **state) {
        struct vm vm = fixed_vm();
        vm.created_at = 1795341600;
        struct vm_meta meta;
        vm_meta_init(&meta);
        meta.version = 7;
        meta.updated_at = 1795345200;
        meta.expires_at = 1795348800;
        strcpy(meta.labels, "{\"env\":\"prod\",\"team\":\"a\"}");
        meta.n_hostnames = 2;
        strcpy(meta.hostnames[0], "*.shop.example");
        strcpy(meta.hostnames[1], "shop.example");
        struct vm_traffic t = {.bytes_in = 5120, .bytes_out = 1ULL << 40};
        json_t *o = vm_to_json(&vm, &meta, &t, "dc-lk", "example.net");
        assert_non_null(o);
        char *names = json_dumps(json_object_get(o, "hostnames"), JSON_COMPACT);
        assert_string_equal(names, "[\"*.shop.example\",\"shop.example\"]");
        free(names);
        char *labels = json_dumps(json_object_get(o, "labels"), JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(labels, "{\"env\":\"prod\",\"team\":\"a\"}");
        free(labels);
        assert_string_equal(get_string(o, "created_at"), "2026-11-22T10:00:00Z");
        assert_string_equal(get_string(o, "updated_at"), "2026-11-22T11:00:00Z");
        assert_string_equal(get_string(o, "expires_at"), "2026-11-22T12:00:00Z");
        assert_int_equal(get_int(o, "version"), 7);
        assert_int_equal(get_int(o, "bytes_in"), 5120);
        assert_int_equal(get_int(o, "bytes_out"), 1LL << 40);
        json_decref(o);

        /* No traffic known, no expiry, never updated: nulls and updated_at = created_at. */
        meta.expires_at = 0;
        meta.updated_at = 0;
        o = vm_to_json(&vm, &meta, NULL, "dc-lk", "example.net");
        assert_non_null(o);
        assert_true(json_is_null(json_object_get(o, "expires_at")));
        assert_true(json_is_null(json_object_get(o, "bytes_in")));
        assert_true(json_is_null(json_object_get(o, "bytes_out")));
        assert_string_equal(get_string(o, "updated_at"), "2026-11-22T10:00:00Z");
        json_decref(o);

        /* Metadata that does not encode is not passed off as something else. */
        strcpy(meta.labels, "[1]");
        assert_null(vm_to_json(&vm, &meta, NULL, "dc-lk", "example.net"));
        strcpy(meta.labels, "{\"a\":");
        assert_null(vm_to_json(&vm, &meta, NULL, "dc-lk", "example.net"));
        strcpy(meta.labels, "{}");
        meta.n_hostnames = VM_HOSTNAMES_MAX + 1;
        assert_null(vm_to_json(&vm, &meta, NULL, "dc-lk", "example.net"));
}

static void test_decode_encode_agree(void **state) {
        /* What a client sends comes back in the VM object unchanged (ip canonical). */
        static const char body[] = "{\"id\":\"contract-9\",\"ip\":\"2001:DB8::a\"}";
        struct vm_request req;
        char err[API_ERROR_MAX];
        assert_int_equal(vm_request_decode(body, strlen(body), NULL, &req, err), API_DECODE_OK);
        struct vm vm = fixed_vm();
        strcpy(vm.id, req.id);
        vm.ip = req.ip;
        json_t *o = to_json(&vm, "dc-lk", "example.net");
        assert_non_null(o);
        assert_string_equal(get_string(o, "id"), "contract-9");
        assert_string_equal(get_string(o, "ip"), "2001:db8::a");
        json_decref(o);

        /* The options too: allow entries come back canonical, in the order sent. */
        static const char body2[] = "{\"id\":\"c\",\"ip\":\"10.0.0.1\",\"proxy_protocol\":\"v1\","
                                    "\"http_passthrough\":true,\"allow\":[\"2001:DB8::/32\",\"192.0.2.1\"]}";
        assert_int_equal(vm_request_decode(body2, strlen(body2), NULL, &req, err), API_DECODE_OK);
        vm.proxy_protocol = req.proxy_protocol;
        vm.http_passthrough = req.http_passthrough;
        vm.n_allow = req.n_allow;
        memcpy(vm.allow, req.allow, sizeof vm.allow);
        o = to_json(&vm, "dc-lk", "example.net");
        assert_non_null(o);
        assert_string_equal(get_string(o, "proxy_protocol"), "v1");
        assert_true(json_is_true(json_object_get(o, "http_passthrough")));
        char *allow = json_dumps(json_object_get(o, "allow"), JSON_COMPACT);
        assert_string_equal(allow, "[\"2001:db8::/32\",\"192.0.2.1/32\"]");
        free(allow);
        json_decref(o);
}

static void test_api_error_json(void **state) {
        json_t *e = api_error_json("port_range_exhausted", "port range 20000-20009 exhausted");
        assert_non_null(e);
        char *text = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(text,
                            "{\"error\":{\"code\":\"port_range_exhausted\",\"message\":\"port range 20000-20009 exhausted\"}}");
        free(text);
        json_decref(e);
}

/* ---- the DNS outbox ---- */

static struct store_dns_record dns_row(const char *name, uint16_t type, const char *owner_kind,
                                       const char *owner_id, enum store_dns_state st) {
        struct store_dns_record r = {.want = {.type = type, .ttl = 300}, .state = st};
        strcpy(r.want.name, name);
        strcpy(r.want.content, type == DNS_TYPE_A ? "203.0.113.10" : "2001:db8::10");
        strcpy(r.want.owner_kind, owner_kind);
        strcpy(r.want.owner_id, owner_id);
        r.updated_at = 1795341600; /* 2026-11-22T10:00:00Z */
        return r;
}

static int filter_parse(const char *k1, const char *v1, const char *k2, const char *v2,
                        struct dns_record_filter *f, char err[static API_ERROR_MAX]) {
        const char *keys[] = {k1, k2}, *values[] = {v1, v2};
        return dns_record_filter_parse(keys, values, k2 ? 2 : k1 ? 1 : 0, f, err);
}

static void test_dns_name_parse(void **state) {
        char name[DNS_NAME_MAX + 1];
        assert_int_equal(dns_record_name_parse("k7m2p4.dc1.example.net", name), 0);
        assert_string_equal(name, "k7m2p4.dc1.example.net");
        assert_int_equal(dns_record_name_parse("Shop.Example.ORG.", name), 0);
        assert_string_equal(name, "shop.example.org");
        strcpy(name, "untouched");
        const char *bad[] = {"", ".", "a..b", "-a.example", "a b", "*.example.org", "a/b", "a.example..", "ä.example"};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(dns_record_name_parse(bad[i], name), -EINVAL);
        char long_name[DNS_NAME_MAX + 3];
        memset(long_name, 'a', sizeof long_name - 1);
        long_name[sizeof long_name - 1] = '\0';
        for (size_t i = 63; i < sizeof long_name - 1; i += 64)
                long_name[i] = '.';
        assert_int_equal(dns_record_name_parse(long_name, name), -EINVAL);
        assert_string_equal(name, "untouched");
}

static void test_dns_filter_parse(void **state) {
        struct dns_record_filter f;
        char err[API_ERROR_MAX];
        assert_int_equal(filter_parse(NULL, NULL, NULL, NULL, &f, err), 0);
        assert_int_equal(f.state, -1);
        assert_string_equal(f.owner_kind, "");
        assert_string_equal(f.name, "");

        assert_int_equal(filter_parse("state", "error", "owner", "vm:web-1", &f, err), 0);
        assert_int_equal(f.state, STORE_DNS_ERROR);
        assert_string_equal(f.owner_kind, "vm");
        assert_string_equal(f.owner_id, "web-1");
        assert_int_equal(filter_parse("name", "K7M2P4.dc1.example.net.", "owner", "node:dc-lk-1", &f, err), 0);
        assert_string_equal(f.name, "k7m2p4.dc1.example.net");
        assert_string_equal(f.owner_kind, "node");
        assert_int_equal(filter_parse("owner", "route:lab:x", NULL, NULL, &f, err), 0); /* the id may hold ':' */
        assert_string_equal(f.owner_id, "lab:x");

        const struct {
                const char *key, *value, *key2, *value2, *words;
        } bad[] = {
                {"state", "broken", NULL, NULL, "query 'state': 'broken' is not a state (pending, synced, error"},
                {"state", "", NULL, NULL, "query 'state'"},
                {"state", "ERROR", NULL, NULL, "'ERROR' is not a state"},
                {"state", "error", "state", "synced", "repeated"},
                {"owner", "vm", NULL, NULL, "query 'owner': 'vm' is not KIND:ID"},
                {"owner", "vm:", NULL, NULL, "is not KIND:ID"},
                {"owner", "forward:x", NULL, NULL, "KIND vm, route or node"},
                {"owner", ":x", NULL, NULL, "is not KIND:ID"},
                {"owner", "vm:a b", NULL, NULL, "is not KIND:ID"},
                {"owner", "vm:a", "owner", "vm:b", "repeated"},
                {"name", "not a name", NULL, NULL, "query 'name': 'not a name' is not a DNS name"},
                {"name", "", NULL, NULL, "is not a DNS name"},
                {"type", "A", NULL, NULL, "unknown query argument 'type' (allowed: state, owner, name)"},
                {"limit", "10", NULL, NULL, "unknown query argument 'limit'"},
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                f.state = 42;
                err[0] = '\0';
                assert_int_equal(filter_parse(bad[i].key, bad[i].value, bad[i].key2, bad[i].value2, &f, err), -EINVAL);
                if (!strstr(err, bad[i].words))
                        fail_msg("case %zu: '%s' not in '%s'", i, bad[i].words, err);
                assert_int_equal(f.state, 42); /* untouched */
        }
        /* An owner id longer than any stored one is refused, not cut. */
        char owner[DNS_OWNER_ID_MAX + 8] = "vm:";
        memset(owner + 3, 'a', DNS_OWNER_ID_MAX + 1);
        owner[DNS_OWNER_ID_MAX + 4] = '\0';
        assert_int_equal(filter_parse("owner", owner, NULL, NULL, &f, err), -EINVAL);
        owner[DNS_OWNER_ID_MAX + 3] = '\0';
        assert_int_equal(filter_parse("owner", owner, NULL, NULL, &f, err), 0);
}

static void test_dns_filter_match(void **state) {
        struct store_dns_record a = dns_row("a.dc1.example.net", DNS_TYPE_A, "vm", "web-1", STORE_DNS_SYNCED);
        struct store_dns_record b = dns_row("b.dc1.example.net", DNS_TYPE_AAAA, "route", "web-1", STORE_DNS_ERROR);
        struct dns_record_filter f;
        char err[API_ERROR_MAX];
        assert_int_equal(filter_parse(NULL, NULL, NULL, NULL, &f, err), 0);
        assert_true(dns_record_filter_match(&f, &a) && dns_record_filter_match(&f, &b));
        assert_int_equal(filter_parse("state", "error", NULL, NULL, &f, err), 0);
        assert_false(dns_record_filter_match(&f, &a));
        assert_true(dns_record_filter_match(&f, &b));
        /* The owner is kind and id: a route with a VM's id is not the VM's. */
        assert_int_equal(filter_parse("owner", "vm:web-1", NULL, NULL, &f, err), 0);
        assert_true(dns_record_filter_match(&f, &a));
        assert_false(dns_record_filter_match(&f, &b));
        assert_int_equal(filter_parse("owner", "vm:web-10", NULL, NULL, &f, err), 0);
        assert_false(dns_record_filter_match(&f, &a));
        assert_int_equal(filter_parse("name", "B.dc1.example.net", "state", "error", &f, err), 0);
        assert_false(dns_record_filter_match(&f, &a));
        assert_true(dns_record_filter_match(&f, &b));
        assert_int_equal(filter_parse("name", "b.dc1.example.net", "state", "synced", &f, err), 0);
        assert_false(dns_record_filter_match(&f, &b));
}

static void test_dns_record_to_json(void **state) {
        const int64_t now = 1795341600;
        struct store_dns_record r = dns_row("k7m2p4.dc1.example.net", DNS_TYPE_A, "vm", "web-1", STORE_DNS_SYNCED);
        r.want.proxied = true;
        strcpy(r.provider_ref, "372e67954025e0ba6aaa6d586b9e0b59");
        r.next_retry_at = now + 5; /* a synced row never waits */
        json_t *o = dns_record_to_json(&r, now, false);
        assert_non_null(o);
        char *text = json_dumps(o, JSON_COMPACT);
        assert_string_equal(text, "{\"name\":\"k7m2p4.dc1.example.net\",\"type\":\"A\",\"content\":\"203.0.113.10\","
                                  "\"ttl\":300,\"proxied\":true,\"owner\":{\"kind\":\"vm\",\"id\":\"web-1\"},"
                                  "\"state\":\"synced\",\"attempts\":0,\"last_error\":null,\"next_retry_at\":null,"
                                  "\"provider_ref\":\"372e67954025e0ba6aaa6d586b9e0b59\","
                                  "\"updated_at\":\"2026-11-22T10:00:00Z\"}");
        free(text);
        json_decref(o);

        /* An error waiting for its retry: the message and the time; no provider reference. */
        r = dns_row("k7m2p4.dc1.example.net", DNS_TYPE_AAAA, "vm", "web-1", STORE_DNS_ERROR);
        strcpy(r.last_error, "timeout talking to 127.0.0.1:53");
        r.attempts = 3;
        r.next_retry_at = now + 5;
        o = dns_record_to_json(&r, now, false);
        assert_non_null(o);
        assert_string_equal(json_string_value(json_object_get(o, "type")), "AAAA");
        assert_string_equal(json_string_value(json_object_get(o, "content")), "2001:db8::10");
        assert_string_equal(json_string_value(json_object_get(o, "state")), "error");
        assert_string_equal(json_string_value(json_object_get(o, "last_error")), "timeout talking to 127.0.0.1:53");
        assert_string_equal(json_string_value(json_object_get(o, "next_retry_at")), "2026-11-22T10:00:05Z");
        assert_int_equal(json_integer_value(json_object_get(o, "attempts")), 3);
        assert_true(json_is_null(json_object_get(o, "provider_ref")));
        assert_true(json_is_false(json_object_get(o, "proxied")));
        json_decref(o);

        /* Due now (or overdue): not waiting, so no time. */
        r.next_retry_at = now;
        o = dns_record_to_json(&r, now, false);
        assert_true(json_is_null(json_object_get(o, "next_retry_at")));
        json_decref(o);

        /* The brief form of a VM's "dns" list. */
        r.next_retry_at = now + 65;
        o = dns_record_to_json(&r, now, true);
        assert_non_null(o);
        text = json_dumps(o, JSON_COMPACT);
        assert_string_equal(text, "{\"name\":\"k7m2p4.dc1.example.net\",\"type\":\"AAAA\",\"content\":\"2001:db8::10\","
                                  "\"state\":\"error\",\"last_error\":\"timeout talking to 127.0.0.1:53\","
                                  "\"next_retry_at\":\"2026-11-22T10:01:05Z\"}");
        free(text);
        json_decref(o);

        /* Values no store writes are not passed off as something else. */
        r.want.type = 5;
        assert_null(dns_record_to_json(&r, now, false));
        r.want.type = DNS_TYPE_A;
        r.state = (enum store_dns_state)9;
        assert_null(dns_record_to_json(&r, now, true));
        assert_string_equal(dns_record_type_to_string(DNS_TYPE_A), "A");
        assert_string_equal(dns_record_type_to_string(DNS_TYPE_AAAA), "AAAA");
        assert_null(dns_record_type_to_string(16));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_decode_table),
                cmocka_unit_test(test_decode_options),
                cmocka_unit_test(test_decode_meta),
                cmocka_unit_test(test_decode_put_path_id),
                cmocka_unit_test(test_request_meta),
                cmocka_unit_test(test_decode_first_problem_wins),
                cmocka_unit_test(test_decode_embedded_nul_bytes),
                cmocka_unit_test(test_decode_deep_nesting),
                cmocka_unit_test(test_vm_to_json),
                cmocka_unit_test(test_vm_to_json_other),
                cmocka_unit_test(test_vm_to_json_options),
                cmocka_unit_test(test_vm_to_json_meta),
                cmocka_unit_test(test_decode_encode_agree),
                cmocka_unit_test(test_api_error_json),
                cmocka_unit_test(test_dns_name_parse),
                cmocka_unit_test(test_dns_filter_parse),
                cmocka_unit_test(test_dns_filter_match),
                cmocka_unit_test(test_dns_record_to_json),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
