/* SPDX-License-Identifier: MIT */
/*
 * edgegw, the command-line client: a thin client of edgegwd's HTTP API (docs/api.md). It
 * parses the command line, finds the daemon's unix socket (--socket, $EDGEGW_SOCKET, or
 * STATE_DIR/edgegw.sock from the configuration), makes one request through libcurl and
 * prints the answer either for people (a table, the Connection Details box of
 * model/details) or, with --json, as the API's own JSON. It keeps no state; its exit code
 * tells scripts what happened (docs/cli.md). It is the only place in the CLI that prints.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "../core/config.h"
#include "../core/strbuf.h"
#include "../core/util.h"
#include "../model/details.h"
#include "../model/vm.h"

#ifndef EDGEGW_VERSION
#error "EDGEGW_VERSION must be defined by the build"
#endif

#define SOCKET_NAME "edgegw.sock"
#define API_BASE_URL "http://edgegw"
#define REQUEST_TIMEOUT_S 30L
#define CONNECT_TIMEOUT_S 5L
#define RESPONSE_MAX (64u << 20)

/* What a run ended with; the numbers are a documented interface (usage text, docs/cli.md). */
enum cli_exit {
        CLI_EXIT_OK = 0,
        CLI_EXIT_ERROR = 1, /* anything else: 5xx, a bad response, out of memory */
        CLI_EXIT_USAGE = 2, /* rejected locally before any request */
        CLI_EXIT_UNREACHABLE = 3, /* no daemon listening on the socket */
        CLI_EXIT_NOT_FOUND = 4, /* 404 */
        CLI_EXIT_CONFLICT = 5, /* 409 */
        CLI_EXIT_DRIFT = 6, /* check found differences */
        CLI_EXIT_INVALID = 7, /* 400, 413, 422: the daemon rejected an argument */
};

struct cli {
        /* options; the strings are borrowed from argv */
        const char *socket_option;
        const char *config_path;
        const char *ip;
        const char *proxy_protocol; /* sent as typed: the daemon judges it */
        bool http_passthrough;
        json_t *allow; /* owned: every --allow network, in order; NULL if none was given */
        bool json;
        bool help;
        bool version;
        /* positional words, compacted in place at the front of argv + 1 */
        char **words;
        size_t n_words;
        /* resolved before the first request */
        char socket_path[PATH_MAX];
        char config_error[sizeof(((struct config_diag *)0)->error)]; /* "" unless config_load failed */
};

struct response {
        long status;
        struct strbuf body;
        bool too_large;
};

/* The fields of a VM object that the human output shows; strings borrowed from the JSON. */
struct vm_view {
        const char *id;
        const char *ip;
        const char *slug;
        const char *subdomain;
        const char *created_at;
        uint16_t ssh_port;
        uint16_t port_range_start;
        uint16_t port_range_end;
};

typedef enum cli_exit (*command_fn)(const struct cli *cli, const char *arg);

static void curl_easy_cleanupp(CURL **p) {
        if (*p)
                curl_easy_cleanup(*p);
}
static void curl_slist_free_allp(struct curl_slist **p) {
        curl_slist_free_all(*p);
}
static void curl_freep(char **p) {
        curl_free(*p);
}
static void response_done(struct response *r) {
        strbuf_done(&r->body);
}
static void cli_done(struct cli *cli) {
        json_decref(cli->allow);
}

static const char usage_text[] =
        "Usage: edgegw [OPTIONS] COMMAND [ARGS]\n"
        "\n"
        "Client of edgegwd, the edge gateway daemon, over its unix socket.\n"
        "\n"
        "Commands:\n"
        "  vm add ID --ip IP [--proxy-protocol none|v1|v2] [--http-passthrough]\n"
        "         [--allow CIDR[,CIDR...]]\n"
        "                      register a VM: allocate its port block and name, show its\n"
        "                      connection details\n"
        "  vm ls               list the VMs\n"
        "  vm show ID          show one VM and its connection details\n"
        "  vm rm ID            remove a VM and release its port block\n"
        "  check               compare the kernel's firewall rules with the desired state\n"
        "  version             print the version\n"
        "  help                print this help\n"
        "\n"
        "Options (accepted anywhere on the command line; --opt VALUE or --opt=VALUE):\n"
        "  --socket PATH       the daemon's socket (default: $EDGEGW_SOCKET, else\n"
        "                      STATE_DIR/edgegw.sock from the configuration)\n"
        "  --config FILE       configuration to read state_dir from\n"
        "                      (default: " CONFIG_DEFAULT_PATH " if it exists)\n"
        "  --json              print the API's JSON response instead of human output\n"
        "  --ip IP             the VM's address (vm add)\n"
        "  --proxy-protocol none|v1|v2\n"
        "                      PROXY protocol header the HTTPS proxy sends the VM first\n"
        "                      (vm add; default none)\n"
        "  --http-passthrough  relay plain HTTP for the VM's name to VM:80 instead of\n"
        "                      redirecting it to HTTPS, e.g. for ACME HTTP-01 (vm add)\n"
        "  --allow CIDR[,CIDR...]\n"
        "                      only these source networks reach the VM's name over\n"
        "                      HTTPS/HTTP; may repeat, at most 16 (vm add; default: all)\n"
        "  -h, --help          print this help\n"
        "  --version           print the version\n"
        "\n"
        "Exit codes:\n"
        "  0  success\n"
        "  1  other error (daemon failure, bad response)\n"
        "  2  usage error (unknown command or option, missing argument)\n"
        "  3  edgegwd not reachable\n"
        "  4  not found\n"
        "  5  conflict (VM exists, IP in use, port range exhausted)\n"
        "  6  drift found by check\n"
        "  7  invalid argument rejected by edgegwd\n";

