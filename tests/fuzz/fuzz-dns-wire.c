/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the DNS response parser: arbitrary bytes to dns_response_parse(),
 * then to dns_tsig_verify() with a stand-in HMAC. Asserts what the rfc2136 provider relies
 * on: the status is one of the enum; sections are only reported for a message that parsed
 * whole; kept answers are bounded and NUL-terminated; a TSIG record's offsets lie inside
 * the message; and the verifier reads only inside it (the sanitizer sees any read past len
 * because the input is an exact-size copy).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/tsig.h"
#include "dns/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                    \
        do {                                                                                        \
                if (!(x)) {                                                                         \
                        fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #x);  \
                        abort();                                                                    \
                }                                                                                   \
        } while (0)

/* Touches every byte of every part, so an out-of-bounds span is a sanitizer report. */
static int fake_hmac(void *userdata, const uint8_t *key, size_t key_len, const struct dns_span *parts, size_t n_parts,
                     uint8_t out[static DNS_TSIG_MAC_SIZE]) {
        uint8_t acc = 0;
        for (size_t i = 0; i < n_parts; i++)
                for (size_t k = 0; k < parts[i].len; k++)
                        acc ^= parts[i].data[k];
        memset(out, acc, DNS_TSIG_MAC_SIZE);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint8_t *copy = malloc(size ? size : 1);
        CHECK(copy);
        if (size)
                memcpy(copy, data, size);
        uint16_t id = size >= 2 ? (uint16_t)(data[0] << 8 | data[1]) : 0;
        static struct dns_response r;
        enum dns_status s = dns_response_parse(copy, size, id, &r);
        CHECK(s == r.status);
        CHECK(s >= DNS_STATUS_OK && s <= DNS_STATUS_RCODE_OTHER);
        if (size < DNS_HEADER_SIZE)
                CHECK(s == DNS_STATUS_MALFORMED);
        bool parsed = s != DNS_STATUS_MALFORMED && s != DNS_STATUS_NOT_RESPONSE && s != DNS_STATUS_ID_MISMATCH &&
                      s != DNS_STATUS_TRUNCATED;
        if (!parsed) {
                CHECK(r.n_answers == 0 && !r.tsig.present);
        } else {
                CHECK(r.n_answers <= DNS_ANSWERS_MAX && r.n_answers + r.answers_skipped <= r.ancount);
                CHECK(strlen(r.qname) <= DNS_NAME_TEXT_MAX);
                for (size_t i = 0; i < r.n_answers; i++) {
                        const struct dns_answer *a = &r.answers[i];
                        CHECK(strlen(a->name) >= 1 && strlen(a->name) <= DNS_NAME_TEXT_MAX);
                        CHECK(a->type == DNS_TYPE_A || a->type == DNS_TYPE_AAAA || a->type == DNS_TYPE_TXT ||
                              a->type == DNS_TYPE_SOA);
                        CHECK(a->txt_len <= DNS_TXT_TEXT_MAX && a->txt[a->txt_len] == '\0');
                }
                if (r.tsig.present) {
                        const struct dns_tsig_record *t = &r.tsig;
                        CHECK(t->offset >= DNS_HEADER_SIZE && t->offset < size);
                        CHECK(t->mac_offset + t->mac_len <= size && t->other_offset + t->other_len == size);
                }
                uint8_t secret[4] = { 1, 2, 3, 4 }, request_mac[DNS_TSIG_MAC_SIZE] = { 0 };
                struct dns_tsig_key key = { .name = r.tsig.present ? r.tsig.key_name : "k", .secret = secret,
                                            .secret_len = sizeof secret, .hmac = fake_hmac };
                enum dns_tsig_status ts = dns_tsig_verify(copy, size, &r, &key, request_mac, r.tsig.time_signed);
                CHECK(ts >= DNS_TSIG_OK && ts <= DNS_TSIG_HMAC_FAILED);
                if (!r.tsig.present)
                        CHECK(ts == DNS_TSIG_UNSIGNED);
        }
        free(copy);
        return 0;
}
