/* SPDX-License-Identifier: MIT */
/*
 * Configuration parser: a small TOML subset (sections, `key = "string"`, `key = 123`,
 * comments) driven by one table of known keys, so the file format, the environment names
 * and the docs all follow from the same list.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "../model/ipaddr.h"
#include "../model/vm.h"
#include "util.h"

extern char **environ;

enum key_type { KEY_STRING, KEY_UINT, KEY_BOOL, KEY_IGNORED };

struct config_key {
        const char *section;
        const char *name;
        enum key_type type;
        size_t offset;
        size_t size; /* string buffer size, or integer width in bytes */
        uint32_t min, max;
};

#define STR_KEY(sec, field) {sec, #field, KEY_STRING, offsetof(struct config, field), sizeof(((struct config *)0)->field), 0, 0}
#define UINT_KEY(sec, field, lo, hi) {sec, #field, KEY_UINT, offsetof(struct config, field), sizeof(((struct config *)0)->field), lo, hi}
#define IGNORED_KEY(sec, name) {sec, name, KEY_IGNORED, 0, 0, 0, 0}
/* [api] keys are stored as api_<key> (and read from EDGEGW_API_<KEY>): "listen" alone
 * would be ambiguous beside the proxy's listeners. */
#define API_STR_KEY(name, field) {"api", name, KEY_STRING, offsetof(struct config, field), sizeof(((struct config *)0)->field), 0, 0}
#define API_UINT_KEY(name, field, lo, hi) {"api", name, KEY_UINT, offsetof(struct config, field), sizeof(((struct config *)0)->field), lo, hi}
/* [dns] keys likewise: dns_<key>, EDGEGW_DNS_<KEY> ("url" and "ttl" alone mean nothing). */
#define DNS_KEY(name, type, lo, hi) {"dns", #name, type, offsetof(struct config, dns_##name), sizeof(((struct config *)0)->dns_##name), lo, hi}
/* [dhcp] and [outbound] keys likewise: dhcp_<key> / outbound_<key>. */
#define DHCP_KEY(name) {"dhcp", #name, KEY_STRING, offsetof(struct config, dhcp_##name), sizeof(((struct config *)0)->dhcp_##name), 0, 0}
#define OUTBOUND_KEY(name) {"outbound", #name, KEY_STRING, offsetof(struct config, outbound_##name), sizeof(((struct config *)0)->outbound_##name), 0, 0}

static const struct config_key config_keys[] = {
        STR_KEY("gateway", datacenter),
        STR_KEY("gateway", domain),
        STR_KEY("gateway", public_ip),
        STR_KEY("gateway", public_ip6),
        STR_KEY("gateway", public_interface),
        UINT_KEY("gateway", port_range_start, 1, 65535),
        UINT_KEY("gateway", port_range_end, 1, 65535),
        UINT_KEY("gateway", ports_per_vm, 1, PORTS_PER_VM_MAX),
        STR_KEY("gateway", state_dir),
        STR_KEY("gateway", forward_mode),
        /* dc-agent.toml keys for Traefik and its JSON allocation file: edgegw has no use
         * for them, but the seed's [gateway] section must load unchanged. */
        IGNORED_KEY("gateway", "traefik_dynamic_dir"),
        IGNORED_KEY("gateway", "port_allocations_path"),
        STR_KEY("proxy", https_listen),
        STR_KEY("proxy", http_listen),
        STR_KEY("proxy", default_backend),
        STR_KEY("proxy", removed_routes),
        STR_KEY("proxy", forward_listen),
        UINT_KEY("proxy", udp_timeout_ms, 1000, 86400000),
        UINT_KEY("proxy", workers, 0, 64),
        UINT_KEY("proxy", hello_max, 512, 65536),
        UINT_KEY("proxy", hello_timeout_ms, 100, 600000),
        UINT_KEY("proxy", connect_timeout_ms, 100, 600000),
        UINT_KEY("proxy", idle_timeout_ms, 1000, 86400000),
        UINT_KEY("proxy", max_connections, 1, 1000000),
        UINT_KEY("proxy", max_connections_per_source, 1, 65000),
        API_STR_KEY("listen", api_listen),
        API_STR_KEY("tls_cert", api_tls_cert),
        API_STR_KEY("tls_key", api_tls_key),
        API_STR_KEY("metrics_listen", metrics_listen),
        API_STR_KEY("agent_token_file", agent_token_file),
        API_UINT_KEY("rate_limit", api_rate_limit, 0, 1000000),
        API_UINT_KEY("rate_limit_source", api_rate_limit_source, 0, 1000000),
        API_UINT_KEY("rate_burst", api_rate_burst, 1, 1000000),
        API_UINT_KEY("max_body", api_max_body, 1024, 64u << 20),
        API_UINT_KEY("timeout", api_timeout, 1, 3600),
        DNS_KEY(provider, KEY_STRING, 0, 0),
        DNS_KEY(zone, KEY_STRING, 0, 0),
        DNS_KEY(ttl, KEY_UINT, 30, 86400),
        DNS_KEY(records, KEY_STRING, 0, 0),
        DNS_KEY(server, KEY_STRING, 0, 0),
        DNS_KEY(tsig_name, KEY_STRING, 0, 0),
        DNS_KEY(tsig_algorithm, KEY_STRING, 0, 0),
        DNS_KEY(tsig_secret_file, KEY_STRING, 0, 0),
        DNS_KEY(api_token_file, KEY_STRING, 0, 0),
        DNS_KEY(proxied, KEY_BOOL, 0, 0),
        DNS_KEY(api_url, KEY_STRING, 0, 0),
        DNS_KEY(url, KEY_STRING, 0, 0),
        DNS_KEY(token_file, KEY_STRING, 0, 0),
        DNS_KEY(owner, KEY_STRING, 0, 0),
        DHCP_KEY(interface),
        DHCP_KEY(listen_ip),
        DHCP_KEY(subnet),
        DHCP_KEY(subnet_mask),
        DHCP_KEY(pool_start),
        DHCP_KEY(pool_end),
        DHCP_KEY(gateway),
        DHCP_KEY(dns),
        DHCP_KEY(domain),
        DHCP_KEY(lease_time),
        DHCP_KEY(unknown_clients),
        OUTBOUND_KEY(ip),
        OUTBOUND_KEY(interface),
        STR_KEY("daemon", log_level),
        UINT_KEY("daemon", resync_interval, 0, 86400),
};

