#!/usr/bin/env bash
# Scale benchmark: N VRRP instances in one process, steady state as master.
#
#   bench/scale.sh [N...]              N defaults to $SIZES or "100 500 1000 4000"; DURATION=60 (s)
#                                      IMPLS="netvrrp keepalived frr" STARTUP_TIMEOUT=180
#
# Router namespace with P parents p0..; each parent is one end of a veth pair whose other
# end is in a sink namespace, so every parent is its own L2 segment (nobody else listens).
# N instances = P parents x N/P VRIDs with P = max(4, N/250) (at most 250 instances per
# parent, so 4 parents up to N = 1,000 and 16 at 4,000), VRRPv3, IPv4, 1 s adverts, priority
# 200, one VIP each (10.(100+k).1.VRID/16 on parent k). No peer: every instance becomes master.
#   netvrrp     `netvrrp apply -f FILE` (devices vrrp4-*, then the runtime); measured: the
#               runtime process
#   netvrrp-base  the same with the binary NETVRRP_BASE_BIN (another build, e.g. main's, to
#               compare with in the same run)
#   keepalived  the same N instances (generated config, version 3, advert_int 1, same VIPs on
#               the parents, no vmac: keepalived's default); measured: its parent and VRRP
#               processes together
#   frr         zebra + vrrpd with the same N instances (`vrrp V version 3`, priority 200,
#               advertisement-interval 1000, same VIPs); FRR cannot create its macvlans, so
#               they are made before the start with one `ip -batch` (vrrp4-IFINDEX-VRID,
#               virtual MAC, VIP, up) and not counted; measured: vrrpd and zebra together
# An implementation that does not get every instance advertising within STARTUP_TIMEOUT s
# is reported with how many it got, and not measured further at that N.
# After every instance advertises and an 8 s settle (past both second gratuitous-ARP bursts:
# netvrrp +2 s, keepalived +5 s), RELOADS (10) reloads of the unchanged configuration, each
# waited out (1 s, then until the daemon used < 25 ms CPU in 0.5 s): netvrrp alternates
# `netvrrp apply -f FILE` (odd) and SIGHUP to the runtime (even; NV_RELOAD=apply|sighup|mixed),
# keepalived gets SIGHUP; FRR none. Then another settle, and: CPU = delta of utime+stime (+ waited
# children) from /proc/PID/stat over DURATION seconds, as CPU seconds per minute (and per
# DURATION/SLICES slice from /proc/PID/task/*/schedstat, for the spread); peak RSS =
# VmHWM, over the process's life (start-up and the reloads included) and in steady
# state (reset through /proc/PID/clear_refs at the start of the window, no queries during it);
# PSS at the end (splits shared pages fairly between keepalived's two processes); frames on
# the wire = rx_packets delta of the sink ends; transitions counted by
# the implementation (netvrrp: show vrrp --json counters.transitions; keepalived: JSON dump
# become_master + release_master; FRR: vtysh `show vrrp json` stats.transitions) after the
# window, minus the start-up ones (netvrrp and FRR 2 per instance: initialize -> backup ->
# master; keepalived 1: become_master) is spurious. "CPU per 1,000 routers" = CPU s/min x
# 1000 / N: flat when the per-router cost does not grow with N.
# "Start to all master" is read on the wire (tcpdump in the sink namespace: the time every
# (parent, VRID) has advertised); the daemons are not queried before the window.
# Sizes run in order; within a size the implementations alternate who goes first.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
bench_init
need_netvrrp
frag_init scale

sizes_env=${SIZES:-100 500 1000 4000}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || read -r -a SIZES <<<"$sizes_env"
DURATION=${DURATION:-60}
SETTLE=${SETTLE:-8}
SLICES=${SLICES:-6}
STARTUP_TIMEOUT=${STARTUP_TIMEOUT:-180}
RELOADS=${RELOADS:-10}
NV_RELOAD=${NV_RELOAD:-mixed}
if [ -z "${IMPLS:-}" ]; then
    IMPLS="netvrrp"
    command -v "$KEEPALIVED" >/dev/null && IMPLS+=" keepalived"
    [ -x "$FRR_BIN/vrrpd" ] && [ -x "$FRR_BIN/zebra" ] && IMPLS+=" frr"
