/* SPDX-License-Identifier: MIT */
/*
 * The incremental edge of the nft module: VM and standalone-forward removals and additions
 * applied to the live `inet edgegw` table as one nf_tables netlink batch (one kernel
 * transaction), built with libnftnl and sent with libmnl over a netlink socket kept in
 * struct nft_apply. libnftables fills its cache from the kernel (every set and every counter
 * object) before each `add element`, so its cost grows with the table; here nothing is read
 * back, and a change costs the same with 10 or 10,000 VMs. The messages are those `nft` sends
 * for the commands of nft_render_vm_del()/_forward_del() and nft_render_vm_add()/
 * _forward_add(), in the same order and with the same flags (no NLM_F_EXCL, so re-adding an
 * identical element or counter is not an error), so the table ends up the same. The map
 * layout is render.c's nft_maps[]; the unit test decodes built batches and compares them with
 * nft_expected_items(). Every message asks for an ack, and extended acks point at the element
 * that failed, so an error names the VM or forward, the map and the element. The bridge
 * table's lease and port elements (issue 6) travel in the same batch, as NFPROTO_BRIDGE
 * messages. Not thread-safe:
 * one thread uses a given struct nft_apply at a time.
 */
#include "nft.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/object.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../core/util.h"
#include "apply-internal.h"

#define TABLE NFT_TABLE_FAMILY " " NFT_TABLE_NAME

/* Room for one message, as an upper bound of what libnftnl writes (it does not check):
 * header 20, table 12, set or object name 16, element list nest 4, and per element at most
 * nest 4 + key 24 + data 28 + object reference 16 = 72; a counter object is 84 in all. */
#define MSG_ROOM_BASE 256
#define MSG_ROOM_PER_ELEMENT 96

/* An ack is at most a few hundred bytes of socket memory; room for one per message keeps the
 * kernel from dropping acks (ENOBUFS) for a batch of a thousand VMs. */
#define ACK_RCVBUF_PER_MSG 1024
#define ACK_READ_SIZE 65536

/* Whose change a message carries, to name it in an error: "VM web-1", "forward f1",
 * "lease 52:54:00:00:00:01", "port tap100i0"; and the family of its table. */
struct batch_owner {
        const char *kind; /* "VM", "forward", "lease" or "port" (static) */
        const char *id; /* borrowed from the VM, forward or port; NULL: own_id */
        char own_id[MAC_TEXT_LEN + 1]; /* a lease's MAC, which has no text of its own */
        uint8_t family; /* NFPROTO_BRIDGE for the bridge table's elements; 0 = NFPROTO_INET */
};

static const char *owner_id(const struct batch_owner *o) {
        return o->id ? o->id : o->own_id;
}

static uint8_t owner_family(const struct batch_owner *o) {
        return o && o->family ? o->family : NFPROTO_INET;
}

/* What one message of the batch does, to name it when the kernel refuses it. */
struct batch_msg {
        size_t offset; /* of its nlmsghdr in the buffer */
        uint16_t type; /* NFT_MSG_*; 0 for the batch begin and end */
        struct batch_owner owner; /* NULLs for the batch begin and end */
        char name[NFT_COUNTER_NAME_MAX]; /* the map or counter */
};

/* A batch being built: the messages back to back, as they go to the kernel, with
 * sequence numbers seq_first, seq_first + 1, ... in msgs order. */
struct batch {
        char *buf;
        size_t len, cap;
        struct batch_msg *msgs;
        size_t n_msgs, cap_msgs;
        uint32_t seq_first;
};

static void batch_done(struct batch *b) {
        free(b->buf);
        free(b->msgs);
        *b = (struct batch){0};
}

static void nftnl_set_freep(struct nftnl_set **s) {
        if (*s)
                nftnl_set_free(*s);
}

static void nftnl_obj_freep(struct nftnl_obj **o) {
        if (*o)
                nftnl_obj_free(*o);
}

static size_t addr_len(int family) {
        return family == AF_INET ? 4 : 16;
}

