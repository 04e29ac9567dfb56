/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the configuration: defaults, the seed's dc-agent.toml [gateway] section,
 * every kind of file error with its FILE:LINE, EDGEGW_* overrides from an explicit
 * environment, the cross-field checks, and loading a real file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/util.h"
#include "model/ipaddr.h"

/* Parses text over the defaults into *c; returns config_parse's result. */
static int parse(const char *text, struct config *c, struct config_diag *d) {
        config_defaults(c);
        memset(d, 0, sizeof *d);
        return config_parse(c, text, strlen(text), "test.conf", d);
}

/* Asserts that text fails to parse with an error containing want. */
static void assert_parse_error(const char *text, const char *want) {
        struct config c;
        struct config_diag d;
        assert_int_equal(parse(text, &c, &d), -EINVAL);
        if (!strstr(d.error, want))
                fail_msg("error '%s' does not contain '%s'", d.error, want);
}

static void test_defaults(void **state) {
        struct config c;
        config_defaults(&c);
        assert_int_equal(c.port_range_start, 20000);
        assert_int_equal(c.port_range_end, 59999);
        assert_int_equal(c.ports_per_vm, 10);
        assert_string_equal(c.state_dir, "/var/lib/edgegw");
        assert_string_equal(c.state_dir, CONFIG_DEFAULT_STATE_DIR);
        assert_string_equal(c.public_ip, "");
        assert_string_equal(c.log_level, "info");
        assert_string_equal(c.forward_mode, "kernel");
        assert_string_equal(c.forward_listen, "[::]");
        assert_int_equal(c.udp_timeout_ms, 60000);

        struct config_diag d = {0};
        assert_int_equal(config_validate(&c, &d), 0);
}

/* The [gateway] section of seed 000's dc-agent.toml, unchanged. */
static const char seed_gateway[] = "[gateway]\n"
                                   "datacenter = \"dc-lk\"\n"
                                   "domain = \"decent-cloud.org\"\n"
                                   "public_ip = \"203.0.113.1\"\n"
                                   "port_range_start = 20000\n"
                                   "port_range_end = 59999\n"
                                   "ports_per_vm = 10\n"
                                   "traefik_dynamic_dir = \"/etc/traefik/dynamic\"\n"
                                   "port_allocations_path = \"/var/lib/dc-agent/port-allocations.json\"\n";

static void test_seed_gateway_section(void **state) {
        struct config c;
        struct config_diag d;
        assert_int_equal(parse(seed_gateway, &c, &d), 0);
        assert_string_equal(c.datacenter, "dc-lk");
        assert_string_equal(c.domain, "decent-cloud.org");
        assert_string_equal(c.public_ip, "203.0.113.1");
        assert_int_equal(c.port_range_start, 20000);
        assert_int_equal(c.port_range_end, 59999);
        assert_int_equal(c.ports_per_vm, 10);
        assert_string_equal(c.state_dir, "/var/lib/edgegw");

        /* The two Traefik-era keys are accepted with a warning each, naming file and line. */
        assert_int_equal(d.n_warnings, 2);
        assert_non_null(strstr(d.warnings[0], "test.conf:8:"));
        assert_non_null(strstr(d.warnings[0], "traefik_dynamic_dir"));
        assert_non_null(strstr(d.warnings[1], "test.conf:9:"));
        assert_non_null(strstr(d.warnings[1], "port_allocations_path"));
        assert_string_equal(d.error, "");

        assert_int_equal(config_validate(&c, &d), 0);
}

static void test_unknown_key(void **state) {
        assert_parse_error("[gateway]\n"
                           "datacenter = \"dc-lk\"\n"
                           "\n"
                           "# a comment\n"
                           "foo = 1\n",
                           "test.conf:5: unknown key 'foo' in section [gateway]");
        /* A key of another section is unknown in this one. */
        assert_parse_error("[gateway]\nlog_level = \"debug\"\n", "test.conf:2: unknown key 'log_level' in section [gateway]");
        /* A typo of a real key, as the docs show. */
        assert_parse_error("[gateway]\nports_per_mv = 10\n", "test.conf:2: unknown key 'ports_per_mv' in section [gateway]");
}

static void test_unknown_section(void **state) {
        assert_parse_error("[gateway]\nports_per_vm = 10\n[traefik]\n", "test.conf:3: unknown section [traefik]");
        assert_parse_error("[]\n", "test.conf:1: unknown section");
        assert_parse_error("[gateway\n", "test.conf:1: section header without ']'");
        assert_parse_error("[gateway] x\n", "test.conf:1: unexpected text after section header");
}

static void test_key_outside_section(void **state) {
        assert_parse_error("# leading comment\ndatacenter = \"dc-lk\"\n[gateway]\n",
                           "test.conf:2: key 'datacenter' outside a section");
}

