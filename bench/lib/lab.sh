# Two-router labs of netvrrp, keepalived and FRR side by side (sourced after common.sh by
# failover.sh, handover.sh, startup.sh, timing.sh and recovery.sh).
#
# One lab per implementation, each on its own bridge, all up at the same time:
#
#     rK (router, eth0 $NET.K/24)  --- port-rK --- br0 (namespace sw) --- port-h1 --- h1
#
# r1 (priority $PRIO1) and r2 (priority $PRIO2) run the same implementation. VRRPv3, IPv4,
# VRID $VRID, VIP $VIP. h1 ($NET.100) is a host on the segment.
#
# Implementations (tags): netvrrp (nv), netvrrp with `[runtime] realtime-priority = $RT_PRIO`
# (nr), netvrrp-base (nb: netvrrp run with the binary NETVRRP_BASE_BIN, another build such as
# main's, to compare with in the same run), keepalived (ka), FRR zebra + vrrpd with pre-made
# macvlans (fr). Per tag:
#   impl_start TAG K PRIO INTERVAL_MS   start the router (first start and revive)
#   impl_pids TAG K                     its process ids (one per line)
#   impl_stop TAG K                     graceful stop: what makes that daemon send priority 0
#   impl_revive_prep TAG K              clean up after a kill, before the next start
# called as "$(impl_of TAG)_start" etc.
#
# The caller sets `work` (a tracked directory) before calling anything here. Extra
# configuration for the next start (bench/track.sh: tracked objects; bench/deadman.sh:
# accept-mode): NV_TOP (tables before
# [[vrrp]]) and NV_ROUTER (keys of the router); KA_GLOBAL (lines in global_defs), KA_TOP
# (blocks before vrrp_instance) and KA_INSTANCE (lines in it). Empty by default.

NET=${NET:-10.88.0}
VIP=${VIP:-$NET.254}
VRID=${VRID:-10}
PRIO1=${PRIO1:-200}
PRIO2=${PRIO2:-100}
RT_PRIO=${RT_PRIO:-50}
# what tcpdump on the bridge records
CAPTURE_FILTER=${CAPTURE_FILTER:-ip proto 112 or arp}

# IMPLS default: netvrrp plus the peers that are installed (and netvrrp-rt where asked for)
default_impls() { # [with-rt]
    local i="netvrrp"
    [ "${1:-}" = with-rt ] && i+=" netvrrp-rt"
    command -v "$KEEPALIVED" >/dev/null && i+=" keepalived"
    [ -x "$FRR_BIN/vrrpd" ] && [ -x "$FRR_BIN/zebra" ] && i+=" frr"
    echo "$i"
}

tag() {
    case $1 in
        netvrrp) echo nv ;; netvrrp-rt) echo nr ;; netvrrp-base) echo nb ;; keepalived) echo ka ;; frr) echo fr ;;
        *) die "unknown implementation $1 (have: netvrrp netvrrp-rt netvrrp-base keepalived frr)" ;;
    esac
}
impl_of() { case $1 in nv | nr) echo nv ;; nb) echo nb ;; ka) echo ka ;; fr) echo fr ;; esac; }
name_of() { case $1 in nv) echo netvrrp ;; nr) echo netvrrp-rt ;; nb) echo netvrrp-base ;; ka) echo keepalived ;; fr) echo frr ;; esac; }
sw() { echo "$NSP-$1-sw"; }

# Frames router K sends, captured as they come into its switch port (a bridge-wide capture
# cannot tell the routers apart: same virtual MAC). Records the pid in PORTPID and the file
# in PORTCAP (both declared by the caller with `declare -A`).
port_capture() { # TAG K FILE FILTER
    local t=$1 k=$2 f=$3 filter=$4 opts pid
    opts=$(tcpdump_ts_opts "$(sw "$t")" "port-r$k")
    # shellcheck disable=SC2086
    ip netns exec "$(sw "$t")" tcpdump -i "port-r$k" -Q in -nn -U -Z root -s 128 -B 16384 $opts -w "$f" \
        "$filter" >"$f.log" 2>&1 </dev/null &
    pid=$!
    track_pid "$pid"
    wait_for 5 grep -q 'listening on' "$f.log" || { cat "$f.log" >&2; die "tcpdump failed"; }
    # shellcheck disable=SC2034 # the caller's arrays
    PORTCAP[$t-$k]=$f PORTPID[$t-$k]=$pid
}
rns() { echo "$NSP-$1-r$2"; }
hns() { echo "$NSP-$1-h1"; }

