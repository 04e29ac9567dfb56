/* SPDX-License-Identifier: MIT */
/*
 * What the resource handlers (vms.c, routes.c, forwards.c, agent.c) share beside the pure
 * codecs of resjson.h: the method dispatch of a collection, turning decode and store failures
 * into answers, the answers themselves, ETag / If-Match, list queries and pages, the "rules"
 * wait, and the 409 messages that name who holds a host name or a port. Called on API
 * threads; functions marked "lock held" expect env->lock.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "api.h"
#include "resjson.h"
#include "store/store.h"

/* GET or HEAD (the server sends no body for HEAD). */
bool api_method_is_get(const char *method);

/* The handlers of one collection (/v1/routes, /http/routes) and of its items (PATH/ID). A
 * collection takes GET (list) and POST (create); its items take GET, PUT and DELETE (show,
 * put, remove), or DELETE alone (remove; show and put NULL). */
typedef void (*api_collection_fn)(struct api_env *env, const struct api_request *rq, struct api_response *resp);
typedef void (*api_item_fn)(struct api_env *env, const struct api_request *rq, const char *id,
                            struct api_response *resp);
struct api_methods {
        const char *path; /* "/v1/routes": in 405 messages */
        const char *kind; /* "route": in the 400 of a bad id */
        api_collection_fn list, create;
        api_item_fn show, put, remove;
};
/* Calls the handler of m that rq's path (rq->rest: "" or "/ID") and method ask for; answers
 * 400 for a bad id and 405 (with Allow) for a method m does not take. */
void api_serve(const struct api_methods *m, struct api_env *env, const struct api_request *rq,
               struct api_response *resp);

/* rq->rest as a collection ("" or "/": returns 0) or one resource ("/ID": returns 1 with
 * *ret_id pointing into rest). Anything else (a bad id, a sub-path) answers 400 naming kind
 * and returns -1. */
int api_path_id(const char *rest, const char *kind, const char **ret_id, struct api_response *resp);

/* Answers a refused decode with its status and code (400/422) and err as the message. */
void api_decode_failed(struct api_response *resp, enum api_decode_status st, const char *err);
/* Answers a store failure: -EBUSY 503 busy, -ESTALE 412 precondition_failed, else 500 with
 * the store's message. Lock held. */
void api_store_failed(struct api_response *resp, struct api_env *env, int r, const char *what);

/* Asks the reconciler for a run and waits for it (at most env->apply_wait_ms): "applied" or
 * "pending". Call without the lock. */
const char *api_rules_state(struct api_env *env);

/* ETag: "\"<version>\"". */
void api_set_etag(struct api_response *resp, int64_t version);

/* rq's If-Match header. On a bad header answers 400 and returns false. *ret as
 * api_if_match_parse(). */
bool api_if_match(const struct api_request *rq, struct api_response *resp, int64_t *ret);
/* The store's if_version for a parsed If-Match on a resource that exists: 0 (none or "*")
 * or the version. A tag that no version can match ("0") answers 412 and returns false. */
bool api_if_version(int64_t match, const char *kind, const char *id, struct api_response *resp, int64_t *ret);
/* Answers 412 for a write the store refused with -ESTALE: kind ("vm", "route", "forward") id's
 * current version (read from the store) is not wanted. Lock held. */
void api_stale(struct api_env *env, struct api_response *resp, const char *kind, const char *id, int64_t wanted);
/* Answers 412 for an If-Match on a resource that does not exist. */
void api_if_match_absent(struct api_response *resp, const char *kind, const char *id);
/* The store's if_version for PUT of kind id, given found (0: the store has it, -ENOENT: it has
 * not, else the failed read's error) and the parsed If-Match. Answers 412 (or 5xx for a
 * failed read) and returns false when the write may not go on. Lock held. */
bool api_put_if_version(struct api_env *env, int found, int64_t match, const char *kind, const char *id,
                        struct api_response *resp, int64_t *ret);

