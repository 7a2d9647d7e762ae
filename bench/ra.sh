#!/usr/bin/env bash
# IPv6 host recovery through Router Advertisements (issue 18): a SLAAC host that learnt its
# default route from the virtual router's RAs pings an address behind the router every 10 ms
# while the master is killed; time from the new master's first advert to the host's first
# echo reply through that route.
#
#   bench/ra.sh                        RUNS=10 INTERVAL=100 PROBE=0.01 (s between pings)
#                                      IMPLS="netvrrp frr" SPACING=6
#
# The labs of bench/lib/lab.sh (r1 priority 200 master, r2 priority 100 backup, host h1, one
# bridge per implementation, all up at once, runs alternating), IPv6 instead of IPv4: VRID
# $VRID with the link-local VIP fe80::a (the RAs' source, so the host's default router is the
# same on both routers) and the global VIP $PREFIX::254/64; RAs every 4 s at most, router
# lifetime 60 s, the prefix of the global VIP. netvrrp: `router-advertisements = { ... }`;
# FRR: zebra sends RAs on the vrrp6 macvlan (whose only link-local is fe80::a) while vrrpd is
# Master, as in tests/interop_ra.rs. keepalived sends no RAs and is not compared. Routers
# forward and have $SERVICE/128 on lo, which the host reaches only through its default route.
#
# Per run: h1 starts `ping -6 -i PROBE $SERVICE`; r1's switch port is cut and its daemons
# SIGKILLed; when r2 advertises and the pings have had time to come back, the ping stops and r1
# is revived. Both routers send from the virtual MAC (and FRR's adverts from the same
# link-local), so what each router sent is captured on its own switch port (incoming). Figures:
# r2's first advert -> first echo reply from $SERVICE (target: within one ping interval), r2's
# first advert -> its first RA, r1's last advert -> r2's first advert (takeover), and the
# host's outage (last reply before the cut -> first reply after), and the ping interval as seen
# on the wire (the target's yardstick); from h1's frames (its switch port), the echo request
# the first reply answers -> that reply, and the requests h1 sent after r2's first advert
# before that one (lost on the way or unanswered).
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
bench_start ra

RUNS=${RUNS:-10}
INTERVAL=${INTERVAL:-100}
PROBE=${PROBE:-0.01}
SPACING=${SPACING:-6}
DIAG=${DIAG:-}
IMPLS=${IMPLS:-"netvrrp$([ -x "$FRR_BIN/vrrpd" ] && [ -x "$FRR_BIN/zebra" ] && echo " frr")"}
PREFIX=2001:db8:88:
VLL=fe80::a
SERVICE=2001:db8:ff::1
. "$(dirname "$0")/lib/lab.sh"
lab_init
RA=$BENCH_DIR/lib/ra.py
PROBE_TARGET=$SERVICE
declare -A PORTCAP PORTPID

prep6() { # TAG K: IPv6 on router K (forwarding, eth0 address, the service on lo) and the host
    local t=$1 k=$2 r h
    r=$(rns "$t" "$k") h=$(hns "$t")
    ip netns exec "$r" sysctl -qw net.ipv6.conf.all.forwarding=1 >/dev/null
    ip -n "$r" addr replace "$PREFIX:$k/64" dev eth0 nodad
    ip -n "$r" addr replace "$SERVICE/128" dev lo
    ip netns exec "$h" sysctl -qw net.ipv6.conf.all.forwarding=0 net.ipv6.conf.eth0.accept_ra=1 \
        net.ipv6.conf.eth0.autoconf=1 net.ipv6.conf.eth0.accept_dad=0 >/dev/null
}

# lab.sh's starters, IPv6 with RAs (lab.sh calls them by name for the first start and revive)
nv_start() {
    local t=$1 k=$2 prio=$3 ms=$4 d=$work/$1/r$2
    mkdir -p "$d"
    prep6 "$t" "$k"
    cat >"$d/netvrrp.toml" <<EOF
[defaults]
version = 3
advertisement-interval = $ms

[[vrrp]]
interface = "eth0"
vrid = $VRID
priority = $prio
ipv6 = ["$VLL/64", "$PREFIX:254/64"]
router-advertisements = { max-interval-ms = 4000, lifetime-s = 60 }
EOF
    "$NETVRRP" --netns "$(rns "$t" "$k")" --run-dir "$d/run" apply -f "$d/netvrrp.toml" >>"$d/apply.log" 2>&1 \
        || { tail -20 "$d/apply.log" >&2; die "netvrrp apply on $t r$k failed"; }
}

