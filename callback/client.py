"""Callback example, client side. Start server.py first, then this. It starts workers on the
server with oneway calls and serves a CallbackHandler in a daemon of its own until all are done.
"""
import argparse
import os
import random
import sys
import threading
import time

import Pyro4


class CallbackHandler(object):
    def __init__(self, workers, quiet=False):
        self.received = set()  # the numbers of the workers that reported back
        self.workers = workers
        self.quiet = quiet
        self.lock = threading.Lock()

    @Pyro4.expose
    @Pyro4.oneway  # the worker does not wait, and each call runs in a thread of its own
    def done(self, number):
        with self.lock:  # so count under a lock
            if is_new(self, number):
                if not self.quiet:
                    print("callback: worker %d reports work is done!" % number, flush=True)
                self.received.add(number)  # after the line: when the loop ends, all is out
                if len(self.received) == self.workers:  # the last one: wake the requestLoop
                    self._pyroDaemon.transportServer.wakeup()  # to check its loopCondition now


def run(uri, workers, work, timeout, host, port, quiet):
    host = host or Pyro4.socketutil.getInterfaceAddress(uri.host)  # our address toward the server
    try:
        daemon = keyed(Pyro4.Daemon(host=host, port=port))  # our own, for the callbacks
    except OSError as x:
        sys.exit("client: cannot start the callback daemon on %s port %d: %s" % (host, port, x))
    if Pyro4.config.SSL:  # README, TLS: not in accept(), where one silent peer would stall all
        daemon.transportServer.sock.do_handshake_on_connect = False  # in each connection's thread
    handler = CallbackHandler(workers, quiet)
    daemon.register(handler)
    print("Callback daemon listening on %s, calling %s" % (daemon.locationStr, uri), flush=True)
    if daemon.natLocationStr:  # PYRO_NATHOST: the server calls back there (README: NAT)
        print("The server calls it back at %s (PYRO_NATHOST)" % daemon.natLocationStr, flush=True)
    loop = threading.Thread(target=daemon.requestLoop, daemon=True,
                            kwargs={"loopCondition": lambda: len(handler.received) < workers})
    loop.start()  # now: quick workers call back while others are still being created
    try:
        with keyed(Pyro4.Proxy(uri)) as server:
            for started in range(workers):
                with keyed(server.addworker(handler)) as worker:  # AutoProxy, both ways
                    worker.work(random.randint(1, 5) if work is None else work)  # oneway
    except Pyro4.errors.CommunicationError as x:
        sys.exit("client: lost the server at %s: %s%s" % (uri, x, tls_hint(x, started == 0)))
    except Exception as x:
        sys.exit("client: the server at %s refused: %s: %s" % (uri, type(x).__name__, x))
    with handler.lock:  # callbacks may be printing already
        print("Started %d workers, waiting for their callbacks..." % workers, flush=True)
    why = wait(loop, uri, timeout)
    if why:
        sys.exit("client: %s: %d of %d workers reported back"
                 % (why, len(handler.received), workers))
    print("All %d workers reported back. Done." % workers, flush=True)


# Defences: correct under load, faults and hostile input. PYRO_ variables still win (README).
HMAC_KEY = os.environ.get("PYRO_HMAC_KEY")  # README: Security
Pyro4.config.COMMTIMEOUT = float(os.environ.get("PYRO_COMMTIMEOUT", 3))  # no hang on dead peers
Pyro4.config.THREADPOOL_SIZE = int(os.environ.get("PYRO_THREADPOOL_SIZE", 500))  # not 40


def resolve(uri):  # a PYRONAME: is looked up once, for the server's address
    try:
        return Pyro4.resolve(uri, hmac_key=HMAC_KEY)
    except (Pyro4.errors.PyroError, OSError) as x:  # OSError: a broadcast can fail
        sys.exit("client: cannot look up %s (name server at PYRO_NS_HOST=%s, PYRO_NS_PORT=%d): %s"
                 % (uri, Pyro4.config.NS_HOST, Pyro4.config.NS_PORT, x))


def wait(loop, uri, timeout):  # join the loop, and see every 2 s that the server still lives
    deadline, failed = time.monotonic() + timeout, 0
    while True:
        loop.join(min(2, deadline - time.monotonic()))  # 2 s: cheap, and a dead server is seen soon
        if not loop.is_alive() or time.monotonic() >= deadline:
            return "timed out after %g s" % timeout if loop.is_alive() else None
        try:
            keyed(Pyro4.Proxy(uri))._pyroBind()  # a new connection: only a live daemon answers
            failed = 0
        except Pyro4.errors.CommunicationError as x:  # killed: refused at once; frozen: no answer
            failed += 1  # twice in a row
            if failed == 2 or isinstance(x.__cause__, ConnectionRefusedError):
                return "the server at %s stopped answering (%s)" % (uri, x)


