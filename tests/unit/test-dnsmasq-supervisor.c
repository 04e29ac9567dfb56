/* SPDX-License-Identifier: MIT */
/* daemon/dnsmasq: the supervisor's state machine, with a fake dnsmasq (a shell script that
 * records its arguments, environment and SIGHUPs) and a real store: start, SIGHUP for a
 * lease change (spaced), restart after a kill with backoff, restart for a new config, stop
 * when [dhcp] is turned off, stop at free. No root, no network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "daemon/dnsmasq.h"
#include "model/lease.h"
#include "store/store.h"

struct fixture {
        char dir[64], state[96], db[128], fake[128], hups[128], args[128];
        struct config cfg;
        struct store *store;
};

static void sleep_ms(long ms) {
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000};
        nanosleep(&ts, NULL);
}

static char *slurp(const char *path) {
        FILE *f = fopen(path, "re");
        if (!f)
                return strdup("");
        static char buf[65536];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        return strdup(buf);
}

static size_t count_lines(const char *path) {
        char *t = slurp(path);
        size_t n = 0;
        for (char *p = t; *p; p++)
                n += *p == '\n';
        free(t);
        return n;
}

static void add_lease(struct fixture *f, const char *mac, const char *ip, const char *name) {
        struct lease l = {0};
        assert_int_equal(mac_parse(mac, l.mac), 0);
        assert_int_equal(ipv4_parse(ip, &l.ip), 0);
        strcpy(l.name, name);
        assert_int_equal(store_lease_add(f->store, &l, "test", NULL), 0);
}

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof *f);
        strcpy(f->dir, "/tmp/test-dnsmasq-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->state, sizeof f->state, "%s/state", f->dir);
        snprintf(f->db, sizeof f->db, "%s/edgegw.db", f->state);
        snprintf(f->fake, sizeof f->fake, "%s/fake-dnsmasq", f->dir);
        snprintf(f->hups, sizeof f->hups, "%s/hups", f->dir);
        snprintf(f->args, sizeof f->args, "%s/args", f->dir);
        assert_int_equal(mkdir(f->state, 0700), 0);
        /* The fake: its arguments and environment into args, a line into hups per SIGHUP. */
        FILE *s = fopen(f->fake, "we");
        assert_non_null(s);
        fprintf(s,
                "#!/bin/sh\n"
                "d=$(dirname \"$0\")\n"
                "{ echo \"$@\"; env | sort; } > \"$d/args.tmp\" && mv \"$d/args.tmp\" \"$d/args\"\n"
                "trap 'echo hup >> \"$d/hups\"' HUP\n"
                "while :; do sleep 0.02; done\n");
        fclose(s);
        assert_int_equal(chmod(f->fake, 0755), 0);

        config_defaults(&f->cfg);
        strcpy(f->cfg.state_dir, f->state);
        strcpy(f->cfg.dhcp_interface, "br0");
        strcpy(f->cfg.dhcp_subnet, "10.0.1.0");
        strcpy(f->cfg.dhcp_subnet_mask, "255.255.255.0");
        strcpy(f->cfg.dhcp_pool_start, "10.0.1.100");
        strcpy(f->cfg.dhcp_pool_end, "10.0.1.150");
        strcpy(f->cfg.dhcp_gateway, "10.0.1.1");
        char err[256];
        assert_int_equal(store_open(f->db, &f->store, err, sizeof err), 0);
        add_lease(f, "52:54:00:00:00:01", "10.0.1.120", "web1");
        add_lease(f, "52:54:00:00:00:02", "10.0.1.121", "");
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;
        store_close(f->store);
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

static struct dnsmasq_status status_of(struct dnsmasq *d) {
        struct dnsmasq_status st;
        dnsmasq_get_status(d, &st);
        return st;
}

/* Runs the main loop's part for up to ms: ticks when due, "SIGCHLD" by polling. Returns
 * as soon as done(d) holds. */
static bool loop_until(struct dnsmasq *d, long ms, bool (*done)(struct dnsmasq *, const void *), const void *arg) {
        for (long waited = 0; waited <= ms; waited += 5) {
                dnsmasq_child_exited(d);
                int t = dnsmasq_timeout_ms(d);
                if (t == 0)
                        dnsmasq_tick(d);
                if (done(d, arg))
                        return true;
                sleep_ms(5);
        }
        return false;
}

static bool is_state(struct dnsmasq *d, const void *arg) {
        return status_of(d).state == *(const enum dnsmasq_state *)arg;
}

