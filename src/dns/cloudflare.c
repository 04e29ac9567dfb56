/* SPDX-License-Identifier: MIT */
/*
 * The cloudflare DNS provider (dns/provider.h): Cloudflare API v4 over libcurl, with a
 * scoped API token (Zone:Read to find the zone by name, Zone:DNS:Edit for the records).
 * The zone id is looked up once (GET /zones?name=ZONE) and cached; publish() and retract()
 * list the records of (name, type) -- every page -- and then create, fix, adopt or delete
 * as the contract says. Ownership is the record's comment "edgegw-owner=OWNER".
 *
 * Outcomes: 429 -> RETRY after Retry-After (30 s when absent); 5xx, 408, timeouts,
 * connection errors and answers that are not the API's JSON -> RETRY; 401/403 -> FAILED
 * "token rejected: CODE MESSAGE"; other 4xx -> FAILED with the API's errors (and their
 * error_chain). The token lives only in this struct (zeroed on free) and in the
 * Authorization header built for each request (zeroed after it); no text this file
 * produces contains it.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/util.h"
#include "provider.h"

#define CF_TIMEOUT_MS 10000L /* one request, whole */
#define CF_CONNECT_TIMEOUT_MS 5000L
#define CF_PER_PAGE 100
#define CF_MAX_PAGES 100 /* 10,000 records of one (name, type): more is not a DNS name we manage */
#define CF_MAX_BODY (8u << 20) /* bytes of one answer */
#define CF_RETRY_AFTER_DEFAULT 30u
#define CF_RETRY_AFTER_MAX 3600u
#define CF_TOKEN_MAX 1024
#define CF_MARK_PREFIX "edgegw-owner="
#define CF_ID_MAX 63 /* Cloudflare ids are 32 hex digits */

struct cf_provider {
        struct dns_provider base;
        char *token; /* the API token (secret): zeroed and freed in cf_free */
        size_t token_len;
        char base_url[256]; /* api_url without trailing slashes */
        char zone[254];
        char zone_id[CF_ID_MAX + 1]; /* "" until the first successful lookup */
        CURL *curl; /* reused: keeps the connection alive between calls */
};

struct cf_record {
        char id[CF_ID_MAX + 1];
        char content[64];
        char comment[104];
        uint32_t ttl;
        bool proxied;
};

struct cf_list {
        struct cf_record *v;
        size_t n, cap;
};

static void cf_list_done(struct cf_list *l) {
        free(l->v);
        *l = (struct cf_list){0};
}

/* ---- the token ---------------------------------------------------------------------------- */

/* Cloudflare tokens are URL-safe base64-ish; anything else (spaces, control characters)
 * would at best be refused and at worst split the header. */
static bool token_valid(const char *t, size_t n) {
        if (n == 0 || n > CF_TOKEN_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char ch = (unsigned char)t[i];
                if (ch <= ' ' || ch >= 0x7f)
                        return false;
        }
        return true;
}

/* The first line of text, trimmed, as a new string in *ret (the caller zeroes and frees it). */
static int token_from_text(const char *text, size_t len, char **ret, size_t *ret_len) {
        size_t a = 0;
        while (a < len && (text[a] == ' ' || text[a] == '\t' || text[a] == '\r' || text[a] == '\n'))
                a++;
        size_t b = a;
        while (b < len && text[b] != '\n' && text[b] != '\r')
                b++;
        while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t'))
                b--;
        if (!token_valid(text + a, b - a))
                return -EINVAL;
        char *t = malloc(b - a + 1);
        if (!t)
                return -ENOMEM;
        memcpy(t, text + a, b - a);
        t[b - a] = '\0';
        *ret = t;
        *ret_len = b - a;
        return 0;
}

