/* SPDX-License-Identifier: MIT */
/*
 * The planner of `edgegw setup` (setupplan.h): observed host state in, ordered changes and
 * findings out. Everything that decides what setup does or says lives here, so that the
 * unit tests can check each decision and that a second run plans nothing; setup.c only
 * observes, prints and applies.
 */
#include "setupplan.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../core/util.h"

static const char *const sysctl_comment =
        "# Written by `edgegw setup`: the gateway forwards the VMs' traffic (docs/operations.md).\n";

int setup_unit_program(const char *unit_text, char *ret, size_t n) {
        const char *line = unit_text;
        while (line && *line) {
                const char *end = strchr(line, '\n');
                size_t len = end ? (size_t)(end - line) : strlen(line);
                static const char key[] = "ExecStart=";
                if (len > sizeof key - 1 && strncmp(line, key, sizeof key - 1) == 0) {
                        const char *p = line + sizeof key - 1;
                        const char *stop = line + len;
                        /* systemd's prefixes: '-' ignore failure, '@' argv[0], '+', '!', ':' */
                        while (p < stop && strchr("-@+!:", *p))
                                p++;
                        const char *q = p;
                        while (q < stop && *q != ' ' && *q != '\t')
                                q++;
                        if (q == p || *p != '/')
                                return -ENOENT;
                        if ((size_t)(q - p) >= n)
                                return -ENAMETOOLONG;
                        memcpy(ret, p, (size_t)(q - p));
                        ret[q - p] = '\0';
                        return 0;
                }
                line = end ? end + 1 : NULL;
        }
        return -ENOENT;
}

/* key and the text's key match, where '/' in the text stands for '.'. */
static bool sysctl_key_equal(const char *text_key, size_t len, const char *key) {
        if (strlen(key) != len)
                return false;
        for (size_t i = 0; i < len; i++) {
                char c = text_key[i] == '/' ? '.' : text_key[i];
                if (c != key[i])
                        return false;
        }
        return true;
}

int setup_sysctl_lookup(const char *text, const char *key, char ret[static 16]) {
        int found = 0;
        const char *line = text;
        while (line && *line) {
                const char *end = strchr(line, '\n');
                const char *stop = end ? end : line + strlen(line);
                const char *p = line;
                while (p < stop && (*p == ' ' || *p == '\t'))
                        p++;
                if (p < stop && *p == '-')
                        p++;
                const char *eq = memchr(p, '=', (size_t)(stop - p));
                if (p < stop && *p != '#' && *p != ';' && eq) {
                        const char *k_end = eq;
                        while (k_end > p && (k_end[-1] == ' ' || k_end[-1] == '\t'))
                                k_end--;
                        if (sysctl_key_equal(p, (size_t)(k_end - p), key)) {
                                const char *v = eq + 1;
                                while (v < stop && (*v == ' ' || *v == '\t'))
                                        v++;
                                const char *v_end = stop;
                                while (v_end > v && (v_end[-1] == ' ' || v_end[-1] == '\t' || v_end[-1] == '\r'))
                                        v_end--;
                                size_t len = (size_t)(v_end - v);
                                if (len > 15)
                                        len = 15;
                                memcpy(ret, v, len);
                                ret[len] = '\0';
                                found = 1;
                        }
                }
                line = end ? end + 1 : NULL;
        }
        return found;
}

static struct setup_action *action_add(struct setup_plan *p, enum setup_action_kind kind, const char *root,
                                       const char *path, const char *why) {
        /* The planner adds at most 8 actions; SETUP_ACTIONS_MAX leaves room. */
        struct setup_action *a = &p->actions[p->n_actions++];
        *a = (struct setup_action){.kind = kind, .why = why, .mode = kind == SETUP_ACTION_WRITE ? SETUP_FILE_MODE : 0};
        snprintf(a->path, sizeof a->path, "%s%s", root, path);
        return a;
}

