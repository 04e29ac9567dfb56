/* SPDX-License-Identifier: MIT */
/*
 * /v1/vms: create (allocate a port block and a slug in one store transaction), replace by id
 * (PUT), list by pages, show, remove, and the expiry of VMs whose time is up. Allocation uses
 * the in-memory port map (VM blocks and forward ports); the store's constraints remain the
 * final word, so a stale map costs one retry, never a double allocation.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "core/log.h"
#include "daemon/reconcile.h"
#include "handlers.h"
#include "leasejson.h"
#include "nft/nft.h"
#include "proxy/proxy.h"
#include "store/store.h"
#include "vmjson.h"

#define SLUG_ATTEMPTS 16
#define EXPIRE_BATCH 64 /* removals per call (each a transaction) while the API waits */
#define COUNTERS_MAX_AGE_NS 1000000000LL /* kernel counters are re-read at most once a second */

/* ---- traffic ---- */

/* The kernel's counters, shared by all API threads: reading them costs ~90 ms at 20,000
 * counters, so a burst of GETs shares one read, values at most about two seconds old. A
 * background thread refreshes a stale cache while every request keeps answering from the
 * old one. */
static struct {
        pthread_mutex_t lock;
        struct nft_counter_value *values; /* sorted by name */
        size_t n;
        int64_t read_at_ns; /* 0 = never; CLOCK_MONOTONIC */
        bool ok, refreshing;
} counters = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int counter_compare(const void *a, const void *b) {
        return strcmp(((const struct nft_counter_value *)a)->name, ((const struct nft_counter_value *)b)->name);
}

static int64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Reads the kernel's counters into the cache. counters.refreshing was set by the caller;
 * called without counters.lock. */
static void counters_read(void) {
        int64_t now = now_ns();
        struct nft_counter_value *v = NULL;
        size_t n = 0;
        int r = nft_read_counters(&v, &n);
        if (r >= 0 && n)
                qsort(v, n, sizeof v[0], counter_compare);
        pthread_mutex_lock(&counters.lock);
        free(counters.values);
        counters.values = r >= 0 ? v : NULL;
        counters.n = r >= 0 ? n : 0;
        counters.ok = r >= 0;
        counters.read_at_ns = now;
        counters.refreshing = false;
        pthread_mutex_unlock(&counters.lock);
}

static void *counters_read_main(void *arg) {
        counters_read();
        return NULL;
}

/* Makes sure the counter cache is being kept fresh. counters.lock held. The very first read
 * is made by the caller (there is nothing to answer from yet); after that a stale cache is
 * refreshed by a short-lived background thread while every request answers from the old
 * values (at most about two seconds old), so no GET waits ~90 ms for the kernel. */
static void counters_refresh(void) {
        int64_t now = now_ns();
        if (counters.refreshing || (counters.read_at_ns && now - counters.read_at_ns < COUNTERS_MAX_AGE_NS))
                return;
        counters.refreshing = true;
        if (counters.read_at_ns) {
                pthread_t t;
                pthread_attr_t attr;
                bool started = pthread_attr_init(&attr) == 0;
                if (started) {
                        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                        started = pthread_create(&t, &attr, counters_read_main, NULL) == 0;
                        pthread_attr_destroy(&attr);
                }
                if (started)
                        return;
        }
        pthread_mutex_unlock(&counters.lock);
        counters_read();
        pthread_mutex_lock(&counters.lock);
}

/* The bytes of counter name from the cache; false if it has none. counters.lock held. */
static bool counter_bytes(const char *name, uint64_t *ret) {
        struct nft_counter_value key = {0};
        snprintf(key.name, sizeof key.name, "%s", name);
        const struct nft_counter_value *v =
                counters.n ? bsearch(&key, counters.values, counters.n, sizeof key, counter_compare) : NULL;
        if (!v)
                return false;
        *ret = v->bytes;
        return true;
}

/* Fills traffic[i] for vms[i] (n of them); known[i] says whether it could. userspace and the
 * proxy are read from env by the caller (without the lock). */
