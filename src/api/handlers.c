/* SPDX-License-Identifier: MIT */
/* Answers, preconditions and conflict messages shared by the resource handlers. */
#include "handlers.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "daemon/reconcile.h"

bool api_method_is_get(const char *method) {
        return streq(method, "GET") || streq(method, "HEAD");
}

void api_serve(const struct api_methods *m, struct api_env *env, const struct api_request *rq,
               struct api_response *resp) {
        const char *method = rq->method, *id = NULL;
        int which = api_path_id(rq->rest, m->kind, &id, resp);
        if (which < 0)
                return;
        if (which == 0) {
                if (api_method_is_get(method))
                        return m->list(env, rq, resp);
                if (streq(method, "POST"))
                        return m->create(env, rq, resp);
                resp->allow = "GET, POST";
                return api_error(resp, 405, "method_not_allowed", "%s is not allowed on %s (use GET or POST)", method,
                                 m->path);
        }
        if (m->show && api_method_is_get(method))
                return m->show(env, rq, id, resp);
        if (m->put && streq(method, "PUT"))
                return m->put(env, rq, id, resp);
        if (streq(method, "DELETE"))
                return m->remove(env, rq, id, resp);
        resp->allow = m->show ? "GET, PUT, DELETE" : "DELETE";
        api_error(resp, 405, "method_not_allowed", "%s is not allowed on %s/ID (use %s)", method, m->path,
                  m->show ? "GET, PUT or DELETE" : "DELETE");
}

int api_path_id(const char *rest, const char *kind, const char **ret_id, struct api_response *resp) {
        if (rest[0] == '\0' || streq(rest, "/"))
                return 0;
        const char *id = rest + 1;
        if (rest[0] != '/' || !vm_id_valid(id)) {
                api_error(resp, 400, "invalid_argument",
                          "invalid %s id: use 1-%d characters of A-Z a-z 0-9 . _ - starting with a letter or digit",
                          kind, RESOURCE_ID_MAX);
                return -1;
        }
        *ret_id = id;
        return 1;
}

void api_decode_failed(struct api_response *resp, enum api_decode_status st, const char *err) {
        unsigned status;
        const char *code = api_decode_code(st, &status);
        if (!code)
                return api_error(resp, 500, "internal", "decode failed without a reason");
        api_error(resp, status, code, "%s", err);
}

void api_store_failed(struct api_response *resp, struct api_env *env, int r, const char *what) {
        if (r == -EBUSY) {
                resp->retry_after = 1;
                api_error(resp, 503, "busy", "%s: the store is locked by another process, try again", what);
        } else if (r == -ESTALE)
                api_error(resp, 412, "precondition_failed", "%s: If-Match does not match the current version", what);
        else
                api_error(resp, 500, "internal", "%s: %s", what, r == -ENOSYS ? "not implemented" : store_errmsg(env->store));
}

const char *api_rules_state(struct api_env *env) {
        return reconciler_wait(env->reconciler, reconciler_request(env->reconciler), env->apply_wait_ms) ? "applied"
                                                                                                          : "pending";
}

void api_set_etag(struct api_response *resp, int64_t version) {
        snprintf(resp->etag, sizeof resp->etag, "\"%lld\"", (long long)version);
}

bool api_if_match(const struct api_request *rq, struct api_response *resp, int64_t *ret) {
        char err[API_ERROR_MAX];
        if (api_if_match_parse(rq->if_match, ret, err) < 0) {
                api_error(resp, 400, "invalid_argument", "%s", err);
                return false;
        }
        return true;
}

bool api_if_version(int64_t match, const char *kind, const char *id, struct api_response *resp, int64_t *ret) {
        if (match == 0) {
                api_error(resp, 412, "precondition_failed", "%s '%s' has no version 0 (If-Match)", kind, id);
                return false;
        }
        *ret = match > 0 ? match : 0;
        return true;
}