static void finding_add(struct setup_plan *p, enum setup_finding_kind kind, const char *fix, const char *fmt, ...)
        _printf_(4, 5);
static void finding_add(struct setup_plan *p, enum setup_finding_kind kind, const char *fix, const char *fmt, ...) {
        if (kind == SETUP_PROBLEM)
                p->n_problems++;
        if (p->n_findings >= SETUP_FINDINGS_MAX) {
                p->n_findings_dropped++;
                return;
        }
        struct setup_finding *f = &p->findings[p->n_findings++];
        f->kind = kind;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(f->text, sizeof f->text, fmt, ap);
        va_end(ap);
        snprintf(f->fix, sizeof f->fix, "%s", fix ? fix : "");
}

static void plan_sysctl(const struct setup_state *s, struct setup_plan *p) {
        snprintf(p->sysctl_text, sizeof p->sysctl_text, "%s%s = 1\n%s%s", sysctl_comment, SETUP_SYSCTL_IPV4,
                 s->ipv6_forwarding >= 0 ? SETUP_SYSCTL_IPV6 : "", s->ipv6_forwarding >= 0 ? " = 1\n" : "");
        if (!s->sysctl_file_text || !streq(s->sysctl_file_text, p->sysctl_text))
                action_add(p, SETUP_ACTION_WRITE, s->root, SETUP_SYSCTL_FILE,
                           s->sysctl_file_text ? "IP forwarding at boot (the file differed)" : "IP forwarding at boot")
                        ->content = p->sysctl_text;
        if (s->ip_forward >= 0 && s->ip_forward != 1) {
                struct setup_action *a = action_add(p, SETUP_ACTION_SYSCTL, "", SETUP_SYSCTL_IPV4, NULL);
                a->value = 1;
                a->old_value = s->ip_forward;
        }
        if (s->ipv6_forwarding >= 0 && s->ipv6_forwarding != 1) {
                struct setup_action *a = action_add(p, SETUP_ACTION_SYSCTL, "", SETUP_SYSCTL_IPV6, NULL);
                a->value = 1;
                a->old_value = s->ipv6_forwarding;
                finding_add(p, SETUP_NOTE,
                            "if so, set net.ipv6.conf.IFACE.accept_ra = 2 on that interface (in a sysctl.d file "
                            "too)",
                            "with IPv6 forwarding on, the kernel ignores router advertisements on interfaces with "
                            "accept_ra = 1: does this host take its IPv6 address or default route from them?");
        }

        /* A file read after ours that sets a key to anything but 1 turns forwarding off at boot. */
        const char *keys[] = {SETUP_SYSCTL_IPV4, s->ipv6_forwarding >= 0 ? SETUP_SYSCTL_IPV6 : NULL};
        for (size_t i = 0; i < s->n_sysctl_files; i++) {
                const struct setup_sysctl_file *f = &s->sysctl_files[i];
                if (!f->text || (!f->last && strcmp(f->name, SETUP_SYSCTL_NAME) <= 0))
                        continue;
                for (size_t k = 0; k < ELEMENTSOF(keys); k++) {
                        char value[16];
                        if (!keys[k] || !setup_sysctl_lookup(f->text, keys[k], value) || streq(value, "1"))
                                continue;
                        finding_add(p, SETUP_PROBLEM, "remove that line, or make it 1",
                                    "%s sets %s = %s and is read after %s%s: forwarding will be off after a reboot",
                                    f->path, keys[k], value, s->root, SETUP_SYSCTL_FILE);
                }
        }
}

