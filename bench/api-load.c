/* SPDX-License-Identifier: MIT */
/*
 * api-load: the HTTP load generator of bench/api-load.sh. One thread, one epoll loop, N
 * keep-alive HTTP/1.1 client connections to the edgegw API over its unix socket or its TCP
 * listener (with `Authorization: Bearer` when a token is given). Each client sends one
 * request, waits for the whole answer, sends the next: `post` creates VMs
 * ({"id":"PREFIX-CLIENT-N","ip":"10.x.y.z"}, ids and addresses unique within a run and,
 * with --ip-first, across runs), `get` reads random VMs from an id list or a pattern. It
 * runs a fixed number of requests or for a fixed time, records the latency of every
 * request (first byte sent to last byte received), and prints requests/s, p50/p90/p99/max
 * and the answers by status, then the same as one JSON line. A single thread keeps the
 * generator's own CPU share small on a machine it shares with the daemon. Built by
 * bench/api-load.sh with `cc -O2`; needs nothing but libc. See docs/benchmarks.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CLIENTS_MAX 1024
#define STATUS_MAX 600
#define ID_MAX 128
/* vm-add.py's address plan: 10.64.0.0/10, never .0 or .255 in the last octet. */
#define IP_INDEX_MAX (64u * 256u * 254u)

static void freep(void *p) {
        free(*(void **)p);
}
static void closep(int *fd) {
        if (*fd >= 0)
                close(*fd);
}
static void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}
#define _cleanup_free_ __attribute__((cleanup(freep)))
#define _cleanup_close_ __attribute__((cleanup(closep)))
#define _cleanup_fclose_ __attribute__((cleanup(fclosep)))

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- a growable byte buffer ------------------------------------------------------------ */

struct buf {
        char *data;
        size_t len, cap;
};

static int buf_reserve(struct buf *b, size_t more) {
        if (b->len + more <= b->cap)
                return 0;
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + more)
                cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p)
                return -ENOMEM;
        b->data = p;
        b->cap = cap;
        return 0;
}

static void buf_consume(struct buf *b, size_t n) {
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
}

/* ---- the HTTP/1.1 response parser (pure: bytes in, a result out) -------------------------- */

enum resp_parse { RESP_NEED_MORE, RESP_COMPLETE, RESP_INVALID };

struct resp {
        unsigned status;
        size_t length; /* bytes of the whole message, head and body */
        bool close;    /* the server will close the connection after this answer */
};

