/* SPDX-License-Identifier: MIT */
/*
 * The desired `inet edgegw` table, rendered two ways from the same VMs and standalone
 * forwards: as nft script text (the whole table for a full, atomic replace, or one VM's
 * counters and map elements, or one forward's element, for an incremental change) and as the
 * sorted canonical item strings that drift detection compares with the live table parsed by
 * live.c. The layout of the table lives here, in nft_maps[] (shared with batch.c) and the two
 * tables below, so the script, the netlink batch and the expected items cannot disagree. The
 * VM network (issue 6) adds the inet table's postrouting chain (outbound SNAT) and the whole
 * `bridge edgegw` table (anti-spoofing: the lease sets, the port set, the guard chain), laid
 * out by bridge_sets[] and bridge_rules[] below, again for the script and the items alike.
 * Pure: no I/O, no logging; costs grow with the number of VMs and ports (n log n at worst),
 * never with their square, so 10,000 VMs render in milliseconds.
 */
#include "nft.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../core/util.h"

#define TABLE NFT_TABLE_FAMILY " " NFT_TABLE_NAME

/* The order here is the order of the maps in the rendered table and of the commands. */
const struct nft_map_def nft_maps[NFT_MAPS] = {
        { "tcp4", AF_INET, NFT_MAP_PORTS, PROTO_TCP },
        { "udp4", AF_INET, NFT_MAP_PORTS, PROTO_UDP },
        { "tcp6", AF_INET6, NFT_MAP_PORTS, PROTO_TCP },
        { "udp6", AF_INET6, NFT_MAP_PORTS, PROTO_UDP },
        { "cin4", AF_INET, NFT_MAP_COUNTER_IN, PROTO_TCP },
        { "cout4", AF_INET, NFT_MAP_COUNTER_OUT, PROTO_TCP },
        { "cin6", AF_INET6, NFT_MAP_COUNTER_IN, PROTO_TCP },
        { "cout6", AF_INET6, NFT_MAP_COUNTER_OUT, PROTO_TCP },
};

struct chain_def {
        const char *name;
        const char *type;
        const char *hook;
        const char *priority; /* as written in the script */
        int prio; /* as the kernel reports it back */
};

static const struct chain_def chain_defs[] = {
        { "prerouting", "nat", "prerouting", "dstnat", -100 },
        { "output", "nat", "output", "-100", -100 },
        { "forward", "filter", "forward", "filter", 0 },
};

struct rule_def {
        const char *chain;
        const char *statement;
        const char *comment;
};

static const struct rule_def rule_defs[] = {
        { "prerouting", "fib daddr type local dnat ip to tcp dport map @tcp4", "edgegw:dnat-tcp4" },
        { "prerouting", "fib daddr type local dnat ip to udp dport map @udp4", "edgegw:dnat-udp4" },
        { "prerouting", "fib daddr type local dnat ip6 to tcp dport map @tcp6", "edgegw:dnat-tcp6" },
        { "prerouting", "fib daddr type local dnat ip6 to udp dport map @udp6", "edgegw:dnat-udp6" },
        { "output", "fib daddr type local dnat ip to tcp dport map @tcp4", "edgegw:out-dnat-tcp4" },
        { "output", "fib daddr type local dnat ip to udp dport map @udp4", "edgegw:out-dnat-udp4" },
        { "output", "fib daddr type local dnat ip6 to tcp dport map @tcp6", "edgegw:out-dnat-tcp6" },
        { "output", "fib daddr type local dnat ip6 to udp dport map @udp6", "edgegw:out-dnat-udp6" },
        { "forward", "counter name ip daddr map @cin4", "edgegw:count-in4" },
        { "forward", "counter name ip saddr map @cout4", "edgegw:count-out4" },
        { "forward", "counter name ip6 daddr map @cin6", "edgegw:count-in6" },
        { "forward", "counter name ip6 saddr map @cout6", "edgegw:count-out6" },
        { "forward", "ct status dnat accept", "edgegw:accept-dnat" },
};

/* Continuation of an `elements = { ... }` list, aligned under its first element as nft
 * itself prints it. */
#define ELEMENT_SEPARATOR ",\n\t\t\t     "

#define BRIDGE NFT_BRIDGE_FAMILY " " NFT_TABLE_NAME

/* The VM network's chain in the inet table: outbound SNAT, after routing decided the
 * interface (kernel prio 100 = srcnat). */
static const struct chain_def snat_chain = { "postrouting", "nat", "postrouting", "srcnat", 100 };

