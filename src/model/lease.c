/* SPDX-License-Identifier: MIT */
#include "lease.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/config.h"

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        c = (char)tolower((unsigned char)c);
        return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int mac_parse(const char *text, uint8_t mac[static MAC_LEN]) {
        if (!text || strlen(text) != MAC_TEXT_LEN)
                return -EINVAL;
        char sep = text[2];
        if (sep != ':' && sep != '-')
                return -EINVAL;
        uint8_t m[MAC_LEN];
        for (size_t i = 0; i < MAC_LEN; i++) {
                const char *p = text + 3 * i;
                int hi = hexval(p[0]), lo = hexval(p[1]);
                if (hi < 0 || lo < 0 || (i < MAC_LEN - 1 && p[2] != sep))
                        return -EINVAL;
                m[i] = (uint8_t)(hi << 4 | lo);
        }
        static const uint8_t zero[MAC_LEN];
        if ((m[0] & 1) || memcmp(m, zero, MAC_LEN) == 0)
                return -EINVAL;
        memcpy(mac, m, MAC_LEN);
        return 0;
}

char *mac_format(const uint8_t mac[static MAC_LEN], char *out) {
        snprintf(out, MAC_TEXT_LEN + 1, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
        return out;
}

bool lease_name_valid(const char *name) {
        size_t l = strlen(name);
        if (l == 0 || l > LEASE_NAME_MAX || name[0] == '-' || name[l - 1] == '-')
                return false;
        for (const char *p = name; *p; p++)
                if (!(*p >= 'a' && *p <= 'z') && !(*p >= '0' && *p <= '9') && *p != '-')
                        return false;
        return true;
}

char *ipv4_format(uint32_t ip, char *out) {
        snprintf(out, 16, "%u.%u.%u.%u", ip >> 24, ip >> 16 & 255, ip >> 8 & 255, ip & 255);
        return out;
}

int ipv4_parse(const char *text, uint32_t *ret) {
        struct ip_addr a;
        if (!text || ip_addr_parse(text, &a) < 0 || a.family != AF_INET)
                return -EINVAL;
        *ret = (uint32_t)a.bytes[0] << 24 | (uint32_t)a.bytes[1] << 16 | (uint32_t)a.bytes[2] << 8 | a.bytes[3];
        return 0;
}

int lease_pool_init(struct lease_pool *p, const struct config *c) {
        *p = (struct lease_pool){0};
        if (!c->dhcp_interface[0] || ipv4_parse(c->dhcp_pool_start, &p->start) < 0 ||
            ipv4_parse(c->dhcp_pool_end, &p->end) < 0 || p->start > p->end ||
            ipv4_parse(c->dhcp_subnet, &p->net) < 0 || ipv4_parse(c->dhcp_subnet_mask, &p->mask) < 0 ||
            ipv4_parse(c->dhcp_gateway, &p->gateway) < 0)
                return -EINVAL;
        if (c->dhcp_listen_ip[0] && ipv4_parse(c->dhcp_listen_ip, &p->listen_ip) < 0)
                return -EINVAL;
        uint64_t n = (uint64_t)p->end - p->start + 1;
        p->used = calloc((size_t)((n + 63) / 64), sizeof *p->used);
        if (!p->used)
                return -ENOMEM;
        p->n_free = (size_t)n;
        /* The gateway and our own address are never handed out. */
        lease_pool_set(p, p->gateway, true);
        if (p->listen_ip)
                lease_pool_set(p, p->listen_ip, true);
        return 0;
}

void lease_pool_done(struct lease_pool *p) {
        free(p->used);
        p->used = NULL;
}

static bool in_range(const struct lease_pool *p, uint32_t ip) {
        return p->used && ip >= p->start && ip <= p->end;
}

bool lease_pool_contains(const struct lease_pool *p, uint32_t ip) {
        return in_range(p, ip) && ip != p->gateway && ip != p->listen_ip;
}

bool lease_pool_in_subnet(const struct lease_pool *p, uint32_t ip) {
        return (ip & p->mask) == p->net && ip != p->net && ip != (p->net | ~p->mask) && ip != p->gateway &&
               (!p->listen_ip || ip != p->listen_ip);
}

bool lease_pool_used(const struct lease_pool *p, uint32_t ip) {
        if (!in_range(p, ip))
                return false;
        uint32_t i = ip - p->start;
        return (p->used[i / 64] >> (i % 64)) & 1;
}

void lease_pool_set(struct lease_pool *p, uint32_t ip, bool used) {
        if (!in_range(p, ip) || lease_pool_used(p, ip) == used)
                return;
        uint32_t i = ip - p->start;
        if (used) {
                p->used[i / 64] |= (uint64_t)1 << (i % 64);
                p->n_free--;
        } else {
                p->used[i / 64] &= ~((uint64_t)1 << (i % 64));
                p->n_free++;
        }
}

int lease_pool_find(const struct lease_pool *p, uint32_t *ret) {
        if (!p->used || p->n_free == 0)
                return -ENOSPC;
        uint64_t n = (uint64_t)p->end - p->start + 1;
        for (uint64_t w = 0; w < (n + 63) / 64; w++) {
                if (p->used[w] == UINT64_MAX)
                        continue;
                for (unsigned b = 0; b < 64; b++) {
                        uint64_t i = w * 64 + b;
                        if (i >= n)
                                return -ENOSPC;
                        if (!((p->used[w] >> b) & 1)) {
                                *ret = p->start + (uint32_t)i;
                                return 0;
                        }
                }
        }
        return -ENOSPC;
}
