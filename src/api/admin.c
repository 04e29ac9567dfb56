/* SPDX-License-Identifier: MIT */
/*
 * The admin resources: /v1/tokens (create with the secret shown once, list, revoke; every
 * change reloads the TCP listener's token cache at once) and /v1/audit (the store's audit
 * rows, newest first, with their before/after objects). The caller checked the admin scope.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "auth.h"
#include "core/util.h"
#include "store/store.h"

#define AUDIT_LIMIT_DEFAULT 100
#define AUDIT_LIMIT_MAX 1000

static void store_failed(struct api_response *resp, struct api_env *env, int r, const char *what) {
        if (r == -EBUSY)
                api_error(resp, 503, "busy", "%s: the store is locked by another process, try again", what);
        else
                api_error(resp, 500, "internal", "%s: %s", what, r == -ENOSYS ? "not implemented" : store_errmsg(env->store));
}

/* RFC 3339 UTC text of unix time t, or JSON null for 0. */
static json_t *time_json(int64_t t) {
        if (t <= 0)
                return json_null();
        time_t tt = (time_t)t;
        struct tm tm;
        char buf[32];
        if (!gmtime_r(&tt, &tm) || !strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm))
                return json_null();
        return json_string(buf);
}

static json_t *scopes_json(uint32_t scopes) {
        json_t *a = json_array();
        for (uint32_t bit = 1; a && bit <= SCOPE_ADMIN; bit <<= 1)
                if (scopes & bit)
                        json_array_append_new(a, json_string(scope_to_string((enum api_scope)bit)));
        return a;
}

/* The public view of a token: never its hash. */
static json_t *token_json(const struct token_rec *t) {
        return json_pack("{s:s, s:o, s:o, s:o, s:o}", "name", t->name, "scopes", scopes_json(t->scopes), "datacenter",
                         t->datacenter[0] ? json_string(t->datacenter) : json_null(), "created_at",
                         time_json(t->created_at), "last_used_at", time_json(t->last_used_at));
}

/* Decodes {"name": NAME, "scopes": [SCOPE, ...], "datacenter"?: DC} strictly. Returns 0 or
 * answers 400. */
static int token_request_decode(const struct api_request *rq, struct token_rec *ret, struct api_response *resp) {
        json_error_t jerr;
        json_t *root = rq->body && rq->len ? json_loadb(rq->body, rq->len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
        if (!root || !json_is_object(root)) {
                if (root)
                        api_error(resp, 400, "invalid_json", "the body must be a JSON object");
                else
                        api_error(resp, 400, "invalid_json", "%s",
                                  rq->body && rq->len ? jerr.text : "a JSON body {\"name\", \"scopes\"} is required");
                json_decref(root);
                return -EINVAL;
        }
        int r = -EINVAL;
        const char *key;
        json_t *v;
        json_object_foreach(root, key, v) {
                if (!streq(key, "name") && !streq(key, "scopes") && !streq(key, "datacenter")) {
                        api_error(resp, 400, "invalid_argument",
                                  "unknown field '%.64s' (a token has name, scopes and datacenter)", key);
                        goto out;
                }
        }
        json_t *name = json_object_get(root, "name"), *scopes = json_object_get(root, "scopes");
        json_t *dc = json_object_get(root, "datacenter");
        if (!json_is_string(name) || !vm_id_valid(json_string_value(name)) ||
            strlen(json_string_value(name)) > TOKEN_NAME_MAX) {
                api_error(resp, 400, "invalid_argument",
                          "name: required, 1-%d characters of A-Z a-z 0-9 . _ - starting with a letter or digit",
                          TOKEN_NAME_MAX);
                goto out;
        }
        if (!json_is_array(scopes) || json_array_size(scopes) == 0) {
                api_error(resp, 400, "invalid_argument",
                          "scopes: required, a non-empty array of read, vms, routes, forwards, dns, admin");
                goto out;
        }
        char text[SCOPES_TEXT_MAX * 2] = "";
        size_t i;
        json_array_foreach(scopes, i, v) {
                const char *s = json_is_string(v) ? json_string_value(v) : NULL;
                if (!s || !*s || strchr(s, ',') || strlen(text) + strlen(s) + 2 > sizeof text) {
                        api_error(resp, 400, "invalid_argument",
                                  "scopes[%zu]: not a scope (read, vms, routes, forwards, dns, admin)", i);
                        goto out;
                }
                if (i)
                        strcat(text, ",");
                strcat(text, s);
        }
        char bad[32];
        if (scopes_parse(text, &ret->scopes, bad) < 0) {
                api_error(resp, 400, "invalid_argument",
                          "scopes: '%s' is not a scope or is repeated (read, vms, routes, forwards, dns, admin)", bad);
                goto out;
        }
        if (dc && !json_is_null(dc)) {
                const char *d = json_is_string(dc) ? json_string_value(dc) : NULL;
                if (!d || !dns_label_valid(d, strlen(d))) {
                        api_error(resp, 400, "invalid_argument",
                                  "datacenter: a DNS label (1-63 of a-z 0-9 -, not starting or ending with '-'), the "
                                  "one datacenter whose names {NAME}.{datacenter}.{domain} the token may publish");
                        goto out;
                }
                strcpy(ret->datacenter, d);
        }
        strcpy(ret->name, json_string_value(name));
        r = 0;
out:
        json_decref(root);
        return r;
}

static bool token_exists(struct api_env *env, const char *name) {
        struct token_rec *all = NULL;
        size_t n = 0;
        bool found = false;
        if (store_token_list(env->store, &all, &n) >= 0)
                for (size_t i = 0; i < n && !found; i++)
                        found = streq(all[i].name, name);
        free(all);
        return found;
}

static void token_create(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        struct token_rec t = {0};
        if (token_request_decode(rq, &t, resp) < 0)
                return;
        t.created_at = (int64_t)time(NULL);
        char text[AUTH_TOKEN_LEN + 1];

        pthread_mutex_lock(&env->lock);
        int r = -EEXIST;
        /* A second try only if the random key id collided with another token's (2^-64). */
        for (int attempt = 0; attempt < 2 && r == -EEXIST; attempt++) {
                if (auth_token_generate(text, &t) < 0) {
                        r = -EIO;
                        break;
                }
                r = store_token_add(env->store, &t, rq->actor);
                if (r == -EEXIST && token_exists(env, t.name))
                        break;
        }
        if (r >= 0) {
                int rr = api_tokens_reload(env);
                if (rr < 0) /* stored but not live: say so rather than hand out a token that fails */
                        r = rr;
        }
        pthread_mutex_unlock(&env->lock);

        if (r == -EEXIST)
                api_error(resp, 409, "token_exists", "a token named '%s' already exists", t.name);
        else if (r == -EIO)
                api_error(resp, 500, "internal", "the random source failed");
        else if (r < 0)
                store_failed(resp, env, r, "cannot store the token");
        else {
                resp->status = 201;
                resp->body = token_json(&t);
                json_object_del(resp->body, "last_used_at");
                json_object_set_new(resp->body, "token", json_string(text));
                snprintf(resp->location, sizeof resp->location, "/v1/tokens/%s", t.name);
        }
        explicit_bzero(text, sizeof text);
}

static void token_list(struct api_env *env, struct api_response *resp) {
        struct token_rec *all = NULL;
        size_t n = 0;
        pthread_mutex_lock(&env->lock);
        int r = store_token_list(env->store, &all, &n);
        pthread_mutex_unlock(&env->lock);
        if (r < 0)
                return store_failed(resp, env, r, "cannot list the tokens");
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n; i++)
                json_array_append_new(arr, token_json(&all[i]));
        free(all);
        resp->status = 200;
        resp->body = json_pack("{s:o}", "tokens", arr);
}