void api_stale(struct api_env *env, struct api_response *resp, const char *kind, const char *id, int64_t wanted) {
        int64_t current = 0;
        int r;
        if (streq(kind, "vm")) {
                struct vm_meta m;
                if ((r = store_vm_get_meta(env->store, id, &m)) == 0)
                        current = m.version;
        } else if (streq(kind, "route")) {
                struct route_def d;
                if ((r = store_route_get(env->store, id, &d)) == 0)
                        current = d.version;
        } else {
                struct forward_def d;
                if ((r = store_forward_get(env->store, id, &d)) == 0)
                        current = d.version;
        }
        const char *shown = streq(kind, "vm") ? "VM" : kind;
        if (r == -ENOENT)
                return api_if_match_absent(resp, shown, id);
        if (r < 0)
                return api_error(resp, 412, "precondition_failed", "%s '%s' changed (If-Match \"%lld\")", shown, id,
                                 (long long)wanted);
        api_error(resp, 412, "precondition_failed", "%s '%s' is at version %lld, not %lld (If-Match); read it again",
                  shown, id, (long long)current, (long long)wanted);
}

void api_if_match_absent(struct api_response *resp, const char *kind, const char *id) {
        api_error(resp, 412, "precondition_failed", "If-Match given but there is no %s '%s'", kind, id);
}

bool api_put_if_version(struct api_env *env, int found, int64_t match, const char *kind, const char *id,
                        struct api_response *resp, int64_t *ret) {
        if (found == -ENOENT) {
                if (match != API_IF_MATCH_NONE) {
                        api_if_match_absent(resp, kind, id);
                        return false;
                }
                *ret = 0;
                return true;
        }
        if (found < 0) {
                char what[64];
                snprintf(what, sizeof what, "cannot read the %s", kind);
                api_store_failed(resp, env, found, what);
                return false;
        }
        return api_if_version(match, kind, id, resp, ret);
}

void api_read_failed(struct api_env *env, struct api_response *resp, int r, const char *kind, const char *id) {
        char what[64];
        if (r == -ENOENT)
                return api_error(resp, 404, "not_found", "no %s with id '%s'", kind, id);
        snprintf(what, sizeof what, "cannot read the %s", kind);
        api_store_failed(resp, env, r, what);
}

void api_write_failed(struct api_env *env, struct api_response *resp, int r, const char *kind, const char *id,
                      int64_t if_version) {
        char code[32], what[64];
        if (r == -EEXIST) {
                snprintf(code, sizeof code, "%s_exists", kind);
                return api_error(resp, 409, code, "a %s with id '%s' already exists", kind, id);
        }
        if (r == -ESTALE)
                return api_stale(env, resp, kind, id, if_version);
        snprintf(what, sizeof what, "cannot store the %s", kind);
        api_store_failed(resp, env, r, what);
}

void api_remove_failed(struct api_env *env, struct api_response *resp, int r, const char *kind, const char *id,
                       int64_t if_version) {
        char what[64];
        if (r == -ENOENT)
                return api_error(resp, 404, "not_found", "no %s with id '%s'", kind, id);
        if (r == -ESTALE)
                return api_stale(env, resp, kind, id, if_version);
        snprintf(what, sizeof what, "cannot remove the %s", kind);
        api_store_failed(resp, env, r, what);
}

void api_answer_one(struct api_response *resp, json_t *o, const char *kind, const char *id, int64_t version) {
        if (!o)
                return api_error(resp, 500, "internal", "cannot encode %s '%s'", kind, id);
        resp->status = 200;
        resp->body = o;
        api_set_etag(resp, version);
}

void api_answer_stored(struct api_env *env, struct api_response *resp, json_t *o, const char *kind,
                       const char *path, const char *id, int64_t version, enum store_outcome outcome) {
        if (!o)
                return api_error(resp, 500, "internal", "cannot encode %s '%s'", kind, id);
        json_object_set_new(o, "rules", json_string(api_rules_state(env)));
        resp->status = outcome == STORE_CREATED ? 201 : 200;
        resp->body = o;
        api_set_etag(resp, version);
        if (outcome == STORE_CREATED)
                snprintf(resp->location, sizeof resp->location, "%s/%s", path, id);
}

void api_answer_removed(struct api_env *env, struct api_response *resp, json_t *o, const char *kind, const char *id) {
        if (!o)
                return api_error(resp, 500, "internal", "%s '%s' removed, but it cannot be encoded", kind, id);
        resp->status = 200;
        resp->body = json_pack("{s:o, s:s}", "removed", o, "rules", api_rules_state(env));
}

