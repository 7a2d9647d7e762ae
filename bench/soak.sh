#!/usr/bin/env bash
# Soak: random faults against three netvrrp routers for DURATION seconds, checked all along.
#
#   bench/soak.sh DURATION            seconds (default 300); root; release build
#   bench/run.sh soak                 the same through run.sh (DURATION from the environment)
#
# Lab: a bridge namespace and NODES=3 router namespaces r1..r3 (eth0 on the bridge). Each
# router runs ROUTERS=50 VRRPv3 routers (vrid 1..50 on eth0, ADVERT_MS=10 ms adverts: 60%
# IPv4, 20% dual-stack, 20% IPv6; priorities rotated so masters spread over the nodes), the
# VRRS leader "soak" (vrid 1, IPv4) with PATHWAYS=100 pathways (a macvlan each, on 50 veth
# pairs pw1..pw100 inside the router namespace) and an accounting client.
# Faults (one at a time, one every few seconds, random kind and node; KINDS to choose):
#   none     nothing (a control run: KINDS=none)
#   kill     kill -9 the runtime, restart it with `netvrrp apply` (never r1: the witness
#            whose RSS/fd span the whole run)
#   stop     SIGSTOP the runtime, SIGCONT it
#   link     eth0 (the parent of every router) down, then up
#   reload   `netvrrp apply` with the priorities of 1-10 routers changed
#   pathway  a pathway veth pair deleted, then re-created
# Each fault holds HOLD_MIN..HOLD_MAX seconds (sampled once while it holds), is undone, and
# after SETTLE seconds (default max(1.5 s, 40 x Master_Down_Interval)) SAMPLES=3 samples are
# taken SAMPLE_GAP=0.3 s apart. A sample queries every live runtime at once over its control
# socket (show vrrp, show vrrs pathway) and reads the kernel; the checks, the accounting and
# log checks at the end and the RSS/fd comparison are described in bench/lib/soak.py.
# Evidence for false failovers (they are not hidden: every sample is still checked): a
# 1 ms-sleep scheduling-latency probe, each runtime's loop thread from schedstat every 10 ms
# (on CPU / waiting for a CPU), and tcpdump on the bridge (IPv4 adverts of vrids 1..6) listing
# every Master that went silent for 3.5 intervals without hearing a better advert, outside
# the fault windows of its own node, with where its loop thread's time went meanwhile.
# Prints a summary, writes bench/soak-results.json (RESULTS=path to change), exits 1 on any
# violation. The run's logs are copied to bench/out/soak/ when it fails. SEED replays a fault
# sequence (timing still varies). RT_PRIO=N runs every runtime with `[runtime]
# realtime-priority = N` (its event loop under SCHED_FIFO), for a machine busy with other work.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
bench_init
need_netvrrp

DURATION=${1:-${DURATION:-300}}
NODES=${NODES:-3}
ROUTERS=${ROUTERS:-50}
PATHWAYS=${PATHWAYS:-100}
ADVERT_MS=${ADVERT_MS:-10}
RESULTS=${RESULTS:-$BENCH_DIR/soak-results.json}
[ $((PATHWAYS % 2)) -eq 0 ] || die "PATHWAYS must be even (veth pairs)"
work=$(mktemp -d /tmp/nvb-soak.XXXXXX)
track_dir "$work"

sw=$NSP-sw
mkns "$sw"
ip -n "$sw" link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0
ip -n "$sw" link set br0 up
for ((k = 1; k <= NODES; k++)); do
    ns=$NSP-r$k
    mkns "$ns"
    ip link add eth0 netns "$ns" type veth peer name "port-r$k" netns "$sw"
    ip -n "$sw" link set "port-r$k" master br0 up
    ip -n "$ns" addr add "10.66.0.$k/16" dev eth0
    ip -n "$ns" addr add "fd66::$k/64" dev eth0 nodad
    ip -n "$ns" link set eth0 up
    {
        for ((j = 1; j <= PATHWAYS; j += 2)); do
            echo "link add pw$j type veth peer name pw$((j + 1))"
        done
        for ((j = 1; j <= PATHWAYS; j++)); do echo "link set pw$j up"; done
    } >"$work/links-$k.batch"
    ip -n "$ns" -batch "$work/links-$k.batch"
done
note "lab up: $NODES routers on $sw/br0, $PATHWAYS pathway interfaces each; running ${DURATION}s"

args=(--nsp "$NSP" --bin "$NETVRRP" --work "$work" --results "$RESULTS" --duration "$DURATION"
    --nodes "$NODES" --routers "$ROUTERS" --pathways "$PATHWAYS" --advert-ms "$ADVERT_MS")
[ -n "${SETTLE:-}" ] && args+=(--settle "$SETTLE")
[ -n "${SAMPLES:-}" ] && args+=(--samples "$SAMPLES")
[ -n "${SAMPLE_GAP:-}" ] && args+=(--sample-gap "$SAMPLE_GAP")
[ -n "${HOLD_MIN:-}" ] && args+=(--hold-min "$HOLD_MIN")
[ -n "${HOLD_MAX:-}" ] && args+=(--hold-max "$HOLD_MAX")
[ -n "${KINDS:-}" ] && args+=(--kinds "$KINDS")
[ -n "${SEED:-}" ] && args+=(--seed "$SEED")
# RT_PRIO=N: every runtime with `[runtime] realtime-priority = N` (SCHED_FIFO event loop)
[ -n "${RT_PRIO:-}" ] && args+=(--realtime-priority "$RT_PRIO")
rc=0
$PY "$BENCH_DIR/lib/soak.py" "${args[@]}" || rc=$?
if [ $rc -ne 0 ]; then
    rm -rf "$BENCH_DIR/out/soak"
    mkdir -p "$BENCH_DIR/out/soak"
    for ((k = 1; k <= NODES; k++)); do
        cp -r "$work/r$k" "$BENCH_DIR/out/soak/r$k" 2>/dev/null || true
    done
    cp "$work/latency.txt" "$BENCH_DIR/out/soak/" 2>/dev/null || true
    note "logs, configs and accounting files kept in bench/out/soak/"
fi
exit $rc
