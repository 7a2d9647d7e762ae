#!/usr/bin/env bash
# Timing under load: 10 ms adverts, the master's inter-advert gaps on the wire and false
# failovers, idle and with every core saturated by stress-ng.
#
#   bench/timing.sh                    INTERVAL=10 LOADS="idle stress" IDLE_DURATION=300
#                                      DURATION=180 (the stress window) STRESS_CPUS=$(nproc)
#                                      IMPLS="netvrrp netvrrp-rt keepalived frr" RT_PRIO=50
#
# All labs of bench/lib/lab.sh up at once (r1 priority 200 master, r2 priority 100 backup,
# one bridge each, tcpdump on every bridge), so every implementation sees the same machine at
# the same time. netvrrp-rt is netvrrp with `[runtime] realtime-priority = RT_PRIO` (its event
# loop under SCHED_FIFO; checked with chrt). Windows, one after the other on the same labs:
#   idle    IDLE_DURATION s (default 300: the "no false failover in 5 minutes" check)
#   stress  DURATION s with `stress-ng --cpu STRESS_CPUS` running (started 2 s before)
# Per window and implementation, from the capture: gaps between r1's consecutive adverts
# (median, p99, p99.9, max; gaps over 1.1 x I counted), and false failovers = episodes of
# adverts from r2 (separated by more than 3 x I), plus r1's priority-0 adverts (none expected).
# "Idle" is the machine as it is: note the load average printed with each window.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
bench_start timing

INTERVAL=${INTERVAL:-10}
LOADS=${LOADS:-"idle stress"}
DURATION=${DURATION:-180}
IDLE_DURATION=${IDLE_DURATION:-300}
STRESS_CPUS=${STRESS_CPUS:-$(nproc)}
. "$(dirname "$0")/lib/lab.sh"
lab_init with-rt
for l in $LOADS; do
    case $l in idle | stress) ;; *) die "unknown load $l (have: idle stress)" ;; esac
done
if [[ " $LOADS " == *" stress "* ]]; then
    command -v stress-ng >/dev/null || die "stress-ng is not installed (apt-get install -y stress-ng)"
fi


labs_up "$INTERVAL" "$INTERVAL" "${impls[@]}"
tags=("${TAGS[@]}")
sched_note=""
for t in "${tags[@]}"; do
    if [ "$t" = nr ]; then
        sched_note=$(chrt -p "$(nv_pids nr 1)" | awk -F': ' '/policy/{p=$2} /priority/{q=$2} END{print p " " q}')
        note "netvrrp-rt r1 event loop: $sched_note"
    fi
done
sleep 2

declare -A SINCE UNTIL LOADAVG
for load in $LOADS; do
    secs=$IDLE_DURATION
    spid=""
    if [ "$load" = stress ]; then
        secs=$DURATION
        # in a namespace of ours, so that the cleanup kills it whatever happens
        ip netns exec "$(sw "${tags[0]}")" stress-ng --cpu "$STRESS_CPUS" --timeout "$((secs + 30))s" -q >"$work/stress.log" 2>&1 &
        spid=$!
        track_pid "$spid"
        sleep 2
    fi
    SINCE[$load]=$(now)
    note "$load window: $secs s ($(date +%T))"
    sleep "$secs"
    UNTIL[$load]=$(now)
    LOADAVG[$load]=$(cut -d' ' -f1-3 /proc/loadavg)
    if [ -n "$spid" ]; then
        kill -TERM "$spid" 2>/dev/null || true
        wait "$spid" 2>/dev/null || true
        ns_kill_all "$(sw "${tags[0]}")"   # stress-ng workers
    fi
    note "$load window done, load average ${LOADAVG[$load]}"
done

for t in "${tags[@]}"; do stop_pid "${CAPPID[$t]}"; done
for load in $LOADS; do
    for t in "${tags[@]}"; do
        impl=$(name_of "$t")
        base=$work/$t-$load
        others=()
        for o in "${tags[@]}"; do [ "$o" = "$t" ] || others+=("${PCAP[$o]}"); done
        $BL timing "${PCAP[$t]}" --master "$NET.1" --backup "$NET.2" --vrid "$VRID" --interval-ms "$INTERVAL" \
            --since "${SINCE[$load]}" --until "${UNTIL[$load]}" --gaps "$base.gaps" --others "${others[@]}" >"$base.json"
        jq -r '.false_failovers' "$base.json" >"$base.ff"
        jq -r '.over_11ms // 0' "$base.json" >"$base.over"
        drops=$(awk '/dropped by kernel/{print $1}' "${PCAP[$t]}.log")
        note="load average ${LOADAVG[$load]}"
        [ "${drops:-0}" != 0 ] && note="$note; tcpdump dropped $drops"
        [ "$t" = nr ] && note="$note; $sched_note"
        fig "$load, $impl: master's inter-advert gap" ms "$base.gaps" --tail --note "$note"
        fig "$load, $impl: false failovers (backup advertised)" count "$base.ff" \
            --meta "backup_adverts=$(jq .backup_adverts "$base.json")" "master_prio0=$(jq .master_prio0 "$base.json")"
        fig "$load, $impl: gaps over 1.1 x interval" count "$base.over"
        jq -r '.stalls' "$base.json" >"$base.stalls"
        fig "$load, $impl: gaps over 3 x interval (failover-sized)" count "$base.stalls" \
            --meta "in_every_lab_at_once=$(jq '.stalls_in_every_lab // null' "$base.json")" \
            --note "$(jq -r '.stalls_in_every_lab // 0' "$base.json") of them while every lab stalled too (within 1 s: the machine)"
        jq -r --arg i "$impl" --arg l "$load" \
            '"\($l) \($i): gap median \(.median_ms*1000|round/1000) p99 \(.p99_ms*1000|round/1000) p99.9 \(.p999_ms*1000|round/1000) max \(.max_ms*1000|round/1000) ms over \(.seconds|round) s (\(.adverts) adverts, \(.over_11ms) over 1.1 x I); false failovers \(.false_failovers) (\(.backup_adverts) backup adverts); gaps > 3 x I: \(.stalls) (\(.stalls_in_every_lab // 0) in every lab at once)"' \
            "$base.json"
    done
done
for t in "${tags[@]}"; do cp "${PCAP[$t]}" "$BENCH_DIR/out/timing-$t.pcap" 2>/dev/null || true; done
figset interval_ms="$INTERVAL" "loads=\"$LOADS\"" idle_s="$IDLE_DURATION" stress_s="$DURATION" stress_cpus="$STRESS_CPUS" \
    realtime_priority="$RT_PRIO" "versions=$versions" \
    "method=\"all labs up at once; r1 prio 200 master, r2 prio 100; gaps between r1's adverts on the bridge (tcpdump, ns timestamps); false failover = an episode of adverts from r2; stress = stress-ng --cpu $STRESS_CPUS\""
