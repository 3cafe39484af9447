#!/usr/bin/env bash
# Installs what mcr needs to build and test on Debian 12, and only what is missing.
set -euo pipefail
want_bun=${1:-1.4.5}
need=()
command -v cc >/dev/null || need+=(gcc libc6-dev)
command -v make >/dev/null || need+=(make)
[ -e /usr/include/liburing.h ] || need+=(liburing-dev)
command -v socat >/dev/null || need+=(socat)
command -v ip >/dev/null || need+=(iproute2)
command -v curl >/dev/null || need+=(curl ca-certificates)
command -v taskset >/dev/null || need+=(util-linux)
command -v sysctl >/dev/null || need+=(procps)
command -v unshare >/dev/null || need+=(util-linux)
command -v clang-format >/dev/null || need+=(clang-format)
# The fuzzers (make test runs them briefly): clang and its libFuzzer runtime, which Debian's
# clang only recommends.
command -v clang >/dev/null || need+=(clang)
compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a" >/dev/null ||
	need+=(libclang-rt-dev)
command -v dpkg-deb >/dev/null || need+=(dpkg)
# lintian (about 30 MB with its Perl) and promtool (Debian's prometheus, about 100 MB): the package
# and alert-rule tests run them, so CI checks what it ships (MCR_PACKAGING_DEPS=0 leaves them out,
# and those checks then skip and say so).
if [ "${MCR_PACKAGING_DEPS:-1}" = 1 ]; then
	command -v lintian >/dev/null || need+=(lintian)
	command -v promtool >/dev/null || need+=(prometheus)
fi
# smcroute (kernel multicast forwarding, a peer in `bun run bench`): for the benchmark only, on
# request, MCR_BENCH_DEPS=1; no test needs it, and without it the benchmark skips that peer and says so.
if [ "${MCR_BENCH_DEPS:-0}" = 1 ]; then
	command -v smcrouted >/dev/null || need+=(smcroute)
fi
if [ ${#need[@]} -gt 0 ]; then
	echo "deps: installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
have_bun=$(bun --version 2>/dev/null || /usr/local/bin/bun --version 2>/dev/null || true)
if [ "$have_bun" != "$want_bun" ]; then
	# Bun from the npm registry: the platform package holds the plain binary.
	case $(uname -m) in
	x86_64) pkg=bun-linux-x64; grep -q avx2 /proc/cpuinfo || pkg=bun-linux-x64-baseline ;;
	aarch64) pkg=bun-linux-aarch64 ;;
	*) echo "deps: no bun build for $(uname -m)" >&2; exit 69 ;;
	esac
	echo "deps: installing bun $want_bun ($pkg) into /usr/local/bin"
	tmp=$(mktemp -d)
	curl -fsSL "https://registry.npmjs.org/@oven/$pkg/-/$pkg-$want_bun.tgz" | tar -xz -C "$tmp"
	install -m 0755 "$tmp/package/bin/bun" /usr/local/bin/bun
	rm -rf "$tmp"
fi
