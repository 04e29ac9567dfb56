/* SPDX-License-Identifier: MIT */
/*
 * Proxy workers (see proxy.h). Each worker owns its listeners, connections, pipe pool and
 * deadline lists, and in userspace forward mode its forward sockets and UDP sessions;
 * nothing is shared between workers but the published route and forwards tables (read
 * only), the statistics, the per-source connection counters and the per-forward byte
 * counters and bound-listener counts (all atomics).
 *
 * A connection is one state machine driven by edge-triggered epoll events on either of
 * its two sockets. Deadlines are constants per state, so each state's connections sit in
 * a FIFO list that is already sorted by deadline: expiring them is O(expired).
 */
#include "proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../core/hashmap.h"
#include "../core/util.h"
#include "http_head.h"
#include "proxy_proto.h"
#include "tls_sni.h"

#define HTTP_HEAD_MAX 8192
#define PIPE_POOL_MAX 64
#define PIPE_CHUNK (64 * 1024)
#define SOURCE_BUCKETS 65536
#define DRAIN_MS 1000
#define EVENTS_MAX 256
#define WORKERS_MAX 64
/* Distinct route names one worker keeps counters for; more are counted globally only. */
#define ROUTE_STATS_MAX 65536
#define ROUTE_STATS_DEFAULT "(default)"
#define UDP_BUCKETS 16384
#define UDP_DATAGRAM_MAX 65536
#define FORWARD_RETRY_MS 1000
#define FORWARD_KEYS (2u * 65536u) /* forward_key() values */

enum listener_kind { LISTEN_HTTPS, LISTEN_HTTP, LISTEN_FORWARD };

enum conn_state {
        CONN_READ_HELLO, /* :443, waiting for the whole ClientHello */
        CONN_READ_HEAD, /* :80, waiting for the request head */
        CONN_CONNECTING, /* backend connect in flight */
        CONN_SEND_PREFIX, /* PROXY header + buffered client bytes to the backend */
        CONN_RELAY, /* splicing both ways */
        CONN_RESPOND, /* writing our own answer (redirect, error, alert) */
        CONN_DRAIN, /* answer written; waiting for the client to close */
        CONN_CLOSED, /* freed after the current event batch */
};

enum list_id { LIST_HANDSHAKE, LIST_CONNECT, LIST_IDLE, LIST_DRAIN, LIST_N };

struct conn;
struct fwd_listener;
struct udp_session;

/* What an epoll event points at: a listener, one side of a connection, a forward listener
 * or a UDP forward session. */
struct ep_ref {
        enum { REF_LISTENER, REF_CLIENT, REF_BACKEND, REF_WAKE, REF_UDP_LISTENER, REF_UDP_SESSION } kind;
        struct conn *conn;
        int fd;
        enum listener_kind listener;
        struct fwd_listener *fwd;
        struct udp_session *session;
};

/* One worker's socket for one forward. Closed ones wait in the worker's zombie list until
 * the end of the event batch, which may still name them. */
struct fwd_listener {
        struct ep_ref ref;
        uint32_t key; /* forward_key(proto, port) */
        struct fwd_listener *next_zombie;
};

/* A UDP forward client: its address and the connected socket towards the VM. */
struct udp_session {
        struct ep_ref ref; /* ref.fd: the socket connected to the VM; -1 once closed */
        struct fwd_listener *listener; /* replies leave through its socket */
        struct sockaddr_storage client;
        socklen_t client_len;
        uint32_t hash, source_bucket;
        uint64_t deadline;
        struct udp_session *hnext; /* hash chain */
        struct udp_session *prev, *next; /* idle order, oldest first; zombie list once closed */
};

struct direction {
        int pipe[2]; /* -1 while no bytes are in flight */
        size_t in_pipe;
        bool eof; /* read side returned 0 */
        bool src_ready; /* the source may hold unread bytes (no EAGAIN or short read since its last event) */
        bool src_hup; /* the source signalled its FIN: read on to the end, no further edge will come */
        bool drain_once; /* read to EAGAIN once: events may have been consumed before the relay began */
        bool shut; /* write side shut down after eof */
};

/* Per route and worker; only the owning worker writes, readers sum over workers. */
struct route_counters {
        _Atomic uint64_t connections, bytes_in, bytes_out, rejected_not_allowed, backend_failed, timeouts;
};

struct conn {
        struct conn *prev, *next;
        enum list_id list;
        uint64_t deadline;
        enum conn_state state;
        enum listener_kind kind;
        struct ep_ref client_ref, backend_ref;
        int cfd, bfd;
        uint32_t source_bucket;
        struct sockaddr_storage peer, local;
        uint8_t *buf; /* hello/head bytes read so far, then the prefix to send */
        size_t len, off, cap;
        struct route route; /* copied: the table may be freed while we relay */
        bool has_route;
        struct route_counters *rc; /* this route's counters in our worker, or NULL */
        size_t prefix_client_bytes; /* of the prefix, what the client sent (not our PROXY header) */
        bool forward; /* accepted on a forward listener: fwd_key names it */
        uint32_t fwd_key;
        struct direction up, down; /* up: client -> backend */
};

struct worker {
        struct proxy *proxy;
        pthread_t thread;
        int epfd;
        int wakefd;
        struct ep_ref wake_ref;
        struct ep_ref listeners[2 * PROXY_LISTEN_MAX];
        size_t n_listeners;
        struct conn *heads[LIST_N], *tails[LIST_N];
        struct conn *zombies;
        int pipes[PIPE_POOL_MAX][2];
        size_t n_pipes;
        uint64_t now;
        _Atomic uint64_t seen_gen;
        /* name -> struct route_counters * (owned). The worker looks up without the lock (it
         * is the only writer) and inserts under it; readers iterate under it. */
        pthread_mutex_t route_stats_lock;
        struct hashmap *route_stats;
        _Atomic uint64_t applied_gen; /* the generation whose routes and listeners are in effect */
        uint64_t table_gen;
        const struct route_table *table;
        /* user-space forwards */
        const struct forward_table *forwards;
        struct fwd_listener **fwd; /* sorted by key */
        size_t n_fwd;
        struct fwd_listener *fwd_zombies;
        bool fwd_incomplete; /* some bind failed: retry at fwd_retry_at */
        uint64_t fwd_retry_at;
        struct udp_session **udp_buckets;
        struct udp_session *udp_head, *udp_tail; /* by deadline */
        struct udp_session *udp_zombies;
        uint8_t *udp_buf;
        /* statistics, written by this worker only */
        _Atomic uint64_t accepted, active, relayed, redirected, bytes_in, bytes_out, rejected_limit,
                rejected_no_route, rejected_not_allowed, rejected_bad_request, rejected_timeout, backend_failed,
                closed_removed, udp_sessions, forward_bind_failed;
};

/* A table taken out of service: freed once every worker has announced a generation at
 * least gen. Route tables and forward tables go through the same list. */
struct retired {
        void *table;
        void (*free_table)(void *);
        uint64_t gen;
        struct retired *next;
};

struct proxy {
        struct proxy_config cfg;
        _Atomic(struct route_table *) table;
        _Atomic(struct forward_table *) forwards;
        _Atomic uint64_t gen;
        _Atomic uint8_t *listening; /* [forward key]: how many workers have it bound */
        _Atomic uint64_t (*fwd_bytes)[2]; /* [forward key]: {in, out} */
        _Atomic bool stopping;
        _Atomic uint32_t total;
        _Atomic uint16_t per_source[SOURCE_BUCKETS];
        struct retired *retired; /* main thread only */
        struct worker *workers;
        unsigned n_workers;
};

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void stat_add(_Atomic uint64_t *s, uint64_t v) {
        atomic_fetch_add_explicit(s, v, memory_order_relaxed);
}

/* ---- deadline lists ---- */

static void list_unlink(struct worker *w, struct conn *c) {
        if (c->prev)
                c->prev->next = c->next;
        else
                w->heads[c->list] = c->next;
        if (c->next)
                c->next->prev = c->prev;
        else
                w->tails[c->list] = c->prev;
        c->prev = c->next = NULL;
}

