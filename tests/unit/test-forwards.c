/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the user-space forwards table: building it from standalone forwards and VMs
 * (the forwards first, then whole VMs within a port limit), lookups, duplicates, and the
 * canonical listener items `edgegw check` diffs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "proxy/forwards.h"

static struct vm make_vm(const char *id, const char *ip, uint16_t start, uint16_t size) {
        struct vm v = {0};
        strcpy(v.id, id);
        strcpy(v.slug, "abcdef");
        assert_int_equal(ip_addr_parse(ip, &v.ip), 0);
        v.block_start = start;
        v.block_size = size;
        return v;
}

static void test_from_vms_and_lookup(void **state) {
        struct vm vms[] = {make_vm("b", "2001:db8:1::5", 20010, 10), make_vm("a", "10.0.1.5", 20000, 10)};
        struct forward *f;
        size_t n, wanted;
        assert_int_equal(forwards_build(vms, 2, NULL, 0, SIZE_MAX, &f, &n, &wanted), 0);
        assert_int_equal(n, 20);
        assert_int_equal(wanted, 20);
        struct forward_table *t;
        assert_int_equal(forward_table_new(f, n, &t), 0);
        free(f);
        assert_int_equal(forward_table_size(t), 20);

        const struct forward *x = forward_table_lookup(t, PROTO_TCP, 20000);
        assert_non_null(x);
        assert_int_equal(x->backend_port, 22);
        assert_int_equal(x->backend.family, AF_INET);
        x = forward_table_lookup(t, PROTO_UDP, 20015);
        assert_non_null(x);
        assert_int_equal(x->backend_port, 10005);
        assert_int_equal(x->backend.family, AF_INET6);
        assert_null(forward_table_lookup(t, PROTO_UDP, 20000)); /* 20000 is TCP only */
        assert_null(forward_table_lookup(t, PROTO_TCP, 20020));
        assert_null(forward_table_lookup(NULL, PROTO_TCP, 20000));
        /* sorted: every TCP port first, then UDP */
        for (size_t i = 1; i < forward_table_size(t); i++) {
                const struct forward *p = forward_table_at(t, i - 1), *q = forward_table_at(t, i);
                assert_true(forward_key(p->proto, p->public_port) < forward_key(q->proto, q->public_port));
        }
        forward_table_free(t);
}

static void test_limit_takes_whole_vms(void **state) {
        struct vm vms[] = {make_vm("c", "10.0.1.7", 20020, 10), make_vm("a", "10.0.1.5", 20000, 10),
                           make_vm("b", "10.0.1.6", 20010, 10)};
        struct forward *f;
        size_t n, wanted;
        assert_int_equal(forwards_build(vms, 3, NULL, 0, 25, &f, &n, &wanted), 0);
        assert_int_equal(wanted, 30);
        assert_int_equal(n, 20); /* a and b (lowest blocks); c would exceed 25 */
        for (size_t i = 0; i < n; i++)
                assert_true(f[i].public_port < 20020);
        free(f);
        assert_int_equal(forwards_build(vms, 3, NULL, 0, 0, &f, &n, &wanted), 0);
        assert_int_equal(n, 0);
        free(f);
        assert_int_equal(forwards_build(NULL, 0, NULL, 0, 10, &f, &n, &wanted), 0);
        assert_int_equal(n, 0);
        assert_int_equal(wanted, 0);
        free(f);
}

static struct forward_def make_def(const char *id, enum proto proto, uint16_t public_port, const char *ip,
                                   uint16_t port) {
        struct forward_def f = {0};
        strcpy(f.id, id);
        f.proto = (uint8_t)proto;
        f.public_port = public_port;
        assert_int_equal(ip_addr_parse(ip, &f.ip), 0);
        f.port = port;
        return f;
}