static int token_read(const struct config *c, char **ret, size_t *ret_len, char *err, size_t err_size) {
        if (!c->dns_api_token_file[0]) {
                const char *v = c->dns_secret_env[0] ? getenv(c->dns_secret_env) : NULL;
                if (!v || !*v) {
                        snprintf(err, err_size, "dns: provider cloudflare needs api_token_file or %s",
                                 dns_secret_env_for("cloudflare"));
                        return -EINVAL;
                }
                int r = token_from_text(v, strlen(v), ret, ret_len);
                if (r == -EINVAL)
                        snprintf(err, err_size, "dns: %s does not hold a valid API token (one line, no spaces)",
                                 c->dns_secret_env);
                else if (r < 0)
                        snprintf(err, err_size, "dns: out of memory");
                return r;
        }
        int fd = open(c->dns_api_token_file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                int e = errno;
                snprintf(err, err_size, "dns: api_token_file %s: cannot read: %s", c->dns_api_token_file, strerror(e));
                return -EINVAL;
        }
        char buf[CF_TOKEN_MAX + 2];
        size_t len = 0;
        int r = 0;
        while (len < sizeof buf) {
                ssize_t n = read(fd, buf + len, sizeof buf - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int e = errno;
                        snprintf(err, err_size, "dns: api_token_file %s: cannot read: %s", c->dns_api_token_file,
                                 strerror(e));
                        r = -EINVAL;
                        break;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        close(fd);
        if (r == 0) {
                r = token_from_text(buf, len, ret, ret_len);
                if (r == -EINVAL)
                        snprintf(err, err_size,
                                 "dns: api_token_file %s does not hold a valid API token (first line: the token, "
                                 "no spaces, at most %d characters)",
                                 c->dns_api_token_file, CF_TOKEN_MAX);
                else if (r < 0)
                        snprintf(err, err_size, "dns: out of memory");
        }
        explicit_bzero(buf, sizeof buf);
        return r;
}

/* ---- texts -------------------------------------------------------------------------------- */

/* Appends to buf (size n, NUL-terminated) what fits of printf(fmt): errors stay short. */
_printf_(3, 4) static void append(char *buf, size_t n, const char *fmt, ...) {
        size_t l = strlen(buf);
        if (l + 1 >= n)
                return;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf + l, n - l, fmt, ap);
        va_end(ap);
}

/* Text from the API goes into our logs: keep it on one line and printable. */
static void sanitize(char *s) {
        for (; *s; s++)
                if ((unsigned char)*s < ' ' || *s == 0x7f)
                        *s = ' ';
}

/* The envelope's errors as "CODE MESSAGE (CODE MESSAGE, ...); CODE MESSAGE", the
 * parenthesis holding each error's error_chain. "" when there are none. */
static void errors_text(json_t *env, char *buf, size_t n) {
        buf[0] = '\0';
        json_t *errs = json_is_object(env) ? json_object_get(env, "errors") : NULL;
        size_t i, j;
        json_t *e, *c;
        json_array_foreach(errs, i, e) {
                if (!json_is_object(e))
                        continue;
                if (i > 0)
                        append(buf, n, "; ");
                append(buf, n, "%lld %s", (long long)json_integer_value(json_object_get(e, "code")),
                       json_string_value(json_object_get(e, "message")) ?: "(no message)");
                json_t *chain = json_object_get(e, "error_chain");
                if (json_array_size(chain) == 0)
                        continue;
                append(buf, n, " (");
                json_array_foreach(chain, j, c) {
                        append(buf, n, "%s%lld %s", j > 0 ? ", " : "",
                               (long long)json_integer_value(json_object_get(c, "code")),
                               json_string_value(json_object_get(c, "message")) ?: "(no message)");
                }
                append(buf, n, ")");
        }
        sanitize(buf);
}

/* The code of the envelope's first error, 0 when none. */
static long long first_error_code(json_t *env) {
        json_t *errs = json_is_object(env) ? json_object_get(env, "errors") : NULL;
        return json_integer_value(json_object_get(json_array_get(errs, 0), "code"));
}

/* ---- one request -------------------------------------------------------------------------- */

struct cf_body {
        char *data;
        size_t len;
        bool too_big;
};

static size_t cf_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
        struct cf_body *b = userdata;
        size_t n = size * nmemb;
        if (b->len + n > CF_MAX_BODY) {
                b->too_big = true;
                return 0; /* curl then fails the transfer */
        }
        char *d = realloc(b->data, b->len + n + 1);
        if (!d)
                return 0;
        memcpy(d + b->len, ptr, n);
        b->len += n;
        d[b->len] = '\0';
        b->data = d;
        return n;
}

struct cf_answer {
        long http; /* the HTTP status, 0 when nothing answered */
        json_t *env; /* the parsed envelope (an object), or NULL */
};

static void cf_answer_done(struct cf_answer *a) {
        json_decref(a->env);
        *a = (struct cf_answer){0};
}

