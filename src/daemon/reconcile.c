/* SPDX-License-Identifier: MIT */
/*
 * The nft reconciler (see reconcile.h): full replaces applied as nft script through
 * libnftables, change-log increments applied as one netlink batch (nft_apply_changes,
 * which reads nothing back from the kernel), backoff on failure, periodic drift check.
 * In userspace forward mode the nft steps are skipped and the applied VMs become the
 * proxy's forwards table.
 */
#include "reconcile.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>

#include "core/hashmap.h"
#include "core/log.h"
#include "nft/nft.h"
#include "proxy/forwards.h"
#include "proxy/proxy.h"
#include "proxy/routes.h"
#include "store/store.h"

#define CHANGES_BATCH 1024
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000

struct reconciler {
        int efd;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        /* under lock */
        uint64_t desired_gen, applied_gen;
        bool full_requested;
        struct reconciler_status status;

        /* main thread only */
        struct store *store;
        struct nft_apply *nft;
        struct hashmap *applied; /* vm id -> struct vm * (owned): what the kernel has */
        int64_t cursor; /* change-log position the applied table reflects */
        int64_t pruned; /* change-log entries up to here are deleted */
        bool need_full;
        struct config config;
        bool configured;
        bool userspace; /* forward_mode = userspace, fixed at the first configuration */
        struct proxy *proxy;
        bool routes_dirty; /* the applied VMs or the names changed since the last publish */
        int backoff_ms;
        struct timespec retry_at;
};

static double now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void applied_clear(struct reconciler *r) {
        size_t i = 0;
        void *v;
        while (hashmap_next(r->applied, &i, NULL, &v))
                free(v);
        r->applied = hashmap_free(r->applied);
}

int reconciler_new(const char *db_path, struct reconciler **ret, char *err, size_t err_size) {
        struct reconciler *r = calloc(1, sizeof *r);
        if (!r)
                return -ENOMEM;
        r->efd = -1;
        pthread_mutex_init(&r->lock, NULL);
        pthread_cond_init(&r->cond, NULL);
        r->need_full = true;
        int k = store_open(db_path, &r->store, err, err_size);
        if (k < 0)
                goto fail;
        if ((k = nft_apply_new(&r->nft)) < 0) {
                snprintf(err, err_size, "cannot create an nftables context");
                goto fail;
        }
        if ((k = hashmap_new(&r->applied)) < 0)
                goto fail;
        r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (r->efd < 0) {
                k = -errno;
                snprintf(err, err_size, "eventfd: %s", strerror(errno));
                goto fail;
        }
        *ret = r;
        return 0;
fail:
        reconciler_free(r);
        return k;
}

struct reconciler *reconciler_free(struct reconciler *r) {
        if (!r)
                return NULL;
        if (r->applied)
                applied_clear(r);
        nft_apply_free(r->nft);
        store_close(r->store);
        if (r->efd >= 0)
                close(r->efd);
        pthread_cond_destroy(&r->cond);
        pthread_mutex_destroy(&r->lock);
        free(r);
        return NULL;
}

static void wake(struct reconciler *r) {
        uint64_t one = 1;
        (void)!write(r->efd, &one, sizeof one);
}

void reconciler_set_config(struct reconciler *r, const struct config *cfg) {
        if (!r->configured) {
                r->userspace = streq(cfg->forward_mode, "userspace");
                r->configured = true;
        }
        r->config = *cfg;
        r->routes_dirty = true;
        pthread_mutex_lock(&r->lock);
        r->status.userspace = r->userspace;
        pthread_mutex_unlock(&r->lock);
}

/* A copy of the applied VMs as an array (malloc'd; the caller frees it). */
static int applied_array(struct reconciler *r, struct vm **ret, size_t *ret_n) {
        size_t n = hashmap_size(r->applied), i = 0, j = 0;
        struct vm *vms = calloc(n ? n : 1, sizeof *vms);
        if (!vms)
                return -ENOMEM;
        void *v;
        while (hashmap_next(r->applied, &i, NULL, &v))
                vms[j++] = *(struct vm *)v;
        *ret = vms;
        *ret_n = j;
        return 0;
}

