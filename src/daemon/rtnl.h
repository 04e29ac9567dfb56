/* SPDX-License-Identifier: MIT */
/*
 * What the reconciler asks the kernel's routing netlink (issue 6): the interface of the IPv4
 * default route (outbound SNAT leaves by it unless [outbound] interface says otherwise), the
 * ports of the VM bridge (the anti-spoofing table guards frames entering through them), and a
 * socket that becomes readable when any link changes (a port joins or leaves). Daemon only,
 * main thread; nothing here logs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "nft/nft.h"

/* The interface of the IPv4 default route into name: the default route the kernel would use
 * for an internet address (one lookup, whatever the size of the routing table), or, when a
 * more specific route covers that address, the main table's default route with the lowest
 * metric (a dump). The first hop's for a multipath route. 0, -ENOENT when there is none, or
 * a negative errno. */
int rtnl_default_route_ifname(char name[static NFT_IFNAME_MAX]);

/* The ports of bridge (a malloc'd array sorted by name, NULL when none). -ENOENT when there is
 * no interface of that name, -ENOTDIR when it is not a bridge (*ret then empty either way), or
 * another negative errno. */
int rtnl_bridge_ports(const char *bridge, struct nft_port **ret, size_t *ret_n);

/* A non-blocking, close-on-exec netlink socket subscribed to link changes: its fd, or a
 * negative errno. */
int rtnl_link_watch_open(void);
/* Reads everything queued on fd. True when a link changed (or notifications were lost). */
bool rtnl_link_watch_drain(int fd);
