/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the central node's DNS request codec (api/dnsremotejson.c): seed 000's body
 * and the extended one, what is refused as a bad request (400), as a record this node will not
 * publish (422) or as outside the token's datacenter (403), with messages that name the field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "api/dnsremotejson.h"

static const struct dns_remote_policy open_policy = {
        .zone = "example.net", .domain = "example.net", .token_name = "ops", .default_ttl = 120};
static const struct dns_remote_policy lk_policy = {
        .zone = "example.net", .domain = "example.net", .token_name = "node1", .token_datacenter = "dc-lk",
        .default_ttl = 120};

/* Decodes and checks body under p; asserts the status and, when not OK, that the message
 * contains want (NULL: anything). */
static struct dns_remote_request expect(const char *body, const struct dns_remote_policy *p, enum dns_remote_status st,
                                        const char *want) {
        struct dns_remote_request req;
        memset(&req, 0x5a, sizeof req);
        char err[API_ERROR_MAX] = "";
        enum dns_remote_status got = dns_remote_request_decode(body, strlen(body), &req, err);
        if (got == DNS_REMOTE_OK)
                got = dns_remote_request_check(&req, p, err);
        if (got != st)
                fail_msg("%s: status %d, want %d (%s)", body, got, st, err);
        if (st != DNS_REMOTE_OK && want && !strstr(err, want))
                fail_msg("%s: message '%s' lacks '%s'", body, err, want);
        return req;
}

static void test_extended_create(void **state) {
        struct dns_remote_request r = expect(
                "{\"action\":\"create\",\"name\":\"Web.DC-LK.example.net.\",\"type\":\"A\",\"content\":\"203.0.113.7\","
                "\"ttl\":60,\"proxied\":true}",
                &lk_policy, DNS_REMOTE_OK, NULL);
        assert_int_equal(r.action, DNS_REMOTE_CREATE);
        assert_false(r.seed);
        assert_string_equal(r.name, "web.dc-lk.example.net");
        assert_int_equal(r.type, DNS_TYPE_A);
        assert_string_equal(r.content, "203.0.113.7");
        assert_int_equal(r.ttl, 60);
        assert_true(r.proxied);

        /* AAAA, canonical text, default ttl, not proxied. */
        r = expect("{\"action\":\"create\",\"name\":\"v6.dc-lk.example.net\",\"type\":\"AAAA\","
                   "\"content\":\"2001:DB8:0:0::7\"}",
                   &lk_policy, DNS_REMOTE_OK, NULL);
        assert_int_equal(r.type, DNS_TYPE_AAAA);
        assert_string_equal(r.content, "2001:db8::7");
        assert_int_equal(r.ttl, 120);
        assert_false(r.proxied);

        /* Deep names are fine; an unrestricted caller may use any name below the zone. */
        expect("{\"action\":\"create\",\"name\":\"a.b.dc-lk.example.net\",\"type\":\"A\",\"content\":\"203.0.113.7\"}",
               &lk_policy, DNS_REMOTE_OK, NULL);
        expect("{\"action\":\"create\",\"name\":\"www.example.net\",\"type\":\"A\",\"content\":\"203.0.113.7\"}",
               &open_policy, DNS_REMOTE_OK, NULL);
}

static void test_extended_delete(void **state) {
        struct dns_remote_request r = expect(
                "{\"action\":\"delete\",\"name\":\"web.dc-lk.example.net\",\"type\":\"AAAA\",\"content\":\"x\"}",
                &lk_policy, DNS_REMOTE_OK, NULL);
        assert_int_equal(r.action, DNS_REMOTE_DELETE);
        assert_int_equal(r.type, DNS_TYPE_AAAA);
        assert_string_equal(r.content, ""); /* a delete's content is not checked */
        r = expect("{\"action\":\"delete\",\"name\":\"web.dc-lk.example.net\"}", &lk_policy, DNS_REMOTE_OK, NULL);
        assert_int_equal(r.type, 0); /* both */
        /* Deleting outside the token's datacenter is as forbidden as creating there. */
        expect("{\"action\":\"delete\",\"name\":\"web.dc-xx.example.net\",\"type\":\"A\"}", &lk_policy,
               DNS_REMOTE_FORBIDDEN, "dc-lk.example.net");
}

