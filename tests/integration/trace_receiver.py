#!/usr/bin/env python3
"""A loopback HTTP server for the trace and OTLP tests (127.0.0.1, a free port, printed as
"listening on PORT").

  trace_receiver.py DIR [FAIL_FIRST]
    GET/POST any path but /v1/metrics: answers 200 (500 when the path starts with /err) and
      appends the request's traceparent header (or "-") to DIR/traceparent.log
    POST /v1/metrics: appends the body (OTLP JSON, one line) to DIR/otlp.log and answers 200
      {}; the first FAIL_FIRST of them are answered 503 instead (the exporter's retries), each
      noted in DIR/otlp_refused.log

Each line is written and flushed as it happens: a test polls the files, never the clock."""
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

out_dir = sys.argv[1]
fail_first = int(sys.argv[2]) if len(sys.argv) > 2 else 0
lock = threading.Lock()
refused = 0
files = {n: open(os.path.join(out_dir, n), "a", buffering=1)
         for n in ("traceparent.log", "otlp.log", "otlp_refused.log")}


def note(name, line):
    with lock:
        files[name].write(line + "\n")
        files[name].flush()


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def body(self):
        n = int(self.headers.get("content-length", "0"))
        return self.rfile.read(n) if n else b""

    def answer(self, code, data=b"ok"):
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        global refused
        data = self.body()
        if self.path.startswith("/v1/metrics"):
            with lock:
                refuse = refused < fail_first
                if refuse:
                    refused += 1
            if refuse:
                note("otlp_refused.log", "503")
                self.answer(503, b"busy")
                return
            json.loads(data)  # a malformed body fails the test (500 from the server)
            note("otlp.log", data.decode().replace("\n", " "))
            self.answer(200, b"{}")
            return
        note("traceparent.log", self.headers.get("traceparent", "-"))
        self.answer(500 if self.path.startswith("/err") else 200)

    do_GET = handle_any
    do_POST = handle_any


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
print("listening on %d" % srv.server_address[1], flush=True)
srv.serve_forever()