static int diag_error(struct config_diag *d, const char *fmt, ...) _printf_(2, 3);
static int diag_error(struct config_diag *d, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->error, sizeof d->error, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static void diag_warning(struct config_diag *d, const char *fmt, ...) _printf_(2, 3);
static void diag_warning(struct config_diag *d, const char *fmt, ...) {
        if (d->n_warnings >= CONFIG_WARNINGS_MAX)
                return;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->warnings[d->n_warnings++], sizeof d->warnings[0], fmt, ap);
        va_end(ap);
}

void config_defaults(struct config *c) {
        *c = (struct config){
                .port_range_start = 20000,
                .port_range_end = 59999,
                .ports_per_vm = 10,
                .resync_interval = 60,
                .hello_max = 16384,
                .hello_timeout_ms = 5000,
                .connect_timeout_ms = 5000,
                .idle_timeout_ms = 600000,
                /* A relay holds two sockets; the host allows 20,000 open files per process. */
                .max_connections = 8000,
                .max_connections_per_source = 256,
                .udp_timeout_ms = 60000,
                .api_rate_limit = 100,
                .api_rate_limit_source = 100,
                .api_rate_burst = 200,
                .api_max_body = 1048576,
                .api_timeout = 30,
                .dns_ttl = 300,
        };
        strcpy(c->forward_mode, "kernel");
        strcpy(c->forward_listen, "[::]");
        strcpy(c->https_listen, "[::]:443");
        strcpy(c->http_listen, "[::]:80");
        strcpy(c->removed_routes, "finish");
        strcpy(c->datacenter, "dc1");
        strcpy(c->domain, "edgegw.example");
        strcpy(c->state_dir, CONFIG_DEFAULT_STATE_DIR);
        strcpy(c->log_level, "info");
        strcpy(c->dns_tsig_algorithm, "hmac-sha256");
        strcpy(c->dns_api_url, CONFIG_DNS_API_URL_DEFAULT);
        strcpy(c->dhcp_domain, "vps.local");
        strcpy(c->dhcp_lease_time, "12h");
        strcpy(c->dhcp_unknown_clients, "allow");
}

static const struct config_key *key_find(const char *section, const char *name, size_t name_len) {
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
                if (streq(config_keys[i].section, section) && strlen(config_keys[i].name) == name_len &&
                    memcmp(config_keys[i].name, name, name_len) == 0)
                        return &config_keys[i];
        return NULL;
}

static bool section_known(const char *s, size_t len) {
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
                if (strlen(config_keys[i].section) == len && memcmp(config_keys[i].section, s, len) == 0)
                        return true;
        return false;
}

/* Stores an already-unquoted value. Returns NULL or a static description of the problem. */
static const char *key_store(struct config *c, const struct config_key *k, const char *value, bool quoted) {
        void *field = (char *)c + k->offset;
        switch (k->type) {
        case KEY_IGNORED:
                return NULL;
        case KEY_STRING:
                if (!quoted)
                        return "expected a quoted string";
                if (strlen(value) >= k->size)
                        return "value too long";
                strcpy(field, value);
                return NULL;
        case KEY_UINT: {
                if (quoted)
                        return "expected an integer, not a string";
                if (!*value)
                        return "expected an integer";
                for (const char *p = value; *p; p++)
                        if (!isdigit((unsigned char)*p))
                                return "expected a non-negative integer";
                errno = 0;
                unsigned long v = strtoul(value, NULL, 10);
                if (errno || v < k->min || v > k->max)
                        return "out of range";
                if (k->size == sizeof(uint16_t))
                        *(uint16_t *)field = (uint16_t)v;
                else
                        *(uint32_t *)field = (uint32_t)v;
                return NULL;
        }
        case KEY_BOOL:
                if (quoted)
                        return "expected true or false, not a string";
                if (streq(value, "true"))
                        *(bool *)field = true;
                else if (streq(value, "false"))
                        *(bool *)field = false;
                else
                        return "expected true or false";
                return NULL;
        }
        return "unknown key type";
}

static const char *range_text(const struct config_key *k, char *buf, size_t n) {
        if (k->type == KEY_UINT)
                snprintf(buf, n, " (allowed %u..%u)", k->min, k->max);
        else
                buf[0] = '\0';
        return buf;
}

/* Parses a TOML basic string starting after the opening quote; unescapes into out.
 * Returns the position after the closing quote, or NULL. */
static const char *parse_quoted(const char *p, const char *end, char *out, size_t out_size) {
        size_t n = 0;
        while (p < end && *p != '"') {
                char ch = *p++;
                if (ch == '\\') {
                        if (p >= end)
                                return NULL;
                        char e = *p++;
                        switch (e) {
                        case '"': ch = '"'; break;
                        case '\\': ch = '\\'; break;
                        case 'n': ch = '\n'; break;
                        case 't': ch = '\t'; break;
                        default: return NULL;
                        }
                } else if ((unsigned char)ch < 0x20)
                        return NULL;
                if (n + 1 >= out_size)
                        return NULL;
                out[n++] = ch;
        }
        if (p >= end)
                return NULL;
        out[n] = '\0';
        return p + 1;
}