static void token_show(struct api_env *env, const char *name, struct api_response *resp) {
        struct token_rec *all = NULL;
        size_t n = 0;
        pthread_mutex_lock(&env->lock);
        int r = store_token_list(env->store, &all, &n);
        pthread_mutex_unlock(&env->lock);
        if (r < 0)
                return store_failed(resp, env, r, "cannot read the tokens");
        for (size_t i = 0; i < n; i++)
                if (streq(all[i].name, name)) {
                        resp->status = 200;
                        resp->body = token_json(&all[i]);
                        free(all);
                        return;
                }
        free(all);
        api_error(resp, 404, "not_found", "no token named '%s'", name);
}

static void token_remove(struct api_env *env, const struct api_request *rq, const char *name,
                         struct api_response *resp) {
        struct token_rec removed = {0};
        pthread_mutex_lock(&env->lock);
        int r = store_token_remove(env->store, name, rq->actor, &removed);
        int rr = r >= 0 ? api_tokens_reload(env) : 0;
        pthread_mutex_unlock(&env->lock);
        if (r == -ENOENT)
                return api_error(resp, 404, "not_found", "no token named '%s'", name);
        if (r < 0)
                return store_failed(resp, env, r, "cannot remove the token");
        if (rr < 0)
                /* Removed from the store, but the cache still has it: a failure, so the caller retries. */
                return store_failed(resp, env, rr, "token removed, but the running listener could not reload");
        resp->status = 200;
        resp->body = json_pack("{s:o}", "removed", token_json(&removed));
}

void api_tokens(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        const char *method = rq->method, *rest = rq->rest;
        if (!*rest || streq(rest, "/")) {
                if (streq(method, "GET") || streq(method, "HEAD"))
                        return token_list(env, resp);
                if (streq(method, "POST"))
                        return token_create(env, rq, resp);
                resp->allow = "GET, HEAD, POST";
                return api_error(resp, 405, "method_not_allowed", "%s is not allowed on /v1/tokens (use GET or POST)",
                                 method);
        }
        const char *name = rest + 1;
        if (!vm_id_valid(name) || strlen(name) > TOKEN_NAME_MAX)
                return api_error(resp, 400, "invalid_argument",
                                 "invalid token name: 1-%d characters of A-Z a-z 0-9 . _ - starting with a letter or digit",
                                 TOKEN_NAME_MAX);
        if (streq(method, "GET") || streq(method, "HEAD"))
                return token_show(env, name, resp);
        if (streq(method, "DELETE"))
                return token_remove(env, rq, name, resp);
        resp->allow = "GET, HEAD, DELETE";
        api_error(resp, 405, "method_not_allowed", "%s is not allowed on /v1/tokens/NAME (use GET or DELETE)", method);
}

