#!/usr/bin/env bash
# scripts/demo.sh — what `make demo` runs.
#
# As root: one host (iovpathd) with an emulated SR-IOV NIC of 4 VFs, two VMs
# (iovpath-vm: NetVSC behind a TAP in the guest's namespace) and one external
# test host, on a physical network (a bridge in its own namespace):
#
#      iovp-demo-vm1          iovp-demo-vm2             iovp-demo-ext1
#      eth0 198.18.0.11       eth0 198.18.0.12          eth0 198.18.0.100
#         │ TAP                  │ TAP                       │ veth
#      iovpath-vm vm1         iovpath-vm vm2                 │
#       NetVSC ┄┄ VF           NetVSC ┄┄ VF                  │
#         │ VMBus   ┆            │ VMBus  ┆                   │
#      ┌──┴─────────┆────────────┴────────┆──┐                │
#      │ iovpathd h1: switch + NetVSP       ┆  │                │
#      │   └ PF ── NIC switch ── VF queues ┘  │                │
#      └──────────────┬───────────────────────┘                │
#                     │ phys0 (veth) ──── bridge "net" ────────┘
#
# ping and an iperf3 TCP stream VM→VM and VM→external, first on the synthetic
# path, then after VF attach on the VF path (VM→VM then stays inside the
# NIC), then a VF taken away in the middle of a stream (failover), with the
# per-path counters and the host's event timeline.
#
# Without root: the same scenario with the built-in endpoints as guests and a
# shared-memory wire to a second host that plays the external test host.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
B=$PWD/$BUILD
CLI=$B/iovpath

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
stats() { # VM: the per-path counters
	$CLI stats "$1" --json | python3 -c '
import json,sys
s=json.load(sys.stdin)
syn=s["synthetic"]; vf=s["vf"]
print("   %-4s synthetic rx %8d tx %8d | VF vf_rx %8d vf_tx %8d | datapath %s" % (
    s["vm"], syn["rx_packets"], syn["tx_packets"], vf["vf_rx_packets"], vf["vf_tx_packets"],
    s.get("datapath", "?")))' 2>/dev/null || $CLI stats "$1"
}
wait_path() { # VM PATH: until the host reports that data path
	for _ in $(seq 100); do
		$CLI vm show "$1" --json | grep -q "\"datapath\": \"$2\"" && return 0
		sleep 0.05
	done
	echo "demo: $1 did not reach the $2 path" >&2
	return 1
}

# ---------------------------------------------------------------- root
if [ "$(id -u)" -eq 0 ]; then
	export IOVPATH_RUN_DIR=/run/iovpath-demo
	NS=iovp-demo-
	TMP=$(mktemp -d /tmp/iovpath-demo.XXXXXX)
	stop_iperf() { # the iperf3 servers this demo started, by their pid files
		for f in "$TMP"/iperf-*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
		true
	}
	nsx() { local ns=$1; shift; ip netns exec "$NS$ns" "$@"; }
	cleanup() {
		stop_iperf
		$CLI lab down --force examples/demo.conf >/dev/null 2>&1 || true
		rm -rf "$TMP"
	}
	trap cleanup EXIT
	$CLI lab down --force examples/demo.conf >/dev/null 2>&1 || true # an earlier demo's leftovers
	say "lab up: namespaces, bridge, the host daemon and two VM processes"
	$CLI lab up examples/demo.conf
	nsx vm2 iperf3 -s -p 5201 -D -I "$TMP/iperf-vm2.pid"
	nsx ext1 iperf3 -s -p 5202 -D -I "$TMP/iperf-ext1.pid"
	sleep 0.3

	traffic() {
		nsx vm1 ping -c 3 -i 0.2 -q 198.18.0.12 | tail -n 2 | sed 's/^/   vm1→vm2  /'
		nsx vm1 ping -c 3 -i 0.2 -q 198.18.0.100 | tail -n 2 | sed 's/^/   vm1→ext1 /'
		nsx vm1 iperf3 -c 198.18.0.12 -p 5201 -t 3 -f g | grep -E 'receiver' |
			sed 's/^/   vm1→vm2  iperf3 /'
		nsx vm1 iperf3 -c 198.18.0.100 -p 5202 -t 3 -f g | grep -E 'receiver' |
			sed 's/^/   vm1→ext1 iperf3 /'
	}

	say "synthetic path: guest → NetVSC → VMBus → NetVSP/switch → PF → NIC"
	traffic
	stats vm1
	stats vm2

	say "VF attach: allocate VF, VPort, hot-add into the VM, SEND_VF_ASSOCIATION, SWITCH_DATA_PATH"
	$CLI vm attach-vf vm1
	$CLI vm attach-vf vm2
	wait_path vm1 vf
	wait_path vm2 vf
	$CLI vf show
	say "VF path: guest → NetVSC → VF queue pair → NIC switch (VM→VM never reaches the host switch)"
	traffic
	stats vm1
	stats vm2
	echo "   the host switch's ports (VM→VM unicast on the VF path never reaches them):"
	$CLI port show | sed 's/^/   /'

	say "VF failover: vm1's VF taken away in the middle of a TCP stream"
	nsx vm1 iperf3 -c 198.18.0.100 -p 5202 -t 4 -f g >"$TMP/iperf.txt" &
	sleep 2
	$CLI vm detach-vf vm1
	wait
	grep -E 'sender|receiver' "$TMP/iperf.txt" | sed 's/^/   /'
	wait_path vm1 synthetic
	stats vm1

	say "the host's timeline"
	$CLI events
	say "lab down"
	trap - EXIT
	stop_iperf
	$CLI lab down
	rm -rf "$TMP"
	echo "demo: done; ip netns list shows nothing of the demo left"
	exit 0
