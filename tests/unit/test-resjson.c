/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the route, forward and agent codecs and the request rules the resource
 * handlers share: tables of request bodies with the status and the words of the error each
 * must give (a refused body never writes the result), every field of each object, RFC 3339
 * times, list queries, If-Match, listener ports, generated-name detection and the field
 * codecs vmjson.c shares.
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

#include "api/resjson.h"
#include "core/util.h"

enum expect { OK, BAD_JSON, BAD_ARG, UNSUPPORTED, TLS, ANY_ERROR };

static void check_status(const char *name, enum expect expect, enum api_decode_status st, const char *err,
                         const char *err1, const char *err2) {
        static const enum api_decode_status want[] = {
                [OK] = API_DECODE_OK,
                [BAD_JSON] = API_DECODE_INVALID_JSON,
                [BAD_ARG] = API_DECODE_INVALID_ARGUMENT,
                [UNSUPPORTED] = API_DECODE_UNSUPPORTED,
                [TLS] = API_DECODE_TLS_TERMINATION,
        };
        if (expect == ANY_ERROR ? st == API_DECODE_OK : st != want[expect])
                fail_msg("%s: status %d, want %d (%s)", name, st, expect, st == API_DECODE_OK ? "" : err);
        if (expect == OK)
                return;
        assert_non_null(memchr(err, '\0', API_ERROR_MAX));
        if (!err[0])
                fail_msg("%s: no error message", name);
        if ((err1 && !strstr(err, err1)) || (err2 && !strstr(err, err2)))
                fail_msg("%s: error '%s' lacks '%s' / '%s'", name, err, err1, err2 ? err2 : "");
        json_t *e = api_error_json("x", err);
        if (!e)
                fail_msg("%s: error '%s' cannot be put in a JSON error", name, err);
        json_decref(e);
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

static void assert_fields(json_t *o, const char *const *fields, size_t n) {
        assert_int_equal(json_object_size(o), n);
        for (size_t i = 0; i < n; i++)
                if (!json_object_get(o, fields[i]))
                        fail_msg("field '%s' missing", fields[i]);
}

/* ---- times ---- */

static void test_time(void **state) {
        static const struct {
                const char *text;
                int64_t t; /* -1: refused */
                const char *canonical; /* NULL: text */
        } cases[] = {
                {"1970-01-01T00:00:00Z", 0, NULL},
                {"2026-11-22T10:00:00Z", 1795341600, NULL},
                {"2026-11-22t10:00:00z", 1795341600, "2026-11-22T10:00:00Z"},
                {"2000-02-29T12:34:56Z", 951827696, NULL},
                {"2026-11-22T11:30:00+01:30", 1795341600, "2026-11-22T10:00:00Z"},
                {"2026-11-22T05:00:00-05:00", 1795341600, "2026-11-22T10:00:00Z"},
                {"2026-11-22T10:00:00.5Z", 1795341600, "2026-11-22T10:00:00Z"},
                {"2026-11-22T10:00:00.123456789Z", 1795341600, "2026-11-22T10:00:00Z"},
                {"9999-12-31T23:59:59Z", 253402300799, NULL},
                {"2038-01-19T03:14:08Z", 2147483648, NULL},
                {"1969-12-31T23:59:59Z", -1, NULL},
                {"1970-01-01T00:30:00+01:00", -1, NULL}, /* before 1970 in UTC */
                {"2001-02-29T00:00:00Z", -1, NULL},
                {"1900-02-29T00:00:00Z", -1, NULL},
                {"2026-13-01T00:00:00Z", -1, NULL},
                {"2026-00-01T00:00:00Z", -1, NULL},
                {"2026-04-31T00:00:00Z", -1, NULL},
                {"2026-01-01T24:00:00Z", -1, NULL},
                {"2026-01-01T23:60:00Z", -1, NULL},
                {"2026-01-01T23:59:60Z", -1, NULL},
                {"2026-01-01 10:00:00Z", -1, NULL},
                {"2026-01-01T10:00:00", -1, NULL},
                {"2026-01-01T10:00Z", -1, NULL},
                {"2026-1-01T10:00:00Z", -1, NULL},
                {"2026-01-01T10:00:00.Z", -1, NULL},
                {"2026-01-01T10:00:00.1234567890Z", -1, NULL},
                {"2026-01-01T10:00:00+1:00", -1, NULL},
                {"2026-01-01T10:00:00+24:00", -1, NULL},
                {"2026-01-01T10:00:00+01", -1, NULL},
                {"2026-01-01T10:00:00Z ", -1, NULL},
                {"+2026-01-01T10:00:00Z", -1, NULL},
                {"", -1, NULL},
                {"1795341600", -1, NULL},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                int64_t t = 42;
                int r = api_time_parse(cases[i].text, &t);
                if (cases[i].t < 0) {
                        if (r != -EINVAL || t != 42)
                                fail_msg("'%s' accepted as %lld", cases[i].text, (long long)t);
                        continue;
                }
                if (r != 0 || t != cases[i].t)
                        fail_msg("'%s': %d, %lld; want %lld", cases[i].text, r, (long long)t, (long long)cases[i].t);
                char buf[API_TIME_MAX];
                assert_string_equal(api_time_format(t, buf), cases[i].canonical ? cases[i].canonical : cases[i].text);
        }
        /* Formatting agrees with parsing across the whole range, day by day in leap eras. */
        for (int64_t t = 0; t < 253402300799; t += 86400 * 37 + 3601) {
                char buf[API_TIME_MAX];
                int64_t back;
                assert_int_equal(api_time_parse(api_time_format(t, buf), &back), 0);
                assert_int_equal(back, t);
        }
        char buf[API_TIME_MAX];
        assert_string_equal(api_time_format(-1, buf), "1969-12-31T23:59:59Z");
        assert_string_equal(api_time_format(-62167219200LL, buf), "0000-01-01T00:00:00Z");
        assert_string_equal(api_time_format(-62167219201LL, buf), "");
        assert_string_equal(api_time_format(253402300800LL, buf), "");
        assert_string_equal(api_time_format(INT64_MAX, buf), "");
        assert_string_equal(api_time_format(INT64_MIN, buf), "");
}

/* ---- routes ---- */

struct route_case {
        const char *name;
        const char *body;
        enum expect expect;
        const char *err1, *err2;
};

static const struct route_case route_cases[] = {
        {"minimal", "{\"id\":\"r1\",\"hostname\":\"app.example.net\",\"target_ip\":\"10.30.0.200\"}", OK, NULL, NULL},
        {"wildcard", "{\"id\":\"r1\",\"hostname\":\"*.lab.example.net\",\"target_ip\":\"10.30.0.200\"}", OK, NULL, NULL},
        {"mode passthrough", "{\"id\":\"r\",\"hostname\":\"a.example\",\"target_ip\":\"10.0.0.1\",\"mode\":\"passthrough\"}",
         OK, NULL, NULL},

        {"not json", "{\"id\":", BAD_JSON, "not valid JSON", NULL},
        {"array", "[]", BAD_JSON, "must be a JSON object", NULL},
        {"empty", "", BAD_JSON, NULL, NULL},
        {"duplicate key", "{\"id\":\"r\",\"id\":\"r\",\"hostname\":\"a.example\",\"target_ip\":\"10.0.0.1\"}", BAD_JSON,
         "duplicate", NULL},
        {"unknown field", "{\"id\":\"r\",\"hostname\":\"a.example\",\"target_ip\":\"10.0.0.1\",\"target\":\"x\"}", BAD_ARG,
         "unknown field 'target'", "allowed: id, hostname, target_ip"},
        {"missing id", "{\"hostname\":\"a.example\",\"target_ip\":\"10.0.0.1\"}", BAD_ARG, "'id' is required", NULL},
        {"missing hostname", "{\"id\":\"r\",\"target_ip\":\"10.0.0.1\"}", BAD_ARG, "'hostname' is required", NULL},
        {"missing target", "{\"id\":\"r\",\"hostname\":\"a.example\"}", BAD_ARG, "'target_ip' is required", NULL},
        {"path id", "{\"id\":\"../x\",\"hostname\":\"a.example\",\"target_ip\":\"10.0.0.1\"}", BAD_ARG, "'id'", NULL},
        {"number id", "{\"id\":1,\"hostname\":\"a.example\",\"target_ip\":\"10.0.0.1\"}", BAD_ARG, "'id'", "string"},
        {"upper hostname", "{\"id\":\"r\",\"hostname\":\"A.example\",\"target_ip\":\"10.0.0.1\"}", BAD_ARG, "'hostname'",
         "lower case"},
        {"ip hostname with port", "{\"id\":\"r\",\"hostname\":\"a.example:443\",\"target_ip\":\"10.0.0.1\"}", BAD_ARG,
         "'hostname'", NULL},
        {"hostname number", "{\"id\":\"r\",\"hostname\":7,\"target_ip\":\"10.0.0.1\"}", BAD_ARG, "'hostname'", "string"},
        {"loopback target", "{\"id\":\"r\",\"hostname\":\"a.example\",\"target_ip\":\"127.0.0.1\"}", BAD_ARG,
         "'target_ip'", "loopback"},
        {"unspecified target", "{\"id\":\"r\",\"hostname\":\"a.example\",\"target_ip\":\"::\"}", BAD_ARG, "'target_ip'",
         "unspecified"},
        {"multicast target", "{\"id\":\"r\",\"hostname\":\"a.example\",\"target_ip\":\"239.1.1.1\"}", BAD_ARG,
         "'target_ip'", "multicast"},
        {"host name target", "{\"id\":\"r\",\"hostname\":\"a.example\",\"target_ip\":\"backend.lan\"}", BAD_ARG,
         "'target_ip'", "'backend.lan' is not an IPv4 or IPv6 address"},
        {"port 0", "{\"id\":\"r\",\"hostname\":\"a.example\",\"target_ip\":\"10.0.0.1\",\"target_port\":0}", BAD_ARG,
         "'target_port'", "0 is not a port"},
        {"port 65536", "{\"id\":\"r\",\"hostname\":\"a.example\",\"target_ip\":\"10.0.0.1\",\"target_port\":65536}",
         BAD_ARG, "'target_port'", "65536"},
        {"port string", "{\"id\":\"r\",\"hostname\":\"a.example\",\"target_ip\":\"10.0.0.1\",\"target_port\":\"443\"}",
         BAD_ARG, "'target_port'", "integer"},
        {"port real", "{\"id\":\"r\",\"hostname\":\"a.example\",\"target_ip\":\"10.0.0.1\",\"target_port\":443.0}",
         BAD_ARG, "'target_port'", "integer"},
        {"port negative", "{\"id\":\"r\",\"hostname\":\"a.example\",\"target_ip\":\"10.0.0.1\",\"target_port\":-1}",
         BAD_ARG, "'target_port'", NULL},
        {"http_port 0", "{\"id\":\"r\",\"hostname\":\"a.example\",\"target_ip\":\"10.0.0.1\",\"http_port\":0}", BAD_ARG,
         "'http_port'", NULL},
        {"mode terminate", "{\"id\":\"r\",\"hostname\":\"a.example\",\"target_ip\":\"10.0.0.1\",\"mode\":\"terminate\"}",
         UNSUPPORTED, "'mode'", "passthrough"},
        {"mode http", "{\"id\":\"r\",\"hostname\":\"a.example\",\"target_ip\":\"10.0.0.1\",\"mode\":\"http\"}",
         UNSUPPORTED, "'http'", NULL},
        {"mode upper case", "{\"id\":\"r\",\"hostname\":\"a.example\",\"target_ip\":\"10.0.0.1\",\"mode\":\"Passthrough\"}",
         UNSUPPORTED, NULL, NULL},
        {"mode number", "{\"id\":\"r\",\"hostname\":\"a.example\",\"target_ip\":\"10.0.0.1\",\"mode\":1}", BAD_ARG,
         "'mode'", "string"},
        {"proxy v3", "{\"id\":\"r\",\"hostname\":\"a.example\",\"target_ip\":\"10.0.0.1\",\"proxy_protocol\":\"v3\"}",
         BAD_ARG, "'proxy_protocol'", NULL},
        {"passthrough string",
         "{\"id\":\"r\",\"hostname\":\"a.example\",\"target_ip\":\"10.0.0.1\",\"http_passthrough\":\"yes\"}", BAD_ARG,
         "'http_passthrough'", NULL},
        {"allow host bits", "{\"id\":\"r\",\"hostname\":\"a.example\",\"target_ip\":\"10.0.0.1\",\"allow\":[\"10.0.0.1/8\"]}",
         BAD_ARG, "'allow'[0]", "host bits set"},
        {"labels bad", "{\"id\":\"r\",\"hostname\":\"a.example\",\"target_ip\":\"10.0.0.1\",\"labels\":{\"a\":1}}", BAD_ARG,
         "'labels'.'a'", NULL},
};

static void test_route_decode_table(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(route_cases); i++) {
                const struct route_case *c = &route_cases[i];
                size_t len = strlen(c->body);
                char *copy = malloc(len ? len : 1);
                assert_non_null(copy);
                memcpy(copy, c->body, len);
                struct route_def r, before;
                memset(&r, 0x5a, sizeof r);
                before = r;
                char err[API_ERROR_MAX] = "";
                enum api_decode_status st = route_request_decode(copy, len, NULL, &r, err);
                free(copy);
                check_status(c->name, c->expect, st, err, c->err1, c->err2);
                if (c->expect != OK && memcmp(&r, &before, sizeof r) != 0)
                        fail_msg("%s: route written on failure", c->name);
        }
}

