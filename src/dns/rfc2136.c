/* SPDX-License-Identifier: MIT */
/*
 * The rfc2136 DNS provider (dns/provider.h): DNS UPDATE with TSIG hmac-sha256 to an
 * authoritative server, on dns/client.c.
 *
 * Ownership is a TXT record "edgegw-owner=OWNER" at a name of its own beside the record:
 * _edgegw-a.NAME for NAME's A record, _edgegw-aaaa.NAME for its AAAA (the way external-dns
 * keeps its registry). A name of its own, because a value-dependent prerequisite (RFC 2136
 * §2.4.2) compares the whole RRset: at a name that holds only our mark, "our mark exists"
 * is exactly the RRset {our mark}. Every write that depends on ownership carries that
 * prerequisite, so the server applies it only if the mark is still ours, and every write
 * that creates a record carries "no such RRset": a record someone else adds between our
 * look and our write makes the UPDATE fail (YXRRSET/NXRRSET) instead of clobbering it, and
 * the provider looks again.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "core/util.h"
#include "provider.h"

#define TXT_MAX 128

struct rfc2136 {
        struct dns_provider base;
        struct dns_client client;
        struct dns_tsig_secret secret;
        struct dns_tsig_key key;
        char zone[DNS_NAME_TEXT_MAX + 1];
        char server_text[64];
};

static struct rfc2136 *self(struct dns_provider *p) {
        return (struct rfc2136 *)p;
}

/* The ownership mark: its name for (name, type), its text and its TXT RDATA. */
static size_t mark_rdata(const struct rfc2136 *r, char text[static TXT_MAX], uint8_t rdata[static 256]) {
        snprintf(text, TXT_MAX, "edgegw-owner=%s", r->base.owner);
        return dns_txt_rdata(text, rdata);
}

static bool mark_name(const char *name, uint16_t type, char out[static DNS_NAME_TEXT_MAX + 1]) {
        const char *prefix = type == DNS_TYPE_A ? "_edgegw-a." : "_edgegw-aaaa.";
        size_t lp = strlen(prefix), ln = strlen(name);
        if (lp + ln > 253)
                return false;
        memcpy(out, prefix, lp);
        memcpy(out + lp, name, ln + 1);
        return true;
}

/* A dns_client status as a provider status: the network and the server's bad days are
 * transient, a refusal of our key or our zone needs an operator. */
static enum dns_provider_status classify(enum dns_client_status st) {
        switch (st) {
        case DNS_CLIENT_OK: return DNS_PROVIDER_OK;
        case DNS_CLIENT_TIMEOUT:
        case DNS_CLIENT_NETWORK:
        case DNS_CLIENT_SERVER_ERROR:
        case DNS_CLIENT_MALFORMED: return DNS_PROVIDER_RETRY;
        default: return DNS_PROVIDER_FAILED;
        }
}

static bool exchange(struct rfc2136 *r, const struct dns_writer *w, const char *what, struct dns_client_result *res,
                     struct dns_provider_outcome *out) {
        size_t len;
        if (dns_writer_finish(w, &len) < 0) {
                dns_provider_outcome_set(out, DNS_PROVIDER_FAILED, "%s: cannot build the message (name too long?)", what);
                return false;
        }
        enum dns_client_status st = dns_client_exchange(&r->client, w->buf, len, res);
        if (st != DNS_CLIENT_OK) {
                dns_provider_outcome_set(out, classify(st), "%s: %s (server %s)", what, res->error, r->server_text);
                return false;
        }
        return true;
}

struct look {
        size_t n; /* records of the type at the name */
        bool has[DNS_ANSWERS_MAX];
        uint8_t addrs[DNS_ANSWERS_MAX][16];
        uint32_t ttl;
        bool other; /* something else answered (a CNAME at the name) */
        bool marked; /* our mark is there, alone */
        char other_owner[TXT_MAX]; /* another mark's text ("" = none) */
};

