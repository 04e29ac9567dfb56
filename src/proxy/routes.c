/* SPDX-License-Identifier: MIT */
/*
 * Immutable route table: open addressing (linear probing) over exact and wildcard names,
 * each slot pointing at a route node. Tables derived from one another by
 * route_table_update form a lineage and share their nodes: an update copies the slot
 * array and allocates nodes only for what it puts. A node that leaves the newest table
 * goes to the lineage's graveyard, tagged with the first table sequence number that no
 * longer holds it, and is freed once every live table is at least that new (the live
 * tables are kept in sequence order, so that is the head's number).
 */
#include "routes.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../core/util.h"
#include "../model/vm.h"

struct route_node {
        /* hash and len first: a probe reads them and the name's start in one cache line */
        uint64_t hash; /* of route.name */
        size_t len; /* strlen(route.name) */
        struct route route; /* what lookups return */
        uint64_t birth; /* sequence number of the first table holding it */
        /* graveyard: written under the lineage lock only, never read by lookups */
        uint64_t death; /* sequence number of the first table without it */
        struct route_node *next_dead;
};

struct route_lineage {
        pthread_mutex_t lock;
        struct route_table *live_head, *live_tail; /* every live table, by sequence number */
        const struct route_table *newest; /* the only table an update may derive from; NULL once freed */
        struct route_node *dead_head, *dead_tail; /* by death */
};

struct route_table {
        struct route_node **slots; /* NULL = empty */
        size_t cap; /* power of two, at least 2n + 2 */
        size_t n;
        bool has_default;
        struct route default_route;
        struct route_lineage *lineage;
        uint64_t seq;
        struct route_table *live_prev, *live_next; /* under the lineage lock */
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

static size_t cap_for(size_t n) {
        size_t cap = 16;
        while (cap < 2 * n + 2)
                cap *= 2;
        return cap;
}

/* The slot holding name (len bytes, hash h), or the empty slot where it would go. */
static size_t slot_find(struct route_node *const *slots, size_t cap, const char *name, size_t len, uint64_t h) {
        size_t s = h & (cap - 1);
        while (slots[s] && !(slots[s]->hash == h && slots[s]->len == len && memcmp(slots[s]->route.name, name, len) == 0))
                s = (s + 1) & (cap - 1);
        return s;
}

/* Empties slot i, moving later members of its probe run back so that every name stays
 * reachable from its home slot (no tombstones: lookups never slow down with churn). */
static void slot_delete(struct route_node **slots, size_t cap, size_t i) {
        size_t mask = cap - 1;
        for (size_t j = (i + 1) & mask; slots[j]; j = (j + 1) & mask) {
                size_t home = slots[j]->hash & mask;
                /* slots[j] may move to i when i lies between its home slot and j */
                if (((j - i) & mask) <= ((j - home) & mask)) {
                        slots[i] = slots[j];
                        i = j;
                }
        }
        slots[i] = NULL;
}

static struct route_node *node_new(const struct route *r, uint64_t birth) {
        struct route_node *x = malloc(sizeof *x);
        if (!x)
                return NULL;
        *x = (struct route_node){.route = *r, .birth = birth};
        x->len = strlen(x->route.name);
        x->hash = hash_bytes(x->route.name, x->len);
        return x;
}

static bool names_valid(const struct route *routes, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!memchr(routes[i].name, '\0', sizeof routes[i].name) || !route_name_valid(routes[i].name))
                        return false;
        return true;
}

/* Puts node x into t's slots (t->cap leaves room), replacing the node of the same name.
 * Returns the replaced node or NULL. */
static struct route_node *slot_put(struct route_table *t, struct route_node *x) {
        size_t s = slot_find(t->slots, t->cap, x->route.name, x->len, x->hash);
        struct route_node *old = t->slots[s];
        t->slots[s] = x;
        if (!old)
                t->n++;
        return old;
}

static void live_append(struct route_lineage *l, struct route_table *t) {
        t->live_prev = l->live_tail;
        t->live_next = NULL;
        if (l->live_tail)
                l->live_tail->live_next = t;
        else
                l->live_head = t;
        l->live_tail = t;
}

static void graveyard_add(struct route_lineage *l, struct route_node *x, uint64_t death) {
        x->death = death;
        x->next_dead = NULL;
        if (l->dead_tail)
                l->dead_tail->next_dead = x;
        else
                l->dead_head = x;
        l->dead_tail = x;
}

int route_table_new(const struct route *routes, size_t n, const struct route *default_route,
                    struct route_table **ret) {
        if (!names_valid(routes, n))
                return -EINVAL;
        struct route_table *t = calloc(1, sizeof *t);
        struct route_lineage *l = calloc(1, sizeof *l);
        if (!t || !l) {
                free(t);
                free(l);
                return -ENOMEM;
        }
        t->cap = cap_for(n);
        t->slots = calloc(t->cap, sizeof *t->slots);
        if (!t->slots)
                goto nomem;
        for (size_t i = 0; i < n; i++) {
                struct route_node *x = node_new(&routes[i], 0);
                if (!x)
                        goto nomem;
                free(slot_put(t, x)); /* a duplicate: the earlier one was never published */
        }
        if (default_route) {
                t->has_default = true;
                t->default_route = *default_route;
                t->default_route.name[0] = '\0';
        }
        pthread_mutex_init(&l->lock, NULL);
        live_append(l, t);
        l->newest = t;
        t->lineage = l;
        *ret = t;
        return 0;
nomem:
        for (size_t i = 0; t->slots && i < t->cap; i++)
                free(t->slots[i]);
        free(t->slots);
        free(t);
        free(l);
        return -ENOMEM;
}

