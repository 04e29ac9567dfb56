/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the API's create-VM body: arbitrary bytes to vm_request_decode().
 * Asserts what the API handler and the store rely on: an accepted request carries a valid
 * id, an address that may be a forwarding target, a known PROXY protocol and an allow-list
 * of at most VM_ALLOW_MAX distinct canonical networks (host bits zero, none IPv4-mapped),
 * sorted distinct valid host names, canonical labels and at most one of ttl / expires_at in
 * range, and encodes back to a VM object with the same values, which decodes again to the
 * same request (also as a PUT whose path names the same id);
 * a refused one leaves the request untouched and has an error message that fits in a JSON
 * error object. Leaks are caught by the sanitizer.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/resjson.h"
#include "api/vmjson.h"
#include "model/lease.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Always on, whatever NDEBUG says: a broken invariant is a crash libFuzzer reports. */
#define CHECK(x)                                                                                    \
        do {                                                                                        \
                if (!(x)) {                                                                         \
                        fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #x);  \
                        abort();                                                                    \
                }                                                                                   \
        } while (0)

static bool cidr_equal(const struct ip_cidr *a, const struct ip_cidr *b) {
        return a->prefix == b->prefix && ip_addr_equal(&a->addr, &b->addr);
}

/* The allow-list is what the store can write and the proxy can match. */
static void check_allow(const struct vm_request *req) {
        CHECK(req->n_allow <= VM_ALLOW_MAX);
        for (size_t i = 0; i < req->n_allow; i++) {
                const struct ip_cidr *c = &req->allow[i];
                CHECK(c->addr.family == AF_INET || c->addr.family == AF_INET6);
                CHECK(c->prefix <= (c->addr.family == AF_INET ? 32 : 128));
                /* Canonical: its text parses back to the same network (so host bits are zero). */
                char text[IP_ADDR_STRLEN + 4];
                struct ip_cidr back;
                CHECK(ip_cidr_parse(ip_cidr_format(c, text), &back) == 0);
                CHECK(cidr_equal(&back, c));
                struct ip_addr unmapped = ip_addr_unmap(&c->addr);
                CHECK(!(c->addr.family == AF_INET6 && c->prefix >= 96 && unmapped.family == AF_INET));
                for (size_t j = 0; j < i; j++)
                        CHECK(!cidr_equal(&req->allow[j], c));
        }
}

