"""Callback example, client side: start server.py first. Its workers call done() back here."""
import argparse
import os
import random
import sys
import threading
import time

import Pyro4


class CallbackHandler(object):
    def __init__(self, workers):
        self.received = set()  # the numbers of the workers that reported back
        self.callers = {}  # connection: how many reported back over it, until it closes
        self.finished = 0  # workers that reported back and hung up: they have had our answer
        self.workers = workers
        self.lock = threading.Lock()

    @Pyro4.expose
    def done(self, number):  # a plain call: its worker learns that it arrived (README, departure 6)
        with self.lock:  # done() calls run in several threads at once: count under a lock
            if type(number) is not int or number in self.received:  # each worker counts once
                print("client: ignored done(%r): not a new worker number" % (number,),
                      file=sys.stderr, flush=True)
                return
            print("callback: worker %d reports work is done!" % number, flush=True)
            self.received.add(number)
            connection = Pyro4.current_context.client  # our answer to it is not out yet
            self.callers[connection] = self.callers.get(connection, 0) + 1

    def closed(self, connection):  # clientDisconnect(): a worker has our answer, and hung up
        with self.lock:
            self.finished += self.callers.pop(connection, 0)
            if self.finished >= self.workers:  # the last one: wake the requestLoop
                self._pyroDaemon.transportServer.wakeup()  # to check its loopCondition now


def run(server, workers, work, timeout, host, port):
    uri = server._pyroUri  # a PYRONAME: was looked up
    host = host or Pyro4.socketutil.getInterfaceAddress(uri.host)  # our address toward the server
    try:
        daemon = keyed(Pyro4.Daemon(host=host, port=port))  # our own, for the callbacks
    except OSError as x:
        sys.exit("client: cannot start the callback daemon on %s port %d: %s" % (host, port, x))
    if Pyro4.config.SSL:  # README, TLS: not in accept(), where one silent peer would stall all
        daemon.transportServer.sock.do_handshake_on_connect = False
    handler = CallbackHandler(workers)
    daemon.register(handler)
    daemon.clientDisconnect = handler.closed
    print("Callback daemon listening on %s, calling %s" % (daemon.locationStr, uri), flush=True)
    loop = threading.Thread(target=daemon.requestLoop, daemon=True,
                            kwargs={"loopCondition": lambda: handler.finished < workers})
    loop.start()  # now: quick workers call back while others are still being created
    try:
        with server:  # then it hangs up: each check connects anew, and only a live daemon answers
            for _ in range(workers):
                with keyed(server.addworker(handler)) as worker:  # AutoProxy, both ways
                    worker.work(random.randint(1, 5) if work is None else work)  # oneway
    except Pyro4.errors.CommunicationError as x:
        why = "lost the server at %s: %s" % (uri, x)
    except Exception as x:
        why = "the server at %s refused: %s: %s" % (uri, type(x).__name__, x)
    else:
        with handler.lock:  # callbacks may be printing already
            print("Started %d workers, waiting for their callbacks..." % workers, flush=True)
        why = wait(loop, server, timeout, handler)
        if why:
            why += ": %d of %d workers reported back" % (len(handler.received), workers)
    handler.lock.acquire()  # kept: Python aborts its exit if a callback's thread holds stdout
    if why:
        sys.exit("client: " + why)
    print("All %d workers reported back. Done." % workers, flush=True)


# Defences against load, faults and hostile input (their limits: README). PYRO_ variables win.
HMAC_KEY = os.environ.get("PYRO_HMAC_KEY")  # README: Security
Pyro4.config.COMMTIMEOUT = float(os.environ.get("PYRO_COMMTIMEOUT", 3))  # no hang on dead peers
Pyro4.config.THREADPOOL_SIZE = int(os.environ.get("PYRO_THREADPOOL_SIZE", 500))  # not 40


def reach(uri):  # look a PYRONAME: up once, and connect: if either fails, there is no server
    try:
        server = keyed(Pyro4.Proxy(Pyro4.resolve(uri, hmac_key=HMAC_KEY)))
    except (Pyro4.errors.PyroError, OSError) as x:  # OSError: a broadcast can fail
        asked = Pyro4.URI(uri).location or "PYRO_NS_HOST=%s, PYRO_NS_PORT=%d" % (
            Pyro4.config.NS_HOST, Pyro4.config.NS_PORT)  # PYRONAME:name@host:port asks only that
        sys.exit("client: cannot look up %s (name server at %s): %s" % (uri, asked, x))
    try:
        server._pyroBind()
    except Pyro4.errors.CommunicationError as x:
        sys.exit("client: cannot reach the server at %s: %s%s" % (server._pyroUri, x, tls_hint(x)))
    return server


