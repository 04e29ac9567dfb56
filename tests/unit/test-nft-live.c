/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/nft/live.c: the JSON listing of the live table reduced to canonical
 * items and counter values. The fixtures under tests/unit/data/ are real `nft -j list
 * table inet edgegw` output (nft 1.0.6, kernel 6.18), captured in a network namespace
 * after loading what render.c produced for the VMs named below; so "live items equal
 * expected items" here is the same check the daemon's drift detection makes. The VM network's
 * fixtures (issue 6) are the listings of golden/nft-full-vmnet.nft, table by table. The parser
 * also gets malformed and mutated input, which it must reject without crashing.
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

/* The VMs of the fixtures: A, B, C loaded by a full render (nft-live-3vms.json, with counter
 * values 7/420 for in_k7m2p4 and 3/180 for out_a1b2c3 carried over), then D and E added in
 * one transaction (nft-live-add.json), then B and E deleted (nft-live-del.json). */
enum { A, B, C, D, E, N_VMS };
static struct vm vms[N_VMS];

static int setup(void **state) {
        vms[A] = make_vm("k7m2p4", "10.0.1.5", 20000, 10);
        vms[B] = make_vm("a1b2c3", "10.0.1.6", 20010, 5);
        vms[C] = make_vm("z9y8x7", "2001:db8:0:0:1:0:0:1", 20020, 10);
        vms[D] = make_vm("q4w5e6", "10.0.2.7", 20030, 1);
        vms[E] = make_vm("r5t6y7", "fd00:0:0:1::5", 20031, 3);
        return 0;
}

static char *read_fixture(const char *name) {
        char path[256];
        snprintf(path, sizeof path, "tests/unit/data/%s", name);
        FILE *f = fopen(path, "re");
        if (!f)
                fail_msg("cannot read %s (run from the repository root)", path);
        struct strbuf b = {0};
        char chunk[4096];
        size_t k;
        while ((k = fread(chunk, 1, sizeof chunk, f)) > 0)
                strbuf_appendn(&b, chunk, k);
        fclose(f);
        char *s = strbuf_steal(&b);
        assert_non_null(s);
        return s;
}

/* Parses a fixture and returns its differences from the expected items of vms; the report
 * is printed when it is not the expected count so a failure says what drifted. */
static size_t diff_fixture_fwds(const char *name, const struct vm *v, size_t n, const struct forward_def *f,
                                size_t n_f, size_t expect_diffs) {
        char *json = read_fixture(name);
        struct nft_items have = {0}, want = {0};
        _cleanup_strbuf_ struct strbuf report = {0};

        assert_int_equal(nft_live_parse_json(json, &have, NULL, NULL), 0);
        assert_int_equal(nft_expected_items(v, n, f, n_f, &want), 0);
        size_t d = nft_items_diff(&want, &have, &report);
        if (d != expect_diffs)
                print_error("%s:\n%s", name, strbuf_str(&report));
        assert_int_equal(d, expect_diffs);
        for (size_t i = 1; i < have.n; i++)
                assert_true(strcmp(have.items[i - 1], have.items[i]) < 0);
        nft_items_done(&have);
        nft_items_done(&want);
        free(json);
        return d;
}

static size_t diff_fixture(const char *name, const struct vm *v, size_t n, size_t expect_diffs) {
        return diff_fixture_fwds(name, v, n, NULL, 0, expect_diffs);
}

static const struct nft_counter_value *find_counter(const struct nft_counter_value *c, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (streq(c[i].name, name))
                        return &c[i];
        return NULL;
}