static enum cli_exit usage_error(const char *fmt, ...) _printf_(1, 2);
static enum cli_exit usage_error(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fputs("edgegw: ", stderr);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs("\nTry `edgegw --help`.\n", stderr);
        return CLI_EXIT_USAGE;
}

static enum cli_exit error_out_of_memory(void) {
        fputs("edgegw: out of memory\n", stderr);
        return CLI_EXIT_ERROR;
}

static enum cli_exit bad_response(const char *what) {
        fprintf(stderr, "edgegw: bad response from edgegwd: %s\n", what);
        return CLI_EXIT_ERROR;
}

/* Appends the networks of one --allow value ("CIDR[,CIDR...]") to cli->allow. Only the
 * list syntax is checked here; whether each item is a network is the daemon's to say. */
static enum cli_exit allow_append(struct cli *cli, const char *value) {
        if (!cli->allow && !(cli->allow = json_array()))
                return error_out_of_memory();
        for (const char *p = value;;) {
                size_t n = strcspn(p, ",");
                const char *item = p, *end = p + n;
                while (item < end && (*item == ' ' || *item == '\t'))
                        item++;
                while (end > item && (end[-1] == ' ' || end[-1] == '\t'))
                        end--;
                if (item == end)
                        return usage_error("option --allow: empty network in '%s'", value);
                json_t *s = json_stringn(item, (size_t)(end - item));
                if (!s)
                        return usage_error("option --allow: the networks must be valid UTF-8 text");
                if (json_array_append_new(cli->allow, s) < 0)
                        return error_out_of_memory();
                if (!p[n])
                        return CLI_EXIT_OK;
                p += n + 1;
        }
}

/* Options may appear anywhere; everything else is a positional word, compacted in place at
 * the front of argv + 1 (argv's pointer array is ours to reorder, as getopt does). */
static enum cli_exit parse_args(int argc, char **argv, struct cli *cli) {
        const struct {
                const char *name;
                const char **value; /* NULL: --allow, which repeats and accumulates */
        } value_options[] = {
                {"--socket", &cli->socket_option},
                {"--config", &cli->config_path},
                {"--ip", &cli->ip},
                {"--proxy-protocol", &cli->proxy_protocol},
                {"--allow", NULL},
        };
        bool options_done = false;

        cli->words = argv + 1;
        cli->n_words = 0;
        for (int i = 1; i < argc; i++) {
                char *a = argv[i];
                if (options_done || a[0] != '-' || streq(a, "-")) {
                        cli->words[cli->n_words++] = a;
                        continue;
                }
                if (streq(a, "--")) {
                        options_done = true;
                        continue;
                }
                if (streq(a, "-h") || streq(a, "--help")) {
                        cli->help = true;
                        continue;
                }
                if (streq(a, "--version")) {
                        cli->version = true;
                        continue;
                }
                if (streq(a, "--json")) {
                        cli->json = true;
                        continue;
                }
                if (streq(a, "--http-passthrough")) {
                        cli->http_passthrough = true;
                        continue;
                }

                bool known = false;
                for (size_t o = 0; o < ELEMENTSOF(value_options); o++) {
                        const char *name = value_options[o].name;
                        size_t len = strlen(name);
                        const char *value;
                        if (streq(a, name)) {
                                if (i + 1 >= argc)
                                        return usage_error("option %s needs a value", name);
                                value = argv[++i];
                        } else if (strncmp(a, name, len) == 0 && a[len] == '=')
                                value = a + len + 1;
                        else
                                continue;
                        if (!value[0])
                                return usage_error("option %s needs a non-empty value", name);
                        if (value_options[o].value)
                                *value_options[o].value = value;
                        else {
                                enum cli_exit x = allow_append(cli, value);
                                if (x != CLI_EXIT_OK)
                                        return x;
                        }
                        known = true;
                        break;
                }
                if (!known)
                        return usage_error("unknown option '%s'", a);
        }
        return CLI_EXIT_OK;
}

