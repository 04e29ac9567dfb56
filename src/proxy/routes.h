/* SPDX-License-Identifier: MIT */
/*
 * The proxy's route table: an immutable snapshot mapping a host name (from the TLS SNI or
 * the HTTP Host header) to a backend. Lookup order: exact name, then the most specific
 * `*.suffix` wildcard, then the optional default route. Built by the reconciler from the
 * store, published to the proxy workers by pointer swap, never modified afterwards —
 * so workers read it without locks. A small change is a new table derived from the
 * previous one (route_table_update): it copies the slot array and shares every unchanged
 * route with it, so its cost is the size of the change plus one copy of the slots, not a
 * rebuild of every route. Pure.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../model/ipaddr.h"

#define ROUTE_NAME_MAX 255
#define ROUTE_ALLOW_MAX 16

enum proxy_protocol { PROXY_PROTOCOL_NONE, PROXY_PROTOCOL_V1, PROXY_PROTOCOL_V2 };
const char *proxy_protocol_to_string(enum proxy_protocol p);
int proxy_protocol_from_string(const char *s, enum proxy_protocol *ret);

struct route {
        char name[ROUTE_NAME_MAX + 1]; /* lower case; "*.example.net" for a wildcard; "" = default */
        struct ip_addr backend;
        uint16_t https_port; /* :443 traffic goes here (usually 443) */
        uint16_t http_port; /* plain HTTP passthrough target (usually 80) */
        bool http_passthrough; /* :80 requests for this name are relayed, not redirected */
        enum proxy_protocol proxy_protocol; /* header sent to the backend first */
        uint8_t n_allow; /* 0 = everyone; else only sources inside allow[] */
        struct ip_cidr allow[ROUTE_ALLOW_MAX];
};

struct route_table;

/* Builds a table from routes[0..n) (copied) and an optional default route. Names must be
 * unique; a later duplicate replaces an earlier one. Returns 0, -EINVAL for an invalid
 * name, or -ENOMEM. */
int route_table_new(const struct route *routes, size_t n, const struct route *default_route,
                    struct route_table **ret);

/* Builds the table base would be after removing the names remove[0..n_remove) (absent ones
 * are ignored) and then adding put[0..n_put) (copied; a put replaces the route of the same
 * name, a later put an earlier one). The default route is base's. base is not modified and
 * stays valid; the two tables share their unchanged routes, and each may be freed at any
 * time (a shared route is freed with the last table holding it). base must be the newest
 * table derived from its lineage (route_table_new, then each update of the previous
 * result), else -ESTALE. Costs O(n_remove + n_put) plus one copy of base's slot array
 * (O(size) when the slot array has to grow). Returns 0, -EINVAL for an invalid put name,
 * -ESTALE, or -ENOMEM. Building and freeing may run on any thread. */
int route_table_update(const struct route_table *base, const char *const *remove, size_t n_remove,
                       const struct route *put, size_t n_put, struct route_table **ret);

struct route_table *route_table_free(struct route_table *t); /* NULL-safe, returns NULL */
size_t route_table_size(const struct route_table *t);

/* The route named exactly name ("*.example.net" for a wildcard; no wildcard or default
 * fallback), or NULL. */
const struct route *route_table_get(const struct route_table *t, const char *name);

/* The route for host (len bytes, lower case, no trailing dot), or NULL. The pointer stays
 * valid as long as the table does. Any thread. */
const struct route *route_table_lookup(const struct route_table *t, const char *host, size_t len);

/* Whether source may use route r (its allow-list, IPv4-mapped sources matched as IPv4). */
bool route_allows(const struct route *r, const struct ip_addr *source);