/* The bridge table's sets, in the order they are rendered and their elements sent. */
enum bridge_set { BRIDGE_SET_PORTS, BRIDGE_SET_LEASES, BRIDGE_SET_MACS, BRIDGE_SET_IPS, BRIDGE_SETS };
static const struct {
        const char *name;
        const char *type;
} bridge_sets[BRIDGE_SETS] = {
        [BRIDGE_SET_PORTS] = { "ports", "ifname" },
        [BRIDGE_SET_LEASES] = { "leases", "ether_addr . ipv4_addr" },
        [BRIDGE_SET_MACS] = { "lease_macs", "ether_addr" },
        [BRIDGE_SET_IPS] = { "lease_ips", "ipv4_addr" },
};

static const struct chain_def bridge_hook_chain = { "prerouting", "filter", "prerouting", "filter", -200 };
#define BRIDGE_GUARD_CHAIN "guard"

/* The guard chain, in order: every frame that entered through a port of the VM bridge. A
 * leased MAC may send IPv4 and ARP only from its leased address (0.0.0.0 for a DHCP request
 * or an ARP probe); any other MAC may use any address but a leased one or the gateway's; no
 * port may answer DHCP. "%s" in a statement is the gateway's address; those rules exist only
 * when it is known. */
static const struct {
        const char *statement;
        const char *comment;
        bool gateway;
} bridge_rules[] = {
        { "ether type ip udp sport 67 drop", "edgegw:dhcp-server4", false },
        { "ether type ip6 udp sport 547 drop", "edgegw:dhcp-server6", false },
        { "ether type ip ip saddr 0.0.0.0 udp sport 68 udp dport 67 accept", "edgegw:dhcp-client4", false },
        { "ether type ip ether saddr . ip saddr @leases accept", "edgegw:leased4", false },
        { "ether type ip ether saddr @lease_macs drop", "edgegw:spoof4", false },
        { "ether type ip ip saddr @lease_ips drop", "edgegw:taken4", false },
        { "ether type ip ip saddr %s drop", "edgegw:gateway4", true },
        { "ether type arp arp saddr ip 0.0.0.0 accept", "edgegw:arp-probe", false },
        { "ether type arp ether saddr . arp saddr ip @leases arp saddr ether . arp saddr ip @leases accept",
          "edgegw:leased-arp", false },
        { "ether type arp ether saddr @lease_macs drop", "edgegw:spoof-arp", false },
        { "ether type arp arp saddr ip @lease_ips drop", "edgegw:taken-arp", false },
        { "ether type arp arp saddr ip %s drop", "edgegw:gateway-arp", true },
};

void nft_counter_names(const struct vm *vm, char in[static NFT_COUNTER_NAME_MAX],
                       char out[static NFT_COUNTER_NAME_MAX]) {
        snprintf(in, NFT_COUNTER_NAME_MAX, "in_%.*s", SLUG_LEN, vm->slug);
        snprintf(out, NFT_COUNTER_NAME_MAX, "out_%.*s", SLUG_LEN, vm->slug);
}

/* A VM goes into the script only with an address family we have maps for and a slug of
 * [a-z0-9]: the slug becomes part of nft syntax (counter names), so nothing else may pass. */
bool nft_vm_renderable(const struct vm *vm) {
        size_t len = strnlen(vm->slug, sizeof vm->slug);
        if (vm->ip.family != AF_INET && vm->ip.family != AF_INET6)
                return false;
        if (len == 0 || len > SLUG_LEN)
                return false;
        for (size_t i = 0; i < len; i++)
                if (!((vm->slug[i] >= 'a' && vm->slug[i] <= 'z') || (vm->slug[i] >= '0' && vm->slug[i] <= '9')))
                        return false;
        return true;
}

bool nft_forward_renderable(const struct forward_def *f) {
        return (f->ip.family == AF_INET || f->ip.family == AF_INET6) &&
               (f->proto == PROTO_TCP || f->proto == PROTO_UDP) && f->public_port > 0 && f->port > 0;
}

bool nft_ifname_renderable(const char *name) {
        size_t len = strnlen(name, NFT_IFNAME_MAX);
        if (len == 0 || len >= NFT_IFNAME_MAX)
                return false;
        for (size_t i = 0; i < len; i++)
                if ((unsigned char)name[i] <= ' ' || name[i] == '"' || name[i] == '\\' || name[i] == 0x7f)
                        return false;
        return true;
}

static bool lease_renderable(const struct lease *l) {
        return l->ip != 0;
}

