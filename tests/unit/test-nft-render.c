/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/nft/render.c: the full-table script, the incremental per-VM scripts
 * and the expected canonical items. Scripts are compared byte for byte with golden files
 * under tests/unit/golden/ (UPDATE_GOLDEN=1 rewrites them; every golden file was loaded
 * into a real kernel in a network namespace before it was committed). Run from the
 * repository root, as meson does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "core/strbuf.h"
#include "core/util.h"
#include "model/lease.h"
#include "model/vm.h"
#include "nft/nft.h"

static struct vm make_vm(const char *slug, const char *ip, uint16_t block_start, uint16_t block_size) {
        struct vm v = {0};
        snprintf(v.id, sizeof v.id, "vm-%s", slug);
        snprintf(v.slug, sizeof v.slug, "%s", slug);
        assert_int_equal(ip_addr_parse(ip, &v.ip), 0);
        v.block_start = block_start;
        v.block_size = block_size;
        return v;
}

static struct forward_def make_fwd(const char *id, enum proto proto, uint16_t public_port, const char *ip,
                                   uint16_t port) {
        struct forward_def f = {0};
        snprintf(f.id, sizeof f.id, "%s", id);
        f.proto = (uint8_t)proto;
        f.public_port = public_port;
        assert_int_equal(ip_addr_parse(ip, &f.ip), 0);
        f.port = port;
        return f;
}

/* The standalone forwards of golden/nft-full-forwards.nft and data/nft-live-forwards.json:
 * one per port map. */
static void four_forwards(struct forward_def f[static 4]) {
        f[0] = make_fwd("ssh-jump", PROTO_TCP, 2222, "10.30.0.200", 22);
        f[1] = make_fwd("dns", PROTO_UDP, 53, "10.30.0.53", 5353);
        f[2] = make_fwd("web6", PROTO_TCP, 8443, "fd00::80", 443);
        f[3] = make_fwd("wg6", PROTO_UDP, 51820, "fd00::81", 51820);
}

/* The three VMs of the golden files and of tests/unit/data/nft-live-3vms.json. */
static void three_vms(struct vm v[static 3]) {
        v[0] = make_vm("k7m2p4", "10.0.1.5", 20000, 10);
        v[1] = make_vm("a1b2c3", "10.0.1.6", 20010, 5);
        v[2] = make_vm("z9y8x7", "2001:db8:0:0:1:0:0:1", 20020, 10);
}

static char *read_text(const char *path) {
        FILE *f = fopen(path, "re");
        if (!f)
                return NULL;
        struct strbuf b = {0};
        char chunk[4096];
        size_t k;
        while ((k = fread(chunk, 1, sizeof chunk, f)) > 0)
                strbuf_appendn(&b, chunk, k);
        fclose(f);
        return strbuf_steal(&b);
}

/* Compares text with the golden file, or rewrites the file when UPDATE_GOLDEN=1. */
static void assert_golden(const char *text, const char *name) {
        char path[256];
        snprintf(path, sizeof path, "tests/unit/golden/%s", name);

        const char *update = getenv("UPDATE_GOLDEN");
        if (update && streq(update, "1")) {
                FILE *f = fopen(path, "we");
                assert_non_null(f);
                assert_int_equal(fputs(text, f) >= 0, 1);
                assert_int_equal(fclose(f), 0);
                return;
        }
        char *want = read_text(path);
        if (!want)
                fail_msg("cannot read %s (run from the repository root; UPDATE_GOLDEN=1 creates it)", path);
        if (!streq(want, text))
                print_error("%s differs; got:\n%s\n", path, text);
        assert_string_equal(text, want);
        free(want);
}

/* A plain loop: the sanitizers' strstr() checks the whole haystack on every call, which
 * would make counting in a 4 MB script quadratic. */
static size_t count_occurrences(const char *s, const char *needle) {
        size_t n = 0, len = strlen(s), k = strlen(needle);
        for (size_t i = 0; i + k <= len; i++)
                if (s[i] == needle[0] && memcmp(s + i, needle, k) == 0)
                        n++;
        return n;
}

static void test_counter_names(void **state) {
        struct vm v = make_vm("k7m2p4", "10.0.1.5", 20000, 10);
        char in[NFT_COUNTER_NAME_MAX], out[NFT_COUNTER_NAME_MAX];
        nft_counter_names(&v, in, out);
        assert_string_equal(in, "in_k7m2p4");
        assert_string_equal(out, "out_k7m2p4");
}

