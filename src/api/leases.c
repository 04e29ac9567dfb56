/* SPDX-License-Identifier: MIT */
/*
 * /v1/leases (issue 6): a VM's MAC bound to one IPv4 address of the [dhcp] pool, with an
 * optional host name. Create (the asked address, or the lowest free one of the pool), list
 * by pages, show, remove; each write is one store transaction with its audit row and
 * change-log entry, then the reconciler is kicked so the dnsmasq files and the
 * anti-spoofing set follow. The API keeps the pool's bitmap (api_env.leases) like the port
 * map: allocation without a table scan, the store's UNIQUE constraints the final word, so
 * a stale bitmap costs one reload and retry, never a double lease. `vm add --mac` uses the
 * same pick and conflict answers (vms.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "core/log.h"
#include "handlers.h"
#include "leasejson.h"
#include "model/dnsmasqconf.h"
#include "store/store.h"

int api_leases_reload(struct api_env *env) {
        lease_pool_done(&env->leases);
        env->leases = (struct lease_pool){0};
        struct lease_pool p;
        int r = lease_pool_init(&p, &env->config);
        if (r == -EINVAL)
                return 0; /* DHCP is not configured: nothing to allocate from */
        if (r < 0)
                return r;
        _cleanup_free_ struct lease *all = NULL;
        size_t n = 0;
        if ((r = store_lease_list(env->store, &all, &n)) < 0) {
                lease_pool_done(&p);
                return r;
        }
        for (size_t i = 0; i < n; i++)
                lease_pool_set(&p, all[i].ip, true);
        env->leases = p;
        return 0;
}

void api_lease_pool_set(struct api_env *env, uint32_t ip, bool used) {
        lease_pool_set(&env->leases, ip, used);
}

static void dhcp_disabled(struct api_response *resp) {
        api_error(resp, 409, "dhcp_disabled",
                  "DHCP is not configured on this gateway: set [dhcp] interface, subnet, subnet_mask, pool_start, "
                  "pool_end and gateway in the configuration (docs/config.md) and reload edgegwd");
}

static int cmp_u32(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
        return x < y ? -1 : x > y;
}

/* The pool addresses dnsmasq handed out by itself (to MACs without a lease, with
 * unknown_clients = allow) that have not expired, read from its lease file ("EXPIRY MAC IP
 * NAME CLIENT-ID" per line; expiry 0 = infinite), sorted. A new lease does not take such an
 * address from under a running machine. No file, no addresses. */
static void dynamic_leases(const struct api_env *env, uint32_t **ret, size_t *ret_n) {
        *ret = NULL;
        *ret_n = 0;
        struct dnsmasq_paths paths;
        if (dnsmasq_paths_init(&paths, env->config.state_dir) < 0)
                return;
        FILE *f = fopen(paths.leases, "re");
        if (!f)
                return;
        char line[512];
        int64_t now = (int64_t)time(NULL);
        uint32_t *a = NULL;
        size_t n = 0, cap = 0;
        while (fgets(line, sizeof line, f)) {
                long long expiry;
                char mac[32], ip[32];
                uint32_t v;
                if (sscanf(line, "%lld %31s %31s", &expiry, mac, ip) != 3 || (expiry != 0 && expiry <= now) ||
                    ipv4_parse(ip, &v) < 0 || !lease_pool_contains(&env->leases, v))
                        continue;
                if (n == cap) {
                        size_t nc = cap ? cap * 2 : 64;
                        uint32_t *na = realloc(a, nc * sizeof *na);
                        if (!na)
                                break;
                        a = na;
                        cap = nc;
                }
                a[n++] = v;
        }
        fclose(f);
        if (n)
                qsort(a, n, sizeof *a, cmp_u32);
        *ret = a;
        *ret_n = n;
}

