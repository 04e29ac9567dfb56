/* SPDX-License-Identifier: MIT */
/*
 * The live half of drift detection: reduces libnftables' JSON listing of the `inet edgegw`
 * table (`nft -j list table inet edgegw`) to the same sorted canonical item strings that
 * render.c derives from the desired VMs, and collects the per-VM counter values so a full
 * re-render can carry them over. The input is untrusted text: kinds of objects this file
 * does not know are skipped, objects of other tables are skipped, and any structure it
 * cannot read is -EBADMSG, never a crash. The `bridge edgegw` table (issue 6) is reduced the
 * same way, its items prefixed with "bridge ". Pure: no I/O, no logging.
 */
#include "nft.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/util.h"

/* Nesting allowed inside one element value ({"elem": {"val": {"concat": [...]}}} is 3). */
#define VALUE_DEPTH_MAX 8

/* Named stateful objects and flowtables: a hand-added one is drift, reported as
 * "<kind> <name>". */
static const char *const named_object_kinds[] = {
        "quota", "limit", "ct helper", "ct timeout", "ct expectation", "synproxy", "secmark", "flowtable",
};

struct parse_state {
        char **items;
        size_t n_items, cap_items;
        struct nft_counter_value *counters;
        size_t n_counters, cap_counters;
        bool want_counters;
        const char *prefix; /* of the items of the object being parsed: "" or "bridge " */
        struct strbuf line; /* scratch for the item being built */
};

static void parse_state_done(struct parse_state *st) {
        for (size_t i = 0; i < st->n_items; i++)
                free(st->items[i]);
        free(st->items);
        free(st->counters);
        strbuf_done(&st->line);
        *st = (struct parse_state){0};
}

/* Adds st->line as an item. Control characters become '?' so one item is one report line. */
static int push_line(struct parse_state *st) {
        if (strbuf_status(&st->line) < 0)
                return -ENOMEM;
        if (st->n_items == st->cap_items) {
                size_t cap = st->cap_items ? st->cap_items * 2 : 64;
                char **v = reallocarray(st->items, cap, sizeof *v);
                if (!v)
                        return -ENOMEM;
                st->items = v;
                st->cap_items = cap;
        }
        char *s = NULL;
        if (asprintf(&s, "%s%s", st->prefix ? st->prefix : "", strbuf_str(&st->line)) < 0)
                return -ENOMEM;
        for (char *p = s; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                        *p = '?';
        st->items[st->n_items++] = s;
        strbuf_reset(&st->line);
        return 0;
}

static int push_item(struct parse_state *st, const char *fmt, ...) _printf_(2, 3);
static int push_item(struct parse_state *st, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        char *s = NULL;
        int k = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        strbuf_reset(&st->line);
        strbuf_append(&st->line, s);
        free(s);
        return push_line(st);
}

static int push_counter(struct parse_state *st, const char *name, uint64_t packets, uint64_t bytes) {
        /* A name too long to be one of ours cannot be carried over to a VM anyway. */
        if (!st->want_counters || strlen(name) >= NFT_COUNTER_NAME_MAX)
                return 0;
        if (st->n_counters == st->cap_counters) {
                size_t cap = st->cap_counters ? st->cap_counters * 2 : 32;
                struct nft_counter_value *v = reallocarray(st->counters, cap, sizeof *v);
                if (!v)
                        return -ENOMEM;
                st->counters = v;
                st->cap_counters = cap;
        }
        struct nft_counter_value *c = &st->counters[st->n_counters++];
        *c = (struct nft_counter_value){ .packets = packets, .bytes = bytes };
        strcpy_bounded(c->name, sizeof c->name, name);
        return 0;
}

/* The string member key of o, or NULL when absent or not a string. */
static const char *get_string(const json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key));
}

/* Appends an element key or value as nft prints it in text: numbers in decimal, strings as
 * they are, a concatenation joined by spaces (as in the items render.c expects), prefixes
 * and ranges in their usual notation. Anything else (verdicts, expressions) appears as
 * compact JSON so it still compares, and never matches an expected item. */
