#!/usr/bin/env bash
# Failover benchmark: kill -9 of the master (and its switch port down at the same instant),
# measured on the wire.
#
#   bench/failover.sh                  RUNS=20 INTERVALS="100 10" IMPLS="netvrrp keepalived frr"
#
# IMPLS may also name netvrrp-base: netvrrp again with the binary $NETVRRP_BASE_BIN (e.g. a
# build of main), to compare two builds in one run.
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
bench_init
need_netvrrp
frag_init failover

RUNS=${RUNS:-20}
INTERVALS=${INTERVALS:-"100 10"}
if [ -z "${IMPLS:-}" ]; then
    IMPLS="netvrrp"
    command -v "$KEEPALIVED" >/dev/null && IMPLS+=" keepalived"
    [ -x "$FRR_BIN/vrrpd" ] && [ -x "$FRR_BIN/zebra" ] && IMPLS+=" frr"
fi
NET=10.88.0
VIP=$NET.254
VRID=10
PRIO1=200
PRIO2=100
SPACING=${SPACING:-6}

work=$(mktemp -d /tmp/nvb-failover.XXXXXX)
track_dir "$work"
chmod 755 "$work"

tag() { case $1 in netvrrp) echo nv ;; netvrrp-base) echo nb ;; keepalived) echo ka ;; frr) echo fr ;; *) die "unknown implementation $1" ;; esac; }
sw() { echo "$NSP-$1-sw"; }
rns() { echo "$NSP-$1-r$2"; }

# ------------------------------------------------------------------ topology
lab_up() { # TAG
    local t=$1 k ns
    mkns "$(sw "$t")"
    ip -n "$(sw "$t")" link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0
    ip -n "$(sw "$t")" link set br0 up
    for k in 1 2 h1; do
        if [ "$k" = h1 ]; then ns=$NSP-$t-h1; else ns=$(rns "$t" "$k"); fi
        mkns "$ns"
        ip link add eth0 netns "$ns" type veth peer name "port-r$k" netns "$(sw "$t")"
        ip -n "$(sw "$t")" link set "port-r$k" master br0 up
        if [ "$k" = h1 ]; then
            ip -n "$ns" addr add "$NET.100/24" dev eth0
        else
            ip -n "$ns" link set eth0 address "02:88:00:00:00:0$k"
            ip -n "$ns" addr add "$NET.$k/24" dev eth0
            # routers: reply to ARP only for addresses on the receiving interface
            ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 >/dev/null
        fi
        ip -n "$ns" link set eth0 up
        mkdir -p "$work/$t/r$k"
    done
}

# ------------------------------------------------------------------ implementations
# impl_start TAG K PRIO INTERVAL_MS: start the router (first start and revive)
# impl_pids TAG K: its process ids

nv_start() {
    local t=$1 k=$2 prio=$3 ms=$4 d=$work/$1/r$2
    cat >"$d/netvrrp.toml" <<EOF
[defaults]
version = 3
advertisement-interval = $ms

[[vrrp]]
interface = "eth0"
vrid = $VRID
priority = $prio
ipv4 = ["$VIP/24"]
EOF
    "$NETVRRP" --netns "$(rns "$t" "$k")" --run-dir "$d/run" apply -f "$d/netvrrp.toml" >>"$d/apply.log" 2>&1 \
        || { tail -20 "$d/apply.log" >&2; die "netvrrp apply on $t r$k failed"; }
}
nv_pids() { readpid "$work/$1/r$2/run/netvrrp.pid"; }
nv_revive_prep() { :; }
nv_version() { "$NETVRRP" --version 2>/dev/null | awk 'NR==1' || echo "netvrrp $(git -C "$REPO_DIR" rev-parse --short HEAD)"; }
nb_bin() { [ -x "${NETVRRP_BASE_BIN:-}" ] || die "netvrrp-base needs NETVRRP_BASE_BIN"; echo "$NETVRRP_BASE_BIN"; }
nb_start() { NETVRRP=$(nb_bin) nv_start "$@"; }
nb_pids() { nv_pids "$@"; }
nb_revive_prep() { :; }
nb_version() { echo "$(NETVRRP=$(nb_bin) nv_version) at $(nb_bin)"; }

