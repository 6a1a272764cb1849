#!/usr/bin/env bash
# tests/integration_migrate.sh — live migration between two hosts (root; CI runs it).
#
#   iovp-mt-vm1 .1.11 ──────────── moves ───────────►  (then on h2)
#     │TAP                                              │TAP
#   ┌─┴──────────────────────┐              ┌───────────┴────────────┐  iovp-mt-vm2 .1.12
#   │ iovpathd h1 (2 VFs)     │── TCP 127.0.0.1 ──►│ iovpathd h2 (2 VFs)     ├──TAP─┘
#   └───────────┬────────────┘  (migration)  └───────────┬────────────┘
#               │ phys0 ───── bridge "net" (iovp-mt-net) ───── phys0 │
#                                     │ veth
#                               iovp-mt-ext1 .1.100
#
# Checks: a TCP stream vm1→vm2 (iperf3) and ping streams vm1→ext1 and
# ext1→vm1 (500/s each) go on while vm1 moves h1→h2 with its VF attached
# (the VF is taken back first, one attached on h2 after) and back again
# (--no-vf: none attached on h1); the stream ends without an error and moves
# data after each move, the pings lose nothing (the old host forwards what
# still reaches it to the new one); vm1 is on exactly one host at a time;
# its counters travel with it (before_migration); both timelines tell the
# story; a migration with a bad token, or to a host where the name is taken,
# is refused and leaves the VM working where it was; a VM that can't move
# (stopped) stays, and the destination deletes the port it made for it.
# Addresses from 198.18.0.0/15; a trap takes the lab down.
LAB_TAG=mt
source "$(dirname "$0")/lib/lab.sh"

on_host() { # VM HOST: 1 when VM is on HOST (not the port it left, forwarding a while)
	$CLI vm show --host "$2" --json |
		jq_ "sum(1 for v in j if v['name']=='$1' and 'migrating_to' not in v)"
}

cat >"$CONF" <<'EOF'
lab mt
network net
host h1
nic h1 vfs 2
host h2
nic h2 vfs 2
vm vm1 host h1 mac 02:00:00:00:07:01 ip 198.18.1.11/24
vm vm2 host h2 mac 02:00:00:00:07:02 ip 198.18.1.12/24
external ext1 ip 198.18.1.100/24
EOF
$CLI lab down --force "$CONF" >/dev/null 2>&1 || true
$CLI lab up "$CONF"

nsx vm1 ping -c 2 -i 0.2 -W 2 198.18.1.12 >/dev/null || fail "vm1→vm2 ping across hosts"
$CLI host show --host h2 --json | jq_ "j['migrate']" | grep -q '^127.0.0.1:[0-9]' ||
	fail "h2 shows no migration address"
$CLI vm attach-vf vm1 --host h1 >/dev/null
for _ in $(seq 100); do
	[ "$($CLI vm show vm1 --host h1 --json | jq_ "j[0]['datapath']")" = vf ] && break
	sleep 0.05
done
ok "two hosts up, vm1 on h1 with its VF"

# ---- refusals: the VM stays where it is and keeps working
if $CLI vm migrate vm1 --to h1 2>/dev/null; then fail "a migration to the VM's own host was taken"; fi
$CLI vm create vm1 02:00:00:00:07:99 --host h2 >/dev/null # the name taken on h2
if $CLI vm migrate vm1 --to h2 2>/dev/null; then fail "a migration with the VM on two hosts guessed"; fi
if $CLI vm migrate vm1 --to h2 --host h1 2>"$IOVPATH_RUN_DIR/refused.txt"; then
	fail "a migration to a host where the name is taken went ahead"
fi
grep -q "exists" "$IOVPATH_RUN_DIR/refused.txt" || fail "the refusal does not say why: $(cat "$IOVPATH_RUN_DIR/refused.txt")"
$CLI vm delete vm1 --host h2 >/dev/null
# a bad token (the CLI always asks for a good one): the daemon's own request
addr=$($CLI host show --host h2 --json | jq_ "j['migrate']")
python3 - "$IOVPATH_RUN_DIR/h1.mgmt" "$addr" <<'EOF' || fail "a bad token was not refused"
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
s.send(json.dumps({"v": 1, "id": 1, "op": "vm.migrate", "args": {
    "name": "vm1", "address": sys.argv[2], "token": "07" * 32}}).encode())
