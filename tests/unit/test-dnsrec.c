/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the desired DNS records: VM names with A and/or AAAA per the config, extra
 * VM host names and routes inside the zone (wildcards and names outside skipped), sorting,
 * de-duplication between owners, and the zone test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "model/dnsrec.h"

static void config_base(struct config *c) {
        memset(c, 0, sizeof *c);
        strcpy(c->datacenter, "dc1");
        strcpy(c->domain, "example.com");
        strcpy(c->public_ip, "203.0.113.7");
        strcpy(c->dns_zone, "example.com");
        c->dns_ttl = 300;
}

static void vm_base(struct vm *v, const char *id, const char *slug) {
        memset(v, 0, sizeof *v);
        strcpy(v->id, id);
        strcpy(v->slug, slug);
}

static void test_zone(void **state) {
        (void)state;
        assert_true(dns_name_in_zone("a.example.com", "example.com"));
        assert_true(dns_name_in_zone("example.com", "example.com"));
        assert_true(dns_name_in_zone("A.Example.COM", "example.com"));
        assert_false(dns_name_in_zone("badexample.com", "example.com"));
        assert_false(dns_name_in_zone("example.org", "example.com"));
        assert_false(dns_name_in_zone("com", "example.com"));
        assert_false(dns_name_in_zone("a.example.com", ""));
}

