/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of port-block allocation: first fit from the range start, reuse of a freed
 * block, exhaustion, blocks of an older size or outside a changed range, the edges of the
 * port space, and a randomized comparison with a brute-force search.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "core/util.h"
#include "model/portmap.h"

/* Finds a free block, checks it lies in the range and is free, and marks it used. */
static uint16_t alloc(struct portmap *m, uint16_t lo, uint16_t hi, uint16_t size) {
        uint16_t s = 0;
        int r = portmap_find_free(m, lo, hi, size, &s);
        if (r != 0)
                fail_msg("no block of %u in %u-%u: %d", size, lo, hi, r);
        assert_true(s >= lo && s != 0);
        assert_true((uint32_t)s + size - 1 <= hi);
        assert_true(portmap_is_free(m, s, size));
        portmap_set(m, s, size, true);
        assert_false(portmap_is_free(m, s, 1));
        return s;
}

static void test_empty_map(void **state) {
        struct portmap m;
        portmap_init(&m);
        uint16_t s = 1;
        assert_int_equal(portmap_find_free(&m, 20000, 59999, 10, &s), 0);
        assert_int_equal(s, 20000);
        /* Finding does not allocate. */
        assert_int_equal(portmap_find_free(&m, 20000, 59999, 10, &s), 0);
        assert_int_equal(s, 20000);
        assert_true(portmap_is_free(&m, 20000, 10));
}

static void test_sequential(void **state) {
        struct portmap m;
        portmap_init(&m);
        for (uint16_t i = 0; i < 100; i++)
                assert_int_equal(alloc(&m, 20000, 59999, 10), 20000 + 10 * i);
        assert_false(portmap_is_free(&m, 20999, 1));
        assert_true(portmap_is_free(&m, 21000, 1));
}

static void test_full_range(void **state) {
        struct portmap m;
        portmap_init(&m);
        assert_int_equal(alloc(&m, 20000, 20029, 10), 20000);
        assert_int_equal(alloc(&m, 20000, 20029, 10), 20010);
        assert_int_equal(alloc(&m, 20000, 20029, 10), 20020);
        uint16_t s = 4242;
        assert_int_equal(portmap_find_free(&m, 20000, 20029, 10, &s), -ENOSPC);
        assert_int_equal(s, 4242); /* untouched */

        /* A range that is not a multiple of the size: the remainder is not a block. */
        portmap_init(&m);
        assert_int_equal(alloc(&m, 20000, 20025, 10), 20000);
        assert_int_equal(alloc(&m, 20000, 20025, 10), 20010);
        assert_int_equal(portmap_find_free(&m, 20000, 20025, 10, &s), -ENOSPC);
        /* ...but a smaller block still fits there. */
        assert_int_equal(alloc(&m, 20000, 20025, 6), 20020);
        assert_int_equal(portmap_find_free(&m, 20000, 20025, 1, &s), -ENOSPC);

        /* The whole default range: 4000 blocks of 10, then exhausted. */
        portmap_init(&m);
        for (int i = 0; i < 4000; i++)
                alloc(&m, 20000, 59999, 10);
        assert_int_equal(portmap_find_free(&m, 20000, 59999, 10, &s), -ENOSPC);
        assert_int_equal(portmap_find_free(&m, 20000, 59999, 1, &s), -ENOSPC);
}

static void test_fragmentation(void **state) {
        struct portmap m;
        portmap_init(&m);
        for (int i = 0; i < 5; i++)
                alloc(&m, 20000, 59999, 10);
        /* Free the middle block: it is handed out before the range grows. */
        portmap_set(&m, 20020, 10, false);
        assert_true(portmap_is_free(&m, 20020, 10));
        assert_int_equal(alloc(&m, 20000, 59999, 10), 20020);
        assert_int_equal(alloc(&m, 20000, 59999, 10), 20050);

        /* Two holes: the lower one first. */
        portmap_set(&m, 20030, 10, false);
        portmap_set(&m, 20010, 10, false);
        assert_int_equal(alloc(&m, 20000, 59999, 10), 20010);
        assert_int_equal(alloc(&m, 20000, 59999, 10), 20030);
        assert_int_equal(alloc(&m, 20000, 59999, 10), 20060);

        /* Freeing a block leaves its neighbours used. */
        portmap_set(&m, 20020, 10, false);
        assert_false(portmap_is_free(&m, 20019, 1));
        assert_false(portmap_is_free(&m, 20030, 1));
        assert_true(portmap_is_free(&m, 20020, 10));
        assert_false(portmap_is_free(&m, 20020, 11));
}

