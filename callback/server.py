"""Callback example, server side: start it, then client.py. Workers call done(number) back."""
import argparse
import os
import signal
import socket
import ssl
import sys
import threading
import time

import Pyro4


class Worker(object):
    def __init__(self, number, callback, server):
        self._number = number
        self._callback = callback  # not exposed, so no caller can read it through a proxy
        self._handler = callback._pyroUri.object  # the client's handler: pending() counts by it
        self._server = server  # a stop waits until this worker is finished
        self._unclaimed = threading.Lock()  # taken by the first work() call, or by expiry
        self._deadline = time.monotonic() + START_TIMEOUT  # work() must come by then, or it expires

    @Pyro4.expose
    @Pyro4.oneway  # the caller does not wait: Pyro4 runs work() in a thread (ONEWAY_THREADED)
    def work(self, amount):
        if not may_start(self, amount):
            return
        say("Worker %d busy for %g seconds..." % (self._number, amount))
        time.sleep(amount)
        try:
            call_back(self._callback, lambda: self._callback.done(self._number))  # tried again
            line = "Worker %d done, called the client back." % self._number  # done() returned
        except Exception as x:  # Pyro4's errors, and any that the client's handler raises
            line = "Worker %d: callback failed: %s" % (self._number, x)
        finished(self._server, [self], line)  # only now: until then pending() counts it


class CallbackServer(object):
    def __init__(self):
        self._workers, self._lock = 0, threading.Lock()
        self.busy, self.stops = set(), 0  # the workers not finished yet; Ctrl-C or SIGTERM so far

    @Pyro4.expose
    def addworker(self, callback):  # the client registered its handler, so a proxy comes here
        if not isinstance(callback, Pyro4.Proxy):
            raise TypeError("addworker needs a callback proxy, not %s" % type(callback).__name__)
        if self.stops:
            raise RuntimeError("the server is stopping and takes no new workers")
        callback._pyroHmacKey = HMAC_KEY  # AutoProxy sends no key: give it ours
        with self._lock:  # two calls at once must not get one number (too rare a race to test)
            self._workers += 1
            worker = Worker(self._workers, callback, self)
            self.busy.add(worker)
            self._pyroDaemon.register(worker)
        say("Worker %d created." % worker._number)
        return worker  # registered, so the client receives a proxy to it (AutoProxy)

    @Pyro4.expose
    def pending(self, callback):  # the client's check: how many of its workers are not finished
        handler = callback._pyroUri.object  # its unique id in the client's daemon
        return sum(1 for worker in self.busy.copy() if worker._handler == handler)

    def stop(self, signum, frame):  # a signal handler: a KeyboardInterrupt would break off a call
        self.stops += 1  # the loop checks its condition at once: wake_on_signals()


def serve(host, port, ns):
    try:
        daemon = Pyro4.Daemon(host=host, port=port)
    except OSError as x:
        sys.exit("server: cannot listen on %s port %d: %s" % (host, port, x.strerror or x))
    daemon._pyroHmacKey = HMAC_KEY
    if Pyro4.config.SSL:  # README, TLS: not in accept(), where one silent peer would stall all
        daemon.transportServer.sock.do_handshake_on_connect = False
    server = CallbackServer()
    daemon.housekeeping = lambda: expire_workers(server)  # README: Workers that are never started
    uri = daemon.register(server, OBJECT_ID)
    signal.signal(signal.SIGINT, server.stop)  # Ctrl-C
    signal.signal(signal.SIGTERM, server.stop)  # how a service manager stops a process
    wake_on_signals(daemon)
    if ns:
        try:
            ns.register(OBJECT_ID, uri)
        except Pyro4.errors.PyroError as x:  # one found by broadcast is first asked here
            sys.exit("server: cannot register %s in the name server at %s: %s"
                     % (OBJECT_ID, ns._pyroUri.location, x))
        say("Registered %s in the name server." % OBJECT_ID)
    say("Server URI: %s" % uri)
    say("Callback server running (%s server type), Ctrl-C stops it." % Pyro4.config.SERVERTYPE)
    daemon.requestLoop(loopCondition=lambda: not server.stops)
    remover = threading.Thread(target=remove_name, args=(ns,), daemon=True)
    if ns:  # in a thread of its own: the drain starts now, whatever the name server does
        remover.start()
    if server.busy:  # the drain: like the client's loop, this one ends on a count
        say("Stopping: %d workers busy. Ctrl-C again to stop without them." % len(server.busy))
        end = time.monotonic() + 90  # a 60 s job and its callback: README, Stopping
        daemon.requestLoop(lambda: server.stops < 2 and server.busy and time.monotonic() < end)
    while remover.is_alive() and server.stops < 2:  # the exit waits for it, but not after a
        remover.join(0.5)  # second signal: a name server that trickles bytes would hold it for good
    output_lock.acquire()  # kept: Python aborts its exit if a worker thread holds stdout
    if server.busy:  # the daemon is left open: a late signal or worker may still wake it
        sys.exit("server: stopped; the callbacks of %d busy workers are lost" % len(server.busy))
    print("Server stopped.", flush=True)


