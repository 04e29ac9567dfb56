/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of slug generation with injected randomness: exact slugs from known bytes,
 * rejection of the biased bytes 252..255, the alphabet and length, errors from the random
 * source, and the distribution over many draws.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "core/util.h"
#include "model/slug.h"
#include "model/vm.h"

static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";

/* A byte stream: the script first, then `pad` forever. However many bytes slug_generate
 * asks for at a time, it sees the same sequence. */
struct script {
        const uint8_t *bytes;
        size_t len, pos;
        uint8_t pad;
        unsigned calls;
};

static int script_random(void *userdata, uint8_t *buf, size_t n) {
        struct script *s = userdata;
        s->calls++;
        for (size_t i = 0; i < n; i++)
                buf[i] = s->pos < s->len ? s->bytes[s->pos++] : s->pad;
        return 0;
}

/* Counter bytes from a start value. */
static int counter_random(void *userdata, uint8_t *buf, size_t n) {
        uint8_t *next = userdata;
        for (size_t i = 0; i < n; i++)
                buf[i] = (*next)++;
        return 0;
}

static void test_deterministic(void **state) {
        char slug[SLUG_LEN + 1];
        uint8_t next = 0;
        assert_int_equal(slug_generate(counter_random, &next, slug), 0);
        assert_string_equal(slug, "abcdef");

        /* 70 % 36 = 34 -> '8': the byte is reduced modulo the alphabet. */
        next = 70;
        assert_int_equal(slug_generate(counter_random, &next, slug), 0);
        assert_string_equal(slug, "89abcd");

        next = 30;
        assert_int_equal(slug_generate(counter_random, &next, slug), 0);
        assert_string_equal(slug, "456789");

        /* The same source state gives the same slug. */
        char again[SLUG_LEN + 1];
        next = 30;
        assert_int_equal(slug_generate(counter_random, &next, again), 0);
        assert_string_equal(again, slug);
}

static void test_biased_bytes_skipped(void **state) {
        static const uint8_t bytes[] = {255, 252, 253, 254, 0, 255, 1, 2, 3, 251, 4};
        struct script s = {.bytes = bytes, .len = sizeof bytes, .pad = 5};
        char slug[SLUG_LEN + 1];
        assert_int_equal(slug_generate(script_random, &s, slug), 0);
        /* 251 is the last accepted byte: 251 % 36 = 35 -> '9'. */
        assert_string_equal(slug, "abcd9e");

        /* A long run of 255s (more than any single request) before the usable bytes. */
        static uint8_t run[100 + 6];
        memset(run, 255, 100);
        memcpy(run + 100, (const uint8_t[]){7, 8, 9, 10, 11, 12}, 6);
        s = (struct script){.bytes = run, .len = sizeof run, .pad = 255};
        assert_int_equal(slug_generate(script_random, &s, slug), 0);
        assert_string_equal(slug, "hijklm");
        assert_true(s.calls >= 2);
}

/* With rejection, every character comes from exactly 7 of the 252 accepted byte values
 * (no modulo bias towards the first four characters). */
static void test_each_char_from_seven_bytes(void **state) {
        unsigned count[36] = {0};
        for (unsigned v = 0; v < 256; v++) {
                uint8_t first = (uint8_t)v;
                struct script s = {.bytes = &first, .len = 1, .pad = 35}; /* then '9's */
                char slug[SLUG_LEN + 1];
                assert_int_equal(slug_generate(script_random, &s, slug), 0);
                if (v >= 252) {
                        assert_string_equal(slug, "999999");
                        continue;
                }
                assert_int_equal(slug[0], alphabet[v % 36]);
                assert_string_equal(slug + 1, "99999");
                count[v % 36]++;
        }
        for (int i = 0; i < 36; i++)
                assert_int_equal(count[i], 7);
}

