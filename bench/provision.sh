#!/usr/bin/env bash
# Provisioning benchmark: N macvlans with one IPv4 address each, `ip -batch` vs netvrrp's
# Kernel::execute_many (examples/provision_bench.rs). Run as root from anywhere:
#
#   bench/provision.sh [N]            N defaults to 1000
#   ROUNDS=5 PROFILE=release bench/provision.sh 2000
#   THREADS=1 bench/provision.sh      multi-thread tokio runtime instead of current-thread
#
# Each side gets a fresh namespace with a veth pair and runs, per device: create (MAC in
# the create request, mode bridge), addrgenmode none, address, protodown on, up. Both are
# timed as whole processes (start-up, parent lookup and all). Prints every round, the
# medians and the ratio netvrrp / ip.
set -euo pipefail

N=${1:-1000}
ROUNDS=${ROUNDS:-3}
PROFILE=${PROFILE:-dev}
THREADS=${THREADS:-}

[ "$(id -u)" -eq 0 ] || { echo "run as root (creates network namespaces)" >&2; exit 1; }
cd "$(dirname "$0")/.."

cargo build -q --profile "$PROFILE" --example provision_bench
case "$PROFILE" in dev) dir=debug ;; *) dir=$PROFILE ;; esac
BIN=target/$dir/examples/provision_bench

work=$(mktemp -d)
namespaces=()
cleanup() {
    for ns in "${namespaces[@]}"; do
        # Deleting the lower device removes its macvlans synchronously; a bare
        # `ip netns del` would leave the kernel tearing 1,000 devices down in the
        # background while the next round is being measured.
        ip -n "$ns" link del veth0 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
    namespaces=()
}
trap 'cleanup; rm -rf "$work"' EXIT

batch=$work/batch
for ((i = 0; i < N; i++)); do
    hi=$((i / 256)) lo=$((i % 256))
    mac=$(printf '02:00:00:00:%02x:%02x' "$hi" "$lo")
    cat <<EOF
link add link veth0 name bench$i address $mac type macvlan mode bridge
link set dev bench$i addrgenmode none
addr add 10.$hi.$lo.1/24 dev bench$i
link set dev bench$i protodown on
link set dev bench$i up
EOF
done >"$batch"

setup() {
    ip netns add "$1"
    namespaces+=("$1")
    ip -n "$1" link add veth0 type veth peer name veth1
    ip -n "$1" link set veth0 up
    ip -n "$1" link set veth1 up
}

now_ns() { date +%s%N; }

check() { # ns: every device up with protodown and its address
    local links addrs
    links=$(ip -n "$1" -br link show | grep -c '^bench.*UP' || true)
    addrs=$(ip -n "$1" -4 -br addr show | grep -c '^bench' || true)
    if [ "$links" -ne "$N" ] || [ "$addrs" -ne "$N" ]; then
        echo "$1: expected $N devices/addresses, found $links/$addrs" >&2
        exit 1
    fi
}

run_ip() {
    local t0 t1
    t0=$(now_ns)
    ip -n "$1" -batch "$batch"
    t1=$(now_ns)
    echo $(((t1 - t0) / 1000))
}

run_rs() {
    local t0 t1
    t0=$(now_ns)
    "$BIN" --netns "$1" --parent veth0 --count "$N" ${THREADS:+--threads} >"$work/rs.out"
    t1=$(now_ns)
    echo $(((t1 - t0) / 1000))
}

ip_us=() rs_us=()
for ((r = 1; r <= ROUNDS; r++)); do
    a=nvbench-ip-$$-$r b=nvbench-rs-$$-$r
    setup "$a"
    setup "$b"
    # Alternate who goes first so neither always runs on a warmer (or busier) machine.
    if ((r % 2)); then
        t_ip=$(run_ip "$a")
        t_rs=$(run_rs "$b")
    else
        t_rs=$(run_rs "$b")
        t_ip=$(run_ip "$a")
    fi
    check "$a"
    check "$b"
    ip_us+=("$t_ip") rs_us+=("$t_rs")
    printf 'round %d: ip -batch %7.1f ms   netvrrp %7.1f ms   (%s)\n' "$r" \
        "$(echo "$t_ip / 1000" | bc -l)" "$(echo "$t_rs / 1000" | bc -l)" "$(cat "$work/rs.out")"
    cleanup
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
m_ip=$(median "${ip_us[@]}")
m_rs=$(median "${rs_us[@]}")
runtime=current-thread
[ -z "$THREADS" ] || runtime=multi-thread
printf 'N=%d profile=%s runtime=%s rounds=%d\n' "$N" "$PROFILE" "$runtime" "$ROUNDS"
printf 'median: ip -batch %.1f ms, netvrrp %.1f ms, ratio %.2f\n' \
    "$(echo "$m_ip / 1000" | bc -l)" "$(echo "$m_rs / 1000" | bc -l)" "$(echo "$m_rs / $m_ip" | bc -l)"
