#!/usr/bin/env bash
# Health-tracking benchmark (issue 17): from the event (a tracked file written, a tracked
# process killed, a check starting to fail) to r1's first advert carrying the lowered
# priority on the wire, and to r2's first advert as Master; and from the object's recovery
# to r1's full priority on the wire again (after it preempts back). netvrrp vs keepalived.
#
#   bench/track.sh                     RUNS=10 KINDS="file process exec route"
#                                      IMPLS="netvrrp keepalived" (netvrrp-rt too, if named;
#                                      netvrrp-base: the binary NETVRRP_BASE, a previous build)
#
# The labs of bench/lib/lab.sh (one bridge per implementation, all up at once): r1 priority
# 200 tracks three objects each worth 150 (down: priority 50), r2 priority 100, INTERVAL ms
# adverts (default 100). Runs alternate between the labs (A B A B ...) and kinds. Equivalent
# settings:
#   file     netvrrp kind = "file", up-when = "zero"; keepalived track_file, weight -150
#            (the value times the weight): the file holds 0 (up) or 1 (down), overwritten in
#            place by one write(2), no truncation first (see bench/lib/trigger.py)
#   process  netvrrp kind = "process": a copy of sleep(1) named trkp-nv / trkp-ka, SIGKILLed,
#            then started again. keepalived's vrrp_track_process cannot work here: inside a
#            network namespace its proc-connector socket gets ECONNREFUSED on
#            PROC_CN_MCAST_LISTEN ("Failed to set/clear process event listen - errno 111")
#            and the process counts as absent for good; keepalived users' other way is
#            measured instead: vrrp_script "/usr/bin/pgrep -x trkp-ka", interval 1, weight -150
#   exec     netvrrp kind = "exec", ["/usr/bin/test", "-e", FLAG], 1000 ms, rise = fall = 1;
#            keepalived vrrp_script, the same command, interval 1 (its smallest: whole
#            seconds), rise = fall = 1, weight -150: FLAG removed, then created
#   route    netvrrp kind = "route", 10.99.0.0/24 in the main table of r1's namespace,
#            deleted, then added again; keepalived has no route tracking (not run for it)
# The event time is taken just before the system call that makes the event, in the process
# that makes it (bench/lib/trigger.py; CLOCK_REALTIME, the clock of tcpdump's timestamps):
# `date` before a shell action would charge the router with date's exit, the shell's wait and
# ip(8)'s start. The wire figures come from the capture on the bridge (bench/lib/trackwire.py).
# Ratios are netvrrp (and netvrrp-rt) / keepalived: of the medians, and the spread of the per-run ratios
# (run i of one against run i of the other).
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
bench_start track

RUNS=${RUNS:-10}
KINDS=${KINDS:-"file process exec route"}
ROUTE=10.99.0.0/24
INTERVAL=${INTERVAL:-100}
SPACING=${SPACING:-0.5}
# FRR's vrrpd has no tracking: netvrrp and keepalived only.
IMPLS=${IMPLS:-$(command -v "${KEEPALIVED:-keepalived}" >/dev/null && echo "netvrrp keepalived" || echo netvrrp)}
. "$(dirname "$0")/lib/lab.sh"
lab_init
LOWERED=$((PRIO1 - 150))

# The tracked files live on a tmpfs (TRACK_DIR, default a new directory in /dev/shm), as
# they would in /run on a real host: on this disk-backed /tmp, shared with builds, the
# writer's own open(O_TRUNC) waits 2-8 ms for the ext4 journal before the kernel reports
# any change (TRACK_DIR=/tmp/... measures that).
if [ -z "${TRACK_DIR:-}" ]; then
    TRACK_DIR=$(mktemp -d /dev/shm/nvb-track.XXXXXX)
    track_dir "$TRACK_DIR"
fi
# The tracked objects of lab TAG: FLAG (exec), HEALTH (file), process trkp-TAG.
flag() { echo "$TRACK_DIR/$1-flag"; }
health() { echo "$TRACK_DIR/$1-health"; }
declare -A PROC
proc_start() { # TAG
    setsid "$work/trkp-$1" 100000 </dev/null >/dev/null 2>&1 &
    PROC[$1]=$!
    disown "${PROC[$1]}" # no "Killed" job report when a run kills it
    track_pid "${PROC[$1]}"
}

