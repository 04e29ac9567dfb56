/* SPDX-License-Identifier: MIT */
/*
 * The store: SQLite, the only truth about desired state. WAL mode, foreign keys on,
 * schema migrations by PRAGMA user_version, every change in one transaction, and UNIQUE
 * constraints plus an overlap trigger that make double allocation impossible even for two
 * processes writing at once. No SQL exists outside this module.
 *
 * Every change also appends the touched key to a change log, so reconcilers can converge
 * only what changed since their cursor (the cost of an add does not grow with the number
 * of VMs) and fall back to a full snapshot after a restart.
 *
 * A struct store is one connection: use it from one thread at a time. Open one per thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../model/dnsrec.h"
#include "../model/lease.h"
#include "../model/portmap.h"
#include "../model/resource.h"
#include "../model/vm.h"

struct store;

enum store_conflict {
        STORE_CONFLICT_NONE,
        STORE_CONFLICT_ID, /* a VM with this id exists */
        STORE_CONFLICT_SLUG, /* slug taken: pick another and retry */
        STORE_CONFLICT_IP, /* another VM targets this address */
        STORE_CONFLICT_BLOCK, /* the port block overlaps another VM's block (or, for a forward, a VM's block) */
        STORE_CONFLICT_HOSTNAME, /* a route or another VM already claims one of the host names */
        STORE_CONFLICT_PORT, /* a forward (or, for a VM, its block overlaps a forward) holds the public port+proto */
};

/* Who holds a contested name or port, for a 409's message. kind is "vm", "route" or "forward". */
struct store_owner {
        char kind[16];
        char id[RESOURCE_ID_MAX + 1];
};

/* Opens (creating if needed) the database at path and migrates it to the current schema.
 * Returns 0 with *ret, or a negative errno with a description in err (optional). */
int store_open(const char *path, struct store **ret, char *err, size_t err_size);
struct store *store_close(struct store *s); /* NULL-safe; returns NULL */
/* The last SQLite error text of this connection (for the caller's log line). */
const char *store_errmsg(const struct store *s);
/* The schema version this build writes. */
int store_schema_version(void);

/* Inserts vm (with its proxy options) and its change-log entry in one transaction. Returns
 * 0; -EINVAL if the options cannot be stored (proxy_protocol out of range, n_allow over
 * VM_ALLOW_MAX, an allow entry that is not a canonical CIDR); -EEXIST with *ret_conflict
 * saying which constraint; -EBUSY if the database stayed locked; other negative errno on
 * failure. */
int store_vm_insert(struct store *s, const struct vm *vm, enum store_conflict *ret_conflict);
/* Deletes the VM by id, returning what it was in *ret_removed (optional). -ENOENT if absent. */
int store_vm_delete(struct store *s, const char *id, struct vm *ret_removed);
/* -ENOENT if absent. The reads (get, list, snapshot, delete's *ret_removed) return -EBADMSG
 * for a row whose options do not parse (edited by hand): an unreadable allow-list is never
 * read as "any source". */
int store_vm_get(struct store *s, const char *id, struct vm *ret);
/* The id of the VM that targets ip, into ret_id. -ENOENT if none. */
int store_vm_find_by_ip(struct store *s, const struct ip_addr *ip, char ret_id[static VM_ID_MAX + 1]);
/* Every VM in creation order; *ret is a malloc'd array the caller frees (NULL when n = 0). */
int store_vm_list(struct store *s, struct vm **ret, size_t *ret_n);
/* Marks every VM's port block used in m (m is not cleared first). */
int store_blocks_mark(struct store *s, struct portmap *m);

/* A consistent snapshot: all VMs plus the change-log position it reflects. */
int store_snapshot_load(struct store *s, struct vm **ret_vms, size_t *ret_n, int64_t *ret_change_seq);

/* The change log. Entries after cursor `after`, up to 'max' of them: keys into ret_ids (the
 * caller frees each and the array), the last seq read into *ret_seq. Keys of every kind
 * (vm, route, forward): a VM-only reader that finds no VM under a route's key moves on;
 * store_changes_read() tells the kinds apart. */
