/* SPDX-License-Identifier: MIT */
/*
 * TSIG (RFC 8945) with hmac-sha256 for the rfc2136 provider: signs a message built with
 * dns/wire.h and verifies the server's signed response. The HMAC itself is the caller's
 * (a function pointer in the key), so the core library stays free of libcrypto; the daemon
 * passes one built on OpenSSL. Pure otherwise: no allocation, logging or globals.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define DNS_TSIG_MAC_SIZE 32 /* hmac-sha256, never truncated */
#define DNS_TSIG_FUDGE 300
#define DNS_TSIG_ALGORITHM "hmac-sha256"
/* The most a TSIG RR adds to a message: a 255-byte key name, the 13-byte algorithm name,
 * type, class, TTL, rdlength and the fixed fields and MAC. */
#define DNS_TSIG_RR_MAX (DNS_NAME_WIRE_MAX + 10 + 13 + 16 + DNS_TSIG_MAC_SIZE)

struct dns_span {
        const uint8_t *data;
        size_t len;
};

/* HMAC-SHA256 with key over the concatenation of parts[0..n_parts). Returns 0 and writes
 * out, or a negative errno. Called from the thread that calls sign/verify. */
typedef int (*dns_hmac_sha256_fn)(void *userdata, const uint8_t *key, size_t key_len, const struct dns_span *parts,
                                  size_t n_parts, uint8_t out[static DNS_TSIG_MAC_SIZE]);

/* Borrowed by sign/verify for the duration of the call. */
struct dns_tsig_key {
        const char *name; /* e.g. "edgegw-key" */
        const uint8_t *secret; /* the decoded (not base64) secret */
        size_t secret_len;
        dns_hmac_sha256_fn hmac;
        void *userdata;
};

/* Appends a TSIG RR signed at time_signed (seconds since the epoch, 48 bits) with fudge
 * 300 to the message buf[0..*len) (of capacity cap) and increments its ARCOUNT. On success
 * returns 0, sets *len to the new length and writes the MAC to ret_mac, which the caller
 * keeps to verify the response. On failure (-EINVAL: bad key name or message, -ENOBUFS,
 * or the HMAC's error) buf, *len and ret_mac are untouched. */
int dns_tsig_sign(uint8_t *buf, size_t cap, size_t *len, const struct dns_tsig_key *key, uint64_t time_signed,
                  uint8_t ret_mac[static DNS_TSIG_MAC_SIZE]);

enum dns_tsig_status {
        DNS_TSIG_OK,
        DNS_TSIG_UNSIGNED, /* no TSIG, or one without a MAC (what servers send with BADKEY/BADSIG) */
        DNS_TSIG_WRONG_KEY, /* another key name or algorithm */
        DNS_TSIG_BAD_MAC, /* the MAC does not verify (or is truncated) */
        DNS_TSIG_BAD_TIME, /* the MAC verifies but time signed is outside now +- fudge */
        DNS_TSIG_HMAC_FAILED, /* the caller's HMAC function failed */
};

/* Verifies the TSIG of the response msg[0..len), which dns_response_parse() parsed into *r
 * (status other than MALFORMED, NOT_RESPONSE, ID_MISMATCH or TRUNCATED), against the MAC
 * of our request: HMAC over the request MAC, the response without its TSIG (ARCOUNT one
 * less, the original id) and the TSIG variables (RFC 8945 §4.3.3, §5.3). The MAC is
 * compared in constant time. A response whose server reported BADKEY or BADSIG is unsigned:
 * check r->status first. */
enum dns_tsig_status dns_tsig_verify(const uint8_t *msg, size_t len, const struct dns_response *r,
                                     const struct dns_tsig_key *key,
                                     const uint8_t request_mac[static DNS_TSIG_MAC_SIZE], uint64_t now);

const char *dns_tsig_status_to_string(enum dns_tsig_status s);