/* Looks at name/type and name/TXT. */
static bool look(struct rfc2136 *r, const char *name, uint16_t type, struct look *ret, struct dns_provider_outcome *out) {
        *ret = (struct look){0};
        uint8_t buf[512];
        struct dns_writer w;
        struct dns_client_result res;
        char what[64];
        snprintf(what, sizeof what, "query %s", dns_type_to_string(type));
        dns_query_begin(&w, buf, sizeof buf, 0, name, type);
        if (!exchange(r, &w, what, &res, out))
                return false;
        if (res.resp.status != DNS_STATUS_OK && res.resp.status != DNS_STATUS_NXDOMAIN) {
                dns_provider_outcome_set(out, DNS_PROVIDER_RETRY, "%s: %s", what, dns_status_to_string(res.resp.status));
                return false;
        }
        for (size_t i = 0; i < res.resp.n_answers; i++) {
                const struct dns_answer *a = &res.resp.answers[i];
                if (a->type == type && strcasecmp(a->name, name) == 0 && ret->n < DNS_ANSWERS_MAX) {
                        memcpy(ret->addrs[ret->n++], a->addr, 16);
                        ret->ttl = a->ttl;
                } else
                        ret->other = true;
        }
        if (res.resp.answers_skipped)
                ret->other = true;

        char mname[DNS_NAME_TEXT_MAX + 1];
        if (!mark_name(name, type, mname)) {
                dns_provider_outcome_set(out, DNS_PROVIDER_FAILED, "%s: too long for the ownership mark's name", name);
                return false;
        }
        dns_query_begin(&w, buf, sizeof buf, 0, mname, DNS_TYPE_TXT);
        if (!exchange(r, &w, "query TXT", &res, out))
                return false;
        char text[TXT_MAX];
        uint8_t rdata[256];
        mark_rdata(r, text, rdata);
        size_t n_txt = 0;
        for (size_t i = 0; i < res.resp.n_answers; i++) {
                if (res.resp.answers[i].type != DNS_TYPE_TXT)
                        continue;
                n_txt++;
                if (streq(res.resp.answers[i].txt, text))
                        ret->marked = true;
                else
                        snprintf(ret->other_owner, sizeof ret->other_owner, "%.100s", res.resp.answers[i].txt);
        }
        if (n_txt > 1)
                ret->marked = false; /* not ours alone */
        return true;
}

static void format_addr(uint16_t type, const uint8_t *addr, char out[static 46]) {
        inet_ntop(type == DNS_TYPE_A ? AF_INET : AF_INET6, addr, out, 46);
}

/* The UPDATE's own outcome: NOERROR is done; a failed prerequisite means the name changed
 * under us since we looked: retry soon, the next look sees the new state. */
static bool update_ok(const struct dns_client_result *res, const char *what, struct dns_provider_outcome *out) {
        if (res->resp.status == DNS_STATUS_OK)
                return true;
        enum dns_status s = res->resp.status;
        if (s == DNS_STATUS_YXRRSET || s == DNS_STATUS_NXRRSET || s == DNS_STATUS_YXDOMAIN || s == DNS_STATUS_NXDOMAIN) {
                dns_provider_outcome_set(out, DNS_PROVIDER_RETRY, "%s: the name changed meanwhile (%s)", what,
                                         dns_status_to_string(s));
                out->row_only = true;
        }
        else
                dns_provider_outcome_set(out, DNS_PROVIDER_FAILED, "%s: %s", what, dns_status_to_string(s));
        return false;
}

static void publish_once(struct rfc2136 *r, const struct dns_record_want *want, struct dns_provider_outcome *out);

/* A lost race (the name changed between our look and our write) is retried at once, with
 * a fresh look; a second loss waits for the row's backoff. */
static void rfc2136_publish(struct dns_provider *p, const struct dns_record_want *want, const char *ref,
                            struct dns_provider_outcome *out) {
        (void)ref;
        for (int i = 0; i < 2; i++) {
                *out = (struct dns_provider_outcome){0};
                publish_once(self(p), want, out);
                if (!out->row_only || out->status != DNS_PROVIDER_RETRY)
                        return;
        }
}