/* One API request: METHOD base_url/PATH (path with its query, already encoded) with an
 * optional JSON body. Returns 0 when the API answered 2xx with "success": true (a->env
 * holds the envelope), else -1 with out set to RETRY or FAILED, its error starting with
 * what (e.g. "list records"); a->http and a->env are then still there for the caller to
 * look at (e.g. 404 / 81044 on a record that went away meanwhile). */
static int cf_call(struct cf_provider *p, const char *what, const char *method, const char *path, json_t *body,
                   struct cf_answer *a, struct dns_provider_outcome *out) {
        *a = (struct cf_answer){0};
        _cleanup_free_ char *url = NULL, *payload = NULL;
        if (asprintf(&url, "%s%s", p->base_url, path) < 0) {
                url = NULL;
                dns_provider_outcome_set(out, DNS_PROVIDER_RETRY, "%s: out of memory", what);
                return -1;
        }
        if (body && !(payload = json_dumps(body, JSON_COMPACT))) {
                dns_provider_outcome_set(out, DNS_PROVIDER_RETRY, "%s: out of memory", what);
                return -1;
        }

        size_t auth_size = sizeof "Authorization: Bearer " + p->token_len;
        char *auth = malloc(auth_size);
        if (!auth) {
                dns_provider_outcome_set(out, DNS_PROVIDER_RETRY, "%s: out of memory", what);
                return -1;
        }
        snprintf(auth, auth_size, "Authorization: Bearer %s", p->token);
        struct curl_slist *headers = NULL, *h;
        const char *const extra[] = {auth, "Accept: application/json", body ? "Content-Type: application/json" : NULL};
        for (size_t i = 0; i < ELEMENTSOF(extra); i++) {
                if (!extra[i])
                        continue;
                h = curl_slist_append(headers, extra[i]);
                if (!h) {
                        curl_slist_free_all(headers);
                        explicit_bzero(auth, auth_size);
                        free(auth);
                        dns_provider_outcome_set(out, DNS_PROVIDER_RETRY, "%s: out of memory", what);
                        return -1;
                }
                headers = h;
        }

        struct cf_body resp = {0};
        char curl_err[CURL_ERROR_SIZE] = "";
        CURL *c = p->curl;
        curl_easy_reset(c);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, CF_TIMEOUT_MS);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CF_CONNECT_TIMEOUT_MS);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "edgegw/" EDGEGW_VERSION);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cf_write);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        if (payload) {
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
        } else if (streq(method, "GET")) {
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
                curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        }
        CURLcode cr = curl_easy_perform(c);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
        curl_slist_free_all(headers);
        explicit_bzero(auth, auth_size);
        free(auth);

        if (cr != CURLE_OK) {
                if (resp.too_big)
                        dns_provider_outcome_set(out, DNS_PROVIDER_RETRY, "%s: answer larger than %u bytes", what,
                                                 CF_MAX_BODY);
                else if (cr == CURLE_OPERATION_TIMEDOUT)
                        dns_provider_outcome_set(out, DNS_PROVIDER_RETRY, "%s: no answer within %ld s", what,
                                                 CF_TIMEOUT_MS / 1000);
                else
                        dns_provider_outcome_set(out, DNS_PROVIDER_RETRY, "%s: %s", what,
                                                 curl_err[0] ? curl_err : curl_easy_strerror(cr));
                sanitize(out->error);
                free(resp.data);
                return -1;
        }
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->http);
        curl_off_t retry_after = 0;
        curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &retry_after);
        if (resp.data) {
                a->env = json_loadb(resp.data, resp.len, 0, NULL);
                if (a->env && !json_is_object(a->env)) {
                        json_decref(a->env);
                        a->env = NULL;
                }
        }
        free(resp.data);

        char errs[DNS_PROVIDER_ERROR_MAX];
        errors_text(a->env, errs, sizeof errs);
        long s = a->http;
        if (s >= 200 && s < 300) {
                if (a->env && json_is_true(json_object_get(a->env, "success")))
                        return 0;
                if (!a->env || !errs[0])
                        dns_provider_outcome_set(out, DNS_PROVIDER_RETRY, "%s: HTTP %ld, not an API answer", what, s);
                else
                        dns_provider_outcome_set(out, DNS_PROVIDER_FAILED, "%s: %s", what, errs);
                return -1;
        }
        if (s == 429 || s == 408 || s >= 500) {
                out->retry_after_s = retry_after > 0 ? (unsigned)(retry_after < CF_RETRY_AFTER_MAX ? retry_after
                                                                                                    : CF_RETRY_AFTER_MAX)
                                     : s == 429      ? CF_RETRY_AFTER_DEFAULT
                                                     : 0;
                if (s == 429)
                        dns_provider_outcome_set(out, DNS_PROVIDER_RETRY, "%s: rate limited (HTTP 429%s%s), retry after %u s",
                                                 what, errs[0] ? ": " : "", errs, out->retry_after_s);
                else
                        dns_provider_outcome_set(out, DNS_PROVIDER_RETRY, "%s: HTTP %ld%s%s", what, s,
                                                 errs[0] ? ": " : (a->env ? "" : ", not an API answer"), errs);
                return -1;
        }
        if (s == 401 || s == 403) {
                dns_provider_outcome_set(out, DNS_PROVIDER_FAILED, "%s: token rejected: %s (HTTP %ld)", what,
                                         errs[0] ? errs : "no reason given", s);
                return -1;
        }
        if (!a->env)
                dns_provider_outcome_set(out, DNS_PROVIDER_FAILED, "%s: HTTP %ld, not an API answer (is api_url right?)",
                                         what, s);
        else
                dns_provider_outcome_set(out, DNS_PROVIDER_FAILED, "%s: HTTP %ld: %s", what, s,
                                         errs[0] ? errs : "no reason given");
        return -1;
}

