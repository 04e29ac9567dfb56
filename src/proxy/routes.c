/* SPDX-License-Identifier: MIT */
/* Immutable route table: open addressing over exact and wildcard names. */
#include "routes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../core/util.h"
#include "../model/vm.h"

struct route_table {
        struct route *routes;
        size_t n;
        uint32_t *slots; /* index+1 into routes; 0 = empty */
        size_t cap; /* power of two, at least 2n */
        bool has_default;
        struct route default_route;
};

const char *proxy_protocol_to_string(enum proxy_protocol p) {
        switch (p) {
        case PROXY_PROTOCOL_V1: return "v1";
        case PROXY_PROTOCOL_V2: return "v2";
        default: return "none";
        }
}

int proxy_protocol_from_string(const char *s, enum proxy_protocol *ret) {
        if (streq(s, "none") || streq(s, ""))
                *ret = PROXY_PROTOCOL_NONE;
        else if (streq(s, "v1"))
                *ret = PROXY_PROTOCOL_V1;
        else if (streq(s, "v2"))
                *ret = PROXY_PROTOCOL_V2;
        else
                return -EINVAL;
        return 0;
}

static uint64_t hash_bytes(const char *s, size_t n) {
        uint64_t h = 0xcbf29ce484222325u;
        for (size_t i = 0; i < n; i++)
                h = (h ^ (unsigned char)s[i]) * 0x100000001b3u;
        return h ^ (h >> 29);
}

static bool route_name_valid(const char *name) {
        if (name[0] == '*') {
                if (name[1] != '.')
                        return false;
                name += 2;
        }
        return dns_name_valid(name);
}

int route_table_new(const struct route *routes, size_t n, const struct route *default_route,
                    struct route_table **ret) {
        struct route_table *t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        t->cap = 16;
        while (t->cap < 2 * n + 2)
                t->cap *= 2;
        t->routes = calloc(n ? n : 1, sizeof *t->routes);
        t->slots = calloc(t->cap, sizeof *t->slots);
        if (!t->routes || !t->slots) {
                route_table_free(t);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                if (!route_name_valid(routes[i].name)) {
                        route_table_free(t);
                        return -EINVAL;
                }
                size_t len = strlen(routes[i].name);
                size_t s = hash_bytes(routes[i].name, len) & (t->cap - 1);
                while (t->slots[s] && !streq(t->routes[t->slots[s] - 1].name, routes[i].name))
                        s = (s + 1) & (t->cap - 1);
                if (t->slots[s])
                        t->routes[t->slots[s] - 1] = routes[i];
                else {
                        t->routes[t->n] = routes[i];
                        t->slots[s] = (uint32_t)++t->n;
                }
        }
        if (default_route) {
                t->has_default = true;
                t->default_route = *default_route;
                t->default_route.name[0] = '\0';
        }
        *ret = t;
        return 0;
}

struct route_table *route_table_free(struct route_table *t) {
        if (!t)
                return NULL;
        free(t->routes);
        free(t->slots);
        free(t);
        return NULL;
}

size_t route_table_size(const struct route_table *t) {
        return t->n;
}

static const struct route *find(const struct route_table *t, const char *key, size_t len) {
        size_t s = hash_bytes(key, len) & (t->cap - 1);
        while (t->slots[s]) {
                const struct route *r = &t->routes[t->slots[s] - 1];
                if (strlen(r->name) == len && memcmp(r->name, key, len) == 0)
                        return r;
                s = (s + 1) & (t->cap - 1);
        }
        return NULL;
}

const struct route *route_table_lookup(const struct route_table *t, const char *host, size_t len) {
        if (len == 0 || len > ROUTE_NAME_MAX)
                return t->has_default ? &t->default_route : NULL;
        const struct route *r = find(t, host, len);
        if (r)
                return r;
        /* Wildcards, most specific first: a.b.example.net tries *.b.example.net, then
         * *.example.net, then *.net. */
        char key[ROUTE_NAME_MAX + 2];
        for (size_t i = 0; i < len; i++) {
                if (host[i] != '.')
                        continue;
                size_t rest = len - i; /* ".b.example.net" */
                key[0] = '*';
                memcpy(key + 1, host + i, rest);
                if ((r = find(t, key, rest + 1)))
                        return r;
        }
        return t->has_default ? &t->default_route : NULL;
}

bool route_allows(const struct route *r, const struct ip_addr *source) {
        if (r->n_allow == 0)
                return true;
        for (unsigned i = 0; i < r->n_allow; i++)
                if (ip_cidr_contains(&r->allow[i], source))
                        return true;
        return false;
}
