/* SPDX-License-Identifier: MIT */
/*
 * /v1/forwards: a public port + proto -> target ip:port, beside the VMs' port blocks. Create,
 * replace by id (PUT), list by pages, show, remove; each write is one store transaction, then
 * the reconciler converges the kernel (or the proxy's user-space forwards). A public port
 * never overlaps a VM's block, another forward, or a port the gateway itself listens on; the
 * API's port map marks forward ports so new VM blocks avoid them.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "core/log.h"
#include "handlers.h"
#include "store/store.h"

/* Frees port in the port map unless a forward of the other protocol still holds it. Lock held. */
static void port_release(struct api_env *env, uint16_t port, enum proto proto) {
        struct store_owner o;
        enum proto other = proto == PROTO_TCP ? PROTO_UDP : PROTO_TCP;
        if (store_port_owner(env->store, port, other, &o) == 0)
                return;
        portmap_set(&env->ports, port, 1, false);
}

int api_forward_store(struct api_env *env, const char *actor, const struct forward_def *f, enum store_write_mode mode,
                      int64_t if_version, struct forward_def *ret_stored, enum store_outcome *ret_outcome,
                      struct api_response *resp) {
        char err[API_ERROR_MAX];
        if (!api_target_not_gateway(&f->ip, &env->config, "'target_ip'", err)) {
                api_error(resp, 400, "invalid_argument", "%s", err);
                return -EINVAL;
        }
        if (!api_port_not_listener(env, f->public_port, (enum proto)f->proto, resp))
                return -EEXIST;
        struct forward_def old;
        int k = store_forward_get(env->store, f->id, &old);
        if (k < 0 && k != -ENOENT) {
                api_store_failed(resp, env, k, "cannot read the forward");
                return k;
        }
        bool had_old = k == 0;
        enum store_conflict conflict = STORE_CONFLICT_NONE;
        k = store_forward_put(env->store, f, mode, if_version, actor, &conflict, ret_outcome, ret_stored);
        if (k == -EEXIST && conflict == STORE_CONFLICT_ID)
                api_error(resp, 409, "forward_exists", "a forward with id '%s' already exists", f->id);
        else if (k == -EEXIST)
                api_port_conflict(env, f->public_port, (enum proto)f->proto, resp);
        else if (k == -ESTALE)
                api_stale(env, resp, "forward", f->id, if_version);
        else if (k < 0)
                api_store_failed(resp, env, k, "cannot store the forward");
        if (k < 0)
                return k;
        if (had_old && (old.public_port != ret_stored->public_port || old.proto != ret_stored->proto))
                port_release(env, old.public_port, (enum proto)old.proto);
        portmap_set(&env->ports, ret_stored->public_port, 1, true);
        if (*ret_outcome != STORE_UNCHANGED) {
                char ip[IP_ADDR_STRLEN];
                log_info("api: forward %s %s by %s: %u/%s -> %s:%u", f->id,
                         *ret_outcome == STORE_CREATED ? "added" : "replaced", actor, f->public_port,
                         proto_to_string((enum proto)f->proto), ip_addr_format(&f->ip, ip), f->port);
        }
        return 0;
}

/* Stores f and answers with the stored object: 201 when created (Location), 200 otherwise,
 * ETag and "rules" either way. Lock held on entry, released on return. */
static void forward_write(struct api_env *env, const struct api_request *rq, const struct forward_def *f,
                          enum store_write_mode mode, int64_t if_version, struct api_response *resp) {
        enum store_outcome outcome = STORE_UNCHANGED;
        struct forward_def stored;
        int k = api_forward_store(env, rq->actor, f, mode, if_version, &stored, &outcome, resp);
        pthread_mutex_unlock(&env->lock);
        if (k < 0)
                return;
        json_t *o = forward_to_json(&stored);
        if (!o)
                return api_error(resp, 500, "internal", "cannot encode forward '%s'", f->id);
        json_object_set_new(o, "rules", json_string(api_rules_state(env)));
        resp->status = outcome == STORE_CREATED ? 201 : 200;
        resp->body = o;
        api_set_etag(resp, stored.version);
        if (outcome == STORE_CREATED)
                snprintf(resp->location, sizeof resp->location, "/v1/forwards/%s", f->id);
}

static void forward_create(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        struct forward_def f;
        char err[API_ERROR_MAX];
        enum api_decode_status st = forward_request_decode(rq->body, rq->len, NULL, &f, err);
        if (st != API_DECODE_OK)
                return api_decode_failed(resp, st, err);
        if (!api_no_query(rq, resp))
                return;
        pthread_mutex_lock(&env->lock);
        forward_write(env, rq, &f, STORE_WRITE_CREATE, 0, resp);
}

