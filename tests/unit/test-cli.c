/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the CLI's pure conversions (src/cli/convert.c): durations for --ttl,
 * K=V labels and label selectors, comma lists, IP[:PORT] targets, base URLs, percent-
 * encoding of ids and query values, the exit code for each HTTP status, and the formats
 * the human output uses (labels, targets, sizes, spans, timestamps, tables, DNS records and
 * the DNS status line).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/cli/convert.h"
#include "../../src/core/strbuf.h"

static void test_exit_for_status(void **state) {
        assert_int_equal(cli_exit_for_status(400), CLI_EXIT_INVALID);
        assert_int_equal(cli_exit_for_status(413), CLI_EXIT_INVALID);
        assert_int_equal(cli_exit_for_status(422), CLI_EXIT_INVALID);
        assert_int_equal(cli_exit_for_status(401), CLI_EXIT_UNAUTHORIZED);
        assert_int_equal(cli_exit_for_status(403), CLI_EXIT_UNAUTHORIZED);
        assert_int_equal(cli_exit_for_status(404), CLI_EXIT_NOT_FOUND);
        assert_int_equal(cli_exit_for_status(409), CLI_EXIT_CONFLICT);
        assert_int_equal(cli_exit_for_status(412), CLI_EXIT_CONFLICT);
        assert_int_equal(cli_exit_for_status(405), CLI_EXIT_ERROR);
        assert_int_equal(cli_exit_for_status(429), CLI_EXIT_ERROR);
        assert_int_equal(cli_exit_for_status(500), CLI_EXIT_ERROR);
        assert_int_equal(cli_exit_for_status(503), CLI_EXIT_ERROR);
        assert_int_equal(CLI_EXIT_UNAUTHORIZED, 8); /* documented numbers */
        assert_int_equal(CLI_EXIT_INVALID, 7);
}

static void assert_duration(const char *text, int64_t want) {
        int64_t got = -1;
        assert_int_equal(cli_duration_parse(text, &got), 0);
        assert_int_equal(got, want);
}

static void test_duration(void **state) {
        assert_duration("3600", 3600);
        assert_duration("0", 0);
        assert_duration("90s", 90);
        assert_duration("30m", 1800);
        assert_duration("12h", 43200);
        assert_duration("7d", 604800);
        assert_duration("1h30m", 5400);
        assert_duration("1d12h30m15s", 131415);
        assert_duration("9223372036854775807", INT64_MAX);

        int64_t untouched = 42;
        const char *bad[] = {"", "h", "5y", "1.5h", "-5", "+5", " 5", "5 ", "5m3", "1h30", "5S", "m5", "5mm"};
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
                assert_int_equal(cli_duration_parse(bad[i], &untouched), -EINVAL);
                assert_int_equal(untouched, 42);
        }
        assert_int_equal(cli_duration_parse("9223372036854775808", &untouched), -ERANGE);
        assert_int_equal(cli_duration_parse("106751991167301d", &untouched), -ERANGE);
        assert_int_equal(cli_duration_parse("99999999999999999999999", &untouched), -ERANGE);
        assert_int_equal(cli_duration_parse("106751991167300d86400s", &untouched), -ERANGE);
        assert_int_equal(untouched, 42);
}

