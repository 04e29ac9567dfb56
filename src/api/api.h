/* SPDX-License-Identifier: MIT */
/*
 * The HTTP+JSON API (libmicrohttpd) on the daemon's unix socket and, for remote callers
 * with tokens, an optional TCP listener (auth.h). Each call validates,
 * writes one store transaction, asks the reconciler to converge, and answers; no handler
 * touches the kernel to change it.
 */
#pragma once

#include <jansson.h>
#include <pthread.h>

#include "core/config.h"
#include "model/lease.h"
#include "model/resource.h"
#include "model/portmap.h"
#include "model/slug.h"

struct api_access;
struct dnssync;
struct dnsmasq;
struct proxy;
struct reconciler;
struct store;

/* What handlers share. Everything below `lock` is guarded by it. */
struct api_env {
        struct reconciler *reconciler; /* borrowed */
        struct proxy *proxy; /* borrowed; set before the server starts, may be NULL */
        random_fn random; /* slug source */
        void *random_userdata;
        int apply_wait_ms; /* how long a change waits for its rules */
        char db_path[PATH_MAX];
        struct api_access *access; /* token cache, rate limits, request counts (server.c); owned */
        struct dnssync *dns; /* borrowed; the DNS reconciler (status, kicks), may be NULL */
        struct dnsmasq *dhcp; /* borrowed; the supervised dnsmasq (status only), may be NULL */

        pthread_mutex_t lock;
        struct store *store; /* the API's own connection, owned */
        struct portmap ports; /* cache of every VM's block: allocation without a table scan */
        /* The [dhcp] pool with a bit per address leased (or found targeted by a VM), loaded
         * from the store at start and on reload; .used NULL when DHCP is not configured. */
        struct lease_pool leases;
        struct config config; /* swapped on reload */
};

/* One request as the handlers see it. Strings are borrowed for the call. */
#define API_ARGS_MAX 16
struct api_arg {
        const char *key, *value; /* value "" for ?key */
};
struct api_request {
        const char *method;
        const char *path; /* without the query string */
        const char *rest; /* what follows the resource's prefix: "" or "/ID" (or "/ID/sub") */
        const char *body; /* may be NULL */
        size_t len;
        struct api_arg args[API_ARGS_MAX]; /* query arguments in order (more than 16: 400 before dispatch) */
        size_t n_args;
        const char *if_match; /* If-Match header or NULL */
        const char *actor; /* for the audit: "unix:uid=0", "token:NAME", "agent-token" */
        uint32_t scopes; /* enum api_scope bits the caller holds (the unix socket: all) */
        const char *token_name; /* the bearer token's name, NULL for the socket / agent token */
        const char *token_datacenter; /* the token's datacenter restriction ("" = none), or NULL */
};
/* The first value of query argument key, or NULL. */
const char *api_arg(const struct api_request *rq, const char *key);

/* A handler's answer: status, a JSON body (owned, may be NULL for no body), extra headers. */
struct api_response {
        unsigned status;
        json_t *body;
        char location[320];
        const char *allow;
        char etag[32]; /* "" = none; else the header value including quotes, e.g. "\"3\"" */
        unsigned retry_after; /* seconds, for 429/503; 0 = no header */
        const char *content_type; /* NULL = application/json; set with text_body for /metrics */
        char *text_body; /* malloc'd non-JSON body (owned), used when body is NULL */
};

/* Fills *env, opening the API's store connection and loading the port map and the lease pool. */
int api_env_init(struct api_env *env, const struct config *cfg, struct reconciler *rec, char *err, size_t err_size);
void api_env_done(struct api_env *env);
/* Replaces the configuration used for new allocations and names (SIGHUP), and reloads the
 * lease pool for the new [dhcp] section. */
void api_env_set_config(struct api_env *env, const struct config *cfg);

/* Reloads the token cache from env->store after tokens were added or removed, so the
 * change applies to the next request. Caller holds env->lock. Returns 0 or a negative errno. */
int api_tokens_reload(struct api_env *env);

/* Re-reads the lease pool: the [dhcp] pool of env->config with every stored lease marked
 * (DHCP off: an empty pool, .used NULL). Caller holds env->lock. Returns 0 or a negative
 * errno (the pool is left empty then, so nothing is allocated from a half-read pool). */
int api_leases_reload(struct api_env *env);

/* Sets resp to the error object with status. */
void api_error(struct api_response *resp, unsigned status, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* Routes one request: scope checks, then the resource handler. */
void api_dispatch(struct api_env *env, const struct api_request *rq, struct api_response *resp);

/* Resource handlers; rq->rest is what follows the prefix. The caller checked scopes. */
void api_vms(struct api_env *env, const struct api_request *rq, struct api_response *resp); /* /v1/vms (vms.c) */
void api_routes(struct api_env *env, const struct api_request *rq, struct api_response *resp); /* /v1/routes (routes.c) */
void api_forwards(struct api_env *env, const struct api_request *rq, struct api_response *resp); /* /v1/forwards (forwards.c) */
/* The seed proxy agent's /http/routes and /tcp/forwards (agent.c). */
void api_agent_routes(struct api_env *env, const struct api_request *rq, struct api_response *resp);
void api_agent_forwards(struct api_env *env, const struct api_request *rq, struct api_response *resp);
/* /v1/leases: DHCP leases (leases.c, issue 6). */
void api_leases(struct api_env *env, const struct api_request *rq, struct api_response *resp);
/* /v1/dns/records: the DNS outbox, read-only (dns.c). */
void api_dns(struct api_env *env, const struct api_request *rq, struct api_response *resp);
/* POST /api/v1/agents/dns (seed 000) and /v1/dns/remote: other nodes' records published
 * through this one's provider (dnsremote.c). */
void api_agent_dns(struct api_env *env, const struct api_request *rq, struct api_response *resp);
/* /v1/tokens and /v1/audit (admin.c). */
void api_tokens(struct api_env *env, const struct api_request *rq, struct api_response *resp);
void api_audit(struct api_env *env, const struct api_request *rq, struct api_response *resp);
/* Main thread, about once a second: removes VMs whose expires_at has passed (actor "expiry").
 * Returns how many were removed, or a negative errno. (vms.c) */
int api_expire_vms(struct api_env *env);

struct api_server;
/* Binds socket_path (mode 0660, replacing a stale socket, refusing a live one) and, from
 * env->config, the TCP listener (api_listen, with TLS when api_tls_cert/key are set) and the
 * metrics listener (metrics_listen), and serves requests on internal threads. Returns 0 or
 * a negative errno (err says why; nothing is left listening then). */
int api_server_start(struct api_env *env, const char *socket_path, struct api_server **ret, char *err,
                     size_t err_size);
/* Stops every listener, waits for in-flight requests, removes the socket. NULL-safe; returns NULL. */
struct api_server *api_server_stop(struct api_server *s);