static void list_append(struct worker *w, struct conn *c, enum list_id l, unsigned timeout_ms) {
        c->list = l;
        c->deadline = w->now + timeout_ms;
        c->next = NULL;
        c->prev = w->tails[l];
        if (w->tails[l])
                w->tails[l]->next = c;
        else
                w->heads[l] = c;
        w->tails[l] = c;
}

static void list_move(struct worker *w, struct conn *c, enum list_id l, unsigned timeout_ms) {
        list_unlink(w, c);
        list_append(w, c, l, timeout_ms);
}

/* ---- pipes ---- */

static int pipe_get(struct worker *w, int ret[2]) {
        if (w->n_pipes > 0) {
                w->n_pipes--;
                ret[0] = w->pipes[w->n_pipes][0];
                ret[1] = w->pipes[w->n_pipes][1];
                return 0;
        }
        if (pipe2(ret, O_NONBLOCK | O_CLOEXEC) < 0)
                return -errno;
        return 0;
}

/* Only empty pipes come back: a pipe with bytes in it would leak them into another stream. */
static void pipe_put(struct worker *w, int p[2]) {
        if (p[0] < 0)
                return;
        if (w->n_pipes < PIPE_POOL_MAX) {
                w->pipes[w->n_pipes][0] = p[0];
                w->pipes[w->n_pipes][1] = p[1];
                w->n_pipes++;
        } else {
                close(p[0]);
                close(p[1]);
        }
        p[0] = p[1] = -1;
}

static void pipe_discard(int p[2]) {
        if (p[0] >= 0) {
                close(p[0]);
                close(p[1]);
        }
        p[0] = p[1] = -1;
}

/* ---- connections ---- */

static struct ip_addr sockaddr_ip(const struct sockaddr_storage *ss) {
        struct ip_addr a = {0};
        if (ss->ss_family == AF_INET) {
                a.family = AF_INET;
                memcpy(a.bytes, &((const struct sockaddr_in *)ss)->sin_addr, 4);
        } else if (ss->ss_family == AF_INET6) {
                a.family = AF_INET6;
                memcpy(a.bytes, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
        }
        return ip_addr_unmap(&a);
}

static uint32_t source_bucket(const struct sockaddr_storage *ss) {
        struct ip_addr a = sockaddr_ip(ss);
        uint32_t h = 2166136261u;
        for (size_t i = 0; i < (a.family == AF_INET ? 4u : 16u); i++)
                h = (h ^ a.bytes[i]) * 16777619u;
        return h & (SOURCE_BUCKETS - 1);
}

static void conn_close(struct worker *w, struct conn *c) {
        if (c->state == CONN_CLOSED)
                return;
        struct proxy *p = w->proxy;
        list_unlink(w, c);
        if (c->cfd >= 0)
                close(c->cfd);
        if (c->bfd >= 0)
                close(c->bfd);
        c->cfd = c->bfd = -1;
        /* A pipe still holding bytes belongs to no stream any more: close it. */
        if (c->up.in_pipe)
                pipe_discard(c->up.pipe);
        else
                pipe_put(w, c->up.pipe);
        if (c->down.in_pipe)
                pipe_discard(c->down.pipe);
        else
                pipe_put(w, c->down.pipe);
        free(c->buf);
        c->buf = NULL;
        c->state = CONN_CLOSED;
        atomic_fetch_sub(&p->total, 1);
        atomic_fetch_sub(&p->per_source[c->source_bucket], 1);
        atomic_fetch_sub_explicit(&w->active, 1, memory_order_relaxed);
        c->next = w->zombies;
        w->zombies = c;
}

static void zombies_free(struct worker *w) {
        while (w->zombies) {
                struct conn *c = w->zombies;
                w->zombies = c->next;
                free(c);
        }
}

/* Queue our own answer (redirect, HTTP error, TLS alert) and close after it is written. */
static void conn_respond(struct worker *w, struct conn *c, const void *data, size_t len) {
        uint8_t *b = realloc(c->buf, len ? len : 1);
        if (!b)
                return conn_close(w, c);
        memcpy(b, data, len);
        c->buf = b;
        c->len = len;
        c->cap = len;
        c->off = 0;
        c->state = CONN_RESPOND;
        list_move(w, c, LIST_DRAIN, DRAIN_MS);
}

static void respond_http_error(struct worker *w, struct conn *c, unsigned status) {
        char out[256];
        int n = http_error_build(status, out, sizeof out);
        if (n < 0)
                return conn_close(w, c);
        conn_respond(w, c, out, (size_t)n);
}

static void respond_alert(struct worker *w, struct conn *c) {
        uint8_t alert[7];
        size_t n = tls_alert_unrecognized_name(alert);
        conn_respond(w, c, alert, n);
}

static int set_nodelay(int fd) {
        int one = 1;
        return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* The counters of route r in this worker, created on first use. NULL when out of memory
 * or past ROUTE_STATS_MAX names: then only the global counters see the connection. */
static struct route_counters *route_counters(struct worker *w, const struct route *r) {
        const char *key = r->name[0] ? r->name : ROUTE_STATS_DEFAULT;
        struct route_counters *rc = w->route_stats ? hashmap_get(w->route_stats, key) : NULL;
        if (rc || !w->route_stats || hashmap_size(w->route_stats) >= ROUTE_STATS_MAX)
                return rc;
        rc = calloc(1, sizeof *rc);
        if (!rc)
                return NULL;
        pthread_mutex_lock(&w->route_stats_lock);
        int k = hashmap_put(w->route_stats, key, rc);
        pthread_mutex_unlock(&w->route_stats_lock);
        if (k < 0) {
                free(rc);
                return NULL;
        }
        return rc;
}

static void count_backend_failed(struct worker *w, struct conn *c) {
        stat_add(&w->backend_failed, 1);
        if (c->rc)
                stat_add(&c->rc->backend_failed, 1);
}

/* Starts the backend connect for c->route; the prefix to send is built here too. */
static void conn_connect(struct worker *w, struct conn *c, uint16_t port) {
        struct sockaddr_storage ss = {0};
        socklen_t sl;
        const struct ip_addr *b = &c->route.backend;
        if (b->family == AF_INET) {
                struct sockaddr_in *in = (struct sockaddr_in *)&ss;
                in->sin_family = AF_INET;
                in->sin_port = htons(port);
                memcpy(&in->sin_addr, b->bytes, 4);
                sl = sizeof *in;
        } else {
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons(port);
                memcpy(&in6->sin6_addr, b->bytes, 16);
                sl = sizeof *in6;
        }

        /* The prefix: PROXY header (if the route wants one), then what the client sent. */
        uint8_t header[232];
        ssize_t hl = 0;
        if (c->route.proxy_protocol == PROXY_PROTOCOL_V2)
                hl = proxy_v2_build((struct sockaddr *)&c->peer, (struct sockaddr *)&c->local, header, sizeof header);
        else if (c->route.proxy_protocol == PROXY_PROTOCOL_V1)
                hl = proxy_v1_build((struct sockaddr *)&c->peer, (struct sockaddr *)&c->local, (char *)header,
                                    sizeof header);
        if (hl < 0)
                hl = 0;
        c->prefix_client_bytes = c->len;
        if (hl > 0) {
                uint8_t *nb = malloc(c->len + (size_t)hl);
                if (!nb)
                        return conn_close(w, c);
                memcpy(nb, header, (size_t)hl);
                memcpy(nb + hl, c->buf, c->len);
                free(c->buf);
                c->buf = nb;
                c->len += (size_t)hl;
                c->cap = c->len;
        }
        c->off = 0;

        int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                count_backend_failed(w, c);
                return conn_close(w, c);
        }
        set_nodelay(fd);
        c->bfd = fd;
        c->backend_ref = (struct ep_ref){.kind = REF_BACKEND, .conn = c, .fd = fd};
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = &c->backend_ref};
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                count_backend_failed(w, c);
                return conn_close(w, c);
        }
        c->state = CONN_CONNECTING;
        list_move(w, c, LIST_CONNECT, w->proxy->cfg.connect_timeout_ms);
        if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) {
                count_backend_failed(w, c);
                if (c->kind == LISTEN_HTTP)
                        return respond_http_error(w, c, 502);
                return conn_close(w, c);
        }
        /* Completion (or failure) arrives as EPOLLOUT/EPOLLERR on the backend socket. */
}

