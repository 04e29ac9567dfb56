#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC1091,SC2034  # lib.sh is sourced; CFG_* are read by lib.sh
#
# edgegwd is killed with SIGKILL in the middle of a stream of 200 `vm add`s. While it is
# down the adds fail (and say so); after a restart the stream finishes and every VM that
# exists is whole: `check` is clean, each VM answers on its own SSH port with its own
# address, and no two VMs share a port.
source "$(dirname "$0")/lib.sh"

N=${CRASH_VMS:-200}
KILL_AT=80     # the SIGKILL lands during this add or one shortly after
RESTART_AT=100 # edgegwd is started again before this add

step "topology up" topo_up
step "farm of $N addresses" topo_farm "$N"
listen "$NS_FARM" tcp 22 'echo $SOCAT_SOCKADDR'
step "listener in the farm" wait_listening "$NS_FARM" tcp 22
step "edgegwd starts" daemon_start

declare -A rc_of
killer=
for ((i = 1; i <= N; i++)); do
        if ((i == KILL_AT)); then
                # A timer, so the kill can hit an add in flight (between 0 and 90 ms in).
                (
                        sleep "0.0$((RANDOM % 10))"
                        kill -9 "$DAEMON_PID"
                ) &
                killer=$!
                BG_PIDS+=("$killer")
        fi
        if ((i == RESTART_AT)); then
                wait "$killer"
                old_pid=$DAEMON_PID
                wait "$DAEMON_PID"
                st=$?
                DAEMON_PID=
                check "edgegwd (pid $old_pid) died of the SIGKILL" eq "$st" 137
                step "edgegwd restarts after the SIGKILL" daemon_start
        fi
        cli vm add "crash-$i" --ip "10.0.2.$i" >/dev/null 2>"$E2E_TMP/add.err"
        rc_of[$i]=$?
        if grep -qE "Sanitizer|runtime error:" "$E2E_TMP/add.err"; then
                check "no sanitizer report from vm add crash-$i" false
                cat "$E2E_TMP/add.err"
        fi
done

bad_before='' not3='' bad_after='' n_down=0
for ((i = 1; i < KILL_AT; i++)); do ((rc_of[$i] == 0)) || bad_before+=" crash-$i:${rc_of[$i]}"; done
for ((i = KILL_AT; i < RESTART_AT; i++)); do
        ((rc_of[$i] == 0)) && continue
        n_down=$((n_down + 1))
        ((rc_of[$i] == 3)) || not3+=" crash-$i:${rc_of[$i]}"
done
for ((i = RESTART_AT; i <= N; i++)); do ((rc_of[$i] == 0)) || bad_after+=" crash-$i:${rc_of[$i]}"; done
down_codes_ok() {
        local n
        n=$(wc -w <<<"$not3")
        # Only the add the SIGKILL interrupted may see something other than "unreachable".
        ((n <= 1)) && [[ $not3 == "" || $not3 == *:1 ]] && return 0
        echo "adds exiting other than 3:$not3"
        return 1
}
check "adds before the kill all succeed" eq "$bad_before" ""
check "adds while edgegwd is down fail ($n_down of them)" test "$n_down" -gt 0
check "...with exit 3 (daemon unreachable; 1 allowed for the add the kill interrupted)" down_codes_ok
check "adds after the restart all succeed" eq "$bad_after" ""

# The adds that failed while the daemon was down are retried: each either succeeds or, if
# the interrupted one had committed before the kill, is refused as vm_exists (exit 5).
retry_bad=
for ((i = KILL_AT; i < RESTART_AT; i++)); do
        ((rc_of[$i] == 0)) && continue
        run cli vm add "crash-$i" --ip "10.0.2.$i"
        if ((RC == 5)); then
                log "crash-$i had been committed before the kill"
        elif ((RC != 0)); then
                retry_bad+=" crash-$i:$RC"
        fi
done
check "retrying the failed adds succeeds (or finds the VM committed)" eq "$retry_bad" ""

