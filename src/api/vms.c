/* SPDX-License-Identifier: MIT */
/*
 * /v1/vms: create (allocate a port block and a slug in one store transaction), list, show,
 * remove. Allocation uses the in-memory port map; the store's constraints remain the
 * final word, so a stale map costs one retry, never a double allocation.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "core/log.h"
#include "daemon/reconcile.h"
#include "proxy/proxy.h"
#include "store/store.h"
#include "vmjson.h"

#define SLUG_ATTEMPTS 16

static const char *rules_state(struct api_env *env, uint64_t gen) {
        return reconciler_wait(env->reconciler, gen, env->apply_wait_ms) ? "applied" : "pending";
}

static void store_error(struct api_response *resp, struct api_env *env, int r, const char *what) {
        if (r == -EBUSY)
                api_error(resp, 503, "busy", "%s: the store is locked by another process, try again", what);
        else
                api_error(resp, 500, "internal", "%s: %s", what, store_errmsg(env->store));
}

/* Called with env->lock held. */
static int reload_ports(struct api_env *env) {
        portmap_init(&env->ports);
        return store_blocks_mark(env->store, &env->ports);
}

static void vm_create(struct api_env *env, const char *body, size_t len, struct api_response *resp) {
        struct vm_request req;
        char err[API_ERROR_MAX];
        switch (vm_request_decode(body ? body : "", len, &req, err)) {
        case API_DECODE_OK: break;
        case API_DECODE_INVALID_JSON: return api_error(resp, 400, "invalid_json", "%s", err);
        case API_DECODE_INVALID_ARGUMENT: return api_error(resp, 400, "invalid_argument", "%s", err);
        }

        struct vm vm = {.ip = req.ip,
                        .created_at = (int64_t)time(NULL),
                        .proxy_protocol = req.proxy_protocol,
                        .http_passthrough = req.http_passthrough,
                        .n_allow = req.n_allow};
        strcpy(vm.id, req.id);
        memcpy(vm.allow, req.allow, sizeof vm.allow);

        pthread_mutex_lock(&env->lock);
        const struct config *cfg = &env->config;
        struct ip_addr pub;
        if ((ip_addr_parse(cfg->public_ip, &pub) == 0 && ip_addr_equal(&pub, &vm.ip)) ||
            (ip_addr_parse(cfg->public_ip6, &pub) == 0 && ip_addr_equal(&pub, &vm.ip))) {
                api_error(resp, 400, "invalid_argument", "field 'ip': %s is the gateway's own public address",
                          cfg->public_ip6[0] && vm.ip.family == AF_INET6 ? cfg->public_ip6 : cfg->public_ip);
                goto unlock;
        }
        bool reloaded = false;
        int r;
        for (int attempt = 0;; attempt++) {
                r = portmap_find_free(&env->ports, cfg->port_range_start, cfg->port_range_end, cfg->ports_per_vm,
                                      &vm.block_start);
                if (r == -ENOSPC) {
                        api_error(resp, 409, "port_range_exhausted",
                                  "port range %u-%u exhausted: no free block of %u ports left", cfg->port_range_start,
                                  cfg->port_range_end, cfg->ports_per_vm);
                        goto unlock;
                }
                vm.block_size = cfg->ports_per_vm;
                if ((r = slug_generate(env->random, env->random_userdata, vm.slug)) < 0) {
                        api_error(resp, 500, "internal", "cannot generate a slug: %s", strerror(-r));
                        goto unlock;
                }
                enum store_conflict conflict = STORE_CONFLICT_NONE;
                r = store_vm_insert(env->store, &vm, &conflict);
                if (r == 0)
                        break;
                if (r != -EEXIST) {
                        store_error(resp, env, r, "cannot store the VM");
                        goto unlock;
                }
                if (conflict == STORE_CONFLICT_ID) {
                        api_error(resp, 409, "vm_exists", "a VM with id '%s' already exists", vm.id);
                        goto unlock;
                }
                if (conflict == STORE_CONFLICT_IP) {
                        char owner[VM_ID_MAX + 1] = "?", ip[IP_ADDR_STRLEN];
                        (void)store_vm_find_by_ip(env->store, &vm.ip, owner);
                        api_error(resp, 409, "ip_in_use", "address %s is already the target of VM '%s'",
                                  ip_addr_format(&vm.ip, ip), owner);
                        goto unlock;
                }
                if (conflict == STORE_CONFLICT_BLOCK && !reloaded) {
                        /* Another writer took ports behind our back: re-read them once. */
                        log_warning("api: port map was stale; reloading it from the store");
                        if ((r = reload_ports(env)) < 0) {
                                store_error(resp, env, r, "cannot read port blocks");
                                goto unlock;
                        }
                        reloaded = true;
                        continue;
                }
                if (conflict == STORE_CONFLICT_SLUG && attempt < SLUG_ATTEMPTS)
                        continue;
                api_error(resp, 500, "internal", "cannot allocate: %s", store_errmsg(env->store));
                goto unlock;
        }
        portmap_set(&env->ports, vm.block_start, vm.block_size, true);
        json_t *o = vm_to_json(&vm, cfg->datacenter, cfg->domain);
        pthread_mutex_unlock(&env->lock);

        log_info("api: VM %s added: %s ports %u-%u", vm.id, vm.slug, vm.block_start, vm.block_start + vm.block_size - 1);
        json_object_set_new(o, "rules", json_string(rules_state(env, reconciler_request(env->reconciler))));
        resp->status = 201;
        resp->body = o;
        snprintf(resp->location, sizeof resp->location, "/v1/vms/%s", vm.id);
        return;
unlock:
        pthread_mutex_unlock(&env->lock);
}

