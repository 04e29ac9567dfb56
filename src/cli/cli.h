/* SPDX-License-Identifier: MIT */
/*
 * What the files of the edgegw CLI share: the parsed command line (struct cli), the one
 * path to the daemon (http.c: the unix socket or a remote URL with a token), the output
 * helpers (output.c) and the commands, one file per API area (vms.c, routes.c,
 * forwards.c, admin.c). main.c parses the command line and dispatches.
 */
#pragma once

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/config.h"
#include "../core/strbuf.h"
#include "../core/util.h"
#include "convert.h"

/* Options a command may take, besides the global ones (--socket, --url, --json, ...). */
enum cli_option {
        OPT_IP = 1u << 0,
        OPT_HOSTNAME = 1u << 1,
        OPT_LABEL = 1u << 2,
        OPT_TTL = 1u << 3,
        OPT_PROXY_PROTOCOL = 1u << 4,
        OPT_HTTP_PASSTHROUGH = 1u << 5,
        OPT_HTTP_PORT = 1u << 6,
        OPT_ALLOW = 1u << 7,
        OPT_TARGET = 1u << 8,
        OPT_PORT = 1u << 9,
        OPT_PROTO = 1u << 10,
        OPT_SCOPE = 1u << 11,
        OPT_LIMIT = 1u << 12,
        OPT_KIND = 1u << 13,
        OPT_ID = 1u << 14,
        OPT_DATACENTER = 1u << 15,
        OPT_DNS = 1u << 16,
        OPT_MAC = 1u << 17,
        OPT_NAME = 1u << 18,
        OPT_DRY_RUN = 1u << 19,
        OPT_ROOT = 1u << 20,
};

/* The values of a repeatable option, in order; the array is owned, the strings borrowed. */
struct cli_strings {
        const char **items;
        size_t n;
};

struct cli {
        /* where the daemon is; strings borrowed from argv */
        const char *socket_option;
        const char *config_path;
        const char *url_option;
        const char *token_option;
        const char *cacert;
        /* command options, sent as typed unless their syntax is the CLI's own (docs/cli.md) */
        const char *ip;
        const char *ttl;
        const char *proxy_protocol;
        const char *http_port;
        const char *target;
        const char *port;
        const char *proto;
        const char *limit;
        const char *kind;
        const char *audit_id;
        const char *datacenter; /* token add: the one datacenter a dns token may publish in */
        bool http_passthrough;
        bool dns; /* route add/set --dns: publish a DNS record for the route's name */
        const char *mac; /* vm add --mac: the VM's MAC; a lease is made for it (issue 6) */
        const char *lease_name; /* lease add --name */
        bool dry_run; /* setup --dry-run */
        const char *root; /* setup --root DIR: files go below DIR (tests) */
        struct cli_strings hostnames, labels, allow, scopes;
        uint32_t given; /* enum cli_option bits of the options on the command line */
        bool json;
        bool help;
        bool version;
        /* positional words, compacted in place at the front of argv + 1 */
        char **words;
        size_t n_words;
        /* resolved before the first request */
        char *base_url; /* owned: the remote URL without trailing slashes; NULL = the socket */
        const char *token; /* remote only: sent as "Authorization: Bearer" */
        char socket_path[PATH_MAX];
        char config_error[sizeof(((struct config_diag *)0)->error)]; /* "" unless config_load failed */
};

typedef enum cli_exit (*cli_command_fn)(const struct cli *cli, const char *arg);

/* Reporting (http.c). Each prints "edgegw: ..." to stderr and returns the exit code. */
enum cli_exit cli_usage_error(const char *fmt, ...) _printf_(1, 2);
enum cli_exit cli_out_of_memory(void);
enum cli_exit cli_bad_response(const char *fmt, ...) _printf_(1, 2);

/* Decides where requests go: --url, --socket, $EDGEGW_URL, $EDGEGW_SOCKET, then the
 * configuration's state dir; and which token goes along. Call once before any request. */
enum cli_exit cli_resolve_target(struct cli *cli);

/* One request. body (may be NULL) is sent as JSON. On CLI_EXIT_OK the 2xx answer's JSON
 * object is the caller's in *ret and its status in *ret_status (optional); every other
 * outcome has been reported (with --json, an error object also goes to stdout) and its
 * exit code is returned. */
enum cli_exit cli_api_call(const struct cli *cli, const char *method, const char *path, const json_t *body,
                           json_t **ret, long *ret_status);

/* GET /v1/COLLECTION with the --label selectors, following "next" through every page.
 * *ret is the first page's object with every page's items in its array COLLECTION and
 * "next": null. */
enum cli_exit cli_api_list(const struct cli *cli, const char *collection, json_t **ret);

/* method (GET, DELETE) on /v1/COLLECTION/ID, the id percent-encoded; as cli_api_call(). */
enum cli_exit cli_api_item(const struct cli *cli, const char *method, const char *collection, const char *id,
                           json_t **ret);
/* Sends request as POST /v1/COLLECTION (an add) or, when put, PUT /v1/COLLECTION/ID (a set).
 * On CLI_EXIT_OK, *ret is the answer (as cli_api_call()) and *ret_verb says what happened:
 * "added" (POST), "created" or "updated" (PUT answered 201 or 200). */
enum cli_exit cli_api_save(const struct cli *cli, const char *collection, const char *id, bool put,
                           const json_t *request, json_t **ret, const char **ret_verb);