int store_changes_since(struct store *s, int64_t after, size_t max, char ***ret_ids, size_t *ret_n, int64_t *ret_seq);
/* Drops entries with seq <= upto (after every consumer has moved past them). */
int store_changes_prune(struct store *s, int64_t upto);

/* ======================================================================================
 * Schema 3: VM metadata, routes, forwards, tokens, audit.
 *
 * Every mutation below takes `actor` ("unix:uid=0", "token:NAME", "agent", "expiry", ...)
 * and writes, in the same transaction as the change, one audit row (who, when, action
 * "create" | "update" | "delete", kind "vm" | "route" | "forward" | "token", id, and the row
 * before and after as JSON objects made by SQLite's json_object(); token hashes are never in
 * the audit) and, for vm/route/forward, one change-log entry of that kind. store_vm_insert()
 * and store_vm_delete() above are store_vm_create()/store_vm_remove() with default metadata
 * and actor "internal".
 *
 * `if_version`: 0 = unconditional; otherwise the row's version must equal it or the call
 * returns -ESTALE (the API's 412 for If-Match; also for an UPSERT with if_version != 0 whose
 * row does not exist). Versions start at 1 and grow by one on each
 * change that alters the row; a write that changes nothing keeps the version, writes no
 * audit row and no change-log entry (so a retried PUT is free).
 * ====================================================================================== */

enum store_write_mode {
        STORE_WRITE_CREATE, /* -EEXIST (conflict ID) if the id exists */
        STORE_WRITE_UPSERT, /* create, or replace the mutable fields of the existing row */
};
enum store_outcome { STORE_CREATED, STORE_UPDATED, STORE_UNCHANGED };

/* ---- VMs ---- */
/* Inserts vm with meta (NULL = none: no labels, no names, no expiry); meta->version and
 * updated_at are ignored (1 and vm->created_at are written). Conflicts as store_vm_insert plus
 * HOSTNAME (meta's names) and PORT (the block overlaps a forward). */
int store_vm_create(struct store *s, const struct vm *vm, const struct vm_meta *meta, const char *actor,
                    enum store_conflict *ret_conflict);
/* Replaces the mutable fields of VM vm->id: ip, proxy options, and meta's labels,
 * expires_at and host names (slug, block and created_at stay as stored; vm's are ignored).
 * updated_at is set to now when something changed. *ret_outcome is STORE_UPDATED or
 * STORE_UNCHANGED, *ret_version the version after the call. -ENOENT, -ESTALE, -EEXIST with
 * *ret_conflict IP or HOSTNAME, -EINVAL for options that cannot be stored. */
int store_vm_update(struct store *s, const struct vm *vm, const struct vm_meta *meta, int64_t if_version,
                    const char *actor, enum store_conflict *ret_conflict, enum store_outcome *ret_outcome,
                    int64_t *ret_version);
/* Deletes the VM (and its host names, and the leases made with it: vm_id = id, each audited
 * and change-logged as a lease deletion). -ENOENT, -ESTALE. */
int store_vm_remove(struct store *s, const char *id, int64_t if_version, const char *actor, struct vm *ret_removed);
/* The VM's metadata. -ENOENT. */
int store_vm_get_meta(struct store *s, const char *id, struct vm_meta *ret);
/* The id of the VM with this slug, into ret_id. -ENOENT. */
int store_vm_find_by_slug(struct store *s, const char *slug, char ret_id[static VM_ID_MAX + 1]);
/* A page of VMs ordered by id: ids > after (NULL/"" = from the start), at most limit
 * (1..1000, else -EINVAL), only those matching every selector (at most 64). ret_vms and ret_meta are malloc'd arrays of
 * *ret_n entries (NULL when 0); *ret_more tells whether more rows follow. */
int store_vm_list_page(struct store *s, const char *after, size_t limit, const struct label_match *match,
                       size_t n_match, struct vm **ret_vms, struct vm_meta **ret_meta, size_t *ret_n, bool *ret_more);
