/* SPDX-License-Identifier: MIT */
#include "dnsmasqconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/config.h"
#include "vm.h"

/* A value dnsmasq reads up to the end of its line: nothing that ends the line, starts a
 * comment, separates list items or opens a quote. */
static bool conf_value_safe(const char *s) {
        return s[0] && !s[strcspn(s, "\n\r#,\"'\\")];
}

int dnsmasq_paths_init(struct dnsmasq_paths *ret, const char *state_dir) {
        if (!state_dir[0] || !conf_value_safe(state_dir))
                return -EINVAL;
        struct dnsmasq_paths p;
        static const struct {
                size_t offset;
                const char *name;
        } files[] = {
                {offsetof(struct dnsmasq_paths, dir), ""},
                {offsetof(struct dnsmasq_paths, conf), "/dnsmasq.conf"},
                {offsetof(struct dnsmasq_paths, hosts), "/dnsmasq.hosts"},
                {offsetof(struct dnsmasq_paths, dhcp_hosts), "/dnsmasq.dhcp-hosts"},
                {offsetof(struct dnsmasq_paths, leases), "/dnsmasq.leases"},
                {offsetof(struct dnsmasq_paths, pid), "/dnsmasq.pid"},
        };
        size_t l = strlen(state_dir);
        while (l > 1 && state_dir[l - 1] == '/') /* "/var/lib/edgegw/" is the same directory */
                l--;
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                char *out = (char *)&p + files[i].offset;
                int n = snprintf(out, PATH_MAX, "%.*s%s" DNSMASQ_DIR "%s", (int)l, state_dir,
                                 state_dir[l - 1] == '/' ? "" : "/", files[i].name);
                if (n < 0 || n >= PATH_MAX)
                        return -ENAMETOOLONG;
        }
        *ret = p;
        return 0;
}

/* The lease time in dnsmasq's syntax: digits with an optional s/m/h/d, or "infinite". */
static bool lease_time_safe(const char *t) {
        return streq(t, "infinite") || (t[0] && strspn(t, "0123456789smhd") == strlen(t));
}

int dnsmasq_render_conf(const struct config *c, const struct dnsmasq_paths *p, const char *user, const char *group,
                        struct strbuf *out) {
        uint32_t net, mask, start, end, gateway, dns_server;
        if (!c->dhcp_interface[0] || !conf_value_safe(c->dhcp_interface) || ipv4_parse(c->dhcp_subnet, &net) < 0 ||
            ipv4_parse(c->dhcp_subnet_mask, &mask) < 0 || ipv4_parse(c->dhcp_pool_start, &start) < 0 ||
            ipv4_parse(c->dhcp_pool_end, &end) < 0 || ipv4_parse(c->dhcp_gateway, &gateway) < 0 ||
            !dns_name_valid(c->dhcp_domain) || !lease_time_safe(c->dhcp_lease_time) || !conf_value_safe(user) ||
            (group && !conf_value_safe(group)))
                return -EINVAL;
        dns_server = gateway;
        if (c->dhcp_listen_ip[0] && ipv4_parse(c->dhcp_listen_ip, &dns_server) < 0)
                return -EINVAL;
        bool deny = streq(c->dhcp_unknown_clients, "deny");

        char t_net[16], t_mask[16], t_start[16], t_end[16], t_gw[16], t_dns[16];
        ipv4_format(net, t_net);
        ipv4_format(mask, t_mask);
        ipv4_format(start, t_start);
        ipv4_format(end, t_end);
        ipv4_format(gateway, t_gw);
        ipv4_format(dns_server, t_dns);
        /* Every address of the subnet may hold a lease at once (fixed ones may lie outside the
         * pool); dnsmasq's default of 1000 would refuse the rest. It depends on the
         * configuration only, so adding leases never changes this file. */
        uint32_t hosts_in_subnet = ~mask > 1 ? ~mask - 1 : 1;

        struct strbuf b = {0};
        strbuf_printf(&b,
                      "# dnsmasq.conf, written by edgegwd from its [dhcp] configuration; edgegwd rewrites it\n"
                      "# (and restarts dnsmasq) when the configuration changes, so do not edit it.\n"
                      "# DHCP for %s/%s and DNS for the VMs' names, on %s only.\n"
                      "\n"
                      "# Only the VMs' interface: never loopback or any other interface of this host, so the\n"
                      "# host's own resolver is left alone. bind-dynamic follows the interface's addresses.\n"
                      "interface=%s\n"
                      "except-interface=lo\n"
                      "bind-dynamic\n"
                      "user=%s\n"
                      "%s%s%s"
                      "pid-file=%s\n"
                      "log-facility=-\n"
                      "\n"
                      "# DNS: the leases' names (NAME and NAME.%s) from the hosts file; the domain is never\n"
                      "# forwarded, everything else is.\n"
                      "no-hosts\n"
                      "addn-hosts=%s\n"
                      "domain=%s\n"
                      "local=/%s/\n"
                      "expand-hosts\n"
                      "domain-needed\n"
                      "bogus-priv\n",
                      t_net, t_mask, c->dhcp_interface, c->dhcp_interface, user, group ? "group=" : "", group ? group : "",
                      group ? "\n" : "", p->pid, c->dhcp_domain, p->hosts,
                      c->dhcp_domain, c->dhcp_domain);
        char copy[sizeof c->dhcp_dns], *save = NULL;
        size_t n_upstreams = 0;
        snprintf(copy, sizeof copy, "%s", c->dhcp_dns);
        for (char *s = strtok_r(copy, " ,", &save); s; s = strtok_r(NULL, " ,", &save)) {
                struct ip_addr a;
                if (ip_addr_parse(s, &a) < 0) {
                        strbuf_done(&b);
                        return -EINVAL;
                }
                if (n_upstreams++ == 0)
                        strbuf_append(&b, "no-resolv\n");
                strbuf_printf(&b, "server=%s\n", s);
        }
        if (n_upstreams == 0)
                strbuf_append(&b, "# [dhcp] dns is empty: the upstreams of the host's /etc/resolv.conf\n");
        strbuf_printf(&b,
                      "\n"
                      "# DHCP: each leased MAC gets exactly its address (dhcp-hostsfile, re-read on SIGHUP);\n"
                      "# %s.\n"
                      "dhcp-range=%s,%s,%s,%s\n"
                      "%s"
                      "dhcp-hostsfile=%s\n"
                      "dhcp-leasefile=%s\n"
                      "dhcp-lease-max=%u\n"
                      "dhcp-authoritative\n"
                      "dhcp-option=option:router,%s\n"
                      "dhcp-option=option:dns-server,%s\n",
                      deny ? "unknown_clients = deny: other MACs get nothing"
                           : "unknown_clients = allow: other MACs get a free address of the pool",
                      t_start, t_end, t_mask, c->dhcp_lease_time, deny ? "dhcp-ignore=tag:!known\n" : "", p->dhcp_hosts,
                      p->leases, hosts_in_subnet, t_gw, t_dns);
        int r = strbuf_status(&b);
        if (r < 0) {
                strbuf_done(&b);
                return r;
        }
        strbuf_append(out, strbuf_str(&b));
        strbuf_done(&b);
        return strbuf_status(out);
}

