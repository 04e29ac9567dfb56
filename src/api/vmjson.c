/* SPDX-License-Identifier: MIT */
/* VM request decoding and VM object encoding for the HTTP API. */
#include "vmjson.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../core/util.h"
#include "leasejson.h"
#include "resjson.h"

/* "hostnames": an array of at most VM_HOSTNAMES_MAX distinct host names, sorted into req. */
static bool hostnames_decode(const json_t *v, struct vm_request *req, char err[static API_ERROR_MAX]) {
        if (!json_is_array(v)) {
                snprintf(err, API_ERROR_MAX, "field 'hostnames' must be an array of host names");
                return false;
        }
        size_t n = json_array_size(v);
        if (n > VM_HOSTNAMES_MAX) {
                snprintf(err, API_ERROR_MAX, "field 'hostnames': at most %d names, got %zu", VM_HOSTNAMES_MAX, n);
                return false;
        }
        for (size_t i = 0; i < n; i++) {
                char field[32], name[DNS_NAME_MAX + 1];
                snprintf(field, sizeof field, "'hostnames'[%zu]", i);
                if (!json_hostname_decode(json_array_get(v, i), field, name, err))
                        return false;
                /* insertion sort: at most 16 names */
                size_t j = i;
                while (j > 0 && strcmp(req->hostnames[j - 1], name) > 0) {
                        strcpy(req->hostnames[j], req->hostnames[j - 1]);
                        j--;
                }
                if (j > 0 && streq(req->hostnames[j - 1], name)) {
                        snprintf(err, API_ERROR_MAX, "field %s: '%.80s' is listed twice", field, name);
                        return false;
                }
                strcpy(req->hostnames[j], name);
        }
        req->n_hostnames = (uint8_t)n;
        return true;
}

/* "ttl" (integer seconds) or "expires_at" (RFC 3339 text or null), not both. */
static bool expiry_decode(const json_t *ttl, const json_t *expires, struct vm_request *req,
                          char err[static API_ERROR_MAX]) {
        if (ttl && expires) {
                snprintf(err, API_ERROR_MAX, "give either field 'ttl' or field 'expires_at', not both");
                return false;
        }
        if (ttl) {
                if (!json_is_integer(ttl)) {
                        snprintf(err, API_ERROR_MAX, "field 'ttl' must be an integer number of seconds (%d-%d)",
                                 VM_TTL_MIN, VM_TTL_MAX);
                        return false;
                }
                json_int_t t = json_integer_value(ttl);
                if (t < VM_TTL_MIN || t > VM_TTL_MAX) {
                        snprintf(err, API_ERROR_MAX, "field 'ttl': %lld is out of range (%d-%d seconds)",
                                 (long long)t, VM_TTL_MIN, VM_TTL_MAX);
                        return false;
                }
                req->ttl = t;
        }
        if (expires && !json_is_null(expires)) {
                const char *s = json_is_string(expires) ? json_string_value(expires) : NULL;
                int64_t t;
                if (!s) {
                        snprintf(err, API_ERROR_MAX, "field 'expires_at' must be an RFC 3339 time string or null");
                        return false;
                }
                if (strlen(s) != json_string_length(expires) || api_time_parse(s, &t) < 0) {
                        char shown[48];
                        api_sanitize(s, shown, sizeof shown);
                        snprintf(err, API_ERROR_MAX,
                                 "field 'expires_at': '%s' is not an RFC 3339 time (e.g. 2026-11-22T10:00:00Z)", shown);
                        return false;
                }
                if (t == 0) {
                        snprintf(err, API_ERROR_MAX, "field 'expires_at': 1970-01-01T00:00:00Z is in the past");
                        return false;
                }
                req->expires_at = t;
        }
        return true;
}

