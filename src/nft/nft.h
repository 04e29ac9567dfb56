/* SPDX-License-Identifier: MIT */
/*
 * The kernel fast path: the whole `inet edgegw` nftables table, rendered from the desired
 * state and applied in one transaction. Nothing here touches any other table.
 *
 * Pure half (render.c, live.c; linked into the core library and unit-tested):
 *   - nft_render_full(): the complete table as nft script text, replacing whatever table
 *     exists atomically ("table; delete table; table { ... }") and carrying over the byte
 *     and packet values of per-VM counters so a re-apply does not reset bandwidth totals.
 *   - nft_render_vm_add()/nft_render_vm_del(): the incremental commands for one VM (its
 *     map elements and counters), as text; nft_render_forward_add()/_del() the same for one
 *     standalone forward (one element, no counter); batch.c sends the same changes as netlink.
 *   - nft_expected_items() / nft_live_parse_json() / nft_items_diff(): drift detection.
 *     Both the desired state and the live table (from `nft -j list table inet edgegw`)
 *     are reduced to a sorted list of canonical item strings, then compared.
 * Edge half (daemon only): apply.c, a libnftables context that runs a script as one
 * transaction and lists the live table as JSON; batch.c, per-VM changes sent as one
 * libnftnl netlink batch that reads nothing back, so a change costs the same with 10 or
 * 10,000 VMs (libnftables reads the whole table into its cache before every command).
 *
 * Table layout (see docs/architecture.md; the maps are nft_maps[] below):
 *   maps tcp4/udp4: inet_service : ipv4_addr . inet_service   (public port -> VM ip . port,
 *                   for every port of every VM's block and for every standalone forward)
 *   maps tcp6/udp6: inet_service : ipv6_addr . inet_service
 *   counters in_<slug>/out_<slug>; maps cin4/cout4 (ipv4_addr : counter), cin6/cout6
 *   chain prerouting (nat, dstnat): fib daddr type local dnat through the four maps
 *   chain output (nat, -100): the same, for connections made on the gateway itself
 *   chain forward (filter): per-VM counters by address, then ct status dnat accept
 * Every rule carries a comment "edgegw:<tag>" so drift detection can name it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/strbuf.h"
#include "../model/resource.h"
#include "../model/vm.h"

#define NFT_TABLE_FAMILY "inet"
#define NFT_TABLE_NAME "edgegw"
#define NFT_COUNTER_NAME_MAX 16

/* The table's maps, in the order they are rendered and their changes sent (render.c). */
enum nft_map_kind { NFT_MAP_PORTS, NFT_MAP_COUNTER_IN, NFT_MAP_COUNTER_OUT };
struct nft_map_def {
        const char *name;
        int family; /* AF_INET or AF_INET6: of the address in the element */
        enum nft_map_kind kind;
        enum proto proto; /* NFT_MAP_PORTS only */
};
#define NFT_MAPS 8
extern const struct nft_map_def nft_maps[NFT_MAPS];

/* Whether the renderers (and the batch) accept a VM: an address family we have maps for and
 * a slug of [a-z0-9] (it becomes part of nft syntax in counter names). */
bool nft_vm_renderable(const struct vm *vm);
/* Whether they accept a forward: IPv4 or IPv6 target, proto tcp or udp, both ports non-zero. */
bool nft_forward_renderable(const struct forward_def *f);

/* Counter state read from the live table, carried into a full re-render. */
struct nft_counter_value {
        char name[NFT_COUNTER_NAME_MAX]; /* "in_<slug>" or "out_<slug>" */
        uint64_t packets;
        uint64_t bytes;
};

/* A sorted, de-duplicated list of canonical strings describing a table, e.g.
 *   "chain forward filter forward 0", "rule prerouting edgegw:dnat-tcp4",
 *   "counter in_k7m2p4", "elem tcp4 20000 10.0.1.5 22", "elem cin4 10.0.1.5 in_k7m2p4". */
struct nft_items {
        char **items;
        size_t n;
};
void nft_items_done(struct nft_items *it);

/* Appends to out the script that atomically replaces the table with one describing vms[0..n)
 * and the standalone forwards fwds[0..n_fwds) (either may be NULL when its count is 0).
 * counters (may be NULL) gives starting values for counters of the same name. Returns 0,
 * -EINVAL (nothing appended) when a VM or forward is not renderable, or -ENOMEM. */