/* Whether every VM and forward may be rendered. */
static bool all_renderable(const struct vm *vms, size_t n, const struct forward_def *fwds, size_t n_fwds) {
        for (size_t i = 0; i < n; i++)
                if (!nft_vm_renderable(&vms[i]))
                        return false;
        for (size_t i = 0; i < n_fwds; i++)
                if (!nft_forward_renderable(&fwds[i]))
                        return false;
        return true;
}

/* The bridge table is rendered when d has a VM network with a bridge. */
static bool has_bridge(const struct nft_desired *d) {
        return d->net && d->net->bridge[0];
}

static bool has_snat(const struct nft_desired *d) {
        return d->net && d->net->snat_ifname[0] && d->net->mask != 0;
}

/* Whether everything of d may be rendered. */
static bool desired_renderable(const struct nft_desired *d) {
        if (!all_renderable(d->vms, d->n_vms, d->fwds, d->n_fwds))
                return false;
        if (has_snat(d) && !nft_ifname_renderable(d->net->snat_ifname))
                return false;
        if (!has_bridge(d))
                return true;
        if (!nft_ifname_renderable(d->net->bridge))
                return false;
        for (size_t i = 0; i < d->n_leases; i++)
                if (!lease_renderable(&d->leases[i]))
                        return false;
        for (size_t i = 0; i < d->n_ports; i++)
                if (!nft_ifname_renderable(d->ports[i].name))
                        return false;
        return true;
}

static unsigned prefix_len(uint32_t mask) {
        unsigned n = 0;
        while (n < 32 && (mask & (UINT32_C(1) << (31 - n))))
                n++;
        return n;
}

/* The SNAT rule's statement and comment: "ip saddr NET/LEN ip daddr != NET/LEN oifname "IF"
 * snat ip to ADDR" (or masquerade). Traffic that stays inside the subnet is never NATed, nor
 * is anything leaving by another interface (the VM bridge above all). */
static void append_snat_rule(const struct nft_vmnet *net, struct strbuf *out) {
        char subnet[16], to[16];
        unsigned len = prefix_len(net->mask);
        ipv4_format(net->subnet & net->mask, subnet);
        strbuf_printf(out, "ip saddr %s/%u ip daddr != %s/%u oifname \"%s\" ", subnet, len, subnet, len,
                      net->snat_ifname);
        if (net->snat_ip)
                strbuf_printf(out, "snat ip to %s comment \"edgegw:snat4\"", ipv4_format(net->snat_ip, to));
        else
                strbuf_append(out, "masquerade comment \"edgegw:masquerade4\"");
}

static const char *snat_comment(const struct nft_vmnet *net) {
        return net->snat_ip ? "edgegw:snat4" : "edgegw:masquerade4";
}

/* One lease's element of bridge set which: "52:54:00:00:00:01 . 10.0.1.5", the MAC, or the
 * address. */
static void append_lease_key(enum bridge_set which, const struct lease *l, struct strbuf *out) {
        char mac[MAC_TEXT_LEN + 1], ip[16];
        mac_format(l->mac, mac);
        ipv4_format(l->ip, ip);
        if (which == BRIDGE_SET_LEASES)
                strbuf_printf(out, "%s . %s", mac, ip);
        else
                strbuf_append(out, which == BRIDGE_SET_MACS ? mac : ip);
}

static void append_bridge_elements(enum bridge_set which, const struct nft_desired *d, struct strbuf *out) {
        size_t count = 0;
        const char *open = "\t\telements = { ";
        if (which == BRIDGE_SET_PORTS)
                for (size_t i = 0; i < d->n_ports; i++) {
                        strbuf_append(out, count++ > 0 ? ELEMENT_SEPARATOR : open);
                        strbuf_printf(out, "\"%s\"", d->ports[i].name);
                }
        else
                for (size_t i = 0; i < d->n_leases; i++) {
                        strbuf_append(out, count++ > 0 ? ELEMENT_SEPARATOR : open);
                        append_lease_key(which, &d->leases[i], out);
                }
        if (count > 0)
                strbuf_append(out, " }\n");
}

/* The statement of guard rule k, with the gateway's address in place of its "%s". */
static void append_bridge_statement(size_t k, const struct nft_vmnet *net, struct strbuf *out) {
        const char *st = bridge_rules[k].statement, *at = strstr(st, "%s");
        char gw[16];
        if (!bridge_rules[k].gateway || !at) {
                strbuf_append(out, st);
                return;
        }
        strbuf_appendn(out, st, (size_t)(at - st));
        strbuf_append(out, ipv4_format(net->gateway_ip, gw));
        strbuf_append(out, at + 2);
}