/* Starts a message of the given type with room for room bytes and records what it is for;
 * returns its header, to be filled and then closed with msg_finish(). NLM_F_ACK on every
 * message, so each one's outcome comes back. */
static int msg_start(struct batch *b, uint16_t type, uint16_t flags, size_t room, const struct batch_owner *owner,
                     const char *name, struct nlmsghdr **ret) {
        if (b->cap - b->len < room) {
                size_t cap = b->cap ? b->cap : 4096;
                while (cap - b->len < room)
                        cap *= 2;
                char *buf = realloc(b->buf, cap);
                if (!buf)
                        return -ENOMEM;
                b->buf = buf;
                b->cap = cap;
        }
        if (b->n_msgs == b->cap_msgs) {
                size_t cap = b->cap_msgs ? b->cap_msgs * 2 : 16;
                struct batch_msg *msgs = reallocarray(b->msgs, cap, sizeof *msgs);
                if (!msgs)
                        return -ENOMEM;
                b->msgs = msgs;
                b->cap_msgs = cap;
        }

        uint32_t seq = b->seq_first + (uint32_t)b->n_msgs;
        char *at = b->buf + b->len;
        struct nlmsghdr *nlh;
        if (type == NFNL_MSG_BATCH_BEGIN)
                nlh = nftnl_batch_begin(at, seq);
        else if (type == NFNL_MSG_BATCH_END)
                nlh = nftnl_batch_end(at, seq);
        else
                nlh = nftnl_nlmsg_build_hdr(at, type, owner_family(owner), NLM_F_ACK | flags, seq);

        struct batch_msg *m = &b->msgs[b->n_msgs++];
        *m = (struct batch_msg){ .offset = b->len, .type = owner ? type : 0 };
        if (owner)
                m->owner = *owner;
        if (name)
                strcpy_bounded(m->name, sizeof m->name, name);
        *ret = nlh;
        return 0;
}

static void msg_finish(struct batch *b, const struct nlmsghdr *nlh) {
        b->len += NLMSG_ALIGN(nlh->nlmsg_len);
}

static int element_add(struct nftnl_set *s, const void *key, uint32_t key_len, const void *data, uint32_t data_len,
                       const char *objref) {
        struct nftnl_set_elem *e = nftnl_set_elem_alloc();
        if (!e)
                return -ENOMEM;
        if (nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, key_len) < 0 ||
            (data && nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA, data, data_len) < 0) ||
            (objref && nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_OBJREF, objref) < 0)) {
                nftnl_set_elem_free(e);
                return -ENOMEM;
        }
        nftnl_set_elem_add(s, e);
        return 0;
}

/* A set (map) handle of our table named name, to collect elements in; NULL without memory. */
static struct nftnl_set *set_new(const char *name) {
        struct nftnl_set *s = nftnl_set_alloc();
        if (s && (nftnl_set_set_str(s, NFTNL_SET_TABLE, NFT_TABLE_NAME) < 0 ||
                  nftnl_set_set_str(s, NFTNL_SET_NAME, name) < 0)) {
                nftnl_set_free(s);
                return NULL;
        }
        return s;
}

/* Adds to s the element public_port -> ip . port (the key alone for a deletion). The
 * kernel's registers are 4 bytes wide, so a port in concatenated data takes 4 bytes (2 in
 * network order, then zeros) while a port key alone is 2. */
static int port_element_add(struct nftnl_set *s, uint16_t public_port, const struct ip_addr *ip, uint16_t port,
                            bool add) {
        size_t alen = addr_len(ip->family);
        uint16_t key = htons(public_port), target_port = htons(port);
        uint8_t data[16 + 4] = {0};

        memcpy(data, ip->bytes, alen);
        memcpy(data + alen, &target_port, sizeof target_port);
        return element_add(s, &key, sizeof key, add ? data : NULL, (uint32_t)(alen + 4), NULL);
}

/* One NEWSETELEM or DELSETELEM message with the n elements collected in s (map m), none when
 * n is 0: an empty DELSETELEM would flush the whole map. */
