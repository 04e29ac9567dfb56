/* SPDX-License-Identifier: MIT */
/* edgegw dns ls (issue 5). Stub until implemented. */
#include "cli.h"

enum cli_exit cmd_dns_ls(const struct cli *cli, const char *arg) {
        (void)cli;
        (void)arg;
        return cli_usage_error("dns ls is not implemented yet");
}