/* Routes a parsed name; on success starts the connect. */
static void conn_route(struct worker *w, struct conn *c, const char *host, size_t len, bool http) {
        const struct route *r = w->table ? route_table_lookup(w->table, host, len) : NULL;
        if (!r || (http && !r->http_passthrough)) {
                if (http)
                        return; /* the caller redirects */
                stat_add(&w->rejected_no_route, 1);
                return respond_alert(w, c);
        }
        struct route_counters *rc = route_counters(w, r);
        struct ip_addr src = sockaddr_ip(&c->peer);
        if (!route_allows(r, &src)) {
                stat_add(&w->rejected_not_allowed, 1);
                if (rc)
                        stat_add(&rc->rejected_not_allowed, 1);
                if (http)
                        return respond_http_error(w, c, 403);
                return conn_close(w, c);
        }
        c->route = *r;
        c->has_route = true;
        c->rc = rc;
        if (rc)
                stat_add(&rc->connections, 1);
        conn_connect(w, c, http ? r->http_port : r->https_port);
}

/* Reads what is available into c->buf (up to limit). Returns 1 on progress, 0 on EAGAIN,
 * -1 on EOF/error. */
static int read_some(struct conn *c, size_t limit) {
        if (c->cap < limit) {
                uint8_t *nb = realloc(c->buf, limit);
                if (!nb)
                        return -1;
                c->buf = nb;
                c->cap = limit;
        }
        bool progress = false;
        while (c->len < limit) {
                ssize_t n = read(c->cfd, c->buf + c->len, limit - c->len);
                if (n > 0) {
                        c->len += (size_t)n;
                        progress = true;
                        continue;
                }
                if (n == 0)
                        return -1;
                if (errno == EINTR)
                        continue;
                if (errno == EAGAIN)
                        return progress ? 1 : 0;
                return -1;
        }
        return 1;
}

static void drive_hello(struct worker *w, struct conn *c) {
        /* Room for the handshake message plus the record headers around its fragments. */
        size_t limit = w->proxy->cfg.hello_max + 1024;
        int r = read_some(c, limit);
        if (r < 0 && c->len == 0)
                return conn_close(w, c);
        struct sni_result sni;
        enum sni_status st = sni_parse(c->buf, c->len, w->proxy->cfg.hello_max, &sni);
        switch (st) {
        case SNI_NEED_MORE:
                if (r < 0 || c->len >= limit) {
                        stat_add(&w->rejected_bad_request, 1);
                        return conn_close(w, c);
                }
                return;
        case SNI_OK:
                return conn_route(w, c, sni.name, sni.name_len, false);
        case SNI_ABSENT:
        case SNI_SSLV2:
                /* No name: only a default route can take it. */
                return conn_route(w, c, "", 0, false);
        default:
                stat_add(&w->rejected_bad_request, 1);
                return conn_close(w, c);
        }
}

static void drive_head(struct worker *w, struct conn *c) {
        int r = read_some(c, HTTP_HEAD_MAX);
        if (r < 0 && c->len == 0)
                return conn_close(w, c);
        struct http_head h;
        enum http_head_status st = http_head_parse(c->buf, c->len, HTTP_HEAD_MAX, &h);
        switch (st) {
        case HTTP_HEAD_NEED_MORE:
                if (r < 0) {
                        stat_add(&w->rejected_bad_request, 1);
                        return conn_close(w, c);
                }
                return;
        case HTTP_HEAD_OK: {
                conn_route(w, c, h.host, h.host_len, true);
                if (c->state != CONN_READ_HEAD)
                        return;
                char out[HTTP_HEAD_MAX + 256];
                int n = http_redirect_build(&h, out, sizeof out);
                if (n < 0)
                        return respond_http_error(w, c, 414);
                stat_add(&w->redirected, 1);
                return conn_respond(w, c, out, (size_t)n);
        }
        case HTTP_HEAD_TOO_LARGE:
                stat_add(&w->rejected_bad_request, 1);
                return respond_http_error(w, c, 431);
        default:
                stat_add(&w->rejected_bad_request, 1);
                return respond_http_error(w, c, 400);
        }
}