static int put_set_message(struct batch *b, const struct nft_map_def *m, struct nftnl_set *s, size_t n, bool add,
                           const struct batch_owner *owner) {
        struct nlmsghdr *nlh;
        int r;

        if (n == 0)
                return 0;
        r = msg_start(b, add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM, add ? NLM_F_CREATE : 0,
                      MSG_ROOM_BASE + n * MSG_ROOM_PER_ELEMENT, owner, m->name, &nlh);
        if (r < 0)
                return r;
        nftnl_set_elems_nlmsg_build_payload(nlh, s);
        msg_finish(b, nlh);
        return 0;
}

/* vm's elements in map m (none for the other family's maps). Deletions carry keys only. pm
 * holds vm's port map. */
static int put_vm_elements(struct batch *b, const struct nft_map_def *m, const struct vm *vm, bool add,
                           const struct port_map_entry *pm, size_t n_pm) {
        _cleanup_(nftnl_set_freep) struct nftnl_set *s = NULL;
        const struct batch_owner owner = { .kind = "VM", .id = vm->id };
        size_t n = 0;
        int r;

        if (vm->ip.family != m->family)
                return 0;
        if (!(s = set_new(m->name)))
                return -ENOMEM;
        if (m->kind == NFT_MAP_PORTS) {
                for (size_t i = 0; i < n_pm; i++) {
                        if (pm[i].proto != m->proto)
                                continue;
                        if ((r = port_element_add(s, pm[i].public_port, &vm->ip, pm[i].vm_port, add)) < 0)
                                return r;
                        n++;
                }
        } else {
                char in[NFT_COUNTER_NAME_MAX], out[NFT_COUNTER_NAME_MAX];
                nft_counter_names(vm, in, out);
                r = element_add(s, vm->ip.bytes, (uint32_t)addr_len(vm->ip.family), NULL, 0,
                                add ? (m->kind == NFT_MAP_COUNTER_IN ? in : out) : NULL);
                if (r < 0)
                        return r;
                n++;
        }
        return put_set_message(b, m, s, n, add, &owner);
}

/* A forward's one message: its element in the port map of its proto and family. */
static int put_forward(struct batch *b, const struct forward_def *f, bool add) {
        const struct batch_owner owner = { .kind = "forward", .id = f->id };

        for (size_t m = 0; m < NFT_MAPS; m++) {
                const struct nft_map_def *map = &nft_maps[m];
                if (map->kind != NFT_MAP_PORTS || map->family != f->ip.family || map->proto != f->proto)
                        continue;
                _cleanup_(nftnl_set_freep) struct nftnl_set *s = set_new(map->name);
                int r;
                if (!s)
                        return -ENOMEM;
                if ((r = port_element_add(s, f->public_port, &f->ip, f->port, add)) < 0)
                        return r;
                return put_set_message(b, map, s, 1, add, &owner);
        }
        return -EINVAL; /* not renderable: refused before building */
}

/* The bridge table's set of a lease's pair, MAC or address. */
static const char *const lease_sets[] = { "leases", "lease_macs", "lease_ips" };

/* A lease's three messages: its element in each lease set (keys only, so a removal and an
 * addition look alike). A MAC is 6 bytes; in the concatenation it takes 8 (two 4-byte
 * registers), the address following in network order. */
static int put_lease(struct batch *b, const struct lease *l, bool add) {
        struct batch_owner owner = { .kind = "lease", .family = NFPROTO_BRIDGE };
        uint32_t ip = htonl(l->ip);
        uint8_t pair[8 + 4] = {0};

        mac_format(l->mac, owner.own_id);
        memcpy(pair, l->mac, MAC_LEN);
        memcpy(pair + 8, &ip, sizeof ip);
        for (size_t k = 0; k < ELEMENTSOF(lease_sets); k++) {
                const struct nft_map_def set = { .name = lease_sets[k] };
                _cleanup_(nftnl_set_freep) struct nftnl_set *s = set_new(set.name);
                int r;
                if (!s)
                        return -ENOMEM;
                if (k == 0)
                        r = element_add(s, pair, sizeof pair, NULL, 0, NULL);
                else if (k == 1)
                        r = element_add(s, l->mac, MAC_LEN, NULL, 0, NULL);
                else
                        r = element_add(s, &ip, sizeof ip, NULL, 0, NULL);
                if (r < 0 || (r = put_set_message(b, &set, s, 1, add, &owner)) < 0)
                        return r;
        }
        return 0;
}