/* The header value of NAME in the head [p, end), or NULL; *ret_len gets its length. */
static const char *header_value(const char *p, const char *end, const char *name, size_t *ret_len) {
        size_t nl = strlen(name);
        while (p < end) {
                const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
                if (!eol)
                        eol = end;
                if ((size_t)(eol - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
                        const char *v = p + nl + 1;
                        while (v < eol && (*v == ' ' || *v == '\t'))
                                v++;
                        *ret_len = (size_t)(eol - v);
                        return v;
                }
                p = eol + 2;
        }
        return NULL;
}

static bool value_has(const char *v, size_t len, const char *token) {
        size_t tl = strlen(token);
        for (size_t i = 0; i + tl <= len; i++)
                if (strncasecmp(v + i, token, tl) == 0)
                        return true;
        return false;
}

/* Where a chunked body starting at p ends (past the last CRLF), or NULL when more bytes are
 * needed; *ret_invalid is set on a malformed chunk size. */
static const char *chunked_end(const char *p, const char *end, bool *ret_invalid) {
        for (;;) {
                const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
                if (!eol)
                        return NULL;
                char *stop;
                errno = 0;
                unsigned long long size = strtoull(p, &stop, 16);
                if (stop == p || errno || size > (1ull << 32)) {
                        *ret_invalid = true;
                        return NULL;
                }
                p = eol + 2;
                if (size == 0) {
                        /* Trailer lines, then an empty line. */
                        for (;;) {
                                eol = memmem(p, (size_t)(end - p), "\r\n", 2);
                                if (!eol)
                                        return NULL;
                                if (eol == p)
                                        return eol + 2;
                                p = eol + 2;
                        }
                }
                if ((size_t)(end - p) < size + 2)
                        return NULL;
                p += size + 2;
        }
}

static enum resp_parse resp_parse(const char *buf, size_t len, struct resp *out) {
        const char *end = buf + len;
        const char *head_end = memmem(buf, len, "\r\n\r\n", 4);
        if (!head_end)
                return len > 65536 ? RESP_INVALID : RESP_NEED_MORE;
        if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ')
                return RESP_INVALID;
        unsigned status = 0;
        for (int i = 9; i < 12; i++) {
                if (buf[i] < '0' || buf[i] > '9')
                        return RESP_INVALID;
                status = status * 10 + (unsigned)(buf[i] - '0');
        }
        const char *headers = (const char *)memmem(buf, (size_t)(head_end - buf) + 2, "\r\n", 2) + 2;
        const char *body = head_end + 4;
        size_t vl;
        const char *v;
        bool close = buf[7] == '0'; /* HTTP/1.0 closes unless told otherwise */
        if ((v = header_value(headers, head_end, "Connection", &vl)))
                close = value_has(v, vl, "close") || (close && !value_has(v, vl, "keep-alive"));
        const char *msg_end;
        if ((v = header_value(headers, head_end, "Transfer-Encoding", &vl)) && value_has(v, vl, "chunked")) {
                bool invalid = false;
                msg_end = chunked_end(body, end, &invalid);
                if (invalid)
                        return RESP_INVALID;
                if (!msg_end)
                        return RESP_NEED_MORE;
        } else if ((v = header_value(headers, head_end, "Content-Length", &vl))) {
                char *stop;
                errno = 0;
                unsigned long long cl = strtoull(v, &stop, 10);
                if (stop == v || errno || cl > (1ull << 32))
                        return RESP_INVALID;
                if ((size_t)(end - body) < cl)
                        return RESP_NEED_MORE;
                msg_end = body + cl;
        } else if (status == 204 || status == 304 || status < 200)
                msg_end = body;
        else
                return RESP_INVALID; /* a body delimited by close: never on a keep-alive API */
        *out = (struct resp){.status = status, .length = (size_t)(msg_end - buf), .close = close};
        return RESP_COMPLETE;
}

/* ---- options --------------------------------------------------------------------------- */

enum mode { MODE_POST, MODE_GET, MODE_DELETE };

struct options {
        enum mode mode;
        const char *unix_path, *tcp_target, *token, *prefix, *ids_file, *id_pattern, *save_ids, *label;
        unsigned clients, warmup, id_count, ip_first;
        uint64_t requests;
        double duration, timeout;
        uint64_t seed;
};

/* ---- the run --------------------------------------------------------------------------- */

enum conn_state { CONN_IDLE, CONN_SENDING, CONN_WAITING };

struct conn {
        int fd;
        unsigned index;
        enum conn_state state;
        uint64_t sent_ns;
        uint64_t issued; /* requests this client has sent, warm-up included: the N of its ids */
        unsigned failures; /* transport failures in a row; too many ends the run */
        bool recording;  /* the request in flight belongs to the measured phase */
        char id[ID_MAX]; /* the VM id in flight (post) */
        struct buf out;
        size_t out_off;
        bool want_out; /* EPOLLOUT is armed: the socket buffer was full */
        struct buf in;
};

struct phase {
        bool record;
        uint64_t total;    /* requests to issue in this phase; 0 = until the deadline */
        uint64_t per_client; /* warm-up: requests each client sends; 0 = no such bound */
        uint64_t deadline; /* ns; 0 = none */
        uint64_t issued;
};

struct run {
        const struct options *o;
        int epfd;
        struct sockaddr_storage addr;
        socklen_t addr_len;
        char host[300];
        char auth[600];
        char **ids;
        size_t n_ids;
        uint64_t rng;
        uint64_t ip_next; /* index of the next VM address */
        size_t id_next;   /* delete: the next id of the list */
        FILE *saved;
        struct conn *conns;
        struct phase phase;
        /* measured phase */
        uint64_t *lat;
        size_t n_lat, cap_lat;
        uint64_t status[STATUS_MAX];
        uint64_t errors, reconnects, rules_pending;
        uint64_t t_start, t_last;
        double cpu_start; /* this process's CPU seconds when the measured phase began */
        uint64_t warmup_issued;
};

static double cpu_seconds(void) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
               ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

static uint64_t rng_next(struct run *r) {
        /* xorshift64*: plenty for picking ids, and reproducible with --seed. */
        r->rng ^= r->rng >> 12;
        r->rng ^= r->rng << 25;
        r->rng ^= r->rng >> 27;
        return r->rng * 2685821657736338717ull;
}

static int resolve_target(struct run *r) {
        const struct options *o = r->o;
        if (o->unix_path) {
                struct sockaddr_un *un = (struct sockaddr_un *)&r->addr;
                if (strlen(o->unix_path) >= sizeof un->sun_path)
                        return -ENAMETOOLONG;
                un->sun_family = AF_UNIX;
                strcpy(un->sun_path, o->unix_path);
                r->addr_len = sizeof *un;
                snprintf(r->host, sizeof r->host, "edgegw");
                return 0;
        }
        char host[256];
        const char *colon = strrchr(o->tcp_target, ':');
        if (!colon || colon == o->tcp_target || (size_t)(colon - o->tcp_target) >= sizeof host)
                return -EINVAL;
        memcpy(host, o->tcp_target, (size_t)(colon - o->tcp_target));
        host[colon - o->tcp_target] = '\0';
        char *h = host;
        size_t hl = strlen(h);
        if (h[0] == '[' && hl > 2 && h[hl - 1] == ']') {
                h[hl - 1] = '\0';
                h++;
        }
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
        if (getaddrinfo(h, colon + 1, &hints, &res) != 0 || !res)
                return -EHOSTUNREACH;
        memcpy(&r->addr, res->ai_addr, res->ai_addrlen);
        r->addr_len = res->ai_addrlen;
        freeaddrinfo(res);
        snprintf(r->host, sizeof r->host, "%s", o->tcp_target);
        return 0;
}

/* A blocking connect (fast on loopback and unix sockets), then non-blocking for the loop. */
static int conn_open(struct run *r, struct conn *c) {
        _cleanup_close_ int fd = socket(r->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *)&r->addr, r->addr_len) < 0)
                return -errno;
        if (r->addr.ss_family != AF_UNIX) {
                int one = 1;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
                return -errno;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
                return -errno;
        c->fd = fd;
        fd = -1;
        c->want_out = false;
        c->in.len = 0;
        c->state = CONN_IDLE;
        return 0;
}

