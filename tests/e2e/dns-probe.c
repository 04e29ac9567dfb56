/* SPDX-License-Identifier: MIT */
/*
 * A test tool for tests/e2e/test-dns-knot.sh (built, not installed): drives the rfc2136
 * client (dns/client.h) against a real server from the command line.
 *
 *   dns-probe [OPTIONS] query NAME TYPE            TYPE: A AAAA TXT SOA
 *   dns-probe [OPTIONS] set ZONE NAME ADDR...      replace NAME's A/AAAA with ADDRs, and its
 *                                                  TXT with the owner text
 *   dns-probe [OPTIONS] delete ZONE NAME           delete NAME's A, AAAA and TXT (with --owner:
 *                                                  only if the owner TXT is there)
 * Options: --server ADDR[:PORT] (127.0.0.1:53), --key-file FILE (TSIG; unsigned without),
 * --key-name NAME (else the file's), --timeout MS (1000), --ttl S (300),
 * --owner TEXT (the ownership TXT, default "edgegw").
 *
 * Prints key=value lines: status= (the client status), rcode= (the answer's, if any),
 * error= (for failures), elapsed_ms=, then one "answer=NAME TYPE TTL VALUE" per record.
 * Exits 0 on status ok, 1 on any other status, 2 on bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dns/client.h"

static int usage(void) {
        fprintf(stderr, "usage: dns-probe [--server ADDR[:PORT]] [--key-file FILE] [--key-name NAME] [--timeout MS]\n"
                        "                 [--ttl S] [--owner TEXT] query NAME TYPE | set ZONE NAME ADDR... |"
                        " delete ZONE NAME\n");
        return 2;
}

static int type_from_text(const char *t) {
        if (!strcasecmp(t, "A"))
                return DNS_TYPE_A;
        if (!strcasecmp(t, "AAAA"))
                return DNS_TYPE_AAAA;
        if (!strcasecmp(t, "TXT"))
                return DNS_TYPE_TXT;
        if (!strcasecmp(t, "SOA"))
                return DNS_TYPE_SOA;
        return -1;
}

static void print_answer(const struct dns_answer *a) {
        char text[INET6_ADDRSTRLEN];
        switch (a->type) {
        case DNS_TYPE_A:
                printf("answer=%s A %u %s\n", a->name, a->ttl, inet_ntop(AF_INET, a->addr, text, sizeof text));
                break;
        case DNS_TYPE_AAAA:
                printf("answer=%s AAAA %u %s\n", a->name, a->ttl, inet_ntop(AF_INET6, a->addr, text, sizeof text));
                break;
        case DNS_TYPE_TXT:
                printf("answer=%s TXT %u %s\n", a->name, a->ttl, a->txt);
                break;
        case DNS_TYPE_SOA:
                printf("answer=%s SOA %u %u\n", a->name, a->ttl, a->soa_serial);
                break;
        default:
                break;
        }
}

int main(int argc, char **argv) {
        const char *server = "127.0.0.1", *key_file = NULL, *key_name = NULL, *owner = "edgegw";
        unsigned timeout_ms = 1000, ttl = 300;
        static const struct option opts[] = {
                { "server", required_argument, NULL, 's' },  { "key-file", required_argument, NULL, 'k' },
                { "key-name", required_argument, NULL, 'n' }, { "timeout", required_argument, NULL, 't' },
                { "ttl", required_argument, NULL, 'T' },      { "owner", required_argument, NULL, 'o' },
                { NULL, 0, NULL, 0 },
        };
        bool owner_given = false;
        int o;
        while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (o) {
                case 's': server = optarg; break;
                case 'k': key_file = optarg; break;
                case 'n': key_name = optarg; break;
                case 't': timeout_ms = (unsigned)strtoul(optarg, NULL, 10); break;
                case 'T': ttl = (unsigned)strtoul(optarg, NULL, 10); break;
                case 'o': owner = optarg; owner_given = true; break;
                default: return usage();
                }
        }
        if (optind >= argc)
                return usage();
        const char *cmd = argv[optind++];
        int nargs = argc - optind;
        char **args = argv + optind;

        struct dns_client client = { .timeout_ms = timeout_ms };
        if (dns_client_parse_server(server, &client.server, &client.server_len) < 0) {
                fprintf(stderr, "dns-probe: bad server address %s\n", server);
                return 2;
        }
        struct dns_tsig_secret secret;
        struct dns_tsig_key key = { .hmac = dns_hmac_sha256_openssl };
        if (key_file) {
                int r = dns_tsig_secret_read(key_file, &secret);
                if (r < 0) {
                        fprintf(stderr, "dns-probe: cannot read TSIG key %s: %s\n", key_file, strerror(-r));
                        return 2;
                }
                key.name = key_name ? key_name : secret.name;
                if (!key.name[0]) {
                        fprintf(stderr, "dns-probe: %s names no key: give --key-name\n", key_file);
                        return 2;
                }
                key.secret = secret.secret;
                key.secret_len = secret.secret_len;
                client.key = &key;
        }

        uint8_t msg[4096];
        struct dns_writer w;
        if (!strcmp(cmd, "query") && nargs == 2) {
                int type = type_from_text(args[1]);
                if (type < 0)
                        return usage();
                dns_query_begin(&w, msg, sizeof msg, 0, args[0], (uint16_t)type);
        } else if (!strcmp(cmd, "set") && nargs >= 3) {
                dns_update_begin(&w, msg, sizeof msg, 0, args[0]);
                dns_update_delete_rrset(&w, args[1], DNS_TYPE_A);
                dns_update_delete_rrset(&w, args[1], DNS_TYPE_AAAA);
                dns_update_delete_rrset(&w, args[1], DNS_TYPE_TXT);
                for (int i = 2; i < nargs; i++) {
                        uint8_t a[16];
                        if (inet_pton(AF_INET, args[i], a) == 1)
                                dns_update_add_a(&w, args[1], ttl, a);
                        else if (inet_pton(AF_INET6, args[i], a) == 1)
                                dns_update_add_aaaa(&w, args[1], ttl, a);
                        else
                                return usage();
                }
                dns_update_add_txt(&w, args[1], ttl, owner);
        } else if (!strcmp(cmd, "delete") && nargs == 2) {
                dns_update_begin(&w, msg, sizeof msg, 0, args[0]);
                if (owner_given) {
                        uint8_t txt[256];
                        size_t tn = dns_txt_rdata(owner, txt);
                        dns_update_prereq_rr_exists(&w, args[1], DNS_TYPE_TXT, txt, tn);
                }
                dns_update_delete_rrset(&w, args[1], DNS_TYPE_A);
                dns_update_delete_rrset(&w, args[1], DNS_TYPE_AAAA);
                dns_update_delete_rrset(&w, args[1], DNS_TYPE_TXT);
        } else {
                return usage();
        }
        size_t len;
        int r = dns_writer_finish(&w, &len);
        if (r < 0) {
                fprintf(stderr, "dns-probe: cannot build the message: %s\n", strerror(-r));
                return 2;
        }

        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        struct dns_client_result *res = malloc(sizeof *res);
        if (!res)
                return 1;
        enum dns_client_status s = dns_client_exchange(&client, msg, len, res);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (key_file)
                dns_tsig_secret_clear(&secret);

        printf("status=%s\n", dns_client_status_to_string(s));
        if (res->answered)
                printf("rcode=%s\n", dns_status_to_string(res->resp.status));
        if (s != DNS_CLIENT_OK)
                printf("error=%s\n", res->error);
        printf("udp_attempts=%u\ntcp=%d\n", res->udp_attempts, res->tcp);
        printf("elapsed_ms=%ld\n", (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
        for (size_t i = 0; i < res->resp.n_answers; i++)
                print_answer(&res->resp.answers[i]);
        free(res);
        return s == DNS_CLIENT_OK ? 0 : 1;
}
