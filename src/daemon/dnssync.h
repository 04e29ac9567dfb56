/* SPDX-License-Identifier: MIT */
/*
 * The DNS reconciler (issue 5): a thread of its own with its own store connection, so a
 * provider that is slow or down never blocks the API, the nft reconciler or the proxy.
 *
 * Each pass: (1) derives the wanted records from the store's VMs and routes, the records
 * other nodes publish through this one (store_dns_remote_list) and the config
 * (dns_records_desired), and writes them into the outbox (store_dns_sync_desired); (2) hands
 * every due row to the provider (dns/provider.h) and stores the result, guarded against
 * changes made meanwhile (store_dns_mark_seen). A failed row is retried with exponential
 * backoff (5 s doubling to 10 min, or the provider's Retry-After; a conflict waits 10 min),
 * so a provider outage leaves rows pending/error and the outbox drains when it is back.
 *
 * A pass runs when asked (dnssync_kick: after every reconciler run, i.e. every VM or route
 * change), when a row falls due, when the config changes, when the public IPv6 address
 * changes (public_ip6 = "auto": an rtnetlink socket on public_interface), and every
 * 5 minutes regardless.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/config.h"

struct dnssync;

struct dnssync_status {
        bool enabled; /* a provider is configured */
        char provider[16];
        char public_ip6[46]; /* public_ip6 = "auto": the address in use ("" = none yet) */
        uint64_t passes, pushes, failures; /* pushes: provider calls that succeeded */
        time_t last_pass; /* 0 = never */
        char last_error[256]; /* the last failed provider call's error, "" = none */
        size_t pending, synced, error, deleting; /* rows by state after the last pass */
};

/* Opens its own store connection at db_path and, if cfg names a provider, opens it and
 * starts the thread (no network I/O before the thread runs). With no provider it does
 * nothing but answer status. Returns 0 or a negative errno (err says why). */
int dnssync_new(const char *db_path, const struct config *cfg, struct dnssync **ret, char *err, size_t err_size);
/* Stops the thread (waits for the provider call in flight, bounded by its timeouts). NULL-safe. */
struct dnssync *dnssync_free(struct dnssync *d);
/* Main thread (SIGHUP): takes cfg; re-opens the provider if any [dns] key changed (a failure
 * is logged and keeps the old one); starts or stops the thread as needed; runs a pass. */
int dnssync_set_config(struct dnssync *d, const struct config *cfg, char *err, size_t err_size);
/* Any thread: the desired state may have changed; run a pass soon. Cheap, coalesced. */
void dnssync_kick(struct dnssync *d);
/* Any thread: a copy of the status. */
void dnssync_get_status(struct dnssync *d, struct dnssync_status *ret);
