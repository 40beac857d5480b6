#!/usr/bin/python3
"""Asks a FastCGI worker what it says about multiplexing, and checks it.

    /usr/bin/python3 examples/mux_probe.py 127.0.0.1:9200

1. FCGI_GET_VALUES for FCGI_MAX_CONNS, FCGI_MAX_REQS, FCGI_MPXS_CONNS on a
   fresh connection: prints the answer (or that none came within 2 s).
2. On ONE connection (FCGI_KEEP_CONN): id 1 GET /sleep?ms=800, id 2
   GET /tag?t=two, id 3 GET /bytes?n=300000, id 4 GET /sleep?ms=5000 then
   FCGI_ABORT_REQUEST for id 4. Prints when each id ended and whether the
   records of different ids interleaved. A worker that truly multiplexes
   ends 2 and 3 before 1, and 4 soon after the abort (if it handles it).
Standard library only.
"""
import socket
import struct
import sys
import time

BEGIN, ABORT, END, PARAMS, STDIN, STDOUT, STDERR, GET_VALUES, GET_VALUES_RESULT = 1, 2, 3, 4, 5, 6, 7, 9, 10


def record(rtype, rid, content=b""):
    pad = (8 - len(content) % 8) % 8
    return struct.pack(">BBHHBB", 1, rtype, rid, len(content), pad, 0) + content + b"\0" * pad


def nv(name, value):
    def ln(n):
        return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)
    return ln(len(name)) + ln(len(value)) + name + value


def parse_nv(data):
    out, i = {}, 0
    while i < len(data):
        lens = []
        for _ in range(2):
            if data[i] < 128:
                lens.append(data[i]); i += 1
            else:
                lens.append(struct.unpack(">I", data[i:i + 4])[0] & 0x7FFFFFFF); i += 4
        out[data[i:i + lens[0]].decode()] = data[i + lens[0]:i + lens[0] + lens[1]].decode()
        i += lens[0] + lens[1]
    return out


class Reader:
    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def next(self, timeout):
        self.sock.settimeout(timeout)
        while True:
            if len(self.buf) >= 8:
                _, t, rid, clen, plen, _ = struct.unpack(">BBHHBB", self.buf[:8])
                if len(self.buf) >= 8 + clen + plen:
                    content = self.buf[8:8 + clen]
                    self.buf = self.buf[8 + clen + plen:]
                    return t, rid, content
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buf += data


def request(rid, uri):
    path, _, qs = uri.partition("?")
    params = b"".join(nv(k.encode(), v.encode()) for k, v in {
        "REQUEST_METHOD": "GET", "REQUEST_URI": uri, "SCRIPT_NAME": "", "PATH_INFO": path,
        "QUERY_STRING": qs, "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_NAME": "probe",
        "SERVER_PORT": "80", "REMOTE_ADDR": "127.0.0.1", "GATEWAY_INTERFACE": "CGI/1.1"}.items())
    return (record(BEGIN, rid, struct.pack(">HB5x", 1, 1)) + record(PARAMS, rid, params)
            + record(PARAMS, rid) + record(STDIN, rid))


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    addr = (host, int(port))

    s = socket.create_connection(addr)
    s.sendall(record(GET_VALUES, 0, nv(b"FCGI_MAX_CONNS", b"") + nv(b"FCGI_MAX_REQS", b"")
                     + nv(b"FCGI_MPXS_CONNS", b"")))
    try:
        rec = Reader(s).next(2.0)
        if rec and rec[0] == GET_VALUES_RESULT:
            print("GET_VALUES:", parse_nv(rec[2]))
        else:
            print("GET_VALUES: unexpected answer", rec and rec[0])
    except socket.timeout:
        print("GET_VALUES: no answer within 2 s")
    s.close()

    s = socket.create_connection(addr)
    t0 = time.monotonic()
    s.sendall(request(1, "/sleep?ms=800") + request(2, "/tag?t=two") + request(3, "/bytes?n=300000")
              + request(4, "/sleep?ms=5000"))
    time.sleep(0.2)
    s.sendall(record(ABORT, 4))
    abort_at = time.monotonic()
    r = Reader(s)
    ended, order, sizes, seq = {}, [], {}, []
    while len(ended) < 4:
        try:
            rec = r.next(10.0)
        except socket.timeout:
            print("timeout; still open:", sorted({1, 2, 3, 4} - set(ended)))
            break
        if rec is None:
            print("connection closed; still open:", sorted({1, 2, 3, 4} - set(ended)))
            break
        t, rid, content = rec
        if t == STDOUT:
            sizes[rid] = sizes.get(rid, 0) + len(content)
            if not seq or seq[-1] != rid:
                seq.append(rid)
        if t == END:
            ended[rid] = time.monotonic()
            order.append(rid)
    for rid in order:
        print(f"id {rid} ended at {1000 * (ended[rid] - t0):.0f} ms, {sizes.get(rid, 0)} stdout bytes")
    if 4 in ended:
        print(f"id 4 (aborted) ended {1000 * (ended[4] - abort_at):.0f} ms after FCGI_ABORT_REQUEST")
    print("end order:", order, "| stdout runs by id:", seq[:20])
    print("interleaved:", order.index(2) < order.index(1) if 1 in ended and 2 in ended else "?")


if __name__ == "__main__":
    main()
