/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/nft/batch.c, without privileges and without a kernel: the batches it
 * builds are decoded again with libnftnl and compared with what render.c says the table
 * holds (nft_expected_items()), message by message with what `nft` sends for the text
 * commands, and the ack parsing and error descriptions are fed hand-made kernel answers.
 * batch.c is included whole so its static builders can be called. The kernel's side (the
 * table afterwards, errors, packets through the maps) is exercised by tests/e2e, whose VM
 * and forward additions and removals go through nft_apply_changes().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "nft/batch.c"

static struct vm make_vm(const char *slug, const char *ip, uint16_t block_start, uint16_t block_size) {
        struct vm v = {0};
        snprintf(v.id, sizeof v.id, "vm-%s", slug);
        snprintf(v.slug, sizeof v.slug, "%s", slug);
        assert_int_equal(ip_addr_parse(ip, &v.ip), 0);
        v.block_start = block_start;
        v.block_size = block_size;
        return v;
}

static struct forward_def make_fwd(const char *id, enum proto proto, uint16_t public_port, const char *ip,
                                   uint16_t port) {
        struct forward_def f = {0};
        snprintf(f.id, sizeof f.id, "%s", id);
        f.proto = (uint8_t)proto;
        f.public_port = public_port;
        assert_int_equal(ip_addr_parse(ip, &f.ip), 0);
        f.port = port;
        return f;
}

static const struct nlmsghdr *msg_at(const struct batch *b, size_t i) {
        return (const struct nlmsghdr *)(b->buf + b->msgs[i].offset);
}

static uint16_t msg_type(const struct nlmsghdr *nlh) {
        return nlh->nlmsg_type & 0xff;
}

/* A batch decoded into lines: "add counter in_x", "delete elem tcp4 20001",
 * "add elem tcp4 20001 10.0.1.5 10001", "add elem cin4 10.0.1.5 in_x" (the add lines without
 * their verb are nft_expected_items() strings). Also checks what holds for every message. */
struct decoded {
        char **lines;
        size_t n;
};

static void decoded_done(struct decoded *d) {
        for (size_t i = 0; i < d->n; i++)
                free(d->lines[i]);
        free(d->lines);
        *d = (struct decoded){0};
}

static void push(struct decoded *d, const char *fmt, ...) _printf_(2, 3);
static void push(struct decoded *d, const char *fmt, ...) {
        va_list ap;
        d->lines = reallocarray(d->lines, d->n + 1, sizeof *d->lines);
        assert_non_null(d->lines);
        va_start(ap, fmt);
        assert_true(vasprintf(&d->lines[d->n++], fmt, ap) >= 0);
        va_end(ap);
}

static void format_key(const uint8_t *p, uint32_t len, char *buf, size_t size) {
        char ip[IP_ADDR_STRLEN];
        uint16_t port;
        if (len == 2) {
                memcpy(&port, p, 2);
                snprintf(buf, size, "%u", ntohs(port));
        } else {
                assert_true(len == 4 || len == 16);
                assert_non_null(inet_ntop(len == 4 ? AF_INET : AF_INET6, p, ip, sizeof ip));
                snprintf(buf, size, "%s", ip);
        }
}

/* The payload of the NFTA_DATA_VALUE inside nest. */
static const uint8_t *data_value(const struct nlattr *nest, uint32_t *ret_len) {
        const struct nlattr *a;
        const uint8_t *value = NULL;
        mnl_attr_for_each_nested(a, nest) {
                assert_int_equal(mnl_attr_get_type(a), NFTA_DATA_VALUE);
                value = mnl_attr_get_payload(a);
                *ret_len = mnl_attr_get_payload_len(a);
        }
        assert_non_null(value);
        return value;
}

/* A bridge-table key as its item shows it: a MAC (6 bytes), "MAC ADDRESS" (12: the MAC padded
 * to 8, the address), an interface name (16, zero-padded), an address (4). */
static void format_bridge_key(const uint8_t *p, uint32_t len, char *buf, size_t size) {
        char mac[MAC_TEXT_LEN + 1], ip[IP_ADDR_STRLEN];
        if (len == MAC_LEN)
                snprintf(buf, size, "%s", mac_format(p, mac));
        else if (len == 12) {
                assert_int_equal(p[6], 0);
                assert_int_equal(p[7], 0);
                assert_non_null(inet_ntop(AF_INET, p + 8, ip, sizeof ip));
                snprintf(buf, size, "%s %s", mac_format(p, mac), ip);
        } else if (len == NFT_IFNAME_MAX) {
                assert_int_equal(p[len - 1], 0);
                for (size_t i = strlen((const char *)p); i < len; i++)
                        assert_int_equal(p[i], 0);
                snprintf(buf, size, "%s", (const char *)p);
        } else {
                assert_int_equal(len, 4);
                assert_non_null(inet_ntop(AF_INET, p, ip, sizeof ip));
                snprintf(buf, size, "%s", ip);
        }
}