static void vms_traffic(struct api_env *env, bool userspace, const struct vm *vms, size_t n,
                        struct vm_traffic *traffic, bool *known) {
        if (userspace) {
                for (size_t i = 0; i < n; i++) {
                        known[i] = env->proxy != NULL;
                        traffic[i] = (struct vm_traffic){0};
                        if (!env->proxy)
                                continue;
                        struct port_map_entry pm[PORTS_PER_VM_MAX];
                        size_t np = vm_port_map(vms[i].block_start, vms[i].block_size, pm);
                        for (size_t j = 0; j < np; j++) {
                                uint64_t a, b;
                                proxy_forward_bytes(env->proxy, (uint8_t)pm[j].proto, pm[j].public_port, &a, &b);
                                traffic[i].bytes_in += a;
                                traffic[i].bytes_out += b;
                        }
                }
                return;
        }
        pthread_mutex_lock(&counters.lock);
        counters_refresh();
        for (size_t i = 0; i < n; i++) {
                char in[NFT_COUNTER_NAME_MAX], out[NFT_COUNTER_NAME_MAX];
                nft_counter_names(&vms[i], in, out);
                known[i] = counters.ok && counter_bytes(in, &traffic[i].bytes_in) &&
                           counter_bytes(out, &traffic[i].bytes_out);
        }
        pthread_mutex_unlock(&counters.lock);
}

static bool forward_mode_userspace(struct api_env *env) {
        pthread_mutex_lock(&env->lock);
        bool userspace = streq(env->config.forward_mode, "userspace");
        pthread_mutex_unlock(&env->lock);
        return userspace;
}

/* ---- create / replace ---- */

/* The request's VM (without slug and block) and meta, or 400 answered. */
static bool vm_from_request(const struct vm_request *req, int64_t now, struct vm *ret_vm, struct vm_meta *ret_meta,
                            struct api_response *resp) {
        char err[API_ERROR_MAX];
        if (vm_request_meta(req, now, ret_meta, err) < 0) {
                api_error(resp, 400, "invalid_argument", "%s", err);
                return false;
        }
        *ret_vm = (struct vm){.ip = req->ip,
                              .created_at = now,
                              .proxy_protocol = req->proxy_protocol,
                              .http_passthrough = req->http_passthrough,
                              .n_allow = req->n_allow};
        strcpy(ret_vm->id, req->id);
        memcpy(ret_vm->allow, req->allow, sizeof ret_vm->allow);
        return true;
}

/* Checks that need the configuration and the store: the VM's address is not the gateway's
 * own, and each extra host name may be claimed by VM id. Lock held. */
static bool vm_checks(struct api_env *env, const struct vm *vm, const struct vm_meta *meta, struct api_response *resp) {
        char err[API_ERROR_MAX];
        if (!api_target_not_gateway(&vm->ip, &env->config, "'ip'", err)) {
                api_error(resp, 400, "invalid_argument", "%s", err);
                return false;
        }
        for (size_t i = 0; i < meta->n_hostnames; i++)
                if (!api_hostname_claimable(env, meta->hostnames[i], "vm", vm->id, resp))
                        return false;
        return true;
}

static void hostname_conflict(struct api_env *env, const struct vm *vm, const struct vm_meta *meta,
                              struct api_response *resp) {
        const char *names[VM_HOSTNAMES_MAX];
        for (size_t i = 0; i < meta->n_hostnames; i++)
                names[i] = meta->hostnames[i];
        api_hostname_conflict(env, names, meta->n_hostnames, "vm", vm->id, resp);
}

static void ip_conflict(struct api_env *env, const struct ip_addr *ip, struct api_response *resp) {
        char owner[VM_ID_MAX + 1] = "?", text[IP_ADDR_STRLEN];
        (void)store_vm_find_by_ip(env->store, ip, owner);
        api_error(resp, 409, "ip_in_use", "address %s is already the target of VM '%s'", ip_addr_format(ip, text), owner);
}

/* Allocates a block and a slug for vm and stores it with meta and lease (NULL = none) in
 * one transaction. Returns 0; -1 with resp answered (-EEXIST for "a VM with this id
 * exists", so PUT can replace it instead); or -EADDRINUSE with *ret_lease_conflict set and
 * resp not answered when the store refused the lease. Lock held. */
