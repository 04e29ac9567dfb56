/* SPDX-License-Identifier: MIT */
/*
 * What the CLI's commands share when they build a request from options or print an
 * answer: the JSON printer, tables (and the ls of a collection as one), "name: value"
 * fields, labels and --allow lists, the pending-rules warning.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define FIELD_WIDTH 11 /* "hostnames: " */

enum cli_exit cli_print_json(const json_t *root) {
        _cleanup_free_ char *text = json_dumps(root, JSON_INDENT(2));
        if (!text)
                return cli_out_of_memory();
        puts(text);
        return CLI_EXIT_OK;
}

enum cli_exit cli_print_table(const char *const *cells, size_t n_rows, size_t n_cols) {
        _cleanup_strbuf_ struct strbuf out = {};
        cli_table_render(cells, n_rows, n_cols, &out);
        if (strbuf_status(&out) < 0)
                return cli_out_of_memory();
        fputs(strbuf_str(&out), stdout);
        return CLI_EXIT_OK;
}

enum cli_exit cli_print_rows(const json_t *items, const char *const *header, size_t n_cols, cli_row_fn row_fn) {
        size_t n = json_array_size(items);
        _cleanup_free_ struct cli_row *rows = calloc(n ? n : 1, sizeof *rows);
        _cleanup_free_ const char **cells = calloc((n + 1) * n_cols, sizeof *cells);
        if (!rows || !cells)
                return cli_out_of_memory();
        memcpy(cells, header, n_cols * sizeof *cells);
        enum cli_exit x = CLI_EXIT_OK;
        for (size_t i = 0; i < n && x == CLI_EXIT_OK; i++)
                x = row_fn(json_array_get(items, i), &rows[i], cells + (i + 1) * n_cols);
        if (x == CLI_EXIT_OK)
                x = cli_print_table(cells, n + 1, n_cols);
        for (size_t i = 0; i < n; i++)
                strbuf_done(&rows[i].buf);
        return x;
}

enum cli_exit cli_print_list(const struct cli *cli, const char *collection, const char *noun,
                             const char *const *header, size_t n_cols, cli_row_fn row_fn) {
        _cleanup_(json_decrefp) json_t *root = NULL;
        enum cli_exit x = cli_api_list(cli, collection, &root);
        if (x != CLI_EXIT_OK)
                return x;
        if (cli->json)
                return cli_print_json(root);
        const json_t *items = json_object_get(root, collection);
        if (json_array_size(items) == 0) {
                printf("no %s%s\n", noun, cli->labels.n ? " with these labels" : "");
                return CLI_EXIT_OK;
        }
        return cli_print_rows(items, header, n_cols, row_fn);
}

void cli_print_field(const char *name, const char *value) {
        printf("%s:%*s%s\n", name, (int)(FIELD_WIDTH - 1 - strlen(name)), "", value);
}

void cli_print_optional_field(const json_t *o, const char *key, const char *name) {
        const json_t *v = json_object_get(o, key);
        char number[24];
        if (json_is_string(v))
                cli_print_field(name, json_string_value(v));
        else if (json_is_integer(v)) {
                snprintf(number, sizeof number, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                cli_print_field(name, number);
        }
}

void cli_print_common_fields(const json_t *o, const char *labels) {
        cli_print_optional_field(o, "origin", "origin");
        cli_print_field("labels", labels);
        cli_print_optional_field(o, "created_at", "created");
        cli_print_optional_field(o, "updated_at", "updated");
        cli_print_optional_field(o, "version", "version");
}

void cli_warn_if_rules_pending(const json_t *root) {
        const char *rules = cli_json_string(root, "rules");
        if (rules && streq(rules, "pending"))
                fputs("edgegw: warning: the rules are not applied yet (edgegwd keeps retrying); "
                      "run `edgegw check` and `edgegw status` to see whether they converged\n",
                      stderr);
}

const char *cli_json_string(const json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key));
}