bool api_list_add(json_t *arr, json_t *o, const char *kind, const char *id, struct api_response *resp) {
        if (o && json_array_append_new(arr, o) == 0)
                return true;
        api_error(resp, 500, "internal", "cannot encode %s '%s'", kind, id);
        return false;
}

void api_list(struct api_env *env, const struct api_request *rq, struct api_response *resp, const char *collection,
              api_page_fn page) {
        struct api_list_query q;
        if (!api_list_query(rq, false, &q, resp))
                return;
        _cleanup_(json_decrefp) json_t *arr = json_array();
        if (!arr)
                return api_error(resp, 500, "internal", "out of memory");
        const struct api_page p = {
                .after = q.after, .limit = q.limit, .match = q.match, .n_match = q.n_match, .origin = -1};
        char next[RESOURCE_ID_MAX + 1];
        if (page(env, &p, false, arr, next, resp) < 0)
                return;
        resp->status = 200;
        resp->body = json_pack("{s:o, s:s?}", collection, TAKE_PTR(arr), "next", next[0] ? next : NULL);
}

bool api_list_query(const struct api_request *rq, bool allow_bytes, struct api_list_query *ret,
                    struct api_response *resp) {
        const char *keys[API_ARGS_MAX], *values[API_ARGS_MAX];
        size_t n = rq->n_args < API_ARGS_MAX ? rq->n_args : API_ARGS_MAX;
        for (size_t i = 0; i < n; i++) {
                keys[i] = rq->args[i].key;
                values[i] = rq->args[i].value;
        }
        char err[API_ERROR_MAX];
        if (api_list_query_parse(keys, values, n, allow_bytes, ret, err) < 0) {
                api_error(resp, 400, "invalid_argument", "%s", err);
                return false;
        }
        return true;
}

bool api_no_query(const struct api_request *rq, struct api_response *resp) {
        if (rq->n_args == 0)
                return true;
        char shown[72];
        api_sanitize(rq->args[0].key, shown, sizeof shown);
        api_error(resp, 400, "invalid_argument", "unknown query argument '%s' (this call takes none)", shown);
        return false;
}

const char *api_owner_describe(const struct store_owner *o, char *buf, size_t n) {
        const char *kind = streq(o->kind, "vm") ? "VM" : o->kind;
        snprintf(buf, n, "%s '%s'", kind, o->id);
        return buf;
}

bool api_hostname_claimable(struct api_env *env, const char *name, const char *kind, const char *id,
                            struct api_response *resp) {
        char slug[SLUG_LEN + 1], owner_id[VM_ID_MAX + 1], who[RESOURCE_ID_MAX + 32];
        const struct config *cfg = &env->config;
        if (hostname_is_generated(name, cfg->datacenter, cfg->domain, slug)) {
                int r = store_vm_find_by_slug(env->store, slug, owner_id);
                if (r == 0) {
                        api_error(resp, 409, "hostname_in_use", "host name %s is already routed by VM '%s' (its generated name)",
                                  name, owner_id);
                        return false;
                }
                if (r != -ENOENT) {
                        api_store_failed(resp, env, r, "cannot look up the slug");
                        return false;
                }
                api_error(resp, 400, "invalid_argument",
                          "host name %s has the form of a generated VM name ({slug}.%s.%s) and is reserved for them",
                          name, cfg->datacenter, cfg->domain);
                return false;
        }
        struct store_owner o;
        int r = store_hostname_owner(env->store, name, &o);
        if (r == -ENOENT || (r == 0 && streq(o.kind, kind) && streq(o.id, id)))
                return true;
        if (r < 0) {
                api_store_failed(resp, env, r, "cannot look up the host name");
                return false;
        }
        api_error(resp, 409, "hostname_in_use", "host name %s is already routed by %s", name,
                  api_owner_describe(&o, who, sizeof who));
        return false;
}

void api_hostname_conflict(struct api_env *env, const char *const *names, size_t n, const char *kind,
                           const char *id, struct api_response *resp) {
        char who[RESOURCE_ID_MAX + 32];
        for (size_t i = 0; i < n; i++) {
                struct store_owner o;
                if (store_hostname_owner(env->store, names[i], &o) == 0 && !(streq(o.kind, kind) && streq(o.id, id)))
                        return api_error(resp, 409, "hostname_in_use", "host name %s is already routed by %s",
                                         names[i], api_owner_describe(&o, who, sizeof who));
        }
        api_error(resp, 409, "hostname_in_use", "a host name is already routed by another VM or route");
}

