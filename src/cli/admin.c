/* SPDX-License-Identifier: MIT */
/*
 * The CLI's commands about the gateway itself rather than one resource: API tokens
 * (token add, ls, rm), the audit log (audit), the reconciler's health (status) and drift
 * (check).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define AUDIT_LIMIT_DEFAULT 100
#define AUDIT_PAGE_MAX 1000 /* the API's largest page */
#define AUDIT_LIMIT_MAX 1000000

static const char *scope_name(const json_t *scope) {
        return json_is_string(scope) ? json_string_value(scope) : "?";
}

enum cli_exit cmd_token_add(const struct cli *cli, const char *name) {
        _cleanup_(json_decrefp) json_t *request = json_object();
        json_t *scopes = json_array();
        if (!request || !scopes || json_object_set_new(request, "scopes", scopes) < 0)
                return cli_out_of_memory();
        enum cli_exit x = cli_set_string(request, "name", name, "the token NAME");
        if (x != CLI_EXIT_OK)
                return x;
        for (size_t i = 0; i < cli->scopes.n; i++) {
                int r = cli_list_append(cli->scopes.items[i], scopes);
                if (r == -EINVAL)
                        return cli_usage_error("option --scope: empty scope in '%s'", cli->scopes.items[i]);
                if (r == -EILSEQ)
                        return cli_usage_error("option --scope: the scopes must be valid UTF-8 text");
                if (r < 0)
                        return cli_out_of_memory();
        }
        if (cli->datacenter && (x = cli_set_string(request, "datacenter", cli->datacenter, "option --datacenter")) !=
                                       CLI_EXIT_OK)
                return x;

        _cleanup_(json_decrefp) json_t *root = NULL;
        x = cli_api_call(cli, "POST", "/v1/tokens", request, &root, NULL);
        if (x != CLI_EXIT_OK)
                return x;
        if (cli->json)
                return cli_print_json(root);

        const char *secret = cli_json_string(root, "token");
        if (!secret)
                return cli_bad_response("the new token's 'token' is missing");
        _cleanup_strbuf_ struct strbuf scope_text = {};
        const json_t *granted = json_object_get(root, "scopes");
        for (size_t i = 0; i < json_array_size(granted); i++)
                strbuf_printf(&scope_text, "%s%s", i ? "," : "",
                              scope_name(json_array_get(granted, i)));
        if (strbuf_status(&scope_text) < 0)
                return cli_out_of_memory();
        /* stdout gets the secret alone, so TOKEN=$(edgegw token add ...) works */
        const char *dc = cli_json_string(root, "datacenter");
        fprintf(stderr,
                "edgegw: token '%s' created with scopes %s%s%s%s\n"
                "edgegw: this is the only time its secret is shown (edgegwd keeps only a hash): store it now\n",
                name, strbuf_str(&scope_text), dc ? " (DNS names only under datacenter " : "", dc ? dc : "",
                dc ? ")" : "");
        puts(secret);
        return CLI_EXIT_OK;
}

static enum cli_exit token_row(const json_t *o, struct cli_row *row, const char **cells) {
        const char *name = cli_json_string(o, "name"), *created = cli_json_string(o, "created_at");
        const char *last_used = cli_json_string(o, "last_used_at");
        const json_t *scopes = json_object_get(o, "scopes");
        if (!name || !created || !json_is_array(scopes))
                return cli_bad_response("a token object without name, scopes or created_at");
        for (size_t s = 0; s < json_array_size(scopes); s++)
                strbuf_printf(&row->buf, "%s%s", s ? "," : "", scope_name(json_array_get(scopes, s)));
        if (strbuf_status(&row->buf) < 0)
                return cli_out_of_memory();
        const char *dc = cli_json_string(o, "datacenter");
        const char *cols[] = {name, strbuf_str(&row->buf), dc ? dc : "-", created, last_used ? last_used : "never"};
        memcpy(cells, cols, sizeof cols);
        return CLI_EXIT_OK;
}

enum cli_exit cmd_token_ls(const struct cli *cli, const char *arg) {
        static const char *const header[] = {"NAME", "SCOPES", "DATACENTER", "CREATED", "LAST USED"};
        _cleanup_(json_decrefp) json_t *root = NULL;
        enum cli_exit x = cli_api_call(cli, "GET", "/v1/tokens", NULL, &root, NULL);
        if (x != CLI_EXIT_OK)
                return x;
        if (cli->json)
                return cli_print_json(root);