fi
PARENTS=4 # per N: parents_for N
parents_for() { local p=$(($1 / 250)); [ "$p" -ge 4 ] || p=4; echo "$p"; }
work=$(mktemp -d /tmp/nvb-scale.XXXXXX)
track_dir "$work"
chmod 755 "$work"

sink_rx() { # TAG -> total rx_packets of the sink ends
    local s=$NSP-$1-sink k sum=0 v
    for ((k = 0; k < PARENTS; k++)); do
        v=$(ip netns exec "$s" cat "/sys/class/net/s$k/statistics/rx_packets")
        sum=$((sum + v))
    done
    echo "$sum"
}

# ------------------------------------------------------------------ netvrrp
nv_start() { # N
    local n=$1 per=$(($1 / PARENTS)) k v d=$work/$NVT
    mkdir -p "$d"
    {
        printf '[defaults]\nversion = 3\npriority = 200\nadvertisement-interval = 1000\n'
        for ((k = 0; k < PARENTS; k++)); do
            for ((v = 1; v <= per; v++)); do
                printf '\n[[vrrp]]\ninterface = "p%d"\nvrid = %d\nipv4 = ["10.%d.1.%d/16"]\n' "$k" "$v" $((100 + k)) "$v"
            done
        done
    } >"$d/netvrrp.toml"
    "$NETVRRP" --netns "$NSP-$NVT" --run-dir "$d/run" apply -f "$d/netvrrp.toml" >"$d/apply.log" 2>&1 \
        || { tail -20 "$d/apply.log" >&2; tail -20 "$d/run/netvrrp.log" >&2 2>/dev/null; die "netvrrp apply of $n instances failed"; }
}
nv_pids() { readpid "$work/$NVT/run/netvrrp.pid"; }
nv_show() { "$NETVRRP" --netns "$NSP-$NVT" --run-dir "$work/$NVT/run" show vrrp --json; }
# The rows under `routers` (a bare list from builds before the `schema` envelope, e.g. a base).
nv_masters() { nv_show | jq '[(if type == "array" then . else .routers end)[] | select(.state == "master")] | length'; }
nv_transitions() { nv_show | jq '[(if type == "array" then . else .routers end)[].counters.transitions] | add'; }
nv_startup_transitions() { echo 2; } # initialize -> backup -> master
nv_reload() { # K: the K-th reload of the same file
    local how=$NV_RELOAD
    if [ "$how" = mixed ]; then
        if [ $(($1 % 2)) -eq 1 ]; then how=apply; else how=sighup; fi
    fi
    if [ "$how" = apply ]; then
        "$NETVRRP" --netns "$NSP-$NVT" --run-dir "$work/$NVT/run" apply -f "$work/$NVT/netvrrp.toml" >>"$work/$NVT/reload.log" 2>&1 \
            || { tail -20 "$work/$NVT/reload.log" >&2; die "netvrrp apply (reload $1) failed"; }
    else
        kill -HUP "$(nv_pids)"
    fi
}
nv_stop() { "$NETVRRP" --netns "$NSP-$NVT" --run-dir "$work/$NVT/run" stop >/dev/null 2>&1 || true; }
# netvrrp-base: the same with NETVRRP_BASE_BIN (a build to compare with, in the same run)
NVT=nv
for f in start pids show masters transitions startup_transitions reload stop; do
    eval "nb_$f() { local NVT=nb NETVRRP=\$NETVRRP_BASE_BIN; nv_$f \"\$@\"; }"
done