static void test_full_3vms(void **state) {
        struct vm v[3];
        three_vms(v);
        /* Unsorted, with one counter no VM has: it must simply be dropped. */
        const struct nft_counter_value counters[] = {
                { "out_a1b2c3", 3, 180 },
                { "in_gone00", 99, 99 },
                { "in_k7m2p4", 7, 420 },
        };
        _cleanup_strbuf_ struct strbuf b = {0};

        assert_int_equal(nft_render_full(v, 3, NULL, 0, counters, ELEMENTSOF(counters), &b), 0);
        const char *s = strbuf_str(&b);
        assert_golden(s, "nft-full-3vms.nft");

        assert_true(strncmp(s, "table inet edgegw\ndelete table inet edgegw\ntable inet edgegw {\n", 60) == 0);
        assert_non_null(strstr(s, "\tcounter in_k7m2p4 {\n\t\tpackets 7 bytes 420\n\t}\n"));
        assert_non_null(strstr(s, "\tcounter out_a1b2c3 {\n\t\tpackets 3 bytes 180\n\t}\n"));
        assert_non_null(strstr(s, "\tcounter out_k7m2p4 {\n\t\tpackets 0 bytes 0\n\t}\n"));
        assert_null(strstr(s, "gone"));
        assert_int_equal(count_occurrences(s, "\n\tcounter "), 6);
        assert_int_equal(count_occurrences(s, "elements = {"), 8);
        /* 25 ports + 6 counter map elements, each exactly once. */
        assert_int_equal(count_occurrences(s, " . 22"), 3);
        assert_int_equal(count_occurrences(s, "2001:db8::1:0:0:1 . "), 10);
        assert_int_equal(count_occurrences(s, "comment \"edgegw:"), 13);
}

static void test_full_empty(void **state) {
        _cleanup_strbuf_ struct strbuf b = {0};

        assert_int_equal(nft_render_full(NULL, 0, NULL, 0, NULL, 0, &b), 0);
        assert_golden(strbuf_str(&b), "nft-full-empty.nft");
        /* nft rejects `elements = { }`, so an empty map has no elements clause at all. */
        assert_null(strstr(strbuf_str(&b), "elements"));
        assert_null(strstr(strbuf_str(&b), "\n\tcounter "));
        assert_int_equal(count_occurrences(strbuf_str(&b), "\tmap "), 8);
        assert_int_equal(count_occurrences(strbuf_str(&b), "\tchain "), 3);
}

/* Forwards are elements of the same port maps, after the VMs', without counters. */
static void test_full_forwards(void **state) {
        struct vm v[3];
        struct forward_def f[4];
        three_vms(v);
        four_forwards(f);
        _cleanup_strbuf_ struct strbuf b = {0}, vms_only = {0};

        assert_int_equal(nft_render_full(v, 3, f, 4, NULL, 0, &b), 0);
        const char *s = strbuf_str(&b);
        assert_golden(s, "nft-full-forwards.nft");
        assert_non_null(strstr(s, "\t\t\t     20012 : 10.0.1.6 . 10002,\n\t\t\t     2222 : 10.30.0.200 . 22 }\n"));
        assert_non_null(strstr(s, "\t\t\t     20014 : 10.0.1.6 . 10004,\n\t\t\t     53 : 10.30.0.53 . 5353 }\n"));
        assert_non_null(strstr(s, "8443 : fd00::80 . 443 }\n"));
        assert_non_null(strstr(s, "51820 : fd00::81 . 51820 }\n"));
        assert_int_equal(count_occurrences(s, "\n\tcounter "), 6);

        /* Forwards alone: every port map gets its elements clause, the counter maps none. */
        assert_int_equal(nft_render_full(NULL, 0, f, 4, NULL, 0, &vms_only), 0);
        assert_int_equal(count_occurrences(strbuf_str(&vms_only), "elements = {"), 4);
        assert_non_null(strstr(strbuf_str(&vms_only), "\t\telements = { 2222 : 10.30.0.200 . 22 }\n"));
        assert_null(strstr(strbuf_str(&vms_only), "\n\tcounter "));
}

static void test_forward_add_del(void **state) {
        struct forward_def f[4];
        four_forwards(f);
        _cleanup_strbuf_ struct strbuf b = {0};

        for (size_t i = 0; i < 4; i++)
                assert_int_equal(nft_render_forward_add(&f[i], &b), 0);
        assert_string_equal(strbuf_str(&b),
                            "add element inet edgegw tcp4 { 2222 : 10.30.0.200 . 22 }\n"
                            "add element inet edgegw udp4 { 53 : 10.30.0.53 . 5353 }\n"
                            "add element inet edgegw tcp6 { 8443 : fd00::80 . 443 }\n"
                            "add element inet edgegw udp6 { 51820 : fd00::81 . 51820 }\n");
        strbuf_reset(&b);
        assert_int_equal(nft_render_forward_del(&f[1], &b), 0);
        assert_string_equal(strbuf_str(&b), "delete element inet edgegw udp4 { 53 : 10.30.0.53 . 5353 }\n");
}