static void drive_connecting(struct worker *w, struct conn *c) {
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(c->bfd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
                err = errno;
        if (err == EINPROGRESS || err == EALREADY)
                return;
        if (err) {
                count_backend_failed(w, c);
                if (c->kind == LISTEN_HTTP)
                        return respond_http_error(w, c, 502);
                return conn_close(w, c);
        }
        /* connect() finished when the socket became writable; a zero SO_ERROR before that
         * happens too, so make sure we really are connected. */
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (getpeername(c->bfd, (struct sockaddr *)&ss, &sl) < 0)
                return;
        c->state = CONN_SEND_PREFIX;
        list_move(w, c, LIST_IDLE, w->proxy->cfg.idle_timeout_ms);
}

/* Writes c->buf[c->off..c->len) to fd. Returns 1 when all is written, 0 when the socket is
 * full (an edge will come), -1 on error. */
static int send_buffered(struct conn *c, int fd) {
        while (c->off < c->len) {
                ssize_t n = send(fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
                if (n > 0)
                        c->off += (size_t)n;
                else if (n < 0 && errno == EAGAIN)
                        return 0;
                else if (!(n < 0 && errno == EINTR))
                        return -1;
        }
        return 1;
}

static void drive_prefix(struct worker *w, struct conn *c) {
        int r = send_buffered(c, c->bfd);
        if (r == 0)
                return;
        if (r < 0) {
                count_backend_failed(w, c);
                return conn_close(w, c);
        }
        /* The client's bytes read while routing count as relayed, like the spliced ones. */
        stat_add(&w->bytes_in, c->prefix_client_bytes);
        if (c->rc)
                stat_add(&c->rc->bytes_in, c->prefix_client_bytes);
        free(c->buf);
        c->buf = NULL;
        c->len = c->off = c->cap = 0;
        c->state = CONN_RELAY;
        stat_add(&w->relayed, 1);
}

/* Moves bytes from one socket to the other through a pipe. readable says whether the
 * source may have data (its socket signalled, or we do not know); a short read means its
 * queue is empty, so we stop there instead of paying for a read that says EAGAIN — the
 * edge-triggered socket signals again when more arrives. Once the source has signalled
 * its FIN (src_hup) no further edge will come, so from then on we read to the end.
 * forward_counter (may be NULL) also counts for a user-space forward.
 * Returns 1 if bytes moved, 0 if it must wait, -1 if broken. */
static int pump(struct worker *w, int from, int to, struct direction *d, _Atomic uint64_t *counter,
                _Atomic uint64_t *forward_counter) {
        bool moved = false;
        for (;;) {
                if (d->in_pipe > 0) {
                        ssize_t n = splice(d->pipe[0], NULL, to, NULL, d->in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
                        if (n > 0) {
                                d->in_pipe -= (size_t)n;
                                stat_add(counter, (uint64_t)n);
                                if (forward_counter)
                                        stat_add(forward_counter, (uint64_t)n);
                                moved = true;
                                continue;
                        }
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0 && errno == EAGAIN)
                                return moved; /* src_ready stays: resume reading once the sink drains */
                        return -1;
                }
                if (d->eof) {
                        if (!d->shut) {
                                shutdown(to, SHUT_WR);
                                d->shut = true;
                        }
                        pipe_put(w, d->pipe);
                        return moved;
                }
                if (!d->src_ready) {
                        /* Nothing in flight: an idle connection holds no pipe. */
                        pipe_put(w, d->pipe);
                        return moved;
                }
                if (d->pipe[0] < 0 && pipe_get(w, d->pipe) < 0)
                        return -1;
                ssize_t n = splice(from, NULL, d->pipe[1], NULL, PIPE_CHUNK, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
                if (n > 0) {
                        d->in_pipe = (size_t)n;
                        d->src_ready = d->src_hup || d->drain_once || n == PIPE_CHUNK;
                        moved = true;
                        continue;
                }
                if (n == 0) {
                        d->eof = true;
                        continue;
                }
                if (errno == EINTR)
                        continue;
                if (errno == EAGAIN) {
                        d->src_ready = d->drain_once = false;
                        continue;
                }
                return -1;
        }
}

/* Which of a relay's four half-directions an event can have unblocked. */
#define EV_READABLE (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)

static void drive_relay(struct worker *w, struct conn *c, const struct ep_ref *ref, uint32_t events) {
        bool all = !ref;
        _Atomic uint64_t *fin = NULL, *fout = NULL;
        if (c->forward) {
                fin = &w->proxy->fwd_bytes[c->fwd_key][0];
                fout = &w->proxy->fwd_bytes[c->fwd_key][1];
        } else if (c->rc) {
                fin = &c->rc->bytes_in;
                fout = &c->rc->bytes_out;
        }
        bool client = ref && ref->kind == REF_CLIENT, backend = ref && ref->kind == REF_BACKEND;
        /* up = client -> backend: runs when the client has bytes, or the backend has room
         * for bytes already in the pipe; down likewise the other way. */
        if (all || (client && (events & EV_READABLE)))
                c->up.src_ready = true;
        if (all || (backend && (events & EV_READABLE)))
                c->down.src_ready = true;
        if (client && (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
                c->up.src_hup = true;
        if (backend && (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
                c->down.src_hup = true;
        if (all)
                c->up.drain_once = c->down.drain_once = true;
        bool up_write = backend && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && c->up.in_pipe;
        bool down_write = client && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && c->down.in_pipe;
        int a = 0, b = 0;
        if (c->up.src_ready || up_write)
                a = pump(w, c->cfd, c->bfd, &c->up, &w->bytes_in, fin);
        if (a >= 0 && (c->down.src_ready || down_write))
                b = pump(w, c->bfd, c->cfd, &c->down, &w->bytes_out, fout);
        if (a < 0 || b < 0)
                return conn_close(w, c);
        if (c->up.shut && c->down.shut)
                return conn_close(w, c);
        if (a > 0 || b > 0)
                list_move(w, c, LIST_IDLE, w->proxy->cfg.idle_timeout_ms);
}

static void drive_respond(struct worker *w, struct conn *c) {
        int r = send_buffered(c, c->cfd);
        if (r == 0)
                return;
        if (r < 0)
                return conn_close(w, c);
        /* Closing with unread request bytes would send a reset that can destroy the answer
         * in flight: half-close and let the client hang up first (bounded by DRAIN_MS). */
        shutdown(c->cfd, SHUT_WR);
        if (c->bfd >= 0) {
                close(c->bfd);
                c->bfd = -1;
        }
        c->state = CONN_DRAIN;
}

static void drive_drain(struct worker *w, struct conn *c) {
        char sink[4096];
        for (;;) {
                ssize_t n = read(c->cfd, sink, sizeof sink);
                if (n > 0)
                        continue;
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return;
                return conn_close(w, c);
        }
}

/* Runs c's state machine after an event on ref (NULL: no particular event, e.g. right
 * after accept or a timeout answer). Each step may complete its state and enable the next:
 * run until nothing moves. The first pass of a relay pumps both ways, since bytes may have
 * arrived while we were connecting. */
static void conn_drive(struct worker *w, struct conn *c, const struct ep_ref *ref, uint32_t events) {
        for (;;) {
                enum conn_state before = c->state;
                switch (c->state) {
                case CONN_READ_HELLO: drive_hello(w, c); break;
                case CONN_READ_HEAD: drive_head(w, c); break;
                case CONN_CONNECTING: drive_connecting(w, c); break;
                case CONN_SEND_PREFIX: drive_prefix(w, c); break;
                case CONN_RELAY: drive_relay(w, c, ref, events); return;
                case CONN_RESPOND: drive_respond(w, c); break;
                case CONN_DRAIN: drive_drain(w, c); return;
                case CONN_CLOSED: return;
                }
                if (c->state == before)
                        return;
                ref = NULL;
        }
}

static void accept_all(struct worker *w, struct ep_ref *l) {
        struct proxy *p = w->proxy;
        for (;;) {
                struct sockaddr_storage peer;
                socklen_t pl = sizeof peer;
                int fd = accept4(l->fd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        return; /* EAGAIN, or EMFILE: the listener stays armed */
                }
                stat_add(&w->accepted, 1);
                uint32_t bucket = source_bucket(&peer);
                uint32_t total = atomic_fetch_add(&p->total, 1) + 1;
                uint16_t mine = atomic_fetch_add(&p->per_source[bucket], 1) + 1;
                struct conn *c = NULL;
                if (total > p->cfg.max_connections || mine > p->cfg.max_connections_per_source ||
                    !(c = calloc(1, sizeof *c))) {
                        atomic_fetch_sub(&p->total, 1);
                        atomic_fetch_sub(&p->per_source[bucket], 1);
                        stat_add(&w->rejected_limit, 1);
                        close(fd);
                        continue;
                }
                stat_add(&w->active, 1);
                c->cfd = fd;
                c->bfd = -1;
                c->up.pipe[0] = c->up.pipe[1] = c->down.pipe[0] = c->down.pipe[1] = -1;
                c->source_bucket = bucket;
                c->peer = peer;
                socklen_t ll = sizeof c->local;
                getsockname(fd, (struct sockaddr *)&c->local, &ll);
                c->kind = l->listener;
                c->state = l->listener == LISTEN_HTTPS ? CONN_READ_HELLO : CONN_READ_HEAD;
                set_nodelay(fd);
                list_append(w, c, LIST_HANDSHAKE, p->cfg.hello_timeout_ms);
                c->client_ref = (struct ep_ref){.kind = REF_CLIENT, .conn = c, .fd = fd};
                struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                         .data.ptr = &c->client_ref};
                if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                        conn_close(w, c);
                        continue;
                }
                if (l->listener == LISTEN_FORWARD) {
                        /* A forward's route is fixed now: nothing to read first, no header. */
                        const struct forward *f = forward_table_lookup(w->forwards, PROTO_TCP, l->fwd->key & 0xffff);
                        if (!f) {
                                stat_add(&w->rejected_no_route, 1);
                                conn_close(w, c);
                                continue;
                        }
                        c->forward = true;
                        c->fwd_key = l->fwd->key;
                        c->route.backend = f->backend;
                        c->route.https_port = f->backend_port;
                        c->has_route = true;
                        conn_connect(w, c, f->backend_port);
                        continue;
                }
                /* Clients usually send at once: try reading now instead of waiting a round. */
                conn_drive(w, c, NULL, 0);
        }
}

static int listen_on(const char *addr, int type, bool probed, int *ret_fd, char *err, size_t err_size);

/* ---- user-space forwards: listeners ---- */

static void udp_session_close(struct worker *w, struct udp_session *s);

static void fwd_listener_close(struct worker *w, struct fwd_listener *l) {
        if (l->ref.fd < 0)
                return;
        /* UDP sessions answer through this socket: they go with it. */
        for (struct udp_session *s = w->udp_head, *next; s; s = next) {
                next = s->next;
                if (s->listener == l)
                        udp_session_close(w, s);
        }
        epoll_ctl(w->epfd, EPOLL_CTL_DEL, l->ref.fd, NULL);
        close(l->ref.fd);
        l->ref.fd = -1;
        atomic_fetch_sub(&w->proxy->listening[l->key], 1);
        l->next_zombie = w->fwd_zombies;
        w->fwd_zombies = l;
}

static struct fwd_listener *fwd_listener_open(struct worker *w, uint32_t key) {
        struct proxy *p = w->proxy;
        bool udp = (key >> 16) == PROTO_UDP;
        char addr[96], err[160];
        snprintf(addr, sizeof addr, "%s:%u", p->cfg.forward_listen, key & 0xffff);
        int fd;
        if (listen_on(addr, udp ? SOCK_DGRAM : SOCK_STREAM, true, &fd, err, sizeof err) < 0) {
                stat_add(&w->forward_bind_failed, 1);
                return NULL;
        }
        struct fwd_listener *l = calloc(1, sizeof *l);
        if (!l) {
                close(fd);
                return NULL;
        }
        l->key = key;
        l->ref = (struct ep_ref){.kind = udp ? REF_UDP_LISTENER : REF_LISTENER, .fd = fd, .listener = LISTEN_FORWARD, .fwd = l};
        struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = &l->ref};
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                close(fd);
                free(l);
                return NULL;
        }
        atomic_fetch_add(&p->listening[key], 1);
        return l;
}

/* Opens and closes this worker's forward listeners to match w->forwards: one merge of two
 * sorted lists. A port that cannot be bound (in use) is retried after FORWARD_RETRY_MS. */
static void forwards_reconcile(struct worker *w) {
        const struct forward_table *t = w->forwards;
        size_t nt = forward_table_size(t), i = 0, j = 0, m = 0;
        struct fwd_listener **next = malloc((nt + 1) * sizeof *next);
        if (!next) {
                w->fwd_incomplete = true;
                w->fwd_retry_at = w->now + FORWARD_RETRY_MS;
                return;
        }
        bool incomplete = false;
        while (i < nt || j < w->n_fwd) {
                uint32_t kt = UINT32_MAX, kl = UINT32_MAX;
                if (i < nt) {
                        const struct forward *f = forward_table_at(t, i);
                        kt = forward_key(f->proto, f->public_port);
                }
                if (j < w->n_fwd)
                        kl = w->fwd[j]->key;
                if (kl < kt) {
                        fwd_listener_close(w, w->fwd[j++]);
                } else if (kl == kt) {
                        next[m++] = w->fwd[j++];
                        i++;
                } else {
                        struct fwd_listener *l = fwd_listener_open(w, kt);
                        if (l)
                                next[m++] = l;
                        else
                                incomplete = true;
                        i++;
                }
        }
        free(w->fwd);
        w->fwd = next;
        w->n_fwd = m;
        w->fwd_incomplete = incomplete;
        w->fwd_retry_at = w->now + FORWARD_RETRY_MS;
}

/* ---- user-space forwards: UDP sessions ---- */

static bool sockaddr_same(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
        if (a->ss_family != b->ss_family)
                return false;
        if (a->ss_family == AF_INET) {
                const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
                return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
        }
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
        return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}

static uint32_t udp_hash(const struct fwd_listener *l, const struct sockaddr_storage *ss) {
        struct ip_addr a = sockaddr_ip(ss);
        uint16_t port = ss->ss_family == AF_INET ? ((const struct sockaddr_in *)ss)->sin_port
                                                 : ((const struct sockaddr_in6 *)ss)->sin6_port;
        uint32_t h = 2166136261u ^ l->key;
        for (size_t i = 0; i < 16; i++)
                h = (h ^ a.bytes[i]) * 16777619u;
        h = (h ^ port) * 16777619u;
        return h;
}

static void udp_lru_unlink(struct worker *w, struct udp_session *s) {
        if (s->prev)
                s->prev->next = s->next;
        else
                w->udp_head = s->next;
        if (s->next)
                s->next->prev = s->prev;
        else
                w->udp_tail = s->prev;
        s->prev = s->next = NULL;
}

/* Activity: the session moves to the end of the idle order with a fresh deadline. */
static void udp_touch(struct worker *w, struct udp_session *s) {
        if (s->deadline) /* linked: a new session is not yet */
                udp_lru_unlink(w, s);
        s->deadline = w->now + w->proxy->cfg.udp_timeout_ms;
        s->prev = w->udp_tail;
        if (w->udp_tail)
                w->udp_tail->next = s;
        else
                w->udp_head = s;
        w->udp_tail = s;
}

static void udp_session_close(struct worker *w, struct udp_session *s) {
        if (s->ref.fd < 0)
                return;
        struct proxy *p = w->proxy;
        struct udp_session **pp = &w->udp_buckets[s->hash & (UDP_BUCKETS - 1)];
        while (*pp && *pp != s)
                pp = &(*pp)->hnext;
        if (*pp)
                *pp = s->hnext;
        udp_lru_unlink(w, s);
        close(s->ref.fd);
        s->ref.fd = -1;
        atomic_fetch_sub(&p->total, 1);
        atomic_fetch_sub(&p->per_source[s->source_bucket], 1);
        atomic_fetch_sub_explicit(&w->udp_sessions, 1, memory_order_relaxed);
        s->next = w->udp_zombies;
        w->udp_zombies = s;
}

/* A session for a new client: counted against max_connections like a TCP relay. */
static struct udp_session *udp_session_new(struct worker *w, struct fwd_listener *l, const struct sockaddr_storage *from,
                                           socklen_t from_len, uint32_t hash) {
        struct proxy *p = w->proxy;
        const struct forward *f = forward_table_lookup(w->forwards, PROTO_UDP, l->key & 0xffff);
        if (!f) {
                stat_add(&w->rejected_no_route, 1);
                return NULL;
        }
        uint32_t bucket = source_bucket(from);
        uint32_t total = atomic_fetch_add(&p->total, 1) + 1;
        uint16_t mine = atomic_fetch_add(&p->per_source[bucket], 1) + 1;
        struct udp_session *s = NULL;
        int fd = -1;
        if (total > p->cfg.max_connections || mine > p->cfg.max_connections_per_source ||
            !(s = calloc(1, sizeof *s))) {
                atomic_fetch_sub(&p->total, 1);
                atomic_fetch_sub(&p->per_source[bucket], 1);
                stat_add(&w->rejected_limit, 1);
                return NULL;
        }
        struct sockaddr_storage to = {0};
        socklen_t tl;
        if (f->backend.family == AF_INET) {
                struct sockaddr_in *in = (struct sockaddr_in *)&to;
                in->sin_family = AF_INET;
                in->sin_port = htons(f->backend_port);
                memcpy(&in->sin_addr, f->backend.bytes, 4);
                tl = sizeof *in;
        } else {
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&to;
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons(f->backend_port);
                memcpy(&in6->sin6_addr, f->backend.bytes, 16);
                tl = sizeof *in6;
        }
        fd = socket(to.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&to, tl) < 0)
                goto fail;
        s->ref = (struct ep_ref){.kind = REF_UDP_SESSION, .fd = fd, .session = s};
        struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = &s->ref};
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
                goto fail;
        s->listener = l;
        s->client = *from;
        s->client_len = from_len;
        s->hash = hash;
        s->source_bucket = bucket;
        s->hnext = w->udp_buckets[hash & (UDP_BUCKETS - 1)];
        w->udp_buckets[hash & (UDP_BUCKETS - 1)] = s;
        udp_touch(w, s);
        stat_add(&w->udp_sessions, 1);
        stat_add(&w->accepted, 1);
        return s;
fail:
        if (fd >= 0)
                close(fd);
        free(s);
        atomic_fetch_sub(&p->total, 1);
        atomic_fetch_sub(&p->per_source[bucket], 1);
        stat_add(&w->backend_failed, 1);
        return NULL;
}

/* Datagrams from clients on a public UDP port: each goes to the VM through its session. */
static void udp_listener_readable(struct worker *w, struct fwd_listener *l) {
        for (;;) {
                struct sockaddr_storage from;
                socklen_t fl = sizeof from;
                ssize_t n = recvfrom(l->ref.fd, w->udp_buf, UDP_DATAGRAM_MAX, 0, (struct sockaddr *)&from, &fl);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return; /* EAGAIN; a pending ICMP error is consumed by this call too */
                }
                uint32_t h = udp_hash(l, &from);
                struct udp_session *s = w->udp_buckets[h & (UDP_BUCKETS - 1)];
                while (s && !(s->listener == l && sockaddr_same(&s->client, &from)))
                        s = s->hnext;
                if (!s && !(s = udp_session_new(w, l, &from, fl, h)))
                        continue; /* dropped, as the kernel would drop it without a route */
                /* The VM refusing an earlier datagram (ICMP) shows up here once; send again. */
                ssize_t k = send(s->ref.fd, w->udp_buf, (size_t)n, 0);
                if (k < 0 && errno == ECONNREFUSED)
                        k = send(s->ref.fd, w->udp_buf, (size_t)n, 0);
                if (k > 0) {
                        stat_add(&w->bytes_in, (uint64_t)k);
                        stat_add(&w->proxy->fwd_bytes[l->key][0], (uint64_t)k);
                }
                udp_touch(w, s);
        }
}

