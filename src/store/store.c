/* SPDX-License-Identifier: MIT */
/*
 * SQLite backend of the store: schema, migrations and typed queries.
 */
#include "store.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/util.h"

struct store {
        sqlite3 *db;
        char errmsg[256];
};

/* Each entry moves the schema from version i to i+1. Never edit a shipped entry: add one. */
static const char *const migrations[] = {
        /* 1: VMs with their port blocks, and the change log. */
        "CREATE TABLE vms ("
        "  id TEXT PRIMARY KEY NOT NULL,"
        "  slug TEXT NOT NULL UNIQUE,"
        "  ip TEXT NOT NULL UNIQUE,"
        "  block_start INTEGER NOT NULL UNIQUE CHECK (block_start BETWEEN 1 AND 65535),"
        "  block_size INTEGER NOT NULL CHECK (block_size BETWEEN 1 AND 1000),"
        "  created_at INTEGER NOT NULL,"
        "  CHECK (block_start + block_size - 1 <= 65535)"
        ");"
        /* UNIQUE(block_start) stops two blocks at one start; this stops any overlap. Blocks
         * are at most 1000 ports, so only starts in (start-1000, end] can collide and the
         * index keeps the check O(log n). */
        "CREATE TRIGGER vms_block_no_overlap BEFORE INSERT ON vms "
        "WHEN EXISTS (SELECT 1 FROM vms o WHERE o.block_start > NEW.block_start - 1000"
        "  AND o.block_start < NEW.block_start + NEW.block_size"
        "  AND o.block_start + o.block_size > NEW.block_start) "
        "BEGIN SELECT RAISE(ABORT, 'port block overlaps another VM'); END;"
        "CREATE TABLE changes ("
        "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  kind TEXT NOT NULL,"
        "  key TEXT NOT NULL"
        ");",
        /* 2: the SNI proxy's per-VM options. Existing VMs get the defaults: no PROXY header,
         * plain HTTP redirected to HTTPS, any source allowed. `allow` holds canonical CIDRs
         * separated by one space ('' = any source). */
        "ALTER TABLE vms ADD COLUMN proxy_protocol TEXT NOT NULL DEFAULT 'none'"
        "  CHECK (proxy_protocol IN ('none','v1','v2'));"
        "ALTER TABLE vms ADD COLUMN http_passthrough INTEGER NOT NULL DEFAULT 0"
        "  CHECK (http_passthrough IN (0,1));"
        "ALTER TABLE vms ADD COLUMN allow TEXT NOT NULL DEFAULT '';",
};

int store_schema_version(void) {
        return (int)ELEMENTSOF(migrations);
}

const char *store_errmsg(const struct store *s) {
        return s->errmsg;
}

static int store_fail(struct store *s, int rc) {
        snprintf(s->errmsg, sizeof s->errmsg, "%s", sqlite3_errmsg(s->db));
        switch (rc & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED: return -EBUSY;
        case SQLITE_CONSTRAINT: return -EEXIST;
        case SQLITE_NOMEM: return -ENOMEM;
        case SQLITE_FULL: return -ENOSPC;
        case SQLITE_READONLY:
        case SQLITE_PERM:
        case SQLITE_AUTH: return -EACCES;
        case SQLITE_CANTOPEN: return -ENOENT;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB: return -EBADMSG;
        default: return -EIO;
        }
}

static int exec(struct store *s, const char *sql) {
        char *msg = NULL;
        int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
        if (rc != SQLITE_OK) {
                int r = store_fail(s, rc);
                snprintf(s->errmsg, sizeof s->errmsg, "%s", msg ? msg : sqlite3_errstr(rc));
                sqlite3_free(msg);
                return r;
        }
        return 0;
}

static int prepare(struct store *s, const char *sql, sqlite3_stmt **ret) {
        int rc = sqlite3_prepare_v2(s->db, sql, -1, ret, NULL);
        return rc == SQLITE_OK ? 0 : store_fail(s, rc);
}

/* Reads the schema version and refuses one newer than this build. store_open() calls it
 * before anything that writes to the file (journal_mode = WAL is stored in the file), so a
 * newer database really is left untouched. */
static int check_version(struct store *s, int *ret_version) {
        sqlite3_stmt *st;
        int r = prepare(s, "PRAGMA user_version", &st);
        if (r < 0)
                return r;
        int version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
        sqlite3_finalize(st);
        if (version > store_schema_version()) {
                snprintf(s->errmsg, sizeof s->errmsg,
                         "database schema version %d is newer than this edgegw (%d): refusing to touch it", version,
                         store_schema_version());
                return -EPROTO;
        }
        *ret_version = version;
        return 0;
}