static bool bridge_rule_wanted(size_t k, const struct nft_vmnet *net) {
        return !bridge_rules[k].gateway || net->gateway_ip != 0;
}

/* The whole bridge table, replacing whatever is there. */
static void append_bridge_table(const struct nft_desired *d, struct strbuf *out) {
        const struct chain_def *ch = &bridge_hook_chain;

        strbuf_append(out, "table " BRIDGE "\ndelete table " BRIDGE "\ntable " BRIDGE " {\n");
        for (size_t k = 0; k < BRIDGE_SETS; k++) {
                strbuf_printf(out, "\tset %s {\n\t\ttype %s\n", bridge_sets[k].name, bridge_sets[k].type);
                append_bridge_elements((enum bridge_set)k, d, out);
                strbuf_append(out, "\t}\n");
        }
        strbuf_printf(out, "\tchain %s {\n\t\ttype %s hook %s priority %s; policy accept;\n", ch->name, ch->type,
                      ch->hook, ch->priority);
        strbuf_append(out, "\t\tiifname @ports jump " BRIDGE_GUARD_CHAIN " comment \"edgegw:ports\"\n\t}\n");
        strbuf_append(out, "\tchain " BRIDGE_GUARD_CHAIN " {\n");
        for (size_t k = 0; k < ELEMENTSOF(bridge_rules); k++) {
                if (!bridge_rule_wanted(k, d->net))
                        continue;
                strbuf_append(out, "\t\t");
                append_bridge_statement(k, d->net, out);
                strbuf_printf(out, " comment \"%s\"\n", bridge_rules[k].comment);
        }
        strbuf_append(out, "\t}\n}\n");
}

/* Room for the port map of the largest block among vms[0..n); -ENOMEM or 0. */
static int port_map_alloc(const struct vm *vms, size_t n, struct port_map_entry **ret) {
        uint16_t max = 1;
        for (size_t i = 0; i < n; i++)
                if (vms[i].block_size > max)
                        max = vms[i].block_size;
        struct port_map_entry *pm = calloc(max, sizeof *pm);
        if (!pm)
                return -ENOMEM;
        *ret = pm;
        return 0;
}

/* Appends the elements vm contributes to map m: the first one of the list (*count == 0)
 * preceded by open, the others by sep. keys_only leaves the values of counter maps out (for
 * deletion). pm has room for vm's block. */
static void append_vm_elements(const struct nft_map_def *m, const struct vm *vm, bool keys_only, const char *open,
                               const char *sep, struct port_map_entry *pm, size_t *count, struct strbuf *out) {
        char ip[IP_ADDR_STRLEN];

        if (vm->ip.family != m->family)
                return;
        ip_addr_format(&vm->ip, ip);

        if (m->kind == NFT_MAP_PORTS) {
                size_t n = vm_port_map(vm->block_start, vm->block_size, pm);
                for (size_t i = 0; i < n; i++) {
                        if (pm[i].proto != m->proto)
                                continue;
                        strbuf_append(out, (*count)++ > 0 ? sep : open);
                        strbuf_printf(out, "%u : %s . %u", pm[i].public_port, ip, pm[i].vm_port);
                }
                return;
        }

        char in[NFT_COUNTER_NAME_MAX], cout[NFT_COUNTER_NAME_MAX];
        nft_counter_names(vm, in, cout);
        strbuf_append(out, (*count)++ > 0 ? sep : open);
        if (keys_only)
                strbuf_append(out, ip);
        else
                strbuf_printf(out, "%s : \"%s\"", ip, m->kind == NFT_MAP_COUNTER_IN ? in : cout);
}

/* The same for a forward: its one element, in the port map of its proto and family. */
static void append_forward_element(const struct nft_map_def *m, const struct forward_def *f, const char *open,
                                   const char *sep, size_t *count, struct strbuf *out) {
        char ip[IP_ADDR_STRLEN];

        if (m->kind != NFT_MAP_PORTS || f->ip.family != m->family || f->proto != m->proto)
                return;
        ip_addr_format(&f->ip, ip);
        strbuf_append(out, (*count)++ > 0 ? sep : open);
        strbuf_printf(out, "%u : %s . %u", f->public_port, ip, f->port);
}

static int counter_value_compare(const void *a, const void *b) {
        const struct nft_counter_value *x = a, *y = b;
        return strncmp(x->name, y->name, NFT_COUNTER_NAME_MAX);
}