static int vm_allocate(struct api_env *env, struct vm *vm, const struct vm_meta *meta, const struct lease *lease,
                       const char *actor, enum store_conflict *ret_lease_conflict, struct api_response *resp) {
        const struct config *cfg = &env->config;
        bool reloaded = false;
        int r;
        for (int attempt = 0;; attempt++) {
                r = portmap_find_free(&env->ports, cfg->port_range_start, cfg->port_range_end, cfg->ports_per_vm,
                                      &vm->block_start);
                if (r == -ENOSPC) {
                        api_error(resp, 409, "port_range_exhausted",
                                  "port range %u-%u exhausted: no free block of %u ports left", cfg->port_range_start,
                                  cfg->port_range_end, cfg->ports_per_vm);
                        return -1;
                }
                if (r < 0) {
                        api_error(resp, 500, "internal", "cannot allocate a port block: %s", strerror(-r));
                        return -1;
                }
                vm->block_size = cfg->ports_per_vm;
                if ((r = slug_generate(env->random, env->random_userdata, vm->slug)) < 0) {
                        api_error(resp, 500, "internal", "cannot generate a slug: %s", strerror(-r));
                        return -1;
                }
                enum store_conflict conflict = STORE_CONFLICT_NONE, lease_conflict = STORE_CONFLICT_NONE;
                r = store_vm_create_leased(env->store, vm, meta, lease, actor, &conflict, &lease_conflict);
                if (r == 0)
                        break;
                if (r == -EEXIST && lease_conflict != STORE_CONFLICT_NONE) {
                        *ret_lease_conflict = lease_conflict;
                        return -EADDRINUSE;
                }
                if (r != -EEXIST) {
                        api_store_failed(resp, env, r, "cannot store the VM");
                        return -1;
                }
                switch (conflict) {
                case STORE_CONFLICT_ID:
                        api_error(resp, 409, "vm_exists", "a VM with id '%s' already exists", vm->id);
                        return -EEXIST;
                case STORE_CONFLICT_IP:
                        ip_conflict(env, &vm->ip, resp);
                        return -1;
                case STORE_CONFLICT_HOSTNAME:
                        hostname_conflict(env, vm, meta, resp);
                        return -1;
                case STORE_CONFLICT_BLOCK:
                case STORE_CONFLICT_PORT:
                        if (reloaded)
                                break;
                        /* Another writer took ports behind our back, or the map does not hold
                         * the forwards yet: re-read it once. */
                        log_warning("api: port map was stale; reloading it from the store");
                        if ((r = api_ports_reload(env)) < 0) {
                                api_store_failed(resp, env, r, "cannot read port blocks");
                                return -1;
                        }
                        reloaded = true;
                        continue;
                case STORE_CONFLICT_SLUG:
                        if (attempt < SLUG_ATTEMPTS)
                                continue;
                        break;
                case STORE_CONFLICT_NONE: break;
                }
                api_error(resp, 500, "internal", "cannot allocate: %s", store_errmsg(env->store));
                return -1;
        }
        portmap_set(&env->ports, vm->block_start, vm->block_size, true);
        if (lease)
                api_lease_pool_set(env, lease->ip, true);
        return 0;
}

/* ---- the DHCP lease of `vm add --mac` (issue 6) ---- */

static uint32_t ipv4_of(const struct ip_addr *a) {
        return (uint32_t)a->bytes[0] << 24 | (uint32_t)a->bytes[1] << 16 | (uint32_t)a->bytes[2] << 8 | a->bytes[3];
}

static struct ip_addr ip_of_ipv4(uint32_t ip) {
        return (struct ip_addr){.family = AF_INET,
                                .bytes = {(uint8_t)(ip >> 24), (uint8_t)(ip >> 16), (uint8_t)(ip >> 8), (uint8_t)ip}};
}

/* The address of a request with "mac": the MAC's lease's (an "ip" too must be the same:
 * 409 otherwise), or a new lease made with the VM (name none, vm_id the VM) at "ip" or the
 * lowest free pool address, into *ret_lease with *ret_new true. Sets vm->ip. Without "mac"
 * nothing happens. Answers and returns a negative errno on failure. Lock held. */
static int vm_lease_resolve(struct api_env *env, const struct vm_request *req, struct vm *vm, struct lease *ret_lease,
                            bool *ret_new, struct api_response *resp) {
        *ret_new = false;
        if (!req->has_mac)
                return 0;
        char mac[MAC_TEXT_LEN + 1], ip[16], asked[16];
        mac_format(req->mac, mac);
        struct lease held;
        int r = store_lease_get(env->store, req->mac, &held);
        if (r == 0) {
                if (req->has_ip && ipv4_of(&req->ip) != held.ip) {
                        api_error(resp, 409, "lease_exists",
                                  "MAC %s already has a lease at %s, not %s: leave out the address to use the lease's, "
                                  "or remove the lease first",
                                  mac, ipv4_format(held.ip, ip), ipv4_format(ipv4_of(&req->ip), asked));
                        return -EEXIST;
                }
                vm->ip = ip_of_ipv4(held.ip);
                return 0;
        }
        if (r != -ENOENT) {
                api_store_failed(resp, env, r, "cannot read the MAC's lease");
                return r;
        }
        struct lease l = {0};
        memcpy(l.mac, req->mac, MAC_LEN);
        strcpy(l.vm_id, vm->id);
        if ((r = api_lease_pick(env, req->has_ip ? ipv4_of(&req->ip) : 0, &l.ip, resp)) < 0)
                return r;
        vm->ip = ip_of_ipv4(l.ip);
        *ret_lease = l;
        *ret_new = true;
        return 0;
}

