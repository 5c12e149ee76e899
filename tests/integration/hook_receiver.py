#!/usr/bin/env python3
"""A webhook receiver for tests, on 127.0.0.1 (a free port, printed as "listening on PORT").

  hook_receiver.py fast LOG   answers 204 at once; logs "event <X-Mortar-Event-Id>"
  hook_receiver.py slow LOG   reads the request and never answers; logs "open <n>" when a
                              delivery arrives (n = connections held now) and "closed <n>"
                              when the sender gives up and closes one

Each log line is written and flushed as it happens, so a test reads the order of events
from the files (no timing)."""
import socket
import sys
import threading

mode, log_path = sys.argv[1], sys.argv[2]
log = open(log_path, "a", buffering=1)
lock = threading.Lock()
held = 0


def note(line):
    with lock:
        log.write(line + "\n")
        log.flush()


def read_request(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower().decode()] = v.strip().decode()
    need = int(headers.get("content-length", "0"))
    while len(body) < need:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    return headers


def serve(conn):
    global held
    try:
        h = read_request(conn)
        if h is None:
            return
        if mode == "fast":
            note("event " + h.get("x-mortar-event-id", "?"))
            conn.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            return
        with lock:
            held += 1
            n = held
        note("open %d" % n)
        while conn.recv(4096):  # never answers; returns when the sender closes
            pass
        with lock:
            held -= 1
            n = held
        note("closed %d" % n)
    finally:
        conn.close()


srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(64)
print("listening on %d" % srv.getsockname()[1], flush=True)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