/* --socket, else $EDGEGW_SOCKET, else the configuration's state dir. A configuration that
 * cannot be loaded is not fatal: the default path may still be right, and the reason is
 * kept for the message shown if the daemon cannot be reached there. */
static enum cli_exit resolve_socket(struct cli *cli) {
        const char *explicit_path = cli->socket_option;
        if (!explicit_path) {
                const char *env = getenv("EDGEGW_SOCKET");
                if (env && env[0])
                        explicit_path = env;
        }
        if (explicit_path) {
                if (strcpy_bounded(cli->socket_path, sizeof cli->socket_path, explicit_path) < 0)
                        return usage_error("socket path too long: %s", explicit_path);
                return CLI_EXIT_OK;
        }

        struct config config;
        struct config_diag diag = {};
        int r = config_load(cli->config_path, &config, &diag);
        if (r >= 0)
                r = config_state_path(&config, SOCKET_NAME, cli->socket_path, sizeof cli->socket_path);
        if (r < 0) {
                if (diag.error[0])
                        snprintf(cli->config_error, sizeof cli->config_error, "%s", diag.error);
                else
                        snprintf(cli->config_error, sizeof cli->config_error, "%s", strerror(-r));
                snprintf(cli->socket_path, sizeof cli->socket_path, "%s/%s", CONFIG_DEFAULT_STATE_DIR, SOCKET_NAME);
        }
        return CLI_EXIT_OK;
}

static void explain_config_error(const struct cli *cli) {
        if (cli->config_error[0])
                fprintf(stderr,
                        "edgegw: the configuration could not be loaded (%s), so the default socket "
                        "path was tried; fix it or pass --socket PATH\n",
                        cli->config_error);
}

static size_t response_write(char *data, size_t size, size_t nmemb, void *userdata) {
        struct response *r = userdata;
        size_t n = size * nmemb;
        if (n > RESPONSE_MAX - r->body.len) {
                r->too_large = true;
                return 0;
        }
        strbuf_appendn(&r->body, data, n);
        return strbuf_status(&r->body) < 0 ? 0 : n;
}

/* One HTTP exchange with edgegwd. On CLI_EXIT_OK *resp holds the status and the body of
 * whatever the daemon answered (any status); otherwise the failure has been reported. */
