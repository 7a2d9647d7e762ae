#!/usr/bin/env bash
# Recovery seen by a host: a host pings the VIP with fast probes while the master is killed;
# time from the new master's first advert to the host's first echo reply.
#
#   bench/recovery.sh                  RUNS=10 INTERVAL=100 PROBE=0.002 (s between probes)
#                                      IMPLS="netvrrp keepalived frr"
#
# The labs of bench/lib/lab.sh (r1 priority 200 master, r2 priority 100 backup, host h1, one
# bridge per implementation, all up at once, runs alternating A B C A B C ...). Per run: h1
# starts `ping -i PROBE VIP`; r1's switch port is cut and its daemons SIGKILLed (as in the
# failover benchmark); when r2 advertises and the probes have had time to come back, the ping
# stops and r1 is revived. From the capture on the bridge (adverts, ARP, ICMP): new master's
# first advert -> first echo reply from the VIP to h1 after the cut (target: within one probe
# interval), and the host's outage (last reply before the cut -> first reply after).
# keepalived moves the VIP with its own MAC (no vmac, its default), so h1 must first take the
# gratuitous ARP; netvrrp and FRR keep the virtual MAC and only the bridge has to relearn it.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
bench_start recovery

RUNS=${RUNS:-10}
INTERVAL=${INTERVAL:-100}
PROBE=${PROBE:-0.002}
SPACING=${SPACING:-6}
CAPTURE_FILTER="ip proto 112 or arp or icmp"
. "$(dirname "$0")/lib/lab.sh"
lab_init

PROBE_TARGET=$VIP
SERIES_BEFORE=probes_start
SERIES_AFTER=probes_stop

labs_up "$INTERVAL" "$INTERVAL" "${impls[@]}"
tags=("${TAGS[@]}")
series recovery "$INTERVAL" "$INTERVAL" kill_master
probe_ms=$(awk -v p="$PROBE" 'BEGIN{printf "%.3f", p*1000}')
for t in "${tags[@]}"; do
    stop_pid "${CAPPID[$t]}"
    impl=$(name_of "$t")
    base=$work/$t
    $BL recovery "${PCAP[$t]}" --events "$work/$t-$INTERVAL.events" --old "$NET.1" --new "$NET.2" --vip "$VIP" \
        --vrid "$VRID" --host "$NET.100" >"$base.json"
    for key in advert_to_reply_ms garp_to_reply_ms outage_ms probe_interval_ms; do
        jq -r ".$key // empty" "$base.json" >"$base.$key"
    done
    errors=$(jq -r '.error // empty' "$base.json" | sort | uniq -c | awk '{$1=$1; print}' | paste -sd';' -)
    note=""
    [ -n "$errors" ] && note="runs without a result: $errors"
    early=$(jq -r 'select(.reply_before_master == true) | .run' "$base.json" | wc -l)
    [ "$early" -gt 0 ] && note="${note:+$note; }$early run(s): replies from the VIP before the new master's first advert (the backup answered)"
    [ "$t" = ka ] && note="${note:+$note; }VIP moves with r2's own MAC (no vmac): the host needs the GARP"
    fig "$impl: new master's first advert -> host's first echo reply" ms "$base.advert_to_reply_ms" \
        --meta "probe_interval_ms=$probe_ms" ${note:+--note "$note"}
    fig "$impl: new master's first GARP -> host's first echo reply" ms "$base.garp_to_reply_ms"
    fig "$impl: host's outage (last reply -> first reply)" ms "$base.outage_ms"
    fig "$impl: probe interval seen on the wire" ms "$base.probe_interval_ms"
    cp "${PCAP[$t]}" "$BENCH_DIR/out/recovery-$t.pcap" 2>/dev/null || true
    cp "$work/$t-$INTERVAL.events" "$BENCH_DIR/out/recovery-$t.events" 2>/dev/null || true
    read -r med mn mx n < <(stats "$base.advert_to_reply_ms")
    printf '%-10s first advert -> first reply: median %s min %s max %s ms (n=%s; probes every %s ms)%s\n' \
        "$impl" "$med" "$mn" "$mx" "$n" "$probe_ms" "${note:+ [$note]}"
done
figset runs="$RUNS" interval_ms="$INTERVAL" probe_ms="$probe_ms" "versions=$versions" \
    "method=\"h1 pings the VIP every $probe_ms ms; r1's port cut + SIGKILL; on the bridge: r2's first advert -> first echo reply from the VIP to h1\""