static void test_older_block_size(void **state) {
        /* Old blocks of 10; the middle one freed; the new size is 5. */
        struct portmap m;
        portmap_init(&m);
        for (int i = 0; i < 3; i++)
                alloc(&m, 20000, 59999, 10);
        portmap_set(&m, 20010, 10, false);
        assert_int_equal(alloc(&m, 20000, 59999, 5), 20010);
        assert_int_equal(alloc(&m, 20000, 59999, 5), 20015);
        assert_int_equal(alloc(&m, 20000, 59999, 5), 20030);

        /* Same, new size 20: the hole of 10 is too small and never overlapped. */
        portmap_init(&m);
        for (int i = 0; i < 3; i++)
                alloc(&m, 20000, 59999, 10);
        portmap_set(&m, 20010, 10, false);
        assert_int_equal(alloc(&m, 20000, 59999, 20), 20030);
        assert_int_equal(alloc(&m, 20000, 59999, 20), 20050);
        /* Old size again: goes into the hole. */
        assert_int_equal(alloc(&m, 20000, 59999, 10), 20010);

        /* Old blocks of 7 at odd offsets; new blocks of 10 start right after them. */
        portmap_init(&m);
        portmap_set(&m, 20003, 7, true);
        assert_int_equal(alloc(&m, 20000, 59999, 10), 20010);
        assert_int_equal(alloc(&m, 20000, 59999, 3), 20000);
}

static void test_range_changed(void **state) {
        struct portmap m;
        portmap_init(&m);
        for (int i = 0; i < 10; i++)
                alloc(&m, 20000, 59999, 10); /* 20000-20099 */

        /* New range entirely elsewhere: existing blocks are irrelevant. */
        assert_int_equal(alloc(&m, 30000, 30099, 10), 30000);
        /* New range overlapping the old blocks: the first block after them. */
        assert_int_equal(alloc(&m, 20050, 20200, 10), 20100);
        /* New range starting inside an old block. */
        assert_int_equal(alloc(&m, 20005, 20300, 10), 20110);
        /* New range lying entirely inside the used ports. */
        uint16_t s;
        assert_int_equal(portmap_find_free(&m, 20000, 20099, 1, &s), -ENOSPC);
        /* A narrower range below the old blocks. */
        assert_int_equal(alloc(&m, 19000, 19999, 10), 19000);
        /* Blocks outside the range are kept by the map. */
        assert_false(portmap_is_free(&m, 20000, 1));
        assert_false(portmap_is_free(&m, 30000, 1));
}

static void test_port_zero(void **state) {
        struct portmap m;
        portmap_init(&m);
        /* Port 0 is never free, even if "freed". */
        assert_false(portmap_is_free(&m, 0, 1));
        portmap_set(&m, 0, 5, false);
        assert_false(portmap_is_free(&m, 0, 1));
        assert_true(portmap_is_free(&m, 1, 4));
        assert_int_equal(alloc(&m, 1, 100, 5), 1);
        assert_int_equal(alloc(&m, 1, 100, 5), 6);
        /* A range that includes 0 never yields 0. */
        uint16_t s = 4242;
        int r = portmap_find_free(&m, 0, 100, 5, &s);
        assert_true(r < 0 || (s != 0 && portmap_is_free(&m, s, 5)));
        portmap_init(&m);
        r = portmap_find_free(&m, 0, 100, 1, &s);
        assert_true(r < 0 || s == 1);
}

static void test_top_of_port_space(void **state) {
        struct portmap m;
        portmap_init(&m);
        assert_int_equal(alloc(&m, 65530, 65535, 6), 65530);
        uint16_t s;
        assert_int_equal(portmap_find_free(&m, 65530, 65535, 1, &s), -ENOSPC);

        portmap_init(&m);
        assert_int_equal(portmap_find_free(&m, 65530, 65535, 10, &s), -ENOSPC);
        assert_int_equal(alloc(&m, 65500, 65535, 10), 65500);
        assert_int_equal(alloc(&m, 65500, 65535, 10), 65510);
        assert_int_equal(alloc(&m, 65500, 65535, 10), 65520);
        assert_int_equal(portmap_find_free(&m, 65500, 65535, 10, &s), -ENOSPC);
        assert_int_equal(alloc(&m, 65500, 65535, 6), 65530);
        assert_int_equal(portmap_find_free(&m, 65500, 65535, 1, &s), -ENOSPC);

        /* The single last port. */
        portmap_init(&m);
        assert_int_equal(alloc(&m, 65535, 65535, 1), 65535);

        /* Blocks running past 65535 are not free; marking one ignores the excess. */
        portmap_init(&m);
        assert_true(portmap_is_free(&m, 65530, 6));
        assert_false(portmap_is_free(&m, 65530, 7));
        assert_false(portmap_is_free(&m, 65535, 1000));
        portmap_set(&m, 65530, 10, true);
        assert_false(portmap_is_free(&m, 65535, 1));
        assert_true(portmap_is_free(&m, 65529, 1));
        /* Nothing wrapped round to the bottom. */
        assert_true(portmap_is_free(&m, 1, 100));
}