static enum cli_exit http_call(const struct cli *cli, const char *method, const char *path, const char *body,
                               struct response *resp) {
        if (strlen(cli->socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
                fprintf(stderr, "edgegw: cannot reach edgegwd at %s: the path is too long for a unix socket\n",
                        cli->socket_path);
                return CLI_EXIT_UNREACHABLE;
        }

        _cleanup_(curl_easy_cleanupp) CURL *curl = curl_easy_init();
        if (!curl)
                return error_out_of_memory();

        _cleanup_(curl_slist_free_allp) struct curl_slist *headers = NULL;
        const char *header_lines[] = {
                "Accept: application/json",
                body ? "Content-Type: application/json" : NULL,
                "Expect:", /* no 100-continue round trip for our small bodies */
        };
        for (size_t i = 0; i < ELEMENTSOF(header_lines); i++) {
                if (!header_lines[i])
                        continue;
                struct curl_slist *l = curl_slist_append(headers, header_lines[i]);
                if (!l)
                        return error_out_of_memory();
                headers = l;
        }

        _cleanup_strbuf_ struct strbuf url = {};
        strbuf_append(&url, API_BASE_URL);
        strbuf_append(&url, path);
        if (strbuf_status(&url) < 0)
                return error_out_of_memory();

        char errbuf[CURL_ERROR_SIZE] = "";
        CURLcode c = CURLE_OK;
#define SETOPT(opt, val)                                      \
        do {                                                  \
                if (c == CURLE_OK)                            \
                        c = curl_easy_setopt(curl, opt, val); \
        } while (0)
        SETOPT(CURLOPT_ERRORBUFFER, errbuf);
        SETOPT(CURLOPT_UNIX_SOCKET_PATH, cli->socket_path);
        SETOPT(CURLOPT_URL, strbuf_str(&url));
        /* The id is escaped; keep curl from also resolving "." and ".." segments, so the
         * daemon judges exactly what the user typed. */
        SETOPT(CURLOPT_PATH_AS_IS, 1L);
        /* $http_proxy and friends must not redirect a local socket request. */
        SETOPT(CURLOPT_PROXY, "");
        SETOPT(CURLOPT_NOSIGNAL, 1L);
        SETOPT(CURLOPT_TIMEOUT, REQUEST_TIMEOUT_S);
        SETOPT(CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
        SETOPT(CURLOPT_USERAGENT, "edgegw/" EDGEGW_VERSION);
        SETOPT(CURLOPT_HTTPHEADER, headers);
        SETOPT(CURLOPT_WRITEFUNCTION, response_write);
        SETOPT(CURLOPT_WRITEDATA, resp);
        if (body) {
                SETOPT(CURLOPT_POSTFIELDSIZE, (long)strlen(body));
                SETOPT(CURLOPT_POSTFIELDS, body);
        }
        if (!streq(method, "GET") && !streq(method, "POST"))
                SETOPT(CURLOPT_CUSTOMREQUEST, method);
#undef SETOPT
        if (c != CURLE_OK) {
                fprintf(stderr, "edgegw: cannot set up the request: %s\n", curl_easy_strerror(c));
                return CLI_EXIT_ERROR;
        }

        c = curl_easy_perform(curl);
        switch (c) {
        case CURLE_OK:
                break;
        case CURLE_COULDNT_CONNECT: {
                long os_errno = 0;
                (void)curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
                if (os_errno == EACCES || os_errno == EPERM)
                        fprintf(stderr,
                                "edgegw: cannot reach edgegwd at %s: permission denied (the socket is open "
                                "to its owner and group only; try as root)\n",
                                cli->socket_path);
                else
                        fprintf(stderr,
                                "edgegw: cannot reach edgegwd at %s: is the daemon running? (start it with "
                                "`make run` or `systemctl start edgegw`)\n",
                                cli->socket_path);
                explain_config_error(cli);
                return CLI_EXIT_UNREACHABLE;
        }
        case CURLE_OPERATION_TIMEDOUT:
                fprintf(stderr, "edgegw: edgegwd at %s did not answer in time: %s\n", cli->socket_path,
                        errbuf[0] ? errbuf : curl_easy_strerror(c));
                return CLI_EXIT_ERROR;
        case CURLE_WRITE_ERROR:
                if (resp->too_large) {
                        fprintf(stderr, "edgegw: bad response from edgegwd: larger than %u MiB\n",
                                RESPONSE_MAX >> 20);
                        return CLI_EXIT_ERROR;
                }
                if (strbuf_status(&resp->body) < 0)
                        return error_out_of_memory();
                break;
        default:
                break;
        }
        if (c != CURLE_OK) {
                fprintf(stderr, "edgegw: request to edgegwd at %s failed: %s\n", cli->socket_path,
                        errbuf[0] ? errbuf : curl_easy_strerror(c));
                return CLI_EXIT_ERROR;
        }

        c = curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
        if (c != CURLE_OK)
                return bad_response(curl_easy_strerror(c));
        return CLI_EXIT_OK;
}

static enum cli_exit exit_for_status(long status) {
        switch (status) {
        case 404:
                return CLI_EXIT_NOT_FOUND;
        case 409:
                return CLI_EXIT_CONFLICT;
        case 400:
        case 413:
        case 422:
                return CLI_EXIT_INVALID;
        default:
                return CLI_EXIT_ERROR;
        }
}

static enum cli_exit print_json(const json_t *root) {
        _cleanup_free_ char *text = json_dumps(root, JSON_INDENT(2));
        if (!text)
                return error_out_of_memory();
        puts(text);
        return CLI_EXIT_OK;
}

/* A non-2xx answer: {"error":{"code","message"}} becomes "edgegw: MESSAGE" on stderr (and
 * the object itself on stdout with --json); the status picks the exit code. */
static enum cli_exit report_api_error(const struct cli *cli, long status, const json_t *root) {
        const json_t *error = root ? json_object_get(root, "error") : NULL;
        const char *message = json_string_value(json_object_get(error, "message"));
        const char *code = json_string_value(json_object_get(error, "code"));

        if (cli->json && root) {
                enum cli_exit x = print_json(root);
                if (x != CLI_EXIT_OK)
                        return x;
        }
        if (message && message[0])
                fprintf(stderr, "edgegw: %s\n", message);
        else if (code)
                fprintf(stderr, "edgegw: edgegwd answered HTTP %ld (%s)\n", status, code);
        else
                fprintf(stderr, "edgegw: edgegwd answered HTTP %ld without an error object\n", status);
        return exit_for_status(status);
}

/* Makes the request and hands back the 2xx body as a JSON object in *ret (the caller's to
 * json_decref). Every other outcome has been reported and its exit code is returned. */
static enum cli_exit api_call(const struct cli *cli, const char *method, const char *path, const char *body,
                              json_t **ret) {
        _cleanup_(response_done) struct response resp = {};
        enum cli_exit x = http_call(cli, method, path, body, &resp);
        if (x != CLI_EXIT_OK)
                return x;

        json_error_t jerr;
        _cleanup_(json_decrefp) json_t *root = json_loadb(strbuf_str(&resp.body), resp.body.len, 0, &jerr);
        if (root && !json_is_object(root))
                json_decref(TAKE_PTR(root));

        if (resp.status < 200 || resp.status > 299)
                return report_api_error(cli, resp.status, root);
        if (!root) {
                char what[256];
                snprintf(what, sizeof what, "HTTP %ld with a body that is not a JSON object", resp.status);
                return bad_response(what);
        }
        *ret = TAKE_PTR(root);
        return CLI_EXIT_OK;
}

static const char *json_get_string(const json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key));
}