int api_lease_pick(struct api_env *env, uint32_t want, uint32_t *ret_ip, struct api_response *resp) {
        struct lease_pool *p = &env->leases;
        char err[API_ERROR_MAX];
        if (!p->used) {
                dhcp_disabled(resp);
                return -ENOTCONN;
        }
        if (want) {
                if (!lease_ip_allowed(p, want, err)) {
                        api_error(resp, 422, "invalid_lease", "%s", err);
                        return -EINVAL;
                }
                *ret_ip = want;
                return 0;
        }
        /* Addresses skipped for this pick only (dnsmasq's own leases expire): marked in the
         * bitmap while looking, unmarked before returning. */
        _cleanup_free_ uint32_t *dyn = NULL, *skipped = NULL;
        size_t n_dyn = 0, n_skipped = 0;
        dynamic_leases(env, &dyn, &n_dyn);
        if (n_dyn && !(skipped = calloc(n_dyn, sizeof *skipped)))
                n_dyn = 0;
        int result;
        for (;;) {
                uint32_t ip;
                if (lease_pool_find(p, &ip) < 0) {
                        char start[16], end[16];
                        api_error(resp, 409, "pool_exhausted",
                                  "DHCP pool %s-%s exhausted: every address is leased, the target of a VM or "
                                  "handed out by dnsmasq to a machine without a lease",
                                  ipv4_format(p->start, start), ipv4_format(p->end, end));
                        result = -ENOSPC;
                        break;
                }
                if (n_dyn && bsearch(&ip, dyn, n_dyn, sizeof *dyn, cmp_u32)) {
                        lease_pool_set(p, ip, true);
                        skipped[n_skipped++] = ip;
                        continue;
                }
                /* A VM added with --ip inside the pool, or a lease another process wrote: the
                 * address stays marked, so the next pick does not ask again. */
                char owner[VM_ID_MAX + 1];
                struct ip_addr a = {.family = AF_INET,
                                    .bytes = {(uint8_t)(ip >> 24), (uint8_t)(ip >> 16), (uint8_t)(ip >> 8), (uint8_t)ip}};
                struct lease held;
                int r = store_vm_find_by_ip(env->store, &a, owner);
                if (r == -ENOENT)
                        r = store_lease_find_ip(env->store, ip, &held) == -ENOENT ? -ENOENT : 0;
                if (r == -ENOENT) {
                        *ret_ip = ip;
                        result = 0;
                        break;
                }
                if (r < 0) {
                        api_store_failed(resp, env, r, "cannot read the VMs' addresses");
                        result = r;
                        break;
                }
                lease_pool_set(p, ip, true);
        }
        for (size_t i = 0; i < n_skipped; i++)
                lease_pool_set(p, skipped[i], false);
        return result;
}

/* " (name web1, VM vm-1)", " (name web1)", " (VM vm-1)" or "" for lease l, into buf. */
static const char *lease_describe(const struct lease *l, char *buf, size_t n) {
        if (l->name[0] && l->vm_id[0])
                snprintf(buf, n, " (name %s, VM '%s')", l->name, l->vm_id);
        else if (l->name[0])
                snprintf(buf, n, " (name %s)", l->name);
        else if (l->vm_id[0])
                snprintf(buf, n, " (VM '%s')", l->vm_id);
        else
                buf[0] = '\0';
        return buf;
}

void api_lease_exists(const struct lease *held, struct api_response *resp) {
        char mac[MAC_TEXT_LEN + 1], ip[16], what[LEASE_NAME_MAX + VM_ID_MAX + 32];
        api_error(resp, 409, "lease_exists", "MAC %s already has a lease: %s%s", mac_format(held->mac, mac),
                  ipv4_format(held->ip, ip), lease_describe(held, what, sizeof what));
}

void api_lease_conflict(struct api_env *env, const struct lease *l, enum store_conflict c, struct api_response *resp) {
        char mac[MAC_TEXT_LEN + 1], ip[16], what[LEASE_NAME_MAX + VM_ID_MAX + 32];
        struct lease held;
        int r = -ENOENT;
        switch (c) {
        case STORE_CONFLICT_ID:
                if ((r = store_lease_get(env->store, l->mac, &held)) == 0)
                        return api_lease_exists(&held, resp);
                break;
        case STORE_CONFLICT_IP:
                if ((r = store_lease_find_ip(env->store, l->ip, &held)) == 0)
                        return api_error(resp, 409, "ip_in_use", "address %s is already leased to MAC %s%s",
                                         ipv4_format(l->ip, ip), mac_format(held.mac, mac),
                                         lease_describe(&held, what, sizeof what));
                break;
        case STORE_CONFLICT_HOSTNAME:
                if ((r = store_lease_find_name(env->store, l->name, &held)) == 0)
                        return api_error(resp, 409, "name_in_use", "name %s is already taken by MAC %s (lease %s)",
                                         l->name, mac_format(held.mac, mac), ipv4_format(held.ip, ip));
                break;
        default: break;
        }
        if (r < 0 && r != -ENOENT)
                return api_store_failed(resp, env, r, "cannot read the conflicting lease");
        /* Gone again meanwhile: say what the store said. */
        api_error(resp, 409, "conflict", "the lease conflicts with another: %s", store_errmsg(env->store));
}

