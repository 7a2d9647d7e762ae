#!/usr/bin/env bash
# VRRS fan-out benchmark: one VRRP router whose leader name drives N pathway macvlans (each on
# its own interface, as VRRS allows one pathway per interface). The router starts alone, so it
# goes Backup -> Master after Master_Down_Interval; the runtime logs, per fan-out, the time
# from the leader's transition to the last pathway switched (protodown changed in one netlink
# batch) and its gratuitous ARP sent, split into queueing, the protodown batch, addresses and
# gratuitous packets. Then `netvrrp stop` measures the way back (protodown on, no packets).
# Reference in the same run: `ip -batch` making the same protodown changes on the same
# macvlans (best of 3 each way, nobody listening), reported as a ratio.
#
#   bench/vrrs_fanout.sh [N...]        N defaults to $FANOUT_SIZES or "10 1000";
#                                      FANOUT_RUNS=3 (a fresh namespace per run)
#
# Figures (from the runtime's JSON log, "fan-out done" events, told apart by whether protodown
# went off or on): leader -> MASTER and leader -> INITIALIZE (stop), last pathway switched, in
# ms, with the protodown-batch and gratuitous parts of the first; the ip -batch reference; and
# the wall time of the `apply` that creates the N pathway macvlans and starts the runtime.
# 1 s adverts: the router becomes Master ~3.6 s after start, once the kernel has finished the
# apply's aftermath (N new devices), so the fan-out is measured on its own.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
bench_start vrrs_fanout

sizes_env=${FANOUT_SIZES:-10 1000}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || read -r -a SIZES <<<"$sizes_env"
RUNS=${FANOUT_RUNS:-3}

one_run() { # N RUN -> appends "apply_ms master_ms stop_ms protodown_ms gratuitous_ms ref_off_ms ref_on_ms" to $work/N.runs
    local n=$1 i=$2 ns=$NSP-fan$2 d=$work/$1-$2 pairs k t0 t1 c1 pid
    mkdir -p "$d"
    mkns "$ns"
    mkns "$ns-lan"
    ip -n "$ns" link add eth0 type veth peer name eth0p
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set eth0p up
    ip -n "$ns" addr add 10.250.0.1/24 dev eth0
    pairs=$(((n + 1) / 2))
    {
        for ((k = 1; k <= n; k++)); do echo "link add p$k type veth peer name q$k netns $ns-lan"; done
        for ((k = 1; k <= n; k++)); do echo "link set p$k up"; done
    } >"$d/links.batch"
    ip -n "$ns" -batch "$d/links.batch"
    for ((k = 1; k <= n; k++)); do echo "link set q$k up"; done | ip -n "$ns-lan" -batch -
    {
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
        for ((k = 1; k <= n; k++)); do
            printf '\n[[vrrs.pathway]]\nleader = "bench"\ninterface = "p%d"\nmac = "02:fa:00:00:%02x:%02x"\naddress = ["10.%d.%d.1/24"]\n' \
                "$k" $((k / 256)) $((k % 256)) $((100 + k / 256)) $((k % 256))
        done
    } >"$d/fanout.toml"
    t0=$(now)
    "$NETVRRP" --netns "$ns" --run-dir "$d/run" -v --log-format json apply -f "$d/fanout.toml" >"$d/apply.out" 2>&1 \
        || { tail -20 "$d/apply.out" >&2; die "apply of $n pathways failed"; }
    t1=$(now)
    # The runtime logs a fan-out only when pathways changed (start-up corrections may or may
    # not appear): the leader -> MASTER one is the last line once the router is master and the
    # fan-out had time to finish; the stop one is whatever comes after `stop`.
    wait_for 20 bash -c "'$NETVRRP' --netns '$ns' --run-dir '$d/run' show vrrp --json | grep -q '\"state\": *\"master\"'" \
        || note "N=$n run $i: the router did not become master"
    wait_for 20 grep -q '"fan-out done' "$d/run/netvrrp.log" || note "N=$n run $i: no fan-out logged"
    sleep 1
    pid=$(readpid "$d/run/netvrrp.pid")
    "$NETVRRP" --netns "$ns" --run-dir "$d/run" stop >/dev/null 2>&1 || true
    [ -z "$pid" ] || wait_for 20 bash -c "! kill -0 $pid 2>/dev/null" || note "N=$n run $i: the runtime did not exit"
    # Same-run reference on the macvlans netvrrp made (as it left them).
    ip -n "$ns" -o link show type macvlan | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -v '^vrrp' >"$d/devs" || true
    sed 's/.*/link set & protodown off/' "$d/devs" >"$d/off.batch"
    sed 's/.*/link set & protodown on/' "$d/devs" >"$d/on.batch"
    local ref_off="" ref_on="" a b ms r
    for r in 1 2 3; do
        a=$(now_ns); ip -n "$ns" -batch "$d/off.batch"; b=$(now_ns)
        ms=$(((b - a) / 1000)); { [ -z "$ref_off" ] || [ "$ms" -lt "$ref_off" ]; } && ref_off=$ms
        sleep 0.5
        a=$(now_ns); ip -n "$ns" -batch "$d/on.batch"; b=$(now_ns)
        ms=$(((b - a) / 1000)); { [ -z "$ref_on" ] || [ "$ms" -lt "$ref_on" ]; } && ref_on=$ms
        sleep 0.5
    done
    $PY - "$d/run/netvrrp.log" "$t0" "$t1" "${ref_off:-0}" "${ref_on:-0}" >>"$work/$n.runs" <<'PY'
import json, sys
log, t0, t1 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
ref_off, ref_on = int(sys.argv[4]) / 1000.0, int(sys.argv[5]) / 1000.0
master = stop = None
for line in open(log):
    try:
        f = json.loads(line).get("fields", {})
    except ValueError:
        continue
    if not f.get("message", "").startswith("fan-out done"):
        continue
    if f.get("protodown_off", 0) > 0:
        master = f  # the last leader -> MASTER fan-out
    elif f.get("protodown_on", 0) > 0:
        stop = f
ms = lambda f, k: f"{f[k] / 1000.0:.3f}" if f and k in f else "nan"
print(f"{(t1 - t0) * 1000:.3f} {ms(master, 'elapsed_us')} {ms(stop, 'elapsed_us')} "
      f"{ms(master, 'protodown_us')} {ms(master, 'gratuitous_us')} {ref_off:.3f} {ref_on:.3f}")
PY
    grep -h "fan-out done" "$d/run/netvrrp.log" >> /tmp/fan_fields.log; ip netns del "$ns-lan"; ns_kill_all "$ns"
    ip netns del "$ns" 2>/dev/null || true
}