/* Decoded by hand rather than with nftnl_set_elems_nlmsg_parse(), which wants every element
 * nest to be of type NFTA_LIST_ELEM while libnftnl's own builder numbers them (the kernel
 * ignores the type), and so that the test does not trust the library it checks. Bridge
 * messages become "add bridge elem SET KEY" / "delete bridge elem SET KEY". */
static void decode_setelem(const struct nlmsghdr *nlh, bool add, bool bridge, struct decoded *d) {
        const struct nlattr *attr, *elem, *a;
        const char *table = NULL, *map = NULL;
        size_t n = 0;

        mnl_attr_for_each(attr, nlh, sizeof(struct nfgenmsg)) {
                switch (mnl_attr_get_type(attr)) {
                case NFTA_SET_ELEM_LIST_TABLE:
                        table = mnl_attr_get_str(attr);
                        break;
                case NFTA_SET_ELEM_LIST_SET:
                        map = mnl_attr_get_str(attr);
                        break;
                case NFTA_SET_ELEM_LIST_ELEMENTS:
                        assert_non_null(map); /* libnftnl puts the names first */
                        mnl_attr_for_each_nested(elem, attr) {
                                const uint8_t *key = NULL, *data = NULL;
                                uint32_t klen = 0, dlen = 0;
                                const char *objref = NULL;
                                char k[64], v[IP_ADDR_STRLEN];

                                mnl_attr_for_each_nested(a, elem) {
                                        switch (mnl_attr_get_type(a)) {
                                        case NFTA_SET_ELEM_KEY:
                                                key = data_value(a, &klen);
                                                break;
                                        case NFTA_SET_ELEM_DATA:
                                                data = data_value(a, &dlen);
                                                break;
                                        case NFTA_SET_ELEM_OBJREF:
                                                objref = mnl_attr_get_str(a);
                                                break;
                                        default:
                                                fail_msg("unexpected element attribute %u", mnl_attr_get_type(a));
                                        }
                                }
                                n++;
                                assert_non_null(key);
                                if (bridge) {
                                        /* sets, not maps: a key and nothing else */
                                        assert_null(data);
                                        assert_null(objref);
                                        format_bridge_key(key, klen, k, sizeof k);
                                        push(d, "%s bridge elem %s %s", add ? "add" : "delete", map, k);
                                        continue;
                                }
                                format_key(key, klen, k, sizeof k);
                                if (!add) {
                                        assert_null(data);
                                        assert_null(objref);
                                        push(d, "delete elem %s %s", map, k);
                                } else if (objref) {
                                        assert_null(data);
                                        push(d, "add elem %s %s %s", map, k, objref);
                                } else {
                                        /* an address, then a port padded to a 4-byte register */
                                        uint16_t port;
                                        assert_non_null(data);
                                        assert_true(dlen == 8 || dlen == 20);
                                        format_key(data, dlen - 4, v, sizeof v);
                                        memcpy(&port, data + dlen - 4, 2);
                                        assert_int_equal(data[dlen - 2], 0);
                                        assert_int_equal(data[dlen - 1], 0);
                                        push(d, "add elem %s %s %s %u", map, k, v, ntohs(port));
                                }
                        }
                        break;
                default:
                        fail_msg("unexpected attribute %u", mnl_attr_get_type(attr));
                }
        }
        assert_non_null(table);
        assert_string_equal(table, NFT_TABLE_NAME);
        /* An empty DELSETELEM flushes the whole map: never one without elements. */
        assert_true(n > 0);
        assert_true(nlh->nlmsg_len <= MSG_ROOM_BASE + n * MSG_ROOM_PER_ELEMENT);
}