        const json_t *tokens = json_object_get(root, "tokens");
        if (!json_is_array(tokens))
                return cli_bad_response("'tokens' is not an array");
        if (json_array_size(tokens) == 0) {
                puts("no tokens");
                return CLI_EXIT_OK;
        }
        return cli_print_rows(tokens, header, ELEMENTSOF(header), token_row);
}

enum cli_exit cmd_token_rm(const struct cli *cli, const char *name) {
        _cleanup_(json_decrefp) json_t *root = NULL;
        enum cli_exit x = cli_api_item(cli, "DELETE", "tokens", name, &root);
        if (x != CLI_EXIT_OK)
                return x;
        if (cli->json)
                return cli_print_json(root);
        printf("token %s removed: it no longer authenticates\n", name);
        return CLI_EXIT_OK;
}

/* GET /v1/audit pages, newest first, until limit entries or the oldest one. */
enum cli_exit cmd_audit(const struct cli *cli, const char *arg) {
        uint64_t limit = AUDIT_LIMIT_DEFAULT;
        if (cli->limit && cli_number_parse(cli->limit, 1, AUDIT_LIMIT_MAX, &limit) < 0)
                return cli_usage_error("option --limit: '%s' is not a number of entries (1-%d)", cli->limit,
                                       AUDIT_LIMIT_MAX);

        _cleanup_(json_decrefp) json_t *all = NULL;
        json_int_t before = 0; /* 0: from the newest */
        for (;;) {
                size_t have = json_array_size(json_object_get(all, "entries"));
                uint64_t want = limit - have;
                char page[24], before_text[24];
                snprintf(page, sizeof page, "%llu",
                         (unsigned long long)(want < AUDIT_PAGE_MAX ? want : AUDIT_PAGE_MAX));
                _cleanup_strbuf_ struct strbuf path = {};
                strbuf_append(&path, "/v1/audit");
                cli_query_append(&path, "limit", page);
                if (before) {
                        snprintf(before_text, sizeof before_text, "%" JSON_INTEGER_FORMAT, before);
                        cli_query_append(&path, "before", before_text);
                }
                if (cli->kind)
                        cli_query_append(&path, "kind", cli->kind);
                if (cli->audit_id)
                        cli_query_append(&path, "id", cli->audit_id);
                if (strbuf_status(&path) < 0)
                        return cli_out_of_memory();

                _cleanup_(json_decrefp) json_t *root = NULL;
                enum cli_exit x = cli_api_call(cli, "GET", strbuf_str(&path), NULL, &root, NULL);
                if (x != CLI_EXIT_OK)
                        return x;
                json_t *entries = json_object_get(root, "entries");
                json_t *next = json_object_get(root, "next");
                if (!json_is_array(entries))
                        return cli_bad_response("'entries' is not an array");
                if (next && !json_is_null(next) && !json_is_integer(next))
                        return cli_bad_response("'next' is neither a sequence number nor null");

                if (!all)
                        all = json_incref(root);
                else {
                        if (json_array_extend(json_object_get(all, "entries"), entries) < 0 ||
                            json_object_set(all, "next", next ? next : json_null()) < 0)
                                return cli_out_of_memory();
                }
                if (!json_is_integer(next) || json_array_size(json_object_get(all, "entries")) >= limit ||
                    json_array_size(entries) == 0)
                        break;
                /* newest first: a cursor that does not move back would loop forever */
                json_int_t n = json_integer_value(next);
                if (before && n >= before)
                        return cli_bad_response("the 'next' cursor %" JSON_INTEGER_FORMAT " does not precede %"
                                                JSON_INTEGER_FORMAT,
                                                n, before);
                before = n;
        }
        if (cli->json)
                return cli_print_json(all);

