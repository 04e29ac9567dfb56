/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the planner of `edgegw setup` (src/cli/setupplan.c): the changes a fresh
 * host needs, in order; that applying them and observing again plans nothing; every
 * finding (drop-policy chains from iptables, Docker and nftables, legacy iptables, missing
 * nf_tables or bridge family, sysctl files that turn forwarding off at boot, the state
 * directory) with its fix; and the small parsers (ExecStart=, sysctl.d lines).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/cli/setupplan.h"

static const char unit[] = "[Unit]\nDescription=edgegw\n[Service]\nExecStart=/usr/local/sbin/edgegwd --config "
                           "/etc/edgegw/edgegw.conf\n[Install]\nWantedBy=multi-user.target\n";
static const char config[] = "[gateway]\ndatacenter = \"dc-lk\"\n";
static const char empty_ruleset[] =
        "{\"nftables\": [{\"metainfo\": {\"version\": \"1.0.6\", \"json_schema_version\": 1}}]}";

/* A fresh host (or network namespace): forwarding off, nothing installed, no firewall. */
static struct setup_state fresh(void) {
        return (struct setup_state){
                .root = "",
                .unit_text = unit,
                .config_text = config,
                .ip_forward = 0,
                .ipv6_forwarding = 0,
                .daemon_present = true,
                .state_dir = SETUP_PATH_ABSENT,
                .nft = SETUP_NFT_OK,
                .nft_json = empty_ruleset,
                .bridge_family = 1,
                .bridge_nf_call_iptables = -1,
        };
}

static struct setup_plan plan; /* big: not on the stack */
static char sysctl_written[256];

static void make(const struct setup_state *s) {
        assert_int_equal(setup_plan_make(s, &plan), 0);
}

/* What the host looks like after the plan was applied (setup.c's apply()). */
static void apply_plan(struct setup_state *s) {
        char path[PATH_MAX];
        for (size_t i = 0; i < plan.n_actions; i++) {
                const struct setup_action *a = &plan.actions[i];
                switch (a->kind) {
                case SETUP_ACTION_WRITE:
                        if (snprintf(path, sizeof path, "%s%s", s->root, SETUP_SYSCTL_FILE) > 0 &&
                            !strcmp(a->path, path)) {
                                snprintf(sysctl_written, sizeof sysctl_written, "%s", a->content);
                                s->sysctl_file_text = sysctl_written;
                        } else if (snprintf(path, sizeof path, "%s%s", s->root, SETUP_UNIT_FILE) > 0 &&
                                   !strcmp(a->path, path)) {
                                assert_ptr_equal(a->content, s->unit_text);
                                s->unit_file_text = a->content;
                        } else if (snprintf(path, sizeof path, "%s%s", s->root, SETUP_CONFIG_FILE) > 0 &&
                                   !strcmp(a->path, path)) {
                                assert_ptr_equal(a->content, s->config_text);
                                s->config_file_present = true;
                        } else
                                fail_msg("unexpected write %s", a->path);
                        break;
                case SETUP_ACTION_SYSCTL:
                        if (!strcmp(a->path, SETUP_SYSCTL_IPV4))
                                s->ip_forward = a->value;
                        else if (!strcmp(a->path, SETUP_SYSCTL_IPV6))
                                s->ipv6_forwarding = a->value;
                        else
                                fail_msg("unexpected sysctl %s", a->path);
                        break;
                case SETUP_ACTION_MKDIR:
                        s->state_dir = SETUP_PATH_DIR;
                        s->state_dir_mode = a->mode;
                        break;
                case SETUP_ACTION_CHMOD:
                        s->state_dir_mode = a->mode;
                        break;
                case SETUP_ACTION_SYSTEMCTL:
                        if (!strcmp(a->path, "enable edgegw"))
                                s->unit_enabled = true;
                        break;
                }
        }
}

static const char *describe(size_t i, bool done) {
        static char text[PATH_MAX + 256];
        struct strbuf b = {};
        setup_action_describe(&plan.actions[i], done, &b);
        assert_int_equal(strbuf_status(&b), 0);
        snprintf(text, sizeof text, "%s", strbuf_str(&b));
        strbuf_done(&b);
        return text;
}

