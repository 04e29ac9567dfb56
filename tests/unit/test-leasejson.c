/* SPDX-License-Identifier: MIT */
/*
 * api/leasejson: the POST /v1/leases body (accepted shapes, each refusal with its status and
 * a message naming the field and the problem), MACs as the API takes them, addresses
 * against the [dhcp] pool, the list query and the lease object.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "api/leasejson.h"
#include "api/resjson.h"
#include "core/config.h"

static void assert_contains(const char *haystack, const char *needle) {
        if (!strstr(haystack, needle))
                fail_msg("'%s' does not contain '%s'", haystack, needle);
}

static uint32_t ip4(const char *text) {
        uint32_t ip;
        assert_int_equal(ipv4_parse(text, &ip), 0);
        return ip;
}

static enum lease_decode_status decode(const char *body, struct lease_request *ret, char err[static API_ERROR_MAX]) {
        return lease_request_decode(body, strlen(body), ret, err);
}

static void test_decode_ok(void **state) {
        struct lease_request r;
        char err[API_ERROR_MAX] = "", mac[MAC_TEXT_LEN + 1];
        assert_int_equal(decode("{\"mac\":\"52:54:00:AB:cd:01\"}", &r, err), LEASE_DECODE_OK);
        assert_string_equal(mac_format(r.mac, mac), "52:54:00:ab:cd:01");
        assert_int_equal(r.ip, 0);
        assert_string_equal(r.name, "");
        assert_int_equal(decode("{\"mac\":\"52-54-00-ab-cd-02\",\"ip\":\"10.0.1.150\",\"name\":\"web-1\"}", &r, err),
                         LEASE_DECODE_OK);
        assert_string_equal(mac_format(r.mac, mac), "52:54:00:ab:cd:02");
        assert_int_equal(r.ip, ip4("10.0.1.150"));
        assert_string_equal(r.name, "web-1");
        /* null = not given */
        assert_int_equal(decode("{\"mac\":\"52:54:00:ab:cd:03\",\"ip\":null,\"name\":null}", &r, err), LEASE_DECODE_OK);
        assert_int_equal(r.ip, 0);
        assert_string_equal(r.name, "");
}