track_config() { # TAG: the extra configuration of r1 (see bench/lib/lab.sh)
    local t=$1
    NV_TOP="[[track]]
name = \"exec\"
kind = \"exec\"
command = [\"/usr/bin/test\", \"-e\", \"$(flag "$t")\"]
interval-ms = 1000

[[track]]
name = \"file\"
kind = \"file\"
file = \"$(health "$t")\"
up-when = \"zero\"

[[track]]
name = \"process\"
kind = \"process\"
process = \"trkp-$t\"

[[track]]
name = \"route\"
kind = \"route\"
route = \"$ROUTE\"
"
    NV_ROUTER='track = [{ object = "exec", decrement = 150 }, { object = "file", decrement = 150 }, { object = "process", decrement = 150 }, { object = "route", decrement = 150 }]'
    KA_GLOBAL="  script_user root
  enable_script_security"
    KA_TOP="vrrp_script chk {
  script \"/usr/bin/test -e $(flag "$t")\"
  interval 1
  rise 1
  fall 1
  weight -150
}
track_file trkf {
  file \"$(health "$t")\"
  weight -150
}
vrrp_script chkproc {
  script \"/usr/bin/pgrep -x trkp-$t\"
  interval 1
  rise 1
  fall 1
  weight -150
}"
    KA_INSTANCE="  track_script {
    chk
    chkproc
  }
  track_file {
    trkf
  }"
}
no_track_config() { NV_TOP="" NV_ROUTER="" KA_GLOBAL="" KA_TOP="" KA_INSTANCE=""; }

object() { # TAG KIND down|up: make the event; EVENT_T: the time taken just before its system call
    local t=$1 kind=$2 to=$3 trig=("$PY" "$BENCH_DIR/lib/trigger.py")
    case $kind/$to in
        file/down) EVENT_T=$("${trig[@]}" write "$(health "$t")" '1\n') ;;
        file/up) EVENT_T=$("${trig[@]}" write "$(health "$t")" '0\n') ;;
        exec/down) EVENT_T=$("${trig[@]}" unlink "$(flag "$t")") ;;
        exec/up) EVENT_T=$("${trig[@]}" write "$(flag "$t")" '') ;;
        process/down) EVENT_T=$("${trig[@]}" kill "${PROC[$t]}") ;;
        process/up) EVENT_T=$(now) && proc_start "$t" ;;
        route/down) EVENT_T=$("${trig[@]}" route del "$(rns "$t" 1)" "$ROUTE") ;;
        route/up) EVENT_T=$("${trig[@]}" route add "$(rns "$t" 1)" "$ROUTE" eth0) ;;
    esac
    EVENT_T=${EVENT_T%% *}
}

# The labs: objects up first, then r1 (tracking) and r2; r1 must be Master at full priority.
TAGS=()
WINDOW=$(window_for "$INTERVAL")
for impl in "${impls[@]}"; do
    t=$(tag "$impl")
    [ "$t" != fr ] || die "$impl has no tracking (netvrrp, netvrrp-rt, netvrrp-base and keepalived only)"
    TAGS+=("$t")
    cp /bin/sleep "$work/trkp-$t"
    : >"$(flag "$t")"
    printf '0\n' >"$(health "$t")"
    proc_start "$t"
    lab_up "$t"
    ip -n "$(rns "$t" 1)" route add "$ROUTE" dev eth0
    PCAP[$t]=$work/$t-track.pcap
    capture_start "$t" "${PCAP[$t]}"
    since=$(now)
    track_config "$t"
    "$(impl_of "$t")_start" "$t" 1 "$PRIO1" "$INTERVAL"
    no_track_config
    "$(impl_of "$t")_start" "$t" 2 "$PRIO2" "$INTERVAL"
    wait_master "$t" r1 "$since" 20 || die "$impl: r1 did not become master"
    : >"$work/$t-track.events"
    note "$impl lab up, ${INTERVAL} ms adverts, r1 is master"
