/* SPDX-License-Identifier: MIT */
/*
 * The JSON codec of DHCP leases (leasejson.h): the create request, MACs, addresses checked
 * against the pool, the list query and the lease object.
 */
#include "leasejson.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../core/util.h"
#include "resjson.h"

#define MAC_EXAMPLE "52:54:00:12:34:56"

const char *lease_decode_code(enum lease_decode_status st, unsigned *ret_status) {
        switch (st) {
        case LEASE_DECODE_OK: break;
        case LEASE_DECODE_INVALID_JSON: *ret_status = 400; return "invalid_json";
        case LEASE_DECODE_INVALID_ARGUMENT: *ret_status = 400; return "invalid_argument";
        case LEASE_DECODE_INVALID_LEASE: *ret_status = 422; return "invalid_lease";
        }
        return NULL;
}

static int hex_digit(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        c = (char)tolower((unsigned char)c);
        return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The shape alone: six hex pairs with one separator, ':' or '-'. */
static bool mac_syntax(const char *text, uint8_t m[static MAC_LEN]) {
        if (strlen(text) != MAC_TEXT_LEN || (text[2] != ':' && text[2] != '-'))
                return false;
        for (size_t i = 0; i < MAC_LEN; i++) {
                const char *p = text + 3 * i;
                int hi = hex_digit(p[0]), lo = hex_digit(p[1]);
                if (hi < 0 || lo < 0 || (i < MAC_LEN - 1 && p[2] != text[2]))
                        return false;
                m[i] = (uint8_t)(hi << 4 | lo);
        }
        return true;
}

bool lease_mac_decode(const char *text, const char *field, uint8_t mac[static MAC_LEN], char err[static API_ERROR_MAX]) {
        char shown[48];
        uint8_t m[MAC_LEN];
        if (mac_parse(text, m) == 0) {
                memcpy(mac, m, MAC_LEN);
                return true;
        }
        api_sanitize(text, shown, sizeof shown);
        if (!mac_syntax(text, m))
                snprintf(err, API_ERROR_MAX,
                         "%s: '%s' is not a MAC address (six pairs of hex digits separated by ':' or '-', e.g. "
                         MAC_EXAMPLE ")",
                         field, shown);
        else if (m[0] & 1)
                snprintf(err, API_ERROR_MAX,
                         "%s: '%s' is a %s address; a network card's MAC is unicast (the first octet is even)", field,
                         shown, memcmp(m, (const uint8_t[]){255, 255, 255, 255, 255, 255}, MAC_LEN) == 0 ? "broadcast"
                                                                                                        : "multicast");
        else
                snprintf(err, API_ERROR_MAX, "%s: '%s' (all zero) is not a usable MAC address", field, shown);
        return false;
}

char *lease_subnet_format(const struct lease_pool *p, char out[static LEASE_SUBNET_TEXT_MAX]) {
        char net[16], mask[16];
        ipv4_format(p->net, net);
        uint32_t inverted = ~p->mask;
        if ((inverted & (inverted + 1)) == 0) /* a prefix: ones, then zeros */
                snprintf(out, LEASE_SUBNET_TEXT_MAX, "%s/%d", net, 32 - __builtin_popcount(inverted));
        else
                snprintf(out, LEASE_SUBNET_TEXT_MAX, "%s/%s", net, ipv4_format(p->mask, mask));
        return out;
}

bool lease_ip_allowed(const struct lease_pool *p, uint32_t ip, char err[static API_ERROR_MAX]) {
        char text[16], subnet[LEASE_SUBNET_TEXT_MAX];
        ipv4_format(ip, text);
        lease_subnet_format(p, subnet);
        if ((ip & p->mask) != p->net)
                snprintf(err, API_ERROR_MAX, "address %s is outside the DHCP subnet %s", text, subnet);
        else if (ip == p->net)
                snprintf(err, API_ERROR_MAX, "address %s is the network address of %s, not a host's", text, subnet);
        else if (ip == (p->net | ~p->mask))
                snprintf(err, API_ERROR_MAX, "address %s is the broadcast address of %s, not a host's", text, subnet);
        else if (ip == p->gateway)
                snprintf(err, API_ERROR_MAX, "address %s is the VMs' gateway ([dhcp] gateway), not a VM's", text);
        else if (p->listen_ip && ip == p->listen_ip)
                snprintf(err, API_ERROR_MAX, "address %s is the DHCP server's own ([dhcp] listen_ip), not a VM's", text);
        else
                return true;
        return false;
}

/* Member name of root as a string, NULL when absent or null (*ret_bad false) or when not a
 * string without NUL characters (*ret_bad true, err set). */
static const char *optional_string(const json_t *root, const char *name, bool *ret_bad,
                                   char err[static API_ERROR_MAX]) {
        const json_t *v = json_object_get(root, name);
        *ret_bad = false;
        if (!v || json_is_null(v))
                return NULL;
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
                snprintf(err, API_ERROR_MAX, "field '%s' must be a string", name);
                *ret_bad = true;
                return NULL;
        }
        return json_string_value(v);
}

static bool ip_decode(const char *text, uint32_t *ret, char err[static API_ERROR_MAX]) {
        char shown[48];
        api_sanitize(text, shown, sizeof shown);
        struct ip_addr a;
        if (ip_addr_parse(text, &a) == 0 && a.family != AF_INET) {
                snprintf(err, API_ERROR_MAX, "field 'ip': '%s' is an IPv6 address; a DHCP lease is IPv4", shown);
                return false;
        }
        uint32_t ip;
        if (ipv4_parse(text, &ip) < 0) {
                snprintf(err, API_ERROR_MAX, "field 'ip': '%s' is not an IPv4 address (e.g. 10.0.1.100)", shown);
                return false;
        }
        if (ip == 0) {
                snprintf(err, API_ERROR_MAX, "field 'ip': 0.0.0.0 is not a host's address");
                return false;
        }
        *ret = ip;
        return true;
}

