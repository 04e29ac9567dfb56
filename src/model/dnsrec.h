/* SPDX-License-Identifier: MIT */
/*
 * The DNS records edgegw wants published (issue 5), derived purely from the desired state:
 * every VM's {slug}.{datacenter}.{domain} and its extra host names, and every route's
 * host name, each pointing at the gateway's public address(es). The store keeps these as
 * the DNS outbox (store_dns_sync_desired()); the DNS reconciler drives them to the provider.
 * No I/O; the one allocation is the result array.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../dns/wire.h" /* enum dns_type: DNS_TYPE_A, DNS_TYPE_AAAA */
#include "resource.h"
#include "vm.h"

struct config;

#define DNS_OWNER_KIND_MAX 7
#define DNS_OWNER_ID_MAX 64

struct dns_record_want {
        char name[DNS_NAME_MAX + 1]; /* lower case, inside the zone */
        uint16_t type; /* DNS_TYPE_A or DNS_TYPE_AAAA */
        char content[46]; /* the address, canonical text */
        uint32_t ttl;
        bool proxied; /* Cloudflare's orange cloud; other providers ignore it */
        char owner_kind[DNS_OWNER_KIND_MAX + 1]; /* "vm" or "route" */
        char owner_id[DNS_OWNER_ID_MAX + 1];
};

/* Orders by (name, type): byte order of name, then type. */
int dns_record_want_compare(const struct dns_record_want *a, const struct dns_record_want *b);
/* Whether two wants publish the same thing (name, type, content, ttl, proxied, owner). */
bool dns_record_want_equal(const struct dns_record_want *a, const struct dns_record_want *b);

/* Whether name is zone itself or below it (case-insensitive, whole labels). */
bool dns_name_in_zone(const char *name, const char *zone);

/* The records c asks for: for each of the n_vms VMs (metas, parallel to vms, may be NULL)
 * its {slug}.{datacenter}.{domain} and extra host names, for each route that asks for one
 * (route_def.dns) its host name unless it is a wildcard; each name gets an A (c->public_ip) and/or AAAA (c->public_ip6)
 * record as config_dns_records() says, with c->dns_ttl and c->dns_proxied. Names outside
 * c->dns_zone are skipped. The result is sorted by (name, type) and has one record per
 * (name, type): when two owners claim one, a VM wins over a route, then the smaller id.
 * *ret is a malloc'd array the caller frees (NULL when *ret_n = 0). Returns 0, -ENOMEM. */
int dns_records_desired(const struct config *c, const struct vm *vms, const struct vm_meta *metas, size_t n_vms,
                        const struct route_def *routes, size_t n_routes, struct dns_record_want **ret,
                        size_t *ret_n);

/* The union of two sorted want lists (as dns_records_desired() returns them): a's records
 * and those of b's inside zone that a does not already have (same name and type: a wins).
 * *ret is a malloc'd array (NULL when *ret_n = 0). -EINVAL when a list is not sorted
 * strictly; -ENOMEM. */
int dns_records_merge(const struct dns_record_want *a, size_t n_a, const struct dns_record_want *b, size_t n_b,
                      const char *zone, struct dns_record_want **ret, size_t *ret_n);
