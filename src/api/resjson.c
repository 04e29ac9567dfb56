/* SPDX-License-Identifier: MIT */
/* Route, forward and agent request decoding, their objects, and the shared request rules. */
#include "resjson.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../core/util.h"

const char *api_decode_code(enum api_decode_status st, unsigned *ret_status) {
        unsigned status = 0;
        const char *code = NULL;
        switch (st) {
        case API_DECODE_OK: break;
        case API_DECODE_INVALID_JSON: status = 400, code = "invalid_json"; break;
        case API_DECODE_INVALID_ARGUMENT: status = 400, code = "invalid_argument"; break;
        case API_DECODE_UNSUPPORTED: status = 422, code = "unsupported"; break;
        case API_DECODE_TLS_TERMINATION: status = 422, code = "tls_termination_unsupported"; break;
        }
        if (ret_status)
                *ret_status = status;
        return code;
}

/* ---- timestamps ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        unsigned yoe = (unsigned)(y - era * 400);
        unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *ret_y, unsigned *ret_m, unsigned *ret_d) {
        z += 719468;
        int64_t era = (z >= 0 ? z : z - 146096) / 146097;
        unsigned doe = (unsigned)(z - era * 146097);
        unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        unsigned mp = (5 * doy + 2) / 153;
        unsigned d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
        *ret_y = (int64_t)yoe + era * 400 + (m <= 2);
        *ret_m = m;
        *ret_d = d;
}

#define TIME_MIN_YEAR0 (-62167219200LL) /* 0000-01-01T00:00:00Z */
#define TIME_MAX_9999 253402300799LL /* 9999-12-31T23:59:59Z */

const char *api_time_format(int64_t t, char buf[static API_TIME_MAX]) {
        if (t < TIME_MIN_YEAR0 || t > TIME_MAX_9999) {
                buf[0] = '\0';
                return buf;
        }
        int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400), secs = t - days * 86400, y;
        unsigned m, d;
        civil_from_days(days, &y, &m, &d);
        int n = snprintf(buf, API_TIME_MAX, "%04d-%02u-%02uT%02d:%02d:%02dZ", (int)y, m, d, (int)(secs / 3600),
                         (int)(secs / 60 % 60), (int)(secs % 60));
        if (n < 0 || n >= API_TIME_MAX)
                buf[0] = '\0';
        return buf;
}

/* n decimal digits at *p into *ret, advancing *p. */
static bool digits(const char **p, unsigned n, unsigned *ret) {
        unsigned v = 0;
        for (unsigned i = 0; i < n; i++) {
                char c = (*p)[i];
                if (c < '0' || c > '9')
                        return false;
                v = v * 10 + (unsigned)(c - '0');
        }
        *p += n;
        *ret = v;
        return true;
}

static bool leap_year(unsigned y) {
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int api_time_parse(const char *s, int64_t *ret) {
        static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        const char *p = s;
        unsigned y, mo, d, h, mi, se;
        if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' || !digits(&p, 2, &d))
                return -EINVAL;
        if (*p != 'T' && *p != 't')
                return -EINVAL;
        p++;
        if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' || !digits(&p, 2, &se))
                return -EINVAL;
        if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap_year(y)) || h > 23 ||
            mi > 59 || se > 59)
                return -EINVAL;
        if (*p == '.') {
                p++;
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                for (size_t n = 0; *p >= '0' && *p <= '9'; p++)
                        if (++n > 9)
                                return -EINVAL;
        }
        int64_t offset = 0;
        if (*p == 'Z' || *p == 'z')
                p++;
        else if (*p == '+' || *p == '-') {
                int sign = *p++ == '-' ? -1 : 1;
                unsigned oh, om;
                if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 23 || om > 59)
                        return -EINVAL;
                offset = sign * (int64_t)(oh * 3600 + om * 60);
        } else
                return -EINVAL;
        if (*p)
                return -EINVAL;
        int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset;
        if (t < 0 || t > TIME_MAX_9999)
                return -EINVAL;
        *ret = t;
        return 0;
}

/* ---- field decoders ---- */

void api_sanitize(const char *in, char *out, size_t n) {
        size_t j = 0;
        for (size_t i = 0; in[i] && j + 1 < n; i++)
                out[j++] = ((unsigned char)in[i] < 0x20 || (unsigned char)in[i] >= 0x7f) ? '?' : in[i];
        out[j] = '\0';
}

bool json_fields_known(const json_t *obj, const char *const *allowed, size_t n, char err[static API_ERROR_MAX]) {
        const char *key;
        json_t *value;
        json_object_foreach((json_t *)obj, key, value) {
                bool known = false;
                for (size_t i = 0; i < n && !known; i++)
                        known = streq(key, allowed[i]);
                if (known)
                        continue;
                char shown[48], list[160];
                size_t len = 0;
                list[0] = '\0';
                for (size_t i = 0; i < n && len < sizeof list; i++)
                        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", allowed[i]);
                api_sanitize(key, shown, sizeof shown);
                snprintf(err, API_ERROR_MAX, "unknown field '%s' (allowed: %s)", shown, list);
                return false;
        }
        return true;
}

