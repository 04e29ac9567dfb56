/* SPDX-License-Identifier: MIT */
/*
 * The incremental edge of the nft module: VM removals and additions applied to the live
 * `inet edgegw` table as one nf_tables netlink batch (one kernel transaction), built with
 * libnftnl and sent with libmnl over a netlink socket kept in struct nft_apply. libnftables
 * fills its cache from the kernel (every set and every counter object) before each
 * `add element`, so its cost grows with the table; here nothing is read back, and a change
 * costs the same with 10 or 10,000 VMs. The messages are those `nft` sends for the commands
 * of nft_render_vm_del() and nft_render_vm_add(), in the same order and with the same flags
 * (no NLM_F_EXCL, so re-adding an identical element or counter is not an error), so the
 * table ends up the same. The map layout below must agree with render.c's; the unit test
 * decodes built batches and compares them with nft_expected_items(). Every message asks for
 * an ack, and extended acks point at the element that failed, so an error names the VM, the
 * map and the element. Not thread-safe: one thread uses a given struct nft_apply at a time.
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

enum map_kind { MAP_PORTS, MAP_COUNTER_IN, MAP_COUNTER_OUT };

struct map_layout {
        const char *name;
        int family;
        enum map_kind kind;
        enum proto proto; /* MAP_PORTS only */
};

/* render.c's map_defs, in the same order: the order of the commands it renders. */
static const struct map_layout map_layouts[] = {
        { "tcp4", AF_INET, MAP_PORTS, PROTO_TCP },
        { "udp4", AF_INET, MAP_PORTS, PROTO_UDP },
        { "tcp6", AF_INET6, MAP_PORTS, PROTO_TCP },
        { "udp6", AF_INET6, MAP_PORTS, PROTO_UDP },
        { "cin4", AF_INET, MAP_COUNTER_IN, PROTO_TCP },
        { "cout4", AF_INET, MAP_COUNTER_OUT, PROTO_TCP },
        { "cin6", AF_INET6, MAP_COUNTER_IN, PROTO_TCP },
        { "cout6", AF_INET6, MAP_COUNTER_OUT, PROTO_TCP },
};

