/* SPDX-License-Identifier: MIT */
/*
 * The request codec of a central node's DNS endpoint (dnsremotejson.h): the seed's and the
 * extended body, then the checks that depend on this node's zone and the caller's token.
 */
#include "dnsremotejson.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "../core/util.h"
#include "../model/vm.h"
#include "resjson.h"

const char *dns_remote_status_code(enum dns_remote_status st, unsigned *ret_status) {
        switch (st) {
        case DNS_REMOTE_OK: break;
        case DNS_REMOTE_INVALID_JSON: *ret_status = 400; return "invalid_json";
        case DNS_REMOTE_INVALID_ARGUMENT: *ret_status = 400; return "invalid_argument";
        case DNS_REMOTE_INVALID_RECORD: *ret_status = 422; return "invalid_record";
        case DNS_REMOTE_FORBIDDEN: *ret_status = 403; return "forbidden";
        }
        return NULL;
}

/* Member name of o as a string: NULL when absent (*ret_bad false) or when not a string
 * without NUL bytes (*ret_bad true, err set). */
static const char *string_member(const json_t *o, const char *name, bool *ret_bad, char err[static API_ERROR_MAX]) {
        json_t *v = json_object_get(o, name);
        *ret_bad = false;
        if (!v)
                return NULL;
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
                snprintf(err, API_ERROR_MAX, "field '%s' must be a string", name);
                *ret_bad = true;
                return NULL;
        }
        return json_string_value(v);
}

/* text as an address of the wanted family (AF_INET / AF_INET6; 0 = either), canonical, into
 * out; the family chosen into *ret_type. A record must point somewhere: neither the
 * unspecified address, nor multicast, nor an IPv4-mapped IPv6 address. */
static bool address_decode(const char *text, const char *field, int family, char out[static IP_ADDR_STRLEN],
                           uint16_t *ret_type, char err[static API_ERROR_MAX]) {
        char shown[64];
        api_sanitize(text, shown, sizeof shown);
        struct ip_addr a;
        if (ip_addr_parse(text, &a) < 0 || (family && a.family != family)) {
                snprintf(err, API_ERROR_MAX, "%s: '%s' is not an %s address", field, shown,
                         family == AF_INET ? "IPv4" : family == AF_INET6 ? "IPv6" : "IPv4 or IPv6");
                return false;
        }
        static const uint8_t zero[16] = {0};
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        bool v4 = a.family == AF_INET;
        if (memcmp(a.bytes, zero, v4 ? 4 : 16) == 0 || (v4 && a.bytes[0] >= 224 && a.bytes[0] <= 239) ||
            (!v4 && a.bytes[0] == 0xff) || (!v4 && memcmp(a.bytes, mapped, sizeof mapped) == 0)) {
                snprintf(err, API_ERROR_MAX,
                         "%s: '%s' cannot be published (unspecified, multicast or IPv4-mapped)", field, shown);
                return false;
        }
        ip_addr_format(&a, out);
        *ret_type = v4 ? DNS_TYPE_A : DNS_TYPE_AAAA;
        return true;
}

/* A name as the client gave it: folded to lower case, one trailing dot dropped, then a
 * valid DNS name. */
static bool name_decode(const char *text, char out[static DNS_NAME_MAX + 1], char err[static API_ERROR_MAX]) {
        char shown[80];
        api_sanitize(text, shown, sizeof shown);
        size_t n = strlen(text);
        if (n && text[n - 1] == '.')
                n--;
        bool ok = n > 0 && n <= DNS_NAME_MAX;
        for (size_t i = 0; ok && i < n; i++)
                out[i] = (char)tolower((unsigned char)text[i]);
        if (ok)
                out[n] = '\0';
        if (!ok || !dns_name_valid(out)) {
                snprintf(err, API_ERROR_MAX,
                         "name: '%s' is not a DNS name (labels of a-z 0-9 -, separated by dots, at most %d "
                         "characters; no wildcards)",
                         shown, DNS_NAME_MAX);
                return false;
        }
        return true;
}

