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
 *   chain postrouting (nat, srcnat; only with a VM network, struct nft_vmnet): outbound SNAT
 *                   (or masquerade) of the VM subnet out of one interface
 * With a VM bridge (issue 6) a second table, `bridge edgegw`, holds the anti-spoofing rules:
 *   set ports (ifname): the bridge's ports, kept by the reconciler
 *   sets leases (ether_addr . ipv4_addr), lease_macs, lease_ips: from the store's leases
 *   chain prerouting (filter): frames from a port jump to chain guard, which drops DHCP
 *   server packets, IPv4 and ARP from a leased MAC with another source address, and leased
 *   or gateway addresses claimed by any other MAC.
 * Its items in drift detection start with "bridge ". Every rule carries a comment
 * "edgegw:<tag>" so drift detection can name it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/strbuf.h"
#include "../model/lease.h"
#include "../model/resource.h"
#include "../model/vm.h"

#define NFT_TABLE_FAMILY "inet"
#define NFT_BRIDGE_FAMILY "bridge"
#define NFT_TABLE_NAME "edgegw"
#define NFT_COUNTER_NAME_MAX 16
#define NFT_IFNAME_MAX 16 /* IFNAMSIZ: 15 characters and the NUL */

/* The VM network's rules (issue 6), derived from [dhcp], [outbound] and the default route by
 * nft_vmnet_derive(). Addresses in host order. */
struct nft_vmnet {
        /* Outbound SNAT: the postrouting chain of the inet table, when snat_ifname is set. */
        uint32_t subnet, mask; /* the VM subnet */
        char snat_ifname[NFT_IFNAME_MAX]; /* the interface VM traffic leaves by ("" = no SNAT) */
        uint32_t snat_ip; /* the source it gets; 0 = masquerade (the interface's address) */
        /* Anti-spoofing: the bridge table, when bridge is set. */
        char bridge[NFT_IFNAME_MAX]; /* the VMs' bridge ([dhcp] interface) */
        uint32_t gateway_ip; /* the gateway's own address on it, never sent by a port (0 = none) */
};

/* A port of the VM bridge, by name. */
struct nft_port {
        char name[NFT_IFNAME_MAX];
};

/* Whether a name may go into the script (1-15 bytes, printable, no quote or backslash). */
bool nft_ifname_renderable(const char *name);

/* The VM network from the configuration: SNAT when [dhcp] subnet and subnet_mask are set,
 * out of [outbound] interface or else default_ifname (the IPv4 default route's interface,
 * NULL or "" when there is none), to [outbound] ip or by masquerade; the bridge table when
 * [dhcp] interface is set, protecting [dhcp] listen_ip (or gateway when unset). What cannot
 * be done (no interface to NAT out of, the interface is the VM bridge itself, [outbound]
 * without a subnet, a name nft cannot take) is left out and problem (size > 0) says why
 * ("" when nothing). Returns true when that is a failure: something [outbound] or [dhcp]
 * interface asked for explicitly; false for none, or a note (SNAT by default, for a subnet
 * alone, but no default route yet). Pure. */
bool nft_vmnet_derive(const struct config *c, const char *default_ifname, struct nft_vmnet *ret, char *problem,
                      size_t size);
/* Whether a and b render the same rules. */
bool nft_vmnet_equal(const struct nft_vmnet *a, const struct nft_vmnet *b);

/* Everything the tables are rendered from. Every pointer is borrowed; a list may be NULL when
 * its count is 0. */
struct nft_desired {
        const struct vm *vms;
        size_t n_vms;
        const struct forward_def *fwds;
        size_t n_fwds;
        const struct nft_vmnet *net; /* NULL: no SNAT chain, no bridge table */
        const struct lease *leases; /* the bridge table's lease sets (ignored without net->bridge) */
        size_t n_leases;
        const struct nft_port *ports; /* its port set (likewise) */
        size_t n_ports;
};

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

/* Appends to out the script that atomically replaces the inet table with one describing d,
 * and, when d->net names a bridge, the bridge table too (one transaction for both). counters
 * (may be NULL) gives starting values for counters of the same name. Returns 0, -EINVAL
 * (nothing appended) when a VM, forward, lease or port is not renderable, or -ENOMEM. A
 * bridge table that is no longer wanted is not in the script: nft_render_bridge_delete(). */