/* Whether a socket of the gateway's own (this network namespace) is bound to port: a TCP
 * listener or any bound UDP socket, from /proc/net. A forward there would take the port
 * over: its DNAT also applies to connections the gateway makes to its local addresses (a
 * forward of udp/53 would capture the host's own resolver at 127.0.0.53). Best effort:
 * an unreadable file counts as "not bound". */
static bool port_bound_locally(uint16_t port, enum proto proto) {
        const char *files[2] = {proto == PROTO_TCP ? "/proc/net/tcp" : "/proc/net/udp",
                                proto == PROTO_TCP ? "/proc/net/tcp6" : "/proc/net/udp6"};
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                FILE *f = fopen(files[i], "re");
                if (!f)
                        continue;
                char line[512];
                bool found = false;
                while (!found && fgets(line, sizeof line, f)) {
                        char local[64];
                        unsigned lport, state;
                        /* "  sl  local_address rem_address   st ..." with local "0100007F:0035" */
                        if (sscanf(line, " %*u: %63[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", local, &lport, &state) != 3)
                                continue;
                        found = lport == port && (proto == PROTO_UDP || state == 0x0A /* LISTEN */);
                }
                fclose(f);
                if (found)
                        return true;
        }
        return false;
}

bool api_port_not_local(uint16_t port, enum proto proto, struct api_response *resp) {
        if (!port_bound_locally(port, proto))
                return true;
        api_error(resp, 409, "port_in_use",
                  "port %u/%s is in use by a program on the gateway itself; a forward would take it over "
                  "(its DNAT also catches the gateway's own connections to local addresses)",
                  port, proto_to_string(proto));
        return false;
}

bool api_port_not_listener(struct api_env *env, uint16_t port, enum proto proto, struct api_response *resp) {
        if (proto != PROTO_TCP)
                return true;
        const struct config *cfg = &env->config;
        const struct {
                const char *list, *what;
        } listeners[] = {
                {cfg->https_listen, "the SNI proxy's listener"},
                {cfg->http_listen, "the HTTP proxy's listener"},
                {cfg->api_listen, "the API's listener"},
                {cfg->metrics_listen, "the metrics listener"},
        };
        for (size_t i = 0; i < ELEMENTSOF(listeners); i++) {
                uint16_t ports[16];
                size_t n = listen_ports_parse(listeners[i].list, ports, ELEMENTSOF(ports));
                for (size_t j = 0; j < n; j++)
                        if (ports[j] == port) {
                                api_error(resp, 409, "port_in_use", "port %u/tcp is %s", port, listeners[i].what);
                                return false;
                        }
        }
        return true;
}

void api_port_conflict(struct api_env *env, uint16_t port, enum proto proto, struct api_response *resp) {
        struct store_owner o;
        const char *p = proto_to_string(proto);
        if (store_port_owner(env->store, port, proto, &o) < 0)
                return api_error(resp, 409, "port_in_use", "port %u/%s is already in use", port, p);
        if (streq(o.kind, "vm")) {
                struct vm vm;
                if (store_vm_get(env->store, o.id, &vm) == 0)
                        return api_error(resp, 409, "port_in_use", "port %u/%s is inside VM '%s''s port block %u-%u",
                                         port, p, o.id, vm.block_start, vm.block_start + vm.block_size - 1);
                return api_error(resp, 409, "port_in_use", "port %u/%s is inside VM '%s''s port block", port, p, o.id);
        }
        char who[RESOURCE_ID_MAX + 32];
        api_error(resp, 409, "port_in_use", "port %u/%s is already forwarded by %s", port, p,
                  api_owner_describe(&o, who, sizeof who));
}

int api_ports_reload(struct api_env *env) {
        portmap_init(&env->ports);
        int r = store_blocks_mark(env->store, &env->ports);
        if (r < 0)
                return r;
        return store_forward_ports_mark(env->store, &env->ports);
}
