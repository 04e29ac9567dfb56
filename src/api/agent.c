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

static void agent_route_post(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        struct route_def r, old, stored;
        char err[API_ERROR_MAX];
        enum api_decode_status st = agent_route_decode(rq->body, rq->len, &r, err);
        if (st != API_DECODE_OK)
                return api_decode_failed(resp, st, err);
        if (!api_no_query(rq, resp))
                return;
        enum store_outcome outcome;
        int64_t if_version = 0;
        pthread_mutex_lock(&env->lock);
        int k = store_route_get(env->store, r.id, &old);
        if (k == 0 && old.origin != ORIGIN_AGENT) {
                api_error(resp, 409, "route_exists",
                          "route '%s' was made through /v1/routes; change it there (these paths manage only their own "
                          "routes)",
                          r.id);
                k = -EEXIST;
        } else if (k < 0 && k != -ENOENT)
                api_store_failed(resp, env, k, "cannot read the route");
        else {
                /* Replace exactly the row read above: a /v1 write in between gets a 412, not lost. */
                if_version = k == 0 ? old.version : 0;
                k = api_route_store(env, rq->actor, &r, k == 0 ? STORE_WRITE_UPSERT : STORE_WRITE_CREATE, if_version,
                                    &stored, &outcome, resp);
        }
        pthread_mutex_unlock(&env->lock);
        if (k < 0)
                return;
        (void)api_rules_state(env);
        resp->status = 200;
        resp->body = agent_route_to_json(&stored);
        if (!resp->body)
                api_error(resp, 500, "internal", "cannot encode route '%s'", r.id);
}

static void agent_route_list(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        if (!api_no_query(rq, resp))
                return;
        json_t *arr = json_array();
        if (!arr)
                return api_error(resp, 500, "internal", "out of memory");
        char after[RESOURCE_ID_MAX + 1] = "";
        for (bool more = true; more;) {
                _cleanup_free_ struct route_def *routes = NULL;
                size_t n = 0;
                pthread_mutex_lock(&env->lock);
                int k = store_route_list_page(env->store, after, AGENT_PAGE, NULL, 0, ORIGIN_AGENT, &routes, &n, &more);
                if (k < 0)
                        api_store_failed(resp, env, k, "cannot list routes");
                pthread_mutex_unlock(&env->lock);
                if (k < 0) {
                        json_decref(arr);
                        return;
                }
                for (size_t i = 0; i < n; i++) {
                        json_t *o = agent_route_to_json(&routes[i]);
                        if (!o || json_array_append_new(arr, o) < 0) {
                                json_decref(arr);
                                return api_error(resp, 500, "internal", "cannot encode route '%s'", routes[i].id);
                        }
                }
                if (n)
                        strcpy(after, routes[n - 1].id);
                more = more && n;
        }
        resp->status = 200;
        resp->body = json_pack("{s:o}", "routes", arr);
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
        (void)api_rules_state(env);
        resp->status = 200;
        resp->body = json_pack("{s:s}", "deleted", id);
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
        if (k == 0 && old.origin != ORIGIN_AGENT) {
                api_error(resp, 409, "forward_exists",
                          "forward '%s' was made through /v1/forwards; change it there (these paths manage only their "
                          "own forwards)",
                          f.id);
                k = -EEXIST;
        } else if (k < 0 && k != -ENOENT)
                api_store_failed(resp, env, k, "cannot read the forward");
        else
                k = api_forward_store(env, rq->actor, &f, k == 0 ? STORE_WRITE_UPSERT : STORE_WRITE_CREATE,
                                      k == 0 ? old.version : 0, &stored, &outcome, resp);
        pthread_mutex_unlock(&env->lock);
        if (k < 0)
                return;
        (void)api_rules_state(env);
        resp->status = 200;
        resp->body = agent_forward_to_json(&stored);
        if (!resp->body)
                api_error(resp, 500, "internal", "cannot encode forward '%s'", f.id);
}

static void agent_forward_list(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        if (!api_no_query(rq, resp))
                return;
        json_t *arr = json_array();
        if (!arr)
                return api_error(resp, 500, "internal", "out of memory");
        char after[RESOURCE_ID_MAX + 1] = "";
        for (bool more = true; more;) {
                _cleanup_free_ struct forward_def *fwds = NULL;
                size_t n = 0;
                pthread_mutex_lock(&env->lock);
                int k = store_forward_list_page(env->store, after, AGENT_PAGE, NULL, 0, ORIGIN_AGENT, &fwds, &n, &more);
                if (k < 0)
                        api_store_failed(resp, env, k, "cannot list forwards");
                pthread_mutex_unlock(&env->lock);
                if (k < 0) {
                        json_decref(arr);
                        return;
                }
                for (size_t i = 0; i < n; i++) {
                        json_t *o = agent_forward_to_json(&fwds[i]);
                        if (!o || json_array_append_new(arr, o) < 0) {
                                json_decref(arr);
                                return api_error(resp, 500, "internal", "cannot encode forward '%s'", fwds[i].id);
                        }
                }
                if (n)
                        strcpy(after, fwds[n - 1].id);
                more = more && n;
        }
        resp->status = 200;
        resp->body = json_pack("{s:o}", "forwards", arr);
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
        if (k < 0)
                return;
        (void)api_rules_state(env);
        resp->status = 200;
        resp->body = json_pack("{s:s}", "deleted", id);
}

/* One of the two collections: POST and GET on it, DELETE on its items. */
static void agent_dispatch(struct api_env *env, const struct api_request *rq, struct api_response *resp,
                           const char *path, const char *kind,
                           void (*post)(struct api_env *, const struct api_request *, struct api_response *),
                           void (*list)(struct api_env *, const struct api_request *, struct api_response *),
                           void (*del)(struct api_env *, const struct api_request *, const char *,
                                       struct api_response *)) {
        const char *method = rq->method, *id = NULL;
        int which = api_path_id(rq->rest, kind, &id, resp);
        if (which < 0)
                return;
        if (which == 0) {
                if (streq(method, "POST"))
                        return post(env, rq, resp);
                if (api_method_is_get(method))
                        return list(env, rq, resp);
                resp->allow = "GET, POST";
                return api_error(resp, 405, "method_not_allowed", "%s is not allowed on %s (use GET or POST)", method,
                                 path);
        }
        if (streq(method, "DELETE"))
                return del(env, rq, id, resp);
        resp->allow = "DELETE";
        api_error(resp, 405, "method_not_allowed", "%s is not allowed on %s/ID (use DELETE)", method, path);
}

void api_agent_routes(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        agent_dispatch(env, rq, resp, "/http/routes", "route", agent_route_post, agent_route_list, agent_route_delete);
}

void api_agent_forwards(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        agent_dispatch(env, rq, resp, "/tcp/forwards", "forward", agent_forward_post, agent_forward_list,
                       agent_forward_delete);
}