/* A JSON string without NUL characters, or NULL (err says the field must be a string). */
static const char *string_value(const json_t *v, const char *field, const char *what, char err[static API_ERROR_MAX]) {
        if (!json_is_string(v)) {
                snprintf(err, API_ERROR_MAX, "field %s must be %s", field, what);
                return NULL;
        }
        const char *s = json_string_value(v);
        if (strlen(s) != json_string_length(v)) {
                snprintf(err, API_ERROR_MAX, "field %s: contains a NUL character", field);
                return NULL;
        }
        return s;
}

bool json_labels_decode(const json_t *v, char out[static LABELS_JSON_MAX], char err[static API_ERROR_MAX]) {
        if (!v) {
                strcpy(out, "{}");
                return true;
        }
        if (!json_is_object(v)) {
                snprintf(err, API_ERROR_MAX, "field 'labels' must be an object of string values");
                return false;
        }
        size_t n = json_object_size(v);
        if (n > LABELS_MAX) {
                snprintf(err, API_ERROR_MAX, "field 'labels': at most %d labels, got %zu", LABELS_MAX, n);
                return false;
        }
        const char *keys[LABELS_MAX], *values[LABELS_MAX];
        const char *key;
        json_t *value;
        size_t i = 0;
        char shown[48], shown_value[48];
        json_object_foreach((json_t *)v, key, value) {
                api_sanitize(key, shown, sizeof shown);
                if (!label_key_valid(key)) {
                        snprintf(err, API_ERROR_MAX,
                                 "field 'labels': key '%s' is not valid (1-%d characters of A-Z a-z 0-9 . _ / - "
                                 "starting with a letter or digit)",
                                 shown, LABEL_KEY_MAX);
                        return false;
                }
                if (!json_is_string(value)) {
                        snprintf(err, API_ERROR_MAX, "field 'labels'.'%s' must be a string", shown);
                        return false;
                }
                const char *s = json_string_value(value);
                if (strlen(s) != json_string_length(value) || !label_value_valid(s)) {
                        api_sanitize(s, shown_value, sizeof shown_value);
                        snprintf(err, API_ERROR_MAX,
                                 "field 'labels'.'%s': value '%s' is not valid (0-%d printable ASCII characters "
                                 "other than \" and \\)",
                                 shown, shown_value, LABEL_VALUE_MAX);
                        return false;
                }
                keys[i] = key;
                values[i] = s;
                i++;
        }
        char text[LABELS_JSON_MAX];
        if (labels_format(keys, values, i, text) < 0) {
                snprintf(err, API_ERROR_MAX, "field 'labels' is not valid");
                return false;
        }
        strcpy(out, text);
        return true;
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
        api_sanitize(text, shown, sizeof shown);
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

bool json_allow_decode(const json_t *allow, struct ip_cidr out[static VM_ALLOW_MAX], uint8_t *ret_n,
                       char err[static API_ERROR_MAX]) {
        if (!allow) {
                *ret_n = 0;
                return true;
        }
        if (!json_is_array(allow)) {
                snprintf(err, API_ERROR_MAX, "field 'allow' must be an array of CIDR strings");
                return false;
        }
        size_t n = json_array_size(allow);
        if (n > VM_ALLOW_MAX) {
                snprintf(err, API_ERROR_MAX, "field 'allow': at most %d networks, got %zu", VM_ALLOW_MAX, n);
                return false;
        }
        struct ip_cidr list[VM_ALLOW_MAX];
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
                api_sanitize(text, shown, sizeof shown);
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
                        if (list[j].prefix == c.prefix && ip_addr_equal(&list[j].addr, &c.addr)) {
                                snprintf(err, API_ERROR_MAX, "field 'allow'[%zu]: '%s' repeats entry [%zu]", i, shown,
                                         j);
                                return false;
                        }
                list[i] = c;
        }
        memcpy(out, list, n * sizeof list[0]);
        *ret_n = (uint8_t)n;
        return true;
}