static void append_counter(const char *name, const struct nft_counter_value *sorted, size_t n_sorted,
                           struct strbuf *out) {
        struct nft_counter_value key = {0};
        const struct nft_counter_value *found = NULL;

        if (n_sorted > 0) {
                strcpy_bounded(key.name, sizeof key.name, name);
                found = bsearch(&key, sorted, n_sorted, sizeof *sorted, counter_value_compare);
        }
        strbuf_printf(out, "\tcounter %s {\n\t\tpackets %" PRIu64 " bytes %" PRIu64 "\n\t}\n", name,
                      found ? found->packets : 0, found ? found->bytes : 0);
}

static void append_map_type(const struct nft_map_def *m, struct strbuf *out) {
        const char *addr = m->family == AF_INET ? "ipv4_addr" : "ipv6_addr";
        if (m->kind == NFT_MAP_PORTS)
                strbuf_printf(out, "inet_service : %s . inet_service", addr);
        else
                strbuf_printf(out, "%s : counter", addr);
}

int nft_render_desired(const struct nft_desired *d, const struct nft_counter_value *counters, size_t n_counters,
                       struct strbuf *out) {
        _cleanup_free_ struct nft_counter_value *sorted = NULL;
        _cleanup_free_ struct port_map_entry *pm = NULL;
        const struct vm *vms = d->vms;
        const struct forward_def *fwds = d->fwds;
        size_t n = d->n_vms, n_fwds = d->n_fwds;
        int r;

        if (!desired_renderable(d))
                return -EINVAL;
        r = port_map_alloc(vms, n, &pm);
        if (r < 0)
                return r;
        /* Counter carry-over looks names up in a sorted copy: n log m, not n * m. */
        if (counters && n_counters > 0) {
                sorted = malloc(n_counters * sizeof *sorted);
                if (!sorted)
                        return -ENOMEM;
                memcpy(sorted, counters, n_counters * sizeof *sorted);
                qsort(sorted, n_counters, sizeof *sorted, counter_value_compare);
        } else
                n_counters = 0;

        /* Declaring the table first makes the delete succeed when it does not exist yet; the
         * whole script is one transaction, so the old table stays until the new one is in. */
        strbuf_append(out, "table " TABLE "\ndelete table " TABLE "\ntable " TABLE " {\n");

        for (size_t i = 0; i < n; i++) {
                char in[NFT_COUNTER_NAME_MAX], cout[NFT_COUNTER_NAME_MAX];
                nft_counter_names(&vms[i], in, cout);
                append_counter(in, sorted, n_counters, out);
                append_counter(cout, sorted, n_counters, out);
        }

        for (size_t m = 0; m < NFT_MAPS; m++) {
                size_t count = 0;
                strbuf_printf(out, "\tmap %s {\n\t\ttype ", nft_maps[m].name);
                append_map_type(&nft_maps[m], out);
                strbuf_append(out, "\n");
                /* nft rejects an empty `elements = { }`: the clause opens with the first one. */
                for (size_t i = 0; i < n; i++)
                        append_vm_elements(&nft_maps[m], &vms[i], false, "\t\telements = { ", ELEMENT_SEPARATOR, pm,
                                           &count, out);
                for (size_t i = 0; i < n_fwds; i++)
                        append_forward_element(&nft_maps[m], &fwds[i], "\t\telements = { ", ELEMENT_SEPARATOR, &count,
                                               out);
                if (count > 0)
                        strbuf_append(out, " }\n");
                strbuf_append(out, "\t}\n");
        }

        for (size_t c = 0; c < ELEMENTSOF(chain_defs); c++) {
                const struct chain_def *ch = &chain_defs[c];
                strbuf_printf(out, "\tchain %s {\n\t\ttype %s hook %s priority %s; policy accept;\n", ch->name,
                              ch->type, ch->hook, ch->priority);
                for (size_t k = 0; k < ELEMENTSOF(rule_defs); k++)
                        if (streq(rule_defs[k].chain, ch->name))
                                strbuf_printf(out, "\t\t%s comment \"%s\"\n", rule_defs[k].statement,
                                              rule_defs[k].comment);
                strbuf_append(out, "\t}\n");
        }
        if (has_snat(d)) {
                const struct chain_def *ch = &snat_chain;
                strbuf_printf(out, "\tchain %s {\n\t\ttype %s hook %s priority %s; policy accept;\n\t\t", ch->name,
                              ch->type, ch->hook, ch->priority);
                append_snat_rule(d->net, out);
                strbuf_append(out, "\n\t}\n");
        }
        strbuf_append(out, "}\n");
        if (has_bridge(d))
                append_bridge_table(d, out);

        return strbuf_status(out);
}

