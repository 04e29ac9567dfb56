/* SPDX-License-Identifier: MIT */
/*
 * edgegwd: open the store, reconcile everything, then serve the API. The main thread owns
 * the reconciler, VM expiry (about once a second), the dnsmasq supervisor (DHCP and the VMs'
 * names; its child's exit arrives as SIGCHLD) and the signals (SIGTERM/SIGINT exit, SIGHUP
 * reloads the config); the API (unix socket, optional TCP and metrics listeners) runs on
 * libmicrohttpd's threads.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "api/api.h"
#include "core/config.h"
#include "core/log.h"
#include "daemon/dnsmasq.h"
#include "daemon/dnssync.h"
#include "daemon/reconcile.h"
#include "proxy/proxy.h"

static void usage(FILE *f) {
        fprintf(f,
                "Usage: edgegwd [--config FILE] [--check-config]\n"
                "\n"
                "The edgegw daemon: keeps the nftables table `inet edgegw` (or, with forward_mode =\n"
                "userspace, its own forward listeners) in line with the VMs in its store and serves\n"
                "the API on STATE_DIR/edgegw.sock (and, with [api] listen, on TCP with tokens).\n"
                "\n"
                "  -c, --config FILE   configuration file (default %s if it exists)\n"
                "      --check-config  load and validate the configuration, print it, and exit\n"
                "  -h, --help          this text\n"
                "      --version       print the version\n"
                "\n"
                "Environment: EDGEGW_<KEY> overrides any config key (e.g. EDGEGW_STATE_DIR), [api] keys as\n"
                "EDGEGW_API_<KEY>, [dns] keys as EDGEGW_DNS_<KEY>, [dhcp] keys as EDGEGW_DHCP_<KEY> or the\n"
                "seed's GATEWAY_DHCP_<KEY>; AGENT_TOKEN sets the seed agent's token; EDGEGW_DNSMASQ the\n"
                "dnsmasq binary (default %s).\n"
                "Signals: SIGTERM/SIGINT stop, SIGHUP reloads the configuration.\n",
                CONFIG_DEFAULT_PATH, DNSMASQ_BINARY_DEFAULT);
}

static int load_config(const char *path, struct config *ret) {
        struct config_diag diag = {0};
        int r = config_load(path, ret, &diag);
        for (unsigned i = 0; i < diag.n_warnings; i++)
                log_warning("config: %s", diag.warnings[i]);
        if (r < 0)
                return log_error_errno(r, "config: %s", diag.error);
        enum log_level level;
        if (log_level_from_string(ret->log_level, &level) == 0)
                log_set_level(level);
        return 0;
}

static void print_config(const struct config *c) {
        printf("[gateway]\n"
               "datacenter = \"%s\"\ndomain = \"%s\"\npublic_ip = \"%s\"\npublic_ip6 = \"%s\"\npublic_interface = \"%s\"\n"
               "port_range_start = %u\nport_range_end = %u\nports_per_vm = %u\nstate_dir = \"%s\"\n"
               "forward_mode = \"%s\"\n\n"
               "[proxy]\nforward_listen = \"%s\"\nudp_timeout_ms = %u\n\n"
               "[api]\nlisten = \"%s\"\ntls_cert = \"%s\"\ntls_key = \"%s\"\nmetrics_listen = \"%s\"\n"
               "agent_token_file = \"%s\"\n# agent token: %s\n"
               "rate_limit = %u\nrate_limit_source = %u\nrate_burst = %u\nmax_body = %u\ntimeout = %u\n\n"
               "[daemon]\nlog_level = \"%s\"\nresync_interval = %u\n",
               c->datacenter, c->domain, c->public_ip, c->public_ip6, c->public_interface, c->port_range_start, c->port_range_end,
               c->ports_per_vm, c->state_dir, c->forward_mode, c->forward_listen, c->udp_timeout_ms, c->api_listen,
               c->api_tls_cert, c->api_tls_key, c->metrics_listen, c->agent_token_file,
               c->agent_token[0] ? "set (not shown)" : "none", c->api_rate_limit, c->api_rate_limit_source,
               c->api_rate_burst, c->api_max_body, c->api_timeout, c->log_level, c->resync_interval);
        /* Secrets are files: their paths are shown, never their contents. */
        printf("\n[dns]\nprovider = \"%s\"\nzone = \"%s\"\nttl = %u\nrecords = \"%s\"\nserver = \"%s\"\n"
               "tsig_name = \"%s\"\ntsig_algorithm = \"%s\"\ntsig_secret_file = \"%s\"\napi_token_file = \"%s\"\n"
               "proxied = %s\napi_url = \"%s\"\nurl = \"%s\"\ntoken_file = \"%s\"\nowner = \"%s\"\n",
               c->dns_provider, c->dns_zone, c->dns_ttl, c->dns_records, c->dns_server, c->dns_tsig_name,
               c->dns_tsig_algorithm, c->dns_tsig_secret_file, c->dns_api_token_file, c->dns_proxied ? "true" : "false",
               c->dns_api_url, c->dns_url, c->dns_token_file, c->dns_owner);
        if (c->dns_secret_env[0])
                printf("# secret: from the environment variable %s (not shown)\n", c->dns_secret_env);
        printf("\n[dhcp]\ninterface = \"%s\"\nlisten_ip = \"%s\"\nsubnet = \"%s\"\nsubnet_mask = \"%s\"\n"
               "pool_start = \"%s\"\npool_end = \"%s\"\ngateway = \"%s\"\ndns = \"%s\"\ndomain = \"%s\"\n"
               "lease_time = \"%s\"\nunknown_clients = \"%s\"\n\n[outbound]\nip = \"%s\"\ninterface = \"%s\"\n",
               c->dhcp_interface, c->dhcp_listen_ip, c->dhcp_subnet, c->dhcp_subnet_mask, c->dhcp_pool_start,
               c->dhcp_pool_end, c->dhcp_gateway, c->dhcp_dns, c->dhcp_domain, c->dhcp_lease_time,
               c->dhcp_unknown_clients, c->outbound_ip, c->outbound_interface);
}

