/* SPDX-License-Identifier: MIT */
/*
 * One DNS exchange with the authoritative server for the rfc2136 provider: sign, send over
 * UDP (retry once), fall back to TCP on TC, verify. See client.h.
 */
#include "client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define MSG_MAX 65535

/* ---- HMAC ---- */

int dns_hmac_sha256_openssl(void *userdata, const uint8_t *key, size_t key_len, const struct dns_span *parts,
                            size_t n_parts, uint8_t out[static DNS_TSIG_MAC_SIZE]) {
        int r = -EIO;
        EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
        if (!ctx)
                goto out;
        char digest[] = "SHA256";
        OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                OSSL_PARAM_construct_end() };
        if (EVP_MAC_init(ctx, key, key_len, params) != 1)
                goto out;
        for (size_t i = 0; i < n_parts; i++)
                if (parts[i].len > 0 && EVP_MAC_update(ctx, parts[i].data, parts[i].len) != 1)
                        goto out;
        size_t n = 0;
        if (EVP_MAC_final(ctx, out, &n, DNS_TSIG_MAC_SIZE) != 1 || n != DNS_TSIG_MAC_SIZE)
                goto out;
        r = 0;
out:
        EVP_MAC_CTX_free(ctx);
        EVP_MAC_free(mac);
        return r;
}

/* ---- secrets ---- */

static int b64_value(char c) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

int dns_base64_decode(const char *text, size_t len, uint8_t *out, size_t cap) {
        if (len == 0 || len % 4 != 0)
                return -EBADMSG;
        size_t n = 0;
        for (size_t i = 0; i < len; i += 4) {
                int v[4];
                size_t pad = 0;
                for (size_t k = 0; k < 4; k++) {
                        char c = text[i + k];
                        if (c == '=' && i + 4 == len && k >= 2) {
                                pad++;
                                v[k] = 0;
                                continue;
                        }
                        if (pad > 0 || (v[k] = b64_value(c)) < 0)
                                return -EBADMSG;
                }
                uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
                /* Bits beyond the last byte must be zero: one text per secret. */
                if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
                        return -EBADMSG;
                size_t bytes = 3 - pad;
                if (n + bytes > cap)
                        return -ENOBUFS;
                for (size_t k = 0; k < bytes; k++)
                        out[n++] = (uint8_t)(w >> (16 - 8 * k));
        }
        return (int)n;
}

void dns_tsig_secret_clear(struct dns_tsig_secret *s) {
        if (s)
                OPENSSL_cleanse(s, sizeof *s);
}

