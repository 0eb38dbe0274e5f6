"""callback/: workers started with oneway calls report back with done(number)."""
import re
import signal

import Pyro4.errors
import pytest

from helpers import daemon_uri, done_numbers


@pytest.mark.parametrize("servertype", ["thread", "multiplex"])
def test_every_worker_calls_back_once(start_server, run_client, servertype):
    server = start_server("callback", "--servertype", servertype)
    client = run_client("callback", server.uri, "--workers", "5", "--work", "0.2", env={"PYRO_SERVERTYPE": servertype})
    assert client.returncode == 0, client.stderr
    assert sorted(done_numbers(client.stdout)) == [1, 2, 3, 4, 5]
    assert client.stdout.splitlines()[-1] == "All 5 workers reported back. Done."
    assert client.stderr == ""


def test_default_work_is_random_whole_seconds(server, run_client):
    client = run_client("callback", server.uri, "--workers", "3")
    assert client.returncode == 0, client.stderr
    assert sorted(done_numbers(client.stdout)) == [1, 2, 3]
    for number in (1, 2, 3):
        amount = server.wait_for(r"Worker %d busy for (\d+) seconds" % number).group(1)
        assert 1 <= int(amount) <= 5


def test_server_keeps_serving_the_next_client(server, run_client):
    first = run_client("callback", server.uri, "--workers", "3", "--work", "0")
    second = run_client("callback", server.uri, "--workers", "4", "--work", "0")
    assert (first.returncode, second.returncode) == (0, 0)
    assert sorted(done_numbers(first.stdout)) == [1, 2, 3]
    assert sorted(done_numbers(second.stdout)) == [4, 5, 6, 7]


def test_every_answer_gets_out_before_the_client_ends(server, run_client):
    # The client counts a worker once it has hung up, after our answer to its done(): a client
    # that ended at the count could exit before the last answer, and that worker would try
    # again, meet a closed port, and report a failure.
    for _ in range(5):
        assert run_client("callback", server.uri, "--workers", "2", "--work", "0").returncode == 0
    server.wait_for("^Worker 10( done|: callback failed)")
    assert "callback failed" not in server.stdout


def test_a_worker_counts_only_once_it_hangs_up_after_its_answer(recorder, spawn, proxy):
    # We play the worker: our done() is answered and printed, but while we keep the connection
    # the client waits on through its checks; our hang-up counts the worker, and it ends.
    client = spawn("callback/client.py", recorder.uri, "--workers", "1", "--work", "0",
                   env={"PYRO_COMMTIMEOUT": "30"})  # its daemon would close our idle connection
    assert recorder.arrived.wait(30)
    handler = proxy(recorder.callbacks[0]._pyroUri)
    handler.done(1)
    client.wait_for("^callback: worker 1 reports work is done!$")
    for _ in range(2):  # two checks after our answer: the client lives on
        with recorder.checks:
            assert recorder.checks.wait(30), client.stdout
    assert client.popen.poll() is None
    handler._pyroRelease()
    assert client.wait(30) == 0, client.stderr


def test_a_check_that_breaks_as_the_last_worker_hangs_up_is_not_an_error(recorder, spawn, proxy):
    # A stopping server ends once its last worker hung up, maybe in the middle of a check:
    # the client has every callback then, and exits 0.
    client = spawn("callback/client.py", recorder.uri, "--workers", "1", "--work", "0",
                   env={"PYRO_COMMTIMEOUT": "30"})  # its daemon would close our idle connection
    assert recorder.arrived.wait(30)
    handler = proxy(recorder.callbacks[0]._pyroUri)
    handler.done(1)
    client.wait_for("^callback: worker 1 reports work is done!$")
    recorder.during_next_check = handler._pyroRelease  # we hang up, and the check breaks
    assert client.wait(30) == 0, client.stderr


def test_a_check_that_breaks_while_a_callback_comes_keeps_the_client(recorder, spawn, proxy):
    # A server that calls back during a check is alive, whatever broke the check: the client
    # waits on (here to its --timeout, since the second worker never reports back).
    client = spawn("callback/client.py", recorder.uri, "--workers", "2", "--work", "0",
                   "--timeout", "8", env={"PYRO_COMMTIMEOUT": "30"})
    client.wait_for("waiting for their callbacks")
    handler = proxy(recorder.callbacks[0]._pyroUri)
    recorder.during_next_check = lambda: handler.done(1)  # then the check breaks
    assert client.wait(30) == 1
    assert client.stderr == "client: timed out after 8 s: 1 of 2 workers reported back"


