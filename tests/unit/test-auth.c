/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of API access: the token format (generate, strict parse, hash, constant-time
 * verify), the token cache with its once-a-minute last-use touch, and the rate limiters
 * (refill, Retry-After, independent keys, bounded memory, reconfiguration).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api/auth.h"
#include "core/util.h"

static void test_generate(void **state) {
        char a[AUTH_TOKEN_LEN + 1], b[AUTH_TOKEN_LEN + 1];
        struct token_rec ra = {0}, rb = {0};
        assert_int_equal(auth_token_generate(a, &ra), 0);
        assert_int_equal(auth_token_generate(b, &rb), 0);
        assert_int_equal(strlen(a), 64);
        assert_memory_equal(a, "egw_", 4);
        assert_int_equal(a[20], '_');
        assert_string_not_equal(a, b);
        assert_string_not_equal(ra.key_id, rb.key_id);

        /* The key id inside the text is the record's, and the hash is of the whole text. */
        char key[TOKEN_KEY_ID_LEN + 1];
        assert_int_equal(auth_token_parse(a, key), 0);
        assert_string_equal(key, ra.key_id);
        assert_int_equal(strlen(ra.key_id), 16);
        uint8_t h[TOKEN_HASH_LEN];
        auth_token_hash(a, strlen(a), h);
        assert_memory_equal(h, ra.hash, TOKEN_HASH_LEN);
        assert_true(auth_token_verify(a, ra.hash));
        assert_false(auth_token_verify(b, ra.hash));
        assert_false(auth_token_verify(a, rb.hash));

        /* Many tokens: every one parses (the last secret character always has its low bits clear). */
        for (int i = 0; i < 200; i++) {
                struct token_rec r;
                assert_int_equal(auth_token_generate(a, &r), 0);
                assert_int_equal(auth_token_parse(a, key), 0);
        }
}

static void test_hash_vector(void **state) {
        /* SHA-256("abc"), FIPS 180-2. */
        static const uint8_t want[TOKEN_HASH_LEN] = {
                0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
                0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
        };
        uint8_t h[TOKEN_HASH_LEN];
        auth_token_hash("abc", 3, h);
        assert_memory_equal(h, want, TOKEN_HASH_LEN);
}

#define GOOD "egw_0123456789abcdef_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn-_0"

static void test_parse(void **state) {
        char key[TOKEN_KEY_ID_LEN + 1];
        assert_int_equal(strlen(GOOD), AUTH_TOKEN_LEN);
        assert_int_equal(auth_token_parse(GOOD, key), 0);
        assert_string_equal(key, "0123456789abcdef");

        static const char *const bad[] = {
                "",
                "egw_",
                "Egw_0123456789abcdef_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn-_0", /* prefix case */
                "egx_0123456789abcdef_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn-_0",
                "egw_0123456789ABCDEF_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn-_0", /* upper-case hex */
                "egw_0123456789abcdeg_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn-_0", /* not hex */
                "egw_0123456789abcdef-ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn-_0", /* separator */
                "egw_0123456789abcdef_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn+_0", /* '+' is base64, not base64url */
                "egw_0123456789abcdef_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn-/0",
                "egw_0123456789abcdef_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn-_=", /* padding */
                "egw_0123456789abcdef_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn-_1", /* last char low bits set */
                "egw_0123456789abcdef_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn-_",  /* short */
                "egw_0123456789abcdef_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn-_00", /* long */
                "egw_0123456789abcdef_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn-_0\n",
                " egw_0123456789abcdef_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn-_0",
                "egw_0123456789abcde_fABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn-_0",
                "egw_0123456789abcdef_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn-\xc3\xa9", /* unicode */
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                strcpy(key, "untouched");
                if (auth_token_parse(bad[i], key) != -EINVAL)
                        fail_msg("case %zu accepted: '%s'", i, bad[i]);
                assert_string_equal(key, "untouched");
        }
}

static void test_secret_equal(void **state) {
        assert_true(auth_secret_equal("agent-token-1234", "agent-token-1234"));
        assert_false(auth_secret_equal("agent-token-1234", "agent-token-1235"));
        assert_false(auth_secret_equal("agent-token-1234", "agent-token-12345"));
        assert_false(auth_secret_equal("agent-token-1234", ""));
}

/* A cached token named name with scopes, whose text goes to text. */
static struct token_rec make_token(const char *name, uint32_t scopes, char text[static AUTH_TOKEN_LEN + 1]) {
        struct token_rec r = {0};
        assert_int_equal(auth_token_generate(text, &r), 0);
        strcpy(r.name, name);
        r.scopes = scopes;
        r.created_at = 1000;
        return r;
}

