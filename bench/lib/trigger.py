#!/usr/bin/env python3
"""The tracked-object events of bench/track.sh, each timed right before its system call.

`date +%s.%N` followed by a shell action puts the exit of date, the shell's wait for it and
(for a route) the start of ip(8) between the time taken and the event: milliseconds on a
busy machine, charged to the router under test. Here the clock is read in the process that
makes the event, just before the one system call that makes it (the time taken after it
returned is printed too, for the log):

  trigger.py write PATH TEXT          TEXT written over the start of PATH in one write(2),
                                      without truncating it first (the benchmark's values
                                      have one length): the value changes in that call, for
                                      every contender alike. `printf TEXT >PATH` would empty
                                      the file first and write after: an empty moment that
                                      one tracker takes as a value and another does not
                                      (see src/track/file.rs), and a writer that may wait
                                      for a CPU in between. An empty TEXT creates PATH (the
                                      clock is read before the open).
  trigger.py unlink PATH              unlink(2), as `rm -f PATH`
  trigger.py kill PID                 SIGKILL
  trigger.py route del|add NETNS PREFIX [DEV]
                                      RTM_DELROUTE / RTM_NEWROUTE (main table, a link route
                                      through DEV, as `ip route add PREFIX dev DEV`) in the
                                      network namespace NETNS (/run/netns/NETNS)

Prints "BEFORE AFTER" (Unix seconds, CLOCK_REALTIME: the clock of tcpdump's timestamps).
"""

import ctypes
import os
import signal
import socket
import struct
import sys
import time

RTM_NEWROUTE, RTM_DELROUTE = 24, 25
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
NLMSG_ERROR = 2
RTA_DST, RTA_OIF = 1, 4
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_LINK, RT_SCOPE_NOWHERE, RTN_UNICAST = 254, 3, 253, 255, 1
CLONE_NEWNET = 0x40000000


def stamp():
    return time.clock_gettime_ns(time.CLOCK_REALTIME)


def rta(kind, payload):
    n = 4 + len(payload)
    return struct.pack("=HH", n, kind) + payload + b"\0" * ((4 - n % 4) % 4)


def route(op, netns, prefix, dev):
    libc = ctypes.CDLL(None, use_errno=True)
    with open(f"/run/netns/{netns}") as f:
        if libc.setns(f.fileno(), CLONE_NEWNET) != 0:
            sys.exit(f"trigger.py: setns {netns}: {os.strerror(ctypes.get_errno())}")
    addr, length = prefix.split("/")
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    add = op == "add"
    # struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type; flags
    body = struct.pack("=BBBBBBBBI", family, int(length), 0, 0, RT_TABLE_MAIN,
                       RTPROT_BOOT if add else 0, RT_SCOPE_LINK if add else RT_SCOPE_NOWHERE,
                       RTN_UNICAST if add else 0, 0)
    body += rta(RTA_DST, socket.inet_pton(family, addr))
    if add:
        body += rta(RTA_OIF, struct.pack("=i", socket.if_nametoindex(dev)))
    flags = NLM_F_REQUEST | NLM_F_ACK | ((NLM_F_CREATE | NLM_F_EXCL) if add else 0)
    msg = struct.pack("=IHHII", 16 + len(body), RTM_NEWROUTE if add else RTM_DELROUTE, flags, 1, 0) + body
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    s.bind((0, 0))
    before = stamp()
    s.send(msg)
    after = stamp()
    reply = s.recv(65536)
    kind = struct.unpack_from("=H", reply, 4)[0]
    if kind == NLMSG_ERROR:
        err = struct.unpack_from("=i", reply, 16)[0]
        if err != 0:
            sys.exit(f"trigger.py: route {op} {prefix}: {os.strerror(-err)}")
    return before, after


def main():
    a = sys.argv[1:]
    if len(a) == 3 and a[0] == "write":
        data = a[2].encode().decode("unicode_escape").encode()
        before = stamp()
        fd = os.open(a[1], os.O_WRONLY | os.O_CREAT, 0o644)
        if data:
            before = stamp()
            os.pwrite(fd, data, 0)
        os.close(fd)
        after = stamp()
    elif len(a) == 2 and a[0] == "unlink":
        before = stamp()
        try:
            os.unlink(a[1])
        except FileNotFoundError:
            pass
        after = stamp()
    elif len(a) == 2 and a[0] == "kill":
        pid = int(a[1])
        before = stamp()
        os.kill(pid, signal.SIGKILL)
        after = stamp()
    elif len(a) in (4, 5) and a[0] == "route" and a[1] in ("del", "add"):
        before, after = route(a[1], a[2], a[3], a[4] if len(a) == 5 else "eth0")
    else:
        sys.exit(__doc__)
    print(f"{before / 1e9:.9f} {after / 1e9:.9f}")


if __name__ == "__main__":
    main()
