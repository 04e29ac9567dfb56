/* SPDX-License-Identifier: MIT */
/*
 * edgegw dns ls (issue 5): the DNS outbox as the operator sees it, one row per record with
 * where it stands with the provider (GET /v1/dns/records). The records follow the VMs and
 * routes, so there is nothing to add or remove here.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static enum cli_exit record_row(const json_t *o, struct cli_row *row, const char **cells) {
        const char *name = cli_json_string(o, "name"), *type = cli_json_string(o, "type");
        const char *content = cli_json_string(o, "content"), *state = cli_json_string(o, "state");
        const char *retry = cli_json_string(o, "next_retry_at"), *error = cli_json_string(o, "last_error");
        const json_t *attempts = json_object_get(o, "attempts");
        if (!name || !type || !content || !state || !json_is_integer(attempts))
                return cli_bad_response("a DNS record without name, type, content, state or attempts");
        snprintf(row->text[0], CLI_CELL_MAX, "%" JSON_INTEGER_FORMAT, json_integer_value(attempts));
        const char *cols[] = {name, type, content, state, row->text[0], retry ? retry : "-", error ? error : "-"};
        memcpy(cells, cols, sizeof cols);
        return CLI_EXIT_OK;
}

enum cli_exit cmd_dns_ls(const struct cli *cli, const char *arg) {
        static const char *const header[] = {"NAME", "TYPE", "CONTENT", "STATE", "ATTEMPTS", "NEXT_RETRY", "ERROR"};
        _cleanup_(json_decrefp) json_t *root = NULL;
        enum cli_exit x = cli_api_call(cli, "GET", "/v1/dns/records", NULL, &root, NULL);
        if (x != CLI_EXIT_OK)
                return x;
        if (cli->json)
                return cli_print_json(root);

        const json_t *records = json_object_get(root, "records");
        if (!json_is_array(records))
                return cli_bad_response("'records' is not an array");
        if (json_array_size(records) == 0) {
                const json_t *provider = json_object_get(root, "provider");
                if (json_is_null(provider))
                        puts("no DNS records (no DNS provider is configured: see [dns] in the configuration)");
                else
                        puts("no DNS records");
                return CLI_EXIT_OK;
        }
        return cli_print_rows(records, header, ELEMENTSOF(header), record_row);
}