/* A forward without a proto, a port or an address family is refused before anything is
 * appended, by every renderer. */
static void test_invalid_forward(void **state) {
        struct vm v[3];
        struct forward_def f[4];
        _cleanup_strbuf_ struct strbuf b = {0};
        struct nft_items it = { .items = NULL, .n = 12345 };

        three_vms(v);
        strbuf_append(&b, "x");
        for (size_t i = 0; i < 4; i++) {
                four_forwards(f);
                if (i == 0)
                        f[2].proto = 2;
                else if (i == 1)
                        f[2].public_port = 0;
                else if (i == 2)
                        f[2].port = 0;
                else
                        f[2].ip.family = 0;
                assert_int_equal(nft_render_full(v, 3, f, 4, NULL, 0, &b), -EINVAL);
                assert_int_equal(nft_render_forward_add(&f[2], &b), -EINVAL);
                assert_int_equal(nft_render_forward_del(&f[2], &b), -EINVAL);
                assert_int_equal(nft_expected_items(v, 3, f, 4, &it), -EINVAL);
        }
        assert_string_equal(strbuf_str(&b), "x");
        assert_int_equal(it.n, 12345);
}

static void test_expected_items_forwards(void **state) {
        struct vm d = make_vm("q4w5e6", "10.0.2.7", 20030, 1);
        struct forward_def f[4];
        struct nft_items it = {0};
        four_forwards(f);

        assert_int_equal(nft_expected_items(&d, 1, f, 4, &it), 0);
        assert_int_equal(it.n, 25 + 5 + 4);
        for (size_t i = 1; i < it.n; i++)
                assert_true(strcmp(it.items[i - 1], it.items[i]) < 0);
        size_t found = 0;
        for (size_t i = 0; i < it.n; i++)
                found += streq(it.items[i], "elem tcp4 2222 10.30.0.200 22") ||
                         streq(it.items[i], "elem udp4 53 10.30.0.53 5353") ||
                         streq(it.items[i], "elem tcp6 8443 fd00::80 443") ||
                         streq(it.items[i], "elem udp6 51820 fd00::81 51820") ||
                         streq(it.items[i], "elem tcp4 20030 10.0.2.7 22");
        assert_int_equal(found, 5);
        nft_items_done(&it);
}

static void test_full_appends(void **state) {
        struct vm v[3];
        three_vms(v);
        _cleanup_strbuf_ struct strbuf b = {0}, alone = {0};

        strbuf_append(&b, "# before\n");
        assert_int_equal(nft_render_full(v, 3, NULL, 0, NULL, 0, &b), 0);
        assert_int_equal(nft_render_full(v, 3, NULL, 0, NULL, 0, &alone), 0);
        assert_true(strncmp(strbuf_str(&b), "# before\n", 9) == 0);
        assert_string_equal(strbuf_str(&b) + 9, strbuf_str(&alone));
        /* Without carried-over values every counter starts at zero. */
        assert_int_equal(count_occurrences(strbuf_str(&alone), "packets 0 bytes 0"), 6);
}

static void test_vm_add(void **state) {
        struct vm v[3];
        three_vms(v);
        _cleanup_strbuf_ struct strbuf b = {0};

        assert_int_equal(nft_render_vm_add(&v[0], &b), 0);
        assert_golden(strbuf_str(&b), "nft-add-vm.nft");

        /* A one-port IPv4 block has no UDP port: no udp4 command. */
        struct vm d = make_vm("q4w5e6", "10.0.2.7", 20030, 1);
        strbuf_reset(&b);
        assert_int_equal(nft_render_vm_add(&d, &b), 0);
        assert_string_equal(strbuf_str(&b),
                            "add counter inet edgegw in_q4w5e6\n"
                            "add counter inet edgegw out_q4w5e6\n"
                            "add element inet edgegw tcp4 { 20030 : 10.0.2.7 . 22 }\n"
                            "add element inet edgegw cin4 { 10.0.2.7 : \"in_q4w5e6\" }\n"
                            "add element inet edgegw cout4 { 10.0.2.7 : \"out_q4w5e6\" }\n");

        struct vm e = make_vm("r5t6y7", "fd00:0:0:1::5", 20031, 3);
        strbuf_reset(&b);
        assert_int_equal(nft_render_vm_add(&e, &b), 0);
        assert_string_equal(strbuf_str(&b),
                            "add counter inet edgegw in_r5t6y7\n"
                            "add counter inet edgegw out_r5t6y7\n"
                            "add element inet edgegw tcp6 { 20031 : fd00:0:0:1::5 . 22, 20032 : fd00:0:0:1::5 . 10001 }\n"
                            "add element inet edgegw udp6 { 20033 : fd00:0:0:1::5 . 10002 }\n"
                            "add element inet edgegw cin6 { fd00:0:0:1::5 : \"in_r5t6y7\" }\n"
                            "add element inet edgegw cout6 { fd00:0:0:1::5 : \"out_r5t6y7\" }\n");
}