static void plan_files(const struct setup_state *s, struct setup_plan *p) {
        switch (s->state_dir) {
        case SETUP_PATH_ABSENT:
                action_add(p, SETUP_ACTION_MKDIR, s->root, SETUP_STATE_DIR, "edgegwd's database and socket")->mode =
                        SETUP_STATE_DIR_MODE;
                break;
        case SETUP_PATH_DIR:
                /* Only ever tightened: a stricter mode someone chose stays. */
                if (s->state_dir_mode & ~(mode_t)SETUP_STATE_DIR_MODE) {
                        struct setup_action *a = action_add(p, SETUP_ACTION_CHMOD, s->root, SETUP_STATE_DIR,
                                                            "the database and socket are not for everyone");
                        a->old_mode = s->state_dir_mode;
                        a->mode = s->state_dir_mode & SETUP_STATE_DIR_MODE;
                }
                break;
        case SETUP_PATH_OTHER:
                finding_add(p, SETUP_PROBLEM, "move it away, then run edgegw setup again",
                            "%s%s exists and is not a directory: edgegwd keeps its database there", s->root,
                            SETUP_STATE_DIR);
                break;
        }

        if (!s->config_file_present)
                action_add(p, SETUP_ACTION_WRITE, s->root, SETUP_CONFIG_FILE,
                           "the example configuration: edit it before starting edgegw")
                        ->content = s->config_text;

        bool unit_written = false;
        if (!s->unit_file_text || !streq(s->unit_file_text, s->unit_text)) {
                action_add(p, SETUP_ACTION_WRITE, s->root, SETUP_UNIT_FILE,
                           s->unit_file_text ? "the systemd unit (the file differed; change it with a drop-in: "
                                               "systemctl edit edgegw)"
                                             : "the systemd unit")
                        ->content = s->unit_text;
                unit_written = true;
        }
        if (s->systemd_running && !s->root[0]) {
                if (unit_written)
                        action_add(p, SETUP_ACTION_SYSTEMCTL, "", "daemon-reload", NULL);
                if (!s->unit_enabled)
                        action_add(p, SETUP_ACTION_SYSTEMCTL, "", "enable edgegw",
                                   "start it at boot; start it now with systemctl start edgegw once configured");
        } else if (!s->unit_enabled) {
                if (s->root[0]) {
                        char fix[SETUP_TEXT_MAX];
                        snprintf(fix, sizeof fix, "enable it in that tree: systemctl --root %s enable edgegw", s->root);
                        finding_add(p, SETUP_NOTE, fix,
                                    "skipped systemctl daemon-reload and enable: --root %s is not the running "
                                    "system",
                                    s->root);
                } else
                        finding_add(p, SETUP_NOTE,
                                    "on a systemd host: systemctl daemon-reload && systemctl enable edgegw",
                                    "skipped systemctl daemon-reload and enable: systemd is not running (it is not "
                                    "PID 1)");
        }

        char program[PATH_MAX];
        if (!s->daemon_present && setup_unit_program(s->unit_text, program, sizeof program) == 0)
                finding_add(p, SETUP_NOTE, "install edgegwd there (docs/operations.md, \"Installing\")",
                            "the unit starts %s%s, which does not exist", s->root, program);
}

/* ---- the firewall ---------------------------------------------------------------------- */

static const char *bridge_name(const struct setup_state *s) {
        return s->bridge && s->bridge[0] ? s->bridge : "BRIDGE";
}

static const char *bridge_hint(const struct setup_state *s) {
        return s->bridge && s->bridge[0] ? "" : " (BRIDGE: the VMs' bridge, [dhcp] interface)";
}

static bool ruleset_has_chain(json_t *items, const char *family, const char *table, const char *name) {
        size_t i;
        json_t *item;
        json_array_foreach(items, i, item) {
                json_t *c = json_object_get(item, "chain");
                const char *f = json_string_value(json_object_get(c, "family"));
                const char *t = json_string_value(json_object_get(c, "table"));
                const char *n = json_string_value(json_object_get(c, "name"));
                if (f && t && n && streq(f, family) && streq(t, table) && streq(n, name))
                        return true;
        }
        return false;
}

