"""Callbacks between two real network hosts: two network namespaces joined by a veth pair."""
import os
import random
import shutil
import subprocess
import types

import pytest

from helpers import done_numbers

QUICK = {"callback": ["--work", "0"], "callback2": []}  # a run without waiting


def ip(*args):
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)


@pytest.fixture
def two_hosts():
    """A server host and a client host on a private /24 of their own; torn down afterwards."""
    if os.geteuid() != 0:
        pytest.skip("making network namespaces needs root")
    if shutil.which("ip") is None:
        pytest.skip("making network namespaces needs the ip command (iproute2)")
    tag = "cbt%d" % os.getpid()  # unique per pytest worker; names stay within 15 characters
    subnet = "10.%d.%d" % (random.randint(100, 254), random.randint(0, 255))
    hosts = types.SimpleNamespace(server_ns=tag + "s", client_ns=tag + "c",
                                  server_ip=subnet + ".1", client_ip=subnet + ".2")
    try:
        made = ip("netns", "add", hosts.server_ns)
        if made.returncode != 0:
            pytest.skip("cannot make a network namespace: " + made.stderr.strip())
        steps = [
            ("netns", "add", hosts.client_ns),
            ("link", "add", tag + "a", "type", "veth", "peer", "name", tag + "b"),
            ("link", "set", tag + "a", "netns", hosts.server_ns),
            ("link", "set", tag + "b", "netns", hosts.client_ns),
            ("-n", hosts.server_ns, "addr", "add", hosts.server_ip + "/24", "dev", tag + "a"),
            ("-n", hosts.client_ns, "addr", "add", hosts.client_ip + "/24", "dev", tag + "b"),
            ("-n", hosts.server_ns, "link", "set", tag + "a", "up"),
            ("-n", hosts.client_ns, "link", "set", tag + "b", "up"),
            ("-n", hosts.server_ns, "link", "set", "lo", "up"),
            ("-n", hosts.client_ns, "link", "set", "lo", "up"),
            # A default route over the veth, so that a name server lookup's
            # broadcast has a way out; it cannot go further than the other host.
            ("-n", hosts.server_ns, "route", "add", "default", "dev", tag + "a"),
            ("-n", hosts.client_ns, "route", "add", "default", "dev", tag + "b"),
        ]
        for step in steps:
            done = ip(*step)
            assert done.returncode == 0, "ip %s: %s" % (" ".join(step), done.stderr)
        hosts.on_server = ("ip", "netns", "exec", hosts.server_ns)
        hosts.on_client = ("ip", "netns", "exec", hosts.client_ns)
        yield hosts
    finally:
        # Deleting a namespace also deletes its end of the veth pair, and so the pair.
        ip("netns", "delete", hosts.client_ns)
        ip("netns", "delete", hosts.server_ns)


@pytest.mark.parametrize("example", ["callback", "callback2"])
def test_client_on_another_host_gets_every_callback(two_hosts, start_server, run_client, example):
    server = start_server(example, "--host", two_hosts.server_ip, prefix=two_hosts.on_server)
    assert "@%s:" % two_hosts.server_ip in server.uri
    client = run_client(example, server.uri, "--workers", "3", *QUICK[example], prefix=two_hosts.on_client)
    assert client.returncode == 0, client.stderr
    # No --host: the client chose the address that routes to the server.
    assert "Callback daemon listening on %s:" % two_hosts.client_ip in client.stdout
    if example == "callback":
        assert sorted(done_numbers(client.stdout)) == [1, 2, 3]
    else:
        assert client.stdout.count("arrived, and it") == 6


def test_name_is_resolved_before_the_address_is_chosen(two_hosts, spawn, start_server, run_client):
    ns = spawn("-u", "-m", "Pyro4.naming", "--host", two_hosts.server_ip, "--port", "0", "--nobc",
               prefix=two_hosts.on_server)
    port = ns.wait_for(r"URI = PYRO:Pyro\.NameServer@[\d.]+:(\d+)").group(1)
    env = {"PYRO_NS_HOST": two_hosts.server_ip, "PYRO_NS_PORT": port}
    server = start_server("callback", "--host", two_hosts.server_ip, "--ns", env=env, prefix=two_hosts.on_server)
    server.wait_for("Registered example.callback")
    client = run_client("callback", "PYRONAME:example.callback", "--workers", "2", *QUICK["callback"], env=env,
                        prefix=two_hosts.on_client)
    assert client.returncode == 0, client.stderr
    assert "Callback daemon listening on %s:" % two_hosts.client_ip in client.stdout


def test_a_callback_daemon_on_loopback_is_never_called(two_hosts, start_server, run_client):
    # The classic mistake, made on purpose: the server calls its own loopback.
    server = start_server("callback", "--host", two_hosts.server_ip, prefix=two_hosts.on_server)
    client = run_client("callback", server.uri, "--workers", "1", "--work", "0", "--host", "127.0.0.1",
                        "--timeout", "60", prefix=two_hosts.on_client)
    assert client.returncode == 1
    assert client.stderr == "client: 1 workers left the server without calling back: 0 of 1 workers reported back"
    assert server.wait_for(r"^Worker 1: callback failed: ").string.endswith("Connection refused")


@pytest.mark.parametrize("example", ["callback", "callback2"])
def test_mutual_tls_across_hosts_with_only_the_environment(two_hosts, start_server, run_client, tmp_path, example):
    trustme = pytest.importorskip("trustme", reason="the TLS tests make their certificates with trustme")
    # One test CA; each side's certificate names the address that its own URIs carry.
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    env = {}
    for side, address in (("server", two_hosts.server_ip), ("client", two_hosts.client_ip)):
        cert = ca.issue_cert(address)
        cert.cert_chain_pems[0].write_to_path(str(tmp_path / (side + ".pem")))
        cert.private_key_pem.write_to_path(str(tmp_path / (side + "-key.pem")))
        env[side] = {"PYRO_SSL": "1", "PYRO_SSL_REQUIRECLIENTCERT": "1", "PYRO_SSL_CACERTS": str(tmp_path / "ca.pem"),
                     "PYRO_SSL_SERVERCERT": str(tmp_path / (side + ".pem")),
                     "PYRO_SSL_SERVERKEY": str(tmp_path / (side + "-key.pem")),
                     "PYRO_SSL_CLIENTCERT": str(tmp_path / (side + ".pem")),
                     "PYRO_SSL_CLIENTKEY": str(tmp_path / (side + "-key.pem"))}
    env["server"]["PYRO_HOST"] = two_hosts.server_ip  # instead of --host: no flags, only the environment
    server = start_server(example, env=env["server"], prefix=two_hosts.on_server)
    assert "@%s:" % two_hosts.server_ip in server.uri
    client = run_client(example, server.uri, "--workers", "3", *QUICK[example], env=env["client"],
                        prefix=two_hosts.on_client)
    assert client.returncode == 0, client.stderr
    assert "Callback daemon listening on %s:" % two_hosts.client_ip in client.stdout
    assert client.stdout.splitlines()[-1] == "All 3 workers reported back. Done."