static void test_vm_del(void **state) {
        struct vm v[3];
        three_vms(v);
        _cleanup_strbuf_ struct strbuf b = {0};

        assert_int_equal(nft_render_vm_del(&v[0], &b), 0);
        assert_golden(strbuf_str(&b), "nft-del-vm.nft");

        struct vm e = make_vm("r5t6y7", "fd00:0:0:1::5", 20031, 3);
        strbuf_reset(&b);
        assert_int_equal(nft_render_vm_del(&e, &b), 0);
        /* Elements before counters: a counter still in a map cannot be deleted. */
        assert_string_equal(strbuf_str(&b),
                            "delete element inet edgegw tcp6 { 20031 : fd00:0:0:1::5 . 22, 20032 : fd00:0:0:1::5 . 10001 }\n"
                            "delete element inet edgegw udp6 { 20033 : fd00:0:0:1::5 . 10002 }\n"
                            "delete element inet edgegw cin6 { fd00:0:0:1::5 }\n"
                            "delete element inet edgegw cout6 { fd00:0:0:1::5 }\n"
                            "delete counter inet edgegw in_r5t6y7\n"
                            "delete counter inet edgegw out_r5t6y7\n");
}

/* A VM without an address family, or with a slug that is not [a-z0-9] (it would become nft
 * syntax), is refused before anything is appended. */
static void test_invalid_vm(void **state) {
        static const char *const bad_slugs[] = { "", "ab\"c", "a}b", "AB12", "a b", "a\nb" };
        struct vm v[3];
        three_vms(v);
        _cleanup_strbuf_ struct strbuf b = {0};
        struct nft_items it = { .items = NULL, .n = 12345 };

        strbuf_append(&b, "x");
        for (size_t i = 0; i <= ELEMENTSOF(bad_slugs); i++) {
                three_vms(v);
                if (i == ELEMENTSOF(bad_slugs))
                        v[1].ip.family = 0;
                else
                        snprintf(v[1].slug, sizeof v[1].slug, "%s", bad_slugs[i]);
                assert_int_equal(nft_render_full(v, 3, NULL, 0, NULL, 0, &b), -EINVAL);
                assert_int_equal(nft_render_vm_add(&v[1], &b), -EINVAL);
                assert_int_equal(nft_render_vm_del(&v[1], &b), -EINVAL);
                assert_int_equal(nft_expected_items(v, 3, NULL, 0, &it), -EINVAL);
        }
        assert_string_equal(strbuf_str(&b), "x");
        assert_int_equal(it.n, 12345);
}

static void test_expected_items_one_vm(void **state) {
        struct vm d = make_vm("q4w5e6", "10.0.2.7", 20030, 1);
        static const char *const want[] = {
                "chain forward filter forward 0",
                "chain output nat output -100",
                "chain prerouting nat prerouting -100",
                "counter in_q4w5e6",
                "counter out_q4w5e6",
                "elem cin4 10.0.2.7 in_q4w5e6",
                "elem cout4 10.0.2.7 out_q4w5e6",
                "elem tcp4 20030 10.0.2.7 22",
                "map cin4",
                "map cin6",
                "map cout4",
                "map cout6",
                "map tcp4",
                "map tcp6",
                "map udp4",
                "map udp6",
                "rule forward edgegw:accept-dnat",
                "rule forward edgegw:count-in4",
                "rule forward edgegw:count-in6",
                "rule forward edgegw:count-out4",
                "rule forward edgegw:count-out6",
                "rule output edgegw:out-dnat-tcp4",
                "rule output edgegw:out-dnat-tcp6",
                "rule output edgegw:out-dnat-udp4",
                "rule output edgegw:out-dnat-udp6",
                "rule prerouting edgegw:dnat-tcp4",
                "rule prerouting edgegw:dnat-tcp6",
                "rule prerouting edgegw:dnat-udp4",
                "rule prerouting edgegw:dnat-udp6",
                "table inet edgegw",
        };
        struct nft_items it = {0};

        assert_int_equal(nft_expected_items(&d, 1, NULL, 0, &it), 0);
        assert_int_equal(it.n, ELEMENTSOF(want));
        for (size_t i = 0; i < it.n; i++)
                assert_string_equal(it.items[i], want[i]);
        nft_items_done(&it);
        assert_null(it.items);
        assert_int_equal(it.n, 0);
        nft_items_done(&it); /* twice is harmless */
}