int nft_render_desired(const struct nft_desired *d, const struct nft_counter_value *counters, size_t n_counters,
                       struct strbuf *out);
/* Appends the command that deletes the bridge table. */
int nft_render_bridge_delete(struct strbuf *out);
/* Appends the commands that add (remove) one lease's elements (remove: keys, in the same
 * order) to (from) the bridge table's three lease sets; one port's element to (from) its port
 * set. -EINVAL when not renderable (an address of 0, a name nft cannot take). */
int nft_render_lease_add(const struct lease *l, struct strbuf *out);
int nft_render_lease_del(const struct lease *l, struct strbuf *out);
int nft_render_port_add(const char *name, struct strbuf *out);
int nft_render_port_del(const char *name, struct strbuf *out);

/* The same as nft_render_desired() for the VMs vms[0..n) and the standalone forwards
 * fwds[0..n_fwds) only (either may be NULL when its count is 0): no VM network. */
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

/* Desired items for d: the inet table's, and the bridge table's prefixed with "bridge "
 * ("bridge elem leases 52:54:00:00:00:01 10.0.1.5", "bridge rule guard edgegw:spoof4").
 * Returns 0, -EINVAL or -ENOMEM. */
int nft_expected_desired(const struct nft_desired *d, struct nft_items *ret);
/* Desired items for vms[0..n) and the forwards fwds[0..n_fwds) (a forward's element is an
 * "elem tcp4 ..." item like a VM port's), without a VM network. Returns 0, -EINVAL or -ENOMEM. */
int nft_expected_items(const struct vm *vms, size_t n, const struct forward_def *fwds, size_t n_fwds,
                       struct nft_items *ret);
/* Items of the live table from libnftables' JSON listing of `list table inet edgegw` or
 * `list table bridge edgegw` (whose items get the "bridge " prefix; objects of any other table
 * are skipped). Returns 0, or -EBADMSG for JSON it cannot understand. Counter values, when
 * wanted, go to *ret_counters (malloc'd, may be NULL). */
int nft_live_parse_json(const char *json, struct nft_items *ret, struct nft_counter_value **ret_counters,
                        size_t *ret_n_counters);
/* Appends one line per difference ("missing: ITEM" / "unexpected: ITEM") to report (may be
 * NULL) and returns the number of differences. */
size_t nft_items_diff(const struct nft_items *want, const struct nft_items *have, struct strbuf *report);
/* Moves the items of *from into *into, which stays sorted and de-duplicated; *from is left
 * empty. Returns 0 or -ENOMEM (both then unchanged). */
int nft_items_merge(struct nft_items *into, struct nft_items *from);

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
/* The live table of family (NFT_TABLE_FAMILY or NFT_BRIDGE_FAMILY) as JSON (malloc'd), or
 * -ENOENT when that table does not exist. */
int nft_apply_list_json(struct nft_apply *a, const char *family, char **ret_json);

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
        /* The bridge table's elements: leases (a pair, a MAC and an address each) and ports. */
        const struct lease *const *del_leases;
        size_t n_del_leases;
        const struct lease *const *add_leases;
        size_t n_add_leases;
        const struct nft_port *const *del_ports;
        size_t n_del_ports;
        const struct nft_port *const *add_ports;
        size_t n_add_ports;
};
/* Applies c as ONE netlink transaction, in this order: the removal of the deleted VMs (their
 * map elements in tcp4/udp4/tcp6/udp6 and cin/cout maps, then their in_/out_ counters), the
 * removal of the deleted forwards' elements, of the deleted leases' and ports' elements (bridge
 * table), the addition of the added VMs (counters first, then elements), the addition of the
 * added forwards', leases' and ports' elements; without reading the kernel's state: the same
 * changes as nft_render_vm_del()/_forward_del()/_lease_del()/_port_del() and _vm_add()/
 * _forward_add()/_lease_add()/_port_add(), at a cost that does not grow with the table. Returns 0 (also for no change at all), -EINVAL
 * (nothing sent) for a VM or forward those renderers refuse, or a negative errno from the
 * kernel (e.g. -ENOENT: an element to delete is gone; -EEXIST), the transaction then applying
 * nothing. On failure, when ret_error is non-NULL, *ret_error is a malloc'd description naming
 * the VM or forward, the map or counter and the element. Same thread rules as nft_apply_run. */
int nft_apply_changes(struct nft_apply *a, const struct nft_changes *c, char **ret_error);
