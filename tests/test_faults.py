"""Faults, hostile input and security: nothing hangs, nothing is lost, every error is one clear line."""
import re
import signal
import socket
import struct
import threading
import time

import Pyro4
import Pyro4.errors
import pytest

from helpers import STAND_IN_CLIENT, done_numbers

KEY = "a shared secret"
OBJECT_IDS = {"callback": "example.callback", "callback2": "example.callback2"}
QUICK = {"callback": ["--work", "0"], "callback2": []}  # a run without waiting


def dead_callback(port):
    """A proxy to a callback object on a port where nothing listens."""
    return Pyro4.Proxy("PYRO:obj_gone@localhost:%d" % port)


def start_work(worker, example):
    """Call work() as that example's client does, for no time at all."""
    worker.work(0) if example == "callback" else worker.work()


def assert_one_clear_line(process):
    assert len(process.stderr.splitlines()) == 1, process.stderr
    assert "Traceback" not in process.stderr + process.stdout


# Faults

def test_killed_client_is_reported_and_its_workers_forgotten(server, spawn, run_client, registered):
    client = spawn("callback/client.py", server.uri, "--workers", "3", "--work", "1")
    client.wait_for("waiting for their callbacks")
    client.kill()
    for number in (1, 2, 3):
        line = server.wait_for(r"^Worker %d: callback failed: " % number).string
        assert re.match(r"^Worker \d: callback failed: cannot connect to "
                        r"\('127\.0\.0\.1', \d+\): .*Connection refused$", line)
    assert "Traceback" not in server.stdout + server.stderr
    assert registered(server) == ["Pyro.Daemon", OBJECT_IDS["callback"]]
    assert run_client("callback", server.uri, "--work", "0").returncode == 0


def test_unreachable_callback_is_one_line_and_the_worker_leaves(example, start_server, run_client, free_port,
                                                                  proxy, registered):
    # A refused connection means the client is gone, and is not tried again. Pyro4 logs each
    # failed connect on the server's stderr: one, not a try every second for 30 s.
    server = start_server(example, env={"PYRO_LOGLEVEL": "ERROR", "PYRO_LOGFILE": "{stderr}"})
    with proxy(server.uri) as callback_server:
        with callback_server.addworker(dead_callback(free_port)) as worker:
            start_work(worker, example)
    line = server.wait_for(r"^Worker 1: callback failed: ", timeout=20).string
    assert line.endswith("Connection refused")
    server.wait_for("cannot connect to", stream="stderr")  # Pyro4's log line, read on its own
    assert server.stderr.count("cannot connect to") == 1
    assert "Traceback" not in server.stdout + server.stderr
    assert registered(server) == ["Pyro.Daemon", OBJECT_IDS[example]]
    assert run_client(example, server.uri, *QUICK[example]).returncode == 0


def test_a_callback_address_that_never_answers_is_one_line(example, start_server, silent_port, proxy, registered):
    # The connection is made, but no answer ever comes: COMMTIMEOUT (15 s here) ends the try,
    # and no other starts, as it could not end within the 30 s of a callback's tries. Without
    # a timeout the worker would wait for good.
    server = start_server(example, env={"PYRO_COMMTIMEOUT": "15"})
    with proxy(server.uri) as callback_server:
        with callback_server.addworker(Pyro4.Proxy("PYRO:obj_silent@localhost:%d" % silent_port)) as worker:
            start_work(worker, example)
    line = server.wait_for(r"^Worker 1: callback failed: ", timeout=40).string
    assert line == "Worker 1: callback failed: receiving: timeout"
    assert "Traceback" not in server.stdout + server.stderr
    assert registered(server) == ["Pyro.Daemon", OBJECT_IDS[example]]