static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The first non-empty value after keyword in text (skipping spaces, ':' and an opening
 * quote), up to a quote, ';', '{' or white space. Returns its length (0: none). A keyword
 * inside a name ("my-secret", "edgegw-key:" in keymgr's comment) is not a keyword, and a
 * match without a value is skipped rather than hiding a later one. */
static size_t find_value(const char *text, const char *keyword, const char **ret) {
        size_t kl = strlen(keyword);
        for (const char *p = strstr(text, keyword); p; p = strstr(p + 1, keyword)) {
                bool starts = p == text || is_space(p[-1]) || p[-1] == '{' || p[-1] == ';';
                const char *q = p + kl;
                if (!starts || !(is_space(*q) || *q == ':' || *q == '"'))
                        continue;
                while (is_space(*q) || *q == ':')
                        q++;
                if (*q == '"')
                        q++;
                size_t n = 0;
                while (q[n] && q[n] != '"' && q[n] != ';' && q[n] != '{' && !is_space(q[n]))
                        n++;
                if (n == 0)
                        continue;
                *ret = q;
                return n;
        }
        return 0;
}

/* Blanks lines whose first non-space character is '#' (keymgr's "# hmac-sha256:NAME:SECRET"
 * line, BIND's # comments): keywords and values are only read from the rest. Base64 has no
 * '#', so a bare secret line is never blanked. */
static void blank_comment_lines(char *text) {
        for (char *line = text; *line;) {
                char *p = line;
                while (*p == ' ' || *p == '\t')
                        p++;
                if (*p == '#')
                        while (*p && *p != '\n')
                                *p++ = ' ';
                char *nl = strchr(p, '\n');
                if (!nl)
                        break;
                line = nl + 1;
        }
}

int dns_tsig_secret_read(const char *path, struct dns_tsig_secret *ret) {
        char text[4096];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        size_t n = 0;
        int r = 0;
        for (;;) {
                ssize_t k = read(fd, text + n, sizeof text - 1 - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        r = -errno;
                        break;
                }
                if (k == 0)
                        break;
                n += (size_t)k;
                if (n == sizeof text - 1) {
                        r = -EFBIG;
                        break;
                }
        }
        close(fd);
        text[n] = '\0';
        blank_comment_lines(text);
        struct dns_tsig_secret s = { 0 };
        const char *v, *b64 = NULL;
        size_t vn, b64_len = 0;
        if (r < 0)
                goto out;
        if ((vn = find_value(text, "secret", &v)) > 0) {
                b64 = v;
                b64_len = vn;
                if ((vn = find_value(text, "algorithm", &v)) > 0 &&
                    !(vn == strlen(DNS_TSIG_ALGORITHM) && strncasecmp(v, DNS_TSIG_ALGORITHM, vn) == 0)) {
                        r = -EPROTONOSUPPORT;
                        goto out;
                }
                vn = find_value(text, "key", &v); /* BIND: key "NAME" { */
                if (vn == 0 || strncmp(v, "-", vn) == 0 || vn == 0)
                        vn = find_value(text, "id", &v); /* Knot: - id: NAME */
                if (vn > DNS_NAME_TEXT_MAX) {
                        r = -EBADMSG;
                        goto out;
                }
                if (vn > 0) {
                        memcpy(s.name, v, vn);
                        if (vn > 1 && s.name[vn - 1] == '.')
                                vn--;
                        s.name[vn] = '\0';
                }
        } else {
                /* A bare base64 line: one token, white space around it only. */
                const char *p = text;
                while (is_space(*p))
                        p++;
                b64 = p;
                while (*p && !is_space(*p))
                        p++;
                b64_len = (size_t)(p - b64);
                while (is_space(*p))
                        p++;
                if (*p) {
                        r = -EBADMSG;
                        goto out;
                }
        }
        int dn = dns_base64_decode(b64, b64_len, s.secret, sizeof s.secret);
        if (dn < 0) {
                r = dn == -ENOBUFS ? -EFBIG : -EBADMSG;
                goto out;
        }
        s.secret_len = (size_t)dn;
        *ret = s;
out:
        OPENSSL_cleanse(&s, sizeof s);
        OPENSSL_cleanse(text, sizeof text);
        return r;
}

/* ---- server address ---- */

int dns_client_parse_server(const char *text, struct sockaddr_storage *ret, socklen_t *ret_len) {
        char host[INET6_ADDRSTRLEN + 1];
        const char *port_text = NULL;
        size_t hl;
        if (text[0] == '[') {
                const char *end = strchr(text, ']');
                if (!end)
                        return -EINVAL;
                hl = (size_t)(end - text - 1);
                if (hl >= sizeof host)
                        return -EINVAL;
                memcpy(host, text + 1, hl);
                if (end[1] == ':')
                        port_text = end + 2;
                else if (end[1] != '\0')
                        return -EINVAL;
        } else {
                const char *colon = strchr(text, ':');
                if (colon && strchr(colon + 1, ':'))
                        colon = NULL; /* a bare IPv6 address */
                hl = colon ? (size_t)(colon - text) : strlen(text);
                if (hl >= sizeof host)
                        return -EINVAL;
                memcpy(host, text, hl);
                if (colon)
                        port_text = colon + 1;
        }
        host[hl] = '\0';
        unsigned long port = 53;
        if (port_text) {
                char *end;
                if (!*port_text || *port_text < '0' || *port_text > '9')
                        return -EINVAL;
                errno = 0;
                port = strtoul(port_text, &end, 10);
                if (*end || port == 0 || port > 65535)
                        return -EINVAL;
        }
        struct sockaddr_storage ss = { 0 };
        struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
                in4->sin_family = AF_INET;
                in4->sin_port = htons((uint16_t)port);
                *ret_len = sizeof *in4;
        } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons((uint16_t)port);
                *ret_len = sizeof *in6;
        } else {
                return -EINVAL;
        }
        *ret = ss;
        return 0;
}