r = json.loads(s.recv(65536))
assert not r["ok"] and "no such migration token" in r["error"]["message"], r
print("refused:", r["error"]["message"])
EOF
[ "$(on_host vm1 h1)" = 1 ] || fail "vm1 left h1 after a refused migration"
has vm.migrate_refused $CLI events --host h2 || fail "h2's timeline has no vm.migrate_refused"
has vm.migrate_failed $CLI events --host h1 || fail "h1's timeline has no vm.migrate_failed"
nsx vm1 ping -c 2 -i 0.2 -W 2 198.18.1.12 >/dev/null || fail "vm1 lost after a refused migration"
ok "refused migrations (own host, name taken) leave vm1 working on h1"

# ---- a destination that takes the connection and never answers: the source
# answers others and forwards vm1's frames meanwhile, then says it timed out
python3 - "$IOVPATH_RUN_DIR/h1.mgmt" ip netns exec "${NS}vm1" ping -c 10 -i 0.1 -W 1 -q 198.18.1.12 <<'EOF' || fail "a silent destination held up the source"
import json, socket, subprocess, sys, time
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(4)
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
t0 = time.time()
s.send(json.dumps({"v": 1, "id": 1, "op": "vm.migrate", "args": {
    "name": "vm1", "address": "127.0.0.1:%d" % l.getsockname()[1], "token": "07" * 32}}).encode())
c, _ = l.accept()  # and never a word
o = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
o.connect(sys.argv[1])
t1 = time.time()
o.send(json.dumps({"v": 1, "id": 2, "op": "vm.show"}).encode())
r = json.loads(o.recv(65536))
assert r["ok"] and time.time() - t1 < 1, ("another request waited", time.time() - t1, r)
p = subprocess.run(sys.argv[2:], capture_output=True, text=True)
assert p.returncode == 0 and " 0% packet loss" in p.stdout, ("the datapath waited", p.stdout)
r = json.loads(s.recv(65536))
el = time.time() - t0
assert not r["ok"] and r["error"]["code"] == "ETIMEDOUT", r
assert "no answer in time" in r["error"]["message"] and 2.5 < el < 5, (el, r)
print("timed out after %.1f s:" % el, r["error"]["message"])
EOF
[ "$(on_host vm1 h1)" = 1 ] || fail "vm1 left h1 after a silent destination"
ok "a destination that never answers: the source serves on, says so after 3 s"

# ---- a live migration under TCP and ping, VF attached
$CLI vm attach-vf vm1 --host h1 >/dev/null
sleep 0.3
nsx vm2 iperf3 -s -p 5302 -D -1 -I "$IOVPATH_RUN_DIR/iperf.pid"
sleep 0.3
nsx vm1 iperf3 -c 198.18.1.12 -p 5302 -t 6 -i 1 -J >"$IOVPATH_RUN_DIR/iperf.json" 2>&1 &
ipf=$!
nsx vm1 ping -i 0.002 -c 2500 -q 198.18.1.100 >"$IOVPATH_RUN_DIR/ping.txt" 2>&1 &
png=$!
nsx ext1 ping -i 0.002 -c 2500 -q 198.18.1.11 >"$IOVPATH_RUN_DIR/ping_in.txt" 2>&1 &
pin=$!
sleep 1.5
$CLI vm migrate vm1 --to h2 --json >"$IOVPATH_RUN_DIR/m1.json" || fail "migration h1→h2"
jq_ "j['vf_detached_first']" <"$IOVPATH_RUN_DIR/m1.json" | grep -q True ||
	fail "the VF was not taken back first"
echo "h1→h2: $(tr -d "\n " <"$IOVPATH_RUN_DIR/m1.json")"
jq_ "j['vf_attached_after']" <"$IOVPATH_RUN_DIR/m1.json" | grep -q True ||
	fail "no VF for vm1 on h2 after the move"
[ "$($CLI vm show vm1 --host h2 --json | jq_ "j[0]['vf_state']")" = active ] ||
	fail "vm1's VF on h2 is not active"
[ "$(on_host vm1 h2)" = 1 ] && [ "$(on_host vm1 h1)" = 0 ] || fail "vm1 not on h2 alone"
sleep 2
$CLI vm migrate vm1 --to h1 --no-vf --json >"$IOVPATH_RUN_DIR/m2.json" || fail "migration h2→h1"
jq_ "j['vf_detached_first'] and 'vf_attached_after' not in j" <"$IOVPATH_RUN_DIR/m2.json" |
	grep -q True || fail "h2→h1: the VF not taken back first, or one attached despite --no-vf"
[ "$($CLI vm show vm1 --host h1 --json | jq_ "j[0]['vf_state']")" = none ] ||
	fail "vm1 got a VF on h1 despite --no-vf"