def test_an_idle_worker_counts_once_the_client_closes_its_connection(recorder, spawn, proxy):
    # We play the worker again, but keep our connection without a word: the client's thread
    # daemon closes it after its COMMTIMEOUT (3 s), and that counts the worker.
    client = spawn("callback/client.py", recorder.uri, "--workers", "1", "--work", "0",
                   env={"PYRO_SERVERTYPE": "thread"})
    assert recorder.arrived.wait(30)
    handler = proxy(recorder.callbacks[0]._pyroUri)
    handler.done(1)
    assert client.wait(30) == 0, client.stderr
    handler._pyroRelease()


def test_finished_workers_leave_the_daemon(server, run_client, registered):
    client = run_client("callback", server.uri, "--workers", "20", "--work", "0")
    assert client.returncode == 0, client.stderr
    server.wait_for("Worker 20 done, called the client back")
    assert registered(server) == ["Pyro.Daemon", "example.callback"]


def test_name_server_mode(nameserver, start_server, run_client):
    server = start_server("callback", "--ns", env=nameserver)
    server.wait_for("Registered example.callback in the name server")
    client = run_client("callback", "PYRONAME:example.callback", "--workers", "2", "--work", "0", env=nameserver)
    assert client.returncode == 0, client.stderr
    assert sorted(done_numbers(client.stdout)) == [1, 2]


def test_client_gives_up_at_its_timeout(example, recorder, run_client):
    client = run_client(example, recorder.uri, "--workers", "2", "--timeout", "0.5", timeout=30)  # no callback comes
    assert client.returncode == 1
    assert client.stderr.strip() == "client: timed out after 0.5 s: 0 of 2 workers reported back"


def test_client_stops_cleanly_on_ctrl_c(example, recorder, spawn):
    client = spawn("%s/client.py" % example, recorder.uri)  # the recorder never calls back
    client.wait_for("waiting for their callbacks")
    client.signal(signal.SIGINT)
    assert client.wait() == 130
    assert client.stderr.strip() == "client: interrupted"


# What --help must show for each script: every option that README.txt lists, and each
# default that it gives, the fixed port of each example among them.
SERVER_HELP = ["--host HOST", "URIs (default: localhost)", "--port PORT", "--ns", "--servertype {thread,multiplex}",
               "(default: thread)", "--start-timeout START_TIMEOUT", "work() (default: 10)"]
CLIENT_HELP = ["uri", "--workers WORKERS", "--timeout TIMEOUT", "--host HOST", "--port PORT"]
HELP = {
    "callback/server.py": SERVER_HELP + ["free port (default: 9123)"],
    "callback2/server.py": SERVER_HELP + ["free port (default: 9124)"],
    "callback/client.py": CLIENT_HELP + ["(default: PYRO:example.callback@localhost:9123)", "start (default: 5)",
                                         "started (default: 120)", "--work WORK", "a random 1 to 5"],
    "callback2/client.py": CLIENT_HELP + ["(default: PYRO:example.callback2@localhost:9124)", "start (default: 1)",
                                          "started (default: 60)"],
}


@pytest.mark.parametrize("script", sorted(HELP))
def test_help_explains_every_option(spawn, script):
    helper = spawn(script, "--help")
    assert helper.wait() == 0
    text = " ".join(helper.stdout.split())
    for shown in HELP[script]:
        assert shown in text
    options = set(re.findall(r"^ +(-[-\w]+)", helper.stdout, re.M)) - {"-h"}
    assert options == {shown.split()[0] for shown in HELP[script] if shown.startswith("--")}


# Bad command lines: each is a usage message and exit 2, for both pairs alike.
BAD_CLIENT_ARGS = [["--workers", "0"], ["--workers", "x"], ["--timeout", "-1"], ["--timeout", "nan"],
                   ["--host", "0.0.0.0"], ["--host", "::"], ["--port", "65536"]]


@pytest.mark.parametrize("args", BAD_CLIENT_ARGS + [["not a uri"], ["PYRO:no-at-sign"]])
def test_client_rejects_bad_arguments(example, run_client, args):
    uri = [] if len(args) == 1 else ["PYRO:x@localhost:1"]
    client = run_client(example, *uri, *args)
    assert client.returncode == 2
    assert "usage:" in client.stderr and "Traceback" not in client.stderr


@pytest.mark.parametrize("args", [["--work", "-1"], ["--work", "nan"], ["--work", "61"]])
def test_client_rejects_a_bad_amount_of_work(run_client, args):
    client = run_client("callback", "PYRO:x@localhost:1", *args)
    assert client.returncode == 2
    assert "usage:" in client.stderr and "Traceback" not in client.stderr


