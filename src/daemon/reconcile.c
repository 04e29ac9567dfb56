/* SPDX-License-Identifier: MIT */
/*
 * The reconciler (see reconcile.h): full replaces applied as nft script through
 * libnftables, change-log increments (VMs and standalone forwards) applied as one netlink
 * batch (nft_apply_changes, which reads nothing back from the kernel), backoff on failure,
 * periodic drift check. In userspace forward mode the nft steps are skipped and the applied
 * VMs and forwards become the proxy's forwards table. The proxy's route table follows the
 * applied VMs (their generated and extra names) and the store's routes: when VM or route
 * changes come through the log, only the names of those owners are replaced (a delta of
 * the published table); a start, a full run or a configuration change rebuilds it whole.
 * Each part ("nft"/"forwards", "routes", "vmnet") keeps its own counters for the status. The
 * VM network (issue 6): SNAT and the anti-spoofing bridge table in the full render, lease
 * and port elements in the incremental batch, the default route and the bridge's ports
 * read through rtnl.c.
 */
#include "reconcile.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>

#include "core/hashmap.h"
#include "core/log.h"
#include "daemon/rtnl.h"
#include "nft/nft.h"
#include "proxy/forwards.h"
#include "proxy/proxy.h"
#include "proxy/routes.h"
#include "store/store.h"

#define CHANGES_BATCH 1024
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define ROUTES_DELTA_MAX 256 /* owners changed since the last publish; more: rebuild the route table */

/* The parts of a run, as indexes into status.parts. PART_VMNET is shown only when the
 * configuration has a VM network ([dhcp] interface or subnet, [outbound]). */
enum { PART_DATA, PART_ROUTES, PART_VMNET, N_PARTS };
_Static_assert(N_PARTS <= RECONCILER_PARTS_MAX, "the status has room for every part");

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
        struct hashmap *applied_fwds; /* forward id -> struct forward_def * (owned): likewise */
        int64_t cursor; /* change-log position the applied table reflects */
        int64_t pruned; /* change-log entries up to here are deleted */
        bool need_full;
        struct config config;
        bool configured;
        bool userspace; /* forward_mode = userspace, fixed at the first configuration */
        struct proxy *proxy;
        /* The route table: rebuilt whole when routes_dirty, else changed by a delta for the
         * owners in routes_touched (see publish_routes). */
        bool routes_dirty; /* anything may have changed (config, proxy, a full run, a failure): rebuild */
        struct hashmap *routes_touched; /* owner keys ("vm/ID", "route/ID") changed since the last publish; values unused */
        struct hashmap *route_owners; /* owner key -> the names published for it, space-separated (owned) */
        bool routes_exact; /* route_owners describes the published table and no name in it has two owners */
        bool forwards_dirty; /* userspace: the applied VMs or forwards changed since the last publish */
        int backoff_ms;
        struct timespec retry_at;
        /* The VM network (issue 6, kernel mode): outbound SNAT and the bridge table. */
        struct nft_vmnet net; /* what the last full run rendered */
        struct hashmap *applied_leases; /* MAC text -> struct lease (owned): the lease sets */
        struct nft_port *ports; /* the port set, sorted (malloc'd, NULL when empty) */
        size_t n_ports;
        bool ports_dirty; /* a link changed since the port set was read */
        int link_fd; /* rtnl link watch, -1 when it could not be opened */
        int pfd; /* epoll over efd and link_fd: reconciler_fd() */
        bool bridge_refused; /* the kernel refused the bridge table: left out until a reload */
        char net_logged[256]; /* the last VM-network problem or note logged, so it is logged once */
};

/* What the last full run resolved the VM network to, for reconcile_check() on API threads
 * (which has no configuration and no reconciler); one reconciler per process. */
static pthread_mutex_t check_net_lock = PTHREAD_MUTEX_INITIALIZER;
static struct nft_vmnet check_net;

/* What one part did during a run, recorded into the status at its end. */
struct part_run {
        bool ran; /* it had work to do (or failed trying) */
        bool ok;
        double ms;
        char error[256];
};

static double now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Frees an index and the values it owns. NULL-safe; returns NULL. */
static struct hashmap *index_free(struct hashmap *m) {
        size_t i = 0;
        void *v;
        while (m && hashmap_next(m, &i, NULL, &v))
                free(v);
        return hashmap_free(m);
}

int reconciler_new(const char *db_path, struct reconciler **ret, char *err, size_t err_size) {
        struct reconciler *r = calloc(1, sizeof *r);
        if (!r)
                return -ENOMEM;
        r->efd = -1;
        r->link_fd = -1;
        r->pfd = -1;
        pthread_mutex_init(&r->lock, NULL);
        pthread_cond_init(&r->cond, NULL);
        r->need_full = true;
        r->status.n_parts = N_PARTS;
        snprintf(r->status.parts[PART_DATA].name, sizeof r->status.parts[PART_DATA].name, "nft");
        snprintf(r->status.parts[PART_ROUTES].name, sizeof r->status.parts[PART_ROUTES].name, "routes");
        snprintf(r->status.parts[PART_VMNET].name, sizeof r->status.parts[PART_VMNET].name, "vmnet");
        int k = store_open(db_path, &r->store, err, err_size);
        if (k < 0)
                goto fail;
        if ((k = nft_apply_new(&r->nft)) < 0) {
                snprintf(err, err_size, "cannot create an nftables context");
                goto fail;
        }
        if ((k = hashmap_new(&r->applied)) < 0 || (k = hashmap_new(&r->applied_fwds)) < 0 ||
            (k = hashmap_new(&r->routes_touched)) < 0 || (k = hashmap_new(&r->route_owners)) < 0 ||
            (k = hashmap_new(&r->applied_leases)) < 0)
                goto fail;
        r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (r->efd < 0) {
                k = -errno;
                snprintf(err, err_size, "eventfd: %s", strerror(errno));
                goto fail;
        }
        /* The main loop polls one fd: readable when a run was asked for or a link changed. */
        r->pfd = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = { .events = EPOLLIN };
        if (r->pfd < 0 || epoll_ctl(r->pfd, EPOLL_CTL_ADD, r->efd, &ev) < 0) {
                k = -errno;
                snprintf(err, err_size, "epoll: %s", strerror(errno));
                goto fail;
        }
        r->link_fd = rtnl_link_watch_open();
        if (r->link_fd >= 0 && epoll_ctl(r->pfd, EPOLL_CTL_ADD, r->link_fd, &ev) < 0) {
                close(r->link_fd);
                r->link_fd = -errno;
        }
        if (r->link_fd < 0)
                log_warning_errno(r->link_fd, "reconcile: cannot watch links (%m): the anti-spoofing port set follows "
                                              "bridge changes only at resyncs");
        *ret = r;
        return 0;
fail:
        reconciler_free(r);
        return k;
}

struct reconciler *reconciler_free(struct reconciler *r) {
        if (!r)
                return NULL;
        index_free(r->applied);
        index_free(r->applied_fwds);
        index_free(r->route_owners);
        index_free(r->applied_leases);
        free(r->ports);
        hashmap_free(r->routes_touched);
        nft_apply_free(r->nft);
        store_close(r->store);
        if (r->efd >= 0)
                close(r->efd);
        if (r->link_fd >= 0)
                close(r->link_fd);
        if (r->pfd >= 0)
                close(r->pfd);
        pthread_cond_destroy(&r->cond);
        pthread_mutex_destroy(&r->lock);
        free(r);
        return NULL;
}

static void wake(struct reconciler *r) {
        uint64_t one = 1;
        (void)!write(r->efd, &one, sizeof one);
}

/* Whether cfg asks for a VM network (SNAT or anti-spoofing). */
static bool vmnet_configured(const struct config *cfg) {
        return cfg->dhcp_interface[0] || cfg->dhcp_subnet[0] || cfg->outbound_ip[0] || cfg->outbound_interface[0];
}

static void part_record(struct reconciler *r, size_t index, const struct part_run *run);