static void conn_close(struct conn *c) {
        if (c->fd >= 0)
                close(c->fd); /* also leaves the epoll set */
        c->fd = -1;
        c->state = CONN_IDLE;
        c->in.len = 0;
}

static bool may_issue(struct run *r, const struct conn *c) {
        struct phase *p = &r->phase;
        if (p->per_client && c->issued >= p->per_client)
                return false;
        if (r->o->mode == MODE_DELETE && r->id_next >= r->n_ids)
                return false;
        if (p->total && p->issued >= p->total)
                return false;
        if (p->deadline && now_ns() >= p->deadline)
                return false;
        return true;
}

static void ip_string(uint64_t i, char *out, size_t size) {
        uint64_t rest = i / 254;
        snprintf(out, size, "10.%u.%u.%u", (unsigned)(64 + rest / 256), (unsigned)(rest % 256),
                 (unsigned)(i % 254 + 1));
}

static int build_request(struct run *r, struct conn *c) {
        const struct options *o = r->o;
        c->out.len = 0;
        c->out_off = 0;
        char body[256] = "", path[ID_MAX + 16];
        if (o->mode == MODE_POST) {
                if (r->ip_next >= IP_INDEX_MAX)
                        return -ERANGE;
                char ip[20];
                ip_string(r->ip_next++, ip, sizeof ip);
                snprintf(c->id, sizeof c->id, "%s-%u-%llu", o->prefix, c->index, (unsigned long long)c->issued);
                snprintf(body, sizeof body, "{\"id\":\"%s\",\"ip\":\"%s\"}", c->id, ip);
                snprintf(path, sizeof path, "/v1/vms");
        } else if (o->mode == MODE_DELETE) {
                snprintf(c->id, sizeof c->id, "%s", r->ids[r->id_next++]);
                snprintf(path, sizeof path, "/v1/vms/%s", c->id);
        } else {
                if (r->ids)
                        snprintf(c->id, sizeof c->id, "%s", r->ids[rng_next(r) % r->n_ids]);
                else {
                        /* The pattern was checked to hold exactly one %u. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
                        snprintf(c->id, sizeof c->id, o->id_pattern, (unsigned)(rng_next(r) % o->id_count));
#pragma GCC diagnostic pop
                }
                snprintf(path, sizeof path, "/v1/vms/%s", c->id);
        }
        size_t body_len = strlen(body);
        char head[1024];
        int n;
        if (o->mode == MODE_POST)
                n = snprintf(head, sizeof head,
                             "POST %s HTTP/1.1\r\nHost: %s\r\n%sContent-Type: application/json\r\n"
                             "Content-Length: %zu\r\n\r\n",
                             path, r->host, r->auth, body_len);
        else
                n = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: %s\r\n%sAccept: application/json\r\n\r\n",
                             o->mode == MODE_GET ? "GET" : "DELETE", path, r->host, r->auth);
        if (n < 0 || (size_t)n >= sizeof head)
                return -E2BIG;
        int e = buf_reserve(&c->out, (size_t)n + body_len);
        if (e < 0)
                return e;
        memcpy(c->out.data, head, (size_t)n);
        memcpy(c->out.data + n, body, body_len);
        c->out.len = (size_t)n + body_len;
        return 0;
}

/* Sends what is left of the request; switches to waiting when all of it is out. */
static int conn_flush(struct run *r, struct conn *c) {
        while (c->out_off < c->out.len) {
                ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                if (!c->want_out) {
                                        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
                                        epoll_ctl(r->epfd, EPOLL_CTL_MOD, c->fd, &ev);
                                        c->want_out = true;
                                }
                                c->state = CONN_SENDING;
                                return 0;
                        }
                        return -errno;
                }
                c->out_off += (size_t)n;
        }
        if (c->want_out) {
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                epoll_ctl(r->epfd, EPOLL_CTL_MOD, c->fd, &ev);
                c->want_out = false;
        }
        c->state = CONN_WAITING;
        return 0;
}

static int conn_start(struct run *r, struct conn *c);

/* A request that failed at the transport level: count it, start over on a new connection. */
static int conn_fail(struct run *r, struct conn *c) {
        if (c->recording)
                r->errors++;
        if (++c->failures > 100)
                return -ECONNRESET;
        conn_close(c);
        r->reconnects++;
        int e = conn_open(r, c);
        if (e < 0)
                return e;
        return conn_start(r, c);
}

/* Sends this client's next request if the phase wants one; leaves it idle otherwise. */
static int conn_start(struct run *r, struct conn *c) {
        if (!may_issue(r, c)) {
                c->state = CONN_IDLE;
                return 0;
        }
        int e = build_request(r, c);
        if (e < 0)
                return e;
        r->phase.issued++;
        c->issued++;
        c->recording = r->phase.record;
        c->sent_ns = now_ns();
        c->state = CONN_SENDING;
        if (conn_flush(r, c) < 0)
                return conn_fail(r, c);
        return 0;
}

static int record(struct run *r, struct conn *c, const struct resp *rs, uint64_t done) {
        if (r->saved && r->o->mode == MODE_POST && rs->status / 100 == 2)
                fprintf(r->saved, "%s\n", c->id); /* warm-up VMs too: the list is what to delete */
        if (!c->recording)
                return 0;
        if (r->n_lat == r->cap_lat) {
                size_t cap = r->cap_lat ? r->cap_lat * 2 : 65536;
                uint64_t *p = realloc(r->lat, cap * sizeof *p);
                if (!p)
                        return -ENOMEM;
                r->lat = p;
                r->cap_lat = cap;
        }
        r->lat[r->n_lat++] = done - c->sent_ns;
        r->status[rs->status < STATUS_MAX ? rs->status : 0]++;
        r->t_last = done;
        if (r->o->mode == MODE_POST && rs->status / 100 == 2) {
                if (memmem(c->in.data, rs->length, "\"rules\":\"pending\"", 17) ||
                    memmem(c->in.data, rs->length, "\"rules\": \"pending\"", 18))
                        r->rules_pending++;
        }
        return 0;
}

static int conn_readable(struct run *r, struct conn *c) {
        bool eof = false;
        while (!eof) {
                int e = buf_reserve(&c->in, 16384);
                if (e < 0)
                        return e;
                ssize_t n = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        return conn_fail(r, c);
                }
                eof = n == 0;
                c->in.len += (size_t)n;
        }
        if (c->state != CONN_WAITING) {
                if (c->in.len)
                        return conn_fail(r, c); /* bytes nobody asked for */
                if (eof) {
                        /* Closed between requests (an idle timeout): only a reconnect. */
                        conn_close(c);
                        r->reconnects++;
                        return conn_open(r, c);
                }
                return 0;
        }
        struct resp rs;
        switch (resp_parse(c->in.data, c->in.len, &rs)) {
        case RESP_NEED_MORE: return eof ? conn_fail(r, c) : 0;
        case RESP_INVALID: return conn_fail(r, c);
        case RESP_COMPLETE: break;
        }
        if (rs.status < 200) { /* an interim answer: the real one follows */
                buf_consume(&c->in, rs.length);
                return eof ? conn_fail(r, c) : conn_readable(r, c);
        }
        int e = record(r, c, &rs, now_ns());
        if (e < 0)
                return e;
        buf_consume(&c->in, rs.length);
        c->state = CONN_IDLE;
        c->failures = 0;
        if (rs.close || eof || c->in.len) {
                /* Asked to close, closed, or sent more than one answer: start afresh. */
                conn_close(c);
                r->reconnects++;
                if ((e = conn_open(r, c)) < 0)
                        return e;
        }
        return conn_start(r, c);
}

