/* SPDX-License-Identifier: MIT */
/*
 * /v1/routes: a host name (or *.wildcard) -> target ip:port through the SNI proxy, with the
 * proxy's per-name options. Create, replace by id (PUT), list by pages, show, remove; each
 * write is one store transaction, then the reconciler republishes the proxy's route table.
 * Host names share one namespace with the VMs' extra names, and never take a VM's generated
 * name.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "core/log.h"
#include "handlers.h"
#include "store/store.h"

int api_route_store(struct api_env *env, const char *actor, const struct route_def *r, enum store_write_mode mode,
                    int64_t if_version, struct route_def *ret_stored, enum store_outcome *ret_outcome,
                    struct api_response *resp) {
        char err[API_ERROR_MAX];
        if (!api_target_not_gateway(&r->ip, &env->config, "'target_ip'", err)) {
                api_error(resp, 400, "invalid_argument", "%s", err);
                return -EINVAL;
        }
        if (!api_hostname_claimable(env, r->hostname, "route", r->id, resp))
                return -EEXIST;
        enum store_conflict conflict = STORE_CONFLICT_NONE;
        int k = store_route_put(env->store, r, mode, if_version, actor, &conflict, ret_outcome, ret_stored);
        if (k == -EEXIST && conflict == STORE_CONFLICT_HOSTNAME) {
                const char *names[] = {r->hostname};
                api_hostname_conflict(env, names, 1, "route", r->id, resp);
        } else if (k == -EEXIST && conflict != STORE_CONFLICT_ID)
                api_error(resp, 409, "hostname_in_use", "the route conflicts with another resource: %s",
                          store_errmsg(env->store));
        else if (k < 0)
                api_write_failed(env, resp, k, "route", r->id, if_version);
        else if (*ret_outcome != STORE_UNCHANGED) {
                char ip[IP_ADDR_STRLEN];
                log_info("api: route %s %s by %s: %s -> %s:%u", r->id,
                         *ret_outcome == STORE_CREATED ? "added" : "replaced", actor, r->hostname,
                         ip_addr_format(&r->ip, ip), r->port);
        }
        return k;
}

/* POST /v1/routes (id NULL) and PUT /v1/routes/ID: stores the route and answers with the
 * stored object (api_answer_stored). */
static void route_save(struct api_env *env, const struct api_request *rq, const char *id,
                       struct api_response *resp) {
        struct route_def r, old, stored;
        char err[API_ERROR_MAX];
        int64_t match = API_IF_MATCH_NONE, if_version = 0;
        enum api_decode_status st = route_request_decode(rq->body, rq->len, id, &r, err);
        if (st != API_DECODE_OK)
                return api_decode_failed(resp, st, err);
        if (!api_no_query(rq, resp) || (id && !api_if_match(rq, resp, &match)))
                return;
        enum store_outcome outcome = STORE_UNCHANGED;
        int k = -EINVAL; /* unless stored: answered by api_put_if_version() */
        pthread_mutex_lock(&env->lock);
        if (!id ||
            api_put_if_version(env, store_route_get(env->store, id, &old), match, "route", id, resp, &if_version))
                k = api_route_store(env, rq->actor, &r, id ? STORE_WRITE_UPSERT : STORE_WRITE_CREATE, if_version,
                                    &stored, &outcome, resp);
        pthread_mutex_unlock(&env->lock);
        if (k >= 0)
                api_answer_stored(env, resp, route_to_json(&stored), "route", "/v1/routes", r.id,
                                  stored.version, outcome);
}

static void route_create(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        route_save(env, rq, NULL, resp);
}

int api_route_page(struct api_env *env, const struct api_page *page, bool agent, json_t *arr,
                   char ret_next[static RESOURCE_ID_MAX + 1], struct api_response *resp) {
        _cleanup_free_ struct route_def *routes = NULL;
        size_t n = 0;
        bool more = false;
        pthread_mutex_lock(&env->lock);
        int k = store_route_list_page(env->store, page->after, page->limit, page->match, page->n_match, page->origin,
                                      &routes, &n, &more);
        if (k < 0)
                api_store_failed(resp, env, k, "cannot list routes");
        pthread_mutex_unlock(&env->lock);
        if (k < 0)
                return k;
        for (size_t i = 0; i < n; i++) {
                json_t *o = agent ? agent_route_to_json(&routes[i]) : route_to_json(&routes[i]);
                if (!api_list_add(arr, o, "route", routes[i].id, resp))
                        return -ENOMEM;
        }
        snprintf(ret_next, RESOURCE_ID_MAX + 1, "%s", more && n ? routes[n - 1].id : "");
        return 0;
}

static void route_list(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        api_list(env, rq, resp, "routes", api_route_page);
}

static void route_show(struct api_env *env, const struct api_request *rq, const char *id, struct api_response *resp) {
        if (!api_no_query(rq, resp))
                return;
        struct route_def r;
        pthread_mutex_lock(&env->lock);
        int k = store_route_get(env->store, id, &r);
        if (k < 0)
                api_read_failed(env, resp, k, "route", id);
        pthread_mutex_unlock(&env->lock);
        if (k >= 0)
                api_answer_one(resp, route_to_json(&r), "route", id, r.version);
}

static void route_remove(struct api_env *env, const struct api_request *rq, const char *id, struct api_response *resp) {
        int64_t match, if_version = 0;
        if (!api_no_query(rq, resp) || !api_if_match(rq, resp, &match) ||
            !api_if_version(match, "route", id, resp, &if_version))
                return;
        struct route_def r;
        pthread_mutex_lock(&env->lock);
        int k = store_route_remove(env->store, id, if_version, rq->actor, &r);
        if (k < 0)
                api_remove_failed(env, resp, k, "route", id, if_version);
        pthread_mutex_unlock(&env->lock);
        if (k < 0)
                return;
        log_info("api: route %s removed by %s: %s", r.id, rq->actor, r.hostname);
        api_answer_removed(env, resp, route_to_json(&r), "route", id);
}

void api_routes(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        static const struct api_methods methods = {
                .path = "/v1/routes",
                .kind = "route",
                .list = route_list,
                .create = route_create,
                .show = route_show,
                .put = route_save,
                .remove = route_remove,
        };
        api_serve(&methods, env, rq, resp);
}
