/* SPDX-License-Identifier: MIT */
/*
 * The CLI's forward commands (forward add, set, ls, show, rm): a public port and protocol
 * forwarded to a target ip:port, outside every VM's port block (docs/api.md, "Forwards").
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define TARGET_TEXT_MAX CLI_CELL_MAX
#define PORT_TEXT_MAX 24 /* "65535/tcp" */

/* The body of POST /v1/forwards and PUT /v1/forwards/ID. */
static enum cli_exit forward_request(const struct cli *cli, const char *id, json_t **ret) {
        uint64_t public_port;
        if (cli_number_parse(cli->port, 1, 65535, &public_port) < 0)
                return cli_usage_error("option --port: '%s' is not a port (1-65535)", cli->port);
        char ip[TARGET_TEXT_MAX];
        uint16_t port;
        if (cli_target_parse(cli->target, ip, sizeof ip, &port) < 0 || port == 0)
                return cli_usage_error("option --target: '%s' is not IP:PORT (an IPv6 address goes in brackets: "
                                       "[2001:db8::5]:22; PORT is 1-65535)",
                                       cli->target);

        _cleanup_(json_decrefp) json_t *request = json_object();
        if (!request)
                return cli_out_of_memory();
        enum cli_exit x = cli_set_string(request, "id", id, "the forward ID");
        if (x == CLI_EXIT_OK && cli->proto)
                x = cli_set_string(request, "proto", cli->proto, "option --proto");
        if (x == CLI_EXIT_OK)
                x = cli_set_string(request, "target_ip", ip, "option --target");
        if (x != CLI_EXIT_OK)
                return x;
        if (json_object_set_new(request, "public_port", json_integer((json_int_t)public_port)) < 0 ||
            json_object_set_new(request, "target_port", json_integer(port)) < 0)
                return cli_out_of_memory();
        if ((x = cli_set_labels(cli, request)) != CLI_EXIT_OK)
                return x;
        *ret = TAKE_PTR(request);
        return CLI_EXIT_OK;
}

/* "22015/tcp" and "10.0.0.5:22" from a forward object; false when a field is missing. */
static bool forward_texts(const json_t *f, char port[static PORT_TEXT_MAX], char target[static TARGET_TEXT_MAX]) {
        const json_t *public_port = json_object_get(f, "public_port");
        const json_t *target_port = json_object_get(f, "target_port");
        const char *proto = cli_json_string(f, "proto"), *ip = cli_json_string(f, "target_ip");
        if (!json_is_integer(public_port) || !json_is_integer(target_port) || !ip)
                return false;
        snprintf(port, PORT_TEXT_MAX, "%" JSON_INTEGER_FORMAT "/%s", json_integer_value(public_port),
                 proto ? proto : "tcp");
        cli_target_format(ip, (long)json_integer_value(target_port), target, TARGET_TEXT_MAX);
        return true;
}

/* forward add (POST) and forward set (PUT). */
static enum cli_exit forward_save(const struct cli *cli, const char *id, bool put) {
        _cleanup_(json_decrefp) json_t *request = NULL, *root = NULL;
        const char *verb;
        enum cli_exit x = forward_request(cli, id, &request);
        if (x == CLI_EXIT_OK)
                x = cli_api_save(cli, "forwards", id, put, request, &root, &verb);
        if (x != CLI_EXIT_OK)
                return x;
        if (cli->json)
                x = cli_print_json(root);
        else {
                char port[PORT_TEXT_MAX], target[TARGET_TEXT_MAX];
                const char *fid = cli_json_string(root, "id");
                if (!fid || !forward_texts(root, port, target))
                        return cli_bad_response("a forward object without id, public_port, target_ip or "
                                                "target_port");
                printf("forward %s %s: %s -> %s\n", fid, verb, port, target);
        }
        cli_warn_if_rules_pending(root);
        return x;
}

enum cli_exit cmd_forward_add(const struct cli *cli, const char *id) {
        return forward_save(cli, id, false);
}

enum cli_exit cmd_forward_set(const struct cli *cli, const char *id) {
        return forward_save(cli, id, true);
}

static enum cli_exit forward_row(const json_t *o, struct cli_row *row, const char **cells) {
        const char *id = cli_json_string(o, "id"), *origin = cli_json_string(o, "origin");
        char *port = row->text[0], *target = row->text[1];
        if (!id || !forward_texts(o, port, target))
                return cli_bad_response("a forward object without id, public_port, target_ip or target_port");
        enum cli_exit x = cli_labels_text(json_object_get(o, "labels"), ",", "-", &row->buf);
        const char *cols[] = {id, port, target, origin ? origin : "-", strbuf_str(&row->buf)};
        memcpy(cells, cols, sizeof cols);
        return x;
}

enum cli_exit cmd_forward_ls(const struct cli *cli, const char *arg) {
        static const char *const header[] = {"ID", "PORT", "TARGET", "ORIGIN", "LABELS"};
        return cli_print_list(cli, "forwards", "forwards", header, ELEMENTSOF(header), forward_row);
}

enum cli_exit cmd_forward_show(const struct cli *cli, const char *id) {
        _cleanup_(json_decrefp) json_t *root = NULL;
        enum cli_exit x = cli_api_item(cli, "GET", "forwards", id, &root);
        if (x != CLI_EXIT_OK)
                return x;
        if (cli->json)
                return cli_print_json(root);

        char port[PORT_TEXT_MAX], target[TARGET_TEXT_MAX];
        const char *fid = cli_json_string(root, "id");
        if (!fid || !forward_texts(root, port, target))
                return cli_bad_response("a forward object without id, public_port, target_ip or target_port");
        _cleanup_strbuf_ struct strbuf labels = {};
        x = cli_labels_text(json_object_get(root, "labels"), ", ", "none", &labels);
        if (x != CLI_EXIT_OK)
                return x;
        cli_print_field("id", fid);
        cli_print_field("port", port);
        cli_print_field("target", target);
        cli_print_common_fields(root, strbuf_str(&labels));
        return CLI_EXIT_OK;
}

enum cli_exit cmd_forward_rm(const struct cli *cli, const char *id) {
        _cleanup_(json_decrefp) json_t *root = NULL;
        enum cli_exit x = cli_api_item(cli, "DELETE", "forwards", id, &root);
        if (x != CLI_EXIT_OK)
                return x;
        if (cli->json)
                x = cli_print_json(root);
        else {
                char port[PORT_TEXT_MAX], target[TARGET_TEXT_MAX];
                if (forward_texts(json_object_get(root, "removed"), port, target))
                        printf("forward %s removed (port %s released)\n", id, port);
                else
                        printf("forward %s removed\n", id);
        }
        cli_warn_if_rules_pending(root);
        return x;
}
