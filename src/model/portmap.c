/* SPDX-License-Identifier: MIT */
/* First-fit port-block allocation over a bitmap. */
#include "portmap.h"

#include <errno.h>
#include <string.h>

void portmap_init(struct portmap *m) {
        memset(m, 0, sizeof *m);
        m->words[0] = 1; /* port 0 */
}

static bool port_used(const struct portmap *m, uint32_t p) {
        return (m->words[p >> 6] >> (p & 63)) & 1;
}

void portmap_set(struct portmap *m, uint16_t start, uint16_t size, bool used) {
        for (uint32_t p = start; p < (uint32_t)start + size && p <= 65535; p++) {
                if (p == 0)
                        continue;
                if (used)
                        m->words[p >> 6] |= UINT64_C(1) << (p & 63);
                else
                        m->words[p >> 6] &= ~(UINT64_C(1) << (p & 63));
        }
}

bool portmap_is_free(const struct portmap *m, uint16_t start, uint16_t size) {
        if (start == 0 || size == 0 || (uint32_t)start + size - 1 > 65535)
                return false;
        for (uint32_t p = start; p < (uint32_t)start + size; p++)
                if (port_used(m, p))
                        return false;
        return true;
}

int portmap_find_free(const struct portmap *m, uint16_t range_start, uint16_t range_end, uint16_t size,
                      uint16_t *ret) {
        if (size == 0 || range_start == 0 || range_start > range_end)
                return -EINVAL;
        uint32_t run = 0;
        for (uint32_t p = range_start; p <= range_end;) {
                /* A fully used word cannot hold any part of a free run. */
                if ((p & 63) == 0 && m->words[p >> 6] == UINT64_MAX) {
                        run = 0;
                        p += 64;
                        continue;
                }
                if (port_used(m, p))
                        run = 0;
                else if (++run == size) {
                        *ret = (uint16_t)(p - size + 1);
                        return 0;
                }
                p++;
        }
        return -ENOSPC;
}
