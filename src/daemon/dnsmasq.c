/* SPDX-License-Identifier: MIT */
/*
 * The dnsmasq supervisor (daemon/dnsmasq.h): a small state machine on the main thread
 * (off → running → stopping/backoff → running ...), the files it renders, and the child.
 *
 * The child is forked, not posix_spawn'ed, for one call posix_spawn cannot make:
 * PR_SET_PDEATHSIG, so a dnsmasq does not outlive an edgegwd killed with SIGKILL. The
 * kernel clears it when dnsmasq changes its user or group, hence "group=root" next to
 * "user=root"; one that dropped to nobody is caught by stop_stale() at the next start.
 * Between fork and exec it only makes async-signal-safe calls (the daemon has threads).
 *
 * dnsmasq drops root after binding its sockets and re-reads the hosts files on SIGHUP as
 * that user, so it runs as "nobody" only when nobody can reach STATE_DIR/dnsmasq (every
 * directory above it searchable by others, e.g. a state_dir of mode 0711); otherwise it
 * stays root, and says so once in the log.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "daemon/dnsmasq.h"
#include "model/dnsmasqconf.h"
#include "store/store.h"

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define STABLE_MS 30000 /* a dnsmasq that ran this long starts the backoff from the minimum again */
#define STOP_TIMEOUT_MS 5000 /* SIGTERM, then SIGKILL after this */
#define COALESCE_MS 20 /* kicks within this window are one look at the change log */
#define SYNC_RETRY_MS 1000 /* after a failed sync (the store busy, a full disk) */
#define SYNC_PERIODIC_MS 60000 /* a sync regardless, in case a lease change was missed */
#define CHANGES_BATCH 1000
/* SIGHUPs are spaced by at least HUP_GAP_MIN_MS and three times the CPU time dnsmasq spent
 * since the previous one (its re-read; at most HUP_GAP_MAX_MS): dnsmasq re-reads once per
 * signal and answers nothing meanwhile, which at 10,000 leases takes 0.3-3 s. */
#define HUP_GAP_MIN_MS 1000
#define HUP_GAP_MAX_MS 30000

struct dnsmasq {
        char db_path[PATH_MAX];
        char binary[PATH_MAX];
        struct config config;
        struct dnsmasq_paths paths;
        char paths_error[PATH_MAX + 128]; /* state_dir cannot hold the files ("" = it can): DHCP cannot be turned on */
        struct store *store;

        enum dnsmasq_state state;
        pid_t pid;
        int64_t started_ms; /* monotonic */
        int64_t check_at_ms; /* look at the change log for lease changes (after a kick) */
        int64_t sync_at_ms, restart_at_ms, kill_at_ms; /* monotonic deadlines; -1 = none */
        int64_t change_cursor; /* the change-log entries up to here were looked at; -1 = none yet */
        int64_t hup_at_ms; /* a SIGHUP is due then (-1 = none pending) */
        int64_t last_hup_ms; /* when the running dnsmasq got the last one (-1 = never) */
        int64_t last_hup_cpu_ms; /* its CPU time then (-1 = unknown) */
        unsigned backoff_ms;
        bool start_after_stop;
        bool root_noted;

        char *conf_text; /* the files as last written (NULL = not yet) */
        char *hosts_text, *dhcp_hosts_text;
        char *started_conf; /* the config file the last dnsmasq was started with (kept after it exits) */

        pthread_mutex_t lock; /* guards status: dnsmasq_get_status() runs on API threads */
        struct dnsmasq_status status;
        int64_t status_restart_at_ms; /* status.next_start_in_ms is computed from it when asked */
};

static int64_t mono_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono_ms(void) {
        return mono_us() / 1000;
}

const char *dnsmasq_state_name(enum dnsmasq_state s) {
        switch (s) {
        case DNSMASQ_OFF: return "off";
        case DNSMASQ_RUNNING: return "running";
        case DNSMASQ_STOPPING: return "stopping";
        case DNSMASQ_BACKOFF: return "backoff";
        }
        return "?";
}

static bool dhcp_enabled(const struct dnsmasq *d) {
        return d->config.dhcp_interface[0] != '\0';
}

