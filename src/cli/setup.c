/* SPDX-License-Identifier: MIT */
/*
 * `edgegw setup [--dry-run] [--root DIR]` (issue 6; seed 000's "setup gateway" Phase 1):
 * prepares this host for edgegwd. It observes the host (sysctls of this network namespace,
 * the sysctl.d files, the unit, the state directory, the nftables ruleset through the nft
 * program, legacy iptables, br_netfilter), lets setupplan.c decide what to change and what
 * to report, prints every change (--dry-run: and stops there) and applies them in order,
 * stopping at the first that fails. The only command that does not talk to edgegwd.
 * Exit status: 0, 1 when a change failed, 6 when a problem it does not fix remains
 * (docs/cli.md). The unit and example configuration it installs are compiled in
 * (setupdata.h, generated from packaging/ by meson.build).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "setupdata.h"
#include "setupplan.h"

extern char **environ;

#define SETUP_READ_MAX (64u << 20) /* a file or a program's output; a big ruleset fits */
#define SETUP_SYSCTL_FILES_MAX 256

/* Prints "edgegw: setup: WHAT: ERROR" and returns r. */
static int report_errno(int r, const char *fmt, ...) _printf_(2, 3);
static int report_errno(int r, const char *fmt, ...) {
        va_list ap;
        fputs("edgegw: setup: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, ": %s\n", strerror(-r));
        return r;
}

/* ---- observing ----------------------------------------------------------------------- */

/* The whole file at path into *ret (NUL-terminated). Returns 0, or a negative errno
 * (-ENOENT when it does not exist, -EFBIG beyond SETUP_READ_MAX). */
static int read_text(const char *path, char **ret) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        _cleanup_strbuf_ struct strbuf b = {};
        char chunk[8192];
        for (;;) {
                ssize_t n = read(fd, chunk, sizeof chunk);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                if (b.len + (size_t)n > SETUP_READ_MAX)
                        return -EFBIG;
                strbuf_appendn(&b, chunk, (size_t)n);
        }
        if (strbuf_status(&b) < 0)
                return -ENOMEM;
        *ret = b.data ? strbuf_steal(&b) : strdup("");
        return *ret ? 0 : -ENOMEM;
}

/* A sysctl of this network namespace: its value, or -1 when the key does not exist. */
static int read_sysctl(const char *proc_path) {
        _cleanup_free_ char *text = NULL;
        if (read_text(proc_path, &text) < 0)
                return -1;
        char *end;
        long v = strtol(text, &end, 10);
        if (end == text || v < 0 || v > 1000)
                return -1;
        return (int)v;
}

static bool path_exists(const char *path) {
        struct stat st;
        return lstat(path, &st) == 0;
}

/* The program's full path from $PATH, then the usual system directories (sudo may have a
 * PATH without sbin); NULL when none is executable. */
