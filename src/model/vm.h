/* SPDX-License-Identifier: MIT */
/*
 * The VM as the rest of the program sees it, and the pure rules about it: which ids and
 * DNS names are valid, and how a port block maps public ports to VM ports (seed 000's
 * layout: offset 0 -> 22/tcp for SSH, then TCP, then UDP, VM port = 10000 + offset), and
 * the per-VM options of the SNI proxy (PROXY protocol, plain HTTP passthrough, allow-list).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipaddr.h"

#define VM_ID_MAX 64
#define SLUG_LEN 6
#define DNS_NAME_MAX 253
#define PORTS_PER_VM_MAX 1000
#define VM_ALLOW_MAX 16 /* equal to ROUTE_ALLOW_MAX in proxy/routes.h */

/* Which PROXY protocol header the SNI proxy sends to the VM before the client's bytes.
 * enum proxy_protocol in proxy/routes.h has the same values, so the reconciler copies one
 * into the other; the model does not include the proxy (it sits below it). */
enum vm_proxy_protocol { VM_PROXY_NONE = 0, VM_PROXY_V1 = 1, VM_PROXY_V2 = 2 };
/* "none", "v1", "v2" (the API's and the store's spelling); NULL for any other value. */
const char *vm_proxy_protocol_to_string(enum vm_proxy_protocol p);
/* The reverse, exact and case-sensitive. Returns 0, or -EINVAL with *ret untouched. */
int vm_proxy_protocol_from_string(const char *s, enum vm_proxy_protocol *ret);

struct vm {
        char id[VM_ID_MAX + 1];
        char slug[SLUG_LEN + 1];
        struct ip_addr ip;
        uint16_t block_start; /* first public port of the block */
        uint16_t block_size; /* ports in the block, as allocated (config may change later) */
        int64_t created_at; /* unix seconds */
        /* SNI proxy options (for the VM's name on :443 and :80) */
        uint8_t proxy_protocol; /* enum vm_proxy_protocol */
        bool http_passthrough; /* plain HTTP on :80 is relayed to VM:80 (ACME HTTP-01), not redirected */
        uint8_t n_allow; /* 0 = any source; else only sources inside allow[0..n_allow) */
        struct ip_cidr allow[VM_ALLOW_MAX]; /* canonical (host bits zero), no duplicates */
};

enum proto { PROTO_TCP, PROTO_UDP };
const char *proto_to_string(enum proto p);

struct port_map_entry {
        uint16_t public_port;
        enum proto proto;
        uint16_t vm_port;
};

/* Fills out[0..block_size) with the block's port map, in public-port order:
 * offset 0 -> 22/tcp; offsets 1..t -> tcp; t+1..size-1 -> udp, where t = (size-1)/2 and the
 * VM port is 10000 + offset. For size 10 that is seed 000's 1-4 tcp, 5-9 udp.
 * Returns the number of entries (= block_size). */
size_t vm_port_map(uint16_t block_start, uint16_t block_size, struct port_map_entry *out);
/* Counts of each part of a block's layout (for summaries such as "TCP: 20001-20004"). */
void vm_port_layout(uint16_t block_size, uint16_t *ret_tcp, uint16_t *ret_udp);

/* A VM id: 1..64 of [A-Za-z0-9._-], starting with a letter or digit. */
bool vm_id_valid(const char *id);
/* A DNS label: 1..63 of [a-z0-9-] (lower case), not starting or ending with '-'. */
bool dns_label_valid(const char *label, size_t len);
/* A host name of one or more valid labels separated by '.', at most 253 characters. */
bool dns_name_valid(const char *name);
/* "{slug}.{datacenter}.{domain}" into buf; -ENAMETOOLONG if it would exceed 253. */
int vm_subdomain(const char *slug, const char *datacenter, const char *domain, char buf[static DNS_NAME_MAX + 1]);