/* Runs one phase to its end: every client sends until the phase has issued its requests
 * (or its deadline passed), then the loop waits for the answers in flight. */
static int run_phase(struct run *r) {
        unsigned n = r->o->clients;
        uint64_t timeout_ns = (uint64_t)(r->o->timeout * 1e9);
        for (unsigned i = 0; i < n; i++) {
                int e = conn_start(r, &r->conns[i]);
                if (e < 0)
                        return e;
        }
        struct epoll_event evs[64];
        for (;;) {
                bool busy = false;
                for (unsigned i = 0; i < n; i++)
                        busy |= r->conns[i].state != CONN_IDLE;
                if (!busy)
                        return 0;
                int k = epoll_wait(r->epfd, evs, 64, 100);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                for (int j = 0; j < k; j++) {
                        struct conn *c = evs[j].data.ptr;
                        int e = 0;
                        if (c->fd < 0)
                                continue;
                        if (c->state == CONN_SENDING && (evs[j].events & EPOLLOUT))
                                e = conn_flush(r, c) < 0 ? conn_fail(r, c) : 0;
                        if (e >= 0 && (evs[j].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                                e = conn_readable(r, c);
                        if (e < 0)
                                return e;
                }
                uint64_t now = now_ns();
                for (unsigned i = 0; i < n; i++) {
                        struct conn *c = &r->conns[i];
                        if (c->state != CONN_IDLE && now - c->sent_ns > timeout_ns) {
                                int e = conn_fail(r, c);
                                if (e < 0)
                                        return e;
                        }
                }
        }
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return (x > y) - (x < y);
}

/* Nearest-rank percentile (the ceil(p/100 * n)-th smallest; p given in tenths) of sorted
 * values, in ms: what bench/vm-add.py's pct() computes. */
static double pct_ms(const uint64_t *s, size_t n, unsigned p_tenths) {
        if (!n)
                return 0;
        size_t k = (p_tenths * n + 999) / 1000;
        return (double)s[k ? k - 1 : 0] / 1e6;
}

static void json_string_out(FILE *f, const char *s) {
        fputc('"', f);
        for (; *s; s++) {
                if (*s == '"' || *s == '\\')
                        fprintf(f, "\\%c", *s);
                else if ((unsigned char)*s < 0x20)
                        fprintf(f, "\\u%04x", (unsigned char)*s);
                else
                        fputc(*s, f);
        }
        fputc('"', f);
}

static const char *const mode_name[] = {"post", "get", "delete"};
static const char *const mode_request[] = {"POST /v1/vms", "GET /v1/vms/ID", "DELETE /v1/vms/ID"};

static void report(struct run *r) {
        const struct options *o = r->o;
        if (r->n_lat)
                qsort(r->lat, r->n_lat, sizeof *r->lat, cmp_u64);
        double secs = r->n_lat ? (double)(r->t_last - r->t_start) / 1e9 : 0;
        double rps = secs > 0 ? (double)r->n_lat / secs : 0, sum = 0;
        for (size_t i = 0; i < r->n_lat; i++)
                sum += (double)r->lat[i];
        double mean = r->n_lat ? sum / (double)r->n_lat / 1e6 : 0;
        double p50 = pct_ms(r->lat, r->n_lat, 500), p90 = pct_ms(r->lat, r->n_lat, 900),
               p99 = pct_ms(r->lat, r->n_lat, 990), p999 = pct_ms(r->lat, r->n_lat, 999);
        double max = r->n_lat ? (double)r->lat[r->n_lat - 1] / 1e6 : 0;
        uint64_t non2xx = 0;
        for (unsigned s = 0; s < STATUS_MAX; s++)
                if (s / 100 != 2)
                        non2xx += r->status[s];
        double cpu = cpu_seconds() - r->cpu_start;
        const char *transport = o->unix_path ? "unix" : "tcp";
        const char *target = o->unix_path ? o->unix_path : o->tcp_target;

        printf("# %s %s %s, %u client%s: %zu answers in %.3f s = %.1f req/s; latency ms mean %.3f p50 %.3f p90 %.3f "
               "p99 %.3f p99.9 %.3f max %.3f; non-2xx %llu, transport errors %llu, reconnects %llu",
               mode_request[o->mode], transport, target, o->clients,
               o->clients == 1 ? "" : "s", r->n_lat, secs, rps, mean, p50, p90, p99, p999, max, (unsigned long long)non2xx,
               (unsigned long long)r->errors, (unsigned long long)r->reconnects);
        if (o->mode == MODE_POST)
                printf(", rules pending %llu", (unsigned long long)r->rules_pending);
        printf("\n");
        for (unsigned s = 0; s < STATUS_MAX; s++)
                if (r->status[s] && s / 100 != 2)
                        printf("#   status %u: %llu answers\n", s, (unsigned long long)r->status[s]);

        printf("{\"label\":");
        json_string_out(stdout, o->label ? o->label : "");
        printf(",\"mode\":\"%s\",\"transport\":\"%s\",\"target\":", mode_name[o->mode], transport);
        json_string_out(stdout, target);
        printf(",\"clients\":%u,\"requests\":%zu,\"seconds\":%.6f,\"rps\":%.2f,\"mean_ms\":%.4f,\"p50_ms\":%.4f,"
               "\"p90_ms\":%.4f,\"p99_ms\":%.4f,\"p999_ms\":%.4f,\"max_ms\":%.4f,\"non_2xx\":%llu,\"errors\":%llu,\"reconnects\":%llu,"
               "\"client_cpu_s\":%.3f,\"warmup_requests\":%llu",
               o->clients, r->n_lat, secs, rps, mean, p50, p90, p99, p999, max, (unsigned long long)non2xx,
               (unsigned long long)r->errors, (unsigned long long)r->reconnects, cpu, (unsigned long long)r->warmup_issued);
        if (o->mode == MODE_POST)
                printf(",\"rules_pending\":%llu", (unsigned long long)r->rules_pending);
        printf(",\"status\":{");
        bool first = true;
        for (unsigned s = 0; s < STATUS_MAX; s++)
                if (r->status[s]) {
                        printf("%s\"%u\":%llu", first ? "" : ",", s, (unsigned long long)r->status[s]);
                        first = false;
                }
        printf("}}\n");
        fflush(stdout);
}

static int load_ids(struct run *r, const char *path) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        char line[ID_MAX + 2];
        size_t cap = 0;
        while (fgets(line, sizeof line, f)) {
                line[strcspn(line, "\r\n")] = '\0';
                if (!line[0])
                        continue;
                if (r->n_ids == cap) {
                        cap = cap ? cap * 2 : 1024;
                        char **p = realloc(r->ids, cap * sizeof *p);
                        if (!p)
                                return -ENOMEM;
                        r->ids = p;
                }
                if (!(r->ids[r->n_ids] = strdup(line)))
                        return -ENOMEM;
                r->n_ids++;
        }
        return r->n_ids ? 0 : -ENODATA;
}

/* True when the pattern holds exactly one conversion and it is %u (%% allowed). */
static bool pattern_ok(const char *p) {
        unsigned n = 0;
        for (; *p; p++) {
                if (*p != '%')
                        continue;
                if (p[1] == '%') {
                        p++;
                        continue;
                }
                if (p[1] != 'u')
                        return false;
                n++;
                p++;
        }
        return n == 1;
}

static void usage(FILE *f) {
        fputs("usage: api-load (--unix PATH | --tcp HOST:PORT) [--token TOKEN] --mode post|get|delete\n"
              "                [--clients N] (--requests N | --duration SECONDS) [--warmup N]\n"
              "                [--prefix P] [--ip-first I] [--save-ids FILE]        (post)\n"
              "                [--ids FILE | --id-pattern FMT --id-count N]       (get)\n"
              "                --ids FILE                                         (delete)\n"
              "                [--timeout SECONDS] [--seed N] [--label TEXT]\n"
              "  post: POST /v1/vms {\"id\":\"P-CLIENT-N\",\"ip\":\"10.x.y.z\"}; address number I, I+1, ...\n"
              "        of 10.64.0.0/10 (vm-add.py's plan); --save-ids writes every id answered 2xx\n"
              "        (warm-up included)\n"
              "  get:  GET /v1/vms/ID, ID drawn uniformly from FILE (one per line) or FMT with its\n"
              "        one %u replaced by 0..N-1\n"
              "  delete: DELETE /v1/vms/ID for every id of FILE once, in order (no bound needed)\n"
              "  --warmup N: N unmeasured requests per client first. --requests is the total over\n"
              "  all clients. Prints a summary line, then one JSON line. Exit 0 when the run\n"
              "  completed (whatever the statuses), 1 on a setup error, 2 on a usage error.\n",
              f);
}

static bool parse_uint(const char *s, uint64_t max, uint64_t *ret) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || end == s || *end || s[0] == '-' || v > max)
                return false;
        *ret = v;
        return true;
}

