/* SPDX-License-Identifier: MIT */
/*
 * The plan of `edgegw setup` (docs/operations.md, "Installing"; seed 000's "setup gateway"
 * Phase 1). From what setup.c observed on the host (struct setup_state), the planner makes
 * the list of changes, in the order they are applied (struct setup_action: write a file,
 * set a sysctl, create a directory, tighten a mode, run systemctl), and the findings: the
 * problems setup does not fix itself (a forward-hook filter chain with policy drop, as
 * Docker and iptables leave it; no nf_tables; no bridge family; a later sysctl file that
 * turns forwarding off at boot), each with how to fix it, and notes worth knowing. Pure: no
 * I/O, no printing, no globals; setup.c gathers, prints and applies. Applying the plan and
 * observing again plans nothing (idempotence, tests/unit/test-setupplan.c).
 */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "../core/strbuf.h"

/* What setup installs, below the --root prefix. */
#define SETUP_SYSCTL_FILE "/etc/sysctl.d/90-edgegw.conf"
#define SETUP_SYSCTL_NAME "90-edgegw.conf" /* its name: later names override it at boot */
#define SETUP_UNIT_FILE "/etc/systemd/system/edgegw.service"
#define SETUP_UNIT_WANTS "/etc/systemd/system/multi-user.target.wants/edgegw.service"
#define SETUP_CONFIG_FILE "/etc/edgegw/edgegw.conf"
#define SETUP_STATE_DIR "/var/lib/edgegw"
#define SETUP_STATE_DIR_MODE 0750 /* the unit's StateDirectoryMode */
#define SETUP_FILE_MODE 0644
#define SETUP_SYSCTL_IPV4 "net.ipv4.ip_forward"
#define SETUP_SYSCTL_IPV6 "net.ipv6.conf.all.forwarding"

enum setup_path_status {
        SETUP_PATH_ABSENT,
        SETUP_PATH_DIR,
        SETUP_PATH_OTHER, /* exists and is not a directory */
};

/* How reading the nftables ruleset (`nft -j list ruleset`) went. */
enum setup_nft_status {
        SETUP_NFT_OK, /* nft_json holds the ruleset */
        SETUP_NFT_NO_COMMAND, /* no nft program: nothing checked */
        SETUP_NFT_NO_KERNEL, /* the kernel has no nf_tables (nft_error says what nft said) */
        SETUP_NFT_FAILED, /* anything else, e.g. not root (nft_error) */
};

/* A sysctl configuration file other than ours, for the boot-order check. */
struct setup_sysctl_file {
        const char *path; /* as shown to the user */
        const char *name; /* the name that orders it: "99-foo.conf"; /etc/sysctl.conf is read last */
        const char *text;
        bool last; /* /etc/sysctl.conf: applied after every sysctl.d file */
};

/* What setup.c observed. Every pointer is borrowed and may be NULL where said. */
struct setup_state {
        const char *root; /* the --root prefix without a trailing slash; "" for the host's / */
        const char *unit_text; /* the unit setup installs (packaging/edgegw.service) */
        const char *config_text; /* the example configuration (packaging/edgegw.conf) */

        /* In this network namespace; -1: the key does not exist (IPv6 disabled). */
        int ip_forward;
        int ipv6_forwarding;
        const char *sysctl_file_text; /* ROOT/etc/sysctl.d/90-edgegw.conf, NULL if absent */
        const struct setup_sysctl_file *sysctl_files; /* the other sysctl.d files and sysctl.conf */
        size_t n_sysctl_files;

        const char *unit_file_text; /* ROOT/etc/systemd/system/edgegw.service, NULL if absent */
        bool unit_enabled; /* the multi-user.target.wants link exists */
        bool systemd_running; /* /run/systemd/system exists (systemd is PID 1) */
        bool daemon_present; /* ROOT + the unit's ExecStart program exists */
        bool config_file_present; /* ROOT/etc/edgegw/edgegw.conf exists (never overwritten) */
        enum setup_path_status state_dir;
        mode_t state_dir_mode; /* permission bits, when state_dir is SETUP_PATH_DIR */

