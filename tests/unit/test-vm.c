/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the VM rules: the port layout of a block (seed 000's for 10 ports, and
 * other sizes), which VM ids and DNS names are valid, the VM's subdomain, and the spelling
 * of the PROXY protocol option.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "core/util.h"
#include "model/vm.h"

static void assert_entry(const struct port_map_entry *e, uint16_t public_port, enum proto proto, uint16_t vm_port) {
        if (e->public_port != public_port || e->proto != proto || e->vm_port != vm_port)
                fail_msg("entry %u -> %u/%s, want %u -> %u/%s", e->public_port, e->vm_port, proto_to_string(e->proto),
                         public_port, vm_port, proto_to_string(proto));
}

static void test_port_map_seed_layout(void **state) {
        /* Seed 000: 20000 -> 22/tcp, 20001-20004 -> 10001-10004/tcp, 20005-20009 -> 10005-10009/udp. */
        struct port_map_entry map[12];
        memset(map, 0xee, sizeof map);
        assert_int_equal(vm_port_map(20000, 10, map), 10);
        assert_entry(&map[0], 20000, PROTO_TCP, 22);
        for (uint16_t i = 1; i <= 4; i++)
                assert_entry(&map[i], (uint16_t)(20000 + i), PROTO_TCP, (uint16_t)(10000 + i));
        for (uint16_t i = 5; i <= 9; i++)
                assert_entry(&map[i], (uint16_t)(20000 + i), PROTO_UDP, (uint16_t)(10000 + i));
        /* Nothing is written past the block. */
        assert_int_equal(map[10].public_port, 0xeeee);
        assert_int_equal(map[11].public_port, 0xeeee);

        uint16_t tcp = 99, udp = 99;
        vm_port_layout(10, &tcp, &udp);
        assert_int_equal(tcp, 4);
        assert_int_equal(udp, 5);
}

static void test_port_map_other_sizes(void **state) {
        struct port_map_entry map[20];

        /* 1: SSH only. */
        assert_int_equal(vm_port_map(30000, 1, map), 1);
        assert_entry(&map[0], 30000, PROTO_TCP, 22);

        /* 2: SSH and one UDP (the TCP half of one port rounds down to none). */
        assert_int_equal(vm_port_map(30000, 2, map), 2);
        assert_entry(&map[0], 30000, PROTO_TCP, 22);
        assert_entry(&map[1], 30001, PROTO_UDP, 10001);

        /* 3: SSH, one TCP, one UDP. */
        assert_int_equal(vm_port_map(30000, 3, map), 3);
        assert_entry(&map[0], 30000, PROTO_TCP, 22);
        assert_entry(&map[1], 30001, PROTO_TCP, 10001);
        assert_entry(&map[2], 30002, PROTO_UDP, 10002);

        /* 20: SSH, 9 TCP (1-9), 10 UDP (10-19). */
        assert_int_equal(vm_port_map(40000, 20, map), 20);
        assert_entry(&map[0], 40000, PROTO_TCP, 22);
        for (uint16_t i = 1; i <= 9; i++)
                assert_entry(&map[i], (uint16_t)(40000 + i), PROTO_TCP, (uint16_t)(10000 + i));
        for (uint16_t i = 10; i <= 19; i++)
                assert_entry(&map[i], (uint16_t)(40000 + i), PROTO_UDP, (uint16_t)(10000 + i));

        /* A block ending at the last port. */
        assert_int_equal(vm_port_map(65526, 10, map), 10);
        assert_entry(&map[9], 65535, PROTO_UDP, 10009);

        static const struct {
                uint16_t size, tcp, udp;
        } layouts[] = {{0, 0, 0}, {1, 0, 0}, {2, 0, 1}, {3, 1, 1}, {4, 1, 2}, {10, 4, 5}, {11, 5, 5}, {20, 9, 10},
                       {1000, 499, 500}};
        for (size_t i = 0; i < ELEMENTSOF(layouts); i++) {
                uint16_t tcp, udp;
                vm_port_layout(layouts[i].size, &tcp, &udp);
                assert_int_equal(tcp, layouts[i].tcp);
                assert_int_equal(udp, layouts[i].udp);
        }
}

