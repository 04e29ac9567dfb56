#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC1091,SC2034  # lib.sh is sourced; CFG_* are read by lib.sh
#
# An operator binds VMs' MACs to addresses of the DHCP pool (issue 6): `lease add` takes the
# lowest free pool address (or the one asked for), conflicts name who holds the MAC, the
# address or the name, bad input is refused with a message that says what is wrong and
# stores nothing, a full pool says so, `lease rm` frees the address. A provisioner that
# knows only the MAC runs `vm add ID --mac MAC`: the VM targets the MAC's lease (made now,
# or the one that exists), and `vm rm` removes the lease it made but not one made by
# `lease add`. Leases survive a restart; a reload applies a new pool; without [dhcp] a lease
# add says DHCP is not configured. (dnsmasq itself is test-dhcp.sh's.)
source "$(dirname "$0")/lib.sh"

# br0 in gw is 10.0.1.1/24 (lib.sh's topology): the VMs' side.
dhcp_section() { # POOL_START POOL_END
        CFG_EXTRA="[dhcp]
interface = \"br0\"
subnet = \"10.0.1.0\"
subnet_mask = \"255.255.255.0\"
pool_start = \"$1\"
pool_end = \"$2\"
gateway = \"10.0.1.1\"
dns = \"192.0.2.53\""
}
dhcp_section 10.0.1.100 10.0.1.200
step "topology up" topo_up
step "edgegwd starts with a [dhcp] section" daemon_start

M1=52:54:00:00:00:01 M2=52:54:00:00:00:02 M3=52:54:00:00:00:03 M4=52:54:00:00:00:04
M5=52:54:00:00:00:05 M6=52:54:00:00:00:06 M7=52:54:00:00:00:07 M8=52:54:00:00:00:08
M9=52:54:00:00:00:09

lease_count() { cli --json lease ls | json 'len(d["leases"])'; }
lease_ip() { cli --json lease show "$1" | json 'd["ip"]'; }

# -- lease add: the lowest free pool address, or the one asked for
run cli lease add $M1
check "lease add $M1 exits 0" rc_is 0
check "...and says 'lease $M1 -> 10.0.1.100' (the first pool address)" eq "$OUT" "lease $M1 -> 10.0.1.100"
run cli --json lease add 52-54-00-00-00-02
check "lease add with '-' separators --json exits 0" rc_is 0
check "...the answer has mac (normalized), ip (the next address), name null, vm_id null" \
        eq "$(json '(d["mac"], d["ip"], d["name"], d["vm_id"])' <<<"$OUT")" "('$M2', '10.0.1.101', None, None)"
check "...and created_at, updated_at, rules: applied" \
        eq "$(json '(bool(d["created_at"]), bool(d["updated_at"]), d["rules"])' <<<"$OUT")" "(True, True, 'applied')"
run cli lease add ${M3^^} --ip 10.0.1.150 --name web1
check "lease add (upper case MAC) --ip 10.0.1.150 --name web1 exits 0" rc_is 0
check "...and says 'lease $M3 -> 10.0.1.150 (web1)'" eq "$OUT" "lease $M3 -> 10.0.1.150 (web1)"
run cli lease add $M9 --ip 10.0.1.20
check "an address in the subnet outside the pool may be asked for (a fixed lease)" rc_is 0

# -- conflicts: 409 naming the holder, exit 5
run cli lease add $M1
check "lease add $M1 again exits 5 (conflict)" rc_is 5
check "...and names its lease" contains "$ERR" "MAC $M1 already has a lease: 10.0.1.100"
run cli lease add $M4 --ip 10.0.1.150
check "lease add $M4 --ip 10.0.1.150 (leased) exits 5" rc_is 5
check "...and names the MAC holding it" contains "$ERR" "address 10.0.1.150 is already leased to MAC $M3 (name web1)"
run cli lease add $M4 --name web1
check "lease add $M4 --name web1 (taken) exits 5" rc_is 5
check "...and names the MAC holding the name" contains "$ERR" "name web1 is already taken by MAC $M3"
api POST /v1/leases "{\"mac\":\"$M4\",\"name\":\"web1\"}"
check "POST /v1/leases with a taken name: 409 name_in_use" \
        eq "$STATUS $(json 'd["error"]["code"]' <<<"$OUT")" "409 name_in_use"
