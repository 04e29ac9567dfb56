/* SPDX-License-Identifier: MIT */
/*
 * The configuration: one file in the seed's TOML form (a [gateway] section with
 * datacenter, domain, public_ip, port_range_start/end, ports_per_vm, ...), then EDGEGW_*
 * environment overrides. Parsing is pure (text and an environment in, a struct or the
 * first error with file:line out); config_load() is the thin edge that reads the file.
 */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ip_addr;

#define CONFIG_DEFAULT_PATH "/etc/edgegw/edgegw.conf"
#define CONFIG_DEFAULT_STATE_DIR "/var/lib/edgegw"
#define CONFIG_WARNINGS_MAX 8
#define CONFIG_AGENT_TOKEN_MAX 255
#define CONFIG_DNS_API_URL_DEFAULT "https://api.cloudflare.com/client/v4"
#define CONFIG_DNS_PORT_DEFAULT 53

struct config {
        /* [gateway] */
        char datacenter[64];
        char domain[254];
        char public_ip[16]; /* IPv4 text or "" */
        char public_ip6[46]; /* IPv6 text, "auto" (the global address public_interface has, followed
                              * via netlink; DNS only) or "" */
        char public_interface[16]; /* the interface public_ip6 = "auto" reads; "" = none */
        uint16_t port_range_start;
        uint16_t port_range_end;
        uint16_t ports_per_vm;
        char state_dir[PATH_MAX];
        char forward_mode[16]; /* "kernel" (nftables DNAT) or "userspace" (the proxy relays) */
        /* [proxy] */
        char https_listen[256]; /* space-separated ADDR:PORT list; "" = no :443 proxy */
        char http_listen[256];
        char default_backend[64]; /* "ADDR:PORT" for hellos without a known name; "" = none */
        char removed_routes[16]; /* "finish" or "close" */
        char forward_listen[64]; /* address the user-space forwards bind their public ports to */
        uint32_t udp_timeout_ms; /* a user-space UDP forward session idle this long is closed */
        uint32_t workers, hello_max, hello_timeout_ms, connect_timeout_ms, idle_timeout_ms;
        uint32_t max_connections, max_connections_per_source;
        /* [api] */
        char api_listen[64]; /* "ADDR:PORT" of the TCP listener (bearer tokens); "" = off */
        char api_tls_cert[PATH_MAX]; /* PEM files: both set = TLS on the TCP listener */
        char api_tls_key[PATH_MAX];
        char metrics_listen[64]; /* "ADDR:PORT" serving only GET /metrics without a token; "" = off */
        char agent_token_file[PATH_MAX]; /* the seed agent's AGENT_TOKEN, accepted as X-Agent-Token */
        char agent_token[CONFIG_AGENT_TOKEN_MAX + 1]; /* the token itself: AGENT_TOKEN from the environment,
                                                         else the first line of agent_token_file; "" = none.
                                                         A secret: never printed or logged */
        uint32_t api_rate_limit; /* requests/s per token (sustained); 0 = no limit */
        uint32_t api_rate_limit_source; /* requests/s per source address on TCP; 0 = no limit */
        uint32_t api_rate_burst; /* bucket size of both limits */
        uint32_t api_max_body; /* bytes; larger bodies get 413 */
        uint32_t api_timeout; /* seconds a connection may sit idle or trickle before it is closed */
        /* [dns] (issue 5): keys are stored as dns_<key> and read from EDGEGW_DNS_<KEY>. Secrets are
         * only ever paths here; the provider reads the files itself. */
        char dns_provider[16]; /* "" (off), "rfc2136", "cloudflare" or "edgegw" */
        char dns_zone[254]; /* must contain {datacenter}.{domain}; compared case-insensitively */
        uint32_t dns_ttl; /* seconds, 30..86400 */
        char dns_records[16]; /* "a", "aaaa", "a,aaaa", or "" = by public_ip/public_ip6: see config_dns_records() */
        char dns_server[64]; /* rfc2136: "ADDR[:PORT]", see config_dns_server() */
        char dns_tsig_name[254]; /* rfc2136: the TSIG key's name */
        char dns_tsig_algorithm[32]; /* rfc2136: only "hmac-sha256" */
        char dns_tsig_secret_file[PATH_MAX]; /* rfc2136: file holding the base64 TSIG secret */
        char dns_api_token_file[PATH_MAX]; /* cloudflare: file holding the scoped API token */
        bool dns_proxied; /* cloudflare: records are "proxied" (orange cloud) */
        char dns_api_url[256]; /* cloudflare: API v4 base URL (tests point it at a local fake) */
        char dns_url[256]; /* edgegw: base URL of the central edgegw's API */
        char dns_token_file[PATH_MAX]; /* edgegw: file holding a token with the dns scope */
        char dns_owner[64]; /* the ownership mark's owner ("" = datacenter): see dns/provider.h */
        char dns_secret_env[32]; /* not a key: the name of the environment variable that holds the
                                  * active provider's secret instead of its file ("" = none);
                                  * EDGEGW_DNS_TSIG_SECRET, EDGEGW_DNS_API_TOKEN or EDGEGW_DNS_TOKEN */
        /* [dhcp] (issue 6): keys stored as dhcp_<key>, read from EDGEGW_DHCP_<KEY> or the seed's
         * GATEWAY_DHCP_<KEY> (EDGEGW_ wins when both are set). interface "" = DHCP off. */
        char dhcp_interface[16]; /* the VMs' bridge (or the interface on it) dnsmasq serves */
        char dhcp_listen_ip[16]; /* the gateway's address on it ("" = dhcp_gateway) */
        char dhcp_subnet[16]; /* IPv4 network address, e.g. 10.15.3.0 */
        char dhcp_subnet_mask[16]; /* dotted mask, e.g. 255.255.255.0 */
        char dhcp_pool_start[16], dhcp_pool_end[16]; /* inside the subnet, start <= end */
        char dhcp_gateway[16]; /* the router the VMs are told about (option 3) */
        char dhcp_dns[256]; /* upstream resolvers, comma-separated addresses ("" = the host's) */
        char dhcp_domain[254]; /* the VMs' DNS domain; default "vps.local" */
        char dhcp_lease_time[16]; /* dnsmasq's form: 3600, 45m, 12h, 7d or "infinite"; default "12h" */
        char dhcp_unknown_clients[8]; /* "allow" (pool addresses for unknown MACs) or "deny" */
        /* [outbound] (issue 6): SNAT of the VMs' traffic; also OUTBOUND_IP / GATEWAY_OUTBOUND_*. */
        char outbound_ip[16]; /* the source address VM traffic leaves with ("" = masquerade) */
        char outbound_interface[16]; /* the interface it leaves by ("" = the default route's) */
        /* [daemon] */
        char log_level[16];
        uint32_t resync_interval; /* seconds between drift checks of the kernel rules; 0 = off */
};