static int parse_options(int argc, char **argv, struct options *o) {
        static const struct option opts[] = {
                {"unix", required_argument, NULL, 'U'},     {"tcp", required_argument, NULL, 'T'},
                {"token", required_argument, NULL, 'k'},    {"mode", required_argument, NULL, 'm'},
                {"clients", required_argument, NULL, 'c'},  {"requests", required_argument, NULL, 'n'},
                {"duration", required_argument, NULL, 'd'}, {"warmup", required_argument, NULL, 'w'},
                {"prefix", required_argument, NULL, 'p'},   {"ip-first", required_argument, NULL, 'i'},
                {"save-ids", required_argument, NULL, 's'}, {"ids", required_argument, NULL, 'f'},
                {"id-pattern", required_argument, NULL, 'P'}, {"id-count", required_argument, NULL, 'N'},
                {"timeout", required_argument, NULL, 't'},  {"seed", required_argument, NULL, 'S'},
                {"label", required_argument, NULL, 'l'},    {"help", no_argument, NULL, 'h'},
                {0},
        };
        *o = (struct options){.clients = 1, .prefix = "load", .timeout = 30, .seed = 1, .mode = (enum mode)-1};
        int c;
        uint64_t v;
        char *end;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
                switch (c) {
                case 'U': o->unix_path = optarg; break;
                case 'T': o->tcp_target = optarg; break;
                case 'k': o->token = optarg; break;
                case 'm':
                        if (strcmp(optarg, "post") == 0)
                                o->mode = MODE_POST;
                        else if (strcmp(optarg, "get") == 0)
                                o->mode = MODE_GET;
                        else if (strcmp(optarg, "delete") == 0)
                                o->mode = MODE_DELETE;
                        else
                                return -EINVAL;
                        break;
                case 'c':
                        if (!parse_uint(optarg, CLIENTS_MAX, &v) || !v)
                                return -EINVAL;
                        o->clients = (unsigned)v;
                        break;
                case 'n':
                        if (!parse_uint(optarg, UINT64_MAX / 2, &v) || !v)
                                return -EINVAL;
                        o->requests = v;
                        break;
                case 'w':
                        if (!parse_uint(optarg, 1000000, &v))
                                return -EINVAL;
                        o->warmup = (unsigned)v;
                        break;
                case 'i':
                        if (!parse_uint(optarg, IP_INDEX_MAX - 1, &v))
                                return -EINVAL;
                        o->ip_first = (unsigned)v;
                        break;
                case 'N':
                        if (!parse_uint(optarg, UINT32_MAX, &v) || !v)
                                return -EINVAL;
                        o->id_count = (unsigned)v;
                        break;
                case 'S':
                        if (!parse_uint(optarg, UINT64_MAX, &v))
                                return -EINVAL;
                        o->seed = v;
                        break;
                case 'd':
                case 't': {
                        double d = strtod(optarg, &end);
                        if (end == optarg || *end || !(d > 0) || d > 86400)
                                return -EINVAL;
                        *(c == 'd' ? &o->duration : &o->timeout) = d;
                        break;
                }
                case 'p': o->prefix = optarg; break;
                case 's': o->save_ids = optarg; break;
                case 'f': o->ids_file = optarg; break;
                case 'P': o->id_pattern = optarg; break;
                case 'l': o->label = optarg; break;
                case 'h': usage(stdout); exit(0);
                default: return -EINVAL;
                }
        }
        if (optind != argc || (int)o->mode < 0 || !o->unix_path == !o->tcp_target || (o->requests && o->duration > 0))
                return -EINVAL;
        /* delete runs through its list once; the others need a bound. */
        if (o->mode != MODE_DELETE && !o->requests && !(o->duration > 0))
                return -EINVAL;
        if (o->mode == MODE_GET &&
            (!o->ids_file == !o->id_pattern || (o->id_pattern && (!o->id_count || !pattern_ok(o->id_pattern)))))
                return -EINVAL;
        if (o->mode == MODE_DELETE && (!o->ids_file || o->warmup))
                return -EINVAL;
        if (strlen(o->prefix) > 64 || (o->token && strlen(o->token) > 512))
                return -EINVAL;
        return 0;
}

