/* SPDX-License-Identifier: MIT */
/*
 * DNS messages for the rfc2136 provider: a sticky-error writer for UPDATEs and queries and a
 * reader for responses. Everything is read and written through cursors that check bounds
 * before every access; compressed names are followed only backwards, so a hostile pointer
 * loop cannot hold the reader.
 */
#include "wire.h"

#include <errno.h>
#include <string.h>

/* Header count fields; in an UPDATE they count the zone, prerequisite, update and
 * additional sections (RFC 2136 §2.2). */
#define HDR_QDCOUNT 4
#define HDR_ANCOUNT 6
#define HDR_NSCOUNT 8
#define HDR_ARCOUNT 10

#define SECTION_PREREQ 1
#define SECTION_UPDATE 2

/* ---- names ---- */

static bool label_char_ok(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
               c == '*';
}

size_t dns_name_to_wire(const char *name, uint8_t out[static DNS_NAME_WIRE_MAX]) {
        size_t n = strlen(name);
        if (n > 0 && name[n - 1] == '.')
                n--;
        size_t pos = 0;
        size_t i = 0;
        while (i < n) {
                size_t start = i;
                while (i < n && name[i] != '.') {
                        if (!label_char_ok(name[i]))
                                return 0;
                        i++;
                }
                size_t label = i - start;
                if (label == 0 || label > 63 || pos + 1 + label + 1 > DNS_NAME_WIRE_MAX)
                        return 0;
                out[pos++] = (uint8_t)label;
                for (size_t k = start; k < i; k++) {
                        char c = name[k];
                        out[pos++] = (uint8_t)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
                }
                if (i < n && ++i == n)
                        return 0; /* "a.b..": an empty last label (one trailing dot was stripped) */
        }
        out[pos++] = 0;
        return pos;
}

/* ---- the writer ---- */

static void writer_fail(struct dns_writer *w, int error) {
        if (w->error == 0)
                w->error = error;
}

static void put_bytes(struct dns_writer *w, const void *data, size_t n) {
        if (w->error)
                return;
        if (n > w->cap - w->len) {
                writer_fail(w, -ENOBUFS);
                return;
        }
        if (n)
                memcpy(w->buf + w->len, data, n);
        w->len += n;
}

static void put_u16(struct dns_writer *w, uint16_t v) {
        uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
        put_bytes(w, b, 2);
}

static void put_u32(struct dns_writer *w, uint32_t v) {
        uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
        put_bytes(w, b, 4);
}

static void put_name(struct dns_writer *w, const char *name) {
        uint8_t wire[DNS_NAME_WIRE_MAX];
        size_t n = dns_name_to_wire(name, wire);
        if (n == 0)
                writer_fail(w, -EINVAL);
        else
                put_bytes(w, wire, n);
}

static void count_inc(struct dns_writer *w, size_t field) {
        if (w->error)
                return;
        uint16_t c = (uint16_t)(w->buf[field] << 8 | w->buf[field + 1]);
        if (c == UINT16_MAX) {
                writer_fail(w, -ENOBUFS);
                return;
        }
        c++;
        w->buf[field] = (uint8_t)(c >> 8);
        w->buf[field + 1] = (uint8_t)c;
}

static void put_header(struct dns_writer *w, uint8_t *buf, size_t cap, uint16_t id, uint8_t opcode) {
        *w = (struct dns_writer){ .buf = buf, .cap = cap };
        uint8_t h[DNS_HEADER_SIZE] = { (uint8_t)(id >> 8), (uint8_t)id, (uint8_t)(opcode << 3) };
        put_bytes(w, h, sizeof h);
}

static void put_question(struct dns_writer *w, const char *name, uint16_t type) {
        put_name(w, name);
        put_u16(w, type);
        put_u16(w, DNS_CLASS_IN);
        count_inc(w, HDR_QDCOUNT);
}

void dns_update_begin(struct dns_writer *w, uint8_t *buf, size_t cap, uint16_t id, const char *zone) {
        put_header(w, buf, cap, id, DNS_OPCODE_UPDATE);
        put_question(w, zone, DNS_TYPE_SOA);
        w->section = SECTION_PREREQ;
}

