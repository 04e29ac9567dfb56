/* SPDX-License-Identifier: MIT */
/*
 * libmicrohttpd plumbing for the API. Up to three listeners share one handler: the unix
 * socket (local CLI, every scope, the caller named by SO_PEERCRED), the optional TCP
 * listener (bearer tokens, optional TLS, rate limits, a deadline per request so slow
 * clients cannot hold a thread) and the optional metrics listener (GET /metrics only).
 * Here are request collection with the body limit, authentication and scope checks,
 * routing to the resource handlers, the JSON and text answers, and the small read-only
 * endpoints (/health, /v1/status, /v1/check, /metrics). Resource handlers live in vms.c,
 * routes.c, forwards.c, agent.c and admin.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "api.h"
#include "auth.h"
#include "core/hashmap.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "daemon/dnsmasq.h"
#include "daemon/dnssync.h"
#include "daemon/reconcile.h"
#include "metrics.h"
#include "nft/nft.h"
#include "proxy/proxy.h"
#include "store/store.h"
#include "vmjson.h"

#define RATE_KEYS_MAX 4096 /* buckets per limiter: bounded memory whatever the clients do */
#define TCP_CONNECTIONS_MAX 256
#define TCP_CONNECTIONS_PER_IP 128
#define METRICS_CONNECTIONS_MAX 16
#define PEM_MAX (1 << 20)
#define AGENT_TOKEN_SCOPES (SCOPE_READ | SCOPE_ROUTES | SCOPE_FORWARDS)

/* Per-env access state: what every TCP request consults without touching the store. */
struct api_access {
        struct auth_tokens *tokens;
        struct rate_limiter *per_token, *per_source;
        pthread_mutex_t lock; /* guards agent_token */
        char agent_token[CONFIG_AGENT_TOKEN_MAX + 1];
        _Atomic uint32_t max_body;
        _Atomic uint64_t requests[METRICS_CODES];
};

enum listener_kind { LISTENER_UNIX, LISTENER_TCP, LISTENER_METRICS };

struct api_server;

struct listener {
        struct api_server *server;
        struct api_env *env;
        enum listener_kind kind;
        struct MHD_Daemon *mhd;
        int fd; /* ours: quiesced and closed by us */
};

/* A TCP or metrics connection under the deadline watch (its MHD socket context). */
struct conn_track {
        int fd; /* MHD's; valid until the CLOSED notification, which unlinks us first */
        double deadline; /* monotonic seconds; shut down when passed while not busy */
        bool busy; /* a handler is running: its time is ours, not the client's */
        bool shut;
        struct conn_track *prev, *next;
};

struct api_server {
        struct listener unix_l, tcp, metrics;
        char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
        char *tls_cert, *tls_key; /* PEM text handed to MHD */
        unsigned timeout; /* seconds */

        pthread_mutex_t lock; /* guards conns and stopping */
        pthread_cond_t wake;
        struct conn_track *conns;
        bool stopping;
        bool reaper_running;
        pthread_t reaper;
};

struct request {
        struct strbuf body;
        bool too_large;
        bool answered; /* a response was queued before the body was read */
        size_t discarded; /* body bytes over the limit, read and dropped */
        struct conn_track *track; /* NULL on the unix socket */
};

static double now_mono(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- access state ---- */

static struct api_access *access_free(struct api_access *a) {
        if (!a)
                return NULL;
        auth_tokens_free(a->tokens);
        rate_limiter_free(a->per_token);
        rate_limiter_free(a->per_source);
        pthread_mutex_destroy(&a->lock);
        explicit_bzero(a->agent_token, sizeof a->agent_token);
        free(a);
        return NULL;
}

static void access_configure(struct api_access *a, const struct config *cfg) {
        rate_limiter_configure(a->per_token, cfg->api_rate_limit, cfg->api_rate_burst);
        rate_limiter_configure(a->per_source, cfg->api_rate_limit_source, cfg->api_rate_burst);
        atomic_store(&a->max_body, cfg->api_max_body);
        pthread_mutex_lock(&a->lock);
        strcpy(a->agent_token, cfg->agent_token);
        pthread_mutex_unlock(&a->lock);
}

static int access_new(const struct config *cfg, struct api_access **ret) {
        struct api_access *a = calloc(1, sizeof *a);
        if (!a)
                return -ENOMEM;
        pthread_mutex_init(&a->lock, NULL);
        uint32_t burst = cfg->api_rate_burst ? cfg->api_rate_burst : 1;
        if (auth_tokens_new(&a->tokens) < 0 ||
            rate_limiter_new(cfg->api_rate_limit, burst, RATE_KEYS_MAX, &a->per_token) < 0 ||
            rate_limiter_new(cfg->api_rate_limit_source, burst, RATE_KEYS_MAX, &a->per_source) < 0) {
                access_free(a);
                return -ENOMEM;
        }
        access_configure(a, cfg);
        *ret = a;
        return 0;
}

int api_tokens_reload(struct api_env *env) {
        struct token_rec *recs = NULL;
        size_t n = 0;
        int r = store_token_list(env->store, &recs, &n);
        if (r < 0)
                return r;
        r = auth_tokens_set(env->access->tokens, recs, n);
        free(recs);
        return r;
}

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
        if ((r = access_new(cfg, &env->access)) < 0) {
                snprintf(err, err_size, "out of memory");
                return r;
        }
        pthread_mutex_init(&env->lock, NULL);
        if ((r = store_open(env->db_path, &env->store, err, err_size)) < 0) {
                env->access = access_free(env->access);
                pthread_mutex_destroy(&env->lock);
                return r;
        }
        portmap_init(&env->ports);
        /* VM blocks and forwards' public ports: what a new block must avoid. */
        if ((r = store_blocks_mark(env->store, &env->ports)) < 0 ||
            (r = store_forward_ports_mark(env->store, &env->ports)) < 0) {
                snprintf(err, err_size, "cannot load port blocks: %s", store_errmsg(env->store));
                env->store = store_close(env->store);
                env->access = access_free(env->access);
                pthread_mutex_destroy(&env->lock);
                return r;
        }
        if ((r = api_leases_reload(env)) < 0) {
                snprintf(err, err_size, "cannot load the DHCP leases: %s", store_errmsg(env->store));
                env->store = store_close(env->store);
                env->access = access_free(env->access);
                pthread_mutex_destroy(&env->lock);
                return r;
        }
        /* Fail closed: without the token list no token is accepted (the unix socket still
         * works), and the next token change loads it again. */
        if ((r = api_tokens_reload(env)) < 0)
                log_warning_errno(r, "api: cannot load the API tokens (%s): no token is accepted until the next token "
                                  "change: %m", store_errmsg(env->store));
        return 0;
}

