/* SPDX-License-Identifier: MIT */
/*
 * The "edgegw" DNS provider (dns/provider.h): a node without DNS credentials of its own asks
 * a central edgegw to publish its records, over the central's API (POST
 * {url}/api/v1/agents/dns, api/dnsremote.c there) with a token of scope dns. The central
 * checks the name against its zone and the token's datacenter, remembers which token
 * published each (name, type) and publishes it through its own provider; its answers are
 * idempotent (create of an equal record, delete of a missing one: 200), so the outbox may
 * retry any call. libcurl, one handle kept for keep-alive, bounded by a 4 s connect and a
 * 10 s total timeout; https uses the system's CAs. The token (from [dns] token_file, or
 * EDGEGW_DNS_TOKEN) stays in memory only and is never part of an error text.
 *
 * Answers: 2xx -> OK; 409 -> CONFLICT (another node's record); 400, 401, 403, 404, 422 and
 * other 4xx -> FAILED with the central's message; 429 and 503 -> RETRY after Retry-After;
 * 5xx, timeouts, unreachable, an unreadable answer -> RETRY. 400, 403, 409 and 422 concern
 * the one record (row_only: a name outside the token's datacenter must not hold back the
 * others); the rest concern the central or the token, so every row waits. A delete refused
 * with 403, 409 or 422 succeeds: the central holds no record of ours under that name.
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "core/util.h"
#include "provider.h"

#define CENTRAL_PATH "/api/v1/agents/dns"
#define CENTRAL_CONNECT_TIMEOUT_MS 4000L
#define CENTRAL_TIMEOUT_MS 10000L
#define CENTRAL_ANSWER_MAX (64 * 1024)
#define CENTRAL_TOKEN_MAX 1024
#define CENTRAL_RETRY_AFTER_MAX 3600

struct central {
        struct dns_provider base;
        char url[sizeof(((struct config *)0)->dns_url) + sizeof CENTRAL_PATH];
        char *authorization; /* "Authorization: Bearer TOKEN": a secret */
        CURL *curl;
        bool curl_global; /* curl_global_init() succeeded: cleanup owed */
};

struct answer {
        struct strbuf body;
        bool too_large;
};

static size_t answer_write(char *data, size_t size, size_t nmemb, void *userdata) {
        struct answer *a = userdata;
        size_t n = size * nmemb;
        if (n > CENTRAL_ANSWER_MAX - a->body.len) {
                a->too_large = true;
                return 0;
        }
        strbuf_appendn(&a->body, data, n);
        return strbuf_status(&a->body) < 0 ? 0 : n;
}

/* The central's words for a refusal: the error object's message, else the start of the
 * body, printable ASCII only. */
static void central_message(const char *body, size_t len, char *out, size_t n) {
        json_t *root = len ? json_loadb(body, len, 0, NULL) : NULL;
        const char *msg = json_string_value(json_object_get(json_object_get(root, "error"), "message"));
        if (!msg)
                msg = json_string_value(json_object_get(root, "error"));
        size_t j = 0;
        const char *src = msg ? msg : len ? body : "(no body)";
        size_t src_len = msg ? strlen(msg) : len ? len : strlen(src);
        for (size_t i = 0; i < src_len && j + 1 < n && (msg || i < 160); i++) {
                unsigned char c = (unsigned char)src[i];
                if (c == '\n' || c == '\r')
                        c = ' ';
                out[j++] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
        }
        while (j && out[j - 1] == ' ')
                j--;
        out[j] = '\0';
        if (!j)
                snprintf(out, n, "(no body)");
        json_decref(root);
}

