/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for a central node's DNS request codec (api/dnsremotejson.h): the body of
 * POST /api/v1/agents/dns, which any token holder with the dns scope can send. Asserts what
 * the handler and the store rely on: an accepted body has an action, a valid name (or seed
 * slug), a type A/AAAA or none, a canonical address for a create, a ttl of 0 or in range;
 * after the checks the name is a valid DNS name strictly below the zone (and below the
 * token's datacenter for a restricted token) with a ttl in range. A refused body leaves the
 * result untouched and has a message that fits in, and encodes as, a JSON error object.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/dnsremotejson.h"
#include "model/vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
        do {                                                                                       \
                if (!(x)) {                                                                        \
                        fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #x); \
                        abort();                                                                   \
                }                                                                                  \
        } while (0)

static void check_message(const char *err) {
        CHECK(strlen(err) > 0 && strlen(err) < API_ERROR_MAX);
        json_t *s = json_string(err);
        CHECK(s); /* valid UTF-8: the client's bytes were sanitized */
        json_decref(s);
}

static void check_policy(const struct dns_remote_request *decoded, const struct dns_remote_policy *p) {
        struct dns_remote_request req = *decoded;
        char err[API_ERROR_MAX] = "";
        enum dns_remote_status st = dns_remote_request_check(&req, p, err);
        if (st != DNS_REMOTE_OK) {
                CHECK(st == DNS_REMOTE_INVALID_RECORD || st == DNS_REMOTE_FORBIDDEN);
                CHECK(st != DNS_REMOTE_FORBIDDEN || p->token_datacenter);
                check_message(err);
                return;
        }
        CHECK(dns_name_valid(req.name));
        CHECK(dns_name_in_zone(req.name, p->zone) && strlen(req.name) > strlen(p->zone));
        CHECK(req.ttl >= DNS_REMOTE_TTL_MIN && req.ttl <= DNS_REMOTE_TTL_MAX);
        if (p->token_datacenter) {
                char base[300];
                snprintf(base, sizeof base, "%s.%s", p->token_datacenter, p->domain);
                CHECK(dns_name_in_zone(req.name, base) && strlen(req.name) > strlen(base));
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct dns_remote_request req, before;
        memset(&req, 0xa5, sizeof req);
        before = req;
        char err[API_ERROR_MAX] = "";
        enum dns_remote_status st = dns_remote_request_decode((const char *)data, size, &req, err);
        if (st != DNS_REMOTE_OK) {
                CHECK(st == DNS_REMOTE_INVALID_JSON || st == DNS_REMOTE_INVALID_ARGUMENT ||
                      st == DNS_REMOTE_INVALID_RECORD);
                CHECK(memcmp(&req, &before, sizeof req) == 0);
                check_message(err);
                return 0;
        }
        CHECK(req.action == DNS_REMOTE_CREATE || req.action == DNS_REMOTE_DELETE);
        CHECK(req.type == 0 || req.type == DNS_TYPE_A || req.type == DNS_TYPE_AAAA);
        CHECK(req.ttl == 0 || (req.ttl >= DNS_REMOTE_TTL_MIN && req.ttl <= DNS_REMOTE_TTL_MAX));
        if (req.seed)
                CHECK(dns_label_valid(req.slug, strlen(req.slug)) &&
                      (!req.datacenter[0] || dns_label_valid(req.datacenter, strlen(req.datacenter))));
        else
                CHECK(dns_name_valid(req.name));
        if (req.action == DNS_REMOTE_CREATE) {
                CHECK(req.type != 0);
                struct ip_addr a;
                char canon[IP_ADDR_STRLEN];
                CHECK(ip_addr_parse(req.content, &a) == 0);
                CHECK(strcmp(ip_addr_format(&a, canon), req.content) == 0);
                CHECK((a.family == AF_INET) == (req.type == DNS_TYPE_A));
        } else
                CHECK(req.content[0] == '\0');

        const struct dns_remote_policy open = {.zone = "example.net", .domain = "example.net", .default_ttl = 300};
        const struct dns_remote_policy restricted = {.zone = "example.net", .domain = "example.net",
                                                     .token_name = "node1", .token_datacenter = "dc-lk",
                                                     .default_ttl = 0};
        check_policy(&req, &open);
        check_policy(&req, &restricted);
        return 0;
}
