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

A burst of 1000 callbacks that fall due together (callback/, --work 5, thread
server) runs beside a process that spins one core, --bursts times: the table
shows how many runs counted every callback and their wall time, and the same
with the server stopped for 3.5 s three times while the callbacks come in.
The time to learn of a refused (so lost) callback runs from the server's "callback failed"
line (the client's address refuses) to the client's exit, taken by a thread
blocked in waitpid, for both examples. The server's CPU per 2 s while one
client waits for 10,000 workers is its CPU time over 20 s (less if the first
workers' 60 s of work would end in it) divided by the 2 s spans in it: one
check by the client each, and the housekeeping that looks for expired workers;
beside it the same with 5 workers pending, and the waiting client's share of a
core.

It also checks what must hold, and exits 1 if anything does not:
all callbacks arrive at 10,000 workers, no worker stays registered, the
per-worker cost over its floor is at most 1.3 (the median of the runs' ratios;
one run may be over), the exit latency is within
15 ms (median) and 30 ms (p90) of its floor, a waiting client uses at most
0.3 % of one core, a client with nothing to talk to (no server, a port
that never answers, no name server) gives up with its one-line error within 5 s
(the median of the runs),
every burst run counts every callback (exit 0, done numbers 1 to 1000), with
and without the stops, and a client learns of a refused callback within 10 s.
The server's CPU per 2 s is only shown, not checked.

Not a test: pytest does not collect it.
"""
import argparse
import os
import re
import signal
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
    same_type = {"PYRO_SERVERTYPE": servertype}  # the floor's daemons are of the measured type too
    server = run(me, "floor-server", env=same_type) if floor else None
    try:
        if floor:
            server.uri = server.wait_for(r"PYRO:\S+").group(0)
            client = run(me, "floor-client", server.uri, str(workers), env=same_type)
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
        stop_server(server)  # its --work 10 workers would drain for 10 s


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
        before, began = cpu_time(client), time.monotonic()
        time.sleep(seconds)  # a measuring window, not a wait for an event
        used = cpu_time(client) - before
        stop(client)
        return used / (time.monotonic() - began)
    finally:
        stop(server)


def cpu_time(process):
    """Seconds of CPU that a process has used: utime + stime from /proc/PID/stat."""
    with open("/proc/%d/stat" % process.popen.pid) as stat:
        ticks = sum(int(field) for field in stat.read().rsplit(")", 1)[1].split()[11:13])
    return ticks / os.sysconf("SC_CLK_TCK")


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


# Bursts, lost callbacks, and the cost of the client's check

BUSY_LOOP = "import time\nend = time.monotonic() + 600\nwhile time.monotonic() < end: pass"


def stop_server(server):
    """Stop an example's server at once, busy workers or not: SIGTERM, again once it drains."""
    server.signal(signal.SIGCONT)  # a stopped process would not handle SIGTERM
    if server.popen.poll() is None:
        server.signal(signal.SIGTERM)
        try:
            server.wait_for(r"^(Stopping: \d+ workers busy|Server stopped)", timeout=30)
        except AssertionError:
            pass  # it ended, or did not say so in time: stop() sends SIGTERM again, or kills
    stop(server)  # the second SIGTERM ends the drain (README, Stopping)


def watch_end(process, limit):
    """A thread that takes the process's end (end_of) into .end; kills its group after limit s."""
    guard = threading.Timer(limit, process.signal, args=(signal.SIGKILL,))  # only if it hangs
    guard.daemon = True
    guard.start()

    def take():
        process.end = end_of(process)
        guard.cancel()
    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    return thread


def burst(stopped=False):
    """One burst of 1000 callbacks that fall due together, beside a busy core; optionally stopped 3x."""
    busy = Process(["-c", BUSY_LOOP])  # spins one of the two cores for the whole run
    server = client = None
    try:
        server = start_server("callback/server.py", "thread")
        client = Process(["callback/client.py", server.uri, "--workers", "1000", "--work", "5"],
                         env={"PYRO_SERVERTYPE": "thread"})
        ending = watch_end(client, 600)
        if stopped:
            server.wait_for(r"^Worker \d+ done, called the client back", timeout=120)
            for gap in (1, 1, 0):
                server.signal(signal.SIGSTOP)
                time.sleep(3.5)  # the fault's length, not a wait for an event
                server.signal(signal.SIGCONT)
                time.sleep(gap)  # 1 s apart
        ending.join()  # no timeout: watch_end's guard kills a client that hangs
        numbers = done_numbers(client.stdout)
        code = client.popen.returncode
        failed = [line for line in server.lines["stdout"] if "callback failed" in line]
        return {"ok": code == 0 and sorted(numbers) == list(range(1, 1001)),
                "wall": client.end - client.started,
                "why": "exit %d, %d done lines, %d distinct, %d 'callback failed' on the server%s%s" % (
                    code, len(numbers), len(set(numbers)), len(failed),
                    " (the first: %s)" % failed[0] if failed else "",
                    "; the client: " + client.lines["stderr"][-1] if client.lines["stderr"] else "")}
    finally:
        if client:
            stop(client)
        if server:
            stop_server(server)
        stop(busy)


def lost_callback_time(example, servertype):
    """Seconds from the server's failed callback to the client's exit (a thread blocked in waitpid)."""
    with socket.socket() as refusing:
        refusing.bind(("127.0.0.1", 0))  # bound, not listening: the callback is refused
        server = start_server(example + "/server.py", servertype)
        client = None
        try:
            args = ["--work", "0"] if example == "callback" else []
            client = Process([example + "/client.py", server.uri, "--workers", "1", *args, "--timeout", "120"],
                             env={"PYRO_SERVERTYPE": servertype, "PYRO_NATHOST": "127.0.0.1",
                                  "PYRO_NATPORT": str(refusing.getsockname()[1])})
            watch_end(client, 300).join()
            if client.popen.returncode != 1 or not re.match(
                    r"client: 1 workers left the server without calling back: 0 of 1 ", client.stderr):
                raise RuntimeError("%s/client.py with a refused callback exited with %d: %s"
                                   % (example, client.popen.returncode, client.stderr[-1000:]))
            return client.end - server.wait_for("^Worker 1: callback failed:", timeout=10).when
        finally:
            if client:
                stop(client)
            stop_server(server)


def check_cost(workers, seconds=20):
    """Server CPU per 2 s (a check, housekeeping), and the client's share of a core, with workers of one client pending."""
    server = start_server("callback/server.py", "thread")
    client = None
    try:
        client = Process(["callback/client.py", server.uri, "--workers", str(workers), "--work", "60",
                          "--timeout", "600"])
        first = server.wait_for(r"^Worker 1 busy for 60 seconds", timeout=300).when
        client.wait_for("waiting for their callbacks", timeout=300)
        server.wait_for(r"^Worker %d busy for 60 seconds" % workers)  # the last work() has begun
        server_before, client_before, began = cpu_time(server), cpu_time(client), time.monotonic()
        end = min(began + seconds, first + 55)  # before worker 1's 60 s are over: 10,000 take long
        time.sleep(max(end - began, 2))  # a measuring window, not a wait for an event
        server_used, client_used = cpu_time(server) - server_before, cpu_time(client) - client_before
        window = time.monotonic() - began
        with server.changed:  # a worker that finished or expired in the window would add its cost
            other = [line for when, line in zip(server.times["stdout"], server.lines["stdout"])
                     if when >= began and not re.match(r"^Worker \d+ (created|busy for)", line)]
        return {"server_ms": server_used * 1000 / (window / 2), "client": client_used / window,
                "window": window,
                "quiet": not other and client.popen.poll() is None}
    finally:
        if client:
            stop(client)
        stop_server(server)


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


def bench(repeat, samples, small, big, bursts=None, cpu_seconds=10):
    rows = []  # (label, {servertype: text})
    failures = []
    bursts = repeat if bursts is None else bursts
    plan = (len(SERVERTYPES) * (repeat * 2 + samples * 2 + repeat * 2 + 1 + 2)
            + 2 * len(ERROR_CASES) + 3 + bursts * 2 + 2)
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

    runs = {}  # stopped: the burst results
    for stopped in (False, True):
        runs[stopped] = []
        for index in range(bursts):
            tick("burst of 1000 callbacks beside a busy core%s, run %d of %d"
                 % (", the server stopped 3 times" if stopped else "", index + 1, bursts))
            runs[stopped].append(burst(stopped))
    lost = {}
    for example in ("callback", "callback2"):
        for st in SERVERTYPES:
            tick("%s: time to learn of a refused callback, %s/" % (st, example))
            lost[example, st] = [lost_callback_time(example, st) for _ in range(repeat)]
    check = {}
    for workers in (5, 10000):
        tick("server CPU per 2 s, %d workers of one client pending, 20 s" % workers)
        check[workers] = check_cost(workers)
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

    for stopped, label in ((False, "burst: 1000 workers, --work 5, beside a busy core"),
                           (True, "  the same, server stopped 3.5 s 3 times, 1 s apart")):
        results = runs[stopped]
        counted = sum(1 for r in results if r["ok"])
        row(label + ": runs with every callback counted, exit 0",
            lambda st: "%d of %d" % (counted, len(results)) if st == "thread" else "")
        row("  wall time of a run, s (of it the work: 5 s)",
            lambda st: cell([r["wall"] for r in results], 1, 1) if st == "thread" else "")
        for index, r in enumerate(results):
            if not r["ok"]:
                failures.append("%s, run %d of %d: not every callback counted (%s)"
                                % (label.strip(), index + 1, len(results), r["why"]))
    for example in ("callback", "callback2"):
        row("time to learn of a refused callback, s, %s/" % example, lambda st: cell(lost[example, st], 1, 2))
        for st in SERVERTYPES:
            if max(lost[example, st]) >= 10:
                failures.append("%s: %s/ took %.1f s to learn of a refused callback (under 10 s)"
                                % (st, example, max(lost[example, st])))
    for workers, label in ((10000, "server CPU per 2 s (a check, housekeeping), ms, 10,000 pending"),
                           (5, "  reference: 5 pending, a 20 s window")):
        row(label, lambda st: "%.1f (a %.0f s window)%s" % (
            check[workers]["server_ms"], check[workers]["window"],
            "" if check[workers]["quiet"] else ", a worker ended in it") if st == "thread" else "")
    for workers, label in ((10000, "  CPU of the waiting client, % of one core, 10,000 pending"),
                           (5, "  the same, 5 pending")):
        row(label, lambda st: "%.2f" % (check[workers]["client"] * 100) if st == "thread" else "")

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
        print("All checks hold: every callback arrived, no worker stayed registered, median "
              "cost / floor at most 1.3, exit latency within 15 ms (p50) and 30 ms (p90) of its floor, "
              "a waiting client under 0.3 % of a core, each error's median within 5 s, every burst run "
              "counted every callback, a refused callback known within 10 s.")
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
        parser.add_argument("--bursts", type=int, help="runs of each burst of 1000 (default: --repeat)")
        args = parser.parse_args()
        sys.exit(bench(args.repeat, args.samples, args.small, args.big, args.bursts))