static void vm_list(struct api_env *env, struct api_response *resp) {
        struct vm *vms = NULL;
        size_t n = 0;
        pthread_mutex_lock(&env->lock);
        int r = store_vm_list(env->store, &vms, &n);
        if (r < 0) {
                store_error(resp, env, r, "cannot list VMs");
                pthread_mutex_unlock(&env->lock);
                return;
        }
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(arr, vm_to_json(&vms[i], env->config.datacenter, env->config.domain));
        pthread_mutex_unlock(&env->lock);
        free(vms);
        resp->status = 200;
        resp->body = json_pack("{s:o}", "vms", arr);
}

static void vm_show(struct api_env *env, const char *id, struct api_response *resp) {
        struct vm vm;
        pthread_mutex_lock(&env->lock);
        int r = store_vm_get(env->store, id, &vm);
        if (r == -ENOENT)
                api_error(resp, 404, "not_found", "no VM with id '%s'", id);
        else if (r < 0)
                store_error(resp, env, r, "cannot read the VM");
        else {
                resp->status = 200;
                resp->body = vm_to_json(&vm, env->config.datacenter, env->config.domain);
        }
        pthread_mutex_unlock(&env->lock);
}

/* Bytes through a VM's user-space forwards, summed over its port block. In kernel mode the
 * per-VM nft counters in_<slug> / out_<slug> hold them instead. */
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
        struct port_map_entry pm[PORTS_PER_VM_MAX];
        size_t n = vm_port_map(vm.block_start, vm.block_size, pm);
        uint64_t in = 0, out = 0;
        for (size_t i = 0; i < n; i++) {
                uint64_t a, b;
                proxy_forward_bytes(env->proxy, (uint8_t)pm[i].proto, pm[i].public_port, &a, &b);
                in += a;
                out += b;
        }
        resp->status = 200;
        resp->body = json_pack("{s:s, s:I, s:I}", "id", vm.id, "bytes_in", (json_int_t)in, "bytes_out", (json_int_t)out);
}

static void vm_remove(struct api_env *env, const char *id, struct api_response *resp) {
        struct vm vm;
        pthread_mutex_lock(&env->lock);
        int r = store_vm_delete(env->store, id, &vm);
        if (r == -ENOENT) {
                api_error(resp, 404, "not_found", "no VM with id '%s'", id);
                pthread_mutex_unlock(&env->lock);
                return;
        }
        if (r < 0) {
                store_error(resp, env, r, "cannot remove the VM");
                pthread_mutex_unlock(&env->lock);
                return;
        }
        portmap_set(&env->ports, vm.block_start, vm.block_size, false);
        json_t *o = vm_to_json(&vm, env->config.datacenter, env->config.domain);
        pthread_mutex_unlock(&env->lock);

        log_info("api: VM %s removed: ports %u-%u released", vm.id, vm.block_start, vm.block_start + vm.block_size - 1);
        resp->status = 200;
        resp->body = json_pack("{s:o, s:s}", "removed", o, "rules",
                               rules_state(env, reconciler_request(env->reconciler)));
}

void api_vms(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        const char *method = rq->method, *rest = rq->rest, *body = rq->body;
        size_t len = rq->len;
        if (rest[0] == '\0' || streq(rest, "/")) {
                if (streq(method, "GET"))
                        return vm_list(env, resp);
                if (streq(method, "POST"))
                        return vm_create(env, body, len, resp);
                resp->allow = "GET, POST";
                return api_error(resp, 405, "method_not_allowed", "%s is not allowed on /v1/vms (use GET or POST)",
                                 method);
        }
        char idbuf[VM_ID_MAX + 2];
        const char *id = rest + 1;
        const char *slash = strchr(id, '/');
        if (slash && streq(slash, "/traffic") && (size_t)(slash - id) < sizeof idbuf) {
                memcpy(idbuf, id, (size_t)(slash - id));
                idbuf[slash - id] = '\0';
                if (!vm_id_valid(idbuf))
                        return api_error(resp, 400, "invalid_argument", "invalid VM id");
                if (!streq(method, "GET")) {
                        resp->allow = "GET";
                        return api_error(resp, 405, "method_not_allowed", "%s is not allowed on /v1/vms/ID/traffic",
                                         method);
                }
                return vm_traffic(env, idbuf, resp);
        }
        if (!vm_id_valid(id))
                return api_error(resp, 400, "invalid_argument",
                                 "invalid VM id: use 1-%d characters of A-Z a-z 0-9 . _ - starting with a letter or digit",
                                 VM_ID_MAX);
        if (streq(method, "GET"))
                return vm_show(env, id, resp);
        if (streq(method, "DELETE"))
                return vm_remove(env, id, resp);
        resp->allow = "GET, DELETE";
        api_error(resp, 405, "method_not_allowed", "%s is not allowed on /v1/vms/ID (use GET or DELETE)", method);
}

int api_expire_vms(struct api_env *env) {
        return 0; /* TEMPORARY stub */
}
