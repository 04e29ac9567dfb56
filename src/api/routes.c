/* SPDX-License-Identifier: MIT */
/* TEMPORARY stub: /v1/routes. */
#include "api.h"
void api_routes(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        api_error(resp, 501, "not_implemented", "not implemented yet");
}
