/* SPDX-License-Identifier: MIT */
/* edgegw lease add/ls/show/rm (issue 6). Stubs until implemented. */
#include "cli.h"

enum cli_exit cmd_lease_add(const struct cli *cli, const char *arg) {
        (void)cli, (void)arg;
        return cli_usage_error("lease add is not implemented yet");
}
enum cli_exit cmd_lease_ls(const struct cli *cli, const char *arg) {
        (void)cli, (void)arg;
        return cli_usage_error("lease ls is not implemented yet");
}
enum cli_exit cmd_lease_show(const struct cli *cli, const char *arg) {
        (void)cli, (void)arg;
        return cli_usage_error("lease show is not implemented yet");
}
enum cli_exit cmd_lease_rm(const struct cli *cli, const char *arg) {
        (void)cli, (void)arg;
        return cli_usage_error("lease rm is not implemented yet");
}
