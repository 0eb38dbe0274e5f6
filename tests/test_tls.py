"""TLS both ways: each side's daemon serves TLS only, with Pyro4's own PYRO_SSL_* variables and nothing else."""
import re
import socket

import Pyro4.errors
import pytest

from test_counted import Relay, calls_back_at

trustme = pytest.importorskip("trustme", reason="the TLS tests make their certificates with trustme")

QUICK = {"callback": ["--work", "0"], "callback2": []}  # a run without waiting


class Certificates(object):
    """A test CA, and certificates it signed, written to a folder as PEM files."""

    def __init__(self, folder):
        self.folder = folder
        self.ca = trustme.CA()
        self.ca.cert_pem.write_to_path(str(folder / "ca.pem"))

    def issue(self, name, *hosts, ca=None):
        cert = (ca or self.ca).issue_cert(*hosts)
        cert.cert_chain_pems[0].write_to_path(str(self.folder / (name + ".pem")))
        cert.private_key_pem.write_to_path(str(self.folder / (name + "-key.pem")))
        return name

    def env(self, name="local", client_cert=True, cacerts="ca.pem"):
        """Pyro4's variables for a side that serves with this certificate and trusts cacerts."""
        env = {"PYRO_SSL": "1", "PYRO_SSL_REQUIRECLIENTCERT": "1",
               "PYRO_SSL_SERVERCERT": str(self.folder / (name + ".pem")),
               "PYRO_SSL_SERVERKEY": str(self.folder / (name + "-key.pem")),
               "PYRO_SSL_CACERTS": str(self.folder / cacerts)}
        if client_cert:
            env["PYRO_SSL_CLIENTCERT"] = env["PYRO_SSL_SERVERCERT"]
            env["PYRO_SSL_CLIENTKEY"] = env["PYRO_SSL_SERVERKEY"]
        return env


@pytest.fixture
def certs(tmp_path):
    """A test CA and a certificate for this machine (localhost and 127.0.0.1); no file outlives the test."""
    certs = Certificates(tmp_path)
    certs.issue("local", "localhost", "127.0.0.1")
    return certs


def test_mutual_tls_carries_the_calls_and_the_callbacks(example, certs, start_server, run_client, proxy, tmp_path):
    log = tmp_path / "server.log"
    server = start_server(example, env=dict(certs.env(), PYRO_LOGLEVEL="DEBUG", PYRO_LOGFILE=str(log)))
    client = run_client(example, server.uri, "--workers", "2", *QUICK[example], env=certs.env())
    assert client.returncode == 0, client.stderr
    assert client.stdout.splitlines()[-1] == "All 2 workers reported back. Done."
    # Pyro4 logs how each of the server's proxies connected: the callbacks went over TLS.
    connections = re.findall(r"connected to PYRO:obj_\w+@127\.0\.0\.1:\d+ - \w+ - (\w+)", log.read_text())
    assert len(connections) == 2 and set(connections) == {"SSL"}
    with pytest.raises(Pyro4.errors.CommunicationError):
        proxy(server.uri)._pyroBind()  # a plain connection gets nowhere


def test_a_plain_connection_to_the_callback_daemon_is_refused(certs, start_server, spawn, proxy):
    server = start_server("callback", env=certs.env())
    client = spawn("callback/client.py", server.uri, "--workers", "1", "--work", "30", env=certs.env())
    location = client.wait_for(r"^Callback daemon listening on (\S+), ").group(1)
    client.wait_for("waiting for their callbacks")
    with pytest.raises(Pyro4.errors.CommunicationError):
        proxy("PYRO:Pyro.Daemon@" + location).ping()


UNTRUSTED = "untrusted server certificate, or one for another host: check PYRO_SSL_CACERTS"