/* Ids of VMs with 0 < expires_at <= now (malloc'd array of malloc'd strings, at most max). */
int store_vm_expired(struct store *s, int64_t now, size_t max, char ***ret_ids, size_t *ret_n);

/* ---- host names (extra VM names and routes share one namespace) ---- */
struct store_hostname {
        char name[DNS_NAME_MAX + 1];
        struct store_owner owner; /* kind "vm" or "route" */
};
/* Every claimed host name (malloc'd array, NULL when none). */
int store_hostnames_list(struct store *s, struct store_hostname **ret, size_t *ret_n);
/* The host names owner kind/id claims, by name (malloc'd array, NULL when none). */
int store_hostnames_of(struct store *s, const char *kind, const char *id, struct store_hostname **ret,
                       size_t *ret_n);
/* Who claims name. -ENOENT if nobody. */
int store_hostname_owner(struct store *s, const char *name, struct store_owner *ret);
/* Who holds public port+proto: a forward, or a VM whose block contains the port (any
 * proto). -ENOENT if nobody. */
int store_port_owner(struct store *s, uint16_t port, enum proto proto, struct store_owner *ret);

/* ---- routes ---- */
/* Creates or replaces route r (by r->id); created_at/updated_at/version are the store's.
 * Conflicts: ID (CREATE mode), HOSTNAME. -ESTALE, -EINVAL. The result is read back into
 * *ret_stored (optional). */
int store_route_put(struct store *s, const struct route_def *r, enum store_write_mode mode, int64_t if_version,
                    const char *actor, enum store_conflict *ret_conflict, enum store_outcome *ret_outcome,
                    struct route_def *ret_stored);
int store_route_get(struct store *s, const char *id, struct route_def *ret); /* -ENOENT */
int store_route_remove(struct store *s, const char *id, int64_t if_version, const char *actor,
                       struct route_def *ret_removed);
/* A page ordered by id, as store_vm_list_page. origin < 0 = any, else only that origin. */
int store_route_list_page(struct store *s, const char *after, size_t limit, const struct label_match *match,
                          size_t n_match, int origin, struct route_def **ret, size_t *ret_n, bool *ret_more);
/* Every route (for the reconciler). */
int store_route_list_all(struct store *s, struct route_def **ret, size_t *ret_n);

/* ---- forwards ---- */
/* Creates or replaces forward f. Conflicts: ID (CREATE mode), PORT (another forward holds
 * public_port/proto), BLOCK (public_port is inside a VM's port block). */
int store_forward_put(struct store *s, const struct forward_def *f, enum store_write_mode mode, int64_t if_version,
                      const char *actor, enum store_conflict *ret_conflict, enum store_outcome *ret_outcome,
                      struct forward_def *ret_stored);
int store_forward_get(struct store *s, const char *id, struct forward_def *ret); /* -ENOENT */
int store_forward_remove(struct store *s, const char *id, int64_t if_version, const char *actor,
                         struct forward_def *ret_removed);
int store_forward_list_page(struct store *s, const char *after, size_t limit, const struct label_match *match,
                            size_t n_match, int origin, struct forward_def **ret, size_t *ret_n, bool *ret_more);
int store_forward_list_all(struct store *s, struct forward_def **ret, size_t *ret_n);
/* Marks every forward's public port used in m (with store_blocks_mark: what allocation must avoid). */
int store_forward_ports_mark(struct store *s, struct portmap *m);

/* A consistent snapshot for a full reconcile: VMs, forwards, routes and the change-log
 * position they reflect (arrays malloc'd, NULL when empty). */
int store_snapshot_load_all(struct store *s, struct vm **ret_vms, size_t *ret_n_vms, struct forward_def **ret_fwds,
                            size_t *ret_n_fwds, int64_t *ret_change_seq);

