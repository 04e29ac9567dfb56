/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the rfc2136 client's daemon-side parts (dns/client.h): the strict base64
 * decoder (RFC 4648 §10 vectors), the TSIG secret file reader on temporary files in the
 * three formats it accepts (the Knot one exactly as `keymgr -t` prints it, comment line
 * included), and dns_client_exchange() against a fake server in a thread on 127.0.0.1 (a
 * UDP socket and a TCP listener on one port): TC -> TCP fallback, two UDP attempts then a
 * timeout, answers with another id ignored, unsigned or wrongly signed answers to a signed
 * request refused. Loopback only, no root; the only timing check is the client's own bound.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dns/client.h"
#include "dns/tsig.h"
#include "dns/wire.h"

/* ---- base64 ---- */

static void expect_b64(const char *text, const char *want) {
        uint8_t out[64];
        memset(out, 0xee, sizeof out);
        int n = dns_base64_decode(text, strlen(text), out, sizeof out);
        assert_int_equal(n, (int)strlen(want));
        assert_memory_equal(out, want, strlen(want));
}

static int b64(const char *text, size_t cap) {
        uint8_t out[64];
        assert_true(cap <= sizeof out);
        return dns_base64_decode(text, strlen(text), out, cap);
}

static void test_base64_rfc4648_vectors(void **state) {
        expect_b64("Zg==", "f");
        expect_b64("Zm8=", "fo");
        expect_b64("Zm9v", "foo");
        expect_b64("Zm9vYg==", "foob");
        expect_b64("Zm9vYmE=", "fooba");
        expect_b64("Zm9vYmFy", "foobar");
        /* BASE64("") = "": an empty secret is no secret, so the strict decoder refuses it. */
        assert_int_equal(b64("", 64), -EBADMSG);
        /* The whole alphabet, '+' and '/' included. */
        uint8_t out[3];
        assert_int_equal(dns_base64_decode("+/+/", 4, out, sizeof out), 3);
        assert_memory_equal(out, ((uint8_t[]){ 0xfb, 0xff, 0xbf }), 3);
        assert_int_equal(dns_base64_decode("AAEC", 4, out, sizeof out), 3);
        assert_memory_equal(out, ((uint8_t[]){ 0, 1, 2 }), 3);
}

static void test_base64_padding(void **state) {
        /* Missing padding. */
        assert_int_equal(b64("Zg", 64), -EBADMSG);
        assert_int_equal(b64("Zm8", 64), -EBADMSG);
        assert_int_equal(b64("Zm9vYg", 64), -EBADMSG);
        /* Extra padding. */
        assert_int_equal(b64("Zg===", 64), -EBADMSG);
        assert_int_equal(b64("Zg==Zg==", 64), -EBADMSG); /* padding before the end */
        assert_int_equal(b64("Zm9v====", 64), -EBADMSG);
        assert_int_equal(b64("Z===", 64), -EBADMSG);
        assert_int_equal(b64("====", 64), -EBADMSG);
        assert_int_equal(b64("Zg=A", 64), -EBADMSG); /* data after padding */
        assert_int_equal(b64("Zm8==", 64), -EBADMSG);
}

static void test_base64_leftover_bits(void **state) {
        /* "Zg==" is 'f'; "Zh==" .. "Zv==" decode to 'f' too with non-zero unused bits. */
        assert_int_equal(b64("Zh==", 64), -EBADMSG);
        assert_int_equal(b64("Zv==", 64), -EBADMSG);
        /* "Zm8=" is "fo"; "Zm9=" has the 2 unused bits set to 01. */
        assert_int_equal(b64("Zm9=", 64), -EBADMSG);
        assert_int_equal(b64("Zm//", 64), 3); /* no padding: no unused bits */
}

static void test_base64_invalid_characters(void **state) {
        assert_int_equal(b64("Zm9v\n", 64), -EBADMSG);
        assert_int_equal(b64("Zm 9", 64), -EBADMSG);
        assert_int_equal(b64("Zm-9", 64), -EBADMSG); /* base64url is another alphabet */
        assert_int_equal(b64("Zm_9", 64), -EBADMSG);
        assert_int_equal(b64("Zm.9", 64), -EBADMSG);
        assert_int_equal(b64("Zm9\x80", 64), -EBADMSG);
        uint8_t out[8];
        assert_int_equal(dns_base64_decode("Zm\0v", 4, out, sizeof out), -EBADMSG); /* an embedded NUL */
}

