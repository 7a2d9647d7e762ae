#!/usr/bin/env bash
# Reload benchmark: a live configuration change of a running master, side by side.
#
#   bench/reload.sh                    RUNS=5 ROUTERS=1000 FAST=100 FAST_MS=10 PRE=2 POST=3
#                                      PHASES="main fast small" SMALL_ROUTERS=100
#                                      IMPLS="netvrrp keepalived" (main)
#                                      FAST_IMPLS="netvrrp netvrrp-rt keepalived" (fast)
#                                      SMALL_IMPLS="netvrrp keepalived frr" (small)
#                                      (netvrrp-rt: [runtime] realtime-priority = $RT_PRIO;
#                                      netvrrp-base, netvrrp-base-rt: the same with
#                                      NETVRRP_BASE_BIN, another build to compare with)
#                                      RELOAD_NAME=reload (the results.json entry)
#                                      STARTUP_TIMEOUT=180 SETTLE=7
#
# FRR is not in the 1,000-router phases by default (IMPLS can add it): on this 2-vCPU machine
# its vrrpd needed 145 s until 1,000 masters advertised, one vtysh with the 1,000 priority
# lines took 147 s, and its 1,000-instance backup did not hold Backup; it is measured side
# by side with the others in the "small" phase (SMALL_ROUTERS, same scenarios).
#
# Per implementation two namespaces, a master M and a backup B of the same implementation,
# joined by 4 veth pairs pK (10.(100+K).0.1/16 in M, .0.2 in B; each pair its own segment).
# ROUTERS instances = 4 parents x ROUTERS/4 VRIDs, VRRPv3, IPv4, 1 s adverts (as in
# bench/scale.sh), one VIP each (10.(100+K).1.VRID/16); M has priority 200, B 100 (preempt
# on), so M stays master through every change below:
#   netvrrp     `netvrrp apply -f FILE` of the edited file (the runtime reloads);
#   keepalived  the edited keepalived.conf, then SIGHUP to its parent;
#   frr         zebra + vrrpd (macvlans made beforehand with `ip -batch`, as in scale.sh);
#               the change through vtysh: `interface pK` / `vrrp V priority P` (one vtysh
#               process for all changed routers), a new VIP as `ip addr add` on the macvlan
#               (FRR does not manage addresses) + `vrrp V ip A`.
# Scenarios, per run, the implementations alternating (the first one rotates per run):
#   one   the master's priority of one router (p1, VRID 1) changes (200 <-> 150 band, stays
#         above the backup's 100);
#   all   every master priority changes (200 <-> 150);
#   vip   one VIP is added to one router (p1, VRID 1), on M (measured) and then on B (the
#         same change an operator makes on both boxes, so the VIP lists agree again).
# Phase "main" runs the three; phase "small" the same with SMALL_ROUTERS; phase "fast" adds FAST routers at FAST_MS adverts on a fifth
# parent pair to both sides (the same runtime/daemon) and repeats "all": the 10 ms routers
# are not changed, and their adverts must keep coming during the reload of the 1,000.
# Each event: PRE s quiet (control window), the command, then POST s. Measured:
#   - tcpdump on every pK of B (the link; nanosecond host time stamps), one capture per
#     link for the whole phase, decoded by benchlib.py reload:
#     command -> first advert with the new priority (or VIP) per changed router (first,
#     median, last of them; target for all: last <= interval + 50 ms);
#     the longest advert gap of unchanged / changed / fast routers for gaps ending inside
#     [command, command + POST] (a router silent at the end counts up to the end), and the
#     same over the PRE control window before it (the machine's own noise);
#     transitions on the wire: priority-0 adverts of M and routers whose backup advertised
#     (= a master change), the same uniform method for every implementation;
#   - CPU of the daemon(s) of M (netvrrp: the runtime; keepalived: parent + VRRP child; FRR:
#     vrrpd + zebra): /proc/PID/stat utime+stime(+children) delta over [command, +POST] minus
#     the PRE window's delta scaled to the same length (their steady advertising), also from
#     schedstat (ns, live threads); plus the command's own CPU (apply, vtysh) from getrusage;
#   - wall: the command process (apply, vtysh; keepalived, SIGHUP being asynchronous: until
#     its "Reload complete" log line, seen by a watcher polling the log every 2 ms);
#   - per phase, the implementations' own transition counters on M and B (netvrrp show vrrp
#     --json, keepalived's JSON dump, FRR show vrrp json) before the first and after the
#     last event: any difference is a transition caused by the reloads.
# The load average is stored with every event (the machine is shared).
# The machine's own wakeup latency next to it (MACHINE_PROBE=1, the default): for the whole
# phase, bench/lib/latency_probe.py pinned to each CPU at SCHED_FIFO 99 (above any daemon)
# sleeps to absolute deadlines every PROBE_US (1000) us and logs every wakeup later than
# 100 us with its time (cyclictest's method, with time stamps). Per event: the worst late
# wakeup in each window (what any process here could be late by then, whatever it does), and
# the fast routers' gaps over interval + 10 % the machine does not explain: no stall of a CPU
# overlaps the gap by at least the gap's excess over the interval (less the probe's interval).
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
bench_start "${RELOAD_NAME:-reload}"

RUNS=${RUNS:-5}
ROUTERS=${ROUTERS:-1000}
FAST=${FAST:-100}
FAST_MS=${FAST_MS:-10}
PRE=${PRE:-2}
POST=${POST:-3}
SETTLE=${SETTLE:-7}
STARTUP_TIMEOUT=${STARTUP_TIMEOUT:-180}
PHASES=${PHASES:-main fast small}
SMALL_ROUTERS=${SMALL_ROUTERS:-100}
RT_PRIO=${RT_PRIO:-50}
PROBE_US=${PROBE_US:-1000}
MACHINE_PROBE=${MACHINE_PROBE:-1}
PARENTS=4
INTERVAL_MS=1000
PER=$((ROUTERS / PARENTS))
[ $((PER * PARENTS)) -eq "$ROUTERS" ] && [ "$PER" -le 255 ] || die "ROUTERS=$ROUTERS must be a multiple of $PARENTS, at most 255 each"
[ "$FAST" -le 255 ] || die "FAST=$FAST: at most 255"
have_ka=""; command -v "$KEEPALIVED" >/dev/null && have_ka=" keepalived"
have_fr=""; [ -x "$FRR_BIN/vrrpd" ] && [ -x "$FRR_BIN/zebra" ] && have_fr=" frr"
IMPLS=${IMPLS:-netvrrp$have_ka}
FAST_IMPLS=${FAST_IMPLS:-netvrrp netvrrp-rt$have_ka}
SMALL_IMPLS=${SMALL_IMPLS:-netvrrp$have_ka$have_fr}
X_PARENT=1 X_VRID=1 # the router of the "one" and "vip" scenarios
X_KEY="10.$((100 + X_PARENT)).0.1/$X_VRID"