/* The change log with kinds: entries after `after`, at most max. */
struct store_change {
        int64_t seq;
        char kind[16]; /* "vm", "route", "forward" */
        char key[RESOURCE_ID_MAX + 1];
};
int store_changes_read(struct store *s, int64_t after, size_t max, struct store_change **ret, size_t *ret_n);

/* ---- counts (metrics) ---- */
struct store_counts {
        uint64_t vms, routes, forwards, tokens, hostnames;
        uint64_t block_ports; /* sum of the VMs' block sizes */
};
int store_counts(struct store *s, struct store_counts *ret);

/* ---- tokens ---- */
/* Adds t (name and key_id unique: -EEXIST). Audited as kind "token" without the hash. */
int store_token_add(struct store *s, const struct token_rec *t, const char *actor);
int store_token_list(struct store *s, struct token_rec **ret, size_t *ret_n); /* by name */
int store_token_get_by_key(struct store *s, const char *key_id, struct token_rec *ret); /* -ENOENT */
int store_token_remove(struct store *s, const char *name, const char *actor, struct token_rec *ret_removed);
/* Records last use (no audit, no change log). */
int store_token_touch(struct store *s, const char *name, int64_t when);

/* ---- audit ---- */
#define AUDIT_ACTOR_MAX 95
struct audit_rec {
        int64_t seq;
        int64_t at; /* unix seconds */
        char actor[AUDIT_ACTOR_MAX + 1];
        char action[16]; /* "create", "update", "delete" */
        char kind[16]; /* "vm", "route", "forward", "token", "dns" */
        char key[DNS_NAME_MAX + 1]; /* an id, or for kind "dns" a DNS name */
        char *before; /* JSON object text (malloc'd) or NULL */
        char *after;
};
void audit_recs_free(struct audit_rec *a, size_t n); /* NULL-safe */
/* Newest first: seq < before (0 = from the newest), at most limit (1..1000), optionally only
 * one kind and/or key (NULL = any). */
int store_audit_list(struct store *s, int64_t before, size_t limit, const char *kind, const char *key,
                     struct audit_rec **ret, size_t *ret_n);

/* ======================================================================================
 * Schema 4: the DNS outbox (issue 5). One row per wanted (name, type), with where it stands
 * with the provider. The DNS reconciler is the only writer of states after sync; no audit,
 * no change log (the records follow from VMs and routes, which have both).
 * ====================================================================================== */

enum store_dns_state {
        STORE_DNS_PENDING, /* to create or update at the provider */
        STORE_DNS_SYNCED, /* the provider has it as wanted */
        STORE_DNS_ERROR, /* the last attempt failed: last_error, retried at next_retry_at */
        STORE_DNS_DELETING, /* no longer wanted: kept until the provider confirms removal */
};
const char *store_dns_state_to_string(enum store_dns_state st); /* "pending", ...; NULL otherwise */
int store_dns_state_from_string(const char *text, enum store_dns_state *ret); /* 0 or -EINVAL */

#define STORE_DNS_ERROR_MAX 255
#define STORE_DNS_REF_MAX 63

struct store_dns_record {
        struct dns_record_want want;
        enum store_dns_state state;
        char last_error[STORE_DNS_ERROR_MAX + 1]; /* "" unless the last attempt failed */
        uint32_t attempts; /* failed attempts since the row last changed or synced */
        int64_t next_retry_at; /* unix seconds: not due before */
        char provider_ref[STORE_DNS_REF_MAX + 1]; /* e.g. the Cloudflare record id; "" = unknown */
        int64_t updated_at;
};

/* Makes the outbox match wants (n entries sorted strictly by dns_record_want_compare(), as
 * dns_records_desired() returns them; else -EINVAL) in one transaction: a row no longer
 * wanted becomes 'deleting' (due at now); a new row, or one whose content, ttl, proxied or
 * owner differs, or one being deleted, becomes 'pending' with attempts 0 and due at now;
 * an equal row is untouched (whatever its state). *ret_changed (optional) counts the rows
 * written: 0 means the call changed nothing. */