static void test_bad_integers(void **state) {
        static const struct {
                const char *text, *want;
        } cases[] = {
                {"[gateway]\nport_range_start = abc\n", "test.conf:2: port_range_start: expected a non-negative integer"},
                {"[gateway]\nport_range_start = -1\n", "test.conf:2: port_range_start: expected a non-negative integer"},
                {"[gateway]\nport_range_start = 70000\n", "test.conf:2: port_range_start: out of range (allowed 1..65535)"},
                {"[gateway]\nport_range_end = 0\n", "test.conf:2: port_range_end: out of range"},
                {"[gateway]\nport_range_end = 99999999999999999999999999\n", "test.conf:2: port_range_end: out of range"},
                {"[gateway]\nports_per_vm = 1001\n", "test.conf:2: ports_per_vm: out of range (allowed 1..1000)"},
                {"[gateway]\nports_per_vm = \"10\"\n", "test.conf:2: ports_per_vm: expected an integer, not a string"},
                {"[gateway]\nports_per_vm =\n", "test.conf:2: ports_per_vm: expected an integer"},
                {"[gateway]\nports_per_vm = 1 0\n", "test.conf:2: unexpected text after the value of 'ports_per_vm'"},
                {"[gateway]\nports_per_vm = 0x10\n", "test.conf:2: ports_per_vm: expected a non-negative integer"},
                {"[daemon]\nresync_interval = 86401\n", "test.conf:2: resync_interval: out of range (allowed 0..86400)"},
                /* A string key given a bare value. */
                {"[gateway]\ndatacenter = dc-lk\n", "test.conf:2: datacenter: expected a quoted string"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                assert_parse_error(cases[i].text, cases[i].want);
}

static void test_integer_bounds_accepted(void **state) {
        struct config c;
        struct config_diag d;
        assert_int_equal(parse("[gateway]\nport_range_start = 1\nport_range_end = 65535\nports_per_vm = 1000\n"
                               "[daemon]\nresync_interval = 0\n",
                               &c, &d),
                         0);
        assert_int_equal(c.port_range_start, 1);
        assert_int_equal(c.port_range_end, 65535);
        assert_int_equal(c.ports_per_vm, 1000);
        assert_int_equal(c.resync_interval, 0);
        /* Leading zeros are still decimal. */
        assert_int_equal(parse("[gateway]\nports_per_vm = 010\n", &c, &d), 0);
        assert_int_equal(c.ports_per_vm, 10);
}

static void test_strings(void **state) {
        assert_parse_error("[gateway]\ndomain = \"example.net\n", "test.conf:2: bad string for 'domain'");
        assert_parse_error("[gateway]\ndomain = \"exa\\qmple\"\n", "test.conf:2: bad string for 'domain'");
        assert_parse_error("[gateway]\ndomain = \"exa\\u0041\"\n", "test.conf:2: bad string for 'domain'");
        assert_parse_error("[gateway]\ndomain = \"a\" \"b\"\n", "test.conf:2: unexpected text after the value of 'domain'");
        /* One byte too long for public_ip (16 bytes with the NUL). */
        assert_parse_error("[gateway]\npublic_ip = \"1234567890123456\"\n", "test.conf:2: public_ip: value too long");

        struct config c;
        struct config_diag d;
        assert_int_equal(parse("[gateway]\nstate_dir = \"/srv/a \\\"b\\\" \\\\c\" # trailing\n", &c, &d), 0);
        assert_string_equal(c.state_dir, "/srv/a \"b\" \\c");
        assert_int_equal(parse("[gateway]\npublic_ip = \"255.255.255.255\"\n", &c, &d), 0);
        assert_string_equal(c.public_ip, "255.255.255.255");
}

static void test_comments_blank_lines_crlf(void **state) {
        static const char text[] = "# edgegw\r\n"
                                   "\r\n"
                                   "   \t \r\n"
                                   "[ gateway ]   # the section\r\n"
                                   "\tdatacenter=\"dc-b\"\r\n"
                                   "domain   =   \"example.net\"   # trailing comment\r\n"
                                   "ports_per_vm = 5# no space before the comment\r\n"
                                   "  # indented comment\r\n"
                                   "[daemon]\r\n"
                                   "log_level = \"debug\"\r\n"
                                   "resync_interval = 0"; /* no final newline */
        struct config c;
        struct config_diag d;
        assert_int_equal(parse(text, &c, &d), 0);
        assert_string_equal(c.datacenter, "dc-b");
        assert_string_equal(c.domain, "example.net");
        assert_int_equal(c.ports_per_vm, 5);
        assert_string_equal(c.log_level, "debug");
        assert_int_equal(c.resync_interval, 0);
        assert_int_equal(d.n_warnings, 0);
        assert_int_equal(config_validate(&c, &d), 0);

        /* Line numbers count CRLF lines too. */
        assert_parse_error("[gateway]\r\n\r\n# x\r\nbar = 1\r\n", "test.conf:4: unknown key 'bar' in section [gateway]");
}

static void test_nul_byte(void **state) {
        static const char text[] = "[gateway]\ndatacenter = \"dc\0x\"\n";
        struct config c;
        struct config_diag d = {0};
        config_defaults(&c);
        assert_int_equal(config_parse(&c, text, sizeof text - 1, "test.conf", &d), -EINVAL);
        assert_non_null(strstr(d.error, "test.conf:2:"));
        assert_string_equal(c.datacenter, "dc1");
}

static void test_not_nul_terminated(void **state) {
        /* The parser takes a length: bytes after it must not be read. */
        static const char text[] = "[gateway]\nports_per_vm = 12345";
        size_t len = strlen("[gateway]\nports_per_vm = 12");
        char *buf = malloc(len);
        assert_non_null(buf);
        memcpy(buf, text, len);
        struct config c;
        struct config_diag d = {0};
        config_defaults(&c);
        assert_int_equal(config_parse(&c, buf, len, "test.conf", &d), 0);
        assert_int_equal(c.ports_per_vm, 12);
        free(buf);
}

static void test_empty_file(void **state) {
        struct config c, def;
        struct config_diag d = {0};
        config_defaults(&c);
        config_defaults(&def);
        assert_int_equal(config_parse(&c, "", 0, "test.conf", &d), 0);
        assert_int_equal(c.port_range_start, def.port_range_start);
        assert_string_equal(c.datacenter, def.datacenter);
}

static void test_env_overrides(void **state) {
        struct config c;
        struct config_diag d = {0};
        config_defaults(&c);
        char *envp[] = {
                "PATH=/usr/bin",
                "EDGEGW_STATE_DIR=/srv/edgegw",
                "EDGEGW_PORT_RANGE_START=30000",
                "EDGEGW_PORTS_PER_VM_EXTRA=7", /* a longer name is not EDGEGW_PORTS_PER_VM */
                "EDGEGW_DATACENTER=dc-x",
                "EDGEGW_LOG_LEVEL=debug",
                "EDGEGW_FORWARD_MODE=userspace",
                "XEDGEGW_DOMAIN=nope.example",
                NULL,
        };
        assert_int_equal(config_apply_env(&c, envp, &d), 0);
        assert_string_equal(c.state_dir, "/srv/edgegw");
        assert_int_equal(c.port_range_start, 30000);
        assert_int_equal(c.ports_per_vm, 10);
        assert_string_equal(c.datacenter, "dc-x");
        assert_string_equal(c.log_level, "debug");
        assert_string_equal(c.forward_mode, "userspace");
        assert_string_equal(c.domain, "edgegw.example");
        assert_int_equal(config_validate(&c, &d), 0);

        /* The environment overrides the file. */
        struct config f;
        assert_int_equal(parse(seed_gateway, &f, &d), 0);
        char *env2[] = {"EDGEGW_PORT_RANGE_END=40000", NULL};
        assert_int_equal(config_apply_env(&f, env2, &d), 0);
        assert_int_equal(f.port_range_end, 40000);
        assert_string_equal(f.datacenter, "dc-lk");

        /* An empty or NULL environment changes nothing. */
        struct config e, def;
        config_defaults(&e);
        config_defaults(&def);
        char *none[] = {NULL};
        assert_int_equal(config_apply_env(&e, none, &d), 0);
        assert_int_equal(config_apply_env(&e, NULL, &d), 0);
        assert_int_equal(e.port_range_start, def.port_range_start);
        assert_string_equal(e.state_dir, def.state_dir);
}

static void test_env_errors(void **state) {
        static const struct {
                const char *var, *want;
        } cases[] = {
                {"EDGEGW_PORT_RANGE_START=abc", "environment EDGEGW_PORT_RANGE_START: expected a non-negative integer"},
                {"EDGEGW_PORT_RANGE_END=65536", "environment EDGEGW_PORT_RANGE_END: out of range (allowed 1..65535)"},
                {"EDGEGW_PORTS_PER_VM=", "environment EDGEGW_PORTS_PER_VM: expected an integer"},
                {"EDGEGW_RESYNC_INTERVAL=-5", "environment EDGEGW_RESYNC_INTERVAL"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct config c;
                struct config_diag d = {0};
                config_defaults(&c);
                char *envp[] = {(char *)cases[i].var, NULL};
                assert_int_equal(config_apply_env(&c, envp, &d), -EINVAL);
                if (!strstr(d.error, cases[i].want))
                        fail_msg("error '%s' does not contain '%s'", d.error, cases[i].want);
        }

        /* A string longer than its field. */
        char longvar[400];
        snprintf(longvar, sizeof longvar, "EDGEGW_DATACENTER=%0300d", 0);
        char *envp[] = {longvar, NULL};
        struct config c;
        struct config_diag d = {0};
        config_defaults(&c);
        assert_int_equal(config_apply_env(&c, envp, &d), -EINVAL);
        assert_non_null(strstr(d.error, "EDGEGW_DATACENTER"));
        assert_string_equal(c.datacenter, "dc1");
}

/* Runs config_validate over the defaults changed by one line of text; returns its result. */
static int validate_with(const char *text, struct config_diag *d) {
        struct config c;
        int r = parse(text, &c, d);
        assert_int_equal(r, 0);
        return config_validate(&c, d);
}

static void test_validate_errors(void **state) {
        static const struct {
                const char *text, *want;
        } cases[] = {
                {"[gateway]\nport_range_start = 30000\nport_range_end = 20000\n",
                 "port_range_start 30000 is above port_range_end 20000"},
                {"[gateway]\nport_range_start = 20000\nport_range_end = 20008\nports_per_vm = 10\n",
                 "ports_per_vm 10 does not fit in the port range 20000-20008"},
                {"[gateway]\ndatacenter = \"DC-LK\"\n", "datacenter 'DC-LK' is not a DNS label"},
                {"[gateway]\ndatacenter = \"dc.lk\"\n", "datacenter 'dc.lk' is not a DNS label"},
                {"[gateway]\ndatacenter = \"\"\n", "datacenter '' is not a DNS label"},
                {"[gateway]\ndatacenter = \"-dc\"\n", "datacenter '-dc' is not a DNS label"},
                {"[gateway]\ndomain = \"example..net\"\n", "domain 'example..net' is not a valid DNS name"},
                {"[gateway]\ndomain = \"Example.net\"\n", "domain 'Example.net' is not a valid DNS name"},
                {"[gateway]\npublic_ip = \"2001:db8::1\"\n", "public_ip '2001:db8::1' is not an IPv4 address"},
                {"[gateway]\npublic_ip = \"203.0.113\"\n", "public_ip '203.0.113' is not an IPv4 address"},
                {"[gateway]\npublic_ip6 = \"203.0.113.1\"\n", "public_ip6 '203.0.113.1' is not an IPv6 address"},
                {"[gateway]\nstate_dir = \"var/lib/edgegw\"\n", "state_dir 'var/lib/edgegw' must be an absolute path"},
                {"[gateway]\nstate_dir = \"\"\n", "state_dir '' must be an absolute path"},
                {"[gateway]\nport_range_start = 1024\n", "port_range_start 1024 would shadow well-known ports"},
                {"[daemon]\nlog_level = \"verbose\"\n", "log_level 'verbose' is not one of"},
                {"[gateway]\nforward_mode = \"iptables\"\n", "forward_mode 'iptables' is not 'kernel' or 'userspace'"},
                {"[gateway]\nforward_mode = \"\"\n", "forward_mode '' is not 'kernel' or 'userspace'"},
                {"[proxy]\nforward_listen = \"[::]:80\"\n", "forward_listen '[::]:80' is not an IP address"},
                {"[proxy]\nforward_listen = \"[10.0.0.1]\"\n", "forward_listen '[10.0.0.1]' is not an IP address"},
                {"[proxy]\nforward_listen = \"\"\n", "forward_listen '' is not an IP address"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct config_diag d;
                assert_int_equal(validate_with(cases[i].text, &d), -EINVAL);
                if (!strstr(d.error, cases[i].want))
                        fail_msg("case %zu: error '%s' does not contain '%s'", i, d.error, cases[i].want);
        }
}

static void test_validate_accepts(void **state) {
        static const char *const ok[] = {
                /* A block exactly as large as the range. */
                "[gateway]\nport_range_start = 20000\nport_range_end = 20009\nports_per_vm = 10\n",
                "[gateway]\nport_range_start = 1025\nport_range_end = 65535\n",
                "[gateway]\nport_range_start = 65535\nport_range_end = 65535\nports_per_vm = 1\n",
                "[gateway]\npublic_ip6 = \"2001:db8::1\"\npublic_ip = \"198.51.100.7\"\n",
                "[gateway]\ndatacenter = \"a\"\ndomain = \"b\"\n",
                "[gateway]\nforward_mode = \"userspace\"\n[proxy]\nforward_listen = \"0.0.0.0\"\n",
                "[gateway]\nforward_mode = \"kernel\"\n[proxy]\nforward_listen = \"[2001:db8::1]\"\n",
                "[proxy]\nforward_listen = \"::\"\nudp_timeout_ms = 1000\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                struct config_diag d;
                int r = validate_with(ok[i], &d);
                if (r != 0)
                        fail_msg("case %zu rejected: %s", i, d.error);
        }
}

static void test_validate_name_too_long(void **state) {
        /* 6 + 1 + 63 + 1 + 183 = 254 characters: one too many for a VM name. */
        struct config c;
        config_defaults(&c);
        memset(c.datacenter, 'd', 63);
        c.datacenter[63] = '\0';
        char domain[200] = "";
        for (int i = 0; i < 3; i++)
                strcat(domain, "ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd."); /* 59 + dot */
        strcat(domain, "ddd"); /* 183 */
        assert_int_equal(strlen(domain), 183);
        strcpy(c.domain, domain);
        struct config_diag d = {0};
        assert_int_equal(config_validate(&c, &d), -EINVAL);
        assert_non_null(strstr(d.error, "too long"));

        /* One character less fits exactly (253). */
        c.domain[strlen(c.domain) - 1] = '\0';
        assert_int_equal(config_validate(&c, &d), 0);
}

/* Writes text to a new temporary file; returns its path (caller unlinks and frees). */
static char *write_temp(const char *text) {
        char *path = strdup("/tmp/test-config-XXXXXX");
        assert_non_null(path);
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        size_t n = strlen(text);
        assert_int_equal(write(fd, text, n), (ssize_t)n);
        close(fd);
        return path;
}

static void test_load_file(void **state) {
        char *path = write_temp("[gateway]\ndatacenter = \"dc-lk\"\ndomain = \"example.net\"\nports_per_vm = 20\n"
                                "traefik_dynamic_dir = \"/etc/traefik/dynamic\"\n");
        struct config c;
        memset(&c, 0, sizeof c);
        struct config_diag d = {0};
        int r = config_load(path, &c, &d);
        unlink(path);
        free(path);
        assert_int_equal(r, 0);
        assert_string_equal(c.datacenter, "dc-lk");
        assert_string_equal(c.domain, "example.net");
        assert_int_equal(c.ports_per_vm, 20);
        assert_int_equal(c.port_range_start, 20000); /* default kept */
        assert_string_equal(c.state_dir, "/var/lib/edgegw");
        assert_int_equal(d.n_warnings, 1);
}

static void test_load_errors(void **state) {
        /* A file error names the file's real path and line; *ret stays untouched. */
        char *path = write_temp("[gateway]\nfoo = 1\n");
        struct config c;
        memset(&c, 0x5a, sizeof c);
        struct config before = c;
        struct config_diag d = {0};
        int r = config_load(path, &c, &d);
        char want[300];
        snprintf(want, sizeof want, "%s:2: unknown key 'foo' in section [gateway]", path);
        unlink(path);
        free(path);
        assert_int_equal(r, -EINVAL);
        assert_string_equal(d.error, want);
        assert_memory_equal(&c, &before, sizeof c);

        /* Parses but fails validation. */
        path = write_temp("[gateway]\nport_range_start = 30000\nport_range_end = 29999\n");
        memset(&d, 0, sizeof d);
        r = config_load(path, &c, &d);
        unlink(path);
        free(path);
        assert_int_equal(r, -EINVAL);
        assert_non_null(strstr(d.error, "above port_range_end"));
        assert_memory_equal(&c, &before, sizeof c);

        /* A missing explicit path is an error, not a fallback to defaults. */
        memset(&d, 0, sizeof d);
        assert_int_equal(config_load("/nonexistent/edgegw-test.conf", &c, &d), -ENOENT);
        assert_non_null(strstr(d.error, "/nonexistent/edgegw-test.conf"));
        assert_memory_equal(&c, &before, sizeof c);
}

static void test_api_section(void **state) {
        struct config c;
        struct config_diag d;
        config_defaults(&c);
        /* Off by default, with the documented limits. */
        assert_string_equal(c.api_listen, "");
        assert_string_equal(c.metrics_listen, "");
        assert_string_equal(c.agent_token, "");
        assert_int_equal(c.api_rate_limit, 100);
        assert_int_equal(c.api_rate_limit_source, 100);
        assert_int_equal(c.api_rate_burst, 200);
        assert_int_equal(c.api_max_body, 1048576);
        assert_int_equal(c.api_timeout, 30);

        assert_int_equal(parse("[api]\n"
                               "listen = \"127.0.0.1:8081\"\n"
                               "tls_cert = \"/etc/edgegw/api.crt\"\n"
                               "tls_key = \"/etc/edgegw/api.key\"\n"
                               "metrics_listen = \"[::1]:9108\"\n"
                               "agent_token_file = \"/etc/edgegw/agent-token\"\n"
                               "rate_limit = 0\n"
                               "rate_limit_source = 50\n"
                               "rate_burst = 10\n"
                               "max_body = 4096\n"
                               "timeout = 5\n",
                               &c, &d),
                         0);
        assert_string_equal(c.api_listen, "127.0.0.1:8081");
        assert_string_equal(c.api_tls_cert, "/etc/edgegw/api.crt");
        assert_string_equal(c.api_tls_key, "/etc/edgegw/api.key");
        assert_string_equal(c.metrics_listen, "[::1]:9108");
        assert_string_equal(c.agent_token_file, "/etc/edgegw/agent-token");
        assert_int_equal(c.api_rate_limit, 0);
        assert_int_equal(c.api_rate_limit_source, 50);
        assert_int_equal(c.api_rate_burst, 10);
        assert_int_equal(c.api_max_body, 4096);
        assert_int_equal(c.api_timeout, 5);
        assert_int_equal(config_validate(&c, &d), 0);

        /* The struct field names are not keys: [api] says listen, not api_listen. */
        assert_parse_error("[api]\napi_listen = \"127.0.0.1:8081\"\n", "unknown key 'api_listen' in section [api]");
        assert_parse_error("[api]\nrate_burst = 0\n", "rate_burst: out of range (allowed 1..1000000)");
        assert_parse_error("[api]\nmax_body = 100\n", "max_body: out of range (allowed 1024..67108864)");
        assert_parse_error("[api]\ntimeout = 0\n", "timeout: out of range (allowed 1..3600)");
        assert_parse_error("[api]\nlisten = 8081\n", "listen: expected a quoted string");
        assert_parse_error("[apis]\n", "unknown section [apis] (known: [gateway], [proxy], [api], [dns], [daemon])");
}

static void test_api_env(void **state) {
        struct config c;
        struct config_diag d = {0};
        config_defaults(&c);
        char *envp[] = {
                "EDGEGW_API_LISTEN=[::]:8443",
                "EDGEGW_API_RATE_LIMIT=7",
                "EDGEGW_API_MAX_BODY=2048",
                "EDGEGW_API_METRICS_LISTEN=127.0.0.1:9108",
                "EDGEGW_LISTEN=1.2.3.4:1", /* [api] keys are only read with the API_ prefix */
                "EDGEGW_TIMEOUT=9",
                "AGENT_TOKEN=seed-agent-token-0123456789",
                NULL,
        };
        assert_int_equal(config_apply_env(&c, envp, &d), 0);
        assert_string_equal(c.api_listen, "[::]:8443");
        assert_int_equal(c.api_rate_limit, 7);
        assert_int_equal(c.api_max_body, 2048);
        assert_int_equal(c.api_timeout, 30);
        assert_string_equal(c.metrics_listen, "127.0.0.1:9108");
        assert_string_equal(c.agent_token, "seed-agent-token-0123456789");
        assert_int_equal(config_validate(&c, &d), 0);
        assert_int_equal(d.n_warnings, 0);

        char *bad[] = {"EDGEGW_API_RATE_BURST=0", NULL};
        assert_int_equal(config_apply_env(&c, bad, &d), -EINVAL);
        assert_non_null(strstr(d.error, "environment EDGEGW_API_RATE_BURST: out of range"));

        char longtok[300] = "AGENT_TOKEN=";
        memset(longtok + 12, 'a', 256);
        char *toolong[] = {longtok, NULL};
        assert_int_equal(config_apply_env(&c, toolong, &d), -EINVAL);
        assert_non_null(strstr(d.error, "AGENT_TOKEN: value too long"));
}

static void test_api_validate(void **state) {
        static const struct {
                const char *text, *want;
        } cases[] = {
                {"[api]\nlisten = \"8081\"\n", "listen '8081' is not ADDR:PORT"},
                {"[api]\nlisten = \"localhost:8081\"\n", "listen 'localhost:8081' is not ADDR:PORT"},
                {"[api]\nlisten = \"::1:8081\"\n", "listen '::1:8081' is not ADDR:PORT"},
                {"[api]\nlisten = \"127.0.0.1:0\"\n", "listen '127.0.0.1:0' is not ADDR:PORT"},
                {"[api]\nlisten = \"127.0.0.1:65536\"\n", "listen '127.0.0.1:65536' is not ADDR:PORT"},
                {"[api]\nmetrics_listen = \"[127.0.0.1]:9108\"\n", "metrics_listen '[127.0.0.1]:9108' is not ADDR:PORT"},
                {"[api]\nlisten = \"127.0.0.1:8081\"\nmetrics_listen = \"127.0.0.1:8081\"\n",
                 "metrics_listen '127.0.0.1:8081' is the API's own listen address"},
                {"[api]\nlisten = \"127.0.0.1:8081\"\ntls_cert = \"/a.crt\"\n", "tls_cert and tls_key go together"},
                {"[api]\ntls_key = \"/a.key\"\n", "tls_cert and tls_key go together"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct config_diag d;
                assert_int_equal(validate_with(cases[i].text, &d), -EINVAL);
                if (!strstr(d.error, cases[i].want))
                        fail_msg("case %zu: error '%s' does not contain '%s'", i, d.error, cases[i].want);
        }

        /* The agent token: printable, no spaces; a short one is accepted with a warning. */
        struct config c;
        struct config_diag d = {0};
        config_defaults(&c);
        strcpy(c.agent_token, "has space");
        assert_int_equal(config_validate(&c, &d), -EINVAL);
        assert_non_null(strstr(d.error, "printable ASCII without spaces"));
        strcpy(c.agent_token, "short");
        memset(&d, 0, sizeof d);
        assert_int_equal(config_validate(&c, &d), 0);
        assert_int_equal(d.n_warnings, 1);
        assert_non_null(strstr(d.warnings[0], "only 5 characters"));

        /* TLS files without a listener: accepted, with a warning. */
        memset(&d, 0, sizeof d);
        assert_int_equal(validate_with("[api]\ntls_cert = \"/a.crt\"\ntls_key = \"/a.key\"\n", &d), 0);
        assert_int_equal(d.n_warnings, 1);
        memset(&d, 0, sizeof d);
        assert_int_equal(validate_with("[api]\nlisten = \"[2001:db8::1]:8443\"\ntls_cert = \"/a.crt\"\n"
                                       "tls_key = \"/a.key\"\nmetrics_listen = \"0.0.0.0:9108\"\n",
                                       &d),
                         0);
        assert_int_equal(d.n_warnings, 0);
}

static void test_load_agent_token_file(void **state) {
        char *tok = write_temp("  s3cret-agent-token-0123456789\r\nsecond line ignored\n");
        char text[512];
        snprintf(text, sizeof text, "[api]\nagent_token_file = \"%s\"\n", tok);
        char *path = write_temp(text);
        struct config c;
        struct config_diag d = {0};
        assert_int_equal(config_load(path, &c, &d), 0);
        assert_string_equal(c.agent_token, "s3cret-agent-token-0123456789");

        /* AGENT_TOKEN in the environment wins over the file. */
        setenv("AGENT_TOKEN", "from-the-environment-0123", 1);
        assert_int_equal(config_load(path, &c, &d), 0);
        assert_string_equal(c.agent_token, "from-the-environment-0123");
        unsetenv("AGENT_TOKEN");

        /* An empty file, a missing file and an overlong token are errors naming the file. */
        FILE *f = fopen(tok, "w");
        assert_non_null(f);
        fputs(" \n", f);
        fclose(f);
        memset(&d, 0, sizeof d);
        assert_int_equal(config_load(path, &c, &d), -EINVAL);
        assert_non_null(strstr(d.error, "empty"));
        assert_non_null(strstr(d.error, tok));

        f = fopen(tok, "w");
        assert_non_null(f);
        for (int i = 0; i < 256; i++)
                fputc('x', f);
        fputc('\n', f);
        fclose(f);
        memset(&d, 0, sizeof d);
        assert_int_equal(config_load(path, &c, &d), -EINVAL);
        assert_non_null(strstr(d.error, "longer than 255"));

        unlink(tok);
        memset(&d, 0, sizeof d);
        assert_int_equal(config_load(path, &c, &d), -ENOENT);
        assert_non_null(strstr(d.error, "agent_token_file"));
        unlink(path);
        free(path);
        free(tok);
}

static void test_dns_defaults(void **state) {
        struct config c;
        config_defaults(&c);
        /* Off, with the documented defaults for when it is turned on. */
        assert_string_equal(c.dns_provider, "");
        assert_string_equal(c.dns_zone, "");
        assert_int_equal(c.dns_ttl, 300);
        assert_string_equal(c.dns_records, "");
        assert_string_equal(c.dns_server, "");
        assert_string_equal(c.dns_tsig_name, "");
        assert_string_equal(c.dns_tsig_algorithm, "hmac-sha256");
        assert_string_equal(c.dns_tsig_secret_file, "");
        assert_string_equal(c.dns_api_token_file, "");
        assert_false(c.dns_proxied);
        assert_string_equal(c.dns_api_url, "https://api.cloudflare.com/client/v4");
        assert_string_equal(c.dns_url, "");
        assert_string_equal(c.dns_token_file, "");
        struct config_diag d = {0};
        assert_int_equal(config_validate(&c, &d), 0);

        /* records by default: A with public_ip, AAAA with public_ip6. */
        assert_int_equal(config_dns_records(&c), 0);
        strcpy(c.public_ip, "203.0.113.1");
        assert_int_equal(config_dns_records(&c), CONFIG_DNS_A);
        strcpy(c.public_ip6, "2001:db8::1");
        assert_int_equal(config_dns_records(&c), CONFIG_DNS_A | CONFIG_DNS_AAAA);
        c.public_ip[0] = '\0';
        assert_int_equal(config_dns_records(&c), CONFIG_DNS_AAAA);
        /* An explicit value wins over the addresses. */
        strcpy(c.dns_records, "a");
        assert_int_equal(config_dns_records(&c), CONFIG_DNS_A);
        strcpy(c.dns_records, "aaaa");
        assert_int_equal(config_dns_records(&c), CONFIG_DNS_AAAA);
        strcpy(c.dns_records, "a,aaaa");
        assert_int_equal(config_dns_records(&c), CONFIG_DNS_A | CONFIG_DNS_AAAA);
        strcpy(c.dns_records, "mx");
        assert_int_equal(config_dns_records(&c), 0);
}

static void test_dns_parse(void **state) {
        struct config c;
        struct config_diag d;
        assert_int_equal(parse("[gateway]\ndatacenter = \"dc-lk\"\ndomain = \"example.net\"\npublic_ip = \"203.0.113.1\"\n"
                               "[dns]\n"
                               "provider = \"rfc2136\"\n"
                               "zone = \"example.net\"\n"
                               "ttl = 60\n"
                               "records = \"a,aaaa\"\n"
                               "server = \"192.0.2.53:5353\"\n"
                               "tsig_name = \"edgegw-key\"\n"
                               "tsig_algorithm = \"hmac-sha256\"\n"
                               "tsig_secret_file = \"/etc/edgegw/tsig.key\"\n"
                               "api_token_file = \"/etc/edgegw/cf-token\"\n"
                               "proxied = true\n"
                               "api_url = \"http://127.0.0.1:8787/client/v4\"\n"
                               "url = \"https://central.example.net:8443\"\n"
                               "token_file = \"/etc/edgegw/dns-token\"\n",
                               &c, &d),
                         0);
        assert_string_equal(c.dns_provider, "rfc2136");
        assert_string_equal(c.dns_zone, "example.net");
        assert_int_equal(c.dns_ttl, 60);
        assert_string_equal(c.dns_records, "a,aaaa");
        assert_string_equal(c.dns_server, "192.0.2.53:5353");
        assert_string_equal(c.dns_tsig_name, "edgegw-key");
        assert_string_equal(c.dns_tsig_algorithm, "hmac-sha256");
        assert_string_equal(c.dns_tsig_secret_file, "/etc/edgegw/tsig.key");
        assert_string_equal(c.dns_api_token_file, "/etc/edgegw/cf-token");
        assert_true(c.dns_proxied);
        assert_string_equal(c.dns_api_url, "http://127.0.0.1:8787/client/v4");
        assert_string_equal(c.dns_url, "https://central.example.net:8443");
        assert_string_equal(c.dns_token_file, "/etc/edgegw/dns-token");
        assert_int_equal(d.n_warnings, 0);

        assert_int_equal(parse("[dns]\nproxied = true\nproxied = false # back off\n", &c, &d), 0);
        assert_false(c.dns_proxied);
        assert_int_equal(parse("[dns]\nttl = 30\n", &c, &d), 0);
        assert_int_equal(c.dns_ttl, 30);
        assert_int_equal(parse("[dns]\nttl = 86400\n", &c, &d), 0);
        assert_int_equal(c.dns_ttl, 86400);

        assert_parse_error("[dns]\nttl = 29\n", "test.conf:2: ttl: out of range (allowed 30..86400)");
        assert_parse_error("[dns]\nttl = 86401\n", "test.conf:2: ttl: out of range (allowed 30..86400)");
        assert_parse_error("[dns]\nttl = \"300\"\n", "test.conf:2: ttl: expected an integer, not a string");
        assert_parse_error("[dns]\nproxied = \"true\"\n", "test.conf:2: proxied: expected true or false, not a string");
        assert_parse_error("[dns]\nproxied = yes\n", "test.conf:2: proxied: expected true or false");
        assert_parse_error("[dns]\nproxied = TRUE\n", "test.conf:2: proxied: expected true or false");
        assert_parse_error("[dns]\nprovider = cloudflare\n", "test.conf:2: provider: expected a quoted string");
        /* Struct field names are not keys, and [dns] keys belong to [dns] only. */
        assert_parse_error("[dns]\ndns_zone = \"example.net\"\n", "unknown key 'dns_zone' in section [dns]");
        assert_parse_error("[dns]\nlisten = \"127.0.0.1:53\"\n", "unknown key 'listen' in section [dns]");
        assert_parse_error("[gateway]\nzone = \"example.net\"\n", "unknown key 'zone' in section [gateway]");
        assert_parse_error("[dns]\nserver = \"01234567890123456789012345678901234567890123456789012345678901234\"\n",
                           "test.conf:2: server: value too long");
}

static void test_dns_env(void **state) {
        struct config c;
        struct config_diag d = {0};
        config_defaults(&c);
        char *envp[] = {
                "EDGEGW_DNS_PROVIDER=cloudflare",
                "EDGEGW_DNS_ZONE=Example.NET",
                "EDGEGW_DNS_TTL=120",
                "EDGEGW_DNS_RECORDS=aaaa",
                "EDGEGW_DNS_SERVER=[2001:db8::53]",
                "EDGEGW_DNS_TSIG_NAME=k1",
                "EDGEGW_DNS_TSIG_ALGORITHM=hmac-sha256",
                "EDGEGW_DNS_TSIG_SECRET_FILE=/run/secrets/tsig",
                "EDGEGW_DNS_API_TOKEN_FILE=/run/secrets/cf",
                "EDGEGW_DNS_PROXIED=true",
                "EDGEGW_DNS_API_URL=http://127.0.0.1:9999/client/v4",
                "EDGEGW_DNS_URL=https://central:8443",
                "EDGEGW_DNS_TOKEN_FILE=/run/secrets/dns",
                "EDGEGW_ZONE=nope.example", /* [dns] keys are only read with the DNS_ prefix */
                "EDGEGW_TTL=31",
                "EDGEGW_DNS_TTL_X=40",
                NULL,
        };
        assert_int_equal(config_apply_env(&c, envp, &d), 0);
        assert_string_equal(c.dns_provider, "cloudflare");
        assert_string_equal(c.dns_zone, "Example.NET");
        assert_int_equal(c.dns_ttl, 120);
        assert_string_equal(c.dns_records, "aaaa");
        assert_string_equal(c.dns_server, "[2001:db8::53]");
        assert_string_equal(c.dns_tsig_name, "k1");
        assert_string_equal(c.dns_tsig_algorithm, "hmac-sha256");
        assert_string_equal(c.dns_tsig_secret_file, "/run/secrets/tsig");
        assert_string_equal(c.dns_api_token_file, "/run/secrets/cf");
        assert_true(c.dns_proxied);
        assert_string_equal(c.dns_api_url, "http://127.0.0.1:9999/client/v4");
        assert_string_equal(c.dns_url, "https://central:8443");
        assert_string_equal(c.dns_token_file, "/run/secrets/dns");

        /* The environment overrides the file, and an empty value turns DNS off. */
        assert_int_equal(parse("[dns]\nprovider = \"rfc2136\"\nproxied = true\n", &c, &d), 0);
        char *env2[] = {"EDGEGW_DNS_PROVIDER=", "EDGEGW_DNS_PROXIED=false", NULL};
        assert_int_equal(config_apply_env(&c, env2, &d), 0);
        assert_string_equal(c.dns_provider, "");
        assert_false(c.dns_proxied);
        assert_int_equal(config_validate(&c, &d), 0);

        static const struct {
                const char *var, *want;
        } bad[] = {
                {"EDGEGW_DNS_TTL=29", "environment EDGEGW_DNS_TTL: out of range (allowed 30..86400)"},
                {"EDGEGW_DNS_TTL=5m", "environment EDGEGW_DNS_TTL: expected a non-negative integer"},
                {"EDGEGW_DNS_PROXIED=1", "environment EDGEGW_DNS_PROXIED: expected true or false"},
                {"EDGEGW_DNS_PROXIED=", "environment EDGEGW_DNS_PROXIED: expected true or false"},
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                config_defaults(&c);
                memset(&d, 0, sizeof d);
                char *e[] = {(char *)bad[i].var, NULL};
                assert_int_equal(config_apply_env(&c, e, &d), -EINVAL);
                if (!strstr(d.error, bad[i].want))
                        fail_msg("case %zu: error '%s' does not contain '%s'", i, d.error, bad[i].want);
        }
}

/* The [gateway] lines the [dns] validation cases share: names live under dc-lk.example.net. */
#define DNS_GW "[gateway]\ndatacenter = \"dc-lk\"\ndomain = \"example.net\"\npublic_ip = \"203.0.113.1\"\n"
#define DNS_RFC2136                                                                                                  \
        DNS_GW "[dns]\nprovider = \"rfc2136\"\nserver = \"192.0.2.53\"\ntsig_name = \"edgegw\"\n"                      \
               "tsig_secret_file = \"/etc/edgegw/tsig.key\"\n"

static void test_dns_validate_errors(void **state) {
        static const struct {
                const char *text, *want;
        } cases[] = {
                {"[dns]\nprovider = \"route53\"\n",
                 "dns: provider 'route53' is not one of rfc2136, cloudflare, edgegw (or \"\" for off)"},
                {"[dns]\nprovider = \"RFC2136\"\n", "dns: provider 'RFC2136' is not one of"},
                /* The zone must contain {datacenter}.{domain}, label-wise. */
                {DNS_RFC2136 "zone = \"example.org\"\n",
                 "dns: zone example.org does not contain dc-lk.example.net, where the VM names live"},
                {DNS_RFC2136 "zone = \"ample.net\"\n", "dns: zone ample.net does not contain dc-lk.example.net"},
                {DNS_RFC2136 "zone = \"xdc-lk.example.net\"\n", "dns: zone xdc-lk.example.net does not contain"},
                {DNS_RFC2136 "zone = \"vm.dc-lk.example.net\"\n", "dns: zone vm.dc-lk.example.net does not contain"},
                {DNS_RFC2136 "zone = \"net.example\"\n", "does not contain dc-lk.example.net"},
                {DNS_RFC2136, "dns: provider rfc2136 needs a zone"},
                {DNS_RFC2136 "zone = \"example..net\"\n", "dns: zone 'example..net' is not a DNS name"},
                {DNS_RFC2136 "zone = \"example.net.\"\n", "dns: zone 'example.net.' is not a DNS name"},
                {DNS_RFC2136 "zone = \"exa_mple.net\"\n", "dns: zone 'exa_mple.net' is not a DNS name"},
                /* Each provider's required keys. */
                {DNS_GW "[dns]\nprovider = \"rfc2136\"\nzone = \"example.net\"\ntsig_name = \"k\"\n"
                        "tsig_secret_file = \"/k\"\n",
                 "dns: provider rfc2136 needs server"},
                {DNS_GW "[dns]\nprovider = \"rfc2136\"\nzone = \"example.net\"\nserver = \"192.0.2.53\"\n"
                        "tsig_secret_file = \"/k\"\n",
                 "dns: provider rfc2136 needs tsig_name"},
                {DNS_GW "[dns]\nprovider = \"rfc2136\"\nzone = \"example.net\"\nserver = \"192.0.2.53\"\n"
                        "tsig_name = \"k\"\n",
                 "dns: provider rfc2136 needs tsig_secret_file"},
                {DNS_GW "[dns]\nprovider = \"cloudflare\"\nzone = \"example.net\"\n", "dns: provider cloudflare needs api_token_file"},
                {DNS_GW "[dns]\nprovider = \"edgegw\"\nzone = \"example.net\"\ntoken_file = \"/t\"\n",
                 "dns: provider edgegw needs url"},
                {DNS_GW "[dns]\nprovider = \"edgegw\"\nzone = \"example.net\"\nurl = \"https://central:8443\"\n",
                 "dns: provider edgegw needs token_file"},
                /* server is ADDR[:PORT]. */
                {DNS_RFC2136 "zone = \"example.net\"\nserver = \"ns1.example.net\"\n", "dns: server 'ns1.example.net' is not ADDR[:PORT]"},
                {DNS_RFC2136 "zone = \"example.net\"\nserver = \"192.0.2.53:0\"\n", "dns: server '192.0.2.53:0' is not ADDR[:PORT]"},
                {DNS_RFC2136 "zone = \"example.net\"\nserver = \"192.0.2.53:65536\"\n", "is not ADDR[:PORT]"},
                {DNS_RFC2136 "zone = \"example.net\"\nserver = \"192.0.2.53:\"\n", "is not ADDR[:PORT]"},
                {DNS_RFC2136 "zone = \"example.net\"\nserver = \"[192.0.2.53]:53\"\n", "is not ADDR[:PORT]"},
                {DNS_RFC2136 "zone = \"example.net\"\nserver = \"[192.0.2.53]\"\n", "is not ADDR[:PORT]"},
                {DNS_RFC2136 "zone = \"example.net\"\nserver = \"[2001:db8::53\"\n", "is not ADDR[:PORT]"},
                /* Only hmac-sha256, and the message says so. */
                {DNS_RFC2136 "zone = \"example.net\"\ntsig_algorithm = \"hmac-md5\"\n",
                 "dns: tsig_algorithm 'hmac-md5' is not supported (supported: hmac-sha256)"},
                {DNS_RFC2136 "zone = \"example.net\"\ntsig_algorithm = \"hmac-sha512\"\n",
                 "dns: tsig_algorithm 'hmac-sha512' is not supported (supported: hmac-sha256)"},
                {DNS_RFC2136 "zone = \"example.net\"\ntsig_algorithm = \"\"\n", "dns: tsig_algorithm '' is not supported"},
                {DNS_RFC2136 "zone = \"example.net\"\ntsig_name = \"edge gw\"\n", "dns: tsig_name 'edge gw' is not a key name"},
                {DNS_RFC2136 "zone = \"example.net\"\ntsig_name = \"a..b\"\n", "dns: tsig_name 'a..b' is not a key name"},
                {DNS_RFC2136 "zone = \"example.net\"\ntsig_name = \".\"\n", "dns: tsig_name '.' is not a key name"},
                /* records, and the addresses they need. */
                {DNS_RFC2136 "zone = \"example.net\"\nrecords = \"mx\"\n", "dns: records 'mx' is not one of a, aaaa, a,aaaa"},
                {DNS_RFC2136 "zone = \"example.net\"\nrecords = \"A\"\n", "dns: records 'A' is not one of"},
                {DNS_RFC2136 "zone = \"example.net\"\nrecords = \"aaaa,a\"\n", "dns: records 'aaaa,a' is not one of"},
                {DNS_RFC2136 "zone = \"example.net\"\nrecords = \"aaaa\"\n",
                 "dns: records 'aaaa' asks for AAAA records but public_ip6 is not set"},
                {DNS_RFC2136 "zone = \"example.net\"\nrecords = \"a,aaaa\"\n", "asks for AAAA records but public_ip6 is not set"},
                {"[gateway]\ndatacenter = \"dc-lk\"\ndomain = \"example.net\"\npublic_ip6 = \"2001:db8::1\"\n"
                 "[dns]\nprovider = \"cloudflare\"\nzone = \"example.net\"\napi_token_file = \"/t\"\nrecords = \"a\"\n",
                 "dns: records 'a' asks for A records but public_ip is not set"},
                {"[gateway]\ndatacenter = \"dc-lk\"\ndomain = \"example.net\"\n"
                 "[dns]\nprovider = \"cloudflare\"\nzone = \"example.net\"\napi_token_file = \"/t\"\n",
                 "dns: nothing to publish: set public_ip and/or public_ip6"},
                /* URLs. */
                {DNS_GW "[dns]\nprovider = \"cloudflare\"\nzone = \"example.net\"\napi_token_file = \"/t\"\napi_url = \"\"\n",
                 "dns: api_url '' is not an http:// or https:// URL"},
                {DNS_GW "[dns]\napi_url = \"ftp://api.example\"\n", "dns: api_url 'ftp://api.example' is not an http:// or https:// URL"},
                {DNS_GW "[dns]\napi_url = \"https://\"\n", "dns: api_url 'https://' is not"},
                {DNS_GW "[dns]\nprovider = \"edgegw\"\nzone = \"example.net\"\nurl = \"central:8443\"\ntoken_file = \"/t\"\n",
                 "dns: url 'central:8443' is not an http:// or https:// URL"},
                {DNS_GW "[dns]\nurl = \"https://central /v1\"\n", "dns: url 'https://central /v1' is not"},
                /* With DNS off, a malformed key is still refused. */
                {DNS_GW "[dns]\nzone = \"example..org\"\n", "dns: zone 'example..org' is not a DNS name"},
                {DNS_GW "[dns]\nserver = \"localhost\"\n", "dns: server 'localhost' is not ADDR[:PORT]"},
                {DNS_GW "[dns]\ntsig_algorithm = \"hmac-md5\"\n", "not supported (supported: hmac-sha256)"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct config_diag d;
                assert_int_equal(validate_with(cases[i].text, &d), -EINVAL);
                if (!strstr(d.error, cases[i].want))
                        fail_msg("case %zu: error '%s' does not contain '%s'", i, d.error, cases[i].want);
        }
}

static void test_dns_validate_accepts(void **state) {
        static const char *const ok[] = {
                /* Off; keys of an unused provider and a zone that would not fit are not checked against
                 * the names. */
                DNS_GW "[dns]\nzone = \"example.org\"\n",
                /* The zone is the domain, the datacenter's own name, or anything in between, in any case. */
                DNS_RFC2136 "zone = \"example.net\"\n",
                DNS_RFC2136 "zone = \"dc-lk.example.net\"\n",
                DNS_RFC2136 "zone = \"net\"\n",
                DNS_RFC2136 "zone = \"EXAMPLE.Net\"\n",
                DNS_RFC2136 "zone = \"DC-LK.example.net\"\n",
                /* server forms. */
                DNS_RFC2136 "zone = \"example.net\"\nserver = \"192.0.2.53:5353\"\n",
                DNS_RFC2136 "zone = \"example.net\"\nserver = \"[2001:db8::53]:53\"\n",
                DNS_RFC2136 "zone = \"example.net\"\nserver = \"[::1]\"\n",
                DNS_RFC2136 "zone = \"example.net\"\nserver = \"2001:db8::53\"\n",
                /* TSIG key names as name servers write them. */
                DNS_RFC2136 "zone = \"example.net\"\ntsig_name = \"edgegw_key.example.net.\"\n",
                DNS_RFC2136 "zone = \"example.net\"\ntsig_name = \"Key-1\"\ntsig_algorithm = \"hmac-sha256\"\nttl = 30\n",
                /* records matching the addresses. */
                DNS_RFC2136 "zone = \"example.net\"\nrecords = \"a\"\n",
                "[gateway]\ndatacenter = \"dc-lk\"\ndomain = \"example.net\"\npublic_ip = \"203.0.113.1\"\n"
                "public_ip6 = \"2001:db8::1\"\n[dns]\nprovider = \"cloudflare\"\nzone = \"example.net\"\n"
                "api_token_file = \"/t\"\nrecords = \"a,aaaa\"\nproxied = true\n",
                "[gateway]\ndatacenter = \"dc-lk\"\ndomain = \"example.net\"\npublic_ip6 = \"2001:db8::1\"\n"
                "[dns]\nprovider = \"cloudflare\"\nzone = \"example.net\"\napi_token_file = \"/t\"\n"
                "api_url = \"http://127.0.0.1:8787/client/v4\"\n",
                DNS_GW "[dns]\nprovider = \"edgegw\"\nzone = \"example.net\"\nurl = \"https://central.example.net:8443\"\n"
                       "token_file = \"/etc/edgegw/dns-token\"\n",
                DNS_GW "[dns]\nprovider = \"edgegw\"\nzone = \"dc-lk.example.net\"\nurl = \"http://[fd00::1]:8081/\"\n"
                       "token_file = \"/t\"\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                struct config_diag d;
                int r = validate_with(ok[i], &d);
                if (r != 0)
                        fail_msg("case %zu rejected: %s", i, d.error);
        }
}

/* Issue 5 additions: public_ip6 = "auto" with public_interface, [dns] owner, and the
 * providers' secrets from the environment instead of a file. */
static void test_dns_auto6_owner_secret_env(void **state) {
        static const struct {
                const char *text, *want;
        } bad[] = {
                {"[gateway]\npublic_ip6 = \"auto\"\n", "public_ip6 = \"auto\" needs public_interface"},
                {"[gateway]\npublic_ip6 = \"automatic\"\n", "public_ip6 'automatic' is not an IPv6 address"},
                {"[gateway]\npublic_interface = \"a/b\"\n", "public_interface 'a/b' is not an interface name"},
                {"[gateway]\npublic_interface = \"eth0:1\"\n", "is not an interface name"},
                {DNS_RFC2136 "zone = \"example.net\"\nowner = \"has space\"\n", "owner 'has space' is not"},
                {DNS_GW "[dns]\nprovider = \"cloudflare\"\nzone = \"example.net\"\n",
                 "provider cloudflare needs api_token_file (or the environment variable EDGEGW_DNS_API_TOKEN"},
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                struct config_diag d;
                assert_int_equal(validate_with(bad[i].text, &d), -EINVAL);
                if (!strstr(d.error, bad[i].want))
                        fail_msg("case %zu: error '%s' does not contain '%s'", i, d.error, bad[i].want);
        }
        struct config_diag d = {0};
        assert_int_equal(validate_with("[gateway]\npublic_ip6 = \"auto\"\npublic_interface = \"wan0\"\n", &d), 0);
        assert_int_equal(validate_with(DNS_RFC2136 "zone = \"example.net\"\nowner = \"gw-2.dc-lk\"\n", &d), 0);

        /* The secret's variable: only the active provider's counts; its value is not kept. */
        struct config c;
        assert_int_equal(parse(DNS_GW "[dns]\nprovider = \"cloudflare\"\nzone = \"example.net\"\n", &c, &d), 0);
        char *wrong[] = {"EDGEGW_DNS_TSIG_SECRET=AAAA", NULL};
        assert_int_equal(config_apply_env(&c, wrong, &d), 0);
        assert_string_equal(c.dns_secret_env, "");
        assert_int_equal(config_validate(&c, &d), -EINVAL);
        char *empty[] = {"EDGEGW_DNS_API_TOKEN=", NULL};
        assert_int_equal(config_apply_env(&c, empty, &d), 0);
        assert_string_equal(c.dns_secret_env, "");
        char *right[] = {"EDGEGW_DNS_API_TOKEN=s3cret-token", NULL};
        assert_int_equal(config_apply_env(&c, right, &d), 0);
        assert_string_equal(c.dns_secret_env, "EDGEGW_DNS_API_TOKEN");
        assert_null(memmem(&c, sizeof c, "s3cret-token", 12));
        assert_int_equal(config_validate(&c, &d), 0);
        assert_string_equal(dns_secret_env_for("rfc2136"), "EDGEGW_DNS_TSIG_SECRET");
        assert_string_equal(dns_secret_env_for("edgegw"), "EDGEGW_DNS_TOKEN");
        assert_null(dns_secret_env_for(""));
}

/* Issue 6: [dhcp] and [outbound], with the seed's GATEWAY_* names. */
#define DHCP_OK "[dhcp]\ninterface = \"br0\"\nsubnet = \"10.15.3.0\"\nsubnet_mask = \"255.255.255.0\"\n" \
                "pool_start = \"10.15.3.20\"\npool_end = \"10.15.3.254\"\ngateway = \"10.15.3.1\"\n"
static void test_dhcp_outbound(void **state) {
        struct config c;
        struct config_diag d = {0};
        config_defaults(&c);
        assert_string_equal(c.dhcp_domain, "vps.local");
        assert_string_equal(c.dhcp_lease_time, "12h");
        assert_string_equal(c.dhcp_unknown_clients, "allow");
        assert_int_equal(config_validate(&c, &d), 0); /* DHCP off */

        assert_int_equal(validate_with(DHCP_OK, &d), 0);
        assert_int_equal(validate_with(DHCP_OK "dns = \"1.1.1.1,1.0.0.1\"\nlease_time = \"45m\"\nunknown_clients = \"deny\"\n"
                                       "[outbound]\nip = \"203.0.113.10\"\ninterface = \"eth0\"\n", &d), 0);

        /* The seed's environment, with EDGEGW_ winning over GATEWAY_. */
        config_defaults(&c);
        char *envp[] = {"GATEWAY_DHCP_POOL_START=10.15.3.20", "GATEWAY_DHCP_POOL_END=10.15.3.254",
                        "GATEWAY_DHCP_SUBNET=10.15.3.0",      "GATEWAY_DHCP_SUBNET_MASK=255.255.255.0",
                        "GATEWAY_DHCP_GATEWAY=10.15.3.1",     "GATEWAY_DHCP_DNS=1.1.1.1,1.0.0.1",
                        "GATEWAY_DHCP_DOMAIN=vps.internal",    "GATEWAY_DHCP_INTERFACE=eth0",
                        "GATEWAY_DHCP_LISTEN_IP=10.15.3.10",  "GATEWAY_OUTBOUND_IP=203.0.113.10",
                        "GATEWAY_OUTBOUND_INTERFACE=eth1",    "EDGEGW_DHCP_INTERFACE=br0",
                        NULL};
        assert_int_equal(config_apply_env(&c, envp, &d), 0);
        assert_string_equal(c.dhcp_interface, "br0");
        assert_string_equal(c.dhcp_pool_start, "10.15.3.20");
        assert_string_equal(c.dhcp_subnet_mask, "255.255.255.0");
        assert_string_equal(c.dhcp_dns, "1.1.1.1,1.0.0.1");
        assert_string_equal(c.dhcp_domain, "vps.internal");
        assert_string_equal(c.dhcp_listen_ip, "10.15.3.10");
        assert_string_equal(c.outbound_ip, "203.0.113.10");
        assert_string_equal(c.outbound_interface, "eth1");
        assert_int_equal(config_validate(&c, &d), 0);

        static const struct {
                const char *text, *want;
        } bad[] = {
                {"[dhcp]\ninterface = \"br0\"\n", "interface br0 is set, so subnet is needed too"},
                {DHCP_OK "subnet_mask = \"255.0.255.0\"\n", "subnet_mask 255.0.255.0 is not a netmask"},
                {DHCP_OK "subnet = \"10.15.3.7\"\n", "is not the network address of mask 255.255.255.0 (that is 10.15.3.0)"},
                {DHCP_OK "pool_end = \"10.15.4.9\"\n", "the pool 10.15.3.20-10.15.4.9 is not inside"},
                {DHCP_OK "pool_end = \"10.15.3.255\"\n", "is not inside 10.15.3.0/255.255.255.0 (without its network"},
                {DHCP_OK "pool_start = \"10.15.3.200\"\npool_end = \"10.15.3.100\"\n", "pool_start 10.15.3.200 is above"},
                {DHCP_OK "gateway = \"10.0.0.1\"\n", "gateway 10.0.0.1 is not inside"},
                {DHCP_OK "pool_start = \"10.15.3\"\n", "pool_start '10.15.3' is not an IPv4 address"},
                {DHCP_OK "dns = \"1.1.1.1,resolver\"\n", "dns 'resolver' is not an IP address"},
                {DHCP_OK "lease_time = \"1m\"\n", "lease_time '1m' is not a duration of at least 2 minutes"},
                {DHCP_OK "lease_time = \"12x\"\n", "lease_time '12x'"},
                {DHCP_OK "unknown_clients = \"ignore\"\n", "unknown_clients 'ignore' is not allow or deny"},
                {DHCP_OK "domain = \"vps..local\"\n", "domain 'vps..local' is not a DNS name"},
                {"[outbound]\nip = \"2001:db8::1\"\n", "outbound: ip '2001:db8::1' is not an IPv4 address"},
                {"[outbound]\ninterface = \"a b\"\n", "outbound: interface 'a b' is not an interface name"},
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                memset(&d, 0, sizeof d);
                assert_int_equal(validate_with(bad[i].text, &d), -EINVAL);
                if (!strstr(d.error, bad[i].want))
                        fail_msg("case %zu: error '%s' does not contain '%s'", i, d.error, bad[i].want);
        }
        memset(&d, 0, sizeof d);
        assert_int_equal(validate_with(DHCP_OK "gateway = \"10.15.3.30\"\n", &d), 0);
        assert_int_equal(d.n_warnings, 1);
        assert_non_null(strstr(d.warnings[0], "is inside the pool"));
}

static void test_dns_server(void **state) {
        static const struct {
                const char *server, *addr;
                int family;
                uint16_t port;
        } cases[] = {
                {"192.0.2.53", "\xc0\x00\x02\x35", AF_INET, 53},
                {"192.0.2.53:5353", "\xc0\x00\x02\x35", AF_INET, 5353},
                {"[::1]:5300", "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01", AF_INET6, 5300},
                {"[::1]", "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01", AF_INET6, 53},
                {"::1", "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01", AF_INET6, 53},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct config c;
                config_defaults(&c);
                strcpy(c.dns_server, cases[i].server);
                struct ip_addr a;
                uint16_t port = 0;
                assert_int_equal(config_dns_server(&c, &a, &port), 0);
                assert_int_equal(a.family, cases[i].family);
                assert_memory_equal(a.bytes, cases[i].addr, cases[i].family == AF_INET ? 4 : 16);
                assert_int_equal(port, cases[i].port);
        }
        /* Failure leaves the outputs untouched. */
        struct config c;
        config_defaults(&c);
        strcpy(c.dns_server, "ns1.example.net:53");
        struct ip_addr a = {.family = 99};
        uint16_t port = 7;
        assert_int_equal(config_dns_server(&c, &a, &port), -EINVAL);
        assert_int_equal(a.family, 99);
        assert_int_equal(port, 7);
        c.dns_server[0] = '\0';
        assert_int_equal(config_dns_server(&c, &a, &port), -EINVAL);
}

static void test_dns_load(void **state) {
        /* A full rfc2136 setup loads; the secret file must be readable but is never read into
         * the configuration. */
        char *secret = write_temp("c2VjcmV0LXRzaWcta2V5LWJ5dGVz\n");
        char text[1024];
        snprintf(text, sizeof text,
                 DNS_GW "[dns]\nprovider = \"rfc2136\"\nzone = \"example.net\"\nserver = \"127.0.0.1:5300\"\n"
                        "tsig_name = \"edgegw\"\ntsig_secret_file = \"%s\"\n",
                 secret);
        char *path = write_temp(text);
        struct config c;
        struct config_diag d = {0};
        assert_int_equal(config_load(path, &c, &d), 0);
        assert_string_equal(c.dns_provider, "rfc2136");
        assert_string_equal(c.dns_tsig_secret_file, secret);
        assert_null(memmem(&c, sizeof c, "c2VjcmV0", 8));

        /* The environment can switch providers at load; then that provider's file is checked. */
        setenv("EDGEGW_DNS_PROVIDER", "cloudflare", 1);
        setenv("EDGEGW_DNS_API_TOKEN_FILE", "/nonexistent/cf-token", 1);
        memset(&d, 0, sizeof d);
        assert_int_equal(config_load(path, &c, &d), -ENOENT);
        assert_string_equal(d.error, "dns: api_token_file /nonexistent/cf-token: cannot read: No such file or directory");
        setenv("EDGEGW_DNS_API_TOKEN_FILE", secret, 1);
        memset(&d, 0, sizeof d);
        assert_int_equal(config_load(path, &c, &d), 0);
        assert_string_equal(c.dns_provider, "cloudflare");
        unsetenv("EDGEGW_DNS_PROVIDER");
        unsetenv("EDGEGW_DNS_API_TOKEN_FILE");

        /* A missing secret file is refused at load, naming the key and the path. */
        unlink(secret);
        memset(&d, 0, sizeof d);
        assert_int_equal(config_load(path, &c, &d), -ENOENT);
        char want[512];
        snprintf(want, sizeof want, "dns: tsig_secret_file %s: cannot read", secret);
        assert_non_null(strstr(d.error, want));

        /* A zone that does not contain the names is refused at load. */
        unlink(path);
        free(path);
        path = write_temp(DNS_GW "[dns]\nprovider = \"edgegw\"\nzone = \"example.org\"\nurl = \"https://c\"\n"
                                 "token_file = \"/t\"\n");
        memset(&d, 0, sizeof d);
        assert_int_equal(config_load(path, &c, &d), -EINVAL);
        assert_string_equal(d.error, "dns: zone example.org does not contain dc-lk.example.net, where the VM names live");
        unlink(path);
        free(path);
        free(secret);
}

static void test_state_path(void **state) {
        struct config c;
        config_defaults(&c);
        char buf[64];
        assert_int_equal(config_state_path(&c, "edgegw.db", buf, sizeof buf), 0);
        assert_string_equal(buf, "/var/lib/edgegw/edgegw.db");
        char small[20];
        assert_int_equal(config_state_path(&c, "edgegw.db", small, sizeof small), -ENAMETOOLONG);
}

/* config_load reads the process environment: keep the caller's EDGEGW_* out of it. */
static int clear_edgegw_env(void **state) {
        extern char **environ;
        unsetenv("AGENT_TOKEN");
        for (;;) {
                char **e = environ;
                while (e && *e && strncmp(*e, "EDGEGW_", 7) != 0)
                        e++;
                if (!e || !*e)
                        return 0;
                char name[256];
                size_t n = strcspn(*e, "=");
                if (n >= sizeof name)
                        return -1;
                memcpy(name, *e, n);
                name[n] = '\0';
                if (unsetenv(name) < 0)
                        return -1;
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_seed_gateway_section),
                cmocka_unit_test(test_unknown_key),
                cmocka_unit_test(test_unknown_section),
                cmocka_unit_test(test_key_outside_section),
                cmocka_unit_test(test_bad_integers),
                cmocka_unit_test(test_integer_bounds_accepted),
                cmocka_unit_test(test_strings),
                cmocka_unit_test(test_comments_blank_lines_crlf),
                cmocka_unit_test(test_nul_byte),
                cmocka_unit_test(test_not_nul_terminated),
                cmocka_unit_test(test_empty_file),
                cmocka_unit_test(test_env_overrides),
                cmocka_unit_test(test_env_errors),
                cmocka_unit_test(test_validate_errors),
                cmocka_unit_test(test_validate_accepts),
                cmocka_unit_test(test_validate_name_too_long),
                cmocka_unit_test(test_load_file),
                cmocka_unit_test(test_load_errors),
                cmocka_unit_test(test_api_section),
                cmocka_unit_test(test_api_env),
                cmocka_unit_test(test_api_validate),
                cmocka_unit_test(test_load_agent_token_file),
                cmocka_unit_test(test_dns_defaults),
                cmocka_unit_test(test_dns_parse),
                cmocka_unit_test(test_dns_env),
                cmocka_unit_test(test_dns_validate_errors),
                cmocka_unit_test(test_dns_validate_accepts),
                cmocka_unit_test(test_dns_auto6_owner_secret_env), cmocka_unit_test(test_dhcp_outbound), cmocka_unit_test(test_dns_server),
                cmocka_unit_test(test_dns_load),
                cmocka_unit_test(test_state_path),
        };
        return cmocka_run_group_tests(tests, clear_edgegw_env, NULL);
}
