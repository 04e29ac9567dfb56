/* SPDX-License-Identifier: MIT */
/*
 * Small helpers shared by every module: cleanup attributes that release locals when they go
 * out of scope, TAKE_PTR/TAKE_FD to hand ownership over, and a few bounded string helpers.
 * Header-only; nothing here allocates behind the caller's back.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

static inline void freep(void *p) {
        free(*(void **)p);
}
static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)

/* Hand a cleanup-managed pointer or fd to someone else: the local forgets it. */
#define TAKE_PTR(p)                              \
        ({                                       \
                __typeof__(p) _took_ = (p);      \
                (p) = NULL;                      \
                _took_;                          \
        })
#define TAKE_FD(fd)                              \
        ({                                       \
                int _took_ = (fd);               \
                (fd) = -1;                       \
                _took_;                          \
        })

static inline bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}

/* Copy src into dst of size n; returns -ENAMETOOLONG (dst untouched) when it does not fit. */
static inline int strcpy_bounded(char *dst, size_t n, const char *src) {
        size_t l = strlen(src);
        if (l >= n)
                return -ENAMETOOLONG;
        memcpy(dst, src, l + 1);
        return 0;
}
