/* SPDX-License-Identifier: MIT */
/*
 * The user-space forwards table and its canonical items (see forwards.h): a sorted array,
 * binary search on (proto, port).
 */
#include "forwards.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/util.h"

struct forward_table {
        size_t n;
        struct forward entries[];
};

static int forward_cmp(const void *a, const void *b) {
        const struct forward *x = a, *y = b;
        uint32_t kx = forward_key(x->proto, x->public_port), ky = forward_key(y->proto, y->public_port);
        return kx < ky ? -1 : kx > ky;
}

int forward_table_new(const struct forward *forwards, size_t n, struct forward_table **ret) {
        struct forward_table *t = malloc(sizeof *t + (n ? n : 1) * sizeof t->entries[0]);
        if (!t)
                return -ENOMEM;
        /* Tag each entry with its position so "a later one replaces an earlier one" survives
         * qsort, which is not stable: sort by key, then keep the last of each run. */
        struct {
                struct forward f;
                size_t pos;
        } *tmp = malloc((n ? n : 1) * sizeof *tmp);
        if (!tmp) {
                free(t);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                tmp[i].f = forwards[i];
                tmp[i].pos = i;
        }
        /* forward_cmp compares the leading struct forward; ties are broken below. */
        qsort(tmp, n, sizeof *tmp, forward_cmp);
        size_t m = 0;
        for (size_t i = 0; i < n;) {
                size_t best = i, j = i + 1;
                for (; j < n && forward_cmp(&tmp[j].f, &tmp[i].f) == 0; j++)
                        if (tmp[j].pos > tmp[best].pos)
                                best = j;
                t->entries[m++] = tmp[best].f;
                i = j;
        }
        free(tmp);
        t->n = m;
        *ret = t;
        return 0;
}

struct forward_table *forward_table_free(struct forward_table *t) {
        free(t);
        return NULL;
}

size_t forward_table_size(const struct forward_table *t) {
        return t ? t->n : 0;
}

const struct forward *forward_table_at(const struct forward_table *t, size_t i) {
        return &t->entries[i];
}

const struct forward *forward_table_lookup(const struct forward_table *t, uint8_t proto, uint16_t port) {
        if (!t)
                return NULL;
        uint32_t key = forward_key(proto, port);
        size_t lo = 0, hi = t->n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                uint32_t k = forward_key(t->entries[mid].proto, t->entries[mid].public_port);
                if (k == key)
                        return &t->entries[mid];
                if (k < key)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

static int vm_block_cmp(const void *a, const void *b) {
        const struct vm *x = *(const struct vm *const *)a, *y = *(const struct vm *const *)b;
        return x->block_start < y->block_start ? -1 : x->block_start > y->block_start;
}

int forwards_build(const struct vm *vms, size_t n, const struct forward_def *defs, size_t n_defs, size_t max_ports,
                   struct forward **ret, size_t *ret_n, size_t *ret_wanted) {
        size_t wanted = n_defs;
        for (size_t i = 0; i < n; i++)
                wanted += vms[i].block_size;
        const struct vm **order = malloc((n ? n : 1) * sizeof *order);
        struct forward *out = malloc((wanted ? wanted : 1) * sizeof *out);
        struct port_map_entry *pm = malloc(PORTS_PER_VM_MAX * sizeof *pm);
        if (!order || !out || !pm) {
                free(order);
                free(out);
                free(pm);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++)
                order[i] = &vms[i];
        qsort(order, n, sizeof *order, vm_block_cmp);
        size_t m = 0;
        for (size_t i = 0; i < n_defs && m < max_ports; i++)
                out[m++] = (struct forward){.proto = defs[i].proto,
                                            .public_port = defs[i].public_port,
                                            .backend = defs[i].ip,
                                            .backend_port = defs[i].port};
        for (size_t i = 0; i < n; i++) {
                const struct vm *vm = order[i];
                if (vm->block_size > PORTS_PER_VM_MAX || m + vm->block_size > max_ports)
                        break;
                size_t k = vm_port_map(vm->block_start, vm->block_size, pm);
                for (size_t j = 0; j < k; j++)
                        out[m++] = (struct forward){.proto = (uint8_t)pm[j].proto,
                                                    .public_port = pm[j].public_port,
                                                    .backend = vm->ip,
                                                    .backend_port = pm[j].vm_port};
        }
        free(pm);
        free(order);
        *ret = out;
        *ret_n = m;
        *ret_wanted = wanted;
        return 0;
}

static int u32_cmp(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
        return x < y ? -1 : x > y;
}

static int str_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

int forward_items_from_keys(const uint32_t *keys, size_t n, struct nft_items *ret) {
        uint32_t *k = malloc((n ? n : 1) * sizeof *k);
        char **items = calloc(n ? n : 1, sizeof *items);
        if (!k || !items) {
                free(k);
                free(items);
                return -ENOMEM;
        }
        if (n)
                memcpy(k, keys, n * sizeof *k);
        qsort(k, n, sizeof *k, u32_cmp);
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
                if (i > 0 && k[i] == k[i - 1])
                        continue;
                char buf[32];
                snprintf(buf, sizeof buf, "listener %s %u", proto_to_string((enum proto)(k[i] >> 16)),
                         (unsigned)(k[i] & 0xffff));
                if (!(items[m] = strdup(buf))) {
                        for (size_t j = 0; j < m; j++)
                                free(items[j]);
                        free(items);
                        free(k);
                        return -ENOMEM;
                }
                m++;
        }
        free(k);
        /* nft_items_diff merges by strcmp, so the items are in strcmp order, not port order. */
        qsort(items, m, sizeof *items, str_cmp);
        *ret = (struct nft_items){.items = items, .n = m};
        return 0;
}

int forward_expected_items(const struct vm *vms, size_t n, const struct forward_def *defs, size_t n_defs,
                           struct nft_items *ret) {
        struct forward *f;
        size_t m, wanted;
        int r = forwards_build(vms, n, defs, n_defs, SIZE_MAX, &f, &m, &wanted);
        if (r < 0)
                return r;
        uint32_t *keys = malloc((m ? m : 1) * sizeof *keys);
        if (!keys) {
                free(f);
                return -ENOMEM;
        }
        for (size_t i = 0; i < m; i++)
                keys[i] = forward_key(f[i].proto, f[i].public_port);
        free(f);
        r = forward_items_from_keys(keys, m, ret);
        free(keys);
        return r;
}
