#!/usr/bin/env python3
"""The machine's own wakeup latency, with time stamps: what any process here could be late by.

  latency_probe.py --cpu N --out FILE [--interval-us 1000] [--threshold-us 100] [--priority 99]

Pinned to CPU N at SCHED_FIFO PRIORITY (above any daemon under test), it sleeps to absolute
CLOCK_MONOTONIC deadlines every INTERVAL us (clock_nanosleep with TIMER_ABSTIME, as cyclictest
does) and writes one JSON line per wakeup later than THRESHOLD us:
  {"cpu": N, "t_ns": <the deadline, epoch ns (CLOCK_REALTIME, as tcpdump's stamps)>, "late_us": x}
until SIGTERM/SIGINT, then a last line {"cpu": N, "end": true, "wakeups": n, "max_us": m}.
A deadline missed by more than an interval is not caught up (the next one is the first after
now), so one stall is one line with its whole length.

cyclictest (rt-tests) measures the same but reports only its maxima; these time stamps let
benchlib.py reload tell an advert gap the machine caused (a stall of a CPU inside the gap, at
least as long as the gap's excess) from one the daemon caused. Python's own overhead per
wakeup is some tens of microseconds, well under the milliseconds this looks for.
"""
import argparse
import ctypes
import json
import os
import signal
import sys
import time

CLOCK_MONOTONIC = 1
TIMER_ABSTIME = 1
MCL_CURRENT, MCL_FUTURE = 1, 2


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cpu", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--interval-us", type=int, default=1000)
    ap.add_argument("--threshold-us", type=int, default=100)
    ap.add_argument("--priority", type=int, default=99)
    args = ap.parse_args()

    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    os.sched_setaffinity(0, {args.cpu})
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(args.priority))
    libc.mlockall(MCL_CURRENT | MCL_FUTURE)  # best effort: a page fault would be our own stall

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    out = open(args.out, "w", buffering=1 << 16)
    offset = time.clock_gettime_ns(time.CLOCK_REALTIME) - time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    step = args.interval_us * 1000
    threshold = args.threshold_us * 1000
    deadline = time.clock_gettime_ns(time.CLOCK_MONOTONIC) + step
    ts = Timespec()
    wakeups = 0
    worst = 0
    while not stop:
        ts.tv_sec, ts.tv_nsec = divmod(deadline, 1_000_000_000)
        libc.clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, ctypes.byref(ts), None)
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        late = now - deadline
        wakeups += 1
        worst = max(worst, late)
        if late > threshold:
            out.write(json.dumps({"cpu": args.cpu, "t_ns": deadline + offset,
                                  "late_us": round(late / 1000)}) + "\n")
        deadline += step
        if deadline <= now:
            deadline = now - (now - deadline) % step + step
    out.write(json.dumps({"cpu": args.cpu, "end": True, "wakeups": wakeups,
                          "max_us": round(worst / 1000)}) + "\n")
    out.close()


if __name__ == "__main__":
    sys.exit(main())