# Defences against load, faults and hostile input (their limits: README). PYRO_ variables win.
OBJECT_ID = "example.callback"
START_TIMEOUT = 10  # seconds from addworker to work(); README: Workers that are never started
HMAC_KEY = os.environ.get("PYRO_HMAC_KEY")  # README: Security
output_lock = threading.Lock()
Pyro4.config.COMMTIMEOUT = float(os.environ.get("PYRO_COMMTIMEOUT", 5))  # no hang on dead peers
Pyro4.config.THREADPOOL_SIZE = int(os.environ.get("PYRO_THREADPOOL_SIZE", 500))  # not 40


def say(text, file=None):  # stdout, or sys.stderr for an error
    with output_lock:  # workers print from many threads: one whole line at a time
        print(text, file=file, flush=True)


def wake_on_signals(daemon):  # a handler only sets stops: the loop's select() sleeps on (up to
    # POLLTIMEOUT), and when the kernel gives the signal to another thread, Python runs the handler
    # only after it. So Python also writes a byte per signal to this socket pair, and our thread
    # wakes the loop.
    reader, writer = socket.socketpair()
    writer.setblocking(False)  # Python refuses a blocking one: a signal must never wait
    signal.set_wakeup_fd(writer.fileno())
    threading.Thread(target=wake, args=(daemon, reader, writer), daemon=True).start()


def wake(daemon, reader, writer):  # holds both ends: once collected, a socket is closed
    while reader.recv(1):  # a signal came
        daemon.transportServer.wakeup()


def finished(server, workers, line):
    for worker in workers:
        worker._callback._pyroRelease()  # we hang up: the client counts a worker only then
        server._pyroDaemon.unregister(worker)  # it leaves the daemon: no proxy reaches it now
        # (not worker._pyroDaemon: a worker sent back as a dict, under marshal, has lost it)
    say(line)  # before a stop may end: the process would not wait for this thread
    server.busy.difference_update(workers)  # a stop waits for the busy ones: README, Stopping
    if server.stops and not server.busy:  # the drain's last worker wakes its loop (no POLLTIMEOUT),
        # from a thread: an expiry runs in the multiplex loop, and with its listen backlog full,
        # the wakeup() connection would wait for that loop, that is for itself
        threading.Thread(target=server._pyroDaemon.transportServer.wakeup, daemon=True).start()


def may_start(worker, amount):  # a refused worker stays unclaimed: work() again, or it expires
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not 0 <= amount <= 60:
        say("Worker %d: refused work(%r): not 0 to 60 seconds." % (worker._number, amount))
    elif not worker._unclaimed.acquire(blocking=False):
        say("Worker %d: already working, ignored a second work() call." % worker._number)
    else:
        return True


def call_back(callback, call):  # a callback that fails while the client lives is tried again
    last_try = time.monotonic() + 30 - Pyro4.config.COMMTIMEOUT  # a try's first wait ends by 30 s
    delay = 0.05
    while True:
        try:
            return call()  # it connects first; the client ignores a done() that comes twice
        except Pyro4.errors.CommunicationError as x:
            callback._pyroRelease()
            hung_up = isinstance(x.__cause__, (ssl.SSLEOFError, ssl.SSLZeroReturnError))  # TLS EOF
            gone = isinstance(x.__cause__, (ConnectionRefusedError, ssl.SSLError)) and not hung_up
            if gone or "_ALERT_" in str(x) or time.monotonic() + delay > last_try:
                raise  # refused, by TCP or TLS (a TLS 1.3 _ALERT_ may come after the handshake)
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def expire_workers(server):
    now = time.monotonic()  # Pyro4 runs housekeeping() in one thread at a time
    expired = [w for w in server.busy.copy() if w._deadline <= now and w._unclaimed.acquire(False)]
    if expired:  # a copy of busy, which other threads change: a race too rare for a test
        finished(server, expired, "%d workers never started within %g s: removed."
                 % (len(expired), START_TIMEOUT))