def test_a_callback_refused_for_no_free_workers_is_tried_again(example, start_server, spawn, recorder, proxy):
    # The client's callback daemon gets one thread, and the test holds it with a connection
    # of its own; Pyro4 on the client logs each connection that it turns away. The client
    # starts its worker on the recorder, and the test hands its callback to a real worker.
    env = {"PYRO_THREADPOOL_SIZE": "1", "PYRO_THREADPOOL_SIZE_MIN": "1",
           "PYRO_LOGLEVEL": "WARNING", "PYRO_LOGFILE": "{stderr}"}
    client = spawn("%s/client.py" % example, recorder.uri, "--workers", "1", env=env)
    location = client.wait_for(r"^Callback daemon listening on (\S+), ").group(1)
    assert recorder.arrived.wait(30)
    holder = proxy("PYRO:Pyro.Daemon@" + location)
    holder._pyroBind()
    server = start_server(example)
    with proxy(server.uri) as callback_server:
        with callback_server.addworker(recorder.callbacks[0]) as worker:
            start_work(worker, example)
    client.wait_for("client connection was denied: no free workers", stream="stderr")
    holder._pyroRelease()  # the worker's next try gets the thread
    assert server.wait_for(r"^Worker 1( done|: callback failed)").string.startswith("Worker 1 done")
    assert client.wait() == 0, client.stderr
    assert client.stdout.splitlines()[-1] == "All 1 workers reported back. Done."


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("localhost", 0))
        listener.listen(5)
        yield listener.getsockname()[1]


@pytest.mark.parametrize("case", ["no server", "another example's server", "a port that never answers",
                                  "no name server", "no name server at the URI's address"])
def test_nothing_to_talk_to_is_one_line(example, case, run_client, start_server, free_port, silent_port):
    env = None
    if case == "no server":
        uri = "PYRO:%s@localhost:%d" % (OBJECT_IDS[example], free_port)
    elif case == "another example's server":
        other = start_server("callback2" if example == "callback" else "callback")
        uri = re.sub(r"@.*", "@" + other.uri.split("@")[1], "PYRO:%s@x" % OBJECT_IDS[example])
    elif case == "a port that never answers":
        uri = "PYRO:%s@localhost:%d" % (OBJECT_IDS[example], silent_port)
    elif case == "no name server":
        uri, env = "PYRONAME:" + OBJECT_IDS[example], {"PYRO_NS_PORT": str(free_port)}
    else:
        uri = "PYRONAME:%s@localhost:%d" % (OBJECT_IDS[example], free_port)
    # Without COMMTIMEOUT, the silent port would hang the client for good, and run_client
    # fails at its deadline. The benchmark holds the speed: each case ends within 5 s.
    client = run_client(example, uri, env=env)
    assert client.returncode == 1
    assert_one_clear_line(client)
    if case == "no name server":
        assert client.stderr.startswith("client: cannot look up %s (name server at PYRO_NS_HOST=" % uri)
    elif case == "no name server at the URI's address":  # only that one is asked
        assert client.stderr.startswith("client: cannot look up %s (name server at localhost:%d)"
                                        % (uri, free_port))
    elif case == "another example's server":  # it answers, but has no such object
        assert client.stderr.startswith("client: cannot reach the server at %s: " % uri)
        assert "unknown object" in client.stderr
    else:  # never reached, so never "lost"
        assert client.stderr.startswith("client: cannot reach the server at %s: " % uri)


# A server that takes the first call and then exits, as a server stopping at that moment may.
EXITING_SERVER = """
import os, Pyro4
class Server(object):
    @Pyro4.expose
    def addworker(self, callback):
        os._exit(1)
daemon = Pyro4.Daemon(host="localhost")
print("Server URI: %s" % daemon.register(Server(), "example.exiting"), flush=True)
daemon.requestLoop()
"""


def test_a_server_lost_in_the_first_call_is_lost_not_a_tls_problem(example, spawn, run_client):
    server = spawn("-c", EXITING_SERVER)
    uri = server.wait_for(r"PYRO:\S+").group(0)
    client = run_client(example, uri)
    assert client.returncode == 1
    assert_one_clear_line(client)
    assert client.stderr.startswith("client: lost the server at %s: " % uri)
    assert "TLS" not in client.stderr


def test_a_reset_in_the_first_connection_is_not_a_tls_problem(example, run_client):
    # A port that resets each connection once the handshake arrives, as a process that exits
    # with unread data does: no TLS in sight, so no TLS hint.
    with socket.socket() as listener:
        listener.bind(("localhost", 0))
        listener.listen(5)

        def reset_each():
            while True:
                try:
                    connection = listener.accept()[0]
                except OSError:
                    return  # closed
                connection.recv(1)  # leaves the rest of the handshake unread
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                connection.close()  # with linger 0: a reset
        threading.Thread(target=reset_each, daemon=True).start()
        uri = "PYRO:%s@localhost:%d" % (OBJECT_IDS[example], listener.getsockname()[1])
        client = run_client(example, uri)
    assert client.returncode == 1
    assert_one_clear_line(client)
    assert client.stderr.startswith("client: cannot reach the server at %s: " % uri)
    assert "reset" in client.stderr and "TLS" not in client.stderr


