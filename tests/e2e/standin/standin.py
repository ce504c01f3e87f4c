#!/usr/bin/env python3
"""Stand-in for a Flowise main server in the end-to-end tests.

Listens on $PORT (default 3000):
  GET  /api/v1/ping          -> 200 "pong"
  POST /api/v1/prediction/ID -> {"question": "N"}: with MODE=queue a BullMQ job for the workers
                                (queue_mode.py), else run here; the result, with "main": hostname
  GET|POST /hold?ms=N        -> holds the request N ms, then 200 {"hostname": ..., "held_ms": N}
  GET  /whoami               -> 200 the container hostname
  POST /deafen               -> 200; from then on this process still takes predictions (the job
                                runs on a worker) but never answers one, while /api/v1/ping
                                stays healthy: the deaf main of issue 14. A restart ends it.

On SIGTERM (or SIGINT) it exits at once without draining, like Flowise: requests in flight are
cut. That is what the autoscaler's drain-before-stop has to protect against.
"""

import json
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import flow

HOSTNAME = socket.gethostname()
PREDICTION = "/api/v1/prediction/"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as nginx upstream keepalive may use it
    server_version = "flowise-standin"

    def do_GET(self):
        self._route()

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith(PREDICTION):
            return self._predict(self.path[len(PREDICTION) :], body)
        if self.path == "/deafen":
            self.server.deaf.set()
            return self._send(200, "deaf to predictions until restarted")
        self._route()

    def _predict(self, chatflow_id, body):
        try:
            question = str(json.loads(body or b"{}").get("question", ""))
        except (ValueError, AttributeError):
            return self._send(400, "the body must be a JSON object")
        data = {"chatflowid": chatflow_id, "question": question}
        succeeded, result = self.server.predict(data)
        if self.server.deaf.is_set():
            threading.Event().wait()  # the job is done, the answer never comes
        self._send(
            200 if succeeded else 500, json.dumps({**result, "main": HOSTNAME}), "application/json"
        )

    def _route(self):
        url = urlsplit(self.path)
        if url.path == "/api/v1/ping":
            self._send(200, "pong")
        elif url.path == "/whoami":
            self._send(200, HOSTNAME)
        elif url.path == "/hold":
            try:
                ms = max(0, int(parse_qs(url.query).get("ms", ["0"])[0]))
            except ValueError:
                return self._send(400, "ms must be an integer")
            time.sleep(ms / 1000)
            body = json.dumps({"hostname": HOSTNAME, "held_ms": ms})
            self._send(200, body, "application/json")
        else:
            self._send(404, "not found")

    def _send(self, status, body, content_type="text/plain; charset=utf-8"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default listen backlog of 5 drops connections under load tests
    daemon_threads = True

    def __init__(self, address, handler):
        super().__init__(address, handler)
        self.predict = _prediction_runner()
        self.deaf = threading.Event()


def _prediction_runner():
    """Where predictions run: the workers in queue mode, this process otherwise."""
    if os.environ.get("MODE") != "queue":
        return _run_here
    from queue_mode import PredictionQueue  # bullmq is only needed in queue mode

    queue = PredictionQueue(
        os.environ["REDIS_URL"], os.environ.get("QUEUE_NAME") or "flowise-queue"
    )
    return queue.predict


def _run_here(data):
    try:
        time.sleep(flow.sleep_seconds(data["question"]))
    except flow.FlowFailed as error:
        return False, {"error": str(error)}
    return True, flow.answer(data["question"])


def _exit_now(signum, _frame):
    print(
        f"standin {HOSTNAME}: signal {signum}, exiting without draining",
        file=sys.stderr,
        flush=True,
    )
    os._exit(0)


def main():
    signal.signal(signal.SIGTERM, _exit_now)
    signal.signal(signal.SIGINT, _exit_now)
    port = int(os.environ.get("PORT") or 3000)
    server = Server(("0.0.0.0", port), Handler)
    print(f"standin {HOSTNAME}: listening on port {port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