static int migrate(struct store *s) {
        int version;
        int r = check_version(s, &version);
        if (r < 0)
                return r;
        for (int v = version; v < store_schema_version(); v++) {
                char pragma[64];
                snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
                r = exec(s, "BEGIN IMMEDIATE");
                if (r < 0)
                        return r;
                if ((r = exec(s, migrations[v])) < 0 || (r = exec(s, pragma)) < 0 || (r = exec(s, "COMMIT")) < 0) {
                        char saved[sizeof s->errmsg];
                        memcpy(saved, s->errmsg, sizeof saved);
                        exec(s, "ROLLBACK");
                        snprintf(s->errmsg, sizeof s->errmsg, "migration to schema %d failed: %.200s", v + 1, saved);
                        return r;
                }
        }
        return 0;
}

int store_open(const char *path, struct store **ret, char *err, size_t err_size) {
        struct store *s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                                 NULL);
        int r;
        if (rc != SQLITE_OK) {
                r = s->db ? store_fail(s, rc) : -ENOMEM;
                goto fail;
        }
        sqlite3_busy_timeout(s->db, 5000);
        sqlite3_extended_result_codes(s->db, 1);
        int version;
        if ((r = check_version(s, &version)) < 0)
                goto fail;
        /* FULL: a VM the API acknowledged survives power loss, not only a crash. */
        if ((r = exec(s, "PRAGMA journal_mode = WAL")) < 0 || (r = exec(s, "PRAGMA synchronous = FULL")) < 0 ||
            (r = exec(s, "PRAGMA foreign_keys = ON")) < 0 || (r = migrate(s)) < 0)
                goto fail;
        *ret = s;
        return 0;
fail:
        if (err && err_size)
                snprintf(err, err_size, "%s", s->errmsg[0] ? s->errmsg : strerror(-r));
        sqlite3_close(s->db);
        free(s);
        return r;
}

struct store *store_close(struct store *s) {
        if (!s)
                return NULL;
        sqlite3_close(s->db);
        free(s);
        return NULL;
}

/* The allow column: canonical CIDRs separated by one space; "" for none. */
#define ALLOW_TEXT_MAX (VM_ALLOW_MAX * (IP_ADDR_STRLEN + 4 + 1))

static void allow_format(const struct vm *vm, char buf[static ALLOW_TEXT_MAX]) {
        size_t len = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < vm->n_allow; i++) {
                char cidr[IP_ADDR_STRLEN + 4];
                len += (size_t)snprintf(buf + len, ALLOW_TEXT_MAX - len, "%s%s", i ? " " : "",
                                        ip_cidr_format(&vm->allow[i], cidr));
        }
}

static int allow_parse(const char *text, struct vm *vm) {
        char copy[ALLOW_TEXT_MAX], *save = NULL;
        if (strcpy_bounded(copy, sizeof copy, text) < 0)
                return -EBADMSG;
        vm->n_allow = 0;
        for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
                if (vm->n_allow == VM_ALLOW_MAX || ip_cidr_parse(t, &vm->allow[vm->n_allow]) < 0)
                        return -EBADMSG;
                vm->n_allow++;
        }
        return 0;
}

/* Whether the store can write vm's options so that they read back the same. */
static bool vm_options_valid(const struct vm *vm) {
        if (!vm_proxy_protocol_to_string(vm->proxy_protocol) || vm->n_allow > VM_ALLOW_MAX)
                return false;
        for (size_t i = 0; i < vm->n_allow; i++) {
                const struct ip_cidr *c = &vm->allow[i];
                char text[IP_ADDR_STRLEN + 4];
                struct ip_cidr back;
                if ((c->addr.family != AF_INET && c->addr.family != AF_INET6) ||
                    ip_cidr_parse(ip_cidr_format(c, text), &back) < 0 || !ip_addr_equal(&back.addr, &c->addr))
                        return false;
        }
        return true;
}

/* Reads a row of VM_COLUMNS. -EBADMSG (and errmsg) for a row this build cannot read: an
 * allow-list that does not parse is refused rather than read as "any source". */
