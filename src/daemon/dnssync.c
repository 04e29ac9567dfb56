/* SPDX-License-Identifier: MIT */
/*
 * The DNS reconciler (daemon/dnssync.h): one thread, its own store connection, the
 * provider. The main thread only hands it configurations and kicks.
 *
 * Backoff has two levels. A row that fails waits 5 s doubling per failed attempt up to
 * 10 min (or what the provider asked for), and a provider that fails transiently or refuses
 * us holds back every other row too, with its own doubling delay: during an outage one row
 * probes, the rest wait as they are (pending, not failed), so a pass never spends minutes
 * timing out row after row, and the whole outbox drains once the probe succeeds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "daemon/dnssync.h"
#include "dns/provider.h"
#include "store/store.h"

#define BACKOFF_MIN_S 5
#define BACKOFF_MAX_S 600
#define CONFLICT_RETRY_S 600
#define PERIODIC_S 300
#define DUE_BATCH 64
#define COALESCE_MS 100

struct dnssync {
        char db_path[PATH_MAX];
        int efd; /* eventfd: kicks and stop */
        pthread_t thread;
        bool running; /* written by the main thread; read by API threads (kick) atomically */

        pthread_mutex_t lock; /* guards everything below */
        bool stop;
        bool kicked;
        uint64_t config_gen;
        struct config config;
        struct dns_provider *next_provider; /* handed over by set_config; the thread takes it */
        bool provider_changed;
        struct dnssync_status status;
};

static int64_t now_s(void) {
        return (int64_t)time(NULL);
}

static int64_t mono_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned backoff_s(uint32_t failures) {
        unsigned d = BACKOFF_MIN_S;
        for (uint32_t i = 0; i < failures && d < BACKOFF_MAX_S; i++)
                d *= 2;
        return d < BACKOFF_MAX_S ? d : BACKOFF_MAX_S;
}

/* ---- the public IPv6 address (public_ip6 = "auto") ---- */

/* Whether a is an address the world can reach: global unicast, not ULA (fc00::/7). */
static bool ip6_public(const uint8_t a[16]) {
        return (a[0] & 0xe0) == 0x20;
}

/* Dumps the IPv6 addresses and picks public_interface's: global, public, not temporary,
 * deprecated, tentative or failed; the smallest when several qualify (a stable choice). */
static int ip6_current(const char *ifname, char out[static 46]) {
        out[0] = '\0';
        unsigned idx = if_nametoindex(ifname);
        if (idx == 0)
                return 0; /* no such interface (yet): no address */
        _cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0)
                return -errno;
        struct timeval tv = {.tv_sec = 2};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        struct {
                struct nlmsghdr nh;
                struct ifaddrmsg ifa;
        } req = {
                .nh = {.nlmsg_len = sizeof req, .nlmsg_type = RTM_GETADDR, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
                       .nlmsg_seq = 1},
                .ifa = {.ifa_family = AF_INET6},
        };
        if (send(fd, &req, sizeof req, 0) < 0)
                return -errno;
        uint8_t best[16];
        bool found = false;
        static uint8_t buf[32768];
        for (;;) {
                ssize_t n = recv(fd, buf, sizeof buf, 0);
                if (n < 0)
                        return -errno;
                for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n); nh = NLMSG_NEXT(nh, n)) {
                        if (nh->nlmsg_type == NLMSG_DONE)
                                goto done;
                        if (nh->nlmsg_type == NLMSG_ERROR)
                                return -EIO;
                        if (nh->nlmsg_type != RTM_NEWADDR)
                                continue;
                        struct ifaddrmsg *ifa = NLMSG_DATA(nh);
                        if (ifa->ifa_family != AF_INET6 || ifa->ifa_index != idx || ifa->ifa_scope != RT_SCOPE_UNIVERSE)
                                continue;
                        uint32_t flags = ifa->ifa_flags;
                        const uint8_t *addr = NULL;
                        int len = (int)IFA_PAYLOAD(nh);
                        for (struct rtattr *rta = IFA_RTA(ifa); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
                                if (rta->rta_type == IFA_ADDRESS && RTA_PAYLOAD(rta) == 16)
                                        addr = RTA_DATA(rta);
                                else if (rta->rta_type == IFA_FLAGS && RTA_PAYLOAD(rta) == 4)
                                        memcpy(&flags, RTA_DATA(rta), 4);
                        }
                        if (!addr || !ip6_public(addr) ||
                            (flags & (IFA_F_TEMPORARY | IFA_F_DEPRECATED | IFA_F_TENTATIVE | IFA_F_DADFAILED)))
                                continue;
                        if (!found || memcmp(addr, best, 16) < 0)
                                memcpy(best, addr, 16);
                        found = true;
                }
        }