static bool name_decode(const char *text, char out[static LEASE_NAME_MAX + 1], char err[static API_ERROR_MAX]) {
        char shown[80];
        api_sanitize(text, shown, sizeof shown);
        if (lease_name_valid(text)) {
                strcpy(out, text);
                return true;
        }
        bool upper = false;
        for (const char *p = text; *p; p++)
                upper = upper || (*p >= 'A' && *p <= 'Z');
        if (strchr(text, '.'))
                snprintf(err, API_ERROR_MAX,
                         "field 'name': '%s' has a dot; give one label (NAME and NAME.{domain} both resolve)", shown);
        else if (upper && strlen(text) <= LEASE_NAME_MAX)
                snprintf(err, API_ERROR_MAX, "field 'name': '%s' has upper case; write it in lower case", shown);
        else
                snprintf(err, API_ERROR_MAX,
                         "field 'name': '%s' is not a host name label (1-%d of a-z 0-9 -, not starting or ending "
                         "with '-')",
                         shown, LEASE_NAME_MAX);
        return false;
}

enum lease_decode_status lease_request_decode(const char *body, size_t len, struct lease_request *ret,
                                              char err[static API_ERROR_MAX]) {
        static const char *const fields[] = {"mac", "ip", "name"};
        _cleanup_(json_decrefp) json_t *root = json_body_load(body, len, err);
        if (!root)
                return LEASE_DECODE_INVALID_JSON;
        if (!json_fields_known(root, fields, ELEMENTSOF(fields), err))
                return LEASE_DECODE_INVALID_ARGUMENT;
        bool bad_mac, bad_ip, bad_name;
        const char *mac = optional_string(root, "mac", &bad_mac, err);
        if (bad_mac)
                return LEASE_DECODE_INVALID_ARGUMENT;
        if (!mac) {
                snprintf(err, API_ERROR_MAX, "field 'mac' is required (the VM's MAC address, e.g. " MAC_EXAMPLE ")");
                return LEASE_DECODE_INVALID_ARGUMENT;
        }
        const char *ip = optional_string(root, "ip", &bad_ip, err);
        if (bad_ip)
                return LEASE_DECODE_INVALID_ARGUMENT;
        const char *name = optional_string(root, "name", &bad_name, err);
        if (bad_name)
                return LEASE_DECODE_INVALID_ARGUMENT;

        struct lease_request req = {0};
        if (!lease_mac_decode(mac, "field 'mac'", req.mac, err) || (ip && !ip_decode(ip, &req.ip, err)) ||
            (name && !name_decode(name, req.name, err)))
                return LEASE_DECODE_INVALID_LEASE;
        *ret = req;
        return LEASE_DECODE_OK;
}

int lease_list_query_parse(const char *const *keys, const char *const *values, size_t n, struct lease_list_query *ret,
                           char err[static API_ERROR_MAX]) {
        struct lease_list_query q = {.limit = API_LIST_LIMIT_DEFAULT};
        bool seen_limit = false, seen_after = false;
        char shown[72];
        for (size_t i = 0; i < n; i++) {
                const char *key = keys[i], *value = values[i] ? values[i] : "";
                api_sanitize(value, shown, sizeof shown);
                if (streq(key, "limit")) {
                        size_t l = strlen(value), v = 0;
                        bool ok = !seen_limit && l >= 1 && l <= 4 && value[0] != '0';
                        for (size_t j = 0; ok && j < l; j++) {
                                ok = value[j] >= '0' && value[j] <= '9';
                                v = v * 10 + (size_t)(value[j] - '0');
                        }
                        if (!ok || v > API_LIST_LIMIT_MAX) {
                                snprintf(err, API_ERROR_MAX, "query 'limit': %s'%s' is not a number 1-%d",
                                         seen_limit ? "repeated; " : "", shown, API_LIST_LIMIT_MAX);
                                return -EINVAL;
                        }
                        q.limit = v;
                        seen_limit = true;
                } else if (streq(key, "after")) {
                        uint8_t m[MAC_LEN];
                        if (seen_after || mac_parse(value, m) < 0) {
                                snprintf(err, API_ERROR_MAX, "query 'after': %s'%s' is not a MAC address",
                                         seen_after ? "repeated; " : "", shown);
                                return -EINVAL;
                        }
                        mac_format(m, q.after);
                        seen_after = true;
                } else {
                        api_sanitize(key, shown, sizeof shown);
                        snprintf(err, API_ERROR_MAX, "unknown query argument '%s' (allowed: limit, after)", shown);
                        return -EINVAL;
                }
        }
        *ret = q;
        return 0;
}

json_t *lease_to_json(const struct lease *l) {
        char mac[MAC_TEXT_LEN + 1], ip[16], created[API_TIME_MAX], updated[API_TIME_MAX];
        return json_pack("{s:s, s:s, s:s?, s:s?, s:s, s:s}", "mac", mac_format(l->mac, mac), "ip", ipv4_format(l->ip, ip),
                         "name", l->name[0] ? l->name : NULL, "vm_id", l->vm_id[0] ? l->vm_id : NULL, "created_at",
                         api_time_format(l->created_at, created), "updated_at", api_time_format(l->updated_at, updated));
}
