#!/usr/bin/env bash
# tests/integration_lab.sh — the whole system with real guests (root; CI runs it).
#
#   iovp-it-vm1   iovp-it-vm2   iovp-it-vm3    iovp-it-vm4      iovp-it-ext1
#   .0.11         .0.12         .0.13 vlan 10  .0.14 vlan 10    .0.100
#     │TAP          │TAP          │TAP           │TAP               │veth
#   ┌─┴─────────────┴─────────────┴──────────────┴──┐               │
#   │ iovpathd h1: switch, NetVSP, NIC (2 VFs)       │               │
#   └───────────────────────┬────────────────────────┘               │
#                           │ phys0 ─── bridge "net" (iovp-it-net) ───┘
#
# Checks: connectivity on the synthetic path and on the VF path, the counters
# of the right path moving, the host's timeline (the VF path used only after
# the SWITCH_DATA_PATH completion), MAC spoofing dropped, a VM unable to open
# another VM's channel, VLAN isolation, and a daemon killed and restarted
# leaving nothing behind after `lab down`. Everything runs in namespaces the
# test makes (addresses from 198.18.0.0/15); a trap takes them down.
LAB_TAG=it
source "$(dirname "$0")/lib/lab.sh"

counter() { # VM GROUP KEY
	$CLI stats "$1" --json | jq_ "j['$2']['$3']"
}
vm_field() { # VM KEY
	$CLI vm show "$1" --json | jq_ "j[0]['$2']"
}
wait_path() {
	for _ in $(seq 100); do [ "$(vm_field "$1" datapath)" = "$2" ] && return 0; sleep 0.05; done
	fail "$1 never reached the $2 path"
}

cat >"$CONF" <<'EOF'
lab it
network net
host h1
nic h1 vfs 2
vm vm1 host h1 mac 02:00:00:00:01:01 ip 198.18.0.11/24
vm vm2 host h1 mac 02:00:00:00:01:02 ip 198.18.0.12/24
vm vm3 host h1 mac 02:00:00:00:01:03 ip 198.18.0.13/24 vlan 10
vm vm4 host h1 mac 02:00:00:00:01:04 ip 198.18.0.14/24 vlan 10
external ext1 ip 198.18.0.100/24
EOF
cleanup_start() { $CLI lab down --force "$CONF" >/dev/null 2>&1 || true; }
cleanup_start
$CLI lab up "$CONF"

# ---- synthetic path
nsx vm1 ping -c 2 -i 0.2 -W 2 198.18.0.12 >/dev/null || fail "vm1→vm2 ping on synthetic"
nsx vm1 ping -c 2 -i 0.2 -W 2 198.18.0.100 >/dev/null || fail "vm1→ext1 ping on synthetic"
[ "$(vm_field vm1 datapath)" = synthetic ] || fail "vm1 not on synthetic"
tx=$(counter vm1 synthetic tx_packets)
[ "$tx" -gt 0 ] || fail "vm1 synthetic tx_packets did not move ($tx)"
[ "$(counter vm1 vf vf_tx_packets)" -eq 0 ] || fail "vf counters moved before any VF"
nsx vm2 iperf3 -s -p 5301 -D -I "$IOVPATH_RUN_DIR/iperf.pid"
sleep 0.3
nsx vm1 iperf3 -c 198.18.0.12 -p 5301 -t 1 >/dev/null || fail "iperf3 vm1→vm2 on synthetic"
ok "synthetic path: ping and TCP, counters on synthetic"

# ---- the host's datapath runs ahead of its guests (HOSTD_NICE)
dpid=$($CLI host show --json | jq_ "j['pid']")
[ "$(ps -o ni= -p "$dpid" | tr -d ' ')" = -5 ] || fail "iovpathd not at nice -5"
has '"cpus"' $CLI host show --json || fail "host show: no cpus"
rc=0; "$B/iovpathd" --name x --nice 20 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "iovpathd --nice 20 accepted (exit $rc)"
for bin in iovpathd iovpath-vm; do
	rc=0; "$B/$bin" --cpus 3-1 --name x --host x 2>/dev/null || rc=$?
	[ "$rc" -eq 2 ] || fail "$bin --cpus 3-1 accepted (exit $rc)"
done
ok "daemon priority: nice -5; a bad --nice or --cpus refused"