/* ---- the zone and the records ------------------------------------------------------------- */

/* value percent-encoded for a query string, in a malloc'd string (NULL: no memory). */
static char *query_escape(struct cf_provider *p, const char *value) {
        char *e = curl_easy_escape(p->curl, value, 0);
        if (!e)
                return NULL;
        char *copy = strdup(e);
        curl_free(e);
        return copy;
}

/* GET path, whose answer's "result" must be a list: returns it (owned by *a, which the
 * caller releases with cf_answer_done()), or NULL with out set and *a released. */
static json_t *cf_get_list(struct cf_provider *p, const char *what, const char *path, struct cf_answer *a,
                           struct dns_provider_outcome *out) {
        if (cf_call(p, what, "GET", path, NULL, a, out) < 0) {
                cf_answer_done(a);
                return NULL;
        }
        json_t *result = json_object_get(a->env, "result");
        if (!json_is_array(result)) {
                cf_answer_done(a);
                dns_provider_outcome_set(out, DNS_PROVIDER_RETRY, "%s: answer without a result list", what);
                return NULL;
        }
        return result;
}

static int cf_zone_id(struct cf_provider *p, struct dns_provider_outcome *out) {
        if (p->zone_id[0])
                return 0;
        _cleanup_free_ char *name = query_escape(p, p->zone), *path = NULL;
        if (!name || asprintf(&path, "/zones?name=%s&per_page=50", name) < 0) {
                path = NULL;
                dns_provider_outcome_set(out, DNS_PROVIDER_RETRY, "zone lookup: out of memory");
                return -1;
        }
        struct cf_answer a;
        json_t *result = cf_get_list(p, "zone lookup", path, &a, out), *z;
        if (!result)
                return -1;
        size_t i;
        json_array_foreach(result, i, z) {
                const char *zname = json_string_value(json_object_get(z, "name"));
                const char *id = json_string_value(json_object_get(z, "id"));
                if (zname && id && strcasecmp(zname, p->zone) == 0 && id[0] && strlen(id) <= CF_ID_MAX &&
                    strspn(id, "0123456789abcdefABCDEF") == strlen(id)) {
                        strcpy(p->zone_id, id);
                        break;
                }
        }
        cf_answer_done(&a);
        if (!p->zone_id[0]) {
                dns_provider_outcome_set(out, DNS_PROVIDER_FAILED,
                                         "zone %s not found (or the token may not read it: it needs Zone:Read)", p->zone);
                return -1;
        }
        return 0;
}

static bool content_equal(uint16_t type, const char *a, const char *b) {
        unsigned char x[16], y[16];
        int af = type == DNS_TYPE_AAAA ? AF_INET6 : AF_INET;
        if (inet_pton(af, a, x) == 1 && inet_pton(af, b, y) == 1)
                return memcmp(x, y, af == AF_INET6 ? 16 : 4) == 0;
        return strcasecmp(a, b) == 0;
}

