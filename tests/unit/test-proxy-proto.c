/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the PROXY protocol headers: exact v1 lines and exact v2 bytes for IPv4,
 * IPv6, IPv4-mapped IPv6 (sent as IPv4), mixed and unsupported families, and buffers that
 * are too small.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "core/util.h"
#include "proxy/proxy_proto.h"

/* A socket address from text, as getpeername() would fill it. */
static struct sockaddr_storage addr(const char *ip, uint16_t port) {
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof ss);
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
                in->sin_family = AF_INET;
                in->sin_port = htons(port);
        } else if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons(port);
        } else
                fail_msg("bad address %s", ip);
        return ss;
}
#define SA(x) ((const struct sockaddr *)&(x))

/* Hex text of bytes, for readable comparisons. */
static void hex(const uint8_t *b, size_t n, char *out) {
        for (size_t i = 0; i < n; i++)
                sprintf(out + 2 * i, "%02x", b[i]);
        out[2 * n] = '\0';
}

static void assert_v2(const struct sockaddr_storage *src, const struct sockaddr_storage *dst, const char *want_hex) {
        uint8_t out[PROXY_V2_MAX + 8];
        memset(out, 0xee, sizeof out);
        ssize_t n = proxy_v2_build(SA(*src), SA(*dst), out, sizeof out);
        assert_true(n > 0);
        assert_int_equal((size_t)n * 2, strlen(want_hex));
        char got[2 * sizeof out + 1];
        hex(out, (size_t)n, got);
        assert_string_equal(got, want_hex);
        assert_int_equal(out[n], 0xee);
}

static void assert_v1(const struct sockaddr *src, const struct sockaddr *dst, const char *want) {
        char out[PROXY_V1_MAX];
        ssize_t n = proxy_v1_build(src, dst, out, sizeof out);
        assert_int_equal(n, strlen(want));
        assert_string_equal(out, want);
}

#define SIG "0d0a0d0a000d0a515549540a"

static void test_v2_ipv4(void **state) {
        struct sockaddr_storage s = addr("203.0.113.7", 51234), d = addr("198.51.100.1", 443);
        assert_v2(&s, &d,
                  SIG "21" "11" "000c"
                      "cb007107" "c6336401" "c822" "01bb");
}

static void test_v2_ipv6(void **state) {
        struct sockaddr_storage s = addr("2001:db8::7", 40000), d = addr("2001:db8:1::443", 443);
        assert_v2(&s, &d,
                  SIG "21" "21" "0024"
                      "20010db8000000000000000000000007"
                      "20010db8000100000000000000000443"
                      "9c40" "01bb");
}

static void test_v2_mapped(void **state) {
        /* Both mapped (a dual-stack listener's view of an IPv4 client): plain TCP4. */
        struct sockaddr_storage s = addr("::ffff:203.0.113.7", 51234), d = addr("::ffff:198.51.100.1", 443);
        assert_v2(&s, &d,
                  SIG "21" "11" "000c"
                      "cb007107" "c6336401" "c822" "01bb");
        /* One mapped, one plain IPv4: still TCP4. */
        struct sockaddr_storage d4 = addr("198.51.100.1", 443);
        assert_v2(&s, &d4,
                  SIG "21" "11" "000c"
                      "cb007107" "c6336401" "c822" "01bb");
        assert_v2(&d4, &s,
                  SIG "21" "11" "000c"
                      "c6336401" "cb007107" "01bb" "c822");
        /* Not mapped: ::ffff:0:a.b.c.d (SIIT) and ::a.b.c.d stay IPv6. */
        struct sockaddr_storage siit = addr("::ffff:0:203.0.113.7", 1), compat = addr("::203.0.113.7", 2);
        assert_v2(&siit, &compat,
                  SIG "21" "21" "0024"
                      "0000000000000000ffff0000cb007107"
                      "000000000000000000000000cb007107"
                      "0001" "0002");
}

static void test_v2_mixed_and_unsupported(void **state) {
        /* IPv4 and real IPv6: PROXY with UNSPEC family, no addresses. */
        struct sockaddr_storage s4 = addr("203.0.113.7", 1), s6 = addr("2001:db8::1", 2);
        assert_v2(&s4, &s6, SIG "21" "00" "0000");
        assert_v2(&s6, &s4, SIG "21" "00" "0000");

        struct sockaddr_un un = {.sun_family = AF_UNIX, .sun_path = "/run/x"};
        struct sockaddr_storage unspec;
        memset(&unspec, 0, sizeof unspec);
        uint8_t out[PROXY_V2_MAX];
        assert_int_equal(proxy_v2_build((const struct sockaddr *)&un, SA(s4), out, sizeof out), -EAFNOSUPPORT);
        assert_int_equal(proxy_v2_build(SA(s4), (const struct sockaddr *)&un, out, sizeof out), -EAFNOSUPPORT);
        assert_int_equal(proxy_v2_build(SA(unspec), SA(unspec), out, sizeof out), -EAFNOSUPPORT);
        assert_int_equal(proxy_v2_build(NULL, SA(s4), out, sizeof out), -EAFNOSUPPORT);
        assert_int_equal(proxy_v2_build(SA(s4), NULL, out, sizeof out), -EAFNOSUPPORT);
}