void api_env_done(struct api_env *env) {
        lease_pool_done(&env->leases);
        env->store = store_close(env->store);
        env->access = access_free(env->access);
        pthread_mutex_destroy(&env->lock);
}

void api_env_set_config(struct api_env *env, const struct config *cfg) {
        pthread_mutex_lock(&env->lock);
        env->config = *cfg;
        int r = api_leases_reload(env);
        if (r < 0)
                log_error_errno(r, "api: cannot reload the DHCP leases (%s): new leases are refused until the next "
                                "reload: %m", store_errmsg(env->store));
        pthread_mutex_unlock(&env->lock);
        access_configure(env->access, cfg);
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

/* The per-part status (reconcile.h) under "reconcilers", one object per part name. The
 * legacy object of the main part ("nft" or "forwards") keeps its extra fields (mode, vms,
 * ports, limit); its counters become the part's. */
static void status_add_parts(json_t *body, const struct reconciler_status *st) {
        json_t *recs = json_object_get(body, "reconcilers");
        if (!recs)
                return;
        for (size_t i = 0; i < st->n_parts && i < RECONCILER_PARTS_MAX; i++) {
                const struct reconciler_part_status *p = &st->parts[i];
                if (!p->name[0])
                        continue;
                char when[32] = "";
                struct tm tm;
                if (p->last_run && gmtime_r(&p->last_run, &tm))
                        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
                bool ok = p->last_ok;
                const char *error = p->last_error[0] ? p->last_error : NULL;
                /* Userspace: VMs refused for the open-files limit are the forwards part's problem. */
                if (st->userspace && streq(p->name, "forwards") && st->forwards_error[0]) {
                        ok = false;
                        if (!error)
                                error = st->forwards_error;
                }
                json_t *o = json_object_get(recs, p->name);
                if (!o) {
                        o = json_object();
                        if (!o || json_object_set_new(recs, p->name, o) < 0)
                                continue;
                }
                json_object_set_new(o, "runs", json_integer((json_int_t)p->runs));
                json_object_set_new(o, "failures", json_integer((json_int_t)p->failures));
                json_object_set_new(o, "last_run", when[0] ? json_string(when) : json_null());
                json_object_set_new(o, "ok", json_boolean(ok));
                json_object_set_new(o, "error", error ? json_string(error) : json_null());
                json_object_set_new(o, "duration_ms", json_real(p->last_duration_ms));
        }
}

static void status_json(struct api_env *env, struct api_response *resp) {
        struct reconciler_status st;
        reconciler_get_status(env->reconciler, &st);
        char when[32] = "";
        struct tm tm;
        if (st.last_run && gmtime_r(&st.last_run, &tm))
                strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        /* The DNS reconciler has a section of its own, without "ok": a provider in trouble is
         * not the gateway failing (ports and names work; the records follow when it is back). */
        struct dnssync_status ds = {0};
        if (env->dns)
                dnssync_get_status(env->dns, &ds);
        char dns_when[32] = "";
        if (ds.last_pass && gmtime_r(&ds.last_pass, &tm))
                strftime(dns_when, sizeof dns_when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_t *dns = !ds.enabled
                              ? json_pack("{s:b}", "enabled", false)
                              : json_pack("{s:b, s:s, s:s?, s:I, s:I, s:I, s:s?, s:s?, s:{s:I, s:I, s:I, s:I}}",
                                          "enabled", true, "provider", ds.provider, "public_ip6",
                                          ds.public_ip6[0] ? ds.public_ip6 : NULL, "passes", (json_int_t)ds.passes,
                                          "pushes", (json_int_t)ds.pushes, "failures", (json_int_t)ds.failures,
                                          "last_pass", dns_when[0] ? dns_when : NULL,
                                          "last_error", ds.last_error[0] ? ds.last_error : NULL, "records",
                                          "pending", (json_int_t)ds.pending, "synced", (json_int_t)ds.synced, "error",
                                          (json_int_t)ds.error, "deleting", (json_int_t)ds.deleting);
        /* DHCP: the supervised dnsmasq. Like DNS, reported beside the parts, not as one. */
        struct dnsmasq_status hs = {0};
        if (env->dhcp)
                dnsmasq_get_status(env->dhcp, &hs);
        json_t *dhcp = !hs.enabled ? json_pack("{s:b}", "enabled", false)
                                   : json_pack("{s:b, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s?, s:s?}", "enabled", true,
                                               "state", dnsmasq_state_name(hs.state), "pid", (json_int_t)hs.pid,
                                               "starts", (json_int_t)hs.starts, "restarts", (json_int_t)hs.restarts,
                                               "reloads", (json_int_t)hs.reloads, "leases", (json_int_t)hs.leases,
                                               "names", (json_int_t)hs.names, "last_exit",
                                               hs.last_exit[0] ? hs.last_exit : NULL, "last_error",
                                               hs.last_error[0] ? hs.last_error : NULL);
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
                status_add_parts(resp->body, &st);
                json_object_set_new(resp->body, "dns", dns);
                json_object_set_new(resp->body, "dhcp", dhcp);
                return;
        }
        resp->body = json_pack("{s:s, s:{s:{s:I, s:I, s:s?, s:b, s:s?, s:f, s:s, s:I}}}", "version", EDGEGW_VERSION,
                               "reconcilers", "nft", "runs", (json_int_t)st.runs, "failures", (json_int_t)st.failures,
                               "last_run", when[0] ? when : NULL, "ok", st.last_ok, "error",
                               st.last_error[0] ? st.last_error : NULL, "duration_ms", st.last_duration_ms, "mode",
                               st.last_full ? "full" : "incremental", "vms", (json_int_t)st.vms);
        status_add_parts(resp->body, &st);
        json_object_set_new(resp->body, "dns", dns);
        json_object_set_new(resp->body, "dhcp", dhcp);
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

/* ---- /metrics ---- */

/* Port blocks of size ports_per_vm that first-fit allocation could still hand out. */
static uint64_t blocks_free(const struct portmap *m, uint16_t start, uint16_t end, uint16_t size) {
        uint64_t n = 0;
        uint32_t from = start;
        uint16_t found;
        while (from <= end && portmap_find_free(m, (uint16_t)from, end, size, &found) == 0) {
                n++;
                from = (uint32_t)found + size;
        }
        return n;
}

/* Per-VM bytes: the nft counters in_<slug>/out_<slug> (kernel mode) or the proxy's relay
 * counters over the VM's ports (userspace). vms are the store's; *ret malloc'd. */
static void vm_bytes_collect(struct api_env *env, const struct vm *vms, size_t n, bool userspace,
                             struct metrics_vm_bytes **ret, size_t *ret_n) {
        *ret = NULL;
        *ret_n = 0;
        if (!n)
                return;
        struct metrics_vm_bytes *vb = calloc(n, sizeof *vb);
        if (!vb)
                return;
        for (size_t i = 0; i < n; i++)
                strcpy(vb[i].id, vms[i].id);
        if (userspace) {
                if (!env->proxy) {
                        free(vb);
                        return;
                }
                for (size_t i = 0; i < n; i++) {
                        struct port_map_entry pm[PORTS_PER_VM_MAX];
                        size_t np = vm_port_map(vms[i].block_start, vms[i].block_size, pm);
                        for (size_t k = 0; k < np; k++) {
                                uint64_t in, out;
                                proxy_forward_bytes(env->proxy, (uint8_t)pm[k].proto, pm[k].public_port, &in, &out);
                                vb[i].in += in;
                                vb[i].out += out;
                        }
                }
                *ret = vb;
                *ret_n = n;
                return;
        }

        struct nft_counter_value *cv = NULL;
        size_t ncv = 0;
        struct hashmap *by_slug = NULL;
        int r = nft_read_counters(&cv, &ncv);
        if (r < 0) {
                log_debug("metrics: cannot read the nft counters: %s", strerror(-r));
                free(vb);
                return;
        }
        if (hashmap_new(&by_slug) < 0) {
                free(cv);
                free(vb);
                return;
        }
        for (size_t i = 0; i < n; i++)
                (void)hashmap_put(by_slug, vms[i].slug, &vb[i]);
        for (size_t i = 0; i < ncv; i++) {
                bool in = strncmp(cv[i].name, "in_", 3) == 0, out = strncmp(cv[i].name, "out_", 4) == 0;
                struct metrics_vm_bytes *b = in ? hashmap_get(by_slug, cv[i].name + 3)
                                             : out ? hashmap_get(by_slug, cv[i].name + 4)
                                                   : NULL;
                if (b && in)
                        b->in = cv[i].bytes;
                else if (b)
                        b->out = cv[i].bytes;
        }
        hashmap_free(by_slug);
        free(cv);
        *ret = vb;
        *ret_n = n;
}

static void metrics_answer(struct api_env *env, struct api_response *resp) {
        struct store_counts counts;
        struct vm *vms = NULL;
        size_t n_vms = 0;
        struct portmap *ports = malloc(sizeof *ports);

        pthread_mutex_lock(&env->lock);
        bool have_counts = store_counts(env->store, &counts) >= 0;
        bool have_vms = store_vm_list(env->store, &vms, &n_vms) >= 0;
        if (ports)
                *ports = env->ports;
        uint16_t start = env->config.port_range_start, end = env->config.port_range_end,
                 size = env->config.ports_per_vm;
        bool userspace = streq(env->config.forward_mode, "userspace");
        pthread_mutex_unlock(&env->lock);

        struct metrics_input in = {
                .version = EDGEGW_VERSION,
                .counts = have_counts ? &counts : NULL,
                .have_blocks = have_counts && ports,
                .blocks_used = have_counts ? counts.vms : 0,
                .blocks_free = ports ? blocks_free(ports, start, end, size) : 0,
        };
        free(ports);

        struct metrics_vm_bytes *vb = NULL;
        if (have_vms)
                vm_bytes_collect(env, vms, n_vms, userspace, &vb, &in.n_vm_bytes);
        free(vms);
        in.vm_bytes = vb;

        struct proxy_stats ps;
        struct proxy_route_stats *rs = NULL;
        if (env->proxy) {
                proxy_get_stats(env->proxy, &ps);
                in.proxy = &ps;
                if (proxy_route_stats(env->proxy, &rs, &in.n_routes) < 0)
                        in.n_routes = 0;
                in.routes = rs;
        }

        struct reconciler_status st;
        reconciler_get_status(env->reconciler, &st);
        in.parts = st.parts;
        in.n_parts = st.n_parts < RECONCILER_PARTS_MAX ? st.n_parts : RECONCILER_PARTS_MAX;

        uint64_t codes[METRICS_CODES];
        for (size_t i = 0; i < METRICS_CODES; i++)
                codes[i] = atomic_load_explicit(&env->access->requests[i], memory_order_relaxed);
        in.api_requests = codes;
        struct dnssync_status dns;
        dnssync_get_status(env->dns, &dns);
        in.dns = &dns;

        _cleanup_strbuf_ struct strbuf text = {0};
        int r = metrics_render(&in, &text);
        free(vb);
        free(rs);
        if (r < 0)
                return api_error(resp, 500, "internal", "out of memory");
        resp->status = 200;
        resp->content_type = METRICS_CONTENT_TYPE;
        resp->text_body = strbuf_steal(&text);
}

/* ---- routing and scopes ---- */

const char *api_arg(const struct api_request *rq, const char *key) {
        for (size_t i = 0; i < rq->n_args; i++)
                if (streq(rq->args[i].key, key))
                        return rq->args[i].value;
        return NULL;
}

static bool is_read(const char *method) {
        return streq(method, "GET") || streq(method, "HEAD");
}

/* Answers 403 unless the caller holds one of the scopes in any_of. */
static bool scope_ok(const struct api_request *rq, uint32_t any_of, struct api_response *resp) {
        if (rq->scopes & any_of)
                return true;
        char names[SCOPES_TEXT_MAX], held[SCOPES_TEXT_MAX] = "none";
        scopes_format(any_of, names);
        if (rq->scopes)
                scopes_format(rq->scopes, held);
        api_error(resp, 403, "forbidden", "%s %s needs the scope %s%s; this caller has %s", rq->method, rq->path,
                  names, strchr(names, ',') ? " (any one of them)" : "", held);
        return false;
}

static const struct api_resource {
        const char *prefix; /* the collection; "/ID..." may follow */
        uint32_t scope; /* writes need it (or admin); reads need read, it, or admin */
        bool admin_only; /* reads too */
        void (*handler)(struct api_env *env, const struct api_request *rq, struct api_response *resp);
} resources[] = {
        {"/v1/vms", SCOPE_VMS, false, api_vms},
        {"/v1/routes", SCOPE_ROUTES, false, api_routes},
        {"/v1/forwards", SCOPE_FORWARDS, false, api_forwards},
        {"/http/routes", SCOPE_ROUTES, false, api_agent_routes},
        {"/tcp/forwards", SCOPE_FORWARDS, false, api_agent_forwards},
        {"/v1/tokens", SCOPE_ADMIN, true, api_tokens},
        {"/v1/audit", SCOPE_ADMIN, true, api_audit},
        {"/v1/dns/records", SCOPE_DNS, false, api_dns},
        {"/v1/leases", SCOPE_VMS, false, api_leases},
        {"/v1/dns/remote", SCOPE_DNS, false, api_agent_dns},
        {"/api/v1/agents/dns", SCOPE_DNS, false, api_agent_dns},
};

void api_dispatch(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        const char *method = rq->method, *path = rq->path;
        for (size_t i = 0; i < ELEMENTSOF(resources); i++) {
                const struct api_resource *res = &resources[i];
                size_t l = strlen(res->prefix);
                if (strncmp(path, res->prefix, l) != 0 || (path[l] != '\0' && path[l] != '/'))
                        continue;
                uint32_t need = res->admin_only ? SCOPE_ADMIN
                                : is_read(method) ? (SCOPE_READ | res->scope | SCOPE_ADMIN)
                                                  : (res->scope | SCOPE_ADMIN);
                if (!scope_ok(rq, need, resp))
                        return;
                struct api_request sub = *rq;
                sub.rest = path + l;
                return res->handler(env, &sub, resp);
        }

        const char *gets[] = {"/health", "/v1/status", "/v1/check", "/metrics"};
        for (size_t i = 0; i < ELEMENTSOF(gets); i++) {
                if (!streq(path, gets[i]))
                        continue;
                if (!is_read(method)) {
                        resp->allow = "GET, HEAD";
                        return api_error(resp, 405, "method_not_allowed", "%s is not allowed on %s (use GET)", method,
                                         path);
                }
                if (i > 0 && !scope_ok(rq, SCOPE_READ | SCOPE_ADMIN, resp))
                        return;
                if (i == 0) {
                        resp->status = 200;
                        resp->body = json_pack("{s:s, s:s}", "status", "ok", "version", EDGEGW_VERSION);
                } else if (i == 1)
                        status_json(env, resp);
                else if (i == 2)
                        check_json(env, resp);
                else
                        metrics_answer(env, resp);
                return;
        }
        api_error(resp, 404, "not_found", "no such path");
}

/* ---- HTTP plumbing ---- */

static enum MHD_Result send_response(struct MHD_Connection *c, struct api_response *resp) {
        struct MHD_Response *r;
        const char *ctype = NULL;
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
                ctype = "application/json";
        } else if (resp->text_body) {
                char *owned = TAKE_PTR(resp->text_body);
                r = MHD_create_response_from_buffer(strlen(owned), owned, MHD_RESPMEM_MUST_FREE);
                if (!r)
                        free(owned);
                ctype = resp->content_type ? resp->content_type : "text/plain; charset=utf-8";
        } else
                r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (!r)
                return MHD_NO;
        if (ctype)
                MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
        if (resp->location[0])
                MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, resp->location);
        if (resp->allow)
                MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, resp->allow);
        if (resp->etag[0])
                MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, resp->etag);
        if (resp->retry_after) {
                char secs[16];
                snprintf(secs, sizeof secs, "%u", resp->retry_after);
                MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, secs);
        }
        if (resp->status == 401)
                MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"edgegw\"");
        enum MHD_Result ret = MHD_queue_response(c, resp->status, r);
        MHD_destroy_response(r);
        return ret;
}