static char *find_program(const char *name) {
        const char *env = getenv("PATH");
        _cleanup_strbuf_ struct strbuf dirs = {};
        strbuf_printf(&dirs, "%s:/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin", env ? env : "");
        if (strbuf_status(&dirs) < 0)
                return NULL;
        char *save = NULL;
        for (char *dir = strtok_r(dirs.data, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
                char path[PATH_MAX];
                if (dir[0] != '/' || snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
                        continue;
                if (access(path, X_OK) == 0)
                        return strdup(path);
        }
        return NULL;
}

struct program_run {
        char *out; /* stdout, NUL-terminated */
        char *err; /* stderr, NUL-terminated, trailing newlines dropped */
        int status; /* the exit status; -1 when killed by a signal */
};

static void program_run_done(struct program_run *r) {
        free(r->out);
        free(r->err);
        *r = (struct program_run){};
}

/* Runs the program (argv[0] a full path) with stdin from /dev/null and collects its output.
 * Returns 0 when it ran (whatever its exit status), or a negative errno. */
static int run_program(char *const argv[], struct program_run *ret) {
        int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
        int r = 0;
        pid_t pid = -1;
        posix_spawn_file_actions_t fa;
        bool fa_made = false;
        struct strbuf out = {}, err = {};

        if (pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0) {
                r = -errno;
                goto finish;
        }
        if ((r = -posix_spawn_file_actions_init(&fa)) < 0)
                goto finish;
        fa_made = true;
        if ((r = -posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) < 0 ||
            (r = -posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1)) < 0 ||
            (r = -posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2)) < 0)
                goto finish;
        if ((r = -posix_spawn(&pid, argv[0], &fa, NULL, argv, environ)) < 0) {
                pid = -1;
                goto finish;
        }
        close(out_pipe[1]), out_pipe[1] = -1;
        close(err_pipe[1]), err_pipe[1] = -1;

        struct pollfd fds[2] = {{.fd = out_pipe[0], .events = POLLIN}, {.fd = err_pipe[0], .events = POLLIN}};
        struct strbuf *bufs[2] = {&out, &err};
        while (fds[0].fd >= 0 || fds[1].fd >= 0) {
                if (poll(fds, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        goto finish;
                }
                for (size_t i = 0; i < 2; i++) {
                        if (fds[i].fd < 0 || !fds[i].revents)
                                continue;
                        char chunk[8192];
                        ssize_t n = read(fds[i].fd, chunk, sizeof chunk);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0) {
                                fds[i].fd = -1; /* closed below through the pipe arrays */
                                continue;
                        }
                        if (bufs[i]->len + (size_t)n <= SETUP_READ_MAX)
                                strbuf_appendn(bufs[i], chunk, (size_t)n);
                }
        }
        if (strbuf_status(&out) < 0 || strbuf_status(&err) < 0) {
                r = -ENOMEM;
                goto finish;
        }
        int wstatus;
        while (waitpid(pid, &wstatus, 0) < 0)
                if (errno != EINTR) {
                        r = -errno;
                        pid = -1;
                        goto finish;
                }
        pid = -1;
        while (err.len > 0 && (err.data[err.len - 1] == '\n' || err.data[err.len - 1] == '\r'))
                err.data[--err.len] = '\0';
        *ret = (struct program_run){
                .out = out.data ? strbuf_steal(&out) : strdup(""),
                .err = err.data ? strbuf_steal(&err) : strdup(""),
                .status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1,
        };
        if (!ret->out || !ret->err) {
                program_run_done(ret);
                r = -ENOMEM;
        }
finish:
        if (pid > 0)
                while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                        ;
        for (size_t i = 0; i < 2; i++) {
                closep(&out_pipe[i]);
                closep(&err_pipe[i]);
        }
        if (fa_made)
                posix_spawn_file_actions_destroy(&fa);
        strbuf_done(&out);
        strbuf_done(&err);
        return r;
}

/* src into dst (size n, truncated) with its line breaks as "; ": a finding is one line. */
static void one_line(char *dst, size_t n, const char *src) {
        size_t k = 0;
        for (; *src && k + 3 < n; src++) {
                if (*src != '\n') {
                        dst[k++] = *src;
                } else {
                        dst[k++] = ';';
                        dst[k++] = ' ';
                }
        }
        dst[k] = '\0';
}

/* nft's message for a kernel without nf_tables (or without the family asked for). */
static bool nft_says_unsupported(const char *err) {
        return strstr(err, "not supported") || strstr(err, "Not supported");
}

/* Everything setup_state points to that setup.c owns. */
struct observed {
        char *sysctl_file_text, *unit_file_text;
        struct setup_sysctl_file sysctl_files[SETUP_SYSCTL_FILES_MAX];
        size_t n_sysctl_files;
        char *sysctl_paths[SETUP_SYSCTL_FILES_MAX];
        char *sysctl_texts[SETUP_SYSCTL_FILES_MAX];
        struct program_run nft, iptables, ip6tables;
        char nft_error[512];
        struct config config;
};

static void observed_done(struct observed *o) {
        free(o->sysctl_file_text);
        free(o->unit_file_text);
        for (size_t i = 0; i < o->n_sysctl_files; i++) {
                free(o->sysctl_paths[i]);
                free(o->sysctl_texts[i]);
        }
        program_run_done(&o->nft);
        program_run_done(&o->iptables);
        program_run_done(&o->ip6tables);
}

static bool sysctl_name_seen(const struct observed *o, const char *name) {
        for (size_t i = 0; i < o->n_sysctl_files; i++)
                if (streq(o->sysctl_files[i].name, name))
                        return true;
        return false;
}