static void test_route_decode_values(void **state) {
        struct route_def r;
        char err[API_ERROR_MAX];
        static const char minimal[] = "{\"id\":\"r1\",\"hostname\":\"app.example.net\",\"target_ip\":\"10.30.0.200\"}";
        assert_int_equal(route_request_decode(minimal, strlen(minimal), NULL, &r, err), API_DECODE_OK);
        char ip[IP_ADDR_STRLEN];
        assert_string_equal(r.id, "r1");
        assert_string_equal(r.hostname, "app.example.net");
        assert_string_equal(ip_addr_format(&r.ip, ip), "10.30.0.200");
        assert_int_equal(r.port, 443);
        assert_int_equal(r.http_port, 80);
        assert_int_equal(r.proxy_protocol, VM_PROXY_NONE);
        assert_false(r.http_passthrough);
        assert_int_equal(r.n_allow, 0);
        assert_string_equal(r.labels, "{}");
        assert_int_equal(r.origin, ORIGIN_API);
        assert_string_equal(r.agent_target_url, "");

        static const char full[] =
                "{\"labels\":{\"site\":\"home\"},\"allow\":[\"192.0.2.0/24\"],\"http_port\":8080,\"http_passthrough\":true,"
                "\"proxy_protocol\":\"v2\",\"mode\":\"passthrough\",\"target_port\":8443,\"target_ip\":\"2001:DB8::5\","
                "\"hostname\":\"*.lab.example.net\"}";
        assert_int_equal(route_request_decode(full, strlen(full), "lab", &r, err), API_DECODE_OK);
        assert_string_equal(r.id, "lab");
        assert_string_equal(r.hostname, "*.lab.example.net");
        assert_string_equal(ip_addr_format(&r.ip, ip), "2001:db8::5");
        assert_int_equal(r.port, 8443);
        assert_int_equal(r.http_port, 8080);
        assert_int_equal(r.proxy_protocol, VM_PROXY_V2);
        assert_true(r.http_passthrough);
        assert_int_equal(r.n_allow, 1);
        assert_string_equal(r.labels, "{\"site\":\"home\"}");

        /* PUT: a body id must equal the path's. */
        static const char other[] = "{\"id\":\"r2\",\"hostname\":\"a.example\",\"target_ip\":\"10.0.0.1\"}";
        assert_int_equal(route_request_decode(other, strlen(other), "r1", &r, err), API_DECODE_INVALID_ARGUMENT);
        assert_non_null(strstr(err, "differs from the id in the path"));
        /* A NULL body is an empty one. */
        assert_int_equal(route_request_decode(NULL, 0, NULL, &r, err), API_DECODE_INVALID_JSON);
}