ka_start() {
    local t=$1 k=$2 prio=$3 ms=$4 d=$work/$1/r$2/keepalived
    mkdir -p "$d"
    cat >"$d/keepalived.conf" <<EOF
global_defs {
  router_id $(rns "$t" "$k")
}
vrrp_instance bench {
  state BACKUP
  interface eth0
  virtual_router_id $VRID
  priority $prio
  advert_int $(awk -v m="$ms" 'BEGIN{printf "%g", m/1000}')
  version 3
  virtual_ipaddress {
    $VIP/24 dev eth0
  }
}
EOF
    rm -f "$d"/*.pid
    ip netns exec "$(rns "$t" "$k")" env TMPDIR="$d" setsid "$KEEPALIVED" -n -l -D -P -G \
        -f "$d/keepalived.conf" -p "$d/keepalived.pid" -r "$d/vrrp.pid" -c "$d/checkers.pid" -b "$d/bfd.pid" \
        >>"$d/keepalived.log" 2>&1 </dev/null &
    disown $!
    wait_for 5 test -s "$d/vrrp.pid" || { tail -20 "$d/keepalived.log" >&2; die "keepalived on $t r$k did not start"; }
}
ka_pids() { readpid "$work/$1/r$2/keepalived/vrrp.pid"; echo; readpid "$work/$1/r$2/keepalived/keepalived.pid"; }
ka_revive_prep() { ip -n "$(rns "$1" "$2")" addr del "$VIP/24" dev eth0 2>/dev/null || true; }
ka_version() { "$KEEPALIVED" --version 2>&1 | awk 'NR==1'; }

fr_start() {
    local t=$1 k=$2 prio=$3 ms=$4 d=$work/$1/r$2/frr ns idx m
    ns=$(rns "$t" "$k")
    mkdir -p "$d/vartmp"
    idx=$(ip -n "$ns" -o link show eth0 | cut -d: -f1)
    m=vrrp4-$idx-$VRID
    if ! ip -n "$ns" link show "$m" >/dev/null 2>&1; then
        # FRR cannot create its macvlans: made here the way its documentation says
        ip -n "$ns" link add "$m" link eth0 type macvlan mode bridge
        ip -n "$ns" link set "$m" addrgenmode random
        ip -n "$ns" link set "$m" address "00:00:5e:00:01:$(printf %02x $VRID)"
        ip -n "$ns" addr add "$VIP/24" dev "$m"
        ip -n "$ns" link set "$m" up
    fi
    printf 'hostname %s\n!\n' "$ns" >"$d/zebra.conf"
    cat >"$d/vrrpd.conf" <<EOF
hostname $ns
!
interface eth0
 vrrp $VRID version 3
 vrrp $VRID priority $prio
 vrrp $VRID advertisement-interval $ms
 vrrp $VRID ip $VIP
!
EOF
    chown -R frr:frr "$d"
    rm -f "$d"/*.pid "$d/zserv.api" "$d"/*.vty
    local common="-d -z $d/zserv.api --vty_socket $d -P 0"
    ip netns exec "$ns" sh -c "mount --bind $d/vartmp /var/tmp && exec $FRR_BIN/zebra $common -f $d/zebra.conf -i $d/zebra.pid --log file:$d/zebra.log" >>"$d/zebra.out" 2>&1 </dev/null
    wait_for 5 test -S "$d/zserv.api" || die "zebra on $t r$k did not start"
    ip netns exec "$ns" sh -c "mount --bind $d/vartmp /var/tmp && exec $FRR_BIN/vrrpd $common -f $d/vrrpd.conf -i $d/vrrpd.pid --log file:$d/vrrpd.log" >>"$d/vrrpd.out" 2>&1 </dev/null
    wait_for 5 test -s "$d/vrrpd.pid" || die "vrrpd on $t r$k did not start"
}
fr_pids() { readpid "$work/$1/r$2/frr/vrrpd.pid"; echo; readpid "$work/$1/r$2/frr/zebra.pid"; }
fr_revive_prep() { # a SIGKILLed vrrpd leaves its macvlan with protodown off
    local m
    for m in $(ip -n "$(rns "$1" "$2")" -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^vrrp4-'); do
        ip -n "$(rns "$1" "$2")" link set "$m" protodown on 2>/dev/null || true
    done
}
fr_version() { echo "FRR $(dpkg-query -W -f '${Version}' frr 2>/dev/null || echo '?') (zebra + vrrpd)"; }

# ------------------------------------------------------------------ wire
capture_start() { # TAG FILE
    local t=$1 f=$2 opts
    opts=$(tcpdump_ts_opts "$(sw "$t")" br0)
    # shellcheck disable=SC2086
    ip netns exec "$(sw "$t")" tcpdump -i br0 -nn -U -Z root -s 128 -B 8192 $opts -w "$f" 'ip proto 112 or arp' >"$f.log" 2>&1 </dev/null &
    local pid=$!
    track_pid "$pid"
    wait_for 5 grep -q 'listening on' "$f.log" || { cat "$f.log" >&2; die "tcpdump failed"; }
    echo "$pid"
}

# who advertises now on lab TAG since time T: r1 | r2 | mixed | none
wire_master() { # TAG SINCE
    local t=$1
    $BL wire-master "${PCAP[$t]}" --vrid $VRID --since "$2" --addr "r1=$NET.1" --addr "r2=$NET.2" --window "$WINDOW"
}

wait_master() { # TAG WHO SINCE TIMEOUT
    local t=$1 who=$2 since=$3 end m
    end=$(awk -v n="$(now)" -v t="$4" 'BEGIN{printf "%.3f", n+t}')
    while :; do
        m=$(wire_master "$t" "$since")
        [ "$m" = "$who" ] && return 0
        awk -v n="$(now)" -v e="$end" 'BEGIN{exit !(n>e)}' && { note "$t: waited for $who, wire says $m"; return 1; }
        sleep 0.1
    done
}

kill_master() { # TAG: cut r1's port and SIGKILL its daemons at once
    local t=$1 pids p
    pids=$("$(impl_of "$t")_pids" "$t" 1 | awk 'NF && !s[$1]++')
    ip -n "$(sw "$t")" link set port-r1 down
    T_CUT=$(now)
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
    for p in $pids; do wait_for 5 bash -c "! kill -0 $p 2>/dev/null" || true; done
    ns_kill_all "$(rns "$t" 1)"
}

revive() { # TAG INTERVAL
    local t=$1
    "$(impl_of "$t")_revive_prep" "$t" 1
    ip -n "$(sw "$t")" link set port-r1 up
    sleep 0.3
    "$(impl_of "$t")_start" "$t" 1 $PRIO1 "$2"
}

impl_of() { case $1 in nv) echo nv ;; nb) echo nb ;; ka) echo ka ;; fr) echo fr ;; esac; }
name_of() { case $1 in nv) echo netvrrp ;; nb) echo netvrrp-base ;; ka) echo keepalived ;; fr) echo frr ;; esac; }

versions=()
for impl in $IMPLS; do
    t=$(tag "$impl")
    versions+=("\"$impl\": \"$("$(impl_of "$t")_version")\"")
done

declare -A PCAP LAST_TAKEOVER BROKEN
ts_type=""
for ms in $INTERVALS; do
    WINDOW=$(awk -v m="$ms" 'BEGIN{w=5*m/1000; if (w<0.1) w=0.1; printf "%.3f", w}')
    tags=()
    for impl in $IMPLS; do
        t=$(tag "$impl")
        tags+=("$t")
        lab_up "$t"
        PCAP[$t]=$work/$t-$ms.pcap
        : >"$work/$t-$ms.events"
        capture_start "$t" "${PCAP[$t]}" >"$work/$t-$ms.cap.pid"
        ts_type=$(tcpdump_ts_type "$(sw "$t")" br0)
        since=$(now)
        "$(impl_of "$t")_start" "$t" 1 $PRIO1 "$ms"
        "$(impl_of "$t")_start" "$t" 2 $PRIO2 "$ms"
        wait_master "$t" r1 "$since" 20 || die "$impl: r1 did not become master"
        LAST_TAKEOVER[$t]=0
        BROKEN[$t]=0
        note "$impl lab up, ${ms} ms adverts, r1 is master"
    done
    for ((i = 1; i <= RUNS; i++)); do
        for t in "${tags[@]}"; do
            [ "${BROKEN[$t]}" = 1 ] && continue
            # spacing since this lab's previous takeover (delayed GARP bursts)
            wait_until=$(awk -v a="${LAST_TAKEOVER[$t]}" -v s="$SPACING" 'BEGIN{printf "%.3f", a+s}')
            while awk -v n="$(now)" -v e="$wait_until" 'BEGIN{exit !(n<e)}'; do sleep 0.1; done
            sleep "0.$((RANDOM % 3 + 2))"
            t0=$(now)
            kill_master "$t"
            if ! wait_master "$t" r2 "$t0" 5; then
                note "$(name_of "$t") run $i: r2 did not take over"
            fi
            LAST_TAKEOVER[$t]=$(now)
            sleep 0.15   # the first gratuitous ARP
            trev=$(now)
            echo "RUN $i $t0 $trev $T_CUT" >>"$work/$t-$ms.events"
            revive "$t" "$ms"
            if ! wait_master "$t" r1 "$trev" 15; then
                note "$(name_of "$t"): r1 did not preempt back; no more runs for it at ${ms} ms"
                BROKEN[$t]=1
            fi
        done
        printf 'failover %3d ms: run %d/%d done\n' "$ms" "$i" "$RUNS"
    done
    for t in "${tags[@]}"; do
        stop_pid "$(cat "$work/$t-$ms.cap.pid")"
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
    # tear this interval's labs down before the next one
    for t in "${tags[@]}"; do
        for ns in "$(rns "$t" 1)" "$(rns "$t" 2)" "$NSP-$t-h1" "$(sw "$t")"; do
            ns_kill_all "$ns"
            ip netns del "$ns" 2>/dev/null || true
        done
    done
done
figset runs=$RUNS "intervals_ms=[${INTERVALS// /,}]" "timestamps=\"tcpdump on the bridge, nanosecond precision, $ts_type time stamps\"" \
    "versions={$(IFS=,; echo "${versions[*]}")}" \
    "method=\"r1 prio 200 and r2 prio 100 of the same implementation; r1's port cut + SIGKILL; gap measured on the wire from r1's last advert; MDI = 3*I + (256-100)*I/256\""
