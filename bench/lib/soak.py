#!/usr/bin/env python3
"""Fault loop, sampler and checker of bench/soak.sh (which builds the lab and cleans it up).

Nodes r1..rN each run one netvrrp runtime (run dir WORK/rK/run, JSON log at -v). Every cycle
injects one random fault, samples while it holds (live nodes only), undoes it, waits SETTLE
and samples SAMPLES times. A sample asks every live runtime at once over its control socket
(the request `netvrrp show vrrp --json` / `show vrrs pathway --json` send) and reads the
kernel (`ip -j -d link`), then checks:

  masters     exactly one Master per (vrid, family) among the answering nodes
  pathway     every pathway follows its leader (active iff the leader instance is Master,
              inactive iff Backup, not_ready iff Initialize or its interface is removed), and
              its macvlan's protodown is off iff it is active
  kernel      every vrrp macvlan's protodown is off iff its instance is Master
  runtime     every runtime that should run is alive and answers

At the end: `netvrrp show vrrp --json` (the CLI) once more, `netvrrp stop` on every node, then
the logs (no panic) and the accounting files: each incarnation of a runtime (one per spawn)
writes its own file, and its lines must be exactly the "push" transitions its log segment
reports for the leader, in order, seq 1, 2, 3... (lines of transitions logged just before a
kill -9 may be missing: counted apart). RSS and fd count are compared start vs end per process
(the witness node r1 is never killed, so it spans the whole run) and first vs last sample per
incarnation of the others.
"""

import argparse
import json
import os
import random
import select
import signal
import socket
import subprocess
import sys
import time

LEADER = "soak"
STATES = ("initialize", "backup", "master")