static void test_route_to_json(void **state) {
        struct route_def r;
        route_def_init(&r);
        strcpy(r.id, "home-lab");
        strcpy(r.hostname, "*.lab.example.net");
        assert_int_equal(ip_addr_parse("10.30.0.200", &r.ip), 0);
        r.proxy_protocol = VM_PROXY_V1;
        r.n_allow = 1;
        assert_int_equal(ip_cidr_parse("203.0.113.0/24", &r.allow[0]), 0);
        strcpy(r.labels, "{\"site\":\"home\"}");
        r.origin = ORIGIN_AGENT;
        r.created_at = 1795341600;
        r.updated_at = 1795345200;
        r.version = 3;
        json_t *o = route_to_json(&r);
        assert_non_null(o);
        static const char *const fields[] = {"id",        "hostname", "target_ip", "target_port", "mode",
                                             "proxy_protocol", "http_passthrough", "http_port", "allow", "labels",
                                             "origin",    "created_at", "updated_at", "version", "dns"};
        assert_fields(o, fields, ELEMENTSOF(fields));
        assert_true(json_is_false(json_object_get(o, "dns")));
        assert_string_equal(get_string(o, "id"), "home-lab");
        assert_string_equal(get_string(o, "hostname"), "*.lab.example.net");
        assert_string_equal(get_string(o, "target_ip"), "10.30.0.200");
        assert_int_equal(get_int(o, "target_port"), 443);
        assert_string_equal(get_string(o, "mode"), "passthrough");
        assert_string_equal(get_string(o, "proxy_protocol"), "v1");
        assert_true(json_is_false(json_object_get(o, "http_passthrough")));
        assert_int_equal(get_int(o, "http_port"), 80);
        char *text = json_dumps(json_object_get(o, "allow"), JSON_COMPACT);
        assert_string_equal(text, "[\"203.0.113.0/24\"]");
        free(text);
        text = json_dumps(json_object_get(o, "labels"), JSON_COMPACT);
        assert_string_equal(text, "{\"site\":\"home\"}");
        free(text);
        assert_string_equal(get_string(o, "origin"), "agent");
        assert_string_equal(get_string(o, "created_at"), "2026-11-22T10:00:00Z");
        assert_string_equal(get_string(o, "updated_at"), "2026-11-22T11:00:00Z");
        assert_int_equal(get_int(o, "version"), 3);
        json_decref(o);

        /* Values that cannot be encoded are not passed off as something else. */
        r.proxy_protocol = 3;
        assert_null(route_to_json(&r));
        r.proxy_protocol = 0;
        r.n_allow = VM_ALLOW_MAX + 1;
        assert_null(route_to_json(&r));
        r.n_allow = 0;
        r.origin = 7;
        assert_null(route_to_json(&r));
        r.origin = ORIGIN_API;
        strcpy(r.labels, "not json");
        assert_null(route_to_json(&r));
}

/* Decoding a route's object fields back gives the same route. */
static void test_route_round_trip(void **state) {
        static const char body[] = "{\"id\":\"r\",\"hostname\":\"a.example\",\"target_ip\":\"10.0.0.9\","
                                   "\"target_port\":9443,\"proxy_protocol\":\"v2\",\"http_passthrough\":true,"
                                   "\"http_port\":8080,\"allow\":[\"::/0\"],\"labels\":{\"b\":\"2\",\"a\":\"1\"},"
                                   "\"dns\":true}";
        struct route_def r, back;
        char err[API_ERROR_MAX];
        assert_int_equal(route_request_decode(body, strlen(body), NULL, &r, err), API_DECODE_OK);
        assert_true(r.dns);
        json_t *o = route_to_json(&r);
        assert_non_null(o);
        json_object_del(o, "origin");
        json_object_del(o, "created_at");
        json_object_del(o, "updated_at");
        json_object_del(o, "version");
        char *text = json_dumps(o, JSON_COMPACT);
        assert_int_equal(route_request_decode(text, strlen(text), "r", &back, err), API_DECODE_OK);
        assert_memory_equal(&r, &back, sizeof r);
        free(text);
        json_decref(o);
}

