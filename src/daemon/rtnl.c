/* SPDX-License-Identifier: MIT */
/*
 * Routing netlink queries for the reconciler (rtnl.h): one request or dump each, on a socket
 * of its own that is closed again, answers read until NLMSG_DONE. libmnl, as batch.c.
 */
#include "rtnl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/util.h"

#define REQUEST_SIZE 512 /* a header and a few attributes */
#define RECV_SIZE 32768 /* more than the kernel puts in one datagram of a dump */

static void mnl_socket_closep(struct mnl_socket **nl) {
        if (*nl)
                mnl_socket_close(*nl);
}

/* Sends the request in buf and runs cb over every answer until the dump or ack is done. */
static int exchange(struct nlmsghdr *nlh, mnl_cb_t cb, void *data) {
        _cleanup_(mnl_socket_closep) struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
        _cleanup_free_ char *buf = malloc(RECV_SIZE);
        int one = 1;

        if (!nl || !buf)
                return nl ? -ENOMEM : -errno;
        if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
                return -errno;
        (void)mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof one);
        (void)mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof one);
        nlh->nlmsg_seq = (uint32_t)time(NULL);
        uint32_t seq = nlh->nlmsg_seq, portid = mnl_socket_get_portid(nl);
        if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
                return -errno;
        for (;;) {
                ssize_t k = mnl_socket_recvfrom(nl, buf, RECV_SIZE);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                int r = mnl_cb_run(buf, (size_t)k, seq, portid, cb, data);
                if (r < 0)
                        return -errno;
                if (r == MNL_CB_STOP)
                        return 0;
        }
}

/* ---- the default route ---- */

struct route_best {
        bool lookup; /* the answer to a lookup: whatever table it came from */
        uint32_t oif;
        uint32_t metric;
        bool found;
        bool other; /* the lookup matched a route that is not a default route */
};

