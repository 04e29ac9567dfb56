/* SPDX-License-Identifier: MIT */
/*
 * SQLite backend of the store: schema, migrations and typed queries. Each mutation is one
 * BEGIN IMMEDIATE transaction holding the row change, the host names it claims, its
 * change-log entry and its audit row, whose before/after images SQLite itself makes with
 * json_object() from the rows (so the audit shows what was stored, not what was asked). The
 * schema's UNIQUE constraints and triggers decide every conflict, even between processes;
 * their fixed messages tell which one. Statements are prepared once per connection and kept
 * (keyed by the address of their SQL text), so a get costs no parsing.
 */
#include "store.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/strbuf.h"
#include "../core/util.h"

struct cached_stmt {
        const char *sql; /* static text: its address is the key */
        sqlite3_stmt *st;
};

struct store {
        sqlite3 *db;
        char errmsg[256];
        struct cached_stmt *cache;
        size_t n_cache, cap_cache;
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
        /* 3: the API's resources. VMs gain labels (canonical JSON object text), an expiry
         * (0 = never), updated_at and a version (the ETag). One host-name namespace holds the
         * VMs' extra names and the routes' names. Forwards hold a public port+proto and never
         * sit inside a VM's port block (the triggers check both directions with the same
         * indexed trick as vms_block_no_overlap). Tokens keep only a hash of the secret. The
         * audit keeps who changed what, with JSON images of the row before and after. */
        "ALTER TABLE vms ADD COLUMN labels TEXT NOT NULL DEFAULT '{}'"
        "  CHECK (json_valid(labels) AND json_type(labels) = 'object');"
        "ALTER TABLE vms ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0 CHECK (expires_at >= 0);"
        "ALTER TABLE vms ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE vms ADD COLUMN version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1);"
        "UPDATE vms SET updated_at = created_at;"
        "CREATE INDEX vms_expires_at ON vms (expires_at) WHERE expires_at > 0;"
        /* The overlap triggers only look at inserts: a block never moves. */
        "CREATE TRIGGER vms_block_fixed BEFORE UPDATE OF block_start, block_size ON vms "
        "WHEN NEW.block_start IS NOT OLD.block_start OR NEW.block_size IS NOT OLD.block_size "
        "BEGIN SELECT RAISE(ABORT, 'a VM port block never changes'); END;"
        "CREATE TABLE hostnames ("
        "  name TEXT PRIMARY KEY NOT NULL,"
        "  owner_kind TEXT NOT NULL CHECK (owner_kind IN ('vm','route')),"
        "  owner_id TEXT NOT NULL"
        ");"
        "CREATE INDEX hostnames_owner ON hostnames (owner_kind, owner_id, name);" /* also their order */
        "CREATE TRIGGER vms_hostnames_delete AFTER DELETE ON vms "
        "BEGIN DELETE FROM hostnames WHERE owner_kind = 'vm' AND owner_id = OLD.id; END;"
        "CREATE TABLE routes ("
        "  id TEXT PRIMARY KEY NOT NULL,"
        "  hostname TEXT NOT NULL UNIQUE,"
        "  ip TEXT NOT NULL,"
        "  port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),"
        "  http_port INTEGER NOT NULL CHECK (http_port BETWEEN 1 AND 65535),"
        "  proxy_protocol TEXT NOT NULL DEFAULT 'none' CHECK (proxy_protocol IN ('none','v1','v2')),"
        "  http_passthrough INTEGER NOT NULL DEFAULT 0 CHECK (http_passthrough IN (0,1)),"
        "  allow TEXT NOT NULL DEFAULT '',"
        "  origin TEXT NOT NULL DEFAULT 'api' CHECK (origin IN ('api','agent')),"
        "  agent_target_url TEXT NOT NULL DEFAULT '',"
        "  agent_entrypoint TEXT NOT NULL DEFAULT '',"
        "  agent_certresolver TEXT NOT NULL DEFAULT '',"
        "  labels TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(labels) AND json_type(labels) = 'object'),"
        "  created_at INTEGER NOT NULL,"
        "  updated_at INTEGER NOT NULL,"
        "  version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1)"
        ");"
        /* A route's name is claimed in hostnames too, so a VM cannot take it (nor it a VM's). */
        "CREATE TRIGGER routes_hostname_insert AFTER INSERT ON routes "
        "BEGIN INSERT INTO hostnames (name, owner_kind, owner_id) VALUES (NEW.hostname, 'route', NEW.id); END;"
        "CREATE TRIGGER routes_hostname_update AFTER UPDATE OF hostname ON routes "
        "WHEN NEW.hostname IS NOT OLD.hostname "
        "BEGIN DELETE FROM hostnames WHERE name = OLD.hostname AND owner_kind = 'route';"
        "  INSERT INTO hostnames (name, owner_kind, owner_id) VALUES (NEW.hostname, 'route', NEW.id); END;"
        "CREATE TRIGGER routes_hostname_delete AFTER DELETE ON routes "
        "BEGIN DELETE FROM hostnames WHERE name = OLD.hostname AND owner_kind = 'route'; END;"
        "CREATE TABLE forwards ("
        "  id TEXT PRIMARY KEY NOT NULL,"
        "  public_port INTEGER NOT NULL CHECK (public_port BETWEEN 1 AND 65535),"
        "  proto TEXT NOT NULL CHECK (proto IN ('tcp','udp')),"
        "  ip TEXT NOT NULL,"
        "  port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),"
        "  origin TEXT NOT NULL DEFAULT 'api' CHECK (origin IN ('api','agent')),"
        "  labels TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(labels) AND json_type(labels) = 'object'),"
        "  created_at INTEGER NOT NULL,"
        "  updated_at INTEGER NOT NULL,"
        "  version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),"
        "  UNIQUE (public_port, proto)"
        ");"
        /* A block containing port p starts in (p-1000, p]: the UNIQUE(block_start) index
         * answers both checks in O(log n); the forward side uses UNIQUE(public_port, proto). */
        "CREATE TRIGGER forwards_outside_blocks_insert BEFORE INSERT ON forwards "
        "WHEN EXISTS (SELECT 1 FROM vms o WHERE o.block_start > NEW.public_port - 1000"
        "  AND o.block_start <= NEW.public_port AND o.block_start + o.block_size > NEW.public_port) "
        "BEGIN SELECT RAISE(ABORT, 'forward port is inside a VM port block'); END;"
        "CREATE TRIGGER forwards_outside_blocks_update BEFORE UPDATE OF public_port ON forwards "
        "WHEN EXISTS (SELECT 1 FROM vms o WHERE o.block_start > NEW.public_port - 1000"
        "  AND o.block_start <= NEW.public_port AND o.block_start + o.block_size > NEW.public_port) "
        "BEGIN SELECT RAISE(ABORT, 'forward port is inside a VM port block'); END;"
        "CREATE TRIGGER vms_block_no_forward BEFORE INSERT ON vms "
        "WHEN EXISTS (SELECT 1 FROM forwards w WHERE w.public_port >= NEW.block_start"
        "  AND w.public_port < NEW.block_start + NEW.block_size) "
        "BEGIN SELECT RAISE(ABORT, 'port block overlaps a forward'); END;"
        "CREATE TABLE tokens ("
        "  name TEXT PRIMARY KEY NOT NULL,"
        "  key_id TEXT NOT NULL UNIQUE,"
        "  hash BLOB NOT NULL CHECK (length(hash) = 32),"
        "  scopes TEXT NOT NULL,"
        "  created_at INTEGER NOT NULL,"
        "  last_used_at INTEGER NOT NULL DEFAULT 0"
        ");"
        "CREATE TABLE audit ("
        "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  at INTEGER NOT NULL,"
        "  actor TEXT NOT NULL,"
        "  action TEXT NOT NULL CHECK (action IN ('create','update','delete')),"
        "  kind TEXT NOT NULL,"
        "  key TEXT NOT NULL,"
        "  before TEXT,"
        "  after TEXT"
        ");"
        "CREATE INDEX audit_kind_key ON audit (kind, key);",
        /* 4: the DNS outbox (issue 5): the records wanted, and where each stands with the provider. */
        "CREATE TABLE dns_records ("
        "  name TEXT NOT NULL,"
        "  type INTEGER NOT NULL CHECK (type IN (1, 28)),"
        "  content TEXT NOT NULL,"
        "  ttl INTEGER NOT NULL,"
        "  proxied INTEGER NOT NULL DEFAULT 0 CHECK (proxied IN (0, 1)),"
        "  owner_kind TEXT NOT NULL,"
        "  owner_id TEXT NOT NULL,"
        "  state TEXT NOT NULL CHECK (state IN ('pending','synced','error','deleting')),"
        "  last_error TEXT NOT NULL DEFAULT '',"
        "  attempts INTEGER NOT NULL DEFAULT 0,"
        "  next_retry_at INTEGER NOT NULL DEFAULT 0,"
        "  provider_ref TEXT NOT NULL DEFAULT '',"
        "  updated_at INTEGER NOT NULL,"
        "  PRIMARY KEY (name, type)"
        ");"
        "CREATE INDEX dns_records_due ON dns_records (state, next_retry_at);",
        /* 5: the central node (issue 5, provider "edgegw"). A token may be restricted to one
         * datacenter's names; dns_remote holds the records other nodes publish through this
         * one, each owned by the token (name) that wrote it ('' = this node's operator). */
        "ALTER TABLE tokens ADD COLUMN datacenter TEXT NOT NULL DEFAULT '';"
        "CREATE TABLE dns_remote ("
        "  name TEXT NOT NULL,"
        "  type INTEGER NOT NULL CHECK (type IN (1, 28)),"
        "  content TEXT NOT NULL,"
        "  ttl INTEGER NOT NULL CHECK (ttl BETWEEN 1 AND 2147483647),"
        "  proxied INTEGER NOT NULL DEFAULT 0 CHECK (proxied IN (0, 1)),"
        "  token TEXT NOT NULL,"
        "  datacenter TEXT NOT NULL DEFAULT '',"
        "  created_at INTEGER NOT NULL,"
        "  updated_at INTEGER NOT NULL,"
        "  PRIMARY KEY (name, type)"
        ");"
        "CREATE INDEX dns_remote_token ON dns_remote (token);",
        /* 6 (issue 5): a route publishes a DNS record only when it asks for one. */
        "ALTER TABLE routes ADD COLUMN dns INTEGER NOT NULL DEFAULT 0 CHECK (dns IN (0, 1));",
        /* 7 (issue 6): DHCP leases, a MAC bound to one address of the pool. ip is the IPv4
         * address in host order (ordering and allocation without text parsing). */
        "CREATE TABLE leases ("
        "  mac TEXT PRIMARY KEY NOT NULL CHECK (length(mac) = 17),"
        "  ip INTEGER NOT NULL UNIQUE CHECK (ip BETWEEN 1 AND 4294967295),"
        "  name TEXT NOT NULL DEFAULT '',"
        "  vm_id TEXT NOT NULL DEFAULT '',"
        "  created_at INTEGER NOT NULL,"
        "  updated_at INTEGER NOT NULL"
        ");"
        "CREATE UNIQUE INDEX leases_name ON leases (name) WHERE name <> '';"
        "CREATE INDEX leases_vm ON leases (vm_id) WHERE vm_id <> '';",
};

int store_schema_version(void) {
        return (int)ELEMENTSOF(migrations);
}

const char *store_errmsg(const struct store *s) {
        return s->errmsg;
}

