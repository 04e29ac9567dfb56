/* SPDX-License-Identifier: MIT */
/* Open-addressing string hash map with backward-shift deletion (no tombstones). */
#include "hashmap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct slot {
        char *key; /* NULL = empty */
        void *value;
        uint64_t hash;
};

struct hashmap {
        struct slot *slots;
        size_t cap; /* power of two */
        size_t n;
};

static uint64_t hash_string(const char *s) {
        /* FNV-1a, then a final mix so linear probing sees spread-out low bits. */
        uint64_t h = 0xcbf29ce484222325u;
        for (; *s; s++)
                h = (h ^ (unsigned char)*s) * 0x100000001b3u;
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdu;
        h ^= h >> 33;
        return h;
}

int hashmap_new(struct hashmap **ret) {
        struct hashmap *m = calloc(1, sizeof *m);
        if (!m)
                return -ENOMEM;
        m->cap = 16;
        m->slots = calloc(m->cap, sizeof *m->slots);
        if (!m->slots) {
                free(m);
                return -ENOMEM;
        }
        *ret = m;
        return 0;
}

struct hashmap *hashmap_free(struct hashmap *m) {
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->cap; i++)
                free(m->slots[i].key);
        free(m->slots);
        free(m);
        return NULL;
}

static size_t find_slot(const struct hashmap *m, const char *key, uint64_t h) {
        size_t i = h & (m->cap - 1);
        while (m->slots[i].key && (m->slots[i].hash != h || strcmp(m->slots[i].key, key) != 0))
                i = (i + 1) & (m->cap - 1);
        return i;
}

static int grow(struct hashmap *m) {
        size_t ncap = m->cap * 2;
        struct slot *ns = calloc(ncap, sizeof *ns);
        if (!ns)
                return -ENOMEM;
        for (size_t i = 0; i < m->cap; i++) {
                if (!m->slots[i].key)
                        continue;
                size_t j = m->slots[i].hash & (ncap - 1);
                while (ns[j].key)
                        j = (j + 1) & (ncap - 1);
                ns[j] = m->slots[i];
        }
        free(m->slots);
        m->slots = ns;
        m->cap = ncap;
        return 0;
}

int hashmap_put(struct hashmap *m, const char *key, void *value) {
        if ((m->n + 1) * 4 > m->cap * 3) {
                int r = grow(m);
                if (r < 0)
                        return r;
        }
        uint64_t h = hash_string(key);
        size_t i = find_slot(m, key, h);
        if (m->slots[i].key) {
                m->slots[i].value = value;
                return 0;
        }
        char *k = strdup(key);
        if (!k)
                return -ENOMEM;
        m->slots[i] = (struct slot){.key = k, .value = value, .hash = h};
        m->n++;
        return 0;
}

void *hashmap_get(const struct hashmap *m, const char *key) {
        size_t i = find_slot(m, key, hash_string(key));
        return m->slots[i].key ? m->slots[i].value : NULL;
}

void *hashmap_remove(struct hashmap *m, const char *key) {
        size_t i = find_slot(m, key, hash_string(key));
        if (!m->slots[i].key)
                return NULL;
        void *v = m->slots[i].value;
        free(m->slots[i].key);
        m->slots[i].key = NULL;
        m->n--;
        /* Backward shift: pull later entries of the probe run into the hole. */
        size_t hole = i;
        for (size_t j = (i + 1) & (m->cap - 1); m->slots[j].key; j = (j + 1) & (m->cap - 1)) {
                size_t home = m->slots[j].hash & (m->cap - 1);
                /* Move j into the hole unless its home lies cyclically in (hole, j]. */
                bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
                if (stays)
                        continue;
                m->slots[hole] = m->slots[j];
                m->slots[j].key = NULL;
                hole = j;
        }
        return v;
}

size_t hashmap_size(const struct hashmap *m) {
        return m->n;
}

bool hashmap_next(const struct hashmap *m, size_t *i, const char **ret_key, void **ret_value) {
        for (; *i < m->cap; (*i)++)
                if (m->slots[*i].key) {
                        if (ret_key)
                                *ret_key = m->slots[*i].key;
                        if (ret_value)
                                *ret_value = m->slots[*i].value;
                        (*i)++;
                        return true;
                }
        return false;
}
