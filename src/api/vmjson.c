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

/* The network an address with host bits set was probably meant to be ("10.0.0.1/8" ->
 * "10.0.0.0/8"), into buf. */
static const char *cidr_masked(const struct ip_addr *a, unsigned prefix, char buf[static IP_ADDR_STRLEN + 4]) {
        struct ip_cidr c = {.addr = *a, .prefix = (uint8_t)prefix};
        unsigned max = a->family == AF_INET ? 32 : 128;
        for (unsigned bit = prefix; bit < max; bit++)
                c.addr.bytes[bit / 8] &= (uint8_t)~(0x80 >> (bit % 8));
        return ip_cidr_format(&c, buf);
}

/* Why ip_cidr_parse() refused text (entry index of 'allow'), as the error message. */
static void allow_entry_problem(const char *text, size_t index, char err[static API_ERROR_MAX]) {
        char shown[48], addr_text[IP_ADDR_STRLEN + 4], net[IP_ADDR_STRLEN + 4];
        sanitize(text, shown, sizeof shown);
        const char *slash = strchr(text, '/');
        size_t addr_len = slash ? (size_t)(slash - text) : strlen(text);
        struct ip_addr a;
        if (addr_len >= sizeof addr_text) {
                snprintf(err, API_ERROR_MAX, "field 'allow'[%zu]: '%s' is not a network (ADDR/LEN)", index, shown);
                return;
        }
        memcpy(addr_text, text, addr_len);
        addr_text[addr_len] = '\0';
        if (ip_addr_parse(addr_text, &a) < 0) {
                snprintf(err, API_ERROR_MAX,
                         "field 'allow'[%zu]: '%s' is not a network (ADDR/LEN, e.g. 203.0.113.0/24)", index, shown);
                return;
        }
        unsigned max = a.family == AF_INET ? 32 : 128, prefix = 0;
        const char *p = slash ? slash + 1 : "";
        bool prefix_ok = slash && *p && strlen(p) <= 3 && !(p[0] == '0' && p[1]);
        for (; prefix_ok && *p; p++) {
                prefix_ok = *p >= '0' && *p <= '9';
                prefix = prefix * 10 + (unsigned)(*p - '0');
        }
        if (!prefix_ok || prefix > max) {
                snprintf(err, API_ERROR_MAX, "field 'allow'[%zu]: '%s' has a bad prefix length (0-%u)", index, shown,
                         max);
                return;
        }
        snprintf(err, API_ERROR_MAX, "field 'allow'[%zu]: '%s' is not a network (host bits set; the network is %s)",
                 index, shown, cidr_masked(&a, prefix, net));
}

/* "allow": an array of at most VM_ALLOW_MAX distinct CIDR strings, into req. */
static bool allow_decode(const json_t *allow, struct vm_request *req, char err[static API_ERROR_MAX]) {
        if (!json_is_array(allow)) {
                snprintf(err, API_ERROR_MAX, "field 'allow' must be an array of CIDR strings");
                return false;
        }
        size_t n = json_array_size(allow);
        if (n > VM_ALLOW_MAX) {
                snprintf(err, API_ERROR_MAX, "field 'allow': at most %d networks, got %zu", VM_ALLOW_MAX, n);
                return false;
        }
        for (size_t i = 0; i < n; i++) {
                const json_t *e = json_array_get(allow, i);
                char shown[48], v4[IP_ADDR_STRLEN + 4];
                if (!json_is_string(e)) {
                        snprintf(err, API_ERROR_MAX, "field 'allow'[%zu] must be a string", i);
                        return false;
                }
                const char *text = json_string_value(e);
                struct ip_cidr c;
                if (strlen(text) != json_string_length(e)) {
                        snprintf(err, API_ERROR_MAX, "field 'allow'[%zu]: contains a NUL character", i);
                        return false;
                }
                if (ip_cidr_parse(text, &c) < 0) {
                        allow_entry_problem(text, i, err);
                        return false;
                }
                sanitize(text, shown, sizeof shown);
                /* The proxy matches IPv4-mapped sources as IPv4, so such a prefix would never
                 * match anyone: say how to write it instead. */
                struct ip_addr unmapped = ip_addr_unmap(&c.addr);
                if (c.addr.family == AF_INET6 && c.prefix >= 96 && unmapped.family == AF_INET) {
                        struct ip_cidr as_v4 = {.addr = unmapped, .prefix = (uint8_t)(c.prefix - 96)};
                        snprintf(err, API_ERROR_MAX, "field 'allow'[%zu]: '%s' is IPv4-mapped; write it as %s", i,
                                 shown, ip_cidr_format(&as_v4, v4));
                        return false;
                }
                for (size_t j = 0; j < i; j++)
                        if (req->allow[j].prefix == c.prefix && ip_addr_equal(&req->allow[j].addr, &c.addr)) {
                                snprintf(err, API_ERROR_MAX, "field 'allow'[%zu]: '%s' repeats entry [%zu]", i, shown,
                                         j);
                                return false;
                        }
                req->allow[i] = c;
        }
        req->n_allow = (uint8_t)n;
        return true;
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
                if (!streq(key, "id") && !streq(key, "ip") && !streq(key, "proxy_protocol") &&
                    !streq(key, "http_passthrough") && !streq(key, "allow")) {
                        sanitize(key, shown, sizeof shown);
                        snprintf(err, API_ERROR_MAX,
                                 "unknown field '%s' (allowed: id, ip, proxy_protocol, http_passthrough, allow)", shown);
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

        json_t *proxy = json_object_get(root, "proxy_protocol");
        if (proxy) {
                enum vm_proxy_protocol pp;
                if (!json_is_string(proxy)) {
                        snprintf(err, API_ERROR_MAX, "field 'proxy_protocol' must be a string: none, v1 or v2");
                        goto out;
                }
                const char *text = json_string_value(proxy);
                if (strlen(text) != json_string_length(proxy) || vm_proxy_protocol_from_string(text, &pp) < 0) {
                        sanitize(text, shown, sizeof shown);
                        snprintf(err, API_ERROR_MAX, "field 'proxy_protocol': '%s' is not one of none, v1, v2",
                                 shown);
                        goto out;
                }
                req.proxy_protocol = (uint8_t)pp;
        }

        json_t *passthrough = json_object_get(root, "http_passthrough");
        if (passthrough) {
                if (!json_is_boolean(passthrough)) {
                        snprintf(err, API_ERROR_MAX, "field 'http_passthrough' must be true or false");
                        goto out;
                }
                req.http_passthrough = json_is_true(passthrough);
        }

        json_t *allow = json_object_get(root, "allow");
        if (allow && !allow_decode(allow, &req, err))
                goto out;

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

        const char *proxy = vm_proxy_protocol_to_string(vm->proxy_protocol);
        json_t *allow = json_array();
        if (!proxy || !allow || vm->n_allow > VM_ALLOW_MAX) {
                json_decref(allow);
                json_decref(o);
                return NULL;
        }
        for (size_t i = 0; i < vm->n_allow; i++) {
                char cidr[IP_ADDR_STRLEN + 4];
                json_array_append_new(allow, json_string(ip_cidr_format(&vm->allow[i], cidr)));
        }
        json_object_set_new(o, "proxy_protocol", json_string(proxy));
        json_object_set_new(o, "http_passthrough", json_boolean(vm->http_passthrough));
        json_object_set_new(o, "allow", allow);
        return o;
}

json_t *api_error_json(const char *code, const char *message) {
        return json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
}