enum api_decode_status vm_request_decode(const char *body, size_t len, const char *path_id, struct vm_request *ret,
                                         char err[static API_ERROR_MAX]) {
        static const char *const fields[] = {"id",     "ip",  "mac",       "proxy_protocol", "http_passthrough",
                                             "allow",  "hostnames", "labels", "ttl", "expires_at"};
        _cleanup_(json_decrefp) json_t *root = json_body_load(body, len, err);
        if (!root)
                return API_DECODE_INVALID_JSON;
        struct vm_request req = {.labels = "{}"};
        char shown[48];

        if (!json_fields_known(root, fields, ELEMENTSOF(fields), err) ||
            !json_id_decode(json_object_get(root, "id"), "'id'", path_id, req.id, err))
                return API_DECODE_INVALID_ARGUMENT;

        json_t *ip = json_object_get(root, "ip"), *mac = json_object_get(root, "mac");
        if (mac) {
                if (!json_is_string(mac) || strlen(json_string_value(mac)) != json_string_length(mac)) {
                        snprintf(err, API_ERROR_MAX, "field 'mac' must be a string (e.g. 52:54:00:12:34:56)");
                        return API_DECODE_INVALID_ARGUMENT;
                }
                if (!lease_mac_decode(json_string_value(mac), "field 'mac'", req.mac, err))
                        return API_DECODE_INVALID_ARGUMENT;
                req.has_mac = true;
        }
        if (!ip && !mac) {
                snprintf(err, API_ERROR_MAX,
                         "field 'ip' is required (or 'mac': the VM then takes the address of the MAC's DHCP lease)");
                return API_DECODE_INVALID_ARGUMENT;
        }
        if (ip && !json_is_string(ip)) {
                snprintf(err, API_ERROR_MAX, "field 'ip' must be a string");
                return API_DECODE_INVALID_ARGUMENT;
        }
        const char *ips = ip ? json_string_value(ip) : NULL;
        if (ips && (strlen(ips) != json_string_length(ip) || ip_addr_parse(ips, &req.ip) < 0)) {
                api_sanitize(ips, shown, sizeof shown);
                snprintf(err, API_ERROR_MAX, "field 'ip': '%s' is not an IPv4 or IPv6 address", shown);
                return API_DECODE_INVALID_ARGUMENT;
        }
        enum ip_target_problem p = ips ? ip_target_check(&req.ip) : IP_TARGET_OK;
        if (p != IP_TARGET_OK) {
                snprintf(err, API_ERROR_MAX, "field 'ip': %s", ip_target_problem_to_string(p));
                return API_DECODE_INVALID_ARGUMENT;
        }
        req.has_ip = ips != NULL;
        if (req.has_ip && req.has_mac && req.ip.family != AF_INET) {
                snprintf(err, API_ERROR_MAX, "field 'ip': with 'mac' the address is the DHCP lease's, so IPv4");
                return API_DECODE_INVALID_ARGUMENT;
        }

        const json_t *hostnames = json_object_get(root, "hostnames");
        if (!json_proxy_protocol_decode(json_object_get(root, "proxy_protocol"), &req.proxy_protocol, err) ||
            !json_bool_decode(json_object_get(root, "http_passthrough"), "'http_passthrough'", &req.http_passthrough,
                              err) ||
            !json_allow_decode(json_object_get(root, "allow"), req.allow, &req.n_allow, err) ||
            (hostnames && !hostnames_decode(hostnames, &req, err)) ||
            !json_labels_decode(json_object_get(root, "labels"), req.labels, err) ||
            !expiry_decode(json_object_get(root, "ttl"), json_object_get(root, "expires_at"), &req, err))
                return API_DECODE_INVALID_ARGUMENT;

        *ret = req;
        return API_DECODE_OK;
}

int vm_request_meta(const struct vm_request *req, int64_t now, struct vm_meta *ret, char err[static API_ERROR_MAX]) {
        int64_t expires = req->ttl ? now + req->ttl : req->expires_at;
        if (req->expires_at && req->expires_at <= now) {
                char when[API_TIME_MAX];
                snprintf(err, API_ERROR_MAX, "field 'expires_at': %s is not in the future",
                         api_time_format(req->expires_at, when));
                return -EINVAL;
        }
        vm_meta_init(ret);
        ret->expires_at = expires;
        strcpy(ret->labels, req->labels);
        ret->n_hostnames = req->n_hostnames;
        memcpy(ret->hostnames, req->hostnames, sizeof ret->hostnames);
        return 0;
}

