/* SPDX-License-Identifier: MIT */
/*
 * JSON codecs of the VM resource: decoding a create request (bytes from the network:
 * strict, every problem named, fuzzed) and encoding a VM as the API's object. Pure.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../model/vm.h"

#define API_ERROR_MAX 256

struct vm_request {
        char id[VM_ID_MAX + 1];
        struct ip_addr ip;
        /* optional fields; absent = the defaults below */
        uint8_t proxy_protocol; /* enum vm_proxy_protocol; VM_PROXY_NONE */
        bool http_passthrough; /* false */
        uint8_t n_allow; /* 0 = any source */
        struct ip_cidr allow[VM_ALLOW_MAX]; /* canonical, no duplicates, no IPv4-mapped prefixes */
};

enum api_decode_status {
        API_DECODE_OK,
        API_DECODE_INVALID_JSON, /* not JSON, or not an object */
        API_DECODE_INVALID_ARGUMENT, /* a field is missing, unknown, mistyped or bad */
};

/* Decodes the body of POST /v1/vms: {"id": STRING, "ip": STRING} plus the optional
 * "proxy_protocol" ("none" | "v1" | "v2"), "http_passthrough" (boolean) and "allow" (array of
 * at most VM_ALLOW_MAX distinct CIDR strings with the host bits zero). On failure *ret is
 * untouched and err (size API_ERROR_MAX) says what was wrong, naming the field. */
enum api_decode_status vm_request_decode(const char *body, size_t len, struct vm_request *ret,
                                         char err[static API_ERROR_MAX]);

/* The API's VM object (see docs/api.md). Returns a new reference, or NULL on ENOMEM or
 * when vm's options are out of range (proxy_protocol, n_allow). */
json_t *vm_to_json(const struct vm *vm, const char *datacenter, const char *domain);

/* {"error": {"code": code, "message": message}}; new reference or NULL. */
json_t *api_error_json(const char *code, const char *message);