bool json_hostname_decode(const json_t *v, const char *field, char out[static DNS_NAME_MAX + 1],
                          char err[static API_ERROR_MAX]) {
        const char *s = string_value(v, field, "a string (a host name)", err);
        if (!s)
                return false;
        if (route_hostname_valid(s)) {
                strcpy(out, s);
                return true;
        }
        char shown[72], lower[DNS_NAME_MAX + 1];
        api_sanitize(s, shown, sizeof shown);
        size_t l = strlen(s);
        bool upper = false;
        for (size_t i = 0; i < l && l < sizeof lower; i++) {
                char c = s[i];
                upper |= c >= 'A' && c <= 'Z';
                lower[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
        }
        if (upper && l < sizeof lower) {
                lower[l] = '\0';
                if (route_hostname_valid(lower)) {
                        snprintf(err, API_ERROR_MAX, "field %s: '%s' must be written in lower case", field, shown);
                        return false;
                }
        }
        snprintf(err, API_ERROR_MAX,
                 "field %s: '%s' is not a valid host name (lower-case DNS name of at most %d characters, or "
                 "*.NAME for a wildcard)",
                 field, shown, DNS_NAME_MAX);
        return false;
}

bool json_target_ip_decode(const json_t *v, const char *field, struct ip_addr *ret, char err[static API_ERROR_MAX]) {
        const char *s = string_value(v, field, "a string (an IP address)", err);
        if (!s)
                return false;
        struct ip_addr a;
        if (ip_addr_parse(s, &a) < 0) {
                char shown[48];
                api_sanitize(s, shown, sizeof shown);
                snprintf(err, API_ERROR_MAX, "field %s: '%s' is not an IPv4 or IPv6 address", field, shown);
                return false;
        }
        enum ip_target_problem p = ip_target_check(&a);
        if (p != IP_TARGET_OK) {
                snprintf(err, API_ERROR_MAX, "field %s: %s", field, ip_target_problem_to_string(p));
                return false;
        }
        *ret = a;
        return true;
}

bool json_port_decode(const json_t *v, const char *field, uint16_t *ret, char err[static API_ERROR_MAX]) {
        if (!json_is_integer(v)) {
                snprintf(err, API_ERROR_MAX, "field %s must be an integer port (1-65535)", field);
                return false;
        }
        json_int_t p = json_integer_value(v);
        if (p < 1 || p > 65535) {
                snprintf(err, API_ERROR_MAX, "field %s: %lld is not a port (1-65535)", field, (long long)p);
                return false;
        }
        *ret = (uint16_t)p;
        return true;
}

bool json_id_decode(const json_t *v, const char *field, const char *path_id, char out[static RESOURCE_ID_MAX + 1],
                    char err[static API_ERROR_MAX]) {
        if (!v) {
                if (!path_id) {
                        snprintf(err, API_ERROR_MAX, "field %s is required", field);
                        return false;
                }
                if (!vm_id_valid(path_id)) {
                        snprintf(err, API_ERROR_MAX, "the id in the path is not valid");
                        return false;
                }
                strcpy(out, path_id);
                return true;
        }
        const char *s = string_value(v, field, "a string", err);
        if (!s)
                return false;
        if (!vm_id_valid(s)) {
                snprintf(err, API_ERROR_MAX,
                         "field %s: must be 1-%d characters of A-Z a-z 0-9 . _ - starting with a letter or digit",
                         field, RESOURCE_ID_MAX);
                return false;
        }
        if (path_id && !streq(s, path_id)) {
                char shown[72];
                api_sanitize(path_id, shown, sizeof shown);
                snprintf(err, API_ERROR_MAX, "field %s: '%s' differs from the id in the path ('%s')", field, s, shown);
                return false;
        }
        strcpy(out, s);
        return true;
}

bool api_target_not_gateway(const struct ip_addr *addr, const struct config *cfg, const char *field,
                            char err[static API_ERROR_MAX]) {
        struct ip_addr pub;
        char ip[IP_ADDR_STRLEN];
        if ((ip_addr_parse(cfg->public_ip, &pub) == 0 && ip_addr_equal(&pub, addr)) ||
            (ip_addr_parse(cfg->public_ip6, &pub) == 0 && ip_addr_equal(&pub, addr))) {
                snprintf(err, API_ERROR_MAX, "field %s: %s is the gateway's own public address", field,
                         ip_addr_format(addr, ip));
                return false;
        }
        return true;
}

json_t *json_body_load(const char *body, size_t len, char err[static API_ERROR_MAX]) {
        json_error_t jerr;
        if (!body || len == 0) {
                snprintf(err, API_ERROR_MAX, "body is not valid JSON: it is empty (send a JSON object)");
                return NULL;
        }
        json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                /* jansson quotes the offending input, which may be any bytes (invalid UTF-8 would
                 * make the error itself unencodable as JSON). */
                char text[sizeof jerr.text];
                api_sanitize(jerr.text, text, sizeof text);
                snprintf(err, API_ERROR_MAX, "body is not valid JSON: %s (line %d, column %d)", text, jerr.line,
                         jerr.column);
                return NULL;
        }
        if (!json_is_object(root)) {
                snprintf(err, API_ERROR_MAX, "body must be a JSON object");
                json_decref(root);
                return NULL;
        }
        return root;
}

#define FIELD_MAX 48 /* "'name'" of a member */

/* Member name of root, which is required (NULL with err when absent); field gets the name
 * as messages quote it: 'name'. */
