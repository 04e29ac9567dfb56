/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the string hash map: many keys in, half removed, the rest still found;
 * iteration sees every key once; removal inside probe runs (collisions, wrap-around at the
 * end of the table) keeps every other key reachable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hashmap.h"

#define MANY 10000

/* Values are pointers into this array, so a value identifies the key it was stored under. */
static int values[MANY];
static int other_values[MANY];

static void key_of(int i, char buf[static 32]) {
        snprintf(buf, 32, "vm-%d", i);
}

static void test_empty(void **state) {
        struct hashmap *m = NULL;
        assert_int_equal(hashmap_new(&m), 0);
        assert_non_null(m);
        assert_int_equal(hashmap_size(m), 0);
        assert_null(hashmap_get(m, "x"));
        assert_null(hashmap_get(m, ""));
        assert_null(hashmap_remove(m, "x"));
        size_t it = 0;
        assert_false(hashmap_next(m, &it, NULL, NULL));
        assert_null(hashmap_free(m));
        assert_null(hashmap_free(NULL));
}

static void test_put_get_replace(void **state) {
        struct hashmap *m;
        assert_int_equal(hashmap_new(&m), 0);
        int a = 1, b = 2;
        /* Keys are copied: changing the caller's buffer afterwards changes nothing. */
        char key[8] = "alpha";
        assert_int_equal(hashmap_put(m, key, &a), 0);
        strcpy(key, "beta");
        assert_ptr_equal(hashmap_get(m, "alpha"), &a);
        assert_null(hashmap_get(m, "beta"));
        assert_int_equal(hashmap_put(m, "alpha", &b), 0);
        assert_int_equal(hashmap_size(m), 1);
        assert_ptr_equal(hashmap_get(m, "alpha"), &b);
        /* The empty string is a key like any other. */
        assert_int_equal(hashmap_put(m, "", &a), 0);
        assert_ptr_equal(hashmap_get(m, ""), &a);
        assert_int_equal(hashmap_size(m), 2);
        /* Prefixes are different keys. */
        assert_null(hashmap_get(m, "alph"));
        assert_null(hashmap_get(m, "alphaa"));
        hashmap_free(m);
}

static void test_many_keys(void **state) {
        struct hashmap *m;
        char key[32];
        assert_int_equal(hashmap_new(&m), 0);
        for (int i = 0; i < MANY; i++) {
                key_of(i, key);
                assert_int_equal(hashmap_put(m, key, &values[i]), 0);
                assert_int_equal(hashmap_size(m), (size_t)i + 1);
        }
        for (int i = 0; i < MANY; i++) {
                key_of(i, key);
                assert_ptr_equal(hashmap_get(m, key), &values[i]);
        }
        /* Replace every third value: the size stays. */
        for (int i = 0; i < MANY; i += 3) {
                key_of(i, key);
                assert_int_equal(hashmap_put(m, key, &other_values[i]), 0);
        }
        assert_int_equal(hashmap_size(m), MANY);
        /* Remove the even keys. */
        for (int i = 0; i < MANY; i += 2) {
                key_of(i, key);
                void *want = i % 3 == 0 ? (void *)&other_values[i] : (void *)&values[i];
                assert_ptr_equal(hashmap_remove(m, key), want);
        }
        assert_int_equal(hashmap_size(m), MANY / 2);
        for (int i = 0; i < MANY; i++) {
                key_of(i, key);
                void *want = i % 2 == 0 ? NULL : i % 3 == 0 ? (void *)&other_values[i] : (void *)&values[i];
                assert_ptr_equal(hashmap_get(m, key), want);
        }
        /* Removing again finds nothing and changes nothing. */
        key_of(0, key);
        assert_null(hashmap_remove(m, key));
        assert_int_equal(hashmap_size(m), MANY / 2);

        /* Iteration visits each remaining key exactly once, with its value. */
        static unsigned char seen[MANY];
        memset(seen, 0, sizeof seen);
        size_t it = 0, visited = 0;
        const char *k;
        void *v;
        while (hashmap_next(m, &it, &k, &v)) {
                int i;
                assert_int_equal(sscanf(k, "vm-%d", &i), 1);
                assert_in_range(i, 0, MANY - 1);
                assert_int_equal(i % 2, 1);
                assert_int_equal(seen[i], 0);
                seen[i] = 1;
                assert_ptr_equal(v, i % 3 == 0 ? (void *)&other_values[i] : (void *)&values[i]);
                visited++;
        }
        assert_int_equal(visited, MANY / 2);
        /* The iterator stays at its end. */
        assert_false(hashmap_next(m, &it, &k, &v));

        /* Put the removed keys back: they are found again, the others unchanged. */
        for (int i = 0; i < MANY; i += 2) {
                key_of(i, key);
                assert_int_equal(hashmap_put(m, key, &values[i]), 0);
        }
        assert_int_equal(hashmap_size(m), MANY);
        for (int i = 0; i < MANY; i += 2) {
                key_of(i, key);
                assert_ptr_equal(hashmap_get(m, key), &values[i]);
        }
        hashmap_free(m);
}

