#!/usr/bin/env python3
"""IPv6 host-recovery benchmark helpers (bench/ra.sh).

Both routers of a VRID send their IPv6 adverts from the virtual MAC, and with FRR from the
same link-local (the macvlan's only one is the link-local VIP), so who sent a frame is told
by the switch port it came in on: one capture per router port (tcpdump -Q in), r1's and r2's.

  ra.py master --r1 PCAP --r2 PCAP --vrid N --since T --window W
      Who advertises (priority > 0) since T: the last sender if it was the only one in the
      W seconds before its last advert, else mixed; none without adverts.

  ra.py recovery --r1 PCAP --r2 PCAP --events FILE --vrid N --service ADDR [--host PCAP]
      Per run (events "RUN i t0 t_revive t_cut"): r1's last advert before the cut, r2's
      first advert, first RA and first ICMPv6 echo reply from ADDR after the cut, the
      host's last reply before the cut, and the median gap between r1's replies in the second
      before the cut (the real ping interval); with the host's capture, the time from the
      echo request the first reply answers to that reply, and how many requests the host
      sent after the first advert before that one. One JSON object per run.
"""
import argparse
import ipaddress
import json
import struct
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from benchlib import read_pcap, read_runs  # noqa: E402

ECHO_REQUEST = 128
ECHO_REPLY = 129
ROUTER_ADVERT = 134


def decode6(frame):
    """('vrrp', vrid, prio) | ('icmp6', type, src, dst, echo seq) | None for an IPv6 frame
    without extension headers (what VRRP adverts, RAs and echo messages are)."""
    if len(frame) < 14 + 40 + 4 or struct.unpack_from("!H", frame, 12)[0] != 0x86DD:
        return None
    nxt = frame[14 + 6]
    src = str(ipaddress.IPv6Address(frame[14 + 8:14 + 24]))
    body = frame[14 + 40:]
    if nxt == 112:
        return ("vrrp", body[1], body[2])
    if nxt == 58:
        dst = str(ipaddress.IPv6Address(frame[14 + 24:14 + 40]))
        seq = struct.unpack_from("!H", body, 6)[0] if len(body) >= 8 else None
        return ("icmp6", body[0], src, dst, seq)
    return None


def events(path, vrid, service):
    """(adverts [(ns, prio)], RAs [ns], echo replies from service [ns]) in one capture."""
    adverts, ras, replies = [], [], []
    for _ts, ns, frame in read_pcap(path):
        d = decode6(frame)
        if d is None:
            continue
        if d[0] == "vrrp" and d[1] == vrid:
            adverts.append((ns, d[2]))
        elif d[0] == "icmp6" and d[1] == ROUTER_ADVERT:
            ras.append(ns)
        elif d[0] == "icmp6" and d[1] == ECHO_REPLY and d[2] == service:
            replies.append((ns, d[4]))
    return adverts, ras, replies


def requests(path, service):
    """Echo requests to service [(ns, seq)] in a capture of the host's frames."""
    out = []
    for _ts, ns, frame in read_pcap(path):
        d = decode6(frame)
        if d and d[0] == "icmp6" and d[1] == ECHO_REQUEST and d[3] == service:
            out.append((ns, d[4]))
    return out


def master(a):
    since = int(a.since * 1e9)
    seq = []
    for name, path in (("r1", a.r1), ("r2", a.r2)):
        adverts, _, _ = events(path, a.vrid, "")
        seq += [(t, name) for t, p in adverts if t >= since and p > 0]
    if not seq:
        print("none")
        return
    seq.sort()
    last = seq[-1][0]
    recent = {n for t, n in seq if t >= last - int(a.window * 1e9)}
    print(seq[-1][1] if len(recent) == 1 else "mixed")


