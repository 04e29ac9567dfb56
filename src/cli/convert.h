/* SPDX-License-Identifier: MIT */
/*
 * The edgegw CLI's pure conversions: what a person types (durations, K=V labels, comma
 * lists, IP[:PORT] targets, numbers, a base URL) into what the API takes, and what the API
 * answers (labels, sizes, times, HTTP statuses) into what the CLI shows or exits with. No
 * I/O and no curl, so tests/unit/test-cli.c links this file directly.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/strbuf.h"

/* What a run ended with; the numbers are a documented interface (usage text, docs/cli.md). */
enum cli_exit {
        CLI_EXIT_OK = 0,
        CLI_EXIT_ERROR = 1, /* anything else: 5xx, 405, 429, a bad response, out of memory */
        CLI_EXIT_USAGE = 2, /* rejected locally before any request */
        CLI_EXIT_UNREACHABLE = 3, /* no daemon answering at the socket or URL */
        CLI_EXIT_NOT_FOUND = 4, /* 404 */
        CLI_EXIT_CONFLICT = 5, /* 409, 412 */
        CLI_EXIT_DRIFT = 6, /* check found differences */
        CLI_EXIT_INVALID = 7, /* 400, 413, 422: the daemon rejected an argument */
        CLI_EXIT_UNAUTHORIZED = 8, /* 401, 403: no valid token, or one without the scope */
};

/* The exit code for an HTTP status that is not 2xx. */
enum cli_exit cli_exit_for_status(long status);

/* A duration in seconds: "3600", or one or more NUMBER UNIT groups with units s, m, h, d
 * ("90s", "30m", "12h", "7d", "1h30m"). Returns 0, -EINVAL for bad syntax (*ret untouched)
 * or -ERANGE when it does not fit in int64_t. The range the API accepts is its to judge. */
int cli_duration_parse(const char *text, int64_t *ret);

/* A decimal number min..max, digits only. Returns 0, -EINVAL (not a number) or -ERANGE. */
int cli_number_parse(const char *text, uint64_t min, uint64_t max, uint64_t *ret);

/* Splits one label option: "KEY=VALUE" sets *ret_key_len and *ret_value (after the first
 * '='; may be ""); "KEY" sets *ret_value to NULL. Returns -EINVAL for an empty key. */
int cli_label_split(const char *text, size_t *ret_key_len, const char **ret_value);

/* Builds the "labels" object of a request from n "KEY=VALUE" texts. Returns 0 with a new
 * object in *ret, or -EINVAL (no '=' or empty key), -EEXIST (a key given twice), -EILSEQ
 * (not UTF-8), -ENOMEM; on error *ret_bad points at the offending text. */
int cli_labels_build(const char *const *items, size_t n, json_t **ret, const char **ret_bad);

/* Appends the items of a comma-separated list ("a, b,c") to array as strings, blanks
 * around items dropped. Returns 0, -EINVAL (an empty item), -EILSEQ (not UTF-8), -ENOMEM. */
int cli_list_append(const char *text, json_t *array);

/* "IP", "IP:PORT", "[IPv6]" or "[IPv6]:PORT"; an address with several colons and no
 * brackets is a bare IPv6 address. Copies the address to ip (size ip_size) and sets *ret_port
 * (0 when absent). Only the shape is checked: the address itself is the daemon's to judge.
 * Returns 0, -EINVAL (bad shape or port not 1..65535) or -ENAMETOOLONG. */
int cli_target_parse(const char *text, char *ip, size_t ip_size, uint16_t *ret_port);

/* Checks a base URL, "http://HOST[:PORT][/PREFIX]" or "https://...": a scheme, a host, no
 * query, fragment, blanks or control characters. Returns the length without trailing
 * slashes (> 0) or -EINVAL. */
int cli_url_check(const char *url);

/* Appends s percent-encoded: every byte except A-Z a-z 0-9 - . _ ~ becomes %XX. */
void cli_percent_encode(const char *s, struct strbuf *out);

/* Appends "?KEY=VALUE", or "&KEY=VALUE" when path has a query already, to a request path;
 * value percent-encoded. */
void cli_query_append(struct strbuf *path, const char *key, const char *value);
/* Appends a --label selector, "KEY" or "KEY=VALUE", as the query argument
 * "label=KEY[=VALUE]", each part percent-encoded. Returns 0, -EINVAL (empty key) or -ENOMEM. */
int cli_query_label(struct strbuf *path, const char *selector);

/* Appends a labels object as "k=v<sep>k2=v2" in the object's order, "" for none. Returns
 * 0, or -EINVAL when labels is not an object of strings (nothing appended). */
int cli_labels_format(const json_t *labels, const char *sep, struct strbuf *out);

/* "ADDRESS:PORT" with brackets around an IPv6 address; "ADDRESS" when port is 0. */
void cli_target_format(const char *ip, long port, char *out, size_t out_size);

/* A byte count for people: "512 B", "51.1 KiB", "9.5 MiB", ... */
void cli_bytes_format(uint64_t n, char *out, size_t out_size);

/* A span of seconds >= 0 for people, two units at most: "42s", "5m 3s", "3h 12m", "7d 2h". */
void cli_span_format(int64_t seconds, char *out, size_t out_size);

/* Parses an API timestamp, RFC 3339 UTC "YYYY-MM-DDTHH:MM:SSZ" (fractional seconds are
 * accepted and dropped), into unix seconds. Returns 0 or -EINVAL. */
int cli_time_parse(const char *text, int64_t *ret);

/* A time of the API ("2026-11-22T12:00:05Z") as short as is clear at time now: the time of
 * day ("12:00:05Z") when it lies within a day of now, else the text as it is. Into out
 * (size out_size); text that is not an API time is copied as it is. */
void cli_time_short(const char *text, int64_t now, char *out, size_t out_size);

/* The state of a DNS record object (of GET /v1/dns/records, or a VM's "dns") for people:
 * "synced", "pending", "deleting", or with the last error and the next try when there are
 * any: "error (timeout; next try 12:00:05Z)" (cli_time_short). Returns 0, or -EINVAL when
 * the object has no "state" string (nothing appended). */
int cli_dns_state_format(const json_t *record, int64_t now, struct strbuf *out);

/* A DNS record object as one line, "NAME TYPE CONTENT STATE" (the state as above), e.g.
 * "k7m2p4.dc1.example.net A 203.0.113.10 synced". Returns 0, or -EINVAL when name, type,
 * content or state is missing (nothing appended). */
int cli_dns_record_format(const json_t *record, int64_t now, struct strbuf *out);

/* The "dns" object of /v1/status as one line: "not configured" when not enabled, else the
 * provider and its rows by state ("rfc2136, 12 synced, 1 error", "no records" when none),
 * then " (last: ERROR)" when the last provider call failed. Returns 0, or -EINVAL when
 * dns is not an object with a boolean "enabled" (nothing appended). */
int cli_dns_status_format(const json_t *dns, struct strbuf *out);

/* Renders rows of cells as a table: columns separated by two spaces and padded to the
 * widest cell (bytes: the API's ids, names and addresses are ASCII), the last column not
 * padded, one line per row. cells holds n_rows * n_cols strings, row-major; the first row
 * is the header. At most CLI_TABLE_COLS_MAX columns (more: nothing is rendered). */
#define CLI_TABLE_COLS_MAX 12
void cli_table_render(const char *const *cells, size_t n_rows, size_t n_cols, struct strbuf *out);
