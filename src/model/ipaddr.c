/* SPDX-License-Identifier: MIT */
/* IP address values: parsing, canonical formatting, target checks. */
#include "ipaddr.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

int ip_addr_parse(const char *s, struct ip_addr *ret) {
        struct ip_addr a = {0};
        if (!s)
                return -EINVAL;
        if (inet_pton(AF_INET, s, a.bytes) == 1)
                a.family = AF_INET;
        else if (inet_pton(AF_INET6, s, a.bytes) == 1)
                a.family = AF_INET6;
        else
                return -EINVAL;
        *ret = a;
        return 0;
}

const char *ip_addr_format(const struct ip_addr *a, char buf[static IP_ADDR_STRLEN]) {
        if (!a->family || !inet_ntop(a->family, a->bytes, buf, IP_ADDR_STRLEN))
                strcpy(buf, "?");
        return buf;
}

bool ip_addr_equal(const struct ip_addr *a, const struct ip_addr *b) {
        if (a->family != b->family)
                return false;
        return memcmp(a->bytes, b->bytes, a->family == AF_INET ? 4 : 16) == 0;
}

enum ip_target_problem ip_target_check(const struct ip_addr *a) {
        const uint8_t *b = a->bytes;
        if (a->family == AF_INET) {
                uint32_t v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
                if (v == 0)
                        return IP_TARGET_UNSPECIFIED;
                if (v == 0xffffffffu)
                        return IP_TARGET_BROADCAST;
                if (b[0] == 127)
                        return IP_TARGET_LOOPBACK;
                if (b[0] >= 224 && b[0] <= 239)
                        return IP_TARGET_MULTICAST;
                if (b[0] == 169 && b[1] == 254)
                        return IP_TARGET_LINK_LOCAL;
                if (b[0] == 0 || b[0] >= 240)
                        return IP_TARGET_RESERVED;
                return IP_TARGET_OK;
        }
        static const uint8_t zero[16], loop[16] = {[15] = 1};
        static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
        if (memcmp(b, zero, 16) == 0)
                return IP_TARGET_UNSPECIFIED;
        if (memcmp(b, loop, 16) == 0)
                return IP_TARGET_LOOPBACK;
        if (b[0] == 0xff)
                return IP_TARGET_MULTICAST;
        if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
                return IP_TARGET_LINK_LOCAL;
        if (memcmp(b, mapped, 12) == 0)
                return IP_TARGET_RESERVED;
        return IP_TARGET_OK;
}

const char *ip_target_problem_to_string(enum ip_target_problem p) {
        switch (p) {
        case IP_TARGET_OK: return "ok";
        case IP_TARGET_UNSPECIFIED: return "the unspecified address cannot be a target";
        case IP_TARGET_LOOPBACK: return "a loopback address cannot be a target";
        case IP_TARGET_MULTICAST: return "a multicast address cannot be a target";
        case IP_TARGET_BROADCAST: return "the broadcast address cannot be a target";
        case IP_TARGET_LINK_LOCAL: return "a link-local address cannot be routed to";
        case IP_TARGET_RESERVED: return "a reserved or IPv4-mapped address cannot be a target";
        }
        return "invalid";
}

struct ip_addr ip_addr_unmap(const struct ip_addr *a) {
        static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
        struct ip_addr r = *a;
        if (a->family == AF_INET6 && memcmp(a->bytes, mapped, 12) == 0) {
                r = (struct ip_addr){.family = AF_INET};
                memcpy(r.bytes, a->bytes + 12, 4);
        }
        return r;
}

int ip_cidr_parse(const char *s, struct ip_cidr *ret) {
        char buf[IP_ADDR_STRLEN + 4];
        if (!s || strlen(s) >= sizeof buf)
                return -EINVAL;
        strcpy(buf, s);
        char *slash = strchr(buf, '/');
        struct ip_cidr c = {0};
        if (slash)
                *slash = '\0';
        if (ip_addr_parse(buf, &c.addr) < 0)
                return -EINVAL;
        unsigned max = c.addr.family == AF_INET ? 32 : 128;
        if (slash) {
                const char *p = slash + 1;
                if (!*p || strlen(p) > 3)
                        return -EINVAL;
                unsigned v = 0;
                for (; *p; p++) {
                        if (*p < '0' || *p > '9')
                                return -EINVAL;
                        v = v * 10 + (unsigned)(*p - '0');
                }
                if (v > max || (slash[1] == '0' && slash[2]))
                        return -EINVAL;
                c.prefix = (uint8_t)v;
        } else
                c.prefix = (uint8_t)max;
        /* Host bits set ("10.0.0.1/8") is almost always a typo: refuse it. */
        for (unsigned bit = c.prefix; bit < max; bit++)
                if (c.addr.bytes[bit / 8] & (0x80 >> (bit % 8)))
                        return -EINVAL;
        *ret = c;
        return 0;
}

const char *ip_cidr_format(const struct ip_cidr *c, char buf[static IP_ADDR_STRLEN + 4]) {
        char a[IP_ADDR_STRLEN];
        snprintf(buf, IP_ADDR_STRLEN + 4, "%s/%u", ip_addr_format(&c->addr, a), c->prefix);
        return buf;
}

bool ip_cidr_contains(const struct ip_cidr *c, const struct ip_addr *a) {
        struct ip_addr x = ip_addr_unmap(a);
        if (x.family != c->addr.family)
                return false;
        unsigned full = c->prefix / 8, rest = c->prefix % 8;
        if (memcmp(x.bytes, c->addr.bytes, full) != 0)
                return false;
        if (rest) {
                uint8_t mask = (uint8_t)(0xff << (8 - rest));
                if ((x.bytes[full] & mask) != (c->addr.bytes[full] & mask))
                        return false;
        }
        return true;
}

int ip_endpoint_parse(const char *s, struct ip_addr *ret_addr, uint16_t *ret_port) {
        char host[IP_ADDR_STRLEN + 2];
        const char *colon = strrchr(s, ':');
        if (!colon || colon == s)
                return -EINVAL;
        size_t hl = (size_t)(colon - s);
        if (s[0] == '[') {
                if (hl < 3 || s[hl - 1] != ']' || hl - 2 >= sizeof host)
                        return -EINVAL;
                memcpy(host, s + 1, hl - 2);
                host[hl - 2] = '\0';
        } else {
                if (hl >= sizeof host || memchr(s, ':', hl))
                        return -EINVAL;
                memcpy(host, s, hl);
                host[hl] = '\0';
        }
        const char *p = colon + 1;
        if (!*p || strlen(p) > 5)
                return -EINVAL;
        unsigned port = 0;
        for (; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                port = port * 10 + (unsigned)(*p - '0');
        }
        struct ip_addr a;
        if (port < 1 || port > 65535 || ip_addr_parse(host, &a) < 0 || (s[0] == '[') != (a.family == AF_INET6))
                return -EINVAL;
        *ret_addr = a;
        *ret_port = (uint16_t)port;
        return 0;
}