static json_t *require(const json_t *root, const char *name, char field[static FIELD_MAX],
                       char err[static API_ERROR_MAX]) {
        snprintf(field, FIELD_MAX, "'%s'", name);
        json_t *v = json_object_get(root, name);
        if (!v)
                snprintf(err, API_ERROR_MAX, "field %s is required", field);
        return v;
}

/* The required member name of root through json_hostname_decode(), json_target_ip_decode()
 * or json_port_decode(). */
static bool required_hostname(const json_t *root, const char *name, char out[static DNS_NAME_MAX + 1],
                              char err[static API_ERROR_MAX]) {
        char field[FIELD_MAX];
        const json_t *v = require(root, name, field, err);
        return v && json_hostname_decode(v, field, out, err);
}

static bool required_target_ip(const json_t *root, const char *name, struct ip_addr *ret,
                               char err[static API_ERROR_MAX]) {
        char field[FIELD_MAX];
        const json_t *v = require(root, name, field, err);
        return v && json_target_ip_decode(v, field, ret, err);
}

static bool required_port(const json_t *root, const char *name, uint16_t *ret, char err[static API_ERROR_MAX]) {
        char field[FIELD_MAX];
        const json_t *v = require(root, name, field, err);
        return v && json_port_decode(v, field, ret, err);
}

/* The optional member name of root through json_port_decode(); *ret is untouched when absent. */
static bool optional_port(const json_t *root, const char *name, uint16_t *ret, char err[static API_ERROR_MAX]) {
        char field[FIELD_MAX];
        const json_t *v = json_object_get(root, name);
        snprintf(field, sizeof field, "'%s'", name);
        return !v || json_port_decode(v, field, ret, err);
}

bool json_proxy_protocol_decode(const json_t *v, uint8_t *ret, char err[static API_ERROR_MAX]) {
        if (!v)
                return true;
        enum vm_proxy_protocol pp;
        if (!json_is_string(v)) {
                snprintf(err, API_ERROR_MAX, "field 'proxy_protocol' must be a string: none, v1 or v2");
                return false;
        }
        const char *text = json_string_value(v);
        if (strlen(text) != json_string_length(v) || vm_proxy_protocol_from_string(text, &pp) < 0) {
                char shown[48];
                api_sanitize(text, shown, sizeof shown);
                snprintf(err, API_ERROR_MAX, "field 'proxy_protocol': '%s' is not one of none, v1, v2", shown);
                return false;
        }
        *ret = (uint8_t)pp;
        return true;
}

bool json_bool_decode(const json_t *v, const char *field, bool *ret, char err[static API_ERROR_MAX]) {
        if (!v)
                return true;
        if (!json_is_boolean(v)) {
                snprintf(err, API_ERROR_MAX, "field %s must be true or false", field);
                return false;
        }
        *ret = json_is_true(v);
        return true;
}

static bool proto_decode(const json_t *v, const char *field, uint8_t *ret, char err[static API_ERROR_MAX]) {
        if (!v) {
                *ret = PROTO_TCP;
                return true;
        }
        const char *s = string_value(v, field, "a string: tcp or udp", err);
        if (!s)
                return false;
        if (streq(s, "tcp"))
                *ret = PROTO_TCP;
        else if (streq(s, "udp"))
                *ret = PROTO_UDP;
        else {
                char shown[48];
                api_sanitize(s, shown, sizeof shown);
                snprintf(err, API_ERROR_MAX, "field %s: '%s' is not one of tcp, udp", field, shown);
                return false;
        }
        return true;
}

json_t *json_allow_encode(const struct ip_cidr *allow, size_t n) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < n; i++) {
                char cidr[IP_ADDR_STRLEN + 4];
                json_array_append_new(a, json_string(ip_cidr_format(&allow[i], cidr)));
        }
        return a;
}

json_t *json_labels_encode(const char *text) {
        json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
        if (o && !json_is_object(o)) {
                json_decref(o);
                return NULL;
        }
        return o;
}

/* ---- /v1/routes ---- */

/* "mode": only "passthrough" (or absent) is supported. */
static enum api_decode_status mode_decode(const json_t *v, char err[static API_ERROR_MAX]) {
        if (!v)
                return API_DECODE_OK;
        const char *mode = string_value(v, "'mode'", "a string: passthrough", err);
        if (!mode)
                return API_DECODE_INVALID_ARGUMENT;
        if (!streq(mode, "passthrough")) {
                char shown[48];
                api_sanitize(mode, shown, sizeof shown);
                snprintf(err, API_ERROR_MAX,
                         "field 'mode': '%s' is not supported; edgegw routes by SNI and passes TLS through "
                         "(mode \"passthrough\")",
                         shown);
                return API_DECODE_UNSUPPORTED;
        }
        return API_DECODE_OK;
}

