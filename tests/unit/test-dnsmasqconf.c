/* SPDX-License-Identifier: MIT */
/* model/dnsmasqconf: dnsmasq.conf, the dhcp-hostsfile and the addn-hosts file from the config and leases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "core/config.h"
#include "model/dnsmasqconf.h"

/* The seed's example network, as config_load would leave it. */
static void seed_config(struct config *c) {
        config_defaults(c);
        strcpy(c->state_dir, "/var/lib/edgegw");
        strcpy(c->dhcp_interface, "eth0");
        strcpy(c->dhcp_subnet, "10.15.3.0");
        strcpy(c->dhcp_subnet_mask, "255.255.255.0");
        strcpy(c->dhcp_pool_start, "10.15.3.20");
        strcpy(c->dhcp_pool_end, "10.15.3.254");
        strcpy(c->dhcp_gateway, "10.15.3.1");
        strcpy(c->dhcp_dns, "1.1.1.1,1.0.0.1");
}

static struct lease lease_of(const char *mac, const char *ip, const char *name) {
        struct lease l = {0};
        assert_int_equal(mac_parse(mac, l.mac), 0);
        assert_int_equal(ipv4_parse(ip, &l.ip), 0);
        strcpy(l.name, name);
        return l;
}

static void test_paths(void **state) {
        struct dnsmasq_paths p;
        assert_int_equal(dnsmasq_paths_init(&p, "/var/lib/edgegw"), 0);
        assert_string_equal(p.dir, "/var/lib/edgegw/dnsmasq");
        assert_string_equal(p.conf, "/var/lib/edgegw/dnsmasq/dnsmasq.conf");
        assert_string_equal(p.hosts, "/var/lib/edgegw/dnsmasq/dnsmasq.hosts");
        assert_string_equal(p.dhcp_hosts, "/var/lib/edgegw/dnsmasq/dnsmasq.dhcp-hosts");
        assert_string_equal(p.leases, "/var/lib/edgegw/dnsmasq/dnsmasq.leases");
        assert_string_equal(p.pid, "/var/lib/edgegw/dnsmasq/dnsmasq.pid");
        assert_int_equal(dnsmasq_paths_init(&p, "/var/lib/edgegw//"), 0);
        assert_string_equal(p.conf, "/var/lib/edgegw/dnsmasq/dnsmasq.conf");
        assert_int_equal(dnsmasq_paths_init(&p, "/"), 0);
        assert_string_equal(p.dir, "/dnsmasq");

        struct dnsmasq_paths untouched = p;
        static const char *const bad[] = {"", "/var/lib/a#b", "/var/lib/a,b", "/var/lib/a\nb", "/var/\"x\""};
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
                assert_int_equal(dnsmasq_paths_init(&p, bad[i]), -EINVAL);
        char long_dir[PATH_MAX];
        memset(long_dir, 'a', sizeof long_dir - 1);
        long_dir[0] = '/';
        long_dir[sizeof long_dir - 1] = '\0';
        assert_int_equal(dnsmasq_paths_init(&p, long_dir), -ENAMETOOLONG);
        assert_memory_equal(&p, &untouched, sizeof p);
}

