/* SPDX-License-Identifier: MIT */
/*
 * The edge of the nft module: one libnftables context, owned by the daemon's reconcile
 * code, that runs rendered scripts as single kernel transactions and lists the live tables
 * (inet, and the bridge one of issue 6) as JSON for live.c. Output and errors are buffered in memory (never printed), so the
 * caller gets nft's error text back and logs it once. The same struct nft_apply also keeps
 * batch.c's netlink socket for incremental changes (apply-internal.h). Not thread-safe: one
 * thread uses a given struct nft_apply at a time.
 */
#include "nft.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/util.h"
#include "apply-internal.h"

int nft_apply_new(struct nft_apply **ret) {
        struct nft_apply *a = calloc(1, sizeof *a);
        if (!a)
                return -ENOMEM;
        a->ctx = nft_ctx_new(NFT_CTX_DEFAULT);
        if (!a->ctx || nft_ctx_buffer_output(a->ctx) < 0 || nft_ctx_buffer_error(a->ctx) < 0) {
                nft_apply_free(a);
                return -ENOMEM;
        }
        *ret = a;
        return 0;
}

struct nft_apply *nft_apply_free(struct nft_apply *a) {
        if (!a)
                return NULL;
        if (a->ctx)
                nft_ctx_free(a->ctx);
        if (a->nl)
                mnl_socket_close(a->nl);
        free(a);
        return NULL;
}

/* The errno whose text appears first in nft's error output. nft prints the kernel's answer
 * with strerror() in this same process, so the strings match whatever the locale. Anything
 * unrecognised (a syntax error, say) is -EINVAL. */
static int error_from_text(const char *text) {
        static const int candidates[] = {
                ENOENT, EEXIST, EBUSY, EPERM, EACCES, ENOMEM, ENOSPC, ENOBUFS,
                EMSGSIZE, EOPNOTSUPP, EAFNOSUPPORT, EOVERFLOW, ERANGE, EINVAL,
        };
        const char *first = NULL;
        int r = -EINVAL;

        if (!text)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(candidates); i++) {
                const char *p = strstr(text, strerror(candidates[i]));
                if (p && (!first || p < first)) {
                        first = p;
                        r = -candidates[i];
                }
        }
        return r;
}

/* Runs cmd; on failure returns the errno guessed from the error text and, when wanted, a
 * copy of that text. The buffers are drained first so no earlier run leaks into this one. */
static int run(struct nft_apply *a, const char *cmd, char **ret_error) {
        (void)nft_ctx_get_output_buffer(a->ctx);
        (void)nft_ctx_get_error_buffer(a->ctx);

        if (nft_run_cmd_from_buffer(a->ctx, cmd) == 0)
                return 0;

        const char *err = nft_ctx_get_error_buffer(a->ctx);
        int r = error_from_text(err);
        if (ret_error) {
                char *copy = strdup(err ? err : "");
                if (!copy)
                        return -ENOMEM;
                *ret_error = copy;
        }
        return r;
}

int nft_apply_run(struct nft_apply *a, const char *script, char **ret_error) {
        return run(a, script, ret_error);
}

int nft_apply_list_json(struct nft_apply *a, const char *family, char **ret_json) {
        unsigned int flags = nft_ctx_output_get_flags(a->ctx);
        char cmd[64];
        int r;

        if (!streq(family, NFT_TABLE_FAMILY) && !streq(family, NFT_BRIDGE_FAMILY))
                return -EINVAL;
        snprintf(cmd, sizeof cmd, "list table %s " NFT_TABLE_NAME, family);
        nft_ctx_output_set_flags(a->ctx, flags | NFT_CTX_OUTPUT_JSON);
        r = run(a, cmd, NULL);
        nft_ctx_output_set_flags(a->ctx, flags);
        if (r < 0)
                return r;

        const char *json = nft_ctx_get_output_buffer(a->ctx);
        char *copy = strdup(json ? json : "");
        if (!copy)
                return -ENOMEM;
        *ret_json = copy;
        return 0;
}
