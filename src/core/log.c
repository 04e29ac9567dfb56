/* SPDX-License-Identifier: MIT */
/*
 * stderr logger used by edgegwd and edgegw. One write(2) per line so lines from different
 * threads never interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static enum log_level log_max = LOG_LEVEL_INFO;

static const char *const level_names[] = {
        [LOG_LEVEL_ERROR] = "error",
        [LOG_LEVEL_WARNING] = "warning",
        [LOG_LEVEL_INFO] = "info",
        [LOG_LEVEL_DEBUG] = "debug",
};

void log_set_level(enum log_level level) {
        log_max = level;
}

int log_level_from_string(const char *s, enum log_level *ret) {
        for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
                if (streq(s, level_names[i])) {
                        *ret = (enum log_level)i;
                        return 0;
                }
        return -EINVAL;
}

int log_full(enum log_level level, int error, const char *fmt, ...) {
        int r = error < 0 ? error : -error;
        if (level > log_max)
                return r;

        char line[2048];
        int n = snprintf(line, sizeof line, "%s: ", level_names[level]);
        va_list ap;
        va_start(ap, fmt);
        errno = -r;
        n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
        va_end(ap);
        if (n > (int)sizeof line - 2)
                n = (int)sizeof line - 2;
        line[n++] = '\n';
        (void)!write(STDERR_FILENO, line, (size_t)n);
        return r;
}
