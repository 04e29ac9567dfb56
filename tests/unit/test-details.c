/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the Connection Details box (model/details): the exact text the CLI shows
 * for the default 10-port block and for the smallest blocks, and that the right border
 * stays aligned however long the VM's name is.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/core/strbuf.h"
#include "../../src/model/details.h"
#include "../../src/model/vm.h"

#define NAME "k7m2p4.dc-lk.example.net"

static void assert_box(const char *subdomain, uint16_t block_start, uint16_t block_size, const char *expected) {
        _cleanup_strbuf_ struct strbuf out = {};
        assert_int_equal(details_render_text(subdomain, block_start, block_size, &out), 0);
        assert_string_equal(strbuf_str(&out), expected);
}

/* Columns taken by UTF-8 text whose characters are all one column wide, as in the box. */
static size_t columns(const char *s, size_t len) {
        size_t w = 0;
        for (size_t i = 0; i < len; i++)
                if (((unsigned char)s[i] & 0xc0) != 0x80)
                        w++;
        return w;
}

static bool has_prefix(const char *s, size_t len, const char *prefix) {
        size_t n = strlen(prefix);
        return len >= n && memcmp(s, prefix, n) == 0;
}

static bool has_suffix(const char *s, size_t len, const char *suffix) {
        size_t n = strlen(suffix);
        return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

/* seed 000's default: SSH, 4 TCP, 5 UDP */
static void test_block_of_10(void **state) {
        assert_box(NAME, 20000, 10,
                   "┌─────────────────────────────────────────────────────────┐\n"
                   "│ Connection Details                                      │\n"
                   "├─────────────────────────────────────────────────────────┤\n"
                   "│ Web Access:  https://k7m2p4.dc-lk.example.net           │\n"
                   "│ SSH Access:  ssh root@k7m2p4.dc-lk.example.net -p 20000 │\n"
                   "│ Available Ports: 20001-20009                            │\n"
                   "│   TCP: 20001-20004 → VM:10001-10004                     │\n"
                   "│   UDP: 20005-20009 → VM:10005-10009                     │\n"
                   "└─────────────────────────────────────────────────────────┘\n");
}

/* Only the SSH port: no "Available Ports" section at all. */
static void test_block_of_1(void **state) {
        assert_box(NAME, 20000, 1,
                   "┌─────────────────────────────────────────────────────────┐\n"
                   "│ Connection Details                                      │\n"
                   "├─────────────────────────────────────────────────────────┤\n"
                   "│ Web Access:  https://k7m2p4.dc-lk.example.net           │\n"
                   "│ SSH Access:  ssh root@k7m2p4.dc-lk.example.net -p 20000 │\n"
                   "└─────────────────────────────────────────────────────────┘\n");
}

/* One port besides SSH: the TCP half rounds down to nothing, so it is a lone UDP port,
 * shown as a single number rather than a range. */
static void test_block_of_2(void **state) {
        assert_box(NAME, 20000, 2,
                   "┌─────────────────────────────────────────────────────────┐\n"
                   "│ Connection Details                                      │\n"
                   "├─────────────────────────────────────────────────────────┤\n"
                   "│ Web Access:  https://k7m2p4.dc-lk.example.net           │\n"
                   "│ SSH Access:  ssh root@k7m2p4.dc-lk.example.net -p 20000 │\n"
                   "│ Available Ports: 20001                                  │\n"
                   "│   UDP: 20001 → VM:10001                                 │\n"
                   "└─────────────────────────────────────────────────────────┘\n");
}

/* A block at the very top of the port space: five-digit ports up to 65535. */
static void test_block_at_end_of_port_space(void **state) {
        assert_box("abc123.x.io", 65526, 10,
                   "┌────────────────────────────────────────────┐\n"
                   "│ Connection Details                         │\n"
                   "├────────────────────────────────────────────┤\n"
                   "│ Web Access:  https://abc123.x.io           │\n"
                   "│ SSH Access:  ssh root@abc123.x.io -p 65526 │\n"
                   "│ Available Ports: 65527-65535               │\n"
                   "│   TCP: 65527-65530 → VM:10001-10004        │\n"
                   "│   UDP: 65531-65535 → VM:10005-10009        │\n"
                   "└────────────────────────────────────────────┘\n");
}

/* The longest name a VM can have (253 characters): every line of the box is as wide as
 * the widest one, and that one has exactly one space before the right border. */
static void test_long_name_keeps_right_border_aligned(void **state) {
        char name[DNS_NAME_MAX + 1];
        snprintf(name, sizeof name, "%.63s.%.63s.%.63s.%.61s",
                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
                 "ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
                 "ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd");
        assert_int_equal(strlen(name), DNS_NAME_MAX);
        assert_true(dns_name_valid(name));

        _cleanup_strbuf_ struct strbuf out = {};
        assert_int_equal(details_render_text(name, 20000, 10, &out), 0);
        const char *text = strbuf_str(&out);

        char ssh_line[DNS_NAME_MAX + 64];
        snprintf(ssh_line, sizeof ssh_line, "│ SSH Access:  ssh root@%s -p 20000 │\n", name);
        assert_non_null(strstr(text, ssh_line));
        size_t expected_width = columns(ssh_line, strlen(ssh_line) - 1);
        assert_int_equal(expected_width, strlen("SSH Access:  ssh root@ -p 20000") + DNS_NAME_MAX + 4);

        size_t n_lines = 0;
        for (const char *line = text; *line; n_lines++) {
                const char *nl = strchr(line, '\n');
                assert_non_null(nl);
                size_t len = (size_t)(nl - line);
                assert_int_equal(columns(line, len), expected_width);
                if (n_lines == 0)
                        assert_true(has_prefix(line, len, "┌─") && has_suffix(line, len, "─┐"));
                else if (n_lines == 2)
                        assert_true(has_prefix(line, len, "├─") && has_suffix(line, len, "─┤"));
                else if (nl[1] == '\0')
                        assert_true(has_prefix(line, len, "└─") && has_suffix(line, len, "─┘"));
                else
                        assert_true(has_prefix(line, len, "│ ") && has_suffix(line, len, " │"));
                line = nl + 1;
        }
        assert_int_equal(n_lines, 9);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_block_of_10),
                cmocka_unit_test(test_block_of_1),
                cmocka_unit_test(test_block_of_2),
                cmocka_unit_test(test_block_at_end_of_port_space),
                cmocka_unit_test(test_long_name_keeps_right_border_aligned),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