class HangUpThenSilence(object):
    """A callback address that hangs up on each connection for its first seconds, then takes
    connections and never answers."""

    def __init__(self, seconds):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(50)
        self.port = self.listener.getsockname()[1]
        self.until = time.monotonic() + seconds
        self.held = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection = self.listener.accept()[0]
            except OSError:
                return  # closed
            if time.monotonic() < self.until:
                connection.close()
            else:
                self.held.append(connection)

    def close(self):
        self.listener.close()
        for connection in self.held:
            connection.close()


def test_no_callback_try_starts_too_late_to_end_by_the_deadline(example, start_server, proxy):
    # Hung up on at once for 18 s, a worker tries again and again. With COMMTIMEOUT 20 s its
    # last try starts by 10 s, so that its wait would end within the 30 s of its tries. A try
    # started at 18 s would meet the silence and end at 38 s. The bound is loose, for a busy
    # machine.
    server = start_server(example, env={"PYRO_COMMTIMEOUT": "20"})
    peer = HangUpThenSilence(18)
    try:
        with proxy(server.uri) as callback_server:
            with callback_server.addworker(Pyro4.Proxy("PYRO:obj_peer@127.0.0.1:%d" % peer.port)) as worker:
                start_work(worker, example)
        started = server.wait_for(r"^Worker 1 (busy|calls)").when
        failed = server.wait_for(r"^Worker 1: callback failed: ", timeout=60)
    finally:
        peer.close()
    assert "connection lost" in failed.string or "not enough data" in failed.string, failed.string
    assert failed.when - started < 16


def test_a_server_without_its_name_server_is_one_line(example, spawn, free_port):
    server = spawn("%s/server.py" % example, "--port", "0", "--ns", env={"PYRO_NS_PORT": str(free_port)})
    assert server.wait() == 1
    assert_one_clear_line(server)
    assert server.stderr.startswith("server: no name server for %s " % OBJECT_IDS[example])


