/* SPDX-License-Identifier: MIT */
/*
 * ClientHello parsing for the SNI proxy. The hello is read front to back through a reader
 * that walks the TLS records in place, so a handshake message fragmented over several
 * records is parsed without being copied and without a reassembly buffer.
 */
#include "tls_sni.h"

#include <stdbool.h>
#include <string.h>

#define TLS_CONTENT_HANDSHAKE 22
#define TLS_CONTENT_ALERT 21
#define TLS_HANDSHAKE_CLIENT_HELLO 1
#define TLS_EXT_SERVER_NAME 0
#define TLS_SERVER_NAME_HOST_NAME 0
#define TLS_HANDSHAKE_HEADER 4
#define TLS_RANDOM 32
#define TLS_SESSION_ID_MAX 32
#define SSLV2_CLIENT_HELLO 1

/* A cursor over the bytes of one handshake message, spread over consecutive handshake
 * records of buf. Every read either gets all its bytes or records why not in `failed`.
 * Each check is made as soon as the bytes it needs are there and in a fixed order, and
 * running out of input is the only thing that depends on len: that is what makes verdicts
 * final (a longer prefix can only turn SNI_NEED_MORE into something else). */
struct hello_reader {
        const uint8_t *buf;
        size_t len;
        size_t pos; /* next unread byte of buf */
        size_t record_left; /* payload bytes of the current record not read yet */
        unsigned records; /* records entered so far */
        size_t message_left; /* bytes of the handshake message not read yet */
        enum sni_status failed; /* SNI_OK until the first failure */
};

static bool reader_fail(struct hello_reader *r, enum sni_status status) {
        r->failed = status;
        return false;
}

static bool reader_enter_record(struct hello_reader *r) {
        if (r->records == SNI_RECORDS_MAX)
                return reader_fail(r, SNI_TOO_LARGE);
        const uint8_t *h = r->buf + r->pos;
        size_t have = r->len - r->pos;
        /* Handshake messages must not be interleaved with other record types (RFC 8446
         * §5.1). Record versions 3,0 to 3,4: RFC 5246 E.1 lets clients put 3,0 there. */
        if (have >= 1 && h[0] != TLS_CONTENT_HANDSHAKE)
                return reader_fail(r, SNI_INVALID);
        if (have >= 2 && h[1] != 3)
                return reader_fail(r, SNI_INVALID);
        if (have >= 3 && h[2] > 4)
                return reader_fail(r, SNI_INVALID);
        if (have < SNI_RECORD_HEADER)
                return reader_fail(r, SNI_NEED_MORE);
        size_t n = (size_t)h[3] << 8 | h[4];
        /* Zero-length handshake fragments are forbidden (RFC 8446 §5.1). */
        if (n == 0 || n > SNI_RECORD_PAYLOAD_MAX)
                return reader_fail(r, SNI_INVALID);
        r->pos += SNI_RECORD_HEADER;
        r->record_left = n;
        r->records++;
        return true;
}

/* Reads n bytes of the message into dst, or skips them when dst is NULL. */
static bool reader_read(struct hello_reader *r, uint8_t *dst, size_t n) {
        if (r->failed != SNI_OK)
                return false;
        if (n > r->message_left)
                return reader_fail(r, SNI_INVALID);
        while (n > 0) {
                if (r->record_left == 0 && !reader_enter_record(r))
                        return false;
                size_t have = r->len - r->pos;
                if (have == 0)
                        return reader_fail(r, SNI_NEED_MORE);
                size_t take = n;
                if (take > r->record_left)
                        take = r->record_left;
                if (take > have)
                        take = have;
                if (dst) {
                        memcpy(dst, r->buf + r->pos, take);
                        dst += take;
                }
                r->pos += take;
                r->record_left -= take;
                r->message_left -= take;
                n -= take;
        }
        return true;
}

static bool reader_u8(struct hello_reader *r, size_t *ret) {
        uint8_t b[1];
        if (!reader_read(r, b, sizeof b))
                return false;
        *ret = b[0];
        return true;
}

static bool reader_u16(struct hello_reader *r, size_t *ret) {
        uint8_t b[2];
        if (!reader_read(r, b, sizeof b))
                return false;
        *ret = (size_t)b[0] << 8 | b[1];
        return true;
}

static bool reader_u24(struct hello_reader *r, size_t *ret) {
        uint8_t b[3];
        if (!reader_read(r, b, sizeof b))
                return false;
        *ret = (size_t)b[0] << 16 | (size_t)b[1] << 8 | b[2];
        return true;
}

size_t sni_name_normalize(const uint8_t *name, size_t len, char out[static SNI_NAME_MAX + 1]) {
        if (len == 0 || len > SNI_NAME_MAX)
                return 0;
        /* "example.net." is the same absolute name as "example.net". */
        if (name[len - 1] == '.')
                len--;
        if (len == 0)
                return 0;
        for (size_t i = 0; i < len; i++) {
                uint8_t c = name[i];
                if (c == '.') {
                        if (i == 0 || name[i - 1] == '.' || i == len - 1)
                                return 0;
                } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                             c == '_'))
                        return 0;
        }
        for (size_t i = 0; i < len; i++) {
                uint8_t c = name[i];
                out[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        }
        out[len] = '\0';
        return len;
}

/* The server_name extension's body (RFC 6066 §3): a non-empty list of (type, name).
 * At most one host_name; entries of other types are skipped. */