/* Userspace mode: the applied VMs' port maps as the proxy's forwards table, whole VMs in
 * block order while they fit the open-files limit. */
static int publish_forwards(struct reconciler *r) {
        struct vm *vms;
        size_t j;
        if (applied_array(r, &vms, &j) < 0)
                return -ENOMEM;
        size_t cap = proxy_forward_capacity(r->proxy), m, wanted;
        struct forward *f;
        int k = forwards_build(vms, j, NULL, 0, cap, &f, &m, &wanted);
        free(vms);
        if (k < 0)
                return k;
        struct forward_table *t;
        k = forward_table_new(f, m, &t);
        free(f);
        if (k < 0)
                return k;
        proxy_publish_forwards(r->proxy, t);
        char why[256] = "";
        if (m < wanted) {
                snprintf(why, sizeof why,
                         "userspace forwards: %zu ports wanted, only %zu fit the open-files limit; "
                         "the VMs beyond are not forwarded (raise LimitNOFILE, lower max_connections or workers)",
                         wanted, cap);
                log_error("reconcile: %s", why);
        }
        pthread_mutex_lock(&r->lock);
        r->status.forward_ports = m;
        snprintf(r->status.forwards_error, sizeof r->status.forwards_error, "%s", why);
        pthread_mutex_unlock(&r->lock);
        log_debug("reconcile: proxy forwards published (%zu ports)", m);
        return 0;
}

/* Every applied VM's name -> VM:443 (and :80 for passthrough). O(VMs): a few ms at
 * 10,000 VMs, and it only runs when something changed. */
static int publish_routes(struct reconciler *r) {
        if (!r->proxy || !r->routes_dirty)
                return 0;
        size_t n = hashmap_size(r->applied), i = 0, j = 0;
        struct route *routes = calloc(n ? n : 1, sizeof *routes);
        if (!routes)
                return -ENOMEM;
        void *v;
        while (hashmap_next(r->applied, &i, NULL, &v)) {
                const struct vm *vm = v;
                struct route *rt = &routes[j];
                if (vm_subdomain(vm->slug, r->config.datacenter, r->config.domain, rt->name) < 0)
                        continue;
                rt->backend = vm->ip;
                rt->https_port = 443;
                rt->http_port = 80;
                rt->proxy_protocol = (enum proxy_protocol)vm->proxy_protocol;
                rt->http_passthrough = vm->http_passthrough;
                rt->n_allow = vm->n_allow;
                memcpy(rt->allow, vm->allow, sizeof rt->allow);
                j++;
        }
        struct route def = {0}, *defp = NULL;
        if (r->config.default_backend[0] &&
            ip_endpoint_parse(r->config.default_backend, &def.backend, &def.https_port) == 0) {
                def.http_port = 80;
                defp = &def;
        }
        struct route_table *t;
        int k = route_table_new(routes, j, defp, &t);
        free(routes);
        if (k < 0)
                return k;
        proxy_publish(r->proxy, t);
        if (r->userspace && (k = publish_forwards(r)) < 0)
                return k;
        r->routes_dirty = false;
        log_debug("reconcile: proxy routes published (%zu names)", j);
        return 0;
}

void reconciler_set_proxy(struct reconciler *r, struct proxy *p) {
        r->proxy = p;
        r->routes_dirty = true;
        if (publish_routes(r) < 0)
                log_error("reconcile: cannot build the proxy route table: out of memory");
}

uint64_t reconciler_request(struct reconciler *r) {
        pthread_mutex_lock(&r->lock);
        uint64_t gen = ++r->desired_gen;
        pthread_mutex_unlock(&r->lock);
        wake(r);
        return gen;
}

uint64_t reconciler_request_full(struct reconciler *r) {
        pthread_mutex_lock(&r->lock);
        r->full_requested = true;
        uint64_t gen = ++r->desired_gen;
        pthread_mutex_unlock(&r->lock);
        wake(r);
        return gen;
}

