#!/usr/bin/env bash
# Graceful handover benchmark: the master stops the way an operator stops it, sends an advert
# with priority 0, and the backup takes over after Skew_Time (RFC 9568 6.4.2: on priority 0
# the backup sets its Master_Down_Timer to Skew_Time), measured on the wire.
#
#   bench/handover.sh                  RUNS=10 INTERVALS="100 10" IMPLS="netvrrp keepalived frr"
#
# The labs of bench/lib/lab.sh (r1 priority 200 master, r2 priority 100 backup, one bridge per
# implementation, all up at once, runs alternating A B C A B C ...). Per run, r1 is stopped:
#   netvrrp     `netvrrp stop` (the runtime sends priority 0 for every Master, then exits)
#   keepalived  SIGTERM to its parent process
#   FRR         `no vrrp VRID` on the interface through vtysh, then SIGTERM to vrrpd and zebra
# r1's switch port stays up. Then r1 is restarted and must preempt back before the next run.
# From the capture (tcpdump on the bridge, nanosecond timestamps), per run:
# gap = r1's priority-0 advert -> r2's first advert (and first gratuitous ARP);
# excess = gap - Skew_Time of r2 = (256 - 100) x I / 256 (60.94 ms at 100 ms, 6.09 ms at 10 ms);
# and stop -> priority 0 = from the stop command to the priority-0 advert on the wire.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
bench_start handover

RUNS=${RUNS:-10}
INTERVALS=${INTERVALS:-"100 10"}
SPACING=${SPACING:-6}
. "$(dirname "$0")/lib/lab.sh"
lab_init


for ms in $INTERVALS; do
    labs_up "$ms" "$ms" "${impls[@]}"
    tags=("${TAGS[@]}")
    series handover "$ms" "$ms" stop_master
    skew=$(awk -v m="$ms" -v p="$PRIO2" 'BEGIN{printf "%.3f", (256-p)*m/256}')
    for t in "${tags[@]}"; do
        stop_pid "${CAPPID[$t]}"
        impl=$(name_of "$t")
        base=$work/$t-$ms
        $BL handover "${PCAP[$t]}" --events "$base.events" --old "$NET.1" --new "$NET.2" --vip "$VIP" \
            --vrid "$VRID" --interval-ms "$ms" --priority "$PRIO2" >"$base.json"
        for key in gap_ms excess_ms garp_gap_ms stop_to_prio0_ms gap_from_last_advert_ms; do
            jq -r ".$key // empty" "$base.json" >"$base.$key"
        done
        errors=$(jq -r '.error // empty' "$base.json" | sort | uniq -c | awk '{$1=$1; print}' | paste -sd';' -)
        late=$(jq -r '.old_adverts_after_prio0 // 0' "$base.json" | awk '{s+=$1} END{print s+0}')
        note=""
        [ -n "$errors" ] && note="runs without a result: $errors"
        [ "$late" -gt 0 ] && note="${note:+$note; }$late advert(s) from r1 after its priority 0"
        fig "${ms} ms adverts, $impl: priority 0 -> backup's first advert" ms "$base.gap_ms" --meta "skew_ms=$skew"
        fig "${ms} ms adverts, $impl: first advert excess over Skew_Time" ms "$base.excess_ms" ${note:+--note "$note"}
        if [ "$t" = fr ]; then
            # FRR computes Skew_Time in whole centiseconds (60 ms at 100 ms, 0 at 10 ms)
            own=$(awk -v m="$ms" -v p="$PRIO2" 'BEGIN{cs=m/10; printf "%.3f", 10*int((256-p)*cs/256)}')
            awk -v o="$own" '{printf "%.6f\n", $1 - o}' "$base.gap_ms" >"$base.excess_own"
            fig "${ms} ms adverts, $impl: first advert excess over its own Skew_Time" ms "$base.excess_own" \
                --note "FRR's Skew_Time truncated to centiseconds: $own ms" --meta "own_skew_ms=$own"
        fi
        fig "${ms} ms adverts, $impl: priority 0 -> first GARP" ms "$base.garp_gap_ms"
        fig "${ms} ms adverts, $impl: stop command -> priority-0 advert" ms "$base.stop_to_prio0_ms"
        if [ -s "$base.gap_from_last_advert_ms" ]; then
            fig "${ms} ms adverts, $impl: no priority 0 seen; last advert -> backup's first advert" ms "$base.gap_from_last_advert_ms"
        fi
        read -r med _ mx n < <(stats "$base.excess_ms")
        printf '%-10s %3d ms: priority 0 -> first advert excess over Skew_Time (%s ms): median %s max %s ms (n=%s)%s\n' \
            "$impl" "$ms" "$skew" "$med" "$mx" "$n" "${note:+ [$note]}"
        cp "${PCAP[$t]}" "$base.events" "$BENCH_DIR/out/" 2>/dev/null || true
    done
    for t in "${tags[@]}"; do lab_down "$t"; done
done
figset runs="$RUNS" "intervals_ms=[${INTERVALS// /,}]" "versions=$versions" \
    "method=\"r1 prio 200 and r2 prio 100 of the same implementation; r1 stopped gracefully (netvrrp stop, keepalived SIGTERM, FRR no vrrp + SIGTERM); gap on the wire from r1's priority-0 advert to r2's first advert; Skew_Time = (256-100)*I/256\""
