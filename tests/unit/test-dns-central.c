/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the "edgegw" DNS provider (dns/central.c) against a one-shot HTTP server on
 * 127.0.0.1 run by the test itself: the request it sends (path, bearer token, user agent,
 * body), and how each answer of a central maps to an outcome (2xx OK, 409 CONFLICT, 4xx
 * FAILED with the central's message, 429 RETRY with Retry-After, 5xx and garbage and a
 * refused connection RETRY). The token comes from the file or the environment and never
 * shows in an outcome.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/config.h"
#include "dns/provider.h"

#define TOKEN "egw_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

/* A server that answers one request with a canned response and keeps what it got. */
struct fake {
        int fd;
        uint16_t port;
        pthread_t thread;
        const char *response;
        char request[8192];
};

static void *fake_main(void *arg) {
        struct fake *f = arg;
        int c = accept(f->fd, NULL, NULL);
        if (c < 0)
                return NULL;
        size_t n = 0;
        /* Headers, then Content-Length bytes of body. */
        for (;;) {
                ssize_t k = read(c, f->request + n, sizeof f->request - 1 - n);
                if (k <= 0)
                        break;
                n += (size_t)k;
                f->request[n] = '\0';
                char *end = strstr(f->request, "\r\n\r\n");
                const char *cl = strcasestr(f->request, "\r\nContent-Length:");
                if (end && (!cl || n >= (size_t)(end + 4 - f->request) + strtoul(cl + 17, NULL, 10)))
                        break;
        }
        if (f->response)
                (void)!write(c, f->response, strlen(f->response));
        close(c);
        return NULL;
}