enum api_decode_status route_request_decode(const char *body, size_t len, const char *path_id, struct route_def *ret,
                                            char err[static API_ERROR_MAX]) {
        static const char *const fields[] = {"id",   "hostname",         "target_ip", "target_port", "mode",
                                             "proxy_protocol", "http_passthrough", "http_port", "allow",  "labels",
                                             "dns"};
        _cleanup_(json_decrefp) json_t *root = json_body_load(body, len, err);
        if (!root)
                return API_DECODE_INVALID_JSON;
        struct route_def r;
        route_def_init(&r);
        r.origin = ORIGIN_API;
        if (!json_fields_known(root, fields, ELEMENTSOF(fields), err) ||
            !json_id_decode(json_object_get(root, "id"), "'id'", path_id, r.id, err) ||
            !required_hostname(root, "hostname", r.hostname, err) || !required_target_ip(root, "target_ip", &r.ip, err) ||
            !optional_port(root, "target_port", &r.port, err))
                return API_DECODE_INVALID_ARGUMENT;
        enum api_decode_status st = mode_decode(json_object_get(root, "mode"), err);
        if (st != API_DECODE_OK)
                return st;
        if (!json_proxy_protocol_decode(json_object_get(root, "proxy_protocol"), &r.proxy_protocol, err) ||
            !json_bool_decode(json_object_get(root, "http_passthrough"), "'http_passthrough'", &r.http_passthrough,
                              err) ||
            !json_bool_decode(json_object_get(root, "dns"), "'dns'", &r.dns, err) ||
            !optional_port(root, "http_port", &r.http_port, err) ||
            !json_allow_decode(json_object_get(root, "allow"), r.allow, &r.n_allow, err) ||
            !json_labels_decode(json_object_get(root, "labels"), r.labels, err))
                return API_DECODE_INVALID_ARGUMENT;
        *ret = r;
        return API_DECODE_OK;
}

/* Sets the members every stored resource has: labels, origin, created_at, updated_at, version. */
static json_t *add_common(json_t *o, const char *labels, uint8_t origin, int64_t created_at, int64_t updated_at,
                          int64_t version) {
        char created[API_TIME_MAX], updated[API_TIME_MAX];
        json_t *l = json_labels_encode(labels);
        const char *orig = resource_origin_to_string(origin);
        if (!o || !l || !orig) {
                json_decref(l);
                json_decref(o);
                return NULL;
        }
        json_object_set_new(o, "labels", l);
        json_object_set_new(o, "origin", json_string(orig));
        json_object_set_new(o, "created_at", json_string(api_time_format(created_at, created)));
        json_object_set_new(o, "updated_at", json_string(api_time_format(updated_at, updated)));
        json_object_set_new(o, "version", json_integer(version));
        return o;
}

json_t *route_to_json(const struct route_def *r) {
        char ip[IP_ADDR_STRLEN];
        const char *proxy = vm_proxy_protocol_to_string(r->proxy_protocol);
        if (!proxy || r->n_allow > VM_ALLOW_MAX)
                return NULL;
        json_t *allow = json_allow_encode(r->allow, r->n_allow);
        if (!allow)
                return NULL;
        json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:b, s:i, s:o, s:b}", "id", r->id, "hostname",
                              r->hostname, "target_ip", ip_addr_format(&r->ip, ip), "target_port", r->port, "mode",
                              "passthrough", "proxy_protocol", proxy, "http_passthrough", r->http_passthrough,
                              "http_port", r->http_port, "allow", allow, "dns", r->dns);
        return add_common(o, r->labels, r->origin, r->created_at, r->updated_at, r->version);
}

/* ---- /v1/forwards ---- */

enum api_decode_status forward_request_decode(const char *body, size_t len, const char *path_id,
                                              struct forward_def *ret, char err[static API_ERROR_MAX]) {
        static const char *const fields[] = {"id", "public_port", "proto", "target_ip", "target_port", "labels"};
        _cleanup_(json_decrefp) json_t *root = json_body_load(body, len, err);
        if (!root)
                return API_DECODE_INVALID_JSON;
        struct forward_def f;
        forward_def_init(&f);
        f.origin = ORIGIN_API;
        if (!json_fields_known(root, fields, ELEMENTSOF(fields), err) ||
            !json_id_decode(json_object_get(root, "id"), "'id'", path_id, f.id, err) ||
            !required_port(root, "public_port", &f.public_port, err) ||
            !proto_decode(json_object_get(root, "proto"), "'proto'", &f.proto, err) ||
            !required_target_ip(root, "target_ip", &f.ip, err) || !required_port(root, "target_port", &f.port, err) ||
            !json_labels_decode(json_object_get(root, "labels"), f.labels, err))
                return API_DECODE_INVALID_ARGUMENT;
        *ret = f;
        return API_DECODE_OK;
}