static void test_base64_output_limits(void **state) {
        assert_int_equal(b64("Zm9vYmFy", 6), 6);
        assert_int_equal(b64("Zm9vYmFy", 5), -ENOBUFS);
        assert_int_equal(b64("Zm9vYmE=", 5), 5);
        assert_int_equal(b64("Zm9vYmE=", 4), -ENOBUFS);
        assert_int_equal(b64("Zg==", 1), 1);
        assert_int_equal(b64("Zg==", 0), -ENOBUFS);
        /* Nothing is written past cap. */
        uint8_t out[8];
        memset(out, 0xee, sizeof out);
        assert_int_equal(dns_base64_decode("Zm9vYmFy", 8, out, 4), -ENOBUFS);
        for (size_t i = 4; i < sizeof out; i++)
                assert_int_equal(out[i], 0xee);
}

/* ---- secret files ---- */

#define SECRET_B64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
static const uint8_t secret32[32] = { 0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
                                      16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31 };

static char temp_path[64];

static const char *write_temp(const char *content, size_t len) {
        const char *dir = getenv("TMPDIR");
        snprintf(temp_path, sizeof temp_path, "%s/test-dns-client-XXXXXX", dir && *dir ? dir : "/tmp");
        int fd = mkstemp(temp_path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, content, len), (ssize_t)len);
        close(fd);
        return temp_path;
}

/* Reads content through a temporary file (removed again) and returns the reader's result. */
static int read_secret(const char *content, struct dns_tsig_secret *ret) {
        const char *path = write_temp(content, strlen(content));
        int r = dns_tsig_secret_read(path, ret);
        unlink(path);
        return r;
}

static void expect_secret(const char *content, const char *name) {
        struct dns_tsig_secret s;
        memset(&s, 0xaa, sizeof s);
        assert_int_equal(read_secret(content, &s), 0);
        assert_string_equal(s.name, name);
        assert_int_equal(s.secret_len, sizeof secret32);
        assert_memory_equal(s.secret, secret32, sizeof secret32);
        dns_tsig_secret_clear(&s);
        assert_int_equal(s.secret_len, 0);
        assert_int_equal(s.secret[0] | s.secret[31], 0);
}

static void expect_secret_error(const char *content, int error) {
        struct dns_tsig_secret s, untouched;
        memset(&s, 0xaa, sizeof s);
        memcpy(&untouched, &s, sizeof s);
        assert_int_equal(read_secret(content, &s), error);
        assert_memory_equal(&s, &untouched, sizeof s);
}

static void test_secret_bind(void **state) {
        expect_secret("key \"edgegw-key\" {\n\talgorithm hmac-sha256;\n\tsecret \"" SECRET_B64 "\";\n};\n",
                      "edgegw-key");
        expect_secret("key \"edgegw-key.\" { algorithm hmac-sha256; secret \"" SECRET_B64 "\"; };", "edgegw-key");
        expect_secret("key \"k\" {\n\talgorithm HMAC-SHA256;\n\tsecret \"" SECRET_B64 "\";\n};\n", "k");
        /* Names that contain the keywords must not confuse the reader. */
        expect_secret("key \"my-secret\" {\n\talgorithm hmac-sha256;\n\tsecret \"" SECRET_B64 "\";\n};\n",
                      "my-secret");
        /* A commented-out old key is not read. */
        expect_secret("# key \"old\" { algorithm hmac-md5; secret \"Zm9v\"; };\n"
                      "key \"k\" {\n\talgorithm hmac-sha256;\n\tsecret \"" SECRET_B64 "\";\n};\n",
                      "k");
        expect_secret("key \"update-key\" {\n\talgorithm hmac-sha256;\n\tsecret \"" SECRET_B64 "\";\n};\n",
                      "update-key");
}

static void test_secret_knot(void **state) {
        /* Exactly what `keymgr -t edgegw-key hmac-sha256` (Knot 3.2) prints. */
        expect_secret("# hmac-sha256:edgegw-key:" SECRET_B64 "\n"
                      "key:\n  - id: edgegw-key\n    algorithm: hmac-sha256\n    secret: " SECRET_B64 "\n",
                      "edgegw-key");
        expect_secret("key:\n  - id: edgegw-key\n    algorithm: hmac-sha256\n    secret: " SECRET_B64 "\n",
                      "edgegw-key");
        expect_secret("# hmac-sha256:a-secret:" SECRET_B64 "\n"
                      "key:\n  - id: a-secret\n    algorithm: hmac-sha256\n    secret: " SECRET_B64 "\n",
                      "a-secret");
}

