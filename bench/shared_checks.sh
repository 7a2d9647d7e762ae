#!/usr/bin/env bash
# Shared health checks at scale (issue 17): do 1,000 routers keep their adverts on time while
# 10 exec checks they share run every 100 ms, and what do the checks cost?
#
#   bench/shared_checks.sh             ROUNDS=3 DURATION=20 SETTLE=8 ROUTERS=1000
#                                      IMPLS="netvrrp netvrrp-1s netvrrp-plain keepalived
#                                      keepalived-plain" (netvrrp-rt, netvrrp-base: if named)
#
# A router namespace with 4 parents p0..p3, each a veth to a sink namespace (its own L2
# segment); ROUTERS/4 VRIDs per parent, VRRPv3, IPv4, 100 ms adverts, priority 200, no peer
# (all Master). Contenders, one at a time, their order rotating per round:
#   netvrrp        10 [[track]] exec objects (/bin/true, interval-ms 100), router N tracks
#                  object N mod 10 (decrement 10): 100 routers per check
#   netvrrp-1s     the same checks at interval-ms 1000 (keepalived's rate, for the CPU)
#   netvrrp-plain  the same routers without tracking (what the checks add)
#   netvrrp-rt     netvrrp (checks at 100 ms) with `[runtime] realtime-priority = RT_PRIO`
#                  (default 50): the event loop under SCHED_FIFO, the checks not. Tells a late
#                  advert caused by the loop's own work from one caused by the loop waiting
#                  for a CPU on a busy machine
#   netvrrp-base   netvrrp (checks at 100 ms) run by NETVRRP_BASE, a previous build
#   keepalived     10 vrrp_scripts (/bin/true, interval 1: keepalived's smallest, whole
#                  seconds, so it runs 10 times fewer checks), the same sharing
#   keepalived-plain  the same instances without scripts
# Minor page faults per second of the processes in the router namespace (their own): the
# copy-on-write faults a runtime that forks per check run takes.
# CPU per check run = (CPU with checks - CPU of the plain contender) / check runs per second.
# Per contender: start, wait until every router advertises, SETTLE s, then a DURATION s
# window: tcpdump on every sink end; per router the largest gap between two adverts (the
# issue's target: none above the interval + 10 %, 110 ms); CPU = utime+stime+cutime+cstime
# of every process in the router namespace (the daemon, helpers and, through the waited-for
# children, the checks), as ms per s. Timing on a shared machine is noisy: compare within a
# round, and read the spread over the rounds.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
bench_start shared_checks

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-20}
SETTLE=${SETTLE:-8}
ROUTERS=${ROUTERS:-1000}
CHECKS=10
PARENTS=4
PER=$((ROUTERS / PARENTS))
if [ -z "${IMPLS:-}" ]; then
    IMPLS="netvrrp netvrrp-1s netvrrp-plain"
    command -v "$KEEPALIVED" >/dev/null && IMPLS+=" keepalived keepalived-plain"
fi
read -r -a impls <<<"$IMPLS"

rns() { echo "$NSP-$1"; }
sink() { echo "$NSP-$1-sink"; } # see parents_up in lib/common.sh
RT_PRIO=${RT_PRIO:-50}
nv_start() { # TAG checks|plain [CHECK_INTERVAL_MS]
    local d=$work/$1 k v n=0 bin=$NETVRRP
    [ "$1" = nb ] && bin=$NETVRRP_BASE
    mkdir -p "$d"
    {
        [ "$1" = nr ] && printf '[runtime]\nrealtime-priority = %d\n\n' "$RT_PRIO"
        printf '[defaults]\nversion = 3\npriority = 200\nadvertisement-interval = 100\n'
        if [ "$2" = checks ]; then
            for ((k = 0; k < CHECKS; k++)); do
                printf '\n[[track]]\nname = "c%d"\nkind = "exec"\ncommand = ["/bin/true"]\ninterval-ms = %d\ninitial = "up"\n' "$k" "${3:-100}"
            done
        fi
        for ((k = 0; k < PARENTS; k++)); do
            for ((v = 1; v <= PER; v++)); do
                printf '\n[[vrrp]]\ninterface = "p%d"\nvrid = %d\nipv4 = ["10.%d.1.%d/16"]\n' "$k" "$v" $((100 + k)) "$v"
                [ "$2" = checks ] && printf 'track = [{ object = "c%d", decrement = 10 }]\n' $((n % CHECKS))
                n=$((n + 1))
            done
        done
    } >"$d/netvrrp.toml"
    "$bin" --netns "$(rns "$1")" --run-dir "$d/run" apply -f "$d/netvrrp.toml" >"$d/apply.log" 2>&1 \
        || { tail -20 "$d/apply.log" >&2; die "netvrrp apply of $ROUTERS routers failed"; }
}