/* POST /v1/leases. */
static void lease_create(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        struct lease_request req;
        char err[API_ERROR_MAX];
        enum lease_decode_status st = lease_request_decode(rq->body, rq->len, &req, err);
        if (st != LEASE_DECODE_OK) {
                unsigned status = 500;
                const char *code = lease_decode_code(st, &status);
                return api_error(resp, status, code ? code : "internal", "%s", err);
        }
        if (!api_no_query(rq, resp))
                return;

        struct lease l = {0}, stored;
        memcpy(l.mac, req.mac, MAC_LEN);
        strcpy(l.name, req.name);
        pthread_mutex_lock(&env->lock);
        /* The MAC's own lease first: it is the answer even when the pool is full. */
        int r = store_lease_get(env->store, l.mac, &stored);
        if (r == 0) {
                api_lease_exists(&stored, resp);
                goto unlock;
        }
        if (r != -ENOENT) {
                api_store_failed(resp, env, r, "cannot read the leases");
                goto unlock;
        }
        for (int attempt = 0;; attempt++) {
                if (api_lease_pick(env, req.ip, &l.ip, resp) < 0)
                        goto unlock;
                enum store_conflict conflict = STORE_CONFLICT_NONE;
                r = store_lease_add(env->store, &l, rq->actor, &conflict);
                if (r == -EEXIST && conflict == STORE_CONFLICT_IP && !req.ip && attempt == 0) {
                        /* Another writer leased the address behind our back: re-read once. */
                        log_warning("api: lease pool was stale; reloading it from the store");
                        if ((r = api_leases_reload(env)) < 0) {
                                api_store_failed(resp, env, r, "cannot read the leases");
                                goto unlock;
                        }
                        continue;
                }
                if (r == -EEXIST) {
                        api_lease_conflict(env, &l, conflict, resp);
                        goto unlock;
                }
                if (r < 0) {
                        api_store_failed(resp, env, r, "cannot store the lease");
                        goto unlock;
                }
                break;
        }
        lease_pool_set(&env->leases, l.ip, true);
        if ((r = store_lease_get(env->store, l.mac, &stored)) < 0) {
                api_store_failed(resp, env, r, "lease stored, but it cannot be read back");
                goto unlock;
        }
        pthread_mutex_unlock(&env->lock);

        char mac[MAC_TEXT_LEN + 1], ip[16];
        mac_format(stored.mac, mac);
        log_info("api: lease %s -> %s%s%s added by %s", mac, ipv4_format(stored.ip, ip), stored.name[0] ? " name " : "",
                 stored.name, rq->actor);
        json_t *o = lease_to_json(&stored);
        if (!o || json_object_set_new(o, "rules", json_string(api_rules_state(env))) < 0) {
                json_decref(o);
                return api_error(resp, 500, "internal", "lease %s stored, but it cannot be encoded", mac);
        }
        resp->status = 201;
        resp->body = o;
        snprintf(resp->location, sizeof resp->location, "/v1/leases/%s", mac);
        return;
unlock:
        pthread_mutex_unlock(&env->lock);
}

