/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the API's create-VM body: arbitrary bytes to vm_request_decode().
 * Asserts what the API handler relies on: an accepted request carries a valid id and an
 * address that may be a forwarding target, and encodes back to a VM object with the same
 * id and ip; a refused one leaves the request untouched and has an error message that fits
 * in a JSON error object. Leaks are caught by the sanitizer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/vmjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Always on, whatever NDEBUG says: a broken invariant is a crash libFuzzer reports. */
#define CHECK(x)                                                                                    \
        do {                                                                                        \
                if (!(x)) {                                                                         \
                        fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #x);  \
                        abort();                                                                    \
                }                                                                                   \
        } while (0)

static void check_accepted(const struct vm_request *req) {
        CHECK(memchr(req->id, '\0', sizeof req->id) != NULL);
        CHECK(vm_id_valid(req->id));
        CHECK(req->ip.family == AF_INET || req->ip.family == AF_INET6);
        CHECK(ip_target_check(&req->ip) == IP_TARGET_OK);

        /* Encode as the VM object and decode the id/ip back out of it. */
        struct vm vm = {.block_start = 20000, .block_size = 10};
        memcpy(vm.id, req->id, sizeof vm.id);
        memcpy(vm.slug, "k7m2p4", SLUG_LEN + 1);
        vm.ip = req->ip;
        json_t *o = vm_to_json(&vm, "dc-lk", "example.net");
        CHECK(o);
        CHECK(strcmp(json_string_value(json_object_get(o, "id")), req->id) == 0);
        struct ip_addr back;
        CHECK(ip_addr_parse(json_string_value(json_object_get(o, "ip")), &back) == 0);
        CHECK(ip_addr_equal(&back, &req->ip));

        /* A request made of the decoded values is accepted again, to the same values. */
        json_t *again = json_pack("{s:s, s:s}", "id", req->id, "ip", json_string_value(json_object_get(o, "ip")));
        CHECK(again);
        char *text = json_dumps(again, JSON_COMPACT);
        CHECK(text);
        struct vm_request req2;
        char err[API_ERROR_MAX];
        CHECK(vm_request_decode(text, strlen(text), &req2, err) == API_DECODE_OK);
        CHECK(strcmp(req2.id, req->id) == 0);
        CHECK(ip_addr_equal(&req2.ip, &req->ip));
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

        enum api_decode_status st = vm_request_decode(body, size, &req, err);
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
