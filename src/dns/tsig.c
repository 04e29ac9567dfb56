/* SPDX-License-Identifier: MIT */
/*
 * TSIG hmac-sha256 signing and verification. The MAC input is handed to the caller's HMAC
 * as a list of spans over the message and a small local buffer of TSIG variables, so the
 * message is never copied and the header is re-written (ARCOUNT, original id) in a
 * 12-byte copy.
 */
#include "tsig.h"

#include <errno.h>
#include <string.h>

/* The variables (RFC 8945 §4.3.3) without Other Data: key name, class ANY, TTL 0,
 * algorithm name, time signed, fudge, error, other len. Returns their length, or 0 if the
 * key name is not acceptable. */
static size_t tsig_variables(const char *key_name, uint64_t time_signed, uint16_t fudge, uint16_t error,
                             uint16_t other_len, uint8_t out[static DNS_TSIG_RR_MAX]) {
        size_t n = dns_name_to_wire(key_name, out);
        if (n == 0)
                return 0;
        uint8_t *p = out + n;
        *p++ = 0, *p++ = DNS_CLASS_ANY;
        *p++ = 0, *p++ = 0, *p++ = 0, *p++ = 0;
        size_t a = dns_name_to_wire(DNS_TSIG_ALGORITHM, p);
        p += a;
        for (int shift = 40; shift >= 0; shift -= 8)
                *p++ = (uint8_t)(time_signed >> shift);
        *p++ = (uint8_t)(fudge >> 8), *p++ = (uint8_t)fudge;
        *p++ = (uint8_t)(error >> 8), *p++ = (uint8_t)error;
        *p++ = (uint8_t)(other_len >> 8), *p++ = (uint8_t)other_len;
        return (size_t)(p - out);
}

int dns_tsig_sign(uint8_t *buf, size_t cap, size_t *len, const struct dns_tsig_key *key, uint64_t time_signed,
                  uint8_t ret_mac[static DNS_TSIG_MAC_SIZE]) {
        size_t n = *len;
        if (n < DNS_HEADER_SIZE || n > cap || time_signed >> 48 || !key->hmac)
                return -EINVAL;
        uint16_t arcount = (uint16_t)(buf[10] << 8 | buf[11]);
        if (arcount == UINT16_MAX)
                return -EINVAL;
        uint8_t vars[DNS_TSIG_RR_MAX];
        size_t v = tsig_variables(key->name, time_signed, DNS_TSIG_FUDGE, 0, 0, vars);
        if (v == 0)
                return -EINVAL;
        uint8_t key_wire[DNS_NAME_WIRE_MAX];
        size_t k = dns_name_to_wire(key->name, key_wire);
        uint8_t alg_wire[DNS_NAME_WIRE_MAX];
        size_t a = dns_name_to_wire(DNS_TSIG_ALGORITHM, alg_wire);
        size_t rdlen = a + 6 + 2 + 2 + DNS_TSIG_MAC_SIZE + 2 + 2 + 2;
        size_t rr = k + 10 + rdlen;
        if (rr > cap - n)
                return -ENOBUFS;

        uint8_t mac[DNS_TSIG_MAC_SIZE];
        const struct dns_span parts[] = { { buf, n }, { vars, v } };
        int e = key->hmac(key->userdata, key->secret, key->secret_len, parts, 2, mac);
        if (e < 0)
                return e;

        uint8_t *p = buf + n;
        memcpy(p, key_wire, k), p += k;
        *p++ = DNS_TYPE_TSIG >> 8, *p++ = (uint8_t)DNS_TYPE_TSIG;
        *p++ = 0, *p++ = DNS_CLASS_ANY;
        *p++ = 0, *p++ = 0, *p++ = 0, *p++ = 0;
        *p++ = (uint8_t)(rdlen >> 8), *p++ = (uint8_t)rdlen;
        memcpy(p, alg_wire, a), p += a;
        for (int shift = 40; shift >= 0; shift -= 8)
                *p++ = (uint8_t)(time_signed >> shift);
        *p++ = DNS_TSIG_FUDGE >> 8, *p++ = (uint8_t)DNS_TSIG_FUDGE;
        *p++ = 0, *p++ = DNS_TSIG_MAC_SIZE;
        memcpy(p, mac, DNS_TSIG_MAC_SIZE), p += DNS_TSIG_MAC_SIZE;
        *p++ = buf[0], *p++ = buf[1]; /* original id */
        *p++ = 0, *p++ = 0; /* error */
        *p++ = 0, *p++ = 0; /* other len */
        arcount++;
        buf[10] = (uint8_t)(arcount >> 8);
        buf[11] = (uint8_t)arcount;
        *len = (size_t)(p - buf);
        memcpy(ret_mac, mac, DNS_TSIG_MAC_SIZE);
        return 0;
}