def name_server():  # looked up once: the stop uses this proxy again, on a new connection
    try:
        return Pyro4.locateNS(hmac_key=HMAC_KEY)
    except (Pyro4.errors.PyroError, OSError) as x:  # OSError: a broadcast can fail
        sys.exit("server: no name server for %s (PYRO_NS_HOST=%s, PYRO_NS_PORT=%d): %s"
                 % (OBJECT_ID, Pyro4.config.NS_HOST, Pyro4.config.NS_PORT, x))


def remove_name(ns):  # a failure is one line, and the exit status is the drain's
    try:
        ns._pyroRelease()  # a name server may have closed the connection we kept: connect anew
        ns.remove(OBJECT_ID)
        say("Removed %s from the name server." % OBJECT_ID)
    except Pyro4.errors.PyroError as x:
        say("server: could not remove %s from the name server: %s" % (OBJECT_ID, x), sys.stderr)


def load_certificates():  # now, so that a bad file is one line, not a failed call later; and
    # Pyro4 makes the proxies' context at first use, unlocked: workers could get a half-made one
    config = Pyro4.config
    for name in ("SSL_SERVERCERT", "SSL_SERVERKEY", "SSL_CLIENTCERT", "SSL_CLIENTKEY",
                 "SSL_CACERTS"):
        if getattr(config, name) and not os.path.exists(getattr(config, name)):
            sys.exit("server: PYRO_%s: no such file: %s" % (name, getattr(config, name)))
    try:
        Pyro4.socketutil.getSSLcontext(  # for our daemon
            servercert=config.SSL_SERVERCERT, serverkey=config.SSL_SERVERKEY,
            keypassword=config.SSL_SERVERKEYPASSWD, cacerts=config.SSL_CACERTS)
        Pyro4.socketutil.getSSLcontext(  # for our proxies
            clientcert=config.SSL_CLIENTCERT, clientkey=config.SSL_CLIENTKEY,
            keypassword=config.SSL_CLIENTKEYPASSWD, cacerts=config.SSL_CACERTS)
    except OSError as x:  # ssl.SSLError too: a file with no certificate or key, a wrong password
        sys.exit("server: cannot load the PYRO_SSL_* certificates and keys: %s" % x)


def ranged(kind, low, high):
    def number(text):
        if not low <= kind(text) <= high:  # NaN fails here too
            raise ValueError(text)
        return kind(text)
    return number


if __name__ == "__main__":
    parser = argparse.ArgumentParser(  # --help shows each default
        description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--host", default=Pyro4.config.HOST, help="address to listen on, in URIs")
    parser.add_argument("--port", type=ranged(int, 0, 65535), default=9123,
                        help="port to listen on, 0 for any free port")
    parser.add_argument("--ns", action="store_true", help="also register in the name server")
    parser.add_argument("--servertype", choices=["thread", "multiplex"], help="Pyro4 server type",
                        default=Pyro4.config.SERVERTYPE)
    parser.add_argument("--start-timeout", type=ranged(float, 0.1, 30), default=START_TIMEOUT,
                        help="seconds a new worker waits for work()")
    args = parser.parse_args()
    if args.host in ("0.0.0.0", "::", ""):  # it would go into every URI: README, Across machines
        parser.error("argument --host: %r is no address that a client can call" % args.host)
    if args.servertype not in ("thread", "multiplex"):  # argparse checks given ones, not defaults
        parser.error("PYRO_SERVERTYPE: %r is neither thread nor multiplex" % args.servertype)
    Pyro4.config.SERVERTYPE, START_TIMEOUT = args.servertype, args.start_timeout
    if Pyro4.config.SSL and not Pyro4.config.SSL_SERVERCERT:
        sys.exit("server: PYRO_SSL is on: set PYRO_SSL_SERVERCERT and PYRO_SSL_SERVERKEY")
    if Pyro4.config.SSL:
        load_certificates()
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # till serve() sets its own: Ctrl-C just ends it
    serve(args.host, args.port, name_server() if args.ns else None)
