# tests/lib/lab.sh — what the integration scripts share (sourced, not run):
# the build's binaries, a run directory of the script's own, a trap that
# takes its lab down (also after a failure), and the helpers below.
# Set LAB_TAG first: the run directory is /tmp/iovpath-$LAB_TAG.*, the
# namespaces and devices the lab makes are named iovp-$LAB_TAG-*.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BUILD=${BUILD:-build}
B=$PWD/$BUILD
CLI=$B/iovpath
IOVPATH_RUN_DIR=$(mktemp -d "/tmp/iovpath-$LAB_TAG.XXXXXX")
export IOVPATH_RUN_DIR
NS=iovp-$LAB_TAG-
CONF=$IOVPATH_RUN_DIR/lab.conf

cleanup() {
	[ -f "$IOVPATH_RUN_DIR/iperf.pid" ] && kill "$(cat "$IOVPATH_RUN_DIR/iperf.pid")" 2>/dev/null
	[ -f "$CONF" ] && $CLI lab down --force "$CONF" >/dev/null 2>&1
	rm -rf "$IOVPATH_RUN_DIR"
}
trap cleanup EXIT

fail() { # the reason, and the end of every daemon's and VM's log
	echo "FAIL: $*" >&2
	tail -n 20 "$IOVPATH_RUN_DIR"/*.log >&2 || true
	exit 1
}
ok() { echo "ok: $*"; }
nsx() { # NS CMD...: CMD in the lab's namespace NS
	local ns=$1
	shift
	ip netns exec "$NS$ns" "$@"
}
jq_() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }
leftovers() { # namespaces or root-namespace links with the lab's prefix
	{ ip netns list | grep "^$NS" || true; ip -o link | grep -o "$NS[a-z0-9-]*" || true; } | wc -l
}
has() { # TEXT CMD...: CMD's output holds TEXT (read in full: `CMD | grep -q`
	# would cut CMD off at the first match, and pipefail then fail on its SIGPIPE)
	local want=$1 out
	shift
	out=$("$@") || return 1
	[[ $out == *"$want"* ]]
}
