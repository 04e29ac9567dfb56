/* SPDX-License-Identifier: MIT */
/*
 * A growable, always NUL-terminated text buffer. Renderers (nft ruleset, connection
 * details) append to one; the caller owns it and frees it with strbuf_done().
 * Allocation failure is sticky: appends after it are no-ops and strbuf_failed() says so.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

struct strbuf {
        char *data; /* NUL-terminated while not failed; NULL until the first append */
        size_t len;
        size_t cap;
        bool failed;
};

void strbuf_append(struct strbuf *b, const char *s);
void strbuf_appendn(struct strbuf *b, const char *s, size_t n);
void strbuf_printf(struct strbuf *b, const char *fmt, ...) _printf_(2, 3);
/* -ENOMEM if any append failed, 0 otherwise. */
int strbuf_status(const struct strbuf *b);
/* Returns the text (never NULL: "" when empty); valid until the next append or strbuf_done. */
const char *strbuf_str(const struct strbuf *b);
/* Hands the heap string to the caller (NULL on earlier failure) and resets the buffer. */
char *strbuf_steal(struct strbuf *b);
void strbuf_reset(struct strbuf *b);
void strbuf_done(struct strbuf *b);
#define _cleanup_strbuf_ _cleanup_(strbuf_done)
