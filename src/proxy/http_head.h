/* SPDX-License-Identifier: MIT */
/*
 * HTTP/1.x request head -> Host and target, for the :80 side of the proxy: it answers a
 * 301 to https, or passes the connection through to a VM by Host (ACME HTTP-01). Strict
 * about framing (CRLF only, no obs-fold, one Host) so that what the proxy routes on is what
 * the VM will read. Also renders the few responses the proxy sends itself. Pure: no
 * allocation, no logging, no globals (any thread may call it); nothing is copied out of
 * the input except the host.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "tls_sni.h"

#define HTTP_HOST_MAX SNI_NAME_MAX

enum http_head_status {
        HTTP_HEAD_OK,
        HTTP_HEAD_NEED_MORE, /* nothing wrong so far; the blank line has not arrived */
        HTTP_HEAD_BAD, /* malformed: answer 400 */
        HTTP_HEAD_TOO_LARGE, /* no blank line within max_head bytes: answer 431 */
        HTTP_HEAD_NO_HOST, /* well-formed but no host to route on: answer 400 */
};

struct http_head {
        size_t head_len; /* request line and headers, through the blank line */
        const char *method; /* points into the input; not NUL-terminated */
        size_t method_len;
        /* Points into the input. Origin-form: "/path?query" as sent. Absolute-form: what
         * follows the authority ("/path", "?query" or empty). OPTIONS: may be "*". */
        const char *target;
        size_t target_len;
        /* Lower case, port stripped, no trailing dot; an IPv6 literal keeps its brackets
         * ("[2001:db8::1]"). NUL-terminated; empty on HTTP_HEAD_NO_HOST. */
        char host[HTTP_HOST_MAX + 1];
        size_t host_len;
        int version_minor; /* HTTP/1.x */
};

/* Parses the request head at the start of buf[0..len). Only the first max_head bytes are
 * looked at (the proxy uses 8192). Request line "METHOD SP target SP HTTP/1.x", header
 * lines "name: value", every line ending in CRLF; bare CR or LF, obs-fold, whitespace before
 * a colon, control bytes and more than one Host header are HTTP_HEAD_BAD. The target is
 * origin-form ("/..."), absolute-form ("http://" or "https://" authority), or "*" for
 * OPTIONS. The host comes from an absolute-form target if there is one (RFC 9112 §3.2.2),
 * else from Host; a Host header is still validated when the target carries the host.
 * A request without a usable host is HTTP_HEAD_NO_HOST: no Host in HTTP/1.1 (RFC 9112
 * §3.2 wants it even with an absolute-form target), no Host and no absolute-form target in
 * HTTP/1.0, or an empty Host in HTTP/1.0. An empty Host in HTTP/1.1 is HTTP_HEAD_BAD.
 *
 * Verdicts are final: once a prefix gets anything but HTTP_HEAD_NEED_MORE, every longer
 * prefix gets the same. *out is written on HTTP_HEAD_OK and HTTP_HEAD_NO_HOST only. */
enum http_head_status http_head_parse(const uint8_t *buf, size_t len, size_t max_head, struct http_head *out);

/* "ok", "need-more", "bad", ...: for the caller's log lines. */
const char *http_head_status_to_string(enum http_head_status s);

/* Writes the 301 to https://HOST/PATH for a head parsed as HTTP_HEAD_OK (HOST without the
 * port; PATH the target, with a leading "/" added when it has none, "/" for "*") to out as
 * a NUL-terminated string. Returns its length without the NUL, -ENOSPC if it does not fit
 * in n bytes (out untouched), or -EINVAL if h has no host. */
int http_redirect_build(const struct http_head *h, char *out, size_t n);

/* Writes a minimal complete response for status 400, 403, 404, 408, 414, 421, 431, 502,
 * 503 or 504 ("Connection: close", a text/plain body of the reason phrase and a newline)
 * to out as a NUL-terminated string. Returns its length without the NUL, -ENOSPC if it
 * does not fit in n bytes (out untouched), or -EINVAL for another status. */
int http_error_build(unsigned status, char *out, size_t n);
