/* SPDX-License-Identifier: MIT */
/*
 * The seed proxy agent's API, served for drop-in use: POST/GET /http/routes, DELETE
 * /http/routes/ID, POST/GET /tcp/forwards, DELETE /tcp/forwards/ID, with the seed's bodies.
 * An agent route is an SNI passthrough route (origin "agent"), an agent forward a forward;
 * both are upserts by id and go through the same checks and store writes as /v1/routes and
 * /v1/forwards. These paths see and change only agent-origin rows, so a caller of the seed's
 * API cannot overwrite or delete what was made through /v1.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "core/log.h"
#include "handlers.h"
#include "store/store.h"

#define AGENT_PAGE 1000

/* Whether the seed agent's POST may write kind id (collection: "routes" or "forwards"), given
 * found, the store's read of it (0, -ENOENT or the read's error), and whether what it found
 * was made through /v1 (foreign): answers 409 KIND_exists, or 5xx for a failed read, when
 * not. Lock held. */
static bool agent_may_write(struct api_env *env, int found, bool foreign, const char *kind, const char *collection,
                            const char *id, struct api_response *resp) {
        char code[32], what[64];
        if (found == 0 && foreign) {
                snprintf(code, sizeof code, "%s_exists", kind);
                api_error(resp, 409, code,
                          "%s '%s' was made through /v1/%s; change it there (these paths manage only their own %s)",
                          kind, id, collection, collection);
                return false;
        }
        if (found < 0 && found != -ENOENT) {
                snprintf(what, sizeof what, "cannot read the %s", kind);
                api_store_failed(resp, env, found, what);
                return false;
        }
        return true;
}

/* The seed's answer to a POST: 200 with the object o (NULL: 500 naming kind and id), once the
 * reconciler ran. Call without the lock. */
static void agent_answer(struct api_env *env, struct api_response *resp, json_t *o, const char *kind,
                         const char *id) {
        (void)api_rules_state(env);
        resp->status = 200;
        resp->body = o;
        if (!o)
                api_error(resp, 500, "internal", "cannot encode %s '%s'", kind, id);
}

/* The seed's answer to a DELETE, once the reconciler ran. Call without the lock. */
static void agent_answer_deleted(struct api_env *env, struct api_response *resp, const char *id) {
        (void)api_rules_state(env);
        resp->status = 200;
        resp->body = json_pack("{s:s}", "deleted", id);
}

/* GET of a collection: every agent-origin row, page by page, as {collection: [...]}. */
static void agent_list(struct api_env *env, const struct api_request *rq, struct api_response *resp,
                       const char *collection, api_page_fn page) {
        if (!api_no_query(rq, resp))
                return;
        _cleanup_(json_decrefp) json_t *arr = json_array();
        if (!arr)
                return api_error(resp, 500, "internal", "out of memory");
        char after[RESOURCE_ID_MAX + 1] = "", next[RESOURCE_ID_MAX + 1];
        const struct api_page p = {.after = after, .limit = AGENT_PAGE, .origin = ORIGIN_AGENT};
        do {
                if (page(env, &p, true, arr, next, resp) < 0)
                        return;
                strcpy(after, next);
        } while (after[0]);
        resp->status = 200;
        resp->body = json_pack("{s:o}", collection, TAKE_PTR(arr));
}

static void agent_route_post(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        struct route_def r, old, stored;
        char err[API_ERROR_MAX];
        enum api_decode_status st = agent_route_decode(rq->body, rq->len, &r, err);
        if (st != API_DECODE_OK)
                return api_decode_failed(resp, st, err);
        if (!api_no_query(rq, resp))
                return;
        enum store_outcome outcome;
        pthread_mutex_lock(&env->lock);
        int k = store_route_get(env->store, r.id, &old);
        /* Replace exactly the row read here: a /v1 write in between gets a 412, not lost. */
        if (agent_may_write(env, k, k == 0 && old.origin != ORIGIN_AGENT, "route", "routes", r.id, resp))
                k = api_route_store(env, rq->actor, &r, k == 0 ? STORE_WRITE_UPSERT : STORE_WRITE_CREATE,
                                    k == 0 ? old.version : 0, &stored, &outcome, resp);
        else
                k = -EEXIST;
        pthread_mutex_unlock(&env->lock);
        if (k >= 0)
                agent_answer(env, resp, agent_route_to_json(&stored), "route", r.id);
}

