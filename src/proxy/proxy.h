/* SPDX-License-Identifier: MIT */
/*
 * The user-space data plane: one worker thread per core, each with its own epoll and its
 * own SO_REUSEPORT listeners, no locks on the connection path.
 *   :443  read the ClientHello (up to hello_max bytes, within hello_timeout), route by SNI,
 *         connect to the backend, send an optional PROXY header and the bytes already
 *         read, then relay both ways with splice(2) until both sides have closed.
 *   :80   read the request head; 301 to https://HOST/PATH, or relay it unchanged to the
 *         backend's http_port for routes that allow plain-HTTP passthrough (ACME HTTP-01).
 * Routes come from an immutable route table that the reconciler publishes; workers pick
 * the new one up at their next loop iteration and the old one is freed once every worker
 * has moved past it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "routes.h"

#define PROXY_LISTEN_MAX 4

struct proxy_config {
        char https_listen[PROXY_LISTEN_MAX][64]; /* "[::]:443", "0.0.0.0:8443"; "" = unused */
        char http_listen[PROXY_LISTEN_MAX][64];
        unsigned workers; /* 0 = one per core */
        unsigned hello_max; /* bytes of ClientHello we wait for */
        unsigned hello_timeout_ms; /* the client must send its hello/head within this */
        unsigned connect_timeout_ms;
        unsigned idle_timeout_ms; /* a relay with no bytes either way this long is closed */
        unsigned max_connections; /* in total */
        unsigned max_connections_per_source; /* per client address */
        bool close_removed; /* close relays whose route disappeared (else they may finish) */
};

/* Counters, summed over the workers. */
struct proxy_stats {
        uint64_t accepted, active;
        uint64_t relayed, redirected;
        uint64_t bytes_in; /* client -> backend */
        uint64_t bytes_out; /* backend -> client */
        uint64_t rejected_limit, rejected_no_route, rejected_not_allowed, rejected_bad_request, rejected_timeout,
                backend_failed, closed_removed;
};

struct proxy;

/* Binds every listener (so a port in use fails here, with err saying which) and starts
 * the workers. Routes nothing until the first proxy_publish(). */
int proxy_start(const struct proxy_config *cfg, struct proxy **ret, char *err, size_t err_size);
/* Stops the workers, closes every connection and listener. NULL-safe; returns NULL. */
struct proxy *proxy_stop(struct proxy *p);
/* Main thread: makes t the table for new connections (the proxy takes ownership). */
void proxy_publish(struct proxy *p, struct route_table *t);
/* Main thread: frees retired tables no worker can still be reading. */
void proxy_reclaim(struct proxy *p);
/* Any thread. */
void proxy_get_stats(struct proxy *p, struct proxy_stats *ret);
