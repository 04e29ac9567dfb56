/* SPDX-License-Identifier: MIT */
/* model/lease: MAC text, lease names, IPv4 text, the pool allocator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "core/config.h"
#include "model/lease.h"

static void test_mac(void **state) {
        uint8_t m[MAC_LEN];
        char text[MAC_TEXT_LEN + 1];
        assert_int_equal(mac_parse("52:54:00:AB:cd:0F", m), 0);
        assert_string_equal(mac_format(m, text), "52:54:00:ab:cd:0f");
        assert_int_equal(mac_parse("52-54-00-ab-cd-0f", m), 0);
        assert_string_equal(mac_format(m, text), "52:54:00:ab:cd:0f");
        static const char *const bad[] = {"",
                                          "52:54:00:ab:cd",
                                          "52:54:00:ab:cd:0f:11",
                                          "52:54-00:ab:cd:0f", /* mixed separators */
                                          "52:54:00:ab:cd:0g",
                                          "5254.00ab.cd0f",
                                          "00:00:00:00:00:00", /* zero */
                                          "01:00:5e:00:00:01", /* multicast */
                                          "ff:ff:ff:ff:ff:ff", /* broadcast */
                                          " 52:54:00:ab:cd:0f"};
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
                if (mac_parse(bad[i], m) != -EINVAL)
                        fail_msg("'%s' was accepted", bad[i]);
}

static void test_names_and_ipv4(void **state) {
        assert_true(lease_name_valid("vps-1762797183902442010"));
        assert_true(lease_name_valid("a"));
        assert_false(lease_name_valid(""));
        assert_false(lease_name_valid("-a"));
        assert_false(lease_name_valid("a-"));
        assert_false(lease_name_valid("Web1"));
        assert_false(lease_name_valid("a.b"));
        assert_false(lease_name_valid("a_b"));
        char long_name[65];
        memset(long_name, 'a', 64);
        long_name[64] = '\0';
        assert_false(lease_name_valid(long_name));
        long_name[63] = '\0';
        assert_true(lease_name_valid(long_name));
        uint32_t ip;
        char text[16];
        assert_int_equal(ipv4_parse("10.15.3.20", &ip), 0);
        assert_int_equal(ip, 0x0a0f0314);
        assert_string_equal(ipv4_format(ip, text), "10.15.3.20");
        assert_int_equal(ipv4_parse("2001:db8::1", &ip), -EINVAL);
        assert_int_equal(ipv4_parse("10.15.3", &ip), -EINVAL);
}

static void config_pool(struct config *c, const char *start, const char *end, const char *gw) {
        config_defaults(c);
        strcpy(c->dhcp_interface, "br0");
        strcpy(c->dhcp_subnet, "10.15.0.0");
        strcpy(c->dhcp_subnet_mask, "255.255.0.0");
        strcpy(c->dhcp_pool_start, start);
        strcpy(c->dhcp_pool_end, end);
        strcpy(c->dhcp_gateway, gw);
}

static void test_pool(void **state) {
        struct config c;
        struct lease_pool p;
        uint32_t ip, x;
        config_pool(&c, "10.15.3.1", "10.15.3.4", "10.15.3.2");
        strcpy(c.dhcp_listen_ip, "10.15.3.3");
        assert_int_equal(lease_pool_init(&p, &c), 0);
        /* The gateway and listen_ip are never handed out. */
        assert_int_equal(p.n_free, 2);
        assert_int_equal(lease_pool_find(&p, &ip), 0);
        assert_int_equal(ipv4_parse("10.15.3.1", &x), 0);
        assert_int_equal(ip, x);
        assert_false(lease_pool_contains(&p, p.gateway));
        assert_true(lease_pool_contains(&p, x));
        lease_pool_set(&p, ip, true);
        lease_pool_set(&p, ip, true); /* twice: counted once */
        assert_int_equal(p.n_free, 1);
        assert_int_equal(lease_pool_find(&p, &ip), 0);
        assert_int_equal(ipv4_parse("10.15.3.4", &x), 0);
        assert_int_equal(ip, x);
        lease_pool_set(&p, ip, true);
        assert_int_equal(lease_pool_find(&p, &ip), -ENOSPC);
        lease_pool_set(&p, x, false);
        assert_int_equal(lease_pool_find(&p, &ip), 0);
        assert_int_equal(ip, x);
        /* Outside the pool: ignored by set, reported by the subnet check. */
        assert_int_equal(ipv4_parse("10.15.9.9", &x), 0);
        lease_pool_set(&p, x, true);
        assert_false(lease_pool_used(&p, x));
        assert_true(lease_pool_in_subnet(&p, x));
        assert_int_equal(ipv4_parse("10.16.0.1", &x), 0);
        assert_false(lease_pool_in_subnet(&p, x));
        assert_int_equal(ipv4_parse("10.15.255.255", &x), 0);
        assert_false(lease_pool_in_subnet(&p, x)); /* broadcast */
        assert_false(lease_pool_in_subnet(&p, p.gateway));
        lease_pool_done(&p);

        /* A /16 pool: 65,534 addresses, found in order, the last word partly used. */
        config_pool(&c, "10.15.0.1", "10.15.255.254", "10.15.0.1");
        assert_int_equal(lease_pool_init(&p, &c), 0);
        assert_int_equal(p.n_free, 65533);
        uint32_t first;
        assert_int_equal(lease_pool_find(&p, &first), 0);
        assert_int_equal(ipv4_parse("10.15.0.2", &x), 0);
        assert_int_equal(first, x);
        size_t n = 0;
        while (lease_pool_find(&p, &ip) == 0) {
                lease_pool_set(&p, ip, true);
                n++;
        }
        assert_int_equal(n, 65533);
        assert_int_equal(p.n_free, 0);
        lease_pool_done(&p);

        /* DHCP off: no pool. */
        config_defaults(&c);
        assert_int_equal(lease_pool_init(&p, &c), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_mac),
                cmocka_unit_test(test_names_and_ipv4),
                cmocka_unit_test(test_pool),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
