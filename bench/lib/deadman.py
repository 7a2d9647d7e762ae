#!/usr/bin/env python3
"""Dead-man benchmark helpers (bench/deadman.sh).

  deadman.py arp-probe IFACE SRC_IP VIP INTERVAL_S
      Broadcast an ARP request for VIP every INTERVAL_S seconds until killed (every router
      on the segment receives it, so two routers answering at once shows).

  deadman.py analyse --r1 PCAP --r2 PCAP --events FILE --r1-addr A --r2-addr B --vip V --vrid N
      Per run (events "RUN i t0 t_revive t_cut"): from the captures of frames *sent by* r1 and
      r2 (tcpdump -Q in on their switch ports), r1's last advert before the cut, its last
      reply for the VIP (ICMP echo reply from the VIP, ARP reply for the VIP) up to the
      revive, r2's first advert and first reply. One JSON object per run.
"""
import json
import socket
import struct
import sys
import time

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from benchlib import decode, read_pcap, read_runs  # noqa: E402


def arp_probe(iface, src, vip, interval):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    mac = s.getsockname()[4]
    frame = (b"\xff" * 6 + mac + b"\x08\x06"
             + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1)
             + mac + socket.inet_aton(src) + b"\x00" * 6 + socket.inet_aton(vip))
    while True:
        s.send(frame)
        time.sleep(interval)


def events(path, vip, vrid):
    """Adverts (ts, src, prio) of vrid and replies for the VIP (ts, kind) in one capture."""
    adverts, replies = [], []
    for ts, _ns, frame in read_pcap(path):
        d = decode(frame)
        if not d:
            continue
        if d[0] == "vrrp" and d[2] == vrid:
            adverts.append((ts, d[1], d[3]))
        elif d[0] == "icmp" and d[1] == 0 and d[2] == vip:
            replies.append((ts, "icmp"))
        elif d[0] == "arp" and d[1] == 2 and d[2] == vip:
            replies.append((ts, "arp"))
    return adverts, replies


def analyse(a):
    adv1, rep1 = events(a.r1, a.vip, a.vrid)
    adv2, rep2 = events(a.r2, a.vip, a.vrid)
    for run, _t0, trev, tcut in read_runs(a.events):
        out = {"run": run}
        last_adv = [t for t, src, p in adv1 if src == a.r1_addr and p > 0 and t <= tcut + 0.001]
        first_adv2 = [t for t, src, p in adv2 if src == a.r2_addr and p > 0 and tcut <= t <= trev]
        r1_replies = [t for t, _k in rep1 if tcut - 1.0 <= t <= trev]
        r2_replies = [t for t, _k in rep2 if tcut <= t <= trev]
        if not last_adv or not first_adv2:
            out["error"] = "no advert from r1 before the cut or from r2 after it"
            print(json.dumps(out))
            continue
        la, fa2 = last_adv[-1], first_adv2[0]
        last_reply = max(r1_replies) if r1_replies else None
        out["takeover_ms"] = (fa2 - la) * 1000
        out["window_ms"] = (trev - la) * 1000
        if last_reply is not None:
            out["last_reply_ms"] = (last_reply - la) * 1000
        # silent: no reply from r1 at or after r2's first advert (within the window)
        late = [t for t in r1_replies if t >= fa2]
        out["silent_before_takeover"] = not late
        out["r1_replies_after_takeover"] = len(late)
        first_r2_reply = min(r2_replies) if r2_replies else None
        both = [t for t in late if first_r2_reply is not None and t >= first_r2_reply]
        out["two_answered"] = bool(both)
        out["replies_after_last_advert"] = len([t for t in r1_replies if t > la])
        print(json.dumps(out))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "arp-probe":
        arp_probe(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]))
        return
    import argparse
    p = argparse.ArgumentParser()
    p.add_argument("cmd", choices=["analyse"])
    p.add_argument("--r1", required=True)
    p.add_argument("--r2", required=True)
    p.add_argument("--events", required=True)
    p.add_argument("--r1-addr", required=True)
    p.add_argument("--r2-addr", required=True)
    p.add_argument("--vip", required=True)
    p.add_argument("--vrid", type=int, required=True)
    analyse(p.parse_args())


if __name__ == "__main__":
    main()