bool reconciler_wait(struct reconciler *r, uint64_t gen, int timeout_ms) {
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
                deadline.tv_sec++;
                deadline.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&r->lock);
        while (r->applied_gen < gen)
                if (pthread_cond_timedwait(&r->cond, &r->lock, &deadline) == ETIMEDOUT)
                        break;
        bool ok = r->applied_gen >= gen;
        pthread_mutex_unlock(&r->lock);
        return ok;
}

int reconciler_fd(const struct reconciler *r) {
        return r->efd;
}

_Static_assert(VM_ALLOW_MAX == ROUTE_ALLOW_MAX, "a VM's allow-list must fit a route's");
_Static_assert((int)VM_PROXY_V1 == (int)PROXY_PROTOCOL_V1 && (int)VM_PROXY_V2 == (int)PROXY_PROTOCOL_V2,
               "the VM and route PROXY protocol values must match");

static bool vm_same(const struct vm *a, const struct vm *b) {
        if (a->n_allow != b->n_allow)
                return false;
        for (unsigned i = 0; i < a->n_allow; i++)
                if (a->allow[i].prefix != b->allow[i].prefix || !ip_addr_equal(&a->allow[i].addr, &b->allow[i].addr))
                        return false;
        return streq(a->id, b->id) && streq(a->slug, b->slug) && ip_addr_equal(&a->ip, &b->ip) &&
               a->block_start == b->block_start && a->block_size == b->block_size &&
               a->proxy_protocol == b->proxy_protocol && a->http_passthrough == b->http_passthrough;
}

/* Reads the live counters so a full replace keeps bandwidth totals. Best effort: without
 * them (no table yet, or the dump failed) counters start from zero. */
static void live_counters(struct nft_counter_value **ret, size_t *ret_n) {
        *ret = NULL;
        *ret_n = 0;
        int k = nft_read_counters(ret, ret_n);
        if (k < 0 && k != -ENOENT)
                log_warning_errno(k, "reconcile: cannot read counter values, they restart from zero: %m");
}

static int run_full(struct reconciler *r, char *err, size_t err_size) {
        struct vm *vms = NULL;
        size_t n = 0;
        int64_t seq = 0;
        int k = store_snapshot_load(r->store, &vms, &n, &seq);
        if (k < 0) {
                snprintf(err, err_size, "store: %s", store_errmsg(r->store));
                return k;
        }
        if (!r->userspace) {
                struct nft_counter_value *counters;
                size_t n_counters;
                live_counters(&counters, &n_counters);

                _cleanup_strbuf_ struct strbuf script = {0};
                k = nft_render_full(vms, n, NULL, 0, counters, n_counters, &script);
                free(counters);
                if (k < 0) {
                        free(vms);
                        snprintf(err, err_size, "render: out of memory");
                        return k;
                }
                _cleanup_free_ char *nft_err = NULL;
                k = nft_apply_run(r->nft, strbuf_str(&script), &nft_err);
                if (k < 0) {
                        free(vms);
                        snprintf(err, err_size, "nft: %s", nft_err ? nft_err : "apply failed");
                        return k;
                }
        }

        struct hashmap *m;
        if ((k = hashmap_new(&m)) < 0) {
                free(vms);
                return k;
        }
        for (size_t i = 0; i < n && k >= 0; i++) {
                struct vm *v = malloc(sizeof *v);
                if (!v) {
                        k = -ENOMEM;
                        break;
                }
                *v = vms[i];
                if ((k = hashmap_put(m, v->id, v)) < 0)
                        free(v);
        }
        free(vms);
        applied_clear(r);
        r->applied = m;
        if (k < 0) {
                snprintf(err, err_size, "out of memory");
                return k; /* need_full stays set: the next run rebuilds the index */
        }
        r->cursor = seq;
        r->need_full = false;
        r->routes_dirty = true;
        if (store_changes_prune(r->store, seq) >= 0)
                r->pruned = seq;
        return 0;
}

struct pending {
        struct vm *old; /* borrowed from applied, or NULL */
        struct vm new;
        bool has_new;
};