static int append_value(const json_t *v, unsigned depth, struct strbuf *out) {
        if (depth > VALUE_DEPTH_MAX)
                return -EBADMSG;

        if (json_is_string(v)) {
                strbuf_append(out, json_string_value(v));
                return 0;
        }
        if (json_is_integer(v)) {
                strbuf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                return 0;
        }
        if (json_is_object(v) && json_object_size(v) == 1) {
                const json_t *x;
                int r;

                if ((x = json_object_get(v, "concat"))) {
                        size_t i;
                        const json_t *part;
                        if (!json_is_array(x) || json_array_size(x) == 0)
                                return -EBADMSG;
                        json_array_foreach (x, i, part) {
                                if (i > 0)
                                        strbuf_append(out, " ");
                                if ((r = append_value(part, depth + 1, out)) < 0)
                                        return r;
                        }
                        return 0;
                }
                if ((x = json_object_get(v, "elem"))) {
                        /* An element with a timeout, counter or comment: only its value counts. */
                        const json_t *val = json_object_get(x, "val");
                        if (!json_is_object(x) || !val)
                                return -EBADMSG;
                        return append_value(val, depth + 1, out);
                }
                if ((x = json_object_get(v, "prefix"))) {
                        const json_t *addr = json_object_get(x, "addr"), *len = json_object_get(x, "len");
                        if (!json_is_object(x) || !addr || !json_is_integer(len))
                                return -EBADMSG;
                        if ((r = append_value(addr, depth + 1, out)) < 0)
                                return r;
                        strbuf_printf(out, "/%" JSON_INTEGER_FORMAT, json_integer_value(len));
                        return 0;
                }
                if ((x = json_object_get(v, "range"))) {
                        if (!json_is_array(x) || json_array_size(x) != 2)
                                return -EBADMSG;
                        if ((r = append_value(json_array_get(x, 0), depth + 1, out)) < 0)
                                return r;
                        strbuf_append(out, "-");
                        return append_value(json_array_get(x, 1), depth + 1, out);
                }
        }

        char *dump = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        if (!dump)
                return -ENOMEM;
        strbuf_append(out, dump);
        free(dump);
        return 0;
}

/* "elem NAME KEY" for a set, "elem NAME KEY VALUE" for a map (elements are [key, value]). */
static int parse_elements(struct parse_state *st, const char *name, const json_t *elems, bool is_map) {
        size_t i;
        const json_t *e;
        int r;

        if (!elems)
                return 0;
        if (!json_is_array(elems))
                return -EBADMSG;
        json_array_foreach (elems, i, e) {
                strbuf_reset(&st->line);
                strbuf_printf(&st->line, "elem %s ", name);
                if (is_map) {
                        if (!json_is_array(e) || json_array_size(e) != 2)
                                return -EBADMSG;
                        if ((r = append_value(json_array_get(e, 0), 0, &st->line)) < 0)
                                return r;
                        strbuf_append(&st->line, " ");
                        if ((r = append_value(json_array_get(e, 1), 0, &st->line)) < 0)
                                return r;
                } else if ((r = append_value(e, 0, &st->line)) < 0)
                        return r;
                if ((r = push_line(st)) < 0)
                        return r;
        }
        return 0;
}

static int parse_chain(struct parse_state *st, const json_t *o) {
        const char *name = get_string(o, "name");
        const json_t *type = json_object_get(o, "type"), *hook = json_object_get(o, "hook"),
                     *prio = json_object_get(o, "prio");

        if (!name)
                return -EBADMSG;
        if (!type && !hook && !prio)
                return push_item(st, "chain %s", name); /* a regular (unhooked) chain */
        if (!json_is_string(type) || !json_is_string(hook) || !prio)
                return -EBADMSG;
        strbuf_reset(&st->line);
        strbuf_printf(&st->line, "chain %s %s %s ", name, json_string_value(type), json_string_value(hook));
        /* nft 1.0.6 reports the priority as a number; a newer one might print a name. */
        if (!json_is_integer(prio) && !json_is_string(prio))
                return -EBADMSG;
        int r = append_value(prio, 0, &st->line);
        if (r < 0)
                return r;
        return push_line(st);
}

static int parse_rule(struct parse_state *st, const json_t *o) {
        const char *chain = get_string(o, "chain");
        const json_t *comment = json_object_get(o, "comment");

        if (!chain || (comment && !json_is_string(comment)))
                return -EBADMSG;
        /* A rule without our tag was added by hand: one item per chain says so. */
        if (comment && strncmp(json_string_value(comment), "edgegw:", 7) == 0)
                return push_item(st, "rule %s %s", chain, json_string_value(comment));
        return push_item(st, "rule %s (uncommented)", chain);
}

