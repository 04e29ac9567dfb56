/* SPDX-License-Identifier: MIT */
/*
 * A central node's DNS endpoint (issue 5, provider "edgegw" on the other side): POST
 * /api/v1/agents/dns (seed 000's path and body, and the extended body dns/central.c sends)
 * and /v1/dns/remote (the same POST, and GET: the list for operators). A node without DNS
 * credentials asks this one, with a token of scope dns, to publish or retract a record; the
 * record is stored in dns_remote (owned by the token) and the DNS reconciler publishes it
 * through this node's own provider. The codec and the zone/datacenter checks are
 * dnsremotejson.c; here are the store writes, ownership, the kick and the answers.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "core/util.h"
#include "daemon/dnssync.h"
#include "dns/provider.h"
#include "dnsremotejson.h"
#include "handlers.h"
#include "store/store.h"

static json_t *time_json(int64_t t) {
        char buf[API_TIME_MAX];
        return t > 0 && api_time_format(t, buf)[0] ? json_string(buf) : json_null();
}

/* A stored record as the API shows it; outbox (optional) adds where it stands at this
 * node's provider. */
static json_t *remote_json(const struct store_dns_remote *r, const struct store_dns_record *outbox) {
        const struct dns_record_want *w = &r->want;
        json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:b, s:o, s:o, s:o, s:o}", "name", w->name, "type",
                              dns_type_to_string(w->type), "content", w->content, "ttl", (json_int_t)w->ttl, "proxied",
                              w->proxied, "token", w->owner_id[0] ? json_string(w->owner_id) : json_null(),
                              "datacenter", r->datacenter[0] ? json_string(r->datacenter) : json_null(), "created_at",
                              time_json(r->created_at), "updated_at", time_json(r->updated_at));
        if (o && outbox) {
                json_object_set_new(o, "state", json_string(store_dns_state_to_string(outbox->state)));
                json_object_set_new(o, "last_error", outbox->last_error[0] ? json_string(outbox->last_error) : json_null());
        }
        return o;
}

/* The outbox row that publishes r: same (name, type), owned by the same node. */
static const struct store_dns_record *outbox_find(const struct store_dns_record *rows, size_t n,
                                                  const struct store_dns_remote *r) {
        for (size_t i = 0; i < n; i++)
                if (dns_record_want_compare(&rows[i].want, &r->want) == 0 && streq(rows[i].want.owner_kind, "node") &&
                    streq(rows[i].want.owner_id, r->want.owner_id))
                        return &rows[i];
        return NULL;
}

static void remote_list(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        if (!api_no_query(rq, resp))
                return;
        _cleanup_free_ struct store_dns_remote *rows = NULL;
        _cleanup_free_ struct store_dns_record *outbox = NULL;
        size_t n = 0, n_outbox = 0;
        pthread_mutex_lock(&env->lock);
        int r = store_dns_remote_rows(env->store, &rows, &n);
        if (r >= 0 && (r = store_dns_list(env->store, &outbox, &n_outbox)) < 0)
                n_outbox = 0;
        if (r < 0)
                api_store_failed(resp, env, r, "cannot read the remote DNS records");
        pthread_mutex_unlock(&env->lock);
        if (r < 0)
                return;
        _cleanup_(json_decrefp) json_t *arr = json_array();
        if (!arr)
                return api_error(resp, 500, "internal", "out of memory");
        for (size_t i = 0; i < n; i++)
                if (json_array_append_new(arr, remote_json(&rows[i], outbox_find(outbox, n_outbox, &rows[i]))) < 0)
                        return api_error(resp, 500, "internal", "cannot encode the record %s", rows[i].want.name);
        resp->status = 200;
        resp->body = json_pack("{s:O}", "records", arr);
}

/* Answers the 409 of a record that another token (or this node's operator) owns. */
static void owned_elsewhere(struct api_response *resp, const struct store_dns_remote *row) {
        const char *owner = row->want.owner_id;
        api_error(resp, 409, "record_owned",
                  "%s %s is published by %s%s%s; a node may change only the records its own token published",
                  row->want.name, dns_type_to_string(row->want.type), owner[0] ? "token '" : "this node's operator",
                  owner, owner[0] ? "'" : "");
}

/* Creates or updates req's record. Lock held. Returns whether something changed, or a
 * negative errno after answering. */
static int remote_create(struct api_env *env, const struct api_request *rq, const char *token,
                         const struct dns_remote_request *req, const char *datacenter, struct api_response *resp) {
        struct dns_record_want w = {.type = req->type, .ttl = req->ttl, .proxied = req->proxied};
        strcpy(w.name, req->name);
        strcpy(w.content, req->content);
        struct store_dns_remote row;
        int r = store_dns_remote_get(env->store, w.name, w.type, &row);
        if (r < 0 && r != -ENOENT) {
                api_store_failed(resp, env, r, "cannot read the record");
                return r;
        }
        bool existed = r == 0, changed = false;
        if (existed && token && !streq(row.want.owner_id, token)) {
                owned_elsewhere(resp, &row);
                return -EPERM;
        }
        if ((r = store_dns_remote_put(env->store, &w, token, datacenter, rq->actor, &changed)) < 0 ||
            (r = store_dns_remote_get(env->store, w.name, w.type, &row)) < 0) {
                api_store_failed(resp, env, r, "cannot store the record");
                return r;
        }
        json_t *o = remote_json(&row, NULL);
        if (!o) {
                api_error(resp, 500, "internal", "cannot encode the record %s", w.name);
                return -ENOMEM;
        }
        resp->status = 200;
        resp->body = json_pack("{s:b, s:s, s:s, s:o}", "success", true, "action", "create", "outcome",
                               !changed ? "unchanged" : existed ? "updated" : "created", "record", o);
        return changed;
}