/* Every record of (w->name, w->type) in the zone, over all pages, into l. */
static int cf_list_records(struct cf_provider *p, const struct dns_record_want *w, struct cf_list *l,
                           struct dns_provider_outcome *out) {
        const char *type = dns_type_to_string(w->type);
        _cleanup_free_ char *name = query_escape(p, w->name);
        if (!name) {
                dns_provider_outcome_set(out, DNS_PROVIDER_RETRY, "list records: out of memory");
                return -1;
        }
        for (unsigned page = 1;; page++) {
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "/zones/%s/dns_records?type=%s&name=%s&per_page=%d&page=%u", p->zone_id, type, name,
                             CF_PER_PAGE, page) < 0) {
                        path = NULL;
                        dns_provider_outcome_set(out, DNS_PROVIDER_RETRY, "list records: out of memory");
                        return -1;
                }
                struct cf_answer a;
                json_t *result = cf_get_list(p, "list records", path, &a, out), *r;
                if (!result)
                        return -1;
                size_t i;
                json_array_foreach(result, i, r) {
                        const char *id = json_string_value(json_object_get(r, "id"));
                        const char *rname = json_string_value(json_object_get(r, "name"));
                        const char *rtype = json_string_value(json_object_get(r, "type"));
                        const char *content = json_string_value(json_object_get(r, "content"));
                        const char *comment = json_string_value(json_object_get(r, "comment"));
                        json_t *ttl = json_object_get(r, "ttl");
                        if (!id || !id[0] || strlen(id) > CF_ID_MAX || strspn(id, "0123456789abcdefABCDEF") != strlen(id) ||
                            !rname || !rtype || !content || !json_is_integer(ttl)) {
                                cf_answer_done(&a);
                                dns_provider_outcome_set(out, DNS_PROVIDER_RETRY, "list records: a record without id, "
                                                                                  "name, type, content or ttl");
                                return -1;
                        }
                        /* The filter is the API's; a record of another name or type is none of ours. */
                        if (strcasecmp(rtype, type) != 0 || strcasecmp(rname, w->name) != 0)
                                continue;
                        if (l->n == l->cap) {
                                size_t cap = l->cap ? l->cap * 2 : 8;
                                struct cf_record *v = reallocarray(l->v, cap, sizeof *v);
                                if (!v) {
                                        cf_answer_done(&a);
                                        dns_provider_outcome_set(out, DNS_PROVIDER_RETRY, "list records: out of memory");
                                        return -1;
                                }
                                l->v = v;
                                l->cap = cap;
                        }
                        struct cf_record *rec = &l->v[l->n++];
                        *rec = (struct cf_record){.ttl = (uint32_t)json_integer_value(ttl),
                                                  .proxied = json_is_true(json_object_get(r, "proxied"))};
                        strcpy(rec->id, id);
                        snprintf(rec->content, sizeof rec->content, "%s", content);
                        snprintf(rec->comment, sizeof rec->comment, "%s", comment ?: "");
                        sanitize(rec->content);
                }
                json_int_t total_pages = json_integer_value(json_object_get(json_object_get(a.env, "result_info"), "total_pages"));
                cf_answer_done(&a);
                if (total_pages <= (json_int_t)page)
                        return 0;
                if (page >= CF_MAX_PAGES) {
                        dns_provider_outcome_set(out, DNS_PROVIDER_FAILED, "list records: more than %d pages of %s %s",
                                                 CF_MAX_PAGES, w->name, type);
                        out->row_only = true;
                        return -1;
                }
        }
}

static bool record_ours(const struct cf_provider *p, const struct cf_record *r) {
        return strncmp(r->comment, CF_MARK_PREFIX, strlen(CF_MARK_PREFIX)) == 0 &&
               streq(r->comment + strlen(CF_MARK_PREFIX), p->base.owner);
}

/* Cloudflare keeps a proxied record at ttl 1 ("automatic"): its ttl is not compared then. */
static bool record_equal(const struct cf_record *r, const struct dns_record_want *w) {
        return content_equal(w->type, r->content, w->content) && r->proxied == w->proxied &&
               (w->proxied || r->ttl == w->ttl);
}