static bool same_name(const char *parsed, const char *ours) {
        uint8_t a[DNS_NAME_WIRE_MAX], b[DNS_NAME_WIRE_MAX];
        size_t na = dns_name_to_wire(parsed, a), nb = dns_name_to_wire(ours, b);
        return na != 0 && na == nb && memcmp(a, b, na) == 0;
}

enum dns_tsig_status dns_tsig_verify(const uint8_t *msg, size_t len, const struct dns_response *r,
                                     const struct dns_tsig_key *key,
                                     const uint8_t request_mac[static DNS_TSIG_MAC_SIZE], uint64_t now) {
        const struct dns_tsig_record *t = &r->tsig;
        if (!t->present || t->mac_len == 0)
                return DNS_TSIG_UNSIGNED;
        if (!same_name(t->key_name, key->name) || !same_name(t->algorithm, DNS_TSIG_ALGORITHM))
                return DNS_TSIG_WRONG_KEY;
        if (t->mac_len != DNS_TSIG_MAC_SIZE || t->offset < DNS_HEADER_SIZE || t->offset > len ||
            t->mac_offset + DNS_TSIG_MAC_SIZE > len || t->other_offset + t->other_len > len || r->arcount == 0)
                return DNS_TSIG_BAD_MAC;

        uint8_t mac_size[2] = { 0, DNS_TSIG_MAC_SIZE };
        uint8_t header[DNS_HEADER_SIZE];
        memcpy(header, msg, DNS_HEADER_SIZE);
        header[0] = (uint8_t)(t->original_id >> 8);
        header[1] = (uint8_t)t->original_id;
        uint16_t arcount = (uint16_t)(r->arcount - 1);
        header[10] = (uint8_t)(arcount >> 8);
        header[11] = (uint8_t)arcount;
        uint8_t vars[DNS_TSIG_RR_MAX];
        size_t v = tsig_variables(key->name, t->time_signed, t->fudge, t->error, t->other_len, vars);
        if (v == 0)
                return DNS_TSIG_WRONG_KEY;
        const struct dns_span parts[] = {
                { mac_size, 2 },
                { request_mac, DNS_TSIG_MAC_SIZE },
                { header, DNS_HEADER_SIZE },
                { msg + DNS_HEADER_SIZE, t->offset - DNS_HEADER_SIZE },
                { vars, v },
                { msg + t->other_offset, t->other_len },
        };
        uint8_t mac[DNS_TSIG_MAC_SIZE];
        if (key->hmac(key->userdata, key->secret, key->secret_len, parts, sizeof parts / sizeof parts[0], mac) < 0)
                return DNS_TSIG_HMAC_FAILED;
        /* Constant time: the difference is accumulated over all bytes. */
        volatile uint8_t diff = 0;
        for (size_t i = 0; i < DNS_TSIG_MAC_SIZE; i++)
                diff |= mac[i] ^ msg[t->mac_offset + i];
        if (diff != 0)
                return DNS_TSIG_BAD_MAC;
        uint64_t skew = now > t->time_signed ? now - t->time_signed : t->time_signed - now;
        if (skew > t->fudge)
                return DNS_TSIG_BAD_TIME;
        return DNS_TSIG_OK;
}

const char *dns_tsig_status_to_string(enum dns_tsig_status s) {
        switch (s) {
        case DNS_TSIG_OK: return "ok";
        case DNS_TSIG_UNSIGNED: return "unsigned";
        case DNS_TSIG_WRONG_KEY: return "wrong-key";
        case DNS_TSIG_BAD_MAC: return "bad-mac";
        case DNS_TSIG_BAD_TIME: return "bad-time";
        case DNS_TSIG_HMAC_FAILED: return "hmac-failed";
        }
        return "unknown";
}
