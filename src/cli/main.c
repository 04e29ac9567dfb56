/* SPDX-License-Identifier: MIT */
/*
 * edgegw, the command-line client: a thin client of edgegwd's HTTP API (docs/api.md). This
 * file parses the command line against one table of options and one table of commands,
 * rejecting what a command does not take before anything touches the network, and
 * dispatches to the command (vms.c, routes.c, forwards.c, admin.c). Requests go through
 * http.c to the daemon's unix socket or, with --url, to its TCP listener with a token. The
 * CLI keeps no state; its exit code tells scripts what happened (docs/cli.md).
 */
#include <curl/curl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#ifndef EDGEGW_VERSION
#error "EDGEGW_VERSION must be defined by the build"
#endif

static const char usage_text[] =
        "Usage: edgegw [OPTIONS] COMMAND [ARGS]\n"
        "\n"
        "Client of edgegwd, the edge gateway daemon: over its unix socket, or with --url over\n"
        "its TCP listener with a token.\n"
        "\n"
        "VMs:\n"
        "  vm add ID --ip IP | --mac MAC [--hostname NAME]... [--label K=V]... [--ttl DURATION]\n"
        "         [--proxy-protocol none|v1|v2] [--http-passthrough] [--allow CIDR[,CIDR...]]...\n"
        "                      register a VM: allocate its port block and name, show its\n"
        "                      connection details. --mac: the VM's address is the MAC's DHCP\n"
        "                      lease (made now from the pool if it has none; removed with\n"
        "                      the VM); with --ip too, the lease is made at that address\n"
        "  vm set ID --ip IP [same options as vm add]\n"
        "                      create or replace the VM (PUT: options left out are reset)\n"
        "  vm ls [--label K[=V]]...   list the VMs (all pages)\n"
        "  vm show ID          one VM: names, labels, expiry, traffic, connection details\n"
        "  vm rm ID            remove a VM and release its port block (and the lease\n"
        "                      vm add --mac made for it)\n"
        "Routes (a host name -> a target through the SNI proxy, TLS passed through):\n"
        "  route add ID --hostname NAME --target IP[:PORT] [--proxy-protocol none|v1|v2]\n"
        "         [--http-passthrough] [--http-port N] [--allow CIDR[,CIDR...]]... [--label K=V]...\n"
        "         [--dns]      --dns: publish an A/AAAA record for the name ([dns] in the config)\n"
        "  route set ID ...    the same options: create or replace (PUT)\n"
        "  route ls [--label K[=V]]...\n"
        "  route show ID\n"
        "  route rm ID\n"
        "Forwards (a public port -> a target):\n"
        "  forward add ID --port N [--proto tcp|udp] --target IP:PORT [--label K=V]...\n"
        "  forward set ID ...  the same options: create or replace (PUT)\n"
        "  forward ls [--label K[=V]]...\n"
        "  forward show ID\n"
        "  forward rm ID\n"
        "DHCP leases (a MAC bound to an address of the [dhcp] subnet, served by edgegwd's dnsmasq):\n"
        "  lease add MAC [--ip IP] [--name HOST]\n"
        "                      bind MAC to IP, or to the lowest free pool address; HOST\n"
        "                      resolves as HOST and HOST.{dhcp domain}\n"
        "  lease ls            every lease: MAC, IP, NAME, VM (by address)\n"
        "  lease show MAC\n"
        "  lease rm MAC        remove the lease, freeing its address\n"
        "DNS (the records published for the VMs and routes, see [dns] in the configuration):\n"
        "  dns ls              each record: name, type, address, state (pending, synced,\n"
        "                      error, deleting), failed attempts, next retry, last error\n"
        "Host (no daemon needed; as root):\n"
        "  setup [--dry-run] [--root DIR]\n"
        "                      prepare this host for edgegwd: IP forwarding now and at boot,\n"
        "                      the state directory, the example configuration (if absent), the\n"
        "                      systemd unit; report what would break forwarding, with the fix\n"
        "                      (exit 6). --dry-run: only print the changes. --root DIR: files\n"
        "                      go below DIR (sysctls are this network namespace's)\n"
        "Access and health:\n"
        "  token add NAME --scope S[,S...] [--datacenter DC]\n"
        "                      create an API token (read, vms, routes, forwards, dns,\n"
        "                      admin); its secret is printed once, on stdout. --datacenter:\n"
        "                      a dns token may publish names under DC.{domain} only\n"
        "  token ls            list the tokens (never their secrets)\n"
        "  token rm NAME       revoke a token\n"
        "  audit [--limit N] [--kind vm|route|forward|token|dns|lease] [--id ID]\n"
        "                      the newest changes first: who, when, what (default 100)\n"
        "  status              each reconciler part's last run, result and error\n"
        "  check               compare the kernel's firewall rules with the desired state\n"
        "  version             print the version\n"
        "  help                print this help\n"
        "\n"
        "Where edgegwd is (options may appear anywhere; --opt VALUE or --opt=VALUE):\n"
        "  --socket PATH       the daemon's socket (default: $EDGEGW_SOCKET, else\n"
        "                      STATE_DIR/edgegw.sock from the configuration)\n"
        "  --config FILE       configuration to read state_dir from\n"
        "                      (default: " CONFIG_DEFAULT_PATH " if it exists)\n"
        "  --url URL           a remote edgegwd, http://HOST:PORT or https://HOST:PORT\n"
        "                      (default: $EDGEGW_URL; else the socket)\n"
        "  --token TOKEN       sent as `Authorization: Bearer` with --url (default:\n"
        "                      $EDGEGW_TOKEN, which keeps it out of `ps`)\n"
        "  --cacert FILE       trust this CA for an https:// URL\n"
        "Output:\n"
        "  --json              print the API's JSON response instead of human output\n"
        "  -h, --help          print this help\n"
        "  --version           print the version\n"
        "Command options:\n"
        "  --ip IP             the VM's address; a lease's address\n"
        "  --mac MAC           vm add: the VM's MAC (aa:bb:cc:dd:ee:ff); its DHCP lease gives\n"
        "                      the VM's address\n"
        "  --name HOST         lease add: the host name (one label: a-z 0-9 -)\n"
        "  --hostname NAME     an extra name routed to the VM's :443 (repeat, at most 16);\n"
        "                      a route's one name (may be a wildcard: *.example.net)\n"
        "  --label K=V         a label (repeat, at most 16); with ls, a filter: K=V or just K\n"
        "  --ttl DURATION      remove the VM after this long: seconds, or 90s, 30m, 12h, 7d\n"
        "  --proxy-protocol none|v1|v2\n"
        "                      PROXY protocol header the HTTPS proxy sends first (default none)\n"
        "  --http-passthrough  relay plain HTTP for the name to the target's port 80 (or\n"
        "                      --http-port) instead of redirecting to HTTPS, e.g. for ACME\n"
        "  --http-port N       a route's plain-HTTP target port (default 80)\n"
        "  --allow CIDR[,CIDR...]\n"
        "                      only these source networks reach the name (repeat, at most 16)\n"
        "  --target IP[:PORT]  a route's target (port default 443); a forward's IP:PORT\n"
        "  --port N            a forward's public port\n"
        "  --proto tcp|udp     a forward's protocol (default tcp)\n"
        "  --scope S[,S...]    a token's scopes\n"
        "  --limit N, --kind KIND, --id ID\n"
        "                      audit: how many entries, and only those of one kind or id\n"
        "\n"
        "Exit codes:\n"
        "  0  success\n"
        "  1  other error (daemon failure, rate limited, a failed reconciler part in status)\n"
        "  2  usage error (unknown command or option, missing argument)\n"
        "  3  edgegwd not reachable (no daemon, connection refused, untrusted TLS certificate)\n"
        "  4  not found\n"
        "  5  conflict (already exists, IP, host name or port in use, ports or DHCP pool\n"
        "     exhausted, DHCP not configured, version mismatch)\n"
        "  6  drift found by check; problems found by setup that it does not fix\n"
        "  7  invalid argument rejected by edgegwd\n"
        "  8  unauthorized (missing or bad token) or forbidden (the token lacks the scope)\n";

