"""Every callback counted, or known lost: a callback that fails is tried again, and a client
learns of one that will never come."""
import re
import signal
import socket
import threading
import time

import Pyro4.errors
import pytest

from helpers import done_numbers

QUICK = {"callback": ["--work", "0"], "callback2": []}  # a run without waiting
ONE = ["--workers", "1"]
OBJECT_IDS = {"callback": "example.callback", "callback2": "example.callback2"}
LOST = r"^client: 1 workers left the server without calling back: 0 of 1 workers reported back$"

# A server that hands out workers and never calls back, so that its client waits; it takes
# argv[1] seconds to answer a client's check.
STAND_IN_SERVER = """
import sys, time, Pyro4
sys.path.insert(0, "tests")
from helpers import Recorder
class SlowRecorder(Recorder):
    @Pyro4.expose
    def pending(self, callback):
        time.sleep(float(sys.argv[1]))
        return Recorder.pending(self, callback)
daemon = Pyro4.Daemon(host="localhost")
print("Server URI: %s" % daemon.register(SlowRecorder(), "example.recorder"), flush=True)
daemon.requestLoop()
"""


def calls_back_at(port):
    """The environment that makes a client's daemon hand out port on this host as its address."""
    return {"PYRO_NATHOST": "127.0.0.1", "PYRO_NATPORT": str(port)}


class Relay(object):
    """Relays TCP connections to a port, and drops the first one once its second message comes
    (or, with handshake=False, its first): as a daemon does with a connection that stayed idle
    past its COMMTIMEOUT."""

    def __init__(self, target_port, handshake=True):
        self.target_port = target_port
        self.handshake = handshake
        self.connections = 0
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(10)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                caller = self.listener.accept()[0]
            except OSError:
                return  # closed
            self.connections += 1
            callee = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
            caller.settimeout(10)
            if self.connections == 1:  # the handshake both ways, then the call is dropped
                if self.handshake:
                    callee.sendall(caller.recv(65536))
                    caller.sendall(callee.recv(65536))
                caller.recv(65536)
                caller.close()
                callee.close()
            else:
                threading.Thread(target=self._pipe, args=(caller, callee), daemon=True).start()
                threading.Thread(target=self._pipe, args=(callee, caller), daemon=True).start()

    @staticmethod
    def _pipe(source, sink):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            source.close()
            sink.close()

    def close(self):
        self.listener.close()


@pytest.fixture
def relay(free_port):
    """A relay to free_port that drops its first connection before the call arrives."""
    relay = Relay(free_port)
    yield relay
    relay.close()


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)
        yield listener.getsockname()[1]


@pytest.fixture
def stand_in_server(spawn):
    """Start a server process that never calls back and answers checks after a delay."""
    def start(delay=0, env=None):
        server = spawn("-c", STAND_IN_SERVER, str(delay), env=env)
        server.uri = server.wait_for(r"PYRO:\S+").group(0)
        return server
    return start


# A callback that fails while the client lives is tried again

def test_a_callback_whose_connection_was_dropped_is_sent_again(example, start_server, run_client, relay, free_port):
    # The client's daemon drops a connection that stays idle past its COMMTIMEOUT: a worker
    # held up between connecting and calling (a busy or stopped server) finds it closed.
    server = start_server(example)
    client = run_client(example, server.uri, *ONE, "--port", str(free_port), *QUICK[example],
                        env=calls_back_at(relay.port))
    assert client.returncode == 0, client.stderr
    assert relay.connections == 2  # the dropped one, and the one that got through
    assert client.stdout.splitlines()[-1] == "All 1 workers reported back. Done."
    if example == "callback":
        assert done_numbers(client.stdout) == [1]  # counted once
    assert server.wait_for(r"^Worker 1( done|: callback failed)").string.startswith("Worker 1 done")


# A callback that will never come ends its client, with a line on both sides

def test_a_callback_that_fails_for_good_ends_its_client(example, start_server, spawn, free_port):
    # Its daemon hands out an address where nothing listens: each callback is refused.
    server = start_server(example)
    client = spawn("%s/client.py" % example, server.uri, *ONE, *QUICK[example], "--timeout", "120",
                   env=calls_back_at(free_port))
    failed = server.wait_for(r"^Worker 1: callback failed: .*Connection refused$").when
    assert client.wait(60) == 1
    assert re.match(LOST, client.stderr), client.stderr
    assert client.ended - failed < 10  # its check every 2 s, not its --timeout


