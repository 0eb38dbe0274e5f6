"""
Benchmark of the callback examples: `tox -e bench`, or `python tests/bench_callbacks.py`.

Starts the real server and client processes on free ports, measures, and
prints one table. Every figure is measured for both server types and
repeated; each cell is the median with the min and max. The machine may be
noisy, so the per-worker cost is compared with its floor, plain Pyro4 calls
for the same two steps, measured in the same run.

The exit latency runs from the client's last callback line to the moment
its process has ended, taken by a thread that blocks in waitpid (no polling
on the measuring side), and it is shown beside its floor from the same run:
a process with Pyro4 loaded, a daemon serving in a thread and a proxy used
once, timed the same way from its last line to its end.

It also checks what must hold, and exits 1 if anything does not:
all callbacks arrive at 10,000 workers, no worker stays registered, the
per-worker cost is within 1.3x of the floor, the exit latency is within
15 ms (median) and 30 ms (p90) of its floor, a waiting client uses at most
0.3 % of one core, and a client with nothing to talk to (no server, a port
that never answers, no name server) gives up with its one-line error within 5 s.

Not a test: pytest does not collect it.
"""
import argparse
import os
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

import Pyro4

from helpers import IdleWorker, Process, daemon_uri, done_numbers

SERVERTYPES = ["thread", "multiplex"]
ERROR_CASES = ["no server", "silent port", "no name server"]


def run(*args, env=None):
    """Start a script; watch its peak RSS (VmHWM) until it ends."""
    process = Process(args, env)
    process.maxrss_kb = 0

    def watch():
        # VmHWM is the peak RSS since exec. (The rusage of wait4 would not do: it
        # counts the pages of this process too, copied at fork before the exec.)
        while process.popen.poll() is None:
            try:
                with open("/proc/%d/status" % process.popen.pid) as status:
                    for line in status:
                        if line.startswith("VmHWM:"):
                            process.maxrss_kb = max(process.maxrss_kb, int(line.split()[1]))
            except (OSError, ValueError):
                return
            time.sleep(0.05)

    threading.Thread(target=watch, daemon=True).start()
    return process


def time_of(process, pattern):
    """The arrival time of the first line that matches."""
    return process.wait_for(pattern, timeout=300).when


def stop(process):
    """End the whole process group and reap it."""
    if process.popen.poll() is None:
        process.signal(15)
    process.wait()


def start_server(script, servertype):
    server = run(script, "--port", "0", "--servertype", servertype)
    server.uri = server.wait_for(r"PYRO:\S+").group(0)
    return server


def registered(uri):
    with Pyro4.Proxy(daemon_uri(uri)) as daemon:
        return sorted(daemon.registered())


# The floor: plain Pyro4 doing the same two steps per worker, with nothing else.

class FloorServer(object):
    @Pyro4.expose
    def addworker(self, callback):
        worker = IdleWorker()  # its oneway work() does nothing
        self._pyroDaemon.register(worker)
        return worker


class FloorHandler(object):
    @Pyro4.expose
    def done(self, number):
        pass


def floor_server():
    daemon = Pyro4.Daemon()
    print("Server URI: %s" % daemon.register(FloorServer()), flush=True)
    daemon.requestLoop()


def floor_client(uri, workers):
    daemon = Pyro4.Daemon()
    handler = FloorHandler()
    daemon.register(handler)
    print("Callback daemon listening", flush=True)
    with Pyro4.Proxy(uri) as server:
        for _ in range(workers):
            with server.addworker(handler) as worker:
                worker.work(10)
    print("Started %d workers" % workers, flush=True)


# Measurements

def per_worker_cost(servertype, workers, floor=False):
    """Seconds per worker for addworker plus the oneway work() start."""
    me = str(Path(__file__).resolve())
    server = run(me, "floor-server") if floor else None
    try:
        if floor:
            server.uri = server.wait_for(r"PYRO:\S+").group(0)
            client = run(me, "floor-client", server.uri, str(workers))
        else:
            server = start_server("callback/server.py", servertype)
            # work 10: no worker calls back while the client is still creating them
            client = run("callback/client.py", server.uri, "--workers", str(workers), "--work", "10",
                         env={"PYRO_SERVERTYPE": servertype})
        began = time_of(client, "^Callback daemon listening")
        ended = time_of(client, r"^Started \d+ workers")
        stop(client)
        return (ended - began) / workers
    finally:
        stop(server)