static void decode_counter(const struct nlmsghdr *nlh, bool add, struct decoded *d) {
        struct nftnl_obj *o = nftnl_obj_alloc();
        assert_non_null(o);
        assert_int_equal(nftnl_obj_nlmsg_parse(nlh, o), 0);
        assert_string_equal(nftnl_obj_get_str(o, NFTNL_OBJ_TABLE), NFT_TABLE_NAME);
        assert_int_equal(nftnl_obj_get_u32(o, NFTNL_OBJ_TYPE), NFT_OBJECT_COUNTER);
        if (add) {
                assert_int_equal(nftnl_obj_get_u64(o, NFTNL_OBJ_CTR_PKTS), 0);
                assert_int_equal(nftnl_obj_get_u64(o, NFTNL_OBJ_CTR_BYTES), 0);
        }
        push(d, "%s counter %s", add ? "add" : "delete", nftnl_obj_get_str(o, NFTNL_OBJ_NAME));
        assert_true(nlh->nlmsg_len <= MSG_ROOM_BASE);
        nftnl_obj_free(o);
}

static void decode(const struct batch *b, struct decoded *d) {
        *d = (struct decoded){0};
        assert_true(b->n_msgs >= 2);
        assert_int_equal(msg_at(b, 0)->nlmsg_type, NFNL_MSG_BATCH_BEGIN);
        assert_int_equal(msg_at(b, b->n_msgs - 1)->nlmsg_type, NFNL_MSG_BATCH_END);

        size_t offset = 0;
        for (size_t i = 0; i < b->n_msgs; i++) {
                const struct nlmsghdr *nlh = msg_at(b, i);
                /* back to back, numbered in order */
                assert_int_equal(b->msgs[i].offset, offset);
                assert_int_equal(nlh->nlmsg_seq, (uint32_t)(b->seq_first + i));
                offset += NLMSG_ALIGN(nlh->nlmsg_len);
                if (i == 0 || i == b->n_msgs - 1)
                        continue;

                uint16_t type = msg_type(nlh);
                bool add = type == NFT_MSG_NEWOBJ || type == NFT_MSG_NEWSETELEM;
                const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);
                bool bridge = b->msgs[i].owner.kind &&
                              (streq(b->msgs[i].owner.kind, "lease") || streq(b->msgs[i].owner.kind, "port"));
                assert_int_equal(nlh->nlmsg_type >> 8, NFNL_SUBSYS_NFTABLES);
                assert_int_equal(g->nfgen_family, bridge ? NFPROTO_BRIDGE : NFPROTO_INET);
                /* as `nft add` / `nft delete`, plus an ack for each message */
                assert_int_equal(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE : 0));
                assert_int_equal(b->msgs[i].type, type);
                assert_non_null(b->msgs[i].owner.kind);
                assert_true(owner_id(&b->msgs[i].owner)[0] != '\0');
                if (type == NFT_MSG_NEWSETELEM || type == NFT_MSG_DELSETELEM)
                        decode_setelem(nlh, add, bridge, d);
                else {
                        assert_true(type == NFT_MSG_NEWOBJ || type == NFT_MSG_DELOBJ);
                        decode_counter(nlh, add, d);
                }
        }
        assert_int_equal(offset, b->len);
}