static bool json_get_port(const json_t *o, const char *key, uint16_t *ret) {
        const json_t *v = json_object_get(o, key);
        if (!json_is_integer(v))
                return false;
        json_int_t n = json_integer_value(v);
        if (n < 1 || n > 65535)
                return false;
        *ret = (uint16_t)n;
        return true;
}

/* Picks the displayed fields out of a VM object. Returns 0, or -EBADMSG with *ret_field
 * naming the first missing or malformed field (*ret untouched). */
static int vm_view_parse(const json_t *o, struct vm_view *ret, const char **ret_field) {
        struct vm_view v = {
                .id = json_get_string(o, "id"),
                .ip = json_get_string(o, "ip"),
                .slug = json_get_string(o, "slug"),
                .subdomain = json_get_string(o, "subdomain"),
                .created_at = json_get_string(o, "created_at"),
        };
        const char *bad = NULL;
        if (!json_is_object(o))
                bad = "(the VM object)";
        else if (!v.id)
                bad = "id";
        else if (!v.ip)
                bad = "ip";
        else if (!v.slug)
                bad = "slug";
        else if (!v.subdomain || strlen(v.subdomain) > DNS_NAME_MAX)
                bad = "subdomain";
        else if (!v.created_at)
                bad = "created_at";
        else if (!json_get_port(o, "ssh_port", &v.ssh_port))
                bad = "ssh_port";
        else if (!json_get_port(o, "port_range_start", &v.port_range_start))
                bad = "port_range_start";
        else if (!json_get_port(o, "port_range_end", &v.port_range_end) || v.port_range_end < v.port_range_start)
                bad = "port_range_end";
        if (bad) {
                *ret_field = bad;
                return -EBADMSG;
        }
        *ret = v;
        return 0;
}

static enum cli_exit parse_vm_or_report(const json_t *o, struct vm_view *ret) {
        const char *field = NULL;
        if (vm_view_parse(o, ret, &field) < 0) {
                char what[128];
                snprintf(what, sizeof what, "VM field '%s' is missing or malformed", field);
                return bad_response(what);
        }
        return CLI_EXIT_OK;
}

/* The proxy options of a VM object as one line under the box:
 * "HTTPS options: PROXY protocol v2, plain HTTP passthrough, allowed from 203.0.113.0/24",
 * or "HTTPS options: none". */
static enum cli_exit print_https_options(const json_t *o) {
        const char *proxy = json_get_string(o, "proxy_protocol");
        const json_t *passthrough = json_object_get(o, "http_passthrough");
        const json_t *allow = json_object_get(o, "allow");
        const char *bad = NULL;
        if (!proxy)
                bad = "proxy_protocol";
        else if (!json_is_boolean(passthrough))
                bad = "http_passthrough";
        else if (!json_is_array(allow))
                bad = "allow";
        for (size_t i = 0; !bad && i < json_array_size(allow); i++)
                if (!json_is_string(json_array_get(allow, i)))
                        bad = "allow";
        if (bad) {
                char what[128];
                snprintf(what, sizeof what, "VM field '%s' is missing or malformed", bad);
                return bad_response(what);
        }

        _cleanup_strbuf_ struct strbuf line = {};
        const char *sep = "";
        strbuf_append(&line, "HTTPS options: ");
        if (!streq(proxy, "none")) {
                strbuf_printf(&line, "PROXY protocol %s", proxy);
                sep = ", ";
        }
        if (json_is_true(passthrough)) {
                strbuf_printf(&line, "%splain HTTP passthrough", sep);
                sep = ", ";
        }
        for (size_t i = 0; i < json_array_size(allow); i++)
                strbuf_printf(&line, "%s%s", i == 0 ? (*sep ? ", allowed from " : "allowed from ") : ", ",
                              json_string_value(json_array_get(allow, i)));
        if (streq(proxy, "none") && !json_is_true(passthrough) && json_array_size(allow) == 0)
                strbuf_append(&line, "none");
        if (strbuf_status(&line) < 0)
                return error_out_of_memory();
        puts(strbuf_str(&line));
        return CLI_EXIT_OK;
}