tag() { case $1 in netvrrp) echo nv ;; netvrrp-rt) echo nr ;; netvrrp-base) echo bv ;; netvrrp-base-rt) echo br ;; keepalived) echo ka ;; frr) echo fr ;; *) die "reload: unknown implementation $1" ;; esac; }
name_of() { case $1 in nv) echo netvrrp ;; nr) echo netvrrp-rt ;; bv) echo netvrrp-base ;; br) echo netvrrp-base-rt ;; ka) echo keepalived ;; fr) echo frr ;; esac; }
# netvrrp-base / netvrrp-base-rt: the same with NETVRRP_BASE_BIN (another build, e.g. main's)
bin_of() { case $1 in bv | br) echo "${NETVRRP_BASE_BIN:?netvrrp-base needs NETVRRP_BASE_BIN}" ;; *) echo "$NETVRRP" ;; esac; }
ns_of() { echo "$NSP-$1-$2"; } # TAG m|b
dir_of() { echo "$work/$1/$2"; }
declare -A ALLP XP NVIP NPAR CAPS
FASTON=0 # the current phase has the fast routers

# ------------------------------------------------------------------ topology
setup() { # TAG
    local t=$1 m b k
    m=$(ns_of "$t" m) b=$(ns_of "$t" b)
    mkns "$m"
    mkns "$b"
    NPAR[$t]=$PARENTS
    [ "$FASTON" = 1 ] && NPAR[$t]=$((PARENTS + 1))
    for ((k = 0; k < NPAR[$t]; k++)); do
        ip -n "$m" link add "p$k" type veth peer name "p$k" netns "$b"
        ip -n "$m" addr add "10.$((100 + k)).0.1/16" dev "p$k"
        ip -n "$b" addr add "10.$((100 + k)).0.2/16" dev "p$k"
        ip -n "$m" link set "p$k" up
        ip -n "$b" link set "p$k" up
    done
    mkdir -p "$(dir_of "$t" m)" "$(dir_of "$t" b)"
    ALLP[$t]=200 XP[$t]=200 NVIP[$t]=0
}

teardown() { # TAG
    local t=$1 r ns k
    for r in m b; do
        ns=$(ns_of "$t" $r)
        ns_kill_all "$ns"
        for ((k = 0; k < NPAR[$t]; k++)); do ip -n "$ns" link del "p$k" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
    done
}

capture_start() { # TAG: tcpdump on every link of B (not -i any: every frame would also be
    # seen once per bridge-mode macvlan on that parent)
    local t=$1 k f p
    CAPS[$t]=""
    for ((k = 0; k < NPAR[$t]; k++)); do
        f=$work/$t-$PHASE-p$k.pcap
        ip netns exec "$(ns_of "$t" b)" tcpdump -i "p$k" -nn -U -Z root -s 96 -B 32768 --time-stamp-precision nano \
            -w "$f" 'ip proto 112' >"$f.log" 2>&1 </dev/null &
        p=$!
        track_pid "$p"
        CAPPIDS[$t]="${CAPPIDS[$t]:-} $p"
        CAPS[$t]="${CAPS[$t]} $f"
    done
    for f in ${CAPS[$t]}; do
        wait_for 5 grep -q 'listening on' "$f.log" || { cat "$f.log" >&2; die "tcpdump failed"; }
    done
}
declare -A CAPPIDS
capture_stop() { local p; for p in ${CAPPIDS[$1]}; do stop_pid "$p"; done; CAPPIDS[$1]=""; }

addrs() { # ROLE(m|b) [fast]: the sources of that side's adverts
    local k o=1 out=()
    [ "$1" = b ] && o=2
    for ((k = 0; k < PARENTS; k++)); do out+=("10.$((100 + k)).0.$o"); done
    [ "${2:-}" = fast ] && [ "$FASTON" = 1 ] && out+=("10.$((100 + PARENTS)).0.$o")
    echo "${out[@]}"
}
fast_src() { echo "10.$((100 + PARENTS)).0.1"; }

# what router (K, V) runs with on side ROLE: priority, extra VIPs
prio_of() { # TAG ROLE K V -> PRIO (a variable: this runs once per router per reload)
    if [ "$2" = b ]; then PRIO=100
    elif [ "$3" -ge "$PARENTS" ]; then PRIO=200
    elif [ "$3" = "$X_PARENT" ] && [ "$4" = "$X_VRID" ]; then PRIO=${XP[$1]}
    else PRIO=${ALLP[$1]}; fi
}
extra_vip() { echo "10.$((100 + X_PARENT)).2.$1"; } # N-th added VIP of router X