json_t *forward_to_json(const struct forward_def *f) {
        char ip[IP_ADDR_STRLEN];
        if (f->proto != PROTO_TCP && f->proto != PROTO_UDP)
                return NULL;
        json_t *o = json_pack("{s:s, s:i, s:s, s:s, s:i}", "id", f->id, "public_port", f->public_port, "proto",
                              proto_to_string(f->proto), "target_ip", ip_addr_format(&f->ip, ip), "target_port", f->port);
        return add_common(o, f->labels, f->origin, f->created_at, f->updated_at, f->version);
}

/* ---- the seed proxy agent ---- */

/* An optional printable-ASCII text of at most AGENT_FIELD_MAX characters (null = absent). */
static bool agent_text_decode(const json_t *v, const char *field, char out[static AGENT_FIELD_MAX + 1],
                              char err[static API_ERROR_MAX]) {
        if (!v || json_is_null(v))
                return true;
        const char *s = string_value(v, field, "a string", err);
        if (!s)
                return false;
        size_t l = strlen(s);
        bool printable = l <= AGENT_FIELD_MAX;
        for (size_t i = 0; i < l && printable; i++)
                printable = s[i] >= 0x20 && s[i] <= 0x7e;
        if (!printable) {
                snprintf(err, API_ERROR_MAX, "field %s: at most %d printable ASCII characters", field, AGENT_FIELD_MAX);
                return false;
        }
        strcpy(out, s);
        return true;
}

/* target_url: "https://IP[:PORT][/]" or "tcp://IP[:PORT][/]". */
static enum api_decode_status target_url_decode(const char *url, struct ip_addr *ret_ip, uint16_t *ret_port,
                                                char err[static API_ERROR_MAX]) {
        char shown[80];
        api_sanitize(url, shown, sizeof shown);
        const char *rest;
        if (strncmp(url, "https://", 8) == 0)
                rest = url + 8;
        else if (strncmp(url, "tcp://", 6) == 0)
                rest = url + 6;
        else if (strncmp(url, "http://", 7) == 0) {
                snprintf(err, API_ERROR_MAX,
                         "target_url %s needs TLS termination, which edgegw does not do yet; point it at the "
                         "backend's TLS port with https:// (passthrough)",
                         shown);
                return API_DECODE_TLS_TERMINATION;
        } else {
                snprintf(err, API_ERROR_MAX,
                         "field 'target_url': '%s' must be https://IP[:PORT] or tcp://IP[:PORT] (SNI passthrough)",
                         shown);
                return API_DECODE_INVALID_ARGUMENT;
        }
        char host[IP_ADDR_STRLEN + 2];
        const char *end;
        if (*rest == '[') {
                end = strchr(rest, ']');
                if (!end || (size_t)(end - rest - 1) >= sizeof host)
                        goto bad_host;
                memcpy(host, rest + 1, (size_t)(end - rest - 1));
                host[end - rest - 1] = '\0';
                end++;
        } else {
                end = rest + strcspn(rest, ":/");
                if ((size_t)(end - rest) >= sizeof host)
                        goto bad_host;
                memcpy(host, rest, (size_t)(end - rest));
                host[end - rest] = '\0';
        }
        struct ip_addr a;
        if (ip_addr_parse(host, &a) < 0 || (*rest == '[') != (a.family == AF_INET6))
                goto bad_host;
        unsigned port = 443;
        if (*end == ':') {
                const char *p = end + 1;
                size_t n = 0;
                for (port = 0; *p >= '0' && *p <= '9' && n < 6; p++, n++)
                        port = port * 10 + (unsigned)(*p - '0');
                if (n == 0 || n > 5 || port < 1 || port > 65535) {
                        snprintf(err, API_ERROR_MAX, "field 'target_url': '%s' has a bad port (1-65535)", shown);
                        return API_DECODE_INVALID_ARGUMENT;
                }
                end = p;
        }
        if (*end == '/')
                end++;
        if (*end) {
                snprintf(err, API_ERROR_MAX,
                         "field 'target_url': '%s' may not have a path, query or user (passthrough relays the whole "
                         "TLS connection)",
                         shown);
                return API_DECODE_INVALID_ARGUMENT;
        }
        enum ip_target_problem p = ip_target_check(&a);
        if (p != IP_TARGET_OK) {
                snprintf(err, API_ERROR_MAX, "field 'target_url': %s", ip_target_problem_to_string(p));
                return API_DECODE_INVALID_ARGUMENT;
        }
        *ret_ip = a;
        *ret_port = (uint16_t)port;
        return API_DECODE_OK;
bad_host:
        snprintf(err, API_ERROR_MAX,
                 "field 'target_url': '%s' must name the backend by IP address (IPv6 in brackets), not by host name",
                 shown);
        return API_DECODE_INVALID_ARGUMENT;
}