@pytest.mark.parametrize("case, setting", [
    ("a client without TLS", "the server likely requires TLS: set PYRO_SSL=1"),
    ("a client without a certificate", "check PYRO_SSL_CLIENTCERT"),
    ("a client certificate from another CA", "check PYRO_SSL_CLIENTCERT"),
    ("a server certificate the client does not trust", UNTRUSTED),
    ("a server certificate for another host", UNTRUSTED),
    ("a TLS client against a plain server", "the server likely does not use TLS: check PYRO_SSL"),
])
def test_a_tls_mismatch_is_one_line_that_names_the_setting(example, case, setting, certs, start_server, run_client):
    server_env, client_env = certs.env(), certs.env()
    if case == "a client without TLS":
        client_env = {}
    elif case == "a client without a certificate":
        client_env = certs.env(client_cert=False)
    elif case == "a client certificate from another CA":
        certs.issue("stranger", "localhost", "127.0.0.1", ca=trustme.CA())
        client_env = dict(certs.env(), PYRO_SSL_CLIENTCERT=certs.env("stranger")["PYRO_SSL_SERVERCERT"],
                          PYRO_SSL_CLIENTKEY=certs.env("stranger")["PYRO_SSL_SERVERKEY"])
    elif case == "a TLS client against a plain server":
        server_env = {}
    elif case == "a server certificate the client does not trust":
        certs.issue("stranger", "localhost", "127.0.0.1", ca=trustme.CA())
        server_env = certs.env("stranger")
    else:
        server_env = certs.env(certs.issue("elsewhere", "elsewhere.example"))
    server = start_server(example, env=server_env)
    client = run_client(example, server.uri, env=client_env)
    assert client.returncode == 1
    assert len(client.stderr.splitlines()) == 1 and "Traceback" not in client.stderr
    assert client.stderr.startswith("client: cannot reach the server at %s: " % server.uri)
    assert setting in client.stderr


# An OpenSSL configuration that caps every TLS context at TLS 1.2, for one process.
TLS_1_2 = """openssl_conf = init
[init]
ssl_conf = ssl
[ssl]
system_default = tls
[tls]
MaxProtocol = TLSv1.2
"""


def test_a_rejected_client_certificate_is_named_under_tls_1_2_too(example, certs, start_server, run_client,
                                                                  tmp_path):
    # Under TLS 1.2 the server turns the certificate away inside the handshake, with an alert.
    (tmp_path / "tls12.cnf").write_text(TLS_1_2)
    certs.issue("stranger", "localhost", "127.0.0.1", ca=trustme.CA())
    stranger = certs.env("stranger")
    server = start_server(example, env=certs.env())
    for client_env in (certs.env(client_cert=False),
                       dict(certs.env(), PYRO_SSL_CLIENTCERT=stranger["PYRO_SSL_SERVERCERT"],
                            PYRO_SSL_CLIENTKEY=stranger["PYRO_SSL_SERVERKEY"])):
        client = run_client(example, server.uri, env=dict(client_env, OPENSSL_CONF=str(tmp_path / "tls12.cnf")))
        assert client.returncode == 1
        assert len(client.stderr.splitlines()) == 1 and "Traceback" not in client.stderr
        assert "cannot connect to" in client.stderr and "_ALERT_" in client.stderr  # in the handshake: TLS 1.2
        assert client.stderr.endswith("check PYRO_SSL_CLIENTCERT")


def test_tls_without_a_certificate_for_the_daemon_is_one_line(example, spawn):
    for script in ("server.py", "client.py"):
        process = spawn("%s/%s" % (example, script), *(["--port", "0"] if script == "server.py" else []),
                        env={"PYRO_SSL": "1"})
        assert process.wait() == 1
        assert process.stderr.endswith(": set PYRO_SSL_SERVERCERT and PYRO_SSL_SERVERKEY")
        assert len(process.stderr.splitlines()) == 1


@pytest.mark.parametrize("setting, value, line", [
    ("PYRO_SSL_CACERTS", "missing.pem", ": PYRO_SSL_CACERTS: no such file: "),
    ("PYRO_SSL_SERVERCERT", "missing.pem", ": PYRO_SSL_SERVERCERT: no such file: "),
    ("PYRO_SSL_CLIENTKEY", "garbage.pem", ": cannot load the PYRO_SSL_* certificates and keys: "),
])
def test_a_certificate_file_that_cannot_be_loaded_is_one_line(example, setting, value, line, certs, spawn,
                                                               tmp_path):
    (tmp_path / "garbage.pem").write_text("no certificate or key in here\n")
    env = dict(certs.env(), **{setting: str(tmp_path / value)})
    for script in ("server.py", "client.py"):  # the client would call a port where nobody listens
        process = spawn("%s/%s" % (example, script), "--port", "0",
                        *([] if script == "server.py" else ["PYRO:example@localhost:1"]), env=env)
        assert process.wait() == 1
        assert process.stderr.startswith(script[:-3] + line), process.stderr
        assert len(process.stderr.splitlines()) == 1