/* Answers a failed read of kind id: 404 for -ENOENT, else as api_store_failed(). Lock held. */
void api_read_failed(struct api_env *env, struct api_response *resp, int r, const char *kind, const char *id);
/* Answers a store write of kind id refused with r: 409 KIND_exists (-EEXIST; a conflict other
 * than the id's is the caller's to answer), 412 as api_stale() (-ESTALE), else as
 * api_store_failed(). Lock held. */
void api_write_failed(struct api_env *env, struct api_response *resp, int r, const char *kind, const char *id,
                      int64_t if_version);
/* Answers a removal of kind id refused with r: 404 (-ENOENT), 412 as api_stale() (-ESTALE), else
 * as api_store_failed(). Lock held. */
void api_remove_failed(struct api_env *env, struct api_response *resp, int r, const char *kind, const char *id,
                       int64_t if_version);

/* The answers of the resource handlers, given the resource's JSON object o (a new reference
 * that becomes resp's; NULL when it could not be encoded: 500 naming kind and id). */
/* GET of one resource: 200, ETag version. */
void api_answer_one(struct api_response *resp, json_t *o, const char *kind, const char *id, int64_t version);
/* A stored write: 201 with Location PATH/ID when outcome is STORE_CREATED, else 200; ETag
 * version; "rules" once the reconciler ran (api_rules_state). Call without the lock. */
void api_answer_stored(struct api_env *env, struct api_response *resp, json_t *o, const char *kind,
                       const char *path, const char *id, int64_t version, enum store_outcome outcome);
/* A removal: 200 {"removed": o, "rules"}. Call without the lock. */
void api_answer_removed(struct api_env *env, struct api_response *resp, json_t *o, const char *kind, const char *id);
/* Appends o, the object of list item kind id, to arr; false with a 500 in resp (o released)
 * when o is NULL or cannot be appended. */
bool api_list_add(json_t *arr, json_t *o, const char *kind, const char *id, struct api_response *resp);

/* One page of a collection: the rows after `after` ("" = from the start), at most limit, with
 * every label selector of match[0..n_match), of origin (enum resource_origin, -1 = any). */
struct api_page {
        const char *after;
        size_t limit;
        const struct label_match *match;
        size_t n_match;
        int origin;
};
/* Appends page's rows of one kind to arr, as the seed agent's objects when agent, else as
 * /v1's; ret_next gets the last id when more rows follow, else "". Answers and returns a
 * negative errno on failure. Takes and releases the lock. */
typedef int (*api_page_fn)(struct api_env *env, const struct api_page *page, bool agent, json_t *arr,
                           char ret_next[static RESOURCE_ID_MAX + 1], struct api_response *resp);
/* GET /v1/COLLECTION: the page rq's list query asks for, as {COLLECTION: [...], "next"}. */
void api_list(struct api_env *env, const struct api_request *rq, struct api_response *resp, const char *collection,
              api_page_fn page);

/* rq's list query (see api_list_query_parse); on a bad one answers 400 and returns false. */
bool api_list_query(const struct api_request *rq, bool allow_bytes, struct api_list_query *ret,
                    struct api_response *resp);
/* Refuses any query argument (400) for calls that take none; true when there is none. */
bool api_no_query(const struct api_request *rq, struct api_response *resp);

/* "VM 'x'", "route 'x'", "forward 'x'". */
const char *api_owner_describe(const struct store_owner *o, char *buf, size_t n);

/* Whether resource (kind "vm" or "route", id) may claim host name name: not a VM's generated
 * name (409 hostname_in_use) nor shaped like one (400, reserved), not another resource's
 * (409 hostname_in_use naming it). Answers and returns false when not. Lock held. */
bool api_hostname_claimable(struct api_env *env, const char *name, const char *kind, const char *id,
                            struct api_response *resp);