/* vm_checks() and vm_allocate() for a new VM of req, with its lease when req has "mac". A
 * pool address another writer leased meanwhile costs one reload and retry. Returns as
 * vm_allocate(), with every failure answered. Lock held. */
static int vm_allocate_leased(struct api_env *env, const struct vm_request *req, struct vm *vm,
                              const struct vm_meta *meta, const char *actor, struct api_response *resp) {
        for (int attempt = 0;; attempt++) {
                struct lease lease;
                bool has_lease;
                if (vm_lease_resolve(env, req, vm, &lease, &has_lease, resp) < 0 || !vm_checks(env, vm, meta, resp))
                        return -1;
                enum store_conflict lease_conflict = STORE_CONFLICT_NONE;
                int r = vm_allocate(env, vm, meta, has_lease ? &lease : NULL, actor, &lease_conflict, resp);
                if (r != -EADDRINUSE)
                        return r;
                if (lease_conflict == STORE_CONFLICT_IP && !req->has_ip && attempt == 0) {
                        log_warning("api: lease pool was stale; reloading it from the store");
                        if ((r = api_leases_reload(env)) < 0) {
                                api_store_failed(resp, env, r, "cannot read the leases");
                                return -1;
                        }
                        continue;
                }
                api_lease_conflict(env, &lease, lease_conflict, resp);
                return -1;
        }
}

/* vm_to_json() with "mac": the MAC of the VM's lease (store_lease_of_vm), null when it has
 * none. Lock held. */