static void test_secret_bare_line(void **state) {
        expect_secret(SECRET_B64 "\n", "");
        expect_secret("  " SECRET_B64, "");
        expect_secret("\n" SECRET_B64 "\r\n\n", "");
}

static void test_secret_wrong_algorithm(void **state) {
        expect_secret_error("key \"k\" {\n\talgorithm hmac-md5;\n\tsecret \"" SECRET_B64 "\";\n};\n",
                            -EPROTONOSUPPORT);
        expect_secret_error("key:\n  - id: k\n    algorithm: hmac-sha512\n    secret: " SECRET_B64 "\n",
                            -EPROTONOSUPPORT);
        expect_secret_error("# hmac-sha512:k:" SECRET_B64 "\n"
                            "key:\n  - id: k\n    algorithm: hmac-sha512\n    secret: " SECRET_B64 "\n",
                            -EPROTONOSUPPORT);
        /* A name ending in "-algorithm" must not hide the real algorithm line. */
        expect_secret_error("key \"old-algorithm\" {\n\talgorithm hmac-md5;\n\tsecret \"" SECRET_B64 "\";\n};\n",
                            -EPROTONOSUPPORT);
        expect_secret_error("key \"k\" {\n\talgorithm hmac-sha2560;\n\tsecret \"" SECRET_B64 "\";\n};\n",
                            -EPROTONOSUPPORT);
}

static void test_secret_garbage(void **state) {
        expect_secret_error("", -EBADMSG);
        expect_secret_error("\n\n", -EBADMSG);
        expect_secret_error("hello world\n", -EBADMSG);
        expect_secret_error(SECRET_B64 " " SECRET_B64 "\n", -EBADMSG);
        expect_secret_error("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n", -EBADMSG); /* no padding */
        expect_secret_error("key \"k\" {\n\talgorithm hmac-sha256;\n\tsecret \"!!!!\";\n};\n", -EBADMSG);
        expect_secret_error("key \"k\" {\n\talgorithm hmac-sha256;\n\tsecret \"\";\n};\n", -EBADMSG);
        expect_secret_error("key:\n  - id: k\n    algorithm: hmac-sha256\n    secret:\n", -EBADMSG);
        expect_secret_error("\x01\x02\x03\xff\n", -EBADMSG);
}

static void test_secret_oversize(void **state) {
        /* A 129-byte secret (172 base64 characters) does not fit DNS_CLIENT_SECRET_MAX. */
        char line[200];
        memset(line, 'A', 172);
        strcpy(line + 172, "\n");
        expect_secret_error(line, -EFBIG);
        memset(line, 'A', 168); /* 126 bytes: fits */
        strcpy(line + 168, "AA==\n");
        struct dns_tsig_secret s;
        assert_int_equal(read_secret(line, &s), 0);
        assert_int_equal(s.secret_len, 127);
        dns_tsig_secret_clear(&s);
        /* A file larger than the reader's buffer. */
        static char big[10000];
        memset(big, ' ', sizeof big - 1);
        memcpy(big, SECRET_B64, strlen(SECRET_B64));
        big[sizeof big - 1] = '\0';
        expect_secret_error(big, -EFBIG);
}

static void test_secret_missing_file(void **state) {
        struct dns_tsig_secret s;
        memset(&s, 0xaa, sizeof s);
        assert_int_equal(dns_tsig_secret_read("/nonexistent/edgegw/test-dns-client.key", &s), -ENOENT);
        assert_int_equal(s.name[0], (char)0xaa);
}

/* ---- the exchange, against a fake server ---- */

enum server_mode {
        SERVER_TC_THEN_TCP, /* UDP: TC set, no answer; TCP: NOERROR with one A record */
        SERVER_SILENT, /* reads, never answers */
        SERVER_WRONG_ID_FIRST, /* UDP: an answer with another id (REFUSED), then the right one */
        SERVER_UNSIGNED, /* UDP: NOERROR, no TSIG */
        SERVER_SIGNED_LIKE_REQUEST, /* UDP: NOERROR signed with the key but without the request MAC */
        SERVER_SIGNED_OTHER_KEY, /* UDP: NOERROR signed with another key name */
};