fr_start() {
    local t=$1 k=$2 prio=$3 ms=$4 d=$work/$1/r$2/frr ns idx m
    ns=$(rns "$t" "$k")
    mkdir -p "$d/vartmp"
    prep6 "$t" "$k"
    idx=$(ip -n "$ns" -o link show eth0 | cut -d: -f1)
    m=vrrp6-$idx-$VRID
    if ! ip -n "$ns" link show "$m" >/dev/null 2>&1; then
        # the virtual MAC in `link add` itself; no link-local of its own: zebra's RAs come
        # from the link-local VIP
        ip -n "$ns" link add "$m" link eth0 address "00:00:5e:00:02:$(printf %02x "$VRID")" type macvlan mode bridge
        ip -n "$ns" link set "$m" addrgenmode none
    fi
    ip -n "$ns" addr replace "$VLL/64" dev "$m" nodad
    ip -n "$ns" addr replace "$PREFIX:254/64" dev "$m" nodad
    ip -n "$ns" link set "$m" up
    cat >"$d/zebra.conf" <<EOF
hostname $ns
!
interface $m
 ipv6 nd ra-interval 4
 ipv6 nd ra-lifetime 60
 ipv6 nd prefix $PREFIX:/64
!
EOF
    cat >"$d/vrrpd.conf" <<EOF
hostname $ns
!
interface eth0
 vrrp $VRID version 3
 vrrp $VRID priority $prio
 vrrp $VRID advertisement-interval $ms
 vrrp $VRID ipv6 $VLL
 vrrp $VRID ipv6 $PREFIX:254
!
EOF
    fr_daemons "$ns" "$d"
}

# lab.sh's wire view, from the two port captures (its bridge capture cannot tell the routers
# apart: same MAC, and with FRR the same IPv6 source)
wire_master() { # TAG SINCE
    $PY "$RA" master --r1 "${PORTCAP[$1-1]}" --r2 "${PORTCAP[$1-2]}" --vrid "$VRID" --since "$2" --window "$WINDOW"
}
capture_start() { # TAG FILE: the port captures instead of the bridge's (h1's: its requests)
    port_capture "$1" 1 "$work/$1-r1.pcap" "ip6 proto 112 or icmp6"
    port_capture "$1" 2 "$work/$1-r2.pcap" "ip6 proto 112 or icmp6"
    port_capture "$1" h1 "$work/$1-rh1.pcap" "ip6 proto 112 or icmp6"
    [ -n "$DIAG" ] && own_capture "$1"
    return 0
}
own_capture() { # TAG: r2's eth0 inside r2, both ways: the requests reaching it and its answers
    local t=$1 f=$work/$1-r2own.pcap pid
    # shellcheck disable=SC2046
    ip netns exec "$(rns "$t" 2)" tcpdump -i eth0 -nn -U -Z root -s 128 -B 16384 \
        $(tcpdump_ts_opts "$(rns "$t" 2)" eth0) -w "$f" "ip6 proto 112 or icmp6" >"$f.log" 2>&1 </dev/null &
    pid=$!
    track_pid "$pid"
    wait_for 5 grep -q 'listening on' "$f.log" || { cat "$f.log" >&2; die "tcpdump failed"; }
    PORTCAP[$t-own]=$f PORTPID[$t-own]=$pid
}

host_routed() { # TAG: the host's default route is the virtual link-local and the service answers
    ip -n "$(hns "$1")" -6 route show default | grep -q "via $VLL dev eth0" &&
        ip netns exec "$(hns "$1")" ping -6 -n -c 1 -W 1 "$SERVICE" >/dev/null 2>&1
}

SERIES_BEFORE=probes_start
SERIES_AFTER=probes_stop

labs_up "$INTERVAL" "$INTERVAL" "${impls[@]}"
tags=("${TAGS[@]}")
for t in "${tags[@]}"; do
    wait_for 20 host_routed "$t" || die "$(name_of "$t"): the host has no working default route via $VLL"
    note "$(name_of "$t"): host routed via $VLL ($(ip -n "$(hns "$t")" -6 addr show dev eth0 scope global | awk '/inet6/{print $2}'))"
done
if [ -n "$DIAG" ] && [[ " ${tags[*]} " == *" nv "* ]]; then
    # r2's kernel-side steps (protodown, filter commits) with their times, in its log
    "$NETVRRP" --netns "$(rns nv 2)" --run-dir "$work/nv/r2/run" debug kernel on >/dev/null || die "netvrrp debug kernel on failed"