static int route_cb(const struct nlmsghdr *nlh, void *data) {
        struct route_best *best = data;
        const struct rtmsg *rt = mnl_nlmsg_get_payload(nlh);
        const struct nlattr *a;
        uint32_t table = rt->rtm_table, oif = 0, metric = 0;

        if (nlh->nlmsg_type != RTM_NEWROUTE || rt->rtm_family != AF_INET)
                return MNL_CB_OK;
        if (rt->rtm_dst_len != 0 || rt->rtm_type != RTN_UNICAST) {
                best->other = true;
                return MNL_CB_OK;
        }
        mnl_attr_for_each(a, nlh, sizeof *rt) {
                switch (mnl_attr_get_type(a)) {
                case RTA_TABLE:
                        if (mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
                                table = mnl_attr_get_u32(a);
                        break;
                case RTA_OIF:
                        if (mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
                                oif = mnl_attr_get_u32(a);
                        break;
                case RTA_PRIORITY:
                        if (mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
                                metric = mnl_attr_get_u32(a);
                        break;
                case RTA_MULTIPATH: {
                        const struct rtnexthop *nh = mnl_attr_get_payload(a);
                        if (!oif && mnl_attr_get_payload_len(a) >= sizeof *nh)
                                oif = (uint32_t)nh->rtnh_ifindex;
                        break;
                }
                default:
                        break;
                }
        }
        if ((!best->lookup && table != RT_TABLE_MAIN) || !oif)
                return MNL_CB_OK;
        if (!best->found || metric < best->metric)
                *best = (struct route_best){ .oif = oif, .metric = metric, .found = true };
        return MNL_CB_OK;
}

/* The FIB entry the kernel would use for an address on the internet (RTM_F_FIB_MATCH): one
 * answer, whatever the size of the routing table. 0.0.0.0 itself cannot be looked up (the
 * kernel takes it for "this host"); 198.18.0.1 (RFC 2544's benchmarking range) is one that
 * no ordinary route covers and no full BGP table carries, so the match is the default
 * route. No route at all is no error: best stays empty. */
static int default_route_lookup(struct route_best *best) {
        char buf[REQUEST_SIZE];
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        uint32_t any = htonl(UINT32_C(0xc6120001)); /* 198.18.0.1 */

        nlh->nlmsg_type = RTM_GETROUTE;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
        struct rtmsg *rt = mnl_nlmsg_put_extra_header(nlh, sizeof *rt);
        rt->rtm_family = AF_INET;
        rt->rtm_dst_len = 32;
        rt->rtm_flags = RTM_F_FIB_MATCH;
        mnl_attr_put(nlh, RTA_DST, sizeof any, &any);
        *best = (struct route_best){ .lookup = true };
        int r = exchange(nlh, route_cb, best);
        return r == -ENETUNREACH || r == -EHOSTUNREACH ? 0 : r;
}

int rtnl_default_route_ifname(char name[static NFT_IFNAME_MAX]) {
        char buf[REQUEST_SIZE];
        struct route_best best;
        char ifname[IF_NAMESIZE];

        int r = default_route_lookup(&best);
        if (r < 0 || best.other) {
                /* A more specific route covers the address (a VPN's 128.0.0.0/1, say), or the
                 * lookup failed: the main table's default routes, from a dump. */
                struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
                nlh->nlmsg_type = RTM_GETROUTE;
                nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
                struct rtmsg *rt = mnl_nlmsg_put_extra_header(nlh, sizeof *rt);
                rt->rtm_family = AF_INET;
                best = (struct route_best){0};
                if ((r = exchange(nlh, route_cb, &best)) < 0)
                        return r;
        }
        if (!best.found || !if_indextoname(best.oif, ifname))
                return -ENOENT;
        strcpy_bounded(name, NFT_IFNAME_MAX, ifname);
        return 0;
}

/* ---- the bridge's ports ---- */

struct link_info {
        uint32_t index, master;
        char name[NFT_IFNAME_MAX];
        char kind[16];
};

static void parse_link(const struct nlmsghdr *nlh, struct link_info *ret) {
        const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
        const struct nlattr *a, *b;

        *ret = (struct link_info){ .index = (uint32_t)ifi->ifi_index };
        mnl_attr_for_each(a, nlh, sizeof *ifi) {
                switch (mnl_attr_get_type(a)) {
                case IFLA_IFNAME:
                        if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0)
                                strcpy_bounded(ret->name, sizeof ret->name, mnl_attr_get_str(a));
                        break;
                case IFLA_MASTER:
                        if (mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
                                ret->master = mnl_attr_get_u32(a);
                        break;
                case IFLA_LINKINFO:
                        mnl_attr_for_each_nested(b, a)
                                if (mnl_attr_get_type(b) == IFLA_INFO_KIND &&
                                    mnl_attr_validate(b, MNL_TYPE_NUL_STRING) >= 0)
                                        strcpy_bounded(ret->kind, sizeof ret->kind, mnl_attr_get_str(b));
                        break;
                default:
                        break;
                }
        }
}

static int bridge_cb(const struct nlmsghdr *nlh, void *data) {
        parse_link(nlh, data);
        return MNL_CB_OK;
}

struct ports_state {
        uint32_t master;
        struct nft_port *v;
        size_t n, cap;
        int error;
};

static int ports_cb(const struct nlmsghdr *nlh, void *data) {
        struct ports_state *st = data;
        struct link_info li;

        if (nlh->nlmsg_type != RTM_NEWLINK)
                return MNL_CB_OK;
        parse_link(nlh, &li);
        if (li.master != st->master || !li.name[0])
                return MNL_CB_OK;
        if (st->n == st->cap) {
                size_t cap = st->cap ? st->cap * 2 : 16;
                struct nft_port *v = reallocarray(st->v, cap, sizeof *v);
                if (!v) {
                        st->error = -ENOMEM;
                        return MNL_CB_ERROR;
                }
                st->v = v;
                st->cap = cap;
        }
        st->v[st->n++] = (struct nft_port){0};
        strcpy_bounded(st->v[st->n - 1].name, NFT_IFNAME_MAX, li.name);
        return MNL_CB_OK;
}

static int port_compare(const void *a, const void *b) {
        return strcmp(((const struct nft_port *)a)->name, ((const struct nft_port *)b)->name);
}

int rtnl_bridge_ports(const char *bridge, struct nft_port **ret, size_t *ret_n) {
        char buf[REQUEST_SIZE];
        struct link_info br = {0};
        int r;

        *ret = NULL;
        *ret_n = 0;
        /* The bridge itself: its index, and whether it is one. */
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = RTM_GETLINK;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK; /* the ack ends the exchange */
        struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof *ifi);
        ifi->ifi_family = AF_UNSPEC;
        mnl_attr_put_strz(nlh, IFLA_IFNAME, bridge);
        mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
        r = exchange(nlh, bridge_cb, &br);
        if (r == -ENODEV || (r >= 0 && !br.index))
                return -ENOENT;
        if (r < 0)
                return r;
        if (!streq(br.kind, "bridge"))
                return -ENOTDIR;

        /* Its ports: a dump the kernel filters by master (and so do we, for kernels that do not). */
        struct ports_state st = { .master = br.index };
        nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = RTM_GETLINK;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        ifi = mnl_nlmsg_put_extra_header(nlh, sizeof *ifi);
        ifi->ifi_family = AF_UNSPEC;
        mnl_attr_put_u32(nlh, IFLA_MASTER, br.index);
        mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
        r = exchange(nlh, ports_cb, &st);
        if (r < 0 || st.error < 0) {
                free(st.v);
                return st.error < 0 ? st.error : r;
        }
        if (st.n > 1)
                qsort(st.v, st.n, sizeof *st.v, port_compare);
        *ret = st.v;
        *ret_n = st.n;
        return 0;
}

/* ---- link changes ---- */

int rtnl_link_watch_open(void) {
        int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };

        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

bool rtnl_link_watch_drain(int fd) {
        char buf[8192];
        bool changed = false;

        for (;;) {
                ssize_t k = recv(fd, buf, sizeof buf, 0);
                if (k > 0) {
                        changed = true;
                        continue;
                }
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno == ENOBUFS) {
                        changed = true; /* notifications were lost: assume the worst */
                        continue;
                }
                return changed;
        }
}