static void test_conf_seed(void **state) {
        struct config c;
        seed_config(&c);
        struct dnsmasq_paths p;
        assert_int_equal(dnsmasq_paths_init(&p, c.state_dir), 0);
        _cleanup_strbuf_ struct strbuf b = {0};
        assert_int_equal(dnsmasq_render_conf(&c, &p, "nobody", NULL, &b), 0);
        assert_string_equal(
                strbuf_str(&b),
                "# dnsmasq.conf, written by edgegwd from its [dhcp] configuration; edgegwd rewrites it\n"
                "# (and restarts dnsmasq) when the configuration changes, so do not edit it.\n"
                "# DHCP for 10.15.3.0/255.255.255.0 and DNS for the VMs' names, on eth0 only.\n"
                "\n"
                "# Only the VMs' interface: never loopback or any other interface of this host, so the\n"
                "# host's own resolver is left alone. bind-dynamic follows the interface's addresses.\n"
                "interface=eth0\n"
                "except-interface=lo\n"
                "bind-dynamic\n"
                "user=nobody\n"
                "pid-file=/var/lib/edgegw/dnsmasq/dnsmasq.pid\n"
                "log-facility=-\n"
                "\n"
                "# DNS: the leases' names (NAME and NAME.vps.local) from the hosts file; the domain is never\n"
                "# forwarded, everything else is.\n"
                "no-hosts\n"
                "addn-hosts=/var/lib/edgegw/dnsmasq/dnsmasq.hosts\n"
                "domain=vps.local\n"
                "local=/vps.local/\n"
                "expand-hosts\n"
                "domain-needed\n"
                "bogus-priv\n"
                "no-resolv\n"
                "server=1.1.1.1\n"
                "server=1.0.0.1\n"
                "\n"
                "# DHCP: each leased MAC gets exactly its address (dhcp-hostsfile, re-read on SIGHUP);\n"
                "# unknown_clients = allow: other MACs get a free address of the pool.\n"
                "dhcp-range=10.15.3.20,10.15.3.254,255.255.255.0,12h\n"
                "dhcp-hostsfile=/var/lib/edgegw/dnsmasq/dnsmasq.dhcp-hosts\n"
                "dhcp-leasefile=/var/lib/edgegw/dnsmasq/dnsmasq.leases\n"
                "dhcp-lease-max=254\n"
                "dhcp-authoritative\n"
                "dhcp-option=option:router,10.15.3.1\n"
                "dhcp-option=option:dns-server,10.15.3.1\n");
}

static void test_conf_variants(void **state) {
        struct config c;
        seed_config(&c);
        struct dnsmasq_paths p;
        assert_int_equal(dnsmasq_paths_init(&p, c.state_dir), 0);

        /* The multi-node layout: the gateway is the SDN router, this node answers DNS on its
         * own address; unknown MACs are refused; the host's resolvers; a /16. */
        strcpy(c.dhcp_listen_ip, "10.15.3.10");
        strcpy(c.dhcp_unknown_clients, "deny");
        strcpy(c.dhcp_dns, "");
        strcpy(c.dhcp_subnet, "10.15.0.0");
        strcpy(c.dhcp_subnet_mask, "255.255.0.0");
        strcpy(c.dhcp_domain, "vps.internal");
        strcpy(c.dhcp_lease_time, "infinite");
        _cleanup_strbuf_ struct strbuf b = {0};
        assert_int_equal(dnsmasq_render_conf(&c, &p, "root", "root", &b), 0);
        const char *t = strbuf_str(&b);
        assert_non_null(strstr(t, "\nuser=root\ngroup=root\npid-file="));
        assert_non_null(strstr(t, "\ndhcp-ignore=tag:!known\n"));
        assert_non_null(strstr(t, "\ndhcp-option=option:router,10.15.3.1\n"));
        assert_non_null(strstr(t, "\ndhcp-option=option:dns-server,10.15.3.10\n"));
        assert_non_null(strstr(t, "\ndhcp-range=10.15.3.20,10.15.3.254,255.255.0.0,infinite\n"));
        assert_non_null(strstr(t, "\ndhcp-lease-max=65534\n"));
        assert_non_null(strstr(t, "\nlocal=/vps.internal/\n"));
        assert_null(strstr(t, "no-resolv"));
        assert_null(strstr(t, "server="));
        assert_non_null(strstr(t, "# unknown_clients = deny"));

        /* IPv6 upstreams and spaces in the list. */
        strcpy(c.dhcp_dns, "2001:db8::53, 192.0.2.53");
        strbuf_reset(&b);
        assert_int_equal(dnsmasq_render_conf(&c, &p, "nobody", NULL, &b), 0);
        assert_non_null(strstr(strbuf_str(&b), "\nno-resolv\nserver=2001:db8::53\nserver=192.0.2.53\n"));

        /* DHCP off, or values config_validate would refuse: nothing is appended. */
        strbuf_reset(&b);
        strbuf_append(&b, "before\n");
        struct config off = c;
        off.dhcp_interface[0] = '\0';
        assert_int_equal(dnsmasq_render_conf(&off, &p, "nobody", NULL, &b), -EINVAL);
        struct config bad = c;
        strcpy(bad.dhcp_dns, "1.1.1.1,not-an-address");
        assert_int_equal(dnsmasq_render_conf(&bad, &p, "nobody", NULL, &b), -EINVAL);
        bad = c;
        strcpy(bad.dhcp_lease_time, "12h\nserver=6.6.6.6");
        assert_int_equal(dnsmasq_render_conf(&bad, &p, "nobody", NULL, &b), -EINVAL);
        bad = c;
        strcpy(bad.dhcp_interface, "br0\nx");
        assert_int_equal(dnsmasq_render_conf(&bad, &p, "nobody", NULL, &b), -EINVAL);
        assert_int_equal(dnsmasq_render_conf(&c, &p, "no\nbody", NULL, &b), -EINVAL);
        assert_int_equal(dnsmasq_render_conf(&c, &p, "nobody", "no#group", &b), -EINVAL);
        assert_string_equal(strbuf_str(&b), "before\n");
}