/* After the store refused names with STORE_CONFLICT_HOSTNAME: answers 409 naming the first
 * of names[0..n) held by someone other than (kind, id). Lock held. */
void api_hostname_conflict(struct api_env *env, const char *const *names, size_t n, const char *kind,
                           const char *id, struct api_response *resp);

/* Whether a forward may take public port/proto: not a listener of the gateway itself
 * (https_listen, http_listen, api_listen, metrics_listen; TCP only). Answers 409 port_in_use
 * and returns false when not. Lock held (reads env->config). */
bool api_port_not_listener(struct api_env *env, uint16_t port, enum proto proto, struct api_response *resp);
/* False (with a 409 port_in_use in resp) when a socket of the gateway itself is bound to
 * port/proto (a TCP listener or a bound UDP socket, read from /proc/net). */
bool api_port_not_local(uint16_t port, enum proto proto, struct api_response *resp);
/* Answers 409 port_in_use naming who holds port/proto (a forward, or a VM's block with its
 * range). Lock held. */
void api_port_conflict(struct api_env *env, uint16_t port, enum proto proto, struct api_response *resp);

/* routes.c and forwards.c: the api_page_fn of routes and of forwards. */
int api_route_page(struct api_env *env, const struct api_page *page, bool agent, json_t *arr,
                   char ret_next[static RESOURCE_ID_MAX + 1], struct api_response *resp);
int api_forward_page(struct api_env *env, const struct api_page *page, bool agent, json_t *arr,
                     char ret_next[static RESOURCE_ID_MAX + 1], struct api_response *resp);

/* routes.c: checks route r (target not the gateway, host name claimable) and stores it
 * (mode, if_version as the store's), reading the stored row into *ret_stored. On failure
 * answers (400/409/412/5xx) and returns a negative errno. Lock held. */
int api_route_store(struct api_env *env, const char *actor, const struct route_def *r, enum store_write_mode mode,
                    int64_t if_version, struct route_def *ret_stored, enum store_outcome *ret_outcome,
                    struct api_response *resp);
/* forwards.c: the same for forward f (target not the gateway, public port not a listener,
 * not another forward's nor inside a VM's block), keeping the port map in step. Lock held. */
int api_forward_store(struct api_env *env, const char *actor, const struct forward_def *f, enum store_write_mode mode,
                      int64_t if_version, struct forward_def *ret_stored, enum store_outcome *ret_outcome,
                      struct api_response *resp);
/* forwards.c: removes forward id (if_version as the store's) into *ret_removed, freeing its
 * port in the port map; answers 404/412/5xx on failure. Lock held. */
int api_forward_remove(struct api_env *env, const char *id, int64_t if_version, const char *actor,
                       struct forward_def *ret_removed, struct api_response *resp);

/* Re-reads the port map from the store: every VM block and every forward's public port.
 * Lock held. */
int api_ports_reload(struct api_env *env);

/* leases.c (issue 6), for /v1/leases and `vm add --mac`. Lock held. */
/* The address of a new lease: want (0 = none) when [dhcp] allows it (422 invalid_lease
 * otherwise), else the lowest free pool address that no lease holds and no VM targets (409
 * pool_exhausted when there is none). 409 dhcp_disabled without a [dhcp] pool. Answers and
 * returns a negative errno on failure. */
int api_lease_pick(struct api_env *env, uint32_t want, uint32_t *ret_ip, struct api_response *resp);
/* Answers 409 for lease l refused by the store with conflict c, naming the holder: the
 * MAC's lease (lease_exists), the address's MAC (ip_in_use), the name's MAC (name_in_use). */
void api_lease_conflict(struct api_env *env, const struct lease *l, enum store_conflict c, struct api_response *resp);
/* Answers 409 lease_exists for MAC mac's lease held. */
void api_lease_exists(const struct lease *held, struct api_response *resp);
/* Marks ip leased in the pool, or frees it after a removal. */
void api_lease_pool_set(struct api_env *env, uint32_t ip, bool used);