/* Replies from the VM: back to the client from the public socket (so from the public port). */
static void udp_session_readable(struct worker *w, struct udp_session *s) {
        for (int errors = 0; errors < 8;) {
                ssize_t n = recv(s->ref.fd, w->udp_buf, UDP_DATAGRAM_MAX, 0);
                if (n < 0) {
                        if (errno == EAGAIN)
                                return;
                        errors++; /* EINTR, or an ICMP error from the VM side: keep the session */
                        continue;
                }
                ssize_t k = sendto(s->listener->ref.fd, w->udp_buf, (size_t)n, 0, (struct sockaddr *)&s->client,
                                   s->client_len);
                if (k > 0) {
                        stat_add(&w->bytes_out, (uint64_t)k);
                        stat_add(&w->proxy->fwd_bytes[s->listener->key][1], (uint64_t)k);
                }
                udp_touch(w, s);
        }
}

static void udp_expire(struct worker *w) {
        while (w->udp_head && w->udp_head->deadline <= w->now)
                udp_session_close(w, w->udp_head);
}

static void forward_zombies_free(struct worker *w) {
        while (w->udp_zombies) {
                struct udp_session *s = w->udp_zombies;
                w->udp_zombies = s->next;
                free(s);
        }
        while (w->fwd_zombies) {
                struct fwd_listener *l = w->fwd_zombies;
                w->fwd_zombies = l->next_zombie;
                free(l);
        }
}