fi

# ---------------------------------------------------------------- no root
RUN=$(mktemp -d /tmp/iovpath-demo.XXXXXX)
export IOVPATH_RUN_DIR=$RUN
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$RUN"
}
trap cleanup EXIT
echo "demo: not root, so no namespaces or TAP devices: the guests are iovpath-vm's built-in"
echo "endpoints (sequence-numbered frames, checked on arrival), and the physical network is a"
echo "shared-memory wire to a second host h2 whose VM ext1 plays the external test host."
$B/iovpathd --name h1 --vfs 4 --port "shm-listen:$RUN/wire" --run-dir "$RUN" 2>"$RUN/h1.log" &
pids+=($!)
sleep 0.2
$B/iovpathd --name h2 --vfs 0 --port "shm-connect:$RUN/wire" --run-dir "$RUN" 2>"$RUN/h2.log" &
pids+=($!)
for _ in $(seq 100); do [ -S "$RUN/h1.mgmt" ] && [ -S "$RUN/h2.mgmt" ] && break; sleep 0.05; done
$CLI vm create vm1 02:00:00:00:01:01 --host h1 >/dev/null
$CLI vm create vm2 02:00:00:00:01:02 --host h1 >/dev/null
$CLI vm create ext1 02:00:00:00:02:01 --host h2 >/dev/null
export IOVPATH_HOST=h1

run_pair() { # FROM-HOST FROM TO-HOST TO TO-MAC
	$B/iovpath-vm --host "$3" --name "$4" --endpoint --seconds 3 --run-dir "$RUN" \
		>"$RUN/sink.json" 2>>"$RUN/vms.log" &
	local sink=$!
	sleep 0.3
	$B/iovpath-vm --host "$1" --name "$2" --endpoint --to "$5" --pps 200000 --seconds 2 \
		--run-dir "$RUN" >"$RUN/gen.json" 2>>"$RUN/vms.log"
	wait $sink
	python3 - "$2" "$4" "$RUN/gen.json" "$RUN/sink.json" <<-'EOF'
	import json, sys
	g = json.load(open(sys.argv[3])); s = json.load(open(sys.argv[4]))
	print("   %s→%s: sent %d, received %d checked (lost %d, reordered %d, bad %d), p99 latency %.1f µs"
	      % (sys.argv[1], sys.argv[2], g["tx_frames"], s["rx_frames"], s["rx_lost"],
	         s["rx_reordered"], s["rx_bad"], s["lat_p99_ns"] / 1000))
	EOF
}
say "synthetic path (200 kframes/s for 2 s)"
run_pair h1 vm1 h1 vm2 02:00:00:00:01:02
run_pair h1 vm1 h2 ext1 02:00:00:00:02:01
say "VF path: a stream vm1→vm2 starts on synthetic; both VMs get a VF while it runs"
$B/iovpath-vm --host h1 --name vm2 --endpoint --seconds 4 --run-dir "$RUN" >"$RUN/sink.json" \
	2>>"$RUN/vms.log" &
sink=$!
$B/iovpath-vm --host h1 --name vm1 --endpoint --to 02:00:00:00:01:02 --pps 200000 --seconds 3.5 \
	--run-dir "$RUN" >"$RUN/gen.json" 2>>"$RUN/vms.log" &
gen=$!
sleep 0.4
$CLI vm attach-vf vm1 >/dev/null
$CLI vm attach-vf vm2 >/dev/null
wait_path vm1 vf
sleep 1
stats vm1
wait $gen
wait $sink
python3 - "$RUN/gen.json" "$RUN/sink.json" <<-'EOF'
import json, sys
g = json.load(open(sys.argv[1])); s = json.load(open(sys.argv[2]))
print("   vm1→vm2 across the switch-over: sent %d, received %d (lost %d, reordered %d, bad %d)"
      % (g["tx_frames"], s["rx_frames"], s["rx_lost"], s["rx_reordered"], s["rx_bad"]))
EOF
say "the host's timeline"
$CLI events --host h1
echo
echo "demo: done"