struct args_ctx {
        struct api_request *rq;
        size_t n;
};

static enum MHD_Result arg_collect(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
        struct args_ctx *a = cls;
        if (a->n < API_ARGS_MAX)
                a->rq->args[a->n] = (struct api_arg){.key = key ? key : "", .value = value ? value : ""};
        a->n++;
        return MHD_YES;
}

/* The caller of a unix-socket request, from SO_PEERCRED: "unix:uid=N". */
static void unix_actor(struct MHD_Connection *c, char actor[static AUDIT_ACTOR_MAX + 1]) {
        strcpy(actor, "unix");
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct ucred cred;
        socklen_t len = sizeof cred;
        if (ci && getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
                snprintf(actor, AUDIT_ACTOR_MAX + 1, "unix:uid=%u", (unsigned)cred.uid);
}

/* The rate-limit key of a TCP client: its IPv4 address, or its IPv6 /64 (one host owns a
 * whole /64, so counting single IPv6 addresses would limit nothing). */
static void source_key(struct MHD_Connection *c, char out[static RATE_KEY_MAX]) {
        strcpy(out, "unknown");
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (!ci || !ci->client_addr)
                return;
        char text[INET6_ADDRSTRLEN];
        if (ci->client_addr->sa_family == AF_INET) {
                const struct sockaddr_in *sin = (const struct sockaddr_in *)ci->client_addr;
                if (inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text))
                        snprintf(out, RATE_KEY_MAX, "%s", text);
        } else if (ci->client_addr->sa_family == AF_INET6) {
                struct in6_addr a = ((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr;
                if (IN6_IS_ADDR_V4MAPPED(&a)) {
                        if (inet_ntop(AF_INET, &a.s6_addr[12], text, sizeof text))
                                snprintf(out, RATE_KEY_MAX, "%s", text);
                        return;
                }
                memset(&a.s6_addr[8], 0, 8);
                if (inet_ntop(AF_INET6, &a, text, sizeof text))
                        snprintf(out, RATE_KEY_MAX, "%s/64", text);
        }
}

/* The token a TCP caller presents: "Authorization: Bearer T" or "X-Agent-Token: T". NULL if
 * neither header is there; "" for another Authorization scheme. */
static const char *presented_token(struct MHD_Connection *c) {
        const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        if (h) {
                if (strncasecmp(h, "Bearer ", 7) != 0)
                        return "";
                for (h += 7; *h == ' '; h++)
                        ;
                return h;
        }
        return MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Agent-Token");
}

static void rate_limited(struct api_response *resp, unsigned wait, const char *who) {
        api_error(resp, 429, "rate_limited", "too many requests from %s; retry in %u s", who, wait);
        resp->retry_after = wait;
}

/* Who a TCP caller is: the texts its api_request points to. */
struct caller {
        char actor[AUDIT_ACTOR_MAX + 1];
        char token_name[TOKEN_NAME_MAX + 1];
        char token_datacenter[TOKEN_DATACENTER_MAX + 1];
};

/* A TCP request: the per-address limit, then the token (every path but /health), then the
 * per-token limit. Fills rq->actor, rq->scopes and, for an API token, rq->token_name and
 * rq->token_datacenter (all pointing into *who), or answers and returns false. */
static bool authenticate(struct api_env *env, struct MHD_Connection *c, struct api_request *rq, struct caller *who,
                         struct api_response *resp) {
        char *actor = who->actor;
        struct api_access *a = env->access;
        char src[RATE_KEY_MAX];
        source_key(c, src);
        double now = now_mono();
        unsigned wait = rate_limiter_take(a->per_source, src, now);
        if (wait) {
                rate_limited(resp, wait, src);
                return false;
        }
        if (streq(rq->path, "/health")) {
                strcpy(actor, "anonymous");
                rq->actor = actor;
                rq->scopes = 0;
                return true;
        }

        const char *tok = presented_token(c);
        if (!tok || !*tok) {
                api_error(resp, 401, "unauthorized",
                          tok ? "use Authorization: Bearer TOKEN"
                              : "this listener needs a token: Authorization: Bearer TOKEN (or X-Agent-Token: TOKEN)");
                return false;
        }
        pthread_mutex_lock(&a->lock);
        bool agent = a->agent_token[0] && auth_secret_equal(tok, a->agent_token);
        pthread_mutex_unlock(&a->lock);
        char name[TOKEN_NAME_MAX + 1] = "", key[RATE_KEY_MAX];
        bool touch = false;
        if (agent) {
                strcpy(actor, "agent-token");
                rq->scopes = AGENT_TOKEN_SCOPES;
        } else {
                int r = auth_tokens_check(a->tokens, tok, (int64_t)time(NULL), name, who->token_datacenter,
                                          &rq->scopes, &touch);
                if (r < 0) {
                        log_debug("api: %s presented %s token", src, r == -EINVAL ? "a malformed" : "an unknown");
                        api_error(resp, 401, "unauthorized",
                                  r == -EINVAL ? "malformed token (expected egw_<key id>_<secret>)"
                                               : "unknown or revoked token");
                        return false;
                }
                snprintf(actor, AUDIT_ACTOR_MAX + 1, "token:%s", name);
                strcpy(who->token_name, name);
                rq->token_name = who->token_name;
                rq->token_datacenter = who->token_datacenter;
        }
        rq->actor = actor;
        snprintf(key, sizeof key, "%.*s", RATE_KEY_MAX - 1, actor); /* "token:" + 64 characters fit */
        if ((wait = rate_limiter_take(a->per_token, key, now))) {
                rate_limited(resp, wait, actor);
                return false;
        }
        if (touch) {
                pthread_mutex_lock(&env->lock);
                int r = store_token_touch(env->store, name, (int64_t)time(NULL));
                pthread_mutex_unlock(&env->lock);
                if (r < 0)
                        log_debug("api: cannot record the last use of token %s: %s", name, strerror(-r));
        }
        return true;
}

static uint32_t body_limit(const struct listener *l) {
        return l->kind == LISTENER_METRICS ? 4096 : atomic_load(&l->env->access->max_body);
}

/* Whether a Content-Length header value declares more than max bytes. */
static bool content_length_over(const char *v, uint32_t max) {
        uint64_t n = 0;
        for (; *v; v++) {
                if (*v < '0' || *v > '9')
                        return false; /* MHD refuses a malformed length itself */
                n = n * 10 + (uint64_t)(*v - '0');
                if (n > max)
                        return true;
        }
        return false;
}

static void track_set(struct api_server *s, struct conn_track *t, bool busy) {
        if (!t)
                return;
        pthread_mutex_lock(&s->lock);
        t->busy = busy;
        t->deadline = now_mono() + s->timeout;
        pthread_mutex_unlock(&s->lock);
}

/* Counts, logs and sends the answer; the connection's deadline restarts for the send. */
static enum MHD_Result finish(struct listener *l, struct MHD_Connection *c, struct request *req, const char *method,
                              const char *url, struct api_response *resp) {
        if (!resp->status)
                api_error(resp, 500, "internal", "no response");
        if (l->kind != LISTENER_METRICS && resp->status >= METRICS_CODE_MIN && resp->status <= METRICS_CODE_MAX)
                atomic_fetch_add_explicit(&l->env->access->requests[resp->status - METRICS_CODE_MIN], 1,
                                          memory_order_relaxed);
        log_debug("api: %s %s -> %u", method, url, resp->status);
        enum MHD_Result r = send_response(c, resp);
        json_decref(resp->body);
        free(resp->text_body);
        track_set(l->server, req->track, false);
        return r;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_size, void **con_cls) {
        struct listener *l = cls;
        struct api_env *env = l->env;
        struct request *req = *con_cls;
        if (req && req->answered) {
                *upload_size = 0; /* answered early (413): whatever still arrives is dropped */
                return MHD_YES;
        }
        if (!req) {
                req = calloc(1, sizeof *req);
                if (!req)
                        return MHD_NO;
                *con_cls = req;
                if (l->kind != LISTENER_UNIX) {
                        const union MHD_ConnectionInfo *ci =
                                MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
                        req->track = ci ? ci->socket_context : NULL;
                }
                /* A declared length over the limit is refused before a byte of it is read
                 * (curl waits for "100 Continue" and never sends it; MHD closes afterwards). */
                const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
                if (cl && content_length_over(cl, body_limit(l))) {
                        req->answered = true;
                        struct api_response resp = {0};
                        api_error(&resp, 413, "payload_too_large", "request body over %u bytes", body_limit(l));
                        return finish(l, c, req, method, url, &resp);
                }
                return MHD_YES;
        }
        if (*upload_size) {
                size_t n = *upload_size;
                *upload_size = 0;
                uint32_t max = body_limit(l);
                if (!req->too_large && req->body.len + n > max) {
                        /* A chunked body without a length: stop keeping it, answer at its end. */
                        req->too_large = true;
                        strbuf_done(&req->body);
                }
                if (req->too_large) {
                        /* libmicrohttpd cannot answer in the middle of a body: drop what comes, answer
                         * 413 at its end, or hang up on a client that keeps sending far more. */
                        req->discarded += n;
                        if (req->discarded <= 4 * (size_t)max)
                                return MHD_YES;
                        if (l->kind != LISTENER_METRICS)
                                atomic_fetch_add_explicit(&env->access->requests[413 - METRICS_CODE_MIN], 1,
                                                          memory_order_relaxed);
                        log_debug("api: %s %s: body far over %u bytes, connection closed", method, url, max);
                        return MHD_NO;
                }
                strbuf_appendn(&req->body, upload_data, n);
                return MHD_YES;
        }

        track_set(l->server, req->track, true);
        struct api_response resp = {0};
        struct caller who = {0};
        char *actor = who.actor;
        struct api_request rq = {.method = method, .path = url, .rest = "", .body = req->body.data,
                                 .len = req->body.len};
        struct args_ctx args = {.rq = &rq};
        MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, arg_collect, &args);
        if (req->too_large)
                api_error(&resp, 413, "payload_too_large", "request body over %u bytes", body_limit(l));
        else if (strbuf_status(&req->body) < 0)
                api_error(&resp, 500, "internal", "out of memory");
        else if (args.n > API_ARGS_MAX)
                api_error(&resp, 400, "invalid_argument", "too many query arguments (at most %d)", API_ARGS_MAX);
        else {
                rq.n_args = args.n;
                rq.if_match = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_MATCH);
                switch (l->kind) {
                case LISTENER_UNIX:
                        unix_actor(c, actor);
                        rq.actor = actor;
                        rq.scopes = SCOPE_ALL;
                        api_dispatch(env, &rq, &resp);
                        break;
                case LISTENER_TCP:
                        if (authenticate(env, c, &rq, &who, &resp))
                                api_dispatch(env, &rq, &resp);
                        break;
                case LISTENER_METRICS:
                        if (!streq(url, "/metrics"))
                                api_error(&resp, 404, "not_found", "this listener serves only GET /metrics");
                        else if (!is_read(method)) {
                                resp.allow = "GET, HEAD";
                                api_error(&resp, 405, "method_not_allowed", "%s is not allowed on /metrics (use GET)",
                                          method);
                        } else
                                metrics_answer(env, &resp);
                        break;
                }
        }
        return finish(l, c, req, method, url, &resp);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
        struct listener *l = cls;
        struct request *req = *con_cls;
        if (!req)
                return;
        /* The next request (or the idle keep-alive) gets a full timeout again. */
        track_set(l->server, req->track, false);
        strbuf_done(&req->body);
        free(req);
        *con_cls = NULL;
}

