#!/usr/bin/env bash
# scripts/run-tests.sh — run the whole suite: every unit/process test program
# (Criterion: a process per test, each with a time-out), the root-only
# integration scripts (skipped with a message without root), a short libFuzzer
# run per target plus its kept regression inputs, and a closing summary line.
#
# Environment: BUILD (build dir, default build), SANITIZE (0/1),
# FUZZ_SECONDS (per fuzz target, default 30; 0 skips fuzzing).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SANITIZE=${SANITIZE:-0}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
LOGDIR=$(mktemp -d /tmp/iovpath-tests.XXXXXX)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp
passed=0 failed=0 skipped=0
failures=()

sanitizer_report() { grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$1"; }

# Criterion prints: [====] Synthesis: Tested: T | Passing: P | Failing: F | Crashing: C
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	log=$LOGDIR/$name.log
	echo "== $name"
	"$t" --jobs 2 --short-filename >"$log" 2>&1
	rc=$?
	line=$(grep 'Synthesis:' "$log" | tail -n 1)
	p=$(sed -n 's/.*Passing: \([0-9]*\).*/\1/p' <<<"$line")
	f=$(sed -n 's/.*Failing: \([0-9]*\).*/\1/p' <<<"$line")
	c=$(sed -n 's/.*Crashing: \([0-9]*\).*/\1/p' <<<"$line")
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0} + ${c:-0}))
	if [ "$rc" -ne 0 ] || [ -z "$line" ] || sanitizer_report "$log"; then
		[ -z "$line" ] && failed=$((failed + 1))
		sanitizer_report "$log" && { failed=$((failed + 1)); echo "   sanitizer report in $name"; }
		failures+=("$name")
		echo "$name:" >>"$LOGDIR/why"
		grep -vE '^\[----\] *$' "$log" | grep -E 'FAIL|CRASH|Assertion|ERROR|runtime error|SUMMARY|#[0-9]+ |^\[----\]   |^bench' | head -40 |
			tee -a "$LOGDIR/why"
	fi
	echo "   $line"
done

# Integration scripts: they need root (TAP devices, namespaces).
for s in tests/*.sh; do
	[ -f "$s" ] || continue
	name=$(basename "$s" .sh)
	if [ "$(id -u)" -ne 0 ]; then
		echo "== $name: SKIPPED (needs root for network namespaces and TAP devices)"
		skipped=$((skipped + 1))
		continue
	fi
	echo "== $name"
	if BUILD=$BUILD timeout 600 bash "$s" >"$LOGDIR/$name.log" 2>&1; then
		passed=$((passed + 1))
		echo "   ok"
	else
		failed=$((failed + 1))
		failures+=("$name")
		tail -n 30 "$LOGDIR/$name.log"
		tail -n 8 "$LOGDIR/$name.log" | sed "s/^/$name: /" >>"$LOGDIR/why"
	fi
done

# Fuzzing: regression inputs first, then a short run from the seed corpus.
if [ "$SANITIZE" != 1 ] && [ "$FUZZ_SECONDS" -gt 0 ]; then
	for f in build/fuzz/fuzz_*; do
		[ -x "$f" ] || continue
		name=${f##*/fuzz_}
		log=$LOGDIR/fuzz_$name.log
		work=$(mktemp -d "$LOGDIR/corpus-$name.XXXX")
		regress=()
		[ -d "fuzz/regress/$name" ] && regress=(fuzz/regress/"$name"/*)
		seeds=()
		[ -d "fuzz/corpus/$name" ] && seeds=(fuzz/corpus/"$name")
		echo "== fuzz_$name: ${#regress[@]} regression inputs, then ${FUZZ_SECONDS}s"
		ok=1
		if [ ${#regress[@]} -gt 0 ] && ! "$f" "${regress[@]}" >"$log" 2>&1; then
			ok=0
		fi
		if [ $ok = 1 ] && ! "$f" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
			-artifact_prefix="$LOGDIR/fuzz_$name-" -print_final_stats=1 \
			"$work" "${seeds[@]}" >>"$log" 2>&1; then
			ok=0
		fi
		if [ $ok = 1 ]; then
			passed=$((passed + 1))
			echo "   $(grep -E '^Done [0-9]+ runs' "$log" | tail -n 1)"
		else
			failed=$((failed + 1))
			failures+=("fuzz_$name")
			echo "fuzz_$name:" >>"$LOGDIR/why"
			grep -E 'ERROR|SUMMARY|artifact|#[0-9]+ ' "$log" | head -30 | tee -a "$LOGDIR/why"
		fi
	done
fi

echo
# A failure's reasons again at the end, where a log's tail shows them.
if [ -s "$LOGDIR/why" ]; then
	echo "why (the first lines of each failure's report):"
	head -n 20 "$LOGDIR/why" | cut -c1-300
fi
[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]} (logs in $LOGDIR)"
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ ${#failures[@]} -eq 0 ]
