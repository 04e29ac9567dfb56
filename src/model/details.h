/* SPDX-License-Identifier: MIT */
/*
 * The Connection Details box of seed 000, rendered as text from a VM's name and port
 * block. Pure: the CLI feeds it fields from the API's JSON, tests feed it literals.
 */
#pragma once

#include <stdint.h>

#include "../core/strbuf.h"

/* Appends the box for a VM named subdomain with the block [block_start, block_start +
 * block_size) to out, e.g.
 *   ┌─────────────────────────────────────────────────────────┐
 *   │ Connection Details                                      │
 *   ├─────────────────────────────────────────────────────────┤
 *   │ Web Access:  https://k7m2p4.dc-lk.example.net           │
 *   │ SSH Access:  ssh root@k7m2p4.dc-lk.example.net -p 20000 │
 *   │ Available Ports: 20001-20009                            │
 *   │   TCP: 20001-20004 → VM:10001-10004                     │
 *   │   UDP: 20005-20009 → VM:10005-10009                     │
 *   └─────────────────────────────────────────────────────────┘
 * Lines that would be empty (a block of 1 has no other ports) are left out.
 * Returns 0 or -ENOMEM. */
int details_render_text(const char *subdomain, uint16_t block_start, uint16_t block_size, struct strbuf *out);
