/* SPDX-License-Identifier: MIT */
/* The rfc2136 DNS provider (dns/provider.h). Stub until implemented. */
#include <errno.h>
#include <stdio.h>

#include "provider.h"

int dns_rfc2136_open(const struct config *c, struct dns_provider **ret, char *err, size_t err_size) {
        (void)c;
        (void)ret;
        snprintf(err, err_size, "the rfc2136 provider is not implemented yet");
        return -EOPNOTSUPP;
}