static bool running_other_than(struct dnsmasq *d, const void *arg) {
        struct dnsmasq_status st = status_of(d);
        return st.state == DNSMASQ_RUNNING && st.pid != *(const pid_t *)arg;
}

/* In backoff after the given number of restarts. */
static bool backing_off_after(struct dnsmasq *d, const void *arg) {
        struct dnsmasq_status st = status_of(d);
        return st.state == DNSMASQ_BACKOFF && st.restarts == *(const uint64_t *)arg;
}

static bool file_has_lines(struct dnsmasq *d, const void *arg) {
        const struct {
                const char *path;
                size_t n;
        } *want = arg;
        return count_lines(want->path) >= want->n;
}

static void test_lifecycle(void **state) {
        struct fixture *f = *state;
        struct dnsmasq *d = NULL;
        char err[256] = "";
        assert_int_equal(dnsmasq_new(f->db, f->fake, &f->cfg, &d, err, sizeof err), 0);
        assert_int_equal(dnsmasq_timeout_ms(d), 0); /* the first sync is due at once */

        /* Start: the files, then the child with exactly our arguments and no environment. */
        enum dnsmasq_state want = DNSMASQ_RUNNING;
        assert_true(loop_until(d, 2000, is_state, &want));
        struct dnsmasq_status st = status_of(d);
        assert_true(st.enabled);
        assert_true(st.pid > 0);
        assert_int_equal(st.starts, 1);
        assert_int_equal(st.leases, 2);
        assert_int_equal(st.names, 1);
        char path[256];
        snprintf(path, sizeof path, "%s/dnsmasq/dnsmasq.dhcp-hosts", f->state);
        char *text = slurp(path);
        assert_string_equal(text, "52:54:00:00:00:01,10.0.1.120,web1\n52:54:00:00:00:02,10.0.1.121\n");
        free(text);
        snprintf(path, sizeof path, "%s/dnsmasq/dnsmasq.hosts", f->state);
        text = slurp(path);
        assert_string_equal(text, "10.0.1.120 web1 web1.vps.local\n");
        free(text);
        snprintf(path, sizeof path, "%s/dnsmasq/dnsmasq.conf", f->state);
        text = slurp(path);
        assert_non_null(strstr(text, "\ninterface=br0\n"));
        assert_non_null(strstr(text, "\nuser=root\ngroup=root\n")); /* /tmp/test-dnsmasq-XXXXXX is 0700 */
        free(text);
        struct {
                const char *path;
                size_t n;
        } args = {f->args, 2};
        assert_true(loop_until(d, 3000, file_has_lines, &args));
        text = slurp(f->args);
        char want_args[256];
        snprintf(want_args, sizeof want_args, "--keep-in-foreground --conf-file=%s/dnsmasq/dnsmasq.conf\n", f->state);
        assert_true(strncmp(text, want_args, strlen(want_args)) == 0);
        assert_non_null(strstr(text, "\nPATH=/usr/sbin:/usr/bin:/sbin:/bin\n"));
        assert_null(strstr(text, "ASAN_OPTIONS")); /* nothing of ours leaks into its environment */
        free(text);
        pid_t pid1 = st.pid;

        /* A lease change: SIGHUP, same process. A kick without a lease change: nothing. */
        dnsmasq_kick(d);
        sleep_ms(50);
        dnsmasq_tick(d);
        assert_int_equal(status_of(d).reloads, 0);
        add_lease(f, "52:54:00:00:00:03", "10.0.1.122", "db1");
        dnsmasq_kick(d);
        int t = dnsmasq_timeout_ms(d);
        assert_true(t > 0 && t <= 20); /* coalesced */
        struct {
                const char *path;
                size_t n;
        } hups = {f->hups, 1};
        assert_true(loop_until(d, 3000, file_has_lines, &hups));
        st = status_of(d);
        assert_int_equal(st.reloads, 1);
        assert_int_equal(st.pid, pid1);
        assert_int_equal(st.leases, 3);

        /* A second change right after: the SIGHUP waits (at least 1 s after the first). */
        add_lease(f, "52:54:00:00:00:04", "10.0.1.123", "db2");
        dnsmasq_kick(d);
        sleep_ms(30);
        dnsmasq_tick(d); /* the sync: files written, SIGHUP deferred */
        assert_int_equal(status_of(d).reloads, 1);
        t = dnsmasq_timeout_ms(d);
        assert_true(t > 0 && t <= 1000); /* the rest of the 1 s since the first */
        hups.n = 2;
        assert_true(loop_until(d, 3000, file_has_lines, &hups));
        assert_int_equal(status_of(d).reloads, 2);
        assert_int_equal(status_of(d).pid, pid1);

        /* Killed: started again after 0.5 s, as a restart. */
        kill(pid1, SIGKILL);
        want = DNSMASQ_BACKOFF;
        assert_true(loop_until(d, 2000, is_state, &want));
        st = status_of(d);
        assert_int_equal(st.restarts, 1);
        assert_string_equal(st.last_exit, "killed by signal 9 (Killed)");
        assert_true(st.next_start_in_ms > 0 && st.next_start_in_ms <= 500);
        assert_true(loop_until(d, 2000, running_other_than, &pid1));
        pid_t pid2 = status_of(d).pid;
        assert_int_equal(status_of(d).starts, 2);

        /* A new configuration: stopped and started again (not counted as a restart). */
        strcpy(f->cfg.dhcp_lease_time, "1h");
        dnsmasq_set_config(d, &f->cfg);
        assert_true(loop_until(d, 3000, running_other_than, &pid2));
        st = status_of(d);
        assert_int_equal(st.starts, 3);
        assert_int_equal(st.restarts, 1);
        assert_string_equal(st.last_exit, "killed by signal 15 (Terminated)");
        pid_t pid3 = st.pid;

        /* [dhcp] off: stopped, and it stays off. */
        f->cfg.dhcp_interface[0] = '\0';
        dnsmasq_set_config(d, &f->cfg);
        want = DNSMASQ_OFF;
        assert_true(loop_until(d, 3000, is_state, &want));
        assert_false(status_of(d).enabled);
        assert_int_equal(kill(pid3, 0), -1);
        dnsmasq_kick(d);
        assert_int_equal(dnsmasq_timeout_ms(d), -1);

        /* On again, then freed: the child is stopped and reaped, the pid file removed. */
        strcpy(f->cfg.dhcp_interface, "br0");
        dnsmasq_set_config(d, &f->cfg);
        want = DNSMASQ_RUNNING;
        assert_true(loop_until(d, 2000, is_state, &want));
        pid_t pid4 = status_of(d).pid;
        d = dnsmasq_free(d);
        assert_null(d);
        assert_int_equal(kill(pid4, 0), -1);
        assert_int_equal(errno, ESRCH);
}

