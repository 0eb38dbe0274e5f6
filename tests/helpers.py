"""Plain helpers for the tests and the benchmark: one process runner, readers of the
examples' output, and a stand-in server."""
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import Pyro4
import Pyro4.errors

ROOT = Path(__file__).resolve().parent.parent
# Should the test process die without its teardown (kill -9, a crash), Linux kills its
# scripts too: setpriv sets their parent-death signal, and exec keeps it.
ORPHAN_GUARD = ["setpriv", "--pdeathsig", "KILL"] if shutil.which("setpriv") else []


class Process(object):
    """A script run in a process group of its own; its lines are kept, with their arrival times."""

    def __init__(self, args, env=None, prefix=()):
        clean = {k: v for k, v in os.environ.items() if not k.startswith("PYRO_")}
        clean.update(env or {})
        self.args = list(args)
        self.started = time.monotonic()
        command = [*prefix, *ORPHAN_GUARD, sys.executable, *self.args]
        self.popen = subprocess.Popen(command, cwd=ROOT, env=clean, text=True, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      start_new_session=True)  # so that kill() ends all of it
        self.lines = {"stdout": [], "stderr": []}
        self.times = {"stdout": [], "stderr": []}
        self.changed = threading.Condition()
        self.readers = [threading.Thread(target=self._read, args=(name,), daemon=True) for name in self.lines]
        for reader in self.readers:
            reader.start()

    def _read(self, name):
        for line in getattr(self.popen, name):
            with self.changed:
                self.lines[name].append(line.rstrip("\n"))
                self.times[name].append(time.monotonic())
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    @property
    def stdout(self):
        with self.changed:
            return "\n".join(self.lines["stdout"])

    @property
    def stderr(self):
        with self.changed:
            return "\n".join(self.lines["stderr"])

    def wait_for(self, pattern, timeout=30, stream="stdout", count=1):
        """Wait until count lines match the regex; return the last match, with its arrival time as .when."""
        deadline = time.monotonic() + timeout
        with self.changed:
            seen = 0
            while True:
                lines = self.lines[stream]
                for index in range(seen, len(lines)):
                    match = re.search(pattern, lines[index])
                    if match:
                        count -= 1
                        if count == 0:
                            return Match(match, self.times[stream][index])
                seen = len(lines)
                ended = self.popen.poll() is not None and not any(r.is_alive() for r in self.readers)
                if ended or time.monotonic() > deadline:
                    raise AssertionError("no line matching %r within %gs on %s of %s\nstdout:\n%s\nstderr:\n%s" % (
                        pattern, timeout, stream, " ".join(self.args),
                        "\n".join(self.lines["stdout"][-30:]), "\n".join(self.lines["stderr"][-30:])))
                self.changed.wait(0.5)

    def wait(self, timeout=60):
        """Wait for the process to end and its output to be read; return its exit code."""
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("%s still running after %gs\nstdout:\n%s\nstderr:\n%s" % (
                " ".join(self.args), timeout, self.stdout[-3000:], self.stderr[-3000:]))
        self.ended = time.monotonic()
        for reader in self.readers:
            reader.join(timeout)
        return code

    def signal(self, signum):
        try:
            os.killpg(self.popen.pid, signum)
        except ProcessLookupError:
            pass

    def kill(self):
        self.signal(signal.SIGKILL)
        self.popen.wait()


class Match(object):
    """A regex match and the time its line arrived."""

    def __init__(self, match, when):
        self.match, self.when = match, when
        self.string = match.string

    def group(self, *names):
        return self.match.group(*names)


def daemon_uri(uri):
    """The URI of the daemon that serves the object at uri."""
    return re.sub(r"^PYRO:[^@]+@", "PYRO:Pyro.Daemon@", uri)


def done_numbers(output):
    """The worker numbers from callback/client.py's 'worker N reports work is done!' lines."""
    return [int(n) for n in re.findall(r"^callback: worker (\d+) reports work is done!$", output, re.M)]


class Recorder(object):
    """Stands in for a server: keeps every callback proxy it gets, and never calls back.
    With ping_callers set, each addworker first pings the caller's callback daemon."""

    def __init__(self):
        self.callbacks = []
        self.arrived = threading.Event()
        self.ping_callers = False
        self.pings = []  # "answered", or the error, for each ping
        self.checks = threading.Condition()  # notified at each pending() call: the client lives
        self.during_next_check = None  # called in the next pending(), whose connection then breaks

    @Pyro4.expose
    def addworker(self, callback):
        if self.ping_callers:
            self.pings.append(ping("PYRO:Pyro.Daemon@" + callback._pyroUri.location))
        self.callbacks.append(callback)
        self.arrived.set()
        worker = IdleWorker()
        self._pyroDaemon.register(worker)
        return worker

    @Pyro4.expose
    def pending(self, callback):
        """As the real servers answer a client's check: none of its workers has finished."""
        with self.checks:
            self.checks.notify_all()
        if self.during_next_check:
            action = self.during_next_check
            self.during_next_check = None  # once
            action()
            Pyro4.current_context.client.close()  # as a server that dies mid-check
        return sum(1 for each in self.callbacks if each == callback)


def ping(uri):
    """Ping a daemon at most 5 s: "answered", or the error as text."""
    with Pyro4.Proxy(uri) as daemon:
        daemon._pyroTimeout = 5
        try:
            daemon.ping()
        except Pyro4.errors.CommunicationError as x:
            return "%s: %s" % (type(x).__name__, x)
    return "answered"


class IdleWorker(object):
    @Pyro4.expose
    @Pyro4.oneway
    def work(self, *args):
        pass


# A client that creates one worker and starts it after argv[2] seconds, or sooner on SIGUSR1.
STAND_IN_CLIENT = """
import signal, sys, threading, Pyro4
class Handler(object):
    @Pyro4.expose
    def done(self, number): print("called back", flush=True)
    @Pyro4.expose
    def call1(self): print("called back", flush=True)
    call2 = call1
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
daemon = Pyro4.Daemon()
handler = Handler()
daemon.register(handler)
threading.Thread(target=daemon.requestLoop, daemon=True).start()
with Pyro4.Proxy(sys.argv[1]) as server:
    worker = server.addworker(handler)
print("created", flush=True)
signal.sigtimedwait({signal.SIGUSR1}, float(sys.argv[2]))
worker.work(0) if "example.callback@" in sys.argv[1] else worker.work()
print("started", flush=True)
threading.Event().wait(60)
"""
