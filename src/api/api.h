/* SPDX-License-Identifier: MIT */
/*
 * The HTTP+JSON API (libmicrohttpd) on the daemon's unix socket. Each call validates,
 * writes one store transaction, asks the reconciler to converge, and answers; no handler
 * touches the kernel to change it.
 */
#pragma once

#include <jansson.h>
#include <pthread.h>

#include "core/config.h"
#include "model/portmap.h"
#include "model/slug.h"

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

        pthread_mutex_t lock;
        struct store *store; /* the API's own connection, owned */
        struct portmap ports; /* cache of every VM's block: allocation without a table scan */
        struct config config; /* swapped on reload */
};

/* A handler's answer: status, a JSON body (owned, may be NULL for no body), extra headers. */
struct api_response {
        unsigned status;
        json_t *body;
        char location[320];
        const char *allow;
};

/* Fills *env, opening the API's store connection and loading the port map. */
int api_env_init(struct api_env *env, const struct config *cfg, struct reconciler *rec, char *err, size_t err_size);
void api_env_done(struct api_env *env);
/* Replaces the configuration used for new allocations and names (SIGHUP). */
void api_env_set_config(struct api_env *env, const struct config *cfg);

/* Sets resp to the error object with status. */
void api_error(struct api_response *resp, unsigned status, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* Routes one request (path already without query string). Body may be NULL. */
void api_dispatch(struct api_env *env, const char *method, const char *path, const char *body, size_t len,
                  struct api_response *resp);

/* /v1/vms handlers (vms.c). rest is what follows "/v1/vms" ("" or "/ID"). */
void api_vms(struct api_env *env, const char *method, const char *rest, const char *body, size_t len,
             struct api_response *resp);

struct api_server;
/* Binds socket_path (mode 0660, replacing a stale socket, refusing a live one) and serves
 * requests on internal threads. Returns 0 or a negative errno (err says why). */
int api_server_start(struct api_env *env, const char *socket_path, struct api_server **ret, char *err,
                     size_t err_size);
/* Stops serving, waits for in-flight requests, removes the socket. NULL-safe; returns NULL. */
struct api_server *api_server_stop(struct api_server *s);
