/* SPDX-License-Identifier: MIT */
/*
 * The CLI's one path to edgegwd: where requests go (the unix socket, or a remote http(s)
 * URL with a bearer token), one HTTP exchange through libcurl, the API's error object
 * turned into a message and an exit code, and list pagination. Every failure is reported
 * here, once, so the commands only handle success.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include "cli.h"

#define SOCKET_NAME "edgegw.sock"
#define SOCKET_BASE_URL "http://edgegw"
#define REQUEST_TIMEOUT_S 30L
#define CONNECT_TIMEOUT_S 5L
#define RESPONSE_MAX (64u << 20)
#define LIST_PAGE "1000" /* the API's largest page: fewest round trips */

struct response {
        long status;
        long retry_after; /* seconds from Retry-After, -1 when absent */
        struct strbuf body;
        bool too_large;
};

static void curl_easy_cleanupp(CURL **p) {
        if (*p)
                curl_easy_cleanup(*p);
}
static void curl_slist_free_allp(struct curl_slist **p) {
        curl_slist_free_all(*p);
}
static void response_done(struct response *r) {
        strbuf_done(&r->body);
}

enum cli_exit cli_usage_error(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fputs("edgegw: ", stderr);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs("\nTry `edgegw --help`.\n", stderr);
        return CLI_EXIT_USAGE;
}

enum cli_exit cli_out_of_memory(void) {
        fputs("edgegw: out of memory\n", stderr);
        return CLI_EXIT_ERROR;
}

enum cli_exit cli_bad_response(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fputs("edgegw: bad response from edgegwd: ", stderr);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return CLI_EXIT_ERROR;
}

static const char *env_nonempty(const char *name) {
        const char *v = getenv(name);
        return v && v[0] ? v : NULL;
}

/* Where the messages say the daemon is. */
static const char *where(const struct cli *cli) {
        return cli->base_url ? cli->base_url : cli->socket_path;
}

static enum cli_exit resolve_socket(struct cli *cli, const char *explicit_path) {
        if (explicit_path) {
                if (strcpy_bounded(cli->socket_path, sizeof cli->socket_path, explicit_path) < 0)
                        return cli_usage_error("socket path too long: %s", explicit_path);
                return CLI_EXIT_OK;
        }

        /* A configuration that cannot be loaded is not fatal: the default path may still
         * be right, and the reason is kept for the message shown if nobody answers there. */
        struct config config;
        struct config_diag diag = {};
        int r = config_load(cli->config_path, &config, &diag);
        if (r >= 0)
                r = config_state_path(&config, SOCKET_NAME, cli->socket_path, sizeof cli->socket_path);
        if (r < 0) {
                if (diag.error[0])
                        snprintf(cli->config_error, sizeof cli->config_error, "%s", diag.error);
                else
                        snprintf(cli->config_error, sizeof cli->config_error, "%s", strerror(-r));
                snprintf(cli->socket_path, sizeof cli->socket_path, "%s/%s", CONFIG_DEFAULT_STATE_DIR, SOCKET_NAME);
        }
        return CLI_EXIT_OK;
}

static enum cli_exit resolve_url(struct cli *cli, const char *url, const char *url_source) {
        int len = cli_url_check(url);
        if (len < 0)
                return cli_usage_error("%s: '%s' is not an http:// or https:// URL (e.g. http://127.0.0.1:8081)",
                                       url_source, url);
        if (!(cli->base_url = strndup(url, (size_t)len)))
                return cli_out_of_memory();

        const char *token = cli->token_option ? cli->token_option : env_nonempty("EDGEGW_TOKEN");
        if (token) {
                for (const char *p = token; *p; p++)
                        if ((unsigned char)*p < 0x21 || *p == 0x7f)
                                return cli_usage_error("%s: the token must not contain blanks or control "
                                                       "characters",
                                                       cli->token_option ? "option --token" : "EDGEGW_TOKEN");
                cli->token = token;
        }
        if (cli->cacert && strncasecmp(cli->base_url, "https://", 8) != 0)
                return cli_usage_error("option --cacert is only used with an https:// URL");
        return CLI_EXIT_OK;
}

enum cli_exit cli_resolve_target(struct cli *cli) {
        if (cli->url_option && cli->socket_option)
                return cli_usage_error("options --url and --socket exclude each other");
        if (cli->url_option)
                return resolve_url(cli, cli->url_option, "option --url");
        if (!cli->socket_option) {
                const char *env_url = env_nonempty("EDGEGW_URL");
                if (env_url)
                        return resolve_url(cli, env_url, "EDGEGW_URL");
        }
        if (cli->token_option)
                return cli_usage_error("option --token is only used with --url or EDGEGW_URL (the unix socket "
                                       "needs no token)");
        if (cli->cacert)
                return cli_usage_error("option --cacert is only used with an https:// URL");
        return resolve_socket(cli, cli->socket_option ? cli->socket_option : env_nonempty("EDGEGW_SOCKET"));
}