static const char *skip_space(const char *p, const char *end) {
        while (p < end && (*p == ' ' || *p == '\t'))
                p++;
        return p;
}

int config_parse(struct config *c, const char *text, size_t len, const char *filename, struct config_diag *diag) {
        char section[64] = "";
        const char *p = text, *end = text + len;
        unsigned line = 0;

        while (p < end) {
                line++;
                const char *eol = memchr(p, '\n', (size_t)(end - p));
                const char *le = eol ? eol : end;
                if (le > p && le[-1] == '\r')
                        le--;
                const char *q = skip_space(p, le);
                p = eol ? eol + 1 : end;

                if (q == le || *q == '#')
                        continue;
                if (memchr(q, '\0', (size_t)(le - q)))
                        return diag_error(diag, "%s:%u: NUL byte in line", filename, line);

                if (*q == '[') {
                        const char *close = memchr(q, ']', (size_t)(le - q));
                        if (!close)
                                return diag_error(diag, "%s:%u: section header without ']'", filename, line);
                        const char *rest = skip_space(close + 1, le);
                        if (rest < le && *rest != '#')
                                return diag_error(diag, "%s:%u: unexpected text after section header", filename, line);
                        const char *s = skip_space(q + 1, close);
                        const char *se = close;
                        while (se > s && (se[-1] == ' ' || se[-1] == '\t'))
                                se--;
                        if (!section_known(s, (size_t)(se - s)) || (size_t)(se - s) >= sizeof section)
                                return diag_error(diag, "%s:%u: unknown section [%.*s] (known: [gateway], [proxy], [api], [dns], [daemon])",
                                                  filename, line, (int)(se - s), s);
                        memcpy(section, s, (size_t)(se - s));
                        section[se - s] = '\0';
                        continue;
                }

                const char *k = q;
                while (q < le && (isalnum((unsigned char)*q) || *q == '_' || *q == '-'))
                        q++;
                size_t klen = (size_t)(q - k);
                if (klen == 0)
                        return diag_error(diag, "%s:%u: expected 'key = value'", filename, line);
                q = skip_space(q, le);
                if (q >= le || *q != '=')
                        return diag_error(diag, "%s:%u: expected '=' after '%.*s'", filename, line, (int)klen, k);
                q = skip_space(q + 1, le);

                if (!section[0])
                        return diag_error(diag, "%s:%u: key '%.*s' outside a section (put it under [gateway])",
                                          filename, line, (int)klen, k);
                const struct config_key *key = key_find(section, k, klen);
                if (!key)
                        return diag_error(diag, "%s:%u: unknown key '%.*s' in section [%s]", filename, line,
                                          (int)klen, k, section);

                char value[PATH_MAX];
                bool quoted = false;
                if (q < le && *q == '"') {
                        q = parse_quoted(q + 1, le, value, sizeof value);
                        if (!q)
                                return diag_error(diag, "%s:%u: bad string for '%s' (unterminated, bad escape or too long)",
                                                  filename, line, key->name);
                        quoted = true;
                } else {
                        const char *v = q;
                        while (q < le && *q != ' ' && *q != '\t' && *q != '#')
                                q++;
                        if ((size_t)(q - v) >= sizeof value)
                                return diag_error(diag, "%s:%u: value for '%s' too long", filename, line, key->name);
                        memcpy(value, v, (size_t)(q - v));
                        value[q - v] = '\0';
                }
                q = skip_space(q, le);
                if (q < le && *q != '#')
                        return diag_error(diag, "%s:%u: unexpected text after the value of '%s'", filename, line,
                                          key->name);

                const char *problem = key_store(c, key, value, quoted);
                if (problem) {
                        char r[48];
                        return diag_error(diag, "%s:%u: %s: %s%s", filename, line, key->name, problem,
                                          range_text(key, r, sizeof r));
                }
                if (key->type == KEY_IGNORED)
                        diag_warning(diag, "%s:%u: '%s' is accepted for dc-agent compatibility and ignored", filename,
                                     line, key->name);
        }
        return 0;
}

const char *dns_secret_env_for(const char *provider) {
        return streq(provider, "rfc2136")      ? "EDGEGW_DNS_TSIG_SECRET"
               : streq(provider, "cloudflare") ? "EDGEGW_DNS_API_TOKEN"
               : streq(provider, "edgegw")     ? "EDGEGW_DNS_TOKEN"
                                               : NULL;
}

/* The environment name of key k with the given prefix ("EDGEGW_" or the seed's "GATEWAY_"):
 * [gateway] keys are PREFIX<KEY>, the others PREFIX<SECTION>_<KEY>. */
static void env_name(const struct config_key *k, const char *prefix, char out[static 64]) {
        static const char *const sectioned[] = {"api", "dns", "dhcp", "outbound"};
        bool with_section = false;
        for (size_t i = 0; i < ELEMENTSOF(sectioned); i++)
                with_section = with_section || streq(k->section, sectioned[i]);
        if (with_section)
                snprintf(out, 64, "%s%s_%s", prefix, k->section, k->name);
        else
                snprintf(out, 64, "%s%s", prefix, k->name);
        for (char *p = out; *p; p++)
                *p = (char)toupper((unsigned char)*p);
}

/* Applies the variable name=value of envp to key k, if present. Returns 1 if it was, 0 if
 * not, -EINVAL with diag set if its value is refused. */
