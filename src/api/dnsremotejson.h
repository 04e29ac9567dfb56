/* SPDX-License-Identifier: MIT */
/*
 * The request codec of a central node's DNS endpoint (POST /api/v1/agents/dns and POST
 * /v1/dns/remote, issue 5): another node asks this one to publish or retract a record. Two
 * body shapes: seed 000's {"action", "slug", "datacenter", "public_ip"} (the record
 * {slug}.{datacenter}.{domain}, type from the address) and the extended {"action", "name",
 * "type", "content", "ttl", "proxied"} that the "edgegw" provider (dns/central.c) sends.
 * Decoding checks the shape and the values; dns_remote_request_check() then applies what
 * depends on this node and the caller: the zone, the domain, the token's datacenter. Pure:
 * bytes and policy in, a request or a message naming the field out; no I/O, no logging.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../model/dnsrec.h"
#include "../model/ipaddr.h"
#include "../model/resource.h"
#include "vmjson.h"

#define DNS_REMOTE_TTL_MIN 30
#define DNS_REMOTE_TTL_MAX 86400

enum dns_remote_status {
        DNS_REMOTE_OK,
        DNS_REMOTE_INVALID_JSON, /* 400 invalid_json: not a JSON object */
        DNS_REMOTE_INVALID_ARGUMENT, /* 400 invalid_argument: a field missing, unknown or of the wrong type */
        DNS_REMOTE_INVALID_RECORD, /* 422 invalid_record: a value this node will not publish (not a DNS
                                    * name, outside the zone, not an address of the type, ttl range) */
        DNS_REMOTE_FORBIDDEN, /* 403 forbidden: outside the caller token's datacenter */
};
/* The HTTP status and error code of a refusal; NULL for DNS_REMOTE_OK. */
const char *dns_remote_status_code(enum dns_remote_status st, unsigned *ret_status);

enum dns_remote_action { DNS_REMOTE_CREATE, DNS_REMOTE_DELETE };

struct dns_remote_request {
        enum dns_remote_action action;
        bool seed; /* seed 000's body shape */
        char slug[64]; /* seed: the first label */
        char datacenter[TOKEN_DATACENTER_MAX + 1]; /* seed: "" = not given (the token's, if any) */
        char name[DNS_NAME_MAX + 1]; /* lower case, no trailing dot; seed: set by the check */
        uint16_t type; /* DNS_TYPE_A or DNS_TYPE_AAAA; 0 = not given (a delete of both) */
        char content[IP_ADDR_STRLEN]; /* canonical address text; "" for a delete */
        uint32_t ttl; /* 0 = not given (the check sets the default) */
        bool proxied;
};

/* Decodes a request body of len bytes. Create needs a type and a content (extended) or a
 * public_ip (seed; IPv4 -> A, IPv6 -> AAAA); a delete without type (or seed public_ip)
 * means both A and AAAA. Upper-case names are folded and one trailing dot is dropped. On
 * failure *ret is untouched and err (size API_ERROR_MAX) names the field. */
enum dns_remote_status dns_remote_request_decode(const char *body, size_t len, struct dns_remote_request *ret,
                                                 char err[static API_ERROR_MAX]);

/* What this node and the caller allow. */
struct dns_remote_policy {
        const char *zone; /* this node's [dns] zone */
        const char *domain; /* this node's [gateway] domain: the seed's names are slug.datacenter.domain */
        const char *token_name; /* the caller's token, for messages; NULL = this node's operator */
        const char *token_datacenter; /* the token's restriction; NULL or "" = none */
        uint32_t default_ttl; /* for a request without ttl */
};

/* Completes req (the seed's name and datacenter, the default ttl) and checks it against p:
 * the name must be strictly below the zone (422), and, for a token with a datacenter, below
 * {datacenter}.{domain} with a seed datacenter equal to the token's (403). A seed body
 * without datacenter takes the token's (422 when the token has none). On failure err says
 * why; req may be partly completed. */
enum dns_remote_status dns_remote_request_check(struct dns_remote_request *req, const struct dns_remote_policy *p,
                                                char err[static API_ERROR_MAX]);
