/* SPDX-License-Identifier: MIT */
/* What the DNS providers share (dns/provider.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "provider.h"

void dns_provider_owner(const struct config *c, char out[static DNS_PROVIDER_OWNER_MAX + 1]) {
        snprintf(out, DNS_PROVIDER_OWNER_MAX + 1, "%s", c->dns_owner[0] ? c->dns_owner : c->datacenter);
}

int dns_provider_open(const struct config *c, struct dns_provider **ret, char *err, size_t err_size) {
        static const struct {
                const char *name;
                int (*open)(const struct config *c, struct dns_provider **ret, char *err, size_t err_size);
        } providers[] = {
                {"rfc2136", dns_rfc2136_open},
                {"cloudflare", dns_cloudflare_open},
                {"edgegw", dns_central_open},
        };
        if (!c->dns_provider[0]) {
                snprintf(err, err_size, "no DNS provider is configured");
                return -ENOENT;
        }
        for (size_t i = 0; i < ELEMENTSOF(providers); i++) {
                if (!streq(providers[i].name, c->dns_provider))
                        continue;
                struct dns_provider *p = NULL;
                int r = providers[i].open(c, &p, err, err_size);
                if (r < 0)
                        return r;
                dns_provider_owner(c, p->owner);
                *ret = p;
                return 0;
        }
        snprintf(err, err_size, "unknown DNS provider '%s'", c->dns_provider);
        return -EINVAL;
}

struct dns_provider *dns_provider_free(struct dns_provider *p) {
        if (p)
                p->ops->free(p);
        return NULL;
}

void dns_provider_outcome_set(struct dns_provider_outcome *out, enum dns_provider_status st, const char *fmt, ...) {
        out->status = st;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(out->error, sizeof out->error, fmt, ap);
        va_end(ap);
}

const char *dns_provider_status_to_string(enum dns_provider_status st) {
        switch (st) {
        case DNS_PROVIDER_OK: return "ok";
        case DNS_PROVIDER_RETRY: return "retry";
        case DNS_PROVIDER_CONFLICT: return "conflict";
        case DNS_PROVIDER_FAILED: return "failed";
        }
        return "unknown";
}

const char *dns_type_to_string(uint16_t type) {
        return type == DNS_TYPE_A ? "A" : type == DNS_TYPE_AAAA ? "AAAA" : NULL;
}