/* The findings' texts, one per line, "problem: TEXT | FIX" or "note: ...". */
static const char *findings(void) {
        static char text[SETUP_FINDINGS_MAX * 2 * SETUP_TEXT_MAX];
        size_t n = 0;
        text[0] = '\0';
        for (size_t i = 0; i < plan.n_findings; i++)
                n += (size_t)snprintf(text + n, sizeof text - n, "%s: %s | %s\n",
                                      plan.findings[i].kind == SETUP_PROBLEM ? "problem" : "note",
                                      plan.findings[i].text, plan.findings[i].fix);
        return text;
}

static void assert_contains(const char *haystack, const char *needle) {
        if (!strstr(haystack, needle))
                fail_msg("'%s' not found in:\n%s", needle, haystack);
}

static void test_fresh_host(void **state) {
        struct setup_state s = fresh();
        make(&s);
        assert_int_equal(plan.n_actions, 6);
        assert_string_equal(describe(0, false),
                            "would write /etc/sysctl.d/90-edgegw.conf (0644): IP forwarding at boot");
        assert_string_equal(plan.actions[0].content,
                            "# Written by `edgegw setup`: the gateway forwards the VMs' traffic (docs/operations.md).\n"
                            "net.ipv4.ip_forward = 1\nnet.ipv6.conf.all.forwarding = 1\n");
        assert_string_equal(describe(1, false), "would set net.ipv4.ip_forward = 1 (now 0)");
        assert_string_equal(describe(1, true), "set net.ipv4.ip_forward = 1 (was 0)");
        assert_string_equal(describe(2, false), "would set net.ipv6.conf.all.forwarding = 1 (now 0)");
        assert_string_equal(describe(3, false),
                            "would create directory /var/lib/edgegw (0750): edgegwd's database and socket");
        assert_string_equal(describe(3, true),
                            "created directory /var/lib/edgegw (0750): edgegwd's database and socket");
        assert_string_equal(describe(4, false),
                            "would write /etc/edgegw/edgegw.conf (0644): the example configuration: edit it before "
                            "starting edgegw");
        assert_string_equal(describe(5, true), "wrote /etc/systemd/system/edgegw.service (0644): the systemd unit");
        assert_int_equal(plan.actions[5].mode, 0644);
        /* systemd is not running here: said once, as a note; the IPv6 RA caveat too. */
        assert_int_equal(plan.n_problems, 0);
        assert_int_equal(plan.n_findings, 2);
        assert_contains(findings(), "note: with IPv6 forwarding on, the kernel ignores router advertisements");
        assert_contains(findings(), "note: skipped systemctl daemon-reload and enable: systemd is not running");

        apply_plan(&s);
        make(&s);
        assert_int_equal(plan.n_actions, 0);
        assert_int_equal(plan.n_problems, 0);
        assert_int_equal(plan.n_findings, 1); /* the systemctl note stays while the unit is not enabled */
}

static void test_systemd_host(void **state) {
        struct setup_state s = fresh();
        s.systemd_running = true;
        make(&s);
        assert_int_equal(plan.n_actions, 8);
        assert_string_equal(describe(6, false), "would run systemctl daemon-reload");
        assert_string_equal(describe(7, true),
                            "ran systemctl enable edgegw: start it at boot; start it now with systemctl start edgegw "
                            "once configured");
        apply_plan(&s);
        make(&s);
        assert_int_equal(plan.n_actions, 0);
        assert_int_equal(plan.n_findings, 0);

        /* Enabled, but someone edited the unit: replaced, reloaded, not enabled again. */
        s.unit_file_text = "[Service]\nExecStart=/bin/true\n";
        make(&s);
        assert_int_equal(plan.n_actions, 2);
        assert_string_equal(describe(0, false),
                            "would write /etc/systemd/system/edgegw.service (0644): the systemd unit (the file "
                            "differed; change it with a drop-in: systemctl edit edgegw)");
        assert_string_equal(describe(1, false), "would run systemctl daemon-reload");
        apply_plan(&s);
        make(&s);
        assert_int_equal(plan.n_actions, 0);

        /* Under --root, systemctl is never run on the running system. */
        s = fresh();
        s.systemd_running = true;
        s.root = "/tmp/img";
        make(&s);
        assert_int_equal(plan.n_actions, 6);
        assert_contains(findings(), "note: skipped systemctl daemon-reload and enable: --root /tmp/img is not the "
                                    "running system | enable it in that tree: systemctl --root /tmp/img enable edgegw");
}

