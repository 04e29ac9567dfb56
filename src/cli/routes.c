/* SPDX-License-Identifier: MIT */
/*
 * The CLI's route commands (route add, set, ls, show, rm): a host name routed by the SNI
 * proxy to a target ip:port, independent of any VM (docs/api.md, "Routes").
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define TARGET_TEXT_MAX 80 /* "[" INET6_ADDRSTRLEN "]:65535" and then some */

/* The body of POST /v1/routes and PUT /v1/routes/ID. */
static enum cli_exit route_request(const struct cli *cli, const char *id, json_t **ret) {
        if (cli->hostnames.n != 1)
                return cli_usage_error("a route has exactly one --hostname (a VM takes several)");

        char ip[TARGET_TEXT_MAX];
        uint16_t port;
        int r = cli_target_parse(cli->target, ip, sizeof ip, &port);
        if (r < 0)
                return cli_usage_error("option --target: '%s' is not IP or IP:PORT (an IPv6 address with a port "
                                       "goes in brackets: [2001:db8::5]:8443; PORT is 1-65535)",
                                       cli->target);

        _cleanup_(json_decrefp) json_t *request = json_object();
        if (!request)
                return cli_out_of_memory();
        enum cli_exit x = cli_set_string(request, "id", id, "the route ID");
        if (x == CLI_EXIT_OK)
                x = cli_set_string(request, "hostname", cli->hostnames.items[0], "option --hostname");
        if (x == CLI_EXIT_OK)
                x = cli_set_string(request, "target_ip", ip, "option --target");
        if (x == CLI_EXIT_OK && cli->proxy_protocol)
                x = cli_set_string(request, "proxy_protocol", cli->proxy_protocol, "option --proxy-protocol");
        if (x != CLI_EXIT_OK)
                return x;
        if (port && json_object_set_new(request, "target_port", json_integer(port)) < 0)
                return cli_out_of_memory();
        if (cli->http_passthrough && json_object_set_new(request, "http_passthrough", json_true()) < 0)
                return cli_out_of_memory();
        if (cli->http_port) {
                uint64_t n;
                if (cli_number_parse(cli->http_port, 1, 65535, &n) < 0)
                        return cli_usage_error("option --http-port: '%s' is not a port (1-65535)", cli->http_port);
                if (json_object_set_new(request, "http_port", json_integer((json_int_t)n)) < 0)
                        return cli_out_of_memory();
        }

        json_t *allow = NULL, *labels = NULL;
        if ((x = cli_allow_json(cli, &allow)) != CLI_EXIT_OK)
                return x;
        if (allow && json_object_set_new(request, "allow", allow) < 0)
                return cli_out_of_memory();
        if ((x = cli_labels_json(cli, &labels)) != CLI_EXIT_OK)
                return x;
        if (labels && json_object_set_new(request, "labels", labels) < 0)
                return cli_out_of_memory();
        *ret = TAKE_PTR(request);
        return CLI_EXIT_OK;
}

/* "10.30.0.200:443" from a route object; "" when the fields are missing. */
static void route_target(const json_t *route, char *out, size_t out_size) {
        const char *ip = cli_json_string(route, "target_ip");
        const json_t *port = json_object_get(route, "target_port");
        if (!ip) {
                snprintf(out, out_size, "%s", "");
                return;
        }
        cli_target_format(ip, json_is_integer(port) ? (long)json_integer_value(port) : 0, out, out_size);
}

static enum cli_exit print_route_line(const json_t *route, const char *verb) {
        const char *id = cli_json_string(route, "id");
        const char *hostname = cli_json_string(route, "hostname");
        char target[TARGET_TEXT_MAX];
        route_target(route, target, sizeof target);
        if (!id || !hostname || !target[0])
                return cli_bad_response("a route object without id, hostname or target_ip");
        printf("route %s %s: %s -> %s\n", id, verb, hostname, target);
        return CLI_EXIT_OK;
}

/* route add (POST) and route set (PUT). */
static enum cli_exit route_save(const struct cli *cli, const char *id, bool put) {
        _cleanup_(json_decrefp) json_t *request = NULL;
        enum cli_exit x = route_request(cli, id, &request);
        if (x != CLI_EXIT_OK)
                return x;

        _cleanup_strbuf_ struct strbuf path = {};
        if (put)
                x = cli_resource_path("routes", id, &path);
        else {
                strbuf_append(&path, "/v1/routes");
                x = strbuf_status(&path) < 0 ? cli_out_of_memory() : CLI_EXIT_OK;
        }
        if (x != CLI_EXIT_OK)
                return x;

        _cleanup_(json_decrefp) json_t *root = NULL;
        long status = 0;
        x = cli_api_call(cli, put ? "PUT" : "POST", strbuf_str(&path), request, &root, &status);
        if (x != CLI_EXIT_OK)
                return x;
        if (cli->json)
                x = cli_print_json(root);
        else
                x = print_route_line(root, !put ? "added" : status == 201 ? "created" : "updated");
        cli_warn_if_rules_pending(root);
        return x;
}