void reconciler_set_config(struct reconciler *r, const struct config *cfg) {
        if (!r->configured) {
                r->userspace = streq(cfg->forward_mode, "userspace");
                r->configured = true;
        }
        r->config = *cfg;
        r->routes_dirty = true;
        r->bridge_refused = false; /* a reload tries the bridge table again */
        bool vmnet = vmnet_configured(cfg);
        pthread_mutex_lock(&r->lock);
        r->status.userspace = r->userspace;
        snprintf(r->status.parts[PART_DATA].name, sizeof r->status.parts[PART_DATA].name, "%s",
                 r->userspace ? "forwards" : "nft");
        r->status.n_parts = vmnet ? N_PARTS : PART_VMNET;
        pthread_mutex_unlock(&r->lock);
        /* SNAT and the bridge table are nft rules: nothing does them in userspace mode. */
        if (vmnet && r->userspace) {
                struct part_run run = { .ran = true, .ok = false };
                snprintf(run.error, sizeof run.error,
                         "outbound SNAT and anti-spoofing need forward_mode = kernel: [outbound] and the [dhcp] "
                         "subnet and interface have no effect in userspace mode");
                log_warning("reconcile: %s", run.error);
                part_record(r, PART_VMNET, &run);
        }
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

/* The same for the applied forwards. */
static int applied_fwd_array(struct reconciler *r, struct forward_def **ret, size_t *ret_n) {
        size_t n = hashmap_size(r->applied_fwds), i = 0, j = 0;
        struct forward_def *f = calloc(n ? n : 1, sizeof *f);
        if (!f)
                return -ENOMEM;
        void *v;
        while (hashmap_next(r->applied_fwds, &i, NULL, &v))
                f[j++] = *(struct forward_def *)v;
        *ret = f;
        *ret_n = j;
        return 0;
}

/* Userspace mode: the applied forwards and VMs' port maps as the proxy's forwards table:
 * the standalone forwards, then whole VMs in block order, while they fit the open-files
 * limit. */
static int publish_forwards(struct reconciler *r, char *err, size_t err_size) {
        struct vm *vms = NULL;
        struct forward_def *defs = NULL;
        size_t n_vms, n_defs;
        if (applied_array(r, &vms, &n_vms) < 0 || applied_fwd_array(r, &defs, &n_defs) < 0) {
                free(vms);
                snprintf(err, err_size, "forwards: out of memory");
                return -ENOMEM;
        }
        size_t cap = proxy_forward_capacity(r->proxy), m, wanted;
        struct forward *f;
        int k = forwards_build(vms, n_vms, defs, n_defs, cap, &f, &m, &wanted);
        free(vms);
        free(defs);
        struct forward_table *t = NULL;
        if (k >= 0) {
                k = forward_table_new(f, m, &t);
                free(f);
        }
        if (k < 0) {
                snprintf(err, err_size, "forwards: out of memory");
                return k;
        }
        proxy_publish_forwards(r->proxy, t);
        r->forwards_dirty = false;
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

_Static_assert(VM_ALLOW_MAX == ROUTE_ALLOW_MAX, "a VM's allow-list must fit a route's");
_Static_assert((int)VM_PROXY_V1 == (int)PROXY_PROTOCOL_V1 && (int)VM_PROXY_V2 == (int)PROXY_PROTOCOL_V2,
               "the VM and route PROXY protocol values must match");
_Static_assert(DNS_NAME_MAX <= ROUTE_NAME_MAX, "every host name fits a route's name");

/* name -> the VM's :443 (and :80 for passthrough) with its proxy options. */
static void route_to_vm(struct route *rt, const char *name, const struct vm *vm) {
        *rt = (struct route){
                .backend = vm->ip,
                .https_port = 443,
                .http_port = 80,
                .proxy_protocol = (enum proxy_protocol)vm->proxy_protocol,
                .http_passthrough = vm->http_passthrough,
                .n_allow = vm->n_allow,
        };
        strcpy_bounded(rt->name, sizeof rt->name, name);
        memcpy(rt->allow, vm->allow, sizeof rt->allow);
}

/* A route's host name -> its target with its options. */
static void route_from_def(struct route *rt, const struct route_def *d) {
        *rt = (struct route){
                .backend = d->ip,
                .https_port = d->port,
                .http_port = d->http_port,
                .proxy_protocol = (enum proxy_protocol)d->proxy_protocol,
                .http_passthrough = d->http_passthrough,
                .n_allow = d->n_allow > ROUTE_ALLOW_MAX ? ROUTE_ALLOW_MAX : d->n_allow,
        };
        strcpy_bounded(rt->name, sizeof rt->name, d->hostname);
        memcpy(rt->allow, d->allow, sizeof rt->allow);
}

/* Appends name to owner key's space-separated names in m (host names have no spaces).
 * Returns 0 or -ENOMEM (m then lacks key). */
static int owner_add_name(struct hashmap *m, const char *key, const char *name) {
        char *old = hashmap_remove(m, key);
        size_t ol = old ? strlen(old) : 0, nl = strlen(name);
        char *joined = realloc(old, ol + 1 + nl + 1);
        if (!joined) {
                free(old);
                return -ENOMEM;
        }
        if (ol)
                joined[ol++] = ' ';
        memcpy(joined + ol, name, nl + 1);
        if (hashmap_put(m, key, joined) < 0) {
                free(joined);
                return -ENOMEM;
        }
        return 0;
}

/* Notes that owner key ("vm/ID", "route/ID") may route other names or targets now. */
static void routes_touch(struct reconciler *r, const char *key) {
        static char mark;
        if (!r->proxy || r->routes_dirty)
                return; /* the next publish rebuilds the table whole anyway */
        /* Past ROUTES_DELTA_MAX owners a rebuild is as cheap as the delta's store reads. */
        if (hashmap_size(r->routes_touched) >= ROUTES_DELTA_MAX || hashmap_put(r->routes_touched, key, &mark) < 0)
                r->routes_dirty = true;
}

/* The proxy's route table, whole: every applied VM's generated name and extra names ->
 * VM:443 (and :80 for passthrough), every route -> its target, then the default backend.
 * Names come from the store (routes, extra names) and the applied index (VMs): an extra
 * name of a VM not applied yet waits for that VM's change. O(VMs + names): ~10 ms at 10,000
 * VMs; it runs at start, on a full run or a configuration change, and when a delta cannot
 * be applied. Also records which owner published which names, for the deltas. */
static int publish_routes_full(struct reconciler *r, size_t *ret_n, char *err, size_t err_size) {
        struct store_hostname *names = NULL;
        struct route_def *defs = NULL;
        size_t n_names = 0, n_defs = 0, j = 0;
        int k = store_hostnames_list(r->store, &names, &n_names);
        if (k >= 0)
                k = store_route_list_all(r->store, &defs, &n_defs);
        if (k < 0) {
                snprintf(err, err_size, "routes: store: %s", store_errmsg(r->store));
                free(names);
                return k;
        }
        size_t n = hashmap_size(r->applied) + n_names + n_defs, i = 0;
        struct route *routes = calloc(n ? n : 1, sizeof *routes);
        struct hashmap *owners = NULL;
        if (!routes || hashmap_new(&owners) < 0) {
                free(routes);
                free(names);
                free(defs);
                snprintf(err, err_size, "routes: out of memory");
                return -ENOMEM;
        }
        bool owners_ok = true;
        char key[sizeof "route/" + RESOURCE_ID_MAX]; /* "vm/ID" or "route/ID" (VM ids are resource ids) */
        const char *id;
        void *v;
        while (hashmap_next(r->applied, &i, &id, &v)) {
                const struct vm *vm = v;
                char name[DNS_NAME_MAX + 1];
                if (vm_subdomain(vm->slug, r->config.datacenter, r->config.domain, name) < 0)
                        continue;
                route_to_vm(&routes[j++], name, vm);
                snprintf(key, sizeof key, "vm/%s", id);
                owners_ok = owners_ok && owner_add_name(owners, key, name) >= 0;
        }
        for (i = 0; i < n_names; i++) {
                const struct vm *vm;
                if (!streq(names[i].owner.kind, "vm") || !(vm = hashmap_get(r->applied, names[i].owner.id)))
                        continue;
                if (!route_hostname_valid(names[i].name)) {
                        log_warning("reconcile: VM %s: invalid host name \"%s\" in the store, not routed",
                                    names[i].owner.id, names[i].name);
                        continue;
                }
                route_to_vm(&routes[j++], names[i].name, vm);
                snprintf(key, sizeof key, "vm/%s", names[i].owner.id);
                owners_ok = owners_ok && owner_add_name(owners, key, names[i].name) >= 0;
        }
        for (i = 0; i < n_defs; i++) {
                if (!route_hostname_valid(defs[i].hostname)) {
                        log_warning("reconcile: route %s: invalid host name \"%s\" in the store, not routed", defs[i].id,
                                    defs[i].hostname);
                        continue;
                }
                route_from_def(&routes[j++], &defs[i]);
                snprintf(key, sizeof key, "route/%s", defs[i].id);
                owners_ok = owners_ok && owner_add_name(owners, key, defs[i].hostname) >= 0;
        }
        free(names);
        free(defs);

        struct route def = {0}, *defp = NULL;
        if (r->config.default_backend[0] &&
            ip_endpoint_parse(r->config.default_backend, &def.backend, &def.https_port) == 0) {
                def.http_port = 80;
                defp = &def;
        }
        struct route_table *t;
        k = route_table_new(routes, j, defp, &t);
        free(routes);
        if (k < 0) {
                index_free(owners);
                snprintf(err, err_size, "routes: %s", k == -ENOMEM ? "out of memory" : "invalid host name");
                return k;
        }
        /* A name claimed twice (by a hand-edited store, or a generated name that a new
         * domain made equal to another name) goes to the last claimant; a delta could not
         * reproduce that order, so such a table is only ever rebuilt whole. */
        r->routes_exact = owners_ok && route_table_size(t) == j;
        index_free(r->route_owners);
        r->route_owners = owners;
        proxy_publish(r->proxy, t);
        *ret_n = j;
        return 0;
}

/* The routes owner key claims now, appended to *list (of *cap), their names joined by
 * spaces into *ret_names (malloc'd, NULL for none). Returns 0 or a negative errno. */
static int owner_routes(struct reconciler *r, const char *key, struct route **list, size_t *n, size_t *cap,
                        char **ret_names, char *err, size_t err_size) {
        struct route found[1 + VM_HOSTNAMES_MAX];
        size_t m = 0;
        int k = 0;
        if (strncmp(key, "vm/", 3) == 0) {
                const char *id = key + 3;
                const struct vm *vm = hashmap_get(r->applied, id);
                if (vm) {
                        char name[DNS_NAME_MAX + 1];
                        if (vm_subdomain(vm->slug, r->config.datacenter, r->config.domain, name) >= 0)
                                route_to_vm(&found[m++], name, vm);
                        struct store_hostname *hn = NULL;
                        size_t n_hn = 0;
                        if ((k = store_hostnames_of(r->store, "vm", id, &hn, &n_hn)) < 0) {
                                snprintf(err, err_size, "routes: store: %s", store_errmsg(r->store));
                                return k;
                        }
                        for (size_t i = 0; i < n_hn; i++) {
                                if (m == ELEMENTSOF(found)) {
                                        k = -E2BIG; /* more than the API allows: let a rebuild route them all */
                                        break;
                                }
                                if (!route_hostname_valid(hn[i].name))
                                        log_warning("reconcile: VM %s: invalid host name \"%s\" in the store, not routed",
                                                    id, hn[i].name);
                                else
                                        route_to_vm(&found[m++], hn[i].name, vm);
                        }
                        free(hn);
                        if (k < 0) {
                                snprintf(err, err_size, "routes: VM %s has too many host names", id);
                                return k;
                        }
                }
        } else if (strncmp(key, "route/", 6) == 0) {
                struct route_def d;
                k = store_route_get(r->store, key + 6, &d);
                if (k < 0 && k != -ENOENT) {
                        snprintf(err, err_size, "routes: store: %s", store_errmsg(r->store));
                        return k;
                }
                if (k == 0 && !route_hostname_valid(d.hostname))
                        log_warning("reconcile: route %s: invalid host name \"%s\" in the store, not routed", d.id,
                                    d.hostname);
                else if (k == 0)
                        route_from_def(&found[m++], &d);
        }
        if (*n + m > *cap) {
                size_t ncap = *cap ? *cap * 2 : 16;
                while (ncap < *n + m)
                        ncap *= 2;
                struct route *nl = realloc(*list, ncap * sizeof *nl);
                if (!nl)
                        goto nomem;
                *list = nl;
                *cap = ncap;
        }
        size_t len = 0;
        for (size_t i = 0; i < m; i++)
                len += strlen(found[i].name) + 1;
        char *names = NULL;
        if (m && !(names = malloc(len)))
                goto nomem;
        for (size_t i = 0, o = 0; i < m; i++) {
                size_t l = strlen(found[i].name);
                memcpy(names + o, found[i].name, l);
                o += l;
                names[o++] = i + 1 < m ? ' ' : '\0';
                (*list)[(*n)++] = found[i];
        }
        *ret_names = names;
        return 0;
nomem:
        snprintf(err, err_size, "routes: out of memory");
        return -ENOMEM;
}

/* What one touched owner had published and claims now. */
struct owner_delta {
        const char *key; /* borrowed from routes_touched */
        char *old_names; /* a copy of its published names, split in place by NULs */
        char *new_names; /* space-separated, malloc'd, NULL for none; goes to route_owners */
};

/* The route table as a delta of the published one: for every touched owner, its old names
 * out and its current routes in, through route_table_update(), which shares every other
 * route with the published table. O(touched owners), not O(names). Returns 0 when
 * published, 1 when this change needs a whole rebuild instead (no exact base, too many
 * owners touched, or a name now claimed by two owners), or a negative errno. */
static int publish_routes_delta(struct reconciler *r, size_t *ret_n, char *err, size_t err_size) {
        const struct route_table *base = proxy_routes(r->proxy);
        size_t n_owners = hashmap_size(r->routes_touched);
        if (!base || !r->routes_exact || n_owners > ROUTES_DELTA_MAX)
                return 1;
        struct owner_delta *d = calloc(n_owners ? n_owners : 1, sizeof *d);
        const char **rm = NULL;
        struct route *put = NULL;
        size_t n_rm = 0, cap_rm = 0, n_put = 0, cap_put = 0, i = 0, o = 0;
        struct hashmap *removing = NULL, *putting = NULL;
        int k = -ENOMEM;
        if (!d || hashmap_new(&removing) < 0 || hashmap_new(&putting) < 0)
                goto nomem;
        const char *key;
        while (hashmap_next(r->routes_touched, &i, &key, NULL)) {
                struct owner_delta *od = &d[o++];
                od->key = key;
                const char *old = hashmap_get(r->route_owners, key);
                if (old && !(od->old_names = strdup(old)))
                        goto nomem;
                for (char *p = od->old_names; p && *p;) {
                        char *end = strchrnul(p, ' ');
                        bool last = !*end;
                        *end = '\0';
                        if (n_rm == cap_rm) {
                                size_t ncap = cap_rm ? 2 * cap_rm : 16;
                                const char **nrm = realloc(rm, ncap * sizeof *nrm);
                                if (!nrm)
                                        goto nomem;
                                rm = nrm;
                                cap_rm = ncap;
                        }
                        rm[n_rm++] = p;
                        if (hashmap_put(removing, p, &k) < 0)
                                goto nomem;
                        p = last ? end : end + 1;
                }
                if ((k = owner_routes(r, key, &put, &n_put, &cap_put, &od->new_names, err, err_size)) < 0)
                        goto out;
        }
        /* Exact only if every name put is claimed by no one else: not by another touched
         * owner, nor by an untouched one (it would be in the table and not removed). */
        for (i = 0; i < n_put; i++) {
                if (hashmap_get(putting, put[i].name) ||
                    (route_table_get(base, put[i].name) && !hashmap_get(removing, put[i].name))) {
                        log_debug("reconcile: host name %s has two owners: rebuilding the route table", put[i].name);
                        k = 1;
                        goto out;
                }
                if (hashmap_put(putting, put[i].name, &k) < 0)
                        goto nomem;
        }
        struct route_table *t;
        k = route_table_update(base, rm, n_rm, put, n_put, &t);
        if (k == -ESTALE || k == -EINVAL) {
                k = 1; /* not the table we think, or a name we did not check: rebuild */
                goto out;
        }
        if (k < 0)
                goto nomem;
        proxy_publish(r->proxy, t);
        for (i = 0; i < o; i++) {
                free(hashmap_remove(r->route_owners, d[i].key));
                if (d[i].new_names && hashmap_put(r->route_owners, d[i].key, d[i].new_names) < 0) {
                        free(d[i].new_names);
                        r->routes_exact = false; /* the record is incomplete: the next change rebuilds */
                }
                d[i].new_names = NULL;
        }
        *ret_n = route_table_size(t);
        k = 0;
        goto out;
nomem:
        k = -ENOMEM;
        snprintf(err, err_size, "routes: out of memory");
out:
        for (i = 0; d && i < o; i++) {
                free(d[i].old_names);
                free(d[i].new_names);
        }
        free(d);
        free(rm);
        free(put);
        hashmap_free(removing);
        hashmap_free(putting);
        return k;
}

/* A new route table for the proxy: a delta of the published one when only some owners
 * changed and that is exact, else rebuilt whole. Either way the table is what a rebuild
 * from the applied VMs and the store would give. */
static int publish_routes(struct reconciler *r, char *err, size_t err_size) {
        double start = now_ms();
        size_t n = 0;
        int k = 1;
        const char *how = "delta";
        if (!r->routes_dirty)
                k = publish_routes_delta(r, &n, err, err_size);
        if (k > 0) {
                how = "whole";
                k = publish_routes_full(r, &n, err, err_size);
        }
        if (k < 0) {
                r->routes_dirty = true; /* the retry rebuilds */
                return k;
        }
        r->routes_dirty = false;
        struct hashmap *fresh;
        if (hashmap_size(r->routes_touched) && hashmap_new(&fresh) >= 0) {
                hashmap_free(r->routes_touched);
                r->routes_touched = fresh;
        }
        /* (Out of memory for an empty set: the old owners stay noted, and are merely
         * republished unchanged by the next delta.) */
        /* bench/vm-add.py reads this line. */
        log_debug("reconcile: proxy routes published (%zu names, %s) in %.2f ms", n, how, now_ms() - start);
        return 0;
}

/* Adds what a part did, if anything, to its status. */
static void part_record(struct reconciler *r, size_t index, const struct part_run *run) {
        if (!run->ran)
                return;
        pthread_mutex_lock(&r->lock);
        struct reconciler_part_status *p = &r->status.parts[index];
        p->runs++;
        p->last_run = time(NULL);
        p->last_ok = run->ok;
        p->last_duration_ms = run->ms;
        p->total_duration_ms += run->ms;
        if (run->ok)
                p->last_error[0] = '\0';
        else {
                p->failures++;
                snprintf(p->last_error, sizeof p->last_error, "%s", run->error);
        }
        pthread_mutex_unlock(&r->lock);
}

/* The routes part: a new route table when one is due (a proxy is attached and something it
 * depends on changed). Returns 0 or the negative errno of the failure. */
static int routes_part(struct reconciler *r, struct part_run *run) {
        *run = (struct part_run){0};
        if (!r->proxy || (!r->routes_dirty && hashmap_size(r->routes_touched) == 0))
                return 0;
        double start = now_ms();
        int k = publish_routes(r, run->error, sizeof run->error);
        run->ran = true;
        run->ok = k >= 0;
        run->ms = now_ms() - start;
        return k;
}

/* After a failure: the next run in backoff_ms, doubling from BACKOFF_MIN_MS up to BACKOFF_MAX_MS. */
static void schedule_retry(struct reconciler *r) {
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
}

void reconciler_set_proxy(struct reconciler *r, struct proxy *p) {
        struct part_run run = {0};
        bool failed = false;
        r->proxy = p;
        r->routes_dirty = true;
        r->forwards_dirty = true;
        if (!p)
                return;
        if (r->userspace) {
                double start = now_ms();
                run.ran = true;
                run.ok = publish_forwards(r, run.error, sizeof run.error) >= 0;
                run.ms = now_ms() - start;
                if (!run.ok)
                        log_error("reconcile: cannot publish the proxy forwards (retrying): %s", run.error);
                failed = !run.ok;
                part_record(r, PART_DATA, &run);
        }
        routes_part(r, &run);
        if (run.ran && !run.ok)
                log_error("reconcile: cannot publish the proxy routes (retrying): %s", run.error);
        failed = failed || (run.ran && !run.ok);
        part_record(r, PART_ROUTES, &run);
        if (failed && !r->backoff_ms)
                schedule_retry(r);
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
        return r->pfd;
}

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

/* Whether two forwards put the same element in the kernel (labels and times do not count). */
static bool forward_same(const struct forward_def *a, const struct forward_def *b) {
        return streq(a->id, b->id) && a->proto == b->proto && a->public_port == b->public_port &&
               ip_addr_equal(&a->ip, &b->ip) && a->port == b->port;
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

/* A new index holding copies of items[0..n) (each of size size, its id at offset 0). */
static int index_build(const void *items, size_t n, size_t size, struct hashmap **ret) {
        struct hashmap *m = NULL;
        int k = hashmap_new(&m);
        for (size_t i = 0; i < n && k >= 0; i++) {
                void *v = malloc(size);
                if (!v) {
                        k = -ENOMEM;
                        break;
                }
                memcpy(v, (const char *)items + i * size, size);
                if ((k = hashmap_put(m, (const char *)v, v)) < 0)
                        free(v);
        }
        if (k < 0) {
                index_free(m);
                return k;
        }
        *ret = m;
        return 0;
}

_Static_assert(offsetof(struct vm, id) == 0 && offsetof(struct forward_def, id) == 0,
               "index_build() finds the id at the start of an item");

/* ---- the VM network (issue 6) ---- */

/* Logs text as a warning unless it is what was logged last (a full run repeats itself). */
static void net_log_once(struct reconciler *r, const char *text) {
        if (streq(text, r->net_logged))
                return;
        strcpy_bounded(r->net_logged, sizeof r->net_logged, text);
        if (text[0])
                log_warning("reconcile: %s", text);
}

/* The VM network the configuration asks for now: the default route's interface is read from
 * the kernel when SNAT needs it. problem (size > 0) says what cannot be done; true when that
 * is a failure (nft_vmnet_derive). */
static bool vmnet_resolve(const struct reconciler *r, struct nft_vmnet *ret, char *problem, size_t size) {
        char ifname[NFT_IFNAME_MAX] = "";
        const struct config *c = &r->config;
        if (c->dhcp_subnet[0] && !c->outbound_interface[0]) {
                int k = rtnl_default_route_ifname(ifname);
                if (k < 0 && k != -ENOENT)
                        log_warning_errno(k, "reconcile: cannot read the default route: %m");
        }
        bool failed = nft_vmnet_derive(c, ifname, ret, problem, size);
        if (r->bridge_refused && ret->bridge[0]) {
                size_t len = strnlen(problem, size);
                ret->bridge[0] = '\0';
                if (len + 1 < size)
                        snprintf(problem + len, size - len, "%santi-spoofing: the kernel refused the bridge table "
                                 "(see the log); no port is guarded until a reload", len ? "; " : "");
                failed = true;
        }
        return failed;
}

/* The bridge's ports into *ret (sorted, malloc'd). A bridge that is missing or not a bridge
 * has none (noted in *note); a failure to ask is an error. */
static int vmnet_ports(const char *bridge, struct nft_port **ret, size_t *ret_n, char *note, size_t note_size) {
        int k = rtnl_bridge_ports(bridge, ret, ret_n);
        note[0] = '\0';
        if (k == -ENOENT || k == -ENOTDIR) {
                snprintf(note, note_size,
                         "anti-spoofing: %s is %s in this network namespace: no port is guarded until it is one",
                         bridge, k == -ENOENT ? "no interface" : "not a bridge");
                return 0;
        }
        return k;
}

/* Whether the port lists a and b are equal (both sorted). */
static bool ports_equal(const struct nft_port *a, size_t na, const struct nft_port *b, size_t nb) {
        if (na != nb)
                return false;
        for (size_t i = 0; i < na; i++)
                if (!streq(a[i].name, b[i].name))
                        return false;
        return true;
}

/* Leaves out (with a warning) the ports whose names nft cannot take, so one odd interface name
 * does not stop the whole table. */
static void ports_filter(struct nft_port *p, size_t *n) {
        size_t k = 0;
        for (size_t i = 0; i < *n; i++) {
                if (nft_ifname_renderable(p[i].name))
                        p[k++] = p[i];
                else
                        log_warning("reconcile: anti-spoofing: the bridge port name \"%s\" cannot be used in nft rules; "
                                    "it is not guarded",
                                    p[i].name);
        }
        *n = k;
}

/* A new lease index (MAC text -> a copy of the lease) of l[0..n). */
static int lease_index_build(const struct lease *l, size_t n, struct hashmap **ret) {
        struct hashmap *m = NULL;
        int k = hashmap_new(&m);
        for (size_t i = 0; i < n && k >= 0; i++) {
                char mac[MAC_TEXT_LEN + 1];
                struct lease *v = malloc(sizeof *v);
                if (!v) {
                        k = -ENOMEM;
                        break;
                }
                *v = l[i];
                if ((k = hashmap_put(m, mac_format(l[i].mac, mac), v)) < 0)
                        free(v);
        }
        if (k < 0) {
                index_free(m);
                return k;
        }
        *ret = m;
        return 0;
}

/* The applied leases as an array (malloc'd). */
static int applied_lease_array(struct reconciler *r, struct lease **ret, size_t *ret_n) {
        size_t n = hashmap_size(r->applied_leases), i = 0, j = 0;
        struct lease *l = calloc(n ? n : 1, sizeof *l);
        void *v;
        if (!l)
                return -ENOMEM;
        while (hashmap_next(r->applied_leases, &i, NULL, &v))
                l[j++] = *(struct lease *)v;
        *ret = l;
        *ret_n = j;
        return 0;
}

/* Records the VM-network part: whether what the configuration asks for could be done. */
static void vmnet_record(struct reconciler *r, bool failed, const char *problem, double ms) {
        struct part_run run = { .ran = true, .ok = !failed, .ms = ms };
        if (!vmnet_configured(&r->config))
                return;
        if (failed)
                snprintf(run.error, sizeof run.error, "%s", problem);
        part_record(r, PART_VMNET, &run);
}

static int run_full(struct reconciler *r, char *err, size_t err_size) {
        struct vm *vms = NULL;
        struct forward_def *fwds = NULL;
        size_t n = 0, n_fwds = 0;
        int64_t seq = 0;
        int k = store_snapshot_load_all(r->store, &vms, &n, &fwds, &n_fwds, &seq);
        if (k < 0) {
                snprintf(err, err_size, "store: %s", store_errmsg(r->store));
                return k;
        }
        struct nft_vmnet net = {0};
        struct lease *leases = NULL;
        struct nft_port *ports = NULL;
        size_t n_leases = 0, n_ports = 0;
        if (!r->userspace) {
                double net_start = now_ms();
                char problem[256], note[160] = "";
                bool failed = vmnet_resolve(r, &net, problem, sizeof problem);
                /* After the snapshot: a lease changed in between is in the change log as well,
                 * and replaying it against this list is harmless. */
                if (net.bridge[0] && (k = store_lease_list(r->store, &leases, &n_leases)) < 0) {
                        snprintf(err, err_size, "store: %s", store_errmsg(r->store));
                        goto out;
                }
                if (net.bridge[0] && (k = vmnet_ports(net.bridge, &ports, &n_ports, note, sizeof note)) < 0) {
                        snprintf(err, err_size, "anti-spoofing: cannot list the ports of %s: %s", net.bridge,
                                 strerror(-k));
                        goto out;
                }
                ports_filter(ports, &n_ports);
                char both[sizeof problem + sizeof note + 2];
                snprintf(both, sizeof both, "%s%s%s", problem, problem[0] && note[0] && net.bridge[0] ? "; " : "",
                         net.bridge[0] ? note : "");
                net_log_once(r, both);

                struct nft_counter_value *counters;
                size_t n_counters;
                live_counters(&counters, &n_counters);

                for (;;) {
                        const struct nft_desired d = {
                                .vms = vms, .n_vms = n, .fwds = fwds, .n_fwds = n_fwds, .net = &net,
                                .leases = leases, .n_leases = n_leases, .ports = ports, .n_ports = n_ports,
                        };
                        _cleanup_strbuf_ struct strbuf script = {0};
                        k = nft_render_desired(&d, counters, n_counters, &script);
                        if (k < 0) {
                                snprintf(err, err_size, "render: %s",
                                         k == -EINVAL ? "a VM, forward or lease in the store cannot be rendered"
                                                      : "out of memory");
                                break;
                        }
                        _cleanup_free_ char *nft_err = NULL;
                        k = nft_apply_run(r->nft, strbuf_str(&script), &nft_err);
                        if (k >= 0)
                                break;
                        snprintf(err, err_size, "nft: %s", nft_err ? nft_err : "apply failed");
                        if (!net.bridge[0])
                                break;
                        /* A kernel without the bridge family (or refusing something in it) must
                         * not take the VMs' forwards down: once more without the bridge table,
                         * which stays off until a reload. */
                        const char *why = nft_err ? nft_err : "apply failed";
                        snprintf(problem, sizeof problem,
                                 "anti-spoofing: the kernel refused the bridge table (%.*s): no port is guarded",
                                 (int)strcspn(why, "\n") < 160 ? (int)strcspn(why, "\n") : 160, why);
                        failed = true;
                        r->bridge_refused = true;
                        net.bridge[0] = '\0';
                        n_leases = n_ports = 0; /* nothing of the bridge table is applied */
                        net_log_once(r, problem);
                }
                free(counters);
                vmnet_record(r, failed, problem, now_ms() - net_start);
                if (k < 0)
                        goto out;
                /* A bridge table no longer wanted (DHCP turned off, or left by an earlier run):
                 * deleted apart, so a kernel without the bridge family never fails a run that
                 * does not need it. */
                if (!net.bridge[0]) {
                        _cleanup_strbuf_ struct strbuf del = {0};
                        _cleanup_free_ char *del_err = NULL;
                        if (nft_render_bridge_delete(&del) >= 0 &&
                            nft_apply_run(r->nft, strbuf_str(&del), &del_err) >= 0)
                                log_info("reconcile: the anti-spoofing bridge table is no longer wanted: deleted");
                }
        }

        struct hashmap *m = NULL, *mf = NULL, *ml = NULL;
        if ((k = index_build(vms, n, sizeof *vms, &m)) < 0 || (k = index_build(fwds, n_fwds, sizeof *fwds, &mf)) < 0 ||
            (k = lease_index_build(leases, n_leases, &ml)) < 0) {
                index_free(m);
                index_free(mf);
                snprintf(err, err_size, "out of memory");
                goto out; /* need_full stays set: the next run rebuilds the index */
        }
        index_free(r->applied);
        index_free(r->applied_fwds);
        index_free(r->applied_leases);
        r->applied = m;
        r->applied_fwds = mf;
        r->applied_leases = ml;
        free(r->ports);
        r->ports = TAKE_PTR(ports);
        r->n_ports = n_ports;
        r->ports_dirty = false;
        if (!r->userspace) {
                r->net = net;
                pthread_mutex_lock(&check_net_lock);
                check_net = net;
                pthread_mutex_unlock(&check_net_lock);
        }
        r->cursor = seq;
        r->need_full = false;
        r->routes_dirty = true;
        r->forwards_dirty = true;
        if (store_changes_prune(r->store, seq) >= 0)
                r->pruned = seq;
out:
        free(vms);
        free(fwds);
        free(leases);
        free(ports);
        return k;
}

struct pending_vm {
        struct vm *old; /* borrowed from applied, or NULL */
        struct vm new;
        bool has_new;
};

struct pending_fwd {
        struct forward_def *old; /* borrowed from applied_fwds, or NULL */
        struct forward_def new;
        bool has_new;
};

struct pending_lease {
        struct lease *old; /* borrowed from applied_leases, or NULL */
        struct lease new;
        bool has_new;
        char mac[MAC_TEXT_LEN + 1]; /* the index key */
};

/* Replaces id's entry of index m by a copy of item (size bytes), or removes it when item is
 * NULL. Returns 0 or -ENOMEM (the entry is then gone). */
static int index_set(struct hashmap *m, const char *id, const void *item, size_t size) {
        free(hashmap_remove(m, id));
        if (!item)
                return 0;
        void *v = malloc(size);
        if (!v)
                return -ENOMEM;
        memcpy(v, item, size);
        if (hashmap_put(m, id, v) < 0) {
                free(v);
                return -ENOMEM;
        }
        return 0;
}

/* One batch of the change log: the touched VMs, forwards and leases compared with what was applied,
 * the differences sent as one transaction, the indexes updated. Sets *ret_work when the data
 * plane changed. Returns the number of entries read (0 = caught up). */
static int run_batch(struct reconciler *r, bool *ret_work, char *err, size_t err_size) {
        struct store_change *ch = NULL;
        size_t n = 0;
        int k = store_changes_read(r->store, r->cursor, CHANGES_BATCH, &ch, &n);
        if (k < 0) {
                snprintf(err, err_size, "store: %s", store_errmsg(r->store));
                return k;
        }
        if (n == 0) {
                free(ch);
                return 0;
        }

        struct pending_vm *pv = calloc(n, sizeof *pv);
        struct pending_fwd *pf = calloc(n, sizeof *pf);
        struct pending_lease *pl = calloc(n, sizeof *pl);
        const struct vm **del_vms = calloc(n, sizeof *del_vms), **add_vms = calloc(n, sizeof *add_vms);
        const struct forward_def **del_fwds = calloc(n, sizeof *del_fwds), **add_fwds = calloc(n, sizeof *add_fwds);
        const struct lease **del_leases = calloc(n, sizeof *del_leases), **add_leases = calloc(n, sizeof *add_leases);
        struct hashmap *seen = NULL;
        struct nft_changes c = {0};
        size_t n_pv = 0, n_pf = 0, n_pl = 0;
        if (!pv || !pf || !pl || !del_vms || !add_vms || !del_fwds || !add_fwds || !del_leases || !add_leases ||
            hashmap_new(&seen) < 0) {
                k = -ENOMEM;
                snprintf(err, err_size, "out of memory");
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                char key[sizeof ch[i].kind + sizeof ch[i].key + 1];
                snprintf(key, sizeof key, "%s/%s", ch[i].kind, ch[i].key);
                if (hashmap_get(seen, key))
                        continue;
                if ((k = hashmap_put(seen, key, &ch[i])) < 0) {
                        snprintf(err, err_size, "out of memory");
                        goto out;
                }
                /* Noted at once, even if this batch fails later: a delta may only cover too
                 * much, never too little. */
                if (streq(ch[i].kind, "route")) {
                        routes_touch(r, key);
                } else if (streq(ch[i].kind, "vm")) {
                        /* Its extra names may have changed even when its rules did not. */
                        routes_touch(r, key);
                        struct pending_vm *q = &pv[n_pv];
                        *q = (struct pending_vm){.old = hashmap_get(r->applied, ch[i].key)};
                        k = store_vm_get(r->store, ch[i].key, &q->new);
                        if (k < 0 && k != -ENOENT) {
                                snprintf(err, err_size, "store: %s", store_errmsg(r->store));
                                goto out;
                        }
                        q->has_new = k == 0;
                        if ((q->old && q->has_new && vm_same(q->old, &q->new)) || (!q->old && !q->has_new))
                                continue;
                        n_pv++;
                } else if (streq(ch[i].kind, "forward")) {
                        struct pending_fwd *q = &pf[n_pf];
                        *q = (struct pending_fwd){.old = hashmap_get(r->applied_fwds, ch[i].key)};
                        k = store_forward_get(r->store, ch[i].key, &q->new);
                        if (k < 0 && k != -ENOENT) {
                                snprintf(err, err_size, "store: %s", store_errmsg(r->store));
                                goto out;
                        }
                        q->has_new = k == 0;
                        if ((q->old && q->has_new && forward_same(q->old, &q->new)) || (!q->old && !q->has_new))
                                continue;
                        n_pf++;
                } else if (streq(ch[i].kind, "lease") && r->net.bridge[0] && !r->userspace) {
                        /* Only the lease sets of the bridge table; without one the next full
                         * run that makes it reads every lease. */
                        struct pending_lease *q = &pl[n_pl];
                        uint8_t mac[MAC_LEN];
                        if (mac_parse(ch[i].key, mac) < 0) {
                                log_warning("reconcile: a lease change names \"%s\", which is no MAC; ignored",
                                            ch[i].key);
                                continue;
                        }
                        *q = (struct pending_lease){0};
                        mac_format(mac, q->mac);
                        q->old = hashmap_get(r->applied_leases, q->mac);
                        k = store_lease_get(r->store, mac, &q->new);
                        if (k < 0 && k != -ENOENT) {
                                snprintf(err, err_size, "store: %s", store_errmsg(r->store));
                                goto out;
                        }
                        q->has_new = k == 0;
                        if ((q->old && q->has_new && q->old->ip == q->new.ip) || (!q->old && !q->has_new))
                                continue;
                        n_pl++;
                }
                /* other kinds have nothing in the data plane or the route table */
        }
        /* The batch removes before it adds: a freed block, port or address may be reused by an
         * addition. */
        for (size_t i = 0; i < n_pv; i++) {
                if (pv[i].old)
                        del_vms[c.n_del_vms++] = pv[i].old;
                if (pv[i].has_new)
                        add_vms[c.n_add_vms++] = &pv[i].new;
        }
        for (size_t i = 0; i < n_pf; i++) {
                if (pf[i].old)
                        del_fwds[c.n_del_fwds++] = pf[i].old;
                if (pf[i].has_new)
                        add_fwds[c.n_add_fwds++] = &pf[i].new;
        }
        for (size_t i = 0; i < n_pl; i++) {
                if (pl[i].old)
                        del_leases[c.n_del_leases++] = pl[i].old;
                if (pl[i].has_new)
                        add_leases[c.n_add_leases++] = &pl[i].new;
        }
        c.del_vms = del_vms;
        c.add_vms = add_vms;
        c.del_fwds = del_fwds;
        c.add_fwds = add_fwds;
        c.del_leases = del_leases;
        c.add_leases = add_leases;
        if (!r->userspace && (n_pv > 0 || n_pf > 0 || n_pl > 0)) {
                _cleanup_free_ char *nft_err = NULL;
                k = nft_apply_changes(r->nft, &c, &nft_err);
                if (k < 0) {
                        snprintf(err, err_size, "nft: %s", nft_err ? nft_err : "apply failed");
                        goto out;
                }
        }
        /* pending old pointers die with their entries below: copy the ids first */
        for (size_t i = 0; i < n_pv && k >= 0; i++) {
                char id[VM_ID_MAX + 1];
                strcpy_bounded(id, sizeof id, pv[i].old ? pv[i].old->id : pv[i].new.id);
                k = index_set(r->applied, id, pv[i].has_new ? &pv[i].new : NULL, sizeof pv[i].new);
        }
        for (size_t i = 0; i < n_pf && k >= 0; i++) {
                char id[RESOURCE_ID_MAX + 1];
                strcpy_bounded(id, sizeof id, pf[i].old ? pf[i].old->id : pf[i].new.id);
                k = index_set(r->applied_fwds, id, pf[i].has_new ? &pf[i].new : NULL, sizeof pf[i].new);
        }
        for (size_t i = 0; i < n_pl && k >= 0; i++)
                k = index_set(r->applied_leases, pl[i].mac, pl[i].has_new ? &pl[i].new : NULL, sizeof pl[i].new);
        if (k < 0) {
                r->need_full = true; /* the index is incomplete: rebuild */
                snprintf(err, err_size, "out of memory");
                goto out;
        }
        if (n_pv > 0 || n_pf > 0)
                r->forwards_dirty = true;
        if (n_pv > 0 || n_pf > 0 || n_pl > 0)
                *ret_work = true;
        r->cursor = ch[n - 1].seq;
        /* Prune in batches: one DELETE per thousand changes, not one per change. */
        if (r->cursor - r->pruned >= CHANGES_BATCH && store_changes_prune(r->store, r->cursor) >= 0)
                r->pruned = r->cursor;
        k = (int)n;
out:
        hashmap_free(seen);
        free(add_leases);
        free(del_leases);
        free(pl);
        free(add_fwds);
        free(del_fwds);
        free(add_vms);
        free(del_vms);
        free(pf);
        free(pv);
        free(ch);
        return k;
}

/* The bridge's ports read again after a link changed, and the port set brought to them by
 * one transaction of removals and additions. */
static int ports_update(struct reconciler *r, bool *ret_work, char *err, size_t err_size) {
        struct nft_port *now = NULL;
        size_t n_now = 0;
        char note[160];
        int k = vmnet_ports(r->net.bridge, &now, &n_now, note, sizeof note);
        if (k < 0) {
                snprintf(err, err_size, "anti-spoofing: cannot list the ports of %s: %s", r->net.bridge, strerror(-k));
                return k;
        }
        ports_filter(now, &n_now);
        net_log_once(r, note);
        r->ports_dirty = false;
        if (ports_equal(now, n_now, r->ports, r->n_ports)) {
                free(now);
                return 0;
        }
        /* Both lists are sorted: one merge finds what left and what joined. */
        const struct nft_port **del = calloc(r->n_ports ? r->n_ports : 1, sizeof *del);
        const struct nft_port **add = calloc(n_now ? n_now : 1, sizeof *add);
        struct nft_changes c = { .del_ports = del, .add_ports = add };
        size_t i = 0, j = 0;
        if (!del || !add) {
                k = -ENOMEM;
                snprintf(err, err_size, "out of memory");
                goto out;
        }
        while (i < r->n_ports || j < n_now) {
                int cmp = i == r->n_ports ? 1 : j == n_now ? -1 : strcmp(r->ports[i].name, now[j].name);
                if (cmp < 0)
                        del[c.n_del_ports++] = &r->ports[i++];
                else if (cmp > 0)
                        add[c.n_add_ports++] = &now[j++];
                else
                        i++, j++;
        }
        _cleanup_free_ char *nft_err = NULL;
        k = nft_apply_changes(r->nft, &c, &nft_err);
        if (k < 0) {
                snprintf(err, err_size, "nft: %s", nft_err ? nft_err : "apply failed");
                goto out;
        }
        log_info("reconcile: anti-spoofing: %zu ports of %s guarded (%zu joined, %zu left)", n_now, r->net.bridge,
                 c.n_add_ports, c.n_del_ports);
        free(r->ports);
        r->ports = TAKE_PTR(now);
        r->n_ports = n_now;
        *ret_work = true;
out:
        free(del);
        free(add);
        free(now);
        return k;
}

static int run_incremental(struct reconciler *r, bool *ret_work, char *err, size_t err_size) {
        for (;;) {
                int k = run_batch(r, ret_work, err, err_size);
                if (k < 0)
                        return k;
                if (k < CHANGES_BATCH)
                        break;
        }
        if (r->ports_dirty && !r->userspace && r->net.bridge[0])
                return ports_update(r, ret_work, err, err_size);
        return 0;
}

/* The data-plane part of a run: the nft table (or, in userspace mode, the index and the
 * proxy's forwards table) brought up to date, full or from the change log. */
static int data_part(struct reconciler *r, bool *ret_full, struct part_run *run) {
        double start = now_ms();
        bool full = r->need_full, work = false;
        int k;

        *run = (struct part_run){0};
        if (full)
                k = run_full(r, run->error, sizeof run->error);
        else {
                k = run_incremental(r, &work, run->error, sizeof run->error);
                if (k < 0) {
                        /* The kernel no longer has what we think it has: replace it whole. */
                        log_warning("reconcile: incremental apply failed (%s); replacing the table", run->error);
                        full = true;
                        k = run_full(r, run->error, sizeof run->error);
                }
        }
        if (k >= 0 && r->userspace && r->proxy && r->forwards_dirty) {
                work = true;
                k = publish_forwards(r, run->error, sizeof run->error);
        }
        run->ran = full || work || k < 0;
        run->ok = k >= 0;
        run->ms = now_ms() - start;
        *ret_full = full;
        return k;
}

int reconciler_run(struct reconciler *r) {
        uint64_t drained;
        (void)!read(r->efd, &drained, sizeof drained);
        /* A port may have joined or left the VM bridge. */
        if (r->link_fd >= 0 && rtnl_link_watch_drain(r->link_fd) && r->net.bridge[0])
                r->ports_dirty = true;

        pthread_mutex_lock(&r->lock);
        uint64_t target = r->desired_gen;
        if (r->full_requested) {
                r->need_full = true;
                r->full_requested = false;
        }
        pthread_mutex_unlock(&r->lock);

        struct part_run data, routes;
        double start = now_ms();
        bool full;
        int k = data_part(r, &full, &data);
        if (k < 0)
                r->need_full = true;
        /* Independent of the data plane: a route change goes live even while nft is failing. */
        int kr = routes_part(r, &routes);
        /* "applied" below must mean live in the proxy too, not only in the kernel. */
        bool published = (routes.ran && routes.ok) || (r->userspace && data.ran && data.ok && r->proxy);
        if (published && !proxy_wait_applied(r->proxy, 200))
                log_warning("reconcile: a proxy worker took over 200 ms to pick up new routes");
        double took = now_ms() - start;
        bool ok = data.ok && (!routes.ran || routes.ok);
        const char *err = !data.ok ? data.error : !ok ? routes.error : "";

        if (!ok) {
                schedule_retry(r);
                log_error("reconcile: %s failed, retrying in %d ms: %s",
                          !data.ok ? (r->userspace ? "run" : "nft apply") : "route publish", r->backoff_ms, err);
        } else {
                r->backoff_ms = 0;
                /* bench/vm-add.py reads the "(N VMs) in X ms" and "changes applied in X ms" lines. */
                if (full && r->userspace)
                        log_info("reconcile: %zu VMs loaded for the user-space forwards in %.1f ms (%zu forwards)",
                                 hashmap_size(r->applied), took, hashmap_size(r->applied_fwds));
                else if (full)
                        log_info("reconcile: nft table replaced (%zu VMs) in %.1f ms (%zu forwards)",
                                 hashmap_size(r->applied), took, hashmap_size(r->applied_fwds));
                else
                        log_debug("reconcile: nft changes applied in %.1f ms", took);
        }

        part_record(r, PART_DATA, &data);
        part_record(r, PART_ROUTES, &routes);
        pthread_mutex_lock(&r->lock);
        r->status.runs++;
        r->status.last_run = time(NULL);
        r->status.last_ok = ok;
        r->status.last_duration_ms = took;
        r->status.last_full = full;
        r->status.vms = hashmap_size(r->applied);
        if (!ok) {
                r->status.failures++;
                snprintf(r->status.last_error, sizeof r->status.last_error, "%s", err);
        } else {
                r->status.last_error[0] = '\0';
                if (target > r->applied_gen)
                        r->applied_gen = target;
        }
        pthread_cond_broadcast(&r->cond);
        pthread_mutex_unlock(&r->lock);
        return k < 0 ? k : kr;
}

int reconciler_retry_ms(const struct reconciler *r) {
        if (!r->backoff_ms)
                return 0;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (r->retry_at.tv_sec - now.tv_sec) * 1000 + (r->retry_at.tv_nsec - now.tv_nsec) / 1000000;
        return ms > 0 ? (int)ms : 1;
}

/* Expected items (nft, or the proxy's listeners in userspace mode) of what the indexes hold. */
static int applied_items(struct reconciler *r, struct nft_items *ret) {
        struct vm *vms = NULL;
        struct forward_def *fwds = NULL;
        struct lease *leases = NULL;
        size_t n, n_fwds, n_leases;
        int k = -ENOMEM;
        if (applied_array(r, &vms, &n) >= 0 && applied_fwd_array(r, &fwds, &n_fwds) >= 0 &&
            applied_lease_array(r, &leases, &n_leases) >= 0) {
                const struct nft_desired d = {
                        .vms = vms, .n_vms = n, .fwds = fwds, .n_fwds = n_fwds, .net = &r->net,
                        .leases = leases, .n_leases = n_leases, .ports = r->ports, .n_ports = r->n_ports,
                };
                k = r->userspace ? forward_expected_items(vms, n, fwds, n_fwds, ret) : nft_expected_desired(&d, ret);
        }
        free(vms);
        free(fwds);
        free(leases);
        return k;
}

/* The items of one of our live tables (none when it does not exist). */
static int live_table_items(struct nft_apply *nft, const char *family, struct nft_items *ret, struct strbuf *report) {
        _cleanup_free_ char *json = NULL;
        int k = nft_apply_list_json(nft, family, &json);
        *ret = (struct nft_items){0};
        if (k == -ENOENT)
                return 0;
        if (k < 0) {
                strbuf_printf(report, "cannot list the nft table %s " NFT_TABLE_NAME ": %s\n", family, strerror(-k));
                return k;
        }
        k = nft_live_parse_json(json, ret, NULL, NULL);
        if (k < 0)
                strbuf_append(report, "cannot understand nft's JSON listing\n");
        return k;
}

/* The items of both live tables, inet and bridge. Listing the bridge table costs its elements
 * (three per lease): drift checks only, never per change. */
static int live_items(struct nft_apply *nft, struct nft_items *ret, struct strbuf *report) {
        struct nft_items bridge = {0};
        int k = live_table_items(nft, NFT_TABLE_FAMILY, ret, report);
        if (k >= 0)
                k = live_table_items(nft, NFT_BRIDGE_FAMILY, &bridge, report);
        if (k >= 0 && (k = nft_items_merge(ret, &bridge)) < 0)
                strbuf_append(report, "out of memory\n");
        nft_items_done(&bridge);
        if (k < 0)
                nft_items_done(ret);
        return k;
}

/* Userspace mode: the proxy's listeners against the applied VMs and forwards. Workers retry
 * failed binds by themselves, so a difference is only reported. */
static int resync_forwards(struct reconciler *r) {
        if (!r->proxy)
                return 0;
        struct nft_items want = {0}, have = {0};
        _cleanup_strbuf_ struct strbuf report = {0};
        int k = applied_items(r, &want);
        if (k >= 0)
                k = proxy_forward_listeners(r->proxy, &have);
        if (k >= 0) {
                k = (int)nft_items_diff(&want, &have, &report);
                if (k > 0)
                        log_warning("reconcile: %d differences between the proxy's forward listeners and the "
                                    "VMs and forwards:\n%s",
                                    k, strbuf_str(&report));
        }
        nft_items_done(&want);
        nft_items_done(&have);
        return k;
}

/* Whether the VM network is still what was applied: the default route may have moved to
 * another interface, or a port joined or left the bridge unnoticed. The first asks for a
 * full run (returns true), the second for a run that updates the port set. */
static bool resync_vmnet(struct reconciler *r) {
        struct nft_vmnet now;
        char problem[256];
        pthread_mutex_lock(&r->lock);
        bool full_pending = r->full_requested; /* a reload: that run resolves it anyway */
        pthread_mutex_unlock(&r->lock);
        if (full_pending)
                return true;
        vmnet_resolve(r, &now, problem, sizeof problem);
        if (!nft_vmnet_equal(&now, &r->net)) {
                /* The configuration changes only with a reload: it is the default route. */
                log_info("reconcile: outbound: the default route's interface is now \"%s\" (was \"%s\"): replacing "
                         "the tables",
                         now.snat_ifname, r->net.snat_ifname);
                reconciler_request_full(r);
                return true;
        }
        if (!r->net.bridge[0] || r->ports_dirty)
                return false;
        struct nft_port *ports = NULL;
        size_t n = 0;
        char note[160];
        if (vmnet_ports(r->net.bridge, &ports, &n, note, sizeof note) >= 0) {
                ports_filter(ports, &n);
                if (!ports_equal(ports, n, r->ports, r->n_ports)) {
                        r->ports_dirty = true;
                        reconciler_request(r);
                }
        }
        free(ports);
        return false;
}

int reconciler_resync(struct reconciler *r) {
        if (r->need_full)
                return reconciler_run(r);
        if (r->userspace)
                return resync_forwards(r);
        if (resync_vmnet(r))
                return 1;
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

/* The desired VMs and forwards, read through a store connection of its own (any thread). */
static int check_snapshot(const char *db_path, struct vm **ret, size_t *ret_n, struct forward_def **ret_fwds,
                          size_t *ret_n_fwds, struct strbuf *report) {
        struct store *s = NULL;
        char err[256];
        int64_t seq;
        int k = store_open(db_path, &s, err, sizeof err);
        if (k < 0) {
                strbuf_printf(report, "cannot open the store: %s\n", err);
                return k;
        }
        if ((k = store_snapshot_load_all(s, ret, ret_n, ret_fwds, ret_n_fwds, &seq)) < 0)
                strbuf_printf(report, "cannot read the store: %s\n", store_errmsg(s));
        store_close(s);
        return k;
}

/* The store's leases, through a connection of its own. */
static int check_leases(const char *db_path, struct lease **ret, size_t *ret_n, struct strbuf *report) {
        struct store *s = NULL;
        char err[256];
        int k = store_open(db_path, &s, err, sizeof err);
        if (k < 0) {
                strbuf_printf(report, "cannot open the store: %s\n", err);
                return k;
        }
        if ((k = store_lease_list(s, ret, ret_n)) < 0)
                strbuf_printf(report, "cannot read the leases: %s\n", store_errmsg(s));
        store_close(s);
        return k;
}

int reconcile_check(const char *db_path, struct strbuf *report) {
        struct nft_apply *nft = NULL;
        struct vm *vms = NULL;
        struct forward_def *fwds = NULL;
        struct lease *leases = NULL;
        struct nft_port *ports = NULL;
        size_t n = 0, n_fwds = 0, n_leases = 0, n_ports = 0;
        struct nft_items want = {0}, have = {0};
        struct nft_vmnet net;
        char note[160];
        int k = check_snapshot(db_path, &vms, &n, &fwds, &n_fwds, report);
        if (k < 0)
                return k;
        /* The VM network as the reconciler resolved it last (configuration, default route). */
        pthread_mutex_lock(&check_net_lock);
        net = check_net;
        pthread_mutex_unlock(&check_net_lock);
        if (net.bridge[0]) {
                if ((k = check_leases(db_path, &leases, &n_leases, report)) < 0)
                        goto out;
                if ((k = vmnet_ports(net.bridge, &ports, &n_ports, note, sizeof note)) < 0) {
                        strbuf_printf(report, "cannot list the ports of %s: %s\n", net.bridge, strerror(-k));
                        goto out;
                }
                ports_filter(ports, &n_ports);
        }
        const struct nft_desired d = {
                .vms = vms, .n_vms = n, .fwds = fwds, .n_fwds = n_fwds, .net = &net,
                .leases = leases, .n_leases = n_leases, .ports = ports, .n_ports = n_ports,
        };
        if ((k = nft_expected_desired(&d, &want)) < 0) {
                strbuf_printf(report, "cannot compute the expected table: %s\n", strerror(-k));
                goto out;
        }
        if ((k = nft_apply_new(&nft)) < 0 || (k = live_items(nft, &have, report)) < 0)
                goto out;
        k = (int)nft_items_diff(&want, &have, report);
out:
        nft_items_done(&want);
        nft_items_done(&have);
        free(vms);
        free(fwds);
        free(leases);
        free(ports);
        nft_apply_free(nft);
        return k;
}

int reconcile_check_forwards(const char *db_path, struct proxy *p, struct strbuf *report) {
        struct vm *vms = NULL;
        struct forward_def *fwds = NULL;
        size_t n = 0, n_fwds = 0;
        struct nft_items want = {0}, have = {0};
        int k = check_snapshot(db_path, &vms, &n, &fwds, &n_fwds, report);
        if (k < 0)
                return k;
        if ((k = forward_expected_items(vms, n, fwds, n_fwds, &want)) < 0 ||
            (p && (k = proxy_forward_listeners(p, &have)) < 0))
                goto out;
        k = (int)nft_items_diff(&want, &have, report);
out:
        nft_items_done(&want);
        nft_items_done(&have);
        free(vms);
        free(fwds);
        return k;
}
