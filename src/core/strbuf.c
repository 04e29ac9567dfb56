/* SPDX-License-Identifier: MIT */
/* Growable text buffer used by the pure renderers. */
#include "strbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static bool strbuf_reserve(struct strbuf *b, size_t extra) {
        if (b->failed)
                return false;
        if (b->len + extra + 1 <= b->cap)
                return true;
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + extra + 1) {
                if (cap > SIZE_MAX / 2) {
                        b->failed = true;
                        return false;
                }
                cap *= 2;
        }
        char *d = realloc(b->data, cap);
        if (!d) {
                b->failed = true;
                return false;
        }
        b->data = d;
        b->cap = cap;
        return true;
}

void strbuf_appendn(struct strbuf *b, const char *s, size_t n) {
        if (!strbuf_reserve(b, n))
                return;
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = '\0';
}

void strbuf_append(struct strbuf *b, const char *s) {
        strbuf_appendn(b, s, strlen(s));
}

void strbuf_printf(struct strbuf *b, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
                b->failed = true;
                return;
        }
        if (!strbuf_reserve(b, (size_t)n))
                return;
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
        b->len += (size_t)n;
}

int strbuf_status(const struct strbuf *b) {
        return b->failed ? -ENOMEM : 0;
}

const char *strbuf_str(const struct strbuf *b) {
        return b->data && !b->failed ? b->data : "";
}

char *strbuf_steal(struct strbuf *b) {
        char *s = b->failed ? NULL : b->data;
        if (!s && !b->failed)
                s = strdup("");
        if (b->failed)
                free(b->data);
        *b = (struct strbuf){0};
        return s;
}

void strbuf_reset(struct strbuf *b) {
        b->len = 0;
        b->failed = false;
        if (b->data)
                b->data[0] = '\0';
}

void strbuf_done(struct strbuf *b) {
        free(b->data);
        *b = (struct strbuf){0};
}