int store_dns_sync_desired(struct store *s, const struct dns_record_want *wants, size_t n, int64_t now,
                           size_t *ret_changed);
/* Rows with work to do (pending, error, deleting) and next_retry_at <= now, soonest first,
 * at most max (malloc'd array, NULL when none). */
int store_dns_due(struct store *s, int64_t now, size_t max, struct store_dns_record **ret, size_t *ret_n);
/* The reconciler's result for one row. state is PENDING, SYNCED or ERROR (-EINVAL for
 * DELETING: only sync retires rows). ERROR stores error (NULL = "") and counts an attempt;
 * the others clear last_error and attempts. provider_ref NULL keeps the stored one. On a
 * 'deleting' row, SYNCED (the provider confirmed removal) deletes the row and ERROR keeps
 * it 'deleting' with the error. -ENOENT when there is no such row. */
int store_dns_mark(struct store *s, const char *name, uint16_t type, enum store_dns_state state, const char *error,
                   int64_t next_retry_at, const char *provider_ref);
/* Every synced or erroring row back to pending, due at now (a new provider gets everything
 * again), in one statement. */
int store_dns_republish(struct store *s, int64_t now);
/* The same, guarded: seen is the row as store_dns_due() returned it. The result is stored
 * only if the row still asks for what was pushed: a 'deleting' row still deleting, a
 * pending/error row still pending/error with the same content, ttl, proxied and owner.
 * Otherwise -ESTALE (sync_desired changed it meanwhile; the new state is due anyway). */
int store_dns_mark_seen(struct store *s, const struct store_dns_record *seen, enum store_dns_state state,
                        const char *error, int64_t next_retry_at, const char *provider_ref);
/* ======================================================================================
 * Schema 5 (issue 5, provider "edgegw"): the records other nodes publish through this one
 * (POST /api/v1/agents/dns). Each (name, type) row is owned by the token (name) that created
 * it, or by this node's operator (token "", created over the unix socket). Writes are
 * audited (kind "dns", key the name; the images carry the type), without change-log entries:
 * the API kicks the DNS reconciler itself. A removed token's rows stay (its node can no
 * longer retract them; the operator can).
 * ====================================================================================== */
struct store_dns_remote {
        struct dns_record_want want; /* owner_kind "node", owner_id the owning token's name */
        char datacenter[TOKEN_DATACENTER_MAX + 1]; /* the token's (or the seed body's) datacenter, "" = none */
        int64_t created_at, updated_at;
};
/* Creates or updates (name, type) of w with w's content, ttl and proxied (w's owner is
 * ignored). token: the writer's token name, or NULL for this node's operator, who may
 * change any row (a row the operator creates is owned by token ""; a row it updates keeps
 * its owner). datacenter is stored with the row. A row owned by another token: -EPERM
 * (errmsg names the owner), nothing written. An equal row (content, ttl, proxied,
 * datacenter): nothing written, no audit, *ret_changed false. -EINVAL for a name that is
 * not dns_name_valid(), a type other than A/AAAA, empty content, ttl 0. */
int store_dns_remote_put(struct store *s, const struct dns_record_want *w, const char *token, const char *datacenter,
                         const char *actor, bool *ret_changed);
/* Removes (name, type). token as for put: another token's row is -EPERM. A missing row is
 * 0 with *ret_removed false (retries are safe). */
int store_dns_remote_remove(struct store *s, const char *name, uint16_t type, const char *token, const char *actor,
                            bool *ret_removed);
/* The row (name, type). -ENOENT. */
int store_dns_remote_get(struct store *s, const char *name, uint16_t type, struct store_dns_remote *ret);
/* Every row by (name, type) (malloc'd array, NULL when none). */
int store_dns_remote_rows(struct store *s, struct store_dns_remote **ret, size_t *ret_n);
/* The rows as wants with owner_kind "node" and owner_id the owning token's name ("" for the
 * operator's), sorted by (name, type) (malloc'd array, NULL when none). The DNS reconciler
 * merges them into the outbox after this node's own records. */
