/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the route, forward and agent request decoders and the shared request
 * rules (resjson.h). The first byte picks the decoder, the rest is its input. Asserts what
 * the handlers and the store rely on: an accepted body gives a record with a valid id, host
 * name, target and ports, canonical allow-list and labels, the right origin, and encodes to
 * an object that decodes again to the very same record; a refused one leaves the result
 * untouched and has an error message that fits in a JSON error object, with a status the
 * decoder may give (422 only where documented). Times, If-Match headers and list queries
 * parse into values in range, and times format back to themselves. Leaks are caught by the
 * sanitizer.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/resjson.h"
#include "core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Always on, whatever NDEBUG says: a broken invariant is a crash libFuzzer reports. */
#define CHECK(x)                                                                                    \
        do {                                                                                        \
                if (!(x)) {                                                                         \
                        fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #x);  \
                        abort();                                                                    \
                }                                                                                   \
        } while (0)

enum target { ROUTE_POST, ROUTE_PUT, FORWARD_POST, FORWARD_PUT, AGENT_ROUTE, AGENT_FORWARD, TIME, IF_MATCH, QUERY,
              TARGETS };

static void check_refused(enum api_decode_status st, const void *ret, const void *before, size_t size,
                          const char *err, bool may_unsupported, bool may_tls) {
        CHECK(st == API_DECODE_INVALID_JSON || st == API_DECODE_INVALID_ARGUMENT ||
              (st == API_DECODE_UNSUPPORTED && may_unsupported) || (st == API_DECODE_TLS_TERMINATION && may_tls));
        CHECK(memcmp(ret, before, size) == 0);
        CHECK(memchr(err, '\0', API_ERROR_MAX) != NULL);
        CHECK(err[0] != '\0');
        unsigned status;
        const char *code = api_decode_code(st, &status);
        CHECK(code && (status == 400 || status == 422));
        json_t *e = api_error_json(code, err);
        CHECK(e);
        json_decref(e);
}

static void check_allow(const struct ip_cidr *allow, uint8_t n) {
        CHECK(n <= VM_ALLOW_MAX);
        for (size_t i = 0; i < n; i++) {
                char text[IP_ADDR_STRLEN + 4];
                struct ip_cidr back;
                CHECK(ip_cidr_parse(ip_cidr_format(&allow[i], text), &back) == 0);
                CHECK(back.prefix == allow[i].prefix && ip_addr_equal(&back.addr, &allow[i].addr));
                for (size_t j = 0; j < i; j++)
                        CHECK(!(allow[j].prefix == allow[i].prefix && ip_addr_equal(&allow[j].addr, &allow[i].addr)));
        }
}

static void check_labels(const char *labels) {
        CHECK(memchr(labels, '\0', LABELS_JSON_MAX) != NULL);
        json_t *o = json_loads(labels, JSON_REJECT_DUPLICATES, NULL);
        CHECK(json_is_object(o) && json_object_size(o) <= LABELS_MAX);
        /* Canonical: formatting its own pairs gives the same text. */
        const char *keys[LABELS_MAX], *values[LABELS_MAX], *key;
        json_t *value;
        size_t n = 0;
        json_object_foreach(o, key, value) {
                CHECK(json_is_string(value));
                keys[n] = key;
                values[n++] = json_string_value(value);
        }
        char again[LABELS_JSON_MAX];
        CHECK(labels_format(keys, values, n, again) == 0);
        CHECK(strcmp(again, labels) == 0);
        json_decref(o);
}

static void check_target(const struct ip_addr *ip) {
        CHECK(ip->family == AF_INET || ip->family == AF_INET6);
        CHECK(ip_target_check(ip) == IP_TARGET_OK);
}

/* The object without the fields the store owns, as text (malloc'd). */
static char *request_text(json_t *o) {
        json_object_del(o, "origin");
        json_object_del(o, "created_at");
        json_object_del(o, "updated_at");
        json_object_del(o, "version");
        char *text = json_dumps(o, JSON_COMPACT);
        CHECK(text);
        return text;
}

static void check_route(const struct route_def *r, bool agent) {
        CHECK(memchr(r->id, '\0', sizeof r->id) != NULL && vm_id_valid(r->id));
        CHECK(memchr(r->hostname, '\0', sizeof r->hostname) != NULL && route_hostname_valid(r->hostname));
        check_target(&r->ip);
        CHECK(r->port >= 1 && r->http_port >= 1);
        CHECK(vm_proxy_protocol_to_string(r->proxy_protocol) != NULL);
        check_allow(r->allow, r->n_allow);
        check_labels(r->labels);
        CHECK(r->origin == (agent ? ORIGIN_AGENT : ORIGIN_API));
        CHECK(r->created_at == 0 && r->updated_at == 0 && r->version == 0);

        json_t *o = route_to_json(r);
        CHECK(o);
        char err[API_ERROR_MAX];
        struct route_def back;
        if (!agent) {
                char *text = request_text(o);
                CHECK(route_request_decode(text, strlen(text), r->id, &back, err) == API_DECODE_OK);
                CHECK(memcmp(&back, r, sizeof back) == 0);
                free(text);
        } else {
                CHECK(strncmp(r->agent_target_url, "https://", 8) == 0 || strncmp(r->agent_target_url, "tcp://", 6) == 0);
                json_t *a = agent_route_to_json(r);
                CHECK(a);
                char *text = json_dumps(a, JSON_COMPACT);
                CHECK(text);
                CHECK(agent_route_decode(text, strlen(text), &back, err) == API_DECODE_OK);
                CHECK(memcmp(&back, r, sizeof back) == 0);
                free(text);
                json_decref(a);
        }
        json_decref(o);
}