static int store_fail(struct store *s, int rc) {
        snprintf(s->errmsg, sizeof s->errmsg, "%s", sqlite3_errmsg(s->db));
        switch (rc) {
        case SQLITE_CONSTRAINT_CHECK:
        case SQLITE_CONSTRAINT_NOTNULL:
        case SQLITE_CONSTRAINT_DATATYPE: return -EINVAL; /* a value no build writes, not a conflict */
        }
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

/* The kept statement for static SQL text (prepared on first use). The caller resets it when
 * done (stmt_resetp), so no statement holds a read snapshot open between calls. A statement
 * is never used by two callers at once: helpers that step one do not call each other while
 * it is active. */
static int stmt(struct store *s, const char *sql, sqlite3_stmt **ret) {
        for (size_t i = 0; i < s->n_cache; i++)
                if (s->cache[i].sql == sql) {
                        *ret = s->cache[i].st;
                        return 0;
                }
        if (s->n_cache == s->cap_cache) {
                size_t ncap = s->cap_cache ? s->cap_cache * 2 : 64;
                struct cached_stmt *nc = realloc(s->cache, ncap * sizeof *nc);
                if (!nc)
                        return -ENOMEM;
                s->cache = nc;
                s->cap_cache = ncap;
        }
        sqlite3_stmt *st;
        int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
        if (rc != SQLITE_OK)
                return store_fail(s, rc);
        s->cache[s->n_cache++] = (struct cached_stmt){.sql = sql, .st = st};
        *ret = st;
        return 0;
}

static void stmt_resetp(sqlite3_stmt **st) {
        if (*st) {
                sqlite3_reset(*st);
                sqlite3_clear_bindings(*st);
        }
}
#define _cleanup_reset_ _cleanup_(stmt_resetp)

static void stmt_finalizep(sqlite3_stmt **st) {
        sqlite3_finalize(*st);
}
#define _cleanup_finalize_ _cleanup_(stmt_finalizep)

/* Steps a statement that returns no row (or whose rows do not matter), then resets it. */
static int step_done(struct store *s, sqlite3_stmt *st) {
        int rc = sqlite3_step(st);
        int r = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : store_fail(s, rc);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return r;
}

static int run(struct store *s, const char *sql) {
        sqlite3_stmt *st;
        int r = stmt(s, sql, &st);
        return r < 0 ? r : step_done(s, st);
}

static int tx_begin(struct store *s) {
        return run(s, "BEGIN IMMEDIATE");
}

/* Rolls the open transaction back, keeping the error text of what failed; returns r. */
static int tx_abort(struct store *s, int r) {
        char saved[sizeof s->errmsg];
        memcpy(saved, s->errmsg, sizeof saved);
        (void)run(s, "ROLLBACK");
        memcpy(s->errmsg, saved, sizeof saved);
        return r;
}

static int tx_commit(struct store *s) {
        int r = run(s, "COMMIT");
        return r < 0 ? tx_abort(s, r) : 0;
}

static int64_t now_seconds(void) {
        return (int64_t)time(NULL);
}

static const char *column_text(sqlite3_stmt *st, int col) {
        const char *t = (const char *)sqlite3_column_text(st, col);
        return t ? t : "";
}

/* Reads the current row of st into ret (the reader's own type). */
typedef int (*row_reader)(struct store *s, sqlite3_stmt *st, void *ret);

/* The single row sql selects for key (its one parameter), read by read into ret. -ENOENT
 * when there is none. */
static int get_one(struct store *s, const char *sql, const char *key, row_reader read, void *ret) {
        _cleanup_reset_ sqlite3_stmt *st = NULL;
        int r = stmt(s, sql, &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                return read(s, st, ret);
        return rc == SQLITE_DONE ? -ENOENT : store_fail(s, rc);
}

/* Runs sql, which returns no row, with its one parameter bound to key. */
static int run_keyed(struct store *s, const char *sql, const char *key) {
        sqlite3_stmt *st;
        int r = stmt(s, sql, &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
        return step_done(s, st);
}

/* Row readers of one column: an int64 (int64_t *), a VM id (char[VM_ID_MAX + 1]). */
static int read_int64(struct store *s, sqlite3_stmt *st, void *ret) {
        *(int64_t *)ret = sqlite3_column_int64(st, 0);
        return 0;
}

static int read_id(struct store *s, sqlite3_stmt *st, void *ret) {
        snprintf(ret, VM_ID_MAX + 1, "%s", column_text(st, 0));
        return 0;
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
        for (size_t i = 0; i < s->n_cache; i++)
                sqlite3_finalize(s->cache[i].st);
        free(s->cache);
        sqlite3_close(s->db);
        free(s);
        return NULL;
}

/* ---- values as stored ---- */

/* The allow column: canonical CIDRs separated by one space; "" for none. */
#define ALLOW_TEXT_MAX (VM_ALLOW_MAX * (IP_ADDR_STRLEN + 4 + 1))

static void allow_format(const struct ip_cidr *allow, size_t n, char buf[static ALLOW_TEXT_MAX]) {
        size_t len = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < n; i++) {
                char cidr[IP_ADDR_STRLEN + 4];
                len += (size_t)snprintf(buf + len, ALLOW_TEXT_MAX - len, "%s%s", i ? " " : "",
                                        ip_cidr_format(&allow[i], cidr));
        }
}

static int allow_parse(const char *text, struct ip_cidr allow[static VM_ALLOW_MAX], uint8_t *ret_n) {
        char copy[ALLOW_TEXT_MAX], *save = NULL;
        if (strcpy_bounded(copy, sizeof copy, text) < 0)
                return -EBADMSG;
        uint8_t n = 0;
        for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
                if (n == VM_ALLOW_MAX || ip_cidr_parse(t, &allow[n]) < 0)
                        return -EBADMSG;
                n++;
        }
        *ret_n = n;
        return 0;
}

/* Whether the store can write these proxy options so that they read back the same. */
static bool options_valid(uint8_t proxy_protocol, uint8_t n_allow, const struct ip_cidr *allow) {
        if (!vm_proxy_protocol_to_string(proxy_protocol) || n_allow > VM_ALLOW_MAX)
                return false;
        for (size_t i = 0; i < n_allow; i++) {
                const struct ip_cidr *c = &allow[i];
                char text[IP_ADDR_STRLEN + 4];
                struct ip_cidr back;
                if ((c->addr.family != AF_INET && c->addr.family != AF_INET6) ||
                    ip_cidr_parse(ip_cidr_format(c, text), &back) < 0 || !ip_addr_equal(&back.addr, &c->addr))
                        return false;
        }
        return true;
}

static bool ip_valid(const struct ip_addr *a) {
        return a->family == AF_INET || a->family == AF_INET6;
}

/* Whether a fixed char array holds a terminated string. */
#define TERMINATED(a) (memchr((a), '\0', sizeof(a)) != NULL)

/* Labels as stored: a JSON object (the schema checks the rest). */
static bool labels_storable(const char labels[static LABELS_JSON_MAX]) {
        return memchr(labels, '\0', LABELS_JSON_MAX) && labels[0] == '{';
}

/* Which uniqueness rule a failed write broke, from SQLite's message: "UNIQUE constraint
 * failed: TABLE.COLUMN[, ...]" or the text of a trigger's RAISE. Exact texts only. */
static enum store_conflict conflict_from_message(const char *msg) {
        static const struct {
                const char *message;
                enum store_conflict conflict;
        } table[] = {
                {"UNIQUE constraint failed: vms.id", STORE_CONFLICT_ID},
                {"UNIQUE constraint failed: vms.slug", STORE_CONFLICT_SLUG},
                {"UNIQUE constraint failed: vms.ip", STORE_CONFLICT_IP},
                {"UNIQUE constraint failed: vms.block_start", STORE_CONFLICT_BLOCK},
                {"port block overlaps another VM", STORE_CONFLICT_BLOCK},
                {"port block overlaps a forward", STORE_CONFLICT_PORT},
                {"UNIQUE constraint failed: hostnames.name", STORE_CONFLICT_HOSTNAME},
                {"UNIQUE constraint failed: routes.id", STORE_CONFLICT_ID},
                {"UNIQUE constraint failed: routes.hostname", STORE_CONFLICT_HOSTNAME},
                {"UNIQUE constraint failed: forwards.id", STORE_CONFLICT_ID},
                {"UNIQUE constraint failed: forwards.public_port, forwards.proto", STORE_CONFLICT_PORT},
                {"forward port is inside a VM port block", STORE_CONFLICT_BLOCK},
                {"UNIQUE constraint failed: leases.mac", STORE_CONFLICT_ID},
                {"UNIQUE constraint failed: leases.ip", STORE_CONFLICT_IP},
                {"UNIQUE constraint failed: leases.name", STORE_CONFLICT_HOSTNAME},
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (streq(msg, table[i].message))
                        return table[i].conflict;
        return STORE_CONFLICT_NONE;
}

/* A failed write: says which conflict when it was one. Returns r. */
static int write_failed(struct store *s, int r, enum store_conflict *ret_conflict) {
        if (r == -EEXIST && ret_conflict)
                *ret_conflict = conflict_from_message(s->errmsg);
        return r;
}

/* ---- audit and change log ---- */

#define JSON_BOOL(col) "json(CASE WHEN " col " THEN 'true' ELSE 'false' END)"
/* The allow column as a JSON array: its CIDRs hold no quote, so splitting by text is exact. */
#define JSON_ALLOW(col)                                                                                           \
        "json('[' || CASE WHEN " col " = '' THEN '' ELSE '\"' || replace(" col ", ' ', '\",\"') || '\"' END || ']')"

/* The images the audit keeps, made from the stored rows. The token image never has the hash. */
static const char vm_image_sql[] =
        "SELECT json_object('id', v.id, 'slug', v.slug, 'ip', v.ip, 'block_start', v.block_start,"
        " 'block_size', v.block_size, 'proxy_protocol', v.proxy_protocol,"
        " 'http_passthrough', " JSON_BOOL("v.http_passthrough") ", 'allow', " JSON_ALLOW("v.allow") ","
        " 'labels', json(v.labels),"
        " 'hostnames', json((SELECT json_group_array(name) FROM (SELECT name FROM hostnames"
        "   WHERE owner_kind = 'vm' AND owner_id = v.id ORDER BY name))),"
        " 'expires_at', v.expires_at, 'version', v.version) FROM vms v WHERE v.id = ?";
static const char route_image_sql[] =
        "SELECT json_object('id', id, 'hostname', hostname, 'ip', ip, 'port', port, 'http_port', http_port,"
        " 'proxy_protocol', proxy_protocol, 'http_passthrough', " JSON_BOOL("http_passthrough") ","
        " 'dns', " JSON_BOOL("dns") ","
        " 'allow', " JSON_ALLOW("allow") ", 'origin', origin, 'agent_target_url', agent_target_url,"
        " 'agent_entrypoint', agent_entrypoint, 'agent_certresolver', agent_certresolver, 'labels', json(labels),"
        " 'created_at', created_at, 'updated_at', updated_at, 'version', version) FROM routes WHERE id = ?";
static const char forward_image_sql[] =
        "SELECT json_object('id', id, 'public_port', public_port, 'proto', proto, 'ip', ip, 'port', port,"
        " 'origin', origin, 'labels', json(labels), 'created_at', created_at, 'updated_at', updated_at,"
        " 'version', version) FROM forwards WHERE id = ?";
static const char token_image_sql[] =
        "SELECT json_object('name', name, 'key_id', key_id, 'scopes', scopes, 'datacenter', datacenter,"
        " 'created_at', created_at) FROM tokens WHERE name = ?";

/* The JSON image of one row (malloc'd into *ret), or NULL in *ret when the row is absent. */
static int image(struct store *s, const char *sql, const char *key, char **ret) {
        _cleanup_reset_ sqlite3_stmt *st = NULL;
        int r = stmt(s, sql, &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) {
                *ret = NULL;
                return 0;
        }
        if (rc != SQLITE_ROW)
                return store_fail(s, rc);
        char *text = strdup(column_text(st, 0));
        if (!text)
                return -ENOMEM;
        *ret = text;
        return 0;
}

static int log_change(struct store *s, const char *kind, const char *key) {
        sqlite3_stmt *st;
        int r = stmt(s, "INSERT INTO changes (kind, key) VALUES (?, ?)", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, kind, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, key, -1, SQLITE_TRANSIENT);
        return step_done(s, st);
}

/* Inside a write transaction: one audit row with the images before and after (NULL = none). */
static int audit_write(struct store *s, const char *actor, const char *action, const char *kind, const char *key,
                       const char *before, const char *after) {
        sqlite3_stmt *st;
        int r = stmt(s, "INSERT INTO audit (at, actor, action, kind, key, before, after) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, now_seconds());
        sqlite3_bind_text(st, 2, actor ? actor : "internal", -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, action, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, key, -1, SQLITE_TRANSIENT);
        if (before)
                sqlite3_bind_text(st, 6, before, -1, SQLITE_TRANSIENT);
        if (after)
                sqlite3_bind_text(st, 7, after, -1, SQLITE_TRANSIENT);
        return step_done(s, st);
}

/* Inside a write transaction, after the change: the audit row (before = the row's image
 * before the change, NULL for a create; after = its image now, NULL once deleted) and, for
 * kinds the reconcilers follow, the change-log entry. */
static int record(struct store *s, const char *actor, const char *action, const char *kind, const char *image_sql,
                  const char *key, const char *before, bool log) {
        _cleanup_free_ char *after = NULL;
        int r = image(s, image_sql, key, &after);
        if (r < 0 || (r = audit_write(s, actor, action, kind, key, before, after)) < 0)
                return r;
        return log ? log_change(s, kind, key) : 0;
}

/* The version of row key by version_sql ("SELECT version FROM t WHERE id = ?"). -ENOENT. */
static int row_version(struct store *s, const char *version_sql, const char *key, int64_t *ret) {
        return get_one(s, version_sql, key, read_int64, ret);
}

/* Inside a write transaction: the row must exist (-ENOENT) and, when if_version is not 0,
 * be at that version (-ESTALE). The current version into *ret_version. */
static int check_precondition(struct store *s, const char *what, const char *version_sql, const char *key,
                              int64_t if_version, int64_t *ret_version) {
        int64_t version = 0;
        int r = row_version(s, version_sql, key, &version);
        if (r == -ENOENT)
                snprintf(s->errmsg, sizeof s->errmsg, "%s '%s' does not exist", what, key);
        if (r < 0)
                return r;
        if (if_version != 0 && version != if_version) {
                snprintf(s->errmsg, sizeof s->errmsg, "%s '%s' is at version %lld, not %lld", what, key,
                         (long long)version, (long long)if_version);
                return -ESTALE;
        }
        *ret_version = version;
        return 0;
}

/* Bumps the version of a changed row and stamps updated_at (bump_sql: "UPDATE t SET version =
 * version + 1, updated_at = ?1 WHERE id = ?2"). */
static int bump_version(struct store *s, const char *bump_sql, const char *key) {
        sqlite3_stmt *st;
        int r = stmt(s, bump_sql, &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, now_seconds());
        sqlite3_bind_text(st, 2, key, -1, SQLITE_TRANSIENT);
        return step_done(s, st);
}

/* Steps st to the end, reading each row with read() into a growing array of elem_size
 * entries: *ret is malloc'd (NULL when no row). */
static int collect(struct store *s, sqlite3_stmt *st, size_t elem_size, row_reader read, void **ret, size_t *ret_n) {
        _cleanup_free_ char *a = NULL;
        size_t n = 0, cap = 0;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                if (n == cap) {
                        size_t ncap = cap ? cap * 2 : 16;
                        char *na = realloc(a, ncap * elem_size);
                        if (!na)
                                return -ENOMEM;
                        a = na;
                        cap = ncap;
                }
                int r = read(s, st, a + n * elem_size);
                if (r < 0)
                        return r;
                n++;
        }
        if (rc != SQLITE_DONE)
                return store_fail(s, rc);
        *ret = TAKE_PTR(a);
        *ret_n = n;
        return 0;
}

/* Every row of sql (no parameters), as collect(). */
static int query_all(struct store *s, const char *sql, size_t elem_size, row_reader read, void **ret,
                     size_t *ret_n) {
        _cleanup_reset_ sqlite3_stmt *st = NULL;
        int r = stmt(s, sql, &st);
        if (r < 0)
                return r;
        return collect(s, st, elem_size, read, ret, ret_n);
}

static void strings_free(char **a, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(a[i]);
        free(a);
}

/* Column 0 of every row as malloc'd strings. */
static int collect_strings(struct store *s, sqlite3_stmt *st, char ***ret, size_t *ret_n) {
        char **a = NULL;
        size_t n = 0;
        int rc, r;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                char **na = realloc(a, (n + 1) * sizeof *na);
                if (!na) {
                        r = -ENOMEM;
                        goto fail;
                }
                a = na;
                if (!(a[n] = strdup(column_text(st, 0)))) {
                        r = -ENOMEM;
                        goto fail;
                }
                n++;
        }
        if (rc != SQLITE_DONE) {
                r = store_fail(s, rc);
                goto fail;
        }
        *ret = a;
        *ret_n = n;
        return 0;
fail:
        strings_free(a, n);
        return r;
}

/* A page query: select_from ("SELECT ... FROM t") + "WHERE id > after", the label selectors,
 * the origin (origin_column: NULL = none) + "ORDER BY id LIMIT limit+1". Keys are bound as
 * parameters even though the caller validated them. */
static int page_prepare(struct store *s, const char *select_from, const char *after, size_t limit,
                        const struct label_match *match, size_t n_match, const char *origin_column, int origin,
                        sqlite3_stmt **ret) {
        if (limit < 1 || limit > 1000 || n_match > 64 || (n_match && !match) ||
            (origin >= 0 && (!origin_column || !resource_origin_to_string((enum resource_origin)origin)))) {
                snprintf(s->errmsg, sizeof s->errmsg, "invalid page request");
                return -EINVAL;
        }
        _cleanup_strbuf_ struct strbuf sql = {0};
        strbuf_append(&sql, select_from);
        strbuf_append(&sql, " WHERE id > ?1");
        if (origin >= 0)
                strbuf_printf(&sql, " AND %s = ?3", origin_column);
        for (size_t i = 0; i < n_match; i++) {
                if (match[i].any_value)
                        strbuf_printf(&sql, " AND json_type(labels, '$.\"' || ?%zu || '\"') IS NOT NULL", 4 + 2 * i);
                else
                        strbuf_printf(&sql, " AND json_extract(labels, '$.\"' || ?%zu || '\"') = ?%zu", 4 + 2 * i,
                                      5 + 2 * i);
        }
        strbuf_append(&sql, " ORDER BY id LIMIT ?2");
        int r = strbuf_status(&sql);
        if (r < 0)
                return r;
        sqlite3_stmt *st;
        if ((r = prepare(s, strbuf_str(&sql), &st)) < 0)
                return r;
        sqlite3_bind_text(st, 1, after ? after : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)limit + 1);
        if (origin >= 0)
                sqlite3_bind_text(st, 3, resource_origin_to_string((enum resource_origin)origin), -1, SQLITE_STATIC);
        for (size_t i = 0; i < n_match; i++) {
                if (!TERMINATED(match[i].key) || !TERMINATED(match[i].value)) {
                        sqlite3_finalize(st);
                        snprintf(s->errmsg, sizeof s->errmsg, "invalid label selector");
                        return -EINVAL;
                }
                sqlite3_bind_text(st, (int)(4 + 2 * i), match[i].key, -1, SQLITE_TRANSIENT);
                if (!match[i].any_value)
                        sqlite3_bind_text(st, (int)(5 + 2 * i), match[i].value, -1, SQLITE_TRANSIENT);
        }
        *ret = st;
        return 0;
}