def end_of(process):
    """The time the process ended, taken without polling; its output is all read afterwards."""
    process.popen.wait()  # no timeout: blocks in waitpid, so it returns as the process ends
    ended = time.monotonic()
    for reader in process.readers:
        reader.join()
    return ended


def exit_latency(example, servertype):
    """Seconds from the last callback line to the client's exit; with Pyro4's POLLTIMEOUT."""
    server = start_server(example + "/server.py", servertype)
    try:
        args = ["--work", "0.2"] if example == "callback" else []
        client = Process([example + "/client.py", server.uri, *args],
                         env={"PYRO_POLLTIMEOUT": "2", "PYRO_SERVERTYPE": servertype})
        ended = end_of(client)
        if client.popen.returncode != 0:
            raise RuntimeError("%s/client.py exited with %d: %s" % (example, client.popen.returncode,
                                                                   client.stderr))
        return ended - max(when for when, line in zip(client.times["stdout"], client.lines["stdout"])
                           if line.startswith("callback: "))  # from the last callback line
    finally:
        stop(server)


FLOOR_EXIT = """
import threading, Pyro4
daemon = Pyro4.Daemon()
threading.Thread(target=daemon.requestLoop, daemon=True).start()
with Pyro4.Proxy("PYRO:" + Pyro4.constants.DAEMON_NAME + "@" + daemon.locationStr) as proxy:
    proxy.ping()
print("done", flush=True)
"""


def floor_exit_latency():
    """The exit latency's floor: Pyro4 loaded, a daemon in a thread, a proxy used once."""
    process = Process(["-c", FLOOR_EXIT])
    return end_of(process) - time_of(process, "^done$")


def waiting_cpu(example, seconds):
    """The share of one core that a client uses while it waits for callbacks that never come."""
    server = Process(["-c", STAND_IN_SERVER])
    try:
        server.uri = server.wait_for(r"PYRO:\S+").group(0)
        client = Process([example + "/client.py", server.uri, "--timeout", "600"])
        client.wait_for("waiting for their callbacks")

        def cpu():  # utime + stime, in clock ticks
            with open("/proc/%d/stat" % client.popen.pid) as stat:
                return sum(int(field) for field in stat.read().rsplit(")", 1)[1].split()[11:13])
        before, began = cpu(), time.monotonic()
        time.sleep(seconds)  # a measuring window, not a wait for an event
        used = (cpu() - before) / os.sysconf("SC_CLK_TCK")
        stop(client)
        return used / (time.monotonic() - began)
    finally:
        stop(server)


STAND_IN_SERVER = """
import sys, Pyro4
sys.path.insert(0, "tests")
from helpers import Recorder
daemon = Pyro4.Daemon(host="localhost")
print("Server URI: %s" % daemon.register(Recorder(), "example.recorder"), flush=True)
daemon.requestLoop()
"""


def error_time(example, case):
    """Seconds until the client gives up with its one-line error when there is nothing to talk to."""
    object_id = "example." + example
    with socket.socket() as free, socket.socket() as silent:
        free.bind(("localhost", 0))  # bound but not listening: connections are refused
        silent.bind(("localhost", 0))
        silent.listen(5)  # accepts connections and never answers
        env = None
        if case == "no server":
            uri = "PYRO:%s@localhost:%d" % (object_id, free.getsockname()[1])
        elif case == "silent port":
            uri = "PYRO:%s@localhost:%d" % (object_id, silent.getsockname()[1])
        else:
            uri, env = "PYRONAME:" + object_id, {"PYRO_NS_PORT": str(free.getsockname()[1])}
        client = Process([example + "/client.py", uri], env)
        client.wait()
        return client.ended - client.started


