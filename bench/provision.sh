#!/usr/bin/env bash
# Provisioning benchmark: create N vrrp macvlans with their VIPs from nothing.
#
#   bench/provision.sh [N...]          N defaults to $SIZES or "100 1000"; ROUNDS=5 NOOP_ROUNDS=7
#
# Side by side, per round, in two fresh namespaces with the same 4 parents (veth pairs):
#   netvrrp  `netvrrp --netns NS --run-dir DIR apply --no-runtime -f FILE` (the real CLI:
#            parse, snapshot, plan, batched netlink, verification snapshot, owned.json)
#   ip       the equivalent commands, per device: link add (virtual MAC in the request,
#            macvlan mode bridge), addrgenmode none, the three IPv6 DAD sysctls,
#            protodown on, the VIP, link up. `ip -batch` cannot write sysctls, so the ip side
#            is `ip -n NS -batch` (create, addrgenmode, protodown, address), then
#            `nsenter --net sysctl -q -p` (the sysctls), then `ip -n NS -batch` (link up).
#   ip-only  a lower bound: one `ip -n NS -batch` with everything but the sysctls.
# N routers = 4 parents x N/4 VRIDs (VRRPv3, IPv4, one VIP each). Who goes first alternates.
# Wall time is taken around each process; CPU = user + sys of the process and its children
# (getrusage). Then, on the largest N, a no-op re-apply and a no-op `netvrrp diff` of the same
# file (NOOP_ROUNDS times each). Figures go to bench/out/provision.json (bench/run.sh merges
# them into bench/results.json).
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
bench_init
need_netvrrp
frag_init provision

sizes_env=${SIZES:-100 1000}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || read -r -a SIZES <<<"$sizes_env"
ROUNDS=${ROUNDS:-5}
NOOP_ROUNDS=${NOOP_ROUNDS:-7}
PARENTS=4

work=$(mktemp -d /tmp/nvb-provision.XXXXXX)
track_dir "$work"

setup() { # NS: 4 parents p0..p3 (veth, peer q0..q3 in the same namespace), up
    local k
    mkns "$1"
    for ((k = 0; k < PARENTS; k++)); do
        ip -n "$1" link add "p$k" type veth peer name "q$k"
        ip -n "$1" addr add "10.$((100 + k)).0.1/16" dev "p$k"
        ip -n "$1" link set "p$k" up
        ip -n "$1" link set "q$k" up
    done
}

teardown() { # NS: remove the parents first (their macvlans go synchronously), then the ns
    local k
    for ((k = 0; k < PARENTS; k++)); do ip -n "$1" link del "p$k" 2>/dev/null || true; done
    ip netns del "$1"
}

gen() { # NS N: the TOML config, the two ip batches and the sysctl file for that namespace
    local ns=$1 n=$2 per k v idx name vip
    per=$((n / PARENTS))
    : >"$work/$ns.toml" ; : >"$work/$ns.b1" ; : >"$work/$ns.sysctl" ; : >"$work/$ns.b2"
    {
        echo "[defaults]"
        echo "version = 3"
        echo "priority = 200"
        echo "advertisement-interval = 1000"
    } >>"$work/$ns.toml"
    for ((k = 0; k < PARENTS; k++)); do
        idx=$(ip -n "$ns" -o link show "p$k" | cut -d: -f1)
        for ((v = 1; v <= per; v++)); do
            name=vrrp4-$idx-$v
            vip=10.$((100 + k)).1.$v/16
            printf '[[vrrp]]\ninterface = "p%d"\nvrid = %d\nipv4 = ["%s"]\n' "$k" "$v" "$vip" >>"$work/$ns.toml"
            printf 'link add link p%d name %s address 00:00:5e:00:01:%02x type macvlan mode bridge\n' "$k" "$name" "$v" >>"$work/$ns.b1"
            printf 'link set dev %s addrgenmode none\n' "$name" >>"$work/$ns.b1"
            printf 'net.ipv6.conf.%s.accept_dad=0\nnet.ipv6.conf.%s.dad_transmits=0\nnet.ipv6.conf.%s.enhanced_dad=0\n' "$name" "$name" "$name" >>"$work/$ns.sysctl"
            printf 'link set dev %s protodown on\naddr add %s dev %s\n' "$name" "$vip" "$name" >>"$work/$ns.b1"
            printf 'link set dev %s up\n' "$name" >>"$work/$ns.b2"
        done
    done
}

