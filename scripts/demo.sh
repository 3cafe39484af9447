#!/usr/bin/env bash
# A self-contained demo: three network namespaces generator -> relay -> sink, the relay's
# ingress with rp_filter on and no route back to the generator's source (so the kernel refuses
# the stream), mcr started, a rule added at runtime, traffic sent, and what arrived.
set -euo pipefail
cd "$(dirname "$0")/.."
MCR=${MCR:-$PWD/dist/mcr}
id="mcrdemo-$$"
gen=$id-gen relay=$id-relay sink=$id-sink
sock=/tmp/$id.sock state=/tmp/$id.state.json
sup_pid=""

cleanup() {
	[ -n "$sup_pid" ] && kill "$sup_pid" 2>/dev/null && wait "$sup_pid" 2>/dev/null
	for n in $gen $relay $sink; do ip netns del "$n" 2>/dev/null || true; done
	rm -f "$sock" "$state"
}
trap cleanup EXIT INT TERM
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Building the chain: $gen (veth0) -> $relay (veth1 | veth3) -> $sink (veth2)"
for n in $gen $relay $sink; do
	ip netns add "$n"
	ip -n "$n" link set lo up
done
ip -n $gen link add veth0 type veth peer name veth1 netns $relay
ip -n $relay link add veth3 type veth peer name veth2 netns $sink
ip -n $gen link set veth0 up; ip -n $relay link set veth1 up; ip -n $relay link set veth3 up; ip -n $sink link set veth2 up
# The generator sends from 192.0.2.10: the relay has no route back to it, and rp_filter=1
# makes the kernel drop the stream before any socket or multicast routing sees it.
ip -n $gen addr add 192.0.2.10/24 dev veth0
ip -n $gen route add 224.0.0.0/4 dev veth0
ip -n $relay addr add 10.0.0.2/24 dev veth1
ip -n $relay addr add 10.0.1.1/24 dev veth3
ip -n $sink addr add 10.0.1.2/24 dev veth2
ip netns exec $relay sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.veth1.rp_filter=1

say "Starting mcr in $relay, listening on veth1"
ip netns exec $relay "$MCR" supervisor --interface veth1 --control-socket-path "$sock" --state-file "$state" --workers 1 &
sup_pid=$!
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done

say "Adding a rule at runtime: 239.1.1.1:5001 on veth1 -> 239.10.10.10:6001 on veth3"
ip netns exec $relay "$MCR" rule add --socket-path "$sock" --input-group 239.1.1.1 --input-port 5001 --outputs 239.10.10.10:6001:veth3
ip netns exec $relay "$MCR" rule list --socket-path "$sock"

say "Sending 10,000 packets of 1024 bytes at 20,000 pps from 192.0.2.10 (unroutable at the relay)"
ip netns exec $sink "$MCR" sink --group 239.10.10.10:6001 --interface veth2 --count 10000 --timeout 5 > /tmp/$id.sink &
sink_pid=$!
sleep 0.5
ip netns exec $gen "$MCR" gen --dest 239.1.1.1:5001 --interface veth0 --source 192.0.2.10 --rate 20000 --count 10000 --size 1024

wait $sink_pid || true
say "What arrived at the sink (a UDP socket joined to 239.10.10.10:6001 in $sink)"
cat /tmp/$id.sink; rm -f /tmp/$id.sink

say "mcr's own counters"
ip netns exec $relay "$MCR" stats --socket-path "$sock"