int nft_render_full(const struct vm *vms, size_t n, const struct forward_def *fwds, size_t n_fwds,
                    const struct nft_counter_value *counters, size_t n_counters, struct strbuf *out);
/* Appends the commands that add one VM's counters and map elements to an existing table. */
int nft_render_vm_add(const struct vm *vm, struct strbuf *out);
/* Appends the commands that remove them again (elements first, then counters). */
int nft_render_vm_del(const struct vm *vm, struct strbuf *out);
/* Appends the command that adds (removes) one forward's element. -EINVAL when not renderable. */
int nft_render_forward_add(const struct forward_def *f, struct strbuf *out);
int nft_render_forward_del(const struct forward_def *f, struct strbuf *out);

/* The counter names for a VM. */
void nft_counter_names(const struct vm *vm, char in[static NFT_COUNTER_NAME_MAX], char out[static NFT_COUNTER_NAME_MAX]);

/* Desired items for vms[0..n) and the forwards fwds[0..n_fwds) (a forward's element is an
 * "elem tcp4 ..." item like a VM port's). Returns 0, -EINVAL or -ENOMEM. */
int nft_expected_items(const struct vm *vms, size_t n, const struct forward_def *fwds, size_t n_fwds,
                       struct nft_items *ret);
/* Items of the live table from libnftables' JSON listing of `list table inet edgegw`.
 * Returns 0, or -EBADMSG for JSON it cannot understand. Counter values, when wanted, go to
 * *ret_counters (malloc'd, may be NULL). */
int nft_live_parse_json(const char *json, struct nft_items *ret, struct nft_counter_value **ret_counters,
                        size_t *ret_n_counters);
/* Appends one line per difference ("missing: ITEM" / "unexpected: ITEM") to report (may be
 * NULL) and returns the number of differences. */
size_t nft_items_diff(const struct nft_items *want, const struct nft_items *have, struct strbuf *report);

/* ---- edge: counter values straight from the kernel (counters.c, libnftnl) ---- */
/* Every counter of the edgegw table with its values (malloc'd array, NULL when there are
 * none, e.g. no table yet). A negative errno if the dump failed. */
int nft_read_counters(struct nft_counter_value **ret, size_t *ret_n);

/* ---- edge: libnftables (apply.c) ---- */
struct nft_apply;
/* Returns 0 or -ENOMEM. */
int nft_apply_new(struct nft_apply **ret);
struct nft_apply *nft_apply_free(struct nft_apply *a); /* NULL-safe, returns NULL */
/* Runs script as one transaction. On failure returns a negative errno and, when
 * ret_error is non-NULL, a malloc'd copy of nft's error text. */
int nft_apply_run(struct nft_apply *a, const char *script, char **ret_error);
/* The live table as JSON (malloc'd), or -ENOENT when the table does not exist. */
int nft_apply_list_json(struct nft_apply *a, char **ret_json);

/* ---- edge: libnftnl + libmnl (batch.c) ---- */
/* One transaction's worth of changes; every pointer is borrowed, any list may be empty. */
struct nft_changes {
        const struct vm *const *del_vms;
        size_t n_del_vms;
        const struct forward_def *const *del_fwds;
        size_t n_del_fwds;
        const struct vm *const *add_vms;
        size_t n_add_vms;
        const struct forward_def *const *add_fwds;
        size_t n_add_fwds;
};
/* Applies c as ONE netlink transaction, in this order: the removal of the deleted VMs (their
 * map elements in tcp4/udp4/tcp6/udp6 and cin/cout maps, then their in_/out_ counters), the
 * removal of the deleted forwards' elements, the addition of the added VMs (counters first,
 * then elements), the addition of the added forwards' elements; without reading the kernel's
 * state: the same changes as nft_render_vm_del()/_forward_del()/_vm_add()/_forward_add(), at a
 * cost that does not grow with the table. Returns 0 (also for no change at all), -EINVAL
 * (nothing sent) for a VM or forward those renderers refuse, or a negative errno from the
 * kernel (e.g. -ENOENT: an element to delete is gone; -EEXIST), the transaction then applying
 * nothing. On failure, when ret_error is non-NULL, *ret_error is a malloc'd description naming
 * the VM or forward, the map or counter and the element. Same thread rules as nft_apply_run. */
int nft_apply_changes(struct nft_apply *a, const struct nft_changes *c, char **ret_error);