static void test_hosts_files(void **state) {
        struct lease l[] = {
                lease_of("52:54:00:00:00:03", "10.15.3.30", "web-3"),
                lease_of("52:54:00:00:00:01", "10.15.3.21", "vps-1762797183902442010"),
                lease_of("52:54:00:00:00:02", "10.15.3.100", ""),
                lease_of("52:54:00:00:00:04", "10.15.3.9", "Bad Name"), /* only a hand edit makes one */
        };
        _cleanup_strbuf_ struct strbuf b = {0};
        assert_int_equal(dnsmasq_render_dhcp_hosts(l, 4, &b), 0);
        assert_string_equal(strbuf_str(&b), "52:54:00:00:00:04,10.15.3.9\n"
                                            "52:54:00:00:00:01,10.15.3.21,vps-1762797183902442010\n"
                                            "52:54:00:00:00:03,10.15.3.30,web-3\n"
                                            "52:54:00:00:00:02,10.15.3.100\n");
        strbuf_reset(&b);
        assert_int_equal(dnsmasq_render_hosts("vps.local", l, 4, &b), 0);
        assert_string_equal(strbuf_str(&b), "10.15.3.21 vps-1762797183902442010 vps-1762797183902442010.vps.local\n"
                                            "10.15.3.30 web-3 web-3.vps.local\n");
        /* The input order does not matter; no leases give empty files. */
        struct lease r[] = {l[3], l[2], l[1], l[0]};
        _cleanup_strbuf_ struct strbuf b2 = {0};
        assert_int_equal(dnsmasq_render_hosts("vps.local", r, 4, &b2), 0);
        assert_string_equal(strbuf_str(&b2), strbuf_str(&b));
        strbuf_reset(&b);
        assert_int_equal(dnsmasq_render_dhcp_hosts(NULL, 0, &b), 0);
        assert_int_equal(dnsmasq_render_hosts("vps.local", NULL, 0, &b), 0);
        assert_string_equal(strbuf_str(&b), "");

        /* Every octet width, the ends of the MAC digits. */
        struct lease e[] = {
                lease_of("ae:ff:09:a0:0f:f0", "192.168.100.250", "a"),
                lease_of("02:00:00:00:00:01", "10.0.0.1", "b"),
                lease_of("02:00:00:00:00:02", "172.16.10.99", ""),
        };
        strbuf_reset(&b);
        assert_int_equal(dnsmasq_render_dhcp_hosts(e, 3, &b), 0);
        assert_string_equal(strbuf_str(&b), "02:00:00:00:00:01,10.0.0.1,b\n"
                                            "02:00:00:00:00:02,172.16.10.99\n"
                                            "ae:ff:09:a0:0f:f0,192.168.100.250,a\n");
        strbuf_reset(&b);
        assert_int_equal(dnsmasq_render_hosts("x.example", e, 3, &b), 0);
        assert_string_equal(strbuf_str(&b), "10.0.0.1 b b.x.example\n192.168.100.250 a a.x.example\n");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_paths),
                cmocka_unit_test(test_conf_seed),
                cmocka_unit_test(test_conf_variants),
                cmocka_unit_test(test_hosts_files),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
