/* SPDX-License-Identifier: MIT */
/*
 * The CLI's DHCP lease commands (lease add, ls, show, rm; issue 6): a VM's MAC bound to an
 * address of the [dhcp] pool, with an optional host name (docs/api.md, "Leases"). The MAC
 * is passed as typed; edgegwd checks it.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* An IPv4 text as a number for sorting; 0 for anything else. */
static uint32_t ipv4_key(const char *text) {
        unsigned a, b, c, d;
        char end;
        if (!text || sscanf(text, "%u.%u.%u.%u%c", &a, &b, &c, &d, &end) != 4 || a > 255 || b > 255 || c > 255 ||
            d > 255)
                return 0;
        return a << 24 | b << 16 | c << 8 | d;
}

/* "lease 52:54:00:12:34:56 -> 10.0.1.100 (web1)": the line of lease add and lease rm. */
static enum cli_exit lease_line(const json_t *lease, const char *verb) {
        const char *mac = cli_json_string(lease, "mac"), *ip = cli_json_string(lease, "ip");
        const char *name = cli_json_string(lease, "name");
        if (!mac || !ip)
                return cli_bad_response("a lease object without mac or ip");
        printf("lease %s -> %s%s%s%s%s\n", mac, ip, name ? " (" : "", name ? name : "", name ? ")" : "", verb);
        return CLI_EXIT_OK;
}

enum cli_exit cmd_lease_add(const struct cli *cli, const char *mac) {
        _cleanup_(json_decrefp) json_t *request = json_object(), *root = NULL;
        if (!request)
                return cli_out_of_memory();
        enum cli_exit x = cli_set_string(request, "mac", mac, "the MAC");
        if (x == CLI_EXIT_OK && cli->ip)
                x = cli_set_string(request, "ip", cli->ip, "option --ip");
        if (x == CLI_EXIT_OK && cli->lease_name)
                x = cli_set_string(request, "name", cli->lease_name, "option --name");
        if (x == CLI_EXIT_OK)
                x = cli_api_call(cli, "POST", "/v1/leases", request, &root, NULL);
        if (x != CLI_EXIT_OK)
                return x;
        x = cli->json ? cli_print_json(root) : lease_line(root, "");
        cli_warn_if_rules_pending(root);
        return x;
}

static int lease_compare(const void *a, const void *b) {
        uint32_t x = ipv4_key(cli_json_string(*(json_t *const *)a, "ip"));
        uint32_t y = ipv4_key(cli_json_string(*(json_t *const *)b, "ip"));
        return x < y ? -1 : x > y;
}

static enum cli_exit lease_row(const json_t *o, struct cli_row *row, const char **cells) {
        const char *mac = cli_json_string(o, "mac"), *ip = cli_json_string(o, "ip");
        const char *name = cli_json_string(o, "name"), *vm = cli_json_string(o, "vm_id");
        if (!mac || !ip)
                return cli_bad_response("a lease object without mac or ip");
        const char *cols[] = {mac, ip, name ? name : "-", vm ? vm : "-"};
        memcpy(cells, cols, sizeof cols);
        return CLI_EXIT_OK;
}

/* Every page (by MAC, as the API pages them); the table is by address. */
enum cli_exit cmd_lease_ls(const struct cli *cli, const char *arg) {
        static const char *const header[] = {"MAC", "IP", "NAME", "VM"};
        _cleanup_(json_decrefp) json_t *root = NULL;
        enum cli_exit x = cli_api_list(cli, "leases", &root);
        if (x != CLI_EXIT_OK)
                return x;
        if (cli->json)
                return cli_print_json(root);
        const json_t *items = json_object_get(root, "leases");
        size_t n = json_array_size(items);
        if (n == 0) {
                printf("no leases\n");
                return CLI_EXIT_OK;
        }
        _cleanup_free_ json_t **sorted = calloc(n, sizeof *sorted);
        _cleanup_(json_decrefp) json_t *by_ip = json_array();
        if (!sorted || !by_ip)
                return cli_out_of_memory();
        for (size_t i = 0; i < n; i++)
                sorted[i] = json_array_get(items, i);
        qsort(sorted, n, sizeof *sorted, lease_compare);
        for (size_t i = 0; i < n; i++)
                if (json_array_append(by_ip, sorted[i]) < 0)
                        return cli_out_of_memory();
        return cli_print_rows(by_ip, header, ELEMENTSOF(header), lease_row);
}

enum cli_exit cmd_lease_show(const struct cli *cli, const char *mac) {
        _cleanup_(json_decrefp) json_t *root = NULL;
        enum cli_exit x = cli_api_item(cli, "GET", "leases", mac, &root);
        if (x != CLI_EXIT_OK)
                return x;
        if (cli->json)
                return cli_print_json(root);
        const char *m = cli_json_string(root, "mac"), *ip = cli_json_string(root, "ip");
        const char *name = cli_json_string(root, "name"), *vm = cli_json_string(root, "vm_id");
        if (!m || !ip)
                return cli_bad_response("a lease object without mac or ip");
        cli_print_field("mac", m);
        cli_print_field("ip", ip);
        cli_print_field("name", name ? name : "none");
        cli_print_field("vm", vm ? vm : "none (made by lease add)");
        cli_print_optional_field(root, "created_at", "created");
        cli_print_optional_field(root, "updated_at", "updated");
        return CLI_EXIT_OK;
}

enum cli_exit cmd_lease_rm(const struct cli *cli, const char *mac) {
        _cleanup_(json_decrefp) json_t *root = NULL;
        enum cli_exit x = cli_api_item(cli, "DELETE", "leases", mac, &root);
        if (x != CLI_EXIT_OK)
                return x;
        x = cli->json ? cli_print_json(root) : lease_line(json_object_get(root, "removed"), " removed");
        cli_warn_if_rules_pending(root);
        return x;
}