        const json_t *entries = json_object_get(all, "entries");
        size_t n = json_array_size(entries);
        if (n == 0) {
                puts("no audit entries");
                return CLI_EXIT_OK;
        }
        enum { N_COLS = 6 };
        _cleanup_free_ char(*seqs)[24] = calloc(n, sizeof *seqs);
        _cleanup_free_ const char **cells = calloc((n + 1) * N_COLS, sizeof *cells);
        if (!seqs || !cells)
                return cli_out_of_memory();
        const char *header[N_COLS] = {"SEQ", "TIME", "ACTOR", "ACTION", "KIND", "ID"};
        memcpy(cells, header, sizeof header);
        for (size_t i = 0; i < n; i++) {
                const json_t *e = json_array_get(entries, i);
                const json_t *seq = json_object_get(e, "seq");
                const char *at = cli_json_string(e, "at"), *actor = cli_json_string(e, "actor");
                const char *action = cli_json_string(e, "action"), *kind = cli_json_string(e, "kind");
                const char *id = cli_json_string(e, "id");
                if (!json_is_integer(seq) || !at || !actor || !action)
                        return cli_bad_response("an audit entry without seq, at, actor or action");
                snprintf(seqs[i], sizeof seqs[i], "%" JSON_INTEGER_FORMAT, json_integer_value(seq));
                const char *row[N_COLS] = {seqs[i], at, actor, action, kind ? kind : "-", id ? id : "-"};
                memcpy(cells + (i + 1) * N_COLS, row, sizeof row);
        }
        return cli_print_table(cells, n + 1, N_COLS);
}

struct part_row {
        char duration[32];
        char runs[24];
        char failures[24];
};

static bool part_ran(const json_t *part) {
        const json_t *runs = json_object_get(part, "runs");
        return json_is_string(json_object_get(part, "last_run")) ||
               (json_is_integer(runs) && json_integer_value(runs) > 0);
}

/* A reconciler part failed when its last run (there was one) did not succeed. */
static bool part_failed(const json_t *part) {
        return part_ran(part) && json_is_false(json_object_get(part, "ok"));
}

/* "edgegwd 0.1.0" and one row per part: name, last run, result, duration, runs, failures,
 * error. */
static enum cli_exit print_status(const json_t *root, json_t *parts) {
        const char *version = cli_json_string(root, "version");
        const char *mode = cli_json_string(root, "forward_mode");
        printf("edgegwd %s%s%s%s\n", version ? version : "(version unknown)", mode ? " (forward mode " : "",
               mode ? mode : "", mode ? ")" : "");

        enum { N_COLS = 7 };
        size_t n = json_object_size(parts);
        _cleanup_free_ struct part_row *rows = calloc(n ? n : 1, sizeof *rows);
        _cleanup_free_ const char **cells = calloc((n + 1) * N_COLS, sizeof *cells);
        if (!rows || !cells)
                return cli_out_of_memory();
        const char *header[N_COLS] = {"PART", "LAST RUN", "RESULT", "DURATION", "RUNS", "FAILURES", "ERROR"};
        memcpy(cells, header, sizeof header);
        size_t i = 0;
        const char *key;
        json_t *part;
        json_object_foreach(parts, key, part) {
                struct part_row *r = &rows[i];
                const char *last_run = cli_json_string(part, "last_run");
                const char *error = cli_json_string(part, "error");
                const json_t *duration = json_object_get(part, "duration_ms");
                const json_t *runs = json_object_get(part, "runs");
                const json_t *failures = json_object_get(part, "failures");
                snprintf(r->duration, sizeof r->duration, "-");
                if (json_is_number(duration) && part_ran(part))
                        snprintf(r->duration, sizeof r->duration, "%.1f ms", json_number_value(duration));
                snprintf(r->runs, sizeof r->runs, "%" JSON_INTEGER_FORMAT,
                         json_is_integer(runs) ? json_integer_value(runs) : 0);
                snprintf(r->failures, sizeof r->failures, "%" JSON_INTEGER_FORMAT,
                         json_is_integer(failures) ? json_integer_value(failures) : 0);
                const char *row[N_COLS] = {
                        key,
                        last_run ? last_run : "never",
                        part_failed(part) ? "failed" : part_ran(part) ? "ok" : "-",
                        r->duration,
                        r->runs,
                        r->failures,
                        error && error[0] ? error : "-",
                };
                memcpy(cells + (i + 1) * N_COLS, row, sizeof row);
                i++;
        }
        return cli_print_table(cells, n + 1, N_COLS);
}

/* "dns:       rfc2136, 12 synced, 1 error (last: ...)" under the table; nothing from a
 * daemon without DNS. The DNS provider's trouble never changes the exit code: ports and
 * names work without it, and the records follow when it is back. */
static enum cli_exit print_dns_status(const json_t *root) {
        const json_t *dns = json_object_get(root, "dns");
        if (!dns)
                return CLI_EXIT_OK;
        _cleanup_strbuf_ struct strbuf line = {};
        if (cli_dns_status_format(dns, &line) < 0)
                return cli_bad_response("'dns' is not an object with 'enabled'");
        if (strbuf_status(&line) < 0)
                return cli_out_of_memory();
        cli_print_field("dns", strbuf_str(&line));
        return CLI_EXIT_OK;
}

