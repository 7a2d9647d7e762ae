#!/usr/bin/env bash
# netvrrp demo: two routers and a host on a bridge, each in its own network namespace.
# Builds netvrrp, applies a config on both routers, shows the election, kills the master,
# shows the takeover while the host keeps pinging the VIP, and cleans everything up.
# Needs root. Touches nothing outside the namespaces it creates (prefix nvdemo-).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root (it creates network namespaces): sudo $0"; exit 1; }
# The tools it uses (iproute2, procps, iputils-ping, nftables) and, when it builds, the C
# linker rustc calls (gcc, libc6-dev); lists in scripts/deps: the missing ones are installed
# with apt-get (no daemon started), or named when that cannot be done. NETVRRP_NO_INSTALL=1
# only names them.
source scripts/deps
sets=(demo)
[ -n "${NETVRRP_BIN:-}" ] || sets+=(build)
if [ -n "${NETVRRP_NO_INSTALL:-}" ]; then
    missing=$(deps_missing "${sets[@]}")
    [ -z "$missing" ] || { echo "missing packages (Debian names): ${missing//$'\n'/ }" >&2; exit 1; }
else
    deps_ensure "${sets[@]}"
fi
if [ -z "${NETVRRP_BIN:-}" ]; then
    # Through sudo, built as the user who ran it (their rustup toolchain, which sudo's PATH
    # does not have; target/ stays theirs).
    cargo_invoker build --release --quiet
    NETVRRP_BIN=$PWD/target/release/netvrrp
fi
BIN=$NETVRRP_BIN
P=nvdemo
DIR=/tmp/$P
VIP4=10.77.0.254
VIP6=2001:db8:77::254

cleanup() {
    for n in r1 r2 h1 sw; do
        ip netns pids $P-$n 2>/dev/null | xargs -r kill -9 2>/dev/null || true
        ip netns del $P-$n 2>/dev/null || true
    done
    rm -rf "$DIR"
}
trap cleanup EXIT
cleanup
mkdir -p "$DIR"

ip netns add $P-sw
ip -n $P-sw link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0
ip -n $P-sw link set br0 up
k=0
for n in r1 r2 h1; do
    k=$((k + 1))
    ip netns add $P-$n
    ip link add eth0 netns $P-$n type veth peer name port-$n netns $P-sw
    ip -n $P-sw link set port-$n master br0 up
    ip netns exec $P-$n sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
    ip -n $P-$n link set lo up
    ip -n $P-$n link set eth0 up
done
ip -n $P-r1 addr add 10.77.0.1/24 dev eth0
ip -n $P-r2 addr add 10.77.0.2/24 dev eth0
ip -n $P-h1 addr add 10.77.0.100/24 dev eth0
ip -n $P-r1 addr add 2001:db8:77::1/64 dev eth0 nodad
ip -n $P-r2 addr add 2001:db8:77::2/64 dev eth0 nodad

for r in r1 r2; do
    prio=$([ $r = r1 ] && echo 200 || echo 100)
    cat > "$DIR/$r.toml" <<TOML
[defaults]
advertisement-interval = 100   # ms (VRRPv3)

[[vrrp]]
interface = "eth0"
vrid = 10
priority = $prio
ipv4 = ["$VIP4/24"]
ipv6 = ["$VIP6/64"]
TOML
done

nv() { local r=$1; shift; "$BIN" --netns "$P-$r" --run-dir "$DIR/run-$r" "$@"; }

echo "== apply on r1 (priority 200) and r2 (priority 100)"
nv r1 apply -f "$DIR/r1.toml"
nv r2 apply -f "$DIR/r2.toml"
sleep 1.5
for r in r1 r2; do
    echo "== $r: netvrrp show vrrp"
    nv $r show vrrp | grep -E 'Interface|Address family|State|Priority|Master Down|Protodown' | sed 's/^/   /'
done

echo "== host pings the VIP; its neighbour entry shows the virtual MAC"
ip netns exec $P-h1 ping -c 2 -i 0.2 -W 1 $VIP4 | tail -2
ip -n $P-h1 neigh show $VIP4

echo "== kill -9 r1's runtime and cut its port (the box died); host keeps pinging"
ip netns exec $P-h1 ping -i 0.02 -c 100 -W 1 -D $VIP4 > "$DIR/ping.log" 2>&1 &
PING=$!
sleep 0.3
ip -n $P-sw link set port-r1 down
kill -9 "$(cat "$DIR/run-r1/netvrrp.pid")"
wait $PING || true
echo "   ping: $(grep -c 'bytes from' "$DIR/ping.log") of 100 replies ($(grep -o '[0-9]*% packet loss' "$DIR/ping.log"))"
echo "== r2 after the takeover"
nv r2 show vrrp | grep -E 'Address family|State|Master address|Protodown' | sed 's/^/   /'
nv r2 stop
echo "== done; cleaning up"