/* A filter chain on the forward hook with policy drop: iptables' FORWARD (iptables-nft
 * shows it as table ip filter), Docker's, or an nftables firewall's. */
static void forward_drop_finding(const struct setup_state *s, struct setup_plan *p, json_t *items,
                                 const char *family, const char *table, const char *chain) {
        const char *br = bridge_name(s);
        char fix[SETUP_TEXT_MAX];
        bool iptables = (streq(family, "ip") || streq(family, "ip6")) && streq(table, "filter") &&
                        streq(chain, "FORWARD");
        const char *cmd = streq(family, "ip6") ? "ip6tables" : "iptables";
        const char *br_netfilter = s->bridge_nf_call_iptables == 1
                                           ? "; br_netfilter is loaded (net.bridge.bridge-nf-call-iptables = 1), so "
                                             "even traffic between VMs on one bridge passes this chain"
                                           : "";

        if (streq(family, "bridge")) {
                finding_add(p, SETUP_NOTE, "if VMs must reach each other, accept their frames in that chain",
                            "table bridge %s chain %s has policy drop: frames between ports of a bridge are dropped "
                            "(the VMs' traffic through the gateway is not affected)",
                            table, chain);
                return;
        }
        if (iptables && ruleset_has_chain(items, family, table, "DOCKER-USER")) {
                snprintf(fix, sizeof fix,
                         "let the VMs' traffic through in DOCKER-USER, which Docker leaves alone: "
                         "`%s -I DOCKER-USER -i %s -j ACCEPT` and `%s -I DOCKER-USER -o %s -m conntrack --ctstate "
                         "RELATED,ESTABLISHED,DNAT -j ACCEPT`%s; make them persistent (e.g. iptables-persistent). If "
                         "you already accept it there, ignore this",
                         cmd, br, cmd, br, bridge_hint(s));
                finding_add(p, SETUP_PROBLEM, fix,
                            "table %s filter chain FORWARD has policy drop (Docker sets it): forwarded traffic to and "
                            "from the VMs is dropped%s",
                            family, br_netfilter);
        } else if (iptables) {
                snprintf(fix, sizeof fix,
                         "`%s -P FORWARD ACCEPT`, or accept the VMs' traffic: `%s -I FORWARD -i %s -j ACCEPT` and `%s "
                         "-I FORWARD -o %s -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT`%s; make it "
                         "persistent (e.g. iptables-persistent). If that chain already accepts it, ignore this",
                         cmd, cmd, br, cmd, br, bridge_hint(s));
                finding_add(p, SETUP_PROBLEM, fix,
                            "table %s filter chain FORWARD has policy drop (iptables): forwarded traffic to and from "
                            "the VMs is dropped%s",
                            family, br_netfilter);
        } else {
                snprintf(fix, sizeof fix,
                         "accept the VMs' traffic in it: `nft insert rule %s %s %s iifname \"%s\" accept` and `nft "
                         "insert rule %s %s %s oifname \"%s\" ct state established,related accept` and `nft insert "
                         "rule %s %s %s oifname \"%s\" ct status dnat accept`%s, or `nft chain %s %s %s '{ policy "
                         "accept; }'`; keep it in /etc/nftables.conf. If that chain already accepts it, ignore this",
                         family, table, chain, br, family, table, chain, br, family, table, chain, br, bridge_hint(s),
                         family, table, chain);
                finding_add(p, SETUP_PROBLEM, fix,
                            "table %s %s chain %s (type filter hook forward) has policy drop: forwarded traffic to "
                            "and from the VMs is dropped%s",
                            family, table, chain, br_netfilter);
        }
}

static void input_drop_finding(const struct setup_state *s, struct setup_plan *p, const char *family,
                               const char *table, const char *chain) {
        finding_add(p, SETUP_NOTE,
                    "make sure it accepts them: TCP 80 and 443 from anywhere, UDP 67 and UDP/TCP 53 from the VMs' "
                    "bridge",
                    "table %s %s chain %s (type filter hook input) has policy drop: the gateway's own services need "
                    "to be let in: the HTTPS/HTTP proxy, the API listener if any, and DHCP and DNS for the VMs",
                    family, table, chain);
        (void)s;
}