static void test_expected_items_sorted_unique(void **state) {
        struct vm v[4];
        three_vms(v);
        v[3] = v[0]; /* the same VM twice must not produce duplicate items */
        struct nft_items it = {0}, empty = {0};

        assert_int_equal(nft_expected_items(v, 4, NULL, 0, &it), 0);
        /* 25 fixed items; per VM 2 counters, 2 counter map elements and one per port. */
        assert_int_equal(it.n, 25 + 3 * 4 + 10 + 5 + 10);
        for (size_t i = 1; i < it.n; i++)
                assert_true(strcmp(it.items[i - 1], it.items[i]) < 0);

        size_t found = 0;
        for (size_t i = 0; i < it.n; i++)
                found += streq(it.items[i], "elem tcp6 20020 2001:db8::1:0:0:1 22") ||
                         streq(it.items[i], "elem udp6 20029 2001:db8::1:0:0:1 10009") ||
                         streq(it.items[i], "elem udp4 20014 10.0.1.6 10004") ||
                         streq(it.items[i], "elem cout6 2001:db8::1:0:0:1 out_z9y8x7");
        assert_int_equal(found, 4);

        assert_int_equal(nft_expected_items(NULL, 0, NULL, 0, &empty), 0);
        assert_int_equal(empty.n, 25);
        nft_items_done(&it);
        nft_items_done(&empty);
}

static void test_items_diff(void **state) {
        char *want_v[] = { "a", "c", "d", "f" };
        char *have_v[] = { "b", "c", "e", "f", "g" };
        const struct nft_items want = { want_v, ELEMENTSOF(want_v) }, have = { have_v, ELEMENTSOF(have_v) };
        const struct nft_items none = {0};
        _cleanup_strbuf_ struct strbuf report = {0};

        assert_int_equal(nft_items_diff(&want, &have, &report), 5);
        assert_string_equal(strbuf_str(&report),
                            "missing: a\n"
                            "unexpected: b\n"
                            "missing: d\n"
                            "unexpected: e\n"
                            "unexpected: g\n");
        assert_int_equal(nft_items_diff(&want, &have, NULL), 5);

        strbuf_reset(&report);
        assert_int_equal(nft_items_diff(&want, &want, &report), 0);
        assert_string_equal(strbuf_str(&report), "");
        assert_int_equal(nft_items_diff(&none, &none, &report), 0);
        assert_int_equal(nft_items_diff(&none, &have, NULL), 5);
        assert_int_equal(nft_items_diff(&want, &none, &report), 4);
        assert_string_equal(strbuf_str(&report), "missing: a\nmissing: c\nmissing: d\nmissing: f\n");
}

/* 10,000 VMs: everything stays linear (a quadratic counter lookup alone would be 4e8
 * comparisons here), and every element and carried-over counter value is there. */
static void test_large(void **state) {
        enum { N = 10000, PORTS = 6 };
        struct vm *v = calloc(N, sizeof *v);
        struct nft_counter_value *cv = calloc(2 * N, sizeof *cv);
        assert_non_null(v);
        assert_non_null(cv);
        for (size_t i = 0; i < N; i++) {
                char slug[SLUG_LEN + 1], ip[IP_ADDR_STRLEN];
                snprintf(slug, sizeof slug, "b%05zu", i % 100000);
                snprintf(ip, sizeof ip, "10.%zu.%zu.%zu", i >> 16, (i >> 8) & 255, i & 255);
                v[i] = make_vm(slug, ip, (uint16_t)(1024 + i * PORTS), PORTS);
                /* Reverse order, so the lookup cannot rely on the input being sorted. */
                nft_counter_names(&v[i], cv[2 * (N - 1 - i)].name, cv[2 * (N - 1 - i) + 1].name);
                cv[2 * (N - 1 - i)].packets = i + 1;
                cv[2 * (N - 1 - i)].bytes = 1000 + i;
        }
        _cleanup_strbuf_ struct strbuf b = {0};
        struct nft_items it = {0};

        assert_int_equal(nft_render_full(v, N, NULL, 0, cv, 2 * N, &b), 0);
        const char *s = strbuf_str(&b);
        assert_int_equal(count_occurrences(s, "\n\tcounter "), 2 * N);
        assert_int_equal(count_occurrences(s, " : \"in_"), N);
        assert_int_equal(count_occurrences(s, "packets 0 bytes 0"), N); /* the out_ counters */
        assert_non_null(strstr(s, "\tcounter in_b09999 {\n\t\tpackets 10000 bytes 10999\n"));
        assert_non_null(strstr(s, "\tcounter in_b00000 {\n\t\tpackets 1 bytes 1000\n"));
        assert_non_null(strstr(s, "61023 : 10.0.39.15 . 10005 }\n"));

        assert_int_equal(nft_expected_items(v, N, NULL, 0, &it), 0);
        assert_int_equal(it.n, 25 + N * (4 + PORTS));
        nft_items_done(&it);
        free(v);
        free(cv);
}