enum option_kind {
        OPTION_FLAG, /* bool */
        OPTION_VALUE, /* const char *, given at most once */
        OPTION_LIST, /* struct cli_strings, repeatable */
};

static const struct option_def {
        const char *name;
        enum option_kind kind;
        uint32_t bit; /* enum cli_option; 0 for the global options every command accepts */
        size_t offset; /* of the field in struct cli */
} option_defs[] = {
        {"--json", OPTION_FLAG, 0, offsetof(struct cli, json)},
        {"--help", OPTION_FLAG, 0, offsetof(struct cli, help)},
        {"--version", OPTION_FLAG, 0, offsetof(struct cli, version)},
        {"--socket", OPTION_VALUE, 0, offsetof(struct cli, socket_option)},
        {"--config", OPTION_VALUE, 0, offsetof(struct cli, config_path)},
        {"--url", OPTION_VALUE, 0, offsetof(struct cli, url_option)},
        {"--token", OPTION_VALUE, 0, offsetof(struct cli, token_option)},
        {"--cacert", OPTION_VALUE, 0, offsetof(struct cli, cacert)},
        {"--ip", OPTION_VALUE, OPT_IP, offsetof(struct cli, ip)},
        {"--hostname", OPTION_LIST, OPT_HOSTNAME, offsetof(struct cli, hostnames)},
        {"--label", OPTION_LIST, OPT_LABEL, offsetof(struct cli, labels)},
        {"--ttl", OPTION_VALUE, OPT_TTL, offsetof(struct cli, ttl)},
        {"--proxy-protocol", OPTION_VALUE, OPT_PROXY_PROTOCOL, offsetof(struct cli, proxy_protocol)},
        {"--http-passthrough", OPTION_FLAG, OPT_HTTP_PASSTHROUGH, offsetof(struct cli, http_passthrough)},
        {"--http-port", OPTION_VALUE, OPT_HTTP_PORT, offsetof(struct cli, http_port)},
        {"--allow", OPTION_LIST, OPT_ALLOW, offsetof(struct cli, allow)},
        {"--target", OPTION_VALUE, OPT_TARGET, offsetof(struct cli, target)},
        {"--port", OPTION_VALUE, OPT_PORT, offsetof(struct cli, port)},
        {"--proto", OPTION_VALUE, OPT_PROTO, offsetof(struct cli, proto)},
        {"--scope", OPTION_LIST, OPT_SCOPE, offsetof(struct cli, scopes)},
        {"--limit", OPTION_VALUE, OPT_LIMIT, offsetof(struct cli, limit)},
        {"--kind", OPTION_VALUE, OPT_KIND, offsetof(struct cli, kind)},
        {"--id", OPTION_VALUE, OPT_ID, offsetof(struct cli, audit_id)},
        {"--datacenter", OPTION_VALUE, OPT_DATACENTER, offsetof(struct cli, datacenter)},
        {"--dns", OPTION_FLAG, OPT_DNS, offsetof(struct cli, dns)},
        {"--mac", OPTION_VALUE, OPT_MAC, offsetof(struct cli, mac)},
        {"--name", OPTION_VALUE, OPT_NAME, offsetof(struct cli, lease_name)},
        {"--dry-run", OPTION_FLAG, OPT_DRY_RUN, offsetof(struct cli, dry_run)},
        {"--root", OPTION_VALUE, OPT_ROOT, offsetof(struct cli, root)},
};

