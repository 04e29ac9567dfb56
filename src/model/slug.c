/* SPDX-License-Identifier: MIT */
/* Random DNS-label slugs from an injectable random source. */
#include "slug.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>

static const char slug_alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";

int random_os(void *userdata, uint8_t *buf, size_t n) {
        (void)userdata;
        while (n > 0) {
                ssize_t r = getrandom(buf, n, 0);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                buf += r;
                n -= (size_t)r;
        }
        return 0;
}

int slug_generate(random_fn rnd, void *userdata, char ret[static SLUG_LEN + 1]) {
        /* 252 = 7 * 36: bytes at or above it would favour the first letters. */
        char out[SLUG_LEN + 1];
        size_t have = 0;
        while (have < SLUG_LEN) {
                uint8_t bytes[16];
                int r = rnd(userdata, bytes, sizeof bytes);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < sizeof bytes && have < SLUG_LEN; i++)
                        if (bytes[i] < 252)
                                out[have++] = slug_alphabet[bytes[i] % 36];
        }
        out[SLUG_LEN] = '\0';
        memcpy(ret, out, sizeof out);
        return 0;
}