static void test_number(void **state) {
        uint64_t n = 7;
        assert_int_equal(cli_number_parse("1", 1, 65535, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(cli_number_parse("65535", 1, 65535, &n), 0);
        assert_int_equal(n, 65535);
        assert_int_equal(cli_number_parse("0", 1, 65535, &n), -ERANGE);
        assert_int_equal(cli_number_parse("65536", 1, 65535, &n), -ERANGE);
        assert_int_equal(cli_number_parse("99999999999999999999999", 1, 65535, &n), -ERANGE);
        assert_int_equal(cli_number_parse("", 1, 65535, &n), -EINVAL);
        assert_int_equal(cli_number_parse("22x", 1, 65535, &n), -EINVAL);
        assert_int_equal(cli_number_parse("-1", 1, 65535, &n), -EINVAL);
        assert_int_equal(cli_number_parse("0x10", 1, 65535, &n), -EINVAL);
        assert_int_equal(n, 65535);
}

static void test_label_split(void **state) {
        size_t key_len = 0;
        const char *value = "x";
        assert_int_equal(cli_label_split("env=prod", &key_len, &value), 0);
        assert_int_equal(key_len, 3);
        assert_string_equal(value, "prod");
        assert_int_equal(cli_label_split("env=", &key_len, &value), 0);
        assert_string_equal(value, "");
        assert_int_equal(cli_label_split("url=a=b", &key_len, &value), 0);
        assert_int_equal(key_len, 3);
        assert_string_equal(value, "a=b");
        assert_int_equal(cli_label_split("env", &key_len, &value), 0);
        assert_int_equal(key_len, 3);
        assert_null(value);
        assert_int_equal(cli_label_split("=prod", &key_len, &value), -EINVAL);
        assert_int_equal(cli_label_split("", &key_len, &value), -EINVAL);
}

static void test_labels_build(void **state) {
        const char *ok[] = {"team=web", "env=", "note=a b=c"};
        json_t *labels = NULL;
        const char *bad = "x";
        assert_int_equal(cli_labels_build(ok, 3, &labels, &bad), 0);
        assert_null(bad);
        char *text = json_dumps(labels, JSON_COMPACT);
        assert_string_equal(text, "{\"team\":\"web\",\"env\":\"\",\"note\":\"a b=c\"}");
        free(text);
        json_decref(labels);

        labels = NULL;
        const char *no_value[] = {"a=1", "b"};
        assert_int_equal(cli_labels_build(no_value, 2, &labels, &bad), -EINVAL);
        assert_string_equal(bad, "b");
        const char *no_key[] = {"=1"};
        assert_int_equal(cli_labels_build(no_key, 1, &labels, &bad), -EINVAL);
        const char *twice[] = {"a=1", "b=2", "a=3"};
        assert_int_equal(cli_labels_build(twice, 3, &labels, &bad), -EEXIST);
        assert_string_equal(bad, "a=3");
        const char *not_utf8[] = {"a=\xff"};
        assert_int_equal(cli_labels_build(not_utf8, 1, &labels, &bad), -EILSEQ);
        assert_null(labels);
}

static void test_list_append(void **state) {
        json_t *a = json_array();
        assert_int_equal(cli_list_append("read", a), 0);
        assert_int_equal(cli_list_append(" vms ,routes\t", a), 0);
        char *text = json_dumps(a, JSON_COMPACT);
        assert_string_equal(text, "[\"read\",\"vms\",\"routes\"]");
        free(text);
        assert_int_equal(cli_list_append("a,", a), -EINVAL);
        assert_int_equal(cli_list_append(",a", a), -EINVAL);
        assert_int_equal(cli_list_append("a, ,b", a), -EINVAL);
        assert_int_equal(cli_list_append("\xfe", a), -EILSEQ);
        json_decref(a);
}

static void assert_target(const char *text, const char *ip, uint16_t port) {
        char got[64];
        uint16_t got_port = 1234;
        assert_int_equal(cli_target_parse(text, got, sizeof got, &got_port), 0);
        assert_string_equal(got, ip);
        assert_int_equal(got_port, port);
}

static void test_target_parse(void **state) {
        assert_target("10.30.0.200", "10.30.0.200", 0);
        assert_target("10.30.0.200:8443", "10.30.0.200", 8443);
        assert_target("2001:db8::5", "2001:db8::5", 0);
        assert_target("[2001:db8::5]", "2001:db8::5", 0);
        assert_target("[2001:db8::5]:22", "2001:db8::5", 22);
        assert_target("host:1", "host", 1); /* the daemon says whether "host" is an address */

        char ip[64] = "untouched";
        uint16_t port = 9;
        const char *bad[] = {"", ":443", "[]:443", "[2001:db8::5", "[2001:db8::5]443", "[::1]:", "10.0.0.1:",
                             "10.0.0.1:0", "10.0.0.1:65536", "10.0.0.1:http", "10.0.0.1:-1"};
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
                assert_int_equal(cli_target_parse(bad[i], ip, sizeof ip, &port), -EINVAL);
        assert_string_equal(ip, "untouched");
        assert_int_equal(port, 9);
        char small[4];
        assert_int_equal(cli_target_parse("10.0.0.1", small, sizeof small, &port), -ENAMETOOLONG);
}

static void test_url_check(void **state) {
        assert_int_equal(cli_url_check("http://127.0.0.1:8081"), (int)strlen("http://127.0.0.1:8081"));
        assert_int_equal(cli_url_check("http://127.0.0.1:8081/"), (int)strlen("http://127.0.0.1:8081"));
        assert_int_equal(cli_url_check("https://gw.example.net//"), (int)strlen("https://gw.example.net"));
        assert_int_equal(cli_url_check("HTTPS://gw.example.net/edgegw"), (int)strlen("HTTPS://gw.example.net/edgegw"));
        assert_int_equal(cli_url_check("https://[2001:db8::1]:8081"), (int)strlen("https://[2001:db8::1]:8081"));
        const char *bad[] = {"",        "127.0.0.1:8081",   "ftp://x",        "http://",      "http:///v1",
                             "http:/x", "http://x/?a=b",    "http://x/#frag", "http://a b/",  "http://x\n",
                             "file:///etc/passwd"};
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
                assert_int_equal(cli_url_check(bad[i]), -EINVAL);
}

static void test_percent_encode_and_query(void **state) {
        _cleanup_strbuf_ struct strbuf b = {};
        cli_percent_encode("contract-123.a_b~", &b);
        assert_string_equal(strbuf_str(&b), "contract-123.a_b~");
        strbuf_reset(&b);
        cli_percent_encode("../x y/%&=+?#\xc3\xa9", &b);
        assert_string_equal(strbuf_str(&b), "..%2Fx%20y%2F%25%26%3D%2B%3F%23%C3%A9");

        strbuf_reset(&b);
        strbuf_append(&b, "/v1/vms");
        cli_query_append(&b, "limit", "1000");
        assert_int_equal(cli_query_label(&b, "env=prod"), 0);
        assert_int_equal(cli_query_label(&b, "team"), 0);
        assert_int_equal(cli_query_label(&b, "note=a b&c=d"), 0);
        assert_int_equal(cli_query_label(&b, "empty="), 0);
        cli_query_append(&b, "after", "vm 1");
        assert_string_equal(strbuf_str(&b), "/v1/vms?limit=1000&label=env=prod&label=team&label=note=a%20b%26c%3Dd"
                                            "&label=empty=&after=vm%201");
        assert_int_equal(cli_query_label(&b, "=x"), -EINVAL);
}

static void test_labels_format(void **state) {
        _cleanup_strbuf_ struct strbuf b = {};
        json_t *labels = json_pack("{s:s, s:s}", "env", "prod", "team", "");
        assert_int_equal(cli_labels_format(labels, ",", &b), 0);
        assert_string_equal(strbuf_str(&b), "env=prod,team=");
        strbuf_reset(&b);
        assert_int_equal(cli_labels_format(labels, ", ", &b), 0);
        assert_string_equal(strbuf_str(&b), "env=prod, team=");
        json_decref(labels);

        strbuf_reset(&b);
        labels = json_object();
        assert_int_equal(cli_labels_format(labels, ",", &b), 0);
        assert_string_equal(strbuf_str(&b), "");
        json_decref(labels);

        labels = json_pack("{s:i}", "n", 1);
        assert_int_equal(cli_labels_format(labels, ",", &b), -EINVAL);
        assert_int_equal(b.len, 0);
        json_decref(labels);
        assert_int_equal(cli_labels_format(NULL, ",", &b), -EINVAL);
}

static void test_formats(void **state) {
        char s[64];
        cli_target_format("10.0.0.5", 22, s, sizeof s);
        assert_string_equal(s, "10.0.0.5:22");
        cli_target_format("2001:db8::5", 8443, s, sizeof s);
        assert_string_equal(s, "[2001:db8::5]:8443");
        cli_target_format("10.0.0.5", 0, s, sizeof s);
        assert_string_equal(s, "10.0.0.5");

        cli_bytes_format(0, s, sizeof s);
        assert_string_equal(s, "0 B");
        cli_bytes_format(1023, s, sizeof s);
        assert_string_equal(s, "1023 B");
        cli_bytes_format(52311, s, sizeof s);
        assert_string_equal(s, "51.1 KiB");
        cli_bytes_format(9914023, s, sizeof s);
        assert_string_equal(s, "9.5 MiB");
        cli_bytes_format(UINT64_MAX, s, sizeof s);
        assert_string_equal(s, "16.0 EiB");

        const struct {
                int64_t seconds;
                const char *text;
        } spans[] = {{-5, "0s"},        {0, "0s"},         {42, "42s"},        {60, "1m"},
                     {303, "5m 3s"},    {3600, "1h"},      {11520, "3h 12m"},  {43199, "11h 59m"},
                     {86400, "1d"},     {612000, "7d 2h"}, {31536000, "365d"}, {90061, "1d 1h"}};
        for (size_t i = 0; i < sizeof spans / sizeof *spans; i++) {
                cli_span_format(spans[i].seconds, s, sizeof s);
                assert_string_equal(s, spans[i].text);
        }
}

static void test_time_parse(void **state) {
        int64_t t = 0;
        assert_int_equal(cli_time_parse("1970-01-01T00:00:00Z", &t), 0);
        assert_int_equal(t, 0);
        assert_int_equal(cli_time_parse("2026-11-22T10:00:00Z", &t), 0);
        assert_int_equal(t, 1795341600);
        assert_int_equal(cli_time_parse("2024-02-29T23:59:59.123Z", &t), 0);
        assert_int_equal(t, 1709251199);
        assert_int_equal(cli_time_parse("2000-03-01t00:00:00z", &t), 0);
        assert_int_equal(t, 951868800);
        t = 7;
        const char *bad[] = {"",
                             "2026-11-22",
                             "2026-11-22T10:00:00",
                             "2026-11-22T10:00:00+01:00",
                             "2026-11-22 10:00:00Z",
                             "2026-13-01T00:00:00Z",
                             "2026-04-31T00:00:00Z",
                             "2026-11-22T24:00:00Z",
                             "2026-11-22T10:00:00.Z",
                             "2026-11-22T10:00:00Zx",
                             "26-11-22T10:00:00Z"};
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
                assert_int_equal(cli_time_parse(bad[i], &t), -EINVAL);
        assert_int_equal(t, 7);
}

static void test_table(void **state) {
        _cleanup_strbuf_ struct strbuf b = {};
        const char *cells[] = {
                "ID", "IP", "LABELS", /* header */
                "contract-123", "10.0.1.5", "-", /* */
                "a", "2001:db8::1", "env=prod,team=web",
        };
        cli_table_render(cells, 3, 3, &b);
        assert_string_equal(strbuf_str(&b), "ID            IP           LABELS\n"
                                            "contract-123  10.0.1.5     -\n"
                                            "a             2001:db8::1  env=prod,team=web\n");
        strbuf_reset(&b);
        const char *one[] = {"NAME", "x"};
        cli_table_render(one, 2, 1, &b);
        assert_string_equal(strbuf_str(&b), "NAME\nx\n");
        strbuf_reset(&b);
        cli_table_render(one, 0, 1, &b);
        assert_string_equal(strbuf_str(&b), "");
}

static void test_time_short(void **state) {
        const int64_t now = 1795341600; /* 2026-11-22T10:00:00Z */
        char s[64];
        cli_time_short("2026-11-22T12:00:05Z", now, s, sizeof s);
        assert_string_equal(s, "12:00:05Z");
        cli_time_short("2026-11-23T09:59:59Z", now, s, sizeof s);
        assert_string_equal(s, "09:59:59Z");
        cli_time_short("2026-11-21T10:00:01Z", now, s, sizeof s);
        assert_string_equal(s, "10:00:01Z");
        cli_time_short("2026-11-23T10:00:00Z", now, s, sizeof s); /* a day or more away: the date too */
        assert_string_equal(s, "2026-11-23T10:00:00Z");
        cli_time_short("soon", now, s, sizeof s);
        assert_string_equal(s, "soon");
}

static void test_dns_formats(void **state) {
        const int64_t now = 1795341600;
        _cleanup_strbuf_ struct strbuf b = {};
        json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:n, s:n}", "name", "k7m2p4.dc1.example.net", "type", "A",
                              "content", "203.0.113.10", "state", "synced", "last_error", "next_retry_at");
        assert_int_equal(cli_dns_record_format(r, now, &b), 0);
        assert_string_equal(strbuf_str(&b), "k7m2p4.dc1.example.net A 203.0.113.10 synced");

        json_object_set_new(r, "state", json_string("error"));
        json_object_set_new(r, "last_error", json_string("timeout"));
        json_object_set_new(r, "next_retry_at", json_string("2026-11-22T12:00:05Z"));
        strbuf_reset(&b);
        assert_int_equal(cli_dns_record_format(r, now, &b), 0);
        assert_string_equal(strbuf_str(&b), "k7m2p4.dc1.example.net A 203.0.113.10 error (timeout; next try 12:00:05Z)");

        strbuf_reset(&b);
        json_object_set_new(r, "state", json_string("pending"));
        json_object_set_new(r, "last_error", json_null());
        assert_int_equal(cli_dns_state_format(r, now, &b), 0);
        assert_string_equal(strbuf_str(&b), "pending (next try 12:00:05Z)");

        strbuf_reset(&b);
        json_object_set_new(r, "state", json_string("deleting"));
        json_object_set_new(r, "last_error", json_string("SERVFAIL"));
        json_object_del(r, "next_retry_at");
        assert_int_equal(cli_dns_state_format(r, now, &b), 0);
        assert_string_equal(strbuf_str(&b), "deleting (SERVFAIL)");

        /* Without a name (or a state) nothing is appended. */
        strbuf_reset(&b);
        json_object_del(r, "name");
        assert_int_equal(cli_dns_record_format(r, now, &b), -EINVAL);
        assert_int_equal(b.len, 0);
        json_object_del(r, "state");
        assert_int_equal(cli_dns_state_format(r, now, &b), -EINVAL);
        assert_int_equal(cli_dns_state_format(NULL, now, &b), -EINVAL);
        assert_int_equal(b.len, 0);
        json_decref(r);
}

