"""The edges of a run: the client wakes at its last callback, sees a dead server, and a stop
lets the busy workers call back first."""
import ctypes
import os
import re
import signal
import socket
import time

import pytest

from helpers import STAND_IN_CLIENT, done_numbers

QUICK = {"callback": ["--work", "0"], "callback2": []}  # a run without waiting
SLOW_POLL = {"PYRO_POLLTIMEOUT": "30"}  # a loop that is not woken would wait up to 30 s

# A server that hands out workers and never calls back, so that its client waits.
STAND_IN_SERVER = """
import sys, Pyro4
sys.path.insert(0, "tests")
from helpers import Recorder
daemon = Pyro4.Daemon(host="localhost")
print("Server URI: %s" % daemon.register(Recorder(), "example.recorder"), flush=True)
daemon.requestLoop()
"""


@pytest.fixture
def stand_in_server(spawn):
    """A server process that never calls back."""
    server = spawn("-c", STAND_IN_SERVER)
    server.uri = server.wait_for(r"PYRO:\S+").group(0)
    return server


# The last callback wakes the client's loop

@pytest.mark.parametrize("polltimeout", ["2", "10"])
@pytest.mark.parametrize("servertype", ["thread", "multiplex"])
def test_the_last_callback_wakes_the_client(example, start_server, spawn, servertype, polltimeout):
    # 2 s is Pyro4's default POLLTIMEOUT: a loop that only polled would see its last callback
    # up to that late (10 s makes that plain). The bound is loose, for a busy machine; the
    # benchmark has the figure.
    server = start_server(example, "--servertype", servertype)
    client = spawn("%s/client.py" % example, server.uri, "--workers", "2", *QUICK[example],
                   env={"PYRO_POLLTIMEOUT": polltimeout, "PYRO_SERVERTYPE": servertype})
    last_callback = client.wait_for("^callback: ", count=2 if example == "callback" else 4).when
    loop_ended = client.wait_for("^All 2 workers reported back. Done.$").when
    assert client.wait() == 0, client.stderr
    assert loop_ended - last_callback < 1.0


# A dead server: the client sees it, and does not wait out its --timeout

@pytest.mark.parametrize("fault", ["killed", "frozen"])
def test_a_client_sees_its_server_gone(example, stand_in_server, spawn, fault):
    client = spawn("%s/client.py" % example, stand_in_server.uri, "--workers", "3", "--timeout", "120")
    client.wait_for("waiting for their callbacks")
    stand_in_server.signal(signal.SIGKILL if fault == "killed" else signal.SIGSTOP)
    assert client.wait(60) == 1
    cause = "Connection refused" if fault == "killed" else "receiving: timeout"
    assert re.match(r"^client: the server at %s stopped answering \(.*%s\): 0 of 3 workers reported back$"
                    % (re.escape(stand_in_server.uri), cause), client.stderr), client.stderr


def test_a_live_server_keeps_its_client_waiting(example, stand_in_server, spawn):
    # The client checks every 2 s; a server that answers is never taken for gone.
    client = spawn("%s/client.py" % example, stand_in_server.uri, "--workers", "2", "--timeout", "5")
    assert client.wait(60) == 1
    assert client.stderr == "client: timed out after 5 s: 0 of 2 workers reported back"


# A stop lets the busy workers call back

@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("servertype", ["thread", "multiplex"])
def test_a_stop_waits_for_the_busy_workers(start_server, spawn, signum, servertype):
    server = start_server("callback", "--servertype", servertype, env=SLOW_POLL)
    client = spawn("callback/client.py", server.uri, "--workers", "3", "--work", "3")
    server.wait_for("^Worker 3 busy for 3 seconds")
    server.signal(signum)
    server.wait_for(r"^Stopping: 3 workers busy\. Ctrl-C again to stop without them\.$")
    assert client.wait(60) == 0, client.stderr
    assert sorted(done_numbers(client.stdout)) == [1, 2, 3]
    last_done = server.wait_for("^Worker [123] done, called the client back", count=3).when
    # Woken by its last worker, not by POLLTIMEOUT: a loose bound, for a busy machine.
    assert server.wait_for("^Server stopped.$").when - last_done < 15  # POLLTIMEOUT is 30 s here
    assert server.wait(60) == 0
    assert server.stderr == ""


@pytest.fixture
def full_backlog():
    """Fill a server's listen backlog (Pyro4 listens with 100) with connections that never speak."""
    silent = []

    def fill(uri):
        host, port = re.match(r".*@([^:]+):(\d+)$", uri).groups()
        for _ in range(150):
            silent.append(socket.socket())
            silent[-1].setblocking(False)
            silent[-1].connect_ex((host, int(port)))
        deadline = time.monotonic() + 10
        while accept_queue(int(port)) <= 100:  # the kernel holds 101 for a backlog of 100
            assert time.monotonic() < deadline, "the backlog did not fill"
            time.sleep(0.05)
    yield fill
    for connection in silent:
        connection.close()


