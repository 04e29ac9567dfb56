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
        /* In userspace mode the forward's own listener holds its port: only a port new to
         * this forward is checked against the gateway's sockets. */
        if ((!had_old || old.public_port != f->public_port || old.proto != f->proto) &&
            store_port_owner(env->store, f->public_port, (enum proto)f->proto, &(struct store_owner){0}) == -ENOENT &&
            !api_port_not_local(f->public_port, (enum proto)f->proto, resp))
                return -EEXIST;
        enum store_conflict conflict = STORE_CONFLICT_NONE;
        k = store_forward_put(env->store, f, mode, if_version, actor, &conflict, ret_outcome, ret_stored);
        if (k == -EEXIST && conflict != STORE_CONFLICT_ID)
                api_port_conflict(env, f->public_port, (enum proto)f->proto, resp);
        else if (k < 0)
                api_write_failed(env, resp, k, "forward", f->id, if_version);
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

/* POST /v1/forwards (id NULL) and PUT /v1/forwards/ID: stores the forward and answers with the
 * stored object (api_answer_stored). */
static void forward_save(struct api_env *env, const struct api_request *rq, const char *id,
                         struct api_response *resp) {
        struct forward_def f, old, stored;
        char err[API_ERROR_MAX];
        int64_t match = API_IF_MATCH_NONE, if_version = 0;
        enum api_decode_status st = forward_request_decode(rq->body, rq->len, id, &f, err);
        if (st != API_DECODE_OK)
                return api_decode_failed(resp, st, err);
        if (!api_no_query(rq, resp) || (id && !api_if_match(rq, resp, &match)))
                return;
        enum store_outcome outcome = STORE_UNCHANGED;
        int k = -EINVAL; /* unless stored: answered by api_put_if_version() */
        pthread_mutex_lock(&env->lock);
        if (!id ||
            api_put_if_version(env, store_forward_get(env->store, id, &old), match, "forward", id, resp, &if_version))
                k = api_forward_store(env, rq->actor, &f, id ? STORE_WRITE_UPSERT : STORE_WRITE_CREATE, if_version,
                                      &stored, &outcome, resp);
        pthread_mutex_unlock(&env->lock);
        if (k >= 0)
                api_answer_stored(env, resp, forward_to_json(&stored), "forward", "/v1/forwards", f.id,
                                  stored.version, outcome);
}

static void forward_create(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        forward_save(env, rq, NULL, resp);
}

int api_forward_page(struct api_env *env, const struct api_page *page, bool agent, json_t *arr,
                     char ret_next[static RESOURCE_ID_MAX + 1], struct api_response *resp) {
        _cleanup_free_ struct forward_def *fwds = NULL;
        size_t n = 0;
        bool more = false;
        pthread_mutex_lock(&env->lock);
        int k = store_forward_list_page(env->store, page->after, page->limit, page->match, page->n_match, page->origin,
                                        &fwds, &n, &more);
        if (k < 0)
                api_store_failed(resp, env, k, "cannot list forwards");
        pthread_mutex_unlock(&env->lock);
        if (k < 0)
                return k;
        for (size_t i = 0; i < n; i++) {
                json_t *o = agent ? agent_forward_to_json(&fwds[i]) : forward_to_json(&fwds[i]);
                if (!api_list_add(arr, o, "forward", fwds[i].id, resp))
                        return -ENOMEM;
        }
        snprintf(ret_next, RESOURCE_ID_MAX + 1, "%s", more && n ? fwds[n - 1].id : "");
        return 0;
}

static void forward_list(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        api_list(env, rq, resp, "forwards", api_forward_page);
}

static void forward_show(struct api_env *env, const struct api_request *rq, const char *id,
                         struct api_response *resp) {
        if (!api_no_query(rq, resp))
                return;
        struct forward_def f;
        pthread_mutex_lock(&env->lock);
        int k = store_forward_get(env->store, id, &f);
        if (k < 0)
                api_read_failed(env, resp, k, "forward", id);
        pthread_mutex_unlock(&env->lock);
        if (k >= 0)
                api_answer_one(resp, forward_to_json(&f), "forward", id, f.version);
}

int api_forward_remove(struct api_env *env, const char *id, int64_t if_version, const char *actor,
                       struct forward_def *ret_removed, struct api_response *resp) {
        int k = store_forward_remove(env->store, id, if_version, actor, ret_removed);
        if (k < 0) {
                api_remove_failed(env, resp, k, "forward", id, if_version);
                return k;
        }
        port_release(env, ret_removed->public_port, (enum proto)ret_removed->proto);
        log_info("api: forward %s removed by %s: %u/%s", id, actor, ret_removed->public_port,
                 proto_to_string((enum proto)ret_removed->proto));
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
        if (k >= 0)
                api_answer_removed(env, resp, forward_to_json(&f), "forward", id);
}

void api_forwards(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        static const struct api_methods methods = {
                .path = "/v1/forwards",
                .kind = "forward",
                .list = forward_list,
                .create = forward_create,
                .show = forward_show,
                .put = forward_save,
                .remove = forward_remove,
        };
        api_serve(&methods, env, rq, resp);
}