static void test_root_prefix(void **state) {
        struct setup_state s = fresh();
        s.root = "/tmp/e2e/root";
        make(&s);
        assert_int_equal(plan.n_actions, 6);
        assert_string_equal(plan.actions[0].path, "/tmp/e2e/root/etc/sysctl.d/90-edgegw.conf");
        assert_string_equal(plan.actions[1].path, "net.ipv4.ip_forward"); /* a sysctl has no root */
        assert_string_equal(plan.actions[3].path, "/tmp/e2e/root/var/lib/edgegw");
        assert_string_equal(plan.actions[4].path, "/tmp/e2e/root/etc/edgegw/edgegw.conf");
        assert_string_equal(plan.actions[5].path, "/tmp/e2e/root/etc/systemd/system/edgegw.service");
        apply_plan(&s);
        make(&s);
        assert_int_equal(plan.n_actions, 0);

        char long_root[PATH_MAX];
        memset(long_root, 'a', sizeof long_root - 1);
        long_root[0] = '/';
        long_root[sizeof long_root - 1] = '\0';
        s.root = long_root;
        assert_int_equal(setup_plan_make(&s, &plan), -ENAMETOOLONG);
}

static void test_partly_done(void **state) {
        /* Forwarding already on, config there (never overwritten), IPv6 disabled. */
        struct setup_state s = fresh();
        s.ip_forward = 1;
        s.ipv6_forwarding = -1;
        s.config_file_present = true;
        s.state_dir = SETUP_PATH_DIR;
        s.state_dir_mode = 0700; /* stricter than ours: kept */
        make(&s);
        assert_int_equal(plan.n_actions, 2);
        assert_string_equal(plan.actions[0].content,
                            "# Written by `edgegw setup`: the gateway forwards the VMs' traffic (docs/operations.md).\n"
                            "net.ipv4.ip_forward = 1\n");
        assert_string_equal(plan.actions[1].path, "/etc/systemd/system/edgegw.service");
        assert_null(strstr(findings(), "router advertisements"));

        /* Our sysctl file with other content is rewritten. */
        apply_plan(&s);
        s.sysctl_file_text = "net.ipv4.ip_forward = 0\n";
        make(&s);
        assert_int_equal(plan.n_actions, 1);
        assert_string_equal(describe(0, false),
                            "would write /etc/sysctl.d/90-edgegw.conf (0644): IP forwarding at boot (the file "
                            "differed)");

        /* Runtime forwarding turned off again: just the sysctl. */
        apply_plan(&s);
        s.ip_forward = 0;
        make(&s);
        assert_int_equal(plan.n_actions, 1);
        assert_int_equal(plan.actions[0].kind, SETUP_ACTION_SYSCTL);
}

static void test_state_dir(void **state) {
        struct setup_state s = fresh();
        s.config_file_present = true;
        s.unit_file_text = unit;
        s.sysctl_file_text = NULL;
        s.ip_forward = s.ipv6_forwarding = 1;
        s.state_dir = SETUP_PATH_DIR;
        s.state_dir_mode = 0777;
        make(&s);
        assert_int_equal(plan.n_actions, 2); /* the sysctl file, then the mode */
        assert_string_equal(describe(1, false),
                            "would change the mode of /var/lib/edgegw from 0777 to 0750: the database and socket are "
                            "not for everyone");
        apply_plan(&s);
        assert_int_equal(s.state_dir_mode, 0750);
        make(&s);
        assert_int_equal(plan.n_actions, 0);

        s.state_dir_mode = 0755; /* loosened by someone: only the world bits go */
        make(&s);
        assert_int_equal(plan.actions[0].mode, 0750);

        s.state_dir = SETUP_PATH_OTHER;
        make(&s);
        assert_int_equal(plan.n_actions, 0);
        assert_int_equal(plan.n_problems, 1);
        assert_contains(findings(), "problem: /var/lib/edgegw exists and is not a directory");
}

