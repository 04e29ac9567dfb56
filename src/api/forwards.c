/* SPDX-License-Identifier: MIT */
/* TEMPORARY stub: /v1/forwards. */
#include "api.h"
void api_forwards(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        api_error(resp, 501, "not_implemented", "not implemented yet");
}