/* A port's message: its name, zero-padded to IFNAMSIZ as the kernel compares it. */
static int put_port(struct batch *b, const struct nft_port *p, bool add) {
        const struct batch_owner owner = { .kind = "port", .id = p->name, .family = NFPROTO_BRIDGE };
        const struct nft_map_def set = { .name = "ports" };
        _cleanup_(nftnl_set_freep) struct nftnl_set *s = set_new(set.name);
        char key[NFT_IFNAME_MAX] = {0};
        int r;

        if (!s)
                return -ENOMEM;
        memcpy(key, p->name, strnlen(p->name, sizeof key - 1));
        if ((r = element_add(s, key, sizeof key, NULL, 0, NULL)) < 0)
                return r;
        return put_set_message(b, &set, s, 1, add, &owner);
}

/* One NEWOBJ or DELOBJ message for a counter; a new one starts at zero, as `add counter`. */
static int put_counter(struct batch *b, const struct vm *vm, const char *name, bool add) {
        const struct batch_owner owner = { .kind = "VM", .id = vm->id };
        _cleanup_(nftnl_obj_freep) struct nftnl_obj *o = nftnl_obj_alloc();
        struct nlmsghdr *nlh;
        int r;

        if (!o)
                return -ENOMEM;
        nftnl_obj_set_str(o, NFTNL_OBJ_TABLE, NFT_TABLE_NAME);
        nftnl_obj_set_str(o, NFTNL_OBJ_NAME, name);
        nftnl_obj_set_u32(o, NFTNL_OBJ_FAMILY, NFPROTO_INET);
        nftnl_obj_set_u32(o, NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
        if (add) {
                nftnl_obj_set_u64(o, NFTNL_OBJ_CTR_PKTS, 0);
                nftnl_obj_set_u64(o, NFTNL_OBJ_CTR_BYTES, 0);
        }
        /* The setters return nothing; a string libnftnl could not copy is simply not set. */
        if (!nftnl_obj_is_set(o, NFTNL_OBJ_TABLE) || !nftnl_obj_is_set(o, NFTNL_OBJ_NAME))
                return -ENOMEM;

        r = msg_start(b, add ? NFT_MSG_NEWOBJ : NFT_MSG_DELOBJ, add ? NLM_F_CREATE : 0, MSG_ROOM_BASE, &owner, name,
                      &nlh);
        if (r < 0)
                return r;
        nftnl_obj_nlmsg_build_payload(nlh, o);
        msg_finish(b, nlh);
        return 0;
}

/* vm's messages: elements then counters for a removal (a counter still referenced by an
 * element cannot go), counters then elements for an addition (elements refer to them). */
static int put_vm(struct batch *b, const struct vm *vm, bool add) {
        _cleanup_free_ struct port_map_entry *pm = calloc(vm->block_size ? vm->block_size : 1, sizeof *pm);
        char in[NFT_COUNTER_NAME_MAX], out[NFT_COUNTER_NAME_MAX];
        int r;

        if (!pm)
                return -ENOMEM;
        size_t n_pm = vm_port_map(vm->block_start, vm->block_size, pm);
        nft_counter_names(vm, in, out);
        if (add && ((r = put_counter(b, vm, in, true)) < 0 || (r = put_counter(b, vm, out, true)) < 0))
                return r;
        for (size_t m = 0; m < NFT_MAPS; m++)
                if ((r = put_vm_elements(b, &nft_maps[m], vm, add, pm, n_pm)) < 0)
                        return r;
        if (!add && ((r = put_counter(b, vm, in, false)) < 0 || (r = put_counter(b, vm, out, false)) < 0))
                return r;
        return 0;
}

/* Builds the whole batch into *b: begin, the removals (VMs, forwards, leases, ports), the
 * additions (in the same order), end. Returns 0 or -ENOMEM. Everything in c is renderable. */
static int batch_build(struct batch *b, uint32_t seq_first, const struct nft_changes *c) {
        struct nlmsghdr *nlh;
        int r;

        *b = (struct batch){ .seq_first = seq_first };
        if ((r = msg_start(b, NFNL_MSG_BATCH_BEGIN, 0, MSG_ROOM_BASE, NULL, NULL, &nlh)) < 0)
                goto fail;
        msg_finish(b, nlh);
        for (size_t i = 0; i < c->n_del_vms; i++)
                if ((r = put_vm(b, c->del_vms[i], false)) < 0)
                        goto fail;
        for (size_t i = 0; i < c->n_del_fwds; i++)
                if ((r = put_forward(b, c->del_fwds[i], false)) < 0)
                        goto fail;
        for (size_t i = 0; i < c->n_del_leases; i++)
                if ((r = put_lease(b, c->del_leases[i], false)) < 0)
                        goto fail;
        for (size_t i = 0; i < c->n_del_ports; i++)
                if ((r = put_port(b, c->del_ports[i], false)) < 0)
                        goto fail;
        for (size_t i = 0; i < c->n_add_vms; i++)
                if ((r = put_vm(b, c->add_vms[i], true)) < 0)
                        goto fail;
        for (size_t i = 0; i < c->n_add_fwds; i++)
                if ((r = put_forward(b, c->add_fwds[i], true)) < 0)
                        goto fail;
        for (size_t i = 0; i < c->n_add_leases; i++)
                if ((r = put_lease(b, c->add_leases[i], true)) < 0)
                        goto fail;
        for (size_t i = 0; i < c->n_add_ports; i++)
                if ((r = put_port(b, c->add_ports[i], true)) < 0)
                        goto fail;
        if ((r = msg_start(b, NFNL_MSG_BATCH_END, 0, MSG_ROOM_BASE, NULL, NULL, &nlh)) < 0)
                goto fail;
        msg_finish(b, nlh);
        return 0;
fail:
        batch_done(b);
        return r;
}

/* A key as nft prints it: a port, an address, a MAC, a MAC . address pair (bridge), or an
 * interface name (a 16-byte key in the bridge table). */
static void key_text(const uint8_t *p, uint16_t len, bool bridge, char *buf, size_t size) {
        char ip[IP_ADDR_STRLEN], mac[MAC_TEXT_LEN + 1];
        uint16_t port;

        if (len == 2) {
                memcpy(&port, p, sizeof port);
                snprintf(buf, size, "%u", ntohs(port));
        } else if (len == MAC_LEN)
                snprintf(buf, size, "%s", mac_format(p, mac));
        else if (len == 12 && bridge && inet_ntop(AF_INET, p + 8, ip, sizeof ip))
                snprintf(buf, size, "%s . %s", mac_format(p, mac), ip);
        else if (len == NFT_IFNAME_MAX && bridge)
                snprintf(buf, size, "\"%.*s\"", (int)strnlen((const char *)p, len), (const char *)p);
        else if ((len == 4 && inet_ntop(AF_INET, p, ip, sizeof ip)) ||
                 (len == 16 && inet_ntop(AF_INET6, p, ip, sizeof ip)))
                snprintf(buf, size, "%s", ip);
}

/* The key of the element of a set element message that holds byte offset bad_offset (from the
 * start of the message, as the kernel's extended ack gives it), as nft would print it; "" when
 * the offset falls on no element. */
static void element_key_at(const struct nlmsghdr *nlh, uint32_t bad_offset, bool bridge, char *buf, size_t size) {
        const struct nlattr *list, *elem, *attr, *value;

        buf[0] = '\0';
        mnl_attr_for_each(list, nlh, sizeof(struct nfgenmsg)) {
                if (mnl_attr_get_type(list) != NFTA_SET_ELEM_LIST_ELEMENTS)
                        continue;
                mnl_attr_for_each_nested(elem, list) {
                        size_t start = (size_t)((const char *)elem - (const char *)nlh);
                        if (bad_offset < start || bad_offset >= start + mnl_attr_get_len(elem))
                                continue;
                        mnl_attr_for_each_nested(attr, elem) {
                                if (mnl_attr_get_type(attr) != NFTA_SET_ELEM_KEY)
                                        continue;
                                mnl_attr_for_each_nested(value, attr) {
                                        if (mnl_attr_get_type(value) != NFTA_DATA_VALUE)
                                                continue;
                                        key_text(mnl_attr_get_payload(value), mnl_attr_get_payload_len(value),
                                                   bridge, buf, size);
                                        return;
                                }
                        }
                        return;
                }
        }
}

/* The malloc'd description of the kernel's error for message b->msgs[index], e.g.
 *   "VM web-1: delete element inet edgegw tcp4 { 20001 }: No such file or directory",
 *   "forward f1: add element inet edgegw udp4 { 5353 }: File exists",
 *   "lease 52:54:00:00:00:01: delete element bridge edgegw lease_ips { 10.0.1.5 }: ...".
 * bad_offset is the extended ack's offset of the failing attribute (0: none); kernel_msg the
 * kernel's own message (may be NULL). NULL when out of memory. */
static char *describe_error(const struct batch *b, size_t index, int error, uint32_t bad_offset,
                            const char *kernel_msg) {
        _cleanup_strbuf_ struct strbuf s = {0};
        const struct batch_msg *m = index < b->n_msgs ? &b->msgs[index] : NULL;

        if (!m || !m->owner.kind)
                strbuf_printf(&s, "the kernel refused the transaction: %s", strerror(-error));
        else {
                const struct nlmsghdr *nlh = (const struct nlmsghdr *)(b->buf + m->offset);
                bool adding = m->type == NFT_MSG_NEWOBJ || m->type == NFT_MSG_NEWSETELEM;
                bool bridge = owner_family(&m->owner) == NFPROTO_BRIDGE;
                const char *table = bridge ? NFT_BRIDGE_FAMILY " " NFT_TABLE_NAME : TABLE;
                strbuf_printf(&s, "%s %s: %s ", m->owner.kind, owner_id(&m->owner), adding ? "add" : "delete");
                if (m->type == NFT_MSG_NEWOBJ || m->type == NFT_MSG_DELOBJ)
                        strbuf_printf(&s, "counter %s %s", table, m->name);
                else {
                        char key[64] = "";
                        if (bad_offset > 0 && bad_offset < nlh->nlmsg_len)
                                element_key_at(nlh, bad_offset, bridge, key, sizeof key);
                        strbuf_printf(&s, "element %s %s", table, m->name);
                        if (key[0])
                                strbuf_printf(&s, " { %s }", key);
                }
                strbuf_printf(&s, ": %s", strerror(-error));
        }
        if (kernel_msg && kernel_msg[0])
                strbuf_printf(&s, " (%s)", kernel_msg);
        if (strbuf_status(&s) < 0)
                return NULL;
        return strbuf_steal(&s);
}

/* What the acks said. */
struct ack_state {
        const struct batch *b;
        size_t n_acked; /* acks for messages of b, successes and errors */
        int error; /* the error of the earliest refused message, or 0 */
        uint32_t error_index; /* of that message in b->msgs */
        uint32_t error_offset;
        char error_msg[128];
};

static int ack_cb(const struct nlmsghdr *nlh, void *data) {
        struct ack_state *st = data;
        const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
        uint32_t index = nlh->nlmsg_seq - st->b->seq_first;

        if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof *e) || index >= st->b->n_msgs)
                return MNL_CB_OK; /* not about this batch */
        st->n_acked++;
        if (e->error == 0)
                return MNL_CB_OK;
        if (st->error != 0 && index >= st->error_index)
                return MNL_CB_OK;

        st->error = e->error > 0 ? -e->error : e->error;
        st->error_index = index;
        st->error_offset = 0;
        st->error_msg[0] = '\0';
        if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
                return MNL_CB_OK;
        /* The TLVs follow the echoed request: its header only when capped, all of it otherwise. */
        size_t tlv_start = sizeof *e;
        if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
                tlv_start += e->msg.nlmsg_len - sizeof e->msg;
        if (tlv_start >= mnl_nlmsg_get_payload_len(nlh))
                return MNL_CB_OK;
        const struct nlattr *attr;
        mnl_attr_for_each(attr, nlh, tlv_start) {
                if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_OFFS &&
                    mnl_attr_validate(attr, MNL_TYPE_U32) >= 0)
                        st->error_offset = mnl_attr_get_u32(attr);
                else if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
                         mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0)
                        snprintf(st->error_msg, sizeof st->error_msg, "%s", mnl_attr_get_str(attr));
        }
        return MNL_CB_OK;
}

