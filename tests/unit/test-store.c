/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the SQLite store, each on a fresh database in its own temporary directory:
 * schema creation, version checks and the migrations from schemas 1 and 2, VM round trips
 * (with the proxy options), every uniqueness and overlap conflict, the change log, and two
 * connections (and threads) sharing one file. Then schema 3: VM metadata, updates with
 * versions (ETag/-ESTALE) and idempotent unchanged writes, host names shared by VMs and
 * routes, forwards against VM blocks (both directions), tokens (never a hash in the audit),
 * the audit's JSON images, label selectors, paging, expiry, and query costs at 10,000 VMs.
 * Schema 4: the DNS outbox (sync idempotence, the deletion lifecycle, due selection, the
 * migration from schema 3). Schema 5: tokens with a datacenter, the records other nodes
 * publish through this one (ownership by token, idempotent writes, audit), the migration
 * from schema 4.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"
#include "store/store.h"

struct fixture {
        char dir[64];
        char path[128];
        struct store *s;
};

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof *f);
        if (!f)
                return -1;
        strcpy(f->dir, "/tmp/test-store-XXXXXX");
        if (!mkdtemp(f->dir))
                return -1;
        snprintf(f->path, sizeof f->path, "%s/edgegw.db", f->dir);
        char err[256] = "";
        if (store_open(f->path, &f->s, err, sizeof err) < 0) {
                fprintf(stderr, "store_open: %s\n", err);
                return -1;
        }
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;
        f->s = store_close(f->s);
        DIR *d = opendir(f->dir);
        if (d) {
                struct dirent *e;
                while ((e = readdir(d)))
                        if (e->d_name[0] != '.') {
                                char p[512];
                                snprintf(p, sizeof p, "%s/%s", f->dir, e->d_name);
                                unlink(p);
                        }
                closedir(d);
        }
        rmdir(f->dir);
        free(f);
        return 0;
}

static struct vm make_vm(const char *id, const char *slug, const char *ip, uint16_t block_start, uint16_t block_size) {
        struct vm vm = {.block_start = block_start, .block_size = block_size, .created_at = 1700000000};
        strcpy(vm.id, id);
        strcpy(vm.slug, slug);
        assert_int_equal(ip_addr_parse(ip, &vm.ip), 0);
        return vm;
}

static void assert_vm_equal(const struct vm *a, const struct vm *b) {
        assert_string_equal(a->id, b->id);
        assert_string_equal(a->slug, b->slug);
        assert_true(ip_addr_equal(&a->ip, &b->ip));
        assert_int_equal(a->block_start, b->block_start);
        assert_int_equal(a->block_size, b->block_size);
        assert_int_equal(a->created_at, b->created_at);
        assert_int_equal(a->proxy_protocol, b->proxy_protocol);
        assert_int_equal(a->http_passthrough, b->http_passthrough);
        assert_int_equal(a->n_allow, b->n_allow);
        for (size_t i = 0; i < a->n_allow; i++) {
                assert_true(ip_addr_equal(&a->allow[i].addr, &b->allow[i].addr));
                assert_int_equal(a->allow[i].prefix, b->allow[i].prefix);
        }
}

/* Appends the CIDR text to vm's allow-list. */
static void add_allow(struct vm *vm, const char *cidr) {
        assert_true(vm->n_allow < VM_ALLOW_MAX);
        if (ip_cidr_parse(cidr, &vm->allow[vm->n_allow]) < 0)
                fail_msg("bad CIDR in the test: %s", cidr);
        vm->n_allow++;
}

/* Runs SQL through a separate plain connection (what a hand edit or an old build does). */
static int raw_exec(const char *path, const char *sql) {
        sqlite3 *db;
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
        sqlite3_close(db);
        return rc;
}

/* Rows of a table, through a separate connection (the WAL makes committed rows visible). */
static int count_rows(const void *fixture_unused, const char *table);

static void insert_ok(struct store *s, const struct vm *vm) {
        enum store_conflict c = STORE_CONFLICT_NONE;
        int r = store_vm_insert(s, vm, &c);
        if (r != 0)
                fail_msg("insert %s: %d (%s)", vm->id, r, store_errmsg(s));
}

static void insert_conflict(struct store *s, const struct vm *vm, enum store_conflict want) {
        enum store_conflict c = STORE_CONFLICT_NONE;
        int r = store_vm_insert(s, vm, &c);
        if (r != -EEXIST || c != want)
                fail_msg("insert %s: %d conflict %d, want -EEXIST conflict %d (%s)", vm->id, r, c, want,
                         store_errmsg(s));
}

static int64_t snapshot_seq(struct store *s, size_t *ret_n) {
        struct vm *vms = NULL;
        size_t n = 99;
        int64_t seq = -1;
        assert_int_equal(store_snapshot_load(s, &vms, &n, &seq), 0);
        free(vms);
        if (ret_n)
                *ret_n = n;
        return seq;
}

static size_t vm_count(struct store *s) {
        struct vm *vms = NULL;
        size_t n = 99;
        assert_int_equal(store_vm_list(s, &vms, &n), 0);
        free(vms);
        return n;
}

/* PRAGMA user_version of the file, read with a separate plain connection. */
static int file_user_version(const char *path) {
        sqlite3 *db;
        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        int v = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
        return v;
}

static void test_open_creates_schema(void **state) {
        struct fixture *f = *state;
        assert_true(store_schema_version() >= 1);
        assert_int_equal(file_user_version(f->path), store_schema_version());
        assert_int_equal(vm_count(f->s), 0);
        assert_int_equal(snapshot_seq(f->s, NULL), 0);
}

static void test_reopen_idempotent(void **state) {
        struct fixture *f = *state;
        struct vm a = make_vm("contract-1", "k7m2p4", "10.0.1.5", 20000, 10);
        insert_ok(f->s, &a);
        f->s = store_close(f->s);
        for (int i = 0; i < 3; i++) {
                char err[256] = "";
                assert_int_equal(store_open(f->path, &f->s, err, sizeof err), 0);
                assert_int_equal(file_user_version(f->path), store_schema_version());
                struct vm got;
                assert_int_equal(store_vm_get(f->s, "contract-1", &got), 0);
                assert_vm_equal(&got, &a);
                assert_int_equal(vm_count(f->s), 1);
                assert_int_equal(snapshot_seq(f->s, NULL), 1);
                f->s = store_close(f->s);
        }
        char err[256];
        assert_int_equal(store_open(f->path, &f->s, err, sizeof err), 0);
}

static char *read_whole(const char *path, size_t *ret_len) {
        FILE *fp = fopen(path, "rb");
        assert_non_null(fp);
        char *buf = malloc(1 << 20);
        assert_non_null(buf);
        *ret_len = fread(buf, 1, 1 << 20, fp);
        fclose(fp);
        return buf;
}

static void test_newer_schema_refused(void **state) {
        struct fixture *f = *state;
        char path[160];
        snprintf(path, sizeof path, "%s/newer.db", f->dir);
        sqlite3 *db;
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        char sql[200];
        snprintf(sql, sizeof sql,
                 "CREATE TABLE future (x INTEGER); INSERT INTO future VALUES (42); PRAGMA user_version = %d;",
                 store_schema_version() + 1);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
        size_t len_before;
        char *before = read_whole(path, &len_before);

        struct store *s = (struct store *)0x1;
        char err[256] = "";
        assert_int_equal(store_open(path, &s, err, sizeof err), -EPROTO);
        assert_ptr_equal(s, (struct store *)0x1); /* untouched */
        assert_non_null(strstr(err, "newer"));

        /* The file is exactly as it was: same version, no tables added, not even its
         * journal mode switched. */
        assert_int_equal(file_user_version(path), store_schema_version() + 1);
        size_t len_after;
        char *after = read_whole(path, &len_after);
        int same = len_after == len_before && memcmp(after, before, len_before) == 0;
        free(before);
        free(after);
        assert_true(same);
        char wal[200];
        snprintf(wal, sizeof wal, "%s-wal", path);
        struct stat st;
        if (stat(wal, &st) == 0)
                assert_int_equal(st.st_size, 0);
}

static void test_open_errors(void **state) {
        struct fixture *f = *state;
        struct store *s = NULL;
        char err[256] = "";
        char path[200];
        snprintf(path, sizeof path, "%s/missing-dir/edgegw.db", f->dir);
        assert_true(store_open(path, &s, err, sizeof err) < 0);
        assert_null(s);
        assert_true(err[0] != '\0');

        /* Not a database. */
        snprintf(path, sizeof path, "%s/garbage.db", f->dir);
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        for (int i = 0; i < 200; i++)
                fputs("this is not an SQLite database\n", fp);
        fclose(fp);
        err[0] = '\0';
        assert_true(store_open(path, &s, err, sizeof err) < 0);
        assert_null(s);
        assert_true(err[0] != '\0');
}

