"""
Callback example 2, server side: @Pyro4.callback and AutoProxy.

The client sends a callback object, and gets a worker back: both travel as
proxies (AutoProxy). The worker calls the client back twice, with call1()
and call2(). Both crash on the client, and the worker prints the traceback
that comes back with each error. Only call2 is marked @Pyro4.callback, so
only its crash is also logged on the client's side.

Run it, then run client.py in another terminal:

    python server.py
"""
import argparse
import collections
import os
import signal
import ssl
import sys
import threading
import time

import Pyro4
import Pyro4.errors
import Pyro4.util

DEFAULT_PORT = 9124  # client.py uses the same default, so no name server is needed
OBJECT_ID = "example.callback2"
START_TIMEOUT = 10  # seconds; a worker whose work() is not called by then leaves the daemon

# Every setting below is only a default: a PYRO_<NAME> environment variable still wins.
if "PYRO_COMMTIMEOUT" not in os.environ:
    # Pyro4 waits forever on a socket by default (COMMTIMEOUT 0.0). With a timeout,
    # a callback to a client that stopped answering fails instead of hanging a worker,
    # and a connection that sends nothing gives its server thread back after 5 s.
    Pyro4.config.COMMTIMEOUT = 5.0
if "PYRO_THREADPOOL_SIZE" not in os.environ:
    # The thread server gives each open connection a thread of its own, 40 at most
    # by default, and refuses the next one with "no free workers". Every client keeps
    # a connection open while it creates workers, and idle or half-open connections
    # hold a thread until COMMTIMEOUT drops them, so allow many more.
    Pyro4.config.THREADPOOL_SIZE = 500

# Not set here, on purpose: SERIALIZERS_ACCEPTED. Pyro4 4.82 accepts serpent,
# marshal and json, never pickle, which would let a caller run code in this
# process. Keep that default.

HMAC_KEY = os.environ.get("PYRO_HMAC_KEY")  # the variable Pyro4's name server tools read too

output_lock = threading.Lock()


def say(text):
    """Print one line (or block) at once; workers print from many threads."""
    with output_lock:
        print(text, flush=True)


class Worker(object):
    """Calls the client back twice, and shows what each call raised."""

    def __init__(self, number, callback):
        # Attributes are never reachable through a proxy: Pyro4 only serves what is
        # @expose'd, and of attributes only exposed properties.
        self._number = number
        self._callback = callback
        self._started = False
        self._lock = threading.Lock()

    @Pyro4.expose
    @Pyro4.oneway
    def work(self):
        # oneway: the client's work() returns at once, and Pyro4 runs this call in
        # a thread of its own (ONEWAY_THREADED).
        with self._lock:
            started, self._started = self._started, True
        if started:
            say("Worker %d: already working, ignored a second work() call." % self._number)
            return
        say("Worker %d calls the client back." % self._number)
        try:
            outcome = self.call_back()
        finally:
            self.retire()
        say(outcome)  # only now, so that whoever reads it finds the worker gone

    def call_back(self):
        """Make both calls, print what each raised, and return the line that ends it."""
        try:
            connect(self._callback)
            # Both calls go through the same proxy, so the same connection. After
            # call2, a @callback method that raised, the client's Pyro4 closes that
            # connection; the next call through this proxy would fail once with
            # ConnectionClosedError (and the one after it would reconnect). So call2
            # must come last. call1 is a plain method: its error leaves the
            # connection open.
            for call in (self._callback.call1, self._callback.call2):
                try:
                    call()
                except Pyro4.errors.CommunicationError:
                    raise
                except Exception:
                    # The error comes back with the client's traceback attached;
                    # getPyroTraceback() shows ours and theirs.
                    say("Worker %d: the callback raised, remote traceback follows:\n%s"
                        % (self._number, "".join(Pyro4.util.getPyroTraceback()).rstrip()))
            return "Worker %d done." % self._number
        except Pyro4.errors.CommunicationError as x:
            hint = ""
            if isinstance(x.__cause__, ssl.SSLCertVerificationError):
                hint = ("; the client's certificate is not trusted here, or does not name the address "
                        "in its URI: check PYRO_SSL_CACERTS")
            return "Worker %d: callback failed: %s%s" % (self._number, x, hint)

    def retire(self):
        # A finished worker leaves the daemon and drops its connection to the client.
        self._pyroDaemon.unregister(self)
        self._callback._pyroRelease()