def wait(loop, server, timeout, handler):  # join the loop; check our workers every 2 s
    deadline = time.monotonic() + timeout
    server._pyroTimeout = 10  # for the checks: a busy server may be slow, a frozen one is silent
    while True:
        loop.join(min(2, deadline - time.monotonic()))  # 2 s: cheap, and a lost worker is seen soon
        if not loop.is_alive() or time.monotonic() >= deadline:
            return "timed out after %g s" % timeout if loop.is_alive() else None
        arrived = len(handler.received)  # a callback is a sign of life too
        try:  # pending() before our count: a worker leaves the server only once it is counted
            with server:  # it hangs up after each check: each one connects anew
                lost = handler.workers - server.pending(handler) - len(handler.received)
        except Pyro4.errors.CommunicationError as x:  # killed: refused; frozen: a timeout
            busy = "no free workers" in str(x)  # an answer: all its threads are in use
            alive = busy or len(handler.received) > arrived  # or it called back meanwhile
            all_in = len(handler.received) == handler.workers  # the loop ends as they hang up
            # (a frozen server's: a thread daemon closes them after 3 s idle; multiplex, never)
            if not alive and not all_in:
                return "the server at %s stopped answering (%s)" % (server._pyroUri, x)
            continue
        except Exception as x:  # an answer, but not ours: another program at that address
            return "the server at %s failed our check: %s: %s" % (
                server._pyroUri, type(x).__name__, x)
        if lost > 0:  # their callbacks failed for good, or the server is a new one
            return "%d workers left the server without calling back" % lost


def keyed(proxy_or_daemon):  # HMAC (README: Security): a proxy that AutoProxy made has no key
    proxy_or_daemon._pyroHmacKey = HMAC_KEY
    return proxy_or_daemon


def tls_hint(error):  # the likely TLS cause of a failed first connection, and what to check
    hung_up = isinstance(error, Pyro4.errors.ConnectionClosedError) and "reset" not in str(error)
    if "CERTIFICATE_VERIFY_FAILED" in str(error):
        return "; untrusted server certificate, or one for another host: check PYRO_SSL_CACERTS"
    if "WRONG_VERSION_NUMBER" in str(error):
        return "; the server likely does not use TLS: check PYRO_SSL on both sides"
    if "_ALERT_" in str(error) or (hung_up and Pyro4.config.SSL):  # or TLS 1.3 hangs up
        return "; the server did not accept this client's certificate: check PYRO_SSL_CLIENTCERT"
    plain = "; the server likely requires TLS: set PYRO_SSL=1 and the PYRO_SSL_* certificates"
    return plain if hung_up else ""  # a TLS server hangs up on a plain handshake: no reset


def load_certificates():  # now, so that a bad file is one line, not a failed call later
    config = Pyro4.config
    for name in ("SSL_SERVERCERT", "SSL_SERVERKEY", "SSL_CLIENTCERT", "SSL_CLIENTKEY",
                 "SSL_CACERTS"):
        if getattr(config, name) and not os.path.exists(getattr(config, name)):
            sys.exit("client: PYRO_%s: no such file: %s" % (name, getattr(config, name)))
    try:
        Pyro4.socketutil.getSSLcontext(  # for our daemon
            servercert=config.SSL_SERVERCERT, serverkey=config.SSL_SERVERKEY,
            keypassword=config.SSL_SERVERKEYPASSWD, cacerts=config.SSL_CACERTS)
        Pyro4.socketutil.getSSLcontext(  # for our proxies
            clientcert=config.SSL_CLIENTCERT, clientkey=config.SSL_CLIENTKEY,
            keypassword=config.SSL_CLIENTKEYPASSWD, cacerts=config.SSL_CACERTS)
    except OSError as x:  # ssl.SSLError too: a file with no certificate or key, a wrong password
        sys.exit("client: cannot load the PYRO_SSL_* certificates and keys: %s" % x)


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
    parser.add_argument("--host", default=os.environ.get("PYRO_HOST"), help="callback daemon's "
                        "address (default: PYRO_HOST, or the interface that reaches the server)")
    parser.add_argument("--port", type=ranged(int, 0, 65535), default=0,
                        help="port of the callback daemon (default: any free one)")
    args = parser.parse_args()
    try:
        Pyro4.URI(args.uri)
    except Pyro4.errors.PyroError:
        parser.error("argument uri: %r is no PYRO: or PYRONAME: URI" % args.uri)
    if args.host in ("0.0.0.0", "::", ""):
        parser.error("argument --host: %r is no address that the server can call" % args.host)
    if Pyro4.config.SERVERTYPE not in ("thread", "multiplex"):  # our daemon's type
        parser.error("PYRO_SERVERTYPE: %r is neither thread nor multiplex"
                     % Pyro4.config.SERVERTYPE)
    if Pyro4.config.SERIALIZER not in ("serpent", "json"):  # README: Serializers
        sys.exit("client: PYRO_SERIALIZER=%s: use serpent or json: of those Pyro4 servers "
                 "accept by default, only these carry proxies both ways" % Pyro4.config.SERIALIZER)
    if Pyro4.config.SSL and not Pyro4.config.SSL_SERVERCERT:  # README: TLS, both ways
        sys.exit("client: PYRO_SSL is on, but the callback daemon has no certificate: "
                 "set PYRO_SSL_SERVERCERT and PYRO_SSL_SERVERKEY")
    if Pyro4.config.SSL:
        load_certificates()
    try:
        run(reach(args.uri), args.workers, args.work, args.timeout, args.host, args.port)
    except KeyboardInterrupt:
        print("client: interrupted", file=sys.stderr)
        sys.exit(130)