static void test_round_trip(void **state) {
        struct fixture *f = *state;
        struct vm a = make_vm("contract-123", "k7m2p4", "10.0.1.5", 20000, 10);
        struct vm b = make_vm("vm.b_2", "a1b2c3", "2001:db8::5", 20010, 10);
        struct vm c = make_vm("c", "zzzzzz", "192.168.7.9", 30000, 20);
        c.created_at = 0;
        b.created_at = INT64_C(4102444800); /* 2100-01-01: past 32 bits */
        insert_ok(f->s, &a);
        insert_ok(f->s, &b);
        insert_ok(f->s, &c);

        struct vm got;
        assert_int_equal(store_vm_get(f->s, "contract-123", &got), 0);
        assert_vm_equal(&got, &a);
        assert_int_equal(store_vm_get(f->s, "vm.b_2", &got), 0);
        assert_vm_equal(&got, &b);
        assert_int_equal(got.ip.family, AF_INET6);
        assert_int_equal(store_vm_get(f->s, "c", &got), 0);
        assert_vm_equal(&got, &c);

        /* Ids are exact: no prefix or case folding. */
        memset(&got, 0x5a, sizeof got);
        struct vm untouched = got;
        assert_int_equal(store_vm_get(f->s, "contract-12", &got), -ENOENT);
        assert_int_equal(store_vm_get(f->s, "Contract-123", &got), -ENOENT);
        assert_memory_equal(&got, &untouched, sizeof got);

        /* List: creation order. */
        struct vm *vms = NULL;
        size_t n = 0;
        assert_int_equal(store_vm_list(f->s, &vms, &n), 0);
        assert_int_equal(n, 3);
        assert_vm_equal(&vms[0], &a);
        assert_vm_equal(&vms[1], &b);
        assert_vm_equal(&vms[2], &c);
        free(vms);

        /* Delete returns what was removed. */
        struct vm removed;
        assert_int_equal(store_vm_delete(f->s, "vm.b_2", &removed), 0);
        assert_vm_equal(&removed, &b);
        assert_int_equal(store_vm_get(f->s, "vm.b_2", &got), -ENOENT);
        assert_int_equal(store_vm_delete(f->s, "c", NULL), 0);
        assert_int_equal(store_vm_list(f->s, &vms, &n), 0);
        assert_int_equal(n, 1);
        assert_vm_equal(&vms[0], &a);
        free(vms);

        /* Its slug, ip and block are free again. */
        struct vm b2 = make_vm("b-again", "a1b2c3", "2001:db8::5", 20010, 10);
        insert_ok(f->s, &b2);
        assert_int_equal(store_vm_list(f->s, &vms, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(vms[1].id, "b-again");
        free(vms);
}

static void test_empty_list(void **state) {
        struct fixture *f = *state;
        struct vm *vms = (struct vm *)0x1;
        size_t n = 99;
        assert_int_equal(store_vm_list(f->s, &vms, &n), 0);
        assert_int_equal(n, 0);
        assert_null(vms);
}

static void test_duplicate_id_slug_ip(void **state) {
        struct fixture *f = *state;
        struct vm a = make_vm("contract-1", "k7m2p4", "10.0.1.5", 20000, 10);
        insert_ok(f->s, &a);
        int64_t seq = snapshot_seq(f->s, NULL);

        struct vm dup_id = make_vm("contract-1", "other1", "10.0.1.6", 20010, 10);
        insert_conflict(f->s, &dup_id, STORE_CONFLICT_ID);
        struct vm dup_slug = make_vm("contract-2", "k7m2p4", "10.0.1.6", 20010, 10);
        insert_conflict(f->s, &dup_slug, STORE_CONFLICT_SLUG);
        struct vm dup_ip = make_vm("contract-2", "other1", "10.0.1.5", 20010, 10);
        insert_conflict(f->s, &dup_ip, STORE_CONFLICT_IP);

        /* IPv6 written differently is the same address. */
        struct vm v6 = make_vm("contract-6", "six666", "2001:db8::1", 20020, 10);
        insert_ok(f->s, &v6);
        seq = snapshot_seq(f->s, NULL);
        struct vm v6b = make_vm("contract-7", "seven7", "2001:0db8:0:0::0001", 20030, 10);
        insert_conflict(f->s, &v6b, STORE_CONFLICT_IP);

        /* A conflict may be reported without asking which. */
        assert_int_equal(store_vm_insert(f->s, &dup_id, NULL), -EEXIST);

        /* Failed inserts change nothing and log nothing. */
        assert_int_equal(vm_count(f->s), 2);
        assert_int_equal(snapshot_seq(f->s, NULL), seq);
        struct vm got;
        assert_int_equal(store_vm_get(f->s, "contract-1", &got), 0);
        assert_vm_equal(&got, &a);
        assert_int_equal(store_vm_get(f->s, "contract-2", &got), -ENOENT);

        /* The connection is still usable after the failures. */
        struct vm ok = make_vm("contract-2", "other1", "10.0.1.6", 20010, 10);
        insert_ok(f->s, &ok);
}

static void test_block_overlap(void **state) {
        struct fixture *f = *state;
        struct vm a = make_vm("a", "aaaaaa", "10.0.0.1", 20000, 10); /* 20000-20009 */
        insert_ok(f->s, &a);

        static const struct {
                uint16_t start, size;
        } overlapping[] = {
                {20000, 10}, /* same start */
                {20000, 1},
                {20005, 10}, /* starts inside */
                {20009, 1},  /* last port */
                {19995, 10}, /* ends inside */
                {19991, 10}, /* ends on the first port */
                {19500, 1000}, /* contains it */
                {20002, 3},  /* inside it */
                {19001, 1000},
        };
        for (size_t i = 0; i < ELEMENTSOF(overlapping); i++) {
                struct vm v = make_vm("b", "bbbbbb", "10.0.0.2", overlapping[i].start, overlapping[i].size);
                enum store_conflict c = STORE_CONFLICT_NONE;
                int r = store_vm_insert(f->s, &v, &c);
                if (r != -EEXIST || c != STORE_CONFLICT_BLOCK)
                        fail_msg("block %u/%u over 20000/10: %d conflict %d", overlapping[i].start, overlapping[i].size,
                                 r, c);
        }
        assert_int_equal(vm_count(f->s), 1);

        /* Exactly adjacent blocks on both sides are fine. */
        struct vm below = make_vm("below", "bbbbbb", "10.0.0.2", 19990, 10); /* 19990-19999 */
        struct vm above = make_vm("above", "cccccc", "10.0.0.3", 20010, 10); /* 20010-20019 */
        insert_ok(f->s, &below);
        insert_ok(f->s, &above);
        /* A big block ending right below another. */
        struct vm big = make_vm("big", "dddddd", "10.0.0.4", 18990, 1000); /* 18990-19989 */
        insert_ok(f->s, &big);
        /* Something inside the big block, far from its start. */
        struct vm inside = make_vm("inside", "eeeeee", "10.0.0.5", 19980, 5);
        insert_conflict(f->s, &inside, STORE_CONFLICT_BLOCK);
        /* A block ending exactly at 65535 is fine; past it is refused. */
        struct vm top = make_vm("top", "ffffff", "10.0.0.6", 65526, 10);
        insert_ok(f->s, &top);
        struct vm past = make_vm("past", "gggggg", "10.0.0.7", 65530, 10);
        assert_true(store_vm_insert(f->s, &past, NULL) < 0);
        assert_int_equal(vm_count(f->s), 5);
}

static void test_find_by_ip(void **state) {
        struct fixture *f = *state;
        struct vm a = make_vm("v4", "aaaaaa", "10.0.1.5", 20000, 10);
        struct vm b = make_vm("v6", "bbbbbb", "2001:db8::5", 20010, 10);
        insert_ok(f->s, &a);
        insert_ok(f->s, &b);
        char id[VM_ID_MAX + 1];
        assert_int_equal(store_vm_find_by_ip(f->s, &a.ip, id), 0);
        assert_string_equal(id, "v4");
        struct ip_addr ip;
        assert_int_equal(ip_addr_parse("2001:0db8:0::0005", &ip), 0);
        assert_int_equal(store_vm_find_by_ip(f->s, &ip, id), 0);
        assert_string_equal(id, "v6");
        strcpy(id, "untouched");
        assert_int_equal(ip_addr_parse("10.0.1.6", &ip), 0);
        assert_int_equal(store_vm_find_by_ip(f->s, &ip, id), -ENOENT);
        assert_string_equal(id, "untouched");
        /* The same bytes in the other family are another address. */
        assert_int_equal(ip_addr_parse("::ffff:10.0.1.5", &ip), 0);
        assert_int_equal(store_vm_find_by_ip(f->s, &ip, id), -ENOENT);
}

static void test_delete_missing(void **state) {
        struct fixture *f = *state;
        struct vm a = make_vm("a", "aaaaaa", "10.0.1.5", 20000, 10);
        insert_ok(f->s, &a);
        int64_t seq = snapshot_seq(f->s, NULL);
        struct vm removed;
        memset(&removed, 0x5a, sizeof removed);
        struct vm before = removed;
        assert_int_equal(store_vm_delete(f->s, "b", &removed), -ENOENT);
        assert_memory_equal(&removed, &before, sizeof removed);
        assert_int_equal(snapshot_seq(f->s, NULL), seq);
        assert_int_equal(vm_count(f->s), 1);
        /* Deleting twice: the second is -ENOENT. */
        assert_int_equal(store_vm_delete(f->s, "a", NULL), 0);
        assert_int_equal(store_vm_delete(f->s, "a", NULL), -ENOENT);
        assert_int_equal(snapshot_seq(f->s, NULL), seq + 1);
}

static void test_blocks_mark(void **state) {
        struct fixture *f = *state;
        struct vm a = make_vm("a", "aaaaaa", "10.0.1.5", 20000, 10);
        struct vm b = make_vm("b", "bbbbbb", "10.0.1.6", 20020, 5);
        struct vm c = make_vm("c", "cccccc", "10.0.1.7", 65535, 1);
        insert_ok(f->s, &a);
        insert_ok(f->s, &b);
        insert_ok(f->s, &c);
        struct portmap m;
        portmap_init(&m);
        portmap_set(&m, 100, 1, true); /* not cleared first */
        assert_int_equal(store_blocks_mark(f->s, &m), 0);
        for (uint32_t p = 1; p <= 65535; p++) {
                bool used = p == 100 || (p >= 20000 && p <= 20009) || (p >= 20020 && p <= 20024) || p == 65535;
                if (portmap_is_free(&m, (uint16_t)p, 1) == used)
                        fail_msg("port %u: %s", p, used ? "should be used" : "should be free");
        }
        /* And so the next block goes into the gap. */
        uint16_t s;
        assert_int_equal(portmap_find_free(&m, 20000, 59999, 10, &s), 0);
        assert_int_equal(s, 20010);
}

static void test_snapshot_seq(void **state) {
        struct fixture *f = *state;
        size_t n;
        assert_int_equal(snapshot_seq(f->s, &n), 0);
        assert_int_equal(n, 0);
        struct vm a = make_vm("a", "aaaaaa", "10.0.1.5", 20000, 10);
        struct vm b = make_vm("b", "bbbbbb", "10.0.1.6", 20010, 10);
        insert_ok(f->s, &a);
        int64_t s1 = snapshot_seq(f->s, &n);
        assert_int_equal(n, 1);
        insert_ok(f->s, &b);
        int64_t s2 = snapshot_seq(f->s, &n);
        assert_int_equal(n, 2);
        assert_true(s2 > s1 && s1 > 0);
        assert_int_equal(store_vm_delete(f->s, "a", NULL), 0);
        int64_t s3 = snapshot_seq(f->s, &n);
        assert_int_equal(n, 1);
        assert_true(s3 > s2);
        /* A failed change does not advance it. */
        struct vm dup = make_vm("b", "cccccc", "10.0.1.7", 20020, 10);
        insert_conflict(f->s, &dup, STORE_CONFLICT_ID);
        assert_int_equal(store_vm_delete(f->s, "a", NULL), -ENOENT);
        assert_int_equal(snapshot_seq(f->s, NULL), s3);

        /* The snapshot holds the VMs. */
        struct vm *vms;
        int64_t seq;
        assert_int_equal(store_snapshot_load(f->s, &vms, &n, &seq), 0);
        assert_int_equal(n, 1);
        assert_vm_equal(&vms[0], &b);
        assert_int_equal(seq, s3);
        free(vms);
}

static void free_ids(char **ids, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(ids[i]);
        free(ids);
}

/* Asserts that the change log after `after` (at most max) is exactly want[], ending at seq. */
static int64_t expect_changes(struct store *s, int64_t after, size_t max, const char *const *want, size_t n_want) {
        char **ids = NULL;
        size_t n = 99;
        int64_t seq = -1;
        assert_int_equal(store_changes_since(s, after, max, &ids, &n, &seq), 0);
        assert_int_equal(n, n_want);
        for (size_t i = 0; i < n; i++)
                assert_string_equal(ids[i], want[i]);
        free_ids(ids, n);
        return seq;
}

static void test_changes_since(void **state) {
        struct fixture *f = *state;
        struct vm a = make_vm("a", "aaaaaa", "10.0.1.1", 20000, 10);
        struct vm b = make_vm("b", "bbbbbb", "10.0.1.2", 20010, 10);
        struct vm c = make_vm("c", "cccccc", "10.0.1.3", 20020, 10);
        struct vm d = make_vm("d", "dddddd", "10.0.1.4", 20030, 10);
        insert_ok(f->s, &a);
        insert_ok(f->s, &b);
        insert_ok(f->s, &c);
        assert_int_equal(store_vm_delete(f->s, "b", NULL), 0);
        insert_ok(f->s, &d);
        int64_t head = snapshot_seq(f->s, NULL);

        /* Everything, in order (b twice: added, then removed). */
        static const char *const all[] = {"a", "b", "c", "b", "d"};
        assert_int_equal(expect_changes(f->s, 0, 100, all, 5), head);

        /* In batches of 2, each cursor continuing where the last stopped. */
        int64_t cur = expect_changes(f->s, 0, 2, all, 2);
        cur = expect_changes(f->s, cur, 2, all + 2, 2);
        cur = expect_changes(f->s, cur, 2, all + 4, 1);
        assert_int_equal(cur, head);
        /* Nothing new: empty, and the cursor stays. */
        char **ids = (char **)0x1;
        size_t n = 99;
        int64_t seq = -1;
        assert_int_equal(store_changes_since(f->s, cur, 2, &ids, &n, &seq), 0);
        assert_int_equal(n, 0);
        assert_int_equal(seq, cur);
        free_ids(n ? ids : NULL, 0);

        /* Prune: old entries go, the rest stay, new entries continue after the head. */
        int64_t third = expect_changes(f->s, 0, 3, all, 3);
        assert_int_equal(store_changes_prune(f->s, third), 0);
        assert_int_equal(expect_changes(f->s, 0, 100, all + 3, 2), head);
        assert_int_equal(store_changes_prune(f->s, head), 0);
        assert_int_equal(expect_changes(f->s, 0, 100, NULL, 0), 0);
        assert_int_equal(snapshot_seq(f->s, NULL), head);
        struct vm e = make_vm("e", "eeeeee", "10.0.1.5", 20040, 10);
        insert_ok(f->s, &e);
        static const char *const only_e[] = {"e"};
        int64_t after_e = expect_changes(f->s, 0, 100, only_e, 1);
        assert_true(after_e > head);
        assert_int_equal(snapshot_seq(f->s, NULL), after_e);
}

static void test_two_connections(void **state) {
        struct fixture *f = *state;
        struct store *other = NULL;
        char err[256];
        assert_int_equal(store_open(f->path, &other, err, sizeof err), 0);

        struct vm a = make_vm("a", "aaaaaa", "10.0.1.1", 20000, 10);
        insert_ok(f->s, &a);
        struct vm got;
        assert_int_equal(store_vm_get(other, "a", &got), 0);
        assert_vm_equal(&got, &a);
        assert_int_equal(snapshot_seq(other, NULL), snapshot_seq(f->s, NULL));

        /* The constraints hold across connections. */
        struct vm dup_id = make_vm("a", "bbbbbb", "10.0.1.2", 20010, 10);
        insert_conflict(other, &dup_id, STORE_CONFLICT_ID);
        struct vm dup_slug = make_vm("b", "aaaaaa", "10.0.1.2", 20010, 10);
        insert_conflict(other, &dup_slug, STORE_CONFLICT_SLUG);
        struct vm dup_ip = make_vm("b", "bbbbbb", "10.0.1.1", 20010, 10);
        insert_conflict(other, &dup_ip, STORE_CONFLICT_IP);
        struct vm overlap = make_vm("b", "bbbbbb", "10.0.1.2", 20005, 10);
        insert_conflict(other, &overlap, STORE_CONFLICT_BLOCK);

        /* And the other way round. */
        struct vm b = make_vm("b", "bbbbbb", "10.0.1.2", 20010, 10);
        insert_ok(other, &b);
        assert_int_equal(store_vm_get(f->s, "b", &got), 0);
        struct vm overlap2 = make_vm("c", "cccccc", "10.0.1.3", 20015, 10);
        insert_conflict(f->s, &overlap2, STORE_CONFLICT_BLOCK);
        assert_int_equal(store_vm_delete(f->s, "b", NULL), 0);
        assert_int_equal(store_vm_get(other, "b", &got), -ENOENT);
        assert_int_equal(vm_count(other), 1);
        store_close(other);
}

static void test_options_round_trip(void **state) {
        struct fixture *f = *state;
        struct vm plain = make_vm("plain", "aaaaaa", "10.0.1.1", 20000, 10);
        struct vm v1 = make_vm("v1", "bbbbbb", "10.0.1.2", 20010, 10);
        v1.proxy_protocol = VM_PROXY_V1;
        add_allow(&v1, "203.0.113.0/24");
        struct vm v2 = make_vm("v2", "cccccc", "2001:db8::2", 20020, 10);
        v2.proxy_protocol = VM_PROXY_V2;
        v2.http_passthrough = true;
        add_allow(&v2, "2001:db8:ff::/48");
        add_allow(&v2, "198.51.100.7"); /* a host: stored as /32 */
        add_allow(&v2, "0.0.0.0/0");
        add_allow(&v2, "::/0");
        struct vm full = make_vm("full", "dddddd", "10.0.1.4", 20030, 10);
        full.http_passthrough = true;
        for (int i = 0; i < VM_ALLOW_MAX; i++) {
                char cidr[32];
                snprintf(cidr, sizeof cidr, "10.%d.0.0/16", i);
                add_allow(&full, cidr);
        }
        insert_ok(f->s, &plain);
        insert_ok(f->s, &v1);
        insert_ok(f->s, &v2);
        insert_ok(f->s, &full);

        struct vm got;
        assert_int_equal(store_vm_get(f->s, "plain", &got), 0);
        assert_vm_equal(&got, &plain);
        assert_int_equal(got.proxy_protocol, VM_PROXY_NONE);
        assert_false(got.http_passthrough);
        assert_int_equal(got.n_allow, 0);
        assert_int_equal(store_vm_get(f->s, "v2", &got), 0);
        assert_vm_equal(&got, &v2);
        assert_int_equal(got.allow[1].prefix, 32);
        assert_int_equal(store_vm_get(f->s, "full", &got), 0);
        assert_vm_equal(&got, &full);

        /* Canonical text in the column: what other tools reading the file see. */
        sqlite3 *db;
        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT proxy_protocol, http_passthrough, allow FROM vms WHERE id = 'v2'",
                                            -1, &st, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(st, 0), "v2");
        assert_int_equal(sqlite3_column_int(st, 1), 1);
        assert_string_equal((const char *)sqlite3_column_text(st, 2),
                            "2001:db8:ff::/48 198.51.100.7/32 0.0.0.0/0 ::/0");
        sqlite3_finalize(st);
        sqlite3_close(db);

        /* List, snapshot and delete carry the options too. */
        struct vm *vms;
        size_t n;
        int64_t seq;
        assert_int_equal(store_vm_list(f->s, &vms, &n), 0);
        assert_int_equal(n, 4);
        assert_vm_equal(&vms[0], &plain);
        assert_vm_equal(&vms[1], &v1);
        assert_vm_equal(&vms[2], &v2);
        assert_vm_equal(&vms[3], &full);
        free(vms);
        assert_int_equal(store_snapshot_load(f->s, &vms, &n, &seq), 0);
        assert_int_equal(n, 4);
        assert_vm_equal(&vms[2], &v2);
        free(vms);
        struct vm removed;
        assert_int_equal(store_vm_delete(f->s, "v1", &removed), 0);
        assert_vm_equal(&removed, &v1);

        /* And they survive reopening. */
        f->s = store_close(f->s);
        char err[256];
        assert_int_equal(store_open(f->path, &f->s, err, sizeof err), 0);
        assert_int_equal(store_vm_get(f->s, "v2", &got), 0);
        assert_vm_equal(&got, &v2);
}

static void test_options_refused(void **state) {
        struct fixture *f = *state;
        int64_t seq = snapshot_seq(f->s, NULL);
        struct vm bad = make_vm("bad", "aaaaaa", "10.0.1.1", 20000, 10);
        bad.proxy_protocol = 3;
        assert_int_equal(store_vm_insert(f->s, &bad, NULL), -EINVAL);
        assert_non_null(strstr(store_errmsg(f->s), "bad"));

        bad = make_vm("bad", "aaaaaa", "10.0.1.1", 20000, 10);
        bad.n_allow = VM_ALLOW_MAX + 1;
        assert_int_equal(store_vm_insert(f->s, &bad, NULL), -EINVAL);

        bad = make_vm("bad", "aaaaaa", "10.0.1.1", 20000, 10);
        bad.n_allow = 1; /* allow[0] is all zero: no family */
        assert_int_equal(store_vm_insert(f->s, &bad, NULL), -EINVAL);

        bad = make_vm("bad", "aaaaaa", "10.0.1.1", 20000, 10);
        add_allow(&bad, "10.0.0.0/8");
        bad.allow[0].addr.bytes[3] = 1; /* host bits set: would not read back */
        assert_int_equal(store_vm_insert(f->s, &bad, NULL), -EINVAL);

        bad = make_vm("bad", "aaaaaa", "10.0.1.1", 20000, 10);
        add_allow(&bad, "10.0.0.0/8");
        bad.allow[0].prefix = 33;
        assert_int_equal(store_vm_insert(f->s, &bad, NULL), -EINVAL);

        /* Nothing was stored or logged, and the connection still works. */
        assert_int_equal(vm_count(f->s), 0);
        assert_int_equal(snapshot_seq(f->s, NULL), seq);
        struct vm ok = make_vm("ok", "aaaaaa", "10.0.1.1", 20000, 10);
        insert_ok(f->s, &ok);

        /* The schema refuses values no build writes. */
        assert_int_not_equal(raw_exec(f->path, "UPDATE vms SET proxy_protocol = 'v3'"), SQLITE_OK);
        assert_int_not_equal(raw_exec(f->path, "UPDATE vms SET proxy_protocol = NULL"), SQLITE_OK);
        assert_int_not_equal(raw_exec(f->path, "UPDATE vms SET http_passthrough = 2"), SQLITE_OK);
        assert_int_not_equal(raw_exec(f->path, "UPDATE vms SET allow = NULL"), SQLITE_OK);
        struct vm got;
        assert_int_equal(store_vm_get(f->s, "ok", &got), 0);
        assert_vm_equal(&got, &ok);
}

static void test_unreadable_allow(void **state) {
        struct fixture *f = *state;
        struct vm a = make_vm("a", "aaaaaa", "10.0.1.1", 20000, 10);
        add_allow(&a, "203.0.113.0/24");
        insert_ok(f->s, &a);
        static const char *const corrupt[] = {
                "UPDATE vms SET allow = 'garbage'",
                "UPDATE vms SET allow = '203.0.113.0/24 10.0.0.1/8'", /* host bits set */
                "UPDATE vms SET allow = '1.0.0.0/8 2.0.0.0/8 3.0.0.0/8 4.0.0.0/8 5.0.0.0/8 6.0.0.0/8 7.0.0.0/8 "
                "8.0.0.0/8 9.0.0.0/8 10.0.0.0/8 11.0.0.0/8 12.0.0.0/8 13.0.0.0/8 14.0.0.0/8 15.0.0.0/8 16.0.0.0/8 "
                "17.0.0.0/8'", /* 17 entries */
        };
        for (size_t i = 0; i < ELEMENTSOF(corrupt); i++) {
                assert_int_equal(raw_exec(f->path, corrupt[i]), SQLITE_OK);
                /* Refused loudly, never read as "any source". */
                struct vm got;
                memset(&got, 0x5a, sizeof got);
                struct vm untouched = got;
                assert_int_equal(store_vm_get(f->s, "a", &got), -EBADMSG);
                assert_memory_equal(&got, &untouched, sizeof got);
                assert_non_null(strstr(store_errmsg(f->s), "allow"));
                struct vm *vms = NULL;
                size_t n = 0;
                int64_t seq;
                assert_int_equal(store_vm_list(f->s, &vms, &n), -EBADMSG);
                assert_int_equal(store_snapshot_load(f->s, &vms, &n, &seq), -EBADMSG);
        }
        /* Repaired by hand, it reads again. */
        assert_int_equal(raw_exec(f->path, "UPDATE vms SET allow = ' 203.0.113.0/24  '"), SQLITE_OK);
        struct vm got;
        assert_int_equal(store_vm_get(f->s, "a", &got), 0);
        assert_vm_equal(&got, &a);
}

/* Schema 1 exactly as the first release created it (a copy of migration 1: never edit). */
static const char schema_v1[] =
        "CREATE TABLE vms ("
        "  id TEXT PRIMARY KEY NOT NULL,"
        "  slug TEXT NOT NULL UNIQUE,"
        "  ip TEXT NOT NULL UNIQUE,"
        "  block_start INTEGER NOT NULL UNIQUE CHECK (block_start BETWEEN 1 AND 65535),"
        "  block_size INTEGER NOT NULL CHECK (block_size BETWEEN 1 AND 1000),"
        "  created_at INTEGER NOT NULL,"
        "  CHECK (block_start + block_size - 1 <= 65535)"
        ");"
        "CREATE TRIGGER vms_block_no_overlap BEFORE INSERT ON vms "
        "WHEN EXISTS (SELECT 1 FROM vms o WHERE o.block_start > NEW.block_start - 1000"
        "  AND o.block_start < NEW.block_start + NEW.block_size"
        "  AND o.block_start + o.block_size > NEW.block_start) "
        "BEGIN SELECT RAISE(ABORT, 'port block overlaps another VM'); END;"
        "CREATE TABLE changes ("
        "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  kind TEXT NOT NULL,"
        "  key TEXT NOT NULL"
        ");"
        "PRAGMA user_version = 1;";

static void test_migration_from_v1(void **state) {
        struct fixture *f = *state;
        char path[160];
        snprintf(path, sizeof path, "%s/v1.db", f->dir);
        assert_int_equal(raw_exec(path, schema_v1), SQLITE_OK);
        assert_int_equal(raw_exec(path,
                                  "INSERT INTO vms VALUES ('old-1', 'k7m2p4', '10.0.1.5', 20000, 10, 1700000000);"
                                  "INSERT INTO vms VALUES ('old-6', 'a1b2c3', '2001:db8::5', 20010, 10, 1700000001);"
                                  "INSERT INTO changes (kind, key) VALUES ('vm', 'old-1'), ('vm', 'old-6');"),
                         SQLITE_OK);
        assert_int_equal(file_user_version(path), 1);

        struct store *s = NULL;
        char err[256] = "";
        if (store_open(path, &s, err, sizeof err) < 0)
                fail_msg("store_open of a schema-1 database: %s", err);
        assert_int_equal(file_user_version(path), store_schema_version());
        assert_int_equal(store_schema_version(), 7);

        /* The VMs are all there, with the defaults. */
        struct vm old1 = make_vm("old-1", "k7m2p4", "10.0.1.5", 20000, 10);
        struct vm old6 = make_vm("old-6", "a1b2c3", "2001:db8::5", 20010, 10);
        old6.created_at = 1700000001;
        struct vm *vms = NULL;
        size_t n = 0;
        int64_t seq = 0;
        assert_int_equal(store_snapshot_load(s, &vms, &n, &seq), 0);
        assert_int_equal(n, 2);
        assert_vm_equal(&vms[0], &old1);
        assert_vm_equal(&vms[1], &old6);
        assert_int_equal(vms[0].proxy_protocol, VM_PROXY_NONE);
        assert_false(vms[0].http_passthrough);
        assert_int_equal(vms[0].n_allow, 0);
        free(vms);
        /* The change log continues where it was. */
        assert_int_equal(seq, 2);

        /* The constraints of schema 1 still hold, and new VMs get options. */
        struct vm overlap = make_vm("new", "zzzzzz", "10.0.1.9", 20005, 10);
        insert_conflict(s, &overlap, STORE_CONFLICT_BLOCK);
        struct vm dup_ip = make_vm("new", "zzzzzz", "10.0.1.5", 20020, 10);
        insert_conflict(s, &dup_ip, STORE_CONFLICT_IP);
        struct vm fresh = make_vm("new", "zzzzzz", "10.0.1.9", 20020, 10);
        fresh.proxy_protocol = VM_PROXY_V2;
        fresh.http_passthrough = true;
        add_allow(&fresh, "203.0.113.0/24");
        insert_ok(s, &fresh);
        struct vm got;
        assert_int_equal(store_vm_get(s, "new", &got), 0);
        assert_vm_equal(&got, &fresh);
        assert_int_equal(snapshot_seq(s, NULL), 3);
        s = store_close(s);

        /* Opening again does not migrate again. */
        assert_int_equal(store_open(path, &s, err, sizeof err), 0);
        assert_int_equal(vm_count(s), 3);
        assert_int_equal(file_user_version(path), 7);
        store_close(s);
}

static void test_migration_failure_rolls_back(void **state) {
        struct fixture *f = *state;
        char path[160];
        snprintf(path, sizeof path, "%s/v1-clash.db", f->dir);
        /* A schema-1 file where someone already added a column named like migration 2's:
         * the migration fails as a whole and leaves the file at version 1. */
        assert_int_equal(raw_exec(path, schema_v1), SQLITE_OK);
        assert_int_equal(raw_exec(path, "ALTER TABLE vms ADD COLUMN allow TEXT;"
                                        "INSERT INTO vms (id, slug, ip, block_start, block_size, created_at) "
                                        "VALUES ('old-1', 'k7m2p4', '10.0.1.5', 20000, 10, 1700000000);"),
                         SQLITE_OK);
        struct store *s = NULL;
        char err[256] = "";
        assert_true(store_open(path, &s, err, sizeof err) < 0);
        assert_null(s);
        assert_non_null(strstr(err, "migration to schema 2 failed"));
        assert_int_equal(file_user_version(path), 1);
        /* Not even the first ALTER TABLE of the migration stayed. */
        assert_int_not_equal(raw_exec(path, "SELECT proxy_protocol FROM vms"), SQLITE_OK);
}

/* Threads racing for the same blocks, each through its own connection. */
#define RACERS 4
#define RACE_BLOCKS 40

struct racer {
        const char *path;
        int index;
        int ok, conflicts, other;
        int open_error;
};

static void *race(void *arg) {
        struct racer *r = arg;
        struct store *s;
        char err[256];
        r->open_error = store_open(r->path, &s, err, sizeof err);
        if (r->open_error < 0)
                return NULL;
        for (int b = 0; b < RACE_BLOCKS; b++) {
                /* Every racer wants block b; ids, slugs and ips are its own. Odd racers ask for a
                 * block shifted by 5 so that it overlaps two of the others' blocks. */
                struct vm vm = {.block_start = (uint16_t)(20000 + 10 * b + (r->index % 2 ? 5 : 0)), .block_size = 10};
                snprintf(vm.id, sizeof vm.id, "r%d-%d", r->index, b);
                snprintf(vm.slug, sizeof vm.slug, "r%d%04d", r->index, b);
                vm.ip.family = AF_INET;
                vm.ip.bytes[0] = 10;
                vm.ip.bytes[1] = (uint8_t)r->index;
                vm.ip.bytes[2] = (uint8_t)b;
                vm.ip.bytes[3] = 1;
                enum store_conflict c = STORE_CONFLICT_NONE;
                int rc = store_vm_insert(s, &vm, &c);
                if (rc == 0)
                        r->ok++;
                else if (rc == -EEXIST && c == STORE_CONFLICT_BLOCK)
                        r->conflicts++;
                else
                        r->other++;
        }
        store_close(s);
        return NULL;
}

static void test_concurrent_inserts(void **state) {
        struct fixture *f = *state;
        pthread_t t[RACERS];
        struct racer r[RACERS];
        for (int i = 0; i < RACERS; i++) {
                r[i] = (struct racer){.path = f->path, .index = i};
                assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
        }
        int ok = 0;
        for (int i = 0; i < RACERS; i++) {
                assert_int_equal(pthread_join(t[i], NULL), 0);
                assert_int_equal(r[i].open_error, 0);
                assert_int_equal(r[i].other, 0);
                assert_int_equal(r[i].ok + r[i].conflicts, RACE_BLOCKS);
                ok += r[i].ok;
        }
        /* Whatever the interleaving: no two stored blocks overlap. */
        struct vm *vms;
        size_t n;
        assert_int_equal(store_vm_list(f->s, &vms, &n), 0);
        assert_int_equal(n, (size_t)ok);
        assert_true(n >= RACE_BLOCKS / 2);
        struct portmap m;
        portmap_init(&m);
        for (size_t i = 0; i < n; i++) {
                if (!portmap_is_free(&m, vms[i].block_start, vms[i].block_size))
                        fail_msg("block %u/%u of %s overlaps another", vms[i].block_start, vms[i].block_size,
                                 vms[i].id);
                portmap_set(&m, vms[i].block_start, vms[i].block_size, true);
        }
        free(vms);
}

/* ======================================================================================
 * Schema 3
 * ====================================================================================== */

/* Schema 2 as the second release created it: schema 1 plus a copy of migration 2. */
static const char schema_v2_delta[] =
        "ALTER TABLE vms ADD COLUMN proxy_protocol TEXT NOT NULL DEFAULT 'none'"
        "  CHECK (proxy_protocol IN ('none','v1','v2'));"
        "ALTER TABLE vms ADD COLUMN http_passthrough INTEGER NOT NULL DEFAULT 0"
        "  CHECK (http_passthrough IN (0,1));"
        "ALTER TABLE vms ADD COLUMN allow TEXT NOT NULL DEFAULT '';"
        "PRAGMA user_version = 2;";

static struct vm_meta make_meta(const char *labels, int64_t expires_at, const char *const *names, size_t n) {
        struct vm_meta m;
        vm_meta_init(&m);
        strcpy(m.labels, labels);
        m.expires_at = expires_at;
        for (size_t i = 0; i < n; i++)
                strcpy(m.hostnames[m.n_hostnames++], names[i]);
        return m;
}

static struct route_def make_route(const char *id, const char *hostname, const char *ip) {
        struct route_def r;
        route_def_init(&r);
        strcpy(r.id, id);
        strcpy(r.hostname, hostname);
        assert_int_equal(ip_addr_parse(ip, &r.ip), 0);
        return r;
}

static struct forward_def make_forward(const char *id, uint16_t public_port, enum proto proto, const char *ip,
                                       uint16_t port) {
        struct forward_def f;
        forward_def_init(&f);
        strcpy(f.id, id);
        f.public_port = public_port;
        f.proto = (uint8_t)proto;
        assert_int_equal(ip_addr_parse(ip, &f.ip), 0);
        f.port = port;
        return f;
}

static void create_ok(struct store *s, const struct vm *vm, const struct vm_meta *meta) {
        enum store_conflict c = STORE_CONFLICT_NONE;
        int r = store_vm_create(s, vm, meta, "unix:uid=0", &c);
        if (r != 0)
                fail_msg("create %s: %d conflict %d (%s)", vm->id, r, c, store_errmsg(s));
}

static void create_conflict(struct store *s, const struct vm *vm, const struct vm_meta *meta,
                            enum store_conflict want) {
        enum store_conflict c = STORE_CONFLICT_NONE;
        int r = store_vm_create(s, vm, meta, "unix:uid=0", &c);
        if (r != -EEXIST || c != want)
                fail_msg("create %s: %d conflict %d, want -EEXIST conflict %d (%s)", vm->id, r, c, want,
                         store_errmsg(s));
}

static void route_put_expect(struct store *s, const struct route_def *r, enum store_write_mode mode, int64_t if_version,
                             int want_r, enum store_conflict want_c, enum store_outcome want_o) {
        enum store_conflict c = STORE_CONFLICT_NONE;
        enum store_outcome o = (enum store_outcome)-1;
        int k = store_route_put(s, r, mode, if_version, "token:ci", &c, &o, NULL);
        if (k != want_r || (k == -EEXIST && c != want_c) || (k == 0 && o != want_o))
                fail_msg("route put %s: %d conflict %d outcome %d, want %d/%d/%d (%s)", r->id, k, c, o, want_r, want_c,
                         want_o, store_errmsg(s));
}

static void forward_put_expect(struct store *s, const struct forward_def *f, enum store_write_mode mode,
                               int64_t if_version, int want_r, enum store_conflict want_c, enum store_outcome want_o) {
        enum store_conflict c = STORE_CONFLICT_NONE;
        enum store_outcome o = (enum store_outcome)-1;
        int k = store_forward_put(s, f, mode, if_version, "agent-token", &c, &o, NULL);
        if (k != want_r || (k == -EEXIST && c != want_c) || (k == 0 && o != want_o))
                fail_msg("forward put %s: %d conflict %d outcome %d, want %d/%d/%d (%s)", f->id, k, c, o, want_r,
                         want_c, want_o, store_errmsg(s));
}

/* Audit rows of kind/key (NULL = any), newest first. */
static size_t audit_count(struct store *s, const char *kind, const char *key) {
        struct audit_rec *a = NULL;
        size_t n = 0;
        assert_int_equal(store_audit_list(s, 0, 1000, kind, key, &a, &n), 0);
        audit_recs_free(a, n);
        return n;
}

/* The newest audit row of kind/key, which must have this action and actor; its images parsed
 * into *ret_before and *ret_after (json NULL when the image is NULL; the caller decrefs). */
static void expect_audit(struct store *s, const char *kind, const char *key, const char *action, const char *actor,
                         json_t **ret_before, json_t **ret_after) {
        struct audit_rec *a = NULL;
        size_t n = 0;
        assert_int_equal(store_audit_list(s, 0, 1, kind, key, &a, &n), 0);
        assert_int_equal(n, 1);
        assert_string_equal(a[0].kind, kind);
        assert_string_equal(a[0].key, key);
        assert_string_equal(a[0].action, action);
        assert_string_equal(a[0].actor, actor);
        assert_true(a[0].seq > 0);
        assert_true(a[0].at > 1700000000);
        json_t *images[2] = {NULL, NULL};
        const char *texts[2] = {a[0].before, a[0].after};
        for (int i = 0; i < 2; i++)
                if (texts[i]) {
                        json_error_t e;
                        images[i] = json_loads(texts[i], 0, &e);
                        if (!images[i] || !json_is_object(images[i]))
                                fail_msg("audit image is no JSON object: %s", texts[i]);
                }
        audit_recs_free(a, n);
        if (ret_before)
                *ret_before = images[0];
        else
                json_decref(images[0]);
        if (ret_after)
                *ret_after = images[1];
        else
                json_decref(images[1]);
}

static int64_t change_head(struct store *s) {
        return snapshot_seq(s, NULL);
}

/* The change-log entries after `after`: exactly the kind/key pairs in want (kind:key). */
static void expect_change_kinds(struct store *s, int64_t after, const char *const *want, size_t n_want) {
        struct store_change *c = NULL;
        size_t n = 99;
        assert_int_equal(store_changes_read(s, after, 100, &c, &n), 0);
        if (n != n_want)
                fail_msg("%zu changes after %lld, want %zu", n, (long long)after, n_want);
        for (size_t i = 0; i < n; i++) {
                char got[128];
                snprintf(got, sizeof got, "%s:%s", c[i].kind, c[i].key);
                assert_string_equal(got, want[i]);
                assert_true(c[i].seq > after);
        }
        free(c);
}

static void test_migration_from_v2(void **state) {
        struct fixture *f = *state;
        char path[160];
        snprintf(path, sizeof path, "%s/v2.db", f->dir);
        assert_int_equal(raw_exec(path, schema_v1), SQLITE_OK);
        assert_int_equal(raw_exec(path, schema_v2_delta), SQLITE_OK);
        assert_int_equal(raw_exec(path,
                                  "INSERT INTO vms VALUES ('old-1', 'k7m2p4', '10.0.1.5', 20000, 10, 1700000000,"
                                  "  'v2', 1, '203.0.113.0/24');"
                                  "INSERT INTO vms (id, slug, ip, block_start, block_size, created_at)"
                                  "  VALUES ('old-2', 'a1b2c3', '2001:db8::5', 20010, 10, 1700000001);"
                                  "INSERT INTO changes (kind, key) VALUES ('vm', 'old-1'), ('vm', 'old-2');"),
                         SQLITE_OK);
        assert_int_equal(file_user_version(path), 2);

        struct store *s = NULL;
        char err[256] = "";
        if (store_open(path, &s, err, sizeof err) < 0)
                fail_msg("store_open of a schema-2 database: %s", err);
        assert_int_equal(file_user_version(path), 7);

        /* The VMs read as before, with default metadata: no labels, names or expiry, version 1,
         * updated when created. */
        struct vm old1 = make_vm("old-1", "k7m2p4", "10.0.1.5", 20000, 10);
        old1.proxy_protocol = VM_PROXY_V2;
        old1.http_passthrough = true;
        add_allow(&old1, "203.0.113.0/24");
        struct vm got;
        assert_int_equal(store_vm_get(s, "old-1", &got), 0);
        assert_vm_equal(&got, &old1);
        struct vm_meta m;
        assert_int_equal(store_vm_get_meta(s, "old-2", &m), 0);
        assert_string_equal(m.labels, "{}");
        assert_int_equal(m.expires_at, 0);
        assert_int_equal(m.updated_at, 1700000001);
        assert_int_equal(m.version, 1);
        assert_int_equal(m.n_hostnames, 0);
        struct vm *vms;
        struct vm_meta *metas;
        size_t n;
        bool more;
        assert_int_equal(store_vm_list_page(s, NULL, 10, NULL, 0, &vms, &metas, &n, &more), 0);
        assert_int_equal(n, 2);
        assert_false(more);
        assert_vm_equal(&vms[0], &old1);
        assert_int_equal(metas[0].updated_at, 1700000000);
        free(vms);
        free(metas);
        assert_int_equal(snapshot_seq(s, NULL), 2);
        assert_int_equal(audit_count(s, NULL, NULL), 0);

        /* The old constraints hold; the new tables work beside the migrated rows. */
        struct vm dup_ip = make_vm("new", "zzzzzz", "10.0.1.5", 20020, 10);
        insert_conflict(s, &dup_ip, STORE_CONFLICT_IP);
        struct forward_def fw = make_forward("fw", 20005, PROTO_TCP, "10.0.9.9", 22);
        forward_put_expect(s, &fw, STORE_WRITE_CREATE, 0, -EEXIST, STORE_CONFLICT_BLOCK, 0);
        fw.public_port = 20020;
        forward_put_expect(s, &fw, STORE_WRITE_CREATE, 0, 0, 0, STORE_CREATED);
        struct vm_meta upd = make_meta("{\"env\":\"prod\"}", 0, NULL, 0);
        enum store_outcome o;
        int64_t version;
        assert_int_equal(store_vm_update(s, &old1, &upd, 1, "unix:uid=0", NULL, &o, &version), 0);
        assert_int_equal(o, STORE_UPDATED);
        assert_int_equal(version, 2);
        s = store_close(s);

        /* Opening again does not migrate again. */
        assert_int_equal(store_open(path, &s, err, sizeof err), 0);
        assert_int_equal(vm_count(s), 2);
        assert_int_equal(file_user_version(path), 7);
        assert_int_equal(store_vm_get_meta(s, "old-1", &m), 0);
        assert_string_equal(m.labels, "{\"env\":\"prod\"}");
        store_close(s);
}

static void test_vm_create_meta(void **state) {
        struct fixture *f = *state;
        struct vm a = make_vm("a", "aaaaaa", "10.0.1.1", 20000, 10);
        static const char *const names[] = {"www.example.com", "*.apps.example.com", "example.com"};
        struct vm_meta m = make_meta("{\"env\":\"prod\",\"team\":\"a\"}", 1800000000, names, 3);
        m.version = 77; /* ignored */
        m.updated_at = 5;
        create_ok(f->s, &a, &m);

        struct vm got;
        assert_int_equal(store_vm_get(f->s, "a", &got), 0);
        assert_vm_equal(&got, &a);
        struct vm_meta gm;
        assert_int_equal(store_vm_get_meta(f->s, "a", &gm), 0);
        assert_string_equal(gm.labels, "{\"env\":\"prod\",\"team\":\"a\"}");
        assert_int_equal(gm.expires_at, 1800000000);
        assert_int_equal(gm.version, 1);
        assert_int_equal(gm.updated_at, a.created_at);
        assert_int_equal(gm.n_hostnames, 3); /* sorted */
        assert_string_equal(gm.hostnames[0], "*.apps.example.com");
        assert_string_equal(gm.hostnames[1], "example.com");
        assert_string_equal(gm.hostnames[2], "www.example.com");

        /* Without meta: none. */
        struct vm b = make_vm("b", "bbbbbb", "10.0.1.2", 20010, 10);
        create_ok(f->s, &b, NULL);
        assert_int_equal(store_vm_get_meta(f->s, "b", &gm), 0);
        assert_string_equal(gm.labels, "{}");
        assert_int_equal(gm.n_hostnames, 0);
        assert_int_equal(gm.expires_at, 0);
        assert_int_equal(gm.version, 1);
        memset(&gm, 0x5a, sizeof gm);
        struct vm_meta untouched = gm;
        assert_int_equal(store_vm_get_meta(f->s, "c", &gm), -ENOENT);
        assert_memory_equal(&gm, &untouched, sizeof gm);

        /* Names are claimed for the VM. */
        struct store_owner owner;
        assert_int_equal(store_hostname_owner(f->s, "example.com", &owner), 0);
        assert_string_equal(owner.kind, "vm");
        assert_string_equal(owner.id, "a");
        assert_int_equal(store_hostname_owner(f->s, "other.example.com", &owner), -ENOENT);

        /* Slug lookup. */
        char id[VM_ID_MAX + 1];
        assert_int_equal(store_vm_find_by_slug(f->s, "bbbbbb", id), 0);
        assert_string_equal(id, "b");
        assert_int_equal(store_vm_find_by_slug(f->s, "cccccc", id), -ENOENT);

        /* The audit row: who, what, and the image SQLite made of the row. */
        json_t *before, *after;
        expect_audit(f->s, "vm", "a", "create", "unix:uid=0", &before, &after);
        assert_null(before);
        assert_string_equal(json_string_value(json_object_get(after, "id")), "a");
        assert_string_equal(json_string_value(json_object_get(after, "slug")), "aaaaaa");
        assert_string_equal(json_string_value(json_object_get(after, "ip")), "10.0.1.1");
        assert_int_equal(json_integer_value(json_object_get(after, "block_start")), 20000);
        assert_int_equal(json_integer_value(json_object_get(after, "block_size")), 10);
        assert_string_equal(json_string_value(json_object_get(after, "proxy_protocol")), "none");
        assert_true(json_is_false(json_object_get(after, "http_passthrough")));
        assert_int_equal(json_array_size(json_object_get(after, "allow")), 0);
        assert_string_equal(json_string_value(json_object_get(json_object_get(after, "labels"), "team")), "a");
        json_t *hn = json_object_get(after, "hostnames");
        assert_int_equal(json_array_size(hn), 3);
        assert_string_equal(json_string_value(json_array_get(hn, 0)), "*.apps.example.com");
        assert_int_equal(json_integer_value(json_object_get(after, "expires_at")), 1800000000);
        assert_int_equal(json_integer_value(json_object_get(after, "version")), 1);
        json_decref(after);

        /* The old entry point is audited as "internal". */
        struct vm c = make_vm("c", "cccccc", "10.0.1.3", 20020, 10);
        add_allow(&c, "203.0.113.0/24");
        add_allow(&c, "2001:db8::/32");
        c.http_passthrough = true;
        insert_ok(f->s, &c);
        expect_audit(f->s, "vm", "c", "create", "internal", NULL, &after);
        json_t *allow = json_object_get(after, "allow");
        assert_int_equal(json_array_size(allow), 2);
        assert_string_equal(json_string_value(json_array_get(allow, 1)), "2001:db8::/32");
        assert_true(json_is_true(json_object_get(after, "http_passthrough")));
        json_decref(after);

        /* Invalid metadata is refused before anything is written. */
        int64_t head = change_head(f->s);
        struct vm d = make_vm("d", "dddddd", "10.0.1.4", 20030, 10);
        static const char *const dup[] = {"x.example.com", "x.example.com"};
        struct vm_meta bad = make_meta("{}", 0, dup, 2);
        assert_int_equal(store_vm_create(f->s, &d, &bad, "t", NULL), -EINVAL);
        static const char *const upper[] = {"X.example.com"};
        bad = make_meta("{}", 0, upper, 1);
        assert_int_equal(store_vm_create(f->s, &d, &bad, "t", NULL), -EINVAL);
        bad = make_meta("[1]", 0, NULL, 0);
        assert_int_equal(store_vm_create(f->s, &d, &bad, "t", NULL), -EINVAL);
        bad = make_meta("{\"a\":", 0, NULL, 0);
        assert_int_equal(store_vm_create(f->s, &d, &bad, "t", NULL), -EINVAL);
        bad = make_meta("{}", -1, NULL, 0);
        assert_int_equal(store_vm_create(f->s, &d, &bad, "t", NULL), -EINVAL);
        bad = make_meta("{}", 0, NULL, 0);
        bad.n_hostnames = VM_HOSTNAMES_MAX + 1;
        assert_int_equal(store_vm_create(f->s, &d, &bad, "t", NULL), -EINVAL);
        struct vm bad_id = make_vm("../etc", "dddddd", "10.0.1.4", 20030, 10);
        assert_int_equal(store_vm_create(f->s, &bad_id, NULL, "t", NULL), -EINVAL);
        assert_int_equal(change_head(f->s), head);
        assert_int_equal(vm_count(f->s), 3);
        assert_int_equal(audit_count(f->s, NULL, NULL), 3);
}

static void test_vm_create_conflicts(void **state) {
        struct fixture *f = *state;
        struct vm a = make_vm("a", "aaaaaa", "10.0.1.1", 20000, 10);
        static const char *const names[] = {"a.example.com"};
        struct vm_meta m = make_meta("{}", 0, names, 1);
        create_ok(f->s, &a, &m);
        struct route_def r = make_route("r1", "r.example.com", "10.30.0.200");
        route_put_expect(f->s, &r, STORE_WRITE_CREATE, 0, 0, 0, STORE_CREATED);
        struct forward_def fw = make_forward("f1", 30005, PROTO_UDP, "10.0.9.9", 53);
        forward_put_expect(f->s, &fw, STORE_WRITE_CREATE, 0, 0, 0, STORE_CREATED);
        int64_t head = change_head(f->s);
        size_t audits = audit_count(f->s, NULL, NULL);

        /* An existing id is reported as such even when the block overlaps as well. */
        struct vm v = make_vm("a", "bbbbbb", "10.0.1.2", 20005, 10);
        create_conflict(f->s, &v, NULL, STORE_CONFLICT_ID);
        v = make_vm("b", "aaaaaa", "10.0.1.2", 20010, 10);
        create_conflict(f->s, &v, NULL, STORE_CONFLICT_SLUG);
        v = make_vm("b", "bbbbbb", "10.0.1.1", 20010, 10);
        create_conflict(f->s, &v, NULL, STORE_CONFLICT_IP);
        v = make_vm("b", "bbbbbb", "10.0.1.2", 20009, 10);
        create_conflict(f->s, &v, NULL, STORE_CONFLICT_BLOCK);
        /* A name of another VM, of a route. */
        v = make_vm("b", "bbbbbb", "10.0.1.2", 20010, 10);
        static const char *const taken_vm[] = {"free.example.com", "a.example.com"};
        m = make_meta("{}", 0, taken_vm, 2);
        create_conflict(f->s, &v, &m, STORE_CONFLICT_HOSTNAME);
        static const char *const taken_route[] = {"r.example.com"};
        m = make_meta("{}", 0, taken_route, 1);
        create_conflict(f->s, &v, &m, STORE_CONFLICT_HOSTNAME);
        /* A block over a forward's port (any proto). */
        v = make_vm("b", "bbbbbb", "10.0.1.2", 30000, 10);
        create_conflict(f->s, &v, NULL, STORE_CONFLICT_PORT);

        /* Nothing was written: no row, no name, no audit, no change. */
        assert_int_equal(vm_count(f->s), 1);
        assert_int_equal(change_head(f->s), head);
        assert_int_equal(audit_count(f->s, NULL, NULL), audits);
        struct store_owner owner;
        assert_int_equal(store_hostname_owner(f->s, "free.example.com", &owner), -ENOENT);
        v = make_vm("b", "bbbbbb", "10.0.1.2", 20010, 10);
        static const char *const fine[] = {"free.example.com"};
        m = make_meta("{}", 0, fine, 1);
        create_ok(f->s, &v, &m);
}

static void test_vm_update(void **state) {
        struct fixture *f = *state;
        struct vm a = make_vm("a", "aaaaaa", "10.0.1.1", 20000, 10);
        static const char *const names[] = {"a.example.com", "b.example.com"};
        struct vm_meta m = make_meta("{\"env\":\"dev\"}", 0, names, 2);
        create_ok(f->s, &a, &m);
        struct vm b = make_vm("b", "bbbbbb", "10.0.1.2", 20010, 10);
        create_ok(f->s, &b, NULL);
        struct route_def r = make_route("r1", "r.example.com", "10.30.0.200");
        route_put_expect(f->s, &r, STORE_WRITE_CREATE, 0, 0, 0, STORE_CREATED);

        /* The same values again: unchanged, same version, no audit, no change log. */
        int64_t head = change_head(f->s);
        size_t audits = audit_count(f->s, NULL, NULL);
        enum store_outcome o = (enum store_outcome)-1;
        int64_t version = 0;
        struct vm_meta same = make_meta("{\"env\":\"dev\"}", 0, (const char *const[]){"b.example.com", "a.example.com"}, 2);
        assert_int_equal(store_vm_update(f->s, &a, &same, 0, "t", NULL, &o, &version), 0);
        assert_int_equal(o, STORE_UNCHANGED);
        assert_int_equal(version, 1);
        assert_int_equal(store_vm_update(f->s, &a, &same, 1, "t", NULL, &o, &version), 0);
        assert_int_equal(o, STORE_UNCHANGED);
        assert_int_equal(change_head(f->s), head);
        assert_int_equal(audit_count(f->s, NULL, NULL), audits);
        struct vm_meta gm;
        assert_int_equal(store_vm_get_meta(f->s, "a", &gm), 0);
        assert_int_equal(gm.version, 1);
        assert_int_equal(gm.updated_at, a.created_at);

        /* A real change: new ip, options, labels, names, expiry. Slug, block and created_at
         * are the store's, whatever the caller passes. */
        struct vm changed = make_vm("a", "zzzzzz", "10.0.1.9", 40000, 20);
        changed.created_at = 1;
        changed.proxy_protocol = VM_PROXY_V1;
        add_allow(&changed, "198.51.100.0/24");
        static const char *const new_names[] = {"c.example.com", "a.example.com"};
        struct vm_meta nm = make_meta("{\"env\":\"prod\"}", 1900000000, new_names, 2);
        enum store_conflict c = STORE_CONFLICT_NONE;
        assert_int_equal(store_vm_update(f->s, &changed, &nm, 1, "token:ops", &c, &o, &version), 0);
        assert_int_equal(o, STORE_UPDATED);
        assert_int_equal(version, 2);
        struct vm got;
        assert_int_equal(store_vm_get(f->s, "a", &got), 0);
        assert_string_equal(got.slug, "aaaaaa");
        assert_int_equal(got.block_start, 20000);
        assert_int_equal(got.block_size, 10);
        assert_int_equal(got.created_at, a.created_at);
        assert_int_equal(got.proxy_protocol, VM_PROXY_V1);
        assert_int_equal(got.n_allow, 1);
        struct ip_addr ip;
        assert_int_equal(ip_addr_parse("10.0.1.9", &ip), 0);
        assert_true(ip_addr_equal(&got.ip, &ip));
        assert_int_equal(store_vm_get_meta(f->s, "a", &gm), 0);
        assert_int_equal(gm.version, 2);
        assert_true(gm.updated_at >= 1700000000 && gm.updated_at > a.created_at);
        assert_int_equal(gm.expires_at, 1900000000);
        assert_string_equal(gm.labels, "{\"env\":\"prod\"}");
        assert_int_equal(gm.n_hostnames, 2);
        assert_string_equal(gm.hostnames[0], "a.example.com");
        assert_string_equal(gm.hostnames[1], "c.example.com");
        /* The dropped name is free, the new one claimed. */
        struct store_owner owner;
        assert_int_equal(store_hostname_owner(f->s, "b.example.com", &owner), -ENOENT);
        assert_int_equal(store_hostname_owner(f->s, "c.example.com", &owner), 0);
        assert_string_equal(owner.id, "a");
        /* One owner's names, by name (what the reconciler republishes for a changed VM). */
        struct store_hostname *hn = NULL;
        size_t n_hn = 0;
        assert_int_equal(store_hostnames_of(f->s, "vm", "a", &hn, &n_hn), 0);
        assert_int_equal(n_hn, 2);
        assert_string_equal(hn[0].name, "a.example.com");
        assert_string_equal(hn[1].name, "c.example.com");
        assert_string_equal(hn[1].owner.kind, "vm");
        free(hn);
        hn = NULL;
        assert_int_equal(store_hostnames_of(f->s, "route", "a", &hn, &n_hn), 0);
        assert_int_equal(n_hn, 0);
        assert_null(hn);
        /* The reconciler hears of it; the audit has both images. */
        static const char *const one_change[] = {"vm:a"};
        expect_change_kinds(f->s, head, one_change, 1);
        json_t *before, *after;
        expect_audit(f->s, "vm", "a", "update", "token:ops", &before, &after);
        assert_string_equal(json_string_value(json_object_get(before, "ip")), "10.0.1.1");
        assert_string_equal(json_string_value(json_object_get(after, "ip")), "10.0.1.9");
        assert_int_equal(json_integer_value(json_object_get(before, "version")), 1);
        assert_int_equal(json_integer_value(json_object_get(after, "version")), 2);
        assert_string_equal(json_string_value(json_object_get(after, "slug")), "aaaaaa");
        assert_string_equal(json_string_value(json_array_get(json_object_get(before, "hostnames"), 1)), "b.example.com");
        assert_string_equal(json_string_value(json_array_get(json_object_get(after, "hostnames"), 1)), "c.example.com");
        json_decref(before);
        json_decref(after);

        /* Only the labels: still a change (version 3). */
        nm = make_meta("{\"env\":\"prod\",\"x\":\"1\"}", 1900000000, new_names, 2);
        assert_int_equal(store_vm_update(f->s, &changed, &nm, 0, "t", NULL, &o, &version), 0);
        assert_int_equal(o, STORE_UPDATED);
        assert_int_equal(version, 3);

        /* If-Match: a stale version is refused and changes nothing. */
        head = change_head(f->s);
        audits = audit_count(f->s, NULL, NULL);
        struct vm back = make_vm("a", "aaaaaa", "10.0.1.1", 20000, 10);
        o = (enum store_outcome)-1;
        version = -1;
        assert_int_equal(store_vm_update(f->s, &back, NULL, 2, "t", NULL, &o, &version), -ESTALE);
        assert_int_equal(o, (enum store_outcome)-1);
        assert_int_equal(version, -1);
        assert_int_equal(store_vm_update(f->s, &back, NULL, 4, "t", NULL, &o, &version), -ESTALE);
        /* Conflicts: another VM's address, another VM's or a route's name. */
        struct vm steal_ip = make_vm("a", "aaaaaa", "10.0.1.2", 20000, 10);
        c = STORE_CONFLICT_NONE;
        assert_int_equal(store_vm_update(f->s, &steal_ip, NULL, 3, "t", &c, &o, &version), -EEXIST);
        assert_int_equal(c, STORE_CONFLICT_IP);
        static const char *const route_name[] = {"r.example.com"};
        nm = make_meta("{}", 0, route_name, 1);
        c = STORE_CONFLICT_NONE;
        assert_int_equal(store_vm_update(f->s, &back, &nm, 3, "t", &c, &o, &version), -EEXIST);
        assert_int_equal(c, STORE_CONFLICT_HOSTNAME);
        static const char *const a_name[] = {"c.example.com"};
        nm = make_meta("{}", 0, a_name, 1);
        c = STORE_CONFLICT_NONE;
        assert_int_equal(store_vm_update(f->s, &b, &nm, 0, "t", &c, &o, &version), -EEXIST);
        assert_int_equal(c, STORE_CONFLICT_HOSTNAME);
        /* Absent VM, invalid options. */
        struct vm ghost = make_vm("ghost", "gggggg", "10.0.1.7", 20020, 10);
        assert_int_equal(store_vm_update(f->s, &ghost, NULL, 0, "t", NULL, &o, &version), -ENOENT);
        back.proxy_protocol = 9;
        assert_int_equal(store_vm_update(f->s, &back, NULL, 0, "t", NULL, &o, &version), -EINVAL);
        assert_int_equal(change_head(f->s), head);
        assert_int_equal(audit_count(f->s, NULL, NULL), audits);
        assert_int_equal(store_vm_get_meta(f->s, "a", &gm), 0);
        assert_int_equal(gm.version, 3);
        assert_int_equal(gm.n_hostnames, 2);

        /* With the right version, it goes through (names dropped: none). */
        back.proxy_protocol = VM_PROXY_NONE;
        assert_int_equal(store_vm_update(f->s, &back, NULL, 3, "t", NULL, &o, &version), 0);
        assert_int_equal(o, STORE_UPDATED);
        assert_int_equal(version, 4);
        assert_int_equal(store_hostname_owner(f->s, "a.example.com", &owner), -ENOENT);
        /* The schema keeps a block in place even for a hand edit. */
        assert_int_not_equal(raw_exec(f->path, "UPDATE vms SET block_start = 30000 WHERE id = 'a'"), SQLITE_OK);
}

static void test_vm_remove(void **state) {
        struct fixture *f = *state;
        struct vm a = make_vm("a", "aaaaaa", "10.0.1.1", 20000, 10);
        static const char *const names[] = {"a.example.com"};
        struct vm_meta m = make_meta("{\"k\":\"v\"}", 0, names, 1);
        create_ok(f->s, &a, &m);
        enum store_outcome o;
        int64_t version;
        struct vm_meta m2 = make_meta("{}", 0, names, 1);
        assert_int_equal(store_vm_update(f->s, &a, &m2, 0, "t", NULL, &o, &version), 0);
        assert_int_equal(version, 2);

        int64_t head = change_head(f->s);
        struct vm removed;
        memset(&removed, 0x5a, sizeof removed);
        struct vm untouched = removed;
        assert_int_equal(store_vm_remove(f->s, "a", 1, "token:ops", &removed), -ESTALE);
        assert_memory_equal(&removed, &untouched, sizeof removed);
        assert_int_equal(store_vm_remove(f->s, "nope", 0, "token:ops", &removed), -ENOENT);
        assert_int_equal(change_head(f->s), head);
        assert_int_equal(store_vm_remove(f->s, "a", 2, "token:ops", &removed), 0);
        assert_vm_equal(&removed, &a);
        assert_int_equal(store_vm_remove(f->s, "a", 0, "token:ops", NULL), -ENOENT);
        static const char *const one[] = {"vm:a"};
        expect_change_kinds(f->s, head, one, 1);
        json_t *before, *after;
        expect_audit(f->s, "vm", "a", "delete", "token:ops", &before, &after);
        assert_null(after);
        assert_string_equal(json_string_value(json_array_get(json_object_get(before, "hostnames"), 0)),
                            "a.example.com");
        assert_int_equal(json_integer_value(json_object_get(before, "version")), 2);
        json_decref(before);

        /* Its names went with it. */
        struct store_owner owner;
        assert_int_equal(store_hostname_owner(f->s, "a.example.com", &owner), -ENOENT);
        struct store_hostname *h = NULL;
        size_t n = 99;
        assert_int_equal(store_hostnames_list(f->s, &h, &n), 0);
        assert_int_equal(n, 0);
        assert_null(h);
}

static void test_routes(void **state) {
        struct fixture *f = *state;
        struct route_def r = make_route("homelab", "*.home.example.net", "10.30.0.200");
        r.proxy_protocol = VM_PROXY_V2;
        r.http_passthrough = true;
        r.port = 8443;
        r.http_port = 8080;
        assert_int_equal(ip_cidr_parse("192.0.2.0/24", &r.allow[0]), 0);
        r.n_allow = 1;
        strcpy(r.labels, "{\"site\":\"home\"}");
        enum store_conflict c = STORE_CONFLICT_NONE;
        enum store_outcome o = (enum store_outcome)-1;
        struct route_def stored;
        int64_t head = change_head(f->s);
        assert_int_equal(store_route_put(f->s, &r, STORE_WRITE_CREATE, 0, "token:ci", &c, &o, &stored), 0);
        assert_int_equal(o, STORE_CREATED);
        assert_string_equal(stored.id, "homelab");
        assert_string_equal(stored.hostname, "*.home.example.net");
        assert_true(ip_addr_equal(&stored.ip, &r.ip));
        assert_int_equal(stored.port, 8443);
        assert_int_equal(stored.http_port, 8080);
        assert_int_equal(stored.proxy_protocol, VM_PROXY_V2);
        assert_true(stored.http_passthrough);
        assert_int_equal(stored.n_allow, 1);
        assert_int_equal(stored.allow[0].prefix, 24);
        assert_int_equal(stored.origin, ORIGIN_API);
        assert_string_equal(stored.labels, "{\"site\":\"home\"}");
        assert_int_equal(stored.version, 1);
        assert_true(stored.created_at >= 1700000000);
        assert_int_equal(stored.updated_at, stored.created_at);
        static const char *const one[] = {"route:homelab"};
        expect_change_kinds(f->s, head, one, 1);
        json_t *after;
        expect_audit(f->s, "route", "homelab", "create", "token:ci", NULL, &after);
        assert_string_equal(json_string_value(json_object_get(after, "hostname")), "*.home.example.net");
        assert_int_equal(json_integer_value(json_object_get(after, "port")), 8443);
        assert_string_equal(json_string_value(json_object_get(after, "origin")), "api");
        assert_true(json_is_true(json_object_get(after, "http_passthrough")));
        json_decref(after);

        /* Its name is claimed: by another route, by a VM. */
        struct store_owner owner;
        assert_int_equal(store_hostname_owner(f->s, "*.home.example.net", &owner), 0);
        assert_string_equal(owner.kind, "route");
        assert_string_equal(owner.id, "homelab");
        struct route_def r2 = make_route("other", "*.home.example.net", "10.30.0.201");
        route_put_expect(f->s, &r2, STORE_WRITE_CREATE, 0, -EEXIST, STORE_CONFLICT_HOSTNAME, 0);
        route_put_expect(f->s, &r2, STORE_WRITE_UPSERT, 0, -EEXIST, STORE_CONFLICT_HOSTNAME, 0);
        struct vm v = make_vm("v", "vvvvvv", "10.0.1.1", 20000, 10);
        static const char *const vm_names[] = {"v.example.net"};
        struct vm_meta m = make_meta("{}", 0, vm_names, 1);
        create_ok(f->s, &v, &m);
        strcpy(r2.hostname, "v.example.net");
        route_put_expect(f->s, &r2, STORE_WRITE_CREATE, 0, -EEXIST, STORE_CONFLICT_HOSTNAME, 0);
        static const char *const route_names[] = {"*.home.example.net"};
        m = make_meta("{}", 0, route_names, 1);
        enum store_outcome vo;
        int64_t vver;
        c = STORE_CONFLICT_NONE;
        assert_int_equal(store_vm_update(f->s, &v, &m, 0, "t", &c, &vo, &vver), -EEXIST);
        assert_int_equal(c, STORE_CONFLICT_HOSTNAME);
        /* CREATE of an existing id. */
        route_put_expect(f->s, &r, STORE_WRITE_CREATE, 0, -EEXIST, STORE_CONFLICT_ID, 0);

        /* UPSERT with the same values: unchanged, free to retry. */
        head = change_head(f->s);
        size_t audits = audit_count(f->s, NULL, NULL);
        route_put_expect(f->s, &r, STORE_WRITE_UPSERT, 0, 0, 0, STORE_UNCHANGED);
        route_put_expect(f->s, &r, STORE_WRITE_UPSERT, 1, 0, 0, STORE_UNCHANGED);
        assert_int_equal(change_head(f->s), head);
        assert_int_equal(audit_count(f->s, NULL, NULL), audits);
        /* A stale If-Match; one on an absent id. */
        route_put_expect(f->s, &r, STORE_WRITE_UPSERT, 2, -ESTALE, 0, 0);
        struct route_def absent = make_route("absent", "absent.example.net", "10.30.0.9");
        route_put_expect(f->s, &absent, STORE_WRITE_UPSERT, 1, -ESTALE, 0, 0);
        assert_int_equal(store_route_get(f->s, "absent", &stored), -ENOENT);

        /* A new host name: the old is released, the new claimed; agent fields kept. */
        strcpy(r.hostname, "traefik.example.net");
        r.origin = ORIGIN_AGENT;
        strcpy(r.agent_target_url, "https://10.30.0.200:8443");
        strcpy(r.agent_entrypoint, "websecure");
        strcpy(r.agent_certresolver, "le");
        o = (enum store_outcome)-1;
        assert_int_equal(store_route_put(f->s, &r, STORE_WRITE_UPSERT, 1, "agent", &c, &o, &stored), 0);
        assert_int_equal(o, STORE_UPDATED);
        assert_int_equal(stored.version, 2);
        assert_int_equal(stored.origin, ORIGIN_AGENT);
        assert_string_equal(stored.agent_target_url, "https://10.30.0.200:8443");
        assert_string_equal(stored.agent_entrypoint, "websecure");
        assert_string_equal(stored.agent_certresolver, "le");
        assert_true(stored.updated_at >= stored.created_at);
        assert_int_equal(store_hostname_owner(f->s, "*.home.example.net", &owner), -ENOENT);
        assert_int_equal(store_hostname_owner(f->s, "traefik.example.net", &owner), 0);
        assert_string_equal(owner.id, "homelab");
        json_t *before;
        expect_audit(f->s, "route", "homelab", "update", "agent", &before, &after);
        assert_string_equal(json_string_value(json_object_get(before, "hostname")), "*.home.example.net");
        assert_string_equal(json_string_value(json_object_get(after, "hostname")), "traefik.example.net");
        assert_string_equal(json_string_value(json_object_get(after, "agent_entrypoint")), "websecure");
        json_decref(before);
        json_decref(after);
        /* The freed name can be taken. */
        strcpy(r2.hostname, "*.home.example.net");
        route_put_expect(f->s, &r2, STORE_WRITE_UPSERT, 0, 0, 0, STORE_CREATED);

        /* Get, list, hostnames. */
        struct route_def got;
        assert_int_equal(store_route_get(f->s, "homelab", &got), 0);
        assert_string_equal(got.hostname, "traefik.example.net");
        struct route_def *all = NULL;
        size_t n = 0;
        assert_int_equal(store_route_list_all(f->s, &all, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(all[0].id, "homelab");
        assert_string_equal(all[1].id, "other");
        free(all);
        struct store_hostname *h = NULL;
        assert_int_equal(store_hostnames_list(f->s, &h, &n), 0);
        assert_int_equal(n, 3);
        assert_string_equal(h[0].name, "*.home.example.net");
        assert_string_equal(h[0].owner.kind, "route");
        assert_string_equal(h[0].owner.id, "other");
        assert_string_equal(h[1].name, "traefik.example.net");
        assert_string_equal(h[2].name, "v.example.net");
        assert_string_equal(h[2].owner.kind, "vm");
        free(h);
        bool more;
        assert_int_equal(store_route_list_page(f->s, NULL, 10, NULL, 0, ORIGIN_AGENT, &all, &n, &more), 0);
        assert_int_equal(n, 1);
        assert_string_equal(all[0].id, "homelab");
        free(all);
        assert_int_equal(store_route_list_page(f->s, NULL, 10, NULL, 0, ORIGIN_API, &all, &n, &more), 0);
        assert_int_equal(n, 1);
        assert_string_equal(all[0].id, "other");
        free(all);

        /* Invalid routes. */
        struct route_def bad = make_route("bad", "Bad.example.net", "10.30.0.1");
        assert_int_equal(store_route_put(f->s, &bad, STORE_WRITE_CREATE, 0, "t", NULL, NULL, NULL), -EINVAL);
        bad = make_route("bad", "*.net", "10.30.0.1");
        assert_int_equal(store_route_put(f->s, &bad, STORE_WRITE_CREATE, 0, "t", NULL, NULL, NULL), -EINVAL);
        bad = make_route("bad/..", "bad.example.net", "10.30.0.1");
        assert_int_equal(store_route_put(f->s, &bad, STORE_WRITE_CREATE, 0, "t", NULL, NULL, NULL), -EINVAL);
        bad = make_route("bad", "bad.example.net", "10.30.0.1");
        bad.port = 0;
        assert_int_equal(store_route_put(f->s, &bad, STORE_WRITE_CREATE, 0, "t", NULL, NULL, NULL), -EINVAL);
        bad = make_route("bad", "bad.example.net", "10.30.0.1");
        bad.origin = 7;
        assert_int_equal(store_route_put(f->s, &bad, STORE_WRITE_CREATE, 0, "t", NULL, NULL, NULL), -EINVAL);
        bad = make_route("bad", "bad.example.net", "10.30.0.1");
        strcpy(bad.labels, "\"x\"");
        assert_int_equal(store_route_put(f->s, &bad, STORE_WRITE_CREATE, 0, "t", NULL, NULL, NULL), -EINVAL);

        /* Remove: If-Match, absent, then its name is free. */
        head = change_head(f->s);
        struct route_def removed;
        assert_int_equal(store_route_remove(f->s, "homelab", 1, "t", &removed), -ESTALE);
        assert_int_equal(store_route_remove(f->s, "homelab", 2, "token:ci", &removed), 0);
        assert_string_equal(removed.hostname, "traefik.example.net");
        assert_int_equal(store_route_remove(f->s, "homelab", 0, "t", NULL), -ENOENT);
        assert_int_equal(store_hostname_owner(f->s, "traefik.example.net", &owner), -ENOENT);
        expect_change_kinds(f->s, head, one, 1);
        expect_audit(f->s, "route", "homelab", "delete", "token:ci", &before, &after);
        assert_null(after);
        assert_string_equal(json_string_value(json_object_get(before, "agent_target_url")), "https://10.30.0.200:8443");
        json_decref(before);
}

static void test_forwards(void **state) {
        struct fixture *f = *state;
        struct forward_def fw = make_forward("ssh-bastion", 2222, PROTO_TCP, "10.0.5.5", 22);
        strcpy(fw.labels, "{\"role\":\"ssh\"}");
        enum store_conflict c;
        enum store_outcome o = (enum store_outcome)-1;
        struct forward_def stored;
        int64_t head = change_head(f->s);
        assert_int_equal(store_forward_put(f->s, &fw, STORE_WRITE_CREATE, 0, "agent-token", &c, &o, &stored), 0);
        assert_int_equal(o, STORE_CREATED);
        assert_int_equal(stored.public_port, 2222);
        assert_int_equal(stored.proto, PROTO_TCP);
        assert_int_equal(stored.port, 22);
        assert_true(ip_addr_equal(&stored.ip, &fw.ip));
        assert_int_equal(stored.version, 1);
        assert_string_equal(stored.labels, "{\"role\":\"ssh\"}");
        static const char *const one[] = {"forward:ssh-bastion"};
        expect_change_kinds(f->s, head, one, 1);
        json_t *before, *after;
        expect_audit(f->s, "forward", "ssh-bastion", "create", "agent-token", NULL, &after);
        assert_int_equal(json_integer_value(json_object_get(after, "public_port")), 2222);
        assert_string_equal(json_string_value(json_object_get(after, "proto")), "tcp");
        assert_string_equal(json_string_value(json_object_get(after, "ip")), "10.0.5.5");
        json_decref(after);

        /* Same port+proto: PORT; the other proto is free; CREATE of an existing id: ID. */
        struct forward_def dup = make_forward("dup", 2222, PROTO_TCP, "10.0.5.6", 22);
        forward_put_expect(f->s, &dup, STORE_WRITE_CREATE, 0, -EEXIST, STORE_CONFLICT_PORT, 0);
        forward_put_expect(f->s, &dup, STORE_WRITE_UPSERT, 0, -EEXIST, STORE_CONFLICT_PORT, 0);
        dup.proto = PROTO_UDP;
        forward_put_expect(f->s, &dup, STORE_WRITE_CREATE, 0, 0, 0, STORE_CREATED);
        forward_put_expect(f->s, &fw, STORE_WRITE_CREATE, 0, -EEXIST, STORE_CONFLICT_ID, 0);
        struct store_owner owner;
        assert_int_equal(store_port_owner(f->s, 2222, PROTO_TCP, &owner), 0);
        assert_string_equal(owner.kind, "forward");
        assert_string_equal(owner.id, "ssh-bastion");
        assert_int_equal(store_port_owner(f->s, 2222, PROTO_UDP, &owner), 0);
        assert_string_equal(owner.id, "dup");
        assert_int_equal(store_port_owner(f->s, 2223, PROTO_TCP, &owner), -ENOENT);

        /* Unchanged upsert; update (port moves); stale version. */
        head = change_head(f->s);
        size_t audits = audit_count(f->s, NULL, NULL);
        forward_put_expect(f->s, &fw, STORE_WRITE_UPSERT, 0, 0, 0, STORE_UNCHANGED);
        forward_put_expect(f->s, &fw, STORE_WRITE_UPSERT, 1, 0, 0, STORE_UNCHANGED);
        assert_int_equal(change_head(f->s), head);
        assert_int_equal(audit_count(f->s, NULL, NULL), audits);
        fw.public_port = 2200;
        forward_put_expect(f->s, &fw, STORE_WRITE_UPSERT, 2, -ESTALE, 0, 0);
        forward_put_expect(f->s, &fw, STORE_WRITE_UPSERT, 1, 0, 0, STORE_UPDATED);
        assert_int_equal(store_forward_get(f->s, "ssh-bastion", &stored), 0);
        assert_int_equal(stored.public_port, 2200);
        assert_int_equal(stored.version, 2);
        assert_int_equal(store_port_owner(f->s, 2222, PROTO_TCP, &owner), -ENOENT);
        expect_change_kinds(f->s, head, one, 1);
        expect_audit(f->s, "forward", "ssh-bastion", "update", "agent-token", &before, &after);
        assert_int_equal(json_integer_value(json_object_get(before, "public_port")), 2222);
        assert_int_equal(json_integer_value(json_object_get(after, "public_port")), 2200);
        json_decref(before);
        json_decref(after);

        /* Invalid forwards. */
        struct forward_def bad = make_forward("bad", 0, PROTO_TCP, "10.0.5.5", 22);
        assert_int_equal(store_forward_put(f->s, &bad, STORE_WRITE_CREATE, 0, "t", NULL, NULL, NULL), -EINVAL);
        bad = make_forward("bad", 1, PROTO_TCP, "10.0.5.5", 0);
        assert_int_equal(store_forward_put(f->s, &bad, STORE_WRITE_CREATE, 0, "t", NULL, NULL, NULL), -EINVAL);
        bad = make_forward("bad", 1, 2, "10.0.5.5", 1);
        assert_int_equal(store_forward_put(f->s, &bad, STORE_WRITE_CREATE, 0, "t", NULL, NULL, NULL), -EINVAL);
        bad = make_forward("bad", 1, PROTO_TCP, "10.0.5.5", 1);
        bad.ip.family = 0;
        assert_int_equal(store_forward_put(f->s, &bad, STORE_WRITE_CREATE, 0, "t", NULL, NULL, NULL), -EINVAL);

        /* List, ports, snapshot. */
        struct forward_def *all = NULL;
        size_t n = 0;
        assert_int_equal(store_forward_list_all(f->s, &all, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(all[0].id, "dup");
        assert_int_equal(all[0].proto, PROTO_UDP);
        assert_string_equal(all[1].id, "ssh-bastion");
        free(all);
        struct portmap pm;
        portmap_init(&pm);
        assert_int_equal(store_forward_ports_mark(f->s, &pm), 0);
        for (uint32_t p = 1; p <= 65535; p++)
                if (portmap_is_free(&pm, (uint16_t)p, 1) == (p == 2200 || p == 2222))
                        fail_msg("port %u", p);
        struct vm v = make_vm("v", "vvvvvv", "10.0.1.1", 20000, 10);
        create_ok(f->s, &v, NULL);
        struct vm *vms = NULL;
        size_t n_vms = 0;
        int64_t seq = 0;
        assert_int_equal(store_snapshot_load_all(f->s, &vms, &n_vms, &all, &n, &seq), 0);
        assert_int_equal(n_vms, 1);
        assert_vm_equal(&vms[0], &v);
        assert_int_equal(n, 2);
        assert_int_equal(seq, change_head(f->s));
        free(vms);
        free(all);

        /* Remove. */
        struct forward_def removed;
        assert_int_equal(store_forward_remove(f->s, "ssh-bastion", 1, "t", &removed), -ESTALE);
        assert_int_equal(store_forward_remove(f->s, "ssh-bastion", 0, "t", &removed), 0);
        assert_int_equal(removed.public_port, 2200);
        assert_int_equal(store_forward_remove(f->s, "ssh-bastion", 0, "t", &removed), -ENOENT);
        assert_int_equal(store_forward_get(f->s, "ssh-bastion", &stored), -ENOENT);
        expect_audit(f->s, "forward", "ssh-bastion", "delete", "t", &before, &after);
        assert_null(after);
        assert_int_equal(json_integer_value(json_object_get(before, "version")), 2);
        json_decref(before);
}

static void test_forward_vs_block(void **state) {
        struct fixture *f = *state;
        struct vm a = make_vm("a", "aaaaaa", "10.0.1.1", 20000, 10); /* 20000-20009 */
        create_ok(f->s, &a, NULL);

        /* A forward inside the block (first, middle, last port; either proto): BLOCK. */
        static const uint16_t inside[] = {20000, 20005, 20009};
        for (size_t i = 0; i < ELEMENTSOF(inside); i++) {
                struct forward_def fw = make_forward("f", inside[i], i % 2 ? PROTO_UDP : PROTO_TCP, "10.0.5.5", 22);
                forward_put_expect(f->s, &fw, STORE_WRITE_CREATE, 0, -EEXIST, STORE_CONFLICT_BLOCK, 0);
                struct store_owner owner;
                assert_int_equal(store_port_owner(f->s, inside[i], PROTO_UDP, &owner), 0);
                assert_string_equal(owner.kind, "vm");
                assert_string_equal(owner.id, "a");
        }
        /* Right beside it: fine. */
        struct forward_def below = make_forward("below", 19999, PROTO_TCP, "10.0.5.5", 22);
        struct forward_def above = make_forward("above", 20010, PROTO_TCP, "10.0.5.5", 22);
        forward_put_expect(f->s, &below, STORE_WRITE_CREATE, 0, 0, 0, STORE_CREATED);
        forward_put_expect(f->s, &above, STORE_WRITE_CREATE, 0, 0, 0, STORE_CREATED);
        /* Moving one into the block: BLOCK, and nothing changes. */
        above.public_port = 20009;
        forward_put_expect(f->s, &above, STORE_WRITE_UPSERT, 0, -EEXIST, STORE_CONFLICT_BLOCK, 0);
        struct forward_def got;
        assert_int_equal(store_forward_get(f->s, "above", &got), 0);
        assert_int_equal(got.public_port, 20010);
        /* A hand edit cannot either. */
        assert_int_not_equal(raw_exec(f->path, "UPDATE forwards SET public_port = 20003 WHERE id = 'above'"), SQLITE_OK);

        /* The other direction: a VM block over a forward's port (at its start, inside, at its
         * end, a big block around it): PORT. */
        static const struct {
                uint16_t start, size;
        } over[] = {{20010, 10}, {20005, 10}, {20001, 10}, {19500, 1000}};
        for (size_t i = 0; i < ELEMENTSOF(over); i++) {
                struct vm v = make_vm("v", "vvvvvv", "10.0.1.2", over[i].start, over[i].size);
                if (over[i].start < 20010)
                        continue; /* these overlap VM a too: BLOCK wins; checked below on a free range */
                create_conflict(f->s, &v, NULL, STORE_CONFLICT_PORT);
        }
        struct forward_def lone = make_forward("lone", 40000, PROTO_UDP, "10.0.5.5", 53);
        forward_put_expect(f->s, &lone, STORE_WRITE_CREATE, 0, 0, 0, STORE_CREATED);
        static const uint16_t starts[] = {40000, 39995, 39991, 39001};
        static const uint16_t sizes[] = {10, 10, 10, 1000};
        for (size_t i = 0; i < ELEMENTSOF(starts); i++) {
                struct vm v = make_vm("v", "vvvvvv", "10.0.1.2", starts[i], sizes[i]);
                create_conflict(f->s, &v, NULL, STORE_CONFLICT_PORT);
        }
        struct vm ok1 = make_vm("ok1", "okokok", "10.0.1.3", 39990, 10); /* 39990-39999 */
        struct vm ok2 = make_vm("ok2", "okokk2", "10.0.1.4", 40001, 10);
        create_ok(f->s, &ok1, NULL);
        create_ok(f->s, &ok2, NULL);
        struct store_owner owner;
        assert_int_equal(store_port_owner(f->s, 40000, PROTO_UDP, &owner), 0);
        assert_string_equal(owner.kind, "forward");
        assert_int_equal(store_port_owner(f->s, 40000, PROTO_TCP, &owner), -ENOENT);
        assert_int_equal(store_port_owner(f->s, 40010, PROTO_TCP, &owner), 0);
        assert_string_equal(owner.id, "ok2");
        assert_int_equal(store_port_owner(f->s, 40011, PROTO_TCP, &owner), -ENOENT);
        /* The old entry point reports it too (the allocator then marks forwards as used). */
        struct vm old = make_vm("old", "oldold", "10.0.1.5", 40000, 1);
        insert_conflict(f->s, &old, STORE_CONFLICT_PORT);
}

static void test_label_selectors(void **state) {
        struct fixture *f = *state;
        static const char *const labels[] = {
                "{\"env\":\"prod\",\"team\":\"a\"}", "{\"env\":\"dev\",\"team\":\"a\"}", "{\"env\":\"prod\"}",
                "{}", "{\"app.kubernetes.io/name\":\"web\",\"env\":\"prod\",\"team\":\"b\"}", "{\"empty\":\"\"}",
        };
        for (size_t i = 0; i < ELEMENTSOF(labels); i++) {
                char id[16], slug[8], ip[16];
                snprintf(id, sizeof id, "vm-%zu", i);
                snprintf(slug, sizeof slug, "slug%02zu", i);
                snprintf(ip, sizeof ip, "10.0.2.%zu", i + 1);
                struct vm v = make_vm(id, slug, ip, (uint16_t)(20000 + 10 * i), 10);
                struct vm_meta m = make_meta(labels[i], 0, NULL, 0);
                create_ok(f->s, &v, &m);
                struct route_def r = make_route(id, "x.example.net", "10.30.0.1");
                snprintf(r.hostname, sizeof r.hostname, "r%zu.example.net", i);
                strcpy(r.labels, labels[i]);
                route_put_expect(f->s, &r, STORE_WRITE_CREATE, 0, 0, 0, STORE_CREATED);
                struct forward_def fw = make_forward(id, (uint16_t)(3000 + i), PROTO_TCP, "10.0.5.5", 22);
                strcpy(fw.labels, labels[i]);
                forward_put_expect(f->s, &fw, STORE_WRITE_CREATE, 0, 0, 0, STORE_CREATED);
        }
        static const struct {
                const char *selectors[3];
                const char *want; /* indexes of matching VMs */
        } cases[] = {
                {{"env=prod"}, "024"},
                {{"env"}, "0124"},
                {{"env=prod", "team=a"}, "0"},
                {{"env=prod", "team"}, "04"},
                {{"team=c"}, ""},
                {{"app.kubernetes.io/name=web"}, "4"},
                {{"app.kubernetes.io/name"}, "4"},
                {{"empty="}, "5"},
                {{"empty"}, "5"},
                {{"env=prod", "team=b", "app.kubernetes.io/name=web"}, "4"},
                {{"env=Prod"}, ""},
                {{"en"}, ""},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct label_match match[3];
                size_t n_match = 0;
                for (; n_match < 3 && cases[i].selectors[n_match]; n_match++)
                        assert_int_equal(label_match_parse(cases[i].selectors[n_match], &match[n_match]), 0);
                char got_vms[8] = "", got_routes[8] = "", got_fwds[8] = "";
                struct vm *vms;
                struct vm_meta *metas;
                size_t n;
                bool more;
                assert_int_equal(store_vm_list_page(f->s, NULL, 100, match, n_match, &vms, &metas, &n, &more), 0);
                assert_false(more);
                for (size_t k = 0; k < n; k++) {
                        got_vms[k] = vms[k].id[3];
                        assert_true(labels_match(metas[k].labels, match[0].key,
                                                 match[0].any_value ? NULL : match[0].value));
                }
                free(vms);
                free(metas);
                struct route_def *routes;
                assert_int_equal(store_route_list_page(f->s, NULL, 100, match, n_match, -1, &routes, &n, &more), 0);
                for (size_t k = 0; k < n; k++)
                        got_routes[k] = routes[k].id[3];
                free(routes);
                struct forward_def *fwds;
                assert_int_equal(store_forward_list_page(f->s, NULL, 100, match, n_match, -1, &fwds, &n, &more), 0);
                for (size_t k = 0; k < n; k++)
                        got_fwds[k] = fwds[k].id[3];
                free(fwds);
                if (!streq(got_vms, cases[i].want) || !streq(got_routes, cases[i].want) ||
                    !streq(got_fwds, cases[i].want))
                        fail_msg("selectors %s,%s,%s: vms '%s' routes '%s' forwards '%s', want '%s'",
                                 cases[i].selectors[0], cases[i].selectors[1] ? cases[i].selectors[1] : "-",
                                 cases[i].selectors[2] ? cases[i].selectors[2] : "-", got_vms, got_routes, got_fwds,
                                 cases[i].want);
        }
        /* A key is a bound parameter, never SQL or a JSON path (the caller validates keys,
         * but the store does not rely on it). */
        struct label_match hostile = {.any_value = true};
        strcpy(hostile.key, "env\") IS NOT NULL OR 1=1 --");
        struct vm *vms;
        struct vm_meta *metas;
        size_t n = 99;
        bool more;
        int r = store_vm_list_page(f->s, NULL, 100, &hostile, 1, &vms, &metas, &n, &more);
        if (r == 0) {
                assert_int_equal(n, 0);
                free(vms);
                free(metas);
        }
        assert_int_equal(vm_count(f->s), ELEMENTSOF(labels));
}

static void test_paging(void **state) {
        struct fixture *f = *state;
        /* 25 VMs created in an order unlike their ids' byte order. */
        for (int i = 0; i < 25; i++) {
                int k = (i * 7) % 25;
                char id[16], slug[8], ip[16];
                snprintf(id, sizeof id, "vm-%02d", k);
                snprintf(slug, sizeof slug, "slug%02d", k);
                snprintf(ip, sizeof ip, "10.0.3.%d", k + 1);
                struct vm v = make_vm(id, slug, ip, (uint16_t)(20000 + 10 * k), 10);
                create_ok(f->s, &v, NULL);
                struct forward_def fw = make_forward(id, (uint16_t)(3000 + k), PROTO_TCP, "10.0.5.5", 22);
                fw.origin = k % 2 ? ORIGIN_AGENT : ORIGIN_API;
                forward_put_expect(f->s, &fw, STORE_WRITE_CREATE, 0, 0, 0, STORE_CREATED);
        }
        /* limit 10: 10 + 10 + 5, each page continuing after the last id of the previous. */
        char after[VM_ID_MAX + 1] = "";
        int seen = 0;
        for (int page = 0; page < 3; page++) {
                struct vm *vms;
                struct vm_meta *metas;
                size_t n;
                bool more;
                assert_int_equal(store_vm_list_page(f->s, page ? after : NULL, 10, NULL, 0, &vms, &metas, &n, &more),
                                 0);
                assert_int_equal(n, page < 2 ? 10 : 5);
                assert_int_equal(more, page < 2);
                for (size_t i = 0; i < n; i++) {
                        char want[16];
                        snprintf(want, sizeof want, "vm-%02d", seen++);
                        assert_string_equal(vms[i].id, want);
                        assert_int_equal(metas[i].version, 1);
                }
                strcpy(after, vms[n - 1].id);
                free(vms);
                free(metas);
        }
        assert_int_equal(seen, 25);
        /* Exactly full pages: the last says no more. */
        struct vm *vms = (struct vm *)0x1;
        struct vm_meta *metas = (struct vm_meta *)0x1;
        size_t n = 99;
        bool more = true;
        assert_int_equal(store_vm_list_page(f->s, "vm-04", 20, NULL, 0, &vms, &metas, &n, &more), 0);
        assert_int_equal(n, 20);
        assert_false(more);
        assert_string_equal(vms[0].id, "vm-05");
        free(vms);
        free(metas);
        assert_int_equal(store_vm_list_page(f->s, "", 25, NULL, 0, &vms, &metas, &n, &more), 0);
        assert_int_equal(n, 25);
        assert_false(more);
        free(vms);
        free(metas);
        assert_int_equal(store_vm_list_page(f->s, NULL, 24, NULL, 0, &vms, &metas, &n, &more), 0);
        assert_int_equal(n, 24);
        assert_true(more);
        free(vms);
        free(metas);
        assert_int_equal(store_vm_list_page(f->s, NULL, 1, NULL, 0, &vms, &metas, &n, &more), 0);
        assert_int_equal(n, 1);
        assert_true(more);
        assert_string_equal(vms[0].id, "vm-00");
        free(vms);
        free(metas);
        /* After the last id, or past everything: empty. */
        vms = (struct vm *)0x1;
        assert_int_equal(store_vm_list_page(f->s, "vm-24", 10, NULL, 0, &vms, &metas, &n, &more), 0);
        assert_int_equal(n, 0);
        assert_false(more);
        assert_null(vms);
        assert_null(metas);
        assert_int_equal(store_vm_list_page(f->s, "zzz", 10, NULL, 0, &vms, &metas, &n, &more), 0);
        assert_int_equal(n, 0);
        /* A cursor need not be an existing id: byte order decides. */
        assert_int_equal(store_vm_list_page(f->s, "vm-10x", 2, NULL, 0, &vms, &metas, &n, &more), 0);
        assert_int_equal(n, 2);
        assert_string_equal(vms[0].id, "vm-11");
        free(vms);
        free(metas);
        /* Limits out of range. */
        assert_int_equal(store_vm_list_page(f->s, NULL, 0, NULL, 0, &vms, &metas, &n, &more), -EINVAL);
        assert_int_equal(store_vm_list_page(f->s, NULL, 1001, NULL, 0, &vms, &metas, &n, &more), -EINVAL);
        assert_int_equal(store_vm_list_page(f->s, NULL, 1000, NULL, 0, &vms, &metas, &n, &more), 0);
        assert_int_equal(n, 25);
        free(vms);
        free(metas);

        /* Forwards: the same paging, with an origin filter. */
        struct forward_def *fw;
        assert_int_equal(store_forward_list_page(f->s, NULL, 5, NULL, 0, ORIGIN_AGENT, &fw, &n, &more), 0);
        assert_int_equal(n, 5);
        assert_true(more);
        assert_string_equal(fw[0].id, "vm-01");
        assert_string_equal(fw[4].id, "vm-09");
        strcpy(after, fw[4].id);
        free(fw);
        assert_int_equal(store_forward_list_page(f->s, after, 5, NULL, 0, ORIGIN_AGENT, &fw, &n, &more), 0);
        assert_int_equal(n, 5);
        assert_true(more);
        strcpy(after, fw[4].id);
        free(fw);
        assert_int_equal(store_forward_list_page(f->s, after, 5, NULL, 0, ORIGIN_AGENT, &fw, &n, &more), 0);
        assert_int_equal(n, 2);
        assert_false(more);
        assert_string_equal(fw[1].id, "vm-23");
        free(fw);
        assert_int_equal(store_forward_list_page(f->s, NULL, 5, NULL, 0, 5, &fw, &n, &more), -EINVAL);
        struct route_def *routes = (struct route_def *)0x1;
        assert_int_equal(store_route_list_page(f->s, NULL, 5, NULL, 0, -1, &routes, &n, &more), 0);
        assert_int_equal(n, 0);
        assert_false(more);
        assert_null(routes);
}

static void test_expiry(void **state) {
        struct fixture *f = *state;
        static const int64_t expiry[] = {0, 1800000300, 1800000100, 1800000200, 0, 1800000000};
        for (size_t i = 0; i < ELEMENTSOF(expiry); i++) {
                char id[16], slug[8], ip[16];
                snprintf(id, sizeof id, "vm-%zu", i);
                snprintf(slug, sizeof slug, "slug%02zu", i);
                snprintf(ip, sizeof ip, "10.0.4.%zu", i + 1);
                struct vm v = make_vm(id, slug, ip, (uint16_t)(20000 + 10 * i), 10);
                struct vm_meta m = make_meta("{}", expiry[i], NULL, 0);
                create_ok(f->s, &v, &m);
        }
        char **ids = (char **)0x1;
        size_t n = 99;
        assert_int_equal(store_vm_expired(f->s, 1799999999, 10, &ids, &n), 0);
        assert_int_equal(n, 0);
        assert_null(ids);
        /* Due ones, soonest first; "now" itself is due. */
        assert_int_equal(store_vm_expired(f->s, 1800000200, 10, &ids, &n), 0);
        assert_int_equal(n, 3);
        assert_string_equal(ids[0], "vm-5");
        assert_string_equal(ids[1], "vm-2");
        assert_string_equal(ids[2], "vm-3");
        free_ids(ids, n);
        assert_int_equal(store_vm_expired(f->s, INT64_MAX, 2, &ids, &n), 0);
        assert_int_equal(n, 2);
        free_ids(ids, n);
        assert_int_equal(store_vm_expired(f->s, INT64_MAX, 100, &ids, &n), 0);
        assert_int_equal(n, 4);
        free_ids(ids, n);
        /* Removing the expiry (by update) or the VM takes it out. */
        struct vm v5 = make_vm("vm-5", "slug05", "10.0.4.6", 20050, 10);
        enum store_outcome o;
        int64_t version;
        assert_int_equal(store_vm_update(f->s, &v5, NULL, 0, "expiry", NULL, &o, &version), 0);
        assert_int_equal(store_vm_remove(f->s, "vm-2", 0, "expiry", NULL), 0);
        assert_int_equal(store_vm_expired(f->s, 1800000200, 10, &ids, &n), 0);
        assert_int_equal(n, 1);
        assert_string_equal(ids[0], "vm-3");
        free_ids(ids, n);
        expect_audit(f->s, "vm", "vm-2", "delete", "expiry", NULL, NULL);
}

static struct token_rec make_token(const char *name, const char *key_id, uint32_t scopes, uint8_t fill) {
        struct token_rec t = {.scopes = scopes, .created_at = 1750000000};
        strcpy(t.name, name);
        strcpy(t.key_id, key_id);
        memset(t.hash, fill, sizeof t.hash);
        return t;
}

static void test_tokens(void **state) {
        struct fixture *f = *state;
        struct token_rec ci = make_token("ci", "0123456789abcdef", SCOPE_READ | SCOPE_VMS, 0xab);
        struct token_rec admin = make_token("admin", "fedcba9876543210", SCOPE_ADMIN, 0xcd);
        int64_t head = change_head(f->s);
        assert_int_equal(store_token_add(f->s, &ci, "unix:uid=0"), 0);
        assert_int_equal(store_token_add(f->s, &admin, "unix:uid=0"), 0);
        /* Name or key id taken. */
        struct token_rec dup = make_token("ci", "1111111111111111", SCOPE_READ, 1);
        assert_int_equal(store_token_add(f->s, &dup, "unix:uid=0"), -EEXIST);
        dup = make_token("ci2", "0123456789abcdef", SCOPE_READ, 1);
        assert_int_equal(store_token_add(f->s, &dup, "unix:uid=0"), -EEXIST);
        /* Invalid. */
        struct token_rec bad = make_token("bad", "0123456789ABCDEF", SCOPE_READ, 1);
        assert_int_equal(store_token_add(f->s, &bad, "t"), -EINVAL);
        bad = make_token("bad", "0123456789abcde", SCOPE_READ, 1);
        assert_int_equal(store_token_add(f->s, &bad, "t"), -EINVAL);
        bad = make_token("bad", "2123456789abcdef", 0, 1);
        assert_int_equal(store_token_add(f->s, &bad, "t"), -EINVAL);
        bad = make_token("bad", "2123456789abcdef", 1u << 9, 1);
        assert_int_equal(store_token_add(f->s, &bad, "t"), -EINVAL);
        bad = make_token("bad name", "2123456789abcdef", SCOPE_READ, 1);
        assert_int_equal(store_token_add(f->s, &bad, "t"), -EINVAL);
        /* Tokens are no resources the reconcilers follow. */
        assert_int_equal(change_head(f->s), head);

        struct token_rec *list = NULL;
        size_t n = 0;
        assert_int_equal(store_token_list(f->s, &list, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(list[0].name, "admin");
        assert_string_equal(list[1].name, "ci");
        assert_int_equal(list[1].scopes, SCOPE_READ | SCOPE_VMS);
        assert_memory_equal(list[1].hash, ci.hash, TOKEN_HASH_LEN);
        assert_int_equal(list[1].created_at, 1750000000);
        assert_int_equal(list[1].last_used_at, 0);
        free(list);
        struct token_rec got;
        assert_int_equal(store_token_get_by_key(f->s, "fedcba9876543210", &got), 0);
        assert_string_equal(got.name, "admin");
        assert_int_equal(got.scopes, SCOPE_ADMIN);
        assert_memory_equal(got.hash, admin.hash, TOKEN_HASH_LEN);
        assert_int_equal(store_token_get_by_key(f->s, "0000000000000000", &got), -ENOENT);

        /* Touch: forward only, no audit. */
        size_t audits = audit_count(f->s, NULL, NULL);
        assert_int_equal(store_token_touch(f->s, "ci", 1760000000), 0);
        assert_int_equal(store_token_touch(f->s, "ci", 1759999999), 0);
        assert_int_equal(store_token_touch(f->s, "nobody", 1760000000), 0);
        assert_int_equal(store_token_get_by_key(f->s, "0123456789abcdef", &got), 0);
        assert_int_equal(got.last_used_at, 1760000000);
        assert_int_equal(audit_count(f->s, NULL, NULL), audits);

        /* The audit knows name, key id and scopes, never the hash. */
        json_t *before, *after;
        expect_audit(f->s, "token", "ci", "create", "unix:uid=0", &before, &after);
        assert_null(before);
        assert_string_equal(json_string_value(json_object_get(after, "name")), "ci");
        assert_string_equal(json_string_value(json_object_get(after, "key_id")), "0123456789abcdef");
        assert_string_equal(json_string_value(json_object_get(after, "scopes")), "read,vms");
        assert_null(json_object_get(after, "hash"));
        assert_string_equal(json_string_value(json_object_get(after, "datacenter")), "");
        assert_int_equal(json_object_size(after), 5);
        json_decref(after);

        struct token_rec removed;
        assert_int_equal(store_token_remove(f->s, "ci", "token:admin", &removed), 0);
        assert_string_equal(removed.key_id, "0123456789abcdef");
        assert_int_equal(removed.last_used_at, 1760000000);
        assert_int_equal(store_token_remove(f->s, "ci", "token:admin", &removed), -ENOENT);
        assert_int_equal(store_token_get_by_key(f->s, "0123456789abcdef", &got), -ENOENT);
        expect_audit(f->s, "token", "ci", "delete", "token:admin", &before, &after);
        assert_null(after);
        assert_null(json_object_get(before, "hash"));
        json_decref(before);
        assert_int_equal(change_head(f->s), head);

        /* Nowhere in the audit table: no column text holds the hash in hex or raw. */
        sqlite3 *db;
        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "SELECT count(*) FROM audit WHERE instr(lower(COALESCE(before, '') ||"
                                            " COALESCE(after, '')), 'abababab') > 0 OR instr(COALESCE(before, '') ||"
                                            " COALESCE(after, ''), 'hash') > 0 OR instr(CAST(COALESCE(after, '') AS BLOB),"
                                            " x'abababab') > 0",
                                            -1, &st, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(st, 0), 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
}

static void test_audit_list(void **state) {
        struct fixture *f = *state;
        struct vm a = make_vm("a", "aaaaaa", "10.0.1.1", 20000, 10);
        struct vm b = make_vm("b", "bbbbbb", "10.0.1.2", 20010, 10);
        create_ok(f->s, &a, NULL); /* 1 */
        create_ok(f->s, &b, NULL); /* 2 */
        struct route_def r = make_route("a", "a.example.net", "10.30.0.1");
        route_put_expect(f->s, &r, STORE_WRITE_CREATE, 0, 0, 0, STORE_CREATED); /* 3: same key, other kind */
        struct vm_meta m = make_meta("{\"x\":\"1\"}", 0, NULL, 0);
        enum store_outcome o;
        int64_t version;
        assert_int_equal(store_vm_update(f->s, &a, &m, 0, "t", NULL, &o, &version), 0); /* 4 */
        assert_int_equal(store_vm_remove(f->s, "b", 0, "t", NULL), 0); /* 5 */

        struct audit_rec *e = NULL;
        size_t n = 0;
        assert_int_equal(store_audit_list(f->s, 0, 100, NULL, NULL, &e, &n), 0);
        assert_int_equal(n, 5);
        for (size_t i = 1; i < n; i++)
                assert_true(e[i].seq < e[i - 1].seq); /* newest first */
        assert_string_equal(e[0].action, "delete");
        assert_string_equal(e[0].key, "b");
        assert_string_equal(e[4].key, "a");
        int64_t third = e[2].seq;
        audit_recs_free(e, n);
        /* Paging by seq. */
        assert_int_equal(store_audit_list(f->s, third, 100, NULL, NULL, &e, &n), 0);
        assert_int_equal(n, 2);
        assert_true(e[0].seq < third);
        audit_recs_free(e, n);
        assert_int_equal(store_audit_list(f->s, 0, 2, NULL, NULL, &e, &n), 0);
        assert_int_equal(n, 2);
        audit_recs_free(e, n);
        /* Filters. */
        assert_int_equal(store_audit_list(f->s, 0, 100, "vm", NULL, &e, &n), 0);
        assert_int_equal(n, 4);
        audit_recs_free(e, n);
        assert_int_equal(store_audit_list(f->s, 0, 100, NULL, "a", &e, &n), 0);
        assert_int_equal(n, 3);
        audit_recs_free(e, n);
        assert_int_equal(store_audit_list(f->s, 0, 100, "vm", "a", &e, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(e[0].action, "update");
        assert_string_equal(e[1].action, "create");
        audit_recs_free(e, n);
        assert_int_equal(store_audit_list(f->s, 0, 100, "route", "a", &e, &n), 0);
        assert_int_equal(n, 1);
        audit_recs_free(e, n);
        e = (struct audit_rec *)0x1;
        assert_int_equal(store_audit_list(f->s, 0, 100, "token", NULL, &e, &n), 0);
        assert_int_equal(n, 0);
        assert_null(e);
        assert_int_equal(store_audit_list(f->s, 0, 0, NULL, NULL, &e, &n), -EINVAL);
        assert_int_equal(store_audit_list(f->s, 0, 1001, NULL, NULL, &e, &n), -EINVAL);
        audit_recs_free(NULL, 0);
}

static void test_changes_read_kinds(void **state) {
        struct fixture *f = *state;
        struct vm a = make_vm("x", "aaaaaa", "10.0.1.1", 20000, 10);
        insert_ok(f->s, &a);
        struct route_def r = make_route("x", "x.example.net", "10.30.0.1");
        route_put_expect(f->s, &r, STORE_WRITE_CREATE, 0, 0, 0, STORE_CREATED);
        struct forward_def fw = make_forward("x", 3000, PROTO_TCP, "10.0.5.5", 22);
        forward_put_expect(f->s, &fw, STORE_WRITE_CREATE, 0, 0, 0, STORE_CREATED);
        assert_int_equal(store_vm_delete(f->s, "x", NULL), 0);
        static const char *const want[] = {"vm:x", "route:x", "forward:x", "vm:x"};
        expect_change_kinds(f->s, 0, want, 4);
        struct store_change *c = NULL;
        size_t n = 0;
        assert_int_equal(store_changes_read(f->s, 1, 2, &c, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(c[0].kind, "route");
        assert_string_equal(c[1].kind, "forward");
        free(c);
        /* The old reader still sees every key, and its cursor covers them all. */
        static const char *const keys[] = {"x", "x", "x", "x"};
        assert_int_equal(expect_changes(f->s, 0, 100, keys, 4), change_head(f->s));
}

static void test_counts(void **state) {
        struct fixture *f = *state;
        struct store_counts c;
        assert_int_equal(store_counts(f->s, &c), 0);
        assert_int_equal(c.vms + c.routes + c.forwards + c.tokens + c.hostnames + c.block_ports, 0);
        struct vm a = make_vm("a", "aaaaaa", "10.0.1.1", 20000, 10);
        static const char *const names[] = {"a.example.net", "b.example.net"};
        struct vm_meta m = make_meta("{}", 0, names, 2);
        create_ok(f->s, &a, &m);
        struct vm b = make_vm("b", "bbbbbb", "10.0.1.2", 20010, 5);
        create_ok(f->s, &b, NULL);
        struct route_def r = make_route("r", "r.example.net", "10.30.0.1");
        route_put_expect(f->s, &r, STORE_WRITE_CREATE, 0, 0, 0, STORE_CREATED);
        struct forward_def fw = make_forward("f", 3000, PROTO_TCP, "10.0.5.5", 22);
        forward_put_expect(f->s, &fw, STORE_WRITE_CREATE, 0, 0, 0, STORE_CREATED);
        struct token_rec t = make_token("t", "0123456789abcdef", SCOPE_READ, 1);
        assert_int_equal(store_token_add(f->s, &t, "x"), 0);
        assert_int_equal(store_counts(f->s, &c), 0);
        assert_int_equal(c.vms, 2);
        assert_int_equal(c.routes, 1);
        assert_int_equal(c.forwards, 1);
        assert_int_equal(c.tokens, 1);
        assert_int_equal(c.hostnames, 3);
        assert_int_equal(c.block_ports, 15);
}

/* The connection a store opens, caught with an auto-extension (called at every open), so the
 * test can count the virtual-machine steps SQLite runs for each call. */
static sqlite3 *opened_db;
static int catch_db(sqlite3 *db, const char **err, const struct sqlite3_api_routines *api) {
        (void)err;
        (void)api;
        opened_db = db;
        return SQLITE_OK;
}

static int count_progress(void *p) {
        (*(uint64_t *)p)++;
        return 0;
}

/* Hundreds of VM steps taken by the calls between start_count and stop_count. */
static uint64_t progress;
static void start_count(sqlite3 *db) {
        progress = 0;
        sqlite3_progress_handler(db, 100, count_progress, &progress);
}
static uint64_t stop_count(sqlite3 *db) {
        sqlite3_progress_handler(db, 0, NULL, NULL);
        return progress;
}

#define BIG 10000

static void test_cost_at_10k_vms(void **state) {
        struct fixture *f = *state;
        /* 10,000 VMs written in one transaction by a plain connection; every other one labelled
         * and every tenth with a host name. */
        char sql[2048];
        snprintf(sql, sizeof sql,
                 "BEGIN;"
                 "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
                 " INSERT INTO vms (id, slug, ip, block_start, block_size, created_at, labels, expires_at, updated_at)"
                 " SELECT printf('vm-%%05d', i), printf('s%%05d', i), printf('10.%%d.%%d.1', i / 256, i %% 256),"
                 "  1000 + 5 * i, 5, 1700000000, CASE WHEN i %% 2 THEN '{\"env\":\"prod\"}' ELSE '{}' END,"
                 "  CASE WHEN i %% 100 = 0 THEN 1800000000 + i ELSE 0 END, 1700000000 FROM n;"
                 "INSERT INTO hostnames (name, owner_kind, owner_id)"
                 " SELECT printf('h%%05d.example.net', i), 'vm', printf('vm-%%05d', i) FROM"
                 " (WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 10 FROM n WHERE i < %d) SELECT i FROM n);"
                 "COMMIT;",
                 BIG - 1, BIG - 10);
        assert_int_equal(raw_exec(f->path, sql), SQLITE_OK);

        opened_db = NULL;
        assert_int_equal(sqlite3_auto_extension((void (*)(void))catch_db), SQLITE_OK);
        struct store *s = NULL;
        char err[256];
        assert_int_equal(store_open(f->path, &s, err, sizeof err), 0);
        sqlite3_cancel_auto_extension((void (*)(void))catch_db);
        assert_non_null(opened_db);
        sqlite3 *db = opened_db;

        /* What touching every row costs, as the yardstick. */
        start_count(db);
        struct portmap pm;
        portmap_init(&pm);
        assert_int_equal(store_blocks_mark(s, &pm), 0);
        uint64_t scan = stop_count(db);
        assert_true(scan * 100 >= BIG);

        /* Warm the statement cache first: preparing is not what is measured. */
        struct vm v = make_vm("new-0", "new000", "10.250.0.1", 60000, 5);
        static const char *const names[] = {"new.example.net"};
        struct vm_meta m = make_meta("{\"env\":\"prod\"}", 0, names, 1);
        create_ok(s, &v, &m);
        struct vm_meta gm;
        struct vm got;
        struct vm *vms;
        struct vm_meta *metas;
        size_t n;
        bool more;
        struct label_match match;
        assert_int_equal(label_match_parse("env=prod", &match), 0);

        v = make_vm("new-1", "new001", "10.250.0.2", 60005, 5);
        strcpy(m.hostnames[0], "new1.example.net");
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        start_count(db);
        create_ok(s, &v, &m);
        uint64_t create = stop_count(db);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double create_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;

        start_count(db);
        assert_int_equal(store_vm_get(s, "vm-05000", &got), 0);
        assert_int_equal(store_vm_get_meta(s, "vm-05000", &gm), 0);
        uint64_t get = stop_count(db);
        assert_int_equal(gm.n_hostnames, 1);

        enum store_outcome o;
        int64_t version;
        got.proxy_protocol = VM_PROXY_V2;
        start_count(db);
        assert_int_equal(store_vm_update(s, &got, &gm, gm.version, "t", NULL, &o, &version), 0);
        uint64_t update = stop_count(db);
        assert_int_equal(o, STORE_UPDATED);

        start_count(db);
        assert_int_equal(store_vm_list_page(s, "vm-04000", 100, NULL, 0, &vms, &metas, &n, &more), 0);
        uint64_t page = stop_count(db);
        assert_int_equal(n, 100);
        assert_true(more);
        free(vms);
        free(metas);

        start_count(db);
        assert_int_equal(store_vm_list_page(s, "vm-04000", 100, &match, 1, &vms, &metas, &n, &more), 0);
        uint64_t labelled_page = stop_count(db);
        assert_int_equal(n, 100);
        assert_string_equal(vms[0].id, "vm-04001");
        free(vms);
        free(metas);

        /* A selector nothing matches walks every row: the yardstick for pages. */
        struct label_match nobody;
        assert_int_equal(label_match_parse("team=nobody", &nobody), 0);
        start_count(db);
        assert_int_equal(store_vm_list_page(s, NULL, 100, &nobody, 1, &vms, &metas, &n, &more), 0);
        uint64_t page_scan = stop_count(db);
        assert_int_equal(n, 0);

        char **ids;
        start_count(db);
        assert_int_equal(store_vm_expired(s, 1800005000, 100, &ids, &n), 0);
        uint64_t expired = stop_count(db);
        assert_int_equal(n, 51); /* i = 0, 100, ..., 5000 */
        free_ids(ids, n);

        char id[VM_ID_MAX + 1];
        struct store_owner owner;
        start_count(db);
        assert_int_equal(store_vm_find_by_slug(s, "s09999", id), 0);
        assert_int_equal(store_hostname_owner(s, "h09990.example.net", &owner), 0);
        assert_int_equal(store_port_owner(s, 30002, PROTO_TCP, &owner), 0);
        uint64_t lookups = stop_count(db);
        assert_string_equal(owner.id, "vm-05800");

        start_count(db);
        assert_int_equal(store_vm_remove(s, "vm-00001", 0, "t", NULL), 0);
        uint64_t remove = stop_count(db);

        print_message("VM steps/100 at %d VMs: block scan %llu, page scan %llu, create %llu (%.2f ms), "
                      "get+meta %llu, update %llu, page %llu, labelled page %llu, expired %llu, lookups %llu, "
                      "remove %llu\n",
                      BIG, (unsigned long long)scan, (unsigned long long)page_scan, (unsigned long long)create,
                      create_ms, (unsigned long long)get, (unsigned long long)update, (unsigned long long)page,
                      (unsigned long long)labelled_page, (unsigned long long)expired, (unsigned long long)lookups,
                      (unsigned long long)remove);
        /* None of them walks the table. A row-at-a-time call costs less than the cheapest
         * scan of every row (a few steps per row); a page of 100 a small fraction of a
         * filtered scan. */
        assert_true(create < scan / 10);
        assert_true(get < scan / 10);
        assert_true(update < scan / 10);
        assert_true(expired < scan / 10);
        assert_true(lookups < scan / 10);
        assert_true(remove < scan / 10);
        assert_true(page < page_scan / 10);
        assert_true(labelled_page < page_scan / 5); /* every other VM matches: ~200 rows read */
        assert_true(create_ms < 1000);
        store_close(s);
}

/* ---- schema 4: the DNS outbox ---- */

static struct dns_record_want dns_want(const char *name, uint16_t type, const char *content) {
        struct dns_record_want w;
        memset(&w, 0, sizeof w);
        snprintf(w.name, sizeof w.name, "%s", name);
        w.type = type;
        snprintf(w.content, sizeof w.content, "%s", content);
        w.ttl = 300;
        strcpy(w.owner_kind, "vm");
        strcpy(w.owner_id, "web");
        return w;
}

static void test_dns_sync_idempotent(void **state) {
        struct fixture *f = *state;
        struct dns_record_want w[2] = {dns_want("a.example.com", 1, "203.0.113.7"),
                                       dns_want("a.example.com", 28, "2001:db8::1")};
        size_t changed = 99;
        assert_int_equal(store_dns_sync_desired(f->s, w, 2, 1000, &changed), 0);
        assert_int_equal(changed, 2);
        assert_int_equal(store_dns_sync_desired(f->s, w, 2, 2000, &changed), 0);
        assert_int_equal(changed, 0);
        struct store_dns_record *l = NULL;
        size_t n = 0;
        assert_int_equal(store_dns_list(f->s, &l, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(l[0].state, STORE_DNS_PENDING);
        assert_int_equal(l[0].next_retry_at, 1000);
        assert_int_equal(l[1].want.type, 28);
        assert_string_equal(l[1].want.content, "2001:db8::1");
        free(l);

        /* A synced row stays synced when nothing changes; a new address makes it pending. */
        assert_int_equal(store_dns_mark(f->s, "a.example.com", 1, STORE_DNS_SYNCED, NULL, 0, "cf-1"), 0);
        assert_int_equal(store_dns_sync_desired(f->s, w, 2, 3000, &changed), 0);
        assert_int_equal(changed, 0);
        strcpy(w[0].content, "203.0.113.8");
        assert_int_equal(store_dns_sync_desired(f->s, w, 2, 4000, &changed), 0);
        assert_int_equal(changed, 1);
        assert_int_equal(store_dns_list(f->s, &l, &n), 0);
        assert_int_equal(l[0].state, STORE_DNS_PENDING);
        assert_string_equal(l[0].want.content, "203.0.113.8");
        assert_string_equal(l[0].provider_ref, "cf-1"); /* kept: updated in place */
        free(l);

        /* Unsorted or duplicate input is refused. */
        struct dns_record_want bad[2] = {w[1], w[0]};
        assert_int_equal(store_dns_sync_desired(f->s, bad, 2, 5000, NULL), -EINVAL);
        bad[0] = w[0];
        assert_int_equal(store_dns_sync_desired(f->s, bad, 2, 5000, NULL), -EINVAL);
}

static void test_dns_delete_lifecycle(void **state) {
        struct fixture *f = *state;
        struct dns_record_want w = dns_want("a.example.com", 1, "203.0.113.7");
        size_t changed = 0;
        assert_int_equal(store_dns_sync_desired(f->s, &w, 1, 1000, NULL), 0);
        assert_int_equal(store_dns_mark(f->s, w.name, 1, STORE_DNS_SYNCED, NULL, 0, "ref"), 0);

        /* No longer wanted: deleting, kept until the provider confirms. */
        assert_int_equal(store_dns_sync_desired(f->s, NULL, 0, 2000, &changed), 0);
        assert_int_equal(changed, 1);
        assert_int_equal(store_dns_sync_desired(f->s, NULL, 0, 2100, &changed), 0);
        assert_int_equal(changed, 0);
        struct store_dns_record *l = NULL;
        size_t n = 0;
        assert_int_equal(store_dns_list(f->s, &l, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(l[0].state, STORE_DNS_DELETING);
        assert_int_equal(l[0].next_retry_at, 2000);
        free(l);

        /* A failed removal keeps the intent, counts the attempt and shows the error. */
        assert_int_equal(store_dns_mark(f->s, w.name, 1, STORE_DNS_ERROR, "503 from provider", 2500, NULL), 0);
        assert_int_equal(store_dns_list(f->s, &l, &n), 0);
        assert_int_equal(l[0].state, STORE_DNS_DELETING);
        assert_int_equal(l[0].attempts, 1);
        assert_string_equal(l[0].last_error, "503 from provider");
        assert_string_equal(l[0].provider_ref, "ref");
        free(l);

        /* Confirmed: the row is gone. */
        assert_int_equal(store_dns_mark(f->s, w.name, 1, STORE_DNS_SYNCED, NULL, 0, NULL), 0);
        assert_int_equal(store_dns_list(f->s, &l, &n), 0);
        assert_int_equal(n, 0);
        assert_null(l);
        assert_int_equal(store_dns_mark(f->s, w.name, 1, STORE_DNS_SYNCED, NULL, 0, NULL), -ENOENT);
        assert_int_equal(store_dns_mark(f->s, w.name, 1, STORE_DNS_DELETING, NULL, 0, NULL), -EINVAL);

        /* Wanted again while deleting: back to pending. */
        assert_int_equal(store_dns_sync_desired(f->s, &w, 1, 3000, NULL), 0);
        assert_int_equal(store_dns_sync_desired(f->s, NULL, 0, 3100, NULL), 0);
        assert_int_equal(store_dns_sync_desired(f->s, &w, 1, 3200, &changed), 0);
        assert_int_equal(changed, 1);
        assert_int_equal(store_dns_list(f->s, &l, &n), 0);
        assert_int_equal(l[0].state, STORE_DNS_PENDING);
        free(l);
}

static void test_dns_due(void **state) {
        struct fixture *f = *state;
        struct dns_record_want w[4] = {dns_want("a.example.com", 1, "203.0.113.7"),
                                       dns_want("b.example.com", 1, "203.0.113.7"),
                                       dns_want("c.example.com", 1, "203.0.113.7"),
                                       dns_want("d.example.com", 1, "203.0.113.7")};
        assert_int_equal(store_dns_sync_desired(f->s, w, 4, 1000, NULL), 0);
        assert_int_equal(store_dns_mark(f->s, "a.example.com", 1, STORE_DNS_SYNCED, NULL, 0, NULL), 0);
        assert_int_equal(store_dns_mark(f->s, "b.example.com", 1, STORE_DNS_ERROR, "timeout", 1500, NULL), 0);
        assert_int_equal(store_dns_mark(f->s, "c.example.com", 1, STORE_DNS_ERROR, "timeout", 1200, NULL), 0);

        struct store_dns_record *d = NULL;
        size_t n = 0;
        assert_int_equal(store_dns_due(f->s, 1100, 10, &d, &n), 0);
        assert_int_equal(n, 1); /* only d: a synced, b and c waiting */
        assert_string_equal(d[0].want.name, "d.example.com");
        free(d);
        assert_int_equal(store_dns_due(f->s, 1600, 10, &d, &n), 0);
        assert_int_equal(n, 3);
        assert_string_equal(d[0].want.name, "d.example.com"); /* soonest first */
        assert_string_equal(d[1].want.name, "c.example.com");
        assert_string_equal(d[2].want.name, "b.example.com");
        assert_int_equal(d[2].attempts, 1);
        free(d);
        assert_int_equal(store_dns_due(f->s, 1600, 2, &d, &n), 0);
        assert_int_equal(n, 2);
        free(d);
}

/* store_dns_mark_seen() stores a result only for the row as it was pushed;
 * store_dns_list_owner() returns one owner's rows. */
static void test_dns_mark_seen_and_owner(void **state) {
        struct fixture *f = *state;
        struct dns_record_want w[2] = {dns_want("a.example.com", 1, "203.0.113.7"),
                                       dns_want("b.example.com", 1, "203.0.113.7")};
        strcpy(w[1].owner_id, "db");
        assert_int_equal(store_dns_sync_desired(f->s, w, 2, 1000, NULL), 0);
        struct store_dns_record *d = NULL;
        size_t n = 0;
        assert_int_equal(store_dns_due(f->s, 1000, 10, &d, &n), 0);
        assert_int_equal(n, 2);
        struct store_dns_record seen = d[streq(d[0].want.name, "a.example.com") ? 0 : 1]; /* a, 203.0.113.7 */
        free(d);

        /* The content changed while the old one was being pushed: the result is stale. */
        struct dns_record_want w2[2] = {w[0], w[1]};
        strcpy(w2[0].content, "203.0.113.8");
        assert_int_equal(store_dns_sync_desired(f->s, w2, 2, 1001, NULL), 0);
        assert_int_equal(store_dns_mark_seen(f->s, &seen, STORE_DNS_SYNCED, NULL, 0, "ref"), -ESTALE);
        assert_int_equal(store_dns_due(f->s, 1001, 10, &d, &n), 0);
        assert_int_equal(n, 2); /* still pending, with the new content */
        size_t ia = streq(d[0].want.name, "a.example.com") ? 0 : 1;
        assert_string_equal(d[ia].want.content, "203.0.113.8");
        seen = d[ia];
        free(d);
        assert_int_equal(store_dns_mark_seen(f->s, &seen, STORE_DNS_ERROR, "timeout", 2000, NULL), 0);
        assert_int_equal(store_dns_due(f->s, 1001, 10, &d, &n), 0);
        assert_int_equal(n, 1);
        free(d);

        /* A row being deleted and wanted again meanwhile: the removal's result is stale. */
        assert_int_equal(store_dns_sync_desired(f->s, w2, 1, 1002, NULL), 0); /* b no longer wanted */
        assert_int_equal(store_dns_due(f->s, 1002, 10, &d, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(d[0].state, STORE_DNS_DELETING);
        seen = d[0];
        free(d);
        assert_int_equal(store_dns_sync_desired(f->s, w2, 2, 1003, NULL), 0); /* wanted again */
        assert_int_equal(store_dns_mark_seen(f->s, &seen, STORE_DNS_SYNCED, NULL, 0, NULL), -ESTALE);
        assert_int_equal(store_dns_list(f->s, &d, &n), 0);
        assert_int_equal(n, 2); /* the row stays, pending */
        assert_int_equal(d[1].state, STORE_DNS_PENDING);
        free(d);
        /* ... and a confirmed removal deletes the row. */
        assert_int_equal(store_dns_sync_desired(f->s, w2, 1, 1004, NULL), 0);
        assert_int_equal(store_dns_due(f->s, 1004, 10, &d, &n), 0);
        seen = d[0];
        free(d);
        assert_int_equal(store_dns_mark_seen(f->s, &seen, STORE_DNS_SYNCED, NULL, 0, NULL), 0);

        assert_int_equal(store_dns_list_owner(f->s, "vm", "web", &d, &n), 0);
        assert_int_equal(n, 1);
        assert_string_equal(d[0].want.name, "a.example.com");
        free(d);
        assert_int_equal(store_dns_list_owner(f->s, "vm", "db", &d, &n), 0);
        assert_int_equal(n, 0);
        assert_null(d);

        /* A new provider: the erroring row (a) is due again at once, pending, attempts reset. */
        assert_int_equal(store_dns_due(f->s, 1005, 10, &d, &n), 0);
        assert_int_equal(n, 0); /* a waits for its retry at 2000 */
        free(d);
        assert_int_equal(store_dns_republish(f->s, 1005), 0);
        assert_int_equal(store_dns_due(f->s, 1005, 10, &d, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(d[0].state, STORE_DNS_PENDING);
        assert_int_equal(d[0].attempts, 0);
        assert_string_equal(d[0].last_error, "");
        free(d);
}

/* ---- schema 7: leases ---- */

static const char *count_path;
static int count_rows(const void *fixture_unused, const char *table) {
        (void)fixture_unused;
        sqlite3 *db;
        assert_int_equal(sqlite3_open(count_path, &db), SQLITE_OK);
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        int n = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
        return n;
}

static struct lease make_lease(const char *mac, const char *ip, const char *name) {
        struct lease l = {0};
        assert_int_equal(mac_parse(mac, l.mac), 0);
        assert_int_equal(ipv4_parse(ip, &l.ip), 0);
        snprintf(l.name, sizeof l.name, "%s", name);
        return l;
}

static void test_leases(void **state) {
        struct fixture *f = *state;
        count_path = f->path;
        struct lease a = make_lease("52:54:00:00:00:0a", "10.15.3.21", "vm-a");
        struct lease b = make_lease("52:54:00:00:00:0b", "10.15.3.20", "");
        enum store_conflict cf = STORE_CONFLICT_NONE;
        int audit0 = count_rows(f, "audit"), changes0 = count_rows(f, "changes");
        assert_int_equal(store_lease_add(f->s, &a, "unix:uid=0", &cf), 0);
        assert_int_equal(store_lease_add(f->s, &b, "unix:uid=0", &cf), 0);
        assert_int_equal(count_rows(f, "audit"), audit0 + 2);
        assert_int_equal(count_rows(f, "changes"), changes0 + 2);

        struct lease dup = make_lease("52:54:00:00:00:0a", "10.15.3.99", "");
        assert_int_equal(store_lease_add(f->s, &dup, "t", &cf), -EEXIST);
        assert_int_equal(cf, STORE_CONFLICT_ID);
        dup = make_lease("52:54:00:00:00:0c", "10.15.3.21", "");
        assert_int_equal(store_lease_add(f->s, &dup, "t", &cf), -EEXIST);
        assert_int_equal(cf, STORE_CONFLICT_IP);
        dup = make_lease("52:54:00:00:00:0c", "10.15.3.22", "vm-a");
        assert_int_equal(store_lease_add(f->s, &dup, "t", &cf), -EEXIST);
        assert_int_equal(cf, STORE_CONFLICT_HOSTNAME);
        dup.name[0] = 'V'; /* not a valid name */
        assert_int_equal(store_lease_add(f->s, &dup, "t", &cf), -EINVAL);

        struct lease *l = NULL;
        size_t n = 0;
        assert_int_equal(store_lease_list(f->s, &l, &n), 0);
        assert_int_equal(n, 2);
        assert_memory_equal(l[0].mac, b.mac, MAC_LEN); /* by address */
        assert_string_equal(l[1].name, "vm-a");
        assert_true(l[1].created_at > 0);
        free(l);
        struct lease got;
        assert_int_equal(store_lease_get(f->s, a.mac, &got), 0);
        assert_int_equal(got.ip, a.ip);
        struct lease removed;
        assert_int_equal(store_lease_remove(f->s, a.mac, "unix:uid=0", &removed), 0);
        assert_string_equal(removed.name, "vm-a");
        assert_int_equal(store_lease_get(f->s, a.mac, &got), -ENOENT);
        assert_int_equal(store_lease_remove(f->s, a.mac, "t", NULL), -ENOENT);
        /* The address and name are free again. */
        dup = make_lease("52:54:00:00:00:0c", "10.15.3.21", "vm-a");
        assert_int_equal(store_lease_add(f->s, &dup, "t", &cf), 0);
}

/* `vm add --mac`: VM and lease in one transaction, conflicts told apart, the lease of a
 * VM, removal with the VM of the lease it made only; lookups and pages of leases. */
static void test_vm_leases(void **state) {
        struct fixture *f = *state;
        count_path = f->path;
        struct vm v = make_vm("vm-a", "k7m2p4", "10.15.3.30", 20000, 10);
        struct lease l = make_lease("52:54:00:00:01:0a", "10.15.3.30", "");
        strcpy(l.vm_id, "vm-a");
        enum store_conflict cf = STORE_CONFLICT_NONE, lcf = STORE_CONFLICT_NONE;
        int audit0 = count_rows(f, "audit");
        assert_int_equal(store_vm_create_leased(f->s, &v, NULL, &l, "t", &cf, &lcf), 0);
        assert_int_equal(count_rows(f, "audit"), audit0 + 2);
        struct lease got;
        assert_int_equal(store_lease_of_vm(f->s, &v, &got), 0);
        assert_memory_equal(got.mac, l.mac, MAC_LEN);
        assert_string_equal(got.vm_id, "vm-a");

        /* The lease's MAC has a lease: the lease's conflict, nothing written. */
        struct vm w = make_vm("vm-b", "a1b2c3", "10.15.3.31", 20010, 10);
        struct lease m = make_lease("52:54:00:00:01:0a", "10.15.3.31", "");
        strcpy(m.vm_id, "vm-b");
        assert_int_equal(store_vm_create_leased(f->s, &w, NULL, &m, "t", &cf, &lcf), -EEXIST);
        assert_int_equal(cf, STORE_CONFLICT_NONE);
        assert_int_equal(lcf, STORE_CONFLICT_ID);
        struct vm gv;
        assert_int_equal(store_vm_get(f->s, "vm-b", &gv), -ENOENT);
        /* An address another MAC holds (a lease made by lease add, no VM on it). */
        struct lease fixed = make_lease("52:54:00:00:01:0c", "10.15.3.40", "web");
        assert_int_equal(store_lease_add(f->s, &fixed, "t", NULL), 0);
        w = make_vm("vm-b", "a1b2c3", "10.15.3.40", 20010, 10);
        m = make_lease("52:54:00:00:01:0b", "10.15.3.40", "");
        strcpy(m.vm_id, "vm-b");
        cf = lcf = STORE_CONFLICT_NONE;
        assert_int_equal(store_vm_create_leased(f->s, &w, NULL, &m, "t", &cf, &lcf), -EEXIST);
        assert_int_equal(lcf, STORE_CONFLICT_IP);
        assert_int_equal(store_vm_get(f->s, "vm-b", &gv), -ENOENT);
        /* The VM's id exists: the VM's conflict. */
        w = make_vm("vm-a", "a1b2c3", "10.15.3.41", 20010, 10);
        m = make_lease("52:54:00:00:01:0b", "10.15.3.41", "");
        cf = lcf = STORE_CONFLICT_NONE;
        assert_int_equal(store_vm_create_leased(f->s, &w, NULL, &m, "t", &cf, &lcf), -EEXIST);
        assert_int_equal(cf, STORE_CONFLICT_ID);
        assert_int_equal(lcf, STORE_CONFLICT_NONE);
        assert_int_equal(store_lease_get(f->s, m.mac, &got), -ENOENT);
        /* A lease not at the VM's address is refused. */
        w = make_vm("vm-c", "d4e5f6", "10.15.3.42", 20020, 10);
        m = make_lease("52:54:00:00:01:0d", "10.15.3.43", "");
        assert_int_equal(store_vm_create_leased(f->s, &w, NULL, &m, "t", &cf, &lcf), -EINVAL);

        /* A VM on the fixed lease's address: its lease is that one (no vm_id). */
        struct vm onfixed = make_vm("vm-f", "f1f2f3", "10.15.3.40", 20030, 10);
        assert_int_equal(store_vm_create(f->s, &onfixed, NULL, "t", NULL), 0);
        assert_int_equal(store_lease_of_vm(f->s, &onfixed, &got), 0);
        assert_string_equal(got.name, "web");
        /* An update that adds a lease but leaves the VM as it was keeps its version. */
        struct vm plain = make_vm("vm-p", "p1p2p3", "10.15.3.50", 20040, 10);
        assert_int_equal(store_vm_create(f->s, &plain, NULL, "t", NULL), 0);
        assert_int_equal(store_lease_of_vm(f->s, &plain, &got), -ENOENT);
        struct lease pl = make_lease("52:54:00:00:01:0e", "10.15.3.50", "");
        strcpy(pl.vm_id, "vm-p");
        enum store_outcome out;
        int64_t version = 0;
        assert_int_equal(store_vm_update_leased(f->s, &plain, NULL, &pl, 0, "t", &cf, &lcf, &out, &version), 0);
        assert_int_equal(out, STORE_UNCHANGED);
        assert_int_equal(version, 1);
        assert_int_equal(store_lease_of_vm(f->s, &plain, &got), 0);
        assert_memory_equal(got.mac, pl.mac, MAC_LEN);

        /* Lookups. */
        assert_int_equal(store_lease_find_ip(f->s, fixed.ip, &got), 0);
        assert_memory_equal(got.mac, fixed.mac, MAC_LEN);
        assert_int_equal(store_lease_find_ip(f->s, fixed.ip + 100, &got), -ENOENT);
        assert_int_equal(store_lease_find_name(f->s, "web", &got), 0);
        assert_memory_equal(got.mac, fixed.mac, MAC_LEN);
        assert_int_equal(store_lease_find_name(f->s, "", &got), -ENOENT);
        assert_int_equal(store_lease_find_name(f->s, "nope", &got), -ENOENT);

        /* Pages by MAC. */
        struct lease *page = NULL;
        size_t n = 0;
        bool more = false;
        assert_int_equal(store_lease_list_page(f->s, NULL, 2, &page, &n, &more), 0);
        assert_int_equal(n, 2);
        assert_true(more);
        char mac[MAC_TEXT_LEN + 1];
        assert_string_equal(mac_format(page[1].mac, mac), "52:54:00:00:01:0c");
        free(page);
        assert_int_equal(store_lease_list_page(f->s, "52:54:00:00:01:0c", 2, &page, &n, &more), 0);
        assert_int_equal(n, 1);
        assert_false(more);
        assert_string_equal(mac_format(page[0].mac, mac), "52:54:00:00:01:0e");
        free(page);
        assert_int_equal(store_lease_list_page(f->s, NULL, 0, &page, &n, &more), -EINVAL);

        /* Removal: the lease the VM made goes with it (audited), the fixed one stays. */
        struct lease *gone = NULL;
        audit0 = count_rows(f, "audit");
        assert_int_equal(store_vm_remove_leased(f->s, "vm-a", 0, "t", &gv, &gone, &n), 0);
        assert_int_equal(n, 1);
        assert_memory_equal(gone[0].mac, l.mac, MAC_LEN);
        free(gone);
        assert_int_equal(count_rows(f, "audit"), audit0 + 2);
        assert_int_equal(store_lease_get(f->s, l.mac, &got), -ENOENT);
        assert_int_equal(store_vm_remove_leased(f->s, "vm-f", 0, "t", &gv, &gone, &n), 0);
        assert_int_equal(n, 0);
        assert_null(gone);
        assert_int_equal(store_lease_get(f->s, fixed.mac, &got), 0);
        /* store_vm_remove() (expiry, the internal callers) removes the VM's lease too. */
        assert_int_equal(store_vm_remove(f->s, "vm-p", 0, "expiry", NULL), 0);
        assert_int_equal(store_lease_get(f->s, pl.mac, &got), -ENOENT);
}

static void test_dns_migration_from_v3(void **state) {
        struct fixture *f = *state;
        /* A schema-3 file: the fixture's store, rolled back to version 3 by hand with data in it. */
        struct vm v = make_vm("keep-1", "k7m2p4", "10.0.1.5", 20000, 10);
        assert_int_equal(store_vm_insert(f->s, &v, NULL), 0);
        f->s = store_close(f->s);
        assert_int_equal(raw_exec(f->path, "DROP TABLE dns_records; DROP TABLE dns_remote; DROP TABLE leases;"
                                           " ALTER TABLE tokens DROP COLUMN datacenter; ALTER TABLE routes DROP COLUMN dns;"
                                           " PRAGMA user_version = 3;"),
                         SQLITE_OK);
        assert_int_equal(file_user_version(f->path), 3);
        char err[256] = "";
        assert_int_equal(store_open(f->path, &f->s, err, sizeof err), 0);
        assert_int_equal(file_user_version(f->path), 7);
        struct vm got;
        assert_int_equal(store_vm_get(f->s, "keep-1", &got), 0);
        assert_vm_equal(&got, &v);
        struct dns_record_want w = dns_want("a.example.com", 1, "203.0.113.7");
        assert_int_equal(store_dns_sync_desired(f->s, &w, 1, 1000, NULL), 0);
}

/* ---- schema 5: tokens with a datacenter, records of other nodes ---- */

static void test_token_datacenter(void **state) {
        struct fixture *f = *state;
        struct token_rec node = make_token("node1", "0123456789abcdef", SCOPE_DNS, 0x11);
        strcpy(node.datacenter, "dc-lk");
        assert_int_equal(store_token_add(f->s, &node, "unix:uid=0"), 0);
        struct token_rec plain = make_token("plain", "1123456789abcdef", SCOPE_DNS, 0x12);
        assert_int_equal(store_token_add(f->s, &plain, "unix:uid=0"), 0);
        /* Not a DNS label: refused. */
        struct token_rec bad = make_token("bad", "2123456789abcdef", SCOPE_DNS, 0x13);
        strcpy(bad.datacenter, "DC_LK");
        assert_int_equal(store_token_add(f->s, &bad, "t"), -EINVAL);
        strcpy(bad.datacenter, "-dc");
        assert_int_equal(store_token_add(f->s, &bad, "t"), -EINVAL);
        memset(bad.datacenter, 'a', sizeof bad.datacenter); /* unterminated */
        assert_int_equal(store_token_add(f->s, &bad, "t"), -EINVAL);

        struct token_rec got;
        assert_int_equal(store_token_get_by_key(f->s, "0123456789abcdef", &got), 0);
        assert_string_equal(got.datacenter, "dc-lk");
        assert_int_equal(store_token_get_by_key(f->s, "1123456789abcdef", &got), 0);
        assert_string_equal(got.datacenter, "");
        struct token_rec *list = NULL;
        size_t n = 0;
        assert_int_equal(store_token_list(f->s, &list, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(list[0].name, "node1");
        assert_string_equal(list[0].datacenter, "dc-lk");
        free(list);
        json_t *after;
        expect_audit(f->s, "token", "node1", "create", "unix:uid=0", NULL, &after);
        assert_string_equal(json_string_value(json_object_get(after, "datacenter")), "dc-lk");
        json_decref(after);
        struct token_rec removed;
        assert_int_equal(store_token_remove(f->s, "node1", "t", &removed), 0);
        assert_string_equal(removed.datacenter, "dc-lk");
}

static struct dns_record_want remote_want(const char *name, uint16_t type, const char *content, uint32_t ttl) {
        struct dns_record_want w;
        memset(&w, 0, sizeof w);
        snprintf(w.name, sizeof w.name, "%s", name);
        w.type = type;
        snprintf(w.content, sizeof w.content, "%s", content);
        w.ttl = ttl;
        return w;
}

static void test_dns_remote_put(void **state) {
        struct fixture *f = *state;
        int64_t head = change_head(f->s);
        struct dns_record_want a = remote_want("web.dc-lk.example.net", DNS_TYPE_A, "203.0.113.7", 300);
        bool changed = false;
        assert_int_equal(store_dns_remote_put(f->s, &a, "node1", "dc-lk", "token:node1", &changed), 0);
        assert_true(changed);
        json_t *before, *after;
        expect_audit(f->s, "dns", "web.dc-lk.example.net", "create", "token:node1", &before, &after);
        assert_null(before);
        assert_string_equal(json_string_value(json_object_get(after, "type")), "A");
        assert_string_equal(json_string_value(json_object_get(after, "content")), "203.0.113.7");
        assert_string_equal(json_string_value(json_object_get(after, "token")), "node1");
        assert_string_equal(json_string_value(json_object_get(after, "datacenter")), "dc-lk");
        assert_true(json_is_false(json_object_get(after, "proxied")));
        assert_int_equal(json_integer_value(json_object_get(after, "ttl")), 300);
        json_decref(after);

        /* Equal: a no-op without an audit row. */
        size_t audits = audit_count(f->s, "dns", NULL);
        changed = true;
        assert_int_equal(store_dns_remote_put(f->s, &a, "node1", "dc-lk", "token:node1", &changed), 0);
        assert_false(changed);
        assert_int_equal(audit_count(f->s, "dns", NULL), audits);

        /* Another token: refused, naming the owner; nothing written. */
        struct dns_record_want other = a;
        strcpy(other.content, "198.51.100.1");
        assert_int_equal(store_dns_remote_put(f->s, &other, "node2", "", "token:node2", &changed), -EPERM);
        assert_non_null(strstr(store_errmsg(f->s), "token 'node1'"));
        struct store_dns_remote got;
        assert_int_equal(store_dns_remote_get(f->s, a.name, DNS_TYPE_A, &got), 0);
        assert_string_equal(got.want.content, "203.0.113.7");
        assert_int_equal(audit_count(f->s, "dns", NULL), audits);

        /* The owner updates: audited with before and after. */
        assert_int_equal(store_dns_remote_put(f->s, &other, "node1", "dc-lk", "token:node1", &changed), 0);
        assert_true(changed);
        expect_audit(f->s, "dns", "web.dc-lk.example.net", "update", "token:node1", &before, &after);
        assert_string_equal(json_string_value(json_object_get(before, "content")), "203.0.113.7");
        assert_string_equal(json_string_value(json_object_get(after, "content")), "198.51.100.1");
        json_decref(before);
        json_decref(after);

        /* The operator may change it; the owner stays. */
        other.ttl = 60;
        other.proxied = true;
        assert_int_equal(store_dns_remote_put(f->s, &other, NULL, "dc-lk", "unix:uid=0", &changed), 0);
        assert_true(changed);
        assert_int_equal(store_dns_remote_get(f->s, a.name, DNS_TYPE_A, &got), 0);
        assert_string_equal(got.want.owner_id, "node1");
        assert_string_equal(got.want.owner_kind, "node");
        assert_int_equal(got.want.ttl, 60);
        assert_true(got.want.proxied);
        assert_true(got.created_at > 1700000000 && got.updated_at >= got.created_at);

        /* A record the operator creates is the operator's: no token may touch it. */
        struct dns_record_want op = remote_want("ops.example.net", DNS_TYPE_AAAA, "2001:db8::7", 300);
        assert_int_equal(store_dns_remote_put(f->s, &op, NULL, "", "unix:uid=0", &changed), 0);
        assert_int_equal(store_dns_remote_put(f->s, &op, "node1", "", "token:node1", &changed), -EPERM);
        assert_non_null(strstr(store_errmsg(f->s), "operator"));

        /* Invalid input. */
        struct dns_record_want bad = a;
        bad.type = 16;
        assert_int_equal(store_dns_remote_put(f->s, &bad, "node1", "", "t", NULL), -EINVAL);
        bad = a;
        strcpy(bad.name, "Web.example.net");
        assert_int_equal(store_dns_remote_put(f->s, &bad, "node1", "", "t", NULL), -EINVAL);
        bad = a;
        bad.content[0] = '\0';
        assert_int_equal(store_dns_remote_put(f->s, &bad, "node1", "", "t", NULL), -EINVAL);
        bad = a;
        bad.ttl = 0;
        assert_int_equal(store_dns_remote_put(f->s, &bad, "node1", "", "t", NULL), -EINVAL);

        /* No change-log entries: the API kicks the DNS reconciler itself. */
        assert_int_equal(change_head(f->s), head);
}

static void test_dns_remote_remove_and_list(void **state) {
        struct fixture *f = *state;
        struct dns_record_want w[3] = {
                remote_want("b.dc-lk.example.net", DNS_TYPE_AAAA, "2001:db8::2", 300),
                remote_want("b.dc-lk.example.net", DNS_TYPE_A, "203.0.113.2", 300),
                remote_want("a.dc-lk.example.net", DNS_TYPE_A, "203.0.113.1", 120),
        };
        for (size_t i = 0; i < 3; i++)
                assert_int_equal(store_dns_remote_put(f->s, &w[i], i == 2 ? "node2" : "node1", "dc-lk", "t", NULL), 0);

        struct dns_record_want *l = NULL;
        size_t n = 0;
        assert_int_equal(store_dns_remote_list(f->s, &l, &n), 0);
        assert_int_equal(n, 3);
        for (size_t i = 0; i < n; i++) {
                assert_string_equal(l[i].owner_kind, "node");
                if (i)
                        assert_true(dns_record_want_compare(&l[i - 1], &l[i]) < 0);
        }
        assert_string_equal(l[0].name, "a.dc-lk.example.net");
        assert_string_equal(l[0].owner_id, "node2");
        assert_int_equal(l[0].ttl, 120);
        assert_int_equal(l[1].type, DNS_TYPE_A);
        assert_int_equal(l[2].type, DNS_TYPE_AAAA);
        assert_string_equal(l[2].content, "2001:db8::2");
        free(l);

        bool removed = true;
        /* Another token's row: refused, kept. */
        assert_int_equal(store_dns_remote_remove(f->s, "a.dc-lk.example.net", DNS_TYPE_A, "node1", "t", &removed),
                         -EPERM);
        assert_non_null(strstr(store_errmsg(f->s), "node2"));
        /* Missing: fine, nothing removed, no audit. */
        size_t audits = audit_count(f->s, "dns", NULL);
        assert_int_equal(store_dns_remote_remove(f->s, "zz.dc-lk.example.net", DNS_TYPE_A, "node1", "t", &removed), 0);
        assert_false(removed);
        assert_int_equal(audit_count(f->s, "dns", NULL), audits);
        /* The owner's. */
        assert_int_equal(store_dns_remote_remove(f->s, "b.dc-lk.example.net", DNS_TYPE_A, "node1", "token:node1",
                                                 &removed),
                         0);
        assert_true(removed);
        json_t *before, *after;
        expect_audit(f->s, "dns", "b.dc-lk.example.net", "delete", "token:node1", &before, &after);
        assert_null(after);
        assert_string_equal(json_string_value(json_object_get(before, "type")), "A");
        json_decref(before);
        assert_int_equal(store_dns_remote_remove(f->s, "b.dc-lk.example.net", DNS_TYPE_A, "node1", "t", &removed), 0);
        assert_false(removed);
        /* The operator removes anyone's. */
        assert_int_equal(store_dns_remote_remove(f->s, "a.dc-lk.example.net", DNS_TYPE_A, NULL, "unix:uid=0", &removed),
                         0);
        assert_true(removed);
        assert_int_equal(store_dns_remote_remove(f->s, "a.dc-lk.example.net", 16, NULL, "t", &removed), -EINVAL);

        struct store_dns_remote *rows = NULL;
        assert_int_equal(store_dns_remote_rows(f->s, &rows, &n), 0);
        assert_int_equal(n, 1);
        assert_string_equal(rows[0].want.name, "b.dc-lk.example.net");
        assert_int_equal(rows[0].want.type, DNS_TYPE_AAAA);
        assert_string_equal(rows[0].datacenter, "dc-lk");
        free(rows);
        struct store_dns_remote gone;
        assert_int_equal(store_dns_remote_get(f->s, "a.dc-lk.example.net", DNS_TYPE_A, &gone), -ENOENT);
        assert_int_equal(store_dns_remote_remove(f->s, "b.dc-lk.example.net", DNS_TYPE_AAAA, "node1", "t", &removed), 0);
        assert_int_equal(store_dns_remote_list(f->s, &l, &n), 0);
        assert_int_equal(n, 0);
        assert_null(l);
}

static void test_dns_remote_migration_from_v4(void **state) {
        struct fixture *f = *state;
        /* A schema-4 file with a token and an outbox row in it. */
        struct token_rec t = make_token("ci", "0123456789abcdef", SCOPE_READ, 0x21);
        assert_int_equal(store_token_add(f->s, &t, "unix:uid=0"), 0);
        struct dns_record_want w = dns_want("a.example.com", 1, "203.0.113.7");
        assert_int_equal(store_dns_sync_desired(f->s, &w, 1, 1000, NULL), 0);
        f->s = store_close(f->s);
        assert_int_equal(raw_exec(f->path, "DROP TABLE dns_remote; DROP TABLE leases; ALTER TABLE tokens DROP COLUMN datacenter;"
                                           " ALTER TABLE routes DROP COLUMN dns; PRAGMA user_version = 4;"),
                         SQLITE_OK);
        assert_int_equal(file_user_version(f->path), 4);
        char err[256] = "";
        if (store_open(f->path, &f->s, err, sizeof err) < 0)
                fail_msg("store_open of a schema-4 database: %s", err);
        assert_int_equal(file_user_version(f->path), 7);
        /* The old token has no datacenter; the outbox row is kept; dns_remote works. */
        struct token_rec got;
        assert_int_equal(store_token_get_by_key(f->s, "0123456789abcdef", &got), 0);
        assert_string_equal(got.datacenter, "");
        assert_int_equal(got.scopes, SCOPE_READ);
        struct store_dns_record *l = NULL;
        size_t n = 0;
        assert_int_equal(store_dns_list(f->s, &l, &n), 0);
        assert_int_equal(n, 1);
        free(l);
        struct dns_record_want r = remote_want("x.dc-lk.example.net", DNS_TYPE_A, "203.0.113.9", 300);
        assert_int_equal(store_dns_remote_put(f->s, &r, "ci", "", "t", NULL), 0);
        struct dns_record_want *rl = NULL;
        assert_int_equal(store_dns_remote_list(f->s, &rl, &n), 0);
        assert_int_equal(n, 1);
        free(rl);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        const struct CMUnitTest tests[] = {
                T(test_open_creates_schema),
                T(test_reopen_idempotent),
                T(test_newer_schema_refused),
                T(test_open_errors),
                T(test_round_trip),
                T(test_empty_list),
                T(test_duplicate_id_slug_ip),
                T(test_block_overlap),
                T(test_find_by_ip),
                T(test_delete_missing),
                T(test_blocks_mark),
                T(test_snapshot_seq),
                T(test_changes_since),
                T(test_two_connections),
                T(test_concurrent_inserts),
                T(test_options_round_trip),
                T(test_options_refused),
                T(test_unreadable_allow),
                T(test_migration_from_v1),
                T(test_migration_failure_rolls_back),
                T(test_migration_from_v2),
                T(test_vm_create_meta),
                T(test_vm_create_conflicts),
                T(test_vm_update),
                T(test_vm_remove),
                T(test_routes),
                T(test_forwards),
                T(test_forward_vs_block),
                T(test_label_selectors),
                T(test_paging),
                T(test_expiry),
                T(test_tokens),
                T(test_audit_list),
                T(test_changes_read_kinds),
                T(test_counts),
                T(test_cost_at_10k_vms),
                T(test_dns_sync_idempotent),
                T(test_dns_delete_lifecycle),
                T(test_dns_due),
                T(test_dns_mark_seen_and_owner),
                T(test_leases),
                T(test_vm_leases),
                T(test_dns_migration_from_v3),
                T(test_token_datacenter),
                T(test_dns_remote_put),
                T(test_dns_remote_remove_and_list),
                T(test_dns_remote_migration_from_v4),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