/* ---- slow clients: a deadline per request on the network listeners ---- */

/* MHD's own timeout only closes connections that are completely idle; one byte every few
 * seconds would keep a thread forever. So each TCP/metrics connection must deliver a whole
 * request within the timeout (from its start or from its previous answer), and take at most
 * as long again to read the answer; the time our handlers spend is not counted. */
static void notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                              enum MHD_ConnectionNotificationCode code) {
        struct listener *l = cls;
        struct api_server *s = l->server;
        if (code == MHD_CONNECTION_NOTIFY_STARTED) {
                struct conn_track *t = calloc(1, sizeof *t);
                if (!t)
                        return; /* unwatched; MHD's idle timeout still applies */
                const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
                t->fd = ci ? ci->connect_fd : -1;
                pthread_mutex_lock(&s->lock);
                t->deadline = now_mono() + s->timeout;
                t->next = s->conns;
                if (s->conns)
                        s->conns->prev = t;
                s->conns = t;
                pthread_mutex_unlock(&s->lock);
                *socket_context = t;
        } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
                struct conn_track *t = *socket_context;
                if (!t)
                        return;
                /* MHD closes the fd only after this returns: the reaper never sees a reused fd. */
                pthread_mutex_lock(&s->lock);
                if (t->prev)
                        t->prev->next = t->next;
                else
                        s->conns = t->next;
                if (t->next)
                        t->next->prev = t->prev;
                pthread_mutex_unlock(&s->lock);
                free(t);
                *socket_context = NULL;
        }
}