def test_a_callback_daemon_the_server_does_not_trust_is_one_line_on_each_side(
        example, certs, start_server, run_client):
    certs.issue("stranger", "localhost", "127.0.0.1", ca=trustme.CA())
    server = start_server(example, env=certs.env())
    # The client trusts the server, but serves its callbacks with a certificate from another CA.
    client_env = dict(certs.env(), PYRO_SSL_SERVERCERT=certs.env("stranger")["PYRO_SSL_SERVERCERT"],
                      PYRO_SSL_SERVERKEY=certs.env("stranger")["PYRO_SSL_SERVERKEY"])
    client = run_client(example, server.uri, "--workers", "1", *QUICK[example], env=client_env)
    started = server.wait_for(r"^Worker 1 (busy|calls)").when
    failed = server.wait_for(r"^Worker 1: callback failed: ")
    assert "CERTIFICATE_VERIFY_FAILED" in failed.string
    assert failed.when - started < 9  # not tried again: the tries would take 30 s
    assert client.returncode == 1  # it learns of the lost callback, and does not wait its --timeout
    assert client.stderr == "client: 1 workers left the server without calling back: 0 of 1 workers reported back"
    assert "Traceback" not in server.stdout + server.stderr


@pytest.fixture
def silent_connections():
    """Open TCP connections to an address that never send a byte; closed afterwards."""
    opened = []

    def open_to(location, count=3):
        host, port = location.rsplit(":", 1)
        opened.extend(socket.create_connection((host, int(port)), timeout=5) for _ in range(count))

    yield open_to
    for sock in opened:
        sock.close()


def test_silent_connections_do_not_stall_a_tls_server(example, certs, start_server, run_client,
                                                       silent_connections):
    # The TLS handshake runs in each connection's own thread, under COMMTIMEOUT, as a plain
    # connection's first message does: in accept() it would hold the daemon's accepting thread.
    server = start_server(example, env=certs.env())
    silent_connections(server.uri.split("@")[1])
    client = run_client(example, server.uri, *QUICK[example], "--timeout", "30", env=certs.env())
    assert client.returncode == 0, client.stderr


def test_silent_connections_do_not_stall_a_tls_callback_daemon(example, certs, start_server, spawn,
                                                                silent_connections):
    server = start_server(example, env=certs.env())
    args = ["--workers", "3", "--work", "2"] if example == "callback" else ["--workers", "30"]
    client = spawn("%s/client.py" % example, server.uri, *args, "--timeout", "30", env=certs.env())
    silent_connections(client.wait_for(r"^Callback daemon listening on (\S+), ").group(1))
    assert client.wait(60) == 0, client.stderr
    assert "callback failed" not in server.stdout


def test_a_server_certificate_the_callback_daemon_rejects_is_not_tried_again(
        example, certs, start_server, spawn):
    certs.issue("stranger", "localhost", "127.0.0.1", ca=trustme.CA())
    # The server's daemon certificate is trusted, but the client certificate it calls back with is not.
    stranger = certs.env("stranger")
    server_env = dict(certs.env(), PYRO_SSL_CLIENTCERT=stranger["PYRO_SSL_SERVERCERT"],
                      PYRO_SSL_CLIENTKEY=stranger["PYRO_SSL_SERVERKEY"],
                      PYRO_LOGLEVEL="ERROR", PYRO_LOGFILE="{stderr}")  # Pyro4 logs each failed try
    server = start_server(example, env=server_env)
    spawn("%s/client.py" % example, server.uri, "--workers", "1", *QUICK[example], env=certs.env())
    failed = server.wait_for(r"^Worker 1: callback failed: ")
    assert "_ALERT_" in failed.string, failed.string  # the callback daemon's alert (TLS 1.2 and 1.3)
    # Under TLS 1.3 a try may end in a bare "EOF occurred in violation of protocol" instead, and
    # is tried again; the first try that gets the alert is the last.
    server.wait_for(r"cannot connect to .*_ALERT_", stream="stderr")
    tries = [line for line in server.stderr.splitlines() if "cannot connect to" in line]
    assert "_ALERT_" in tries[-1] and not any("_ALERT_" in line for line in tries[:-1]), tries
    assert "Traceback" not in server.stdout + server.stderr


def test_a_callback_daemon_that_hangs_up_in_the_tls_handshake_is_tried_again(example, certs, start_server,
                                                                             run_client, free_port):
    # A client's daemon closes a connection whose handshake has not come within its COMMTIMEOUT
    # (a server stopped or starved after connecting): under TLS the worker sees an EOF in the
    # handshake, an ssl.SSLError, and still tries again.
    relay = Relay(free_port, handshake=False)
    try:
        server = start_server(example, env=certs.env())
        client = run_client(example, server.uri, "--workers", "1", "--port", str(free_port), *QUICK[example],
                            env=dict(certs.env(), **calls_back_at(relay.port)))
        assert client.returncode == 0, client.stderr
        assert relay.connections == 2  # the one dropped in its handshake, and the one that got through
        assert server.wait_for(r"^Worker 1( done|: callback failed)").string.startswith("Worker 1 done")
    finally:
        relay.close()
