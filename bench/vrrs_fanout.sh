#!/usr/bin/env bash
# VRRS fan-out benchmark: one VRRP router whose leader name drives N pathway macvlans (each on
# its own interface, as VRRS allows one pathway per interface). Every interface of the router's
# namespace (eth0 and the pathway interfaces p1..pN) is a veth whose peer (eth0p, q1..qN) sits
# in a second, "lan" namespace, up with no address and nothing else: what the router sends goes
# to another box, as from a real NIC (with both ends in the router's namespace every gratuitous
# ARP was received by the peer pathway inline in the sender's syscall and processed by ARP,
# most of the cost of sending them). The router starts alone, so it goes Backup -> Master
# after Master_Down_Interval; the runtime logs, per fan-out, the time from the leader's
# transition to the last pathway switched (protodown changed) and its gratuitous ARP sent,
# split into queueing, the protodown part, addresses and gratuitous packets. Then a flap
# (FANOUT_FLAP=1, the default; empty to skip): an address owner starts on the far side, the
# leader goes BACKUP, the owner stops, and the leader is MASTER again ~0.7 s after it went
# BACKUP, while the kernel still works through the carrier-off aftermath of that fan-out.
# Then `netvrrp stop` measures the way back (protodown on, no packets).
# References in the same run, on the same macvlans (best of 3 each way, nobody listening):
# `ip -batch` making the same protodown changes one device at a time, and `ip link set group
# G protodown off|on` changing them all with one request (the macvlans are put into device
# group G outside the timed part); each reported as a ratio.
#
#   bench/vrrs_fanout.sh [N...]        N defaults to $FANOUT_SIZES or "10 1000";
#                                      FANOUT_RUNS=3 (fresh namespaces per run)
#
# Figures (from the runtime's JSON log, "fan-out done" events, told apart by whether protodown
# went off or on): leader -> MASTER (the first, and the one after the flap) and leader ->
# INITIALIZE (stop), last pathway switched, in ms, with the protodown and gratuitous parts of
# the first; the ip -batch and device-group references; and the wall time of the `apply`
# that creates the N pathway macvlans and starts the runtime. 3 s adverts: the router becomes
# Master ~10 s after start, once the kernel has finished the aftermath of building the lab
# (link-watch works through non-urgent carrier events 100 devices a second, holding the rtnl
# lock). With 1 s adverts (Master after ~3.6 s) the fan-out competed with that backlog: 22-34
# ms when the backlog still held netvrrp's own new macvlans (apply now settles them), 10-24
# ms (median 13.9, 4 runs) after that, against 11-15 with 3 s adverts.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
bench_start vrrs_fanout

sizes_env=${FANOUT_SIZES:-10 1000}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || read -r -a SIZES <<<"$sizes_env"
RUNS=${FANOUT_RUNS:-3}
FLAP=${FANOUT_FLAP-1} # empty: no flap (MASTER -> BACKUP -> MASTER) part
REF_GROUP=4242 # device group of the reference (netvrrp left the macvlans in group 0 or its own)