def big_run(servertype, workers, work):
    """One client of callback/ with many workers; checks every callback and the server afterwards."""
    server = start_server("callback/server.py", servertype)
    try:
        client = run("callback/client.py", server.uri, "--workers", str(workers), "--work", str(work),
                     "--timeout", "300", env={"PYRO_SERVERTYPE": servertype})
        code = client.wait(600)
        numbers = done_numbers(client.stdout)
        first = time_of(client, "^Callback daemon listening")
        last = max(when for when, line in zip(client.times["stdout"], client.lines["stdout"])
                   if line.startswith("callback: worker "))
        server.wait_for(r"^Worker %d done" % workers, timeout=60) if numbers else None
        left = registered(server.uri)
        result = {
            "ok": code == 0 and sorted(numbers) == list(range(1, workers + 1)) and len(left) == 2,
            "wall": client.ended - client.started,
            "rate": workers / (last - first),
            "client_rss": client.maxrss_kb,
        }
    finally:
        stop(server)
    result["server_rss"] = server.maxrss_kb
    return result


# Output

def cell(values, scale=1.0, digits=1):
    values = [v * scale for v in values]
    fmt = "%%.%df" % digits
    return (fmt + " (" + fmt + "-" + fmt + ")") % (statistics.median(values), min(values), max(values))


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def progress(text):
    if sys.stderr.isatty():  # under tox or in a log: no redrawn line
        sys.stderr.write("\r\033[K" + text)
        sys.stderr.flush()


