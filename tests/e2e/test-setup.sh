#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC1091,SC2034,SC2016  # lib.sh is sourced; the backquotes in the expected fixes are literal
#
# An operator prepares a fresh host with `edgegw setup`: the dry run lists exactly the
# changes (the sysctl.d file, IPv4 and IPv6 forwarding, the state directory, the example
# configuration, the unit) and changes nothing; the real run makes them (files with the
# right content and modes, forwarding on in this network namespace only); a second run
# says "nothing to change" and writes nothing; a hand-edited configuration is never
# overwritten; a forward chain with policy drop (iptables, Docker, nftables) is reported
# with its fix and exit status 6; a change that cannot be made exits 1 naming it. The
# "host" is a namespace of its own and every file goes below --root in $E2E_TMP: the real
# host's sysctls, files and ruleset are compared before and after.
source "$(dirname "$0")/lib.sh"

NS=$PFX-host
ROOT=$E2E_TMP/root
step "a fresh namespace" ns_add "$NS"

# edgegw setup --root ROOT ARGS... inside the namespace.
setup() {
        ip netns exec "$NS" env -u EDGEGW_URL -u EDGEGW_SOCKET timeout 30 "$EDGEGW" setup --root "$ROOT" "$@"
}
ns_sysctl() { in_ns "$NS" cat "/proc/sys/${1//.//}"; }
# What the real host has at the paths setup would write without --root, and its sysctls.
host_snapshot() {
        local p
        for p in /etc/sysctl.d/90-edgegw.conf /etc/systemd/system/edgegw.service /etc/edgegw/edgegw.conf \
                /var/lib/edgegw /etc/systemd/system/multi-user.target.wants/edgegw.service; do
                stat -c '%n %i %y %a' "$p" 2>/dev/null || echo "$p absent"
        done
        cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv6/conf/all/forwarding 2>/dev/null
        nft list tables 2>/dev/null
}
# Every file and directory below ROOT with its mode and modification time (ns).
root_snapshot() { find "$ROOT" -printf '%p %m %T@\n' | sort; }
changes() { grep -E '^(would |wrote |set |created |changed |ran )' <<<"$OUT"; }

host_before=$(host_snapshot)

# ---- a fresh namespace: forwarding is off ---------------------------------------------------
check "ip_forward is 0 in a fresh namespace" eq "$(ns_sysctl net.ipv4.ip_forward)" 0
check "IPv6 forwarding is 0 in a fresh namespace" eq "$(ns_sysctl net.ipv6.conf.all.forwarding)" 0

# ---- the dry run lists exactly the changes and makes none ----------------------------------
run setup --dry-run
check "setup --dry-run exits 0" rc_is 0
expected="would write $ROOT/etc/sysctl.d/90-edgegw.conf (0644): IP forwarding at boot
would set net.ipv4.ip_forward = 1 (now 0)
would set net.ipv6.conf.all.forwarding = 1 (now 0)
would create directory $ROOT/var/lib/edgegw (0750): edgegwd's database and socket
would write $ROOT/etc/edgegw/edgegw.conf (0644): the example configuration: edit it before starting edgegw
would write $ROOT/etc/systemd/system/edgegw.service (0644): the systemd unit"
check "the dry run lists exactly the six changes, in order" eq "$(changes)" "$expected"
check "the dry run reports no problem" not grep -q '^problem:' <<<"$OUT"
check "the dry run says systemctl is skipped under --root" \
        contains "$OUT" "note: skipped systemctl daemon-reload and enable: --root $ROOT is not the running system"
check "the dry run wrote nothing below --root" not test -e "$ROOT"
check "the dry run left ip_forward at 0" eq "$(ns_sysctl net.ipv4.ip_forward)" 0
check "the dry run left IPv6 forwarding at 0" eq "$(ns_sysctl net.ipv6.conf.all.forwarding)" 0
run setup --dry-run --json
check "setup --dry-run --json exits 0" rc_is 0
check "--json lists the 6 changes and 0 problems" eq "$(json '[len(d["changes"]), d["problems"]]' <<<"$OUT")" "[6, 0]"

# ---- the real run ------------------------------------------------------------------------
run setup
check "setup exits 0" rc_is 0
check "setup says what it did, in the same order" eq "$(changes)" "$(sed -e 's/^would write/wrote/' \
        -e 's/^would set \(.*\)(now 0)$/set \1(was 0)/' -e 's/^would create/created/' <<<"$expected")"