one_run() { # N RUN -> appends "apply master stop protodown gratuitous batch_off batch_on group_off group_on again" (ms) to $work/N.runs
    local n=$1 i=$2 ns=$NSP-fan$2 lan=$NSP-lan$2 d=$work/$1-$2 k t0 t1 pid
    mkdir -p "$d"
    mkns "$ns"
    mkns "$lan"
    # The far side is "another box": no IPv6 either, so the peers carry no address at all.
    ip netns exec "$lan" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    {
        echo "link add eth0 type veth peer name eth0p netns $lan"
        for ((k = 1; k <= n; k++)); do echo "link add p$k type veth peer name q$k netns $lan"; done
        echo "link set eth0 up"
        for ((k = 1; k <= n; k++)); do echo "link set p$k up"; done
    } >"$d/links.batch"
    {
        echo "link set eth0p up"
        for ((k = 1; k <= n; k++)); do echo "link set q$k up"; done
    } >"$d/lan.batch"
    {
        echo "link del eth0"
        for ((k = 1; k <= n; k++)); do echo "link del p$k"; done
    } >"$d/del.batch"
    ip -n "$ns" -batch "$d/links.batch"
    ip -n "$lan" -batch "$d/lan.batch"
    ip -n "$ns" addr add 10.250.0.1/24 dev eth0
    {
        cat <<TOML
[defaults]
advertisement-interval = 3000

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
    # Polled by wait_for: the leader's state; at least $2 fan-outs logged with a nonzero $1.
    leader_is() { "$NETVRRP" --netns "$ns" --run-dir "$d/run" show vrrp --json | grep -q "\"state\": *\"$1\""; }
    fanouts_logged() { [ "$(grep -c "\"$1\":[1-9]" "$d/run/netvrrp.log")" -ge "$2" ]; }
    wait_for 40 leader_is master \
        || note "N=$n run $i: the router did not become master"
    wait_for 40 grep -q '"fan-out done' "$d/run/netvrrp.log" || note "N=$n run $i: no fan-out logged"
    sleep 1
    # A flap: an address owner (priority 255) starts on the far side and takes over at once,
    # then stops (priority 0): the leader goes MASTER -> BACKUP -> MASTER within ~1 s, while
    # the kernel still works through the carrier-off aftermath of the BACKUP fan-out.
    if [ -n "$FLAP" ]; then
        # The owner advertises from its primary address, .2: .254 is local to the leader while
        # it is master, and the kernel drops packets from a local source.
        ip -n "$lan" addr add 10.250.0.2/24 dev eth0p
        ip -n "$lan" addr add 10.250.0.254/24 dev eth0p
        printf '[defaults]\nadvertisement-interval = 3000\n\n[[vrrp]]\ninterface = "eth0p"\nvrid = 1\npriority = 255\nipv4 = ["10.250.0.254/24"]\n' >"$d/owner.toml"
        "$NETVRRP" --netns "$lan" --run-dir "$d/owner" apply -f "$d/owner.toml" >"$d/owner.out" 2>&1 \
            || { tail -20 "$d/owner.out" >&2; die "apply of the owner failed"; }
        wait_for 20 leader_is backup || note "N=$n run $i: the leader did not become backup"
        wait_for 20 fanouts_logged protodown_on 1 || note "N=$n run $i: no BACKUP fan-out logged"
        "$NETVRRP" --netns "$lan" --run-dir "$d/owner" stop >/dev/null 2>&1 || true
        wait_for 20 fanouts_logged protodown_off 2 || note "N=$n run $i: no second MASTER fan-out logged"
        sleep 1
    fi
    pid=$(readpid "$d/run/netvrrp.pid")
    "$NETVRRP" --netns "$ns" --run-dir "$d/run" stop >/dev/null 2>&1 || true
    [ -z "$pid" ] || wait_for 20 bash -c "! kill -0 $pid 2>/dev/null" || note "N=$n run $i: the runtime did not exit"
    # Same-run references on the macvlans netvrrp made (as it left them: protodown on, nobody
    # listening): one RTM_NEWLINK per device (ip -batch), and one for the whole device group
    # (ifindex 0 + IFLA_GROUP: the kernel changes every member under one RTNL hold). The group
    # is assigned here, outside the timed part.
    ip -n "$ns" -o link show type macvlan | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -v '^vrrp' >"$d/devs" || true
    sed 's/.*/link set & protodown off/' "$d/devs" >"$d/off.batch"
    sed 's/.*/link set & protodown on/' "$d/devs" >"$d/on.batch"
    sed "s/.*/link set & group $REF_GROUP/" "$d/devs" >"$d/group.batch"
    ip -n "$ns" -batch "$d/group.batch"
    sleep 0.5
    local kind ms
    : >"$d/ref"
    for _ in 1 2 3; do
        timed "$d/ref" batch_off ip -n "$ns" -batch "$d/off.batch"
        timed "$d/ref" batch_on ip -n "$ns" -batch "$d/on.batch"
        timed "$d/ref" group_off ip -n "$ns" link set group "$REF_GROUP" protodown off
        timed "$d/ref" group_on ip -n "$ns" link set group "$REF_GROUP" protodown on
    done
    [ "$(ip -n "$ns" -d -o link show group "$REF_GROUP" | grep -c 'protodown on')" -eq "$(wc -l <"$d/devs")" ] \
        || note "N=$n run $i: the group reference left some devices with protodown off"
    local -A best=()
    while read -r kind ms; do
        { [ -z "${best[$kind]:-}" ] || [ "$ms" -lt "${best[$kind]}" ]; } && best[$kind]=$ms
    done <"$d/ref"
    $PY - "$d/run/netvrrp.log" "$t0" "$t1" "${best[batch_off]:-0}" "${best[batch_on]:-0}" \
        "${best[group_off]:-0}" "${best[group_on]:-0}" >>"$work/$n.runs" <<'PY'
import json, sys
log, t0, t1 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
refs = [int(a) / 1000.0 for a in sys.argv[4:8]]
masters, ons = [], []
for line in open(log):
    try:
        f = json.loads(line).get("fields", {})
    except ValueError:
        continue
    if not f.get("message", "").startswith("fan-out done"):
        continue
    if f.get("protodown_off", 0) > 0:
        masters.append(f)
    elif f.get("protodown_on", 0) > 0:
        ons.append(f)
# The first leader -> MASTER, the one after the flap (if any), the stop (the last one on).
master = masters[0] if masters else None
again = masters[1] if len(masters) > 1 else None
stop = ons[-1] if ons else None
ms = lambda f, k: f"{f[k] / 1000.0:.3f}" if f and k in f else "nan"
print(f"{(t1 - t0) * 1000:.3f} {ms(master, 'elapsed_us')} {ms(stop, 'elapsed_us')} "
      f"{ms(master, 'protodown_us')} {ms(master, 'gratuitous_us')} " + " ".join(f"{r:.3f}" for r in refs)
      + f" {ms(again, 'elapsed_us')}")
PY
    ns_kill_all "$ns"
    # Deleting the pathway veths takes their macvlans and their peers in $lan along, in one
    # batch and synchronously (a bare `ip netns del` would leave the kernel tearing thousands of
    # devices down in the background, under the next run's measurement).
    ip -n "$ns" -force -batch "$d/del.batch" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    ip netns del "$lan" 2>/dev/null || true
}

ratio() { # A B: per-run A / B (runs where B is 0 are left out)
    paste "$1" "$2" | awk '$2 > 0 {printf "%.3f\n", $1 / $2}'
}
median() { stats "$1" | cut -d' ' -f1; }

timed() { # FILE KIND CMD...: run CMD, append "KIND microseconds" to FILE, then pause 0.5 s
    local out=$1 kind=$2 a b
    shift 2
    a=$(now_ns)
    "$@"
    b=$(now_ns)
    echo "$kind $(((b - a) / 1000))" >>"$out"
    sleep 0.5
}

for n in "${SIZES[@]}"; do
    : >"$work/$n.runs"
    for ((i = 1; i <= RUNS; i++)); do one_run "$n" "$i"; done
    for col in 1:apply 2:master 3:stop 4:protodown 5:gratuitous 6:ref_off 7:ref_on 8:group_off 9:group_on 10:again; do
        awk -v c="${col%%:*}" '{print $c}' "$work/$n.runs" >"$work/$n.${col#*:}"
    done
    ratio "$work/$n.master" "$work/$n.ref_off" >"$work/$n.ratio_off"
    ratio "$work/$n.stop" "$work/$n.ref_on" >"$work/$n.ratio_on"
    ratio "$work/$n.master" "$work/$n.group_off" >"$work/$n.ratio_group_off"
    ratio "$work/$n.stop" "$work/$n.group_on" >"$work/$n.ratio_group_on"
    target=()
    [ "$n" -lt 1000 ] || target=(--meta target_ms=20)
    fig "$n pathways: leader -> MASTER, last pathway switched" ms "$work/$n.master" "${target[@]}"
    fig "$n pathways: leader -> MASTER, of which the protodown batch" ms "$work/$n.protodown"
    fig "$n pathways: leader -> MASTER, of which gratuitous ARP" ms "$work/$n.gratuitous"
    [ -z "$FLAP" ] || fig "$n pathways: leader -> MASTER again ~1 s after -> BACKUP (flap), last pathway switched" ms "$work/$n.again" "${target[@]}"
    fig "$n pathways: leader -> INITIALIZE (stop), last pathway switched" ms "$work/$n.stop"
    fig "$n pathways: ip -batch protodown off, same devices (best of 3)" ms "$work/$n.ref_off"
    fig "$n pathways: ip -batch protodown on, same devices (best of 3)" ms "$work/$n.ref_on"
    fig "$n pathways: ip link set group protodown off, same devices (best of 3)" ms "$work/$n.group_off"
    fig "$n pathways: ip link set group protodown on, same devices (best of 3)" ms "$work/$n.group_on"
    fig "$n pathways: ratio leader -> MASTER / ip -batch protodown off" ratio "$work/$n.ratio_off"
    fig "$n pathways: ratio stop / ip -batch protodown on" ratio "$work/$n.ratio_on"
    fig "$n pathways: ratio leader -> MASTER / group protodown off" ratio "$work/$n.ratio_group_off"
    fig "$n pathways: ratio stop / group protodown on" ratio "$work/$n.ratio_group_on"
    fig "$n pathways: apply (create the macvlans, start the runtime)" ms "$work/$n.apply"
    read -r med mn mx c < <(stats "$work/$n.master")
    printf 'vrrs_fanout N=%-5d leader -> MASTER: median %s min %s max %s ms (n=%s); stop: %s ms\n' \
        "$n" "$med" "$mn" "$mx" "$c" "$(median "$work/$n.stop")"
    [ -z "$FLAP" ] || printf '  after a flap (MASTER -> BACKUP -> MASTER in ~1 s): median %s ms\n' "$(median "$work/$n.again")"
    printf '  ip -batch off/on: %s / %s ms, ratio master/off %s, stop/on %s\n' \
        "$(median "$work/$n.ref_off")" "$(median "$work/$n.ref_on")" \
        "$(median "$work/$n.ratio_off")" "$(median "$work/$n.ratio_on")"
    printf '  group off/on: %s / %s ms, ratio master/off %s, stop/on %s\n' \
        "$(median "$work/$n.group_off")" "$(median "$work/$n.group_on")" \
        "$(median "$work/$n.ratio_group_off")" "$(median "$work/$n.ratio_group_on")"
done
figset runs="$RUNS" "method=\"one router (3 s adverts) leading N pathways, one per veth whose peer is in a second namespace; elapsed from the leader's transition to the last pathway's protodown change + GARP, as logged by the runtime\""