# ------------------------------------------------------------------ netvrrp
nv_write() { # TAG ROLE
    local t=$1 r=$2 k v n per ms vips f
    f=$(dir_of "$t" "$r")/netvrrp.toml
    {
        case $t in nr | br) printf '[runtime]\nrealtime-priority = %d\n\n' "$RT_PRIO" ;; esac
        printf '[defaults]\nversion = 3\nadvertisement-interval = %d\n' "$INTERVAL_MS"
        for ((k = 0; k < NPAR[$t]; k++)); do
            per=$PER ms=$INTERVAL_MS
            [ "$k" -ge "$PARENTS" ] && per=$FAST ms=$FAST_MS
            for ((v = 1; v <= per; v++)); do
                prio_of "$t" "$r" "$k" "$v"
                vips="\"10.$((100 + k)).1.$v/16\""
                if [ "$k" = "$X_PARENT" ] && [ "$v" = "$X_VRID" ]; then
                    for ((n = 1; n <= NVIP[$t]; n++)); do vips+=", \"$(extra_vip "$n")/16\""; done
                fi
                printf '\n[[vrrp]]\ninterface = "p%d"\nvrid = %d\npriority = %d\nadvertisement-interval = %d\nipv4 = [%s]\n' \
                    "$k" "$v" "$PRIO" "$ms" "$vips"
            done
        done
    } >"$f.new"
    mv "$f.new" "$f"
}
nv_cmd() { # TAG ROLE: the reload command (also the start)
    local d
    d=$(dir_of "$1" "$2")
    echo "$(bin_of "$1")" --netns "$(ns_of "$1" "$2")" --run-dir "$d/run" apply -f "$d/netvrrp.toml"
}
nv_start() { # TAG ROLE
    local d
    d=$(dir_of "$1" "$2")
    nv_write "$1" "$2"
    # shellcheck disable=SC2046
    $(nv_cmd "$1" "$2") >"$d/apply.log" 2>&1 || { tail -20 "$d/apply.log" >&2; die "netvrrp apply ($1 $2) failed"; }
}
nv_pids() { readpid "$(dir_of "$1" m)/run/netvrrp.pid"; }
# netvrrp-rt: the same with [runtime] realtime-priority = $RT_PRIO (SCHED_FIFO event loop)
for b in nr bv br; do
    eval "${b}_start() { nv_start \"\$@\"; }; ${b}_pids() { nv_pids \"\$@\"; }; ${b}_counters() { nv_counters \"\$@\"; }"
done
nv_counters() { # TAG ROLE: sum of the transitions counters
    "$(bin_of "$1")" --netns "$(ns_of "$1" "$2")" --run-dir "$(dir_of "$1" "$2")/run" show vrrp --json | jq '[(if type == "array" then . else .routers end)[].counters.transitions] | add'
}