static void test_backoff(void **state) {
        struct fixture *f = *state;
        struct dnsmasq *d = NULL;
        char err[256] = "";
        /* A dnsmasq that exits at once: 0.5 s, 1 s, 2 s between the attempts. */
        assert_int_equal(dnsmasq_new(f->db, "/bin/false", &f->cfg, &d, err, sizeof err), 0);
        int64_t delays[3];
        for (uint64_t i = 0; i < 3; i++) {
                assert_true(loop_until(d, 5000, backing_off_after, &(uint64_t){i + 1}));
                delays[i] = status_of(d).next_start_in_ms;
        }
        assert_true(delays[0] > 0 && delays[0] <= 500); /* (the margins: a loaded machine polls late) */
        assert_true(delays[1] > 500 && delays[1] <= 1000);
        assert_true(delays[2] > 1000 && delays[2] <= 2000);
        assert_string_equal(status_of(d).last_exit, "exited with status 1");
        d = dnsmasq_free(d);
}

static void test_bad_state_dir(void **state) {
        struct fixture *f = *state;
        struct dnsmasq *d = NULL;
        char err[256] = "";
        struct config c = f->cfg;
        strcpy(c.state_dir, "/var/lib/a,b"); /* dnsmasq's syntax cannot carry it */
        assert_int_equal(dnsmasq_new(f->db, f->fake, &c, &d, err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, "cannot hold dnsmasq's files"));
        /* Without DHCP the daemon starts all the same; turning DHCP on then says why not. */
        c.dhcp_interface[0] = '\0';
        assert_int_equal(dnsmasq_new(f->db, f->fake, &c, &d, err, sizeof err), 0);
        strcpy(c.dhcp_interface, "br0");
        dnsmasq_set_config(d, &c);
        dnsmasq_tick(d);
        struct dnsmasq_status st = status_of(d);
        assert_int_equal(st.state, DNSMASQ_OFF);
        assert_non_null(strstr(st.last_error, "cannot hold dnsmasq's files"));
        assert_int_equal(dnsmasq_timeout_ms(d), -1);
        d = dnsmasq_free(d);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
                cmocka_unit_test_setup_teardown(test_backoff, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_state_dir, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
