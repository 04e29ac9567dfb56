/* SPDX-License-Identifier: MIT */
/*
 * The API's resources beside the VM, as the rest of the program sees them, and the pure
 * rules they share: labels (a small string map kept as canonical JSON text), extra host
 * names, routes (a host name -> ip:port through the SNI proxy), forwards (a public port +
 * proto -> ip:port), token scopes. Validation only; no I/O, no allocation.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipaddr.h"
#include "vm.h"

#define RESOURCE_ID_MAX VM_ID_MAX /* route and forward ids follow vm_id_valid() */
#define LABELS_MAX 16
#define LABEL_KEY_MAX 63
#define LABEL_VALUE_MAX 63
/* {"k":"v",...} for LABELS_MAX pairs of the longest key and value (values are printable
 * ASCII without '"' or '\\', so nothing is escaped). */
#define LABELS_JSON_MAX (2 + LABELS_MAX * (LABEL_KEY_MAX + LABEL_VALUE_MAX + 6) + 1)
#define VM_HOSTNAMES_MAX 16
#define AGENT_FIELD_MAX 255 /* the seed agent's target_url, entrypoint, certresolver */

/* Where a route or forward was created: the /v1 API or the seed proxy agent's paths. */
enum resource_origin { ORIGIN_API = 0, ORIGIN_AGENT = 1 };
const char *resource_origin_to_string(enum resource_origin o); /* "api", "agent"; NULL otherwise */
int resource_origin_from_string(const char *s, enum resource_origin *ret);

/* A label key: 1..63 of [A-Za-z0-9._/-], starting with a letter or digit. */
bool label_key_valid(const char *key);
/* A label value: 0..63 printable ASCII characters (0x20..0x7e) other than '"' and '\\'. */
bool label_value_valid(const char *value);

/* Builds labels' canonical text: a JSON object with keys in byte order, no spaces, e.g.
 * {"env":"prod","team":"a"}. keys/values are n parallel arrays (n <= LABELS_MAX, every entry
 * valid, keys distinct). Returns 0, or -EINVAL (nothing written) when a rule is broken. */
int labels_format(const char *const *keys, const char *const *values, size_t n, char out[static LABELS_JSON_MAX]);
/* Whether canonical labels text has key (and, when value is non-NULL, that value). Pure
 * scan of text made by labels_format(). */
bool labels_match(const char *labels_json, const char *key, const char *value);

/* A host name a route or an extra VM name may claim: dns_name_valid(), or "*." followed by
 * a dns_name_valid() name of at least two labels (a wildcard). Lower case only. */
bool route_hostname_valid(const char *name);

/* A selector from ?label=KEY or ?label=KEY=VALUE. */
struct label_match {
        char key[LABEL_KEY_MAX + 1];
        char value[LABEL_VALUE_MAX + 1];
        bool any_value; /* ?label=KEY: only the key must exist */
};
/* Parses "KEY" or "KEY=VALUE". Returns 0 or -EINVAL. */
int label_match_parse(const char *text, struct label_match *ret);

/* Per-VM data the API shows and the proxy routes, kept beside struct vm so the reconciler's
 * copies of every VM stay small. */
struct vm_meta {
        int64_t expires_at; /* unix seconds; 0 = never */
        int64_t updated_at; /* unix seconds */
        int64_t version; /* 1 at creation, +1 on every change that alters the VM: the ETag */
        char labels[LABELS_JSON_MAX]; /* canonical, "{}" for none */
        uint8_t n_hostnames;
        char hostnames[VM_HOSTNAMES_MAX][DNS_NAME_MAX + 1]; /* extra names routed to VM:443, sorted */
};
void vm_meta_init(struct vm_meta *m); /* version 0, labels "{}", nothing else */

