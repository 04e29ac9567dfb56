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

#define TARGET_TEXT_MAX CLI_CELL_MAX /* "[" INET6_ADDRSTRLEN "]:65535" and then some */

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
        if (cli->dns && json_object_set_new(request, "dns", json_true()) < 0)
                return cli_out_of_memory();
        if (cli->http_port) {
                uint64_t n;
                if (cli_number_parse(cli->http_port, 1, 65535, &n) < 0)
                        return cli_usage_error("option --http-port: '%s' is not a port (1-65535)", cli->http_port);
                if (json_object_set_new(request, "http_port", json_integer((json_int_t)n)) < 0)
                        return cli_out_of_memory();
        }

        if ((x = cli_set_allow(cli, request)) != CLI_EXIT_OK || (x = cli_set_labels(cli, request)) != CLI_EXIT_OK)
                return x;
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
        _cleanup_(json_decrefp) json_t *request = NULL, *root = NULL;
        const char *verb;
        enum cli_exit x = route_request(cli, id, &request);
        if (x == CLI_EXIT_OK)
                x = cli_api_save(cli, "routes", id, put, request, &root, &verb);
        if (x != CLI_EXIT_OK)
                return x;
        x = cli->json ? cli_print_json(root) : print_route_line(root, verb);
        cli_warn_if_rules_pending(root);
        return x;
}

enum cli_exit cmd_route_add(const struct cli *cli, const char *id) {
        return route_save(cli, id, false);
}

enum cli_exit cmd_route_set(const struct cli *cli, const char *id) {
        return route_save(cli, id, true);
}

static enum cli_exit route_row(const json_t *o, struct cli_row *row, const char **cells) {
        const char *id = cli_json_string(o, "id"), *hostname = cli_json_string(o, "hostname");
        const char *origin = cli_json_string(o, "origin");
        char *target = row->text[0];
        route_target(o, target, CLI_CELL_MAX);
        if (!id || !hostname || !target[0])
                return cli_bad_response("a route object without id, hostname or target_ip");
        enum cli_exit x = cli_labels_text(json_object_get(o, "labels"), ",", "-", &row->buf);
        const char *cols[] = {id, hostname, target, origin ? origin : "-", strbuf_str(&row->buf)};
        memcpy(cells, cols, sizeof cols);
        return x;
}

enum cli_exit cmd_route_ls(const struct cli *cli, const char *arg) {
        static const char *const header[] = {"ID", "HOSTNAME", "TARGET", "ORIGIN", "LABELS"};
        return cli_print_list(cli, "routes", "routes", header, ELEMENTSOF(header), route_row);
}

enum cli_exit cmd_route_show(const struct cli *cli, const char *id) {
        _cleanup_(json_decrefp) json_t *root = NULL;
        enum cli_exit x = cli_api_item(cli, "GET", "routes", id, &root);
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
        cli_print_field("dns", json_is_true(json_object_get(root, "dns")) ? "a record is published for the name"
                                                                         : "no record (route add --dns asks for one)");
        cli_print_common_fields(root, strbuf_str(&labels));
        return cli_print_https_options(root, "route");
}

enum cli_exit cmd_route_rm(const struct cli *cli, const char *id) {
        _cleanup_(json_decrefp) json_t *root = NULL;
        enum cli_exit x = cli_api_item(cli, "DELETE", "routes", id, &root);
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