static void test_live_3vms(void **state) {
        char *json = read_fixture("nft-live-3vms.json");
        struct nft_items have = {0}, want = {0};
        struct nft_counter_value *c = NULL;
        size_t n_c = 0;

        assert_int_equal(nft_live_parse_json(json, &have, &c, &n_c), 0);
        assert_int_equal(nft_expected_items(vms, 3, NULL, 0, &want), 0);
        assert_int_equal(have.n, want.n);
        for (size_t i = 0; i < have.n; i++)
                assert_string_equal(have.items[i], want.items[i]);
        assert_int_equal(nft_items_diff(&want, &have, NULL), 0);

        assert_int_equal(n_c, 6);
        const struct nft_counter_value *x = find_counter(c, n_c, "in_k7m2p4");
        assert_non_null(x);
        assert_int_equal(x->packets, 7);
        assert_int_equal(x->bytes, 420);
        x = find_counter(c, n_c, "out_a1b2c3");
        assert_non_null(x);
        assert_int_equal(x->packets, 3);
        assert_int_equal(x->bytes, 180);
        x = find_counter(c, n_c, "out_z9y8x7");
        assert_non_null(x);
        assert_int_equal(x->packets, 0);

        /* Without the right VMs the same table is drift: B's 9 items, as missing and unexpected. */
        const struct vm ac[] = { vms[A], vms[C] };
        nft_items_done(&want);
        assert_int_equal(nft_expected_items(ac, 2, NULL, 0, &want), 0);
        assert_int_equal(nft_items_diff(&want, &have, NULL), 4 + 5);

        nft_items_done(&have);
        nft_items_done(&want);
        free(c);
        free(json);
}

static void test_live_incremental(void **state) {
        const struct vm after_del[] = { vms[A], vms[C], vms[D] };

        diff_fixture("nft-live-add.json", vms, N_VMS, 0);
        /* Before the add: D's 5 items and E's 7 are unexpected. */
        diff_fixture("nft-live-add.json", vms, 3, 5 + 7);
        diff_fixture("nft-live-del.json", after_del, ELEMENTSOF(after_del), 0);
}