/* A host name -> target through the SNI proxy (passthrough: TLS is never terminated). */
struct route_def {
        char id[RESOURCE_ID_MAX + 1];
        char hostname[DNS_NAME_MAX + 1]; /* route_hostname_valid() */
        struct ip_addr ip;
        uint16_t port; /* :443 connections go here; default 443 */
        uint16_t http_port; /* plain-HTTP passthrough target; default 80 */
        uint8_t proxy_protocol; /* enum vm_proxy_protocol */
        bool http_passthrough;
        bool dns; /* publish an A/AAAA record for hostname (issue 5); off unless asked for */
        uint8_t n_allow;
        struct ip_cidr allow[VM_ALLOW_MAX];
        uint8_t origin; /* enum resource_origin */
        /* The seed agent's fields, stored to be echoed back by GET /http/routes; "" if unset. */
        char agent_target_url[AGENT_FIELD_MAX + 1];
        char agent_entrypoint[AGENT_FIELD_MAX + 1];
        char agent_certresolver[AGENT_FIELD_MAX + 1];
        char labels[LABELS_JSON_MAX];
        int64_t created_at, updated_at, version;
};
void route_def_init(struct route_def *r); /* ports 443/80, labels "{}", the rest zero */

/* A public port + proto -> target ip:port, outside any VM's port block. */
struct forward_def {
        char id[RESOURCE_ID_MAX + 1];
        uint8_t proto; /* enum proto */
        uint16_t public_port; /* 1..65535 */
        struct ip_addr ip;
        uint16_t port; /* 1..65535 */
        uint8_t origin; /* enum resource_origin */
        char labels[LABELS_JSON_MAX];
        int64_t created_at, updated_at, version;
};
void forward_def_init(struct forward_def *f); /* labels "{}", the rest zero */

/* Token scopes. ADMIN allows everything. */
enum api_scope {
        SCOPE_READ = 1u << 0, /* every GET */
        SCOPE_VMS = 1u << 1,
        SCOPE_ROUTES = 1u << 2,
        SCOPE_FORWARDS = 1u << 3,
        SCOPE_DNS = 1u << 4,
        SCOPE_ADMIN = 1u << 5, /* tokens, audit, and all of the above */
};
#define SCOPE_ALL (SCOPE_READ | SCOPE_VMS | SCOPE_ROUTES | SCOPE_FORWARDS | SCOPE_DNS | SCOPE_ADMIN)
#define SCOPES_TEXT_MAX 64
/* "read", "vms", "routes", "forwards", "dns", "admin" for one bit; NULL otherwise. */
const char *scope_to_string(enum api_scope s);
/* A comma-separated list ("read,vms"), no spaces, no duplicates, at least one. Returns 0 or
 * -EINVAL with the offending word copied to bad (optional, size 32). */
int scopes_parse(const char *text, uint32_t *ret, char bad[32]);
/* The canonical comma-separated text of a non-empty mask, in the order above. */
void scopes_format(uint32_t scopes, char out[static SCOPES_TEXT_MAX]);

#define TOKEN_NAME_MAX 64 /* names follow vm_id_valid() */
#define TOKEN_KEY_ID_LEN 16 /* hex characters of the public key id inside a token */
#define TOKEN_HASH_LEN 32 /* SHA-256 */
#define TOKEN_DATACENTER_MAX 63 /* a DNS label */

/* A stored API token: the secret itself is never stored, only its hash. */
struct token_rec {
        char name[TOKEN_NAME_MAX + 1];
        char key_id[TOKEN_KEY_ID_LEN + 1]; /* lower-case hex, unique: finds the row */
        uint8_t hash[TOKEN_HASH_LEN]; /* SHA-256 of the whole token text */
        uint32_t scopes; /* enum api_scope bits */
        int64_t created_at;
        int64_t last_used_at; /* 0 = never */
        /* "" = none; else a DNS label (dns_label_valid): the one datacenter whose names
         * ({anything}.{datacenter}.{domain}) this token may publish through a central node's
         * /api/v1/agents/dns. Restricts DNS writes only. */
        char datacenter[TOKEN_DATACENTER_MAX + 1];
};
