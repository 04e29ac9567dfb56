/* SPDX-License-Identifier: MIT */
/*
 * JSON codecs of the VM resource: decoding a create or replace request (bytes from the
 * network: strict, every problem named, fuzzed) and encoding a VM as the API's object,
 * including its DNS records; and, beside them, the rows of the DNS outbox as
 * /v1/dns/records shows them (the query filters and the row object). Pure; the field
 * decoders it shares with the other resources live in resjson.c.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../model/resource.h"
#include "../model/vm.h"
#include "../store/store.h"

#define API_ERROR_MAX 256

struct vm_request {
        char id[VM_ID_MAX + 1];
        struct ip_addr ip; /* all zero when not given (then has_mac) */
        bool has_ip;
        bool has_mac; /* "mac": the VM takes (or gets) the DHCP lease of this MAC (issue 6) */
        uint8_t mac[6]; /* MAC_LEN */
        /* optional fields; absent = the defaults below */
        uint8_t proxy_protocol; /* enum vm_proxy_protocol; VM_PROXY_NONE */
        bool http_passthrough; /* false */
        uint8_t n_allow; /* 0 = any source */
        struct ip_cidr allow[VM_ALLOW_MAX]; /* canonical, no duplicates, no IPv4-mapped prefixes */
        uint8_t n_hostnames; /* 0 = none */
        char hostnames[VM_HOSTNAMES_MAX][DNS_NAME_MAX + 1]; /* route_hostname_valid, distinct, sorted */
        char labels[LABELS_JSON_MAX]; /* canonical labels text; "{}" */
        int64_t ttl; /* seconds (VM_TTL_MIN..VM_TTL_MAX); 0 = not given */
        int64_t expires_at; /* unix seconds; 0 = not given (or null) */
};

#define VM_TTL_MIN 60
#define VM_TTL_MAX 31536000 /* a year */

enum api_decode_status {
        API_DECODE_OK,
        API_DECODE_INVALID_JSON, /* not JSON, or not an object: 400 invalid_json */
        API_DECODE_INVALID_ARGUMENT, /* a field is missing, unknown, mistyped or bad: 400 invalid_argument */
        API_DECODE_UNSUPPORTED, /* a valid request edgegw cannot serve (route mode): 422 unsupported */
        API_DECODE_TLS_TERMINATION, /* the agent's http:// target_url: 422 tls_termination_unsupported */
};

/* Decodes the body of POST /v1/vms (path_id NULL: "id" required) or PUT /v1/vms/ID (path_id
 * = ID: "id" optional, and equal to it when given): {"id": STRING, "ip": STRING} or {"id",
 * "mac": STRING} or both (the MAC's DHCP lease decides or gets the address), plus the
 * optional "proxy_protocol" ("none" | "v1" | "v2"), "http_passthrough" (boolean), "allow"
 * (array of at most VM_ALLOW_MAX distinct CIDR strings with the host bits zero), "hostnames"
 * (array of at most VM_HOSTNAMES_MAX distinct route_hostname_valid names), "labels" (object)
 * and one of "ttl" (integer seconds VM_TTL_MIN..VM_TTL_MAX) or "expires_at" (RFC 3339 text or
 * null). On failure *ret is untouched and err (size API_ERROR_MAX) says what was wrong, naming
 * the field. */
enum api_decode_status vm_request_decode(const char *body, size_t len, const char *path_id, struct vm_request *ret,
                                         char err[static API_ERROR_MAX]);

/* The request's metadata at time now: labels, host names, expires_at (now + ttl, the given
 * expires_at, or 0). Returns 0, or -EINVAL with err when expires_at is not after now. */
int vm_request_meta(const struct vm_request *req, int64_t now, struct vm_meta *ret, char err[static API_ERROR_MAX]);

/* What a VM moved, for its object: in = towards the VM. */
struct vm_traffic {
        uint64_t bytes_in, bytes_out;
};

/* The API's VM object (see docs/api.md): vm with its meta (labels, host names, expiry,
 * version) and traffic (NULL = unknown: bytes_in/bytes_out null). Returns a new reference,
 * or NULL on ENOMEM or when vm's options are out of range (proxy_protocol, n_allow) or the
 * meta does not encode (labels text that is not an object, n_hostnames too large). */
json_t *vm_to_json(const struct vm *vm, const struct vm_meta *meta, const struct vm_traffic *traffic,
                   const char *datacenter, const char *domain);

/* ---- the DNS outbox (issue 5) ---- */

/* What GET /v1/dns/records lists: every row, or only those of one state, owner or name
 * (all that are given must match). */
struct dns_record_filter {
        int state; /* enum store_dns_state, or -1 = any */
        char owner_kind[DNS_OWNER_KIND_MAX + 1]; /* "vm", "route" or "node"; "" = any owner */
        char owner_id[DNS_OWNER_ID_MAX + 1];
        char name[DNS_NAME_MAX + 1]; /* lower case, no trailing dot; "" = any name */
};

/* Parses a DNS name as a caller may write it (any case, one trailing dot allowed) into its
 * stored form: lower case, without the dot, dns_name_valid(). Returns 0 or -EINVAL. */
int dns_record_name_parse(const char *text, char ret[static DNS_NAME_MAX + 1]);

/* The query of GET /v1/dns/records, n_args (key, value) pairs: "state" (pending, synced,
 * error, deleting), "owner" (KIND:ID, KIND one of vm, route, node) and "name" (a DNS name),
 * each at most once. Anything else, a repeated key or a bad value is -EINVAL with err
 * naming it and what is allowed (*ret untouched). */
int dns_record_filter_parse(const char *const *keys, const char *const *values, size_t n_args,
                            struct dns_record_filter *ret, char err[static API_ERROR_MAX]);

/* Whether row r passes filter f. */
bool dns_record_filter_match(const struct dns_record_filter *f, const struct store_dns_record *r);

/* "A" or "AAAA" for DNS_TYPE_A / DNS_TYPE_AAAA; NULL otherwise. */
const char *dns_record_type_to_string(uint16_t type);

/* One outbox row as /v1/dns/records shows it (docs/api.md): name, type, content, ttl,
 * proxied, owner {kind, id}, state, attempts, last_error (null when none), next_retry_at
 * (null unless the row waits: not synced and not due before a time after now),
 * provider_ref (null when unknown), updated_at. When brief, only name, type, content,
 * state, last_error and next_retry_at (a VM's "dns" list). Returns a new reference, or
 * NULL on ENOMEM or for a type or state out of range. */
json_t *dns_record_to_json(const struct store_dns_record *r, int64_t now, bool brief);

/* {"error": {"code": code, "message": message}}; new reference or NULL. */
json_t *api_error_json(const char *code, const char *message);
