/* SPDX-License-Identifier: MIT */
/*
 * The CLI's VM commands (vm add, set, ls, show, rm): build the request from the options,
 * and show a VM as its Connection Details box (model/details), a table, or the fields
 * beside the box (names, labels, expiry, traffic).
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../model/details.h"
#include "../model/vm.h"
#include "cli.h"

/* The fields of a VM object that the human output needs; strings borrowed from the JSON. */
struct vm_view {
        const char *id;
        const char *ip;
        const char *slug;
        const char *subdomain;
        const char *created_at;
        uint16_t ssh_port;
        uint16_t port_range_start;
        uint16_t port_range_end;
};

static bool json_get_port(const json_t *o, const char *key, uint16_t *ret) {
        const json_t *v = json_object_get(o, key);
        if (!json_is_integer(v))
                return false;
        json_int_t n = json_integer_value(v);
        if (n < 1 || n > 65535)
                return false;
        *ret = (uint16_t)n;
        return true;
}

/* Picks the displayed fields out of a VM object. Returns 0, or -EBADMSG with *ret_field
 * naming the first missing or malformed field (*ret untouched). */
static int vm_view_parse(const json_t *o, struct vm_view *ret, const char **ret_field) {
        struct vm_view v = {
                .id = cli_json_string(o, "id"),
                .ip = cli_json_string(o, "ip"),
                .slug = cli_json_string(o, "slug"),
                .subdomain = cli_json_string(o, "subdomain"),
                .created_at = cli_json_string(o, "created_at"),
        };
        const char *bad = NULL;
        if (!json_is_object(o))
                bad = "(the VM object)";
        else if (!v.id)
                bad = "id";
        else if (!v.ip)
                bad = "ip";
        else if (!v.slug)
                bad = "slug";
        else if (!v.subdomain || strlen(v.subdomain) > DNS_NAME_MAX)
                bad = "subdomain";
        else if (!v.created_at)
                bad = "created_at";
        else if (!json_get_port(o, "ssh_port", &v.ssh_port))
                bad = "ssh_port";
        else if (!json_get_port(o, "port_range_start", &v.port_range_start))
                bad = "port_range_start";
        else if (!json_get_port(o, "port_range_end", &v.port_range_end) || v.port_range_end < v.port_range_start)
                bad = "port_range_end";
        if (bad) {
                *ret_field = bad;
                return -EBADMSG;
        }
        *ret = v;
        return 0;
}

static enum cli_exit parse_vm_or_report(const json_t *o, struct vm_view *ret) {
        const char *field = NULL;
        if (vm_view_parse(o, ret, &field) < 0)
                return cli_bad_response("VM field '%s' is missing or malformed", field);
        return CLI_EXIT_OK;
}

static enum cli_exit print_details(const struct vm_view *v) {
        _cleanup_strbuf_ struct strbuf box = {};
        uint16_t block_size = (uint16_t)(v->port_range_end - v->port_range_start + 1);
        if (details_render_text(v->subdomain, v->port_range_start, block_size, &box) < 0)
                return cli_out_of_memory();
        fputs(strbuf_str(&box), stdout);
        return CLI_EXIT_OK;
}

/* "a, b" from an array of strings; none_text when empty or absent. */
static enum cli_exit names_text(const json_t *names, const char *none_text, struct strbuf *out) {
        if (names && !json_is_null(names) && !json_is_array(names))
                return cli_bad_response("'hostnames' is not an array");
        for (size_t i = 0; i < json_array_size(names); i++) {
                const char *s = json_string_value(json_array_get(names, i));
                if (!s)
                        return cli_bad_response("'hostnames' holds something other than a string");
                strbuf_printf(out, "%s%s", i ? ", " : "", s);
        }
        if (json_array_size(names) == 0)
                strbuf_append(out, none_text);
        return strbuf_status(out) < 0 ? cli_out_of_memory() : CLI_EXIT_OK;
}

/* "2026-11-22T10:00:00Z (in 23h 59m)" into out and *ret_expires true, or *ret_expires
 * false when the VM never expires. */
static enum cli_exit expiry_text(const json_t *vm, struct strbuf *out, bool *ret_expires) {
        const json_t *e = json_object_get(vm, "expires_at");
        *ret_expires = false;
        if (!e || json_is_null(e))
                return CLI_EXIT_OK;
        const char *at = json_string_value(e);
        int64_t t;
        if (!at || cli_time_parse(at, &t) < 0)
                return cli_bad_response("'expires_at' is not an RFC 3339 UTC time");
        int64_t left = t - (int64_t)time(NULL);
        char span[32];
        cli_span_format(left, span, sizeof span);
        if (left > 0)
                strbuf_printf(out, "%s (in %s)", at, span);
        else
                strbuf_printf(out, "%s (due: edgegwd removes it within seconds)", at);
        *ret_expires = true;
        return strbuf_status(out) < 0 ? cli_out_of_memory() : CLI_EXIT_OK;
}