struct fake_server {
        enum server_mode mode;
        int udp, tcp;
        int stop[2];
        uint16_t port;
        pthread_t thread;
        atomic_uint udp_queries, tcp_queries;
};

#define ANSWER_ADDR 192, 0, 2, 53

static int test_hmac(void *userdata, const uint8_t *key, size_t key_len, const struct dns_span *parts,
                     size_t n_parts, uint8_t out[static DNS_TSIG_MAC_SIZE]) {
        return dns_hmac_sha256_openssl(userdata, key, key_len, parts, n_parts, out);
}

static const struct dns_tsig_key test_key = {
        .name = "edgegw-key", .secret = secret32, .secret_len = sizeof secret32, .hmac = test_hmac,
};
static const struct dns_tsig_key other_key = {
        .name = "other-key", .secret = secret32, .secret_len = sizeof secret32, .hmac = test_hmac,
};

/* Builds an answer to req: its header and first question with QR (and flags) set, the
 * counts rewritten; with_a adds one A record for the question name. Returns the length. */
static size_t build_answer(const uint8_t *req, size_t req_len, uint8_t flags, uint8_t rcode, bool with_a,
                           uint8_t *out, size_t cap) {
        size_t pos = DNS_HEADER_SIZE;
        while (pos < req_len && req[pos] != 0)
                pos += 1 + req[pos];
        pos += 1 + 4;
        if (pos > req_len || pos > cap)
                return 0;
        memcpy(out, req, pos);
        out[2] = 0x80 | flags | (req[2] & 0x78); /* QR, the request's opcode */
        out[3] = rcode;
        memset(out + 4, 0, 8);
        out[5] = 1;
        if (with_a) {
                static const uint8_t a[] = { 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ANSWER_ADDR };
                memcpy(out + pos, a, sizeof a);
                pos += sizeof a;
                out[7] = 1;
        }
        return pos;
}

static void server_udp(struct fake_server *f) {
        uint8_t req[4096], ans[4096];
        struct sockaddr_storage from;
        socklen_t from_len = sizeof from;
        ssize_t n = recvfrom(f->udp, req, sizeof req, MSG_DONTWAIT, (struct sockaddr *)&from, &from_len);
        if (n < DNS_HEADER_SIZE)
                return;
        atomic_fetch_add(&f->udp_queries, 1);
        size_t len = 0;
        switch (f->mode) {
        case SERVER_SILENT:
                return;
        case SERVER_TC_THEN_TCP:
                len = build_answer(req, (size_t)n, 0x04 | 0x02, DNS_RCODE_NOERROR, false, ans, sizeof ans);
                break;
        case SERVER_WRONG_ID_FIRST:
                len = build_answer(req, (size_t)n, 0x04, DNS_RCODE_REFUSED, false, ans, sizeof ans);
                ans[1] ^= 0x5a;
                sendto(f->udp, ans, len, 0, (struct sockaddr *)&from, from_len);
                len = build_answer(req, (size_t)n, 0x04, DNS_RCODE_NOERROR, true, ans, sizeof ans);
                break;
        case SERVER_UNSIGNED:
                len = build_answer(req, (size_t)n, 0x04, DNS_RCODE_NOERROR, true, ans, sizeof ans);
                break;
        case SERVER_SIGNED_LIKE_REQUEST:
        case SERVER_SIGNED_OTHER_KEY: {
                len = build_answer(req, (size_t)n, 0x04, DNS_RCODE_NOERROR, true, ans, sizeof ans);
                uint8_t mac[DNS_TSIG_MAC_SIZE];
                const struct dns_tsig_key *k = f->mode == SERVER_SIGNED_OTHER_KEY ? &other_key : &test_key;
                if (dns_tsig_sign(ans, sizeof ans, &len, k, (uint64_t)time(NULL), mac) < 0)
                        return;
                break;
        }
        }
        if (len > 0)
                sendto(f->udp, ans, len, 0, (struct sockaddr *)&from, from_len);
}