/* One batch of the change log. Returns the number of entries read (0 = caught up). */
static int run_batch(struct reconciler *r, char *err, size_t err_size) {
        char **ids = NULL;
        size_t n = 0;
        int64_t seq;
        int k = store_changes_since(r->store, r->cursor, CHANGES_BATCH, &ids, &n, &seq);
        if (k < 0) {
                snprintf(err, err_size, "store: %s", store_errmsg(r->store));
                return k;
        }
        if (n == 0)
                return 0;

        struct pending *p = calloc(n, sizeof *p);
        const struct vm **del = calloc(n, sizeof *del), **add = calloc(n, sizeof *add);
        struct hashmap *seen = NULL;
        size_t np = 0, n_del = 0, n_add = 0;
        if (!p || !del || !add || hashmap_new(&seen) < 0) {
                k = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                if (hashmap_get(seen, ids[i]))
                        continue;
                if ((k = hashmap_put(seen, ids[i], ids[i])) < 0)
                        goto out;
                struct pending q = {.old = hashmap_get(r->applied, ids[i])};
                k = store_vm_get(r->store, ids[i], &q.new);
                if (k < 0 && k != -ENOENT) {
                        snprintf(err, err_size, "store: %s", store_errmsg(r->store));
                        goto out;
                }
                q.has_new = k == 0;
                if (q.old && q.has_new && vm_same(q.old, &q.new))
                        continue;
                if (!q.old && !q.has_new)
                        continue;
                p[np++] = q;
        }
        /* The batch removes before it adds: a freed block or address may be reused by an addition. */
        for (size_t i = 0; i < np; i++) {
                if (p[i].old)
                        del[n_del++] = p[i].old;
                if (p[i].has_new)
                        add[n_add++] = &p[i].new;
        }
        if (!r->userspace && (n_del > 0 || n_add > 0)) {
                _cleanup_free_ char *nft_err = NULL;
                const struct nft_changes c = { .del_vms = del, .n_del_vms = n_del, .add_vms = add, .n_add_vms = n_add };
                k = nft_apply_changes(r->nft, &c, &nft_err);
                if (k < 0) {
                        snprintf(err, err_size, "nft: %s", nft_err ? nft_err : "apply failed");
                        goto out;
                }
        }
        for (size_t i = 0; i < np; i++) {
                if (p[i].old) {
                        free(hashmap_remove(r->applied, p[i].old->id));
                        p[i].old = NULL;
                }
                if (p[i].has_new) {
                        struct vm *v = malloc(sizeof *v);
                        if (v)
                                *v = p[i].new;
                        if (!v || hashmap_put(r->applied, v->id, v) < 0) {
                                free(v);
                                r->need_full = true; /* the index is incomplete: rebuild */
                                k = -ENOMEM;
                                goto out;
                        }
                }
        }
        if (np > 0)
                r->routes_dirty = true;
        r->cursor = seq;
        /* Prune in batches: one DELETE per thousand changes, not one per change. */
        if (seq - r->pruned >= CHANGES_BATCH && store_changes_prune(r->store, seq) >= 0)
                r->pruned = seq;
        k = (int)n;
out:
        hashmap_free(seen);
        free(add);
        free(del);
        free(p);
        for (size_t i = 0; i < n; i++)
                free(ids[i]);
        free(ids);
        return k;
}

static int run_incremental(struct reconciler *r, char *err, size_t err_size) {
        for (;;) {
                int k = run_batch(r, err, err_size);
                if (k < 0)
                        return k;
                if (k < CHANGES_BATCH)
                        return 0;
        }
}