static int env_apply_one(struct config *c, const struct config_key *k, const char *name, char *const *envp,
                         struct config_diag *diag) {
        size_t n = strlen(name);
        int found = 0;
        for (char *const *e = envp; e && *e; e++) {
                if (strncmp(*e, name, n) != 0 || (*e)[n] != '=')
                        continue;
                /* Strings are taken as they stand; integers and booleans are parsed. */
                const char *problem = key_store(c, k, *e + n + 1, k->type == KEY_STRING);
                if (problem) {
                        char r[48];
                        return diag_error(diag, "environment %s: %s%s", name, problem, range_text(k, r, sizeof r));
                }
                found = 1;
        }
        return found;
}

int config_apply_env(struct config *c, char *const *envp, struct config_diag *diag) {
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++) {
                const struct config_key *k = &config_keys[i];
                if (k->type == KEY_IGNORED)
                        continue;
                char name[64];
                /* The seed's vps-gateway names (GATEWAY_DHCP_POOL_START, GATEWAY_OUTBOUND_IP)
                 * first, so EDGEGW_ wins when both are set. */
                if (streq(k->section, "dhcp") || streq(k->section, "outbound")) {
                        env_name(k, "GATEWAY_", name);
                        int r = env_apply_one(c, k, name, envp, diag);
                        if (r < 0)
                                return r;
                }
                env_name(k, "EDGEGW_", name);
                int r = env_apply_one(c, k, name, envp, diag);
                if (r < 0)
                        return r;
        }
        /* The DNS providers' secrets may come from the environment instead of a file; only the
         * variable's name is kept here, the provider reads the value itself. */
        static const char *const secret_env[] = {"EDGEGW_DNS_TSIG_SECRET", "EDGEGW_DNS_API_TOKEN", "EDGEGW_DNS_TOKEN"};
        c->dns_secret_env[0] = '\0';
        for (char *const *e = envp; e && *e; e++)
                for (size_t i = 0; i < ELEMENTSOF(secret_env); i++) {
                        size_t l = strlen(secret_env[i]);
                        if (strncmp(*e, secret_env[i], l) == 0 && (*e)[l] == '=' && (*e)[l + 1] &&
                            dns_secret_env_for(c->dns_provider) && streq(dns_secret_env_for(c->dns_provider), secret_env[i]))
                                strcpy(c->dns_secret_env, secret_env[i]);
                }
        /* The seed agent's own variable: a docker-compose .env written for it works as is. */
        for (char *const *e = envp; e && *e; e++)
                if (strncmp(*e, "AGENT_TOKEN=", 12) == 0) {
                        if (strlen(*e + 12) >= sizeof c->agent_token)
                                return diag_error(diag, "environment AGENT_TOKEN: value too long (at most %zu characters)",
                                                  sizeof c->agent_token - 1);
                        strcpy(c->agent_token, *e + 12);
                }
        return 0;
}

/* "[ADDR]": ADDR is an IPv6 address. */
static bool config_bracketed_ok(const char *s) {
        char inner[64];
        size_t l = strlen(s);
        if (l < 3 || s[0] != '[' || s[l - 1] != ']' || l - 2 >= sizeof inner)
                return false;
        memcpy(inner, s + 1, l - 2);
        inner[l - 2] = '\0';
        struct ip_addr a;
        return ip_addr_parse(inner, &a) == 0 && a.family == AF_INET6;
}

bool config_public_ip6_auto(const struct config *c) {
        return streq(c->public_ip6, "auto");
}

static bool ifname_valid(const char *s) {
        size_t l = strlen(s);
        if (l == 0 || l > 15 || streq(s, ".") || streq(s, ".."))
                return false;
        for (; *s; s++)
                if (*s <= ' ' || *s == '/' || *s == ':' || *s == 0x7f)
                        return false;
        return true;
}

unsigned config_dns_records(const struct config *c) {
        if (streq(c->dns_records, "a"))
                return CONFIG_DNS_A;
        if (streq(c->dns_records, "aaaa"))
                return CONFIG_DNS_AAAA;
        if (streq(c->dns_records, "a,aaaa"))
                return CONFIG_DNS_A | CONFIG_DNS_AAAA;
        if (c->dns_records[0])
                return 0;
        return (c->public_ip[0] ? CONFIG_DNS_A : 0u) | (c->public_ip6[0] ? CONFIG_DNS_AAAA : 0u);
}

int config_dns_server(const struct config *c, struct ip_addr *ret_addr, uint16_t *ret_port) {
        const char *s = c->dns_server;
        struct ip_addr a;
        uint16_t port;
        if (ip_endpoint_parse(s, &a, &port) == 0) {
                *ret_addr = a;
                *ret_port = port;
                return 0;
        }
        size_t l = strlen(s);
        if (l >= 3 && s[0] == '[' && s[l - 1] == ']') {
                char inner[64];
                if (l - 2 >= sizeof inner)
                        return -EINVAL;
                memcpy(inner, s + 1, l - 2);
                inner[l - 2] = '\0';
                if (ip_addr_parse(inner, &a) < 0 || a.family != AF_INET6)
                        return -EINVAL;
        } else if (ip_addr_parse(s, &a) < 0)
                return -EINVAL;
        *ret_addr = a;
        *ret_port = CONFIG_DNS_PORT_DEFAULT;
        return 0;
}

/* name is zone or lies below it, compared label-wise ignoring case ("xexample.net" is not
 * under "example.net"). */
static bool dns_zone_contains(const char *zone, const char *name) {
        size_t zl = strlen(zone), nl = strlen(name);
        if (nl < zl || strcasecmp(name + nl - zl, zone) != 0)
                return false;
        return nl == zl || name[nl - zl - 1] == '.';
}