check() { # NS N: every vrrp device exists, is up, has protodown on and its VIP
    local links pd addrs
    links=$(ip -n "$1" -br link show | grep -c '^vrrp4-' || true)
    pd=$(ip -n "$1" -d link show | grep -c 'protodown on' || true)
    addrs=$(ip -n "$1" -4 -br addr show | grep -c '^vrrp4-.* 10\.' || true)
    if [ "$links" -ne "$2" ] || [ "$pd" -ne "$2" ] || [ "$addrs" -ne "$2" ]; then
        die "$1: expected $2 devices/protodown/VIPs, found $links/$pd/$addrs"
    fi
}

run_ip() { # NS -> "wall user sys"
    $BL time -o "$work/t" -- sh -c "ip -n $1 -batch $work/$1.b1 && nsenter --net=/run/netns/$1 sysctl -q -p $work/$1.sysctl && ip -n $1 -batch $work/$1.b2"
    cut -d' ' -f1-3 "$work/t"
}

run_ip_only() { # NS -> "wall user sys"
    cat "$work/$1.b1" "$work/$1.b2" >"$work/$1.b12"
    $BL time -o "$work/t" -- ip -n "$1" -batch "$work/$1.b12"
    cut -d' ' -f1-3 "$work/t"
}

run_nv() { # NS [apply|diff] -> "wall user sys"
    local what=${2:-apply} args=()
    case $what in
    apply) args=(apply --no-runtime -f "$work/$1.toml") ;;
    diff) args=(diff -f "$work/$1.toml") ;;
    esac
    $BL time -o "$work/t" --stdout "$work/$1.$what.out" -- "$NETVRRP" --netns "$1" --run-dir "$work/run-$1" "${args[@]}" \
        || { cat "$work/$1.$what.out" >&2; die "netvrrp $what failed in $1"; }
    cut -d' ' -f1-3 "$work/t"
}

ms() { awk '{printf "%.3f\n", $1 * 1000}'; }         # wall -> ms
cpu_ms() { awk '{printf "%.3f\n", ($2 + $3) * 1000}'; } # user+sys -> ms