def accept_queue(port):  # connections that wait for accept() on a listening port, from /proc
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as entries:
            for entry in entries.readlines()[1:]:
                fields = entry.split()  # local address, remote, state (0A: LISTEN), queues...
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    return int(fields[4].split(":")[1], 16)
    return 0


def test_a_signal_stops_a_server_whose_listen_backlog_is_full(example, start_server, full_backlog):
    # The multiplex server reads the first of these connections' handshakes for 5 s while the
    # others wait. The handler must not connect to wake it from the loop's own thread: that
    # connection would wait for itself.
    server = start_server(example, "--servertype", "multiplex")
    full_backlog(server.uri)
    server.signal(signal.SIGINT)
    assert server.wait(30) == 0, server.stdout  # 5 s for each silent handshake it is reading


def wait_until_its_main_thread_sleeps(server, where):  # the kernel function it sleeps in
    deadline = time.monotonic() + 30
    with open("/proc/%d/wchan" % server.popen.pid) as wchan:
        while where not in wchan.read():
            assert time.monotonic() < deadline, "the server's main thread never sleeps in " + where
            time.sleep(0.01)
            wchan.seek(0)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_idle_server_stops_at_once(example, start_server, signum):
    server = start_server(example, env=SLOW_POLL)
    wait_until_its_main_thread_sleeps(server, "poll")  # in the loop: do_epoll_wait
    signalled = time.monotonic()
    server.signal(signum)
    assert server.wait(30) == 0
    assert server.ended - signalled < 15  # woken at once, not after POLLTIMEOUT (30 s here)
    assert server.stdout.splitlines()[-1] == "Server stopped."
    assert "Stopping" not in server.stdout and server.stderr == ""


def test_a_signal_to_another_thread_stops_the_server_at_once(example, start_server):
    # The kernel may hand a process's signal to any of its threads. Python runs the handler in
    # the main thread, which sleeps in the loop's select(): unless woken, until POLLTIMEOUT.
    server = start_server(example, env=SLOW_POLL)
    wait_until_its_main_thread_sleeps(server, "poll")  # in the loop: do_epoll_wait
    pid = server.popen.pid  # setpriv execs the script: the same process
    other = next(int(tid) for tid in os.listdir("/proc/%d/task" % pid) if int(tid) != pid)
    signalled = time.monotonic()
    assert ctypes.CDLL(None, use_errno=True).tgkill(pid, other, signal.SIGTERM) == 0
    assert server.wait(30) == 0
    assert server.ended - signalled < 15  # woken at once, not after POLLTIMEOUT (30 s here)
    assert server.stdout.splitlines()[-1] == "Server stopped."


@pytest.fixture
def draining(start_server, spawn):
    """Start an example's server and a client whose worker is created, not started; then SIGTERM."""
    def start(example, *args, env=None):  # the worker expires after 30 s unless args say less
        server = start_server(example, "--start-timeout", "30", *args, env=env)
        client = spawn("-c", STAND_IN_CLIENT, server.uri, "60")  # starts on SIGUSR1
        client.wait_for("^created$")
        server.signal(signal.SIGTERM)
        server.wait_for(r"^Stopping: 1 workers busy")
        return server, client
    return start


def test_a_worker_created_before_the_stop_may_still_start(example, draining):
    server, client = draining(example)
    client.signal(signal.SIGUSR1)  # now it calls work()
    client.wait_for("^called back$")
    assert server.wait(60) == 0
    assert server.stdout.splitlines()[-1] == "Server stopped."


def test_a_worker_never_started_expires_and_ends_the_drain(example, draining):
    server, client = draining(example, "--start-timeout", "1")
    server.wait_for(r"^1 workers never started within 1 s: removed\.$")
    assert server.wait(60) == 0
    assert server.stdout.splitlines()[-1] == "Server stopped."


def test_a_client_that_comes_during_a_drain_is_refused(example, draining, run_client):
    server, _ = draining(example)
    client = run_client(example, server.uri, *QUICK[example])
    assert client.returncode == 1
    assert client.stderr == ("client: the server at %s refused: RuntimeError: the server is stopping "
                             "and takes no new workers" % server.uri)


def test_a_worker_that_expires_ends_a_drain_whose_listen_backlog_is_full(example, draining,
                                                                          full_backlog):
    # An expiry runs in the multiplex loop's own thread: the last one must not wake that loop
    # from there, with a connection that would wait for the loop (for about 2 minutes).
    server, _ = draining(example, "--servertype", "multiplex", "--start-timeout", "5")
    full_backlog(server.uri)
    server.wait_for(r"^1 workers never started within 5 s: removed\.$", timeout=60)
    assert server.wait(30) == 0, server.stdout


@pytest.mark.parametrize("servertype", ["thread", "multiplex"])
def test_a_second_signal_stops_the_drain(example, draining, servertype):
    server, _ = draining(example, "--servertype", servertype, env=SLOW_POLL)
    signalled = time.monotonic()
    server.signal(signal.SIGINT)
    assert server.wait(30) == 1, server.stdout  # 0 if the worker had expired first
    assert server.ended - signalled < 15  # woken at once, not after POLLTIMEOUT (30 s here)
    assert server.stderr == "server: stopped; the callbacks of 1 busy workers are lost"