int nft_render_full(const struct vm *vms, size_t n, const struct forward_def *fwds, size_t n_fwds,
                    const struct nft_counter_value *counters, size_t n_counters, struct strbuf *out) {
        const struct nft_desired d = { .vms = vms, .n_vms = n, .fwds = fwds, .n_fwds = n_fwds };
        return nft_render_desired(&d, counters, n_counters, out);
}

int nft_render_bridge_delete(struct strbuf *out) {
        strbuf_append(out, "delete table " BRIDGE "\n");
        return strbuf_status(out);
}

/* `add element` / `delete element` for one lease: its pair, its MAC, its address. */
static int lease_commands(const struct lease *l, const char *verb, struct strbuf *out) {
        if (!lease_renderable(l))
                return -EINVAL;
        for (size_t k = BRIDGE_SET_LEASES; k <= BRIDGE_SET_IPS; k++) {
                strbuf_printf(out, "%s element " BRIDGE " %s { ", verb, bridge_sets[k].name);
                append_lease_key((enum bridge_set)k, l, out);
                strbuf_append(out, " }\n");
        }
        return strbuf_status(out);
}

int nft_render_lease_add(const struct lease *l, struct strbuf *out) {
        return lease_commands(l, "add", out);
}

int nft_render_lease_del(const struct lease *l, struct strbuf *out) {
        return lease_commands(l, "delete", out);
}

static int port_command(const char *name, const char *verb, struct strbuf *out) {
        if (!nft_ifname_renderable(name))
                return -EINVAL;
        strbuf_printf(out, "%s element " BRIDGE " ports { \"%s\" }\n", verb, name);
        return strbuf_status(out);
}

int nft_render_port_add(const char *name, struct strbuf *out) {
        return port_command(name, "add", out);
}

int nft_render_port_del(const char *name, struct strbuf *out) {
        return port_command(name, "delete", out);
}

/* One `add element` / `delete element` command for each map the VM has elements in (none for
 * the other family's maps, none for udp when the block has no UDP port). */
static void append_element_commands(const struct vm *vm, const char *verb, bool keys_only,
                                    struct port_map_entry *pm, struct strbuf *out) {
        for (size_t m = 0; m < NFT_MAPS; m++) {
                char open[64];
                size_t count = 0;
                snprintf(open, sizeof open, "%s element " TABLE " %s { ", verb, nft_maps[m].name);
                append_vm_elements(&nft_maps[m], vm, keys_only, open, ", ", pm, &count, out);
                if (count > 0)
                        strbuf_append(out, " }\n");
        }
}

int nft_render_vm_add(const struct vm *vm, struct strbuf *out) {
        _cleanup_free_ struct port_map_entry *pm = NULL;
        char in[NFT_COUNTER_NAME_MAX], cout[NFT_COUNTER_NAME_MAX];
        int r;

        if (!nft_vm_renderable(vm))
                return -EINVAL;
        r = port_map_alloc(vm, 1, &pm);
        if (r < 0)
                return r;
        nft_counter_names(vm, in, cout);
        /* Counters first: the counter map elements refer to them by name. */
        strbuf_printf(out, "add counter " TABLE " %s\nadd counter " TABLE " %s\n", in, cout);
        append_element_commands(vm, "add", false, pm, out);
        return strbuf_status(out);
}

int nft_render_vm_del(const struct vm *vm, struct strbuf *out) {
        _cleanup_free_ struct port_map_entry *pm = NULL;
        char in[NFT_COUNTER_NAME_MAX], cout[NFT_COUNTER_NAME_MAX];
        int r;

        if (!nft_vm_renderable(vm))
                return -EINVAL;
        r = port_map_alloc(vm, 1, &pm);
        if (r < 0)
                return r;
        nft_counter_names(vm, in, cout);
        /* Elements first: a counter still referenced by a map element cannot be deleted. */
        append_element_commands(vm, "delete", true, pm, out);
        strbuf_printf(out, "delete counter " TABLE " %s\ndelete counter " TABLE " %s\n", in, cout);
        return strbuf_status(out);
}

/* `add element` / `delete element` with the forward's one element (key and value both: nft
 * accepts the value in a deletion and ignores it, as for the VMs' port elements). */
static int forward_command(const struct forward_def *f, const char *verb, struct strbuf *out) {
        if (!nft_forward_renderable(f))
                return -EINVAL;
        for (size_t m = 0; m < NFT_MAPS; m++) {
                char open[64];
                size_t count = 0;
                snprintf(open, sizeof open, "%s element " TABLE " %s { ", verb, nft_maps[m].name);
                append_forward_element(&nft_maps[m], f, open, ", ", &count, out);
                if (count > 0)
                        strbuf_append(out, " }\n");
        }
        return strbuf_status(out);
}