static void plan_nft_ruleset(const struct setup_state *s, struct setup_plan *p) {
        json_error_t error;
        json_t *root = json_loads(s->nft_json ? s->nft_json : "", 0, &error);
        json_t *items = json_object_get(root, "nftables");
        if (!json_is_array(items)) {
                finding_add(p, SETUP_NOTE, "check it by hand: nft list ruleset",
                            "the nftables ruleset was not checked: nft's JSON could not be read (%s)",
                            root ? "no \"nftables\" array" : error.text);
                json_decref(root);
                return;
        }
        size_t i;
        json_t *item;
        json_array_foreach(items, i, item) {
                json_t *c = json_object_get(item, "chain");
                const char *family = json_string_value(json_object_get(c, "family"));
                const char *table = json_string_value(json_object_get(c, "table"));
                const char *name = json_string_value(json_object_get(c, "name"));
                const char *type = json_string_value(json_object_get(c, "type"));
                const char *hook = json_string_value(json_object_get(c, "hook"));
                const char *policy = json_string_value(json_object_get(c, "policy"));
                if (!family || !table || !name || !type || !hook || !policy || !streq(type, "filter") ||
                    !streq(policy, "drop"))
                        continue;
                if (streq(table, "edgegw") && (streq(family, "inet") || streq(family, "bridge")))
                        continue; /* edgegwd's own tables */
                if (streq(hook, "forward"))
                        forward_drop_finding(s, p, items, family, table, name);
                else if (streq(hook, "input") && !streq(family, "bridge"))
                        input_drop_finding(s, p, family, table, name);
        }
        json_decref(root);
}

/* `iptables-legacy -S FORWARD` (what: "iptables") or `ip6tables-legacy -S FORWARD`
 * ("ip6tables"): "-P FORWARD DROP" is the policy line. */
static void plan_legacy(const struct setup_state *s, struct setup_plan *p, const char *rules, const char *what) {
        char cmd[32];
        snprintf(cmd, sizeof cmd, "%s-legacy", what);
        if (!rules)
                return;
        if (!rules[0]) {
                finding_add(p, SETUP_NOTE, "install iptables and run edgegw setup again, or check it by hand",
                            "a legacy %s filter table exists but %s could not be run, so its FORWARD policy was "
                            "not checked",
                            what, cmd);
                return;
        }
        bool drop = false;
        for (const char *line = rules; line && *line;) {
                const char *end = strchr(line, '\n');
                size_t len = end ? (size_t)(end - line) : strlen(line);
                static const char policy[] = "-P FORWARD DROP";
                if (len >= sizeof policy - 1 && strncmp(line, policy, sizeof policy - 1) == 0)
                        drop = true;
                line = end ? end + 1 : NULL;
        }
        if (!drop)
                return;
        const char *br = bridge_name(s);
        char fix[SETUP_TEXT_MAX];
        if (strstr(rules, "DOCKER-USER"))
                snprintf(fix, sizeof fix,
                         "`%s -I DOCKER-USER -i %s -j ACCEPT` and `%s -I DOCKER-USER -o %s -m conntrack --ctstate "
                         "RELATED,ESTABLISHED,DNAT -j ACCEPT`%s; make them persistent. If you already accept it "
                         "there, ignore this",
                         cmd, br, cmd, br, bridge_hint(s));
        else
                snprintf(fix, sizeof fix,
                         "`%s -P FORWARD ACCEPT`, or `%s -I FORWARD -i %s -j ACCEPT` and `%s -I FORWARD -o %s -m "
                         "conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT`%s; make it persistent. If that "
                         "chain already accepts it, ignore this",
                         cmd, cmd, br, cmd, br, bridge_hint(s));
        finding_add(p, SETUP_PROBLEM, fix,
                    "the legacy %s FORWARD chain has policy DROP%s: forwarded traffic to and from the VMs is "
                    "dropped%s",
                    what, strstr(rules, "DOCKER") ? ", as Docker sets it" : "",
                    s->bridge_nf_call_iptables == 1 ? ", with br_netfilter even between VMs on one bridge" : "");
}