static void test_seed(void **state) {
        struct dns_remote_request r = expect(
                "{\"action\":\"create\",\"slug\":\"k7m2p4\",\"datacenter\":\"dc-lk\",\"public_ip\":\"203.0.113.1\"}",
                &lk_policy, DNS_REMOTE_OK, NULL);
        assert_true(r.seed);
        assert_string_equal(r.name, "k7m2p4.dc-lk.example.net");
        assert_int_equal(r.type, DNS_TYPE_A);
        assert_string_equal(r.content, "203.0.113.1");
        assert_int_equal(r.ttl, 120);
        /* An IPv6 public_ip makes an AAAA record. */
        r = expect("{\"action\":\"create\",\"slug\":\"k7m2p4\",\"datacenter\":\"dc-lk\",\"public_ip\":\"2001:db8::1\"}",
                   &lk_policy, DNS_REMOTE_OK, NULL);
        assert_int_equal(r.type, DNS_TYPE_AAAA);
        /* The datacenter defaults to the token's. */
        r = expect("{\"action\":\"delete\",\"slug\":\"k7m2p4\"}", &lk_policy, DNS_REMOTE_OK, NULL);
        assert_string_equal(r.name, "k7m2p4.dc-lk.example.net");
        assert_int_equal(r.type, 0);
        r = expect("{\"action\":\"delete\",\"slug\":\"k7m2p4\",\"datacenter\":\"dc-lk\",\"public_ip\":\"203.0.113.1\"}",
                   &lk_policy, DNS_REMOTE_OK, NULL);
        assert_int_equal(r.type, DNS_TYPE_A);
        assert_string_equal(r.content, "");
        /* ...but a token without one must name it. */
        expect("{\"action\":\"delete\",\"slug\":\"k7m2p4\"}", &open_policy, DNS_REMOTE_INVALID_RECORD, "datacenter");
        /* Another datacenter than the token's. */
        expect("{\"action\":\"create\",\"slug\":\"k7m2p4\",\"datacenter\":\"dc-xx\",\"public_ip\":\"203.0.113.1\"}",
               &lk_policy, DNS_REMOTE_FORBIDDEN, "token 'node1' publishes only for datacenter dc-lk, not dc-xx");
        expect("{\"action\":\"create\",\"slug\":\"K7\",\"datacenter\":\"dc-lk\",\"public_ip\":\"203.0.113.1\"}",
               &lk_policy, DNS_REMOTE_INVALID_RECORD, "slug: 'K7' is not a DNS label");
        expect("{\"action\":\"create\",\"slug\":\"k7\",\"datacenter\":\"dc_lk\",\"public_ip\":\"203.0.113.1\"}",
               &open_policy, DNS_REMOTE_INVALID_RECORD, "datacenter: 'dc_lk'");
        expect("{\"action\":\"create\",\"slug\":\"k7\",\"datacenter\":\"dc-lk\"}", &lk_policy,
               DNS_REMOTE_INVALID_ARGUMENT, "public_ip");
        expect("{\"action\":\"create\",\"slug\":\"k7\",\"datacenter\":\"dc-lk\",\"public_ip\":\"nope\"}", &lk_policy,
               DNS_REMOTE_INVALID_RECORD, "public_ip: 'nope' is not an IPv4 or IPv6 address");
        /* The seed's body takes no extended fields. */
        expect("{\"action\":\"create\",\"slug\":\"k7\",\"datacenter\":\"dc-lk\",\"public_ip\":\"203.0.113.1\",\"ttl\":60}",
               &lk_policy, DNS_REMOTE_INVALID_ARGUMENT, "unknown field 'ttl'");
}