ka_start() { # TAG checks|plain
    local d=$work/$1 k v n=0
    mkdir -p "$d"
    {
        printf 'global_defs {\n  router_id bench\n  script_user root\n  enable_script_security\n}\n'
        for ((k = 0; k < CHECKS; k++)); do
            [ "$2" = checks ] || break
            printf 'vrrp_script c%d {\n  script "/bin/true"\n  interval 1\n  weight -10\n}\n' "$k"
        done
        for ((k = 0; k < PARENTS; k++)); do
            for ((v = 1; v <= PER; v++)); do
                printf 'vrrp_instance p%d_%d {\n  state BACKUP\n  interface p%d\n  virtual_router_id %d\n  priority 200\n  advert_int 0.1\n  version 3\n  virtual_ipaddress {\n    10.%d.1.%d/16 dev p%d\n  }\n' \
                    "$k" "$v" "$k" "$v" $((100 + k)) "$v" "$k"
                [ "$2" = checks ] && printf '  track_script {\n    c%d\n  }\n' $((n % CHECKS))
                printf '}\n'
                n=$((n + 1))
            done
        done
    } >"$d/keepalived.conf"
    ip netns exec "$(rns "$1")" env TMPDIR="$d" setsid "$KEEPALIVED" -n -l -D -P -G \
        -f "$d/keepalived.conf" -p "$d/keepalived.pid" -r "$d/vrrp.pid" -c "$d/checkers.pid" -b "$d/bfd.pid" \
        >>"$d/keepalived.log" 2>&1 </dev/null &
    disown $!
}

ns_cpu_ms() { # TAG: CPU of every process in the router namespace, ms
    local p sum=0 c
    for p in $(ip netns pids "$(rns "$1")" 2>/dev/null); do
        c=$(proc_cpu_s "$p" 2>/dev/null) || continue
        sum=$(awk -v a="$sum" -v b="$c" 'BEGIN{printf "%.4f", a + b}')
    done
    awk -v s="$sum" 'BEGIN{printf "%.1f", s * 1000}'
}

# The processes' own minor page faults (not their children's), summed over the router
# namespace: the daemon's, since a helper or check alive at a sample adds only its few. A
# runtime that fork()s per check run takes copy-on-write faults after every fork: the
# mechanism of its stalls, and a figure the machine's load does not blur.
ns_minflt() { # TAG
    local p sum=0 f
    for p in $(ip netns pids "$(rns "$1")" 2>/dev/null); do
        f=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $8}') || continue
        sum=$((sum + ${f:-0}))
    done
    echo "$sum"
}

gaps() { # TAG SINCE UNTIL
    $PY "$BENCH_DIR/lib/trackwire.py" gaps "$work/$1"-s*.pcap --since "$2" --until "$3"
}

all_advertising() { # TAG: every router advertised in the last second
    local n
    n=$(gaps "$1" "$(fsub "$(now)" 1)" 1e12 | jq .routers)
    [ "$n" -ge "$ROUTERS" ]
}

name_of() { case $1 in nv) echo netvrrp ;; n1) echo netvrrp-1s ;; np) echo netvrrp-plain ;; nr) echo netvrrp-rt ;; nb) echo netvrrp-base ;; ka) echo keepalived ;; kp) echo keepalived-plain ;; esac; }
tag_of() {
    case $1 in
        netvrrp) echo nv ;; netvrrp-1s) echo n1 ;; netvrrp-plain) echo np ;; keepalived) echo ka ;; keepalived-plain) echo kp ;;
        netvrrp-rt) echo nr ;;
        netvrrp-base)
            [ -x "${NETVRRP_BASE:-}" ] || die "netvrrp-base: set NETVRRP_BASE to the previous release binary"
            echo nb
            ;;
        *) die "unknown contender $1" ;;
    esac
}