static int line_compare(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Everything an addition puts in the kernel is what render.c expects there, no more. */
static void test_add_matches_expected_items(void **state) {
        struct vm vms[] = {
                make_vm("k7m2p4", "10.0.1.5", 20000, 10),
                make_vm("a1b2c3", "10.0.1.6", 20010, 5),
                make_vm("z9y8x7", "2001:db8:0:0:1:0:0:1", 20020, 10),
                make_vm("ssh0nl", "10.0.1.7", 20030, 1), /* 22/tcp only: no udp element */
                make_vm("big000", "fd00::9", 30000, PORTS_PER_VM_MAX),
        };
        struct forward_def fwds[] = {
                make_fwd("ssh-jump", PROTO_TCP, 2222, "10.30.0.200", 22),
                make_fwd("dns", PROTO_UDP, 53, "10.30.0.53", 5353),
                make_fwd("web6", PROTO_TCP, 8443, "fd00::80", 443),
                make_fwd("wg6", PROTO_UDP, 51820, "fd00::81", 51820),
        };
        const struct vm *add[ELEMENTSOF(vms)];
        const struct forward_def *add_fwds[ELEMENTSOF(fwds)];
        for (size_t i = 0; i < ELEMENTSOF(vms); i++)
                add[i] = &vms[i];
        for (size_t i = 0; i < ELEMENTSOF(fwds); i++)
                add_fwds[i] = &fwds[i];
        const struct nft_changes c = {
                .add_vms = add, .n_add_vms = ELEMENTSOF(vms), .add_fwds = add_fwds, .n_add_fwds = ELEMENTSOF(fwds)
        };

        struct batch b;
        assert_int_equal(batch_build(&b, 7, &c), 0);
        struct decoded d;
        decode(&b, &d);

        struct nft_items want;
        assert_int_equal(nft_expected_items(vms, ELEMENTSOF(vms), fwds, ELEMENTSOF(fwds), &want), 0);
        size_t k = 0;
        for (size_t i = 0; i < want.n; i++) {
                if (strncmp(want.items[i], "counter ", 8) && strncmp(want.items[i], "elem ", 5))
                        continue;
                k++;
        }
        assert_int_equal(d.n, k);
        for (size_t i = 0; i < d.n; i++)
                memmove(d.lines[i], d.lines[i] + 4, strlen(d.lines[i] + 4) + 1); /* drop "add " */
        qsort(d.lines, d.n, sizeof *d.lines, line_compare);
        k = 0;
        for (size_t i = 0; i < want.n; i++) {
                if (strncmp(want.items[i], "counter ", 8) && strncmp(want.items[i], "elem ", 5))
                        continue;
                assert_string_equal(d.lines[k], want.items[i]);
                k++;
        }
        nft_items_done(&want);
        decoded_done(&d);
        batch_done(&b);
}

/* The order of golden/nft-del-vm.nft then golden/nft-add-vm.nft: for a removal the elements
 * map by map and then the counters, for an addition the counters first. */
static void test_message_order(void **state) {
        struct vm old = make_vm("k7m2p4", "10.0.1.5", 20000, 4);
        struct vm new = make_vm("z9y8x7", "2001:db8::1", 20000, 3);
        const struct vm *del[] = { &old }, *add[] = { &new };
        static const char *const expected[] = {
                "delete elem tcp4 20000", "delete elem tcp4 20001", "delete elem udp4 20002",
                "delete elem udp4 20003", "delete elem cin4 10.0.1.5", "delete elem cout4 10.0.1.5",
                "delete counter in_k7m2p4", "delete counter out_k7m2p4",
                "add counter in_z9y8x7", "add counter out_z9y8x7",
                "add elem tcp6 20000 2001:db8::1 22", "add elem tcp6 20001 2001:db8::1 10001",
                "add elem udp6 20002 2001:db8::1 10002", "add elem cin6 2001:db8::1 in_z9y8x7",
                "add elem cout6 2001:db8::1 out_z9y8x7",
        };

        const struct nft_changes c = { .del_vms = del, .n_del_vms = 1, .add_vms = add, .n_add_vms = 1 };
        struct batch b;
        assert_int_equal(batch_build(&b, UINT32_MAX - 3, &c), 0); /* numbers wrap */
        struct decoded d;
        decode(&b, &d);
        assert_int_equal(d.n, ELEMENTSOF(expected));
        for (size_t i = 0; i < d.n; i++)
                assert_string_equal(d.lines[i], expected[i]);
        /* one message per map with elements, one per counter, plus begin and end */
        assert_int_equal(b.n_msgs, 2 + 6 + 6);
        assert_string_equal(b.msgs[1].name, "tcp4");
        assert_string_equal(b.msgs[1].owner.kind, "VM");
        assert_ptr_equal(b.msgs[1].owner.id, old.id);
        assert_string_equal(b.msgs[8].name, "out_z9y8x7");
        decoded_done(&d);
        batch_done(&b);
}

static uint32_t element_offset(const struct nlmsghdr *nlh, size_t nth);
static void assert_description(const struct batch *b, size_t index, int error, uint32_t offset,
                               const char *kernel_msg, const char *expected_prefix);

/* Forwards sit between the VMs: VM removals, forward removals, VM additions, forward
 * additions, one message per forward in the map of its proto and family. */
static void test_message_order_forwards(void **state) {
        struct vm old = make_vm("k7m2p4", "10.0.1.5", 20000, 2);
        struct vm new = make_vm("z9y8x7", "10.0.1.9", 20000, 1);
        struct forward_def gone = make_fwd("dns", PROTO_UDP, 53, "10.30.0.53", 5353);
        struct forward_def moved_old = make_fwd("web", PROTO_TCP, 8443, "10.30.0.200", 443);
        struct forward_def moved_new = make_fwd("web", PROTO_TCP, 8443, "fd00::80", 443);
        const struct vm *del[] = { &old }, *add[] = { &new };
        const struct forward_def *del_fwds[] = { &gone, &moved_old }, *add_fwds[] = { &moved_new };
        static const char *const expected[] = {
                "delete elem tcp4 20000", "delete elem udp4 20001", "delete elem cin4 10.0.1.5",
                "delete elem cout4 10.0.1.5", "delete counter in_k7m2p4", "delete counter out_k7m2p4",
                "delete elem udp4 53", "delete elem tcp4 8443",
                "add counter in_z9y8x7", "add counter out_z9y8x7", "add elem tcp4 20000 10.0.1.9 22",
                "add elem cin4 10.0.1.9 in_z9y8x7", "add elem cout4 10.0.1.9 out_z9y8x7",
                "add elem tcp6 8443 fd00::80 443",
        };
        const struct nft_changes c = {
                .del_vms = del, .n_del_vms = 1, .del_fwds = del_fwds, .n_del_fwds = 2,
                .add_vms = add, .n_add_vms = 1, .add_fwds = add_fwds, .n_add_fwds = 1,
        };

        struct batch b;
        assert_int_equal(batch_build(&b, 1, &c), 0);
        struct decoded d;
        decode(&b, &d);
        assert_int_equal(d.n, ELEMENTSOF(expected));
        for (size_t i = 0; i < d.n; i++)
                assert_string_equal(d.lines[i], expected[i]);
        assert_int_equal(b.n_msgs, 2 + 14);
        assert_string_equal(b.msgs[7].owner.kind, "forward");
        assert_ptr_equal(b.msgs[7].owner.id, gone.id);
        assert_string_equal(b.msgs[7].name, "udp4");
        assert_ptr_equal(b.msgs[14].owner.id, moved_new.id);
        assert_string_equal(b.msgs[14].name, "tcp6");

        /* What the kernel would say about them. */
        assert_description(&b, 8, -ENOENT, element_offset(msg_at(&b, 8), 0), NULL,
                           "forward web: delete element inet edgegw tcp4 { 8443 }");
        assert_description(&b, 14, -EEXIST, 0, "boom", "forward web: add element inet edgegw tcp6");
        decoded_done(&d);
        batch_done(&b);
}

/* Refused VMs and empty change sets never reach the socket (there is none here). */
static void test_refused_and_empty(void **state) {
        struct nft_apply a = {0};
        struct vm good = make_vm("k7m2p4", "10.0.1.5", 20000, 4);
        struct vm bad_slug = make_vm("b4dslg", "10.0.1.6", 20010, 4);
        struct vm no_family = good;
        char *err = NULL;

        snprintf(bad_slug.slug, sizeof bad_slug.slug, "K7;");
        no_family.ip.family = 0;
        const struct vm *one_bad[] = { &good, &bad_slug }, *unset[] = { &no_family }, *ok[] = { &good };

        assert_int_equal(nft_apply_changes(&a, &(struct nft_changes){0}, &err), 0);
        assert_null(err);
        assert_int_equal(nft_apply_changes(&a, &(struct nft_changes){ .del_vms = ok, .n_del_vms = 1, .add_vms = one_bad, .n_add_vms = 2 }, &err),
                         -EINVAL);
        assert_string_equal(err, "VM vm-b4dslg: invalid slug or address family");
        free(err);
        err = NULL;
        assert_int_equal(nft_apply_changes(&a, &(struct nft_changes){ .del_vms = unset, .n_del_vms = 1 }, NULL), -EINVAL);

        /* A forward must have a proto, both ports and an address family. */
        struct forward_def fine = make_fwd("f-ok", PROTO_TCP, 2222, "10.30.0.200", 22);
        struct forward_def bad[4] = { fine, fine, fine, fine };
        bad[0].proto = 7;
        bad[1].public_port = 0;
        bad[2].port = 0;
        bad[3].ip.family = 0;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                snprintf(bad[i].id, sizeof bad[i].id, "f-bad%zu", i);
                const struct forward_def *list[] = { &fine, &bad[i] };
                assert_int_equal(nft_apply_changes(&a, &(struct nft_changes){ .add_vms = ok, .n_add_vms = 1, .add_fwds = list, .n_add_fwds = 2 }, &err),
                                 -EINVAL);
                char want[64];
                snprintf(want, sizeof want, "forward f-bad%zu: invalid proto, port or address family", i);
                assert_string_equal(err, want);
                free(err);
                err = NULL;
                assert_int_equal(nft_apply_changes(&a, &(struct nft_changes){ .del_fwds = list + 1, .n_del_fwds = 1 }, NULL),
                                 -EINVAL);
        }
        assert_null(a.nl);
}

