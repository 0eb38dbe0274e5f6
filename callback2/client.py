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

    def __init__(self):
        self.calls = []
        self.lock = threading.Lock()

    def arrived(self, name):
        # Callbacks run in several threads at once: print and record under a lock,
        # and print first, so that the line is out before the loop sees the count.
        with self.lock:
            print("callback: %s arrived, and it is about to divide by zero" % name, flush=True)
            self.calls.append(name)

    @Pyro4.expose
    def call1(self):
        self.arrived("call1")
        return 1 // 0  # goes back to the worker; nothing is logged here

    @Pyro4.expose
    @Pyro4.callback
    def call2(self):
        self.arrived("call2")
        return 1 // 0  # goes back to the worker, and Pyro4 logs it here as well


class CallbackDaemon(Pyro4.Daemon):
    """A daemon that counts the connections that have closed."""

    def __init__(self, host, port):
        super(CallbackDaemon, self).__init__(host=host, port=port)
        self.closed = 0
        self.lock = threading.Lock()

    def clientDisconnect(self, conn):
        # Pyro4 calls this hook when a connection has ended. After call2 raises,
        # Pyro4 sends the error back, logs the warning, and only then closes the
        # connection. Counting closes lets the loop wait until the last warning is
        # out, instead of exiting while it is still being written.
        with self.lock:
            self.closed += 1


def callback_host(server_uri):
    """The address of the local interface that the server's host is reached through."""
    if "PYRO_HOST" in os.environ:
        return Pyro4.config.HOST
    # A callback daemon on localhost is unreachable from another machine: the
    # server would call its own loopback. So ask the OS which interface routes
    # to the server (a connected UDP socket, nothing is sent).
    return Pyro4.socketutil.getInterfaceAddress(server_uri.host)


def run(uri, workers, timeout, host, port, servertype):
    Pyro4.config.SERVERTYPE = servertype
    try:
        # A PYRONAME: URI is looked up first, so that we know where the server is.
        server_uri = Pyro4.resolve(uri, hmac_key=HMAC_KEY)
    except (Pyro4.errors.PyroError, OSError) as x:  # OSError: the lookup's broadcast can fail
        sys.exit("client: cannot look up %s (name server at PYRO_NS_HOST=%s, PYRO_NS_PORT=%d): %s"
                 % (uri, Pyro4.config.NS_HOST, Pyro4.config.NS_PORT, x))
    try:
        host = host or callback_host(server_uri)
        daemon = CallbackDaemon(host, port)
    except OSError as x:
        sys.exit("client: cannot start the callback daemon on %s port %d: %s" % (host or server_uri.host, port, x))
    daemon._pyroHmacKey = HMAC_KEY
    handler = CallbackHandler()
    daemon.register(handler)
    print("Callback daemon listening on %s, calling %s" % (daemon.locationStr, server_uri), flush=True)

    def waiting():
        """The loop condition: two calls from every worker, and each worker's connection closed."""
        return len(handler.calls) < 2 * workers or daemon.closed < workers

    # Serve callbacks from a thread, starting now, so that a worker's calls are
    # taken while we are still creating the other workers.
    loop = threading.Thread(target=daemon.requestLoop, args=(waiting,), daemon=True)
    loop.start()

    try:
        with Pyro4.Proxy(server_uri) as server:
            server._pyroHmacKey = HMAC_KEY
            for _ in range(workers):
                # AutoProxy both ways: the handler travels as a proxy because it is
                # registered in our daemon, and the worker comes back as a proxy.
                with server.addworker(handler) as worker:
                    worker._pyroHmacKey = HMAC_KEY  # proxies from the wire carry no key
                    worker.work()  # oneway: returns at once
    except Pyro4.errors.CommunicationError as x:
        sys.exit("client: lost the server at %s: %s" % (server_uri, x))
    except Exception as x:
        sys.exit("client: the server at %s refused: %s: %s" % (server_uri, type(x).__name__, x))

    with handler.lock:  # callbacks may be printing already
        print("Started %d workers, waiting for their callbacks..." % workers, flush=True)

    loop.join(timeout)
    if loop.is_alive():
        sys.exit("client: timed out after %g s: received %d of %d callbacks" % (timeout, len(handler.calls), 2 * workers))
    # No daemon.close() here: closing the thread pool alone would take 0.1 s or
    # more (it sleeps, then joins each thread), and exiting closes every socket.
    print("All %d callbacks arrived. Done." % (2 * workers), flush=True)


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