static enum cli_exit print_details(const struct vm_view *v) {
        _cleanup_strbuf_ struct strbuf box = {};
        uint16_t block_size = (uint16_t)(v->port_range_end - v->port_range_start + 1);
        if (details_render_text(v->subdomain, v->port_range_start, block_size, &box) < 0)
                return error_out_of_memory();
        fputs(strbuf_str(&box), stdout);
        return CLI_EXIT_OK;
}

/* "rules": "pending" means the change is stored but the kernel does not reflect it yet. */
static void warn_if_rules_pending(const json_t *root) {
        const char *rules = json_get_string(root, "rules");
        if (rules && streq(rules, "pending"))
                fputs("edgegw: warning: the firewall rules are not applied yet (edgegwd keeps retrying); "
                      "run `edgegw check` to see whether they converged\n",
                      stderr);
}

/* The id as one escaped path segment: "/v1/vms/contract-123". */
static enum cli_exit vm_path(const char *id, struct strbuf *out) {
        /* curl < 7.82 needs a handle here even though escaping does not use it */
        _cleanup_(curl_easy_cleanupp) CURL *curl = curl_easy_init();
        if (!curl)
                return error_out_of_memory();
        _cleanup_(curl_freep) char *escaped = curl_easy_escape(curl, id, 0);
        if (!escaped)
                return error_out_of_memory();
        strbuf_append(out, "/v1/vms/");
        strbuf_append(out, escaped);
        if (strbuf_status(out) < 0)
                return error_out_of_memory();
        return CLI_EXIT_OK;
}

static enum cli_exit cmd_vm_add(const struct cli *cli, const char *id) {
        _cleanup_(json_decrefp) json_t *request = json_pack("{s:s, s:s}", "id", id, "ip", cli->ip);
        if (!request)
                return usage_error("the VM ID and the IP address must be valid UTF-8 text");
        /* Options left out are left to the daemon's defaults. */
        if (cli->proxy_protocol) {
                json_t *p = json_string(cli->proxy_protocol);
                if (!p)
                        return usage_error("option --proxy-protocol must be valid UTF-8 text");
                if (json_object_set_new(request, "proxy_protocol", p) < 0)
                        return error_out_of_memory();
        }
        if (cli->http_passthrough && json_object_set_new(request, "http_passthrough", json_true()) < 0)
                return error_out_of_memory();
        if (cli->allow && json_object_set(request, "allow", cli->allow) < 0)
                return error_out_of_memory();
        _cleanup_free_ char *body = json_dumps(request, JSON_COMPACT);
        if (!body)
                return error_out_of_memory();

        _cleanup_(json_decrefp) json_t *root = NULL;
        enum cli_exit x = api_call(cli, "POST", "/v1/vms", body, &root);
        if (x != CLI_EXIT_OK)
                return x;

        if (cli->json)
                x = print_json(root);
        else {
                struct vm_view v;
                x = parse_vm_or_report(root, &v);
                if (x != CLI_EXIT_OK)
                        return x;
                printf("VM %s added\n", v.id);
                x = print_details(&v);
        }
        warn_if_rules_pending(root);
        return x;
}

struct vm_row {
        struct vm_view vm;
        char ssh[8];
        char ports[16];
};

static int max_int(int a, int b) {
        return a > b ? a : b;
}

static enum cli_exit print_vm_table(const json_t *vms) {
        size_t n = json_array_size(vms);
        if (n == 0) {
                puts("no VMs");
                return CLI_EXIT_OK;
        }

        _cleanup_free_ struct vm_row *rows = calloc(n, sizeof *rows);
        if (!rows)
                return error_out_of_memory();
        int w_id = (int)strlen("ID"), w_ip = (int)strlen("IP"), w_slug = (int)strlen("SLUG"),
            w_ssh = (int)strlen("SSH"), w_ports = (int)strlen("PORTS");
        for (size_t i = 0; i < n; i++) {
                struct vm_row *r = &rows[i];
                enum cli_exit x = parse_vm_or_report(json_array_get(vms, i), &r->vm);
                if (x != CLI_EXIT_OK)
                        return x;
                snprintf(r->ssh, sizeof r->ssh, "%u", r->vm.ssh_port);
                snprintf(r->ports, sizeof r->ports, "%u-%u", r->vm.port_range_start, r->vm.port_range_end);
                /* ids, addresses and slugs are ASCII (the daemon validates them): bytes = columns */
                w_id = max_int(w_id, (int)strlen(r->vm.id));
                w_ip = max_int(w_ip, (int)strlen(r->vm.ip));
                w_slug = max_int(w_slug, (int)strlen(r->vm.slug));
                w_ssh = max_int(w_ssh, (int)strlen(r->ssh));
                w_ports = max_int(w_ports, (int)strlen(r->ports));
        }