json_t *vm_to_json(const struct vm *vm, const struct vm_meta *meta, const struct vm_traffic *traffic,
                   const char *datacenter, const char *domain) {
        char name[DNS_NAME_MAX + 1], ip[IP_ADDR_STRLEN], buf[DNS_NAME_MAX + 64], when[API_TIME_MAX];
        if (vm_subdomain(vm->slug, datacenter, domain, name) < 0)
                name[0] = '\0';
        const char *proxy = vm_proxy_protocol_to_string(vm->proxy_protocol);
        if (!proxy || vm->n_allow > VM_ALLOW_MAX || meta->n_hostnames > VM_HOSTNAMES_MAX)
                return NULL;

        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "id", vm->id, "ip", ip_addr_format(&vm->ip, ip), "slug",
                              vm->slug, "subdomain", name);
        json_t *ports = json_array(), *allow = json_allow_encode(vm->allow, vm->n_allow), *hostnames = json_array();
        json_t *labels = json_labels_encode(meta->labels);
        if (!o || !ports || !allow || !hostnames || !labels) {
                json_decref(o);
                json_decref(ports);
                json_decref(allow);
                json_decref(hostnames);
                json_decref(labels);
                return NULL;
        }
        struct port_map_entry map[PORTS_PER_VM_MAX];
        size_t n = vm_port_map(vm->block_start, vm->block_size, map);
        for (size_t i = 0; i < n; i++)
                json_array_append_new(ports, json_pack("{s:i, s:s, s:i}", "public_port", map[i].public_port, "proto",
                                                       proto_to_string(map[i].proto), "vm_port", map[i].vm_port));
        for (size_t i = 0; i < meta->n_hostnames; i++)
                json_array_append_new(hostnames, json_string(meta->hostnames[i]));

        snprintf(buf, sizeof buf, "https://%s", name);
        json_object_set_new(o, "web_url", json_string(buf));
        snprintf(buf, sizeof buf, "ssh root@%s -p %u", name, vm->block_start);
        json_object_set_new(o, "ssh_command", json_string(buf));
        json_object_set_new(o, "ssh_port", json_integer(vm->block_start));
        json_object_set_new(o, "port_range_start", json_integer(vm->block_start));
        json_object_set_new(o, "port_range_end", json_integer(vm->block_start + vm->block_size - 1));
        json_object_set_new(o, "ports", ports);
        json_object_set_new(o, "created_at", json_string(api_time_format(vm->created_at, when)));
        json_object_set_new(o, "proxy_protocol", json_string(proxy));
        json_object_set_new(o, "http_passthrough", json_boolean(vm->http_passthrough));
        json_object_set_new(o, "allow", allow);
        json_object_set_new(o, "hostnames", hostnames);
        json_object_set_new(o, "labels", labels);
        json_object_set_new(o, "expires_at",
                            meta->expires_at ? json_string(api_time_format(meta->expires_at, when)) : json_null());
        json_object_set_new(o, "updated_at",
                            json_string(api_time_format(meta->updated_at ? meta->updated_at : vm->created_at, when)));
        json_object_set_new(o, "version", json_integer(meta->version));
        json_object_set_new(o, "bytes_in", traffic ? json_integer((json_int_t)traffic->bytes_in) : json_null());
        json_object_set_new(o, "bytes_out", traffic ? json_integer((json_int_t)traffic->bytes_out) : json_null());
        return o;
}

/* ---- the DNS outbox ---- */

int dns_record_name_parse(const char *text, char ret[static DNS_NAME_MAX + 1]) {
        char name[DNS_NAME_MAX + 2];
        size_t n = strlen(text);
        if (n > 0 && text[n - 1] == '.')
                n--;
        if (n == 0 || n > DNS_NAME_MAX)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                name[i] = (char)(text[i] >= 'A' && text[i] <= 'Z' ? text[i] - 'A' + 'a' : text[i]);
        name[n] = '\0';
        if (!dns_name_valid(name))
                return -EINVAL;
        memcpy(ret, name, n + 1);
        return 0;
}

static const char *const owner_kinds[] = {"vm", "route", "node"};

/* "KIND:ID" into f; false when the kind is unknown or the id empty, too long or not
 * printable ASCII. */
static bool owner_parse(const char *text, struct dns_record_filter *f) {
        const char *colon = strchr(text, ':');
        if (!colon)
                return false;
        size_t kl = (size_t)(colon - text), il = strlen(colon + 1);
        bool known = false;
        for (size_t i = 0; i < ELEMENTSOF(owner_kinds); i++)
                known = known || (strlen(owner_kinds[i]) == kl && strncmp(text, owner_kinds[i], kl) == 0);
        if (!known || il == 0 || il > DNS_OWNER_ID_MAX)
                return false;
        for (const char *p = colon + 1; *p; p++)
                if (*p <= ' ' || *p > '~')
                        return false;
        memcpy(f->owner_kind, text, kl);
        f->owner_kind[kl] = '\0';
        memcpy(f->owner_id, colon + 1, il + 1);
        return true;
}

