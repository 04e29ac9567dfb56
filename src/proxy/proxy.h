/* SPDX-License-Identifier: MIT */
/*
 * The user-space data plane: one worker thread per core, each with its own epoll and its
 * own SO_REUSEPORT listeners, no locks on the connection path.
 *   :443  read the ClientHello (up to hello_max bytes, within hello_timeout), route by SNI,
 *         connect to the backend, send an optional PROXY header and the bytes already
 *         read, then relay both ways with splice(2) until both sides have closed.
 *   :80   read the request head; 301 to https://HOST/PATH, or relay it unchanged to the
 *         backend's http_port for routes that allow plain-HTTP passthrough (ACME HTTP-01).
 *   user-space forwards (forward_mode = userspace): every (proto, public port) of the
 *         published forwards table gets one SO_REUSEPORT socket per worker on forward_listen.
 *         TCP: accept, connect to the VM, relay with the same splice relay (the route is
 *         fixed at accept time; nothing is parsed, no PROXY header). UDP: a session per
 *         client address, i.e. a connected socket to the VM; replies leave through the
 *         public socket, so they come from the public port. Sessions idle for
 *         udp_timeout_ms are closed.
 * Routes and forwards come from immutable tables that the reconciler publishes; workers
 * pick the new ones up at their next loop iteration and an old one is freed once every
 * worker has moved past it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "../nft/nft.h"
#include "forwards.h"
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
        bool forwards; /* serve user-space forwards (forward_mode = userspace) */
        char forward_listen[80]; /* "[::]", "0.0.0.0", "[2001:db8::1]": where public ports bind */
        unsigned udp_timeout_ms; /* an idle UDP forward session is closed after this */
};

/* Counters, summed over the workers. */
struct proxy_stats {
        uint64_t accepted, active;
        uint64_t relayed, redirected;
        uint64_t bytes_in; /* client -> backend */
        uint64_t bytes_out; /* backend -> client */
        uint64_t rejected_limit, rejected_no_route, rejected_not_allowed, rejected_bad_request, rejected_timeout,
                backend_failed, closed_removed;
        uint64_t udp_sessions; /* open user-space UDP forward sessions */
        uint64_t forward_bind_failed; /* forward listeners that could not be bound (retried every second) */
};

/* Counters of one route (its name, or "(default)"), summed over the workers, since start. */
struct proxy_route_stats {
        char name[ROUTE_NAME_MAX + 1];
        uint64_t connections; /* relayed or attempted to the backend */
        uint64_t bytes_in, bytes_out; /* client -> backend, backend -> client */
        uint64_t rejected_not_allowed, backend_failed, timeouts;
};

struct proxy;

/* Binds every listener (so a port in use fails here, with err saying which) and starts
 * the workers. Routes nothing until the first proxy_publish(). */
int proxy_start(const struct proxy_config *cfg, struct proxy **ret, char *err, size_t err_size);
/* Stops the workers, closes every connection and listener. NULL-safe; returns NULL. */
struct proxy *proxy_stop(struct proxy *p);
/* Main thread: makes t the table for new connections (the proxy takes ownership). */
void proxy_publish(struct proxy *p, struct route_table *t);
/* Main thread: the table last published (NULL before the first), still the proxy's: a
 * base for route_table_update(), valid until the next proxy_publish(). */
const struct route_table *proxy_routes(struct proxy *p);
/* Main thread: waits (at most timeout_ms) until every worker has put the last published
 * tables into effect (routes, and the listeners of user-space forwards), so a change
 * acknowledged by the API is live. True if they all did. */
bool proxy_wait_applied(struct proxy *p, int timeout_ms);
/* Main thread: makes t the user-space forwards table (the proxy takes ownership); each
 * worker opens and closes its listeners to match at its next iteration. Byte counters of
 * a (proto, port) that is new or now leads to another backend start again from zero. */
void proxy_publish_forwards(struct proxy *p, struct forward_table *t);
/* How many forward ports fit in the open-files limit (RLIMIT_NOFILE) next to
 * max_connections relays: every port costs one socket per worker. Any thread. */
size_t proxy_forward_capacity(const struct proxy *p);
/* Any thread: the forward listeners every worker has bound now, as sorted canonical items
 * ("listener tcp 20000"). Returns 0 or -ENOMEM. */
int proxy_forward_listeners(struct proxy *p, struct nft_items *ret);
/* Any thread: bytes relayed through forward (proto, port) since it was added:
 * in = client -> VM, out = VM -> client. */
void proxy_forward_bytes(struct proxy *p, uint8_t proto, uint16_t port, uint64_t *ret_in, uint64_t *ret_out);
/* Main thread: frees retired tables no worker can still be reading. */
void proxy_reclaim(struct proxy *p);
/* Any thread. */
void proxy_get_stats(struct proxy *p, struct proxy_stats *ret);
/* Any thread: per-route counters (malloc'd array the caller frees; NULL when empty).
 * Connections that matched no route are only in proxy_get_stats(): their names are the
 * client's choice and must not grow our memory. Returns 0 or -ENOMEM. */
int proxy_route_stats(struct proxy *p, struct proxy_route_stats **ret, size_t *ret_n);
