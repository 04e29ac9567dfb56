/* SPDX-License-Identifier: MIT */
/*
 * DHCP leases (issue 6): a MAC bound to one IPv4 address of the [dhcp] pool, with an
 * optional host name, and the pool allocator. The store keeps the leases (the truth); the
 * dnsmasq files, the anti-spoofing set and `vm add --mac` follow from them. Pure.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipaddr.h"
#include "vm.h"

struct config;

#define MAC_LEN 6
#define MAC_TEXT_LEN 17 /* "aa:bb:cc:dd:ee:ff" */
#define LEASE_NAME_MAX 63

struct lease {
        uint8_t mac[MAC_LEN];
        uint32_t ip; /* IPv4, host order */
        char name[LEASE_NAME_MAX + 1]; /* a host name label ("" = none): NAME and NAME.{domain} resolve */
        char vm_id[VM_ID_MAX + 1]; /* the VM `vm add --mac` made with it ("" = none) */
        int64_t created_at, updated_at;
};

/* "aa:bb:cc:dd:ee:ff" or with '-' (any case) -> mac. A unicast, non-zero address only
 * (a multicast or broadcast MAC never asks for a lease). 0 or -EINVAL. */
int mac_parse(const char *text, uint8_t mac[static MAC_LEN]);
/* Lower case with ':' into out (MAC_TEXT_LEN + 1 bytes); returns out. */
char *mac_format(const uint8_t mac[static MAC_LEN], char *out);

/* A lease's host name: one DNS label, lower-case letters, digits and '-', not starting or
 * ending with '-', 1..63 characters. */
bool lease_name_valid(const char *name);

/* The IPv4 text of a host-order address into out (16 bytes); returns out. */
char *ipv4_format(uint32_t ip, char *out);
/* Dotted quad -> host order. 0 or -EINVAL. */
int ipv4_parse(const char *text, uint32_t *ret);

/* The [dhcp] pool: pool_start..pool_end of the config, minus the gateway and listen_ip. */
struct lease_pool {
        uint32_t start, end; /* inclusive, host order */
        uint32_t gateway, listen_ip; /* never handed out (0 = none) */
        uint32_t net, mask; /* the subnet */
        uint64_t *used; /* one bit per pool address */
        size_t n_free;
};

/* From c's [dhcp] keys (validated). -EINVAL when DHCP is not configured, -ENOMEM. */
int lease_pool_init(struct lease_pool *p, const struct config *c);
void lease_pool_done(struct lease_pool *p);
/* Whether ip is an address of the pool that may be handed out (not the gateway/listen_ip). */
bool lease_pool_contains(const struct lease_pool *p, uint32_t ip);
/* Whether ip is inside the subnet at all (a fixed lease may be outside the pool, but not
 * outside the subnet, the network or broadcast address, or the gateway/listen_ip). */
bool lease_pool_in_subnet(const struct lease_pool *p, uint32_t ip);
/* Marks ip used or free (ignored outside the pool). */
void lease_pool_set(struct lease_pool *p, uint32_t ip, bool used);
bool lease_pool_used(const struct lease_pool *p, uint32_t ip);
/* The lowest free pool address into *ret: 0, or -ENOSPC when the pool is exhausted. */
int lease_pool_find(const struct lease_pool *p, uint32_t *ret);