enum api_decode_status agent_route_decode(const char *body, size_t len, struct route_def *ret,
                                          char err[static API_ERROR_MAX]) {
        static const char *const fields[] = {"route_id", "hostname", "target_url", "entrypoint", "certresolver"};
        _cleanup_(json_decrefp) json_t *root = json_body_load(body, len, err);
        if (!root)
                return API_DECODE_INVALID_JSON;
        struct route_def r;
        route_def_init(&r);
        r.origin = ORIGIN_AGENT;
        strcpy(r.agent_entrypoint, "websecure");
        char field[FIELD_MAX];
        const json_t *v;
        const char *url;
        if (!json_fields_known(root, fields, ELEMENTSOF(fields), err) ||
            !json_id_decode(json_object_get(root, "route_id"), "'route_id'", NULL, r.id, err) ||
            !required_hostname(root, "hostname", r.hostname, err) || !(v = require(root, "target_url", field, err)) ||
            !(url = string_value(v, field, "a string", err)))
                return API_DECODE_INVALID_ARGUMENT;
        if (strlen(url) > AGENT_FIELD_MAX) {
                snprintf(err, API_ERROR_MAX, "field 'target_url': at most %d characters", AGENT_FIELD_MAX);
                return API_DECODE_INVALID_ARGUMENT;
        }
        enum api_decode_status st = target_url_decode(url, &r.ip, &r.port, err);
        if (st != API_DECODE_OK)
                return st;
        strcpy(r.agent_target_url, url);
        if (!agent_text_decode(json_object_get(root, "entrypoint"), "'entrypoint'", r.agent_entrypoint, err) ||
            !agent_text_decode(json_object_get(root, "certresolver"), "'certresolver'", r.agent_certresolver, err))
                return API_DECODE_INVALID_ARGUMENT;
        *ret = r;
        return API_DECODE_OK;
}

json_t *agent_route_to_json(const struct route_def *r) {
        char url[IP_ADDR_STRLEN + 24], ip[IP_ADDR_STRLEN];
        const char *target = r->agent_target_url;
        if (!target[0]) {
                /* A route made through /v1 has no URL of its own: show the equivalent one. */
                ip_addr_format(&r->ip, ip);
                snprintf(url, sizeof url, r->ip.family == AF_INET6 ? "https://[%s]:%u" : "https://%s:%u", ip, r->port);
                target = url;
        }
        return json_pack("{s:s, s:s, s:s, s:s, s:s?}", "route_id", r->id, "hostname", r->hostname, "target_url", target,
                         "entrypoint", r->agent_entrypoint, "certresolver",
                         r->agent_certresolver[0] ? r->agent_certresolver : NULL);
}

enum api_decode_status agent_forward_decode(const char *body, size_t len, struct forward_def *ret,
                                            char err[static API_ERROR_MAX]) {
        static const char *const fields[] = {"forward_id", "public_port", "target_ip", "target_port", "proto"};
        _cleanup_(json_decrefp) json_t *root = json_body_load(body, len, err);
        if (!root)
                return API_DECODE_INVALID_JSON;
        struct forward_def f;
        forward_def_init(&f);
        f.origin = ORIGIN_AGENT;
        if (!json_fields_known(root, fields, ELEMENTSOF(fields), err) ||
            !json_id_decode(json_object_get(root, "forward_id"), "'forward_id'", NULL, f.id, err) ||
            !required_port(root, "public_port", &f.public_port, err) ||
            !required_target_ip(root, "target_ip", &f.ip, err) || !required_port(root, "target_port", &f.port, err) ||
            !proto_decode(json_object_get(root, "proto"), "'proto'", &f.proto, err))
                return API_DECODE_INVALID_ARGUMENT;
        *ret = f;
        return API_DECODE_OK;
}

json_t *agent_forward_to_json(const struct forward_def *f) {
        char ip[IP_ADDR_STRLEN];
        if (f->proto != PROTO_TCP && f->proto != PROTO_UDP)
                return NULL;
        return json_pack("{s:s, s:i, s:s, s:i, s:s}", "forward_id", f->id, "public_port", f->public_port, "target_ip",
                         ip_addr_format(&f->ip, ip), "target_port", f->port, "proto", proto_to_string(f->proto));
}

/* ---- request rules ---- */