/* Removes req's record (both types when it names none), all or nothing: a type owned by
 * another token refuses the whole request before anything is removed. Lock held. */
static int remote_delete(struct api_env *env, const struct api_request *rq, const char *token,
                         const struct dns_remote_request *req, struct api_response *resp) {
        uint16_t types[2] = {DNS_TYPE_A, DNS_TYPE_AAAA};
        size_t n_types = 2;
        if (req->type) {
                types[0] = req->type;
                n_types = 1;
        }
        struct store_dns_remote rows[2];
        bool found[2] = {false, false};
        for (size_t i = 0; i < n_types; i++) {
                int r = store_dns_remote_get(env->store, req->name, types[i], &rows[i]);
                if (r < 0 && r != -ENOENT) {
                        api_store_failed(resp, env, r, "cannot read the record");
                        return r;
                }
                found[i] = r == 0;
        }
        _cleanup_(json_decrefp) json_t *removed = json_array();
        if (!removed) {
                api_error(resp, 500, "internal", "out of memory");
                return -ENOMEM;
        }
        /* First the ownership of every type, so nothing is half done. */
        for (size_t i = 0; i < n_types; i++)
                if (found[i] && token && !streq(rows[i].want.owner_id, token)) {
                        owned_elsewhere(resp, &rows[i]);
                        return -EPERM;
                }
        bool any = false;
        for (size_t i = 0; i < n_types; i++) {
                if (!found[i])
                        continue;
                bool gone = false;
                int r = store_dns_remote_remove(env->store, req->name, types[i], token, rq->actor, &gone);
                if (r < 0) {
                        api_store_failed(resp, env, r, "cannot remove the record");
                        return r;
                }
                if (gone) {
                        any = true;
                        json_array_append_new(removed, remote_json(&rows[i], NULL));
                }
        }
        resp->status = 200;
        resp->body = json_pack("{s:b, s:s, s:b, s:O}", "success", true, "action", "delete", "deleted", any, "removed",
                               removed);
        return any;
}

static void remote_post(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        if (!api_no_query(rq, resp))
                return;
        /* Only the unix socket acts as this node's operator; a TCP caller acts as its token. */
        bool operator = !rq->token_name && rq->actor && strncmp(rq->actor, "unix", 4) == 0;
        if (!operator && !rq->token_name)
                return api_error(resp, 403, "forbidden", "only an API token with the dns scope may publish DNS records");

        char zone[sizeof env->config.dns_zone], domain[sizeof env->config.domain];
        pthread_mutex_lock(&env->lock);
        bool enabled = env->config.dns_provider[0] != '\0';
        strcpy(zone, env->config.dns_zone);
        strcpy(domain, env->config.domain);
        uint32_t ttl = env->config.dns_ttl;
        pthread_mutex_unlock(&env->lock);
        if (!enabled)
                return api_error(resp, 503, "dns_disabled",
                                 "this edgegw publishes no DNS records: its [dns] provider is not configured");

        struct dns_remote_request req;
        char err[API_ERROR_MAX];
        const struct dns_remote_policy policy = {
                .zone = zone,
                .domain = domain,
                .token_name = rq->token_name,
                .token_datacenter = rq->token_datacenter,
                .default_ttl = ttl,
        };
        enum dns_remote_status st = dns_remote_request_decode(rq->body, rq->len, &req, err);
        if (st == DNS_REMOTE_OK)
                st = dns_remote_request_check(&req, &policy, err);
        if (st != DNS_REMOTE_OK) {
                unsigned status = 400;
                const char *code = dns_remote_status_code(st, &status);
                return api_error(resp, status, code, "%s", err);
        }

        const char *token = operator ? NULL : rq->token_name;
        const char *datacenter = req.seed                                               ? req.datacenter
                                 : rq->token_datacenter && rq->token_datacenter[0] ? rq->token_datacenter
                                                                                     : "";
        pthread_mutex_lock(&env->lock);
        int r = req.action == DNS_REMOTE_CREATE ? remote_create(env, rq, token, &req, datacenter, resp)
                                                : remote_delete(env, rq, token, &req, resp);
        pthread_mutex_unlock(&env->lock);
        if (r > 0 && env->dns)
                dnssync_kick(env->dns);
}

void api_agent_dns(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        bool agent = strncmp(rq->path, "/api/", 5) == 0;
        if (*rq->rest && !streq(rq->rest, "/"))
                return api_error(resp, 404, "not_found", "no such path (POST %s)",
                                 agent ? "/api/v1/agents/dns" : "/v1/dns/remote, GET /v1/dns/remote");
        if (streq(rq->method, "POST"))
                return remote_post(env, rq, resp);
        if (!agent && api_method_is_get(rq->method))
                return remote_list(env, rq, resp);
        resp->allow = agent ? "POST" : "GET, HEAD, POST";
        api_error(resp, 405, "method_not_allowed", "%s is not allowed on %s (use %s)", rq->method,
                  agent ? "/api/v1/agents/dns" : "/v1/dns/remote", agent ? "POST" : "GET or POST");
}