static enum cli_exit print_bytes(const json_t *vm, const char *key, const char *name) {
        const json_t *v = json_object_get(vm, key);
        char text[64] = "unknown";
        if (json_is_integer(v) && json_integer_value(v) >= 0) {
                char human[24];
                uint64_t n = (uint64_t)json_integer_value(v);
                cli_bytes_format(n, human, sizeof human);
                if (n < 1024)
                        snprintf(text, sizeof text, "%s", human);
                else
                        snprintf(text, sizeof text, "%" PRIu64 " (%s)", n, human);
        } else if (v && !json_is_null(v))
                return cli_bad_response("'%s' is neither a count nor null", key);
        cli_print_field(name, text);
        return CLI_EXIT_OK;
}

/* The fields beside the box. all: every field (vm show); otherwise only the ones set
 * (vm add, vm set). */
static enum cli_exit print_vm_fields(const json_t *vm, bool all) {
        _cleanup_strbuf_ struct strbuf names = {}, labels = {}, expiry = {};
        bool expires;
        enum cli_exit x = names_text(json_object_get(vm, "hostnames"), "none", &names);
        if (x == CLI_EXIT_OK)
                x = cli_labels_text(json_object_get(vm, "labels"), ", ", "none", &labels);
        if (x == CLI_EXIT_OK)
                x = expiry_text(vm, &expiry, &expires);
        if (x != CLI_EXIT_OK)
                return x;
        const char *mac = cli_json_string(vm, "mac"), *ip = cli_json_string(vm, "ip");
        if (mac) {
                char lease[CLI_CELL_MAX];
                snprintf(lease, sizeof lease, "%s -> %s (DHCP)", mac, ip ? ip : "?");
                cli_print_field("lease", lease);
        }
        if (all || json_array_size(json_object_get(vm, "hostnames")) > 0)
                cli_print_field("hostnames", strbuf_str(&names));
        if (all || json_object_size(json_object_get(vm, "labels")) > 0)
                cli_print_field("labels", strbuf_str(&labels));
        if (all || expires)
                cli_print_field("expires", expires ? strbuf_str(&expiry) : "never");
        if (!all)
                return CLI_EXIT_OK;
        x = print_bytes(vm, "bytes_in", "bytes in");
        if (x == CLI_EXIT_OK)
                x = print_bytes(vm, "bytes_out", "bytes out");
        return x;
}

/* The body of POST /v1/vms and PUT /v1/vms/ID. */
static enum cli_exit vm_request(const struct cli *cli, const char *id, json_t **ret) {
        _cleanup_(json_decrefp) json_t *request = json_object();
        if (!request)
                return cli_out_of_memory();
        enum cli_exit x = cli_set_string(request, "id", id, "the VM ID");
        if (x == CLI_EXIT_OK && cli->ip)
                x = cli_set_string(request, "ip", cli->ip, "option --ip");
        if (x == CLI_EXIT_OK && cli->mac)
                x = cli_set_string(request, "mac", cli->mac, "option --mac");
        /* Options left out are left to the daemon's defaults. */
        if (x == CLI_EXIT_OK && cli->proxy_protocol)
                x = cli_set_string(request, "proxy_protocol", cli->proxy_protocol, "option --proxy-protocol");
        if (x != CLI_EXIT_OK)
                return x;
        if (cli->http_passthrough && json_object_set_new(request, "http_passthrough", json_true()) < 0)
                return cli_out_of_memory();

        if ((x = cli_set_allow(cli, request)) != CLI_EXIT_OK || (x = cli_set_labels(cli, request)) != CLI_EXIT_OK)
                return x;

        if (cli->hostnames.n > 0) {
                json_t *names = json_array();
                if (!names || json_object_set_new(request, "hostnames", names) < 0)
                        return cli_out_of_memory();
                for (size_t i = 0; i < cli->hostnames.n; i++) {
                        json_t *s = json_string(cli->hostnames.items[i]);
                        if (!s)
                                return cli_usage_error("option --hostname must be valid UTF-8 text");
                        if (json_array_append_new(names, s) < 0)
                                return cli_out_of_memory();
                }
        }

        if (cli->ttl) {
                int64_t seconds;
                int r = cli_duration_parse(cli->ttl, &seconds);
                if (r == -ERANGE)
                        return cli_usage_error("option --ttl: '%s' is too long", cli->ttl);
                if (r < 0)
                        return cli_usage_error("option --ttl: '%s' is not a duration (seconds, or e.g. 90s, "
                                               "30m, 12h, 7d)",
                                               cli->ttl);
                if (json_object_set_new(request, "ttl", json_integer((json_int_t)seconds)) < 0)
                        return cli_out_of_memory();
        }
        *ret = TAKE_PTR(request);
        return CLI_EXIT_OK;
}

/* vm add (POST) and vm set (PUT): the same body, the same output. */
static enum cli_exit vm_save(const struct cli *cli, const char *id, bool put) {
        _cleanup_(json_decrefp) json_t *request = NULL, *root = NULL;
        const char *verb;
        enum cli_exit x = vm_request(cli, id, &request);
        if (x == CLI_EXIT_OK)
                x = cli_api_save(cli, "vms", id, put, request, &root, &verb);
        if (x != CLI_EXIT_OK)
                return x;