/* Offset of the nth element of a set element message, as the kernel's extended ack gives it. */
static uint32_t element_offset(const struct nlmsghdr *nlh, size_t nth) {
        const struct nlattr *list, *elem;
        mnl_attr_for_each(list, nlh, sizeof(struct nfgenmsg)) {
                if (mnl_attr_get_type(list) != NFTA_SET_ELEM_LIST_ELEMENTS)
                        continue;
                mnl_attr_for_each_nested(elem, list) {
                        if (nth-- == 0)
                                return (uint32_t)((const char *)elem - (const char *)nlh);
                }
        }
        fail();
        return 0;
}

static void assert_description(const struct batch *b, size_t index, int error, uint32_t offset,
                               const char *kernel_msg, const char *expected_prefix) {
        char expected[256];
        snprintf(expected, sizeof expected, "%s: %s%s%s%s", expected_prefix, strerror(-error),
                 kernel_msg ? " (" : "", kernel_msg ? kernel_msg : "", kernel_msg ? ")" : "");
        char *text = describe_error(b, index, error, offset, kernel_msg);
        assert_non_null(text);
        assert_string_equal(text, expected);
        free(text);
}

static void test_describe_error(void **state) {
        struct vm v4 = make_vm("k7m2p4", "10.0.1.5", 20000, 10);
        struct vm v6 = make_vm("z9y8x7", "2001:db8::1", 20020, 10);
        const struct vm *del[] = { &v4 }, *add[] = { &v6 };
        struct batch b;

        assert_int_equal(batch_build(&b, 100, &(struct nft_changes){ .del_vms = del, .n_del_vms = 1, .add_vms = add, .n_add_vms = 1 }), 0);
        /* 1 tcp4 (5 elements), 2 udp4, 3 cin4, 4 cout4, 5-6 counters; 7-8 counters, 9 tcp6, ... */
        assert_description(&b, 1, -ENOENT, element_offset(msg_at(&b, 1), 2), NULL,
                           "VM vm-k7m2p4: delete element inet edgegw tcp4 { 20002 }");
        assert_description(&b, 2, -ENOENT, element_offset(msg_at(&b, 2), 0), NULL,
                           "VM vm-k7m2p4: delete element inet edgegw udp4 { 20005 }");
        assert_description(&b, 3, -ENOENT, element_offset(msg_at(&b, 3), 0) + 8, NULL,
                           "VM vm-k7m2p4: delete element inet edgegw cin4 { 10.0.1.5 }");
        assert_description(&b, 1, -ENOENT, 0, NULL, "VM vm-k7m2p4: delete element inet edgegw tcp4");
        assert_description(&b, 1, -ENOENT, 4, NULL, "VM vm-k7m2p4: delete element inet edgegw tcp4");
        assert_description(&b, 5, -EBUSY, 0, NULL, "VM vm-k7m2p4: delete counter inet edgegw in_k7m2p4");
        assert_description(&b, 8, -EEXIST, 0, "boom", "VM vm-z9y8x7: add counter inet edgegw out_z9y8x7");
        assert_description(&b, 11, -EEXIST, element_offset(msg_at(&b, 11), 0), NULL,
                           "VM vm-z9y8x7: add element inet edgegw cin6 { 2001:db8::1 }");
        assert_description(&b, 0, -ENOMEM, 0, NULL, "the kernel refused the transaction");
        assert_description(&b, 999, -EPERM, 0, NULL, "the kernel refused the transaction");
        batch_done(&b);
}