# ------------------------------------------------------------------ keepalived
ka_write() { # TAG ROLE
    local t=$1 r=$2 k v n per adv f
    f=$(dir_of "$t" "$r")/keepalived.conf
    {
        printf 'global_defs {\n  router_id %s\n}\n' "$(ns_of "$t" "$r")"
        for ((k = 0; k < NPAR[$t]; k++)); do
            per=$PER adv=1
            [ "$k" -ge "$PARENTS" ] && per=$FAST adv=$(awk -v m="$FAST_MS" 'BEGIN{printf "%g", m/1000}')
            for ((v = 1; v <= per; v++)); do
                prio_of "$t" "$r" "$k" "$v"
                printf 'vrrp_instance p%d_%d {\n  state BACKUP\n  interface p%d\n  virtual_router_id %d\n  priority %d\n  advert_int %s\n  version 3\n  virtual_ipaddress {\n    10.%d.1.%d/16 dev p%d\n' \
                    "$k" "$v" "$k" "$v" "$PRIO" "$adv" $((100 + k)) "$v" "$k"
                if [ "$k" = "$X_PARENT" ] && [ "$v" = "$X_VRID" ]; then
                    for ((n = 1; n <= NVIP[$t]; n++)); do printf '    %s/16 dev p%d\n' "$(extra_vip "$n")" "$k"; done
                fi
                printf '  }\n}\n'
            done
        done
    } >"$f.new"
    mv "$f.new" "$f"
}
ka_start() { # TAG ROLE
    local d
    d=$(dir_of "$1" "$2")
    ka_write "$1" "$2"
    rm -f "$d"/*.pid "$d/keepalived.json"
    ip netns exec "$(ns_of "$1" "$2")" env TMPDIR="$d" setsid "$KEEPALIVED" -n -l -D -P -G \
        -f "$d/keepalived.conf" -p "$d/keepalived.pid" -r "$d/vrrp.pid" -c "$d/checkers.pid" -b "$d/bfd.pid" \
        >"$d/keepalived.log" 2>&1 </dev/null &
    disown $!
    wait_for 10 test -s "$d/vrrp.pid" || { tail -20 "$d/keepalived.log" >&2; die "keepalived ($1 $2) did not start"; }
}
ka_cmd() { echo kill -HUP "$(readpid "$(dir_of "$1" "$2")/keepalived.pid")"; }
ka_pids() { readpid "$(dir_of "$1" m)/keepalived.pid"; echo; readpid "$(dir_of "$1" m)/vrrp.pid"; }
ka_counters() { # TAG ROLE: become_master + release_master from a fresh JSON dump
    local d before
    d=$(dir_of "$1" "$2")
    before=$(stat -c %Y.%y "$d/keepalived.json" 2>/dev/null || echo none)
    kill -s "$($KEEPALIVED --signum=JSON)" "$(readpid "$d/keepalived.pid")"
    wait_for 10 bash -c "[ -s '$d/keepalived.json' ] && [ \"\$(stat -c %Y.%y '$d/keepalived.json')\" != '$before' ]" || { echo null; return 0; }
    sleep 0.3
    jq '[.[].stats | .become_master + .release_master] | add' "$d/keepalived.json"
}

# ------------------------------------------------------------------ FRR
fr_write() { # TAG ROLE: the macvlans (ip -batch file) and the daemons' configs
    local t=$1 r=$2 k v per ms idx m d ns
    d=$(dir_of "$t" "$r") ns=$(ns_of "$t" "$r")
    mkdir -p "$d/vartmp"
    {
        for ((k = 0; k < NPAR[$t]; k++)); do
            idx=$(ip -n "$ns" -o link show "p$k" | cut -d: -f1)
            per=$PER
            [ "$k" -ge "$PARENTS" ] && per=$FAST
            for ((v = 1; v <= per; v++)); do
                m=vrrp4-$idx-$v
                printf 'link add %s link p%d address 00:00:5e:00:01:%02x type macvlan mode bridge\n' "$m" "$k" "$v"
                printf 'link set %s addrgenmode random\n' "$m"
                printf 'addr add 10.%d.1.%d/16 dev %s\n' $((100 + k)) "$v" "$m"
                printf 'link set %s up\n' "$m"
            done
        done
    } >"$d/macvlans.batch"
    printf 'hostname %s\n!\n' "$ns" >"$d/zebra.conf"
    {
        printf 'hostname %s\n!\n' "$ns"
        for ((k = 0; k < NPAR[$t]; k++)); do
            printf 'interface p%d\n' "$k"
            per=$PER ms=$INTERVAL_MS
            [ "$k" -ge "$PARENTS" ] && per=$FAST ms=$FAST_MS
            for ((v = 1; v <= per; v++)); do
                prio_of "$t" "$r" "$k" "$v"
                printf ' vrrp %d version 3\n vrrp %d priority %d\n vrrp %d advertisement-interval %d\n vrrp %d ip 10.%d.1.%d\n' \
                    "$v" "$v" "$PRIO" "$v" "$ms" "$v" $((100 + k)) "$v"
            done
            printf '!\n'
        done
    } >"$d/vrrpd.conf"
}
fr_start() { # TAG ROLE
    local d ns
    d=$(dir_of "$1" "$2") ns=$(ns_of "$1" "$2")
    fr_write "$1" "$2"
    ip -n "$ns" -batch "$d/macvlans.batch" || die "FRR: cannot make the macvlans"
    fr_daemons "$ns" "$d"
}
fr_vtysh() { # TAG ROLE ARGS...: one vtysh process against that side's daemons
    local t=$1 r=$2
    shift 2
    ip netns exec "$(ns_of "$t" "$r")" vtysh --vty_socket "$(dir_of "$t" "$r")" "$@"
}
fr_pids() { readpid "$(dir_of "$1" m)/vrrpd.pid"; echo; readpid "$(dir_of "$1" m)/zebra.pid"; }
fr_counters() {
    fr_vtysh "$1" "$2" -c 'show vrrp json' | jq '[.[].v4.stats.transitions] | add'
}

# ------------------------------------------------------------------ one reload
cpu_of() { local p s=0; for p in $1; do s=$(awk -v a="$s" -v b="$(proc_cpu_s "$p")" 'BEGIN{print a+b}'); done; echo "$s"; }
sched_of() { local p s=0; for p in $1; do s=$((s + $(proc_sched_ns "$p"))); done; echo "$s"; }

# write the command of SCENARIO for TAG into $work/cmd.sh (ROLE m) and $work/cmd-b.sh (ROLE b,
# run untimed after the measured one; "vip" only), after updating the wanted state
prepare() { # TAG SCENARIO
    local t=$1 s=$2 r k v
    case $s in
        one) XP[$t]=$((ALLP[$t] - 20)) ;;
        all) if [ "${ALLP[$t]}" = 200 ]; then ALLP[$t]=150; else ALLP[$t]=200; fi; XP[$t]=${ALLP[$t]} ;;
        vip) NVIP[$t]=$((NVIP[$t] + 1)) ;;
    esac
    for r in m b; do
        local f=$work/cmd-$r.sh
        : >"$f"
        [ "$r" = b ] && [ "$s" != vip ] && continue
        case $t in
            nv | nr | bv | br) nv_write "$t" "$r"; echo "exec $(nv_cmd "$t" "$r") >>$(dir_of "$t" "$r")/apply.log 2>&1" >"$f" ;;
            ka) ka_write "$t" "$r"; echo "exec $(ka_cmd "$t" "$r")" >"$f" ;;
            fr)
                local args=(-c 'configure terminal')
                case $s in
                    one) args+=(-c "interface p$X_PARENT" -c "vrrp $X_VRID priority ${XP[$t]}") ;;
                    all)
                        for ((k = 0; k < PARENTS; k++)); do
                            args+=(-c "interface p$k")
                            for ((v = 1; v <= PER; v++)); do args+=(-c "vrrp $v priority ${ALLP[$t]}"); done
                            args+=(-c exit)
                        done
                        ;;
                    vip) args+=(-c "interface p$X_PARENT" -c "vrrp $X_VRID ip $(extra_vip "${NVIP[$t]}")") ;;
                esac
                local idx
                idx=$(ip -n "$(ns_of "$t" "$r")" -o link show "p$X_PARENT" | cut -d: -f1)
                {
                    [ "$s" = vip ] && echo "ip -n $(ns_of "$t" "$r") addr add $(extra_vip "${NVIP[$t]}")/16 dev vrrp4-$idx-$X_VRID || exit 1"
                    printf 'exec ip netns exec %s vtysh --vty_socket %s' "$(ns_of "$t" "$r")" "$(dir_of "$t" "$r")"
                    printf ' %q' "${args[@]}"
                    printf ' >>%s/vtysh.out 2>&1\n' "$(dir_of "$t" "$r")"
                } >"$f"
                ;;
        esac
    done
}

probes_start() { # PHASE: one latency probe per CPU until probes_stop (MACHINE_PROBE=1)
    PROBE_PIDS=() PROBE_FILES=()
    [ "$MACHINE_PROBE" = 1 ] || return 0
    local c
    # the CPUs this script may run on (not necessarily 0..nproc-1 in a container)
    for c in $(python3 -c 'import os; print(*sorted(os.sched_getaffinity(0)))'); do
        PROBE_FILES+=("$work/probe-$1-cpu$c.jsonl")
        python3 "$(dirname "$0")/lib/latency_probe.py" --cpu "$c" --interval-us "$PROBE_US" \
            --out "$work/probe-$1-cpu$c.jsonl" &
        PROBE_PIDS+=($!)
        track_pid "$!"
    done
}
probes_stop() {
    [ ${#PROBE_PIDS[@]} -gt 0 ] || return 0
    kill "${PROBE_PIDS[@]}" 2>/dev/null || true
    wait "${PROBE_PIDS[@]}" 2>/dev/null || true
}

event() { # TAG SCENARIO RUN
    local t=$1 s=$2 i=$3 pids c0 c1 c2 s0 s1 s2 t_cmd t_ret t_end load wall user sys rss rc watcher keys prio vip
    prepare "$t" "$s"
    pids=$("${t}_pids" "$t" | awk 'NF')
    if [ "$t" = ka ]; then
        # SIGHUP is asynchronous: its wall time ends at keepalived's "Reload complete" log line
        # (its log has whole seconds only; a watcher polling every 2 ms notes the time)
        rm -f "$work/ka-done" "$work/ka-ready"
        $BL watch-log "$(dir_of "$t" m)/keepalived.log" 'Reload complete' --out "$work/ka-done" --ready "$work/ka-ready" \
            --timeout $((PRE + POST + 30)) &
        watcher=$!
        track_pid "$watcher"
        wait_for 5 test -e "$work/ka-ready" || note "keepalived log watcher did not start"
    fi
    c0=$(cpu_of "$pids") s0=$(sched_of "$pids")
    sleep "$PRE"
    c1=$(cpu_of "$pids") s1=$(sched_of "$pids")
    load=$(cut -d' ' -f1 /proc/loadavg)
    rc=0
    $BL time -o "$work/time" --t0 "$work/t0" -- bash "$work/cmd-m.sh" || rc=$?
    t_ret=$(now)
    t_cmd=$(cat "$work/t0")
    [ "$rc" = 0 ] || note "$(name_of "$t") $s run $i: the command exited $rc"
    [ -s "$work/cmd-b.sh" ] && { bash "$work/cmd-b.sh" || note "$(name_of "$t") $s run $i: the backup's command failed"; }
    sleep "$(awk -v a="$t_cmd" -v p="$POST" -v n="$(now)" 'BEGIN{d=a+p-n; printf "%.3f", (d > 0 ? d : 0)}')"
    c2=$(cpu_of "$pids") s2=$(sched_of "$pids")
    t_end=$(now)
    read -r wall user sys rss <"$work/time"
    if [ "$t" = ka ]; then
        wait "$watcher" 2>/dev/null || true
        if [ -s "$work/ka-done" ]; then wall=$(fsub "$(cat "$work/ka-done")" "$t_cmd"); else wall=null; fi
    fi
    # netvrrp's own account of the swap (its "reloaded" log line): the first loop turn and
    # all the turns' time on the loop, wall and the loop thread's CPU (builds before 9d6f7e2
    # log neither, builds before this session's last not the CPU)
    local turn=null busy=null turn_cpu=null busy_cpu=null finish=null turns=null line
    case $t in
        nv | nr | bv | br)
            line=$(grep 'reloaded' "$(dir_of "$t" m)/run/netvrrp.log" 2>/dev/null | tail -1)
            turn=$(sed -n 's/.*first_turn_us=\([0-9]*\).*/\1/p' <<<"$line")
            busy=$(sed -n 's/.*loop_us=\([0-9]*\).*/\1/p' <<<"$line")
            turn_cpu=$(sed -n 's/.*first_turn_cpu_us=\([0-9]*\).*/\1/p' <<<"$line")
            busy_cpu=$(sed -n 's/.*loop_cpu_us=\([0-9]*\).*/\1/p' <<<"$line")
            finish=$(sed -n 's/.*finish_us=\([0-9]*\).*/\1/p' <<<"$line")
            turns=$(sed -n 's/.* turns=\([0-9]*\).*/\1/p' <<<"$line")
            [ -n "$turn" ] || turn=null
            [ -n "$busy" ] || busy=null
            [ -n "$turn_cpu" ] || turn_cpu=null
            [ -n "$busy_cpu" ] || busy_cpu=null
            [ -n "$finish" ] || finish=null
            [ -n "$turns" ] || turns=null
            ;;
    esac
    case $s in
        one) keys="[\"$X_KEY\"]" prio=${XP[$t]} vip=null ;;
        all) keys='"slow"' prio=${ALLP[$t]} vip=null ;;
        vip) keys="[\"$X_KEY\"]" prio=${XP[$t]} vip="\"$(extra_vip "${NVIP[$t]}")\"" ;;
    esac
    awk -v impl="$(name_of "$t")" -v phase="$PHASE" -v s="$s" -v i="$i" -v t0="$t_cmd" -v tr="$t_ret" -v te="$t_end" \
        -v pre="$PRE" -v c0="$c0" -v c1="$c1" -v c2="$c2" -v s0="$s0" -v s1="$s1" -v s2="$s2" -v load="$load" \
        -v wall="$wall" -v u="$user" -v sy="$sys" -v rc="$rc" -v keys="$keys" -v prio="$prio" -v vip="$vip" \
        -v turn="$turn" -v busy="$busy" -v turn_cpu="$turn_cpu" -v busy_cpu="$busy_cpu" -v finish="$finish" -v turns="$turns" 'BEGIN{
        post = te - t0
        cpu = (c2 - c1) - (c1 - c0) * post / pre
        sch = ((s2 - s1) - (s1 - s0) * post / pre) / 1e6
        printf "{\"impl\":\"%s\",\"phase\":\"%s\",\"scenario\":\"%s\",\"run\":%d,\"t_cmd\":%.6f,\"t_ret\":%.6f,\"t_end\":%.6f,\"pre_s\":%s,", impl, phase, s, i, t0, tr, te, pre
        printf "\"daemon_cpu_ms\":%.3f,\"daemon_sched_ms\":%.3f,\"daemon_cpu_steady_ms_per_s\":%.3f,\"cmd_cpu_ms\":%.3f,\"wall_ms\":%s,", cpu*1000, sch, (c1-c0)*1000/pre, (u+sy)*1000, (wall=="null" ? "null" : sprintf("%.3f", wall*1000))
        printf "\"first_turn_us\":%s,\"loop_us\":%s,\"first_turn_cpu_us\":%s,\"loop_cpu_us\":%s,\"finish_us\":%s,\"turns\":%s,", turn, busy, turn_cpu, busy_cpu, finish, turns
        printf "\"cmd_ms\":%.3f,\"rc\":%d,\"load1\":%s,\"keys\":%s,\"prio\":%d,\"vip\":%s}\n", (tr-t0)*1000, rc, load, keys, prio, vip
    }' >>"$work/events-$PHASE-$t.jsonl"
}