run cli --json vm ls
check "vm ls --json exits 0" rc_is 0
printf '%s' "$OUT" >"$E2E_TMP/vms.json"
check "vm ls has each of the $N VMs exactly once, with its own address" python3 -c '
import json, sys
n = int(sys.argv[2])
vms = json.load(open(sys.argv[1]))["vms"]
got = sorted((v["id"], v["ip"]) for v in vms)
want = sorted(("crash-%d" % i, "10.0.2.%d" % i) for i in range(1, n + 1))
if got != want:
    print("unexpected:", sorted(set(got) - set(want))[:10], "missing:", sorted(set(want) - set(got))[:10], "count:", len(got))
    sys.exit(1)' "$E2E_TMP/vms.json" "$N"
check "no two VMs share a port (blocks of 10, disjoint, inside 20000-59999)" python3 -c '
import json, sys
vms = json.load(open(sys.argv[1]))["vms"]
blocks = sorted((v["port_range_start"], v["port_range_end"], v["id"]) for v in vms)
errs = []
for s, e, i in blocks:
    if e - s + 1 != 10 or s < 20000 or e > 59999: errs.append("%s has %d-%d" % (i, s, e))
for a, b in zip(blocks, blocks[1:]):
    if b[0] <= a[1]: errs.append("%s %d-%d overlaps %s %d-%d" % (a[2], a[0], a[1], b[2], b[0], b[1]))
ports = [(p["public_port"], p["proto"]) for v in vms for p in v["ports"]]
if len(ports) != len(set(ports)): errs.append("a public port appears twice")
print("\n".join(errs[:10])); sys.exit(1 if errs else 0)' "$E2E_TMP/vms.json"

run cli check
check "edgegw check exits 0 after the crash and restart" rc_is 0
[[ $RC == 0 ]] || cli check 2>&1 | head -n 20 | sed 's/^/#   /'

# Every VM answers on its SSH port with its own address (the farm's listener prints the
# local address it was reached on).
python3 -c '
import json, sys
for v in json.load(open(sys.argv[1]))["vms"]: print(v["ssh_port"], v["ip"], v["id"])' "$E2E_TMP/vms.json" >"$E2E_TMP/targets"
check "every VM answers on its ssh_port with its own address" ip netns exec "$NS_CLIENT" timeout 60 python3 -c '
import socket, sys
bad = []
for line in open(sys.argv[1]):
    port, ip, vid = line.split()
    try:
        with socket.create_connection((sys.argv[2], int(port)), timeout=3) as s:
            s.settimeout(3)
            data = b""
            while True:
                chunk = s.recv(256)
                if not chunk: break
                data += chunk
        got = data.decode().strip()
    except OSError as e:
        got = "error: %s" % e
    if got != ip: bad.append("%s port %s: expected %s, got %r" % (vid, port, ip, got))
print("\n".join(bad[:10]) + ("\n(%d in all)" % len(bad) if bad else ""))
sys.exit(1 if bad else 0)' "$E2E_TMP/targets" "$PUBLIC4"

# SIGTERM while adds are in flight: the daemon exits 0, and every add it acknowledged is
# there after the next start.
(
        for i in $(seq 1 20); do
                cli vm add "term-$i" --ip "10.0.9.$i" >/dev/null 2>&1
                echo "$i $?"
        done >"$E2E_TMP/term.rc"
) &
adder=$!
BG_PIDS+=("$adder")
for ((i = 0; i < 50; i++)); do
        [[ -s $E2E_TMP/term.rc ]] && break
        sleep 0.1
done
sleep 0.1
daemon_stop
wait "$adder"
acked=()
while read -r i rc; do ((rc == 0)) && acked+=("term-$i"); done <"$E2E_TMP/term.rc"
log "adds acknowledged around the SIGTERM: ${acked[*]:-none}"
step "edgegwd starts after the SIGTERM" daemon_start
run cli --json vm ls
check "every add acknowledged before the SIGTERM is in vm ls" python3 -c '
import json, sys
have = {v["id"] for v in json.load(sys.stdin)["vms"]}
lost = [i for i in sys.argv[1:] if i not in have]
sys.exit(0 if not lost else print("lost:", lost) or 1)' "${acked[@]}" <<<"$OUT"
run cli check
check "edgegw check exits 0 after the SIGTERM and restart" rc_is 0

finish