static void add_sysctl_file(struct observed *o, const char *path, bool last) {
        if (o->n_sysctl_files >= SETUP_SYSCTL_FILES_MAX)
                return;
        char *text = NULL;
        if (read_text(path, &text) < 0)
                return;
        char *copy = strdup(path);
        if (!copy) {
                free(text);
                return;
        }
        size_t i = o->n_sysctl_files++;
        o->sysctl_paths[i] = copy;
        o->sysctl_texts[i] = text;
        const char *slash = strrchr(copy, '/');
        o->sysctl_files[i] = (struct setup_sysctl_file){
                .path = copy, .name = slash ? slash + 1 : copy, .text = text, .last = last};
}

/* The files systemd-sysctl and `sysctl --system` read, in their precedence: a name in /etc
 * hides the same name in /run and /usr; /etc/sysctl.conf (procps) comes last. */
static void observe_sysctl_files(const char *root, struct observed *o) {
        static const char *const dirs[] = {"/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d",
                                           "/usr/lib/sysctl.d", "/lib/sysctl.d"};
        struct stat conf_st;
        char conf[PATH_MAX];
        snprintf(conf, sizeof conf, "%s/etc/sysctl.conf", root);
        bool conf_linked = false; /* Debian links /etc/sysctl.d/99-sysctl.conf to it */
        bool have_conf = stat(conf, &conf_st) == 0;

        for (size_t d = 0; d < ELEMENTSOF(dirs); d++) {
                char dir[PATH_MAX];
                snprintf(dir, sizeof dir, "%s%s", root, dirs[d]);
                struct dirent **names = NULL;
                int n = scandir(dir, &names, NULL, alphasort);
                for (int i = 0; i < n; i++) {
                        const char *name = names[i]->d_name;
                        size_t len = strlen(name);
                        char path[PATH_MAX];
                        struct stat st;
                        if (len > 5 && streq(name + len - 5, ".conf") && !streq(name, SETUP_SYSCTL_NAME) &&
                            !sysctl_name_seen(o, name) &&
                            snprintf(path, sizeof path, "%s/%s", dir, name) < (int)sizeof path) {
                                if (have_conf && stat(path, &st) == 0 && st.st_dev == conf_st.st_dev &&
                                    st.st_ino == conf_st.st_ino)
                                        conf_linked = true;
                                add_sysctl_file(o, path, false);
                        }
                        free(names[i]);
                }
                free(names);
        }
        if (have_conf && !conf_linked)
                add_sysctl_file(o, conf, true);
}

/* The VMs' bridge for the fix texts: [dhcp] interface of --config, else of the
 * configuration setup would install (ROOT/etc/edgegw/edgegw.conf) if it is there. */
static const char *observe_bridge(const struct cli *cli, const char *root, struct observed *o) {
        char path[PATH_MAX];
        const char *config_path = cli->config_path;
        if (!config_path) {
                snprintf(path, sizeof path, "%s%s", root, SETUP_CONFIG_FILE);
                if (!path_exists(path))
                        return NULL;
                config_path = path;
        }
        struct config_diag diag = {};
        if (config_load(config_path, &o->config, &diag) < 0)
                return NULL;
        return o->config.dhcp_interface[0] ? o->config.dhcp_interface : NULL;
}