/* ---- forwards ---- */

static const struct route_case forward_cases[] = {
        {"minimal", "{\"id\":\"f1\",\"public_port\":22015,\"target_ip\":\"10.50.0.12\",\"target_port\":22}", OK, NULL,
         NULL},
        {"udp", "{\"id\":\"f1\",\"public_port\":51820,\"proto\":\"udp\",\"target_ip\":\"10.50.0.12\",\"target_port\":51820}",
         OK, NULL, NULL},
        {"missing public_port", "{\"id\":\"f\",\"target_ip\":\"10.0.0.1\",\"target_port\":22}", BAD_ARG,
         "'public_port' is required", NULL},
        {"missing target_port", "{\"id\":\"f\",\"public_port\":1,\"target_ip\":\"10.0.0.1\"}", BAD_ARG,
         "'target_port' is required", NULL},
        {"missing target_ip", "{\"id\":\"f\",\"public_port\":1,\"target_port\":1}", BAD_ARG, "'target_ip' is required",
         NULL},
        {"port 0", "{\"id\":\"f\",\"public_port\":0,\"target_ip\":\"10.0.0.1\",\"target_port\":22}", BAD_ARG,
         "'public_port'", "0 is not a port"},
        {"port 65536", "{\"id\":\"f\",\"public_port\":65536,\"target_ip\":\"10.0.0.1\",\"target_port\":22}", BAD_ARG,
         "'public_port'", NULL},
        {"target port 0", "{\"id\":\"f\",\"public_port\":1,\"target_ip\":\"10.0.0.1\",\"target_port\":0}", BAD_ARG,
         "'target_port'", NULL},
        {"huge port", "{\"id\":\"f\",\"public_port\":99999999999999,\"target_ip\":\"10.0.0.1\",\"target_port\":1}",
         BAD_ARG, "'public_port'", NULL},
        {"port string", "{\"id\":\"f\",\"public_port\":\"22\",\"target_ip\":\"10.0.0.1\",\"target_port\":22}", BAD_ARG,
         "'public_port'", "integer"},
        {"port bool", "{\"id\":\"f\",\"public_port\":true,\"target_ip\":\"10.0.0.1\",\"target_port\":22}", BAD_ARG,
         "'public_port'", NULL},
        {"proto sctp", "{\"id\":\"f\",\"public_port\":1,\"proto\":\"sctp\",\"target_ip\":\"10.0.0.1\",\"target_port\":1}",
         BAD_ARG, "'proto'", "tcp, udp"},
        {"proto upper", "{\"id\":\"f\",\"public_port\":1,\"proto\":\"TCP\",\"target_ip\":\"10.0.0.1\",\"target_port\":1}",
         BAD_ARG, "'proto'", NULL},
        {"proto null", "{\"id\":\"f\",\"public_port\":1,\"proto\":null,\"target_ip\":\"10.0.0.1\",\"target_port\":1}",
         BAD_ARG, "'proto'", NULL},
        {"broadcast target", "{\"id\":\"f\",\"public_port\":1,\"target_ip\":\"255.255.255.255\",\"target_port\":1}",
         BAD_ARG, "'target_ip'", "broadcast"},
        {"mapped target", "{\"id\":\"f\",\"public_port\":1,\"target_ip\":\"::ffff:10.0.0.1\",\"target_port\":1}",
         BAD_ARG, "'target_ip'", NULL},
        {"unknown field", "{\"id\":\"f\",\"public_port\":1,\"target_ip\":\"10.0.0.1\",\"target_port\":1,\"forward_id\":\"f\"}",
         BAD_ARG, "unknown field 'forward_id'", NULL},
        {"port range", "{\"id\":\"f\",\"public_port\":\"1000-2000\",\"target_ip\":\"10.0.0.1\",\"target_port\":1}",
         BAD_ARG, "'public_port'", NULL},
};

static void test_forward_decode_table(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(forward_cases); i++) {
                const struct route_case *c = &forward_cases[i];
                struct forward_def f, before;
                memset(&f, 0x5a, sizeof f);
                before = f;
                char err[API_ERROR_MAX] = "";
                enum api_decode_status st = forward_request_decode(c->body, strlen(c->body), NULL, &f, err);
                check_status(c->name, c->expect, st, err, c->err1, c->err2);
                if (c->expect != OK && memcmp(&f, &before, sizeof f) != 0)
                        fail_msg("%s: forward written on failure", c->name);
        }
}

static void test_forward_values_and_object(void **state) {
        struct forward_def f;
        char err[API_ERROR_MAX], ip[IP_ADDR_STRLEN];
        static const char body[] = "{\"id\":\"vm-123-ssh\",\"public_port\":22015,\"target_ip\":\"10.50.0.12\","
                                   "\"target_port\":32215,\"labels\":{\"vm\":\"vm-123\"}}";
        assert_int_equal(forward_request_decode(body, strlen(body), NULL, &f, err), API_DECODE_OK);
        assert_string_equal(f.id, "vm-123-ssh");
        assert_int_equal(f.public_port, 22015);
        assert_int_equal(f.proto, PROTO_TCP);
        assert_string_equal(ip_addr_format(&f.ip, ip), "10.50.0.12");
        assert_int_equal(f.port, 32215);
        assert_int_equal(f.origin, ORIGIN_API);
        assert_string_equal(f.labels, "{\"vm\":\"vm-123\"}");

        f.created_at = 1795341600;
        f.updated_at = 1795341600;
        f.version = 1;
        json_t *o = forward_to_json(&f);
        assert_non_null(o);
        static const char *const fields[] = {"id",     "public_port", "proto",      "target_ip", "target_port",
                                             "labels", "origin",      "created_at", "updated_at", "version"};
        assert_fields(o, fields, ELEMENTSOF(fields));
        assert_string_equal(get_string(o, "id"), "vm-123-ssh");
        assert_int_equal(get_int(o, "public_port"), 22015);
        assert_string_equal(get_string(o, "proto"), "tcp");
        assert_string_equal(get_string(o, "target_ip"), "10.50.0.12");
        assert_int_equal(get_int(o, "target_port"), 32215);
        assert_string_equal(get_string(o, "origin"), "api");
        assert_string_equal(get_string(o, "created_at"), "2026-11-22T10:00:00Z");
        assert_int_equal(get_int(o, "version"), 1);

        /* The object minus the stored fields is a request for the same forward. */
        json_object_del(o, "origin");
        json_object_del(o, "created_at");
        json_object_del(o, "updated_at");
        json_object_del(o, "version");
        char *text = json_dumps(o, JSON_COMPACT);
        struct forward_def back;
        assert_int_equal(forward_request_decode(text, strlen(text), "vm-123-ssh", &back, err), API_DECODE_OK);
        free(text);
        json_decref(o);
        f.created_at = f.updated_at = f.version = 0;
        assert_memory_equal(&f, &back, sizeof f);

        f.proto = 2;
        assert_null(forward_to_json(&f));
}