#define VM_OPTIONS \
        (OPT_IP | OPT_HOSTNAME | OPT_LABEL | OPT_TTL | OPT_PROXY_PROTOCOL | OPT_HTTP_PASSTHROUGH | OPT_ALLOW)
#define ROUTE_OPTIONS \
        (OPT_HOSTNAME | OPT_TARGET | OPT_PROXY_PROTOCOL | OPT_HTTP_PASSTHROUGH | OPT_HTTP_PORT | OPT_ALLOW | OPT_LABEL | \
         OPT_DNS)
#define FORWARD_OPTIONS (OPT_PORT | OPT_PROTO | OPT_TARGET | OPT_LABEL)

static const struct command {
        const char *words[2]; /* words[1] is NULL for one-word commands */
        const char *arg; /* "ID" or "NAME": the one positional argument; NULL: none */
        uint32_t options; /* enum cli_option bits it takes */
        uint32_t required; /* ... and of those, the ones it needs */
        cli_command_fn run;
} commands[] = {
        {{"vm", "add"}, "ID", VM_OPTIONS | OPT_MAC, 0, cmd_vm_add}, /* --ip or --mac: cmd_vm_add checks */
        {{"vm", "set"}, "ID", VM_OPTIONS, OPT_IP, cmd_vm_set},
        {{"vm", "ls"}, NULL, OPT_LABEL, 0, cmd_vm_ls},
        {{"vm", "show"}, "ID", 0, 0, cmd_vm_show},
        {{"vm", "rm"}, "ID", 0, 0, cmd_vm_rm},
        {{"route", "add"}, "ID", ROUTE_OPTIONS, OPT_HOSTNAME | OPT_TARGET, cmd_route_add},
        {{"route", "set"}, "ID", ROUTE_OPTIONS, OPT_HOSTNAME | OPT_TARGET, cmd_route_set},
        {{"route", "ls"}, NULL, OPT_LABEL, 0, cmd_route_ls},
        {{"route", "show"}, "ID", 0, 0, cmd_route_show},
        {{"route", "rm"}, "ID", 0, 0, cmd_route_rm},
        {{"forward", "add"}, "ID", FORWARD_OPTIONS, OPT_PORT | OPT_TARGET, cmd_forward_add},
        {{"forward", "set"}, "ID", FORWARD_OPTIONS, OPT_PORT | OPT_TARGET, cmd_forward_set},
        {{"forward", "ls"}, NULL, OPT_LABEL, 0, cmd_forward_ls},
        {{"forward", "show"}, "ID", 0, 0, cmd_forward_show},
        {{"forward", "rm"}, "ID", 0, 0, cmd_forward_rm},
        {{"token", "add"}, "NAME", OPT_SCOPE | OPT_DATACENTER, OPT_SCOPE, cmd_token_add},
        {{"token", "ls"}, NULL, 0, 0, cmd_token_ls},
        {{"token", "rm"}, "NAME", 0, 0, cmd_token_rm},
        {{"audit", NULL}, NULL, OPT_LIMIT | OPT_KIND | OPT_ID, 0, cmd_audit},
        {{"dns", "ls"}, NULL, 0, 0, cmd_dns_ls},
        {{"lease", "add"}, "MAC", OPT_IP | OPT_NAME, 0, cmd_lease_add},
        {{"lease", "ls"}, NULL, 0, 0, cmd_lease_ls},
        {{"lease", "show"}, "MAC", 0, 0, cmd_lease_show},
        {{"lease", "rm"}, "MAC", 0, 0, cmd_lease_rm},
        {{"setup", NULL}, NULL, OPT_DRY_RUN | OPT_ROOT, 0, cmd_setup},
        {{"status", NULL}, NULL, 0, 0, cmd_status},
        {{"check", NULL}, NULL, 0, 0, cmd_check},
};