api POST /v1/leases "{\"mac\":\"$M1\"}"
check "POST /v1/leases for a MAC with a lease: 409 lease_exists" \
        eq "$STATUS $(json 'd["error"]["code"]' <<<"$OUT")" "409 lease_exists"
api POST /v1/leases "{\"mac\":\"$M4\",\"ip\":\"10.0.1.150\"}"
check "POST /v1/leases for a leased address: 409 ip_in_use" \
        eq "$STATUS $(json 'd["error"]["code"]' <<<"$OUT")" "409 ip_in_use"

# -- bad input: 422 / 400 with a message that says what is wrong, exit 7, nothing stored
audit_before=$(audit_count)
bad() { # DESCRIPTION EXPECTED-MESSAGE-PART ARGS...
        local desc=$1 part=$2
        shift 2
        run cli lease add "$@"
        check "$desc exits 7 (invalid)" rc_is 7
        check "...and says: $part" contains "$ERR" "$part"
}
bad "a MAC that is not one" "'52:54:00:zz:00:01' is not a MAC address" 52:54:00:zz:00:01
bad "a short MAC" "is not a MAC address (six pairs of hex digits" 52:54:00:00:01
bad "a multicast MAC" "is a multicast address" 01:00:5e:00:00:01
bad "the broadcast MAC" "is a broadcast address" ff:ff:ff:ff:ff:ff
bad "the zero MAC" "(all zero) is not a usable MAC address" 00:00:00:00:00:00
bad "an address outside the subnet" "address 10.0.2.5 is outside the DHCP subnet 10.0.1.0/24" $M4 --ip 10.0.2.5
bad "the gateway's address" "address 10.0.1.1 is the VMs' gateway" $M4 --ip 10.0.1.1
bad "the network address" "address 10.0.1.0 is the network address of 10.0.1.0/24" $M4 --ip 10.0.1.0
bad "the broadcast address" "address 10.0.1.255 is the broadcast address of 10.0.1.0/24" $M4 --ip 10.0.1.255
bad "an IPv6 address" "is an IPv6 address; a DHCP lease is IPv4" $M4 --ip 2001:db8::5
bad "an address that is not one" "'10.0.1' is not an IPv4 address" $M4 --ip 10.0.1
bad "a name with upper case" "'Web2' has upper case; write it in lower case" $M4 --name Web2
bad "a name with a dot" "'web2.example' has a dot" $M4 --name web2.example
bad "a name with '_'" "'web_2' is not a host name label" $M4 --name web_2
bad "a name ending in '-'" "'web-' is not a host name label" $M4 --name web-
api POST /v1/leases "{\"mac\":\"$M4\",\"ip\":\"10.0.2.5\"}"
check "POST /v1/leases outside the subnet: 422 invalid_lease" \
        eq "$STATUS $(json 'd["error"]["code"]' <<<"$OUT")" "422 invalid_lease"
api POST /v1/leases '{"ip":"10.0.1.110"}'
check "POST /v1/leases without mac: 400 invalid_argument naming 'mac'" \
        eq "$STATUS $(json 'd["error"]["code"]' <<<"$OUT") $(json '"mac" in d["error"]["message"]' <<<"$OUT")" "400 invalid_argument True"
api POST /v1/leases "{\"mac\":\"$M4\",\"hostname\":\"x\"}"
check "POST /v1/leases with an unknown field: 400 naming it" \
        eq "$STATUS $(json 'd["error"]["message"]' <<<"$OUT")" "400 unknown field 'hostname' (allowed: mac, ip, name)"
api POST /v1/leases "{\"mac\":\"$M4\",\"ip\":167837790}"
check "POST /v1/leases with a number for ip: 400 'must be a string'" \
        eq "$STATUS $(json 'd["error"]["message"]' <<<"$OUT")" "400 field 'ip' must be a string"
