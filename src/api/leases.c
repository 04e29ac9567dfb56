/* SPDX-License-Identifier: MIT */
/* /v1/leases (issue 6). Stub until implemented. */
#include "api.h"

void api_leases(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        (void)env;
        (void)rq;
        api_error(resp, 501, "not_implemented", "not implemented yet");
}
