/* SPDX-License-Identifier: MIT */
/*
 * PROXY protocol headers (haproxy's proxy-protocol.txt, v1 text and v2 binary) that the
 * proxy sends first on a backend connection, so the VM sees the client's address rather
 * than the gateway's. Pure renderers: addresses in, bytes out; no allocation, no I/O, no
 * globals, so any thread may call them.
 *
 * Both versions send an IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a dual-stack
 * listener reports for an IPv4 client) as the plain IPv4 address it is, so a backend never
 * sees "::ffff:203.0.113.7" where it expects "203.0.113.7". The family is decided after
 * that unmapping: both IPv4 -> TCP4, both IPv6 -> TCP6.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* The longest headers these functions write: v1 TCP6 with a NUL (the spec's 108-byte
 * buffer), v2 TCP6 (16 + 36). */
#define PROXY_V1_MAX 108
#define PROXY_V2_MAX 52

/* Writes a v2 header for a TCP connection from src to dst (AF_INET or AF_INET6 sockaddrs,
 * ports included): command PROXY, family TCP4 (28 bytes) or TCP6 (52 bytes). When one side
 * is IPv4 and the other a real IPv6 address, writes the 16-byte PROXY/UNSPEC header (the v2
 * counterpart of v1's UNKNOWN: the backend uses the connection's own addresses). Returns
 * the length, -ENOSPC if it does not fit in n bytes (out untouched), or -EAFNOSUPPORT if
 * either address is NULL or of another family; the caller decides what to do then. */
ssize_t proxy_v2_build(const struct sockaddr *src, const struct sockaddr *dst, uint8_t *out, size_t n);

/* Writes a v1 line "PROXY TCP4 src dst sport dport\r\n" (or TCP6) as a NUL-terminated
 * string; "PROXY UNKNOWN\r\n" when the families differ or are not IPv4/IPv6 (or either is
 * NULL). Returns the length without the NUL, or -ENOSPC if it does not fit in n bytes (out
 * untouched). */
ssize_t proxy_v1_build(const struct sockaddr *src, const struct sockaddr *dst, char *out, size_t n);