/* What an answer of status with body means for the outbox. retract: a delete's answer. */
static void central_outcome(long status, const char *body, size_t len, long retry_after, bool retract,
                            struct dns_provider_outcome *out) {
        char msg[DNS_PROVIDER_ERROR_MAX - 32];
        if (status >= 200 && status <= 299) {
                json_t *root = json_loadb(body, len, 0, NULL);
                json_t *ok = json_object_get(root, "success");
                if (!json_is_true(ok)) {
                        json_decref(root);
                        return dns_provider_outcome_set(out, DNS_PROVIDER_RETRY,
                                                        "central: HTTP %ld with an unexpected answer (not an edgegw?)",
                                                        status);
                }
                out->status = DNS_PROVIDER_OK;
                out->error[0] = '\0';
                if (retract && json_is_false(json_object_get(root, "deleted")))
                        snprintf(out->note, sizeof out->note, "the central had no such record");
                else if (!retract && json_is_string(json_object_get(root, "outcome")) &&
                         streq(json_string_value(json_object_get(root, "outcome")), "updated"))
                        snprintf(out->note, sizeof out->note, "fixed at the central");
                json_decref(root);
                return;
        }
        central_message(body, len, msg, sizeof msg);
        /* A delete the central refuses for this name (another token's record, a name outside
         * our token's datacenter or the zone) leaves nothing of ours behind: such a record
         * could never have been ours. The contract: not ours -> left alone, retract succeeds. */
        if (retract && (status == 409 || status == 403 || status == 422)) {
                out->status = DNS_PROVIDER_OK;
                out->error[0] = '\0';
                snprintf(out->note, sizeof out->note, "not ours at the central, left alone (HTTP %ld: %.150s)", status,
                         msg);
                return;
        }
        if (status == 429 || status == 503)
                out->retry_after_s = retry_after > 0 ? (unsigned)(retry_after < CENTRAL_RETRY_AFTER_MAX
                                                                           ? retry_after
                                                                           : CENTRAL_RETRY_AFTER_MAX)
                                                     : 0;
        /* The central's refusals of this record (another node's, outside the token's
         * datacenter or the zone, a bad value) hold back no other record; a bad token, a
         * wrong URL, an overloaded or unreachable central hold back all. */
        out->row_only = status == 409 || status == 403 || status == 422 || status == 400;
        if (status == 409)
                dns_provider_outcome_set(out, DNS_PROVIDER_CONFLICT, "central: %s", msg);
        else if (status == 429 || status >= 500)
                dns_provider_outcome_set(out, DNS_PROVIDER_RETRY, "central: HTTP %ld: %s", status, msg);
        else if (status >= 300 && status <= 399)
                dns_provider_outcome_set(out, DNS_PROVIDER_FAILED,
                                         "central: HTTP %ld (a redirect, not followed: set [dns] url to the API's "
                                         "own address)",
                                         status);
        else if (status == 404)
                dns_provider_outcome_set(out, DNS_PROVIDER_FAILED, "central: HTTP 404 on " CENTRAL_PATH
                                                                   " (is [dns] url an edgegw API?): %s",
                                         msg);
        else
                dns_provider_outcome_set(out, DNS_PROVIDER_FAILED, "central: HTTP %ld: %s", status, msg);
}