static void *reaper_main(void *arg) {
        struct api_server *s = arg;
        pthread_mutex_lock(&s->lock);
        while (!s->stopping) {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                ts.tv_sec += 1;
                pthread_cond_timedwait(&s->wake, &s->lock, &ts);
                double now = now_mono();
                unsigned n = 0;
                for (struct conn_track *t = s->conns; t; t = t->next)
                        if (!t->busy && !t->shut && t->fd >= 0 && now > t->deadline) {
                                /* MHD's thread sees EOF and closes the connection itself. */
                                shutdown(t->fd, SHUT_RDWR);
                                t->shut = true;
                                n++;
                        }
                if (n)
                        log_debug("api: closed %u connection(s) that took over %u s for a request", n, s->timeout);
        }
        pthread_mutex_unlock(&s->lock);
        return NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
        char msg[512];
        vsnprintf(msg, sizeof msg, fmt, ap);
        size_t l = strlen(msg);
        while (l && msg[l - 1] == '\n')
                msg[--l] = '\0';
        /* Our own refusals (a body far over the limit) come back as this: not worth a warning. */
        if (strncmp(msg, "Application reported internal error", 35) == 0)
                log_debug("api: %s", msg);
        else
                log_warning("api: %s", msg);
}

/* ---- listeners ---- */