void dns_query_begin(struct dns_writer *w, uint8_t *buf, size_t cap, uint16_t id, const char *name, uint16_t type) {
        put_header(w, buf, cap, id, DNS_OPCODE_QUERY);
        put_question(w, name, type);
}

/* One resource record in the current section; `section` says which one it belongs to. */
static void put_rr(struct dns_writer *w, unsigned section, const char *name, uint16_t type, uint16_t class,
                   uint32_t ttl, const uint8_t *rdata, size_t rdata_len) {
        if (w->error)
                return;
        if (w->section == 0 || section < w->section || rdata_len > UINT16_MAX || (rdata_len && !rdata)) {
                writer_fail(w, -EINVAL);
                return;
        }
        w->section = section;
        put_name(w, name);
        put_u16(w, type);
        put_u16(w, class);
        put_u32(w, ttl);
        put_u16(w, (uint16_t)rdata_len);
        put_bytes(w, rdata, rdata_len);
        count_inc(w, section == SECTION_PREREQ ? HDR_ANCOUNT : HDR_NSCOUNT);
}

void dns_update_prereq_rrset_exists(struct dns_writer *w, const char *name, uint16_t type) {
        put_rr(w, SECTION_PREREQ, name, type, DNS_CLASS_ANY, 0, NULL, 0);
}

void dns_update_prereq_rrset_absent(struct dns_writer *w, const char *name, uint16_t type) {
        put_rr(w, SECTION_PREREQ, name, type, DNS_CLASS_NONE, 0, NULL, 0);
}

void dns_update_prereq_rr_exists(struct dns_writer *w, const char *name, uint16_t type, const uint8_t *rdata,
                                 size_t rdata_len) {
        put_rr(w, SECTION_PREREQ, name, type, DNS_CLASS_IN, 0, rdata, rdata_len);
}

void dns_update_delete_rrset(struct dns_writer *w, const char *name, uint16_t type) {
        put_rr(w, SECTION_UPDATE, name, type, DNS_CLASS_ANY, 0, NULL, 0);
}

void dns_update_delete_rr(struct dns_writer *w, const char *name, uint16_t type, const uint8_t *rdata, size_t rdata_len) {
        put_rr(w, SECTION_UPDATE, name, type, DNS_CLASS_NONE, 0, rdata, rdata_len);
}

void dns_update_add(struct dns_writer *w, const char *name, uint32_t ttl, uint16_t type, const uint8_t *rdata,
                    size_t rdata_len) {
        put_rr(w, SECTION_UPDATE, name, type, DNS_CLASS_IN, ttl, rdata, rdata_len);
}

void dns_update_add_a(struct dns_writer *w, const char *name, uint32_t ttl, const uint8_t addr[static 4]) {
        dns_update_add(w, name, ttl, DNS_TYPE_A, addr, 4);
}

void dns_update_add_aaaa(struct dns_writer *w, const char *name, uint32_t ttl, const uint8_t addr[static 16]) {
        dns_update_add(w, name, ttl, DNS_TYPE_AAAA, addr, 16);
}

size_t dns_txt_rdata(const char *text, uint8_t out[static 256]) {
        size_t n = strlen(text);
        if (n > 255)
                return 0;
        out[0] = (uint8_t)n;
        memcpy(out + 1, text, n);
        return n + 1;
}

void dns_update_add_txt(struct dns_writer *w, const char *name, uint32_t ttl, const char *text) {
        uint8_t rdata[256];
        size_t n = dns_txt_rdata(text, rdata);
        if (n == 0) {
                writer_fail(w, -EINVAL);
                return;
        }
        dns_update_add(w, name, ttl, DNS_TYPE_TXT, rdata, n);
}

int dns_writer_finish(const struct dns_writer *w, size_t *ret_len) {
        if (w->error)
                return w->error;
        *ret_len = w->len;
        return 0;
}

/* ---- the reader ---- */

struct reader {
        const uint8_t *buf;
        size_t len;
        size_t pos;
        bool failed;
};

static bool need(struct reader *r, size_t n) {
        if (r->failed || n > r->len - r->pos) {
                r->failed = true;
                return false;
        }
        return true;
}

