#!/usr/bin/env python3
"""Helpers for the netvrrp benchmarks (stdlib only).

  benchlib.py figure --out FRAG --bench B --name N --unit U [--note T] [--meta k=v ...]
                     [--tail] FILE|-
      add one figure (median/p95/min/max/runs of the numbers in FILE) to a fragment file;
      --tail adds p99 and p99.9 and keeps no samples (long series such as advert gaps)
  benchlib.py value  --out FRAG --bench B --name N --unit U --value V [--note T]
      add a single-valued figure (runs = 1)
  benchlib.py set    --out FRAG --bench B key=value ...      benchmark-level facts
  benchlib.py stats FILE                                     print "median min max n"
  benchlib.py time [-o FILE] [--t0 FILE] -- CMD...    run CMD; print "wall_s user_s sys_s maxrss_kb"
      (wall clock around the process; CPU and peak RSS of it and its waited children)
  benchlib.py wire-master PCAP --vrid V --since T --addr NAME=IP ... [--window S]
      who advertises now: the name of the last advertiser if it is the only one in the
      last --window seconds of the capture, else "mixed"; "none" when nothing was seen
  benchlib.py failover PCAP --events FILE --old IP --new IP --vip IP --vrid V
                       --interval-ms I --priority P
      per run (events: "RUN i t0 t_revive [t_port_cut]" lines): old master's last advert -> new master's
      first advert / first gratuitous ARP, printed as one JSON object per run
  benchlib.py handover PCAP --events FILE --old IP --new IP --vip IP --vrid V
                       --interval-ms I --priority P
      per run: old master's priority-0 advert -> new master's first advert / GARP (vs Skew_Time)
  benchlib.py recovery PCAP --events FILE --old IP --new IP --vip IP --vrid V --host IP
      per run: new master's first advert -> the host's first echo reply from the VIP
  benchlib.py startup PCAP --t0 T --vrid V --addr NAME=IP ...
      eventual master and its first advert after the last advert of any other router
  benchlib.py timing PCAP --master IP --backup IP --vrid V --interval-ms I --since T --until T
                     [--gaps FILE]
      master's inter-advert gaps (quantiles; all gaps to FILE) and the backup's adverts
  benchlib.py reload-ready PCAP... --since T --master IP... --backup IP...
      "M B": distinct (master, VRID) pairs advertising with priority > 0 since T, and distinct
      (backup, VRID) pairs advertising since T
  benchlib.py reload PCAP... --events FILE --master IP... --backup IP... [--fast IP]
                     --interval-ms I [--fast-ms F] [--probe FILE... --probe-interval-us U]
      per reload event (JSON lines written by bench/reload.sh): command -> new priority / new
      VIP on the wire per changed router, the longest advert gap of unchanged, changed and fast
      routers during the reload and in the PRE seconds before it (control), priority-0 adverts
      and routers whose backup advertised (master changes); one JSON object per event. With
      --probe (latency_probe.py's late wakeups): the machine's worst wakeup latency in both
      windows, and the fast routers' gaps over interval + 10 % the machine does not explain
      (no probe stall overlapping the gap by at least its excess over the interval minus
      the probe's interval)
  benchlib.py watch-log FILE PATTERN --out FILE [--ready FILE] [--timeout S] [--poll S]
      the time PATTERN first appears in what is appended to FILE (a daemon's log)
  benchlib.py merge --results JSON --meta META FRAG...       merge fragments into results.json
  benchlib.py table --results JSON [BENCH...]                print the results table
"""
import argparse
import bisect
import json
import math
import os
import struct
import sys


# ------------------------------------------------------------------ statistics
def quantile(sorted_vals, q):
    """Linear interpolation between closest ranks (numpy's default)."""
    if not sorted_vals:
        return float("nan")
    pos = (len(sorted_vals) - 1) * q
    lo = math.floor(pos)
    hi = math.ceil(pos)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (pos - lo)


def summarize(values):
    v = sorted(values)
    if not v:
        return {"median": None, "p95": None, "min": None, "max": None, "runs": 0, "samples": []}
    return {
        "median": quantile(v, 0.5),
        "p95": quantile(v, 0.95),
        "min": v[0],
        "max": v[-1],
        "runs": len(v),
        "samples": values,
    }


def read_numbers(path):
    text = sys.stdin.read() if path == "-" else open(path).read()
    out = []
    for tok in text.split():
        try:
            x = float(tok)
        except ValueError:
            continue
        if not math.isnan(x):
            out.append(x)
    return out


def load_frag(path):
    if os.path.exists(path) and os.path.getsize(path) > 0:
        with open(path) as f:
            return json.load(f)
    return {}


def save_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)


