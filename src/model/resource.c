/* SPDX-License-Identifier: MIT */
/* Pure rules of labels, host names, scopes and the route/forward records. */
#include "resource.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../core/util.h"

const char *resource_origin_to_string(enum resource_origin o) {
        switch (o) {
        case ORIGIN_API: return "api";
        case ORIGIN_AGENT: return "agent";
        }
        return NULL;
}

int resource_origin_from_string(const char *s, enum resource_origin *ret) {
        if (streq(s, "api"))
                *ret = ORIGIN_API;
        else if (streq(s, "agent"))
                *ret = ORIGIN_AGENT;
        else
                return -EINVAL;
        return 0;
}

static bool is_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool label_key_valid(const char *key) {
        size_t n = strlen(key);
        if (n == 0 || n > LABEL_KEY_MAX || !is_alnum(key[0]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_alnum(key[i]) && !strchr("._/-", key[i]))
                        return false;
        return true;
}

bool label_value_valid(const char *value) {
        size_t n = strlen(value);
        if (n > LABEL_VALUE_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)value[i];
                if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
                        return false;
        }
        return true;
}

int labels_format(const char *const *keys, const char *const *values, size_t n, char out[static LABELS_JSON_MAX]) {
        if (n > LABELS_MAX)
                return -EINVAL;
        size_t order[LABELS_MAX];
        for (size_t i = 0; i < n; i++) {
                if (!label_key_valid(keys[i]) || !label_value_valid(values[i]))
                        return -EINVAL;
                /* insertion sort by key: n is at most 16 */
                size_t j = i;
                while (j > 0 && strcmp(keys[order[j - 1]], keys[i]) > 0) {
                        order[j] = order[j - 1];
                        j--;
                }
                if (j > 0 && streq(keys[order[j - 1]], keys[i]))
                        return -EINVAL;
                order[j] = i;
        }
        size_t len = 0;
        out[len++] = '{';
        for (size_t i = 0; i < n; i++)
                len += (size_t)snprintf(out + len, LABELS_JSON_MAX - len, "%s\"%s\":\"%s\"", i ? "," : "",
                                        keys[order[i]], values[order[i]]);
        out[len++] = '}';
        out[len] = '\0';
        return 0;
}

bool labels_match(const char *labels_json, const char *key, const char *value) {
        /* Canonical text: {"k":"v","k2":"v2"}; keys and values hold no '"'. */
        size_t kl = strlen(key);
        const char *p = labels_json;
        while ((p = strchr(p, '"'))) {
                const char *k = p + 1, *kend = strchr(k, '"');
                if (!kend || kend[1] != ':' || kend[2] != '"')
                        return false;
                const char *v = kend + 3, *vend = strchr(v, '"');
                if (!vend)
                        return false;
                if ((size_t)(kend - k) == kl && memcmp(k, key, kl) == 0)
                        return !value || ((size_t)(vend - v) == strlen(value) && memcmp(v, value, (size_t)(vend - v)) == 0);
                p = vend + 1;
        }
        return false;
}

bool route_hostname_valid(const char *name) {
        if (strncmp(name, "*.", 2) == 0) {
                const char *rest = name + 2;
                return strchr(rest, '.') && dns_name_valid(rest) && strlen(name) <= DNS_NAME_MAX;
        }
        return dns_name_valid(name);
}

int label_match_parse(const char *text, struct label_match *ret) {
        struct label_match m = {0};
        const char *eq = strchr(text, '=');
        size_t kl = eq ? (size_t)(eq - text) : strlen(text);
        if (kl == 0 || kl > LABEL_KEY_MAX)
                return -EINVAL;
        memcpy(m.key, text, kl);
        m.key[kl] = '\0';
        if (!label_key_valid(m.key))
                return -EINVAL;
        if (!eq)
                m.any_value = true;
        else if (strcpy_bounded(m.value, sizeof m.value, eq + 1) < 0 || !label_value_valid(m.value))
                return -EINVAL;
        *ret = m;
        return 0;
}

void vm_meta_init(struct vm_meta *m) {
        *m = (struct vm_meta){0};
        strcpy(m->labels, "{}");
}

void route_def_init(struct route_def *r) {
        *r = (struct route_def){.port = 443, .http_port = 80};
        strcpy(r->labels, "{}");
}

void forward_def_init(struct forward_def *f) {
        *f = (struct forward_def){0};
        strcpy(f->labels, "{}");
}

static const char *const scope_names[] = {"read", "vms", "routes", "forwards", "dns", "admin"};

const char *scope_to_string(enum api_scope s) {
        for (size_t i = 0; i < ELEMENTSOF(scope_names); i++)
                if ((unsigned)s == 1u << i)
                        return scope_names[i];
        return NULL;
}

int scopes_parse(const char *text, uint32_t *ret, char bad[32]) {
        uint32_t mask = 0;
        const char *p = text;
        for (;;) {
                const char *comma = strchr(p, ',');
                size_t l = comma ? (size_t)(comma - p) : strlen(p);
                uint32_t bit = 0;
                for (size_t i = 0; i < ELEMENTSOF(scope_names); i++)
                        if (strlen(scope_names[i]) == l && memcmp(scope_names[i], p, l) == 0)
                                bit = 1u << i;
                if (!bit || (mask & bit)) {
                        if (bad)
                                snprintf(bad, 32, "%.*s", (int)(l < 31 ? l : 31), p);
                        return -EINVAL;
                }
                mask |= bit;
                if (!comma)
                        break;
                p = comma + 1;
        }
        *ret = mask;
        return 0;
}

void scopes_format(uint32_t scopes, char out[static SCOPES_TEXT_MAX]) {
        size_t len = 0;
        out[0] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(scope_names); i++)
                if (scopes & (1u << i))
                        len += (size_t)snprintf(out + len, SCOPES_TEXT_MAX - len, "%s%s", len ? "," : "", scope_names[i]);
}
