/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the VM JSON codecs: a table of create-request bodies with the status and
 * the words of the error each must give, and every field of the VM object for a fixed VM.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

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

static void run_decode_case(const struct decode_case *c) {
        size_t len = c->len ? c->len : strlen(c->body);
        /* An exact-size heap copy: reading past the body is caught by ASan. */
        char *body = malloc(len ? len : 1);
        assert_non_null(body);
        memcpy(body, c->body, len);

        struct vm_request req;
        memset(&req, 0x5a, sizeof req);
        struct vm_request before = req;
        char err[API_ERROR_MAX];
        memset(err, 0, sizeof err);
        enum api_decode_status st = vm_request_decode(body, len, &req, err);
        free(body);

        switch (c->expect) {
        case OK:
                if (st != API_DECODE_OK)
                        fail_msg("%s: status %d: %s", c->name, st, err);
                assert_string_equal(req.id, c->id);
                assert_true(vm_id_valid(req.id));
                char ip[IP_ADDR_STRLEN];
                assert_string_equal(ip_addr_format(&req.ip, ip), c->ip);
                assert_int_equal(ip_target_check(&req.ip), IP_TARGET_OK);
                return;
        case BAD_JSON:
                if (st != API_DECODE_INVALID_JSON)
                        fail_msg("%s: status %d, want INVALID_JSON (%s)", c->name, st, err);
                break;
        case BAD_ARG:
                if (st != API_DECODE_INVALID_ARGUMENT)
                        fail_msg("%s: status %d, want INVALID_ARGUMENT (%s)", c->name, st, err);
                break;
        case ANY_ERROR:
                if (st == API_DECODE_OK)
                        fail_msg("%s: accepted", c->name);
                break;
        }
        /* Failure: *ret untouched, a message that says what is wrong. */
        if (memcmp(&req, &before, sizeof req) != 0)
                fail_msg("%s: request written on failure", c->name);
        assert_non_null(memchr(err, '\0', sizeof err));
        if (!err[0])
                fail_msg("%s: no error message", c->name);
        if ((c->err1 && !strstr(err, c->err1)) || (c->err2 && !strstr(err, c->err2)))
                fail_msg("%s: error '%s' lacks '%s' / '%s'", c->name, err, c->err1, c->err2 ? c->err2 : "");
        /* The message can always be sent back in an API error object (valid UTF-8). */
        json_t *e = api_error_json("invalid_argument", err);
        if (!e)
                fail_msg("%s: error '%s' cannot be put in a JSON error", c->name, err);
        json_decref(e);
}

static void test_decode_table(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(decode_cases); i++)
                run_decode_case(&decode_cases[i]);
}

static void test_decode_embedded_nul_bytes(void **state) {
        /* A raw NUL inside the body (the length says it is there). */
        static const char body[] = "{\"id\":\"x\",\"ip\":\"10.0.0.1\"}\0trailing";
        struct vm_request req;
        char err[API_ERROR_MAX];
        assert_int_not_equal(vm_request_decode(body, sizeof body - 1, &req, err), API_DECODE_OK);
        static const char body2[] = "{\"id\":\"x\0\",\"ip\":\"10.0.0.1\"}";
        assert_int_not_equal(vm_request_decode(body2, sizeof body2 - 1, &req, err), API_DECODE_OK);
        /* Only len bytes count: a valid prefix is decoded without the rest. */
        static const char body3[] = "{\"id\":\"x\",\"ip\":\"10.0.0.1\"}GARBAGE";
        assert_int_equal(vm_request_decode(body3, sizeof body3 - 1 - 7, &req, err), API_DECODE_OK);
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
        assert_int_not_equal(vm_request_decode(body, n, &req, err), API_DECODE_OK);
        free(body);
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
        json_t *o = vm_to_json(&vm, "dc-lk", "example.net");
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
        /* Exactly the documented fields (docs/api.md), nothing else. */
        static const char *const fields[] = {"id",       "ip",       "slug", "subdomain",        "web_url",
                                             "ssh_command", "ssh_port", "port_range_start", "port_range_end", "ports",
                                             "created_at"};
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
        json_t *o = vm_to_json(&vm, "a", "b");
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
        o = vm_to_json(&vm, "dc-lk", "example.net");
        assert_non_null(o);
        ports = json_object_get(o, "ports");
        assert_int_equal(json_array_size(ports), 20);
        assert_int_equal(get_int(o, "port_range_end"), 20019);
        assert_string_equal(get_string(json_array_get(ports, 9), "proto"), "tcp");
        assert_string_equal(get_string(json_array_get(ports, 10), "proto"), "udp");
        assert_int_equal(get_int(json_array_get(ports, 19), "public_port"), 20019);
        json_decref(o);
}

static void test_decode_encode_agree(void **state) {
        /* What a client sends comes back in the VM object unchanged (ip canonical). */
        static const char body[] = "{\"id\":\"contract-9\",\"ip\":\"2001:DB8::a\"}";
        struct vm_request req;
        char err[API_ERROR_MAX];
        assert_int_equal(vm_request_decode(body, strlen(body), &req, err), API_DECODE_OK);
        struct vm vm = fixed_vm();
        strcpy(vm.id, req.id);
        vm.ip = req.ip;
        json_t *o = vm_to_json(&vm, "dc-lk", "example.net");
        assert_non_null(o);
        assert_string_equal(get_string(o, "id"), "contract-9");
        assert_string_equal(get_string(o, "ip"), "2001:db8::a");
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

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_decode_table),
                cmocka_unit_test(test_decode_embedded_nul_bytes),
                cmocka_unit_test(test_decode_deep_nesting),
                cmocka_unit_test(test_vm_to_json),
                cmocka_unit_test(test_vm_to_json_other),
                cmocka_unit_test(test_decode_encode_agree),
                cmocka_unit_test(test_api_error_json),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
