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

#include <stddef.h>
#include <stdint.h>

#include "../model/portmap.h"
#include "../model/vm.h"

struct store;

enum store_conflict {
        STORE_CONFLICT_NONE,
        STORE_CONFLICT_ID, /* a VM with this id exists */
        STORE_CONFLICT_SLUG, /* slug taken: pick another and retry */
        STORE_CONFLICT_IP, /* another VM targets this address */
        STORE_CONFLICT_BLOCK, /* the port block overlaps another */
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

/* The change log. Entries after cursor `after`, up to 'max' of them: ids into ret_ids (the
 * caller frees each and the array), the last seq read into *ret_seq. */
int store_changes_since(struct store *s, int64_t after, size_t max, char ***ret_ids, size_t *ret_n, int64_t *ret_seq);
/* Drops entries with seq <= upto (after every consumer has moved past them). */
int store_changes_prune(struct store *s, int64_t upto);