# ------------------------------------------------------------------ a phase
counters() { # TAG -> "M B" transitions counted by the implementation on each side
    echo "$("${1}_counters" "$1" m) $("${1}_counters" "$1" b)"
}

run_phase() { # PHASE SCENARIO... (IMPL list in $pimpls)
    PHASE=$1
    shift
    local scen=("$@") impl t since m b expected end round i s order tags=()
    [ "$PHASE" = fast ] && FASTON=1 || FASTON=0
    for impl in $pimpls; do tags+=("$(tag "$impl")"); done
    expected=$ROUTERS
    [ "$FASTON" = 1 ] && expected=$((ROUTERS + FAST))
    # masters first, every instance advertising on the wire, then the backups
    rm -f "$BENCH_DIR/out/reload-$PHASE-"*.jsonl
    probes_start "$PHASE"
    for t in "${tags[@]}"; do
        setup "$t"
        capture_start "$t"
        since=$(now)
        "${t}_start" "$t" m
        end=$(awk -v a="$since" -v s="$STARTUP_TIMEOUT" 'BEGIN{printf "%.3f", a+s}')
        while :; do
            # shellcheck disable=SC2046
            read -r m b < <($BL reload-ready ${CAPS[$t]} --since "$since" --master $(addrs m fast) --backup $(addrs b fast))
            [ "$m" -ge "$expected" ] && break
            awk -v n="$(now)" -v e="$end" 'BEGIN{exit !(n>e)}' && die "$(name_of "$t") ($PHASE): only $m of $expected instances advertising after $STARTUP_TIMEOUT s"
            sleep 1
        done
        note "$(name_of "$t") ($PHASE): $expected masters advertising after $(fsub "$(now)" "$since") s; starting the backup"
        "${t}_start" "$t" b
    done
    sleep "$SETTLE"
    for t in "${tags[@]}"; do
        # shellcheck disable=SC2046
        read -r m b < <($BL reload-ready ${CAPS[$t]} --since "$(awk -v n="$(now)" 'BEGIN{printf "%.3f", n-3}')" --master $(addrs m fast) --backup $(addrs b fast))
        [ "$b" = 0 ] || note "$(name_of "$t") ($PHASE): $b backup instances advertised in the last 3 s before the first reload"
        counters "$t" >"$work/counters0-$PHASE-$t"
        : >"$work/events-$PHASE-$t.jsonl"
    done
    round=0
    for ((i = 1; i <= RUNS; i++)); do
        for s in "${scen[@]}"; do
            order=("${tags[@]:$((round % ${#tags[@]}))}" "${tags[@]:0:$((round % ${#tags[@]}))}")
            for t in "${order[@]}"; do event "$t" "$s" "$i"; done
        done
        round=$((round + 1))
        printf 'reload %s: run %d/%d done (load %s)\n' "$PHASE" "$i" "$RUNS" "$(cut -d' ' -f1-3 /proc/loadavg)"
    done
    sleep 1
    probes_stop
    for t in "${tags[@]}"; do
        counters "$t" >"$work/counters1-$PHASE-$t"
        capture_stop "$t"
        # shellcheck disable=SC2046
        $BL reload ${CAPS[$t]} --events "$work/events-$PHASE-$t.jsonl" --master $(addrs m fast) --backup $(addrs b fast) \
            $([ "$FASTON" = 1 ] && echo --fast "$(fast_src)") --interval-ms "$INTERVAL_MS" --fast-ms "$FAST_MS" \
            $([ ${#PROBE_FILES[@]} -gt 0 ] && echo --probe "${PROBE_FILES[@]}" --probe-interval-us "$PROBE_US") \
            >"$BENCH_DIR/out/reload-$PHASE-$(name_of "$t").jsonl"
        cp "$work/events-$PHASE-$t.jsonl" "$BENCH_DIR/out/reload-$PHASE-$(name_of "$t").events.jsonl"
        teardown "$t"
    done
}

# ------------------------------------------------------------------ figures
col() { # FILE SCENARIO KEY -> one value per event (nulls dropped)
    jq -r --arg s "$2" "select(.scenario == \$s) | .$3 // empty" "$1"
}
figures() { # PHASE SCENARIO LABEL
    local ph=$1 s=$2 label=$3 impl f t c0 c1 k
    for impl in $pimpls; do
        f=$BENCH_DIR/out/reload-$ph-$impl.jsonl
        t=$(tag "$impl")
        [ -s "$f" ] || continue
        col "$f" "$s" to_wire_last_ms >"$work/v"
        if [ "$s" = all ]; then
            fig "$label, $impl: command -> new priority on the wire, last of $ROUTERS routers" ms "$work/v" --meta target_ms=$((INTERVAL_MS + 50))
            col "$f" "$s" to_wire_median_ms >"$work/v"
            fig "$label, $impl: command -> new priority on the wire, median router" ms "$work/v"
            col "$f" "$s" to_wire_first_ms >"$work/v"
            fig "$label, $impl: command -> new priority on the wire, first router" ms "$work/v"
        elif [ "$s" = vip ]; then
            fig "$label, $impl: command -> new VIP in the advert" ms "$work/v"
        else
            fig "$label, $impl: command -> new priority on the wire" ms "$work/v"
        fi
        jq -r --arg s "$s" 'select(.scenario == $s) | .changed_routers - .seen_changed' "$f" >"$work/v"
        fig "$label, $impl: changed routers not seen with the change within ${POST} s" count "$work/v"
        for k in unchanged changed fast; do
            col "$f" "$s" "gap_${k}_max_ms" >"$work/v"
            [ -s "$work/v" ] || continue
            fig "$label, $impl: longest advert gap of $k routers during the reload" ms "$work/v" \
                --meta "limit_ms=$([ $k = fast ] && awk -v m="$FAST_MS" 'BEGIN{print m*1.1}' || echo $((INTERVAL_MS * 11 / 10)))"
            col "$f" "$s" "gap_${k}_control_max_ms" >"$work/v"
            fig "$label, $impl: longest advert gap of $k routers, ${PRE} s before (control)" ms "$work/v"
            col "$f" "$s" "gap_${k}_over_110pct" >"$work/v"
            fig "$label, $impl: gaps of $k routers over interval + 10 % during the reload" count "$work/v"
            col "$f" "$s" "gap_${k}_control_over_110pct" >"$work/v"
            fig "$label, $impl: gaps of $k routers over interval + 10 %, control" count "$work/v"
        done
        col "$f" "$s" routers_disturbed >"$work/v"
        fig "$label, $impl: transitions on the wire (routers with a priority-0 advert or a backup advert)" count "$work/v"
        col "$f" "$s" routers_disturbed_control >"$work/v"
        fig "$label, $impl: routers with a priority-0 or backup advert in the ${PRE} s before (control)" count "$work/v"
        col "$f" "$s" prio0_adverts >"$work/v"
        fig "$label, $impl: priority-0 adverts" count "$work/v"
        col "$f" "$s" daemon_cpu_ms >"$work/v"
        fig "$label, $impl: reload CPU of the daemon(s), /proc stat, steady rate subtracted" ms "$work/v" \
            --note "10 ms ticks; $(case $t in nv | nr | bv | br) echo runtime ;; ka) echo 'parent + VRRP child' ;; fr) echo 'vrrpd + zebra' ;; esac)"
        col "$f" "$s" daemon_sched_ms >"$work/v"
        fig "$label, $impl: reload CPU of the daemon(s), schedstat, steady rate subtracted" ms "$work/v"
        col "$f" "$s" cmd_cpu_ms >"$work/v"
        fig "$label, $impl: CPU of the command" ms "$work/v" --note "$(case $t in nv | nr | bv | br) echo 'netvrrp apply' ;; ka) echo 'kill -HUP' ;; fr) echo 'vtysh (+ ip addr add)' ;; esac)"
        col "$f" "$s" wall_ms >"$work/v"
        fig "$label, $impl: wall time of the reload" ms "$work/v" \
            --note "$(case $t in nv | nr | bv | br) echo 'apply process' ;; ka) echo 'SIGHUP -> its Reload complete log line (2 ms polling)' ;; fr) echo 'vtysh process' ;; esac)"
        col "$f" "$s" first_turn_us >"$work/v"
        if [ -s "$work/v" ]; then
            fig "$label, $impl: the swap's first loop turn (runtime log)" us "$work/v"
            col "$f" "$s" loop_us >"$work/v"
            fig "$label, $impl: the swap's time on the loop, all turns (runtime log)" us "$work/v"
            col "$f" "$s" turns >"$work/v"
            if [ -s "$work/v" ]; then fig "$label, $impl: the swap's loop turns (runtime log)" turns "$work/v"; fi
            col "$f" "$s" finish_us >"$work/v"
            if [ -s "$work/v" ]; then fig "$label, $impl: the swap's last step, report and filter (runtime log)" us "$work/v"; fi
        fi
        col "$f" "$s" first_turn_cpu_us >"$work/v"
        if [ -s "$work/v" ]; then
            fig "$label, $impl: the swap's first loop turn, CPU of the loop's thread (runtime log)" us "$work/v"
            col "$f" "$s" loop_cpu_us >"$work/v"
            fig "$label, $impl: the swap's CPU on the loop's thread, all turns (runtime log)" us "$work/v"
        fi
        col "$f" "$s" machine_latency_max_us >"$work/v"
        if [ -s "$work/v" ]; then
            fig "$label, $impl: the machine's worst wakeup latency during the reload (latency probe, SCHED_FIFO 99, every ${PROBE_US} us, any CPU)" us "$work/v" \
                --note "0: no wakeup later than 100 us"
            col "$f" "$s" machine_latency_control_max_us >"$work/v"
            fig "$label, $impl: the machine's worst wakeup latency, ${PRE} s before (control)" us "$work/v"
            for k in unchanged changed fast; do
                col "$f" "$s" "gap_${k}_over_110pct_not_machine" >"$work/v"
                [ -s "$work/v" ] || continue
                fig "$label, $impl: gaps of $k routers over interval + 10 % during the reload the machine does not explain" count "$work/v" \
                    --note "no stall of a CPU (latency probe) overlapping the gap by its excess over the interval"
                col "$f" "$s" "gap_${k}_not_machine_max_ms" >"$work/v"
                fig "$label, $impl: longest such gap of $k routers (0: none)" ms "$work/v"
                col "$f" "$s" "gap_${k}_control_over_110pct_not_machine" >"$work/v"
                fig "$label, $impl: gaps of $k routers over interval + 10 % the machine does not explain, control" count "$work/v"
            done
        fi
        col "$f" "$s" load1 >"$work/v"
        fig "$label, $impl: load average (1 min) at the command" load "$work/v"
    done
    # ratios netvrrp / peer of the medians
    local a b peer key
    for peer in keepalived frr netvrrp-rt; do
        [[ " $pimpls " == *" $peer "* ]] && [[ " $pimpls " == *" netvrrp "* ]] || continue
        [ -s "$BENCH_DIR/out/reload-$ph-netvrrp.jsonl" ] && [ -s "$BENCH_DIR/out/reload-$ph-$peer.jsonl" ] || continue
        for key in to_wire_last_ms daemon_sched_ms wall_ms; do
            a=$(col "$BENCH_DIR/out/reload-$ph-netvrrp.jsonl" "$s" "$key" | $BL stats - | cut -d' ' -f1)
            b=$(col "$BENCH_DIR/out/reload-$ph-$peer.jsonl" "$s" "$key" | $BL stats - | cut -d' ' -f1)
            # only when both medians are positive (the CPU delta can go negative when the
            # steady traffic dominates, see the 10 ms variant)
            awk -v a="$a" -v b="$b" 'BEGIN{if (a != "nan" && b != "nan" && a+0 > 0 && b+0 > 0) printf "%.4f\n", a/b}' >"$work/v"
            [ -s "$work/v" ] && fig "$label, ratio netvrrp / $peer: $key (medians)" x "$work/v"
        done
    done
    return 0
}

phase_counters() { # PHASE: the implementations' own transition counts during the series
    local ph=$1 impl t a0 b0 a1 b1
    for impl in $pimpls; do
        t=$(tag "$impl")
        [ -f "$work/counters1-$ph-$t" ] || continue
        read -r a0 b0 <"$work/counters0-$ph-$t"
        read -r a1 b1 <"$work/counters1-$ph-$t"
        awk -v a0="$a0" -v a1="$a1" -v b0="$b0" -v b1="$b1" 'BEGIN{ if (a0 ~ /^[0-9]+$/ && a1 ~ /^[0-9]+$/ && b0 ~ /^[0-9]+$/ && b1 ~ /^[0-9]+$/) print (a1-a0)+(b1-b0) }' >"$work/v"
        [ -s "$work/v" ] && fig "$ph phase, $impl: transitions counted by the implementation (master + backup) over all its reloads" count "$work/v" \
            --note "$(case $t in nv | nr | bv | br) echo 'show vrrp --json counters.transitions' ;; ka) echo 'JSON dump become_master + release_master' ;; fr) echo 'show vrrp json stats.transitions' ;; esac); before $a0/$b0, after $a1/$b1"
        printf 'reload %-5s %-10s transitions counted by the implementation during the series: master %s -> %s, backup %s -> %s\n' "$ph" "$impl" "$a0" "$a1" "$b0" "$b1"
    done
}

summary() { # PHASE: one line per implementation and scenario
    local ph=$1 impl f s
    for impl in $pimpls; do
        f=$BENCH_DIR/out/reload-$ph-$impl.jsonl
        [ -s "$f" ] || continue
        for s in one all vip; do
            jq -s -r --arg s "$s" --arg i "$impl" --arg ph "$ph" '
              [.[] | select(.scenario == $s)] as $e | select(($e | length) > 0) |
              def med(k): ([$e[] | .[k] | select(. != null)] | sort | if length == 0 then null else .[(length - 1) / 2 | floor] end);
              def mx(k): ([$e[] | .[k] | select(. != null)] | max);
              "reload \($ph) \($s | .[0:3]) \($i | .[0:10]): to wire last \(med("to_wire_last_ms")) ms (max \(mx("to_wire_last_ms")))  gap unchanged max \(mx("gap_unchanged_max_ms")) changed \(mx("gap_changed_max_ms")) fast \(mx("gap_fast_max_ms")) (control \(mx("gap_fast_control_max_ms")); worst starts at \([$e[] | .gap_fast_worst_start_ms // empty | floor])) ms, command returns at \([$e[] | .cmd_ms | floor]))  disturbed \(mx("routers_disturbed")) (control \(mx("routers_disturbed_control"))) prio0 \(mx("prio0_adverts"))  machine latency max \(mx("machine_latency_max_us")) us (control \(mx("machine_latency_control_max_us")))  cpu \(med("daemon_cpu_ms")) ms (+cmd \(med("cmd_cpu_ms")))  wall \(med("wall_ms")) ms  load \(med("load1"))"' "$f"
            # per event, the fast routers' longest gap next to the machine's own worst wakeup
            # latency in the same window and the gaps over the limit it does not explain
            jq -r --arg s "$s" --arg i "$impl" 'select(.scenario == $s and .gap_fast_max_ms != null) |
              "  \($i | .[0:10]) run \(.run): fast gap \(.gap_fast_max_ms * 100 | round / 100) ms, \(.gap_fast_over_110pct) over the limit, \(.gap_fast_over_110pct_not_machine // "?") not the machine (longest \(.gap_fast_not_machine_max_ms // "?" )); control \(.gap_fast_control_max_ms * 100 | round / 100) ms, \(.gap_fast_control_over_110pct) over, \(.gap_fast_control_over_110pct_not_machine // "?") not the machine; machine latency \(.machine_latency_max_us // "?") us (control \(.machine_latency_control_max_us // "?"))"' "$f"
        done
    done
}

ROUTERS_MAIN=$ROUTERS
for ph in $PHASES; do
    ROUTERS=$ROUTERS_MAIN PER=$((ROUTERS_MAIN / PARENTS))
    case $ph in
        main) pimpls=$IMPLS; run_phase main one all vip ;;
        fast) pimpls=$FAST_IMPLS; run_phase fast all ;;
        small)
            ROUTERS=$SMALL_ROUTERS PER=$((SMALL_ROUTERS / PARENTS))
            [ $((PER * PARENTS)) -eq "$ROUTERS" ] && [ "$PER" -le 255 ] || die "SMALL_ROUTERS=$ROUTERS must be a multiple of $PARENTS"
            pimpls=$SMALL_IMPLS
            run_phase small one all vip
            ;;
        *) die "unknown phase $ph (main fast small)" ;;
    esac
    summary "$ph"
    phase_counters "$ph"
    if [ "$ph" = main ] || [ "$ph" = small ]; then
        figures "$ph" one "1 of $ROUTERS routers: priority"
        figures "$ph" all "$ROUTERS of $ROUTERS routers: priority"
        figures "$ph" vip "1 of $ROUTERS routers: add a VIP"
    else
        figures fast all "$ROUTERS routers at 1 s + $FAST at ${FAST_MS} ms, all $ROUTERS: priority"
    fi
done
figset runs="$RUNS" routers="$ROUTERS_MAIN" small_routers="$SMALL_ROUTERS" fast_routers="$FAST" fast_ms="$FAST_MS" pre_s="$PRE" post_s="$POST" \
    "implementations=\"main: $IMPLS; fast: $FAST_IMPLS; small: $SMALL_IMPLS\"" "phases=\"$PHASES\"" \
    "load_at_end=\"$(cut -d' ' -f1-3 /proc/loadavg)\"" \
    "method=\"master and backup namespaces of the same implementation (priority 200 / 100), 4 veth links; capture per link on the backup side; netvrrp apply / keepalived SIGHUP / FRR vtysh; CPU = daemon /proc stat delta over POST s minus the PRE window's rate\""