/* Appends a kernel answer for request seq to buf at *len: error 0 is an ack; with offset or
 * msg the extended ack attributes follow the capped request header. */
static void put_answer(char *buf, size_t *len, uint32_t seq, int error, uint32_t offset, const char *msg) {
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf + *len);
        nlh->nlmsg_type = NLMSG_ERROR;
        nlh->nlmsg_seq = seq;
        nlh->nlmsg_flags = NLM_F_CAPPED;
        struct nlmsgerr *e = mnl_nlmsg_put_extra_header(nlh, sizeof *e);
        e->error = error;
        e->msg = (struct nlmsghdr){ .nlmsg_len = 64, .nlmsg_seq = seq };
        if (offset || msg) {
                nlh->nlmsg_flags |= NLM_F_ACK_TLVS;
                if (msg)
                        mnl_attr_put_strz(nlh, NLMSGERR_ATTR_MSG, msg);
                if (offset)
                        mnl_attr_put_u32(nlh, NLMSGERR_ATTR_OFFS, offset);
        }
        *len += nlh->nlmsg_len;
}

static void test_ack_parsing(void **state) {
        struct vm v = make_vm("k7m2p4", "10.0.1.5", 20000, 10);
        const struct vm *add[] = { &v };
        mnl_cb_t ctl_cb[NLMSG_MIN_TYPE] = { [NLMSG_ERROR] = ack_cb };
        char buf[4096] __attribute__((aligned(4)));
        size_t len = 0;
        struct batch b;

        assert_int_equal(batch_build(&b, 40, &(struct nft_changes){ .add_vms = add, .n_add_vms = 1 }), 0); /* seq 40..47 */
        put_answer(buf, &len, 41, 0, 0, NULL);
        put_answer(buf, &len, 45, -ENOENT, 0, "later");
        put_answer(buf, &len, 43, -EEXIST, 36, "first");
        put_answer(buf, &len, 44, -EEXIST, 0, NULL);
        put_answer(buf, &len, 39, -EPERM, 0, NULL); /* not ours: before the batch */
        put_answer(buf, &len, 48, -EPERM, 0, NULL); /* not ours: after it */

        struct ack_state st = { .b = &b };
        assert_true(mnl_cb_run2(buf, len, 0, 0, NULL, &st, ctl_cb, ELEMENTSOF(ctl_cb)) >= 0);
        assert_int_equal(st.n_acked, 4);
        assert_int_equal(st.error, -EEXIST); /* the earliest message's, not the first to arrive */
        assert_int_equal(st.error_index, 3);
        assert_int_equal(st.error_offset, 36);
        assert_string_equal(st.error_msg, "first");
        batch_done(&b);
}


