/* SPDX-License-Identifier: MIT */
/*
 * The CLI's pure conversions (convert.h): parsing what people type into API values and
 * formatting API values for people. Nothing here prints, touches the network or the
 * environment; the command code in the other src/cli files does that.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../core/util.h"
#include "convert.h"

enum cli_exit cli_exit_for_status(long status) {
        switch (status) {
        case 400:
        case 413:
        case 422:
                return CLI_EXIT_INVALID;
        case 401:
        case 403:
                return CLI_EXIT_UNAUTHORIZED;
        case 404:
                return CLI_EXIT_NOT_FOUND;
        case 409:
        case 412:
                return CLI_EXIT_CONFLICT;
        default:
                return CLI_EXIT_ERROR; /* 405, 429, 5xx, anything unexpected */
        }
}

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

/* Reads the digits at *p (at least one) into *ret, advancing *p. */
static int digits_parse(const char **p, uint64_t *ret) {
        const char *s = *p;
        uint64_t n = 0;
        if (!is_digit(*s))
                return -EINVAL;
        for (; is_digit(*s); s++) {
                unsigned d = (unsigned)(*s - '0');
                if (n > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                n = n * 10 + d;
        }
        *p = s;
        *ret = n;
        return 0;
}

int cli_number_parse(const char *text, uint64_t min, uint64_t max, uint64_t *ret) {
        const char *p = text;
        uint64_t n;
        int r = digits_parse(&p, &n);
        if (r == -EINVAL || (r == 0 && *p))
                return -EINVAL;
        if (r < 0 || n < min || n > max)
                return -ERANGE;
        *ret = n;
        return 0;
}

int cli_duration_parse(const char *text, int64_t *ret) {
        uint64_t total = 0;
        const char *p = text;

        if (!*p)
                return -EINVAL;
        while (*p) {
                uint64_t n, unit;
                int r = digits_parse(&p, &n);
                if (r < 0)
                        return r;
                switch (*p) {
                case '\0':
                        /* a bare number is seconds, but only on its own: "1h30" is a typo */
                        if (p != text + strspn(text, "0123456789"))
                                return -EINVAL;
                        unit = 1;
                        break;
                case 's':
                        unit = 1;
                        break;
                case 'm':
                        unit = 60;
                        break;
                case 'h':
                        unit = 3600;
                        break;
                case 'd':
                        unit = 86400;
                        break;
                default:
                        return -EINVAL;
                }
                if (*p)
                        p++;
                if (n > (uint64_t)INT64_MAX / unit || total > (uint64_t)INT64_MAX - n * unit)
                        return -ERANGE;
                total += n * unit;
        }
        *ret = (int64_t)total;
        return 0;
}

int cli_label_split(const char *text, size_t *ret_key_len, const char **ret_value) {
        const char *eq = strchr(text, '=');
        size_t key_len = eq ? (size_t)(eq - text) : strlen(text);
        if (key_len == 0)
                return -EINVAL;
        *ret_key_len = key_len;
        *ret_value = eq ? eq + 1 : NULL;
        return 0;
}

int cli_labels_build(const char *const *items, size_t n, json_t **ret, const char **ret_bad) {
        _cleanup_(json_decrefp) json_t *labels = json_object();
        if (!labels)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                size_t key_len;
                const char *value;
                *ret_bad = items[i];
                if (cli_label_split(items[i], &key_len, &value) < 0 || !value)
                        return -EINVAL;
                _cleanup_free_ char *key = strndup(items[i], key_len);
                if (!key)
                        return -ENOMEM;
                if (json_object_get(labels, key))
                        return -EEXIST;
                /* jansson refuses text that is not UTF-8 (and, rarely, fails to allocate) */
                if (json_object_set_new(labels, key, json_string(value)) < 0)
                        return -EILSEQ;
        }
        *ret_bad = NULL;
        *ret = TAKE_PTR(labels);
        return 0;
}

static bool is_blank(char c) {
        return c == ' ' || c == '\t';
}

int cli_list_append(const char *text, json_t *array) {
        for (const char *p = text;;) {
                size_t n = strcspn(p, ",");
                const char *item = p, *end = p + n;
                while (item < end && is_blank(*item))
                        item++;
                while (end > item && is_blank(end[-1]))
                        end--;
                if (item == end)
                        return -EINVAL;
                json_t *s = json_stringn(item, (size_t)(end - item));
                if (!s)
                        return -EILSEQ;
                if (json_array_append_new(array, s) < 0)
                        return -ENOMEM;
                if (!p[n])
                        return 0;
                p += n + 1;
        }
}