static uint16_t get_u16(struct reader *r) {
        if (!need(r, 2))
                return 0;
        uint16_t v = (uint16_t)(r->buf[r->pos] << 8 | r->buf[r->pos + 1]);
        r->pos += 2;
        return v;
}

static uint32_t get_u32(struct reader *r) {
        uint32_t hi = get_u16(r);
        return hi << 16 | get_u16(r);
}

static void skip(struct reader *r, size_t n) {
        if (need(r, n))
                r->pos += n;
}

/* Reads the possibly compressed name at r->pos into out (lower case, dotted, no trailing
 * dot, "." for the root; bytes outside [a-z0-9_*-] as '?', so such a name can never equal
 * one we wrote) and moves r->pos past it. A pointer must point before the label that holds
 * it, which bounds the walk. */
static void get_name(struct reader *r, char out[static DNS_NAME_TEXT_MAX + 1]) {
        size_t p = r->pos;
        size_t end = 0; /* where r->pos goes: after the first pointer, or after the root label */
        size_t wire = 0;
        size_t o = 0;
        for (;;) {
                if (r->failed || p >= r->len) {
                        r->failed = true;
                        return;
                }
                uint8_t l = r->buf[p];
                if ((l & 0xc0) == 0xc0) {
                        if (p + 1 >= r->len) {
                                r->failed = true;
                                return;
                        }
                        size_t target = (size_t)(l & 0x3f) << 8 | r->buf[p + 1];
                        if (target >= p) {
                                r->failed = true;
                                return;
                        }
                        if (end == 0)
                                end = p + 2;
                        p = target;
                        continue;
                }
                if (l & 0xc0) { /* the reserved label types 01 and 10 */
                        r->failed = true;
                        return;
                }
                wire += 1 + l;
                if (wire > DNS_NAME_WIRE_MAX || p + 1 + l > r->len) {
                        r->failed = true;
                        return;
                }
                if (l == 0) {
                        if (end == 0)
                                end = p + 1;
                        break;
                }
                if (o > 0)
                        out[o++] = '.';
                for (size_t k = 0; k < l; k++) {
                        char c = (char)r->buf[p + 1 + k];
                        if (c >= 'A' && c <= 'Z')
                                c = (char)(c - 'A' + 'a');
                        out[o++] = label_char_ok(c) ? c : '?';
                }
                p += 1 + l;
        }
        if (o == 0)
                out[o++] = '.';
        out[o] = '\0';
        r->pos = end;
}

static void get_txt(struct reader *r, size_t rdlen, struct dns_answer *a) {
        size_t end = r->pos + rdlen;
        a->txt_len = 0;
        a->txt_truncated = false;
        while (!r->failed && r->pos < end) {
                size_t n = r->buf[r->pos++];
                if (n > end - r->pos) {
                        r->failed = true;
                        return;
                }
                size_t take = n;
                if (take > DNS_TXT_TEXT_MAX - a->txt_len) {
                        take = DNS_TXT_TEXT_MAX - a->txt_len;
                        a->txt_truncated = true;
                }
                memcpy(a->txt + a->txt_len, r->buf + r->pos, take);
                a->txt_len += take;
                r->pos += n;
        }
        a->txt[a->txt_len] = '\0';
}