static void test_dns_status_format(void **state) {
        _cleanup_strbuf_ struct strbuf b = {};
        json_t *d = json_pack("{s:b}", "enabled", 0);
        assert_int_equal(cli_dns_status_format(d, &b), 0);
        assert_string_equal(strbuf_str(&b), "not configured");
        json_decref(d);

        d = json_pack("{s:b, s:s, s:s, s:{s:i, s:i, s:i, s:i}}", "enabled", 1, "provider", "rfc2136", "last_error",
                      "timeout talking to 127.0.0.1:53", "records", "pending", 0, "synced", 12, "error", 1, "deleting",
                      0);
        strbuf_reset(&b);
        assert_int_equal(cli_dns_status_format(d, &b), 0);
        assert_string_equal(strbuf_str(&b), "rfc2136, 12 synced, 1 error (last: timeout talking to 127.0.0.1:53)");
        json_decref(d);

        d = json_pack("{s:b, s:s, s:n, s:{s:i, s:i, s:i, s:i}}", "enabled", 1, "provider", "cloudflare",
                      "last_error", "records", "pending", 0, "synced", 0, "error", 0, "deleting", 0);
        strbuf_reset(&b);
        assert_int_equal(cli_dns_status_format(d, &b), 0);
        assert_string_equal(strbuf_str(&b), "cloudflare, no records");
        json_decref(d);

        d = json_pack("{s:b, s:s, s:{s:i, s:i}}", "enabled", 1, "provider", "edgegw", "records", "pending", 3,
                      "deleting", 2);
        strbuf_reset(&b);
        assert_int_equal(cli_dns_status_format(d, &b), 0);
        assert_string_equal(strbuf_str(&b), "edgegw, 3 pending, 2 deleting");
        json_decref(d);

        strbuf_reset(&b);
        d = json_pack("{s:s}", "enabled", "yes");
        assert_int_equal(cli_dns_status_format(d, &b), -EINVAL);
        assert_int_equal(cli_dns_status_format(NULL, &b), -EINVAL);
        assert_int_equal(b.len, 0);
        json_decref(d);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_exit_for_status),
                cmocka_unit_test(test_duration),
                cmocka_unit_test(test_number),
                cmocka_unit_test(test_label_split),
                cmocka_unit_test(test_labels_build),
                cmocka_unit_test(test_list_append),
                cmocka_unit_test(test_target_parse),
                cmocka_unit_test(test_url_check),
                cmocka_unit_test(test_percent_encode_and_query),
                cmocka_unit_test(test_labels_format),
                cmocka_unit_test(test_formats),
                cmocka_unit_test(test_time_parse),
                cmocka_unit_test(test_table),
                cmocka_unit_test(test_time_short),
                cmocka_unit_test(test_dns_formats),
                cmocka_unit_test(test_dns_status_format),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