def report_thread_error(args):
    """One line instead of a traceback when a oneway call fails in its own thread."""
    # Pyro4 runs each oneway call in a new thread, so an exception there, such as
    # a TypeError from a work() call with the wrong arguments, never reaches the
    # caller and would end in Python's thread traceback.
    say("Error in a oneway call: %s: %s" % (args.exc_type.__name__, args.exc_value))


def connect(callback):
    """Connect to the client, retrying a busy or slow one; a refused connection means it is gone."""
    delay = 0.05
    deadline = time.time() + Pyro4.config.COMMTIMEOUT * 2
    while True:
        try:
            callback._pyroBind()
            return
        except Pyro4.errors.CommunicationError as x:
            # Nothing was sent yet, so trying again cannot deliver a call twice.
            if isinstance(x.__cause__, (ConnectionRefusedError, ssl.SSLError)) or time.time() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


class CallbackServer(object):
    """Creates a worker for every client request."""

    def __init__(self, start_timeout=START_TIMEOUT):
        self._workers = 0
        self._lock = threading.Lock()
        self._start_timeout = start_timeout
        self._pending = collections.deque()  # (deadline, worker), oldest first
        self._next_pass = 0

    @Pyro4.expose
    def addworker(self, callback):
        # The client's callback object is registered in the client's daemon, so it
        # arrives as a proxy (AutoProxy). An unregistered one is no proxy: it travels
        # as a dict, and arrives as a plain one or is refused by Pyro4 on arrival.
        if not isinstance(callback, Pyro4.Proxy):
            raise TypeError("addworker needs a proxy to a callback object, not %s" % type(callback).__name__)
        # A proxy that arrives over the wire has the HMAC key its sender gave it
        # (none, from AutoProxy), so give it ours. Its timeout is ours already:
        # Pyro4 takes COMMTIMEOUT from the local config when it unpacks a proxy.
        callback._pyroHmacKey = HMAC_KEY
        with self._lock:
            self._workers += 1
            number = self._workers
            worker = Worker(number, callback)
            self._pending.append((time.monotonic() + self._start_timeout, worker))
        self._pyroDaemon.register(worker)
        say("Worker %d created." % number)
        # The worker is registered, so returning it sends the client a proxy (AutoProxy).
        return worker

    def expire_workers(self):
        """Drop the workers whose work() was not called within the start timeout."""
        now = time.monotonic()
        expired = []
        with self._lock:
            if now < self._next_pass:
                return
            self._next_pass = now + 1  # at most one pass, and one line, a second
            while self._pending and self._pending[0][0] <= now:
                worker = self._pending.popleft()[1]
                with worker._lock:
                    started, worker._started = worker._started, True  # a late work() is ignored
                if not started:
                    expired.append(worker)
        for worker in expired:
            worker.retire()
        if expired:
            first, last = expired[0]._number, expired[-1]._number
            which = "Worker %d" % first if first == last else "Workers %d to %d (%d)" % (first, last, len(expired))
            say("%s: never started within %g s, removed." % (which, self._start_timeout))


