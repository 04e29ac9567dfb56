/* SPDX-License-Identifier: MIT */
/* TEMPORARY stub: /v1/tokens, /v1/audit. */
#include "api.h"
void api_tokens(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        api_error(resp, 501, "not_implemented", "not implemented yet");
}
void api_audit(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        api_error(resp, 501, "not_implemented", "not implemented yet");
}
