/* SPDX-License-Identifier: MIT */
/*
 * Logging for the daemon and the CLI (library modules never log; they return errors for
 * their caller to log once). Lines go to stderr as "LEVEL: message", which journald
 * stores as-is. log_*_errno() log and return the negative error in one step.
 */
#pragma once

#include "util.h"

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARNING, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* Threshold: messages above it are dropped. Default info; EDGEGW_LOG_LEVEL=debug raises it. */
void log_set_level(enum log_level level);
int log_level_from_string(const char *s, enum log_level *ret);

/* Writes one line; %m is supported through errno = -error when error != 0. Returns -abs(error). */
int log_full(enum log_level level, int error, const char *fmt, ...) _printf_(3, 4);

#define log_error(...) log_full(LOG_LEVEL_ERROR, 0, __VA_ARGS__)
#define log_warning(...) log_full(LOG_LEVEL_WARNING, 0, __VA_ARGS__)
#define log_info(...) log_full(LOG_LEVEL_INFO, 0, __VA_ARGS__)
#define log_debug(...) log_full(LOG_LEVEL_DEBUG, 0, __VA_ARGS__)
#define log_error_errno(e, ...) log_full(LOG_LEVEL_ERROR, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_full(LOG_LEVEL_WARNING, (e), __VA_ARGS__)