static void publish_once(struct rfc2136 *r, const struct dns_record_want *want, struct dns_provider_outcome *out) {
        int family = want->type == DNS_TYPE_A ? AF_INET : AF_INET6;
        uint8_t addr[16] = {0};
        size_t alen = want->type == DNS_TYPE_A ? 4 : 16;
        if (!dns_type_to_string(want->type) || inet_pton(family, want->content, addr) != 1) {
                dns_provider_outcome_set(out, DNS_PROVIDER_FAILED, "cannot publish %s %s '%s'", want->name,
                                         dns_type_to_string(want->type) ?: "?", want->content);
                return;
        }
        struct look l;
        if (!look(r, want->name, want->type, &l, out))
                return;

        bool equal = l.n == 1 && memcmp(l.addrs[0], addr, alen) == 0;
        if (l.marked && equal && l.ttl == want->ttl)
                return; /* ours and as wanted */
        if (!l.marked && l.other_owner[0]) {
                dns_provider_outcome_set(out, DNS_PROVIDER_CONFLICT, "%s %s is marked \"%.60s\", not ours: left alone",
                                         want->name, dns_type_to_string(want->type), l.other_owner);
                out->row_only = true;
                return;
        }
        if (!l.marked && l.n > 0 && !equal) {
                char have[46];
                format_addr(want->type, l.addrs[0], have);
                dns_provider_outcome_set(out, DNS_PROVIDER_CONFLICT, "%s %s is %s%s, not edgegw's: left alone",
                                         want->name, dns_type_to_string(want->type), have, l.n > 1 ? " (and more)" : "");
                out->row_only = true;
                return;
        }
        if (l.n == 0 && l.other) {
                dns_provider_outcome_set(out, DNS_PROVIDER_CONFLICT,
                                         "%s has another record type (a CNAME?) that excludes %s: left alone", want->name,
                                         dns_type_to_string(want->type));
                out->row_only = true;
                return;
        }

        char text[TXT_MAX], mname[DNS_NAME_TEXT_MAX + 1];
        uint8_t mark[256], msg[1024], rr[16];
        size_t mark_len = mark_rdata(r, text, mark);
        (void)mark_name(want->name, want->type, mname); /* look() checked it fits */
        struct dns_writer w;
        dns_update_begin(&w, msg, sizeof msg, 0, r->zone);
        if (l.n == 0) {
                /* Create: only if nobody created it since we looked. */
                dns_update_prereq_rrset_absent(&w, want->name, want->type);
                if (!l.marked)
                        dns_update_prereq_rrset_absent(&w, mname, DNS_TYPE_TXT);
                snprintf(out->note, sizeof out->note, l.marked ? "re-created" : "created");
        } else if (l.marked) {
                dns_update_prereq_rr_exists(&w, mname, DNS_TYPE_TXT, mark, mark_len);
                snprintf(out->note, sizeof out->note, "fixed");
        } else {
                /* Adopt: the RRset must still be exactly the record that matches. */
                memcpy(rr, addr, alen);
                dns_update_prereq_rr_exists(&w, want->name, want->type, rr, alen);
                dns_update_prereq_rrset_absent(&w, mname, DNS_TYPE_TXT);
                snprintf(out->note, sizeof out->note, "adopted");
        }
        dns_update_delete_rrset(&w, want->name, want->type);
        if (want->type == DNS_TYPE_A)
                dns_update_add_a(&w, want->name, want->ttl, addr);
        else
                dns_update_add_aaaa(&w, want->name, want->ttl, addr);
        if (!l.marked)
                dns_update_add(&w, mname, want->ttl, DNS_TYPE_TXT, mark, mark_len);
        struct dns_client_result res;
        if (!exchange(r, &w, "update", &res, out) || !update_ok(&res, "update", out))
                out->note[0] = '\0';
}

