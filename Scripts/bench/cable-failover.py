#!/usr/bin/env python3
"""cable-failover.py — failover around a silent VDE cable: f2f-switch and vde_switch, same run.

A triangle of switches A (the root: priority 4096), B and C, where the C–A side is a
`wirefilter -v` cable, so it carries C's path to the root. A host on A and one on C (vde_plug
in stream mode) exchange unicast round trips; then the cable's console gets `loss 100`, and the
time until a round trip completes again is the failover time.

  f2f-switch: A–B and B–C are peer links (--plaintext on loopback), --client-root on A and C
              (a cable to another switch may lead to the root: docs/spanning-tree.md)
  vde_switch: A–B and B–C are dpipe vde_plug cables, -F (its FSTP) on all three

Usage: Scripts/bench/cable-failover.py [--reps N] [--f2f PATH]
Prints one line per run, then the medians, ranges and the ratio f2f/vde (lower is better).
Needs vde2, vdeplug and vde-wirefilter (Scripts/setup --test); only loopback and unix sockets.
"""
import argparse, os, select, shutil, socket, statistics, struct, subprocess, sys, tempfile, time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAC_A, MAC_C = bytes.fromhex("02000000000a"), bytes.fromhex("02000000000c")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Run:
    """Processes of one scenario, all stopped (children too) when it ends."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="cablefo")
        self.procs = []

    def start(self, args, **kw):
        kw.setdefault("stdin", subprocess.PIPE)
        kw.setdefault("stdout", subprocess.DEVNULL)
        kw.setdefault("stderr", subprocess.DEVNULL)
        p = subprocess.Popen(args, env=dict(os.environ, XDG_CONFIG_HOME=self.dir), **kw)
        self.procs.append(p)
        return p

    def wait_for(self, path, timeout=10):
        end = time.time() + timeout
        while not os.path.exists(path):
            if time.time() > end:
                raise RuntimeError(f"{path} did not appear")
            time.sleep(0.05)

    def close(self):
        for p in reversed(self.procs):
            try:
                kids = open(f"/proc/{p.pid}/task/{p.pid}/children").read().split()
            except OSError:
                kids = []
            for kid in kids:
                try:
                    os.kill(int(kid), 15)
                except OSError:
                    pass
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class Host:
    """vde_plug in stream mode: 2-byte big-endian length before each frame."""

    def __init__(self, run, directory):
        self.proc = run.start(["vde_plug", "vde://" + directory], stdout=subprocess.PIPE)
        self.pending = b""

    def send(self, frame):
        self.proc.stdin.write(struct.pack(">H", len(frame)) + frame)
        self.proc.stdin.flush()

    def wait_for(self, wanted, timeout):
        end = time.time() + timeout
        while True:
            while len(self.pending) >= 2:
                n = struct.unpack(">H", self.pending[:2])[0]
                if len(self.pending) < 2 + n:
                    break
                frame, self.pending = self.pending[2:2 + n], self.pending[2 + n:]
                if frame == wanted:
                    return True
            left = end - time.time()
            if left <= 0:
                return False
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                self.pending += os.read(self.proc.stdout.fileno(), 65536)


def round_trip(a, c, limit):
    """Seconds until a probe A→C and its answer C→A both arrive (a try every ~20 ms)."""
    start, tag = time.time(), 0
    while time.time() - start < limit:
        tag = (tag + 1) % 65536
        probe = MAC_C + MAC_A + b"\x88\xb5" + struct.pack(">H", tag) + bytes(44)
        a.send(probe)
        if not c.wait_for(probe, 0.02):
            continue
        answer = MAC_A + MAC_C + b"\x88\xb5" + struct.pack(">H", tag) + bytes(44)
        c.send(answer)
        if a.wait_for(answer, 0.02):
            return time.time() - start
    return None


def console_line(path, line):
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(path)
        s.sendall(line.encode() + b"\n")
        s.settimeout(3)
        got = b""
        while b"1000 Success" not in got:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk


def scenario(kind, f2f):
    run = Run()
    try:
        sw = {n: f"{run.dir}/{n}" for n in "abc"}
        if kind == "vde_switch":
            for n in "abc":
                run.start(["vde_switch", "-F", "-s", sw[n], "-M", f"{run.dir}/{n}.mgmt"] + (["--priority", "4096"] if n == "a" else []))
            for n in "abc":
                run.wait_for(sw[n] + "/ctl")
            run.start(["dpipe", "vde_plug", sw["a"], "=", "vde_plug", sw["b"]])
            run.start(["dpipe", "vde_plug", sw["b"], "=", "vde_plug", sw["c"]])
        else:
            pa, pb = free_port(), free_port()
            common = ["--plaintext"]
            run.start([f2f, "-s", sw["a"], "--listen", f"127.0.0.1:{pa}", "--priority", "4096", "--client-root"] + common)
            run.start([f2f, "-s", sw["b"], "--listen", f"127.0.0.1:{pb}", "--peer", f"127.0.0.1:{pa}"] + common)
            run.start([f2f, "-s", sw["c"], "--peer", f"127.0.0.1:{pb}", "--client-root"] + common)
            for n in "abc":
                run.wait_for(sw[n] + "/ctl")
        a, c = Host(run, sw["a"]), Host(run, sw["c"])
        run.wait_for(sw["a"] + "/ctl")
        if round_trip(a, c, 60) is None:
            raise RuntimeError("A and C never talked")
        wf_console = f"{run.dir}/wf.mgmt"
        run.start(["wirefilter", "-v", f"{sw['c']}:{sw['a']}", "-M", wf_console])
        run.wait_for(wf_console)
        time.sleep(8)  # the cable becomes C's root path and the tree settles
        console_line(wf_console, "loss 100")
        return round_trip(a, c, 60)
    finally:
        run.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--f2f", default=os.path.join(REPO, ".build/release/f2f-switch"))
    options = parser.parse_args()
    if not os.access(options.f2f, os.X_OK):
        sys.exit(f"no f2f-switch at {options.f2f}: swift build -c release --product f2f-switch")
    results = {"vde_switch": [], "f2f-switch": []}
    for rep in range(options.reps):
        order = ["vde_switch", "f2f-switch"] if rep % 2 == 0 else ["f2f-switch", "vde_switch"]
        for kind in order:
            seconds = scenario(kind, options.f2f)
            print(f"rep {rep + 1} {kind:10} failover {'none within 60 s' if seconds is None else f'{seconds:.2f} s'}", flush=True)
            if seconds is not None:
                results[kind].append(seconds)
    for kind, values in results.items():
        if values:
            print(f"{kind:10} median {statistics.median(values):.2f} s [{min(values):.2f}..{max(values):.2f}] over {len(values)} runs")
    if results["vde_switch"] and results["f2f-switch"]:
        print(f"f2f/vde {statistics.median(results['f2f-switch']) / statistics.median(results['vde_switch']):.2f} (lower is better)")


if __name__ == "__main__":
    main()