int api_list_query_parse(const char *const *keys, const char *const *values, size_t n_args, bool allow_bytes,
                         struct api_list_query *ret, char err[static API_ERROR_MAX]) {
        struct api_list_query q = {.limit = API_LIST_LIMIT_DEFAULT};
        bool seen_limit = false, seen_after = false, seen_bytes = false;
        char shown[72];
        for (size_t i = 0; i < n_args; i++) {
                const char *key = keys[i], *value = values[i] ? values[i] : "";
                api_sanitize(value, shown, sizeof shown);
                if (streq(key, "limit")) {
                        unsigned long n = 0;
                        size_t l = strlen(value);
                        bool ok = !seen_limit && l >= 1 && l <= 4 && value[0] != '0';
                        for (size_t j = 0; ok && j < l; j++) {
                                ok = value[j] >= '0' && value[j] <= '9';
                                n = n * 10 + (unsigned long)(value[j] - '0');
                        }
                        if (!ok || n < 1 || n > API_LIST_LIMIT_MAX) {
                                snprintf(err, API_ERROR_MAX, "query 'limit': %s'%s' is not a number 1-%d",
                                         seen_limit ? "repeated; " : "", shown, API_LIST_LIMIT_MAX);
                                return -EINVAL;
                        }
                        q.limit = n;
                        seen_limit = true;
                } else if (streq(key, "after")) {
                        if (seen_after || !vm_id_valid(value)) {
                                snprintf(err, API_ERROR_MAX, "query 'after': %s'%s' is not an id",
                                         seen_after ? "repeated; " : "", shown);
                                return -EINVAL;
                        }
                        strcpy(q.after, value);
                        seen_after = true;
                } else if (streq(key, "label")) {
                        if (q.n_match >= API_LIST_SELECTORS_MAX || label_match_parse(value, &q.match[q.n_match]) < 0) {
                                snprintf(err, API_ERROR_MAX,
                                         "query 'label': '%s' is not KEY or KEY=VALUE (key 1-%d of A-Z a-z 0-9 . _ / -, "
                                         "value 0-%d printable characters)",
                                         shown, LABEL_KEY_MAX, LABEL_VALUE_MAX);
                                return -EINVAL;
                        }
                        q.n_match++;
                } else if (allow_bytes && streq(key, "bytes")) {
                        if (seen_bytes || (!streq(value, "1") && !streq(value, "0") && !streq(value, "true") &&
                                           !streq(value, "false"))) {
                                snprintf(err, API_ERROR_MAX, "query 'bytes': '%s' is not 1 or 0", shown);
                                return -EINVAL;
                        }
                        q.bytes = streq(value, "1") || streq(value, "true");
                        seen_bytes = true;
                } else {
                        api_sanitize(key, shown, sizeof shown);
                        snprintf(err, API_ERROR_MAX, "unknown query argument '%s' (allowed: limit, after, label%s)",
                                 shown, allow_bytes ? ", bytes" : "");
                        return -EINVAL;
                }
        }
        *ret = q;
        return 0;
}

int api_if_match_parse(const char *header, int64_t *ret, char err[static API_ERROR_MAX]) {
        if (!header) {
                *ret = API_IF_MATCH_NONE;
                return 0;
        }
        const char *p = header;
        while (*p == ' ' || *p == '\t')
                p++;
        size_t l = strlen(p);
        while (l && (p[l - 1] == ' ' || p[l - 1] == '\t'))
                l--;
        if (l == 1 && p[0] == '*') {
                *ret = API_IF_MATCH_ANY;
                return 0;
        }
        int64_t v = 0;
        bool ok = l >= 3 && l <= 20 && p[0] == '"' && p[l - 1] == '"' && !(p[1] == '0' && l > 3);
        for (size_t i = 1; ok && i + 1 < l; i++) {
                ok = p[i] >= '0' && p[i] <= '9';
                v = v * 10 + (p[i] - '0');
        }
        if (!ok) {
                char shown[48];
                api_sanitize(header, shown, sizeof shown);
                snprintf(err, API_ERROR_MAX,
                         "header If-Match: '%s' is not one entity tag \"VERSION\" (as the ETag header gave it) or *",
                         shown);
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

size_t listen_ports_parse(const char *text, uint16_t *ports, size_t max) {
        size_t n = 0;
        const char *p = text;
        while (*p && n < max) {
                while (*p == ' ' || *p == '\t' || *p == ',')
                        p++;
                size_t l = strcspn(p, " \t,");
                if (l == 0)
                        break;
                char word[IP_ADDR_STRLEN + 16];
                if (l < sizeof word) {
                        memcpy(word, p, l);
                        word[l] = '\0';
                        struct ip_addr a;
                        uint16_t port;
                        if (ip_endpoint_parse(word, &a, &port) == 0)
                                ports[n++] = port;
                }
                p += l;
        }
        return n;
}

bool hostname_is_generated(const char *name, const char *datacenter, const char *domain, char *ret_slug) {
        size_t dl = strlen(datacenter), ml = strlen(domain), nl = strlen(name);
        if (nl != SLUG_LEN + 1 + dl + 1 + ml || name[SLUG_LEN] != '.' || name[SLUG_LEN + 1 + dl] != '.' ||
            memcmp(name + SLUG_LEN + 1, datacenter, dl) != 0 || memcmp(name + SLUG_LEN + 2 + dl, domain, ml) != 0)
                return false;
        for (size_t i = 0; i < SLUG_LEN; i++)
                if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9')))
                        return false;
        if (ret_slug) {
                memcpy(ret_slug, name, SLUG_LEN);
                ret_slug[SLUG_LEN] = '\0';
        }
        return true;
}