/* ---- the VM network (issue 6): the SNAT chain and the bridge table ---- */

static struct lease make_lease(const char *mac, const char *ip) {
        struct lease l = {0};
        assert_int_equal(mac_parse(mac, l.mac), 0);
        assert_int_equal(ipv4_parse(ip, &l.ip), 0);
        return l;
}

/* The VM network of golden/nft-full-vmnet.nft and data/nft-live-vmnet-*.json: 10.0.1.0/24
 * NATed out of wan to 203.0.113.10, bridge br0 guarding the gateway's 10.0.1.1. */
static struct nft_vmnet snat_net(void) {
        struct nft_vmnet net = { .mask = 0xffffff00, .gateway_ip = 0x0a000101 };
        assert_int_equal(ipv4_parse("10.0.1.0", &net.subnet), 0);
        assert_int_equal(ipv4_parse("203.0.113.10", &net.snat_ip), 0);
        snprintf(net.snat_ifname, sizeof net.snat_ifname, "wan");
        snprintf(net.bridge, sizeof net.bridge, "br0");
        return net;
}

static const struct nft_port two_ports[] = { { "tap100i0" }, { "vm1" } };

static void two_leases(struct lease l[static 2]) {
        l[0] = make_lease("52:54:00:00:00:01", "10.0.1.5");
        l[1] = make_lease("52:54:00:ab:cd:ef", "10.0.1.20");
}

static void test_full_vmnet(void **state) {
        struct vm v = make_vm("k7m2p4", "10.0.1.5", 20000, 2);
        struct lease l[2];
        struct nft_vmnet net = snat_net();
        two_leases(l);
        const struct nft_desired d = { .vms = &v, .n_vms = 1, .net = &net, .leases = l, .n_leases = 2,
                                       .ports = two_ports, .n_ports = 2 };
        _cleanup_strbuf_ struct strbuf b = {0};

        assert_int_equal(nft_render_desired(&d, NULL, 0, &b), 0);
        const char *s = strbuf_str(&b);
        assert_golden(s, "nft-full-vmnet.nft");
        /* One script, the inet table first, then the bridge table replaced the same way. */
        assert_true(strncmp(s, "table inet edgegw\ndelete table inet edgegw\n", 42) == 0);
        assert_non_null(strstr(s, "}\ntable bridge edgegw\ndelete table bridge edgegw\ntable bridge edgegw {\n"));
        assert_non_null(strstr(s, "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
                                  "\t\tip saddr 10.0.1.0/24 ip daddr != 10.0.1.0/24 oifname \"wan\" snat ip to "
                                  "203.0.113.10 comment \"edgegw:snat4\"\n\t}\n"));
        assert_non_null(strstr(s, "\t\telements = { 52:54:00:00:00:01 . 10.0.1.5,\n"
                                  "\t\t\t     52:54:00:ab:cd:ef . 10.0.1.20 }\n"));
        assert_non_null(strstr(s, "\t\telements = { \"tap100i0\",\n\t\t\t     \"vm1\" }\n"));
        assert_non_null(strstr(s, "\t\tiifname @ports jump guard comment \"edgegw:ports\"\n"));
        assert_non_null(strstr(s, "\t\tether type ip ip saddr 10.0.1.1 drop comment \"edgegw:gateway4\"\n"));
        assert_non_null(strstr(s, "\t\tether type arp arp saddr ip 10.0.1.1 drop comment \"edgegw:gateway-arp\"\n"));
        /* 13 rules of the inet table, the SNAT rule, the jump, 12 guard rules. */
        assert_int_equal(count_occurrences(s, "comment \"edgegw:"), 13 + 1 + 1 + 12);
        assert_int_equal(count_occurrences(s, "\tset "), 4);
}

/* Masquerade without an outbound IP; no bridge, no bridge table (the daemon deletes a
 * leftover one apart); no gateway address, no gateway rules. */