static void plan_firewall(const struct setup_state *s, struct setup_plan *p) {
        const char *err = s->nft_error && s->nft_error[0] ? s->nft_error : "no message";
        switch (s->nft) {
        case SETUP_NFT_OK:
                plan_nft_ruleset(s, p);
                break;
        case SETUP_NFT_NO_COMMAND:
                finding_add(p, SETUP_NOTE, "apt-get install nftables, then run edgegw setup again",
                            "nft is not installed, so the nftables ruleset was not checked for chains that drop "
                            "forwarded traffic");
                break;
        case SETUP_NFT_NO_KERNEL:
                finding_add(p, SETUP_PROBLEM,
                            "modprobe nf_tables (the kernel needs CONFIG_NF_TABLES); without it only "
                            "forward_mode = \"userspace\" works",
                            "the kernel has no nf_tables (nft: %s): edgegwd's forwards, SNAT and anti-spoofing are "
                            "nftables rules",
                            err);
                break;
        case SETUP_NFT_FAILED:
                finding_add(p, SETUP_NOTE, "run edgegw setup as root",
                            "the nftables ruleset could not be read (nft: %s), so it was not checked", err);
                break;
        }
        if (s->bridge_family == 0 && s->nft != SETUP_NFT_NO_KERNEL)
                finding_add(p, SETUP_PROBLEM,
                            "modprobe bridge (the kernel needs CONFIG_NF_TABLES_BRIDGE), then run edgegw setup again",
                            "the kernel refuses nftables tables of the bridge family: edgegwd's anti-spoofing (a VM "
                            "may send only from its leased address) cannot be installed");
        plan_legacy(s, p, s->iptables_legacy_forward, "iptables");
        plan_legacy(s, p, s->ip6tables_legacy_forward, "ip6tables");
}

int setup_plan_make(const struct setup_state *s, struct setup_plan *ret) {
        /* The longest path is the wants link; the others are shorter. */
        if (strlen(s->root) + strlen(SETUP_UNIT_WANTS) >= PATH_MAX)
                return -ENAMETOOLONG;
        memset(ret, 0, sizeof *ret);
        plan_sysctl(s, ret);
        plan_files(s, ret);
        plan_firewall(s, ret);
        return 0;
}

void setup_action_describe(const struct setup_action *a, bool done, struct strbuf *out) {
        switch (a->kind) {
        case SETUP_ACTION_WRITE:
                strbuf_printf(out, "%s %s (%04o)", done ? "wrote" : "would write", a->path, (unsigned)a->mode);
                break;
        case SETUP_ACTION_SYSCTL:
                strbuf_printf(out, "%s %s = %d (%s %d)", done ? "set" : "would set", a->path, a->value,
                              done ? "was" : "now", a->old_value);
                break;
        case SETUP_ACTION_MKDIR:
                strbuf_printf(out, "%s directory %s (%04o)", done ? "created" : "would create", a->path,
                              (unsigned)a->mode);
                break;
        case SETUP_ACTION_CHMOD:
                strbuf_printf(out, "%s the mode of %s from %04o to %04o", done ? "changed" : "would change", a->path,
                              (unsigned)a->old_mode, (unsigned)a->mode);
                break;
        case SETUP_ACTION_SYSTEMCTL:
                strbuf_printf(out, "%s systemctl %s", done ? "ran" : "would run", a->path);
                break;
        }
        if (a->why)
                strbuf_printf(out, ": %s", a->why);
}