static void test_iptables_forward_drop(void **state) {
        struct setup_state s = fresh();
        s.nft_json = "{\"nftables\": [{\"metainfo\": {}}, {\"table\": {\"family\": \"ip\", \"name\": \"filter\"}},"
                     "{\"chain\": {\"family\": \"ip\", \"table\": \"filter\", \"name\": \"FORWARD\", \"handle\": 1,"
                     " \"type\": \"filter\", \"hook\": \"forward\", \"prio\": 0, \"policy\": \"drop\"}}]}";
        make(&s);
        assert_int_equal(plan.n_problems, 1);
        assert_contains(findings(), "problem: table ip filter chain FORWARD has policy drop (iptables): forwarded "
                                    "traffic to and from the VMs is dropped | `iptables -P FORWARD ACCEPT`, or accept "
                                    "the VMs' traffic: `iptables -I FORWARD -i BRIDGE -j ACCEPT` and `iptables -I "
                                    "FORWARD -o BRIDGE -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT` "
                                    "(BRIDGE: the VMs' bridge, [dhcp] interface)");
        /* The actions do not depend on the finding, and it stays after they are applied. */
        assert_int_equal(plan.n_actions, 6);
        apply_plan(&s);
        make(&s);
        assert_int_equal(plan.n_actions, 0);
        assert_int_equal(plan.n_problems, 1);

        /* With the bridge known and br_netfilter loaded. */
        s.bridge = "br0";
        s.bridge_nf_call_iptables = 1;
        make(&s);
        assert_contains(findings(), "`iptables -I FORWARD -i br0 -j ACCEPT`");
        assert_contains(findings(), "even traffic between VMs on one bridge passes this chain");
        assert_null(strstr(findings(), "BRIDGE"));
}

static void test_docker_forward_drop(void **state) {
        struct setup_state s = fresh();
        s.bridge = "br0";
        s.nft_json = "{\"nftables\": [{\"chain\": {\"family\": \"ip\", \"table\": \"filter\", \"name\": \"FORWARD\","
                     " \"type\": \"filter\", \"hook\": \"forward\", \"prio\": 0, \"policy\": \"drop\"}},"
                     "{\"chain\": {\"family\": \"ip\", \"table\": \"filter\", \"name\": \"DOCKER-USER\"}},"
                     "{\"chain\": {\"family\": \"ip6\", \"table\": \"filter\", \"name\": \"FORWARD\","
                     " \"type\": \"filter\", \"hook\": \"forward\", \"prio\": 0, \"policy\": \"drop\"}}]}";
        make(&s);
        assert_int_equal(plan.n_problems, 2);
        assert_contains(findings(), "problem: table ip filter chain FORWARD has policy drop (Docker sets it)");
        assert_contains(findings(), "`iptables -I DOCKER-USER -i br0 -j ACCEPT` and `iptables -I DOCKER-USER -o br0 "
                                    "-m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT`");
        /* ip6 filter has no DOCKER-USER here: the plain ip6tables fix. */
        assert_contains(findings(), "problem: table ip6 filter chain FORWARD has policy drop (iptables)");
        assert_contains(findings(), "`ip6tables -P FORWARD ACCEPT`");
}