def bench(repeat, samples, small, big, cpu_seconds=10):
    rows = []  # (label, {servertype: text})
    failures = []
    plan = len(SERVERTYPES) * (repeat * 2 + samples * 2 + repeat * 2 + 1) + 2 * len(ERROR_CASES) + 3
    step = [0]

    def tick(what):
        step[0] += 1
        progress("[%d/%d] %s" % (step[0], plan, what))

    errors = {}
    for example in ("callback", "callback2"):
        for case in ERROR_CASES:
            tick("time to the error of %s/ with %s" % (example, case))
            errors[example, case] = [error_time(example, case) for _ in range(repeat)]

    tick("exit latency floor: Pyro4 loaded, a daemon in a thread, one proxy call")
    exit_floor = [floor_exit_latency() for _ in range(samples)]
    cpu = {}
    for example in ("callback", "callback2"):
        tick("CPU of a waiting %s/ client, %d s" % (example, cpu_seconds))
        cpu[example] = waiting_cpu(example, cpu_seconds)

    cost, floor, ratio, lat1, lat2, rate, wall_small, wall_big, srss, crss, work2 = ({} for _ in range(11))
    for st in SERVERTYPES:
        cost[st], floor[st], ratio[st] = [], [], []
        for _ in range(repeat):
            tick("%s: per-worker cost, %d workers" % (st, small))
            c = per_worker_cost(st, small)
            tick("%s: floor, %d workers" % (st, small))
            f = per_worker_cost(st, small, floor=True)
            cost[st].append(c)
            floor[st].append(f)
            ratio[st].append(c / f)
        for example, store in (("callback", lat1), ("callback2", lat2)):
            store[st] = []
            for _ in range(samples):
                tick("%s: exit latency of %s/" % (st, example))
                store[st].append(exit_latency(example, st))
        rate[st], wall_small[st], wall_big[st], srss[st], crss[st] = [], [], [], [], []
        for size, walls in ((small, wall_small), (big, wall_big)):
            for _ in range(repeat):
                tick("%s: %d workers, --work 0" % (st, size))
                r = big_run(st, size, 0)
                if not r["ok"]:
                    failures.append("%s: %d workers with --work 0 lost callbacks or left workers" % (st, size))
                walls[st].append(r["wall"])
                if size == small:
                    rate[st].append(r["rate"])
                else:
                    srss[st].append(r["server_rss"] / 1024.0)
                    crss[st].append(r["client_rss"] / 1024.0)
        tick("%s: %d workers, --work 2" % (st, big))
        r = big_run(st, big, 2)
        work2[st] = [r["wall"]]
        if not r["ok"]:
            failures.append("%s: %d workers with --work 2 lost callbacks or left workers" % (st, big))
    progress("")

    def row(label, value):
        rows.append((label, {st: value(st) for st in SERVERTYPES}))

    def latency(store, fraction):
        return lambda st: "%.1f" % (percentile(store[st], fraction) * 1000)

    row("per-worker cost, ms (addworker + oneway work)", lambda st: cell(cost[st], 1000, 3))
    row("  floor: plain Pyro4 for the same calls, ms", lambda st: cell(floor[st], 1000, 3))
    row("  cost / floor", lambda st: cell(ratio[st], 1, 2))
    for example, store in (("callback", lat1), ("callback2", lat2)):
        row("exit latency p50, ms, %s/" % example, latency(store, 0.5))
        row("exit latency p90, ms, %s/" % example, latency(store, 0.9))
    row("  floor: Pyro4 process, last line to exit, p50", lambda st: "%.1f" % (
        percentile(exit_floor, 0.5) * 1000) if st == "thread" else "")
    row("  floor: the same, p90", lambda st: "%.1f" % (
        percentile(exit_floor, 0.9) * 1000) if st == "thread" else "")
    for example in ("callback", "callback2"):
        row("CPU of a waiting client, %% of one core, %s/" % example,
            lambda st: "%.2f" % (cpu[example] * 100) if st == "thread" else "")
    row("callbacks per second, %d workers, --work 0" % small, lambda st: cell(rate[st], 1, 0))
    row("wall time, s, %d workers, --work 0" % small, lambda st: cell(wall_small[st], 1, 2))
    row("wall time, s, %d workers, --work 0" % big, lambda st: cell(wall_big[st], 1, 1))
    row("wall time, s, %d workers, --work 2 (one run)" % big, lambda st: "%.1f" % work2[st][0])
    row("peak RSS, MiB, server, %d workers, --work 0" % big, lambda st: cell(srss[st], 1, 1))
    row("peak RSS, MiB, client, %d workers, --work 0" % big, lambda st: cell(crss[st], 1, 1))

    for st in SERVERTYPES:
        if statistics.median(ratio[st]) > 1.3:
            failures.append("%s: per-worker cost is %.2fx the floor (at most 1.3x)"
                            % (st, statistics.median(ratio[st])))
        for example, store in (("callback", lat1), ("callback2", lat2)):
            for fraction, margin in ((0.5, 0.015), (0.9, 0.030)):
                over = percentile(store[st], fraction) - percentile(exit_floor, fraction)
                if over > margin:
                    failures.append("%s: %s/ exit latency p%d is %.1f ms over its floor (at most %d)"
                                    % (st, example, fraction * 100, over * 1000, margin * 1000))
    for example in ("callback", "callback2"):
        if cpu[example] > 0.003:
            failures.append("a waiting %s/ client uses %.2f %% of a core (at most 0.3 %%)"
                            % (example, cpu[example] * 100))

    for (example, case), times in sorted(errors.items()):
        # The client has no server type of its own here: the error comes before its daemon.
        row("time to the error, s, %s/, %s" % (example, case),
            lambda st: cell(times, 1, 2) if st == "thread" else "")
        if statistics.median(times) > 5:
            failures.append("%s/ with %s: the error took %.1f s (at most 5 s)"
                            % (example, case, statistics.median(times)))

    width = max(len(label) for label, _ in rows)
    print("%-*s  %-26s %-26s" % (width, "median (min-max)", "thread", "multiplex"))
    for label, values in rows:
        print("%-*s  %-26s %-26s" % (width, label, values["thread"], values["multiplex"]))
    print()
    print("Python %s, Pyro4 %s, %d cores; %d repeats, %d latency samples per cell."
          % (sys.version.split()[0], Pyro4.__version__, os.cpu_count(), repeat, samples))
    for failure in failures:
        print("DOES NOT HOLD: " + failure)
    if not failures:
        print("All checks hold: every callback arrived, no worker stayed registered, cost within "
              "1.3x of the floor, exit latency within 15 ms (p50) and 30 ms (p90) of its floor, "
              "a waiting client under 0.3 % of a core, every error within 5 s.")
    return 1 if failures else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["floor-server"]:
        floor_server()
    elif sys.argv[1:2] == ["floor-client"]:
        floor_client(sys.argv[2], int(sys.argv[3]))
    else:
        parser = argparse.ArgumentParser(description="Benchmark the callback examples; prints one table.")
        parser.add_argument("--repeat", type=int, default=3, help="runs per figure (default: 3)")
        parser.add_argument("--samples", type=int, default=10, help="exit latency samples per cell (default: 10)")
        parser.add_argument("--small", type=int, default=1000, help="workers in the small runs (default: 1000)")
        parser.add_argument("--big", type=int, default=10000, help="workers in the big runs (default: 10000)")
        args = parser.parse_args()
        sys.exit(bench(args.repeat, args.samples, args.small, args.big))
