#!/usr/bin/env bash
# VRRS fan-out benchmark: one VRRP router whose leader name drives N pathway macvlans (each on
# its own interface, as VRRS allows one pathway per interface). The router starts alone, so it
# goes Backup -> Master after Master_Down_Interval; the runtime logs, per fan-out, the time
# from the leader's transition to the last pathway switched (protodown changed in one netlink
# batch) and its gratuitous ARP sent, split into queueing, the protodown batch, addresses and
# gratuitous packets. Then `netvrrp stop` measures the way back (protodown on, no packets).
# Reference in the same run: `ip -batch` making the same protodown changes.
#
#   bench/vrrs_fanout.sh [N]        N defaults to 1000; root; release build
#   NETVRRP_BIN=path bench/vrrs_fanout.sh   run that binary instead of building
set -euo pipefail
N=${1:-1000}
[ "$(id -u)" -eq 0 ] || { echo "run as root (creates a network namespace)" >&2; exit 1; }
cd "$(dirname "$0")/.."
if [ -n "${NETVRRP_BIN:-}" ]; then
    BIN=$NETVRRP_BIN    # another build, e.g. for a before/after comparison
else
    cargo build -q --release
    BIN=$PWD/target/release/netvrrp
fi
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
    # 1 s adverts: the router becomes Master ~3.6 s after start, once the kernel has finished
    # the apply's aftermath (1,000 new devices), so the fan-out is measured on its own.
    cat <<TOML
[defaults]
advertisement-interval = 1000

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
for _ in $(seq 1 50); do [ -e "$DIR/run/netvrrp.pid" ] || break; sleep 0.1; done
# Same-run reference: `ip -batch` flipping protodown on the same macvlans netvrrp made (as it
# left them: IPv6 off, addresses, up), with nobody listening to link events. Best of 3 each.
ip -n "$NS" -o link show type macvlan | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -v '^vrrp' > "$DIR/devs"
sed 's/.*/link set & protodown off/' "$DIR/devs" > "$DIR/off.batch"
sed 's/.*/link set & protodown on/' "$DIR/devs" > "$DIR/on.batch"
ref() {
    local best=""
    for _ in 1 2 3; do
        local a b
        a=$(date +%s%N)
        ip -n "$NS" -batch "$DIR/$1.batch"
        b=$(date +%s%N)
        sleep 0.5
        ip -n "$NS" -batch "$DIR/$2.batch"
        sleep 0.5
        local ms=$(( (b - a) / 1000 ))
        [ -z "$best" ] || [ "$ms" -lt "$best" ] && best=$ms
    done
    echo "$best"
}
ref_off=$(ref off on)
ref_on=$(ref on off)
python3 - "$DIR/run/netvrrp.log" "$N" "$t0" "$t1" "$ref_off" "$ref_on" "$(wc -l < "$DIR/devs")" <<'PY'
import json, sys
log, n, t0, t1 = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
ref_off, ref_on, ndev = int(sys.argv[5]) / 1000.0, int(sys.argv[6]) / 1000.0, int(sys.argv[7])
runs = []
for line in open(log):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    f = e.get("fields", {})
    if f.get("message", "").startswith("fan-out done"):
        parts = ("queued_us", "protodown_us", "addresses_us", "gratuitous_us")
        if f.get("protodown_off", 0) > 0:
            what = "leader -> MASTER (off)"
        elif f.get("protodown_on", 0) > 0:
            what = "leader leaves MASTER (on)"
        else:
            what = "fan-out"
        runs.append((what, f["pathways"], f["elapsed_us"] / 1000.0, [f.get(k, 0) / 1000.0 for k in parts]))
print(f"apply of 1 router + {n} pathway macvlans (create + runtime start): {(t1 - t0) * 1000:.0f} ms")
for what, p, ms, (q, pd, ad, ga) in runs:
    print(f"{what:30s} {p:5d} pathways switched in {ms:8.2f} ms"
          f"  (queued {q:.2f}, protodown batch {pd:.2f}, addresses {ad:.2f}, gratuitous {ga:.2f})")
print(f"reference: ip -batch protodown off on {ndev} macvlans {ref_off:8.2f} ms, on {ref_on:8.2f} ms (best of 3, nobody listening)")
for what, p, ms, _ in runs:
    ref = ref_off if "MASTER (off)" in what else ref_on
    if ref > 0:
        print(f"ratio {what} / ip -batch protodown {what[-4:-1].strip('(')}: {ms / ref:.2f}")
PY