static bool parse_server_name(struct hello_reader *r, size_t ext_len, char name[static SNI_NAME_MAX + 1],
                              size_t *ret_len) {
        size_t list_len;
        if (ext_len < 2)
                return reader_fail(r, SNI_INVALID);
        if (!reader_u16(r, &list_len))
                return false;
        if (list_len == 0 || list_len != ext_len - 2)
                return reader_fail(r, SNI_INVALID);

        size_t left = list_len;
        bool have_host = false;
        while (left > 0) {
                size_t type, len;
                if (left < 3)
                        return reader_fail(r, SNI_INVALID);
                if (!reader_u8(r, &type) || !reader_u16(r, &len))
                        return false;
                left -= 3;
                if (len > left)
                        return reader_fail(r, SNI_INVALID);
                left -= len;
                if (type != TLS_SERVER_NAME_HOST_NAME) {
                        if (!reader_read(r, NULL, len))
                                return false;
                        continue;
                }
                if (have_host || len == 0 || len > SNI_NAME_MAX)
                        return reader_fail(r, SNI_INVALID);
                have_host = true;
                uint8_t raw[SNI_NAME_MAX];
                if (!reader_read(r, raw, len))
                        return false;
                size_t n = sni_name_normalize(raw, len, name);
                if (n == 0)
                        return reader_fail(r, SNI_INVALID);
                *ret_len = n;
        }
        return true;
}

enum sni_status sni_parse(const uint8_t *buf, size_t len, size_t max_hello, struct sni_result *out) {
        if (len == 0)
                return SNI_NEED_MORE;
        /* SSLv2 framing: a 2-byte length with the high bit set, then the message type. */
        if (buf[0] & 0x80) {
                if (len < 3)
                        return SNI_NEED_MORE;
                return buf[2] == SSLV2_CLIENT_HELLO ? SNI_SSLV2 : SNI_NOT_TLS;
        }
        if (buf[0] != TLS_CONTENT_HANDSHAKE)
                return SNI_NOT_TLS;
        if (len < 2)
                return SNI_NEED_MORE;
        if (buf[1] != 3)
                return SNI_NOT_TLS;

        struct hello_reader r = {.buf = buf, .len = len, .message_left = TLS_HANDSHAKE_HEADER};
        size_t type, length;
        if (!reader_u8(&r, &type))
                return r.failed;
        if (type != TLS_HANDSHAKE_CLIENT_HELLO)
                return SNI_INVALID;
        if (!reader_u24(&r, &length))
                return r.failed;
        if (length > max_hello || max_hello - length < TLS_HANDSHAKE_HEADER)
                return SNI_TOO_LARGE;
        r.message_left = length;

        size_t version, session_id_len, cipher_suites_len, compression_len;
        if (!reader_u16(&r, &version))
                return r.failed;
        if (version >> 8 != 3)
                return SNI_INVALID;
        if (!reader_read(&r, NULL, TLS_RANDOM) || !reader_u8(&r, &session_id_len))
                return r.failed;
        if (session_id_len > TLS_SESSION_ID_MAX)
                return SNI_INVALID;
        if (!reader_read(&r, NULL, session_id_len) || !reader_u16(&r, &cipher_suites_len))
                return r.failed;
        if (cipher_suites_len < 2 || cipher_suites_len % 2 != 0)
                return SNI_INVALID;
        if (!reader_read(&r, NULL, cipher_suites_len) || !reader_u8(&r, &compression_len))
                return r.failed;
        if (compression_len < 1)
                return SNI_INVALID;
        if (!reader_read(&r, NULL, compression_len))
                return r.failed;

        /* Extensions are optional (a TLS 1.0-style hello); when present they fill the rest
         * of the message exactly. */
        if (r.message_left == 0)
                return SNI_ABSENT;
        size_t extensions_len;
        if (!reader_u16(&r, &extensions_len))
                return r.failed;
        if (extensions_len != r.message_left)
                return SNI_INVALID;

        char name[SNI_NAME_MAX + 1];
        size_t name_len = 0;
        bool seen_server_name = false;
        size_t left = extensions_len;
        while (left > 0) {
                size_t ext_type, ext_len;
                if (left < 4)
                        return SNI_INVALID;
                if (!reader_u16(&r, &ext_type) || !reader_u16(&r, &ext_len))
                        return r.failed;
                left -= 4;
                if (ext_len > left)
                        return SNI_INVALID;
                left -= ext_len;
                if (ext_type != TLS_EXT_SERVER_NAME) {
                        if (!reader_read(&r, NULL, ext_len))
                                return r.failed;
                        continue;
                }
                /* Two server_name extensions: which one would the backend believe? */
                if (seen_server_name)
                        return SNI_INVALID;
                seen_server_name = true;
                if (!parse_server_name(&r, ext_len, name, &name_len))
                        return r.failed;
        }
        if (name_len == 0)
                return SNI_ABSENT;
        memcpy(out->name, name, name_len + 1);
        out->name_len = name_len;
        return SNI_OK;
}

const char *sni_status_to_string(enum sni_status s) {
        switch (s) {
        case SNI_OK:
                return "ok";
        case SNI_NEED_MORE:
                return "need-more";
        case SNI_ABSENT:
                return "absent";
        case SNI_NOT_TLS:
                return "not-tls";
        case SNI_SSLV2:
                return "sslv2";
        case SNI_INVALID:
                return "invalid";
        case SNI_TOO_LARGE:
                return "too-large";
        }
        return "unknown";
}

size_t tls_alert_unrecognized_name(uint8_t out[static 7]) {
        static const uint8_t alert[7] = {
                TLS_CONTENT_ALERT, 3, 1, 0, 2, /* record header: alert, TLS 1.0, 2 bytes */
                2, /* fatal */
                112, /* unrecognized_name */
        };
        memcpy(out, alert, sizeof alert);
        return sizeof alert;
}
