/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the configuration parser: arbitrary bytes as a config file, then
 * validation and the same bytes as environment values. Asserts what callers rely on: a
 * result is 0 or -EINVAL, an error names the file and a real line, every accepted value is
 * within its documented bounds, strings stay NUL-terminated inside their fields, and a
 * configuration that validates is one the daemon can use.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "model/ipaddr.h"
#include "model/vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Always on, whatever NDEBUG says: a broken invariant is a crash libFuzzer reports. */
#define CHECK(x)                                                                                    \
        do {                                                                                        \
                if (!(x)) {                                                                         \
                        fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #x);  \
                        abort();                                                                    \
                }                                                                                   \
        } while (0)

#define FIELD_TERMINATED(f) CHECK(memchr((f), '\0', sizeof(f)) != NULL)

static void check_fields(const struct config *c) {
        FIELD_TERMINATED(c->datacenter);
        FIELD_TERMINATED(c->domain);
        FIELD_TERMINATED(c->public_ip);
        FIELD_TERMINATED(c->public_ip6);
        FIELD_TERMINATED(c->state_dir);
        FIELD_TERMINATED(c->log_level);
        CHECK(c->port_range_start >= 1);
        CHECK(c->port_range_end >= 1);
        CHECK(c->ports_per_vm >= 1 && c->ports_per_vm <= PORTS_PER_VM_MAX);
        CHECK(c->resync_interval <= 86400);
}

static void check_diag(const struct config_diag *d) {
        FIELD_TERMINATED(d->error);
        CHECK(d->n_warnings <= CONFIG_WARNINGS_MAX);
        for (unsigned i = 0; i < d->n_warnings; i++)
                FIELD_TERMINATED(d->warnings[i]);
}

/* A configuration that validates is usable as it stands. */
static void check_valid(const struct config *c) {
        CHECK(c->port_range_start > 1024);
        CHECK(c->port_range_start <= c->port_range_end);
        CHECK((uint32_t)c->port_range_end - c->port_range_start + 1 >= c->ports_per_vm);
        CHECK(dns_label_valid(c->datacenter, strlen(c->datacenter)));
        CHECK(dns_name_valid(c->domain));
        char name[DNS_NAME_MAX + 1];
        CHECK(vm_subdomain("zzzzzz", c->datacenter, c->domain, name) == 0);
        CHECK(dns_name_valid(name));
        struct ip_addr a;
        if (c->public_ip[0])
                CHECK(ip_addr_parse(c->public_ip, &a) == 0 && a.family == AF_INET);
        if (c->public_ip6[0])
                CHECK(ip_addr_parse(c->public_ip6, &a) == 0 && a.family == AF_INET6);
        CHECK(c->state_dir[0] == '/');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct config c;
        struct config_diag d;
        config_defaults(&c);
        memset(&d, 0, sizeof d);

        int r = config_parse(&c, (const char *)data, size, "fuzz.conf", &d);
        CHECK(r == 0 || r == -EINVAL);
        check_diag(&d);
        check_fields(&c);
        if (r < 0) {
                /* "fuzz.conf:LINE: ..." with LINE a line that exists. */
                unsigned line = 0;
                int used = 0;
                CHECK(sscanf(d.error, "fuzz.conf:%u:%n", &line, &used) == 1 && used > 0);
                size_t lines = 1;
                for (size_t i = 0; i < size; i++)
                        lines += data[i] == '\n';
                CHECK(line >= 1 && line <= lines);
        } else {
                CHECK(d.error[0] == '\0');
                for (unsigned i = 0; i < d.n_warnings; i++)
                        CHECK(strncmp(d.warnings[i], "fuzz.conf:", 10) == 0);
                struct config_diag vd;
                memset(&vd, 0, sizeof vd);
                int v = config_validate(&c, &vd);
                CHECK(v == 0 || v == -EINVAL);
                FIELD_TERMINATED(vd.error);
                if (v == 0)
                        check_valid(&c);
                else
                        CHECK(vd.error[0] != '\0');
        }

        /* The same bytes as the value of EDGEGW_* variables (up to the first NUL). */
        size_t n = strnlen((const char *)data, size);
        if (n > 4096)
                return 0;
        char value[4096 + 1];
        memcpy(value, data, n);
        value[n] = '\0';
        static const char *const names[] = {"EDGEGW_DOMAIN", "EDGEGW_PORT_RANGE_END", "EDGEGW_STATE_DIR"};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
                char var[4096 + 64];
                snprintf(var, sizeof var, "%s=%s", names[i], value);
                char *envp[] = {var, NULL};
                struct config e;
                struct config_diag ed;
                config_defaults(&e);
                memset(&ed, 0, sizeof ed);
                int re = config_apply_env(&e, envp, &ed);
                CHECK(re == 0 || re == -EINVAL);
                check_fields(&e);
                FIELD_TERMINATED(ed.error);
                if (re < 0)
                        CHECK(strstr(ed.error, names[i]) != NULL);
        }
        return 0;
}