static void rfc2136_retract(struct dns_provider *p, const struct dns_record_want *want, const char *ref,
                            struct dns_provider_outcome *out) {
        struct rfc2136 *r = self(p);
        if (!dns_type_to_string(want->type)) {
                dns_provider_outcome_set(out, DNS_PROVIDER_FAILED, "cannot retract type %u", want->type);
                return;
        }
        /* One UPDATE, guarded by our mark: removes the RRset and the mark if the mark is
         * there, and nothing if it is not (NXRRSET: not ours, or gone already). */
        char text[TXT_MAX], mname[DNS_NAME_TEXT_MAX + 1];
        uint8_t mark[256], msg[1024];
        size_t mark_len = mark_rdata(r, text, mark);
        if (!mark_name(want->name, want->type, mname)) {
                snprintf(out->note, sizeof out->note, "too long for a mark: never published, nothing to delete");
                return;
        }
        struct dns_writer w;
        dns_update_begin(&w, msg, sizeof msg, 0, r->zone);
        dns_update_prereq_rr_exists(&w, mname, DNS_TYPE_TXT, mark, mark_len);
        dns_update_delete_rrset(&w, want->name, want->type);
        dns_update_delete_rrset(&w, mname, DNS_TYPE_TXT);
        struct dns_client_result res;
        if (!exchange(r, &w, "delete", &res, out))
                return;
        if (res.resp.status == DNS_STATUS_NXRRSET || res.resp.status == DNS_STATUS_NXDOMAIN) {
                snprintf(out->note, sizeof out->note, "no edgegw record there (gone, or not ours): left alone");
                return;
        }
        (void)update_ok(&res, "delete", out);
        (void)ref;
}

static void destroy(struct rfc2136 *r) {
        dns_tsig_secret_clear(&r->secret);
        explicit_bzero(r, sizeof *r);
        free(r);
}

static void rfc2136_free(struct dns_provider *p) {
        destroy(self(p));
}

static const struct dns_provider_ops rfc2136_ops = {
        .name = "rfc2136",
        .publish = rfc2136_publish,
        .retract = rfc2136_retract,
        .free = rfc2136_free,
};

/* The secret from EDGEGW_DNS_TSIG_SECRET: bare base64. */
static int secret_from_env(const char *var, struct dns_tsig_secret *ret) {
        const char *v = getenv(var);
        if (!v || !*v)
                return -ENOENT;
        int n = dns_base64_decode(v, strlen(v), ret->secret, sizeof ret->secret);
        if (n <= 0)
                return -EBADMSG;
        ret->secret_len = (size_t)n;
        ret->name[0] = '\0';
        return 0;
}

int dns_rfc2136_open(const struct config *c, struct dns_provider **ret, char *err, size_t err_size) {
        struct rfc2136 *r = calloc(1, sizeof *r);
        if (!r)
                return -ENOMEM;
        r->base.ops = &rfc2136_ops;
        snprintf(r->zone, sizeof r->zone, "%s", c->dns_zone);
        snprintf(r->server_text, sizeof r->server_text, "%s", c->dns_server);
        int e;
        if (dns_client_parse_server(c->dns_server, &r->client.server, &r->client.server_len) < 0) {
                snprintf(err, err_size, "dns: server '%s' is not ADDR[:PORT]", c->dns_server);
                e = -EINVAL;
                goto fail;
        }
        r->client.timeout_ms = DNS_CLIENT_TIMEOUT_MS_DEFAULT;
        if (!c->dns_tsig_secret_file[0] && c->dns_secret_env[0]) {
                e = secret_from_env(c->dns_secret_env, &r->secret);
                if (e < 0) {
                        snprintf(err, err_size, "dns: %s does not hold a base64 TSIG secret", c->dns_secret_env);
                        goto fail;
                }
        } else if ((e = dns_tsig_secret_read(c->dns_tsig_secret_file, &r->secret)) < 0) {
                snprintf(err, err_size, "dns: tsig_secret_file %s: %s", c->dns_tsig_secret_file,
                         e == -EBADMSG          ? "no base64 secret found in it"
                         : e == -EPROTONOSUPPORT ? "its algorithm is not hmac-sha256"
                         : e == -EFBIG           ? "too large"
                                                 : strerror(-e));
                goto fail;
        }
        r->key = (struct dns_tsig_key){
                .name = c->dns_tsig_name,
                .secret = r->secret.secret,
                .secret_len = r->secret.secret_len,
                .hmac = dns_hmac_sha256_openssl,
        };
        /* The key name is the config's; keep our own copy so a reload cannot pull it away. */
        _Static_assert(sizeof r->secret.name >= sizeof c->dns_tsig_name, "key name fits");
        snprintf(r->secret.name, sizeof r->secret.name, "%s", c->dns_tsig_name);
        r->key.name = r->secret.name;
        r->client.key = &r->key;
        *ret = &r->base;
        return 0;
fail:
        destroy(r);
        return e;
}