static void cli_done(struct cli *cli) {
        free(cli->hostnames.items);
        free(cli->labels.items);
        free(cli->allow.items);
        free(cli->scopes.items);
        free(cli->base_url);
}

static const char *option_name(uint32_t bit) {
        for (size_t i = 0; i < ELEMENTSOF(option_defs); i++)
                if (option_defs[i].bit == bit)
                        return option_defs[i].name;
        return "?";
}

static void command_name(const struct command *c, char *out, size_t out_size) {
        snprintf(out, out_size, "%s%s%s", c->words[0], c->words[1] ? " " : "", c->words[1] ? c->words[1] : "");
}

static enum cli_exit set_option(struct cli *cli, const struct option_def *o, const char *value) {
        void *field = (char *)cli + o->offset;
        switch (o->kind) {
        case OPTION_FLAG:
                *(bool *)field = true;
                break;
        case OPTION_VALUE:
                if (*(const char **)field)
                        return cli_usage_error("option %s given twice", o->name);
                *(const char **)field = value;
                break;
        case OPTION_LIST: {
                struct cli_strings *l = field;
                const char **items = realloc(l->items, (l->n + 1) * sizeof *items);
                if (!items)
                        return cli_out_of_memory();
                items[l->n++] = value;
                l->items = items;
                break;
        }
        }
        cli->given |= o->bit;
        return CLI_EXIT_OK;
}