def test_a_name_server_that_refuses_the_server_is_one_line(example, spawn, free_port):
    # A name server found by broadcast is first asked at the register; this one has another
    # HMAC key. The test answers the server's broadcast for it, as its broadcast server would.
    ns = spawn("-u", "-m", "Pyro4.naming", "--host", "localhost", "--port", "0", "--nobc",
               env={"PYRO_HMAC_KEY": "another key"})
    ns_uri = ns.wait_for(r"URI = (PYRO:\S+)").group(1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as broadcast:
        broadcast.bind(("127.0.0.1", 0))
        broadcast.settimeout(30)
        env = {"PYRO_HMAC_KEY": KEY, "PYRO_NS_PORT": str(free_port),  # nothing there: it broadcasts
               "PYRO_NS_BCPORT": str(broadcast.getsockname()[1])}
        server = spawn("%s/server.py" % example, "--port", "0", "--ns", env=env)
        _, sender = broadcast.recvfrom(100)
        broadcast.sendto(ns_uri.encode(), sender)
        assert server.wait() == 1
    assert_one_clear_line(server)
    assert server.stderr.startswith("server: cannot register %s in the name server at localhost:"
                                    % OBJECT_IDS[example])
    assert server.stderr.endswith("message hmac mismatch")


def test_port_in_use_is_one_line(example, start_server, spawn):
    first = start_server(example)
    port = first.uri.rsplit(":", 1)[1]
    second = spawn("%s/server.py" % example, "--port", port)
    assert second.wait() == 1
    assert_one_clear_line(second)
    assert second.stderr == "server: cannot listen on localhost port %s: Address already in use" % port


def test_a_real_client_completes_past_a_flood_of_bad_connections(example, start_server, run_client):
    # 60 connections hold more than Pyro4's default 40 server threads: silent ones,
    # ones that stop in the middle of a message, and ones that send garbage. The
    # client's deadline (once 20 s) is run_client's: this proves completion, not speed.
    server = start_server(example)
    host, port = server.uri.split("@")[1].rsplit(":", 1)
    flood = []
    try:
        for n in range(60):
            sock = socket.create_connection((host, int(port)), timeout=5)
            if n % 3 == 1:
                sock.sendall(b"PYRO\x00\x30")
            elif n % 3 == 2:
                sock.sendall(b"\x00 this is no Pyro message \xff" * 4)
            flood.append(sock)
        client = run_client(example, server.uri, *QUICK[example])
        assert client.returncode == 0, client.stderr
    finally:
        for sock in flood:
            sock.close()
    assert server.stderr == ""


# Bad input over the wire

class Unregistered(object):
    """A callback object that nobody registered with a daemon."""

    def __init__(self):
        self.received = 0

    @Pyro4.expose
    def done(self, number):
        self.received += 1


def test_addworker_refuses_anything_but_a_proxy(example, start_server, proxy, registered):
    server = start_server(example)
    with proxy(server.uri) as callback_server:
        for value in ("a string", None, {"done": 1}, 42):
            with pytest.raises(TypeError, match="^addworker needs a callback proxy, not "):
                callback_server.addworker(value)
        # An object that nobody registered travels as a dict with its class name,
        # which the server's Pyro4 refuses (see the __main__ case below).
        with pytest.raises(Pyro4.errors.SerializeError,
                           match="unsupported serialized class: test_faults.Unregistered$"):
            callback_server.addworker(Unregistered())
    assert "created" not in server.stdout
    assert registered(server) == ["Pyro.Daemon", OBJECT_IDS[example]]


SCRIPT_WITH_AN_UNREGISTERED_CALLBACK = """
import sys, Pyro4
class Unregistered(object):
    @Pyro4.expose
    def done(self, number):
        pass
server = Pyro4.Proxy(sys.argv[1])
server._pyroTimeout = 5
for value in (Unregistered(), None):
    try:
        server.addworker(value)
    except Exception as x:
        print(type(x).__name__, x, flush=True)
"""


def test_an_unregistered_object_from_a_script_is_refused(example, start_server, spawn, registered):
    # The examples' own classes live in a script run as __main__, as this one's does.
    server = start_server(example)
    caller = spawn("-c", SCRIPT_WITH_AN_UNREGISTERED_CALLBACK, server.uri)
    assert caller.wait() == 0, caller.stderr
    first, second = caller.lines["stdout"]
    assert first == ("SecurityError refused to deserialize types with double underscores "
                     "in their name: __main__.Unregistered")
    assert second.startswith("ConnectionClosedError ")  # the server dropped that connection
    assert "created" not in server.stdout
    assert registered(server) == ["Pyro.Daemon", OBJECT_IDS[example]]


@pytest.mark.parametrize("amount", [-1, "abc", None, 61, True, [1]])
def test_work_refuses_a_bad_amount_and_the_worker_expires(start_server, run_client, free_port, amount, proxy,
                                                          registered):
    server = start_server("callback", "--start-timeout", "1")
    with proxy(server.uri) as callback_server:
        with callback_server.addworker(dead_callback(free_port)) as worker:
            worker.work(amount)  # oneway: the caller hears nothing
    line = server.wait_for(r"^Worker 1: ").string
    assert line == "Worker 1: refused work(%r): not 0 to 60 seconds." % (amount,)
    server.wait_for(r"^1 workers never started within 1 s: removed\.$")
    assert registered(server) == ["Pyro.Daemon", OBJECT_IDS["callback"]]
    assert run_client("callback", server.uri, "--work", "0").returncode == 0


def test_a_refused_worker_still_stops_the_server_at_once(start_server, free_port, proxy):
    # It never runs, so a stop does not wait for it: it has not started, and expires.
    server = start_server("callback", "--start-timeout", "1")
    with proxy(server.uri) as callback_server:
        with callback_server.addworker(dead_callback(free_port)) as worker:
            worker.work(-1)
    server.wait_for(r"^Worker 1: refused work")
    server.signal(signal.SIGTERM)
    assert server.wait(30) == 0
    assert server.stdout.splitlines()[-1] == "Server stopped."


def test_work_with_wrong_arguments_leaves_the_worker_to_a_proper_call(example, start_server, free_port, proxy):
    # Python reports the TypeError of the oneway call's thread on the server's stderr.
    server = start_server(example)
    with proxy(server.uri) as callback_server:
        with callback_server.addworker(dead_callback(free_port)) as worker:
            worker.work(1, 2, 3)
            server.wait_for(r"TypeError: .*were given", stream="stderr")
            start_work(worker, example)
    server.wait_for(r"^Worker 1: callback failed: ")


def test_second_work_call_is_ignored(start_server, run_client, free_port, proxy):
    server = start_server("callback")
    with proxy(server.uri) as callback_server:
        with callback_server.addworker(dead_callback(free_port)) as worker:
            worker.work(60)  # keeps the worker registered, so the second call reaches it
            worker.work(0)
    server.wait_for("^Worker 1: already working, ignored a second work")
    assert server.stdout.count("Worker 1 busy") == 1


def test_a_working_worker_never_expires(start_server, free_port, proxy, registered):
    # Worker 1 works for a minute, worker 2 never starts. The pass that removes worker 2
    # is past worker 1's start deadline too, and must leave worker 1 alone.
    server = start_server("callback", "--start-timeout", "1")
    with proxy(server.uri) as callback_server:
        with callback_server.addworker(dead_callback(free_port)) as worker:
            worker.work(60)
            server.wait_for("^Worker 1 busy for 60 seconds")
        callback_server.addworker(dead_callback(free_port))._pyroRelease()
    line = server.wait_for(r"never started").string
    assert line == "1 workers never started within 1 s: removed."  # worker 2
    assert len(registered(server)) == 3  # the daemon, the server and worker 1


def test_only_the_intended_methods_are_exposed(example, start_server, free_port, proxy):
    server = start_server(example)
    with proxy(server.uri) as callback_server:
        with callback_server.addworker(dead_callback(free_port)) as worker:
            assert callback_server._pyroMethods == {"addworker", "pending"} and callback_server._pyroAttrs == set()
            assert worker._pyroMethods == {"work"} and worker._pyroOneway == {"work"} and worker._pyroAttrs == set()
            # Ask the server directly, past the proxy's own checks: another client's
            # callback proxy must stay out of reach.
            for name in ("_callback", "callback", "_number", "_pyroDaemon", "__dict__"):
                with pytest.raises(AttributeError):
                    worker._pyroInvoke("__getattr__", (name,), None)
            for method in ("__init__", "_pyroDaemon", "__reduce__"):  # real, but not exposed
                with pytest.raises(AttributeError):
                    worker._pyroInvoke(method, (), None)


def test_pickle_is_refused(example, start_server, proxy):
    server = start_server(example)
    with proxy(server.uri) as callback_server:
        callback_server._pyroSerializer = "pickle"
        with pytest.raises(Pyro4.errors.CommunicationError, match="serializer that is not accepted"):
            callback_server.addworker(None)


# Security

def test_everything_listens_on_localhost_by_default(example, start_server, run_client):
    server = start_server(example)
    assert re.match(r"^PYRO:[\w.]+@localhost:\d+$", server.uri)
    client = run_client(example, server.uri, *QUICK[example])
    assert re.search(r"^Callback daemon listening on 127\.0\.0\.1:\d+, ", client.stdout, re.M)


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="this host has no IPv6 loopback (::1)")
def test_the_callback_daemon_listens_on_the_interface_that_reaches_the_server(example, start_server, run_client):
    # No second host needed: a server on ::1 is reached through ::1, not 127.0.0.1.
    # (test_across_machines.py shows the same across two network hosts, as root.)
    server = start_server(example, "--host", "::1")
    client = run_client(example, server.uri, *QUICK[example])
    assert client.returncode == 0, client.stderr
    assert re.search(r"^Callback daemon listening on \[::1\]:\d+, ", client.stdout, re.M)