/* ---- the seed agent ---- */

struct agent_case {
        const char *name;
        const char *body;
        enum expect expect;
        const char *ip; /* when OK */
        unsigned port;
        const char *err1, *err2;
};

#define AGENT_ROUTE(url) "{\"route_id\":\"vm-123\",\"hostname\":\"vm-123.service.com\",\"target_url\":\"" url "\"}"

static const struct agent_case agent_route_cases[] = {
        {"https", AGENT_ROUTE("https://10.50.0.12"), OK, "10.50.0.12", 443, NULL, NULL},
        {"https port", AGENT_ROUTE("https://10.50.0.12:8443"), OK, "10.50.0.12", 8443, NULL, NULL},
        {"https slash", AGENT_ROUTE("https://10.50.0.12:8443/"), OK, "10.50.0.12", 8443, NULL, NULL},
        {"tcp", AGENT_ROUTE("tcp://10.50.0.12:443"), OK, "10.50.0.12", 443, NULL, NULL},
        {"ipv6", AGENT_ROUTE("https://[2001:db8::12]:9443"), OK, "2001:db8::12", 9443, NULL, NULL},
        {"ipv6 default port", AGENT_ROUTE("tcp://[2001:db8::12]"), OK, "2001:db8::12", 443, NULL, NULL},
        {"the seed's own example",
         "{\"route_id\":\"vm-123\",\"hostname\":\"vm-123.service.com\",\"target_url\":\"http://10.50.0.12:8080\","
         "\"entrypoint\":\"websecure\",\"certresolver\":\"dnsresolver\"}",
         TLS, NULL, 0, "target_url http://10.50.0.12:8080 needs TLS termination", "https:// (passthrough)"},
        {"http without port", AGENT_ROUTE("http://10.50.0.12"), TLS, NULL, 0, "TLS termination", NULL},
        {"ftp", AGENT_ROUTE("ftp://10.50.0.12"), BAD_ARG, NULL, 0, "'target_url'", "https://IP[:PORT]"},
        {"upper scheme", AGENT_ROUTE("HTTPS://10.50.0.12"), BAD_ARG, NULL, 0, "'target_url'", NULL},
        {"host name", AGENT_ROUTE("https://backend.lan:443"), BAD_ARG, NULL, 0, "'target_url'", "IP address"},
        {"v6 without brackets", AGENT_ROUTE("https://2001:db8::12"), BAD_ARG, NULL, 0, "'target_url'", NULL},
        {"v4 in brackets", AGENT_ROUTE("https://[10.0.0.1]"), BAD_ARG, NULL, 0, "'target_url'", NULL},
        {"unclosed bracket", AGENT_ROUTE("https://[2001:db8::12"), BAD_ARG, NULL, 0, "'target_url'", NULL},
        {"empty host", AGENT_ROUTE("https://"), BAD_ARG, NULL, 0, "'target_url'", NULL},
        {"port 0", AGENT_ROUTE("https://10.0.0.1:0"), BAD_ARG, NULL, 0, "bad port", NULL},
        {"port 65536", AGENT_ROUTE("https://10.0.0.1:65536"), BAD_ARG, NULL, 0, "bad port", NULL},
        {"port empty", AGENT_ROUTE("https://10.0.0.1:"), BAD_ARG, NULL, 0, "bad port", NULL},
        {"port letters", AGENT_ROUTE("https://10.0.0.1:https"), BAD_ARG, NULL, 0, "bad port", NULL},
        {"port long", AGENT_ROUTE("https://10.0.0.1:0000443"), BAD_ARG, NULL, 0, "bad port", NULL},
        {"path", AGENT_ROUTE("https://10.0.0.1/app"), BAD_ARG, NULL, 0, "may not have a path", NULL},
        {"query", AGENT_ROUTE("https://10.0.0.1:443/?x=1"), BAD_ARG, NULL, 0, "may not have a path", NULL},
        {"user", AGENT_ROUTE("https://u@10.0.0.1"), BAD_ARG, NULL, 0, "'target_url'", NULL},
        {"loopback", AGENT_ROUTE("https://127.0.0.1"), BAD_ARG, NULL, 0, "'target_url'", "loopback"},
        {"missing target_url", "{\"route_id\":\"r\",\"hostname\":\"a.example\"}", BAD_ARG, NULL, 0,
         "'target_url' is required", NULL},
        {"missing route_id", "{\"hostname\":\"a.example\",\"target_url\":\"https://10.0.0.1\"}", BAD_ARG, NULL, 0,
         "'route_id' is required", NULL},
        {"v1 field", "{\"id\":\"r\",\"hostname\":\"a.example\",\"target_url\":\"https://10.0.0.1\"}", BAD_ARG, NULL, 0,
         "unknown field 'id'", "route_id"},
        {"entrypoint number",
         "{\"route_id\":\"r\",\"hostname\":\"a.example\",\"target_url\":\"https://10.0.0.1\",\"entrypoint\":1}", BAD_ARG,
         NULL, 0, "'entrypoint'", NULL},
        {"certresolver control",
         "{\"route_id\":\"r\",\"hostname\":\"a.example\",\"target_url\":\"https://10.0.0.1\",\"certresolver\":\"a\\nb\"}",
         BAD_ARG, NULL, 0, "'certresolver'", "printable"},
        {"null options",
         "{\"route_id\":\"r\",\"hostname\":\"a.example\",\"target_url\":\"https://10.0.0.1\",\"entrypoint\":null,"
         "\"certresolver\":null}",
         OK, "10.0.0.1", 443, NULL, NULL},
        {"target_url number", "{\"route_id\":\"r\",\"hostname\":\"a.example\",\"target_url\":443}", BAD_ARG, NULL, 0,
         "'target_url'", "string"},
        {"upper hostname", "{\"route_id\":\"r\",\"hostname\":\"VM.example\",\"target_url\":\"https://10.0.0.1\"}",
         BAD_ARG, NULL, 0, "'hostname'", "lower case"},
};