static void test_decode_refused(void **state) {
        static const struct {
                const char *body;
                enum lease_decode_status st;
                unsigned status;
                const char *code, *message;
        } cases[] = {
                {"", LEASE_DECODE_INVALID_JSON, 400, "invalid_json", "empty"},
                {"[1]", LEASE_DECODE_INVALID_JSON, 400, "invalid_json", "must be a JSON object"},
                {"{\"mac\":\"52:54:00:00:00:01\",\"mac\":\"52:54:00:00:00:02\"}", LEASE_DECODE_INVALID_JSON, 400,
                 "invalid_json", "duplicate"},
                {"{}", LEASE_DECODE_INVALID_ARGUMENT, 400, "invalid_argument", "field 'mac' is required"},
                {"{\"mac\":null}", LEASE_DECODE_INVALID_ARGUMENT, 400, "invalid_argument", "field 'mac' is required"},
                {"{\"mac\":5}", LEASE_DECODE_INVALID_ARGUMENT, 400, "invalid_argument", "field 'mac' must be a string"},
                {"{\"mac\":\"52:54:00:00:00:01\",\"vm_id\":\"x\"}", LEASE_DECODE_INVALID_ARGUMENT, 400,
                 "invalid_argument", "unknown field 'vm_id' (allowed: mac, ip, name)"},
                {"{\"mac\":\"52:54:00:00:00:01\",\"ip\":[]}", LEASE_DECODE_INVALID_ARGUMENT, 400, "invalid_argument",
                 "field 'ip' must be a string"},
                {"{\"mac\":\"52:54:00:00:00:01\",\"name\":true}", LEASE_DECODE_INVALID_ARGUMENT, 400,
                 "invalid_argument", "field 'name' must be a string"},
                {"{\"mac\":\"52:54:00:00:00\\u0000:01\"}", LEASE_DECODE_INVALID_JSON, 400, "invalid_json",
                 "body is not valid JSON"},
                {"{\"mac\":\"52:54:00:00:00:0g\"}", LEASE_DECODE_INVALID_LEASE, 422, "invalid_lease",
                 "field 'mac': '52:54:00:00:00:0g' is not a MAC address (six pairs of hex digits"},
                {"{\"mac\":\"52:54-00:00:00:01\"}", LEASE_DECODE_INVALID_LEASE, 422, "invalid_lease",
                 "is not a MAC address"},
                {"{\"mac\":\"01:00:5e:00:00:01\"}", LEASE_DECODE_INVALID_LEASE, 422, "invalid_lease",
                 "is a multicast address"},
                {"{\"mac\":\"FF:FF:FF:FF:FF:FF\"}", LEASE_DECODE_INVALID_LEASE, 422, "invalid_lease",
                 "is a broadcast address"},
                {"{\"mac\":\"00:00:00:00:00:00\"}", LEASE_DECODE_INVALID_LEASE, 422, "invalid_lease", "(all zero)"},
                {"{\"mac\":\"52:54:00:00:00:01\",\"ip\":\"10.0.1\"}", LEASE_DECODE_INVALID_LEASE, 422, "invalid_lease",
                 "field 'ip': '10.0.1' is not an IPv4 address"},
                {"{\"mac\":\"52:54:00:00:00:01\",\"ip\":\"2001:db8::5\"}", LEASE_DECODE_INVALID_LEASE, 422,
                 "invalid_lease", "is an IPv6 address; a DHCP lease is IPv4"},
                {"{\"mac\":\"52:54:00:00:00:01\",\"ip\":\"0.0.0.0\"}", LEASE_DECODE_INVALID_LEASE, 422,
                 "invalid_lease", "0.0.0.0 is not a host's address"},
                {"{\"mac\":\"52:54:00:00:00:01\",\"name\":\"Web\"}", LEASE_DECODE_INVALID_LEASE, 422, "invalid_lease",
                 "'Web' has upper case; write it in lower case"},
                {"{\"mac\":\"52:54:00:00:00:01\",\"name\":\"a.b\"}", LEASE_DECODE_INVALID_LEASE, 422, "invalid_lease",
                 "'a.b' has a dot"},
                {"{\"mac\":\"52:54:00:00:00:01\",\"name\":\"\"}", LEASE_DECODE_INVALID_LEASE, 422, "invalid_lease",
                 "is not a host name label"},
                {"{\"mac\":\"52:54:00:00:00:01\",\"name\":\"-a\"}", LEASE_DECODE_INVALID_LEASE, 422, "invalid_lease",
                 "is not a host name label"},
                {"{\"mac\":\"52:54:00:00:00:01\",\"name\":\"caf\\u00e9\"}", LEASE_DECODE_INVALID_LEASE, 422,
                 "invalid_lease", "'caf?" "?' is not a host name label"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
                struct lease_request r, before;
                memset(&r, 0x5a, sizeof r);
                before = r;
                char err[API_ERROR_MAX] = "";
                enum lease_decode_status st = decode(cases[i].body, &r, err);
                if (st != cases[i].st)
                        fail_msg("case %zu (%s): status %d, wanted %d (%s)", i, cases[i].body, st, cases[i].st, err);
                assert_memory_equal(&r, &before, sizeof r); /* untouched */
                unsigned status = 0;
                assert_string_equal(lease_decode_code(st, &status), cases[i].code);
                assert_int_equal(status, cases[i].status);
                assert_contains(err, cases[i].message);
        }
        unsigned status = 0;
        assert_null(lease_decode_code(LEASE_DECODE_OK, &status));
}

static void make_pool(struct lease_pool *p, const char *mask, const char *listen_ip) {
        struct config c;
        config_defaults(&c);
        strcpy(c.dhcp_interface, "br0");
        strcpy(c.dhcp_subnet, "10.0.1.0");
        strcpy(c.dhcp_subnet_mask, mask);
        strcpy(c.dhcp_pool_start, "10.0.1.100");
        strcpy(c.dhcp_pool_end, "10.0.1.200");
        strcpy(c.dhcp_gateway, "10.0.1.1");
        strcpy(c.dhcp_listen_ip, listen_ip);
        assert_int_equal(lease_pool_init(p, &c), 0);
}

static void test_ip_allowed(void **state) {
        struct lease_pool p;
        char err[API_ERROR_MAX] = "", subnet[LEASE_SUBNET_TEXT_MAX];
        make_pool(&p, "255.255.255.0", "10.0.1.2");
        assert_string_equal(lease_subnet_format(&p, subnet), "10.0.1.0/24");
        assert_true(lease_ip_allowed(&p, ip4("10.0.1.100"), err));
        assert_true(lease_ip_allowed(&p, ip4("10.0.1.20"), err)); /* outside the pool, inside the subnet */
        assert_true(lease_ip_allowed(&p, ip4("10.0.1.254"), err));
        static const struct {
                const char *ip, *message;
        } refused[] = {
                {"10.0.2.5", "address 10.0.2.5 is outside the DHCP subnet 10.0.1.0/24"},
                {"192.0.2.1", "outside the DHCP subnet"},
                {"10.0.1.0", "address 10.0.1.0 is the network address of 10.0.1.0/24"},
                {"10.0.1.255", "address 10.0.1.255 is the broadcast address of 10.0.1.0/24"},
                {"10.0.1.1", "address 10.0.1.1 is the VMs' gateway ([dhcp] gateway)"},
                {"10.0.1.2", "address 10.0.1.2 is the DHCP server's own ([dhcp] listen_ip)"},
        };
        for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
                assert_false(lease_ip_allowed(&p, ip4(refused[i].ip), err));
                assert_contains(err, refused[i].message);
        }
        lease_pool_done(&p);
        /* A mask that is not a prefix is shown as a mask. */
        make_pool(&p, "255.255.0.255", "");
        assert_string_equal(lease_subnet_format(&p, subnet), "10.0.1.0/255.255.0.255");
        lease_pool_done(&p);
}

