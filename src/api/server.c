/* SPDX-License-Identifier: MIT */
/*
 * libmicrohttpd plumbing for the API: the unix-socket listener, request body collection
 * with a size limit, routing, JSON responses, and the small read-only endpoints
 * (/health, /v1/status, /v1/check). Resource handlers live in vms.c.
 */
#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "api.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "daemon/reconcile.h"
#include "proxy/proxy.h"
#include "store/store.h"
#include "vmjson.h"

#define BODY_MAX (64 * 1024)

struct api_server {
        struct MHD_Daemon *mhd;
        int fd;
        char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

struct request {
        struct strbuf body;
        bool too_large;
};

int api_env_init(struct api_env *env, const struct config *cfg, struct reconciler *rec, char *err, size_t err_size) {
        *env = (struct api_env){
                .reconciler = rec,
                .random = random_os,
                .apply_wait_ms = 3000,
                .config = *cfg,
        };
        int r = config_state_path(cfg, "edgegw.db", env->db_path, sizeof env->db_path);
        if (r < 0) {
                snprintf(err, err_size, "state_dir too long");
                return r;
        }
        pthread_mutex_init(&env->lock, NULL);
        if ((r = store_open(env->db_path, &env->store, err, err_size)) < 0)
                return r;
        portmap_init(&env->ports);
        if ((r = store_blocks_mark(env->store, &env->ports)) < 0) {
                snprintf(err, err_size, "cannot load port blocks: %s", store_errmsg(env->store));
                env->store = store_close(env->store);
                return r;
        }
        return 0;
}

void api_env_done(struct api_env *env) {
        env->store = store_close(env->store);
        pthread_mutex_destroy(&env->lock);
}

void api_env_set_config(struct api_env *env, const struct config *cfg) {
        pthread_mutex_lock(&env->lock);
        env->config = *cfg;
        pthread_mutex_unlock(&env->lock);
}

void api_error(struct api_response *resp, unsigned status, const char *code, const char *fmt, ...) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        json_decref(resp->body);
        resp->status = status;
        resp->body = api_error_json(code, msg);
}

static void status_json(struct api_env *env, struct api_response *resp) {
        struct reconciler_status st;
        reconciler_get_status(env->reconciler, &st);
        char when[32] = "";
        struct tm tm;
        if (st.last_run && gmtime_r(&st.last_run, &tm))
                strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        resp->status = 200;
        if (st.userspace) {
                /* No nft in this mode: the reconciler feeds the proxy's forward listeners. */
                resp->body = json_pack("{s:s, s:s, s:{s:{s:I, s:I, s:s?, s:b, s:s?, s:f, s:s, s:I, s:I}}}",
                                       "version", EDGEGW_VERSION, "forward_mode", "userspace", "reconcilers", "forwards",
                                       "runs", (json_int_t)st.runs, "failures", (json_int_t)st.failures, "last_run",
                                       when[0] ? when : NULL, "ok", st.last_ok && !st.forwards_error[0], "error",
                                       st.last_error[0]     ? st.last_error
                                       : st.forwards_error[0] ? st.forwards_error
                                                              : NULL,
                                       "duration_ms", st.last_duration_ms, "mode", st.last_full ? "full" : "incremental",
                                       "vms", (json_int_t)st.vms, "ports", (json_int_t)st.forward_ports);
                if (env->proxy) {
                        json_t *fw = json_object_get(json_object_get(resp->body, "reconcilers"), "forwards");
                        json_object_set_new(fw, "limit", json_integer((json_int_t)proxy_forward_capacity(env->proxy)));
                }
                return;
        }
        resp->body = json_pack("{s:s, s:{s:{s:I, s:I, s:s?, s:b, s:s?, s:f, s:s, s:I}}}", "version", EDGEGW_VERSION,
                               "reconcilers", "nft", "runs", (json_int_t)st.runs, "failures", (json_int_t)st.failures,
                               "last_run", when[0] ? when : NULL, "ok", st.last_ok, "error",
                               st.last_error[0] ? st.last_error : NULL, "duration_ms", st.last_duration_ms, "mode",
                               st.last_full ? "full" : "incremental", "vms", (json_int_t)st.vms);
        if (resp->body && env->proxy) {
                struct proxy_stats ps;
                proxy_get_stats(env->proxy, &ps);
                json_object_set_new(
                        resp->body, "proxy",
                        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}}", "accepted",
                                  (json_int_t)ps.accepted, "active", (json_int_t)ps.active, "relayed",
                                  (json_int_t)ps.relayed, "redirected", (json_int_t)ps.redirected, "bytes_in",
                                  (json_int_t)ps.bytes_in, "bytes_out", (json_int_t)ps.bytes_out, "rejected", "limit",
                                  (json_int_t)ps.rejected_limit, "no_route", (json_int_t)ps.rejected_no_route,
                                  "not_allowed", (json_int_t)ps.rejected_not_allowed, "bad_request",
                                  (json_int_t)ps.rejected_bad_request, "timeout", (json_int_t)ps.rejected_timeout,
                                  "backend_failed", (json_int_t)ps.backend_failed, "closed_removed",
                                  (json_int_t)ps.closed_removed));
                struct proxy_route_stats *rs = NULL;
                size_t n = 0;
                json_t *routes = json_object();
                if (routes && proxy_route_stats(env->proxy, &rs, &n) >= 0)
                        for (size_t i = 0; i < n; i++)
                                json_object_set_new(
                                        routes, rs[i].name,
                                        json_pack("{s:I, s:I, s:I, s:{s:I, s:I, s:I}}", "connections",
                                                  (json_int_t)rs[i].connections, "bytes_in", (json_int_t)rs[i].bytes_in,
                                                  "bytes_out", (json_int_t)rs[i].bytes_out, "rejected", "not_allowed",
                                                  (json_int_t)rs[i].rejected_not_allowed, "backend_failed",
                                                  (json_int_t)rs[i].backend_failed, "timeout",
                                                  (json_int_t)rs[i].timeouts));
                free(rs);
                json_t *px = json_object_get(resp->body, "proxy");
                if (px && routes)
                        json_object_set_new(px, "routes", routes);
                else
                        json_decref(routes);
        }
}