@pytest.mark.parametrize("args", [["--port", "-1"], ["--port", "65536"], ["--port", "x"], ["--host", "0.0.0.0"],
                                  ["--host", "::"], ["--servertype", "select"]])
def test_server_rejects_bad_arguments(example, spawn, args):
    server = spawn("%s/server.py" % example, *args)
    assert server.wait() == 2
    assert "usage:" in server.stderr and "Traceback" not in server.stderr


def test_pyro_variables_still_give_the_server_its_defaults(example, start_server, spawn):
    server = start_server(example, env={"PYRO_SERVERTYPE": "multiplex"})
    assert "(multiplex server type)" in server.wait_for("running").string
    refused = spawn("%s/server.py" % example, env={"PYRO_HOST": "0.0.0.0"})
    assert refused.wait() == 2 and "usage:" in refused.stderr
    refused = spawn("%s/server.py" % example, env={"PYRO_SERVERTYPE": "select"})
    assert refused.wait() == 2 and "PYRO_SERVERTYPE: 'select' is neither" in refused.stderr


def test_a_bad_pyro_servertype_is_a_usage_error_for_the_client_too(example, start_server, spawn):
    refused = spawn("%s/client.py" % example, start_server(example).uri, env={"PYRO_SERVERTYPE": "select"})
    assert refused.wait() == 2, refused.stderr  # its callback daemon is of that type
    assert "PYRO_SERVERTYPE: 'select' is neither thread nor multiplex" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_pyro_variable_still_wins_over_a_script_setting(example, start_server, spawn, recorder, proxy):
    # The scripts set THREADPOOL_SIZE 500; with PYRO_THREADPOOL_SIZE=1 a daemon has one
    # thread, so it turns away a second connection while the first one is open.
    env = {"PYRO_THREADPOOL_SIZE": "1", "PYRO_THREADPOOL_SIZE_MIN": "1"}
    server = start_server(example, env=env)
    client = spawn("%s/client.py" % example, recorder.uri, env=env)  # the recorder never calls back
    location = client.wait_for(r"^Callback daemon listening on (\S+), ").group(1)
    for uri in (daemon_uri(server.uri), "PYRO:Pyro.Daemon@" + location):
        proxy(uri)._pyroBind()
        with pytest.raises(Pyro4.errors.CommunicationError, match="no free workers"):
            proxy(uri)._pyroBind()


def test_each_daemon_serves_60_connections_at_once(example, start_server, spawn, recorder, proxy):
    # Pyro4's thread pool of 40 would turn the 41st away with "no free workers": 60 workers
    # calling back at once, or 60 clients. The scripts allow 500, on both sides.
    server = start_server(example)
    client = spawn("%s/client.py" % example, recorder.uri)  # the recorder never calls back
    location = client.wait_for(r"^Callback daemon listening on (\S+), ").group(1)
    for uri in (daemon_uri(server.uri), "PYRO:Pyro.Daemon@" + location):
        connections = [proxy(uri) for _ in range(60)]
        for connection in connections:
            connection._pyroBind()  # each holds a thread of that daemon while it is open
        assert [connection.ping() for connection in connections] == [None] * 60


def test_callbacks_are_served_while_workers_are_still_being_created(example, recorder, spawn):
    # The stand-in server calls the client's callback daemon from inside each addworker, as
    # a quick worker calls back while the client creates the next one. The client waits for
    # addworker to return, so only a request loop that already runs can answer.
    recorder.ping_callers = True
    client = spawn("%s/client.py" % example, recorder.uri, "--workers", "3")
    client.wait_for("waiting for their callbacks")
    assert recorder.pings == ["answered"] * 3


def test_unknown_name_is_one_clear_line(run_client, nameserver):
    # run_client's deadline (once 5 s here) only catches a hang; the benchmark times
    # the lookups that fail ("no name server"), within 5 s.
    client = run_client("callback", "PYRONAME:example.callback", env=nameserver)
    assert client.returncode == 1
    assert "unknown name: example.callback" in client.stderr and len(client.stderr.splitlines()) == 1


def test_callback_daemon_port_can_be_fixed(server, run_client, free_port):
    client = run_client("callback", server.uri, "--workers", "1", "--work", "0", "--port", str(free_port))
    assert client.returncode == 0, client.stderr
    assert "Callback daemon listening on 127.0.0.1:%d," % free_port in client.stdout