/* ---- the exchange ---- */

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum dns_client_status fail(struct dns_client_result *out, enum dns_client_status s, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static enum dns_client_status fail(struct dns_client_result *out, enum dns_client_status s, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(out->error, sizeof out->error, fmt, ap);
        va_end(ap);
        return out->status = s;
}

static bool same_peer(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
        if (a->ss_family != b->ss_family)
                return false;
        if (a->ss_family == AF_INET) {
                const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
                return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
        }
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
        return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}

/* Waits until fd has events or deadline passes: 1 ready, 0 timed out, -errno. */
static int wait_fd(int fd, short events, int64_t deadline) {
        for (;;) {
                int64_t left = deadline - now_ms();
                if (left <= 0)
                        return 0;
                struct pollfd p = { .fd = fd, .events = events };
                int r = poll(&p, 1, (int)left);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r > 0)
                        return 1;
        }
}

/* UDP: returns the answer length (> 0), 0 after both attempts timed out, or -errno. */
static ssize_t exchange_udp(const struct dns_client *c, const uint8_t *msg, size_t len, uint16_t id, uint8_t *ans,
                            unsigned *attempts) {
        int fd = socket(c->server.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        ssize_t result = 0;
        for (unsigned attempt = 0; attempt < 2 && result == 0; attempt++) {
                /* The retry resends the same bytes: a late answer to the first try is as good. */
                if (sendto(fd, msg, len, 0, (const struct sockaddr *)&c->server, c->server_len) < 0) {
                        result = -errno;
                        break;
                }
                (*attempts)++;
                int64_t deadline = now_ms() + c->timeout_ms;
                for (;;) {
                        int r = wait_fd(fd, POLLIN, deadline);
                        if (r <= 0) {
                                result = r;
                                break;
                        }
                        struct sockaddr_storage from;
                        socklen_t from_len = sizeof from;
                        ssize_t n = recvfrom(fd, ans, MSG_MAX, 0, (struct sockaddr *)&from, &from_len);
                        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                                continue;
                        if (n < 0) {
                                result = -errno;
                                break;
                        }
                        /* Strangers and answers to other ids are not ours: keep waiting. */
                        if (!same_peer(&from, &c->server) || n < 2 || (ans[0] << 8 | ans[1]) != id)
                                continue;
                        result = n;
                        break;
                }
        }
        close(fd);
        return result;
}

static int write_all(int fd, const uint8_t *p, size_t n, int64_t deadline) {
        while (n > 0) {
                ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
                if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
                        int r = wait_fd(fd, POLLOUT, deadline);
                        if (r <= 0)
                                return r == 0 ? -ETIMEDOUT : r;
                        continue;
                }
                if (k < 0)
                        return -errno;
                p += k;
                n -= (size_t)k;
        }
        return 0;
}

static int read_all(int fd, uint8_t *p, size_t n, int64_t deadline) {
        while (n > 0) {
                ssize_t k = recv(fd, p, n, 0);
                if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
                        int r = wait_fd(fd, POLLIN, deadline);
                        if (r <= 0)
                                return r == 0 ? -ETIMEDOUT : r;
                        continue;
                }
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -ECONNRESET;
                p += k;
                n -= (size_t)k;
        }
        return 0;
}