static void server_tcp(struct fake_server *f) {
        int fd = accept(f->tcp, NULL, NULL);
        if (fd < 0)
                return;
        struct timeval tv = { .tv_sec = 5 };
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        uint8_t req[4096], ans[4096 + 2];
        uint8_t prefix[2];
        if (recv(fd, prefix, 2, MSG_WAITALL) == 2) {
                size_t want = (size_t)prefix[0] << 8 | prefix[1];
                if (want <= sizeof req && recv(fd, req, want, MSG_WAITALL) == (ssize_t)want) {
                        atomic_fetch_add(&f->tcp_queries, 1);
                        size_t len = build_answer(req, want, 0x04, DNS_RCODE_NOERROR, true, ans + 2, sizeof ans - 2);
                        ans[0] = (uint8_t)(len >> 8);
                        ans[1] = (uint8_t)len;
                        if (len > 0)
                                send(fd, ans, len + 2, MSG_NOSIGNAL);
                }
        }
        close(fd);
}

static void *server_main(void *userdata) {
        struct fake_server *f = userdata;
        for (;;) {
                struct pollfd p[3] = { { .fd = f->udp, .events = POLLIN },
                                       { .fd = f->tcp, .events = POLLIN },
                                       { .fd = f->stop[0], .events = POLLIN } };
                if (poll(p, 3, -1) < 0)
                        continue;
                if (p[0].revents)
                        server_udp(f);
                if (p[1].revents)
                        server_tcp(f);
                if (p[2].revents)
                        break;
        }
        /* Count what arrived but was not read yet. */
        uint8_t buf[4096];
        while (recv(f->udp, buf, sizeof buf, MSG_DONTWAIT) >= DNS_HEADER_SIZE)
                atomic_fetch_add(&f->udp_queries, 1);
        return NULL;
}