static int unix_listen(const char *socket_path, int *ret_fd, char *err, size_t err_size) {
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
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* A listening TCP socket on endpoint ("ADDR:PORT", IPv6 in brackets; "[::]" is dual-stack). */
static int tcp_listen(const char *what, const char *endpoint, int *ret_fd, char *err, size_t err_size) {
        struct ip_addr a;
        uint16_t port;
        if (ip_endpoint_parse(endpoint, &a, &port) < 0) {
                snprintf(err, err_size, "%s '%s' is not ADDR:PORT", what, endpoint);
                return -EINVAL;
        }
        struct sockaddr_storage ss = {0};
        socklen_t len;
        if (a.family == AF_INET) {
                struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
                sin->sin_family = AF_INET;
                sin->sin_port = htons(port);
                memcpy(&sin->sin_addr, a.bytes, 4);
                len = sizeof *sin;
        } else {
                struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
                sin6->sin6_family = AF_INET6;
                sin6->sin6_port = htons(port);
                memcpy(&sin6->sin6_addr, a.bytes, 16);
                len = sizeof *sin6;
        }
        _cleanup_close_ int fd = socket(a.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1, zero = 0;
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
            (a.family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) < 0) ||
            bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 128) < 0) {
                int e = errno;
                snprintf(err, err_size, "%s: cannot listen on %s: %s", what, endpoint, strerror(e));
                return -e;
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* The whole of a PEM file (at most PEM_MAX bytes) as a malloc'd string. */
static int pem_read(const char *path, char **ret, char *err, size_t err_size) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                int e = errno;
                snprintf(err, err_size, "cannot open %s: %s", path, strerror(e));
                return -e;
        }
        _cleanup_strbuf_ struct strbuf b = {0};
        char buf[4096];
        ssize_t n;
        while ((n = read(fd, buf, sizeof buf)) > 0) {
                if (b.len + (size_t)n > PEM_MAX) {
                        snprintf(err, err_size, "%s: larger than %d bytes, not a PEM file", path, PEM_MAX);
                        explicit_bzero(buf, sizeof buf);
                        return -EFBIG;
                }
                strbuf_appendn(&b, buf, (size_t)n);
        }
        int e = errno;
        explicit_bzero(buf, sizeof buf);
        if (n < 0) {
                snprintf(err, err_size, "cannot read %s: %s", path, strerror(e));
                return -e;
        }
        if (strbuf_status(&b) < 0)
                return -ENOMEM;
        if (!strstr(strbuf_str(&b), "-----BEGIN ")) {
                snprintf(err, err_size, "%s is not a PEM file", path);
                return -EINVAL;
        }
        *ret = strbuf_steal(&b);
        return 0;
}