/* Raises a socket buffer to at least size: the forcing option needs CAP_NET_ADMIN, which
 * whoever sends nftables batches has; the plain one is capped by the sysctl maximum. */
static void socket_buffer_at_least(int fd, int option, int force_option, size_t size) {
        int cur = 0, want = size > INT32_MAX / 2 ? INT32_MAX / 2 : (int)size;
        socklen_t len = sizeof cur;

        if (getsockopt(fd, SOL_SOCKET, option, &cur, &len) == 0 && cur >= want)
                return;
        if (setsockopt(fd, SOL_SOCKET, force_option, &want, sizeof want) < 0)
                (void)setsockopt(fd, SOL_SOCKET, option, &want, sizeof want);
}

/* A netlink socket for nf_tables batches. Extended acks point at the failing element;
 * capped acks do not echo the request back. Both are best effort: without them errors are
 * less precise, not wrong. */
static int socket_open(struct mnl_socket **ret) {
        struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
        int one = 1;

        if (!nl)
                return -errno;
        if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
                int r = -errno;
                mnl_socket_close(nl);
                return r;
        }
        (void)mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof one);
        (void)mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof one);
        *ret = nl;
        return 0;
}

/* Sends b on nl and reads every answer. The kernel handles a batch within the send call, so
 * by the time it returns every ack is queued: read until the socket is empty. Sets *ret_stale
 * when answers may be left unread, so the socket must not be used again. */
