/* SPDX-License-Identifier: MIT */
/* IP address values: parsing, canonical formatting, target checks. */
#include "ipaddr.h"

#include <errno.h>
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
