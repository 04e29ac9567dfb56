/* SPDX-License-Identifier: MIT */
/*
 * A test tool for the DNS providers (dns/provider.h), built, not installed: loads a config
 * file as edgegwd would (config_load, so EDGEGW_* overrides and secrets from the
 * environment apply), opens the provider [dns] names and makes one call.
 *
 *   dns-provider-probe CONFIG_FILE publish|retract NAME A|AAAA CONTENT [TTL] [REF]
 *
 * TTL defaults to [dns] ttl, proxied is [dns] proxied, REF is the hint an earlier publish
 * returned ("" or absent = none). Prints one line
 *   status=ok|retry|conflict|failed ref=REF retry_after=N row_only=0|1 elapsed_ms=N note="..." error="..."
 * (a '"' or '\' inside note and error is escaped with '\') and exits 0 for ok, 1 for any
 * other outcome or when the config or the provider cannot be opened, 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/config.h"
#include "dns/provider.h"

static int usage(void) {
        fprintf(stderr, "usage: dns-provider-probe CONFIG_FILE publish|retract NAME A|AAAA CONTENT [TTL] [REF]\n");
        return 2;
}

static void print_quoted(const char *key, const char *s) {
        printf(" %s=\"", key);
        for (; *s; s++) {
                if (*s == '"' || *s == '\\')
                        putchar('\\');
                putchar(*s);
        }
        putchar('"');
}

static long long now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int report(const struct dns_provider_outcome *o, long long elapsed_ms) {
        printf("status=%s ref=%s retry_after=%u row_only=%d elapsed_ms=%lld", dns_provider_status_to_string(o->status),
               o->ref, o->retry_after_s, o->row_only, elapsed_ms);
        print_quoted("note", o->note);
        print_quoted("error", o->status == DNS_PROVIDER_OK ? "" : o->error);
        putchar('\n');
        return o->status == DNS_PROVIDER_OK ? 0 : 1;
}

/* The config or the provider could not be opened: the same line, status failed. */
static int report_open_error(const char *what, const char *error) {
        char text[600];
        snprintf(text, sizeof text, "%s: %s", what, error);
        printf("status=failed ref= retry_after=0 row_only=0 elapsed_ms=0 note=\"\"");
        print_quoted("error", text);
        putchar('\n');
        return 1;
}

int main(int argc, char **argv) {
        if (argc < 6 || argc > 8)
                return usage();
        const char *path = argv[1], *op = argv[2];
        bool publish = strcmp(op, "publish") == 0;
        if (!publish && strcmp(op, "retract") != 0)
                return usage();

        struct dns_record_want w = {0};
        if (strlen(argv[3]) >= sizeof w.name || strlen(argv[5]) >= sizeof w.content)
                return usage();
        strcpy(w.name, argv[3]);
        if (!strcasecmp(argv[4], "A"))
                w.type = DNS_TYPE_A;
        else if (!strcasecmp(argv[4], "AAAA"))
                w.type = DNS_TYPE_AAAA;
        else
                return usage();
        strcpy(w.content, argv[5]);
        strcpy(w.owner_kind, "vm");
        strcpy(w.owner_id, "probe");

        struct config c;
        struct config_diag diag = {0};
        if (config_load(path, &c, &diag) < 0)
                return report_open_error("config", diag.error);
        w.ttl = c.dns_ttl;
        w.proxied = c.dns_proxied;
        if (argc >= 7) {
                char *end;
                unsigned long ttl = strtoul(argv[6], &end, 10);
                if (!*argv[6] || *end || ttl > 86400)
                        return usage();
                w.ttl = (uint32_t)ttl;
        }
        const char *ref = argc >= 8 ? argv[7] : "";

        struct dns_provider *p = NULL;
        char err[256];
        if (dns_provider_open(&c, &p, err, sizeof err) < 0)
                return report_open_error("open", err);
        struct dns_provider_outcome o = {0};
        long long t0 = now_ms();
        if (publish)
                p->ops->publish(p, &w, ref, &o);
        else
                p->ops->retract(p, &w, ref, &o);
        long long elapsed = now_ms() - t0;
        dns_provider_free(p);
        return report(&o, elapsed);
}