done:
        if (found)
                inet_ntop(AF_INET6, best, out, 46);
        return 0;
}

/* A socket that becomes readable when any IPv6 address changes. */
static int ip6_watch_open(void) {
        int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
        if (fd < 0)
                return -errno;
        struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = RTMGRP_IPV6_IFADDR};
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
                int e = -errno;
                close(fd);
                return e;
        }
        return fd;
}

static void drain(int fd) {
        uint8_t buf[8192];
        while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
                ;
}

/* ---- one pass ---- */

struct worker {
        struct dnssync *d;
        struct store *store;
        struct dns_provider *provider;
        struct config config; /* the thread's copy; public_ip6 resolved when "auto" */
        uint64_t config_gen;
        char ip6[46]; /* the address public_ip6 = "auto" found */
        int64_t blocked_until; /* the provider is held back until then (unix seconds) */
        uint32_t provider_failures; /* consecutive */
        bool need_sync;
        bool auto6; /* the configuration says public_ip6 = "auto" */
        bool republish; /* a new provider: every row again, if it is not the one the outbox was published to */
};

/* The wanted records from the store: the VMs (with their extra names), the routes, and
 * what other nodes publish through this one. */
static int sync_desired(struct worker *w) {
        struct vm *vms = NULL;
        struct vm_meta *metas = NULL;
        size_t n_vms = 0;
        char after[VM_ID_MAX + 1] = "";
        int r = 0;
        for (bool more = true; more;) {
                struct vm *pv = NULL;
                struct vm_meta *pm = NULL;
                size_t n = 0;
                r = store_vm_list_page(w->store, after, 1000, NULL, 0, &pv, &pm, &n, &more);
                if (r < 0)
                        goto out;
                if (n) {
                        struct vm *nv = realloc(vms, (n_vms + n) * sizeof *vms);
                        struct vm_meta *nm = nv ? realloc(metas, (n_vms + n) * sizeof *metas) : NULL;
                        if (nv)
                                vms = nv;
                        if (!nv || !nm) {
                                free(pv);
                                free(pm);
                                r = -ENOMEM;
                                goto out;
                        }
                        metas = nm;
                        memcpy(vms + n_vms, pv, n * sizeof *pv);
                        memcpy(metas + n_vms, pm, n * sizeof *pm);
                        n_vms += n;
                        snprintf(after, sizeof after, "%s", pv[n - 1].id);
                }
                free(pv);
                free(pm);
        }
        struct route_def *routes = NULL;
        size_t n_routes = 0;
        struct dns_record_want *own = NULL, *remote = NULL, *all = NULL;
        size_t n_own = 0, n_remote = 0, n_all = 0;
        r = store_route_list_all(w->store, &routes, &n_routes);
        if (r >= 0)
                r = dns_records_desired(&w->config, vms, metas, n_vms, routes, n_routes, &own, &n_own);
        if (r >= 0)
                r = store_dns_remote_list(w->store, &remote, &n_remote);
        if (r >= 0)
                r = dns_records_merge(own, n_own, remote, n_remote, w->config.dns_zone, &all, &n_all);
        size_t changed = 0;
        if (r >= 0)
                r = store_dns_sync_desired(w->store, all, n_all, now_s(), &changed);
        if (r >= 0 && changed)
                log_debug("dns: %zu record(s) to publish or retract", changed);
        free(routes);
        free(own);
        free(remote);
        free(all);
out:
        free(vms);
        free(metas);
        if (r < 0)
                log_warning_errno(r, "dns: cannot compute the wanted records: %s", store_errmsg(w->store));
        return r;
}

static void record_error(struct worker *w, const char *text) {
        pthread_mutex_lock(&w->d->lock);
        snprintf(w->d->status.last_error, sizeof w->d->status.last_error, "%s", text);
        w->d->status.failures++;
        pthread_mutex_unlock(&w->d->lock);
}

/* A new provider (or server, zone, key) has none of what the old one was given: every row
 * is published again (looking first, so what is already there costs a read). */
static void republish_all(struct worker *w) {
        if (store_dns_republish(w->store, now_s()) < 0)
                log_warning("dns: cannot mark the outbox for publishing again: %s", store_errmsg(w->store));
}