/* The status the API sees follows the state machine after every step. */
static void publish(struct dnsmasq *d) {
        pthread_mutex_lock(&d->lock);
        d->status.enabled = dhcp_enabled(d);
        d->status.state = d->state;
        d->status.pid = d->pid > 0 ? d->pid : 0;
        d->status_restart_at_ms = d->state == DNSMASQ_BACKOFF ? d->restart_at_ms : -1;
        pthread_mutex_unlock(&d->lock);
}

/* Records (and logs, once per distinct message) a failure; "" clears it. */
static void set_error(struct dnsmasq *d, const char *fmt, ...) _printf_(2, 3);
static void set_error(struct dnsmasq *d, const char *fmt, ...) {
        char msg[sizeof d->status.last_error];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        pthread_mutex_lock(&d->lock);
        bool same = streq(msg, d->status.last_error);
        strcpy(d->status.last_error, msg);
        pthread_mutex_unlock(&d->lock);
        if (msg[0] && !same)
                log_error("dhcp: %s", msg);
}

/* ---- files ---- */

/* Writes text to path through path.tmp and rename(), so dnsmasq reads either the old or
 * the new file, never half of one. No fsync: the files are derived from the store and
 * rendered again at every start. */
static int write_atomic(const char *path, const char *text) {
        char tmp[PATH_MAX + 8];
        if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
                return -ENAMETOOLONG;
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return -errno;
        size_t len = strlen(text), done = 0;
        while (done < len) {
                ssize_t n = write(fd, text + done, len - done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int r = -errno;
                        unlink(tmp);
                        return r;
                }
                done += (size_t)n;
        }
        /* The mode of an existing file is kept by open(); ours are always readable by dnsmasq. */
        if (fchmod(fd, 0644) < 0 || close(TAKE_FD(fd)) < 0 || rename(tmp, path) < 0) {
                int r = -errno;
                unlink(tmp);
                return r;
        }
        return 0;
}

/* Whether a process of another user ("nobody") can reach files in dir: every directory
 * from dir up to / searchable by others. */
static bool reachable_by_others(const char *dir) {
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s", dir);
        for (;;) {
                struct stat st;
                if (stat(p[0] ? p : "/", &st) < 0 || !(st.st_mode & S_IXOTH))
                        return false;
                char *slash = strrchr(p, '/');
                if (!slash || !p[0])
                        return true;
                *slash = '\0';
        }
}

/* ---- the child ---- */

/* In the child, between fork and exec: async-signal-safe calls only. */
static _Noreturn void child_exec(const char *binary, char *const argv[], char *const envp[], pid_t parent) {
        /* Die with edgegwd: a SIGKILLed daemon must not leave a DHCP server behind. */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
                _exit(127);
        /* Its own process group: a terminal's ^C reaches edgegwd, which stops it in order. */
        (void)setpgid(0, 0);
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        for (int s = 1; s < NSIG; s++)
                if (s != SIGKILL && s != SIGSTOP)
                        (void)sigaction(s, &dfl, NULL);
        sigset_t none;
        sigemptyset(&none);
        (void)sigprocmask(SIG_SETMASK, &none, NULL);
        int null = open("/dev/null", O_RDONLY);
        if (null > 0) {
                (void)dup2(null, STDIN_FILENO);
                (void)close(null);
        }
        /* Only stdin/stdout/stderr cross exec: dnsmasq logs to the daemon's stderr. */
        if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0)
                for (int fd = 3; fd < 4096; fd++)
                        (void)close(fd);
        execve(binary, argv, envp);
        _exit(127);
}

