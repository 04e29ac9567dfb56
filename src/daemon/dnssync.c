/* SPDX-License-Identifier: MIT */
/* The DNS reconciler (daemon/dnssync.h). Stub until implemented. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/dnssync.h"

struct dnssync {
        int unused;
};

int dnssync_new(const char *db_path, const struct config *cfg, struct dnssync **ret, char *err, size_t err_size) {
        (void)db_path, (void)cfg, (void)err, (void)err_size;
        *ret = calloc(1, sizeof **ret);
        return *ret ? 0 : -ENOMEM;
}
struct dnssync *dnssync_free(struct dnssync *d) {
        free(d);
        return NULL;
}
int dnssync_set_config(struct dnssync *d, const struct config *cfg, char *err, size_t err_size) {
        (void)d, (void)cfg, (void)err, (void)err_size;
        return 0;
}
void dnssync_kick(struct dnssync *d) {
        (void)d;
}
void dnssync_get_status(struct dnssync *d, struct dnssync_status *ret) {
        (void)d;
        memset(ret, 0, sizeof *ret);
}