/* A positive decimal integer of at most max, or -EINVAL. */
static int64_t parse_positive(const char *s, int64_t max) {
        if (!*s || strlen(s) > 19)
                return -EINVAL;
        int64_t v = 0;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return -EINVAL;
                v = v * 10 + (*s - '0');
                if (v > max)
                        return -EINVAL;
        }
        return v > 0 ? v : -EINVAL;
}

/* The stored JSON text as an object again; a row that does not parse is shown as its text. */
static json_t *row_json(const char *text) {
        if (!text)
                return json_null();
        json_t *o = json_loads(text, 0, NULL);
        return o ? o : json_string(text);
}

void api_audit(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        if (*rq->rest && !streq(rq->rest, "/"))
                return api_error(resp, 404, "not_found", "no such path (use /v1/audit?id=ID)");
        if (!streq(rq->method, "GET") && !streq(rq->method, "HEAD")) {
                resp->allow = "GET, HEAD";
                return api_error(resp, 405, "method_not_allowed", "%s is not allowed on /v1/audit (use GET)",
                                 rq->method);
        }
        int64_t limit = AUDIT_LIMIT_DEFAULT, before = 0;
        const char *kind = NULL, *id = NULL;
        char mac_text[MAC_TEXT_LEN + 1];
        for (size_t i = 0; i < rq->n_args; i++) {
                const char *k = rq->args[i].key, *v = rq->args[i].value;
                if (streq(k, "limit")) {
                        if ((limit = parse_positive(v, AUDIT_LIMIT_MAX)) < 0)
                                return api_error(resp, 400, "invalid_argument", "limit: an integer 1..%d",
                                                 AUDIT_LIMIT_MAX);
                } else if (streq(k, "before")) {
                        if ((before = parse_positive(v, INT64_MAX / 10)) < 0)
                                return api_error(resp, 400, "invalid_argument",
                                                 "before: a positive sequence number (the 'next' of a page)");
                } else if (streq(k, "kind")) {
                        if (!streq(v, "vm") && !streq(v, "route") && !streq(v, "forward") && !streq(v, "token") &&
                            !streq(v, "dns") && !streq(v, "lease"))
                                return api_error(resp, 400, "invalid_argument",
                                                 "kind: one of vm, route, forward, token, dns, lease");
                        kind = v;
                } else if (streq(k, "id")) {
                        /* An id, a DNS name for kind dns, or a MAC for kind lease (stored in lower
                         * case with ':'). */
                        uint8_t mac[MAC_LEN];
                        if (!vm_id_valid(v) && !dns_name_valid(v) && mac_parse(v, mac) < 0)
                                return api_error(resp, 400, "invalid_argument",
                                                 "id: 1-%d characters of A-Z a-z 0-9 . _ - starting with a letter or "
                                                 "digit, a DNS name, or a MAC",
                                                 RESOURCE_ID_MAX);
                        id = v;
                } else
                        return api_error(resp, 400, "invalid_argument",
                                         "unknown query argument '%.64s' (use limit, before, kind, id)", k);
        }

        /* One row more than asked tells whether a next page exists. */
        size_t want = (size_t)limit < AUDIT_LIMIT_MAX ? (size_t)limit + 1 : AUDIT_LIMIT_MAX;
        struct audit_rec *recs = NULL;
        size_t n = 0;
        pthread_mutex_lock(&env->lock);
        uint8_t mac[MAC_LEN];
        if (id && mac_parse(id, mac) == 0 && (strchr(id, ':') || (kind && streq(kind, "lease"))))
                id = mac_format(mac, mac_text);
        int r = store_audit_list(env->store, before, want, kind, id, &recs, &n);
        pthread_mutex_unlock(&env->lock);
        if (r < 0)
                return store_failed(resp, env, r, "cannot read the audit log");
        bool more = n > (size_t)limit || (n == AUDIT_LIMIT_MAX && (size_t)limit == AUDIT_LIMIT_MAX);
        size_t shown = n > (size_t)limit ? (size_t)limit : n;
        json_t *entries = json_array();
        for (size_t i = 0; entries && i < shown; i++)
                json_array_append_new(entries,
                                      json_pack("{s:I, s:o, s:s, s:s, s:s, s:s, s:o, s:o}", "seq", (json_int_t)recs[i].seq,
                                                "at", time_json(recs[i].at), "actor", recs[i].actor, "action",
                                                recs[i].action, "kind", recs[i].kind, "id", recs[i].key, "before",
                                                row_json(recs[i].before), "after", row_json(recs[i].after)));
        json_t *next = more && shown ? json_integer((json_int_t)recs[shown - 1].seq) : json_null();
        audit_recs_free(recs, n);
        resp->status = 200;
        resp->body = json_pack("{s:o, s:o}", "entries", entries, "next", next);
}