done
sleep 2 # the exec checks have run once (initial state down for netvrrp: rise 1)

for ((i = 1; i <= RUNS; i++)); do
    for kind in $KINDS; do
        for t in "${TAGS[@]}"; do
            [ "$kind/$t" != route/ka ] || continue
            sleep "0.$((RANDOM % 3 + 2))"
            object "$t" "$kind" down
            t_down=$EVENT_T
            wait_master "$t" r2 "$t_down" 10 || note "$(name_of "$t") run $i $kind: r2 did not take over"
            sleep 0.2
            object "$t" "$kind" up
            t_up=$EVENT_T
            wait_master "$t" r1 "$t_up" 10 || die "$(name_of "$t") run $i $kind: r1 did not take mastership back"
            echo "RUN $i $kind $t_down $t_up" >>"$work/$t-track.events"
            sleep "$SPACING"
        done
    done
    printf 'track: run %d/%d done\n' "$i" "$RUNS"
done

ratio() { # A B: "median-ratio min max" of netvrrp/keepalived (medians; per-run pairs)
    local ma mb
    ma=$(stats "$1" | awk '{print $1}')
    mb=$(stats "$2" | awk '{print $1}')
    paste "$1" "$2" | awk -v ma="$ma" -v mb="$mb" '
        NF == 2 && $2 > 0 { r = $1 / $2; if (n == 0 || r < lo) lo = r; if (n == 0 || r > hi) hi = r; n++ }
        END { printf "%.2f %.2f %.2f\n", (mb > 0 ? ma / mb : 0), lo, hi }'
}

for t in "${TAGS[@]}"; do
    stop_pid "${CAPPID[$t]}"
    $PY "$BENCH_DIR/lib/trackwire.py" "${PCAP[$t]}" --events "$work/$t-track.events" \
        --r1 "$NET.1" --r2 "$NET.2" --vrid "$VRID" --lowered "$LOWERED" --full "$PRIO1" \
        --outdir "$work" --prefix "$t" >"$work/$t-track.runs"
    cp "${PCAP[$t]}" "$work/$t-track.events" "$work/$t-track.runs" "$BENCH_DIR/out/" 2>/dev/null || true
done
for kind in $KINDS; do
    for figure in lowered takeover restored; do
        case $figure in
            lowered) what="event -> lowered priority on the wire" ;;
            takeover) what="event -> backup's first advert as Master" ;;
            restored) what="recovery -> full priority on the wire (after preempting back)" ;;
        esac
        for t in "${TAGS[@]}"; do
            [ "$kind/$t" != route/ka ] || continue
            f=$work/$t-$kind-$figure.txt
            [ -s "$f" ] || { note "$(name_of "$t") $kind: no $figure figure"; continue; }
            fig "$kind, $(name_of "$t"): $what" ms "$f"
            read -r med lo hi n < <(stats "$f")
            printf '%-10s %-7s %-9s median %8s ms (min %s, max %s, n=%s)\n' "$(name_of "$t")" "$kind" "$figure" "$med" "$lo" "$hi" "$n"
        done
        b=$work/ka-$kind-$figure.txt
        for t in nv nr nb; do
            a=$work/$t-$kind-$figure.txt
            [ -s "$a" ] && [ -s "$b" ] || continue
            read -r r lo hi < <(ratio "$a" "$b")
            $BL value --out "$FRAG" --bench track --name "$kind: $what, $(name_of "$t") / keepalived" --unit ratio \
                --value "$r" --note "per-run ratios $lo-$hi"
            printf '%-20s %-9s ratio %s/keepalived %s (per run %s-%s)\n' "$kind" "$figure" "$(name_of "$t")" "$r" "$lo" "$hi"
        done
    done
done
figset runs="$RUNS" "interval_ms=$INTERVAL" "versions=$versions" \
    "method=\"r1 prio 200 tracking file, process and exec objects worth 150 each, r2 prio 100; per run one object goes down, then up; times from the event to the adverts on the wire (tcpdump on the bridge)\""