static void explain_config_error(const struct cli *cli) {
        if (cli->config_error[0])
                fprintf(stderr,
                        "edgegw: the configuration could not be loaded (%s), so the default socket "
                        "path was tried; fix it or pass --socket PATH\n",
                        cli->config_error);
}

static size_t response_write(char *data, size_t size, size_t nmemb, void *userdata) {
        struct response *r = userdata;
        size_t n = size * nmemb;
        if (n > RESPONSE_MAX - r->body.len) {
                r->too_large = true;
                return 0;
        }
        strbuf_appendn(&r->body, data, n);
        return strbuf_status(&r->body) < 0 ? 0 : n;
}

static enum cli_exit report_unreachable(const struct cli *cli, CURL *curl, CURLcode c, const char *errbuf) {
        const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(c);
        if (cli->base_url) {
                fprintf(stderr, "edgegw: cannot reach edgegwd at %s: %s\n", cli->base_url, detail);
                return CLI_EXIT_UNREACHABLE;
        }
        long os_errno = 0;
        (void)curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
        if (os_errno == EACCES || os_errno == EPERM)
                fprintf(stderr,
                        "edgegw: cannot reach edgegwd at %s: permission denied (the socket is open "
                        "to its owner and group only; try as root)\n",
                        cli->socket_path);
        else
                fprintf(stderr,
                        "edgegw: cannot reach edgegwd at %s: is the daemon running? (start it with "
                        "`make run` or `systemctl start edgegw`)\n",
                        cli->socket_path);
        explain_config_error(cli);
        return CLI_EXIT_UNREACHABLE;
}

/* One HTTP exchange with edgegwd. On CLI_EXIT_OK *resp holds the status and the body of
 * whatever the daemon answered (any status); otherwise the failure has been reported. */