/* What one message of the batch does, to name it when the kernel refuses it. */
struct batch_msg {
        size_t offset; /* of its nlmsghdr in the buffer */
        uint16_t type; /* NFT_MSG_*; 0 for the batch begin and end */
        const struct vm *vm; /* borrowed; NULL for the batch begin and end */
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

/* Same rule as render.c's vm_renderable(): the text path refuses these VMs, so do we. */
static bool vm_applicable(const struct vm *vm) {
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

static size_t addr_len(int family) {
        return family == AF_INET ? 4 : 16;
}

/* Starts a message of the given type with room for room bytes and records what it is for;
 * returns its header, to be filled and then closed with msg_finish(). NLM_F_ACK on every
 * message, so each one's outcome comes back. */
static int msg_start(struct batch *b, uint16_t type, uint16_t flags, size_t room, const struct vm *vm,
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
                nlh = nftnl_nlmsg_build_hdr(at, type, NFPROTO_INET, NLM_F_ACK | flags, seq);

        struct batch_msg *m = &b->msgs[b->n_msgs++];
        *m = (struct batch_msg){ .offset = b->len, .type = vm ? type : 0, .vm = vm };
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

/* One NEWSETELEM or DELSETELEM message with vm's elements in map m, none when it has no
 * element there: an empty DELSETELEM would flush the whole map. Deletions carry keys only.
 * The kernel's registers are 4 bytes wide, so a port in concatenated data takes 4 bytes
 * (2 in network order, then zeros) while a port key alone is 2. pm holds vm's port map. */
static int put_elements(struct batch *b, const struct map_layout *m, const struct vm *vm, bool add,
                        const struct port_map_entry *pm, size_t n_pm) {
        _cleanup_(nftnl_set_freep) struct nftnl_set *s = NULL;
        size_t alen = addr_len(vm->ip.family), n = 0;
        int r;

        if (vm->ip.family != m->family)
                return 0;
        s = nftnl_set_alloc();
        if (!s || nftnl_set_set_str(s, NFTNL_SET_TABLE, NFT_TABLE_NAME) < 0 ||
            nftnl_set_set_str(s, NFTNL_SET_NAME, m->name) < 0)
                return -ENOMEM;

        if (m->kind == MAP_PORTS) {
                for (size_t i = 0; i < n_pm; i++) {
                        if (pm[i].proto != m->proto)
                                continue;
                        uint16_t key = htons(pm[i].public_port), vm_port = htons(pm[i].vm_port);
                        uint8_t data[16 + 4] = {0};
                        memcpy(data, vm->ip.bytes, alen);
                        memcpy(data + alen, &vm_port, sizeof vm_port);
                        r = element_add(s, &key, sizeof key, add ? data : NULL, (uint32_t)(alen + 4), NULL);
                        if (r < 0)
                                return r;
                        n++;
                }
        } else {
                char in[NFT_COUNTER_NAME_MAX], out[NFT_COUNTER_NAME_MAX];
                nft_counter_names(vm, in, out);
                r = element_add(s, vm->ip.bytes, (uint32_t)alen, NULL, 0,
                                add ? (m->kind == MAP_COUNTER_IN ? in : out) : NULL);
                if (r < 0)
                        return r;
                n++;
        }
        if (n == 0)
                return 0;

        struct nlmsghdr *nlh;
        r = msg_start(b, add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM, add ? NLM_F_CREATE : 0,
                      MSG_ROOM_BASE + n * MSG_ROOM_PER_ELEMENT, vm, m->name, &nlh);
        if (r < 0)
                return r;
        nftnl_set_elems_nlmsg_build_payload(nlh, s);
        msg_finish(b, nlh);
        return 0;
}

/* One NEWOBJ or DELOBJ message for a counter; a new one starts at zero, as `add counter`. */
static int put_counter(struct batch *b, const struct vm *vm, const char *name, bool add) {
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

        r = msg_start(b, add ? NFT_MSG_NEWOBJ : NFT_MSG_DELOBJ, add ? NLM_F_CREATE : 0, MSG_ROOM_BASE, vm, name,
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
        for (size_t m = 0; m < ELEMENTSOF(map_layouts); m++)
                if ((r = put_elements(b, &map_layouts[m], vm, add, pm, n_pm)) < 0)
                        return r;
        if (!add && ((r = put_counter(b, vm, in, false)) < 0 || (r = put_counter(b, vm, out, false)) < 0))
                return r;
        return 0;
}

/* Builds the whole batch into *b: begin, the removals, the additions, end. Returns 0 or
 * -ENOMEM. The VMs have passed vm_applicable(). */
static int batch_build(struct batch *b, uint32_t seq_first, const struct vm *const *del, size_t n_del,
                       const struct vm *const *add, size_t n_add) {
        struct nlmsghdr *nlh;
        int r;

        *b = (struct batch){ .seq_first = seq_first };
        if ((r = msg_start(b, NFNL_MSG_BATCH_BEGIN, 0, MSG_ROOM_BASE, NULL, NULL, &nlh)) < 0)
                goto fail;
        msg_finish(b, nlh);
        for (size_t i = 0; i < n_del; i++)
                if ((r = put_vm(b, del[i], false)) < 0)
                        goto fail;
        for (size_t i = 0; i < n_add; i++)
                if ((r = put_vm(b, add[i], true)) < 0)
                        goto fail;
        if ((r = msg_start(b, NFNL_MSG_BATCH_END, 0, MSG_ROOM_BASE, NULL, NULL, &nlh)) < 0)
                goto fail;
        msg_finish(b, nlh);
        return 0;
fail:
        batch_done(b);
        return r;
}

/* The key of the element of a set element message that holds byte offset bad_offset (from the
 * start of the message, as the kernel's extended ack gives it), as nft would print it; "" when
 * the offset falls on no element. */
static void element_key_at(const struct nlmsghdr *nlh, uint32_t bad_offset, char *buf, size_t size) {
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
                                        const uint8_t *p = mnl_attr_get_payload(value);
                                        uint16_t len = mnl_attr_get_payload_len(value);
                                        char ip[IP_ADDR_STRLEN];
                                        uint16_t port;

                                        if (mnl_attr_get_type(value) != NFTA_DATA_VALUE)
                                                continue;
                                        if (len == 2) {
                                                memcpy(&port, p, sizeof port);
                                                snprintf(buf, size, "%u", ntohs(port));
                                        } else if ((len == 4 && inet_ntop(AF_INET, p, ip, sizeof ip)) ||
                                                   (len == 16 && inet_ntop(AF_INET6, p, ip, sizeof ip)))
                                                snprintf(buf, size, "%s", ip);
                                        return;
                                }
                        }
                        return;
                }
        }
}