static void test_full_vmnet_variants(void **state) {
        struct nft_vmnet net = snat_net();
        _cleanup_strbuf_ struct strbuf b = {0};

        net.snat_ip = 0;
        net.bridge[0] = '\0';
        const struct nft_desired masq = { .net = &net };
        assert_int_equal(nft_render_desired(&masq, NULL, 0, &b), 0);
        assert_non_null(strstr(strbuf_str(&b), "oifname \"wan\" masquerade comment \"edgegw:masquerade4\"\n"));
        assert_null(strstr(strbuf_str(&b), "bridge"));
        assert_null(strstr(strbuf_str(&b), "snat ip"));

        /* Bridge only: no postrouting chain; no gateway address: 10 guard rules; empty sets. */
        strbuf_reset(&b);
        net = snat_net();
        net.snat_ifname[0] = '\0';
        net.gateway_ip = 0;
        const struct nft_desired bridge = { .net = &net };
        assert_int_equal(nft_render_desired(&bridge, NULL, 0, &b), 0);
        const char *s = strbuf_str(&b);
        assert_null(strstr(s, "postrouting"));
        assert_null(strstr(s, "gateway"));
        assert_null(strstr(s, "elements"));
        assert_int_equal(count_occurrences(s, "comment \"edgegw:"), 13 + 1 + 10);

        /* Without a VM network the script is the foundation's, byte for byte. */
        strbuf_reset(&b);
        const struct nft_desired none = {0};
        _cleanup_strbuf_ struct strbuf plain = {0};
        assert_int_equal(nft_render_desired(&none, NULL, 0, &b), 0);
        assert_int_equal(nft_render_full(NULL, 0, NULL, 0, NULL, 0, &plain), 0);
        assert_string_equal(strbuf_str(&b), strbuf_str(&plain));
        assert_int_equal(nft_render_bridge_delete(&b), 0);
        assert_non_null(strstr(strbuf_str(&b), "}\ndelete table bridge edgegw\n"));
}

static void test_lease_port_commands(void **state) {
        struct lease l = make_lease("52:54:00:ab:cd:ef", "10.0.1.20");
        _cleanup_strbuf_ struct strbuf b = {0};

        assert_int_equal(nft_render_lease_add(&l, &b), 0);
        assert_int_equal(nft_render_port_add("tap100i0", &b), 0);
        assert_string_equal(strbuf_str(&b), "add element bridge edgegw leases { 52:54:00:ab:cd:ef . 10.0.1.20 }\n"
                                            "add element bridge edgegw lease_macs { 52:54:00:ab:cd:ef }\n"
                                            "add element bridge edgegw lease_ips { 10.0.1.20 }\n"
                                            "add element bridge edgegw ports { \"tap100i0\" }\n");
        strbuf_reset(&b);
        assert_int_equal(nft_render_lease_del(&l, &b), 0);
        assert_int_equal(nft_render_port_del("vm1", &b), 0);
        assert_string_equal(strbuf_str(&b), "delete element bridge edgegw leases { 52:54:00:ab:cd:ef . 10.0.1.20 }\n"
                                            "delete element bridge edgegw lease_macs { 52:54:00:ab:cd:ef }\n"
                                            "delete element bridge edgegw lease_ips { 10.0.1.20 }\n"
                                            "delete element bridge edgegw ports { \"vm1\" }\n");
}

/* Names go into the script between quotes: a quote, a backslash, a control character, an
 * empty or too long name is refused, and so is a lease without an address. */
static void test_vmnet_refused(void **state) {
        static const char *const bad_names[] = { "", "a\"b", "a\\b", "tab\tx", "sixteen-chars-xx", "sp ace" };
        struct lease zero = make_lease("52:54:00:00:00:01", "10.0.1.5");
        struct nft_vmnet net = snat_net();
        _cleanup_strbuf_ struct strbuf b = {0};
        struct nft_items it = { .items = NULL, .n = 12345 };

        strbuf_append(&b, "x");
        zero.ip = 0;
        for (size_t i = 0; i < ELEMENTSOF(bad_names); i++) {
                assert_false(nft_ifname_renderable(bad_names[i]));
                assert_int_equal(nft_render_port_add(bad_names[i], &b), -EINVAL);
                struct nft_port p = {0};
                snprintf(p.name, sizeof p.name, "%.15s", bad_names[i]);
                if (strlen(bad_names[i]) >= NFT_IFNAME_MAX)
                        continue; /* truncated to a fine name */
                const struct nft_desired d = { .net = &net, .ports = &p, .n_ports = 1 };
                assert_int_equal(nft_render_desired(&d, NULL, 0, &b), -EINVAL);
                assert_int_equal(nft_expected_desired(&d, &it), -EINVAL);
        }
        assert_true(nft_ifname_renderable("tap100i0"));
        assert_true(nft_ifname_renderable("fifteen-chars-x"));
        assert_int_equal(nft_render_lease_add(&zero, &b), -EINVAL);
        assert_int_equal(nft_render_lease_del(&zero, &b), -EINVAL);
        const struct nft_desired d = { .net = &net, .leases = &zero, .n_leases = 1 };
        assert_int_equal(nft_render_desired(&d, NULL, 0, &b), -EINVAL);
        /* ... but only when there is a bridge table for them to go into. */
        net.bridge[0] = '\0';
        assert_int_equal(nft_expected_desired(&d, &it), 0);
        nft_items_done(&it);
        net = snat_net();
        snprintf(net.snat_ifname, sizeof net.snat_ifname, "w\"an");
        const struct nft_desired bad_if = { .net = &net };
        assert_int_equal(nft_render_desired(&bad_if, NULL, 0, &b), -EINVAL);
        assert_string_equal(strbuf_str(&b), "x");
}