# ---- capture of a switch port, read back: a pcap with vm1's pings to vm2 in it
$CLI capture vm2 -w "$IOVPATH_RUN_DIR/vm2.pcap" --seconds 1.5 2>/dev/null &
sleep 0.3
nsx vm1 ping -c 3 -i 0.2 -W 2 198.18.0.12 >/dev/null || fail "ping during the capture"
wait
python3 - "$IOVPATH_RUN_DIR/vm2.pcap" <<'PY' || fail "the capture file"
import struct, sys
d = open(sys.argv[1], "rb").read()
assert struct.unpack("<I", d[:4])[0] == 0xa1b2c3d4, "pcap magic"
off, icmp = 24, 0
while off + 16 <= len(d):
    incl = struct.unpack("<I", d[off + 8:off + 12])[0]
    frame = d[off + 16:off + 16 + incl]
    if len(frame) > 34 and frame[12:14] == b"\x08\x00" and frame[23] == 1:
        icmp += 1
    off += 16 + incl
assert icmp >= 3, "icmp frames in the capture: %d" % icmp
PY
[ -z "$(ls -A "$IOVPATH_RUN_DIR/captures")" ] || fail "the daemon's copy of the capture was left behind"
ok "capture of vm2's port read back: pings in it"

# ---- VLAN isolation: vm3 and vm4 share VLAN 10; vm1 (untagged) reaches neither
nsx vm3 ping -c 2 -i 0.2 -W 2 198.18.0.14 >/dev/null || fail "vm3→vm4 in VLAN 10"
! nsx vm1 ping -c 2 -i 0.2 -W 1 198.18.0.13 >/dev/null 2>&1 || fail "vm1 reached vm3 across VLANs"
ok "VLAN isolation"

# ---- settings: a stopped adapter can be changed, a connected one is refused
$CLI vm create vm9 02:00:00:00:01:09 >/dev/null || fail "vm create"
$CLI vm set vm9 vlan 10 >/dev/null || fail "vm set on a stopped VM"
[ "$(vm_field vm9 vlan)" = 10 ] || fail "vm9's VLAN did not change"
! $CLI vm set vm1 vlan 10 >/dev/null 2>&1 || fail "vm set changed a connected VM"
$CLI vm delete vm9 >/dev/null || fail "vm delete"
$CLI host set vf-timeout 1500 >/dev/null || fail "host set"
has '"vf_timeout_ms": 1500' $CLI host show --json || fail "host set vf-timeout"
ok "vm set / host set"

# ---- MAC spoofing: vm1's guest changes its MAC; its frames are dropped at the switch
drops0=$(counter vm1 host switch_drops_spoof)
nsx vm1 ip link set eth0 address 02:00:00:00:01:99
! nsx vm1 ping -c 2 -i 0.2 -W 1 198.18.0.12 >/dev/null 2>&1 || fail "a spoofed MAC got through"
drops1=$(counter vm1 host switch_drops_spoof)
[ "$drops1" -gt "$drops0" ] || fail "spoof drops not counted ($drops0 → $drops1)"
nsx vm1 ip link set eth0 address 02:00:00:00:01:01
nsx vm1 ping -c 2 -i 0.2 -W 2 198.18.0.12 >/dev/null || fail "vm1 after restoring its MAC"
ok "MAC spoofing dropped and counted ($((drops1 - drops0)) frames)"

# ---- another VM's channel: wrong credential refused; the right one refused while in use;
# connections that never finish the handshake do not stall the host
if $B/iovpath-vm --host h1 --name vm2 --secret "$IOVPATH_RUN_DIR/vm1.secret" --endpoint \
	--seconds 0.2 --run-dir "$IOVPATH_RUN_DIR" >/dev/null 2>&1; then
	fail "vm1's credential opened vm2's channel"
fi
if $B/iovpath-vm --host h1 --name vm2 --endpoint --seconds 0.2 --run-dir "$IOVPATH_RUN_DIR" \
	>/dev/null 2>&1; then
	fail "a second process opened vm2's channel while vm2 runs"
