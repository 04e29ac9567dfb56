/* SPDX-License-Identifier: MIT */
/* Route table lookups (exact, wildcard, default), allow-lists, and the address helpers
 * they rely on (CIDRs, ADDR:PORT endpoints). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "model/ipaddr.h"
#include "proxy/routes.h"

static struct route mk(const char *name, const char *ip) {
        struct route r = {.https_port = 443, .http_port = 80};
        strcpy(r.name, name);
        assert_int_equal(ip_addr_parse(ip, &r.backend), 0);
        return r;
}

static const char *backend_of(const struct route_table *t, const char *host) {
        static char buf[IP_ADDR_STRLEN];
        const struct route *r = route_table_lookup(t, host, strlen(host));
        return r ? ip_addr_format(&r->backend, buf) : "(none)";
}

static void test_exact_wildcard_default(void **state) {
        (void)state;
        struct route rs[] = {
                mk("k7m2p4.dc-lk.example.net", "10.0.1.5"),
                mk("*.dc-lk.example.net", "10.0.1.99"),
                mk("*.example.net", "10.0.1.98"),
                mk("home.lab.example.org", "10.30.0.200"),
        };
        struct route def = mk("", "10.9.9.9");
        struct route_table *t;
        assert_int_equal(route_table_new(rs, 4, NULL, &t), 0);
        assert_int_equal(route_table_size(t), 4);
        assert_string_equal(backend_of(t, "k7m2p4.dc-lk.example.net"), "10.0.1.5");
        /* most specific wildcard wins */
        assert_string_equal(backend_of(t, "other.dc-lk.example.net"), "10.0.1.99");
        assert_string_equal(backend_of(t, "a.b.dc-lk.example.net"), "10.0.1.99");
        assert_string_equal(backend_of(t, "www.example.net"), "10.0.1.98");
        /* a wildcard does not match the bare suffix itself */
        assert_string_equal(backend_of(t, "example.net"), "(none)");
        assert_string_equal(backend_of(t, "home.lab.example.org"), "10.30.0.200");
        assert_string_equal(backend_of(t, "lab.example.org"), "(none)");
        assert_string_equal(backend_of(t, "unknown.test"), "(none)");
        assert_null(route_table_lookup(t, "", 0));
        route_table_free(t);

        assert_int_equal(route_table_new(rs, 4, &def, &t), 0);
        assert_string_equal(backend_of(t, "unknown.test"), "10.9.9.9");
        assert_string_equal(backend_of(t, ""), "10.9.9.9");
        assert_string_equal(backend_of(t, "k7m2p4.dc-lk.example.net"), "10.0.1.5");
        route_table_free(t);
}

static void test_duplicates_and_invalid(void **state) {
        (void)state;
        struct route rs[] = {mk("a.example.net", "10.0.0.1"), mk("a.example.net", "10.0.0.2")};
        struct route_table *t;
        assert_int_equal(route_table_new(rs, 2, NULL, &t), 0);
        assert_int_equal(route_table_size(t), 1);
        assert_string_equal(backend_of(t, "a.example.net"), "10.0.0.2");
        route_table_free(t);

        const char *bad[] = {"", "A.example.net", "*example.net", "a..b", "*.", "x.*.example.net", "a b"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                struct route r = mk("a.b", "10.0.0.1");
                strcpy(r.name, bad[i]);
                t = NULL;
                assert_int_equal(route_table_new(&r, 1, NULL, &t), -EINVAL);
                assert_null(t);
        }
}