/* ---- the bridge table's elements (issue 6) ---- */

static struct lease make_lease(const char *mac, const char *ip) {
        struct lease l = {0};
        assert_int_equal(mac_parse(mac, l.mac), 0);
        assert_int_equal(ipv4_parse(ip, &l.ip), 0);
        return l;
}

/* Leases and ports added put exactly the bridge elements render.c expects in the kernel. */
static void test_bridge_matches_expected_items(void **state) {
        struct lease l[] = { make_lease("52:54:00:00:00:01", "10.0.1.5"), make_lease("52:54:00:ab:cd:ef", "10.0.1.20") };
        const struct nft_port ports[] = { { "tap100i0" }, { "fifteen-chars-x" } };
        const struct lease *add_l[] = { &l[0], &l[1] };
        const struct nft_port *add_p[] = { &ports[0], &ports[1] };
        struct nft_vmnet net = { .bridge = "br0" };
        const struct nft_desired want_d = { .net = &net, .leases = l, .n_leases = 2, .ports = ports, .n_ports = 2 };
        struct batch b;
        struct decoded d;
        struct nft_items want;

        assert_int_equal(batch_build(&b, 1, &(struct nft_changes){ .add_leases = add_l, .n_add_leases = 2,
                                                                   .add_ports = add_p, .n_add_ports = 2 }),
                         0);
        decode(&b, &d);
        assert_int_equal(b.n_msgs, 2 + 2 * 3 + 2); /* one message per lease set and per port */
        assert_int_equal(nft_expected_desired(&want_d, &want), 0);
        for (size_t i = 0; i < d.n; i++)
                memmove(d.lines[i], d.lines[i] + 4, strlen(d.lines[i] + 4) + 1); /* drop "add " */
        qsort(d.lines, d.n, sizeof *d.lines, line_compare);
        size_t k = 0;
        for (size_t i = 0; i < want.n; i++) {
                if (strncmp(want.items[i], "bridge elem ", 12))
                        continue;
                assert_true(k < d.n);
                assert_string_equal(d.lines[k], want.items[i]);
                k++;
        }
        assert_int_equal(k, d.n);
        nft_items_done(&want);
        decoded_done(&d);
        batch_done(&b);
}