fi
nsx vm1 ping -c 1 -W 2 198.18.0.12 >/dev/null || fail "vm2 hurt by the attempts"
# connections that never say HELLO cost the host nothing (and are closed)
python3 - "$IOVPATH_RUN_DIR/h1.vmbus" <<'PY' &
import socket, sys, time
held = []
for _ in range(20):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(sys.argv[1])
    held.append(s)
time.sleep(2)
PY
sleep 0.3
nsx vm1 ping -c 5 -i 0.1 -W 1 198.18.0.12 >/dev/null || fail "silent channel connections stalled the host"
wait
ok "a VM cannot open another VM's channel; silent connections do not stall the host"

# ---- VF path
$CLI vm attach-vf vm1 >/dev/null
$CLI vm attach-vf vm2 >/dev/null
wait_path vm1 vf
wait_path vm2 vf
syn0=$(counter vm1 synthetic tx_packets)
vf0=$(counter vm1 vf vf_tx_packets)
nsx vm1 ping -c 5 -i 0.1 -W 2 198.18.0.12 >/dev/null || fail "vm1→vm2 ping on the VF path"
nsx vm1 ping -c 5 -i 0.1 -W 2 198.18.0.100 >/dev/null || fail "vm1→ext1 ping on the VF path"
nsx vm1 iperf3 -c 198.18.0.12 -p 5301 -t 1 >/dev/null || fail "iperf3 vm1→vm2 on the VF path"
syn1=$(counter vm1 synthetic tx_packets)
vf1=$(counter vm1 vf vf_tx_packets)
[ $((vf1 - vf0)) -ge 10 ] || fail "vf_tx_packets did not move ($vf0 → $vf1)"
# unicast goes on the VF; the synthetic path keeps only what is not unicast (ARP, ND)
[ $((syn1 - syn0)) -lt $(((vf1 - vf0) / 10 + 10)) ] || fail "unicast still on synthetic ($syn0 → $syn1)"
rxd=$(counter vm2 vf vf_rx_dropped) || fail "no vf_rx_dropped in vm2's stats"
ok "VF path: ping and TCP, vf counters moving ($((vf1 - vf0)) frames), synthetic quiet, vm2's VF queue dropped $rxd"

# ---- the timeline: the VF path starts only after SWITCH_DATA_PATH is complete
$CLI events --json >"$IOVPATH_RUN_DIR/events.json"
python3 - "$IOVPATH_RUN_DIR/events.json" <<'EOF' || fail "event timeline"
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
names = [(e["event"], e["data"].get("vm")) for e in evs]
for vm in ("vm1", "vm2"):
    seq = [n for n, v in names if v == vm and n.startswith(("vf.", "datapath."))]
    assert "vf.offered" in seq and "datapath.vf" in seq, (vm, seq)
    assert seq.index("vf.offered") < seq.index("datapath.vf"), (vm, seq)
ts = [e["ts_ns"] for e in evs]
assert ts == sorted(ts), "timeline out of order"
EOF
ok "timeline: vf.offered before datapath.vf for each VM"

# ---- detach: back on synthetic, still connected
$CLI vm detach-vf vm1 >/dev/null
wait_path vm1 synthetic
nsx vm1 ping -c 3 -i 0.2 -W 2 198.18.0.12 >/dev/null || fail "vm1→vm2 after detach"
ok "VF detach: back on synthetic"

# ---- the daemon killed and restarted; lab down leaves nothing
pid=$($CLI host show --json | jq_ "j['pid']")
kill -9 "$pid"
sleep 0.3
port=$(python3 -c "import json; print(json.load(open('$IOVPATH_RUN_DIR/lab.json'))['hosts'][0]['port'])")
setsid "$B/iovpathd" --name h1 --port "$port" --vfs 2 --run-dir "$IOVPATH_RUN_DIR" \
	>"$IOVPATH_RUN_DIR/h1-restart.log" 2>&1 </dev/null &
for _ in $(seq 100); do $CLI host show >/dev/null 2>&1 && break; sleep 0.05; done
$CLI host show >/dev/null || fail "the daemon did not restart"
$CLI lab down --force "$CONF"
[ "$(leftovers)" -eq 0 ] || fail "leftovers after lab down: $(ip netns list | grep "^$NS")"
pgrep -f "run-dir $IOVPATH_RUN_DIR" >/dev/null && fail "processes left after lab down"
ok "daemon killed and restarted: lab down leaves no namespace, device or process"