api POST /v1/leases '{"mac":'
check "POST /v1/leases with broken JSON: 400 invalid_json" \
        eq "$STATUS $(json 'd["error"]["code"]' <<<"$OUT")" "400 invalid_json"
api GET "/v1/leases/not-a-mac"
check "GET /v1/leases/not-a-mac: 400 naming the path" \
        eq "$STATUS $(json '"the MAC in the path" in d["error"]["message"]' <<<"$OUT")" "400 True"
api PUT "/v1/leases/$M1" '{}'
check "PUT /v1/leases/MAC: 405 with Allow: GET, DELETE" \
        eq "$STATUS $(header Allow)" "405 GET, DELETE"
api GET "/v1/leases?label=x"
check "GET /v1/leases?label=x: 400 (leases take limit and after only)" status_is 400
check "after all the bad input: still 4 leases" eq "$(lease_count)" 4
check "...and no audit entry was written" eq "$(audit_count)" "$audit_before"

# -- show, ls, paging
run cli lease show $M3
check "lease show $M3 exits 0" rc_is 0
check "...shows its address" contains "$OUT" "10.0.1.150"
check "...and its name" contains "$OUT" "web1"
run cli --json lease show $M3
check "lease show --json: exactly mac, ip, name, vm_id, created_at, updated_at" \
        eq "$(json 'sorted(d)' <<<"$OUT")" "['created_at', 'ip', 'mac', 'name', 'updated_at', 'vm_id']"
run cli lease show $M4
check "lease show of a MAC without a lease exits 4 (not found)" rc_is 4
run cli lease ls
check "lease ls exits 0" rc_is 0
check "lease ls is a table MAC IP NAME VM, by address" \
        eq "$(awk '{print $1, $2, $3, $4}' <<<"$OUT")" "MAC IP NAME VM
$M9 10.0.1.20 - -
$M1 10.0.1.100 - -
$M2 10.0.1.101 - -
$M3 10.0.1.150 web1 -"
api GET "/v1/leases?limit=2"
check "GET /v1/leases?limit=2: two leases by MAC and next = the second's MAC" \
        eq "$(json '([l["mac"] for l in d["leases"]], d["next"])' <<<"$OUT")" "(['$M1', '$M2'], '$M2')"
api GET "/v1/leases?limit=2&after=$M2"
check "...and the next page after it ends with next null" \
        eq "$(json '([l["mac"] for l in d["leases"]], d["next"])' <<<"$OUT")" "(['$M3', '$M9'], None)"

# -- lease rm frees the address
run cli lease rm $M1
check "lease rm $M1 exits 0" rc_is 0
check "...and says 'lease $M1 -> 10.0.1.100 removed'" eq "$OUT" "lease $M1 -> 10.0.1.100 removed"
run cli lease rm $M1
check "lease rm $M1 again exits 4 (not found)" rc_is 4
run cli --json lease add $M5
check "lease add $M5 gets the freed 10.0.1.100" eq "$(json 'd["ip"]' <<<"$OUT")" 10.0.1.100

# -- vm add --mac: a lease is made for the VM, the VM targets it
run cli --json vm add vma --mac $M6
check "vm add vma --mac $M6 exits 0" rc_is 0
vma=$OUT
check "...the VM targets the MAC's new lease 10.0.1.102 and shows its mac" \
        eq "$(json '(d["ip"], d["mac"], d["rules"])' <<<"$vma")" "('10.0.1.102', '$M6', 'applied')"
check "...and the lease is the VM's (vm_id vma, no name)" \
        eq "$(cli --json lease show $M6 | json '(d["ip"], d["vm_id"], d["name"])')" "('10.0.1.102', 'vma', None)"