static void observe_firewall(struct setup_state *s, struct observed *o) {
        _cleanup_free_ char *nft = find_program("nft");
        s->bridge_family = -1;
        if (!nft) {
                s->nft = SETUP_NFT_NO_COMMAND;
        } else {
                char *list[] = {nft, "-j", "list", "ruleset", NULL};
                int r = run_program(list, &o->nft);
                if (r < 0) {
                        snprintf(o->nft_error, sizeof o->nft_error, "cannot run %s: %s", nft, strerror(-r));
                        s->nft = SETUP_NFT_FAILED;
                } else if (o->nft.status != 0) {
                        one_line(o->nft_error, sizeof o->nft_error,
                                 o->nft.err[0] ? o->nft.err : "failed without a message");
                        s->nft = nft_says_unsupported(o->nft.err) ? SETUP_NFT_NO_KERNEL : SETUP_NFT_FAILED;
                } else {
                        s->nft = SETUP_NFT_OK;
                        s->nft_json = o->nft.out;
                }
                s->nft_error = o->nft_error;
                if (s->nft == SETUP_NFT_OK) {
                        /* --check sends the batch to the kernel and aborts it: nothing is made. */
                        char *probe[] = {nft, "-c", "add", "table", "bridge", "edgegw_setup_probe", NULL};
                        struct program_run p = {};
                        if (run_program(probe, &p) == 0)
                                s->bridge_family = p.status == 0 ? 1 : nft_says_unsupported(p.err) ? 0 : -1;
                        program_run_done(&p);
                }
        }

        /* Legacy iptables only when this namespace has a legacy filter table: running
         * iptables-legacy otherwise could load modules just to find nothing. */
        const struct {
                const char *names, *program;
                struct program_run *run;
                const char **forward;
        } legacy[] = {
                {"/proc/net/ip_tables_names", "iptables-legacy", &o->iptables, &s->iptables_legacy_forward},
                {"/proc/net/ip6_tables_names", "ip6tables-legacy", &o->ip6tables, &s->ip6tables_legacy_forward},
        };
        for (size_t i = 0; i < ELEMENTSOF(legacy); i++) {
                _cleanup_free_ char *names = NULL;
                if (read_text(legacy[i].names, &names) < 0)
                        continue;
                bool filter = false;
                char *save = NULL;
                for (char *t = strtok_r(names, "\n", &save); t; t = strtok_r(NULL, "\n", &save))
                        filter |= streq(t, "filter");
                if (!filter)
                        continue;
                *legacy[i].forward = ""; /* the table is there; "" until its rules are read */
                _cleanup_free_ char *program = find_program(legacy[i].program);
                if (!program)
                        continue;
                char *argv[] = {program, "-S", "FORWARD", NULL};
                if (run_program(argv, legacy[i].run) == 0 && legacy[i].run->status == 0)
                        *legacy[i].forward = legacy[i].run->out;
        }
        s->bridge_nf_call_iptables = read_sysctl("/proc/sys/net/bridge/bridge-nf-call-iptables");
}

static int observe(const struct cli *cli, const char *root, struct setup_state *s, struct observed *o) {
        char path[PATH_MAX];
        struct stat st;
        int r;

        *s = (struct setup_state){.root = root, .unit_text = setup_unit_text, .config_text = setup_config_text};
        s->ip_forward = read_sysctl("/proc/sys/net/ipv4/ip_forward");
        s->ipv6_forwarding = read_sysctl("/proc/sys/net/ipv6/conf/all/forwarding");

        snprintf(path, sizeof path, "%s%s", root, SETUP_SYSCTL_FILE);
        r = read_text(path, &o->sysctl_file_text);
        if (r < 0 && r != -ENOENT && r != -ENOTDIR) /* a parent that is a file: the write says so */
                return report_errno(r, "cannot read %s", path);
        s->sysctl_file_text = o->sysctl_file_text;
        observe_sysctl_files(root, o);
        s->sysctl_files = o->sysctl_files;
        s->n_sysctl_files = o->n_sysctl_files;

        snprintf(path, sizeof path, "%s%s", root, SETUP_UNIT_FILE);
        r = read_text(path, &o->unit_file_text);
        if (r < 0 && r != -ENOENT && r != -ENOTDIR) /* a parent that is a file: the write says so */
                return report_errno(r, "cannot read %s", path);
        s->unit_file_text = o->unit_file_text;
        snprintf(path, sizeof path, "%s%s", root, SETUP_UNIT_WANTS);
        s->unit_enabled = path_exists(path);
        s->systemd_running = path_exists("/run/systemd/system");
        char program[PATH_MAX];
        s->daemon_present = true;
        if (setup_unit_program(setup_unit_text, program, sizeof program) == 0) {
                snprintf(path, sizeof path, "%s%s", root, program);
                s->daemon_present = path_exists(path);
        }
        snprintf(path, sizeof path, "%s%s", root, SETUP_CONFIG_FILE);
        s->config_file_present = path_exists(path);
        snprintf(path, sizeof path, "%s%s", root, SETUP_STATE_DIR);
        if (stat(path, &st) < 0)
                s->state_dir = SETUP_PATH_ABSENT;
        else if (S_ISDIR(st.st_mode)) {
                s->state_dir = SETUP_PATH_DIR;
                s->state_dir_mode = st.st_mode & 07777;
        } else
                s->state_dir = SETUP_PATH_OTHER;

        observe_firewall(s, o);
        s->bridge = observe_bridge(cli, root, o);
        return 0;
}