static void test_bad_requests(void **state) {
        expect("", &open_policy, DNS_REMOTE_INVALID_JSON, "empty");
        expect("[1]", &open_policy, DNS_REMOTE_INVALID_JSON, "object");
        expect("{\"action\":\"create\",\"action\":\"delete\"}", &open_policy, DNS_REMOTE_INVALID_JSON, NULL);
        expect("{\"name\":\"a.example.net\"}", &open_policy, DNS_REMOTE_INVALID_ARGUMENT, "'action' is required");
        expect("{\"action\":\"upsert\",\"name\":\"a.example.net\"}", &open_policy, DNS_REMOTE_INVALID_ARGUMENT,
               "\"create\" or \"delete\"");
        expect("{\"action\":1,\"name\":\"a.example.net\"}", &open_policy, DNS_REMOTE_INVALID_ARGUMENT,
               "'action' must be a string");
        expect("{\"action\":\"create\"}", &open_policy, DNS_REMOTE_INVALID_ARGUMENT, "'name' (or the seed's 'slug')");
        expect("{\"action\":\"create\",\"name\":\"a.example.net\",\"slug\":\"a\"}", &open_policy,
               DNS_REMOTE_INVALID_ARGUMENT, "not both");
        expect("{\"action\":\"create\",\"name\":\"a.example.net\",\"type\":\"A\"}", &open_policy,
               DNS_REMOTE_INVALID_ARGUMENT, "'content' are required");
        expect("{\"action\":\"create\",\"name\":\"a.example.net\",\"type\":\"A\",\"content\":\"203.0.113.7\","
               "\"ttl\":\"60\"}",
               &open_policy, DNS_REMOTE_INVALID_ARGUMENT, "'ttl' must be an integer");
        expect("{\"action\":\"create\",\"name\":\"a.example.net\",\"type\":\"A\",\"content\":\"203.0.113.7\","
               "\"proxied\":1}",
               &open_policy, DNS_REMOTE_INVALID_ARGUMENT, "'proxied' must be true or false");
        expect("{\"action\":\"create\",\"name\":\"a.example.net\",\"type\":\"A\",\"content\":\"203.0.113.7\","
               "\"comment\":\"x\"}",
               &open_policy, DNS_REMOTE_INVALID_ARGUMENT, "unknown field 'comment'");
        expect("{\"action\":\"create\",\"name\":[],\"type\":\"A\",\"content\":\"203.0.113.7\"}", &open_policy,
               DNS_REMOTE_INVALID_ARGUMENT, "'name' must be a string");
}

static void test_invalid_records(void **state) {
        expect("{\"action\":\"create\",\"name\":\"a.example.org\",\"type\":\"A\",\"content\":\"203.0.113.7\"}",
               &open_policy, DNS_REMOTE_INVALID_RECORD, "not below this node's DNS zone example.net");
        expect("{\"action\":\"create\",\"name\":\"badexample.net\",\"type\":\"A\",\"content\":\"203.0.113.7\"}",
               &open_policy, DNS_REMOTE_INVALID_RECORD, "not below");
        expect("{\"action\":\"create\",\"name\":\"example.net\",\"type\":\"A\",\"content\":\"203.0.113.7\"}",
               &open_policy, DNS_REMOTE_INVALID_RECORD, "not below"); /* the apex */
        expect("{\"action\":\"create\",\"name\":\"*.example.net\",\"type\":\"A\",\"content\":\"203.0.113.7\"}",
               &open_policy, DNS_REMOTE_INVALID_RECORD, "not a DNS name");
        expect("{\"action\":\"create\",\"name\":\"a..example.net\",\"type\":\"A\",\"content\":\"203.0.113.7\"}",
               &open_policy, DNS_REMOTE_INVALID_RECORD, "not a DNS name");
        expect("{\"action\":\"create\",\"name\":\"a.example.net\",\"type\":\"TXT\",\"content\":\"x\"}", &open_policy,
               DNS_REMOTE_INVALID_RECORD, "only A and AAAA");
        expect("{\"action\":\"create\",\"name\":\"a.example.net\",\"type\":\"A\",\"content\":\"2001:db8::1\"}",
               &open_policy, DNS_REMOTE_INVALID_RECORD, "content: '2001:db8::1' is not an IPv4 address");
        expect("{\"action\":\"create\",\"name\":\"a.example.net\",\"type\":\"AAAA\",\"content\":\"203.0.113.7\"}",
               &open_policy, DNS_REMOTE_INVALID_RECORD, "not an IPv6 address");
        expect("{\"action\":\"create\",\"name\":\"a.example.net\",\"type\":\"A\",\"content\":\"0.0.0.0\"}", &open_policy,
               DNS_REMOTE_INVALID_RECORD, "cannot be published");
        expect("{\"action\":\"create\",\"name\":\"a.example.net\",\"type\":\"A\",\"content\":\"224.0.0.1\"}",
               &open_policy, DNS_REMOTE_INVALID_RECORD, "cannot be published");
        expect("{\"action\":\"create\",\"name\":\"a.example.net\",\"type\":\"AAAA\",\"content\":\"::ffff:1.2.3.4\"}",
               &open_policy, DNS_REMOTE_INVALID_RECORD, "cannot be published");
        expect("{\"action\":\"create\",\"name\":\"a.example.net\",\"type\":\"A\",\"content\":\"203.0.113.7\",\"ttl\":29}",
               &open_policy, DNS_REMOTE_INVALID_RECORD, "ttl: 29 is outside 30-86400");
        expect("{\"action\":\"create\",\"name\":\"a.example.net\",\"type\":\"A\",\"content\":\"203.0.113.7\","
               "\"ttl\":86401}",
               &open_policy, DNS_REMOTE_INVALID_RECORD, "ttl: 86401");
}

