/* SPDX-License-Identifier: MIT */
/*
 * A string-keyed hash map (open addressing, linear probing). Keys are copied; values are
 * borrowed pointers whose owner is the caller. Used where the daemon indexes many VMs
 * (the reconciler's view of what it applied) so a change costs O(1), not O(VMs).
 * Not thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct hashmap;

int hashmap_new(struct hashmap **ret);
/* NULL-safe; frees the keys, not the values. Returns NULL. */
struct hashmap *hashmap_free(struct hashmap *m);
/* Inserts or replaces. Returns 0 or -ENOMEM. */
int hashmap_put(struct hashmap *m, const char *key, void *value);
void *hashmap_get(const struct hashmap *m, const char *key);
/* Removes key; returns its value or NULL. */
void *hashmap_remove(struct hashmap *m, const char *key);
size_t hashmap_size(const struct hashmap *m);
/* Iteration: start with *i = 0; returns false at the end. Do not modify during iteration. */
bool hashmap_next(const struct hashmap *m, size_t *i, const char **ret_key, void **ret_value);
