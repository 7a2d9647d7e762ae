#!/usr/bin/env bash
# Dead-man benchmark: the Master's daemon is killed (SIGKILL) or hung (SIGSTOP) with its
# switch port UP (the box alive), while a host pings the VIP every 10 ms and broadcasts an ARP
# request for it every 10 ms. Does the dead box fall silent before the backup takes over?
#
#   bench/deadman.sh                   RUNS=10 INTERVAL=100 KINDS="kill stop" IMPLS="netvrrp keepalived frr"
#
# Labs as in bench/lib/lab.sh (one per implementation, side by side, runs alternating): r1
# (priority 200) is Master, r2 (priority 100) Backup, h1 the host. netvrrp runs with
# accept-mode (keepalived and FRR answer pings to their VIPs by default). tcpdump on the
# switch ports port-r1 and port-r2, incoming direction only: every frame r1 sends, and
# every frame r2 sends, apart, although both answer with the same virtual MAC.
#
# Per run: SIGKILL (kill) or SIGSTOP (stop) of r1's daemons at T0, port up; wait until r2
# advertises, 150 ms more, then r1 is killed for good and restarted. Figures per
# implementation and kind: time from r1's last advert to its last reply for the VIP (echo
# reply or ARP reply) before the restart; runs in which r1 fell silent before r2's first
# advert (target for netvrrp: all); runs in which both answered at once (a reply from r1
# after r2's first reply). keepalived and FRR leave their VIPs answering after a SIGKILL, so
# their last reply is the end of the window.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
bench_start deadman

RUNS=${RUNS:-10}
INTERVAL=${INTERVAL:-100}
KINDS=${KINDS:-"kill stop"}
SPACING=${SPACING:-6}
export NV_ROUTER="accept-mode = true"
. "$(dirname "$0")/lib/lab.sh"
lab_init
DM="$PY $BENCH_DIR/lib/deadman.py"
declare -A PORTCAP PORTPID

probes_start() { # TAG: ping every 10 ms and an ARP request every 10 ms from h1
    local t=$1 pid
    ip netns exec "$(hns "$t")" ping -n -q -i 0.01 "$VIP" >/dev/null 2>&1 </dev/null &
    pid=$!; track_pid "$pid"; disown "$pid"
    # shellcheck disable=SC2086 # DM is "python3 path"
    ip netns exec "$(hns "$t")" $DM arp-probe eth0 "$NET.100" "$VIP" 0.01 >/dev/null 2>&1 </dev/null &
    pid=$!; track_pid "$pid"; disown "$pid"
}

r1_pids() { "$(impl_of "$1")_pids" "$1" 1 | awk 'NF && !s[$1]++'; }

signal_r1() { # TAG SIGNAL: r1's daemons get SIGNAL, port up (sets T_CUT)
    local pids
    pids=$(r1_pids "$1")
    T_CUT=$(now)
    # shellcheck disable=SC2086
    [ -n "$pids" ] && kill "-$2" $pids 2>/dev/null
    true
}
kill_port_up() { signal_r1 "$1" KILL; }
stop_port_up() { signal_r1 "$1" STOP; }
finish_r1() { # TAG (after the window): whatever is left of r1 goes, so revive starts afresh
    ns_kill_all "$(rns "$1" 1)"
    sleep 0.1
}
SERIES_AFTER=finish_r1

for kind in $KINDS; do
    labs_up "$INTERVAL" "$kind" "${impls[@]}"
    tags=("${TAGS[@]}")
    for t in "${tags[@]}"; do
        for k in 1 2; do
            port_capture "$t" "$k" "$work/$t-$kind-r$k.pcap" "ip proto 112 or arp or icmp"
        done
        probes_start "$t"
    done
    series "deadman $kind" "$INTERVAL" "$kind" "${kind}_port_up"
    for t in "${tags[@]}"; do
        stop_pid "${PORTPID[$t-1]}"; stop_pid "${PORTPID[$t-2]}"; stop_pid "${CAPPID[$t]}"
        impl=$(name_of "$t")
        j=$work/$t-$kind.jsonl
        $DM analyse --r1 "${PORTCAP[$t-1]}" --r2 "${PORTCAP[$t-2]}" --events "$work/$t-$kind.events" \
            --r1-addr "$NET.1" --r2-addr "$NET.2" --vip "$VIP" --vrid "$VRID" >"$j"
        jq -r 'select(.last_reply_ms != null) | .last_reply_ms' "$j" >"$work/$t-$kind.last"
        jq -r 'select(.takeover_ms != null) | .takeover_ms' "$j" >"$work/$t-$kind.takeover"
        n=$(jq -r 'select(.takeover_ms != null) | 1' "$j" | wc -l)
        silent=$(jq -r 'select(.silent_before_takeover == true) | 1' "$j" | wc -l)
        both=$(jq -r 'select(.two_answered == true) | 1' "$j" | wc -l)
        errors=$(jq -r '.error // empty' "$j" | wc -l)
        echo "$silent" >"$work/$t-$kind.silent"; echo "$both" >"$work/$t-$kind.both"
        note=""
        [ "$errors" -gt 0 ] && note="$errors run(s) without a result"
        fig "$kind, $impl: r1's last advert -> its last reply for the VIP" ms "$work/$t-$kind.last" ${note:+--note "$note"}
        fig "$kind, $impl: r1's last advert -> r2's first advert" ms "$work/$t-$kind.takeover"
        fig "$kind, $impl: runs with r1 silent before r2's first advert (of $n)" count "$work/$t-$kind.silent" \
            $([ "$t" = nv ] && echo --meta "target=$n")
        fig "$kind, $impl: runs in which r1 and r2 both answered (of $n)" count "$work/$t-$kind.both"
        read -r med mn mx cnt < <(stats "$work/$t-$kind.last")
        read -r tmed _ _ _ < <(stats "$work/$t-$kind.takeover")
        printf '%-10s %-4s: last advert -> last reply median %s (min %s, max %s) ms, n=%s; takeover %s ms; silent before takeover %s/%s; both answered %s/%s\n' \
            "$impl" "$kind" "$med" "$mn" "$mx" "$cnt" "$tmed" "$silent" "$n" "$both" "$n"
        cp "$j" "$BENCH_DIR/out/" 2>/dev/null || true
    done
    for t in "${tags[@]}"; do lab_down "$t"; done
done
figset runs=$RUNS "interval_ms=$INTERVAL" "versions=$versions" \
    "method=\"r1 prio 200, r2 prio 100 of the same implementation; r1's daemons SIGKILLed or SIGSTOPped with the port up; h1 pings the VIP and broadcasts an ARP request for it every 10 ms; frames captured per switch port (incoming)\""