static void check_json(struct api_env *env, struct api_response *resp) {
        /* Let the reconciler catch up first, so a change still in flight is not drift. */
        reconciler_wait(env->reconciler, reconciler_request(env->reconciler), env->apply_wait_ms);
        _cleanup_strbuf_ struct strbuf report = {0};
        pthread_mutex_lock(&env->lock);
        bool userspace = streq(env->config.forward_mode, "userspace");
        pthread_mutex_unlock(&env->lock);
        int n = userspace ? reconcile_check_forwards(env->db_path, env->proxy, &report)
                          : reconcile_check(env->db_path, &report);
        if (n < 0)
                return api_error(resp, 500, "internal", "check failed: %s", strbuf_str(&report));
        json_t *diffs = json_array();
        const char *p = strbuf_str(&report);
        while (*p) {
                const char *nl = strchr(p, '\n');
                size_t l = nl ? (size_t)(nl - p) : strlen(p);
                json_array_append_new(diffs, json_stringn(p, l));
                p += l + (nl ? 1 : 0);
        }
        resp->status = 200;
        resp->body = json_pack("{s:b, s:o}", "clean", n == 0, "differences", diffs);
}

const char *api_arg(const struct api_request *rq, const char *key) {
        for (size_t i = 0; i < rq->n_args; i++)
                if (streq(rq->args[i].key, key))
                        return rq->args[i].value;
        return NULL;
}

void api_dispatch(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        const char *method = rq->method, *path = rq->path;
        if (strncmp(path, "/v1/vms", 7) == 0 && (path[7] == '\0' || path[7] == '/')) {
                struct api_request sub = *rq;
                sub.rest = path + 7;
                return api_vms(env, &sub, resp);
        }

        const char *gets[] = {"/health", "/v1/status", "/v1/check"};
        for (size_t i = 0; i < ELEMENTSOF(gets); i++) {
                if (!streq(path, gets[i]))
                        continue;
                if (!streq(method, "GET") && !streq(method, "HEAD")) {
                        resp->allow = "GET";
                        return api_error(resp, 405, "method_not_allowed", "%s is not allowed on %s (use GET)", method,
                                         path);
                }
                if (i == 0) {
                        resp->status = 200;
                        resp->body = json_pack("{s:s, s:s}", "status", "ok", "version", EDGEGW_VERSION);
                } else if (i == 1)
                        status_json(env, resp);
                else
                        check_json(env, resp);
                return;
        }
        api_error(resp, 404, "not_found", "no such path");
}

