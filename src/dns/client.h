/* SPDX-License-Identifier: MIT */
/*
 * The network half of the rfc2136 provider (issue 5), daemon side: sends one DNS message
 * built with dns/wire.h to the authoritative server (UDP with a timeout and one retry, TCP
 * when the answer is truncated), signs it with TSIG hmac-sha256 and verifies the signed
 * answer. Also the OpenSSL HMAC that dns/tsig.h takes as a function pointer and the reader
 * of TSIG secret files. Links libcrypto, so it is built with the daemon, not in the core.
 * Nothing here logs: every failure comes back as a status plus a short text for the
 * caller's log line, and that text never contains the secret.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tsig.h"
#include "wire.h"

#define DNS_CLIENT_SECRET_MAX 128 /* bytes of decoded secret */
#define DNS_CLIENT_ERROR_MAX 200
#define DNS_CLIENT_TIMEOUT_MS_DEFAULT 2000

/* HMAC-SHA256 on libcrypto (EVP_MAC), a dns_hmac_sha256_fn; userdata is unused. Any thread. */
int dns_hmac_sha256_openssl(void *userdata, const uint8_t *key, size_t key_len, const struct dns_span *parts,
                            size_t n_parts, uint8_t out[static DNS_TSIG_MAC_SIZE]);

/* A TSIG key read from a file. Clear it with dns_tsig_secret_clear() when done. */
struct dns_tsig_secret {
        char name[DNS_NAME_TEXT_MAX + 1]; /* from the file ("" for a bare base64 line) */
        uint8_t secret[DNS_CLIENT_SECRET_MAX];
        size_t secret_len;
};

/* Reads a TSIG secret from path. Accepted: a BIND key file (key "NAME" { algorithm
 * hmac-sha256; secret "BASE64"; };), a Knot key file (key: - id: NAME / algorithm:
 * hmac-sha256 / secret: BASE64, as keymgr -t prints it), or a single line holding the base64
 * secret. Base64 is decoded strictly (padding, no stray characters). Returns 0 and fills
 * *ret; or -errno from open/read, -EBADMSG (no secret found, or bad base64), -EFBIG (file
 * or secret too large), -EPROTONOSUPPORT (an algorithm other than hmac-sha256). *ret is
 * untouched on failure and nothing of the secret is left in memory this function owns. */
int dns_tsig_secret_read(const char *path, struct dns_tsig_secret *ret);

/* Strict base64 (RFC 4648 §4, padding required): decodes text[0..len) into out (of cap
 * bytes), returns the number of bytes or -EBADMSG / -ENOBUFS. */
int dns_base64_decode(const char *text, size_t len, uint8_t *out, size_t cap);

/* Overwrites the secret (OPENSSL_cleanse). NULL-safe. */
void dns_tsig_secret_clear(struct dns_tsig_secret *s);

/* Parses "ADDR", "ADDR:PORT", "[V6ADDR]" or "[V6ADDR]:PORT" (numeric addresses only; port 53
 * when none is given). Returns 0 and fills *ret / *ret_len, or -EINVAL. */
int dns_client_parse_server(const char *text, struct sockaddr_storage *ret, socklen_t *ret_len);

struct dns_client {
        struct sockaddr_storage server;
        socklen_t server_len;
        unsigned timeout_ms; /* per UDP attempt (there are two), and for the whole TCP exchange */
        const struct dns_tsig_key *key; /* borrowed; NULL: send unsigned, accept unsigned */
};

enum dns_client_status {
        DNS_CLIENT_OK, /* a (verified, if signed) answer; resp.status holds NOERROR, NXDOMAIN,
                        * YXDOMAIN, YXRRSET or NXRRSET for the caller to interpret */
        DNS_CLIENT_TIMEOUT, /* no answer to either UDP attempt, or TCP timed out */
        DNS_CLIENT_REFUSED, /* rcode REFUSED (e.g. the server's ACL) */
        DNS_CLIENT_NOTAUTH, /* rcode NOTAUTH or NOTZONE: the server is not authoritative for
                             * the zone, or rejected the TSIG without an error code */
        DNS_CLIENT_BADKEY, /* the server does not know our key, or the answer is signed with
                            * another key */
        DNS_CLIENT_BADSIG, /* the server rejected our MAC, or the answer's MAC does not verify
                            * (or the answer to a signed request is unsigned) */
        DNS_CLIENT_BADTIME, /* the server's clock and ours differ by more than the fudge */
        DNS_CLIENT_MALFORMED, /* an answer we cannot read, or an unexpected one over TCP */
        DNS_CLIENT_SERVER_ERROR, /* another rcode: SERVFAIL, FORMERR, NOTIMP, ... (resp) */
        DNS_CLIENT_NETWORK, /* a socket error (no route, TCP connection refused, ...) */
        DNS_CLIENT_INVALID, /* our side: a message that does not fit or cannot be signed */
};

struct dns_client_result {
        enum dns_client_status status;
        uint16_t id; /* the id the message was sent with */
        unsigned udp_attempts; /* 0..2 */
        bool tcp; /* the answer came over TCP (after TC) */
        bool answered; /* resp holds a parsed answer (its TSIG verified only if status is OK) */
        struct dns_response resp;
        char error[DNS_CLIENT_ERROR_MAX]; /* for the log: what happened, never the secret */
};

/* Sends msg[0..len), a complete unsigned message built with dns/wire.h (its id is ignored),
 * to c->server and waits for the answer. The message is copied; the copy gets a fresh
 * random id and, if c->key is set, a TSIG RR signed now. Sent over UDP from an unconnected
 * socket (answers from any other address are ignored, as are answers with another id),
 * resent once after c->timeout_ms without an answer, and resent over TCP (2-byte length
 * prefix) if the answer has TC set. The answer's TSIG is verified against the request's MAC.
 * Blocks for at most about 3 * c->timeout_ms. Returns the status, also in out->status, with
 * out->error set for every status but OK. Any thread; c is only read. */
enum dns_client_status dns_client_exchange(const struct dns_client *c, const uint8_t *msg, size_t len,
                                           struct dns_client_result *out);

/* "ok", "timeout", "refused", "notauth", "badkey", "badsig", "badtime", "malformed",
 * "server-error", "network", "invalid". */
const char *dns_client_status_to_string(enum dns_client_status s);