static int parse_counter(struct parse_state *st, const json_t *o) {
        const char *name = get_string(o, "name");
        const json_t *packets = json_object_get(o, "packets"), *bytes = json_object_get(o, "bytes");
        int r;

        if (!name || !json_is_integer(packets) || !json_is_integer(bytes) || json_integer_value(packets) < 0 ||
            json_integer_value(bytes) < 0)
                return -EBADMSG;
        if ((r = push_item(st, "counter %s", name)) < 0)
                return r;
        return push_counter(st, name, (uint64_t)json_integer_value(packets), (uint64_t)json_integer_value(bytes));
}

/* Which of our tables o belongs to: 1 the inet one, 2 the bridge one, 0 neither; -EBADMSG
 * when it does not say which table it belongs to. */
static int in_our_table(const char *kind, const json_t *o) {
        const char *family = get_string(o, "family");
        const char *table = get_string(o, streq(kind, "table") ? "name" : "table");

        if (!family || !table)
                return -EBADMSG;
        if (!streq(table, NFT_TABLE_NAME))
                return 0;
        return streq(family, NFT_TABLE_FAMILY) ? 1 : streq(family, NFT_BRIDGE_FAMILY) ? 2 : 0;
}

static int parse_object(struct parse_state *st, const char *kind, const json_t *o) {
        bool named = false;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(named_object_kinds); i++)
                named = named || streq(kind, named_object_kinds[i]);
        if (!named && !streq(kind, "table") && !streq(kind, "chain") && !streq(kind, "rule") &&
            !streq(kind, "set") && !streq(kind, "map") && !streq(kind, "counter"))
                return 0; /* metainfo, and whatever a later nft adds */
        if (!json_is_object(o))
                return -EBADMSG;
        r = in_our_table(kind, o);
        if (r <= 0)
                return r;
        bool bridge = r == 2;
        st->prefix = bridge ? NFT_BRIDGE_FAMILY " " : "";

        if (streq(kind, "table"))
                return push_item(st, "table %s " NFT_TABLE_NAME, bridge ? NFT_BRIDGE_FAMILY : NFT_TABLE_FAMILY);
        if (streq(kind, "chain"))
                return parse_chain(st, o);
        if (streq(kind, "rule"))
                return parse_rule(st, o);
        if (streq(kind, "counter")) {
                /* Counter values are carried over for the inet table's VMs only. */
                bool want = st->want_counters;
                st->want_counters = want && !bridge;
                r = parse_counter(st, o);
                st->want_counters = want;
                return r;
        }

        const char *name = get_string(o, "name");
        if (!name)
                return -EBADMSG;
        if ((r = push_item(st, "%s %s", kind, name)) < 0)
                return r;
        if (streq(kind, "set") || streq(kind, "map"))
                return parse_elements(st, name, json_object_get(o, "elem"), streq(kind, "map"));
        return 0;
}

static int item_compare(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

int nft_live_parse_json(const char *json, struct nft_items *ret, struct nft_counter_value **ret_counters,
                        size_t *ret_n_counters) {
        _cleanup_(parse_state_done) struct parse_state st = { .want_counters = ret_counters != NULL };
        json_t *root, *list, *entry;
        size_t i;
        int r = 0;

        if (!json)
                return -EBADMSG;
        root = json_loads(json, 0, NULL);
        if (!root)
                return -EBADMSG;
        list = json_object_get(root, "nftables");
        if (!json_is_array(list))
                r = -EBADMSG;
        else
                json_array_foreach (list, i, entry) {
                        const char *kind;
                        json_t *o;

                        if (!json_is_object(entry)) {
                                r = -EBADMSG;
                                break;
                        }
                        json_object_foreach (entry, kind, o)
                                if ((r = parse_object(&st, kind, o)) < 0)
                                        break;
                        if (r < 0)
                                break;
                }
        json_decref(root);
        if (r < 0)
                return r;

        size_t k = 0;
        if (st.n_items > 0)
                qsort(st.items, st.n_items, sizeof *st.items, item_compare);
        for (size_t j = 0; j < st.n_items; j++) {
                if (k > 0 && streq(st.items[k - 1], st.items[j]))
                        free(st.items[j]);
                else
                        st.items[k++] = st.items[j];
        }
        *ret = (struct nft_items){ .items = TAKE_PTR(st.items), .n = k };
        st.n_items = 0;
        if (ret_counters)
                *ret_counters = st.n_counters > 0 ? TAKE_PTR(st.counters) : NULL;
        if (ret_n_counters)
                *ret_n_counters = ret_counters ? st.n_counters : 0;
        return 0;
}
