/* SPDX-License-Identifier: MIT */
/*
 * The JSON codec of DHCP leases (issue 6): the body of POST /v1/leases, a MAC as the API
 * takes it (path, body, a VM's "mac"), the checks of a wanted address against the [dhcp]
 * pool, the list query of GET /v1/leases and the lease object the API answers with. Bytes
 * and the pool in, a request or a message naming the field and what is wrong out: pure (no
 * I/O, no logging, no globals), fuzzed (tests/fuzz/fuzz-leasejson.c).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../model/lease.h"
#include "vmjson.h"

enum lease_decode_status {
        LEASE_DECODE_OK,
        LEASE_DECODE_INVALID_JSON, /* 400 invalid_json: not a JSON object */
        LEASE_DECODE_INVALID_ARGUMENT, /* 400 invalid_argument: a field missing, unknown or of the wrong type */
        LEASE_DECODE_INVALID_LEASE, /* 422 invalid_lease: not a MAC, not an IPv4 address, not a host name label */
};
/* The HTTP status and error code of a refusal; NULL for LEASE_DECODE_OK. */
const char *lease_decode_code(enum lease_decode_status st, unsigned *ret_status);

struct lease_request {
        uint8_t mac[MAC_LEN];
        uint32_t ip; /* host order; 0 = not given: the lowest free pool address */
        char name[LEASE_NAME_MAX + 1]; /* "" = none */
};

/* Decodes POST /v1/leases: {"mac": STRING, "ip"?: STRING | null, "name"?: STRING | null}.
 * On failure *ret is untouched and err (size API_ERROR_MAX) names the field and the
 * problem. */
enum lease_decode_status lease_request_decode(const char *body, size_t len, struct lease_request *ret,
                                              char err[static API_ERROR_MAX]);

/* text as a MAC (mac_parse(): ':' or '-', any case; unicast and not zero) into mac. false
 * with err ("FIELD: 'x' is not a MAC address ...", or why a well-formed one is refused:
 * multicast/broadcast, all zero). field is how messages name it, e.g. "field 'mac'". */
bool lease_mac_decode(const char *text, const char *field, uint8_t mac[static MAC_LEN], char err[static API_ERROR_MAX]);

/* Whether ip may be leased in pool p (lease_pool_init()ed): inside the subnet and not its
 * network or broadcast address, the gateway or the DHCP server's own address. It may lie
 * outside pool_start..pool_end (a fixed address). false with err saying which rule. */
bool lease_ip_allowed(const struct lease_pool *p, uint32_t ip, char err[static API_ERROR_MAX]);

/* "10.0.1.0/24" (or "10.0.1.0/255.255.0.255" for a mask that is not a prefix) of p's subnet
 * into out (40 bytes); returns out. */
#define LEASE_SUBNET_TEXT_MAX 40
char *lease_subnet_format(const struct lease_pool *p, char out[static LEASE_SUBNET_TEXT_MAX]);

/* The query of GET /v1/leases: "limit" (1-API_LIST_LIMIT_MAX, default API_LIST_LIMIT_DEFAULT)
 * and "after" (a MAC: the previous page's "next"), each at most once. Anything else is
 * -EINVAL with err (*ret untouched). */
struct lease_list_query {
        size_t limit;
        char after[MAC_TEXT_LEN + 1]; /* lower case with ':'; "" = from the start */
};
int lease_list_query_parse(const char *const *keys, const char *const *values, size_t n, struct lease_list_query *ret,
                           char err[static API_ERROR_MAX]);

/* The API's lease object: {"mac", "ip", "name" (null when none), "vm_id" (null when none),
 * "created_at", "updated_at"}. New reference, or NULL (ENOMEM). */
json_t *lease_to_json(const struct lease *l);