/* The malloc'd description of the kernel's error for message b->msgs[index], e.g.
 *   "VM web-1: delete element inet edgegw tcp4 { 20001 }: No such file or directory".
 * bad_offset is the extended ack's offset of the failing attribute (0: none); kernel_msg the
 * kernel's own message (may be NULL). NULL when out of memory. */
static char *describe_error(const struct batch *b, size_t index, int error, uint32_t bad_offset,
                            const char *kernel_msg) {
        _cleanup_strbuf_ struct strbuf s = {0};
        const struct batch_msg *m = index < b->n_msgs ? &b->msgs[index] : NULL;

        if (!m || !m->vm)
                strbuf_printf(&s, "the kernel refused the transaction: %s", strerror(-error));
        else {
                const struct nlmsghdr *nlh = (const struct nlmsghdr *)(b->buf + m->offset);
                bool adding = m->type == NFT_MSG_NEWOBJ || m->type == NFT_MSG_NEWSETELEM;
                strbuf_printf(&s, "VM %s: %s ", m->vm->id, adding ? "add" : "delete");
                if (m->type == NFT_MSG_NEWOBJ || m->type == NFT_MSG_DELOBJ)
                        strbuf_printf(&s, "counter " TABLE " %s", m->name);
                else {
                        char key[IP_ADDR_STRLEN] = "";
                        if (bad_offset > 0 && bad_offset < nlh->nlmsg_len)
                                element_key_at(nlh, bad_offset, key, sizeof key);
                        strbuf_printf(&s, "element " TABLE " %s", m->name);
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

/* The first VM of vms[0..n) that the text path would refuse too, or NULL. */
static const struct vm *first_inapplicable(const struct vm *const *vms, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!vm_applicable(vms[i]))
                        return vms[i];
        return NULL;
}

int nft_apply_vm_changes(struct nft_apply *a, const struct vm *const *del, size_t n_del,
                         const struct vm *const *add, size_t n_add, char **ret_error) {
        _cleanup_(batch_done) struct batch b = {0};
        const struct vm *bad;
        bool stale;
        int r;

        if (n_del == 0 && n_add == 0)
                return 0;
        bad = first_inapplicable(del, n_del);
        if (!bad)
                bad = first_inapplicable(add, n_add);
        if (bad) {
                if (ret_error && asprintf(ret_error, "VM %s: invalid slug or address family", bad->id) < 0)
                        return -ENOMEM;
                return -EINVAL;
        }
        if (!a->nl && (r = socket_open(&a->nl)) < 0) {
                if (ret_error && asprintf(ret_error, "cannot open a netlink socket: %s", strerror(-r)) < 0)
                        return -ENOMEM;
                return r;
        }
        r = batch_build(&b, a->seq, del, n_del, add, n_add);
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