static int lease_by_ip(const void *a, const void *b) {
        const struct lease *x = *(const struct lease *const *)a, *y = *(const struct lease *const *)b;
        if (x->ip != y->ip)
                return x->ip < y->ip ? -1 : 1;
        return memcmp(x->mac, y->mac, MAC_LEN);
}

/* The leases by address (the store lists them so already; the output must not depend on it). */
static const struct lease **sorted(const struct lease *leases, size_t n) {
        const struct lease **v = malloc((n ? n : 1) * sizeof *v);
        if (!v)
                return NULL;
        for (size_t i = 0; i < n; i++)
                v[i] = &leases[i];
        qsort(v, n, sizeof *v, lease_by_ip);
        return v;
}

/* The line writers below format by hand: with snprintf the two files cost ~20 ms at
 * 10,000 leases, on the main thread, for every lease change. */
static char *put_mac(char *p, const uint8_t mac[static MAC_LEN]) {
        static const char hex[] = "0123456789abcdef";
        for (size_t i = 0; i < MAC_LEN; i++) {
                if (i)
                        *p++ = ':';
                *p++ = hex[mac[i] >> 4];
                *p++ = hex[mac[i] & 15];
        }
        return p;
}

static char *put_ipv4(char *p, uint32_t ip) {
        for (int shift = 24; shift >= 0; shift -= 8) {
                unsigned o = ip >> shift & 255;
                if (o >= 100)
                        *p++ = (char)('0' + o / 100);
                if (o >= 10)
                        *p++ = (char)('0' + o / 10 % 10);
                *p++ = (char)('0' + o % 10);
                if (shift)
                        *p++ = '.';
        }
        return p;
}

static char *put_str(char *p, const char *s) {
        size_t l = strlen(s);
        memcpy(p, s, l);
        return p + l;
}

int dnsmasq_render_dhcp_hosts(const struct lease *leases, size_t n, struct strbuf *out) {
        _cleanup_free_ const struct lease **v = sorted(leases, n);
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                char line[MAC_TEXT_LEN + 1 + 15 + 1 + LEASE_NAME_MAX + 2], *p = line;
                p = put_mac(p, v[i]->mac);
                *p++ = ',';
                p = put_ipv4(p, v[i]->ip);
                /* A name that is not a valid label (only a hand-edited store has one) is left out
                 * rather than let into dnsmasq's syntax. */
                if (lease_name_valid(v[i]->name)) {
                        *p++ = ',';
                        p = put_str(p, v[i]->name);
                }
                *p++ = '\n';
                strbuf_appendn(out, line, (size_t)(p - line));
        }
        return strbuf_status(out);
}

int dnsmasq_render_hosts(const char *domain, const struct lease *leases, size_t n, struct strbuf *out) {
        _cleanup_free_ const struct lease **v = sorted(leases, n);
        if (!v)
                return -ENOMEM;
        size_t domain_len = strlen(domain);
        if (domain_len > 253)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (!lease_name_valid(v[i]->name))
                        continue;
                char line[15 + 1 + LEASE_NAME_MAX + 1 + LEASE_NAME_MAX + 1 + 253 + 2], *p = line;
                p = put_ipv4(p, v[i]->ip);
                *p++ = ' ';
                p = put_str(p, v[i]->name);
                *p++ = ' ';
                p = put_str(p, v[i]->name);
                *p++ = '.';
                p = put_str(p, domain);
                *p++ = '\n';
                strbuf_appendn(out, line, (size_t)(p - line));
        }
        return strbuf_status(out);
}
