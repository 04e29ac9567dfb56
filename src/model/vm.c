/* SPDX-License-Identifier: MIT */
/* Pure rules about VMs: port layout, validation of ids and names, option spellings. */
#include "vm.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

const char *proto_to_string(enum proto p) {
        return p == PROTO_UDP ? "udp" : "tcp";
}

const char *vm_proxy_protocol_to_string(enum vm_proxy_protocol p) {
        switch (p) {
        case VM_PROXY_NONE: return "none";
        case VM_PROXY_V1: return "v1";
        case VM_PROXY_V2: return "v2";
        }
        return NULL;
}

int vm_proxy_protocol_from_string(const char *s, enum vm_proxy_protocol *ret) {
        static const enum vm_proxy_protocol all[] = {VM_PROXY_NONE, VM_PROXY_V1, VM_PROXY_V2};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
                if (strcmp(s, vm_proxy_protocol_to_string(all[i])) == 0) {
                        *ret = all[i];
                        return 0;
                }
        return -EINVAL;
}

void vm_port_layout(uint16_t block_size, uint16_t *ret_tcp, uint16_t *ret_udp) {
        uint16_t rest = block_size > 0 ? (uint16_t)(block_size - 1) : 0;
        *ret_tcp = (uint16_t)(rest / 2);
        *ret_udp = (uint16_t)(rest - rest / 2);
}

size_t vm_port_map(uint16_t block_start, uint16_t block_size, struct port_map_entry *out) {
        uint16_t tcp, udp;
        vm_port_layout(block_size, &tcp, &udp);
        for (uint16_t off = 0; off < block_size; off++) {
                out[off].public_port = (uint16_t)(block_start + off);
                if (off == 0) {
                        out[off].proto = PROTO_TCP;
                        out[off].vm_port = 22;
                } else {
                        out[off].proto = off <= tcp ? PROTO_TCP : PROTO_UDP;
                        out[off].vm_port = (uint16_t)(10000 + off);
                }
        }
        return block_size;
}

static bool is_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool vm_id_valid(const char *id) {
        size_t n = strlen(id);
        if (n == 0 || n > VM_ID_MAX || !is_alnum(id[0]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_alnum(id[i]) && id[i] != '.' && id[i] != '_' && id[i] != '-')
                        return false;
        return true;
}

bool dns_label_valid(const char *label, size_t len) {
        if (len == 0 || len > 63 || label[0] == '-' || label[len - 1] == '-')
                return false;
        for (size_t i = 0; i < len; i++) {
                char c = label[i];
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
                        return false;
        }
        return true;
}

bool dns_name_valid(const char *name) {
        size_t n = strlen(name);
        if (n == 0 || n > DNS_NAME_MAX)
                return false;
        const char *p = name;
        for (;;) {
                const char *dot = strchr(p, '.');
                size_t l = dot ? (size_t)(dot - p) : strlen(p);
                if (!dns_label_valid(p, l))
                        return false;
                if (!dot)
                        return true;
                p = dot + 1;
        }
}

int vm_subdomain(const char *slug, const char *datacenter, const char *domain, char buf[static DNS_NAME_MAX + 1]) {
        int n = snprintf(buf, DNS_NAME_MAX + 1, "%s.%s.%s", slug, datacenter, domain);
        if (n < 0 || n > DNS_NAME_MAX)
                return -ENAMETOOLONG;
        return 0;
}