enum cli_exit cmd_route_add(const struct cli *cli, const char *id) {
        return route_save(cli, id, false);
}

enum cli_exit cmd_route_set(const struct cli *cli, const char *id) {
        return route_save(cli, id, true);
}

struct route_row {
        char target[TARGET_TEXT_MAX];
        struct strbuf labels;
};

enum cli_exit cmd_route_ls(const struct cli *cli, const char *arg) {
        _cleanup_(json_decrefp) json_t *root = NULL;
        enum cli_exit x = cli_api_list(cli, "routes", &root);
        if (x != CLI_EXIT_OK)
                return x;
        if (cli->json)
                return cli_print_json(root);

        const json_t *routes = json_object_get(root, "routes");
        size_t n = json_array_size(routes);
        if (n == 0) {
                puts(cli->labels.n ? "no routes with these labels" : "no routes");
                return CLI_EXIT_OK;
        }

        enum { N_COLS = 5 };
        _cleanup_free_ struct route_row *rows = calloc(n, sizeof *rows);
        _cleanup_free_ const char **cells = calloc((n + 1) * N_COLS, sizeof *cells);
        if (!rows || !cells)
                return cli_out_of_memory();
        const char *header[N_COLS] = {"ID", "HOSTNAME", "TARGET", "ORIGIN", "LABELS"};
        memcpy(cells, header, sizeof header);
        for (size_t i = 0; i < n && x == CLI_EXIT_OK; i++) {
                const json_t *o = json_array_get(routes, i);
                struct route_row *r = &rows[i];
                const char *id = cli_json_string(o, "id"), *hostname = cli_json_string(o, "hostname");
                const char *origin = cli_json_string(o, "origin");
                route_target(o, r->target, sizeof r->target);
                if (!id || !hostname || !r->target[0]) {
                        x = cli_bad_response("a route object without id, hostname or target_ip");
                        break;
                }
                x = cli_labels_text(json_object_get(o, "labels"), ",", "-", &r->labels);
                const char *row[N_COLS] = {id, hostname, r->target, origin ? origin : "-", strbuf_str(&r->labels)};
                memcpy(cells + (i + 1) * N_COLS, row, sizeof row);
        }
        if (x == CLI_EXIT_OK)
                x = cli_print_table(cells, n + 1, N_COLS);
        for (size_t i = 0; i < n; i++)
                strbuf_done(&rows[i].labels);
        return x;
}

enum cli_exit cmd_route_show(const struct cli *cli, const char *id) {
        _cleanup_strbuf_ struct strbuf path = {};
        enum cli_exit x = cli_resource_path("routes", id, &path);
        if (x != CLI_EXIT_OK)
                return x;

        _cleanup_(json_decrefp) json_t *root = NULL;
        x = cli_api_call(cli, "GET", strbuf_str(&path), NULL, &root, NULL);
        if (x != CLI_EXIT_OK)
                return x;
        if (cli->json)
                return cli_print_json(root);

        const char *rid = cli_json_string(root, "id"), *hostname = cli_json_string(root, "hostname");
        char target[TARGET_TEXT_MAX];
        route_target(root, target, sizeof target);
        if (!rid || !hostname || !target[0])
                return cli_bad_response("a route object without id, hostname or target_ip");
        _cleanup_strbuf_ struct strbuf labels = {};
        x = cli_labels_text(json_object_get(root, "labels"), ", ", "none", &labels);
        if (x != CLI_EXIT_OK)
                return x;

        cli_print_field("id", rid);
        cli_print_field("hostname", hostname);
        cli_print_field("target", target);
        cli_print_optional_field(root, "mode", "mode");
        cli_print_optional_field(root, "origin", "origin");
        cli_print_field("labels", strbuf_str(&labels));
        cli_print_optional_field(root, "created_at", "created");
        cli_print_optional_field(root, "updated_at", "updated");
        cli_print_optional_field(root, "version", "version");
        return cli_print_https_options(root, "route");
}

enum cli_exit cmd_route_rm(const struct cli *cli, const char *id) {
        _cleanup_strbuf_ struct strbuf path = {};
        enum cli_exit x = cli_resource_path("routes", id, &path);
        if (x != CLI_EXIT_OK)
                return x;

        _cleanup_(json_decrefp) json_t *root = NULL;
        x = cli_api_call(cli, "DELETE", strbuf_str(&path), NULL, &root, NULL);
        if (x != CLI_EXIT_OK)
                return x;
        if (cli->json)
                x = cli_print_json(root);
        else {
                const char *hostname = cli_json_string(json_object_get(root, "removed"), "hostname");
                if (hostname)
                        printf("route %s removed (%s)\n", id, hostname);
                else
                        printf("route %s removed\n", id);
        }
        cli_warn_if_rules_pending(root);
        return x;
}
