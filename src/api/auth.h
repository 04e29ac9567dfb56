/* SPDX-License-Identifier: MIT */
/*
 * Who may call the API over TCP, and how often. Three small parts the server combines:
 * the token format (egw_<16 hex key id>_<43 base64url secret>, stored as the SHA-256 of
 * the whole text, compared in constant time), an in-memory token cache (so a request
 * never reads SQLite; the store is consulted only when tokens change and, at most once a
 * minute per token, to record its last use), and token-bucket rate limiters keyed by
 * token name or client address, with bounded memory. Everything here is thread-safe and
 * free of I/O except the random source of auth_token_generate().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/resource.h"

#define AUTH_TOKEN_PREFIX "egw_"
#define AUTH_SECRET_LEN 43 /* 32 random bytes, base64url without padding */
#define AUTH_TOKEN_LEN (4 + TOKEN_KEY_ID_LEN + 1 + AUTH_SECRET_LEN) /* 64 */
#define AUTH_TOUCH_INTERVAL 60 /* seconds between last_used_at writes of one token */

/* A new random token (libcrypto's RAND_bytes): its text into ret_text, and its key id and
 * hash into rec (name, scopes and times are the caller's). Returns 0, or -EIO when the
 * random source fails (nothing usable is written then). */
int auth_token_generate(char ret_text[static AUTH_TOKEN_LEN + 1], struct token_rec *rec);

/* SHA-256 of the len bytes of text. */
void auth_token_hash(const char *text, size_t len, uint8_t ret[static TOKEN_HASH_LEN]);

/* Whether text is exactly a token: "egw_", 16 lower-case hex digits, "_", 43 characters of
 * [A-Za-z0-9_-]. Returns 0 with the key id in ret_key_id, or -EINVAL. Pure. */
int auth_token_parse(const char *text, char ret_key_id[static TOKEN_KEY_ID_LEN + 1]);

/* Whether text hashes to hash (CRYPTO_memcmp: the time does not depend on where they differ). */
bool auth_token_verify(const char *text, const uint8_t hash[static TOKEN_HASH_LEN]);

/* Whether two secrets are equal, in time independent of their contents and of the length
 * of the common prefix (both are hashed first). For the configured agent token. */
bool auth_secret_equal(const char *a, const char *b);

/* ---- the token cache ---- */
struct auth_tokens;
int auth_tokens_new(struct auth_tokens **ret); /* 0 or -ENOMEM */
struct auth_tokens *auth_tokens_free(struct auth_tokens *t); /* NULL-safe, returns NULL */
/* Replaces the cached tokens by copies of recs[0..n). Returns 0, or -ENOMEM (the old set
 * stays). */
int auth_tokens_set(struct auth_tokens *t, const struct token_rec *recs, size_t n);
size_t auth_tokens_count(struct auth_tokens *t);
/* Checks a presented token at time now (unix seconds). Returns 0 with the token's name,
 * datacenter restriction ("" = none) and scopes, and *ret_touch true when its last use should be written to the store (the first
 * use after AUTH_TOUCH_INTERVAL seconds; the cache then counts it as written). -EINVAL for
 * text that is not a token at all, -ENOENT for an unknown key id or a wrong secret. */
int auth_tokens_check(struct auth_tokens *t, const char *text, int64_t now, char ret_name[static TOKEN_NAME_MAX + 1],
                      char ret_datacenter[static TOKEN_DATACENTER_MAX + 1], uint32_t *ret_scopes, bool *ret_touch);

/* ---- rate limits ---- */
#define RATE_KEY_MAX 72
struct rate_limiter;
/* A limiter of rate requests per second per key with buckets of burst (>= 1) requests,
 * holding at most max_keys buckets. rate 0 = no limit. Returns 0 or -ENOMEM/-EINVAL. */
int rate_limiter_new(uint32_t rate, uint32_t burst, size_t max_keys, struct rate_limiter **ret);
struct rate_limiter *rate_limiter_free(struct rate_limiter *l); /* NULL-safe, returns NULL */
/* Changes rate and burst (a reload); existing buckets keep their level, capped at burst. */
void rate_limiter_configure(struct rate_limiter *l, uint32_t rate, uint32_t burst);
/* Takes one request from key's bucket at time now (seconds on a monotonic clock). Returns 0
 * when it may pass, else the whole seconds (>= 1) after which a retry would pass: the
 * Retry-After value. A bucket that refilled completely is the same as no bucket, so such
 * idle buckets are dropped when the table is full; if every bucket is busy, the fullest
 * one (the key closest to idle) is dropped to make room. */
unsigned rate_limiter_take(struct rate_limiter *l, const char *key, double now);
size_t rate_limiter_size(struct rate_limiter *l); /* buckets held (for tests) */
