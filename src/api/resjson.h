/* SPDX-License-Identifier: MIT */
/*
 * JSON codecs of the API's resources beside the VM: the /v1 route and forward requests, the
 * seed proxy agent's /http/routes and /tcp/forwards bodies, the objects the API answers with,
 * and the small request rules every resource shares (list queries, If-Match, timestamps,
 * field decoders that vmjson.c uses too). Bytes from the network in, a struct or an error
 * naming the field out: strict, pure (no I/O, no logging, no globals), fuzzed
 * (tests/fuzz/fuzz-resjson.c).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/config.h"
#include "../model/resource.h"
#include "vmjson.h"

/* The HTTP status and error code of a refused decode: 400 invalid_json / invalid_argument,
 * 422 unsupported / tls_termination_unsupported. NULL for API_DECODE_OK. */
const char *api_decode_code(enum api_decode_status st, unsigned *ret_status);

/* ---- timestamps: RFC 3339 ---- */
#define API_TIME_MAX 32
/* "2026-11-22T10:00:00Z" for unix seconds t (year 0..9999); "" outside that range. Returns buf. */
const char *api_time_format(int64_t t, char buf[static API_TIME_MAX]);
/* "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)" ('T'/'Z' in either case) between 1970 and
 * 9999 into unix seconds (fractions are dropped). Returns 0 or -EINVAL. */
int api_time_parse(const char *s, int64_t *ret);

/* ---- field decoders (the first problem wins; err names the field) ---- */
/* A request body as a JSON object (a new reference), or NULL with err when it is empty, not
 * JSON or not an object (API_DECODE_INVALID_JSON). */
json_t *json_body_load(const char *body, size_t len, char err[static API_ERROR_MAX]);
/* A client-supplied text made printable for an error message: control bytes and non-ASCII
 * become '?', at most n-1 characters. */
void api_sanitize(const char *in, char *out, size_t n);
/* Refuses any member of obj not in allowed[0..n): "unknown field 'x' (allowed: a, b)". */
bool json_fields_known(const json_t *obj, const char *const *allowed, size_t n, char err[static API_ERROR_MAX]);
/* "labels": an object of at most LABELS_MAX string values (label_key_valid,
 * label_value_valid) into its canonical text. NULL v = absent = "{}". */
bool json_labels_decode(const json_t *v, char out[static LABELS_JSON_MAX], char err[static API_ERROR_MAX]);
/* "allow": an array of at most VM_ALLOW_MAX distinct canonical CIDR strings, none
 * IPv4-mapped, into out[0..*ret_n). NULL v = absent = none. */
bool json_allow_decode(const json_t *v, struct ip_cidr out[static VM_ALLOW_MAX], uint8_t *ret_n,
                       char err[static API_ERROR_MAX]);
/* A host name field (route_hostname_valid), say how to fix upper case. field is the name in
 * messages, e.g. "'hostname'" or "'hostnames'[2]". */
bool json_hostname_decode(const json_t *v, const char *field, char out[static DNS_NAME_MAX + 1],
                          char err[static API_ERROR_MAX]);
/* "proxy_protocol": "none", "v1" or "v2" into *ret (enum vm_proxy_protocol). NULL v = absent =
 * *ret untouched. */
bool json_proxy_protocol_decode(const json_t *v, uint8_t *ret, char err[static API_ERROR_MAX]);
/* A boolean field. NULL v = absent = *ret untouched. */
bool json_bool_decode(const json_t *v, const char *field, bool *ret, char err[static API_ERROR_MAX]);
/* A target address field: ip_addr_parse() + ip_target_check(). */
bool json_target_ip_decode(const json_t *v, const char *field, struct ip_addr *ret, char err[static API_ERROR_MAX]);
/* An integer port field 1..65535. */
bool json_port_decode(const json_t *v, const char *field, uint16_t *ret, char err[static API_ERROR_MAX]);
/* The id of a resource: required when path_id is NULL (POST); otherwise optional and, when
 * given, equal to path_id (PUT /v1/KIND/ID). out gets the id either way. */
bool json_id_decode(const json_t *v, const char *field, const char *path_id, char out[static RESOURCE_ID_MAX + 1],
                    char err[static API_ERROR_MAX]);

/* ---- field encoders ---- */
/* allow[0..n) as an array of CIDR strings. New reference, or NULL (ENOMEM). */
json_t *json_allow_encode(const struct ip_cidr *allow, size_t n);
/* The canonical text of labels (json_labels_decode) as an object. New reference, or NULL
 * (ENOMEM, or text that is not an object). */
json_t *json_labels_encode(const char *text);

/* Whether a target may be addr given the gateway's own public addresses (cfg->public_ip,
 * public_ip6): err names the field when it is one of them. */
