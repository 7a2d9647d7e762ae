#!/usr/bin/env bash
# Start-up benchmark: two routers started at the same instant, time until a single master is
# stable, measured on the wire.
#
#   bench/startup.sh                   RUNS=10 INTERVAL=100 HOLD=2 IMPLS="netvrrp keepalived frr"
#
# Per run and implementation a fresh lab of bench/lib/lab.sh (r1 priority 200, r2 priority
# 100, VRRPv3 IPv4, INTERVAL ms adverts, tcpdump on the bridge); the implementations
# alternate (A B C A B C ...). At T0 both routers are started together (in parallel):
#   netvrrp     `netvrrp apply -f FILE` (creates the vrrp macvlan, then starts the runtime)
#   keepalived  keepalived -n (state BACKUP, as in every lab)
#   FRR         zebra, then vrrpd; its macvlans are made before T0 (FRR cannot create them)
# When r1 is the only advertiser, the capture runs HOLD s more. From the capture: the
# eventual master (the last advertiser), and the first of its adverts after the last advert of
# any other router = "stable single master", as seconds from T0. Both routers start as Backup
# (RFC 9568 6.4.1), so the floor is r1's Master_Down_Interval (3 x I + (256 - 200) x I / 256
# = 321.9 ms at 100 ms); "excess" is stable - that MDI: process start, device set-up,
# socket set-up, timer slack.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
bench_start startup

RUNS=${RUNS:-10}
INTERVAL=${INTERVAL:-100}
HOLD=${HOLD:-2}
. "$(dirname "$0")/lib/lab.sh"
lab_init

out=$work/results
mkdir -p "$out"

WINDOW=$(window_for "$INTERVAL")
mdi=$(awk -v m="$INTERVAL" -v p="$PRIO1" 'BEGIN{printf "%.3f", 3*m + (256-p)*m/256}')

one_run() { # TAG RUN
    local t=$1 i=$2 t0 p1 p2 rc1=0 rc2=0
    lab_up "$t"
    [ "$t" = fr ] && { fr_premake "$t" 1; fr_premake "$t" 2; }
    PCAP[$t]=$work/$t-$i.pcap
    capture_start "$t" "${PCAP[$t]}"
    t0=$(now)
    "$(impl_of "$t")_start" "$t" 1 "$PRIO1" "$INTERVAL" &
    p1=$!
    "$(impl_of "$t")_start" "$t" 2 "$PRIO2" "$INTERVAL" &
    p2=$!
    wait "$p1" || rc1=$?
    wait "$p2" || rc2=$?
    [ $rc1 = 0 ] && [ $rc2 = 0 ] || note "$(name_of "$t") run $i: a router failed to start ($rc1/$rc2)"
    wait_master "$t" r1 "$t0" 20 || note "$(name_of "$t") run $i: r1 is not the single master"
    sleep "$HOLD"
    stop_pid "${CAPPID[$t]}"
    $BL startup "${PCAP[$t]}" --t0 "$t0" --vrid "$VRID" --addr "r1=$NET.1" --addr "r2=$NET.2" >>"$out/$t.json"
    lab_down "$t"
}

for ((i = 1; i <= RUNS; i++)); do
    for impl in "${impls[@]}"; do
        one_run "$(tag "$impl")" "$i"
    done
    printf 'startup: run %d/%d done\n' "$i" "$RUNS"
done

for impl in "${impls[@]}"; do
    t=$(tag "$impl")
    jq -r '.stable_s // empty' "$out/$t.json" >"$out/$t.stable"
    awk -v m="$mdi" '{printf "%.6f\n", $1*1000 - m}' "$out/$t.stable" >"$out/$t.excess"
    jq -r '.first_advert_s // empty' "$out/$t.json" >"$out/$t.first"
    jq -r '.other_adverts // empty' "$out/$t.json" >"$out/$t.other"
    jq -r '.sender_changes // empty' "$out/$t.json" >"$out/$t.changes"
    wrong=$(jq -r 'select(.master != null and .master != "r1") | .master' "$out/$t.json" | wc -l)
    errors=$(jq -r '.error // empty' "$out/$t.json" | wc -l)
    note=""
    [ "$wrong" -gt 0 ] && note="$wrong run(s) ended with r2 as master"
    [ "$errors" -gt 0 ] && note="${note:+$note; }$errors run(s) without adverts"
    [ "$t" = fr ] && note="${note:+$note; }macvlans pre-made before T0"
    fig "$impl: start of both -> stable single master" s "$out/$t.stable" ${note:+--note "$note"}
    fig "$impl: stable single master - r1's MDI" ms "$out/$t.excess" --meta "mdi_ms=$mdi"
    fig "$impl: start -> first advert of any router" s "$out/$t.first"
    fig "$impl: adverts from the router that did not end as master" count "$out/$t.other"
    read -r med mn mx n < <(stats "$out/$t.excess")
    printf '%-10s start -> stable master - MDI (%s ms): median %s min %s max %s ms (n=%s)%s\n' \
        "$impl" "$mdi" "$med" "$mn" "$mx" "$n" "${note:+ [$note]}"
done
figset runs="$RUNS" interval_ms="$INTERVAL" "versions=$versions" \
    "method=\"fresh lab per run; r1 prio 200 and r2 prio 100 started in parallel at T0; stable = first advert of the final master after the last advert of the other router, on the wire; MDI(r1) = 3*I + 56*I/256\""