/* A zone is a DNS name in any case, without the root's trailing dot. */
static bool dns_zone_valid(const char *zone) {
        char lower[DNS_NAME_MAX + 1];
        size_t l = strlen(zone);
        if (l == 0 || l >= sizeof lower)
                return false;
        for (size_t i = 0; i <= l; i++)
                lower[i] = (char)tolower((unsigned char)zone[i]);
        return dns_name_valid(lower);
}

/* A TSIG key name as name servers accept them: labels of letters, digits, '-' and '_',
 * optionally ending in the root's dot ("edgegw-key", "edgegw_key.example.net."). */
static bool tsig_name_valid(const char *name) {
        size_t l = strlen(name);
        if (l > 0 && name[l - 1] == '.')
                l--;
        if (l == 0 || l > DNS_NAME_MAX)
                return false;
        size_t label = 0;
        for (size_t i = 0; i < l; i++) {
                char ch = name[i];
                if (ch == '.') {
                        if (label == 0)
                                return false;
                        label = 0;
                } else if (isalnum((unsigned char)ch) || ch == '-' || ch == '_') {
                        if (++label > 63)
                                return false;
                } else
                        return false;
        }
        return label > 0;
}

/* "http://HOST..." or "https://HOST...", no white space or control characters. */
static bool url_valid(const char *url) {
        const char *rest;
        if (strncmp(url, "https://", 8) == 0)
                rest = url + 8;
        else if (strncmp(url, "http://", 7) == 0)
                rest = url + 7;
        else
                return false;
        if (!*rest || *rest == '/')
                return false;
        for (const char *p = url; *p; p++)
                if (*p <= ' ' || *p == 0x7f)
                        return false;
        return true;
}

static bool owner_valid(const char *s) {
        size_t l = strlen(s);
        if (l == 0 || l > 63)
                return false;
        for (; *s; s++)
                if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
                        return false;
        return true;
}

static int validate_dns(const struct config *c, struct config_diag *diag) {
        const char *provider = c->dns_provider;
        if (provider[0] && !streq(provider, "rfc2136") && !streq(provider, "cloudflare") && !streq(provider, "edgegw"))
                return diag_error(diag, "dns: provider '%s' is not one of rfc2136, cloudflare, edgegw (or \"\" for off)",
                                  provider);
        /* The shape of every key that is set is checked even with DNS off, so a typo shows now
         * rather than on the day a provider is turned on. */
        if (c->dns_zone[0] && !dns_zone_valid(c->dns_zone))
                return diag_error(diag, "dns: zone '%s' is not a DNS name (labels of letters, digits, '-'; no trailing dot)",
                                  c->dns_zone);
        if (c->dns_records[0] && !config_dns_records(c))
                return diag_error(diag, "dns: records '%s' is not one of a, aaaa, a,aaaa", c->dns_records);
        struct ip_addr a;
        uint16_t port;
        if (c->dns_server[0] && config_dns_server(c, &a, &port) < 0)
                return diag_error(diag, "dns: server '%s' is not ADDR[:PORT] (IPv6 in brackets before a port, e.g. "
                                  "\"[2001:db8::53]:53\"; default port 53)", c->dns_server);
        if (c->dns_tsig_name[0] && !tsig_name_valid(c->dns_tsig_name))
                return diag_error(diag, "dns: tsig_name '%s' is not a key name (labels of letters, digits, '-', '_')",
                                  c->dns_tsig_name);
        if (!streq(c->dns_tsig_algorithm, "hmac-sha256"))
                return diag_error(diag, "dns: tsig_algorithm '%s' is not supported (supported: hmac-sha256)",
                                  c->dns_tsig_algorithm);
        if (!url_valid(c->dns_api_url))
                return diag_error(diag, "dns: api_url '%s' is not an http:// or https:// URL", c->dns_api_url);
        if (c->dns_url[0] && !url_valid(c->dns_url))
                return diag_error(diag, "dns: url '%s' is not an http:// or https:// URL", c->dns_url);
        if (!provider[0])
                return 0;

        static const struct {
                const char *provider, *key;
                size_t offset;
        } required[] = {
                {"rfc2136", "server", offsetof(struct config, dns_server)},
                {"rfc2136", "tsig_name", offsetof(struct config, dns_tsig_name)},
                {"rfc2136", "tsig_secret_file", offsetof(struct config, dns_tsig_secret_file)},
                {"cloudflare", "api_token_file", offsetof(struct config, dns_api_token_file)},
                {"edgegw", "url", offsetof(struct config, dns_url)},
                {"edgegw", "token_file", offsetof(struct config, dns_token_file)},
        };
        for (size_t i = 0; i < ELEMENTSOF(required); i++)
                if (streq(required[i].provider, provider) && !((const char *)c + required[i].offset)[0]) {
                        bool secret = strstr(required[i].key, "file") != NULL;
                        if (secret && c->dns_secret_env[0])
                                continue; /* the secret is in the environment */
                        return diag_error(diag, "dns: provider %s needs %s%s%s", provider, required[i].key,
                                          secret ? " (or the environment variable " : "",
                                          secret ? dns_secret_env_for(provider) : "");
                }
        if (c->dns_owner[0] && !owner_valid(c->dns_owner))
                return diag_error(diag, "dns: owner '%s' is not 1-63 letters, digits, '-', '_' or '.'", c->dns_owner);
        if (!c->dns_zone[0])
                return diag_error(diag, "dns: provider %s needs a zone (the DNS zone the VM names are published in)",
                                  provider);
        /* Every published name is {slug}.{datacenter}.{domain} (or the base itself), so the zone
         * contains them all exactly when it contains the base. */
        char base[sizeof c->datacenter + sizeof c->domain + 1];
        snprintf(base, sizeof base, "%s.%s", c->datacenter, c->domain);
        if (!dns_zone_contains(c->dns_zone, base))
                return diag_error(diag, "dns: zone %s does not contain %s, where the VM names live", c->dns_zone, base);

        unsigned records = config_dns_records(c);
        if (!records)
                return diag_error(diag, "dns: nothing to publish: set public_ip and/or public_ip6");
        if ((records & CONFIG_DNS_A) && !c->public_ip[0])
                return diag_error(diag, "dns: records '%s' asks for A records but public_ip is not set", c->dns_records);
        if ((records & CONFIG_DNS_AAAA) && !c->public_ip6[0])
                return diag_error(diag, "dns: records '%s' asks for AAAA records but public_ip6 is not set",
                                  c->dns_records);
        return 0;
}

