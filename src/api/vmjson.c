/* SPDX-License-Identifier: MIT */
/* VM request decoding and VM object encoding for the HTTP API. */
#include "vmjson.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../core/util.h"

/* Printable form of a client-supplied key for an error message: never echo control bytes. */
static void sanitize(const char *in, char *out, size_t n) {
        size_t j = 0;
        for (size_t i = 0; in[i] && j + 1 < n; i++)
                out[j++] = ((unsigned char)in[i] < 0x20 || (unsigned char)in[i] >= 0x7f) ? '?' : in[i];
        out[j] = '\0';
}

enum api_decode_status vm_request_decode(const char *body, size_t len, struct vm_request *ret,
                                         char err[static API_ERROR_MAX]) {
        json_error_t jerr;
        json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                /* jansson quotes the offending input, which may be any bytes (invalid UTF-8 would
                 * make the error itself unencodable as JSON). */
                char text[sizeof jerr.text];
                sanitize(jerr.text, text, sizeof text);
                snprintf(err, API_ERROR_MAX, "body is not valid JSON: %s (line %d, column %d)", text, jerr.line,
                         jerr.column);
                return API_DECODE_INVALID_JSON;
        }
        enum api_decode_status st = API_DECODE_INVALID_ARGUMENT;
        struct vm_request req = {0};
        const char *key;
        json_t *value;
        char shown[48];

        if (!json_is_object(root)) {
                snprintf(err, API_ERROR_MAX, "body must be a JSON object");
                st = API_DECODE_INVALID_JSON;
                goto out;
        }
        json_object_foreach(root, key, value) {
                if (!streq(key, "id") && !streq(key, "ip")) {
                        sanitize(key, shown, sizeof shown);
                        snprintf(err, API_ERROR_MAX, "unknown field '%s' (allowed: id, ip)", shown);
                        goto out;
                }
        }

        json_t *id = json_object_get(root, "id");
        if (!id) {
                snprintf(err, API_ERROR_MAX, "field 'id' is required");
                goto out;
        }
        if (!json_is_string(id)) {
                snprintf(err, API_ERROR_MAX, "field 'id' must be a string");
                goto out;
        }
        const char *ids = json_string_value(id);
        if (strlen(ids) != json_string_length(id) || !vm_id_valid(ids)) {
                snprintf(err, API_ERROR_MAX,
                         "field 'id': must be 1-%d characters of A-Z a-z 0-9 . _ - starting with a letter or digit",
                         VM_ID_MAX);
                goto out;
        }
        strcpy(req.id, ids);

        json_t *ip = json_object_get(root, "ip");
        if (!ip) {
                snprintf(err, API_ERROR_MAX, "field 'ip' is required");
                goto out;
        }
        if (!json_is_string(ip)) {
                snprintf(err, API_ERROR_MAX, "field 'ip' must be a string");
                goto out;
        }
        const char *ips = json_string_value(ip);
        if (strlen(ips) != json_string_length(ip) || ip_addr_parse(ips, &req.ip) < 0) {
                sanitize(ips, shown, sizeof shown);
                snprintf(err, API_ERROR_MAX, "field 'ip': '%s' is not an IPv4 or IPv6 address", shown);
                goto out;
        }
        enum ip_target_problem p = ip_target_check(&req.ip);
        if (p != IP_TARGET_OK) {
                snprintf(err, API_ERROR_MAX, "field 'ip': %s", ip_target_problem_to_string(p));
                goto out;
        }
        *ret = req;
        st = API_DECODE_OK;
out:
        json_decref(root);
        return st;
}

json_t *vm_to_json(const struct vm *vm, const char *datacenter, const char *domain) {
        char name[DNS_NAME_MAX + 1], ip[IP_ADDR_STRLEN], buf[DNS_NAME_MAX + 64], created[32];
        if (vm_subdomain(vm->slug, datacenter, domain, name) < 0)
                name[0] = '\0';
        struct tm tm;
        time_t t = (time_t)vm->created_at;
        if (!gmtime_r(&t, &tm) || !strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm))
                created[0] = '\0';

        json_t *ports = json_array();
        if (!ports)
                return NULL;
        struct port_map_entry map[PORTS_PER_VM_MAX];
        size_t n = vm_port_map(vm->block_start, vm->block_size, map);
        for (size_t i = 0; i < n; i++)
                json_array_append_new(ports, json_pack("{s:i, s:s, s:i}", "public_port", map[i].public_port, "proto",
                                                       proto_to_string(map[i].proto), "vm_port", map[i].vm_port));

        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "id", vm->id, "ip", ip_addr_format(&vm->ip, ip), "slug",
                              vm->slug, "subdomain", name);
        if (!o) {
                json_decref(ports);
                return NULL;
        }
        snprintf(buf, sizeof buf, "https://%s", name);
        json_object_set_new(o, "web_url", json_string(buf));
        snprintf(buf, sizeof buf, "ssh root@%s -p %u", name, vm->block_start);
        json_object_set_new(o, "ssh_command", json_string(buf));
        json_object_set_new(o, "ssh_port", json_integer(vm->block_start));
        json_object_set_new(o, "port_range_start", json_integer(vm->block_start));
        json_object_set_new(o, "port_range_end", json_integer(vm->block_start + vm->block_size - 1));
        json_object_set_new(o, "ports", ports);
        json_object_set_new(o, "created_at", json_string(created));
        return o;
}

json_t *api_error_json(const char *code, const char *message) {
        return json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
}
