/* SPDX-License-Identifier: MIT */
/*
 * The DNS wire format for the rfc2136 provider (issue 5): builds RFC 2136 UPDATE messages
 * for one zone and the queries the provider sends to look before it writes, and parses the
 * server's responses into a result struct. Pure: the caller owns every buffer, nothing is
 * allocated or logged and there is no global state, so any thread may call it and the
 * parser is fuzzed as is. TSIG signing and verification live in dns/tsig.h.
 *
 * Names are given and returned as dotted text without escapes ("a.example.net", a trailing
 * dot is optional); labels are 1..63 bytes of [A-Za-z0-9_*-], written lower case.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_HEADER_SIZE 12
#define DNS_NAME_WIRE_MAX 255 /* RFC 1035 §3.1, the root label included */
#define DNS_NAME_TEXT_MAX 254 /* dotted, no trailing dot */
#define DNS_ANSWERS_MAX 16
#define DNS_TXT_TEXT_MAX 1024 /* the character-strings of one TXT record, joined */

enum dns_type {
        DNS_TYPE_A = 1,
        DNS_TYPE_SOA = 6,
        DNS_TYPE_TXT = 16,
        DNS_TYPE_AAAA = 28,
        DNS_TYPE_OPT = 41,
        DNS_TYPE_TSIG = 250,
        DNS_TYPE_ANY = 255,
};

enum dns_class {
        DNS_CLASS_IN = 1,
        DNS_CLASS_NONE = 254,
        DNS_CLASS_ANY = 255,
};

enum dns_opcode {
        DNS_OPCODE_QUERY = 0,
        DNS_OPCODE_UPDATE = 5,
};

enum dns_rcode {
        DNS_RCODE_NOERROR = 0,
        DNS_RCODE_FORMERR = 1,
        DNS_RCODE_SERVFAIL = 2,
        DNS_RCODE_NXDOMAIN = 3,
        DNS_RCODE_NOTIMP = 4,
        DNS_RCODE_REFUSED = 5,
        DNS_RCODE_YXDOMAIN = 6,
        DNS_RCODE_YXRRSET = 7,
        DNS_RCODE_NXRRSET = 8,
        DNS_RCODE_NOTAUTH = 9,
        DNS_RCODE_NOTZONE = 10,
        /* TSIG error field values (RFC 8945 §3) */
        DNS_RCODE_BADSIG = 16,
        DNS_RCODE_BADKEY = 17,
        DNS_RCODE_BADTIME = 18,
        DNS_RCODE_BADTRUNC = 22,
};

/* A bounds-checked cursor over a caller's buffer. The first failure is kept in `error`
 * (-ENOBUFS: the buffer is too small; -EINVAL: a bad name, TXT or call order) and every
 * later call does nothing, so a message is built by a run of calls and checked once with
 * dns_writer_finish(). */
struct dns_writer {
        uint8_t *buf;
        size_t cap;
        size_t len;
        int error;
        unsigned section; /* UPDATE: 1 prerequisites, 2 updates; sections only go forward */
};

/* Starts an UPDATE for zone (one zone section entry, class IN) with the given id in
 * buf[0..cap). The caller adds prerequisites, then updates, then calls dns_writer_finish(). */
void dns_update_begin(struct dns_writer *w, uint8_t *buf, size_t cap, uint16_t id, const char *zone);

/* Prerequisites (RFC 2136 §2.4). Each must come before the first update. */
void dns_update_prereq_rrset_exists(struct dns_writer *w, const char *name, uint16_t type); /* value independent */
void dns_update_prereq_rrset_absent(struct dns_writer *w, const char *name, uint16_t type);
void dns_update_prereq_rr_exists(struct dns_writer *w, const char *name, uint16_t type, const uint8_t *rdata,
                                 size_t rdata_len); /* value dependent */

/* Updates (RFC 2136 §2.5). */
void dns_update_delete_rrset(struct dns_writer *w, const char *name, uint16_t type);
void dns_update_delete_rr(struct dns_writer *w, const char *name, uint16_t type, const uint8_t *rdata, size_t rdata_len);
void dns_update_add(struct dns_writer *w, const char *name, uint32_t ttl, uint16_t type, const uint8_t *rdata,
                    size_t rdata_len);
void dns_update_add_a(struct dns_writer *w, const char *name, uint32_t ttl, const uint8_t addr[static 4]);
void dns_update_add_aaaa(struct dns_writer *w, const char *name, uint32_t ttl, const uint8_t addr[static 16]);
void dns_update_add_txt(struct dns_writer *w, const char *name, uint32_t ttl, const char *text);

/* Writes the RDATA of a TXT record holding text as one character-string to out and
 * returns its length (1 + strlen(text)); returns 0 if text is longer than 255 bytes. */