enum cli_exit cli_set_allow(const struct cli *cli, json_t *request) {
        if (cli->allow.n == 0)
                return CLI_EXIT_OK;
        _cleanup_(json_decrefp) json_t *allow = json_array();
        if (!allow)
                return cli_out_of_memory();
        for (size_t i = 0; i < cli->allow.n; i++) {
                int r = cli_list_append(cli->allow.items[i], allow);
                if (r == -EINVAL)
                        return cli_usage_error("option --allow: empty network in '%s'", cli->allow.items[i]);
                if (r == -EILSEQ)
                        return cli_usage_error("option --allow: the networks must be valid UTF-8 text");
                if (r < 0)
                        return cli_out_of_memory();
        }
        if (json_object_set_new(request, "allow", TAKE_PTR(allow)) < 0)
                return cli_out_of_memory();
        return CLI_EXIT_OK;
}

enum cli_exit cli_set_labels(const struct cli *cli, json_t *request) {
        if (cli->labels.n == 0)
                return CLI_EXIT_OK;
        const char *bad = NULL;
        json_t *labels = NULL;
        int r = cli_labels_build(cli->labels.items, cli->labels.n, &labels, &bad);
        switch (r) {
        case 0:
                if (json_object_set_new(request, "labels", labels) < 0)
                        return cli_out_of_memory();
                return CLI_EXIT_OK;
        case -EINVAL:
                return cli_usage_error("option --label: '%s' is not KEY=VALUE", bad);
        case -EEXIST:
                return cli_usage_error("option --label: the key of '%s' is given twice", bad);
        case -EILSEQ:
                return cli_usage_error("option --label: '%s' is not valid UTF-8 text", bad);
        default:
                return cli_out_of_memory();
        }
}

enum cli_exit cli_set_string(json_t *o, const char *key, const char *value, const char *option) {
        json_t *s = json_string(value);
        if (!s)
                return cli_usage_error("%s must be valid UTF-8 text", option);
        if (json_object_set_new(o, key, s) < 0)
                return cli_out_of_memory();
        return CLI_EXIT_OK;
}

enum cli_exit cli_labels_text(const json_t *labels, const char *sep, const char *none_text, struct strbuf *out) {
        if (!labels || json_is_null(labels) || (json_is_object(labels) && json_object_size(labels) == 0)) {
                strbuf_append(out, none_text);
                return strbuf_status(out) < 0 ? cli_out_of_memory() : CLI_EXIT_OK;
        }
        if (cli_labels_format(labels, sep, out) < 0)
                return cli_bad_response("'labels' is not an object of strings");
        return strbuf_status(out) < 0 ? cli_out_of_memory() : CLI_EXIT_OK;
}

enum cli_exit cli_print_https_options(const json_t *o, const char *what) {
        const char *proxy = cli_json_string(o, "proxy_protocol");
        const json_t *passthrough = json_object_get(o, "http_passthrough");
        const json_t *allow = json_object_get(o, "allow");
        const json_t *http_port = json_object_get(o, "http_port");
        const char *bad = NULL;
        if (!proxy)
                bad = "proxy_protocol";
        else if (!json_is_boolean(passthrough))
                bad = "http_passthrough";
        else if (!json_is_array(allow))
                bad = "allow";
        else if (http_port && !json_is_integer(http_port))
                bad = "http_port";
        for (size_t i = 0; !bad && i < json_array_size(allow); i++)
                if (!json_is_string(json_array_get(allow, i)))
                        bad = "allow";
        if (bad)
                return cli_bad_response("%s field '%s' is missing or malformed", what, bad);

        _cleanup_strbuf_ struct strbuf line = {};
        const char *sep = "";
        strbuf_append(&line, "HTTPS options: ");
        if (!streq(proxy, "none")) {
                strbuf_printf(&line, "PROXY protocol %s", proxy);
                sep = ", ";
        }
        if (json_is_true(passthrough)) {
                strbuf_printf(&line, "%splain HTTP passthrough", sep);
                if (http_port && json_integer_value(http_port) != 80)
                        strbuf_printf(&line, " to port %" JSON_INTEGER_FORMAT, json_integer_value(http_port));
                sep = ", ";
        }
        for (size_t i = 0; i < json_array_size(allow); i++)
                strbuf_printf(&line, "%s%s", i == 0 ? (*sep ? ", allowed from " : "allowed from ") : ", ",
                              json_string_value(json_array_get(allow, i)));
        if (streq(proxy, "none") && !json_is_true(passthrough) && json_array_size(allow) == 0)
                strbuf_append(&line, "none");
        if (strbuf_status(&line) < 0)
                return cli_out_of_memory();
        puts(strbuf_str(&line));
        return CLI_EXIT_OK;
}