/* A UDP socket and a TCP listener on the same free port of 127.0.0.1. */
static void server_start(struct fake_server *f, enum server_mode mode) {
        memset(f, 0, sizeof *f);
        f->mode = mode;
        for (int attempt = 0; attempt < 50; attempt++) {
                struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
                socklen_t sl = sizeof sa;
                f->udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                assert_true(f->udp >= 0);
                assert_int_equal(bind(f->udp, (struct sockaddr *)&sa, sizeof sa), 0);
                assert_int_equal(getsockname(f->udp, (struct sockaddr *)&sa, &sl), 0);
                f->tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                assert_true(f->tcp >= 0);
                if (bind(f->tcp, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(f->tcp, 4) == 0) {
                        f->port = ntohs(sa.sin_port);
                        break;
                }
                close(f->udp);
                close(f->tcp);
                f->udp = f->tcp = -1;
        }
        assert_true(f->port != 0);
        assert_int_equal(pipe(f->stop), 0);
        assert_int_equal(pthread_create(&f->thread, NULL, server_main, f), 0);
}

static void server_stop(struct fake_server *f) {
        assert_int_equal(write(f->stop[1], "x", 1), 1);
        assert_int_equal(pthread_join(f->thread, NULL), 0);
        close(f->stop[0]);
        close(f->stop[1]);
        close(f->udp);
        close(f->tcp);
}

static void client_for(const struct fake_server *f, unsigned timeout_ms, const struct dns_tsig_key *key,
                       struct dns_client *c) {
        char text[32];
        snprintf(text, sizeof text, "127.0.0.1:%u", f->port);
        memset(c, 0, sizeof *c);
        assert_int_equal(dns_client_parse_server(text, &c->server, &c->server_len), 0);
        c->timeout_ms = timeout_ms;
        c->key = key;
}

static size_t build_query(uint8_t *buf, size_t cap) {
        struct dns_writer w;
        size_t n;
        dns_query_begin(&w, buf, cap, 0, "vm1.example.net", DNS_TYPE_A);
        assert_int_equal(dns_writer_finish(&w, &n), 0);
        return n;
}

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_exchange_tc_falls_back_to_tcp(void **state) {
        struct fake_server f;
        server_start(&f, SERVER_TC_THEN_TCP);
        struct dns_client c;
        client_for(&f, 2000, NULL, &c);
        uint8_t q[512];
        size_t qn = build_query(q, sizeof q);
        static struct dns_client_result res;
        assert_int_equal(dns_client_exchange(&c, q, qn, &res), DNS_CLIENT_OK);
        server_stop(&f);
        assert_int_equal(res.status, DNS_CLIENT_OK);
        assert_true(res.tcp);
        assert_true(res.answered);
        assert_int_equal(res.udp_attempts, 1);
        assert_int_equal(atomic_load(&f.udp_queries), 1);
        assert_int_equal(atomic_load(&f.tcp_queries), 1);
        assert_int_equal(res.resp.status, DNS_STATUS_OK);
        assert_int_equal(res.resp.id, res.id);
        assert_string_equal(res.resp.qname, "vm1.example.net");
        assert_int_equal(res.resp.n_answers, 1);
        assert_int_equal(res.resp.answers[0].type, DNS_TYPE_A);
        assert_memory_equal(res.resp.answers[0].addr, ((uint8_t[]){ ANSWER_ADDR }), 4);
}

static void test_exchange_timeout_after_two_udp_attempts(void **state) {
        struct fake_server f;
        server_start(&f, SERVER_SILENT);
        struct dns_client c;
        client_for(&f, 200, NULL, &c);
        uint8_t q[512];
        size_t qn = build_query(q, sizeof q);
        static struct dns_client_result res;
        int64_t start = now_ms();
        assert_int_equal(dns_client_exchange(&c, q, qn, &res), DNS_CLIENT_TIMEOUT);
        int64_t took = now_ms() - start;
        server_stop(&f);
        assert_int_equal(res.udp_attempts, 2);
        assert_false(res.tcp);
        assert_false(res.answered);
        assert_int_equal(atomic_load(&f.udp_queries), 2);
        assert_true(strstr(res.error, "2 UDP attempts") != NULL);
        /* The client promises about 3 * timeout_ms at most; be generous. */
        assert_true(took < 10 * 200 + 2000);
}

static void test_exchange_other_id_ignored(void **state) {
        struct fake_server f;
        server_start(&f, SERVER_WRONG_ID_FIRST);
        struct dns_client c;
        client_for(&f, 2000, NULL, &c);
        uint8_t q[512];
        size_t qn = build_query(q, sizeof q);
        static struct dns_client_result res;
        assert_int_equal(dns_client_exchange(&c, q, qn, &res), DNS_CLIENT_OK);
        server_stop(&f);
        /* The REFUSED answer with another id came first and was dropped. */
        assert_int_equal(res.resp.status, DNS_STATUS_OK);
        assert_int_equal(res.udp_attempts, 1);
        assert_false(res.tcp);
        assert_int_equal(res.resp.n_answers, 1);
}

static void expect_signed_exchange(enum server_mode mode, enum dns_client_status want) {
        struct fake_server f;
        server_start(&f, mode);
        struct dns_client c;
        client_for(&f, 2000, &test_key, &c);
        uint8_t q[512];
        size_t qn = build_query(q, sizeof q);
        static struct dns_client_result res;
        assert_int_equal(dns_client_exchange(&c, q, qn, &res), want);
        server_stop(&f);
        assert_int_equal(res.status, want);
        assert_true(res.answered);
        assert_int_equal(res.udp_attempts, 1);
        assert_int_equal(res.resp.status, DNS_STATUS_OK);
        assert_true(res.error[0] != '\0');
}

static void test_exchange_unsigned_answer_to_signed_request(void **state) {
        expect_signed_exchange(SERVER_UNSIGNED, DNS_CLIENT_BADSIG);
}

static void test_exchange_answer_mac_without_request_mac(void **state) {
        expect_signed_exchange(SERVER_SIGNED_LIKE_REQUEST, DNS_CLIENT_BADSIG);
}

static void test_exchange_answer_signed_with_other_key(void **state) {
        expect_signed_exchange(SERVER_SIGNED_OTHER_KEY, DNS_CLIENT_BADKEY);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_base64_rfc4648_vectors),
                cmocka_unit_test(test_base64_padding),
                cmocka_unit_test(test_base64_leftover_bits),
                cmocka_unit_test(test_base64_invalid_characters),
                cmocka_unit_test(test_base64_output_limits),
                cmocka_unit_test(test_secret_bind),
                cmocka_unit_test(test_secret_knot),
                cmocka_unit_test(test_secret_bare_line),
                cmocka_unit_test(test_secret_wrong_algorithm),
                cmocka_unit_test(test_secret_garbage),
                cmocka_unit_test(test_secret_oversize),
                cmocka_unit_test(test_secret_missing_file),
                cmocka_unit_test(test_exchange_tc_falls_back_to_tcp),
                cmocka_unit_test(test_exchange_timeout_after_two_udp_attempts),
                cmocka_unit_test(test_exchange_other_id_ignored),
                cmocka_unit_test(test_exchange_unsigned_answer_to_signed_request),
                cmocka_unit_test(test_exchange_answer_mac_without_request_mac),
                cmocka_unit_test(test_exchange_answer_signed_with_other_key),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