static void test_mac_decode(void **state) {
        uint8_t m[MAC_LEN], before[MAC_LEN] = {1, 2, 3, 4, 5, 6};
        char err[API_ERROR_MAX] = "";
        memcpy(m, before, MAC_LEN);
        assert_false(lease_mac_decode("52:54:00:00:00:0x\x01", "the MAC in the path", m, err));
        assert_memory_equal(m, before, MAC_LEN);
        assert_contains(err, "the MAC in the path: '52:54:00:00:00:0x?' is not a MAC address");
        assert_true(lease_mac_decode("02:00:00:00:00:01", "x", m, err)); /* locally administered: fine */
        assert_int_equal(m[0], 2);
}

static void test_list_query(void **state) {
        struct lease_list_query q;
        char err[API_ERROR_MAX] = "";
        assert_int_equal(lease_list_query_parse(NULL, NULL, 0, &q, err), 0);
        assert_int_equal(q.limit, API_LIST_LIMIT_DEFAULT);
        assert_string_equal(q.after, "");
        const char *keys[] = {"limit", "after"}, *values[] = {"1000", "52-54-00-AB-00-01"};
        assert_int_equal(lease_list_query_parse(keys, values, 2, &q, err), 0);
        assert_int_equal(q.limit, 1000);
        assert_string_equal(q.after, "52:54:00:ab:00:01");
        static const struct {
                const char *key, *value, *message;
        } bad[] = {
                {"limit", "0", "query 'limit': '0' is not a number 1-1000"},
                {"limit", "1001", "is not a number 1-1000"},
                {"limit", "", "is not a number"},
                {"limit", "1x", "is not a number"},
                {"after", "vm-1", "query 'after': 'vm-1' is not a MAC address"},
                {"label", "env", "unknown query argument 'label' (allowed: limit, after)"},
        };
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
                const char *k[] = {bad[i].key}, *v[] = {bad[i].value};
                assert_int_equal(lease_list_query_parse(k, v, 1, &q, err), -EINVAL);
                assert_contains(err, bad[i].message);
        }
        const char *k2[] = {"limit", "limit"}, *v2[] = {"5", "6"};
        assert_int_equal(lease_list_query_parse(k2, v2, 2, &q, err), -EINVAL);
        assert_contains(err, "repeated");
}

static void test_to_json(void **state) {
        struct lease l = {.mac = {0x52, 0x54, 0, 0, 0, 1}, .created_at = 1790000000, .updated_at = 1790000060};
        l.ip = ip4("10.0.1.100");
        json_t *o = lease_to_json(&l);
        assert_non_null(o);
        char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(text, "{\"created_at\":\"2026-09-21T14:13:20Z\",\"ip\":\"10.0.1.100\",\"mac\":"
                                  "\"52:54:00:00:00:01\",\"name\":null,\"updated_at\":\"2026-09-21T14:14:20Z\","
                                  "\"vm_id\":null}");
        free(text);
        json_decref(o);
        strcpy(l.name, "web1");
        strcpy(l.vm_id, "vm-1");
        o = lease_to_json(&l);
        assert_string_equal(json_string_value(json_object_get(o, "name")), "web1");
        assert_string_equal(json_string_value(json_object_get(o, "vm_id")), "vm-1");
        json_decref(o);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_decode_ok),   cmocka_unit_test(test_decode_refused),
                cmocka_unit_test(test_ip_allowed),  cmocka_unit_test(test_mac_decode),
                cmocka_unit_test(test_list_query),  cmocka_unit_test(test_to_json),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