static void expire(struct worker *w) {
        for (enum list_id l = 0; l < LIST_N; l++)
                while (w->heads[l] && w->heads[l]->deadline <= w->now) {
                        struct conn *c = w->heads[l];
                        if (l == LIST_HANDSHAKE || l == LIST_CONNECT) {
                                stat_add(&w->rejected_timeout, 1);
                                if (c->rc)
                                        stat_add(&c->rc->timeouts, 1);
                                if (c->kind == LISTEN_HTTP && (l == LIST_CONNECT || c->len > 0)) {
                                        /* Sockets are edge-triggered: write the answer now. */
                                        respond_http_error(w, c, l == LIST_CONNECT ? 504 : 408);
                                        conn_drive(w, c, NULL, 0);
                                        continue;
                                }
                        }
                        conn_close(w, c);
                }
}

/* A new table arrived: with close_removed, drop relays whose route is gone or changed. */
static void close_removed_routes(struct worker *w) {
        for (enum list_id l = 0; l < LIST_N; l++) {
                struct conn *c = w->heads[l];
                while (c) {
                        struct conn *next = c->next;
                        if (c->forward) {
                                const struct forward *f =
                                        forward_table_lookup(w->forwards, (uint8_t)(c->fwd_key >> 16), c->fwd_key & 0xffff);
                                if (!f || !ip_addr_equal(&f->backend, &c->route.backend) ||
                                    f->backend_port != c->route.https_port) {
                                        stat_add(&w->closed_removed, 1);
                                        conn_close(w, c);
                                }
                        } else if (c->has_route && c->route.name[0]) {
                                const struct route *r = w->table ? route_table_lookup(w->table, c->route.name,
                                                                                      strlen(c->route.name))
                                                                 : NULL;
                                if (!r || !streq(r->name, c->route.name) ||
                                    !ip_addr_equal(&r->backend, &c->route.backend)) {
                                        stat_add(&w->closed_removed, 1);
                                        conn_close(w, c);
                                }
                        }
                        c = next;
                }
        }
}

static void *worker_main(void *arg) {
        struct worker *w = arg;
        struct proxy *p = w->proxy;
        struct epoll_event events[EVENTS_MAX];
        while (!atomic_load(&p->stopping)) {
                /* A publish that came after we read the generation may have had its wake-up
                 * drained with an earlier one: never sleep on a generation we have not applied. */
                int timeout = atomic_load(&p->gen) != w->table_gen ? 0 : 250;
                int n = epoll_wait(w->epfd, events, EVENTS_MAX, timeout);
                if (n < 0 && errno != EINTR)
                        break;
                w->now = now_ms();
                /* Generation first, then the table: the table we use is at least that new,
                 * so announcing the generation frees only tables we no longer hold. */
                uint64_t gen = atomic_load(&p->gen);
                w->table = atomic_load(&p->table);
                w->forwards = atomic_load(&p->forwards);
                atomic_store(&w->seen_gen, gen);
                if (gen != w->table_gen) {
                        bool first = w->table_gen == 0;
                        w->table_gen = gen;
                        if (p->cfg.forwards)
                                forwards_reconcile(w);
                        if (p->cfg.close_removed)
                                close_removed_routes(w);
                        /* Until the first routes arrive, clients wait in the listen backlog
                         * instead of being refused; the listeners are edge-triggered, so
                         * collect what queued meanwhile now. */
                        if (first)
                                for (size_t j = 0; j < w->n_listeners; j++)
                                        accept_all(w, &w->listeners[j]);
                } else if (w->fwd_incomplete && w->now >= w->fwd_retry_at)
                        forwards_reconcile(w);
                atomic_store(&w->applied_gen, gen);
                for (int i = 0; i < n; i++) {
                        struct ep_ref *ref = events[i].data.ptr;
                        if (ref->kind == REF_WAKE) {
                                uint64_t v;
                                (void)!read(w->wakefd, &v, sizeof v);
                        } else if (ref->kind == REF_LISTENER) {
                                if (ref->fd >= 0 && w->table_gen)
                                        accept_all(w, ref);
                        } else if (ref->kind == REF_UDP_LISTENER) {
                                if (ref->fd >= 0)
                                        udp_listener_readable(w, ref->fwd);
                        } else if (ref->kind == REF_UDP_SESSION) {
                                if (ref->fd >= 0)
                                        udp_session_readable(w, ref->session);
                        } else
                                conn_drive(w, ref->conn, ref, events[i].events);
                }
                expire(w);
                udp_expire(w);
                zombies_free(w);
                forward_zombies_free(w);
        }
        /* Shutdown: close everything this worker owns. */
        for (enum list_id l = 0; l < LIST_N; l++)
                while (w->heads[l])
                        conn_close(w, w->heads[l]);
        for (size_t i = 0; i < w->n_fwd; i++)
                fwd_listener_close(w, w->fwd[i]);
        free(w->fwd);
        w->fwd = NULL;
        w->n_fwd = 0;
        zombies_free(w);
        forward_zombies_free(w);
        return NULL;
}

static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *sl) {
        struct ip_addr a;
        uint16_t port;
        if (ip_endpoint_parse(s, &a, &port) < 0)
                return -EINVAL;
        memset(ss, 0, sizeof *ss);
        if (a.family == AF_INET) {
                struct sockaddr_in *in = (struct sockaddr_in *)ss;
                in->sin_family = AF_INET;
                in->sin_port = htons(port);
                memcpy(&in->sin_addr, a.bytes, 4);
                *sl = sizeof *in;
        } else {
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons(port);
                memcpy(&in6->sin6_addr, a.bytes, 16);
                *sl = sizeof *in6;
        }
        return 0;
}