static void test_live_empty(void **state) {
        char *json = read_fixture("nft-live-empty.json");
        struct nft_items have = {0}, want = {0};
        struct nft_counter_value *c = (void *)1;
        size_t n_c = 99;

        assert_int_equal(nft_live_parse_json(json, &have, &c, &n_c), 0);
        assert_int_equal(have.n, 25);
        assert_null(c);
        assert_int_equal(n_c, 0);
        assert_int_equal(nft_expected_items(NULL, 0, NULL, 0, &want), 0);
        assert_int_equal(nft_items_diff(&want, &have, NULL), 0);
        nft_items_done(&have);
        nft_items_done(&want);
        free(json);
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

/* nft-live-forwards.json: A, B, C and four standalone forwards (golden/nft-full-forwards.nft
 * loaded into a kernel). A forward's element reads back as the item render.c expects. */
static void test_live_forwards(void **state) {
        struct forward_def f[] = {
                make_fwd("ssh-jump", PROTO_TCP, 2222, "10.30.0.200", 22),
                make_fwd("dns", PROTO_UDP, 53, "10.30.0.53", 5353),
                make_fwd("web6", PROTO_TCP, 8443, "fd00::80", 443),
                make_fwd("wg6", PROTO_UDP, 51820, "fd00::81", 51820),
        };
        diff_fixture_fwds("nft-live-forwards.json", vms, 3, f, ELEMENTSOF(f), 0);
        /* Forwards the store does not have are drift; so is one whose target moved. */
        diff_fixture_fwds("nft-live-forwards.json", vms, 3, f, 2, 2);
        f[0].port = 2022;
        diff_fixture_fwds("nft-live-forwards.json", vms, 3, f, ELEMENTSOF(f), 2);
        /* And the table without them misses them. */
        diff_fixture_fwds("nft-live-3vms.json", vms, 3, f, ELEMENTSOF(f), 4);
}

/* nft prints IPv6 addresses as inet_ntop does, including the awkward ones. */
static void test_live_ipv6(void **state) {
        static const char *const ips[] = {
                "2001:db8:0:0:1:0:0:1", "fd00:0:0:1::5", "2001:db8::", "2001:0:0:1:0:0:0:1",
                "2001:db8:1:2:3:4:5:6", "2001:db8:0:1:1:1:1:1", "::ffff:10.1.2.3", "::10.1.2.3",
                "FD00:ABCD::00EF", "2001:db8::1:0:0:0:1",
        };
        struct vm v[ELEMENTSOF(ips)];
        for (size_t i = 0; i < ELEMENTSOF(ips); i++) {
                char slug[SLUG_LEN + 1];
                snprintf(slug, sizeof slug, "six%03zu", i % 1000);
                v[i] = make_vm(slug, ips[i], (uint16_t)(30000 + 3 * i), 3);
        }
        diff_fixture("nft-live-ipv6.json", v, ELEMENTSOF(v), 0);
}

/* Hand edits made with the nft tool on top of nft-live-3vms.json's table: two rules added
 * to forward (one without comment, one with a foreign one), an element deleted from udp4,
 * an element added to tcp4, and a set, a counter and a regular chain added. */
static void test_live_drift(void **state) {
        char *json = read_fixture("nft-live-drift.json");
        struct nft_items have = {0}, want = {0};
        _cleanup_strbuf_ struct strbuf report = {0};

        assert_int_equal(nft_live_parse_json(json, &have, NULL, NULL), 0);
        assert_int_equal(nft_expected_items(vms, 3, NULL, 0, &want), 0);
        assert_int_equal(nft_items_diff(&want, &have, &report), 7);
        assert_string_equal(strbuf_str(&report),
                            "unexpected: chain mine\n"
                            "unexpected: counter in_rogue\n"
                            "unexpected: elem extra 1.2.3.4\n"
                            "unexpected: elem tcp4 30000 10.0.1.5 22\n"
                            "missing: elem udp4 20005 10.0.1.5 10005\n"
                            "unexpected: rule forward (uncommented)\n"
                            "unexpected: set extra\n");
        nft_items_done(&have);
        nft_items_done(&want);
        free(json);
}

static void assert_items(const char *json, const char *const *want, size_t n_want) {
        struct nft_items it = {0};
        assert_int_equal(nft_live_parse_json(json, &it, NULL, NULL), 0);
        if (it.n != n_want)
                for (size_t i = 0; i < it.n; i++)
                        print_error("item: %s\n", it.items[i]);
        assert_int_equal(it.n, n_want);
        for (size_t i = 0; i < n_want; i++)
                assert_string_equal(it.items[i], want[i]);
        nft_items_done(&it);
}

static void test_live_object_kinds(void **state) {
        static const char json[] =
                "{\"nftables\": ["
                "{\"metainfo\": {\"version\": \"9.9\", \"json_schema_version\": 7}},"
                "{\"frobnicate\": [1, 2, 3]},"
                "{\"table\": {\"family\": \"ip\", \"name\": \"other\", \"handle\": 1}},"
                "{\"chain\": {\"family\": \"ip\", \"table\": \"other\", \"name\": \"c\"}},"
                "{\"table\": {\"family\": \"inet\", \"name\": \"edgegw\", \"handle\": 2}},"
                "{\"set\": {\"family\": \"inet\", \"table\": \"edgegw\", \"name\": \"s\", \"type\": \"ipv4_addr\","
                " \"elem\": [{\"elem\": {\"val\": \"1.2.3.4\", \"timeout\": 10, \"expires\": 5}},"
                " {\"prefix\": {\"addr\": \"10.0.0.0\", \"len\": 8}}, {\"range\": [\"10.1.0.1\", \"10.1.0.9\"]}, 7]}},"
                "{\"map\": {\"family\": \"inet\", \"table\": \"edgegw\", \"name\": \"v\", \"type\": \"inet_service\","
                " \"map\": \"verdict\", \"elem\": [[22, {\"accept\": null}], [23, {\"jump\": {\"target\": \"c\"}}]]}},"
                "{\"quota\": {\"family\": \"inet\", \"table\": \"edgegw\", \"name\": \"q\", \"bytes\": 1}},"
                "{\"ct helper\": {\"family\": \"inet\", \"table\": \"edgegw\", \"name\": \"h\"}},"
                "{\"chain\": {\"family\": \"inet\", \"table\": \"edgegw\", \"name\": \"reg\", \"handle\": 9}},"
                "{\"rule\": {\"family\": \"inet\", \"table\": \"edgegw\", \"chain\": \"forward\","
                " \"comment\": \"edgegw:x\\ny\"}},"
                "{\"counter\": {\"family\": \"inet\", \"table\": \"edgegw\", \"name\": \"a_name_far_too_long\","
                " \"packets\": 1, \"bytes\": 2}}"
                "]}";
        static const char *const want[] = {
                "chain reg",
                "counter a_name_far_too_long",
                "ct helper h",
                "elem s 1.2.3.4",
                "elem s 10.0.0.0/8",
                "elem s 10.1.0.1-10.1.0.9",
                "elem s 7",
                "elem v 22 {\"accept\":null}",
                "elem v 23 {\"jump\":{\"target\":\"c\"}}",
                "map v",
                "quota q",
                "rule forward edgegw:x?y", /* a control character would split a report line */
                "set s",
                "table inet edgegw",
        };
        assert_items(json, want, ELEMENTSOF(want));

        /* A counter name too long to be a VM's is an item, but no value to carry over. */
        struct nft_items it = {0};
        struct nft_counter_value *c = (void *)1;
        size_t n_c = 99;
        assert_int_equal(nft_live_parse_json(json, &it, &c, &n_c), 0);
        assert_null(c);
        assert_int_equal(n_c, 0);
        nft_items_done(&it);

        static const char *const none[] = { "" };
        assert_items("{\"nftables\": []}", none, 0);
}

static void test_live_malformed(void **state) {
        static const char *const bad[] = {
                "",
                "not json",
                "[]",
                "{}",
                "{\"nftables\": {}}",
                "{\"nftables\": [1]}",
                "{\"nftables\": [[]]}",
                "{\"nftables\": [{\"table\": 5}]}",
                "{\"nftables\": [{\"table\": {\"family\": \"inet\"}}]}",
                "{\"nftables\": [{\"chain\": {\"family\": \"inet\", \"table\": \"edgegw\"}}]}",
                "{\"nftables\": [{\"chain\": {\"family\": \"inet\", \"table\": \"edgegw\", \"name\": \"c\","
                " \"type\": \"nat\", \"prio\": 0}}]}",
                "{\"nftables\": [{\"chain\": {\"family\": \"inet\", \"table\": \"edgegw\", \"name\": \"c\","
                " \"type\": \"nat\", \"hook\": \"output\", \"prio\": [0]}}]}",
                "{\"nftables\": [{\"rule\": {\"family\": \"inet\", \"table\": \"edgegw\"}}]}",
                "{\"nftables\": [{\"rule\": {\"family\": \"inet\", \"table\": \"edgegw\", \"chain\": \"f\","
                " \"comment\": 3}}]}",
                "{\"nftables\": [{\"map\": {\"family\": \"inet\", \"table\": \"edgegw\", \"name\": \"m\", \"elem\": 5}}]}",
                "{\"nftables\": [{\"map\": {\"family\": \"inet\", \"table\": \"edgegw\", \"name\": \"m\", \"elem\": [[1]]}}]}",
                "{\"nftables\": [{\"map\": {\"family\": \"inet\", \"table\": \"edgegw\", \"name\": \"m\", \"elem\": [1]}}]}",
                "{\"nftables\": [{\"map\": {\"family\": \"inet\", \"table\": \"edgegw\", \"elem\": []}}]}",
                "{\"nftables\": [{\"set\": {\"family\": \"inet\", \"table\": \"edgegw\", \"name\": \"s\","
                " \"elem\": [{\"concat\": 1}]}}]}",
                "{\"nftables\": [{\"set\": {\"family\": \"inet\", \"table\": \"edgegw\", \"name\": \"s\","
                " \"elem\": [{\"concat\": []}]}}]}",
                "{\"nftables\": [{\"set\": {\"family\": \"inet\", \"table\": \"edgegw\", \"name\": \"s\","
                " \"elem\": [{\"elem\": {\"timeout\": 1}}]}}]}",
                "{\"nftables\": [{\"set\": {\"family\": \"inet\", \"table\": \"edgegw\", \"name\": \"s\","
                " \"elem\": [{\"range\": [1, 2, 3]}]}}]}",
                "{\"nftables\": [{\"set\": {\"family\": \"inet\", \"table\": \"edgegw\", \"name\": \"s\","
                " \"elem\": [{\"prefix\": {\"addr\": \"10.0.0.0\"}}]}}]}",
                "{\"nftables\": [{\"set\": {\"family\": \"inet\", \"table\": \"edgegw\", \"name\": \"s\","
                " \"elem\": [{\"concat\": [{\"concat\": [{\"concat\": [{\"concat\": [{\"concat\": [{\"concat\":"
                " [{\"concat\": [{\"concat\": [{\"concat\": [{\"concat\": [1]}]}]}]}]}]}]}]}]}]}]}}]}",
                "{\"nftables\": [{\"counter\": {\"family\": \"inet\", \"table\": \"edgegw\", \"name\": \"c\","
                " \"packets\": \"1\", \"bytes\": 0}}]}",
                "{\"nftables\": [{\"counter\": {\"family\": \"inet\", \"table\": \"edgegw\", \"name\": \"c\","
                " \"packets\": 1, \"bytes\": -5}}]}",
                "{\"nftables\": [{\"counter\": {\"family\": \"inet\", \"table\": \"edgegw\", \"name\": \"c\","
                " \"packets\": 1}}]}",
                "{\"nftables\": [{\"quota\": {\"family\": \"inet\", \"table\": \"edgegw\"}}]}",
                "{\"nftables\": [{\"table\": {\"family\": \"inet\", \"name\": \"edg\\u0000egw\"}}]}",
                "{\"nftables\": [{\"table\": {\"family\": \"inet\", \"name\": \"edgegw\"}}]",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char *sentinel_items[] = { "untouched" };
                struct nft_items it = { sentinel_items, 1 };
                struct nft_counter_value *c = (void *)1;
                size_t n_c = 42;
                int r = nft_live_parse_json(bad[i], &it, &c, &n_c);
                if (r != -EBADMSG)
                        print_error("accepted: %s\n", bad[i]);
                assert_int_equal(r, -EBADMSG);
                assert_ptr_equal(it.items, sentinel_items);
                assert_int_equal(it.n, 1);
                assert_ptr_equal(c, (void *)1);
                assert_int_equal(n_c, 42);
        }
        struct nft_items it = {0};
        assert_int_equal(nft_live_parse_json(NULL, &it, NULL, NULL), -EBADMSG);
}

static void parse_any(const char *json, size_t *ok, size_t *rejected) {
        struct nft_items it = {0};
        struct nft_counter_value *c = NULL;
        size_t n_c = 0;
        int r = nft_live_parse_json(json, &it, &c, &n_c);
        assert_true(r == 0 || r == -EBADMSG);
        if (r == 0)
                (*ok)++;
        else
                (*rejected)++;
        nft_items_done(&it);
        free(c);
}

/* Every prefix of a real listing, and each of its structural bytes overwritten: each
 * result is either parsed or rejected, never a crash or a leak (the sanitizers watch). */
static void mutate_fixture(const char *name) {
        char *json = read_fixture(name);
        size_t len = strlen(json), ok = 0, rejected = 0;
        char *copy = malloc(len + 1);
        assert_non_null(copy);

        /* Cut anywhere before the closing brace, the document is incomplete and rejected.
         * Every cut in the head (metainfo, table, counters), then every 5th byte. */
        size_t doc_len = (size_t)(strrchr(json, '}') - json) + 1, cuts = 0;
        for (size_t cut = 0; cut < doc_len; cut += cut < 1024 ? 1 : 5, cuts++) {
                memcpy(copy, json, cut);
                copy[cut] = '\0';
                parse_any(copy, &ok, &rejected);
        }
        assert_int_equal(rejected, cuts);
        assert_int_equal(ok, 0);

        /* Mutate the bytes that carry structure; rotate the replacement to keep this quick. */
        static const char replacements[] = { '[', '"', '}', 'x' };
        for (size_t pos = 0; pos < len; pos++) {
                if (!strchr("{}[]:,\"-0123456789", json[pos]))
                        continue;
                memcpy(copy, json, len + 1);
                copy[pos] = replacements[pos % ELEMENTSOF(replacements)];
                parse_any(copy, &ok, &rejected);
        }
        assert_true(ok > 0);
        free(copy);
        free(json);
}

/* Both tables' listings: the inet one, and the bridge one of issue 6 (concatenated set
 * elements, interface names). */
static void test_live_mutations(void **state) {
        mutate_fixture("nft-live-3vms.json");
        mutate_fixture("nft-live-vmnet-bridge.json");
}


/* The VM network (issue 6): golden/nft-full-vmnet.nft loaded into a kernel and listed table by
 * table (nft-live-vmnet-inet.json, nft-live-vmnet-bridge.json); the two listings, merged,
 * are exactly what render.c expects; the bridge table's items carry the "bridge " prefix. */
static void vmnet_desired(struct vm *v, struct lease l[static 2], struct nft_vmnet *net, struct nft_desired *d) {
        static const struct nft_port ports[] = { { "tap100i0" }, { "vm1" } };
        *v = make_vm("k7m2p4", "10.0.1.5", 20000, 2);
        l[0] = (struct lease){0};
        l[1] = (struct lease){0};
        assert_int_equal(mac_parse("52:54:00:00:00:01", l[0].mac), 0);
        assert_int_equal(ipv4_parse("10.0.1.5", &l[0].ip), 0);
        assert_int_equal(mac_parse("52:54:00:ab:cd:ef", l[1].mac), 0);
        assert_int_equal(ipv4_parse("10.0.1.20", &l[1].ip), 0);
        *net = (struct nft_vmnet){ .subnet = 0x0a000100, .mask = 0xffffff00, .snat_ip = 0xcb00710a,
                                   .gateway_ip = 0x0a000101 };
        snprintf(net->snat_ifname, sizeof net->snat_ifname, "wan");
        snprintf(net->bridge, sizeof net->bridge, "br0");
        *d = (struct nft_desired){ .vms = v, .n_vms = 1, .net = net, .leases = l, .n_leases = 2, .ports = ports,
                                   .n_ports = 2 };
}

static void test_live_vmnet(void **state) {
        char *inet = read_fixture("nft-live-vmnet-inet.json"), *bridge = read_fixture("nft-live-vmnet-bridge.json");
        struct nft_items have = {0}, have_bridge = {0}, want = {0};
        struct nft_counter_value *c = NULL;
        size_t n_c = 0;
        _cleanup_strbuf_ struct strbuf report = {0};
        struct vm v;
        struct lease l[2];
        struct nft_vmnet net;
        struct nft_desired d;
        vmnet_desired(&v, l, &net, &d);

        assert_int_equal(nft_live_parse_json(inet, &have, NULL, NULL), 0);
        assert_int_equal(nft_live_parse_json(bridge, &have_bridge, &c, &n_c), 0);
        assert_null(c); /* the bridge table has no counters to carry over */
        assert_int_equal(n_c, 0);
        for (size_t i = 0; i < have_bridge.n; i++)
                assert_true(strncmp(have_bridge.items[i], "bridge ", 7) == 0);
        assert_int_equal(nft_items_merge(&have, &have_bridge), 0);
        assert_int_equal(nft_expected_desired(&d, &want), 0);
        size_t diffs = nft_items_diff(&want, &have, &report);
        if (diffs)
                print_error("%s", strbuf_str(&report));
        assert_int_equal(diffs, 0);

        /* A lease the kernel lacks, and a port it has too many, are told apart. */
        nft_items_done(&want);
        strbuf_reset(&report);
        d.n_leases = 1;
        d.n_ports = 1;
        assert_int_equal(nft_expected_desired(&d, &want), 0);
        assert_int_equal(nft_items_diff(&want, &have, &report), 3 + 1);
        assert_non_null(strstr(strbuf_str(&report), "unexpected: bridge elem leases 52:54:00:ab:cd:ef 10.0.1.20\n"));
        assert_non_null(strstr(strbuf_str(&report), "unexpected: bridge elem ports vm1\n"));

        /* Without a VM network the bridge table is all unexpected; so is the SNAT chain. */
        nft_items_done(&want);
        strbuf_reset(&report);
        d.net = NULL;
        assert_int_equal(nft_expected_desired(&d, &want), 0);
        assert_int_equal(nft_items_diff(&want, &have, &report), 2 + 28);
        assert_non_null(strstr(strbuf_str(&report), "unexpected: bridge table bridge edgegw\n"));
        assert_non_null(strstr(strbuf_str(&report), "unexpected: rule postrouting edgegw:snat4\n"));
        nft_items_done(&want);
        nft_items_done(&have);
        nft_items_done(&have_bridge);
        free(inet);
        free(bridge);
}

/* A rule someone added to the guard chain by hand, and a table of another family. */
static void test_live_vmnet_drift(void **state) {
        static const char json[] =
                "{\"nftables\": [{\"table\": {\"family\": \"bridge\", \"name\": \"edgegw\", \"handle\": 1}},"
                "{\"chain\": {\"family\": \"bridge\", \"table\": \"edgegw\", \"name\": \"guard\", \"handle\": 2}},"
                "{\"rule\": {\"family\": \"bridge\", \"table\": \"edgegw\", \"chain\": \"guard\", \"handle\": 3,"
                " \"expr\": [{\"accept\": null}]}},"
                "{\"set\": {\"family\": \"bridge\", \"name\": \"ports\", \"table\": \"edgegw\", \"type\": \"ifname\","
                " \"handle\": 4, \"elem\": [\"vm9\"]}},"
                "{\"table\": {\"family\": \"netdev\", \"name\": \"edgegw\", \"handle\": 5}},"
                "{\"chain\": {\"family\": \"ip\", \"table\": \"edgegw\", \"name\": \"x\", \"handle\": 6}}]}";
        struct nft_items it = {0};
        static const char *const want[] = {
                "bridge chain guard", "bridge elem ports vm9", "bridge rule guard (uncommented)",
                "bridge set ports", "bridge table bridge edgegw",
        };

        assert_int_equal(nft_live_parse_json(json, &it, NULL, NULL), 0);
        assert_int_equal(it.n, ELEMENTSOF(want));
        for (size_t i = 0; i < it.n; i++)
                assert_string_equal(it.items[i], want[i]);
        nft_items_done(&it);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_live_3vms),
                cmocka_unit_test(test_live_incremental),
                cmocka_unit_test(test_live_empty),
                cmocka_unit_test(test_live_ipv6),
                cmocka_unit_test(test_live_forwards),
                cmocka_unit_test(test_live_drift),
                cmocka_unit_test(test_live_object_kinds),
                cmocka_unit_test(test_live_malformed),
                cmocka_unit_test(test_live_mutations),
                cmocka_unit_test(test_live_vmnet),
                cmocka_unit_test(test_live_vmnet_drift),
        };
        return cmocka_run_group_tests(tests, setup, NULL);
}