/* Options may appear anywhere; everything else is a positional word, compacted in place at
 * the front of argv + 1 (argv's pointer array is ours to reorder, as getopt does). */
static enum cli_exit parse_args(int argc, char **argv, struct cli *cli) {
        bool options_done = false;

        cli->words = argv + 1;
        cli->n_words = 0;
        for (int i = 1; i < argc; i++) {
                char *a = argv[i];
                if (options_done || a[0] != '-' || streq(a, "-")) {
                        cli->words[cli->n_words++] = a;
                        continue;
                }
                if (streq(a, "--")) {
                        options_done = true;
                        continue;
                }
                if (streq(a, "-h"))
                        a = "--help";

                const struct option_def *o = NULL;
                const char *value = NULL;
                for (size_t k = 0; k < ELEMENTSOF(option_defs) && !o; k++) {
                        size_t len = strlen(option_defs[k].name);
                        if (strncmp(a, option_defs[k].name, len) != 0 || (a[len] && a[len] != '='))
                                continue;
                        o = &option_defs[k];
                        if (a[len] == '=')
                                value = a + len + 1;
                }
                if (!o)
                        return cli_usage_error("unknown option '%s'", a);
                if (o->kind == OPTION_FLAG && value)
                        return cli_usage_error("option %s takes no value", o->name);
                if (o->kind != OPTION_FLAG && !value) {
                        if (i + 1 >= argc)
                                return cli_usage_error("option %s needs a value", o->name);
                        value = argv[++i];
                }
                if (o->kind != OPTION_FLAG && !value[0])
                        return cli_usage_error("option %s needs a non-empty value", o->name);
                enum cli_exit x = set_option(cli, o, value);
                if (x != CLI_EXIT_OK)
                        return x;
        }
        return CLI_EXIT_OK;
}

/* An option given to a command that does not take it: name the commands that do. */
static enum cli_exit unused_option(const struct command *c, uint32_t bit) {
        char name[32], other[32];
        _cleanup_strbuf_ struct strbuf users = {};
        command_name(c, name, sizeof name);
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (commands[i].options & bit) {
                        command_name(&commands[i], other, sizeof other);
                        strbuf_printf(&users, "%s`edgegw %s`", users.len ? ", " : "", other);
                }
        if (strbuf_status(&users) < 0)
                return cli_out_of_memory();
        return cli_usage_error("%s: option %s is only used by %s", name, option_name(bit), strbuf_str(&users));
}

/* Matches the positional words against the command table and checks the arguments, all
 * before anything touches the network. */
static enum cli_exit find_command(const struct cli *cli, const struct command **ret_cmd, const char **ret_arg) {
        const char *w0 = cli->words[0];
        const char *w1 = cli->n_words > 1 ? cli->words[1] : NULL;
        bool group = false;

