#!/usr/bin/python3
"""Mixed traffic for bench/soak/run.sh: until DEADLINE (epoch seconds), a few
threads each send one kind of request through fcgimux on 127.0.0.1:PORT, on
new and on kept-alive connections, and count the statuses they get.

    load.py PORT DEADLINE OUT.json

Kinds: small GETs (/hello), POSTs with a 64 KiB body (/upload), large
responses (/bytes?n=4 MiB), slow views (/sleep?ms=300), slow readers (a
large response read 64 KiB at a time with pauses) and slow uploads (a body
sent in pieces). Every socket has a timeout, so nothing hangs past the
deadline by more than that. Workers are killed and stopped meanwhile, so
502/503/504 and reset connections are expected; they are counted, not
errors of the soak itself.
"""
import collections
import json
import socket
import sys
import threading
import time

PORT = int(sys.argv[1])
DEADLINE = float(sys.argv[2])
OUT = sys.argv[3]
TIMEOUT = 20

counts = collections.Counter()
lock = threading.Lock()


def count(kind, outcome):
    with lock:
        counts[f"{kind} {outcome}"] += 1


def read_response(sock, slow=False):
    """Reads one response (Content-Length or close framing); returns its status."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the head")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    length = None
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
        if name.strip().lower() == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if chunked:
        while not body.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed inside a chunked body")
            body += chunk
        return status
    got = len(body)
    while length is None or got < length:
        chunk = sock.recv(65536)
        if not chunk:
            if length is None:
                return status
            raise ConnectionError(f"closed after {got} of {length} body bytes")
        got += len(chunk)
        if slow:
            time.sleep(0.02)
    return status


def request(sock, method, target, body=b"", pieces=1):
    head = f"{method} {target} HTTP/1.1\r\nHost: soak\r\n"
    if method == "POST":
        head += f"Content-Length: {len(body)}\r\n"
    sock.sendall(head.encode() + b"\r\n")
    if body:
        step = max(1, len(body) // pieces)
        for i in range(0, len(body), step):
            sock.sendall(body[i:i + step])
            if pieces > 1:
                time.sleep(0.05)


def loop(kind, method, target, body=b"", keepalive=True, slow_read=False, pieces=1, pause=0.0):
    sock = None
    while time.time() < DEADLINE:
        try:
            if sock is None:
                sock = socket.create_connection(("127.0.0.1", PORT), timeout=TIMEOUT)
            request(sock, method, target, body, pieces)
            status = read_response(sock, slow_read)
            count(kind, status)
            if not keepalive:
                sock.close()
                sock = None
        except (OSError, ValueError, IndexError) as e:
            count(kind, type(e).__name__)
            if sock is not None:
                sock.close()
            sock = None
            time.sleep(0.05)
        if pause:
            time.sleep(pause)
    if sock is not None:
        sock.close()


def main():
    body = b"p" * 65536
    kinds = [
        ("get", "GET", "/hello", b"", True),
        ("get-new-conn", "GET", "/hello", b"", False),
        ("get", "GET", "/hello", b"", True),
        ("post", "POST", "/upload", body, True),
        ("large", "GET", "/bytes?n=4194304", b"", True),
        ("slow-view", "GET", "/sleep?ms=300", b"", True),
    ]
    # Paced (about 50 requests per second per thread): the soak is about
    # time and faults, not throughput, and shares the machine.
    threads = [threading.Thread(target=loop, args=k, kwargs={"pause": 0.02}) for k in kinds]
    threads.append(threading.Thread(target=loop, args=("slow-reader", "GET", "/bytes?n=2097152"),
                                    kwargs={"slow_read": True}))
    threads.append(threading.Thread(target=loop, args=("slow-upload", "POST", "/upload", body),
                                    kwargs={"pieces": 8}))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(OUT, "w") as f:
        json.dump(dict(sorted(counts.items())), f, indent=1)


main()
