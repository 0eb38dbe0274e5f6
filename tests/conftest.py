"""Fixtures that run the examples as real processes on free ports, and always stop them."""
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import Pyro4
import pytest

ROOT = Path(__file__).resolve().parent.parent
Pyro4.config.COMMTIMEOUT = 5.0  # no Pyro4 call that a test makes itself can hang


class Process(object):
    """One running script; its output lines are collected as they arrive."""

    def __init__(self, args, env=None, prefix=()):
        clean = {k: v for k, v in os.environ.items() if not k.startswith("PYRO_")}
        clean.update(env or {})
        self.args = args
        self.popen = subprocess.Popen([*prefix, sys.executable, *args], cwd=ROOT, env=clean, text=True,
                                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      start_new_session=True)  # its own process group, so kill() gets all of it
        self.lines = {"stdout": [], "stderr": []}
        self.changed = threading.Condition()
        self.readers = [threading.Thread(target=self._read, args=(name,), daemon=True) for name in self.lines]
        for reader in self.readers:
            reader.start()

    def _read(self, name):
        for line in getattr(self.popen, name):
            with self.changed:
                self.lines[name].append(line.rstrip("\n"))
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

    def wait_for(self, pattern, timeout=10, stream="stdout", count=1):
        """Wait until count lines match the regex, and return the last match."""
        deadline = time.monotonic() + timeout
        with self.changed:
            seen = 0
            while True:
                lines = self.lines[stream]
                for line in lines[seen:]:
                    match = re.search(pattern, line)
                    if match:
                        count -= 1
                        if count == 0:
                            return match
                seen = len(lines)
                left = deadline - time.monotonic()
                if left <= 0 or (self.popen.poll() is not None and not any(r.is_alive() for r in self.readers)):
                    raise AssertionError("no line matching %r within %gs on %s of %s\nstdout:\n%s\nstderr:\n%s" % (
                        pattern, timeout, stream, " ".join(self.args),
                        "\n".join(self.lines["stdout"][-30:]), "\n".join(self.lines["stderr"][-30:])))
                self.changed.wait(min(left, 0.5))

    def wait(self, timeout=30):
        """Wait for the process to end and its output to be read; return its exit code."""
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("%s still running after %gs\nstdout:\n%s\nstderr:\n%s" % (
                " ".join(self.args), timeout, self.stdout[-3000:], self.stderr[-3000:]))
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


@pytest.fixture
def spawn():
    """Start scripts as real processes; kill every process group afterwards, pass or fail."""
    started = []

    def start(*args, env=None, prefix=()):
        process = Process(list(args), env, prefix)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


@pytest.fixture
def start_server(spawn):
    """Start an example's server on a free port and wait for the URI it prints."""
    def start(example="callback", *args, env=None, prefix=()):
        server = spawn("%s/server.py" % example, "--port", "0", *args, env=env, prefix=prefix)
        server.uri = server.wait_for(r"PYRO:\S+").group(0)
        return server
    return start


@pytest.fixture
def server(start_server):
    """A callback/ server with default settings on a free port."""
    return start_server("callback")


@pytest.fixture
def run_client(spawn):
    """Run an example's client to its end and return the finished process."""
    def run(example, uri, *args, env=None, timeout=30, prefix=()):
        client = spawn("%s/client.py" % example, uri, *args, env=env, prefix=prefix)
        client.returncode = client.wait(timeout)
        return client
    return run


@pytest.fixture
def nameserver(spawn):
    """A real Pyro4 name server on a free port, and the environment that finds it."""
    ns = spawn("-u", "-m", "Pyro4.naming", "--host", "localhost", "--port", "0", "--nobc")
    port = ns.wait_for(r"URI = PYRO:Pyro\.NameServer@localhost:(\d+)").group(1)
    return {"PYRO_NS_HOST": "localhost", "PYRO_NS_PORT": port}


def daemon_uri(uri):
    """The URI of the daemon that serves the object at uri."""
    return re.sub(r"^PYRO:[^@]+@", "PYRO:Pyro.Daemon@", uri)


def done_numbers(output):
    """The worker numbers from the client's 'worker N reports work is done!' lines."""
    return [int(n) for n in re.findall(r"^callback: worker (\d+) reports work is done!$", output, re.M)]


@pytest.fixture
def free_port():
    """A port on localhost that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


class Recorder(object):
    """Stands in for a server: keeps every callback proxy it gets, and never calls back."""

    def __init__(self):
        self.callbacks = []
        self.arrived = threading.Event()

    @Pyro4.expose
    def addworker(self, callback):
        self.callbacks.append(callback)
        self.arrived.set()
        worker = IdleWorker()
        self._pyroDaemon.register(worker)
        return worker


class IdleWorker(object):
    @Pyro4.expose
    @Pyro4.oneway
    def work(self, *args):
        pass


@pytest.fixture
def recorder():
    """A bare Pyro4 server in the test process, for calling a real client's handler by hand."""
    daemon = Pyro4.Daemon(host="localhost")
    recorder = Recorder()
    recorder.uri = str(daemon.register(recorder, "example.recorder"))
    recorder.daemon = daemon
    threading.Thread(target=daemon.requestLoop, daemon=True).start()
    yield recorder
    daemon.shutdown()