static void check_forward(const struct forward_def *f, bool agent) {
        CHECK(memchr(f->id, '\0', sizeof f->id) != NULL && vm_id_valid(f->id));
        CHECK(f->proto == PROTO_TCP || f->proto == PROTO_UDP);
        CHECK(f->public_port >= 1 && f->port >= 1);
        check_target(&f->ip);
        check_labels(f->labels);
        CHECK(f->origin == (agent ? ORIGIN_AGENT : ORIGIN_API));

        char err[API_ERROR_MAX];
        struct forward_def back;
        json_t *o = agent ? agent_forward_to_json(f) : forward_to_json(f);
        CHECK(o);
        char *text = agent ? json_dumps(o, JSON_COMPACT) : request_text(o);
        CHECK(text);
        CHECK((agent ? agent_forward_decode(text, strlen(text), &back, err)
                     : forward_request_decode(text, strlen(text), f->id, &back, err)) == API_DECODE_OK);
        CHECK(memcmp(&back, f, sizeof back) == 0);
        free(text);
        json_decref(o);
}

/* "k=v&k2&..." into at most 16 arguments (the text is modified). */
static void check_query(char *text) {
        const char *keys[API_LIST_SELECTORS_MAX + 2], *values[API_LIST_SELECTORS_MAX + 2];
        size_t n = 0;
        for (char *p = text; p && n < ELEMENTSOF(keys);) {
                char *amp = strchr(p, '&');
                if (amp)
                        *amp = '\0';
                char *eq = strchr(p, '=');
                if (eq)
                        *eq = '\0';
                keys[n] = p;
                values[n++] = eq ? eq + 1 : "";
                p = amp ? amp + 1 : NULL;
        }
        struct api_list_query q, before;
        memset(&q, 0x5a, sizeof q);
        before = q;
        char err[API_ERROR_MAX];
        if (api_list_query_parse(keys, values, n, n % 2, &q, err) == 0) {
                CHECK(q.limit >= 1 && q.limit <= API_LIST_LIMIT_MAX);
                CHECK(q.after[0] == '\0' || vm_id_valid(q.after));
                CHECK(q.n_match <= API_LIST_SELECTORS_MAX);
                for (size_t i = 0; i < q.n_match; i++) {
                        CHECK(label_key_valid(q.match[i].key));
                        CHECK(q.match[i].any_value || label_value_valid(q.match[i].value));
                }
        } else {
                CHECK(memcmp(&q, &before, sizeof q) == 0);
                CHECK(memchr(err, '\0', sizeof err) && err[0]);
                json_t *e = api_error_json("invalid_argument", err);
                CHECK(e);
                json_decref(e);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1)
                return 0;
        enum target t = (enum target)(data[0] % TARGETS);
        data++;
        size--;
        /* Exact-size copies so that any read past the input is caught: the body for the JSON
         * decoders, the text (NUL-terminated) for the others. */
        char *body = malloc(size ? size : 1), *text = malloc(size + 1);
        if (!body || !text) {
                free(body);
                free(text);
                return 0;
        }
        memcpy(body, data, size);
        memcpy(text, data, size);
        text[size] = '\0';
        char err[API_ERROR_MAX];
        memset(err, 0x5a, sizeof err);

        switch (t) {
        case ROUTE_POST:
        case ROUTE_PUT:
        case AGENT_ROUTE: {
                struct route_def r, before;
                memset(&r, 0x5a, sizeof r);
                before = r;
                enum api_decode_status st = t == AGENT_ROUTE ? agent_route_decode(body, size, &r, err)
                                                             : route_request_decode(body, size,
                                                                                    t == ROUTE_PUT ? "r1" : NULL, &r, err);
                if (st == API_DECODE_OK) {
                        check_route(&r, t == AGENT_ROUTE);
                        if (t == ROUTE_PUT)
                                CHECK(strcmp(r.id, "r1") == 0);
                } else
                        check_refused(st, &r, &before, sizeof r, err, t != AGENT_ROUTE, t == AGENT_ROUTE);
                break;
        }
        case FORWARD_POST:
        case FORWARD_PUT:
        case AGENT_FORWARD: {
                struct forward_def f, before;
                memset(&f, 0x5a, sizeof f);
                before = f;
                enum api_decode_status st =
                        t == AGENT_FORWARD
                                ? agent_forward_decode(body, size, &f, err)
                                : forward_request_decode(body, size, t == FORWARD_PUT ? "f1" : NULL, &f, err);
                if (st == API_DECODE_OK) {
                        check_forward(&f, t == AGENT_FORWARD);
                        if (t == FORWARD_PUT)
                                CHECK(strcmp(f.id, "f1") == 0);
                } else
                        check_refused(st, &f, &before, sizeof f, err, false, false);
                break;
        }
        case TIME: {
                int64_t v = 42;
                if (api_time_parse(text, &v) == 0) {
                        char formatted[API_TIME_MAX];
                        int64_t back;
                        CHECK(v >= 0 && v <= 253402300799LL);
                        CHECK(api_time_parse(api_time_format(v, formatted), &back) == 0 && back == v);
                } else
                        CHECK(v == 42);
                break;
        }
        case IF_MATCH: {
                int64_t v = 42;
                if (api_if_match_parse(text, &v, err) == 0)
                        CHECK(v == API_IF_MATCH_NONE || v == API_IF_MATCH_ANY || v >= 0);
                else {
                        CHECK(v == 42 && memchr(err, '\0', sizeof err) && err[0]);
                        json_t *e = api_error_json("invalid_argument", err);
                        CHECK(e);
                        json_decref(e);
                }
                break;
        }
        case QUERY: check_query(text); break;
        case TARGETS: break;
        }
        free(body);
        free(text);
        return 0;
}