static int batch_send(struct mnl_socket *nl, const struct batch *b, bool *ret_stale, char **ret_error) {
        _cleanup_free_ char *rbuf = NULL;
        struct ack_state st = { .b = b };
        mnl_cb_t ctl_cb[NLMSG_MIN_TYPE] = { [NLMSG_ERROR] = ack_cb };
        const char *stage = NULL;
        int fd = mnl_socket_get_fd(nl), r = 0;

        *ret_stale = false;
        socket_buffer_at_least(fd, SO_SNDBUF, SO_SNDBUFFORCE, b->len + 4096);
        socket_buffer_at_least(fd, SO_RCVBUF, SO_RCVBUFFORCE, b->n_msgs * ACK_RCVBUF_PER_MSG);
        rbuf = malloc(ACK_READ_SIZE);
        if (!rbuf) {
                r = -ENOMEM;
                goto fail;
        }

        ssize_t k = mnl_socket_sendto(nl, b->buf, b->len);
        if (k < 0 || (size_t)k != b->len) {
                r = k < 0 ? -errno : -EMSGSIZE;
                stage = "cannot send the batch";
                goto fail;
        }
        for (;;) {
                k = mnl_socket_recvfrom(nl, rbuf, ACK_READ_SIZE);
                if (k < 0) {
                        if (errno == EAGAIN)
                                break;
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        *ret_stale = true;
                        /* Acks were dropped, or one was too long: read what remains. */
                        if (errno == ENOBUFS || errno == ENOSPC)
                                continue;
                        break;
                }
                if (mnl_cb_run2(rbuf, (size_t)k, 0, mnl_socket_get_portid(nl), NULL, &st, ctl_cb,
                                ELEMENTSOF(ctl_cb)) < 0 &&
                    r == 0)
                        r = -errno;
        }

        if (st.error < 0) {
                if (ret_error) {
                        char *text = describe_error(b, st.error_index, st.error, st.error_offset, st.error_msg);
                        if (!text)
                                return -ENOMEM;
                        *ret_error = text;
                }
                return st.error;
        }
        if (r < 0) {
                stage = "cannot read the kernel's answers; the outcome is unknown";
                goto fail;
        }
        /* Every message but the batch begin and end asked for an ack. */
        if (st.n_acked < b->n_msgs - 2) {
                r = -EPROTO;
                *ret_stale = true;
                stage = "the kernel did not answer every message; the outcome is unknown";
                goto fail;
        }
        return 0;

fail:
        if (ret_error && asprintf(ret_error, "%s: %s", stage ? stage : "out of memory", strerror(-r)) < 0)
                return -ENOMEM;
        return r;
}

