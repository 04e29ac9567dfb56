/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the /metrics renderer: a full scrape compared line by line with the text a
 * Prometheus server expects, label escaping, families without data, and the exposition
 * rules every line must follow (a sample only after its family's HELP and TYPE).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "api/metrics.h"
#include "core/util.h"

static void test_label_escape(void **state) {
        _cleanup_strbuf_ struct strbuf b = {0};
        metrics_label_value("plain", &b);
        assert_string_equal(strbuf_str(&b), "plain");
        strbuf_reset(&b);
        metrics_label_value("a\"b\\c\nd\te", &b);
        assert_string_equal(strbuf_str(&b), "a\\\"b\\\\c\\nd\te");
        strbuf_reset(&b);
        metrics_label_value("", &b);
        assert_string_equal(strbuf_str(&b), "");
}

/* Whether text has a line equal to line. */
static bool has_line(const char *text, const char *line) {
        size_t l = strlen(line);
        for (const char *p = text; (p = strstr(p, line)); p++)
                if ((p == text || p[-1] == '\n') && p[l] == '\n')
                        return true;
        return false;
}

#define ASSERT_LINE(text, line)                                                   \
        do {                                                                      \
                if (!has_line(text, line))                                        \
                        fail_msg("missing line '%s' in:\n%s", line, text);        \
        } while (0)

/* Every sample's family was announced by HELP then TYPE before it, and no family twice. */
static void check_exposition(const char *text) {
        char families[128][96];
        size_t n = 0;
        const char *p = text;
        assert_true(*p);
        while (*p) {
                const char *nl = strchr(p, '\n');
                assert_non_null(nl); /* every line ends with a newline, the last one too */
                char line[512];
                size_t l = (size_t)(nl - p);
                assert_true(l < sizeof line);
                memcpy(line, p, l);
                line[l] = '\0';
                p = nl + 1;
                char name[96];
                if (strncmp(line, "# HELP ", 7) == 0) {
                        assert_int_equal(sscanf(line + 7, "%95s", name), 1);
                        for (size_t i = 0; i < n; i++)
                                if (streq(families[i], name))
                                        fail_msg("family %s announced twice", name);
                        assert_true(n < 128);
                        strcpy(families[n++], name);
                        continue;
                }
                if (strncmp(line, "# TYPE ", 7) == 0) {
                        char type[32];
                        assert_int_equal(sscanf(line + 7, "%95s %31s", name, type), 2);
                        assert_string_equal(name, families[n - 1]);
                        assert_true(streq(type, "counter") || streq(type, "gauge") || streq(type, "summary"));
                        continue;
                }
                size_t nl2 = strcspn(line, "{ ");
                memcpy(name, line, nl2);
                name[nl2] = '\0';
                bool known = n && (streq(name, families[n - 1]) ||
                                   (strncmp(name, families[n - 1], strlen(families[n - 1])) == 0 &&
                                    (streq(name + strlen(families[n - 1]), "_sum") ||
                                     streq(name + strlen(families[n - 1]), "_count"))));
                if (!known)
                        fail_msg("sample '%s' outside its family", line);
                const char *v = strrchr(line, ' ');
                assert_non_null(v);
                char *end;
                strtod(v + 1, &end);
                assert_true(*end == '\0' && end > v + 1);
        }
}

static void test_render_full(void **state) {
        struct store_counts counts = {.vms = 3, .routes = 2, .forwards = 1, .tokens = 4, .block_ports = 30};
        struct metrics_vm_bytes vb[] = {{"vm-1", 100, 2000}, {"vm-2", 0, 0}};
        struct proxy_stats ps = {.accepted = 10, .active = 2, .relayed = 7, .redirected = 1, .bytes_in = 500,
                                 .bytes_out = 9000, .rejected_limit = 1, .rejected_no_route = 2,
                                 .rejected_not_allowed = 3, .rejected_bad_request = 4, .rejected_timeout = 5,
                                 .backend_failed = 6, .closed_removed = 7, .udp_sessions = 8, .forward_bind_failed = 9};
        struct proxy_route_stats rs[2] = {
                {.name = "app.example.net", .connections = 5, .bytes_in = 50, .bytes_out = 60,
                 .rejected_not_allowed = 1, .backend_failed = 2, .timeouts = 3},
                {.name = "*.lab.example.net", .connections = 1},
        };
        struct reconciler_part_status parts[2] = {
                {.name = "nft", .runs = 4, .failures = 1, .last_run = 1700000000, .last_ok = true,
                 .last_duration_ms = 1.5, .total_duration_ms = 12.25},
                {.name = "routes", .runs = 2, .failures = 0, .last_run = 0, .last_ok = false},
        };
        uint64_t codes[METRICS_CODES] = {0};
        codes[200 - METRICS_CODE_MIN] = 42;
        codes[401 - METRICS_CODE_MIN] = 3;
        codes[429 - METRICS_CODE_MIN] = 1;
        struct metrics_input in = {
                .version = "0.1.0", .counts = &counts, .have_blocks = true, .blocks_used = 3, .blocks_free = 3997,
                .vm_bytes = vb, .n_vm_bytes = 2, .proxy = &ps, .routes = rs, .n_routes = 2,
                .parts = parts, .n_parts = 2, .api_requests = codes,
        };
        _cleanup_strbuf_ struct strbuf b = {0};
        assert_int_equal(metrics_render(&in, &b), 0);
        const char *t = strbuf_str(&b);
        check_exposition(t);

        ASSERT_LINE(t, "# HELP edgegw_vms VMs in the store.");
        ASSERT_LINE(t, "# TYPE edgegw_vms gauge");
        ASSERT_LINE(t, "edgegw_build_info{version=\"0.1.0\"} 1");
        ASSERT_LINE(t, "edgegw_vms 3");
        ASSERT_LINE(t, "edgegw_routes 2");
        ASSERT_LINE(t, "edgegw_forwards 1");
        ASSERT_LINE(t, "edgegw_tokens 4");
        ASSERT_LINE(t, "edgegw_port_blocks_used 3");
        ASSERT_LINE(t, "edgegw_port_blocks_free 3997");
        ASSERT_LINE(t, "# TYPE edgegw_vm_bytes_total counter");
        ASSERT_LINE(t, "edgegw_vm_bytes_total{vm=\"vm-1\",direction=\"in\"} 100");
        ASSERT_LINE(t, "edgegw_vm_bytes_total{vm=\"vm-1\",direction=\"out\"} 2000");
        ASSERT_LINE(t, "edgegw_vm_bytes_total{vm=\"vm-2\",direction=\"in\"} 0");
        ASSERT_LINE(t, "edgegw_proxy_accepted_total 10");
        ASSERT_LINE(t, "edgegw_proxy_open_connections 2");
        ASSERT_LINE(t, "edgegw_proxy_relayed_total 7");
        ASSERT_LINE(t, "edgegw_proxy_redirected_total 1");
        ASSERT_LINE(t, "edgegw_proxy_all_bytes_total{direction=\"in\"} 500");
        ASSERT_LINE(t, "edgegw_proxy_all_bytes_total{direction=\"out\"} 9000");
        ASSERT_LINE(t, "edgegw_proxy_all_rejects_total{reason=\"limit\"} 1");
        ASSERT_LINE(t, "edgegw_proxy_all_rejects_total{reason=\"no_route\"} 2");
        ASSERT_LINE(t, "edgegw_proxy_all_rejects_total{reason=\"closed_removed\"} 7");
        ASSERT_LINE(t, "edgegw_proxy_udp_sessions 8");
        ASSERT_LINE(t, "edgegw_proxy_forward_bind_failures_total 9");
        ASSERT_LINE(t, "edgegw_proxy_connections_total{route=\"app.example.net\"} 5");
        ASSERT_LINE(t, "edgegw_proxy_connections_total{route=\"*.lab.example.net\"} 1");
        ASSERT_LINE(t, "edgegw_proxy_bytes_total{route=\"app.example.net\",direction=\"in\"} 50");
        ASSERT_LINE(t, "edgegw_proxy_bytes_total{route=\"app.example.net\",direction=\"out\"} 60");
        ASSERT_LINE(t, "edgegw_proxy_rejects_total{route=\"app.example.net\",reason=\"not_allowed\"} 1");
        ASSERT_LINE(t, "edgegw_proxy_rejects_total{route=\"app.example.net\",reason=\"backend_failed\"} 2");
        ASSERT_LINE(t, "edgegw_proxy_rejects_total{route=\"app.example.net\",reason=\"timeout\"} 3");
        ASSERT_LINE(t, "edgegw_reconcile_runs_total{part=\"nft\"} 4");
        ASSERT_LINE(t, "edgegw_reconcile_runs_total{part=\"routes\"} 2");
        ASSERT_LINE(t, "edgegw_reconcile_failures_total{part=\"nft\"} 1");
        ASSERT_LINE(t, "# TYPE edgegw_reconcile_duration_seconds summary");
        ASSERT_LINE(t, "edgegw_reconcile_duration_seconds_sum{part=\"nft\"} 0.01225");
        ASSERT_LINE(t, "edgegw_reconcile_duration_seconds_count{part=\"nft\"} 4");
        ASSERT_LINE(t, "edgegw_reconcile_last_duration_seconds{part=\"nft\"} 0.0015");
        ASSERT_LINE(t, "edgegw_reconcile_last_run_timestamp_seconds{part=\"nft\"} 1700000000");
        ASSERT_LINE(t, "edgegw_reconcile_last_run_timestamp_seconds{part=\"routes\"} 0");
        ASSERT_LINE(t, "edgegw_reconcile_ok{part=\"nft\"} 1");
        ASSERT_LINE(t, "edgegw_reconcile_ok{part=\"routes\"} 0");
        ASSERT_LINE(t, "edgegw_api_requests_total{code=\"200\"} 42");
        ASSERT_LINE(t, "edgegw_api_requests_total{code=\"401\"} 3");
        ASSERT_LINE(t, "edgegw_api_requests_total{code=\"429\"} 1");
        assert_null(strstr(t, "code=\"404\""));
}

static void test_render_empty(void **state) {
        /* No store, no proxy, no parts: every family is still announced, with no samples. */
        struct metrics_input in = {.version = "x\"y"};
        _cleanup_strbuf_ struct strbuf b = {0};
        assert_int_equal(metrics_render(&in, &b), 0);
        const char *t = strbuf_str(&b);
        check_exposition(t);
        ASSERT_LINE(t, "edgegw_build_info{version=\"x\\\"y\"} 1");
        ASSERT_LINE(t, "# TYPE edgegw_vms gauge");
        ASSERT_LINE(t, "# TYPE edgegw_api_requests_total counter");
        assert_null(strstr(t, "\nedgegw_vms "));
        assert_null(strstr(t, "\nedgegw_proxy_accepted_total "));
        assert_null(strstr(t, "\nedgegw_port_blocks_free "));
        ASSERT_LINE(t, "# TYPE edgegw_dns_records gauge");
        assert_null(strstr(t, "\nedgegw_dns_records{"));
        assert_null(strstr(t, "\nedgegw_dns_pushes_total "));
}

static void test_render_dns(void **state) {
        struct dnssync_status d = {.enabled = true, .pending = 3, .synced = 40, .error = 2, .deleting = 1,
                                   .pushes = 77, .failures = 5, .last_pass = 1700000000};
        struct metrics_input in = {.dns = &d};
        _cleanup_strbuf_ struct strbuf b = {0};
        assert_int_equal(metrics_render(&in, &b), 0);
        const char *t = strbuf_str(&b);
        check_exposition(t);
        ASSERT_LINE(t, "edgegw_dns_records{state=\"pending\"} 3");
        ASSERT_LINE(t, "edgegw_dns_records{state=\"synced\"} 40");
        ASSERT_LINE(t, "edgegw_dns_records{state=\"error\"} 2");
        ASSERT_LINE(t, "edgegw_dns_records{state=\"deleting\"} 1");
        ASSERT_LINE(t, "edgegw_dns_pushes_total 77");
        ASSERT_LINE(t, "edgegw_dns_failures_total 5");
        ASSERT_LINE(t, "edgegw_dns_last_pass_timestamp_seconds 1700000000");
        /* A provider that is not enabled shows no samples. */
        d.enabled = false;
        _cleanup_strbuf_ struct strbuf b2 = {0};
        assert_int_equal(metrics_render(&in, &b2), 0);
        assert_null(strstr(strbuf_str(&b2), "\nedgegw_dns_records{"));
}

static void test_render_escapes_names(void **state) {
        /* Names come from the store and the proxy; a hostile one cannot break a line. */
        struct metrics_vm_bytes vb[] = {{"a\"b", 1, 2}};
        struct proxy_route_stats rs[] = {{.name = "x\\y\nz", .connections = 1}};
        struct proxy_stats ps = {0};
        struct metrics_input in = {.vm_bytes = vb, .n_vm_bytes = 1, .proxy = &ps, .routes = rs, .n_routes = 1};
        _cleanup_strbuf_ struct strbuf b = {0};
        assert_int_equal(metrics_render(&in, &b), 0);
        const char *t = strbuf_str(&b);
        check_exposition(t);
        ASSERT_LINE(t, "edgegw_vm_bytes_total{vm=\"a\\\"b\",direction=\"in\"} 1");
        ASSERT_LINE(t, "edgegw_proxy_connections_total{route=\"x\\\\y\\nz\"} 1");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_label_escape),
                cmocka_unit_test(test_render_full),
                cmocka_unit_test(test_render_empty),
                cmocka_unit_test(test_render_dns),
                cmocka_unit_test(test_render_escapes_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