size_t dns_txt_rdata(const char *text, uint8_t out[static 256]);

/* Starts a query (RD clear: it is sent to the authoritative server) for name/type, class
 * IN. Complete as it is; finish with dns_writer_finish(). */
void dns_query_begin(struct dns_writer *w, uint8_t *buf, size_t cap, uint16_t id, const char *name, uint16_t type);

/* Returns 0 and sets *ret_len to the message length, or the writer's first error. */
int dns_writer_finish(const struct dns_writer *w, size_t *ret_len);

/* ---- responses ---- */

enum dns_status {
        DNS_STATUS_OK, /* rcode NOERROR */
        DNS_STATUS_MALFORMED, /* short, or not a DNS message we can read */
        DNS_STATUS_NOT_RESPONSE, /* QR clear */
        DNS_STATUS_ID_MISMATCH, /* not the answer to our message */
        DNS_STATUS_TRUNCATED, /* TC set: ask again over TCP; sections not parsed */
        DNS_STATUS_FORMERR,
        DNS_STATUS_SERVFAIL,
        DNS_STATUS_NXDOMAIN,
        DNS_STATUS_NOTIMP,
        DNS_STATUS_REFUSED,
        DNS_STATUS_YXDOMAIN,
        DNS_STATUS_YXRRSET,
        DNS_STATUS_NXRRSET,
        DNS_STATUS_NOTAUTH, /* not authoritative, or TSIG failed without a TSIG error */
        DNS_STATUS_NOTZONE,
        DNS_STATUS_BADSIG, /* the server's TSIG error field: our MAC did not verify */
        DNS_STATUS_BADKEY, /* ... the server does not know our key */
        DNS_STATUS_BADTIME, /* ... our clock is off by more than the fudge */
        DNS_STATUS_RCODE_OTHER, /* see rcode / tsig.error */
};

struct dns_answer {
        char name[DNS_NAME_TEXT_MAX + 1]; /* lower case, no trailing dot; odd bytes as '?' */
        uint16_t type; /* A, AAAA, TXT or SOA */
        uint32_t ttl;
        uint8_t addr[16]; /* A: the first 4 bytes */
        char txt[DNS_TXT_TEXT_MAX + 1]; /* TXT: the strings joined, NUL-terminated */
        size_t txt_len;
        bool txt_truncated; /* longer than DNS_TXT_TEXT_MAX: txt holds the start only */
        uint32_t soa_serial;
};

/* The response's TSIG record (the last additional record), as offsets into the message. */
struct dns_tsig_record {
        bool present;
        size_t offset; /* where the TSIG RR starts: the length of the message it signs */
        char key_name[DNS_NAME_TEXT_MAX + 1];
        char algorithm[DNS_NAME_TEXT_MAX + 1];
        uint64_t time_signed; /* 48 bits */
        uint16_t fudge;
        size_t mac_offset;
        uint16_t mac_len;
        uint16_t original_id;
        uint16_t error;
        size_t other_offset;
        uint16_t other_len;
};

struct dns_response {
        enum dns_status status;
        uint16_t id;
        uint8_t opcode;
        uint16_t rcode; /* the header's 4 bits, extended by the TSIG error when present */
        bool authoritative;
        uint16_t qdcount, ancount, nscount, arcount;
        char qname[DNS_NAME_TEXT_MAX + 1]; /* the first question, if any */
        uint16_t qtype;
        size_t n_answers; /* A, AAAA, TXT and SOA answers kept in answers[] */
        size_t answers_skipped; /* answers of other types (CNAME, RRSIG, ...) */
        bool answers_truncated; /* more than DNS_ANSWERS_MAX kept-type answers */
        struct dns_answer answers[DNS_ANSWERS_MAX];
        struct dns_tsig_record tsig;
};

/* Parses the response buf[0..len) to a message with id expected_id. Returns the status,
 * also stored in out->status. The header fields of *out are filled whenever there are 12
 * bytes; the sections only when the status is not MALFORMED, NOT_RESPONSE, ID_MISMATCH or
 * TRUNCATED. A TSIG error field (BADSIG, BADKEY, BADTIME) takes precedence over the rcode.
 * The TSIG MAC is not checked here: see dns_tsig_verify(). */
enum dns_status dns_response_parse(const uint8_t *buf, size_t len, uint16_t expected_id, struct dns_response *out);

/* "ok", "notauth", "badsig", ...: for the caller's log lines. */
const char *dns_status_to_string(enum dns_status s);

/* Writes name as uncompressed, lower-case wire format to out; returns its length (1..255),
 * or 0 if name is not acceptable (see the top of this file). Shared with dns/tsig.c. */
size_t dns_name_to_wire(const char *name, uint8_t out[static DNS_NAME_WIRE_MAX]);