int nft_render_forward_add(const struct forward_def *f, struct strbuf *out) {
        return forward_command(f, "add", out);
}

int nft_render_forward_del(const struct forward_def *f, struct strbuf *out) {
        return forward_command(f, "delete", out);
}

/* ---- canonical items ---- */

struct item_vec {
        char **v;
        size_t n, cap;
};

static void item_vec_done(struct item_vec *iv) {
        for (size_t i = 0; i < iv->n; i++)
                free(iv->v[i]);
        free(iv->v);
        *iv = (struct item_vec){0};
}

static int item_push(struct item_vec *iv, const char *fmt, ...) _printf_(2, 3);
static int item_push(struct item_vec *iv, const char *fmt, ...) {
        if (iv->n == iv->cap) {
                size_t cap = iv->cap ? iv->cap * 2 : 64;
                char **v = reallocarray(iv->v, cap, sizeof *v);
                if (!v)
                        return -ENOMEM;
                iv->v = v;
                iv->cap = cap;
        }
        va_list ap;
        va_start(ap, fmt);
        int k = vasprintf(&iv->v[iv->n], fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        iv->n++;
        return 0;
}

static int item_compare(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts and de-duplicates iv, handing its strings to *ret. */
static void item_vec_finish(struct item_vec *iv, struct nft_items *ret) {
        size_t k = 0;
        if (iv->n > 0)
                qsort(iv->v, iv->n, sizeof *iv->v, item_compare);
        for (size_t i = 0; i < iv->n; i++) {
                if (k > 0 && streq(iv->v[k - 1], iv->v[i]))
                        free(iv->v[i]);
                else
                        iv->v[k++] = iv->v[i];
        }
        *ret = (struct nft_items){ .items = iv->v, .n = k };
        *iv = (struct item_vec){0};
}

void nft_items_done(struct nft_items *it) {
        if (!it)
                return;
        for (size_t i = 0; i < it->n; i++)
                free(it->items[i]);
        free(it->items);
        *it = (struct nft_items){0};
}

static int expected_vm_items(const struct vm *vm, struct port_map_entry *pm, struct item_vec *iv) {
        char ip[IP_ADDR_STRLEN], in[NFT_COUNTER_NAME_MAX], cout[NFT_COUNTER_NAME_MAX];
        const char *v = vm->ip.family == AF_INET ? "4" : "6";
        int r;

        ip_addr_format(&vm->ip, ip);
        nft_counter_names(vm, in, cout);
        if ((r = item_push(iv, "counter %s", in)) < 0 || (r = item_push(iv, "counter %s", cout)) < 0 ||
            (r = item_push(iv, "elem cin%s %s %s", v, ip, in)) < 0 ||
            (r = item_push(iv, "elem cout%s %s %s", v, ip, cout)) < 0)
                return r;
        size_t n = vm_port_map(vm->block_start, vm->block_size, pm);
        for (size_t i = 0; i < n; i++) {
                r = item_push(iv, "elem %s%s %u %s %u", proto_to_string(pm[i].proto), v, pm[i].public_port, ip,
                              pm[i].vm_port);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The bridge table's items, each with the "bridge " prefix live.c gives them. */
static int expected_bridge_items(const struct nft_desired *d, struct item_vec *iv) {
        const struct chain_def *ch = &bridge_hook_chain;
        int r;

        if ((r = item_push(iv, "bridge table " BRIDGE)) < 0 ||
            (r = item_push(iv, "bridge chain %s %s %s %d", ch->name, ch->type, ch->hook, ch->prio)) < 0 ||
            (r = item_push(iv, "bridge chain " BRIDGE_GUARD_CHAIN)) < 0 ||
            (r = item_push(iv, "bridge rule %s edgegw:ports", ch->name)) < 0)
                return r;
        for (size_t k = 0; k < ELEMENTSOF(bridge_rules); k++)
                if (bridge_rule_wanted(k, d->net) &&
                    (r = item_push(iv, "bridge rule " BRIDGE_GUARD_CHAIN " %s", bridge_rules[k].comment)) < 0)
                        return r;
        for (size_t k = 0; k < BRIDGE_SETS; k++)
                if ((r = item_push(iv, "bridge set %s", bridge_sets[k].name)) < 0)
                        return r;
        for (size_t i = 0; i < d->n_ports; i++)
                if ((r = item_push(iv, "bridge elem ports %s", d->ports[i].name)) < 0)
                        return r;
        for (size_t i = 0; i < d->n_leases; i++) {
                char mac[MAC_TEXT_LEN + 1], ip[16];
                mac_format(d->leases[i].mac, mac);
                ipv4_format(d->leases[i].ip, ip);
                if ((r = item_push(iv, "bridge elem leases %s %s", mac, ip)) < 0 ||
                    (r = item_push(iv, "bridge elem lease_macs %s", mac)) < 0 ||
                    (r = item_push(iv, "bridge elem lease_ips %s", ip)) < 0)
                        return r;
        }
        return 0;
}

int nft_expected_items(const struct vm *vms, size_t n, const struct forward_def *fwds, size_t n_fwds,
                       struct nft_items *ret) {
        const struct nft_desired d = { .vms = vms, .n_vms = n, .fwds = fwds, .n_fwds = n_fwds };
        return nft_expected_desired(&d, ret);
}

int nft_expected_desired(const struct nft_desired *d, struct nft_items *ret) {
        _cleanup_(item_vec_done) struct item_vec iv = {0};
        _cleanup_free_ struct port_map_entry *pm = NULL;
        const struct vm *vms = d->vms;
        const struct forward_def *fwds = d->fwds;
        size_t n = d->n_vms, n_fwds = d->n_fwds;
        int r;

        if (!desired_renderable(d))
                return -EINVAL;
        r = port_map_alloc(vms, n, &pm);
        if (r < 0)
                return r;

        if ((r = item_push(&iv, "table " TABLE)) < 0)
                return r;
        for (size_t c = 0; c < ELEMENTSOF(chain_defs); c++) {
                const struct chain_def *ch = &chain_defs[c];
                r = item_push(&iv, "chain %s %s %s %d", ch->name, ch->type, ch->hook, ch->prio);
                if (r < 0)
                        return r;
        }
        for (size_t k = 0; k < ELEMENTSOF(rule_defs); k++)
                if ((r = item_push(&iv, "rule %s %s", rule_defs[k].chain, rule_defs[k].comment)) < 0)
                        return r;
        for (size_t m = 0; m < NFT_MAPS; m++)
                if ((r = item_push(&iv, "map %s", nft_maps[m].name)) < 0)
                        return r;
        for (size_t i = 0; i < n; i++)
                if ((r = expected_vm_items(&vms[i], pm, &iv)) < 0)
                        return r;
        for (size_t i = 0; i < n_fwds; i++) {
                char ip[IP_ADDR_STRLEN];
                ip_addr_format(&fwds[i].ip, ip);
                r = item_push(&iv, "elem %s%s %u %s %u", proto_to_string((enum proto)fwds[i].proto),
                              fwds[i].ip.family == AF_INET ? "4" : "6", fwds[i].public_port, ip, fwds[i].port);
                if (r < 0)
                        return r;
        }
        if (has_snat(d)) {
                const struct chain_def *ch = &snat_chain;
                if ((r = item_push(&iv, "chain %s %s %s %d", ch->name, ch->type, ch->hook, ch->prio)) < 0 ||
                    (r = item_push(&iv, "rule %s %s", ch->name, snat_comment(d->net))) < 0)
                        return r;
        }
        if (has_bridge(d) && (r = expected_bridge_items(d, &iv)) < 0)
                return r;

        item_vec_finish(&iv, ret);
        return 0;
}

int nft_items_merge(struct nft_items *into, struct nft_items *from) {
        size_t n = into->n + from->n;
        if (from->n == 0)
                return 0;
        char **v = reallocarray(into->items, n ? n : 1, sizeof *v);
        if (!v)
                return -ENOMEM;
        memcpy(v + into->n, from->items, from->n * sizeof *v);
        free(from->items);
        *from = (struct nft_items){0};
        struct item_vec iv = { .v = v, .n = n, .cap = n };
        item_vec_finish(&iv, into);
        return 0;
}

size_t nft_items_diff(const struct nft_items *want, const struct nft_items *have, struct strbuf *report) {
        size_t i = 0, j = 0, diffs = 0;

        while (i < want->n || j < have->n) {
                int c;
                if (i == want->n)
                        c = 1;
                else if (j == have->n)
                        c = -1;
                else
                        c = strcmp(want->items[i], have->items[j]);

                if (c == 0) {
                        i++;
                        j++;
                        continue;
                }
                diffs++;
                if (c < 0) {
                        if (report)
                                strbuf_printf(report, "missing: %s\n", want->items[i]);
                        i++;
                } else {
                        if (report)
                                strbuf_printf(report, "unexpected: %s\n", have->items[j]);
                        j++;
                }
        }
        return diffs;
}