static json_t *record_body(const struct cf_provider *p, const struct dns_record_want *w, bool full) {
        char mark[128];
        snprintf(mark, sizeof mark, CF_MARK_PREFIX "%s", p->base.owner);
        json_t *b = json_pack("{s:s, s:I, s:b, s:s}", "content", w->content, "ttl", (json_int_t)(w->proxied ? 1 : w->ttl),
                              "proxied", w->proxied, "comment", mark);
        if (b && full && (json_object_set_new(b, "type", json_string(dns_type_to_string(w->type))) < 0 ||
                          json_object_set_new(b, "name", json_string(w->name)) < 0)) {
                json_decref(b);
                return NULL;
        }
        return b;
}

/* method (POST, PATCH or DELETE) on the zone's records (id NULL) or on one record. */
static int cf_write_record(struct cf_provider *p, const char *what, const char *method, const char *id, json_t *body,
                           struct cf_answer *a, struct dns_provider_outcome *out) {
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "/zones/%s/dns_records%s%s", p->zone_id, id ? "/" : "", id ?: "") < 0) {
                path = NULL;
                *a = (struct cf_answer){0};
                dns_provider_outcome_set(out, DNS_PROVIDER_RETRY, "%s: out of memory", what);
                return -1;
        }
        int r = cf_call(p, what, method, path, body, a, out);
        /* The API refused this record (validation, a name it will not take): the others may
         * still go through. */
        if (r < 0 && out->status == DNS_PROVIDER_FAILED && a->http >= 400 && a->http < 500 && a->http != 401 &&
            a->http != 403)
                out->row_only = true;
        return r;
}

/* Deletes our record id; one that is gone already counts as deleted. */
static int cf_delete(struct cf_provider *p, const char *id, struct dns_provider_outcome *out) {
        struct cf_answer a;
        int r = cf_write_record(p, "delete record", "DELETE", id, NULL, &a, out);
        if (r < 0 && a.http == 404 && first_error_code(a.env) == 81044)
                r = 0;
        cf_answer_done(&a);
        return r;
}

/* A zone id that went stale (zone re-created) shows as a refusal: look it up again next time. */
static void cf_after(struct cf_provider *p, struct dns_provider_outcome *out) {
        if (out->status == DNS_PROVIDER_FAILED && !out->row_only)
                p->zone_id[0] = '\0';
        if (out->status == DNS_PROVIDER_CONFLICT)
                out->row_only = true;
        /* Belt and braces: nothing we return may carry the token, even if an answer echoed it. */
        if (p->token_len && strstr(out->error, p->token))
                snprintf(out->error, sizeof out->error, "(message withheld: it contained the API token)");
        if (p->token_len && strstr(out->note, p->token))
                snprintf(out->note, sizeof out->note, "(note withheld: it contained the API token)");
}

static void outcome_ok(struct dns_provider_outcome *out, const char *ref, const char *note) {
        /* A step on the way (a duplicate already gone) may have left a failure behind. */
        *out = (struct dns_provider_outcome){.status = DNS_PROVIDER_OK};
        snprintf(out->ref, sizeof out->ref, "%s", ref);
        snprintf(out->note, sizeof out->note, "%s", note);
}


/* PATCHes record id to what w wants (our comment, content, ttl, proxied). Returns 0, or -1
 * with out set; a record gone meanwhile (404/81044) is a lost race: RETRY for this row. */
static int cf_patch(struct cf_provider *p, const char *what, const char *id, const struct dns_record_want *w,
                    struct dns_provider_outcome *out) {
        _cleanup_(json_decrefp) json_t *b = record_body(p, w, false);
        struct cf_answer a = {0};
        if (!b) {
                dns_provider_outcome_set(out, DNS_PROVIDER_RETRY, "%s: out of memory", what);
                return -1;
        }
        int r = cf_write_record(p, what, "PATCH", id, b, &a, out);
        if (r < 0 && a.http == 404 && first_error_code(a.env) == 81044) {
                dns_provider_outcome_set(out, DNS_PROVIDER_RETRY, "%s: %s went away meanwhile", what, id);
                out->row_only = true;
        }
        cf_answer_done(&a);
        return r < 0 ? -1 : 0;
}

