/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the ClientHello parser: arbitrary bytes to sni_parse(). Asserts what
 * the proxy relies on: a name is only ever returned valid and normalised (lower case, no
 * empty label, no trailing dot, 1..255 bytes of [a-z0-9._-]); *out is untouched unless
 * SNI_OK; verdicts are final (every prefix of the input needs more or gets the same verdict
 * and name, which is what lets the proxy decide on partial input); and a smaller max_hello
 * can only turn a verdict into SNI_TOO_LARGE. Prefixes are parsed from exact-size copies so
 * the sanitizer sees any read past len.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/tls_sni.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HELLO 16384

/* Always on, whatever NDEBUG says: a broken invariant is a crash libFuzzer reports. */
#define CHECK(x)                                                                                    \
        do {                                                                                        \
                if (!(x)) {                                                                         \
                        fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #x);  \
                        abort();                                                                    \
                }                                                                                   \
        } while (0)

static void check_name(const struct sni_result *r) {
        CHECK(r->name_len >= 1 && r->name_len <= SNI_NAME_MAX);
        CHECK(strlen(r->name) == r->name_len);
        for (size_t i = 0; i < r->name_len; i++) {
                char c = r->name[i];
                CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.');
                if (c == '.')
                        CHECK(i > 0 && i + 1 < r->name_len && r->name[i - 1] != '.');
        }
        /* Normalising a normalised name changes nothing. */
        char again[SNI_NAME_MAX + 1];
        CHECK(sni_name_normalize((const uint8_t *)r->name, r->name_len, again) == r->name_len);
        CHECK(memcmp(again, r->name, r->name_len + 1) == 0);
}

/* sni_parse on an exact-size copy of data[0..n). */
static enum sni_status parse_copy(const uint8_t *data, size_t n, size_t max_hello, struct sni_result *out) {
        uint8_t *copy = malloc(n ? n : 1);
        CHECK(copy);
        if (n)
                memcpy(copy, data, n);
        struct sni_result r, before;
        memset(&r, 0x5a, sizeof r);
        before = r;
        enum sni_status s = sni_parse(copy, n, max_hello, &r);
        free(copy);
        CHECK(s >= SNI_OK && s <= SNI_TOO_LARGE);
        if (s == SNI_OK)
                check_name(&r);
        else
                CHECK(memcmp(&r, &before, sizeof r) == 0);
        *out = r;
        return s;
}

static void check_prefix(const uint8_t *data, size_t k, enum sni_status full, const struct sni_result *full_r) {
        struct sni_result r;
        enum sni_status s = parse_copy(data, k, MAX_HELLO, &r);
        CHECK(s == SNI_NEED_MORE || s == full);
        if (s == SNI_OK)
                CHECK(strcmp(r.name, full_r->name) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct sni_result full_r;
        enum sni_status full = parse_copy(data, size, MAX_HELLO, &full_r);

        /* Every prefix for small inputs; for larger ones the first bytes (record and
         * handshake headers), about 128 spread over the rest, and the last few. */
        if (size <= 512) {
                for (size_t k = 0; k < size; k++)
                        check_prefix(data, k, full, &full_r);
        } else {
                size_t stride = size / 128 + 1;
                for (size_t k = 0; k < 64; k++)
                        check_prefix(data, k, full, &full_r);
                for (size_t k = 64; k < size; k += stride)
                        check_prefix(data, k, full, &full_r);
                for (size_t k = size - 16; k < size; k++)
                        check_prefix(data, k, full, &full_r);
        }

        /* A lower limit only ever adds TOO_LARGE. The limit comes from the input so that the
         * boundary around the hello's own size gets explored. */
        size_t small = size >= 2 ? ((size_t)data[size - 2] << 8 | data[size - 1]) % (MAX_HELLO + 1) : 0;
        struct sni_result r;
        enum sni_status s = parse_copy(data, size, small, &r);
        CHECK(s == full || s == SNI_TOO_LARGE);
        if (s == SNI_OK)
                CHECK(strcmp(r.name, full_r.name) == 0);
        return 0;
}