static void pem_free(char *pem) {
        if (pem)
                explicit_bzero(pem, strlen(pem));
        free(pem);
}

static void listener_stop(struct listener *l) {
        if (l->mhd) {
                /* Quiesce first: MHD then leaves the listening fd to us instead of closing it. */
                MHD_quiesce_daemon(l->mhd);
                MHD_stop_daemon(l->mhd);
                l->mhd = NULL;
        }
        if (l->fd >= 0)
                close(l->fd);
        l->fd = -1;
}

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Percent-decoding of the path and query arguments, in place. "%00" stays encoded: decoded,
 * it would cut the C string short, so "/v1/vms/a%00b" would silently address VM "a". Kept
 * as "%00" it makes the id invalid (400), as it should be. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s) {
        char *out = s;
        for (const char *in = s; *in;) {
                int hi, lo;
                if (in[0] == '%' && (hi = hexval(in[1])) >= 0 && (lo = hexval(in[2])) >= 0 && (hi | lo) != 0) {
                        *out++ = (char)(hi * 16 + lo);
                        in += 3;
                } else
                        *out++ = *in++;
        }
        *out = '\0';
        return (size_t)(out - s);
}

/* Starts MHD on l->fd (already listening). tls: an array of MHD options for TLS, or NULL. */
static int listener_start(struct listener *l, unsigned flags, unsigned limit, unsigned per_ip, unsigned timeout,
                          const struct MHD_OptionItem *tls) {
        static const struct MHD_OptionItem none[] = {{MHD_OPTION_END, 0, NULL}};
        bool watched = l->kind != LISTENER_UNIX;
        l->mhd = MHD_start_daemon(
                flags | MHD_USE_ERROR_LOG | (tls ? MHD_USE_TLS : 0), 0, NULL, NULL, handle, l,
                MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, l->fd,
                MHD_OPTION_NOTIFY_COMPLETED, completed, l, MHD_OPTION_CONNECTION_TIMEOUT, timeout,
                MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL, MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_PER_IP_CONNECTION_LIMIT, watched ? per_ip : 0u,
                MHD_OPTION_NOTIFY_CONNECTION, watched ? notify_connection : NULL, l, MHD_OPTION_ARRAY,
                tls ? tls : none, MHD_OPTION_END);
        return l->mhd ? 0 : -EIO;
}

