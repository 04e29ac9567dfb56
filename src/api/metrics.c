/* SPDX-License-Identifier: MIT */
/*
 * The /metrics renderer: one HELP and TYPE line per family, then its samples. Family
 * names follow Prometheus conventions (_total for counters, base units: bytes, seconds).
 */
#include "metrics.h"

#include <inttypes.h>
#include <stdio.h>

void metrics_label_value(const char *s, struct strbuf *out) {
        for (; *s; s++) {
                if (*s == '\\')
                        strbuf_append(out, "\\\\");
                else if (*s == '"')
                        strbuf_append(out, "\\\"");
                else if (*s == '\n')
                        strbuf_append(out, "\\n");
                else
                        strbuf_appendn(out, s, 1);
        }
}

static void family(struct strbuf *out, const char *name, const char *type, const char *help) {
        strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{label="value"[,label2="value2"]} number */
static void sample(struct strbuf *out, const char *name, const char *l1, const char *v1, const char *l2,
                   const char *v2, uint64_t value) {
        strbuf_append(out, name);
        if (l1) {
                strbuf_printf(out, "{%s=\"", l1);
                metrics_label_value(v1, out);
                if (l2) {
                        strbuf_printf(out, "\",%s=\"", l2);
                        metrics_label_value(v2, out);
                }
                strbuf_append(out, "\"}");
        }
        strbuf_printf(out, " %" PRIu64 "\n", value);
}

static void sample_float(struct strbuf *out, const char *name, const char *l1, const char *v1, double value) {
        strbuf_printf(out, "%s{%s=\"", name, l1);
        metrics_label_value(v1, out);
        strbuf_printf(out, "\"} %.9g\n", value);
}

static void gauge(struct strbuf *out, const char *name, const char *help, bool have, uint64_t value) {
        family(out, name, "gauge", help);
        if (have)
                sample(out, name, NULL, NULL, NULL, NULL, value);
}

static void counter(struct strbuf *out, const char *name, const char *help, bool have, uint64_t value) {
        family(out, name, "counter", help);
        if (have)
                sample(out, name, NULL, NULL, NULL, NULL, value);
}

static void render_store(const struct metrics_input *in, struct strbuf *out) {
        const struct store_counts *c = in->counts;
        gauge(out, "edgegw_vms", "VMs in the store.", c, c ? c->vms : 0);
        gauge(out, "edgegw_routes", "Routes (host name -> target) in the store.", c, c ? c->routes : 0);
        gauge(out, "edgegw_forwards", "Forwards (public port -> target) in the store.", c, c ? c->forwards : 0);
        gauge(out, "edgegw_tokens", "API tokens in the store.", c, c ? c->tokens : 0);
        gauge(out, "edgegw_port_blocks_used", "VM port blocks allocated.", in->have_blocks, in->blocks_used);
        gauge(out, "edgegw_port_blocks_free",
              "Port blocks of ports_per_vm ports that can still be allocated in the configured range.",
              in->have_blocks, in->blocks_free);

        family(out, "edgegw_vm_bytes_total", "counter",
               "Bytes forwarded per VM (nft counters in kernel mode, relayed bytes in userspace mode); "
               "direction in = client to VM, out = VM to client.");
        for (size_t i = 0; i < in->n_vm_bytes; i++) {
                sample(out, "edgegw_vm_bytes_total", "vm", in->vm_bytes[i].id, "direction", "in", in->vm_bytes[i].in);
                sample(out, "edgegw_vm_bytes_total", "vm", in->vm_bytes[i].id, "direction", "out", in->vm_bytes[i].out);
        }
}

static void render_proxy(const struct metrics_input *in, struct strbuf *out) {
        const struct proxy_stats *p = in->proxy;
        counter(out, "edgegw_proxy_accepted_total", "Connections accepted by the proxy.", p, p ? p->accepted : 0);
        gauge(out, "edgegw_proxy_open_connections", "Connections the proxy holds open now.", p, p ? p->active : 0);
        counter(out, "edgegw_proxy_relayed_total", "Connections relayed to a backend.", p, p ? p->relayed : 0);
        counter(out, "edgegw_proxy_redirected_total", "Plain-HTTP requests answered with a redirect to HTTPS.", p,
                p ? p->redirected : 0);
        family(out, "edgegw_proxy_all_bytes_total", "counter",
               "Bytes relayed by the proxy over all routes; in = client to backend, out = backend to client.");
        if (p) {
                sample(out, "edgegw_proxy_all_bytes_total", "direction", "in", NULL, NULL, p->bytes_in);
                sample(out, "edgegw_proxy_all_bytes_total", "direction", "out", NULL, NULL, p->bytes_out);
        }
        family(out, "edgegw_proxy_all_rejects_total", "counter",
               "Connections the proxy refused or lost, over all routes, by reason.");
        if (p) {
                const struct {
                        const char *reason;
                        uint64_t n;
                } r[] = {
                        {"limit", p->rejected_limit},
                        {"no_route", p->rejected_no_route},
                        {"not_allowed", p->rejected_not_allowed},
                        {"bad_request", p->rejected_bad_request},
                        {"timeout", p->rejected_timeout},
                        {"backend_failed", p->backend_failed},
                        {"closed_removed", p->closed_removed},
                };
                for (size_t i = 0; i < ELEMENTSOF(r); i++)
                        sample(out, "edgegw_proxy_all_rejects_total", "reason", r[i].reason, NULL, NULL, r[i].n);
        }
        gauge(out, "edgegw_proxy_udp_sessions", "Open user-space UDP forward sessions.", p, p ? p->udp_sessions : 0);
        counter(out, "edgegw_proxy_forward_bind_failures_total",
                "Attempts to bind a user-space forward's port that failed (retried every second).", p,
                p ? p->forward_bind_failed : 0);

        family(out, "edgegw_proxy_connections_total", "counter",
               "Connections relayed or attempted to a route's backend, by route (host name).");
        for (size_t i = 0; i < in->n_routes; i++)
                sample(out, "edgegw_proxy_connections_total", "route", in->routes[i].name, NULL, NULL,
                       in->routes[i].connections);
        family(out, "edgegw_proxy_bytes_total", "counter",
               "Bytes relayed per route; in = client to backend, out = backend to client.");
        for (size_t i = 0; i < in->n_routes; i++) {
                sample(out, "edgegw_proxy_bytes_total", "route", in->routes[i].name, "direction", "in",
                       in->routes[i].bytes_in);
                sample(out, "edgegw_proxy_bytes_total", "route", in->routes[i].name, "direction", "out",
                       in->routes[i].bytes_out);
        }
        family(out, "edgegw_proxy_rejects_total", "counter", "Connections of a route refused or lost, by reason.");
        for (size_t i = 0; i < in->n_routes; i++) {
                const struct proxy_route_stats *rs = &in->routes[i];
                sample(out, "edgegw_proxy_rejects_total", "route", rs->name, "reason", "not_allowed",
                       rs->rejected_not_allowed);
                sample(out, "edgegw_proxy_rejects_total", "route", rs->name, "reason", "backend_failed",
                       rs->backend_failed);
                sample(out, "edgegw_proxy_rejects_total", "route", rs->name, "reason", "timeout", rs->timeouts);
        }
}

static void render_reconcile(const struct metrics_input *in, struct strbuf *out) {
        family(out, "edgegw_reconcile_runs_total", "counter", "Reconciler runs with work to do, by part.");
        for (size_t i = 0; i < in->n_parts; i++)
                sample(out, "edgegw_reconcile_runs_total", "part", in->parts[i].name, NULL, NULL, in->parts[i].runs);
        family(out, "edgegw_reconcile_failures_total", "counter", "Reconciler runs that failed, by part.");
        for (size_t i = 0; i < in->n_parts; i++)
                sample(out, "edgegw_reconcile_failures_total", "part", in->parts[i].name, NULL, NULL,
                       in->parts[i].failures);
        family(out, "edgegw_reconcile_duration_seconds", "summary", "Time spent in reconciler runs, by part.");
        for (size_t i = 0; i < in->n_parts; i++) {
                sample_float(out, "edgegw_reconcile_duration_seconds_sum", "part", in->parts[i].name,
                             in->parts[i].total_duration_ms / 1000.0);
                sample(out, "edgegw_reconcile_duration_seconds_count", "part", in->parts[i].name, NULL, NULL,
                       in->parts[i].runs);
        }
        family(out, "edgegw_reconcile_last_duration_seconds", "gauge", "Duration of the last run, by part.");
        for (size_t i = 0; i < in->n_parts; i++)
                sample_float(out, "edgegw_reconcile_last_duration_seconds", "part", in->parts[i].name,
                             in->parts[i].last_duration_ms / 1000.0);
        family(out, "edgegw_reconcile_last_run_timestamp_seconds", "gauge",
               "Unix time of the last run, by part (0 = never).");
        for (size_t i = 0; i < in->n_parts; i++)
                sample(out, "edgegw_reconcile_last_run_timestamp_seconds", "part", in->parts[i].name, NULL, NULL,
                       in->parts[i].last_run > 0 ? (uint64_t)in->parts[i].last_run : 0);
        family(out, "edgegw_reconcile_ok", "gauge", "1 if the last run of the part succeeded, else 0.");
        for (size_t i = 0; i < in->n_parts; i++)
                sample(out, "edgegw_reconcile_ok", "part", in->parts[i].name, NULL, NULL, in->parts[i].last_ok);
}

static void render_dns(const struct metrics_input *in, struct strbuf *out) {
        const struct dnssync_status *d = in->dns && in->dns->enabled ? in->dns : NULL;
        family(out, "edgegw_dns_records", "gauge", "DNS records in the outbox, by state.");
        if (d) {
                const struct {
                        const char *state;
                        size_t n;
                } st[] = {{"pending", d->pending}, {"synced", d->synced}, {"error", d->error}, {"deleting", d->deleting}};
                for (size_t i = 0; i < ELEMENTSOF(st); i++)
                        sample(out, "edgegw_dns_records", "state", st[i].state, NULL, NULL, st[i].n);
        }
        counter(out, "edgegw_dns_pushes_total", "Provider calls that published or retracted a record.", d, d ? d->pushes : 0);
        counter(out, "edgegw_dns_failures_total", "Provider calls that failed.", d, d ? d->failures : 0);
        gauge(out, "edgegw_dns_last_pass_timestamp_seconds", "Unix time of the DNS reconciler's last pass (0 = never).",
              d, d && d->last_pass > 0 ? (uint64_t)d->last_pass : 0);
}

int metrics_render(const struct metrics_input *in, struct strbuf *out) {
        family(out, "edgegw_build_info", "gauge", "Always 1; the version label says which edgegw runs.");
        sample(out, "edgegw_build_info", "version", in->version ? in->version : "", NULL, NULL, 1);
        render_store(in, out);
        render_proxy(in, out);
        render_reconcile(in, out);
        render_dns(in, out);
        family(out, "edgegw_api_requests_total", "counter", "API requests answered, by HTTP status code.");
        for (size_t i = 0; in->api_requests && i < METRICS_CODES; i++)
                if (in->api_requests[i]) {
                        char code[8];
                        snprintf(code, sizeof code, "%zu", METRICS_CODE_MIN + i);
                        sample(out, "edgegw_api_requests_total", "code", code, NULL, NULL, in->api_requests[i]);
                }
        return strbuf_status(out);
}