int dns_record_filter_parse(const char *const *keys, const char *const *values, size_t n_args,
                            struct dns_record_filter *ret, char err[static API_ERROR_MAX]) {
        struct dns_record_filter f = {.state = -1};
        bool seen_state = false, seen_owner = false, seen_name = false;
        char shown[72];
        for (size_t i = 0; i < n_args; i++) {
                const char *key = keys[i], *value = values[i] ? values[i] : "";
                api_sanitize(value, shown, sizeof shown);
                if (streq(key, "state")) {
                        enum store_dns_state st;
                        if (seen_state || store_dns_state_from_string(value, &st) < 0) {
                                snprintf(err, API_ERROR_MAX,
                                         "query 'state': %s'%s' is not a state (pending, synced, error, deleting)",
                                         seen_state ? "repeated; " : "", shown);
                                return -EINVAL;
                        }
                        f.state = (int)st;
                        seen_state = true;
                } else if (streq(key, "owner")) {
                        if (seen_owner || !owner_parse(value, &f)) {
                                snprintf(err, API_ERROR_MAX,
                                         "query 'owner': %s'%s' is not KIND:ID (KIND vm, route or node; e.g. vm:web-1)",
                                         seen_owner ? "repeated; " : "", shown);
                                return -EINVAL;
                        }
                        seen_owner = true;
                } else if (streq(key, "name")) {
                        if (seen_name || dns_record_name_parse(value, f.name) < 0) {
                                snprintf(err, API_ERROR_MAX, "query 'name': %s'%s' is not a DNS name",
                                         seen_name ? "repeated; " : "", shown);
                                return -EINVAL;
                        }
                        seen_name = true;
                } else {
                        api_sanitize(key, shown, sizeof shown);
                        snprintf(err, API_ERROR_MAX, "unknown query argument '%s' (allowed: state, owner, name)",
                                 shown);
                        return -EINVAL;
                }
        }
        *ret = f;
        return 0;
}

bool dns_record_filter_match(const struct dns_record_filter *f, const struct store_dns_record *r) {
        return (f->state < 0 || (int)r->state == f->state) &&
               (!f->owner_kind[0] || (streq(f->owner_kind, r->want.owner_kind) && streq(f->owner_id, r->want.owner_id))) &&
               (!f->name[0] || streq(f->name, r->want.name));
}

const char *dns_record_type_to_string(uint16_t type) {
        return type == DNS_TYPE_A ? "A" : type == DNS_TYPE_AAAA ? "AAAA" : NULL;
}

json_t *dns_record_to_json(const struct store_dns_record *r, int64_t now, bool brief) {
        const char *type = dns_record_type_to_string(r->want.type);
        const char *state = store_dns_state_to_string(r->state);
        char retry_text[API_TIME_MAX], updated[API_TIME_MAX];
        if (!type || !state)
                return NULL;
        bool waiting = r->state != STORE_DNS_SYNCED && r->next_retry_at > now;
        const char *retry = waiting ? api_time_format(r->next_retry_at, retry_text) : NULL;
        const char *error = r->last_error[0] ? r->last_error : NULL;
        if (brief)
                return json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?}", "name", r->want.name, "type", type, "content",
                                 r->want.content, "state", state, "last_error", error, "next_retry_at", retry);
        return json_pack("{s:s, s:s, s:s, s:I, s:b, s:{s:s, s:s}, s:s, s:I, s:s?, s:s?, s:s?, s:s}", "name",
                         r->want.name, "type", type, "content", r->want.content, "ttl", (json_int_t)r->want.ttl,
                         "proxied", r->want.proxied, "owner", "kind", r->want.owner_kind, "id", r->want.owner_id,
                         "state", state, "attempts", (json_int_t)r->attempts, "last_error", error, "next_retry_at",
                         retry, "provider_ref", r->provider_ref[0] ? r->provider_ref : NULL, "updated_at",
                         api_time_format(r->updated_at, updated));
}

json_t *api_error_json(const char *code, const char *message) {
        return json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
}