static void test_port_map_agrees_with_layout(void **state) {
        static struct port_map_entry map[PORTS_PER_VM_MAX];
        for (uint16_t size = 1; size <= PORTS_PER_VM_MAX; size++) {
                uint16_t tcp, udp;
                vm_port_layout(size, &tcp, &udp);
                assert_int_equal(1 + tcp + udp, size);
                assert_int_equal(vm_port_map(20000, size, map), size);
                uint16_t n_tcp = 0, n_udp = 0;
                for (uint16_t i = 1; i < size; i++) {
                        assert_int_equal(map[i].public_port, 20000 + i);
                        assert_int_equal(map[i].vm_port, 10000 + i);
                        if (map[i].proto == PROTO_TCP) {
                                /* TCP comes first, then UDP. */
                                assert_int_equal(n_udp, 0);
                                n_tcp++;
                        } else
                                n_udp++;
                }
                assert_int_equal(n_tcp, tcp);
                assert_int_equal(n_udp, udp);
        }
}

static void test_proto_to_string(void **state) {
        assert_string_equal(proto_to_string(PROTO_TCP), "tcp");
        assert_string_equal(proto_to_string(PROTO_UDP), "udp");
}

static void test_vm_id_valid(void **state) {
        char max[VM_ID_MAX + 1], over[VM_ID_MAX + 2];
        memset(max, 'a', VM_ID_MAX);
        max[VM_ID_MAX] = '\0';
        memset(over, 'a', VM_ID_MAX + 1);
        over[VM_ID_MAX + 1] = '\0';

        const char *const ok[] = {"contract-123", "a", "Z", "0", "9abc", "A_b.c-1", "vm.1", "x-", "x.", max};
        const char *const bad[] = {
                "",      over,     "-x",        ".x",           "_x",       "a/b",     "a b",      "../x",
                "a\\b",  "a:b",    "a@b",       "caf\xc3\xa9",  "\xc3\xa9", "a\tb",    "a\nb",     "a$b",
                "a%2fb", "a;b",    "a\"b",      "a'b",          " a",       "a ",      "a\x7f",    "a*",
        };
        for (size_t i = 0; i < ELEMENTSOF(ok); i++)
                if (!vm_id_valid(ok[i]))
                        fail_msg("'%s' rejected", ok[i]);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (vm_id_valid(bad[i]))
                        fail_msg("'%s' accepted", bad[i]);
}

static void test_dns_label_valid(void **state) {
        char l63[64], l64[65];
        memset(l63, 'a', 63);
        l63[63] = '\0';
        memset(l64, 'a', 64);
        l64[64] = '\0';

        const char *const ok[] = {"a", "dc-lk", "a-b", "k7m2p4", "0", "1a", "a--b", l63};
        const char *const bad[] = {"", "-a", "a-", "-", "A", "dc-LK", "a_b", "a.b", "a b", "caf\xc3\xa9", "a*", l64};
        for (size_t i = 0; i < ELEMENTSOF(ok); i++)
                if (!dns_label_valid(ok[i], strlen(ok[i])))
                        fail_msg("'%s' rejected", ok[i]);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (dns_label_valid(bad[i], strlen(bad[i])))
                        fail_msg("'%s' accepted", bad[i]);

        /* Only len bytes count: a label out of a longer name. */
        assert_true(dns_label_valid("dc-lk.example", 5));
        assert_false(dns_label_valid("dc-.example", 3));
        assert_true(dns_label_valid("ab-", 2));
}

