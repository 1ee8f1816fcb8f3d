"""An OpenAI-compatible chat-completions server that injects faults (tests and benchmarks).

A real HTTP server on 127.0.0.1, stdlib only, so it also runs as a script in its own
process that a test can kill and restart on the same port:

    python tests/llm_fault_server.py --port N [--kill-after K] [--log FILE] ...

Answers are a JSON list of backgrounds chosen by a hash of the user message, so every
run gets the same answer for a class. Faults: latency, a share of HTTP 500 and of HTTP
429 with ``Retry-After``, requests that hang, answers with no background in them, and
``kill -9`` of the server's own process after K answered requests. Fault draws hash
(seed, message, attempt number), so they do not depend on thread scheduling. Every
answered request is recorded (and appended to ``--log`` as a JSON line, which survives
the kill), with the most requests ever in flight at once.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BACKGROUNDS = ("desert", "snowy mountain", "city street", "coral reef", "kitchen counter",
               "forest floor", "beach at sunset", "library shelf", "parking lot", "rooftop")
GARBLE = "I'm sorry, I can't help with that!!! ### ???"


@dataclass(frozen=True)
class Faults:
    """What the server does wrong, and how often."""

    latency: tuple[float, float] = (0.0, 0.0)  # seconds, uniform in [low, high] per request
    error_rate: float = 0.0  # share of requests answered HTTP 500
    rate_limit_rate: float = 0.0  # share of requests answered HTTP 429
    retry_after: float = 1.0  # the 429's Retry-After header, in seconds
    hang: tuple[str, ...] = ()  # a request whose user message contains one never gets an answer
    garble: tuple[str, ...] = ()  # ... gets an answer with no background in it
    kill_after: int | None = None  # SIGKILL the server's process once this many are answered
    seed: int = 0


def answer_for(user: str) -> str:
    """The server's (deterministic) answer to a user message: three backgrounds as JSON."""
    digest = hashlib.sha256(user.encode()).digest()
    picks = sorted({digest[i] % len(BACKGROUNDS) for i in range(3)})
    return json.dumps([BACKGROUNDS[i] for i in picks])


def completion(model: str, content: str) -> dict:
    """A chat.completion response body."""
    return {
        "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 7, "total_tokens": 27},
    }


class ChatHandler(BaseHTTPRequestHandler):
    """Base of a quiet POST /v1/chat/completions handler: reads the request, sends JSON."""

    def log_message(self, *args):
        pass

    def read_chat(self) -> tuple[dict, str]:
        """The request body and its user message."""
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        return body, next(m["content"] for m in body["messages"] if m["role"] == "user")

    def send_json(self, status: int, payload: dict | str, headers: dict[str, str] | None = None) -> None:
        """Answer with ``payload`` (a string is sent as it is) and the extra ``headers``."""
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _uniform(*parts: object) -> float:
    """A number in [0, 1) from a hash of parts."""
    digest = hashlib.sha256(json.dumps(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") / 2**64


class FaultServer:
    """A fault-injecting OpenAI-compatible server in a thread of this process."""

    def __init__(self, faults: Faults = Faults(), port: int = 0, log_path: str | Path | None = None):
        self.faults = faults
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.log = open(log_path, "a", encoding="utf-8") if log_path else None  # noqa: SIM115
        self.records: list[dict] = []  # one per answered request: user message and status
        self.attempts: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.thread: threading.Thread | None = None

    def __enter__(self) -> FaultServer:
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        if self.log:
            self.log.close()

    def statuses(self) -> Counter[int]:
        """How many requests were answered with each HTTP status."""
        with self.lock:
            return Counter(r["status"] for r in self.records)

    def behaviour(self, user: str) -> tuple[float, int]:
        """The delay and status for the next request with this user message."""
        f = self.faults
        with self.lock:
            attempt = self.attempts[user]
            self.attempts[user] += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if f.kill_after is not None and len(self.records) >= f.kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
        low, high = f.latency
        delay = low + (high - low) * _uniform(f.seed, "latency", user, attempt)
        draw = _uniform(f.seed, "fault", user, attempt)
        status = 500 if draw < f.error_rate else 429 if draw < f.error_rate + f.rate_limit_rate else 200
        if any(part in user for part in f.hang):
            delay = float("inf")
        return delay, status

    def done(self) -> None:
        """A request is no longer in flight: its answer is decided (or it was given up)."""
        with self.lock:
            self.in_flight -= 1

    def record(self, user: str, status: int) -> None:
        """Count an answered request (and append it to the log file)."""
        with self.lock:
            self.records.append({"user": user, "status": status})
            if self.log:
                self.log.write(json.dumps({"user": user, "status": status}) + "\n")
                self.log.flush()


def _handler_for(server: FaultServer) -> type[ChatHandler]:
    """A request handler class bound to one FaultServer."""

    class Handler(ChatHandler):
        def do_POST(self):
            body, user = self.read_chat()
            delay, status = server.behaviour(user)
            stopped = server.stopping.wait(min(delay, 3600.0)) or delay == float("inf")
            server.done()  # before the answer: the client's next request may follow at once
            if stopped:
                return
            retry_after = {"Retry-After": f"{server.faults.retry_after:g}"} if status == 429 else {}
            try:
                self.send_json(status, self._payload(status, user, body["model"]), retry_after)
            except (BrokenPipeError, ConnectionResetError):
                return
            server.record(user, status)

        def _payload(self, status: int, user: str, model: str) -> dict:
            if status != 200:
                return {"error": {"message": f"injected fault {status}", "type": "fault", "code": status}}
            garbled = any(part in user for part in server.faults.garble)
            return completion(model, GARBLE if garbled else answer_for(user))

    return Handler


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_process(port: int, log_path: str | Path, kill_after: int | None = None,
                  latency: tuple[float, float] = (0.0, 0.0), timeout: float = 20.0) -> subprocess.Popen:
    """Run this server as a separate process on ``port``; return once it accepts connections."""
    cmd = [sys.executable, __file__, "--port", str(port), "--log", str(log_path),
           "--latency", str(latency[0]), str(latency[1])]
    if kill_after is not None:
        cmd += ["--kill-after", str(kill_after)]
    proc = subprocess.Popen(cmd)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"fault server exited with {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"fault server did not listen on port {port} within {timeout} s")


def read_log(path: str | Path) -> list[dict]:
    """The answered requests a server process appended to its log file."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.strip()]


def main(argv: list[str] | None = None) -> None:
    """Serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", help="append one JSON line per answered request")
    parser.add_argument("--kill-after", type=int, help="SIGKILL itself after this many answers")
    parser.add_argument("--latency", type=float, nargs=2, default=(0.0, 0.0))
    args = parser.parse_args(argv)
    faults = Faults(latency=tuple(args.latency), kill_after=args.kill_after)
    server = FaultServer(faults, args.port, args.log)
    server.httpd.serve_forever()


if __name__ == "__main__":
    main()
