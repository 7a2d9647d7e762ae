#!/usr/bin/env bash
# netvrrp benchmarks, side by side with ip -batch, keepalived and FRR. Run as root:
#
#   bench/run.sh                       all: provision failover handover startup timing
#                                      recovery scale vrrs_fanout reload track shared_checks
#                                      deadman ra
#   bench/run.sh failover scale        only those
#   QUICK=1 bench/run.sh               fewer rounds/runs, 30 s scale and timing windows (a smoke run)
#   DURATION=1800 bench/run.sh soak    the soak (bench/soak.sh): only when named, never in
#                                      the default run; writes bench/soak-results.json
#
# Builds the release binary (NO_BUILD=1 skips; NETVRRP_BIN=path uses another binary), runs
# each benchmark (bench/<name>.sh), prints a table and writes bench/results.json: machine,
# kernel, versions, date, and per benchmark each figure with median/p95/min/max, the run
# count and the raw samples. Benchmarks not run this time keep their previous entry (with its
# own date). Per-benchmark knobs (environment): provision ROUNDS NOOP_ROUNDS; failover and
# handover RUNS INTERVALS IMPLS SPACING; startup RUNS INTERVAL HOLD IMPLS; timing INTERVAL
# LOADS IDLE_DURATION DURATION STRESS_CPUS RT_PRIO IMPLS; recovery RUNS INTERVAL PROBE IMPLS;
# scale DURATION SETTLE SLICES STARTUP_TIMEOUT IMPLS; SIZES (provision and scale);
# vrrs_fanout FANOUT_SIZES FANOUT_RUNS; reload RUNS ROUTERS FAST FAST_MS SMALL_ROUTERS PRE POST PHASES
# IMPLS FAST_IMPLS SMALL_IMPLS; track RUNS KINDS INTERVAL SPACING IMPLS; shared_checks ROUNDS
# DURATION SETTLE ROUTERS IMPLS (netvrrp netvrrp-plain keepalived); deadman RUNS INTERVAL KINDS IMPLS SPACING;
# ra RUNS INTERVAL PROBE IMPLS SPACING (netvrrp frr). IMPLS names: netvrrp netvrrp-rt keepalived frr,
# and netvrrp-base (failover, handover, startup, timing, recovery, scale): netvrrp run with
# NETVRRP_BASE_BIN, another build (e.g. main's) to compare with in the same run.
# Everything runs in network namespaces the scripts create and remove (also on Ctrl-C); the
# root namespace is not touched. Needs: iproute2, tcpdump, jq, python3, nsenter, iputils-ping,
# util-linux (chrt), stress-ng (timing); keepalived and FRR for the comparisons (left out
# when not installed).
set -uo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "bench/run.sh: run as root (the benchmarks create network namespaces)" >&2; exit 1; }

ALL=(provision failover handover startup timing recovery scale vrrs_fanout reload track shared_checks deadman ra)
EXPLICIT=(soak) # run only when named
names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${ALL[@]}")
for n in "${names[@]}"; do
    [[ " ${ALL[*]} ${EXPLICIT[*]} " == *" $n "* ]] || { echo "bench/run.sh: unknown benchmark '$n' (have: ${ALL[*]}; explicit: ${EXPLICIT[*]})" >&2; exit 2; }
done

if [ -n "${QUICK:-}" ]; then
    export ROUNDS=${ROUNDS:-3} NOOP_ROUNDS=${NOOP_ROUNDS:-5} RUNS=${RUNS:-10} DURATION=${DURATION:-30} \
        IDLE_DURATION=${IDLE_DURATION:-30} FANOUT_RUNS=${FANOUT_RUNS:-2}
fi

if [ -z "${NETVRRP_BIN:-}" ]; then
    if [ -z "${NO_BUILD:-}" ]; then
        echo "== cargo build --release"
        cargo build --release --quiet || { echo "bench/run.sh: build failed" >&2; exit 1; }
    fi
    export NETVRRP_BIN=$PWD/target/release/netvrrp
fi
[ -x "$NETVRRP_BIN" ] || { echo "bench/run.sh: no binary at $NETVRRP_BIN" >&2; exit 1; }

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
mkdir -p bench/out
meta=bench/out/meta.json

# ------------------------------------------------------------------ what we run on
jstr() { $PY -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }
cpu=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)
mem=$(awk '/^MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)
git_rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git_dirty=$(git status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null | grep -c . >/dev/null && echo "+dirty" || true)
ka_v=$(keepalived --version 2>&1 | awk 'NR==1' || echo "not installed")
frr_v=$(dpkg-query -W -f '${Version}' frr 2>/dev/null || echo "not installed")
ip_v=$(ip -V 2>&1 | awk 'NR==1')
tcpdump_v=$(tcpdump --version 2>&1 | awk 'NR==1')
stress_v=$(command -v stress-ng >/dev/null && stress-ng --version 2>/dev/null | awk 'NR==1' || echo "not installed")
cat >"$meta" <<EOF
{
  "date": $(jstr "$(date -u +%Y-%m-%dT%H:%M:%SZ)"),
  "machine": {"cpu": $(jstr "$cpu"), "cpus": $(nproc), "memory": $(jstr "$mem"),
              "load_at_start": $(jstr "$(cut -d' ' -f1-3 /proc/loadavg)")},
  "kernel": $(jstr "$(uname -r)"),
  "versions": {
    "netvrrp": $(jstr "$("$NETVRRP_BIN" --version 2>/dev/null | awk 'NR==1') ($git_rev$git_dirty, release)"),
    "keepalived": $(jstr "$ka_v"),
    "frr": $(jstr "$frr_v"),
    "iproute2": $(jstr "$ip_v"),
    "tcpdump": $(jstr "$tcpdump_v"),
    "stress-ng": $(jstr "$stress_v")
  }
}
EOF

# ------------------------------------------------------------------ run
interrupted=0
trap 'interrupted=1' INT TERM
frags=() failed=()
for n in "${names[@]}"; do
    echo "== $n ($(date +%T))"
    if [ "$n" = soak ]; then
        # Pass/fail with its own results file (bench/soak-results.json), not a figure table.
        bench/soak.sh "${DURATION:-300}" || failed+=("soak (exit $?)")
        [ $interrupted = 1 ] && { echo "bench/run.sh: interrupted" >&2; break; }
        continue
    fi
    rm -f "bench/out/$n.json"
    BENCH_FRAG=bench/out/$n.json "bench/$n.sh"
    rc=$?
    if [ $rc -eq 0 ] && [ -s "bench/out/$n.json" ]; then
        frags+=("bench/out/$n.json")
    else
        failed+=("$n (exit $rc)")
    fi
    [ $interrupted = 1 ] && { echo "bench/run.sh: interrupted" >&2; break; }
done

if [ ${#frags[@]} -gt 0 ]; then
    $PY bench/lib/benchlib.py merge --results bench/results.json --meta "$meta" "${frags[@]}"
    echo
    $PY bench/lib/benchlib.py table --results bench/results.json "${names[@]}"
    echo
    echo "written: bench/results.json"
fi
if [ ${#failed[@]} -gt 0 ]; then
    echo "bench/run.sh: failed: ${failed[*]}" >&2
    exit 1
fi
[ $interrupted = 1 ] && exit 130
exit 0
