"""
Callback example 2, client side: @Pyro4.callback and AutoProxy.

The client's CallbackHandler has two methods that the server's workers call,
and both crash. call1 is a plain exposed method: its error goes back to the
caller and nothing shows here. call2 is also marked @Pyro4.callback: Pyro4
then logs its error on this side too, as a warning on stderr.

Start server.py first, then:

    python client.py
"""
import argparse
import logging
import os
import sys
import threading

import Pyro4
import Pyro4.errors
import Pyro4.socketutil

DEFAULT_URI = "PYRO:example.callback2@localhost:9124"

# Every setting below is only a default: a PYRO_<NAME> environment variable still wins.
if "PYRO_LOGLEVEL" not in os.environ:
    # @callback only makes Pyro4 log the error, as a warning, so logging must be
    # on. Without PYRO_LOGLEVEL, "import Pyro4" has set the "Pyro4" logger's level
    # to 9999, which silences all of Pyro4 whatever the root logger says, so set
    # levels here, after the import. The warning comes from the socket server
    # that ran the call; the rest of Pyro4 stays quiet, so that our own one-line
    # errors are not doubled. (With PYRO_LOGLEVEL, Pyro4 set up its own logging.)
    logging.basicConfig(stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    for name in ("Pyro4.threadpoolserver", "Pyro4.multiplexserver"):
        logging.getLogger(name).setLevel(logging.WARNING)
if "PYRO_POLLTIMEOUT" not in os.environ:
    # The request loop checks loopCondition only between its waits for activity
    # on its sockets, each a select() of up to POLLTIMEOUT seconds (2.0 by
    # default). The thread server runs the callbacks in other threads, so a short
    # wait ends the loop within 0.02 s of the moment it is done.
    Pyro4.config.POLLTIMEOUT = 0.02
if "PYRO_COMMTIMEOUT" not in os.environ:
    # Calls to a server that stopped answering fail after 3 s instead of hanging.
    Pyro4.config.COMMTIMEOUT = 3.0
if "PYRO_THREADPOOL_SIZE" not in os.environ:
    # Every worker calls back over a connection of its own, and the thread server
    # gives each connection a thread: 40 by default, then "no free workers".
    Pyro4.config.THREADPOOL_SIZE = 500

HMAC_KEY = os.environ.get("PYRO_HMAC_KEY")  # the variable Pyro4's name server tools read too


class CallbackHandler(object):
    """Lives in the client's daemon; both of its methods crash."""

    def __init__(self, expected):
        self.expected = expected
        self.received = 0  # workers that made both calls and closed their connection
        self.calls = {}  # connection: the names of the calls that came over it
        self.lock = threading.Lock()

    def arrived(self, name):
        # Callbacks run in several threads at once: print and record under a lock.
        # Each worker calls over a connection of its own, so a call counts once
        # per connection: a repeated one never brings the end nearer.
        connection = Pyro4.current_context.client
        with self.lock:
            names = self.calls.setdefault(connection, set())
            if name in names:
                print("client: ignored %s(): it came over this connection already" % name,
                      file=sys.stderr, flush=True)
                return
            print("callback: %s arrived, and it is about to divide by zero" % name, flush=True)
            names.add(name)

    def closed(self, connection):
        # Pyro4 calls the daemon's clientDisconnect(connection) hook when a
        # connection has ended. After call2 raises, Pyro4 sends the error back,
        # logs the warning, and only then closes the connection. So a worker
        # counts here, once its warning is out, and the loop never ends while
        # the last one is still being written.
        with self.lock:
            if self.calls.pop(connection, set()) == {"call1", "call2"}:
                self.received += 1

    def waiting(self):
        """The loop condition: serve until every worker has called back."""
        return self.received < self.expected

    @Pyro4.expose
    def call1(self):
        self.arrived("call1")
        return 1 // 0  # goes back to the worker; nothing is logged here

    @Pyro4.expose
    @Pyro4.callback
    def call2(self):
        self.arrived("call2")
        return 1 // 0  # goes back to the worker, and Pyro4 logs it here as well


def callback_host(server_uri):
    """The address of the local interface that the server's host is reached through."""
    if "PYRO_HOST" in os.environ:
        return Pyro4.config.HOST
    # A callback daemon on localhost is unreachable from another machine: the
    # server would call its own loopback. So ask the OS which interface routes
    # to the server (a connected UDP socket, nothing is sent).
    return Pyro4.socketutil.getInterfaceAddress(server_uri.host)


def tls_hint(error, first_call):
    """The likely TLS cause of a failed connection, with the setting to check, or ""."""
    text = str(error)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return ("; the server's certificate is not trusted here, or does not name the host in the URI: "
                "check PYRO_SSL_CACERTS")
    if Pyro4.config.SSL and ("ALERT" in text or "EOF occurred" in text):
        return ("; the server did not accept this client's certificate, or wants one: "
                "check PYRO_SSL_CLIENTCERT and PYRO_SSL_CLIENTKEY")
    if first_call and not Pyro4.config.SSL and "connection lost" in text:
        return "; the server likely requires TLS: set PYRO_SSL=1 and the PYRO_SSL_* certificates"
    return ""


def run(uri, workers, timeout, host, port, servertype):
    Pyro4.config.SERVERTYPE = servertype
    if Pyro4.config.SERIALIZER not in ("serpent", "json"):
        # marshal cannot carry the callback proxy, and a Pyro4 server accepts no
        # pickle or dill unless told to (they would let a caller run code there).
        sys.exit("client: PYRO_SERIALIZER=%s cannot carry the callback to the server: "
                 "use serpent (the default) or json" % Pyro4.config.SERIALIZER)
    if Pyro4.config.SSL and not Pyro4.config.SSL_SERVERCERT:
        # The client serves the callbacks, so with TLS its daemon needs a certificate too.
        sys.exit("client: PYRO_SSL is on, but the callback daemon has no certificate: "
                 "set PYRO_SSL_SERVERCERT and PYRO_SSL_SERVERKEY")
    try:
        # A PYRONAME: URI is looked up first, so that we know where the server is.
        server_uri = Pyro4.resolve(uri, hmac_key=HMAC_KEY)
    except (Pyro4.errors.PyroError, OSError) as x:  # OSError: the lookup's broadcast can fail
        sys.exit("client: cannot look up %s (name server at PYRO_NS_HOST=%s, PYRO_NS_PORT=%d): %s"
                 % (uri, Pyro4.config.NS_HOST, Pyro4.config.NS_PORT, x))
    try:
        host = host or callback_host(server_uri)
        daemon = Pyro4.Daemon(host=host, port=port)
    except OSError as x:
        sys.exit("client: cannot start the callback daemon on %s port %d: %s" % (host or server_uri.host, port, x))
    daemon._pyroHmacKey = HMAC_KEY
    handler = CallbackHandler(workers)
    daemon.register(handler)
    daemon.clientDisconnect = handler.closed
    print("Callback daemon listening on %s, calling %s" % (daemon.locationStr, server_uri), flush=True)

    # Serve callbacks from a thread, starting now, so that a worker's calls are
    # taken while we are still creating the other workers.
    loop = threading.Thread(target=daemon.requestLoop, args=(handler.waiting,), daemon=True)
    loop.start()

    started = 0
    try:
        with Pyro4.Proxy(server_uri) as server:
            server._pyroHmacKey = HMAC_KEY
            for started in range(workers):
                # AutoProxy both ways: the handler travels as a proxy because it is
                # registered in our daemon, and the worker comes back as a proxy.
                with server.addworker(handler) as worker:
                    worker._pyroHmacKey = HMAC_KEY  # proxies from the wire carry no key
                    worker.work()  # oneway: returns at once
    except Pyro4.errors.CommunicationError as x:
        sys.exit("client: lost the server at %s: %s%s" % (server_uri, x, tls_hint(x, started == 0)))
    except Exception as x:
        sys.exit("client: the server at %s refused: %s: %s" % (server_uri, type(x).__name__, x))

    with handler.lock:  # callbacks may be printing already
        print("Started %d workers, waiting for their callbacks..." % workers, flush=True)

    loop.join(timeout)
    if loop.is_alive():
        sys.exit("client: timed out after %g s: %d of %d workers reported back" % (timeout, handler.received, workers))
    # No daemon.close() here: closing the thread pool alone would take 0.1 s or
    # more (it sleeps, then joins each thread), and exiting closes every socket.
    print("All %d workers reported back. Done." % workers, flush=True)


def positive_int(text):
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def positive_float(text):
    value = float(text)
    if not value > 0:
        raise ValueError(text)
    return value


def port_number(text):
    port = int(text)
    if not 0 <= port <= 65535:
        raise ValueError(text)
    return port


def uri_text(text):
    try:
        Pyro4.URI(text)
    except Pyro4.errors.PyroError as x:
        raise argparse.ArgumentTypeError("not a Pyro URI: %s" % x)
    return text


def concrete_host(text):
    if text in ("0.0.0.0", "::", ""):
        raise argparse.ArgumentTypeError("%r is no address a server can call back; give this machine's address" % text)
    return text


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Callback example 2 client: its handler is called back twice "
                                                 "by each worker, and only the @callback method's crash is logged here.")
    parser.add_argument("uri", nargs="?", type=uri_text, default=DEFAULT_URI,
                        help="the server, as PYRO:... or PYRONAME:example.callback2 (default: %(default)s)")
    parser.add_argument("--workers", type=positive_int, default=1, help="number of workers (default: 1)")
    parser.add_argument("--timeout", type=positive_float, default=60.0,
                        help="seconds to wait for callbacks once all workers started (default: 60)")
    parser.add_argument("--host", type=concrete_host, default=None,
                        help="address for the callback daemon (default: the interface that reaches the server)")
    parser.add_argument("--port", type=port_number, default=0,
                        help="port for the callback daemon, for a firewall to let through (default: any free port)")
    parser.add_argument("--servertype", choices=["thread", "multiplex"], default=Pyro4.config.SERVERTYPE,
                        help="server type of the callback daemon (default: %(default)s)")
    args = parser.parse_args()
    try:
        run(args.uri, args.workers, args.timeout, args.host, args.port, args.servertype)
    except KeyboardInterrupt:
        print("client: interrupted", file=sys.stderr)
        sys.exit(130)