int api_server_start(struct api_env *env, const char *socket_path, struct api_server **ret, char *err,
                     size_t err_size) {
        struct config cfg;
        pthread_mutex_lock(&env->lock);
        cfg = env->config;
        pthread_mutex_unlock(&env->lock);

        struct api_server *s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->timeout = cfg.api_timeout ? cfg.api_timeout : 30;
        pthread_mutex_init(&s->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&s->wake, &ca);
        pthread_condattr_destroy(&ca);
        struct listener *ls[] = {&s->unix_l, &s->tcp, &s->metrics};
        enum listener_kind kinds[] = {LISTENER_UNIX, LISTENER_TCP, LISTENER_METRICS};
        for (size_t i = 0; i < ELEMENTSOF(ls); i++)
                *ls[i] = (struct listener){.server = s, .env = env, .kind = kinds[i], .fd = -1};
        const unsigned threaded = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION;

        int r = unix_listen(socket_path, &s->unix_l.fd, err, err_size);
        if (r < 0)
                goto fail;
        strcpy(s->path, socket_path);
        if (listener_start(&s->unix_l, threaded, 256, 0, s->timeout, NULL) < 0) {
                snprintf(err, err_size, "cannot start the HTTP server on %s", socket_path);
                r = -EIO;
                goto fail;
        }

        if (cfg.api_listen[0]) {
                struct MHD_OptionItem tls[4] = {{MHD_OPTION_END, 0, NULL}};
                bool use_tls = cfg.api_tls_cert[0] && cfg.api_tls_key[0];
                if (use_tls) {
                        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
                                snprintf(err, err_size, "this libmicrohttpd was built without TLS");
                                r = -EOPNOTSUPP;
                                goto fail;
                        }
                        if ((r = pem_read(cfg.api_tls_cert, &s->tls_cert, err, err_size)) < 0 ||
                            (r = pem_read(cfg.api_tls_key, &s->tls_key, err, err_size)) < 0)
                                goto fail;
                        tls[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert};
                        tls[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key};
                        /* TLS 1.2 and 1.3 only. */
                        tls[2] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
                                                         (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"};
                }
                if ((r = tcp_listen("listen", cfg.api_listen, &s->tcp.fd, err, err_size)) < 0)
                        goto fail;
                if (listener_start(&s->tcp, threaded, TCP_CONNECTIONS_MAX, TCP_CONNECTIONS_PER_IP, s->timeout,
                                   use_tls ? tls : NULL) < 0) {
                        snprintf(err, err_size, "cannot start the HTTP%s server on %s%s", use_tls ? "S" : "",
                                 cfg.api_listen, use_tls ? " (is the key the certificate's, both PEM?)" : "");
                        r = -EIO;
                        goto fail;
                }
        }
        if (cfg.metrics_listen[0]) {
                if ((r = tcp_listen("metrics_listen", cfg.metrics_listen, &s->metrics.fd, err, err_size)) < 0)
                        goto fail;
                /* One polling thread: scrapes are rare and short. */
                if (listener_start(&s->metrics, MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, METRICS_CONNECTIONS_MAX, 8,
                                   s->timeout < 10 ? s->timeout : 10, NULL) < 0) {
                        snprintf(err, err_size, "cannot start the metrics server on %s", cfg.metrics_listen);
                        r = -EIO;
                        goto fail;
                }
        }
        if (s->tcp.mhd || s->metrics.mhd) {
                if ((r = -pthread_create(&s->reaper, NULL, reaper_main, s)) < 0) {
                        snprintf(err, err_size, "cannot start a thread: %s", strerror(-r));
                        goto fail;
                }
                s->reaper_running = true;
        }
        *ret = s;
        return 0;
fail:
        api_server_stop(s);
        return r;
}

struct api_server *api_server_stop(struct api_server *s) {
        if (!s)
                return NULL;
        listener_stop(&s->metrics);
        listener_stop(&s->tcp);
        listener_stop(&s->unix_l);
        if (s->path[0])
                unlink(s->path);
        if (s->reaper_running) {
                pthread_mutex_lock(&s->lock);
                s->stopping = true;
                pthread_cond_signal(&s->wake);
                pthread_mutex_unlock(&s->lock);
                pthread_join(s->reaper, NULL);
        }
        pthread_cond_destroy(&s->wake);
        pthread_mutex_destroy(&s->lock);
        pem_free(s->tls_cert);
        pem_free(s->tls_key);
        free(s);
        return NULL;
}