static void test_bad_arguments(void **state) {
        struct portmap m;
        portmap_init(&m);
        uint16_t s = 4242;
        /* A block larger than the range. */
        assert_int_equal(portmap_find_free(&m, 20000, 20008, 10, &s), -ENOSPC);
        assert_int_equal(portmap_find_free(&m, 20000, 20000, 2, &s), -ENOSPC);
        assert_int_equal(portmap_find_free(&m, 1, 65535, 1000, &s), 0);
        assert_int_equal(s, 1);
        s = 4242;
        assert_int_equal(portmap_find_free(&m, 20000, 59999, 0, &s), -EINVAL);
        assert_int_equal(portmap_find_free(&m, 30000, 20000, 10, &s), -EINVAL);
        assert_int_equal(s, 4242);
        assert_false(portmap_is_free(&m, 20000, 0));
}

static void test_word_boundaries(void **state) {
        /* A whole 64-port word used (20032..20095) and runs ending just before it. */
        struct portmap m;
        portmap_init(&m);
        portmap_set(&m, 20032, 64, true);
        assert_int_equal(alloc(&m, 20000, 59999, 40), 20096);
        assert_int_equal(alloc(&m, 20000, 59999, 32), 20000);
        /* Runs that straddle word boundaries. */
        portmap_init(&m);
        portmap_set(&m, 20000, 60, true); /* ...20059 */
        portmap_set(&m, 20130, 1, true);
        assert_int_equal(alloc(&m, 20000, 59999, 70), 20060); /* 20060..20129 */
        assert_int_equal(alloc(&m, 20000, 59999, 64), 20131);
}

/* A brute-force reference of the documented contract. */
static int reference_find(const struct portmap *m, uint16_t lo, uint16_t hi, uint16_t size, uint16_t *ret) {
        for (uint32_t s = lo; s + size - 1 <= hi; s++)
                if (portmap_is_free(m, (uint16_t)s, size)) {
                        *ret = (uint16_t)s;
                        return 0;
                }
        return -ENOSPC;
}

static uint64_t rng_next(uint64_t *s) {
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        return *s * 0x2545f4914f6cdd1du;
}

static void test_matches_reference(void **state) {
        uint64_t seed = 12345;
        static struct portmap m;
        for (int trial = 0; trial < 300; trial++) {
                portmap_init(&m);
                /* Dense used blocks in a window near a random base, including whole words. */
                uint16_t base = (uint16_t)(1 + rng_next(&seed) % 64000);
                int blocks = (int)(rng_next(&seed) % 60);
                for (int b = 0; b < blocks; b++) {
                        uint16_t start = (uint16_t)(base + rng_next(&seed) % 1400);
                        uint16_t size = (uint16_t)(1 + rng_next(&seed) % (b % 4 == 0 ? 130 : 12));
                        portmap_set(&m, start, size, true);
                }
                for (int q = 0; q < 20; q++) {
                        uint16_t lo = (uint16_t)(base > 50 ? base - 50 + rng_next(&seed) % 200 : 1);
                        uint32_t hi = lo + rng_next(&seed) % 1600;
                        if (hi > 65535)
                                hi = 65535;
                        uint16_t size = (uint16_t)(1 + rng_next(&seed) % 80);
                        uint16_t got = 0, want = 0;
                        int r = portmap_find_free(&m, lo, (uint16_t)hi, size, &got);
                        int rw = reference_find(&m, lo, (uint16_t)hi, size, &want);
                        if (r != rw || (r == 0 && got != want))
                                fail_msg("trial %d: range %u-%u size %u: got %d/%u, want %d/%u", trial, lo, (unsigned)hi,
                                         size, r, got, rw, want);
                }
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_empty_map),
                cmocka_unit_test(test_sequential),
                cmocka_unit_test(test_full_range),
                cmocka_unit_test(test_fragmentation),
                cmocka_unit_test(test_older_block_size),
                cmocka_unit_test(test_range_changed),
                cmocka_unit_test(test_port_zero),
                cmocka_unit_test(test_top_of_port_space),
                cmocka_unit_test(test_bad_arguments),
                cmocka_unit_test(test_word_boundaries),
                cmocka_unit_test(test_matches_reference),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