static void test_dns_name_valid(void **state) {
        /* 253 characters: labels of 63, 63, 63 and 61 joined by three dots. */
        char n253[254], n254[255];
        memset(n253, 'a', 253);
        n253[63] = n253[127] = n253[191] = '.';
        n253[253] = '\0';
        assert_int_equal(strlen(n253), 253);
        memcpy(n254, n253, 253);
        n254[253] = 'a';
        n254[254] = '\0';
        char l64name[80];
        memset(l64name, 'a', 64);
        strcpy(l64name + 64, ".example");

        const char *const ok[] = {"a", "example.net", "k7m2p4.dc-lk.example.net", "decent-cloud.org", "1.2.3.4", n253};
        const char *const bad[] = {"",          ".",           "a..b",  ".a",     "a.",         "Example.net",
                                   "a_b.net",   "a b.net",     "-a.net", "a-.net", "example.net.", "*.example.net",
                                   n254,        l64name};
        for (size_t i = 0; i < ELEMENTSOF(ok); i++)
                if (!dns_name_valid(ok[i]))
                        fail_msg("'%s' rejected", ok[i]);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (dns_name_valid(bad[i]))
                        fail_msg("'%s' accepted", bad[i]);
}

static void test_vm_subdomain(void **state) {
        char buf[DNS_NAME_MAX + 1];
        assert_int_equal(vm_subdomain("k7m2p4", "dc-lk", "example.net", buf), 0);
        assert_string_equal(buf, "k7m2p4.dc-lk.example.net");
        assert_true(dns_name_valid(buf));

        /* Exactly 253 characters fit: 6 + 1 + 5 + 1 + 240 (only the length is checked here). */
        char domain[300];
        memset(domain, 'd', 240);
        domain[240] = '\0';
        assert_int_equal(vm_subdomain("k7m2p4", "dc-lk", domain, buf), 0);
        assert_int_equal(strlen(buf), 253);

        /* One more is too long. */
        domain[240] = 'd';
        domain[241] = '\0';
        assert_int_equal(vm_subdomain("k7m2p4", "dc-lk", domain, buf), -ENAMETOOLONG);

        /* Far too long does not overflow buf. */
        memset(domain, 'd', sizeof domain - 1);
        domain[sizeof domain - 1] = '\0';
        assert_int_equal(vm_subdomain("k7m2p4", "dc-lk", domain, buf), -ENAMETOOLONG);
}

static void test_proxy_protocol_strings(void **state) {
        static const struct {
                enum vm_proxy_protocol p;
                const char *text;
        } known[] = {{VM_PROXY_NONE, "none"}, {VM_PROXY_V1, "v1"}, {VM_PROXY_V2, "v2"}};
        for (size_t i = 0; i < ELEMENTSOF(known); i++) {
                assert_string_equal(vm_proxy_protocol_to_string(known[i].p), known[i].text);
                enum vm_proxy_protocol p = (enum vm_proxy_protocol)99;
                assert_int_equal(vm_proxy_protocol_from_string(known[i].text, &p), 0);
                assert_int_equal(p, known[i].p);
        }
        /* The numbers are a contract with proxy/routes.h (and the store's spelling). */
        assert_int_equal(VM_PROXY_NONE, 0);
        assert_int_equal(VM_PROXY_V1, 1);
        assert_int_equal(VM_PROXY_V2, 2);
        assert_null(vm_proxy_protocol_to_string((enum vm_proxy_protocol)3));

        static const char *const bad[] = {"", "V2", "v3", "v2 ", " v1", "1", "2", "proxy", "nonee"};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                enum vm_proxy_protocol p = (enum vm_proxy_protocol)99;
                assert_int_equal(vm_proxy_protocol_from_string(bad[i], &p), -EINVAL);
                assert_int_equal(p, 99); /* untouched */
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_port_map_seed_layout),
                cmocka_unit_test(test_port_map_other_sizes),
                cmocka_unit_test(test_port_map_agrees_with_layout),
                cmocka_unit_test(test_proto_to_string),
                cmocka_unit_test(test_vm_id_valid),
                cmocka_unit_test(test_dns_label_valid),
                cmocka_unit_test(test_dns_name_valid),
                cmocka_unit_test(test_vm_subdomain),
                cmocka_unit_test(test_proxy_protocol_strings),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