/* TCP: returns the answer length, or -errno (-ETIMEDOUT when the deadline passed). */
static ssize_t exchange_tcp(const struct dns_client *c, const uint8_t *msg, size_t len, uint8_t *ans) {
        int64_t deadline = now_ms() + c->timeout_ms;
        int fd = socket(c->server.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        ssize_t r;
        if (connect(fd, (const struct sockaddr *)&c->server, c->server_len) < 0) {
                if (errno != EINPROGRESS) {
                        r = -errno;
                        goto out;
                }
                int w = wait_fd(fd, POLLOUT, deadline);
                if (w <= 0) {
                        r = w == 0 ? -ETIMEDOUT : w;
                        goto out;
                }
                int err = 0;
                socklen_t el = sizeof err;
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err != 0) {
                        r = err ? -err : -errno;
                        goto out;
                }
        }
        uint8_t prefix[2] = { (uint8_t)(len >> 8), (uint8_t)len };
        if ((r = write_all(fd, prefix, 2, deadline)) < 0 || (r = write_all(fd, msg, len, deadline)) < 0)
                goto out;
        if ((r = read_all(fd, prefix, 2, deadline)) < 0)
                goto out;
        size_t n = (size_t)prefix[0] << 8 | prefix[1];
        if ((r = read_all(fd, ans, n, deadline)) < 0)
                goto out;
        r = (ssize_t)n;
out:
        close(fd);
        return r;
}

static enum dns_client_status status_of_rcode(struct dns_client_result *out) {
        const struct dns_response *resp = &out->resp;
        switch (resp->status) {
        case DNS_STATUS_OK:
        case DNS_STATUS_NXDOMAIN:
        case DNS_STATUS_YXDOMAIN:
        case DNS_STATUS_YXRRSET:
        case DNS_STATUS_NXRRSET:
                return DNS_CLIENT_OK;
        case DNS_STATUS_REFUSED:
                return fail(out, DNS_CLIENT_REFUSED, "the server refused the request (REFUSED)");
        case DNS_STATUS_NOTAUTH:
        case DNS_STATUS_NOTZONE:
                return fail(out, DNS_CLIENT_NOTAUTH, "the server answered %s (not authoritative, or TSIG rejected)",
                            dns_status_to_string(resp->status));
        case DNS_STATUS_BADKEY:
                return fail(out, DNS_CLIENT_BADKEY, "the server does not know our TSIG key (BADKEY)");
        case DNS_STATUS_BADSIG:
                return fail(out, DNS_CLIENT_BADSIG, "the server rejected our TSIG signature (BADSIG)");
        case DNS_STATUS_BADTIME:
                return fail(out, DNS_CLIENT_BADTIME, "the server says our clock is off (BADTIME)");
        default:
                return fail(out, DNS_CLIENT_SERVER_ERROR, "the server answered %s (rcode %u)",
                            dns_status_to_string(resp->status), resp->rcode);
        }
}