/* The proxy's settings from the [proxy] section. */
static void proxy_config_from(const struct config *c, struct proxy_config *ret) {
        *ret = (struct proxy_config){
                .workers = c->workers,
                .hello_max = c->hello_max,
                .hello_timeout_ms = c->hello_timeout_ms,
                .connect_timeout_ms = c->connect_timeout_ms,
                .idle_timeout_ms = c->idle_timeout_ms,
                .max_connections = c->max_connections,
                .max_connections_per_source = c->max_connections_per_source,
                .close_removed = streq(c->removed_routes, "close"),
                .forwards = streq(c->forward_mode, "userspace"),
                .udp_timeout_ms = c->udp_timeout_ms,
        };
        /* A bare IPv6 address gets its brackets, so ADDR:PORT parses. */
        if (strchr(c->forward_listen, ':') && c->forward_listen[0] != '[')
                snprintf(ret->forward_listen, sizeof ret->forward_listen, "[%s]", c->forward_listen);
        else
                snprintf(ret->forward_listen, sizeof ret->forward_listen, "%s", c->forward_listen);
        const char *lists[] = {c->https_listen, c->http_listen};
        for (size_t i = 0; i < 2; i++) {
                char copy[sizeof c->https_listen], *save = NULL;
                size_t n = 0;
                strcpy(copy, lists[i]);
                for (char *t = strtok_r(copy, " ,", &save); t && n < PROXY_LISTEN_MAX;
                     t = strtok_r(NULL, " ,", &save))
                        snprintf(i ? ret->http_listen[n++] : ret->https_listen[n++], sizeof ret->https_listen[0], "%s",
                                 t);
        }
}

