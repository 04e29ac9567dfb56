/* SPDX-License-Identifier: MIT */
/*
 * dnsmasq's files (issue 6), rendered from the [dhcp] configuration and the store's leases:
 * the config file edgegwd starts its dnsmasq with, the dhcp-hostsfile (one "MAC,IP[,NAME]"
 * per lease: each MAC gets exactly its address) and the addn-hosts file ("IP NAME
 * NAME.DOMAIN" per named lease: the VMs' names). The daemon's supervisor (daemon/dnsmasq.c)
 * writes them under STATE_DIR/dnsmasq/ and runs dnsmasq; the two hosts files change with the
 * leases (dnsmasq re-reads them on SIGHUP), the config file only with the configuration.
 * Pure: text in a strbuf, no I/O; the same input always gives the same bytes.
 */
#pragma once

#include <limits.h>
#include <stddef.h>

#include "../core/strbuf.h"
#include "lease.h"

struct config;

/* The directory under state_dir, and the files in it. */
#define DNSMASQ_DIR "dnsmasq"

struct dnsmasq_paths {
        char dir[PATH_MAX]; /* STATE_DIR/dnsmasq */
        char conf[PATH_MAX]; /* dnsmasq.conf: rendered from the configuration */
        char hosts[PATH_MAX]; /* dnsmasq.hosts: addn-hosts, the names */
        char dhcp_hosts[PATH_MAX]; /* dnsmasq.dhcp-hosts: dhcp-hostsfile, MAC -> address */
        char leases[PATH_MAX]; /* dnsmasq.leases: dnsmasq's own lease database */
        char pid[PATH_MAX]; /* dnsmasq.pid */
};

/* The paths under state_dir. 0; -ENAMETOOLONG; -EINVAL when state_dir holds a character
 * dnsmasq's config syntax cannot carry (a newline, '#', ',' or a quote). */
int dnsmasq_paths_init(struct dnsmasq_paths *ret, const char *state_dir);

/* Appends dnsmasq.conf for c's [dhcp] section to out: DHCP and DNS on dhcp_interface only
 * (never loopback, never another interface), the pool, the router and DNS server options
 * (the DNS server is listen_ip, or the gateway when it is unset), the domain answered
 * locally only, the upstreams of dhcp_dns (or the host's resolv.conf when empty), the
 * files of p, unknown MACs ignored when unknown_clients = deny. user and group are the
 * account dnsmasq drops to after binding ("nobody", or "root" when it could not read the
 * files otherwise); group NULL leaves dnsmasq's default.
 * 0; -EINVAL when DHCP is off or a value does not parse (config_validate refuses those);
 * -ENOMEM. out is left as it was on failure. */
int dnsmasq_render_conf(const struct config *c, const struct dnsmasq_paths *p, const char *user, const char *group,
                        struct strbuf *out);

/* Appends the dhcp-hostsfile: "MAC,IP,NAME" (or "MAC,IP" for a lease without a name), one
 * line per lease, by address. Leases need not be sorted. 0 or -ENOMEM. */
int dnsmasq_render_dhcp_hosts(const struct lease *leases, size_t n, struct strbuf *out);

/* Appends the addn-hosts file: "IP NAME NAME.DOMAIN" for every lease with a name, by
 * address; domain is dhcp_domain. 0; -EINVAL for a domain longer than a DNS name; -ENOMEM. */
int dnsmasq_render_hosts(const char *domain, const struct lease *leases, size_t n, struct strbuf *out);