static void test_alphabet_and_length_os(void **state) {
        for (int i = 0; i < 2000; i++) {
                char slug[SLUG_LEN + 1];
                memset(slug, 'X', sizeof slug);
                assert_int_equal(slug_generate(random_os, NULL, slug), 0);
                assert_int_equal(strlen(slug), SLUG_LEN);
                for (int j = 0; j < SLUG_LEN; j++)
                        assert_non_null(strchr(alphabet, slug[j]));
                /* Every slug is a valid DNS label. */
                assert_true(dns_label_valid(slug, SLUG_LEN));
        }
}

struct failing {
        int error;
        unsigned calls_before_failure;
        unsigned calls;
};

static int failing_random(void *userdata, uint8_t *buf, size_t n) {
        struct failing *f = userdata;
        if (f->calls++ >= f->calls_before_failure)
                return f->error;
        /* Only rejected bytes, so another call is always needed. */
        memset(buf, 253, n);
        return 0;
}

static void test_random_error(void **state) {
        static const int errors[] = {-EIO, -EAGAIN, -ENOSYS};
        for (size_t i = 0; i < ELEMENTSOF(errors); i++)
                for (unsigned before = 0; before < 3; before++) {
                        struct failing f = {.error = errors[i], .calls_before_failure = before};
                        char slug[SLUG_LEN + 1] = "keepme";
                        assert_int_equal(slug_generate(failing_random, &f, slug), errors[i]);
                        assert_string_equal(slug, "keepme");
                        assert_int_equal(f.calls, before + 1);
                }
}

/* The first call yields three good bytes, then the source fails: no half-written slug. */
static int partial_then_error(void *userdata, uint8_t *buf, size_t n) {
        unsigned *calls = userdata;
        if ((*calls)++ > 0)
                return -EIO;
        memset(buf, 255, n);
        for (size_t i = 0; i < n && i < 3; i++)
                buf[i] = (uint8_t)i;
        return 0;
}

static void test_partial_then_error(void **state) {
        unsigned calls = 0;
        char slug[SLUG_LEN + 1] = "keepme";
        assert_int_equal(slug_generate(partial_then_error, &calls, slug), -EIO);
        assert_string_equal(slug, "keepme");
}

/* splitmix64: a simple deterministic PRNG. */
static int prng_random(void *userdata, uint8_t *buf, size_t n) {
        uint64_t *s = userdata;
        for (size_t i = 0; i < n; i++) {
                uint64_t z = (*s += 0x9e3779b97f4a7c15u);
                z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
                z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
                buf[i] = (uint8_t)((z ^ (z >> 31)) >> 56);
        }
        return 0;
}

static void test_distribution(void **state) {
        /* 36 * 1000 characters: each should appear about 1000 times (sd ~ 31). */
        unsigned count[36] = {0}, position[SLUG_LEN][36];
        memset(position, 0, sizeof position);
        uint64_t seed = 42;
        for (int i = 0; i < 36 * 1000 / SLUG_LEN; i++) {
                char slug[SLUG_LEN + 1];
                assert_int_equal(slug_generate(prng_random, &seed, slug), 0);
                for (int j = 0; j < SLUG_LEN; j++) {
                        const char *p = strchr(alphabet, slug[j]);
                        assert_non_null(p);
                        count[p - alphabet]++;
                        position[j][p - alphabet]++;
                }
        }
        for (int c = 0; c < 36; c++) {
                if (count[c] < 850 || count[c] > 1150)
                        fail_msg("'%c' drawn %u times of 36000", alphabet[c], count[c]);
                /* Every position uses the whole alphabet (about 167 each). */
                for (int j = 0; j < SLUG_LEN; j++)
                        if (position[j][c] < 90 || position[j][c] > 250)
                                fail_msg("'%c' at position %d drawn %u times", alphabet[c], j, position[j][c]);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_deterministic),
                cmocka_unit_test(test_biased_bytes_skipped),
                cmocka_unit_test(test_each_char_from_seven_bytes),
                cmocka_unit_test(test_alphabet_and_length_os),
                cmocka_unit_test(test_random_error),
                cmocka_unit_test(test_partial_then_error),
                cmocka_unit_test(test_distribution),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