static enum MHD_Result send_response(struct MHD_Connection *c, struct api_response *resp) {
        struct MHD_Response *r;
        if (resp->body) {
                /* Compact JSON and a newline, so `curl` output ends cleanly in a terminal. */
                char *text = json_dumps(resp->body, JSON_COMPACT);
                _cleanup_strbuf_ struct strbuf b = {0};
                if (!text)
                        return MHD_NO;
                strbuf_append(&b, text);
                strbuf_append(&b, "\n");
                free(text);
                char *owned = strbuf_steal(&b);
                if (!owned)
                        return MHD_NO;
                r = MHD_create_response_from_buffer(strlen(owned), owned, MHD_RESPMEM_MUST_FREE);
        } else
                r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (!r)
                return MHD_NO;
        if (resp->body)
                MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        if (resp->location[0])
                MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, resp->location);
        if (resp->allow)
                MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, resp->allow);
        enum MHD_Result ret = MHD_queue_response(c, resp->status, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_size, void **con_cls) {
        struct api_env *env = cls;
        struct request *req = *con_cls;
        if (!req) {
                req = calloc(1, sizeof *req);
                if (!req)
                        return MHD_NO;
                *con_cls = req;
                return MHD_YES;
        }
        if (*upload_size) {
                if (req->body.len + *upload_size > BODY_MAX)
                        req->too_large = true;
                else
                        strbuf_appendn(&req->body, upload_data, *upload_size);
                *upload_size = 0;
                return MHD_YES;
        }

        struct api_response resp = {0};
        if (req->too_large)
                api_error(&resp, 413, "payload_too_large", "request body over %d bytes", BODY_MAX);
        else if (strbuf_status(&req->body) < 0)
                api_error(&resp, 500, "internal", "out of memory");
        else
        {
                struct api_request rq = {.method = method, .path = url, .rest = "", .body = req->body.data,
                                         .len = req->body.len, .actor = "unix", .scopes = SCOPE_ALL};
                api_dispatch(env, &rq, &resp);
        }
        if (!resp.status)
                api_error(&resp, 500, "internal", "no response");
        log_debug("api: %s %s -> %u", method, url, resp.status);
        enum MHD_Result r = send_response(c, &resp);
        json_decref(resp.body);
        return r;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
        struct request *req = *con_cls;
        if (!req)
                return;
        strbuf_done(&req->body);
        free(req);
        *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
        char msg[512];
        vsnprintf(msg, sizeof msg, fmt, ap);
        size_t l = strlen(msg);
        while (l && msg[l - 1] == '\n')
                msg[--l] = '\0';
        log_warning("api: %s", msg);
}

int api_server_start(struct api_env *env, const char *socket_path, struct api_server **ret, char *err,
                     size_t err_size) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(socket_path) >= sizeof sa.sun_path) {
                snprintf(err, err_size, "socket path too long: %s", socket_path);
                return -ENAMETOOLONG;
        }
        strcpy(sa.sun_path, socket_path);

        _cleanup_close_ int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0) {
                snprintf(err, err_size, "%s: another edgegwd is already serving this state dir", socket_path);
                return -EADDRINUSE;
        }
        if (unlink(socket_path) < 0 && errno != ENOENT) {
                int e = errno;
                snprintf(err, err_size, "cannot remove stale socket %s: %s", socket_path, strerror(e));
                return -e;
        }

        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                int e = errno;
                snprintf(err, err_size, "socket: %s", strerror(e));
                return -e;
        }
        /* Create the socket file with mode 0660 directly: no window where it is wider. */
        mode_t old = umask(0117);
        int b = bind(fd, (struct sockaddr *)&sa, sizeof sa);
        int e = errno;
        umask(old);
        if (b < 0 || listen(fd, 128) < 0) {
                if (b >= 0)
                        e = errno;
                snprintf(err, err_size, "cannot listen on %s: %s", socket_path, strerror(e));
                return -e;
        }

        struct api_server *s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        strcpy(s->path, socket_path);
        s->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG,
                                  0, NULL, NULL, handle, env, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                                  MHD_OPTION_LISTEN_SOCKET, fd,
                                  MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
                                  (unsigned)30, MHD_OPTION_CONNECTION_LIMIT, (unsigned)256, MHD_OPTION_END);
        if (!s->mhd) {
                snprintf(err, err_size, "cannot start the HTTP server on %s", sa.sun_path);
                free(s);
                unlink(socket_path);
                return -EIO;
        }
        s->fd = TAKE_FD(fd);
        *ret = s;
        return 0;
}

struct api_server *api_server_stop(struct api_server *s) {
        if (!s)
                return NULL;
        /* Quiesce first: MHD then leaves the listening fd to us instead of closing it. */
        MHD_quiesce_daemon(s->mhd);
        MHD_stop_daemon(s->mhd);
        close(s->fd);
        unlink(s->path);
        free(s);
        return NULL;
}