/* An IPv4 address in host order, from key's text; false if it is not one. */
static bool ipv4_of(const char *text, uint32_t *ret) {
        struct ip_addr a;
        if (ip_addr_parse(text, &a) < 0 || a.family != AF_INET)
                return false;
        *ret = (uint32_t)a.bytes[0] << 24 | (uint32_t)a.bytes[1] << 16 | (uint32_t)a.bytes[2] << 8 | a.bytes[3];
        return true;
}

/* dnsmasq's lease time: seconds (at least 120), or a number with s, m, h, d; or "infinite". */
static bool lease_time_valid(const char *t) {
        if (streq(t, "infinite"))
                return true;
        size_t digits = strspn(t, "0123456789");
        if (digits == 0 || digits > 7 || (t[digits] && (strchr("smhd", t[digits]) == NULL || t[digits + 1])))
                return false;
        unsigned long v = strtoul(t, NULL, 10), mult = 1;
        switch (t[digits]) {
        case 'm': mult = 60; break;
        case 'h': mult = 3600; break;
        case 'd': mult = 86400; break;
        }
        return v * mult >= 120;
}

static int validate_dhcp(const struct config *c, struct config_diag *diag) {
        static const struct {
                const char *key;
                size_t offset;
        } addrs[] = {
                {"subnet", offsetof(struct config, dhcp_subnet)},
                {"subnet_mask", offsetof(struct config, dhcp_subnet_mask)},
                {"pool_start", offsetof(struct config, dhcp_pool_start)},
                {"pool_end", offsetof(struct config, dhcp_pool_end)},
                {"gateway", offsetof(struct config, dhcp_gateway)},
                {"listen_ip", offsetof(struct config, dhcp_listen_ip)},
        };
        uint32_t v[ELEMENTSOF(addrs)] = {0};
        for (size_t i = 0; i < ELEMENTSOF(addrs); i++) {
                const char *text = (const char *)c + addrs[i].offset;
                if (text[0] && !ipv4_of(text, &v[i]))
                        return diag_error(diag, "dhcp: %s '%s' is not an IPv4 address", addrs[i].key, text);
                if (!text[0] && c->dhcp_interface[0] && i < 5)
                        return diag_error(diag, "dhcp: interface %s is set, so %s is needed too (subnet, subnet_mask, "
                                          "pool_start, pool_end, gateway)", c->dhcp_interface, addrs[i].key);
        }
        if (c->dhcp_interface[0] && !ifname_valid(c->dhcp_interface))
                return diag_error(diag, "dhcp: interface '%s' is not an interface name", c->dhcp_interface);
        if (!streq(c->dhcp_unknown_clients, "allow") && !streq(c->dhcp_unknown_clients, "deny"))
                return diag_error(diag, "dhcp: unknown_clients '%s' is not allow or deny", c->dhcp_unknown_clients);
        if (!lease_time_valid(c->dhcp_lease_time))
                return diag_error(diag, "dhcp: lease_time '%s' is not a duration of at least 2 minutes (3600, 45m, 12h, "
                                  "7d) or \"infinite\"", c->dhcp_lease_time);
        if (!dns_name_valid(c->dhcp_domain))
                return diag_error(diag, "dhcp: domain '%s' is not a DNS name", c->dhcp_domain);
        char copy[sizeof c->dhcp_dns], *save = NULL;
        strcpy(copy, c->dhcp_dns);
        for (char *t = strtok_r(copy, " ,", &save); t; t = strtok_r(NULL, " ,", &save)) {
                struct ip_addr a;
                if (ip_addr_parse(t, &a) < 0)
                        return diag_error(diag, "dhcp: dns '%s' is not an IP address (upstream resolvers, comma-separated)",
                                          t);
        }
        if (c->dhcp_interface[0]) {
                uint32_t net = v[0], mask = v[1], start = v[2], end = v[3], gw = v[4];
                if (mask == 0 || (~mask & (~mask + 1)) != 0)
                        return diag_error(diag, "dhcp: subnet_mask %s is not a netmask (contiguous ones, e.g. "
                                          "255.255.255.0)", c->dhcp_subnet_mask);
                if ((net & mask) != net)
                        return diag_error(diag, "dhcp: subnet %s is not the network address of mask %s (that is "
                                          "%u.%u.%u.%u)", c->dhcp_subnet, c->dhcp_subnet_mask, (net & mask) >> 24,
                                          (net & mask) >> 16 & 255, (net & mask) >> 8 & 255, net & mask & 255);
                uint32_t bcast = net | ~mask;
                if ((start & mask) != net || (end & mask) != net || start == net || end == bcast)
                        return diag_error(diag, "dhcp: the pool %s-%s is not inside %s/%s (without its network and "
                                          "broadcast addresses)", c->dhcp_pool_start, c->dhcp_pool_end, c->dhcp_subnet,
                                          c->dhcp_subnet_mask);
                if (start > end)
                        return diag_error(diag, "dhcp: pool_start %s is above pool_end %s", c->dhcp_pool_start,
                                          c->dhcp_pool_end);
                if ((gw & mask) != net)
                        return diag_error(diag, "dhcp: gateway %s is not inside %s/%s", c->dhcp_gateway, c->dhcp_subnet,
                                          c->dhcp_subnet_mask);
                if (c->dhcp_listen_ip[0] && (v[5] & mask) != net)
                        return diag_error(diag, "dhcp: listen_ip %s is not inside %s/%s", c->dhcp_listen_ip,
                                          c->dhcp_subnet, c->dhcp_subnet_mask);
                if (gw >= start && gw <= end)
                        diag_warning(diag, "dhcp: gateway %s is inside the pool %s-%s: it is never handed out",
                                     c->dhcp_gateway, c->dhcp_pool_start, c->dhcp_pool_end);
        }
        uint32_t ob;
        if (c->outbound_ip[0] && !ipv4_of(c->outbound_ip, &ob))
                return diag_error(diag, "outbound: ip '%s' is not an IPv4 address", c->outbound_ip);
        if (c->outbound_interface[0] && !ifname_valid(c->outbound_interface))
                return diag_error(diag, "outbound: interface '%s' is not an interface name", c->outbound_interface);
        return 0;
}