static void test_cache(void **state) {
        struct auth_tokens *t = NULL;
        assert_int_equal(auth_tokens_new(&t), 0);
        char ta[AUTH_TOKEN_LEN + 1], tb[AUTH_TOKEN_LEN + 1], tc[AUTH_TOKEN_LEN + 1];
        struct token_rec recs[3] = {
                make_token("ci", SCOPE_READ | SCOPE_VMS, ta),
                make_token("ops", SCOPE_ADMIN, tb),
                make_token("gone", SCOPE_READ, tc),
        };
        recs[1].last_used_at = 5000;
        strcpy(recs[1].datacenter, "dc-lk");
        assert_int_equal(auth_tokens_set(t, recs, 3), 0);
        assert_int_equal(auth_tokens_count(t), 3);

        char name[TOKEN_NAME_MAX + 1], dc[TOKEN_DATACENTER_MAX + 1];
        uint32_t scopes = 0;
        bool touch = false;
        assert_int_equal(auth_tokens_check(t, ta, 10000, name, dc, &scopes, &touch), 0);
        assert_string_equal(name, "ci");
        assert_string_equal(dc, "");
        assert_int_equal(scopes, SCOPE_READ | SCOPE_VMS);
        assert_true(touch); /* never used */
        /* Within the interval no second write; after it, one. */
        assert_int_equal(auth_tokens_check(t, ta, 10000 + AUTH_TOUCH_INTERVAL - 1, name, dc, &scopes, &touch), 0);
        assert_false(touch);
        assert_int_equal(auth_tokens_check(t, ta, 10000 + AUTH_TOUCH_INTERVAL, name, dc, &scopes, &touch), 0);
        assert_true(touch);

        /* The stored last use counts: used at 5000, so 5030 writes nothing. */
        assert_int_equal(auth_tokens_check(t, tb, 5030, name, dc, &scopes, &touch), 0);
        assert_string_equal(name, "ops");
        assert_string_equal(dc, "dc-lk"); /* the token's datacenter restriction comes with it */
        assert_int_equal(scopes, SCOPE_ADMIN);
        assert_false(touch);

        /* A right key id with a wrong secret, an unknown key id, and no token at all. */
        char wrong[AUTH_TOKEN_LEN + 1];
        strcpy(wrong, ta);
        wrong[30] = wrong[30] == 'A' ? 'B' : 'A';
        assert_int_equal(auth_tokens_check(t, wrong, 10000, name, dc, &scopes, &touch), -ENOENT);
        char other[AUTH_TOKEN_LEN + 1];
        struct token_rec unknown;
        assert_int_equal(auth_token_generate(other, &unknown), 0);
        assert_int_equal(auth_tokens_check(t, other, 10000, name, dc, &scopes, &touch), -ENOENT);
        assert_int_equal(auth_tokens_check(t, "secret", 10000, name, dc, &scopes, &touch), -EINVAL);
        assert_int_equal(auth_tokens_check(t, "", 10000, name, dc, &scopes, &touch), -EINVAL);

        /* A reload without "gone" revokes it at once. */
        assert_int_equal(auth_tokens_set(t, recs, 2), 0);
        assert_int_equal(auth_tokens_check(t, tc, 10000, name, dc, &scopes, &touch), -ENOENT);
        assert_int_equal(auth_tokens_check(t, tb, 10000, name, dc, &scopes, &touch), 0);
        assert_int_equal(auth_tokens_set(t, NULL, 0), 0);
        assert_int_equal(auth_tokens_count(t), 0);
        assert_int_equal(auth_tokens_check(t, tb, 10000, name, dc, &scopes, &touch), -ENOENT);
        t = auth_tokens_free(t);
        assert_null(t);
        assert_null(auth_tokens_free(NULL));
}

