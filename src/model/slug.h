/* SPDX-License-Identifier: MIT */
/*
 * Slugs: the random 6-character DNS label that names a VM ({slug}.{dc}.{domain}).
 * Randomness is injected so tests are deterministic; production uses the OS CSPRNG.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "vm.h"

/* Fills buf with n random bytes; returns 0 or a negative errno. */
typedef int (*random_fn)(void *userdata, uint8_t *buf, size_t n);

/* getrandom(2); the default random_fn. */
int random_os(void *userdata, uint8_t *buf, size_t n);

/* Writes SLUG_LEN characters of [a-z0-9] plus NUL, uniformly distributed (rejection
 * sampling, no modulo bias). Returns 0 or the random_fn's error. */
int slug_generate(random_fn rnd, void *userdata, char ret[static SLUG_LEN + 1]);