int config_validate(const struct config *c, struct config_diag *diag) {
        if (!dns_label_valid(c->datacenter, strlen(c->datacenter)))
                return diag_error(diag, "datacenter '%s' is not a DNS label (lower-case letters, digits, '-')",
                                  c->datacenter);
        if (!dns_name_valid(c->domain))
                return diag_error(diag, "domain '%s' is not a valid DNS name", c->domain);
        char name[DNS_NAME_MAX + 1];
        if (vm_subdomain("xxxxxx", c->datacenter, c->domain, name) < 0)
                return diag_error(diag, "datacenter and domain are too long: VM names would exceed 253 characters");
        struct ip_addr a;
        if (c->public_ip[0] && (ip_addr_parse(c->public_ip, &a) < 0 || a.family != AF_INET))
                return diag_error(diag, "public_ip '%s' is not an IPv4 address", c->public_ip);
        if (c->public_ip6[0] && !config_public_ip6_auto(c) &&
            (ip_addr_parse(c->public_ip6, &a) < 0 || a.family != AF_INET6))
                return diag_error(diag, "public_ip6 '%s' is not an IPv6 address (or \"auto\" with public_interface)",
                                  c->public_ip6);
        if (config_public_ip6_auto(c) && !c->public_interface[0])
                return diag_error(diag, "public_ip6 = \"auto\" needs public_interface (the interface whose global "
                                  "IPv6 address the AAAA records follow)");
        if (c->public_interface[0] && !ifname_valid(c->public_interface))
                return diag_error(diag, "public_interface '%s' is not an interface name (1-15 characters, no '/', "
                                  "':' or spaces)", c->public_interface);
        if (c->port_range_start > c->port_range_end)
                return diag_error(diag, "port_range_start %u is above port_range_end %u", c->port_range_start,
                                  c->port_range_end);
        if ((uint32_t)c->port_range_end - c->port_range_start + 1 < c->ports_per_vm)
                return diag_error(diag, "ports_per_vm %u does not fit in the port range %u-%u", c->ports_per_vm,
                                  c->port_range_start, c->port_range_end);
        if (c->port_range_start <= 1024)
                return diag_error(diag, "port_range_start %u would shadow well-known ports; use 1025 or above",
                                  c->port_range_start);
        if (c->state_dir[0] != '/')
                return diag_error(diag, "state_dir '%s' must be an absolute path", c->state_dir);
        const char *lists[] = {c->https_listen, c->http_listen};
        for (size_t i = 0; i < 2; i++) {
                char copy[sizeof c->https_listen], *save = NULL;
                unsigned n = 0;
                strcpy(copy, lists[i]);
                for (char *t = strtok_r(copy, " ,", &save); t; t = strtok_r(NULL, " ,", &save)) {
                        uint16_t port;
                        if (ip_endpoint_parse(t, &a, &port) < 0)
                                return diag_error(diag, "%s: '%s' is not ADDR:PORT (IPv6 in brackets)",
                                                  i ? "http_listen" : "https_listen", t);
                        if (++n > 4)
                                return diag_error(diag, "%s: at most 4 addresses", i ? "http_listen" : "https_listen");
                }
        }
        if (c->default_backend[0]) {
                uint16_t port;
                if (ip_endpoint_parse(c->default_backend, &a, &port) < 0)
                        return diag_error(diag, "default_backend '%s' is not ADDR:PORT", c->default_backend);
        }
        if (!streq(c->removed_routes, "finish") && !streq(c->removed_routes, "close"))
                return diag_error(diag, "removed_routes '%s' is not 'finish' or 'close'", c->removed_routes);
        if (!streq(c->forward_mode, "kernel") && !streq(c->forward_mode, "userspace"))
                return diag_error(diag, "forward_mode '%s' is not 'kernel' or 'userspace'", c->forward_mode);
        if (ip_addr_parse(c->forward_listen, &a) < 0 && !config_bracketed_ok(c->forward_listen))
                return diag_error(diag, "forward_listen '%s' is not an IP address (\"[::]\", \"0.0.0.0\", ...)",
                                  c->forward_listen);
        const char *listeners[] = {c->api_listen, c->metrics_listen};
        for (size_t i = 0; i < 2; i++) {
                uint16_t port;
                if (listeners[i][0] && ip_endpoint_parse(listeners[i], &a, &port) < 0)
                        return diag_error(diag, "%s '%s' is not ADDR:PORT (IPv6 in brackets, e.g. \"127.0.0.1:8081\")",
                                          i ? "metrics_listen" : "listen", listeners[i]);
        }
        if (c->api_listen[0] && streq(c->api_listen, c->metrics_listen))
                return diag_error(diag, "metrics_listen '%s' is the API's own listen address; leave it empty to "
                                  "serve /metrics on the API listener (with a read token)", c->metrics_listen);
        if (!c->api_tls_cert[0] != !c->api_tls_key[0])
                return diag_error(diag, "tls_cert and tls_key go together: set both (TLS on the API listener) or neither");
        if (c->api_tls_cert[0] && !c->api_listen[0])
                diag_warning(diag, "tls_cert/tls_key are set but [api] listen is empty: no TCP listener uses them");
        for (const char *p = c->agent_token; *p; p++)
                if (*p <= ' ' || *p > '~')
                        return diag_error(diag, "the agent token (AGENT_TOKEN or agent_token_file) must be printable "
                                          "ASCII without spaces");
        if (c->agent_token[0] && strlen(c->agent_token) < 16)
                diag_warning(diag, "the agent token is only %zu characters long; use 16 or more (e.g. openssl rand -hex 24)",
                             strlen(c->agent_token));
        if (!streq(c->log_level, "error") && !streq(c->log_level, "warning") && !streq(c->log_level, "info") &&
            !streq(c->log_level, "debug"))
                return diag_error(diag, "log_level '%s' is not one of error, warning, info, debug", c->log_level);
        int r = validate_dns(c, diag);
        if (r < 0)
                return r;
        return validate_dhcp(c, diag);
}

