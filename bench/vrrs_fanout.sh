#!/usr/bin/env bash
# VRRS fan-out benchmark: one VRRP router whose leader name drives N pathway macvlans (each on
# its own interface, as VRRS allows one pathway per interface). The router starts alone, so it
# goes Backup -> Master after Master_Down_Interval; the runtime logs, per fan-out, the time
# from the leader's transition to the last pathway switched (protodown changed in one netlink
# batch) and its gratuitous ARP sent. Then `netvrrp stop` measures the way back.
#
#   bench/vrrs_fanout.sh [N]        N defaults to 1000; root; release build
set -euo pipefail
N=${1:-1000}
[ "$(id -u)" -eq 0 ] || { echo "run as root (creates a network namespace)" >&2; exit 1; }
cd "$(dirname "$0")/.."
cargo build -q --release
BIN=$PWD/target/release/netvrrp
NS=nvbench-fan-$$
DIR=$(mktemp -d)
cleanup() {
    ip netns pids "$NS" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link add eth0 type veth peer name eth0p
ip -n "$NS" link set eth0 up
ip -n "$NS" link set eth0p up
ip -n "$NS" addr add 10.250.0.1/24 dev eth0
pairs=$(( (N + 1) / 2 ))
{
    for i in $(seq 1 "$pairs"); do
        echo "link add p$((2*i-1)) type veth peer name p$((2*i))"
    done
    for i in $(seq 1 $((2*pairs))); do echo "link set p$i up"; done
} > "$DIR/links.batch"
ip -n "$NS" -batch "$DIR/links.batch"
{
    cat <<TOML
[defaults]
advertisement-interval = 100

[[vrrp]]
interface = "eth0"
vrid = 1
priority = 200
ipv4 = ["10.250.0.254/24"]
vrrs-leader = ["bench"]
TOML
    for i in $(seq 1 "$N"); do
        printf '\n[[vrrs.pathway]]\nleader = "bench"\ninterface = "p%d"\nmac = "02:fa:00:00:%02x:%02x"\naddress = ["10.%d.%d.1/24"]\n' \
            "$i" $((i / 256)) $((i % 256)) $((100 + i / 256)) $((i % 256))
    done
} > "$DIR/fanout.toml"
t0=$(date +%s.%N)
"$BIN" --netns "$NS" --run-dir "$DIR/run" -v --log-format json apply -f "$DIR/fanout.toml" >/dev/null
t1=$(date +%s.%N)
for _ in $(seq 1 100); do
    grep -q '"fan-out done' "$DIR/run/netvrrp.log" 2>/dev/null && break
    sleep 0.1
done
"$BIN" --netns "$NS" --run-dir "$DIR/run" stop
python3 - "$DIR/run/netvrrp.log" "$N" "$t0" "$t1" <<'PY'
import json, sys
log, n, t0, t1 = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
runs = []
for line in open(log):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    f = e.get("fields", {})
    if f.get("message", "").startswith("fan-out done"):
        runs.append((f["pathways"], f["elapsed_us"] / 1000.0))
print(f"apply of 1 router + {n} pathway macvlans (create + runtime start): {(t1 - t0) * 1000:.0f} ms")
for i, (p, ms) in enumerate(runs):
    what = {0: "start-up corrections", 1: "leader -> MASTER", 2: "leader -> INITIALIZE (stop)"}.get(i, "fan-out")
    print(f"{what:30s} {p:5d} pathways switched in {ms:8.2f} ms")
PY