static void test_agent_route_decode(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(agent_route_cases); i++) {
                const struct agent_case *c = &agent_route_cases[i];
                struct route_def r, before;
                memset(&r, 0x5a, sizeof r);
                before = r;
                char err[API_ERROR_MAX] = "", ip[IP_ADDR_STRLEN];
                enum api_decode_status st = agent_route_decode(c->body, strlen(c->body), &r, err);
                check_status(c->name, c->expect, st, err, c->err1, c->err2);
                if (c->expect != OK) {
                        if (memcmp(&r, &before, sizeof r) != 0)
                                fail_msg("%s: route written on failure", c->name);
                        continue;
                }
                if (!streq(ip_addr_format(&r.ip, ip), c->ip) || r.port != c->port)
                        fail_msg("%s: %s:%u, want %s:%u", c->name, ip, r.port, c->ip, c->port);
                assert_int_equal(r.origin, ORIGIN_AGENT);
                assert_int_equal(r.http_port, 80);
                assert_string_equal(r.labels, "{}");
        }
}

static void test_agent_route_object(void **state) {
        static const char body[] = "{\"route_id\":\"vm-123\",\"hostname\":\"vm-123.service.com\","
                                   "\"target_url\":\"https://10.50.0.12:8443\",\"certresolver\":\"dnsresolver\"}";
        struct route_def r;
        char err[API_ERROR_MAX];
        assert_int_equal(agent_route_decode(body, strlen(body), &r, err), API_DECODE_OK);
        assert_string_equal(r.id, "vm-123");
        assert_string_equal(r.agent_target_url, "https://10.50.0.12:8443");
        assert_string_equal(r.agent_entrypoint, "websecure");
        assert_string_equal(r.agent_certresolver, "dnsresolver");
        json_t *o = agent_route_to_json(&r);
        assert_non_null(o);
        char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(text, "{\"certresolver\":\"dnsresolver\",\"entrypoint\":\"websecure\",\"hostname\":"
                                  "\"vm-123.service.com\",\"route_id\":\"vm-123\",\"target_url\":"
                                  "\"https://10.50.0.12:8443\"}");
        free(text);
        json_decref(o);

        /* An absent certresolver is null; a route made through /v1 shows its equivalent URL. */
        struct route_def v1;
        route_def_init(&v1);
        strcpy(v1.id, "lab");
        strcpy(v1.hostname, "*.lab.example");
        assert_int_equal(ip_addr_parse("2001:db8::1", &v1.ip), 0);
        v1.port = 9443;
        o = agent_route_to_json(&v1);
        assert_non_null(o);
        assert_string_equal(get_string(o, "target_url"), "https://[2001:db8::1]:9443");
        assert_string_equal(get_string(o, "entrypoint"), "");
        assert_true(json_is_null(json_object_get(o, "certresolver")));
        json_decref(o);
}

static void test_agent_forward(void **state) {
        static const char body[] = "{\"forward_id\":\"vm-123-ssh\",\"public_port\":22015,\"target_ip\":\"10.50.0.12\","
                                   "\"target_port\":32215,\"proto\":\"tcp\"}";
        struct forward_def f;
        char err[API_ERROR_MAX];
        assert_int_equal(agent_forward_decode(body, strlen(body), &f, err), API_DECODE_OK);
        assert_string_equal(f.id, "vm-123-ssh");
        assert_int_equal(f.public_port, 22015);
        assert_int_equal(f.port, 32215);
        assert_int_equal(f.proto, PROTO_TCP);
        assert_int_equal(f.origin, ORIGIN_AGENT);
        json_t *o = agent_forward_to_json(&f);
        char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(text, "{\"forward_id\":\"vm-123-ssh\",\"proto\":\"tcp\",\"public_port\":22015,"
                                  "\"target_ip\":\"10.50.0.12\",\"target_port\":32215}");
        /* The seed's body, sent again, decodes to the same forward. */
        struct forward_def again;
        assert_int_equal(agent_forward_decode(text, strlen(text), &again, err), API_DECODE_OK);
        assert_memory_equal(&f, &again, sizeof f);
        free(text);
        json_decref(o);

        static const struct route_case bad[] = {
                {"no proto: tcp", "{\"forward_id\":\"f\",\"public_port\":1,\"target_ip\":\"10.0.0.1\",\"target_port\":1}",
                 OK, NULL, NULL},
                {"missing forward_id", "{\"public_port\":1,\"target_ip\":\"10.0.0.1\",\"target_port\":1}", BAD_ARG,
                 "'forward_id' is required", NULL},
                {"v1 id", "{\"id\":\"f\",\"public_port\":1,\"target_ip\":\"10.0.0.1\",\"target_port\":1}", BAD_ARG,
                 "unknown field 'id'", NULL},
                {"port 0", "{\"forward_id\":\"f\",\"public_port\":0,\"target_ip\":\"10.0.0.1\",\"target_port\":1}",
                 BAD_ARG, "'public_port'", NULL},
                {"labels not accepted",
                 "{\"forward_id\":\"f\",\"public_port\":1,\"target_ip\":\"10.0.0.1\",\"target_port\":1,\"labels\":{}}",
                 BAD_ARG, "unknown field 'labels'", NULL},
                {"traversal id", "{\"forward_id\":\"../../etc/passwd\",\"public_port\":1,\"target_ip\":\"10.0.0.1\","
                                 "\"target_port\":1}",
                 BAD_ARG, "'forward_id'", NULL},
                {"not json", "forward_id=f", BAD_JSON, NULL, NULL},
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                struct forward_def g, before;
                memset(&g, 0x5a, sizeof g);
                before = g;
                enum api_decode_status st = agent_forward_decode(bad[i].body, strlen(bad[i].body), &g, err);
                check_status(bad[i].name, bad[i].expect, st, err, bad[i].err1, bad[i].err2);
                if (bad[i].expect != OK && memcmp(&g, &before, sizeof g) != 0)
                        fail_msg("%s: written on failure", bad[i].name);
        }
}

/* ---- request rules ---- */

static int parse_query(const char *const *kv, size_t n, bool allow_bytes, struct api_list_query *q, char *err) {
        const char *keys[32] = {0}, *values[32] = {0};
        for (size_t i = 0; i < n; i++) {
                keys[i] = kv[2 * i];
                values[i] = kv[2 * i + 1];
        }
        return api_list_query_parse(keys, values, n, allow_bytes, q, err);
}