def keyed(proxy_or_daemon):  # HMAC (README: Security): a proxy that AutoProxy made has no key
    proxy_or_daemon._pyroHmacKey = HMAC_KEY
    return proxy_or_daemon


def is_new(handler, number):  # each worker counts once: a done(n) that comes again is ignored
    if isinstance(number, int) and not isinstance(number, bool) and number not in handler.received:
        return True
    print("client: ignored done(%r): not a new worker number" % (number,),
          file=sys.stderr, flush=True)
    return False


def tls_hint(error, first_call):  # the likely TLS cause of a failed connection, and what to check
    if "CERTIFICATE_VERIFY_FAILED" in str(error):
        return "; untrusted server certificate, or one for another host: check PYRO_SSL_CACERTS"
    if "WRONG_VERSION_NUMBER" in str(error):
        return "; the server likely does not use TLS: check PYRO_SSL on both sides"
    lost = first_call and isinstance(error, Pyro4.errors.ConnectionClosedError)
    if "_ALERT_" in str(error) or lost and Pyro4.config.SSL:  # TLS 1.2 alerts; TLS 1.3 may hang up
        return "; the server did not accept this client's certificate: check PYRO_SSL_CLIENTCERT"
    if lost:
        return "; the server likely requires TLS: set PYRO_SSL=1 and the PYRO_SSL_* certificates"
    return ""


def ranged(kind, low, high):
    def number(text):
        if not low <= kind(text) <= high:  # NaN fails here too
            raise ValueError(text)
        return kind(text)
    return number


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("uri", nargs="?", default="PYRO:example.callback@localhost:9123",
                        help="the server, PYRO:... or PYRONAME:... (default: %(default)s)")
    parser.add_argument("--workers", type=ranged(int, 1, 10 ** 6), default=5,
                        help="how many workers to start (default: %(default)s)")
    parser.add_argument("--work", type=ranged(float, 0, 60),
                        help="seconds each worker works (default: a random 1 to 5 for each)")
    parser.add_argument("--timeout", type=ranged(float, 0.001, 10 ** 6), default=120,
                        help="seconds to wait once all workers started (default: %(default)s)")
    parser.add_argument("--host", default=os.environ.get("PYRO_HOST"),
                        help="callback daemon's address (default: PYRO_HOST, "
                        "or else the interface that reaches the server)")
    parser.add_argument("--port", type=ranged(int, 0, 65535), default=0,
                        help="port of the callback daemon (default: any free one)")
    parser.add_argument("--servertype", choices=["thread", "multiplex"], help="callback daemon's "
                        "server type (default: %(default)s)", default=Pyro4.config.SERVERTYPE)
    parser.add_argument("--quiet", action="store_true", help="no line for each callback")
    args = parser.parse_args()
    try:
        Pyro4.URI(args.uri)
    except Pyro4.errors.PyroError:
        parser.error("argument uri: %r is no PYRO: or PYRONAME: URI" % args.uri)
    if args.host in ("0.0.0.0", "::", ""):
        parser.error("argument --host: %r is no address that the server can call" % args.host)
    Pyro4.config.SERVERTYPE = args.servertype
    if Pyro4.config.SERIALIZER not in ("serpent", "json"):  # README: Serializers
        sys.exit("client: PYRO_SERIALIZER=%s cannot carry the callback to the server: "
                 "use serpent (the default) or json" % Pyro4.config.SERIALIZER)
    if Pyro4.config.SSL and not Pyro4.config.SSL_SERVERCERT:  # README: TLS, both ways
        sys.exit("client: PYRO_SSL is on, but the callback daemon has no certificate: "
                 "set PYRO_SSL_SERVERCERT and PYRO_SSL_SERVERKEY")
    threading.excepthook = lambda error: print("client: error in a callback thread: %s: %s" % (
        error.exc_type.__name__, error.exc_value), file=sys.stderr, flush=True)
    try:
        run(resolve(args.uri), args.workers, args.work, args.timeout, args.host, args.port,
            args.quiet)
    except KeyboardInterrupt:
        print("client: interrupted", file=sys.stderr)
        sys.exit(130)