def test_ctrl_c_during_a_name_server_lookup_ends_the_server_without_a_traceback(example, spawn):
    with socket.create_server(("localhost", 0)) as silent:  # takes the connection, never answers
        silent.settimeout(30)
        server = spawn("%s/server.py" % example, "--port", "0", "--ns",
                       env={"PYRO_NS_HOST": "localhost", "PYRO_NS_PORT": str(silent.getsockname()[1])})
        connection, _ = silent.accept()  # the lookup now waits for a handshake
        server.signal(signal.SIGINT)
        assert server.wait(10) == -signal.SIGINT, server.stderr  # as a shell sees it: exit 130
        assert server.stderr == ""
        connection.close()


def test_name_server_entry_goes_when_the_drain_starts(example, nameserver, start_server, spawn, proxy):
    server = start_server(example, "--ns", "--start-timeout", "30", env=nameserver)
    server.wait_for("Registered")
    client = spawn("-c", STAND_IN_CLIENT, server.uri, "60")  # starts on SIGUSR1
    client.wait_for("^created$")
    server.signal(signal.SIGTERM)
    server.wait_for("^Stopping: ")
    server.wait_for(r"^Removed example\.callback2? from the name server\.$")  # in a thread of its own
    ns = proxy("PYRO:Pyro.NameServer@localhost:%s" % nameserver["PYRO_NS_PORT"])
    assert "example.%s" % example not in ns.list()


def test_a_name_server_that_closed_the_kept_connection_still_loses_the_entry(example, spawn, start_server, proxy):
    # A name server with a COMMTIMEOUT closes the connection the server registered over.
    ns = spawn("-u", "-m", "Pyro4.naming", "--host", "localhost", "--port", "0", "--nobc",
               env={"PYRO_COMMTIMEOUT": "0.5", "PYRO_LOGLEVEL": "WARNING", "PYRO_LOGFILE": "{stderr}"})
    port = ns.wait_for(r"URI = PYRO:Pyro\.NameServer@localhost:(\d+)").group(1)
    server = start_server(example, "--ns", env={"PYRO_NS_PORT": port})
    server.wait_for("^Registered")
    ns.wait_for("error during handleRequest: receiving: timeout", stream="stderr")  # it hung up
    server.signal(signal.SIGTERM)
    assert server.wait(30) == 0, server.stderr  # an idle server: it ends once the removal is done
    assert "Removed example.%s from the name server." % example in server.stdout.splitlines()
    assert "example.%s" % example not in proxy("PYRO:Pyro.NameServer@localhost:%s" % port).list()


def test_a_second_signal_does_not_wait_for_a_frozen_name_server(example, spawn, start_server):
    # The exit waits for the name server's removal, but not after a second signal: a name
    # server that trickles bytes would hold it for good. Here COMMTIMEOUT holds it for 60 s.
    ns = spawn("-u", "-m", "Pyro4.naming", "--host", "localhost", "--port", "0", "--nobc")
    port = ns.wait_for(r"URI = PYRO:Pyro\.NameServer@localhost:(\d+)").group(1)
    server = start_server(example, "--ns", env={"PYRO_NS_PORT": port, "PYRO_COMMTIMEOUT": "60"})
    server.wait_for(r"^Callback server.* running")
    ns.signal(signal.SIGSTOP)  # its kernel still takes connections, and nothing answers
    server.signal(signal.SIGTERM)
    wait_until_its_main_thread_sleeps(server, "futex")  # out of the loop, waiting for removal
    server.signal(signal.SIGTERM)
    assert server.wait(30) == 0
    assert server.stdout.splitlines()[-1] == "Server stopped."


def test_a_stop_does_not_depend_on_the_name_server(example, spawn, start_server):
    # The name server goes first, as at a host's shutdown; the busy worker still calls back.
    ns = spawn("-u", "-m", "Pyro4.naming", "--host", "localhost", "--port", "0", "--nobc")
    port = ns.wait_for(r"URI = PYRO:Pyro\.NameServer@localhost:(\d+)").group(1)
    server = start_server(example, "--ns", "--start-timeout", "30", env={"PYRO_NS_PORT": port})
    client = spawn("-c", STAND_IN_CLIENT, server.uri, "60")  # starts on SIGUSR1
    client.wait_for("^created$")
    ns.kill()
    server.signal(signal.SIGTERM)
    server.wait_for(r"^Stopping: 1 workers busy")
    removal = server.wait_for(r"^server: could not remove example\.callback2? from the name server: ",
                              stream="stderr")  # an error line: stderr, as the others
    assert removal.when - server.wait_for("^Stopping").when < 10  # within COMMTIMEOUT (5 s)
    client.signal(signal.SIGUSR1)
    client.wait_for("^called back$")
    assert server.wait(60) == 0
    assert server.stdout.splitlines()[-1] == "Server stopped."
