/* SPDX-License-Identifier: MIT */
/*
 * Port-block allocation over a bitmap of the 65535 ports (8 KiB, no allocation): mark the
 * blocks that exist, then ask for the first free run of a given size inside the configured
 * range. First fit, so a block freed in the middle is reused before the range grows, and
 * blocks of an older size or an older range are simply ports already taken. The cost of a
 * search depends on the range, not on how many VMs exist.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct portmap {
        uint64_t words[1024]; /* bit p set = port p used; port 0 is never handed out */
};

void portmap_init(struct portmap *m);
/* Marks [start, start+size) used (or free). Ports past 65535 are ignored. */
void portmap_set(struct portmap *m, uint16_t start, uint16_t size, bool used);
/* True if every port of [start, start+size) is free and inside 1..65535. */
bool portmap_is_free(const struct portmap *m, uint16_t start, uint16_t size);
/* The lowest s with range_start <= s and s+size-1 <= range_end whose block is free.
 * Returns 0 with *ret set, -ENOSPC when the range has no such run ("port range exhausted"),
 * -EINVAL for size 0 or an empty range. */
int portmap_find_free(const struct portmap *m, uint16_t range_start, uint16_t range_end, uint16_t size,
                      uint16_t *ret);