# ------------------------------------------------------------------ topology
lab_up() { # TAG
    local t=$1 k ns
    mkns "$(sw "$t")"
    ip -n "$(sw "$t")" link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0
    ip -n "$(sw "$t")" link set br0 up
    for k in 1 2 h1; do
        if [ "$k" = h1 ]; then ns=$(hns "$t"); else ns=$(rns "$t" "$k"); fi
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

lab_down() { # TAG: kill everything in the lab and delete its namespaces
    local t=$1 ns
    for ns in "$(rns "$t" 1)" "$(rns "$t" 2)" "$(hns "$t")" "$(sw "$t")"; do
        ns_kill_all "$ns"
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "${work:?}/$t"
}

# ------------------------------------------------------------------ netvrrp
nv_start() {
    local t=$1 k=$2 prio=$3 ms=$4 d=$work/$1/r$2
    mkdir -p "$d"
    {
        if [ "$t" = nr ]; then printf '[runtime]\nrealtime-priority = %d\n\n' "$RT_PRIO"; fi
        cat <<EOF
[defaults]
version = 3
advertisement-interval = $ms

${NV_TOP:-}
[[vrrp]]
interface = "eth0"
vrid = $VRID
priority = $prio
ipv4 = ["$VIP/24"]
${NV_ROUTER:-}
EOF
    } >"$d/netvrrp.toml"
    "$NETVRRP" --netns "$(rns "$t" "$k")" --run-dir "$d/run" apply -f "$d/netvrrp.toml" >>"$d/apply.log" 2>&1 \
        || { tail -20 "$d/apply.log" >&2; die "netvrrp apply on $t r$k failed"; }
}
nv_pids() { readpid "$work/$1/r$2/run/netvrrp.pid"; }
nv_stop() { # `netvrrp stop`: the master sends priority 0, then the runtime exits
    "$NETVRRP" --netns "$(rns "$1" "$2")" --run-dir "$work/$1/r$2/run" stop >>"$work/$1/r$2/apply.log" 2>&1 || true
}
nv_revive_prep() { :; }
nv_version() { "$NETVRRP" --version 2>/dev/null | awk 'NR==1' || echo "netvrrp $(git -C "$REPO_DIR" rev-parse --short HEAD)"; }
# netvrrp-base: the netvrrp functions with NETVRRP_BASE_BIN (as in bench/scale.sh)
for f in start pids stop revive_prep version; do
    eval "nb_$f() { local NETVRRP=\$NETVRRP_BASE_BIN; nv_$f \"\$@\"; }"
done

# ------------------------------------------------------------------ keepalived
ka_start() {
    local t=$1 k=$2 prio=$3 ms=$4 d=$work/$1/r$2/keepalived
    mkdir -p "$d"
    cat >"$d/keepalived.conf" <<EOF
global_defs {
  router_id $(rns "$t" "$k")
${KA_GLOBAL:-}
}
${KA_TOP:-}
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
${KA_INSTANCE:-}
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
ka_stop() { # SIGTERM to the parent: the VRRP child sends priority 0 and exits
    local p
    p=$(readpid "$work/$1/r$2/keepalived/keepalived.pid")
    [ -n "$p" ] && kill -TERM "$p" 2>/dev/null
    [ -z "$p" ] || wait_for 5 bash -c "! kill -0 $p 2>/dev/null" || true
}
ka_revive_prep() { ip -n "$(rns "$1" "$2")" addr del "$VIP/24" dev eth0 2>/dev/null || true; }
ka_version() { "$KEEPALIVED" --version 2>&1 | awk 'NR==1'; }

# ------------------------------------------------------------------ FRR
fr_start() {
    local t=$1 k=$2 prio=$3 ms=$4 d=$work/$1/r$2/frr ns
    ns=$(rns "$t" "$k")
    mkdir -p "$d/vartmp"
    fr_premake "$t" "$k"
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
    fr_daemons "$ns" "$d"
}
fr_premake() { # TAG K: FRR cannot create its macvlans: made the way its documentation says
    local ns idx m
    ns=$(rns "$1" "$2")
    idx=$(ip -n "$ns" -o link show eth0 | cut -d: -f1)
    m=vrrp4-$idx-$VRID
    ip -n "$ns" link show "$m" >/dev/null 2>&1 && return 0
    ip -n "$ns" link add "$m" link eth0 type macvlan mode bridge
    ip -n "$ns" link set "$m" addrgenmode random
    ip -n "$ns" link set "$m" address "00:00:5e:00:01:$(printf %02x "$VRID")"
    ip -n "$ns" addr add "$VIP/24" dev "$m"
    ip -n "$ns" link set "$m" up
}
fr_pids() { readpid "$work/$1/r$2/frr/vrrpd.pid"; echo; readpid "$work/$1/r$2/frr/zebra.pid"; }
fr_stop() { # `no vrrp VRID` through vtysh (vrrpd shuts the router down: priority 0), then
    # SIGTERM to both daemons
    local d=$work/$1/r$2/frr p
    ip netns exec "$(rns "$1" "$2")" vtysh --vty_socket "$d" -c 'configure terminal' -c 'interface eth0' \
        -c "no vrrp $VRID" >>"$d/vtysh.out" 2>&1 || true
    for p in $(fr_pids "$1" "$2"); do
        kill -TERM "$p" 2>/dev/null
        wait_for 5 bash -c "! kill -0 $p 2>/dev/null" || true
    done
}
fr_revive_prep() { # a SIGKILLed vrrpd leaves its macvlan with protodown off
    local m
    for m in $(ip -n "$(rns "$1" "$2")" -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^vrrp[46]-'); do
        ip -n "$(rns "$1" "$2")" link set "$m" protodown on 2>/dev/null || true
    done
}
fr_version() { echo "FRR $(dpkg-query -W -f '${Version}' frr 2>/dev/null || echo '?') (zebra + vrrpd)"; }

lab_init() { # [with-rt]: IMPLS (default: what is installed) -> the array impls, and versions
    # bench/track.sh and bench/shared_checks.sh name the previous build NETVRRP_BASE
    NETVRRP_BASE_BIN=${NETVRRP_BASE_BIN:-${NETVRRP_BASE:-}}
    IMPLS=${IMPLS:-$(default_impls "${1:-}")}
    read -r -a impls <<<"$IMPLS"
    [[ " $IMPLS " != *" netvrrp-base "* ]] || [ -x "${NETVRRP_BASE_BIN:-}" ] \
        || die "IMPLS has netvrrp-base: set NETVRRP_BASE_BIN to a binary"
    versions=$(versions_json "${impls[@]}")
}

impl_version() { "$(impl_of "$1")_version"; }
versions_json() { # IMPL...: "impl": "version", ...
    local impl out=()
    for impl in "$@"; do out+=("\"$impl\": \"$(impl_version "$(tag "$impl")")\""); done
    (IFS=,; echo "{${out[*]}}")
}

# ------------------------------------------------------------------ wire
capture_start() { # TAG FILE: tcpdump on the lab's bridge, its pid in CAPPID[TAG] (a child of
    # this shell, so that stop_pid can wait for it)
    local t=$1 f=$2 opts pid
    opts=$(tcpdump_ts_opts "$(sw "$t")" br0)
    # shellcheck disable=SC2086
    ip netns exec "$(sw "$t")" tcpdump -i br0 -nn -U -Z root -s 128 -B 16384 $opts -w "$f" "$CAPTURE_FILTER" >"$f.log" 2>&1 </dev/null &
    pid=$!
    track_pid "$pid"
    wait_for 5 grep -q 'listening on' "$f.log" || { cat "$f.log" >&2; die "tcpdump failed"; }
    CAPPID[$t]=$pid
}

# who advertises now on lab TAG since time T: r1 | r2 | mixed | none (PCAP[TAG], WINDOW)
wire_master() { # TAG SINCE
    $BL wire-master "${PCAP[$1]}" --vrid "$VRID" --since "$2" --addr "r1=$NET.1" --addr "r2=$NET.2" --window "$WINDOW"
}

wait_master() { # TAG WHO SINCE TIMEOUT
    local t=$1 who=$2 since=$3 end m
    end=$(awk -v n="$(now)" -v t="$4" 'BEGIN{printf "%.3f", n+t}')
    while :; do
        m=$(wire_master "$t" "$since")
        [ "$m" = "$who" ] && return 0
        awk -v n="$(now)" -v e="$end" 'BEGIN{exit !(n>e)}' && { note "$(name_of "$t"): waited for $who, wire says $m"; return 1; }
        sleep 0.1
    done
}

# the window in which "only one router advertised" means it is the master
window_for() { awk -v m="$1" 'BEGIN{w=5*m/1000; if (w<0.1) w=0.1; printf "%.3f", w}'; }

kill_master() { # TAG: cut r1's port and SIGKILL its daemons at once (sets T_CUT)
    local t=$1 pids p
    pids=$("$(impl_of "$t")_pids" "$t" 1 | awk 'NF && !s[$1]++')
    ip -n "$(sw "$t")" link set port-r1 down
    T_CUT=$(now)
    # shellcheck disable=SC2086
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
    for p in $pids; do wait_for 5 bash -c "! kill -0 $p 2>/dev/null" || true; done
    ns_kill_all "$(rns "$t" 1)"
}

revive() { # TAG INTERVAL: r1 back (port up first)
    local t=$1
    "$(impl_of "$t")_revive_prep" "$t" 1
    ip -n "$(sw "$t")" link set port-r1 up
    sleep 0.3
    "$(impl_of "$t")_start" "$t" 1 "$PRIO1" "$2"
}

# bring the labs of IMPLS up with INTERVAL ms adverts, capture each into $work/TAG-SUFFIX.pcap,
# and wait until r1 is master everywhere. Sets TAGS, PCAP[TAG], CAPPID[TAG].
labs_up() { # INTERVAL SUFFIX IMPL...
    local ms=$1 suffix=$2 impl t since
    shift 2
    TAGS=()
    WINDOW=$(window_for "$ms")
    for impl in "$@"; do
        t=$(tag "$impl")
        TAGS+=("$t")
        lab_up "$t"
        PCAP[$t]=$work/$t-$suffix.pcap
        capture_start "$t" "${PCAP[$t]}"
        since=$(now)
        "$(impl_of "$t")_start" "$t" 1 "$PRIO1" "$ms"
        "$(impl_of "$t")_start" "$t" 2 "$PRIO2" "$ms"
        wait_master "$t" r1 "$since" 20 || die "$impl: r1 did not become master"
        note "$impl lab up, ${ms} ms adverts, r1 is master"
    done
}
declare -A PCAP CAPPID

# RUNS runs alternating between the labs in TAGS (A B C A B C ...): per run and lab, ACTION
# TAG takes r1 down (kill_master, stop_master), r2 must take over, then r1 is revived and must
# preempt back. A lab's next run waits SPACING s after its previous takeover, so a delayed
# second gratuitous-ARP burst (keepalived: 5 s) cannot be mistaken for the next run's first.
# Optional hooks SERIES_BEFORE TAG / SERIES_AFTER TAG run around each run (probes).
# Writes "RUN i t0 t_revive t_cut" lines to $work/TAG-SUFFIX.events.
series() { # NAME INTERVAL SUFFIX ACTION
    local name=$1 ms=$2 suffix=$3 action=$4 i t t0 trev wait_until
    local -A last broken
    for t in "${TAGS[@]}"; do
        : >"$work/$t-$suffix.events"
        last[$t]=0 broken[$t]=0
    done
    for ((i = 1; i <= RUNS; i++)); do
        for t in "${TAGS[@]}"; do
            [ "${broken[$t]}" = 1 ] && continue
            wait_until=$(awk -v a="${last[$t]}" -v s="${SPACING:-6}" 'BEGIN{printf "%.3f", a+s}')
            while awk -v n="$(now)" -v e="$wait_until" 'BEGIN{exit !(n<e)}'; do sleep 0.1; done
            "${SERIES_BEFORE:-:}" "$t"
            sleep "0.$((RANDOM % 3 + 2))"
            t0=$(now)
            T_CUT=$t0
            "$action" "$t"
            if ! wait_master "$t" r2 "$t0" 5; then
                note "$(name_of "$t") run $i: r2 did not take over"
            fi
            last[$t]=$(now)
            sleep 0.15   # the first gratuitous ARP
            "${SERIES_AFTER:-:}" "$t"
            trev=$(now)
            echo "RUN $i $t0 $trev $T_CUT" >>"$work/$t-$suffix.events"
            revive "$t" "$ms"
            if ! wait_master "$t" r1 "$trev" 15; then
                note "$(name_of "$t"): r1 did not preempt back; no more runs for it at ${ms} ms"
                broken[$t]=1
            fi
        done
        printf '%s %3d ms: run %d/%d done\n' "$name" "$ms" "$i" "$RUNS"
    done
}

stop_master() { # TAG: graceful stop of r1 (its priority-0 advert), r1's port stays up
    "$(impl_of "$1")_stop" "$1" 1
    ns_kill_all "$(rns "$1" 1)"
}

# Host probes for series() (recovery.sh, ra.sh): h1 pings PROBE_TARGET every PROBE seconds
# from SERIES_BEFORE to SERIES_AFTER, the replies logged to $work/TAG-ping.log.
declare -A PING
probes_start() { # TAG
    ip netns exec "$(hns "$1")" ping -n -q -i "$PROBE" "$PROBE_TARGET" >>"$work/$1-ping.log" 2>&1 </dev/null &
    PING[$1]=$!
    track_pid "${PING[$1]}"
    sleep 0.2
}
probes_stop() { # TAG: let the replies resume, then stop
    sleep 0.5
    stop_pid "${PING[$1]}"
}
