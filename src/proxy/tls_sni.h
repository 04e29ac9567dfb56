/* SPDX-License-Identifier: MIT */
/*
 * TLS ClientHello -> server name, for the :443 proxy that routes by SNI and passes the
 * connection through untouched. The worker hands in whatever bytes it has received so far
 * and gets a verdict: the name, "need more bytes", or why there is no name. Pure: no
 * allocation, no logging, no globals, so any worker thread may call it; the input is only
 * read, never copied except the name.
 * Also the one TLS record the proxy ever writes itself: the unrecognized_name alert.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SNI_NAME_MAX 255
/* A hello may be spread over at most this many TLS records; real clients use one or two.
 * So a caller that allows max_hello handshake bytes needs at most
 * max_hello + SNI_RECORD_HEADER * SNI_RECORDS_MAX bytes of buffer to get a verdict. */
#define SNI_RECORDS_MAX 64
#define SNI_RECORD_HEADER 5
/* The largest TLS record payload (2^14, RFC 8446 §5.1). */
#define SNI_RECORD_PAYLOAD_MAX 16384

enum sni_status {
        SNI_OK, /* a complete, well-formed ClientHello with a valid host_name */
        SNI_NEED_MORE, /* everything so far is fine; the hello is not complete yet */
        SNI_ABSENT, /* a complete, well-formed ClientHello without a host_name */
        SNI_NOT_TLS, /* the first bytes are not a TLS handshake record (e.g. plain HTTP) */
        SNI_SSLV2, /* an SSLv2-compatible ClientHello: no extensions, so no SNI */
        SNI_INVALID, /* malformed */
        SNI_TOO_LARGE, /* the hello exceeds max_hello, or spans more than SNI_RECORDS_MAX records */
};

struct sni_result {
        char name[SNI_NAME_MAX + 1]; /* lower case, no trailing dot, NUL-terminated */
        size_t name_len;
};

/* Parses the ClientHello at the start of buf[0..len): one or more consecutive TLS
 * handshake records (content type 22) whose payloads, joined, start with the ClientHello
 * handshake message. max_hello bounds that message, its 4-byte header included (the proxy
 * uses 16384). Bytes after the end of the hello are ignored.
 *
 * Verdicts are final: once a prefix of the stream gets anything but SNI_NEED_MORE, every
 * longer prefix gets the same verdict (and the same name). SNI_OK only once the whole hello
 * has been received and checked. *out is written on SNI_OK only. */
enum sni_status sni_parse(const uint8_t *buf, size_t len, size_t max_hello, struct sni_result *out);

/* Checks a host name as SNI and Host carry it: 1..255 bytes of [A-Za-z0-9._-], no empty
 * label. Writes it lower-cased, without one trailing dot, NUL-terminated, to out and returns
 * its length; returns 0 (out untouched) if the name is not acceptable. */
size_t sni_name_normalize(const uint8_t *name, size_t len, char out[static SNI_NAME_MAX + 1]);

/* "need-more", "invalid", ...: for the caller's log lines. */
const char *sni_status_to_string(enum sni_status s);

/* Writes a fatal unrecognized_name(112) alert record (record version 3,1, understood by
 * every TLS version before negotiation) to out; returns its length, 7. */
size_t tls_alert_unrecognized_name(uint8_t out[static 7]);
