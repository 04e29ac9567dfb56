/* SPDX-License-Identifier: MIT */
/*
 * GET /metrics: the Prometheus text exposition format 0.0.4. The server collects the
 * numbers (store counts, nft or proxy byte counters, proxy and reconciler status, API
 * request counts) into a struct metrics_input; metrics_render() turns them into text.
 * Rendering is pure: data in, text out, no I/O.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/strbuf.h"
#include "daemon/dnssync.h"
#include "daemon/reconcile.h"
#include "model/vm.h"
#include "proxy/proxy.h"
#include "store/store.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_CODE_MIN 100
#define METRICS_CODE_MAX 599
#define METRICS_CODES (METRICS_CODE_MAX - METRICS_CODE_MIN + 1)

/* Bytes a VM exchanged: in = client -> VM, out = VM -> client. */
struct metrics_vm_bytes {
        char id[VM_ID_MAX + 1];
        uint64_t in, out;
};

/* Everything one scrape shows. Pointers are borrowed; a NULL or zero-length part renders as
 * a family without samples (its HELP and TYPE only). */
struct metrics_input {
        const char *version;
        const struct store_counts *counts; /* NULL = the store could not be read */
        bool have_blocks;
        uint64_t blocks_used, blocks_free; /* VM port blocks, free = still allocatable of ports_per_vm */
        const struct metrics_vm_bytes *vm_bytes;
        size_t n_vm_bytes;
        const struct proxy_stats *proxy; /* NULL = no proxy */
        const struct proxy_route_stats *routes;
        size_t n_routes;
        const struct reconciler_part_status *parts;
        size_t n_parts;
        const uint64_t *api_requests; /* [METRICS_CODES], count of answers with status METRICS_CODE_MIN + i; may be NULL */
        const struct dnssync_status *dns; /* NULL or !enabled = no DNS provider */
};

/* Appends the exposition of in to out. Returns 0 or -ENOMEM. */
int metrics_render(const struct metrics_input *in, struct strbuf *out);

/* Appends s as a label value: '\\', '"' and newline escaped as the format requires. */
void metrics_label_value(const char *s, struct strbuf *out);