enum dns_client_status dns_client_exchange(const struct dns_client *c, const uint8_t *msg, size_t len,
                                           struct dns_client_result *out) {
        memset(out, 0, sizeof *out);
        enum dns_client_status s;
        uint8_t *req = NULL, *ans = NULL;
        if (len < DNS_HEADER_SIZE || len > MSG_MAX - DNS_TSIG_RR_MAX) {
                s = fail(out, DNS_CLIENT_INVALID, "message of %zu bytes cannot be sent", len);
                goto out;
        }
        req = malloc(len + DNS_TSIG_RR_MAX);
        ans = malloc(MSG_MAX);
        if (!req || !ans) {
                s = fail(out, DNS_CLIENT_INVALID, "out of memory");
                goto out;
        }
        memcpy(req, msg, len);
        if (getrandom(&out->id, sizeof out->id, 0) != sizeof out->id) {
                s = fail(out, DNS_CLIENT_INVALID, "getrandom failed: %s", strerror(errno));
                goto out;
        }
        req[0] = (uint8_t)(out->id >> 8);
        req[1] = (uint8_t)out->id;
        size_t req_len = len;
        uint8_t request_mac[DNS_TSIG_MAC_SIZE] = { 0 };
        if (c->key) {
                int r = dns_tsig_sign(req, len + DNS_TSIG_RR_MAX, &req_len, c->key, (uint64_t)time(NULL), request_mac);
                if (r < 0) {
                        s = fail(out, DNS_CLIENT_INVALID, "cannot sign with TSIG key %s: %s", c->key->name,
                                 strerror(-r));
                        goto out;
                }
        }

        ssize_t n = exchange_udp(c, req, req_len, out->id, ans, &out->udp_attempts);
        if (n == 0) {
                s = fail(out, DNS_CLIENT_TIMEOUT, "no answer after %u UDP attempts of %u ms", out->udp_attempts,
                         c->timeout_ms);
                goto out;
        }
        if (n < 0) {
                s = fail(out, DNS_CLIENT_NETWORK, "UDP: %s", strerror((int)-n));
                goto out;
        }
        enum dns_status ps = dns_response_parse(ans, (size_t)n, out->id, &out->resp);
        if (ps == DNS_STATUS_TRUNCATED) {
                out->tcp = true;
                n = exchange_tcp(c, req, req_len, ans);
                if (n == -ETIMEDOUT) {
                        s = fail(out, DNS_CLIENT_TIMEOUT, "TCP (after a truncated UDP answer): no answer in %u ms",
                                 c->timeout_ms);
                        goto out;
                }
                if (n < 0) {
                        s = fail(out, DNS_CLIENT_NETWORK, "TCP (after a truncated UDP answer): %s",
                                 strerror((int)-n));
                        goto out;
                }
                ps = dns_response_parse(ans, (size_t)n, out->id, &out->resp);
        }
        if (ps == DNS_STATUS_MALFORMED || ps == DNS_STATUS_NOT_RESPONSE || ps == DNS_STATUS_ID_MISMATCH ||
            ps == DNS_STATUS_TRUNCATED) {
                s = fail(out, DNS_CLIENT_MALFORMED, "unusable answer of %zd bytes%s: %s", n, out->tcp ? " over TCP" : "",
                         dns_status_to_string(ps));
                goto out;
        }

        out->answered = true;
        /* The server's TSIG errors (BADKEY, BADSIG, BADTIME) come unsigned by design; so may
         * REFUSED/NOTAUTH. A forger can only make us fail, which dropping packets does too,
         * so failures are reported as they are; only a success needs a verified MAC. */
        s = status_of_rcode(out);
        if (s != DNS_CLIENT_OK || !c->key)
                goto out;
        enum dns_tsig_status ts = dns_tsig_verify(ans, (size_t)n, &out->resp, c->key, request_mac, (uint64_t)time(NULL));
        switch (ts) {
        case DNS_TSIG_OK:
                break;
        case DNS_TSIG_UNSIGNED:
                s = fail(out, DNS_CLIENT_BADSIG, "the answer (%s) is not signed", dns_status_to_string(ps));
                break;
        case DNS_TSIG_WRONG_KEY:
                s = fail(out, DNS_CLIENT_BADKEY, "the answer is signed with another key (%s)", out->resp.tsig.key_name);
                break;
        case DNS_TSIG_BAD_MAC:
                s = fail(out, DNS_CLIENT_BADSIG, "the answer's TSIG MAC does not verify");
                break;
        case DNS_TSIG_BAD_TIME:
                s = fail(out, DNS_CLIENT_BADTIME, "the answer's TSIG time is outside our clock +- %u s",
                         out->resp.tsig.fudge);
                break;
        default:
                s = fail(out, DNS_CLIENT_INVALID, "verifying the answer: %s", dns_tsig_status_to_string(ts));
                break;
        }
out:
        if (req)
                OPENSSL_cleanse(req, len + DNS_TSIG_RR_MAX);
        free(req);
        free(ans);
        return out->status = s;
}

const char *dns_client_status_to_string(enum dns_client_status s) {
        static const char *const names[] = {
                [DNS_CLIENT_OK] = "ok",
                [DNS_CLIENT_TIMEOUT] = "timeout",
                [DNS_CLIENT_REFUSED] = "refused",
                [DNS_CLIENT_NOTAUTH] = "notauth",
                [DNS_CLIENT_BADKEY] = "badkey",
                [DNS_CLIENT_BADSIG] = "badsig",
                [DNS_CLIENT_BADTIME] = "badtime",
                [DNS_CLIENT_MALFORMED] = "malformed",
                [DNS_CLIENT_SERVER_ERROR] = "server-error",
                [DNS_CLIENT_NETWORK] = "network",
                [DNS_CLIENT_INVALID] = "invalid",
        };
        return (unsigned)s < sizeof names / sizeof names[0] && names[s] ? names[s] : "unknown";
}