/* ---- applying -------------------------------------------------------------------------- */

/* Creates the missing parent directories of path (mode 0755). */
static int make_parents(const char *path) {
        char dir[PATH_MAX];
        if (strcpy_bounded(dir, sizeof dir, path) < 0)
                return -ENAMETOOLONG;
        for (char *p = dir + 1; (p = strchr(p, '/')); p++) {
                *p = '\0';
                if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        return 0;
}

/* Replaces path atomically: a temporary file beside it, written, synced and renamed. */
static int write_file(const char *path, const char *content, mode_t mode) {
        char tmp[PATH_MAX];
        int r = make_parents(path);
        if (r < 0)
                return r;
        if (snprintf(tmp, sizeof tmp, "%s.edgegw-setup", path) >= (int)sizeof tmp)
                return -ENAMETOOLONG;
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        size_t len = strlen(content), done = 0;
        while (done < len) {
                ssize_t n = write(fd, content + done, len - done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        goto fail;
                }
                done += (size_t)n;
        }
        if (fchmod(fd, mode) < 0 || fsync(fd) < 0) {
                r = -errno;
                goto fail;
        }
        if (close(TAKE_FD(fd)) < 0 || rename(tmp, path) < 0) {
                r = -errno;
                goto fail;
        }
        return 0;
fail:
        unlink(tmp);
        return r;
}

static int set_sysctl(const char *key, int value) {
        char path[PATH_MAX] = "/proc/sys/";
        size_t n = strlen(path);
        for (const char *k = key; *k && n + 1 < sizeof path; k++)
                path[n++] = *k == '.' ? '/' : *k;
        path[n] = '\0';
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        char text[16];
        int len = snprintf(text, sizeof text, "%d\n", value);
        if (write(fd, text, (size_t)len) != len)
                return errno ? -errno : -EIO;
        return 0;
}

static int run_systemctl(const char *args, char *error, size_t error_size) {
        _cleanup_free_ char *systemctl = find_program("systemctl");
        _cleanup_free_ char *words = strdup(args);
        if (!systemctl)
                return -ENOENT;
        if (!words)
                return -ENOMEM;
        char *argv[8] = {systemctl};
        size_t n = 1;
        char *save = NULL;
        for (char *w = strtok_r(words, " ", &save); w && n + 1 < ELEMENTSOF(argv); w = strtok_r(NULL, " ", &save))
                argv[n++] = w;
        argv[n] = NULL;
        struct program_run run = {};
        int r = run_program(argv, &run);
        if (r == 0 && run.status != 0) {
                snprintf(error, error_size, "%s", run.err);
                r = -EIO;
        }
        program_run_done(&run);
        return r;
}

/* Applies one action. On failure prints why (naming the action) and returns -errno. */
static int apply(const struct setup_action *a) {
        char error[512] = "";
        int r = 0;
        switch (a->kind) {
        case SETUP_ACTION_WRITE:
                r = write_file(a->path, a->content, a->mode);
                break;
        case SETUP_ACTION_SYSCTL:
                r = set_sysctl(a->path, a->value);
                break;
        case SETUP_ACTION_MKDIR:
                r = make_parents(a->path);
                if (r >= 0 && mkdir(a->path, a->mode) < 0 && errno != EEXIST)
                        r = -errno;
                if (r >= 0 && chmod(a->path, a->mode) < 0) /* mkdir's mode went through the umask */
                        r = -errno;
                break;
        case SETUP_ACTION_CHMOD:
                if (chmod(a->path, a->mode) < 0)
                        r = -errno;
                break;
        case SETUP_ACTION_SYSTEMCTL:
                r = run_systemctl(a->path, error, sizeof error);
                break;
        }
        if (r >= 0)
                return 0;
        _cleanup_strbuf_ struct strbuf line = {};
        struct setup_action bare = *a;
        bare.why = NULL;
        setup_action_describe(&bare, false, &line);
        const char *text = strbuf_str(&line);
        /* "would write X" -> "cannot write X" */
        const char *verb = strncmp(text, "would ", 6) == 0 ? text + 6 : text;
        if (error[0])
                fprintf(stderr, "edgegw: setup: cannot %s: %s\n", verb, error);
        else
                fprintf(stderr, "edgegw: setup: cannot %s: %s%s\n", verb, strerror(-r),
                        r == -EACCES || r == -EPERM ? " (run edgegw setup as root)" : "");
        return r;
}

/* ---- the command ----------------------------------------------------------------------- */

static void print_findings(const struct setup_plan *p) {
        for (size_t i = 0; i < p->n_findings; i++) {
                const struct setup_finding *f = &p->findings[i];
                printf("%s: %s\n", f->kind == SETUP_PROBLEM ? "problem" : "note", f->text);
                if (f->fix[0])
                        printf("  fix: %s\n", f->fix);
        }
        if (p->n_findings_dropped)
                printf("(and %zu more findings)\n", p->n_findings_dropped);
}

static enum cli_exit print_json(const struct setup_plan *p, json_t *changes) {
        json_t *findings = json_array();
        for (size_t i = 0; findings && i < p->n_findings; i++) {
                const struct setup_finding *f = &p->findings[i];
                json_array_append_new(findings, json_pack("{s:s, s:s, s:s}", "kind",
                                                          f->kind == SETUP_PROBLEM ? "problem" : "note", "text",
                                                          f->text, "fix", f->fix));
        }
        json_t *root = json_pack("{s:O, s:o*, s:I}", "changes", changes, "findings", findings, "problems",
                                 (json_int_t)p->n_problems);
        if (!root)
                return cli_out_of_memory();
        enum cli_exit x = cli_print_json(root);
        json_decref(root);
        return x;
}

enum cli_exit cmd_setup(const struct cli *cli, const char *arg) {
        (void)arg;
        if (cli->url_option)
                return cli_usage_error("setup: it prepares the host it runs on, so --url does not apply");
        char root[PATH_MAX] = "";
        if (cli->root && strcpy_bounded(root, sizeof root, cli->root) < 0)
                return cli_usage_error("setup: --root is too long");
        for (size_t n = strlen(root); n > 0 && root[n - 1] == '/'; n--)
                root[n - 1] = '\0';

        _cleanup_free_ struct setup_state *state = calloc(1, sizeof *state);
        _cleanup_free_ struct observed *o = calloc(1, sizeof *o);
        _cleanup_free_ struct setup_plan *plan = calloc(1, sizeof *plan);
        if (!state || !o || !plan)
                return cli_out_of_memory();
        int r = observe(cli, root, state, o);
        if (r >= 0) {
                r = setup_plan_make(state, plan);
                if (r < 0)
                        report_errno(r, "--root %s makes the paths too long", root);
        }
        if (r < 0) {
                observed_done(o);
                return r == -ENOMEM ? cli_out_of_memory() : CLI_EXIT_ERROR;
        }

        enum cli_exit x = CLI_EXIT_OK;
        json_t *changes = json_array();
        _cleanup_strbuf_ struct strbuf line = {};
        if (!changes)
                x = cli_out_of_memory();
        for (size_t i = 0; x == CLI_EXIT_OK && i < plan->n_actions; i++) {
                if (!cli->dry_run && apply(&plan->actions[i]) < 0) {
                        x = CLI_EXIT_ERROR;
                        break;
                }
                strbuf_reset(&line);
                setup_action_describe(&plan->actions[i], !cli->dry_run, &line);
                if (strbuf_status(&line) < 0 || json_array_append_new(changes, json_string(strbuf_str(&line))) < 0) {
                        x = cli_out_of_memory();
                        break;
                }
                if (!cli->json)
                        printf("%s\n", strbuf_str(&line));
        }
        if (x == CLI_EXIT_OK || x == CLI_EXIT_ERROR) {
                if (cli->json) {
                        enum cli_exit j = print_json(plan, changes);
                        if (x == CLI_EXIT_OK)
                                x = j;
                } else if (x == CLI_EXIT_OK) { /* after a failed change, its message is the last word */
                        if (plan->n_actions == 0)
                                printf("nothing to change\n");
                        print_findings(plan);
                }
        }
        if (x == CLI_EXIT_OK && plan->n_problems) {
                fprintf(stderr,
                        "edgegw: setup: %zu problem%s found that setup does not fix (see above): the gateway will "
                        "not work fully until %s fixed\n",
                        plan->n_problems, plan->n_problems == 1 ? "" : "s",
                        plan->n_problems == 1 ? "it is" : "they are");
                x = CLI_EXIT_DRIFT;
        }
        json_decref(changes);
        observed_done(o);
        return x;
}