static void cf_publish_do(struct cf_provider *p, const struct dns_record_want *w, const char *ref,
                          struct dns_provider_outcome *out) {
        const char *type = dns_type_to_string(w->type);
        if (!type) {
                dns_provider_outcome_set(out, DNS_PROVIDER_FAILED, "record type %u is not supported", w->type);
                return;
        }
        if (cf_zone_id(p, out) < 0)
                return;
        struct cf_list l = {0};
        if (cf_list_records(p, w, &l, out) < 0) {
                cf_list_done(&l);
                return;
        }

        /* Sort the records: ours (keep one, fix it, delete the rest), a foreign one with our
         * content (adopt it), foreign ones with other content (in the way). */
        struct cf_record *keep = NULL, *adopt = NULL, *foreign = NULL;
        size_t n_foreign = 0;
        for (size_t i = 0; i < l.n; i++) {
                struct cf_record *r = &l.v[i];
                if (record_ours(p, r)) {
                        /* Prefer the one that is right already, then the one we made last time. */
                        if (!keep || (!content_equal(w->type, keep->content, w->content) &&
                                      (content_equal(w->type, r->content, w->content) || streq(r->id, ref))))
                                keep = r;
                } else if (content_equal(w->type, r->content, w->content)) {
                        adopt = r;
                } else {
                        if (!foreign)
                                foreign = r;
                        n_foreign++;
                }
        }
        if (foreign) {
                char more[48] = "";
                if (n_foreign > 1)
                        snprintf(more, sizeof more, " (and %zu more)", n_foreign - 1);
                dns_provider_outcome_set(out, DNS_PROVIDER_CONFLICT, "record %s (%s) is not ours (comment '%.40s')%s; left alone",
                                         foreign->id, foreign->content, foreign->comment, more);
                sanitize(out->error);
                cf_list_done(&l);
                return;
        }

        char note[DNS_PROVIDER_ERROR_MAX] = "";
        char id[CF_ID_MAX + 1] = "";
        struct cf_answer a = {0};
        if (adopt) {
                /* Someone published what we want: take it over (our comment, our ttl and
                 * proxied flag), and drop ours, which then only differ from it. */
                if (cf_patch(p, "adopt record", adopt->id, w, out) < 0) {
                        cf_list_done(&l);
                        return;
                }
                snprintf(id, sizeof id, "%s", adopt->id);
                snprintf(note, sizeof note, "adopted record %s", adopt->id);
                if (!record_equal(adopt, w))
                        append(note, sizeof note, ", ttl/proxied set");
                keep = NULL;
        } else if (keep) {
                snprintf(id, sizeof id, "%s", keep->id);
                if (!record_equal(keep, w)) {
                        if (cf_patch(p, "fix record", keep->id, w, out) < 0) {
                                cf_list_done(&l);
                                return;
                        }
                        snprintf(note, sizeof note, "fixed record %s (was %s)", keep->id, keep->content);
                }
        } else {
                _cleanup_(json_decrefp) json_t *b = record_body(p, w, true);
                if (!b || cf_write_record(p, "create record", "POST", NULL, b, &a, out) < 0) {
                        if (!b)
                                dns_provider_outcome_set(out, DNS_PROVIDER_RETRY, "create record: out of memory");
                        else if (first_error_code(a.env) == 81057 || first_error_code(a.env) == 81058) {
                                /* Someone created it between our look and our write: look again. */
                                dns_provider_outcome_set(out, DNS_PROVIDER_RETRY,
                                                         "create record: an identical record appeared meanwhile");
                                out->row_only = true;
                        }
                        cf_answer_done(&a);
                        cf_list_done(&l);
                        return;
                }
                const char *new_id = json_string_value(json_object_get(json_object_get(a.env, "result"), "id"));
                snprintf(id, sizeof id, "%s", new_id ?: "");
                cf_answer_done(&a);
                snprintf(note, sizeof note, "created");
        }

        /* Duplicates of ours (two edgegw runs raced, or an adopted record replaced them). */
        size_t deleted = 0;
        for (size_t i = 0; i < l.n; i++) {
                struct cf_record *r = &l.v[i];
                if (r == keep || !record_ours(p, r))
                        continue;
                if (cf_delete(p, r->id, out) < 0) {
                        cf_list_done(&l);
                        return;
                }
                deleted++;
        }
        if (deleted)
                append(note, sizeof note, "%sremoved %zu duplicate%s of ours", note[0] ? "; " : "", deleted,
                       deleted == 1 ? "" : "s");
        cf_list_done(&l);
        outcome_ok(out, id, note);
}

