#!/usr/bin/env python3
"""Hostile HTTP clients for test_serve_hostile.sh (loopback only, bounded in count and time).

  slow PORT N SRC CMD...     N sockets from SRC send half a request's headers and stay; then CMD
                             runs (its exit code is ours); prints "open K" (still open after CMD)
  deadline PORT N SRC SECS [TOKEN]
                             N sockets trickle a byte every 200 ms: half a request's headers, or
                             with TOKEN whole headers and then a body byte by byte; prints
                             "closed K"; exit 0 when the server closed all N within SECS
  perip PORT N SRC WANT SECS N sockets from SRC; waits up to SECS until N - WANT are closed by
                             the server; prints "open K"
  bodies PORT N SIZE PATH [TOKEN]
                             N clients at once announce a SIZE-byte body to PATH; each sends it
                             only when no answer came first (2 s); prints the status codes seen,
                             "CODE COUNT" per line
  early PORT SIZE PATH TOKEN headers announcing a SIZE-byte body, never the body; prints the
                             status of an answer that comes within 10 s, or "none"
"""
import select
import socket
import sys
import threading
import time


def connect(port, src):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s


def closed_by_peer(s):
    """True when the server closed (or reset) the socket; never blocks."""
    try:
        p = select.poll()
        p.register(s, select.POLLIN)
        if not p.poll(0):
            return False
        s.setblocking(False)
        try:
            data = s.recv(65536, socket.MSG_PEEK)
        finally:
            s.setblocking(True)
        if data == b"":
            return True
        s.recv(65536)  # an answer (e.g. 408): read it, the close follows
        return False
    except OSError:
        return True


HALF = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


def cmd_slow(port, n, src, cmd):
    import subprocess

    socks = []
    for _ in range(n):
        try:
            s = connect(port, src)
            s.sendall(HALF)
            socks.append(s)
        except OSError:
            pass  # refused at the limit: part of the flood all the same
    rc = subprocess.call(cmd)
    print("open %d" % sum(1 for s in socks if not closed_by_peer(s)), flush=True)
    return rc


def cmd_deadline(port, n, src, secs, token):
    socks = []
    for _ in range(n):
        s = connect(port, src)
        if token:
            s.sendall(
                (
                    "POST /api/v1/tests HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                    "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n" % token
                ).encode()
            )
        else:
            s.sendall(b"GET /healthz HTTP/1.1\r\n")
        socks.append(s)
    end = time.monotonic() + secs
    closed = set()
    while time.monotonic() < end and len(closed) < n:
        for i, s in enumerate(socks):
            if i in closed:
                continue
            if closed_by_peer(s):
                closed.add(i)
                continue
            try:
                s.sendall(b" " if token else b"X")
            except OSError:
                closed.add(i)
        time.sleep(0.2)
    print("closed %d" % len(closed), flush=True)
    return 0 if len(closed) == n else 1


def cmd_perip(port, n, src, want, secs):
    socks = [connect(port, src) for _ in range(n)]
    end = time.monotonic() + secs
    while time.monotonic() < end:
        if sum(1 for s in socks if closed_by_peer(s)) >= n - want:
            break
        time.sleep(0.05)
    print("open %d" % sum(1 for s in socks if not closed_by_peer(s)), flush=True)
    return 0


def read_status(s, timeout):
    s.settimeout(timeout)
    buf = b""
    try:
        while b"\r\n" not in buf:
            d = s.recv(4096)
            if not d:
                break
            buf += d
    except (socket.timeout, OSError):
        pass
    line = buf.split(b"\r\n", 1)[0].split()
    return line[1].decode() if len(line) > 1 else None


def cmd_bodies(port, n, size, path, token):
    codes = {}
    lock = threading.Lock()
    body = b"{" + b" " * (size - 2) + b"}"
    auth = "Authorization: Bearer %s\r\n" % token if token else ""
    head = (
        "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Type: application/json\r\n"
        "Content-Length: %d\r\n\r\n" % (path, auth, size)
    ).encode()

    def one():
        code = None
        try:
            s = connect(port, "127.0.0.1")
            s.sendall(head)
            code = read_status(s, 2)
            if code is None:  # no early answer: the server wants the body
                try:
                    s.settimeout(60)
                    s.sendall(body)
                except OSError:
                    pass
                code = read_status(s, 60)
            s.close()
        except OSError:
            pass
        with lock:
            codes[code or "none"] = codes.get(code or "none", 0) + 1

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in sorted(codes):
        print("%s %d" % (c, codes[c]), flush=True)
    return 0


def cmd_early(port, size, path, token):
    s = connect(port, "127.0.0.1")
    s.sendall(
        (
            "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (path, token, size)
        ).encode()
    )
    print(read_status(s, 10) or "none", flush=True)
    return 0


def main(a):
    if a[0] == "slow":
        return cmd_slow(int(a[1]), int(a[2]), a[3], a[4:])
    if a[0] == "deadline":
        return cmd_deadline(int(a[1]), int(a[2]), a[3], float(a[4]), a[5] if len(a) > 5 else None)
    if a[0] == "perip":
        return cmd_perip(int(a[1]), int(a[2]), a[3], int(a[4]), float(a[5]))
    if a[0] == "bodies":
        return cmd_bodies(int(a[1]), int(a[2]), int(a[3]), a[4], a[5] if len(a) > 5 else None)
    if a[0] == "early":
        return cmd_early(int(a[1]), int(a[2]), a[3], a[4])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
