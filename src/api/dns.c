/* SPDX-License-Identifier: MIT */
/*
 * /v1/dns/records: the operator's view of the DNS outbox (issue 5), read-only. Every row the
 * DNS reconciler (daemon/dnssync.h) drives to the provider, with where it stands: pending,
 * synced, error (the last message and the next retry) or deleting. The rows are read from
 * the API's own store connection; the encoding and the filters are vmjson.h's (pure).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "core/util.h"
#include "daemon/dnssync.h"
#include "handlers.h"
#include "store/store.h"
#include "vmjson.h"

/* Every row of the outbox (malloc'd, NULL when none), or answers 5xx and returns < 0.
 * Takes and releases the lock. */
static int records_read(struct api_env *env, struct store_dns_record **ret, size_t *ret_n,
                        struct api_response *resp) {
        pthread_mutex_lock(&env->lock);
        int r = store_dns_list(env->store, ret, ret_n);
        if (r < 0)
                api_store_failed(resp, env, r, "cannot read the DNS records");
        pthread_mutex_unlock(&env->lock);
        return r;
}

/* 200 {"records": [...], "provider"} with the rows of recs[0..n) that f lets through and the
 * DNS reconciler's provider (null when none is configured); when none pass and
 * not_found_name is set, 404 naming it instead. */
static void records_answer(struct api_env *env, const struct store_dns_record *recs, size_t n,
                           const struct dns_record_filter *f, const char *not_found_name,
                           struct api_response *resp) {
        int64_t now = (int64_t)time(NULL);
        json_t *arr = json_array();
        if (!arr)
                return api_error(resp, 500, "internal", "out of memory");
        for (size_t i = 0; i < n; i++) {
                if (!dns_record_filter_match(f, &recs[i]))
                        continue;
                json_t *o = dns_record_to_json(&recs[i], now, false);
                if (!o || json_array_append_new(arr, o) < 0) {
                        json_decref(arr);
                        return api_error(resp, 500, "internal", "cannot encode the DNS record %s", recs[i].want.name);
                }
        }
        if (not_found_name && json_array_size(arr) == 0) {
                json_decref(arr);
                return api_error(resp, 404, "not_found", "no DNS record named '%s'", not_found_name);
        }
        /* The provider tells an empty list apart: nothing wanted, or DNS not configured. */
        struct dnssync_status ds = {0};
        if (env->dns)
                dnssync_get_status(env->dns, &ds);
        resp->status = 200;
        resp->body = json_pack("{s:o, s:s?}", "records", arr, "provider",
                               ds.enabled && ds.provider[0] ? ds.provider : NULL);
        if (!resp->body)
                api_error(resp, 500, "internal", "out of memory");
}

/* GET /v1/dns/records[?state=S][&owner=KIND:ID][&name=NAME] */
static void records_list(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        const char *keys[API_ARGS_MAX], *values[API_ARGS_MAX];
        size_t n_args = rq->n_args < API_ARGS_MAX ? rq->n_args : API_ARGS_MAX;
        for (size_t i = 0; i < n_args; i++) {
                keys[i] = rq->args[i].key;
                values[i] = rq->args[i].value;
        }
        struct dns_record_filter f;
        char err[API_ERROR_MAX];
        if (dns_record_filter_parse(keys, values, n_args, &f, err) < 0)
                return api_error(resp, 400, "invalid_argument", "%s", err);

        _cleanup_free_ struct store_dns_record *recs = NULL;
        size_t n = 0;
        if (records_read(env, &recs, &n, resp) < 0)
                return;
        records_answer(env, recs, n, &f, NULL, resp);
}

/* GET /v1/dns/records/NAME: the rows of one name (an A and/or an AAAA), 404 when none. */
static void records_show(struct api_env *env, const struct api_request *rq, const char *text,
                         struct api_response *resp) {
        struct dns_record_filter f = {.state = -1};
        if (dns_record_name_parse(text, f.name) < 0) {
                char shown[72];
                api_sanitize(text, shown, sizeof shown);
                return api_error(resp, 400, "invalid_argument", "'%s' is not a DNS name", shown);
        }
        if (!api_no_query(rq, resp))
                return;
        _cleanup_free_ struct store_dns_record *recs = NULL;
        size_t n = 0;
        if (records_read(env, &recs, &n, resp) < 0)
                return;
        records_answer(env, recs, n, &f, f.name, resp);
}

void api_dns(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        const char *rest = rq->rest;
        bool collection = rest[0] == '\0' || streq(rest, "/");
        if (!api_method_is_get(rq->method)) {
                resp->allow = "GET";
                return api_error(resp, 405, "method_not_allowed",
                                 "%s is not allowed on /v1/dns/records%s (read-only: use GET; the records follow "
                                 "the VMs and routes)",
                                 rq->method, collection ? "" : "/NAME");
        }
        if (collection)
                return records_list(env, rq, resp);
        if (strchr(rest + 1, '/'))
                return api_error(resp, 400, "invalid_argument", "no such path: /v1/dns/records/NAME takes one DNS name");
        records_show(env, rq, rest + 1, resp);
}