        for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
                const struct command *c = &commands[i];
                if (!streq(c->words[0], w0))
                        continue;
                if (c->words[1]) {
                        group = true;
                        if (!w1 || !streq(c->words[1], w1))
                                continue;
                }
                size_t n_command = c->words[1] ? 2 : 1;
                size_t n_args = c->arg ? 1 : 0;
                char name[32];
                command_name(c, name, sizeof name);

                if (cli->n_words > n_command + n_args)
                        return cli_usage_error("%s: unexpected argument '%s'", name, cli->words[n_command + n_args]);
                const char *arg = c->arg && cli->n_words > n_command ? cli->words[n_command] : NULL;
                if (c->arg && (!arg || !arg[0]))
                        return cli_usage_error("%s: missing %s", name, c->arg);
                for (uint32_t bit = 1; bit; bit <<= 1)
                        if ((cli->given & bit) && !(c->options & bit))
                                return unused_option(c, bit);
                for (uint32_t bit = 1; bit; bit <<= 1)
                        if ((c->required & bit) && !(cli->given & bit))
                                return cli_usage_error("%s: missing %s", name, option_name(bit));
                *ret_cmd = c;
                *ret_arg = arg;
                return CLI_EXIT_OK;
        }
        if (group) {
                _cleanup_strbuf_ struct strbuf subs = {};
                for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                        if (streq(commands[i].words[0], w0))
                                strbuf_printf(&subs, "%s%s", subs.len ? ", " : "", commands[i].words[1]);
                if (strbuf_status(&subs) < 0)
                        return cli_out_of_memory();
                if (!w1)
                        return cli_usage_error("%s: missing subcommand (%s)", w0, strbuf_str(&subs));
                return cli_usage_error("unknown command '%s %s' (%s takes %s)", w0, w1, w0, strbuf_str(&subs));
        }
        return cli_usage_error("unknown command '%s'", w0);
}

static enum cli_exit print_version(const struct cli *cli) {
        if (cli->json)
                puts("{\n  \"version\": \"" EDGEGW_VERSION "\"\n}");
        else
                puts("edgegw " EDGEGW_VERSION);
        return CLI_EXIT_OK;
}

static enum cli_exit run(int argc, char **argv) {
        _cleanup_(cli_done) struct cli cli = {};
        enum cli_exit x = parse_args(argc, argv, &cli);
        if (x != CLI_EXIT_OK)
                return x;

        if (cli.help || (cli.n_words > 0 && streq(cli.words[0], "help"))) {
                fputs(usage_text, stdout);
                return CLI_EXIT_OK;
        }
        if (cli.version)
                return print_version(&cli);
        if (cli.n_words > 0 && streq(cli.words[0], "version")) {
                if (cli.n_words > 1)
                        return cli_usage_error("version: unexpected argument '%s'", cli.words[1]);
                return print_version(&cli);
        }
        if (cli.n_words == 0) {
                fputs(usage_text, stderr);
                return CLI_EXIT_USAGE;
        }

        const struct command *command = NULL;
        const char *arg = NULL;
        x = find_command(&cli, &command, &arg);
        if (x != CLI_EXIT_OK)
                return x;
        x = cli_resolve_target(&cli);
        if (x != CLI_EXIT_OK)
                return x;

        CURLcode c = curl_global_init(CURL_GLOBAL_DEFAULT);
        if (c != CURLE_OK) {
                fprintf(stderr, "edgegw: cannot initialize libcurl: %s\n", curl_easy_strerror(c));
                return CLI_EXIT_ERROR;
        }
        x = command->run(&cli, arg);
        curl_global_cleanup();
        return x;
}

int main(int argc, char **argv) {
        enum cli_exit x = run(argc, argv);
        if (fflush(stdout) != 0 || ferror(stdout)) {
                fputs("edgegw: cannot write the output\n", stderr);
                if (x == CLI_EXIT_OK)
                        x = CLI_EXIT_ERROR;
        }
        return (int)x;
}
