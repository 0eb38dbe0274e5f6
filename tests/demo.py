"""
Run each example pair end to end in one terminal: `tox -e demo`.

The server starts on a free port, the client runs against it, and every line
is labelled with the process that printed it. Not a test; pytest skips it.
"""
import re
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = [("callback", ["--workers", "3", "--work", "1"]), ("callback2", ["--workers", "2"])]


def relay(stream, label, found=None):
    """Copy a process's lines to our stdout under a label; report the first URI seen."""
    for line in stream:
        sys.stdout.write("%-18s| %s" % (label, line))
        sys.stdout.flush()
        match = found is not None and re.search(r"PYRO:\S+", line)
        if match and "uri" not in found:
            found["uri"] = match.group(0)
            found["ready"].set()
    if found is not None:
        found["ready"].set()


def demo(example, client_args):
    python = [sys.executable, "-u"]
    server = subprocess.Popen(python + [str(ROOT / example / "server.py"), "--port", "0"], text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    found = {"ready": threading.Event()}
    server_output = threading.Thread(target=relay, args=(server.stdout, example + "/server", found), daemon=True)
    server_output.start()
    try:
        if not found["ready"].wait(15) or "uri" not in found:
            sys.exit("demo: %s/server.py printed no URI" % example)
        client = subprocess.Popen(python + [str(ROOT / example / "client.py"), found["uri"]] + client_args,
                                  text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        relay(client.stdout, example + "/client")
        code = client.wait(120)
    finally:
        server.terminate()
        server.wait(10)
        server_output.join(5)
    if code != 0:
        sys.exit("demo: %s/client.py exited with %d" % (example, code))


if __name__ == "__main__":
    for example, client_args in EXAMPLES:
        demo(example, client_args)
        print()