static void get_answer(struct reader *r, struct dns_response *out) {
        struct dns_answer a;
        get_name(r, a.name);
        a.type = get_u16(r);
        uint16_t class = get_u16(r);
        a.ttl = get_u32(r);
        uint16_t rdlen = get_u16(r);
        if (!need(r, rdlen))
                return;
        size_t end = r->pos + rdlen;
        bool keep = class == DNS_CLASS_IN;
        switch (keep ? a.type : 0) {
        case DNS_TYPE_A:
        case DNS_TYPE_AAAA: {
                size_t n = a.type == DNS_TYPE_A ? 4 : 16;
                if (rdlen != n) {
                        r->failed = true;
                        return;
                }
                memset(a.addr, 0, sizeof a.addr);
                memcpy(a.addr, r->buf + r->pos, n);
                break;
        }
        case DNS_TYPE_TXT:
                get_txt(r, rdlen, &a);
                break;
        case DNS_TYPE_SOA: {
                struct reader s = *r;
                char ignored[DNS_NAME_TEXT_MAX + 1];
                get_name(&s, ignored); /* mname */
                get_name(&s, ignored); /* rname */
                a.soa_serial = get_u32(&s);
                skip(&s, 16); /* refresh, retry, expire, minimum */
                if (s.failed || s.pos != end) {
                        r->failed = true;
                        return;
                }
                break;
        }
        default:
                keep = false;
        }
        if (r->failed)
                return;
        r->pos = end;
        if (!keep) {
                out->answers_skipped++;
                return;
        }
        if (a.type != DNS_TYPE_TXT) {
                a.txt[0] = '\0';
                a.txt_len = 0;
                a.txt_truncated = false;
        }
        if (a.type != DNS_TYPE_SOA)
                a.soa_serial = 0;
        if (a.type != DNS_TYPE_A && a.type != DNS_TYPE_AAAA)
                memset(a.addr, 0, sizeof a.addr);
        if (out->n_answers == DNS_ANSWERS_MAX) {
                out->answers_truncated = true;
                return;
        }
        out->answers[out->n_answers++] = a;
}

/* Skips one RR; if it is a TSIG record, it must be the last one of the message and is
 * decoded into out->tsig. */
static void get_additional(struct reader *r, bool last, struct dns_response *out) {
        size_t start = r->pos;
        char name[DNS_NAME_TEXT_MAX + 1];
        get_name(r, name);
        uint16_t type = get_u16(r);
        uint16_t class = get_u16(r);
        skip(r, 4); /* TTL */
        uint16_t rdlen = get_u16(r);
        if (!need(r, rdlen))
                return;
        size_t end = r->pos + rdlen;
        if (type != DNS_TYPE_TSIG) {
                r->pos = end;
                return;
        }
        if (!last || class != DNS_CLASS_ANY || out->tsig.present) {
                r->failed = true;
                return;
        }
        struct dns_tsig_record *t = &out->tsig;
        struct reader d = { .buf = r->buf, .len = end, .pos = r->pos };
        t->offset = start;
        memcpy(t->key_name, name, sizeof name);
        get_name(&d, t->algorithm);
        uint64_t hi = get_u16(&d);
        t->time_signed = hi << 32 | get_u32(&d);
        t->fudge = get_u16(&d);
        t->mac_len = get_u16(&d);
        t->mac_offset = d.pos;
        skip(&d, t->mac_len);
        t->original_id = get_u16(&d);
        t->error = get_u16(&d);
        t->other_len = get_u16(&d);
        t->other_offset = d.pos;
        skip(&d, t->other_len);
        if (d.failed || d.pos != end) {
                r->failed = true;
                return;
        }
        t->present = true;
        r->pos = end;
}

static enum dns_status status_from_rcode(uint16_t rcode) {
        switch (rcode) {
        case DNS_RCODE_NOERROR: return DNS_STATUS_OK;
        case DNS_RCODE_FORMERR: return DNS_STATUS_FORMERR;
        case DNS_RCODE_SERVFAIL: return DNS_STATUS_SERVFAIL;
        case DNS_RCODE_NXDOMAIN: return DNS_STATUS_NXDOMAIN;
        case DNS_RCODE_NOTIMP: return DNS_STATUS_NOTIMP;
        case DNS_RCODE_REFUSED: return DNS_STATUS_REFUSED;
        case DNS_RCODE_YXDOMAIN: return DNS_STATUS_YXDOMAIN;
        case DNS_RCODE_YXRRSET: return DNS_STATUS_YXRRSET;
        case DNS_RCODE_NXRRSET: return DNS_STATUS_NXRRSET;
        case DNS_RCODE_NOTAUTH: return DNS_STATUS_NOTAUTH;
        case DNS_RCODE_NOTZONE: return DNS_STATUS_NOTZONE;
        case DNS_RCODE_BADSIG: return DNS_STATUS_BADSIG;
        case DNS_RCODE_BADKEY: return DNS_STATUS_BADKEY;
        case DNS_RCODE_BADTIME: return DNS_STATUS_BADTIME;
        default: return DNS_STATUS_RCODE_OTHER;
        }
}

