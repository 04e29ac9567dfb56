/* SPDX-License-Identifier: MIT */
/*
 * The desired DNS records: a pure derivation from VMs, routes and the [dns] config. See
 * dnsrec.h.
 */
#include "dnsrec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/config.h"
#include "ipaddr.h"

int dns_record_want_compare(const struct dns_record_want *a, const struct dns_record_want *b) {
        int c = strcmp(a->name, b->name);
        if (c != 0)
                return c < 0 ? -1 : 1;
        return a->type < b->type ? -1 : a->type > b->type ? 1 : 0;
}

bool dns_record_want_equal(const struct dns_record_want *a, const struct dns_record_want *b) {
        return dns_record_want_compare(a, b) == 0 && strcmp(a->content, b->content) == 0 && a->ttl == b->ttl &&
               a->proxied == b->proxied && strcmp(a->owner_kind, b->owner_kind) == 0 &&
               strcmp(a->owner_id, b->owner_id) == 0;
}

bool dns_name_in_zone(const char *name, const char *zone) {
        size_t n = strlen(name), z = strlen(zone);
        if (z == 0 || n < z)
                return false;
        if (strcasecmp(name + n - z, zone) != 0)
                return false;
        return n == z || name[n - z - 1] == '.';
}

/* Sort key beyond (name, type), so the winner of a duplicate is chosen deterministically. */
static int want_order(const void *pa, const void *pb) {
        const struct dns_record_want *a = pa, *b = pb;
        int c = dns_record_want_compare(a, b);
        if (c != 0)
                return c;
        c = strcmp(b->owner_kind, a->owner_kind); /* "vm" before "route" */
        if (c != 0)
                return c;
        return strcmp(a->owner_id, b->owner_id);
}

struct builder {
        struct dns_record_want *a;
        size_t n, cap;
        const struct config *c;
        unsigned types;
        char v4[IP_ADDR_STRLEN], v6[IP_ADDR_STRLEN]; /* "" when not published */
};

static int add_one(struct builder *b, const char *name, uint16_t type, const char *content, const char *kind,
                   const char *id) {
        if (b->n == b->cap) {
                size_t ncap = b->cap ? b->cap * 2 : 16;
                struct dns_record_want *na = realloc(b->a, ncap * sizeof *na);
                if (!na)
                        return -ENOMEM;
                b->a = na;
                b->cap = ncap;
        }
        struct dns_record_want *w = &b->a[b->n++];
        memset(w, 0, sizeof *w);
        size_t i = 0;
        for (; name[i] && i < DNS_NAME_MAX; i++)
                w->name[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] - 'A' + 'a') : name[i];
        w->type = type;
        snprintf(w->content, sizeof w->content, "%s", content);
        w->ttl = b->c->dns_ttl;
        w->proxied = b->c->dns_proxied;
        snprintf(w->owner_kind, sizeof w->owner_kind, "%s", kind);
        snprintf(w->owner_id, sizeof w->owner_id, "%s", id);
        return 0;
}

static int add_name(struct builder *b, const char *name, const char *kind, const char *id) {
        if (name[0] == '\0' || name[0] == '*' || strlen(name) > DNS_NAME_MAX || !dns_name_in_zone(name, b->c->dns_zone))
                return 0;
        int r = 0;
        if (b->v4[0])
                r = add_one(b, name, DNS_TYPE_A, b->v4, kind, id);
        if (r >= 0 && b->v6[0])
                r = add_one(b, name, DNS_TYPE_AAAA, b->v6, kind, id);
        return r;
}

/* The canonical text of an address of the wanted family, or "" (not published). */
static void address_text(const char *text, int family, char out[static IP_ADDR_STRLEN]) {
        struct ip_addr a;
        out[0] = '\0';
        if (text[0] && ip_addr_parse(text, &a) >= 0 && a.family == family)
                ip_addr_format(&a, out);
}

int dns_records_desired(const struct config *c, const struct vm *vms, const struct vm_meta *metas, size_t n_vms,
                        const struct route_def *routes, size_t n_routes, struct dns_record_want **ret,
                        size_t *ret_n) {
        struct builder b = {.c = c, .types = config_dns_records(c)};
        if (b.types & CONFIG_DNS_A)
                address_text(c->public_ip, AF_INET, b.v4);
        if (b.types & CONFIG_DNS_AAAA)
                address_text(c->public_ip6, AF_INET6, b.v6);
        int r = 0;
        for (size_t i = 0; r >= 0 && i < n_vms; i++) {
                char name[DNS_NAME_MAX + 1];
                if (vm_subdomain(vms[i].slug, c->datacenter, c->domain, name) >= 0)
                        r = add_name(&b, name, "vm", vms[i].id);
                for (size_t j = 0; r >= 0 && metas && j < metas[i].n_hostnames && j < VM_HOSTNAMES_MAX; j++)
                        r = add_name(&b, metas[i].hostnames[j], "vm", vms[i].id);
        }
        for (size_t i = 0; r >= 0 && i < n_routes; i++)
                if (routes[i].dns)
                        r = add_name(&b, routes[i].hostname, "route", routes[i].id);
        if (r < 0) {
                free(b.a);
                return r;
        }
        if (b.n > 0)
                qsort(b.a, b.n, sizeof *b.a, want_order);
        size_t out = 0;
        for (size_t i = 0; i < b.n; i++)
                if (out == 0 || dns_record_want_compare(&b.a[out - 1], &b.a[i]) != 0)
                        b.a[out++] = b.a[i];
        if (out == 0) {
                free(b.a);
                b.a = NULL;
        }
        *ret = b.a;
        *ret_n = out;
        return 0;
}

int dns_records_merge(const struct dns_record_want *a, size_t n_a, const struct dns_record_want *b, size_t n_b,
                      const char *zone, struct dns_record_want **ret, size_t *ret_n) {
        for (size_t i = 1; i < n_a; i++)
                if (dns_record_want_compare(&a[i - 1], &a[i]) >= 0)
                        return -EINVAL;
        for (size_t i = 1; i < n_b; i++)
                if (dns_record_want_compare(&b[i - 1], &b[i]) >= 0)
                        return -EINVAL;
        struct dns_record_want *out = NULL;
        size_t n = 0;
        if (n_a + n_b > 0 && !(out = calloc(n_a + n_b, sizeof *out)))
                return -ENOMEM;
        size_t i = 0, j = 0;
        while (i < n_a || j < n_b) {
                int c = i == n_a ? 1 : j == n_b ? -1 : dns_record_want_compare(&a[i], &b[j]);
                if (c <= 0) {
                        out[n++] = a[i++];
                        if (c == 0)
                                j++;
                } else {
                        if (dns_name_in_zone(b[j].name, zone))
                                out[n++] = b[j];
                        j++;
                }
        }
        if (n == 0) {
                free(out);
                out = NULL;
        }
        *ret = out;
        *ret_n = n;
        return 0;
}