/* Whether the records in the outbox were published somewhere else than where this
 * configuration publishes: STATE_DIR/dns-provider remembers (provider, zone, where, owner)
 * across restarts; it is rewritten when it differs. */
static bool provider_identity_changed(struct worker *w) {
        const struct config *c = &w->config;
        char owner[DNS_PROVIDER_OWNER_MAX + 1], want[1024], have[1024] = "", path[PATH_MAX + 32];
        dns_provider_owner(c, owner);
        const char *where = streq(c->dns_provider, "rfc2136")      ? c->dns_server
                            : streq(c->dns_provider, "cloudflare") ? c->dns_api_url
                                                                   : c->dns_url;
        snprintf(want, sizeof want, "%s\n%s\n%s\n%s\n", c->dns_provider, c->dns_zone, where, owner);
        snprintf(path, sizeof path, "%s", w->d->db_path);
        char *slash = strrchr(path, '/');
        snprintf(slash ? slash + 1 : path, sizeof path - (size_t)(slash ? slash + 1 - path : 0), "dns-provider");
        FILE *f = fopen(path, "re");
        if (f) {
                size_t n = fread(have, 1, sizeof have - 1, f);
                have[n] = '\0';
                fclose(f);
        }
        if (streq(have, want))
                return false;
        char tmp[PATH_MAX + 40];
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        f = fopen(tmp, "we");
        bool ok = f && fputs(want, f) >= 0;
        if (f && fclose(f) != 0)
                ok = false;
        if (!ok || rename(tmp, path) < 0)
                log_warning("dns: cannot write %s: %m", path);
        return have[0] != '\0'; /* no file: a first start, the outbox is empty or ours */
}

/* One row to the provider. Returns false when the provider is to be held back. */
static bool push_one(struct worker *w, const struct store_dns_record *row) {
        struct dns_provider_outcome out = {0};
        bool retract = row->state == STORE_DNS_DELETING;
        const char *type = dns_type_to_string(row->want.type) ?: "?";
        if (retract && !dns_name_in_zone(row->want.name, w->config.dns_zone)) {
                /* Published in a zone we are no longer configured for: the provider cannot
                 * reach it any more; say so once and let the row go. */
                log_warning("dns: %s %s is outside the zone %s now: not retracted, remove it by hand if it is still "
                            "published", row->want.name, type, w->config.dns_zone);
                (void)store_dns_mark_seen(w->store, row, STORE_DNS_SYNCED, NULL, 0, NULL);
                return true;
        }
        if (retract)
                w->provider->ops->retract(w->provider, &row->want, row->provider_ref, &out);
        else
                w->provider->ops->publish(w->provider, &row->want, row->provider_ref, &out);

        int64_t now = now_s();
        int r;
        if (out.status == DNS_PROVIDER_OK) {
                if (out.note[0])
                        log_info("dns: %s %s %s: %s", retract ? "retract" : "publish", row->want.name, type, out.note);
                else
                        log_debug("dns: %s %s %s %s: done", retract ? "retract" : "publish", row->want.name, type,
                                  row->want.content);
                r = store_dns_mark_seen(w->store, row, STORE_DNS_SYNCED, NULL, 0, out.ref[0] ? out.ref : NULL);
                pthread_mutex_lock(&w->d->lock);
                w->d->status.pushes++;
                pthread_mutex_unlock(&w->d->lock);
                w->provider_failures = 0;
        } else {
                unsigned delay = out.status == DNS_PROVIDER_CONFLICT ? CONFLICT_RETRY_S : backoff_s(row->attempts);
                if (out.row_only && out.status == DNS_PROVIDER_RETRY)
                        delay = 1; /* a lost race: look again shortly */
                if (out.retry_after_s > delay)
                        delay = out.retry_after_s > 86400 ? 86400 : out.retry_after_s;
                char text[STORE_DNS_ERROR_MAX + 1];
                snprintf(text, sizeof text, "%s: %s", dns_provider_status_to_string(out.status), out.error);
                /* Once per change of error, not once per retry. */
                if (!streq(text, row->last_error))
                        log_warning("dns: %s %s %s: %s (retrying in %us)", retract ? "retract" : "publish",
                                    row->want.name, type, text, delay);
                record_error(w, text);
                r = store_dns_mark_seen(w->store, row, STORE_DNS_ERROR, text, now + delay, NULL);
                if (!out.row_only && (out.status == DNS_PROVIDER_RETRY || out.status == DNS_PROVIDER_FAILED)) {
                        unsigned hold = backoff_s(w->provider_failures++);
                        if (out.retry_after_s > hold)
                                hold = delay;
                        w->blocked_until = now + hold;
                }
        }
        if (r < 0 && r != -ESTALE)
                log_warning_errno(r, "dns: cannot store the result for %s %s: %s", row->want.name, type,
                                  store_errmsg(w->store));
        return out.status == DNS_PROVIDER_OK || out.status == DNS_PROVIDER_CONFLICT || out.row_only;
}

