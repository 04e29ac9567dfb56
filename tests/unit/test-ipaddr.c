/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of IP address values: strict parsing, canonical formatting, equality, and
 * which addresses may be forwarding targets (each class, both families).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "core/util.h"
#include "model/ipaddr.h"

static void test_round_trip_canonical(void **state) {
        static const struct {
                const char *in, *out;
                int family;
        } cases[] = {
                {"10.0.1.5", "10.0.1.5", AF_INET},
                {"203.0.113.1", "203.0.113.1", AF_INET},
                {"0.0.0.0", "0.0.0.0", AF_INET},
                {"255.255.255.255", "255.255.255.255", AF_INET},
                {"2001:0db8::0001", "2001:db8::1", AF_INET6},
                {"2001:DB8::A", "2001:db8::a", AF_INET6},
                {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1", AF_INET6},
                {"2001:db8:0:0:0:0:2:1", "2001:db8::2:1", AF_INET6},
                {"0:0:0:0:0:0:0:1", "::1", AF_INET6},
                {"::", "::", AF_INET6},
                {"fd00:0:0:0:0:0:0:0", "fd00::", AF_INET6},
                {"::ffff:10.0.0.1", "::ffff:10.0.0.1", AF_INET6},
                {"::FFFF:a00:1", "::ffff:10.0.0.1", AF_INET6},
                {"2001:db8:1:2:3:4:5:6", "2001:db8:1:2:3:4:5:6", AF_INET6},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct ip_addr a, b;
                char buf[IP_ADDR_STRLEN];
                if (ip_addr_parse(cases[i].in, &a) != 0)
                        fail_msg("'%s' rejected", cases[i].in);
                assert_int_equal(a.family, cases[i].family);
                assert_string_equal(ip_addr_format(&a, buf), cases[i].out);
                /* Formatting returns buf, and the canonical form parses to the same value. */
                assert_ptr_equal(ip_addr_format(&a, buf), buf);
                assert_int_equal(ip_addr_parse(buf, &b), 0);
                assert_true(ip_addr_equal(&a, &b));
                assert_string_equal(ip_addr_format(&b, buf), cases[i].out);
        }
}

static void test_parse_bytes(void **state) {
        struct ip_addr a;
        assert_int_equal(ip_addr_parse("10.0.1.5", &a), 0);
        static const uint8_t v4[4] = {10, 0, 1, 5};
        assert_memory_equal(a.bytes, v4, 4);
        assert_int_equal(ip_addr_parse("2001:db8::1", &a), 0);
        static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
        assert_memory_equal(a.bytes, v6, 16);
}

static void test_parse_rejects(void **state) {
        static const char *const bad[] = {
                "",
                "10.0.0",
                "10.0.0.0.1",
                "1.2.3.4/24",
                "[::1]",
                " 1.2.3.4",
                "1.2.3.4 ",
                "1.2.3.4\n",
                "fe80::1%eth0",
                "256.1.1.1",
                "999.1.1.1",
                "1.2.3.-4",
                "0x0a.0.0.1",
                "01.2.3.4", /* leading zero: octal to some parsers, decimal to others */
                "1..2.3",
                "a.b.c.d",
                ":::1",
                "1::2::3",
                "2001:db8::1::",
                "12345::1",
                "2001:db8:0:0:0:0:0:0:1",
                "::ffff:1.2.3",
                "g::1",
                "example.net",
                "localhost",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                struct ip_addr a;
                memset(&a, 0x77, sizeof a);
                struct ip_addr before = a;
                if (ip_addr_parse(bad[i], &a) != -EINVAL)
                        fail_msg("'%s' accepted", bad[i]);
                /* The output is untouched on failure. */
                assert_memory_equal(&a, &before, sizeof a);
        }
        struct ip_addr a;
        assert_int_equal(ip_addr_parse(NULL, &a), -EINVAL);
}

static void test_format_unset(void **state) {
        struct ip_addr a = {0};
        char buf[IP_ADDR_STRLEN];
        assert_string_equal(ip_addr_format(&a, buf), "?");
}

static void test_equal(void **state) {
        struct ip_addr a, b, c, d;
        assert_int_equal(ip_addr_parse("10.0.0.1", &a), 0);
        assert_int_equal(ip_addr_parse("10.0.0.1", &b), 0);
        assert_int_equal(ip_addr_parse("::ffff:10.0.0.1", &c), 0);
        assert_int_equal(ip_addr_parse("10.0.0.2", &d), 0);
        assert_true(ip_addr_equal(&a, &b));
        assert_false(ip_addr_equal(&a, &c)); /* different families */
        assert_false(ip_addr_equal(&a, &d));
        /* IPv4 compares only its 4 bytes, whatever lies in the rest. */
        b.bytes[10] = 0xaa;
        assert_true(ip_addr_equal(&a, &b));
        assert_int_equal(ip_addr_parse("2001:db8::1", &a), 0);
        assert_int_equal(ip_addr_parse("2001:0db8:0:0::0001", &b), 0);
        assert_int_equal(ip_addr_parse("2001:db8::2", &c), 0);
        assert_true(ip_addr_equal(&a, &b));
        assert_false(ip_addr_equal(&a, &c));
}

static void test_target_check(void **state) {
        static const struct {
                const char *ip;
                enum ip_target_problem want;
        } cases[] = {
                /* IPv4 */
                {"10.0.1.5", IP_TARGET_OK},
                {"192.168.1.1", IP_TARGET_OK},
                {"203.0.113.7", IP_TARGET_OK},
                {"1.0.0.0", IP_TARGET_OK},
                {"126.255.255.255", IP_TARGET_OK},
                {"128.0.0.1", IP_TARGET_OK},
                {"169.253.0.1", IP_TARGET_OK},
                {"169.255.0.1", IP_TARGET_OK},
                {"223.255.255.255", IP_TARGET_OK},
                {"0.0.0.0", IP_TARGET_UNSPECIFIED},
                {"127.0.0.1", IP_TARGET_LOOPBACK},
                {"127.255.255.254", IP_TARGET_LOOPBACK},
                {"224.0.0.1", IP_TARGET_MULTICAST},
                {"239.255.255.255", IP_TARGET_MULTICAST},
                {"255.255.255.255", IP_TARGET_BROADCAST},
                {"169.254.0.1", IP_TARGET_LINK_LOCAL},
                {"169.254.255.254", IP_TARGET_LINK_LOCAL},
                {"0.1.2.3", IP_TARGET_RESERVED},
                {"240.0.0.1", IP_TARGET_RESERVED},
                {"255.255.255.254", IP_TARGET_RESERVED},
                /* IPv6 */
                {"2001:db8::1", IP_TARGET_OK},
                {"fd00::5", IP_TARGET_OK},
                {"fec0::1", IP_TARGET_OK},
                {"::2", IP_TARGET_OK},
                {"::", IP_TARGET_UNSPECIFIED},
                {"::1", IP_TARGET_LOOPBACK},
                {"ff02::1", IP_TARGET_MULTICAST},
                {"ff05::1:3", IP_TARGET_MULTICAST},
                {"fe80::1", IP_TARGET_LINK_LOCAL},
                {"febf:ffff::1", IP_TARGET_LINK_LOCAL},
                {"::ffff:10.0.0.1", IP_TARGET_RESERVED},
                {"::ffff:127.0.0.1", IP_TARGET_RESERVED},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct ip_addr a;
                assert_int_equal(ip_addr_parse(cases[i].ip, &a), 0);
                enum ip_target_problem got = ip_target_check(&a);
                if (got != cases[i].want)
                        fail_msg("%s: got %d (%s), want %d (%s)", cases[i].ip, got, ip_target_problem_to_string(got),
                                 cases[i].want, ip_target_problem_to_string(cases[i].want));
        }
}

static void test_problem_strings(void **state) {
        static const struct {
                enum ip_target_problem p;
                const char *word;
        } cases[] = {
                {IP_TARGET_OK, "ok"},
                {IP_TARGET_UNSPECIFIED, "unspecified"},
                {IP_TARGET_LOOPBACK, "loopback"},
                {IP_TARGET_MULTICAST, "multicast"},
                {IP_TARGET_BROADCAST, "broadcast"},
                {IP_TARGET_LINK_LOCAL, "link-local"},
                {IP_TARGET_RESERVED, "reserved"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const char *s = ip_target_problem_to_string(cases[i].p);
                assert_non_null(s);
                if (!strstr(s, cases[i].word))
                        fail_msg("'%s' does not mention '%s'", s, cases[i].word);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip_canonical),
                cmocka_unit_test(test_parse_bytes),
                cmocka_unit_test(test_parse_rejects),
                cmocka_unit_test(test_format_unset),
                cmocka_unit_test(test_equal),
                cmocka_unit_test(test_target_check),
                cmocka_unit_test(test_problem_strings),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
