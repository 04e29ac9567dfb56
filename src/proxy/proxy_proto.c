/* SPDX-License-Identifier: MIT */
/* PROXY protocol v1/v2 header rendering from a pair of socket addresses. */
#include "proxy_proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const uint8_t proxy_v2_signature[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

#define PROXY_V2_HEADER 16
#define PROXY_V2_VERSION_PROXY 0x21 /* version 2, command PROXY */
#define PROXY_V2_UNSPEC 0x00
#define PROXY_V2_TCP4 0x11
#define PROXY_V2_TCP6 0x21

/* An address as it goes on the wire: IPv4-mapped IPv6 already turned into IPv4. */
struct endpoint {
        int family;
        uint8_t addr[16]; /* network order; IPv4 uses the first 4 */
        uint16_t port; /* host order */
};

/* False for NULL and for families other than IPv4/IPv6. */
static bool endpoint_get(const struct sockaddr *sa, struct endpoint *ret) {
        if (!sa)
                return false;
        struct endpoint e = {0};
        if (sa->sa_family == AF_INET) {
                struct sockaddr_in in;
                memcpy(&in, sa, sizeof in);
                e.family = AF_INET;
                memcpy(e.addr, &in.sin_addr, 4);
                e.port = ntohs(in.sin_port);
        } else if (sa->sa_family == AF_INET6) {
                struct sockaddr_in6 in6;
                memcpy(&in6, sa, sizeof in6);
                if (IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr)) {
                        e.family = AF_INET;
                        memcpy(e.addr, in6.sin6_addr.s6_addr + 12, 4);
                } else {
                        e.family = AF_INET6;
                        memcpy(e.addr, in6.sin6_addr.s6_addr, 16);
                }
                e.port = ntohs(in6.sin6_port);
        } else
                return false;
        *ret = e;
        return true;
}

static uint8_t *put_u16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t)(v >> 8);
        p[1] = (uint8_t)v;
        return p + 2;
}

ssize_t proxy_v2_build(const struct sockaddr *src, const struct sockaddr *dst, uint8_t *out, size_t n) {
        struct endpoint s, d;
        if (!endpoint_get(src, &s) || !endpoint_get(dst, &d))
                return -EAFNOSUPPORT;

        uint8_t family;
        size_t addr_len;
        if (s.family != d.family) {
                family = PROXY_V2_UNSPEC;
                addr_len = 0;
        } else if (s.family == AF_INET) {
                family = PROXY_V2_TCP4;
                addr_len = 2 * 4 + 2 * 2;
        } else {
                family = PROXY_V2_TCP6;
                addr_len = 2 * 16 + 2 * 2;
        }
        if (n < PROXY_V2_HEADER + addr_len)
                return -ENOSPC;

        uint8_t *p = out;
        memcpy(p, proxy_v2_signature, sizeof proxy_v2_signature);
        p += sizeof proxy_v2_signature;
        *p++ = PROXY_V2_VERSION_PROXY;
        *p++ = family;
        p = put_u16(p, (uint16_t)addr_len);
        if (addr_len > 0) {
                size_t a = s.family == AF_INET ? 4 : 16;
                memcpy(p, s.addr, a);
                p += a;
                memcpy(p, d.addr, a);
                p += a;
                p = put_u16(p, s.port);
                p = put_u16(p, d.port);
        }
        return p - out;
}

ssize_t proxy_v1_build(const struct sockaddr *src, const struct sockaddr *dst, char *out, size_t n) {
        struct endpoint s, d;
        char line[PROXY_V1_MAX];
        int r;
        if (!endpoint_get(src, &s) || !endpoint_get(dst, &d) || s.family != d.family)
                r = snprintf(line, sizeof line, "PROXY UNKNOWN\r\n");
        else {
                char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
                if (!inet_ntop(s.family, s.addr, a, sizeof a) || !inet_ntop(d.family, d.addr, b, sizeof b))
                        return -EAFNOSUPPORT; /* cannot happen: both buffers fit any address */
                r = snprintf(line, sizeof line, "PROXY TCP%c %s %s %u %u\r\n", s.family == AF_INET ? '4' : '6', a, b,
                             (unsigned)s.port, (unsigned)d.port);
        }
        /* The longest line (two full IPv6 addresses) is 104 bytes: line always holds it. */
        if (r < 0 || (size_t)r >= sizeof line || (size_t)r >= n)
                return -ENOSPC;
        memcpy(out, line, (size_t)r + 1);
        return r;
}