/* The first line of agent_token_file (surrounding white space removed) into c->agent_token. */
static int read_agent_token(struct config *c, struct config_diag *diag) {
        FILE *f = fopen(c->agent_token_file, "re");
        if (!f) {
                int e = errno;
                diag_error(diag, "agent_token_file %s: cannot open: %s", c->agent_token_file, strerror(e));
                return -e;
        }
        char line[CONFIG_AGENT_TOKEN_MAX + 3] = "";
        bool got = fgets(line, sizeof line, f) != NULL;
        fclose(f);
        size_t l = got ? strlen(line) : 0;
        while (l && isspace((unsigned char)line[l - 1]))
                line[--l] = '\0';
        const char *t = line;
        while (isspace((unsigned char)*t))
                t++;
        if (!*t)
                return diag_error(diag, "agent_token_file %s: empty", c->agent_token_file);
        if (strlen(t) > CONFIG_AGENT_TOKEN_MAX)
                return diag_error(diag, "agent_token_file %s: token longer than %d characters", c->agent_token_file,
                                  CONFIG_AGENT_TOKEN_MAX);
        strcpy(c->agent_token, t);
        explicit_bzero(line, sizeof line);
        return 0;
}

/* The active DNS provider's secret files must be readable now; their contents are the
 * provider's business and never pass through here. */
static int check_dns_secret_files(const struct config *c, struct config_diag *diag) {
        const struct {
                const char *provider, *key, *path;
        } files[] = {
                {"rfc2136", "tsig_secret_file", c->dns_tsig_secret_file},
                {"cloudflare", "api_token_file", c->dns_api_token_file},
                {"edgegw", "token_file", c->dns_token_file},
        };
        for (size_t i = 0; i < ELEMENTSOF(files); i++)
                if (streq(files[i].provider, c->dns_provider) && !(c->dns_secret_env[0] && !files[i].path[0]) &&
                    access(files[i].path, R_OK) < 0) {
                        int e = errno;
                        diag_error(diag, "dns: %s %s: cannot read: %s", files[i].key, files[i].path, strerror(e));
                        return -e;
                }
        return 0;
}

int config_load(const char *path, struct config *ret, struct config_diag *diag) {
        struct config c;
        config_defaults(&c);
        const char *p = path;
        if (!p && access(CONFIG_DEFAULT_PATH, F_OK) == 0)
                p = CONFIG_DEFAULT_PATH;
        if (p) {
                FILE *f = fopen(p, "re");
                if (!f) {
                        int e = errno;
                        diag_error(diag, "%s: cannot open: %s", p, strerror(e));
                        return -e;
                }
                char *text = NULL;
                size_t len = 0;
                FILE *m = open_memstream(&text, &len);
                if (!m) {
                        fclose(f);
                        return -ENOMEM;
                }
                char buf[4096];
                size_t n;
                while ((n = fread(buf, 1, sizeof buf, f)) > 0)
                        fwrite(buf, 1, n, m);
                bool rerr = ferror(f);
                fclose(f);
                fclose(m);
                if (rerr) {
                        free(text);
                        diag_error(diag, "%s: read error", p);
                        return -EIO;
                }
                int r = config_parse(&c, text, len, p, diag);
                free(text);
                if (r < 0)
                        return r;
        }
        int r = config_apply_env(&c, environ, diag);
        if (r < 0)
                return r;
        if (!c.agent_token[0] && c.agent_token_file[0] && (r = read_agent_token(&c, diag)) < 0)
                return r;
        r = config_validate(&c, diag);
        if (r < 0)
                return r;
        r = check_dns_secret_files(&c, diag);
        if (r < 0)
                return r;
        *ret = c;
        return 0;
}

int config_state_path(const struct config *c, const char *name, char *buf, size_t n) {
        int l = snprintf(buf, n, "%s/%s", c->state_dir, name);
        if (l < 0 || (size_t)l >= n)
                return -ENAMETOOLONG;
        return 0;
}