# ------------------------------------------------------------------ keepalived
ka_start() { # N
    local n=$1 per=$(($1 / PARENTS)) k v d=$work/ka
    mkdir -p "$d"
    {
        printf 'global_defs {\n  router_id %s\n}\n' "$NSP-ka"
        for ((k = 0; k < PARENTS; k++)); do
            for ((v = 1; v <= per; v++)); do
                printf 'vrrp_instance p%d_%d {\n  state BACKUP\n  interface p%d\n  virtual_router_id %d\n  priority 200\n  advert_int 1\n  version 3\n  virtual_ipaddress {\n    10.%d.1.%d/16 dev p%d\n  }\n}\n' \
                    "$k" "$v" "$k" "$v" $((100 + k)) "$v" "$k"
            done
        done
    } >"$d/keepalived.conf"
    rm -f "$d"/*.pid "$d/keepalived.json"
    ip netns exec "$NSP-ka" env TMPDIR="$d" setsid "$KEEPALIVED" -n -l -D -P -G \
        -f "$d/keepalived.conf" -p "$d/keepalived.pid" -r "$d/vrrp.pid" -c "$d/checkers.pid" -b "$d/bfd.pid" \
        >"$d/keepalived.log" 2>&1 </dev/null &
    disown $!
    wait_for 10 test -s "$d/vrrp.pid" || { tail -20 "$d/keepalived.log" >&2; die "keepalived did not start"; }
}
ka_pids() { readpid "$work/ka/keepalived.pid"; echo; readpid "$work/ka/vrrp.pid"; }
ka_json() { # fresh JSON dump -> path
    local d=$work/ka before
    before=$(stat -c %Y.%y "$d/keepalived.json" 2>/dev/null || echo none)
    kill -s "$($KEEPALIVED --signum=JSON)" "$(readpid "$d/keepalived.pid")"
    wait_for 10 bash -c "[ -s '$d/keepalived.json' ] && [ \"\$(stat -c %Y.%y '$d/keepalived.json')\" != '$before' ]" || return 1
    sleep 0.2
    echo "$d/keepalived.json"
}
ka_masters() { local j; j=$(ka_json) && jq '[.[] | select(.data.state == 2)] | length' "$j"; }
ka_transitions() { local j; j=$(ka_json) && jq '[.[].stats | .become_master + .release_master] | add' "$j"; }
ka_startup_transitions() { echo 1; } # become_master
ka_reload() { kill -HUP "$(readpid "$work/ka/keepalived.pid")"; }
ka_stop() { kill -TERM "$(readpid "$work/ka/keepalived.pid")" 2>/dev/null || true; sleep 1; }

# ------------------------------------------------------------------ FRR
fr_start() { # N: macvlans made first (FRR cannot), then zebra + vrrpd
    local n=$1 per=$(($1 / PARENTS)) k v d=$work/fr idx m
    mkdir -p "$d/vartmp"
    {
        for ((k = 0; k < PARENTS; k++)); do
            idx=$(ip -n "$NSP-fr" -o link show "p$k" | cut -d: -f1)
            for ((v = 1; v <= per; v++)); do
                m=vrrp4-$idx-$v
                printf 'link add %s link p%d address 00:00:5e:00:01:%02x type macvlan mode bridge\n' "$m" "$k" "$v"
                printf 'link set %s addrgenmode random\n' "$m"
                printf 'addr add 10.%d.1.%d/16 dev %s\n' $((100 + k)) "$v" "$m"
                printf 'link set %s up\n' "$m"
            done
        done
    } >"$d/macvlans.batch"
    ip -n "$NSP-fr" -batch "$d/macvlans.batch" || die "FRR: cannot make the macvlans"
    printf 'hostname %s\n!\n' "$NSP-fr" >"$d/zebra.conf"
    {
        printf 'hostname %s\n!\n' "$NSP-fr"
        for ((k = 0; k < PARENTS; k++)); do
            printf 'interface p%d\n' "$k"
            for ((v = 1; v <= per; v++)); do
                printf ' vrrp %d version 3\n vrrp %d priority 200\n vrrp %d advertisement-interval 1000\n vrrp %d ip 10.%d.1.%d\n' \
                    "$v" "$v" "$v" "$v" $((100 + k)) "$v"
            done
            printf '!\n'
        done
    } >"$d/vrrpd.conf"
}
fr_launch() { fr_daemons "$NSP-fr" "$work/fr"; }
fr_pids() { readpid "$work/fr/vrrpd.pid"; echo; readpid "$work/fr/zebra.pid"; }
fr_show() { ip netns exec "$NSP-fr" vtysh --vty_socket "$work/fr" -c 'show vrrp json'; }
fr_masters() { fr_show | jq '[.[] | select(.v4.status == "Master")] | length'; }
fr_transitions() { fr_show | jq '[.[].v4.stats.transitions] | add'; }
fr_startup_transitions() { echo 2; } # initialize -> backup -> master
fr_reload() { :; }
fr_stop() { local p; for p in $(fr_pids); do kill -TERM "$p" 2>/dev/null || true; done; sleep 1; }
nv_launch() { :; }
nb_launch() { :; }
ka_launch() { :; }

# ------------------------------------------------------------------ measure
quiet_after() { # PID...: wait until together they use < 25 ms CPU in 0.5 s (at most 60 s)
    local i p s0 s1
    for ((i = 0; i < 120; i++)); do
        s0=0; for p in "$@"; do s0=$((s0 + $(proc_sched_ns "$p"))); done
        sleep 0.5
        s1=0; for p in "$@"; do s1=$((s1 + $(proc_sched_ns "$p"))); done
        [ $((s1 - s0)) -lt 25000000 ] && return 0
    done
}

# Distinct (sink interface, VRID) pairs advertising in a tcpdump text capture of the sink
# namespace, and the capture time at which the last of them first appeared.
wire_masters() { # FILE -> "count time_of_last_new"
    awk '{ for (i = 1; i < NF; i++) if ($i == "vrid") { k = $2 " " $(i + 1); if (!(k in s)) { s[k] = 1; n++; t = $1 } } }
         END { printf "%d %s\n", n, (t == "" ? 0 : t) }' "$1"
}

measure() { # IMPL TAG N
    local impl=$1 t=$2 n=$3 t0 t_all pids p cpu0 cpu1 rx0 rx1 tr1 w0 w1 hwm=0 pss=0 masters cap cpid
    parents_up "$t"
    # The daemons are not asked anything before the window (a status query grows their heap,
    # and glibc keeps it): "every instance is master" is read from the wire, where each
    # (parent, VRID) must be advertising.
    cap=$work/$t-$n.wire
    ip netns exec "$NSP-$t-sink" tcpdump -i any -Q in -nn -l -tt 'ip proto 112' >"$cap" 2>"$cap.err" </dev/null &
    cpid=$!
    track_pid "$cpid"
    wait_for 5 grep -q 'listening on' "$cap.err" || die "tcpdump on the sink failed: $(cat "$cap.err")"
    # FRR: the macvlans and configs are made here, before T0; the daemons start in _launch
    if [ "$t" = fr ]; then "${t}_start" "$n"; fi
    t0=$(now)
    if [ "$t" = fr ]; then "${t}_launch"; else "${t}_start" "$n"; fi
    local end seen=0
    end=$(awk -v a="$t0" -v s="$STARTUP_TIMEOUT" 'BEGIN{printf "%.3f", a+s}')
    while :; do
        read -r seen t_all < <(wire_masters "$cap")
        [ "$seen" -ge "$n" ] && break
        if awk -v n="$(now)" -v e="$end" 'BEGIN{exit !(n>e)}'; then
            note "$impl N=$n: only $seen of $n instances advertising after $STARTUP_TIMEOUT s; not measured further"
            echo "$seen" >"$work/reached.$impl.$n"
            stop_pid "$cpid"
            "${t}_stop"
            parents_down "$t"
            return 0
        fi
        sleep 0.5
    done
    stop_pid "$cpid"
    sleep "$SETTLE"
    pids=$("${t}_pids" | awk 'NF')
    local reloads=0 reload_s=0 r0 r
    if [ "$RELOADS" -gt 0 ] && [ "$t" != fr ]; then
        r0=$(now)
        for ((r = 1; r <= RELOADS; r++)); do
            "${t}_reload" "$r"
            sleep 1
            # shellcheck disable=SC2086 # one word per pid
            quiet_after $pids
        done
        reloads=$RELOADS
        reload_s=$(fsub "$(now)" "$r0")
        sleep "$SETTLE"
        pids=$("${t}_pids" | awk 'NF')
    fi
    local life0=0
    for p in $pids; do
        life0=$((life0 + $(proc_hwm_kb "$p")))
        echo 5 >"/proc/$p/clear_refs"   # reset VmHWM: the steady-state peak starts here
    done
    cpu0=0; for p in $pids; do cpu0=$(awk -v a="$cpu0" -v b="$(proc_cpu_s "$p")" 'BEGIN{print a+b}'); done
    rx0=$(sink_rx "$t"); w0=$(now)
    # the window in SLICES parts: per-slice CPU from schedstat (ns) for the spread
    local k s0 s1 ts0 ts1
    : >"$work/slices.$impl.$n"
    s0=0; for p in $pids; do s0=$((s0 + $(proc_sched_ns "$p"))); done
    ts0=$(now)
    local s_start=$s0 ts_start=$ts0
    for ((k = 1; k <= SLICES; k++)); do
        sleep "$(awk -v d="$DURATION" -v n="$SLICES" 'BEGIN{printf "%.3f", d/n}')"
        s1=0; for p in $pids; do s1=$((s1 + $(proc_sched_ns "$p"))); done
        ts1=$(now)
        awk -v a="$s0" -v b="$s1" -v t0="$ts0" -v t1="$ts1" 'BEGIN{printf "%.5f\n", (b-a)/1e9*60/(t1-t0)}' >>"$work/slices.$impl.$n"
        s0=$s1 ts0=$ts1
    done
    awk -v a="$s_start" -v b="$s1" -v t0="$ts_start" -v t1="$ts1" 'BEGIN{printf "%.5f\n", (b-a)/1e9*60/(t1-t0)}' >"$work/sched.$impl.$n"
    cpu1=0; for p in $pids; do cpu1=$(awk -v a="$cpu1" -v b="$(proc_cpu_s "$p")" 'BEGIN{print a+b}'); done
    rx1=$(sink_rx "$t"); w1=$(now)
    for p in $pids; do
        hwm=$((hwm + $(proc_hwm_kb "$p")))
        pss=$((pss + $(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup")))
    done
    # After the window: the implementation's own view
    tr1=$("${t}_transitions")
    masters=$("${t}_masters")
    local secs cpu_min adv_rate spurious startup tr0
    tr0=$(( $("${t}_startup_transitions") * n ))
    secs=$(fsub "$w1" "$w0")
    cpu_min=$(awk -v a="$cpu0" -v b="$cpu1" -v s="$secs" 'BEGIN{printf "%.4f", (b-a)*60/s}')
    adv_rate=$(awk -v a="$rx0" -v b="$rx1" -v s="$secs" 'BEGIN{printf "%.1f", (b-a)/s}')
    spurious=$((tr1 - tr0))
    startup=$(fsub "$t_all" "$t0")
    local life=$((hwm > life0 ? hwm : life0))
    printf 'scale N=%-5d %-10s CPU %.3f s/min (schedstat %.3f; %.2f%% of a core)  VmHWM %.1f MB (life %.1f, %d reloads in %.1f s)  PSS %.1f MB  frames %s/s  startup %.1f s  transitions %s -> %s  masters at end %s\n' \
        "$n" "$impl" "$cpu_min" "$(cat "$work/sched.$impl.$n")" "$(awk -v c="$cpu_min" 'BEGIN{print c/60*100}')" "$(awk -v k="$hwm" 'BEGIN{print k/1024}')" "$(awk -v k="$life" 'BEGIN{print k/1024}')" \
        "$reloads" "$reload_s" "$(awk -v k="$pss" 'BEGIN{print k/1024}')" "$adv_rate" "$startup" "$tr0" "$tr1" "$masters"
    echo "$cpu_min" >"$work/cpu.$impl.$n"
    awk -v c="$(cat "$work/sched.$impl.$n")" -v n="$n" 'BEGIN{printf "%.5f\n", c*1000/n}' >"$work/per1k.$impl.$n"
    awk -v k="$hwm" 'BEGIN{printf "%.2f\n", k/1024}' >"$work/hwm.$impl.$n"
    awk -v k="$pss" 'BEGIN{printf "%.2f\n", k/1024}' >"$work/pss.$impl.$n"
    awk -v k="$life" 'BEGIN{printf "%.2f\n", k/1024}' >"$work/life.$impl.$n"
    echo "$adv_rate" >"$work/adv.$impl.$n"
    echo "$reloads" >"$work/reloads.$impl.$n"
    echo "$spurious" >"$work/spurious.$impl.$n"
    echo "$startup" >"$work/startup.$impl.$n"
    echo "$tr0" >"$work/tr0.$impl.$n"
    [ "$masters" = "$n" ] || note "$impl N=$n: only $masters masters at the end of the window"
    "${t}_stop"
    parents_down "$t"
}

tag() { case $1 in netvrrp) echo nv ;; netvrrp-base) echo nb ;; keepalived) echo ka ;; frr) echo fr ;; *) die "scale: unknown implementation $1" ;; esac; }
read -r -a impls <<<"$IMPLS"
[[ " $IMPLS " != *" netvrrp-base "* ]] || [ -x "${NETVRRP_BASE_BIN:-}" ] || die "IMPLS has netvrrp-base: set NETVRRP_BASE_BIN to a binary"
round=0
for n in "${SIZES[@]}"; do
    PARENTS=$(parents_for "$n")
    [ $((n % PARENTS)) -eq 0 ] && [ $((n / PARENTS)) -le 255 ] || die "N=$n must be a multiple of $PARENTS parents, at most 255 each"
    # rotate who goes first from one size to the next
    order=("${impls[@]:$((round % ${#impls[@]}))}" "${impls[@]:0:$((round % ${#impls[@]}))}")
    round=$((round + 1))
    for impl in "${order[@]}"; do
        measure "$impl" "$(tag "$impl")" "$n"
    done
    for impl in "${impls[@]}"; do
        if [ -f "$work/reached.$impl.$n" ]; then
            fig "N=$n $impl: instances advertising after ${STARTUP_TIMEOUT} s" count "$work/reached.$impl.$n" \
                --note "did not reach $n: not measured"
            continue
        fi
        fig "N=$n $impl: CPU per minute per 1,000 routers (schedstat)" "s/min" "$work/per1k.$impl.$n" \
            --note "$PARENTS parents x $((n / PARENTS))$([ "$impl" = frr ] && echo '; macvlans pre-made')"
        fig "N=$n $impl: CPU per minute" "s/min" "$work/cpu.$impl.$n" --note "/proc/PID/stat over the whole window"
        fig "N=$n $impl: CPU per minute (schedstat)" "s/min" "$work/sched.$impl.$n" --note "ns resolution, whole window"
        fig "N=$n $impl: CPU per minute, per $((DURATION / SLICES)) s slice (schedstat)" "s/min" "$work/slices.$impl.$n"
        fig "N=$n $impl: peak RSS in steady state (VmHWM)" MB "$work/hwm.$impl.$n"
        fig "N=$n $impl: peak RSS over its life (VmHWM)" MB "$work/life.$impl.$n" \
            --note "start-up and $(cat "$work/reloads.$impl.$n") reloads included"
        fig "N=$n $impl: PSS at end" MB "$work/pss.$impl.$n"
        fig "N=$n $impl: frames on the wire (adverts + ARP)" "1/s" "$work/adv.$impl.$n"
        fig "N=$n $impl: spurious transitions in the window" count "$work/spurious.$impl.$n" \
            --meta "startup_transitions=$(cat "$work/tr0.$impl.$n")"
        fig "N=$n $impl: start to all master" s "$work/startup.$impl.$n"
    done
    if [ -f "$work/cpu.netvrrp.$n" ] && [ -f "$work/cpu.frr.$n" ]; then
        awk -v a="$(cat "$work/sched.netvrrp.$n")" -v b="$(cat "$work/sched.frr.$n")" 'BEGIN{printf "%.4f\n", (b > 0 ? a/b : 0)}' >"$work/rfsched.$n"
        awk -v a="$(cat "$work/hwm.netvrrp.$n")" -v b="$(cat "$work/hwm.frr.$n")" 'BEGIN{printf "%.4f\n", a/b}' >"$work/rfhwm.$n"
        fig "N=$n ratio netvrrp / frr: CPU (schedstat)" x "$work/rfsched.$n"
        fig "N=$n ratio netvrrp / frr: peak RSS in steady state" x "$work/rfhwm.$n"
        printf 'scale N=%-5d ratio netvrrp/frr: CPU (schedstat) %.2f  peak RSS %.2f\n' "$n" "$(cat "$work/rfsched.$n")" "$(cat "$work/rfhwm.$n")"
    fi
    if [ -f "$work/cpu.netvrrp.$n" ] && [ -f "$work/cpu.keepalived.$n" ]; then
        awk -v a="$(cat "$work/cpu.netvrrp.$n")" -v b="$(cat "$work/cpu.keepalived.$n")" 'BEGIN{printf "%.4f\n", (b > 0 ? a/b : 0)}' >"$work/rcpu.$n"
        awk -v a="$(cat "$work/hwm.netvrrp.$n")" -v b="$(cat "$work/hwm.keepalived.$n")" 'BEGIN{printf "%.4f\n", a/b}' >"$work/rhwm.$n"
        awk -v a="$(cat "$work/pss.netvrrp.$n")" -v b="$(cat "$work/pss.keepalived.$n")" 'BEGIN{printf "%.4f\n", a/b}' >"$work/rpss.$n"
        awk -v a="$(cat "$work/life.netvrrp.$n")" -v b="$(cat "$work/life.keepalived.$n")" 'BEGIN{printf "%.4f\n", a/b}' >"$work/rlife.$n"
        awk -v a="$(cat "$work/sched.netvrrp.$n")" -v b="$(cat "$work/sched.keepalived.$n")" 'BEGIN{printf "%.4f\n", (b > 0 ? a/b : 0)}' >"$work/rsched.$n"
        fig "N=$n ratio netvrrp / keepalived: CPU" x "$work/rcpu.$n" --note "target <= 0.33"
        fig "N=$n ratio netvrrp / keepalived: CPU (schedstat)" x "$work/rsched.$n"
        fig "N=$n ratio netvrrp / keepalived: peak RSS in steady state" x "$work/rhwm.$n" --note "target < 1"
        fig "N=$n ratio netvrrp / keepalived: PSS" x "$work/rpss.$n"
        fig "N=$n ratio netvrrp / keepalived: peak RSS over the life" x "$work/rlife.$n" --note "target < 1"
        printf 'scale N=%-5d ratio netvrrp/keepalived: CPU %.2f (schedstat %.2f)  peak RSS %.2f (life %.2f)  PSS %.2f\n' "$n" \
            "$(cat "$work/rcpu.$n")" "$(cat "$work/rsched.$n")" "$(cat "$work/rhwm.$n")" "$(cat "$work/rlife.$n")" "$(cat "$work/rpss.$n")"
    fi
    if [ -f "$work/life.netvrrp-base.$n" ] && [ -f "$work/life.keepalived.$n" ]; then
        awk -v a="$(cat "$work/life.netvrrp-base.$n")" -v b="$(cat "$work/life.keepalived.$n")" 'BEGIN{printf "%.4f\n", a/b}' >"$work/rblife.$n"
        fig "N=$n ratio netvrrp-base / keepalived: peak RSS over the life" x "$work/rblife.$n"
        printf 'scale N=%-5d ratio netvrrp-base/keepalived: peak RSS over the life %.2f\n' "$n" "$(cat "$work/rblife.$n")"
    fi
done
figset duration_s="$DURATION" reloads="$RELOADS" "parents=\"max(4, N/250)\"" "implementations=\"$IMPLS\"" \
    "method=\"one L2 segment per parent (veth to a sink namespace); CPU from /proc/PID/stat utime+stime(+cutime+cstime) deltas; keepalived = parent + VRRP child; frr = zebra + vrrpd, macvlans pre-made\""