/* One call: action ("create" / "delete") of w. */
static void central_call(struct central *c, const char *action, const struct dns_record_want *w,
                         struct dns_provider_outcome *out) {
        *out = (struct dns_provider_outcome){0};
        const char *type = dns_type_to_string(w->type);
        if (!type)
                return dns_provider_outcome_set(out, DNS_PROVIDER_FAILED, "central: type %u is not A or AAAA",
                                                (unsigned)w->type);
        json_t *req = json_pack("{s:s, s:s, s:s, s:s, s:I, s:b}", "action", action, "name", w->name, "type", type,
                                "content", w->content, "ttl", (json_int_t)w->ttl, "proxied", w->proxied);
        char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
        json_decref(req);
        if (!body)
                return dns_provider_outcome_set(out, DNS_PROVIDER_RETRY, "central: out of memory");

        struct curl_slist *headers = NULL, *l;
        const char *lines[] = {c->authorization, "Content-Type: application/json", "Accept: application/json",
                               "Expect:"};
        for (size_t i = 0; i < ELEMENTSOF(lines); i++) {
                if (!(l = curl_slist_append(headers, lines[i]))) {
                        curl_slist_free_all(headers);
                        free(body);
                        return dns_provider_outcome_set(out, DNS_PROVIDER_RETRY, "central: out of memory");
                }
                headers = l;
        }
        struct answer ans = {0};
        char errbuf[CURL_ERROR_SIZE] = "";
        CURL *h = c->curl;
        curl_easy_reset(h);
        CURLcode rc = CURLE_OK;
#define SET(opt, val)                                      \
        do {                                               \
                if (rc == CURLE_OK)                        \
                        rc = curl_easy_setopt(h, opt, val); \
        } while (0)
        SET(CURLOPT_URL, c->url);
#if LIBCURL_VERSION_NUM >= 0x075500
        SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
        SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
        SET(CURLOPT_NOSIGNAL, 1L);
        SET(CURLOPT_CONNECTTIMEOUT_MS, CENTRAL_CONNECT_TIMEOUT_MS);
        SET(CURLOPT_TIMEOUT_MS, CENTRAL_TIMEOUT_MS);
        SET(CURLOPT_FOLLOWLOCATION, 0L);
        SET(CURLOPT_USERAGENT, "edgegw/" EDGEGW_VERSION);
        SET(CURLOPT_HTTPHEADER, headers);
        SET(CURLOPT_POST, 1L);
        SET(CURLOPT_POSTFIELDS, body);
        SET(CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        SET(CURLOPT_WRITEFUNCTION, answer_write);
        SET(CURLOPT_WRITEDATA, &ans);
        SET(CURLOPT_ERRORBUFFER, errbuf);
#undef SET
        if (rc == CURLE_OK)
                rc = curl_easy_perform(h);
        long status = 0;
        curl_off_t retry_after = 0;
        if (rc == CURLE_OK)
                (void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (rc == CURLE_OK && curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &retry_after) != CURLE_OK)
                retry_after = 0;
        /* The handle keeps pointers to these: forget them before they go (its connections stay). */
        curl_easy_reset(h);
        curl_slist_free_all(headers);
        free(body);

        if (ans.too_large)
                dns_provider_outcome_set(out, DNS_PROVIDER_RETRY, "central: answer over %d bytes", CENTRAL_ANSWER_MAX);
        else if (rc == CURLE_OPERATION_TIMEDOUT)
                dns_provider_outcome_set(out, DNS_PROVIDER_RETRY, "central %.120s: no answer within %ld s", c->url,
                                         CENTRAL_TIMEOUT_MS / 1000);
        else if (rc != CURLE_OK)
                dns_provider_outcome_set(out, DNS_PROVIDER_RETRY, "central %.120s: %.100s", c->url,
                                         errbuf[0] ? errbuf : curl_easy_strerror(rc));
        else if (strbuf_status(&ans.body) < 0)
                dns_provider_outcome_set(out, DNS_PROVIDER_RETRY, "central: out of memory");
        else
                central_outcome(status, strbuf_str(&ans.body), ans.body.len, (long)retry_after,
                                streq(action, "delete"), out);
        strbuf_done(&ans.body);
}

static void central_publish(struct dns_provider *p, const struct dns_record_want *w, const char *ref,
                            struct dns_provider_outcome *out) {
        central_call((struct central *)p, "create", w, out);
}

static void central_retract(struct dns_provider *p, const struct dns_record_want *w, const char *ref,
                            struct dns_provider_outcome *out) {
        central_call((struct central *)p, "delete", w, out);
}

static void central_free(struct dns_provider *p) {
        struct central *c = (struct central *)p;
        if (c->curl)
                curl_easy_cleanup(c->curl);
        if (c->curl_global)
                curl_global_cleanup();
        if (c->authorization) {
                explicit_bzero(c->authorization, strlen(c->authorization));
                free(c->authorization);
        }
        free(c);
}

static const struct dns_provider_ops central_ops = {
        .name = "edgegw",
        .publish = central_publish,
        .retract = central_retract,
        .free = central_free,
};

/* The token: the first line of c->dns_token_file, or the environment variable
 * c->dns_secret_env names when the file key is empty. Printable ASCII without spaces only
 * (it goes into a header). Returns 0 with *ret malloc'd, or -EINVAL with err. */
static int token_read(const struct config *c, char **ret, char *err, size_t err_size) {
        char buf[CENTRAL_TOKEN_MAX + 2] = "";
        const char *source;
        if (c->dns_token_file[0]) {
                source = c->dns_token_file;
                FILE *f = fopen(c->dns_token_file, "re");
                if (!f) {
                        int e = errno;
                        snprintf(err, err_size, "dns: token_file %s: cannot read: %s", c->dns_token_file, strerror(e));
                        return -EINVAL;
                }
                if (!fgets(buf, sizeof buf, f))
                        buf[0] = '\0';
                fclose(f);
        } else if (c->dns_secret_env[0] && getenv(c->dns_secret_env)) {
                source = c->dns_secret_env;
                snprintf(buf, sizeof buf, "%s", getenv(c->dns_secret_env));
        } else {
                snprintf(err, err_size, "dns: provider edgegw needs token_file (or %s)",
                         dns_secret_env_for("edgegw") ? dns_secret_env_for("edgegw") : "EDGEGW_DNS_TOKEN");
                return -EINVAL;
        }
        size_t n = strcspn(buf, "\r\n");
        while (n && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
                n--;
        buf[n] = '\0';
        bool ok = n > 0 && n <= CENTRAL_TOKEN_MAX;
        for (size_t i = 0; ok && i < n; i++)
                ok = buf[i] > 0x20 && buf[i] < 0x7f;
        if (!ok) {
                explicit_bzero(buf, sizeof buf);
                snprintf(err, err_size, "dns: the token in %s is %s", source,
                         n ? "not one word of printable ASCII" : "empty");
                return -EINVAL;
        }
        size_t len = strlen("Authorization: Bearer ") + n + 1;
        char *h = malloc(len);
        if (h)
                snprintf(h, len, "Authorization: Bearer %s", buf);
        explicit_bzero(buf, sizeof buf);
        if (!h) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        *ret = h;
        return 0;
}

int dns_central_open(const struct config *c, struct dns_provider **ret, char *err, size_t err_size) {
        size_t ul = strlen(c->dns_url);
        while (ul && c->dns_url[ul - 1] == '/')
                ul--;
        if (!ul || (strncmp(c->dns_url, "http://", 7) != 0 && strncmp(c->dns_url, "https://", 8) != 0)) {
                snprintf(err, err_size, "dns: url '%s' is not an http:// or https:// URL (the central edgegw's API)",
                         c->dns_url);
                return -EINVAL;
        }
        struct central *p = calloc(1, sizeof *p);
        if (!p) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        p->base.ops = &central_ops;
        snprintf(p->url, sizeof p->url, "%.*s%s", (int)ul, c->dns_url, CENTRAL_PATH);
        int r = token_read(c, &p->authorization, err, err_size);
        if (r < 0) {
                central_free(&p->base);
                return r;
        }
        /* Thread-safe in libcurl >= 7.84; counted, so the cloudflare provider may do the same. */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                central_free(&p->base);
                snprintf(err, err_size, "dns: libcurl failed to initialize");
                return -EIO;
        }
        p->curl_global = true;
        if (!(p->curl = curl_easy_init())) {
                central_free(&p->base);
                snprintf(err, err_size, "dns: libcurl failed to initialize");
                return -ENOMEM;
        }
        *ret = &p->base;
        return 0;
}