static void test_token_datacenter(void **state) {
        /* Only strictly below dc-lk.example.net. */
        expect("{\"action\":\"create\",\"name\":\"web.dc-xx.example.net\",\"type\":\"A\",\"content\":\"203.0.113.7\"}",
               &lk_policy, DNS_REMOTE_FORBIDDEN,
               "token 'node1' may publish only names under dc-lk.example.net; web.dc-xx.example.net is not");
        expect("{\"action\":\"create\",\"name\":\"dc-lk.example.net\",\"type\":\"A\",\"content\":\"203.0.113.7\"}",
               &lk_policy, DNS_REMOTE_FORBIDDEN, "may publish only");
        expect("{\"action\":\"create\",\"name\":\"webdc-lk.example.net\",\"type\":\"A\",\"content\":\"203.0.113.7\"}",
               &lk_policy, DNS_REMOTE_FORBIDDEN, "may publish only");
        /* Outside the zone is 422 whatever the token. */
        expect("{\"action\":\"create\",\"name\":\"web.dc-lk.example.org\",\"type\":\"A\",\"content\":\"203.0.113.7\"}",
               &lk_policy, DNS_REMOTE_INVALID_RECORD, "zone");
        /* The zone may be narrower than the domain: names must satisfy both. */
        struct dns_remote_policy narrow = lk_policy;
        narrow.zone = "dc-lk.example.net";
        expect("{\"action\":\"create\",\"name\":\"web.dc-lk.example.net\",\"type\":\"A\",\"content\":\"203.0.113.7\"}",
               &narrow, DNS_REMOTE_OK, NULL);
}

static void test_status_codes(void **state) {
        unsigned st = 0;
        assert_null(dns_remote_status_code(DNS_REMOTE_OK, &st));
        assert_string_equal(dns_remote_status_code(DNS_REMOTE_INVALID_JSON, &st), "invalid_json");
        assert_int_equal(st, 400);
        assert_string_equal(dns_remote_status_code(DNS_REMOTE_INVALID_ARGUMENT, &st), "invalid_argument");
        assert_int_equal(st, 400);
        assert_string_equal(dns_remote_status_code(DNS_REMOTE_INVALID_RECORD, &st), "invalid_record");
        assert_int_equal(st, 422);
        assert_string_equal(dns_remote_status_code(DNS_REMOTE_FORBIDDEN, &st), "forbidden");
        assert_int_equal(st, 403);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_extended_create), cmocka_unit_test(test_extended_delete),
                cmocka_unit_test(test_seed),            cmocka_unit_test(test_bad_requests),
                cmocka_unit_test(test_invalid_records), cmocka_unit_test(test_token_datacenter),
                cmocka_unit_test(test_status_codes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