static void test_v2_too_small(void **state) {
        struct sockaddr_storage s4 = addr("203.0.113.7", 1), d4 = addr("198.51.100.1", 2);
        struct sockaddr_storage s6 = addr("2001:db8::1", 1), d6 = addr("2001:db8::2", 2);
        uint8_t out[PROXY_V2_MAX];
        memset(out, 0xee, sizeof out);
        assert_int_equal(proxy_v2_build(SA(s4), SA(d4), out, 27), -ENOSPC);
        assert_int_equal(out[0], 0xee); /* untouched */
        assert_int_equal(proxy_v2_build(SA(s4), SA(d4), out, 28), 28);
        assert_int_equal(proxy_v2_build(SA(s6), SA(d6), out, 51), -ENOSPC);
        assert_int_equal(proxy_v2_build(SA(s6), SA(d6), out, 52), 52);
        assert_int_equal(proxy_v2_build(SA(s4), SA(d6), out, 15), -ENOSPC);
        assert_int_equal(proxy_v2_build(SA(s4), SA(d6), out, 16), 16);
        assert_int_equal(proxy_v2_build(SA(s4), SA(d4), NULL, 0), -ENOSPC);
}

static void test_v1(void **state) {
        struct sockaddr_storage s4 = addr("203.0.113.7", 51234), d4 = addr("198.51.100.1", 443);
        assert_v1(SA(s4), SA(d4), "PROXY TCP4 203.0.113.7 198.51.100.1 51234 443\r\n");

        struct sockaddr_storage s6 = addr("2001:DB8:0:0::7", 40000), d6 = addr("2001:db8:1::443", 443);
        assert_v1(SA(s6), SA(d6), "PROXY TCP6 2001:db8::7 2001:db8:1::443 40000 443\r\n");

        /* Mapped addresses go as IPv4, also next to a plain IPv4 address. */
        struct sockaddr_storage m4 = addr("::ffff:203.0.113.7", 51234), md = addr("::ffff:198.51.100.1", 443);
        assert_v1(SA(m4), SA(md), "PROXY TCP4 203.0.113.7 198.51.100.1 51234 443\r\n");
        assert_v1(SA(m4), SA(d4), "PROXY TCP4 203.0.113.7 198.51.100.1 51234 443\r\n");

        /* Ports 0 and 65535, addresses at the ends of the ranges. */
        struct sockaddr_storage z = addr("0.0.0.0", 0), f = addr("255.255.255.255", 65535);
        assert_v1(SA(z), SA(f), "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n");

        /* Families that differ, or that the protocol cannot carry. */
        assert_v1(SA(s4), SA(d6), "PROXY UNKNOWN\r\n");
        assert_v1(SA(s6), SA(m4), "PROXY UNKNOWN\r\n");
        struct sockaddr_un un = {.sun_family = AF_UNIX, .sun_path = "/run/x"};
        assert_v1((const struct sockaddr *)&un, (const struct sockaddr *)&un, "PROXY UNKNOWN\r\n");
        assert_v1(NULL, SA(d4), "PROXY UNKNOWN\r\n");
}

static void test_v1_longest_and_too_small(void **state) {
        struct sockaddr_storage s = addr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535),
                                d = addr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
        static const char want[] = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe "
                                   "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
        assert_int_equal(strlen(want), 104); /* the spec's worst case for TCP6 */
        assert_v1(SA(s), SA(d), want);

        char out[PROXY_V1_MAX];
        memset(out, 'x', sizeof out);
        assert_int_equal(proxy_v1_build(SA(s), SA(d), out, 104), -ENOSPC); /* no room for the NUL */
        assert_int_equal(out[0], 'x');
        assert_int_equal(proxy_v1_build(SA(s), SA(d), out, 105), 104);
        assert_int_equal(proxy_v1_build(NULL, NULL, out, 15), -ENOSPC);
        assert_int_equal(proxy_v1_build(NULL, NULL, out, 16), 15);
        assert_string_equal(out, "PROXY UNKNOWN\r\n");
        assert_int_equal(proxy_v1_build(NULL, NULL, NULL, 0), -ENOSPC);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_v2_ipv4),
                cmocka_unit_test(test_v2_ipv6),
                cmocka_unit_test(test_v2_mapped),
                cmocka_unit_test(test_v2_mixed_and_unsupported),
                cmocka_unit_test(test_v2_too_small),
                cmocka_unit_test(test_v1),
                cmocka_unit_test(test_v1_longest_and_too_small),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