/* ---- the rows of a kind: pages, put, remove ---- */

/* What the generic row functions need to know of one kind of row keyed by id: its names in
 * messages (what) and in the audit and change log (kind), its SQL (each takes the id as
 * parameter; bump_sql as bump_version()), its reader (size bytes) and, for put(), its
 * writers. */
struct row_ops {
        const char *what, *kind;
        const char *select_sql, *version_sql, *image_sql, *bump_sql, *delete_sql;
        row_reader read;
        size_t size;
        int (*write_create)(struct store *s, const void *def, int64_t now);
        int (*write_update)(struct store *s, const void *def);
};

/* A page of rows of select_from (page_prepare, by column origin) read by read: at most limit
 * entries of elem_size into malloc'd *ret, and whether more follow. */
static int query_page(struct store *s, const char *select_from, const char *after, size_t limit,
                      const struct label_match *match, size_t n_match, int origin, size_t elem_size, row_reader read,
                      void **ret, size_t *ret_n, bool *ret_more) {
        _cleanup_finalize_ sqlite3_stmt *st = NULL;
        int r = page_prepare(s, select_from, after, limit, match, n_match, "origin", origin, &st);
        if (r < 0)
                return r;
        void *a = NULL;
        size_t n = 0;
        if ((r = collect(s, st, elem_size, read, &a, &n)) < 0)
                return r;
        *ret_more = n > limit;
        *ret_n = n > limit ? limit : n;
        *ret = a;
        return 0;
}

/* The shape every put shares: inside one transaction, create the row (write_create) or
 * replace its mutable fields (write_update), compare the images to tell "unchanged", then
 * bump the version and record. */
static int put_row(struct store *s, const struct row_ops *ops, const char *id, const void *def,
                   enum store_write_mode mode, int64_t if_version, const char *actor, enum store_conflict *ret_conflict,
                   enum store_outcome *ret_outcome) {
        int r = tx_begin(s);
        if (r < 0)
                return r;
        int64_t version;
        r = row_version(s, ops->version_sql, id, &version);
        if (r == -ENOENT) {
                if (mode == STORE_WRITE_UPSERT && if_version != 0) {
                        snprintf(s->errmsg, sizeof s->errmsg, "%s '%s' does not exist (expected version %lld)", ops->what,
                                 id, (long long)if_version);
                        return tx_abort(s, -ESTALE);
                }
                if ((r = ops->write_create(s, def, now_seconds())) < 0)
                        return tx_abort(s, write_failed(s, r, ret_conflict));
                if ((r = record(s, actor, "create", ops->kind, ops->image_sql, id, NULL, true)) < 0 ||
                    (r = tx_commit(s)) < 0)
                        return tx_abort(s, r);
                if (ret_outcome)
                        *ret_outcome = STORE_CREATED;
                return 0;
        }
        if (r < 0)
                return tx_abort(s, r);
        if (mode == STORE_WRITE_CREATE) {
                snprintf(s->errmsg, sizeof s->errmsg, "%s '%s' exists", ops->what, id);
                if (ret_conflict)
                        *ret_conflict = STORE_CONFLICT_ID;
                return tx_abort(s, -EEXIST);
        }
        if (if_version != 0 && version != if_version) {
                snprintf(s->errmsg, sizeof s->errmsg, "%s '%s' is at version %lld, not %lld", ops->what, id,
                         (long long)version, (long long)if_version);
                return tx_abort(s, -ESTALE);
        }
        _cleanup_free_ char *before = NULL, *after = NULL;
        if ((r = image(s, ops->image_sql, id, &before)) < 0)
                return tx_abort(s, r);
        if ((r = ops->write_update(s, def)) < 0)
                return tx_abort(s, write_failed(s, r, ret_conflict));
        if ((r = image(s, ops->image_sql, id, &after)) < 0)
                return tx_abort(s, r);
        if (before && after && streq(before, after)) {
                tx_abort(s, 0);
                if (ret_outcome)
                        *ret_outcome = STORE_UNCHANGED;
                return 0;
        }
        if ((r = bump_version(s, ops->bump_sql, id)) < 0 ||
            (r = record(s, actor, "update", ops->kind, ops->image_sql, id, before, true)) < 0 || (r = tx_commit(s)) < 0)
                return tx_abort(s, r);
        if (ret_outcome)
                *ret_outcome = STORE_UPDATED;
        return 0;
}

/* put_row(), then (with ret_stored) the stored row read back. */
static int put(struct store *s, const struct row_ops *ops, const char *id, const void *def,
               enum store_write_mode mode, int64_t if_version, const char *actor, enum store_conflict *ret_conflict,
               enum store_outcome *ret_outcome, void *ret_stored) {
        int r = put_row(s, ops, id, def, mode, if_version, actor, ret_conflict, ret_outcome);
        if (r < 0 || !ret_stored)
                return r;
        return get_one(s, ops->select_sql, id, ops->read, ret_stored);
}

/* Deletes row id inside one transaction; with ret_removed, what it was (ops->size bytes,
 * copied out only on success). */
static int remove_row(struct store *s, const struct row_ops *ops, const char *id, int64_t if_version,
                      const char *actor, void *ret_removed) {
        union {
                struct vm vm;
                struct route_def route;
                struct forward_def forward;
        } old;
        if (ops->size > sizeof old)
                return -EINVAL;
        int r = tx_begin(s);
        if (r < 0)
                return r;
        int64_t version;
        _cleanup_free_ char *before = NULL;
        if ((r = check_precondition(s, ops->what, ops->version_sql, id, if_version, &version)) < 0 ||
            (ret_removed && (r = get_one(s, ops->select_sql, id, ops->read, &old)) < 0) ||
            (r = image(s, ops->image_sql, id, &before)) < 0 || (r = run_keyed(s, ops->delete_sql, id)) < 0 ||
            (r = record(s, actor, "delete", ops->kind, ops->image_sql, id, before, true)) < 0 || (r = tx_commit(s)) < 0)
                return tx_abort(s, r);
        if (ret_removed)
                memcpy(ret_removed, &old, ops->size);
        return 0;
}

/* ---- VMs ---- */

#define VM_COLUMNS "id, slug, ip, block_start, block_size, created_at, proxy_protocol, http_passthrough, allow"
/* After VM_COLUMNS: the metadata, with the host names sorted and separated by one space. */
#define VM_META_COLUMNS                                                                                          \
        "labels, expires_at, updated_at, version, (SELECT group_concat(name, ' ') FROM (SELECT name FROM hostnames" \
        " WHERE owner_kind = 'vm' AND owner_id = vms.id ORDER BY name))"
#define VM_META_FIRST 9

/* Reads a row of VM_COLUMNS. -EBADMSG (and errmsg) for a row this build cannot read: an
 * allow-list that does not parse is refused rather than read as "any source". */
static int vm_from_row(struct store *s, sqlite3_stmt *st, struct vm *ret) {
        struct vm vm = {0};
        snprintf(vm.id, sizeof vm.id, "%s", column_text(st, 0));
        snprintf(vm.slug, sizeof vm.slug, "%s", column_text(st, 1));
        (void)ip_addr_parse(column_text(st, 2), &vm.ip);
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
        if (!allow || allow_parse(allow, vm.allow, &vm.n_allow) < 0) {
                snprintf(s->errmsg, sizeof s->errmsg, "VM '%s': unreadable allow-list in the store", vm.id);
                return -EBADMSG;
        }
        *ret = vm;
        return 0;
}

static int read_vm(struct store *s, sqlite3_stmt *st, void *ret) {
        return vm_from_row(s, st, ret);
}

/* Reads VM_META_COLUMNS starting at column col. */
static int vm_meta_from_row(struct store *s, sqlite3_stmt *st, int col, struct vm_meta *ret) {
        struct vm_meta m;
        vm_meta_init(&m);
        if (strcpy_bounded(m.labels, sizeof m.labels, column_text(st, col)) < 0)
                goto bad;
        m.expires_at = sqlite3_column_int64(st, col + 1);
        m.updated_at = sqlite3_column_int64(st, col + 2);
        m.version = sqlite3_column_int64(st, col + 3);
        const char *names = column_text(st, col + 4);
        while (*names) {
                const char *end = strchrnul(names, ' ');
                size_t len = (size_t)(end - names);
                if (m.n_hostnames == VM_HOSTNAMES_MAX || len > DNS_NAME_MAX)
                        goto bad;
                memcpy(m.hostnames[m.n_hostnames], names, len);
                m.hostnames[m.n_hostnames++][len] = '\0';
                names = *end ? end + 1 : end;
        }
        *ret = m;
        return 0;
bad:
        snprintf(s->errmsg, sizeof s->errmsg, "VM '%s': unreadable metadata in the store", column_text(st, 0));
        return -EBADMSG;
}

/* What store_vm_create/update refuse with -EINVAL. */
static int vm_check(struct store *s, const struct vm *vm, const struct vm_meta *meta) {
        if (!TERMINATED(vm->id) || !vm_id_valid(vm->id) || !ip_valid(&vm->ip) ||
            !options_valid(vm->proxy_protocol, vm->n_allow, vm->allow)) {
                snprintf(s->errmsg, sizeof s->errmsg, "VM '%.64s': invalid address or proxy options",
                         TERMINATED(vm->id) ? vm->id : "?");
                return -EINVAL;
        }
        bool ok = meta->n_hostnames <= VM_HOSTNAMES_MAX && labels_storable(meta->labels) && meta->expires_at >= 0;
        for (size_t i = 0; ok && i < meta->n_hostnames; i++) {
                ok = TERMINATED(meta->hostnames[i]) && route_hostname_valid(meta->hostnames[i]);
                for (size_t j = 0; ok && j < i; j++)
                        ok = !streq(meta->hostnames[i], meta->hostnames[j]);
        }
        if (!ok) {
                snprintf(s->errmsg, sizeof s->errmsg, "VM '%s': invalid labels, host names or expiry", vm->id);
                return -EINVAL;
        }
        return 0;
}