int cli_target_parse(const char *text, char *ip, size_t ip_size, uint16_t *ret_port) {
        const char *addr = text, *port_text = NULL;
        size_t addr_len;

        if (text[0] == '[') {
                const char *close = strchr(text, ']');
                if (!close)
                        return -EINVAL;
                addr = text + 1;
                addr_len = (size_t)(close - addr);
                if (close[1] == ':')
                        port_text = close + 2;
                else if (close[1])
                        return -EINVAL;
        } else {
                const char *colon = strchr(text, ':');
                if (colon && !strchr(colon + 1, ':')) {
                        addr_len = (size_t)(colon - text);
                        port_text = colon + 1;
                } else
                        addr_len = strlen(text); /* no port, or a bare IPv6 address */
        }
        if (addr_len == 0)
                return -EINVAL;
        if (addr_len >= ip_size)
                return -ENAMETOOLONG;

        uint64_t port = 0;
        if (port_text && cli_number_parse(port_text, 1, 65535, &port) < 0)
                return -EINVAL;
        memcpy(ip, addr, addr_len);
        ip[addr_len] = '\0';
        *ret_port = (uint16_t)port;
        return 0;
}

int cli_url_check(const char *url) {
        size_t scheme;
        if (strncasecmp(url, "http://", 7) == 0)
                scheme = 7;
        else if (strncasecmp(url, "https://", 8) == 0)
                scheme = 8;
        else
                return -EINVAL;
        for (const char *p = url; *p; p++)
                if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '?' || *p == '#')
                        return -EINVAL;
        if (url[scheme] == '\0' || url[scheme] == '/')
                return -EINVAL; /* no host */
        size_t len = strlen(url);
        while (len > scheme && url[len - 1] == '/')
                len--;
        return (int)len;
}

void cli_percent_encode(const char *s, struct strbuf *out) {
        static const char hex[] = "0123456789ABCDEF";
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || is_digit((char)*p) || *p == '-' ||
                    *p == '.' || *p == '_' || *p == '~') {
                        strbuf_appendn(out, (const char *)p, 1);
                        continue;
                }
                char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
                strbuf_appendn(out, esc, sizeof esc);
        }
}

void cli_query_append(struct strbuf *path, const char *key, const char *value) {
        const char *s = strbuf_str(path);
        strbuf_append(path, s && strchr(s, '?') ? "&" : "?");
        cli_percent_encode(key, path);
        strbuf_append(path, "=");
        cli_percent_encode(value, path);
}

int cli_query_label(struct strbuf *path, const char *selector) {
        size_t key_len;
        const char *value;
        if (cli_label_split(selector, &key_len, &value) < 0)
                return -EINVAL;
        _cleanup_free_ char *key = strndup(selector, key_len);
        if (!key)
                return -ENOMEM;
        cli_query_append(path, "label", key);
        if (value) {
                strbuf_append(path, "=");
                cli_percent_encode(value, path);
        }
        return 0;
}

int cli_labels_format(const json_t *labels, const char *sep, struct strbuf *out) {
        const char *key;
        json_t *value;
        if (!json_is_object(labels))
                return -EINVAL;
        json_object_foreach((json_t *)labels, key, value)
                if (!json_is_string(value))
                        return -EINVAL;
        bool first = true;
        json_object_foreach((json_t *)labels, key, value) {
                strbuf_printf(out, "%s%s=%s", first ? "" : sep, key, json_string_value(value));
                first = false;
        }
        return 0;
}

void cli_target_format(const char *ip, long port, char *out, size_t out_size) {
        bool v6 = strchr(ip, ':') != NULL;
        if (port <= 0)
                snprintf(out, out_size, "%s", ip);
        else
                snprintf(out, out_size, "%s%s%s:%ld", v6 ? "[" : "", ip, v6 ? "]" : "", port);
}

void cli_bytes_format(uint64_t n, char *out, size_t out_size) {
        static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        if (n < 1024) {
                snprintf(out, out_size, "%" PRIu64 " B", n);
                return;
        }
        double v = (double)n;
        size_t u = 0;
        for (v /= 1024; v >= 1024 && u + 1 < ELEMENTSOF(units); u++)
                v /= 1024;
        snprintf(out, out_size, "%.1f %s", v, units[u]);
}

void cli_span_format(int64_t seconds, char *out, size_t out_size) {
        static const struct {
                int64_t size;
                char name;
        } units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
        if (seconds < 0)
                seconds = 0;
        for (size_t i = 0; i < ELEMENTSOF(units); i++) {
                if (seconds < units[i].size && units[i].size > 1)
                        continue;
                int64_t big = seconds / units[i].size;
                if (i + 1 == ELEMENTSOF(units)) {
                        snprintf(out, out_size, "%" PRId64 "s", big);
                        return;
                }
                int64_t small = seconds % units[i].size / units[i + 1].size;
                if (small)
                        snprintf(out, out_size, "%" PRId64 "%c %" PRId64 "%c", big, units[i].name, small,
                                 units[i + 1].name);
                else
                        snprintf(out, out_size, "%" PRId64 "%c", big, units[i].name);
                return;
        }
}