enum dns_remote_status dns_remote_request_decode(const char *body, size_t len, struct dns_remote_request *ret,
                                                 char err[static API_ERROR_MAX]) {
        _cleanup_(json_decrefp) json_t *root = json_body_load(body, len, err);
        if (!root)
                return DNS_REMOTE_INVALID_JSON;
        struct dns_remote_request req = {0};
        bool bad;
        const char *action = string_member(root, "action", &bad, err);
        if (bad)
                return DNS_REMOTE_INVALID_ARGUMENT;
        if (!action || (!streq(action, "create") && !streq(action, "delete"))) {
                snprintf(err, API_ERROR_MAX, "field 'action' is required: \"create\" or \"delete\"");
                return DNS_REMOTE_INVALID_ARGUMENT;
        }
        req.action = streq(action, "create") ? DNS_REMOTE_CREATE : DNS_REMOTE_DELETE;
        bool create = req.action == DNS_REMOTE_CREATE;
        bool has_slug = json_object_get(root, "slug"), has_name = json_object_get(root, "name");
        if (has_slug == has_name) {
                snprintf(err, API_ERROR_MAX,
                         has_slug ? "give either 'name' (with type and content) or the seed's 'slug' (with "
                                    "datacenter and public_ip), not both"
                                  : "field 'name' (or the seed's 'slug') is required");
                return DNS_REMOTE_INVALID_ARGUMENT;
        }

        if (has_slug) {
                static const char *const fields[] = {"action", "slug", "datacenter", "public_ip"};
                if (!json_fields_known(root, fields, ELEMENTSOF(fields), err))
                        return DNS_REMOTE_INVALID_ARGUMENT;
                req.seed = true;
                const char *slug = string_member(root, "slug", &bad, err);
                if (bad)
                        return DNS_REMOTE_INVALID_ARGUMENT;
                const char *dc = string_member(root, "datacenter", &bad, err);
                if (bad)
                        return DNS_REMOTE_INVALID_ARGUMENT;
                const char *ip = string_member(root, "public_ip", &bad, err);
                if (bad)
                        return DNS_REMOTE_INVALID_ARGUMENT;
                char shown[80];
                if (!dns_label_valid(slug, strlen(slug))) {
                        api_sanitize(slug, shown, sizeof shown);
                        snprintf(err, API_ERROR_MAX,
                                 "slug: '%s' is not a DNS label (1-63 of a-z 0-9 -, not starting or ending with '-')",
                                 shown);
                        return DNS_REMOTE_INVALID_RECORD;
                }
                strcpy(req.slug, slug);
                if (dc) {
                        if (!dns_label_valid(dc, strlen(dc))) {
                                api_sanitize(dc, shown, sizeof shown);
                                snprintf(err, API_ERROR_MAX,
                                         "datacenter: '%s' is not a DNS label (1-63 of a-z 0-9 -, not starting or "
                                         "ending with '-')",
                                         shown);
                                return DNS_REMOTE_INVALID_RECORD;
                        }
                        strcpy(req.datacenter, dc);
                }
                if (create && !ip) {
                        snprintf(err, API_ERROR_MAX, "field 'public_ip' is required to create a record");
                        return DNS_REMOTE_INVALID_ARGUMENT;
                }
                if (ip && !address_decode(ip, "public_ip", 0, req.content, &req.type, err))
                        return DNS_REMOTE_INVALID_RECORD;
                if (!create)
                        req.content[0] = '\0'; /* public_ip only tells the type of a delete */
                *ret = req;
                return DNS_REMOTE_OK;
        }

        static const char *const fields[] = {"action", "name", "type", "content", "ttl", "proxied"};
        if (!json_fields_known(root, fields, ELEMENTSOF(fields), err))
                return DNS_REMOTE_INVALID_ARGUMENT;
        const char *name = string_member(root, "name", &bad, err);
        if (bad)
                return DNS_REMOTE_INVALID_ARGUMENT;
        const char *type = string_member(root, "type", &bad, err);
        if (bad)
                return DNS_REMOTE_INVALID_ARGUMENT;
        const char *content = string_member(root, "content", &bad, err);
        if (bad)
                return DNS_REMOTE_INVALID_ARGUMENT;
        json_t *ttl = json_object_get(root, "ttl"), *proxied = json_object_get(root, "proxied");
        if (ttl && !json_is_integer(ttl)) {
                snprintf(err, API_ERROR_MAX, "field 'ttl' must be an integer (seconds, %d-%d)", DNS_REMOTE_TTL_MIN,
                         DNS_REMOTE_TTL_MAX);
                return DNS_REMOTE_INVALID_ARGUMENT;
        }
        if (proxied && !json_is_boolean(proxied)) {
                snprintf(err, API_ERROR_MAX, "field 'proxied' must be true or false");
                return DNS_REMOTE_INVALID_ARGUMENT;
        }
        if (create && (!type || !content)) {
                snprintf(err, API_ERROR_MAX, "fields 'type' and 'content' are required to create a record");
                return DNS_REMOTE_INVALID_ARGUMENT;
        }
        if (!name_decode(name, req.name, err))
                return DNS_REMOTE_INVALID_RECORD;
        if (type) {
                if (strcasecmp(type, "A") == 0)
                        req.type = DNS_TYPE_A;
                else if (strcasecmp(type, "AAAA") == 0)
                        req.type = DNS_TYPE_AAAA;
                else {
                        char shown[24];
                        api_sanitize(type, shown, sizeof shown);
                        snprintf(err, API_ERROR_MAX, "type: '%s' is not published for other nodes (only A and AAAA)",
                                 shown);
                        return DNS_REMOTE_INVALID_RECORD;
                }
        }
        /* A delete's content is what the node last wanted; the record goes whatever it holds. */
        uint16_t got;
        if (create && !address_decode(content, "content", req.type == DNS_TYPE_A ? AF_INET : AF_INET6, req.content, &got,
                                      err))
                return DNS_REMOTE_INVALID_RECORD;
        if (ttl) {
                json_int_t t = json_integer_value(ttl);
                if (t < DNS_REMOTE_TTL_MIN || t > DNS_REMOTE_TTL_MAX) {
                        snprintf(err, API_ERROR_MAX, "ttl: %lld is outside %d-%d seconds", (long long)t,
                                 DNS_REMOTE_TTL_MIN, DNS_REMOTE_TTL_MAX);
                        return DNS_REMOTE_INVALID_RECORD;
                }
                req.ttl = (uint32_t)t;
        }
        req.proxied = proxied && json_is_true(proxied);
        *ret = req;
        return DNS_REMOTE_OK;
}