/* Replaces the VM's host names by meta's. */
static int vm_hostnames_write(struct store *s, const char *id, const struct vm_meta *meta) {
        sqlite3_stmt *st;
        int r = run_keyed(s, "DELETE FROM hostnames WHERE owner_kind = 'vm' AND owner_id = ?", id);
        if (r < 0)
                return r;
        for (size_t i = 0; i < meta->n_hostnames; i++) {
                if ((r = stmt(s, "INSERT INTO hostnames (name, owner_kind, owner_id) VALUES (?, 'vm', ?)", &st)) < 0)
                        return r;
                sqlite3_bind_text(st, 1, meta->hostnames[i], -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
                if ((r = step_done(s, st)) < 0)
                        return r;
        }
        return 0;
}

static const char vm_version_sql[] = "SELECT version FROM vms WHERE id = ?";

/* For get_one() and remove_row() only: VMs are written by their own functions. */
static const struct row_ops vm_ops = {
        .what = "VM",
        .kind = "vm",
        .select_sql = "SELECT " VM_COLUMNS " FROM vms WHERE id = ?",
        .version_sql = vm_version_sql,
        .image_sql = vm_image_sql,
        .delete_sql = "DELETE FROM vms WHERE id = ?",
        .read = read_vm,
        .size = sizeof(struct vm),
};

static int lease_insert(struct store *s, const struct lease *l, const char *actor, enum store_conflict *ret_conflict);
static bool lease_storable(const struct lease *l);

/* A lease that goes with VM vm in one transaction must be storable and hold vm's address. */
static int vm_lease_check(struct store *s, const struct vm *vm, const struct lease *lease) {
        if (!lease)
                return 0;
        uint32_t ip = 0;
        if (vm->ip.family == AF_INET)
                ip = (uint32_t)vm->ip.bytes[0] << 24 | (uint32_t)vm->ip.bytes[1] << 16 | (uint32_t)vm->ip.bytes[2] << 8 |
                     vm->ip.bytes[3];
        if (!lease_storable(lease) || ip != lease->ip) {
                snprintf(s->errmsg, sizeof s->errmsg, "VM '%s': its lease is invalid or not at the VM's address",
                         vm->id);
                return -EINVAL;
        }
        return 0;
}

int store_vm_create_leased(struct store *s, const struct vm *vm, const struct vm_meta *meta, const struct lease *lease,
                           const char *actor, enum store_conflict *ret_conflict,
                           enum store_conflict *ret_lease_conflict) {
        struct vm_meta none;
        if (!meta) {
                vm_meta_init(&none);
                meta = &none;
        }
        int r = vm_check(s, vm, meta);
        if (r < 0 || (r = vm_lease_check(s, vm, lease)) < 0)
                return r;
        char ip[IP_ADDR_STRLEN], allow[ALLOW_TEXT_MAX];
        allow_format(vm->allow, vm->n_allow, allow);
        if ((r = tx_begin(s)) < 0)
                return r;
        /* Asked first: a taken id is reported as such even if the block overlaps too. */
        int64_t version;
        r = row_version(s, vm_version_sql, vm->id, &version);
        if (r == 0) {
                snprintf(s->errmsg, sizeof s->errmsg, "VM '%s' exists", vm->id);
                if (ret_conflict)
                        *ret_conflict = STORE_CONFLICT_ID;
                return tx_abort(s, -EEXIST);
        }
        if (r != -ENOENT)
                return tx_abort(s, r);
        sqlite3_stmt *st;
        if ((r = stmt(s,
                      "INSERT INTO vms (" VM_COLUMNS ", labels, expires_at, updated_at, version)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?6, 1)",
                      &st)) < 0)
                return tx_abort(s, r);
        sqlite3_bind_text(st, 1, vm->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, vm->slug, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, ip_addr_format(&vm->ip, ip), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 4, vm->block_start);
        sqlite3_bind_int(st, 5, vm->block_size);
        sqlite3_bind_int64(st, 6, vm->created_at);
        sqlite3_bind_text(st, 7, vm_proxy_protocol_to_string(vm->proxy_protocol), -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 8, vm->http_passthrough ? 1 : 0);
        sqlite3_bind_text(st, 9, allow, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 10, meta->labels, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 11, meta->expires_at);
        if ((r = step_done(s, st)) < 0 || (r = vm_hostnames_write(s, vm->id, meta)) < 0)
                return tx_abort(s, write_failed(s, r, ret_conflict));
        if ((r = record(s, actor, "create", "vm", vm_image_sql, vm->id, NULL, true)) < 0)
                return tx_abort(s, r);
        if (lease && (r = lease_insert(s, lease, actor, ret_lease_conflict)) < 0)
                return tx_abort(s, r);
        return tx_commit(s);
}

int store_vm_create(struct store *s, const struct vm *vm, const struct vm_meta *meta, const char *actor,
                    enum store_conflict *ret_conflict) {
        return store_vm_create_leased(s, vm, meta, NULL, actor, ret_conflict, NULL);
}

int store_vm_insert(struct store *s, const struct vm *vm, enum store_conflict *ret_conflict) {
        return store_vm_create(s, vm, NULL, "internal", ret_conflict);
}

int store_vm_update_leased(struct store *s, const struct vm *vm, const struct vm_meta *meta, const struct lease *lease,
                           int64_t if_version, const char *actor, enum store_conflict *ret_conflict,
                           enum store_conflict *ret_lease_conflict, enum store_outcome *ret_outcome,
                           int64_t *ret_version) {
        struct vm_meta none;
        if (!meta) {
                vm_meta_init(&none);
                meta = &none;
        }
        int r = vm_check(s, vm, meta);
        if (r < 0 || (r = vm_lease_check(s, vm, lease)) < 0)
                return r;
        char ip[IP_ADDR_STRLEN], allow[ALLOW_TEXT_MAX];
        allow_format(vm->allow, vm->n_allow, allow);
        if ((r = tx_begin(s)) < 0)
                return r;
        int64_t version;
        if ((r = check_precondition(s, "VM", vm_version_sql, vm->id, if_version, &version)) < 0)
                return tx_abort(s, r);
        _cleanup_free_ char *before = NULL, *after = NULL;
        if ((r = image(s, vm_image_sql, vm->id, &before)) < 0)
                return tx_abort(s, r);
        sqlite3_stmt *st;
        if ((r = stmt(s,
                      "UPDATE vms SET ip = ?2, proxy_protocol = ?3, http_passthrough = ?4, allow = ?5, labels = ?6,"
                      " expires_at = ?7 WHERE id = ?1",
                      &st)) < 0)
                return tx_abort(s, r);
        sqlite3_bind_text(st, 1, vm->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, ip_addr_format(&vm->ip, ip), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, vm_proxy_protocol_to_string(vm->proxy_protocol), -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, vm->http_passthrough ? 1 : 0);
        sqlite3_bind_text(st, 5, allow, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 6, meta->labels, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 7, meta->expires_at);
        if ((r = step_done(s, st)) < 0 || (r = vm_hostnames_write(s, vm->id, meta)) < 0)
                return tx_abort(s, write_failed(s, r, ret_conflict));
        if ((r = image(s, vm_image_sql, vm->id, &after)) < 0)
                return tx_abort(s, r);
        if (lease && (r = lease_insert(s, lease, actor, ret_lease_conflict)) < 0)
                return tx_abort(s, r);
        if (before && after && streq(before, after)) {
                /* The VM did not change: keep its version, write no audit and no change log
                 * for it (only the new lease's, if there is one). */
                if (lease && (r = tx_commit(s)) < 0)
                        return r;
                if (!lease)
                        tx_abort(s, 0);
                if (ret_outcome)
                        *ret_outcome = STORE_UNCHANGED;
                if (ret_version)
                        *ret_version = version;
                return 0;
        }
        if ((r = bump_version(s, "UPDATE vms SET version = version + 1, updated_at = ?1 WHERE id = ?2", vm->id)) < 0 ||
            (r = record(s, actor, "update", "vm", vm_image_sql, vm->id, before, true)) < 0 || (r = tx_commit(s)) < 0)
                return tx_abort(s, r);
        if (ret_outcome)
                *ret_outcome = STORE_UPDATED;
        if (ret_version)
                *ret_version = version + 1;
        return 0;
}

int store_vm_update(struct store *s, const struct vm *vm, const struct vm_meta *meta, int64_t if_version,
                    const char *actor, enum store_conflict *ret_conflict, enum store_outcome *ret_outcome,
                    int64_t *ret_version) {
        return store_vm_update_leased(s, vm, meta, NULL, if_version, actor, ret_conflict, NULL, ret_outcome,
                                      ret_version);
}

static int leases_of_vm_remove(struct store *s, const char *id, const char *actor, struct lease **ret,
                               size_t *ret_n);

int store_vm_remove_leased(struct store *s, const char *id, int64_t if_version, const char *actor,
                           struct vm *ret_removed, struct lease **ret_leases, size_t *ret_n_leases) {
        int r = tx_begin(s);
        if (r < 0)
                return r;
        int64_t version;
        struct vm old;
        _cleanup_free_ char *before = NULL;
        _cleanup_free_ struct lease *leases = NULL;
        size_t n = 0;
        if ((r = check_precondition(s, vm_ops.what, vm_ops.version_sql, id, if_version, &version)) < 0 ||
            (ret_removed && (r = get_one(s, vm_ops.select_sql, id, vm_ops.read, &old)) < 0) ||
            (r = image(s, vm_ops.image_sql, id, &before)) < 0 || (r = run_keyed(s, vm_ops.delete_sql, id)) < 0 ||
            (r = record(s, actor, "delete", vm_ops.kind, vm_ops.image_sql, id, before, true)) < 0 ||
            (r = leases_of_vm_remove(s, id, actor, &leases, &n)) < 0 || (r = tx_commit(s)) < 0)
                return tx_abort(s, r);
        if (ret_removed)
                *ret_removed = old;
        if (ret_leases) {
                *ret_leases = TAKE_PTR(leases);
                *ret_n_leases = n;
        }
        return 0;
}

int store_vm_remove(struct store *s, const char *id, int64_t if_version, const char *actor, struct vm *ret_removed) {
        return store_vm_remove_leased(s, id, if_version, actor, ret_removed, NULL, NULL);
}

int store_vm_delete(struct store *s, const char *id, struct vm *ret_removed) {
        return store_vm_remove(s, id, 0, "internal", ret_removed);
}

int store_vm_get(struct store *s, const char *id, struct vm *ret) {
        return get_one(s, vm_ops.select_sql, id, read_vm, ret);
}

static int read_vm_meta(struct store *s, sqlite3_stmt *st, void *ret) {
        return vm_meta_from_row(s, st, 1, ret);
}

int store_vm_get_meta(struct store *s, const char *id, struct vm_meta *ret) {
        return get_one(s, "SELECT id, " VM_META_COLUMNS " FROM vms WHERE id = ?", id, read_vm_meta, ret);
}

int store_vm_find_by_ip(struct store *s, const struct ip_addr *ip, char ret_id[static VM_ID_MAX + 1]) {
        char text[IP_ADDR_STRLEN];
        return get_one(s, "SELECT id FROM vms WHERE ip = ?", ip_addr_format(ip, text), read_id, ret_id);
}

int store_vm_find_by_slug(struct store *s, const char *slug, char ret_id[static VM_ID_MAX + 1]) {
        return get_one(s, "SELECT id FROM vms WHERE slug = ?", slug, read_id, ret_id);
}

int store_vm_list_page(struct store *s, const char *after, size_t limit, const struct label_match *match,
                       size_t n_match, struct vm **ret_vms, struct vm_meta **ret_meta, size_t *ret_n, bool *ret_more) {
        _cleanup_finalize_ sqlite3_stmt *st = NULL;
        int r = page_prepare(s, "SELECT " VM_COLUMNS ", " VM_META_COLUMNS " FROM vms", after, limit, match, n_match,
                             NULL, -1, &st);
        if (r < 0)
                return r;
        _cleanup_free_ struct vm *vms = NULL;
        _cleanup_free_ struct vm_meta *metas = NULL;
        size_t n = 0, cap = 0;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                if (n == limit)
                        break; /* the row past the page: more follow */
                if (n == cap) {
                        size_t ncap = cap ? cap * 2 : 16;
                        struct vm *nv = realloc(vms, ncap * sizeof *nv);
                        if (!nv)
                                return -ENOMEM;
                        vms = nv;
                        struct vm_meta *nm = realloc(metas, ncap * sizeof *nm);
                        if (!nm)
                                return -ENOMEM;
                        metas = nm;
                        cap = ncap;
                }
                if ((r = vm_from_row(s, st, &vms[n])) < 0 || (r = vm_meta_from_row(s, st, VM_META_FIRST, &metas[n])) < 0)
                        return r;
                n++;
        }
        if (rc != SQLITE_DONE && rc != SQLITE_ROW)
                return store_fail(s, rc);
        *ret_vms = TAKE_PTR(vms);
        *ret_meta = TAKE_PTR(metas);
        *ret_n = n;
        *ret_more = rc == SQLITE_ROW;
        return 0;
}

