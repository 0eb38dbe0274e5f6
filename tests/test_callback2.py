"""callback2/: @Pyro4.callback logs a callback's crash on the client too; AutoProxy both ways."""
import re

import Pyro4.errors
import pytest

WARNING = re.compile(r"^WARNING Pyro4\.(?:threadpool|multiplex)server: error during handleRequest: ", re.M)


@pytest.mark.parametrize("servertype", ["thread", "multiplex"])
def test_only_the_callback_method_is_logged_on_the_client(start_server, run_client, servertype):
    server = start_server("callback2", "--servertype", servertype)
    client = run_client("callback2", server.uri, "--workers", "3", env={"PYRO_SERVERTYPE": servertype})
    assert client.returncode == 0, client.stderr
    assert client.stdout.count("callback: call1 arrived") == 3
    assert client.stdout.count("callback: call2 arrived") == 3
    assert client.stdout.splitlines()[-1] == "All 3 workers reported back. Done."
    # One warning per worker, each with the ZeroDivisionError raised in call2; none for call1.
    # The error's own text is CPython's and changes between versions (3.14: "division by
    # zero"), so only its type is checked.
    warnings = WARNING.split(client.stderr)[1:]
    assert len(WARNING.findall(client.stderr)) == 3
    for warning in warnings:
        assert re.search(r"^  File .*client\.py\", line \d+, in call2$", warning, re.M)
        assert re.match(r"ZeroDivisionError(:|$)", warning.rstrip().splitlines()[-1])
    assert "in call1" not in client.stderr


@pytest.mark.parametrize("servertype", ["thread", "multiplex"])
def test_server_prints_both_remote_tracebacks(start_server, run_client, servertype):
    server = start_server("callback2", "--servertype", servertype)
    client = run_client("callback2", server.uri, "--workers", "2")
    assert client.returncode == 0, client.stderr
    server.wait_for("Worker 1 done")
    server.wait_for("Worker 2 done")
    assert len(re.findall(r"^Worker [12]: Traceback ", server.stdout, re.M)) == 4
    assert server.stdout.count("+--- This exception occured remotely (Pyro) - Remote traceback:") == 4
    assert len(re.findall(r"in call1\n", server.stdout)) == 2
    assert len(re.findall(r"in call2\n", server.stdout)) == 2


def test_no_worker_stays_registered(start_server, run_client, registered):
    server = start_server("callback2")
    client = run_client("callback2", server.uri, "--workers", "10")
    assert client.returncode == 0, client.stderr
    server.wait_for("Worker 10 done")
    assert registered(server) == ["Pyro.Daemon", "example.callback2"]


def test_server_keeps_serving_the_next_client(start_server, run_client):
    server = start_server("callback2")
    for _ in range(2):
        client = run_client("callback2", server.uri, "--workers", "2", env={"PYRO_SERVERTYPE": "multiplex"})
        assert client.returncode == 0, client.stderr


def test_name_server_mode(nameserver, start_server, run_client):
    server = start_server("callback2", "--ns", env=nameserver)
    server.wait_for("Registered example.callback2 in the name server")
    client = run_client("callback2", "PYRONAME:example.callback2", env=nameserver)
    assert client.returncode == 0, client.stderr


@pytest.mark.parametrize("servertype", ["thread", "multiplex"])
def test_a_call_after_call2_meets_a_closed_connection_once(recorder, spawn, servertype):
    client = spawn("callback2/client.py", recorder.uri, "--workers", "2", env={"PYRO_SERVERTYPE": servertype})
    assert recorder.arrived.wait(30)
    callback = recorder.callbacks[0]
    with pytest.raises(ZeroDivisionError):
        callback.call1()  # a plain method: the connection stays open
    with pytest.raises(ZeroDivisionError):
        callback.call2()  # @callback: the client logs it and closes the connection
    with pytest.raises(Pyro4.errors.ConnectionClosedError):
        callback.call1()  # a third call through the same proxy meets the closed connection
    with pytest.raises(ZeroDivisionError):
        callback.call1()  # and the next one reconnects
    client.wait_for("^callback: ", count=3)
    arrived = [line.split()[1] for line in client.lines["stdout"] if line.startswith("callback:")]
    assert arrived == ["call1", "call2", "call1"]
    client.wait_for("^WARNING", stream="stderr")
    assert len(WARNING.findall(client.stderr)) == 1


@pytest.mark.parametrize("servertype", ["thread", "multiplex"])
def test_a_worker_is_counted_when_its_connection_closes(recorder, spawn, proxy, servertype):
    # The client counts a worker when its connection closes, after call2's warning is out,
    # not when call2 arrives. Here the stand-in sends call2 oneway: its error stays on the
    # client (one line), and nothing closes the connection until the test lets go of it.
    client = spawn("callback2/client.py", recorder.uri, env={"PYRO_SERVERTYPE": servertype})
    location = client.wait_for(r"^Callback daemon listening on (\S+), ").group(1)
    assert recorder.arrived.wait(30)
    handler = recorder.callbacks[0]
    with pytest.raises(ZeroDivisionError):
        handler.call1()
    handler._pyroOneway.add("call2")
    handler.call2()
    client.wait_for("^ZeroDivisionError", stream="stderr")  # Python's report of the oneway call's thread
    # Both calls have come: that line follows call2's arrival. A request loop that still
    # runs serves two new connections one after the other; a loop that had counted the
    # worker at call2 would have ended before the second.
    for _ in range(2):
        assert proxy("PYRO:Pyro.Daemon@" + location).ping() is None
    handler._pyroRelease()  # now the worker is in
    assert client.wait() == 0, client.stderr
    assert client.stdout.splitlines()[-1] == "All 1 workers reported back. Done."


def test_a_check_that_breaks_while_a_worker_calls_back_keeps_the_client(recorder, spawn, proxy):
    # A server whose worker makes both calls during a check is alive, whatever broke the
    # check: the client waits on (here to its --timeout, since the second worker never calls).
    client = spawn("callback2/client.py", recorder.uri, "--workers", "2", "--timeout", "8")
    client.wait_for("waiting for their callbacks")
    handler = proxy(recorder.callbacks[0]._pyroUri)

    def both_calls():  # then the check breaks
        for call in (handler.call1, handler.call2):
            with pytest.raises(ZeroDivisionError):
                call()
    recorder.during_next_check = both_calls
    assert client.wait(30) == 1
    assert client.lines["stderr"][-1] == "client: timed out after 8 s: 1 of 2 workers reported back"


def test_a_check_that_breaks_as_the_last_worker_hangs_up_is_not_an_error(recorder, spawn, proxy):
    # As in callback/: once every call2 is in, a check that breaks (here, as we hang up) is
    # the end of a stopping server, not a lost one. call2 goes oneway, so that the client keeps
    # our connection open until we let go of it.
    client = spawn("callback2/client.py", recorder.uri, env={"PYRO_COMMTIMEOUT": "30"})
    assert recorder.arrived.wait(30)
    handler = proxy(recorder.callbacks[0]._pyroUri)
    with pytest.raises(ZeroDivisionError):
        handler.call1()
    handler._pyroOneway.add("call2")
    handler.call2()
    client.wait_for("^callback: call2 arrived")
    recorder.during_next_check = handler._pyroRelease  # we hang up, and the check breaks
    assert client.wait(30) == 0, client.stderr
