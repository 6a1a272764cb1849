#!/usr/bin/env bash
# scripts/demo.sh — what `make demo` runs: today, the VMBus ring between two
# real processes (the foundation every path stands on), with its baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/iovpath
echo "iovpath demo: a VMBus channel (two shared-memory rings + eventfds, offered over a"
echo "Unix socket) between a producer process and a consumer process. Every frame carries"
echo "a sequence number and a tail tag that the consumer checks."
echo
for size in 64 1500 9000; do
	$BIN bench ring --size "$size" --seconds 2
done
echo
echo "Shown: frames of each size crossed the ring from one process to another with none lost,"
echo "reordered or corrupted; the copy, not the ring, is the limit at large frames."