int store_vm_expired(struct store *s, int64_t now, size_t max, char ***ret_ids, size_t *ret_n) {
        _cleanup_reset_ sqlite3_stmt *st = NULL;
        int r = stmt(s, "SELECT id FROM vms WHERE expires_at > 0 AND expires_at <= ? ORDER BY expires_at LIMIT ?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, now);
        sqlite3_bind_int64(st, 2, max > INT64_MAX ? INT64_MAX : (sqlite3_int64)max);
        return collect_strings(s, st, ret_ids, ret_n);
}

int store_vm_list(struct store *s, struct vm **ret, size_t *ret_n) {
        void *a = NULL;
        int r = query_all(s, "SELECT " VM_COLUMNS " FROM vms ORDER BY rowid", sizeof **ret, read_vm, &a, ret_n);
        if (r >= 0)
                *ret = a;
        return r;
}

int store_blocks_mark(struct store *s, struct portmap *m) {
        _cleanup_reset_ sqlite3_stmt *st = NULL;
        int r = stmt(s, "SELECT block_start, block_size FROM vms", &st);
        if (r < 0)
                return r;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
                portmap_set(m, (uint16_t)sqlite3_column_int(st, 0), (uint16_t)sqlite3_column_int(st, 1), true);
        return rc == SQLITE_DONE ? 0 : store_fail(s, rc);
}

/* ---- host names and ports ---- */

static int read_hostname(struct store *s, sqlite3_stmt *st, void *ret) {
        struct store_hostname *h = ret;
        *h = (struct store_hostname){0};
        snprintf(h->name, sizeof h->name, "%s", column_text(st, 0));
        snprintf(h->owner.kind, sizeof h->owner.kind, "%s", column_text(st, 1));
        snprintf(h->owner.id, sizeof h->owner.id, "%s", column_text(st, 2));
        return 0;
}

int store_hostnames_list(struct store *s, struct store_hostname **ret, size_t *ret_n) {
        void *a = NULL;
        int r = query_all(s, "SELECT name, owner_kind, owner_id FROM hostnames ORDER BY name", sizeof **ret,
                          read_hostname, &a, ret_n);
        if (r >= 0)
                *ret = a;
        return r;
}

int store_hostnames_of(struct store *s, const char *kind, const char *id, struct store_hostname **ret,
                       size_t *ret_n) {
        _cleanup_reset_ sqlite3_stmt *st = NULL;
        int r = stmt(s,
                     "SELECT name, owner_kind, owner_id FROM hostnames WHERE owner_kind = ? AND owner_id = ? "
                     "ORDER BY name",
                     &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, kind, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
        void *a = NULL;
        size_t n = 0;
        if ((r = collect(s, st, sizeof(struct store_hostname), read_hostname, &a, &n)) < 0)
                return r;
        *ret = a;
        *ret_n = n;
        return 0;
}

int store_hostname_owner(struct store *s, const char *name, struct store_owner *ret) {
        struct store_hostname h;
        int r = get_one(s, "SELECT name, owner_kind, owner_id FROM hostnames WHERE name = ?", name, read_hostname, &h);
        if (r < 0)
                return r;
        *ret = h.owner;
        return 0;
}

int store_port_owner(struct store *s, uint16_t port, enum proto proto, struct store_owner *ret) {
        _cleanup_reset_ sqlite3_stmt *st = NULL;
        /* A forward and a block never share a port (the triggers), so at most one row. */
        int r = stmt(s,
                     "SELECT 'forward', id FROM forwards WHERE public_port = ?1 AND proto = ?2"
                     " UNION ALL SELECT 'vm', id FROM vms WHERE block_start > ?1 - 1000 AND block_start <= ?1"
                     "  AND block_start + block_size > ?1 LIMIT 1",
                     &st);
        if (r < 0)
                return r;
        sqlite3_bind_int(st, 1, port);
        sqlite3_bind_text(st, 2, proto_to_string(proto), -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
                return rc == SQLITE_DONE ? -ENOENT : store_fail(s, rc);
        struct store_owner o = {0};
        snprintf(o.kind, sizeof o.kind, "%s", column_text(st, 0));
        snprintf(o.id, sizeof o.id, "%s", column_text(st, 1));
        *ret = o;
        return 0;
}

/* ---- routes ---- */

#define ROUTE_COLUMNS                                                                                             \
        "id, hostname, ip, port, http_port, proxy_protocol, http_passthrough, allow, origin, agent_target_url,"  \
        " agent_entrypoint, agent_certresolver, labels, created_at, updated_at, version, dns"

static int route_from_row(struct store *s, sqlite3_stmt *st, void *ret) {
        struct route_def r;
        route_def_init(&r);
        snprintf(r.id, sizeof r.id, "%s", column_text(st, 0));
        enum vm_proxy_protocol p;
        enum resource_origin o;
        if (strcpy_bounded(r.hostname, sizeof r.hostname, column_text(st, 1)) < 0 ||
            ip_addr_parse(column_text(st, 2), &r.ip) < 0 ||
            vm_proxy_protocol_from_string(column_text(st, 5), &p) < 0 ||
            allow_parse(column_text(st, 7), r.allow, &r.n_allow) < 0 ||
            resource_origin_from_string(column_text(st, 8), &o) < 0 ||
            strcpy_bounded(r.agent_target_url, sizeof r.agent_target_url, column_text(st, 9)) < 0 ||
            strcpy_bounded(r.agent_entrypoint, sizeof r.agent_entrypoint, column_text(st, 10)) < 0 ||
            strcpy_bounded(r.agent_certresolver, sizeof r.agent_certresolver, column_text(st, 11)) < 0 ||
            strcpy_bounded(r.labels, sizeof r.labels, column_text(st, 12)) < 0) {
                snprintf(s->errmsg, sizeof s->errmsg, "route '%s': unreadable row in the store", r.id);
                return -EBADMSG;
        }
        r.port = (uint16_t)sqlite3_column_int(st, 3);
        r.http_port = (uint16_t)sqlite3_column_int(st, 4);
        r.proxy_protocol = (uint8_t)p;
        r.http_passthrough = sqlite3_column_int(st, 6) != 0;
        r.origin = (uint8_t)o;
        r.created_at = sqlite3_column_int64(st, 13);
        r.updated_at = sqlite3_column_int64(st, 14);
        r.version = sqlite3_column_int64(st, 15);
        r.dns = sqlite3_column_int(st, 16) != 0;
        *(struct route_def *)ret = r;
        return 0;
}

static bool route_storable(const struct route_def *r) {
        return TERMINATED(r->id) && vm_id_valid(r->id) && TERMINATED(r->hostname) &&
               route_hostname_valid(r->hostname) && ip_valid(&r->ip) && r->port > 0 && r->http_port > 0 &&
               options_valid(r->proxy_protocol, r->n_allow, r->allow) &&
               resource_origin_to_string((enum resource_origin)r->origin) && TERMINATED(r->agent_target_url) &&
               TERMINATED(r->agent_entrypoint) && TERMINATED(r->agent_certresolver) && labels_storable(r->labels);
}

/* Binds ?1..?13 and ?15 of the route insert/update statements. */
static void route_bind(sqlite3_stmt *st, const struct route_def *r) {
        char ip[IP_ADDR_STRLEN], allow[ALLOW_TEXT_MAX];
        allow_format(r->allow, r->n_allow, allow);
        sqlite3_bind_text(st, 1, r->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, r->hostname, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, ip_addr_format(&r->ip, ip), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 4, r->port);
        sqlite3_bind_int(st, 5, r->http_port);
        sqlite3_bind_text(st, 6, vm_proxy_protocol_to_string(r->proxy_protocol), -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 7, r->http_passthrough ? 1 : 0);
        sqlite3_bind_text(st, 8, allow, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 9, resource_origin_to_string((enum resource_origin)r->origin), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 10, r->agent_target_url, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 11, r->agent_entrypoint, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 12, r->agent_certresolver, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 13, r->labels, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 15, r->dns ? 1 : 0);
}

static int route_write_create(struct store *s, const void *def, int64_t now) {
        sqlite3_stmt *st;
        int r = stmt(s,
                     "INSERT INTO routes (" ROUTE_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
                     " ?14, ?14, 1, ?15)",
                     &st);
        if (r < 0)
                return r;
        route_bind(st, def);
        sqlite3_bind_int64(st, 14, now);
        return step_done(s, st);
}

static int route_write_update(struct store *s, const void *def) {
        sqlite3_stmt *st;
        int r = stmt(s,
                     "UPDATE routes SET hostname = ?2, ip = ?3, port = ?4, http_port = ?5, proxy_protocol = ?6,"
                     " http_passthrough = ?7, allow = ?8, origin = ?9, agent_target_url = ?10, agent_entrypoint = ?11,"
                     " agent_certresolver = ?12, labels = ?13, dns = ?15 WHERE id = ?1",
                     &st);
        if (r < 0)
                return r;
        route_bind(st, def);
        return step_done(s, st);
}

static const struct row_ops route_ops = {
        .what = "route",
        .kind = "route",
        .select_sql = "SELECT " ROUTE_COLUMNS " FROM routes WHERE id = ?",
        .version_sql = "SELECT version FROM routes WHERE id = ?",
        .image_sql = route_image_sql,
        .bump_sql = "UPDATE routes SET version = version + 1, updated_at = ?1 WHERE id = ?2",
        .delete_sql = "DELETE FROM routes WHERE id = ?",
        .read = route_from_row,
        .size = sizeof(struct route_def),
        .write_create = route_write_create,
        .write_update = route_write_update,
};

int store_route_put(struct store *s, const struct route_def *r, enum store_write_mode mode, int64_t if_version,
                    const char *actor, enum store_conflict *ret_conflict, enum store_outcome *ret_outcome,
                    struct route_def *ret_stored) {
        if (!route_storable(r)) {
                snprintf(s->errmsg, sizeof s->errmsg, "route '%.64s': invalid field", TERMINATED(r->id) ? r->id : "?");
                return -EINVAL;
        }
        return put(s, &route_ops, r->id, r, mode, if_version, actor, ret_conflict, ret_outcome, ret_stored);
}

int store_route_get(struct store *s, const char *id, struct route_def *ret) {
        return get_one(s, route_ops.select_sql, id, route_from_row, ret);
}

int store_route_remove(struct store *s, const char *id, int64_t if_version, const char *actor,
                       struct route_def *ret_removed) {
        return remove_row(s, &route_ops, id, if_version, actor, ret_removed);
}

int store_route_list_page(struct store *s, const char *after, size_t limit, const struct label_match *match,
                          size_t n_match, int origin, struct route_def **ret, size_t *ret_n, bool *ret_more) {
        void *a = NULL;
        int r = query_page(s, "SELECT " ROUTE_COLUMNS " FROM routes", after, limit, match, n_match, origin, sizeof **ret,
                           route_from_row, &a, ret_n, ret_more);
        if (r >= 0)
                *ret = a;
        return r;
}

int store_route_list_all(struct store *s, struct route_def **ret, size_t *ret_n) {
        void *a = NULL;
        int r = query_all(s, "SELECT " ROUTE_COLUMNS " FROM routes ORDER BY id", sizeof **ret, route_from_row, &a,
                          ret_n);
        if (r >= 0)
                *ret = a;
        return r;
}

/* ---- forwards ---- */

#define FORWARD_COLUMNS "id, public_port, proto, ip, port, origin, labels, created_at, updated_at, version"

static int forward_from_row(struct store *s, sqlite3_stmt *st, void *ret) {
        struct forward_def f;
        forward_def_init(&f);
        snprintf(f.id, sizeof f.id, "%s", column_text(st, 0));
        const char *proto = column_text(st, 2);
        enum resource_origin o;
        if ((!streq(proto, "tcp") && !streq(proto, "udp")) || ip_addr_parse(column_text(st, 3), &f.ip) < 0 ||
            resource_origin_from_string(column_text(st, 5), &o) < 0 ||
            strcpy_bounded(f.labels, sizeof f.labels, column_text(st, 6)) < 0) {
                snprintf(s->errmsg, sizeof s->errmsg, "forward '%s': unreadable row in the store", f.id);
                return -EBADMSG;
        }
        f.public_port = (uint16_t)sqlite3_column_int(st, 1);
        f.proto = streq(proto, "udp") ? PROTO_UDP : PROTO_TCP;
        f.port = (uint16_t)sqlite3_column_int(st, 4);
        f.origin = (uint8_t)o;
        f.created_at = sqlite3_column_int64(st, 7);
        f.updated_at = sqlite3_column_int64(st, 8);
        f.version = sqlite3_column_int64(st, 9);
        *(struct forward_def *)ret = f;
        return 0;
}

static bool forward_storable(const struct forward_def *f) {
        return TERMINATED(f->id) && vm_id_valid(f->id) && (f->proto == PROTO_TCP || f->proto == PROTO_UDP) &&
               f->public_port > 0 && ip_valid(&f->ip) && f->port > 0 &&
               resource_origin_to_string((enum resource_origin)f->origin) && labels_storable(f->labels);
}

static void forward_bind(sqlite3_stmt *st, const struct forward_def *f) {
        char ip[IP_ADDR_STRLEN];
        sqlite3_bind_text(st, 1, f->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 2, f->public_port);
        sqlite3_bind_text(st, 3, proto_to_string((enum proto)f->proto), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, ip_addr_format(&f->ip, ip), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 5, f->port);
        sqlite3_bind_text(st, 6, resource_origin_to_string((enum resource_origin)f->origin), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, f->labels, -1, SQLITE_TRANSIENT);
}

static int forward_write_create(struct store *s, const void *def, int64_t now) {
        sqlite3_stmt *st;
        int r = stmt(s, "INSERT INTO forwards (" FORWARD_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, 1)", &st);
        if (r < 0)
                return r;
        forward_bind(st, def);
        sqlite3_bind_int64(st, 8, now);
        return step_done(s, st);
}

static int forward_write_update(struct store *s, const void *def) {
        sqlite3_stmt *st;
        int r = stmt(s,
                     "UPDATE forwards SET public_port = ?2, proto = ?3, ip = ?4, port = ?5, origin = ?6, labels = ?7"
                     " WHERE id = ?1",
                     &st);
        if (r < 0)
                return r;
        forward_bind(st, def);
        return step_done(s, st);
}

static const struct row_ops forward_ops = {
        .what = "forward",
        .kind = "forward",
        .select_sql = "SELECT " FORWARD_COLUMNS " FROM forwards WHERE id = ?",
        .version_sql = "SELECT version FROM forwards WHERE id = ?",
        .image_sql = forward_image_sql,
        .bump_sql = "UPDATE forwards SET version = version + 1, updated_at = ?1 WHERE id = ?2",
        .delete_sql = "DELETE FROM forwards WHERE id = ?",
        .read = forward_from_row,
        .size = sizeof(struct forward_def),
        .write_create = forward_write_create,
        .write_update = forward_write_update,
};

int store_forward_put(struct store *s, const struct forward_def *f, enum store_write_mode mode, int64_t if_version,
                      const char *actor, enum store_conflict *ret_conflict, enum store_outcome *ret_outcome,
                      struct forward_def *ret_stored) {
        if (!forward_storable(f)) {
                snprintf(s->errmsg, sizeof s->errmsg, "forward '%.64s': invalid field", TERMINATED(f->id) ? f->id : "?");
                return -EINVAL;
        }
        return put(s, &forward_ops, f->id, f, mode, if_version, actor, ret_conflict, ret_outcome, ret_stored);
}

int store_forward_get(struct store *s, const char *id, struct forward_def *ret) {
        return get_one(s, forward_ops.select_sql, id, forward_from_row, ret);
}

int store_forward_remove(struct store *s, const char *id, int64_t if_version, const char *actor,
                         struct forward_def *ret_removed) {
        return remove_row(s, &forward_ops, id, if_version, actor, ret_removed);
}

int store_forward_list_page(struct store *s, const char *after, size_t limit, const struct label_match *match,
                            size_t n_match, int origin, struct forward_def **ret, size_t *ret_n, bool *ret_more) {
        void *a = NULL;
        int r = query_page(s, "SELECT " FORWARD_COLUMNS " FROM forwards", after, limit, match, n_match, origin,
                           sizeof **ret, forward_from_row, &a, ret_n, ret_more);
        if (r >= 0)
                *ret = a;
        return r;
}

int store_forward_list_all(struct store *s, struct forward_def **ret, size_t *ret_n) {
        void *a = NULL;
        int r = query_all(s, "SELECT " FORWARD_COLUMNS " FROM forwards ORDER BY id", sizeof **ret, forward_from_row,
                          &a, ret_n);
        if (r >= 0)
                *ret = a;
        return r;
}

int store_forward_ports_mark(struct store *s, struct portmap *m) {
        _cleanup_reset_ sqlite3_stmt *st = NULL;
        int r = stmt(s, "SELECT public_port FROM forwards", &st);
        if (r < 0)
                return r;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
                portmap_set(m, (uint16_t)sqlite3_column_int(st, 0), 1, true);
        return rc == SQLITE_DONE ? 0 : store_fail(s, rc);
}

/* ---- snapshots and the change log ---- */

static int change_head(struct store *s, int64_t *ret) {
        _cleanup_reset_ sqlite3_stmt *st = NULL;
        /* sqlite_sequence keeps the AUTOINCREMENT high-water mark even after pruning. */
        int r = stmt(s, "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'changes'), 0)", &st);
        if (r < 0)
                return r;
        int rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
                return store_fail(s, rc);
        *ret = sqlite3_column_int64(st, 0);
        return 0;
}

int store_snapshot_load(struct store *s, struct vm **ret_vms, size_t *ret_n, int64_t *ret_change_seq) {
        int r = run(s, "BEGIN");
        if (r < 0)
                return r;
        int64_t seq = 0;
        struct vm *vms = NULL;
        size_t n = 0;
        if ((r = change_head(s, &seq)) < 0 || (r = store_vm_list(s, &vms, &n)) < 0)
                return tx_abort(s, r);
        (void)run(s, "COMMIT");
        *ret_vms = vms;
        *ret_n = n;
        *ret_change_seq = seq;
        return 0;
}

int store_snapshot_load_all(struct store *s, struct vm **ret_vms, size_t *ret_n_vms, struct forward_def **ret_fwds,
                            size_t *ret_n_fwds, int64_t *ret_change_seq) {
        int r = run(s, "BEGIN");
        if (r < 0)
                return r;
        int64_t seq = 0;
        _cleanup_free_ struct vm *vms = NULL;
        _cleanup_free_ struct forward_def *fwds = NULL;
        size_t n_vms = 0, n_fwds = 0;
        if ((r = change_head(s, &seq)) < 0 || (r = store_vm_list(s, &vms, &n_vms)) < 0 ||
            (r = store_forward_list_all(s, &fwds, &n_fwds)) < 0)
                return tx_abort(s, r);
        (void)run(s, "COMMIT");
        *ret_vms = TAKE_PTR(vms);
        *ret_n_vms = n_vms;
        *ret_fwds = TAKE_PTR(fwds);
        *ret_n_fwds = n_fwds;
        *ret_change_seq = seq;
        return 0;
}

int store_changes_since(struct store *s, int64_t after, size_t max, char ***ret_ids, size_t *ret_n, int64_t *ret_seq) {
        struct store_change *c = NULL;
        size_t n = 0;
        int r = store_changes_read(s, after, max, &c, &n);
        if (r < 0)
                return r;
        /* Keys of every kind, as before routes and forwards existed: a VM reader that looks a
         * route's key up as a VM finds nothing (or the same VM) and moves on. */
        char **ids = n ? calloc(n, sizeof *ids) : NULL;
        if (n && !ids) {
                free(c);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++)
                if (!(ids[i] = strdup(c[i].key))) {
                        strings_free(ids, i);
                        free(c);
                        return -ENOMEM;
                }
        *ret_seq = n ? c[n - 1].seq : after;
        free(c);
        *ret_ids = ids;
        *ret_n = n;
        return 0;
}

static int read_change(struct store *s, sqlite3_stmt *st, void *ret) {
        struct store_change *c = ret;
        *c = (struct store_change){.seq = sqlite3_column_int64(st, 0)};
        snprintf(c->kind, sizeof c->kind, "%s", column_text(st, 1));
        snprintf(c->key, sizeof c->key, "%s", column_text(st, 2));
        return 0;
}

int store_changes_read(struct store *s, int64_t after, size_t max, struct store_change **ret, size_t *ret_n) {
        _cleanup_reset_ sqlite3_stmt *st = NULL;
        int r = stmt(s, "SELECT seq, kind, key FROM changes WHERE seq > ? ORDER BY seq LIMIT ?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, after);
        sqlite3_bind_int64(st, 2, max > INT64_MAX ? INT64_MAX : (sqlite3_int64)max);
        void *a = NULL;
        size_t n = 0;
        if ((r = collect(s, st, sizeof(struct store_change), read_change, &a, &n)) < 0)
                return r;
        *ret = a;
        *ret_n = n;
        return 0;
}

int store_changes_prune(struct store *s, int64_t upto) {
        sqlite3_stmt *st;
        int r = stmt(s, "DELETE FROM changes WHERE seq <= ?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, upto);
        return step_done(s, st);
}

int store_counts(struct store *s, struct store_counts *ret) {
        _cleanup_reset_ sqlite3_stmt *st = NULL;
        int r = stmt(s,
                     "SELECT (SELECT count(*) FROM vms), (SELECT count(*) FROM routes), (SELECT count(*) FROM forwards),"
                     " (SELECT count(*) FROM tokens), (SELECT count(*) FROM hostnames),"
                     " (SELECT COALESCE(sum(block_size), 0) FROM vms)",
                     &st);
        if (r < 0)
                return r;
        int rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
                return store_fail(s, rc);
        *ret = (struct store_counts){
                .vms = (uint64_t)sqlite3_column_int64(st, 0),
                .routes = (uint64_t)sqlite3_column_int64(st, 1),
                .forwards = (uint64_t)sqlite3_column_int64(st, 2),
                .tokens = (uint64_t)sqlite3_column_int64(st, 3),
                .hostnames = (uint64_t)sqlite3_column_int64(st, 4),
                .block_ports = (uint64_t)sqlite3_column_int64(st, 5),
        };
        return 0;
}

/* ---- tokens ---- */

#define TOKEN_COLUMNS "name, key_id, hash, scopes, created_at, last_used_at, datacenter"

static int token_from_row(struct store *s, sqlite3_stmt *st, void *ret) {
        struct token_rec t = {0};
        snprintf(t.name, sizeof t.name, "%s", column_text(st, 0));
        const void *hash = sqlite3_column_blob(st, 2);
        if (strcpy_bounded(t.key_id, sizeof t.key_id, column_text(st, 1)) < 0 ||
            sqlite3_column_bytes(st, 2) != TOKEN_HASH_LEN || !hash || scopes_parse(column_text(st, 3), &t.scopes, NULL) < 0) {
                snprintf(s->errmsg, sizeof s->errmsg, "token '%s': unreadable row in the store", t.name);
                return -EBADMSG;
        }
        memcpy(t.hash, hash, TOKEN_HASH_LEN);
        t.created_at = sqlite3_column_int64(st, 4);
        t.last_used_at = sqlite3_column_int64(st, 5);
        if (strcpy_bounded(t.datacenter, sizeof t.datacenter, column_text(st, 6)) < 0) {
                snprintf(s->errmsg, sizeof s->errmsg, "token '%s': unreadable datacenter in the store", t.name);
                return -EBADMSG;
        }
        *(struct token_rec *)ret = t;
        return 0;
}

static bool token_storable(const struct token_rec *t) {
        if (!TERMINATED(t->name) || !vm_id_valid(t->name) || !TERMINATED(t->key_id) ||
            strlen(t->key_id) != TOKEN_KEY_ID_LEN || t->scopes == 0 || (t->scopes & ~(uint32_t)SCOPE_ALL) ||
            !TERMINATED(t->datacenter) || (t->datacenter[0] && !dns_label_valid(t->datacenter, strlen(t->datacenter))))
                return false;
        for (size_t i = 0; i < TOKEN_KEY_ID_LEN; i++)
                if (!strchr("0123456789abcdef", t->key_id[i]))
                        return false;
        return true;
}

int store_token_add(struct store *s, const struct token_rec *t, const char *actor) {
        if (!token_storable(t)) {
                snprintf(s->errmsg, sizeof s->errmsg, "token: invalid name, key id, scopes or datacenter");
                return -EINVAL;
        }
        char scopes[SCOPES_TEXT_MAX];
        scopes_format(t->scopes, scopes);
        int r = tx_begin(s);
        if (r < 0)
                return r;
        sqlite3_stmt *st;
        if ((r = stmt(s, "INSERT INTO tokens (" TOKEN_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?)", &st)) < 0)
                return tx_abort(s, r);
        sqlite3_bind_text(st, 1, t->name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, t->key_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 3, t->hash, TOKEN_HASH_LEN, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, scopes, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 5, t->created_at);
        sqlite3_bind_int64(st, 6, t->last_used_at);
        sqlite3_bind_text(st, 7, t->datacenter, -1, SQLITE_TRANSIENT);
        if ((r = step_done(s, st)) < 0 ||
            (r = record(s, actor, "create", "token", token_image_sql, t->name, NULL, false)) < 0 ||
            (r = tx_commit(s)) < 0)
                return tx_abort(s, r);
        return 0;
}

int store_token_list(struct store *s, struct token_rec **ret, size_t *ret_n) {
        void *a = NULL;
        int r = query_all(s, "SELECT " TOKEN_COLUMNS " FROM tokens ORDER BY name", sizeof **ret, token_from_row, &a,
                          ret_n);
        if (r >= 0)
                *ret = a;
        return r;
}

int store_token_get_by_key(struct store *s, const char *key_id, struct token_rec *ret) {
        return get_one(s, "SELECT " TOKEN_COLUMNS " FROM tokens WHERE key_id = ?", key_id, token_from_row, ret);
}

int store_token_remove(struct store *s, const char *name, const char *actor, struct token_rec *ret_removed) {
        int r = tx_begin(s);
        if (r < 0)
                return r;
        struct token_rec old;
        _cleanup_free_ char *before = NULL;
        if ((r = get_one(s, "SELECT " TOKEN_COLUMNS " FROM tokens WHERE name = ?", name, token_from_row, &old)) < 0 ||
            (r = image(s, token_image_sql, name, &before)) < 0 ||
            (r = run_keyed(s, "DELETE FROM tokens WHERE name = ?", name)) < 0 ||
            (r = record(s, actor, "delete", "token", token_image_sql, name, before, false)) < 0 ||
            (r = tx_commit(s)) < 0)
                return tx_abort(s, r);
        if (ret_removed)
                *ret_removed = old;
        return 0;
}

int store_token_touch(struct store *s, const char *name, int64_t when) {
        sqlite3_stmt *st;
        /* Only forward in time: a second use within the same second writes nothing. */
        int r = stmt(s, "UPDATE tokens SET last_used_at = ?2 WHERE name = ?1 AND last_used_at < ?2", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, when);
        return step_done(s, st);
}

/* ---- audit ---- */

void audit_recs_free(struct audit_rec *a, size_t n) {
        if (!a)
                return;
        for (size_t i = 0; i < n; i++) {
                free(a[i].before);
                free(a[i].after);
        }
        free(a);
}

/* A nullable text column as a malloc'd string (NULL for NULL). */
static int column_strdup(sqlite3_stmt *st, int col, char **ret) {
        *ret = NULL;
        if (sqlite3_column_type(st, col) == SQLITE_NULL)
                return 0;
        *ret = strdup(column_text(st, col));
        return *ret ? 0 : -ENOMEM;
}

int store_audit_list(struct store *s, int64_t before, size_t limit, const char *kind, const char *key,
                     struct audit_rec **ret, size_t *ret_n) {
        /* One statement per filter combination, so each can use the (kind, key) index. */
        static const char *const sql[4] = {
                "SELECT seq, at, actor, action, kind, key, before, after FROM audit WHERE seq < ?1"
                " ORDER BY seq DESC LIMIT ?4",
                "SELECT seq, at, actor, action, kind, key, before, after FROM audit WHERE seq < ?1 AND kind = ?2"
                " ORDER BY seq DESC LIMIT ?4",
                "SELECT seq, at, actor, action, kind, key, before, after FROM audit WHERE seq < ?1 AND key = ?3"
                " ORDER BY seq DESC LIMIT ?4",
                "SELECT seq, at, actor, action, kind, key, before, after FROM audit WHERE seq < ?1 AND kind = ?2"
                " AND key = ?3 ORDER BY seq DESC LIMIT ?4",
        };
        if (limit < 1 || limit > 1000) {
                snprintf(s->errmsg, sizeof s->errmsg, "invalid page request");
                return -EINVAL;
        }
        _cleanup_reset_ sqlite3_stmt *st = NULL;
        int r = stmt(s, sql[(kind ? 1 : 0) | (key ? 2 : 0)], &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, before > 0 ? before : INT64_MAX);
        if (kind)
                sqlite3_bind_text(st, 2, kind, -1, SQLITE_TRANSIENT);
        if (key)
                sqlite3_bind_text(st, 3, key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)limit);
        struct audit_rec *a = calloc(limit, sizeof *a);
        if (!a)
                return -ENOMEM;
        size_t n = 0;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                struct audit_rec *e = &a[n++];
                e->seq = sqlite3_column_int64(st, 0);
                e->at = sqlite3_column_int64(st, 1);
                snprintf(e->actor, sizeof e->actor, "%s", column_text(st, 2));
                snprintf(e->action, sizeof e->action, "%s", column_text(st, 3));
                snprintf(e->kind, sizeof e->kind, "%s", column_text(st, 4));
                snprintf(e->key, sizeof e->key, "%s", column_text(st, 5));
                if ((r = column_strdup(st, 6, &e->before)) < 0 || (r = column_strdup(st, 7, &e->after)) < 0) {
                        audit_recs_free(a, n);
                        return r;
                }
        }
        if (rc != SQLITE_DONE) {
                r = store_fail(s, rc);
                audit_recs_free(a, n);
                return r;
        }
        if (n == 0) {
                free(a);
                a = NULL;
        }
        *ret = a;
        *ret_n = n;
        return 0;
}

/* ---- DNS outbox (schema 4) ---- */

static const char *const dns_state_names[] = {
        [STORE_DNS_PENDING] = "pending",
        [STORE_DNS_SYNCED] = "synced",
        [STORE_DNS_ERROR] = "error",
        [STORE_DNS_DELETING] = "deleting",
};

const char *store_dns_state_to_string(enum store_dns_state st) {
        return (unsigned)st < ELEMENTSOF(dns_state_names) ? dns_state_names[st] : NULL;
}

int store_dns_state_from_string(const char *text, enum store_dns_state *ret) {
        for (size_t i = 0; i < ELEMENTSOF(dns_state_names); i++)
                if (strcmp(text, dns_state_names[i]) == 0) {
                        *ret = (enum store_dns_state)i;
                        return 0;
                }
        return -EINVAL;
}

#define DNS_COLUMNS                                                                                               \
        "name, type, content, ttl, proxied, owner_kind, owner_id, state, last_error, attempts, next_retry_at, "      \
        "provider_ref, updated_at"

static int dns_from_row(struct store *s, sqlite3_stmt *st, void *ret) {
        struct store_dns_record *d = ret;
        memset(d, 0, sizeof *d);
        snprintf(d->want.name, sizeof d->want.name, "%s", column_text(st, 0));
        d->want.type = (uint16_t)sqlite3_column_int(st, 1);
        snprintf(d->want.content, sizeof d->want.content, "%s", column_text(st, 2));
        d->want.ttl = (uint32_t)sqlite3_column_int64(st, 3);
        d->want.proxied = sqlite3_column_int(st, 4) != 0;
        snprintf(d->want.owner_kind, sizeof d->want.owner_kind, "%s", column_text(st, 5));
        snprintf(d->want.owner_id, sizeof d->want.owner_id, "%s", column_text(st, 6));
        if (store_dns_state_from_string(column_text(st, 7), &d->state) < 0) {
                snprintf(s->errmsg, sizeof s->errmsg, "dns_records: unknown state '%s'", column_text(st, 7));
                return -EBADMSG;
        }
        snprintf(d->last_error, sizeof d->last_error, "%s", column_text(st, 8));
        d->attempts = (uint32_t)sqlite3_column_int64(st, 9);
        d->next_retry_at = sqlite3_column_int64(st, 10);
        snprintf(d->provider_ref, sizeof d->provider_ref, "%s", column_text(st, 11));
        d->updated_at = sqlite3_column_int64(st, 12);
        return 0;
}

int store_dns_list(struct store *s, struct store_dns_record **ret, size_t *ret_n) {
        void *a = NULL;
        int r = query_all(s, "SELECT " DNS_COLUMNS " FROM dns_records ORDER BY name, type", sizeof **ret, dns_from_row,
                          &a, ret_n);
        if (r >= 0)
                *ret = a;
        return r;
}

int store_dns_list_owner(struct store *s, const char *kind, const char *id, struct store_dns_record **ret,
                         size_t *ret_n) {
        _cleanup_reset_ sqlite3_stmt *st = NULL;
        int r = stmt(s, "SELECT " DNS_COLUMNS " FROM dns_records WHERE owner_kind = ?1 AND owner_id = ?2 ORDER BY name, type",
                     &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, kind, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
        void *a = NULL;
        r = collect(s, st, sizeof **ret, dns_from_row, &a, ret_n);
        if (r >= 0)
                *ret = a;
        return r;
}

static int dns_upsert(struct store *s, const struct dns_record_want *w, int64_t now) {
        sqlite3_stmt *st;
        /* provider_ref stays: the reconciler updates the provider's record in place. */
        int r = stmt(s,
                     "INSERT INTO dns_records (name, type, content, ttl, proxied, owner_kind, owner_id, state, "
                     "  last_error, attempts, next_retry_at, updated_at) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', '', 0, ?8, ?8) "
                     "ON CONFLICT (name, type) DO UPDATE SET content = ?3, ttl = ?4, proxied = ?5, owner_kind = ?6, "
                     "  owner_id = ?7, state = 'pending', last_error = '', attempts = 0, next_retry_at = ?8, "
                     "  updated_at = ?8",
                     &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, w->name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 2, w->type);
        sqlite3_bind_text(st, 3, w->content, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, w->ttl);
        sqlite3_bind_int(st, 5, w->proxied ? 1 : 0);
        sqlite3_bind_text(st, 6, w->owner_kind, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 7, w->owner_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 8, now);
        return step_done(s, st);
}

static int dns_retire(struct store *s, const struct dns_record_want *w, int64_t now) {
        sqlite3_stmt *st;
        int r = stmt(s,
                     "UPDATE dns_records SET state = 'deleting', last_error = '', attempts = 0, next_retry_at = ?3, "
                     "  updated_at = ?3 WHERE name = ?1 AND type = ?2",
                     &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, w->name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 2, w->type);
        sqlite3_bind_int64(st, 3, now);
        return step_done(s, st);
}

static bool dns_want_storable(const struct dns_record_want *w) {
        return TERMINATED(w->name) && w->name[0] && (w->type == 1 || w->type == 28) && TERMINATED(w->content) &&
               TERMINATED(w->owner_kind) && TERMINATED(w->owner_id);
}

int store_dns_sync_desired(struct store *s, const struct dns_record_want *wants, size_t n, int64_t now,
                           size_t *ret_changed) {
        for (size_t i = 0; i < n; i++)
                if (!dns_want_storable(&wants[i]) ||
                    (i > 0 && dns_record_want_compare(&wants[i - 1], &wants[i]) >= 0))
                        return -EINVAL;
        int r = tx_begin(s);
        if (r < 0)
                return r;
        _cleanup_free_ struct store_dns_record *have = NULL;
        size_t n_have = 0, changed = 0;
        r = store_dns_list(s, &have, &n_have);
        if (r < 0)
                return tx_abort(s, r);
        /* A merge of two lists sorted by (name, type): SQLite's default text order is memcmp,
         * as is dns_record_want_compare()'s strcmp. */
        size_t i = 0, j = 0;
        while (i < n || j < n_have) {
                int c = i == n ? 1 : j == n_have ? -1 : dns_record_want_compare(&wants[i], &have[j].want);
                if (c < 0) {
                        r = dns_upsert(s, &wants[i++], now);
                        changed++;
                } else if (c > 0) {
                        if (have[j].state != STORE_DNS_DELETING) {
                                r = dns_retire(s, &have[j].want, now);
                                changed++;
                        }
                        j++;
                } else {
                        if (have[j].state == STORE_DNS_DELETING || !dns_record_want_equal(&wants[i], &have[j].want)) {
                                r = dns_upsert(s, &wants[i], now);
                                changed++;
                        }
                        i++, j++;
                }
                if (r < 0)
                        return tx_abort(s, r);
        }
        r = tx_commit(s);
        if (r < 0)
                return r;
        if (ret_changed)
                *ret_changed = changed;
        return 0;
}

int store_dns_due(struct store *s, int64_t now, size_t max, struct store_dns_record **ret, size_t *ret_n) {
        _cleanup_reset_ sqlite3_stmt *st = NULL;
        int r = stmt(s,
                     "SELECT " DNS_COLUMNS " FROM dns_records WHERE state IN ('pending','error','deleting') "
                     "AND next_retry_at <= ?1 ORDER BY next_retry_at, name, type LIMIT ?2",
                     &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, now);
        sqlite3_bind_int64(st, 2, max > INT64_MAX ? INT64_MAX : (int64_t)max);
        void *a = NULL;
        r = collect(s, st, sizeof **ret, dns_from_row, &a, ret_n);
        if (r >= 0)
                *ret = a;
        return r;
}

/* The SET part both marks share (?3 state, ?4 error, ?5 next retry, ?6 provider ref or
 * NULL to keep it, ?7 now): a deleting row stays deleting through errors (the intent must
 * survive a failed attempt). */
#define DNS_MARK_SET                                                                                               \
        "UPDATE dns_records SET"                                                                                   \
        "  state = CASE WHEN state = 'deleting' THEN 'deleting' ELSE ?3 END,"                                      \
        "  last_error = ?4,"                                                                                       \
        "  attempts = CASE WHEN ?3 = 'error' THEN attempts + 1 ELSE 0 END,"                                        \
        "  next_retry_at = ?5,"                                                                                    \
        "  provider_ref = COALESCE(?6, provider_ref),"                                                             \
        "  updated_at = ?7 "

static void dns_mark_bind(sqlite3_stmt *st, const char *name, uint16_t type, enum store_dns_state state,
                          const char *error, int64_t next_retry_at, const char *provider_ref) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 2, type);
        sqlite3_bind_text(st, 3, store_dns_state_to_string(state), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, state == STORE_DNS_ERROR && error ? error : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 5, next_retry_at);
        if (provider_ref)
                sqlite3_bind_text(st, 6, provider_ref, -1, SQLITE_TRANSIENT);
        else
                sqlite3_bind_null(st, 6);
        sqlite3_bind_int64(st, 7, now_seconds());
}

int store_dns_republish(struct store *s, int64_t now) {
        sqlite3_stmt *st;
        int r = stmt(s,
                     "UPDATE dns_records SET state = 'pending', last_error = '', attempts = 0, next_retry_at = ?1,"
                     " updated_at = ?1 WHERE state IN ('synced', 'error')",
                     &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, now);
        return step_done(s, st);
}

int store_dns_mark(struct store *s, const char *name, uint16_t type, enum store_dns_state state, const char *error,
                   int64_t next_retry_at, const char *provider_ref) {
        if (!store_dns_state_to_string(state) || state == STORE_DNS_DELETING)
                return -EINVAL;
        sqlite3_stmt *st;
        /* A deleting row stays deleting through errors (the intent must survive a failed
         * attempt) and disappears once the provider confirms. */
        int r = stmt(s,
                     DNS_MARK_SET "WHERE name = ?1 AND type = ?2 AND NOT (state = 'deleting' AND ?3 = 'synced')",
                     &st);
        if (r < 0)
                return r;
        dns_mark_bind(st, name, type, state, error, next_retry_at, provider_ref);
        r = step_done(s, st);
        if (r < 0)
                return r;
        if (sqlite3_changes(s->db) > 0)
                return 0;
        if (state == STORE_DNS_SYNCED) {
                r = stmt(s, "DELETE FROM dns_records WHERE name = ?1 AND type = ?2 AND state = 'deleting'", &st);
                if (r < 0)
                        return r;
                sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
                sqlite3_bind_int(st, 2, type);
                r = step_done(s, st);
                if (r < 0)
                        return r;
                if (sqlite3_changes(s->db) > 0)
                        return 0;
        }
        return -ENOENT;
}

int store_dns_mark_seen(struct store *s, const struct store_dns_record *seen, enum store_dns_state state,
                        const char *error, int64_t next_retry_at, const char *provider_ref) {
        if (!seen || !store_dns_state_to_string(state) || state == STORE_DNS_DELETING)
                return -EINVAL;
        const struct dns_record_want *w = &seen->want;
        sqlite3_stmt *st;
        int r;
        if (seen->state == STORE_DNS_DELETING && state == STORE_DNS_SYNCED) {
                r = stmt(s, "DELETE FROM dns_records WHERE name = ?1 AND type = ?2 AND state = 'deleting'", &st);
                if (r < 0)
                        return r;
                sqlite3_bind_text(st, 1, w->name, -1, SQLITE_TRANSIENT);
                sqlite3_bind_int(st, 2, w->type);
        } else {
                r = stmt(s,
                         DNS_MARK_SET "WHERE name = ?1 AND type = ?2 AND "
                         "  ((?8 AND state = 'deleting') OR"
                         "   (NOT ?8 AND state IN ('pending','error') AND content = ?9 AND ttl = ?10 AND "
                         "    proxied = ?11 AND owner_kind = ?12 AND owner_id = ?13))",
                         &st);
                if (r < 0)
                        return r;
                dns_mark_bind(st, w->name, w->type, state, error, next_retry_at, provider_ref);
                sqlite3_bind_int(st, 8, seen->state == STORE_DNS_DELETING);
                sqlite3_bind_text(st, 9, w->content, -1, SQLITE_TRANSIENT);
                sqlite3_bind_int64(st, 10, w->ttl);
                sqlite3_bind_int(st, 11, w->proxied);
                sqlite3_bind_text(st, 12, w->owner_kind, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(st, 13, w->owner_id, -1, SQLITE_TRANSIENT);
        }
        r = step_done(s, st);
        if (r < 0)
                return r;
        return sqlite3_changes(s->db) > 0 ? 0 : -ESTALE;
}

/* ---- records other nodes publish through this one (schema 5) ---- */

#define DNS_REMOTE_COLUMNS "name, type, content, ttl, proxied, token, datacenter, created_at, updated_at"

static const char dns_remote_image_sql[] =
        "SELECT json_object('name', name, 'type', CASE type WHEN 1 THEN 'A' ELSE 'AAAA' END, 'content', content,"
        " 'ttl', ttl, 'proxied', " JSON_BOOL("proxied") ", 'token', token, 'datacenter', datacenter,"
        " 'created_at', created_at, 'updated_at', updated_at) FROM dns_remote WHERE name = ?1 AND type = ?2";

static int dns_remote_from_row(struct store *s, sqlite3_stmt *st, void *ret) {
        struct store_dns_remote *d = ret;
        memset(d, 0, sizeof *d);
        struct dns_record_want *w = &d->want;
        int type = sqlite3_column_int(st, 1);
        if (strcpy_bounded(w->name, sizeof w->name, column_text(st, 0)) < 0 || (type != DNS_TYPE_A && type != DNS_TYPE_AAAA) ||
            strcpy_bounded(w->content, sizeof w->content, column_text(st, 2)) < 0 ||
            strcpy_bounded(w->owner_id, sizeof w->owner_id, column_text(st, 5)) < 0 ||
            strcpy_bounded(d->datacenter, sizeof d->datacenter, column_text(st, 6)) < 0) {
                snprintf(s->errmsg, sizeof s->errmsg, "dns_remote '%.200s': unreadable row in the store",
                         column_text(st, 0));
                return -EBADMSG;
        }
        w->type = (uint16_t)type;
        w->ttl = (uint32_t)sqlite3_column_int64(st, 3);
        w->proxied = sqlite3_column_int(st, 4) != 0;
        strcpy(w->owner_kind, "node");
        d->created_at = sqlite3_column_int64(st, 7);
        d->updated_at = sqlite3_column_int64(st, 8);
        return 0;
}

/* The row (name, type) into *ret; -ENOENT. */
static int dns_remote_read(struct store *s, const char *name, uint16_t type, struct store_dns_remote *ret) {
        _cleanup_reset_ sqlite3_stmt *st = NULL;
        int r = stmt(s, "SELECT " DNS_REMOTE_COLUMNS " FROM dns_remote WHERE name = ?1 AND type = ?2", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 2, type);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                return dns_remote_from_row(s, st, ret);
        return rc == SQLITE_DONE ? -ENOENT : store_fail(s, rc);
}

/* The audit image of (name, type), malloc'd into *ret (NULL when absent). */
static int dns_remote_image(struct store *s, const char *name, uint16_t type, char **ret) {
        _cleanup_reset_ sqlite3_stmt *st = NULL;
        int r = stmt(s, dns_remote_image_sql, &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 2, type);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) {
                *ret = NULL;
                return 0;
        }
        if (rc != SQLITE_ROW)
                return store_fail(s, rc);
        return (*ret = strdup(column_text(st, 0))) ? 0 : -ENOMEM;
}

/* Inside the write transaction, after the change: the audit row of kind "dns", keyed by the name. */
static int dns_remote_record(struct store *s, const char *actor, const char *action, const char *name, uint16_t type,
                             const char *before) {
        _cleanup_free_ char *after = NULL;
        int r = dns_remote_image(s, name, type, &after);
        return r < 0 ? r : audit_write(s, actor, action, "dns", name, before, after);
}

/* The -EPERM of a write to another owner's row, naming the owner in the error text. */
static int dns_remote_owned_elsewhere(struct store *s, const struct store_dns_remote *have) {
        char who[DNS_OWNER_ID_MAX + 16] = "this node's operator";
        if (have->want.owner_id[0])
                snprintf(who, sizeof who, "token '%.64s'", have->want.owner_id);
        snprintf(s->errmsg, sizeof s->errmsg, "%.150s %s is published by %.80s", have->want.name,
                 have->want.type == DNS_TYPE_A ? "A" : "AAAA", who);
        return -EPERM;
}

int store_dns_remote_put(struct store *s, const struct dns_record_want *w, const char *token, const char *datacenter,
                         const char *actor, bool *ret_changed) {
        if (!w || !TERMINATED(w->name) || !dns_name_valid(w->name) ||
            (w->type != DNS_TYPE_A && w->type != DNS_TYPE_AAAA) || !TERMINATED(w->content) || !w->content[0] ||
            w->ttl < 1 || w->ttl > INT32_MAX || (token && (strlen(token) > DNS_OWNER_ID_MAX)) || !datacenter ||
            strlen(datacenter) > TOKEN_DATACENTER_MAX) {
                snprintf(s->errmsg, sizeof s->errmsg, "dns_remote: invalid name, type, content, ttl, token or datacenter");
                return -EINVAL;
        }
        int r = tx_begin(s);
        if (r < 0)
                return r;
        struct store_dns_remote have;
        r = dns_remote_read(s, w->name, w->type, &have);
        if (r < 0 && r != -ENOENT)
                return tx_abort(s, r);
        bool exists = r == 0;
        if (exists && token && !streq(have.want.owner_id, token))
                return tx_abort(s, dns_remote_owned_elsewhere(s, &have));
        if (exists && streq(have.want.content, w->content) && have.want.ttl == w->ttl &&
            have.want.proxied == w->proxied && streq(have.datacenter, datacenter)) {
                (void)tx_abort(s, 0);
                if (ret_changed)
                        *ret_changed = false;
                return 0;
        }
        _cleanup_free_ char *before = NULL;
        if (exists && (r = dns_remote_image(s, w->name, w->type, &before)) < 0)
                return tx_abort(s, r);
        sqlite3_stmt *st;
        /* The owner never changes on update: the operator (token NULL) fixing a node's record
         * leaves it the node's, so the node can still retract it. */
        r = stmt(s,
                 "INSERT INTO dns_remote (" DNS_REMOTE_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) "
                 "ON CONFLICT (name, type) DO UPDATE SET content = ?3, ttl = ?4, proxied = ?5, datacenter = ?7, "
                 "  updated_at = ?8",
                 &st);
        if (r < 0)
                return tx_abort(s, r);
        sqlite3_bind_text(st, 1, w->name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 2, w->type);
        sqlite3_bind_text(st, 3, w->content, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, w->ttl);
        sqlite3_bind_int(st, 5, w->proxied ? 1 : 0);
        sqlite3_bind_text(st, 6, token ? token : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 7, datacenter, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 8, now_seconds());
        if ((r = step_done(s, st)) < 0 ||
            (r = dns_remote_record(s, actor, exists ? "update" : "create", w->name, w->type, before)) < 0 ||
            (r = tx_commit(s)) < 0)
                return tx_abort(s, r);
        if (ret_changed)
                *ret_changed = true;
        return 0;
}

int store_dns_remote_remove(struct store *s, const char *name, uint16_t type, const char *token, const char *actor,
                            bool *ret_removed) {
        if (!name || (type != DNS_TYPE_A && type != DNS_TYPE_AAAA))
                return -EINVAL;
        int r = tx_begin(s);
        if (r < 0)
                return r;
        struct store_dns_remote have;
        r = dns_remote_read(s, name, type, &have);
        if (r == -ENOENT) {
                (void)tx_abort(s, 0);
                if (ret_removed)
                        *ret_removed = false;
                return 0;
        }
        if (r < 0)
                return tx_abort(s, r);
        if (token && !streq(have.want.owner_id, token))
                return tx_abort(s, dns_remote_owned_elsewhere(s, &have));
        _cleanup_free_ char *before = NULL;
        sqlite3_stmt *st;
        if ((r = dns_remote_image(s, name, type, &before)) < 0 ||
            (r = stmt(s, "DELETE FROM dns_remote WHERE name = ?1 AND type = ?2", &st)) < 0)
                return tx_abort(s, r);
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 2, type);
        if ((r = step_done(s, st)) < 0 || (r = dns_remote_record(s, actor, "delete", name, type, before)) < 0 ||
            (r = tx_commit(s)) < 0)
                return tx_abort(s, r);
        if (ret_removed)
                *ret_removed = true;
        return 0;
}

int store_dns_remote_get(struct store *s, const char *name, uint16_t type, struct store_dns_remote *ret) {
        return dns_remote_read(s, name, type, ret);
}

int store_dns_remote_rows(struct store *s, struct store_dns_remote **ret, size_t *ret_n) {
        void *a = NULL;
        int r = query_all(s, "SELECT " DNS_REMOTE_COLUMNS " FROM dns_remote ORDER BY name, type", sizeof **ret,
                          dns_remote_from_row, &a, ret_n);
        if (r >= 0)
                *ret = a;
        return r;
}

int store_dns_remote_list(struct store *s, struct dns_record_want **ret, size_t *ret_n) {
        _cleanup_free_ struct store_dns_remote *rows = NULL;
        size_t n = 0;
        int r = store_dns_remote_rows(s, &rows, &n);
        if (r < 0)
                return r;
        struct dns_record_want *w = NULL;
        if (n) {
                w = malloc(n * sizeof *w);
                if (!w)
                        return -ENOMEM;
                for (size_t i = 0; i < n; i++)
                        w[i] = rows[i].want;
        }
        *ret = w;
        *ret_n = n;
        return 0;
}

/* ---- leases (schema 7, issue 6) ---- */

#define LEASE_COLUMNS "mac, ip, name, vm_id, created_at, updated_at"
static const char lease_image_sql[] =
        "SELECT json_object('mac', mac, 'ip', (ip >> 24) || '.' || ((ip >> 16) & 255) || '.' || ((ip >> 8) & 255)"
        " || '.' || (ip & 255), 'name', name, 'vm_id', vm_id, 'created_at', created_at) FROM leases WHERE mac = ?";

static int lease_from_row(struct store *s, sqlite3_stmt *st, void *ret) {
        struct lease l = {0};
        int64_t ip = sqlite3_column_int64(st, 1);
        if (mac_parse(column_text(st, 0), l.mac) < 0 || ip <= 0 || ip > UINT32_MAX ||
            strcpy_bounded(l.name, sizeof l.name, column_text(st, 2)) < 0 ||
            strcpy_bounded(l.vm_id, sizeof l.vm_id, column_text(st, 3)) < 0) {
                snprintf(s->errmsg, sizeof s->errmsg, "lease '%.17s': unreadable row in the store", column_text(st, 0));
                return -EBADMSG;
        }
        l.ip = (uint32_t)ip;
        l.created_at = sqlite3_column_int64(st, 4);
        l.updated_at = sqlite3_column_int64(st, 5);
        *(struct lease *)ret = l;
        return 0;
}

static bool lease_storable(const struct lease *l) {
        static const uint8_t zero[MAC_LEN];
        return !(l->mac[0] & 1) && memcmp(l->mac, zero, MAC_LEN) != 0 && l->ip != 0 && TERMINATED(l->name) &&
               (!l->name[0] || lease_name_valid(l->name)) && TERMINATED(l->vm_id) && (!l->vm_id[0] || vm_id_valid(l->vm_id));
}

/* Inside an open transaction: inserts l, with its audit row and change-log entry. -EEXIST
 * with *ret_conflict (optional) as store_lease_add(). */
static int lease_insert(struct store *s, const struct lease *l, const char *actor, enum store_conflict *ret_conflict) {
        char mac[MAC_TEXT_LEN + 1];
        mac_format(l->mac, mac);
        sqlite3_stmt *st;
        int r = stmt(s, "INSERT INTO leases (" LEASE_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?5)", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, mac, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, l->ip);
        sqlite3_bind_text(st, 3, l->name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, l->vm_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 5, now_seconds());
        if ((r = step_done(s, st)) < 0)
                return write_failed(s, r, ret_conflict);
        return record(s, actor, "create", "lease", lease_image_sql, mac, NULL, true);
}

int store_lease_add(struct store *s, const struct lease *l, const char *actor, enum store_conflict *ret_conflict) {
        if (!lease_storable(l)) {
                snprintf(s->errmsg, sizeof s->errmsg, "lease: invalid field");
                return -EINVAL;
        }
        int r = tx_begin(s);
        if (r < 0)
                return r;
        if ((r = lease_insert(s, l, actor, ret_conflict)) < 0 || (r = tx_commit(s)) < 0)
                return tx_abort(s, r);
        return 0;
}

/* The one lease sql selects with parameter 1 bound to the integer key. -ENOENT. */
static int lease_get_by_int(struct store *s, const char *sql, int64_t key, struct lease *ret) {
        _cleanup_reset_ sqlite3_stmt *st = NULL;
        int r = stmt(s, sql, &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, key);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                return lease_from_row(s, st, ret);
        return rc == SQLITE_DONE ? -ENOENT : store_fail(s, rc);
}

int store_lease_find_ip(struct store *s, uint32_t ip, struct lease *ret) {
        return lease_get_by_int(s, "SELECT " LEASE_COLUMNS " FROM leases WHERE ip = ?", ip, ret);
}

int store_lease_find_name(struct store *s, const char *name, struct lease *ret) {
        if (!name[0])
                return -ENOENT;
        return get_one(s, "SELECT " LEASE_COLUMNS " FROM leases WHERE name = ?", name, lease_from_row, ret);
}

int store_lease_of_vm(struct store *s, const struct vm *vm, struct lease *ret) {
        _cleanup_reset_ sqlite3_stmt *st = NULL;
        int r = stmt(s,
                     "SELECT " LEASE_COLUMNS " FROM leases WHERE ip = ?1 OR vm_id = ?2 ORDER BY ip = ?1 DESC, ip LIMIT 1",
                     &st);
        if (r < 0)
                return r;
        int64_t ip = -1; /* an IPv6 VM can only have a lease by vm_id */
        if (vm->ip.family == AF_INET)
                ip = (int64_t)vm->ip.bytes[0] << 24 | (int64_t)vm->ip.bytes[1] << 16 | (int64_t)vm->ip.bytes[2] << 8 |
                     vm->ip.bytes[3];
        sqlite3_bind_int64(st, 1, ip);
        sqlite3_bind_text(st, 2, vm->id, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                return lease_from_row(s, st, ret);
        return rc == SQLITE_DONE ? -ENOENT : store_fail(s, rc);
}

int store_lease_list_page(struct store *s, const char *after, size_t limit, struct lease **ret, size_t *ret_n,
                          bool *ret_more) {
        if (limit < 1 || limit > 1000) {
                snprintf(s->errmsg, sizeof s->errmsg, "invalid page request");
                return -EINVAL;
        }
        _cleanup_reset_ sqlite3_stmt *st = NULL;
        int r = stmt(s, "SELECT " LEASE_COLUMNS " FROM leases WHERE mac > ?1 ORDER BY mac LIMIT ?2", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, after ? after : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)limit + 1);
        void *a = NULL;
        size_t n = 0;
        if ((r = collect(s, st, sizeof **ret, lease_from_row, &a, &n)) < 0)
                return r;
        *ret_more = n > limit;
        *ret_n = n > limit ? limit : n;
        *ret = a;
        return 0;
}

/* Inside an open transaction: deletes every lease made with VM id (vm_id = id), each with
 * its audit row and change-log entry; what they were into *ret (malloc'd, NULL when none). */
static int leases_of_vm_remove(struct store *s, const char *id, const char *actor, struct lease **ret,
                               size_t *ret_n) {
        _cleanup_free_ struct lease *a = NULL;
        size_t n = 0;
        {
                _cleanup_reset_ sqlite3_stmt *st = NULL;
                int r = stmt(s, "SELECT " LEASE_COLUMNS " FROM leases WHERE vm_id = ? ORDER BY ip", &st);
                if (r < 0)
                        return r;
                sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
                void *found = NULL;
                if ((r = collect(s, st, sizeof *a, lease_from_row, &found, &n)) < 0)
                        return r;
                a = found;
        }
        for (size_t i = 0; i < n; i++) {
                char mac[MAC_TEXT_LEN + 1];
                _cleanup_free_ char *before = NULL;
                int r;
                mac_format(a[i].mac, mac);
                if ((r = image(s, lease_image_sql, mac, &before)) < 0 ||
                    (r = run_keyed(s, "DELETE FROM leases WHERE mac = ?", mac)) < 0 ||
                    (r = record(s, actor, "delete", "lease", lease_image_sql, mac, before, true)) < 0)
                        return r;
        }
        *ret = TAKE_PTR(a);
        *ret_n = n;
        return 0;
}

int store_lease_get(struct store *s, const uint8_t mac[static MAC_LEN], struct lease *ret) {
        char text[MAC_TEXT_LEN + 1];
        return get_one(s, "SELECT " LEASE_COLUMNS " FROM leases WHERE mac = ?", mac_format(mac, text), lease_from_row,
                       ret);
}

int store_lease_list(struct store *s, struct lease **ret, size_t *ret_n) {
        void *a = NULL;
        int r = query_all(s, "SELECT " LEASE_COLUMNS " FROM leases ORDER BY ip", sizeof **ret, lease_from_row, &a, ret_n);
        if (r >= 0)
                *ret = a;
        return r;
}

int store_lease_remove(struct store *s, const uint8_t mac[static MAC_LEN], const char *actor, struct lease *ret_removed) {
        char text[MAC_TEXT_LEN + 1];
        mac_format(mac, text);
        int r = tx_begin(s);
        if (r < 0)
                return r;
        struct lease old;
        _cleanup_free_ char *before = NULL;
        if ((r = get_one(s, "SELECT " LEASE_COLUMNS " FROM leases WHERE mac = ?", text, lease_from_row, &old)) < 0) {
                if (r == -ENOENT)
                        snprintf(s->errmsg, sizeof s->errmsg, "no lease for %s", text);
                return tx_abort(s, r);
        }
        if ((r = image(s, lease_image_sql, text, &before)) < 0 ||
            (r = run_keyed(s, "DELETE FROM leases WHERE mac = ?", text)) < 0 ||
            (r = record(s, actor, "delete", "lease", lease_image_sql, text, before, true)) < 0 || (r = tx_commit(s)) < 0)
                return tx_abort(s, r);
        if (ret_removed)
                *ret_removed = old;
        return 0;
}
