/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the SQLite store, each on a fresh database in its own temporary directory:
 * schema creation, version checks and the migration from schema 1, VM round trips (with the
 * proxy options), every uniqueness and overlap conflict, the change log, and two
 * connections (and threads) sharing one file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
        assert_int_equal(store_schema_version(), 2);

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
        assert_int_equal(file_user_version(path), 2);
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
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
