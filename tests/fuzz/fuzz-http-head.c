/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the HTTP request-head parser: arbitrary bytes to http_head_parse().
 * Asserts what the :80 proxy relies on: an accepted head ends in CRLF CRLF within len and
 * max_head, its method/target point inside it, its host is valid, lower case and without a
 * port; the 301 built from it has exactly the five CRLFs of its own framing (nothing from the
 * request can inject a header); *out is untouched on BAD/TOO_LARGE/NEED_MORE; verdicts are
 * final over prefixes; a smaller max_head only adds TOO_LARGE.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/http_head.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HEAD 8192

/* Always on, whatever NDEBUG says: a broken invariant is a crash libFuzzer reports. */
#define CHECK(x)                                                                                    \
        do {                                                                                        \
                if (!(x)) {                                                                         \
                        fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #x);  \
                        abort();                                                                    \
                }                                                                                   \
        } while (0)

static void check_host(const struct http_head *h) {
        CHECK(h->host_len >= 1 && h->host_len <= HTTP_HOST_MAX);
        CHECK(strlen(h->host) == h->host_len);
        if (h->host[0] == '[') {
                CHECK(h->host[h->host_len - 1] == ']' && h->host_len <= 47);
                char inner[48];
                memcpy(inner, h->host + 1, h->host_len - 2);
                inner[h->host_len - 2] = '\0';
                struct in6_addr a;
                CHECK(inet_pton(AF_INET6, inner, &a) == 1);
                for (size_t i = 0; i < h->host_len; i++)
                        CHECK(!(h->host[i] >= 'A' && h->host[i] <= 'Z'));
                return;
        }
        char again[SNI_NAME_MAX + 1];
        CHECK(sni_name_normalize((const uint8_t *)h->host, h->host_len, again) == h->host_len);
        CHECK(memcmp(again, h->host, h->host_len + 1) == 0);
}

static void check_head(const uint8_t *buf, size_t size, size_t max_head, enum http_head_status s,
                       const struct http_head *h) {
        const char *b = (const char *)buf;
        CHECK(h->head_len <= size && h->head_len <= max_head && h->head_len >= 4);
        CHECK(memcmp(buf + h->head_len - 4, "\r\n\r\n", 4) == 0);
        CHECK(h->method == b && h->method_len >= 1);
        CHECK(h->target >= b && h->target + h->target_len <= b + h->head_len);
        CHECK(h->version_minor >= 0 && h->version_minor <= 9);
        for (size_t i = 0; i < h->target_len; i++)
                CHECK(h->target[i] > ' ' && h->target[i] < 0x7f);
        if (s == HTTP_HEAD_NO_HOST) {
                CHECK(h->host_len == 0 && h->host[0] == '\0');
                return;
        }
        check_host(h);

        char out[HTTP_HOST_MAX + MAX_HEAD + 256];
        int n = http_redirect_build(h, out, sizeof out);
        CHECK(n > 0 && (size_t)n == strlen(out));
        size_t cr = 0, lf = 0;
        for (int i = 0; i < n; i++) {
                cr += out[i] == '\r';
                lf += out[i] == '\n';
        }
        CHECK(cr == 5 && lf == 5);
        CHECK(strncmp(out, "HTTP/1.1 301 Moved Permanently\r\nLocation: https://", 50) == 0);
}

/* http_head_parse on an exact-size copy of data[0..n); pointers rebased onto data. */
static enum http_head_status parse_copy(const uint8_t *data, size_t n, size_t max_head, struct http_head *out) {
        uint8_t *copy = malloc(n ? n : 1);
        CHECK(copy);
        if (n)
                memcpy(copy, data, n);
        struct http_head h, before;
        memset(&h, 0x5a, sizeof h);
        before = h;
        enum http_head_status s = http_head_parse(copy, n, max_head, &h);
        CHECK(s >= HTTP_HEAD_OK && s <= HTTP_HEAD_NO_HOST);
        if (s == HTTP_HEAD_OK || s == HTTP_HEAD_NO_HOST) {
                check_head(copy, n, max_head, s, &h);
                h.method = (const char *)data + (h.method - (const char *)copy);
                h.target = (const char *)data + (h.target - (const char *)copy);
        } else
                CHECK(memcmp(&h, &before, sizeof h) == 0);
        free(copy);
        *out = h;
        return s;
}

static void check_same(const struct http_head *a, const struct http_head *b) {
        CHECK(a->head_len == b->head_len && a->method == b->method && a->method_len == b->method_len);
        CHECK(a->target == b->target && a->target_len == b->target_len);
        CHECK(a->version_minor == b->version_minor && a->host_len == b->host_len);
        CHECK(strcmp(a->host, b->host) == 0);
}

static void check_prefix(const uint8_t *data, size_t k, enum http_head_status full, const struct http_head *full_h) {
        struct http_head h;
        enum http_head_status s = parse_copy(data, k, MAX_HEAD, &h);
        CHECK(s == HTTP_HEAD_NEED_MORE || s == full);
        if (s == HTTP_HEAD_OK || s == HTTP_HEAD_NO_HOST)
                check_same(&h, full_h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct http_head full_h;
        enum http_head_status full = parse_copy(data, size, MAX_HEAD, &full_h);

        if (size <= 512) {
                for (size_t k = 0; k < size; k++)
                        check_prefix(data, k, full, &full_h);
        } else {
                size_t stride = size / 128 + 1;
                for (size_t k = 0; k < size; k += stride)
                        check_prefix(data, k, full, &full_h);
                for (size_t k = size - 16; k < size; k++)
                        check_prefix(data, k, full, &full_h);
        }
        /* The head alone is enough, and anything after it is ignored. */
        if (full == HTTP_HEAD_OK || full == HTTP_HEAD_NO_HOST)
                check_prefix(data, full_h.head_len, full, &full_h);

        size_t small = size >= 2 ? ((size_t)data[size - 2] << 8 | data[size - 1]) % (MAX_HEAD + 1) : 0;
        struct http_head h;
        enum http_head_status s = parse_copy(data, size, small, &h);
        CHECK(s == full || s == HTTP_HEAD_TOO_LARGE);
        if (s == HTTP_HEAD_OK || s == HTTP_HEAD_NO_HOST)
                check_same(&h, &full_h);

        char err[256];
        CHECK(http_error_build(400, err, sizeof err) > 0);
        return 0;
}
