/* SPDX-License-Identifier: MIT */
/*
 * The inside of struct nft_apply, shared by the two halves of the nft edge: apply.c (the
 * libnftables context for full replaces and listings) and batch.c (the netlink socket for
 * incremental changes). Nothing outside src/nft includes this; callers see nft.h only.
 */
#pragma once

#include <stdint.h>

struct nft_ctx;
struct mnl_socket;

struct nft_apply {
        struct nft_ctx *ctx;
        /* batch.c's socket, opened on first use and kept: closing a netlink socket right after
         * a transaction that deleted something waits for an RCU grace period (~10 ms). NULL
         * until then, and again after a failure left unread answers behind. */
        struct mnl_socket *nl;
        uint32_t seq; /* the next sequence number on nl */
};
