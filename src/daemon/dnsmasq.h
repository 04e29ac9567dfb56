/* SPDX-License-Identifier: MIT */
/*
 * The dnsmasq supervisor (issue 6): with [dhcp] interface set, edgegwd runs its own dnsmasq
 * as a foreground child (`dnsmasq --keep-in-foreground --conf-file=STATE_DIR/dnsmasq/
 * dnsmasq.conf`, a clean environment, its own process group, SIGTERM when edgegwd dies)
 * serving DHCP and the VMs' names on that interface only.
 *
 * The store's leases are the truth. After every reconciler run (a kick; a burst of kicks
 * is one look) the supervisor reads the store's change log past its cursor, through its own
 * store connection; only a "lease" entry (or entries pruned before it looked) makes it
 * sync. A sync (also at start, on reload and every 60 s regardless) lists the leases,
 * renders the files (model/dnsmasqconf.h) and writes those that changed atomically
 * (temporary file + rename): a lease change rewrites the two hosts files and sends SIGHUP,
 * which makes dnsmasq re-read them without a restart; a configuration change rewrites
 * dnsmasq.conf and restarts dnsmasq. dnsmasq re-reads once per signal and answers nothing
 * meanwhile (0.3 s at 10,000 leases, ~3 s when all of them are active: docs/benchmarks.md),
 * so SIGHUPs are spaced: at least 1 s apart and three times the CPU time dnsmasq used since
 * the previous one (at most 30 s); changes in between are picked up by one re-read. A dnsmasq that dies is started again after 0.5 s, doubling to 30 s
 * while it keeps dying (reset once it has run for 30 s). Stopping is SIGTERM, then SIGKILL
 * after 5 s; on reload that is asynchronous (the main loop never waits for it), at exit it
 * is waited for.
 *
 * Everything but dnsmasq_get_status() runs on the main thread, which also delivers
 * SIGCHLD (dnsmasq_child_exited) and the timer (dnsmasq_timeout_ms / dnsmasq_tick).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/config.h"

#define DNSMASQ_BINARY_DEFAULT "/usr/sbin/dnsmasq"

struct dnsmasq;

enum dnsmasq_state {
        DNSMASQ_OFF, /* DHCP is off (or nothing could be rendered yet) */
        DNSMASQ_RUNNING,
        DNSMASQ_STOPPING, /* SIGTERM sent: waiting for it to exit (then maybe starting it again) */
        DNSMASQ_BACKOFF, /* it died (or could not start): waiting to start it again */
};

struct dnsmasq_status {
        bool enabled; /* [dhcp] interface is set */
        enum dnsmasq_state state;
        pid_t pid; /* 0 = none */
        int64_t started_at; /* unix seconds of the last start, 0 = never */
        int64_t next_start_in_ms; /* DNSMASQ_BACKOFF: how long until the next start */
        uint64_t starts; /* every start */
        uint64_t restarts; /* starts after an exit nobody asked for */
        uint64_t reloads; /* SIGHUPs after a lease change */
        size_t leases, names; /* in the files dnsmasq was last given */
        int64_t last_sync_us; /* the last sync: list the leases, render, write what changed */
        char last_exit[64]; /* how the last dnsmasq ended ("exited with status 2", "killed by signal 9"), "" = never */
        char last_error[256]; /* the last failure to render, write or start, "" = none since the last success */
};

/* "off", "running", "stopping", "backoff". */
const char *dnsmasq_state_name(enum dnsmasq_state s);

/* Takes a copy of cfg and remembers db_path (its store connection is opened on the first
 * sync that needs it) and binary (the dnsmasq to run; DNSMASQ_BINARY_DEFAULT when NULL).
 * Stops a dnsmasq an earlier edgegwd left behind (its pid file, checked against the
 * command line). The first sync is due at once: call dnsmasq_tick(). 0, or a negative
 * errno with err set (also when DHCP is on and state_dir cannot hold dnsmasq's files). */
int dnsmasq_new(const char *db_path, const char *binary, const struct config *cfg, struct dnsmasq **ret, char *err,
                size_t err_size);
/* Stops dnsmasq (SIGTERM, at most 5 s, then SIGKILL) and waits for it; frees. NULL-safe;
 * returns NULL. */
struct dnsmasq *dnsmasq_free(struct dnsmasq *d);
/* Reload: takes a copy of cfg; the sync that follows (due at once) restarts dnsmasq if its
 * config file changed, and stops it if [dhcp] interface is now empty. */
void dnsmasq_set_config(struct dnsmasq *d, const struct config *cfg);
/* The store may have changed: within a few milliseconds the change log is read, and the
 * files are synced if a lease changed (a burst of kicks is one look). Cheap. */
void dnsmasq_kick(struct dnsmasq *d);
/* SIGCHLD arrived: reaps dnsmasq if it exited, and schedules what follows. */
void dnsmasq_child_exited(struct dnsmasq *d);
/* Milliseconds until dnsmasq_tick() has something to do; -1 = nothing scheduled. */
int dnsmasq_timeout_ms(const struct dnsmasq *d);
/* Does what is due: a sync, a start after backoff, SIGKILL after a stop timed out. */
void dnsmasq_tick(struct dnsmasq *d);
/* Any thread: a copy of the status (for GET /v1/status). */
void dnsmasq_get_status(struct dnsmasq *d, struct dnsmasq_status *ret);