/* Exactly n digits at *p, advancing it. */
static bool fixed_digits(const char **p, int n, int *ret) {
        int v = 0;
        for (int i = 0; i < n; i++) {
                if (!is_digit((*p)[i]))
                        return false;
                v = v * 10 + ((*p)[i] - '0');
        }
        *p += n;
        *ret = v;
        return true;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d) {
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        int64_t yoe = y - era * 400;
        int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

int cli_time_parse(const char *text, int64_t *ret) {
        static const int month_days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        const char *p = text;
        int y, mo, d, h, mi, s;
        if (!fixed_digits(&p, 4, &y) || *p++ != '-' || !fixed_digits(&p, 2, &mo) || *p++ != '-' ||
            !fixed_digits(&p, 2, &d) || (*p != 'T' && *p != 't'))
                return -EINVAL;
        p++;
        if (!fixed_digits(&p, 2, &h) || *p++ != ':' || !fixed_digits(&p, 2, &mi) || *p++ != ':' ||
            !fixed_digits(&p, 2, &s))
                return -EINVAL;
        if (*p == '.') {
                p++;
                if (!is_digit(*p))
                        return -EINVAL;
                while (is_digit(*p))
                        p++;
        }
        if ((*p != 'Z' && *p != 'z') || p[1])
                return -EINVAL;
        if (mo < 1 || mo > 12 || d < 1 || d > month_days[mo - 1] || h > 23 || mi > 59 || s > 60)
                return -EINVAL;
        *ret = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
        return 0;
}

void cli_time_short(const char *text, int64_t now, char *out, size_t out_size) {
        int64_t t;
        const char *clock = strchr(text, 'T');
        if (cli_time_parse(text, &t) == 0 && t - now < 86400 && now - t < 86400 && clock)
                snprintf(out, out_size, "%s", clock + 1);
        else
                snprintf(out, out_size, "%s", text);
}

/* A string member, or NULL when absent, null or not a string. */
static const char *json_member_string(const json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key));
}

int cli_dns_state_format(const json_t *record, int64_t now, struct strbuf *out) {
        const char *state = json_member_string(record, "state");
        const char *error = json_member_string(record, "last_error");
        const char *retry = json_member_string(record, "next_retry_at");
        if (!state)
                return -EINVAL;
        strbuf_append(out, state);
        if (!error && !retry)
                return 0;
        strbuf_append(out, " (");
        if (error)
                strbuf_append(out, error);
        if (retry) {
                char when[48];
                cli_time_short(retry, now, when, sizeof when);
                strbuf_printf(out, "%snext try %s", error ? "; " : "", when);
        }
        strbuf_append(out, ")");
        return 0;
}

int cli_dns_record_format(const json_t *record, int64_t now, struct strbuf *out) {
        const char *name = json_member_string(record, "name"), *type = json_member_string(record, "type");
        const char *content = json_member_string(record, "content");
        if (!name || !type || !content || !json_member_string(record, "state"))
                return -EINVAL;
        strbuf_printf(out, "%s %s %s ", name, type, content);
        return cli_dns_state_format(record, now, out);
}

int cli_dns_status_format(const json_t *dns, struct strbuf *out) {
        static const char *const states[] = {"pending", "synced", "error", "deleting"};
        const json_t *enabled = json_object_get(dns, "enabled");
        if (!json_is_boolean(enabled))
                return -EINVAL;
        if (json_is_false(enabled)) {
                strbuf_append(out, "not configured");
                return 0;
        }
        const char *provider = json_member_string(dns, "provider");
        const char *error = json_member_string(dns, "last_error");
        const json_t *records = json_object_get(dns, "records");
        strbuf_append(out, provider ? provider : "(provider unknown)");
        bool any = false;
        for (size_t i = 0; i < ELEMENTSOF(states); i++) {
                const json_t *n = json_object_get(records, states[i]);
                if (!json_is_integer(n) || json_integer_value(n) <= 0)
                        continue;
                strbuf_printf(out, ", %" JSON_INTEGER_FORMAT " %s", json_integer_value(n), states[i]);
                any = true;
        }
        if (!any)
                strbuf_append(out, ", no records");
        if (error)
                strbuf_printf(out, " (last: %s)", error);
        return 0;
}

void cli_table_render(const char *const *cells, size_t n_rows, size_t n_cols, struct strbuf *out) {
        size_t width[CLI_TABLE_COLS_MAX] = {};
        if (n_cols == 0 || n_cols > CLI_TABLE_COLS_MAX)
                return;
        for (size_t r = 0; r < n_rows; r++)
                for (size_t c = 0; c < n_cols; c++) {
                        size_t l = strlen(cells[r * n_cols + c]);
                        if (l > width[c])
                                width[c] = l;
                }
        for (size_t r = 0; r < n_rows; r++) {
                for (size_t c = 0; c + 1 < n_cols; c++) {
                        const char *cell = cells[r * n_cols + c];
                        strbuf_printf(out, "%s%*s  ", cell, (int)(width[c] - strlen(cell)), "");
                }
                strbuf_printf(out, "%s\n", cells[r * n_cols + n_cols - 1]);
        }
}
