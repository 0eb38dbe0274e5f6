"""
Callback example, client side.

The client creates workers on the server and starts each with a oneway call.
To hear back from them it runs a Pyro4 daemon of its own, just like a server,
with a CallbackHandler in it. Every worker calls done(number) on that handler
when it finishes, and the daemon's request loop runs until all have.

Start server.py first, then:

    python client.py
"""
import argparse
import os
import random
import sys
import threading

import Pyro4
import Pyro4.errors
import Pyro4.socketutil

DEFAULT_URI = "PYRO:example.callback@localhost:9123"
MAX_WORK = 60  # seconds; the server refuses longer work

# Every setting below is only a default: a PYRO_<NAME> environment variable still wins.
if "PYRO_POLLTIMEOUT" not in os.environ:
    # The request loop checks loopCondition only between its waits for activity
    # on its sockets, and each wait is a select() of up to POLLTIMEOUT seconds
    # (2.0 by default), in the thread and the multiplex server alike; COMMTIMEOUT
    # plays no part in it. done() is oneway and runs in a thread of its own, so
    # after the last one the loop could sit out most of a wait. A short wait ends
    # the loop within 0.02 s of the last callback. (The thread server's
    # housekeeping thread then wakes as often; both wake-ups cost next to nothing.)
    Pyro4.config.POLLTIMEOUT = 0.02
if "PYRO_COMMTIMEOUT" not in os.environ:
    # Calls to a server that stopped answering fail after 3 s instead of hanging.
    Pyro4.config.COMMTIMEOUT = 3.0
if "PYRO_THREADPOOL_SIZE" not in os.environ:
    # Each worker calls back over a connection of its own, and the thread server
    # serves every connection in its own thread: 40 by default, after which
    # callbacks are refused with "no free workers". Allow a burst of them.
    Pyro4.config.THREADPOOL_SIZE = 500

HMAC_KEY = os.environ.get("PYRO_HMAC_KEY")  # the variable Pyro4's name server tools read too


class CallbackHandler(object):
    """Lives in the client's daemon and counts the workers that are done."""

    def __init__(self, expected, quiet=False):
        self.expected = expected
        self.received = set()  # the numbers of the workers that reported back
        self.quiet = quiet
        self.lock = threading.Lock()

    @Pyro4.expose
    @Pyro4.oneway
    def done(self, number):
        # oneway: the worker does not wait for a reply. So the client may exit as
        # soon as the last done() has been counted, with no reply left unsent.
        if not isinstance(number, int) or isinstance(number, bool):
            print("client: ignored done(%r): not a worker number" % (number,), file=sys.stderr, flush=True)
            return
        line = "callback: worker %d reports work is done!" % number
        # Each oneway call runs in a thread of its own, so several done() calls
        # can run at the same moment. An unlocked count can then lose one, and
        # the client would wait forever. The lock also keeps printed lines whole,
        # and printing before counting means that once the loop sees the last
        # count, the last line is out too. Each worker counts once: a repeated
        # number never brings the end nearer.
        with self.lock:
            if number in self.received:
                print("client: ignored done(%d): worker %d reported back already" % (number, number),
                      file=sys.stderr, flush=True)
                return
            if not self.quiet:
                print(line, flush=True)
            self.received.add(number)

    def waiting(self):
        """The loop condition: serve until every worker has called back."""
        return len(self.received) < self.expected


def report_thread_error(args):
    """One line instead of a traceback when a oneway call fails in its own thread."""
    # done() is oneway, and Pyro4 runs each oneway call in a new thread: a call
    # with the wrong arguments would otherwise end in Python's thread traceback.
    print("client: error in a oneway call: %s: %s" % (args.exc_type.__name__, args.exc_value),
          file=sys.stderr, flush=True)


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


def run(uri, workers, work, timeout, host, port, servertype, quiet):
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
    handler = CallbackHandler(workers, quiet)
    daemon.register(handler)
    print("Callback daemon listening on %s, calling %s" % (daemon.locationStr, server_uri), flush=True)

    # Serve callbacks from a thread, starting now: a quick worker calls back while
    # we are still creating the others. Until the loop accepts them, those calls
    # pile up in the listen backlog (100 in Pyro4) and then time out or are lost.
    loop = threading.Thread(target=daemon.requestLoop, args=(handler.waiting,), daemon=True)
    loop.start()

    started = 0
    try:
        with Pyro4.Proxy(server_uri) as server:
            server._pyroHmacKey = HMAC_KEY
            for started in range(workers):
                # Passing the handler sends a proxy to it, because it is registered
                # in our daemon (AutoProxy), and the server returns a proxy to a worker.
                with server.addworker(handler) as worker:
                    worker._pyroHmacKey = HMAC_KEY  # proxies from the wire carry no key
                    worker.work(random.randint(1, 5) if work is None else work)  # oneway: returns at once
    except Pyro4.errors.CommunicationError as x:
        sys.exit("client: lost the server at %s: %s%s" % (server_uri, x, tls_hint(x, started == 0)))
    except Exception as x:
        sys.exit("client: the server at %s refused: %s: %s" % (server_uri, type(x).__name__, x))
    with handler.lock:  # callbacks are printing already
        print("Started %d workers, waiting for their callbacks..." % workers, flush=True)

    loop.join(timeout)
    if loop.is_alive():
        sys.exit("client: timed out after %g s: %d of %d workers reported back"
                 % (timeout, len(handler.received), workers))
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


def seconds(text):
    value = float(text)
    if not 0 <= value <= MAX_WORK:
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
    parser = argparse.ArgumentParser(description="Callback example client: starts workers on the server "
                                                 "and waits until each has called back.")
    parser.add_argument("uri", nargs="?", type=uri_text, default=DEFAULT_URI,
                        help="the server, as PYRO:... or PYRONAME:example.callback (default: %(default)s)")
    parser.add_argument("--workers", type=positive_int, default=5, help="number of workers (default: 5)")
    parser.add_argument("--work", type=seconds, default=None,
                        help="seconds every worker works, 0 to %d (default: a random 1 to 5 for each)" % MAX_WORK)
    parser.add_argument("--timeout", type=positive_float, default=120.0,
                        help="seconds to wait for callbacks once all workers started (default: 120)")
    parser.add_argument("--host", type=concrete_host, default=None,
                        help="address for the callback daemon (default: the interface that reaches the server)")
    parser.add_argument("--port", type=port_number, default=0,
                        help="port for the callback daemon, for a firewall to let through (default: any free port)")
    parser.add_argument("--servertype", choices=["thread", "multiplex"], default=Pyro4.config.SERVERTYPE,
                        help="server type of the callback daemon (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="print no line for each callback")
    args = parser.parse_args()
    threading.excepthook = report_thread_error
    try:
        run(args.uri, args.workers, args.work, args.timeout, args.host, args.port, args.servertype, args.quiet)
    except KeyboardInterrupt:
        print("client: interrupted", file=sys.stderr)
        sys.exit(130)