int store_dns_remote_list(struct store *s, struct dns_record_want **ret, size_t *ret_n);
/* The rows one owner (kind "vm", "route", "node"; its id) wants, by (name, type). */
int store_dns_list_owner(struct store *s, const char *kind, const char *id, struct store_dns_record **ret,
                         size_t *ret_n);
/* Every row, by (name, type) (malloc'd array, NULL when none). */
int store_dns_list(struct store *s, struct store_dns_record **ret, size_t *ret_n);

/* ======================================================================================
 * Schema 7: DHCP leases (issue 6). Each change is one transaction with an audit row (kind
 * "lease", key the MAC) and a change-log entry (kind "lease"), so the reconciler renders
 * the dnsmasq files and the anti-spoofing set from it.
 * ====================================================================================== */

/* Adds l. -EEXIST with *ret_conflict (optional): STORE_CONFLICT_ID (the MAC has a lease),
 * STORE_CONFLICT_IP (the address is leased), STORE_CONFLICT_HOSTNAME (the name is taken);
 * -EINVAL for a field that cannot be stored. */
int store_lease_add(struct store *s, const struct lease *l, const char *actor, enum store_conflict *ret_conflict);
int store_lease_get(struct store *s, const uint8_t mac[static MAC_LEN], struct lease *ret); /* -ENOENT */
/* Every lease, by address (malloc'd array, NULL when none). */
int store_lease_list(struct store *s, struct lease **ret, size_t *ret_n);
/* Deletes the MAC's lease (what it was into *ret_removed, optional). -ENOENT. */
int store_lease_remove(struct store *s, const uint8_t mac[static MAC_LEN], const char *actor, struct lease *ret_removed);
/* The lease at address ip / with host name name. -ENOENT. */
int store_lease_find_ip(struct store *s, uint32_t ip, struct lease *ret);
int store_lease_find_name(struct store *s, const char *name, struct lease *ret);
/* VM vm's lease: the one at its (IPv4) address, else one made with it (vm_id). -ENOENT. */
int store_lease_of_vm(struct store *s, const struct vm *vm, struct lease *ret);
/* A page of leases by MAC text: MACs > after (NULL/"" = from the start; lower-case
 * "aa:bb:cc:dd:ee:ff"), at most limit (1..1000, else -EINVAL); *ret malloc'd (NULL when
 * none), *ret_more whether more follow. */
int store_lease_list_page(struct store *s, const char *after, size_t limit, struct lease **ret, size_t *ret_n,
                          bool *ret_more);

/* `vm add --mac` (POST /v1/vms with "mac"): store_vm_create() and, in the same transaction,
 * lease (NULL = none; its ip must be the VM's IPv4 address, its vm_id is normally vm->id).
 * -EEXIST with either *ret_conflict (the VM's, as store_vm_create) or *ret_lease_conflict
 * (the lease's, as store_lease_add) set; nothing is written then. */
int store_vm_create_leased(struct store *s, const struct vm *vm, const struct vm_meta *meta, const struct lease *lease,
                           const char *actor, enum store_conflict *ret_conflict,
                           enum store_conflict *ret_lease_conflict);
/* store_vm_update() plus a new lease in the same transaction, as store_vm_create_leased().
 * A VM that did not change is STORE_UNCHANGED (its version stays) even when the lease was
 * added. */
int store_vm_update_leased(struct store *s, const struct vm *vm, const struct vm_meta *meta, const struct lease *lease,
                           int64_t if_version, const char *actor, enum store_conflict *ret_conflict,
                           enum store_conflict *ret_lease_conflict, enum store_outcome *ret_outcome,
                           int64_t *ret_version);
/* store_vm_remove(), also handing back the leases it removed with the VM (*ret_leases
 * malloc'd, NULL when none; both optional together). */
int store_vm_remove_leased(struct store *s, const char *id, int64_t if_version, const char *actor,
                           struct vm *ret_removed, struct lease **ret_leases, size_t *ret_n_leases);