def serve(host, port, servertype, use_ns, start_timeout):
    Pyro4.config.SERVERTYPE = servertype
    if Pyro4.config.SSL and not Pyro4.config.SSL_SERVERCERT:
        sys.exit("server: PYRO_SSL is on, but the daemon has no certificate: "
                 "set PYRO_SSL_SERVERCERT and PYRO_SSL_SERVERKEY")
    try:
        daemon = Pyro4.Daemon(host=host, port=port)
    except OSError as x:
        sys.exit("server: cannot listen on %s port %d: %s" % (host, port, x.strerror or x))
    daemon._pyroHmacKey = HMAC_KEY
    callback_server = CallbackServer(start_timeout)
    # Pyro4 calls its daemon's housekeeping() every few seconds from the request
    # loop (every POLLTIMEOUT, 2 s, in the thread server; after each round of
    # requests in the multiplex server). One pass there expires the workers that
    # were never started: no thread or timer per worker.
    daemon.housekeeping = callback_server.expire_workers
    uri = daemon.register(callback_server, OBJECT_ID)
    stopping = threading.Event()

    def stop(signum, frame):
        # Ctrl-C and SIGTERM end the loop through its loopCondition. Raising
        # KeyboardInterrupt here instead could land inside Pyro4's own request
        # handling, whose catch-all "except:" (multiplex server) swallows it.
        stopping.set()
        daemon.transportServer.wakeup()  # connects to our own socket: select() returns now

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)  # before the URI is out, so a quick stop is caught too
    if use_ns:
        try:
            with Pyro4.locateNS(hmac_key=HMAC_KEY) as ns:
                ns.register(OBJECT_ID, uri)
        except (Pyro4.errors.PyroError, OSError) as x:  # OSError: the lookup's broadcast can fail
            sys.exit("server: cannot register %s in the name server (PYRO_NS_HOST=%s, PYRO_NS_PORT=%d): %s"
                     % (OBJECT_ID, Pyro4.config.NS_HOST, Pyro4.config.NS_PORT, x))
        say("Registered %s in the name server." % OBJECT_ID)
    say("Server URI: %s" % uri)
    say("Callback server 2 running (%s server type). Press Ctrl-C to stop." % servertype)
    with daemon:
        daemon.requestLoop(loopCondition=lambda: not stopping.is_set())
    if use_ns:
        try:
            with Pyro4.locateNS(hmac_key=HMAC_KEY) as ns:
                ns.remove(OBJECT_ID)
        except (Pyro4.errors.PyroError, OSError):
            pass  # the name server may be gone already
    say("Server stopped.")


def port_number(text):
    port = int(text)
    if not 0 <= port <= 65535:
        raise ValueError(text)
    return port


def positive_seconds(text):
    value = float(text)
    if not 0 < value <= 3600:
        raise ValueError(text)
    return value


def concrete_host(text):
    # A daemon bound to 0.0.0.0 puts 0.0.0.0 into every URI it hands out, and the
    # client would then send its calls to itself. So ask for a real address instead.
    if text in ("0.0.0.0", "::", ""):
        raise argparse.ArgumentTypeError("%r listens everywhere but is no address a client can call; "
                                         "give this machine's address as clients see it" % text)
    return text


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Callback example 2 server: workers that call the client back "
                                                 "twice, once to a plain method and once to a @callback one.")
    parser.add_argument("--host", type=concrete_host, default=Pyro4.config.HOST,
                        help="address to listen on and put in the URI (default: PYRO_HOST, or localhost)")
    parser.add_argument("--port", type=port_number, default=DEFAULT_PORT,
                        help="port to listen on, 0 for any free port (default: %d)" % DEFAULT_PORT)
    parser.add_argument("--ns", action="store_true",
                        help="also register %s in the Pyro4 name server (found through PYRO_NS_HOST and PYRO_NS_PORT)" % OBJECT_ID)
    parser.add_argument("--servertype", choices=["thread", "multiplex"], default=Pyro4.config.SERVERTYPE,
                        help="Pyro4 server type (default: %(default)s)")
    parser.add_argument("--start-timeout", type=positive_seconds, default=START_TIMEOUT,
                        help="seconds a worker waits for its work() call before it is removed (default: %d)"
                             % START_TIMEOUT)
    args = parser.parse_args()
    threading.excepthook = report_thread_error
    try:
        serve(args.host, args.port, args.servertype, args.ns, args.start_timeout)
    except KeyboardInterrupt:
        say("Server stopped.")