static void forward_put(struct api_env *env, const struct api_request *rq, const char *id,
                        struct api_response *resp) {
        struct forward_def f, old;
        char err[API_ERROR_MAX];
        int64_t match, if_version = 0;
        enum api_decode_status st = forward_request_decode(rq->body, rq->len, id, &f, err);
        if (st != API_DECODE_OK)
                return api_decode_failed(resp, st, err);
        if (!api_no_query(rq, resp) || !api_if_match(rq, resp, &match))
                return;
        pthread_mutex_lock(&env->lock);
        int k = store_forward_get(env->store, id, &old);
        if (k == -ENOENT) {
                if (match != API_IF_MATCH_NONE) {
                        api_if_match_absent(resp, "forward", id);
                        goto unlock;
                }
        } else if (k < 0) {
                api_store_failed(resp, env, k, "cannot read the forward");
                goto unlock;
        } else if (!api_if_version(match, "forward", id, resp, &if_version))
                goto unlock;
        return forward_write(env, rq, &f, STORE_WRITE_UPSERT, if_version, resp);
unlock:
        pthread_mutex_unlock(&env->lock);
}

static void forward_list(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        struct api_list_query q;
        if (!api_list_query(rq, false, &q, resp))
                return;
        _cleanup_free_ struct forward_def *fwds = NULL;
        size_t n = 0;
        bool more = false;
        pthread_mutex_lock(&env->lock);
        int k = store_forward_list_page(env->store, q.after, q.limit, q.match, q.n_match, -1, &fwds, &n, &more);
        if (k < 0)
                api_store_failed(resp, env, k, "cannot list forwards");
        pthread_mutex_unlock(&env->lock);
        if (k < 0)
                return;
        json_t *arr = json_array();
        if (!arr)
                return api_error(resp, 500, "internal", "out of memory");
        for (size_t i = 0; i < n; i++) {
                json_t *o = forward_to_json(&fwds[i]);
                if (!o || json_array_append_new(arr, o) < 0) {
                        json_decref(arr);
                        return api_error(resp, 500, "internal", "cannot encode forward '%s'", fwds[i].id);
                }
        }
        resp->status = 200;
        resp->body = json_pack("{s:o, s:s?}", "forwards", arr, "next", more && n ? fwds[n - 1].id : NULL);
}

static void forward_show(struct api_env *env, const struct api_request *rq, const char *id,
                         struct api_response *resp) {
        if (!api_no_query(rq, resp))
                return;
        struct forward_def f;
        pthread_mutex_lock(&env->lock);
        int k = store_forward_get(env->store, id, &f);
        if (k == -ENOENT)
                api_error(resp, 404, "not_found", "no forward with id '%s'", id);
        else if (k < 0)
                api_store_failed(resp, env, k, "cannot read the forward");
        pthread_mutex_unlock(&env->lock);
        if (k < 0)
                return;
        json_t *o = forward_to_json(&f);
        if (!o)
                return api_error(resp, 500, "internal", "cannot encode forward '%s'", id);
        resp->status = 200;
        resp->body = o;
        api_set_etag(resp, f.version);
}

int api_forward_remove(struct api_env *env, const char *id, int64_t if_version, const char *actor,
                              struct forward_def *ret_removed, struct api_response *resp) {
        int k = store_forward_remove(env->store, id, if_version, actor, ret_removed);
        if (k == -ENOENT)
                api_error(resp, 404, "not_found", "no forward with id '%s'", id);
        else if (k == -ESTALE)
                api_stale(env, resp, "forward", id, if_version);
        else if (k < 0)
                api_store_failed(resp, env, k, "cannot remove the forward");
        else {
                port_release(env, ret_removed->public_port, (enum proto)ret_removed->proto);
                log_info("api: forward %s removed by %s: %u/%s", id, actor, ret_removed->public_port,
                         proto_to_string((enum proto)ret_removed->proto));
        }
        return k;
}

static void forward_remove(struct api_env *env, const struct api_request *rq, const char *id,
                           struct api_response *resp) {
        int64_t match, if_version = 0;
        if (!api_no_query(rq, resp) || !api_if_match(rq, resp, &match) ||
            !api_if_version(match, "forward", id, resp, &if_version))
                return;
        struct forward_def f;
        pthread_mutex_lock(&env->lock);
        int k = api_forward_remove(env, id, if_version, rq->actor, &f, resp);
        pthread_mutex_unlock(&env->lock);
        if (k < 0)
                return;
        json_t *o = forward_to_json(&f);
        if (!o)
                return api_error(resp, 500, "internal", "forward '%s' removed, but it cannot be encoded", id);
        resp->status = 200;
        resp->body = json_pack("{s:o, s:s}", "removed", o, "rules", api_rules_state(env));
}

void api_forwards(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        const char *method = rq->method, *id = NULL;
        int kind = api_path_id(rq->rest, "forward", &id, resp);
        if (kind < 0)
                return;
        if (kind == 0) {
                if (api_method_is_get(method))
                        return forward_list(env, rq, resp);
                if (streq(method, "POST"))
                        return forward_create(env, rq, resp);
                resp->allow = "GET, POST";
                return api_error(resp, 405, "method_not_allowed",
                                 "%s is not allowed on /v1/forwards (use GET or POST)", method);
        }
        if (api_method_is_get(method))
                return forward_show(env, rq, id, resp);
        if (streq(method, "PUT"))
                return forward_put(env, rq, id, resp);
        if (streq(method, "DELETE"))
                return forward_remove(env, rq, id, resp);
        resp->allow = "GET, PUT, DELETE";
        api_error(resp, 405, "method_not_allowed", "%s is not allowed on /v1/forwards/ID (use GET, PUT or DELETE)",
                  method);
}