/* Removals before additions across both tables; a moved lease is a removal and an addition. */
static void test_bridge_message_order(void **state) {
        struct vm v = make_vm("k7m2p4", "10.0.1.5", 20000, 1);
        struct lease old = make_lease("52:54:00:00:00:02", "10.0.1.6"), moved = make_lease("52:54:00:00:00:02", "10.0.1.8");
        const struct nft_port gone = { "vm2" }, joined = { "tap101i0" };
        const struct vm *add_v[] = { &v };
        const struct lease *del_l[] = { &old }, *add_l[] = { &moved };
        const struct nft_port *del_p[] = { &gone }, *add_p[] = { &joined };
        static const char *const expected[] = {
                "delete bridge elem leases 52:54:00:00:00:02 10.0.1.6",
                "delete bridge elem lease_macs 52:54:00:00:00:02",
                "delete bridge elem lease_ips 10.0.1.6",
                "delete bridge elem ports vm2",
                "add counter in_k7m2p4", "add counter out_k7m2p4", "add elem tcp4 20000 10.0.1.5 22",
                "add elem cin4 10.0.1.5 in_k7m2p4", "add elem cout4 10.0.1.5 out_k7m2p4",
                "add bridge elem leases 52:54:00:00:00:02 10.0.1.8",
                "add bridge elem lease_macs 52:54:00:00:00:02",
                "add bridge elem lease_ips 10.0.1.8",
                "add bridge elem ports tap101i0",
        };
        struct batch b;
        struct decoded d;

        assert_int_equal(batch_build(&b, 9, &(struct nft_changes){ .add_vms = add_v, .n_add_vms = 1,
                                                                   .del_leases = del_l, .n_del_leases = 1,
                                                                   .add_leases = add_l, .n_add_leases = 1,
                                                                   .del_ports = del_p, .n_del_ports = 1,
                                                                   .add_ports = add_p, .n_add_ports = 1 }),
                         0);
        decode(&b, &d);
        assert_int_equal(d.n, ELEMENTSOF(expected));
        for (size_t i = 0; i < d.n; i++)
                assert_string_equal(d.lines[i], expected[i]);
        assert_string_equal(b.msgs[1].owner.kind, "lease");
        assert_string_equal(owner_id(&b.msgs[1].owner), "52:54:00:00:00:02");
        assert_string_equal(b.msgs[3].name, "lease_ips");
        assert_string_equal(b.msgs[4].owner.kind, "port");
        assert_ptr_equal(b.msgs[4].owner.id, gone.name);

        /* What the kernel would say about them. */
        assert_description(&b, 1, -ENOENT, element_offset(msg_at(&b, 1), 0), NULL,
                           "lease 52:54:00:00:00:02: delete element bridge edgegw leases { 52:54:00:00:00:02 . 10.0.1.6 }");
        assert_description(&b, 2, -ENOENT, element_offset(msg_at(&b, 2), 0), NULL,
                           "lease 52:54:00:00:00:02: delete element bridge edgegw lease_macs { 52:54:00:00:00:02 }");
        assert_description(&b, 3, -ENOENT, element_offset(msg_at(&b, 3), 0), NULL,
                           "lease 52:54:00:00:00:02: delete element bridge edgegw lease_ips { 10.0.1.6 }");
        assert_description(&b, 4, -ENOENT, element_offset(msg_at(&b, 4), 0), "gone",
                           "port vm2: delete element bridge edgegw ports { \"vm2\" }");
        assert_description(&b, 13, -ENOENT, 0, NULL, "port tap101i0: add element bridge edgegw ports");
        decoded_done(&d);
        batch_done(&b);
}

static void test_bridge_refused(void **state) {
        struct nft_apply a = {0};
        struct lease none = make_lease("52:54:00:00:00:09", "10.0.1.9");
        const struct nft_port bad = { "a\"b" };
        const struct lease *l[] = { &none };
        const struct nft_port *p[] = { &bad };
        char *err = NULL;

        none.ip = 0;
        assert_int_equal(nft_apply_changes(&a, &(struct nft_changes){ .add_leases = l, .n_add_leases = 1 }, &err),
                         -EINVAL);
        assert_string_equal(err, "lease 52:54:00:00:00:09: no address");
        free(err);
        err = NULL;
        assert_int_equal(nft_apply_changes(&a, &(struct nft_changes){ .del_ports = p, .n_del_ports = 1 }, &err),
                         -EINVAL);
        assert_string_equal(err, "port a\"b: a name nft cannot take");
        free(err);
        assert_null(a.nl);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_add_matches_expected_items),
                cmocka_unit_test(test_message_order),
                cmocka_unit_test(test_message_order_forwards),
                cmocka_unit_test(test_refused_and_empty),
                cmocka_unit_test(test_describe_error),
                cmocka_unit_test(test_ack_parsing),
                cmocka_unit_test(test_bridge_matches_expected_items),
                cmocka_unit_test(test_bridge_message_order),
                cmocka_unit_test(test_bridge_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
