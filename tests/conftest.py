"""Fixtures that run the examples as real processes on free ports, and always stop them.

pytest-xprocess was weighed for the servers and the name server and not taken: it keeps
one long-lived process per name across test runs, and has it write to a log file that
it reads for one start-up pattern. These servers live for one test each, on ports
chosen at start, and the tests read their output line by line as it arrives.
"""
import signal
import socket
import threading

import Pyro4
import pytest

from helpers import Process, Recorder, daemon_uri


def pytest_configure(config):
    # Start the examples as a terminal would. A shell that runs the suite in the
    # background ignores SIGINT, and the scripts would inherit that: no Ctrl-C.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def pyro_timeout(monkeypatch):
    """Every Pyro4 call a test makes itself gives up after 5 s instead of hanging."""
    monkeypatch.setattr(Pyro4.config, "COMMTIMEOUT", 5.0)


@pytest.fixture
def spawn():
    """Start scripts as real processes; kill every process group afterwards, pass or fail."""
    started = []

    def start(*args, env=None, prefix=()):
        started.append(Process(args, env, prefix))
        return started[-1]

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
    def run(example, uri, *args, env=None, timeout=60, prefix=()):
        client = spawn("%s/client.py" % example, uri, *args, env=env, prefix=prefix)
        client.returncode = client.wait(timeout)
        return client
    return run


@pytest.fixture(params=["callback", "callback2"])
def example(request):
    """Each example pair in turn."""
    return request.param


@pytest.fixture
def nameserver(spawn):
    """A real Pyro4 name server on a free port, and the environment that finds it."""
    ns = spawn("-u", "-m", "Pyro4.naming", "--host", "localhost", "--port", "0", "--nobc")
    port = ns.wait_for(r"URI = PYRO:Pyro\.NameServer@localhost:(\d+)").group(1)
    return {"PYRO_NS_HOST": "localhost", "PYRO_NS_PORT": port}


@pytest.fixture
def proxy():
    """Make plain Pyro4 proxies, as any program on the network could; released afterwards."""
    made = []

    def make(uri, key=None):
        made.append(Pyro4.Proxy(uri))
        made[-1]._pyroHmacKey = key
        return made[-1]

    yield make
    for each in made:
        each._pyroRelease()


@pytest.fixture
def registered(proxy):
    """Ask a running server's daemon which object ids it has registered."""
    return lambda server, key=None: sorted(proxy(daemon_uri(server.uri), key).registered())


@pytest.fixture
def free_port():
    """A port on localhost that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


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