static void test_vm_a_only(void **state) {
        (void)state;
        struct config c;
        config_base(&c);
        struct vm v[2];
        vm_base(&v[0], "web", "zzzz");
        vm_base(&v[1], "db", "aaaa");
        struct dns_record_want *w = NULL;
        size_t n = 99;
        assert_int_equal(dns_records_desired(&c, v, NULL, 2, NULL, 0, &w, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(w[0].name, "aaaa.dc1.example.com");
        assert_int_equal(w[0].type, DNS_TYPE_A);
        assert_string_equal(w[0].content, "203.0.113.7");
        assert_int_equal(w[0].ttl, 300);
        assert_false(w[0].proxied);
        assert_string_equal(w[0].owner_kind, "vm");
        assert_string_equal(w[0].owner_id, "db");
        assert_string_equal(w[1].name, "zzzz.dc1.example.com");
        assert_string_equal(w[1].owner_id, "web");
        free(w);
}

static void test_vm_a_and_aaaa(void **state) {
        (void)state;
        struct config c;
        config_base(&c);
        strcpy(c.public_ip6, "2001:DB8:0:0::1");
        c.dns_proxied = true;
        struct vm v;
        vm_base(&v, "web", "abcd");
        struct dns_record_want *w = NULL;
        size_t n = 0;
        assert_int_equal(dns_records_desired(&c, &v, NULL, 1, NULL, 0, &w, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(w[0].type, DNS_TYPE_A);
        assert_int_equal(w[1].type, DNS_TYPE_AAAA);
        assert_string_equal(w[1].content, "2001:db8::1"); /* canonical */
        assert_true(w[1].proxied);
        free(w);

        /* dns_records = "aaaa" publishes only AAAA even with public_ip set. */
        strcpy(c.dns_records, "aaaa");
        assert_int_equal(dns_records_desired(&c, &v, NULL, 1, NULL, 0, &w, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(w[0].type, DNS_TYPE_AAAA);
        free(w);
}

static void test_nothing_to_publish(void **state) {
        (void)state;
        struct config c;
        config_base(&c);
        c.public_ip[0] = '\0';
        struct vm v;
        vm_base(&v, "web", "abcd");
        struct dns_record_want *w = (void *)1;
        size_t n = 99;
        assert_int_equal(dns_records_desired(&c, &v, NULL, 1, NULL, 0, &w, &n), 0);
        assert_int_equal(n, 0);
        assert_null(w);
}

static void test_zone_filter(void **state) {
        (void)state;
        struct config c;
        config_base(&c);
        strcpy(c.dns_zone, "dc1.example.com");
        struct vm v;
        vm_base(&v, "web", "abcd");
        struct vm_meta m;
        vm_meta_init(&m);
        m.n_hostnames = 2;
        strcpy(m.hostnames[0], "app.dc1.example.com");
        strcpy(m.hostnames[1], "www.other.org");
        struct route_def r[4];
        for (int i = 0; i < 4; i++) {
                route_def_init(&r[i]);
                r[i].dns = true;
        }
        strcpy(r[3].id, "r3");
        strcpy(r[3].hostname, "quiet.dc1.example.com");
        r[3].dns = false; /* did not ask for a record */
        strcpy(r[0].id, "r0");
        strcpy(r[0].hostname, "api.dc1.example.com");
        strcpy(r[1].id, "r1");
        strcpy(r[1].hostname, "*.dc1.example.com"); /* wildcard: no record */
        strcpy(r[2].id, "r2");
        strcpy(r[2].hostname, "example.com"); /* outside dc1.example.com */
        struct dns_record_want *w = NULL;
        size_t n = 0;
        assert_int_equal(dns_records_desired(&c, &v, &m, 1, r, 4, &w, &n), 0);
        assert_int_equal(n, 3);
        assert_string_equal(w[0].name, "abcd.dc1.example.com");
        assert_string_equal(w[1].name, "api.dc1.example.com");
        assert_string_equal(w[1].owner_kind, "route");
        assert_string_equal(w[1].owner_id, "r0");
        assert_string_equal(w[2].name, "app.dc1.example.com");
        assert_string_equal(w[2].owner_kind, "vm");
        free(w);
}

static void test_dedup(void **state) {
        (void)state;
        struct config c;
        config_base(&c);
        struct vm v;
        vm_base(&v, "web", "abcd");
        struct route_def r[2];
        route_def_init(&r[0]);
        route_def_init(&r[1]);
        r[0].dns = r[1].dns = true;
        strcpy(r[0].id, "b");
        strcpy(r[0].hostname, "abcd.dc1.example.com"); /* same as the VM's name: the VM wins */
        strcpy(r[1].id, "a");
        strcpy(r[1].hostname, "x.example.com");
        struct route_def r2[3] = {r[0], r[1], r[1]};
        strcpy(r2[2].id, "0");
        struct dns_record_want *w = NULL;
        size_t n = 0;
        assert_int_equal(dns_records_desired(&c, &v, NULL, 1, r2, 3, &w, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(w[0].name, "abcd.dc1.example.com");
        assert_string_equal(w[0].owner_kind, "vm");
        assert_string_equal(w[1].name, "x.example.com");
        assert_string_equal(w[1].owner_id, "0"); /* the smaller id */
        for (size_t i = 1; i < n; i++)
                assert_true(dns_record_want_compare(&w[i - 1], &w[i]) < 0);
        assert_true(dns_record_want_equal(&w[0], &w[0]));
        assert_false(dns_record_want_equal(&w[0], &w[1]));
        free(w);
}

static struct dns_record_want want(const char *name, uint16_t type, const char *content, const char *kind) {
        struct dns_record_want w = {.type = type, .ttl = 300};
        strcpy(w.name, name);
        strcpy(w.content, content);
        strcpy(w.owner_kind, kind);
        strcpy(w.owner_id, "x");
        return w;
}

static void test_merge(void **state) {
        (void)state;
        struct dns_record_want a[] = {want("b.dc1.example.com", DNS_TYPE_A, "203.0.113.7", "vm"),
                                      want("d.dc1.example.com", DNS_TYPE_A, "203.0.113.7", "vm")};
        struct dns_record_want b[] = {want("a.dc2.example.com", DNS_TYPE_A, "198.51.100.1", "node"),
                                      want("b.dc1.example.com", DNS_TYPE_A, "198.51.100.1", "node"),
                                      want("b.dc1.example.com", DNS_TYPE_AAAA, "2001:db8::1", "node"),
                                      want("c.other.org", DNS_TYPE_A, "198.51.100.1", "node")};
        struct dns_record_want *m = NULL;
        size_t n = 0;
        assert_int_equal(dns_records_merge(a, 2, b, 4, "example.com", &m, &n), 0);
        assert_int_equal(n, 4);
        assert_string_equal(m[0].name, "a.dc2.example.com");
        assert_string_equal(m[1].name, "b.dc1.example.com"); /* ours wins over the node's */
        assert_string_equal(m[1].owner_kind, "vm");
        assert_string_equal(m[1].content, "203.0.113.7");
        assert_int_equal(m[2].type, DNS_TYPE_AAAA);
        assert_string_equal(m[3].name, "d.dc1.example.com"); /* c.other.org is outside the zone */
        for (size_t i = 1; i < n; i++)
                assert_true(dns_record_want_compare(&m[i - 1], &m[i]) < 0);
        free(m);
        assert_int_equal(dns_records_merge(NULL, 0, NULL, 0, "example.com", &m, &n), 0);
        assert_int_equal(n, 0);
        assert_null(m);
        /* unsorted input is refused */
        assert_int_equal(dns_records_merge(b + 1, 1, b, 3, "example.com", &m, &n), 0);
        free(m);
        struct dns_record_want rev[] = {b[1], b[0]};
        assert_int_equal(dns_records_merge(rev, 2, NULL, 0, "example.com", &m, &n), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_zone),          cmocka_unit_test(test_vm_a_only),
                cmocka_unit_test(test_vm_a_and_aaaa), cmocka_unit_test(test_nothing_to_publish),
                cmocka_unit_test(test_zone_filter),   cmocka_unit_test(test_dedup), cmocka_unit_test(test_merge),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