static int spawn(struct dnsmasq *d) {
        char conf_arg[PATH_MAX + 16];
        snprintf(conf_arg, sizeof conf_arg, "--conf-file=%s", d->paths.conf);
        char *argv[] = {d->binary, (char *)"--keep-in-foreground", conf_arg, NULL};
        char *envp[] = {(char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
        /* Remembered before the fork: a start that fails is not retried at once for the
         * same configuration (only a different one skips the backoff). */
        char *conf = strdup(d->conf_text);
        if (!conf)
                return -ENOMEM;
        free(d->started_conf);
        d->started_conf = conf;
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0)
                child_exec(d->binary, argv, envp, parent);
        d->pid = pid;
        d->state = DNSMASQ_RUNNING;
        d->started_ms = mono_ms();
        d->restart_at_ms = d->hup_at_ms = d->last_hup_ms = d->last_hup_cpu_ms = -1;
        pthread_mutex_lock(&d->lock);
        d->status.starts++;
        d->status.started_at = (int64_t)time(NULL);
        pthread_mutex_unlock(&d->lock);
        log_info("dhcp: dnsmasq started (pid %d) on %s", (int)pid, d->config.dhcp_interface);
        return 0;
}

/* Starts dnsmasq now, or schedules the next attempt when it cannot be started. */
static void start(struct dnsmasq *d) {
        if (!d->conf_text)
                return;
        int r = spawn(d);
        if (r < 0) {
                set_error(d, "cannot start %s: %s", d->binary, strerror(-r));
                d->state = DNSMASQ_BACKOFF;
                d->restart_at_ms = mono_ms() + d->backoff_ms;
                d->backoff_ms = d->backoff_ms * 2 < BACKOFF_MAX_MS ? d->backoff_ms * 2 : BACKOFF_MAX_MS;
        }
        publish(d);
}

/* SIGTERM; the exit is reaped by dnsmasq_child_exited(), SIGKILL follows from the tick. */
static void stop_async(struct dnsmasq *d, bool start_again) {
        d->start_after_stop = start_again;
        if (d->state == DNSMASQ_RUNNING) {
                kill(d->pid, SIGTERM);
                d->state = DNSMASQ_STOPPING;
                d->kill_at_ms = mono_ms() + STOP_TIMEOUT_MS;
        } else if (d->state == DNSMASQ_BACKOFF) {
                d->state = DNSMASQ_OFF;
                d->restart_at_ms = -1;
                if (start_again) {
                        d->backoff_ms = BACKOFF_MIN_MS;
                        start(d);
                }
        } else if (d->state == DNSMASQ_OFF && start_again) {
                start(d);
        }
        publish(d);
}

static void describe_exit(int status, char *out, size_t n) {
        if (WIFEXITED(status))
                snprintf(out, n, "exited with status %d", WEXITSTATUS(status));
        else if (WIFSIGNALED(status))
                snprintf(out, n, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
        else
                snprintf(out, n, "ended (wait status %d)", status);
}

/* The exit of the child we had, now reaped with status. */
static void exited(struct dnsmasq *d, int status) {
        char how[64];
        describe_exit(status, how, sizeof how);
        pid_t pid = d->pid;
        int64_t now = mono_ms(), ran = now - d->started_ms;
        d->pid = 0;
        d->kill_at_ms = d->hup_at_ms = -1;
        pthread_mutex_lock(&d->lock);
        snprintf(d->status.last_exit, sizeof d->status.last_exit, "%s", how);
        pthread_mutex_unlock(&d->lock);
        (void)unlink(d->paths.pid); /* dnsmasq, no longer root, may not have removed it */

        if (d->state == DNSMASQ_STOPPING) {
                log_info("dhcp: dnsmasq (pid %d) stopped", (int)pid);
                d->state = DNSMASQ_OFF;
                if (d->start_after_stop && dhcp_enabled(d)) {
                        d->backoff_ms = BACKOFF_MIN_MS;
                        start(d);
                }
                publish(d);
                return;
        }
        /* Nobody asked it to stop: start it again after the backoff. */
        if (ran >= STABLE_MS)
                d->backoff_ms = BACKOFF_MIN_MS;
        d->state = DNSMASQ_BACKOFF;
        d->restart_at_ms = now + d->backoff_ms;
        log_warning("dhcp: dnsmasq (pid %d) %s%s after %.1f s; starting it again in %.1f s", (int)pid, how,
                    WIFEXITED(status) && WEXITSTATUS(status) == 127 ? " (could it be run?)" : "", (double)ran / 1000,
                    (double)d->backoff_ms / 1000);
        d->backoff_ms = d->backoff_ms * 2 < BACKOFF_MAX_MS ? d->backoff_ms * 2 : BACKOFF_MAX_MS;
        pthread_mutex_lock(&d->lock);
        d->status.restarts++;
        pthread_mutex_unlock(&d->lock);
        publish(d);
}

void dnsmasq_child_exited(struct dnsmasq *d) {
        if (!d || d->pid <= 0)
                return;
        int status = 0;
        pid_t r = waitpid(d->pid, &status, WNOHANG);
        if (r == d->pid)
                exited(d, status);
        else if (r < 0 && errno == ECHILD) /* reaped elsewhere: it is gone all the same */
                exited(d, 0);
}

/* ---- re-reads ---- */

/* The CPU time (user + system) process pid has used, in ms; -1 when unknown. */
static int64_t proc_cpu_ms(pid_t pid) {
        char path[64], buf[1024];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        if (n <= 0)
                return -1;
        buf[n] = '\0';
        /* After "pid (comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt
         * cmajflt utime stime; comm may hold spaces and parentheses, so from the last ')'. */
        const char *p = strrchr(buf, ')');
        unsigned long long utime, stime;
        if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
                return -1;
        long hz = sysconf(_SC_CLK_TCK);
        return hz > 0 ? (int64_t)((utime + stime) * 1000 / (unsigned long long)hz) : -1;
}

/* When the next SIGHUP may go (see HUP_GAP_MIN_MS). */
static int64_t hup_allowed_at(const struct dnsmasq *d) {
        if (d->last_hup_ms < 0)
                return 0;
        int64_t gap = HUP_GAP_MIN_MS, cpu = proc_cpu_ms(d->pid);
        if (cpu >= 0 && d->last_hup_cpu_ms >= 0 && 3 * (cpu - d->last_hup_cpu_ms) > gap)
                gap = 3 * (cpu - d->last_hup_cpu_ms);
        return d->last_hup_ms + (gap < HUP_GAP_MAX_MS ? gap : HUP_GAP_MAX_MS);
}

/* The hosts files changed: SIGHUP now, or when the spacing allows (one pending at most:
 * it re-reads whatever the files hold by then). */
static void request_hup(struct dnsmasq *d) {
        if (d->state != DNSMASQ_RUNNING)
                return; /* a dnsmasq that starts reads the files anyway */
        int64_t now = mono_ms(), at = hup_allowed_at(d);
        if (now < at) {
                d->hup_at_ms = at;
                return;
        }
        d->hup_at_ms = -1;
        d->last_hup_ms = now;
        d->last_hup_cpu_ms = proc_cpu_ms(d->pid);
        kill(d->pid, SIGHUP);
        pthread_mutex_lock(&d->lock);
        d->status.reloads++;
        pthread_mutex_unlock(&d->lock);
        log_debug("dhcp: the leases changed: dnsmasq (pid %d) re-reads them", (int)d->pid);
}

/* ---- sync ---- */

static int open_store(struct dnsmasq *d) {
        if (d->store)
                return 0;
        char err[256] = "";
        int r = store_open(d->db_path, &d->store, err, sizeof err);
        if (r < 0)
                set_error(d, "cannot open the store %s: %s", d->db_path, err);
        return r;
}

/* Reads the change log past the cursor and moves the cursor to its end: whether a lease may
 * have changed since the last look (a "lease" entry, or entries missing because the
 * reconciler pruned them before we looked). A VM add at 10,000 leases thus costs one
 * indexed read here, not a listing and rendering of every lease. */
static bool leases_changed(struct dnsmasq *d) {
        if (open_store(d) < 0)
                return true;
        bool changed = d->change_cursor < 0;
        int64_t expect = d->change_cursor + 1;
        for (;;) {
                struct store_change *ch = NULL;
                size_t n = 0;
                if (store_changes_read(d->store, d->change_cursor < 0 ? 0 : d->change_cursor, CHANGES_BATCH, &ch,
                                       &n) < 0)
                        return true;
                for (size_t i = 0; i < n; i++) {
                        changed = changed || ch[i].seq != expect || streq(ch[i].kind, "lease");
                        expect = ch[i].seq + 1;
                }
                if (n)
                        d->change_cursor = ch[n - 1].seq;
                free(ch);
                if (n < CHANGES_BATCH)
                        return changed;
        }
}

/* Renders the three files from the configuration and the store and writes those that
 * changed. 0, with *ret_hosts_changed; a negative errno after set_error(). */
static int write_files(struct dnsmasq *d, bool *ret_hosts_changed) {
        int64_t t0 = mono_us();
        int r;
        if (mkdir(d->paths.dir, 0755) < 0 && errno != EEXIST) {
                r = -errno;
                set_error(d, "cannot create %s: %s", d->paths.dir, strerror(-r));
                return r;
        }
        /* As root, also group root: dnsmasq then changes no credential, which would clear
         * the PR_SET_PDEATHSIG it inherited. */
        const char *user = "nobody", *group = NULL;
        if (!reachable_by_others(d->paths.dir)) {
                user = group = "root";
                if (!d->root_noted)
                        log_info("dhcp: dnsmasq keeps running as root: user nobody could not read %s (make every "
                                 "directory above it searchable by others, e.g. chmod 0711 the state_dir, to let it "
                                 "drop root)", d->paths.dir);
                d->root_noted = true;
        }

        _cleanup_strbuf_ struct strbuf conf = {0}, hosts = {0}, dhcp_hosts = {0};
        if ((r = dnsmasq_render_conf(&d->config, &d->paths, user, group, &conf)) < 0) {
                set_error(d, "cannot render dnsmasq.conf: %s", strerror(-r));
                return r;
        }
        if ((r = open_store(d)) < 0)
                return r;
        /* The change log up to now is covered by the listing below. */
        (void)leases_changed(d);
        _cleanup_free_ struct lease *leases = NULL;
        size_t n = 0;
        if ((r = store_lease_list(d->store, &leases, &n)) < 0) {
                set_error(d, "cannot list the leases: %s (%s)", strerror(-r), store_errmsg(d->store));
                return r;
        }
        if ((r = dnsmasq_render_hosts(d->config.dhcp_domain, leases, n, &hosts)) < 0 ||
            (r = dnsmasq_render_dhcp_hosts(leases, n, &dhcp_hosts)) < 0) {
                set_error(d, "cannot render the hosts files: %s", strerror(-r));
                return r;
        }
        size_t names = 0;
        for (size_t i = 0; i < n; i++)
                names += lease_name_valid(leases[i].name);

        /* The hosts files first: a dnsmasq (re)started for a new config reads the new names. */
        const struct {
                const char *path;
                char **slot;
                struct strbuf *text;
        } files[] = {
                {d->paths.hosts, &d->hosts_text, &hosts},
                {d->paths.dhcp_hosts, &d->dhcp_hosts_text, &dhcp_hosts},
                {d->paths.conf, &d->conf_text, &conf},
        };
        bool hosts_changed = false;
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                const char *text = strbuf_str(files[i].text);
                if (*files[i].slot && streq(*files[i].slot, text))
                        continue;
                if ((r = write_atomic(files[i].path, text)) < 0) {
                        set_error(d, "cannot write %s: %s", files[i].path, strerror(-r));
                        return r;
                }
                free(*files[i].slot);
                *files[i].slot = strbuf_steal(files[i].text); /* never NULL: rendering succeeded */
                hosts_changed = hosts_changed || i < 2;
        }
        set_error(d, "%s", "");
        int64_t took = mono_us() - t0;
        pthread_mutex_lock(&d->lock);
        d->status.leases = n;
        d->status.names = names;
        d->status.last_sync_us = took;
        pthread_mutex_unlock(&d->lock);
        log_debug("dhcp: %zu leases, %zu names: listed, rendered and written%s in %.2f ms", n, names,
                  hosts_changed ? "" : " (no change)", (double)took / 1000);
        *ret_hosts_changed = hosts_changed;
        return 0;
}

/* Brings the files in line with the configuration and the store, then starts, restarts or
 * signals dnsmasq as the change requires. */
static void sync_now(struct dnsmasq *d) {
        d->sync_at_ms = d->check_at_ms = -1;
        if (!dhcp_enabled(d)) {
                if (d->state != DNSMASQ_OFF)
                        log_info("dhcp: [dhcp] interface is not set: stopping dnsmasq");
                stop_async(d, false);
                return;
        }
        if (d->paths_error[0]) {
                set_error(d, "%s", d->paths_error);
                publish(d);
                return;
        }
        bool hosts_changed = false;
        if (write_files(d, &hosts_changed) < 0) {
                d->sync_at_ms = mono_ms() + SYNC_RETRY_MS;
                publish(d);
                return;
        }
        d->sync_at_ms = mono_ms() + SYNC_PERIODIC_MS;
        switch (d->state) {
        case DNSMASQ_OFF:
                d->backoff_ms = BACKOFF_MIN_MS;
                start(d);
                break;
        case DNSMASQ_RUNNING:
                if (!d->started_conf || !streq(d->started_conf, d->conf_text)) {
                        log_info("dhcp: the dnsmasq configuration changed: restarting dnsmasq");
                        stop_async(d, true);
                } else if (hosts_changed) {
                        /* dnsmasq re-reads addn-hosts and dhcp-hostsfile (and clears its cache). */
                        request_hup(d);
                }
                break;
        case DNSMASQ_STOPPING:
                d->start_after_stop = true; /* it starts again with the files just written */
                break;
        case DNSMASQ_BACKOFF:
                /* A new configuration may be what it needed: try it now. */
                if (!d->started_conf || !streq(d->started_conf, d->conf_text)) {
                        d->state = DNSMASQ_OFF;
                        d->backoff_ms = BACKOFF_MIN_MS;
                        start(d);
                }
                break;
        }
        publish(d);
}

/* ---- stale children, the public functions ---- */

/* A dnsmasq started with our config file by an earlier edgegwd (that, say, was killed
 * before PR_SET_PDEATHSIG could act): its pid file names it, its command line proves it. */
static void stop_stale(const struct dnsmasq *d) {
        FILE *f = fopen(d->paths.pid, "re");
        if (!f)
                return;
        long pid = 0;
        bool ok = fscanf(f, "%ld", &pid) == 1 && pid > 1 && pid < INT32_MAX;
        fclose(f);
        if (!ok)
                return;
        char path[64], cmdline[PATH_MAX + 64] = "";
        snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
        f = fopen(path, "re");
        if (!f)
                return;
        size_t len = fread(cmdline, 1, sizeof cmdline - 1, f);
        fclose(f);
        char want[PATH_MAX + 16];
        snprintf(want, sizeof want, "--conf-file=%s", d->paths.conf);
        bool ours = false;
        for (size_t i = 0; i < len; i += strlen(cmdline + i) + 1)
                ours = ours || streq(cmdline + i, want);
        if (!ours)
                return;
        log_warning("dhcp: stopping dnsmasq (pid %ld) left running by an earlier edgegwd", pid);
        kill((pid_t)pid, SIGTERM);
        for (int i = 0; i < 200 && kill((pid_t)pid, 0) == 0; i++)
                usleep(10 * 1000);
        if (kill((pid_t)pid, 0) == 0)
                kill((pid_t)pid, SIGKILL);
}

int dnsmasq_new(const char *db_path, const char *binary, const struct config *cfg, struct dnsmasq **ret, char *err,
                size_t err_size) {
        struct dnsmasq *d = calloc(1, sizeof *d);
        if (!d) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        int r;
        if (strcpy_bounded(d->db_path, sizeof d->db_path, db_path) < 0 ||
            strcpy_bounded(d->binary, sizeof d->binary, binary ? binary : DNSMASQ_BINARY_DEFAULT) < 0) {
                snprintf(err, err_size, "path too long");
                free(d);
                return -ENAMETOOLONG;
        }
        if ((r = dnsmasq_paths_init(&d->paths, cfg->state_dir)) < 0) {
                snprintf(d->paths_error, sizeof d->paths_error, "state_dir %s cannot hold dnsmasq's files: %s",
                         cfg->state_dir,
                         r == -EINVAL ? "it contains a newline, '#', ',', a quote or a backslash" : strerror(-r));
                /* Only an error for a gateway that serves DHCP (state_dir cannot change later). */
                if (cfg->dhcp_interface[0]) {
                        snprintf(err, err_size, "%s", d->paths_error);
                        free(d);
                        return r;
                }
        }
        d->config = *cfg;
        d->state = DNSMASQ_OFF;
        d->backoff_ms = BACKOFF_MIN_MS;
        d->restart_at_ms = d->kill_at_ms = d->check_at_ms = d->change_cursor = -1;
        d->hup_at_ms = d->last_hup_ms = d->last_hup_cpu_ms = -1;
        d->sync_at_ms = mono_ms();
        pthread_mutex_init(&d->lock, NULL);
        stop_stale(d);
        publish(d);
        *ret = d;
        return 0;
}

struct dnsmasq *dnsmasq_free(struct dnsmasq *d) {
        if (!d)
                return NULL;
        if (d->pid > 0) {
                pid_t pid = d->pid;
                if (d->state != DNSMASQ_STOPPING)
                        kill(pid, SIGTERM);
                int status = 0;
                pid_t w = 0;
                for (int i = 0; i < STOP_TIMEOUT_MS / 10 && (w = waitpid(pid, &status, WNOHANG)) == 0; i++)
                        usleep(10 * 1000);
                if (w == 0) {
                        log_warning("dhcp: dnsmasq (pid %d) did not stop within %d s: SIGKILL", (int)pid,
                                    STOP_TIMEOUT_MS / 1000);
                        kill(pid, SIGKILL);
                        while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
                                ;
                }
                log_info("dhcp: dnsmasq (pid %d) stopped", (int)pid);
                (void)unlink(d->paths.pid);
        }
        store_close(d->store);
        free(d->conf_text);
        free(d->hosts_text);
        free(d->dhcp_hosts_text);
        free(d->started_conf);
        pthread_mutex_destroy(&d->lock);
        free(d);
        return NULL;
}

void dnsmasq_set_config(struct dnsmasq *d, const struct config *cfg) {
        d->config = *cfg;
        d->root_noted = false;
        d->sync_at_ms = mono_ms();
}

void dnsmasq_kick(struct dnsmasq *d) {
        if (d->check_at_ms < 0 && dhcp_enabled(d))
                d->check_at_ms = mono_ms() + COALESCE_MS;
}

int dnsmasq_timeout_ms(const struct dnsmasq *d) {
        int64_t next = -1;
        const int64_t deadlines[] = {
                d->check_at_ms,
                d->sync_at_ms,
                d->state == DNSMASQ_BACKOFF ? d->restart_at_ms : -1,
                d->state == DNSMASQ_STOPPING ? d->kill_at_ms : -1,
                d->state == DNSMASQ_RUNNING ? d->hup_at_ms : -1,
        };
        for (size_t i = 0; i < ELEMENTSOF(deadlines); i++)
                if (deadlines[i] >= 0 && (next < 0 || deadlines[i] < next))
                        next = deadlines[i];
        if (next < 0)
                return -1;
        int64_t left = next - mono_ms();
        return left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

void dnsmasq_tick(struct dnsmasq *d) {
        int64_t now = mono_ms();
        if (d->state == DNSMASQ_STOPPING && d->kill_at_ms >= 0 && now >= d->kill_at_ms) {
                log_warning("dhcp: dnsmasq (pid %d) did not stop within %d s: SIGKILL", (int)d->pid,
                            STOP_TIMEOUT_MS / 1000);
                kill(d->pid, SIGKILL);
                d->kill_at_ms = -1; /* its exit arrives as SIGCHLD */
        }
        if (d->state == DNSMASQ_BACKOFF && d->restart_at_ms >= 0 && now >= d->restart_at_ms) {
                d->state = DNSMASQ_OFF;
                start(d);
        }
        if (d->state == DNSMASQ_RUNNING && d->hup_at_ms >= 0 && now >= d->hup_at_ms)
                request_hup(d); /* sends it, or moves it on while dnsmasq is still busy */
        if (d->check_at_ms >= 0 && now >= d->check_at_ms) {
                d->check_at_ms = -1;
                if (leases_changed(d))
                        d->sync_at_ms = now;
        }
        if (d->sync_at_ms >= 0 && now >= d->sync_at_ms)
                sync_now(d);
}

void dnsmasq_get_status(struct dnsmasq *d, struct dnsmasq_status *ret) {
        pthread_mutex_lock(&d->lock);
        *ret = d->status;
        int64_t at = d->status_restart_at_ms;
        pthread_mutex_unlock(&d->lock);
        int64_t left = at >= 0 ? at - mono_ms() : 0;
        ret->next_start_in_ms = left > 0 ? left : 0;
}
