/* SPDX-License-Identifier: MIT */
/*
 * A DNS provider (issue 5), daemon side: the thing the DNS reconciler (daemon/dnssync.c)
 * hands one outbox row at a time. Three implementations, chosen by [dns] provider:
 *   rfc2136.c    DNS UPDATE + TSIG to an authoritative server (dns/client.c)
 *   cloudflare.c Cloudflare API v4 (libcurl), base URL [dns] api_url
 *   central.c    a central edgegw's POST /api/v1/agents/dns with a `dns` token (libcurl)
 *
 * The contract every provider keeps:
 * - Look before write. publish() reads what the provider has for (name, type) and then:
 *   nothing there -> create it, marked as ours; ours and equal -> nothing to do; ours and
 *   different -> fix it; not ours but equal -> adopt it (add our mark); not ours and
 *   different -> DNS_PROVIDER_CONFLICT, touching nothing.
 * - Ownership is marked where the provider allows: rfc2136 a TXT record "edgegw-owner=OWNER"
 *   at _edgegw-a.NAME / _edgegw-aaaa.NAME, cloudflare the record's comment
 *   ("edgegw-owner=OWNER").
 *   OWNER is dns_provider_owner() of the config. A record without our mark is never
 *   changed (except adopting an equal one) and never deleted.
 * - retract() removes our record for (name, type) and our mark; if the provider has no
 *   such record, or one that is not ours, it is left alone and retract() succeeds (the
 *   outbox row is done either way; a not-ours record is reported in out->note).
 * - Blocking is fine (the reconciler runs on its own thread) but bounded: every network
 *   call has a timeout of at most a few seconds.
 * - Nothing logs a secret; out->error is for the log and the API, short and secret-free.
 * - Not thread-safe: one thread uses a provider at a time.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "model/dnsrec.h"

#define DNS_PROVIDER_ERROR_MAX 240
#define DNS_PROVIDER_REF_MAX 63
#define DNS_PROVIDER_OWNER_MAX 63

enum dns_provider_status {
        DNS_PROVIDER_OK,
        DNS_PROVIDER_RETRY, /* transient (timeout, 5xx, 429, SERVFAIL, network): retry with
                             * backoff, or after out->retry_after_s when the provider said */
        DNS_PROVIDER_CONFLICT, /* a record we do not own is in the way: left alone; retried
                                * rarely, in case someone removes it */
        DNS_PROVIDER_FAILED, /* the provider refused us (401/403, bad TSIG key, zone not
                              * found, validation): retried with backoff; an operator must act */
};

struct dns_provider_outcome {
        enum dns_provider_status status;
        char error[DNS_PROVIDER_ERROR_MAX]; /* set for every status but OK */
        char note[DNS_PROVIDER_ERROR_MAX]; /* OK with something worth a log line: "adopted",
                                            * "fixed", "not ours, left alone" ... or "" */
        char ref[DNS_PROVIDER_REF_MAX + 1]; /* publish: the provider's id for the record
                                             * (Cloudflare record id), "" = none */
        unsigned retry_after_s; /* the provider asked us to wait this long (429 Retry-After) */
        bool row_only; /* the failure is this record's alone (a conflict, a lost race): the
                        * other rows go on; otherwise RETRY and FAILED hold every row back */
};

struct dns_provider;

struct dns_provider_ops {
        const char *name; /* "rfc2136", "cloudflare", "edgegw" */
        /* Publishes w (create / adopt / fix). ref: what an earlier publish returned in
         * out->ref ("" = none), a hint only: the provider still looks before it writes. */
        void (*publish)(struct dns_provider *p, const struct dns_record_want *w, const char *ref,
                        struct dns_provider_outcome *out);
        /* Removes our record w (w->content is what we last wanted, the provider need not match
         * it: ours is ours). ref as for publish. */
        void (*retract)(struct dns_provider *p, const struct dns_record_want *w, const char *ref,
                        struct dns_provider_outcome *out);
        void (*free)(struct dns_provider *p);
};

/* Every provider struct starts with this. */
struct dns_provider {
        const struct dns_provider_ops *ops;
        char owner[DNS_PROVIDER_OWNER_MAX + 1];
};

/* The ownership mark's OWNER: c->dns_owner when set, else c->datacenter. */
void dns_provider_owner(const struct config *c, char out[static DNS_PROVIDER_OWNER_MAX + 1]);

/* Opens the provider c->dns_provider names: reads its secret files (and keeps the secrets
 * in memory only), prepares clients; does no network I/O (a provider that is down at start
 * must not stop the daemon). Returns 0 and *ret, or a negative errno with err set
 * (-EINVAL for an unknown provider or an unreadable secret). c->dns_provider "" -> -ENOENT. */
int dns_provider_open(const struct config *c, struct dns_provider **ret, char *err, size_t err_size);
struct dns_provider *dns_provider_free(struct dns_provider *p); /* NULL-safe; returns NULL */

/* The implementations' constructors (dns_provider_open calls the one named). */
int dns_rfc2136_open(const struct config *c, struct dns_provider **ret, char *err, size_t err_size);
int dns_cloudflare_open(const struct config *c, struct dns_provider **ret, char *err, size_t err_size);
int dns_central_open(const struct config *c, struct dns_provider **ret, char *err, size_t err_size);

/* Helpers for the implementations. */
void dns_provider_outcome_set(struct dns_provider_outcome *out, enum dns_provider_status st, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
const char *dns_provider_status_to_string(enum dns_provider_status st); /* "ok", "retry", "conflict", "failed" */
const char *dns_type_to_string(uint16_t type); /* "A", "AAAA", or NULL */