static void agent_route_list(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        agent_list(env, rq, resp, "routes", api_route_page);
}

static void agent_route_delete(struct api_env *env, const struct api_request *rq, const char *id,
                               struct api_response *resp) {
        if (!api_no_query(rq, resp))
                return;
        struct route_def r;
        pthread_mutex_lock(&env->lock);
        int k = store_route_get(env->store, id, &r);
        if (k == -ENOENT || (k == 0 && r.origin != ORIGIN_AGENT))
                k = -ENOENT;
        else if (k == 0)
                k = store_route_remove(env->store, id, r.version, rq->actor, NULL);
        if (k == -ENOENT)
                api_error(resp, 404, "not_found", "no agent route with route_id '%s'", id);
        else if (k < 0)
                api_store_failed(resp, env, k, "cannot remove the route");
        pthread_mutex_unlock(&env->lock);
        if (k < 0)
                return;
        log_info("api: route %s removed by %s: %s", id, rq->actor, r.hostname);
        agent_answer_deleted(env, resp, id);
}

static void agent_forward_post(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        struct forward_def f, old, stored;
        char err[API_ERROR_MAX];
        enum api_decode_status st = agent_forward_decode(rq->body, rq->len, &f, err);
        if (st != API_DECODE_OK)
                return api_decode_failed(resp, st, err);
        if (!api_no_query(rq, resp))
                return;
        enum store_outcome outcome;
        pthread_mutex_lock(&env->lock);
        int k = store_forward_get(env->store, f.id, &old);
        if (agent_may_write(env, k, k == 0 && old.origin != ORIGIN_AGENT, "forward", "forwards", f.id, resp))
                k = api_forward_store(env, rq->actor, &f, k == 0 ? STORE_WRITE_UPSERT : STORE_WRITE_CREATE,
                                      k == 0 ? old.version : 0, &stored, &outcome, resp);
        else
                k = -EEXIST;
        pthread_mutex_unlock(&env->lock);
        if (k >= 0)
                agent_answer(env, resp, agent_forward_to_json(&stored), "forward", f.id);
}

static void agent_forward_list(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        agent_list(env, rq, resp, "forwards", api_forward_page);
}

static void agent_forward_delete(struct api_env *env, const struct api_request *rq, const char *id,
                                 struct api_response *resp) {
        if (!api_no_query(rq, resp))
                return;
        struct forward_def f;
        pthread_mutex_lock(&env->lock);
        int k = store_forward_get(env->store, id, &f);
        if (k == -ENOENT || (k == 0 && f.origin != ORIGIN_AGENT)) {
                api_error(resp, 404, "not_found", "no agent forward with forward_id '%s'", id);
                k = -ENOENT;
        } else if (k < 0)
                api_store_failed(resp, env, k, "cannot read the forward");
        else
                k = api_forward_remove(env, id, f.version, rq->actor, &f, resp);
        pthread_mutex_unlock(&env->lock);
        if (k >= 0)
                agent_answer_deleted(env, resp, id);
}

void api_agent_routes(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        static const struct api_methods methods = {
                .path = "/http/routes",
                .kind = "route",
                .list = agent_route_list,
                .create = agent_route_post,
                .remove = agent_route_delete,
        };
        api_serve(&methods, env, rq, resp);
}

void api_agent_forwards(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        static const struct api_methods methods = {
                .path = "/tcp/forwards",
                .kind = "forward",
                .list = agent_forward_list,
                .create = agent_forward_post,
                .remove = agent_forward_delete,
        };
        api_serve(&methods, env, rq, resp);
}