static void test_many_routes(void **state) {
        (void)state;
        enum { N = 10000 };
        struct route *rs = calloc(N, sizeof *rs);
        for (int i = 0; i < N; i++) {
                char name[64], ip[32];
                snprintf(name, sizeof name, "vm%d.dc.example.net", i);
                snprintf(ip, sizeof ip, "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
                rs[i] = mk(name, ip);
        }
        struct route_table *t;
        assert_int_equal(route_table_new(rs, N, NULL, &t), 0);
        for (int i = 0; i < N; i++) {
                char name[64], ip[32];
                snprintf(name, sizeof name, "vm%d.dc.example.net", i);
                snprintf(ip, sizeof ip, "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
                assert_string_equal(backend_of(t, name), ip);
        }
        assert_string_equal(backend_of(t, "vm10000.dc.example.net"), "(none)");
        route_table_free(t);
        free(rs);
}

static void test_update(void **state) {
        (void)state;
        struct route rs[] = {mk("a.example.net", "10.0.0.1"), mk("b.example.net", "10.0.0.2"),
                             mk("*.example.net", "10.0.0.99")};
        struct route def = mk("", "10.9.9.9");
        struct route_table *t0, *t1, *t2;
        assert_int_equal(route_table_new(rs, 3, &def, &t0), 0);
        /* remove a, replace b, add c; a name both removed and put ends up put */
        const char *rm[] = {"a.example.net", "nothing.example.net", "c.example.net"};
        struct route put[] = {mk("b.example.net", "10.0.0.22"), mk("c.example.net", "10.0.0.3")};
        assert_int_equal(route_table_update(t0, rm, 3, put, 2, &t1), 0);
        assert_int_equal(route_table_size(t1), 3);
        assert_string_equal(backend_of(t1, "a.example.net"), "10.0.0.99"); /* the wildcard now */
        assert_string_equal(backend_of(t1, "b.example.net"), "10.0.0.22");
        assert_string_equal(backend_of(t1, "c.example.net"), "10.0.0.3");
        assert_string_equal(backend_of(t1, "unknown.test"), "10.9.9.9"); /* base's default */
        assert_non_null(route_table_get(t1, "*.example.net"));
        assert_null(route_table_get(t1, "a.example.net"));
        assert_null(route_table_get(t1, "x.example.net")); /* exact only */
        /* the base is unchanged */
        assert_int_equal(route_table_size(t0), 3);
        assert_string_equal(backend_of(t0, "a.example.net"), "10.0.0.1");
        assert_string_equal(backend_of(t0, "b.example.net"), "10.0.0.2");
        assert_string_equal(backend_of(t0, "c.example.net"), "10.0.0.99");
        /* only the newest table of a lineage can be updated */
        assert_int_equal(route_table_update(t0, NULL, 0, NULL, 0, &t2), -ESTALE);
        /* an invalid name changes nothing */
        struct route bad = mk("a.b", "10.0.0.1");
        strcpy(bad.name, "Bad.example.net");
        t2 = NULL;
        assert_int_equal(route_table_update(t1, NULL, 0, &bad, 1, &t2), -EINVAL);
        assert_null(t2);
        /* the last put of a name wins; the base may go first */
        struct route put2[] = {mk("d.example.net", "10.0.0.4"), mk("d.example.net", "10.0.0.44")};
        assert_int_equal(route_table_update(t1, NULL, 0, put2, 2, &t2), 0);
        assert_int_equal(route_table_size(t2), 4);
        route_table_free(t0);
        route_table_free(t1);
        assert_string_equal(backend_of(t2, "d.example.net"), "10.0.0.44");
        assert_string_equal(backend_of(t2, "b.example.net"), "10.0.0.22");
        route_table_free(t2);
}

/* Random updates checked against a rebuilt model, with the older tables kept alive a while
 * (as the proxy keeps retired tables until every worker has moved on) and freed in any
 * order; ASan sees any node freed too early or never. */
static void test_update_random(void **state) {
        (void)state;
        enum { NAMES = 400, STEPS = 600, LIVE = 6 };
        static char names[NAMES][32];
        for (int i = 0; i < NAMES; i++)
                snprintf(names[i], sizeof names[i], i % 50 == 0 ? "*.w%d.example.net" : "n%d.example.net", i);
        /* model[k][i]: backend last octet of names[i] in the table k steps back (0 = absent) */
        static int model[LIVE][NAMES];
        struct route_table *live[LIVE] = {0};
        unsigned seed = 12345;
#define RND() (seed = seed * 1103515245u + 12345u, (seed >> 16) & 0x7fff)
        struct route first = mk("n1.example.net", "10.0.0.1");
        assert_int_equal(route_table_new(&first, 1, NULL, &live[0]), 0);
        memset(model, 0, sizeof model);
        model[0][1] = 1;
        for (int step = 0; step < STEPS; step++) {
                int cur[NAMES];
                memcpy(cur, model[0], sizeof cur);
                const char *rm[8];
                struct route put[8];
                size_t n_rm = RND() % 8, n_put = RND() % 8;
                /* mostly growth early, churn later */
                if (step < 100)
                        n_rm = n_rm / 4;
                for (size_t i = 0; i < n_rm; i++) {
                        int k = (int)(RND() % NAMES);
                        rm[i] = names[k];
                        cur[k] = 0;
                }
                for (size_t i = 0; i < n_put; i++) {
                        int k = (int)(RND() % NAMES), v = 1 + (int)(RND() % 250);
                        char ip[32];
                        snprintf(ip, sizeof ip, "10.0.1.%d", v);
                        put[i] = mk(names[k], ip);
                        cur[k] = v;
                }
                struct route_table *t;
                assert_int_equal(route_table_update(live[0], rm, n_rm, put, n_put, &t), 0);
                /* retire the oldest, in a random order among the live ones */
                if (live[LIVE - 1]) {
                        int k = 1 + (int)(RND() % (LIVE - 1));
                        route_table_free(live[k]);
                        memmove(&live[k], &live[k + 1], (LIVE - 1 - k) * sizeof live[0]);
                        memmove(&model[k], &model[k + 1], (LIVE - 1 - k) * sizeof model[0]);
                        live[LIVE - 1] = NULL;
                }
                memmove(&live[1], &live[0], (LIVE - 1) * sizeof live[0]);
                memmove(&model[1], &model[0], (LIVE - 1) * sizeof model[0]);
                live[0] = t;
                memcpy(model[0], cur, sizeof cur);
                for (int j = 0; j < LIVE; j++) {
                        if (!live[j])
                                continue;
                        size_t n = 0;
                        for (int i = 0; i < NAMES; i++) {
                                const struct route *r = route_table_get(live[j], names[i]);
                                if (!model[j][i]) {
                                        assert_null(r);
                                        continue;
                                }
                                n++;
                                assert_non_null(r);
                                assert_string_equal(r->name, names[i]);
                                assert_int_equal(r->backend.bytes[3], model[j][i]);
                        }
                        assert_int_equal(route_table_size(live[j]), n);
                }
        }
#undef RND
        /* the newest first, as proxy_free does */
        for (int j = 0; j < LIVE; j++)
                route_table_free(live[j]);
}

static void test_allow(void **state) {
        (void)state;
        struct route r = mk("a.example.net", "10.0.0.1");
        struct ip_addr src;
        assert_int_equal(ip_addr_parse("203.0.113.9", &src), 0);
        assert_true(route_allows(&r, &src)); /* empty list = everyone */
        assert_int_equal(ip_cidr_parse("198.51.100.0/24", &r.allow[0]), 0);
        r.n_allow = 1;
        assert_false(route_allows(&r, &src));
        assert_int_equal(ip_cidr_parse("203.0.113.0/24", &r.allow[1]), 0);
        r.n_allow = 2;
        assert_true(route_allows(&r, &src));
        /* a dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d */
        assert_int_equal(ip_addr_parse("::ffff:203.0.113.9", &src), 0);
        assert_true(route_allows(&r, &src));
        assert_int_equal(ip_addr_parse("2001:db8::9", &src), 0);
        assert_false(route_allows(&r, &src));
}

static void test_cidr(void **state) {
        (void)state;
        struct ip_cidr c;
        char buf[IP_ADDR_STRLEN + 4];
        struct ip_addr a;
        assert_int_equal(ip_cidr_parse("10.0.0.0/8", &c), 0);
        assert_string_equal(ip_cidr_format(&c, buf), "10.0.0.0/8");
        assert_int_equal(ip_addr_parse("10.255.1.2", &a), 0);
        assert_true(ip_cidr_contains(&c, &a));
        assert_int_equal(ip_addr_parse("11.0.0.1", &a), 0);
        assert_false(ip_cidr_contains(&c, &a));
        assert_int_equal(ip_cidr_parse("203.0.113.7", &c), 0);
        assert_int_equal(c.prefix, 32);
        assert_int_equal(ip_cidr_parse("2001:db8::/32", &c), 0);
        assert_int_equal(ip_addr_parse("2001:db8:ffff::1", &a), 0);
        assert_true(ip_cidr_contains(&c, &a));
        assert_int_equal(ip_addr_parse("2001:db9::1", &a), 0);
        assert_false(ip_cidr_contains(&c, &a));
        assert_int_equal(ip_cidr_parse("0.0.0.0/0", &c), 0);
        assert_true(ip_cidr_contains(&c, &(struct ip_addr){.family = AF_INET, .bytes = {1, 2, 3, 4}}));
        assert_int_equal(ip_cidr_parse("10.0.0.0/12", &c), 0);
        const char *bad[] = {"10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/08", "2001:db8::/129", "x/8",
                             "10.0.0.0/8/8", "10.0.0.0/-1", ""};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
                assert_int_equal(ip_cidr_parse(bad[i], &c), -EINVAL);
}

static void test_endpoint(void **state) {
        (void)state;
        struct ip_addr a;
        uint16_t port;
        char buf[IP_ADDR_STRLEN];
        assert_int_equal(ip_endpoint_parse("[::]:443", &a, &port), 0);
        assert_int_equal(a.family, AF_INET6);
        assert_int_equal(port, 443);
        assert_int_equal(ip_endpoint_parse("10.0.1.5:8443", &a, &port), 0);
        assert_string_equal(ip_addr_format(&a, buf), "10.0.1.5");
        assert_int_equal(port, 8443);
        const char *bad[] = {"::1:443", "[10.0.0.1]:80", "10.0.0.1", "10.0.0.1:", "10.0.0.1:0", "10.0.0.1:65536",
                             "[::1]", "[::1]:x", ":80", "host:80"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
                assert_int_equal(ip_endpoint_parse(bad[i], &a, &port), -EINVAL);
}

static void test_proxy_protocol_names(void **state) {
        (void)state;
        enum proxy_protocol p;
        assert_int_equal(proxy_protocol_from_string("v2", &p), 0);
        assert_int_equal(p, PROXY_PROTOCOL_V2);
        assert_string_equal(proxy_protocol_to_string(p), "v2");
        assert_int_equal(proxy_protocol_from_string("v3", &p), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_exact_wildcard_default),
                cmocka_unit_test(test_duplicates_and_invalid),
                cmocka_unit_test(test_many_routes),
                cmocka_unit_test(test_update),
                cmocka_unit_test(test_update_random),
                cmocka_unit_test(test_allow),
                cmocka_unit_test(test_cidr),
                cmocka_unit_test(test_endpoint),
                cmocka_unit_test(test_proxy_protocol_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