/* Standalone forwards come first and count one port each; the VMs fill what is left. */
static void test_standalone_forwards(void **state) {
        struct vm vms[] = {make_vm("a", "10.0.1.5", 20000, 10), make_vm("b", "10.0.1.6", 20010, 10)};
        struct forward_def defs[] = {make_def("ssh", PROTO_TCP, 2222, "10.30.0.200", 22),
                                     make_def("dns", PROTO_UDP, 53, "fd00::53", 5353)};
        struct forward *f;
        size_t n, wanted;

        assert_int_equal(forwards_build(vms, 2, defs, 2, SIZE_MAX, &f, &n, &wanted), 0);
        assert_int_equal(n, 22);
        assert_int_equal(wanted, 22);
        struct forward_table *t;
        assert_int_equal(forward_table_new(f, n, &t), 0);
        free(f);
        const struct forward *x = forward_table_lookup(t, PROTO_TCP, 2222);
        assert_non_null(x);
        assert_int_equal(x->backend_port, 22);
        assert_int_equal(x->backend.family, AF_INET);
        x = forward_table_lookup(t, PROTO_UDP, 53);
        assert_non_null(x);
        assert_int_equal(x->backend_port, 5353);
        assert_int_equal(x->backend.family, AF_INET6);
        assert_null(forward_table_lookup(t, PROTO_TCP, 53));
        forward_table_free(t);

        /* 13 ports: both forwards and VM a; b would exceed the limit. */
        assert_int_equal(forwards_build(vms, 2, defs, 2, 13, &f, &n, &wanted), 0);
        assert_int_equal(n, 12);
        assert_int_equal(wanted, 22);
        assert_int_equal(f[0].public_port, 2222);
        assert_int_equal(f[1].public_port, 53);
        for (size_t i = 2; i < n; i++)
                assert_true(f[i].public_port >= 20000 && f[i].public_port < 20010);
        free(f);
        /* 1 port: the first forward only. */
        assert_int_equal(forwards_build(vms, 2, defs, 2, 1, &f, &n, &wanted), 0);
        assert_int_equal(n, 1);
        assert_int_equal(f[0].public_port, 2222);
        free(f);
        /* Forwards alone. */
        assert_int_equal(forwards_build(NULL, 0, defs, 2, SIZE_MAX, &f, &n, &wanted), 0);
        assert_int_equal(n, 2);
        free(f);

        struct nft_items want;
        assert_int_equal(forward_expected_items(NULL, 0, defs, 2, &want), 0);
        assert_int_equal(want.n, 2);
        assert_string_equal(want.items[0], "listener tcp 2222");
        assert_string_equal(want.items[1], "listener udp 53");
        nft_items_done(&want);
        assert_int_equal(forward_expected_items(vms, 2, defs, 2, &want), 0);
        assert_int_equal(want.n, 22);
        nft_items_done(&want);
}

static void test_duplicate_later_wins(void **state) {
        struct forward in[3] = {
                {.proto = PROTO_TCP, .public_port = 30000, .backend_port = 1},
                {.proto = PROTO_UDP, .public_port = 30000, .backend_port = 2},
                {.proto = PROTO_TCP, .public_port = 30000, .backend_port = 3},
        };
        struct forward_table *t;
        assert_int_equal(forward_table_new(in, 3, &t), 0);
        assert_int_equal(forward_table_size(t), 2);
        assert_int_equal(forward_table_lookup(t, PROTO_TCP, 30000)->backend_port, 3);
        assert_int_equal(forward_table_lookup(t, PROTO_UDP, 30000)->backend_port, 2);
        forward_table_free(t);
        assert_int_equal(forward_table_new(NULL, 0, &t), 0);
        assert_int_equal(forward_table_size(t), 0);
        assert_null(forward_table_lookup(t, PROTO_TCP, 1));
        forward_table_free(t);
}

static void test_items_and_diff(void **state) {
        struct vm vms[] = {make_vm("a", "10.0.1.5", 9995, 10)};
        struct nft_items want, have;
        assert_int_equal(forward_expected_items(vms, 1, NULL, 0, &want), 0);
        assert_int_equal(want.n, 10);
        for (size_t i = 1; i < want.n; i++)
                assert_true(strcmp(want.items[i - 1], want.items[i]) < 0);
        /* live: everything but udp 10004, plus a stray tcp 7; duplicates (two workers) fold */
        uint32_t keys[] = {forward_key(PROTO_TCP, 9995),  forward_key(PROTO_TCP, 9996),  forward_key(PROTO_TCP, 9997),
                           forward_key(PROTO_TCP, 9998),  forward_key(PROTO_TCP, 9999),  forward_key(PROTO_UDP, 10000),
                           forward_key(PROTO_UDP, 10001), forward_key(PROTO_UDP, 10002), forward_key(PROTO_UDP, 10003),
                           forward_key(PROTO_TCP, 7),     forward_key(PROTO_TCP, 9995)};
        assert_int_equal(forward_items_from_keys(keys, sizeof keys / sizeof keys[0], &have), 0);
        assert_int_equal(have.n, 10);
        _cleanup_strbuf_ struct strbuf report = {0};
        assert_int_equal(nft_items_diff(&want, &have, &report), 2);
        assert_non_null(strstr(strbuf_str(&report), "missing: listener udp 10004\n"));
        assert_non_null(strstr(strbuf_str(&report), "unexpected: listener tcp 7\n"));
        nft_items_done(&want);
        nft_items_done(&have);
        assert_int_equal(forward_expected_items(NULL, 0, NULL, 0, &want), 0);
        assert_int_equal(want.n, 0);
        nft_items_done(&want);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_from_vms_and_lookup),
                cmocka_unit_test(test_limit_takes_whole_vms),
                cmocka_unit_test(test_standalone_forwards),
                cmocka_unit_test(test_duplicate_later_wins),
                cmocka_unit_test(test_items_and_diff),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
