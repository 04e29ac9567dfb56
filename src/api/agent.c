/* SPDX-License-Identifier: MIT */
/* TEMPORARY stub: the seed agent's paths. */
#include "api.h"
void api_agent_routes(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        api_error(resp, 501, "not_implemented", "not implemented yet");
}
void api_agent_forwards(struct api_env *env, const struct api_request *rq, struct api_response *resp) {
        api_error(resp, 501, "not_implemented", "not implemented yet");
}