/* Pushes due rows until none is due or the provider is held back. Returns the unix time
 * of the next due row (INT64_MAX = none). */
static int64_t drain_due(struct worker *w) {
        for (;;) {
                if (__atomic_load_n(&w->d->stop, __ATOMIC_RELAXED))
                        return INT64_MAX;
                int64_t now = now_s();
                if (w->blocked_until > now)
                        break;
                struct store_dns_record *rows = NULL;
                size_t n = 0;
                if (store_dns_due(w->store, now, DUE_BATCH, &rows, &n) < 0) {
                        log_warning("dns: cannot read the outbox: %s", store_errmsg(w->store));
                        free(rows);
                        return now + BACKOFF_MIN_S;
                }
                bool held = false;
                for (size_t i = 0; i < n && !held && !__atomic_load_n(&w->d->stop, __ATOMIC_RELAXED); i++)
                        held = !push_one(w, &rows[i]);
                free(rows);
                if (n < DUE_BATCH && !held)
                        break;
        }
        /* The next time anything falls due. */
        struct store_dns_record *rows = NULL;
        size_t n = 0;
        int64_t next = INT64_MAX;
        if (store_dns_due(w->store, INT64_MAX, 1, &rows, &n) >= 0 && n)
                next = rows[0].next_retry_at;
        free(rows);
        if (next != INT64_MAX && w->blocked_until > next)
                next = w->blocked_until;
        return next;
}

static void update_counts(struct worker *w) {
        struct store_dns_record *rows = NULL;
        size_t n = 0;
        size_t c[4] = {0};
        if (store_dns_list(w->store, &rows, &n) >= 0)
                for (size_t i = 0; i < n; i++)
                        if ((unsigned)rows[i].state < 4)
                                c[rows[i].state]++;
        free(rows);
        pthread_mutex_lock(&w->d->lock);
        w->d->status.pending = c[STORE_DNS_PENDING];
        w->d->status.synced = c[STORE_DNS_SYNCED];
        w->d->status.error = c[STORE_DNS_ERROR];
        w->d->status.deleting = c[STORE_DNS_DELETING];
        w->d->status.passes++;
        w->d->status.last_pass = time(NULL);
        snprintf(w->d->status.public_ip6, sizeof w->d->status.public_ip6, "%s", w->ip6);
        pthread_mutex_unlock(&w->d->lock);
}

/* Takes a new configuration or provider handed over by the main thread. */
static void take_config(struct worker *w) {
        struct dnssync *d = w->d;
        pthread_mutex_lock(&d->lock);
        if (d->config_gen != w->config_gen) {
                w->config = d->config;
                w->config_gen = d->config_gen;
                w->need_sync = true;
                /* Decided here, before public_ip6 is replaced by the address in use below. */
                w->auto6 = config_public_ip6_auto(&w->config) && w->config.public_interface[0];
        }
        if (d->provider_changed) {
                dns_provider_free(w->provider);
                w->provider = d->next_provider;
                d->next_provider = NULL;
                d->provider_changed = false;
                w->blocked_until = 0;
                w->provider_failures = 0;
                w->republish = true;
        }
        pthread_mutex_unlock(&d->lock);
        if (w->auto6)
                snprintf(w->config.public_ip6, sizeof w->config.public_ip6, "%s", w->ip6);
}

