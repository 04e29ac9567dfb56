/* SPDX-License-Identifier: MIT */
/*
 * Tokens (format, hash, constant-time check), the token cache the TCP listener consults on
 * every request, and the per-token / per-address rate limiters. See auth.h.
 */
#include "auth.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hashmap.h"
#include "core/util.h"

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url without padding of n bytes into out (4 * n / 3 rounded up, plus a NUL). */
static void base64url_encode(const uint8_t *in, size_t n, char *out) {
        size_t o = 0;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t)in[i] << 16;
                if (i + 1 < n)
                        v |= (uint32_t)in[i + 1] << 8;
                if (i + 2 < n)
                        v |= in[i + 2];
                size_t chars = n - i >= 3 ? 4 : n - i + 1;
                for (size_t k = 0; k < chars; k++)
                        out[o++] = b64url[(v >> (18 - 6 * k)) & 0x3f];
        }
        out[o] = '\0';
}

void auth_token_hash(const char *text, size_t len, uint8_t ret[static TOKEN_HASH_LEN]) {
        unsigned int n = TOKEN_HASH_LEN;
        /* EVP_Digest cannot fail for SHA-256 short of memory exhaustion inside libcrypto;
         * a zeroed hash then matches nothing that was generated. */
        if (EVP_Digest(text, len, ret, &n, EVP_sha256(), NULL) != 1)
                memset(ret, 0, TOKEN_HASH_LEN);
}

int auth_token_generate(char ret_text[static AUTH_TOKEN_LEN + 1], struct token_rec *rec) {
        uint8_t key[TOKEN_KEY_ID_LEN / 2], secret[32];
        if (RAND_bytes(key, sizeof key) != 1 || RAND_bytes(secret, sizeof secret) != 1)
                return -EIO;
        char key_hex[TOKEN_KEY_ID_LEN + 1], secret_text[AUTH_SECRET_LEN + 1];
        for (size_t i = 0; i < sizeof key; i++)
                snprintf(key_hex + 2 * i, 3, "%02x", key[i]);
        base64url_encode(secret, sizeof secret, secret_text);
        OPENSSL_cleanse(secret, sizeof secret);
        snprintf(ret_text, AUTH_TOKEN_LEN + 1, AUTH_TOKEN_PREFIX "%s_%s", key_hex, secret_text);
        OPENSSL_cleanse(secret_text, sizeof secret_text);
        memcpy(rec->key_id, key_hex, sizeof key_hex);
        auth_token_hash(ret_text, AUTH_TOKEN_LEN, rec->hash);
        return 0;
}