static json_t *vm_json(struct api_env *env, const struct vm *vm, const struct vm_meta *meta,
                       const struct vm_traffic *traffic, const char *datacenter, const char *domain) {
        json_t *o = vm_to_json(vm, meta, traffic, datacenter, domain);
        struct lease l;
        char mac[MAC_TEXT_LEN + 1];
        if (o && json_object_set_new(o, "mac",
                                     store_lease_of_vm(env->store, vm, &l) == 0 ? json_string(mac_format(l.mac, mac))
                                                                                 : json_null()) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

/* After VM vm and the leases made with it (leases[0..n)) were removed: their addresses go
 * back to the pool, and so does the VM's own when no lease holds it (an address a pick
 * found targeted by the VM). Lock held. */
static void vm_addresses_release(struct api_env *env, const struct vm *vm, const struct lease *leases, size_t n) {
        for (size_t i = 0; i < n; i++)
                api_lease_pool_set(env, leases[i].ip, false);
        struct lease held;
        if (vm->ip.family == AF_INET && store_lease_find_ip(env->store, ipv4_of(&vm->ip), &held) == -ENOENT)
                api_lease_pool_set(env, ipv4_of(&vm->ip), false);
}

/* "mac" of a removed VM: its lease made with it, else the lease at its address. */
static void vm_removed_mac(struct api_env *env, json_t *o, const struct vm *vm, const struct lease *leases, size_t n) {
        char mac[MAC_TEXT_LEN + 1];
        struct lease held;
        json_t *v = json_null();
        if (n)
                v = json_string(mac_format(leases[0].mac, mac));
        else if (store_lease_of_vm(env->store, vm, &held) == 0)
                v = json_string(mac_format(held.mac, mac));
        if (o)
                json_object_set_new(o, "mac", v);
        else
                json_decref(v);
}

/* The created VM's answer: 201, Location, ETag, the object with "rules". Called unlocked. */
static void created(struct api_env *env, json_t *o, const struct vm *vm, struct api_response *resp) {
        if (!o)
                return api_error(resp, 500, "internal", "cannot encode the VM");
        log_info("api: VM %s added: %s ports %u-%u", vm->id, vm->slug, vm->block_start,
                 vm->block_start + vm->block_size - 1);
        json_object_set_new(o, "rules", json_string(api_rules_state(env)));
        resp->status = 201;
        resp->body = o;
        api_set_etag(resp, 1);
        snprintf(resp->location, sizeof resp->location, "/v1/vms/%s", vm->id);
}

static void vm_create(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        struct vm_request req;
        struct vm vm;
        struct vm_meta meta;
        char err[API_ERROR_MAX];
        enum api_decode_status st = vm_request_decode(rq->body, rq->len, NULL, &req, err);
        if (st != API_DECODE_OK)
                return api_decode_failed(resp, st, err);
        if (!api_no_query(rq, resp) || !vm_from_request(&req, (int64_t)time(NULL), &vm, &meta, resp))
                return;

        pthread_mutex_lock(&env->lock);
        if (vm_allocate_leased(env, &req, &vm, &meta, rq->actor, resp) != 0) {
                pthread_mutex_unlock(&env->lock);
                return;
        }
        meta.version = 1;
        meta.updated_at = vm.created_at;
        json_t *o = vm_json(env, &vm, &meta, NULL, env->config.datacenter, env->config.domain);
        pthread_mutex_unlock(&env->lock);
        created(env, o, &vm, resp);
}

/* PUT /v1/vms/ID: creates the VM (201) or replaces its ip, options, names, labels and expiry
 * (200; slug and block stay). */
static void vm_put(struct api_env *env, const struct api_request *rq, const char *id, struct api_response *resp) {
        struct vm_request req;
        struct vm vm;
        struct vm_meta meta;
        char err[API_ERROR_MAX];
        int64_t match, if_version = 0;
        enum api_decode_status st = vm_request_decode(rq->body, rq->len, id, &req, err);
        if (st != API_DECODE_OK)
                return api_decode_failed(resp, st, err);
        if (!api_no_query(rq, resp) || !api_if_match(rq, resp, &match) ||
            !vm_from_request(&req, (int64_t)time(NULL), &vm, &meta, resp))
                return;

        pthread_mutex_lock(&env->lock);
        const struct config *cfg = &env->config;
        /* Two rounds: a VM created or removed by someone else between our read and our write
         * turns a create into a replace (or back). */
        for (int round = 0; round < 2; round++) {
                struct vm old;
                int r = store_vm_get(env->store, id, &old);
                if (r == -ENOENT) {
                        if (match != API_IF_MATCH_NONE) {
                                api_if_match_absent(resp, "VM", id);
                                goto unlock;
                        }
                        r = vm_allocate_leased(env, &req, &vm, &meta, rq->actor, resp);
                        if (r == -EEXIST && round == 0) {
                                json_decref(resp->body);
                                *resp = (struct api_response){0};
                                continue;
                        }
                        if (r != 0)
                                goto unlock;
                        meta.version = 1;
                        meta.updated_at = vm.created_at;
                        json_t *o = vm_json(env, &vm, &meta, NULL, cfg->datacenter, cfg->domain);
                        pthread_mutex_unlock(&env->lock);
                        return created(env, o, &vm, resp);
                }
                if (r < 0) {
                        api_store_failed(resp, env, r, "cannot read the VM");
                        goto unlock;
                }
                if (!api_if_version(match, "VM", id, resp, &if_version))
                        goto unlock;
                struct lease lease;
                bool has_lease;
                if (vm_lease_resolve(env, &req, &vm, &lease, &has_lease, resp) < 0 || !vm_checks(env, &vm, &meta, resp))
                        goto unlock;
                enum store_conflict conflict = STORE_CONFLICT_NONE, lease_conflict = STORE_CONFLICT_NONE;
                enum store_outcome outcome = STORE_UNCHANGED;
                int64_t version = 0;
                r = store_vm_update_leased(env->store, &vm, &meta, has_lease ? &lease : NULL, if_version, rq->actor,
                                           &conflict, &lease_conflict, &outcome, &version);
                if (r == -ENOENT && round == 0 && match == API_IF_MATCH_NONE)
                        continue;
                if (r == -ENOENT) {
                        api_if_match_absent(resp, "VM", id);
                        goto unlock;
                }
                if (r == -EEXIST && lease_conflict != STORE_CONFLICT_NONE) {
                        api_lease_conflict(env, &lease, lease_conflict, resp);
                        goto unlock;
                }
                if (r == -EEXIST) {
                        if (conflict == STORE_CONFLICT_IP)
                                ip_conflict(env, &vm.ip, resp);
                        else if (conflict == STORE_CONFLICT_HOSTNAME)
                                hostname_conflict(env, &vm, &meta, resp);
                        else
                                api_error(resp, 409, "conflict", "the VM conflicts with another resource: %s",
                                          store_errmsg(env->store));
                        goto unlock;
                }
                if (r == -ESTALE) {
                        api_stale(env, resp, "vm", id, if_version);
                        goto unlock;
                }
                if (r < 0) {
                        api_store_failed(resp, env, r, "cannot replace the VM");
                        goto unlock;
                }
                if (has_lease)
                        api_lease_pool_set(env, lease.ip, true);
                if ((r = store_vm_get(env->store, id, &vm)) < 0 || (r = store_vm_get_meta(env->store, id, &meta)) < 0) {
                        api_store_failed(resp, env, r, "cannot read the VM back");
                        goto unlock;
                }
                json_t *o = vm_json(env, &vm, &meta, NULL, cfg->datacenter, cfg->domain);
                pthread_mutex_unlock(&env->lock);
                if (!o)
                        return api_error(resp, 500, "internal", "cannot encode the VM");
                if (outcome == STORE_UPDATED)
                        log_info("api: VM %s replaced (version %lld)", id, (long long)meta.version);
                json_object_set_new(o, "rules", json_string(api_rules_state(env)));
                resp->status = 200;
                resp->body = o;
                api_set_etag(resp, meta.version);
                return;
        }
        api_error(resp, 500, "internal", "the VM kept changing under the request; try again");
unlock:
        pthread_mutex_unlock(&env->lock);
}

/* ---- read ---- */

static void vm_list(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        struct api_list_query q;
        if (!api_list_query(rq, true, &q, resp))
                return;
        bool userspace = forward_mode_userspace(env);
        _cleanup_free_ struct vm *vms = NULL;
        _cleanup_free_ struct vm_meta *metas = NULL;
        _cleanup_free_ struct vm_traffic *traffic = NULL;
        _cleanup_free_ bool *known = NULL;
        _cleanup_free_ struct lease *leases = NULL; /* the VMs' leases; ip 0 = none */
        size_t n = 0;
        bool more = false;
        char dc[sizeof env->config.datacenter], domain[sizeof env->config.domain];

        pthread_mutex_lock(&env->lock);
        int r = store_vm_list_page(env->store, q.after, q.limit, q.match, q.n_match, &vms, &metas, &n, &more);
        if (r == 0 && n && !(leases = calloc(n, sizeof *leases)))
                r = -ENOMEM;
        for (size_t i = 0; r == 0 && i < n; i++)
                if ((r = store_lease_of_vm(env->store, &vms[i], &leases[i])) == -ENOENT)
                        r = 0;
        if (r < 0) {
                api_store_failed(resp, env, r, "cannot list VMs");
                pthread_mutex_unlock(&env->lock);
                return;
        }
        strcpy(dc, env->config.datacenter);
        strcpy(domain, env->config.domain);
        pthread_mutex_unlock(&env->lock);

        if (q.bytes && n) {
                traffic = calloc(n, sizeof *traffic);
                known = calloc(n, sizeof *known);
                if (!traffic || !known)
                        return api_error(resp, 500, "internal", "out of memory");
                vms_traffic(env, userspace, vms, n, traffic, known);
        }
        json_t *arr = json_array();
        if (!arr)
                return api_error(resp, 500, "internal", "out of memory");
        for (size_t i = 0; i < n; i++) {
                json_t *o = vm_to_json(&vms[i], &metas[i], known && known[i] ? &traffic[i] : NULL, dc, domain);
                char mac[MAC_TEXT_LEN + 1];
                if (o && json_object_set_new(o, "mac", leases[i].ip ? json_string(mac_format(leases[i].mac, mac))
                                                                    : json_null()) < 0)
                        json_decref(TAKE_PTR(o));
                if (!o || json_array_append_new(arr, o) < 0) {
                        json_decref(arr);
                        return api_error(resp, 500, "internal", "cannot encode VM '%s'", vms[i].id);
                }
        }
        resp->status = 200;
        resp->body = json_pack("{s:o, s:s?}", "vms", arr, "next", more && n ? vms[n - 1].id : NULL);
}

/* The VM's rows of the DNS outbox (owner "vm" id) as its "dns" array, from recs[0..n). */
static json_t *vm_dns_json(const char *id, const struct store_dns_record *recs, size_t n) {
        int64_t now = (int64_t)time(NULL);
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n; i++) {
                if (!streq(recs[i].want.owner_kind, "vm") || !streq(recs[i].want.owner_id, id))
                        continue;
                json_t *o = dns_record_to_json(&recs[i], now, true);
                if (!o || json_array_append_new(arr, o) < 0) {
                        json_decref(arr);
                        return NULL;
                }
        }
        return arr;
}

static void vm_show(struct api_env *env, const struct api_request *rq, const char *id, struct api_response *resp) {
        if (!api_no_query(rq, resp))
                return;
        bool userspace = forward_mode_userspace(env);
        struct vm vm;
        struct vm_meta meta;
        _cleanup_free_ struct store_dns_record *recs = NULL;
        size_t n_recs = 0;
        char dc[sizeof env->config.datacenter], domain[sizeof env->config.domain];
        pthread_mutex_lock(&env->lock);
        int r = store_vm_get(env->store, id, &vm);
        if (r == 0)
                r = store_vm_get_meta(env->store, id, &meta);
        if (r == 0)
                r = store_dns_list_owner(env->store, "vm", id, &recs, &n_recs);
        struct lease lease;
        bool has_lease = false;
        if (r == 0) {
                int k = store_lease_of_vm(env->store, &vm, &lease);
                has_lease = k == 0;
                if (k < 0 && k != -ENOENT)
                        r = k;
        }
        if (r == -ENOENT)
                api_error(resp, 404, "not_found", "no VM with id '%s'", id);
        else if (r < 0)
                api_store_failed(resp, env, r, "cannot read the VM");
        strcpy(dc, env->config.datacenter);
        strcpy(domain, env->config.domain);
        pthread_mutex_unlock(&env->lock);
        if (r < 0)
                return;

        struct vm_traffic traffic;
        bool known;
        vms_traffic(env, userspace, &vm, 1, &traffic, &known);
        json_t *o = vm_to_json(&vm, &meta, known ? &traffic : NULL, dc, domain);
        json_t *dns = vm_dns_json(id, recs, n_recs);
        char mac[MAC_TEXT_LEN + 1];
        if (o && json_object_set_new(o, "mac", has_lease ? json_string(mac_format(lease.mac, mac)) : json_null()) < 0)
                json_decref(TAKE_PTR(o));
        if (!o || !dns || json_object_set_new(o, "dns", TAKE_PTR(dns)) < 0) {
                json_decref(o);
                json_decref(dns);
                return api_error(resp, 500, "internal", "cannot encode the VM");
        }
        resp->status = 200;
        resp->body = o;
        api_set_etag(resp, meta.version);
}

/* Bytes through a VM's user-space forwards, summed over its port block. In kernel mode the
 * per-VM nft counters in_<slug> / out_<slug> hold them instead (and the VM object shows them). */
static void vm_traffic(struct api_env *env, const char *id, struct api_response *resp) {
        struct vm vm;
        pthread_mutex_lock(&env->lock);
        int r = store_vm_get(env->store, id, &vm);
        bool userspace = streq(env->config.forward_mode, "userspace");
        pthread_mutex_unlock(&env->lock);
        if (r == -ENOENT)
                return api_error(resp, 404, "not_found", "no VM with id '%s'", id);
        if (r < 0)
                return api_error(resp, 500, "internal", "cannot read the VM");
        if (!userspace || !env->proxy)
                return api_error(resp, 409, "not_userspace",
                                 "forward_mode is kernel: the nft counters in_%s / out_%s count this VM's bytes", vm.slug,
                                 vm.slug);
        struct vm_traffic t;
        bool known;
        vms_traffic(env, true, &vm, 1, &t, &known);
        resp->status = 200;
        resp->body = json_pack("{s:s, s:I, s:I}", "id", vm.id, "bytes_in", (json_int_t)t.bytes_in, "bytes_out",
                               (json_int_t)t.bytes_out);
}

/* ---- remove ---- */

static void vm_remove(struct api_env *env, const struct api_request *rq, const char *id, struct api_response *resp) {
        int64_t match, if_version = 0;
        if (!api_no_query(rq, resp) || !api_if_match(rq, resp, &match) ||
            !api_if_version(match, "VM", id, resp, &if_version))
                return;
        struct vm vm;
        struct vm_meta meta;
        _cleanup_free_ struct lease *leases = NULL;
        size_t n_leases = 0;
        pthread_mutex_lock(&env->lock);
        int r = store_vm_get_meta(env->store, id, &meta);
        if (r == 0)
                r = store_vm_remove_leased(env->store, id, if_version, rq->actor, &vm, &leases, &n_leases);
        if (r == -ENOENT)
                api_error(resp, 404, "not_found", "no VM with id '%s'", id);
        else if (r == -ESTALE)
                api_stale(env, resp, "vm", id, if_version);
        else if (r < 0)
                api_store_failed(resp, env, r, "cannot remove the VM");
        if (r < 0) {
                pthread_mutex_unlock(&env->lock);
                return;
        }
        portmap_set(&env->ports, vm.block_start, vm.block_size, false);
        vm_addresses_release(env, &vm, leases, n_leases);
        json_t *o = vm_to_json(&vm, &meta, NULL, env->config.datacenter, env->config.domain);
        vm_removed_mac(env, o, &vm, leases, n_leases);
        pthread_mutex_unlock(&env->lock);

        log_info("api: VM %s removed: ports %u-%u released", vm.id, vm.block_start, vm.block_start + vm.block_size - 1);
        for (size_t i = 0; i < n_leases; i++) {
                char mac[MAC_TEXT_LEN + 1], ip[16];
                log_info("api: lease %s -> %s removed with VM %s", mac_format(leases[i].mac, mac),
                         ipv4_format(leases[i].ip, ip), vm.id);
        }
        json_t *gone = json_array();
        for (size_t i = 0; gone && i < n_leases; i++)
                if (json_array_append_new(gone, lease_to_json(&leases[i])) < 0)
                        json_decref(TAKE_PTR(gone));
        if (!o || !gone) {
                json_decref(o);
                json_decref(gone);
                return api_error(resp, 500, "internal", "VM '%s' removed, but it cannot be encoded", id);
        }
        resp->status = 200;
        resp->body = json_pack("{s:o, s:o, s:s}", "removed", o, "removed_leases", gone, "rules", api_rules_state(env));
}

void api_vms(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        const char *method = rq->method, *rest = rq->rest, *id = NULL;
        const char *slash = rest[0] == '/' ? strchr(rest + 1, '/') : NULL;
        if (slash && streq(slash, "/traffic")) {
                char idbuf[VM_ID_MAX + 1];
                size_t l = (size_t)(slash - rest - 1);
                if (l >= sizeof idbuf)
                        return api_error(resp, 400, "invalid_argument", "invalid VM id");
                memcpy(idbuf, rest + 1, l);
                idbuf[l] = '\0';
                if (!vm_id_valid(idbuf))
                        return api_error(resp, 400, "invalid_argument", "invalid VM id");
                if (!api_method_is_get(method)) {
                        resp->allow = "GET";
                        return api_error(resp, 405, "method_not_allowed", "%s is not allowed on /v1/vms/ID/traffic",
                                         method);
                }
                return vm_traffic(env, idbuf, resp);
        }
        int kind = api_path_id(rest, "VM", &id, resp);
        if (kind < 0)
                return;
        if (kind == 0) {
                if (api_method_is_get(method))
                        return vm_list(env, rq, resp);
                if (streq(method, "POST"))
                        return vm_create(env, rq, resp);
                resp->allow = "GET, POST";
                return api_error(resp, 405, "method_not_allowed", "%s is not allowed on /v1/vms (use GET or POST)",
                                 method);
        }
        if (api_method_is_get(method))
                return vm_show(env, rq, id, resp);
        if (streq(method, "PUT"))
                return vm_put(env, rq, id, resp);
        if (streq(method, "DELETE"))
                return vm_remove(env, rq, id, resp);
        resp->allow = "GET, PUT, DELETE";
        api_error(resp, 405, "method_not_allowed", "%s is not allowed on /v1/vms/ID (use GET, PUT or DELETE)", method);
}

int api_expire_vms(struct api_env *env) {
        char **ids = NULL;
        size_t n = 0, removed = 0;
        int64_t now = (int64_t)time(NULL);
        pthread_mutex_lock(&env->lock);
        int r = store_vm_expired(env->store, now, EXPIRE_BATCH, &ids, &n);
        if (r < 0) {
                log_error("api: cannot list expired VMs: %s", store_errmsg(env->store));
                pthread_mutex_unlock(&env->lock);
                return r;
        }
        for (size_t i = 0; i < n; i++) {
                struct vm vm;
                _cleanup_free_ struct lease *leases = NULL;
                size_t n_leases = 0;
                int q = store_vm_remove_leased(env->store, ids[i], 0, "expiry", &vm, &leases, &n_leases);
                if (q == 0) {
                        portmap_set(&env->ports, vm.block_start, vm.block_size, false);
                        vm_addresses_release(env, &vm, leases, n_leases);
                        log_info("api: VM %s expired and removed: ports %u-%u released", vm.id, vm.block_start,
                                 vm.block_start + vm.block_size - 1);
                        removed++;
                } else if (q != -ENOENT) {
                        log_error("api: cannot remove expired VM %s: %s", ids[i], store_errmsg(env->store));
                        r = q;
                }
                free(ids[i]);
        }
        pthread_mutex_unlock(&env->lock);
        free(ids);
        if (removed)
                reconciler_request(env->reconciler);
        return removed ? (int)removed : r;
}