for n in "${SIZES[@]}"; do
    : >"$work/$n.runs"
    for ((i = 1; i <= RUNS; i++)); do one_run "$n" "$i"; done
    for col in 1:apply 2:master 3:stop 4:protodown 5:gratuitous 6:ref_off 7:ref_on; do
        awk -v c="${col%%:*}" '{print $c}' "$work/$n.runs" >"$work/$n.${col#*:}"
    done
    paste "$work/$n.master" "$work/$n.ref_off" | awk '$2 > 0 {printf "%.3f\n", $1 / $2}' >"$work/$n.ratio_off"
    paste "$work/$n.stop" "$work/$n.ref_on" | awk '$2 > 0 {printf "%.3f\n", $1 / $2}' >"$work/$n.ratio_on"
    fig "$n pathways: leader -> MASTER, last pathway switched" ms "$work/$n.master" $([ "$n" -ge 1000 ] && echo --meta target_ms=20)
    fig "$n pathways: leader -> MASTER, of which the protodown batch" ms "$work/$n.protodown"
    fig "$n pathways: leader -> MASTER, of which gratuitous ARP" ms "$work/$n.gratuitous"
    fig "$n pathways: leader -> INITIALIZE (stop), last pathway switched" ms "$work/$n.stop"
    fig "$n pathways: ip -batch protodown off, same devices (best of 3)" ms "$work/$n.ref_off"
    fig "$n pathways: ratio leader -> MASTER / ip -batch protodown off" ratio "$work/$n.ratio_off"
    fig "$n pathways: ratio stop / ip -batch protodown on" ratio "$work/$n.ratio_on"
    fig "$n pathways: apply (create the macvlans, start the runtime)" ms "$work/$n.apply"
    read -r med mn mx c < <(stats "$work/$n.master")
    printf 'vrrs_fanout N=%-5d leader -> MASTER: median %s min %s max %s ms (n=%s); stop: %s ms; ip -batch off: %s ms; ratio %s\n' \
        "$n" "$med" "$mn" "$mx" "$c" "$(stats "$work/$n.stop" | cut -d' ' -f1)" \
        "$(stats "$work/$n.ref_off" | cut -d' ' -f1)" "$(stats "$work/$n.ratio_off" | cut -d' ' -f1)"
done
figset runs="$RUNS" "method=\"one router (1 s adverts) leading N pathways, one per veth; elapsed from the leader's transition to the last pathway's protodown change + GARP, as logged by the runtime\""