static void test_list_query(void **state) {
        struct api_list_query q;
        char err[API_ERROR_MAX];
        assert_int_equal(parse_query(NULL, 0, false, &q, err), 0);
        assert_int_equal(q.limit, 100);
        assert_string_equal(q.after, "");
        assert_int_equal(q.n_match, 0);
        assert_false(q.bytes);

        static const char *const all[] = {"limit", "1000", "after", "vm-9", "label", "env=prod", "label", "team",
                                          "bytes", "1"};
        assert_int_equal(parse_query(all, 5, true, &q, err), 0);
        assert_int_equal(q.limit, 1000);
        assert_string_equal(q.after, "vm-9");
        assert_int_equal(q.n_match, 2);
        assert_string_equal(q.match[0].key, "env");
        assert_string_equal(q.match[0].value, "prod");
        assert_false(q.match[0].any_value);
        assert_string_equal(q.match[1].key, "team");
        assert_true(q.match[1].any_value);
        assert_true(q.bytes);

        static const struct {
                const char *key, *value;
                bool allow_bytes;
                const char *err;
        } bad[] = {
                {"limit", "0", false, "'limit'"},
                {"limit", "1001", false, "1-1000"},
                {"limit", "-1", false, "'limit'"},
                {"limit", "", false, "'limit'"},
                {"limit", "10x", false, "'limit'"},
                {"limit", "010", false, "'limit'"},
                {"limit", "99999999999999999999", false, "'limit'"},
                {"after", "", false, "'after'"},
                {"after", "../x", false, "'after'"},
                {"after", "a/b", false, "'after'"},
                {"label", "", false, "'label'"},
                {"label", "=v", false, "'label'"},
                {"label", "-k=v", false, "'label'"},
                {"label", "k=\"", false, "'label'"},
                {"label", "k=a\nb", false, "'k=a?b'"},
                {"bytes", "1", false, "unknown query argument 'bytes'"},
                {"bytes", "yes", true, "'bytes'"},
                {"sort", "id", true, "unknown query argument 'sort'"},
                {"Limit", "5", false, "'Limit'"},
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                const char *kv[] = {bad[i].key, bad[i].value};
                memset(&q, 0x5a, sizeof q);
                struct api_list_query before = q;
                err[0] = '\0';
                if (parse_query(kv, 1, bad[i].allow_bytes, &q, err) != -EINVAL)
                        fail_msg("?%s=%s accepted", bad[i].key, bad[i].value);
                if (!strstr(err, bad[i].err))
                        fail_msg("?%s=%s: '%s' lacks '%s'", bad[i].key, bad[i].value, err, bad[i].err);
                assert_memory_equal(&q, &before, sizeof q);
        }
        /* Repeating limit, after or bytes is refused; sixteen labels are fine, seventeen are not. */
        static const char *const twice[] = {"limit", "5", "limit", "6"};
        assert_int_equal(parse_query(twice, 2, false, &q, err), -EINVAL);
        assert_non_null(strstr(err, "repeated"));
        static const char *const twice_after[] = {"after", "a", "after", "b"};
        assert_int_equal(parse_query(twice_after, 2, false, &q, err), -EINVAL);
        const char *labels[34];
        for (size_t i = 0; i < 17; i++) {
                labels[2 * i] = "label";
                labels[2 * i + 1] = "k";
        }
        assert_int_equal(parse_query(labels, 16, false, &q, err), 0);
        assert_int_equal(q.n_match, 16);
        assert_int_equal(parse_query(labels, 17, false, &q, err), -EINVAL);
        /* A NULL value is "": ?label (no key) is refused, ?bytes means nothing valid. */
        const char *nul[] = {"label", NULL};
        assert_int_equal(parse_query(nul, 1, false, &q, err), -EINVAL);
}

static void test_if_match(void **state) {
        static const struct {
                const char *header;
                int r;
                int64_t v;
        } cases[] = {
                {NULL, 0, API_IF_MATCH_NONE},
                {"*", 0, API_IF_MATCH_ANY},
                {" * ", 0, API_IF_MATCH_ANY},
                {"\"1\"", 0, 1},
                {"\"42\"", 0, 42},
                {"\"0\"", 0, 0},
                {" \"7\"\t", 0, 7},
                {"\"999999999999999999\"", 0, 999999999999999999LL},
                {"\"9999999999999999999\"", -EINVAL, 0}, /* over int64 */
                {"7", -EINVAL, 0},
                {"W/\"7\"", -EINVAL, 0},
                {"\"7\", \"8\"", -EINVAL, 0},
                {"\"\"", -EINVAL, 0},
                {"\"07\"", -EINVAL, 0},
                {"\"-1\"", -EINVAL, 0},
                {"\"7", -EINVAL, 0},
                {"", -EINVAL, 0},
                {"**", -EINVAL, 0},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                int64_t v = 12345;
                char err[API_ERROR_MAX] = "";
                int r = api_if_match_parse(cases[i].header, &v, err);
                if (r != cases[i].r || (r == 0 && v != cases[i].v) || (r < 0 && v != 12345))
                        fail_msg("If-Match '%s': %d %lld", cases[i].header, r, (long long)v);
                if (r < 0 && !strstr(err, "If-Match"))
                        fail_msg("If-Match '%s': error '%s'", cases[i].header, err);
        }
}

static void test_listen_ports(void **state) {
        uint16_t ports[4];
        assert_int_equal(listen_ports_parse("", ports, 4), 0);
        assert_int_equal(listen_ports_parse("0.0.0.0:443", ports, 4), 1);
        assert_int_equal(ports[0], 443);
        assert_int_equal(listen_ports_parse("0.0.0.0:443 [::]:8443  10.0.0.1:9443", ports, 4), 3);
        assert_int_equal(ports[1], 8443);
        assert_int_equal(ports[2], 9443);
        /* Entries that do not parse are skipped; the output is bounded. */
        assert_int_equal(listen_ports_parse("junk :443 1.2.3.4:80", ports, 4), 1);
        assert_int_equal(ports[0], 80);
        assert_int_equal(listen_ports_parse("1.1.1.1:1 1.1.1.1:2 1.1.1.1:3 1.1.1.1:4 1.1.1.1:5", ports, 4), 4);
        assert_int_equal(ports[3], 4);
}