static void check_accepted(const struct vm_request *accepted) {
        /* "ip", "mac" or both; with both the address is IPv4 (the lease's). */
        CHECK(accepted->has_ip || accepted->has_mac);
        if (accepted->has_mac) {
                uint8_t m[MAC_LEN];
                char text[MAC_TEXT_LEN + 1];
                CHECK(mac_parse(mac_format(accepted->mac, text), m) == 0 && memcmp(m, accepted->mac, MAC_LEN) == 0);
                CHECK(!accepted->has_ip || accepted->ip.family == AF_INET);
        }
        static const struct ip_addr zero;
        CHECK(accepted->has_ip || memcmp(&accepted->ip, &zero, sizeof zero) == 0);
        /* The checks below encode the VM: a MAC-only request gets its address from the lease. */
        struct vm_request copy = *accepted;
        if (!copy.has_ip)
                CHECK(ip_addr_parse("10.0.1.100", &copy.ip) == 0);
        const struct vm_request *req = &copy;
        CHECK(memchr(req->id, '\0', sizeof req->id) != NULL);
        CHECK(vm_id_valid(req->id));
        CHECK(req->ip.family == AF_INET || req->ip.family == AF_INET6);
        CHECK(ip_target_check(&req->ip) == IP_TARGET_OK);
        CHECK(vm_proxy_protocol_to_string(req->proxy_protocol) != NULL);
        uint8_t passthrough_byte;
        memcpy(&passthrough_byte, &req->http_passthrough, 1);
        CHECK(passthrough_byte <= 1);
        check_allow(req);
        CHECK(req->n_hostnames <= VM_HOSTNAMES_MAX);
        for (size_t i = 0; i < req->n_hostnames; i++) {
                CHECK(memchr(req->hostnames[i], '\0', sizeof req->hostnames[i]) != NULL);
                CHECK(route_hostname_valid(req->hostnames[i]));
                CHECK(i == 0 || strcmp(req->hostnames[i - 1], req->hostnames[i]) < 0);
        }
        CHECK(memchr(req->labels, '\0', sizeof req->labels) != NULL);
        json_t *labels = json_loads(req->labels, JSON_REJECT_DUPLICATES, NULL);
        CHECK(json_is_object(labels) && json_object_size(labels) <= LABELS_MAX);
        json_decref(labels);
        CHECK(!(req->ttl && req->expires_at));
        CHECK(req->ttl == 0 || (req->ttl >= VM_TTL_MIN && req->ttl <= VM_TTL_MAX));
        CHECK(req->expires_at >= 0);
        struct vm_meta meta;
        char merr[API_ERROR_MAX];
        int mr = vm_request_meta(req, 1700000000, &meta, merr);
        CHECK(mr == 0 || (req->expires_at && req->expires_at <= 1700000000));
        if (mr < 0)
                return;
        CHECK(meta.expires_at == (req->ttl ? 1700000000 + req->ttl : req->expires_at));
        meta.version = 1;

        /* Encode as the VM object and decode the values back out of it. */
        struct vm vm = {.block_start = 20000,
                        .block_size = 10,
                        .proxy_protocol = req->proxy_protocol,
                        .http_passthrough = req->http_passthrough,
                        .n_allow = req->n_allow};
        memcpy(vm.id, req->id, sizeof vm.id);
        memcpy(vm.slug, "k7m2p4", SLUG_LEN + 1);
        vm.ip = req->ip;
        memcpy(vm.allow, req->allow, sizeof vm.allow);
        json_t *o = vm_to_json(&vm, &meta, NULL, "dc-lk", "example.net");
        CHECK(o);
        CHECK(strcmp(json_string_value(json_object_get(o, "id")), req->id) == 0);
        struct ip_addr back;
        CHECK(ip_addr_parse(json_string_value(json_object_get(o, "ip")), &back) == 0);
        CHECK(ip_addr_equal(&back, &req->ip));
        const char *proxy = json_string_value(json_object_get(o, "proxy_protocol"));
        CHECK(proxy && strcmp(proxy, vm_proxy_protocol_to_string(req->proxy_protocol)) == 0);
        json_t *passthrough = json_object_get(o, "http_passthrough");
        CHECK(json_is_boolean(passthrough) && json_is_true(passthrough) == req->http_passthrough);
        json_t *allow = json_object_get(o, "allow");
        CHECK(json_is_array(allow) && json_array_size(allow) == req->n_allow);
        for (size_t i = 0; i < req->n_allow; i++) {
                struct ip_cidr c;
                CHECK(ip_cidr_parse(json_string_value(json_array_get(allow, i)), &c) == 0);
                CHECK(cidr_equal(&c, &req->allow[i]));
        }

        /* A request made of the encoded values is accepted again, to the same values. */
        CHECK(json_array_size(json_object_get(o, "hostnames")) == req->n_hostnames);
        json_t *expires = json_object_get(o, "expires_at");
        CHECK(meta.expires_at ? json_is_string(expires) : json_is_null(expires));
        json_t *again = json_pack("{s:s, s:s, s:O, s:O, s:O, s:O, s:O, s:O}", "id", req->id, "ip",
                                  json_string_value(json_object_get(o, "ip")), "proxy_protocol",
                                  json_object_get(o, "proxy_protocol"), "http_passthrough", passthrough, "allow", allow,
                                  "hostnames", json_object_get(o, "hostnames"), "labels", json_object_get(o, "labels"),
                                  "expires_at", expires);
        CHECK(again);
        char *text = json_dumps(again, JSON_COMPACT);
        CHECK(text);
        struct vm_request req2;
        char err[API_ERROR_MAX];
        CHECK(vm_request_decode(text, strlen(text), req->id, &req2, err) == API_DECODE_OK);
        CHECK(req2.n_hostnames == req->n_hostnames);
        for (size_t i = 0; i < req->n_hostnames; i++)
                CHECK(strcmp(req2.hostnames[i], req->hostnames[i]) == 0);
        CHECK(strcmp(req2.labels, req->labels) == 0);
        CHECK(req2.ttl == 0 && req2.expires_at == meta.expires_at);
        CHECK(strcmp(req2.id, req->id) == 0);
        CHECK(ip_addr_equal(&req2.ip, &req->ip));
        CHECK(req2.proxy_protocol == req->proxy_protocol);
        CHECK(req2.http_passthrough == req->http_passthrough);
        CHECK(req2.n_allow == req->n_allow);
        for (size_t i = 0; i < req->n_allow; i++)
                CHECK(cidr_equal(&req2.allow[i], &req->allow[i]));
        free(text);
        json_decref(again);
        json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        /* An exact-size copy so that any read past the body is caught. */
        char *body = malloc(size ? size : 1);
        if (!body)
                return 0;
        if (size)
                memcpy(body, data, size);

        struct vm_request req, before;
        memset(&req, 0x5a, sizeof req);
        before = req;
        char err[API_ERROR_MAX];
        memset(err, 0x5a, sizeof err);

        enum api_decode_status st = vm_request_decode(body, size, NULL, &req, err);
        free(body);
        switch (st) {
        case API_DECODE_OK:
                check_accepted(&req);
                break;
        case API_DECODE_INVALID_JSON:
        case API_DECODE_INVALID_ARGUMENT: {
                CHECK(memcmp(&req, &before, sizeof req) == 0);
                CHECK(memchr(err, '\0', sizeof err) != NULL);
                CHECK(err[0] != '\0');
                /* The handler sends err back as {"error": {...}}: it must be valid UTF-8. */
                json_t *e = api_error_json(st == API_DECODE_INVALID_JSON ? "invalid_json" : "invalid_argument", err);
                CHECK(e);
                json_decref(e);
                break;
        }
        default:
                CHECK(!"unknown decode status");
        }
        return 0;
}
