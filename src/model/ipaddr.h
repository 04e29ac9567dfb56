/* SPDX-License-Identifier: MIT */
/*
 * IPv4/IPv6 addresses as plain values: parse, format canonically, compare, and decide
 * whether an address may be the target of a forward (a unicast host address).
 * Pure; no allocation.
 */
#pragma once

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>

#define IP_ADDR_STRLEN INET6_ADDRSTRLEN

struct ip_addr {
        int family; /* AF_INET or AF_INET6; 0 = unset */
        uint8_t bytes[16]; /* network order; IPv4 uses the first 4 */
};

/* Parses dotted-quad IPv4 or RFC 4291 IPv6 text (no zone, no brackets, no prefix).
 * Returns 0, or -EINVAL with *ret untouched. */
int ip_addr_parse(const char *s, struct ip_addr *ret);
/* Canonical text (inet_ntop) into buf; returns buf. */
const char *ip_addr_format(const struct ip_addr *a, char buf[static IP_ADDR_STRLEN]);
bool ip_addr_equal(const struct ip_addr *a, const struct ip_addr *b);

enum ip_target_problem {
        IP_TARGET_OK,
        IP_TARGET_UNSPECIFIED, /* 0.0.0.0, :: */
        IP_TARGET_LOOPBACK,
        IP_TARGET_MULTICAST,
        IP_TARGET_BROADCAST,
        IP_TARGET_LINK_LOCAL, /* 169.254/16, fe80::/10: not routable through a gateway */
        IP_TARGET_RESERVED, /* 0/8, 240/4, IPv4-mapped IPv6 */
};
/* Whether a forwarding target may be this address; a reason when not. */
enum ip_target_problem ip_target_check(const struct ip_addr *a);
const char *ip_target_problem_to_string(enum ip_target_problem p);

/* An address prefix, e.g. 203.0.113.0/24 or 2001:db8::/32 (host bits must be zero). */
struct ip_cidr {
        struct ip_addr addr;
        uint8_t prefix; /* 0..32 or 0..128 */
};
/* Parses "ADDR/LEN" or a bare address (a /32 or /128). Returns 0 or -EINVAL. */
int ip_cidr_parse(const char *s, struct ip_cidr *ret);
/* "ADDR/LEN" into buf (IP_ADDR_STRLEN + 4 bytes). */
const char *ip_cidr_format(const struct ip_cidr *c, char buf[static IP_ADDR_STRLEN + 4]);
/* Whether a is inside c. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) matches as IPv4. */
bool ip_cidr_contains(const struct ip_cidr *c, const struct ip_addr *a);
/* If a is IPv4-mapped IPv6, the plain IPv4 address; otherwise a copy of a. */
struct ip_addr ip_addr_unmap(const struct ip_addr *a);
/* "ADDR:PORT" with IPv6 in brackets ("[::]:443", "10.0.1.5:443"); port 1..65535.
 * Returns 0 or -EINVAL. */
int ip_endpoint_parse(const char *s, struct ip_addr *ret_addr, uint16_t *ret_port);