static void test_nft_chains(void **state) {
        struct setup_state s = fresh();
        s.bridge = "br0";
        s.nft_json =
                "{\"nftables\": ["
                "{\"chain\": {\"family\": \"inet\", \"table\": \"fw\", \"name\": \"fwd\", \"type\": \"filter\","
                " \"hook\": \"forward\", \"prio\": 0, \"policy\": \"drop\"}},"
                "{\"chain\": {\"family\": \"inet\", \"table\": \"fw\", \"name\": \"in\", \"type\": \"filter\","
                " \"hook\": \"input\", \"prio\": 0, \"policy\": \"drop\"}},"
                "{\"chain\": {\"family\": \"inet\", \"table\": \"fw\", \"name\": \"open\", \"type\": \"filter\","
                " \"hook\": \"forward\", \"prio\": 10, \"policy\": \"accept\"}},"
                "{\"chain\": {\"family\": \"ip\", \"table\": \"nat\", \"name\": \"post\", \"type\": \"nat\","
                " \"hook\": \"postrouting\", \"prio\": 100, \"policy\": \"accept\"}},"
                "{\"chain\": {\"family\": \"bridge\", \"table\": \"lan\", \"name\": \"fwd\", \"type\": \"filter\","
                " \"hook\": \"forward\", \"prio\": 0, \"policy\": \"drop\"}},"
                "{\"chain\": {\"family\": \"inet\", \"table\": \"edgegw\", \"name\": \"forward\", \"type\": \"filter\","
                " \"hook\": \"forward\", \"prio\": 0, \"policy\": \"drop\"}},"
                "{\"chain\": {\"family\": \"bridge\", \"table\": \"edgegw\", \"name\": \"forward\","
                " \"type\": \"filter\","
                " \"hook\": \"forward\", \"prio\": 0, \"policy\": \"drop\"}},"
                "{\"rule\": {\"family\": \"inet\", \"table\": \"fw\", \"chain\": \"fwd\", \"expr\": []}}"
                "]}";
        make(&s);
        assert_int_equal(plan.n_problems, 1);
        assert_contains(findings(), "problem: table inet fw chain fwd (type filter hook forward) has policy drop: "
                                    "forwarded traffic to and from the VMs is dropped | accept the VMs' traffic in it: "
                                    "`nft insert rule inet fw fwd iifname \"br0\" accept`");
        assert_contains(findings(), "`nft chain inet fw fwd '{ policy accept; }'`");
        assert_contains(findings(), "note: table inet fw chain in (type filter hook input) has policy drop");
        assert_contains(findings(), "note: table bridge lan chain fwd has policy drop");
        assert_null(strstr(findings(), "edgegw chain")); /* our own tables are ours to judge */
        assert_null(strstr(findings(), "table ip nat"));
}

static void test_nft_unavailable(void **state) {
        struct setup_state s = fresh();
        s.nft = SETUP_NFT_NO_COMMAND;
        s.nft_json = NULL;
        s.bridge_family = -1;
        make(&s);
        assert_int_equal(plan.n_problems, 0);
        assert_contains(findings(), "note: nft is not installed, so the nftables ruleset was not checked");

        s.nft = SETUP_NFT_NO_KERNEL;
        s.nft_error = "Error: Could not process rule: Operation not supported";
        s.bridge_family = 0; /* reported once: nf_tables itself is missing */
        make(&s);
        assert_int_equal(plan.n_problems, 1);
        assert_contains(findings(), "problem: the kernel has no nf_tables (nft: Error: Could not process rule: "
                                    "Operation not supported)");
        assert_contains(findings(), "modprobe nf_tables");

        s.nft = SETUP_NFT_FAILED;
        s.nft_error = "Error: Operation not permitted";
        s.bridge_family = -1;
        make(&s);
        assert_int_equal(plan.n_problems, 0);
        assert_contains(findings(), "note: the nftables ruleset could not be read (nft: Error: Operation not "
                                    "permitted), so it was not checked | run edgegw setup as root");

        s.nft = SETUP_NFT_OK;
        s.nft_json = "not json";
        make(&s);
        assert_int_equal(plan.n_problems, 0);
        assert_contains(findings(), "note: the nftables ruleset was not checked: nft's JSON could not be read");

        s.nft_json = empty_ruleset;
        s.bridge_family = 0;
        make(&s);
        assert_int_equal(plan.n_problems, 1);
        assert_contains(findings(), "problem: the kernel refuses nftables tables of the bridge family");
}