static void *thread_main(void *arg) {
        struct worker w = {.d = arg, .need_sync = true};
        char err[256];
        if (store_open(w.d->db_path, &w.store, err, sizeof err) < 0) {
                log_error("dns: cannot open the store: %s; DNS records will not be published", err);
                return NULL;
        }
        int nl = -1;
        int64_t next_due = 0, next_periodic = now_s() + PERIODIC_S;
        for (;;) {
                pthread_mutex_lock(&w.d->lock);
                bool stop = w.d->stop;
                pthread_mutex_unlock(&w.d->lock);
                if (stop)
                        break;
                take_config(&w);
                /* public_ip6 = "auto": read the address at start and on every netlink event. */
                bool auto6 = w.auto6;
                if (auto6 && nl < 0) {
                        nl = ip6_watch_open();
                        if (nl < 0)
                                log_warning_errno(nl, "dns: cannot watch IPv6 addresses (netlink): %m");
                        char a[46];
                        if (ip6_current(w.config.public_interface, a) >= 0 && !streq(a, w.ip6)) {
                                log_info("dns: public IPv6 address of %s: %s", w.config.public_interface,
                                         a[0] ? a : "none");
                                snprintf(w.ip6, sizeof w.ip6, "%s", a);
                                snprintf(w.config.public_ip6, sizeof w.config.public_ip6, "%s", a);
                                w.need_sync = true;
                        }
                } else if (!auto6 && nl >= 0) {
                        close(nl);
                        nl = -1;
                        w.ip6[0] = '\0';
                }

                if (w.provider) {
                        if (w.republish && provider_identity_changed(&w)) {
                                log_info("dns: the provider changed: publishing every record again");
                                republish_all(&w);
                        }
                        w.republish = false;
                        if (w.need_sync || now_s() >= next_periodic) {
                                w.need_sync = false;
                                next_periodic = now_s() + PERIODIC_S;
                                (void)sync_desired(&w);
                        }
                        next_due = drain_due(&w);
                        update_counts(&w);
                } else
                        next_due = INT64_MAX;

                /* Sleep until kicked, an address changes, a row falls due, or the periodic pass. */
                int64_t wake = next_due < next_periodic ? next_due : next_periodic;
                int64_t ms = (wake - now_s()) * 1000;
                if (ms < 0)
                        ms = 0;
                if (ms > PERIODIC_S * 1000)
                        ms = PERIODIC_S * 1000;
                struct pollfd p[2] = {{.fd = w.d->efd, .events = POLLIN}, {.fd = nl, .events = POLLIN}};
                int n = poll(p, nl >= 0 ? 2 : 1, (int)ms);
                if (n > 0 && (p[0].revents & POLLIN)) {
                        uint64_t v;
                        (void)!read(w.d->efd, &v, sizeof v);
                        /* Coalesce a burst of changes into one pass. */
                        int64_t until = mono_ms() + COALESCE_MS;
                        for (int64_t left; (left = until - mono_ms()) > 0;) {
                                struct pollfd q = {.fd = w.d->efd, .events = POLLIN};
                                if (poll(&q, 1, (int)left) > 0)
                                        (void)!read(w.d->efd, &v, sizeof v);
                        }
                        pthread_mutex_lock(&w.d->lock);
                        if (w.d->kicked)
                                w.need_sync = true;
                        w.d->kicked = false;
                        pthread_mutex_unlock(&w.d->lock);
                }
                if (n > 0 && nl >= 0 && (p[1].revents & POLLIN)) {
                        drain(nl);
                        char a[46];
                        if (ip6_current(w.config.public_interface, a) >= 0 && !streq(a, w.ip6)) {
                                log_info("dns: public IPv6 address of %s changed: %s -> %s", w.config.public_interface,
                                         w.ip6[0] ? w.ip6 : "none", a[0] ? a : "none");
                                snprintf(w.ip6, sizeof w.ip6, "%s", a);
                                w.need_sync = true;
                        }
                }
        }
        if (nl >= 0)
                close(nl);
        dns_provider_free(w.provider);
        store_close(w.store);
        return NULL;
}

/* ---- the main thread's side ---- */

static void wake(struct dnssync *d) {
        uint64_t one = 1;
        (void)!write(d->efd, &one, sizeof one);
}

/* Whether a and b differ in anything the provider is built from. */
static bool provider_config_differs(const struct config *a, const struct config *b) {
        return !streq(a->dns_provider, b->dns_provider) || !streq(a->dns_zone, b->dns_zone) ||
               !streq(a->dns_server, b->dns_server) || !streq(a->dns_tsig_name, b->dns_tsig_name) ||
               !streq(a->dns_tsig_algorithm, b->dns_tsig_algorithm) ||
               !streq(a->dns_tsig_secret_file, b->dns_tsig_secret_file) ||
               !streq(a->dns_api_token_file, b->dns_api_token_file) || !streq(a->dns_api_url, b->dns_api_url) ||
               !streq(a->dns_url, b->dns_url) || !streq(a->dns_token_file, b->dns_token_file) ||
               !streq(a->dns_owner, b->dns_owner) || !streq(a->datacenter, b->datacenter) ||
               !streq(a->dns_secret_env, b->dns_secret_env);
}