def test_pyro_host_still_places_the_callback_daemon(example, start_server, run_client):
    server = start_server(example)  # 127.0.0.2 is loopback too, but no interface's own address
    client = run_client(example, server.uri, *QUICK[example], env={"PYRO_HOST": "127.0.0.2"})
    assert client.returncode == 0, client.stderr
    assert re.search(r"^Callback daemon listening on 127\.0\.0\.2:\d+, ", client.stdout, re.M)
    client = run_client(example, server.uri, env={"PYRO_HOST": "0.0.0.0"})
    assert client.returncode == 2 and "usage:" in client.stderr, client.stderr


def test_hmac_key_guards_the_server(example, start_server, run_client, proxy, registered):
    server = start_server(example, env={"PYRO_HMAC_KEY": KEY})
    client = run_client(example, server.uri, *QUICK[example], env={"PYRO_HMAC_KEY": KEY})
    assert client.returncode == 0, client.stderr
    with pytest.raises(Pyro4.errors.CommunicationError, match="hmac"):
        proxy(server.uri)._pyroBind()
    with pytest.raises(Pyro4.errors.CommunicationError, match="hmac"):
        proxy(server.uri, key="a wrong key")._pyroBind()
    assert registered(server, KEY) == ["Pyro.Daemon", OBJECT_IDS[example]]  # the right key gets in


