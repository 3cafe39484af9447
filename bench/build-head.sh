#!/usr/bin/env bash
# Builds mcr from the last commit (git archive HEAD), away from the working tree, and prints the
# binary's path: `bun run bench -- --mcr "$(bash bench/build-head.sh)"` measures committed code
# even while others edit and rebuild the checkout. Reuses the checkout's node_modules.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rev=${1:-HEAD}
commit=$(git -C "$root" rev-parse --short "$rev")
dir=${TMPDIR:-/tmp}/mcr-bench-$commit
if [[ ! -x $dir/dist/mcr ]]; then
	rm -rf "$dir"
	mkdir -p "$dir"
	git -C "$root" archive "$commit" | tar -x -C "$dir"
	ln -s "$root/node_modules" "$dir/node_modules"
	echo "$commit" >"$dir/.commit"
	make -C "$dir" build >&2
fi
echo "$dir/dist/mcr"