bool api_target_not_gateway(const struct ip_addr *addr, const struct config *cfg, const char *field,
                            char err[static API_ERROR_MAX]);

/* ---- /v1/routes ---- */
/* Decodes POST /v1/routes (path_id NULL) or PUT /v1/routes/ID: {"id","hostname","target_ip",
 * "target_port"? (443),"mode"? ("passthrough"; others API_DECODE_UNSUPPORTED),
 * "proxy_protocol"?,"http_passthrough"?,"http_port"? (80),"allow"?,"labels"?}. origin
 * ORIGIN_API. On failure *ret is untouched and err says why. */
enum api_decode_status route_request_decode(const char *body, size_t len, const char *path_id, struct route_def *ret,
                                            char err[static API_ERROR_MAX]);
/* The API's route object (docs/api.md). New reference, or NULL (ENOMEM, options out of range,
 * labels text that is not an object). */
json_t *route_to_json(const struct route_def *r);

/* ---- /v1/forwards ---- */
/* Decodes POST /v1/forwards or PUT /v1/forwards/ID: {"id","public_port","proto"? ("tcp"),
 * "target_ip","target_port","labels"?}. origin ORIGIN_API. */
enum api_decode_status forward_request_decode(const char *body, size_t len, const char *path_id,
                                              struct forward_def *ret, char err[static API_ERROR_MAX]);
json_t *forward_to_json(const struct forward_def *f);

/* ---- the seed proxy agent ---- */
/* POST /http/routes: {"route_id","hostname","target_url","entrypoint"?,"certresolver"?}.
 * target_url "https://IP[:PORT][/]" or "tcp://IP[:PORT][/]" (IPv6 in brackets, port 443 by
 * default) is SNI passthrough to that address; "http://..." is
 * API_DECODE_TLS_TERMINATION. The texts are kept in the agent_* fields to be echoed back;
 * entrypoint defaults to "websecure". origin ORIGIN_AGENT. */
enum api_decode_status agent_route_decode(const char *body, size_t len, struct route_def *ret,
                                          char err[static API_ERROR_MAX]);
/* {"route_id","hostname","target_url","entrypoint","certresolver"} (certresolver null when
 * unset; a route made through /v1 shows its target as "https://IP:PORT"). */
json_t *agent_route_to_json(const struct route_def *r);
/* POST /tcp/forwards: {"forward_id","public_port","target_ip","target_port","proto"? ("tcp")}.
 * origin ORIGIN_AGENT. */
enum api_decode_status agent_forward_decode(const char *body, size_t len, struct forward_def *ret,
                                            char err[static API_ERROR_MAX]);
/* {"forward_id","public_port","target_ip","target_port","proto"}. */
json_t *agent_forward_to_json(const struct forward_def *f);

/* ---- request rules shared by the resource handlers ---- */
#define API_LIST_LIMIT_DEFAULT 100
#define API_LIST_LIMIT_MAX 1000
#define API_LIST_SELECTORS_MAX 16 /* ?label= selectors */
struct api_list_query {
        size_t limit; /* 1..1000 */
        char after[RESOURCE_ID_MAX + 1]; /* "" = from the start */
        size_t n_match;
        struct label_match match[API_LIST_SELECTORS_MAX];
        bool bytes; /* ?bytes=1 (VM lists only) */
};
/* Parses a list's query, n arguments keys[i]=values[i] (value "" for ?key): limit, after,
 * label (repeatable), and bytes when allow_bytes. Anything else is refused by name. Returns
 * 0, or -EINVAL with err. */
int api_list_query_parse(const char *const *keys, const char *const *values, size_t n, bool allow_bytes,
                         struct api_list_query *ret, char err[static API_ERROR_MAX]);

#define API_IF_MATCH_NONE (-1) /* no header: unconditional */
#define API_IF_MATCH_ANY (-2) /* "*": the resource must exist */
/* An If-Match header (NULL = none): a single strong entity tag "\"N\"" (N a version >= 0) or
 * "*". *ret is API_IF_MATCH_NONE, API_IF_MATCH_ANY or N. Returns 0 or -EINVAL (err). */
int api_if_match_parse(const char *header, int64_t *ret, char err[static API_ERROR_MAX]);

/* The ports of a space-separated "ADDR:PORT ..." listener list (config https_listen,
 * http_listen, api_listen) into ports[0..max); entries that do not parse are skipped.
 * Returns the count. */
size_t listen_ports_parse(const char *text, uint16_t *ports, size_t max);

/* Whether name has the shape of a VM's generated name "{slug}.{datacenter}.{domain}" (a
 * 6-character [a-z0-9] label first); the slug goes to ret_slug (SLUG_LEN + 1 bytes,
 * optional). */
bool hostname_is_generated(const char *name, const char *datacenter, const char *domain,
                           char *ret_slug);