tags=()
for impl in "${impls[@]}"; do tags+=("$(tag_of "$impl")"); done
for ((round = 1; round <= ROUNDS; round++)); do
    for ((j = 0; j < ${#tags[@]}; j++)); do
        t=${tags[$(((j + round - 1) % ${#tags[@]}))]}
        parents_up "$t"
        caps=()
        for ((k = 0; k < PARENTS; k++)); do
            f=$work/$t-s$k.pcap
            rm -f "$f"
            : >"$f.log"
            # shellcheck disable=SC2046
            ip netns exec "$(sink "$t")" tcpdump -i "s$k" -nn -U -Z root -s 64 -B 32768 $(tcpdump_ts_opts "$(sink "$t")" "s$k") \
                -w "$f" "ip proto 112" >"$f.log" 2>&1 </dev/null &
            caps+=("$!")
            track_pid "$!"
            wait_for 5 grep -q 'listening on' "$f.log" || die "tcpdump failed"
        done
        case $t in
            nv | nr | nb) nv_start "$t" checks 100 ;; n1) nv_start "$t" checks 1000 ;; np) nv_start "$t" plain ;;
            ka) ka_start "$t" checks ;; kp) ka_start "$t" plain ;;
        esac
        since=$(now)
        wait_for 120 all_advertising "$t" \
            || die "$(name_of "$t"): not every router advertises after 120 s"
        note "$(name_of "$t") round $round: $ROUTERS routers advertising after $(fsub "$(now)" "$since") s"
        sleep "$SETTLE"
        c0=$(ns_cpu_ms "$t") m0=$(ns_minflt "$t") t0=$(now)
        sleep "$DURATION"
        c1=$(ns_cpu_ms "$t") m1=$(ns_minflt "$t") t1=$(now)
        for p in "${caps[@]}"; do stop_pid "$p"; done
        g=$(gaps "$t" "$t0" "$t1")
        echo "$g" >>"$work/$t.gaps"
        awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" 'BEGIN{printf "%.3f\n", (b - a) / (e - s)}' >>"$work/$t.cpu"
        awk -v a="$m0" -v b="$m1" -v s="$t0" -v e="$t1" 'BEGIN{printf "%.0f\n", (b - a) / (e - s)}' >>"$work/$t.minflt"
        jq -r .worst_gap_ms <<<"$g" >>"$work/$t.worst"
        jq -r .p99_gap_ms <<<"$g" >>"$work/$t.p99"
        jq -r .routers_over_110ms <<<"$g" >>"$work/$t.over"
        printf '%-14s round %d: %s; CPU %s ms/s\n' "$(name_of "$t")" "$round" "$g" "$(tail -1 "$work/$t.cpu")"
        printf '%-14s round %d: minor page faults %s/s\n' "$(name_of "$t")" "$round" "$(tail -1 "$work/$t.minflt")"
        parents_down "$t"
    done
done

for t in "${tags[@]}"; do
    n=$(name_of "$t")
    fig "$n: worst advert gap of $ROUTERS routers at 100 ms" ms "$work/$t.worst"
    fig "$n: p99 of the per-router worst gaps" ms "$work/$t.p99"
    fig "$n: routers with a gap over 110 ms (of $ROUTERS)" routers "$work/$t.over"
    fig "$n: CPU (daemon, helpers and checks)" "ms/s" "$work/$t.cpu"
    fig "$n: minor page faults of the daemon" "faults/s" "$work/$t.minflt"
done
per_run() { # WITH PLAIN RUNS_PER_S: CPU per check run, ms (medians)
    [ -s "$work/$1.cpu" ] && [ -s "$work/$2.cpu" ] || return 0
    awk -v a="$(stats "$work/$1.cpu" | awk '{print $1}')" -v b="$(stats "$work/$2.cpu" | awk '{print $1}')" \
        -v r="$3" 'BEGIN{printf "%.3f", (a - b) / r}' >"$work/$1.per_run"
    $BL value --out "$FRAG" --bench shared_checks --name "$(name_of "$1"): CPU per check run (vs $(name_of "$2"))" \
        --unit ms --value "$(cat "$work/$1.per_run")"
    printf '%-14s CPU per check run %s ms\n' "$(name_of "$1")" "$(cat "$work/$1.per_run")"
}
per_run nv np $((CHECKS * 10))
per_run nr np $((CHECKS * 10))
per_run nb np $((CHECKS * 10))
per_run n1 np "$CHECKS"
per_run ka kp "$CHECKS"
figset rounds="$ROUNDS" "duration_s=$DURATION" "routers=$ROUTERS" "checks=$CHECKS" \
    "method=\"$ROUTERS routers at 100 ms on 4 parents, no peer; netvrrp with 10 shared exec checks at 100 ms, at 1 s, and without; keepalived with 10 shared vrrp_scripts at 1 s (its smallest interval) and without; per router the largest advert gap over the window (tcpdump on the sink ends); CPU of every process in the router namespace\""
