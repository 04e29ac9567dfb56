/* SPDX-License-Identifier: MIT */
/*
 * HTTP/1.x request-head parsing for the :80 proxy, and the proxy's own responses. The head
 * is read front to back once; each byte is checked when it is reached, so a bad request is
 * refused as soon as its first bad byte arrives.
 */
#include "http_head.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "../core/util.h"

/* The longest IPv6 text inet_pton accepts: 8 groups with an embedded IPv4 tail. */
#define IPV6_TEXT_MAX 45
#define PORT_DIGITS_MAX 5

struct head_cursor {
        const uint8_t *buf;
        size_t end; /* bytes that may be looked at: min(len, max_head) */
        size_t pos;
        bool at_limit; /* end is max_head: running out means too large, not "wait" */
};

/* Running out of bytes: wait for more, unless max_head bytes are already there. */
static enum http_head_status cursor_out(const struct head_cursor *c) {
        return c->at_limit ? HTTP_HEAD_TOO_LARGE : HTTP_HEAD_NEED_MORE;
}

static bool is_tchar(uint8_t c) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
                return true;
        return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_hex(uint8_t c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static uint8_t lower(uint8_t c) {
        return c >= 'A' && c <= 'Z' ? (uint8_t)(c - 'A' + 'a') : c;
}

static bool equal_nocase(const uint8_t *a, size_t n, const char *b) {
        if (strlen(b) != n)
                return false;
        for (size_t i = 0; i < n; i++)
                if (lower(a[i]) != (uint8_t)b[i])
                        return false;
        return true;
}

/* ":port" or nothing: RFC 3986 allows an empty port; digits must fit 16 bits. */
static bool port_valid(const uint8_t *p, size_t n) {
        if (n == 0)
                return true;
        if (p[0] != ':' || n - 1 > PORT_DIGITS_MAX)
                return false;
        unsigned v = 0;
        for (size_t i = 1; i < n; i++) {
                if (p[i] < '0' || p[i] > '9')
                        return false;
                v = v * 10 + (unsigned)(p[i] - '0');
        }
        return v <= 65535;
}

/* host [":" port], host a name or a bracketed IPv6 literal. Writes the host (lower case,
 * no port) to out and returns its length; 0 if the authority is not acceptable. */
static size_t authority_parse(const uint8_t *v, size_t n, char out[static HTTP_HOST_MAX + 1]) {
        if (n == 0)
                return 0;
        if (v[0] == '[') {
                const uint8_t *close = memchr(v, ']', n);
                if (!close)
                        return 0;
                size_t inner = (size_t)(close - v) - 1;
                if (inner == 0 || inner > IPV6_TEXT_MAX || !port_valid(close + 1, n - inner - 2))
                        return 0;
                char text[IPV6_TEXT_MAX + 1];
                for (size_t i = 0; i < inner; i++) {
                        uint8_t c = v[1 + i];
                        if (!is_hex(c) && c != ':' && c != '.')
                                return 0;
                        text[i] = (char)lower(c);
                }
                text[inner] = '\0';
                struct in6_addr a;
                if (inet_pton(AF_INET6, text, &a) != 1)
                        return 0;
                out[0] = '[';
                memcpy(out + 1, text, inner);
                out[inner + 1] = ']';
                out[inner + 2] = '\0';
                return inner + 2;
        }
        const uint8_t *colon = memchr(v, ':', n);
        size_t name_len = colon ? (size_t)(colon - v) : n;
        if (!port_valid(v + name_len, n - name_len))
                return 0;
        return sni_name_normalize(v, name_len, out);
}

/* Checks the request target; for absolute-form, takes the host out of it and leaves
 * the path (*path, *path_len) at what follows the authority. */
static bool target_parse(const uint8_t *t, size_t n, const uint8_t *method, size_t method_len, const uint8_t **path,
                         size_t *path_len, char host[static HTTP_HOST_MAX + 1], size_t *host_len) {
        *path = t;
        *path_len = n;
        *host_len = 0;
        if (n == 1 && t[0] == '*')
                return method_len == 7 && memcmp(method, "OPTIONS", 7) == 0;
        if (t[0] == '/')
                return true;
        size_t scheme;
        if (n >= 7 && equal_nocase(t, 7, "http://"))
                scheme = 7;
        else if (n >= 8 && equal_nocase(t, 8, "https://"))
                scheme = 8;
        else
                return false;
        size_t end = scheme;
        while (end < n && t[end] != '/' && t[end] != '?' && t[end] != '#')
                end++;
        /* userinfo ("http://user@host/") is deprecated and a classic way to confuse
         * whoever reads the host next (RFC 9110 §4.2.4). */
        if (memchr(t + scheme, '@', end - scheme))
                return false;
        *host_len = authority_parse(t + scheme, end - scheme, host);
        if (*host_len == 0)
                return false;
        *path = t + end;
        *path_len = n - end;
        return true;
}

/* Expects the bytes of lit at the cursor. */
static enum http_head_status expect(struct head_cursor *c, const char *lit) {
        for (; *lit; lit++) {
                if (c->pos == c->end)
                        return cursor_out(c);
                if (c->buf[c->pos] != (uint8_t)*lit)
                        return HTTP_HEAD_BAD;
                c->pos++;
        }
        return HTTP_HEAD_OK;
}

enum http_head_status http_head_parse(const uint8_t *buf, size_t len, size_t max_head, struct http_head *out) {
        struct head_cursor c = {.buf = buf, .end = len < max_head ? len : max_head, .at_limit = len >= max_head};
        enum http_head_status st;

        /* Request line. */
        while (c.pos < c.end && is_tchar(buf[c.pos]))
                c.pos++;
        if (c.pos == c.end)
                return cursor_out(&c);
        if (c.pos == 0 || buf[c.pos] != ' ')
                return HTTP_HEAD_BAD;
        const uint8_t *method = buf;
        size_t method_len = c.pos++;

        size_t target_start = c.pos;
        while (c.pos < c.end && buf[c.pos] > ' ' && buf[c.pos] < 0x7f)
                c.pos++;
        if (c.pos == c.end)
                return cursor_out(&c);
        if (c.pos == target_start || buf[c.pos] != ' ')
                return HTTP_HEAD_BAD;
        const uint8_t *target = buf + target_start;
        size_t target_len = c.pos++ - target_start;

        if ((st = expect(&c, "HTTP/1.")) != HTTP_HEAD_OK)
                return st;
        if (c.pos == c.end)
                return cursor_out(&c);
        if (buf[c.pos] < '0' || buf[c.pos] > '9')
                return HTTP_HEAD_BAD;
        int version_minor = buf[c.pos++] - '0';
        if ((st = expect(&c, "\r\n")) != HTTP_HEAD_OK)
                return st;

        const uint8_t *path;
        size_t path_len, target_host_len;
        char target_host[HTTP_HOST_MAX + 1];
        if (!target_parse(target, target_len, method, method_len, &path, &path_len, target_host, &target_host_len))
                return HTTP_HEAD_BAD;

        /* Header lines, up to the blank line. */
        bool host_seen = false;
        size_t host_len = 0;
        char host[HTTP_HOST_MAX + 1];
        for (;;) {
                if (c.pos == c.end)
                        return cursor_out(&c);
                if (buf[c.pos] == '\r') {
                        c.pos++;
                        if ((st = expect(&c, "\n")) != HTTP_HEAD_OK)
                                return st;
                        break;
                }
                /* A line starting with SP/HT is obs-fold (RFC 9112 §5.2); it, a bare LF, an
                 * empty name and whitespace before the colon all stop the name here. */
                size_t name_start = c.pos;
                while (c.pos < c.end && is_tchar(buf[c.pos]))
                        c.pos++;
                if (c.pos == c.end)
                        return cursor_out(&c);
                if (c.pos == name_start || buf[c.pos] != ':')
                        return HTTP_HEAD_BAD;
                const uint8_t *name = buf + name_start;
                size_t name_len = c.pos++ - name_start;

                while (c.pos < c.end && (buf[c.pos] == ' ' || buf[c.pos] == '\t'))
                        c.pos++;
                size_t value_start = c.pos;
                for (; c.pos < c.end && buf[c.pos] != '\r'; c.pos++) {
                        uint8_t b = buf[c.pos];
                        if (b != '\t' && (b < ' ' || b == 0x7f))
                                return HTTP_HEAD_BAD;
                }
                if (c.pos == c.end)
                        return cursor_out(&c);
                size_t value_end = c.pos;
                while (value_end > value_start && (buf[value_end - 1] == ' ' || buf[value_end - 1] == '\t'))
                        value_end--;
                c.pos++;
                if ((st = expect(&c, "\n")) != HTTP_HEAD_OK)
                        return st;

                if (!equal_nocase(name, name_len, "host"))
                        continue;
                /* Two Hosts: the proxy and the VM might each believe a different one. */
                if (host_seen)
                        return HTTP_HEAD_BAD;
                host_seen = true;
                if (value_end == value_start) {
                        /* HTTP/1.1 requires a value (RFC 9110 §7.2); 1.0 may have none. */
                        if (version_minor >= 1)
                                return HTTP_HEAD_BAD;
                        continue;
                }
                host_len = authority_parse(buf + value_start, value_end - value_start, host);
                if (host_len == 0)
                        return HTTP_HEAD_BAD;
        }

        struct http_head h = {
                .head_len = c.pos,
                .method = (const char *)method,
                .method_len = method_len,
                .target = (const char *)path,
                .target_len = path_len,
                .version_minor = version_minor,
        };
        enum http_head_status result = HTTP_HEAD_OK;
        if (version_minor >= 1 && !host_seen)
                result = HTTP_HEAD_NO_HOST;
        else if (target_host_len > 0) {
                memcpy(h.host, target_host, target_host_len + 1);
                h.host_len = target_host_len;
        } else if (host_len > 0) {
                memcpy(h.host, host, host_len + 1);
                h.host_len = host_len;
        } else
                result = HTTP_HEAD_NO_HOST;
        *out = h;
        return result;
}

const char *http_head_status_to_string(enum http_head_status s) {
        switch (s) {
        case HTTP_HEAD_OK:
                return "ok";
        case HTTP_HEAD_NEED_MORE:
                return "need-more";
        case HTTP_HEAD_BAD:
                return "bad";
        case HTTP_HEAD_TOO_LARGE:
                return "too-large";
        case HTTP_HEAD_NO_HOST:
                return "no-host";
        }
        return "unknown";
}

/* snprintf that writes nothing at all unless the whole text and its NUL fit. */
_printf_(3, 4) static int format_whole(char *out, size_t n, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int r = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (r < 0 || (size_t)r >= n)
                return -ENOSPC;
        va_start(ap, fmt);
        r = vsnprintf(out, n, fmt, ap);
        va_end(ap);
        return r;
}

int http_redirect_build(const struct http_head *h, char *out, size_t n) {
        if (h->host_len == 0)
                return -EINVAL;
        const char *path = h->target, *slash = "";
        size_t path_len = h->target_len;
        if (path_len == 1 && path[0] == '*')
                path_len = 0;
        if (path_len == 0 || path[0] != '/')
                slash = "/";
        return format_whole(out, n,
                            "HTTP/1.1 301 Moved Permanently\r\n"
                            "Location: https://%s%s%.*s\r\n"
                            "Content-Length: 0\r\n"
                            "Connection: close\r\n"
                            "\r\n",
                            h->host, slash, (int)path_len, path);
}

static const char *reason_phrase(unsigned status) {
        switch (status) {
        case 400:
                return "Bad Request";
        case 403:
                return "Forbidden";
        case 404:
                return "Not Found";
        case 408:
                return "Request Timeout";
        case 414:
                return "URI Too Long";
        case 421:
                return "Misdirected Request";
        case 431:
                return "Request Header Fields Too Large";
        case 502:
                return "Bad Gateway";
        case 503:
                return "Service Unavailable";
        case 504:
                return "Gateway Timeout";
        }
        return NULL;
}

int http_error_build(unsigned status, char *out, size_t n) {
        const char *reason = reason_phrase(status);
        if (!reason)
                return -EINVAL;
        return format_whole(out, n,
                            "HTTP/1.1 %u %s\r\n"
                            "Content-Type: text/plain\r\n"
                            "Content-Length: %zu\r\n"
                            "Connection: close\r\n"
                            "\r\n"
                            "%s\n",
                            status, reason, strlen(reason) + 1, reason);
}