def bench_entry(frag, bench):
    return frag.setdefault(bench, {"figures": []})


def add_figure(args, fig):
    frag = load_frag(args.out)
    entry = bench_entry(frag, args.bench)
    entry["figures"] = [f for f in entry["figures"] if f["name"] != fig["name"]]
    entry["figures"].append(fig)
    save_json(args.out, frag)


def parse_kv(items):
    out = {}
    for item in items or []:
        k, _, v = item.partition("=")
        try:
            out[k] = json.loads(v)
        except ValueError:
            out[k] = v
    return out


def cmd_figure(args):
    fig = {"name": args.name, "unit": args.unit}
    values = read_numbers(args.file)
    fig.update(summarize(values))
    if args.tail:
        v = sorted(values)
        fig["p99"] = quantile(v, 0.99)
        fig["p99_9"] = quantile(v, 0.999)
        del fig["samples"]
    if args.note:
        fig["note"] = args.note
    fig.update(parse_kv(args.meta))
    add_figure(args, fig)


def cmd_value(args):
    v = float(args.value)
    fig = {"name": args.name, "unit": args.unit, "median": v, "p95": v, "min": v, "max": v,
           "runs": 1, "samples": [v]}
    if args.note:
        fig["note"] = args.note
    add_figure(args, fig)


def cmd_set(args):
    frag = load_frag(args.out)
    entry = bench_entry(frag, args.bench)
    entry.update(parse_kv(args.kv))
    save_json(args.out, frag)


def cmd_stats(args):
    s = summarize(read_numbers(args.file))
    if s["runs"] == 0:
        print("nan nan nan 0")
    else:
        print(f'{s["median"]:.6g} {s["min"]:.6g} {s["max"]:.6g} {s["runs"]}')


def cmd_time(args):
    import resource
    import subprocess
    import time
    cmd = args.command[1:] if args.command and args.command[0] == "--" else args.command
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter_ns()
    stdout = open(args.stdout, "wb") if args.stdout else None
    if args.t0:
        with open(args.t0, "w") as f:
            f.write(f"{time.time():.6f}\n")
    rc = subprocess.call(cmd, stdout=stdout)
    t1 = time.perf_counter_ns()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = (f"{(t1 - t0) / 1e9:.6f} {after.ru_utime - before.ru_utime:.6f} "
            f"{after.ru_stime - before.ru_stime:.6f} {after.ru_maxrss}")
    if args.o:
        with open(args.o, "w") as f:
            f.write(line + "\n")
    else:
        print(line)
    sys.exit(rc)


