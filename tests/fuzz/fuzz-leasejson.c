/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the lease codec (api/leasejson.h): the body of POST /v1/leases, which
 * any holder of a vms token can send, and the same bytes as a MAC and as a list query.
 * Asserts what the handler and the store rely on: an accepted body has a unicast non-zero
 * MAC, an address of 0 (none) or a non-zero IPv4, a name that is "" or a valid label; the
 * lease object made of it encodes, and a body made of that object's mac, ip and name is
 * accepted again to the same values. A refused body leaves the result untouched and has a
 * message that fits in, and encodes as, a JSON error object, with a 400 or 422 status.
 * Addresses are checked against a pool (never accepted outside its subnet, nor its
 * network, broadcast or gateway address).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/leasejson.h"
#include "core/config.h"

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

static const struct lease_pool *pool(void) {
        static struct lease_pool p;
        static int ready;
        if (!ready) {
                struct config c;
                config_defaults(&c);
                strcpy(c.dhcp_interface, "br0");
                strcpy(c.dhcp_subnet, "10.0.0.0");
                strcpy(c.dhcp_subnet_mask, "255.255.0.0");
                strcpy(c.dhcp_pool_start, "10.0.1.0");
                strcpy(c.dhcp_pool_end, "10.0.1.255");
                strcpy(c.dhcp_gateway, "10.0.0.1");
                strcpy(c.dhcp_listen_ip, "10.0.0.2");
                CHECK(lease_pool_init(&p, &c) == 0);
                ready = 1;
        }
        return &p;
}

static void check_accepted(const struct lease_request *req) {
        char mac[MAC_TEXT_LEN + 1], ip[16];
        uint8_t back[MAC_LEN];
        CHECK(mac_parse(mac_format(req->mac, mac), back) == 0 && memcmp(back, req->mac, MAC_LEN) == 0);
        CHECK(memchr(req->name, '\0', sizeof req->name) != NULL);
        CHECK(req->name[0] == '\0' || lease_name_valid(req->name));

        char err[API_ERROR_MAX] = "";
        if (req->ip) {
                const struct lease_pool *p = pool();
                bool allowed = lease_ip_allowed(p, req->ip, err);
                bool host = (req->ip & p->mask) == p->net && req->ip != p->net && req->ip != (p->net | ~p->mask) &&
                            req->ip != p->gateway && req->ip != p->listen_ip;
                CHECK(allowed == host);
                if (!allowed)
                        check_message(err);
        }

        /* The lease object, and a request made of its values, decode to the same request. */
        struct lease l = {.ip = req->ip ? req->ip : 1, .created_at = 1790000000, .updated_at = 1790000000};
        memcpy(l.mac, req->mac, MAC_LEN);
        strcpy(l.name, req->name);
        json_t *o = lease_to_json(&l);
        CHECK(o);
        json_t *again = json_pack("{s:O, s:O}", "mac", json_object_get(o, "mac"), "name", json_object_get(o, "name"));
        CHECK(again);
        if (req->ip)
                CHECK(json_object_set(again, "ip", json_object_get(o, "ip")) == 0);
        CHECK(strcmp(json_string_value(json_object_get(o, "ip")), ipv4_format(l.ip, ip)) == 0);
        char *text = json_dumps(again, JSON_COMPACT);
        CHECK(text);
        struct lease_request req2;
        CHECK(lease_request_decode(text, strlen(text), &req2, err) == LEASE_DECODE_OK);
        CHECK(memcmp(req2.mac, req->mac, MAC_LEN) == 0 && req2.ip == req->ip && strcmp(req2.name, req->name) == 0);
        free(text);
        json_decref(again);
        json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct lease_request req, before;
        memset(&req, 0xa5, sizeof req);
        before = req;
        char err[API_ERROR_MAX] = "";
        enum lease_decode_status st = lease_request_decode((const char *)data, size, &req, err);
        if (st == LEASE_DECODE_OK)
                check_accepted(&req);
        else {
                unsigned status = 0;
                CHECK(lease_decode_code(st, &status) != NULL && (status == 400 || status == 422));
                CHECK(memcmp(&req, &before, sizeof req) == 0);
                check_message(err);
        }

        /* The same bytes (up to a NUL) as a MAC in the path and as an "after" query. */
        char text[64];
        size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
        memcpy(text, data, n);
        text[n] = '\0';
        uint8_t mac[MAC_LEN] = {0};
        if (lease_mac_decode(text, "the MAC in the path", mac, err)) {
                char formatted[MAC_TEXT_LEN + 1];
                uint8_t back[MAC_LEN];
                CHECK(mac_parse(mac_format(mac, formatted), back) == 0 && memcmp(back, mac, MAC_LEN) == 0);
                CHECK(!(mac[0] & 1));
        } else
                check_message(err);
        struct lease_list_query q;
        const char *keys[] = {"after", "limit"}, *values[] = {text, text};
        if (lease_list_query_parse(keys, values, 1, &q, err) == 0)
                CHECK(strlen(q.after) == MAC_TEXT_LEN);
        else
                check_message(err);
        if (lease_list_query_parse(keys + 1, values + 1, 1, &q, err) == 0)
                CHECK(q.limit >= 1 && q.limit <= 1000);
        else
                check_message(err);
        return 0;
}