[ "$(on_host vm1 h1)" = 1 ] && [ "$(on_host vm1 h2)" = 0 ] || fail "vm1 not back on h1 alone"
wait $ipf || fail "iperf3 failed across the migrations: $(tail -5 "$IOVPATH_RUN_DIR/iperf.json")"
wait $png || true
wait $pin || true
python3 - "$IOVPATH_RUN_DIR/iperf.json" <<'EOF' || fail "the TCP stream did not survive"
import json, sys
j = json.load(open(sys.argv[1]))
assert "error" not in j, j.get("error")
iv = [i["sum"]["bytes"] for i in j["intervals"]]
print("iperf3 bytes per second:", iv)
assert len(iv) >= 6 and all(b > 0 for b in iv), "a second without data"
assert j["end"]["sum_received"]["bytes"] > 0
EOF
# Nothing lost either way: what reached the old host after the VM halted
# was forwarded to the new one (vm.forwarding_end on both timelines).
for f in ping ping_in; do
	echo "$f at 500/s across two migrations: $(grep transmitted "$IOVPATH_RUN_DIR/$f.txt")"
	grep -q ' 0% packet loss' "$IOVPATH_RUN_DIR/$f.txt" ||
		fail "$f lost frames across two migrations: $(grep transmitted "$IOVPATH_RUN_DIR/$f.txt")"
done
grep -h "forwarded to host" "$IOVPATH_RUN_DIR"/h[12].log | sed 's/^.*INFO iovpathd: /  /'
! grep -h "protocol_error" "$IOVPATH_RUN_DIR"/h[12].log || fail "protocol errors while moving"
ok "TCP stream and pings (500/s each way) survive two live migrations with nothing lost"

# ---- the state travelled, the timelines tell it
$CLI stats vm1 --host h1 --json >"$IOVPATH_RUN_DIR/stats.json"
python3 - "$IOVPATH_RUN_DIR/stats.json" <<'EOF' || fail "counters did not travel"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["migrations"] == 2, s.get("migrations")
b = s["before_migration"]
assert b["vf"]["vf_tx_packets"] > 0, "the VF's counters from h1 are lost"
assert b["synthetic"]["tx_packets"] > 0
EOF
for ev in vm.migrate_out vm.migrated vm.migrate_in vm.forwarding_end; do
	has "$ev" $CLI events --host h1 || fail "h1's timeline has no $ev"
	has "$ev" $CLI events --host h2 || fail "h2's timeline has no $ev"
done
grep -q "on host h2 now" "$IOVPATH_RUN_DIR/vm1.log" || fail "vm1's log does not tell the move"
ok "counters travel with the VM (migrations 2, before_migration), both timelines tell"

# ---- a VM that does not move (its process stopped: it can't read MIGRATE)
# stays where it is: after 5 s the source cancels, the destination deletes
# the port it made, and the VM, once it runs again, forgets the MIGRATE.
vm2pid=$(pgrep -f -- "--name vm2 --netns ${NS}vm2 " | head -1)
[ -n "$vm2pid" ] || fail "no vm2 process"
kill -STOP "$vm2pid"
if $CLI vm migrate vm2 --to h1 2>"$IOVPATH_RUN_DIR/m3.err"; then
	kill -CONT "$vm2pid"
	fail "a VM that can't move was reported moved"
fi
kill -CONT "$vm2pid"
grep -q "did not move: it stays on host h2" "$IOVPATH_RUN_DIR/m3.err" ||
	fail "the CLI did not say it stays: $(cat "$IOVPATH_RUN_DIR/m3.err")"
has vm.migrate_failed $CLI events --host h2 || fail "h2's timeline has no vm.migrate_failed"
has vm.migrate_cancelled $CLI events --host h1 || fail "h1 kept the port (no cancel)"
sleep 0.5
[ "$(on_host vm2 h2)" = 1 ] && [ "$(on_host vm2 h1)" = 0 ] ||
	fail "vm2 not on h2 alone after the cancel"
[ "$($CLI vm show --host h1 --json | jq_ "sum(1 for v in j if v['name']=='vm2')")" = 0 ] ||
	fail "h1 kept a port for vm2"
nsx vm1 ping -c 2 -i 0.2 -W 2 198.18.1.12 >/dev/null || fail "vm2 lost after a cancelled move"
grep -q "cancelled the move" "$IOVPATH_RUN_DIR/vm2.log" || fail "vm2 did not forget the MIGRATE"
ok "a VM that does not move in 5 s stays where it is; the destination's port goes"

$CLI lab down "$CONF" >/dev/null
n=$(leftovers)
[ "$n" -eq 0 ] || fail "$n leftovers after lab down"
ok "lab down leaves nothing"