        if (cli->json)
                x = cli_print_json(root);
        else {
                struct vm_view v;
                x = parse_vm_or_report(root, &v);
                if (x != CLI_EXIT_OK)
                        return x;
                printf("VM %s %s\n", v.id, verb);
                x = print_details(&v);
                if (x == CLI_EXIT_OK)
                        x = print_vm_fields(root, false);
        }
        cli_warn_if_rules_pending(root);
        return x;
}

enum cli_exit cmd_vm_add(const struct cli *cli, const char *id) {
        if (!cli->ip && !cli->mac)
                return cli_usage_error("vm add: missing --ip IP or --mac MAC (the VM's address, or the MAC whose DHCP "
                                       "lease gives it)");
        return vm_save(cli, id, false);
}

enum cli_exit cmd_vm_set(const struct cli *cli, const char *id) {
        return vm_save(cli, id, true);
}

static enum cli_exit vm_row(const json_t *o, struct cli_row *row, const char **cells) {
        struct vm_view v;
        enum cli_exit x = parse_vm_or_report(o, &v);
        if (x != CLI_EXIT_OK)
                return x;
        char *ports = row->text[0];
        snprintf(ports, CLI_CELL_MAX, "%u-%u", v.port_range_start, v.port_range_end);
        x = cli_labels_text(json_object_get(o, "labels"), ",", "-", &row->buf);
        const char *cols[] = {v.id, v.slug, v.ip, ports, v.subdomain, strbuf_str(&row->buf)};
        memcpy(cells, cols, sizeof cols);
        return x;
}

enum cli_exit cmd_vm_ls(const struct cli *cli, const char *arg) {
        static const char *const header[] = {"ID", "SLUG", "IP", "PORTS", "NAME", "LABELS"};
        return cli_print_list(cli, "vms", "VMs", header, ELEMENTSOF(header), vm_row);
}

/* "dns:       NAME TYPE CONTENT STATE" per record of the VM's "dns" list, "dns: none" for
 * an empty one; nothing when the daemon sends no list. */
static enum cli_exit print_dns(const json_t *vm) {
        const json_t *dns = json_object_get(vm, "dns");
        if (!dns)
                return CLI_EXIT_OK;
        if (!json_is_array(dns))
                return cli_bad_response("'dns' is not an array");
        if (json_array_size(dns) == 0)
                cli_print_field("dns", "none");
        int64_t now = (int64_t)time(NULL);
        size_t i;
        const json_t *rec;
        json_array_foreach(dns, i, rec) {
                _cleanup_strbuf_ struct strbuf line = {};
                if (cli_dns_record_format(rec, now, &line) < 0)
                        return cli_bad_response("a DNS record of the VM without name, type, content or state");
                if (strbuf_status(&line) < 0)
                        return cli_out_of_memory();
                cli_print_field("dns", strbuf_str(&line));
        }
        return CLI_EXIT_OK;
}

enum cli_exit cmd_vm_show(const struct cli *cli, const char *id) {
        _cleanup_(json_decrefp) json_t *root = NULL;
        enum cli_exit x = cli_api_item(cli, "GET", "vms", id, &root);
        if (x != CLI_EXIT_OK)
                return x;
        if (cli->json)
                return cli_print_json(root);

        struct vm_view v;
        x = parse_vm_or_report(root, &v);
        if (x != CLI_EXIT_OK)
                return x;
        cli_print_field("id", v.id);
        cli_print_field("ip", v.ip);
        cli_print_field("created", v.created_at);
        const char *updated = cli_json_string(root, "updated_at");
        if (updated)
                cli_print_field("updated", updated);
        x = print_vm_fields(root, true);
        if (x == CLI_EXIT_OK)
                x = print_dns(root);
        if (x != CLI_EXIT_OK)
                return x;
        x = print_details(&v);
        if (x != CLI_EXIT_OK)
                return x;
        return cli_print_https_options(root, "VM");
}

enum cli_exit cmd_vm_rm(const struct cli *cli, const char *id) {
        _cleanup_(json_decrefp) json_t *root = NULL;
        enum cli_exit x = cli_api_item(cli, "DELETE", "vms", id, &root);
        if (x != CLI_EXIT_OK)
                return x;

        if (cli->json)
                x = cli_print_json(root);
        else {
                struct vm_view v;
                x = parse_vm_or_report(json_object_get(root, "removed"), &v);
                if (x != CLI_EXIT_OK)
                        return x;
                if (v.port_range_start == v.port_range_end)
                        printf("VM %s removed (port %u released)\n", v.id, v.port_range_start);
                else
                        printf("VM %s removed (ports %u-%u released)\n", v.id, v.port_range_start,
                               v.port_range_end);
                size_t i;
                const json_t *lease;
                json_array_foreach(json_object_get(root, "removed_leases"), i, lease) {
                        const char *mac = cli_json_string(lease, "mac"), *ip = cli_json_string(lease, "ip");
                        if (mac && ip)
                                printf("lease %s -> %s removed with it\n", mac, ip);
                }
        }
        cli_warn_if_rules_pending(root);
        return x;
}