r=0
for n in "${SIZES[@]}"; do
    [ $((n % PARENTS)) -eq 0 ] && [ $((n / PARENTS)) -le 255 ] || die "N must be a multiple of $PARENTS, at most $((PARENTS * 255))"
    : >"$work/ipo.$n" ; : >"$work/ratioo.$n" ; : >"$work/ip.$n" ; : >"$work/nv.$n" ; : >"$work/ratio.$n" ; : >"$work/ipcpu.$n" ; : >"$work/nvcpu.$n" ; : >"$work/cpuratio.$n"
    for ((i = 1; i <= ROUNDS; i++)); do
        r=$((r + 1))
        a=$NSP-ip$r b=$NSP-nv$r c=$NSP-io$r
        setup "$a"
        setup "$b"
        setup "$c"
        gen "$a" "$n"
        gen "$b" "$n"
        gen "$c" "$n"
        if ((r % 2)); then
            t_ip=$(run_ip "$a")
            t_nv=$(run_nv "$b")
            t_io=$(run_ip_only "$c")
        else
            t_io=$(run_ip_only "$c")
            t_nv=$(run_nv "$b")
            t_ip=$(run_ip "$a")
        fi
        check "$a" "$n"
        check "$b" "$n"
        teardown "$c"
        echo "$t_io" | ms >>"$work/ipo.$n"
        awk -v a="$t_nv" -v b="$t_io" 'BEGIN{split(a,x," "); split(b,y," "); printf "%.4f\n", x[1]/y[1]}' >>"$work/ratioo.$n"
        echo "$t_ip" | ms >>"$work/ip.$n"
        echo "$t_nv" | ms >>"$work/nv.$n"
        echo "$t_ip" | cpu_ms >>"$work/ipcpu.$n"
        echo "$t_nv" | cpu_ms >>"$work/nvcpu.$n"
        awk -v a="$t_nv" -v b="$t_ip" 'BEGIN{split(a,x," "); split(b,y," "); printf "%.4f\n", x[1]/y[1]}' >>"$work/ratio.$n"
        awk -v a="$t_nv" -v b="$t_ip" 'BEGIN{split(a,x," "); split(b,y," "); printf "%.4f\n", (x[2]+x[3])/(y[2]+y[3])}' >>"$work/cpuratio.$n"
        printf 'provision N=%-5d round %d: ip %7.1f ms (cpu %6.1f)  netvrrp %7.1f ms (cpu %6.1f)  ratio %.2f | ip-only %7.1f ms, ratio %.2f\n' "$n" "$i" \
            "$(tail -1 "$work/ip.$n")" "$(tail -1 "$work/ipcpu.$n")" "$(tail -1 "$work/nv.$n")" "$(tail -1 "$work/nvcpu.$n")" "$(tail -1 "$work/ratio.$n")" \
            "$(tail -1 "$work/ipo.$n")" "$(tail -1 "$work/ratioo.$n")"
        last_n=$n last_ns=$b
        if [ "$n" = "${SIZES[-1]}" ] && [ "$i" = "$ROUNDS" ]; then
            teardown "$a"   # keep the last netvrrp namespace for the no-op runs
        else
            teardown "$a"
            teardown "$b"
        fi
    done
    fig "apply N=$n: ip -batch, wall" ms "$work/ip.$n"
    fig "apply N=$n: netvrrp apply --no-runtime, wall" ms "$work/nv.$n"
    fig "apply N=$n: ratio netvrrp / ip -batch (wall, per round)" x "$work/ratio.$n" --note "target <= 1.5"
    fig "apply N=$n: ip -batch without sysctls (lower bound), wall" ms "$work/ipo.$n"
    fig "apply N=$n: ratio netvrrp / ip -batch without sysctls (wall, per round)" x "$work/ratioo.$n"
    fig "apply N=$n: ip -batch, CPU user+sys" ms "$work/ipcpu.$n"
    fig "apply N=$n: netvrrp, CPU user+sys" ms "$work/nvcpu.$n"
    fig "apply N=$n: ratio netvrrp / ip -batch (CPU, per round)" x "$work/cpuratio.$n"
done

# No-op runs on the last netvrrp namespace (N = the largest size).
n=$last_n ns=$last_ns
: >"$work/noop_apply" ; : >"$work/noop_apply_cpu" ; : >"$work/noop_diff" ; : >"$work/noop_diff_cpu"
for ((i = 1; i <= NOOP_ROUNDS; i++)); do
    t=$(run_nv "$ns" apply)
    [ -s "$work/$ns.apply.out" ] && die "no-op apply printed changes: $(head -5 "$work/$ns.apply.out")"
    echo "$t" | ms >>"$work/noop_apply"
    echo "$t" | cpu_ms >>"$work/noop_apply_cpu"
    t=$(run_nv "$ns" diff)
    grep -q "^in sync" "$work/$ns.diff.out" || die "no-op diff found changes: $(head -5 "$work/$ns.diff.out")"
    echo "$t" | ms >>"$work/noop_diff"
    echo "$t" | cpu_ms >>"$work/noop_diff_cpu"
    printf 'no-op N=%d round %d: apply %6.1f ms (cpu %6.1f)   diff %6.1f ms (cpu %6.1f)\n' "$n" "$i" \
        "$(tail -1 "$work/noop_apply")" "$(tail -1 "$work/noop_apply_cpu")" "$(tail -1 "$work/noop_diff")" "$(tail -1 "$work/noop_diff_cpu")"
done
fig "no-op re-apply N=$n: wall" ms "$work/noop_apply"
fig "no-op re-apply N=$n: CPU user+sys" ms "$work/noop_apply_cpu"
fig "no-op diff N=$n: wall" ms "$work/noop_diff"
fig "no-op diff N=$n: CPU user+sys" ms "$work/noop_diff_cpu" --note "target < 100"
figset parents=$PARENTS rounds=$ROUNDS noop_rounds=$NOOP_ROUNDS \
    "method=\"wall: around each process; CPU: getrusage(RUSAGE_CHILDREN) user+sys; ip side = ip -batch + nsenter sysctl -p + ip -batch\""
teardown "$ns"