static int refuse(const char *kind, const char *id, const char *why, char **ret_error) {
        if (ret_error && asprintf(ret_error, "%s %s: %s", kind, id, why) < 0)
                return -ENOMEM;
        return -EINVAL;
}

/* -EINVAL, described in *ret_error (optional), for the first VM or forward of c that the text
 * path would refuse too; 0 when there is none. */
static int check_applicable(const struct nft_changes *c, char **ret_error) {
        static const char vm_why[] = "invalid slug or address family";
        static const char fwd_why[] = "invalid proto, port or address family";

        for (size_t i = 0; i < c->n_del_vms; i++)
                if (!nft_vm_renderable(c->del_vms[i]))
                        return refuse("VM", c->del_vms[i]->id, vm_why, ret_error);
        for (size_t i = 0; i < c->n_add_vms; i++)
                if (!nft_vm_renderable(c->add_vms[i]))
                        return refuse("VM", c->add_vms[i]->id, vm_why, ret_error);
        for (size_t i = 0; i < c->n_del_fwds; i++)
                if (!nft_forward_renderable(c->del_fwds[i]))
                        return refuse("forward", c->del_fwds[i]->id, fwd_why, ret_error);
        for (size_t i = 0; i < c->n_add_fwds; i++)
                if (!nft_forward_renderable(c->add_fwds[i]))
                        return refuse("forward", c->add_fwds[i]->id, fwd_why, ret_error);
        for (size_t j = 0; j < 2; j++) {
                const struct lease *const *l = j ? c->add_leases : c->del_leases;
                const struct nft_port *const *p = j ? c->add_ports : c->del_ports;
                for (size_t i = 0; i < (j ? c->n_add_leases : c->n_del_leases); i++)
                        if (l[i]->ip == 0) {
                                char mac[MAC_TEXT_LEN + 1];
                                return refuse("lease", mac_format(l[i]->mac, mac), "no address", ret_error);
                        }
                for (size_t i = 0; i < (j ? c->n_add_ports : c->n_del_ports); i++)
                        if (!nft_ifname_renderable(p[i]->name))
                                return refuse("port", p[i]->name, "a name nft cannot take", ret_error);
        }
        return 0;
}