# ------------------------------------------------------------------ pcap
def read_pcap(path):
    """Yield (ts_seconds_float, ts_ns_int, frame bytes). Tolerates a truncated last record
    (the file may still be written by tcpdump -U)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return
    magic = data[:4]
    if magic == b"\xd4\xc3\xb2\xa1":
        endian, nano = "<", False
    elif magic == b"\x4d\x3c\xb2\xa1":
        endian, nano = "<", True
    elif magic == b"\xa1\xb2\xc3\xd4":
        endian, nano = ">", False
    elif magic == b"\xa1\xb2\x3c\x4d":
        endian, nano = ">", True
    else:
        raise SystemExit(f"{path}: not a pcap file")
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    if linktype != 1:
        raise SystemExit(f"{path}: link type {linktype}, want Ethernet")
    off = 24
    hdr = struct.Struct(endian + "IIII")
    while off + 16 <= len(data):
        sec, frac, incl, _orig = hdr.unpack_from(data, off)
        off += 16
        if off + incl > len(data):
            return
        ns = sec * 1_000_000_000 + (frac if nano else frac * 1000)
        yield ns / 1e9, ns, data[off:off + incl]
        off += incl


def ip4(b):
    return ".".join(str(x) for x in b)


def decode(frame):
    """('vrrp', src, vrid, prio, interval_cs) | ('arp', op, sender_ip, target_ip, sender_mac)
    | ('icmp', type, src, dst, seq) | None"""
    if len(frame) < 14:
        return None
    etype = struct.unpack_from("!H", frame, 12)[0]
    off = 14
    if etype == 0x8100 and len(frame) >= 18:
        etype = struct.unpack_from("!H", frame, 16)[0]
        off = 18
    if etype == 0x0800:
        if len(frame) < off + 20:
            return None
        ihl = (frame[off] & 0x0F) * 4
        proto = frame[off + 9]
        src = ip4(frame[off + 12:off + 16])
        if proto == 1:
            icmp = frame[off + ihl:]
            if len(icmp) < 8:
                return None
            seq = struct.unpack_from("!H", icmp, 6)[0]
            return ("icmp", icmp[0], src, ip4(frame[off + 16:off + 20]), seq)
        if proto != 112:
            return None
        v = frame[off + ihl:]
        if len(v) < 8:
            return None
        version = v[0] >> 4
        interval = (struct.unpack_from("!H", v, 4)[0] & 0x0FFF) if version == 3 else v[5] * 100
        return ("vrrp", src, v[1], v[2], interval)
    if etype == 0x0806:
        a = frame[off:]
        if len(a) < 28:
            return None
        op = struct.unpack_from("!H", a, 6)[0]
        sha = ":".join(f"{x:02x}" for x in a[8:14])
        return ("arp", op, ip4(a[14:18]), ip4(a[24:28]), sha)
    return None


def cmd_wire_master(args):
    names = {}
    for item in args.addr:
        n, _, ip = item.partition("=")
        names[ip] = n
    adverts = []
    for ts, _ns, frame in read_pcap(args.pcap):
        if ts < args.since:
            continue
        d = decode(frame)
        if d and d[0] == "vrrp" and d[2] == args.vrid and d[3] > 0:
            adverts.append((ts, names.get(d[1], d[1])))
    if not adverts:
        print("none")
        return
    last_ts = adverts[-1][0]
    recent = {n for ts, n in adverts if ts >= last_ts - args.window}
    print(adverts[-1][1] if len(recent) == 1 else "mixed")


def read_runs(path):
    """[(run, t0, t_revive, t_cut)] from "RUN i t0 t_revive [t_cut]" lines."""
    runs = []
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) >= 4 and p[0] == "RUN":
                cut = float(p[4]) if len(p) >= 5 else float(p[2])
                runs.append((int(p[1]), float(p[2]), float(p[3]), cut))
    return runs


def wire_events(path, vrid, vip):
    """Adverts of `vrid` per source [(ns, prio)], gratuitous ARPs for `vip` [ns] and ICMP
    echo replies from `vip` [(ns, dst, seq)], in capture order."""
    adverts, garps, replies = {}, [], []
    for _ts, ns, frame in read_pcap(path):
        d = decode(frame)
        if not d:
            continue
        if d[0] == "vrrp" and d[2] == vrid:
            adverts.setdefault(d[1], []).append((ns, d[3]))
        elif d[0] == "arp" and d[2] == vip and d[3] == vip:
            garps.append(ns)
        elif d[0] == "icmp" and d[1] == 0 and d[2] == vip:
            replies.append((ns, d[3], d[4]))
    return adverts, garps, replies


def cmd_handover(args):
    """Per run: the old master's priority-0 advert -> the new master's first advert (and first
    gratuitous ARP), against Skew_Time of the new master."""
    adverts, garps, _ = wire_events(args.pcap, args.vrid, args.vip)
    old = adverts.get(args.old, [])
    new = [t for t, p in adverts.get(args.new, []) if p > 0]
    i_ms = args.interval_ms
    skew = (256 - args.priority) * i_ms / 256
    mdi = 3 * i_ms + skew
    for i, t0, trev, _cut in read_runs(args.events):
        lo, hi = int(t0 * 1e9), int(trev * 1e9)
        res = {"run": i, "skew_ms": skew, "mdi_ms": mdi}
        first_new = next((t for t in new if lo < t < hi), None)
        p0 = next((t for t, p in old if p == 0 and lo < t < hi), None)
        if first_new is None:
            res["error"] = "no advert from the new master"
        elif p0 is None or p0 > first_new:
            # no priority 0 before the takeover: the backup waited for Master_Down_Interval
            last = max((t for t, p in old if p > 0 and t < first_new), default=None)
            res["error"] = "no priority-0 advert from the old master"
            if last is not None:
                res["gap_from_last_advert_ms"] = (first_new - last) / 1e6
        else:
            res["stop_to_prio0_ms"] = (p0 - lo) / 1e6
            res["gap_ms"] = (first_new - p0) / 1e6
            res["excess_ms"] = res["gap_ms"] - skew
            garp = next((t for t in garps if p0 < t < hi), None)
            if garp is not None:
                res["garp_gap_ms"] = (garp - p0) / 1e6
            res["old_adverts_after_prio0"] = sum(1 for t, p in old if p > 0 and p0 < t < hi)
        print(json.dumps(res))


def cmd_recovery(args):
    """Per run: the new master's first advert -> the host's first echo reply from the VIP
    after the old master was cut (the probes run throughout)."""
    adverts, garps, replies = wire_events(args.pcap, args.vrid, args.vip)
    new = [t for t, p in adverts.get(args.new, []) if p > 0]
    old = [t for t, p in adverts.get(args.old, []) if p > 0]
    mine = [(t, seq) for t, dst, seq in replies if dst == args.host]
    for i, t0, trev, cut in read_runs(args.events):
        lo, hi, c = int(t0 * 1e9), int(trev * 1e9), int(cut * 1e9)
        res = {"run": i}
        first_new = next((t for t in new if lo < t < hi), None)
        last_old = max((t for t in old if t <= c), default=None)
        before = [t for t, _ in mine if lo - int(1e9) < t <= c]
        after = next(((t, q) for t, q in mine if c < t < hi + int(2e9)), None)
        if first_new is None:
            res["error"] = "no advert from the new master"
        elif after is None:
            res["error"] = "no echo reply after the cut"
        else:
            res["advert_to_reply_ms"] = (after[0] - first_new) / 1e6
            # a router that is not yet master answered for the VIP
            res["reply_before_master"] = after[0] < first_new
            garp = next((t for t in garps if c < t < hi), None)
            if garp is not None:
                res["garp_to_reply_ms"] = (after[0] - garp) / 1e6
            if last_old is not None:
                res["outage_ms"] = (after[0] - max(before, default=last_old)) / 1e6
            if len(before) > 1:
                gaps = sorted(b - a for a, b in zip(before, before[1:]))
                res["probe_interval_ms"] = gaps[len(gaps) // 2] / 1e6
        print(json.dumps(res))


def cmd_startup(args):
    """From t0 (both routers started): the eventual master (last advertiser) and the first of
    its adverts after the last advert of any other router; sender changes on the way."""
    names = dict(item.partition("=")[::2][::-1] for item in args.addr)
    seq = []
    for _ts, ns, frame in read_pcap(args.pcap):
        d = decode(frame)
        if d and d[0] == "vrrp" and d[2] == args.vrid and d[3] > 0 and ns >= int(args.t0 * 1e9):
            seq.append((ns, names.get(d[1], d[1])))
    res = {"adverts": len(seq)}
    if not seq:
        res["error"] = "no advert"
    else:
        master = seq[-1][1]
        last_other = max((t for t, n in seq if n != master), default=None)
        stable = next(t for t, n in seq if n == master and (last_other is None or t > last_other))
        res["master"] = master
        res["first_advert_s"] = (seq[0][0] - int(args.t0 * 1e9)) / 1e9
        res["stable_s"] = (stable - int(args.t0 * 1e9)) / 1e9
        res["sender_changes"] = sum(1 for a, b in zip(seq, seq[1:]) if a[1] != b[1])
        res["other_adverts"] = sum(1 for _t, n in seq if n != master)
    print(json.dumps(res))


def cmd_timing(args):
    """Adverts of the master between --since and --until: inter-advert gaps (written to
    --gaps, one per line, ms) and their quantiles; any advert of the backup is a false
    failover (episodes: backup adverts separated by more than 3 intervals)."""
    adverts, _, _ = wire_events(args.pcap, args.vrid, "")
    lo, hi = int(args.since * 1e9), int(args.until * 1e9)
    m = [t for t, p in adverts.get(args.master, []) if lo <= t <= hi]
    b = [t for t, p in adverts.get(args.backup, []) if p > 0 and lo <= t <= hi]
    prio0 = sum(1 for t, p in adverts.get(args.master, []) if p == 0 and lo <= t <= hi)
    gaps = [(y - x) / 1e6 for x, y in zip(m, m[1:])]
    if args.gaps:
        with open(args.gaps, "w") as f:
            f.write("".join(f"{g:.6f}\n" for g in gaps))
    g = sorted(gaps)
    episodes = 0
    for k, t in enumerate(b):
        if k == 0 or t - b[k - 1] > 3 * args.interval_ms * 1e6:
            episodes += 1
    res = {"adverts": len(m), "seconds": (hi - lo) / 1e9, "backup_adverts": len(b),
           "false_failovers": episodes, "master_prio0": prio0}
    # Stalls long enough to fail over (> 3 intervals) that every other lab, captured at the
    # same time on the same machine, had too (a stall of its own within 1 s: the labs'
    # adverts are out of phase): the machine stopped, not this implementation.
    limit = 3 * args.interval_ms * 1e6
    others = []
    for path in args.others or []:
        o, _, _ = wire_events(path, args.vrid, "")
        om = [t for t, _p in o.get(args.master, []) if lo <= t <= hi]
        others.append([(x, y) for x, y in zip(om, om[1:]) if y - x > limit])
    stalls = [(x, y) for x, y in zip(m, m[1:]) if y - x > limit]
    res["stalls"] = len(stalls)
    if args.others:
        res["stalls_in_every_lab"] = sum(
            1 for x, y in stalls
            if all(any(ox < y + 1e9 and x < oy + 1e9 for ox, oy in gaps) for gaps in others))
    if g:
        res.update({"median_ms": quantile(g, 0.5), "p99_ms": quantile(g, 0.99),
                    "p999_ms": quantile(g, 0.999), "max_ms": g[-1], "min_ms": g[0],
                    "over_11ms": sum(1 for x in g if x > 1.1 * args.interval_ms)})
    print(json.dumps(res))


def cmd_failover(args):
    runs = read_runs(args.events)
    i_s = args.interval_ms / 1000.0
    mdi = 3 * i_s + (256 - args.priority) * i_s / 256
    old_adv, new_adv, garps = [], [], []
    for ts, ns, frame in read_pcap(args.pcap):
        d = decode(frame)
        if not d:
            continue
        if d[0] == "vrrp" and d[2] == args.vrid:
            if d[1] == args.old and d[3] > 0:
                old_adv.append(ns)
            elif d[1] == args.new and d[3] > 0:
                new_adv.append(ns)
        elif d[0] == "arp" and d[2] == args.vip and d[3] == args.vip:
            garps.append(ns)
    for i, t0, trev, cut in runs:
        lo, hi = int(t0 * 1e9), int(trev * 1e9)
        first_new = next((t for t in new_adv if lo < t < hi), None)
        res = {"run": i, "mdi_ms": mdi * 1e3}
        if first_new is None:
            res["error"] = "no advert from the new master"
            print(json.dumps(res))
            continue
        last_old = max((t for t in old_adv if t < first_new), default=None)
        if last_old is None or last_old < lo - int(3 * i_s * 1e9):
            res["error"] = "old master was not advertising before the kill"
            print(json.dumps(res))
            continue
        garp = next((t for t in garps if first_new - int(1e9) < t < hi and t > last_old), None)
        res["adv_gap_ms"] = (first_new - last_old) / 1e6
        res["adv_excess_ms"] = res["adv_gap_ms"] - mdi * 1e3
        res["kill_after_last_advert_ms"] = (lo - last_old) / 1e6
        if garp is not None:
            res["garp_gap_ms"] = (garp - last_old) / 1e6
            res["garp_excess_ms"] = res["garp_gap_ms"] - mdi * 1e3
            res["garp_after_advert_ms"] = (garp - first_new) / 1e6
        # adverts from the old master after its switch port was down: the cut did not work
        res["old_adverts_after_kill"] = sum(1 for t in old_adv if int(cut * 1e9) + int(1e6) < t < first_new)
        print(json.dumps(res))


# ------------------------------------------------------------------ reload
def vrrp_adverts(paths):
    """{(src, vrid): [(ns, prio, (vip, ...)), ...]} from one or more Ethernet captures (one per
    link), each list in time order."""
    out = {}
    for path in paths:
        for _ts, ns, frame in read_pcap(path):
            if len(frame) < 34 or struct.unpack_from("!H", frame, 12)[0] != 0x0800:
                continue
            off = 14
            ihl = (frame[off] & 0x0F) * 4
            if frame[off + 9] != 112:
                continue
            src = ip4(frame[off + 12:off + 16])
            v = frame[off + ihl:]
            if len(v) < 8:
                continue
            n = v[3]
            vips = tuple(ip4(v[8 + 4 * k:12 + 4 * k]) for k in range(n) if len(v) >= 12 + 4 * k)
            out.setdefault((src, v[1]), []).append((ns, v[2], vips))
    for lst in out.values():
        lst.sort()
    return out


def cmd_reload_ready(args):
    adv = vrrp_adverts(args.pcaps)
    lo = int(args.since * 1e9)
    m = sum(1 for (src, _v), l in adv.items() if src in args.master and any(t >= lo and p > 0 for t, p, _ in l))
    b = sum(1 for (src, _v), l in adv.items() if src in args.backup and any(t >= lo and p > 0 for t, p, _ in l))
    print(m, b)


def read_probe(paths):
    """latency_probe.py's late wakeups of every CPU, sorted: [(deadline ns, late ns)]; None
    without probe files"""
    if not paths:
        return None
    out = []
    for path in paths:
        if not os.path.exists(path):
            print(f"benchlib: no latency probe output {path} (the probe did not start)", file=sys.stderr)
            continue
        with open(path) as f:
            for line in f:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue  # a line cut by the probe's end
                if "t_ns" in r:
                    out.append((r["t_ns"], r["late_us"] * 1000))
    out.sort()
    return out


def cmd_reload(args):
    adv = vrrp_adverts(args.pcaps)
    masters = set(args.master)
    fast = set(args.fast or [])
    slow_keys = sorted(k for k in adv if k[0] in masters and k[0] not in fast)
    fast_keys = sorted(k for k in adv if k[0] in fast)
    with open(args.events) as f:
        events = [json.loads(line) for line in f if line.strip()]
    times = {k: [t for t, p, _ in l if p > 0] for k, l in adv.items()}
    all_times = {k: [t for t, _p, _ in l] for k, l in adv.items()}
    stalls = read_probe(args.probe)
    stall_list = stalls or []
    stall_starts = [t for t, _ in stall_list]
    probe_ns = args.probe_interval_us * 1000

    def machine_worst(lo, hi):
        """the probe's worst late wakeup (us) with its deadline in [lo, hi]; 0 if none was
        over its threshold"""
        i0, i1 = bisect.bisect_left(stall_starts, lo), bisect.bisect_right(stall_starts, hi)
        return max((late for _, late in stall_list[i0:i1]), default=0) // 1000

    def machine_explains(a, b, interval_ns):
        """a probe stall overlaps the gap (a, b) by at least the gap's excess over the
        interval, less the probe's own interval (a stall starts up to that much before the
        probe's first late deadline)"""
        need = (b - a) - interval_ns - probe_ns
        i1 = bisect.bisect_right(stall_starts, b)
        i0 = bisect.bisect_left(stall_starts, a - 100_000_000)  # stalls are far shorter
        return any(min(b, t + late) - max(a, t) >= need for t, late in stall_list[i0:i1])

    def window(k, lo, hi):
        """the adverts of k with lo <= t <= hi"""
        ts = all_times[k]
        return adv[k][bisect.bisect_left(ts, lo):bisect.bisect_right(ts, hi)]
    for ev in events:
        t0, t_end = int(ev["t_cmd"] * 1e9), int(ev["t_end"] * 1e9)
        pre = int(ev.get("pre_s", 2) * 1e9)
        if ev["keys"] == "slow":
            changed = slow_keys
        else:
            changed = [tuple((k.split("/")[0], int(k.split("/")[1]))) for k in ev["keys"]]
        cset = set(changed)
        unchanged = [k for k in slow_keys if k not in cset]
        res = dict(ev)
        res.pop("keys", None)
        res["changed_routers"] = len(changed)
        # command -> first advert showing the change, per changed router
        lat = []
        for k in changed:
            for t, p, vips in (window(k, t0, t_end) if k in adv else []):
                if (ev.get("vip") and ev["vip"] in vips) or (not ev.get("vip") and p == ev["prio"]):
                    lat.append((t - t0) / 1e6)
                    break
        lat.sort()
        res["seen_changed"] = len(lat)
        if lat:
            res["to_wire_first_ms"] = lat[0]
            res["to_wire_median_ms"] = quantile(lat, 0.5)
            res["to_wire_last_ms"] = lat[-1]

        def max_gap(keys, lo, hi):
            """longest gap between consecutive adverts ending in (lo, hi], counting a router
            silent at hi as a gap up to hi; the number of gaps over 1.1 x interval; the worst
            router and where its gap started (ns); with the probe, the gaps over the limit the
            machine does not explain: their number and the longest (ms)"""
            best, n_over, worst, at = 0.0, 0, None, None
            n_own, own_best = 0, 0.0
            for k in keys:
                interval = args.fast_ms if k[0] in fast else args.interval_ms
                limit = 1.1 * interval
                ts = times.get(k, [])
                i0 = max(bisect.bisect_right(ts, lo) - 1, 0)
                i1 = bisect.bisect_right(ts, hi)
                seg = ts[i0:i1]
                pairs = [(a, b) for a, b in zip(seg, seg[1:]) if b > lo]
                if seg and seg[-1] < hi:
                    pairs.append((seg[-1], hi))
                for a, b in pairs:
                    g = (b - a) / 1e6
                    if g > best:
                        best, worst, at = g, k, a
                    if g > limit:
                        n_over += 1
                        if stalls is not None and not machine_explains(a, b, interval * 1e6):
                            n_own += 1
                            own_best = max(own_best, g)
            return best, n_over, (f"{worst[0]}/{worst[1]}" if worst else None), at, n_own, own_best

        for name, keys in (("unchanged", unchanged), ("changed", changed), ("fast", fast_keys)):
            if not keys:
                continue
            g, n, w, at, n_own, own = max_gap(keys, t0, t_end)
            res[f"gap_{name}_max_ms"] = g
            res[f"gap_{name}_over_110pct"] = n
            res[f"gap_{name}_worst"] = w
            if at is not None:
                # where the longest gap started, from the command (ms)
                res[f"gap_{name}_worst_start_ms"] = (at - t0) / 1e6
            if stalls is not None:
                res[f"gap_{name}_over_110pct_not_machine"] = n_own
                res[f"gap_{name}_not_machine_max_ms"] = own
            g, n, _, _, n_own, own = max_gap(keys, t0 - pre, t0)
            res[f"gap_{name}_control_max_ms"] = g
            res[f"gap_{name}_control_over_110pct"] = n
            if stalls is not None:
                res[f"gap_{name}_control_over_110pct_not_machine"] = n_own
                res[f"gap_{name}_control_not_machine_max_ms"] = own
        if stalls is not None:
            res["machine_latency_max_us"] = machine_worst(t0, t_end)
            res["machine_latency_control_max_us"] = machine_worst(t0 - pre, t0)
        # transitions seen on the wire: priority-0 adverts of the masters, and routers whose
        # backup advertised (it became master)
        res["prio0_adverts"] = sum(1 for k in adv if k[0] in masters
                                   for _t, p, _ in window(k, t0, t_end) if p == 0)
        res["backup_took_over"] = sum(1 for k in adv if k[0] in args.backup
                                      and any(p > 0 for _t, p, _ in window(k, t0, t_end)))

        # routers disturbed: a priority-0 advert from its master or any advert from its backup
        # (the router's segment: the source address without its last octet, and the VRID)
        def disturbed(lo, hi):
            return len({(k[0].rsplit(".", 1)[0], k[1]) for k in adv
                        if any((k[0] in masters and p == 0) or (k[0] in args.backup and p > 0)
                               for _t, p, _ in window(k, lo, hi))})
        res["routers_disturbed"] = disturbed(t0, t_end)
        res["routers_disturbed_control"] = disturbed(t0 - pre, t0 - 1)
        print(json.dumps(res))