static bool has_item(const struct nft_items *it, const char *item) {
        for (size_t i = 0; i < it->n; i++)
                if (streq(it->items[i], item))
                        return true;
        return false;
}

static void test_vmnet_items(void **state) {
        struct lease l[2];
        struct nft_vmnet net = snat_net();
        struct nft_items it = {0}, plain = {0};
        two_leases(l);
        const struct nft_desired d = { .net = &net, .leases = l, .n_leases = 2, .ports = two_ports, .n_ports = 2 };

        assert_int_equal(nft_expected_desired(&d, &it), 0);
        assert_int_equal(nft_expected_items(NULL, 0, NULL, 0, &plain), 0);
        static const char *const want[] = {
                "chain postrouting nat postrouting 100",
                "rule postrouting edgegw:snat4",
                "bridge table bridge edgegw",
                "bridge chain prerouting filter prerouting -200",
                "bridge chain guard",
                "bridge rule prerouting edgegw:ports",
                "bridge rule guard edgegw:spoof4",
                "bridge rule guard edgegw:gateway-arp",
                "bridge set ports",
                "bridge set leases",
                "bridge set lease_macs",
                "bridge set lease_ips",
                "bridge elem ports tap100i0",
                "bridge elem leases 52:54:00:ab:cd:ef 10.0.1.20",
                "bridge elem lease_macs 52:54:00:00:00:01",
                "bridge elem lease_ips 10.0.1.5",
        };
        for (size_t i = 0; i < ELEMENTSOF(want); i++)
                if (!has_item(&it, want[i]))
                        fail_msg("missing item: %s", want[i]);
        /* The foundation's 25, 2 for SNAT; the bridge table: table, 2 chains, 13 rules, 4 sets,
         * 2 ports, 3 per lease. */
        assert_int_equal(plain.n, 25);
        assert_int_equal(it.n, 25 + 2 + 1 + 2 + 13 + 4 + 2 + 6);
        for (size_t i = 1; i < it.n; i++)
                assert_true(strcmp(it.items[i - 1], it.items[i]) < 0);

        /* Masquerade is told apart from SNAT by the rule's comment. */
        nft_items_done(&it);
        net.snat_ip = 0;
        assert_int_equal(nft_expected_desired(&d, &it), 0);
        assert_true(has_item(&it, "rule postrouting edgegw:masquerade4"));
        assert_false(has_item(&it, "rule postrouting edgegw:snat4"));
        nft_items_done(&it);
        nft_items_done(&plain);
}

static void test_items_merge(void **state) {
        struct nft_items a = {0}, b = {0}, empty = {0};
        struct vm v = make_vm("k7m2p4", "10.0.1.5", 20000, 1);
        struct nft_vmnet net = snat_net();
        const struct nft_desired d = { .net = &net };

        assert_int_equal(nft_expected_items(&v, 1, NULL, 0, &a), 0);
        assert_int_equal(nft_expected_desired(&d, &b), 0); /* shares the 25 table items with a */
        size_t na = a.n, nb = b.n;
        assert_int_equal(nft_items_merge(&a, &b), 0);
        assert_int_equal(b.n, 0);
        assert_null(b.items);
        assert_int_equal(a.n, na + nb - 25);
        for (size_t i = 1; i < a.n; i++)
                assert_true(strcmp(a.items[i - 1], a.items[i]) < 0);
        assert_int_equal(nft_items_merge(&a, &empty), 0);
        assert_int_equal(nft_items_merge(&empty, &a), 0);
        assert_int_equal(empty.n, na + nb - 25);
        nft_items_done(&empty);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_counter_names),
                cmocka_unit_test(test_full_3vms),
                cmocka_unit_test(test_full_empty),
                cmocka_unit_test(test_full_forwards),
                cmocka_unit_test(test_forward_add_del),
                cmocka_unit_test(test_invalid_forward),
                cmocka_unit_test(test_expected_items_forwards),
                cmocka_unit_test(test_full_appends),
                cmocka_unit_test(test_vm_add),
                cmocka_unit_test(test_vm_del),
                cmocka_unit_test(test_invalid_vm),
                cmocka_unit_test(test_expected_items_one_vm),
                cmocka_unit_test(test_expected_items_sorted_unique),
                cmocka_unit_test(test_items_diff),
                cmocka_unit_test(test_large),
                cmocka_unit_test(test_full_vmnet),
                cmocka_unit_test(test_full_vmnet_variants),
                cmocka_unit_test(test_lease_port_commands),
                cmocka_unit_test(test_vmnet_refused),
                cmocka_unit_test(test_vmnet_items),
                cmocka_unit_test(test_items_merge),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