static void test_rate_basic(void **state) {
        struct rate_limiter *l = NULL;
        assert_int_equal(rate_limiter_new(2, 3, 100, &l), 0);
        /* A burst of 3 passes at once; the 4th waits for half a second, rounded up. */
        for (int i = 0; i < 3; i++)
                assert_int_equal(rate_limiter_take(l, "token:a", 100.0), 0);
        assert_int_equal(rate_limiter_take(l, "token:a", 100.0), 1);
        assert_int_equal(rate_limiter_take(l, "token:a", 100.2), 1);
        /* Refilled at 2/s: by 100.5 one request is back. */
        assert_int_equal(rate_limiter_take(l, "token:a", 100.5), 0);
        assert_int_equal(rate_limiter_take(l, "token:a", 100.5), 1);
        /* Another key has its own bucket. */
        assert_int_equal(rate_limiter_take(l, "token:b", 100.5), 0);
        /* Refusals do not dig a hole: a client that hammers still gets in after 1/rate. */
        for (int i = 0; i < 50; i++)
                rate_limiter_take(l, "token:a", 100.6);
        assert_int_equal(rate_limiter_take(l, "token:a", 101.1), 0);
        /* A long pause refills only up to the burst. */
        for (int i = 0; i < 3; i++)
                assert_int_equal(rate_limiter_take(l, "token:a", 1000.0), 0);
        assert_int_equal(rate_limiter_take(l, "token:a", 1000.0), 1);
        /* A clock that goes backwards is treated as no time passing. */
        assert_int_equal(rate_limiter_take(l, "token:a", 900.0), 1);
        l = rate_limiter_free(l);

        /* A slow rate says how long to wait. */
        assert_int_equal(rate_limiter_new(1, 1, 100, &l), 0);
        assert_int_equal(rate_limiter_take(l, "x", 0), 0);
        assert_int_equal(rate_limiter_take(l, "x", 0), 1);
        rate_limiter_configure(l, 1, 1);
        l = rate_limiter_free(l);

        /* Rate 0: no limit and no memory. */
        assert_int_equal(rate_limiter_new(0, 1, 100, &l), 0);
        for (int i = 0; i < 1000; i++)
                assert_int_equal(rate_limiter_take(l, "x", 0), 0);
        assert_int_equal(rate_limiter_size(l), 0);
        l = rate_limiter_free(l);
        assert_int_equal(rate_limiter_new(1, 0, 100, &l), -EINVAL);
        assert_null(rate_limiter_free(NULL));
}

static void test_rate_bounded(void **state) {
        struct rate_limiter *l = NULL;
        assert_int_equal(rate_limiter_new(1, 2, 4, &l), 0);
        char key[32];
        /* Four busy keys (each used its whole burst) fill the table. */
        for (int i = 0; i < 4; i++) {
                snprintf(key, sizeof key, "10.0.0.%d", i);
                assert_int_equal(rate_limiter_take(l, key, 10.0), 0);
                assert_int_equal(rate_limiter_take(l, key, 10.0), 0);
        }
        assert_int_equal(rate_limiter_size(l), 4);
        /* The others spend what they got back by 11; 10.0.0.2 does not: the fullest bucket. */
        for (int i = 0; i < 4; i++) {
                if (i == 2)
                        continue;
                snprintf(key, sizeof key, "10.0.0.%d", i);
                assert_int_equal(rate_limiter_take(l, key, 11.0), 0);
        }
        /* A fifth key: nothing is idle, so the fullest bucket (10.0.0.2) makes room. */
        assert_int_equal(rate_limiter_take(l, "10.0.0.9", 11.0), 0);
        assert_int_equal(rate_limiter_size(l), 4);
        assert_int_equal(rate_limiter_take(l, "10.0.0.0", 11.0), 1); /* still limited: not evicted */
        assert_int_equal(rate_limiter_take(l, "10.0.0.1", 11.0), 1);
        assert_int_equal(rate_limiter_take(l, "10.0.0.3", 11.0), 1);
        /* Later every bucket has refilled: a new key drops all the idle ones. */
        assert_int_equal(rate_limiter_take(l, "10.0.0.10", 100.0), 0);
        assert_int_equal(rate_limiter_size(l), 1);

        /* Long keys share a bucket by their prefix instead of growing memory. */
        char long1[200], long2[200];
        memset(long1, 'a', 199);
        long1[199] = '\0';
        strcpy(long2, long1);
        long2[198] = 'b';
        assert_int_equal(rate_limiter_take(l, long1, 100.0), 0);
        assert_int_equal(rate_limiter_take(l, long2, 100.0), 0);
        assert_int_equal(rate_limiter_take(l, long1, 100.0), 1);

        /* A lower burst caps the level of existing buckets. */
        rate_limiter_configure(l, 1, 1);
        assert_int_equal(rate_limiter_take(l, "10.0.0.10", 200.0), 0);
        assert_int_equal(rate_limiter_take(l, "10.0.0.10", 200.0), 1);
        l = rate_limiter_free(l);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_generate),   cmocka_unit_test(test_hash_vector),
                cmocka_unit_test(test_parse),      cmocka_unit_test(test_secret_equal),
                cmocka_unit_test(test_cache),      cmocka_unit_test(test_rate_basic),
                cmocka_unit_test(test_rate_bounded),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
