/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the ClientHello parser. Hellos are assembled here from their parts (record
 * framing, handshake header, fields, extensions) so each case says what it changes; real
 * hellos captured from `openssl s_client` and curl on loopback are in tests/unit/data/.
 * Covered: a minimal hello, a ~1.9 KB post-quantum-sized hello, handshake fragmentation over
 * several records at every split point, byte-by-byte arrival, name validation and
 * normalisation, malformed lengths, size limits, non-TLS and SSLv2 starts, and the alert.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "proxy/tls_sni.h"

#define MAX_HELLO 16384

/* ---- a byte builder ---- */

struct bytes {
        uint8_t b[40000];
        size_t n;
};

static void put(struct bytes *o, const void *data, size_t n) {
        assert_true(o->n + n <= sizeof o->b);
        memcpy(o->b + o->n, data, n);
        o->n += n;
}
static void put_fill(struct bytes *o, uint8_t v, size_t n) {
        assert_true(o->n + n <= sizeof o->b);
        memset(o->b + o->n, v, n);
        o->n += n;
}
static void put_u8(struct bytes *o, size_t v) {
        uint8_t b[1] = {(uint8_t)v};
        put(o, b, 1);
}
static void put_u16(struct bytes *o, size_t v) {
        uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
        put(o, b, 2);
}
static void put_u24(struct bytes *o, size_t v) {
        uint8_t b[3] = {(uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
        put(o, b, 3);
}

/* ---- hello parts ---- */

/* A server_name extension with one host_name entry of len bytes. */
static void ext_server_name_raw(struct bytes *e, const void *name, size_t len) {
        put_u16(e, 0);
        put_u16(e, len + 5);
        put_u16(e, len + 3);
        put_u8(e, 0);
        put_u16(e, len);
        put(e, name, len);
}
static void ext_server_name(struct bytes *e, const char *name) {
        ext_server_name_raw(e, name, strlen(name));
}
/* An extension of the given type whose body is len bytes of fill. */
static void ext_opaque(struct bytes *e, size_t type, size_t len, uint8_t fill) {
        put_u16(e, type);
        put_u16(e, len);
        put_fill(e, fill, len);
}
/* key_share (51) with an X25519MLKEM768 share (0x11ec, 1184 + 32 = 1216 bytes) and an
 * x25519 share (0x001d, 32 bytes), as current browsers send. */
static void ext_key_share_pq(struct bytes *e) {
        size_t shares = 4 + 1216 + 4 + 32;
        put_u16(e, 51);
        put_u16(e, shares + 2);
        put_u16(e, shares);
        put_u16(e, 0x11ec);
        put_u16(e, 1216);
        put_fill(e, 0x5c, 1216);
        put_u16(e, 0x001d);
        put_u16(e, 32);
        put_fill(e, 0x1d, 32);
}

/* The ClientHello handshake message (header included). ext == NULL: no extensions block
 * at all, as in a TLS 1.0-era hello. */
static void client_hello(struct bytes *hs, const struct bytes *ext) {
        static struct bytes body;
        body.n = 0;
        put_u16(&body, 0x0303);
        put_fill(&body, 0xaa, 32); /* random */
        put_u8(&body, 32);
        put_fill(&body, 0x33, 32); /* legacy_session_id */
        put_u16(&body, 6);
        put_u16(&body, 0x1301);
        put_u16(&body, 0x1302);
        put_u16(&body, 0xc02f);
        put_u8(&body, 1);
        put_u8(&body, 0); /* null compression */
        if (ext) {
                put_u16(&body, ext->n);
                put(&body, ext->b, ext->n);
        }
        hs->n = 0;
        put_u8(hs, 1);
        put_u24(hs, body.n);
        put(hs, body.b, body.n);
}

/* Frames the handshake bytes as TLS records, cutting a new record at each offset of cuts
 * (strictly increasing, inside the message). */
static void records(struct bytes *out, const struct bytes *hs, const size_t *cuts, size_t ncuts) {
        out->n = 0;
        size_t from = 0;
        for (size_t i = 0; i <= ncuts; i++) {
                size_t to = i < ncuts ? cuts[i] : hs->n;
                assert_true(to > from);
                put_u8(out, 22);
                put_u16(out, 0x0301);
                put_u16(out, to - from);
                put(out, hs->b + from, to - from);
                from = to;
        }
}
static void one_record(struct bytes *out, const struct bytes *hs) {
        records(out, hs, NULL, 0);
}

/* A hello with these extensions in one record. */
static void hello_with(struct bytes *out, const struct bytes *ext) {
        static struct bytes hs;
        client_hello(&hs, ext);
        one_record(out, &hs);
}

/* ---- parsing helpers ---- */

/* sni_parse on an exact-size heap copy, so the sanitizer catches any read past len. */
static enum sni_status parse_exact(const uint8_t *b, size_t n, size_t max_hello, struct sni_result *out) {
        uint8_t *copy = malloc(n ? n : 1);
        assert_non_null(copy);
        if (n)
                memcpy(copy, b, n);
        enum sni_status s = sni_parse(copy, n, max_hello, out);
        free(copy);
        return s;
}

static void assert_status(enum sni_status got, enum sni_status want) {
        if (got != want)
                fail_msg("status %s, want %s", sni_status_to_string(got), sni_status_to_string(want));
}

static void assert_name(const struct bytes *in, const char *want) {
        struct sni_result r;
        memset(&r, 0x5a, sizeof r);
        assert_status(parse_exact(in->b, in->n, MAX_HELLO, &r), SNI_OK);
        assert_string_equal(r.name, want);
        assert_int_equal(r.name_len, strlen(want));
}

static void assert_verdict(const struct bytes *in, enum sni_status want) {
        struct sni_result r, before;
        memset(&r, 0x5a, sizeof r);
        before = r;
        assert_status(parse_exact(in->b, in->n, MAX_HELLO, &r), want);
        if (want != SNI_OK)
                assert_memory_equal(&r, &before, sizeof r); /* untouched unless OK */
}

/* Every proper prefix needs more; the whole input gets `want` (and `name` when OK). */
static void assert_prefixes_need_more(const struct bytes *in, enum sni_status want, const char *name) {
        for (size_t k = 0; k < in->n; k++) {
                struct sni_result r;
                enum sni_status s = parse_exact(in->b, k, MAX_HELLO, &r);
                if (s != SNI_NEED_MORE)
                        fail_msg("prefix %zu of %zu: %s, want need-more", k, in->n, sni_status_to_string(s));
        }
        if (want == SNI_OK)
                assert_name(in, name);
        else
                assert_verdict(in, want);
}

/* A verdict, once given, holds for every longer prefix: prefixes need more up to some
 * point, then all get `want`. */
static void assert_prefixes_final(const struct bytes *in, enum sni_status want) {
        bool decided = false;
        for (size_t k = 0; k <= in->n; k++) {
                struct sni_result r;
                enum sni_status s = parse_exact(in->b, k, MAX_HELLO, &r);
                if (s == SNI_NEED_MORE && !decided)
                        continue;
                decided = true;
                if (s != want)
                        fail_msg("prefix %zu of %zu: %s, want %s", k, in->n, sni_status_to_string(s),
                                 sni_status_to_string(want));
        }
        assert_true(decided);
}

/* Offset of needle in the handshake bytes (for split points inside a given field). */
static size_t find(const struct bytes *hs, const void *needle, size_t n) {
        for (size_t i = 0; i + n <= hs->n; i++)
                if (memcmp(hs->b + i, needle, n) == 0)
                        return i;
        fail_msg("needle not found");
        return 0;
}

static int read_fixture(const char *name, struct bytes *out) {
        char path[256];
        snprintf(path, sizeof path, "tests/unit/data/%s", name);
        FILE *f = fopen(path, "rb");
        if (!f)
                return -1;
        out->n = fread(out->b, 1, sizeof out->b, f);
        fclose(f);
        return 0;
}

/* A PQ-sized hello: grease-like filler, supported_versions, groups, key_share with the
 * 1216-byte ML-KEM share, then server_name after it, then more extensions. */
static void pq_extensions(struct bytes *e, const char *name) {
        e->n = 0;
        ext_opaque(e, 0x0a0a, 0, 0); /* GREASE */
        ext_opaque(e, 23, 0, 0); /* extended_master_secret */
        put_u16(e, 43); /* supported_versions: TLS 1.3, 1.2 */
        put_u16(e, 5);
        put_u8(e, 4);
        put_u16(e, 0x0304);
        put_u16(e, 0x0303);
        put_u16(e, 10); /* supported_groups */
        put_u16(e, 8);
        put_u16(e, 6);
        put_u16(e, 0x11ec);
        put_u16(e, 0x001d);
        put_u16(e, 0x0017);
        ext_opaque(e, 13, 18, 0x04); /* signature_algorithms */
        ext_key_share_pq(e);
        ext_server_name(e, name);
        ext_opaque(e, 16, 14, 'h'); /* ALPN */
        ext_opaque(e, 0x44cd, 5, 0x02); /* application_settings */
        ext_opaque(e, 0xfe0d, 250, 0xec); /* encrypted_client_hello (GREASE) */
        ext_opaque(e, 21, 173, 0); /* padding */
}

/* ---- tests ---- */

static void test_minimal(void **state) {
        static struct bytes ext, in;
        ext.n = 0;
        ext_server_name(&ext, "example.net");
        hello_with(&in, &ext);
        assert_name(&in, "example.net");
        assert_prefixes_need_more(&in, SNI_OK, "example.net");

        /* Bytes after the hello (say the client's next record) do not matter. */
        put(&in, "\x14\x03\x03\x00\x01\x01", 6);
        assert_name(&in, "example.net");
        put_fill(&in, 0xff, 100);
        assert_name(&in, "example.net");
}

static void test_post_quantum_size(void **state) {
        static struct bytes ext, hs, in;
        pq_extensions(&ext, "vm1.dc-lk.example.net");
        client_hello(&hs, &ext);
        assert_in_range(hs.n, 1800, 2100);
        one_record(&in, &hs);
        assert_name(&in, "vm1.dc-lk.example.net");
        assert_prefixes_need_more(&in, SNI_OK, "vm1.dc-lk.example.net");
}

static void test_split_records_every_point(void **state) {
        static struct bytes ext, hs, in;
        pq_extensions(&ext, "vm1.dc-lk.example.net");
        client_hello(&hs, &ext);
        /* Two records, cut at every offset: inside the handshake header, the random, the
         * cipher suites, the key share, the SNI extension header, the name itself... */
        for (size_t cut = 1; cut < hs.n; cut++) {
                records(&in, &hs, &cut, 1);
                struct sni_result r;
                enum sni_status s = parse_exact(in.b, in.n, MAX_HELLO, &r);
                if (s != SNI_OK || strcmp(r.name, "vm1.dc-lk.example.net") != 0)
                        fail_msg("cut at %zu: %s", cut, sni_status_to_string(s));
        }
}

static void test_split_named_points(void **state) {
        static struct bytes ext, hs, in;
        pq_extensions(&ext, "vm1.dc-lk.example.net");
        client_hello(&hs, &ext);
        size_t name_at = find(&hs, "vm1.dc-lk", 9);
        size_t share_at = find(&hs, "\x11\xec\x04\xc0", 4);
        size_t cuts[][3] = {
                {name_at + 4, 0, 0}, /* inside the name */
                {name_at - 7, 0, 0}, /* inside the server_name extension header */
                {share_at + 600, 0, 0}, /* inside the key share */
                {share_at + 600, name_at - 2, name_at + 1}, /* three cuts: four records */
                {1, 2, 3}, /* the handshake header over four records */
        };
        for (size_t i = 0; i < ELEMENTSOF(cuts); i++) {
                size_t n = cuts[i][1] ? 3 : 1;
                records(&in, &hs, cuts[i], n);
                assert_prefixes_need_more(&in, SNI_OK, "vm1.dc-lk.example.net");
        }
}

static void test_records_limit(void **state) {
        static struct bytes ext, hs, in;
        ext.n = 0;
        ext_server_name(&ext, "example.net");
        client_hello(&hs, &ext);
        size_t cuts[SNI_RECORDS_MAX];
        for (size_t i = 0; i < SNI_RECORDS_MAX; i++)
                cuts[i] = i + 1;
        /* 64 records: fine; 65: too many, whatever the hello's size. */
        records(&in, &hs, cuts, SNI_RECORDS_MAX - 1);
        assert_name(&in, "example.net");
        records(&in, &hs, cuts, SNI_RECORDS_MAX);
        assert_verdict(&in, SNI_TOO_LARGE);
        /* ... decided as soon as the 65th record would be needed. */
        struct sni_result r;
        assert_status(parse_exact(in.b, 64 * 6, MAX_HELLO, &r), SNI_TOO_LARGE);
}

static void test_real_hellos(void **state) {
        static struct bytes in, hs;
        static const struct {
                const char *file;
                enum sni_status status;
                const char *name;
        } cases[] = {
                {"tls-hello-openssl.bin", SNI_OK, "example.net"},
                {"tls-hello-curl.bin", SNI_OK, "example.net"},
                /* openssl s_client -tls1_2 -servername Example.NET. */
                {"tls-hello-openssl-tls12-upper.bin", SNI_OK, "example.net"},
                /* openssl s_client -noservername */
                {"tls-hello-openssl-nosni.bin", SNI_ABSENT, NULL},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                if (read_fixture(cases[i].file, &in) < 0)
                        fail_msg("cannot read tests/unit/data/%s (run from the source root)", cases[i].file);
                assert_prefixes_need_more(&in, cases[i].status, cases[i].name);

                /* The same hello re-framed over two records, cut everywhere. */
                hs.n = 0;
                put(&hs, in.b + 5, in.n - 5);
                for (size_t cut = 1; cut < hs.n; cut += 7) {
                        static struct bytes split;
                        records(&split, &hs, &cut, 1);
                        struct sni_result r;
                        assert_status(parse_exact(split.b, split.n, MAX_HELLO, &r), cases[i].status);
                        if (cases[i].name)
                                assert_string_equal(r.name, cases[i].name);
                }
        }
}

static void test_no_name(void **state) {
        static struct bytes ext, in;
        /* No extensions block at all. */
        hello_with(&in, NULL);
        assert_prefixes_need_more(&in, SNI_ABSENT, NULL);
        /* An empty extensions block. */
        ext.n = 0;
        hello_with(&in, &ext);
        assert_verdict(&in, SNI_ABSENT);
        /* Extensions, none of them server_name. */
        ext_opaque(&ext, 10, 4, 0x17);
        ext_opaque(&ext, 16, 0, 0);
        ext_opaque(&ext, 65281, 1, 0);
        hello_with(&in, &ext);
        assert_prefixes_need_more(&in, SNI_ABSENT, NULL);
        /* A server_name list holding only an entry of another (unknown) name type. */
        ext.n = 0;
        put_u16(&ext, 0);
        put_u16(&ext, 2 + 3 + 4);
        put_u16(&ext, 3 + 4);
        put_u8(&ext, 7);
        put_u16(&ext, 4);
        put(&ext, "abcd", 4);
        hello_with(&in, &ext);
        assert_verdict(&in, SNI_ABSENT);
        /* ... and with a host_name after it. */
        ext.n = 0;
        put_u16(&ext, 0);
        put_u16(&ext, 2 + 3 + 4 + 3 + 5);
        put_u16(&ext, 3 + 4 + 3 + 5);
        put_u8(&ext, 7);
        put_u16(&ext, 4);
        put(&ext, "abcd", 4);
        put_u8(&ext, 0);
        put_u16(&ext, 5);
        put(&ext, "a.net", 5);
        hello_with(&in, &ext);
        assert_name(&in, "a.net");
}

static void test_duplicates(void **state) {
        static struct bytes ext, in;
        /* Two server_name extensions, even with the same name. */
        ext.n = 0;
        ext_server_name(&ext, "example.net");
        ext_opaque(&ext, 10, 2, 0);
        ext_server_name(&ext, "example.net");
        hello_with(&in, &ext);
        assert_prefixes_final(&in, SNI_INVALID);
        /* Two host_name entries in one list. */
        ext.n = 0;
        put_u16(&ext, 0);
        put_u16(&ext, 2 + 3 + 5 + 3 + 5);
        put_u16(&ext, 3 + 5 + 3 + 5);
        put_u8(&ext, 0);
        put_u16(&ext, 5);
        put(&ext, "a.net", 5);
        put_u8(&ext, 0);
        put_u16(&ext, 5);
        put(&ext, "b.net", 5);
        hello_with(&in, &ext);
        assert_verdict(&in, SNI_INVALID);
}

static void test_names(void **state) {
        static struct bytes ext, in;
        static const struct {
                const char *raw;
                size_t len; /* 0: strlen */
                const char *want; /* NULL: invalid */
        } cases[] = {
                {"example.net", 0, "example.net"},
                {"WWW.Example.NET.", 0, "www.example.net"},
                {"_acme-challenge.a-b.example.net", 0, "_acme-challenge.a-b.example.net"},
                {"localhost", 0, "localhost"},
                {"10.0.0.1", 0, "10.0.0.1"},
                {"", 0, NULL},
                {".", 0, NULL},
                {"..", 0, NULL},
                {"a..b", 0, NULL},
                {".example.net", 0, NULL},
                {"example.net..", 0, NULL},
                {"exa mple.net", 0, NULL},
                {"a/b.net", 0, NULL},
                {"a\\b.net", 0, NULL},
                {"a:443", 0, NULL},
                {"a*.net", 0, NULL},
                {"caf\xc3\xa9.net", 0, NULL},
                {"a\0b.net", 7, NULL},
                {"example.net\0", 12, NULL},
                {"a\tb", 0, NULL},
                {"a\x7f", 0, NULL},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                size_t len = cases[i].len ? cases[i].len : strlen(cases[i].raw);
                ext.n = 0;
                ext_server_name_raw(&ext, cases[i].raw, len);
                hello_with(&in, &ext);
                struct sni_result r;
                enum sni_status s = parse_exact(in.b, in.n, MAX_HELLO, &r);
                if (cases[i].want) {
                        if (s != SNI_OK || strcmp(r.name, cases[i].want) != 0)
                                fail_msg("case %zu: %s", i, sni_status_to_string(s));
                } else if (s != SNI_INVALID)
                        fail_msg("case %zu: %s, want invalid", i, sni_status_to_string(s));
        }
}

static void test_name_lengths(void **state) {
        static struct bytes ext, in;
        char name[300];
        /* 255 bytes of labels: the longest accepted. */
        memset(name, 'a', 255);
        for (size_t i = 63; i < 255; i += 64)
                name[i] = '.';
        name[255] = '\0';
        ext.n = 0;
        ext_server_name(&ext, name);
        hello_with(&in, &ext);
        assert_name(&in, name);
        /* 255 with the trailing dot: 254 kept. */
        name[254] = '.';
        ext.n = 0;
        ext_server_name(&ext, name);
        hello_with(&in, &ext);
        name[254] = '\0';
        assert_name(&in, name);
        /* 256: refused. */
        memset(name, 'a', 256);
        for (size_t i = 63; i < 256; i += 64)
                name[i] = '.';
        name[256] = '\0';
        ext.n = 0;
        ext_server_name(&ext, name);
        hello_with(&in, &ext);
        assert_verdict(&in, SNI_INVALID);
}

/* in is INVALID, decided as soon as its first `at` bytes are there (the field that is
 * wrong ends there), and not before. */
static void assert_invalid_at(const struct bytes *in, size_t at) {
        struct sni_result r;
        assert_verdict(in, SNI_INVALID);
        assert_status(parse_exact(in->b, at, MAX_HELLO, &r), SNI_INVALID);
        assert_status(parse_exact(in->b, at - 1, MAX_HELLO, &r), SNI_NEED_MORE);
        assert_prefixes_final(in, SNI_INVALID);
}

/* A valid hello with one server_name extension; the caller then breaks one field. Returns
 * the offset (in `in`) of the SNI extension's type. */
static size_t sni_hello(struct bytes *in) {
        static struct bytes ext;
        ext.n = 0;
        ext_opaque(&ext, 10, 4, 0x17);
        ext_server_name(&ext, "example.net");
        ext_opaque(&ext, 16, 6, 'h');
        hello_with(in, &ext);
        return find(in, "\x00\x00\x00\x10\x00\x0e\x00\x00\x0b", 9);
}

static void set_u16(struct bytes *in, size_t at, size_t v) {
        in->b[at] = (uint8_t)(v >> 8);
        in->b[at + 1] = (uint8_t)v;
}

static void test_truncated_lengths(void **state) {
        static struct bytes in;
        size_t at;

        /* server_name extension longer than what is left of the extensions. */
        at = sni_hello(&in);
        set_u16(&in, at + 2, 100);
        assert_prefixes_final(&in, SNI_INVALID);
        /* Decided as soon as the extension header is in: no waiting for bytes that the
         * lengths already say cannot fit. */
        struct sni_result r;
        assert_status(parse_exact(in.b, at + 4, MAX_HELLO, &r), SNI_INVALID);

        /* server_name list length disagreeing with the extension length. */
        at = sni_hello(&in);
        set_u16(&in, at + 4, 15);
        assert_verdict(&in, SNI_INVALID);
        at = sni_hello(&in);
        set_u16(&in, at + 4, 13);
        assert_verdict(&in, SNI_INVALID);
        /* A list that ends before its extension does (one stray byte after it). */
        static struct bytes ext;
        ext.n = 0;
        put_u16(&ext, 0);
        put_u16(&ext, 2 + 3 + 5 + 1);
        put_u16(&ext, 3 + 5);
        put_u8(&ext, 0);
        put_u16(&ext, 5);
        put(&ext, "a.net", 5);
        put_u8(&ext, 'x');
        ext_opaque(&ext, 16, 0, 0);
        hello_with(&in, &ext);
        assert_invalid_at(&in, find(&in, "\x00\x00\x00\x0b\x00\x08", 6) + 6);
        /* Empty list. */
        at = sni_hello(&in);
        set_u16(&in, at + 4, 0);
        assert_verdict(&in, SNI_INVALID);
        ext.n = 0;
        ext_opaque(&ext, 0, 2, 0);
        hello_with(&in, &ext);
        assert_verdict(&in, SNI_INVALID);
        /* Name length running past the list: refused from the entry header alone. */
        at = sni_hello(&in);
        set_u16(&in, at + 7, 13);
        assert_invalid_at(&in, at + 9);
        /* Name length shorter than the list: a 1-byte entry header is left over. */
        at = sni_hello(&in);
        set_u16(&in, at + 7, 10);
        assert_invalid_at(&in, at + 9 + 10);
        /* server_name extension too short for its list length. */
        ext.n = 0;
        ext_opaque(&ext, 0, 1, 0);
        hello_with(&in, &ext);
        assert_verdict(&in, SNI_INVALID);

        /* Extensions block length longer / shorter than the rest of the message. */
        at = sni_hello(&in);
        size_t ext_len_at = at - 8 - 2;
        assert_int_equal(in.b[ext_len_at + 2], 0);
        assert_int_equal(in.b[ext_len_at + 3], 10);
        size_t ext_total = (size_t)in.b[ext_len_at] << 8 | in.b[ext_len_at + 1];
        set_u16(&in, ext_len_at, ext_total + 1);
        assert_verdict(&in, SNI_INVALID);
        set_u16(&in, ext_len_at, ext_total - 1);
        assert_verdict(&in, SNI_INVALID);
        /* ... shorter by a whole extension: the last one is outside the block. */
        set_u16(&in, ext_len_at, ext_total - 10);
        assert_invalid_at(&in, ext_len_at + 2);
        /* A last extension header cut short inside the block. */
        ext.n = 0;
        ext_server_name(&ext, "example.net");
        put_u16(&ext, 16);
        hello_with(&in, &ext);
        assert_invalid_at(&in, in.n - 2);

        /* One stray byte where the extensions block would start. */
        static struct bytes hs;
        client_hello(&hs, NULL);
        put_u8(&hs, 0);
        hs.b[3]++; /* handshake length covers it */
        one_record(&in, &hs);
        assert_verdict(&in, SNI_INVALID);

        /* Handshake length shorter than the fields it should hold. */
        at = sni_hello(&in);
        in.b[5 + 3] = 40;
        in.b[5 + 2] = 0;
        assert_verdict(&in, SNI_INVALID);
}

static void test_fields(void **state) {
        static struct bytes in;
        size_t base = 5 + 4; /* record header, handshake header */

        /* Handshake type other than ClientHello (ServerHello). */
        sni_hello(&in);
        in.b[5] = 2;
        assert_invalid_at(&in, 6);
        /* client_version major not 3. */
        sni_hello(&in);
        in.b[base] = 2;
        assert_invalid_at(&in, base + 2);
        /* session id longer than 32. */
        size_t sid = base + 2 + 32;
        sni_hello(&in);
        in.b[sid] = 33;
        assert_invalid_at(&in, sid + 1);
        /* odd and empty cipher suites. */
        size_t cs = sid + 1 + 32;
        sni_hello(&in);
        set_u16(&in, cs, 5);
        assert_invalid_at(&in, cs + 2);
        sni_hello(&in);
        set_u16(&in, cs, 0);
        assert_invalid_at(&in, cs + 2);
        /* no compression methods. */
        sni_hello(&in);
        in.b[cs + 2 + 6] = 0;
        assert_invalid_at(&in, cs + 2 + 6 + 1);
}

static void test_records(void **state) {
        static struct bytes in, hs;
        /* Record of length 0. */
        sni_hello(&in);
        set_u16(&in, 3, 0);
        assert_verdict(&in, SNI_INVALID);
        /* A zero-length record between two fragments. */
        static struct bytes ext;
        ext.n = 0;
        ext_server_name(&ext, "example.net");
        client_hello(&hs, &ext);
        size_t cut = 20;
        records(&in, &hs, &cut, 1);
        memmove(in.b + 5 + cut + 5, in.b + 5 + cut, in.n - 5 - cut);
        memcpy(in.b + 5 + cut, "\x16\x03\x01\x00\x00", 5);
        in.n += 5;
        assert_verdict(&in, SNI_INVALID);
        /* Record longer than 2^14. */
        sni_hello(&in);
        set_u16(&in, 3, 16385);
        assert_verdict(&in, SNI_INVALID);
        /* Another content type (an alert) in the middle of the hello. */
        records(&in, &hs, &cut, 1);
        in.b[5 + cut] = 21;
        assert_verdict(&in, SNI_INVALID);
        /* Record versions: 3,0 .. 3,4 accepted, 3,5 not. */
        for (uint8_t minor = 0; minor <= 5; minor++) {
                sni_hello(&in);
                in.b[2] = minor;
                struct sni_result r;
                assert_status(parse_exact(in.b, in.n, MAX_HELLO, &r), minor <= 4 ? SNI_OK : SNI_INVALID);
        }
        /* ... also for a continuation record. */
        records(&in, &hs, &cut, 1);
        in.b[5 + cut + 2] = 5;
        assert_verdict(&in, SNI_INVALID);
        records(&in, &hs, &cut, 1);
        in.b[5 + cut + 1] = 2;
        assert_verdict(&in, SNI_INVALID);
}

static void test_too_large(void **state) {
        static struct bytes ext, hs, in;
        pq_extensions(&ext, "example.net");
        client_hello(&hs, &ext);
        one_record(&in, &hs);
        struct sni_result r;
        /* max_hello bounds the handshake message, header included. */
        assert_status(parse_exact(in.b, in.n, hs.n, &r), SNI_OK);
        assert_status(parse_exact(in.b, in.n, hs.n - 1, &r), SNI_TOO_LARGE);
        assert_status(parse_exact(in.b, in.n, 512, &r), SNI_TOO_LARGE);
        /* Known from the handshake header alone, long before the bytes arrive. */
        assert_status(parse_exact(in.b, 9, 512, &r), SNI_TOO_LARGE);
        assert_status(parse_exact(in.b, 8, 512, &r), SNI_NEED_MORE);

        /* A 20 KB hello (two full records) against the proxy's 16 KB. */
        ext.n = 0;
        ext_server_name(&ext, "example.net");
        ext_opaque(&ext, 21, 20000, 0);
        client_hello(&hs, &ext);
        size_t cut = 16384;
        records(&in, &hs, &cut, 1);
        assert_verdict(&in, SNI_TOO_LARGE);
        /* ... and just under the limit, over two records. */
        ext.n = 0;
        ext_server_name(&ext, "example.net");
        ext_opaque(&ext, 21, MAX_HELLO - 4 - 77 - 2 - ext.n - 4, 0);
        client_hello(&hs, &ext);
        assert_int_equal(hs.n, MAX_HELLO);
        cut = 10000;
        records(&in, &hs, &cut, 1);
        assert_name(&in, "example.net");
        assert_true(in.n <= MAX_HELLO + SNI_RECORD_HEADER * SNI_RECORDS_MAX);
}

static void test_not_tls(void **state) {
        static const struct {
                const char *bytes;
                size_t len;
                enum sni_status want;
        } cases[] = {
                {"", 0, SNI_NEED_MORE},
                {"G", 1, SNI_NOT_TLS},
                {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27, SNI_NOT_TLS},
                {"SSH-2.0-OpenSSH_9.2\r\n", 21, SNI_NOT_TLS},
                {"\x16", 1, SNI_NEED_MORE},
                {"\x16\x02", 2, SNI_NOT_TLS},
                {"\x16\x03", 2, SNI_NEED_MORE},
                {"\x16\x03\x01", 3, SNI_NEED_MORE},
                {"\x16\x03\x05", 3, SNI_INVALID},
                {"\x17\x03\x03\x00\x10", 5, SNI_NOT_TLS}, /* application data */
                {"\x15\x03\x01\x00\x02\x02\x70", 7, SNI_NOT_TLS}, /* an alert */
                {"\x00", 1, SNI_NOT_TLS},
                /* SSLv2-compatible hellos: 2-byte header with the high bit, msg type 1. */
                {"\x80", 1, SNI_NEED_MORE},
                {"\x80\x2e", 2, SNI_NEED_MORE},
                {"\x80\x2e\x01", 3, SNI_SSLV2},
                {"\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10", 11, SNI_SSLV2},
                {"\x80\x2b\x01\x03\x01\x00\x12\x00\x00\x00\x10", 11, SNI_SSLV2},
                {"\x80\x2b\x02\x03\x01", 5, SNI_NOT_TLS},
                {"\xff\xfe\x00", 3, SNI_NOT_TLS},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct sni_result r;
                enum sni_status s = parse_exact((const uint8_t *)cases[i].bytes, cases[i].len, MAX_HELLO, &r);
                if (s != cases[i].want)
                        fail_msg("case %zu: %s, want %s", i, sni_status_to_string(s), sni_status_to_string(cases[i].want));
        }

        /* A real SSLv2-compatible hello (RFC 5246 E.2): TLS 1.0, 3 ciphers, 16-byte challenge. */
        static struct bytes v2;
        v2.n = 0;
        put_u16(&v2, 0x8000 | (9 + 9 + 16));
        put_u8(&v2, 1);
        put_u16(&v2, 0x0301);
        put_u16(&v2, 9);
        put_u16(&v2, 0);
        put_u16(&v2, 16);
        put(&v2, "\x00\x00\x2f\x00\x00\x35\x00\x00\x0a", 9);
        put_fill(&v2, 0x42, 16);
        assert_verdict(&v2, SNI_SSLV2);
}

static void test_alert(void **state) {
        uint8_t out[9];
        memset(out, 0xee, sizeof out);
        assert_int_equal(tls_alert_unrecognized_name(out), 7);
        assert_memory_equal(out, "\x15\x03\x01\x00\x02\x02\x70", 7);
        assert_int_equal(out[7], 0xee);
        /* Our own alert is not a hello. */
        struct sni_result r;
        assert_status(parse_exact(out, 7, MAX_HELLO, &r), SNI_NOT_TLS);
}

static void test_normalize_api(void **state) {
        char out[SNI_NAME_MAX + 1];
        memset(out, 'x', sizeof out);
        assert_int_equal(sni_name_normalize((const uint8_t *)"Foo.Example.", 12, out), 11);
        assert_string_equal(out, "foo.example");
        memset(out, 'x', sizeof out);
        assert_int_equal(sni_name_normalize((const uint8_t *)"a..b", 4, out), 0);
        assert_int_equal(out[0], 'x');
        assert_string_equal(sni_status_to_string(SNI_TOO_LARGE), "too-large");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_minimal),
                cmocka_unit_test(test_post_quantum_size),
                cmocka_unit_test(test_split_records_every_point),
                cmocka_unit_test(test_split_named_points),
                cmocka_unit_test(test_records_limit),
                cmocka_unit_test(test_real_hellos),
                cmocka_unit_test(test_no_name),
                cmocka_unit_test(test_duplicates),
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_name_lengths),
                cmocka_unit_test(test_truncated_lengths),
                cmocka_unit_test(test_fields),
                cmocka_unit_test(test_records),
                cmocka_unit_test(test_too_large),
                cmocka_unit_test(test_not_tls),
                cmocka_unit_test(test_alert),
                cmocka_unit_test(test_normalize_api),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