check "ip_forward is 1 in the namespace" eq "$(ns_sysctl net.ipv4.ip_forward)" 1
check "IPv6 forwarding is 1 in the namespace" eq "$(ns_sysctl net.ipv6.conf.all.forwarding)" 1
check "the sysctl.d file persists both" eq "$(grep -v '^#' "$ROOT/etc/sysctl.d/90-edgegw.conf")" \
        $'net.ipv4.ip_forward = 1\nnet.ipv6.conf.all.forwarding = 1'
check "the unit is packaging/edgegw.service" cmp "$ROOT/etc/systemd/system/edgegw.service" "$REPO/packaging/edgegw.service"
check "the configuration is packaging/edgegw.conf" cmp "$ROOT/etc/edgegw/edgegw.conf" "$REPO/packaging/edgegw.conf"
check "modes: files 644, state dir 750" eq "$(stat -c '%a %F' "$ROOT/etc/sysctl.d/90-edgegw.conf" \
        "$ROOT/etc/systemd/system/edgegw.service" "$ROOT/etc/edgegw/edgegw.conf" "$ROOT/var/lib/edgegw")" \
        $'644 regular file\n644 regular file\n644 regular file\n750 directory'
check "no temporary file is left" not grep -q edgegw-setup <<<"$(root_snapshot)"
check "the bridge-family probe left no table in the namespace" eq "$(in_ns "$NS" nft list tables)" ""

# ---- the second run changes nothing ------------------------------------------------------
before=$(root_snapshot)
sleep 0.05
run setup
check "the second run exits 0" rc_is 0
check "the second run says nothing to change" eq "$(head -n 1 <<<"$OUT")" "nothing to change"
check "the second run lists no change" eq "$(changes)" ""
check "the second run wrote nothing (modes and mtimes unchanged)" eq "$(root_snapshot)" "$before"
run setup --dry-run
check "a dry run now says nothing to change too" eq "$(head -n 1 <<<"$OUT")$RC" "nothing to change0"

# ---- the operator's configuration is never overwritten; drift is repaired -------------------
echo '# edited by the operator' >>"$ROOT/etc/edgegw/edgegw.conf"
in_ns "$NS" sysctl -qw net.ipv4.ip_forward=0
chmod 0755 "$ROOT/var/lib/edgegw"
run setup
check "after drift: setup exits 0" rc_is 0
check "after drift: exactly ip_forward and the state dir's mode are fixed" eq "$(changes)" \
        "set net.ipv4.ip_forward = 1 (was 0)
changed the mode of $ROOT/var/lib/edgegw from 0755 to 0750: the database and socket are not for everyone"
check "the edited configuration is kept" eq "$(tail -n 1 "$ROOT/etc/edgegw/edgegw.conf")" "# edited by the operator"
check "ip_forward is 1 again" eq "$(ns_sysctl net.ipv4.ip_forward)" 1

# ---- things that break forwarding: reported with the fix, exit 6 ---------------------------
printf 'net.ipv4.ip_forward = 0\n' >"$ROOT/etc/sysctl.d/99-local.conf"
run setup
check "a sysctl file read after ours that turns forwarding off: exit 6" rc_is 6
check "it names the file and the consequence" contains "$OUT" "problem: $ROOT/etc/sysctl.d/99-local.conf sets \
net.ipv4.ip_forward = 0 and is read after $ROOT/etc/sysctl.d/90-edgegw.conf: forwarding will be off after a reboot"
mv "$ROOT/etc/sysctl.d/99-local.conf" "$ROOT/etc/sysctl.d/10-local.conf"
run setup
check "the same file read before ours is harmless: exit 0" rc_is 0
rm "$ROOT/etc/sysctl.d/10-local.conf"

step "an iptables-style FORWARD chain with policy drop in the namespace" in_ns "$NS" nft -f - <<'NFT'
table ip filter {
	chain FORWARD {
		type filter hook forward priority 0; policy drop;
	}
}
NFT
before=$(root_snapshot)
run setup
check "with a FORWARD drop policy setup exits 6" rc_is 6
check "it names the chain and why it matters" contains "$OUT" \
        "problem: table ip filter chain FORWARD has policy drop (iptables): forwarded traffic to and from the VMs is dropped"