/* probed: the port is known to be ours (an earlier worker bound it, or it is a forward
 * that each worker binds on its own), so skip the check for foreign listeners. */
static int listen_on(const char *addr, int type, bool probed, int *ret_fd, char *err, size_t err_size) {
        struct sockaddr_storage ss;
        socklen_t sl;
        if (parse_listen(addr, &ss, &sl) < 0) {
                snprintf(err, err_size, "listen address '%s' is not ADDR:PORT (IPv6 in brackets)", addr);
                return -EINVAL;
        }
        _cleanup_close_ int fd = -1;
        int one = 1, zero = 0;
        /* SO_REUSEPORT would let us share the port with any other root process that set it
         * too, silently splitting the traffic: first make sure nobody else listens there. */
        if (!probed) {
                _cleanup_close_ int probe = socket(ss.ss_family, type | SOCK_CLOEXEC, 0);
                if (probe < 0)
                        goto fail;
                if (setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
                    (ss.ss_family == AF_INET6 && setsockopt(probe, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) < 0))
                        goto fail;
                if (bind(probe, (struct sockaddr *)&ss, sl) < 0) {
                        int e = errno;
                        snprintf(err, err_size, "cannot listen on %s: %s%s", addr, strerror(e),
                                 e == EADDRINUSE ? " (another program, or another edgegwd, listens there)" : "");
                        return -e;
                }
        }
        fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                goto fail;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
                goto fail;
        /* [::] takes IPv4 too (as mapped addresses), so one listener serves both. */
        if (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) < 0)
                goto fail;
        if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || (type == SOCK_STREAM && listen(fd, 4096) < 0))
                goto fail;
        *ret_fd = TAKE_FD(fd);
        return 0;
fail:;
        int e = errno;
        snprintf(err, err_size, "cannot listen on %s: %s", addr, strerror(e));
        return -e;
}

static void workers_close(struct proxy *p) {
        for (unsigned i = 0; i < p->n_workers; i++) {
                struct worker *w = &p->workers[i];
                for (size_t j = 0; j < w->n_listeners; j++)
                        close(w->listeners[j].fd);
                for (size_t j = 0; j < w->n_pipes; j++) {
                        close(w->pipes[j][0]);
                        close(w->pipes[j][1]);
                }
                if (w->epfd >= 0)
                        close(w->epfd);
                if (w->wakefd >= 0)
                        close(w->wakefd);
                free(w->udp_buckets);
                free(w->udp_buf);
                if (w->route_stats) {
                        size_t it = 0;
                        void *v;
                        while (hashmap_next(w->route_stats, &it, NULL, &v))
                                free(v);
                        w->route_stats = hashmap_free(w->route_stats);
                }
                pthread_mutex_destroy(&w->route_stats_lock);
        }
}

static void route_table_free_void(void *t) {
        route_table_free(t);
}

static void forward_table_free_void(void *t) {
        forward_table_free(t);
}

int proxy_start(const struct proxy_config *cfg, struct proxy **ret, char *err, size_t err_size) {
        struct proxy *p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        p->cfg = *cfg;
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        p->n_workers = cfg->workers ? cfg->workers : (unsigned)(cores > 0 ? cores : 1);
        if (p->n_workers > WORKERS_MAX)
                p->n_workers = WORKERS_MAX;
        p->workers = calloc(p->n_workers, sizeof *p->workers);
        if (cfg->forwards) {
                p->listening = calloc(FORWARD_KEYS, sizeof *p->listening);
                p->fwd_bytes = calloc(FORWARD_KEYS, sizeof *p->fwd_bytes);
        }
        if (!p->workers || (cfg->forwards && (!p->listening || !p->fwd_bytes))) {
                free(p->workers);
                free((void *)p->listening);
                free((void *)p->fwd_bytes);
                free(p);
                return -ENOMEM;
        }
        int r = 0;
        unsigned started = 0;
        for (unsigned i = 0; i < p->n_workers; i++) {
                struct worker *w = &p->workers[i];
                w->proxy = p;
                pthread_mutex_init(&w->route_stats_lock, NULL);
                (void)hashmap_new(&w->route_stats); /* NULL: per-route counters off */
                w->epfd = epoll_create1(EPOLL_CLOEXEC);
                w->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
                if (w->epfd < 0 || w->wakefd < 0) {
                        r = -errno;
                        snprintf(err, err_size, "epoll/eventfd: %s", strerror(errno));
                        goto fail;
                }
                if (cfg->forwards) {
                        w->udp_buckets = calloc(UDP_BUCKETS, sizeof *w->udp_buckets);
                        w->udp_buf = malloc(UDP_DATAGRAM_MAX);
                        if (!w->udp_buckets || !w->udp_buf) {
                                r = -ENOMEM;
                                snprintf(err, err_size, "out of memory");
                                goto fail;
                        }
                }
                w->wake_ref = (struct ep_ref){.kind = REF_WAKE, .fd = w->wakefd};
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &w->wake_ref};
                epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wakefd, &ev);
                for (int kind = 0; kind < 2; kind++)
                        for (size_t j = 0; j < PROXY_LISTEN_MAX; j++) {
                                const char *a = kind == LISTEN_HTTPS ? cfg->https_listen[j] : cfg->http_listen[j];
                                if (!a[0])
                                        continue;
                                int fd = -1;
                                if ((r = listen_on(a, SOCK_STREAM, i > 0, &fd, err, err_size)) < 0)
                                        goto fail;
                                struct ep_ref *l = &w->listeners[w->n_listeners++];
                                *l = (struct ep_ref){.kind = REF_LISTENER, .fd = fd, .listener = kind};
                                ev = (struct epoll_event){.events = EPOLLIN | EPOLLET, .data.ptr = l};
                                epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev);
                        }
        }
        for (; started < p->n_workers; started++)
                if ((r = -pthread_create(&p->workers[started].thread, NULL, worker_main, &p->workers[started])) < 0) {
                        snprintf(err, err_size, "cannot start proxy worker: %s", strerror(-r));
                        goto fail;
                }
        *ret = p;
        return 0;
fail:
        atomic_store(&p->stopping, true);
        for (unsigned i = 0; i < started; i++)
                pthread_join(p->workers[i].thread, NULL);
        workers_close(p);
        free(p->workers);
        free((void *)p->listening);
        free((void *)p->fwd_bytes);
        free(p);
        return r;
}

struct proxy *proxy_stop(struct proxy *p) {
        if (!p)
                return NULL;
        atomic_store(&p->stopping, true);
        for (unsigned i = 0; i < p->n_workers; i++) {
                uint64_t one = 1;
                (void)!write(p->workers[i].wakefd, &one, sizeof one);
        }
        for (unsigned i = 0; i < p->n_workers; i++)
                pthread_join(p->workers[i].thread, NULL);
        workers_close(p);
        route_table_free(atomic_load(&p->table));
        forward_table_free(atomic_load(&p->forwards));
        while (p->retired) {
                struct retired *r = p->retired;
                p->retired = r->next;
                r->free_table(r->table);
                free(r);
        }
        free(p->workers);
        free((void *)p->listening);
        free((void *)p->fwd_bytes);
        free(p);
        return NULL;
}

/* The table just replaced goes to the retired list under the new generation; then the
 * workers are woken so the change applies now. */
static void retire_and_wake(struct proxy *p, void *old, void (*free_table)(void *)) {
        uint64_t gen = atomic_fetch_add(&p->gen, 1) + 1;
        if (old) {
                struct retired *r = malloc(sizeof *r);
                if (r) {
                        *r = (struct retired){.table = old, .free_table = free_table, .gen = gen, .next = p->retired};
                        p->retired = r;
                }
                /* Out of memory: leaking one table is better than freeing it under a reader. */
        }
        for (unsigned i = 0; i < p->n_workers; i++) {
                uint64_t one = 1;
                (void)!write(p->workers[i].wakefd, &one, sizeof one);
        }
        proxy_reclaim(p);
}