static void fake_start(struct fake *f, const char *response) {
        memset(f, 0, sizeof *f);
        f->response = response;
        f->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(f->fd >= 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof sa;
        assert_int_equal(bind(f->fd, (struct sockaddr *)&sa, sizeof sa), 0);
        assert_int_equal(listen(f->fd, 4), 0);
        assert_int_equal(getsockname(f->fd, (struct sockaddr *)&sa, &len), 0);
        f->port = ntohs(sa.sin_port);
        assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_stop(struct fake *f) {
        pthread_join(f->thread, NULL);
        close(f->fd);
}

static char token_path[64];

/* An HTTP/1.1 answer with status line status ("409 Conflict"), extra header lines (each
 * ending in CRLF) and body, its Content-Length counted. One static buffer: use it at once. */
static const char *http(const char *status, const char *headers, const char *body) {
        static char buf[4096];
        snprintf(buf, sizeof buf, "HTTP/1.1 %s\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n%s", status,
                 headers, strlen(body), body);
        return buf;
}

static void config_for(struct config *c, uint16_t port) {
        config_defaults(c);
        strcpy(c->dns_provider, "edgegw");
        snprintf(c->dns_url, sizeof c->dns_url, "http://127.0.0.1:%u/", port);
        snprintf(c->dns_token_file, sizeof c->dns_token_file, "%s", token_path);
        strcpy(c->datacenter, "dc-lk");
}

static struct dns_record_want want_a(void) {
        struct dns_record_want w = {.type = DNS_TYPE_A, .ttl = 300};
        strcpy(w.name, "k7m2p4.dc-lk.example.net");
        strcpy(w.content, "203.0.113.7");
        strcpy(w.owner_kind, "vm");
        strcpy(w.owner_id, "web");
        return w;
}

/* One publish (or retract) against a fake answering response; the outcome into *out, the
 * request the fake got into req (optional). */
static void exchange(const char *response, bool retract, struct dns_provider_outcome *out, char *req, size_t req_size) {
        struct fake f;
        fake_start(&f, response);
        struct config c;
        config_for(&c, f.port);
        struct dns_provider *p = NULL;
        char err[256] = "";
        if (dns_provider_open(&c, &p, err, sizeof err) < 0)
                fail_msg("open: %s", err);
        assert_string_equal(p->ops->name, "edgegw");
        assert_string_equal(p->owner, "dc-lk");
        struct dns_record_want w = want_a();
        memset(out, 0x5a, sizeof *out);
        (retract ? p->ops->retract : p->ops->publish)(p, &w, "", out);
        dns_provider_free(p);
        fake_stop(&f);
        if (req)
                snprintf(req, req_size, "%s", f.request);
        assert_null(strstr(out->error, TOKEN));
        assert_null(strstr(out->note, TOKEN));
}

static int setup(void **state) {
        strcpy(token_path, "/tmp/test-dns-central-XXXXXX");
        int fd = mkstemp(token_path);
        if (fd < 0)
                return -1;
        const char text[] = TOKEN "\n# a comment line that is not read\n";
        if (write(fd, text, sizeof text - 1) != (ssize_t)(sizeof text - 1))
                return -1;
        close(fd);
        return 0;
}

static int teardown(void **state) {
        unlink(token_path);
        return 0;
}

static void test_publish_request(void **state) {
        struct dns_provider_outcome out;
        char req[8192];
        exchange(http("200 OK", "Content-Type: application/json\r\n",
                      "{\"success\":true,\"action\":\"create\",\"outcome\":\"created\",\"record\":{\"name\":\"x\"}}"),
                 false, &out, req, sizeof req);
        assert_int_equal(out.status, DNS_PROVIDER_OK);
        assert_string_equal(out.error, "");
        assert_string_equal(out.note, "");
        assert_string_equal(out.ref, "");
        assert_non_null(strstr(req, "POST /api/v1/agents/dns HTTP/1.1\r\n")); /* the URL's trailing '/' dropped */
        assert_non_null(strstr(req, "\r\nAuthorization: Bearer " TOKEN "\r\n"));
        assert_non_null(strstr(req, "\r\nUser-Agent: edgegw/" EDGEGW_VERSION "\r\n"));
        assert_non_null(strstr(req, "\r\nContent-Type: application/json\r\n"));
        json_t *body = json_loads(strstr(req, "\r\n\r\n") + 4, 0, NULL);
        assert_non_null(body);
        assert_string_equal(json_string_value(json_object_get(body, "action")), "create");
        assert_string_equal(json_string_value(json_object_get(body, "name")), "k7m2p4.dc-lk.example.net");
        assert_string_equal(json_string_value(json_object_get(body, "type")), "A");
        assert_string_equal(json_string_value(json_object_get(body, "content")), "203.0.113.7");
        assert_int_equal(json_integer_value(json_object_get(body, "ttl")), 300);
        assert_true(json_is_false(json_object_get(body, "proxied")));
        assert_int_equal(json_object_size(body), 6);
        json_decref(body);

        /* An update at the central is worth a note. */
        exchange(http("200 OK", "", "{\"success\":true,\"outcome\":\"updated\"}"), false, &out, NULL, 0);
        assert_int_equal(out.status, DNS_PROVIDER_OK);
        assert_string_equal(out.note, "fixed at the central");
}

static void test_retract(void **state) {
        struct dns_provider_outcome out;
        char req[8192];
        exchange(http("200 OK", "", "{\"success\":true,\"deleted\":false,\"removed\":[]}"), true, &out, req, sizeof req);
        assert_int_equal(out.status, DNS_PROVIDER_OK);
        assert_string_equal(out.note, "the central had no such record");
        assert_non_null(strstr(req, "\"action\":\"delete\""));
        exchange(http("200 OK", "", "{\"success\":true,\"deleted\":true}"), true, &out, NULL, 0);
        assert_int_equal(out.status, DNS_PROVIDER_OK);
        assert_string_equal(out.note, "");
}

static void test_retract_refused(void **state) {
        /* Refused deletes leave nothing of ours: the row is done, with a note. */
        struct dns_provider_outcome out;
        exchange(http("409 Conflict", "",
                      "{\"error\":{\"code\":\"record_owned\",\"message\":\"x A is published by token 'node2'\"}}"),
                 true, &out, NULL, 0);
        assert_int_equal(out.status, DNS_PROVIDER_OK);
        assert_string_equal(out.note, "not ours at the central, left alone (HTTP 409: x A is published by token 'node2')");
        exchange(http("403 Forbidden", "", "{\"error\":{\"code\":\"forbidden\",\"message\":\"outside dc-lk\"}}"), true,
                 &out, NULL, 0);
        assert_int_equal(out.status, DNS_PROVIDER_OK);
        exchange(http("422 Unprocessable Entity", "", "{\"error\":{\"code\":\"invalid_record\",\"message\":\"zone\"}}"),
                 true, &out, NULL, 0);
        assert_int_equal(out.status, DNS_PROVIDER_OK);
        /* ...but not a bad token or an unreachable central. */
        exchange(http("401 Unauthorized", "", "{\"error\":{\"code\":\"unauthorized\",\"message\":\"revoked\"}}"), true,
                 &out, NULL, 0);
        assert_int_equal(out.status, DNS_PROVIDER_FAILED);
        exchange(http("502 Bad Gateway", "", ""), true, &out, NULL, 0);
        assert_int_equal(out.status, DNS_PROVIDER_RETRY);
}

static void test_refusals(void **state) {
        struct dns_provider_outcome out;
        exchange(http("409 Conflict", "",
                      "{\"error\":{\"code\":\"record_owned\",\"message\":\"k7m2p4.dc-lk.example.net A is published by node2\"}}"),
                 false, &out, NULL, 0);
        assert_int_equal(out.status, DNS_PROVIDER_CONFLICT);
        assert_true(out.row_only);
        assert_string_equal(out.error, "central: k7m2p4.dc-lk.example.net A is published by node2");

        exchange(http("403 Forbidden", "",
                      "{\"error\":{\"code\":\"forbidden\",\"message\":\"token 'n' may publish only names under dc-x.example.net\"}}"),
                 false, &out, NULL, 0);
        assert_int_equal(out.status, DNS_PROVIDER_FAILED);
        assert_true(out.row_only); /* this name only: the others go on */
        assert_string_equal(out.error, "central: HTTP 403: token 'n' may publish only names under dc-x.example.net");

        exchange(http("401 Unauthorized", "", "{\"error\":{\"code\":\"unauthorized\",\"message\":\"unknown or revoked token\"}}"),
                 false, &out, NULL, 0);
        assert_int_equal(out.status, DNS_PROVIDER_FAILED);
        assert_false(out.row_only); /* the token: every row waits */
        assert_string_equal(out.error, "central: HTTP 401: unknown or revoked token");

        exchange(http("422 Unprocessable Entity", "", "not json\n\x01\r"), false, &out, NULL, 0);
        assert_int_equal(out.status, DNS_PROVIDER_FAILED);
        assert_string_equal(out.error, "central: HTTP 422: not json ?");

        exchange(http("404 Not Found", "", ""), false, &out, NULL, 0);
        assert_int_equal(out.status, DNS_PROVIDER_FAILED);
        assert_non_null(strstr(out.error, "is [dns] url an edgegw API?"));

        exchange(http("301 Moved Permanently", "Location: https://x/\r\n", ""), false, &out, NULL, 0);
        assert_int_equal(out.status, DNS_PROVIDER_FAILED);
        assert_non_null(strstr(out.error, "redirect"));
}

static void test_transient(void **state) {
        struct dns_provider_outcome out;
        exchange(http("429 Too Many Requests", "Retry-After: 7\r\n",
                      "{\"error\":{\"code\":\"rate_limited\",\"message\":\"too many requests; retry in 7 s\"}}"),
                 false, &out, NULL, 0);
        assert_int_equal(out.status, DNS_PROVIDER_RETRY);
        assert_false(out.row_only);
        assert_int_equal(out.retry_after_s, 7);
        assert_non_null(strstr(out.error, "HTTP 429"));

        exchange(http("503 Service Unavailable", "", ""), false, &out, NULL, 0);
        assert_int_equal(out.status, DNS_PROVIDER_RETRY);
        assert_int_equal(out.retry_after_s, 0);
        assert_string_equal(out.error, "central: HTTP 503: (no body)");

        exchange(http("500 Internal Server Error", "", "{}"), true, &out, NULL, 0);
        assert_int_equal(out.status, DNS_PROVIDER_RETRY);

        /* 200 with something that is no edgegw answer. */
        exchange(http("200 OK", "", "hello"), false, &out, NULL, 0);
        assert_int_equal(out.status, DNS_PROVIDER_RETRY);
        assert_non_null(strstr(out.error, "unexpected answer"));
        exchange(http("200 OK", "", "{\"success\":false}"), false, &out, NULL, 0);
        assert_int_equal(out.status, DNS_PROVIDER_RETRY);

        /* The connection closed without an answer. */
        exchange(NULL, false, &out, NULL, 0);
        assert_int_equal(out.status, DNS_PROVIDER_RETRY);
        assert_non_null(strstr(out.error, "central http://127.0.0.1:"));
}

static void test_refused_connection(void **state) {
        /* A port nobody listens on: bound, then closed. */
        struct fake f;
        fake_start(&f, NULL);
        uint16_t port = f.port;
        /* Let the fake's accept() return: connect once and go. */
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = htons(port)};
        assert_int_equal(connect(s, (struct sockaddr *)&sa, sizeof sa), 0);
        close(s);
        fake_stop(&f);

        struct config c;
        config_for(&c, port);
        struct dns_provider *p = NULL;
        char err[256] = "";
        assert_int_equal(dns_provider_open(&c, &p, err, sizeof err), 0);
        struct dns_record_want w = want_a();
        struct dns_provider_outcome out;
        p->ops->publish(p, &w, "", &out);
        assert_int_equal(out.status, DNS_PROVIDER_RETRY);
        assert_non_null(strstr(out.error, "central http://127.0.0.1:"));
        dns_provider_free(p);
}

static void test_token_sources(void **state) {
        struct config c;
        config_for(&c, 1);
        struct dns_provider *p = NULL;
        char err[256] = "";

        /* From the environment when the file key is empty. */
        c.dns_token_file[0] = '\0';
        strcpy(c.dns_secret_env, "EDGEGW_DNS_TOKEN");
        setenv("EDGEGW_DNS_TOKEN", TOKEN, 1);
        assert_int_equal(dns_provider_open(&c, &p, err, sizeof err), 0);
        p = dns_provider_free(p);
        setenv("EDGEGW_DNS_TOKEN", "", 1);
        assert_int_equal(dns_provider_open(&c, &p, err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, "EDGEGW_DNS_TOKEN is empty"));
        setenv("EDGEGW_DNS_TOKEN", "two words", 1);
        assert_int_equal(dns_provider_open(&c, &p, err, sizeof err), -EINVAL);
        assert_null(strstr(err, "two words")); /* a secret is never repeated */
        unsetenv("EDGEGW_DNS_TOKEN");
        assert_int_equal(dns_provider_open(&c, &p, err, sizeof err), -EINVAL);

        /* A file that is missing or empty. */
        config_for(&c, 1);
        strcpy(c.dns_token_file, "/nonexistent/token");
        assert_int_equal(dns_provider_open(&c, &p, err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, "/nonexistent/token"));
        assert_null(p);

        /* Not a URL. */
        config_for(&c, 1);
        strcpy(c.dns_url, "ftp://central");
        assert_int_equal(dns_provider_open(&c, &p, err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, "url"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_publish_request, setup, teardown),
                cmocka_unit_test_setup_teardown(test_retract, setup, teardown),
                cmocka_unit_test_setup_teardown(test_retract_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
                cmocka_unit_test_setup_teardown(test_transient, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refused_connection, setup, teardown),
                cmocka_unit_test_setup_teardown(test_token_sources, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