        printf("%-*s  %-*s  %-*s  %-*s  %-*s  %s\n", w_id, "ID", w_ip, "IP", w_slug, "SLUG", w_ssh, "SSH", w_ports,
               "PORTS", "NAME");
        for (size_t i = 0; i < n; i++) {
                const struct vm_row *r = &rows[i];
                printf("%-*s  %-*s  %-*s  %-*s  %-*s  %s\n", w_id, r->vm.id, w_ip, r->vm.ip, w_slug, r->vm.slug,
                       w_ssh, r->ssh, w_ports, r->ports, r->vm.subdomain);
        }
        return CLI_EXIT_OK;
}

static enum cli_exit cmd_vm_ls(const struct cli *cli, const char *arg) {
        _cleanup_(json_decrefp) json_t *root = NULL;
        enum cli_exit x = api_call(cli, "GET", "/v1/vms", NULL, &root);
        if (x != CLI_EXIT_OK)
                return x;
        if (cli->json)
                return print_json(root);

        const json_t *vms = json_object_get(root, "vms");
        if (!json_is_array(vms))
                return bad_response("'vms' is not an array");
        return print_vm_table(vms);
}

static enum cli_exit cmd_vm_show(const struct cli *cli, const char *id) {
        _cleanup_strbuf_ struct strbuf path = {};
        enum cli_exit x = vm_path(id, &path);
        if (x != CLI_EXIT_OK)
                return x;

        _cleanup_(json_decrefp) json_t *root = NULL;
        x = api_call(cli, "GET", strbuf_str(&path), NULL, &root);
        if (x != CLI_EXIT_OK)
                return x;
        if (cli->json)
                return print_json(root);

        struct vm_view v;
        x = parse_vm_or_report(root, &v);
        if (x != CLI_EXIT_OK)
                return x;
        printf("id:       %s\n"
               "ip:       %s\n"
               "created:  %s\n",
               v.id, v.ip, v.created_at);
        x = print_details(&v);
        if (x != CLI_EXIT_OK)
                return x;
        return print_https_options(root);
}

static enum cli_exit cmd_vm_rm(const struct cli *cli, const char *id) {
        _cleanup_strbuf_ struct strbuf path = {};
        enum cli_exit x = vm_path(id, &path);
        if (x != CLI_EXIT_OK)
                return x;

        _cleanup_(json_decrefp) json_t *root = NULL;
        x = api_call(cli, "DELETE", strbuf_str(&path), NULL, &root);
        if (x != CLI_EXIT_OK)
                return x;

        if (cli->json)
                x = print_json(root);
        else {
                struct vm_view v;
                x = parse_vm_or_report(json_object_get(root, "removed"), &v);
                if (x != CLI_EXIT_OK)
                        return x;
                if (v.port_range_start == v.port_range_end)
                        printf("VM %s removed (port %u released)\n", v.id, v.port_range_start);
                else
                        printf("VM %s removed (ports %u-%u released)\n", v.id, v.port_range_start,
                               v.port_range_end);
        }
        warn_if_rules_pending(root);
        return x;
}

static enum cli_exit cmd_check(const struct cli *cli, const char *arg) {
        _cleanup_(json_decrefp) json_t *root = NULL;
        enum cli_exit x = api_call(cli, "GET", "/v1/check", NULL, &root);
        if (x != CLI_EXIT_OK)
                return x;

        const json_t *clean = json_object_get(root, "clean");
        const json_t *differences = json_object_get(root, "differences");
        if (!json_is_boolean(clean))
                return bad_response("'clean' is not a boolean");
        if (!json_is_array(differences))
                return bad_response("'differences' is not an array");
        if (cli->json) {
                x = print_json(root);
                if (x != CLI_EXIT_OK)
                        return x;
                return json_is_true(clean) ? CLI_EXIT_OK : CLI_EXIT_DRIFT;
        }

        if (json_is_true(clean)) {
                puts("clean: kernel rules match the desired state");
                return CLI_EXIT_OK;
        }
        size_t i;
        const json_t *d;
        json_array_foreach(differences, i, d) {
                const char *s = json_string_value(d);
                if (!s)
                        return bad_response("a difference is not a string");
                puts(s);
        }
        if (json_array_size(differences) == 0)
                puts("drift: kernel rules differ from the desired state");
        return CLI_EXIT_DRIFT;
}