check "it says how to fix it" contains "$OUT" \
        '  fix: `iptables -P FORWARD ACCEPT`, or accept the VMs'"'"' traffic: `iptables -I FORWARD -i BRIDGE -j ACCEPT`'
check "stderr sums it up" contains "$ERR" "edgegw: setup: 1 problem found that setup does not fix"
check "there is still nothing to change" eq "$(head -n 1 <<<"$OUT")" "nothing to change"
check "and nothing was written" eq "$(root_snapshot)" "$before"
run setup --dry-run
check "the dry run reports it too (exit 6)" rc_is 6

cat >"$E2E_TMP/dhcp.conf" <<'EOF'
[gateway]
datacenter = "dc-test"
domain = "example.net"
[dhcp]
interface = "br0"
subnet = "10.0.1.0"
subnet_mask = "255.255.255.0"
pool_start = "10.0.1.10"
pool_end = "10.0.1.200"
gateway = "10.0.1.1"
EOF
step "Docker's DOCKER-USER chain next to it" in_ns "$NS" nft add chain ip filter DOCKER-USER
run setup --config "$E2E_TMP/dhcp.conf"
check "with Docker: exit 6" rc_is 6
check "with Docker and [dhcp] interface = br0: the DOCKER-USER fix for br0" contains "$OUT" \
        '`iptables -I DOCKER-USER -i br0 -j ACCEPT` and `iptables -I DOCKER-USER -o br0 -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT`'
check "it says Docker set the policy" contains "$OUT" "chain FORWARD has policy drop (Docker sets it)"

step "back to no ip filter table" in_ns "$NS" nft delete table ip filter
step "an nftables firewall whose forward chain drops" in_ns "$NS" nft -f - <<'NFT'
table inet fw {
	chain gate {
		type filter hook forward priority 0; policy drop;
		ct state established,related accept
	}
}
NFT
run setup
check "with an nftables drop chain: exit 6" rc_is 6
check "the nft fix names the chain" contains "$OUT" '`nft insert rule inet fw gate iifname "BRIDGE" accept`'
step "the firewall accepts again" in_ns "$NS" nft delete table inet fw

# The real tools, when this machine has them (the iptables package; not in DEPS).
if command -v iptables-nft >/dev/null; then
        step "iptables-nft -P FORWARD DROP in the namespace" in_ns "$NS" iptables-nft -P FORWARD DROP
        run setup
        check "iptables-nft's FORWARD policy is found (exit 6)" rc_is 6
        check "as table ip filter chain FORWARD" contains "$OUT" \
                "problem: table ip filter chain FORWARD has policy drop (iptables)"
        step "iptables-nft -P FORWARD ACCEPT" in_ns "$NS" iptables-nft -P FORWARD ACCEPT
else
        log "skipped: iptables-nft is not installed"
fi
if command -v iptables-legacy >/dev/null && in_ns "$NS" iptables-legacy -P FORWARD DROP; then
        run setup
        check "legacy iptables' FORWARD policy is found (exit 6)" rc_is 6
        check "named with the iptables-legacy fix" contains "$OUT" \
                'problem: the legacy iptables FORWARD chain has policy DROP: forwarded traffic to and from the VMs is dropped'
        step "iptables-legacy -P FORWARD ACCEPT" in_ns "$NS" iptables-legacy -P FORWARD ACCEPT
else
        log "skipped: no iptables-legacy (or no legacy iptables in this kernel)"
fi
run setup
check "without it: exit 0, nothing to change" eq "$RC $(head -n 1 <<<"$OUT")" "0 nothing to change"

run setup --url http://127.0.0.1:1
check "setup --url is a usage error" eq "$RC $(head -n 1 <<<"$ERR")" "2 edgegw: setup: it prepares the host it runs on, so --url does not apply"

# ---- a change that cannot be made: exit 1, named, nothing after it --------------------------
ROOT=$E2E_TMP/broken
mkdir -p "$ROOT/etc" && touch "$ROOT/etc/sysctl.d"
run setup
check "a write that fails exits 1" rc_is 1
check "it names the change and the error" contains "$ERR" \
        "edgegw: setup: cannot write $ROOT/etc/sysctl.d/90-edgegw.conf (0644): Not a directory"
check "nothing after the failed change was made" not test -e "$ROOT/var"

# ---- the real host was not touched ---------------------------------------------------------
check "the host's files, sysctls and nftables tables are as before" eq "$(host_snapshot)" "$host_before"

finish