int nft_apply_changes(struct nft_apply *a, const struct nft_changes *c, char **ret_error) {
        _cleanup_(batch_done) struct batch b = {0};
        bool stale;
        int r;

        if (c->n_del_vms == 0 && c->n_del_fwds == 0 && c->n_add_vms == 0 && c->n_add_fwds == 0 &&
            c->n_del_leases == 0 && c->n_add_leases == 0 && c->n_del_ports == 0 && c->n_add_ports == 0)
                return 0;
        if ((r = check_applicable(c, ret_error)) < 0)
                return r;
        if (!a->nl && (r = socket_open(&a->nl)) < 0) {
                if (ret_error && asprintf(ret_error, "cannot open a netlink socket: %s", strerror(-r)) < 0)
                        return -ENOMEM;
                return r;
        }
        r = batch_build(&b, a->seq, c);
        if (r < 0) {
                if (ret_error && !(*ret_error = strdup("out of memory")))
                        return -ENOMEM;
                return r;
        }
        /* Fresh numbers for each batch, so a late answer to an earlier one is never taken for an
         * answer to this one. */
        a->seq += (uint32_t)b.n_msgs;
        r = batch_send(a->nl, &b, &stale, ret_error);
        if (stale) {
                mnl_socket_close(a->nl);
                a->nl = NULL;
        }
        return r;
}