static void test_legacy_iptables(void **state) {
        struct setup_state s = fresh();
        s.iptables_legacy_forward = "-P FORWARD ACCEPT\n-A FORWARD -i br0 -j ACCEPT\n";
        make(&s);
        assert_int_equal(plan.n_problems, 0);

        s.iptables_legacy_forward =
                "-P FORWARD DROP\n-A FORWARD -j DOCKER-USER\n-A FORWARD -j DOCKER-ISOLATION-STAGE-1\n";
        s.bridge_nf_call_iptables = 1;
        make(&s);
        assert_int_equal(plan.n_problems, 1);
        assert_contains(findings(), "problem: the legacy iptables FORWARD chain has policy DROP, as Docker sets it: "
                                    "forwarded traffic to and from the VMs is dropped, with br_netfilter even between "
                                    "VMs on one bridge");
        assert_contains(findings(), "`iptables-legacy -I DOCKER-USER -i BRIDGE -j ACCEPT`");

        s.iptables_legacy_forward = NULL;
        s.ip6tables_legacy_forward = "-P FORWARD DROP\n";
        make(&s);
        assert_int_equal(plan.n_problems, 1);
        assert_contains(findings(), "problem: the legacy ip6tables FORWARD chain has policy DROP: forwarded");
        assert_contains(findings(), "`ip6tables-legacy -P FORWARD ACCEPT`");

        s.ip6tables_legacy_forward = ""; /* the table exists, the program does not */
        make(&s);
        assert_int_equal(plan.n_problems, 0);
        assert_contains(findings(), "note: a legacy ip6tables filter table exists but ip6tables-legacy could not be "
                                    "run");
}

static void test_sysctl_overrides(void **state) {
        const struct setup_sysctl_file files[] = {
                {"/etc/sysctl.d/10-early.conf", "10-early.conf", "net.ipv4.ip_forward = 0\n", false},
                {"/usr/lib/sysctl.d/99-late.conf", "99-late.conf", "# forwarding\nnet/ipv4/ip_forward=0\n", false},
                {"/etc/sysctl.d/95-fine.conf", "95-fine.conf", "net.ipv4.ip_forward = 1\n", false},
                {"/etc/sysctl.d/96-v6.conf", "96-v6.conf", "-net.ipv6.conf.all.forwarding = 0\n", false},
                {"/etc/sysctl.conf", "sysctl.conf", "#net.ipv4.ip_forward=0\nkernel.panic = 10\n", true},
        };
        struct setup_state s = fresh();
        s.sysctl_files = files;
        s.n_sysctl_files = ELEMENTSOF(files);
        make(&s);
        assert_int_equal(plan.n_problems, 2);
        assert_contains(findings(), "problem: /usr/lib/sysctl.d/99-late.conf sets net.ipv4.ip_forward = 0 and is read "
                                    "after /etc/sysctl.d/90-edgegw.conf: forwarding will be off after a reboot | "
                                    "remove that line, or make it 1");
        assert_contains(findings(), "problem: /etc/sysctl.d/96-v6.conf sets net.ipv6.conf.all.forwarding = 0");
        assert_null(strstr(findings(), "10-early"));
        assert_null(strstr(findings(), "95-fine"));

        const struct setup_sysctl_file last[] = {
                {"/etc/sysctl.conf", "sysctl.conf", "net.ipv4.ip_forward = 0\n", true},
        };
        s.sysctl_files = last;
        s.n_sysctl_files = 1;
        s.ipv6_forwarding = -1;
        make(&s);
        assert_int_equal(plan.n_problems, 1);
        assert_contains(findings(), "problem: /etc/sysctl.conf sets net.ipv4.ip_forward = 0");
}

static void test_daemon_missing(void **state) {
        struct setup_state s = fresh();
        s.daemon_present = false;
        s.root = "/img";
        make(&s);
        assert_int_equal(plan.n_problems, 0);
        assert_contains(findings(), "note: the unit starts /img/usr/local/sbin/edgegwd, which does not exist");
}

