#!/usr/bin/env bash
# Runs one libFuzzer harness for a while: run.sh SECONDS shim/build/fuzz/fuzz_NAME. Its corpus
# grows in shim/build/fuzz/corpus/NAME (not committed), starting from shim/tests/fuzz/seeds/NAME;
# a crash is kept in shim/build/fuzz/crash/. Exit 0 pass, 1 fail, 77 skip.
# run.sh --check: exit 0 when clang can build a fuzzer here, else print why and exit 1.
set -uo pipefail
cd "$(dirname "$0")/../../.."
cc=${FUZZ_CC:-clang}
if [ "${1:-}" = --check ]; then
	if ! command -v "$cc" >/dev/null; then
		echo "no $cc"
		exit 1
	fi
	probe=$(mktemp)
	trap 'rm -f "$probe"' EXIT
	if ! echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' |
		"$cc" -fsanitize=fuzzer -x c - -o "$probe" 2>/dev/null; then
		echo "$cc has no libFuzzer (Debian: libclang-rt-dev)"
		exit 1
	fi
	exit 0
fi
seconds=$1 bin=$2
name=$(basename "$bin")
name=${name#fuzz_}
corpus=shim/build/fuzz/corpus/$name
mkdir -p "$corpus" shim/build/fuzz/crash
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# -timeout: one input that takes longer is a hang, and a failure.
timeout $((seconds + 60)) "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
	-artifact_prefix=shim/build/fuzz/crash/"$name"- -print_final_stats=1 \
	"$corpus" shim/tests/fuzz/seeds/"$name" >"$log" 2>&1
rc=$?
runs=$(grep -m1 -o 'number_of_executed_units: *[0-9]*' "$log" | tr -dc 0-9)
if [ "$rc" -eq 77 ]; then
	echo "skip: fuzz $name ($(grep -m1 '^skip:' "$log" | cut -c7-))"
	exit 77
fi
if [ "$rc" -ne 0 ]; then
	echo "FAIL: fuzz $name (status $rc; the input is in shim/build/fuzz/crash/)"
	grep -E 'broken:|ERROR:|SUMMARY:' "$log" | head -5
	exit 1
fi
echo "fuzz $name: ${runs:-?} inputs in ${seconds}s, no failure"