static void reload(const char *path, struct config *cur, struct api_env *env, struct reconciler *rec,
                   struct dnssync *dns, struct dnsmasq *dhcp) {
        struct config next;
        sd_notify(0, "RELOADING=1");
        if (load_config(path, &next) < 0) {
                log_error("reload: keeping the previous configuration");
        } else {
                if (!streq(next.state_dir, cur->state_dir)) {
                        log_warning("reload: state_dir cannot change while running; keeping %s", cur->state_dir);
                        strcpy(next.state_dir, cur->state_dir);
                }
                if (!streq(next.forward_mode, cur->forward_mode)) {
                        log_warning("reload: forward_mode cannot change while running; keeping %s", cur->forward_mode);
                        strcpy(next.forward_mode, cur->forward_mode);
                }
                if (next.port_range_start != cur->port_range_start || next.port_range_end != cur->port_range_end ||
                    next.ports_per_vm != cur->ports_per_vm)
                        log_info("reload: new VMs get %u ports in %u-%u; existing VMs keep their blocks",
                                 next.ports_per_vm, next.port_range_start, next.port_range_end);
                if (!streq(next.https_listen, cur->https_listen) || !streq(next.http_listen, cur->http_listen) ||
                    next.workers != cur->workers || next.hello_max != cur->hello_max ||
                    next.hello_timeout_ms != cur->hello_timeout_ms ||
                    next.connect_timeout_ms != cur->connect_timeout_ms ||
                    next.idle_timeout_ms != cur->idle_timeout_ms || next.max_connections != cur->max_connections ||
                    next.max_connections_per_source != cur->max_connections_per_source ||
                    !streq(next.removed_routes, cur->removed_routes) ||
                    !streq(next.forward_listen, cur->forward_listen) || next.udp_timeout_ms != cur->udp_timeout_ms)
                        log_warning("reload: [proxy] listeners and limits apply at the next restart "
                                    "(open connections are never dropped by a reload)");
                if (!streq(next.api_listen, cur->api_listen) || !streq(next.api_tls_cert, cur->api_tls_cert) ||
                    !streq(next.api_tls_key, cur->api_tls_key) || !streq(next.metrics_listen, cur->metrics_listen) ||
                    next.api_timeout != cur->api_timeout)
                        log_warning("reload: [api] listen, tls_cert, tls_key, metrics_listen and timeout apply at the "
                                    "next restart; the agent token, rate limits and max_body apply now");
                *cur = next;
                api_env_set_config(env, cur);
                reconciler_set_config(rec, cur);
                reconciler_request_full(rec);
                char err[256] = "";
                if (dnssync_set_config(dns, cur, err, sizeof err) < 0)
                        log_error("reload: dns: %s (the previous DNS provider stays)", err);
                dnsmasq_set_config(dhcp, cur);
                log_info("reload: configuration reloaded");
        }
        sd_notify(0, "READY=1");
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                {"config", required_argument, NULL, 'c'},
                {"check-config", no_argument, NULL, 'C'},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, 'V'},
                {0},
        };
        const char *config_path = NULL;
        bool check_only = false;
        int o;
        while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) >= 0) {
                switch (o) {
                case 'c': config_path = optarg; break;
                case 'C': check_only = true; break;
                case 'h': usage(stdout); return 0;
                case 'V': printf("edgegwd %s\n", EDGEGW_VERSION); return 0;
                default: usage(stderr); return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "edgegwd: unexpected argument '%s'\n", argv[optind]);
                return 2;
        }

        struct config cfg;
        if (load_config(config_path, &cfg) < 0)
                return 1;
        if (check_only) {
                print_config(&cfg);
                return 0;
        }

        if (mkdir(cfg.state_dir, 0750) < 0 && errno != EEXIST) {
                log_error_errno(-errno, "cannot create state_dir %s: %m", cfg.state_dir);
                return 1;
        }
        char db_path[PATH_MAX], sock_path[PATH_MAX];
        if (config_state_path(&cfg, "edgegw.db", db_path, sizeof db_path) < 0 ||
            config_state_path(&cfg, "edgegw.sock", sock_path, sizeof sock_path) < 0) {
                log_error("state_dir is too long");
                return 1;
        }

        /* Block the signals before any thread exists, so only the signalfd sees them. */
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGPIPE);
        sigaddset(&mask, SIGCHLD); /* dnsmasq's exit */
        pthread_sigmask(SIG_BLOCK, &mask, NULL);
        _cleanup_close_ int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        _cleanup_close_ int epfd = epoll_create1(EPOLL_CLOEXEC);
        if (sfd < 0 || epfd < 0) {
                log_error_errno(-errno, "signalfd/epoll: %m");
                return 1;
        }

        char err[512] = "";
        struct reconciler *rec = NULL;
        int r = reconciler_new(db_path, &rec, err, sizeof err);
        if (r < 0) {
                log_error_errno(r, "cannot open the store %s: %s", db_path, err);
                return 1;
        }
        struct api_env env;
        if ((r = api_env_init(&env, &cfg, rec, err, sizeof err)) < 0) {
                log_error_errno(r, "cannot open the store %s: %s", db_path, err);
                reconciler_free(rec);
                return 1;
        }

        /* Bind the proxy's ports first: if another program holds :443 we must stop before
         * touching the kernel table. Its workers accept nothing until the first routes
         * are published, so early clients wait in the backlog. */
        struct proxy *proxy = NULL;
        struct proxy_config pcfg;
        proxy_config_from(&cfg, &pcfg);
        if (pcfg.https_listen[0][0] || pcfg.http_listen[0][0] || pcfg.forwards) {
                if ((r = proxy_start(&pcfg, &proxy, err, sizeof err)) < 0) {
                        log_error_errno(r, "proxy: %s", err);
                        api_env_done(&env);
                        reconciler_free(rec);
                        return 1;
                }
                env.proxy = proxy;
                if (pcfg.forwards)
                        log_info("forward_mode userspace: forwards listen on %s, at most %zu ports "
                                 "(one socket per worker and port within the open-files limit)",
                                 pcfg.forward_listen, proxy_forward_capacity(proxy));
        }

        /* Then "reconcile everything, then open the API": the rules are restored before
         * anyone can ask for a change. A failure is retried with backoff. */
        reconciler_set_config(rec, &cfg);
        reconciler_request_full(rec);
        (void)reconciler_run(rec);
        if (proxy)
                reconciler_set_proxy(rec, proxy);

        /* The DNS reconciler: its own thread; a provider that is down never holds up the rest. */
        struct dnssync *dns = NULL;
        if ((r = dnssync_new(db_path, &cfg, &dns, err, sizeof err)) < 0) {
                log_error_errno(r, "dns: %s", err);
                proxy_stop(proxy);
                api_env_done(&env);
                reconciler_free(rec);
                return 1;
        }
        env.dns = dns;

        /* DHCP and the VMs' names: the supervised dnsmasq (it starts at the first tick). */
        struct dnsmasq *dhcp = NULL;
        const char *dnsmasq_binary = getenv("EDGEGW_DNSMASQ");
        if ((r = dnsmasq_new(db_path, dnsmasq_binary && dnsmasq_binary[0] ? dnsmasq_binary : NULL, &cfg, &dhcp, err,
                             sizeof err)) < 0) {
                log_error_errno(r, "dhcp: %s", err);
                dnssync_free(dns);
                proxy_stop(proxy);
                api_env_done(&env);
                reconciler_free(rec);
                return 1;
        }
        env.dhcp = dhcp;

        struct api_server *server = NULL;
        if ((r = api_server_start(&env, sock_path, &server, err, sizeof err)) < 0) {
                log_error_errno(r, "api: %s", err);
                dnsmasq_free(dhcp);
                dnssync_free(dns);
                proxy_stop(proxy);
                api_env_done(&env);
                reconciler_free(rec);
                return 1;
        }
        log_info("edgegwd %s serving %s (datacenter %s, domain %s, ports %u-%u, %u per VM)", EDGEGW_VERSION, sock_path,
                 cfg.datacenter, cfg.domain, cfg.port_range_start, cfg.port_range_end, cfg.ports_per_vm);
        if (cfg.api_listen[0])
                log_info("api: serving %s on %s (tokens required%s)", cfg.api_tls_cert[0] ? "HTTPS" : "HTTP",
                         cfg.api_listen, cfg.agent_token[0] ? "; the agent token is accepted" : "");
        if (cfg.metrics_listen[0])
                log_info("api: serving GET /metrics on %s without a token", cfg.metrics_listen);
        sd_notify(0, "READY=1");

        struct epoll_event ev = {.events = EPOLLIN, .data.fd = sfd};
        epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev);
        ev.data.fd = reconciler_fd(rec);
        epoll_ctl(epfd, EPOLL_CTL_ADD, reconciler_fd(rec), &ev);

        uint64_t watchdog_usec = 0;
        bool watchdog = sd_watchdog_enabled(0, &watchdog_usec) > 0;
        struct timespec now, next_resync, next_expiry;
        clock_gettime(CLOCK_MONOTONIC, &next_resync);
        next_expiry = next_resync;
        next_resync.tv_sec += cfg.resync_interval;
        next_expiry.tv_sec += 1;

        int exit_code = 0, expiry_error = 0;
        for (bool running = true; running;) {
                clock_gettime(CLOCK_MONOTONIC, &now);
                long timeout = -1;
                if (cfg.resync_interval) {
                        timeout = (next_resync.tv_sec - now.tv_sec) * 1000 +
                                  (next_resync.tv_nsec - now.tv_nsec) / 1000000;
                        if (timeout < 0)
                                timeout = 0;
                }
                /* VM expiry runs about once a second. */
                long expiry = (next_expiry.tv_sec - now.tv_sec) * 1000 + (next_expiry.tv_nsec - now.tv_nsec) / 1000000;
                if (expiry < 0)
                        expiry = 0;
                if (timeout < 0 || expiry < timeout)
                        timeout = expiry;
                int retry = reconciler_retry_ms(rec);
                if (retry && (timeout < 0 || retry < timeout))
                        timeout = retry;
                int dhcp_due = dnsmasq_timeout_ms(dhcp);
                if (dhcp_due >= 0 && (timeout < 0 || dhcp_due < timeout))
                        timeout = dhcp_due;
                if (watchdog && (timeout < 0 || timeout > (long)(watchdog_usec / 2000)))
                        timeout = (long)(watchdog_usec / 2000);

                struct epoll_event events[4];
                int n = epoll_wait(epfd, events, ELEMENTSOF(events), (int)timeout);
                if (n < 0 && errno != EINTR) {
                        log_error_errno(-errno, "epoll_wait: %m");
                        exit_code = 1;
                        break;
                }
                if (watchdog)
                        sd_notify(0, "WATCHDOG=1");
                for (int i = 0; i < n; i++) {
                        if (events[i].data.fd == sfd) {
                                struct signalfd_siginfo si;
                                while (read(sfd, &si, sizeof si) == sizeof si) {
                                        if (si.ssi_signo == SIGHUP)
                                                reload(config_path, &cfg, &env, rec, dns, dhcp);
                                        else if (si.ssi_signo == SIGCHLD)
                                                dnsmasq_child_exited(dhcp);
                                        else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
                                                log_info("received %s, stopping", strsignal((int)si.ssi_signo));
                                                running = false;
                                        }
                                }
                        } else {
                                (void)reconciler_run(rec);
                                dnssync_kick(dns); /* VMs or routes may have changed */
                                dnsmasq_kick(dhcp); /* and leases */
                        }
                }
                if (n == 0 && reconciler_retry_ms(rec) == 1)
                        (void)reconciler_run(rec);
                if (proxy)
                        proxy_reclaim(proxy);
                if (running)
                        dnsmasq_tick(dhcp);
                clock_gettime(CLOCK_MONOTONIC, &now);
                if (running && (now.tv_sec > next_expiry.tv_sec ||
                                (now.tv_sec == next_expiry.tv_sec && now.tv_nsec >= next_expiry.tv_nsec))) {
                        int removed = api_expire_vms(&env);
                        if (removed < 0 && removed != expiry_error) /* once per kind of failure, not every second */
                                log_warning_errno(removed, "expiry: cannot remove expired VMs: %m");
                        expiry_error = removed < 0 ? removed : 0;
                        next_expiry = now;
                        next_expiry.tv_sec += 1;
                }
                if (running && cfg.resync_interval && now.tv_sec >= next_resync.tv_sec) {
                        (void)reconciler_resync(rec);
                        next_resync = now;
                        next_resync.tv_sec += cfg.resync_interval;
                }
        }

        sd_notify(0, "STOPPING=1");
        server = api_server_stop(server);
        dns = dnssync_free(dns);
        dhcp = dnsmasq_free(dhcp);
        reconciler_set_proxy(rec, NULL);
        proxy = proxy_stop(proxy);
        api_env_done(&env);
        reconciler_free(rec);
        log_info("stopped");
        return exit_code;
}