static const struct command {
        const char *words[2]; /* words[1] is NULL for one-word commands */
        bool takes_id;
        bool takes_vm_options; /* --ip (required) and the proxy options: vm add */
        command_fn run;
} commands[] = {
        {{"vm", "add"}, true, true, cmd_vm_add},
        {{"vm", "ls"}, false, false, cmd_vm_ls},
        {{"vm", "show"}, true, false, cmd_vm_show},
        {{"vm", "rm"}, true, false, cmd_vm_rm},
        {{"check", NULL}, false, false, cmd_check},
};

/* Matches the positional words against the command table and checks the arguments, all
 * before anything touches the network. */
static enum cli_exit find_command(const struct cli *cli, const struct command **ret_cmd, const char **ret_id) {
        const char *w0 = cli->words[0];
        const char *w1 = cli->n_words > 1 ? cli->words[1] : NULL;
        bool group = false;

        for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
                const struct command *c = &commands[i];
                if (!streq(c->words[0], w0))
                        continue;
                if (c->words[1]) {
                        group = true;
                        if (!w1 || !streq(c->words[1], w1))
                                continue;
                }
                size_t n_command = c->words[1] ? 2 : 1;
                size_t n_args = c->takes_id ? 1 : 0;
                char name[32];
                snprintf(name, sizeof name, "%s%s%s", c->words[0], c->words[1] ? " " : "",
                         c->words[1] ? c->words[1] : "");

                if (cli->n_words > n_command + n_args)
                        return usage_error("%s: unexpected argument '%s'", name, cli->words[n_command + n_args]);
                const char *id = c->takes_id && cli->n_words > n_command ? cli->words[n_command] : NULL;
                if (c->takes_id && (!id || !id[0]))
                        return usage_error("%s: missing VM ID", name);
                if (c->takes_vm_options && !cli->ip)
                        return usage_error("%s: missing --ip IP", name);
                const char *vm_option = cli->ip                 ? "--ip"
                                        : cli->proxy_protocol   ? "--proxy-protocol"
                                        : cli->http_passthrough ? "--http-passthrough"
                                        : cli->allow            ? "--allow"
                                                                : NULL;
                if (!c->takes_vm_options && vm_option)
                        return usage_error("%s: option %s is only used by `vm add`", name, vm_option);
                *ret_cmd = c;
                *ret_id = id;
                return CLI_EXIT_OK;
        }
        if (group && !w1)
                return usage_error("%s: missing subcommand (add, ls, show, rm)", w0);
        if (group)
                return usage_error("unknown command '%s %s'", w0, w1);
        return usage_error("unknown command '%s'", w0);
}

static enum cli_exit print_version(const struct cli *cli) {
        if (cli->json)
                puts("{\n  \"version\": \"" EDGEGW_VERSION "\"\n}");
        else
                puts("edgegw " EDGEGW_VERSION);
        return CLI_EXIT_OK;
}

static enum cli_exit run(int argc, char **argv) {
        _cleanup_(cli_done) struct cli cli = {};
        enum cli_exit x = parse_args(argc, argv, &cli);
        if (x != CLI_EXIT_OK)
                return x;

        if (cli.help || (cli.n_words > 0 && streq(cli.words[0], "help"))) {
                fputs(usage_text, stdout);
                return CLI_EXIT_OK;
        }
        if (cli.version)
                return print_version(&cli);
        if (cli.n_words > 0 && streq(cli.words[0], "version")) {
                if (cli.n_words > 1)
                        return usage_error("version: unexpected argument '%s'", cli.words[1]);
                return print_version(&cli);
        }
        if (cli.n_words == 0) {
                fputs(usage_text, stderr);
                return CLI_EXIT_USAGE;
        }

        const struct command *command = NULL;
        const char *id = NULL;
        x = find_command(&cli, &command, &id);
        if (x != CLI_EXIT_OK)
                return x;
        x = resolve_socket(&cli);
        if (x != CLI_EXIT_OK)
                return x;

        CURLcode c = curl_global_init(CURL_GLOBAL_DEFAULT);
        if (c != CURLE_OK) {
                fprintf(stderr, "edgegw: cannot initialize libcurl: %s\n", curl_easy_strerror(c));
                return CLI_EXIT_ERROR;
        }
        x = command->run(&cli, id);
        curl_global_cleanup();
        return x;
}

int main(int argc, char **argv) {
        enum cli_exit x = run(argc, argv);
        if (fflush(stdout) != 0 || ferror(stdout)) {
                fputs("edgegw: cannot write the output\n", stderr);
                if (x == CLI_EXIT_OK)
                        x = CLI_EXIT_ERROR;
        }
        return (int)x;
}