        enum setup_nft_status nft;
        const char *nft_json; /* `nft -j list ruleset`, when nft is SETUP_NFT_OK */
        const char *nft_error; /* nft's message otherwise, may be NULL */
        int bridge_family; /* nftables bridge family: 1 usable, 0 refused, -1 not known */
        /* `iptables-legacy -S FORWARD` / `ip6tables-legacy -S FORWARD`: NULL when no legacy
         * filter table exists in this namespace; "" when it exists but could not be read. */
        const char *iptables_legacy_forward;
        const char *ip6tables_legacy_forward;
        int bridge_nf_call_iptables; /* br_netfilter's sysctl: 0, 1, or -1 when not loaded */
        const char *bridge; /* the VMs' bridge ([dhcp] interface) for the fix texts; NULL: unknown */
};

enum setup_action_kind {
        SETUP_ACTION_WRITE, /* write content to path with mode (parents created 0755) */
        SETUP_ACTION_SYSCTL, /* set the sysctl key path to value */
        SETUP_ACTION_MKDIR, /* create directory path with mode */
        SETUP_ACTION_CHMOD, /* set path's permission bits to mode (from old_mode) */
        SETUP_ACTION_SYSTEMCTL, /* run systemctl with the words in path */
};

struct setup_action {
        enum setup_action_kind kind;
        char path[PATH_MAX]; /* a path (ROOT included), a sysctl key or systemctl's arguments */
        const char *content; /* WRITE: borrowed from the state or the plan */
        mode_t mode;
        mode_t old_mode; /* CHMOD */
        int value, old_value; /* SYSCTL */
        const char *why; /* a short reason shown after the change; static text */
};

enum setup_finding_kind {
        SETUP_PROBLEM, /* forwarding (or part of the gateway) will not work: exit status 6 */
        SETUP_NOTE, /* worth knowing; does not change the exit status */
};

#define SETUP_TEXT_MAX 1024
struct setup_finding {
        enum setup_finding_kind kind;
        char text[SETUP_TEXT_MAX]; /* what is wrong */
        char fix[SETUP_TEXT_MAX]; /* how to fix it; may be "" for a note */
};

#define SETUP_ACTIONS_MAX 12
#define SETUP_FINDINGS_MAX 24
struct setup_plan {
        struct setup_action actions[SETUP_ACTIONS_MAX];
        size_t n_actions;
        struct setup_finding findings[SETUP_FINDINGS_MAX];
        size_t n_findings;
        size_t n_findings_dropped; /* beyond SETUP_FINDINGS_MAX */
        size_t n_problems;
        char sysctl_text[256]; /* the content of our sysctl.d file */
};

/* Makes the plan for state s into *ret (overwritten; it borrows s's texts, so it must not
 * outlive them). Returns 0, or -ENAMETOOLONG when s->root makes a path too long. */
int setup_plan_make(const struct setup_state *s, struct setup_plan *ret);

/* One line for an action: "would write PATH (0644): WHY" when !done, "wrote PATH ..." after
 * it was done; appended to out. */
void setup_action_describe(const struct setup_action *a, bool done, struct strbuf *out);

/* The program the unit's ExecStart= starts ("/usr/local/sbin/edgegwd"), into ret (size n).
 * Returns 0, or -ENOENT when the text has no ExecStart= with an absolute path,
 * -ENAMETOOLONG when it does not fit. */
int setup_unit_program(const char *unit_text, char *ret, size_t n);

/* The value a sysctl.d text sets key to: the last "key = value" line wins; "a/b/c" spells
 * "a.b.c" too; '#' and ';' start comments; a leading '-' (ignore failures) is allowed.
 * Returns 1 with the value (its first 15 characters) in ret, 0 when the text does not set
 * the key. */
int setup_sysctl_lookup(const char *text, const char *key, char ret[static 16]);
