/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/nft/vmnet.c: what the configuration's [dhcp] and [outbound] make of the
 * VM network (the SNAT rule, the bridge table), and which of the things it cannot do count as
 * failures (asked for in [outbound] or [dhcp] interface) rather than notes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/util.h"
#include "nft/nft.h"

/* The seed's example: 10.15.3.0/24 on eth0, the gateway 10.15.3.1, this node 10.15.3.10. */
static struct config seed_config(void) {
        struct config c;
        config_defaults(&c);
        snprintf(c.dhcp_interface, sizeof c.dhcp_interface, "br0");
        snprintf(c.dhcp_subnet, sizeof c.dhcp_subnet, "10.15.3.0");
        snprintf(c.dhcp_subnet_mask, sizeof c.dhcp_subnet_mask, "255.255.255.0");
        snprintf(c.dhcp_gateway, sizeof c.dhcp_gateway, "10.15.3.1");
        return c;
}

static void test_masquerade_by_default(void **state) {
        struct config c = seed_config();
        struct nft_vmnet n;
        char problem[256];

        assert_false(nft_vmnet_derive(&c, "vmbr0", &n, problem, sizeof problem));
        assert_string_equal(problem, "");
        assert_int_equal(n.subnet, 0x0a0f0300);
        assert_int_equal(n.mask, 0xffffff00);
        assert_string_equal(n.snat_ifname, "vmbr0");
        assert_int_equal(n.snat_ip, 0);
        assert_string_equal(n.bridge, "br0");
        assert_int_equal(n.gateway_ip, 0x0a0f0301);

        /* listen_ip is the gateway's own address when set. */
        snprintf(c.dhcp_listen_ip, sizeof c.dhcp_listen_ip, "10.15.3.10");
        assert_false(nft_vmnet_derive(&c, "vmbr0", &n, problem, sizeof problem));
        assert_int_equal(n.gateway_ip, 0x0a0f030a);
}

static void test_outbound_ip_and_interface(void **state) {
        struct config c = seed_config();
        struct nft_vmnet n, again;
        char problem[256];

        snprintf(c.outbound_ip, sizeof c.outbound_ip, "203.0.113.10");
        assert_false(nft_vmnet_derive(&c, "vmbr0", &n, problem, sizeof problem));
        assert_string_equal(n.snat_ifname, "vmbr0");
        assert_int_equal(n.snat_ip, 0xcb00710a);
        /* [outbound] interface wins over the default route's. */
        snprintf(c.outbound_interface, sizeof c.outbound_interface, "eth1");
        assert_false(nft_vmnet_derive(&c, "vmbr0", &again, problem, sizeof problem));
        assert_string_equal(again.snat_ifname, "eth1");
        assert_false(nft_vmnet_equal(&n, &again));
        assert_false(nft_vmnet_derive(&c, NULL, &n, problem, sizeof problem));
        assert_true(nft_vmnet_equal(&n, &again));
        /* A subnet given by a host address is taken as its network. */
        snprintf(c.dhcp_subnet, sizeof c.dhcp_subnet, "10.15.3.7");
        assert_false(nft_vmnet_derive(&c, NULL, &n, problem, sizeof problem));
        assert_int_equal(n.subnet, 0x0a0f0300);
}

/* No default route: a note when SNAT is only the default, a failure when [outbound] asks. */
static void test_no_default_route(void **state) {
        struct config c = seed_config();
        struct nft_vmnet n;
        char problem[256];

        assert_false(nft_vmnet_derive(&c, "", &n, problem, sizeof problem));
        assert_non_null(strstr(problem, "no IPv4 default route"));
        assert_string_equal(n.snat_ifname, "");
        assert_string_equal(n.bridge, "br0"); /* anti-spoofing does not need it */
        snprintf(c.outbound_ip, sizeof c.outbound_ip, "203.0.113.10");
        assert_true(nft_vmnet_derive(&c, NULL, &n, problem, sizeof problem));
        assert_non_null(strstr(problem, "no IPv4 default route"));
        assert_string_equal(n.snat_ifname, "");
}

static void test_failures(void **state) {
        struct config c = seed_config();
        struct nft_vmnet n;
        char problem[256];

        /* The default route leaves by the VM bridge itself: nothing to NAT. */
        assert_true(nft_vmnet_derive(&c, "br0", &n, problem, sizeof problem));
        assert_non_null(strstr(problem, "the default route's interface br0 is the VMs' own interface"));
        assert_string_equal(n.snat_ifname, "");
        /* [outbound] without a subnet. */
        c = seed_config();
        c.dhcp_subnet[0] = '\0';
        snprintf(c.outbound_interface, sizeof c.outbound_interface, "eth1");
        assert_true(nft_vmnet_derive(&c, "eth0", &n, problem, sizeof problem));
        assert_non_null(strstr(problem, "no VM subnet to NAT"));
        /* ...and with neither, nothing at all (DHCP off, no SNAT): no problem. */
        c.outbound_interface[0] = '\0';
        c.dhcp_interface[0] = '\0';
        assert_false(nft_vmnet_derive(&c, "eth0", &n, problem, sizeof problem));
        assert_string_equal(problem, "");
        assert_string_equal(n.bridge, "");
        assert_string_equal(n.snat_ifname, "");
        /* A mask that is no netmask. */
        c = seed_config();
        snprintf(c.dhcp_subnet_mask, sizeof c.dhcp_subnet_mask, "255.0.255.0");
        assert_true(nft_vmnet_derive(&c, "eth0", &n, problem, sizeof problem));
        assert_non_null(strstr(problem, "is not an IPv4 network"));
        /* Names nft cannot take: both problems are reported, "; "-separated. */
        c = seed_config();
        snprintf(c.dhcp_interface, sizeof c.dhcp_interface, "br\"0");
        snprintf(c.outbound_interface, sizeof c.outbound_interface, "e\\th");
        assert_true(nft_vmnet_derive(&c, "eth0", &n, problem, sizeof problem));
        assert_non_null(strstr(problem, "anti-spoofing: the interface name 'br\"0' cannot be used"));
        assert_non_null(strstr(problem, "; outbound: [outbound] interface 'e\\th' cannot be used"));
        assert_string_equal(n.bridge, "");
        /* A problem longer than the room is cut, never overflowed. */
        char tiny[8];
        assert_true(nft_vmnet_derive(&c, "eth0", &n, tiny, sizeof tiny));
        assert_int_equal(strlen(tiny), sizeof tiny - 1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_masquerade_by_default),
                cmocka_unit_test(test_outbound_ip_and_interface),
                cmocka_unit_test(test_no_default_route),
                cmocka_unit_test(test_failures),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
