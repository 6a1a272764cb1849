#!/usr/bin/env bash
# scripts/deps.sh — make sure the build and test dependencies are installed.
#
# As root: installs what is missing with apt-get (Debian 12 / Ubuntu package names).
# As another user: names the missing packages and exits 1.
# Called by `make demo` and `make test` before they build.
set -eu

PKGS=(
	gcc make pkg-config
	clang libclang-rt-14-dev      # libFuzzer and the sanitizer runtimes for clang
	libcriterion-dev              # unit-test framework (a process per test, time-outs)
	libjansson-dev                # JSON: bench --json, management protocol
	libmnl-dev                    # netlink
	libpcap-dev                   # capture files
	iproute2 iperf3 iputils-ping procps # lab, integration tests, demo
	python3                       # JSON checks in the integration tests and the demo
)

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "iovpath: missing build dependencies: ${missing[*]}" >&2
	echo "iovpath: run as root (make demo / make test install them), or: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi
echo "iovpath: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
