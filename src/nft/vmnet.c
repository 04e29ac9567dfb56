/* SPDX-License-Identifier: MIT */
/*
 * The VM network's rules (issue 6) from the configuration: which subnet is NATed out of
 * which interface to which address, and which bridge the anti-spoofing table guards. The
 * reconciler calls nft_vmnet_derive() at every full run and resync with the default route's
 * interface it read from the kernel, and renders the result (render.c). Pure: no I/O.
 */
#include "nft.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../core/config.h"
#include "../core/util.h"

/* Appends one problem to problem ("; "-separated). */
static void note(char *problem, size_t size, const char *fmt, ...) _printf_(3, 4);
static void note(char *problem, size_t size, const char *fmt, ...) {
        size_t len = strnlen(problem, size);
        va_list ap;
        if (size == 0 || len + 1 >= size)
                return;
        if (len > 0) {
                snprintf(problem + len, size - len, "; ");
                len = strnlen(problem, size);
        }
        va_start(ap, fmt);
        vsnprintf(problem + len, size - len, fmt, ap);
        va_end(ap);
}

/* Contiguous ones from the top, at least one. */
static bool netmask_valid(uint32_t mask) {
        return mask != 0 && ((~mask + 1) & ~mask) == 0;
}

bool nft_vmnet_derive(const struct config *c, const char *default_ifname, struct nft_vmnet *ret, char *problem,
                      size_t size) {
        uint32_t subnet = 0, mask = 0, ip = 0;
        bool failed = false;

        *ret = (struct nft_vmnet){0};
        if (size > 0)
                problem[0] = '\0';

        if (c->dhcp_interface[0]) {
                if (!nft_ifname_renderable(c->dhcp_interface)) {
                        note(problem, size, "anti-spoofing: the interface name '%s' cannot be used in nft rules",
                             c->dhcp_interface);
                        failed = true;
                } else {
                        strcpy_bounded(ret->bridge, sizeof ret->bridge, c->dhcp_interface);
                        const char *own = c->dhcp_listen_ip[0] ? c->dhcp_listen_ip : c->dhcp_gateway;
                        if (own[0] && ipv4_parse(own, &ip) == 0)
                                ret->gateway_ip = ip;
                }
        }

        /* [outbound] set means the operator asked for SNAT: not getting it is a failure. With
         * only the [dhcp] subnet, SNAT is a default, and no default route merely a note. */
        bool outbound = c->outbound_ip[0] || c->outbound_interface[0];
        if (!c->dhcp_subnet[0] || !c->dhcp_subnet_mask[0]) {
                if (outbound)
                        note(problem, size,
                             "outbound: [outbound] is set but [dhcp] subnet and subnet_mask are not: no VM subnet to NAT");
                return failed || outbound;
        }
        if (ipv4_parse(c->dhcp_subnet, &subnet) < 0 || ipv4_parse(c->dhcp_subnet_mask, &mask) < 0 ||
            !netmask_valid(mask)) {
                note(problem, size, "outbound: [dhcp] subnet %s/%s is not an IPv4 network: no SNAT", c->dhcp_subnet,
                     c->dhcp_subnet_mask);
                return true;
        }
        const char *ifname = c->outbound_interface[0] ? c->outbound_interface : default_ifname;
        const char *whose = c->outbound_interface[0] ? "[outbound] interface" : "the default route's interface";
        if (!ifname || !ifname[0]) {
                note(problem, size,
                     "outbound: no [outbound] interface and no IPv4 default route: VM traffic leaves without SNAT");
                return failed || outbound;
        }
        if (!nft_ifname_renderable(ifname)) {
                note(problem, size, "outbound: %s '%s' cannot be used in nft rules: no SNAT", whose, ifname);
                return true;
        }
        if (c->dhcp_interface[0] && streq(ifname, c->dhcp_interface)) {
                note(problem, size, "outbound: %s %s is the VMs' own interface ([dhcp] interface): no SNAT", whose,
                     ifname);
                return true;
        }
        if (c->outbound_ip[0] && (ipv4_parse(c->outbound_ip, &ip) < 0 || ip == 0)) {
                note(problem, size, "outbound: ip '%s' is not an IPv4 address: no SNAT", c->outbound_ip);
                return true;
        }
        ret->subnet = subnet & mask;
        ret->mask = mask;
        strcpy_bounded(ret->snat_ifname, sizeof ret->snat_ifname, ifname);
        ret->snat_ip = c->outbound_ip[0] ? ip : 0;
        return failed;
}

bool nft_vmnet_equal(const struct nft_vmnet *a, const struct nft_vmnet *b) {
        return a->subnet == b->subnet && a->mask == b->mask && streq(a->snat_ifname, b->snat_ifname) &&
               a->snat_ip == b->snat_ip && streq(a->bridge, b->bridge) && a->gateway_ip == b->gateway_ip;
}