enum dns_remote_status dns_remote_request_check(struct dns_remote_request *req, const struct dns_remote_policy *p,
                                                char err[static API_ERROR_MAX]) {
        const char *tdc = p->token_datacenter && p->token_datacenter[0] ? p->token_datacenter : NULL;
        const char *who = p->token_name ? p->token_name : "";
        if (req->seed) {
                if (!req->datacenter[0]) {
                        if (!tdc) {
                                snprintf(err, API_ERROR_MAX,
                                         "field 'datacenter' is required (the caller's token is not bound to a "
                                         "datacenter)");
                                return DNS_REMOTE_INVALID_RECORD;
                        }
                        strcpy(req->datacenter, tdc);
                }
                if (tdc && !streq(req->datacenter, tdc)) {
                        snprintf(err, API_ERROR_MAX, "token '%s' publishes only for datacenter %s, not %s", who, tdc,
                                 req->datacenter);
                        return DNS_REMOTE_FORBIDDEN;
                }
                int n = snprintf(req->name, sizeof req->name, "%s.%s.%s", req->slug, req->datacenter, p->domain);
                if (n < 0 || (size_t)n >= sizeof req->name || !dns_name_valid(req->name)) {
                        snprintf(err, API_ERROR_MAX, "%.63s.%.63s.%.63s is not a DNS name (over %d characters)",
                                 req->slug, req->datacenter, p->domain, DNS_NAME_MAX);
                        return DNS_REMOTE_INVALID_RECORD;
                }
        }
        if (!dns_name_in_zone(req->name, p->zone) || strlen(req->name) == strlen(p->zone)) {
                snprintf(err, API_ERROR_MAX, "name %.128s is not below this node's DNS zone %.80s", req->name,
                         p->zone);
                return DNS_REMOTE_INVALID_RECORD;
        }
        if (tdc) {
                char base[DNS_NAME_MAX + 1];
                int n = snprintf(base, sizeof base, "%s.%s", tdc, p->domain);
                if (n < 0 || (size_t)n >= sizeof base || !dns_name_in_zone(req->name, base) ||
                    strlen(req->name) == strlen(base)) {
                        snprintf(err, API_ERROR_MAX, "token '%.40s' may publish only names under %.64s; %.96s is not",
                                 who, base, req->name);
                        return DNS_REMOTE_FORBIDDEN;
                }
        }
        if (!req->ttl)
                req->ttl = p->default_ttl >= DNS_REMOTE_TTL_MIN && p->default_ttl <= DNS_REMOTE_TTL_MAX
                                   ? p->default_ttl
                                   : 300;
        return DNS_REMOTE_OK;
}