static int start_thread(struct dnssync *d) {
        if (d->running)
                return 0;
        int r = pthread_create(&d->thread, NULL, thread_main, d);
        if (r != 0)
                return -r;
        __atomic_store_n(&d->running, true, __ATOMIC_RELEASE);
        return 0;
}

static void stop_thread(struct dnssync *d) {
        if (!d->running)
                return;
        pthread_mutex_lock(&d->lock);
        d->stop = true;
        pthread_mutex_unlock(&d->lock);
        wake(d);
        pthread_join(d->thread, NULL);
        __atomic_store_n(&d->running, false, __ATOMIC_RELEASE);
        d->stop = false;
}

int dnssync_new(const char *db_path, const struct config *cfg, struct dnssync **ret, char *err, size_t err_size) {
        struct dnssync *d = calloc(1, sizeof *d);
        if (!d)
                return -ENOMEM;
        snprintf(d->db_path, sizeof d->db_path, "%s", db_path);
        pthread_mutex_init(&d->lock, NULL);
        d->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (d->efd < 0) {
                int e = -errno;
                free(d);
                snprintf(err, err_size, "eventfd: %s", strerror(-e));
                return e;
        }
        d->config = *cfg;
        d->config_gen = 1;
        if (cfg->dns_provider[0]) {
                int r = dns_provider_open(cfg, &d->next_provider, err, err_size);
                if (r < 0) {
                        close(d->efd);
                        free(d);
                        return r;
                }
                d->provider_changed = true;
                d->status.enabled = true;
                snprintf(d->status.provider, sizeof d->status.provider, "%s", cfg->dns_provider);
                r = start_thread(d);
                if (r < 0) {
                        dns_provider_free(d->next_provider);
                        close(d->efd);
                        free(d);
                        snprintf(err, err_size, "cannot start the DNS thread: %s", strerror(-r));
                        return r;
                }
                char owner[DNS_PROVIDER_OWNER_MAX + 1];
                dns_provider_owner(cfg, owner);
                log_info("dns: provider %s, zone %s, owner mark edgegw-owner=%s", cfg->dns_provider, cfg->dns_zone,
                         owner);
        }
        *ret = d;
        return 0;
}

struct dnssync *dnssync_free(struct dnssync *d) {
        if (!d)
                return NULL;
        stop_thread(d);
        dns_provider_free(d->next_provider);
        close(d->efd);
        pthread_mutex_destroy(&d->lock);
        free(d);
        return NULL;
}

int dnssync_set_config(struct dnssync *d, const struct config *cfg, char *err, size_t err_size) {
        if (!d)
                return 0;
        struct dns_provider *p = NULL;
        bool change = provider_config_differs(&d->config, cfg) || (cfg->dns_provider[0] && !d->running);
        if (change && cfg->dns_provider[0]) {
                int r = dns_provider_open(cfg, &p, err, err_size);
                if (r < 0)
                        return r; /* keep the old provider and config */
        }
        if (change && !cfg->dns_provider[0]) {
                stop_thread(d);
                log_info("dns: provider turned off; records already published stay as they are");
        }
        pthread_mutex_lock(&d->lock);
        d->config = *cfg;
        d->config_gen++;
        if (p) {
                dns_provider_free(d->next_provider);
                d->next_provider = p;
                d->provider_changed = true;
        }
        d->status.enabled = cfg->dns_provider[0] != '\0';
        snprintf(d->status.provider, sizeof d->status.provider, "%s", cfg->dns_provider);
        pthread_mutex_unlock(&d->lock);
        if (cfg->dns_provider[0]) {
                int r = start_thread(d);
                if (r < 0) {
                        snprintf(err, err_size, "cannot start the DNS thread: %s", strerror(-r));
                        return r;
                }
                if (p)
                        log_info("dns: provider %s, zone %s", cfg->dns_provider, cfg->dns_zone);
        }
        wake(d);
        return 0;
}

void dnssync_kick(struct dnssync *d) {
        if (!d || !__atomic_load_n(&d->running, __ATOMIC_ACQUIRE))
                return;
        pthread_mutex_lock(&d->lock);
        d->kicked = true;
        pthread_mutex_unlock(&d->lock);
        wake(d);
}

void dnssync_get_status(struct dnssync *d, struct dnssync_status *ret) {
        if (!d) {
                memset(ret, 0, sizeof *ret);
                return;
        }
        pthread_mutex_lock(&d->lock);
        *ret = d->status;
        pthread_mutex_unlock(&d->lock);
}