static void cf_retract_do(struct cf_provider *p, const struct dns_record_want *w, const char *ref,
                          struct dns_provider_outcome *out) {
        const char *type = dns_type_to_string(w->type);
        if (!type) {
                dns_provider_outcome_set(out, DNS_PROVIDER_FAILED, "record type %u is not supported", w->type);
                return;
        }
        if (cf_zone_id(p, out) < 0)
                return;
        /* The ref is only a hint: what the listing says is ours is what goes. */
        (void)ref;
        struct cf_list l = {0};
        if (cf_list_records(p, w, &l, out) < 0) {
                cf_list_done(&l);
                return;
        }
        size_t deleted = 0, foreign = 0;
        const struct cf_record *first_foreign = NULL;
        for (size_t i = 0; i < l.n; i++) {
                const struct cf_record *r = &l.v[i];
                if (!record_ours(p, r)) {
                        if (!first_foreign)
                                first_foreign = r;
                        foreign++;
                        continue;
                }
                if (cf_delete(p, r->id, out) < 0) {
                        cf_list_done(&l);
                        return;
                }
                deleted++;
        }
        char note[DNS_PROVIDER_ERROR_MAX] = "";
        if (deleted)
                snprintf(note, sizeof note, "deleted %zu record%s", deleted, deleted == 1 ? "" : "s");
        else
                snprintf(note, sizeof note, "no record of ours");
        if (first_foreign) {
                append(note, sizeof note, "; not ours, left alone: %s (%s)", first_foreign->id, first_foreign->content);
                if (foreign > 1)
                        append(note, sizeof note, " and %zu more", foreign - 1);
        }
        cf_list_done(&l);
        outcome_ok(out, "", note);
}

static void cf_publish(struct dns_provider *base, const struct dns_record_want *w, const char *ref,
                       struct dns_provider_outcome *out) {
        struct cf_provider *p = (struct cf_provider *)base;
        *out = (struct dns_provider_outcome){0};
        cf_publish_do(p, w, ref ?: "", out);
        cf_after(p, out);
}

static void cf_retract(struct dns_provider *base, const struct dns_record_want *w, const char *ref,
                       struct dns_provider_outcome *out) {
        struct cf_provider *p = (struct cf_provider *)base;
        *out = (struct dns_provider_outcome){0};
        cf_retract_do(p, w, ref ?: "", out);
        cf_after(p, out);
}

static void cf_free(struct dns_provider *base) {
        struct cf_provider *p = (struct cf_provider *)base;
        if (p->token) {
                explicit_bzero(p->token, p->token_len);
                free(p->token);
        }
        if (p->curl)
                curl_easy_cleanup(p->curl);
        explicit_bzero(p, sizeof *p);
        free(p);
}

static const struct dns_provider_ops cf_ops = {
        .name = "cloudflare",
        .publish = cf_publish,
        .retract = cf_retract,
        .free = cf_free,
};

int dns_cloudflare_open(const struct config *c, struct dns_provider **ret, char *err, size_t err_size) {
        struct cf_provider *p = calloc(1, sizeof *p);
        if (!p) {
                snprintf(err, err_size, "dns: out of memory");
                return -ENOMEM;
        }
        p->base.ops = &cf_ops;
        const char *url = c->dns_api_url[0] ? c->dns_api_url : CONFIG_DNS_API_URL_DEFAULT;
        size_t ul = strlen(url);
        while (ul > 0 && url[ul - 1] == '/')
                ul--;
        if (ul == 0 || ul >= sizeof p->base_url || strlen(c->dns_zone) >= sizeof p->zone || !c->dns_zone[0]) {
                snprintf(err, err_size, "dns: cloudflare needs api_url and zone");
                free(p);
                return -EINVAL;
        }
        memcpy(p->base_url, url, ul);
        p->base_url[ul] = '\0';
        strcpy(p->zone, c->dns_zone);
        int r = token_read(c, &p->token, &p->token_len, err, err_size);
        if (r < 0) {
                cf_free(&p->base);
                return r == -ENOMEM ? r : -EINVAL;
        }
        p->curl = curl_easy_init();
        if (!p->curl) {
                snprintf(err, err_size, "dns: cannot initialise libcurl");
                cf_free(&p->base);
                return -ENOMEM;
        }
        *ret = &p->base;
        return 0;
}