enum dns_status dns_response_parse(const uint8_t *buf, size_t len, uint16_t expected_id, struct dns_response *out) {
        memset(out, 0, sizeof *out);
        out->status = DNS_STATUS_MALFORMED;
        if (len < DNS_HEADER_SIZE)
                return out->status;
        struct reader r = { .buf = buf, .len = len };
        out->id = get_u16(&r);
        uint16_t flags = get_u16(&r);
        out->qdcount = get_u16(&r);
        out->ancount = get_u16(&r);
        out->nscount = get_u16(&r);
        out->arcount = get_u16(&r);
        out->opcode = (uint8_t)(flags >> 11 & 0xf);
        out->authoritative = flags & 0x0400;
        out->rcode = flags & 0xf;
        if (!(flags & 0x8000))
                return out->status = DNS_STATUS_NOT_RESPONSE;
        if (out->id != expected_id)
                return out->status = DNS_STATUS_ID_MISMATCH;
        if (flags & 0x0200)
                return out->status = DNS_STATUS_TRUNCATED;

        for (unsigned i = 0; i < out->qdcount && !r.failed; i++) {
                char name[DNS_NAME_TEXT_MAX + 1];
                get_name(&r, name);
                uint16_t type = get_u16(&r);
                skip(&r, 2);
                if (i == 0 && !r.failed) {
                        memcpy(out->qname, name, sizeof name);
                        out->qtype = type;
                }
        }
        for (unsigned i = 0; i < out->ancount && !r.failed; i++)
                get_answer(&r, out);
        for (unsigned i = 0; i < out->nscount && !r.failed; i++)
                get_additional(&r, false, out);
        for (unsigned i = 0; i < out->arcount && !r.failed; i++)
                get_additional(&r, i + 1 == out->arcount, out);
        /* Trailing bytes are garbage we cannot account for; the TSIG MAC would not cover them. */
        if (r.failed || r.pos != len) {
                struct dns_response header = *out;
                memset(out, 0, sizeof *out);
                out->id = header.id;
                out->opcode = header.opcode;
                out->authoritative = header.authoritative;
                out->rcode = header.rcode;
                out->qdcount = header.qdcount;
                out->ancount = header.ancount;
                out->nscount = header.nscount;
                out->arcount = header.arcount;
                return out->status = DNS_STATUS_MALFORMED;
        }
        if (out->tsig.present && out->tsig.error != 0)
                out->rcode = out->tsig.error;
        return out->status = status_from_rcode(out->rcode);
}

const char *dns_status_to_string(enum dns_status s) {
        static const char *const names[] = {
                [DNS_STATUS_OK] = "ok",
                [DNS_STATUS_MALFORMED] = "malformed",
                [DNS_STATUS_NOT_RESPONSE] = "not-response",
                [DNS_STATUS_ID_MISMATCH] = "id-mismatch",
                [DNS_STATUS_TRUNCATED] = "truncated",
                [DNS_STATUS_FORMERR] = "formerr",
                [DNS_STATUS_SERVFAIL] = "servfail",
                [DNS_STATUS_NXDOMAIN] = "nxdomain",
                [DNS_STATUS_NOTIMP] = "notimp",
                [DNS_STATUS_REFUSED] = "refused",
                [DNS_STATUS_YXDOMAIN] = "yxdomain",
                [DNS_STATUS_YXRRSET] = "yxrrset",
                [DNS_STATUS_NXRRSET] = "nxrrset",
                [DNS_STATUS_NOTAUTH] = "notauth",
                [DNS_STATUS_NOTZONE] = "notzone",
                [DNS_STATUS_BADSIG] = "badsig",
                [DNS_STATUS_BADKEY] = "badkey",
                [DNS_STATUS_BADTIME] = "badtime",
                [DNS_STATUS_RCODE_OTHER] = "rcode-other",
        };
        if ((unsigned)s >= sizeof names / sizeof names[0] || !names[s])
                return "unknown";
        return names[s];
}
