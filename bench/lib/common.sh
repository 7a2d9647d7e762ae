# Shared helpers of the bench/*.sh scripts (sourced, not run).
#
# Every script registers what it creates (namespaces, processes, directories) with
# `track_ns` / `track_pid` / `track_dir`; `bench_cleanup` (installed as the EXIT/INT/TERM
# trap by `bench_init`) kills the registered processes and every process still inside a
# registered namespace (all of them were started by the script), then deletes the namespaces
# and directories. Nothing in the root namespace is configured.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
PY=${BENCH_PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3
BL="$PY $BENCH_DIR/lib/benchlib.py"
NETVRRP=${NETVRRP_BIN:-$REPO_DIR/target/release/netvrrp}
KEEPALIVED=${KEEPALIVED:-keepalived}
FRR_BIN=${FRR_BIN:-/usr/lib/frr}
# Namespace prefix: short, and unique per invocation so parallel runs cannot collide.
NSP=${NSP:-nvb$$}

_ns=() _pids=() _dirs=()

die() { echo "bench: error: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; }
now() { date +%s.%N; }
now_ns() { date +%s%N; }
fsub() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.6f", a-b}'; }
readpid() { [ -s "$1" ] && tr -dc '0-9' <"$1" || true; }
pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

track_ns() { _ns+=("$1"); }
track_pid() { _pids+=("$1"); }
track_dir() { _dirs+=("$1"); }

mkns() { # mkns NAME: a fresh namespace with lo up, DAD and RA off, registered for cleanup
    ip netns add "$1" || die "cannot create namespace $1"
    track_ns "$1"
    ip -n "$1" link set lo up
    ip netns exec "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
        net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 >/dev/null
}

wait_for() { # wait_for SECONDS CMD...: poll every 50 ms
    local end
    end=$(awk -v n="$(now)" -v t="$1" 'BEGIN{printf "%.3f", n+t}')
    shift
    while :; do
        "$@" && return 0
        awk -v n="$(now)" -v e="$end" 'BEGIN{exit !(n>e)}' && return 1
        sleep 0.05
    done
}

stop_pid() { # SIGINT a process we started (tcpdump) and wait for it; SIGKILL after 3 s
    local p=$1
    pid_alive "$p" || return 0
    kill -INT "$p" 2>/dev/null
    wait_for 3 bash -c "! kill -0 $p 2>/dev/null" || kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null || true
    return 0
}

ns_kill_all() { # SIGKILL every process inside namespace $1 (all started by this script)
    local p
    for p in $(ip netns pids "$1" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
}

# A router namespace $NSP-TAG whose PARENTS parents p0.. (10.(100+k).0.1/16) are veths to
# a sink namespace $NSP-TAG-sink (s0..): every parent its own L2 segment, nobody else on it.
parents_up() { # TAG
    local r=$NSP-$1 s=$NSP-$1-sink k
    mkns "$r"
    mkns "$s"
    for ((k = 0; k < PARENTS; k++)); do
        ip -n "$r" link add "p$k" type veth peer name "s$k" netns "$s"
        ip -n "$r" addr add "10.$((100 + k)).0.1/16" dev "p$k"
        ip -n "$r" link set "p$k" up
        ip -n "$s" link set "s$k" up
    done
}
parents_down() { # TAG
    local r=$NSP-$1 s=$NSP-$1-sink k
    ns_kill_all "$r" || true # a process may exit between the listing and the kill
    for ((k = 0; k < PARENTS; k++)); do ip -n "$r" link del "p$k" 2>/dev/null || true; done
    ip netns del "$r" 2>/dev/null || true
    ip netns del "$s" 2>/dev/null || true
}

bench_cleanup() {
    local rc=$? p ns d
    set +e
    trap - EXIT INT TERM
    for p in "${_pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    for ns in "${_ns[@]}"; do ns_kill_all "$ns"; done
    for ns in "${_ns[@]}"; do
        # Deleting the parents first removes their macvlans synchronously; a bare `ip netns
        # del` leaves the kernel tearing thousands of devices down in the background.
        for d in $(ip -n "$ns" -o link show type veth 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
            ip -n "$ns" link del "$d" 2>/dev/null
        done
        ip netns del "$ns" 2>/dev/null
    done
    _ns=()
    for d in "${_dirs[@]}"; do rm -rf "$d"; done
    _dirs=() _pids=()
    exit "$rc"
}

bench_init() { # root check, cleanup trap
    [ "$(id -u)" -eq 0 ] || die "run as root (the benchmarks create network namespaces)"
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

bench_start() { # NAME: the preamble of every benchmark: root check and cleanup trap, the
    # release binary, the fragment file, and a tracked work directory in $work
    bench_init
    need_netvrrp
    frag_init "$1"
    work=$(mktemp -d "/tmp/nvb-$1.XXXXXX")
    track_dir "$work"
    chmod 755 "$work" # FRR's daemons run as user frr and write below it
}

need_netvrrp() {
    [ -x "$NETVRRP" ] || die "no release binary at $NETVRRP (run: cargo build --release, or bench/run.sh)"
}

# Fragment file the benchmark writes its figures into (run.sh merges it into results.json).
frag_init() { # frag_init NAME
    FRAG=${BENCH_FRAG:-$BENCH_DIR/out/$1.json}
    mkdir -p "$(dirname "$FRAG")"
    rm -f "$FRAG"
    BENCH_NAME=$1
}
fig() { # fig NAME UNIT FILE [--note T] [--meta k=v...]
    local name=$1 unit=$2 file=$3
    shift 3
    $BL figure --out "$FRAG" --bench "$BENCH_NAME" --name "$name" --unit "$unit" "$file" "$@"
}
figset() { $BL set --out "$FRAG" --bench "$BENCH_NAME" "$@"; }
stats() { $BL stats "$1"; } # -> "median min max n"

# FRR daemons of one router namespace, everything under DIR (config, pid files, vty and
# zserv sockets; /var/tmp bind-mounted from DIR/vartmp so parallel instances do not collide).
fr_daemons() { # NS DIR: start zebra, then vrrpd, with DIR/zebra.conf and DIR/vrrpd.conf
    local ns=$1 d=$2 common
    chown -R frr:frr "$d"
    rm -f "$d"/*.pid "$d/zserv.api" "$d"/*.vty
    common="-d -z $d/zserv.api --vty_socket $d -P 0"
    ip netns exec "$ns" sh -c "mount --bind $d/vartmp /var/tmp && exec $FRR_BIN/zebra $common -f $d/zebra.conf -i $d/zebra.pid --log file:$d/zebra.log" >>"$d/zebra.out" 2>&1 </dev/null
    wait_for 10 test -S "$d/zserv.api" || die "zebra in $ns did not start"
    ip netns exec "$ns" sh -c "mount --bind $d/vartmp /var/tmp && exec $FRR_BIN/vrrpd $common -f $d/vrrpd.conf -i $d/vrrpd.pid --log file:$d/vrrpd.log" >>"$d/vrrpd.out" 2>&1 </dev/null
    wait_for 10 test -s "$d/vrrpd.pid" || die "vrrpd in $ns did not start"
}

# CPU seconds (utime+stime+cutime+cstime) of a process, from /proc/PID/stat.
proc_cpu_s() {
    local tck
    tck=$(getconf CLK_TCK)
    # the command name may contain spaces: fields after the closing parenthesis
    sed 's/^.*) //' "/proc/$1/stat" | awk -v t="$tck" '{printf "%.4f", ($12+$13+$14+$15)/t}'
}
# On-CPU nanoseconds of every thread of a process (/proc/PID/task/*/schedstat, first field):
# finer than the 10 ms ticks of /proc/PID/stat, but threads that exited are not counted.
proc_sched_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END{printf "%.0f", s}'; } # %d stops at 2^31 in mawk
proc_hwm_kb() { awk '/^VmHWM:/{print $2}' "/proc/$1/status"; }
proc_rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }

# tcpdump timestamp options: nanosecond precision, adapter_unsynced where the device has it
# (veth and bridge devices only offer host timestamps).
tcpdump_ts_opts() { # NS DEV
    if ip netns exec "$1" tcpdump -J -i "$2" 2>/dev/null | grep -c adapter_unsynced >/dev/null; then
        echo "-j adapter_unsynced --time-stamp-precision nano"
    else
        echo "--time-stamp-precision nano"
    fi
}
tcpdump_ts_type() { # NS DEV
    if ip netns exec "$1" tcpdump -J -i "$2" 2>/dev/null | grep -c adapter_unsynced >/dev/null; then
        echo adapter_unsynced
    else
        echo host
    fi
}
