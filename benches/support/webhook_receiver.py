#!/usr/bin/env python3
"""A loopback webhook receiver for benches/exports_calls.sh: answers every POST 200 after
DELAY_S seconds (threaded, so slow answers do not queue behind each other) and appends one
line per request to OUT: arrival wall time in ms, a tab, the body.

Usage: webhook_receiver.py PORT OUT [DELAY_S]
"""
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, OUT = int(sys.argv[1]), sys.argv[2]
DELAY_S = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
LOCK = threading.Lock()


class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        arrived_ms = time.time() * 1000.0
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        with LOCK, open(OUT, "a", encoding="utf-8") as f:
            f.write("%.3f\t%s\n" % (arrived_ms, body.decode("utf-8", "replace")))
        if DELAY_S:
            time.sleep(DELAY_S)
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Hook).serve_forever()