def test_a_restarted_server_ends_its_waiting_client(example, spawn, free_port, silent_port):
    # The worker's callback hangs on a silent address, so the worker is still at work when its
    # server is killed; a new server on the same port knows nothing of it. The client is stopped
    # meanwhile, so that none of its checks meets the moment with no server at all.
    first = spawn("%s/server.py" % example, "--port", str(free_port))
    first.wait_for("^Server URI: ")
    uri = "PYRO:%s@localhost:%d" % (OBJECT_IDS[example], free_port)
    client = spawn("%s/client.py" % example, uri, *ONE, *QUICK[example], "--timeout", "120",
                   env=calls_back_at(silent_port))
    client.wait_for("waiting for their callbacks")
    client.signal(signal.SIGSTOP)
    first.kill()
    spawn("%s/server.py" % example, "--port", str(free_port)).wait_for("^Server URI: ")
    client.signal(signal.SIGCONT)
    resumed = time.monotonic()
    assert client.wait(60) == 1
    assert re.match(LOST, client.stderr), client.stderr
    assert client.ended - resumed < 10  # its next check, not its --timeout


# A busy or slow server is not taken for a dead one

def test_a_server_that_answers_slowly_keeps_its_client(example, stand_in_server, spawn):
    # Each answer takes 6 s: longer than a connection's COMMTIMEOUT (3 s), within the 10 s that
    # a check waits.
    server = stand_in_server(delay=6)
    client = spawn("%s/client.py" % example, server.uri, *ONE, "--timeout", "7")
    assert client.wait(60) == 1
    assert client.stderr == "client: timed out after 7 s: 0 of 1 workers reported back"


def test_a_server_with_no_free_thread_keeps_its_client(example, stand_in_server, spawn, proxy):
    # Its two threads are held (a client needs both to start a worker), so each check is
    # turned away with "no free workers": an answer.
    server = stand_in_server(env={"PYRO_THREADPOOL_SIZE": "2", "PYRO_THREADPOOL_SIZE_MIN": "2"})
    client = spawn("%s/client.py" % example, server.uri, *ONE, "--timeout", "6")
    client.wait_for("waiting for their callbacks")
    held = []
    deadline = time.monotonic() + 20
    while len(held) < 2:  # the client's own connections may still hold a thread for a moment
        try:
            proxy(server.uri)._pyroBind()
            held.append(True)
        except Pyro4.errors.CommunicationError:
            assert time.monotonic() < deadline, "the server's threads never came free"
            time.sleep(0.05)
    assert client.wait(60) == 1
    assert client.stderr == "client: timed out after 6 s: 0 of 1 workers reported back"


# A check that gets any other answer ends its client, in one line

def test_a_check_turned_away_for_another_reason_ends_the_client(example, recorder, spawn):
    # Only "no free workers" is the turn-away of a live server. This daemon no longer has the
    # object (as when another program has taken the port): "rejected: unknown object".
    client = spawn("%s/client.py" % example, recorder.uri, *ONE, "--timeout", "120")
    client.wait_for("waiting for their callbacks")
    recorder.daemon.unregister(recorder)
    assert client.wait(60) == 1
    assert re.match(r"^client: the server at \S+ stopped answering \(connection to .* rejected: "
                    r"unknown object\): 0 of 1 workers reported back$", client.stderr), client.stderr


def test_a_check_that_raises_ends_the_client(example, recorder, spawn):
    client = spawn("%s/client.py" % example, recorder.uri, *ONE, "--timeout", "120")
    client.wait_for("waiting for their callbacks")
    recorder.during_next_check = raise_daemon_error
    assert client.wait(60) == 1
    assert client.stderr == ("client: the server at %s failed our check: DaemonError: not ours: "
                             "0 of 1 workers reported back" % recorder.uri)


def raise_daemon_error():
    raise Pyro4.errors.DaemonError("not ours")