static void test_findings_overflow(void **state) {
        static char json[64 * 1024];
        size_t n = (size_t)snprintf(json, sizeof json, "{\"nftables\": [");
        for (int i = 0; i < 40; i++)
                n += (size_t)snprintf(json + n, sizeof json - n,
                                      "%s{\"chain\": {\"family\": \"inet\", \"table\": \"t%d\", \"name\": \"c\", "
                                      "\"type\": \"filter\", \"hook\": \"forward\", \"prio\": 0, "
                                      "\"policy\": \"drop\"}}",
                                      i ? "," : "", i);
        snprintf(json + n, sizeof json - n, "]}");
        struct setup_state s = fresh();
        s.nft_json = json;
        make(&s);
        assert_int_equal(plan.n_problems, 40);
        assert_int_equal(plan.n_findings, SETUP_FINDINGS_MAX);
        assert_int_equal(plan.n_findings + plan.n_findings_dropped, 42); /* + the IPv6 and systemctl notes */
}

static void test_unit_program(void **state) {
        char program[64];
        assert_int_equal(setup_unit_program(unit, program, sizeof program), 0);
        assert_string_equal(program, "/usr/local/sbin/edgegwd");
        assert_int_equal(setup_unit_program("ExecStart=-/usr/sbin/edgegwd\n", program, sizeof program), 0);
        assert_string_equal(program, "/usr/sbin/edgegwd");
        assert_int_equal(setup_unit_program("ExecStart=/a/b", program, sizeof program), 0);
        assert_string_equal(program, "/a/b");
        assert_int_equal(setup_unit_program("[Service]\nExecReload=/bin/kill\n", program, sizeof program), -ENOENT);
        assert_int_equal(setup_unit_program("ExecStart=edgegwd\n", program, sizeof program), -ENOENT);
        assert_int_equal(setup_unit_program("ExecStart=/usr/local/sbin/edgegwd\n", program, 8), -ENAMETOOLONG);
}

static void test_sysctl_lookup(void **state) {
        char v[16];
        assert_int_equal(setup_sysctl_lookup("net.ipv4.ip_forward = 1\n", "net.ipv4.ip_forward", v), 1);
        assert_string_equal(v, "1");
        assert_int_equal(setup_sysctl_lookup("net.ipv4.ip_forward=0\nnet.ipv4.ip_forward = 1 \r\n",
                                             "net.ipv4.ip_forward", v),
                         1);
        assert_string_equal(v, "1"); /* the last one wins */
        assert_int_equal(setup_sysctl_lookup("  -net/ipv4/ip_forward\t=\t0", "net.ipv4.ip_forward", v), 1);
        assert_string_equal(v, "0");
        assert_int_equal(setup_sysctl_lookup("# net.ipv4.ip_forward = 0\n; net.ipv4.ip_forward = 0\n",
                                             "net.ipv4.ip_forward", v),
                         0);
        assert_int_equal(setup_sysctl_lookup("net.ipv4.ip_forward_update_priority = 0\n", "net.ipv4.ip_forward", v), 0);
        assert_int_equal(setup_sysctl_lookup("", "net.ipv4.ip_forward", v), 0);
        assert_int_equal(
                setup_sysctl_lookup("net.ipv4.ip_forward = 0123456789abcdefghij\n", "net.ipv4.ip_forward", v), 1);
        assert_string_equal(v, "0123456789abcde");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fresh_host),
                cmocka_unit_test(test_systemd_host),
                cmocka_unit_test(test_root_prefix),
                cmocka_unit_test(test_partly_done),
                cmocka_unit_test(test_state_dir),
                cmocka_unit_test(test_iptables_forward_drop),
                cmocka_unit_test(test_docker_forward_drop),
                cmocka_unit_test(test_nft_chains),
                cmocka_unit_test(test_nft_unavailable),
                cmocka_unit_test(test_legacy_iptables),
                cmocka_unit_test(test_sysctl_overrides),
                cmocka_unit_test(test_daemon_missing),
                cmocka_unit_test(test_findings_overflow),
                cmocka_unit_test(test_unit_program),
                cmocka_unit_test(test_sysctl_lookup),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