fi
series ra "$INTERVAL" "$INTERVAL" kill_master
probe_ms=$(awk -v p="$PROBE" 'BEGIN{printf "%.3f", p*1000}')
for t in "${tags[@]}"; do
    stop_pid "${PORTPID[$t-1]}"; stop_pid "${PORTPID[$t-2]}"; stop_pid "${PORTPID[$t-h1]}"
    if [ -n "$DIAG" ]; then
        stop_pid "${PORTPID[$t-own]}"
        log=""
        [ "$t" = nv ] && log=$work/nv/r2/run/netvrrp.log
        $PY "$RA" window --r2 "${PORTCAP[$t-2]}" --own "${PORTCAP[$t-own]}" --host "${PORTCAP[$t-h1]}" \
            --events "$work/$t-$INTERVAL.events" --vrid "$VRID" --service "$SERVICE" ${log:+--log "$log"} \
            | sed "s/^/$(name_of "$t") /" >&2
        cp "${PORTCAP[$t-own]}" "$BENCH_DIR/out/ra-$t-r2own.pcap"
        [ -n "$log" ] && cp "$log" "$BENCH_DIR/out/ra-$t-r2.log"
    fi
    impl=$(name_of "$t")
    base=$work/$t
    $PY "$RA" recovery --r1 "${PORTCAP[$t-1]}" --r2 "${PORTCAP[$t-2]}" --events "$work/$t-$INTERVAL.events" \
        --vrid "$VRID" --service "$SERVICE" --host "${PORTCAP[$t-h1]}" >"$base.json"
    for key in advert_to_reply_ms advert_to_ra_ms takeover_ms outage_ms probe_interval_ms request_to_reply_ms unanswered_after_advert; do
        jq -r ".$key // empty" "$base.json" >"$base.$key"
    done
    errors=$(jq -r '.error // empty' "$base.json" | sort | uniq -c | awk '{$1=$1; print}' | paste -sd';' -)
    note=""
    [ -n "$errors" ] && note="runs without a result: $errors"
    early=$(jq -r 'select((.advert_to_reply_ms // 0) < 0) | .run' "$base.json" | wc -l)
    [ "$early" -gt 0 ] && note="${note:+$note; }$early run(s): a reply before the new master's first advert"
    fig "$impl: new master's first advert -> host's first ping6 reply via the RA-learned route" ms \
        "$base.advert_to_reply_ms" --meta "probe_interval_ms=$probe_ms" ${note:+--note "$note"}
    fig "$impl: new master's first advert -> its first RA" ms "$base.advert_to_ra_ms"
    fig "$impl: old master's last advert -> new master's first advert" ms "$base.takeover_ms"
    fig "$impl: host's outage (last reply -> first reply)" ms "$base.outage_ms"
    fig "$impl: ping interval seen on the wire" ms "$base.probe_interval_ms"
    fig "$impl: echo request -> the first reply (the one it answers)" ms "$base.request_to_reply_ms"
    fig "$impl: requests sent after the first advert before the first answered one" count \
        "$base.unanswered_after_advert"
    mkdir -p "$BENCH_DIR/out" && cp "$base.json" "$BENCH_DIR/out/ra-$t.jsonl"
    for k in 1 2 h1; do cp "${PORTCAP[$t-$k]}" "$BENCH_DIR/out/ra-$t-r$k.pcap"; done
    cp "$work/$t-$INTERVAL.events" "$BENCH_DIR/out/ra-$t.events"
    read -r med mn mx n < <(stats "$base.advert_to_reply_ms")
    read -r tmed tmn tmx _ < <(stats "$base.takeover_ms")
    read -r omed _ _ _ < <(stats "$base.outage_ms")
    printf '%-8s first advert -> first ping6 reply: median %s min %s max %s ms (n=%s; pings every %s ms); takeover %s (%s-%s) ms; outage %s ms%s\n' \
        "$impl" "$med" "$mn" "$mx" "$n" "$probe_ms" "$tmed" "$tmn" "$tmx" "$omed" "${note:+ [$note]}"
done
figset runs="$RUNS" interval_ms="$INTERVAL" probe_ms="$probe_ms" "versions=$versions" \
    "method=\"IPv6, RAs from the virtual link-local $VLL; h1 (SLAAC, default route from the RAs) pings $SERVICE behind the router every $probe_ms ms; r1's port cut + SIGKILL; per router port (incoming): r2's first advert -> first echo reply to h1\""