int route_table_update(const struct route_table *base, const char *const *remove, size_t n_remove,
                       const struct route *put, size_t n_put, struct route_table **ret) {
        if (!names_valid(put, n_put))
                return -EINVAL;
        struct route_lineage *l = base->lineage;
        pthread_mutex_lock(&l->lock);
        if (l->newest != base) {
                pthread_mutex_unlock(&l->lock);
                return -ESTALE;
        }
        uint64_t seq = base->seq + 1;
        struct route_table *t = calloc(1, sizeof *t);
        struct route_node **fresh = calloc(n_put ? n_put : 1, sizeof *fresh);
        size_t cap = base->cap;
        while (cap < 2 * (base->n + n_put) + 2)
                cap *= 2;
        if (t)
                t->slots = malloc(cap * sizeof *t->slots);
        bool ok = t && fresh && t->slots;
        for (size_t i = 0; ok && i < n_put; i++)
                ok = (fresh[i] = node_new(&put[i], seq)) != NULL;
        if (!ok) {
                for (size_t i = 0; fresh && i < n_put; i++)
                        free(fresh[i]);
                free(fresh);
                if (t)
                        free(t->slots);
                free(t);
                pthread_mutex_unlock(&l->lock);
                return -ENOMEM;
        }

        struct route_node **slots = t->slots;
        *t = (struct route_table){.slots = slots, .cap = cap, .has_default = base->has_default,
                                  .default_route = base->default_route, .lineage = l, .seq = seq};
        if (cap == base->cap) {
                memcpy(t->slots, base->slots, cap * sizeof *t->slots);
                t->n = base->n;
        } else {
                memset(t->slots, 0, cap * sizeof *t->slots);
                for (size_t i = 0; i < base->cap; i++)
                        if (base->slots[i])
                                slot_put(t, base->slots[i]);
        }
        for (size_t i = 0; i < n_remove; i++) {
                size_t len = strlen(remove[i]);
                size_t s = slot_find(t->slots, t->cap, remove[i], len, hash_bytes(remove[i], len));
                if (!t->slots[s])
                        continue;
                graveyard_add(l, t->slots[s], seq);
                slot_delete(t->slots, t->cap, s);
                t->n--;
        }
        for (size_t i = 0; i < n_put; i++) {
                struct route_node *old = slot_put(t, fresh[i]);
                if (old && old->birth == seq)
                        free(old); /* an earlier put of this update: never published */
                else if (old)
                        graveyard_add(l, old, seq);
        }
        free(fresh);
        live_append(l, t);
        l->newest = t;
        pthread_mutex_unlock(&l->lock);
        *ret = t;
        return 0;
}

struct route_table *route_table_free(struct route_table *t) {
        if (!t)
                return NULL;
        struct route_lineage *l = t->lineage;
        pthread_mutex_lock(&l->lock);
        if (t->live_prev)
                t->live_prev->live_next = t->live_next;
        else
                l->live_head = t->live_next;
        if (t->live_next)
                t->live_next->live_prev = t->live_prev;
        else
                l->live_tail = t->live_prev;
        if (l->newest == t) {
                /* Its nodes leave the lineage's newest state: no later table will hold them. */
                for (size_t i = 0; i < t->cap; i++)
                        if (t->slots[i])
                                graveyard_add(l, t->slots[i], t->seq + 1);
                l->newest = NULL;
        }
        uint64_t oldest = l->live_head ? l->live_head->seq : UINT64_MAX;
        while (l->dead_head && l->dead_head->death <= oldest) {
                struct route_node *x = l->dead_head;
                l->dead_head = x->next_dead;
                free(x);
        }
        if (!l->dead_head)
                l->dead_tail = NULL;
        bool last = !l->live_head;
        pthread_mutex_unlock(&l->lock);
        if (last) {
                pthread_mutex_destroy(&l->lock);
                free(l);
        }
        free(t->slots);
        free(t);
        return NULL;
}

size_t route_table_size(const struct route_table *t) {
        return t->n;
}

static const struct route *find(const struct route_table *t, const char *key, size_t len) {
        const struct route_node *x = t->slots[slot_find(t->slots, t->cap, key, len, hash_bytes(key, len))];
        return x ? &x->route : NULL;
}

const struct route *route_table_get(const struct route_table *t, const char *name) {
        size_t len = strnlen(name, ROUTE_NAME_MAX + 1);
        return len <= ROUTE_NAME_MAX ? find(t, name, len) : NULL;
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
