/* SPDX-License-Identifier: MIT */
/*
 * JSON codecs of the VM resource: decoding a create request (bytes from the network:
 * strict, every problem named, fuzzed) and encoding a VM as the API's object. Pure.
 */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "../model/vm.h"

#define API_ERROR_MAX 256

struct vm_request {
        char id[VM_ID_MAX + 1];
        struct ip_addr ip;
};

enum api_decode_status {
        API_DECODE_OK,
        API_DECODE_INVALID_JSON, /* not JSON, or not an object */
        API_DECODE_INVALID_ARGUMENT, /* a field is missing, unknown, mistyped or bad */
};

/* Decodes the body of POST /v1/vms: {"id": STRING, "ip": STRING}. On failure *ret is
 * untouched and err (size API_ERROR_MAX) says what was wrong, naming the field. */
enum api_decode_status vm_request_decode(const char *body, size_t len, struct vm_request *ret,
                                         char err[static API_ERROR_MAX]);

/* The API's VM object (see docs/api.md). Returns a new reference, or NULL on ENOMEM. */
json_t *vm_to_json(const struct vm *vm, const char *datacenter, const char *domain);

/* {"error": {"code": code, "message": message}}; new reference or NULL. */
json_t *api_error_json(const char *code, const char *message);