static void test_generated_names(void **state) {
        char slug[SLUG_LEN + 1] = "";
        assert_true(hostname_is_generated("k7m2p4.dc-lk.example.net", "dc-lk", "example.net", slug));
        assert_string_equal(slug, "k7m2p4");
        assert_true(hostname_is_generated("000000.dc-lk.example.net", "dc-lk", "example.net", NULL));
        assert_false(hostname_is_generated("k7m2p.dc-lk.example.net", "dc-lk", "example.net", NULL));
        assert_false(hostname_is_generated("k7m2p45.dc-lk.example.net", "dc-lk", "example.net", NULL));
        assert_false(hostname_is_generated("k7-2p4.dc-lk.example.net", "dc-lk", "example.net", NULL));
        assert_false(hostname_is_generated("a.k7m2p4.dc-lk.example.net", "dc-lk", "example.net", NULL));
        assert_false(hostname_is_generated("k7m2p4.dc-lk.example.org", "dc-lk", "example.net", NULL));
        assert_false(hostname_is_generated("k7m2p4.dc-lkxexample.net", "dc-lk", "example.net", NULL));
        assert_false(hostname_is_generated("*.dc-lk.example.net", "dc-lk", "example.net", NULL));
        assert_false(hostname_is_generated("dc-lk.example.net", "dc-lk", "example.net", NULL));
}

static void test_target_not_gateway(void **state) {
        struct config cfg;
        config_defaults(&cfg);
        strcpy(cfg.public_ip, "203.0.113.10");
        strcpy(cfg.public_ip6, "2001:db8::10");
        struct ip_addr a;
        char err[API_ERROR_MAX];
        assert_int_equal(ip_addr_parse("10.0.0.1", &a), 0);
        assert_true(api_target_not_gateway(&a, &cfg, "'ip'", err));
        assert_int_equal(ip_addr_parse("203.0.113.10", &a), 0);
        assert_false(api_target_not_gateway(&a, &cfg, "'target_ip'", err));
        assert_string_equal(err, "field 'target_ip': 203.0.113.10 is the gateway's own public address");
        assert_int_equal(ip_addr_parse("2001:DB8::10", &a), 0);
        assert_false(api_target_not_gateway(&a, &cfg, "'ip'", err));
        assert_non_null(strstr(err, "2001:db8::10"));
        cfg.public_ip[0] = cfg.public_ip6[0] = '\0';
        assert_true(api_target_not_gateway(&a, &cfg, "'ip'", err));
}

static void test_decode_codes(void **state) {
        unsigned status = 1;
        assert_null(api_decode_code(API_DECODE_OK, &status));
        assert_int_equal(status, 0);
        assert_string_equal(api_decode_code(API_DECODE_INVALID_JSON, &status), "invalid_json");
        assert_int_equal(status, 400);
        assert_string_equal(api_decode_code(API_DECODE_INVALID_ARGUMENT, &status), "invalid_argument");
        assert_int_equal(status, 400);
        assert_string_equal(api_decode_code(API_DECODE_UNSUPPORTED, &status), "unsupported");
        assert_int_equal(status, 422);
        assert_string_equal(api_decode_code(API_DECODE_TLS_TERMINATION, &status), "tls_termination_unsupported");
        assert_int_equal(status, 422);
}

static void test_fields_known(void **state) {
        static const char *const allowed[] = {"a", "b"};
        char err[API_ERROR_MAX];
        json_t *o = json_pack("{s:i, s:i}", "a", 1, "b", 2);
        assert_true(json_fields_known(o, allowed, 2, err));
        json_object_set_new(o, "c\x01", json_integer(3));
        assert_false(json_fields_known(o, allowed, 2, err));
        assert_string_equal(err, "unknown field 'c?' (allowed: a, b)");
        json_decref(o);
}

/* The field codecs vmjson.c shares: the body loader, proxy_protocol, booleans, allow, labels. */
static void test_shared_field_codecs(void **state) {
        char err[API_ERROR_MAX];
        json_t *o = json_body_load("{\"a\": 1}", 8, err);
        assert_true(json_is_object(o));
        json_decref(o);
        assert_null(json_body_load(NULL, 0, err));
        assert_string_equal(err, "body is not valid JSON: it is empty (send a JSON object)");
        assert_null(json_body_load("[1]", 3, err));
        assert_string_equal(err, "body must be a JSON object");
        assert_null(json_body_load("{\"a\": 1, \"a\": 2}", 16, err));
        assert_non_null(strstr(err, "body is not valid JSON"));

        uint8_t pp = 7;
        assert_true(json_proxy_protocol_decode(NULL, &pp, err));
        assert_int_equal(pp, 7);
        json_t *v = json_string("v2");
        assert_true(json_proxy_protocol_decode(v, &pp, err));
        assert_int_equal(pp, VM_PROXY_V2);
        json_decref(v);
        v = json_string("v3\x7f");
        assert_false(json_proxy_protocol_decode(v, &pp, err));
        assert_string_equal(err, "field 'proxy_protocol': 'v3?' is not one of none, v1, v2");
        json_decref(v);

        bool b = false;
        assert_true(json_bool_decode(NULL, "'x'", &b, err));
        assert_false(b);
        assert_true(json_bool_decode(json_true(), "'x'", &b, err));
        assert_true(b);
        v = json_integer(1);
        assert_false(json_bool_decode(v, "'x'", &b, err));
        assert_string_equal(err, "field 'x' must be true or false");
        json_decref(v);

        struct ip_cidr allow[2];
        assert_int_equal(ip_cidr_parse("203.0.113.0/24", &allow[0]), 0);
        assert_int_equal(ip_cidr_parse("2001:db8::/32", &allow[1]), 0);
        v = json_allow_encode(allow, 2);
        char *text = json_dumps(v, JSON_COMPACT);
        assert_string_equal(text, "[\"203.0.113.0/24\",\"2001:db8::/32\"]");
        free(text);
        json_decref(v);
        v = json_allow_encode(allow, 0);
        assert_int_equal(json_array_size(v), 0);
        json_decref(v);

        v = json_labels_encode("{\"env\":\"dev\"}");
        assert_string_equal(json_string_value(json_object_get(v, "env")), "dev");
        json_decref(v);
        assert_null(json_labels_encode("[]"));
        assert_null(json_labels_encode("{"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_time),
                cmocka_unit_test(test_route_decode_table),
                cmocka_unit_test(test_route_decode_values),
                cmocka_unit_test(test_route_to_json),
                cmocka_unit_test(test_route_round_trip),
                cmocka_unit_test(test_forward_decode_table),
                cmocka_unit_test(test_forward_values_and_object),
                cmocka_unit_test(test_agent_route_decode),
                cmocka_unit_test(test_agent_route_object),
                cmocka_unit_test(test_agent_forward),
                cmocka_unit_test(test_list_query),
                cmocka_unit_test(test_if_match),
                cmocka_unit_test(test_listen_ports),
                cmocka_unit_test(test_generated_names),
                cmocka_unit_test(test_target_not_gateway),
                cmocka_unit_test(test_decode_codes),
                cmocka_unit_test(test_fields_known),
                cmocka_unit_test(test_shared_field_codecs),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