run cli --json vm show vma
check "vm show vma --json: ip and mac" eq "$(json '(d["ip"], d["mac"])' <<<"$OUT")" "('10.0.1.102', '$M6')"
run cli vm show vma
check "vm show vma names the lease" contains "$OUT" "$M6 -> 10.0.1.102 (DHCP)"
if ! userspace; then
        check "the kernel rules forward to 10.0.1.102" grep -q '10\.0\.1\.102' <<<"$(gw_nft list table inet edgegw 2>&1)"
fi
# -- ... or reuses the lease the MAC has (made by lease add: it stays the operator's)
run cli --json vm add vmb --mac $M2
check "vm add vmb --mac $M2 (leased by lease add) exits 0" rc_is 0
check "...the VM targets that lease's address 10.0.1.101" eq "$(json '(d["ip"], d["mac"])' <<<"$OUT")" "('10.0.1.101', '$M2')"
check "...and the lease is unchanged (vm_id still null)" eq "$(cli --json lease show $M2 | json 'd["vm_id"]')" ""
# -- --ip with --mac: the lease at that address, or a conflict when the MAC is elsewhere
run cli vm add vmc --mac $M3 --ip 10.0.1.160
check "vm add --mac $M3 --ip 10.0.1.160 ($M3 is at .150) exits 5" rc_is 5
check "...and says where the MAC's lease is" contains "$ERR" "MAC $M3 already has a lease at 10.0.1.150, not 10.0.1.160"
run cli vm show vmc
check "...and no VM vmc was stored" rc_is 4
run cli --json vm add vmc --mac $M7 --ip 10.0.1.170
check "vm add vmc --mac $M7 --ip 10.0.1.170 exits 0 with the lease there" \
        eq "$RC $(json '(d["ip"], d["mac"])' <<<"$OUT")" "0 ('10.0.1.170', '$M7')"
run cli vm add vmd --mac $M8 --ip 10.0.2.9
check "vm add --mac with an --ip outside the subnet exits 7" rc_is 7
check "...and says so" contains "$ERR" "outside the DHCP subnet 10.0.1.0/24"
run cli vm add vmd --mac $M8 --ip 10.0.1.102
check "vm add --mac with the --ip of vma's lease exits 5, naming vma" \
        eq "$RC $(grep -c "10.0.1.102 is already the target of VM 'vma'" <<<"$ERR")" "5 1"
run cli vm add vmd --mac $M8 --ip 10.0.1.150
check "vm add --mac with the --ip of $M3's lease exits 5, naming the MAC" \
        eq "$RC $(grep -c "address 10.0.1.150 is already leased to MAC $M3 (name web1)" <<<"$ERR")" "5 1"
run cli --json lease show $M8
check "...and no lease was made for $M8" rc_is 4
# PUT creates with "mac" too, and a retried PUT changes nothing
api PUT /v1/vms/vmp "{\"mac\":\"$M8\"}"
check "PUT /v1/vms/vmp {mac} creates the VM (201) at a new lease 10.0.1.103" \
        eq "$STATUS $(json '(d["ip"], d["mac"], d["version"])' <<<"$OUT")" "201 ('10.0.1.103', '$M8', 1)"
api PUT /v1/vms/vmp "{\"mac\":\"$M8\"}"
check "...the same PUT again: 200, same address, version 1" \
        eq "$STATUS $(json '(d["ip"], d["mac"], d["version"])' <<<"$OUT")" "200 ('10.0.1.103', '$M8', 1)"
api DELETE /v1/vms/vmp
check "DELETE /v1/vms/vmp: removed_leases has $M8's" \
        eq "$STATUS $(json '[l["mac"] for l in d["removed_leases"]]' <<<"$OUT")" "200 ['$M8']"
run cli vm add vmd --mac 01:00:5e:00:00:01
check "vm add --mac with a multicast MAC exits 7" rc_is 7
run cli vm add vmd
check "vm add without --ip or --mac exits 2 (usage)" rc_is 2
check "...and says to give one" contains "$ERR" "missing --ip IP or --mac MAC"
run cli --json vm add vme --ip 10.0.1.5
check "a VM without --mac has mac null" eq "$RC $(json 'd["mac"]' <<<"$OUT")" "0 "