/* A small deterministic PRNG (xorshift64*) for the randomized tests. */
static uint64_t rng_next(uint64_t *s) {
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        return *s * 0x2545f4914f6cdd1du;
}

/* Reference: which of the keys should be present. Returns how many are. */
static size_t check_all(const struct hashmap *m, char keys[][32], const bool *present, size_t n) {
        size_t count = 0;
        for (size_t i = 0; i < n; i++) {
                void *v = hashmap_get(m, keys[i]);
                if (present[i]) {
                        if (v != &values[i])
                                fail_msg("key '%s' lost", keys[i]);
                        count++;
                } else if (v)
                        fail_msg("removed key '%s' still found", keys[i]);
        }
        assert_int_equal(hashmap_size(m), count);
        return count;
}

/* Small tables fill up to three quarters before they grow, so a dozen keys form long probe
 * runs, including runs that wrap from the last slot to the first. Removing keys in random
 * order inside those runs must leave every other key reachable. */
static void test_remove_in_probe_runs(void **state) {
        uint64_t seed = 0x9e3779b97f4a7c15u;
        char keys[12][32];
        bool present[12];
        for (int trial = 0; trial < 3000; trial++) {
                struct hashmap *m;
                assert_int_equal(hashmap_new(&m), 0);
                size_t n = 6 + rng_next(&seed) % 7; /* 6..12 keys */
                for (size_t i = 0; i < n; i++) {
                        snprintf(keys[i], sizeof keys[i], "k%llx-%zu", (unsigned long long)(rng_next(&seed) & 0xffffff),
                                 i);
                        assert_int_equal(hashmap_put(m, keys[i], &values[i]), 0);
                        present[i] = true;
                }
                check_all(m, keys, present, n);
                /* Remove all of them in a random order, re-adding some on the way. */
                for (size_t step = 0; step < 2 * n; step++) {
                        size_t i = rng_next(&seed) % n;
                        if (present[i]) {
                                assert_ptr_equal(hashmap_remove(m, keys[i]), &values[i]);
                                present[i] = false;
                        } else if (step % 3 == 0) {
                                assert_int_equal(hashmap_put(m, keys[i], &values[i]), 0);
                                present[i] = true;
                        }
                        check_all(m, keys, present, n);
                }
                for (size_t i = 0; i < n; i++)
                        if (present[i]) {
                                assert_ptr_equal(hashmap_remove(m, keys[i]), &values[i]);
                                present[i] = false;
                                check_all(m, keys, present, n);
                        }
                assert_int_equal(hashmap_size(m), 0);
                hashmap_free(m);
        }
}

/* A mirror of the map's hash, used only to pick keys that are sure to collide in a table of
 * 16 slots. If the map's hash changes, the keys merely stop colliding; the assertions below
 * hold for any correct map. */
static uint64_t mirror_hash(const char *s) {
        uint64_t h = 0xcbf29ce484222325u;
        for (; *s; s++)
                h = (h ^ (unsigned char)*s) * 0x100000001b3u;
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdu;
        h ^= h >> 33;
        return h;
}

static void test_remove_with_collisions(void **state) {
        /* Five keys whose home is slot 14 (their run wraps past slot 15 to 0, 1, 2), and
         * three whose home is slot 0 (pushed further by the wrapped run). */
        char keys[8][32];
        int want_home[8] = {14, 14, 14, 14, 14, 0, 0, 0};
        bool present[8];
        int found = 0;
        for (int c = 0; found < 8 && c < 1000000; c++) {
                char k[32];
                snprintf(k, sizeof k, "c%d", c);
                if ((int)(mirror_hash(k) & 15) == want_home[found])
                        strcpy(keys[found++], k);
        }
        assert_int_equal(found, 8);

        /* Every removal order of the first key of each group and then the rest. */
        for (int first = 0; first < 8; first++) {
                struct hashmap *m;
                assert_int_equal(hashmap_new(&m), 0);
                for (int i = 0; i < 8; i++) {
                        assert_int_equal(hashmap_put(m, keys[i], &values[i]), 0);
                        present[i] = true;
                }
                check_all(m, keys, present, 8);
                for (int j = 0; j < 8; j++) {
                        int i = (first + j) % 8;
                        assert_ptr_equal(hashmap_remove(m, keys[i]), &values[i]);
                        present[i] = false;
                        check_all(m, keys, present, 8);
                }
                hashmap_free(m);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_empty),
                cmocka_unit_test(test_put_get_replace),
                cmocka_unit_test(test_many_keys),
                cmocka_unit_test(test_remove_in_probe_runs),
                cmocka_unit_test(test_remove_with_collisions),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