/* Output (output.c). */
enum cli_exit cli_print_json(const json_t *root); /* pretty, two-space indentation */
enum cli_exit cli_print_table(const char *const *cells, size_t n_rows, size_t n_cols);

/* Room for the texts one table row makes of its item, kept while the table is printed. */
#define CLI_CELL_MAX 80
struct cli_row {
        char text[2][CLI_CELL_MAX];
        struct strbuf buf;
};
/* Fills cells[0..n_cols) (the table's width) for item, keeping what it formats in *row;
 * a malformed item is reported and its exit code returned. */
typedef enum cli_exit (*cli_row_fn)(const json_t *item, struct cli_row *row, const char **cells);
/* Prints the non-empty array items as a table under header[0..n_cols), a row (row_fn) per
 * item; prints nothing when an item is refused. */
enum cli_exit cli_print_rows(const json_t *items, const char *const *header, size_t n_cols, cli_row_fn row_fn);
/* The ls of a collection: every page of /v1/COLLECTION (cli_api_list), printed as JSON with
 * --json, as "no NOUN" ("no NOUN with these labels" under --label) when empty, else as
 * cli_print_rows(). */
enum cli_exit cli_print_list(const struct cli *cli, const char *collection, const char *noun,
                             const char *const *header, size_t n_cols, cli_row_fn row_fn);
void cli_print_field(const char *name, const char *value); /* "name:      value" */
/* "rules": "pending" in a change's answer: warns that the kernel does not reflect it yet. */
void cli_warn_if_rules_pending(const json_t *root);
const char *cli_json_string(const json_t *o, const char *key); /* NULL unless a string */
/* Sets the request's "allow" to the --allow values as one array (nothing when none is given),
 * or reports a usage error. */
enum cli_exit cli_set_allow(const struct cli *cli, json_t *request);
/* Sets the request's "labels" to the --label K=V values as an object (nothing when none is
 * given), or reports a usage error. */
enum cli_exit cli_set_labels(const struct cli *cli, json_t *request);
/* Sets key to a string value, reporting text that is not UTF-8 as a usage error. */
enum cli_exit cli_set_string(json_t *o, const char *key, const char *value, const char *option);
/* A labels object as "k=v<sep>k2=v2", or none_text when empty or absent; into out. */
enum cli_exit cli_labels_text(const json_t *labels, const char *sep, const char *none_text, struct strbuf *out);

/* The proxy options of a VM or route object (what: "VM", "route") as one line:
 * "HTTPS options: PROXY protocol v2, plain HTTP passthrough, allowed from 203.0.113.0/24",
 * or "HTTPS options: none". */
enum cli_exit cli_print_https_options(const json_t *o, const char *what);
/* Prints "name:  value" when o has key as a string or an integer; nothing otherwise. */
void cli_print_optional_field(const json_t *o, const char *key, const char *name);
/* The fields every stored route and forward has, after its own: origin, labels (the text
 * of cli_labels_text), created, updated, version. */
void cli_print_common_fields(const json_t *o, const char *labels);

/* The commands; arg is the ID or NAME word, or NULL for commands without one. */
enum cli_exit cmd_vm_add(const struct cli *cli, const char *id);
enum cli_exit cmd_vm_set(const struct cli *cli, const char *id);
enum cli_exit cmd_vm_ls(const struct cli *cli, const char *arg);
enum cli_exit cmd_vm_show(const struct cli *cli, const char *id);
enum cli_exit cmd_vm_rm(const struct cli *cli, const char *id);
enum cli_exit cmd_route_add(const struct cli *cli, const char *id);
enum cli_exit cmd_route_set(const struct cli *cli, const char *id);
enum cli_exit cmd_route_ls(const struct cli *cli, const char *arg);
enum cli_exit cmd_route_show(const struct cli *cli, const char *id);
enum cli_exit cmd_route_rm(const struct cli *cli, const char *id);
enum cli_exit cmd_forward_add(const struct cli *cli, const char *id);
enum cli_exit cmd_forward_set(const struct cli *cli, const char *id);
enum cli_exit cmd_forward_ls(const struct cli *cli, const char *arg);
enum cli_exit cmd_forward_show(const struct cli *cli, const char *id);
enum cli_exit cmd_forward_rm(const struct cli *cli, const char *id);
enum cli_exit cmd_token_add(const struct cli *cli, const char *name);
enum cli_exit cmd_token_ls(const struct cli *cli, const char *arg);
enum cli_exit cmd_token_rm(const struct cli *cli, const char *name);
enum cli_exit cmd_audit(const struct cli *cli, const char *arg);
/* dns.c */
enum cli_exit cmd_dns_ls(const struct cli *cli, const char *arg);
/* leases.c (issue 6) */
enum cli_exit cmd_lease_add(const struct cli *cli, const char *arg);
enum cli_exit cmd_lease_ls(const struct cli *cli, const char *arg);
enum cli_exit cmd_lease_show(const struct cli *cli, const char *arg);
enum cli_exit cmd_lease_rm(const struct cli *cli, const char *arg);
/* setup.c (issue 6) */
enum cli_exit cmd_setup(const struct cli *cli, const char *arg);
enum cli_exit cmd_status(const struct cli *cli, const char *arg);
enum cli_exit cmd_check(const struct cli *cli, const char *arg);