int main(int argc, char **argv) {
        struct options o;
        if (parse_options(argc, argv, &o) < 0) {
                usage(stderr);
                return 2;
        }
        signal(SIGPIPE, SIG_IGN);
        struct run r = {.o = &o, .rng = o.seed * 0x9e3779b97f4a7c15ull + 1, .ip_next = o.ip_first};
        _cleanup_free_ struct conn *conns = calloc(o.clients, sizeof *conns);
        if (!conns)
                return 1;
        r.conns = conns;
        if (o.token)
                snprintf(r.auth, sizeof r.auth, "Authorization: Bearer %s\r\n", o.token);
        int e = resolve_target(&r);
        if (e < 0) {
                fprintf(stderr, "api-load: cannot resolve %s: %s\n", o.unix_path ? o.unix_path : o.tcp_target,
                        strerror(-e));
                return 1;
        }
        if (o.ids_file && (e = load_ids(&r, o.ids_file)) < 0) {
                fprintf(stderr, "api-load: cannot read ids from %s: %s\n", o.ids_file, strerror(-e));
                return 1;
        }
        if (o.save_ids && !(r.saved = fopen(o.save_ids, "we"))) {
                fprintf(stderr, "api-load: cannot write %s: %s\n", o.save_ids, strerror(errno));
                return 1;
        }
        _cleanup_close_ int epfd = epoll_create1(EPOLL_CLOEXEC);
        if (epfd < 0)
                return 1;
        r.epfd = epfd;
        for (unsigned i = 0; i < o.clients; i++) {
                conns[i] = (struct conn){.fd = -1, .index = i};
                if ((e = conn_open(&r, &conns[i])) < 0) {
                        fprintf(stderr, "api-load: cannot connect to %s: %s\n",
                                o.unix_path ? o.unix_path : o.tcp_target, strerror(-e));
                        return 1;
                }
        }
        if (o.warmup) {
                r.phase = (struct phase){.per_client = o.warmup};
                if ((e = run_phase(&r)) < 0)
                        goto fail;
                r.warmup_issued = r.phase.issued;
        }
        r.t_start = r.t_last = now_ns();
        r.cpu_start = cpu_seconds();
        r.phase = (struct phase){.record = true, .total = o.requests};
        if (o.duration > 0)
                r.phase.deadline = r.t_start + (uint64_t)(o.duration * 1e9);
        if ((e = run_phase(&r)) < 0)
                goto fail;
        if (r.saved && fclose(r.saved) != 0) {
                r.saved = NULL;
                fprintf(stderr, "api-load: cannot write %s\n", o.save_ids);
                return 1;
        }
        r.saved = NULL;
        report(&r);
        for (unsigned i = 0; i < o.clients; i++) {
                conn_close(&conns[i]);
                free(conns[i].in.data);
                free(conns[i].out.data);
        }
        for (size_t i = 0; i < r.n_ids; i++)
                free(r.ids[i]);
        free(r.ids);
        free(r.lat);
        return 0;
fail:
        fprintf(stderr, "api-load: %s\n", strerror(-e));
        return 1;
}