/* "dhcp:      running (pid 812), 12 leases, 1 restart (last: killed by signal 9)"; nothing
 * from a daemon without DHCP. Like DNS, it does not change the exit code. */
static void print_dhcp_status(const json_t *root) {
        const json_t *h = json_object_get(root, "dhcp");
        if (!json_is_object(h))
                return;
        if (!json_is_true(json_object_get(h, "enabled"))) {
                cli_print_field("dhcp", "not configured");
                return;
        }
        const char *state = cli_json_string(h, "state"), *last_exit = cli_json_string(h, "last_exit");
        const char *error = cli_json_string(h, "last_error");
        json_int_t pid = json_integer_value(json_object_get(h, "pid"));
        json_int_t leases = json_integer_value(json_object_get(h, "leases"));
        json_int_t restarts = json_integer_value(json_object_get(h, "restarts"));
        _cleanup_strbuf_ struct strbuf line = {};
        strbuf_printf(&line, "dnsmasq %s", state ? state : "?");
        if (pid > 0)
                strbuf_printf(&line, " (pid %lld)", (long long)pid);
        strbuf_printf(&line, ", %lld lease%s", (long long)leases, leases == 1 ? "" : "s");
        if (restarts > 0)
                strbuf_printf(&line, ", %lld restart%s%s%s%s", (long long)restarts, restarts == 1 ? "" : "s",
                              last_exit ? " (last: " : "", last_exit ? last_exit : "", last_exit ? ")" : "");
        if (error)
                strbuf_printf(&line, "; error: %s", error);
        if (strbuf_status(&line) >= 0)
                cli_print_field("dhcp", strbuf_str(&line));
}

enum cli_exit cmd_status(const struct cli *cli, const char *arg) {
        _cleanup_(json_decrefp) json_t *root = NULL;
        enum cli_exit x = cli_api_call(cli, "GET", "/v1/status", NULL, &root, NULL);
        if (x != CLI_EXIT_OK)
                return x;
        json_t *parts = json_object_get(root, "reconcilers");
        if (!json_is_object(parts))
                return cli_bad_response("'reconcilers' is not an object");
        const char *key;
        json_t *part;
        size_t n_failed = 0;
        json_object_foreach(parts, key, part) {
                if (!json_is_object(part))
                        return cli_bad_response("reconciler part '%s' is not an object", key);
                if (part_failed(part))
                        n_failed++;
        }

        x = cli->json ? cli_print_json(root) : print_status(root, parts);
        if (x == CLI_EXIT_OK && !cli->json)
                x = print_dns_status(root);
        if (x == CLI_EXIT_OK && !cli->json)
                print_dhcp_status(root);
        if (x != CLI_EXIT_OK)
                return x;
        if (n_failed > 0) {
                fprintf(stderr, "edgegw: %zu reconciler part%s failed %s last run (edgegwd keeps retrying)\n",
                        n_failed, n_failed == 1 ? "" : "s", n_failed == 1 ? "its" : "their");
                return CLI_EXIT_ERROR;
        }
        return CLI_EXIT_OK;
}

enum cli_exit cmd_check(const struct cli *cli, const char *arg) {
        _cleanup_(json_decrefp) json_t *root = NULL;
        enum cli_exit x = cli_api_call(cli, "GET", "/v1/check", NULL, &root, NULL);
        if (x != CLI_EXIT_OK)
                return x;

        const json_t *clean = json_object_get(root, "clean");
        const json_t *differences = json_object_get(root, "differences");
        if (!json_is_boolean(clean))
                return cli_bad_response("'clean' is not a boolean");
        if (!json_is_array(differences))
                return cli_bad_response("'differences' is not an array");
        if (cli->json) {
                x = cli_print_json(root);
                if (x != CLI_EXIT_OK)
                        return x;
                return json_is_true(clean) ? CLI_EXIT_OK : CLI_EXIT_DRIFT;
        }

        if (json_is_true(clean)) {
                puts("clean: kernel rules match the desired state");
                return CLI_EXIT_OK;
        }
        size_t i;
        const json_t *d;
        json_array_foreach(differences, i, d) {
                const char *s = json_string_value(d);
                if (!s)
                        return cli_bad_response("a difference is not a string");
                puts(s);
        }
        if (json_array_size(differences) == 0)
                puts("drift: kernel rules differ from the desired state");
        return CLI_EXIT_DRIFT;
}