static enum cli_exit http_call(const struct cli *cli, const char *method, const char *path, const char *body,
                               struct response *resp) {
        if (!cli->base_url && strlen(cli->socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
                fprintf(stderr, "edgegw: cannot reach edgegwd at %s: the path is too long for a unix socket\n",
                        cli->socket_path);
                return CLI_EXIT_UNREACHABLE;
        }

        _cleanup_(curl_easy_cleanupp) CURL *curl = curl_easy_init();
        if (!curl)
                return cli_out_of_memory();

        _cleanup_strbuf_ struct strbuf authorization = {};
        if (cli->token)
                strbuf_printf(&authorization, "Authorization: Bearer %s", cli->token);
        _cleanup_(curl_slist_free_allp) struct curl_slist *headers = NULL;
        const char *header_lines[] = {
                "Accept: application/json",
                body ? "Content-Type: application/json" : NULL,
                "Expect:", /* no 100-continue round trip for our small bodies */
                cli->token ? strbuf_str(&authorization) : NULL,
        };
        if (strbuf_status(&authorization) < 0)
                return cli_out_of_memory();
        for (size_t i = 0; i < ELEMENTSOF(header_lines); i++) {
                if (!header_lines[i])
                        continue;
                struct curl_slist *l = curl_slist_append(headers, header_lines[i]);
                if (!l)
                        return cli_out_of_memory();
                headers = l;
        }

        _cleanup_strbuf_ struct strbuf url = {};
        strbuf_append(&url, cli->base_url ? cli->base_url : SOCKET_BASE_URL);
        strbuf_append(&url, path);
        if (strbuf_status(&url) < 0)
                return cli_out_of_memory();

        char errbuf[CURL_ERROR_SIZE] = "";
        CURLcode c = CURLE_OK;
#define SETOPT(opt, val)                                      \
        do {                                                  \
                if (c == CURLE_OK)                            \
                        c = curl_easy_setopt(curl, opt, val); \
        } while (0)
        SETOPT(CURLOPT_ERRORBUFFER, errbuf);
        if (cli->base_url) {
                /* Only the scheme checked in cli_url_check(); redirects are never followed. */
                SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
                if (cli->cacert)
                        SETOPT(CURLOPT_CAINFO, cli->cacert);
        } else {
                SETOPT(CURLOPT_UNIX_SOCKET_PATH, cli->socket_path);
                /* $http_proxy and friends must not redirect a local socket request. */
                SETOPT(CURLOPT_PROXY, "");
        }
        SETOPT(CURLOPT_URL, strbuf_str(&url));
        /* The id is escaped; keep curl from also resolving "." and ".." segments, so the
         * daemon judges exactly what the user typed. */
        SETOPT(CURLOPT_PATH_AS_IS, 1L);
        SETOPT(CURLOPT_NOSIGNAL, 1L);
        SETOPT(CURLOPT_TIMEOUT, REQUEST_TIMEOUT_S);
        SETOPT(CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
        SETOPT(CURLOPT_USERAGENT, "edgegw/" EDGEGW_VERSION);
        SETOPT(CURLOPT_HTTPHEADER, headers);
        SETOPT(CURLOPT_WRITEFUNCTION, response_write);
        SETOPT(CURLOPT_WRITEDATA, resp);
        if (body) {
                SETOPT(CURLOPT_POSTFIELDSIZE, (long)strlen(body));
                SETOPT(CURLOPT_POSTFIELDS, body);
        }
        if (!streq(method, "GET") && !streq(method, "POST"))
                SETOPT(CURLOPT_CUSTOMREQUEST, method);
#undef SETOPT
        if (c != CURLE_OK) {
                fprintf(stderr, "edgegw: cannot set up the request: %s\n", curl_easy_strerror(c));
                return CLI_EXIT_ERROR;
        }

        c = curl_easy_perform(curl);
        switch (c) {
        case CURLE_OK:
                break;
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
                return report_unreachable(cli, curl, c, errbuf);
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_SSL_CACERT_BADFILE:
                fprintf(stderr, "edgegw: no trusted TLS connection to edgegwd at %s: %s%s\n", where(cli),
                        errbuf[0] ? errbuf : curl_easy_strerror(c),
                        cli->cacert ? "" : " (for a private CA, pass --cacert FILE)");
                return CLI_EXIT_UNREACHABLE;
        case CURLE_OPERATION_TIMEDOUT:
                fprintf(stderr, "edgegw: edgegwd at %s did not answer in time: %s\n", where(cli),
                        errbuf[0] ? errbuf : curl_easy_strerror(c));
                return CLI_EXIT_ERROR;
        case CURLE_WRITE_ERROR:
                if (resp->too_large)
                        return cli_bad_response("larger than %u MiB", RESPONSE_MAX >> 20);
                if (strbuf_status(&resp->body) < 0)
                        return cli_out_of_memory();
                break;
        default:
                break;
        }
        if (c != CURLE_OK) {
                fprintf(stderr, "edgegw: request to edgegwd at %s failed: %s\n", where(cli),
                        errbuf[0] ? errbuf : curl_easy_strerror(c));
                return CLI_EXIT_ERROR;
        }

        c = curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
        if (c != CURLE_OK)
                return cli_bad_response("%s", curl_easy_strerror(c));
        curl_off_t retry_after = 0;
        resp->retry_after = curl_easy_getinfo(curl, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK &&
                                            retry_after > 0
                                    ? (long)retry_after
                                    : -1;
        return CLI_EXIT_OK;
}

/* A non-2xx answer: {"error":{"code","message"}} becomes "edgegw: MESSAGE" on stderr (and
 * the object itself on stdout with --json); the status picks the exit code. */
static enum cli_exit report_api_error(const struct cli *cli, const struct response *resp, const json_t *root) {
        const json_t *error = root ? json_object_get(root, "error") : NULL;
        const char *message = json_string_value(json_object_get(error, "message"));
        const char *code = json_string_value(json_object_get(error, "code"));

        if (cli->json && root) {
                enum cli_exit x = cli_print_json(root);
                if (x != CLI_EXIT_OK)
                        return x;
        }
        char retry[48] = "";
        if (resp->status == 429 && resp->retry_after >= 0)
                snprintf(retry, sizeof retry, " (retry after %ld s)", resp->retry_after);
        if (message && message[0])
                fprintf(stderr, "edgegw: %s%s\n", message, retry);
        else if (code)
                fprintf(stderr, "edgegw: edgegwd answered HTTP %ld (%s)%s\n", resp->status, code, retry);
        else
                fprintf(stderr, "edgegw: edgegwd answered HTTP %ld without an error object%s\n", resp->status,
                        retry);
        if (resp->status == 401 && !cli->token)
                fputs("edgegw: this address needs a token: pass --token TOKEN or set EDGEGW_TOKEN\n", stderr);
        return cli_exit_for_status(resp->status);
}

enum cli_exit cli_api_call(const struct cli *cli, const char *method, const char *path, const json_t *body,
                           json_t **ret, long *ret_status) {
        _cleanup_free_ char *body_text = NULL;
        if (body && !(body_text = json_dumps(body, JSON_COMPACT)))
                return cli_out_of_memory();

        _cleanup_(response_done) struct response resp = {};
        enum cli_exit x = http_call(cli, method, path, body_text, &resp);
        if (x != CLI_EXIT_OK)
                return x;

        json_error_t jerr;
        _cleanup_(json_decrefp) json_t *root = json_loadb(strbuf_str(&resp.body), resp.body.len, 0, &jerr);
        if (root && !json_is_object(root))
                json_decref(TAKE_PTR(root));

        if (resp.status < 200 || resp.status > 299)
                return report_api_error(cli, &resp, root);
        if (!root)
                return cli_bad_response("HTTP %ld with a body that is not a JSON object", resp.status);
        *ret = TAKE_PTR(root);
        if (ret_status)
                *ret_status = resp.status;
        return CLI_EXIT_OK;
}

enum cli_exit cli_api_list(const struct cli *cli, const char *collection, json_t **ret) {
        _cleanup_(json_decrefp) json_t *all = NULL;
        _cleanup_free_ char *after = NULL;

        for (;;) {
                _cleanup_strbuf_ struct strbuf path = {};
                strbuf_printf(&path, "/v1/%s", collection);
                cli_query_append(&path, "limit", LIST_PAGE);
                for (size_t i = 0; i < cli->labels.n; i++) {
                        int r = cli_query_label(&path, cli->labels.items[i]);
                        if (r == -EINVAL)
                                return cli_usage_error("option --label: '%s' has no key (KEY or KEY=VALUE)",
                                                       cli->labels.items[i]);
                        if (r < 0)
                                return cli_out_of_memory();
                }
                if (after)
                        cli_query_append(&path, "after", after);
                if (strbuf_status(&path) < 0)
                        return cli_out_of_memory();

                _cleanup_(json_decrefp) json_t *page = NULL;
                enum cli_exit x = cli_api_call(cli, "GET", strbuf_str(&path), NULL, &page, NULL);
                if (x != CLI_EXIT_OK)
                        return x;
                json_t *items = json_object_get(page, collection);
                if (!json_is_array(items))
                        return cli_bad_response("'%s' is not an array", collection);
                const json_t *next = json_object_get(page, "next");
                if (next && !json_is_null(next) && !json_is_string(next))
                        return cli_bad_response("'next' is neither a string nor null");

                if (!all)
                        all = json_incref(page);
                else if (json_array_extend(json_object_get(all, collection), items) < 0)
                        return cli_out_of_memory();
                if (!json_is_string(next))
                        break;
                /* ids are sorted byte-wise: a cursor that does not move on would loop forever */
                const char *n = json_string_value(next);
                if (after && strcmp(n, after) <= 0)
                        return cli_bad_response("the 'next' cursor '%s' does not follow '%s'", n, after);
                free(after);
                if (!(after = strdup(n)))
                        return cli_out_of_memory();
        }
        if (json_object_set_new(all, "next", json_null()) < 0)
                return cli_out_of_memory();
        *ret = TAKE_PTR(all);
        return CLI_EXIT_OK;
}

/* "/v1/COLLECTION/ID" with the id percent-encoded, or "/v1/COLLECTION" when id is NULL, into out. */
static enum cli_exit resource_path(const char *collection, const char *id, struct strbuf *out) {
        strbuf_printf(out, "/v1/%s", collection);
        if (id) {
                strbuf_append(out, "/");
                cli_percent_encode(id, out);
        }
        if (strbuf_status(out) < 0)
                return cli_out_of_memory();
        return CLI_EXIT_OK;
}

enum cli_exit cli_api_item(const struct cli *cli, const char *method, const char *collection, const char *id,
                           json_t **ret) {
        _cleanup_strbuf_ struct strbuf path = {};
        enum cli_exit x = resource_path(collection, id, &path);
        if (x != CLI_EXIT_OK)
                return x;
        return cli_api_call(cli, method, strbuf_str(&path), NULL, ret, NULL);
}

enum cli_exit cli_api_save(const struct cli *cli, const char *collection, const char *id, bool put,
                           const json_t *request, json_t **ret, const char **ret_verb) {
        _cleanup_strbuf_ struct strbuf path = {};
        enum cli_exit x = resource_path(collection, put ? id : NULL, &path);
        if (x != CLI_EXIT_OK)
                return x;
        long status = 0;
        x = cli_api_call(cli, put ? "PUT" : "POST", strbuf_str(&path), request, ret, &status);
        if (x == CLI_EXIT_OK)
                *ret_verb = !put ? "added" : status == 201 ? "created" : "updated";
        return x;
}