struct config_diag {
        char error[512]; /* "FILE:LINE: what is wrong" when a call fails */
        unsigned n_warnings;
        char warnings[CONFIG_WARNINGS_MAX][256]; /* accepted but ignored keys, ... */
};

/* The built-in defaults (seed 000's range 20000-59999, 10 per VM). */
void config_defaults(struct config *c);

/* Parses text (len bytes, need not be NUL-terminated) over the values already in *c.
 * filename is only used in messages. Returns 0, or -EINVAL with diag->error set; *c may
 * then hold a partial result. */
int config_parse(struct config *c, const char *text, size_t len, const char *filename, struct config_diag *diag);

/* Applies EDGEGW_<KEY> overrides from envp (NULL-terminated "NAME=value" strings).
 * Returns 0 or -EINVAL with diag->error naming the variable. */
int config_apply_env(struct config *c, char *const *envp, struct config_diag *diag);
/* The environment variable that may hold provider's secret instead of its file:
 * EDGEGW_DNS_TSIG_SECRET (rfc2136), EDGEGW_DNS_API_TOKEN (cloudflare), EDGEGW_DNS_TOKEN
 * (edgegw); NULL for anything else. */
const char *dns_secret_env_for(const char *provider);

/* Cross-field checks (range order, block size fits the range, names are DNS names).
 * Returns 0 or -EINVAL with diag->error. */
int config_validate(const struct config *c, struct config_diag *diag);

/* defaults + file (when path is non-NULL, or CONFIG_DEFAULT_PATH if it exists) + environ +
 * validate. A missing explicit path is an error. Returns 0 or a negative errno with
 * diag->error set. */
int config_load(const char *path, struct config *ret, struct config_diag *diag);

enum config_dns_record {
        CONFIG_DNS_A = 1 << 0,
        CONFIG_DNS_AAAA = 1 << 1,
};

/* The record types to publish (a set of enum config_dns_record): dns_records when set, else
 * A when public_ip is set and AAAA when public_ip6 is set. 0 when there is nothing to
 * publish or dns_records is not one of the accepted values (config_validate refuses that). */
unsigned config_dns_records(const struct config *c);
/* Whether public_ip6 is "auto" (followed from public_interface at run time). */
bool config_public_ip6_auto(const struct config *c);

/* dns_server as an address and port (CONFIG_DNS_PORT_DEFAULT when it has none): "ADDR:PORT",
 * "[IPv6]:PORT", "ADDR" or "[IPv6]". Returns 0, or -EINVAL with the outputs untouched. */
int config_dns_server(const struct config *c, struct ip_addr *ret_addr, uint16_t *ret_port);

/* Full path of a file inside the state dir into buf (size n); -ENAMETOOLONG if too long. */
int config_state_path(const struct config *c, const char *name, char *buf, size_t n);
