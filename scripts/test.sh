#!/usr/bin/env bash
# Runs every test (unit, FFI, network namespaces, end to end against dist/mcr) and ends with
# one line "N passed, N failed". Needs root: the data-plane tests build network namespaces.
set -uo pipefail
cd "$(dirname "$0")/.."
BUN=${BUN:-$(command -v bun || echo /usr/local/bin/bun)}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

c_pass=0 c_fail=0
for t in shim/build/tests/*; do
	[ -x "$t" ] || continue
	timeout 60 "$t"
	case $? in
	0) c_pass=$((c_pass + 1)) ;;
	77) echo "skip: $t (kernel lacks a feature)" ;;
	*) c_fail=$((c_fail + 1)); echo "FAIL: $t" ;;
	esac
done

# The libFuzzer harnesses, briefly (make fuzz runs them longer): each counts like a C test.
if why=$(bash shim/tests/fuzz/run.sh --check); then
	if make -s fuzzers >"$log" 2>&1; then
		for f in shim/build/fuzz/fuzz_*; do
			bash shim/tests/fuzz/run.sh 6 "$f"
			case $? in
			0) c_pass=$((c_pass + 1)) ;;
			77) ;;
			*) c_fail=$((c_fail + 1)) ;;
			esac
		done
	else
		c_fail=$((c_fail + 1)); echo "FAIL: make fuzzers"; cat "$log"
	fi
else
	echo "skip: fuzzers ($why)"
fi

# Type-check the TypeScript and compile the C with every warning an error: one check.
if make -s check >/dev/null 2>"$log"; then
	c_pass=$((c_pass + 1))
else
	c_fail=$((c_fail + 1)); echo "FAIL: make check"; cat "$log"
fi

# Formatting, lint rules and the direction of imports: one check.
if make -s lint >"$log" 2>&1; then
	c_pass=$((c_pass + 1))
else
	c_fail=$((c_fail + 1)); echo "FAIL: make lint"; cat "$log"
fi

# One file at a time keeps namespaces and CPU use of one test from disturbing another's timing.
timeout 3000 "$BUN" test --timeout 60000 --max-concurrency 1 test/ 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
pass=$(grep -E '^ *[0-9]+ pass$' "$log" | tail -1 | tr -dc 0-9)
fail=$(grep -E '^ *[0-9]+ fail$' "$log" | tail -1 | tr -dc 0-9)
if [ -z "$pass" ] && [ -z "$fail" ]; then
	echo "bun test ended (status $rc) without a summary"
	pass=0 fail=1
fi
pass=$(( ${pass:-0} + c_pass ))
fail=$(( ${fail:-0} + c_fail ))

# Test namespaces are named mcrt-<pid of the test process>-...: one whose process is gone
# outlived its test. (Those of a test run still going on elsewhere on the machine are not ours.)
left=0
for ns in $(ip netns list 2>/dev/null | awk '/^mcrt-/ {print $1}'); do
	pid=${ns#mcrt-}
	pid=${pid%%-*}
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "leftover namespace: $ns"
		ip netns del "$ns"
		left=$((left + 1))
	fi
done
if [ "$left" -gt 0 ]; then
	echo "FAIL: $left test namespaces outlived their tests"
	fail=$((fail + 1))
fi
echo "$pass passed, $fail failed"
[ "$rc" -eq 0 ] && [ "$fail" -eq 0 ]