def test_hmac_key_guards_the_client_callback_daemon(example, recorder, spawn, proxy):
    env = {"PYRO_HMAC_KEY": KEY}
    recorder.daemon._pyroHmacKey = KEY  # a server that never calls back, so the client waits
    client = spawn("%s/client.py" % example, recorder.uri, env=env)
    location = client.wait_for(r"^Callback daemon listening on (\S+), ").group(1)
    client.wait_for("waiting for their callbacks")
    with pytest.raises(Pyro4.errors.CommunicationError, match="hmac"):
        proxy("PYRO:Pyro.Daemon@" + location)._pyroBind()
    with proxy("PYRO:Pyro.Daemon@" + location, key=KEY) as daemon:
        assert daemon.ping() is None  # the right key gets in


def test_hmac_key_reaches_the_name_server(example, spawn, start_server, run_client):
    env = {"PYRO_HMAC_KEY": KEY}
    ns = spawn("-u", "-m", "Pyro4.naming", "--host", "localhost", "--port", "0", "--nobc", env=env)
    env["PYRO_NS_PORT"] = ns.wait_for(r"URI = PYRO:Pyro\.NameServer@localhost:(\d+)").group(1)
    server = start_server(example, "--ns", env=env)
    server.wait_for("Registered")
    client = run_client(example, "PYRONAME:" + OBJECT_IDS[example], *QUICK[example], env=env)
    assert client.returncode == 0, client.stderr


# Workers that are never started, and callbacks that come twice

@pytest.mark.parametrize("servertype", ["thread", "multiplex"])
def test_a_flood_of_never_started_workers_expires(example, servertype, start_server, proxy, registered, free_port):
    server = start_server(example, "--servertype", servertype, "--start-timeout", "1")
    callback_server = proxy(server.uri)
    for _ in range(300):
        callback_server.addworker(dead_callback(free_port))._pyroRelease()
    removed = lines = 0
    while removed < 300:  # each line reports a batch
        lines += 1
        removed += int(server.wait_for(r"^(\d+) workers never started within 1 s: removed\.$", count=lines).group(1))
    assert removed == 300
    assert registered(server) == ["Pyro.Daemon", OBJECT_IDS[example]]


def test_an_interrupted_client_leaves_no_worker_behind(example, start_server, spawn, registered):
    server = start_server(example, "--start-timeout", "1")
    client = spawn("-c", STAND_IN_CLIENT, server.uri, "60")  # waits between addworker and work()
    client.wait_for("^created$")
    client.kill()
    server.wait_for(r"^1 workers never started within 1 s: removed\.$")
    assert registered(server) == ["Pyro.Daemon", OBJECT_IDS[example]]


def test_a_slow_client_still_gets_its_callback(example, start_server, spawn):
    server = start_server(example)  # the default start timeout, 10 s
    client = spawn("-c", STAND_IN_CLIENT, server.uri, "2")  # waits 2 s between addworker and work()
    client.wait_for("^called back$")  # so the worker was still there after 2 s


def test_help_gives_the_default_start_timeout(example, spawn):
    helper = spawn("%s/server.py" % example, "--help")
    assert helper.wait() == 0
    assert "waits for work() (default: 10)" in " ".join(helper.stdout.split())


def handler_of(client, proxy):
    """The client's handler, found as any program could: through its daemon's registered()."""
    location = client.wait_for(r"^Callback daemon listening on (\S+), ").group(1)
    handler_id = [name for name in proxy("PYRO:Pyro.Daemon@" + location).registered() if name != "Pyro.Daemon"]
    return proxy("PYRO:%s@%s" % (handler_id[0], location))


def test_a_repeated_done_is_ignored(recorder, spawn, proxy):
    client = spawn("callback/client.py", recorder.uri, "--workers", "2")  # the recorder never calls back
    client.wait_for("waiting for their callbacks")
    handler = handler_of(client, proxy)
    handler.done(1)
    for _ in range(4):
        handler.done(1)
    handler._pyroRelease()  # worker 1 hung up, counted once: the client waits on for worker 2
    with recorder.checks:  # its next check (every 2 s) shows it did not end
        assert recorder.checks.wait(10) and recorder.checks.wait(10), "the client ended early"
    second = handler_of(client, proxy)
    second.done(2)
    second._pyroRelease()
    assert client.wait() == 0, client.stderr
    assert done_numbers(client.stdout) == [1, 2]
    assert client.stderr.splitlines() == ["client: ignored done(1): not a new worker number"] * 4


