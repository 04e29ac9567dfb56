/* SPDX-License-Identifier: MIT */
/* Connection Details box renderer (seed 000 Phase 3.6). */
#include "details.h"

#include <stdio.h>
#include <string.h>

#include "vm.h"

#define DETAILS_LINES_MAX 8

/* Display width of UTF-8 text: the box only contains one-column characters. */
static size_t text_width(const char *s) {
        size_t w = 0;
        for (; *s; s++)
                if (((unsigned char)*s & 0xc0) != 0x80)
                        w++;
        return w;
}

static void repeat(struct strbuf *out, const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                strbuf_append(out, s);
}

static void port_range(char *buf, size_t n, unsigned first, unsigned count) {
        if (count == 1)
                snprintf(buf, n, "%u", first);
        else
                snprintf(buf, n, "%u-%u", first, first + count - 1);
}

int details_render_text(const char *subdomain, uint16_t block_start, uint16_t block_size, struct strbuf *out) {
        char lines[DETAILS_LINES_MAX][DNS_NAME_MAX + 64];
        size_t n = 0;
        uint16_t tcp, udp;
        vm_port_layout(block_size, &tcp, &udp);

        snprintf(lines[n++], sizeof lines[0], "Web Access:  https://%s", subdomain);
        snprintf(lines[n++], sizeof lines[0], "SSH Access:  ssh root@%s -p %u", subdomain, block_start);
        if (block_size > 1) {
                char pub[16], vm[16];
                port_range(pub, sizeof pub, block_start + 1u, block_size - 1u);
                snprintf(lines[n++], sizeof lines[0], "Available Ports: %s", pub);
                if (tcp) {
                        port_range(pub, sizeof pub, block_start + 1u, tcp);
                        port_range(vm, sizeof vm, 10001u, tcp);
                        snprintf(lines[n++], sizeof lines[0], "  TCP: %s → VM:%s", pub, vm);
                }
                if (udp) {
                        port_range(pub, sizeof pub, block_start + 1u + tcp, udp);
                        port_range(vm, sizeof vm, 10001u + tcp, udp);
                        snprintf(lines[n++], sizeof lines[0], "  UDP: %s → VM:%s", pub, vm);
                }
        }

        const char *title = "Connection Details";
        size_t width = text_width(title);
        for (size_t i = 0; i < n; i++)
                if (text_width(lines[i]) > width)
                        width = text_width(lines[i]);
        width += 2; /* one space of padding on each side */

        strbuf_append(out, "┌");
        repeat(out, "─", width);
        strbuf_append(out, "┐\n│ ");
        strbuf_append(out, title);
        repeat(out, " ", width - 1 - text_width(title));
        strbuf_append(out, "│\n├");
        repeat(out, "─", width);
        strbuf_append(out, "┤\n");
        for (size_t i = 0; i < n; i++) {
                strbuf_append(out, "│ ");
                strbuf_append(out, lines[i]);
                repeat(out, " ", width - 1 - text_width(lines[i]));
                strbuf_append(out, "│\n");
        }
        strbuf_append(out, "└");
        repeat(out, "─", width);
        strbuf_append(out, "┘\n");
        return strbuf_status(out);
}