/* GET /v1/leases: a page by MAC. */
static void lease_list(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        const char *keys[API_ARGS_MAX], *values[API_ARGS_MAX];
        size_t n_args = rq->n_args < API_ARGS_MAX ? rq->n_args : API_ARGS_MAX;
        for (size_t i = 0; i < n_args; i++) {
                keys[i] = rq->args[i].key;
                values[i] = rq->args[i].value;
        }
        struct lease_list_query q;
        char err[API_ERROR_MAX];
        if (lease_list_query_parse(keys, values, n_args, &q, err) < 0)
                return api_error(resp, 400, "invalid_argument", "%s", err);

        _cleanup_free_ struct lease *leases = NULL;
        size_t n = 0;
        bool more = false;
        pthread_mutex_lock(&env->lock);
        int r = store_lease_list_page(env->store, q.after, q.limit, &leases, &n, &more);
        if (r < 0)
                api_store_failed(resp, env, r, "cannot list the leases");
        pthread_mutex_unlock(&env->lock);
        if (r < 0)
                return;
        _cleanup_(json_decrefp) json_t *arr = json_array();
        if (!arr)
                return api_error(resp, 500, "internal", "out of memory");
        for (size_t i = 0; i < n; i++) {
                char mac[MAC_TEXT_LEN + 1];
                if (!api_list_add(arr, lease_to_json(&leases[i]), "lease", mac_format(leases[i].mac, mac), resp))
                        return;
        }
        char next[MAC_TEXT_LEN + 1] = "";
        if (more && n)
                mac_format(leases[n - 1].mac, next);
        resp->status = 200;
        resp->body = json_pack("{s:o, s:s?}", "leases", TAKE_PTR(arr), "next", next[0] ? next : NULL);
}

static void lease_show(struct api_env *env, const struct api_request *rq, const uint8_t mac[static MAC_LEN],
                       struct api_response *resp) {
        if (!api_no_query(rq, resp))
                return;
        char text[MAC_TEXT_LEN + 1];
        mac_format(mac, text);
        struct lease l;
        pthread_mutex_lock(&env->lock);
        int r = store_lease_get(env->store, mac, &l);
        if (r == -ENOENT)
                api_error(resp, 404, "not_found", "no lease for MAC %s", text);
        else if (r < 0)
                api_store_failed(resp, env, r, "cannot read the lease");
        pthread_mutex_unlock(&env->lock);
        if (r < 0)
                return;
        json_t *o = lease_to_json(&l);
        if (!o)
                return api_error(resp, 500, "internal", "cannot encode the lease of %s", text);
        resp->status = 200;
        resp->body = o;
}

static void lease_remove(struct api_env *env, const struct api_request *rq, const uint8_t mac[static MAC_LEN],
                         struct api_response *resp) {
        if (!api_no_query(rq, resp))
                return;
        char text[MAC_TEXT_LEN + 1], ip[16];
        mac_format(mac, text);
        struct lease l;
        pthread_mutex_lock(&env->lock);
        int r = store_lease_remove(env->store, mac, rq->actor, &l);
        if (r == -ENOENT)
                api_error(resp, 404, "not_found", "no lease for MAC %s", text);
        else if (r < 0)
                api_store_failed(resp, env, r, "cannot remove the lease");
        if (r == 0)
                lease_pool_set(&env->leases, l.ip, false);
        pthread_mutex_unlock(&env->lock);
        if (r < 0)
                return;
        log_info("api: lease %s -> %s removed by %s", text, ipv4_format(l.ip, ip), rq->actor);
        api_answer_removed(env, resp, lease_to_json(&l), "lease", text);
}

void api_leases(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        const char *method = rq->method, *rest = rq->rest;
        if (rest[0] == '\0' || streq(rest, "/")) {
                if (api_method_is_get(method))
                        return lease_list(env, rq, resp);
                if (streq(method, "POST"))
                        return lease_create(env, rq, resp);
                resp->allow = "GET, POST";
                return api_error(resp, 405, "method_not_allowed", "%s is not allowed on /v1/leases (use GET or POST)",
                                 method);
        }
        uint8_t mac[MAC_LEN];
        char err[API_ERROR_MAX];
        if (rest[0] != '/' || !lease_mac_decode(rest + 1, "the MAC in the path", mac, err))
                return api_error(resp, 400, "invalid_argument", "%s",
                                 rest[0] == '/' ? err : "invalid path: use /v1/leases/MAC");
        if (api_method_is_get(method))
                return lease_show(env, rq, mac, resp);
        if (streq(method, "DELETE"))
                return lease_remove(env, rq, mac, resp);
        resp->allow = "GET, DELETE";
        api_error(resp, 405, "method_not_allowed", "%s is not allowed on /v1/leases/MAC (use GET or DELETE)", method);
}