bool proxy_wait_applied(struct proxy *p, int timeout_ms) {
        uint64_t target = atomic_load(&p->gen);
        uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
        for (;;) {
                unsigned behind = 0;
                for (unsigned i = 0; i < p->n_workers; i++)
                        if (atomic_load(&p->workers[i].applied_gen) < target)
                                behind++;
                if (!behind)
                        return true;
                if (now_ms() >= deadline)
                        return false;
                /* Workers were woken by the publish; they get there in microseconds. */
                struct timespec ts = {.tv_nsec = 50 * 1000};
                nanosleep(&ts, NULL);
        }
}

void proxy_publish(struct proxy *p, struct route_table *t) {
        struct route_table *old = atomic_exchange(&p->table, t);
        retire_and_wake(p, old, route_table_free_void);
}

const struct route_table *proxy_routes(struct proxy *p) {
        /* Only the main thread publishes and reclaims, so the current table stays while it reads. */
        return atomic_load(&p->table);
}

void proxy_publish_forwards(struct proxy *p, struct forward_table *t) {
        if (!p->cfg.forwards) {
                forward_table_free(t);
                return;
        }
        /* Only the main thread publishes, so the current table cannot be freed meanwhile. */
        const struct forward_table *cur = atomic_load(&p->forwards);
        for (size_t i = 0; i < forward_table_size(t); i++) {
                const struct forward *f = forward_table_at(t, i), *o = forward_table_lookup(cur, f->proto, f->public_port);
                if (!o || !ip_addr_equal(&o->backend, &f->backend) || o->backend_port != f->backend_port) {
                        uint32_t k = forward_key(f->proto, f->public_port);
                        atomic_store(&p->fwd_bytes[k][0], 0);
                        atomic_store(&p->fwd_bytes[k][1], 0);
                }
        }
        struct forward_table *old = atomic_exchange(&p->forwards, t);
        retire_and_wake(p, old, forward_table_free_void);
}

size_t proxy_forward_capacity(const struct proxy *p) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
                rl.rlim_cur = 1u << 20;
        /* Kept free: two sockets per relay up to max_connections, each worker's pipe pool,
         * the :443/:80 listeners, epoll/eventfds, the store, the API, logs. */
        uint64_t reserve = 2ull * p->cfg.max_connections + (uint64_t)p->n_workers * (2 * PIPE_POOL_MAX + 8) + 256;
        if (rl.rlim_cur <= reserve)
                return 0;
        return (size_t)((rl.rlim_cur - reserve) / p->n_workers);
}

int proxy_forward_listeners(struct proxy *p, struct nft_items *ret) {
        size_t n = 0;
        uint32_t *keys = NULL;
        if (p->cfg.forwards) {
                for (uint32_t k = 0; k < FORWARD_KEYS; k++)
                        if (atomic_load_explicit(&p->listening[k], memory_order_relaxed) >= p->n_workers)
                                n++;
                keys = malloc((n ? n : 1) * sizeof *keys);
                if (!keys)
                        return -ENOMEM;
                size_t m = 0;
                for (uint32_t k = 0; k < FORWARD_KEYS && m < n; k++)
                        if (atomic_load_explicit(&p->listening[k], memory_order_relaxed) >= p->n_workers)
                                keys[m++] = k;
                n = m;
        }
        int r = forward_items_from_keys(keys, n, ret);
        free(keys);
        return r;
}

void proxy_forward_bytes(struct proxy *p, uint8_t proto, uint16_t port, uint64_t *ret_in, uint64_t *ret_out) {
        *ret_in = *ret_out = 0;
        if (!p->cfg.forwards || proto > PROTO_UDP)
                return;
        uint32_t k = forward_key(proto, port);
        *ret_in = atomic_load_explicit(&p->fwd_bytes[k][0], memory_order_relaxed);
        *ret_out = atomic_load_explicit(&p->fwd_bytes[k][1], memory_order_relaxed);
}

void proxy_reclaim(struct proxy *p) {
        uint64_t oldest = UINT64_MAX;
        for (unsigned i = 0; i < p->n_workers; i++) {
                uint64_t s = atomic_load(&p->workers[i].seen_gen);
                if (s < oldest)
                        oldest = s;
        }
        struct retired **pp = &p->retired;
        while (*pp) {
                struct retired *r = *pp;
                if (r->gen <= oldest) {
                        *pp = r->next;
                        r->free_table(r->table);
                        free(r);
                } else
                        pp = &r->next;
        }
}

int proxy_route_stats(struct proxy *p, struct proxy_route_stats **ret, size_t *ret_n) {
        struct hashmap *sum;
        int k = hashmap_new(&sum);
        if (k < 0)
                return k;
        struct proxy_route_stats *all = NULL;
        size_t n = 0, cap = 0;
        for (unsigned i = 0; i < p->n_workers && k >= 0; i++) {
                struct worker *w = &p->workers[i];
                if (!w->route_stats)
                        continue;
                pthread_mutex_lock(&w->route_stats_lock);
                size_t it = 0;
                const char *name;
                void *v;
                while (k >= 0 && hashmap_next(w->route_stats, &it, &name, &v)) {
                        const struct route_counters *rc = v;
                        uintptr_t idx = (uintptr_t)hashmap_get(sum, name);
                        if (!idx) {
                                if (n == cap) {
                                        size_t ncap = cap ? cap * 2 : 64;
                                        struct proxy_route_stats *na = realloc(all, ncap * sizeof *na);
                                        if (!na) {
                                                k = -ENOMEM;
                                                break;
                                        }
                                        all = na;
                                        cap = ncap;
                                }
                                all[n] = (struct proxy_route_stats){0};
                                snprintf(all[n].name, sizeof all[n].name, "%s", name);
                                if ((k = hashmap_put(sum, name, (void *)(uintptr_t)(n + 1))) < 0)
                                        break;
                                idx = ++n;
                        }
                        struct proxy_route_stats *o = &all[idx - 1];
                        o->connections += atomic_load(&rc->connections);
                        o->bytes_in += atomic_load(&rc->bytes_in);
                        o->bytes_out += atomic_load(&rc->bytes_out);
                        o->rejected_not_allowed += atomic_load(&rc->rejected_not_allowed);
                        o->backend_failed += atomic_load(&rc->backend_failed);
                        o->timeouts += atomic_load(&rc->timeouts);
                }
                pthread_mutex_unlock(&w->route_stats_lock);
        }
        hashmap_free(sum);
        if (k < 0) {
                free(all);
                return k;
        }
        *ret = all;
        *ret_n = n;
        return 0;
}

void proxy_get_stats(struct proxy *p, struct proxy_stats *ret) {
        *ret = (struct proxy_stats){0};
        for (unsigned i = 0; i < p->n_workers; i++) {
                struct worker *w = &p->workers[i];
                ret->accepted += atomic_load(&w->accepted);
                ret->active += atomic_load(&w->active);
                ret->relayed += atomic_load(&w->relayed);
                ret->redirected += atomic_load(&w->redirected);
                ret->bytes_in += atomic_load(&w->bytes_in);
                ret->bytes_out += atomic_load(&w->bytes_out);
                ret->rejected_limit += atomic_load(&w->rejected_limit);
                ret->rejected_no_route += atomic_load(&w->rejected_no_route);
                ret->rejected_not_allowed += atomic_load(&w->rejected_not_allowed);
                ret->rejected_bad_request += atomic_load(&w->rejected_bad_request);
                ret->rejected_timeout += atomic_load(&w->rejected_timeout);
                ret->backend_failed += atomic_load(&w->backend_failed);
                ret->closed_removed += atomic_load(&w->closed_removed);
                ret->udp_sessions += atomic_load(&w->udp_sessions);
                ret->forward_bind_failed += atomic_load(&w->forward_bind_failed);
        }
}