static bool is_b64url(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int auth_token_parse(const char *text, char ret_key_id[static TOKEN_KEY_ID_LEN + 1]) {
        const size_t pre = strlen(AUTH_TOKEN_PREFIX);
        if (strnlen(text, AUTH_TOKEN_LEN + 1) != AUTH_TOKEN_LEN || memcmp(text, AUTH_TOKEN_PREFIX, pre) != 0)
                return -EINVAL;
        const char *key = text + pre, *secret = key + TOKEN_KEY_ID_LEN + 1;
        for (size_t i = 0; i < TOKEN_KEY_ID_LEN; i++)
                if (!((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f')))
                        return -EINVAL;
        if (key[TOKEN_KEY_ID_LEN] != '_')
                return -EINVAL;
        for (size_t i = 0; i < AUTH_SECRET_LEN; i++)
                if (!is_b64url(secret[i]))
                        return -EINVAL;
        /* 43 characters carry 258 bits: the last one may only hold 4 (its low 2 bits zero),
         * so each secret has exactly one text. */
        if ((strchr(b64url, secret[AUTH_SECRET_LEN - 1]) - b64url) & 3)
                return -EINVAL;
        memcpy(ret_key_id, key, TOKEN_KEY_ID_LEN);
        ret_key_id[TOKEN_KEY_ID_LEN] = '\0';
        return 0;
}

bool auth_token_verify(const char *text, const uint8_t hash[static TOKEN_HASH_LEN]) {
        uint8_t h[TOKEN_HASH_LEN];
        auth_token_hash(text, strlen(text), h);
        return CRYPTO_memcmp(h, hash, TOKEN_HASH_LEN) == 0;
}

bool auth_secret_equal(const char *a, const char *b) {
        uint8_t ha[TOKEN_HASH_LEN], hb[TOKEN_HASH_LEN];
        auth_token_hash(a, strlen(a), ha);
        auth_token_hash(b, strlen(b), hb);
        return CRYPTO_memcmp(ha, hb, TOKEN_HASH_LEN) == 0;
}

/* ---- the token cache ---- */

struct auth_tokens {
        pthread_mutex_t lock;
        struct token_rec *recs; /* sorted by key_id */
        size_t n;
};

int auth_tokens_new(struct auth_tokens **ret) {
        struct auth_tokens *t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        pthread_mutex_init(&t->lock, NULL);
        *ret = t;
        return 0;
}

struct auth_tokens *auth_tokens_free(struct auth_tokens *t) {
        if (!t)
                return NULL;
        pthread_mutex_destroy(&t->lock);
        free(t->recs);
        free(t);
        return NULL;
}

static int rec_cmp(const void *a, const void *b) {
        return strcmp(((const struct token_rec *)a)->key_id, ((const struct token_rec *)b)->key_id);
}

int auth_tokens_set(struct auth_tokens *t, const struct token_rec *recs, size_t n) {
        struct token_rec *copy = NULL;
        if (n) {
                copy = malloc(n * sizeof *copy);
                if (!copy)
                        return -ENOMEM;
                memcpy(copy, recs, n * sizeof *copy);
                qsort(copy, n, sizeof *copy, rec_cmp);
        }
        pthread_mutex_lock(&t->lock);
        struct token_rec *old = t->recs;
        t->recs = copy;
        t->n = n;
        pthread_mutex_unlock(&t->lock);
        free(old);
        return 0;
}

size_t auth_tokens_count(struct auth_tokens *t) {
        pthread_mutex_lock(&t->lock);
        size_t n = t->n;
        pthread_mutex_unlock(&t->lock);
        return n;
}

int auth_tokens_check(struct auth_tokens *t, const char *text, int64_t now, char ret_name[static TOKEN_NAME_MAX + 1],
                      char ret_datacenter[static TOKEN_DATACENTER_MAX + 1], uint32_t *ret_scopes, bool *ret_touch) {
        struct token_rec key = {0};
        if (auth_token_parse(text, key.key_id) < 0)
                return -EINVAL;
        uint8_t h[TOKEN_HASH_LEN];
        auth_token_hash(text, AUTH_TOKEN_LEN, h);

        int r = -ENOENT;
        pthread_mutex_lock(&t->lock);
        struct token_rec *rec = t->n ? bsearch(&key, t->recs, t->n, sizeof *t->recs, rec_cmp) : NULL;
        if (rec && CRYPTO_memcmp(h, rec->hash, TOKEN_HASH_LEN) == 0) {
                strcpy(ret_name, rec->name);
                strcpy(ret_datacenter, rec->datacenter);
                *ret_scopes = rec->scopes;
                *ret_touch = rec->last_used_at == 0 || now - rec->last_used_at >= AUTH_TOUCH_INTERVAL;
                if (*ret_touch)
                        rec->last_used_at = now;
                r = 0;
        }
        pthread_mutex_unlock(&t->lock);
        return r;
}

/* ---- rate limits ---- */

struct bucket {
        double level; /* requests available */
        double at; /* when level was computed */
        char key[RATE_KEY_MAX];
};

struct rate_limiter {
        pthread_mutex_t lock;
        double rate, burst;
        size_t max_keys;
        struct hashmap *buckets; /* key -> struct bucket (owned) */
};

int rate_limiter_new(uint32_t rate, uint32_t burst, size_t max_keys, struct rate_limiter **ret) {
        if (!burst || !max_keys)
                return -EINVAL;
        struct rate_limiter *l = calloc(1, sizeof *l);
        if (!l)
                return -ENOMEM;
        if (hashmap_new(&l->buckets) < 0) {
                free(l);
                return -ENOMEM;
        }
        pthread_mutex_init(&l->lock, NULL);
        l->rate = rate;
        l->burst = burst;
        l->max_keys = max_keys;
        *ret = l;
        return 0;
}

static void buckets_clear(struct rate_limiter *l) {
        size_t i = 0;
        const char *k;
        void *v;
        while (hashmap_next(l->buckets, &i, &k, &v))
                free(v);
}

struct rate_limiter *rate_limiter_free(struct rate_limiter *l) {
        if (!l)
                return NULL;
        buckets_clear(l);
        hashmap_free(l->buckets);
        pthread_mutex_destroy(&l->lock);
        free(l);
        return NULL;
}

void rate_limiter_configure(struct rate_limiter *l, uint32_t rate, uint32_t burst) {
        pthread_mutex_lock(&l->lock);
        l->rate = rate;
        l->burst = burst ? burst : 1;
        size_t i = 0;
        const char *k;
        void *v;
        while (hashmap_next(l->buckets, &i, &k, &v)) {
                struct bucket *b = v;
                if (b->level > l->burst)
                        b->level = l->burst;
        }
        pthread_mutex_unlock(&l->lock);
}

static double bucket_level(const struct rate_limiter *l, const struct bucket *b, double now) {
        double level = b->level + (now > b->at ? (now - b->at) * l->rate : 0);
        return level > l->burst ? l->burst : level;
}

/* Makes room for one more bucket: drops every idle (refilled) bucket, or, when none is
 * idle, the fullest one. Returns 0 or -ENOMEM. */
static int buckets_make_room(struct rate_limiter *l, double now) {
        size_t n = hashmap_size(l->buckets), n_drop = 0, i = 0;
        struct bucket **drop = malloc(n * sizeof *drop);
        if (!drop)
                return -ENOMEM;
        struct bucket *fullest = NULL;
        double fullest_level = -1;
        const char *k;
        void *v;
        while (hashmap_next(l->buckets, &i, &k, &v)) {
                struct bucket *b = v;
                double level = bucket_level(l, b, now);
                if (level >= l->burst)
                        drop[n_drop++] = b;
                else if (level > fullest_level) {
                        fullest = b;
                        fullest_level = level;
                }
        }
        if (!n_drop && fullest)
                drop[n_drop++] = fullest;
        for (size_t d = 0; d < n_drop; d++) {
                hashmap_remove(l->buckets, drop[d]->key);
                free(drop[d]);
        }
        free(drop);
        return 0;
}

unsigned rate_limiter_take(struct rate_limiter *l, const char *key, double now) {
        unsigned wait = 0;
        char k[RATE_KEY_MAX];
        snprintf(k, sizeof k, "%s", key); /* longer keys share their first RATE_KEY_MAX - 1 bytes */
        pthread_mutex_lock(&l->lock);
        if (l->rate <= 0)
                goto out;
        struct bucket *b = hashmap_get(l->buckets, k);
        if (!b) {
                if (hashmap_size(l->buckets) >= l->max_keys && buckets_make_room(l, now) < 0)
                        goto out; /* out of memory: rather let a request through than refuse all */
                b = calloc(1, sizeof *b);
                if (!b)
                        goto out;
                memcpy(b->key, k, sizeof k);
                b->level = l->burst;
                b->at = now;
                if (hashmap_put(l->buckets, b->key, b) < 0) {
                        free(b);
                        goto out;
                }
        }
        b->level = bucket_level(l, b, now);
        if (now > b->at)
                b->at = now;
        if (b->level >= 1) {
                b->level -= 1;
                goto out;
        }
        double secs = (1 - b->level) / l->rate;
        wait = secs >= 86400 ? 86400 : (unsigned)secs;
        if (wait < secs || wait == 0)
                wait++;
out:
        pthread_mutex_unlock(&l->lock);
        return wait;
}

size_t rate_limiter_size(struct rate_limiter *l) {
        pthread_mutex_lock(&l->lock);
        size_t n = hashmap_size(l->buckets);
        pthread_mutex_unlock(&l->lock);
        return n;
}