int reconciler_run(struct reconciler *r) {
        uint64_t drained;
        (void)!read(r->efd, &drained, sizeof drained);

        pthread_mutex_lock(&r->lock);
        uint64_t target = r->desired_gen;
        if (r->full_requested) {
                r->need_full = true;
                r->full_requested = false;
        }
        pthread_mutex_unlock(&r->lock);

        char err[512] = "";
        double start = now_ms();
        bool full = r->need_full;
        int k;
        if (full)
                k = run_full(r, err, sizeof err);
        else {
                k = run_incremental(r, err, sizeof err);
                if (k < 0) {
                        /* The kernel no longer has what we think it has: replace it whole. */
                        log_warning("reconcile: incremental apply failed (%s); replacing the table", err);
                        full = true;
                        k = run_full(r, err, sizeof err);
                }
        }
        bool publish = k >= 0 && r->proxy && r->routes_dirty;
        if (k >= 0 && publish_routes(r) < 0)
                log_error("reconcile: cannot build the proxy route table: out of memory");
        /* "applied" below must mean live in the proxy too, not only in the kernel. */
        if (publish && !proxy_wait_applied(r->proxy, 200))
                log_warning("reconcile: a proxy worker took over 200 ms to pick up new routes");
        double took = now_ms() - start;

        if (k < 0) {
                r->need_full = true;
                r->backoff_ms = r->backoff_ms ? r->backoff_ms * 2 : BACKOFF_MIN_MS;
                if (r->backoff_ms > BACKOFF_MAX_MS)
                        r->backoff_ms = BACKOFF_MAX_MS;
                clock_gettime(CLOCK_MONOTONIC, &r->retry_at);
                r->retry_at.tv_sec += r->backoff_ms / 1000;
                r->retry_at.tv_nsec += (long)(r->backoff_ms % 1000) * 1000000L;
                if (r->retry_at.tv_nsec >= 1000000000L) {
                        r->retry_at.tv_sec++;
                        r->retry_at.tv_nsec -= 1000000000L;
                }
                log_error("reconcile: %s failed, retrying in %d ms: %s", r->userspace ? "run" : "nft apply",
                          r->backoff_ms, err);
        } else {
                r->backoff_ms = 0;
                if (full && r->userspace)
                        log_info("reconcile: %zu VMs loaded for the user-space forwards in %.1f ms",
                                 hashmap_size(r->applied), took);
                else if (full)
                        log_info("reconcile: nft table replaced (%zu VMs) in %.1f ms", hashmap_size(r->applied), took);
                else
                        log_debug("reconcile: nft changes applied in %.1f ms", took);
        }

        pthread_mutex_lock(&r->lock);
        r->status.runs++;
        r->status.last_run = time(NULL);
        r->status.last_ok = k >= 0;
        r->status.last_duration_ms = took;
        r->status.last_full = full;
        r->status.vms = hashmap_size(r->applied);
        if (k < 0) {
                r->status.failures++;
                snprintf(r->status.last_error, sizeof r->status.last_error, "%s", err);
        } else {
                r->status.last_error[0] = '\0';
                if (target > r->applied_gen)
                        r->applied_gen = target;
        }
        pthread_cond_broadcast(&r->cond);
        pthread_mutex_unlock(&r->lock);
        return k < 0 ? k : 0;
}

int reconciler_retry_ms(const struct reconciler *r) {
        if (!r->backoff_ms)
                return 0;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (r->retry_at.tv_sec - now.tv_sec) * 1000 + (r->retry_at.tv_nsec - now.tv_nsec) / 1000000;
        return ms > 0 ? (int)ms : 1;
}

/* Expected items of the VMs in the applied index. */
static int applied_items(struct reconciler *r, struct nft_items *ret) {
        struct vm *vms;
        size_t n;
        if (applied_array(r, &vms, &n) < 0)
                return -ENOMEM;
        int k = nft_expected_items(vms, n, NULL, 0, ret);
        free(vms);
        return k;
}

static int live_items(struct nft_apply *nft, struct nft_items *ret, struct strbuf *report) {
        _cleanup_free_ char *json = NULL;
        int k = nft_apply_list_json(nft, &json);
        if (k == -ENOENT) {
                *ret = (struct nft_items){0};
                return 0;
        }
        if (k < 0) {
                strbuf_printf(report, "cannot list the nft table: %s\n", strerror(-k));
                return k;
        }
        k = nft_live_parse_json(json, ret, NULL, NULL);
        if (k < 0)
                strbuf_append(report, "cannot understand nft's JSON listing\n");
        return k;
}

