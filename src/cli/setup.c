/* SPDX-License-Identifier: MIT */
/* edgegw setup (issue 6). Stub until implemented. */
#include "cli.h"

enum cli_exit cmd_setup(const struct cli *cli, const char *arg) {
        (void)cli, (void)arg;
        return cli_usage_error("setup is not implemented yet");
}