def cmd_watch_log(args):
    """Wait until PATTERN appears in what is appended to FILE from now on; write the time
    (epoch s) of the read that saw it to --out. Polls every --poll seconds."""
    import time
    with open(args.file, "rb") as f:
        f.seek(0, 2)
        if args.ready:
            open(args.ready, "w").close()
        buf = b""
        end = time.time() + args.timeout
        pat = args.pattern.encode()
        while time.time() < end:
            chunk = f.read()
            if chunk:
                buf += chunk
                if pat in buf:
                    with open(args.out, "w") as o:
                        o.write(f"{time.time():.6f}\n")
                    return
                buf = buf[-len(pat):]
            else:
                time.sleep(args.poll)
    sys.exit(1)


# ------------------------------------------------------------------ results
def cmd_merge(args):
    results = load_frag(args.results)
    meta = load_frag(args.meta)
    results.setdefault("benchmarks", {})
    for k, v in meta.items():
        results[k] = v
    for frag_path in args.frags:
        frag = load_frag(frag_path)
        for bench, entry in frag.items():
            entry["date"] = meta.get("date")
            results["benchmarks"][bench] = entry
    save_json(args.results, results)


def fmt(x, unit):
    if x is None:
        return "-"
    if unit in ("x", "ratio"):
        return f"{x:.2f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def cmd_table(args):
    results = load_frag(args.results)
    benches = results.get("benchmarks", {})
    want = args.benches or list(benches)
    m = results.get("machine", {})
    print(f'# {results.get("date", "?")} | {m.get("cpu", "?")} ({m.get("cpus", "?")} CPUs) | '
          f'kernel {results.get("kernel", "?")}')
    v = results.get("versions", {})
    print("# " + " | ".join(f"{k} {val}" for k, val in v.items()))
    rows = []
    for b in want:
        e = benches.get(b)
        if not e:
            continue
        for f in e["figures"]:
            if "p99_9" in f:
                tail = f'p99 {fmt(f["p99"], f["unit"])}, p99.9 {fmt(f["p99_9"], f["unit"])}'
                f = dict(f, note=tail + ("; " + f["note"] if f.get("note") else ""))
            rows.append((b, f["name"], f["unit"], fmt(f.get("median"), f["unit"]),
                         fmt(f.get("p95"), f["unit"]) if f.get("runs", 0) > 1 else "",
                         fmt(f.get("min"), f["unit"]) if f.get("runs", 0) > 1 else "",
                         fmt(f.get("max"), f["unit"]) if f.get("runs", 0) > 1 else "",
                         str(f.get("runs", "")), f.get("note", "")))
    head = ("bench", "figure", "unit", "median", "p95", "min", "max", "runs", "note")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---" if i < 3 or i == 8 else "---:" for i in range(len(head))) + "|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
        return
    line = "  ".join(h.ljust(w) if i < 3 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths)))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(c.ljust(w) if i < 3 or i == 8 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths))).rstrip())


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp):
        sp.add_argument("--out", required=True)
        sp.add_argument("--bench", required=True)

    s = sub.add_parser("figure")
    common(s)
    s.add_argument("--name", required=True)
    s.add_argument("--unit", required=True)
    s.add_argument("--note")
    s.add_argument("--meta", nargs="*")
    s.add_argument("--tail", action="store_true", help="add p99 and p99.9, keep no samples")
    s.add_argument("file")
    s.set_defaults(fn=cmd_figure)

    s = sub.add_parser("value")
    common(s)
    s.add_argument("--name", required=True)
    s.add_argument("--unit", required=True)
    s.add_argument("--value", required=True)
    s.add_argument("--note")
    s.set_defaults(fn=cmd_value)

    s = sub.add_parser("set")
    common(s)
    s.add_argument("kv", nargs="*")
    s.set_defaults(fn=cmd_set)

    s = sub.add_parser("stats")
    s.add_argument("file")
    s.set_defaults(fn=cmd_stats)

    s = sub.add_parser("time")
    s.add_argument("-o")
    s.add_argument("--stdout")
    s.add_argument("--t0", help="write the wall-clock time (epoch s) just before the spawn here")
    s.add_argument("command", nargs=argparse.REMAINDER)
    s.set_defaults(fn=cmd_time)

    s = sub.add_parser("wire-master")
    s.add_argument("pcap")
    s.add_argument("--vrid", type=int, required=True)
    s.add_argument("--since", type=float, default=0.0)
    s.add_argument("--addr", action="append", default=[])
    s.add_argument("--window", type=float, default=0.5)
    s.set_defaults(fn=cmd_wire_master)

    # the run-series analyses share their arguments (failover needs interval and priority)
    for name, fn in (("failover", cmd_failover), ("handover", cmd_handover), ("recovery", cmd_recovery)):
        s = sub.add_parser(name)
        s.add_argument("pcap")
        s.add_argument("--events", required=True)
        s.add_argument("--old", required=True)
        s.add_argument("--new", required=True)
        s.add_argument("--vip", required=True)
        s.add_argument("--vrid", type=int, required=True)
        s.add_argument("--interval-ms", type=float, required=name == "failover", default=0)
        s.add_argument("--priority", type=int, required=name == "failover", default=100)
        s.add_argument("--host", default="")
        s.set_defaults(fn=fn)

    s = sub.add_parser("startup")
    s.add_argument("pcap")
    s.add_argument("--t0", type=float, required=True)
    s.add_argument("--vrid", type=int, required=True)
    s.add_argument("--addr", action="append", default=[])
    s.set_defaults(fn=cmd_startup)

    s = sub.add_parser("timing")
    s.add_argument("pcap")
    s.add_argument("--master", required=True)
    s.add_argument("--backup", required=True)
    s.add_argument("--vrid", type=int, required=True)
    s.add_argument("--interval-ms", type=float, required=True)
    s.add_argument("--since", type=float, required=True)
    s.add_argument("--until", type=float, required=True)
    s.add_argument("--gaps")
    s.add_argument("--others", nargs="*", help="captures of the other labs of the same run")
    s.set_defaults(fn=cmd_timing)

    s = sub.add_parser("reload-ready")
    s.add_argument("pcaps", nargs="+")
    s.add_argument("--since", type=float, default=0.0)
    s.add_argument("--master", nargs="+", required=True)
    s.add_argument("--backup", nargs="+", required=True)
    s.set_defaults(fn=cmd_reload_ready)

    s = sub.add_parser("reload")
    s.add_argument("pcaps", nargs="+")
    s.add_argument("--events", required=True)
    s.add_argument("--master", nargs="+", required=True)
    s.add_argument("--backup", nargs="+", required=True)
    s.add_argument("--fast", nargs="*")
    s.add_argument("--interval-ms", type=float, required=True)
    s.add_argument("--fast-ms", type=float, default=10.0)
    s.add_argument("--probe", nargs="*", default=[])
    s.add_argument("--probe-interval-us", type=float, default=1000.0)
    s.set_defaults(fn=cmd_reload)

    s = sub.add_parser("watch-log")
    s.add_argument("file")
    s.add_argument("pattern")
    s.add_argument("--out", required=True)
    s.add_argument("--ready", help="touched once the watcher is at the end of FILE")
    s.add_argument("--timeout", type=float, default=30.0)
    s.add_argument("--poll", type=float, default=0.002)
    s.set_defaults(fn=cmd_watch_log)

    s = sub.add_parser("merge")
    s.add_argument("--results", required=True)
    s.add_argument("--meta", required=True)
    s.add_argument("frags", nargs="*")
    s.set_defaults(fn=cmd_merge)

    s = sub.add_parser("table")
    s.add_argument("--results", required=True)
    s.add_argument("--markdown", action="store_true")
    s.add_argument("benches", nargs="*")
    s.set_defaults(fn=cmd_table)

    args = p.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
