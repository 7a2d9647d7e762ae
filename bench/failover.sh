#!/usr/bin/env bash
# Failover benchmark: kill -9 of the master (and its switch port down at the same instant),
# measured on the wire.
#
#   bench/failover.sh                  RUNS=20 INTERVALS="100 10" IMPLS="netvrrp keepalived frr"
#   IMPLS="netvrrp netvrrp-base" NETVRRP_BASE_BIN=/path/to/netvrrp bench/failover.sh
#                                      this build against another (e.g. main's) in the same
#                                      run: netvrrp-base is a third lab of netvrrp run with
#                                      NETVRRP_BASE_BIN (bench/lib/lab.sh), and the run adds the
#                                      ratio netvrrp / netvrrp-base of the median excess
#
# One lab per implementation, all up at the same time, each on its own bridge:
#
#     rK (router, eth0 10.88.0.K/24)  --- port-rK --- br0 (namespace sw) --- port-h1 --- h1
#
# r1 (priority 200) and r2 (priority 100) run the same implementation; r2, the backup, is the
# one under test. VRRPv3, IPv4, VRID 10, VIP 10.88.0.254. tcpdump on br0 (nanosecond
# timestamps; adapter_unsynced where the device offers it, else host) records every advert
# and ARP for the whole series. Runs alternate between the labs (A B C A B C ...) so drift
# on the shared machine hits every implementation alike. Per run: cut r1's switch port and
# SIGKILL its daemon(s) at T0; wait until r2 advertises; restart r1 (port up first) and wait
# until it has preempted back. A lab's next kill waits until 6 s after its previous
# takeover, so a delayed second gratuitous-ARP burst (keepalived: 5 s) cannot be mistaken
# for the first one of the next run.
#
# From the capture, per run: gap = r1's last advert -> r2's first advert, and -> r2's first
# gratuitous ARP for the VIP; excess = gap - Master_Down_Interval of r2 (RFC 9568:
# 3 x I + (256 - 100) x I / 256; 360.94 ms at I = 100 ms, 36.09 ms at 10 ms).
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
bench_start failover

RUNS=${RUNS:-20}
INTERVALS=${INTERVALS:-"100 10"}
SPACING=${SPACING:-6}
. "$(dirname "$0")/lib/lab.sh"
lab_init


