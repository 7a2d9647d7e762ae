#!/usr/bin/env python3
"""Wire figures of bench/track.sh and bench/shared_checks.sh.

`runs` (bench/track.sh): one lab's capture and its events file.

Events: "RUN i KIND t_down t_up" (Unix seconds, taken just before the action that takes the
tracked object down / brings it back). Per run, from the capture (same clock):
  lowered   t_down -> r1's first advert with the lowered priority
  takeover  t_down -> r2's first advert (it becomes Master)
  restored  t_up   -> r1's first advert with its full priority (r1 is Backup by then, so
            this includes its Master_Down_Interval: it preempts back)
Writes OUTDIR/PREFIX-KIND-FIGURE.txt (one value in ms per line, runs without a result left
out) and prints one JSON line per run, for the log.

`gaps` (bench/shared_checks.sh): captures of parents (one file each), a window [since,
until): per router (capture, VRID) the largest gap between two of its adverts in the window;
prints JSON: routers seen, adverts, the worst gap, and the p99 and median of the per-router
largest gaps (ms).
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import decode, read_pcap  # noqa: E402


def adverts(pcap, vrid):
    """[(ns, source, priority)] of the adverts of `vrid`, in capture order."""
    out = []
    for _ts, ns, frame in read_pcap(pcap):
        d = decode(frame)
        if d and d[0] == "vrrp" and d[2] == vrid:
            out.append((ns, d[1], d[3]))
    return out


def first(adv, since_ns, until_ns, match):
    for ns, src, prio in adv:
        if since_ns <= ns < until_ns and match(src, prio):
            return (ns - since_ns) / 1e6
    return None


def cmd_gaps(a):
    times = {}
    for i, path in enumerate(a.pcaps):
        for ts, _ns, frame in read_pcap(path):
            d = decode(frame)
            if d and d[0] == "vrrp" and a.since <= ts < a.until:
                times.setdefault((i, d[2]), []).append(ts)
    # Per router its largest gap and when that gap ended (to line it up with the runtime's
    # and the machine's own records of that moment).
    largest = sorted(
        max(((b - x) * 1000, b) for x, b in zip(t, t[1:])) if len(t) > 1 else (0.0, 0.0)
        for t in times.values()
    )
    worst = [g for g, _ in largest]
    pick = lambda q: worst[min(len(worst) - 1, int(q * len(worst)))] if worst else None  # noqa: E731
    print(json.dumps({
        "routers": len(times),
        "adverts": sum(len(t) for t in times.values()),
        "worst_gap_ms": worst[-1] if worst else None,
        "worst_gap_end": round(largest[-1][1], 6) if largest else None,
        "routers_over_110ms": sum(1 for g in worst if g > 110.0),
        "p99_gap_ms": pick(0.99),
        "median_gap_ms": pick(0.5),
    }))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "gaps":
        p = argparse.ArgumentParser()
        p.add_argument("pcaps", nargs="+")
        p.add_argument("--since", type=float, required=True)
        p.add_argument("--until", type=float, required=True)
        cmd_gaps(p.parse_args(sys.argv[2:]))
        return
    p = argparse.ArgumentParser()
    p.add_argument("pcap")
    p.add_argument("--events", required=True)
    p.add_argument("--r1", required=True)
    p.add_argument("--r2", required=True)
    p.add_argument("--vrid", type=int, required=True)
    p.add_argument("--lowered", type=int, required=True)
    p.add_argument("--full", type=int, required=True)
    p.add_argument("--outdir", required=True)
    p.add_argument("--prefix", required=True)
    a = p.parse_args()
    adv = adverts(a.pcap, a.vrid)
    runs = []
    with open(a.events) as f:
        for line in f:
            w = line.split()
            if len(w) == 5 and w[0] == "RUN":
                runs.append((int(w[1]), w[2], int(float(w[3]) * 1e9), int(float(w[4]) * 1e9)))
    figures = {}
    for i, (run, kind, down, up) in enumerate(runs):
        # A run ends where the next run of any kind starts.
        end = runs[i + 1][2] if i + 1 < len(runs) else 1 << 62
        row = {
            "lowered": first(adv, down, up, lambda s, pr: s == a.r1 and pr == a.lowered),
            "takeover": first(adv, down, up, lambda s, pr: s == a.r2 and pr > 0),
            "restored": first(adv, up, end, lambda s, pr: s == a.r1 and pr == a.full),
        }
        for name, value in row.items():
            figures.setdefault((kind, name), [])
            if value is not None:
                figures[(kind, name)].append(value)
        print(json.dumps({"run": run, "kind": kind, **row}))
    for (kind, name), values in figures.items():
        path = os.path.join(a.outdir, f"{a.prefix}-{kind}-{name}.txt")
        with open(path, "w") as f:
            f.writelines(f"{v:.6f}\n" for v in values)


if __name__ == "__main__":
    main()