/* Userspace mode: the proxy's listeners against the applied VMs. Workers retry failed
 * binds by themselves, so a difference is only reported. */
static int resync_forwards(struct reconciler *r) {
        if (!r->proxy)
                return 0;
        struct nft_items want = {0}, have = {0};
        _cleanup_strbuf_ struct strbuf report = {0};
        struct vm *vms;
        size_t j;
        if (applied_array(r, &vms, &j) < 0)
                return -ENOMEM;
        int k = forward_expected_items(vms, j, NULL, 0, &want);
        free(vms);
        if (k >= 0)
                k = proxy_forward_listeners(r->proxy, &have);
        if (k >= 0) {
                k = (int)nft_items_diff(&want, &have, &report);
                if (k > 0)
                        log_warning("reconcile: %d differences between the proxy's forward listeners and the VMs:\n%s",
                                    k, strbuf_str(&report));
        }
        nft_items_done(&want);
        nft_items_done(&have);
        return k;
}

int reconciler_resync(struct reconciler *r) {
        if (r->need_full)
                return reconciler_run(r);
        if (r->userspace)
                return resync_forwards(r);
        struct nft_items want = {0}, have = {0};
        _cleanup_strbuf_ struct strbuf report = {0};
        int k = applied_items(r, &want);
        if (k >= 0)
                k = live_items(r->nft, &have, &report);
        if (k >= 0) {
                k = (int)nft_items_diff(&want, &have, &report);
                if (k > 0) {
                        log_warning("reconcile: %d differences between the kernel and the applied state; repairing:\n%s", k,
                                    strbuf_str(&report));
                        reconciler_request_full(r);
                }
        }
        nft_items_done(&want);
        nft_items_done(&have);
        return k;
}

void reconciler_get_status(struct reconciler *r, struct reconciler_status *ret) {
        pthread_mutex_lock(&r->lock);
        *ret = r->status;
        pthread_mutex_unlock(&r->lock);
}

/* The desired VMs, read through a store connection of its own (any thread). */
static int check_snapshot(const char *db_path, struct vm **ret, size_t *ret_n, struct strbuf *report) {
        struct store *s = NULL;
        char err[256];
        int64_t seq;
        int k = store_open(db_path, &s, err, sizeof err);
        if (k < 0) {
                strbuf_printf(report, "cannot open the store: %s\n", err);
                return k;
        }
        if ((k = store_snapshot_load(s, ret, ret_n, &seq)) < 0)
                strbuf_printf(report, "cannot read the store: %s\n", store_errmsg(s));
        store_close(s);
        return k;
}

int reconcile_check(const char *db_path, struct strbuf *report) {
        struct nft_apply *nft = NULL;
        struct vm *vms = NULL;
        size_t n = 0;
        struct nft_items want = {0}, have = {0};
        int k = check_snapshot(db_path, &vms, &n, report);
        if (k < 0)
                return k;
        if ((k = nft_expected_items(vms, n, NULL, 0, &want)) < 0 || (k = nft_apply_new(&nft)) < 0 ||
            (k = live_items(nft, &have, report)) < 0)
                goto out;
        k = (int)nft_items_diff(&want, &have, report);
out:
        nft_items_done(&want);
        nft_items_done(&have);
        free(vms);
        nft_apply_free(nft);
        return k;
}

int reconcile_check_forwards(const char *db_path, struct proxy *p, struct strbuf *report) {
        struct vm *vms = NULL;
        size_t n = 0;
        struct nft_items want = {0}, have = {0};
        int k = check_snapshot(db_path, &vms, &n, report);
        if (k < 0)
                return k;
        if ((k = forward_expected_items(vms, n, NULL, 0, &want)) < 0 || (p && (k = proxy_forward_listeners(p, &have)) < 0))
                goto out;
        k = (int)nft_items_diff(&want, &have, report);
out:
        nft_items_done(&want);
        nft_items_done(&have);
        free(vms);
        return k;
}