static int vm_from_row(struct store *s, sqlite3_stmt *st, struct vm *ret) {
        struct vm vm = {0};
        snprintf(vm.id, sizeof vm.id, "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(vm.slug, sizeof vm.slug, "%s", (const char *)sqlite3_column_text(st, 1));
        (void)ip_addr_parse((const char *)sqlite3_column_text(st, 2), &vm.ip);
        vm.block_start = (uint16_t)sqlite3_column_int(st, 3);
        vm.block_size = (uint16_t)sqlite3_column_int(st, 4);
        vm.created_at = sqlite3_column_int64(st, 5);
        const char *proxy = (const char *)sqlite3_column_text(st, 6);
        enum vm_proxy_protocol p;
        if (!proxy || vm_proxy_protocol_from_string(proxy, &p) < 0) {
                snprintf(s->errmsg, sizeof s->errmsg, "VM '%s': unreadable proxy_protocol in the store", vm.id);
                return -EBADMSG;
        }
        vm.proxy_protocol = (uint8_t)p;
        vm.http_passthrough = sqlite3_column_int(st, 7) != 0;
        const char *allow = (const char *)sqlite3_column_text(st, 8);
        if (!allow || allow_parse(allow, &vm) < 0) {
                snprintf(s->errmsg, sizeof s->errmsg, "VM '%s': unreadable allow-list in the store", vm.id);
                return -EBADMSG;
        }
        *ret = vm;
        return 0;
}

#define VM_COLUMNS "id, slug, ip, block_start, block_size, created_at, proxy_protocol, http_passthrough, allow"

static int log_change(struct store *s, const char *kind, const char *key) {
        sqlite3_stmt *st;
        int r = prepare(s, "INSERT INTO changes (kind, key) VALUES (?, ?)", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        r = rc == SQLITE_DONE ? 0 : store_fail(s, rc);
        sqlite3_finalize(st);
        return r;
}

static enum store_conflict conflict_from_message(const char *msg) {
        if (strstr(msg, "vms.id"))
                return STORE_CONFLICT_ID;
        if (strstr(msg, "vms.slug"))
                return STORE_CONFLICT_SLUG;
        if (strstr(msg, "vms.ip"))
                return STORE_CONFLICT_IP;
        return STORE_CONFLICT_BLOCK;
}

int store_vm_insert(struct store *s, const struct vm *vm, enum store_conflict *ret_conflict) {
        char ip[IP_ADDR_STRLEN], allow[ALLOW_TEXT_MAX];
        sqlite3_stmt *st = NULL;
        if (!vm_options_valid(vm)) {
                snprintf(s->errmsg, sizeof s->errmsg, "VM '%s': invalid proxy options", vm->id);
                return -EINVAL;
        }
        allow_format(vm, allow);
        int r = exec(s, "BEGIN IMMEDIATE");
        if (r < 0)
                return r;
        r = prepare(s, "INSERT INTO vms (" VM_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", &st);
        if (r < 0)
                goto rollback;
        sqlite3_bind_text(st, 1, vm->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, vm->slug, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, ip_addr_format(&vm->ip, ip), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 4, vm->block_start);
        sqlite3_bind_int(st, 5, vm->block_size);
        sqlite3_bind_int64(st, 6, vm->created_at);
        sqlite3_bind_text(st, 7, vm_proxy_protocol_to_string(vm->proxy_protocol), -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 8, vm->http_passthrough ? 1 : 0);
        sqlite3_bind_text(st, 9, allow, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) {
                r = store_fail(s, rc);
                if (r == -EEXIST && ret_conflict)
                        *ret_conflict = conflict_from_message(s->errmsg);
                goto rollback;
        }
        if ((r = log_change(s, "vm", vm->id)) < 0)
                goto rollback;
        if ((r = exec(s, "COMMIT")) < 0)
                goto rollback;
        return 0;
rollback:;
        char saved[sizeof s->errmsg];
        memcpy(saved, s->errmsg, sizeof saved);
        exec(s, "ROLLBACK");
        memcpy(s->errmsg, saved, sizeof saved);
        return r;
}

int store_vm_get(struct store *s, const char *id, struct vm *ret) {
        sqlite3_stmt *st;
        int r = prepare(s, "SELECT " VM_COLUMNS " FROM vms WHERE id = ?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                r = vm_from_row(s, st, ret);
        else
                r = rc == SQLITE_DONE ? -ENOENT : store_fail(s, rc);
        sqlite3_finalize(st);
        return r;
}

int store_vm_find_by_ip(struct store *s, const struct ip_addr *ip, char ret_id[static VM_ID_MAX + 1]) {
        char text[IP_ADDR_STRLEN];
        sqlite3_stmt *st;
        int r = prepare(s, "SELECT id FROM vms WHERE ip = ?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, ip_addr_format(ip, text), -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                snprintf(ret_id, VM_ID_MAX + 1, "%s", (const char *)sqlite3_column_text(st, 0));
                r = 0;
        } else
                r = rc == SQLITE_DONE ? -ENOENT : store_fail(s, rc);
        sqlite3_finalize(st);
        return r;
}

int store_vm_delete(struct store *s, const char *id, struct vm *ret_removed) {
        struct vm old;
        int r = exec(s, "BEGIN IMMEDIATE");
        if (r < 0)
                return r;
        if ((r = store_vm_get(s, id, &old)) < 0)
                goto rollback;
        sqlite3_stmt *st;
        if ((r = prepare(s, "DELETE FROM vms WHERE id = ?", &st)) < 0)
                goto rollback;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) {
                r = store_fail(s, rc);
                goto rollback;
        }
        if ((r = log_change(s, "vm", id)) < 0 || (r = exec(s, "COMMIT")) < 0)
                goto rollback;
        if (ret_removed)
                *ret_removed = old;
        return 0;
rollback:
        exec(s, "ROLLBACK");
        return r;
}

static int vm_list_query(struct store *s, struct vm **ret, size_t *ret_n) {
        sqlite3_stmt *st;
        int r = prepare(s, "SELECT " VM_COLUMNS " FROM vms ORDER BY rowid", &st);
        if (r < 0)
                return r;
        struct vm *vms = NULL;
        size_t n = 0, cap = 0;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                if (n == cap) {
                        size_t ncap = cap ? cap * 2 : 64;
                        struct vm *nv = realloc(vms, ncap * sizeof *nv);
                        if (!nv) {
                                free(vms);
                                sqlite3_finalize(st);
                                return -ENOMEM;
                        }
                        vms = nv;
                        cap = ncap;
                }
                if ((r = vm_from_row(s, st, &vms[n])) < 0) {
                        free(vms);
                        sqlite3_finalize(st);
                        return r;
                }
                n++;
        }
        if (rc != SQLITE_DONE) {
                r = store_fail(s, rc);
                free(vms);
                sqlite3_finalize(st);
                return r;
        }
        sqlite3_finalize(st);
        *ret = vms;
        *ret_n = n;
        return 0;
}

int store_vm_list(struct store *s, struct vm **ret, size_t *ret_n) {
        return vm_list_query(s, ret, ret_n);
}

int store_blocks_mark(struct store *s, struct portmap *m) {
        sqlite3_stmt *st;
        int r = prepare(s, "SELECT block_start, block_size FROM vms", &st);
        if (r < 0)
                return r;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
                portmap_set(m, (uint16_t)sqlite3_column_int(st, 0), (uint16_t)sqlite3_column_int(st, 1), true);
        r = rc == SQLITE_DONE ? 0 : store_fail(s, rc);
        sqlite3_finalize(st);
        return r;
}

static int change_head(struct store *s, int64_t *ret) {
        sqlite3_stmt *st;
        /* sqlite_sequence keeps the AUTOINCREMENT high-water mark even after pruning. */
        int r = prepare(s, "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'changes'), 0)", &st);
        if (r < 0)
                return r;
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                *ret = sqlite3_column_int64(st, 0);
        r = rc == SQLITE_ROW ? 0 : store_fail(s, rc);
        sqlite3_finalize(st);
        return r;
}

int store_snapshot_load(struct store *s, struct vm **ret_vms, size_t *ret_n, int64_t *ret_change_seq) {
        int r = exec(s, "BEGIN");
        if (r < 0)
                return r;
        int64_t seq = 0;
        struct vm *vms = NULL;
        size_t n = 0;
        if ((r = change_head(s, &seq)) < 0 || (r = vm_list_query(s, &vms, &n)) < 0) {
                exec(s, "ROLLBACK");
                return r;
        }
        exec(s, "COMMIT");
        *ret_vms = vms;
        *ret_n = n;
        *ret_change_seq = seq;
        return 0;
}

int store_changes_since(struct store *s, int64_t after, size_t max, char ***ret_ids, size_t *ret_n, int64_t *ret_seq) {
        sqlite3_stmt *st;
        int r = prepare(s, "SELECT seq, key FROM changes WHERE seq > ? ORDER BY seq LIMIT ?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, after);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
        char **ids = NULL;
        size_t n = 0;
        int64_t seq = after;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                char **ni = realloc(ids, (n + 1) * sizeof *ni);
                char *id = ni ? strdup((const char *)sqlite3_column_text(st, 1)) : NULL;
                if (ni)
                        ids = ni;
                if (!id) {
                        r = -ENOMEM;
                        goto fail;
                }
                ids[n++] = id;
                seq = sqlite3_column_int64(st, 0);
        }
        if (rc != SQLITE_DONE) {
                r = store_fail(s, rc);
                goto fail;
        }
        sqlite3_finalize(st);
        *ret_ids = ids;
        *ret_n = n;
        *ret_seq = seq;
        return 0;
fail:
        for (size_t i = 0; i < n; i++)
                free(ids[i]);
        free(ids);
        sqlite3_finalize(st);
        return r;
}

int store_changes_prune(struct store *s, int64_t upto) {
        sqlite3_stmt *st;
        int r = prepare(s, "DELETE FROM changes WHERE seq <= ?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, upto);
        int rc = sqlite3_step(st);
        r = rc == SQLITE_DONE ? 0 : store_fail(s, rc);
        sqlite3_finalize(st);
        return r;
}
