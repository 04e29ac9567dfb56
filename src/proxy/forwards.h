/* SPDX-License-Identifier: MIT */
/*
 * The user-space forwards table (forward_mode = userspace): an immutable snapshot mapping a
 * (protocol, public port) to a target address and port, built by the reconciler from the
 * standalone forwards and the VMs' port blocks and published to the proxy workers exactly
 * like the route table. Each
 * worker keeps one listener per entry. Also the canonical items ("listener tcp 20000")
 * that `edgegw check` compares between the desired VMs and the proxy's live listeners.
 * Pure.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "../model/ipaddr.h"
#include "../model/resource.h"
#include "../model/vm.h"
#include "../nft/nft.h"

struct forward {
        uint8_t proto; /* enum proto */
        uint16_t public_port;
        struct ip_addr backend;
        uint16_t backend_port;
};

/* A (proto, port) pair as one number, (proto << 16) | port: the order of the table. */
static inline uint32_t forward_key(uint8_t proto, uint16_t port) {
        return ((uint32_t)proto << 16) | port;
}

struct forward_table;

/* Builds a table from forwards[0..n) (copied, sorted by proto then port). A later entry for
 * the same (proto, port) replaces an earlier one. Returns 0 or -ENOMEM. */
int forward_table_new(const struct forward *forwards, size_t n, struct forward_table **ret);
struct forward_table *forward_table_free(struct forward_table *t); /* NULL-safe, returns NULL */
size_t forward_table_size(const struct forward_table *t);
/* The i-th entry in (proto, port) order; i < size. Valid as long as the table is. */
const struct forward *forward_table_at(const struct forward_table *t, size_t i);
/* The entry for (proto, port), or NULL. O(log n). Any thread. */
const struct forward *forward_table_lookup(const struct forward_table *t, uint8_t proto, uint16_t port);

/* Every port to forward: the standalone forwards defs[0..n_defs) first, in order, then the
 * whole port maps of vms[0..n), whole VMs in order of their block start; taking entries while
 * the total stays within max_ports. *ret (malloc'd, caller frees) gets the forwards, *ret_n
 * their count, *ret_wanted the count without the limit (so a caller can say how many were
 * refused). Either array may be NULL when its count is 0. Returns 0 or -ENOMEM. */
int forwards_build(const struct vm *vms, size_t n, const struct forward_def *defs, size_t n_defs, size_t max_ports,
                   struct forward **ret, size_t *ret_n, size_t *ret_wanted);

/* Sorted canonical items "listener tcp|udp PORT" for keys[0..n) (forward_key values, any
 * order, duplicates folded). Returns 0 or -ENOMEM. */
int forward_items_from_keys(const uint32_t *keys, size_t n, struct nft_items *ret);
/* The items the proxy should have for vms[0..n) and defs[0..n_defs). Returns 0 or -ENOMEM. */
int forward_expected_items(const struct vm *vms, size_t n, const struct forward_def *defs, size_t n_defs,
                           struct nft_items *ret);
