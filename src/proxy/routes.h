/* SPDX-License-Identifier: MIT */
/*
 * The proxy's route table: an immutable snapshot mapping a host name (from the TLS SNI or
 * the HTTP Host header) to a backend. Lookup order: exact name, then the most specific
 * `*.suffix` wildcard, then the optional default route. Built by the reconciler from the
 * store, published to the proxy workers by pointer swap, never modified afterwards —
 * so workers read it without locks. Pure.
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
struct route_table *route_table_free(struct route_table *t); /* NULL-safe, returns NULL */
size_t route_table_size(const struct route_table *t);

/* The route for host (len bytes, lower case, no trailing dot), or NULL. The pointer stays
 * valid as long as the table does. Any thread. */
const struct route *route_table_lookup(const struct route_table *t, const char *host, size_t len);

/* Whether source may use route r (its allow-list, IPv4-mapped sources matched as IPv4). */
bool route_allows(const struct route *r, const struct ip_addr *source);
