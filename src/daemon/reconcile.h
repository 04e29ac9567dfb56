/* SPDX-License-Identifier: MIT */
/*
 * The reconciler: converges the kernel's `inet edgegw` table and the proxy's tables with the
 * store. It runs on the daemon's main thread; API threads only ask for a run
 * (reconciler_request) and may wait until the rules reflecting their change are live
 * (reconciler_wait).
 *
 * Level-triggered and idempotent. The first run, a run after a failure, and a run after
 * drift was detected replace the whole table (VMs and standalone forwards) in one
 * transaction (carrying counter values over). Every other run reads the store's change log
 * from its cursor and applies only the touched VMs' and forwards' elements in one netlink
 * transaction, so a change costs the same with 10 or 10,000 VMs.
 *
 * The proxy's route table (the VMs' generated names and extra host names, and the routes)
 * is rebuilt when a VM or route change came through the log; its publish is a part of its
 * own, retried on failure without touching the nft table.
 *
 * With forward_mode = userspace nftables is never touched: the same runs keep the applied
 * indexes and publish them to the proxy as a forwards table instead (the standalone forwards,
 * then whole VMs, within the open-files limit; the rest are refused with an error in the
 * status and the log).
 *
 * The VM network (issue 6, kernel mode only): the full render adds outbound SNAT (from
 * [dhcp]/[outbound] and the default route's interface) to the inet table, and the bridge
 * table guarding [dhcp] interface's ports; lease changes in the log become element changes
 * of its lease sets, link changes (an rtnetlink socket) of its port set, both in the same
 * kind of netlink batch. Resyncs also notice a moved default route (full run) and a missed
 * port change.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "core/config.h"
#include "core/strbuf.h"

struct reconciler;
struct proxy;

/* One part of a run: "nft" (kernel mode) or "forwards" (userspace mode), "routes" (the
 * proxy's route table), and, when the configuration has a VM network, "vmnet" (whether the
 * SNAT and anti-spoofing it asks for could be rendered; fails in userspace mode), in this
 * order (n_parts = 2 or 3). A part's run counts only when it had work to do; the top-level
 * fields sum up every run (last_error: the first failing part's; vmnet's failures are its
 * own and retry nothing). */
#define RECONCILER_PARTS_MAX 4
struct reconciler_part_status {
        char name[16];
        uint64_t runs, failures;
        time_t last_run; /* 0 = never */
        bool last_ok;
        char last_error[256];
        double last_duration_ms, total_duration_ms;
};

struct reconciler_status {
        uint64_t runs, failures;
        time_t last_run; /* 0 = never */
        bool last_ok;
        char last_error[512];
        double last_duration_ms;
        bool last_full;
        size_t vms; /* VMs in the applied table */
        bool userspace; /* forward_mode = userspace: forwards are the proxy's, not nft's */
        size_t forward_ports; /* userspace: ports published to the proxy */
        char forwards_error[256]; /* userspace: why some VMs' forwards were refused; "" = none */
        size_t n_parts;
        struct reconciler_part_status parts[RECONCILER_PARTS_MAX];
};

/* Opens its own store connection at db_path. Returns 0 or a negative errno (err says why). */
int reconciler_new(const char *db_path, struct reconciler **ret, char *err, size_t err_size);
struct reconciler *reconciler_free(struct reconciler *r); /* NULL-safe, returns NULL */

/* Main thread: the configuration names are built from (datacenter, domain, default
 * backend) and the forward mode (fixed after the first call). Takes effect at the next run. */
void reconciler_set_config(struct reconciler *r, const struct config *cfg);
/* Main thread: the proxy that gets a new route table whenever the applied VMs, their names or
 * the routes change (and, in userspace mode, a new forwards table whenever the applied VMs
 * or forwards change); publishes both at once. NULL detaches. */
void reconciler_set_proxy(struct reconciler *r, struct proxy *p);

/* Any thread: ask for a run; returns the generation that run will have applied. */
uint64_t reconciler_request(struct reconciler *r);
/* Ask for a full replace of the table on the next run (reload, drift). Any thread. */
uint64_t reconciler_request_full(struct reconciler *r);
/* Any thread: waits up to timeout_ms for generation gen to be applied. True if it was. */
bool reconciler_wait(struct reconciler *r, uint64_t gen, int timeout_ms);
/* The fd the main loop polls (an epoll over the request eventfd and the link watch): readable
 * when a run was requested or a link changed; reconciler_run() drains both. */
int reconciler_fd(const struct reconciler *r);
/* Main thread: drains the eventfd and converges. Returns 0, or a negative errno when a part
 * failed (the run is then retried after reconciler_retry_ms()). */
int reconciler_run(struct reconciler *r);
/* Milliseconds until a failed run should be retried (exponential backoff, 0 = none due). */
int reconciler_retry_ms(const struct reconciler *r);
/* Main thread: compares the live tables with what was applied (VMs and forwards; the SNAT
 * chain, leases and ports); requests a full run when they differ or the default route's
 * interface moved, a run when the bridge's ports changed unnoticed (userspace mode: the
 * proxy's forward listeners, only reported). Returns the number of differences or a
 * negative errno. */
int reconciler_resync(struct reconciler *r);
/* Any thread: a copy of the status. */
void reconciler_get_status(struct reconciler *r, struct reconciler_status *ret);

/* Any thread: compares the live tables with the store's desired state (VMs, forwards, leases;
 * the VM network as the running reconciler resolved it last, the bridge's ports as the kernel
 * has them now) using its own store and nft connections (db_path). Appends a line per
 * difference to report; returns the count or a negative errno (report then holds the
 * reason). */
int reconcile_check(const char *db_path, struct strbuf *report);
/* The same for forward_mode = userspace: the store's VMs and forwards against the proxy's
 * live forward listeners ("missing: listener tcp 20000"). */
int reconcile_check_forwards(const char *db_path, struct proxy *p, struct strbuf *report);