# -- vm rm: the lease the VM made goes with it; a lease add one stays
run cli vm rm vma
check "vm rm vma exits 0" rc_is 0
check "...and says the lease went with it" contains "$OUT" "lease $M6 -> 10.0.1.102 removed with it"
run cli lease show $M6
check "...$M6's lease is gone" rc_is 4
run cli --json vm rm vmb
check "vm rm vmb --json: removed_leases is empty" eq "$RC $(json 'd["removed_leases"]' <<<"$OUT")" "0 []"
check "...and $M2's lease (made by lease add) stays" eq "$(lease_ip $M2)" 10.0.1.101
run cli --json audit --kind lease --id ${M6^^}
check "the audit has the create and delete of $M6's lease" \
        eq "$(json '[e["action"] for e in d["entries"]]' <<<"$OUT")" "['delete', 'create']"

# -- restart: the leases are the store's
before=$(cli --json lease ls | json '[(l["mac"], l["ip"], l["name"], l["vm_id"]) for l in d["leases"]]')
daemon_stop
step "edgegwd starts again" daemon_start
check "after a restart lease ls is the same" eq "$(cli --json lease ls | json '[(l["mac"], l["ip"], l["name"], l["vm_id"]) for l in d["leases"]]')" "$before"
run cli --json lease add $M8
check "...and lease add takes the address vma's lease freed (10.0.1.102)" eq "$(json 'd["ip"]' <<<"$OUT")" 10.0.1.102

# -- a full pool: pool 10.0.1.100-10.0.1.104; .100-.102 leased, .103 the target of a VM
run cli vm add vms --ip 10.0.1.103
check "vm add vms --ip 10.0.1.103 (inside the pool, without a lease) exits 0" rc_is 0
dhcp_section 10.0.1.100 10.0.1.104
step "reload with a pool of five addresses" daemon_reload
run cli --json lease add $M1
check "lease add skips the VM's 10.0.1.103 and takes 10.0.1.104" eq "$(json 'd["ip"]' <<<"$OUT")" 10.0.1.104
run cli lease add $M4
check "lease add with the pool full exits 5" rc_is 5
check "...and says the pool is exhausted" contains "$ERR" "DHCP pool 10.0.1.100-10.0.1.104 exhausted"
api POST /v1/leases "{\"mac\":\"$M4\"}"
check "POST /v1/leases with the pool full: 409 pool_exhausted" \
        eq "$STATUS $(json 'd["error"]["code"]' <<<"$OUT")" "409 pool_exhausted"
run cli vm add vmf --mac $M4
check "vm add --mac with the pool full exits 5 too" eq "$RC $(grep -c exhausted <<<"$ERR")" "5 1"
run cli vm show vmf
check "...and stored no VM" rc_is 4
run cli --json lease add $M4 --ip 10.0.1.180
check "an address asked for outside the (new) pool but inside the subnet still works" \
        eq "$RC $(json 'd["ip"]' <<<"$OUT")" "0 10.0.1.180"
run cli lease rm $M5
check "lease rm $M5 (10.0.1.100)" rc_is 0
run cli --json vm add vmf --mac $M5
check "...and vm add --mac $M5 takes 10.0.1.100 again" eq "$(json 'd["ip"]' <<<"$OUT")" 10.0.1.100

# -- without [dhcp]: leases stay listed, new ones are refused with a clear message
CFG_EXTRA=""
step "reload without [dhcp]" daemon_reload
run cli lease add $M6
check "lease add without [dhcp] exits 5" rc_is 5
check "...and says DHCP is not configured" contains "$ERR" "DHCP is not configured on this gateway"
api POST /v1/leases "{\"mac\":\"$M6\"}"
check "POST /v1/leases without [dhcp]: 409 dhcp_disabled" \
        eq "$STATUS $(json 'd["error"]["code"]' <<<"$OUT")" "409 dhcp_disabled"
check "lease ls still lists the leases" eq "$(lease_count)" 8
run cli lease rm $M9
check "lease rm works without [dhcp]" rc_is 0

finish