def recovery(a):
    service = str(ipaddress.IPv6Address(a.service))
    old_adv, _, old_rep = events(a.r1, a.vrid, service)
    new_adv, new_ra, new_rep = events(a.r2, a.vrid, service)
    host_req = requests(a.host, service) if a.host else []
    old_rep = [t for t, _ in old_rep]
    for i, t0, trev, cut in read_runs(a.events):
        lo, hi, c = int(t0 * 1e9), int(trev * 1e9), int(cut * 1e9)
        res = {"run": i}
        first_new = next((t for t, p in new_adv if lo < t < hi and p > 0), None)
        last_old = max((t for t, p in old_adv if lo - int(5e9) < t <= c and p > 0), default=None)
        first = next(((t, q) for t, q in new_rep if c < t < hi + int(2e9)), None)
        reply = first[0] if first else None
        before = max((t for t in old_rep if lo - int(1e9) < t <= c), default=None)
        if first_new is None:
            res["error"] = "no advert from the new master"
        elif reply is None:
            res["error"] = "no echo reply after the cut"
        else:
            res["advert_to_reply_ms"] = (reply - first_new) / 1e6
            ra = next((t for t in new_ra if first_new - int(1e9) < t < hi), None)
            if ra is not None:
                res["advert_to_ra_ms"] = (ra - first_new) / 1e6
            if last_old is not None:
                res["takeover_ms"] = (first_new - last_old) / 1e6
            if before is not None:
                res["outage_ms"] = (reply - before) / 1e6
            if host_req:
                # the request the first reply answers, and the requests the host sent after
                # the new master's first advert that went unanswered before it
                # (each run has its own ping, whose sequence numbers start again)
                asked = next((t for t, q in host_req if q == first[1] and lo < t <= reply), None)
                if asked is not None:
                    res["request_to_reply_ms"] = (reply - asked) / 1e6
                    res["unanswered_after_advert"] = sum(
                        1 for t, _ in host_req if first_new < t < asked
                    )
            # the pings as they really went (ping -i 0.01 is not exactly 10 ms apart)
            seen = [t for t in old_rep if lo - int(1e9) < t <= c]
            gaps = sorted(b - a for a, b in zip(seen, seen[1:]))
            if gaps:
                res["probe_interval_ms"] = gaps[len(gaps) // 2] / 1e6
        print(json.dumps(res))


def log_times(path, lo, hi):
    """(state change to Master, protodown off, filter commits [ns]) in a runtime log's
    window lo..hi (ns): the times its debug lines carry (`netvrrp debug kernel on`)."""
    from datetime import datetime
    master = pdoff = None
    commits = []
    with open(path, errors="replace") as f:
        for line in f:
            stamp = line.split(" ", 1)[0]
            try:
                t = int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1e6) * 1000
            except ValueError:
                continue
            if not lo < t < hi:
                continue
            if "state change" in line and "to=master" in line.lower() and master is None:
                master = t
            elif "protodown set" in line and "on=false" in line and pdoff is None:
                pdoff = t
            elif "VIP filter" in line:
                commits.append(t)
    return master, pdoff, commits


def window(a):
    """Per run, relative to r2's first advert on its switch port: when its runtime logged
    the state change, the protodown ack and the filter commits, and for each echo request
    from the first one after the cut to the first answered one: sent by h1, seen on r2's
    eth0, answered there (or not)."""
    service = str(ipaddress.IPv6Address(a.service))
    new_adv, _, _ = events(a.r2, a.vrid, service)
    sent = requests(a.host, service)
    arrived, answered, solicits = [], [], []
    for _ts, ns, frame in read_pcap(a.own):
        d = decode6(frame)
        if not d or d[0] != "icmp6":
            continue
        if d[1] == ECHO_REQUEST and d[3] == service:
            arrived.append((ns, d[4]))
        elif d[1] == ECHO_REPLY and d[2] == service:
            answered.append((ns, d[4]))
        elif d[1] == 135:
            solicits.append((ns, d[2], d[3]))
    ms = lambda t, t0: "-" if t is None else f"{(t - t0) / 1e6:+.3f}"  # noqa: E731
    for i, t0, trev, cut in read_runs(a.events):
        lo, hi, c = int(t0 * 1e9), int(trev * 1e9), int(cut * 1e9)
        adv = next((t for t, p in new_adv if lo < t < hi and p > 0), None)
        if adv is None:
            print(f"run {i}: no advert from r2")
            continue
        parts = [f"run {i}:"]
        if a.log:
            master, pdoff, commits = log_times(a.log, lo, hi)
            flt = commits[0] if commits else None
            parts.append(f"log: Master {ms(master, adv)} protodown-off {ms(pdoff, adv)} filter {ms(flt, adv)};")
        ns_ = [t for t, _s, _d in solicits if adv - int(5e6) < t < adv + int(50e6)]
        if ns_:
            parts.append("NS " + ",".join(ms(t, adv) for t in ns_) + ";")
        reqs = [(t, q) for t, q in sent if c < t < hi]
        for t, q in reqs:
            seen = next((x for x, s in arrived if s == q and lo < x < hi), None)
            rep = next((x for x, s in answered if s == q and lo < x < hi), None)
            parts.append(f"seq {q} sent {ms(t, adv)} at-r2 {ms(seen, adv)} reply {ms(rep, adv)}")
            if rep is not None:
                break
        print(" ".join(parts))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("master")
    m.add_argument("--since", type=float, required=True)
    m.add_argument("--window", type=float, required=True)
    r = sub.add_parser("recovery")
    r.add_argument("--events", required=True)
    r.add_argument("--service", required=True)
    r.add_argument("--host", help="capture of the host's frames (its echo requests)")
    w = sub.add_parser("window")
    w.add_argument("--events", required=True)
    w.add_argument("--service", required=True)
    w.add_argument("--own", required=True, help="capture of r2's eth0, both ways")
    w.add_argument("--host", required=True)
    w.add_argument("--log", help="r2's runtime log with kernel debug on")
    w.add_argument("--r2", required=True)
    w.add_argument("--vrid", type=int, required=True)
    for s in (m, r):
        s.add_argument("--r1", required=True)
        s.add_argument("--r2", required=True)
        s.add_argument("--vrid", type=int, required=True)
    a = p.parse_args()
    {"master": master, "recovery": recovery, "window": window}[a.cmd](a)


if __name__ == "__main__":
    main()