def log(msg):
    print(f"soak: {time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


def proc_stat(pid):
    """RSS KiB, fd count, CPU seconds (utime+stime), threads, run-queue wait ns; None if gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            status = f.read()
        rss = int(next(l.split()[1] for l in status.splitlines() if l.startswith("VmRSS:")))
        threads = int(next(l.split()[1] for l in status.splitlines() if l.startswith("Threads:")))
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        wait_ns = 0
        for t in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                    wait_ns += int(f.read().split()[1])
            except OSError:
                pass
        return {"rss_kb": rss, "fds": fds, "cpu_s": round(cpu, 2), "threads": threads,
                "runq_wait_s": round(wait_ns / 1e9, 3)}
    except (OSError, StopIteration, IndexError, ValueError):
        return None


def probe(path):
    """Scheduling-latency probe (a separate process, ordinary priority like the runtimes):
    sleep 1 ms in a loop and write, every second, the worst oversleep in ms and how many
    oversleeps exceeded 20 ms. Starvation of the runtimes shows here too."""
    with open(path, "w", buffering=1) as out:
        window, worst, over = time.time(), 0.0, 0
        while True:
            t = time.monotonic()
            time.sleep(0.001)
            late = (time.monotonic() - t - 0.001) * 1000
            worst = max(worst, late)
            over += late > 20
            now = time.time()
            if now - window >= 1.0:
                out.write(f"{now:.3f} {worst:.1f} {over}\n")
                window, worst, over = now, 0.0, 0


def sched_probe(path, run_dirs):
    """Every 10 ms, the main thread of each runtime (the event loop: a current-thread tokio
    runtime) from /proc/PID/task/PID/schedstat: cumulative ns on CPU and ns waiting on the
    run queue. Lets a sender stall be split into running, waiting for a CPU, and sleeping
    (blocked in a system call, or idle)."""
    pids = {}
    with open(path, "w", buffering=1 << 16) as out:
        last_pid_read = 0.0
        while True:
            now = time.time()
            if now - last_pid_read > 0.5:
                last_pid_read = now
                out.flush()  # the probe ends with SIGKILL
                for k, d in enumerate(run_dirs, 1):
                    try:
                        with open(os.path.join(d, "netvrrp.pid")) as f:
                            pids[k] = int(f.read().strip())
                    except (OSError, ValueError):
                        pass
            for k, pid in pids.items():
                try:
                    with open(f"/proc/{pid}/task/{pid}/schedstat") as f:
                        run, wait = f.read().split()[:2]
                    out.write(f"{now:.4f} {k} {pid} {run} {wait}\n")
                except (OSError, ValueError):
                    pass
            time.sleep(0.01)


def sched_read(path):
    """{node: ([t], [(pid, run_ns, wait_ns)])}."""
    import collections
    series = collections.defaultdict(lambda: ([], []))
    try:
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) == 5:
                    ts, vals = series[int(p[1])]
                    ts.append(float(p[0]))
                    vals.append((int(p[2]), int(p[3]), int(p[4])))
    except OSError:
        pass
    return series


def probe_read(path):
    rows = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3:
                    rows.append((float(parts[0]), float(parts[1]), int(parts[2])))
    except OSError:
        pass
    return rows


def cpu_pressure():
    try:
        with open("/proc/pressure/cpu") as f:
            some = f.readline().split()
        return {k: float(v) for k, v in (x.split("=") for x in some[1:4])}
    except OSError:
        return {}


class Wire:
    """Sender stalls seen on the wire: tcpdump on the bridge (IPv4 adverts of vrids 1..WIRE_VRIDS,
    to keep it cheap) and, per (sender, vrid), every gap longer than `threshold` between two
    adverts that no higher-priority advert of another sender explains (a Master stops
    advertising on purpose only after hearing a better one). Such a gap is the Master itself
    going silent: its loop did not run (starved, stopped) or was busy. Gaps over 1.5 s are
    not judged (link-down holds and restarts are longer; fault windows are removed later)."""

    def __init__(self, ns, threshold_s, vrids):
        import collections
        import threading
        self.threshold = threshold_s
        self.recent = collections.defaultdict(collections.deque)  # vrid -> (t, src, prio)
        self.last = {}  # (src, vrid) -> (t, prio)
        self.stalls = []  # (src, vrid, t_start, gap_s)
        self.packets = 0
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, "tcpdump", "-l", "-n", "-tt", "-i", "br0",
             f"ip proto 112 and ip[20] & 0xf0 = 0x30 and ip[21] >= 1 and ip[21] <= {vrids}"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self):
        for line in self.proc.stdout:
            p = line.split()
            try:
                t, src = float(p[0]), p[2]
                vrid = int(p[p.index("vrid") + 1].rstrip(","))
                prio = int(p[p.index("prio") + 1].rstrip(","))
            except (ValueError, IndexError):
                continue
            self.packets += 1
            dq = self.recent[vrid]
            dq.append((t, src, prio))
            while dq and dq[0][0] < t - 2.0:
                dq.popleft()
            prev = self.last.get((src, vrid))
            self.last[(src, vrid)] = (t, prio)
            if prev is None:
                continue
            gap = t - prev[0]
            if self.threshold < gap <= 1.5:
                better = any(prev[0] < x[0] <= prev[0] + self.threshold and x[1] != src and x[2] >= prev[1]
                             for x in dq)
                if not better:
                    self.stalls.append((src, vrid, prev[0], gap))

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Node:
    def __init__(self, k, a):
        self.k, self.a = k, a
        self.name = f"r{k}"
        self.ns = f"{a.nsp}-r{k}"
        self.dir = os.path.join(a.work, self.name)
        self.run_dir = os.path.join(self.dir, "run")
        self.log = os.path.join(self.run_dir, "netvrrp.log")
        os.makedirs(self.dir, exist_ok=True)
        # Priorities 50/100/150 rotated per vrid: masters spread over the nodes.
        self.prio = {v: 50 + 50 * ((v + k) % a.nodes) + k for v in range(1, a.routers + 1)}
        self.incarnations = []  # dicts: n, pid, log_offset, acct, started, ended, how, stats
        self.pid = None
        self.stopped = False  # SIGSTOP'd
        self.killed = False   # kill -9'd, not restarted yet
        self.link_down = False
        self.removed = set()  # pathway numbers whose interface is deleted

    # ------------------------------------------------------------------ config
    def families(self, v):
        """vrid 1..60% IPv4, then 20% dual-stack, then IPv6 only (vrid 1 leads: IPv4)."""
        r = self.a.routers
        if v <= max(1, r * 6 // 10):
            return ("ipv4",)
        if v <= r * 8 // 10:
            return ("ipv4", "ipv6")
        return ("ipv6",)

    def config(self):
        a = self.a
        inc = len(self.incarnations) if not self.killed and self.pid else len(self.incarnations) + 1
        acct = os.path.join(self.dir, f"acct-{inc}.jsonl")
        out = []
        if a.realtime_priority:
            out.append(f"[runtime]\nrealtime-priority = {a.realtime_priority}\n")
        out.append(f"[defaults]\nadvertisement-interval = {a.advert_ms}\n")
        for v in range(1, a.routers + 1):
            fam = self.families(v)
            out.append(f"[[vrrp]]\ninterface = \"eth0\"\nvrid = {v}\npriority = {self.prio[v]}")
            if "ipv4" in fam:
                out.append(f"ipv4 = [\"10.66.{v}.1/16\"]")
            if "ipv6" in fam:
                out.append(f"ipv6 = [\"fd66::{v:x}:1/64\"]")
            if v == 1:
                out.append(f"vrrs-leader = [\"{LEADER}\"]")
            out.append("")
        for j in range(1, a.pathways + 1):
            out.append(f"[[vrrs.pathway]]\nleader = \"{LEADER}\"\ninterface = \"pw{j}\"\n"
                       f"mac = \"02:5a:{self.k:02x}:00:{j // 256:02x}:{j % 256:02x}\"\n"
                       f"address = [\"172.16.{j}.1/24\"]\n")
        out.append(f"[[vrrs.client]]\nleader = \"{LEADER}\"\nkind = \"accounting\"\npath = \"{acct}\"\n")
        path = os.path.join(self.dir, "netvrrp.toml")
        with open(path + ".tmp", "w") as f:
            f.write("\n".join(out))
        os.replace(path + ".tmp", path)
        return path, acct

    # ------------------------------------------------------------------ commands
    def nv(self, *args, timeout=60):
        cmd = [self.a.bin, "--netns", self.ns, "--run-dir", self.run_dir, "-v", "--log-format", "json", *args]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            return p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired:
            return 124, "", f"timed out after {timeout} s"

    def ip(self, *args):
        return subprocess.run(["ip", "-n", self.ns, *args], capture_output=True, text=True)

    def apply(self):
        """apply: spawns a runtime when none runs (a new incarnation), else reloads."""
        spawn = self.pid is None or self.killed
        path, acct = self.config()
        offset = os.path.getsize(self.log) if os.path.exists(self.log) else 0
        rc, out, err = self.nv("apply", "-f", path)
        if rc != 0:
            return f"apply exited {rc}: {err.strip()[-400:]}"
        if spawn:
            try:
                with open(os.path.join(self.run_dir, "netvrrp.pid")) as f:
                    pid = int(f.read().strip())
            except (OSError, ValueError) as e:
                return f"no pid after apply: {e}"
            self.pid, self.killed = pid, False
            self.incarnations.append({"n": len(self.incarnations) + 1, "pid": pid, "log_offset": offset,
                                      "acct": acct, "started": time.time(), "ended": None, "how": None,
                                      "first": None, "last": None})
        return None

    def current(self):
        return self.incarnations[-1] if self.incarnations else None


def ask_all(nodes, request, timeout=5.0):
    """Send `request` to every node's control socket first, then read every reply: the
    replies describe (nearly) one instant. Returns {node: data} and {node: error}."""
    socks, data, errors = {}, {}, {}
    line = (json.dumps(request) + "\n").encode()
    for n in nodes:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(os.path.join(n.run_dir, "netvrrp.sock"))
            s.sendall(line)
            socks[n] = (s, b"")
        except OSError as e:
            errors[n] = f"connect: {e}"
            s.close()
    deadline = time.time() + timeout
    while socks and time.time() < deadline:
        ready, _, _ = select.select([s for s, _ in socks.values()], [], [], max(0.0, deadline - time.time()))
        for n, (s, buf) in list(socks.items()):
            if s not in ready:
                continue
            try:
                chunk = s.recv(1 << 20)
            except OSError as e:
                chunk, errors[n] = b"", f"recv: {e}"
            buf += chunk
            if b"\n" in buf or not chunk:
                s.close()
                del socks[n]
                try:
                    reply = json.loads(buf.split(b"\n", 1)[0])
                    if reply.get("ok"):
                        data[n] = reply["data"]
                    else:
                        errors[n] = f"error reply: {reply.get('error')}"
                except ValueError:
                    errors.setdefault(n, f"bad reply: {buf[:200]!r}")
            else:
                socks[n] = (s, buf)
    for n, (s, _) in socks.items():
        s.close()
        errors[n] = "no reply within timeout"
    return data, errors


class Soak:
    def __init__(self, a):
        self.a = a
        self.nodes = [Node(k, a) for k in range(1, a.nodes + 1)]
        self.rng = random.Random(a.seed)
        mdi_ms = 3 * a.advert_ms + a.advert_ms  # 3 intervals + Skew_Time (< 1 interval)
        self.settle = a.settle if a.settle else max(1.5, 40 * mdi_ms / 1000)
        self.hold_settle = max(0.5, 15 * mdi_ms / 1000)
        self.faults = {}
        self.samples = 0
        self.windows = []  # (node, kind, t_from, t_to): its adverts may stop for a reason
        self.in_flux = 0  # instances whose devices a sample skipped (state changed meanwhile)
        self.violations = []
        self.steady_transitions = []  # transitions between two samples of one settled window
        self.pressure = []
        self.cycle = 0
        self.t0 = time.time()

    def violation(self, kind, detail):
        v = {"t": round(time.time() - self.t0, 3), "unix": round(time.time(), 3), "cycle": self.cycle,
             "kind": kind, "detail": detail}
        self.violations.append(v)
        log(f"VIOLATION {kind}: {json.dumps(detail)[:600]}")

    def live(self):
        return [n for n in self.nodes if n.pid and not n.stopped and not n.killed]

    # ------------------------------------------------------------------ sampling
    def kernel_links(self, n):
        p = n.ip("-j", "-d", "link", "show", "type", "macvlan")
        try:
            return json.loads(p.stdout or "[]")
        except ValueError:
            return []

    def sample(self, phase):
        nodes = self.live()
        vrrp, err1 = ask_all(nodes, {"cmd": "show-vrrp"})
        pw, err2 = ask_all(nodes, {"cmd": "show-vrrs", "what": "pathway"})
        self.samples += 1
        self.pressure.append(cpu_pressure().get("avg10", 0.0))
        for n, e in {**err1, **err2}.items():
            alive = proc_stat(n.pid) is not None
            self.violation("runtime", {"node": n.name, "phase": phase, "alive": alive, "error": e})
        ok = [n for n in nodes if n in vrrp and n in pw]
        for n in ok:
            st = proc_stat(n.pid)
            if st:
                inc = n.current()
                inc["last"] = {**st, "t": round(time.time() - self.t0, 1)}
                if inc["first"] is None and phase in ("start", "after"):
                    inc["first"] = inc["last"]
        # masters: one per (vrid, family) among the answering nodes
        masters = {}
        for n in ok:
            for i in vrrp[n]:
                masters.setdefault((i["vrid"], i["family"]), []).append((n.name, i["state"]))
        bad = {f"{v}/{f}": s for (v, f), s in masters.items() if sum(1 for _, x in s if x == "master") != 1}
        if bad:
            detail = {"phase": phase, "nodes": [n.name for n in ok], "routers": dict(list(bad.items())[:8]),
                      "count": len(bad), "cpu_pressure_avg10": self.pressure[-1]}
            # When did the offenders last change? (a transition inside the sample = a flap)
            now = time.time()
            detail["last_change_ago_ms"] = {
                f"{n.name}:{i['vrid']}/{i['family']}": round((now - i["last_change"]) * 1000)
                for n in ok for i in vrrp[n] if f"{i['vrid']}/{i['family']}" in bad and i.get("last_change")}
            self.violation("masters", detail)
        # pathways and kernel. The kernel is read after the runtime answered; an instance that
        # changes state in between (its transitions counter differs in a second answer) is
        # in flux, and its devices are not compared (counted in `in_flux`).
        for n in ok:
            links = {l.get("address"): l for l in self.kernel_links(n)}
            again, _ = ask_all([n], {"cmd": "show-vrrp"})
            before = {(i["vrid"], i["family"]): i["counters"]["transitions"] for i in vrrp[n]}
            after = {(i["vrid"], i["family"]): i["counters"]["transitions"] for i in again.get(n, [])}
            stable = {k for k, t in before.items() if after.get(k) == t}
            self.in_flux += len(before) - len(stable)
            leader = next((i for i in vrrp[n] if i["vrid"] == 1 and i["family"] == "ipv4"), None)
            lstate = leader["state"] if leader else None
            problems = []
            for p in pw[n]:
                # The leader's own router is its default pathway (interface eth0).
                j = int(p["interface"][2:]) if p["interface"].startswith("pw") else None
                # Within one answer: the pathway follows the leader state it reports.
                pl = p.get("leader_state")
                want = {"master": "active", "backup": "inactive"}.get(pl, "not_ready")
                if j in n.removed or n.link_down:
                    want = "not_ready"  # parent link down: the leader is Initialize anyway
                if p["state"] != want:
                    problems.append(f"{p['interface']}: {p['state']}, want {want} (leader {pl})")
                if (1, "ipv4") not in stable:
                    continue
                # Across answers (the leader did not change in between): the same leader state.
                if pl != lstate:
                    problems.append(f"{p['interface']}: leader_state {pl} but the leader instance is {lstate}")
                if j is None or j in n.removed:
                    continue  # the kernel check below covers the vrrp devices
                mac = f"02:5a:{n.k:02x}:00:{j // 256:02x}:{j % 256:02x}"
                link = links.get(mac)
                if link is None:
                    problems.append(f"{p['interface']}: no macvlan {mac} in the kernel")
                elif bool(link.get("proto_down")) != (p["state"] != "active"):
                    problems.append(f"{p['interface']}: kernel protodown {bool(link.get('proto_down'))}, pathway {p['state']}")
            if problems:
                self.violation("pathway", {"node": n.name, "phase": phase, "leader": lstate,
                                           "count": len(problems), "first": problems[:5]})
            kproblems = []
            for i in vrrp[n]:
                if (i["vrid"], i["family"]) not in stable:
                    continue
                link = links.get(i["vmac"])
                if link is None:
                    kproblems.append(f"{i['device']}: missing")
                elif bool(link.get("proto_down")) != (i["state"] != "master"):
                    kproblems.append(f"{i['device']} ({i['vrid']}/{i['family']}): protodown "
                                     f"{bool(link.get('proto_down'))}, state {i['state']}")
            if kproblems:
                self.violation("kernel", {"node": n.name, "phase": phase, "count": len(kproblems),
                                          "first": kproblems[:5]})
        return {n.name: sum(i["counters"]["transitions"] for i in vrrp[n]) for n in ok}

    def settled_window(self, phase):
        """SAMPLES samples SAMPLE_GAP apart; transitions between them are steady-state flaps."""
        prev = None
        for s in range(self.a.samples):
            if s:
                time.sleep(self.a.sample_gap)
            cur = self.sample(phase)
            if prev is not None:
                for name, t in cur.items():
                    if name in prev and t > prev[name]:
                        self.steady_transitions.append({"t": round(time.time() - self.t0, 1), "unix": time.time(),
                                                        "cycle": self.cycle,
                                                        "node": name, "transitions": t - prev[name],
                                                        "cpu_pressure_avg10": self.pressure[-1]})
            prev = cur

    # ------------------------------------------------------------------ faults
    @staticmethod
    def toggle(kind, n, on):
        """The faults undone by their opposite: stop (SIGSTOP/SIGCONT), link (eth0 down/up),
        none (nothing: a control run)."""
        if kind == "stop":
            os.kill(n.pid, signal.SIGSTOP if on else signal.SIGCONT)
            n.stopped = on
        elif kind == "link":
            n.ip("link", "set", "eth0", "down" if on else "up")
            n.link_down = on

    def fault(self):
        a, rng = self.a, self.rng
        kinds = [k for k in a.kinds.split(",") if k]
        kind = rng.choice(kinds)
        # r1 is the witness: never killed, so its RSS/fd span the whole run.
        targets = self.nodes[1:] if kind == "kill" else self.nodes
        n = rng.choice(targets)
        self.faults[kind] = self.faults.get(kind, 0) + 1
        hold = rng.uniform(a.hold_min, a.hold_max)
        detail = ""
        t_fault = time.time()
        if kind == "reload":
            vrids = rng.sample(range(1, a.routers + 1), k=min(a.routers, rng.randint(1, 10)))
            if rng.random() < 0.3 and 1 not in vrids:
                vrids.append(1)
            for v in vrids:
                n.prio[v] = rng.randint(20, 250)
            detail = f"priorities of {len(vrids)} routers"
            err = n.apply()
            if err:
                self.violation("apply", {"node": n.name, "fault": kind, "error": err})
            hold = 0
        elif kind == "kill":
            inc = n.current()
            os.kill(n.pid, signal.SIGKILL)
            n.killed = True
            inc["ended"], inc["how"] = time.time(), "kill"
        elif kind == "pathway":
            j = rng.randrange(1, a.pathways, 2)  # a veth pair: pw j and pw j+1
            n.ip("link", "del", f"pw{j}")
            n.removed |= {j, j + 1}
            detail = f"pw{j}/pw{j + 1} deleted"
        else:
            self.toggle(kind, n, on=True)
        log(f"cycle {self.cycle}: {kind} {n.name} {detail} hold {hold:.1f}s")
        if hold:
            time.sleep(min(hold, self.hold_settle))
            self.sample(f"during-{kind}")
            time.sleep(max(0.0, hold - self.hold_settle))
        # undo
        if kind == "kill":
            err = n.apply()
            if err:
                self.violation("apply", {"node": n.name, "fault": kind, "error": err})
        elif kind == "pathway":
            j = min(n.removed)
            n.ip("link", "add", f"pw{j}", "type", "veth", "peer", "name", f"pw{j + 1}")
            n.ip("link", "set", f"pw{j}", "up")
            n.ip("link", "set", f"pw{j + 1}", "up")
            n.removed.clear()
        else:
            self.toggle(kind, n, on=False)
        # Until the node is settled again its own adverts may legitimately pause (restart,
        # carrier back, a reloaded router restarting).
        self.windows.append((n.k, kind, t_fault, time.time() + self.settle))
        time.sleep(self.settle)
        self.settled_window("after")

    # ------------------------------------------------------------------ run
    def run(self):
        a = self.a
        self.probe_path = os.path.join(a.work, "latency.txt")
        self.probe = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--probe", self.probe_path])
        self.sched_path = os.path.join(a.work, "sched.txt")
        self.sched = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--sched", self.sched_path,
                                       *[n.run_dir for n in self.nodes]])
        # A stall of 3.5 intervals is one a backup can notice (Master_Down_Interval - skew).
        self.wire = Wire(f"{a.nsp}-sw", 3.5 * a.advert_ms / 1000, a.wire_vrids) if a.wire_vrids else None
        try:
            return self.run_inner()
        finally:
            for p in (self.probe, self.sched):
                p.kill()
                p.wait()
            if self.wire:
                self.wire.stop()

    def run_inner(self):
        a = self.a
        for n in self.nodes:
            err = n.apply()
            if err:
                self.violation("apply", {"node": n.name, "fault": "start", "error": err})
                return 1
        time.sleep(max(3.0, self.settle))
        self.sample("start")
        start_stats = {n.name: proc_stat(n.pid) for n in self.nodes}
        start_load = os.getloadavg()
        log(f"started: {len(self.nodes)} nodes, settle {self.settle:.2f}s, stats {start_stats}")
        end = self.t0 + a.duration
        while time.time() < end:
            self.cycle += 1
            self.fault()
            time.sleep(self.rng.uniform(0.2, 1.0))
        # Final: the CLI, once per node.
        time.sleep(self.settle)
        final = {}
        for n in self.nodes:
            rc, out, err = n.nv("show", "vrrp", "--json")
            if rc != 0:
                self.violation("runtime", {"node": n.name, "phase": "final", "error": err.strip()[-300:]})
                continue
            shown = json.loads(out)
            # `{"schema": 1, "routers": [...]}`; a bare list from builds before the schema.
            final[n.name] = shown if isinstance(shown, list) else shown.get("routers", [])
        masters = {}
        for name, rows in final.items():
            for i in rows:
                masters.setdefault(f"{i['vrid']}/{i['family']}", []).append(i["state"])
        bad = {k: v for k, v in masters.items() if v.count("master") != 1}
        if bad:
            self.violation("masters", {"phase": "final-cli", "routers": bad})
        self.sample("end")
        end_stats = {n.name: proc_stat(n.pid) for n in self.nodes}
        end_load = os.getloadavg()
        for n in self.nodes:
            rc, out, err = n.nv("stop", timeout=30)
            inc = n.current()
            inc["ended"], inc["how"] = time.time(), "stop"
            if rc != 0:
                self.violation("stop", {"node": n.name, "error": err.strip()[-300:]})
        for n in self.nodes:
            for _ in range(100):
                if proc_stat(n.pid) is None:
                    break
                time.sleep(0.05)
        return self.report(start_stats, end_stats, start_load, end_load)

    # ------------------------------------------------------------------ after
    def check_logs(self):
        panics, errors, acct = [], {}, {"incarnations": 0, "lines": 0, "pushes": 0, "lost_at_kill": 0}
        for n in self.nodes:
            try:
                with open(n.log, "rb") as f:
                    blob = f.read()
            except OSError as e:
                self.violation("log", {"node": n.name, "error": str(e)})
                continue
            offsets = [i["log_offset"] for i in n.incarnations] + [len(blob)]
            for idx, inc in enumerate(n.incarnations):
                pushes = []
                for raw in blob[offsets[idx]:offsets[idx + 1]].splitlines():
                    text = raw.decode("utf-8", "replace")
                    if "panicked" in text or "RUST_BACKTRACE" in text:
                        panics.append(f"{n.name}#{inc['n']}: {text[:300]}")
                    try:
                        e = json.loads(text)
                    except ValueError:
                        continue
                    f = e.get("fields", {})
                    if e.get("level") == "ERROR":
                        key = f"{e.get('target')}: {f.get('message', '')[:120]}"
                        errors[key] = errors.get(key, 0) + 1
                    if e.get("target") == "netvrrp::vrrs" and f.get("message") == "push" and f.get("name") == LEADER:
                        ts = e.get("timestamp", "")
                        pushes.append((str(f.get("previous")).lower(), str(f.get("state")).lower(), ts))
                lines = []
                try:
                    with open(inc["acct"]) as fh:
                        lines = [json.loads(l) for l in fh if l.strip()]
                except OSError:
                    pass
                except ValueError as e:
                    self.violation("accounting", {"node": n.name, "incarnation": inc["n"], "error": f"bad line: {e}"})
                acct["incarnations"] += 1
                acct["lines"] += len(lines)
                acct["pushes"] += len(pushes)
                got = [(l["previous"], l["state"]) for l in lines]
                want = [(p, s) for p, s, _ in pushes]
                seqs = [l["seq"] for l in lines]
                if seqs != list(range(1, len(seqs) + 1)):
                    self.violation("accounting", {"node": n.name, "incarnation": inc["n"], "error": "seq gap",
                                                  "seqs": seqs[:50]})
                if got == want:
                    continue
                missing = len(want) - len(got)
                if inc["how"] == "kill" and missing > 0 and got == want[:len(got)]:
                    # Lines of transitions logged in the last second before the kill -9 may
                    # still have been queued for the writer.
                    late = [ts for _, _, ts in pushes[len(got):]]
                    acct["lost_at_kill"] += missing
                    log(f"{n.name}#{inc['n']}: {missing} accounting line(s) of the last transitions before kill -9 "
                        f"missing (logged {late})")
                    if all(self.ts_age_at(ts, inc["ended"]) < self.a.kill_grace for ts in late):
                        continue
                self.violation("accounting", {"node": n.name, "incarnation": inc["n"], "how": inc["how"],
                                              "log_pushes": len(want), "lines": len(got),
                                              "first_difference": next((i for i, (x, y) in enumerate(zip(want, got)) if x != y), min(len(want), len(got)))})
        for p in panics:
            self.violation("panic", {"line": p})
        return panics, errors, acct

    @staticmethod
    def ts_age_at(ts, when):
        """Seconds between a tracing RFC 3339 timestamp and `when` (Unix seconds)."""
        import datetime
        try:
            t = datetime.datetime.fromisoformat(ts.replace("Z", "+00:00")[:26] + "+00:00").timestamp()
        except ValueError:
            return float("inf")
        return when - t

    def report(self, start_stats, end_stats, start_load, end_load):
        a = self.a
        panics, errors, acct = self.check_logs()
        wall = time.time() - self.t0
        resources = {}
        for n in self.nodes:
            incs = []
            for inc in n.incarnations:
                if inc["first"] and inc["last"]:
                    incs.append({"n": inc["n"], "how_ended": inc["how"], "first": inc["first"], "last": inc["last"]})
            resources[n.name] = {"start": start_stats[n.name], "end": end_stats[n.name], "incarnations": len(n.incarnations),
                                 "per_incarnation": incs}
            s, e = start_stats[n.name], end_stats[n.name]
            # Like for like: the same process at the start and the end (the witness; the
            # others only when never killed), else every incarnation's first vs last sample.
            pairs = []
            if s and e and len(n.incarnations) == 1:
                pairs.append(("run", s, e))
            else:
                pairs += [(f"incarnation {i['n']}", i["first"], i["last"]) for i in incs]
            for what, x, y in pairs:
                if y["fds"] > x["fds"] + a.fd_slack:
                    self.violation("fd_leak", {"node": n.name, "what": what, "start": x["fds"], "end": y["fds"]})
                slack = max(a.rss_slack_kb, x["rss_kb"] * a.rss_slack_ratio)
                if y["rss_kb"] > x["rss_kb"] + slack:
                    self.violation("rss_growth", {"node": n.name, "what": what, "start_kb": x["rss_kb"],
                                                  "end_kb": y["rss_kb"]})
        w = start_stats["r1"], end_stats["r1"]
        cpu = {}
        if w[0] and w[1]:
            span = wall
            cpu["witness_r1_cpu_s"] = round(w[1]["cpu_s"] - w[0]["cpu_s"], 1)
            cpu["witness_r1_cpu_percent"] = round(100 * cpu["witness_r1_cpu_s"] / span, 1)
            cpu["witness_r1_runq_wait_s"] = round(w[1]["runq_wait_s"] - w[0]["runq_wait_s"], 1)
        cpu["loadavg_start"] = list(start_load)
        cpu["loadavg_end"] = list(end_load)
        pr = sorted(self.pressure)
        if pr:
            cpu["cpu_pressure_some_avg10"] = {"median": pr[len(pr) // 2], "max": pr[-1],
                                              "p90": pr[int(len(pr) * 0.9)]}
        rows = probe_read(self.probe_path)
        mdi_ms = 4 * a.advert_ms
        latency = {}
        if rows:
            worst = sorted(r[1] for r in rows)
            latency = {"seconds": len(rows), "per_second_worst_ms": {
                "median": worst[len(worst) // 2], "p90": worst[int(len(worst) * 0.9)],
                "p99": worst[int(len(worst) * 0.99)], "max": worst[-1]},
                f"seconds_with_a_wakeup_later_than_{mdi_ms}ms": sum(1 for r in rows if r[1] > mdi_ms),
                "wakeups_later_than_20ms": sum(r[2] for r in rows)}

            def before(unix, span=3.0):
                return max((r[1] for r in rows if unix - span <= r[0] <= unix + 1.0), default=None)
            for v in self.violations:
                if v["kind"] in ("masters", "kernel", "pathway"):
                    v["probe_worst_wakeup_ms_around"] = before(v["unix"])
            for f in self.steady_transitions:
                f["probe_worst_wakeup_ms_around"] = before(f["unix"])
            # Did the flaps and split-brains come with starvation? Compare with all seconds.
            hits = [v["probe_worst_wakeup_ms_around"] for v in self.violations if v.get("probe_worst_wakeup_ms_around") is not None]
            hits += [f["probe_worst_wakeup_ms_around"] for f in self.steady_transitions if f.get("probe_worst_wakeup_ms_around") is not None]
            if hits:
                latency["around_violations_and_flaps_worst_ms_median"] = sorted(hits)[len(hits) // 2]
        latency["wire"] = self.wire_report(rows) if self.wire else None
        kinds = {}
        for v in self.violations:
            kinds[v["kind"]] = kinds.get(v["kind"], 0) + 1
        res = {
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.t0)),
            "duration_s": round(wall, 1),
            "setup": {"nodes": a.nodes, "routers_per_node": a.routers,
                      "instances_per_node": sum(len(self.nodes[0].families(v)) for v in range(1, a.routers + 1)),
                      "pathways_per_node": a.pathways, "advert_ms": a.advert_ms, "settle_s": self.settle,
                      "samples_per_window": a.samples, "seed": a.seed, "kinds": a.kinds},
            "faults": {"total": sum(self.faults.values()), **self.faults},
            "samples": self.samples,
            "instances_in_flux_not_compared_with_kernel": self.in_flux,
            "violations": {"total": len(self.violations), **kinds},
            "violation_list": self.violations[:200],
            "steady_state_flaps": {"windows_with_transitions": len(self.steady_transitions),
                                   "transitions": sum(x["transitions"] for x in self.steady_transitions),
                                   "list": self.steady_transitions[:100]},
            "accounting": acct,
            "log_errors": errors,
            "panics": len(panics),
            "resources": resources,
            "cpu": cpu,
            "scheduling_latency_probe": latency,
            "netvrrp": subprocess.run([a.bin, "--version"], capture_output=True, text=True).stdout.strip(),
        }
        with open(a.results, "w") as f:
            json.dump(res, f, indent=2)
            f.write("\n")
        self.summary(res)
        return 0 if not self.violations else 1

    def wire_report(self, rows):
        """Sender stalls outside fault windows, and what the probe saw in the same seconds."""
        a = self.a
        self.wire.stop()
        self.wire.thread.join(timeout=5)
        import bisect
        self.sched.kill()
        self.sched.wait()
        sched = sched_read(self.sched_path)

        def split(k, t0, t1):
            """ms the loop thread of node k ran and waited for a CPU within [t0, t1]."""
            ts, vals = sched.get(k, ([], []))
            i, j = bisect.bisect_left(ts, t0) - 1, bisect.bisect_right(ts, t1)
            if i < 0 or j >= len(ts) or vals[i][0] != vals[j][0]:
                return None  # not covered, or another process (restart) in between
            return (round((vals[j][1] - vals[i][1]) / 1e6, 1), round((vals[j][2] - vals[i][2]) / 1e6, 1),
                    round((ts[j] - ts[i]) * 1000, 1))
        k_of = {f"10.66.0.{n.k}": n.k for n in self.nodes}
        stalls = []
        for src, vrid, t, gap in self.wire.stalls:
            k = k_of.get(src)
            if any(w[0] == k and w[2] - 0.5 <= t <= w[3] for w in self.windows):
                continue
            worst = max((r[1] for r in rows if t - 0.5 <= r[0] <= t + gap + 1.5), default=None)
            sp = split(k, t, t + gap)
            stalls.append({"node": f"r{k}", "vrid": vrid, "unix": round(t, 3), "gap_ms": round(gap * 1000, 1),
                           "probe_worst_ms": worst, "loop_running_ms": sp and sp[0], "loop_waiting_cpu_ms": sp and sp[1],
                           "sched_window_ms": sp and sp[2]})
        # One stall of a runtime shows on each captured vrid it masters: count stall episodes
        # per node (gaps starting within 5 ms of each other are one).
        episodes = []
        for st in sorted(stalls, key=lambda x: (x["node"], x["unix"])):
            if episodes and episodes[-1]["node"] == st["node"] and st["unix"] - episodes[-1]["unix"] < 0.005:
                episodes[-1]["gap_ms"] = max(episodes[-1]["gap_ms"], st["gap_ms"])
                continue
            episodes.append(dict(st))
        gaps = sorted(e["gap_ms"] for e in episodes)
        starved = [e for e in episodes if e["probe_worst_ms"] is not None and e["probe_worst_ms"] >= 0.5 * e["gap_ms"]]
        # Where did the stalled loop's time go? Over each episode's window (10 ms granularity):
        # running (busy in netvrrp), waiting for a CPU (starved), or neither (blocked/sleeping).
        split_eps = [e for e in episodes if e.get("sched_window_ms")]
        tot = sum(e["sched_window_ms"] for e in split_eps) or 1.0
        where = {"episodes_with_schedstat": len(split_eps),
                 "running_percent": round(100 * sum(e["loop_running_ms"] for e in split_eps) / tot, 1),
                 "waiting_for_cpu_percent": round(100 * sum(e["loop_waiting_cpu_ms"] for e in split_eps) / tot, 1),
                 "episodes_mostly_waiting_for_cpu": sum(1 for e in split_eps if e["loop_waiting_cpu_ms"] >= 0.5 * e["sched_window_ms"]),
                 "episodes_mostly_running": sum(1 for e in split_eps if e["loop_running_ms"] >= 0.5 * e["sched_window_ms"])}
        where["sleeping_or_blocked_percent"] = round(100 - where["running_percent"] - where["waiting_for_cpu_percent"], 1)
        return {"adverts_captured": self.wire.packets, "captured_vrids": a.wire_vrids,
                "threshold_ms": round(self.wire.threshold * 1000, 1),
                "sender_stall_episodes": len(episodes),
                "per_node": {n.name: sum(1 for e in episodes if e["node"] == n.name) for n in self.nodes},
                "gap_ms": {"median": gaps[len(gaps) // 2], "p90": gaps[int(len(gaps) * 0.9)], "max": gaps[-1]} if gaps else {},
                "with_probe_stall_at_least_half_as_long": len(starved),
                "loop_thread_during_stalls": where,
                "first": episodes[:40]}

    def summary(self, r):
        p = lambda s="": print(s, flush=True)
        p(f"== soak: {r['duration_s']:.0f} s, {r['setup']['nodes']} nodes x {r['setup']['routers_per_node']} routers "
          f"({r['setup']['instances_per_node']} instances), {r['setup']['pathways_per_node']} pathways, "
          f"adverts {r['setup']['advert_ms']} ms, settle {r['setup']['settle_s']:.2f} s")
        p(f"faults:     {r['faults']}")
        p(f"samples:    {r['samples']} ({r['instances_in_flux_not_compared_with_kernel']} instance readings in flux, "
          f"kernel not compared)")
        p(f"violations: {r['violations']}")
        f = r["steady_state_flaps"]
        p(f"flaps in settled windows (no fault): {f['transitions']} transitions in {f['windows_with_transitions']} sample gaps")
        p(f"accounting: {r['accounting']}")
        p(f"panics: {r['panics']}; log errors: {sum(r['log_errors'].values())} "
          f"({'; '.join(f'{k} x{v}' for k, v in list(r['log_errors'].items())[:5])})")
        for name, x in r["resources"].items():
            s, e = x["start"], x["end"]
            if s and e:
                p(f"{name}: {x['incarnations']} incarnation(s); start RSS {s['rss_kb']} KiB fds {s['fds']} -> "
                  f"end RSS {e['rss_kb']} KiB fds {e['fds']} (cpu {e['cpu_s']} s this process)")
        p(f"cpu: {r['cpu']}")
        lat = dict(r["scheduling_latency_probe"])
        wire = lat.pop("wire", None)
        p(f"scheduling latency probe (1 ms sleeps): {lat}")
        if wire:
            w = {k: v for k, v in wire.items() if k != "first"}
            p(f"sender stalls on the wire (outside fault windows): {w}")
        p(f"written: {self.a.results}")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--probe":
        probe(sys.argv[2])
        return
    if len(sys.argv) > 3 and sys.argv[1] == "--sched":
        sched_probe(sys.argv[2], sys.argv[3:])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--nsp", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--duration", type=float, required=True)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--routers", type=int, default=50)
    ap.add_argument("--pathways", type=int, default=100)
    ap.add_argument("--advert-ms", type=int, default=10)
    ap.add_argument("--realtime-priority", type=int, default=0)
    ap.add_argument("--settle", type=float, default=0.0)
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--sample-gap", type=float, default=0.3)
    ap.add_argument("--hold-min", type=float, default=1.0)
    ap.add_argument("--hold-max", type=float, default=3.0)
    ap.add_argument("--kinds", default="kill,stop,link,reload,pathway")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--fd-slack", type=int, default=2)
    ap.add_argument("--rss-slack-kb", type=int, default=8192)
    ap.add_argument("--rss-slack-ratio", type=float, default=0.25)
    ap.add_argument("--kill-grace", type=float, default=1.0)
    ap.add_argument("--wire-vrids", type=int, default=6)
    a = ap.parse_args()
    unknown = set(a.kinds.split(",")) - {"kill", "stop", "link", "reload", "pathway", "none"}
    if unknown or not a.kinds:
        ap.error(f"unknown fault kinds {sorted(unknown)} (kill, stop, link, reload, pathway, none)")
    sys.exit(Soak(a).run() or 0)


if __name__ == "__main__":
    main()