ts_type=""
for ms in $INTERVALS; do
    labs_up "$ms" "$ms" "${impls[@]}"
    tags=("${TAGS[@]}")
    ts_type=$(tcpdump_ts_type "$(sw "${tags[0]}")" br0)
    series failover "$ms" "$ms" kill_master
    for t in "${tags[@]}"; do
        stop_pid "${CAPPID[$t]}"
        impl=$(name_of "$t")
        $BL failover "${PCAP[$t]}" --events "$work/$t-$ms.events" --old "$NET.1" --new "$NET.2" --vip "$VIP" \
            --vrid $VRID --interval-ms "$ms" --priority $PRIO2 >"$work/$t-$ms.json"
        for key in adv_gap_ms adv_excess_ms garp_gap_ms garp_excess_ms; do
            jq -r ".$key // empty" "$work/$t-$ms.json" >"$work/$t-$ms.$key"
        done
        jq -r 'select(.adv_gap_ms != null) | if .garp_gap_ms == null then 1 else 0 end' "$work/$t-$ms.json" >"$work/$t-$ms.nogarp"
        errors=$(jq -r '.error // empty' "$work/$t-$ms.json" | wc -l)
        leaks=$(jq -r '.old_adverts_after_kill // 0' "$work/$t-$ms.json" | awk '{s+=$1} END{print s+0}')
        note=""
        [ "$errors" -gt 0 ] && note="$errors run(s) without a result"
        [ "$leaks" -gt 0 ] && note="${note:+$note; }$leaks advert(s) from r1 after its port was cut"
        [ "$t" = fr ] && note="${note:+$note; }FRR truncates Skew to whole centiseconds (see below)"
        mdi=$(awk -v m="$ms" -v p=$PRIO2 'BEGIN{printf "%.3f", 3*m + (256-p)*m/256}')
        fig "${ms} ms adverts, $impl backup: last advert -> first advert" ms "$work/$t-$ms.adv_gap_ms" --meta "mdi_ms=$mdi"
        fig "${ms} ms adverts, $impl backup: first advert excess over MDI" ms "$work/$t-$ms.adv_excess_ms" ${note:+--note "$note"} \
            $([ "$t" = nv ] && echo --meta target_median_ms=2)
        if [ "$t" = fr ]; then
            # FRR computes Skew_Time in whole centiseconds (156 x 10 cs / 256 -> 6 cs at 100 ms,
            # 0 cs at 10 ms): its own Master_Down_Interval is 360 ms / 30 ms.
            own=$(awk -v m="$ms" -v p=$PRIO2 'BEGIN{cs=m/10; printf "%.3f", 10*(3*cs + int((256-p)*cs/256))}')
            awk -v d="$(fsub "$mdi" "$own")" '{printf "%.6f\n", $1 + d}' "$work/$t-$ms.adv_excess_ms" >"$work/$t-$ms.adv_excess_own"
            fig "${ms} ms adverts, $impl backup: first advert excess over its own MDI" ms "$work/$t-$ms.adv_excess_own" \
                --note "FRR's MDI with Skew truncated to centiseconds: $own ms" --meta "own_mdi_ms=$own"
        fi
        fig "${ms} ms adverts, $impl backup: last advert -> first GARP" ms "$work/$t-$ms.garp_gap_ms"
        fig "${ms} ms adverts, $impl backup: first GARP excess over MDI" ms "$work/$t-$ms.garp_excess_ms"
        awk '{s+=$1} END{print s+0}' "$work/$t-$ms.nogarp" >"$work/$t-$ms.nogarp.sum"
        fig "${ms} ms adverts, $impl backup: runs without a GARP in the first 150 ms" count "$work/$t-$ms.nogarp.sum"
        read -r med mn mx n < <(stats "$work/$t-$ms.adv_excess_ms")
        read -r gmed _ gmx _ < <(stats "$work/$t-$ms.garp_excess_ms")
        printf '%-10s %3d ms: advert excess median %s max %s ms (n=%s), GARP excess median %s max %s ms (MDI %s ms)\n' \
            "$impl" "$ms" "$med" "$mx" "$n" "$gmed" "$gmx" "$mdi"
        cp "${PCAP[$t]}" "$work/$t-$ms.events" "$BENCH_DIR/out/" 2>/dev/null || true
        ns_kill_all "$(rns "$t" 1)"
        ns_kill_all "$(rns "$t" 2)"
    done
    if [[ " ${tags[*]} " == *" nv "* && " ${tags[*]} " == *" nb "* ]]; then
        read -r a _ < <(stats "$work/nv-$ms.adv_excess_ms")
        read -r b _ < <(stats "$work/nb-$ms.adv_excess_ms")
        awk -v a="$a" -v b="$b" 'BEGIN{printf "%.4f\n", (b > 0 ? a/b : 0)}' >"$work/rbase-$ms"
        fig "${ms} ms adverts, ratio netvrrp / netvrrp-base: median first advert excess" x "$work/rbase-$ms" \
            --note "same run, labs alternating"
        printf '%-10s %3d ms: ratio netvrrp/netvrrp-base of the median advert excess %.2f\n' "" "$ms" "$(cat "$work/rbase-$ms")"
    fi
    # tear this interval's labs down before the next one
    for t in "${tags[@]}"; do lab_down "$t"; done
done
figset runs=$RUNS "intervals_ms=[${INTERVALS// /,}]" "timestamps=\"tcpdump on the bridge, nanosecond precision, $ts_type time stamps\"" \
    "versions=$versions" \
    "method=\"r1 prio 200 and r2 prio 100 of the same implementation; r1's port cut + SIGKILL; gap measured on the wire from r1's last advert; MDI = 3*I + (256-100)*I/256\""
