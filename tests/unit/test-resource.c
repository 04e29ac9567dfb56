/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the resource model's pure rules: origins, label keys and values, the
 * canonical labels text and matching it, route host names (wildcards), ?label= selectors,
 * the defaults of the records, and token scopes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "core/util.h"
#include "model/resource.h"

static void test_origin(void **state) {
        enum resource_origin o = 99;
        assert_string_equal(resource_origin_to_string(ORIGIN_API), "api");
        assert_string_equal(resource_origin_to_string(ORIGIN_AGENT), "agent");
        assert_null(resource_origin_to_string(2));
        assert_int_equal(resource_origin_from_string("agent", &o), 0);
        assert_int_equal(o, ORIGIN_AGENT);
        assert_int_equal(resource_origin_from_string("api", &o), 0);
        assert_int_equal(o, ORIGIN_API);
        assert_int_equal(resource_origin_from_string("API", &o), -EINVAL);
        assert_int_equal(resource_origin_from_string("", &o), -EINVAL);
        assert_int_equal(o, ORIGIN_API);
}

static void test_label_key(void **state) {
        static const char *const good[] = {"a", "env", "A9", "k8s.io/app", "team_name", "x-y.z/w", "0",
                                           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
        static const char *const bad[] = {"", "-a", ".a", "/a", "_a", "a b", "a=b", "a\"", "a\\", "caf\xc3\xa9", "a\n",
                                          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "a:b",
                                          "a,b"};
        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                if (!label_key_valid(good[i]))
                        fail_msg("key '%s' refused", good[i]);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (label_key_valid(bad[i]))
                        fail_msg("key '%s' accepted", bad[i]);
}

static void test_label_value(void **state) {
        static const char *const good[] = {"", "prod", "a b", "x=y,z", "<>&'{}[]:", "~",
                                           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
        static const char *const bad[] = {"\"", "a\\b", "a\nb", "\t", "\x7f", "caf\xc3\xa9",
                                          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                if (!label_value_valid(good[i]))
                        fail_msg("value '%s' refused", good[i]);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (label_value_valid(bad[i]))
                        fail_msg("value '%s' accepted", bad[i]);
}

static void test_labels_format(void **state) {
        char out[LABELS_JSON_MAX];
        assert_int_equal(labels_format(NULL, NULL, 0, out), 0);
        assert_string_equal(out, "{}");

        const char *keys[] = {"team", "env", "a/b"}, *values[] = {"a", "prod", ""};
        assert_int_equal(labels_format(keys, values, 3, out), 0);
        assert_string_equal(out, "{\"a/b\":\"\",\"env\":\"prod\",\"team\":\"a\"}");

        /* Duplicates anywhere in the input are refused, and nothing is written. */
        const char *dup_keys[] = {"b", "a", "c", "a"}, *dup_values[] = {"1", "2", "3", "4"};
        strcpy(out, "untouched");
        assert_int_equal(labels_format(dup_keys, dup_values, 4, out), -EINVAL);
        assert_string_equal(out, "untouched");
        const char *dup2[] = {"x", "x"}, *v2[] = {"1", "2"};
        assert_int_equal(labels_format(dup2, v2, 2, out), -EINVAL);
        /* Invalid keys or values, too many labels. */
        const char *bad_key[] = {"ok", "-no"}, *bad_value[] = {"ok", "no\"pe"};
        assert_int_equal(labels_format(bad_key, v2, 2, out), -EINVAL);
        assert_int_equal(labels_format(dup_keys, bad_value, 2, out), -EINVAL);
        assert_int_equal(labels_format(keys, values, LABELS_MAX + 1, out), -EINVAL);

        /* The longest labels fit LABELS_JSON_MAX exactly. */
        char k[LABELS_MAX][LABEL_KEY_MAX + 1], v[LABELS_MAX][LABEL_VALUE_MAX + 1];
        const char *kp[LABELS_MAX], *vp[LABELS_MAX];
        for (size_t i = 0; i < LABELS_MAX; i++) {
                memset(k[i], 'a' + (int)i, LABEL_KEY_MAX);
                k[i][LABEL_KEY_MAX] = '\0';
                memset(v[i], 'z', LABEL_VALUE_MAX);
                v[i][LABEL_VALUE_MAX] = '\0';
                kp[LABELS_MAX - 1 - i] = k[i];
                vp[LABELS_MAX - 1 - i] = v[i];
        }
        assert_int_equal(labels_format(kp, vp, LABELS_MAX, out), 0);
        assert_int_equal(strlen(out), LABELS_JSON_MAX - 2); /* the bound counts one comma too many */
        assert_int_equal(out[0], '{');
        assert_int_equal(out[1], '"');
        assert_int_equal(out[2], 'a'); /* sorted */
}

static void test_labels_match(void **state) {
        const char *text = "{\"a/b\":\"\",\"env\":\"prod\",\"team\":\"a\"}";
        assert_true(labels_match(text, "env", NULL));
        assert_true(labels_match(text, "env", "prod"));
        assert_false(labels_match(text, "env", "pro"));
        assert_false(labels_match(text, "env", "prods"));
        assert_false(labels_match(text, "en", NULL));
        assert_false(labels_match(text, "envx", NULL));
        assert_true(labels_match(text, "a/b", ""));
        assert_true(labels_match(text, "a/b", NULL));
        assert_false(labels_match(text, "a/b", "x"));
        assert_true(labels_match(text, "team", "a"));
        /* A value is never taken for a key. */
        assert_false(labels_match(text, "prod", NULL));
        assert_false(labels_match(text, "a", NULL));
        assert_false(labels_match("{}", "env", NULL));
        assert_false(labels_match("", "env", NULL));
        /* Text that is not canonical never matches (nor crashes). */
        assert_false(labels_match("{\"env\"", "env", NULL));
        assert_false(labels_match("{\"env\":1}", "env", NULL));
        assert_false(labels_match("{\"env\":\"prod", "env", NULL));
}

static void test_route_hostname(void **state) {
        static const char *const good[] = {"a", "example.net", "app.example.net", "*.example.net", "*.a.b.c",
                                           "xn--caf-dma.example", "a-b.c"};
        static const char *const bad[] = {"", "*", "*.", "*.com", "**.example.net", "*example.net", "a.*.example",
                                          "*.*.example.net", "Example.net", "a..b", ".a", "a.", "-a.b", "a-.b",
                                          "a_b.c", "caf\xc3\xa9.example", "a b", "*.example.net.", "a:443"};
        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                if (!route_hostname_valid(good[i]))
                        fail_msg("'%s' refused", good[i]);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (route_hostname_valid(bad[i]))
                        fail_msg("'%s' accepted", bad[i]);
        /* Length: 253 characters at most, wildcard included. */
        char name[300];
        memset(name, 0, sizeof name);
        for (size_t i = 0; i < 253; i++)
                name[i] = (i % 50 == 49) ? '.' : 'a';
        assert_true(route_hostname_valid(name));
        name[253] = 'a';
        assert_false(route_hostname_valid(name));
        name[0] = '*';
        name[1] = '.';
        name[253] = '\0';
        assert_true(route_hostname_valid(name));
        name[253] = 'a';
        assert_false(route_hostname_valid(name));
}

static void test_label_match_parse(void **state) {
        struct label_match m;
        assert_int_equal(label_match_parse("env", &m), 0);
        assert_string_equal(m.key, "env");
        assert_true(m.any_value);
        assert_int_equal(label_match_parse("env=prod", &m), 0);
        assert_string_equal(m.key, "env");
        assert_string_equal(m.value, "prod");
        assert_false(m.any_value);
        assert_int_equal(label_match_parse("env=", &m), 0);
        assert_string_equal(m.value, "");
        assert_false(m.any_value);
        assert_int_equal(label_match_parse("k=a=b", &m), 0);
        assert_string_equal(m.value, "a=b");

        memset(&m, 0x5a, sizeof m);
        struct label_match before = m;
        static const char *const bad[] = {"", "=", "=v", "-k", "k k=v", "k=\"", "k=a\\b",
                                          "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk=v",
                                          "k=vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                if (label_match_parse(bad[i], &m) != -EINVAL)
                        fail_msg("'%s' accepted", bad[i]);
                assert_memory_equal(&m, &before, sizeof m);
        }
}

static void test_defaults(void **state) {
        struct vm_meta meta;
        memset(&meta, 0x5a, sizeof meta);
        vm_meta_init(&meta);
        assert_int_equal(meta.version, 0);
        assert_int_equal(meta.expires_at, 0);
        assert_int_equal(meta.n_hostnames, 0);
        assert_string_equal(meta.labels, "{}");

        struct route_def r;
        memset(&r, 0x5a, sizeof r);
        route_def_init(&r);
        assert_int_equal(r.port, 443);
        assert_int_equal(r.http_port, 80);
        assert_int_equal(r.origin, ORIGIN_API);
        assert_int_equal(r.n_allow, 0);
        assert_string_equal(r.labels, "{}");
        assert_string_equal(r.agent_target_url, "");

        struct forward_def f;
        memset(&f, 0x5a, sizeof f);
        forward_def_init(&f);
        assert_int_equal(f.public_port, 0);
        assert_int_equal(f.proto, PROTO_TCP);
        assert_string_equal(f.labels, "{}");
}

static void test_scopes(void **state) {
        assert_string_equal(scope_to_string(SCOPE_READ), "read");
        assert_string_equal(scope_to_string(SCOPE_ADMIN), "admin");
        assert_string_equal(scope_to_string(SCOPE_DNS), "dns");
        assert_null(scope_to_string(0));
        assert_null(scope_to_string(SCOPE_READ | SCOPE_VMS));
        assert_null(scope_to_string(1u << 6));

        uint32_t s = 0;
        char bad[32];
        assert_int_equal(scopes_parse("read", &s, bad), 0);
        assert_int_equal(s, SCOPE_READ);
        assert_int_equal(scopes_parse("admin,read,vms,routes,forwards,dns", &s, bad), 0);
        assert_int_equal(s, SCOPE_ALL);
        char text[SCOPES_TEXT_MAX];
        scopes_format(s, text);
        assert_string_equal(text, "read,vms,routes,forwards,dns,admin");
        scopes_format(SCOPE_FORWARDS | SCOPE_READ, text);
        assert_string_equal(text, "read,forwards");

        static const struct {
                const char *text, *bad;
        } refused[] = {
                {"", ""}, {"read,", ""}, {",read", ""}, {"read,read", "read"}, {"Read", "Read"},
                {"read, vms", " vms"}, {"vm", "vm"}, {"read,write", "write"},
                {"readreadreadreadreadreadreadreadreadread", "readreadreadreadreadreadreadrea"},
        };
        for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
                s = 77;
                strcpy(bad, "?");
                if (scopes_parse(refused[i].text, &s, bad) != -EINVAL)
                        fail_msg("'%s' accepted", refused[i].text);
                assert_int_equal(s, 77);
                if (!streq(bad, refused[i].bad))
                        fail_msg("'%s': bad word '%s', want '%s'", refused[i].text, bad, refused[i].bad);
        }
        assert_int_equal(scopes_parse("nope", &s, NULL), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_origin),
                cmocka_unit_test(test_label_key),
                cmocka_unit_test(test_label_value),
                cmocka_unit_test(test_labels_format),
                cmocka_unit_test(test_labels_match),
                cmocka_unit_test(test_route_hostname),
                cmocka_unit_test(test_label_match_parse),
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_scopes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