def test_done_with_wrong_arguments_goes_back_to_the_caller(recorder, spawn, proxy):
    client = spawn("callback/client.py", recorder.uri, "--workers", "1")  # the recorder never calls back
    handler = handler_of(client, proxy)
    with pytest.raises(TypeError, match="positional arguments"):
        handler.done(1, 2)  # a plain call: the error goes back, and the client prints nothing
    handler.done(1)
    handler._pyroRelease()  # the client counts a worker once it has hung up
    assert client.wait() == 0, client.stderr
    assert client.stderr == ""


def test_a_repeated_call_counts_once_for_client2(recorder, spawn):
    client = spawn("callback2/client.py", recorder.uri, "--workers", "2")
    client.wait_for("waiting for their callbacks")
    with recorder.callbacks[0] as handler:
        for _ in range(5):
            with pytest.raises(ZeroDivisionError):
                handler.call1()
        with pytest.raises(ZeroDivisionError):
            handler.call2()  # the client logs it and closes the connection: one worker is in
    with recorder.callbacks[1] as handler:  # a client that had counted more would be gone
        for call in (handler.call1, handler.call2):
            with pytest.raises(ZeroDivisionError):
                call()
    assert client.wait() == 0, client.stderr
    assert client.stdout.count("callback: call1 arrived") == 6
    assert client.stdout.splitlines()[-1] == "All 2 workers reported back. Done."
    assert client.stderr.count("WARNING") == 2


@pytest.mark.parametrize("serializer", ["serpent", "json"])
def test_serpent_and_json_carry_the_callbacks(example, serializer, start_server, run_client):
    env = {"PYRO_SERIALIZER": serializer}
    server = start_server(example, env=env)
    client = run_client(example, server.uri, *QUICK[example], env=env)
    assert client.returncode == 0, client.stderr
    assert client.stdout.splitlines()[-1].endswith("workers reported back. Done.")


@pytest.mark.parametrize("serializer", ["marshal", "pickle", "msgpack"])
def test_other_serializers_are_one_line_that_names_them(example, serializer, start_server, run_client):
    server = start_server(example)
    client = run_client(example, server.uri, env={"PYRO_SERIALIZER": serializer})
    assert client.returncode == 1
    assert_one_clear_line(client)
    assert client.stderr.startswith("client: PYRO_SERIALIZER=%s: use serpent or json" % serializer)


# A client whose handler raises: the error comes back to the worker through Pyro4.
RAISING_CLIENT = """
import sys, threading, Pyro4
class Handler(object):
    @Pyro4.expose
    def done(self, *number): raise ValueError("no thanks")
    call1 = call2 = done
daemon = Pyro4.Daemon()
handler = Handler()
daemon.register(handler)
threading.Thread(target=daemon.requestLoop, daemon=True).start()
with Pyro4.Proxy(sys.argv[1]) as server:
    worker = server.addworker(handler)
    worker.work(0) if "example.callback@" in sys.argv[1] else worker.work()
threading.Event().wait(60)
"""


def test_a_callback_that_raises_still_finishes_its_worker(example, start_server, spawn, registered):
    server = start_server(example)
    spawn("-c", RAISING_CLIENT, server.uri)
    server.wait_for(r"^Worker 1: callback failed: no thanks$")
    assert registered(server) == ["Pyro.Daemon", OBJECT_IDS[example]]


def test_a_worker_that_could_not_go_back_as_a_proxy_still_expires(example, start_server, proxy):
    # Under marshal a caller's proxy comes in, but the new worker cannot go back as a proxy:
    # Pyro4 sends it as a dict, which clears its _pyroDaemon. Its expiry must still remove it.
    server = start_server(example, "--start-timeout", "1")
    caller = proxy(server.uri)
    caller._pyroSerializer = "marshal"  # Pyro4 servers accept it by default
    with pytest.raises(Exception):
        caller.addworker(Pyro4.Proxy("PYRO:callback@localhost:1"))
    server.wait_for(r"^1 workers never started within 1 s: removed\.$")
    server.signal(signal.SIGINT)
    assert server.wait(30) == 0
    assert server.stderr == ""
